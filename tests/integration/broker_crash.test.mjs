// The local broker across crashes (SIGKILL): with BROKER_DURABILITY=wal (the default) an
// event answered 202 is in the write-ahead log (DATA_DIR/broker.wal) before the answer, and
// every pending delivery resumes after a restart with its attempt count and due time.
// Regression tests for issue 11: each of these lost events, or deleted the only copy of them,
// before the log existed. Also: a damaged log or spool is moved aside, never deleted, and one
// that cannot be read stops the start; a
// torn last record is skipped; the log is compacted; the queue has a byte budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, binPath, waitFor, stopClean, assertClean, freePort, peakRssKiB } from './lib/proc.mjs';
import { startReceiver } from './lib/receiver.mjs';

function manifests(delivery, subscriberUrl) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'broker-crash-'));
	const docs = [
		{ apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', metadata: { name: 'b', namespace: 'ns' }, spec: { delivery } },
		{ apiVersion: 'eventing.knative.dev/v1', kind: 'Trigger', metadata: { name: 't', namespace: 'ns' },
			spec: { broker: 'b', subscriber: { uri: subscriberUrl } } },
	];
	fs.writeFileSync(path.join(dir, 'eventing.yaml'), docs.map((d) => `---\n${JSON.stringify(d)}\n`).join(''));
	fs.mkdirSync(path.join(dir, 'data'));
	return dir;
}

function start(dir, env = {}) {
	return startServer(binPath('local-broker'), {
		readyPath: '/readyz',
		env: { BROKER_MANIFESTS: dir, DATA_DIR: path.join(dir, 'data'), LOG_LEVEL: 'info', ...env },
	});
}

// SIGKILL: no drain, no checkpoint, no sanitizer exit report.
async function crash(b) {
	const r = await b.stop({ signal: 'SIGKILL' });
	assert.equal(r.signal, 'SIGKILL');
	assertClean(r.stderr);
}

async function post(b, id, body = JSON.stringify({ id })) {
	const res = await fetch(`${b.url}/ns/b`, {
		method: 'POST',
		headers: { 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/crash', 'ce-type': 't', 'content-type': 'application/json' },
		body,
	});
	return { status: res.status, headers: res.headers, text: await res.text() };
}

async function metricValue(b, name) {
	const text = await (await fetch(`${b.url}/metrics`)).text();
	const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
	return m ? Number(m[1]) : NaN;
}

const walFile = (dir) => path.join(dir, 'data', 'broker.wal');
const spoolFile = (dir) => path.join(dir, 'data', 'broker-spool.json');
const walOps = (dir) => fs.readFileSync(walFile(dir), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).op);
const delivered = (rx) => new Set(rx.requests.filter((r) => r.answeredWith === 200).map((r) => r.headers['ce-id']));
const rssKiB = (pid) => Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

test('SIGKILL while the subscriber hangs: the events answered 202 are delivered after the restart', async () => {
	let hang = true;
	const sub = await startReceiver(() => ({ status: 200, delayMs: hang ? 60000 : 0 }));
	const dir = manifests({ retry: 3 }, sub.url);
	const ids = ['k1', 'k2', 'k3'];
	let b = await start(dir);
	for (const id of ids)
		assert.equal((await post(b, id)).status, 202);
	await sub.waitForCount(ids.length);
	await crash(b);
	hang = false;
	b = await start(dir);
	await waitFor(async () => delivered(sub).size === ids.length, { timeoutMs: 15000, what: 'every event delivered after the crash' });
	assert.deepEqual([...delivered(sub)].sort(), ids);
	assert.match(b.stderr(), /resumed 3 pending deliveries/);
	await waitFor(async () => (await metricValue(b, 'broker_queue_depth')) === 0, { what: 'queue empty' });
	await stopClean(b);
	await sub.close();
});

