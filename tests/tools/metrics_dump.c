/*
 * metrics_dump: fills the default registry with a representative set of metrics (labels
 * that need escaping, a gauge, histograms with the HTTP buckets, the process metrics) and
 * prints metrics_render() to stdout, for tests/integration/metrics_text.test.mjs to feed to
 * `promtool check metrics`.
 *
 *   metrics_dump            exit 0 after printing
 */
#include <stdio.h>
#include <stdlib.h>

#include "common/buf.h"
#include "common/metrics.h"
#include "common/xalloc.h"

/* Label values that exercise every escape, plus UTF-8 and a byte that is not UTF-8. */
static const char *const tricky[] = {
	"plain",
	"with \"quotes\"",
	"back\\slash",
	"new\nline",
	"all \\\" \n at once\\",
	"unicode caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x93\x9A",
	"invalid \xFF byte",
	"",
};

static void fill(struct metrics *reg)
{
	struct metric *events, *depth, *dur, *lag;
	size_t i;

	events = metrics_counter(reg, "bookstore_events_total",
				 "Events handled, by \"type\" (help with \\ and\nnewline).",
				 METRIC_LABELS("type", "outcome"));
	for (i = 0; i < ARRAY_SIZE(tricky); i++)
		metrics_add(metrics_series(events, METRIC_LABELS(tricky[i], "ok")), (double)i + 1);
	metrics_add(metrics_series(events, METRIC_LABELS("plain", "failed")), 0.5);

	depth = metrics_gauge(reg, "bookstore_queue_depth", "Events waiting in the queue.", NULL);
	metrics_set(metrics_series(depth, NULL), 17);

	dur = metrics_histogram(
	    reg, "http_server_request_duration_seconds", "Duration of HTTP server requests.",
	    METRIC_LABELS("http_request_method", "http_route", "http_response_status_code"),
	    metrics_http_duration_buckets, metrics_http_duration_nbuckets);
	for (i = 0; i < 40; i++)
		metrics_observe(metrics_series(dur, METRIC_LABELS("GET", "/books", "200")),
				(double)i * 0.013);
	metrics_observe(metrics_series(dur, METRIC_LABELS("GET", "/books", "200")), 0.005);
	metrics_observe(metrics_series(dur, METRIC_LABELS("GET", "/books", "200")), 42);
	metrics_observe(metrics_series(dur, METRIC_LABELS("POST", "/books/{id}", "503")), 10);

	lag = metrics_histogram(reg, "bookstore_delivery_lag_seconds", "Delivery lag.", NULL,
				metrics_http_duration_buckets, metrics_http_duration_nbuckets);
	(void)lag; /* no observation: all buckets 0 */

	metrics_register_process(reg);
}

int main(void)
{
	struct metrics *reg = metrics_default();
	struct buf out;
	int rc;

	fill(reg);
	buf_init(&out, BUF_NOCAP);
	rc = metrics_render(reg, &out);
	if (rc == 0 && fwrite(out.data, 1, out.len, stdout) != out.len)
		rc = -1;
	buf_release(&out);
	if (fflush(stdout) || rc) {
		fprintf(stderr, "metrics_dump: cannot print the metrics\n");
		return 1;
	}
	return 0;
}
