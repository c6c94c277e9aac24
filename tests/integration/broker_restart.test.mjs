// The local broker across a graceful restart: events answered 202 while the subscriber is
// failing or slow stay in the write-ahead log (DATA_DIR/broker.wal) on SIGTERM (exit 0) and
// are delivered after the restart, with the attempt count and the dead-letter phase carried
// over. No event accepted is lost. (Crashes: broker_crash.test.mjs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startServer, binPath, waitFor, stopClean, assertClean } from './lib/proc.mjs';
import { startReceiver, latch } from './lib/receiver.mjs';

function manifests(delivery, subscriberUrl) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'broker-restart-'));
	const docs = [
		{ apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', metadata: { name: 'b', namespace: 'ns' }, spec: { delivery } },
		{ apiVersion: 'eventing.knative.dev/v1', kind: 'Trigger', metadata: { name: 't', namespace: 'ns' },
			spec: { broker: 'b', subscriber: { uri: subscriberUrl } } },
	];
	fs.writeFileSync(path.join(dir, 'eventing.yaml'), docs.map((d) => `---\n${JSON.stringify(d)}\n`).join(''));
	return dir;
}

function start(dir, env = {}) {
	return startServer(binPath('local-broker'), {
		readyPath: '/readyz',
		env: { BROKER_MANIFESTS: dir, DATA_DIR: path.join(dir, 'data'), LOG_LEVEL: 'warn', ...env },
	});
}

