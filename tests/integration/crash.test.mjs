// The crash test: the whole `make run` topology (lib/run.mjs runs the real scripts/run.sh)
// under load while random components are SIGKILLed at random times and started again after a
// random pause. Nothing answered must be lost.
//
// 1. 2,000 reviews (POST /add as the page does; an answer other than 200, or none, is retried
//    like the page's user would, and only reviews answered 200 are checked) with
//    FAILURE_RATE=0.3, while the chaos loop SIGKILLs one of local-broker, file-sink,
//    dead-letter-logger, node-server, db-service and the two Sequence steps at a time (each
//    one before any twice), PostgreSQL once, at least 20 kills, each started again after a pause of 0.1-1.5 s (PostgreSQL: 0.1-0.4 s, its crash
//    recovery comes on top): shorter than file-sink-trigger's retry window (the Broker's
//    delivery: retry 2, exponential from PT1S: attempts at t, t + 1 s, t + 3 s), and kills are
//    2.5-3.5 s apart, so neither one outage nor two in a row can fail all three attempts of a
//    delivery: no kill can push an event to the dead-letter sink. db-insert-trigger has its own
//    delivery (retry 6, exponential from PT1S: about 63 s), which outlasts PostgreSQL's restart. With every component up again, it waits for quiescence
//    (polling with a deadline) and checks:
//    - every review answered 200 has exactly one "saved" line in file-sink's events.log or
//      exactly one dead letter from the file-sink Trigger, never neither ("lost"), and no dead
//      letter is recorded twice (dead_letters_repeated=0: dead-letter-logger deduplicates
//      redeliveries by source, id and failed destination, as file-sink does by source and id);
//    - "saved and also dead-lettered" is counted apart, and is 0 here: a kill can only cause it
//      by outlasting the retry window;
//    - PostgreSQL holds each review exactly once (node-server's /insert is idempotent by event
//      id, and the broker redelivers at least once), and no /insert was dead-lettered
//      (insert_dead_lettered=0): db-insert-trigger's retry window outlasts every restart;
//    - every line of both events.log files, the broker's broker.wal and every service's log
//      parses as JSON;
//    - no service's RSS (sampled every 250 ms) passed RSS_BUDGET_MIB.
// 2. Between two runs on the same RUN_DIR, the last line of both events.log files and of
//    broker.wal is cut in half (a torn write). The second run must repair them on open
//    (eventlog.h, wal.h) and satisfy the same checks for its reviews, with more kills.
//
// Seeded and reproducible: the seed (printed; CRASH_SEED=<n> replays it) drives the kill
// schedule, the pauses and file-sink's FAILURE_SEED. Timing still varies from run to run.
// CRASH_ROUNDS=<n> repeats the load-and-kill round n times on the same stack (a soak);
// CRASH_REVIEWS=<n> sets the reviews per round. One line of figures per round:
//   crash: seed=… round=… reviews=… kills=… redeliveries=… duplicates_suppressed=… lost=0 …
// where redeliveries counts the deliveries the broker resumed from its write-ahead log after
// its restarts (each is attempted again: at least once), and duplicates_suppressed the
// redeliveries file-sink answered "duplicate" instead of saving them again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startRun, runSkipReason, parseLines, metric, isAlive, SERVICES } from './lib/run.mjs';
import { waitFor } from './lib/proc.mjs';

const skip = runSkipReason();
const SEED = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : crypto.randomInt(1, 2 ** 31);
const ROUNDS = Number(process.env.CRASH_ROUNDS || 1);
const REVIEWS = Number(process.env.CRASH_REVIEWS || 2000);
const MIN_KILLS = 20;
const PACE_MS = 40; // 2,000 reviews over ~80 s, about as long as 20 spaced kills take
const MAX_PAUSE_MS = 1500;
const MIN_GAP_MS = 2500; // between one restart and the next kill
const RSS_BUDGET_MIB = 256;
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

