// Traces end to end: the whole stack (PostgreSQL, db-service, node-server, the local broker,
// file-sink failing every delivery, dead-letter-logger) exporting to a test OTLP/HTTP
// collector (lib/otlp_receiver.mjs, decoded with the OpenTelemetry project's definitions).
// One review posted to /add must come back as ONE trace across the five services, a proper
// tree, with the right kinds, names and attributes for every hop, one CLIENT span per delivery
// attempt, the dead letter in the same trace, logs that carry the ids, and the metrics pushed
// over OTLP too. A second test points the services at a closed port: /add keeps answering,
// otel_spans_dropped_total rises and the memory stays flat.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, binPath, buildDir, repoRoot, assertClean, waitFor, freePort } from './lib/proc.mjs';
import { startReceiver as startCollector, attrs } from './lib/otlp_receiver.mjs';
import { startReceiver as startSink } from './lib/stack.mjs';
import { startPostgres } from './lib/pg.mjs';

const PG_BIN = `${process.env.PG_BINDIR || '/usr/lib/postgresql/15/bin'}/postgres`;
const BINS = ['db-service', 'node-server', 'local-broker', 'file-sink', 'dead-letter-logger'];

function skipReason() {
	if (!fs.existsSync(PG_BIN)) return `PostgreSQL server binaries not installed (${PG_BIN})`;
	for (const b of BINS)
		if (!fs.existsSync(path.join(buildDir, b))) return `${buildDir}/${b} not built`;
	return false;
}

