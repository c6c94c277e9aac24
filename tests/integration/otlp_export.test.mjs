// OTLP/HTTP protobuf export (common/src/otlp.c) through tests/tools/otlp_demo, received and
// decoded by lib/otlp_receiver.mjs with the OpenTelemetry project's own generated definitions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { binPath, waitFor, assertClean, startServer } from './lib/proc.mjs';
import { startReceiver, attrs } from './lib/otlp_receiver.mjs';
import { rawRequest } from './lib/rawhttp.mjs';

const demo = () => binPath('tests/tools/otlp_demo');

// Runs the demo; resolves { code, signal, stdout, stderr, lines, proc } on exit. For `loop`
// the caller gets the live object (run.lines fills as it goes; run.done is the exit promise).
function runDemo(args, env) {
	const proc = spawn(demo(), args, {
		env: {
			...process.env,
			ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
			OTEL_BSP_SCHEDULE_DELAY: '100',
			...env,
		},
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	const run = { proc, stdout: '', stderr: '', lines: [] };
	let partial = '';
	proc.stdout.on('data', (d) => {
		run.stdout += d;
		partial += d;
		let i;
		while ((i = partial.indexOf('\n')) >= 0) {
			run.lines.push(JSON.parse(partial.slice(0, i)));
			partial = partial.slice(i + 1);
		}
	});
	proc.stderr.on('data', (d) => { run.stderr += d; });
	run.done = new Promise((resolve) => proc.on('close', (code, signal) => resolve({ ...run, code, signal })));
	return run;
}

async function exitOf(run, timeoutMs = 30000) {
	let timer;
	const t = new Promise((_, rej) => { timer = setTimeout(() => { run.proc.kill('SIGKILL'); rej(new Error(`demo did not exit in ${timeoutMs} ms:\n${run.stderr}`)); }, timeoutMs); });
	const r = await Promise.race([run.done, t]);
	clearTimeout(timer);
	return r;
}

const hex = (b) => Buffer.from(b).toString('hex');

function rssKb(pid) {
	const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
	return Number(m[1]);
}

test('spans and metrics arrive and decode with the official OTLP definitions', async () => {
	const rx = await startReceiver();
	try {
		const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
		const r = await exitOf(runDemo(['burst', '3'], {
			OTEL_EXPORTER_OTLP_ENDPOINT: rx.url + '/',
			OTEL_METRICS_EXPORTER: 'otlp',
			OTEL_SERVICE_NAME: 'demo-svc',
			OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,team=a%2Cb',
			OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=s3cr%20t',
			DEMO_TRACEPARENT: parent,
		}));
		assert.equal(r.code, 0, r.stderr);
		assertClean(r.stderr);
		for (const req of rx.requests) {
			assert.equal(req.headers['content-type'], 'application/x-protobuf');
			assert.equal(req.headers['x-api-key'], 's3cr t');
			assert.equal(req.error, undefined, `decode error: ${req.error}`);
		}
		const spans = rx.spans();
		assert.equal(spans.length, 6);
		const servers = spans.filter((s) => s.kind === 2);
		const clients = spans.filter((s) => s.kind === 3);
		assert.equal(servers.length, 3);
		assert.equal(clients.length, 3);
		for (const s of servers) {
			assert.equal(s.name, 'GET /books/{id}');
			assert.equal(s.traceId.length, 16);
			assert.equal(s.spanId.length, 8);
			assert.equal(hex(s.traceId), '4bf92f3577b34da6a3ce929d0e0e4736');
			assert.equal(hex(s.parentSpanId), '00f067aa0ba902b7');
			// Span.flags (field 16, with the is_remote bits) is newer than the definitions in
			// otlp-transformer 0.57.2, which skip it as an unknown field: test_otlp.c checks it.
			assert.equal(s.status.code, 1);
			assert.equal(s.attrs['http.route'], '/books/{id}');
			assert.equal(String(s.attrs['http.response.status_code']), '200');
			assert.equal(s.resource['service.name'], 'demo-svc');
			assert.equal(s.resource['deployment.environment.name'], 'test');
			assert.equal(s.resource.team, 'a,b');
			assert.equal(s.resource['telemetry.sdk.language'], 'c');
			assert.ok(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano));
		}
		for (const c of clients) {
			const srv = servers.find((s) => hex(s.spanId) === hex(c.parentSpanId));
			assert.ok(srv, 'client span parented by a server span');
			assert.equal(c.name, 'SELECT books');
			assert.equal(c.status.code, 2);
			assert.equal(c.status.message, 'boom');
			assert.equal(c.attrs['db.system.name'], 'postgresql');
			assert.equal(c.attrs['demo.ratio'], 0.25);
			assert.equal(c.attrs['demo.flag'], true);
			assert.equal(c.events.length, 1);
			assert.equal(c.events[0].name, 'retry');
			assert.equal(String(attrs(c.events[0].attributes).attempt), '2');
		}
		const metrics = rx.metrics();
		const byName = (n) => metrics.filter((m) => m.name === n).at(-1);
		const counter = byName('demo_requests_total');
		assert.ok(counter, `metrics: ${metrics.map((m) => m.name)}`);
		assert.equal(counter.data, 'sum');
		assert.equal(counter.sum.isMonotonic, true);
		assert.equal(counter.sum.aggregationTemporality, 2);
		const get = counter.sum.dataPoints.find((p) => attrs(p.attributes).method === 'GET');
		assert.equal(get.asDouble, 3);
		assert.ok(BigInt(get.startTimeUnixNano) > 0n && BigInt(get.timeUnixNano) >= BigInt(get.startTimeUnixNano));
		const gauge = byName('demo_queue_depth');
		assert.equal(gauge.data, 'gauge');
		assert.equal(gauge.gauge.dataPoints[0].asDouble, 7);
		const hist = byName('demo_duration_seconds');
		assert.equal(hist.data, 'histogram');
		assert.equal(hist.histogram.aggregationTemporality, 2);
		const hp = hist.histogram.dataPoints[0];
		assert.deepEqual(hp.explicitBounds, [0.1, 1]);
		assert.equal(hp.bucketCounts.length, hp.explicitBounds.length + 1);
		assert.deepEqual(hp.bucketCounts.map(Number), [1, 1, 1]);
		assert.equal(Number(hp.count), 3);
		assert.equal(hp.sum, 5.55);
		assert.equal(attrs(hp.attributes).route, '/books');
		assert.equal(counter.resource['service.name'], 'demo-svc');
	} finally {
		await rx.stop();
	}
});

test('a 503 with Retry-After is retried and then succeeds; a 400 is not retried', async () => {
	const rx = await startReceiver();
	try {
		rx.failNext([{ status: 503, retryAfter: '1' }]);
		let r = await exitOf(runDemo(['burst', '1'], { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url }));
		assert.equal(r.code, 0, r.stderr);
		const tr = rx.requests.filter((q) => q.path === '/v1/traces');
		assert.equal(tr.length, 2, JSON.stringify(tr));
		assert.equal(tr[0].status, 503);
		assert.equal(tr[1].status, 200);
		assert.ok(tr[1].time - tr[0].time >= 900, `Retry-After honoured (${tr[1].time - tr[0].time} ms)`);
		assert.equal(rx.spans().length, 2);

		rx.requests.length = 0;
		rx.failNext([{ status: 400 }]);
		r = await exitOf(runDemo(['burst', '1'], { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: rx.url + '/v1/traces' }));
		assert.equal(r.code, 0, r.stderr);
		assertClean(r.stderr);
		const tr2 = rx.requests.filter((q) => q.path === '/v1/traces');
		assert.equal(tr2.length, 1, 'a 400 is never retried');
		assert.equal(tr2[0].status, 400);
		assert.match(r.stderr, /traces export .* failed after 1 attempt/);
	} finally {
		await rx.stop();
	}
});

test('collector down: spans are dropped and counted, span creation goes on, memory stays flat', async () => {
	const rx = await startReceiver();
	const url = rx.url;
	await rx.stop(); // nothing listens there now
	const run = runDemo(['loop'], {
		OTEL_EXPORTER_OTLP_ENDPOINT: url,
		OTEL_BSP_MAX_QUEUE_SIZE: '512',
		OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '128',
		OTEL_BSP_EXPORT_TIMEOUT: '1500',
		DEMO_SPAN_INTERVAL_US: '20',
		// a small ASan quarantine, so freed spans do not look like growth
		ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:quarantine_size_mb=8',
	});
	try {
		await waitFor(() => run.lines.length >= 5, { timeoutMs: 15000, what: 'first reports' });
		const rss1 = rssKb(run.proc.pid);
		const n1 = run.lines.length;
		await waitFor(() => run.lines.length >= n1 + 20, { timeoutMs: 20000, what: '4 more seconds of reports' });
		const rss2 = rssKb(run.proc.pid);
		const last = run.lines.at(-1);
		const rates = run.lines.slice(1).map((l) => l.rate);
		console.log(`collector down: created ${last.created}, dropped ${last.dropped}, ` +
			`rate min/median/max ${Math.min(...rates)}/${rates.sort((a, b) => a - b)[rates.length >> 1]}/${Math.max(...rates)} spans/s, ` +
			`RSS ${rss1} -> ${rss2} kB`);
		assert.ok(last.dropped > 0, 'otel_spans_dropped_total rises');
		assert.ok(last.created > 1000);
		assert.ok(rss2 - rss1 < 16 * 1024, `RSS grew by ${rss2 - rss1} kB`);
		run.proc.kill('SIGTERM');
		const r = await exitOf(run, 20000);
		assert.equal(r.code, 0, r.stderr);
		assertClean(r.stderr);
		assert.match(r.stderr, /traces export .* (failed|timed out)/);
	} finally {
		run.proc.kill('SIGKILL');
	}
});

test('SIGTERM flushes the spans ended just before it', async () => {
	const rx = await startReceiver();
	try {
		const run = runDemo(['loop'], {
			OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
			OTEL_BSP_SCHEDULE_DELAY: '600000',
			OTEL_BSP_MAX_QUEUE_SIZE: '200000',
			OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '200000',
			DEMO_SPAN_INTERVAL_US: '1000',
		});
		await waitFor(() => run.lines.length >= 2 && run.lines.at(-1).created > 50, { timeoutMs: 15000, what: 'spans' });
		assert.equal(rx.spans().length, 0, 'nothing exported before the schedule delay');
		run.proc.kill('SIGTERM');
		const r = await exitOf(run, 30000);
		assert.equal(r.code, 0, r.stderr);
		assertClean(r.stderr);
		const final = r.lines.find((l) => l.final);
		assert.ok(final);
		assert.equal(rx.spans().length, final.created, 'every span ended before SIGTERM arrives');
	} finally {
		await rx.stop();
	}
});

test('OTEL_SDK_DISABLED=true exports nothing', async () => {
	const rx = await startReceiver();
	try {
		const r = await exitOf(runDemo(['burst', '2'], {
			OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
			OTEL_METRICS_EXPORTER: 'otlp',
			OTEL_SDK_DISABLED: 'TRUE',
		}));
		assert.equal(r.code, 0, r.stderr);
		assertClean(r.stderr);
		assert.equal(r.lines[0].spans, 4);
		assert.equal(rx.requests.length, 0);
		// "false" or anything else keeps it on
		const r2 = await exitOf(runDemo(['burst', '1'], { OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SDK_DISABLED: 'yes' }));
		assert.equal(r2.code, 0, r2.stderr);
		assert.equal(rx.spans().length, 2);
	} finally {
		await rx.stop();
	}
});

test('a malformed OTEL_BSP_* value exits with status 2 and names the variable', async () => {
	const r = await exitOf(runDemo(['burst', '1'], { OTEL_BSP_MAX_QUEUE_SIZE: '12x' }));
	assert.equal(r.code, 2);
	assert.match(r.stderr, /OTEL_BSP_MAX_QUEUE_SIZE/);
});

// dead-letter-logger exporting to a local OTLP receiver (lib/otlp_receiver.mjs, the official
// definitions). fn(srv, rx, stop) runs with them: stop() ends the server (its flush sends what
// is queued) and asserts a clean exit; the server, if still running, the receiver and the data
// directory go after fn.
async function withExporter(name, env, fn) {
	const rx = await startReceiver();
	const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `otlp-${name}-`));
	const srv = await startServer(binPath('dead-letter-logger'), {
		env: { DATA_DIR: dataDir, LOG_LEVEL: 'warn', OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_SERVICE_NAME: `${name}-test`, ...env },
	});
	let stopped = false;
	const stop = async () => {
		stopped = true;
		const r = await srv.stop();
		assert.equal(r.code, 0, r.stderr);
		assertClean(r.stderr);
	};
	try {
		await fn(srv, rx, stop);
	} finally {
		if (!stopped)
			await srv.stop().catch(() => {});
		await rx.stop();
		fs.rmSync(dataDir, { recursive: true, force: true });
	}
}

