// upstream-preload.cjs: loaded with `node --require` into the upstream sample's node-server
// (UPSTREAM_DIR, never committed) so that it can run beside ours: its hard-coded pg Pool
// settings become BENCH_PG_URL and its hard-coded port 8000 becomes BENCH_PORT. Nothing else
// of it changes.
'use strict';
const Module = require('module');
const net = require('net');

const load = Module._load;
Module._load = function benchLoad(request, ...rest) {
	const m = load.call(this, request, ...rest);
	if (request === 'pg' && m && m.Pool && !m.Pool.benchPatched) {
		const Pool = m.Pool;
		class BenchPool extends Pool {
			constructor(cfg) {
				super({ ...cfg, host: undefined, port: undefined, database: undefined, user: undefined,
					password: undefined, connectionString: process.env.BENCH_PG_URL });
			}
		}
		BenchPool.benchPatched = true;
		m.Pool = BenchPool;
	}
	return m;
};

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function benchListen(port, ...rest) {
	if (Number(port) === 8000) port = Number(process.env.BENCH_PORT);
	return listen.call(this, port, ...rest);
};
