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
import { SECONDS, buildDir, fmtInt, fmtMs } from './util.mjs';

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
		const off = await addRate(ctx, { OTEL_SDK_DISABLED: 'true' });
		// The non-decoding run goes first: the Node receiver may still be decoding the
		// backlog of its own run for a while, on the same 2 cores.
		const toSink = await addRate(ctx, on(sink.url));
		const toRx = await addRate(ctx, on(rx.url));
		g.row('POST /add, tracing off', `${fmtInt(off.okPerSec)} req/s`, { detail: `p50 ${fmtMs(off.p50Ms)}, p99 ${fmtMs(off.p99Ms)}` });
		g.row('POST /add, 100% sampled, to the test receiver (decodes)', `${fmtInt(toRx.okPerSec)} req/s`, {
			target: '≥ 90% of off', ratio: toRx.okPerSec / off.okPerSec / 0.9,
			detail: `p50 ${fmtMs(toRx.p50Ms)}, p99 ${fmtMs(toRx.p99Ms)}; ${(toRx.okPerSec / off.okPerSec).toFixed(2)}× of tracing off; the receiver decoded ${fmtInt(rx.spans().length)} spans`,
		});
		g.row('POST /add, 100% sampled, to sink202 (no decoding)', `${fmtInt(toSink.okPerSec)} req/s`, {
			target: '≥ 90% of off', ratio: toSink.okPerSec / off.okPerSec / 0.9,
			detail: `p50 ${fmtMs(toSink.p50Ms)}, p99 ${fmtMs(toSink.p99Ms)}; ${(toSink.okPerSec / off.okPerSec).toFixed(2)}× of tracing off`,
		});
		g.note(`Each run: a fresh db-service + node-server (K_SINK = sink202), wrk -c 64 for ${SECONDS} s with bench/lua/add.lua. On: OTEL_TRACES_SAMPLER=always_on, OTEL_METRICS_EXPORTER=none, OTEL_EXPORTER_OTLP_ENDPOINT = the tests' OTLP receiver (tests/integration/lib/otlp_receiver.mjs, Node, decodes every request), on the same 2 cores. Off: OTEL_SDK_DISABLED=true.`);
	} catch (err) {
		g.skip('POST /add, tracing on vs off', `failed: ${err.message.split('\n')[0]}`);
	} finally {
		await rx.stop();
		await sink.stop();
	}
}
