// The page's journeys against real parts: PostgreSQL, db-service and node-server (its POST
// /journey, WebSocket and page; lib/stack.mjs), with a receiver standing in for the broker that
// forwards each event to /insert as a Trigger does, and Chromium. The journey records are
// posted to node-server as file-sink would post them:
//   - records lost on the way (journey_client drops a record when its queue is full): the
//     retries are numbered from file-sink's attempt count, the countdown counts the attempts;
//   - one review shown twice (under the form and in the list) updates in both places;
//   - the countdown ticks without redrawing the journey (its rows stay the same nodes);
//   - a Journey button pressed twice while the journey loads leaves it closed and unfollowed;
//   - a deleted review's open journey is unfollowed (the socket's follow slots are bounded);
//   - a review deleted while its journey loads is not followed when the journey comes;
//   - a 33rd journey closed while it loads does not drop the oldest open one;
//   - a browser clock hours off node-server's: the countdown counts on node-server's "now".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, stackSkipReason } from './lib/stack.mjs';
import { pageSkipReason, launchChromium, postReview, JOURNEY_LIVE } from './lib/page.mjs';
import { waitFor } from './lib/proc.mjs';

const skip = pageSkipReason() || stackSkipReason();
if (skip) console.log(`# skipping the journey records browser tests: ${skip}`);

let st, browser;
before(async () => {
	if (skip) return;
	st = await startStack({
		forward: true,
		nodeEnv: { DELIVERY_RETRY: '2', DELIVERY_BACKOFF_POLICY: 'exponential', DELIVERY_BACKOFF_DELAY: 'PT1S' },
	});
	browser = await launchChromium();
});
after(async () => {
	if (browser) await browser.close();
	if (st) await st.stop();
});

const attempt = (id, n, time, outcome = 'error simulated', code = 500) =>
	({ id, source: 'file-sink', kind: 'attempt', time, attempt: n, outcome, code });

/** Posts a review through the page and waits for its item in the list: {page, id, errors, item}. */
async function postListed(prefix) {
	const text = `${prefix} ${Date.now()}`;
	const posted = await postReview(browser, st.url, text);
	const item = posted.page.getByTestId('review-item').filter({ hasText: text });
	await item.waitFor({ timeout: 15000 });
	return { ...posted, item };
}

/** Stores n reviews "<tag> [i]" through /insert, as the Trigger forwards them (each has a journey). */
async function insertReviews(tag, n) {
	for (let i = 0; i < n; i++) {
		const res = await fetch(`${st.url}/insert`, {
			method: 'POST',
			headers: {
				'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-type': 'moderated-comment',
				'ce-source': 'sentiment-analysis', 'ce-id': `${tag.replace(/ /g, '-')}-${i}`,
			},
			body: JSON.stringify({ reviewText: `${tag} [${i}]` }),
		});
		assert.equal(res.status, 200, await res.text());
	}
}

/**
 * Opens the page in a new tab: { page, errors, follows (the follow and unfollow frames its
 * WebSockets sent, parsed, in order), answered() (how many GET /reviews/{id}/journey answers
 * the page has read: counted in a task queued when the answer's JSON is read, so after the
 * promise continuations that follow the journey, or not) }.
 */
async function openPage() {
	const page = await browser.context.newPage();
	const errors = [];
	const follows = [];
	page.on('pageerror', (e) => errors.push(e.message));
	page.on('websocket', (ws) => ws.on('framesent', (f) => {
		try {
			const msg = JSON.parse(String(f.payload));
			if (msg && (msg.follow || msg.unfollow)) follows.push(msg);
		} catch { /* not a follow frame */ }
	}));
	await page.addInitScript(() => {
		window.journeyAnswers = 0;
		const json = Response.prototype.json;
		Response.prototype.json = function () {
			const p = json.call(this);
			if (/\/reviews\/[^/]+\/journey$/.test(new URL(this.url).pathname))
				p.finally(() => setTimeout(() => { window.journeyAnswers++; }, 0)).catch(() => {});
			return p;
		};
	});
	assert.equal((await page.goto(`${st.url}/`, { waitUntil: 'load' })).status(), 200);
	await page.waitForSelector('[data-testid="connection-badge"][data-state="live"]', { timeout: 15000 });
	return { page, errors, follows, answered: () => page.evaluate(() => window.journeyAnswers) };
}

/** Holds the next GET /reviews/{id}/journey until release(); asked() says whether it was asked. */
async function holdNextJourney(page) {
	let release;
	const held = new Promise((r) => { release = r; });
	let asked = 0;
	await page.route('**/reviews/*/journey', async (route) => {
		if (++asked === 1) await held;
		await route.continue();
	});
	return { release, asked: () => asked };
}

