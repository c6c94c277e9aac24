/*
 * metrics.h: counters, gauges and histograms with labels, rendered in the Prometheus text
 * format 0.0.4 (shared/reference/protocols.md §5), and walkable for OTLP export.
 *
 * A registry holds families (struct metric: name, help, type, label names); a family holds
 * series (struct metric_series: one tuple of label values). Families and series live until
 * metrics_free(); pointers to them stay valid, so hot paths look a series up once and keep it.
 *
 * Thread safety: counter and gauge updates are lock-free atomics. A histogram observation
 * holds its series' own mutex for the bucket and the sum (two adds), and a render or walk
 * holds it for the snapshot, so that _sum and _count always describe the same observations
 * (lock-free adds let a scrape see one without the other: 831 of 2000 did under two writers).
 * Looking up a series takes only that family's read lock (a write lock the first time a tuple
 * is seen); there is no global lock on the hot path. Rendering takes each family's read lock
 * in turn.
 *
 * Exemplars: a histogram series keeps, per bucket, the latest observation made with a sampled
 * trace context (metrics_observe_exemplar()): its value, wall-clock time, trace id and span
 * id, for the OTLP export to link a bucket to a trace. The nbounds + 1 slots are allocated
 * with the buckets and owned by the series. Each slot is a seqlock: a writer claims it with
 * one compare-and-swap and skips the exemplar when another writer holds it (exemplars are
 * samples; the observation itself is always counted), so the hot path never blocks; a reader
 * (metrics_exemplar()) never blocks a writer and never returns a torn exemplar. The text
 * format 0.0.4 of metrics_render() has no exemplars: only the OTLP export carries them.
 *
 * Names follow Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*); registering an invalid name,
 * or a name twice with another type or other labels, is a programming error and aborts.
 * Registering the same name again with the same shape returns the existing family.
 */
#ifndef COMMON_METRICS_H
#define COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct metrics;
struct metric;
struct metric_series;
struct trace_context;

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

/* Label values or names: a NULL-terminated array, e.g. METRIC_LABELS("GET", "/books"). */
#define METRIC_LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define METRIC_NO_LABELS   ((const char *const *)NULL)

/* The semantic-convention buckets for http.server.request.duration, in seconds (14 bounds). */
extern const double metrics_http_duration_buckets[];
extern const size_t metrics_http_duration_nbuckets;

/*
 * The process-wide registry every service renders on GET /metrics, created on first use.
 * It is never freed: it stays reachable from a static pointer until exit, so LeakSanitizer
 * does not report it, and threads still updating metrics during exit stay safe.
 * metrics_free(metrics_default()) is a no-op.
 */
struct metrics *metrics_default(void);
struct metrics *metrics_new(void);
/* Frees reg with every family and series (NULL and the default registry are ignored). */
void metrics_free(struct metrics *reg);

struct metric *metrics_counter(struct metrics *reg, const char *name, const char *help,
			       const char *const *label_names);
struct metric *metrics_gauge(struct metrics *reg, const char *name, const char *help,
			     const char *const *label_names);
/* bounds: strictly increasing upper bounds, without +Inf (added on rendering). Copied. */
struct metric *metrics_histogram(struct metrics *reg, const char *name, const char *help,
				 const char *const *label_names, const double *bounds,
				 size_t nbounds);

/*
 * The series for these label values (as many as the family has label names; NULL for none).
 * Values are copied. Created on first use. A family without labels has its one series from
 * registration on (so it renders 0 at once); a labelled family appears once it has a series.
 */
struct metric_series *metrics_series(struct metric *m, const char *const *values);

/*
 * Registers a counter with one label and makes one series per value at once (so each renders
 * 0 from the start): *out[i] becomes the series of values[i] (NULL-terminated; out has as many
 * entries). For counters whose label takes a fixed set of values, such as an outcome.
 */
void metrics_counter_each(struct metrics *reg, const char *name, const char *help,
			  const char *label, const char *const *values,
			  struct metric_series **const *out);

