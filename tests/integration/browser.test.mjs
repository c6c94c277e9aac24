// The page in a real browser: headless Debian chromium driven by playwright-core, against the
// whole `make run` wiring (lib/run.mjs: PostgreSQL, db-service, node-server, the local broker
// reading k8s/base/eventing, file-sink, dead-letter-logger, the two moderation steps). Loads the
// page from node-server, sees the book from the API, posts a review that travels /add → broker →
// the moderation Sequence → Trigger → /insert → db-service and arrives over the WebSocket with
// the checklist complete and its sentiment, checks that markup in
// a review renders as text, and saves a screenshot under build/screenshots/ (lib/page.mjs;
// containers.test.mjs runs the same check against the node-server container).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startRun, runSkipReason } from './lib/run.mjs';
import { repoRoot, waitFor } from './lib/proc.mjs';
import { pageSkipReason, launchChromium, checkPage } from './lib/page.mjs';

const skip = pageSkipReason() || runSkipReason();
if (skip) console.log(`# skipping browser tests: ${skip}`);

let st;
let browser;

before(async () => {
	if (skip) return;
	st = await startRun({ env: { FAILURE_RATE: '0', LOG_LEVEL: 'warn' } });
	browser = await launchChromium();
});

after(async () => {
	if (browser) await browser.close();
	if (st) await st.cleanup();
});

test('the page loads from node-server, shows the book, posts a review and shows it live', { skip }, async () => {
	await checkPage(browser.context, st.url);
});

// Each new review shows the face of its sentiment (positive, neutral, negative), as the seeded
// ones do; a review that bad-word-filter marks bad never shows up.
test('new reviews show their sentiment; a bad review never appears', { skip, timeout: 60000 }, async () => {
	const page = await browser.context.newPage();
	await page.goto(`${st.url}/`, { waitUntil: 'load' });
	await page.waitForSelector('[data-testid="connection-badge"][data-state="live"]', { timeout: 10000 });
	const stamp = Date.now();
	const bad = `What a load of sh1t ${stamp}`;
	const cases = [
		[`Terrible, boring and badly written ${stamp}`, 'negative', '😡'],
		[`The book has ten chapters ${stamp}`, 'neutral', '😐'],
		[`I love it, a great read ${stamp}`, 'positive', '😃'],
	];
	// the bad one first: once the later ones are shown, it has had its chance to appear
	for (const text of [bad, ...cases.map((c) => c[0])]) {
		await page.getByTestId('review-textarea').fill(text);
		await page.getByTestId('review-submit').click();
		await page.waitForSelector('[data-testid="checklist"][data-state="ok"]', { timeout: 10000 });
		await page.getByTestId('review-reset').click();
	}
	for (const [text, sentiment, face] of cases) {
		const item = page.getByTestId('review-item').filter({ hasText: text });
		await item.waitFor({ timeout: 15000 });
		await page.waitForFunction(([t, s]) => [...document.querySelectorAll('[data-testid="review-item"]')]
			.some((li) => li.textContent.includes(t) && li.dataset.sentiment === s), [text, sentiment], { timeout: 10000 });
		assert.equal(await item.getByTestId('review-sentiment').textContent(), face, text);
	}
	await waitFor(() => fs.existsSync(st.badReviewsLog) && st.lines(st.badReviewsLog).some((l) => l.review?.reviewText === bad),
		{ timeoutMs: 15000, what: 'the bad review in bad-reviews.log' });
	assert.equal(await page.getByTestId('review-item').filter({ hasText: bad }).count(), 0, 'the bad review is not on the page');
	const dir = path.join(repoRoot, 'build/screenshots');
	fs.mkdirSync(dir, { recursive: true });
	await page.screenshot({ path: path.join(dir, 'bookstore-sentiments.png'), fullPage: true });
	await page.close();
});

// Last: every service of the run stops on SIGTERM, and no log holds a sanitizer report (a leak
// is reported at exit, so the logs are read after the stop).
test('the run stops cleanly, without a sanitizer report', { skip, timeout: 120000 }, async () => {
	const res = await st.stop();
	assert.equal(res.code, 0, res.stdout);
	st.assertLogsClean();
});
