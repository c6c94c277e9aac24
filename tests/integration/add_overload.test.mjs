// POST /add when the broker is full (issue 14, §2): node-server answers 503 with Retry-After
// and the JSON error "overloaded", not 502, so a sender knows a retry later will do; the page's
// rule for that retry (frontend-static/lib.js addRetryDelayMs) is checked beside it, and so is
// its refusal to retry a 503 "unavailable" (a K_SINK timeout: the broker may have the event).
// Real parts: local-broker with BROKER_QUEUE_MAX=2 (one event fills it: both Triggers match),
// a subscriber that holds every delivery, node-server with K_SINK = the broker.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, binPath, freePort, stopClean, repoRoot, waitFor } from './lib/proc.mjs';
import { startReceiver } from './lib/receiver.mjs';
import { pageSkipReason, launchChromium } from './lib/page.mjs';
import { ADD_MAX_ATTEMPTS, addRetryDelayMs, errorCode } from '../../frontend-static/lib.js';

const dirs = [];
after(() => {
	for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function add(base, id) {
	return fetch(`${base}/add`, {
		method: 'POST',
		headers: {
			'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-type': 'new-review-comment',
			'ce-source': 'overload-test', 'ce-id': id,
		},
		body: JSON.stringify({ reviewText: `review ${id}` }),
	});
}

// local-broker with BROKER_QUEUE_MAX=2 and a subscriber that holds every delivery until
// release(), and node-server (serving the page) with K_SINK = the broker. close() stops all.
async function startFullBroker() {
	let release;
	const held = new Promise((r) => { release = r; });
	const sub = await startReceiver(async () => { await held; return { status: 202 }; });
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'add-overload-'));
	dirs.push(dir);
	const nodePort = await freePort();
	const st = { sub, release, broker: null, node: null };
	st.close = async () => {
		release();
		if (st.node) await stopClean(st.node);
		if (st.broker) await stopClean(st.broker);
		await sub.close();
	};
	try {
		st.broker = await startServer(binPath('local-broker'), {
			env: {
				DATA_DIR: dir, BROKER_MANIFESTS: path.join(repoRoot, 'k8s/base/eventing'), BROKER_QUEUE_MAX: '2',
				BROKER_SERVICES: ['node-server', 'file-sink', 'dead-letter-logger', 'bad-word-filter', 'sentiment-analysis']
					.map((name) => `${name}=${sub.url}`).join(','),
				BROKER_SHUTDOWN_GRACE: 'PT0S',
			},
			readyPath: '/healthz',
		});
		st.node = await startServer(binPath('node-server'), {
			env: {
				K_SINK: `${st.broker.url}/bookstore/bookstore-broker`, DB_SERVICE_URL: `http://127.0.0.1:${await freePort()}`,
				FRONTEND_DIR: path.join(repoRoot, 'frontend-static'),
			},
			port: nodePort, readyPath: '/healthz',
		});
	} catch (err) {
		await st.close();
		throw err;
	}
	return st;
}

test('POST /add: 503 with Retry-After (not 502) while the broker queue is full; 200 again once it drains', async () => {
	const st = await startFullBroker();
	const { sub, node, release } = st;
	try {
		const first = await add(node.url, 'ov-1');
		assert.equal(first.status, 200, await first.text());
		await waitFor(() => sub.requests.length >= 2, { what: 'both deliveries of the first event held' });

		const full = await add(node.url, 'ov-2');
		const body = await full.json();
		assert.equal(full.status, 503, JSON.stringify(body));
		assert.equal(full.headers.get('retry-after'), '1');
		assert.equal(body.error, 'overloaded');
		assert.match(body.message, /broker is full/);
		assert.equal(addRetryDelayMs(full.status, body.error, full.headers.get('retry-after'), 1), 1000,
			'the page waits the Retry-After and sends the review again');

		release();
		await waitFor(async () => (await add(node.url, 'ov-2')).status === 200,
			{ timeoutMs: 20000, intervalMs: 200, what: 'the same review accepted once the queue drained' });
	} finally {
		await st.close();
	}
});

