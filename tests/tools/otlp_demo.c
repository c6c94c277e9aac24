/*
 * otlp_demo: creates spans and metrics and exports them with otlp.h, for
 * tests/integration/otlp_export.test.mjs. Configured by the standard OTEL_* variables.
 *
 *   otlp_demo burst N   N traces (a SERVER span with a CLIENT child carrying every attribute
 *                       type, an event and an error status), a counter, a gauge and a
 *                       histogram; then otlp_shutdown() and exit 0. Prints one JSON line:
 *                       {"traces":N,"spans":2N,"trace_ids":[...first 8...]}
 *   otlp_demo loop      ends INTERNAL spans in a loop (one every DEMO_SPAN_INTERVAL_US
 *                       microseconds, default 0 = as fast as possible) until SIGTERM/SIGINT,
 *                       printing every 200 ms {"created":N,"dropped":D,"rate":R} (spans per
 *                       second since the last line), then {"final":true,"created":N} after
 *                       the last span and before otlp_shutdown().
 *
 * DEMO_TRACEPARENT, when set, is the remote parent of the burst's server spans.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/otlp.h"
#include "common/trace.h"

static const double demo_bounds[] = { 0.1, 1.0 };

static void fill_metrics(long n)
{
	struct metrics *reg = metrics_default();
	struct metric *c, *g, *h;
	struct metric_series *hs;

	c = metrics_counter(reg, "demo_requests_total", "Requests handled by the demo.",
			    METRIC_LABELS("method"));
	metrics_add(metrics_series(c, METRIC_LABELS("GET")), (double)n);
	metrics_inc(metrics_series(c, METRIC_LABELS("POST")));
	g = metrics_gauge(reg, "demo_queue_depth", "Queue depth.", NULL);
	metrics_set(metrics_series(g, NULL), 7);
	h = metrics_histogram(reg, "demo_duration_seconds", "Durations.", METRIC_LABELS("route"),
			      demo_bounds, 2);
	hs = metrics_series(h, METRIC_LABELS("/books"));
	metrics_observe(hs, 0.05);
	metrics_observe(hs, 0.5);
	metrics_observe(hs, 5);
}

static void one_trace(const struct trace_context *remote, long i, char *tid_out)
{
	struct trace_span *srv, *cli;
	struct trace_attr ev = { .key = "attempt", .type = TRACE_ATTR_INT, .v.i = 2 };

	trace_span_start("GET /books/{id}", TRACE_SPAN_SERVER, remote, &srv);
	trace_span_enter(srv);
	trace_span_set_str(srv, "http.request.method", "GET");
	trace_span_set_str(srv, "http.route", "/books/{id}");
	trace_span_set_int(srv, "http.response.status_code", 200);
	log_info("handling demo request %ld", i);
	trace_span_start("SELECT books", TRACE_SPAN_CLIENT, NULL, &cli);
	trace_span_set_str(cli, "db.system.name", "postgresql");
	trace_span_set_int(cli, "demo.index", i);
	trace_span_set_double(cli, "demo.ratio", 0.25);
	trace_span_set_bool(cli, "demo.flag", 1);
	trace_span_add_event(cli, "retry", &ev, 1);
	trace_span_set_status(cli, TRACE_STATUS_ERROR, "boom");
	trace_span_end(cli);
	trace_span_set_status(srv, TRACE_STATUS_OK, NULL);
	if (tid_out)
		trace_context_hex(trace_span_context(srv), tid_out, NULL);
	trace_span_end(srv);
}

static int burst(long n)
{
	struct trace_context remote, *parent = NULL;
	const char *tp = getenv("DEMO_TRACEPARENT");
	char ids[8][33] = { { 0 } };

	if (tp && *tp) {
		struct http_header h = { "traceparent", tp };

		if (trace_context_extract(&h, 1, &remote) == 0)
			parent = &remote;
	}
	fill_metrics(n);
	for (long i = 0; i < n; i++)
		one_trace(parent, i, i < 8 ? ids[i] : NULL);
	printf("{\"traces\":%ld,\"spans\":%ld,\"trace_ids\":[", n, 2 * n);
	for (long i = 0; i < n && i < 8; i++)
		printf("%s\"%s\"", i ? "," : "", ids[i]);
	printf("]}\n");
	fflush(stdout);
	return 0;
}

static atomic_long created;
static atomic_int stop;

static void *spinner(void *arg)
{
	long interval_us = *(long *)arg;
	struct timespec ts = { interval_us / 1000000, (interval_us % 1000000) * 1000 };

	while (!atomic_load(&stop)) {
		struct trace_span *s;

		trace_span_start("loop", TRACE_SPAN_INTERNAL, NULL, &s);
		trace_span_set_int(s, "n", atomic_load(&created));
		trace_span_end(s);
		atomic_fetch_add(&created, 1);
		if (interval_us > 0)
			nanosleep(&ts, NULL);
	}
	return NULL;
}

static void sum_dropped(const char *name, const char *help, enum metric_type type,
			const struct metric_point *pt, void *arg)
{
	(void)help;
	(void)type;
	if (!strcmp(name, "otel_spans_dropped_total"))
		*(double *)arg += pt->value;
}

static int loop(void)
{
	const char *iv = getenv("DEMO_SPAN_INTERVAL_US");
	long interval = iv ? strtol(iv, NULL, 10) : 0, last = 0;
	struct timespec tick = { 0, 200 * 1000000L };
	sigset_t set;
	pthread_t th;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (pthread_create(&th, NULL, spinner, &interval))
		return 1;
	while (sig != SIGTERM && sig != SIGINT) {
		double dropped = 0;
		long now;

		sig = sigtimedwait(&set, NULL, &tick);
		now = atomic_load(&created);
		metrics_walk(metrics_default(), sum_dropped, &dropped);
		printf("{\"created\":%ld,\"dropped\":%.0f,\"rate\":%ld}\n", now, dropped,
		       (now - last) * 5);
		fflush(stdout);
		last = now;
	}
	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	printf("{\"final\":true,\"created\":%ld}\n", atomic_load(&created));
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	sigset_t set;
	int rc;

	if (argc < 2 || (strcmp(argv[1], "burst") != 0 && strcmp(argv[1], "loop") != 0)) {
		fprintf(stderr, "usage: otlp_demo burst N | otlp_demo loop\n");
		return 2;
	}
	/* block the stop signals before any thread exists (signals.h pattern) */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_init("otlp-demo", getenv("LOG_LEVEL"));
	otlp_init("otlp-demo");
	if (!strcmp(argv[1], "burst"))
		rc = burst(argc > 2 ? strtol(argv[2], NULL, 10) : 1);
	else
		rc = loop();
	otlp_shutdown();
	return rc;
}