async function post(b, id) {
	const res = await fetch(`${b.url}/ns/b`, {
		method: 'POST',
		headers: { 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/restart', 'ce-type': 't', 'content-type': 'application/json' },
		body: JSON.stringify({ id }),
	});
	await res.arrayBuffer();
	return res.status;
}

async function depth(b) {
	const text = await (await fetch(`${b.url}/metrics`)).text();
	const m = /^broker_queue_depth (\S+)$/m.exec(text);
	return m ? Number(m[1]) : NaN;
}

// Starts a broker on dir, posts ids (each answered 202), waits for sub's first attempt at each
// and stops the broker gracefully: the deliveries wait in the log for their retry.
async function acceptThenStop(dir, sub, ids) {
	const b = await start(dir);
	for (const id of ids)
		assert.equal(await post(b, id), 202);
	await sub.waitForCount(ids.length);
	await stopClean(b);
}

const walFile = (dir) => path.join(dir, 'data', 'broker.wal');
// The deliveries the log holds after a graceful stop (compacted: one put each).
const pending = (dir) => fs.readFileSync(walFile(dir), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
// One start-up run to its exit (one that is expected to fail), with the warnings on stderr.
const startOnce = (dir) => spawnSync(binPath('local-broker'), [], {
	encoding: 'utf8', timeout: 15000,
	env: { ...process.env, PORT: '1', BROKER_MANIFESTS: dir, DATA_DIR: path.join(dir, 'data'), LOG_LEVEL: 'warn' },
});
const delivered = (rx) => new Set(rx.requests.filter((r) => r.answeredWith === 200).map((r) => r.headers['ce-id']));

test('failing subscriber: events waiting for a retry survive SIGTERM and are delivered after the restart', async () => {
	let failing = true;
	const sub = await startReceiver(() => ({ status: failing ? 503 : 200 }));
	const dls = await startReceiver(() => ({ status: 200 }));
	const dir = manifests({ retry: 5, backoffPolicy: 'exponential', backoffDelay: 'PT0.5S', deadLetterSink: { uri: dls.url } }, sub.url);
	const ids = ['r1', 'r2', 'r3', 'r4', 'r5'];
	await acceptThenStop(dir, sub, ids);
	const kept = pending(dir);
	assert.equal(kept.length, ids.length, 'every pending delivery kept in the log');
	assert.ok(kept.every((r) => r.op === 'put' && r.delivery.attempts >= 1), 'with its attempt count');

	failing = false;
	const b = await start(dir);
	await waitFor(async () => delivered(sub).size === ids.length, { timeoutMs: 10000, what: 'all events delivered' });
	await waitFor(async () => (await depth(b)) === 0, { what: 'queue empty' });
	assert.deepEqual([...delivered(sub)].sort(), ids);
	assert.equal(dls.requests.length, 0, 'nothing dead-lettered');
	await stopClean(b);
	assert.equal(pending(dir).length, 0, 'an empty log when nothing is pending');
	await sub.close();
	await dls.close();
});

test('the attempt count survives the restart: retry 1 → exactly two attempts in all, then the DLS', async () => {
	const sub = await startReceiver(() => ({ status: 500 }));
	const dls = await startReceiver(() => ({ status: 200 }));
	const dir = manifests({ retry: 1, backoffPolicy: 'exponential', backoffDelay: 'PT1S', deadLetterSink: { uri: dls.url } }, sub.url);
	let b = await start(dir);
	assert.equal(await post(b, 'once'), 202);
	await sub.waitForCount(1);
	await stopClean(b);
	assert.equal(sub.requests.length, 1, 'stopped during the 1 s wait');
	b = await start(dir);
	await dls.waitForCount(1, { timeoutMs: 10000 });
	await waitFor(async () => (await depth(b)) === 0, { what: 'queue empty' });
	assert.equal(sub.requests.length, 2, 'one attempt before and one after the restart');
	assert.ok(sub.requests[1].at - sub.requests[0].at >= 950, 'the due time was kept');
	assert.equal(dls.requests[0].headers['ce-knativeerrorcode'], '500');
	await stopClean(b);
	await sub.close();
	await dls.close();
});

// With a damaged line too: the log is set aside as broker.wal.broken-<time>, and the records
// that could be read are resumed. It was renamed away before the new log existed, so a
// start-up that failed (or was killed) then left no broker.wal: the next start began empty and
// every pending event answered 202 was lost, with no warning.
for (const damaged of [false, true]) {
	test(`a log ${damaged ? 'with a damaged line ' : ''}that cannot be rewritten at start-up: exit 1 naming the file, the log kept, every event delivered once it can`, async (t) => {
		let failing = true;
		const sub = await startReceiver(() => ({ status: failing ? 503 : 200 }));
		const dir = manifests({ retry: 3, backoffPolicy: 'exponential', backoffDelay: 'PT1S' }, sub.url);
		const ids = ['w1', 'w2', 'w3'];
		t.after(() => sub.close());
		await acceptThenStop(dir, sub, ids);
		assert.equal(pending(dir).length, ids.length);
		if (damaged) fs.appendFileSync(walFile(dir), 'garbage line\n');
		const before = fs.readFileSync(walFile(dir), 'utf8');
		// "<log>.tmp" is a directory: the start-up rewrite encodes every delivery, then cannot
		// create the file (a full or read-only disk fails the same way)
		fs.mkdirSync(`${walFile(dir)}.tmp`);
		const r = startOnce(dir);
		assert.equal(r.status, 1, `exit status 1, not a crash (signal ${r.signal})\n${r.stderr}`);
		assert.match(r.stderr, /broker\.wal\.tmp/, 'the file is named');
		assertClean(r.stderr);
		assert.equal(fs.readFileSync(walFile(dir), 'utf8'), before, 'the log is untouched');

		fs.rmdirSync(`${walFile(dir)}.tmp`);
		failing = false;
		const b = await start(dir);
		await waitFor(async () => delivered(sub).size === ids.length, { timeoutMs: 15000, what: 'all events delivered' });
		await waitFor(async () => (await depth(b)) === 0, { what: 'queue empty' });
		await stopClean(b);
	});
}

test('slow subscriber: attempts in flight past the grace period are cancelled, kept and redelivered', async () => {
	// The first broker's attempts are held without an answer until the test lets go, so a
	// stop that waited for them would never end: stopClean() would hit its deadline and fail.
	let slow = true;
	const held = latch();
	const sub = await startReceiver(() => (slow ? held.promise.then(() => ({ status: 200 })) : { status: 200 }));
	const dir = manifests({ retry: 2 }, sub.url);
	const ids = ['s1', 's2', 's3', 's4'];
	let b = await start(dir, { BROKER_SHUTDOWN_GRACE: 'PT0.3S', BROKER_TRIGGER_INFLIGHT: '2' });
	for (const id of ids)
		assert.equal(await post(b, id), 202);
	await sub.waitForCount(2);
	try {
		await stopClean(b);
		assert.deepEqual(sub.requests.map((r) => r.answeredWith), [undefined, undefined],
			'the stop ended while both attempts were unanswered');
	} finally {
		held.open();
	}
	assert.equal(pending(dir).length, ids.length, 'two in flight and two queued, all kept in the log');
	slow = false;
	b = await start(dir);
	await waitFor(async () => delivered(sub).size === ids.length, { timeoutMs: 10000, what: 'all events delivered' });
	assert.deepEqual([...delivered(sub)].sort(), ids);
	await waitFor(async () => (await depth(b)) === 0, { what: 'queue empty' });
	await stopClean(b);
	await sub.close();
});

test('a delivery in its dead-letter phase resumes there after the restart', async () => {
	let dlsUp = false;
	const sub = await startReceiver(() => ({ status: 400, body: 'rejected' }));
	const dls = await startReceiver(() => ({ status: dlsUp ? 200 : 503 }));
	const dir = manifests({ retry: 3, backoffPolicy: 'exponential', backoffDelay: 'PT1S', deadLetterSink: { uri: dls.url } }, sub.url);
	let b = await start(dir);
	assert.equal(await post(b, 'dl'), 202);
	await dls.waitForCount(1);
	await stopClean(b);
	dlsUp = true;
	b = await start(dir);
	await waitFor(async () => dls.requests.some((r) => r.answeredWith === 200), { timeoutMs: 10000, what: 'DLS delivery' });
	const ok = dls.requests.find((r) => r.answeredWith === 200);
	assert.equal(ok.headers['ce-id'], 'dl');
	assert.equal(ok.headers['ce-knativeerrorcode'], '400');
	assert.equal(ok.headers['ce-knativeerrordata'], Buffer.from('rejected').toString('base64'));
	assert.equal(sub.requests.length, 1, 'the subscriber is not called again');
	await stopClean(b);
	await sub.close();
	await dls.close();
});

// Data may hold a NUL: the ingress accepts it (a text body with a 0 byte, a JSON string with
// \u0000) and the log writes it escaped. Reading the log back must accept it too, or the whole
// record is an unreadable line, set aside, and the accepted event is never delivered.
test('an event whose data holds a NUL character survives the restart, byte for byte', async (t) => {
	let failing = true;
	const sub = await startReceiver(() => ({ status: failing ? 503 : 200 }));
	const dls = await startReceiver(() => ({ status: 200 }));
	const dir = manifests({ retry: 5, backoffPolicy: 'linear', backoffDelay: 'PT0.5S', deadLetterSink: { uri: dls.url } }, sub.url);
	let b = await start(dir);
	t.after(async () => {
		b.kill('SIGKILL');
		await sub.close();
		await dls.close();
	});
	const ce = { 'ce-specversion': '1.0', 'ce-source': '/restart', 'ce-type': 't' };
	let res = await fetch(`${b.url}/ns/b`, {
		method: 'POST', headers: { ...ce, 'ce-id': 'nul-text', 'content-type': 'text/plain' }, body: 'ab\u0000cd',
	});
	assert.equal(res.status, 202, await res.text());
	res = await fetch(`${b.url}/ns/b`, {
		method: 'POST',
		headers: { 'content-type': 'application/cloudevents+json' },
		body: JSON.stringify({ specversion: '1.0', id: 'nul-json', source: '/restart', type: 't', datacontenttype: 'application/json', data: { k: 'a\u0000b' } }),
	});
	assert.equal(res.status, 202, await res.text());
	await sub.waitForCount(2);
	await stopClean(b);
	assert.equal(pending(dir).length, 2, 'both kept in the log');

	failing = false;
	b = await start(dir);
	await waitFor(async () => delivered(sub).size === 2, { timeoutMs: 10000, what: 'both delivered after the restart' });
	const last = (id) => sub.requests.filter((r) => r.headers['ce-id'] === id).at(-1);
	assert.equal(last('nul-text').body, 'ab\u0000cd');
	assert.deepEqual(JSON.parse(last('nul-json').body), { k: 'a\u0000b' });
	assert.equal(dls.requests.length, 0, 'nothing dead-lettered');
	assert.deepEqual(fs.readdirSync(path.join(dir, 'data')).filter((f) => f.includes('broken')), [], 'no line set aside');
	await stopClean(b);
});

// JSON data read back from the log keeps its numbers' text: jansson writes a real with 17
// digits, so 0.1 resumed as 0.10000000000000001.
test('JSON data resumed from the log keeps its decimals as written', async (t) => {
	let failing = true;
	const sub = await startReceiver(() => ({ status: failing ? 503 : 200 }));
	const dir = manifests({ retry: 5, backoffPolicy: 'linear', backoffDelay: 'PT0.5S' }, sub.url);
	let b = await start(dir);
	t.after(async () => {
		b.kill('SIGKILL');
		await sub.close();
	});
	const data = '{"price":0.1,"sum":0.30000000000000004,"big":1e300}';
	const res = await fetch(`${b.url}/ns/b`, {
		method: 'POST',
		headers: { 'ce-specversion': '1.0', 'ce-id': 'dec', 'ce-source': '/restart', 'ce-type': 't', 'content-type': 'application/json' },
		body: data,
	});
	assert.equal(res.status, 202);
	await sub.waitForCount(1);
	assert.equal(sub.requests[0].body, data, 'before the restart');
	await stopClean(b);
	failing = false;
	b = await start(dir);
	await waitFor(async () => delivered(sub).size === 1, { timeoutMs: 10000, what: 'delivered after the restart' });
	assert.equal(sub.requests.at(-1).body, data, 'after the restart');
	await stopClean(b);
});

// ids accepted for Trigger t and pending at a stop, then t removed from the manifests: the
// next start-up cannot resume them. Returns the directory.
async function orphanedDeliveries(t, ids) {
	const sub = await startReceiver(() => ({ status: 503 }));
	t.after(() => sub.close());
	const dir = manifests({ retry: 5, backoffPolicy: 'exponential', backoffDelay: 'PT5S' }, sub.url);
	await acceptThenStop(dir, sub, ids);
	assert.equal(pending(dir).length, ids.length);
	// The Trigger t goes; a Trigger u takes its place, so the Broker still has one.
	const yaml = path.join(dir, 'eventing.yaml');
	fs.writeFileSync(yaml, fs.readFileSync(yaml, 'utf8').replace('"name":"t"', '"name":"u"'));
	return dir;
}
const orphanFiles = (dir) => fs.readdirSync(path.join(dir, 'data')).filter((f) => /^broker\.wal\.orphaned-\d+$/.test(f));
const orphanRecords = (dir, name) => fs.readFileSync(path.join(dir, 'data', name), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

test('deliveries of a Trigger removed from the manifests are kept aside in broker.wal.orphaned-<time>, with a warning naming each event', async (t) => {
	const ids = ['o1', 'o2'];
	const dir = await orphanedDeliveries(t, ids);
	const b = await start(dir);
	await stopClean(b);
	const log = b.stderr();
	for (const id of ids)
		assert.match(log, new RegExp(`"level":"warn".*"event_id":"${id}".*"trigger":"t"|"level":"warn".*"trigger":"t".*"event_id":"${id}"`),
			`a warning names event ${id} and its Trigger`);
	const aside = orphanFiles(dir);
	assert.equal(aside.length, 1, 'one file next to the log');
	const kept = orphanRecords(dir, aside[0]);
	assert.deepEqual(kept.map((r) => r.delivery.event.id).sort(), ids, 'every orphaned delivery, as its log record');
	assert.ok(kept.every((r) => r.op === 'put' && r.delivery.trigger === 't' && r.delivery.attempts >= 1));
	assert.equal(pending(dir).length, 0, 'the log itself no longer holds them');
});

// The old log stays until the new one replaces it (wal.h), so each start-up that fails after
// keeping the orphans aside reads them again: they are kept in one file, not one per attempt.
test('start-ups that fail after keeping the orphans aside keep them once', async (t) => {
	const ids = ['r1', 'r2'];
	const dir = await orphanedDeliveries(t, ids);
	const aside = () => orphanFiles(dir);
	fs.mkdirSync(`${walFile(dir)}.tmp`); // the rewrite cannot create its file
	for (let attempt = 1; attempt <= 2; attempt++) {
		const r = startOnce(dir);
		assert.equal(r.status, 1, `attempt ${attempt}: ${r.stderr}`);
		assertClean(r.stderr);
		assert.equal(aside().length, 1, `attempt ${attempt}: one file of orphans`);
		if (attempt === 2)
			assert.match(r.stderr, /kept by an earlier start-up/);
		// a second apart at least, or the two attempts would share the name anyway
		if (attempt === 1) {
			const t0 = Math.floor(Date.now() / 1000);
			await waitFor(() => Math.floor(Date.now() / 1000) > t0, { timeoutMs: 3000, what: 'the next second' });
		}
	}
	fs.rmdirSync(`${walFile(dir)}.tmp`);
	const b = await start(dir);
	await stopClean(b);
	assert.equal(aside().length, 1, 'still one file once the start succeeds');
	const kept = orphanRecords(dir, aside()[0]);
	assert.deepEqual(kept.map((r) => r.delivery.event.id).sort(), ids, 'each orphaned delivery once');
	assert.equal(pending(dir).length, 0);
});
