// The moderation path on the page's journey, in a real browser (headless Debian chromium driven
// by playwright-core) against the whole `make run` wiring with the Sequence (lib/run.mjs):
// bad-word-filter and sentiment-analysis report each attempt with its result, and file-sink's
// POST /bad-reviews its notification, to node-server, which pushes them to the page that posted
// the review (docs/journey.md).
//   - a good review: "bad-word filter · good", "sentiment · positive (0.xx)", then stored, as
//     the database row (its sentiment) and events.log say;
//   - a bad review: "bad-word filter · bad", then "not stored: sent to badword-broker · notified",
//     as bad-reviews.log says, and never "stored": the broker goes idle, the database has no row;
//   - sentiment-analysis stopped: "bad-word filter · good", then the Sequence's dead letter
//     (its destination the step, as dead-letter-logger's events.log says) and "not stored".
// Screenshots under build/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startRun, runSkipReason, account } from './lib/run.mjs';
import { pageSkipReason, launchChromium, postReview, shot, JOURNEY_LIVE } from './lib/page.mjs';
import { waitFor } from './lib/proc.mjs';

const skip = pageSkipReason() || runSkipReason();
if (skip) console.log(`# skipping moderation journey browser tests: ${skip}`);

let browser, st;

before(async () => {
	if (skip) return;
	browser = await launchChromium();
	st = await startRun({ env: { LOG_LEVEL: 'warn', FAILURE_RATE: '0' } });
});

after(async () => {
	if (st) {
		st.assertLogsClean();
		await st.cleanup();
	}
	if (browser) await browser.close();
});

const live = JOURNEY_LIVE;

/** The Sequence's rows on the page. */
function stepsOf(page) {
	return page.locator(`${live} [data-testid="journey-step"]`).evaluateAll((els) => els.map((e) => ({
		step: e.dataset.step, outcome: e.dataset.outcome, code: e.dataset.code, result: e.dataset.result,
		score: e.dataset.score, offset: Number(e.dataset.offsetMs), text: e.textContent,
	})));
}

const badLines = () => (fs.existsSync(st.badReviewsLog) ? st.lines(st.badReviewsLog) : []);

/** Waits until the broker has finished every delivery (nothing queued, retrying or in flight). */
async function brokerIdle() {
	await waitFor(async () => st.metric(await st.metrics(st.brokerUrl), 'broker_queue_depth') === 0,
		{ timeoutMs: 30000, what: 'broker_queue_depth 0' });
}

test('a good review: both steps with their results, then stored', { skip, timeout: 120000 }, async () => {
	const text = `I love this book, the examples are wonderful! ${Date.now()}`;
	const { page, id, errors } = await postReview(browser, st.url, text);
	await page.waitForSelector(`${live}[data-moderation="good"][data-stored="yes"]`, { timeout: 30000 });
	await page.waitForFunction((sel) => document.querySelectorAll(`${sel} [data-testid="journey-step"]`).length >= 2, live, { timeout: 10000 });
	const steps = await stepsOf(page);
	console.log(`# steps: ${JSON.stringify(steps.map(({ step, result, score, offset }) => ({ step, result, score, offset })))}`);
	assert.deepEqual(steps.map((s) => [s.step, s.outcome, s.code, s.result]), [
		['bad-word-filter', 'answered', '200', 'good'],
		['sentiment-analysis', 'answered', '200', 'positive'],
	]);
	assert.match(steps[0].text, /^bad-word filter · good · \+\d+\.\d\d s$/);
	assert.match(steps[1].text, /^sentiment · positive \(0\.\d\d\) · \+\d+\.\d\d s$/);
	assert.ok(Number(steps[1].score) >= 0.05 && Number(steps[1].score) <= 1, `score ${steps[1].score}`);
	assert.ok(steps[0].offset >= 0 && steps[0].offset <= steps[1].offset, 'bad-word-filter before sentiment-analysis');
	assert.equal(await page.locator(`${live} [data-testid="journey-step"][data-result="good"]`).count(), 1);
	assert.deepEqual(await page.locator(`${live} [data-testid="journey-insert"]`).evaluateAll((els) => els.map((e) => e.dataset.outcome)), ['stored']);
	assert.equal(await page.locator(`${live} [data-testid="journey-notification"]`).count(), 0);
	// file-sink's Trigger still takes the review before moderation: its attempt is on the page too
	assert.equal(await page.locator(`${live} [data-testid="journey-attempt"][data-outcome="saved"]`).count(), 1);
	// what the page says is what the database and the logs hold
	assert.deepEqual(await st.query(`SELECT sentiment FROM book_reviews WHERE event_id = '${id}'`), [['positive']]);
	assert.equal(account(st, [id]).get(id).saved.length, 1);
	assert.equal(badLines().filter((l) => l.review?.id === id).length, 0);
	await shot(page, 'journey-moderation-good.png');
	assert.deepEqual(errors, []);
	await page.close();
});

