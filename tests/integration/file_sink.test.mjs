// file-sink end to end: the real binary over real HTTP. Binary and structured events saved
// whole in events.log before the answer, the failure simulation (FAIL_EVERY pattern, rates 0
// and 1, FAILURE_SEED), rejected events, GET /events, metrics, a failing disk, malformed
// requests, configuration errors and a clean SIGTERM.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { binPath, startServer, stopClean, peakRssKiB } from './lib/proc.mjs';
import { rawRequest } from './lib/rawhttp.mjs';
import { startSink, postTo, sinkDir, removeSinkDirs } from './lib/sinkproc.mjs';
import { MALFORMED_EVENTS, cleanHeaders } from './lib/malformed.mjs';

const require = createRequire(import.meta.url);
const { CloudEvent, HTTP } = require('cloudevents');

const BIN = () => binPath('file-sink');
after(removeSinkDirs);

// file-sink on a fresh DATA_DIR (lib/sinkproc.mjs); returns { srv, dir, lines() }.
const start = (env = {}, prepare) => startSink('file-sink', { ...env }, prepare);

let seq = 0;
function binaryEvent(extra = {}) {
	const id = `ev-${++seq}`;
	return {
		id,
		headers: {
			'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/bookstore/reviews',
			'ce-type': 'com.example.review.created', 'ce-subject': 'book 1',
			'ce-time': '2026-01-02T03:04:05Z', 'ce-traceid': 'abc',
			'content-type': 'application/json', ...extra,
		},
		body: JSON.stringify({ review: 'great', stars: 5 }),
	};
}

const post = postTo;

const RFC3339_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

test('binary and structured events are saved whole, answered 200 with an empty body', async () => {
	const { srv, lines } = await start({ FAILURE_RATE: '0' });
	try {
		const ev = binaryEvent();
		const r = await post(srv, ev);
		assert.equal(r.status, 200);
		assert.equal(r.text, '');
		let log = lines();
		assert.equal(log.length, 1);
		assert.match(log[0].time, RFC3339_MS);
		assert.equal(log[0].outcome, 'saved');
		assert.deepEqual(log[0].event, {
			specversion: '1.0', id: ev.id, source: '/bookstore/reviews',
			type: 'com.example.review.created', subject: 'book 1',
			time: '2026-01-02T03:04:05Z', traceid: 'abc',
			datacontenttype: 'application/json', data: { review: 'great', stars: 5 },
		});

		const ce = new CloudEvent({
			id: 'structured-1', source: 'urn:test', type: 'com.example.structured',
			datacontenttype: 'text/plain', data: 'plain text', myext: 'x1',
		});
		const msg = HTTP.structured(ce);
		const s = await post(srv, msg);
		assert.equal(s.status, 200);
		assert.equal(s.text, '');
		log = lines();
		assert.equal(log.length, 2);
		assert.equal(log[1].outcome, 'saved');
		assert.deepEqual(log[1].event, JSON.parse(msg.body));

		const bin = HTTP.binary(new CloudEvent({
			id: 'bin-bytes', source: 'urn:test', type: 't',
			datacontenttype: 'application/octet-stream', data: Buffer.from([0, 1, 255]),
		}));
		assert.equal((await post(srv, bin)).status, 200);
		const last = lines().at(-1).event;
		assert.equal(last.data_base64, 'AAH/');
		assert.equal(last.datacontenttype, 'application/octet-stream');
	} finally {
		await stopClean(srv);
	}
});

test('FAIL_EVERY=3 fails exactly deliveries 3, 6, 9 and logs every attempt', async () => {
	const { srv, lines } = await start({ FAIL_EVERY: '3' });
	try {
		const statuses = [];
		const ids = [];
		for (let i = 0; i < 9; i++) {
			const ev = binaryEvent();
			ids.push(ev.id);
			statuses.push((await post(srv, ev)).status);
		}
		assert.deepEqual(statuses, [200, 200, 500, 200, 200, 500, 200, 200, 500]);
		const log = lines();
		assert.deepEqual(log.map((l) => l.outcome), ['saved', 'saved', 'error simulated',
			'saved', 'saved', 'error simulated', 'saved', 'saved', 'error simulated']);
		assert.deepEqual(log.map((l) => l.event.id), ids);
	} finally {
		await stopClean(srv);
	}
});

