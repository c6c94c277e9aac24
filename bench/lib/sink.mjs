// sink.mjs: starts bench/c/sink202 (a C epoll server answering 202 at once) on a free port.
//
//   const s = await startSink({ log: '/tmp/x/sink.log' });   // log optional
//   s.url, s.port, s.pid; s.records() → [{ tNs (BigInt, CLOCK_MONOTONIC), id, path }]
//   await s.stop();
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { toolDir, track } from './util.mjs';

/**
 * Spawns one of bench/c/'s servers (tool, with args) that prints "listening <port>" once bound;
 * resolves with { child, port, exited } once it has, or rejects if it exits or stays silent 5 s.
 */
export async function spawnListening(tool, args) {
	const child = track(spawn(path.join(toolDir, tool), args, { stdio: ['ignore', 'pipe', 'inherit'] }));
	const port = await new Promise((resolve, reject) => {
		let out = '';
		const timer = setTimeout(() => reject(new Error(`${tool} did not start within 5 s`)), 5000);
		child.stdout.on('data', (d) => {
			out += d;
			const m = /^listening (\d+)\n/.exec(out);
			if (m) {
				clearTimeout(timer);
				resolve(Number(m[1]));
			}
		});
		child.once('exit', (code) => {
			clearTimeout(timer);
			reject(new Error(`${tool} exited (${code})`));
		});
	});
	return { child, port, exited: new Promise((r) => child.once('exit', r)) };
}

export async function startSink({ log } = {}) {
	const { child, port, exited } = await spawnListening('sink202', log ? ['0', log] : ['0']);
	return {
		port,
		pid: child.pid,
		url: `http://127.0.0.1:${port}`,
		records() {
			if (!log || !fs.existsSync(log)) return [];
			return fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => {
				const [t, id, p] = l.split(' ');
				return { tNs: BigInt(t), id, path: p };
			});
		},
		async stop() {
			if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
			await exited;
		},
	};
}
