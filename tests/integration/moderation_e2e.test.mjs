// The moderation path end to end, through the real `make run` wiring (lib/run.mjs: PostgreSQL,
// db-service, node-server, file-sink, dead-letter-logger, bad-word-filter, sentiment-analysis
// and the local broker reading k8s/base/eventing): /add → bookstore-broker → sequence-trigger →
// the Sequence (bad-word-filter, sentiment-analysis) → moderated-comment back to the broker →
// db-insert-trigger (good) or badword-noti-trigger → badword-broker → file-sink /bad-reviews (bad).
//
// - a good review is stored with its sentiment, under the id /add answered;
// - a bad review never reaches the database and is in bad-reviews.log, with the extensions the
//   steps added (badwordfilter, sentimentresult, sentimentscore);
// - a failing step (sentiment-analysis stopped) is retried as its delivery spec says (3 retries,
//   exponential from 1 s) and then dead-lettered with the Knative error extensions, and the flow
//   works again once the step is back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startRun, runSkipReason } from './lib/run.mjs';
import { waitFor } from './lib/proc.mjs';

const skip = runSkipReason();
if (skip) console.log(`# skipping moderation end-to-end tests: ${skip}`);

let r;

before(async () => {
	if (skip) return;
	r = await startRun({ env: { FAILURE_RATE: '0', LOG_LEVEL: 'warn' } });
});

after(async () => {
	if (r) await r.cleanup();
});

async function post(text) {
	const res = await fetch(`${r.url}/add`, {
		method: 'POST',
		headers: {
			'Content-Type': 'application/json', 'ce-specversion': '1.0', 'ce-type': 'new-review-comment',
			'ce-source': 'bookstore-frontend', 'ce-id': `e2e-${Date.now()}-${Math.random()}`,
		},
		body: JSON.stringify({ reviewText: text }),
	});
	assert.equal(res.status, 200);
	return (await res.json()).id;
}

const rows = (id) => r.query(`SELECT content, sentiment FROM book_reviews WHERE event_id = '${id}'`);
const badLines = () => (fs.existsSync(r.badReviewsLog) ? r.lines(r.badReviewsLog) : []);

// Waits until the broker has finished every delivery (nothing queued, retrying or in flight).
async function idle(timeoutMs = 30000) {
	await waitFor(async () => r.metric(await r.metrics(r.brokerUrl), 'broker_queue_depth') === 0,
		{ timeoutMs, what: 'broker_queue_depth 0' });
}

test('a good review is stored with its sentiment, under the id /add answered', { skip, timeout: 60000 }, async () => {
	const id = await post('I love this book, the examples are wonderful!');
	await waitFor(async () => (await rows(id)).length === 1, { timeoutMs: 20000, what: 'the good review in the database' });
	assert.deepEqual(await rows(id), [['I love this book, the examples are wonderful!', 'positive']]);
	const neg = await post('Boring and badly edited, a waste of time.');
	await waitFor(async () => (await rows(neg)).length === 1, { timeoutMs: 20000, what: 'the negative review in the database' });
	assert.equal((await rows(neg))[0][1], 'negative');
});

test('a bad review never reaches the database and reaches the bad-review sink with the steps\' extensions', { skip, timeout: 60000 }, async () => {
	const text = 'What a load of sh1t, the worst book ever';
	const id = await post(text);
	await waitFor(() => badLines().some((l) => l.event?.id === id), { timeoutMs: 20000, what: 'the bad review in bad-reviews.log' });
	await idle();
	assert.deepEqual(await rows(id), [], 'not in the database');
	const lines = badLines().filter((l) => l.event?.id === id);
	assert.equal(lines.length, 1, 'notified once');
	const [l] = lines;
	assert.equal(l.outcome, 'notified');
	assert.deepEqual(l.review, { id, reviewText: text, badwordfilter: 'bad', sentimentresult: 'negative' });
	assert.equal(l.event.type, 'moderated-comment');
	assert.equal(l.event.source, 'sentiment-analysis');
	assert.equal(l.event.badwordfilter, 'bad');
	assert.equal(l.event.sentimentresult, 'negative');
	assert.ok(Number(l.event.sentimentscore) < -0.05, `sentimentscore ${l.event.sentimentscore}`);
	assert.deepEqual(
		{ reviewText: l.event.data.reviewText, badWordResult: l.event.data.badWordResult, sentimentResult: l.event.data.sentimentResult },
		{ reviewText: text, badWordResult: 'bad', sentimentResult: 'negative' });
	// file-sink's own Trigger still saw the review before moderation (the failure demo)
	assert.ok(r.sinkLines().some((x) => x.outcome === 'saved' && x.event?.id === id), 'file-sink-trigger got it');
	assert.equal(r.deadLetters().filter((x) => x.event?.id === id).length, 0, 'nothing dead-lettered');
	const bm = await r.metrics(r.brokerUrl);
	assert.ok(r.metric(bm, 'broker_deliveries_total', '{namespace="bookstore",trigger="badword-notification-trigger",code="200"}') >= 1);
	assert.ok(r.metric(bm, 'broker_deliveries_total', '{namespace="bookstore",trigger="badword-noti-trigger",code="202"}') >= 1);
	assert.equal(r.metric(await r.metrics(r.sinkUrl), 'filesink_bad_reviews_total', '{outcome="notified"}'), 1);
});

test('a failing step is retried, then dead-lettered; the flow resumes once it is back', { skip, timeout: 90000 }, async () => {
	await r.kill('sentiment-analysis', 'SIGTERM');
	const text = 'A calm and thorough introduction to eventing';
	const id = await post(text);
	// bad-word-filter answers, sentiment-analysis refuses connections: 1 + 3 retries (1, 2, 4 s)
	await waitFor(() => r.deadLetters().some((x) => x.event?.id === id), { timeoutMs: 30000, what: 'the dead letter' });
	await idle();
	const dl = r.deadLetters().filter((x) => x.event?.id === id);
	assert.equal(dl.length, 1, 'dead-lettered once');
	assert.equal(dl[0].error.destination, r.sentimentUrl, 'knativeerrordest is the failing step');
	assert.equal(dl[0].error.code, 500, 'a refused connection counts as 500');
	assert.equal(dl[0].event.type, 'new-review-comment', 'the event the step was given: bad-word-filter\'s reply');
	assert.equal(dl[0].event.source, 'book-review-broker');
	assert.equal(dl[0].event.badwordfilter, 'good');
	const bm = await r.metrics(r.brokerUrl);
	assert.equal(r.metric(bm, 'broker_deliveries_total', '{namespace="bookstore",trigger="sequence-kn-sequence-1",code="500"}'), 4, '1 attempt + 3 retries');
	assert.equal(r.metric(bm, 'broker_dead_letters_total', '{namespace="bookstore",trigger="sequence-kn-sequence-1"}'), 1);
	assert.deepEqual(await rows(id), [], 'an unmoderated review is not stored');

	await r.restart('sentiment-analysis');
	const again = await post('Back again: a wonderful read');
	await waitFor(async () => (await rows(again)).length === 1, { timeoutMs: 20000, what: 'the next review in the database' });
	assert.equal((await rows(again))[0][1], 'positive');
	r.assertLogsClean();
});
