// upstream.mjs: the upstream sample's node-server (Express, Node.js), run beside ours when
// UPSTREAM_DIR points at an extracted copy of the sample with `npm install` done in its
// node-server directory. It is never committed. bench/upstream-preload.cjs redirects its
// hard-coded port and PostgreSQL settings; bookstore.mjs gives it a database of its own in the
// same PostgreSQL server, with the upstream sample's table (db/sample.sql).
//
//   const up = await startUpstream({ pgUrl, kSink });  // { url, stop() } or { skip: 'why' }
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { freePort } from '../../tests/integration/lib/proc.mjs';
import { repoRoot, track, sleep } from './util.mjs';

export function upstreamEntry() {
	const dir = process.env.UPSTREAM_DIR;
	if (!dir) return { skip: 'UPSTREAM_DIR is not set: point it at an extracted copy of the upstream sample (with npm install done in node-server/) to bench it beside ours' };
	for (const rel of ['node-server/index.js', 'index.js']) {
		const entry = path.resolve(dir, rel);
		if (fs.existsSync(entry)) {
			if (!fs.existsSync(path.join(path.dirname(entry), 'node_modules')))
				return { skip: `${path.dirname(entry)}/node_modules is missing: run npm install there` };
			return { entry };
		}
	}
	return { skip: `UPSTREAM_DIR=${dir} holds neither node-server/index.js nor index.js` };
}

export async function startUpstream({ pgUrl, kSink }) {
	const e = upstreamEntry();
	if (e.skip) return e;
	const port = await freePort();
	const child = track(spawn(process.execPath, ['--require', path.join(repoRoot, 'bench/upstream-preload.cjs'), e.entry], {
		cwd: path.dirname(e.entry), stdio: ['ignore', 'ignore', 'pipe'],
		env: { ...process.env, BENCH_PORT: String(port), BENCH_PG_URL: pgUrl, K_SINK: kSink },
	}));
	let stderr = '';
	child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-2000); });
	const url = `http://127.0.0.1:${port}`;
	const deadline = Date.now() + 20000;
	for (;;) {
		if (child.exitCode !== null) return { skip: `the upstream node-server exited (${child.exitCode}): ${stderr.trim().split('\n').at(-1) || ''}` };
		try {
			if ((await fetch(`${url}/`)).ok) break;
		} catch {
			// not listening yet
		}
		if (Date.now() > deadline) {
			child.kill('SIGKILL');
			return { skip: 'the upstream node-server did not answer GET / within 20 s' };
		}
		await sleep(100);
	}
	const exited = new Promise((r) => child.once('exit', r));
	return {
		url, pid: child.pid,
		async stop() {
			if (child.exitCode === null) child.kill('SIGTERM');
			await exited;
		},
	};
}