// The slot of (source, id) in file-sink's direct-mapped attempts table (attempts.c: FNV-1a 64
// over source, a NUL byte and id; ATTEMPTS_SLOTS 8192), to pick an event that shares a slot.
function attemptsSlot(source, id) {
	const mask = (1n << 64n) - 1n;
	let h = 14695981039346656037n;
	const step = (b) => { h = ((h ^ BigInt(b)) * 1099511628211n) & mask; };
	for (const b of Buffer.from(source)) step(b);
	step(0);
	for (const b of Buffer.from(id)) step(b);
	return (h === 0n ? 1n : h) % 8192n;
}

test('FAIL_FIRST=2 fails each event exactly twice, whatever arrives in between, across a restart too', async () => {
	const source = '/bookstore/reviews';
	const a = binaryEvent();
	let other = 0;
	while (attemptsSlot(source, `other-${other}`) !== attemptsSlot(source, a.id)) other++;
	const b = binaryEvent({ 'ce-id': `other-${other}` });
	const first = await start({ FAILURE_RATE: '0', FAIL_FIRST: '2' });
	const statuses = [];
	let srv = first.srv;
	try {
		for (const ev of [a, b, a, a])
			statuses.push((await post(srv, ev)).status);
		await stopClean(srv);
		// The same DATA_DIR: the forced failures are counted from events.log again.
		({ srv } = await startSink('file-sink', { FAILURE_RATE: '0', FAIL_FIRST: '2', DATA_DIR: first.dir }));
		for (const ev of [b, b, a])
			statuses.push((await post(srv, ev)).status);
	} finally {
		await stopClean(srv);
	}
	assert.deepEqual(statuses, [500, 500, 500, 200, 500, 200, 200],
		'a: fail, fail, saved; b (same slot as a): fail, then after the restart fail, saved; a again: duplicate');
	const log = first.lines();
	const of = (id) => log.filter((l) => l.event.id === id).map((l) => [l.outcome, l.failFirst]);
	assert.deepEqual(of(a.id), [['error simulated', 1], ['error simulated', 2], ['saved', undefined],
		['duplicate', undefined]]);
	assert.deepEqual(of(`other-${other}`), [['error simulated', 1], ['error simulated', 2], ['saved', undefined]]);
});

test('FAILURE_RATE=0 never fails, FAILURE_RATE=1 always fails with a simulated_failure body', async () => {
	const zero = await start({ FAILURE_RATE: '0' });
	const one = await start({ FAILURE_RATE: '1' });
	try {
		for (let i = 0; i < 10; i++) {
			assert.equal((await post(zero.srv, binaryEvent())).status, 200);
			const r = await post(one.srv, binaryEvent());
			assert.equal(r.status, 500);
			assert.match(r.headers.get('content-type'), /^application\/json/);
			const body = JSON.parse(r.text);
			assert.equal(body.error, 'simulated_failure');
			assert.match(body.message, /simulated failure for event ev-\d+ \(FAILURE_RATE=1\)/);
		}
		assert.equal(zero.lines().length, 10, 'every attempt logged');
		assert.ok(zero.lines().every((l) => l.outcome === 'saved'));
		const failed = one.lines();
		assert.equal(failed.length, 10);
		assert.ok(failed.every((l) => l.outcome === 'error simulated' && l.event.id));
	} finally {
		await stopClean(zero.srv);
		await stopClean(one.srv);
	}
});

test('FAILURE_SEED makes the outcome sequence reproducible', async () => {
	const runs = [];
	for (const seed of ['12345', '12345']) {
		const { srv } = await start({ FAILURE_RATE: '0.5', FAILURE_SEED: seed });
		try {
			const st = [];
			for (let i = 0; i < 24; i++)
				st.push((await post(srv, binaryEvent())).status);
			runs.push(st.join(','));
		} finally {
			await stopClean(srv);
		}
	}
	assert.equal(runs[0], runs[1]);
	assert.match(runs[0], /200/);
	assert.match(runs[0], /500/);
});

