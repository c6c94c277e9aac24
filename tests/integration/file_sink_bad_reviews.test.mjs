// file-sink's second route, POST /bad-reviews: badword-broker's notification sink (the moderation
// path, docs/moderation.md). The real binary over real HTTP: each bad review is a line in
// DATA_DIR/bad-reviews.log before the answer, never a simulated failure, a redelivery is a
// "duplicate" (also after a restart), malformed events get a 4xx with a JSON body, GET
// /bad-reviews answers the newest lines, and the metric counts each outcome.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { stopClean } from './lib/proc.mjs';
import { startSink, removeSinkDirs } from './lib/sinkproc.mjs';
import { MALFORMED_EVENTS, cleanHeaders } from './lib/malformed.mjs';

after(removeSinkDirs);

const badReview = (id, text = 'What a load of sh1t') => ({
	headers: {
		'ce-specversion': '1.0', 'ce-id': id, 'ce-source': 'sentiment-analysis', 'ce-type': 'moderated-comment',
		'ce-badwordfilter': 'bad', 'ce-sentimentresult': 'negative', 'ce-sentimentscore': '-0.54',
		'content-type': 'application/json',
	},
	body: JSON.stringify({ reviewText: text, badWordResult: 'bad', sentimentResult: 'negative', sentimentScore: -0.54 }),
});

async function post(srv, { headers, body }) {
	const res = await fetch(`${srv.url}/bad-reviews`, { method: 'POST', headers, body });
	return { status: res.status, text: await res.text(), headers: res.headers };
}

const badLines = (dir) => {
	const text = fs.readFileSync(path.join(dir, 'bad-reviews.log'), 'utf8');
	assert.ok(text === '' || text.endsWith('\n'), 'bad-reviews.log ends with a newline');
	return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
};

async function metric(srv, outcome) {
	const text = await (await fetch(`${srv.url}/metrics`)).text();
	const m = new RegExp(`^filesink_bad_reviews_total\\{outcome="${outcome}"\\} (\\S+)$`, 'm').exec(text);
	assert.ok(m, `filesink_bad_reviews_total{outcome="${outcome}"} in\n${text}`);
	return Number(m[1]);
}

test('a bad review is logged before the answer, never failed on purpose, and a redelivery is a duplicate, across a restart too', async () => {
	// FAILURE_RATE=1 fails every POST / on purpose: the notification route must not.
	let { srv, dir, lines } = await startSink('file-sink', { FAILURE_RATE: '1' });
	let r = await post(srv, badReview('r-1'));
	assert.equal(r.status, 200, r.text);
	assert.equal(r.text, '');
	let log = badLines(dir);
	assert.equal(log.length, 1);
	assert.equal(log[0].outcome, 'notified');
	assert.deepEqual(log[0].review, { id: 'r-1', reviewText: 'What a load of sh1t', badwordfilter: 'bad', sentimentresult: 'negative' });
	assert.equal(log[0].event.type, 'moderated-comment');
	assert.equal(log[0].event.sentimentscore, '-0.54');
	assert.deepEqual(lines(), [], 'events.log (the failure demo) is untouched');
	r = await post(srv, badReview('r-1'));
	assert.equal(r.status, 200);
	assert.equal(badLines(dir)[1].outcome, 'duplicate');
	assert.equal(await metric(srv, 'notified'), 1);
	assert.equal(await metric(srv, 'duplicate'), 1);
	const res = await fetch(`${srv.url}/bad-reviews?limit=1`);
	assert.equal(res.status, 200);
	const tail = await res.json();
	assert.equal(JSON.stringify(tail).includes('duplicate'), true, 'GET /bad-reviews answers the newest line');
	await stopClean(srv);

	// The same DATA_DIR again: the notified set is rebuilt from bad-reviews.log.
	({ srv } = await startSink('file-sink', { FAILURE_RATE: '1', DATA_DIR: dir }));
	r = await post(srv, badReview('r-1'));
	assert.equal(r.status, 200);
	r = await post(srv, badReview('r-2', 'another one'));
	assert.equal(r.status, 200);
	log = badLines(dir);
	assert.deepEqual(log.map((l) => [l.outcome, l.event.id]), [['notified', 'r-1'], ['duplicate', 'r-1'], ['duplicate', 'r-1'], ['notified', 'r-2']]);
	await stopClean(srv);
});

test('malformed events at POST /bad-reviews: 4xx with a JSON error body, nothing logged as notified', async () => {
	const { srv, dir } = await startSink('file-sink', { FAILURE_RATE: '0' });
	for (const [name, headers, body] of MALFORMED_EVENTS) {
		const r = await post(srv, { headers: cleanHeaders(headers), body });
		assert.ok(r.status >= 400 && r.status < 500, `${name}: HTTP ${r.status} ${r.text}`);
		assert.match(r.headers.get('content-type') || '', /^application\/json/, name);
		assert.equal(typeof JSON.parse(r.text).error, 'string', `${name}: ${r.text}`);
	}
	assert.deepEqual(badLines(dir), []);
	assert.equal(await metric(srv, 'rejected'), MALFORMED_EVENTS.length);
	assert.equal((await fetch(`${srv.url}/bad-reviews`, { method: 'DELETE' })).status, 405);
	await stopClean(srv);
});
