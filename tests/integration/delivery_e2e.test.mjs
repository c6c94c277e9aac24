// The delivery demo end to end, through `make run`'s wiring (lib/run.mjs runs the real
// scripts/run.sh): PostgreSQL, db-service, node-server, file-sink with FAILURE_RATE=0.5,
// dead-letter-logger and the local broker reading the real k8s/base/eventing manifests
// (retry 2, exponential backoff from PT1S, dead letters to dead-letter-logger).
//
// 1,000 reviews go in through node-server's POST /add, a third each built with the cloudevents
// SDK's HTTP.binary, its HTTP.structured and plain fetch with the frontend's headers, 32 at a
// time. Every event must then end up in exactly one place: one "saved" line in file-sink's
// events.log, or one dead letter in dead-letter-logger's (after three failed attempts at
// t, t+1 s, t+3 s). The share dead-lettered is binomial, n = 1000, p = 0.5^3 = 0.125.
//
// Then malformed events at every ingress (node-server /add and /insert, the broker, file-sink,
// dead-letter-logger) each get a 400 with a JSON body, and none of them gets anywhere.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startRun, runSkipReason, postReviews, account, waitAccounted, metric } from './lib/run.mjs';
import { waitFor } from './lib/proc.mjs';

const skip = runSkipReason();
const N = 1000;
const P = 0.5 ** 3;
// ±5 standard deviations of Binomial(1000, 0.125): sd = sqrt(1000 * 0.125 * 0.875) = 10.46, so
// the dead letters must number 125 ± 52.3, i.e. 73..177. A correct system fails this about
// once in 1.7 million runs; a broken retry policy (e.g. 2 attempts: 250, or 4: 62.5) does not
// pass it.
const SD = Math.sqrt(N * P * (1 - P));
const LOW = Math.ceil(N * P - 5 * SD);
const HIGH = Math.floor(N * P + 5 * SD);

let r;

before(async () => {
	if (skip) return;
	r = await startRun({ env: { FAILURE_RATE: '0.5', LOG_LEVEL: 'warn' } });
});

after(async () => {
	if (r) await r.cleanup();
});

const sameUrl = (a, b) => new URL(a).href === new URL(b).href;