// An OTLP partial success (a 200 whose body rejects some spans or points) must not be
// retried, but its count and message are what the collector dropped: they were ignored.
test('a partial success is logged, not retried, and its rejected spans are counted as dropped', async () => {
	await withExporter('partial', { OTEL_BSP_SCHEDULE_DELAY: '100' }, async (srv, rx, stop) => {
		rx.failNext([{ partial: { rejected: 1, message: 'span name too long' } }]);
		const r = await fetch(`http://127.0.0.1:${srv.port}/events`);
		await r.arrayBuffer();
		const dropped = async () => {
			const text = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
			return Number(/^otel_spans_dropped_total\{reason="rejected"\} (\S+)$/m.exec(text)?.[1]);
		};
		await waitFor(async () => (await dropped()) === 1, { what: 'otel_spans_dropped_total{reason="rejected"} 1' });
		assert.match(srv.stderr(), /traces export to \S+: 1 spans rejected \(span name too long\)/);
		const traces = rx.requests.filter((q) => q.path === '/v1/traces');
		assert.equal(traces.length, 1, 'a partial success is not retried');
		assert.equal(traces[0].error, undefined);
		await stop();
	});
});

// A request target's raw bytes reach the SERVER span (url.path, url.query) as they came. Bytes
// that are not UTF-8 must go out as valid UTF-8 (U+FFFD), or a proto3 decoder (the strict
// receiver, as a backend behind a collector) refuses the whole batch with everyone's spans.
test('a request path that is not UTF-8 is exported as valid UTF-8, with the rest of its batch', async () => {
	// OTEL_BSP_SCHEDULE_DELAY: one batch, sent by the SIGTERM flush
	await withExporter('utf8', { OTEL_BSP_SCHEDULE_DELAY: '600000' }, async (srv, rx, stop) => {
		const get = (target) => Buffer.concat([Buffer.from('GET '), target,
			Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')]);
		// 0x80 and 0xff start nothing; E2 82 is a truncated U+20AC; F0 9F 98 80 is U+1F600
		const hostile = Buffer.from([0x2f, 0x62, 0x61, 0x64, 0x80, 0xff, 0x2f, 0xe2, 0x82, 0x2f,
			0xf0, 0x9f, 0x98, 0x80, 0x3f, 0x71, 0x3d, 0xfe]); // "/bad\x80\xff/\xe2\x82/😀?q=\xfe"
		for (const target of [Buffer.from('/before'), hostile, Buffer.from('/after?q=%C3%A9')]) {
			const r = await rawRequest(srv.port, get(target));
			assert.ok(r.status >= 400 && r.status < 500, `${target.toString('latin1')}: ${r.status}`);
		}
		await stop();
		const traces = rx.requests.filter((q) => q.path === '/v1/traces');
		assert.equal(traces.length, 1, 'the three spans go out in one batch');
		assert.equal(traces[0].error, undefined, `the batch was refused: ${traces[0].error}`);
		assert.equal(traces[0].status, 200);
		const paths = rx.spans().map((s) => s.attrs['url.path']).sort();
		assert.deepEqual(paths, ['/after', '/bad\uFFFD\uFFFD/\uFFFD\uFFFD/\u{1F600}', '/before']);
		const bad = rx.spans().find((s) => s.attrs['url.path'].startsWith('/bad'));
		assert.equal(bad.attrs['url.query'], 'q=\uFFFD');
		const after = rx.spans().find((s) => s.attrs['url.path'] === '/after');
		assert.equal(after.attrs['url.query'], 'q=%C3%A9', 'valid text is exported as it came');
	});
});

// A request in a sampled trace leaves its ids on the request-duration histogram as the exemplar
// of its bucket (metrics_observe_exemplar() in http_observe()); one whose traceparent is not
// sampled leaves none. Grafana's exemplar links to Jaeger rest on this.
test('the request-duration histogram carries the exemplar of a sampled request, not of an unsampled one', async () => {
	const env = { OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_METRICS_EXPORTER: 'otlp', OTEL_METRIC_EXPORT_INTERVAL: '200' };
	await withExporter('exemplar', env, async (srv, rx, stop) => {
		const sampled = '5e1a1f2b3c4d5e6f708192a3b4c5d6e7';
		const unsampled = '0badc0de0badc0de0badc0de0badc0de';
		for (const [tid, flags] of [[sampled, '01'], [unsampled, '00']]) {
			const r = await fetch(`http://127.0.0.1:${srv.port}/events`,
				{ headers: { traceparent: `00-${tid}-00f067aa0ba902b7-${flags}` } });
			assert.equal(r.status, 200);
			await r.arrayBuffer();
		}
		// the latest export that counts both requests
		const point = await waitFor(() => rx.metrics()
			.filter((m) => m.name === 'http_server_request_duration_seconds')
			.flatMap((m) => m.histogram.dataPoints)
			.filter((p) => attrs(p.attributes).route === '/events' && Number(p.count) === 2)
			.at(-1), { what: 'a request-duration point counting both requests' });
		const exemplars = point.exemplars.map((e) => ({ ...e, tid: hex(e.traceId) }));
		assert.deepEqual(exemplars.map((e) => e.tid), [sampled], 'one exemplar, the sampled request\'s');
		const [ex] = exemplars;
		assert.equal(ex.spanId.length, 8);
		assert.ok(ex.asDouble > 0 && ex.asDouble < 10, `value ${ex.asDouble}`);
		assert.ok(BigInt(ex.timeUnixNano) <= BigInt(point.timeUnixNano), 'observed before the export');
		assert.ok(BigInt(ex.timeUnixNano) >= BigInt(point.startTimeUnixNano), 'observed after the start');
		// the value falls in the bucket that holds the exemplar: the first bound not below it
		const counts = point.bucketCounts.map(Number);
		const bucket = point.explicitBounds.findIndex((b) => ex.asDouble <= b);
		assert.ok(counts[bucket === -1 ? counts.length - 1 : bucket] >= 1);
		// the exemplar names the SERVER span of that request, exported in the same trace
		const span = await waitFor(() => rx.spans().find((s) => hex(s.traceId) === sampled),
			{ what: 'the sampled request\'s span' });
		assert.equal(span.kind, 2);
		assert.equal(hex(ex.spanId), hex(span.spanId));
		assert.ok(!rx.spans().some((s) => hex(s.traceId) === unsampled), 'the unsampled request is not exported');
		await stop();
		for (const q of rx.requests)
			assert.equal(q.error, undefined, `decode error: ${q.error}`);
	});
});

// OTEL_TRACES_EXPORTER=console writes each span as one JSON line on stderr. A string that is
// not UTF-8 cannot be a JSON string: it must be written with U+FFFD, not as null, and the span
// must not go missing.
test('the console exporter writes a path that is not UTF-8 as valid UTF-8, never null', async () => {
	const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-utf8-'));
	const srv = await startServer(binPath('dead-letter-logger'), {
		env: {
			DATA_DIR: dataDir,
			LOG_LEVEL: 'warn',
			OTEL_TRACES_EXPORTER: 'console',
			OTEL_METRICS_EXPORTER: 'none',
			OTEL_SERVICE_NAME: 'console-utf8',
		},
	});
	let stopped;
	try {
		const target = Buffer.from([0x2f, 0x62, 0x61, 0x64, 0x80, 0x3f, 0x71, 0x3d, 0xfe]); // "/bad\x80?q=\xfe"
		const req = Buffer.concat([Buffer.from('GET '), target,
			Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')]);
		const r = await rawRequest(srv.port, req);
		assert.ok(r.status >= 400 && r.status < 500, `${r.status}`);
		stopped = await srv.stop();
		assert.equal(stopped.code, 0, stopped.stderr);
		assertClean(stopped.stderr);
		const spans = stopped.stderr.split('\n').filter((l) => l.startsWith('{"name"'))
			.map((l) => JSON.parse(l));
		const bad = spans.filter((s) => s.attributes?.['url.path'] !== '/healthz');
		assert.equal(bad.length, 1, `one span for the request:\n${stopped.stderr.slice(-3000)}`);
		assert.equal(bad[0].attributes['url.path'], '/bad\uFFFD');
		assert.equal(bad[0].attributes['url.query'], 'q=\uFFFD');
	} finally {
		if (!stopped)
			await srv.stop().catch(() => {});
		fs.rmSync(dataDir, { recursive: true, force: true });
	}
});