const dirs = [];
after(() => {
	for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
function tmpDir(prefix) {
	const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
	dirs.push(d);
	return d;
}

const hex = (b) => (b && b.length ? Buffer.from(b).toString('hex') : '');
const KIND = { SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 };
const statusCode = (s) => s.status?.code ?? 0; // 0 unset, 2 error

// The OTEL_* environment of one service exporting to the collector.
function otelEnv(collector, name) {
	return {
		OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
		OTEL_SERVICE_NAME: name,
		OTEL_BSP_SCHEDULE_DELAY: '100',
		OTEL_METRICS_EXPORTER: 'otlp',
		OTEL_METRIC_EXPORT_INTERVAL: '300',
	};
}

// Broker and Trigger manifests as the cluster's (k8s/base/eventing) but with a short backoff
// and every URL local.
function manifests(fileSinkUrl, nodeUrl, dlsUrl) {
	const dir = tmpDir('traces-broker-');
	const docs = [
		{ apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', metadata: { name: 'bookstore-broker', namespace: 'bookstore' },
			spec: { delivery: { retry: 2, backoffPolicy: 'exponential', backoffDelay: 'PT0.1S', deadLetterSink: { uri: dlsUrl } } } },
		{ apiVersion: 'eventing.knative.dev/v1', kind: 'Trigger', metadata: { name: 'file-sink-trigger', namespace: 'bookstore' },
			spec: { broker: 'bookstore-broker', filter: { attributes: { type: 'new-review-comment' } }, subscriber: { uri: fileSinkUrl } } },
		{ apiVersion: 'eventing.knative.dev/v1', kind: 'Trigger', metadata: { name: 'db-insert-trigger', namespace: 'bookstore' },
			spec: { broker: 'bookstore-broker', filter: { attributes: { type: 'new-review-comment' } }, subscriber: { uri: `${nodeUrl}/insert` } } },
	];
	fs.writeFileSync(path.join(dir, 'eventing.yaml'), docs.map((d) => `---\n${JSON.stringify(d)}\n`).join(''));
	return dir;
}

async function startAll(collector) {
	const st = { servers: [] };
	const keep = (name, srv) => { st[name] = srv; st.servers.push([name, srv]); return srv; };
	st.pg = await startPostgres({ database: 'bookstore' });
	try {
		keep('db', await startServer(binPath('db-service'), {
			env: { DATABASE_URL: st.pg.url, LOG_LEVEL: 'info', ...otelEnv(collector, 'db-service') }, readyPath: '/readyz' }));
		st.sinkDir = tmpDir('traces-file-sink-');
		keep('sink', await startServer(binPath('file-sink'), {
			env: { DATA_DIR: st.sinkDir, FAIL_EVERY: '1', LOG_LEVEL: 'info', ...otelEnv(collector, 'file-sink') } }));
		st.dllDir = tmpDir('traces-dll-');
		keep('dll', await startServer(binPath('dead-letter-logger'), {
			env: { DATA_DIR: st.dllDir, LOG_LEVEL: 'info', ...otelEnv(collector, 'dead-letter-logger') } }));
		const nodePort = await freePort();
		const nodeUrl = `http://127.0.0.1:${nodePort}`;
		const dir = manifests(`${st.sink.url}/`, nodeUrl, `${st.dll.url}/`);
		keep('broker', await startServer(binPath('local-broker'), {
			env: { BROKER_MANIFESTS: dir, DATA_DIR: path.join(dir, 'data'), LOG_LEVEL: 'info', ...otelEnv(collector, 'local-broker') },
			readyPath: '/readyz' }));
		keep('node', await startServer(binPath('node-server'), {
			port: nodePort,
			env: { DB_SERVICE_URL: st.db.url, K_SINK: `${st.broker.url}/bookstore/bookstore-broker`,
				FRONTEND_DIR: path.join(repoRoot, 'frontend-static'), LOG_LEVEL: 'info', ...otelEnv(collector, 'node-server') },
			readyPath: '/readyz' }));
	} catch (e) {
		await stopAll(st).catch(() => {});
		throw e;
	}
	return st;
}

async function stopAll(st, check = false) {
	const results = [];
	for (const [name, srv] of [...st.servers].reverse())
		results.push([name, await srv.stop()]);
	st.servers = [];
	if (st.pg && !st.pgStopped) await st.pg.cleanup();
	st.pgStopped = true; // the test's barrier stops it before the finally does
	if (check) {
		for (const [name, r] of results) {
			assert.equal(r.code, 0, `${name} exit status ${r.code ?? r.signal}\n${r.stderr}`);
			assertClean(r.stderr);
		}
	}
}

async function postReview(url, text) {
	const res = await fetch(`${url}/add`, {
		method: 'POST',
		headers: { 'ce-specversion': '1.0', 'ce-type': 'new-review-comment', 'ce-source': 'traces-test', 'ce-id': 'page-1',
			'content-type': 'application/json' },
		body: JSON.stringify({ reviewText: text }),
	});
	return { status: res.status, body: await res.json() };
}

async function events(srv) {
	return (await fetch(`${srv.url}/events?limit=1000`)).json();
}

const bySvc = (spans, svc) => spans.filter((s) => s.resource['service.name'] === svc);
const childrenOf = (spans, parent) => spans.filter((s) => hex(s.parentSpanId) === hex(parent.spanId));

function assertHttpServer(s, { route, status, method = 'POST' }) {
	assert.equal(s.kind, KIND.SERVER, `${s.name} kind`);
	assert.equal(s.name, `${method} ${route}`);
	assert.equal(s.attrs['http.request.method'], method);
	assert.equal(s.attrs['http.route'], route);
	assert.equal(s.attrs['url.scheme'], 'http');
	assert.ok(s.attrs['url.path'].startsWith('/'), 'url.path');
	assert.equal(String(s.attrs['http.response.status_code']), String(status));
	assert.ok(Number(s.attrs['server.port']) > 0, 'server.port');
	assert.equal(s.attrs['client.address'], '127.0.0.1');
	assert.equal(s.attrs['network.protocol.version'], '1.1');
	assert.equal(statusCode(s), status >= 500 ? 2 : 0, `${s.name} status is Error only for 5xx`);
}

function assertHttpClient(s, { url, status, method = 'POST' }) {
	assert.equal(s.kind, KIND.CLIENT, `${s.name} kind`);
	assert.equal(s.name.split(' ')[0], method);
	assert.equal(s.attrs['http.request.method'], method);
	assert.equal(s.attrs['server.address'], '127.0.0.1');
	assert.equal(String(s.attrs['server.port']), new URL(url).port);
	assert.ok(s.attrs['url.full'].startsWith(url), `url.full ${s.attrs['url.full']} starts with ${url}`);
	assert.equal(String(s.attrs['http.response.status_code']), String(status));
	if (status >= 400) {
		assert.equal(statusCode(s), 2, 'client status Error for 4xx/5xx');
		assert.equal(s.attrs['error.type'], String(status));
	} else {
		assert.equal(statusCode(s), 0);
	}
}

function assertConsumer(s, ev) {
	assert.equal(s.kind, KIND.CONSUMER);
	assert.equal(s.name, `process ${ev.type}`);
	assert.equal(s.attrs['messaging.system'], 'knative');
	assert.equal(s.attrs['messaging.operation.name'], 'process');
	assert.equal(s.attrs['cloudevents.event_id'], ev.id);
	assert.equal(s.attrs['cloudevents.event_type'], ev.type);
	assert.equal(s.attrs['cloudevents.event_source'], ev.source);
	assert.equal(s.attrs['cloudevents.event_spec_version'], '1.0');
}

const skip = skipReason();

test('one review is one trace across node-server, the broker, file-sink, dead-letter-logger and db-service', { skip, timeout: 120000 }, async () => {
	const collector = await startCollector();
	const st = await startAll(collector);
	try {
		const r = await postReview(st.node.url, 'a traced review');
		assert.equal(r.status, 200, JSON.stringify(r.body));
		const id = r.body.id;

		// The review is dead-lettered (file-sink fails every delivery) and stored (db-insert).
		const dead = await waitFor(async () => (await events(st.dll)).find((e) => e.event?.id === id),
			{ timeoutMs: 20000, what: 'the dead letter' });
		await waitFor(async () => (await (await fetch(`${st.node.url}/comments`)).json()).some((c) => c.content === 'a traced review'),
			{ timeoutMs: 20000, what: 'the review stored' });

		// Every hop's spans, in the review's trace.
		const root = await waitFor(() => collector.spans().find((s) => s.name === 'POST /add'), { timeoutMs: 15000, what: 'the /add span' });
		const T = hex(root.traceId);
		const trace = () => collector.spans().filter((s) => hex(s.traceId) === T);
		const done = (spans) => bySvc(spans, 'dead-letter-logger').some((s) => s.kind === KIND.CONSUMER) &&
			bySvc(spans, 'db-service').some((s) => s.attrs['db.operation.name'] === 'INSERT') &&
			bySvc(spans, 'local-broker').filter((s) => s.kind === KIND.CLIENT).length >= 5 &&
			bySvc(spans, 'file-sink').filter((s) => s.kind === KIND.CONSUMER).length >= 3 &&
			bySvc(spans, 'node-server').some((s) => s.name === 'POST /insert' && s.kind === KIND.SERVER);
		await waitFor(() => done(trace()), { timeoutMs: 20000, what: 'every span of the review' });
		// What needs the services running, then the barrier: each service exports its last
		// spans as it exits (trace_shutdown()), so once all have stopped the collector holds
		// every span they made, and none comes later.
		const saved = (await events(st.sink)).filter((e) => e.event?.id === id);
		await waitFor(() => {
			const hs = collector.metrics().filter((m) => m.name === 'http_server_request_duration_seconds' && m.data === 'histogram');
			return BINS.every((b) => hs.some((m) => m.resource['service.name'] === b));
		}, { timeoutMs: 10000, what: 'http_server_request_duration_seconds from each service' });
		// The broker's delivery-duration histogram links to the review's trace: the exemplar
		// of an attempt is its CLIENT span's (checked below, once every span is in).
		const deliveryExemplar = await waitFor(() => collector.metrics()
			.filter((m) => m.name === 'broker_delivery_duration_seconds' && m.data === 'histogram')
			.flatMap((m) => m.histogram.dataPoints).flatMap((p) => p.exemplars)
			.find((e) => hex(e.traceId) === T), { timeoutMs: 10000, what: 'a delivery exemplar in the review\'s trace' });
		await stopAll(st, true);
		const spans = trace();
		for (const req of collector.requests)
			assert.equal(req.error, undefined, `decode error: ${req.error}`);

		// One trace across the five services.
		assert.deepEqual([...new Set(spans.map((s) => s.resource['service.name']))].sort(),
			['db-service', 'dead-letter-logger', 'file-sink', 'local-broker', 'node-server']);

		// A tree: unique span ids, every parent in the trace, exactly one root (POST /add).
		const ids = new Set(spans.map((s) => hex(s.spanId)));
		assert.equal(ids.size, spans.length, 'span ids are unique');
		const roots = spans.filter((s) => !hex(s.parentSpanId));
		assert.deepEqual(roots.map((s) => s.name), ['POST /add']);
		for (const s of spans)
			assert.ok(!hex(s.parentSpanId) || ids.has(hex(s.parentSpanId)), `parent of ${s.resource['service.name']} ${s.name} is in the trace`);

		// node-server /add: SERVER → PRODUCER → CLIENT to the broker.
		assertHttpServer(root, { route: '/add', status: 200 });
		assert.equal(root.resource['service.name'], 'node-server');
		const producer = childrenOf(spans, root).find((s) => s.kind === KIND.PRODUCER);
		assert.ok(producer, 'a PRODUCER span under POST /add');
		assert.equal(producer.name, 'send bookstore-broker');
		assert.equal(producer.attrs['messaging.system'], 'knative');
		assert.equal(producer.attrs['messaging.operation.name'], 'send');
		assert.equal(producer.attrs['messaging.destination.name'], 'bookstore-broker');
		assert.equal(producer.attrs['cloudevents.event_id'], id);
		assert.equal(producer.attrs['cloudevents.event_type'], 'new-review-comment');
		const toBroker = childrenOf(spans, producer);
		assert.equal(toBroker.length, 1);
		assertHttpClient(toBroker[0], { url: st.broker.url, status: 202 });

		// The CloudEvents traceparent extension: set once from the PRODUCER span, unchanged at
		// file-sink and at the dead-letter sink.
		const tpExt = `00-${T}-${hex(producer.spanId)}-01`;
		assert.equal(dead.event.traceparent, tpExt, 'the dead letter carries the producer context');
		assert.equal(saved.length, 3, 'file-sink saw 3 attempts');
		for (const e of saved) assert.equal(e.event.traceparent, tpExt);

		// The broker: ingress SERVER span, one CLIENT span per attempt.
		const ingress = childrenOf(spans, toBroker[0]);
		assert.equal(ingress.length, 1);
		assertHttpServer(ingress[0], { route: '/{namespace}/{broker}', status: 202 });
		assert.equal(ingress[0].resource['service.name'], 'local-broker');
		assert.equal(ingress[0].attrs['messaging.system'], 'knative');
		assert.equal(ingress[0].attrs['kn.broker.name'], 'bookstore-broker');
		assert.equal(ingress[0].attrs['cloudevents.event_id'], id);
		const attempts = childrenOf(spans, ingress[0]).filter((s) => s.kind === KIND.CLIENT);
		const toSink = attempts.filter((s) => s.attrs['url.full'].startsWith(st.sink.url))
			.sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano)));
		assert.equal(toSink.length, 3, 'retry 2: three attempts to file-sink, each its own span');
		assert.deepEqual(toSink.map((s) => s.attrs['http.request.resend_count'] === undefined ? 0 : Number(s.attrs['http.request.resend_count'])), [0, 1, 2]);
		for (const s of toSink) {
			assertHttpClient(s, { url: st.sink.url, status: 500 });
			assert.equal(s.attrs['kn.trigger.name'], 'file-sink-trigger');
			assert.equal(s.attrs['kn.delivery.phase'], 'subscriber');
		}
		const toDls = attempts.filter((s) => s.attrs['url.full'].startsWith(st.dll.url));
		assert.equal(toDls.length, 1, 'the dead-letter send is its own CLIENT span');
		assertHttpClient(toDls[0], { url: st.dll.url, status: 200 });
		assert.equal(toDls[0].attrs['kn.delivery.phase'], 'dead_letter');
		assert.ok(BigInt(toDls[0].startTimeUnixNano) > BigInt(toSink[2].endTimeUnixNano), 'after the last attempt');
		const toInsert = attempts.filter((s) => s.attrs['url.full'].startsWith(`${st.node.url}/insert`));
		assert.equal(toInsert.length, 1);
		assertHttpClient(toInsert[0], { url: `${st.node.url}/insert`, status: 200 });

		// file-sink: SERVER (500) → CONSUMER per attempt.
		const ev = { id, type: 'new-review-comment', source: 'bookstore-eda' };
		const sinkConsumers = [];
		for (const a of toSink) {
			const srv = childrenOf(spans, a);
			assert.equal(srv.length, 1);
			assertHttpServer(srv[0], { route: '/', status: 500 });
			assert.equal(srv[0].resource['service.name'], 'file-sink');
			const c = childrenOf(spans, srv[0]);
			assert.equal(c.length, 1);
			assertConsumer(c[0], ev);
			assert.equal(statusCode(c[0]), 2, 'a failed delivery is an error');
			sinkConsumers.push(c[0]);
		}

		// dead-letter-logger: SERVER → CONSUMER with the Knative error attributes and an event.
		const dlsSrv = childrenOf(spans, toDls[0]);
		assert.equal(dlsSrv.length, 1);
		assertHttpServer(dlsSrv[0], { route: '/', status: 200 });
		const dlc = childrenOf(spans, dlsSrv[0]);
		assert.equal(dlc.length, 1, 'the dead-letter CONSUMER span is in the review trace');
		assertConsumer(dlc[0], ev);
		assert.equal(dlc[0].resource['service.name'], 'dead-letter-logger');
		assert.equal(dlc[0].attrs.knativeerrordest, `${st.sink.url}/`);
		assert.equal(String(dlc[0].attrs.knativeerrorcode), '500');
		assert.match(dlc[0].attrs.knativeerrordata, /simulated/);
		const dlEvent = dlc[0].events.find((e) => e.name === 'dead letter');
		assert.ok(dlEvent, 'a "dead letter" span event');
		assert.equal(attrs(dlEvent.attributes).knativeerrordest, `${st.sink.url}/`);

		// node-server /insert: SERVER → CONSUMER → CLIENT POST /reviews → db-service.
		const insSrv = childrenOf(spans, toInsert[0]);
		assert.equal(insSrv.length, 1);
		assertHttpServer(insSrv[0], { route: '/insert', status: 200 });
		const insCons = childrenOf(spans, insSrv[0]);
		assert.equal(insCons.length, 1);
		assertConsumer(insCons[0], ev);
		// (a GET /reviews child may follow: the insert refreshes the page's feed)
		const toDb = childrenOf(spans, insCons[0]).filter((s) => s.name === 'POST /reviews');
		assert.equal(toDb.length, 1);
		assertHttpClient(toDb[0], { url: st.db.url, status: 201 });
		const dbSrv = childrenOf(spans, toDb[0]);
		assert.equal(dbSrv.length, 1);
		assertHttpServer(dbSrv[0], { route: '/reviews', status: 201 });
		assert.equal(dbSrv[0].resource['service.name'], 'db-service');
		const queries = childrenOf(spans, dbSrv[0]);
		const insert = queries.find((q) => q.attrs['db.operation.name'] === 'INSERT');
		assert.ok(insert, `an INSERT span among ${queries.map((q) => q.name)}`);
		assert.equal(insert.kind, KIND.CLIENT);
		assert.equal(insert.name, 'INSERT book_reviews');
		assert.equal(insert.attrs['db.system.name'], 'postgresql');
		assert.equal(insert.attrs['db.namespace'], 'bookstore');
		assert.equal(insert.attrs['db.collection.name'], 'book_reviews');
		assert.match(insert.attrs['db.query.text'], /^INSERT INTO book_reviews .*\$1/s);
		assert.equal(insert.attrs['server.address'], '127.0.0.1');
		assert.equal(String(insert.attrs['server.port']), String(st.pg.port));
		for (const q of queries) {
			assert.equal(q.attrs['db.system.name'], 'postgresql');
			assert.ok(q.attrs['db.query.text'], 'db.query.text');
		}

		// Logs written inside spans carry their ids: the simulated failures in file-sink's
		// CONSUMER spans, and the access-log records.
		const lines = fs.readFileSync(st.sink.stderrFile, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
		const simulated = lines.filter((l) => /^simulated a failure/.test(l.message) && l.message.includes(id));
		assert.equal(simulated.length, 3);
		assert.deepEqual(simulated.map((l) => l.trace_id), [T, T, T]);
		assert.deepEqual(new Set(simulated.map((l) => l.span_id)), new Set(sinkConsumers.map((s) => hex(s.spanId))));
		const access = lines.filter((l) => l.message === 'request' && l.route === '/' && l.trace_id === T);
		assert.equal(access.length, 3, 'the access-log records carry the SERVER span ids');
		const sinkServers = new Set(sinkConsumers.map((c) => hex(c.parentSpanId)));
		for (const a of access) assert.ok(sinkServers.has(a.span_id));

		// Metrics over OTLP: the request-duration histogram from every service (waited for
		// above, while they ran).
		const h = collector.metrics().filter((m) => m.name === 'http_server_request_duration_seconds' && m.resource['service.name'] === 'node-server').at(-1);
		assert.equal(h.histogram.aggregationTemporality, 2);
		const addPoint = h.histogram.dataPoints.find((p) => attrs(p.attributes).route === '/add');
		assert.ok(addPoint && Number(addPoint.count) >= 1, 'the /add request is counted');
		// Exemplars: the /add point names the review's SERVER span, a delivery point one of
		// the broker's CLIENT spans (an attempt) of that trace.
		assert.ok(addPoint.exemplars.some((e) => hex(e.traceId) === T && hex(e.spanId) === hex(root.spanId)),
			`the /add exemplar is the review's span: ${JSON.stringify(addPoint.exemplars.map((e) => hex(e.traceId)))}`);
		assert.ok(attempts.some((s) => hex(s.spanId) === hex(deliveryExemplar.spanId)),
			'the delivery exemplar is an attempt\'s CLIENT span');
	} finally {
		await stopAll(st, true);
		await collector.stop();
	}
});

