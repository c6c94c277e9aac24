// The page's journey when file-sink's records do not all arrive (journey_client drops a record
// when its queue is full or node-server is away): the retries are numbered from file-sink's own
// attempt count, not from the records' positions, and the countdown counts the attempts made.
// Real parts: node-server (its POST /journey, WebSocket and page) and Chromium; K_SINK is a
// receiver that takes the event (202), and the journey records are posted to node-server as
// file-sink would post them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, binPath, freePort, stopClean } from './lib/proc.mjs';
import { startReceiver } from './lib/receiver.mjs';
import { pageSkipReason, launchChromium, postReview, JOURNEY_LIVE } from './lib/page.mjs';

const skip = pageSkipReason();
if (skip) console.log(`# skipping the journey records browser test: ${skip}`);

let sink, ns, browser;
before(async () => {
	if (skip) return;
	sink = await startReceiver(() => ({ status: 202 }));
	ns = await startServer(binPath('node-server'), {
		env: {
			LOG_LEVEL: 'warn', K_SINK: sink.url, DB_SERVICE_URL: `http://127.0.0.1:${await freePort()}`,
			DELIVERY_RETRY: '2', DELIVERY_BACKOFF_POLICY: 'exponential', DELIVERY_BACKOFF_DELAY: 'PT1S',
		},
	});
	browser = await launchChromium();
});
after(async () => {
	if (browser) await browser.close();
	if (ns) await stopClean(ns);
	if (sink) await sink.close();
});

function records(list) {
	return fetch(`${ns.url}/journey`, {
		method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records: list }),
	});
}

test('attempt 1\'s record lost: the retry between attempts 2 and 3 is retry 2, and no retry is left after 3', { skip, timeout: 60000 }, async () => {
	const { page, id, errors } = await postReview(browser, ns.url, `Records lost ${Date.now()}`);
	const t = Date.now();
	const attempt = (n, at) => ({ id, source: 'file-sink', kind: 'attempt', time: at, attempt: n, outcome: 'error simulated', code: 500 });
	const res = await records([attempt(2, t + 1000), attempt(3, t + 3000)]);
	assert.equal(res.status, 202, await res.text());
	await page.waitForSelector(`${JOURNEY_LIVE} [data-testid="journey-retry"]`, { timeout: 15000 });
	const retries = await page.locator(`${JOURNEY_LIVE} [data-testid="journey-retry"]`).allTextContents();
	assert.equal(retries.length, 1, retries.join('\n'));
	assert.match(retries[0], /^retry 2 after 2\.00 s \(exponential backoff, PT1S: 2 s expected\)/);
	const journey = await page.locator(JOURNEY_LIVE).textContent();
	assert.match(journey, /No retries left: the broker sends the event to the dead-letter sink\./);
	assert.equal(await page.locator(`${JOURNEY_LIVE} [data-testid="journey-countdown"]`).count(), 0,
		'no countdown to a retry that will not come');
	assert.deepEqual(errors, []);
	await page.close();
});
