/*
 * trace.h: spans, sampling, the resource, and the batch span processor.
 *
 * One tracer provider per process (global, like log.h): otlp_init() (otlp.h) configures it
 * from the OTEL_* environment and plugs in the exporter; tests may call trace_init() with an
 * explicit struct trace_config instead. trace_shutdown() flushes and frees it. Before
 * trace_init() (or with OTEL_SDK_DISABLED=true) spans are non-recording and record or export
 * nothing. As the OpenTelemetry API without an SDK, such a span under a parent is transparent:
 * its context is the parent's (same span id, flags and tracestate), so the caller's context
 * goes on unchanged. A root still gets ids, so that its log records can be told apart, but
 * its context is local: trace_context_inject() writes nothing for it, and the next hop starts
 * its own trace (flags 00 from here would make its parent-based sampler drop it).
 *
 * Context. struct trace_context is a value type (copy it freely): trace id, span id, flags,
 * the tracestate string (normalized, at most TRACESTATE_PROPAGATE chars) and is_remote.
 * trace_context_extract() reads it from request headers with this precedence:
 *   1. the `traceparent` header(s): when present at all, they alone decide (one valid value →
 *      that context with `tracestate`; two headers or an invalid value → no context, the trace
 *      restarts and tracestate is dropped);
 *   2. only when no `traceparent` header exists: `ce-traceparent`/`ce-tracestate` (the
 *      CloudEvents distributed-tracing extension in binary mode, shared/reference §2.4).
 * trace_context_inject() produces the outgoing `traceparent` (+ `tracestate`) headers.
 *
 * Spans. trace_span_start() creates a span (child of parent, or of the thread's current span
 * when parent is NULL, or a root); trace_span_end() stamps the end time and hands it to the
 * batch processor (an O(1) enqueue into a bounded queue that never blocks the caller; when the
 * queue is full the span is dropped and counted in otel_spans_dropped_total{reason=
 * "queue_full"}). After trace_span_end() the span belongs to the processor: do not touch it.
 * A span is used by one thread at a time. Every trace_span_* function accepts NULL (no-op).
 *
 * Sampling happens once at start. Unsampled spans are non-recording: attributes, events and
 * status are ignored, nothing is exported, but trace_span_context() still propagates (flags 00).
 *
 * Current span and logs. trace_span_start()/trace_span_end() do NOT change the thread's
 * current span. trace_span_enter(span) makes span current on the calling thread (log records
 * then carry its trace_id/span_id via log_set_trace()) and trace_span_exit(span) restores the
 * previous one; calls must nest. A server handler that suspends exits before returning and
 * the thread that resumes enters again.
 */
#ifndef COMMON_TRACE_H
#define COMMON_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "common/header.h"
#include "common/traceparent.h"

#ifndef BOOKSTORE_VERSION
#define BOOKSTORE_VERSION "dev"
#endif

struct trace_context {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t flags; /* TRACE_FLAG_SAMPLED */
	int is_remote; /* extracted from a request (1) or created in this process (0) */
	int local;     /* a root made with the SDK off: ids for the logs, never injected */
	char tracestate[TRACESTATE_PROPAGATE + 1];
};

/* Whether ctx has a non-zero trace id and span id. */
int trace_context_valid(const struct trace_context *ctx);
/* The ids as lowercase hex; either output may be NULL. */
void trace_context_hex(const struct trace_context *ctx, char trace_id[33], char span_id[17]);
/*
 * Extracts the context from request headers (see Context above). Returns 0 and a valid
 * *out with is_remote = 1, or ERR_NOT_FOUND (no usable traceparent: *out zeroed).
 */
int trace_context_extract(const struct http_header *headers, size_t n, struct trace_context *out);
/*
 * The one traceparent-to-context conversion: the remote context of the traceparent values
 * tp[0..ntp) (W3C rules for repeated values, traceparent.h) with the tracestate values
 * ts[0..nts) (dropped when invalid). Returns 0 and *out with is_remote = 1, or ERR_NOT_FOUND
 * (no usable traceparent; *out zeroed).
 */
int trace_context_parse(const char *const *tp, size_t ntp, const char *const *ts, size_t nts,
			struct trace_context *out);
