// node-server against the real stack (lib/stack.mjs: PostgreSQL, db-service, node-server, and a
// CloudEvents receiver as K_SINK that forwards accepted events to /insert like a Trigger):
// the /add and /insert contracts, the reviews feed over HTTP and WebSocket, the page's static
// files, CORS, malformed input and SQL metacharacters end to end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { HTTP } from 'cloudevents';
import WebSocket from 'ws';
import { startStack, stackSkipReason } from './lib/stack.mjs';
import { startServer, binPath, freePort, waitFor, stopClean } from './lib/proc.mjs';
import { rawRequest } from './lib/rawhttp.mjs';

const skip = stackSkipReason();
if (skip) console.log(`# skipping node-server tests: ${skip}`);

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

// The exact request of the original frontend (CommentForm.js).
const ORIGINAL_HEADERS = {
	'Content-Type': 'application/json',
	'Ce-Type': 'new-review-comment',
	'Ce-Specversion': '1.0',
	'Ce-Source': 'commentForm',
	'Ce-Id': 'unique-comment-id',
};

let st;

before(async () => {
	if (skip) return;
	st = await startStack({ forward: true });
});

after(async () => {
	if (st) await st.stop();
});

async function call(method, path, { headers = {}, body, base } = {}) {
	const res = await fetch((base || st.url) + path, { method, headers, body });
	const text = await res.text();
	let json;
	try {
		json = text ? JSON.parse(text) : undefined;
	} catch {
		json = undefined;
	}
	return { status: res.status, headers: res.headers, text, json };
}

const add = (text, headers = ORIGINAL_HEADERS, base) =>
	call('POST', '/add', { headers, body: JSON.stringify({ reviewText: text }), base });

function insertHeaders(id, extra = {}) {
	return {
		'content-type': 'application/json',
		'ce-specversion': '1.0',
		'ce-type': 'moderated-comment',
		'ce-source': 'sentiment-analysis',
		'ce-id': id,
		...extra,
	};
}

async function comments() {
	const r = await call('GET', '/comments');
	assert.equal(r.status, 200, r.text);
	return r.json;
}

async function startExtraNode(env) {
	return startServer(binPath('node-server'), {
		env: { ...st.nodeEnvBase, ...env },
		readyPath: '/healthz',
	});
}

test('POST /add: the original frontend request is forwarded as a fresh binary CloudEvent', { skip }, async () => {
	const r = await add('  Loved it, truly.  ');
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json.success, true);
	assert.equal(r.json.message, 'Event forwarded successfully');
	assert.match(r.json.id, UUID_RE);
	assert.equal(r.headers.get('access-control-allow-origin'), '*');
	const ev = await st.receiver.waitForEvent((e) => e.headers['ce-id'] === r.json.id);
	assert.equal(ev.method, 'POST');
	assert.equal(ev.headers['ce-specversion'], '1.0');
	assert.equal(ev.headers['ce-type'], 'new-review-comment');
	assert.equal(ev.headers['ce-source'], 'bookstore-eda');
	assert.match(ev.headers['content-type'], /^application\/json/);
	assert.equal(ev.headers['ce-client'], undefined);
	assert.deepEqual(JSON.parse(ev.body), { reviewText: 'Loved it, truly.' });
	// the receiver's SDK reads it as a valid event too
	const sdk = HTTP.toEvent({ headers: ev.headers, body: ev.body });
	assert.equal(sdk.id, r.json.id);
	assert.deepEqual(sdk.data, { reviewText: 'Loved it, truly.' });
});

test('POST /add: the same client id twice gives two different event ids', { skip }, async () => {
	const a = await add('first of two');
	const b = await add('second of two');
	assert.equal(a.status, 200);
	assert.equal(b.status, 200);
	assert.notEqual(a.json.id, b.json.id);
	await st.receiver.waitForEvent((e) => e.headers['ce-id'] === b.json.id);
	assert.ok(st.receiver.events.some((e) => e.headers['ce-id'] === a.json.id));
	assert.ok(!st.receiver.events.some((e) => e.headers['ce-id'] === 'unique-comment-id'));
});