test('1,000 reviews: each saved once or dead-lettered once, 12.5% dead letters, all in the database', { skip, timeout: 180000 }, async () => {
	const tag = `e2e-${crypto.randomBytes(4).toString('hex')}`;
	const t0 = Date.now();
	const sent = await postReviews(r, N, { tag, concurrency: 32 });
	const ids = sent.map((s) => s.id);
	assert.equal(new Set(ids).size, N, 'every /add answer names a distinct event id');
	const posted = Date.now() - t0;
	await waitAccounted(r, ids, { timeoutMs: 90000 });
	console.log(`posted ${N} reviews in ${posted} ms; all accounted for after ${Date.now() - t0} ms`);

	// Exactly one place per event, with the attempts the delivery spec allows.
	const per = account(r, ids);
	const dead = [];
	let saved = 0;
	let simulated = 0;
	for (const [id, p] of per) {
		simulated += p.simulated.length;
		assert.equal(p.duplicate.length, 0, `${id}: no redelivery without a fault`);
		if (p.dead.length) {
			assert.equal(p.saved.length, 0, `${id}: dead-lettered AND saved`);
			assert.equal(p.dead.length, 1, `${id}: ${p.dead.length} dead letters`);
			assert.equal(p.simulated.length, 3, `${id}: dead-lettered after ${p.simulated.length} attempts, not 3`);
			// Waits of 1 s, then 2 s (exponential from PT1S); log times have ms precision.
			const [a1, a2, a3] = p.simulated.map((l) => Date.parse(l.time));
			assert.ok(a2 - a1 >= 950, `${id}: first retry after ${a2 - a1} ms, not 1 s`);
			assert.ok(a3 - a2 >= 1950, `${id}: second retry after ${a3 - a2} ms, not 2 s`);
			dead.push({ id, letter: p.dead[0] });
		} else {
			assert.equal(p.saved.length, 1, `${id}: ${p.saved.length} saved lines and no dead letter`);
			assert.ok(p.simulated.length <= 2, `${id}: saved after ${p.simulated.length} failures`);
			saved++;
		}
	}
	assert.equal(saved + dead.length, N);

	// The share dead-lettered: 0.5^3 of the events, within ±5 standard deviations.
	console.log(`${dead.length} of ${N} dead-lettered (expected ${N * P}, bounds ${LOW}..${HIGH})`);
	assert.ok(dead.length >= LOW && dead.length <= HIGH,
		`${dead.length} dead letters is outside ${LOW}..${HIGH} (Binomial(${N}, ${P}) ± 5 sd)`);

	// Each dead letter names file-sink, its 500 and its simulated-failure body.
	for (const { id, letter } of dead) {
		const e = letter.error;
		assert.ok(sameUrl(e.destination, r.sinkUrl), `${id}: knativeerrordest ${e.destination}`);
		assert.equal(e.code, 500);
		assert.equal(e.response_encoding, 'text');
		assert.deepEqual(JSON.parse(e.response), {
			error: 'simulated_failure',
			message: `simulated failure for event ${id} (FAILURE_RATE=0.5)`,
		});
		assert.equal(letter.event.type, 'new-review-comment');
		assert.equal(letter.event.source, 'bookstore-eda');
	}

	// Every review is in the database exactly once, under its event id.
	const rows = await r.query(`SELECT event_id, content FROM book_reviews WHERE content LIKE '${tag} review %'`);
	assert.equal(rows.length, N);
	const byId = new Map(rows.map(([id, content]) => [id, content]));
	assert.equal(byId.size, N);
	for (const s of sent) assert.equal(byId.get(s.id), s.text, `review ${s.i} stored under ${s.id}`);

	// The reply events (com.example.reviews.inserted) came back into the broker and matched no
	// Trigger: file-sink saw only reviews.
	assert.ok(r.sinkLines().every((l) => !l.event || l.event.type === 'new-review-comment'));

	// The metrics agree with the logs.
	const bm = await r.metrics(r.brokerUrl);
	const fs = '{namespace="bookstore",trigger="file-sink-trigger"}';
	const db = '{namespace="bookstore",trigger="db-insert-trigger"}';
	// Each review: itself, its copy on the Sequence's first channel, bad-word-filter's reply on the
	// second, sentiment-analysis's moderated-comment back in the broker, and node-server's reply.
	assert.equal(metric(bm, 'broker_events_received_total'), 5 * N, 'each review, its three moderation hops and its reply');
	assert.equal(metric(bm, 'broker_deliveries_total', '{namespace="bookstore",trigger="sequence-kn-sequence-0",code="200"}'), N);
	assert.equal(metric(bm, 'broker_deliveries_total', '{namespace="bookstore",trigger="sequence-kn-sequence-1",code="200"}'), N);
	assert.equal(metric(bm, 'broker_dead_letters_total', fs), dead.length);
	assert.equal(metric(bm, 'broker_dead_letters_total', db), 0);
	assert.equal(metric(bm, 'broker_deliveries_total', '{namespace="bookstore",trigger="file-sink-trigger",code="200"}'), saved);
	assert.equal(metric(bm, 'broker_deliveries_total', '{namespace="bookstore",trigger="file-sink-trigger",code="500"}'), simulated);
	assert.equal(metric(bm, 'broker_deliveries_total', '{namespace="bookstore",trigger="db-insert-trigger",code="200"}'), N);
	assert.equal(metric(bm, 'broker_queue_depth'), 0);
	const sm = await r.metrics(r.sinkUrl);
	assert.equal(metric(sm, 'filesink_deliveries_total', '{outcome="saved"}'), saved);
	assert.equal(metric(sm, 'filesink_deliveries_total', '{outcome="error simulated"}'), simulated);
	assert.equal(metric(sm, 'filesink_deliveries_total', '{outcome="duplicate"}'), 0);
	const dm = await r.metrics(r.dllUrl);
	const dlTotal = dm.split('\n').filter((l) => l.startsWith('dead_letters_total{'))
		.reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
	assert.equal(dlTotal, dead.length);
});

