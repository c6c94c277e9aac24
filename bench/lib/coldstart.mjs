// coldstart.mjs: median of RUNS cold starts per service, from fork+exec to the first 200 on
// /healthz, measured by bench/c/coldstart.c (it polls every 50 µs with connect + GET).
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../../tests/integration/lib/proc.mjs';
import { FRONTEND_DIR, MANIFESTS, brokerServices } from './services.mjs';
import { buildDir, toolDir, tempDir, run, fmtMs } from './util.mjs';

const RUNS = 20;
const TARGET_MS = 20;

export async function benchColdStart(ctx) {
	const g = ctx.report.group(`Cold start: fork+exec → first 200 on /healthz (median of ${RUNS})`);
	const st = ctx.bookstore;
	const dir = tempDir('coldstart');
	const sinkUrl = st ? st.sink.url : 'http://127.0.0.1:9';
	const envs = {
		'node-server': { DB_SERVICE_URL: st ? st.db.url : 'http://127.0.0.1:9', K_SINK: sinkUrl, FRONTEND_DIR },
		'db-service': { DATABASE_URL: ctx.pg.url },
		'file-sink': { DATA_DIR: dir, FAILURE_RATE: '0' },
		'dead-letter-logger': { DATA_DIR: dir },
		'local-broker': {
			DATA_DIR: path.join(dir, 'broker'), BROKER_MANIFESTS: MANIFESTS,
			BROKER_SERVICES: brokerServices({ nodeServer: sinkUrl, fileSink: sinkUrl, deadLetter: sinkUrl }),
		},
	};
	for (const [name, env] of Object.entries(envs)) {
		const target = `≤ ${TARGET_MS} ms`;
		const bin = path.join(buildDir, name);
		if (!fs.existsSync(bin)) {
			g.skip(name, `${bin} is not built`, target);
			continue;
		}
		const port = await freePort();
		const r = await run(path.join(toolDir, 'coldstart'), [String(RUNS), String(port), '/healthz', bin], {
			env: { ...process.env, PORT: String(port), LOG_LEVEL: 'warn', ...env },
		});
		const m = /median_us (\d+) min_us (\d+) max_us (\d+)/.exec(r.stdout);
		if (r.code !== 0 || !m) {
			g.skip(name, `coldstart failed (${r.code}): ${r.stderr.trim()}`, target);
			continue;
		}
		const [med, min, max] = m.slice(1).map((v) => Number(v) / 1000);
		g.row(name, fmtMs(med), { target, ratio: med / TARGET_MS, detail: `min ${fmtMs(min)}, max ${fmtMs(max)}` });
	}
	g.note('bench/c/coldstart.c: the clock starts just before fork(); the child execs the release binary with stdout/stderr to /dev/null; the parent then loops connect(2) + "GET /healthz" with a 50 µs pause between attempts (that is the granularity), stops at the first 200, SIGKILLs and reaps the child.');
	g.note('Environments as in the other groups (node-server with a live db-service; db-service with the live PostgreSQL; the broker with the eventing manifests). /healthz is liveness: it does not wait for readiness (/readyz).');
}
