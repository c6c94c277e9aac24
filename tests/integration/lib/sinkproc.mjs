// sinkproc.mjs: file-sink and dead-letter-logger for tests, each on a fresh DATA_DIR.
//
//   import { startSink, postTo, sinkDir, removeSinkDirs } from './lib/sinkproc.mjs';
//   after(removeSinkDirs);
//   const { srv, dir, lines } = await startSink('file-sink', { FAILURE_RATE: '0' }, prepare);
//   const r = await postTo(srv, { headers, body });      // { status, text, headers }
//
// startSink(name, env, prepare) makes a temp DATA_DIR, calls prepare(dir) when given (to plant
// a file before the start), starts BUILD_DIR/<name> (lib/proc.mjs) with DATA_DIR and LOG_LEVEL
// (warn unless env says otherwise). lines() reads events.log as parsed JSON lines and asserts
// that the file ends with a newline (every record is one whole line).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, binPath } from './proc.mjs';

const dirs = [];

export function removeSinkDirs() {
	for (const d of dirs.splice(0))
		fs.rmSync(d, { recursive: true, force: true });
}

// A fresh temp directory, removed by removeSinkDirs().
export function sinkDir(name) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
	dirs.push(dir);
	return dir;
}

export async function startSink(name, env = {}, prepare) {
	const dir = sinkDir(name);
	if (prepare)
		prepare(dir);
	const srv = await startServer(binPath(name), { env: { DATA_DIR: dir, LOG_LEVEL: 'warn', ...env } });
	const lines = () => {
		const text = fs.readFileSync(path.join(dir, 'events.log'), 'utf8');
		assert.ok(text === '' || text.endsWith('\n'), 'events.log ends with a newline');
		return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
	};
	return { srv, dir, lines };
}

export async function postTo(srv, { headers, body }) {
	const res = await fetch(`${srv.url}/`, { method: 'POST', headers, body });
	const text = await res.text();
	return { status: res.status, text, headers: res.headers };
}
