// node-server in front of something that is not db-service's own code: what Knative puts
// between them (an ingress or the activator answering 404 text while a route is not ready, an
// HTML error page, a redirect) or a db-service that answers too late. The stand-in is a
// scripted HTTP server on 127.0.0.1 (lib/receiver.mjs), because a real db-service never gives
// these answers; the real db-service's answers are covered by node_server.test.mjs.
//   - /insert: only db-service's own refusals (400, 413, 415) are a 400; any other 4xx is a
//     503, so the broker retries it (a 400 dead-letters the review at once);
//   - the proxied routes pass on db-service's own answers (200/201/204, JSON 4xx/5xx) and turn
//     anything else into a JSON 502 (or 503 for a 5xx);
//   - a DELETE that timed out or answered 404 refreshes the feed: the row may be gone;
//   - a review id outside db-service's range (0) is a 400, as db-service says for it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, binPath, stopClean, waitFor } from './lib/proc.mjs';
import { startReceiver } from './lib/receiver.mjs';

let db, ns;
let script = () => null;
before(async () => {
	db = await startReceiver((req, i, n) => {
		const a = script(req);
		if (a) return a;
		if (req.path.startsWith('/reviews?limit='))
			return { status: 200, headers: { 'content-type': 'application/json' }, body: '[]' };
		return { status: 500, body: 'unexpected' };
	});
	ns = await startServer(binPath('node-server'), {
		env: { LOG_LEVEL: 'error', DB_SERVICE_URL: db.url, DB_SERVICE_TIMEOUT_MS: '300' },
		readyPath: '/readyz',
	});
});
after(async () => {
	if (ns) await stopClean(ns);
	if (db) await db.close();
});

const insert = (id) => fetch(`${ns.url}/insert`, {
	method: 'POST',
	headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-type': 'moderated-comment', 'ce-source': '/seq', 'ce-id': id },
	body: JSON.stringify({ reviewText: 'hello' }),
});
const json = { 'content-type': 'application/json' };

test('/insert: only db-service\'s own refusals are a 400; any other 4xx is a 503, retried', async () => {
	const rows = [
		[404, { 'content-type': 'text/plain' }, 'Not Found', 503],
		[401, {}, '', 503],
		[403, json, '{"error":"forbidden"}', 503],
		[405, json, '{"error":"method_not_allowed"}', 503],
		[400, json, '{"error":"validation_failed","message":"reviewText is empty"}', 400],
		[413, json, '{"error":"payload_too_large","message":"too large"}', 400],
		[415, json, '{"error":"unsupported_media_type","message":"json only"}', 400],
	];
	for (const [status, headers, body, want] of rows) {
		script = (req) => (req.method === 'POST' && req.path === '/reviews' ? { status, headers, body } : null);
		const r = await insert(`up-${status}-${Date.now()}`);
		const text = await r.text();
		assert.equal(r.status, want, `db-service ${status}: ${text}`);
		assert.equal(typeof JSON.parse(text).error, 'string');
	}
});

test('proxied routes: db-service\'s own answers pass on; anything else is a JSON 502 or 503', async () => {
	const rows = [
		// [status, headers, body, node-server's status, passed on as it is]
		[200, json, '[{"id":1}]', 200, true],
		[404, json, '{"error":"not_found","message":"no such book"}', 404, true],
		[503, { ...json, 'retry-after': '2' }, '{"error":"unavailable","message":"database down"}', 503, true],
		[500, { 'content-type': 'text/html' }, '<html>proxy error</html>', 503, false],
		[404, { 'content-type': 'text/plain' }, 'Not Found', 502, false],
		[200, { 'content-type': 'text/html' }, '<html>garbage</html>', 502, false],
		[302, { location: '/elsewhere' }, '', 502, false],
		[299, json, '{}', 502, false],
	];
	for (const [status, headers, body, want, same] of rows) {
		script = (req) => (req.path === '/books' ? { status, headers, body } : null);
		const r = await fetch(`${ns.url}/books`, { redirect: 'manual' });
		const text = await r.text();
		assert.equal(r.status, want, `db-service ${status} ${headers['content-type']}: ${text}`);
		assert.match(r.headers.get('content-type') || '', /^application\/json/, `db-service ${status}: JSON`);
		if (same) {
			assert.equal(text, body);
			assert.equal(r.headers.get('retry-after'), headers['retry-after'] ?? null);
		} else {
			assert.match(JSON.parse(text).message, new RegExp(`db-service answered ${status}`));
		}
	}
});

test('a DELETE that timed out, or answered 404, refreshes the feed: the row may be gone', async () => {
	const refreshes = () => db.requests.filter((r) => r.path.startsWith('/reviews?limit=')).length;
	for (const [answer, want] of [[{ status: 204, delayMs: 1000 }, 503], [{ status: 404, headers: json, body: '{"error":"not_found"}' }, 404]]) {
		script = (req) => (req.method === 'DELETE' ? answer : null);
		const before = refreshes();
		const r = await fetch(`${ns.url}/reviews/7`, { method: 'DELETE' });
		await r.arrayBuffer();
		assert.equal(r.status, want);
		await waitFor(() => refreshes() > before, { what: `a feed refresh after the DELETE answered ${want}` });
	}
});

test('a review id outside db-service\'s range is a 400 on every id route', async () => {
	for (const p of ['/reviews/0/journey', '/reviews/00/journey', '/reviews/2147483648/journey', '/books/0']) {
		const r = await fetch(`${ns.url}${p}`);
		const j = await r.json();
		assert.equal(r.status, 400, `${p}: ${JSON.stringify(j)}`);
		assert.match(j.message, /from 1 to 2147483647/);
	}
	const r = await fetch(`${ns.url}/reviews/0`, { method: 'DELETE' });
	assert.equal(r.status, 400);
});
