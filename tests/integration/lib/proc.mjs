// proc.mjs: start and stop a real server binary for integration tests.
//
//   import { startServer, binPath } from './lib/proc.mjs';
//   const srv = await startServer(binPath('tests/tools/testserver'), { env: { FOO: '1' } });
//   const res = await fetch(`${srv.url}/healthz`);
//   const { code, signal, stderr } = await srv.stop();   // SIGTERM, waits for the exit
//   assert.equal(code, 0);
//   assertClean(stderr);                                   // no sanitizer report
//
// - binPath(rel) resolves rel under process.env.BUILD_DIR (default "build/asan"), relative to
//   the repository root, and throws a clear error when the binary is missing.
// - startServer(bin, opts) picks a free port (opts.port to force one) and passes it as PORT,
//   plus opts.env; stderr goes to a file under build/test-logs/ (srv.stderrFile). It polls
//   GET opts.readyPath (default /healthz) until 200, at most opts.timeoutMs (default 15000),
//   and throws with the stderr text if the process exits or the deadline passes.
//   The returned object: { proc, port, url, stderrFile, stop(opts), kill(sig), stderr() }.
// - srv.stop({ signal = 'SIGTERM', timeoutMs = 20000 }) sends the signal, waits for the exit
//   (SIGKILL after the deadline, then throws) and returns { code, signal, stderr }.
// - stopClean(srv) stops it with SIGTERM and asserts exit status 0 and assertClean(stderr);
//   returns { code, signal, stderr }.
// - peakRssKiB(pid) is the peak resident set (VmHWM) of a process, in KiB.
// - assertClean(stderr) fails on "ERROR: AddressSanitizer", "ERROR: LeakSanitizer" and UBSan's
//   "runtime error:".
// - freePort() asks the kernel for a free TCP port on 127.0.0.1.
// - waitFor(fn, { timeoutMs, intervalMs, what }) polls an async predicate until it returns a
//   truthy value (returned) or throws after the deadline.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const buildDir = path.resolve(repoRoot, process.env.BUILD_DIR || 'build/asan');

export function binPath(rel) {
	const p = path.resolve(buildDir, rel);
	if (!fs.existsSync(p))
		throw new Error(`${p} does not exist: build it first (BUILD_DIR=${buildDir})`);
	return p;
}

// The peak resident set (VmHWM) of process pid, in KiB.
export function peakRssKiB(pid) {
	return Number(/^VmHWM:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

export function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.unref();
		s.on('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const { port } = s.address();
			s.close(() => resolve(port));
		});
	});
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(fn, { timeoutMs = 10000, intervalMs = 25, what = 'condition' } = {}) {
	const deadline = Date.now() + timeoutMs;
	let last;
	for (;;) {
		try {
			const v = await fn();
			if (v)
				return v;
		} catch (e) {
			last = e;
		}
		if (Date.now() > deadline)
			throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
				(last ? `: ${last.message}` : ''));
		await sleep(intervalMs);
	}
}

const SANITIZER = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/;

export function assertClean(stderr) {
	const m = SANITIZER.exec(stderr);
	assert.ok(!m, `sanitizer report in stderr:\n${m ? stderr.slice(Math.max(0, m.index - 200), m.index + 3000) : ''}`);
}

let seq = 0;

export async function startServer(bin, opts = {}) {
	const port = opts.port ?? await freePort();
	const logDir = path.resolve(repoRoot, 'build/test-logs');
	fs.mkdirSync(logDir, { recursive: true });
	const stderrFile = path.join(logDir,
		`${path.basename(bin)}-${process.pid}-${++seq}-${port}.stderr`);
	const errFd = fs.openSync(stderrFile, 'w');
	const env = {
		...process.env,
		ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
		UBSAN_OPTIONS: 'print_stacktrace=1',
		PORT: String(port),
		...(opts.env || {}),
	};
	const proc = spawn(bin, opts.args || [], { env, stdio: ['ignore', 'ignore', errFd] });
	fs.closeSync(errFd);
	let exited = null;
	const exitPromise = new Promise((resolve) => {
		proc.on('exit', (code, signal) => {
			exited = { code, signal };
			resolve(exited);
		});
	});
	const readStderr = () => fs.readFileSync(stderrFile, 'utf8');
	const url = `http://127.0.0.1:${port}`;
	const srv = {
		proc, port, url, stderrFile,
		stderr: readStderr,
		kill: (sig) => proc.kill(sig),
		async stop({ signal = 'SIGTERM', timeoutMs = 20000 } = {}) {
			if (!exited)
				proc.kill(signal);
			let timer;
			const deadline = new Promise((resolve) => { timer = setTimeout(() => resolve(null), timeoutMs); });
			const r = await Promise.race([exitPromise, deadline]);
			clearTimeout(timer);
			if (!r) {
				proc.kill('SIGKILL');
				await exitPromise;
				throw new Error(`${bin} did not exit within ${timeoutMs} ms of ${signal}:\n${readStderr()}`);
			}
			return { code: r.code, signal: r.signal, stderr: readStderr() };
		},
	};
	const readyPath = opts.readyPath || '/healthz';
	try {
		await waitFor(async () => {
			if (exited)
				throw new Error(`exited early (${exited.code ?? exited.signal})`);
			const res = await fetch(url + readyPath, { signal: AbortSignal.timeout(1000) });
			await res.arrayBuffer();
			return res.status === 200;
		}, { timeoutMs: opts.timeoutMs || 15000, what: `${bin} ${readyPath}` });
	} catch (e) {
		if (!exited) {
			proc.kill('SIGKILL');
			await exitPromise;
		}
		throw new Error(`${e.message}\n--- stderr ---\n${readStderr()}`);
	}
	return srv;
}

export async function stopClean(srv) {
	const r = await srv.stop();
	assert.equal(r.code, 0, `exit status ${r.code}\n${r.stderr.slice(-3000)}`);
	assertClean(r.stderr);
	return r;
}

// Runs fn(srv), then stops srv; fn's error wins, else srv must have exited 0 with a clean stderr.
export async function runThenStop(srv, fn) {
	let failed = null;
	try {
		await fn(srv);
	} catch (e) {
		failed = e;
	}
	const r = await srv.stop();
	if (failed)
		throw failed;
	assert.equal(r.code, 0, `exit status ${r.code}\n${r.stderr}`);
	assertClean(r.stderr);
}