const TRIP_JOURNEY = '[data-testid="review-trip"] [data-testid="journey"]';

function records(list) {
	return fetch(`${st.url}/journey`, {
		method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records: list }),
	});
}

test('attempt 1\'s record lost: the retry between attempts 2 and 3 is retry 2, and no retry is left after 3', { skip, timeout: 60000 }, async () => {
	const { page, id, errors } = await postReview(browser, st.url, `Records lost ${Date.now()}`);
	const t = Date.now();
	const res = await records([attempt(id, 2, t + 1000), attempt(id, 3, t + 3000)]);
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

test('a review shown under the form and in the list: both follow it, the countdown ticks without redrawing', { skip, timeout: 60000 }, async () => {
	const { page, id, errors, item } = await postListed('Shown twice');
	await item.getByTestId('review-journey').click();
	const trip = '[data-testid="review-trip"] [data-testid="journey"]';
	await item.locator(trip).waitFor({ timeout: 10000 });

	// attempt 1 failed just now: retrying, with a countdown to retry 1 in both places
	const t = Date.now();
	assert.equal((await records([attempt(id, 1, t)])).status, 202);
	const live = page.locator(JOURNEY_LIVE);
	await page.waitForSelector(`${JOURNEY_LIVE} [data-testid="journey-countdown"]`, { timeout: 10000 });
	await item.locator(`${trip} [data-testid="journey-countdown"]`).waitFor({ timeout: 10000 });

	// the ticker changes the countdown's text, not the journey: its rows stay the same nodes
	const row = await live.locator('[data-testid="journey-attempt"]').elementHandle();
	const first = await live.locator('[data-testid="journey-countdown"]').textContent();
	await waitFor(async () => (await live.locator('[data-testid="journey-countdown"]').textContent()) !== first,
		{ timeoutMs: 5000, what: 'the countdown to tick' });
	assert.equal(await row.evaluate((e) => e.isConnected), true, 'the attempt row was not redrawn by the tick');
	assert.equal(await live.locator('[data-testid="journey-countdown"]').getAttribute('aria-live'), 'off');

	// attempt 2 saved: both views show it
	assert.equal((await records([attempt(id, 2, Date.now(), 'saved', 200)])).status, 202);
	await page.waitForSelector(`${JOURNEY_LIVE}[data-delivery="saved"]`, { timeout: 10000 });
	await item.locator(`${trip}[data-delivery="saved"]`).waitFor({ timeout: 10000 });

	// closing the list's view leaves the one under the form following
	await item.getByTestId('review-journey').click();
	assert.equal(await item.locator(trip).count(), 0);
	assert.equal((await records([attempt(id, 3, Date.now(), 'duplicate', 200)])).status, 202);
	await waitFor(async () => (await live.locator('[data-testid="journey-attempt"]').count()) === 3,
		{ timeoutMs: 10000, what: 'the third attempt under the form' });
	assert.deepEqual(errors, []);
	await page.close();
});

test('Journey pressed twice while the journey loads: it stays closed, and is not followed', { skip, timeout: 60000 }, async () => {
	const { page, id, errors, item } = await postListed('Pressed twice');
	// GET /reviews/{id}/journey answers only after the second press (the real answer, held)
	let release;
	const held = new Promise((r) => { release = r; });
	let asked = 0;
	await page.route('**/reviews/*/journey', async (route) => {
		asked++;
		await held;
		await route.continue();
	});
	const button = item.getByTestId('review-journey');
	await button.click();
	await waitFor(() => asked === 1, { timeoutMs: 5000, what: 'the journey request' });
	await button.click();
	assert.equal(await button.getAttribute('aria-expanded'), 'false');
	release();
	const trip = item.getByTestId('review-trip');
	// the answer came and was handled: nothing shown, and a record for it draws nothing
	await waitFor(async () => (await page.evaluate(() => performance.getEntriesByType('resource')
		.filter((e) => e.name.includes('/journey') && e.responseEnd > 0).length)) >= 1,
	{ timeoutMs: 5000, what: 'the held journey answer' });
	assert.equal((await records([attempt(id, 1, Date.now(), 'saved', 200)])).status, 202);
	await page.waitForSelector(`${JOURNEY_LIVE}[data-delivery="saved"]`, { timeout: 10000 });
	assert.equal(await trip.isHidden(), true, 'the list item\'s journey stays closed');
	assert.equal(await item.locator('[data-testid="journey"]').count(), 0);
	assert.equal(await button.getAttribute('aria-expanded'), 'false');
	assert.deepEqual(errors, []);
	await page.close();
});

test('a review deleted while its journey is open in the list: the page stops following it', { skip, timeout: 60000 }, async () => {
	const sent = [];
	const context = browser.context;
	const onPage = (p) => p.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(String(f.payload))));
	context.on('page', onPage);
	let posted;
	try {
		posted = await postListed('Deleted while open');
	} finally {
		context.off('page', onPage);
	}
	const { page, id, errors, item } = posted;
	await item.getByTestId('review-journey').click();
	await item.locator('[data-testid="review-trip"] [data-testid="journey"]').waitFor({ timeout: 10000 });
	await page.getByTestId('review-reset').click(); // the form's view of it closes; the list's stays
	assert.equal(sent.filter((f) => f.includes('unfollow') && f.includes(id)).length, 0, sent.join('\n'));
	await item.getByTestId('review-delete').click();
	await item.waitFor({ state: 'detached', timeout: 10000 });
	await waitFor(() => sent.some((f) => f.includes('"unfollow"') && f.includes(id)),
		{ timeoutMs: 5000, what: `an unfollow frame for ${id}; sent: ${sent.join(' | ')}` });
	assert.deepEqual(errors, []);
	await page.close();
});

