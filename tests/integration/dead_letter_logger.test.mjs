// dead-letter-logger end to end: the real binary over real HTTP. Dead letters in binary and
// structured mode recorded with the decoded knativeerror* attributes (UTF-8 text, binary,
// Knative's 1024-character cut, bad code, missing attributes, invalid base64), the WARN log
// record and the metric, GET /events, a failing disk, malformed requests and a clean SIGTERM.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSink, postTo, sinkDir, removeSinkDirs } from './lib/sinkproc.mjs';
import { CE, SJ, ev, MALFORMED_EVENTS, cleanHeaders } from './lib/malformed.mjs';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { binPath, stopClean, waitFor, assertClean } from './lib/proc.mjs';
import net from 'node:net';
import { rawRequest } from './lib/rawhttp.mjs';

const require = createRequire(import.meta.url);
const { CloudEvent, HTTP } = require('cloudevents');

const BIN = () => binPath('dead-letter-logger');
after(removeSinkDirs);

// dead-letter-logger on a fresh DATA_DIR (lib/sinkproc.mjs); returns { srv, dir, lines() }.
const start = (env = {}, prepare) => startSink('dead-letter-logger', { LOG_LEVEL: 'info', ...env }, prepare);

const post = postTo;

const b64 = (x) => Buffer.from(x).toString('base64');
const DEST = 'http://book-review-sink.default.svc.cluster.local/';
let seq = 0;

// A binary-mode dead letter; errors: { dest, code, data } (undefined = header left out).
function deadLetter(errors) {
	const id = `dl-${++seq}`;
	const headers = {
		'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/bookstore', 'ce-type': 'review.created',
		'ce-knativebrokerttl': '255', 'content-type': 'application/json',
	};
	if (errors.dest !== undefined)
		headers['ce-knativeerrordest'] = errors.dest;
	if (errors.code !== undefined)
		headers['ce-knativeerrorcode'] = errors.code;
	if (errors.data !== undefined)
		headers['ce-knativeerrordata'] = errors.data;
	return { id, headers, body: '{"review":"bad"}' };
}