test('POST /add: structured mode works and extra data members are kept', { skip }, async () => {
	const body = JSON.stringify({
		specversion: '1.0', id: 'structured-1', source: 'curl', type: 'new-review-comment',
		datacontenttype: 'application/json',
		data: { reviewText: 'structured review', sentiment: 'positive' },
	});
	const r = await call('POST', '/add', {
		headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' }, body,
	});
	assert.equal(r.status, 200, r.text);
	const ev = await st.receiver.waitForEvent((e) => e.headers['ce-id'] === r.json.id);
	assert.deepEqual(JSON.parse(ev.body), { reviewText: 'structured review', sentiment: 'positive' });
	assert.equal(ev.headers['ce-source'], 'bookstore-eda');
});

test('POST /add: bad events and bad texts answer 400 with JSON', { skip }, async () => {
	const cases = [
		['wrong type', { ...ORIGINAL_HEADERS, 'Ce-Type': 'other' }, JSON.stringify({ reviewText: 'x' })],
		['empty text', ORIGINAL_HEADERS, JSON.stringify({ reviewText: '   ' })],
		['missing text', ORIGINAL_HEADERS, JSON.stringify({ text: 'x' })],
		['text not a string', ORIGINAL_HEADERS, JSON.stringify({ reviewText: 42 })],
		['too long', ORIGINAL_HEADERS, JSON.stringify({ reviewText: 'a'.repeat(4001) })],
		['not an object', ORIGINAL_HEADERS, '"str"'],
		['invalid JSON', ORIGINAL_HEADERS, '{"reviewText":'],
		['no ce-id', { 'Content-Type': 'application/json', 'Ce-Type': 'new-review-comment', 'Ce-Specversion': '1.0', 'Ce-Source': 's' }, JSON.stringify({ reviewText: 'x' })],
		['no ce-specversion', { 'Content-Type': 'application/json', 'Ce-Type': 'new-review-comment', 'Ce-Id': '1', 'Ce-Source': 's' }, JSON.stringify({ reviewText: 'x' })],
		['text/plain data', { ...ORIGINAL_HEADERS, 'Content-Type': 'text/plain' }, 'reviewText'],
		['batch', { 'Content-Type': 'application/cloudevents-batch+json' }, '[]'],
	];
	const before = st.receiver.events.length;
	for (const [name, headers, body] of cases) {
		const r = await call('POST', '/add', { headers, body });
		assert.ok(r.status >= 400 && r.status < 500, `${name}: ${r.status} ${r.text}`);
		assert.equal(typeof r.json?.error, 'string', `${name}: JSON error body`);
		assert.equal(typeof r.json?.message, 'string', name);
	}
	// exactly 4000 characters (multi-byte ones count once) is accepted
	const ok = await add('é'.repeat(4000));
	assert.equal(ok.status, 200, ok.text);
	await st.receiver.waitForEvent((e) => e.headers['ce-id'] === ok.json.id);
	assert.equal(st.receiver.events.length, before + 1, 'no rejected event reached the broker');
});

test('POST /add: 502 when the broker refuses, 503 when K_SINK is unset or unreachable', { skip }, async () => {
	st.receiver.status = 500;
	try {
		const r = await add('refused');
		assert.equal(r.status, 502, r.text);
		assert.equal(r.json.error, 'bad_gateway');
	} finally {
		st.receiver.status = 202;
	}
	const unset = await startExtraNode({ K_SINK: '' });
	const closed = await startExtraNode({ K_SINK: `http://127.0.0.1:${await freePort()}/` });
	try {
		for (const srv of [unset, closed]) {
			const r = await add('nowhere to go', ORIGINAL_HEADERS, srv.url);
			assert.equal(r.status, 503, r.text);
			assert.equal(r.headers.get('retry-after'), '1');
			assert.equal(r.json.error, 'unavailable');
		}
		// a bad event is still a 400 without K_SINK
		const bad = await call('POST', '/add', { headers: ORIGINAL_HEADERS, body: '{}', base: unset.url });
		assert.equal(bad.status, 400);
	} finally {
		await stopClean(unset);
		await stopClean(closed);
	}
});

