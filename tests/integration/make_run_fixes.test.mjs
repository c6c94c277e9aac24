// make run for a new user (issue 11, point 6), with the real scripts/run.sh:
//  - without PostgreSQL installed it says so and exits 1, instead of exiting silently (the
//    `set -e` on a failing `find`). Reproduced as root in a mount namespace of its own
//    (unshare -m), so nothing on the machine changes: /usr/lib/postgresql is an empty tmpfs
//    whose one directory cannot be read (mode 000, and the script runs without
//    CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH), so `find` fails exactly as it does when
//    /usr/lib/postgresql does not exist;
//  - a port held by another HTTP server that answers /healthz is found before anything starts,
//    and "The bookstore is running" is never printed;
//  - PostgreSQL asks for a password (generated, RUN_DIR/pg-password, mode 0600) over TCP and
//    trusts nobody; every service listens on 127.0.0.1 only (BIND_ADDRESS).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startRun, runSkipReason, SERVICES } from './lib/run.mjs';
import { repoRoot, buildDir, freePort } from './lib/proc.mjs';

const skip = runSkipReason();
const SCRIPT = path.join(repoRoot, 'scripts/run.sh');
const dirs = [];
let run;

after(async () => {
	if (run) await run.cleanup();
	for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tempRunDir() {
	const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bookstore-runfix-'));
	fs.chmodSync(d, 0o755);
	dirs.push(d);
	return d;
}

// Runs `scripts/run.sh start` to its end (it fails early in these tests) with free ports.
async function runStartExpectingFailure(env, wrap = []) {
	const ports = {};
	for (const k of ['NODE_SERVER_PORT', 'DB_SERVICE_PORT', 'FILE_SINK_PORT', 'DEAD_LETTER_LOGGER_PORT', 'BROKER_PORT', 'BAD_WORD_FILTER_PORT', 'SENTIMENT_ANALYSIS_PORT', 'RUN_PG_PORT'])
		ports[k] = String(await freePort());
	const cmd = [...wrap, 'bash', SCRIPT, 'start'];
	return spawnSync(cmd[0], cmd.slice(1), {
		cwd: repoRoot, encoding: 'utf8', timeout: 120000,
		env: { ...process.env, RUN_DIR: tempRunDir(), BUILD_DIR: buildDir, ...ports, ...env },
	});
}

const canUnshare = process.getuid?.() === 0 &&
	spawnSync('unshare', ['-m', 'true']).status === 0 &&
	spawnSync('sh', ['-c', 'command -v setpriv']).status === 0;

test('without PostgreSQL, make run says so and exits 1', {
	skip: canUnshare ? false : 'needs root, unshare(1) and setpriv(1) to hide /usr/lib/postgresql in a private mount namespace',
	timeout: 120000,
}, async () => {
	const r = await runStartExpectingFailure({}, ['unshare', '-m', 'sh', '-c',
		'mount -t tmpfs none /usr/lib/postgresql && mkdir -m 000 /usr/lib/postgresql/15 && ' +
		'exec setpriv --bounding-set -dac_override,-dac_read_search "$@"', 'sh']);
	const out = r.stdout + r.stderr;
	assert.equal(r.status, 1, out);
	assert.match(out, /PostgreSQL is not installed/);
	assert.match(out, /make deps/);
});

test('a port held by another HTTP server answering /healthz stops the start before "running"', { skip, timeout: 120000 }, async () => {
	const port = await freePort();
	const other = http.createServer((req, res) => { res.writeHead(200); res.end('ok'); });
	await new Promise((resolve) => other.listen(port, '127.0.0.1', resolve));
	try {
		assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'the other server answers /healthz');
		const r = await runStartExpectingFailure({ FILE_SINK_PORT: String(port) });
		const out = r.stdout + r.stderr;
		assert.equal(r.status, 1, out);
		assert.match(out, new RegExp(`port ${port} \\(FILE_SINK_PORT\\) is already in use`));
		assert.doesNotMatch(out, /The bookstore is running/);
	} finally {
		await new Promise((resolve) => other.close(resolve));
	}
});

// The local TCP ports a process listens on, with their addresses, from /proc/net/tcp{,6}.
function listening(pid) {
	const inodes = new Set();
	for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
		try {
			const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
			if (m) inodes.add(m[1]);
		} catch { /* closed meanwhile */ }
	}
	const out = [];
	for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
		for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
			const f = line.trim().split(/\s+/);
			if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9])) continue; // 0A = LISTEN
			out.push({ file, addr: f[1].split(':')[0], port: parseInt(f[1].split(':')[1], 16) });
		}
	}
	return out;
}

test('make run: PostgreSQL needs the generated password, every service listens on 127.0.0.1 only', { skip, timeout: 180000 }, async () => {
	run = await startRun({ env: { FAILURE_RATE: '0' } });
	const pwFile = path.join(run.runDir, 'pg-password');
	const st = fs.statSync(pwFile);
	assert.equal(st.mode & 0o777, 0o600, `pg-password mode ${(st.mode & 0o777).toString(8)}`);
	const pw = fs.readFileSync(pwFile, 'utf8').trim();
	assert.match(pw, /^[0-9a-f]{48}$/);

	const hba = fs.readFileSync(path.join(fs.realpathSync(path.join(run.runDir, 'pg')), 'data/pg_hba.conf'), 'utf8');
	assert.doesNotMatch(hba.split('\n').filter((l) => !l.startsWith('#')).join('\n'), /\btrust\b/);
	const psql = (password) => spawnSync('psql', ['-X', '-qAt', '-h', '127.0.0.1', '-p', String(run.ports.pg),
		'-U', 'postgres', '-d', 'bookstore', '-c', 'SELECT 1'], {
		encoding: 'utf8', env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '10' },
	});
	const wrong = psql('not-the-password');
	assert.notEqual(wrong.status, 0, 'a wrong password is refused');
	assert.match(wrong.stderr, /password authentication failed/);
	const right = psql(pw);
	assert.equal(right.status, 0, right.stderr);
	assert.equal(right.stdout.trim(), '1');
	assert.deepEqual(await run.query('SELECT 2'), [['2']]);

	const pids = run.pids();
	for (const name of SERVICES) {
		const socks = listening(pids[name]);
		assert.ok(socks.length > 0, `${name} listens`);
		for (const s of socks) {
			// 0100007F is 127.0.0.1 in /proc/net/tcp's byte order; nothing on 0.0.0.0 or ::
			assert.ok(s.file === '/proc/net/tcp' && s.addr === '0100007F',
				`${name} listens on ${s.file} ${s.addr}:${s.port}, not 127.0.0.1 only`);
		}
	}
});

// Last: the run of the test above stops on Ctrl-C with status 0, and no service log holds a
// sanitizer report (a leak is reported at exit, so the logs are read after the stop).
test('the run stops cleanly, without a sanitizer report', { skip, timeout: 120000 }, async () => {
	assert.ok(run, 'the run above started');
	const res = await run.stop();
	assert.equal(res.code, 0, res.stdout);
	run.assertLogsClean();
});
