// How good the two moderation steps are, measured on tests/data/reviews-labelled.jsonl (359
// review sentences from the UCI Sentiment Labelled Sentences set, with hand-made moderation
// labels: tests/data/README.md), through the real binaries:
//   - sentiment-analysis: accuracy and confusion matrix against the labels, and agreement with
//     VADER's reference implementation (the vader-sentiment npm package, run here) on >= 95%;
//   - bad-word-filter: accuracy and confusion matrix, no false positive on the set, and none
//     on a list of Scunthorpe-style words.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { binPath, repoRoot, startServer, stopClean } from './lib/proc.mjs';

const require = createRequire(import.meta.url);
const { CloudEvent, HTTP } = require('cloudevents');
const vader = require('vader-sentiment');

const rows = fs.readFileSync(path.join(repoRoot, 'tests/data/reviews-labelled.jsonl'), 'utf8')
	.split('\n').filter(Boolean).map((l) => JSON.parse(l));

// Innocent words and phrases that contain a listed word, or turn into one when read loosely.
const SCUNTHORPE = [
	'Scunthorpe', 'assassin', 'classic', 'cocktail', 'Essex', 'grape', 'therapist', 'Sussex',
	'Middlesex', 'Penistone', 'cockpit', 'Dickens', 'analysis', 'butter', 'button', 'buttress',
	'hello', 'shell', 'passion', 'bass', 'compass', 'embarrass', 'cumulative', 'circumstance',
	'document', 'scrap', 'title', 'cook', 'sob', 'Hancock', 'peacock', 'assume', 'assistant',
	'shiitake', 'arsenal', 'arsenic', 'hitch', 'Matsushita', 'Shitterton', 'Cockburn',
	'Clitheroe', 'Lightwater', 'spice', 'snigger', 'niggle', 'Kuntz', 'Titicaca', 'titillate',
	'pussycat', 'Dick Francis', 'Moby Dick', 'a pawn in their game', 'the Nazi era',
	'chicken breasts', 'hoar frost', 'a bloody battle', 'It\'s hit the shelves',
	'It\' s hit or miss', 'the 80\u2019 s hit songs',
	'the pen is mightier', 'a s s e m b l y', 'cum laude', 'Sextant', 'Essex County',
	'bassist', 'glassware', 'harass', 'hassle', 'massive', 'passage', 'tassel', 'cocky',
	'scrapbook', 'Shittake', 'homework', 'homosapiens', 'Lollapalooza',
	// the list's "sh!+", "shi+" read as "sh", "shi" once
	'Sh! Don\'t spoil the ending.', 'A novel by Shi Wei', 'The sh sound',
];

let filter, sentiment;
before(async () => {
	filter = await startServer(binPath('bad-word-filter'), {
		env: { BADWORDS_FILE: path.join(repoRoot, 'services/bad-word-filter/data/badwords.txt'), LOG_LEVEL: 'warn' },
	});
	sentiment = await startServer(binPath('sentiment-analysis'), {
		env: {
			SENTIMENT_LEXICON_FILE: path.join(repoRoot, 'services/sentiment-analysis/data/vader_lexicon.txt'),
			SENTIMENT_EMOJI_FILE: path.join(repoRoot, 'services/sentiment-analysis/data/emoji_names.tsv'),
			LOG_LEVEL: 'warn',
		},
	});
});
after(async () => {
	if (filter)
		await stopClean(filter);
	if (sentiment)
		await stopClean(sentiment);
});

let seq = 0;
async function step(srv, reviewText) {
	const msg = HTTP.binary(new CloudEvent({
		id: `q-${++seq}`, source: 'quality-test', type: 'new-review-comment',
		datacontenttype: 'application/json', data: { reviewText },
	}));
	const res = await fetch(`${srv.url}/`, { method: 'POST', headers: msg.headers, body: msg.body });
	const body = await res.text();
	assert.equal(res.status, 200, body);
	return HTTP.toEvent({ headers: Object.fromEntries(res.headers), body });
}

