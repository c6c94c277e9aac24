// The moderation path's journey records (docs/journey.md), real binaries over real HTTP: the two
// Sequence steps (common/step.c) and file-sink's POST /bad-reviews post their records to a real
// node-server's POST /journey (JOURNEY_URL), which keeps them in the review's journey:
//   - each step attempt with its outcome, code and result (bad-word-filter's matched entry,
//     sentiment-analysis's score), and a refused event as a failed attempt with its 4xx;
//   - the bad-review notification, "notified" then "duplicate" for a redelivery;
//   - best-effort: with node-server unreachable the step still answers 200 and the record is
//     counted dropped_error;
//   - JOURNEY_URL is in both steps' --help, and a bad value stops the start with status 2.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CloudEvent, HTTP } from 'cloudevents';
import { startServer, binPath, freePort, repoRoot, waitFor, stopClean } from './lib/proc.mjs';
import { startSink, removeSinkDirs } from './lib/sinkproc.mjs';
import { summarize } from '../../frontend-static/journey.js';

const BADWORDS_FILE = `${repoRoot}/services/bad-word-filter/data/badwords.txt`;
const SENTIMENT = {
	SENTIMENT_LEXICON_FILE: `${repoRoot}/services/sentiment-analysis/data/vader_lexicon.txt`,
	SENTIMENT_EMOJI_FILE: `${repoRoot}/services/sentiment-analysis/data/emoji_names.tsv`,
};

let ns, filter, sentiment, sink;
before(async () => {
	ns = await startServer(binPath('node-server'), {
		env: { LOG_LEVEL: 'warn', DB_SERVICE_URL: `http://127.0.0.1:${await freePort()}` },
	});
	const JOURNEY_URL = `${ns.url}/journey`;
	filter = await startServer(binPath('bad-word-filter'), { env: { BADWORDS_FILE, JOURNEY_URL, LOG_LEVEL: 'warn' } });
	sentiment = await startServer(binPath('sentiment-analysis'), { env: { ...SENTIMENT, JOURNEY_URL, LOG_LEVEL: 'warn' } });
	({ srv: sink } = await startSink('file-sink', { FAILURE_RATE: '0', JOURNEY_URL }));
});
after(async () => {
	for (const s of [filter, sentiment, sink, ns]) if (s) await stopClean(s);
	removeSinkDirs();
});

let seq = 0;
const review = (data, o = {}) => new CloudEvent({
	id: `mj-${process.pid}-${++seq}`, source: 'bookstore-frontend', type: 'new-review-comment',
	datacontenttype: 'application/json', data, ...o,
});

async function post(srv, ev, path = '/') {
	const { headers, body } = HTTP.binary(ev);
	const res = await fetch(`${srv.url}${path}`, { method: 'POST', headers, body });
	return { status: res.status, headers: res.headers, text: await res.text() };
}

/** The journey of id once it has n steps (records travel asynchronously). */
async function journeyOf(id, n) {
	let j = null;
	await waitFor(async () => {
		const res = await fetch(`${ns.url}/journey/${encodeURIComponent(id)}`);
		j = res.status === 200 ? await res.json() : null;
		return j && j.steps.length >= n;
	}, { timeoutMs: 10000, what: `${n} journey steps of ${id}` });
	return j;
}

test('each step attempt reaches the journey with its result, code and time', async () => {
	const ev = review({ reviewText: 'I love this book, the examples are wonderful!' });
	const t0 = Date.now();
	const r1 = await post(filter, ev);
	assert.equal(r1.status, 200, r1.text);
	// the Sequence passes bad-word-filter's reply on to sentiment-analysis
	const reply = HTTP.toEvent({ headers: Object.fromEntries(r1.headers), body: r1.text });
	assert.equal(reply.id, ev.id, 'the reply keeps the review id (the journey key)');
	const r2 = await post(sentiment, reply);
	assert.equal(r2.status, 200, r2.text);
	const score = Number(r2.headers.get('ce-sentimentscore'));
	const j = await journeyOf(ev.id, 2);
	// the steps are kept in arrival order, and the two steps' records race to node-server: the
	// page's order (time, then the review's path) is the one to check
	const steps = summarize(j).moderation;
	assert.deepEqual(steps.map((s) => [s.source, s.kind, s.outcome, s.code, s.result]), [
		['bad-word-filter', 'step', 'answered', 200, 'good'],
		['sentiment-analysis', 'step', 'answered', 200, 'positive'],
	]);
	assert.ok(Math.abs(steps[1].score - score) < 1e-4, `score ${steps[1].score} is the reply's ${score}`);
	assert.equal(steps[0].matched, undefined, 'a good review matched nothing');
	assert.ok(steps[0].time <= steps[1].time, 'bad-word-filter answered first');
	for (const s of steps) assert.ok(s.time >= t0 - 1000 && s.time <= Date.now() + 1000, `time ${s.time}`);
});

