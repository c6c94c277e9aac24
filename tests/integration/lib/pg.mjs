// pg.mjs: a real, throw-away PostgreSQL 15 server for integration tests.
//
//   import { startPostgres } from './lib/pg.mjs';
//
//   const pg = await startPostgres({ database: 'bookstore' });
//   after(() => pg.cleanup());          // always: stops the server and removes its directory
//   env.DATABASE_URL = pg.url;          // postgresql://postgres@127.0.0.1:<port>/bookstore
//   await pg.query('SELECT count(*) FROM book_reviews');   // -> [['4']] (rows of text cells)
//   await pg.stop();  await pg.start();  await pg.restart();   // same port, same data
//
// What it does: initdb (Debian's binaries under /usr/lib/postgresql/15/bin, or PG_BINDIR) into a
// fresh temporary directory, trust authentication, superuser "postgres", UTF-8, fsync=off for
// speed (startPostgres({ durable: true }) keeps PostgreSQL's defaults, fsync on); then runs
// the postmaster listening on 127.0.0.1 on a free port, with its unix socket in
// that same directory, polls pg_isready until it accepts connections (with a deadline), and
// creates the database. initdb and postgres refuse to run as root, so when the test runs as root
// every server-side command runs as the `postgres` system user (runuser -u postgres --) and the
// directory is chowned to that user.
//
// The returned object:
//   url, port, host ('127.0.0.1'), socketDir, database, dataDir, logFile
//   query(sql, {database}) -> rows (arrays of strings; NULL is null) via psql; throws on error
//   stop()     fast shutdown, waits until the postmaster has exited (idempotent)
//   start()    starts it again on the same port and waits until it is ready
//   restart()  stop() then start()
//   running    whether the postmaster is up
//   log()      the server log so far (for assertion messages)
//   session()  one psql connection that stays open: await s.run(sql) (waits until psql has
//              run it), await s.close(); for holding a lock across steps of a test
//   cleanup()  stop (immediate) and remove the directory; also run at process exit
//
// Only node built-ins are used. Every wait polls with a deadline; nothing sleeps and hopes.

import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, chownSync, readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BINDIR = process.env.PG_BINDIR || '/usr/lib/postgresql/15/bin';
const START_DEADLINE_MS = 30000;
const STOP_DEADLINE_MS = 30000;

const live = new Set();
process.on('exit', () => {
	for (const pg of live) pg.cleanupSync();
});

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function pgUser() {
	const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
	const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
	return { uid, gid };
}

// argv for running a PostgreSQL binary as the right user.
function cmd(bin, args) {
	const path = join(BINDIR, bin);
	return isRoot ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
}

function run(bin, args, opts = {}) {
	const [file, argv] = cmd(bin, args);
	const r = spawnSync(file, argv, { encoding: 'utf8', ...opts });
	if (r.error) throw r.error;
	return r;
}

