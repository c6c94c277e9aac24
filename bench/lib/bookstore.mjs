// bookstore.mjs: wrk against node-server's cheap routes, GET /comments on a full feed, POST /add
// (K_SINK = sink202) and POST /insert (through db-service into PostgreSQL with fsync on, as users
// run it, and a second row with fsync off), beside a bare libmicrohttpd keep-alive server (the
// ceiling, bench/c/bare.c) and the upstream node-server when UPSTREAM_DIR is set. Every figure
// is the median of ROUNDS alternated runs with min–max, non-2xx answers counted, and a ratio to
// the ceiling and to upstream.
import { startService, stopAll, FRONTEND_DIR } from './services.mjs';
import { startSink, spawnListening } from './sink.mjs';
import { sampleRss, vmRssKiB } from './rss.mjs';
import { wrk } from './wrk.mjs';
import { ROUNDS, alternate, fmtRate, fmtVs } from './rounds.mjs';
import { startUpstream, upstreamEntry } from './upstream.mjs';
import { SECONDS, fmtInt, fmtMs, onCleanup, sleep } from './util.mjs';
import { startPostgres } from '../../tests/integration/lib/pg.mjs';

export const TARGETS = { comments: 15000, add: 8000, insert: 6000 };
const CHEAP_TARGET = 0.7; // of the bare server
const FEED_REVIEWS = 100;