// A message that quotes input is cut at a character, never inside one: a cut 'é' made the
// text invalid UTF-8, so the answer showed '?', and the events.log line and the WARN record
// lost their error and reason.
test('a rejected event whose message quotes non-ASCII input keeps it whole, in the answer, the log line and the WARN record', async () => {
	const { srv, lines } = await start({ FAILURE_RATE: '0' });
	try {
		const sv = `${'a'.repeat(31)}é`;
		const r = await post(srv, {
			headers: { 'content-type': 'application/cloudevents+json' },
			body: JSON.stringify({ specversion: sv, id: 'x', type: 't', source: '/s' }),
		});
		assert.equal(r.status, 400);
		const want = `unsupported specversion '${'a'.repeat(31)}' (only 1.0)`;
		assert.equal(JSON.parse(r.text).message, want);
		assert.equal(lines()[0].error, want);
		const warn = srv.stderr().split('\n').filter(Boolean).map((l) => JSON.parse(l))
			.find((rec) => rec.level === 'warn' && /rejected/.test(rec.message));
		assert.equal(warn.reason, want);
	} finally {
		await stopClean(srv);
	}
});

test('a malformed event is 400 and logged as rejected, a batch too', async () => {
	const { srv, lines } = await start({ FAILURE_RATE: '0' });
	try {
		const r = await post(srv, {
			headers: { 'content-type': 'application/cloudevents+json' },
			body: JSON.stringify({ specversion: '1.0', id: 'x', type: 't' }),
		});
		assert.equal(r.status, 400);
		assert.equal(JSON.parse(r.text).error, 'invalid_cloudevent');
		const b = await post(srv, {
			headers: { 'content-type': 'application/cloudevents-batch+json' },
			body: JSON.stringify([{ specversion: '1.0', id: 'x', type: 't', source: '/s' }]),
		});
		assert.equal(b.status, 400);
		assert.match(JSON.parse(b.text).message, /batch/);
		const log = lines();
		assert.equal(log.length, 2);
		assert.equal(log[0].outcome, 'rejected');
		assert.match(log[0].error, /source/);
		assert.equal(log[0].event, undefined);
		assert.equal(log[1].outcome, 'rejected');
		const stderr = srv.stderr();
		assert.ok(stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l))
			.some((rec) => rec.level === 'warn' && /rejected/.test(rec.message)),
		'a WARN record for the rejected delivery');
	} finally {
		await stopClean(srv);
	}
});

// A line of 450,000 zeros is 900 KB of text and some 30 MB as a parsed tree. GET /events
// held the trees of all the lines it answered with (6 such lines: some 200 MB more than a
// POST's peak); it now keeps their text and parses one line at a time to check it.
test('GET /events: memory follows the lines\' text, not their parsed JSON values', async () => {
	const { srv } = await start({
		FAILURE_RATE: '0', EVENTS_MAX_BYTES: String(16 << 20),
		ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:quarantine_size_mb=4:thread_local_quarantine_size_kb=64',
	});
	try {
		const zeros = `[${new Array(450000).fill(0).join(',')}]`;
		for (let i = 0; i < 6; i++) {
			const ev = binaryEvent();
			const r = await post(srv, { headers: ev.headers, body: zeros });
			assert.equal(r.status, 200, r.text);
		}
		const before = peakRssKiB(srv.proc.pid);
		const res = await fetch(`${srv.url}/events?limit=6`);
		const events = await res.json();
		assert.equal(events.length, 6);
		assert.equal(events[0].event.data.length, 450000);
		const grew = peakRssKiB(srv.proc.pid) - before;
		console.log(`GET /events: 6 lines of ${zeros.length} bytes, peak RSS ${Math.round(grew / 1024)} MiB above the POSTs' peak`);
		assert.ok(grew < 48 * 1024, `GET /events peaked ${Math.round(grew / 1024)} MiB above the POSTs' peak`);
	} finally {
		await stopClean(srv);
	}
});