test('K_CE_OVERRIDES adds its extensions; an invalid value stops the start with status 2', { skip }, async () => {
	const srv = await startExtraNode({ K_CE_OVERRIDES: '{"extensions":{"cluster":"kind-local","team":"books"}}' });
	try {
		const r = await add('with overrides', ORIGINAL_HEADERS, srv.url);
		assert.equal(r.status, 200, r.text);
		const ev = await st.receiver.waitForEvent((e) => e.headers['ce-id'] === r.json.id);
		assert.equal(ev.headers['ce-cluster'], 'kind-local');
		assert.equal(ev.headers['ce-team'], 'books');
	} finally {
		await stopClean(srv);
	}
	for (const bad of ['not json', '{"extensions":{"Bad Name":"x"}}', '{"extensions":{"type":"x"}}']) {
		const r = spawnSync(binPath('node-server'), [], {
			env: { ...process.env, ...st.nodeEnvBase, PORT: String(await freePort()), K_CE_OVERRIDES: bad },
			encoding: 'utf8', timeout: 15000,
		});
		assert.equal(r.status, 2, `${bad}: ${r.stderr}`);
		assert.match(r.stderr, /K_CE_OVERRIDES/);
	}
});

test('POST /insert stores once per event id and replies with a binary CloudEvent holding the row', { skip }, async () => {
	const id = `redelivered-${Date.now()}`;
	const body = JSON.stringify({ reviewText: 'Delivered twice', badWordResult: 'good', sentimentResult: 'positive' });
	const replies = [];
	for (let i = 0; i < 2; i++) {
		const res = await fetch(`${st.url}/insert`, { method: 'POST', headers: insertHeaders(id, { 'ce-badwordfilter': 'good' }), body });
		const text = await res.text();
		assert.equal(res.status, 200, text);
		replies.push({ headers: Object.fromEntries(res.headers), body: text });
	}
	const rows = await st.pg.query(`SELECT content, sentiment FROM book_reviews WHERE event_id = '${id}'`);
	assert.deepEqual(rows, [['Delivered twice', 'positive']]);
	for (const r of replies) {
		assert.match(r.headers['content-type'], /^application\/json/);
		const ev = HTTP.toEvent({ headers: r.headers, body: r.body });
		assert.equal(ev.type, 'com.example.reviews.inserted');
		assert.equal(ev.source, '/api/reviews');
		assert.match(ev.id, UUID_RE);
		assert.equal(typeof ev.data, 'object', 'data is a JSON object, not a string');
		assert.equal(ev.data.content, 'Delivered twice');
		assert.equal(ev.data.sentiment, 'positive');
		assert.equal(typeof ev.data.id, 'number');
		assert.match(ev.data.post_time, TIME_RE);
	}
	assert.notEqual(replies[0].headers['ce-id'], replies[1].headers['ce-id']);
	assert.equal(JSON.parse(replies[0].body).id, JSON.parse(replies[1].body).id);
	// The same id from another source is another event (CloudEvents: source and id together).
	const other = await fetch(`${st.url}/insert`, { method: 'POST',
		headers: insertHeaders(id, { 'ce-source': '/another/producer' }), body });
	assert.equal(other.status, 200, await other.text());
	const keys = await st.pg.query(`SELECT event_source FROM book_reviews WHERE event_id = '${id}' ORDER BY id`);
	assert.deepEqual(keys, [['sentiment-analysis'], ['/another/producer']]);
});

test('POST /insert takes the sentiment from the sentimentresult extension, and rejects bad events with 400', { skip }, async () => {
	const id = `ext-${Date.now()}`;
	const ok = await call('POST', '/insert', {
		headers: insertHeaders(id, { 'ce-sentimentresult': 'neutral' }),
		body: JSON.stringify({ reviewText: 'sentiment from the extension' }),
	});
	assert.equal(ok.status, 200, ok.text);
	assert.equal(ok.json.sentiment, 'neutral');
	const bad = [
		[{ 'content-type': 'application/json' }, JSON.stringify({ reviewText: 'no ce headers' })],
		[insertHeaders('b1'), JSON.stringify({ text: 'no reviewText' })],
		[insertHeaders('b2'), JSON.stringify({ reviewText: 'x', sentimentResult: 'ecstatic' })],
		[insertHeaders('b3'), JSON.stringify({ reviewText: '   ' })],
		[insertHeaders('b4'), '{not json'],
	];
	for (const [headers, body] of bad) {
		const r = await call('POST', '/insert', { headers, body });
		assert.equal(r.status, 400, `${body}: ${r.text}`);
		assert.equal(typeof r.json.message, 'string');
	}
	const n = await st.pg.query("SELECT count(*) FROM book_reviews WHERE event_id IN ('b1','b2','b3','b4')");
	assert.equal(n[0][0], '0');
});

