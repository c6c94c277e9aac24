// wrk.mjs: runs Debian's wrk with one of bench/lua/*.lua and parses its "BENCH {json}" line.
//
//   const r = await wrk({ url, script: 'add.lua', connections: 64, seconds: 10, args: ['x'] });
//   r → { reqPerSec, okPerSec, requests, non2xx, errors, p50Ms, p99Ms, maxMs, cmd, raw }
// okPerSec counts only 2xx/3xx answers; errors = socket errors (connect, read, write, timeout).
import path from 'node:path';
import { run, repoRoot } from './util.mjs';

export const WRK_THREADS = 2;

export async function wrk({ url, script, connections = 64, seconds = 10, args = [] }) {
	const argv = ['-t', String(WRK_THREADS), '-c', String(connections), '-d', `${seconds}s`,
		'--timeout', '5s', '-s', path.join('bench/lua', script), url];
	if (args.length) argv.push('--', ...args);
	const r = await run('wrk', argv, { cwd: repoRoot });
	const line = r.stdout.split('\n').find((l) => l.startsWith('BENCH '));
	if (r.code !== 0 || !line)
		throw new Error(`wrk ${argv.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
	const j = JSON.parse(line.slice(6));
	const secs = j.duration_us / 1e6;
	const errors = j.connect_err + j.read_err + j.write_err + j.timeout_err;
	return {
		reqPerSec: j.requests / secs,
		okPerSec: (j.requests - j.non2xx) / secs,
		requests: j.requests,
		non2xx: j.non2xx,
		errors,
		p50Ms: j.p50_us / 1000,
		p99Ms: j.p99_us / 1000,
		maxMs: j.max_us / 1000,
		cmd: `wrk ${argv.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`,
		raw: j,
	};
}