// The page in Chromium: a review sent while the broker is full is answered 503 overloaded; the
// page says it will try again, sends the same event (same ce-id) after the Retry-After, and
// the checklist completes once the broker has room. (Before this test, only the retry rule,
// addRetryDelayMs(), was checked: a page that gave up at the first 503 passed.)
const pageSkip = pageSkipReason();
test('page: a review sent while the broker is full is sent again with the same id, and accepted', { skip: pageSkip, timeout: 60000 }, async () => {
	const st = await startFullBroker();
	let browser;
	try {
		const first = await add(st.node.url, 'ov-page-1');
		assert.equal(first.status, 200, await first.text());
		await waitFor(() => st.sub.requests.length >= 2, { what: 'both deliveries of the first event held' });
		browser = await launchChromium();
		const page = await browser.context.newPage();
		const adds = [];
		page.on('response', async (r) => {
			if (new URL(r.url()).pathname === '/add')
				adds.push({ status: r.status(), id: (await r.request().allHeaders())['ce-id'] });
		});
		assert.equal((await page.goto(`${st.node.url}/`, { waitUntil: 'load' })).status(), 200);
		await page.getByTestId('review-textarea').fill(`Sent while the broker is full ${Date.now()}`);
		await page.getByTestId('review-submit').click();
		await page.waitForFunction(() => /trying again/.test(document.querySelector('[data-testid="step-sent"]')?.textContent || ''),
			null, { timeout: 10000 });
		st.release(); // the broker drains: the next attempt finds room
		await page.waitForSelector('[data-testid="checklist"][data-state="ok"]', { timeout: 20000 });
		assert.equal(await page.getByTestId('step-accepted').getAttribute('data-state'), 'ok');
		await waitFor(() => adds.at(-1)?.status === 200, { what: 'the last /add answer seen' });
		assert.ok(adds.length >= 2 && adds.length <= ADD_MAX_ATTEMPTS, `${adds.length} attempts`);
		assert.equal(adds[0].status, 503);
		assert.equal(new Set(adds.map((a) => a.id)).size, 1, `one event id: ${adds.map((a) => a.id)}`);
	} finally {
		if (browser) await browser.close();
		await st.close();
	}
});

// K_SINK answers too late: the broker (here a receiver that holds its answer past
// K_SINK_TIMEOUT_MS) has the event, node-server answers 503 "unavailable" with Retry-After.
// node-server forwards every /add under a fresh id, so the page must not send that review
// again: a second event would be a second review, which no sink can tell from the first.
test('POST /add: a K_SINK timeout is 503 unavailable, which the page does not retry (the broker may have the event)', async () => {
	let release;
	const held = new Promise((r) => { release = r; });
	const sink = await startReceiver(async () => { await held; return { status: 202 }; });
	let node;
	try {
		node = await startServer(binPath('node-server'), {
			env: { K_SINK: sink.url, K_SINK_TIMEOUT_MS: '300', DB_SERVICE_URL: `http://127.0.0.1:${await freePort()}` },
			readyPath: '/healthz',
		});
		const res = await add(node.url, 'late-1');
		const text = await res.text();
		assert.equal(res.status, 503, text);
		assert.equal(errorCode(text), 'unavailable', text);
		assert.ok(res.headers.get('retry-after'), 'node-server still says when to come back');
		assert.equal(sink.requests.length, 1, 'the broker got the event before the timeout');
		assert.equal(addRetryDelayMs(res.status, errorCode(text), res.headers.get('retry-after'), 1), null,
			'the page does not send a second copy of a review the broker may have taken');
	} finally {
		release();
		if (node) await stopClean(node);
		await sink.close();
	}
});

test('page: retries only a 503 overloaded with Retry-After, at most ADD_MAX_ATTEMPTS times, waiting 1–10 s', () => {
	const now = Date.parse('2026-01-01T00:00:00Z');
	const full = 'overloaded';
	assert.equal(addRetryDelayMs(503, full, '1', 1, now), 1000);
	assert.equal(addRetryDelayMs(503, full, ' 3 ', 2, now), 3000);
	assert.equal(addRetryDelayMs(503, full, '0', 1, now), 1000, 'at least 1 s');
	assert.equal(addRetryDelayMs(503, full, '120', 1, now), 10000, 'capped at 10 s');
	assert.equal(addRetryDelayMs(503, full, 'Thu, 01 Jan 2026 00:00:04 GMT', 1, now), 4000, 'an HTTP date');
	assert.equal(addRetryDelayMs(503, full, '1', ADD_MAX_ATTEMPTS, now), null, 'no attempt past the last');
	assert.equal(addRetryDelayMs(503, full, null, 1, now), null, 'no Retry-After header');
	assert.equal(addRetryDelayMs(503, full, 'soon', 1, now), null);
	for (const error of ['unavailable', '', 'internal'])
		assert.equal(addRetryDelayMs(503, error, '1', 1, now), null, `503 ${error || 'without an error code'}`);
	for (const status of [200, 400, 429, 500, 502, 504])
		assert.equal(addRetryDelayMs(status, full, '1', 1, now), null, `HTTP ${status}`);
	assert.equal(errorCode('{"error":"overloaded","message":"x"}'), 'overloaded');
	assert.equal(errorCode('not json'), '');
	assert.equal(errorCode('{"error":7}'), '');
});