test('GET /comments: the rows as the original sent them, newest first', { skip }, async () => {
	const rows = await comments();
	assert.ok(Array.isArray(rows) && rows.length >= 4);
	for (const row of rows) {
		assert.deepEqual(Object.keys(row), ['id', 'post_time', 'content', 'sentiment']);
		assert.equal(typeof row.id, 'number');
		assert.match(row.post_time, TIME_RE);
		assert.ok(row.sentiment === null || ['positive', 'negative', 'neutral'].includes(row.sentiment));
	}
	const times = rows.map((r) => Date.parse(r.post_time));
	assert.deepEqual(times, [...times].sort((a, b) => b - a));
	assert.ok(rows.some((r) => r.content === 'This book is great!'));
});

test('GET /books and /books/{id} are proxied to db-service; DELETE /reviews/{id} refreshes the feed', { skip }, async () => {
	const books = await call('GET', '/books');
	assert.equal(books.status, 200);
	assert.equal(books.json[0].title, 'Building serverless applications on Knative');
	const one = await call('GET', `/books/${books.json[0].id}`);
	assert.equal(one.status, 200);
	assert.equal(one.json.isbn, '978-1098142070');
	assert.equal((await call('GET', '/books/999999')).status, 404);
	assert.equal((await call('GET', '/books/abc')).status, 400);

	const ins = await call('POST', '/insert', {
		headers: insertHeaders(`del-${Date.now()}`), body: JSON.stringify({ reviewText: 'to be deleted' }),
	});
	assert.equal(ins.status, 200, ins.text);
	const rid = ins.json.id;
	await waitFor(async () => (await comments()).some((r) => r.id === rid), { what: 'the new row in /comments' });
	const del = await call('DELETE', `/reviews/${rid}`);
	assert.equal(del.status, 204, del.text);
	await waitFor(async () => !(await comments()).some((r) => r.id === rid), { what: 'the row gone from /comments' });
	assert.equal((await call('DELETE', `/reviews/${rid}`)).status, 404);
	assert.equal((await call('DELETE', '/reviews/x1')).status, 400);
});

test('static files: content types, ETag and 304, HEAD, 404 JSON', { skip }, async () => {
	const cases = [
		['/', /^text\/html/],
		['/index.html', /^text\/html/],
		['/app.js', /^text\/javascript/],
		['/lib.js', /^text\/javascript/],
		['/style.css', /^text\/css/],
		['/images/logo.svg', /^image\/svg\+xml/],
	];
	for (const [path, type] of cases) {
		const r = await fetch(st.url + path);
		const body = await r.text();
		assert.equal(r.status, 200, path);
		assert.match(r.headers.get('content-type'), type, path);
		assert.ok(body.length > 0);
		const etag = r.headers.get('etag');
		assert.match(etag, /^"[^"]+"$/, path);
		assert.ok(r.headers.get('cache-control'));
		const again = await fetch(st.url + path, { headers: { 'If-None-Match': etag } });
		assert.equal(again.status, 304, path);
		assert.equal((await again.text()).length, 0);
		assert.equal(again.headers.get('etag'), etag);
		const other = await fetch(st.url + path, { headers: { 'If-None-Match': '"nope"' } });
		assert.equal(other.status, 200);
		await other.arrayBuffer();
	}
	const page = await call('GET', '/');
	assert.match(page.text, /<html/i);
	const head = await fetch(`${st.url}/app.js`, { method: 'HEAD' });
	assert.equal(head.status, 200);
	assert.equal((await head.text()).length, 0);
	const missing = await call('GET', '/nope.js');
	assert.equal(missing.status, 404);
	assert.equal(missing.json.error, 'not_found');
});

