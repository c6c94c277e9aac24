// stack.mjs: the bookstore backend for integration tests: a real PostgreSQL (lib/pg.mjs), the
// real db-service and the real node-server (lib/proc.mjs), and for K_SINK a small CloudEvents
// receiver that stands in for the broker.
//
//   import { startStack, stackSkipReason } from './lib/stack.mjs';
//   const skip = stackSkipReason();                 // a string when something is missing
//   const st = await startStack({ forward: true }); // receiver forwards to /insert like a Trigger
//   after(() => st.stop());
//   await fetch(`${st.url}/books`);                 // st.url = node-server
//   st.receiver.status = 500;                       // the "broker" refuses from now on
//   const ev = await st.receiver.waitForEvent((e) => e.data.reviewText === 'hi');
//
// startStack(opts):
//   opts.sink      'receiver' (default): K_SINK = the test receiver; 'none': K_SINK unset;
//                  any other string: used as K_SINK as is (e.g. a closed port).
//   opts.forward   when true, every event the receiver accepts is then POSTed (binary mode) to
//                  node-server's /insert, as a Knative Trigger would deliver it; opts.transform
//                  (headers, data) -> {headers, data} may change it first (e.g. add a sentiment).
//   opts.nodeEnv / opts.dbEnv   extra environment for node-server / db-service.
//   opts.pg        reuse a running lib/pg.mjs server (then stop() leaves it running).
// The returned object: { pg, db, node, receiver, url, dbUrl, stop(), restartNode(env),
//   startNode(env) } where db and node are lib/proc.mjs servers, and stop() stops everything
//   and asserts that both binaries exited 0 without a sanitizer report.
//
// The receiver: { url, port, status, events, waitForEvent(pred, {timeoutMs}), close() }. Each
// event is { headers (lower-case names), body (string), data (parsed JSON or undefined) }.
// Only node built-ins are used; every wait polls with a deadline.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { startPostgres } from './pg.mjs';
import { startServer, binPath, buildDir, repoRoot, assertClean, waitFor } from './proc.mjs';

const PG_BIN = `${process.env.PG_BINDIR || '/usr/lib/postgresql/15/bin'}/postgres`;

/** Why the stack cannot run here, or false. */
export function stackSkipReason() {
	if (!fs.existsSync(PG_BIN)) return `PostgreSQL server binaries not installed (${PG_BIN})`;
	for (const b of ['db-service', 'node-server']) {
		if (!fs.existsSync(path.join(buildDir, b))) return `${buildDir}/${b} not built`;
	}
	return false;
}

function readBody(req) {
	return new Promise((resolve, reject) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
		req.on('error', reject);
	});
}

/** A CloudEvents HTTP receiver standing in for the broker ingress. */
export async function startReceiver({ forwardTo = null, transform = null } = {}) {
	const rec = {
		status: 202,
		events: [],
		forwarded: [],
		forwardTo,
		async waitForEvent(pred = () => true, { timeoutMs = 5000 } = {}) {
			return waitFor(() => rec.events.find(pred), { timeoutMs, what: 'an event at the receiver' });
		},
	};
	const server = http.createServer(async (req, res) => {
		const body = await readBody(req);
		let data;
		try {
			data = JSON.parse(body);
		} catch {
			data = undefined;
		}
		const ev = { method: req.method, url: req.url, headers: { ...req.headers }, body, data };
		rec.events.push(ev);
		const status = rec.status;
		res.writeHead(status, { 'content-length': '0' });
		res.end();
		if (rec.forwardTo && status >= 200 && status < 300) forward(rec, ev, transform);
	});
	server.keepAliveTimeout = 30000;
	await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
	rec.port = server.address().port;
	rec.url = `http://127.0.0.1:${rec.port}/`;
	rec.close = () => new Promise((resolve) => {
		server.closeAllConnections?.();
		server.close(() => resolve());
	});
	return rec;
}

// Delivers one accepted event to node-server's /insert like a Trigger (binary mode), retrying
// on 5xx a few times as the broker would.
async function forward(rec, ev, transform) {
	let headers = {};
	for (const [k, v] of Object.entries(ev.headers)) {
		if (k.startsWith('ce-') || k === 'content-type') headers[k] = v;
	}
	let body = ev.body;
	if (transform) {
		const t = transform(headers, ev.data);
		headers = t.headers;
		body = JSON.stringify(t.data);
	}
	for (let attempt = 0; attempt < 10; attempt++) {
		try {
			const res = await fetch(new URL('/insert', rec.forwardTo), { method: 'POST', headers, body });
			const text = await res.text();
			rec.forwarded.push({ status: res.status, headers: Object.fromEntries(res.headers), body: text });
			if (res.status < 500) return;
		} catch (e) {
			rec.forwarded.push({ status: 0, error: e.message });
		}
		await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
	}
}

export async function startStack(opts = {}) {
	const st = { ownPg: !opts.pg };
	st.pg = opts.pg || await startPostgres({ database: 'bookstore' });
	try {
		st.db = await startServer(binPath('db-service'), {
			env: { DATABASE_URL: st.pg.url, LOG_LEVEL: 'warn', ...(opts.dbEnv || {}) },
			readyPath: '/readyz',
		});
		st.dbUrl = st.db.url;
		const sink = opts.sink || 'receiver';
		if (sink === 'receiver') {
			st.receiver = await startReceiver({ transform: opts.transform });
			st.sinkUrl = st.receiver.url;
		} else if (sink !== 'none') {
			st.sinkUrl = sink;
		}
		st.nodeEnvBase = {
			DB_SERVICE_URL: st.db.url,
			FRONTEND_DIR: path.join(repoRoot, 'frontend-static'),
			LOG_LEVEL: 'warn',
			...(st.sinkUrl ? { K_SINK: st.sinkUrl } : {}),
			...(opts.nodeEnv || {}),
		};
		st.startNode = async (env = {}) => {
			st.node = await startServer(binPath('node-server'), {
				env: { ...st.nodeEnvBase, ...env },
				readyPath: '/readyz',
			});
			st.url = st.node.url;
			if (st.receiver && opts.forward) st.receiver.forwardTo = st.node.url;
			return st.node;
		};
		st.restartNode = async (env = {}) => {
			const r = await st.node.stop();
			assert.equal(r.code, 0, `node-server exit status\n${r.stderr}`);
			assertClean(r.stderr);
			return st.startNode(env);
		};
		await st.startNode();
	} catch (e) {
		await stopAll(st).catch(() => {});
		throw e;
	}
	st.stop = () => stopAll(st, true);
	return st;
}

async function stopAll(st, check = false) {
	const results = [];
	for (const name of ['node', 'db']) {
		if (st[name]) {
			const r = await st[name].stop();
			st[name] = null;
			results.push([name, r]);
		}
	}
	if (st.receiver) await st.receiver.close();
	if (st.pg && st.ownPg) await st.pg.cleanup();
	if (check) {
		for (const [name, r] of results) {
			assert.equal(r.code, 0, `${name} exit status ${r.code ?? r.signal}\n${r.stderr}`);
			assertClean(r.stderr);
		}
	}
}
