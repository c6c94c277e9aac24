// Malformed HTTP over raw sockets against tests/tools/testserver: every case gets a 4xx (JSON
// from our layer where it answers, HTML from microhttpd's own parser otherwise), the server
// keeps serving, and it exits 0 on SIGTERM without a sanitizer report.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, binPath, assertClean } from './lib/proc.mjs';
import { rawRequest } from './lib/rawhttp.mjs';

const H = 'Host: t\r\n';
const J = 'Content-Type: application/json\r\n';
const big = 'a'.repeat(100000);
const bytes = (...parts) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

// [name, request, expected status, answered by our layer (JSON body expected), error code]
const cases = [
	['method with a delimiter', `G@T /healthz HTTP/1.1\r\n${H}\r\n`, 400, true, 'bad_request'],
	['unknown method', `BREW /healthz HTTP/1.1\r\n${H}\r\n`, 405, true, 'method_not_allowed'],
	['lowercase method', `get /healthz HTTP/1.1\r\n${H}\r\n`, 405, true, 'method_not_allowed'],
	['request line without version', `GET /healthz\r\n${H}\r\n`, 400, false],
	['garbage protocol name', `GET /healthz FOO/1.1\r\n${H}\r\n`, 400, false],
	['HTTP/1.1 without Host', 'GET /healthz HTTP/1.1\r\n\r\n', 400, true, 'bad_request'],
	['two Host headers', `GET /healthz HTTP/1.1\r\n${H}${H}\r\n`, 400, true, 'bad_request'],
	['absolute-form target of a scheme not http', `GET ftp://t/healthz HTTP/1.1\r\n${H}\r\n`, 400, true, 'bad_request'],
	['asterisk target on GET', `GET * HTTP/1.1\r\n${H}\r\n`, 400, true, 'bad_request'],
	['bad percent-encoding', `GET /items/%zz HTTP/1.1\r\n${H}\r\n`, 400, true, 'bad_request'],
	['truncated percent-encoding', `GET /items/ab%4 HTTP/1.1\r\n${H}\r\n`, 400, true, 'bad_request'],
	['encoded NUL in the path', `GET /items/a%00b HTTP/1.1\r\n${H}\r\n`, 400, true, 'bad_request'],
	['unknown path', `GET /no/such/thing HTTP/1.1\r\n${H}\r\n`, 404, true, 'not_found'],
	['control byte in a header value', `GET /headers HTTP/1.1\r\n${H}X-A: a\x01b\r\n\r\n`, 400, true, 'bad_request'],
	['DEL in a header value', `GET /headers HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n`, 400, true, 'bad_request'],
	['invalid UTF-8 in a header value', bytes(`GET /headers HTTP/1.1\r\n${H}X-U: `, [0xff, 0xfe, 0xc3], '\r\n\r\n'), 400, true, 'bad_request'],
	['overlong UTF-8 in a header value', bytes(`GET /headers HTTP/1.1\r\n${H}X-U: `, [0xc0, 0xaf], '\r\n\r\n'), 400, true, 'bad_request'],
	['header line without a colon', `GET /headers HTTP/1.1\r\n${H}NoColon\r\n\r\n`, 400, false],
	['space before the colon', `GET /headers HTTP/1.1\r\n${H}X-A : a\r\n\r\n`, 400, true, 'bad_request'],
	['header name with a slash', `GET /headers HTTP/1.1\r\n${H}X/A: a\r\n\r\n`, 400, true, 'bad_request'],
	['huge header', `GET /headers HTTP/1.1\r\n${H}X-Big: ${big}\r\n\r\n`, 431, false],
	['huge request target', `GET /items/${big} HTTP/1.1\r\n${H}\r\n`, 414, false],
	['non-numeric Content-Length', `POST /json HTTP/1.1\r\n${H}${J}Content-Length: abc\r\n\r\n{}`, 400, false],
	['negative Content-Length', `POST /json HTTP/1.1\r\n${H}${J}Content-Length: -5\r\n\r\n{}`, 400, false],
	['two Content-Lengths', `POST /json HTTP/1.1\r\n${H}${J}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}`, 400, true, 'bad_request'],
	['Content-Length overflowing 64 bits', `POST /json HTTP/1.1\r\n${H}${J}Content-Length: 99999999999999999999999\r\n\r\n{}`, 413, false],
	['Content-Length over the cap', `POST /json HTTP/1.1\r\n${H}${J}Content-Length: 2000000\r\n\r\n{}`, 413, true, 'payload_too_large'],
	['body over a route cap', `POST /small HTTP/1.1\r\n${H}Content-Length: 17\r\n\r\n${'x'.repeat(17)}`, 413, true, 'payload_too_large'],
	['chunked body over a route cap', `POST /small HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n10\r\n${'x'.repeat(16)}\r\n10\r\n${'y'.repeat(16)}\r\n0\r\n\r\n`, 413, true, 'payload_too_large'],
	['bad chunk size', `POST /json HTTP/1.1\r\n${H}${J}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`, 400, false],
	['Transfer-Encoding with Content-Length', `POST /json HTTP/1.1\r\n${H}${J}Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n`, 400, true, 'bad_request'],
	// RFC 9112 §6.1: faulty framing
	['Transfer-Encoding in HTTP/1.0', `POST /json HTTP/1.0\r\n${J}Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`, 400, true, 'bad_request'],
	['unsupported Transfer-Encoding', `POST /json HTTP/1.1\r\n${H}${J}Transfer-Encoding: gzip\r\n\r\n{}`, 400, true, 'bad_request'],
	['wrong Content-Type', `POST /json HTTP/1.1\r\n${H}Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}`, 415, true, 'unsupported_media_type'],
	['missing Content-Type', `POST /json HTTP/1.1\r\n${H}Content-Length: 2\r\n\r\n{}`, 415, true, 'unsupported_media_type'],
	['broken JSON', `POST /json HTTP/1.1\r\n${H}${J}Content-Length: 5\r\n\r\n{"a":`, 400, true, 'invalid_json'],
	['invalid UTF-8 in JSON', bytes(`POST /json HTTP/1.1\r\n${H}${J}Content-Length: 9\r\n\r\n{"a":"`, [0xff], '"}'), 400, true, 'invalid_json'],
	['empty JSON body', `POST /json HTTP/1.1\r\n${H}${J}Content-Length: 0\r\n\r\n`, 400, true, 'invalid_json'],
	['method not allowed on a route', `DELETE /items/1 HTTP/1.1\r\n${H}\r\n`, 405, true, 'method_not_allowed'],
	['bad query value', `GET /slow?ms=abc HTTP/1.1\r\n${H}\r\n`, 400, true, 'validation_failed'],
	// a decoded %00 would cut the value short: "1%00junk" read as "1"
	['encoded NUL in a query value', `GET /slow?ms=1%00junk HTTP/1.1\r\n${H}\r\n`, 400, true, 'bad_request'],
	['encoded NUL in a query name', `GET /slow?m%00s=1 HTTP/1.1\r\n${H}\r\n`, 400, true, 'bad_request'],
];

