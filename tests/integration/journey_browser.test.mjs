// Each review's journey on the page, in a real browser (headless Debian chromium driven by
// playwright-core) against the whole `make run` wiring (lib/run.mjs): file-sink and
// dead-letter-logger post their journey records to node-server, which pushes them over the
// WebSocket to the page that posted the review (docs/journey.md). Three runs:
//   - FAIL_FIRST=2: three attempts at about t, t + 1 s and t + 3 s (the Broker's retry 2,
//     exponential from PT1S), a countdown while a retry is pending, then "saved";
//   - FAILURE_RATE=1: the dead letter, with code 500 and file-sink as the destination;
//   - FAILURE_RATE=0: one attempt, saved, stored, the same journey opened from the list, and
//     with tracing on, the link to the event's trace (TRACE_UI_URL).
// Every run checks the page against the events.log lines it reflects, and saves a screenshot
// under build/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRun, runSkipReason, account } from './lib/run.mjs';
import { pageSkipReason, launchChromium, postReview, shot, JOURNEY_LIVE } from './lib/page.mjs';

const skip = pageSkipReason() || runSkipReason();
if (skip) console.log(`# skipping journey browser tests: ${skip}`);

let browser;
let runDir; // one PostgreSQL data directory for the three runs (initdb once)

before(async () => {
	if (skip) return;
	runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bookstore-journey-'));
	fs.chmodSync(runDir, 0o755);
	browser = await launchChromium();
});

after(async () => {
	if (browser) await browser.close();
	if (runDir) fs.rmSync(runDir, { recursive: true, force: true });
});

const live = JOURNEY_LIVE;

async function attemptsOf(page, scope = live) {
	return page.locator(`${scope} [data-testid="journey-attempt"]`).evaluateAll((els) => els.map((e) => ({
		attempt: Number(e.dataset.attempt), outcome: e.dataset.outcome, offset: Number(e.dataset.offsetMs), text: e.textContent,
	})));
}

async function withRun(env, fn) {
	const st = await startRun({ env: { LOG_LEVEL: 'warn', ...env }, runDir });
	try {
		await fn(st);
		st.assertLogsClean();
	} finally {
		await st.cleanup();
	}
}

test('FAIL_FIRST=2: three attempts at about t, t + 1 s, t + 3 s with a countdown, then saved and stored', { skip, timeout: 180000 }, async () => {
	await withRun({ FAILURE_RATE: '0', FAIL_FIRST: '2' }, async (st) => {
		const { page, id, errors } = await postReview(browser, st.url, `Retried twice ${Date.now()}`);
		// while retry 1 or 2 is pending, the page counts down to it
		await page.waitForSelector(`${live} [data-testid="journey-countdown"]`, { timeout: 15000 });
		assert.match(await page.locator(`${live} [data-testid="journey-countdown"]`).textContent(), /next retry \(retry [12]\) in \d+\.\d s|retry [12] due now/);
		await page.waitForSelector(`${live}[data-delivery="saved"]`, { timeout: 30000 });
		const a = await attemptsOf(page);
		console.log(`# attempts: ${JSON.stringify(a.map(({ attempt, outcome, offset }) => ({ attempt, outcome, offset })))}`);
		assert.deepEqual(a.map((x) => [x.attempt, x.outcome]), [[1, 'error simulated'], [2, 'error simulated'], [3, 'saved']]);
		assert.match(a[0].text, /^attempt 1 · 500 error simulated · \+\d+\.\d\d s$/);
		const gap1 = a[1].offset - a[0].offset;
		const gap2 = a[2].offset - a[1].offset;
		// Knative's exponential backoff from PT1S: 1 s before retry 1, 2 s before retry 2
		assert.ok(a[0].offset >= 0 && a[0].offset < 1500, `attempt 1 at +${a[0].offset} ms`);
		assert.ok(gap1 >= 900 && gap1 <= 2500, `retry 1 after ${gap1} ms (1 s expected)`);
		assert.ok(gap2 >= 1900 && gap2 <= 4000, `retry 2 after ${gap2} ms (2 s expected)`);
		const retries = await page.locator(`${live} [data-testid="journey-retry"]`).allTextContents();
		assert.equal(retries.length, 2);
		assert.match(retries[0], /^retry 1 after \d\.\d\d s \(exponential backoff, PT1S: 1 s expected\)$/);
		assert.match(retries[1], /^retry 2 after \d\.\d\d s \(exponential backoff, PT1S: 2 s expected\)$/);
		assert.match(await page.locator(`${live} [data-testid="journey-spec"]`).textContent(), /retry 2, exponential backoff, backoffDelay PT1S/);
		await page.waitForSelector(`${live}[data-stored="yes"]`, { timeout: 15000 });
		await page.waitForSelector(`${live} [data-testid="journey-reply-row"]`, { timeout: 15000 });
		assert.match(await page.locator(`${live} [data-testid="journey-reply-row"]`).textContent(), /^com\.example\.reviews\.inserted \(id [^)]+\)/);
		// the events.log lines it reflects
		const per = account(st, [id]).get(id);
		assert.equal(per.simulated.length, 2);
		assert.equal(per.saved.length, 1);
		assert.equal(per.dead.length, 0);
		await shot(page, 'journey-retries.png');
		assert.deepEqual(errors, []);
		await page.close();
	});
});

