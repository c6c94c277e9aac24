// Byte budgets (issue 11, point 3): memory that input can grow is bounded in bytes.
//  - file-sink's dedupe keeps a fixed-size digest per saved event: 150 events with 500 KB ids
//    leave its RSS where it was (before: +79 MB);
//  - GET /events answers at most EVENTS_MAX_BYTES of lines (before: every line up to limit);
//  - dead-letter-logger's dead_letters_total keeps DEAD_LETTER_SERIES series of its own, then
//    counts in destination="other",code="other" (before: one series per destination received).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { stopClean } from './lib/proc.mjs';
import { startSink, postTo, removeSinkDirs } from './lib/sinkproc.mjs';

after(removeSinkDirs);

const ID_BYTES = 500 * 1000;
const EVENTS = 150;
const MiB = 1024 * 1024;

// A structured-mode event whose id is ID_BYTES long (ends with -n so every id differs).
function bigEvent(n) {
	const id = 'x'.repeat(ID_BYTES) + `-${n}`;
	return {
		headers: { 'content-type': 'application/cloudevents+json' },
		body: JSON.stringify({ specversion: '1.0', id, source: '/bookstore/reviews', type: 't', data: { n } }),
	};
}

function rssBytes(pid) {
	const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
	return Number(m[1]) * 1024;
}

// No ASan quarantine: freed request buffers go back at once, so RSS shows what is kept.
const ASAN = { ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:quarantine_size_mb=0' };

test(`file-sink: ${EVENTS} events with ${ID_BYTES / 1000} KB ids do not grow RSS; GET /events stays within EVENTS_MAX_BYTES`, async () => {
	const { srv, lines } = await startSink('file-sink', { FAILURE_RATE: '0', FSYNC: 'never', EVENTS_MAX_BYTES: String(MiB), ...ASAN });
	try {
		const warm = 10;
		for (let i = 0; i < warm; i++)
			assert.equal((await postTo(srv, bigEvent(i))).status, 200);
		const before = rssBytes(srv.proc.pid);
		for (let i = warm; i < EVENTS; i++)
			assert.equal((await postTo(srv, bigEvent(i))).status, 200);
		const grown = rssBytes(srv.proc.pid) - before;
		const kept = (EVENTS - warm) * ID_BYTES;
		console.log(`file-sink RSS grew by ${(grown / MiB).toFixed(1)} MiB over ${EVENTS - warm} events ` +
			`holding ${(kept / MiB).toFixed(1)} MiB of ids`);
		assert.ok(grown < kept / 4, `RSS grew by ${grown} bytes, a quarter of the ids is ${kept / 4}`);

		// A redelivery of an early event is still recognized (the digest is the whole key).
		assert.equal((await postTo(srv, bigEvent(3))).status, 200);
		assert.equal(lines().at(-1).outcome, 'duplicate');

		// GET /events?limit=1000 over ~0.5 MB lines: two lines fit in 1 MiB, not 151.
		const res = await fetch(`${srv.url}/events?limit=1000`);
		assert.equal(res.status, 200);
		const text = await res.text();
		const got = JSON.parse(text);
		assert.ok(got.length >= 1 && got.length <= 2, `${got.length} records in ${text.length} bytes`);
		assert.ok(text.length <= MiB + 4096, `${text.length} bytes`);
		assert.equal(got[0].outcome, 'duplicate');
	} finally {
		await stopClean(srv);
	}
});

test('dead-letter-logger: dead_letters_total keeps DEAD_LETTER_SERIES series, then one overflow series', async () => {
	const { srv } = await startSink('dead-letter-logger', { DEAD_LETTER_SERIES: '5' });
	try {
		for (let i = 0; i < 40; i++) {
			const r = await postTo(srv, {
				headers: {
					'ce-specversion': '1.0', 'ce-id': `dl-${i}`, 'ce-source': '/s', 'ce-type': 't',
					'ce-knativeerrordest': `http://attacker-${i}.example/`, 'ce-knativeerrorcode': '500',
					'content-type': 'text/plain',
				},
				body: 'x',
			});
			assert.equal(r.status, 200, r.text);
		}
		const long = 'd'.repeat(5000);
		assert.equal((await postTo(srv, {
			headers: { 'ce-specversion': '1.0', 'ce-id': 'dl-long', 'ce-source': '/s', 'ce-type': 't', 'ce-knativeerrordest': long },
			body: '',
		})).status, 200);
		const metrics = await (await fetch(`${srv.url}/metrics`)).text();
		const series = metrics.split('\n').filter((l) => l.startsWith('dead_letters_total{'));
		assert.equal(series.length, 6, series.join('\n'));
		assert.ok(series.includes('dead_letters_total{destination="other",code="other"} 36'), series.join('\n'));
		assert.ok(!metrics.includes(long));
	} finally {
		await stopClean(srv);
	}
});
