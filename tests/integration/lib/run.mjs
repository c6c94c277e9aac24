// run.mjs: the whole `make run` wiring for integration tests, by running the real
// scripts/run.sh on free ports and a temporary RUN_DIR, with the binaries from BUILD_DIR.
//
//   import { startRun, runSkipReason } from './lib/run.mjs';
//   const skip = runSkipReason();                       // a string when something is missing
//   const r = await startRun({ env: { FAILURE_RATE: '0.5' } });
//   after(() => r.cleanup());                           // always: stops everything, removes RUN_DIR
//   await fetch(`${r.url}/add`, ...);                    // r.url = node-server (the page)
//   r.sinkLines(); r.deadLetters();                      // both events.log files, parsed
//   await r.query('SELECT count(*) FROM book_reviews');  // psql on the run's PostgreSQL
//   const old = await r.kill('file-sink', 'SIGKILL');    // waits until it is gone
//   await r.restart('file-sink');                        // same binary, environment, port, DATA_DIR
//   const res = await r.stop();                          // SIGINT to the process group (Ctrl-C)
//
// startRun(opts):
//   opts.env        extra environment for run.sh (passed through to the services: FAILURE_RATE,
//                   LOG_LEVEL, ...). RUN_KEEP_GOING=1 is set, so killing one service (r.kill)
//                   does not make the supervisor stop the others.
//   opts.timeoutMs  how long to wait for the "page:" line (default 120000: initdb is slow).
//   opts.runDir     reuse this RUN_DIR (a second `make run`: PostgreSQL's data is kept); its
//                   cleanup() then leaves the directory (the run that created it removes it).
// The script runs detached, i.e. as the leader of its own process group, as a terminal's
// foreground job would be; r.stop() sends SIGINT to that group, exactly what Ctrl-C does.
//
// The returned object:
//   runDir, logsDir, ports {node, db, sink, dll, broker, pg, badword, sentiment}, url
//   (node-server), dbUrl, brokerUrl, ingress (the broker's ingress URL), sinkUrl, dllUrl,
//   badwordUrl, sentimentUrl, badReviewsLog (file-sink's bad-reviews.log), sinkLog, deadLetterLog (the paths the
//   script printed), stdout() (what it printed so far), proc.
//   pids()        {name: pid} from RUN_DIR/pids; pgPid() the postmaster's pid (or null)
//   alive(pid)    whether pid is a running process (a zombie is not)
//   query(sql)    rows (arrays of strings, NULL as null) via psql over TCP (password from
//                 RUN_DIR/pg-password)
//   lines(path)   the JSON lines of a log file; a torn last line (no newline) is left out
//   sinkLines(), deadLetters()
//   metrics(url)  GET url/metrics as text; metric(text, name, labels) one sample's value
//                 (throws when the sample is missing)
//   kill(name, signal)  signals one service and waits until it has exited; returns its command
//                 line and environment (read from /proc before the signal) for restart()
//   restart(name) starts it again as it was (same port, DATA_DIR, log file), writes the new pid
//                 into RUN_DIR/pids/<name> (so the script's stop handles it) and waits for /healthz
//   stop({signal, group})  signal (default SIGINT) to the group (default) or the script only;
//                 waits for the script to exit; returns {code, signal, stdout}
//   stopScript()  runs `scripts/run.sh stop` with the same RUN_DIR (as `make stop` would);
//                 returns {status, stdout, stderr} and waits for the script to exit
//   assertLogsClean()  no sanitizer report in any service log
//   cleanup()     stops whatever is left (scripts/run.sh stop) and removes RUN_DIR
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { CloudEvent, HTTP } from 'cloudevents';
import { buildDir, repoRoot, freePort, waitFor, assertClean } from './proc.mjs';

export const SERVICES = ['db-service', 'file-sink', 'dead-letter-logger', 'bad-word-filter', 'sentiment-analysis', 'local-broker', 'node-server'];
const SCRIPT = path.join(repoRoot, 'scripts/run.sh');

const live = new Set();
process.on('exit', () => {
	for (const r of live) r.cleanupSync();
});