/* trace_context_parse() of one traceparent and one tracestate value (either may be NULL). */
int trace_context_from(const char *traceparent, const char *tracestate, struct trace_context *out);

/* Storage for the outgoing headers of one request; headers[] point into it and into ctx. */
struct trace_inject {
	char traceparent[TRACEPARENT_LEN + 1];
	struct http_header headers[2];
};
/*
 * Fills inj->headers with traceparent (and tracestate when non-empty) for ctx. Returns how
 * many headers were filled (0 when ctx is not valid, else 1 or 2). inj->headers[1].value points
 * into ctx->tracestate, so ctx must outlive the use of the headers.
 */
size_t trace_context_inject(const struct trace_context *ctx, struct trace_inject *inj);

/* ---- sampler --------------------------------------------------------------------------------- */

enum trace_sampler_kind {
	TRACE_SAMPLER_ALWAYS_ON,
	TRACE_SAMPLER_ALWAYS_OFF,
	TRACE_SAMPLER_RATIO,
	TRACE_SAMPLER_PARENT_ALWAYS_ON, /* the default */
	TRACE_SAMPLER_PARENT_ALWAYS_OFF,
	TRACE_SAMPLER_PARENT_RATIO,
};

struct trace_sampler {
	enum trace_sampler_kind kind;
	double ratio; /* for the ratio samplers, 0..1 */
};

/*
 * Parses OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG values (NULL or "" = unset). An unknown
 * name logs a warning and gives parentbased_always_on; an invalid arg (not a number in 0..1)
 * logs a warning and is ignored (ratio 1.0). Always fills *out.
 */
void trace_sampler_parse(const char *name, const char *arg, struct trace_sampler *out);
/*
 * The sampling decision for a new span with this trace id. parent is NULL or invalid for a
 * root. Parent-based samplers follow the parent's sampled flag (remote or local), and use
 * their root sampler only for roots. The ratio test takes the last 8 bytes of the trace id as
 * a big-endian integer, drops the lowest bit, and samples when it is below ratio * 2^63, so
 * a trace gets the same decision in every service using the same ratio.
 */
int trace_sampler_should_sample(const struct trace_sampler *s, const struct trace_context *parent,
				const uint8_t trace_id[16]);

/* ---- resource -------------------------------------------------------------------------------- */

struct trace_resource_attr {
	char *key;
	char *value;
};

/* Resource attributes, all strings, keys unique. Owned by the struct. */
struct trace_resource {
	struct trace_resource_attr *attrs;
	size_t n, alloc;
};

/*
 * Builds the resource from the environment. service.name comes from, first found:
 * OTEL_SERVICE_NAME, service.name in OTEL_RESOURCE_ATTRIBUTES, the name the service passes
 * (service, may be NULL), K_SERVICE, else "unknown_service:<exe>". Also:
 *   - every other OTEL_RESOURCE_ATTRIBUTES pair (k=v,k2=v2, percent-decoded; on any error,
 *     such as a member without '=', an empty key or a bad %XX, the whole variable is discarded
 *     and a warning logged);
 *   - service.version = BOOKSTORE_VERSION ("dev" unless the build passes -DBOOKSTORE_VERSION);
 *   - service.instance.id = a random UUID per process;
 *   - Knative Serving (shared/reference §1.12), as the Cloud Run style FaaS conventions:
 *     K_SERVICE → faas.name, K_REVISION → faas.version, K_CONFIGURATION →
 *     knative.configuration.name (no semantic convention exists for it);
 *   - telemetry.sdk.name = "bookstore-c", telemetry.sdk.language = "c",
 *     telemetry.sdk.version = BOOKSTORE_VERSION.
 * Attributes set explicitly by OTEL_RESOURCE_ATTRIBUTES win over the detected ones.
 */
void trace_resource_detect(struct trace_resource *res, const char *service);
/* Decodes OTEL_RESOURCE_ATTRIBUTES text into res (added / replaced). 0 or ERR_BAD_REQUEST
 * (res unchanged on error). */