function rssKb(pid) {
	return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

// otel_spans_dropped_total{reason} on url's /metrics.
async function droppedSpans(url, reason) {
	const text = await (await fetch(`${url}/metrics`)).text();
	const m = new RegExp(`^otel_spans_dropped_total\\{reason="${reason}"\\} (\\S+)$`, 'm').exec(text);
	return m ? Number(m[1]) : 0;
}

test('collector down: /add keeps answering, dropped spans are counted, memory stays flat', { skip: fs.existsSync(path.join(buildDir, 'node-server')) ? false : `${buildDir}/node-server not built`, timeout: 180000 }, async (t) => {
	const sink = await startSink();
	const closed = await freePort(); // nothing listens there
	const node = await startServer(binPath('node-server'), {
		env: {
			K_SINK: sink.url, DB_SERVICE_URL: `http://127.0.0.1:${closed}`, FRONTEND_DIR: path.join(repoRoot, 'frontend-static'),
			LOG_LEVEL: 'warn', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closed}`, OTEL_SERVICE_NAME: 'node-server',
			OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_BSP_MAX_QUEUE_SIZE: '256', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '64',
			OTEL_BSP_EXPORT_TIMEOUT: '2000', OTEL_EXPORTER_OTLP_TIMEOUT: '500',
			// a small ASan quarantine, so RSS reflects live memory rather than freed blocks
			ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:quarantine_size_mb=8',
		},
	});
	try {
		const send = async () => {
			const t0 = performance.now();
			const r = await postReview(node.url, 'review while the collector is down');
			assert.equal(r.status, 200, JSON.stringify(r.body));
			return performance.now() - t0;
		};
		const burst = async (n, conc = 16) => {
			const lat = [];
			let next = 0;
			await Promise.all(Array.from({ length: conc }, async () => {
				while (next++ < n) lat.push(await send());
			}));
			return lat.sort((a, b) => a - b);
		};
		await burst(1000);
		const before = rssKb(node.proc.pid);
		const lat = await burst(3000);
		const afterKb = rssKb(node.proc.pid);
		const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(2);
		t.diagnostic(`/add latency with the collector down: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${q(1)} ms over ${lat.length} requests`);
		t.diagnostic(`RSS ${before} kB after 1000 requests, ${afterKb} kB after 3000 more`);
		assert.equal(sink.events.length, 4000, 'every event reached K_SINK');
		// the queue was full and the request went on: dropped, not waited for (docs/tracing.md)
		await waitFor(async () => (await droppedSpans(node.url, 'queue_full')) > 0,
			{ timeoutMs: 15000, what: 'otel_spans_dropped_total{reason="queue_full"} > 0' });
		assert.ok(afterKb - before < 64 * 1024, `RSS grew by ${afterKb - before} kB over 3000 requests`);
	} finally {
		const r = await node.stop();
		await sink.close();
		assert.equal(r.code, 0, r.stderr);
		assertClean(r.stderr);
		const warns = r.stderr.split('\n').filter((l) => l.includes('otlp: traces export'));
		assert.ok(warns.length <= 2, `the export failure is logged once per run of failures, not per batch:\n${warns.join('\n')}`);
	}
});
