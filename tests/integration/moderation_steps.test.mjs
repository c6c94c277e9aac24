// The two moderation steps end to end, the real binaries over real HTTP: bad-word-filter and
// sentiment-analysis take a new review as a CloudEvent (binary or structured) and answer with
// the reply event upstream's functions send, checked with the cloudevents SDK; chained as the
// Sequence chains them; malformed requests get a 4xx JSON answer; metrics; bad settings.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { binPath, repoRoot, startServer, stopClean } from './lib/proc.mjs';
import { MALFORMED_EVENTS, cleanHeaders } from './lib/malformed.mjs';
import { rawRequest } from './lib/rawhttp.mjs';

const require = createRequire(import.meta.url);
const { CloudEvent, HTTP } = require('cloudevents');
const vader = require('vader-sentiment');

const BADWORDS_FILE = path.join(repoRoot, 'services/bad-word-filter/data/badwords.txt');
const SENTIMENT_LEXICON_FILE = path.join(repoRoot, 'services/sentiment-analysis/data/vader_lexicon.txt');
const SENTIMENT_EMOJI_FILE = path.join(repoRoot, 'services/sentiment-analysis/data/emoji_names.tsv');

let filter, sentiment;
before(async () => {
	filter = await startServer(binPath('bad-word-filter'), { env: { BADWORDS_FILE, LOG_LEVEL: 'warn' } });
	sentiment = await startServer(binPath('sentiment-analysis'),
		{ env: { SENTIMENT_LEXICON_FILE, SENTIMENT_EMOJI_FILE, LOG_LEVEL: 'warn' } });
});
after(async () => {
	if (filter)
		await stopClean(filter);
	if (sentiment)
		await stopClean(sentiment);
});

let seq = 0;
function review(data, extra = {}) {
	return new CloudEvent({
		id: `review-${++seq}`, source: 'bookstore-eda', type: 'new-review-comment',
		subject: 'book-1', datacontenttype: 'application/json', data,
		traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', ...extra,
	});
}

async function post(srv, msg) {
	const res = await fetch(`${srv.url}/`, { method: 'POST', headers: msg.headers, body: msg.body });
	const body = await res.text();
	return { status: res.status, headers: Object.fromEntries(res.headers), body };
}

// Posts ev and returns the reply event (asserting a 200 in binary mode).
async function step(srv, ev, mode = 'binary') {
	const r = await post(srv, HTTP[mode](ev));
	assert.equal(r.status, 200, r.body);
	assert.equal(r.headers['ce-specversion'], '1.0', 'binary-mode reply');
	return HTTP.toEvent({ headers: r.headers, body: r.body });
}

test('bad-word-filter replies new-review-comment with badwordfilter good or bad, as upstream', async () => {
	for (const [text, want] of [['A wonderful, moving book.', 'good'], ['What a load of sh1t', 'bad'],
		['f.u.c.k this ending', 'bad'], ['A classic from Scunthorpe, an assassin story', 'good'],
		['\u24BB\u24E4\u24D2\u24DA you', 'bad']]) { // circled letters
		for (const mode of ['binary', 'structured']) {
			const ev = review({ reviewText: text, bookId: 7 });
			const out = await step(filter, ev, mode);
			assert.equal(out.type, 'new-review-comment');
			assert.equal(out.source, 'book-review-broker');
			assert.equal(out.datacontenttype, 'application/json');
			assert.equal(out.badwordfilter, want, `${text} (${mode})`);
			assert.deepEqual(out.data, { reviewText: text, bookId: 7, badWordResult: want });
			assert.equal(out.id, ev.id, 'the review keeps its id (a new source keeps (source, id) unique)');
			assert.equal(out.subject, 'book-1', 'other attributes are kept');
			assert.equal(out.traceparent, ev.traceparent, 'the review stays in its trace');
			assert.ok(!Number.isNaN(Date.parse(out.time)));
		}
	}
});

test('sentiment-analysis replies moderated-comment with sentimentresult and the compound score', async () => {
	const rows = [
		['I love this book, it is wonderful!', 'positive', 'good'],
		['A horrible, boring waste of paper.', 'negative', 'bad'],
		['The book has 300 pages.', 'neutral', 'good'],
		['Not bad at all', 'negative', 'good'], // VADER's own answer for it
		['\u{1F60D}\u{1F60D}', 'positive', 'good'],
	];
	for (const [text, want, bad] of rows) {
		const out = await step(sentiment, review({ reviewText: text, badWordResult: bad }));
		assert.equal(out.type, 'moderated-comment');
		assert.equal(out.source, 'sentiment-analysis');
		assert.equal(out.sentimentresult, want, text);
		assert.equal(out.badwordfilter, bad);
		assert.equal(out.data.sentimentResult, want);
		assert.equal(out.data.badWordResult, bad);
		assert.equal(typeof out.data.sentimentScore, 'number');
		assert.equal(Number(out.sentimentscore), out.data.sentimentScore);
		assert.ok(out.data.sentimentScore >= -1 && out.data.sentimentScore <= 1);
		if (want === 'positive')
			assert.ok(out.data.sentimentScore >= 0.05);
		else if (want === 'negative')
			assert.ok(out.data.sentimentScore <= -0.05);
		else
			assert.ok(Math.abs(out.data.sentimentScore) < 0.05);
	}
	// Without a badWordResult (not through the filter): data gets "", the extension is unset.
	const out = await step(sentiment, review({ reviewText: 'good' }));
	assert.equal(out.data.badWordResult, '');
	assert.equal(out.badwordfilter, undefined);
});