// "expected -> predicted" counts, printed as a table.
function confusion(t, title, pairs, expected, predicted) {
	const m = Object.fromEntries(expected.map((e) => [e, Object.fromEntries(predicted.map((p) => [p, 0]))]));
	for (const [e, p] of pairs)
		m[e][p]++;
	const right = pairs.filter(([e, p]) => e === p).length;
	t.diagnostic(`${title}: accuracy ${(100 * right / pairs.length).toFixed(1)}% (${right}/${pairs.length})`);
	t.diagnostic(`  expected / predicted  ${predicted.map((p) => p.padStart(9)).join('')}`);
	for (const e of expected)
		t.diagnostic(`  ${e.padEnd(21)}${predicted.map((p) => String(m[e][p]).padStart(9)).join('')}`);
	return right / pairs.length;
}

const label = (c) => (c >= 0.05 ? 'positive' : c <= -0.05 ? 'negative' : 'neutral');

test('the labelled set: at least 300 sentences with both labels', () => {
	assert.ok(rows.length >= 300, `${rows.length} sentences`);
	for (const r of rows) {
		assert.ok(['positive', 'negative'].includes(r.sentiment), r.text);
		assert.ok(['good', 'bad'].includes(r.moderation), r.text);
	}
	assert.ok(rows.some((r) => r.moderation === 'bad'));
});

test('sentiment-analysis: accuracy, confusion matrix and agreement with the vader-sentiment package', async (t) => {
	const pairs = [];
	let agree = 0, sameScore = 0;
	const disagreements = [];
	for (const r of rows) {
		const out = await step(sentiment, r.text);
		const ref = vader.SentimentIntensityAnalyzer.polarity_scores(r.text).compound;
		pairs.push([r.sentiment, out.sentimentresult]);
		if (label(ref) === out.sentimentresult)
			agree++;
		else
			disagreements.push(`${out.data.sentimentScore} vs ${ref}: ${r.text}`);
		if (Math.abs(ref - out.data.sentimentScore) < 1e-9)
			sameScore++;
	}
	const accuracy = confusion(t, 'sentiment', pairs, ['positive', 'negative'], ['positive', 'neutral', 'negative']);
	const agreement = agree / rows.length;
	t.diagnostic(`agreement with vader-sentiment 1.1.3: ${(100 * agreement).toFixed(1)}% of labels (${agree}/${rows.length}), same compound score on ${sameScore}`);
	for (const d of disagreements.slice(0, 10))
		t.diagnostic(`  differs: ${d}`);
	// The analyser is VADER (its lexicon and rules): the package's compound score, to the last
	// digit, on every sentence (docs/moderation.md), so every label agrees too.
	assert.equal(sameScore, rows.length, `the same compound score as vader-sentiment on ${sameScore} of ${rows.length}`);
	assert.equal(agree, rows.length, `the same label as vader-sentiment on ${agree} of ${rows.length}`);
	// VADER is not trained on these reviews; the floor only catches a broken analyser (50% is chance).
	assert.ok(accuracy >= 0.6, `accuracy ${accuracy}`);
});

test('bad-word-filter: accuracy and confusion matrix, and no false positive on the set', async (t) => {
	const pairs = [];
	const wrong = [];
	for (const r of rows) {
		const out = await step(filter, r.text);
		pairs.push([r.moderation, out.badwordfilter]);
		if (out.badwordfilter !== r.moderation)
			wrong.push(`${r.moderation} labelled, ${out.badwordfilter} found: ${r.text}`);
	}
	confusion(t, 'moderation', pairs, ['good', 'bad'], ['good', 'bad']);
	for (const w of wrong)
		t.diagnostic(`  ${w}`);
	const falsePositives = pairs.filter(([e, p]) => e === 'good' && p === 'bad').length;
	assert.equal(falsePositives, 0, wrong.join('\n'));
	// docs/moderation.md: 359 of 359, so no bad sentence is missed either
	assert.deepEqual(wrong, [], 'every sentence as the data set labels it');
});

test('bad-word-filter: no false positive on the Scunthorpe list', async (t) => {
	const flagged = [];
	for (const word of SCUNTHORPE) {
		for (const text of [word, `I loved ${word}.`, word.toUpperCase()]) {
			if ((await step(filter, text)).badwordfilter !== 'good')
				flagged.push(text);
		}
	}
	t.diagnostic(`${SCUNTHORPE.length} Scunthorpe-style words, ${3 * SCUNTHORPE.length} texts: ${flagged.length} flagged`);
	assert.deepEqual(flagged, []);
});