function stderrRecords(srv) {
	return srv.stderr().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

test('a binary dead letter is recorded with decoded error attributes and 200 empty', async () => {
	const { srv, lines } = await start();
	try {
		const dl = deadLetter({ dest: DEST, code: '500', data: b64('destination-response') });
		const r = await post(srv, dl);
		assert.equal(r.status, 200);
		assert.equal(r.text, '');
		const [rec] = lines();
		assert.match(rec.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
		assert.deepEqual(rec.error, {
			destination: DEST, code: 500, response: 'destination-response',
			response_encoding: 'text',
		});
		assert.deepEqual(rec.event, {
			specversion: '1.0', id: dl.id, source: '/bookstore', type: 'review.created',
			knativebrokerttl: '255', datacontenttype: 'application/json', data: { review: 'bad' },
		});
		const warn = stderrRecords(srv).find((x) => x.level === 'warn' && x.event_id === dl.id);
		assert.ok(warn, 'one WARN record per dead letter');
		assert.equal(warn.event_type, 'review.created');
		assert.equal(warn.destination, DEST);
		assert.equal(warn.code, 500);
	} finally {
		await stopClean(srv);
	}
});

test('a structured dead letter with an Integer code (cloudevents SDK)', async () => {
	const { srv, lines } = await start();
	try {
		const ce = new CloudEvent({
			id: 'structured-dl', source: 'urn:s', type: 't', data: { a: 1 },
			knativeerrordest: DEST, knativeerrorcode: 404, knativeerrordata: b64('not found'),
			otherext: 'kept',
		});
		const r = await post(srv, HTTP.structured(ce));
		assert.equal(r.status, 200);
		const [rec] = lines();
		assert.deepEqual(rec.error, {
			destination: DEST, code: 404, response: 'not found', response_encoding: 'text',
		});
		assert.equal(rec.event.otherext, 'kept');
		assert.equal(rec.event.knativeerrorcode, undefined);
		assert.equal(rec.event.knativeerrordest, undefined);
		assert.equal(rec.event.knativeerrordata, undefined);
		assert.deepEqual(rec.event.data, { a: 1 });
	} finally {
		await stopClean(srv);
	}
});

test('knativeerrordata: UTF-8 text, binary kept as base64, 1024-char cut, invalid base64', async () => {
	const { srv, lines } = await start();
	try {
		const binary = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x81]);
		const longText = `${'é'.repeat(400)}${'x'.repeat(600)}`; // 1400 bytes; 1024 chars = 768 bytes = 384 whole 'é'
		const cutInsideChar = `${'a'.repeat(767)}€ tail`; // 1024 base64 chars end inside '€'
		const rows = [
			{ data: b64('{"error":"db down"}'), want: { response: '{"error":"db down"}', response_encoding: 'text' } },
			{ data: b64('Grüße, 世界'), want: { response: 'Grüße, 世界', response_encoding: 'text' } },
			{ data: binary.toString('base64'), want: { response: binary.toString('base64'), response_encoding: 'base64' } },
			{
				data: b64(longText).slice(0, 1024),
				want: { response: Buffer.from(b64(longText).slice(0, 1024), 'base64').toString('utf8'), response_encoding: 'text' },
			},
			{
				data: b64(cutInsideChar).slice(0, 1024),
				want: { response: 'a'.repeat(767), response_encoding: 'text', response_truncated: true },
			},
			{ data: 'this is not base64!', want: { response: 'this is not base64!', response_encoding: 'raw' } },
			{ data: '', want: { response: '', response_encoding: 'text' } },
		];
		for (const row of rows) {
			const r = await post(srv, deadLetter({ dest: DEST, code: '502', data: row.data }));
			assert.equal(r.status, 200, r.text);
		}
		const got = lines().map((l) => l.error);
		assert.equal(got.length, rows.length);
		rows.forEach((row, i) => assert.deepEqual(got[i], { destination: DEST, code: 502, ...row.want },
			`row ${i}`));
	} finally {
		await stopClean(srv);
	}
});

test('bad or missing error attributes are tolerated: null members, 200, logged', async () => {
	const { srv, lines } = await start();
	try {
		const bad = deadLetter({ dest: DEST, code: 'five hundred', data: b64('x') });
		const none = deadLetter({});
		assert.equal((await post(srv, bad)).status, 200);
		assert.equal((await post(srv, none)).status, 200);
		const [a, b] = lines();
		assert.equal(a.error.code, null);
		assert.equal(a.error.destination, DEST);
		assert.deepEqual(b.error, { destination: null, code: null, response: null, response_encoding: null });
		const recs = stderrRecords(srv);
		assert.ok(recs.some((x) => x.event_id === bad.id && /not an integer/.test(x.message)),
			'the bad code is logged');
		assert.ok(recs.some((x) => x.event_id === none.id && /missing knativeerrordest/.test(x.message)),
			'the missing attributes are logged');
	} finally {
		await stopClean(srv);
	}
});

