/*
 * otlp.h: OpenTelemetry export of spans and metrics over OTLP/HTTP protobuf
 * (shared/reference/protocols.md §4), configured from the standard OTEL_* environment.
 *
 * A service calls otlp_init() once in main, after log_init() and signals_block() and before
 * starting servers, and otlp_shutdown() on SIGTERM after stopping them:
 *
 *	otlp_init("db-service");   // tracer provider + exporters, from the environment
 *	...
 *	int sig = signals_wait();
 *	http_server_stop(srv);
 *	otlp_shutdown();           // flushes spans, pushes metrics one last time, frees all
 *
 * Environment (strictly parsed through config.h: a malformed value prints one line and exits
 * with status 2, except OTEL_TRACES_SAMPLER(_ARG) and the _HEADERS variables, which the spec
 * says to log and ignore):
 *   OTEL_SDK_DISABLED              only case-insensitive "true" disables everything.
 *                                  When NONE of OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER,
 *                                  OTEL_METRICS_EXPORTER and OTEL_EXPORTER_OTLP[_SIGNAL]_ENDPOINT
 *                                  is set, the SDK stays off as if disabled (no collector
 *                                  was configured: exporting to localhost:4318 would only
 *                                  fail and hold each shutdown for the export timeout)
 *   OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, K_SERVICE, ...   the resource (trace.h)
 *   OTEL_TRACES_SAMPLER(_ARG)      [parentbased_always_on]
 *   OTEL_TRACES_EXPORTER           otlp|console|none [otlp]; console writes one JSON line
 *                                  per span on stderr
 *   OTEL_METRICS_EXPORTER          otlp|console|none [none]: NOT the spec default. In this
 *                                  project Prometheus scrapes GET /metrics; set otlp for
 *                                  push (a Knative pod scaled to zero is never scraped again)
 *   OTEL_BSP_SCHEDULE_DELAY [5000] _EXPORT_TIMEOUT [30000] _MAX_QUEUE_SIZE [2048]
 *   OTEL_BSP_MAX_EXPORT_BATCH_SIZE [512] (must be <= the queue size)
 *   OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT, OTEL_SPAN_EVENT_COUNT_LIMIT [128]
 *   OTEL_METRIC_EXPORT_INTERVAL [60000], OTEL_METRIC_EXPORT_TIMEOUT [30000]
 *   OTEL_EXPORTER_OTLP_ENDPOINT [http://localhost:4318]: base URL, "/v1/traces" and
 *     "/v1/metrics" are appended with exactly one '/' between them;
 *   OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT: used as-is (an empty path becomes "/");
 *   OTEL_EXPORTER_OTLP[_{TRACES,METRICS}]_HEADERS: k=v,k2=v2 (percent-decoded); the signal
 *     variable replaces the generic one;
 *   OTEL_EXPORTER_OTLP[_{TRACES,METRICS}]_TIMEOUT [10000]: per HTTP attempt;
 *   OTEL_EXPORTER_OTLP[_SIGNAL]_PROTOCOL: only http/protobuf is implemented (others warn).
 *
 * Export. Each batch is one POST (Content-Type application/x-protobuf) on a shared httpc
 * client. 429, 502, 503, 504 and dropped connections are retried with exponential backoff
 * (1 s, x1.5, at most 5 s, full jitter in the upper half) or after Retry-After (seconds or
 * HTTP-date) on 429/503, until the export deadline (OTEL_BSP_EXPORT_TIMEOUT for spans,
 * OTEL_METRIC_EXPORT_TIMEOUT for metrics); other statuses are never retried. A lost span
 * batch is counted in otel_spans_dropped_total{reason="export_failed"}.
 *
 * Metrics. A reader thread walks metrics_default() every OTEL_METRIC_EXPORT_INTERVAL ms with
 * cumulative temporality: counter → monotonic Sum, gauge → Gauge, histogram → Histogram
 * (explicit bounds, bucket_counts = bounds + 1, count, sum). The OTLP metric name is the
 * Prometheus family name and the description its help; labels become string attributes;
 * start_time_unix_nano is the time of otlp_init() (≈ process start).
 *
 * Thread safety: otlp_init()/otlp_shutdown() from main only; the rest is pure or thread-safe.
 */
#ifndef COMMON_OTLP_H
#define COMMON_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/httpc.h"
#include "common/metrics.h"
#include "common/trace.h"

/*
 * Reads the environment, builds the resource (service: the name the service gives itself,
 * see trace_resource_detect()), installs the tracer provider and starts the exporters.
 * Exits with status 2 on a malformed OTEL_* value. Returns 0, or ERR_CONFLICT when already
 * initialized.
 */
int otlp_init(const char *service);
/*
 * Flushes pending spans (within OTEL_BSP_EXPORT_TIMEOUT), pushes the metrics one last time
 * (within OTEL_METRIC_EXPORT_TIMEOUT) and frees everything. No-op when not initialized.
 */
void otlp_shutdown(void);
/* Exports the metrics now (tools and tests). 0, or a negative ERR_* (also when disabled). */
int otlp_push_metrics(void);
/* The resource of the running instance, or NULL before otlp_init(). */
const struct trace_resource *otlp_resource(void);

/*
 * The export URL for one signal ("traces", "metrics"): signal_url as-is when set (an empty
 * path becomes "/"), else base (NULL = http://localhost:4318) with its trailing '/'s removed
 * plus "/v1/<signal>". Appends to out; returns 0 or ERR_BAD_REQUEST (not http(s)://host).
 */
int otlp_endpoint_url(const char *base, const char *signal_url, const char *signal,
		      struct buf *out);
/*
 * Parses an OTEL_EXPORTER_OTLP_HEADERS value into the empty list out (header_list_parse(): 
 * k=v,k2=v2; OWS trimmed; key and value percent-decoded; empty members skipped). Returns 0,
 * or ERR_BAD_REQUEST with out left empty for a member without '=', an empty or non-token
 * key, a bad escape, or CR/LF/NUL in a value.
 */
int otlp_parse_headers(const char *text, struct header_list *out);
/*
 * A Retry-After value in milliseconds from now_s (seconds since the epoch): delta-seconds
 * or an HTTP-date in any of RFC 9110's three forms ("Sun, 06 Nov 1994 08:49:37 GMT", the
 * obsolete "Sunday, 06-Nov-94 08:49:37 GMT" and "Sun Nov  6 08:49:37 1994"; a past date
 * gives 0). -1 if invalid.
 */
long long otlp_retry_after_ms(const char *value, long long now_s);
/*
 * The wait before export attempt attempt+1 (0-based): 1 s * 1.5^attempt capped at 5 s, put
 * into [d/2, d] by rnd (jitter). After a 429 or 503 with a Retry-After (raw header value, or
 * NULL), the longer of that and the backoff: a "Retry-After: 0" or a date already past never
 * makes the exporter retry at once.
 */
long long otlp_backoff_ms(int attempt, int status, const char *retry_after, long long now_s,
			  uint32_t rnd);

/* Encodes an ExportTraceServiceRequest with spans[0..n) under res; appends to out. 0 or
 * ERR_TOO_LARGE. */
int otlp_encode_spans(const struct trace_resource *res, struct trace_span *const *spans, size_t n,
		      struct buf *out);
/*
 * Encodes an ExportMetricsServiceRequest with every series of reg (metrics_walk()) under res,
 * start_ns and now_ns as the data points' start and sample times. Appends to out. 0 or
 * ERR_TOO_LARGE.
 */
int otlp_encode_metrics(const struct trace_resource *res, struct metrics *reg, long long start_ns,
			long long now_ns, struct buf *out);

#endif