// node-server follows at most 32 ids per socket, so the page drops the oldest journey it shows
// when a 33rd opens; that review's button must then say closed, not stay aria-expanded=true.
test('a 33rd journey opened: the oldest one closes, and its button says so', { skip, timeout: 120000 }, async () => {
	const tag = `Follow limit ${Date.now()}`;
	await insertReviews(tag, 33);
	const page = await browser.context.newPage();
	const errors = [];
	page.on('pageerror', (e) => errors.push(e.message));
	await page.goto(`${st.url}/`, { waitUntil: 'load' });
	const item = (i) => page.getByTestId('review-item').filter({ hasText: `${tag} [${i}]` });
	await item(32).waitFor({ timeout: 15000 });
	for (let i = 0; i < 33; i++) {
		await item(i).getByTestId('review-journey').click();
		await item(i).locator('[data-testid="review-trip"] [data-testid="journey"]').waitFor({ timeout: 10000 });
	}
	const first = item(0);
	assert.equal(await first.getByTestId('review-journey').getAttribute('aria-expanded'), 'false');
	assert.equal(await first.getByTestId('review-trip').isHidden(), true);
	assert.equal(await item(1).getByTestId('review-journey').getAttribute('aria-expanded'), 'true');
	// opened again, it shows and is followed again
	await first.getByTestId('review-journey').click();
	await first.locator('[data-testid="review-trip"] [data-testid="journey"]').waitFor({ timeout: 10000 });
	assert.equal(await first.getByTestId('review-journey').getAttribute('aria-expanded'), 'true');
	assert.deepEqual(errors, []);
	await page.close();
});

// A review deleted (or dropped by a push) while its journey loads: when the journey comes,
// the item is gone, so the page must not follow it (a follow slot taken for nothing, frames
// drawn into a detached node).
test('a review deleted while its journey loads: the journey is not followed when it comes', { skip, timeout: 60000 }, async () => {
	const tag = `Deleted while loading ${Date.now()}`;
	await insertReviews(tag, 2);
	const { page, errors, follows, answered } = await openPage();
	const item = (i) => page.getByTestId('review-item').filter({ hasText: `${tag} [${i}]` });
	await item(1).waitFor({ timeout: 15000 });
	await item(0).waitFor({ timeout: 15000 });
	const hold = await holdNextJourney(page);
	const from = follows.length;
	await item(0).getByTestId('review-journey').click();
	await waitFor(() => hold.asked() === 1, { timeoutMs: 5000, what: 'the journey request' });
	await item(0).getByTestId('review-delete').click();
	await item(0).waitFor({ state: 'detached', timeout: 10000 });
	hold.release();
	await waitFor(async () => (await answered()) === 1, { timeoutMs: 10000, what: 'the held journey answer read' });
	// then another review's journey: its follow frame is the next one the socket sends
	await item(1).getByTestId('review-journey').click();
	const other = await item(1).locator(TRIP_JOURNEY).getAttribute('data-journey-id', { timeout: 10000 });
	await waitFor(() => follows.slice(from).some((m) => m.follow && m.follow.includes(other)),
		{ timeoutMs: 5000, what: `a follow frame for ${other}` });
	assert.deepEqual(follows.slice(from), [{ follow: [other] }], 'the deleted review\'s journey was followed');
	assert.equal(await item(1).getByTestId('review-journey').getAttribute('aria-expanded'), 'true');
	assert.deepEqual(errors, []);
	await page.close();
});

