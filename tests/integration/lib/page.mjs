// page.mjs: the page in a real browser, shared by browser.test.mjs (the `make run` wiring) and
// containers.test.mjs (the node-server container): headless Debian chromium driven by
// playwright-core.
//
//   import { pageSkipReason, launchChromium, checkPage } from './lib/page.mjs';
//   const skip = pageSkipReason();                 // a string when chromium or playwright is missing
//   const browser = await launchChromium();         // { context, close() }
//   await checkPage(browser.context, 'http://127.0.0.1:PORT', { screenshot: 'bookstore.png' });
//
// checkPage() loads the page from node-server, sees the book from the API, posts a review that
// travels /add → broker → the moderation Sequence → Trigger → /insert → db-service and arrives
// over the WebSocket with the checklist complete and its sentiment's face, checks that markup in a review renders as text, and saves a screenshot
// under build/screenshots/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './proc.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];

let playwright = null;
try {
	playwright = await import('playwright-core');
} catch {
	playwright = null;
}

/** Why the page cannot be driven here, or false. */
export function pageSkipReason() {
	if (!fs.existsSync(CHROMIUM)) return `chromium not installed at ${CHROMIUM}`;
	if (!playwright) return 'playwright-core is not installed in node_modules';
	return false;
}

export async function launchChromium() {
	const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bookstore-chromium-'));
	const context = await playwright.chromium.launchPersistentContext(userDataDir, {
		executablePath: CHROMIUM,
		headless: true,
		args: ARGS,
		viewport: { width: 1280, height: 1000 },
	});
	return {
		context,
		close: async () => {
			await context.close().catch(() => {});
			fs.rmSync(userDataDir, { recursive: true, force: true });
		},
	};
}

async function submit(page, text) {
	await page.getByTestId('review-textarea').fill(text);
	await page.getByTestId('review-submit').click();
	await page.waitForSelector('[data-testid="checklist"][data-state="ok"]', { timeout: 10000 });
}

export async function checkPage(context, url, { screenshot = 'bookstore.png' } = {}) {
	const page = await context.newPage();
	const dialogs = [];
	const errors = [];
	page.on('dialog', async (d) => {
		dialogs.push(d.message());
		await d.dismiss();
	});
	page.on('pageerror', (e) => errors.push(e.message));
	const res = await page.goto(`${url}/`, { waitUntil: 'load' });
	assert.equal(res.status(), 200);

	// the book comes from GET /books (db-service)
	await page.waitForSelector('[data-testid="book"][data-state="ready"]', { timeout: 10000 });
	assert.equal(await page.getByTestId('book-title').textContent(),
		'Building serverless applications on Knative');
	assert.equal(await page.getByTestId('book-isbn').textContent(), '978-1098142070');

	// the live list over the WebSocket, seeded rows included
	await page.waitForSelector('[data-testid="connection-badge"][data-state="live"]', { timeout: 10000 });
	await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="review-content"]')]
		.some((e) => e.textContent === 'This book is great!'), null, { timeout: 10000 });

	// post a review: the checklist completes and the review arrives through the broker
	const text = `A wonderful browser review ${Date.now()}`;
	await submit(page, text);
	for (const step of ['packed', 'sent', 'accepted'])
		assert.equal(await page.getByTestId(`step-${step}`).getAttribute('data-state'), 'ok', step);
	const item = page.getByTestId('review-item').filter({ hasText: text });
	await item.waitFor({ timeout: 10000 });
	assert.equal(await item.getByTestId('review-content').textContent(), text);
	// the moderation Sequence's sentiment-analysis step scored it: the face the seeded ones have
	await page.waitForFunction((t) => [...document.querySelectorAll('[data-testid="review-item"]')]
		.some((li) => li.textContent.includes(t) && li.dataset.sentiment === 'positive'), text, { timeout: 10000 });
	assert.equal(await item.getByTestId('review-sentiment').textContent(), '😃');
	assert.equal(await item.getByTestId('review-sentiment').getAttribute('aria-label'), 'Positive sentiment');

	// markup in a review is shown as text: no dialog, no <img> inside the list
	await page.getByTestId('review-reset').click();
	const evil = `<img src=x onerror=alert(1)> ${Date.now()}`;
	await submit(page, evil);
	const evilItem = page.getByTestId('review-item').filter({ hasText: evil });
	await evilItem.waitFor({ timeout: 10000 });
	assert.equal(await evilItem.getByTestId('review-content').textContent(), evil);
	assert.equal(await page.locator('[data-testid="review-list"] img[src="x"]').count(), 0);
	assert.equal(await page.evaluate(() => document.querySelectorAll('#review-list img[onerror]').length), 0);
	assert.deepEqual(dialogs, []);
	assert.deepEqual(errors, []);

	const dir = path.join(repoRoot, 'build/screenshots');
	fs.mkdirSync(dir, { recursive: true });
	const file = path.join(dir, screenshot);
	await page.screenshot({ path: file, fullPage: true });
	assert.ok(fs.statSync(file).size > 10000, 'a real screenshot was written');
	await page.close();
	return { text, evil };
}

/** The page's live journey (the review just posted), for locators. */
export const JOURNEY_LIVE = '[data-testid="journey-live"] [data-testid="journey"]';

/**
 * Opens the page at url in a new tab of browser (launchChromium()), posts a review of text
 * through the form, waits for its live journey, and returns { page, id (the journey's event
 * id), errors (the page's uncaught errors, to assert empty) }. clockSkewMs shifts the page's
 * Date.now() by that much, as a browser whose clock is off the server's would read it.
 */
export async function postReview(browser, url, text, { clockSkewMs = 0 } = {}) {
	const page = await browser.context.newPage();
	const errors = [];
	page.on('pageerror', (e) => errors.push(e.message));
	if (clockSkewMs) {
		await page.addInitScript((skew) => {
			const real = Date.now.bind(Date);
			Date.now = () => real() + skew;
		}, clockSkewMs);
	}
	assert.equal((await page.goto(`${url}/`, { waitUntil: 'load' })).status(), 200);
	await page.waitForSelector('[data-testid="connection-badge"][data-state="live"]', { timeout: 15000 });
	await page.getByTestId('review-textarea').fill(text);
	await page.getByTestId('review-submit').click();
	await page.waitForSelector('[data-testid="checklist"][data-state="ok"]', { timeout: 15000 });
	await page.waitForSelector(JOURNEY_LIVE, { timeout: 15000 });
	const id = await page.locator(JOURNEY_LIVE).getAttribute('data-journey-id');
	assert.match(id, /^[0-9a-f-]{36}$/);
	return { page, id, errors };
}

/** Saves a full-page screenshot as build/screenshots/<name> and checks one was written. */
export async function shot(page, name) {
	const dir = path.join(repoRoot, 'build/screenshots');
	fs.mkdirSync(dir, { recursive: true });
	const file = path.join(dir, name);
	await page.screenshot({ path: file, fullPage: true });
	assert.ok(fs.statSync(file).size > 10000, 'a real screenshot was written');
}
