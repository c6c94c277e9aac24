// delivery.mjs: the local broker. End to end (POST /add → file-sink's "saved" line, wired as
// scripts/run.sh wires `make run`), broker ingress alone (wrk), and the latency the broker adds
// at 1,000 events/s (a paced Node sender, subscribers = sink202 logging receipt times). The
// ingress and added-latency rows run twice, side by side: BROKER_DURABILITY=wal (the default:
// 202 after the write-ahead log's group-commit sync) and memory (no log, Knative's in-memory
// channel's guarantee).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startService, stopAll, MANIFESTS, brokerServices, oneHopManifests, startTopology, INGRESS_PATH } from './services.mjs';
import { startSink } from './sink.mjs';
import { sampleRss, vmRssKiB } from './rss.mjs';
import { recordLoad } from './bookstore.mjs';
import { wrk } from './wrk.mjs';
import { SECONDS, buildDir, tempDir, sleep, percentile, fmtInt, fmtMs } from './util.mjs';
import { ROUNDS, median, fmtSpread } from './rounds.mjs';

const E2E_TARGET = 3000;
const ADDED_P99_TARGET_MS = 5;
const RATE = 1000;
const E2E_PACED_RATE = 1000;
const PACED_SECONDS = 5;
const MODES = ['wal', 'memory'];

export function brokerSkipReason() {
	const bin = path.join(buildDir, 'local-broker');
	return fs.existsSync(bin) ? false : `${bin} is not built (services/local-broker is unfinished)`;
}

async function startBroker(dir, services, env = {}, port, manifests = MANIFESTS) {
	return startService('local-broker', {
		DATA_DIR: dir, BROKER_MANIFESTS: manifests, BROKER_SERVICES: brokerServices(services), ...env,
	}, { readyPath: '/healthz', port });
}

// The ingress and added-latency runs measure one broker hop: the two Triggers of the topology
// before the Sequence, each delivering every event to sink202. (With k8s/base/eventing one of
// the two deliveries would go through the Sequence's channel, a second hop: its own row below.)
let oneHop;
const oneHopDir = () => (oneHop ||= oneHopManifests());

function countSaved(file) {
	if (!fs.existsSync(file)) return 0;
	return (fs.readFileSync(file, 'utf8').match(/"outcome":\s*"saved"/g) || []).length;
}

async function waitFor(pred, timeoutMs) {
	const deadline = Date.now() + timeoutMs;
	while (!pred() && Date.now() < deadline) await sleep(100);
}

async function waitDrained(file, expected, timeoutMs = 60000) {
	const deadline = Date.now() + timeoutMs;
	let last = -1;
	let stableSince = Date.now();
	for (;;) {
		const n = countSaved(file);
		if (n >= expected) return n;
		if (n !== last) {
			last = n;
			stableSince = Date.now();
		}
		if (Date.now() - stableSince > 5000 || Date.now() > deadline) return n;
		await sleep(200);
	}
}

function e2eResults(file, offset = 0) {
	const lat = [];
	let first = Infinity;
	let lastSaved = -Infinity;
	for (const line of fs.readFileSync(file).subarray(offset).toString('utf8').split('\n')) {
		if (!line) continue;
		const rec = JSON.parse(line);
		if (rec.outcome !== 'saved') continue;
		let data = rec.event?.data;
		if (typeof data === 'string') data = JSON.parse(data);
		const sent = Number(data?.benchSentMs);
		const at = Date.parse(rec.time);
		if (!Number.isFinite(sent) || !Number.isFinite(at)) continue;
		lat.push(at - sent);
		first = Math.min(first, sent);
		lastSaved = Math.max(lastSaved, at);
	}
	return { lat, n: lat.length, perSec: lat.length / ((lastSaved - first) / 1000) };
}

