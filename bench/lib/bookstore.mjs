// bookstore.mjs: wrk against node-server's GET /comments, POST /add (K_SINK = sink202) and
// POST /insert (through db-service into PostgreSQL), with both services' RSS sampled.
import { startService, stopAll, FRONTEND_DIR } from './services.mjs';
import { startSink } from './sink.mjs';
import { sampleRss, vmRssKiB } from './rss.mjs';
import { wrk } from './wrk.mjs';
import { SECONDS, fmtInt, fmtMs, sleep } from './util.mjs';

export const TARGETS = { comments: 15000, add: 8000, insert: 6000 };

/** Starts db-service, sink202 and node-server on ctx.pg; returns { db, node, sink, stop }. */
export async function startBookstore(ctx, nodeEnv = {}) {
	const sink = await startSink();
	let db;
	let node;
	try {
		db = await startService('db-service', { DATABASE_URL: ctx.pg.url });
		node = await startService('node-server', {
			DB_SERVICE_URL: db.url, K_SINK: sink.url, FRONTEND_DIR, ...nodeEnv,
		});
	} catch (e) {
		await stopAll(db, node);
		await sink.stop();
		throw e;
	}
	return { db, node, sink, stop: async () => { await stopAll(db, node); await sink.stop(); } };
}

function rssOf(ctx, name, idle, load) {
	const r = (ctx.rss[name] ||= {});
	if (idle !== undefined) r.idle = idle;
	if (load !== undefined) r.load = Math.max(r.load ?? 0, load);
}

export function recordLoad(ctx, max) {
	for (const [name, kib] of Object.entries(max)) rssOf(ctx, name, undefined, kib);
}

async function measure(ctx, st, opts) {
	const sampler = sampleRss({ 'node-server': st.node.pid, 'db-service': st.db.pid });
	try {
		return await wrk({ seconds: SECONDS, ...opts });
	} finally {
		recordLoad(ctx, sampler.stop());
	}
}

function row(g, name, r, target) {
	g.row(name, `${fmtInt(r.okPerSec)} req/s`, {
		target: `≥ ${fmtInt(target)} req/s`,
		ratio: r.okPerSec / target,
		detail: `p50 ${fmtMs(r.p50Ms)}, p99 ${fmtMs(r.p99Ms)}; ${fmtInt(r.requests)} requests` +
			`${r.non2xx ? `, ${fmtInt(r.non2xx)} non-2xx` : ''}${r.errors ? `, ${r.errors} socket errors` : ''}`,
	});
	return r.cmd;
}

export async function benchBookstore(ctx) {
	const g = ctx.report.group('Bookstore: node-server and db-service (wrk, 2 threads)');
	const st = await startBookstore(ctx);
	ctx.bookstore = st;
	await sleep(1000); // let start-up work (migrations, first feed load) settle
	rssOf(ctx, 'node-server', vmRssKiB(st.node.pid));
	rssOf(ctx, 'db-service', vmRssKiB(st.db.pid));
	const cmds = [];
	const cases = [
		['GET /comments', { url: `${st.node.url}/comments`, script: 'get.lua', connections: 64 }, TARGETS.comments],
		['POST /add', { url: `${st.node.url}/add`, script: 'add.lua', connections: 64 }, TARGETS.add],
		['POST /insert', { url: `${st.node.url}/insert`, script: 'insert.lua', connections: 64, args: [`ins${Date.now()}`] }, TARGETS.insert],
	];
	for (const [name, opts, target] of cases) {
		try {
			cmds.push(row(g, name, await measure(ctx, st, opts), target));
		} catch (e) {
			g.skip(name, `failed: ${e.message.split('\n')[0]}`, `≥ ${fmtInt(target)} req/s`);
		}
	}
	const rows = await ctx.pg.query('SELECT count(*) FROM book_reviews').catch(() => [['?']]);
	g.note(`${SECONDS} s per run after a 1 s idle settle; ${cmds.length ? cmds[0].replace(/ -s .*/, '') : 'wrk'} ...; scripts: bench/lua/{get,add,insert}.lua`);
	g.note('K_SINK for POST /add is bench/c/sink202.c, a single-threaded C epoll server that answers 202 at once (not a Node receiver).');
	g.note(`POST /insert: every request has a distinct ce-id, so each one is a real INSERT (book_reviews holds ${rows[0][0]} rows afterwards); each insert also makes node-server reload its feed from db-service and push it to WebSocket clients (none connected here).`);
	g.note('PostgreSQL 15 from tests/integration/lib/pg.mjs (fsync=off, synchronous_commit=off, full_page_writes=off); db-service defaults (8 HTTP threads, pool of 8); node-server HTTP_THREADS=0 (one per CPU); LOG_LEVEL=warn everywhere.');
}