int trace_resource_parse(struct trace_resource *res, const char *text);
/* Adds or replaces key (both copied). */
void trace_resource_set(struct trace_resource *res, const char *key, const char *value);
/* The value of key, or NULL. */
const char *trace_resource_get(const struct trace_resource *res, const char *key);
void trace_resource_release(struct trace_resource *res);

/* ---- spans ----------------------------------------------------------------------------------- */

enum trace_span_kind {
	TRACE_SPAN_INTERNAL = 1, /* values as OTLP SpanKind */
	TRACE_SPAN_SERVER = 2,
	TRACE_SPAN_CLIENT = 3,
	TRACE_SPAN_PRODUCER = 4,
	TRACE_SPAN_CONSUMER = 5,
};

enum trace_status { TRACE_STATUS_UNSET = 0, TRACE_STATUS_OK = 1, TRACE_STATUS_ERROR = 2 };

enum trace_attr_type { TRACE_ATTR_STRING, TRACE_ATTR_INT, TRACE_ATTR_DOUBLE, TRACE_ATTR_BOOL };

/* An attribute. In struct trace_span the strings are owned by the span. */
struct trace_attr {
	const char *key;
	enum trace_attr_type type;
	union {
		const char *s;
		long long i;
		double d;
		int b;
	} v;
};

struct trace_event {
	char *name;
	long long time_ns;
	struct trace_attr *attrs;
	size_t nattrs;
	unsigned dropped_attrs;
};

/* What a span holds without further allocation: attributes, and bytes of copied strings. */
#define TRACE_SPAN_INLINE_ATTRS 16
#define TRACE_SPAN_POOL		512

/* What the SDK decided for a span when it started (trace_span_start()). */
enum trace_sampling {
	TRACE_SDK_OFF = 0, /* no decision: the SDK is off; the context keeps the parent's flags */
	TRACE_DROPPED,	   /* the sampler said no: non-recording, its context has flags 00 */
	TRACE_RECORDED,	   /* sampled: attributes and events are kept, and it is exported */
};

/*
 * A span. The fields are for exporters (otlp.c), read-only, after trace_span_end(); code that
 * creates spans uses the functions below. A recording span keeps its first
 * TRACE_SPAN_INLINE_ATTRS attributes in attrs_inline and copies its name, attribute keys and
 * string values, event names and status message into pool while they fit (a bump allocator,
 * never reused), so a typical span is one allocation; what does not fit is malloc'd.
 */
struct trace_span {
	struct trace_context ctx;
	uint8_t parent_span_id[8];
	int has_parent, parent_remote;
	char *name;
	enum trace_span_kind kind;
	long long start_ns, end_ns; /* CLOCK_REALTIME, ns since the epoch */
	struct trace_attr *attrs;
	size_t nattrs, attrs_alloc;
	unsigned dropped_attrs;
	struct trace_event *events;
	size_t nevents, events_alloc;
	unsigned dropped_events;
	enum trace_status status;
	char *status_msg;
	enum trace_sampling sampling;
	struct trace_span *prev_current; /* trace_span_enter() */
	struct trace_attr attrs_inline[TRACE_SPAN_INLINE_ATTRS];
	size_t pool_used;
	char pool[TRACE_SPAN_POOL];
};

/*
 * Starts a span named name (copied) of kind. parent: the parent context (remote when
 * extracted from a request: parent->is_remote), or NULL for the thread's current span (see
 * trace_span_enter()), or a root when there is none. Pass an invalid (zeroed) context to force
 * a root. Returns 0 and *out (never fails for a valid name; ERR_BAD_REQUEST for NULL name).
 */
int trace_span_start(const char *name, enum trace_span_kind kind,
		     const struct trace_context *parent, struct trace_span **out);
/* Whether the span records (was sampled and the SDK is enabled). */
int trace_span_recording(const struct trace_span *span);
/* The span's own context, to inject downstream or to parent children. */
const struct trace_context *trace_span_context(const struct trace_span *span);

/*
 * Attributes (key and string value copied). Setting an existing key replaces its value; a new
 * key past OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT is dropped and counted (dropped_attributes_count).
 */