let srv;
before(async () => {
	// a short idle timeout: microhttpd does not always notice a client's half-close at once,
	// so truncated requests end by the timeout at the latest
	srv = await startServer(binPath('tests/tools/testserver'), { env: { LOG_LEVEL: 'warn', TESTSERVER_TIMEOUT_S: '2' } });
});
after(async () => {
	if (srv)
		await srv.stop().catch(() => {});
});

// The table's size checks the test itself, not the server: a precondition, not a counted test.
assert.ok(cases.length >= 25, `at least 25 malformed requests (${cases.length})`);

for (const [name, data, status, ours, code] of cases) {
	test(`malformed: ${name} -> ${status}`, async () => {
		const r = await rawRequest(srv.port, data, { timeoutMs: 5000 });
		assert.equal(r.timedOut, false, 'the server answered in time');
		assert.equal(r.status, status, `status (got: ${String(r.raw).slice(0, 200)})`);
		if (ours) {
			assert.match(r.headers['content-type'], /^application\/json/);
			const body = r.json();
			assert.equal(body.error, code);
			assert.equal(typeof body.message, 'string');
			assert.ok(body.message.length > 0);
		}
		if (status === 405)
			assert.ok(r.headers.allow, 'a 405 carries Allow');
	});
}

test('truncated and non-HTTP input: connection closed without a success', async () => {
	const inputs = [
		// a body shorter than its Content-Length, then the client half-closes
		`POST /json HTTP/1.1\r\n${H}${J}Content-Length: 100\r\n\r\n{"a":1`,
		// a chunk cut short
		`POST /json HTTP/1.1\r\n${H}${J}Transfer-Encoding: chunked\r\n\r\n10\r\n{"a"`,
		// headers cut short
		`GET /healthz HTTP/1.1\r\n${H}X-A: b`,
		// a TLS ClientHello
		Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]),
	];
	for (const data of inputs) {
		const r = await rawRequest(srv.port, data, { timeoutMs: 8000, end: true });
		assert.equal(r.timedOut, false, `no answer nor close for ${JSON.stringify(String(data))}`);
		assert.ok(r.status === 0 || (r.status >= 400 && r.status < 500), `got ${r.status}`);
	}
});

// RFC 9112 §3.2.2: a server must accept the absolute form (a proxy's); it was answered 400.
test('an absolute-form target is served as its path', async () => {
	const r = await rawRequest(srv.port, `GET http://t/healthz HTTP/1.1\r\n${H}\r\n`, { timeoutMs: 5000 });
	assert.equal(r.status, 200, String(r.raw).slice(0, 200));
	assert.deepEqual(r.json(), { status: 'ok' });
});

test('a slow client sending the body in pieces still gets its answer', async () => {
	const r = await rawRequest(srv.port, [`POST /json HTTP/1.1\r\n${H}${J}Content-Length: 7\r\n\r\n{"a`, '":', '1}'], { gapMs: 50 });
	assert.equal(r.status, 200);
	assert.deepEqual(r.json(), { echo: { a: 1 } });
});

test('the server survived everything and stops cleanly', async () => {
	const res = await fetch(`${srv.url}/healthz`);
	assert.equal(res.status, 200);
	const { code, signal, stderr } = await srv.stop();
	srv = null;
	assert.equal(signal, null);
	assert.equal(code, 0);
	assertClean(stderr);
});
