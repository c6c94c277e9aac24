// The common HTTP layer end to end, through tests/tools/testserver: routing, errors, body
// caps, built-in routes, CORS, suspend/resume under concurrency, graceful SIGTERM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, binPath, assertClean, waitFor } from './lib/proc.mjs';
import { rawRequest } from './lib/rawhttp.mjs';

const BIN = () => binPath('tests/tools/testserver');
let srv;

before(async () => {
	srv = await startServer(BIN(), { env: { LOG_LEVEL: 'warn', TESTSERVER_THREADS: '2' } });
});
after(async () => {
	if (srv)
		await srv.stop().catch(() => {});
});

async function get(path, init) {
	const res = await fetch(srv.url + path, init);
	const text = await res.text();
	return { res, text, json: () => JSON.parse(text) };
}

function assertJsonError(r, status, code) {
	assert.equal(r.res.status, status);
	assert.match(r.res.headers.get('content-type'), /^application\/json/);
	const body = r.json();
	assert.equal(body.error, code);
	assert.equal(typeof body.message, 'string');
}

test('unknown path: 404 with the JSON error body', async () => {
	assertJsonError(await get('/does/not/exist'), 404, 'not_found');
	assertJsonError(await get('/items/'), 404, 'not_found');
	assertJsonError(await get('/items/1/'), 404, 'not_found');
});

test('wrong method: 405 with Allow listing the route methods', async () => {
	const r = await get('/items/1', { method: 'POST', body: 'x' });
	assertJsonError(r, 405, 'method_not_allowed');
	assert.equal(r.res.headers.get('allow'), 'GET, HEAD');
	const j = await get('/json', { method: 'GET' });
	assertJsonError(j, 405, 'method_not_allowed');
	assert.equal(j.res.headers.get('allow'), 'POST');
});

test('HEAD answers like GET without a body', async () => {
	const r = await rawRequest(srv.port, 'HEAD /items/abc HTTP/1.1\r\nHost: t\r\n\r\n', { head: true });
	assert.equal(r.status, 200);
	assert.match(r.headers['content-type'], /application\/json/);
	const g = await get('/items/abc');
	assert.equal(Number(r.headers['content-length']), Buffer.byteLength(g.text));
	assert.equal(r.body.length, 0);
	// nothing after the headers: the next request on the same connection would follow
	const end = r.raw.indexOf('\r\n\r\n');
	assert.equal(r.raw.length, end + 4);
});

test('path parameters are decoded; query strings are read', async () => {
	const cases = [
		['/items/42', '42'],
		['/items/a%20b', 'a b'],
		['/items/a%2Fb', 'a/b'],
		['/items/%C3%A9', 'é'],
	];
	for (const [path, id] of cases) {
		const r = await get(path + '?q=x%26y');
		assert.equal(r.res.status, 200, path);
		assert.deepEqual(r.json(), { id, route: '/items/{id}', q: 'x&y' });
		assert.equal(r.res.headers.get('x-item'), 'yes');
	}
});