/** One end-to-end run (a fresh topology) with BROKER_DURABILITY=mode: saturated, then paced. */
async function e2eRun(ctx, mode) {
	const s = await startTopology(ctx, { tag: `e2e-${mode}`, brokerEnv: { BROKER_DURABILITY: mode } });
	const dir = s.dir;
	try {
		const pids = {
			'node-server': s.node.pid, 'db-service': s.db.pid, 'file-sink': s.fs.pid,
			'dead-letter-logger': s.dll.pid, 'local-broker': s.broker.pid,
		};
		for (const name of ['file-sink', 'dead-letter-logger', 'local-broker'])
			(ctx.rss[name] ||= {}).idle ??= vmRssKiB(pids[name]);
		const sampler = sampleRss(pids);
		let r;
		const log = path.join(dir, 'file-sink/events.log');
		try {
			r = await wrk({ url: `${s.node.url}/add`, script: 'e2e.lua', connections: 32, seconds: SECONDS });
			await waitDrained(log, r.requests - r.non2xx);
		} finally {
			recordLoad(ctx, sampler.stop());
		}
		const e = e2eResults(log);
		// The same path below saturation: paced sends, for a latency without queueing.
		const offset = fs.statSync(log).size;
		const nowMs = () => performance.timeOrigin + performance.now();
		const p = await paced(`${s.node.url}/add`, 'e2e', E2E_PACED_RATE, PACED_SECONDS,
			() => JSON.stringify({ reviewText: 'A paced end-to-end review.', benchSentMs: nowMs() }),
			{ 'ce-source': 'commentForm' });
		await waitFor(() => e2eResults(log, offset).n >= p.sent.size - p.failed, 10000);
		const q = e2eResults(log, offset);
		const dead = fs.existsSync(path.join(dir, 'dead-letter-logger/events.log'))
			? fs.readFileSync(path.join(dir, 'dead-letter-logger/events.log'), 'utf8').split('\n').filter(Boolean).length : 0;
		return { e, r, q, p, dead };
	} finally {
		await s.stop();
	}
}

async function benchE2e(ctx, g) {
	const target = `≥ ${fmtInt(E2E_TARGET)} reviews/s`;
	const runs = Object.fromEntries(MODES.map((m) => [m, []]));
	const failed = {};
	for (let round = 0; round < ROUNDS; round++) {
		for (const mode of round % 2 ? [...MODES].reverse() : MODES) {
			try {
				runs[mode].push(await e2eRun(ctx, mode));
			} catch (err) {
				failed[mode] = err.message.split('\n')[0];
			}
		}
	}
	for (const mode of MODES) {
		const rs = runs[mode];
		if (!rs.length) {
			g.skip(`end to end, BROKER_DURABILITY=${mode}`, `failed: ${failed[mode]}`, target);
			continue;
		}
		const rate = rs.map((x) => x.e.perSec);
		const sum = (f) => rs.reduce((a, x) => a + f(x), 0);
		g.row(`end to end, BROKER_DURABILITY=${mode}: POST /add → "saved" in events.log`, fmtSpread(rate, fmtInt, 'reviews/s'), {
			target, ratio: median(rate) / E2E_TARGET,
			detail: `latency p50 ${fmtMs(median(rs.map((x) => percentile(x.e.lat, 50))))}, p99 ${fmtMs(median(rs.map((x) => percentile(x.e.lat, 99))))}; ` +
				`/add ${fmtInt(median(rs.map((x) => x.r.okPerSec)))} req/s 2xx, ${fmtInt(sum((x) => x.r.non2xx))} non-2xx (503 + Retry-After: the broker queue was full), ${sum((x) => x.r.errors)} socket errors; ` +
				`${fmtInt(sum((x) => x.e.n))} saved of ${fmtInt(sum((x) => x.r.requests - x.r.non2xx))} accepted; ${sum((x) => x.dead)} dead letters`,
		});
		const p99 = rs.map((x) => percentile(x.q.lat, 99));
		g.row(`end to end at ${fmtInt(E2E_PACED_RATE)} reviews/s (paced), BROKER_DURABILITY=${mode}`, `p99 ${fmtSpread(p99, fmtMs)}`, {
			detail: `p50 ${fmtMs(median(rs.map((x) => percentile(x.q.lat, 50))))}, max ${fmtMs(Math.max(...rs.map((x) => Math.max(...x.q.lat))))}; ` +
				`${fmtInt(sum((x) => x.q.n))} saved of ${fmtInt(sum((x) => x.p.sent.size))} sent; ${sum((x) => x.p.retried)} sent again after a 503 + Retry-After, ${sum((x) => x.p.failed)} failed`,
		});
	}
	g.note(`End to end: scripts/run.sh's wiring on free ports and temp dirs (PostgreSQL, db-service, file-sink FAILURE_RATE=0 FSYNC=batch, dead-letter-logger, local-broker with k8s/base/eventing, node-server with K_SINK = the broker), LOG_LEVEL=warn; a fresh topology per run, ${ROUNDS} rounds with the two broker modes alternated, medians (min–max); wrk -c 32 for ${SECONDS} s with bench/lua/e2e.lua. Every review also goes through the moderation Sequence (bad-word-filter, sentiment-analysis, both started) and is stored through node-server /insert → db-service → PostgreSQL, whose reply event goes back into the broker.`);
	g.note(`Reviews/s = "saved" lines ÷ (last line's time − first send). Latency = the line's "time" (file-sink's clock, 1 ms resolution) − the send time wrk's Lua put into the event data (benchSentMs, CLOCK_REALTIME); the event data, not the /add answer's id, correlates them, which needs no per-request bookkeeping in wrk. wrk runs closed-loop at saturation, so that latency includes the broker's queue (up to BROKER_QUEUE_MAX=10000 deliveries; when full, the broker answers 503 and so does /add, with Retry-After: 1, counted as non-2xx: wrk does not retry); the paced row sends ${fmtInt(E2E_PACED_RATE)} /add per second for ${PACED_SECONDS} s (the Node sender below, which sends a review again after the Retry-After of a 503, as the page does) after the backlog has drained, and measures the same way with the sender's wall clock.`);
}

