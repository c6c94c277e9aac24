// bench/run.mjs: `make bench` (through bench/run.sh). Runs every benchmark group against the
// release binaries, prints one table per group with measured value, target and ratio, and writes
// the same as Markdown to <build>/bench/results.md. Asserts nothing: the exit status is 0 unless
// the run itself breaks (PostgreSQL or a tool missing).
//
//   node bench/run.mjs [group...]   groups: bookstore ws coldstart rss delivery tracing moderation
//                                   images
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildDir, cleanupAll, onCleanup, fmtMiB, SECONDS } from './lib/util.mjs';
import { Report } from './lib/table.mjs';
import { benchBookstore, startBookstore } from './lib/bookstore.mjs';
import { benchWs } from './lib/ws.mjs';
import { benchWsJourneys } from './lib/ws_journeys.mjs';
import { benchColdStart } from './lib/coldstart.mjs';
import { benchDelivery } from './lib/delivery.mjs';
import { benchTracing } from './lib/tracing.mjs';
import { benchModeration } from './lib/moderation.mjs';
import { benchImages } from './lib/images.mjs';
import { measureIdleRss } from './lib/rss_idle.mjs';
import { startPostgres } from '../tests/integration/lib/pg.mjs';

const RSS_TARGET_KIB = 10 * 1024;
const ALL = ['bookstore', 'ws', 'coldstart', 'delivery', 'tracing', 'moderation', 'rss', 'images'];

function machine() {
	const cpu = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
	return `${os.cpus().length} CPUs (nproc), ${cpu ? cpu[1].trim() : os.cpus()[0]?.model}, ` +
		`${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${os.release()}`;
}

const RSS_SERVICES = ['node-server', 'db-service', 'file-sink', 'dead-letter-logger', 'local-broker',
	'bad-word-filter', 'sentiment-analysis'];

async function rssGroup(ctx) {
	const g = ctx.report.group('Resident memory (VmRSS from /proc/<pid>/status)');
	const alone = await measureIdleRss(ctx, RSS_SERVICES);
	for (const name of RSS_SERVICES) {
		const r = ctx.rss[name];
		if (!r || !Number.isFinite(r.idle)) {
			g.skip(name, 'not measured (its group did not run)', '≤ 10.0 MiB idle');
			continue;
		}
		g.row(`${name} idle`, fmtMiB(r.idle), {
			target: '≤ 10.0 MiB', ratio: r.idle / RSS_TARGET_KIB,
			detail: Number.isFinite(r.load) ? `under load: max ${fmtMiB(r.load)}` : '',
		});
	}
	if (alone.length)
		g.note(`Idle of ${alone.join(', ')}: measured by the rss group itself (bench/lib/rss_idle.mjs, the end-to-end wiring with no load), as the groups that would have measured them did not run.`);
	g.note('Idle = 1 s after the service answered its ready path, before any load. Under load = the highest of 100 ms samples during every wrk run the service took part in (node-server and db-service: the bookstore runs and the end-to-end run; file-sink, dead-letter-logger: the end-to-end run; local-broker: the end-to-end and ingress runs). dead-letter-logger receives nothing under load (FAILURE_RATE=0).');
}

async function main() {
	const want = process.argv.slice(2).length ? process.argv.slice(2) : ALL;
	for (const w of want)
		if (!ALL.includes(w)) throw new Error(`unknown group ${w}: one of ${ALL.join(' ')}`);
	const ctx = { report: new Report(), rss: {} };
	const started = new Date();
	ctx.report.header = [
		`bookstore benchmarks, ${started.toISOString().replace(/\.\d+Z$/, 'Z')}`,
		`machine: ${machine()}`,
		`binaries: ${path.relative(process.cwd(), buildDir) || '.'}/ (release: -O2, no sanitizers)`,
		'Load generators (wrk -t 2, Node clients) and every server share the same 2 cores: no pinning, so the figures are a lower bound of what a dedicated server would do.',
	];
	ctx.pg = await startPostgres({ database: 'bookstore' });
	onCleanup(() => ctx.pg.cleanup());
	const has = (g) => want.includes(g);
	if (has('bookstore') || has('ws') || has('coldstart')) {
		onCleanup(() => ctx.bookstore?.stop());
		if (has('bookstore')) {
			console.error('bench: bookstore...');
			await benchBookstore(ctx);
		} else {
			ctx.bookstore = await startBookstore(ctx);
		}
		for (const [g, fn] of [['ws', benchWs], ['ws', benchWsJourneys], ['coldstart', benchColdStart]]) {
			if (!has(g)) continue;
			console.error(`bench: ${g}...`);
			await fn(ctx);
		}
		const st = ctx.bookstore;
		ctx.bookstore = null;
		await st?.stop();
	}
	for (const [g, fn] of [['delivery', benchDelivery], ['tracing', benchTracing], ['moderation', benchModeration], ['rss', rssGroup], ['images', benchImages]]) {
		if (!has(g)) continue;
		console.error(`bench: ${g}...`);
		await fn(ctx);
	}
	const elapsed = Math.round((Date.now() - started) / 1000);
	ctx.report.header.push(`run time: ${elapsed} s (${SECONDS} s per wrk run)`);
	const text = ctx.report.text();
	console.log(text);
	const out = path.join(buildDir, 'bench/results.md');
	fs.mkdirSync(path.dirname(out), { recursive: true });
	fs.writeFileSync(out, ctx.report.markdown());
	console.log(`bench: wrote ${path.relative(process.cwd(), out)}`);
}

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
	process.on(sig, async () => {
		if (stopping) return;
		stopping = true;
		console.error(`\nbench: ${sig}: stopping every process and removing temp dirs`);
		await cleanupAll();
		process.exit(130);
	});
}

try {
	await main();
} catch (e) {
	console.error(`bench: ${e.stack || e.message}`);
	process.exitCode = 1;
} finally {
	await cleanupAll();
}