test('a bad review: the bad result, then the notification, and never stored', { skip, timeout: 120000 }, async () => {
	const text = `What a load of sh1t ${Date.now()}`;
	const { page, id, errors } = await postReview(browser, st.url, text);
	await page.waitForSelector(`${live}[data-moderation="bad"][data-notified="yes"]`, { timeout: 30000 });
	await page.waitForFunction((sel) => document.querySelectorAll(`${sel} [data-testid="journey-step"]`).length >= 2, live, { timeout: 10000 });
	const steps = await stepsOf(page);
	console.log(`# steps: ${JSON.stringify(steps.map(({ step, result, score, offset }) => ({ step, result, score, offset })))}`);
	assert.deepEqual(steps.map((s) => [s.step, s.outcome, s.result]), [
		['bad-word-filter', 'answered', 'bad'],
		['sentiment-analysis', 'answered', steps[1].result],
	]);
	assert.match(steps[0].text, /^bad-word filter · bad, matches the list entry "shit" · \+\d+\.\d\d s$/);
	const notes = await page.locator(`${live} [data-testid="journey-notification"]`).evaluateAll((els) => els.map((e) => ({
		outcome: e.dataset.outcome, offset: Number(e.dataset.offsetMs), text: e.textContent,
	})));
	assert.equal(notes.length, 1);
	assert.match(notes[0].text, /^not stored: sent to badword-broker · notified · \+\d+\.\d\d s$/);
	assert.ok(notes[0].offset >= steps[1].offset, 'notified after sentiment-analysis answered');
	// bad-reviews.log holds the same review, with the same sentiment as the page's row
	const lines = badLines().filter((l) => l.review?.id === id);
	assert.deepEqual(lines.map((l) => [l.outcome, l.review.badwordfilter, l.review.reviewText]), [['notified', 'bad', text]]);
	assert.equal(lines[0].review.sentimentresult, steps[1].result);
	// never stored: once the broker has nothing left to deliver, no row and no "stored" on the page
	await brokerIdle();
	assert.deepEqual(await st.query(`SELECT count(*) FROM book_reviews WHERE event_id = '${id}'`), [['0']]);
	assert.equal(await page.locator(live).getAttribute('data-stored'), 'no');
	assert.equal(await page.locator(`${live} [data-testid="journey-stored"]`).count(), 0);
	assert.equal(await page.locator(`${live} [data-testid="journey-insert"]`).count(), 0);
	assert.equal(await page.locator(`${live} [data-testid="journey-not-stored"]`).count(), 1);
	assert.equal(account(st, [id]).get(id).saved.length, 1, 'file-sink\'s failure-demo Trigger saved it, as every review');
	await shot(page, 'journey-moderation-bad.png');
	assert.deepEqual(errors, []);
	await page.close();
});

test('a step that is down: the Sequence\'s dead letter, and not stored', { skip, timeout: 120000 }, async () => {
	await st.kill('sentiment-analysis', 'SIGTERM');
	try {
		const { page, id, errors } = await postReview(browser, st.url, `A calm and thorough introduction ${Date.now()}`);
		// bad-word-filter answers; sentiment-analysis refuses connections: 1 + 3 retries (1, 2, 4 s)
		await page.waitForSelector(`${live}[data-moderation="dead-lettered"]`, { timeout: 40000 });
		const steps = await stepsOf(page);
		assert.deepEqual(steps.map((s) => [s.step, s.outcome, s.result]), [['bad-word-filter', 'answered', 'good']]);
		const row = await page.locator(`${live} [data-testid="journey-sequence-dead"]`).textContent();
		assert.match(row, /^not stored: the moderation Sequence dead-lettered it \(destination \S+, code 500\) · \+\d+\.\d\d s$/);
		assert.ok(row.includes(`destination ${st.sentimentUrl}`), `${row} names sentiment-analysis (${st.sentimentUrl})`);
		assert.equal(await page.locator(`${live} [data-testid="journey-moderation"]`).getAttribute('data-state'), 'fail');
		// dead-letter-logger's events.log says the same; the database has no row
		const dead = account(st, [id]).get(id).dead;
		assert.equal(dead.length, 1);
		assert.equal(dead[0].error.destination, st.sentimentUrl);
		await brokerIdle();
		assert.deepEqual(await st.query(`SELECT count(*) FROM book_reviews WHERE event_id = '${id}'`), [['0']]);
		assert.equal(await page.locator(live).getAttribute('data-stored'), 'no');
		await shot(page, 'journey-moderation-dead-letter.png');
		assert.deepEqual(errors, []);
		await page.close();
	} finally {
		await st.restart('sentiment-analysis');
	}
});
