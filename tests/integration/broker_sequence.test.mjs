// The local broker's Sequence (flows.knative.dev/v1) and Broker-to-Broker rows, against the real
// binary and real receivers on 127.0.0.1, with manifests generated per test. What is checked is
// how Knative builds a Sequence (EV pkg/reconciler/sequence/resources: a channel and a
// Subscription per step, each step's reply to the next channel, the last one's to spec.reply)
// and delivers on a channel (EV pkg/kncloudevents/event_dispatcher.go: a 2xx without an event
// ends the dispatch; retries, backoff and the dead-letter sink from the Subscription's delivery,
// else the channel's). docs/moderation.md lists the facts and their sources.
//
// Timing: the broker's planned backoff waits must equal the schedule and no retry may arrive
// early (lib/waits.mjs), as in broker_conformance.test.mjs. "Nothing else arrives" is checked
// once broker_queue_depth is back to 0.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, binPath, runThenStop, waitFor } from './lib/proc.mjs';
import { startReceiver } from './lib/receiver.mjs';
import { assertWaits } from './lib/waits.mjs';

const NS = 'ns';

const broker = (name, delivery) => ({
	apiVersion: 'eventing.knative.dev/v1', kind: 'Broker',
	metadata: { name, namespace: NS }, spec: delivery ? { delivery } : {},
});
const trigger = (name, spec) => ({
	apiVersion: 'eventing.knative.dev/v1', kind: 'Trigger',
	metadata: { name, namespace: NS }, spec: { broker: 'b', ...spec },
});
const sequence = (name, spec) => ({
	apiVersion: 'flows.knative.dev/v1', kind: 'Sequence',
	metadata: { name, namespace: NS },
	spec: { channelTemplate: { apiVersion: 'messaging.knative.dev/v1', kind: 'InMemoryChannel' }, ...spec },
});
const toSequence = (name) => ({ ref: { apiVersion: 'flows.knative.dev/v1', kind: 'Sequence', name } });
const toBroker = (name) => ({ ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name } });

// Sequence s of the steps rx/one and rx/two, replying to Broker b, whose channels retry twice
// (linear, 0.1 s) and dead-letter to rx/dls.
const twoStepsRetried = (rx) => sequence('s', {
	steps: [{ uri: `${rx.url}/one` }, { uri: `${rx.url}/two` }], reply: toBroker('b'),
	channelTemplate: {
		apiVersion: 'messaging.knative.dev/v1', kind: 'InMemoryChannel',
		spec: { delivery: { retry: 2, backoffPolicy: 'linear', backoffDelay: 'PT0.1S', deadLetterSink: { uri: `${rx.url}/dls` } } },
	},
});

async function withBroker(docs, fn) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'broker-seq-'));
	fs.writeFileSync(path.join(dir, 'eventing.yaml'), docs.map((d) => `---\n${JSON.stringify(d, null, 1)}\n`).join(''));
	const b = await startServer(binPath('local-broker'), {
		readyPath: '/readyz',
		env: { BROKER_MANIFESTS: dir, DATA_DIR: path.join(dir, 'data'), LOG_LEVEL: 'warn' },
	});
	b.ingress = `${b.url}/${NS}/b`;
	await runThenStop(b, fn);
}

