// node-server's journey endpoints (services/node-server/journey.h) against the real binary:
// POST /journey (every malformed body of lib/malformed.mjs gets a 400 with a JSON error and
// keeps nothing), GET /journey/{id}, GET /delivery with the delivery spec and TRACE_UI_URL,
// the WebSocket follow protocol (only followers get a journey's frames; a bad message gets an
// error frame and the socket stays open), and the settings' validation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import WebSocket from 'ws';
import { startServer, binPath, freePort, waitFor, assertClean } from './lib/proc.mjs';
import { MALFORMED_JOURNEYS } from './lib/malformed.mjs';

let ns;
before(async () => {
	ns = await startServer(binPath('node-server'), {
		env: {
			LOG_LEVEL: 'warn', DB_SERVICE_URL: `http://127.0.0.1:${await freePort()}`,
			DELIVERY_RETRY: '3', DELIVERY_BACKOFF_POLICY: 'linear', DELIVERY_BACKOFF_DELAY: 'PT0.5S',
			TRACE_UI_URL: 'http://localhost:16686/trace/{traceId}', JOURNEY_KEEP: '4',
		},
	});
});
after(async () => {
	if (!ns) return;
	const r = await ns.stop();
	assert.equal(r.code, 0, r.stderr);
	assertClean(r.stderr);
});

const post = (body) => fetch(`${ns.url}/journey`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
const attempt = (id, o = {}) => ({ id, source: 'file-sink', kind: 'attempt', time: Date.now(), attempt: 1, outcome: 'error simulated', code: 500, ...o });

for (const [name, body, code] of MALFORMED_JOURNEYS) {
	test(`POST /journey, malformed: ${name} -> 400 ${code}`, async () => {
		const res = await post(body);
		assert.equal(res.status, 400);
		assert.match(res.headers.get('content-type'), /^application\/json/);
		const j = await res.json();
		assert.equal(j.error, code);
		assert.equal(typeof j.message, 'string');
		assert.equal((await fetch(`${ns.url}/journey/j-1`)).status, 404, 'nothing of the batch was kept');
	});
}

test('POST /journey without a JSON content type is 415', async () => {
	const res = await fetch(`${ns.url}/journey`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' });
	assert.equal(res.status, 415);
	assert.equal((await res.json()).error, 'unsupported_media_type');
});

test('a batch is kept: GET /journey/{id} shows its steps, counters reach GET /delivery', async () => {
	const res = await post(JSON.stringify({ records: [
		attempt('kept-1', { trace_id: 'ab'.repeat(16), policy: 'FAILURE_RATE=0.5', counters: { saved: 3, error_simulated: 4 } }),
		{ id: 'kept-1', source: 'dead-letter-logger', kind: 'dead-letter', time: Date.now(), destination: 'http://127.0.0.1:1', code: 500, response: '{"error":"x"}', counters: { dead_letters: 1 } },
	] }));
	assert.equal(res.status, 202);
	assert.deepEqual(await res.json(), { accepted: 2 });
	const j = await (await fetch(`${ns.url}/journey/kept-1`)).json();
	assert.equal(j.id, 'kept-1');
	assert.equal(j.trace_id, 'ab'.repeat(16));
	assert.equal(j.posted, null, 'node-server never saw this one posted');
	assert.deepEqual(j.steps.map((s) => s.kind), ['attempt', 'dead-letter']);
	assert.equal(j.steps[1].code, 500);
	assert.equal(j.steps[0].counters, undefined, 'counters go to /delivery, not the steps');
	const d = await (await fetch(`${ns.url}/delivery`)).json();
	assert.deepEqual(d.delivery, { retry: 3, backoffPolicy: 'linear', backoffDelay: 'PT0.500S', backoffDelayMs: 500 });
	assert.equal(d.traceUrl, 'http://localhost:16686/trace/{traceId}');
	assert.equal(d.senders['file-sink'].counters.error_simulated, 4);
	assert.equal(d.senders['file-sink'].policy, 'FAILURE_RATE=0.5');
	assert.equal(d.senders['dead-letter-logger'].counters.dead_letters, 1);
});

test('GET /journey/{id} of an id not kept is a JSON 404; JOURNEY_KEEP bounds what is kept', async () => {
	const res = await fetch(`${ns.url}/journey/never-seen`);
	assert.equal(res.status, 404);
	assert.equal((await res.json()).error, 'not_found');
	for (let i = 0; i < 5; i++) assert.equal((await post(JSON.stringify({ records: [attempt(`ring-${i}`)] }))).status, 202);
	assert.equal((await fetch(`${ns.url}/journey/ring-0`)).status, 404, 'the oldest of 5 is evicted (JOURNEY_KEEP=4)');
	assert.equal((await fetch(`${ns.url}/journey/ring-4`)).status, 200);
});

function wsOpen() {
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(`${ns.url.replace('http', 'ws')}/comments`, { perMessageDeflate: false });
		const frames = [];
		ws.on('message', (d) => frames.push(JSON.parse(String(d))));
		ws.once('open', () => resolve({ ws, frames }));
		ws.once('error', reject);
	});
}