// mulberry32: a small seeded PRNG, so one number replays the whole schedule.
function prng(seed) {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

let r;
let first; // the run that created RUN_DIR: cleaned up last
const rssMax = {};
let sampler;

function sampleRss() {
	const pids = { ...r.pids(), postgres: r.pgPid() };
	for (const [name, pid] of Object.entries(pids)) {
		try {
			const kib = Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
			rssMax[name] = Math.max(rssMax[name] || 0, kib);
		} catch {
			// between a kill and its restart
		}
	}
}

const runEnv = {
	FAILURE_RATE: '0.3',
	FAILURE_SEED: String(SEED),
	LOG_LEVEL: 'info',
	// The broker's log is compacted every 64 KiB instead of 16 MiB, so that its rewrites
	// (snapshot, sync, rename) meet the kills too.
	BROKER_WAL_COMPACT: '65536',
	// A small ASan quarantine, so that RSS measures the services, not freed blocks kept back.
	ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:quarantine_size_mb=16:thread_local_quarantine_size_kb=256',
};

before(async () => {
	if (skip) return;
	console.log(`crash test seed=${SEED} (replay with CRASH_SEED=${SEED})`);
	r = await startRun({ env: runEnv });
	first = r;
	sampler = setInterval(sampleRss, 250);
});

after(async () => {
	clearInterval(sampler);
	if (r) await r.cleanup();
	if (first && first !== r) await first.cleanup();
});

// ---- the load ----------------------------------------------------------------------------

/** Posts n reviews paced over time; retries anything but 200. Returns [{i, id, text}]. */
async function load(n, tag, { concurrency = 16 } = {}) {
	const t0 = Date.now();
	const sent = [];
	let next = 0;
	let retried = 0;
	const one = async (i) => {
		const wait = t0 + i * PACE_MS - Date.now();
		if (wait > 0) await sleep(wait);
		const text = `${tag} review ${i}`;
		const deadline = Date.now() + 120000;
		for (;;) {
			try {
				const res = await fetch(`${r.url}/add`, {
					method: 'POST',
					headers: {
						'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-type': 'new-review-comment',
						'ce-source': 'bookstore-frontend', 'ce-id': `${tag}-${i}`,
					},
					body: JSON.stringify({ reviewText: text }),
					signal: AbortSignal.timeout(10000),
				});
				const body = await res.text();
				if (res.status === 200) {
					sent.push({ i, id: JSON.parse(body).id, text });
					return;
				}
			} catch {
				// node-server is down, or it died before answering: the page's user tries again
			}
			retried++;
			assert.ok(Date.now() < deadline, `review ${i} got no 200 within 120 s`);
			await sleep(100);
		}
	};
	const worker = async () => {
		while (next < n) await one(next++);
	};
	await Promise.all(Array.from({ length: concurrency }, worker));
	sent.retried = retried;
	return sent;
}

// ---- the chaos ---------------------------------------------------------------------------

/** The pids whose parent is pid (from /proc). */
function childrenOf(pid) {
	const out = [];
	for (const e of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(e)) continue;
		try {
			const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
			if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(e));
		} catch {
			// gone meanwhile
		}
	}
	return out;
}

/**
 * PostgreSQL crashes as a whole: SIGKILL to the postmaster and every backend at once (as an
 * OOM kill of the machine's database would), then a start on the same data directory, which
 * runs crash recovery from the WAL. Returns how many starts it took (pg_starts, 1 expected).
 */