test('GET /events returns the newest lines first, limit applies, bad limits are 400', async () => {
	const { srv } = await start({ FAILURE_RATE: '0' });
	try {
		const ids = [];
		for (let i = 0; i < 5; i++) {
			const ev = binaryEvent();
			ids.push(ev.id);
			assert.equal((await post(srv, ev)).status, 200);
		}
		const all = await (await fetch(`${srv.url}/events`)).json();
		assert.deepEqual(all.map((l) => l.event.id), ids.slice().reverse());
		const two = await (await fetch(`${srv.url}/events?limit=2`)).json();
		assert.deepEqual(two.map((l) => l.event.id), [ids[4], ids[3]]);
		for (const bad of ['0', '1001', 'abc', '-1', '', '2.5', '1e2']) {
			const res = await fetch(`${srv.url}/events?limit=${encodeURIComponent(bad)}`);
			assert.equal(res.status, 400, `limit=${bad}`);
			assert.equal((await res.json()).error, 'bad_request');
		}
		const max = await fetch(`${srv.url}/events?limit=1000`);
		assert.equal(max.status, 200);
		assert.equal((await max.json()).length, 5);
	} finally {
		await stopClean(srv);
	}
});

function metricValue(text, name, labels = '') {
	const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
	assert.ok(line, `metric ${name}${labels} missing:\n${text}`);
	return Number(line.split(' ').at(-1));
}

test('metrics count deliveries by outcome and the log size', async () => {
	const { srv, dir } = await start({ FAIL_EVERY: '2' });
	try {
		for (let i = 0; i < 5; i++)
			await post(srv, binaryEvent());
		await post(srv, { headers: { 'ce-specversion': '1.0' }, body: '' });
		const text = await (await fetch(`${srv.url}/metrics`)).text();
		assert.equal(metricValue(text, 'filesink_deliveries_total', '{outcome="saved"}'), 3);
		assert.equal(metricValue(text, 'filesink_deliveries_total', '{outcome="error simulated"}'), 2);
		assert.equal(metricValue(text, 'filesink_deliveries_total', '{outcome="rejected"}'), 1);
		assert.equal(metricValue(text, 'filesink_log_bytes'),
			fs.statSync(path.join(dir, 'events.log')).size);
	} finally {
		await stopClean(srv);
	}
});

test('a failing write answers 500 io_error (events.log on /dev/full)', async (t) => {
	if (!fs.existsSync('/dev/full')) {
		t.skip('no /dev/full on this system');
		return;
	}
	const { srv } = await start({ FAILURE_RATE: '0' },
		(dir) => fs.symlinkSync('/dev/full', path.join(dir, 'events.log')));
	try {
		const r = await post(srv, binaryEvent());
		assert.equal(r.status, 500);
		assert.equal(JSON.parse(r.text).error, 'io_error');
	} finally {
		await stopClean(srv);
	}
});

const MALFORMED = MALFORMED_EVENTS;

test('at least 20 malformed requests each get a 4xx JSON answer, never a 5xx', async () => {
	const { srv, lines } = await start({ FAILURE_RATE: '1' });
	try {
		assert.ok(MALFORMED.length >= 20);
		for (const [name, headers, body] of MALFORMED) {
			const r = await post(srv, { headers: cleanHeaders(headers), body });
			assert.ok(r.status >= 400 && r.status < 500, `${name}: status ${r.status} ${r.text}`);
			const j = JSON.parse(r.text);
			assert.equal(typeof j.error, 'string', name);
			assert.equal(typeof j.message, 'string', name);
		}
		// Duplicate ce-id headers need raw bytes (fetch would join them).
		const raw = await rawRequest(srv.port, 'POST / HTTP/1.1\r\nHost: t\r\nce-specversion: 1.0\r\n' +
			'ce-id: 1\r\nce-id: 2\r\nce-source: /s\r\nce-type: t\r\nContent-Length: 0\r\n\r\n');
		assert.equal(raw.status, 400);
		// Over the 1 MiB cap: the answer comes from the headers alone, before the body
		// (a client still writing a big body may see the connection close: fetch would
		// report EPIPE instead of the answer, so this one goes over a raw socket).
		const big = await rawRequest(srv.port, 'POST / HTTP/1.1\r\nHost: t\r\nce-specversion: 1.0\r\n' +
			'ce-id: 1\r\nce-source: /s\r\nce-type: t\r\nContent-Type: application/json\r\n' +
			`Content-Length: ${2 * 1024 * 1024}\r\n\r\n{"a":`);
		assert.equal(big.status, 413);
		assert.equal(big.json().error, 'payload_too_large');
		const put = await fetch(`${srv.url}/`, { method: 'PUT', body: 'x' });
		assert.equal(put.status, 405);
		await put.text();
		assert.ok(lines().every((l) => l.outcome === 'rejected'));
		assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
	} finally {
		await stopClean(srv);
	}
});