test('the static catch-all stands aside for the API paths: their 405 lists only their methods', { skip }, async () => {
	const cases = [
		['GET', '/add', 'POST'],
		['PUT', '/add', 'POST'],
		['GET', '/insert', 'POST'],
		['HEAD', '/journey', 'POST'],
		['GET', '/reviews/1', 'DELETE'],
		['POST', '/comments', 'GET, HEAD'],
		['POST', '/index.html', 'GET, HEAD'],
	];
	for (const [method, path, allow] of cases) {
		const r = await fetch(st.url + path, { method });
		const text = await r.text();
		assert.equal(r.status, 405, `${method} ${path}`);
		assert.equal(r.headers.get('allow'), allow, `${method} ${path}`);
		if (method !== 'HEAD')
			assert.equal(JSON.parse(text).error, 'method_not_allowed', `${method} ${path}`);
	}
});

test('static files: traversal attempts never leave FRONTEND_DIR', { skip }, async () => {
	const attempts = [
		'/../../../../etc/passwd',
		'/..%2f..%2f..%2fetc%2fpasswd',
		'/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
		'/images/%2e%2e/%2e%2e/Makefile',
		'/images/../../Makefile',
		'/..%5c..%5cMakefile',
		'/images%5c..%5c..%5cMakefile',
		'/%2e%2e%2fMakefile',
		'/.git/config',
		'/%2egit/HEAD',
		'/etc%00.js',
		'//etc/passwd',
		'/%2fetc%2fpasswd',
		'/images/..',
		'/.',
	];
	for (const p of attempts) {
		const r = await rawRequest(st.node.port, `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
		assert.ok(r.status === 400 || r.status === 404, `${p}: ${r.status}`);
		assert.ok(!/root:|\[core\]|ref: refs|bookstore: one non-recursive/.test(r.text), `${p} leaked a file`);
		assert.match(r.headers['content-type'], /application\/json/, p);
	}
});

test('CORS: preflight answers 204 with the allowed methods; responses carry Allow-Origin *', { skip }, async () => {
	const r = await fetch(`${st.url}/add`, {
		method: 'OPTIONS',
		headers: { Origin: 'http://example.com', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,ce-id' },
	});
	assert.equal(r.status, 204);
	assert.equal(r.headers.get('access-control-allow-origin'), '*');
	assert.match(r.headers.get('access-control-allow-methods'), /POST/);
	assert.match(r.headers.get('access-control-allow-headers'), /ce-id/);
	const g = await fetch(`${st.url}/comments`, { headers: { Origin: 'http://example.com' } });
	await g.arrayBuffer();
	assert.equal(g.headers.get('access-control-allow-origin'), '*');
});

function openWs(url) {
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(url);
		const messages = [];
		ws.on('message', (d) => messages.push({ at: Date.now(), data: JSON.parse(d.toString()) }));
		ws.once('open', () => resolve({ ws, messages }));
		ws.once('error', reject);
	});
}

test('WebSocket /comments: a second client is sent an insert made by the first', { skip }, async () => {
	const wsUrl = `${st.url.replace('http', 'ws')}/comments`;
	const a = await openWs(wsUrl);
	const b = await openWs(wsUrl);
	try {
		await waitFor(() => a.messages.length > 0 && b.messages.length > 0, { what: 'the first snapshot on both sockets' });
		assert.ok(Array.isArray(b.messages[0].data));
		const text = `live ${Date.now()}`;
		const r = await call('POST', '/insert', { headers: insertHeaders(`ws-${Date.now()}`), body: JSON.stringify({ reviewText: text }) });
		assert.equal(r.status, 200, r.text);
		// Nothing polls (feed.h): the new rows reach b only because the insert pushed them.
		// How fast is bench's business (make bench: WebSocket fan-out), not a test's.
		const seen = await waitFor(() => b.messages.find((m) => m.data.some((row) => row.content === text)), { what: 'the insert on the second socket' });
		assert.deepEqual(Object.keys(seen.data[0]), ['id', 'post_time', 'content', 'sentiment']);
		// a plain HTTP GET /comments without Upgrade still gives the array
		assert.ok((await comments()).some((row) => row.content === text));
	} finally {
		a.ws.close();
		b.ws.close();
	}
	// a malformed handshake is a 400 JSON, not a crash
	const bad = await rawRequest(st.node.port, 'GET /comments HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n');
	assert.equal(bad.status, 400);
	// an Upgrade the server does not support (curl --http2 sends h2c) is ignored: the array, as
	// the original backend answers (RFC 9110 §7.8); before, 400 "missing Upgrade: websocket"
	const h2c = await rawRequest(st.node.port, 'GET /comments HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n');
	assert.equal(h2c.status, 200, h2c.text);
	assert.ok(Array.isArray(h2c.json()), h2c.text);
});

// db-service may have stored a review by an attempt node-server never heard back from (its call
// timed out, or db-service retried on a new connection): the redelivery then gets 200 "already
// stored", and the row must still reach the live feed. Stored here straight in db-service.
test('WebSocket /comments: a review already stored when /insert comes is pushed too', { skip }, async () => {
	const wsUrl = `${st.url.replace('http', 'ws')}/comments`;
	const b = await openWs(wsUrl);
	try {
		await waitFor(() => b.messages.length > 0, { what: 'the first snapshot' });
		const id = `pre-${Date.now()}`;
		const text = `stored before /insert ${Date.now()}`;
		const direct = await call('POST', '/reviews', { base: st.dbUrl, headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ reviewText: text, eventId: id }) });
		assert.equal(direct.status, 201, direct.text);
		const r = await call('POST', '/insert', { headers: insertHeaders(id), body: JSON.stringify({ reviewText: text }) });
		assert.equal(r.status, 200, r.text);
		await waitFor(() => b.messages.some((m) => m.data.some((row) => row.content === text)), { what: 'the stored row on the socket' });
	} finally {
		b.ws.close();
	}
});

// RFC 6455 §4.1 wants HTTP/1.1 or later. libmicrohttpd will not send a 101 on HTTP/1.0: before
// the handshake checked the version, each such request was closed with no answer, logged and
// counted as a 101, and leaked the layer's upgrade context (LeakSanitizer at exit).
test('WebSocket /comments over HTTP/1.0: 400 with a JSON body, 50 times, and no leak', { skip }, async () => {
	const node = await startExtraNode({});
	try {
		const raw = 'GET /comments HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
			'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
		for (let i = 0; i < 50; i++) {
			const r = await rawRequest(node.port, raw, { timeoutMs: 5000 });
			assert.equal(r.status, 400, `#${i}: status ${r.status}`);
			assert.match(r.headers['content-type'] || '', /application\/json/);
			assert.equal(r.json().error, 'bad_request');
			assert.match(r.json().message, /HTTP\/1\.1/);
		}
	} finally {
		await stopClean(node);
	}
});