test('FAILURE_RATE=1: the dead letter with code 500 and file-sink as the destination', { skip, timeout: 180000 }, async () => {
	await withRun({ FAILURE_RATE: '1' }, async (st) => {
		const { page, id, errors } = await postReview(browser, st.url, `Dead-lettered ${Date.now()}`);
		await page.waitForSelector(`${live}[data-delivery="dead-lettered"]`, { timeout: 30000 });
		const a = await attemptsOf(page);
		assert.deepEqual(a.map((x) => [x.attempt, x.outcome]), [[1, 'error simulated'], [2, 'error simulated'], [3, 'error simulated']]);
		const row = page.locator(`${live} [data-testid="journey-dead-letter"] [data-testid="journey-dead-row"]`).first();
		assert.equal(await row.getAttribute('data-code'), '500');
		const dest = await row.getAttribute('data-destination');
		assert.ok(dest.startsWith(st.sinkUrl), `destination ${dest} is file-sink (${st.sinkUrl})`);
		assert.match(await row.textContent(), /code 500, response .*simulated_failure/);
		// the dead letter in dead-letter-logger's events.log says the same
		const per = account(st, [id]).get(id);
		assert.equal(per.dead.length, 1);
		assert.equal(per.dead[0].error.code, 500);
		assert.equal(per.dead[0].error.destination, dest);
		// the panel: every event dead-lettered, as FAILURE_RATE^(retry+1) = 1 predicts
		await page.waitForFunction(() => Number(document.querySelector('[data-testid="panel-dead"]')?.textContent) >= 1 &&
			document.querySelector('[data-testid="panel-expected"]')?.textContent === '100.0%', null, { timeout: 10000 });
		assert.match(await page.getByTestId('panel-share').textContent(), /^\d+\.\d%$/);
		await shot(page, 'journey-dead-letter.png');
		assert.deepEqual(errors, []);
		await page.close();
	});
});

test('FAILURE_RATE=0: one attempt, saved, stored; the review list opens the same journey; the trace link', { skip, timeout: 180000 }, async () => {
	// tracing on (spans printed as JSON lines), and the page's trace link template
	const env = { FAILURE_RATE: '0', OTEL_TRACES_EXPORTER: 'console', TRACE_UI_URL: 'http://127.0.0.1:16686/trace/{traceId}' };
	await withRun(env, async (st) => {
		const text = `Saved at once ${Date.now()}`;
		const { page, id, errors } = await postReview(browser, st.url, text);
		await page.waitForSelector(`${live}[data-delivery="saved"][data-stored="yes"]`, { timeout: 20000 });
		const a = await attemptsOf(page);
		assert.deepEqual(a.map((x) => [x.attempt, x.outcome]), [[1, 'saved']]);
		assert.equal(await page.locator(`${live} [data-testid="journey-retry"]`).count(), 0);
		assert.deepEqual(await page.locator(`${live} [data-testid="journey-insert"]`).evaluateAll((els) => els.map((e) => e.dataset.outcome)), ['stored']);
		const per = account(st, [id]).get(id);
		assert.equal(per.saved.length, 1);
		assert.equal(per.simulated.length, 0);
		// the trace link names the event's own trace (its traceparent in events.log)
		const traceId = per.saved[0].event.traceparent.split('-')[1];
		assert.equal(await page.locator(`${live} [data-testid="journey-trace"]`).getAttribute('href'), `http://127.0.0.1:16686/trace/${traceId}`);
		// the same journey from the reviews list (GET /journey/{id})
		const item = page.getByTestId('review-item').filter({ hasText: text });
		await item.waitFor({ timeout: 15000 });
		await item.getByTestId('review-journey').click();
		const trip = item.locator('[data-testid="review-trip"] [data-testid="journey"]');
		await trip.waitFor({ timeout: 10000 });
		assert.equal(await trip.getAttribute('data-journey-id'), id);
		assert.equal(await trip.getAttribute('data-delivery'), 'saved');
		// the panel polls GET /delivery: FAILURE_RATE^(retry+1) = 0
		await page.waitForFunction(() => document.querySelector('[data-testid="panel-expected"]')?.textContent === '0.0%', null, { timeout: 10000 });
		assert.ok(Number(await page.getByTestId('panel-saved').textContent()) >= 1);
		await shot(page, 'journey-saved.png');
		assert.deepEqual(errors, []);
		await page.close();
	});
});