function runExpectingExit(env) {
	return spawnSync(BIN(), [], {
		env: { ...process.env, PORT: '1', ...env }, encoding: 'utf8', timeout: 15000,
	});
}

test('configuration errors exit 2 with a clear message', () => {
	const dir = sinkDir('file-sink');
	const both = runExpectingExit({ DATA_DIR: dir, FAIL_EVERY: '3', FAILURE_RATE: '0.5' });
	assert.equal(both.status, 2);
	assert.match(both.stderr, /FAIL_EVERY and FAILURE_RATE/);
	const missing = runExpectingExit({ DATA_DIR: path.join(dir, 'nope') });
	assert.equal(missing.status, 2);
	assert.match(missing.stderr, /DATA_DIR: cannot open .*nope\/events.log.*No such file/);
	const rate = runExpectingExit({ DATA_DIR: dir, FAILURE_RATE: '1.5' });
	assert.equal(rate.status, 2);
	assert.match(rate.stderr, /FAILURE_RATE/);
	const fsync = runExpectingExit({ DATA_DIR: dir, FSYNC: 'sometimes' });
	assert.equal(fsync.status, 2);
	assert.match(fsync.stderr, /FSYNC/);
	assert.ok(!fs.existsSync(path.join(dir, 'nope')));
});

test('FSYNC=always and never also save and answer', async () => {
	for (const mode of ['always', 'never']) {
		const { srv, lines } = await start({ FAILURE_RATE: '0', FSYNC: mode });
		try {
			await Promise.all(Array.from({ length: 20 }, () => post(srv, binaryEvent())))
				.then((rs) => rs.forEach((r) => assert.equal(r.status, 200)));
			assert.equal(lines().length, 20, mode);
		} finally {
			await stopClean(srv);
		}
	}
});

// What file-sink saved must read back: otherwise the saved line is skipped, a redelivery after
// a restart is saved a second time, and GET /events leaves the event out.
// - Data may hold a NUL (a text body with a 0 byte): events.log writes it escaped as \u0000.
// - JSON data nested 2047 levels parses (jansson reads up to 2048), but the line around it
//   nests it two levels deeper: such data is written as data_base64 (the same bytes).
const READ_BACK_CASES = [
	['data that holds a NUL', { 'content-type': 'text/plain' }, 'a\u0000b'],
	['JSON data nested 2047 levels', {}, '['.repeat(2047) + ']'.repeat(2047)],
];
for (const [name, headers, body] of READ_BACK_CASES) {
	test(`an event with ${name} is remembered across a restart and listed by GET /events`, async () => {
		const ev = binaryEvent(headers);
		ev.body = body;
		const first = await start({ FAILURE_RATE: '0' });
		let srv = first.srv;
		const statuses = [];
		let listed;
		try {
			statuses.push((await post(srv, ev)).status);
			await stopClean(srv);
			({ srv } = await startSink('file-sink', { FAILURE_RATE: '0', DATA_DIR: first.dir }));
			statuses.push((await post(srv, ev)).status);
			listed = await (await fetch(`${srv.url}/events?limit=10`)).json();
		} finally {
			await stopClean(srv);
		}
		assert.deepEqual(statuses, [200, 200]);
		const log = first.lines().filter((l) => l.event.id === ev.id);
		assert.deepEqual(log.map((l) => l.outcome), ['saved', 'duplicate'], 'saved once, then a duplicate');
		const ids = (Array.isArray(listed) ? listed : listed.events).map((l) => l.event.id);
		assert.deepEqual(ids.filter((id) => id === ev.id).length, 2, 'both lines listed');
		const saved = log[0].event;
		const bytes = saved.data_base64 !== undefined ? Buffer.from(saved.data_base64, 'base64').toString() : saved.data;
		assert.equal(bytes, body, 'the data reads back as sent');
	});
}