test('SIGKILL during a retry wait: the attempt count and the due time survive (retry 1 → two attempts, then the DLS)', async () => {
	const sub = await startReceiver(() => ({ status: 500 }));
	const dls = await startReceiver(() => ({ status: 200 }));
	const dir = manifests({ retry: 1, backoffPolicy: 'exponential', backoffDelay: 'PT1S', deadLetterSink: { uri: dls.url } }, sub.url);
	let b = await start(dir);
	assert.equal((await post(b, 'once')).status, 202);
	await sub.waitForCount(1);
	await waitFor(() => walOps(dir).includes('retry'), { what: 'the failed attempt in the log' });
	await crash(b);
	b = await start(dir);
	await dls.waitForCount(1, { timeoutMs: 10000 });
	await waitFor(async () => (await metricValue(b, 'broker_queue_depth')) === 0, { what: 'queue empty' });
	assert.equal(sub.requests.length, 2, 'one attempt before and one after the crash');
	assert.ok(sub.requests[1].at - sub.requests[0].at >= 950, 'the due time was kept');
	assert.equal(dls.requests[0].headers['ce-knativeerrorcode'], '500');
	await stopClean(b);
	await sub.close();
	await dls.close();
});

test('a crash after resuming from an older version\'s spool loses nothing: the spool goes only once the log holds it', async () => {
	let hang = true;
	const sub = await startReceiver(() => ({ status: 200, delayMs: hang ? 60000 : 0 }));
	const dir = manifests({ retry: 2 }, sub.url);
	const record = (id) => ({
		trigger_namespace: 'ns', trigger: 't', phase: 'subscriber', attempts: 0, due_ms: 0, ttl: 254,
		// A NUL in the data (written escaped): the spool and the log must both read it back.
		event: { specversion: '1.0', id, source: '/spool', type: 't', datacontenttype: 'application/json', data: { id, text: 'a\u0000b' } },
	});
	fs.writeFileSync(spoolFile(dir), JSON.stringify({ version: 1, deliveries: [record('sp1'), record('sp2')] }));
	let b = await start(dir);
	assert.match(b.stderr(), /resumed 2 pending deliveries/);
	assert.ok(!fs.existsSync(spoolFile(dir)), 'the spool is removed once the log holds its deliveries');
	await sub.waitForCount(2);
	await crash(b);
	hang = false;
	b = await start(dir);
	await waitFor(async () => delivered(sub).size === 2, { timeoutMs: 15000, what: 'both spooled events delivered' });
	assert.deepEqual([...delivered(sub)].sort(), ['sp1', 'sp2']);
	assert.deepEqual(JSON.parse(sub.requests.at(-1).body).text, 'a\u0000b');
	await stopClean(b);
	await sub.close();
});

test('graceful stop, restart, then SIGKILL: the resumed deliveries are still in the log', async () => {
	let hang = true;
	const sub = await startReceiver(() => ({ status: 200, delayMs: hang ? 60000 : 0 }));
	const dir = manifests({ retry: 2 }, sub.url);
	let b = await start(dir, { BROKER_SHUTDOWN_GRACE: 'PT0.2S' });
	assert.equal((await post(b, 'g1')).status, 202);
	await sub.waitForCount(1);
	await stopClean(b);
	assert.match(fs.readFileSync(walFile(dir), 'utf8'), /"g1"/, 'the stop kept the pending delivery in the log');
	b = await start(dir);
	assert.match(b.stderr(), /resumed 1 pending deliveries/);
	await sub.waitForCount(2);
	await crash(b);
	hang = false;
	b = await start(dir);
	await waitFor(async () => delivered(sub).has('g1'), { timeoutMs: 15000, what: 'g1 delivered' });
	await stopClean(b);
	await sub.close();
});

test('an unreadable log is moved aside with a warning, never deleted, and the broker starts', async () => {
	const sub = await startReceiver(() => ({ status: 200 }));
	const dir = manifests({ retry: 0 }, sub.url);
	const garbage = 'this is not a write-ahead log\n\x00\x01\x02\n';
	fs.writeFileSync(walFile(dir), garbage);
	const b = await start(dir);
	const aside = fs.readdirSync(path.join(dir, 'data')).filter((f) => f.startsWith('broker.wal.broken-'));
	assert.equal(aside.length, 1, fs.readdirSync(path.join(dir, 'data')).join(', '));
	assert.equal(fs.readFileSync(path.join(dir, 'data', aside[0]), 'utf8'), garbage, 'the original bytes are kept');
	assert.match(b.stderr(), /broker\.wal: some lines are not log records; the file is kept as/);
	assert.equal((await post(b, 'after')).status, 202);
	await waitFor(async () => delivered(sub).has('after'), { what: 'a new event delivered' });
	await stopClean(b);
	assert.ok(fs.existsSync(path.join(dir, 'data', aside[0])), 'still there after a graceful stop');
	await sub.close();
});