async function ingressRun(ctx, mode) {
	const dir = tempDir(`ingress-${mode}`);
	const sink = await startSink();
	let broker;
	try {
		broker = await startBroker(dir, { nodeServer: sink.url, fileSink: sink.url, deadLetter: sink.url },
			{ BROKER_SHUTDOWN_GRACE: 'PT0S', BROKER_DURABILITY: mode }, undefined, oneHopDir());
		const sampler = sampleRss({ 'local-broker': broker.pid });
		try {
			return await wrk({ url: `${broker.url}${INGRESS_PATH}`, script: 'broker.lua', connections: 64, seconds: SECONDS, args: [`ing${mode}${Date.now()}`] });
		} finally {
			recordLoad(ctx, sampler.stop());
		}
	} finally {
		await stopAll(broker);
		await sink.stop();
	}
}

/** Runs fn(mode) ROUNDS times per mode, the modes alternated; { mode: [results] }, errors. */
async function modeRounds(fn) {
	const runs = Object.fromEntries(MODES.map((m) => [m, []]));
	const failed = {};
	for (let round = 0; round < ROUNDS; round++) {
		for (const mode of round % 2 ? [...MODES].reverse() : MODES) {
			try {
				runs[mode].push(await fn(mode));
			} catch (err) {
				failed[mode] = err.message.split('\n')[0];
			}
		}
	}
	return { runs, failed };
}

async function benchIngress(ctx, g) {
	const { runs, failed } = await modeRounds((mode) => ingressRun(ctx, mode));
	for (const mode of MODES) {
		const rs = runs[mode];
		const name = `broker ingress alone, BROKER_DURABILITY=${mode}`;
		if (!rs.length) {
			g.skip(name, `failed: ${failed[mode]}`);
			continue;
		}
		const ok = rs.map((x) => x.okPerSec);
		g.row(`${name} (2xx only)`, fmtSpread(ok, fmtInt, 'req/s'), {
			detail: `p50 ${fmtMs(median(rs.map((x) => x.p50Ms)))}, p99 ${fmtMs(median(rs.map((x) => x.p99Ms)))}; ` +
				`${fmtInt(rs.reduce((a, x) => a + x.requests, 0))} requests, ${fmtInt(rs.reduce((a, x) => a + x.non2xx, 0))} non-2xx (503: queue full, BROKER_QUEUE_MAX=10000)`,
		});
	}
	g.note(`Ingress: wrk -c 64 for ${SECONDS} s, bench/lua/broker.lua (binary new-review-comment, a distinct ce-id each); the two Triggers of the topology before the Sequence (one hop each), both subscribers one sink202 answering 202 at once; deliveries run concurrently with the ingress load; a fresh broker per run, ${ROUNDS} rounds with the modes alternated. wal: each 202 waits for the write-ahead log's sync (BROKER_FSYNC=batch, group commit: one fdatasync serves every request waiting at that moment); memory: no log.`);
}