test('chained as the Sequence chains them, the last reply carries both results', async () => {
	const first = await step(filter, review({ reviewText: 'This fuuuucking book is GREAT!!!' }));
	const last = await step(sentiment, first);
	assert.equal(last.type, 'moderated-comment');
	assert.equal(last.badwordfilter, 'bad');
	assert.equal(last.sentimentresult, 'positive');
	assert.deepEqual(Object.keys(last.data).sort(),
		['badWordResult', 'reviewText', 'sentimentResult', 'sentimentScore']);
	assert.equal(last.traceparent, first.traceparent);
});

// A structured-mode event as a JSON object, posted as it is (extensions keep their JSON types).
async function postStructured(srv, ev) {
	return post(srv, { headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(ev) });
}

test('JSON data sent as data_base64 is read as the review; data that is not JSON says why', async () => {
	const base = { specversion: '1.0', source: '/s', type: 'new-review-comment', datacontenttype: 'application/json' };
	const b64 = (text) => Buffer.from(text).toString('base64');
	for (const srv of [filter, sentiment]) {
		const ok = await postStructured(srv, { ...base, id: `b64-${++seq}`, data_base64: b64('{"reviewText":"A fine read"}') });
		assert.equal(ok.status, 200, ok.body);
		const reply = HTTP.toEvent({ headers: ok.headers, body: ok.body });
		assert.equal(reply.data.reviewText, 'A fine read');
		const rows = [
			['not JSON', b64('{"reviewText": "x"'), /not valid JSON: .*\(at 1:/],
			['a duplicate key', b64('{"reviewText":"a","reviewText":"b"}'), /not valid JSON: duplicate object key/],
			['a NUL in reviewText', b64('{"reviewText":"a\\u0000b"}'), /not valid JSON: .*NUL/],
			// valid JSON that is not an object: said so, not "not valid JSON"
			['a JSON string', b64('"{\\"reviewText\\":\\"x\\"}"'), /^the event's data must be a JSON object/],
			['a JSON number', b64('5'), /^the event's data must be a JSON object/],
			['JSON null', b64('null'), /^the event's data must be a JSON object/],
		];
		for (const [name, data, message] of rows) {
			const r = await postStructured(srv, { ...base, id: `b64-${++seq}`, data_base64: data });
			assert.equal(r.status, 400, `${name}: ${r.body}`);
			const j = JSON.parse(r.body);
			assert.equal(j.error, 'validation_failed', name);
			assert.match(j.message, message, name);
		}
	}
});

test("a step's own extension replaces an input's one of another JSON type, as a String", async () => {
	const base = { specversion: '1.0', source: '/s', type: 'new-review-comment', datacontenttype: 'application/json' };
	const rows = [
		[filter, { badwordfilter: true }, { badwordfilter: 'good' }],
		[filter, { badwordfilter: 0 }, { badwordfilter: 'good' }],
		[sentiment, { sentimentscore: 1 }, { sentimentresult: 'positive' }],
		[sentiment, { sentimentresult: false, badwordfilter: false }, { sentimentresult: 'positive' }],
	];
	for (const [srv, exts, want] of rows) {
		const r = await postStructured(srv, { ...base, id: `typed-${++seq}`, ...exts, data: { reviewText: 'A good book' } });
		assert.equal(r.status, 200, `${JSON.stringify(exts)}: ${r.body}`);
		const out = HTTP.toEvent({ headers: r.headers, body: r.body });
		for (const [k, v] of Object.entries(want))
			assert.equal(out[k], v, JSON.stringify(exts));
		if (srv === sentiment) {
			assert.equal(Number(out.sentimentscore), out.data.sentimentScore);
			assert.equal(out.badwordfilter, undefined, 'unset without data.badWordResult');
		}
	}
});

test("an event with no room for a step's extensions gets a 400 JSON answer, not a 500", async () => {
	const ev = (n, id) => {
		const e = { specversion: '1.0', id, source: '/s', type: 'new-review-comment', data: { reviewText: 'A good book' } };
		for (let i = 0; i < n; i++)
			e[`x${i}`] = 'v';
		return e;
	};
	// CE_MAX_EXTENSIONS is 1000: bad-word-filter adds one, sentiment-analysis two.
	for (const [srv, full, room] of [[filter, 1000, 999], [sentiment, 999, 998]]) {
		const r = await postStructured(srv, ev(full, `full-${++seq}`));
		assert.equal(r.status, 400, r.body);
		const j = JSON.parse(r.body);
		assert.equal(j.error, 'validation_failed');
		assert.match(j.message, /extension attributes/);
		assert.equal((await postStructured(srv, ev(room, `room-${++seq}`))).status, 200);
	}
	// An extension the step sets anyway takes no new slot.
	const e = ev(999, `own-${++seq}`);
	e.badwordfilter = true;
	assert.equal((await postStructured(filter, e)).status, 200);
});

const REVIEW_MALFORMED = [
	['no data', { 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s', 'ce-type': 'new-review-comment' }, ''],
	['data not JSON', { 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s', 'ce-type': 't', 'content-type': 'text/plain' }, 'hello'],
	['data an array', { 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s', 'ce-type': 't', 'content-type': 'application/json' }, '[1]'],
	['no reviewText', { 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s', 'ce-type': 't', 'content-type': 'application/json' }, '{"text":"x"}'],
	['reviewText a number', { 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s', 'ce-type': 't', 'content-type': 'application/json' }, '{"reviewText":5}'],
	['data_base64', { 'content-type': 'application/cloudevents+json' }, JSON.stringify({ specversion: '1.0', id: '1', source: '/s', type: 't', data_base64: 'e30=' })],
	['reviewText over 64 KiB', { 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s', 'ce-type': 't', 'content-type': 'application/json' }, JSON.stringify({ reviewText: 'a'.repeat(65 * 1024) })],
];

// The reference lowercases each token with toLowerCase() before it looks it up; the lexicon's
// only non-ASCII entries (":Þ", ":-Þ") keep a capital, so the reference never finds them, and
// the Kelvin sign lowers to an ASCII k.
test('sentiment-analysis scores tokens with capitals beyond ASCII as vader-sentiment does', async () => {
	for (const text of ['meh :Þ', 'ok :-Þ', 'CAFÉ is GREAT :Þ', 'ÀÉÎÕÜ love ×',
		// U+212A KELVIN SIGN lowers to an ASCII k: "Kill", "oK", "KILL".
		'\u212Aill it', 'that is o\u212A', 'the \u212AILL is great', 'I \u212Anow, \u212A?']) {
		const reply = await step(sentiment, review({ reviewText: text }));
		const ref = vader.SentimentIntensityAnalyzer.polarity_scores(text).compound;
		assert.ok(Math.abs(reply.data.sentimentScore - ref) < 1e-9, `${text}: ${reply.data.sentimentScore} vs ${ref}`);
	}
});

test('sentiment-analysis refuses a badWordResult that bad-word-filter would not write', async () => {
	for (const bad of ['maybe', 5, '\u0001', { a: 1 }]) {
		const ev = review({ reviewText: 'good', badWordResult: bad });
		const r = await post(sentiment, HTTP.binary(ev));
		assert.equal(r.status, 400, JSON.stringify(bad));
		assert.equal(JSON.parse(r.body).error, 'validation_failed');
		// logged at warn with the event's id, as every refusal of a step (step.h)
		const line = sentiment.stderr().split('\n').find((l) => l.includes(`"event_id":"${ev.id}"`));
		assert.ok(line, `no log line for ${ev.id}`);
		assert.match(line, /"level":"warn".*rejected a review event: data\.badWordResult/);
	}
	assert.equal((await step(sentiment, review({ reviewText: 'good', badWordResult: null }))).data.badWordResult, '');
});

test('malformed requests get a 4xx JSON answer from both steps, never a 5xx', async () => {
	for (const srv of [filter, sentiment]) {
		for (const [name, headers, body] of [...MALFORMED_EVENTS, ...REVIEW_MALFORMED]) {
			const r = await post(srv, { headers: cleanHeaders(headers), body });
			assert.ok(r.status >= 400 && r.status < 500, `${name}: status ${r.status} ${r.body}`);
			const j = JSON.parse(r.body);
			assert.equal(typeof j.error, 'string', name);
			assert.equal(typeof j.message, 'string', name);
		}
		// Over the body cap: the answer comes from the headers alone. A client still writing
		// the body may see the connection close first (fetch then fails with EPIPE, seen in
		// CI), so this one goes over a raw socket that sends the headers only.
		const big = await rawRequest(srv.port, 'POST / HTTP/1.1\r\nHost: t\r\nce-specversion: 1.0\r\n' +
			'ce-id: 1\r\nce-source: /s\r\nce-type: t\r\nContent-Type: application/json\r\n' +
			`Content-Length: ${1024 * 1024 + 1}\r\n\r\n"x`);
		assert.equal(big.status, 413);
		assert.equal(big.json().error, 'payload_too_large');
		assert.equal((await fetch(`${srv.url}/`)).status, 405);
		assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
	}
});

// The text's limit is on its decoded bytes (64 KiB); the body may carry them escaped, six bytes
// for each two-byte character. Before, the body cap was twice the text's, so such a review of
// 44 KB was answered 413 and, in a Sequence, dead-lettered (413 is not retried).
test('a review text of 64 KiB is taken however its JSON escapes it', async () => {
	const body = `{"reviewText":"${'\\u00e9'.repeat(32 * 1024)}"}`; // 64 KiB of é in 192 KiB
	for (const srv of [filter, sentiment]) {
		const r = await post(srv, {
			headers: { 'ce-specversion': '1.0', 'ce-id': `esc-${++seq}`, 'ce-source': '/s', 'ce-type': 'new-review-comment', 'content-type': 'application/json' },
			body,
		});
		assert.equal(r.status, 200, r.body.slice(0, 300));
		assert.equal(HTTP.toEvent({ headers: r.headers, body: r.body }).data.reviewText, 'é'.repeat(32 * 1024));
	}
});

test('metrics count the results', async () => {
	const text = async (srv) => (await fetch(`${srv.url}/metrics`)).text();
	const count = (t, re) => Number((t.match(re) || [0, 0])[1]);
	const f0 = count(await text(filter), /badwordfilter_reviews_total\{result="bad"\} (\d+)/);
	const s0 = count(await text(sentiment), /sentiment_reviews_total\{result="negative"\} (\d+)/);
	await step(filter, review({ reviewText: 'a$$hole' }));
	await step(sentiment, review({ reviewText: 'terrible' }));
	assert.equal(count(await text(filter), /badwordfilter_reviews_total\{result="bad"\} (\d+)/), f0 + 1);
	assert.equal(count(await text(sentiment), /sentiment_reviews_total\{result="negative"\} (\d+)/), s0 + 1);
});

test('--help lists the data-file settings; unreadable or malformed files stop the start with status 2', () => {
	const help = spawnSync(binPath('bad-word-filter'), ['--help'], { encoding: 'utf8' });
	assert.equal(help.status, 0);
	assert.match(help.stdout, /BADWORDS_FILE/);
	const shelp = spawnSync(binPath('sentiment-analysis'), ['--help'], { encoding: 'utf8' });
	assert.match(shelp.stdout, /SENTIMENT_LEXICON_FILE/);
	assert.match(shelp.stdout, /SENTIMENT_EMOJI_FILE/);

	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moderation-'));
	try {
		const badList = path.join(dir, 'list.txt');
		fs.writeFileSync(badList, 'darn\n...\n');
		const badLex = path.join(dir, 'lexicon.txt');
		fs.writeFileSync(badLex, 'good\t1.9\nbad\tnot-a-number\n');
		const cases = [
			['bad-word-filter', { BADWORDS_FILE: path.join(dir, 'missing.txt') }, /BADWORDS_FILE: .*missing\.txt/],
			['bad-word-filter', { BADWORDS_FILE: badList }, /line 2/],
			['sentiment-analysis', { SENTIMENT_LEXICON_FILE: badLex }, /line 2/],
			['sentiment-analysis', { SENTIMENT_LEXICON_FILE, SENTIMENT_EMOJI_FILE: path.join(dir, 'none.tsv') }, /none\.tsv/],
			['bad-word-filter', { PORT: '99999' }, /PORT/],
		];
		for (const [bin, env, re] of cases) {
			const r = spawnSync(binPath(bin), [], { encoding: 'utf8', env: { ...process.env, PORT: '1', ...env }, timeout: 10000 });
			assert.equal(r.status, 2, `${bin} ${JSON.stringify(env)}: ${r.stderr}`);
			assert.match(r.stderr, re);
		}
	} finally {
		fs.rmSync(dir, { recursive: true, force: true });
	}
});

test('a replacement word list is used', async () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moderation-'));
	const list = path.join(dir, 'list.txt');
	fs.writeFileSync(list, '# only one word\nspoiler\n');
	const srv = await startServer(binPath('bad-word-filter'), { env: { BADWORDS_FILE: list, LOG_LEVEL: 'warn' } });
	try {
		assert.equal((await step(srv, review({ reviewText: 'Sp0ilers ahead: SPOILER' }))).badwordfilter, 'bad');
		assert.equal((await step(srv, review({ reviewText: 'what a load of shit' }))).badwordfilter, 'good');
	} finally {
		await stopClean(srv);
		fs.rmSync(dir, { recursive: true, force: true });
	}
});