// A full disk: DATA_DIR is a 256 KiB tmpfs, mounted in a mount namespace of file-sink's own
// (so root and unshare(1) are needed). New events get 500 once it is full (nothing saved: the
// broker retries), but a redelivery of an event already saved, or of a bad review already
// notified, is still 200: only its "duplicate" line is lost. It was 500, which Knative retries
// into the dead-letter sink: saved and dead-lettered both.
test('on a full disk a redelivery of a saved event or a notified bad review is still 200', async (t) => {
	if (process.getuid() !== 0 || !fs.existsSync('/usr/bin/unshare')) {
		t.skip('needs root and /usr/bin/unshare to mount a private tmpfs');
		return;
	}
	const dir = sinkDir('file-sink-full');
	const srv = await startServer('/usr/bin/unshare', {
		args: ['-m', 'sh', '-c', 'mount -t tmpfs -o size=256k bookstore-test "$DATA_DIR" && exec "$0"', BIN()],
		env: { DATA_DIR: dir, LOG_LEVEL: 'warn', FAILURE_RATE: '0' },
	});
	try {
		const saved = binaryEvent();
		assert.equal((await post(srv, saved)).status, 200);
		const badReview = (id, pad = '') => ({
			headers: { 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': 'sentiment-analysis',
				'ce-type': 'moderated-comment', 'content-type': 'application/json' },
			body: JSON.stringify({ reviewText: `awful${pad}` }),
		});
		const postBad = async (ev) => (await fetch(`${srv.url}/bad-reviews`, { method: 'POST', ...ev })).status;
		assert.equal(await postBad(badReview('bad-1')), 200);
		// Each log's last page has room too: both are filled until even a short line fails.
		const fill = async (send) => {
			for (const size of [8192, 1024, 64, 1]) {
				let st = 200;
				for (let i = 0; i < 200 && st === 200; i++) {
					st = await send('x'.repeat(size));
					assert.ok(st === 200 || st === 500, `a filler of ${size}: ${st}`);
				}
				assert.equal(st, 500, `fillers of ${size} bytes filled the disk`);
			}
		};
		await fill(async (pad) => {
			const filler = binaryEvent();
			filler.body = JSON.stringify({ pad });
			return (await post(srv, filler)).status;
		});
		let n = 0;
		await fill((pad) => postBad(badReview(`filler-${++n}`, pad)));
		assert.equal(await postBad(badReview('bad-1')), 200, 'the notified bad review, delivered again');
		assert.equal((await post(srv, saved)).status, 200, 'the saved event, delivered again');
		assert.match(srv.stderr(), /was saved before; its redelivery could not be recorded/);
		assert.match(srv.stderr(), /was notified before; its redelivery could not be recorded/);
	} finally {
		await stopClean(srv);
	}
});

// The dedupe set holds DEDUPE_KEYS keys, forced failures included. With fewer keys than
// forced failures, recording failure 2 evicts failure 1: the count goes on from the highest
// one remembered, so the event is saved after its forced failures instead of failing forever.
test('FAIL_FIRST=2 with DEDUPE_KEYS=1: two failures, then saved, not failing forever', async () => {
	const ev = binaryEvent();
	const { srv, lines } = await start({ FAILURE_RATE: '0', FAIL_FIRST: '2', DEDUPE_KEYS: '1' });
	const statuses = [];
	try {
		for (let i = 0; i < 5; i++)
			statuses.push((await post(srv, ev)).status);
	} finally {
		await stopClean(srv);
	}
	assert.deepEqual(statuses, [500, 500, 200, 200, 200], 'fail, fail, saved, then duplicates');
	assert.deepEqual(lines().map((l) => [l.outcome, l.failFirst]),
		[['error simulated', 1], ['error simulated', 2], ['saved', undefined], ['duplicate', undefined], ['duplicate', undefined]]);
});

// events.log keeps a decimal in JSON data as written (jansson alone writes 0.1 with 17 digits).
test('events.log keeps the decimals of JSON data as written', async () => {
	const ev = binaryEvent();
	ev.body = '{"price":0.1,"stars":4.5,"ratio":0.30000000000000004}';
	const { srv, dir } = await start({ FAILURE_RATE: '0' });
	try {
		assert.equal((await post(srv, ev)).status, 200);
	} finally {
		await stopClean(srv);
	}
	const text = fs.readFileSync(path.join(dir, 'events.log'), 'utf8');
	assert.ok(text.includes(`"data":${ev.body}`), text);
});
