// otlp_receiver.mjs: a test OTLP/HTTP collector. It decodes every request with the
// OpenTelemetry project's own protobuf definitions (@opentelemetry/otlp-transformer 0.57.2,
// generated from opentelemetry-proto), so a field number or type we got wrong shows up as a
// decode error or a wrong value, not as a mirror of our own .proto.
//
//   import { startReceiver } from './lib/otlp_receiver.mjs';
//   const rx = await startReceiver();            // 127.0.0.1, a free port
//   rx.url                                       // "http://127.0.0.1:PORT" (the base endpoint)
//   rx.spans()                                   // every span received, flattened, with resource
//   rx.metrics()                                 // every metric received, flattened
//   rx.requests                                  // [{ path, status, headers, error, time }]
//   rx.failNext([{ status: 503, retryAfter: '1' }, ...])  // answers for the next requests
//   rx.failNext([{ partial: { rejected: 2, message: 'x' } }])  // a 200 partial success
//   await rx.stop()                              // closes the port and every connection
//
// Requests decode as ExportTraceServiceRequest on /v1/traces and ExportMetricsServiceRequest
// on /v1/metrics; a request that does not decode is answered 400 and recorded with error.
// Decoding is strict about UTF-8 as proto3 is ("a string must always contain UTF-8 encoded
// text"; Go's google.golang.org/protobuf refuses the whole message, and so does a backend
// behind a collector): a string field with bytes that are not valid UTF-8 fails the request.
// protobufjs alone would decode them as U+FFFD and hide the fault.
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ROOT = '@opentelemetry/otlp-transformer/build/src/generated/root';
const root = require(ROOT);
// The Reader class the generated code checks with instanceof: protobufjs as root.js loads it.
const { Reader } = createRequire(require.resolve(ROOT))('protobufjs/minimal');
const utf8 = new TextDecoder('utf-8', { fatal: true });

// A reader of body whose every string field must be valid UTF-8 (else it throws a TypeError).
function strictReader(body) {
	const r = Reader.create(body);
	r.string = function strictString() {
		return utf8.decode(this.bytes());
	};
	return r;
}
const proto = root.opentelemetry.proto;
const TraceReq = proto.collector.trace.v1.ExportTraceServiceRequest;
const TraceRes = proto.collector.trace.v1.ExportTraceServiceResponse;
const MetricsReq = proto.collector.metrics.v1.ExportMetricsServiceRequest;
const MetricsRes = proto.collector.metrics.v1.ExportMetricsServiceResponse;

const toObj = (Type, msg) => Type.toObject(msg, { longs: String, enums: Number, bytes: Buffer, defaults: true, oneofs: true });

// AnyValue → plain JS value (int64 as a string).
export function anyValue(v) {
	if (!v) return undefined;
	for (const k of ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'bytesValue'])
		if (v.value === k || (v.value === undefined && v[k] !== undefined && v[k] !== null))
			return v[k];
	return undefined;
}

export function attrs(list) {
	const out = {};
	for (const kv of list || []) out[kv.key] = anyValue(kv.value);
	return out;
}

export async function startReceiver({ port = 0 } = {}) {
	const requests = [];
	const traceBodies = [];
	const metricBodies = [];
	const plan = [];
	const sockets = new Set();

	const server = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			const body = Buffer.concat(chunks);
			const rec = { path: req.url, headers: req.headers, status: 200, time: Date.now(), size: body.length };
			requests.push(rec);
			const next = plan.shift();
			if (next && !next.partial) {
				rec.status = next.status;
				const h = { 'Content-Type': 'application/x-protobuf' };
				if (next.retryAfter !== undefined) h['Retry-After'] = String(next.retryAfter);
				res.writeHead(next.status, h);
				res.end();
				return;
			}
			let Type, Res, sink;
			if (req.url === '/v1/traces') [Type, Res, sink] = [TraceReq, TraceRes, traceBodies];
			else if (req.url === '/v1/metrics') [Type, Res, sink] = [MetricsReq, MetricsRes, metricBodies];
			else {
				rec.status = 404;
				res.writeHead(404).end();
				return;
			}
			try {
				sink.push(toObj(Type, Type.decode(strictReader(body))));
			} catch (e) {
				rec.status = 400;
				rec.error = e.message;
				res.writeHead(400).end();
				return;
			}
			// A partial success (the OTLP spec): the request is taken, some of it rejected.
			const p = next?.partial;
			const count = Type === TraceReq ? 'rejectedSpans' : 'rejectedDataPoints';
			const out = Res.encode(Res.create(p ? { partialSuccess: { [count]: p.rejected, errorMessage: p.message } } : {})).finish();
			res.writeHead(200, { 'Content-Type': 'application/x-protobuf' });
			res.end(Buffer.from(out));
		});
	});
	server.on('connection', (s) => {
		sockets.add(s);
		s.on('close', () => sockets.delete(s));
	});
	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(port, '127.0.0.1', resolve);
	});
	const actualPort = server.address().port;

	return {
		port: actualPort,
		url: `http://127.0.0.1:${actualPort}`,
		requests,
		traceRequests: traceBodies,
		metricRequests: metricBodies,
		failNext(list) { plan.push(...list); },
		spans() {
			const out = [];
			for (const body of traceBodies)
				for (const rs of body.resourceSpans)
					for (const ss of rs.scopeSpans)
						for (const s of ss.spans)
							out.push({ ...s, resource: attrs(rs.resource?.attributes), scope: ss.scope, attrs: attrs(s.attributes) });
			return out;
		},
		metrics() {
			const out = [];
			for (const body of metricBodies)
				for (const rm of body.resourceMetrics)
					for (const sm of rm.scopeMetrics)
						for (const m of sm.metrics)
							out.push({ ...m, resource: attrs(rm.resource?.attributes) });
			return out;
		},
		async stop() {
			for (const s of sockets) s.destroy();
			await new Promise((resolve) => server.close(() => resolve()));
		},
	};
}