test('WebSocket: only the sockets that follow an id get its journey, live', async () => {
	const a = await wsOpen();
	const b = await wsOpen();
	try {
		a.ws.send(JSON.stringify({ follow: ['live-1'] }));
		// the follow is registered once a frame for an existing journey comes back: use one
		assert.equal((await post(JSON.stringify({ records: [attempt('live-1')] }))).status, 202);
		await waitFor(() => a.frames.some((f) => f.journey && f.journey.id === 'live-1'), { what: 'the follower gets the journey' });
		assert.equal((await post(JSON.stringify({ records: [attempt('live-1', { attempt: 2, outcome: 'saved', code: 200 })] }))).status, 202);
		await waitFor(() => a.frames.some((f) => f.journey && f.journey.steps.length === 2), { what: 'the second step' });
		const last = a.frames.filter((f) => f.journey).at(-1).journey;
		assert.deepEqual(last.steps.map((s) => s.attempt), [1, 2]);
		assert.ok(!b.frames.some((f) => f.journey), 'a socket that follows nothing gets no journey frame');
		// a late follower gets the current state at once
		b.ws.send(JSON.stringify({ follow: ['live-1'] }));
		await waitFor(() => b.frames.some((f) => f.journey && f.journey.steps.length === 2), { what: 'the state on follow' });
		// unfollow: no more frames
		a.ws.send(JSON.stringify({ unfollow: ['live-1'] }));
		const before = a.frames.length;
		// the unfollow is processed before the next message on the same socket: a bad one answers
		a.ws.send('{}');
		await waitFor(() => a.frames.some((f) => f.error === 'bad_request'), { what: 'the error frame' });
		assert.equal((await post(JSON.stringify({ records: [attempt('live-1', { attempt: 3 })] }))).status, 202);
		await waitFor(() => b.frames.some((f) => f.journey && f.journey.steps.length === 3), { what: 'b still follows' });
		assert.equal(a.frames.filter((f) => f.journey).length, a.frames.slice(0, before).filter((f) => f.journey).length, 'a unfollowed');
	} finally {
		a.ws.close();
		b.ws.close();
	}
});

// A journey's state goes to a socket once, when it starts following the id: following it
// again sends nothing (before, each follow rendered and sent the whole journey again, up to
// 150 KB, so one socket's burst of follow messages held the hub thread for seconds).
test('WebSocket: following an id again sends nothing more; a change still does', async () => {
	const c = await wsOpen();
	try {
		assert.equal((await post(JSON.stringify({ records: [attempt('again-1')] }))).status, 202);
		for (let i = 0; i < 50; i++) c.ws.send(JSON.stringify({ follow: ['again-1'] }));
		c.ws.send('{}'); // the hub takes a socket's messages in order: its error frame comes last
		await waitFor(() => c.frames.some((f) => f.error === 'bad_request'), { what: 'the error frame after the follows' });
		const states = () => c.frames.filter((f) => f.journey && f.journey.id === 'again-1');
		assert.equal(states().length, 1, 'the state once, on the first follow');
		assert.equal((await post(JSON.stringify({ records: [attempt('again-1', { attempt: 2 })] }))).status, 202);
		await waitFor(() => states().length === 2, { what: 'the change' });
		assert.equal(states()[1].journey.steps.length, 2);
	} finally {
		c.ws.close();
	}
});

test('WebSocket: bad follow messages get an error frame and the socket stays open', async () => {
	const c = await wsOpen();
	try {
		const bad = ['not json', '[]', '{"follow": "x"}', '{"follow": []}', '{"follow": [1]}',
			JSON.stringify({ follow: Array.from({ length: 33 }, (_, i) => `id${i}`) }),
			JSON.stringify({ follow: ['x'.repeat(129)] }), '{"follow": ["a"], "x": 1}', '{"subscribe": ["a"]}'];
		for (const m of bad) c.ws.send(m);
		await waitFor(() => c.frames.filter((f) => f.error === 'bad_request').length === bad.length, { what: 'one error frame per bad message' });
		for (const f of c.frames.filter((x) => x.error)) assert.equal(typeof f.message, 'string');
		assert.equal(c.ws.readyState, WebSocket.OPEN);
	} finally {
		c.ws.close();
	}
});

test('the new settings are validated: a bad one exits 2 naming it', async () => {
	const port = String(await freePort());
	const bad = [
		['DELIVERY_RETRY', '-1'], ['DELIVERY_BACKOFF_POLICY', 'random'], ['DELIVERY_BACKOFF_DELAY', '1s'],
		['JOURNEY_KEEP', '0'], ['TRACE_UI_URL', 'http://jaeger/trace/'], ['TRACE_UI_URL', 'ftp://x/{traceId}'],
	];
	for (const [name, value] of bad) {
		const r = spawnSync(binPath('node-server'), [], { env: { ...process.env, PORT: port, [name]: value }, encoding: 'utf8', timeout: 10000 });
		assert.equal(r.status, 2, `${name}=${value}: ${r.stderr}`);
		assert.match(r.stderr, new RegExp(name));
	}
	for (const svc of ['file-sink', 'dead-letter-logger']) {
		const r = spawnSync(binPath(svc), [], { env: { ...process.env, PORT: port, DATA_DIR: '/tmp', JOURNEY_URL: 'not a url' }, encoding: 'utf8', timeout: 10000 });
		assert.equal(r.status, 2, `${svc}: ${r.stderr}`);
		assert.match(r.stderr, /JOURNEY_URL/);
	}
});