/**
 * Sends rate events/s for seconds (1 ms timer ticks); returns { sent: Map id → send time (ns,
 * process.hrtime), failed, retried }. makeBody(id) gives the body (default: a fixed review).
 * A 503 with Retry-After is sent again after that wait (at most 3 attempts, as the page does);
 * failed counts the requests whose last answer was not 2xx.
 */
async function paced(url, prefix, rate, seconds, makeBody = null, extraHeaders = {}) {
	const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
	const sent = new Map();
	const total = rate * seconds;
	const fixed = JSON.stringify({ reviewText: 'A paced benchmark review.' });
	let pending = 0;
	let failed = 0;
	let retried = 0;
	const post = (id, body, attempt) => {
		pending++;
		const req = http.request(url, {
			method: 'POST', agent,
			headers: {
				'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
				'ce-specversion': '1.0', 'ce-type': 'new-review-comment', 'ce-source': 'bench', 'ce-id': id, ...extraHeaders,
			},
		}, (res) => {
			const wait = Number(res.headers['retry-after']);
			res.resume();
			res.on('end', () => {
				if (res.statusCode === 503 && Number.isFinite(wait) && attempt < 3) {
					retried++;
					setTimeout(() => post(id, body, attempt + 1), Math.max(1, Math.min(10, wait)) * 1000);
				} else if (res.statusCode >= 300) {
					failed++;
				}
				pending--;
			});
		});
		req.on('error', () => { failed++; pending--; });
		req.end(body);
	};
	const send = (i) => {
		const id = `${prefix}-${i}`;
		sent.set(id, process.hrtime.bigint());
		post(id, makeBody ? makeBody(id) : fixed, 1);
	};
	const start = process.hrtime.bigint();
	let i = 0;
	while (i < total) {
		const due = Math.min(total, Number(((process.hrtime.bigint() - start) * BigInt(rate)) / 1000000000n) + 1);
		while (i < due) send(i++);
		await sleep(1);
	}
	const deadline = Date.now() + 40000; // room for two Retry-After waits
	while (pending > 0 && Date.now() < deadline) await sleep(5);
	agent.destroy();
	return { sent, failed, retried };
}

function latencies(sink, sent) {
	const out = [];
	for (const r of sink.records()) {
		const t0 = sent.get(r.id);
		if (t0 !== undefined) out.push(Number(r.tNs - t0) / 1e6);
	}
	return out;
}

async function addedRun(ctx, mode, manifests = oneHopDir()) {
	const dir = tempDir(`latency-${mode}`);
	const sink = await startSink({ log: path.join(dir, 'sink.log') });
	let broker;
	try {
		broker = await startBroker(path.join(dir, 'broker'), { nodeServer: sink.url, fileSink: sink.url, deadLetter: sink.url },
			{ BROKER_SHUTDOWN_GRACE: 'PT0S', BROKER_DURABILITY: mode }, undefined, manifests);
		await paced(`${sink.url}/warmup`, 'warm', RATE, 1);
		const viaBroker = await paced(`${broker.url}${INGRESS_PATH}`, `broker-${mode}`, RATE, PACED_SECONDS);
		await sleep(500); // the last deliveries
		const direct = await paced(`${sink.url}/direct`, `direct-${mode}`, RATE, PACED_SECONDS);
		const b = latencies(sink, viaBroker.sent);
		const d = latencies(sink, direct.sent);
		return {
			b, d, events: viaBroker.sent.size, failed: viaBroker.failed + direct.failed,
			added: (q) => percentile(b, q) - percentile(d, q),
		};
	} finally {
		await stopAll(broker);
		await sink.stop();
	}
}