// A log that cannot be read at all (an I/O error; here read() fails with EISDIR, through a
// symbolic link to a directory, which as root is the read error a test can make) is not a
// damaged one: before, it was moved aside and the broker started empty, so the events in it
// were never delivered. It now stays where it is and the broker does not start.
test('a log that cannot be read is left in place and the broker refuses to start', async () => {
	const dir = manifests({ retry: 0 }, 'http://127.0.0.1:9/');
	const target = path.join(dir, 'not-a-log');
	fs.mkdirSync(target);
	fs.writeFileSync(path.join(target, 'keep'), 'x');
	fs.symlinkSync(target, walFile(dir));
	const r = spawnSync(binPath('local-broker'), [], {
		env: { ...process.env, BROKER_MANIFESTS: dir, DATA_DIR: path.join(dir, 'data'), PORT: String(await freePort()) },
		encoding: 'utf8', timeout: 30000,
	});
	assert.notEqual(r.status, 0, `exit status ${r.status}, signal ${r.signal}`);
	assert.equal(r.signal, null);
	assert.match(r.stderr, /broker\.wal: Is a directory; the log is left as it is/);
	assert.ok(fs.lstatSync(walFile(dir)).isSymbolicLink(), 'the log is where it was');
	assert.deepEqual(fs.readdirSync(path.join(dir, 'data')).filter((f) => f.includes('broken')), []);
	assertClean(r.stderr);
});

test('an unreadable spool is moved aside, never deleted, also at the next graceful stop', async () => {
	const sub = await startReceiver(() => ({ status: 200 }));
	const dir = manifests({ retry: 0 }, sub.url);
	fs.writeFileSync(spoolFile(dir), '{"version":1,"deliveries":[{"trig');
	const b = await start(dir);
	assert.match(b.stderr(), /spool .* is unreadable .*: kept as/);
	await stopClean(b);
	const aside = fs.readdirSync(path.join(dir, 'data')).filter((f) => f.startsWith('broker-spool.json.broken-'));
	assert.equal(aside.length, 1);
	assert.equal(fs.readFileSync(path.join(dir, 'data', aside[0]), 'utf8'), '{"version":1,"deliveries":[{"trig');
	await sub.close();
});

test('a torn last record (a crash mid-write) is skipped and the complete ones resume', async () => {
	let hang = true;
	const sub = await startReceiver(() => ({ status: 200, delayMs: hang ? 60000 : 0 }));
	const dir = manifests({ retry: 2 }, sub.url);
	let b = await start(dir);
	assert.equal((await post(b, 't1')).status, 202);
	await sub.waitForCount(1);
	await crash(b);
	const whole = fs.readFileSync(walFile(dir), 'utf8');
	fs.appendFileSync(walFile(dir), '{"op":"put","id":99,"delivery":{"trigger_nam');
	hang = false;
	b = await start(dir);
	assert.match(b.stderr(), /the last record was cut short by a crash/);
	await waitFor(async () => delivered(sub).has('t1'), { what: 't1 delivered' });
	assert.ok(!fs.readFileSync(walFile(dir), 'utf8').includes('"id":99'), 'the torn record is gone from the new log');
	assert.ok(whole.includes('"t1"'));
	await stopClean(b);
	await sub.close();
});

test('the log is compacted: 300 delivered events leave it small', async () => {
	const sub = await startReceiver(() => ({ status: 200 }));
	const dir = manifests({ retry: 0 }, sub.url);
	const b = await start(dir, { BROKER_WAL_COMPACT: '8192' });
	for (let i = 0; i < 300; i++)
		assert.equal((await post(b, `c${i}`)).status, 202);
	await waitFor(async () => delivered(sub).size === 300, { what: 'all delivered' });
	await waitFor(async () => (await metricValue(b, 'broker_queue_depth')) === 0, { what: 'queue empty' });
	assert.ok((await metricValue(b, 'broker_wal_compactions_total')) > 0, 'compacted at least once');
	// 300 events are ~100 KB of records; compaction keeps the file near the 8 KiB threshold.
	assert.ok(fs.statSync(walFile(dir)).size < 16384, `broker.wal is ${fs.statSync(walFile(dir)).size} bytes`);
	await stopClean(b);
	assert.equal(fs.statSync(walFile(dir)).size, 0, 'nothing pending: the stop leaves an empty log');
	await sub.close();
});