async function pgKillRestart(pause) {
	const pid = r.pgPid();
	assert.ok(isAlive(pid), 'PostgreSQL is running');
	// syncfs: crash recovery syncs the file system once instead of fsyncing every file.
	const cmd = [...fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean),
		'-c', 'recovery_init_sync_method=syncfs'];
	const dataDir = path.dirname(fs.realpathSync(path.join(r.runDir, 'pg/data/postmaster.pid')));
	const all = [pid, ...childrenOf(pid)];
	for (const p of all) {
		try {
			process.kill(p, 'SIGKILL');
		} catch {
			// already gone
		}
	}
	await waitFor(() => all.every((p) => !isAlive(p)), { what: 'every PostgreSQL process to exit' });
	// The killed postmaster is not our child: it stays a zombie until PID 1 reaps it, which can
	// take seconds, and PostgreSQL's lock-file checks (kill(pid, 0) on the pid in postmaster.pid
	// and in the socket's .s.PGSQL.<port>.lock) take a zombie for a running postmaster ("lock
	// file already exists"), so the first start failed and the restart took 3-4 s. Once every
	// process is dead, both lock files are stale (as after a reboot): remove them. PostgreSQL
	// still refuses to start if any process remains attached to the old shared memory segment,
	// which it checks apart from the lock files.
	if (fs.existsSync(`/proc/${pid}`)) {
		const pidFile = path.join(dataDir, 'postmaster.pid');
		const [, , , port, sockDir] = fs.readFileSync(pidFile, 'utf8').split('\n');
		if (port && sockDir) fs.rmSync(path.join(sockDir, `.s.PGSQL.${port}.lock`), { force: true });
		fs.rmSync(pidFile, { force: true });
	}
	await sleep(pause);
	const logFd = fs.openSync(path.join(path.dirname(dataDir), 'postgresql.log'), 'a');
	const argv = process.getuid() === 0 ? ['runuser', ['-u', 'postgres', '--', ...cmd]] : [cmd[0], cmd.slice(1)];
	const ready = () => {
		const f = path.join(dataDir, 'postmaster.pid');
		if (!fs.existsSync(f)) return false;
		const lines = fs.readFileSync(f, 'utf8').split('\n');
		const now = Number(lines[0]);
		return now !== pid && isAlive(now) && /ready/.test(lines[7] || '');
	};
	let starts = 0;
	try {
		await waitFor(async () => {
			starts++;
			const child = spawn(argv[0], argv[1], { detached: true, stdio: ['ignore', logFd, logFd] });
			child.unref();
			return waitFor(ready, { timeoutMs: 2500, intervalMs: 20, what: 'PostgreSQL ready after the crash' })
				.then(() => true, () => false);
		}, { timeoutMs: 30000, intervalMs: 200, what: 'PostgreSQL restarted' });
	} finally {
		fs.closeSync(logFd);
	}
	return starts;
}

/** A seeded Fisher-Yates shuffle of a copy of list. */
function shuffle(rand, list) {
	const out = [...list];
	for (let i = out.length - 1; i > 0; i--) {
		const j = Math.floor(rand() * (i + 1));
		[out[i], out[j]] = [out[j], out[i]];
	}
	return out;
}

/**
 * Kills one random component at a time until `done()` and at least MIN_KILLS kills, every
 * component once before any twice (a seeded deck, dealt again when empty);
 * PostgreSQL once, at a random turn. Returns {kills, byName, maxPauseMs, timeline, pgRestartMs,
 * pgStarts}.
 */
async function chaos(rand, done, { minKills = MIN_KILLS, withPg = true } = {}) {
	const targets = SERVICES; // every service of the make run topology (lib/run.mjs), the two steps included
	const pgTurn = withPg ? 2 + Math.floor(rand() * (minKills - 4)) : -1;
	const byName = {};
	const deck = []; // the targets in a seeded random order, dealt again when empty
	let kills = 0;
	let maxPauseMs = 0;
	const timeline = [];
	let pgRestartMs;
	let pgStarts;
	while (!done() || kills < minKills) {
		await sleep(MIN_GAP_MS + Math.floor(rand() * 1000));
		if (deck.length === 0) deck.push(...shuffle(rand, targets));
		const name = kills === pgTurn ? 'postgres' : deck.pop();
		const pause = 100 + Math.floor(rand() * ((name === 'postgres' ? 400 : MAX_PAUSE_MS) - 100));
		maxPauseMs = Math.max(maxPauseMs, pause);
		const killAt = new Date().toISOString();
		if (name === 'postgres') {
			pgStarts = await pgKillRestart(pause);
		} else {
			await r.kill(name, 'SIGKILL');
			await sleep(pause);
			await r.restart(name);
		}
		timeline.push([name, killAt.slice(11, 23), new Date().toISOString().slice(11, 23)]);
		if (name === 'postgres') pgRestartMs = Date.now() - Date.parse(killAt);
		byName[name] = (byName[name] || 0) + 1;
		kills++;
	}
	return { kills, byName, maxPauseMs, timeline, pgRestartMs, pgStarts };
}

// ---- the checks --------------------------------------------------------------------------

const fileSinkDest = () => `${r.sinkUrl}`;

