// tracing.mjs: node-server POST /add throughput with tracing at 100% sampling vs
// OTEL_SDK_DISABLED=true. Two "on" runs: exporting to the tests' OTLP receiver
// (tests/integration/lib/otlp_receiver.mjs, which decodes every request in Node on the same
// 2 cores), and to sink202 (C, answers at once without decoding), which isolates what the
// services' own tracing costs from what the receiver's decoding takes from the shared CPUs.
// Until the node-server binary contains the OTEL_* settings (the tracing library is linked and
// read at start), the row says "not yet instrumented".
import fs from 'node:fs';
import path from 'node:path';
import { startBookstore } from './bookstore.mjs';
import { wrk } from './wrk.mjs';
import { startSink } from './sink.mjs';
import { SECONDS, buildDir, fmtInt, fmtMs, sleep } from './util.mjs';
import { ROUNDS, alternate, fmtRate } from './rounds.mjs';

export function instrumented() {
	const bin = path.join(buildDir, 'node-server');
	return fs.existsSync(bin) && fs.readFileSync(bin).includes('OTEL_EXPORTER_OTLP_ENDPOINT');
}

async function addRate(ctx, env) {
	const st = await startBookstore(ctx, env);
	try {
		return await wrk({ url: `${st.node.url}/add`, script: 'add.lua', connections: 64, seconds: SECONDS });
	} finally {
		await st.stop();
	}
}

export async function benchTracing(ctx) {
	const g = ctx.report.group('Tracing: node-server POST /add, tracing on vs off');
	if (!instrumented()) {
		g.row('POST /add, 100% sampled vs OTEL_SDK_DISABLED=true', 'not yet instrumented', {
			detail: 'the node-server binary does not read OTEL_EXPORTER_OTLP_ENDPOINT yet',
		});
		return;
	}
	const { startReceiver } = await import('../../tests/integration/lib/otlp_receiver.mjs');
	const rx = await startReceiver();
	const sink = await startSink();
	const on = (url) => ({
		OTEL_SERVICE_NAME: 'node-server', OTEL_EXPORTER_OTLP_ENDPOINT: url,
		OTEL_TRACES_SAMPLER: 'always_on', OTEL_TRACES_EXPORTER: 'otlp', OTEL_METRICS_EXPORTER: 'none',
	});
	try {
		// The Node receiver may go on decoding the backlog of its run for a while, on the same
		// 2 cores: the next run starts only once its span count has stood still for 500 ms.
		const settled = async () => {
			const deadline = Date.now() + 30000;
			for (let last = -1; Date.now() < deadline; await sleep(500)) {
				const n = rx.spans().length;
				if (n === last) return;
				last = n;
			}
		};
		const res = await alternate([
			{ key: 'off', run: () => addRate(ctx, { OTEL_SDK_DISABLED: 'true' }) },
			{ key: 'sink', run: () => addRate(ctx, on(sink.url)) },
			{ key: 'rx', run: async () => { const r = await addRate(ctx, on(rx.url)); await settled(); return r; } },
		], ROUNDS);
		const off = res.get('off');
		for (const k of ['off', 'sink', 'rx']) if (res.get(k).error) throw new Error(`${k}: ${res.get(k).error}`);
		// The ratio of each round's on run to the same round's off run, then their median.
		const perRound = (k) => res.get(k).runs.map((r, i) => r.okPerSec / off.runs[i].okPerSec).sort((a, b) => a - b);
		const ratioText = (k) => {
			const r = perRound(k);
			return `${(res.get(k).ok.med / off.ok.med).toFixed(2)}× of tracing off (per round ${r.map((x) => x.toFixed(2)).join(', ')})`;
		};
		const lat = (k) => `p50 ${fmtMs(res.get(k).p50.med)}, p99 ${fmtMs(res.get(k).p99.med)}`;
		g.row('POST /add, tracing off', fmtRate(off), { detail: lat('off') });
		g.row('POST /add, 100% sampled, to the test receiver (decodes)', fmtRate(res.get('rx')), {
			target: '≥ 90% of off', ratio: res.get('rx').ok.med / off.ok.med / 0.9,
			detail: `${lat('rx')}; ${ratioText('rx')}; the receiver decoded ${fmtInt(rx.spans().length)} spans`,
		});
		g.row('POST /add, 100% sampled, to sink202 (no decoding)', fmtRate(res.get('sink')), {
			target: '≥ 90% of off', ratio: res.get('sink').ok.med / off.ok.med / 0.9,
			detail: `${lat('sink')}; ${ratioText('sink')}`,
		});
		g.note(`Each run: a fresh db-service + node-server (K_SINK = sink202), wrk -c 64 for ${SECONDS} s with bench/lua/add.lua; ${ROUNDS} rounds of the three cases, alternated (each round reverses the order of the one before), medians (min–max); the ratio is median on ÷ median off, with each round's own on ÷ off beside it. On: OTEL_TRACES_SAMPLER=always_on, OTEL_METRICS_EXPORTER=none, OTEL_EXPORTER_OTLP_ENDPOINT = the tests' OTLP receiver (tests/integration/lib/otlp_receiver.mjs, Node, decodes every request) or sink202, on the same 2 cores. Off: OTEL_SDK_DISABLED=true.`);
	} catch (err) {
		g.skip('POST /add, tracing on vs off', `failed: ${err.message.split('\n')[0]}`);
	} finally {
		await rx.stop();
		await sink.stop();
	}
}