// With 32 journeys open, a 33rd pressed and closed again while it loads must not drop the
// oldest one for a journey nobody will see.
test('a 33rd journey closed while it loads: the 32 open ones stay open and followed', { skip, timeout: 120000 }, async () => {
	const tag = `Closed while loading ${Date.now()}`;
	await insertReviews(tag, 33);
	const { page, errors, follows, answered } = await openPage();
	const item = (i) => page.getByTestId('review-item').filter({ hasText: `${tag} [${i}]` });
	await item(32).waitFor({ timeout: 15000 });
	const ids = [];
	for (let i = 0; i < 32; i++) {
		await item(i).getByTestId('review-journey').click();
		ids.push(await item(i).locator(TRIP_JOURNEY).getAttribute('data-journey-id', { timeout: 10000 }));
	}
	const opened = await answered();
	const hold = await holdNextJourney(page);
	const from = follows.length;
	const button = item(32).getByTestId('review-journey');
	await button.click();
	await waitFor(() => hold.asked() === 1, { timeoutMs: 5000, what: 'the 33rd journey request' });
	await button.click();
	assert.equal(await button.getAttribute('aria-expanded'), 'false');
	hold.release();
	await waitFor(async () => (await answered()) === opened + 1, { timeoutMs: 10000, what: 'the held journey answer read' });
	// then the second journey is closed: its unfollow frame is the next one the socket sends
	await item(1).getByTestId('review-journey').click();
	await waitFor(() => follows.slice(from).some((m) => m.unfollow && m.unfollow.includes(ids[1])),
		{ timeoutMs: 5000, what: `an unfollow frame for ${ids[1]}` });
	assert.deepEqual(follows.slice(from), [{ unfollow: [ids[1]] }], 'frames sent for the closed 33rd journey');
	assert.equal(await button.getAttribute('aria-expanded'), 'false');
	assert.equal(await item(32).getByTestId('review-trip').isHidden(), true);
	assert.equal(await item(0).getByTestId('review-journey').getAttribute('aria-expanded'), 'true',
		'the oldest journey was closed for the one closed while loading');
	assert.equal(await item(0).locator(TRIP_JOURNEY).getAttribute('data-journey-id'), ids[0]);
	assert.deepEqual(errors, []);
	await page.close();
});

// The countdown to the next retry counts on node-server's clock, not the browser's: a laptop
// whose clock is hours off the server's (or a page opened against a cluster) still shows the
// wait that is really left. The page's Date.now() is shifted as a skewed clock would read; the
// records' times are node-server's clock, which is this machine's (the test's Date.now()).
for (const [name, skewMs] of [['2 hours ahead of', 2 * 3600 * 1000], ['2 hours behind', -2 * 3600 * 1000]]) {
	test(`a browser clock ${name} node-server's: the countdown shows the wait really left`, { skip, timeout: 60000 }, async () => {
		const { page, id, errors } = await postReview(browser, st.url, `Skewed clock ${Date.now()}`, { clockSkewMs: skewMs });
		const skewSeen = (await page.evaluate(() => Date.now())) - Date.now();
		assert.ok(Math.abs(skewSeen - skewMs) < 10000, `the page's clock is off by ${skewSeen} ms`);

		// attempt 1's record lost, attempt 2 failed now: retry 2 is due 2 s later (PT1S, exponential)
		const t = Date.now();
		const due = t + 2000;
		assert.equal((await records([attempt(id, 2, t)])).status, 202);
		const row = page.locator(`${JOURNEY_LIVE} [data-testid="journey-countdown"]`);
		await row.waitFor({ timeout: 10000 });
		assert.equal(await row.getAttribute('data-retry'), '2');

		// each reading while the retry is still ahead must be within the wait left around it
		// (the ticker rewrites it every 200 ms, to 0.1 s; the frame takes a few ms to come)
		const SLACK_MS = 400;
		const readings = [];
		while (Date.now() < due - SLACK_MS) {
			const before = Date.now();
			const text = await row.textContent();
			const after = Date.now();
			const m = /^next retry \(retry 2\) in (\d+\.\d) s$/.exec(text);
			const shown = m ? Number(m[1]) * 1000 : /^retry 2 due now$/.test(text) ? 0 : NaN;
			readings.push(`${text} (${due - after}..${due - before} ms left)`);
			assert.ok(shown >= due - after - SLACK_MS && shown <= due - before + SLACK_MS,
				`the countdown says "${text}" with ${due - after} to ${due - before} ms really left`);
			await new Promise((r) => setTimeout(r, 150));
		}
		assert.ok(readings.length > 0, 'the countdown was read before its retry was due');
		console.log(`# clock ${name}: ${readings.join(', ')}`);
		assert.deepEqual(errors, []);
		await page.close();
	});
}