function runOk(bin, args, opts) {
	const r = run(bin, args, opts);
	if (r.status !== 0) {
		throw new Error(`${bin} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
	}
	return r.stdout;
}

// A port that was free a moment ago (bind to :0, read it, close).
export function freePort() {
	return new Promise((resolve, reject) => {
		const srv = createServer();
		srv.unref();
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address();
			srv.close(() => resolve(port));
		});
	});
}

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

class Postgres {
	constructor(dir, database) {
		this.dir = dir;
		this.dataDir = join(dir, 'data');
		this.socketDir = dir;
		this.logFile = join(dir, 'server.log');
		this.host = '127.0.0.1';
		this.database = database;
		this.port = 0;
		this.child = null;
		this.exited = null;
	}

	get url() {
		return `postgresql://postgres@${this.host}:${this.port}/${this.database}`;
	}

	get running() {
		return this.child !== null;
	}

	log() {
		return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
	}

	initdb() {
		runOk('initdb', [
			'-D', this.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8',
			'--locale=C.UTF-8', '--no-sync', '--no-instructions',
		]);
	}

	async spawnServer() {
		const [file, argv] = cmd('postgres', [
			'-D', this.dataDir, '-p', String(this.port), '-k', this.socketDir,
			'-c', `listen_addresses=${this.host}`,
			...(this.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
			'-c', 'max_connections=100', '-c', 'shared_buffers=16MB',
			'-c', 'logging_collector=off', '-c', 'log_min_messages=warning',
			'-c', 'TimeZone=UTC',
		]);
		// The log goes to a file (as the server user), so no pipe can fill up and block it.
		const child = spawn('sh', ['-c', 'exec "$@" >>"$0" 2>&1', this.logFile, file, ...argv], {
			stdio: 'ignore',
		});
		this.child = child;
		this.exited = new Promise((resolve) => {
			child.on('exit', (code, signal) => {
				if (this.child === child) this.child = null;
				resolve({ code, signal });
			});
		});
		const deadline = Date.now() + START_DEADLINE_MS;
		while (Date.now() < deadline) {
			if (!this.child) throw new Error(`postgres exited during start-up:\n${this.log()}`);
			const r = run('pg_isready', ['-q', '-h', this.host, '-p', String(this.port), '-t', '1']);
			if (r.status === 0) return;
			await delay(50);
		}
		throw new Error(`postgres not ready within ${START_DEADLINE_MS} ms:\n${this.log()}`);
	}

	async start() {
		if (this.child) return;
		await this.spawnServer();
	}

	async stop({ mode = 'fast' } = {}) {
		if (!this.child) return;
		const exited = this.exited;
		// pg_ctl signals the postmaster through its pid file and waits for it to go away.
		run('pg_ctl', ['stop', '-D', this.dataDir, '-m', mode, '-w', '-t', String(STOP_DEADLINE_MS / 1000)]);
		let timer;
		const timeout = new Promise((resolve) => {
			timer = setTimeout(() => resolve('timeout'), STOP_DEADLINE_MS);
		});
		const outcome = await Promise.race([exited, timeout]);
		clearTimeout(timer);
		if (outcome === 'timeout') {
			throw new Error(`postgres did not exit within ${STOP_DEADLINE_MS} ms`);
		}
	}

	async restart() {
		await this.stop();
		await this.start();
	}

	// One psql session kept open; run() resolves when psql has echoed a marker after the SQL.
	async session({ database = this.database } = {}) {
		const args = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', this.socketDir,
			'-p', String(this.port), '-U', 'postgres', '-d', database];
		const [file, argv] = cmd('psql', args);
		const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
		let output = '';
		let exited = null;
		child.stdout.on('data', (d) => { output += d; });
		child.stderr.on('data', (d) => { output += d; });
		const exit = new Promise((resolve) => child.on('exit', (code) => {
			exited = { code };
			resolve(exited);
		}));
		let marks = 0;
		return {
			output: () => output,
			async run(sql) {
				const mark = `-- done ${++marks} --`;
				child.stdin.write(`${sql};\n\\echo '${mark}'\n`);
				const deadline = Date.now() + START_DEADLINE_MS;
				while (!output.includes(mark)) {
					if (exited) throw new Error(`psql exited (${exited.code}): ${output}`);
					if (Date.now() > deadline) throw new Error(`psql did not run ${sql}: ${output}`);
					await delay(20);
				}
			},
			async close() {
				child.stdin.end();
				let timer;
				const late = new Promise((resolve) => { timer = setTimeout(resolve, STOP_DEADLINE_MS); });
				const r = await Promise.race([exit, late]);
				clearTimeout(timer);
				if (!r) {
					child.kill('SIGKILL');
					throw new Error(`psql did not exit within ${STOP_DEADLINE_MS} ms`);
				}
			},
		};
	}

	// Runs SQL through psql over the unix socket; returns rows as arrays of strings.
	async query(sql, { database = this.database } = {}) {
		const args = ['-X', '-q', '-A', '-t', '-F', '\x1f', '-R', '\x1e', '-v', 'ON_ERROR_STOP=1',
			'-P', 'null=\x01', '-h', this.socketDir, '-p', String(this.port), '-U', 'postgres',
			'-d', database, '-c', sql];
		const [file, argv] = cmd('psql', args);
		const out = await new Promise((resolve, reject) => {
			const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
			let stdout = '';
			let stderr = '';
			child.stdout.on('data', (d) => { stdout += d; });
			child.stderr.on('data', (d) => { stderr += d; });
			child.on('error', reject);
			child.on('exit', (code) => {
				if (code === 0) resolve(stdout);
				else reject(new Error(`psql failed (${code}): ${stderr}\nSQL: ${sql}`));
			});
		});
		const body = out.replace(/\n$/, '');
		if (body === '') return [];
		return body.split('\x1e').map((row) =>
			row.replace(/^\n/, '').split('\x1f').map((cell) => (cell === '\x01' ? null : cell)));
	}

	cleanupSync() {
		if (this.child) {
			run('pg_ctl', ['stop', '-D', this.dataDir, '-m', 'immediate', '-w', '-t', '10']);
			try {
				this.child.kill('SIGKILL');
			} catch {
				// already gone
			}
			this.child = null;
		}
		rmSync(this.dir, { recursive: true, force: true });
		live.delete(this);
	}

	async cleanup() {
		try {
			await this.stop({ mode: 'immediate' });
		} catch {
			// fall through to the synchronous path, which also removes the directory
		}
		this.cleanupSync();
	}
}

// Starts a fresh server and creates `database` in it.
// durable: PostgreSQL's own defaults (fsync, synchronous_commit, full_page_writes on), as users
// run it (bench/); the default turns them off for speed.
export async function startPostgres({ database = 'bookstore', durable = false } = {}) {
	const dir = mkdtempSync(join(tmpdir(), 'pgtest-'));
	const pg = new Postgres(dir, database);
	pg.durable = durable;
	live.add(pg);
	try {
		if (isRoot) {
			const { uid, gid } = pgUser();
			chownSync(dir, uid, gid);
		}
		pg.initdb();
		let lastErr;
		for (let attempt = 0; attempt < 3; attempt++) {
			pg.port = await freePort();
			try {
				await pg.spawnServer();
				lastErr = null;
				break;
			} catch (err) {
				lastErr = err; // most likely someone took the port in between: try another
				await pg.stop({ mode: 'immediate' }).catch(() => {});
			}
		}
		if (lastErr) throw lastErr;
		if (database !== 'postgres') {
			await pg.query(`CREATE DATABASE "${database}"`, { database: 'postgres' });
		}
		return pg;
	} catch (err) {
		pg.cleanupSync();
		throw err;
	}
}
