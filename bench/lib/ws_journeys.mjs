// ws_journeys.mjs: WebSocket fan-out with journeys on (docs/journey.md). CLIENTS sockets on
// node-server's /comments; for LOAD_SECONDS, RATE reviews per second get a journey: for each,
// one client follows its id ({"follow": [id]}) and two file-sink records are posted to
// POST /journey the way file-sink's sender batches them (attempt 1 "error simulated", then
// attempt 2 "saved" one tick later; one POST per TICK_MS with every record due). Measured:
//   - the reviews array's fan-out (an insert through POST /insert → every client has the new
//     review), as bench/lib/ws.mjs measures it, while the journey load runs;
//   - each journey's "saved" frame at its follower: from the POST /journey response to the
//     follower's message.
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { fmtMs, fmtInt, percentile, sleep } from './util.mjs';
import { insertAndWait, fanoutGroup } from './ws.mjs';
import { ROUNDS, median, fmtSpread } from './rounds.mjs';

const CLIENTS = 1000;
const RATE = 500;
const LOAD_SECONDS = 10;
const TICK_MS = 20;
const INSERTS = 10;
const TARGET_P99_MS = 100;
const PREFIX = '{"journey":{"id":"';

function connect(url, journeys) {
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(url, { perMessageDeflate: false });
		const c = { ws, marker: null, seenAt: null, messages: 0 };
		ws.on('message', (data) => {
			c.messages++;
			if (data.length > PREFIX.length && data.toString('latin1', 0, PREFIX.length) === PREFIX) {
				if (!data.includes('"outcome":"saved"')) return;
				const end = data.indexOf('"', PREFIX.length);
				const j = journeys.get(data.toString('utf8', PREFIX.length, end));
				if (j && j.seenAt === null) j.seenAt = performance.now();
				return;
			}
			if (c.marker && c.seenAt === null && data.includes(c.marker)) c.seenAt = performance.now();
		});
		ws.once('open', () => resolve(c));
		ws.once('error', reject);
	});
}

const record = (id, attempt, outcome, code) => ({
	id, source: 'file-sink', kind: 'attempt', time: Date.now(), attempt, outcome, code,
	policy: 'FAILURE_RATE=0.5', counters: { saved: 1, error_simulated: 1, duplicate: 0, rejected: 0, redeliveries: 1 },
});

/** The journey load: RATE reviews/s for LOAD_SECONDS; resolves when the last POST answered. */
async function journeyLoad(nodeUrl, clients, journeys, run, stats) {
	const t0 = performance.now();
	const total = RATE * LOAD_SECONDS;
	const perTick = (RATE * TICK_MS) / 1000;
	let next = 0;
	let second = []; // ids whose "saved" record goes in the next tick
	const posts = [];
	for (let tick = 0; next < total || second.length; tick++) {
		const due = t0 + tick * TICK_MS;
		if (due > performance.now()) await sleep(due - performance.now());
		const records = second.map((id) => record(id, 2, 'saved', 200));
		const saved = second;
		second = [];
		for (let i = 0; i < perTick && next < total; i++, next++) {
			const id = `bench-journey-${run}-${next}`;
			const c = clients[next % clients.length];
			journeys.set(id, { sentAt: null, seenAt: null });
			c.ws.send(JSON.stringify({ follow: [id] }));
			records.push(record(id, 1, 'error simulated', 500));
			second.push(id);
		}
		stats.records += records.length;
		posts.push(fetch(`${nodeUrl}/journey`, {
			method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records }),
		}).then(async (res) => {
			await res.arrayBuffer();
			const at = performance.now();
			if (res.status !== 202) stats.refused++;
			for (const id of saved) journeys.get(id).sentAt = at;
		}));
	}
	await Promise.all(posts);
	stats.seconds = (performance.now() - t0) / 1000;
}

/** The reviews array's fan-out, INSERTS times, as bench/lib/ws.mjs measures it. */
async function snapshotFanout(nodeUrl, clients, run) {
	const lat = [];
	let missed = 0;
	for (let i = 0; i < INSERTS; i++) {
		const r = await insertAndWait(nodeUrl, clients, `fanout-journeys-${run}-${i}`);
		missed += r.missed;
		lat.push(...r.lat);
		await sleep(500);
	}
	return { lat, missed };
}

async function dropped(nodeUrl) {
	const text = await (await fetch(`${nodeUrl}/metrics`)).text();
	const sum = (re) => [...text.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0);
	return {
		topic: sum(/^ws_topic_frames_dropped_total\{[^}]*\} (\S+)$/gm),
		clients: sum(/^ws_clients_dropped_total\{[^}]*\} (\S+)$/gm),
	};
}