test('dead_letters_total counts by destination and code; /events newest first', async () => {
	const { srv } = await start();
	try {
		const ids = [];
		for (const [dest, code] of [[DEST, '500'], [DEST, '500'], [DEST, '404'], ['http://other/', '500']]) {
			const dl = deadLetter({ dest, code, data: b64('x') });
			ids.push(dl.id);
			assert.equal((await post(srv, dl)).status, 200);
		}
		const none = deadLetter({});
		ids.push(none.id);
		await post(srv, none);
		const text = await (await fetch(`${srv.url}/metrics`)).text();
		const value = (labels) => {
			const line = text.split('\n').find((l) => l.startsWith(`dead_letters_total${labels} `));
			assert.ok(line, `dead_letters_total${labels} missing:\n${text}`);
			return Number(line.split(' ').at(-1));
		};
		assert.equal(value(`{destination="${DEST}",code="500"}`), 2);
		assert.equal(value(`{destination="${DEST}",code="404"}`), 1);
		assert.equal(value('{destination="http://other/",code="500"}'), 1);
		assert.equal(value('{destination="unknown",code="unknown"}'), 1);
		const all = await (await fetch(`${srv.url}/events`)).json();
		assert.deepEqual(all.map((l) => l.event.id), ids.slice().reverse());
		const two = await (await fetch(`${srv.url}/events?limit=2`)).json();
		assert.deepEqual(two.map((l) => l.event.id), [ids[4], ids[3]]);
		for (const bad of ['0', '1001', 'x', '']) {
			const res = await fetch(`${srv.url}/events?limit=${bad}`);
			assert.equal(res.status, 400, `limit=${bad}`);
			assert.equal((await res.json()).error, 'bad_request');
		}
	} finally {
		await stopClean(srv);
	}
});

test('a failing write answers 500 so the broker retries (events.log on /dev/full)', async (t) => {
	if (!fs.existsSync('/dev/full')) {
		t.skip('no /dev/full on this system');
		return;
	}
	const { srv } = await start({}, (dir) => fs.symlinkSync('/dev/full', path.join(dir, 'events.log')));
	try {
		const r = await post(srv, deadLetter({ dest: DEST, code: '500', data: b64('x') }));
		assert.equal(r.status, 500);
		assert.equal(JSON.parse(r.text).error, 'io_error');
	} finally {
		await stopClean(srv);
	}
});

// The shared malformed events, plus what is special to dead letters.
const MALFORMED = [
	...MALFORMED_EVENTS,
	['overlong UTF-8 in ce-knativeerrordest', { ...CE, 'ce-knativeerrordest': '%C0%AF' }, ''],
	['structured: knativeerrorcode is an object', SJ, ev({ knativeerrorcode: { a: 1 } })],
	['structured: upper-case extension name', SJ, ev({ KnativeErrorCode: 500 })],
	['structured +avro', { 'content-type': 'application/cloudevents+avro' }, 'x'],
	['batch that is an object', { 'content-type': 'application/cloudevents-batch+json' }, ev({})],
];

test('at least 20 malformed requests each get a 4xx JSON answer, never a 5xx', async () => {
	const { srv, dir } = await start({ LOG_LEVEL: 'error' });
	try {
		assert.ok(MALFORMED.length >= 20);
		for (const [name, headers, body] of MALFORMED) {
			const r = await post(srv, { headers: cleanHeaders(headers), body });
			assert.ok(r.status >= 400 && r.status < 500, `${name}: status ${r.status} ${r.text}`);
			const j = JSON.parse(r.text);
			assert.equal(typeof j.error, 'string', name);
			assert.equal(typeof j.message, 'string', name);
		}
		const raw = await rawRequest(srv.port, 'POST / HTTP/1.1\r\nHost: t\r\nce-specversion: 1.0\r\n' +
			'ce-id: 1\r\nce-source: /s\r\nce-source: /t\r\nce-type: t\r\nContent-Length: 0\r\n\r\n');
		assert.equal(raw.status, 400);
		assert.equal(fs.readFileSync(path.join(dir, 'events.log'), 'utf8'), '', 'nothing recorded');
		assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
	} finally {
		await stopClean(srv);
	}
});

test('a missing DATA_DIR exits 2 with a clear message', () => {
	const dir = sinkDir('dead-letter-logger');
	const r = spawnSync(BIN(), [], {
		env: { ...process.env, PORT: '1', DATA_DIR: path.join(dir, 'missing') },
		encoding: 'utf8', timeout: 15000,
	});
	assert.equal(r.status, 2);
	assert.match(r.stderr, /DATA_DIR: cannot open .*missing\/events.log/);
});