/** What each id got: saved lines, file-sink dead letters, duplicates, DB rows. */
async function accountAll(ids, tag) {
	const want = new Set(ids);
	const per = new Map(ids.map((id) => [id, { saved: 0, dead: 0, insertDead: 0, rows: 0 }]));
	let duplicates = 0;
	for (const l of r.sinkLines()) {
		const p = per.get(l.event?.id);
		if (!p) continue;
		if (l.outcome === 'saved') p.saved++;
		else if (l.outcome === 'duplicate') duplicates++;
	}
	for (const l of r.deadLetters()) {
		const p = per.get(l.event?.id);
		if (!p) continue;
		const dest = String(l.error?.destination || '');
		if (dest.includes('/insert')) {
			p.insertDead++;
			p.insertDeadRec = l;
		}
		else if (dest.startsWith(fileSinkDest())) p.dead++;
	}
	const rows = await r.query(`SELECT event_id, count(*) FROM book_reviews WHERE content LIKE '${tag} review %' GROUP BY event_id`);
	let extraRows = 0;
	for (const [id, n] of rows) {
		if (want.has(id)) per.get(id).rows = Number(n);
		else extraRows += Number(n);
	}
	return { per, duplicates, extraRows };
}

async function quiesce(ids, tag) {
	let last;
	await waitFor(async () => {
		last = await accountAll(ids, tag);
		for (const p of last.per.values()) {
			if (p.saved + p.dead === 0 || p.rows + p.insertDead === 0) return false; // a dead /insert fails below
		}
		return metric(await r.metrics(r.brokerUrl), 'broker_queue_depth') === 0;
	}, { timeoutMs: 120000, intervalMs: 500, what: 'quiescence: every review saved or dead-lettered, in the DB, the broker queue empty' })
		.catch((e) => {
			let missing = 0;
			for (const p of last?.per.values() || []) if (p.saved + p.dead === 0 || p.rows === 0) missing++;
			throw new Error(`${e.message} (${missing} reviews incomplete)`);
		});
	return last;
}

/** Every line of the file parses as JSON (a final line without newline counts too). */
function assertJsonLines(file) {
	if (!fs.existsSync(file)) return 0;
	const lines = fs.readFileSync(file, 'utf8').split('\n');
	if (lines.at(-1) === '') lines.pop();
	lines.forEach((l, k) => {
		assert.doesNotThrow(() => JSON.parse(l), `${file}:${k + 1} is not JSON: ${l.slice(0, 200)}`);
	});
	return lines.length;
}

function assertAllLogsJson() {
	const files = [r.sinkLog, r.deadLetterLog, path.join(r.runDir, 'data/local-broker/broker.wal'),
		...SERVICES.map((s) => path.join(r.logsDir, `${s}.log`))];
	for (const f of files) assertJsonLines(f);
}

function resumedTotal() {
	const text = fs.readFileSync(path.join(r.logsDir, 'local-broker.log'), 'utf8');
	let n = 0;
	for (const m of text.matchAll(/resumed (\d+) pending deliveries/g)) n += Number(m[1]);
	return n;
}

/** One round: load + chaos, quiescence, every check. Returns the figures. */
async function round(rand, label, { reviews, minKills, withPg }) {
	const tag = `crash-${SEED}-${label}-${crypto.randomBytes(3).toString('hex')}`;
	const resumed0 = resumedTotal();
	let loading = true;
	const chaosDone = chaos(rand, () => !loading, { minKills, withPg });
	const sent = await load(reviews, tag).finally(() => { loading = false; });
	const c = await chaosDone;
	const ids = sent.map((s) => s.id);
	assert.equal(new Set(ids).size, reviews, 'one event id per review');
	const { per, duplicates, extraRows } = await quiesce(ids, tag);

	let saved = 0;
	let dead = 0;
	let both = 0;
	let lost = 0;
	let deadRepeats = 0;
	let insertDead = 0;
	for (const [id, p] of per) {
		assert.ok(p.saved <= 1, `${id}: ${p.saved} saved lines`);
		// dead-letter-logger keeps a dedupe set (common/dedupe.h) rebuilt from its events.log: a
		// dead letter redelivered after a kill (its answer lost) is not written again.
		if (p.dead > 1) deadRepeats += p.dead - 1;
		if (p.saved && p.dead) both++;
		else if (p.saved) saved++;
		else if (p.dead) dead++;
		else lost++;
		insertDead += p.insertDead;
		assert.equal(p.rows, 1, `${id}: ${p.rows} rows in book_reviews (${p.insertDead} insert dead letters` +
			`${p.insertDeadRec ? `: ${JSON.stringify({ time: p.insertDeadRec.time, error: p.insertDeadRec.error })}` : ''}); ` +
			`kills: ${JSON.stringify(c.timeline)}`);
	}
	const figures = `crash: seed=${SEED} round=${label} reviews=${reviews} kills=${c.kills} ` +
		`(${Object.entries(c.byName).map(([k, v]) => `${k} ${v}`).join(', ')}) ` +
		`redeliveries=${resumedTotal() - resumed0} duplicates_suppressed=${duplicates} ` +
		`saved=${saved} dead_lettered=${dead} saved_and_dead_lettered=${both} lost=${lost} ` +
		`dead_letters_repeated=${deadRepeats} insert_dead_lettered=${insertDead} ` +
		`pg_restart_ms=${c.pgRestartMs ?? '-'} pg_starts=${c.pgStarts ?? '-'} ` +
		`add_retries=${sent.retried} unanswered_reviews_stored=${extraRows} max_pause_ms=${c.maxPauseMs}`;
	console.log(figures);
	assert.equal(lost, 0, 'no review answered 200 is lost');
	assert.ok(c.kills >= minKills);
	assert.ok(c.maxPauseMs < 3000);
	assert.equal(both, 0, 'every pause is shorter than the retry window: no saved event is also dead-lettered');
	assert.equal(deadRepeats, 0, 'dead-letter-logger records each dead letter once, across its kills');
	assert.equal(insertDead, 0, "db-insert-trigger's retry window outlasts every restart: no /insert is dead-lettered");
	assertAllLogsJson();
	sampleRss();
	for (const [name, kib] of Object.entries(rssMax)) {
		if (name === 'postgres') continue;
		assert.ok(kib < RSS_BUDGET_MIB * 1024, `${name}: RSS reached ${Math.round(kib / 1024)} MiB (budget ${RSS_BUDGET_MIB})`);
	}
	r.assertLogsClean();
	return figures;
}