/** One round: CLIENTS new clients, the journey load, and the snapshot fan-out beside it. */
async function journeysRound(nodeUrl, url, round) {
	const journeys = new Map();
	const clients = [];
	try {
		for (let i = 0; i < CLIENTS; i += 100)
			clients.push(...await Promise.all(Array.from({ length: Math.min(100, CLIENTS - i) }, () => connect(url, journeys))));
		const deadline = Date.now() + 10000;
		while (clients.some((c) => c.messages === 0) && Date.now() < deadline) await sleep(10);
		const before = await dropped(nodeUrl);
		const run = `${Date.now()}-${round}`;
		const stats = { records: 0, refused: 0, seconds: 0 };
		const load = journeyLoad(nodeUrl, clients, journeys, run, stats);
		await sleep(1000); // the journey load is under way
		const snap = await snapshotFanout(nodeUrl, clients, run);
		await load;
		const waitEnd = Date.now() + 5000;
		while ([...journeys.values()].some((j) => j.seenAt === null) && Date.now() < waitEnd) await sleep(10);
		const after = await dropped(nodeUrl);
		const jl = [];
		let missing = 0;
		for (const j of journeys.values()) {
			if (j.seenAt === null || j.sentAt === null) missing++;
			else jl.push(Math.max(0, j.seenAt - j.sentAt));
		}
		return {
			snap, jl, missing, stats, offered: journeys.size / stats.seconds,
			topicDrops: after.topic - before.topic, clientDrops: after.clients - before.clients,
		};
	} finally {
		for (const c of clients) c.ws.terminate();
	}
}

export async function benchWsJourneys(ctx) {
	const fg = fanoutGroup(ctx, `WebSocket fan-out with journeys on: ${fmtInt(CLIENTS)} clients, ${RATE} reviews/s`);
	if (!fg) return;
	const { g, target } = fg;
	try {
		const rs = [];
		for (let r = 0; r < ROUNDS; r++) rs.push(await journeysRound(fg.nodeUrl, fg.url, r));
		const sum = (f) => rs.reduce((a, x) => a + f(x), 0);
		const snapP99 = rs.map((x) => percentile(x.snap.lat, 99));
		const snapMissed = sum((x) => x.snap.missed);
		g.row('insert → every client has the array, journeys on', `p99 ${fmtSpread(snapP99, fmtMs)}`, {
			target, ratio: median(snapP99) / TARGET_P99_MS,
			detail: `p50 ${fmtMs(median(rs.map((x) => percentile(x.snap.lat, 50))))}, max ${fmtMs(Math.max(...rs.flatMap((x) => x.snap.lat)))}; ${ROUNDS} rounds of ${INSERTS} inserts × ${fmtInt(CLIENTS)} clients${snapMissed ? `; ${snapMissed} missing after 10 s` : ''}`,
		});
		const jP99 = rs.map((x) => percentile(x.jl, 99));
		g.row('journey record → its follower has the frame', `p99 ${fmtSpread(jP99, fmtMs)}`, {
			target, ratio: median(jP99) / TARGET_P99_MS,
			detail: `p50 ${fmtMs(median(rs.map((x) => percentile(x.jl, 50))))}, max ${fmtMs(Math.max(...rs.flatMap((x) => x.jl)))} over ${fmtInt(sum((x) => x.jl.length))} journeys; ${sum((x) => x.missing)} without their "saved" frame after 5 s`,
		});
		const offered = rs.map((x) => x.offered);
		g.row('journey load offered', fmtSpread(offered, fmtInt, 'reviews/s'), {
			detail: `${fmtInt(sum((x) => x.stats.records))} records in ${fmtInt(sum((x) => x.stats.seconds) * 1000 / TICK_MS)} POST /journey batches over ${ROUNDS} rounds of ${LOAD_SECONDS} s; ${sum((x) => x.stats.refused)} refused; frames dropped: ${sum((x) => x.topicDrops)} journey frames, ${sum((x) => x.clientDrops)} clients`,
		});
		g.note(`${ROUNDS} rounds (BENCH_ROUNDS), each with ${fmtInt(CLIENTS)} new clients and its own ${LOAD_SECONDS} s journey load; measured = the median of the rounds' p99 (their range). Each review: one client follows its id, then two records (attempt 1 "error simulated", attempt 2 "saved" ${TICK_MS} ms later) are posted in the batch of their tick, as file-sink's sender batches them; every client follows ${fmtInt(RATE * LOAD_SECONDS / CLIENTS)} reviews in turn. The ${fmtInt(CLIENTS)} clients, the load and the inserts run in one Node process on the same 2 cores as node-server, db-service and PostgreSQL.`);
		g.note('Clock: performance.now() in the client process; a journey\'s latency starts at its "saved" record\'s POST /journey response and ends at its follower\'s message holding "outcome":"saved" (a frame that came before the response counts as 0).');
	} catch (e) {
		g.skip('fan-out with journeys', `failed: ${e.message}`, target);
	}
}