test('SIGTERM with deliveries in flight: the one in flight completes, exit 0, every letter answered 200 is on disk', async () => {
	const { srv, lines } = await start({ LOG_LEVEL: 'info' });
	// One delivery held in flight: headers and half its body sent, the rest after the SIGTERM.
	const held = deadLetter({ dest: DEST, code: '500', data: b64('held') });
	const sock = net.connect(srv.port, '127.0.0.1');
	let reply = '';
	sock.on('data', (d) => { reply += d; });
	const closed = new Promise((resolve) => sock.on('close', resolve));
	await new Promise((resolve) => sock.once('connect', resolve));
	const head = Object.entries({ ...held.headers, 'content-length': String(held.body.length), host: 'x' })
		.map(([k, v]) => `${k}: ${v}`).join('\r\n');
	sock.write(`POST / HTTP/1.1\r\n${head}\r\nconnection: close\r\n\r\n${held.body.slice(0, 5)}`);
	// the server counts it as active (besides the /metrics request itself)
	await waitFor(async () => {
		const text = await (await fetch(`${srv.url}/metrics`)).text();
		const m = /^http_server_active_requests (\S+)$/m.exec(text);
		assert.ok(m, 'http_server_active_requests sample');
		return Number(m[1]) >= 2;
	}, { what: 'the held delivery in flight' });
	// 40 more deliveries race the signal: each is answered 200 (then on disk) or refused
	const answered = [];
	const sends = Array.from({ length: 40 }, async () => {
		const dl = deadLetter({ dest: DEST, code: '500', data: b64('x') });
		const r = await post(srv, dl).catch(() => null);
		if (r && r.status === 200)
			answered.push(dl.id);
	});
	const stopping = srv.stop();
	sock.end(held.body.slice(5));
	await closed;
	await Promise.all(sends);
	const r = await stopping;
	assert.equal(r.code, 0, `exit status ${r.code}\n${r.stderr.slice(-3000)}`);
	assertClean(r.stderr);
	assert.match(r.stderr, /stopping, [1-9]\d* requests in flight/, 'SIGTERM came with a request in flight');
	assert.match(reply, /^HTTP\/1\.1 200 /, `the held delivery's answer: ${reply.slice(0, 200)}`);
	const ids = new Set(lines().map((l) => l.event.id));
	assert.ok(ids.has(held.id), 'the held delivery is on disk');
	for (const id of answered)
		assert.ok(ids.has(id), `${id} answered 200 but not in events.log`);
});

test('a redelivered dead letter (same source, id, destination) is recorded once, also across a restart; another destination is its own', async () => {
	const { srv, dir, lines } = await start();
	const dl = deadLetter({ dest: DEST, code: '500', data: b64('first') });
	const other = { ...dl, headers: { ...dl.headers, 'ce-knativeerrordest': 'http://node-server/insert' } };
	let events;
	try {
		assert.equal((await post(srv, dl)).status, 200);
		const again = await post(srv, dl);
		assert.equal(again.status, 200, 'the redelivery is answered 200, so the broker stops');
		assert.equal(again.text, '');
		assert.equal(lines().length, 1, 'one line for the dead letter delivered twice');
		assert.ok(stderrRecords(srv).some((x) => x.level === 'info' && x.event_id === dl.id &&
			/recorded before/.test(x.msg ?? x.message ?? JSON.stringify(x))), 'the repeat is logged at INFO');
		assert.equal((await post(srv, other)).status, 200);
		assert.equal(lines().length, 2, 'the same event dead-lettered at another destination is a second dead letter');
		events = fs.readFileSync(path.join(dir, 'events.log'));
	} finally {
		await stopClean(srv);
	}
	// A restart on the same events.log (as after a kill) remembers both.
	const second = await start({}, (d) => fs.writeFileSync(path.join(d, 'events.log'), events));
	try {
		assert.equal((await post(second.srv, dl)).status, 200);
		assert.equal((await post(second.srv, other)).status, 200);
		assert.equal(second.lines().length, 2, 'no new line after the restart');
	} finally {
		await stopClean(second.srv);
	}
});
