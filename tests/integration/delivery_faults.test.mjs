// The delivery demo under faults, through `make run`'s wiring (lib/run.mjs runs the real
// scripts/run.sh with RUN_KEEP_GOING=1, so one service can be killed and started again while
// the others keep running). FAILURE_RATE=0.5 and the real k8s/base/eventing delivery spec
// (retry 2, exponential from PT1S) as in the demo. Nothing the broker accepted may be lost.
//
// 1. file-sink is killed with SIGKILL while reviews are flowing and started again 5 s later on
//    the same port and DATA_DIR. Every event must have a "saved" line or a dead letter. An
//    event may have BOTH only when the kill explains it: its "saved" line was written before
//    the kill, the answer never left the killed process, the broker's remaining attempts (at
//    most 3 s of backoff) all fell in the 5 s outage, and so it was dead-lettered after the
//    kill. Such events are counted and printed; any other "both" fails. No event may have two
//    "saved" lines: a redelivery after the restart is answered from the dedupe set rebuilt
//    from events.log ("duplicate").
// 2. the broker is stopped with SIGTERM mid-run (it finishes the attempts in flight, writes
//    the pending deliveries to its spool) and started again on the same DATA_DIR: it resumes
//    the spool. Every event accepted (/add answered 200) ends in exactly one place, with
//    exactly one "saved" line per saved event; /add answers refused while the broker was down
//    are retried, as the page's user would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startRun, runSkipReason, postReviews, account, waitAccounted } from './lib/run.mjs';
import { waitFor } from './lib/proc.mjs';

const skip = runSkipReason();
const N = 400;
// 40 reviews a second: the run lasts 10 s and the fault comes after 2.5 s, so events arrive
// before, during and after it.
const PACE_MS = 25;
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

let r;

before(async () => {
	if (skip) return;
	r = await startRun({ env: { FAILURE_RATE: '0.5' } });
});

after(async () => {
	if (r) await r.cleanup();
});

async function assertStored(tag, sent) {
	const rows = await r.query(`SELECT event_id, content FROM book_reviews WHERE content LIKE '${tag} review %'`);
	const byId = new Map(rows.map(([id, content]) => [id, content]));
	assert.equal(rows.length, sent.length, 'one row per review');
	for (const s of sent) assert.equal(byId.get(s.id), s.text, `review ${s.i} stored once under ${s.id}`);
}

const logOf = (name) => fs.readFileSync(path.join(r.logsDir, `${name}.log`), 'utf8');

test('file-sink killed (SIGKILL) for 5 s mid-run: nothing lost, never saved twice', { skip, timeout: 180000 }, async () => {
	const tag = `fault-sink-${crypto.randomBytes(4).toString('hex')}`;
	let killAt = 0;
	let fault = null;
	const sent = await postReviews(r, N, {
		tag,
		paceMs: PACE_MS,
		onProgress: (done) => {
			if (done !== N / 4) return;
			fault = (async () => {
				const gone = r.kill('file-sink', 'SIGKILL');
				killAt = Date.now(); // the signal is sent synchronously inside kill()
				await gone;
				await sleep(5000);
				await r.restart('file-sink');
			})();
		},
	});
	await fault;
	const ids = sent.map((s) => s.id);
	await waitAccounted(r, ids, { timeoutMs: 90000 });

	const per = account(r, ids);
	let neither = 0;
	let both = 0;
	let dead = 0;
	let duplicates = 0;
	for (const [id, p] of per) {
		duplicates += p.duplicate.length;
		assert.ok(p.saved.length <= 1, `${id}: ${p.saved.length} saved lines`);
		assert.ok(p.dead.length <= 1, `${id}: ${p.dead.length} dead letters`);
		if (!p.saved.length && !p.dead.length) neither++;
		if (p.dead.length) dead++;
		if (p.saved.length && p.dead.length) {
			const savedAt = Date.parse(p.saved[0].time);
			const deadAt = Date.parse(p.dead[0].time);
			assert.ok(savedAt <= killAt + 1 && deadAt >= killAt,
				`${id}: saved at ${p.saved[0].time} and dead-lettered at ${p.dead[0].time}, ` +
				`which the kill at ${new Date(killAt).toISOString()} does not explain`);
			both++;
		}
	}
	assert.equal(neither, 0, `${neither} events are neither saved nor dead-lettered`);
	console.log(`${N} reviews: ${dead} dead-lettered, ${both} both saved and dead-lettered ` +
		`(saved just before the SIGKILL, answer lost), ${duplicates} redeliveries answered "duplicate"`);
	await assertStored(tag, sent);

	// The restarted file-sink rebuilt its dedupe set from events.log.
	const m = /(\d+) saved events remembered/.exec(logOf('file-sink').split('\n').filter((l) => l.includes('remembered')).at(-1) || '');
	assert.ok(m && Number(m[1]) > 0, 'the restarted file-sink remembered the events saved before the kill');
});

