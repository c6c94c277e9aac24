// CloudEvents over the real HTTP layer: malformed events sent over raw sockets to the test
// server's POST /ce (the CloudEvents decoder behind tests/tools/testserver) each get a 400 or
// 415 with the one JSON error body, and a message that names the problem. Valid events in
// every mode decode. The server never crashes and exits 0 without a sanitizer report.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, binPath, assertClean } from './lib/proc.mjs';
import { rawRequest } from './lib/rawhttp.mjs';

const bytes = (...parts) =>
	Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

// A binary-mode request with the given extra header lines and body.
function binary(headerLines, body = '{"reviewText":"hi"}', contentType = 'application/json') {
	const hs = [
		'POST /ce HTTP/1.1', 'Host: t', `Content-Type: ${contentType}`,
		`Content-Length: ${Buffer.byteLength(body, 'latin1')}`, ...headerLines,
	];
	return `${hs.join('\r\n')}\r\n\r\n${body}`;
}
const CE = ['ce-specversion: 1.0', 'ce-id: 1', 'ce-source: /t', 'ce-type: t.e'];
const without = (name) => CE.filter((h) => !h.startsWith(`ce-${name}:`));

function structured(body, contentType = 'application/cloudevents+json') {
	return `POST /ce HTTP/1.1\r\nHost: t\r\nContent-Type: ${contentType}\r\n` +
		`Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`;
}
const ev = (extra = {}) => JSON.stringify({ specversion: '1.0', id: '1', source: '/t', type: 't.e', ...extra });

// [name, request, status, message pattern]
const cases = [
	['binary: missing ce-id', binary(without('id')), 400, /'id'/],
	['binary: missing ce-source', binary(without('source')), 400, /'source'/],
	['binary: missing ce-type', binary(without('type')), 400, /'type'/],
	['binary: missing ce-specversion', binary(without('specversion')), 400, /specversion/],
	['binary: empty ce-id', binary([...without('id'), 'ce-id:']), 400, /id/],
	['binary: specversion 0.3', binary([...without('specversion'), 'ce-specversion: 0.3']), 400, /specversion/],
	['binary: duplicated ce-id', binary([...CE, 'ce-id: 2']), 400, /ce-id/],
	['binary: duplicated ce-type', binary([...CE, 'ce-type: other']), 400, /ce-type/],
	['binary: ce-datacontenttype header', binary([...CE, 'ce-datacontenttype: text/plain']), 400, /datacontenttype/],
	['binary: truncated percent escape', binary([...CE, 'ce-subject: abc%2']), 400, /ce-subject/],
	['binary: bad percent escape', binary([...CE, 'ce-subject: %zz']), 400, /ce-subject/],
	['binary: overlong UTF-8 escape', binary([...CE, 'ce-subject: %C0%A0']), 400, /UTF-8/],
	['binary: encoded surrogate', binary([...CE, 'ce-subject: %ED%A0%80']), 400, /UTF-8/],
	['binary: truncated UTF-8 sequence', binary([...CE, 'ce-subject: %E2%82']), 400, /UTF-8/],
	['binary: unterminated quoted string', binary([...CE, 'ce-subject: "abc']), 400, /ce-subject/],
	['binary: bad extension name', binary([...CE, 'ce-bad_name: x']), 400, /bad_name/],
	['binary: time not RFC 3339', binary([...CE, 'ce-time: yesterday']), 400, /time/],
	['structured: not JSON', structured('{"specversion":'), 400, /JSON/],
	['structured: JSON array', structured('[]'), 400, /object/],
	['structured: missing id', structured(JSON.stringify({ specversion: '1.0', source: '/t', type: 't' })), 400, /'id'/],
	['structured: id is a number', structured(ev({ id: 5 })), 400, /id/],
	['structured: data and data_base64', structured(ev({ data: 1, data_base64: 'AQ==' })), 400, /data/],
	['structured: bad base64', structured(ev({ data_base64: '!!!' })), 400, /base64/],
	['structured: invalid UTF-8', structured(bytes('{"specversion":"1.0","id":"', [0xff], '","source":"/t","type":"t"}').toString('latin1')), 400, /./],
	['structured: unsupported format', structured(ev(), 'application/cloudevents+xml'), 415, /format/],
	['batch: mixed specversions', structured(`[${ev()},${ev({ specversion: '0.3' })}]`, 'application/cloudevents-batch+json'), 400, /specversion/],
	['batch: not an array', structured(ev(), 'application/cloudevents-batch+json'), 400, /array/],
	['batch: one invalid event', structured(`[${ev()},{"id":"2"}]`, 'application/cloudevents-batch+json'), 400, /./],
];

let srv;
before(async () => {
	srv = await startServer(binPath('tests/tools/testserver'), { env: { LOG_LEVEL: 'warn' } });
});
after(async () => {
	if (srv)
		await srv.stop().catch(() => {});
});

for (const [name, data, status, pattern] of cases) {
	test(`malformed CloudEvent: ${name} -> ${status}`, async () => {
		const r = await rawRequest(srv.port, data, { timeoutMs: 5000 });
		assert.equal(r.status, status, `status (got: ${String(r.raw).slice(0, 300)})`);
		assert.match(r.headers['content-type'], /^application\/json/);
		const body = r.json();
		assert.equal(body.error, status === 415 ? 'unsupported_media_type' : 'invalid_cloudevent');
		assert.match(body.message, pattern);
	});
}

test('valid events decode in binary, structured and batched modes', async () => {
	let r = await rawRequest(srv.port, binary([...CE, 'ce-subject: Euro%20%E2%82%AC%20%F0%9F%98%80']));
	assert.equal(r.status, 200);
	assert.equal(r.json().subject, 'Euro € 😀');
	assert.deepEqual(r.json().data, { reviewText: 'hi' });
	r = await rawRequest(srv.port, structured(ev({ data: { a: 1 } })));
	assert.equal(r.status, 200);
	assert.deepEqual(r.json().data, { a: 1 });
	r = await rawRequest(srv.port, structured(`[${ev()},${ev({ id: '2' })}]`, 'application/cloudevents-batch+json'));
	assert.equal(r.status, 200);
	assert.deepEqual(r.json().map((e) => e.id), ['1', '2']);
	const big = 'x'.repeat(70 * 1024);
	r = await rawRequest(srv.port, binary(CE, JSON.stringify({ reviewText: big })));
	assert.equal(r.status, 200, 'an event over 64 KiB is accepted');
	assert.equal(r.json().data.reviewText.length, big.length);
});

test('the server survived every malformed event and stops cleanly', async () => {
	const res = await fetch(`${srv.url}/healthz`);
	assert.equal(res.status, 200);
	const { code, stderr } = await srv.stop();
	srv = null;
	assert.equal(code, 0);
	assertClean(stderr);
});