async function benchAdded(ctx, g) {
	const target = `p99 ≤ ${ADDED_P99_TARGET_MS} ms`;
	const { runs, failed } = await modeRounds((mode) => addedRun(ctx, mode));
	for (const mode of MODES) {
		const rs = runs[mode];
		const label = `broker-added latency at ${fmtInt(RATE)} events/s, BROKER_DURABILITY=${mode}`;
		if (!rs.length) {
			g.skip(label, `failed: ${failed[mode]}`, target);
			continue;
		}
		const p99 = rs.map((x) => x.added(99));
		g.row(label, `p99 ${fmtSpread(p99, fmtMs)}`, {
			target: `${target} in every run`, ratio: Math.max(...p99) / ADDED_P99_TARGET_MS,
			detail: `worst run ${fmtMs(Math.max(...p99))}; p50 ${fmtMs(median(rs.map((x) => x.added(50))))}; via broker p99 ${fmtMs(median(rs.map((x) => percentile(x.b, 99))))}, ` +
				`direct p99 ${fmtMs(median(rs.map((x) => percentile(x.d, 99))))}; ${fmtInt(rs.reduce((a, x) => a + x.b.length, 0))} deliveries of ${fmtInt(rs.reduce((a, x) => a + x.events, 0))} events` +
				`${rs.some((x) => x.failed) ? `; ${rs.reduce((a, x) => a + x.failed, 0)} sends failed` : ''}`,
		});
	}
	// The same through k8s/base/eventing: one delivery per event is sink202 as file-sink, the other
	// goes sequence-trigger → the Sequence's channel (a second ingest) → its first step (sink202,
	// which answers 202 with no event and so ends the flow). Reported, no target: two hops.
	const seq = [];
	for (let round = 0; round < ROUNDS; round++) {
		try {
			seq.push(await addedRun(ctx, 'wal', MANIFESTS));
		} catch (err) {
			g.skip('broker-added latency through the Sequence', `failed: ${err.message.split('\n')[0]}`);
			break;
		}
	}
	if (seq.length) {
		const p99 = seq.map((x) => x.added(99));
		g.row(`broker-added latency at ${fmtInt(RATE)} events/s, k8s/base/eventing (one delivery through the Sequence's channel), BROKER_DURABILITY=wal`,
			`p99 ${fmtSpread(p99, fmtMs)}`, {
				detail: `p50 ${fmtMs(median(seq.map((x) => x.added(50))))}; ${fmtInt(seq.reduce((a, x) => a + x.b.length, 0))} deliveries of ${fmtInt(seq.reduce((a, x) => a + x.events, 0))} events`,
			});
	}
	g.note(`Added latency: a Node sender paced in 1 ms timer ticks (${fmtInt(RATE)} events/s for ${PACED_SECONDS} s, keep-alive) POSTs binary events to the broker, whose two Triggers (the topology before the Sequence: one broker hop per delivery) deliver each to sink202 (so 2 deliveries per event); sink202 logs CLOCK_MONOTONIC at full receipt, the sender notes process.hrtime (the same clock) before sending. Then the same sender posts straight to sink202 (the direct path). Added p50/p99 = via-broker percentile − direct percentile, per run; ${ROUNDS} runs per mode, alternated; measured = median (min–max), ratio = the worst run ÷ the target. A delivery may start before its event's log sync completes (the 202 waits for it, the delivery need not), so with wal the added latency is mostly the ingress's own work. The k8s/base/eventing row runs the same with the Sequence's manifests (${ROUNDS} runs, wal): one of the two deliveries of each event then passes the broker twice (sequence-trigger, then the Sequence's channel to its first step, sink202 again).`);
}

export async function benchDelivery(ctx) {
	const g = ctx.report.group('Delivery: the local broker');
	const why = brokerSkipReason();
	if (why) {
		g.skip('end to end', why, `≥ ${fmtInt(E2E_TARGET)} reviews/s`);
		g.skip('broker ingress alone', why);
		g.skip('broker-added latency', why, `p99 ≤ ${ADDED_P99_TARGET_MS} ms`);
		return;
	}
	await benchE2e(ctx, g);
	await benchIngress(ctx, g);
	await benchAdded(ctx, g);
}