test(`crash: ${REVIEWS} reviews, FAILURE_RATE=0.3, ≥${MIN_KILLS} SIGKILLs of random components (seed printed)`,
	{ skip, timeout: 240000 * ROUNDS }, async () => {
		const rand = prng(SEED);
		for (let k = 1; k <= ROUNDS; k++)
			await round(rand, String(k), { reviews: REVIEWS, minKills: MIN_KILLS, withPg: true });
		console.log(`crash: peak RSS MiB ${Object.entries(rssMax).map(([k, v]) => `${k}=${Math.round(v / 1024)}`).join(' ')}`);
	});

// Cuts the last line of file in half, as a write torn by a crash would leave it. Returns the
// bytes cut off and the whole lines before the torn one.
function tearLastLine(file) {
	const text = fs.readFileSync(file);
	assert.ok(text.length > 0 && text[text.length - 1] === 10, `${file}: whole lines to tear (${text.length} bytes)`);
	const end = text.lastIndexOf(10, text.length - 2); // the newline before the last line
	const cut = end + 1 + Math.max(1, Math.floor((text.length - end - 1) / 2));
	fs.truncateSync(file, cut);
	return { removed: text.length - cut, whole: text.subarray(0, end + 1) };
}

test('crash, second mode: logs torn mid-line between two runs are repaired, and nothing is lost after',
	{ skip, timeout: 240000 }, async () => {
		const rand = prng(SEED ^ 0x5eed);
		clearInterval(sampler);
		const res = await r.stop();
		assert.equal(res.code, 0, res.stdout.slice(-3000));
		const wal = path.join(r.runDir, 'data/local-broker/broker.wal');
		const torn = [r.sinkLog, r.deadLetterLog].map((f) => [f, tearLastLine(f)]);
		// The graceful stop left broker.wal empty (nothing pending): tear a record onto it.
		fs.appendFileSync(wal, '{"op":"put","id":1,"deliv');
		r = await startRun({ env: runEnv, runDir: first.runDir });
		sampler = setInterval(sampleRss, 250);
		for (const [f, { whole }] of torn) {
			const text = fs.readFileSync(f);
			assert.ok(text.subarray(0, whole.length).equals(whole), `${f}: every whole line before the torn one is kept`);
			assert.ok(text.length === 0 || text[text.length - 1] === 10, `${f}: the torn line was repaired on open`);
		}
		// A torn last record is skipped, not taken for damage: the log is not set aside.
		assert.deepEqual(fs.readdirSync(path.dirname(wal)).filter((n) => n.includes('.broken-')), [],
			'broker.wal was not set aside for its torn record');
		await round(rand, 'torn', { reviews: Math.min(REVIEWS, 400), minKills: 5, withPg: false });
	});