void trace_span_set_str(struct trace_span *span, const char *key, const char *value);
void trace_span_set_int(struct trace_span *span, const char *key, long long value);
void trace_span_set_double(struct trace_span *span, const char *key, double value);
void trace_span_set_bool(struct trace_span *span, const char *key, int value);
void trace_span_set_attr(struct trace_span *span, const struct trace_attr *attr);
/* Renames the span (e.g. once the route is known). */
void trace_span_set_name(struct trace_span *span, const char *name);
/*
 * Adds an event now, with nattrs attributes (copied; may be NULL/0). Past
 * OTEL_SPAN_EVENT_COUNT_LIMIT events it is dropped and counted.
 */
void trace_span_add_event(struct trace_span *span, const char *name, const struct trace_attr *attrs,
			  size_t nattrs);
/*
 * Sets the status; msg (copied, may be NULL) is kept only for TRACE_STATUS_ERROR. As the
 * OpenTelemetry API has it, setting TRACE_STATUS_UNSET is ignored, and once TRACE_STATUS_OK
 * is set every later call is (Ok is final); Error may be set again, or replaced by Ok.
 */
void trace_span_set_status(struct trace_span *span, enum trace_status status, const char *msg);
/* Ends the span now and hands it to the processor; span is dead after this call. */
void trace_span_end(struct trace_span *span);

/* Makes span the calling thread's current span (and its ids the log context). */
void trace_span_enter(struct trace_span *span);
/*
 * Restores the current span that was current before trace_span_enter(span); nothing when span
 * is NULL or not the calling thread's current span.
 */
void trace_span_exit(struct trace_span *span);
/* Makes log records of this thread carry span's ids (NULL: none); the current span stays. */
void trace_log_span(const struct trace_span *span);
/* The calling thread's current span, or NULL. */
struct trace_span *trace_current(void);

/* ---- provider and batch span processor ------------------------------------------------------- */

/*
 * Exports n ended, recording spans. Called on the processor thread, one batch at a time; the
 * spans are freed after it returns. It must return by deadline_ms (CLOCK_MONOTONIC, ms).
 * Returns 0; a positive count of spans the receiver took the batch without (an OTLP partial
 * success: counted in otel_spans_dropped_total{reason="rejected"}); or a negative ERR_* when
 * the batch was lost (the spans are counted in otel_spans_dropped_total{reason=
 * "export_failed"}).
 */
typedef int (*trace_export_fn)(void *arg, struct trace_span *const *spans, size_t n,
			       long long deadline_ms);

struct trace_config {
	int disabled;		      /* OTEL_SDK_DISABLED */
	struct trace_sampler sampler; /* OTEL_TRACES_SAMPLER(_ARG) */
	size_t max_attrs;	      /* OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT [128] */
	size_t max_events;	      /* OTEL_SPAN_EVENT_COUNT_LIMIT [128] */
	size_t queue_size;	      /* OTEL_BSP_MAX_QUEUE_SIZE [2048] */
	size_t batch_size;	      /* OTEL_BSP_MAX_EXPORT_BATCH_SIZE [512], <= queue_size */
	long long schedule_delay_ms;  /* OTEL_BSP_SCHEDULE_DELAY [5000] */
	long long export_timeout_ms;  /* OTEL_BSP_EXPORT_TIMEOUT [30000] */
	trace_export_fn export;	      /* NULL: recording spans are dropped at end (exporter none) */
	void *export_arg;
};

/* The defaults in brackets above, parentbased_always_on, no exporter. */
void trace_config_defaults(struct trace_config *cfg);
/*
 * Installs the global provider and starts the processor thread (when export is set).
 * Returns 0, or ERR_CONFLICT if already initialized, ERR_BAD_REQUEST for a bad config.
 * Registers otel_spans_dropped_total{reason} in metrics_default().
 */
int trace_init(const struct trace_config *cfg);
/*
 * Exports every span ended before the call, waiting at most timeout_ms. Returns 0, or
 * ERR_TIMEOUT. For tests and tools.
 */
int trace_flush(long long timeout_ms);
/*
 * Stops the provider: spans ended from now on are dropped silently; the queued ones are
 * exported within export_timeout_ms, then everything is freed. Spans still open must not be
 * ended after this. Safe to call when not initialized; trace_init() may be called again.
 */
void trace_shutdown(void);

#endif