/** Starts db-service on pgUrl (default ctx.pg), sink202 and node-server; { db, node, sink, stop }. */
export async function startBookstore(ctx, nodeEnv = {}, pgUrl = ctx.pg.url) {
	const sink = await startSink();
	let db;
	let node;
	try {
		db = await startService('db-service', { DATABASE_URL: pgUrl });
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

/**
 * A database of its own for the upstream node-server, in the same (fsync on) server, with the
 * upstream sample's table as its db/sample.sql defines it (a serial key, the sentiment check, no
 * other index), so its inserts pay neither our event_id and post_time indexes nor our rows.
 * Returns its URL, or the shared database's when upstream is not set up (it is skipped then).
 */
async function upstreamDatabase(pg) {
	if (upstreamEntry().skip) return pg.url;
	await pg.query('CREATE DATABASE upstream', { database: 'postgres' });
	await pg.query('CREATE TABLE book_reviews (id serial PRIMARY KEY, post_time timestamp NOT NULL, ' +
		"content text NOT NULL, sentiment text, CONSTRAINT sentiment_check CHECK (sentiment IN ('positive', 'negative', 'neutral')))",
	{ database: 'upstream' });
	return pg.url.replace(/\/bookstore$/, '/upstream');
}

/** bench/c/bare.c on a free port: { url, stop() }. */
async function startBare() {
	const { child, port, exited } = await spawnListening('bare', ['0']);
	return { url: `http://127.0.0.1:${port}`, async stop() { child.kill('SIGTERM'); await exited; } };
}

function rssOf(ctx, name, idle, load) {
	const r = (ctx.rss[name] ||= {});
	if (idle !== undefined) r.idle = idle;
	if (load !== undefined) r.load = Math.max(r.load ?? 0, load);
}

export function recordLoad(ctx, max) {
	for (const [name, kib] of Object.entries(max)) rssOf(ctx, name, undefined, kib);
}

/** Fills the feed: FEED_REVIEWS distinct /insert through node-server, then waits for GET /comments. */
async function fillFeed(st) {
	for (let i = 0; i < FEED_REVIEWS; i++) {
		const r = await fetch(`${st.node.url}/insert`, {
			method: 'POST',
			headers: {
				'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-type': 'moderated-comment',
				'ce-source': 'sentiment-analysis', 'ce-id': `feed-${Date.now()}-${i}`, 'ce-badwordfilter': 'good',
			},
			body: JSON.stringify({ reviewText: `A review that fills the feed, number ${i}: ${'a fair read. '.repeat(8)}`, sentimentResult: 'positive' }),
		});
		await r.arrayBuffer();
		if (!r.ok) throw new Error(`filling the feed: /insert answered ${r.status}`);
	}
	const deadline = Date.now() + 20000;
	for (;;) {
		const body = await (await fetch(`${st.node.url}/comments`)).text();
		const n = JSON.parse(body).length;
		if (n >= FEED_REVIEWS) return { n, bytes: Buffer.byteLength(body) };
		if (Date.now() > deadline) throw new Error(`GET /comments holds ${n} reviews, not ${FEED_REVIEWS}`);
		await sleep(100);
	}
}

function detail(s, refs) {
	const vs = fmtVs(s, refs);
	return `p50 ${fmtMs(s.p50.med)}, p99 ${fmtMs(s.p99.med)} (${fmtMs(s.p99.min)}–${fmtMs(s.p99.max)}); ` +
		`${fmtInt(s.requests)} requests, ${fmtInt(s.non2xx)} non-2xx${s.errors ? `, ${s.errors} socket errors` : ''}` +
		`${vs ? `; ${vs}` : ''}`;
}

export async function benchBookstore(ctx) {
	const g = ctx.report.group(`Bookstore: node-server and db-service (wrk, 2 threads; median of ${ROUNDS} alternated rounds, min–max)`);
	const durable = await startPostgres({ database: 'bookstore', durable: true });
	onCleanup(() => durable.cleanup());
	const st = await startBookstore(ctx, {}, durable.url);
	ctx.bookstore = st;
	const fast = await startBookstore(ctx, {}, ctx.pg.url);
	const bare = await startBare();
	const up = await startUpstream({ pgUrl: await upstreamDatabase(durable), kSink: st.sink.url });
	try {
		await sleep(1000); // let start-up work (migrations, first feed load) settle
		rssOf(ctx, 'node-server', vmRssKiB(st.node.pid));
		rssOf(ctx, 'db-service', vmRssKiB(st.db.pid));
		const feed = await fillFeed(st);
		const measure = (opts) => async () => {
			const sampler = sampleRss({ 'node-server': st.node.pid, 'db-service': st.db.pid });
			try {
				return await wrk({ seconds: SECONDS, connections: 64, ...opts });
			} finally {
				recordLoad(ctx, sampler.stop());
			}
		};
		const cases = [
			{ key: 'bare', run: measure({ url: `${bare.url}/`, script: 'get.lua' }) },
			{ key: 'healthz', run: measure({ url: `${st.node.url}/healthz`, script: 'get.lua' }) },
			{ key: 'page', run: measure({ url: `${st.node.url}/`, script: 'get.lua' }) },
			{ key: 'comments', run: measure({ url: `${st.node.url}/comments`, script: 'get.lua' }) },
			{ key: 'add', run: measure({ url: `${st.node.url}/add`, script: 'add.lua' }) },
			{ key: 'insert', run: measure({ url: `${st.node.url}/insert`, script: 'insert.lua', args: [`ins${Date.now()}`] }) },
			{ key: 'insertFast', run: measure({ url: `${fast.node.url}/insert`, script: 'insert.lua', args: [`insf${Date.now()}`] }) },
		];
		if (up.url) {
			cases.push(
				{ key: 'upRoot', run: () => wrk({ seconds: SECONDS, connections: 64, url: `${up.url}/`, script: 'get.lua' }) },
				{ key: 'upAdd', run: () => wrk({ seconds: SECONDS, connections: 64, url: `${up.url}/add`, script: 'add.lua' }) },
				{ key: 'upInsert', run: () => wrk({ seconds: SECONDS, connections: 64, url: `${up.url}/insert`, script: 'insert.lua', args: [`up${Date.now()}`] }) },
			);
		}
		const res = await alternate(cases);
		const b = res.get('bare');
		const show = (name, key, { target = '', ratio = () => NaN, upKey = null, extra = '' } = {}) => {
			const s = res.get(key);
			if (s.error) {
				g.skip(name, `failed: ${s.error}`, target);
				return;
			}
			const refs = { bare: b.error || key === 'bare' ? null : b };
			if (upKey) refs.upstream = res.get(upKey)?.error ? null : res.get(upKey);
			g.row(name, fmtRate(s), { target, ratio: ratio(s), detail: `${detail(s, refs)}${extra}` });
		};
		const vsTarget = (t) => (s) => s.ok.med / t;
		const vsBare = (s) => (b.error ? NaN : s.ok.med / b.ok.med / CHEAP_TARGET);
		show('ceiling: bare libmicrohttpd keep-alive server (bench/c/bare.c), GET /', 'bare', { ratio: () => NaN });
		show('GET /healthz (cheap route)', 'healthz', { target: `≥ ${CHEAP_TARGET.toFixed(2)}× bare`, ratio: vsBare });
		show('GET / (the page)', 'page', { target: `≥ ${CHEAP_TARGET.toFixed(2)}× bare`, ratio: vsBare });
		show(`GET /comments (${feed.n} reviews, ${fmtInt(feed.bytes)} bytes)`, 'comments', { target: `≥ ${fmtInt(TARGETS.comments)} req/s`, ratio: vsTarget(TARGETS.comments) });
		show('POST /add (K_SINK = sink202)', 'add', { target: `≥ ${fmtInt(TARGETS.add)} req/s`, ratio: vsTarget(TARGETS.add), upKey: 'upAdd' });
		// The issue's /insert target is relative: at least twice upstream's throughput with a p99 no
		// higher than upstream's. With upstream measured in this run, that is the target; without
		// it, the absolute 6,000 req/s (twice the 3,002 req/s the issue measured for upstream).
		const upIns = up.url && !res.get('upInsert').error ? res.get('upInsert') : null;
		const insertTarget = upIns
			? { target: `≥ 2× upstream (${fmtInt(2 * upIns.ok.med)} req/s), p99 ≤ ${fmtMs(upIns.p99.med)}`, ratio: vsTarget(2 * upIns.ok.med),
				extra: (s) => `; p99 ${s.p99.med <= upIns.p99.med ? '≤' : '>'} upstream's ${fmtMs(upIns.p99.med)}` }
			: { target: `≥ ${fmtInt(TARGETS.insert)} req/s`, ratio: vsTarget(TARGETS.insert), extra: () => '' };
		for (const [name, key] of [['POST /insert, PostgreSQL fsync on', 'insert'], ['POST /insert, PostgreSQL fsync off', 'insertFast']]) {
			show(name, key, { target: insertTarget.target, ratio: insertTarget.ratio, upKey: 'upInsert',
				extra: res.get(key).error ? '' : insertTarget.extra(res.get(key)) });
		}
		if (up.url) {
			show('upstream node-server: GET / (Hello world)', 'upRoot', { ratio: () => NaN });
			show('upstream node-server: POST /add (K_SINK = sink202)', 'upAdd', { ratio: () => NaN });
			show('upstream node-server: POST /insert, fsync on', 'upInsert', { ratio: () => NaN });
		} else {
			g.skip('upstream node-server', up.skip || upstreamEntry().skip);
		}
		const rows = await durable.query('SELECT count(*) FROM book_reviews').catch(() => [['?']]);
		g.note(`${SECONDS} s per wrk run, ${ROUNDS} rounds (BENCH_ROUNDS), the cases alternated (each round reverses the order of the one before); measured = median req/s of the rounds (min–max), 2xx/3xx only; non-2xx = every non-2xx answer of every round. ${res.get('bare').cmd ? res.get('bare').cmd.replace(/ -s .*/, '') : 'wrk'} ...; scripts: bench/lua/{get,add,insert}.lua.`);
		if (up.url) {
			g.note(`The upstream node-server: ${process.env.UPSTREAM_DIR}'s node-server (Express) under Node ${process.version}, one process, stdout (its console.log per request) to /dev/null; its own database in the same fsync-on PostgreSQL server, with the sample's book_reviews table (db/sample.sql: a serial key and the sentiment check, none of our indexes); same wrk, same sink202.`);
		}
		g.note('Ratios in the detail column: median ÷ the bare server\'s median ("× bare"; the cheap-route target is 0.70 of it) and ÷ the upstream node-server\'s median for the same route ("× upstream"), from the same run.');
		g.note('K_SINK for POST /add is bench/c/sink202.c, a single-threaded C epoll server that answers 202 at once (not a Node receiver).');
		g.note(`POST /insert: every request has a distinct ce-id, so each one is a real INSERT (the fsync-on database holds ${rows[0][0]} rows afterwards); each insert also makes node-server reload its feed from db-service and push it to WebSocket clients (none connected here). Before the runs, ${FEED_REVIEWS} reviews are inserted so that GET /comments answers a full feed.`);
		g.note('PostgreSQL 15 from tests/integration/lib/pg.mjs: "fsync on" = its defaults (fsync, synchronous_commit, full_page_writes on), "fsync off" = all three off; db-service defaults (32 HTTP threads, pool of 8); node-server HTTP_THREADS=0 (one per CPU); LOG_LEVEL=warn everywhere.');
	} finally {
		await up.stop?.();
		await bare.stop();
		await fast.stop();
	}
}
