// util.mjs: what every benchmark group shares: cleanup on any exit (Ctrl-C included), temp
// dirs, child processes, percentiles and number formatting.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const buildDir = path.resolve(repoRoot, process.env.BENCH_BUILD_DIR || 'build');
// tests/integration/lib/proc.mjs reads BUILD_DIR when it is first imported (after this module).
process.env.BUILD_DIR = buildDir;
export const toolDir = path.join(buildDir, 'bench/bin');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Seconds of each wrk run (BENCH_SECONDS overrides, for a quick try).
export const SECONDS = Number(process.env.BENCH_SECONDS || 10);

const children = new Set();
const dirs = new Set();
const cleanups = [];

/** Registers an async cleanup run (last first) by cleanupAll(). */
export function onCleanup(fn) {
	cleanups.push(fn);
}

export async function cleanupAll() {
	while (cleanups.length) {
		const fn = cleanups.pop();
		try {
			await fn();
		} catch (e) {
			console.error(`bench: cleanup: ${e.message}`);
		}
	}
	killAllSync();
}

// Synchronous last resort (process 'exit'): every child we started, every temp dir.
export function killAllSync() {
	for (const c of children) {
		try {
			c.kill('SIGKILL');
		} catch {
			// already gone
		}
	}
	children.clear();
	for (const d of dirs)
		fs.rmSync(d, { recursive: true, force: true });
	dirs.clear();
}
process.on('exit', killAllSync);

export function tempDir(tag) {
	const d = fs.mkdtempSync(path.join(os.tmpdir(), `bench-${tag}-`));
	dirs.add(d);
	return d;
}

/** Tracks a child process (from proc.mjs or spawned here) so that any exit kills it. */
export function track(child) {
	children.add(child);
	child.once('exit', () => children.delete(child));
	return child;
}

/** Runs a command to completion; resolves { code, stdout, stderr }. */
export function run(cmd, args, opts = {}) {
	return new Promise((resolve, reject) => {
		const c = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts }));
		let stdout = '';
		let stderr = '';
		c.stdout.on('data', (d) => { stdout += d; });
		c.stderr.on('data', (d) => { stderr += d; });
		c.on('error', reject);
		c.on('exit', (code, signal) => resolve({ code: code ?? signal, stdout, stderr }));
	});
}

/** The q-th percentile (0..100, nearest rank) of numbers; NaN when empty. */
export function percentile(values, q) {
	if (!values.length) return NaN;
	const s = Float64Array.from(values).sort();
	const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((q / 100) * s.length) - 1));
	return s[rank];
}

export const fmtInt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
export function fmtMs(ms) {
	if (!Number.isFinite(ms)) return 'n/a';
	if (ms >= 100) return `${Math.round(ms).toLocaleString('en-US')} ms`;
	if (ms >= 10) return `${ms.toFixed(1)} ms`;
	return `${ms.toFixed(2)} ms`;
}
export const fmtMiB = (kib) => (Number.isFinite(kib) ? `${(kib / 1024).toFixed(1)} MiB` : 'n/a');