/* The value of every label of the overflow series of metrics_series_capped(). */
#define METRIC_OVERFLOW_VALUE "other"
/* The longest label value metrics_series_capped() keeps (longer ones go to the overflow). */
#define METRIC_MAX_VALUE_BYTES 256

/*
 * metrics_series() for label values that come from input (an event's attribute, a peer's
 * answer), so that no input can grow the family without bound: the family keeps at most
 * max_series series of its own; a new tuple beyond them, or one with a value longer than
 * METRIC_MAX_VALUE_BYTES, is counted in the overflow series, whose every label value is
 * METRIC_OVERFLOW_VALUE. The overflow series is the one series past max_series.
 */
struct metric_series *metrics_series_capped(struct metric *m, const char *const *values,
					    size_t max_series);

void metrics_inc(struct metric_series *s);
void metrics_add(struct metric_series *s, double v);	 /* counters: v >= 0 (else ignored) */
void metrics_set(struct metric_series *s, double v);	 /* gauges */
void metrics_observe(struct metric_series *s, double v); /* histograms */
/*
 * metrics_observe() that also makes v the exemplar of its bucket when ctx is a valid, sampled
 * context (trace.h; its ids are copied, ctx is not kept). ctx NULL or not sampled: exactly
 * metrics_observe(). Callers pass the context of a span that records (is exported), so that
 * the exemplar links to a trace that exists. The exemplar is lock-free, the observation
 * as metrics_observe(); safe from any thread.
 */
void metrics_observe_exemplar(struct metric_series *s, double v, const struct trace_context *ctx);
/* The current value of a counter or gauge series (a histogram's sum). */
double metrics_value(const struct metric_series *s);

/*
 * Callback run before each render/walk, to refresh gauges that are read on demand. It runs
 * without any registry lock (it may register families and create series). Registering the
 * same (fn, arg) pair again is a no-op.
 */
typedef void (*metrics_collect_fn)(struct metrics *reg, void *arg);
void metrics_on_collect(struct metrics *reg, metrics_collect_fn fn, void *arg);

/*
 * Registers process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds and
 * process_start_time_seconds, refreshed from /proc on every collect.
 */
void metrics_register_process(struct metrics *reg);

/* Appends the whole registry in the text format 0.0.4. Returns 0 or ERR_TOO_LARGE. */
int metrics_render(struct metrics *reg, struct buf *out);
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A consistent-enough snapshot of one series, for exporters. */
struct metric_point {
	const char *const *label_names; /* NULL-terminated */
	const char *const *label_values;
	double value;	      /* counter/gauge */
	uint64_t count;	      /* histogram */
	double sum;	      /* histogram */
	const double *bounds; /* histogram: nbounds upper bounds */
	size_t nbounds;
	const uint64_t *bucket_counts;	    /* histogram: nbounds + 1, NOT cumulative */
	const struct metric_series *series; /* the series itself, for metrics_exemplar() */
};

/* A copy of one bucket's exemplar. */
struct metric_exemplar {
	double value;
	long long time_ns; /* CLOCK_REALTIME, ns since the epoch (clock_real_ns()) */
	uint8_t trace_id[16];
	uint8_t span_id[8];
};

/*
 * Copies the exemplar of bucket (0..nbounds, nbounds being +Inf) of histogram series s into
 * *out. Returns 1, or 0 when there is none: not a histogram, bucket out of range, no sampled
 * observation yet, or (rarely) a writer that kept the slot busy for the whole read; *out is
 * then untouched. Safe from any thread, concurrently with observers.
 */
int metrics_exemplar(const struct metric_series *s, size_t bucket, struct metric_exemplar *out);

typedef void (*metrics_visit_fn)(const char *name, const char *help, enum metric_type type,
				 const struct metric_point *pt, void *arg);
/*
 * Runs the collect callbacks, then calls visit once per series, in registration and creation
 * order. visit runs under the registry and family locks: it must not register families or
 * create series. pt and everything it points to are valid only during the call.
 */
void metrics_walk(struct metrics *reg, metrics_visit_fn visit, void *arg);

#endif