test('broker stopped (SIGTERM) mid-run and restarted on its spool: nothing lost, one saved line each', { skip, timeout: 180000 }, async () => {
	const tag = `fault-broker-${crypto.randomBytes(4).toString('hex')}`;
	let fault = null;
	const sent = await postReviews(r, N, {
		tag,
		paceMs: PACE_MS,
		retryMs: 60000,
		onProgress: (done) => {
			if (done !== N / 4) return;
			fault = (async () => {
				await r.kill('local-broker', 'SIGTERM');
				await r.restart('local-broker');
			})();
		},
	});
	await fault;
	const ids = sent.map((s) => s.id);
	assert.equal(new Set(ids).size, N);
	await waitAccounted(r, ids, { timeoutMs: 90000 });

	const per = account(r, ids);
	let dead = 0;
	let duplicates = 0;
	for (const [id, p] of per) {
		duplicates += p.duplicate.length;
		assert.equal(p.saved.length + p.dead.length, 1,
			`${id}: ${p.saved.length} saved lines and ${p.dead.length} dead letters`);
		dead += p.dead.length;
	}
	const broker = logOf('local-broker');
	const resumed = /resumed (\d+) pending deliveries/.exec(broker);
	console.log(`${N} reviews: ${dead} dead-lettered, ${sent.refused} /add answers refused while the ` +
		`broker was down (retried), ${resumed ? resumed[1] : 0} deliveries resumed from the spool, ` +
		`${duplicates} redeliveries answered "duplicate"`);
	assert.ok(resumed && Number(resumed[1]) > 0, 'the broker resumed pending deliveries from its spool');
	await assertStored(tag, sent);
});

// The dedupe itself, deterministically: a redelivery of a saved event, before and after a
// SIGKILL and restart of file-sink, is answered 200 and logged "duplicate", not saved again.
test('file-sink answers a redelivery of a saved event "duplicate", also after a restart', { skip, timeout: 60000 }, async () => {
	const id = `redelivery-${crypto.randomBytes(4).toString('hex')}`;
	const deliver = async () => {
		const res = await fetch(`${r.sinkUrl}/`, {
			method: 'POST',
			headers: {
				'ce-specversion': '1.0', 'ce-id': id, 'ce-source': 'bookstore-eda',
				'ce-type': 'new-review-comment', 'content-type': 'application/json',
			},
			body: '{"reviewText":"delivered more than once"}',
		});
		await res.arrayBuffer();
		return res.status;
	};
	// FAILURE_RATE=0.5: deliver until it is saved, as the broker would (at most a few tries).
	await waitFor(async () => (await deliver()) === 200, { timeoutMs: 10000, intervalMs: 1, what: 'a first save' });
	assert.equal(await deliver(), 200);
	await r.kill('file-sink', 'SIGKILL');
	await r.restart('file-sink');
	assert.equal(await deliver(), 200);
	const mine = r.sinkLines().filter((l) => l.event?.id === id).map((l) => l.outcome);
	assert.equal(mine.filter((o) => o === 'saved').length, 1, mine.join(', '));
	assert.deepEqual(mine.slice(-2), ['duplicate', 'duplicate'], mine.join(', '));
	assert.ok(mine.slice(0, -3).every((o) => o === 'error simulated'), mine.join(', '));
	const m = await r.metrics(r.sinkUrl);
	assert.match(m, /^filesink_deliveries_total\{outcome="duplicate"\} 1$/m, 'counted since the restart');
});

test('stops cleanly on Ctrl-C after the faults, without a sanitizer report', { skip, timeout: 120000 }, async () => {
	const pids = Object.values(r.pids());
	const res = await r.stop();
	assert.equal(res.code, 0, res.stdout);
	await waitFor(() => pids.every((pid) => !r.alive(pid)), { timeoutMs: 5000, what: 'every service gone' });
	r.assertLogsClean();
});
