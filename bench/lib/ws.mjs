// ws.mjs: WebSocket fan-out. CLIENTS sockets on node-server's /comments (npm ws, one Node
// process), then INSERTS inserts through POST /insert; for each, the time from the insert's
// HTTP response until each client has received the array holding the new review.
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { fmtMs, fmtInt, percentile, sleep } from './util.mjs';
import { ROUNDS, median, fmtSpread } from './rounds.mjs';

const CLIENTS = 1000;
const INSERTS = 10;
const TARGET_P99_MS = 100;

function connect(url) {
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(url, { perMessageDeflate: false });
		const c = { ws, marker: null, seenAt: null, messages: 0, lastLen: 0 };
		ws.on('message', (data) => {
			c.messages++;
			c.lastLen = data.length;
			if (c.marker && c.seenAt === null && data.includes(c.marker)) c.seenAt = performance.now();
		});
		ws.once('open', () => resolve(c));
		ws.once('error', reject);
	});
}

async function connectAll(url, n) {
	const clients = [];
	for (let i = 0; i < n; i += 100) {
		const batch = await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => connect(url)));
		clients.push(...batch);
	}
	return clients;
}

async function waitAll(clients, timeoutMs) {
	const deadline = Date.now() + timeoutMs;
	while (clients.some((c) => c.seenAt === null)) {
		if (Date.now() > deadline) return false;
		await sleep(2);
	}
	return true;
}

/**
 * POSTs one /insert to nodeUrl whose review text (and ce-id) is marker, and waits up to 10 s
 * for every client to see it (c.seenAt, set by the caller's message handler when c.marker
 * arrives). Returns { lat: each client's ms from the answer to its receipt (0 if before), missed }.
 */
export async function insertAndWait(nodeUrl, clients, marker) {
	for (const c of clients) {
		c.marker = marker;
		c.seenAt = null;
	}
	const res = await fetch(`${nodeUrl}/insert`, {
		method: 'POST',
		headers: {
			'content-type': 'application/json', 'ce-specversion': '1.0',
			'ce-type': 'moderated-comment', 'ce-source': 'bench', 'ce-id': marker,
		},
		body: JSON.stringify({ reviewText: marker }),
	});
	await res.arrayBuffer();
	const answered = performance.now();
	if (res.status !== 200) throw new Error(`POST /insert answered ${res.status}`);
	await waitAll(clients, 10000);
	const seen = clients.filter((c) => c.seenAt !== null);
	return { lat: seen.map((c) => Math.max(0, c.seenAt - answered)), missed: clients.length - seen.length };
}

/** One round: CLIENTS fresh clients, INSERTS inserts; every client's latency of each insert. */
async function fanoutRound(nodeUrl, url, round) {
	let clients = [];
	try {
		const t0 = performance.now();
		clients = await connectAll(url, CLIENTS);
		const connectMs = performance.now() - t0;
		const deadline = Date.now() + 10000;
		while (clients.some((c) => c.messages === 0) && Date.now() < deadline) await sleep(10);
		const lat = [];
		const perInsertMax = [];
		let missed = 0;
		const run = Date.now();
		for (let i = 0; i < INSERTS; i++) {
			const r = await insertAndWait(nodeUrl, clients, `fanout-${run}-${round}-${i}`);
			missed += r.missed;
			lat.push(...r.lat);
			perInsertMax.push(Math.max(...r.lat));
			await sleep(200);
		}
		return { lat, perInsertMax, missed, connectMs, p99: percentile(lat, 99), bytes: clients[0].lastLen };
	} finally {
		for (const c of clients) c.ws.terminate();
	}
}

/**
 * A fan-out group: { g, target, nodeUrl, url (node-server's /comments) }, or null when the
 * bookstore stack did not start (the group then says so).
 */
export function fanoutGroup(ctx, title) {
	const g = ctx.report.group(title);
	const target = `p99 ≤ ${TARGET_P99_MS} ms`;
	const node = ctx.bookstore?.node;
	if (!node) {
		g.skip('fan-out', 'the bookstore stack did not start', target);
		return null;
	}
	return { g, target, nodeUrl: node.url, url: `${node.url.replace('http', 'ws')}/comments` };
}

export async function benchWs(ctx) {
	const fg = fanoutGroup(ctx, `WebSocket fan-out: ${fmtInt(CLIENTS)} clients on node-server /comments`);
	if (!fg) return;
	const { g, target } = fg;
	try {
		const rounds = [];
		for (let r = 0; r < ROUNDS; r++) rounds.push(await fanoutRound(fg.nodeUrl, fg.url, r));
		const p99s = rounds.map((x) => x.p99);
		const all = rounds.flatMap((x) => x.lat);
		const missed = rounds.reduce((a, x) => a + x.missed, 0);
		const p99 = median(p99s);
		g.row('insert → every client has the array', `p99 ${fmtSpread(p99s, fmtMs)}`, {
			target, ratio: p99 / TARGET_P99_MS,
			detail: `p50 ${fmtMs(median(rounds.map((x) => percentile(x.lat, 50))))}, max ${fmtMs(Math.max(...all))}; ${ROUNDS} rounds of ${INSERTS} inserts × ${fmtInt(CLIENTS)} clients` +
				`${missed ? `; ${missed} deliveries missing after 10 s` : ''}`,
		});
		const conn = rounds.map((x) => x.connectMs);
		g.row('connecting the clients', fmtSpread(conn, fmtMs), { detail: `${CLIENTS} upgrades, 100 at a time, each round` });
		g.note(`${ROUNDS} rounds (BENCH_ROUNDS), each with ${fmtInt(CLIENTS)} new clients; measured = the median of the rounds' p99 (their range). Clock: performance.now() in the client process; start = the POST /insert response fully read, end = the client's "message" event whose payload contains the new review (a Buffer search, no JSON parse). Receipts that came before the response count as 0.`);
		g.note(`The ${fmtInt(CLIENTS)} clients run in one Node process on the same 2 cores as node-server, db-service and PostgreSQL, so their own event-loop time is part of the figure; per-insert max, round by round: ${rounds.map((x) => x.perInsertMax.map((m) => fmtMs(m)).join(', ')).join('; ')}.`);
		g.note(`Each insert makes node-server reload the newest reviews (REVIEWS_LIMIT=100) from db-service and send that whole array to every client: ${fmtInt(rounds[0].bytes)} bytes per message here.`);
	} catch (e) {
		g.skip('fan-out', `failed: ${e.message}`, target);
	}
}