// A request head (ending in CRLF after the last header) with a body and its exact length.
const withBody = (head, body) =>
	`${head}Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`;

test('malformed requests: each gets a 4xx with a JSON body, never a 5xx, and the server stays up', { skip }, async () => {
	const port = st.node.port;
	const json = 'application/json';
	const reqs = [
		withBody(`POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: ${json}\r\n`, `{{{`),
		withBody(`POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: ${json}\r\nCe-Id: 1\r\nCe-Id: 2\r\nCe-Specversion: 1.0\r\nCe-Source: s\r\nCe-Type: new-review-comment\r\n`, `{}`),
		withBody(`POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: ${json}\r\nCe-Id: 1\r\nCe-Specversion: 2.0\r\nCe-Source: s\r\nCe-Type: new-review-comment\r\n`, `{"reviewText":"x"}`),
		withBody(`POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents+json\r\n`, `{}`),
		withBody(`POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents+json\r\n`, `null`),
		withBody(`POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents+xml\r\n`, `<>`),
		withBody(`POST /add HTTP/1.1\r\nHost: x\r\n`, ``),
		withBody(`POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: ${json}\r\nCe-Id: 1\r\nCe-Specversion: 1.0\r\nCe-Source: s\r\nCe-Type: new-review-comment\r\n`, `{"reviewText":"\xff"}`),
		withBody(`POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: ${json}\r\nCe-Id: 1\r\nCe-Specversion: 1.0\r\nCe-Source: s\r\nCe-Type: new-review-comment\r\nCe-Time: yesterday\r\n`, `{"reviewText":"x"}`),
		`POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: ${json}\r\nContent-Length: 999999999\r\n\r\n`,
		withBody(`POST /insert HTTP/1.1\r\nHost: x\r\n`, ``),
		withBody(`POST /insert HTTP/1.1\r\nHost: x\r\nContent-Type: ${json}\r\nCe-Id: \r\nCe-Specversion: 1.0\r\nCe-Source: s\r\nCe-Type: t\r\n`, `{"reviewText":"x"}`),
		withBody(`POST /insert HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents+json\r\n`, `[1,2]`),
		withBody(`POST /insert HTTP/1.1\r\nHost: x\r\nContent-Type: ${json}\r\nCe-Id: x\r\nCe-Specversion: 1.0\r\nCe-Source: s\r\nCe-Type: t\r\n`, `{"reviewText":["arr"]}`),
		`GET /books/-1 HTTP/1.1\r\nHost: x\r\n\r\n`,
		`GET /books/99999999999999999999 HTTP/1.1\r\nHost: x\r\n\r\n`,
		`DELETE /reviews/%00 HTTP/1.1\r\nHost: x\r\n\r\n`,
		`DELETE /reviews/1;DROP HTTP/1.1\r\nHost: x\r\n\r\n`,
		`GET /comments HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`,
		`GET /comments HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
		withBody(`PUT /add HTTP/1.1\r\nHost: x\r\n`, ``),
		`GET /a/b/c/d/e HTTP/1.1\r\nHost: x\r\n\r\n`,
		`GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n`,
		`GET /comments HTTP/1.1\r\n\r\n`,
	];
	assert.ok(reqs.length >= 20);
	for (const [i, raw] of reqs.entries()) {
		const r = await rawRequest(port, raw, { timeoutMs: 5000 });
		const line = `#${i} ${JSON.stringify(raw.slice(0, 160))}`;
		assert.ok(r.status >= 400 && r.status < 500, `${line}: status ${r.status}`);
		assert.match(r.headers['content-type'] || '', /application\/json/, line);
		assert.equal(typeof r.json().error, 'string', line);
	}
	assert.equal((await call('GET', '/healthz')).status, 200);
	assert.equal(st.node.proc.exitCode, null, 'node-server still running');
});