test('JSON route: echo, 415 on wrong Content-Type, 400 invalid_json', async () => {
	const ok = await get('/json', { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body: '{"a":[1,2]}' });
	assert.equal(ok.res.status, 200);
	assert.deepEqual(ok.json(), { echo: { a: [1, 2] } });
	const ce = await get('/json', { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: '{}' });
	assert.equal(ce.res.status, 200);
	assertJsonError(await get('/json', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }), 415, 'unsupported_media_type');
	assertJsonError(await get('/json', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":' }), 400, 'invalid_json');
});

test('413: by Content-Length before the body, and for chunked bodies at the cap', async () => {
	const ok = await get('/small', { method: 'POST', body: 'x'.repeat(16) });
	assert.equal(ok.res.status, 200);
	assert.deepEqual(ok.json(), { bytes: 16 });
	assertJsonError(await get('/small', { method: 'POST', body: 'x'.repeat(17) }), 413, 'payload_too_large');
	// the default cap (1 MiB) applies to routes without their own
	// (over a raw socket sending the headers only: a client still writing an oversized body
	// may see the connection close before it reads the early answer)
	const big = await rawRequest(srv.port, 'POST /json HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n' +
		`Content-Length: ${1024 * 1024 + 1}\r\n\r\n `);
	assert.equal(big.status, 413);
	assert.equal(big.json().error, 'payload_too_large');
	const chunks = ['POST /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n'];
	for (let i = 0; i < 4; i++)
		chunks.push(`8\r\n${'abcdefgh'}\r\n`);
	chunks.push('0\r\n\r\n');
	const r = await rawRequest(srv.port, chunks, { gapMs: 10 });
	assert.equal(r.status, 413);
	assert.equal(JSON.parse(r.text).error, 'payload_too_large');
	const small = await rawRequest(srv.port, ['POST /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n', '4\r\nabcd\r\n', '0\r\n\r\n']);
	assert.equal(small.status, 200);
	assert.deepEqual(JSON.parse(small.text), { bytes: 4 });
});

test('built-in routes: healthz, readyz, metrics with their content types', async () => {
	const h = await get('/healthz');
	assert.equal(h.res.status, 200);
	assert.match(h.res.headers.get('content-type'), /^application\/json/);
	assert.deepEqual(h.json(), { status: 'ok' });
	const r = await get('/readyz');
	assert.equal(r.res.status, 200);
	assert.deepEqual(r.json(), { status: 'ready' });
	const m = await get('/metrics');
	assert.equal(m.res.status, 200);
	assert.equal(m.res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
	assert.match(m.text, /^# TYPE http_server_request_duration_seconds histogram$/m);
	assert.match(m.text, /^# TYPE http_server_active_requests gauge$/m);
	assert.match(m.text, /^process_start_time_seconds /m);
});

test('readyz: 503 naming what is not ready', async () => {
	const s = await startServer(BIN(), { env: { LOG_LEVEL: 'warn', TESTSERVER_READY: 'false' } });
	try {
		const res = await fetch(`${s.url}/readyz`);
		assert.equal(res.status, 503);
		const body = await res.json();
		assert.equal(body.status, 'not_ready');
		assert.match(body.reason, /TESTSERVER_READY/);
	} finally {
		const { code, stderr } = await s.stop();
		assert.equal(code, 0);
		assertClean(stderr);
	}
});

test('errors map through err.h, with Retry-After on 503', async () => {
	const r = await get('/fail?code=13');
	assertJsonError(r, 503, 'unavailable');
	assert.equal(r.res.headers.get('retry-after'), '1');
	const c = await get('/fail?code=7');
	assertJsonError(c, 409, 'conflict');
	assert.equal(c.res.headers.get('retry-after'), null);
});

test('request headers: all of them, in order, duplicates included', async () => {
	const raw = 'GET /headers HTTP/1.1\r\nHost: t\r\nX-Dup: one\r\nX-Other: o\r\nx-dup: two\r\n\r\n';
	const r = await rawRequest(srv.port, raw);
	assert.equal(r.status, 200);
	const body = JSON.parse(r.text);
	assert.deepEqual(body.headers, [
		{ name: 'Host', value: 't' },
		{ name: 'X-Dup', value: 'one' },
		{ name: 'X-Other', value: 'o' },
		{ name: 'x-dup', value: 'two' },
	]);
	assert.equal(body.x_dup, 2);
});

test('CORS: preflight on a known path, Allow-Origin on every answer', async () => {
	const r = await get('/items/1', {
		method: 'OPTIONS',
		headers: { origin: 'http://ui', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type,x-custom' },
	});
	assert.equal(r.res.status, 204);
	assert.equal(r.res.headers.get('access-control-allow-origin'), '*');
	assert.equal(r.res.headers.get('access-control-allow-methods'), 'GET,HEAD,PUT,PATCH,POST,DELETE');
	assert.equal(r.res.headers.get('access-control-allow-headers'), 'content-type,x-custom');
	assert.equal(r.text, '');
	const unknown = await get('/nope', { method: 'OPTIONS' });
	assertJsonError(unknown, 404, 'not_found');
	for (const path of ['/healthz', '/items/2', '/nope'])
		assert.equal((await get(path)).res.headers.get('access-control-allow-origin'), '*', path);
});

test('50 concurrent slow requests overlap (suspend/resume frees the threads)', async () => {
	// 2 server threads: a request that held its thread while parked would let at most 2 be
	// in flight at once. The server's own gauge shows all 50 parked together (each one
	// parked for 5 s, far longer than 50 requests take to arrive).
	const all = Promise.all(Array.from({ length: 50 }, () => get('/slow?ms=5000')));
	await waitFor(async () => (await inFlight(srv.url)) >= 50, { what: '50 requests in flight at once' });
	for (const r of await all) {
		assert.equal(r.res.status, 200);
		assert.deepEqual(r.json(), { slow: true });
	}
});

test('upgrade: 101, then the handler owns the raw socket', async () => {
	const r = await rawRequest(srv.port, 'GET /upgrade HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n', { untilClose: true });
	assert.equal(r.timedOut, false);
	assert.equal(r.status, 101);
	assert.equal(r.headers.upgrade, 'test');
	assert.match(r.headers.connection, /upgrade/i);
	const raw = r.raw.toString('latin1');
	assert.equal(raw.slice(raw.indexOf('\r\n\r\n') + 4), 'upgraded\n');
});

// libmicrohttpd refuses to queue a 101 on an HTTP/1.0 connection and closes it. The layer then
// frees the upgrade context (it leaked one per request, LeakSanitizer at exit) and records no
// status (the access log and the duration metric said 101).
test('upgrade over HTTP/1.0: closed without an answer, recorded as such, nothing leaked', async () => {
	const s = await startServer(BIN(), { env: { LOG_LEVEL: 'info' } });
	let stopped = false;
	try {
		for (let i = 0; i < 50; i++) {
			const r = await rawRequest(s.port, 'GET /upgrade HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n', { untilClose: true });
			assert.equal(r.timedOut, false);
			assert.equal(r.raw.length, 0, `#${i}: ${r.raw.toString('latin1')}`);
		}
		const text = await (await fetch(`${s.url}/metrics`)).text();
		assert.doesNotMatch(text, /route="\/upgrade",status_code="101"/);
		const { code, stderr } = await s.stop();
		stopped = true;
		assert.equal(code, 0);
		assertClean(stderr);
		const logged = stderr.split('\n').filter((l) => l.includes('"message":"request"') && l.includes('"route":"/upgrade"'));
		assert.equal(logged.length, 50);
		for (const l of logged)
			assert.equal(JSON.parse(l).status, 0, l);
	} finally {
		if (!stopped)
			await s.stop().catch(() => {});
	}
});

test('a client that leaves while its request is parked does not break the server', async () => {
	for (let i = 0; i < 5; i++) {
		const r = await rawRequest(srv.port, 'GET /slow?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n', { timeoutMs: 50 });
		assert.equal(r.timedOut, true);
	}
	await waitFor(async () => (await inFlight(srv.url)) === 0, { timeoutMs: 5000, what: 'the parked requests to finish' });
	assert.equal((await get('/healthz')).res.status, 200);
});

// Requests in flight per the server's own gauge (the /metrics request counts itself).
async function inFlight(url) {
	const text = await (await fetch(`${url}/metrics`)).text();
	const m = /^http_server_active_requests (\S+)$/m.exec(text);
	assert.ok(m, `no http_server_active_requests sample in:\n${text}`);
	return Number(m[1]) - 1; // less the /metrics request itself
}

test('SIGTERM with requests in flight: they complete, exit 0, no sanitizer report', async () => {
	const s = await startServer(BIN(), { env: { LOG_LEVEL: 'info', TESTSERVER_GRACE_MS: '5000' } });
	const pending = Array.from({ length: 5 }, () =>
		fetch(`${s.url}/slow?ms=700`).then(async (res) => ({ status: res.status, body: await res.json() })));
	await waitFor(async () => (await inFlight(s.url)) >= 5, { timeoutMs: 5000, what: '5 requests in flight' });
	const { code, signal, stderr } = await s.stop();
	const results = await Promise.all(pending);
	for (const r of results) {
		assert.equal(r.status, 200);
		assert.deepEqual(r.body, { slow: true });
	}
	assert.equal(signal, null);
	assert.equal(code, 0);
	assertClean(stderr);
	assert.match(stderr, /"message":"request".*"route":"\/slow"/);
});

test('SIGTERM past the grace: parked requests get 503 unavailable, exit 0', async () => {
	const s = await startServer(BIN(), { env: { LOG_LEVEL: 'warn', TESTSERVER_GRACE_MS: '200' } });
	const pending = fetch(`${s.url}/slow?ms=20000`).then(async (res) => ({ status: res.status, retry: res.headers.get('retry-after'), body: await res.json() }));
	await waitFor(async () => (await inFlight(s.url)) >= 1, { timeoutMs: 5000, what: 'a parked request' });
	const { code, stderr } = await s.stop();
	const r = await pending;
	// A 200 would mean the stop waited the 20 s out; the 503 shows it cut the wait at the grace.
	assert.equal(r.status, 503);
	assert.equal(r.body.error, 'unavailable');
	assert.equal(r.retry, '1');
	assert.equal(code, 0);
	assertClean(stderr);
});

test('the shared server exits 0 on SIGTERM with a clean report', async () => {
	const { code, stderr } = await srv.stop();
	srv = null;
	assert.equal(code, 0);
	assertClean(stderr);
});