// Malformed at the CloudEvents level: every ingress must refuse these.
const CE = {
	'ce-specversion': '1.0', 'ce-id': 'bad-1', 'ce-source': 'bookstore-frontend',
	'ce-type': 'new-review-comment', 'content-type': 'application/json',
};
const REVIEW = '{"reviewText":"malformed test"}';
const STRUCTURED = 'application/cloudevents+json';
const envelope = [
	['no ce-id', { ...CE, 'ce-id': undefined }, REVIEW],
	['empty ce-id', { ...CE, 'ce-id': '' }, REVIEW],
	['no ce-source', { ...CE, 'ce-source': undefined }, REVIEW],
	['no ce-type', { ...CE, 'ce-type': undefined }, REVIEW],
	['specversion 0.3', { ...CE, 'ce-specversion': '0.3' }, REVIEW],
	['no CloudEvent at all', { 'content-type': 'application/json' }, REVIEW],
	['ce-time not RFC 3339', { ...CE, 'ce-time': 'yesterday' }, REVIEW],
	['structured, not JSON', { 'content-type': STRUCTURED }, '{"specversion":'],
	['structured, no id', { 'content-type': STRUCTURED }, '{"specversion":"1.0","source":"s","type":"new-review-comment"}'],
	['structured, a JSON array', { 'content-type': STRUCTURED }, '[]'],
];
// Well-formed CloudEvents whose review data node-server must refuse.
const review = [
	['data not JSON', CE, '{"reviewText":'],
	['data not an object', CE, '[1,2]'],
	['empty reviewText', CE, '{"reviewText":"   "}'],
	['reviewText not a string', CE, '{"reviewText":42}'],
];

test('malformed events at every ingress: 400 with JSON, and nothing gets through', { skip, timeout: 60000 }, async () => {
	const targets = [
		['node-server /add', `${r.url}/add`, [...envelope, ...review, ['type not new-review-comment', { ...CE, 'ce-type': 'x' }, REVIEW]]],
		['node-server /insert', `${r.url}/insert`, [...envelope, ...review]],
		['broker ingress', r.ingress, envelope],
		['file-sink', `${r.sinkUrl}/`, envelope],
		['dead-letter-logger', `${r.dllUrl}/`, envelope],
	];
	const before = {
		received: metric(await r.metrics(r.brokerUrl), 'broker_events_received_total'),
		sink: r.sinkLines().length,
		dead: r.deadLetters().length,
		rows: Number((await r.query('SELECT count(*) FROM book_reviews'))[0][0]),
	};
	let toSink = 0;
	for (const [where, url, cases] of targets) {
		for (const [name, h, body] of cases) {
			const headers = Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined));
			const res = await fetch(url, { method: 'POST', headers, body });
			const text = await res.text();
			assert.equal(res.status, 400, `${where}, ${name}: HTTP ${res.status} ${text}`);
			assert.match(res.headers.get('content-type') || '', /^application\/json/, `${where}, ${name}`);
			const j = JSON.parse(text);
			assert.equal(typeof j.error, 'string', `${where}, ${name}: ${text}`);
			assert.ok(j.message.length > 0, `${where}, ${name}: ${text}`);
			if (where === 'file-sink') toSink++;
		}
	}

	// A barrier: one good review, posted after all of them, followed until it is saved or
	// dead-lettered and stored. The broker handles events in order, so anything the malformed
	// requests had enqueued would have been delivered by then.
	const [good] = await postReviews(r, 1, { tag: `barrier-${crypto.randomBytes(4).toString('hex')}` });
	await waitAccounted(r, [good.id], { timeoutMs: 30000 });
	await waitFor(async () => (await r.query(`SELECT 1 FROM book_reviews WHERE event_id = '${good.id}'`)).length === 1,
		{ timeoutMs: 10000, what: 'the barrier review in the database' });

	const bm = await r.metrics(r.brokerUrl);
	assert.equal(metric(bm, 'broker_events_received_total'), before.received + 5,
		'only the barrier review, its three moderation hops and its reply reached the broker');
	const rows = Number((await r.query('SELECT count(*) FROM book_reviews'))[0][0]);
	assert.equal(rows, before.rows + 1, 'only the barrier review was stored');
	const newSink = r.sinkLines().slice(before.sink);
	const rejected = newSink.filter((l) => l.outcome === 'rejected');
	assert.equal(rejected.length, toSink, 'file-sink recorded each malformed delivery as rejected');
	assert.ok(rejected.every((l) => !l.event && typeof l.error === 'string'));
	assert.ok(newSink.filter((l) => l.outcome !== 'rejected').every((l) => l.event.id === good.id),
		'no event line but the barrier review\'s');
	const newDead = r.deadLetters().slice(before.dead);
	assert.ok(newDead.every((l) => l.event.id === good.id), 'no dead letter but maybe the barrier review\'s');
});

test('stops cleanly on Ctrl-C, without a sanitizer report', { skip, timeout: 120000 }, async () => {
	const pids = Object.values(r.pids());
	const res = await r.stop();
	assert.equal(res.code, 0, res.stdout);
	for (const pid of pids) assert.ok(!r.alive(pid), `pid ${pid} still running`);
	r.assertLogsClean();
});