test('SQL metacharacters are stored literally, end to end through /add, the broker and /insert', { skip }, async () => {
	const text = `Robert'); DROP TABLE book_reviews;-- "q" \\ %_ $1 ${Date.now()} <img src=x onerror=alert(1)>`;
	const r = await add(text);
	assert.equal(r.status, 200, r.text);
	const row = await waitFor(async () => (await comments()).find((x) => x.content === text), { what: 'the review in /comments' });
	assert.equal(typeof row.id, 'number');
	const stored = await st.pg.query(`SELECT content, event_id FROM book_reviews WHERE id = ${row.id}`);
	assert.deepEqual(stored, [[text, r.json.id]]);
	assert.ok(Number((await st.pg.query('SELECT count(*) FROM book_reviews'))[0][0]) > 4);
});

test('POST /insert answers 503 while db-service is down, and works again after it is back', { skip }, async () => {
	const port = st.db.port;
	await stopClean(st.db);
	st.db = null;
	try {
		const r = await call('POST', '/insert', { headers: insertHeaders(`down-${Date.now()}`), body: JSON.stringify({ reviewText: 'db down' }) });
		assert.equal(r.status, 503, r.text);
		assert.equal(r.headers.get('retry-after'), '1');
		assert.equal((await call('GET', '/books')).status, 503);
		// the last snapshot is still served
		assert.equal((await call('GET', '/comments')).status, 200);
		// readiness is node-server's own state (issue 9): the snapshot is loaded, so ready
		assert.equal((await call('GET', '/readyz')).status, 200);
	} finally {
		st.db = await startServer(binPath('db-service'), { port, env: { DATABASE_URL: st.pg.url, LOG_LEVEL: 'warn' }, readyPath: '/readyz' });
	}
	const again = await call('POST', '/insert', { headers: insertHeaders(`up-${Date.now()}`), body: JSON.stringify({ reviewText: 'db back' }) });
	assert.equal(again.status, 200, again.text);
	await waitFor(async () => (await call('GET', '/readyz')).status === 200, { what: 'ready again' });
});