/** Why `make run` cannot run here, or false. */
export function runSkipReason() {
	const pgRoot = '/usr/lib/postgresql';
	if (!fs.existsSync(pgRoot) || !fs.readdirSync(pgRoot).some((v) => fs.existsSync(`${pgRoot}/${v}/bin/initdb`)))
		return 'PostgreSQL server binaries are not installed (/usr/lib/postgresql/*/bin)';
	for (const b of SERVICES) {
		if (!fs.existsSync(path.join(buildDir, b))) return `${buildDir}/${b} not built`;
	}
	for (const tool of ['curl', 'psql', 'setsid']) {
		if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
	}
	return false;
}

export function isAlive(pid) {
	if (!pid) return false;
	try {
		const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
		const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
		return state !== 'Z' && state !== 'X';
	} catch {
		return false;
	}
}

export function parseLines(file) {
	if (!fs.existsSync(file)) return [];
	const text = fs.readFileSync(file, 'utf8');
	const end = text.lastIndexOf('\n');
	if (end < 0) return [];
	return text.slice(0, end).split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/**
 * The value of one sample in Prometheus text. A missing series throws: a renamed metric or
 * label must fail the check, not read as 0.
 */
export function metric(text, name, labels = '') {
	for (const line of text.split('\n')) {
		if (line.startsWith(`${name}${labels} `)) return Number(line.slice(name.length + labels.length + 1));
	}
	throw new Error(`no sample ${name}${labels} in the metrics:\n${text}`);
}

export async function startRun({ env = {}, timeoutMs = 120000, runDir: reuse = null } = {}) {
	const runDir = reuse || fs.mkdtempSync(path.join(os.tmpdir(), 'bookstore-run-'));
	fs.chmodSync(runDir, 0o755); // PostgreSQL's user must be able to traverse it when we are root
	const ports = {};
	const used = new Set();
	for (const k of ['node', 'db', 'sink', 'dll', 'broker', 'pg', 'badword', 'sentiment']) {
		let p;
		do p = await freePort(); while (used.has(p));
		used.add(p);
		ports[k] = p;
	}
	const proc = spawn('bash', [SCRIPT, 'start'], {
		cwd: repoRoot,
		detached: true,
		stdio: ['ignore', 'pipe', 'pipe'],
		env: {
			...process.env,
			ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
			UBSAN_OPTIONS: 'print_stacktrace=1',
			RUN_DIR: runDir,
			BUILD_DIR: buildDir,
			RUN_KEEP_GOING: '1',
			NODE_SERVER_PORT: String(ports.node),
			DB_SERVICE_PORT: String(ports.db),
			FILE_SINK_PORT: String(ports.sink),
			DEAD_LETTER_LOGGER_PORT: String(ports.dll),
			BROKER_PORT: String(ports.broker),
			RUN_PG_PORT: String(ports.pg),
			BAD_WORD_FILTER_PORT: String(ports.badword),
			SENTIMENT_ANALYSIS_PORT: String(ports.sentiment),
			...env,
		},
	});
	let out = '';
	proc.stdout.on('data', (d) => { out += d; });
	proc.stderr.on('data', (d) => { out += d; });
	let exited = null;
	const exitPromise = new Promise((resolve) => {
		proc.on('exit', (code, signal) => {
			exited = { code, signal };
			resolve(exited);
		});
	});
	const host = '127.0.0.1';
	const r = {
		runDir, ports, proc,
		logsDir: path.join(runDir, 'logs'),
		url: `http://${host}:${ports.node}`,
		dbUrl: `http://${host}:${ports.db}`,
		brokerUrl: `http://${host}:${ports.broker}`,
		ingress: `http://${host}:${ports.broker}/bookstore/bookstore-broker`,
		sinkUrl: `http://${host}:${ports.sink}`,
		dllUrl: `http://${host}:${ports.dll}`,
		badwordUrl: `http://${host}:${ports.badword}`,
		sentimentUrl: `http://${host}:${ports.sentiment}`,
		badReviewsLog: path.join(runDir, 'data/file-sink/bad-reviews.log'),
		stdout: () => out,
		exited: () => exited,
		alive: isAlive,
	};
	live.add(r);

	r.pids = () => {
		const pids = {};
		for (const name of SERVICES) {
			const f = path.join(runDir, 'pids', name);
			if (fs.existsSync(f)) pids[name] = Number(fs.readFileSync(f, 'utf8').trim());
		}
		return pids;
	};
	r.pgPid = () => {
		const f = path.join(runDir, 'pg/data/postmaster.pid');
		return fs.existsSync(f) ? Number(fs.readFileSync(f, 'utf8').split('\n')[0]) : null;
	};
	r.lines = parseLines;
	r.sinkLines = () => parseLines(r.sinkLog);
	r.deadLetters = () => parseLines(r.deadLetterLog);
	r.metrics = async (base) => (await fetch(`${base}/metrics`)).text();
	r.metric = metric;

	r.query = (sql) => new Promise((resolve, reject) => {
		const child = spawn('psql', ['-X', '-q', '-A', '-t', '-F', '\x1f', '-R', '\x1e',
			'-v', 'ON_ERROR_STOP=1', '-P', 'null=\x01', '-h', host, '-p', String(ports.pg),
			'-U', 'postgres', '-d', 'bookstore', '-c', sql], {
			stdio: ['ignore', 'pipe', 'pipe'],
			// make run's PostgreSQL asks for the password it generated (RUN_DIR/pg-password)
			env: { ...process.env, PGPASSWORD: fs.readFileSync(path.join(runDir, 'pg-password'), 'utf8').trim() },
		});
		let so = '';
		let se = '';
		child.stdout.on('data', (d) => { so += d; });
		child.stderr.on('data', (d) => { se += d; });
		child.on('error', reject);
		child.on('exit', (code) => {
			if (code !== 0) return reject(new Error(`psql failed (${code}): ${se}\nSQL: ${sql}`));
			const body = so.replace(/\n$/, '');
			if (body === '') return resolve([]);
			resolve(body.split('\x1e').map((row) => row.replace(/^\n/, '').split('\x1f')
				.map((c) => (c === '\x01' ? null : c))));
		});
	});

	const saved = new Map(); // name -> {cmd, env} for restart()
	r.kill = async (name, signal = 'SIGKILL', { timeoutMs: t = 30000 } = {}) => {
		const pid = r.pids()[name];
		assert.ok(isAlive(pid), `${name} (pid ${pid}) is not running`);
		const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
		const envv = {};
		for (const kv of fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
			const i = kv.indexOf('=');
			if (i > 0) envv[kv.slice(0, i)] = kv.slice(i + 1);
		}
		saved.set(name, { cmd, env: envv });
		process.kill(pid, signal);
		await waitFor(() => !isAlive(pid), { timeoutMs: t, intervalMs: 20, what: `${name} to exit on ${signal}` });
		return { pid, cmd, env: envv };
	};
	r.restart = async (name) => {
		const s = saved.get(name);
		assert.ok(s, `restart(${name}) without kill(${name}) first`);
		const fd = fs.openSync(path.join(r.logsDir, `${name}.log`), 'a');
		const child = spawn(s.cmd[0], s.cmd.slice(1), { env: s.env, detached: true, stdio: ['ignore', fd, fd] });
		fs.closeSync(fd);
		child.unref();
		fs.writeFileSync(path.join(runDir, 'pids', name), `${child.pid}\n`);
		const port = s.env.PORT;
		await waitFor(async () => {
			if (!isAlive(child.pid)) throw new Error(`${name} exited during start-up`);
			const res = await fetch(`http://${host}:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
			await res.arrayBuffer();
			return res.status === 200;
		}, { timeoutMs: 30000, what: `${name} /healthz after the restart` });
		return child.pid;
	};

	const waitExit = async (t) => {
		let timer;
		const deadline = new Promise((resolve) => { timer = setTimeout(() => resolve(null), t); });
		const res = await Promise.race([exitPromise, deadline]);
		clearTimeout(timer);
		return res;
	};
	r.stop = async ({ signal = 'SIGINT', group = true, timeoutMs: t = 90000 } = {}) => {
		if (!exited) {
			try {
				process.kill(group ? -proc.pid : proc.pid, signal);
			} catch {
				// already gone
			}
		}
		const res = await waitExit(t);
		if (!res) throw new Error(`scripts/run.sh did not exit within ${t} ms of ${signal}:\n${out}`);
		return { ...res, stdout: out };
	};
	r.stopScript = async ({ timeoutMs: t = 90000 } = {}) => {
		const res = await new Promise((resolve) => {
			const child = spawn('bash', [SCRIPT, 'stop'], {
				cwd: repoRoot, env: { ...process.env, RUN_DIR: runDir }, stdio: ['ignore', 'pipe', 'pipe'],
			});
			let so = '';
			let se = '';
			child.stdout.on('data', (d) => { so += d; });
			child.stderr.on('data', (d) => { se += d; });
			child.on('exit', (status) => resolve({ status, stdout: so, stderr: se }));
		});
		const e = await waitExit(t);
		if (!e) throw new Error(`scripts/run.sh did not exit within ${t} ms of 'run.sh stop':\n${out}`);
		return { ...res, exit: e };
	};
	r.assertLogsClean = () => {
		for (const name of SERVICES) {
			const f = path.join(r.logsDir, `${name}.log`);
			if (fs.existsSync(f)) assertClean(fs.readFileSync(f, 'utf8'));
		}
	};
	r.cleanupSync = () => {
		if (!live.has(r)) return;
		live.delete(r);
		spawnSync('bash', [SCRIPT, 'stop'], { cwd: repoRoot, env: { ...process.env, RUN_DIR: runDir }, stdio: 'ignore', timeout: 120000 });
		if (!exited) {
			try {
				process.kill(-proc.pid, 'SIGKILL');
			} catch {
				// already gone
			}
		}
		if (!reuse) fs.rmSync(runDir, { recursive: true, force: true });
	};
	r.cleanup = async () => {
		if (!live.has(r)) return;
		if (!exited) await r.stop({ signal: 'SIGTERM', group: false }).catch(() => {});
		r.cleanupSync();
	};

	try {
		await waitFor(() => {
			if (exited) throw new Error(`scripts/run.sh exited (${exited.code ?? exited.signal})`);
			return /^\s*page:\s+http/m.test(out) && /dead letters:/.test(out);
		}, { timeoutMs, intervalMs: 50, what: 'the page URL from scripts/run.sh' });
	} catch (e) {
		const logs = fs.existsSync(r.logsDir) ? fs.readdirSync(r.logsDir) : [];
		const tails = logs.map((f) => `--- ${f}\n${fs.readFileSync(path.join(r.logsDir, f), 'utf8').slice(-2000)}`);
		r.cleanupSync();
		throw new Error(`${e.message}\n--- run.sh output ---\n${out}\n${tails.join('\n')}`);
	}
	r.pageUrl = /^\s*page:\s+(\S+)/m.exec(out)[1];
	r.sinkLog = /^\s*file-sink log:\s+(\S+)/m.exec(out)[1];
	r.deadLetterLog = /^\s*dead letters:\s+(\S+)/m.exec(out)[1];
	return r;
}

// ---- the review flow shared by the delivery tests ---------------------------------------------
//
//   const sent = await postReviews(r, 1000, { tag, concurrency: 32 });  // [{i, id, text, mode}]
//   await waitAccounted(r, sent.map((s) => s.id), { timeoutMs: 60000 });
//   const a = account(r, ids);   // what each event id got in both logs
//
// postReviews() posts to node-server's POST /add as the page does, in three ways in turn:
// 'sdk-binary' (the cloudevents SDK's HTTP.binary), 'sdk-structured' (HTTP.structured) and
// 'fetch' (plain fetch with the original frontend's ce-* headers); every answer must be 200
// with the forwarded event's id. opts.onProgress(count) runs after each answer. With
// opts.retryMs, a 502 or 503 (the broker is down) is retried for that long; the returned
// array's `refused` property counts those answers. opts.paceMs spreads the reviews out:
// review i is not posted before i * paceMs ms from the start.

/** Posts n reviews with at most `concurrency` in flight; returns them with their event ids. */
export async function postReviews(r, n, { tag, concurrency = 32, onProgress = null, retryMs = 0, paceMs = 0 }) {
	const t0 = Date.now();
	const sent = new Array(n);
	let next = 0;
	let done = 0;
	let refused = 0;
	const one = async (i) => {
		if (paceMs && t0 + i * paceMs > Date.now())
			await new Promise((ok) => setTimeout(ok, t0 + i * paceMs - Date.now()));
		const text = `${tag} review ${i}`;
		const mode = ['sdk-binary', 'sdk-structured', 'fetch'][i % 3];
		let headers;
		let body;
		if (mode === 'fetch') {
			headers = {
				'Content-Type': 'application/json', 'ce-specversion': '1.0',
				'ce-type': 'new-review-comment', 'ce-source': 'bookstore-frontend', 'ce-id': `${tag}-${i}`,
			};
			body = JSON.stringify({ reviewText: text });
		} else {
			const ce = new CloudEvent({
				type: 'new-review-comment', source: 'bookstore-frontend', id: `${tag}-${i}`,
				datacontenttype: 'application/json', data: { reviewText: text },
			});
			({ headers, body } = mode === 'sdk-binary' ? HTTP.binary(ce) : HTTP.structured(ce));
		}
		let res;
		let answer;
		const deadline = Date.now() + retryMs;
		for (;;) {
			res = await fetch(`${r.url}/add`, { method: 'POST', headers, body });
			answer = await res.text();
			if (!(res.status === 502 || res.status === 503) || Date.now() > deadline) break;
			refused++; // the broker is down (a fault test): try again, as the page's user would
			await new Promise((ok) => setTimeout(ok, 100));
		}
		assert.equal(res.status, 200, `review ${i} (${mode}): HTTP ${res.status} ${answer}`);
		const j = JSON.parse(answer);
		assert.equal(j.success, true);
		assert.match(j.id, /^[0-9a-f-]{36}$/);
		sent[i] = { i, id: j.id, text, mode };
		done++;
		if (onProgress) await onProgress(done);
	};
	const worker = async () => {
		while (next < n) await one(next++);
	};
	await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
	sent.refused = refused;
	return sent;
}

/**
 * For each event id: its file-sink lines by outcome (arrays of lines, in file order) and its
 * dead letters. Lines for other events (earlier tests) are ignored.
 */
export function account(r, ids) {
	const want = new Set(ids);
	const per = new Map(ids.map((id) => [id, { saved: [], simulated: [], duplicate: [], dead: [] }]));
	for (const l of r.sinkLines()) {
		const id = l.event?.id;
		if (!want.has(id)) continue;
		const p = per.get(id);
		if (l.outcome === 'saved') p.saved.push(l);
		else if (l.outcome === 'error simulated') p.simulated.push(l);
		else if (l.outcome === 'duplicate') p.duplicate.push(l);
	}
	for (const l of r.deadLetters()) {
		const id = l.event?.id;
		if (want.has(id)) per.get(id).dead.push(l);
	}
	return per;
}

/** Polls until every id has a saved line or a dead letter, and the broker's queue is empty. */
export async function waitAccounted(r, ids, { timeoutMs = 60000 } = {}) {
	let missing = ids.length;
	try {
		await waitFor(async () => {
			const per = account(r, ids);
			missing = 0;
			for (const p of per.values()) if (p.saved.length === 0 && p.dead.length === 0) missing++;
			if (missing) return false;
			const m = await r.metrics(r.brokerUrl);
			return metric(m, 'broker_queue_depth') === 0;
		}, { timeoutMs, intervalMs: 250, what: 'every event id saved or dead-lettered' });
	} catch (e) {
		throw new Error(`${e.message} (${missing} of ${ids.length} ids have neither)`);
	}
}
