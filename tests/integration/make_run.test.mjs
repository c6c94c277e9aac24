// `make run` / `make stop`: the real scripts/run.sh (through lib/run.mjs) on free ports and a
// temporary RUN_DIR, with the binaries from BUILD_DIR. It must start PostgreSQL (initdb on the
// first run, as the `postgres` user when we are root) and the five services wired as on the
// cluster, print the page's URL and both events.log paths, carry a review from the page's
// POST /add to the database and to file-sink's log (or the dead-letter log), and stop every
// process, PostgreSQL included, on Ctrl-C (SIGINT to its process group) and on
// `scripts/run.sh stop` from another terminal. A second start reuses the data directory.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startRun, runSkipReason, isAlive, SERVICES } from './lib/run.mjs';
import { repoRoot, waitFor } from './lib/proc.mjs';

const skip = runSkipReason();
let first;
let firstStopped = null; // its RUN_DIR once the first test stopped it with the review stored
let own; // the second test's own first run, when it runs alone
let second;

after(async () => {
	if (second) await second.cleanup();
	if (own) await own.cleanup();
	if (first) await first.cleanup();
});

// One review, as the page posts it; resolves when it is in the database. Returns its id.
async function postReview(r) {
	const res = await fetch(`${r.url}/add`, {
		method: 'POST',
		headers: {
			'Content-Type': 'application/json', 'ce-specversion': '1.0', 'ce-type': 'new-review-comment',
			'ce-source': 'bookstore-frontend', 'ce-id': 'make-run-1',
		},
		body: JSON.stringify({ reviewText: 'make run works' }),
	});
	assert.equal(res.status, 200);
	const { id } = await res.json();
	await waitFor(async () => (await r.query(`SELECT content FROM book_reviews WHERE event_id = '${id}'`))[0]?.[0] === 'make run works',
		{ timeoutMs: 15000, what: 'the review in the database' });
	return id;
}

async function portClosed(port) {
	try {
		await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
		return false;
	} catch {
		return true;
	}
}

/** Everything the run started is gone: services, PostgreSQL, pid files, ports. */
async function assertAllStopped(r, pids, pgPid) {
	for (const [name, pid] of Object.entries(pids)) assert.ok(!isAlive(pid), `${name} (pid ${pid}) still running`);
	assert.ok(pgPid > 0, 'PostgreSQL had a postmaster pid');
	assert.ok(!isAlive(pgPid), `PostgreSQL's postmaster (pid ${pgPid}) still running`);
	assert.ok(!fs.existsSync(path.join(r.runDir, 'pg/data/postmaster.pid')), 'postmaster.pid removed');
	assert.ok(!fs.existsSync(path.join(r.runDir, 'run.pid')), 'run.pid removed');
	for (const name of SERVICES) assert.ok(!fs.existsSync(path.join(r.runDir, 'pids', name)), `pids/${name} removed`);
	for (const [name, port] of Object.entries(r.ports)) assert.ok(await portClosed(port), `port of ${name} (${port}) still open`);
	r.assertLogsClean();
	// Every service stopped on the script's SIGTERM, in order, not on the terminal's SIGINT.
	for (const name of SERVICES) {
		const log = fs.readFileSync(path.join(r.logsDir, `${name}.log`), 'utf8');
		assert.match(log, /stopping on SIGTERM/, `${name} was stopped by the script`);
		assert.doesNotMatch(log, /stopping on SIGINT/, `${name} got the terminal's SIGINT`);
	}
}

test('make run: everything healthy, the page served, a review carried end to end, Ctrl-C stops it all', { skip, timeout: 180000 }, async () => {
	first = await startRun(); // the default FAILURE_RATE (0.5), as `make run`
	const out = first.stdout();
	assert.match(out, /initdb \(first run\)/);
	assert.equal(first.pageUrl, `${first.url}/`);
	assert.equal(first.sinkLog, path.join(first.runDir, 'data/file-sink/events.log'));
	assert.equal(first.deadLetterLog, path.join(first.runDir, 'data/dead-letter-logger/events.log'));
	assert.ok(fs.existsSync(first.sinkLog) && fs.existsSync(first.deadLetterLog), 'both logs exist');
	for (const name of SERVICES) assert.ok(fs.existsSync(path.join(first.logsDir, `${name}.log`)), `logs/${name}.log`);

	for (const url of [first.url, first.dbUrl, first.sinkUrl, first.dllUrl, first.brokerUrl]) {
		const res = await fetch(`${url}/healthz`);
		await res.arrayBuffer();
		assert.equal(res.status, 200, `${url}/healthz`);
	}
	const page = await fetch(first.pageUrl);
	assert.equal(page.status, 200);
	assert.match(page.headers.get('content-type'), /^text\/html/);
	assert.match(await page.text(), /<title>/i);

	const id = await postReview(first);
	const where = await waitFor(() => {
		if (first.sinkLines().some((l) => l.outcome === 'saved' && l.event.id === id)) return 'file-sink';
		if (first.deadLetters().some((l) => l.event.id === id)) return 'dead letters';
		return false;
	}, { timeoutMs: 15000, what: 'the review in file-sink\'s log or the dead-letter log' });
	console.log(`the review reached ${where}`);

	// Ctrl-C: SIGINT to the foreground process group.
	const pids = first.pids();
	const pgPid = first.pgPid();
	assert.equal(Object.keys(pids).length, SERVICES.length);
	const stopped = await first.stop({ signal: 'SIGINT', group: true });
	assert.equal(stopped.code, 0, stopped.stdout);
	assert.match(stopped.stdout, /run: stopped/);
	await assertAllStopped(first, pids, pgPid);
	firstStopped = first.runDir;
});

test('a second make run reuses the data, refuses a twin, and `scripts/run.sh stop` stops it', { skip, timeout: 180000 }, async () => {
	let runDir = firstStopped;
	if (!runDir) {
		// run alone: make the first run here (a review stored, then Ctrl-C)
		own = await startRun();
		await postReview(own);
		const stopped = await own.stop({ signal: 'SIGINT', group: true });
		assert.equal(stopped.code, 0, stopped.stdout);
		runDir = own.runDir;
	}
	second = await startRun({ runDir });
	assert.doesNotMatch(second.stdout(), /initdb/, 'no initdb on the second start');
	const rows = await second.query("SELECT count(*) FROM book_reviews WHERE content = 'make run works'");
	assert.equal(rows[0][0], '1', 'the first run\'s review is still there');

	const twin = spawnSync('bash', [path.join(repoRoot, 'scripts/run.sh'), 'start'], {
		env: { ...process.env, RUN_DIR: second.runDir }, encoding: 'utf8', timeout: 30000,
	});
	assert.equal(twin.status, 1);
	assert.match(twin.stdout, /already running/);

	const pids = second.pids();
	const pgPid = second.pgPid();
	const res = await second.stopScript();
	assert.equal(res.status, 0, res.stdout + res.stderr);
	assert.match(res.stdout, /run: stopped/);
	assert.equal(res.exit.code, 0, second.stdout());
	await assertAllStopped(second, pids, pgPid);
});