// A JSON array of 450,000 zeros is 900 KB of text, and some 30 MB as a parsed tree. The
// replay held every pending put's tree until the end: restarting on 8 MiB of such events
// took over 300 MiB more than a fresh start. It now keeps the lines' text and parses one
// delivery at a time.
test('restart after SIGKILL: replay memory follows the log\'s bytes, not its JSON values', async () => {
	const sub = await startReceiver(() => ({ status: 200, delayMs: 60000 }));
	const dir = manifests({ retry: 0 }, sub.url);
	const env = {
		BROKER_QUEUE_BYTES: String(8 * 1024 * 1024), LOG_LEVEL: 'info',
		ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:quarantine_size_mb=4:thread_local_quarantine_size_kb=64',
	};
	const zeros = `[${new Array(450000).fill(0).join(',')}]`;
	let b = await start(dir, env);
	const fresh = peakRssKiB(b.proc.pid);
	let accepted = 0;
	for (let i = 0; i < 12; i++)
		if ((await post(b, `z${i}`, zeros)).status === 202) accepted++;
	assert.ok(accepted >= 7, `${accepted} accepted`);
	await crash(b);
	b = await start(dir, env);
	await waitFor(async () => new RegExp(`resumed ${accepted} pending deliveries`).test(b.stderr()),
		{ what: `${accepted} deliveries resumed` });
	const grew = peakRssKiB(b.proc.pid) - fresh;
	console.log(`replay: ${accepted} events of ${zeros.length} bytes resumed, peak RSS ${Math.round(grew / 1024)} MiB above a fresh start`);
	assert.ok(grew < 128 * 1024, `the restart peaked ${Math.round(grew / 1024)} MiB above a fresh start`);
	await crash(b);
	await sub.close();
});

test('byte budget: 100 events of 900 KB to a hung subscriber → 503 + Retry-After + JSON once BROKER_QUEUE_BYTES is reached, RSS bounded', async () => {
	const sub = await startReceiver(() => ({ status: 200, delayMs: 60000 }));
	const dir = manifests({ retry: 0 }, sub.url);
	// ASan keeps freed blocks in a 256 MB quarantine by default, which would swamp the figure.
	const b = await start(dir, {
		BROKER_QUEUE_BYTES: String(8 * 1024 * 1024), LOG_LEVEL: 'warn',
		ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:quarantine_size_mb=4:thread_local_quarantine_size_kb=64',
	});
	const rss0 = rssKiB(b.proc.pid);
	const big = JSON.stringify({ pad: 'x'.repeat(900 * 1024) });
	let accepted = 0;
	let refused = null;
	for (let i = 0; i < 100; i++) {
		const r = await post(b, `big${i}`, big);
		if (r.status === 202) {
			accepted++;
			continue;
		}
		assert.equal(r.status, 503, r.text);
		refused = refused || r;
	}
	assert.ok(accepted >= 7 && accepted <= 9, `${accepted} accepted under an 8 MiB budget`);
	assert.ok(refused, 'the rest were refused');
	assert.equal(refused.headers.get('retry-after'), '1');
	assert.match(refused.headers.get('content-type'), /application\/json/);
	const body = JSON.parse(refused.text);
	assert.equal(body.error, 'overloaded');
	assert.match(body.message, /BROKER_QUEUE_BYTES/);
	assert.ok((await metricValue(b, 'broker_queue_bytes')) <= 8 * 1024 * 1024);
	const grew = rssKiB(b.proc.pid) - rss0;
	console.log(`byte budget: ${accepted} accepted, RSS grew by ${Math.round(grew / 1024)} MiB (was 258 MB for 100 events before the budget)`);
	assert.ok(grew < 48 * 1024, `RSS grew by ${grew} KiB`);
	await crash(b);
	await sub.close();
});