let seq = 0;
async function send(url, { type = 'review.new', id = `ev-${++seq}`, data = '{"reviewText":"hi"}' } = {}) {
	const res = await fetch(url, {
		method: 'POST',
		headers: { 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/tests', 'ce-type': type, 'content-type': 'application/json' },
		body: data,
	});
	await res.arrayBuffer();
	return { status: res.status, id };
}

// A step's answer: the event it got, as a binary-mode reply of the given type and extension.
function reply(req, type, ext = {}) {
	const headers = { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-source': `/step/${type}`, 'ce-type': type };
	headers['ce-id'] = `${req.headers['ce-id']}-${type}`;
	for (const [k, v] of Object.entries(req.headers))
		if (k.startsWith('ce-') && !['ce-id', 'ce-source', 'ce-type', 'ce-specversion', 'ce-time'].includes(k))
			headers[k] = v;
	for (const [k, v] of Object.entries(ext))
		headers[`ce-${k}`] = v;
	return { status: 200, headers, body: req.body };
}

async function metricSum(b, name, want = {}) {
	const text = await (await fetch(`${b.url}/metrics`)).text();
	assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `the broker declares ${name}`);
	let sum = 0;
	for (const line of text.split('\n')) {
		const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
		if (!m || m[1] !== name)
			continue;
		const labels = Object.fromEntries([...(m[2] || '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
		if (Object.entries(want).every(([k, v]) => labels[k] === v))
			sum += Number(m[3]);
	}
	return sum;
}

async function idle(b, timeoutMs = 15000) {
	await waitFor(async () => (await metricSum(b, 'broker_queue_depth')) === 0,
		{ timeoutMs, what: 'broker_queue_depth 0' });
}

describe('Sequence (flows.knative.dev/v1) in the local broker', () => {
	test('each step\'s reply goes to the next step, the last one\'s to spec.reply, with every extension', async () => {
		const rx = await startReceiver((req) => {
			if (req.path === '/one') return reply(req, 'review.checked', { badwordfilter: 'good' });
			if (req.path === '/two') return reply(req, 'review.moderated', { sentimentresult: 'positive' });
			return { status: 200 };
		});
		const docs = [
			broker('b'),
			trigger('to-seq', { filter: { attributes: { type: 'review.new' } }, subscriber: toSequence('s') }),
			trigger('out', { filter: { attributes: { type: 'review.moderated' } }, subscriber: { uri: `${rx.url}/out` } }),
			sequence('s', { steps: [{ uri: `${rx.url}/one` }, { uri: `${rx.url}/two` }], reply: toBroker('b') }),
		];
		await withBroker(docs, async (b) => {
			const r = await send(b.ingress);
			assert.equal(r.status, 202);
			await rx.waitForCount(1, { path: '/out' });
			await idle(b);
			const [one, two, out] = ['/one', '/two', '/out'].map((p) => rx.on(p));
			assert.equal(one.length, 1);
			assert.equal(two.length, 1);
			assert.equal(out.length, 1);
			assert.equal(one[0].headers['ce-type'], 'review.new', 'step 0 gets the Trigger\'s event');
			assert.equal(one[0].headers['ce-id'], r.id);
			assert.equal(one[0].headers['ce-knativebrokerttl'], undefined, 'no broker TTL leaves the broker');
			assert.equal(two[0].headers['ce-type'], 'review.checked', 'step 1 gets step 0\'s reply');
			assert.equal(two[0].headers['ce-badwordfilter'], 'good');
			assert.equal(out[0].headers['ce-type'], 'review.moderated', 'the Broker gets step 1\'s reply');
			assert.equal(out[0].headers['ce-badwordfilter'], 'good');
			assert.equal(out[0].headers['ce-sentimentresult'], 'positive');
			assert.equal(JSON.parse(out[0].body).reviewText, 'hi');
			assert.equal(await metricSum(b, 'broker_deliveries_total', { trigger: 's-kn-sequence-0', code: '200' }), 1);
			assert.equal(await metricSum(b, 'broker_deliveries_total', { trigger: 's-kn-sequence-1', code: '200' }), 1);
			assert.equal(await metricSum(b, 'broker_deliveries_total', { trigger: 'to-seq', code: '202' }), 1,
				'the Trigger hands the event to the Sequence\'s first channel, which answers 202');
		});
		await rx.close();
	});

	test('a step that answers 2xx without an event ends the flow there', async () => {
		const rx = await startReceiver((req) => (req.path === '/two' ? reply(req, 'x') : { status: 200 }));
		const docs = [
			broker('b'),
			trigger('to-seq', { filter: { attributes: { type: 'review.new' } }, subscriber: toSequence('s') }),
			trigger('all', { subscriber: { uri: `${rx.url}/all` } }),
			sequence('s', { steps: [{ uri: `${rx.url}/one` }, { uri: `${rx.url}/two` }], reply: toBroker('b') }),
		];
		await withBroker(docs, async (b) => {
			assert.equal((await send(b.ingress)).status, 202);
			await rx.waitForCount(1, { path: '/one' });
			await idle(b);
			assert.equal(rx.on('/two').length, 0, 'the second step is never called');
			assert.equal(rx.on('/all').length, 1, 'only the original event reached the Broker');
		});
		await rx.close();
	});

	// A channel Subscription's dispatch (EV fanout_event_handler.go → event_dispatcher.go
	// executeRequest) discards a 2xx body that is not a CloudEvent: a success, no reply. The
	// 502 for such a body is the broker filter's (filter_handler.go writeResponse): Triggers only.
	test('a step that answers 2xx with a body that is not a CloudEvent succeeds and ends the flow there', async () => {
		const rx = await startReceiver((req) => (req.path === '/one'
			? { status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok, thanks' }
			: { status: 200 }));
		const docs = [
			broker('b'),
			trigger('to-seq', { filter: { attributes: { type: 'review.new' } }, subscriber: toSequence('s') }),
			trigger('all', { subscriber: { uri: `${rx.url}/all` } }),
			twoStepsRetried(rx),
		];
		try {
			await withBroker(docs, async (b) => {
				assert.equal((await send(b.ingress)).status, 202);
				await rx.waitForCount(1, { path: '/one' });
				await idle(b);
				assert.equal(rx.on('/one').length, 1, 'a success: not retried');
				assert.equal(rx.on('/dls').length, 0, 'nothing dead-lettered');
				assert.equal(rx.on('/two').length, 0, 'no reply: the second step is never called');
				assert.equal(await metricSum(b, 'broker_deliveries_total', { trigger: 's-kn-sequence-0', code: '200' }), 1);
				assert.equal(await metricSum(b, 'broker_deliveries_total', { trigger: 's-kn-sequence-0', code: '502' }), 0);
			});
		} finally {
			await rx.close();
		}
	});

	// A step's 2xx with a malformed event (here no ce-id): EV's channel dispatch passes any
	// response whose encoding it knows on to the reply address (event_dispatcher.go send), whose
	// ingress refuses it with 400, which is not retried: the step is called once, and the
	// dead letter names the reply address. (A Trigger's subscriber gets the broker filter's 502,
	// which is retried.)
	test('a step that answers 2xx with a malformed event is not called again: 400 from the reply address, dead-lettered', async () => {
		const rx = await startReceiver((req) => (req.path === '/one'
			? { status: 200, headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-type': 'x', 'ce-source': '/s' }, body: '{}' }
			: { status: 200 }));
		const docs = [
			broker('b'),
			trigger('to-seq', { filter: { attributes: { type: 'review.new' } }, subscriber: toSequence('s') }),
			twoStepsRetried(rx),
		];
		try {
			await withBroker(docs, async (b) => {
				const r = await send(b.ingress);
				assert.equal(r.status, 202);
				await rx.waitForCount(1, { path: '/dls' });
				await idle(b);
				assert.equal(rx.on('/one').length, 1, 'the step answered 2xx: never called again');
				assert.equal(rx.on('/two').length, 0);
				const dl = rx.on('/dls');
				assert.equal(dl.length, 1);
				assert.equal(dl[0].headers['ce-id'], r.id, 'the event the step got');
				assert.equal(dl[0].headers['ce-knativeerrorcode'], '400');
				assert.notEqual(dl[0].headers['ce-knativeerrordest'], `${rx.url}/one`, 'the step did not fail');
				assert.ok(dl[0].headers['ce-knativeerrordest'].startsWith(`${b.url}/${NS}/`),
					`the reply address: ${dl[0].headers['ce-knativeerrordest']}`);
				assert.match(Buffer.from(dl[0].headers['ce-knativeerrordata'], 'base64').toString(), /^reply refused: .*\bid\b/);
			});
		} finally {
			await rx.close();
		}
	});

	test('without spec.reply the last step\'s reply is dropped', async () => {
		const rx = await startReceiver((req) => (req.path === '/one' ? reply(req, 'review.checked') : { status: 200 }));
		const docs = [
			broker('b'),
			trigger('to-seq', { filter: { attributes: { type: 'review.new' } }, subscriber: toSequence('s') }),
			trigger('all', { subscriber: { uri: `${rx.url}/all` } }),
			sequence('s', { steps: [{ uri: `${rx.url}/one` }] }),
		];
		await withBroker(docs, async (b) => {
			assert.equal((await send(b.ingress)).status, 202);
			await rx.waitForCount(1, { path: '/one' });
			await idle(b);
			assert.equal(rx.on('/all').length, 1, 'the reply went nowhere');
			assert.equal(await metricSum(b, 'broker_events_received_total'), 2, 'the review, and its copy on the channel');
		});
		await rx.close();
	});

	test('delivery per step: a failing step retries with its own backoff, then dead-letters with the error extensions', async () => {
		const rx = await startReceiver((req) => {
			if (req.path === '/one') return reply(req, 'review.checked', { badwordfilter: 'bad' });
			if (req.path === '/two') return { status: 503, body: 'step down' };
			return { status: 200 };
		});
		const docs = [
			broker('b', { retry: 0 }),
			trigger('to-seq', { filter: { attributes: { type: 'review.new' } }, subscriber: toSequence('s') }),
			sequence('s', {
				steps: [
					{ uri: `${rx.url}/one`, delivery: { retry: 5, deadLetterSink: { uri: `${rx.url}/dls-one` } } },
					{ uri: `${rx.url}/two`, delivery: { retry: 2, backoffPolicy: 'exponential', backoffDelay: 'PT0.2S', deadLetterSink: { uri: `${rx.url}/dls-two` } } },
				],
				reply: toBroker('b'),
			}),
		];
		await withBroker(docs, async (b) => {
			const r = await send(b.ingress);
			assert.equal(r.status, 202);
			await rx.waitForCount(1, { path: '/dls-two' });
			await idle(b);
			const two = rx.on('/two');
			assert.equal(two.length, 3, 'retry: 2 → 3 attempts at the failing step');
			assertWaits(two, b.stderrFile, `${rx.url}/two`, [200, 400]);
			assert.equal(rx.on('/one').length, 1, 'the step before is not repeated');
			assert.equal(rx.on('/dls-one').length, 0);
			const dl = rx.on('/dls-two');
			assert.equal(dl.length, 1, 'dead-lettered once, to the step\'s own sink');
			assert.equal(dl[0].headers['ce-type'], 'review.checked', 'the event the step got');
			assert.equal(dl[0].headers['ce-badwordfilter'], 'bad');
			assert.equal(dl[0].headers['ce-knativeerrordest'], `${rx.url}/two`);
			assert.equal(dl[0].headers['ce-knativeerrorcode'], '503');
			assert.equal(Buffer.from(dl[0].headers['ce-knativeerrordata'], 'base64').toString(), 'step down');
			assert.equal(await metricSum(b, 'broker_dead_letters_total', { trigger: 's-kn-sequence-1' }), 1);
		});
		await rx.close();
	});

	test('a step without a delivery takes the channel\'s (channelTemplate.spec.delivery); a step\'s own keeps the channel\'s dead-letter sink', async () => {
		const rx = await startReceiver((req) => (req.path === '/dls' ? { status: 200 } : { status: 500 }));
		const channel = { delivery: { retry: 1, backoffPolicy: 'linear', backoffDelay: 'PT0.1S', deadLetterSink: { uri: `${rx.url}/dls` } } };
		const docs = [
			broker('b'),
			trigger('a', { filter: { attributes: { type: 'a' } }, subscriber: toSequence('sa') }),
			trigger('c', { filter: { attributes: { type: 'c' } }, subscriber: toSequence('sc') }),
			sequence('sa', { channelTemplate: { apiVersion: 'messaging.knative.dev/v1', kind: 'InMemoryChannel', spec: channel }, steps: [{ uri: `${rx.url}/a` }] }),
			sequence('sc', { channelTemplate: { apiVersion: 'messaging.knative.dev/v1', kind: 'InMemoryChannel', spec: channel }, steps: [{ uri: `${rx.url}/c`, delivery: { retry: 3 } }] }),
		];
		await withBroker(docs, async (b) => {
			assert.equal((await send(b.ingress, { type: 'a' })).status, 202);
			assert.equal((await send(b.ingress, { type: 'c' })).status, 202);
			await rx.waitForCount(2, { path: '/dls' });
			await idle(b);
			assert.equal(rx.on('/a').length, 2, 'the channel\'s retry: 1');
			assert.equal(rx.on('/c').length, 4, 'the step\'s own retry: 3 replaces the channel\'s');
			assert.deepEqual(rx.on('/dls').map((r) => r.headers['ce-knativeerrordest']).sort(), [`${rx.url}/a`, `${rx.url}/c`]);
		});
		await rx.close();
	});
});

describe('a Trigger whose subscriber is another Broker', () => {
	test('forwards through that Broker\'s ingress, and that Broker\'s own delivery spec applies', async () => {
		const rx = await startReceiver((req, i, n) => (req.path === '/notify' && n === 0 ? { status: 503 } : { status: 200 }));
		const docs = [
			broker('b', { retry: 0 }),
			broker('b2', { retry: 1, backoffPolicy: 'linear', backoffDelay: 'PT0.1S', deadLetterSink: { uri: `${rx.url}/dls` } }),
			trigger('fwd', { filter: { attributes: { badwordfilter: 'bad' } }, subscriber: toBroker('b2') }),
			trigger('notify', { broker: 'b2', filter: { attributes: { type: 'review.moderated' } }, subscriber: { uri: `${rx.url}/notify` } }),
		];
		await withBroker(docs, async (b) => {
			const bad = await fetch(b.ingress, {
				method: 'POST',
				headers: { 'ce-specversion': '1.0', 'ce-id': 'bad-1', 'ce-source': '/t', 'ce-type': 'review.moderated', 'ce-badwordfilter': 'bad', 'content-type': 'application/json' },
				body: '{}',
			});
			assert.equal(bad.status, 202);
			assert.equal((await send(b.ingress, { type: 'review.moderated' })).status, 202, 'a good one');
			await rx.waitForCount(2, { path: '/notify' });
			await idle(b);
			const n = rx.on('/notify');
			assert.equal(n.length, 2, 'the first attempt failed, b2\'s retry: 1 made the second');
			assert.ok(n.every((r) => r.headers['ce-id'] === 'bad-1'), 'only the bad review');
			assert.equal(n[1].headers['ce-badwordfilter'], 'bad');
			assert.equal(rx.on('/dls').length, 0);
			assert.equal(await metricSum(b, 'broker_deliveries_total', { trigger: 'fwd', code: '202' }), 1);
			assert.equal(await metricSum(b, 'broker_deliveries_total', { trigger: 'notify', code: '503' }), 1);
			const direct = await send(`${b.url}/${NS}/b2`, { type: 'review.moderated', id: 'direct' });
			assert.equal(direct.status, 202, 'the second Broker has its own ingress path');
		});
		await rx.close();
	});
});