test('a bad review: bad-word-filter names the entry it matched; the notification follows', async () => {
	const ev = review({ reviewText: 'What a load of sh1t' });
	const r1 = await post(filter, ev);
	assert.equal(r1.status, 200, r1.text);
	assert.equal(r1.headers.get('ce-badwordfilter'), 'bad');
	const reply = HTTP.toEvent({ headers: Object.fromEntries(r1.headers), body: r1.text });
	const r2 = await post(sentiment, reply);
	assert.equal(r2.status, 200, r2.text);
	const moderated = HTTP.toEvent({ headers: Object.fromEntries(r2.headers), body: r2.text });
	// badword-broker's Trigger delivers the moderated comment to POST /bad-reviews, twice here
	assert.equal((await post(sink, moderated, '/bad-reviews')).status, 200);
	assert.equal((await post(sink, moderated, '/bad-reviews')).status, 200);
	const sum = summarize(await journeyOf(ev.id, 4));
	const [bwf, sa] = sum.moderation;
	const [n1, n2] = sum.notifications;
	assert.equal(bwf.result, 'bad');
	assert.equal(bwf.matched, 'shit');
	assert.equal(sa.source, 'sentiment-analysis');
	assert.equal(sa.result, r2.headers.get('ce-sentimentresult'));
	assert.deepEqual([n1, n2].map((s) => [s.source, s.kind, s.outcome, s.code]), [
		['file-sink', 'notification', 'notified', 200],
		['file-sink', 'notification', 'duplicate', 200],
	]);
});

test('the page orders steps of one millisecond along the review\'s path, whatever their arrival order', () => {
	const t = 1796630000000;
	const step = (source, result) => ({ source, kind: 'step', time: t + 5, outcome: 'answered', code: 200, result });
	const arrived = [
		{ source: 'file-sink', kind: 'notification', time: t + 5, outcome: 'notified', code: 200 },
		step('sentiment-analysis', 'neutral'),
		{ source: 'file-sink', kind: 'notification', time: t + 5, outcome: 'duplicate', code: 200 },
		step('bad-word-filter', 'bad'),
		{ source: 'dead-letter-logger', kind: 'dead-letter', time: t + 1, code: 500 },
		{ source: 'file-sink', kind: 'attempt', time: t + 1, attempt: 1, outcome: 'error simulated', code: 500 },
		{ source: 'node-server', kind: 'posted', time: t },
	];
	const sum = summarize({ id: 'x', posted: t, steps: arrived, more: 0 });
	assert.deepEqual(sum.moderation.map((s) => s.source), ['bad-word-filter', 'sentiment-analysis']);
	assert.deepEqual(sum.notifications.map((s) => s.outcome), ['notified', 'duplicate'], 'one sender\'s records keep their order');
	assert.equal(sum.attempts.length, 1);
	assert.equal(sum.dead.length, 1);
	assert.equal(arrived[0].kind, 'notification', 'summarize leaves the journey as it came');
});

test('a refused event is a failed attempt with its 4xx and no result', async () => {
	const ev = review({ text: 'no reviewText member' });
	const r = await post(filter, ev);
	assert.equal(r.status, 400);
	const bad = review({ reviewText: 'fine', badWordResult: 'maybe' });
	assert.equal((await post(sentiment, bad)).status, 400);
	const j = await journeyOf(ev.id, 1);
	assert.deepEqual(j.steps.map((s) => [s.source, s.outcome, s.code, s.result]), [['bad-word-filter', 'failed', 400, undefined]]);
	const k = await journeyOf(bad.id, 1);
	assert.deepEqual(k.steps.map((s) => [s.source, s.outcome, s.code]), [['sentiment-analysis', 'failed', 400]]);
});

test('best-effort: with node-server unreachable the step still answers, and the record is dropped', async () => {
	const srv = await startServer(binPath('bad-word-filter'), {
		env: { BADWORDS_FILE, JOURNEY_URL: `http://127.0.0.1:${await freePort()}/journey`, LOG_LEVEL: 'warn' },
	});
	try {
		for (let i = 0; i < 3; i++) assert.equal((await post(srv, review({ reviewText: `still answered ${i}` }))).status, 200);
		await waitFor(async () => {
			const m = /^journey_records_total\{outcome="dropped_error"\} (\S+)$/m.exec(await (await fetch(`${srv.url}/metrics`)).text());
			return m && Number(m[1]) >= 1;
		}, { timeoutMs: 10000, what: 'journey_records_total{outcome="dropped_error"} >= 1' });
	} finally {
		await stopClean(srv);
	}
});

test('JOURNEY_URL is in both steps\' settings; a bad one stops the start with status 2', () => {
	for (const bin of ['bad-word-filter', 'sentiment-analysis']) {
		const help = spawnSync(binPath(bin), ['--help'], { encoding: 'utf8' });
		assert.equal(help.status, 0);
		assert.match(help.stdout, /^JOURNEY_URL\s/m, `${bin} --help`);
		const r = spawnSync(binPath(bin), [], {
			encoding: 'utf8', timeout: 10000,
			env: { ...process.env, PORT: '1', BADWORDS_FILE, ...SENTIMENT, JOURNEY_URL: 'ftp://node-server/journey' },
		});
		assert.equal(r.status, 2, `${bin}: ${r.stderr}`);
		assert.match(r.stderr, /JOURNEY_URL/);
	}
});
