// waits.mjs: a broker's retry waits, checked without timing assertions.
//
//   import { assertWaits } from './lib/waits.mjs';
//   assertWaits(rx.requests, b.stderrFile, sub.url, [300, 600, 1200]);
//
// The local broker logs each failed attempt (services/local-broker/dispatcher.c, log_failed)
// and, when a retry follows, the wait it planned (retry_in_ms). Those planned waits must equal
// the expected schedule exactly. The receiver's arrival times then only have to show that no
// retry came early: a gap may fall short of its wait by EARLY_MS at most, since node reads its
// clock when it handles a request, an event-loop turn after it arrived. How late a retry comes
// is the machine's load, not the delivery contract, so it is not asserted (make bench
// measures latency).
import assert from 'node:assert/strict';
import { parseLines } from './run.mjs';

const EARLY_MS = 50;

const trim = (url) => url.replace(/\/$/, '');

/** The retry_in_ms of every failed attempt logged for url, in order (logFile: JSON lines). */
export function plannedWaits(logFile, url) {
	return parseLines(logFile)
		.filter((rec) => rec.retry_in_ms !== undefined && typeof rec.url === 'string' && trim(rec.url) === trim(url))
		.map((rec) => rec.retry_in_ms);
}

/** reqs: a receiver's requests to url; the broker's waits between them must be expected. */
export function assertWaits(reqs, logFile, url, expected) {
	assert.equal(reqs.length, expected.length + 1, `attempts: ${reqs.length}`);
	assert.deepEqual(plannedWaits(logFile, url), expected, `the broker's planned waits for ${url}`);
	const gaps = reqs.slice(1).map((r, i) => r.at - reqs[i].at);
	gaps.forEach((g, i) => assert.ok(g >= expected[i] - EARLY_MS,
		`retry ${i + 1} came early: ${g.toFixed(0)} ms after the attempt before, planned ` +
		`${expected[i]} ms; all gaps: ${gaps.map((x) => x.toFixed(0))}`));
}
