// A journey while file-sink is down, against the whole `make run` wiring in Chromium: file-sink
// is killed (SIGKILL), a review is posted, and its journey is on the page (stored by /insert,
// no attempt seen at file-sink: the broker's attempts are refused) when file-sink is started
// again. The broker's next retry reaches the new file-sink: the review is still delivered, and
// the page says what it knows (the first attempt it saw came late: earlier ones never reached
// file-sink). Journey records are best-effort: losing file-sink loses no review.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRun, runSkipReason, account } from './lib/run.mjs';
import { pageSkipReason, launchChromium, JOURNEY_LIVE } from './lib/page.mjs';

const skip = pageSkipReason() || runSkipReason();
if (skip) console.log(`# skipping the journey fault test: ${skip}`);

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

const live = JOURNEY_LIVE;

test('file-sink killed while a journey is shown: the review is delivered after the restart, and the page says so', { skip, timeout: 120000 }, async () => {
	const page = await browser.context.newPage();
	const errors = [];
	page.on('pageerror', (e) => errors.push(e.message));
	await page.goto(`${st.url}/`, { waitUntil: 'load' });
	await page.waitForSelector('[data-testid="connection-badge"][data-state="live"]', { timeout: 15000 });
	await st.kill('file-sink', 'SIGKILL');
	const postedAt = Date.now();
	await page.getByTestId('review-textarea').fill(`Survives a file-sink crash ${Date.now()}`);
	await page.getByTestId('review-submit').click();
	// the journey is on screen: stored by node-server, nothing seen at file-sink yet
	await page.waitForSelector(`${live}[data-stored="yes"] [data-testid="journey-waiting"]`, { timeout: 15000 });
	const id = await page.locator(live).getAttribute('data-journey-id');
	await st.restart('file-sink');
	console.log(`# file-sink was started again ${Date.now() - postedAt} ms after the post`);
	// a retry (at t + 1 s or t + 3 s) reaches the new file-sink: saved
	await page.waitForSelector(`${live}[data-delivery="saved"]`, { timeout: 20000 });
	const attempts = await page.locator(`${live} [data-testid="journey-attempt"]`).evaluateAll((els) => els.map((e) => [Number(e.dataset.attempt), e.dataset.outcome, Number(e.dataset.offsetMs)]));
	console.log(`# attempts seen: ${JSON.stringify(attempts)}`);
	assert.deepEqual(attempts.map((a) => a.slice(0, 2)), [[1, 'saved']], 'file-sink saw one attempt, and counts it as its first');
	assert.ok(attempts[0][2] >= 800, `the attempt it saw is a retry (+${attempts[0][2]} ms)`);
	assert.match(await page.locator(`${live} [data-testid="journey-gap"]`).textContent(), /earlier attempts did not get there \(file-sink was down or unreachable\)/);
	// the logs agree: one saved line, no dead letter, one row in the database
	const per = account(st, [id]).get(id);
	assert.equal(per.saved.length, 1);
	assert.equal(per.simulated.length, 0);
	assert.equal(per.dead.length, 0);
	assert.deepEqual(await st.query(`SELECT count(*) FROM book_reviews WHERE event_id = '${id}'`), [['1']]);
	assert.deepEqual(errors, []);
	await page.close();
	st.assertLogsClean();
});
