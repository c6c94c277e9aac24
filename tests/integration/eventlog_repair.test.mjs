// Self-healing event logs (issue 11, point 2): a sink restarted over an events.log whose last
// line was torn by a crash cuts the fragment off (keeping it next to the log, with a warning)
// before it appends. The next record is a clean line, GET /events returns it, an event saved
// before the tear is still recognized as a redelivery, and every line parses as JSON.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { stopClean } from './lib/proc.mjs';
import { startSink, postTo, removeSinkDirs } from './lib/sinkproc.mjs';

after(removeSinkDirs);

function event(id) {
	return {
		headers: {
			'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/bookstore/reviews',
			'ce-type': 'com.example.review.created', 'content-type': 'application/json',
		},
		body: JSON.stringify({ review: `review ${id}`, stars: 4 }),
	};
}

// One "saved" line for event before-1, then the first bytes of a second record: what a crash
// in the middle of an append leaves behind.
const SAVED = JSON.stringify({
	time: '2026-01-01T00:00:00.000Z', outcome: 'saved',
	event: { specversion: '1.0', id: 'before-1', source: '/bookstore/reviews', type: 't' },
}) + '\n';
const TORN = '{"time":"2026-01-01T00:00:01.000Z","outcome":"saved","event":{"specversion":"1.0","id":"tor';

for (const sink of ['file-sink', 'dead-letter-logger']) {
	test(`${sink}: a torn last line is moved aside on start, the next record is a clean line`, async () => {
		const env = sink === 'file-sink' ? { FAILURE_RATE: '0' } : {};
		const { srv, dir, lines } = await startSink(sink, env, (d) => {
			fs.writeFileSync(path.join(d, 'events.log'), SAVED + TORN);
		});
		try {
			const r = await postTo(srv, event('after-1'));
			assert.equal(r.status, 200, r.text);

			const text = fs.readFileSync(path.join(dir, 'events.log'), 'utf8');
			assert.ok(text.startsWith(SAVED), 'the whole line before the tear is kept');
			assert.ok(!text.includes(TORN), 'the fragment is gone from the log');
			const log = lines(); // every line parses, and the file ends with a newline
			assert.equal(log.length, 2);
			assert.equal(log[1].event.id, 'after-1');

			const aside = fs.readdirSync(dir).filter((f) => f.startsWith('events.log.torn-'));
			assert.equal(aside.length, 1, `one fragment file next to the log: ${aside}`);
			assert.equal(fs.readFileSync(path.join(dir, aside[0]), 'utf8'), TORN);

			const got = await (await fetch(`${srv.url}/events?limit=10`)).json();
			assert.deepEqual(got.map((l) => l.event.id), ['after-1', 'before-1']);

			if (sink === 'file-sink') {
				// The event saved before the tear is still known: its redelivery is a duplicate.
				const again = await postTo(srv, event('before-1'));
				assert.equal(again.status, 200);
				const l = lines();
				assert.equal(l.length, 3);
				assert.equal(l[2].outcome, 'duplicate');
				assert.equal(l[2].event.id, 'before-1');
			}
		} finally {
			const { stderr } = await stopClean(srv);
			assert.match(stderr, /the last line was torn .*moved it to .*events\.log\.torn-/);
		}
	});
}

test('file-sink: a log that ends with a newline is left alone (no fragment file, no warning)', async () => {
	const { srv, dir, lines } = await startSink('file-sink', { FAILURE_RATE: '0' }, (d) => {
		fs.writeFileSync(path.join(d, 'events.log'), SAVED);
	});
	try {
		assert.equal((await postTo(srv, event('before-1'))).status, 200);
		assert.deepEqual(lines().map((l) => l.outcome), ['saved', 'duplicate']);
		assert.deepEqual(fs.readdirSync(dir).sort(), ['bad-reviews.log', 'events.log'], 'no fragment file (bad-reviews.log is the notification sink\'s)');
	} finally {
		const { stderr } = await stopClean(srv);
		assert.doesNotMatch(stderr, /torn/);
	}
});
