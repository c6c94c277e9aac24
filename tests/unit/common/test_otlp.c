#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../unit.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/metrics.h"
#include "common/otlp.h"
#include "common/trace.h"
#include "common/xalloc.h"
#include "otlp.pb-c.h"

/* ---- endpoint URLs --------------------------------------------------------------------------- */

struct url_row {
	const char *base, *signal_url, *signal;
	const char *want; /* NULL = error */
};

static const struct url_row url_rows[] = {
	{ NULL, NULL, "traces", "http://localhost:4318/v1/traces" },
	{ "", "", "metrics", "http://localhost:4318/v1/metrics" },
	{ "http://collector:4318", NULL, "traces", "http://collector:4318/v1/traces" },
	{ "http://collector:4318/", NULL, "traces", "http://collector:4318/v1/traces" },
	{ "http://collector:4318//", NULL, "metrics", "http://collector:4318/v1/metrics" },
	{ "https://c.example/otlp", NULL, "traces", "https://c.example/otlp/v1/traces" },
	{ "https://c.example/otlp/", NULL, "traces", "https://c.example/otlp/v1/traces" },
	{ "http://base", "http://x:1/custom/path", "traces", "http://x:1/custom/path" },
	{ "http://base", "http://x:1/custom/path/", "traces", "http://x:1/custom/path/" },
	{ NULL, "http://x:1", "traces", "http://x:1/" },
	{ NULL, "http://x:1?q=1", "traces", "http://x:1/?q=1" },
	{ NULL, "http://x:1/v1/traces", "metrics", "http://x:1/v1/traces" }, /* as-is */
	{ "ftp://x", NULL, "traces", NULL },
	{ "http://", NULL, "traces", NULL },
	{ "collector:4318", NULL, "traces", NULL },
	{ NULL, "grpc://x", "traces", NULL },
};

Test(otlp, endpoint_urls)
{
	for (size_t i = 0; i < ARRAY_SIZE(url_rows); i++) {
		const struct url_row *r = &url_rows[i];
		struct buf b;
		int rc;

		buf_init(&b, BUF_NOCAP);
		rc = otlp_endpoint_url(r->base, r->signal_url, r->signal, &b);
		if (r->want) {
			cr_assert_eq(rc, 0, "row %zu", i);
			cr_assert_str_eq(b.data, r->want, "row %zu", i);
		} else {
			cr_assert_eq(rc, ERR_BAD_REQUEST, "row %zu", i);
		}
		buf_release(&b);
	}
}

/* ---- headers and Retry-After ----------------------------------------------------------------- */

struct hdr_row {
	const char *in;
	int ok;
	size_t n;
	const char *name0, *value0;
};

static const struct hdr_row hdr_rows[] = {
	{ "api-key=secret", 1, 1, "api-key", "secret" },
	{ " a = 1 , b=2 ,", 1, 2, "a", "1" },
	{ "a=x%20y%2Cz", 1, 1, "a", "x y,z" },
	{ "a=", 1, 1, "a", "" },
	{ "", 1, 0, NULL, NULL },
	{ "a", 0, 0, NULL, NULL },
	{ "=1", 0, 0, NULL, NULL },
	{ "a b=1", 0, 0, NULL, NULL },
	{ "a=%0D%0AInjected: 1", 0, 0, NULL, NULL },
	{ "a=%zz", 0, 0, NULL, NULL },
	{ "a=%00", 0, 0, NULL, NULL },
};

Test(otlp, headers)
{
	for (size_t i = 0; i < ARRAY_SIZE(hdr_rows); i++) {
		const struct hdr_row *r = &hdr_rows[i];
		struct header_list h = HEADER_LIST_INIT;
		int rc = otlp_parse_headers(r->in, &h);

		cr_assert_eq(rc == 0, r->ok, "row %zu", i);
		cr_assert_eq(h.n, r->n, "row %zu", i);
		if (r->name0) {
			cr_assert_str_eq(h.v[0].name, r->name0, "row %zu", i);
			cr_assert_str_eq(h.v[0].value, r->value0, "row %zu", i);
		}
		header_list_release(&h);
	}
}

struct ra_row {
	const char *in;
	long long want;
};

#define NOW 784111777LL /* Sun, 06 Nov 1994 08:49:37 GMT */
static const struct ra_row ra_rows[] = {
	{ "0", 0 },
	{ "1", 1000 },
	{ " 30 ", 30000 },
	{ "Sun, 06 Nov 1994 08:49:37 GMT", 0 },
	{ "Sun, 06 Nov 1994 08:49:47 GMT", 10000 },
	{ "Sun, 06 Nov 1994 08:48:37 GMT", 0 }, /* in the past */
	{ "Mon, 07 Nov 1994 08:49:37 GMT", 86400000 },
	{ "-1", -1 },
	{ "1.5", -1 },
	{ "", -1 },
	{ "Sun, 06 Xyz 1994 08:49:37 GMT", -1 },
	{ "Sun, 06 Nov 1994 08:49:37 UTC", -1 },
	{ "soon", -1 },
	/* RFC 9110 §5.6.7: the two obsolete forms are accepted too */
	{ "Sunday, 06-Nov-94 08:49:47 GMT", 10000 },
	{ "Monday, 07-Nov-94 08:49:37 GMT", 86400000 },
	{ "Sunday, 06-Nov-44 08:49:37 GMT", 18263LL * 86400000 }, /* 2044: 50 years on */
	{ "Sunday, 06-Nov-45 08:49:37 GMT", 0 },		  /* 1945: the past */
	{ "Sun Nov  6 08:49:47 1994", 10000 },
	{ "Mon Nov  7 08:49:37 1994", 86400000 },
	{ "Sun Nov 16 08:49:37 1994", 864000000 },
	{ "Sunday, 06-Nov-94 08:49:37 UTC", -1 },
	{ "Sunday, 06 Nov 94 08:49:37 GMT", -1 },
	{ "Sun Nov 6 08:49:37 1994", -1 },
	{ "Sun Nov  6 08-49-37 1994", -1 },
};

Test(otlp, retry_after)
{
	for (size_t i = 0; i < ARRAY_SIZE(ra_rows); i++)
		cr_assert_eq(otlp_retry_after_ms(ra_rows[i].in, NOW), ra_rows[i].want,
			     "row %zu '%s'", i, ra_rows[i].in);
	cr_assert_eq(otlp_retry_after_ms(NULL, NOW), -1);
}

/*
 * The wait between attempts: jittered backoff, and Retry-After when it asks for longer. A
 * "Retry-After: 0" or a past date used to replace the backoff with 0 ms: the review saw 1032
 * POSTs in 3 s against a collector answering 429.
 */
Test(otlp, backoff_honours_retry_after_but_never_retries_at_once)
{
	cr_assert_eq(otlp_backoff_ms(0, 500, NULL, NOW, 0), 500);
	cr_assert_eq(otlp_backoff_ms(0, 500, NULL, NOW, 500), 1000);
	cr_assert_eq(otlp_backoff_ms(10, 502, NULL, NOW, 0), 2500, "capped at 5 s, jittered");
	cr_assert_eq(otlp_backoff_ms(0, 429, "7", NOW, 0), 7000);
	cr_assert_eq(otlp_backoff_ms(0, 503, "7", NOW, 0), 7000);
	cr_assert_eq(otlp_backoff_ms(0, 502, "7", NOW, 0), 500, "only 429 and 503 carry it");
	cr_assert_eq(otlp_backoff_ms(0, 429, "0", NOW, 0), 500);
	cr_assert_eq(otlp_backoff_ms(0, 429, "Sun, 06 Nov 1994 08:49:37 GMT", NOW, 0), 500);
	cr_assert_eq(otlp_backoff_ms(0, 429, "soon", NOW, 0), 500);
}

/* ---- span encoding --------------------------------------------------------------------------- */

static size_t nexported;
static struct buf encoded;
static struct trace_resource res;

/* The exporter under test: encodes the batch like otlp.c's own exporter does. */
static int encode_export(void *arg, struct trace_span *const *spans, size_t n, long long deadline)
{
	(void)arg;
	(void)deadline;
	nexported += n;
	return otlp_encode_spans(&res, spans, n, &encoded);
}

static const char *kv_string(Otlp__KeyValue **kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i]->key, key) &&
		    kv[i]->value->value_case == OTLP__ANY_VALUE__VALUE_STRING_VALUE)
			return kv[i]->value->string_value;
	return NULL;
}

static const Otlp__AnyValue *kv_get(Otlp__KeyValue **kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i]->key, key))
			return kv[i]->value;
	return NULL;
}

Test(otlp, spans_round_trip)
{
	struct trace_config cfg;
	struct http_header h[] = {
		{ "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" },
		{ "tracestate", "vendor=x" },
	};
	struct trace_context parent;
	struct trace_span *srv, *cli;
	struct trace_attr ev = { .key = "n", .type = TRACE_ATTR_INT, .v.i = -5 };
	Otlp__ExportTraceServiceRequest *req;
	Otlp__ScopeSpans *ss;
	uint8_t srv_id[8];

	buf_init(&encoded, BUF_NOCAP);
	trace_resource_set(&res, "service.name", "unit");
	trace_config_defaults(&cfg);
	cfg.export = encode_export;
	cfg.batch_size = 8;
	cr_assert_eq(trace_init(&cfg), 0);
	cr_assert_eq(trace_context_extract(h, 2, &parent), 0);
	trace_span_start("GET /books", TRACE_SPAN_SERVER, &parent, &srv);
	memcpy(srv_id, srv->ctx.span_id, 8);
	trace_span_set_str(srv, "s", "v");
	trace_span_set_int(srv, "i", 1LL << 40);
	trace_span_set_double(srv, "d", 2.5);
	trace_span_set_bool(srv, "b", 0);
	trace_span_add_event(srv, "evt", &ev, 1);
	trace_span_start("SELECT", TRACE_SPAN_CLIENT, trace_span_context(srv), &cli);
	trace_span_set_status(cli, TRACE_STATUS_ERROR, "db down");
	trace_span_end(cli);
	trace_span_end(srv);
	trace_shutdown();
	cr_assert_eq(nexported, 2);

	req = otlp__export_trace_service_request__unpack(NULL, encoded.len,
							 (const uint8_t *)encoded.data);
	cr_assert_not_null(req);
	cr_assert_eq(req->n_resource_spans, 1);
	cr_assert_str_eq(kv_string(req->resource_spans[0]->resource->attributes,
				   req->resource_spans[0]->resource->n_attributes, "service.name"),
			 "unit");
	ss = req->resource_spans[0]->scope_spans[0];
	cr_assert_str_eq(ss->scope->name, "bookstore");
	cr_assert_eq(ss->n_spans, 2);
	{
		Otlp__Span *c = ss->spans[0], *s = ss->spans[1];
		uint8_t tid[16];

		traceparent_unhex("4bf92f3577b34da6a3ce929d0e0e4736", 16, tid);
		cr_assert_str_eq(c->name, "SELECT");
		cr_assert_eq(c->kind, OTLP__SPAN__SPAN_KIND__SPAN_KIND_CLIENT);
		cr_assert_eq(c->status->code, OTLP__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
		cr_assert_str_eq(c->status->message, "db down");
		cr_assert_eq(c->parent_span_id.len, 8);
		cr_assert(!memcmp(c->parent_span_id.data, srv_id, 8));
		cr_assert_eq(c->flags, 0x101u); /* sampled, has is_remote, local parent */
		cr_assert_str_eq(c->trace_state, "vendor=x");

		cr_assert_str_eq(s->name, "GET /books");
		cr_assert_eq(s->kind, OTLP__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
		cr_assert_eq(s->trace_id.len, 16);
		cr_assert(!memcmp(s->trace_id.data, tid, 16));
		cr_assert_eq(s->span_id.len, 8);
		cr_assert(!memcmp(s->span_id.data, srv_id, 8));
		cr_assert_eq(s->parent_span_id.len, 8);
		cr_assert_eq(s->flags, 0x301u); /* remote parent */
		cr_assert_null(s->status);	/* unset: omitted */
		cr_assert_geq(s->end_time_unix_nano, s->start_time_unix_nano);
		cr_assert_eq(s->n_attributes, 4);
		cr_assert_str_eq(kv_string(s->attributes, 4, "s"), "v");
		cr_assert_eq(kv_get(s->attributes, 4, "i")->int_value, 1LL << 40);
		cr_assert_eq(kv_get(s->attributes, 4, "d")->double_value, 2.5);
		cr_assert_eq(kv_get(s->attributes, 4, "b")->value_case,
			     OTLP__ANY_VALUE__VALUE_BOOL_VALUE);
		cr_assert_eq(kv_get(s->attributes, 4, "b")->bool_value, 0);
		cr_assert_eq(s->n_events, 1);
		cr_assert_str_eq(s->events[0]->name, "evt");
		cr_assert_eq(kv_get(s->events[0]->attributes, 1, "n")->int_value, -5);
	}
	otlp__export_trace_service_request__free_unpacked(req, NULL);
	buf_release(&encoded);
	trace_resource_release(&res);
}

Test(otlp, an_empty_span_encodes)
{
	struct trace_span s = { 0 };
	struct trace_span *list[] = { &s };
	Otlp__ExportTraceServiceRequest *req;
	struct buf b;

	s.ctx.trace_id[0] = 1;
	s.ctx.span_id[0] = 1;
	s.kind = TRACE_SPAN_INTERNAL;
	buf_init(&b, BUF_NOCAP);
	cr_assert_eq(otlp_encode_spans(NULL, list, 1, &b), 0);
	req = otlp__export_trace_service_request__unpack(NULL, b.len, (const uint8_t *)b.data);
	cr_assert_not_null(req);
	cr_assert_str_eq(req->resource_spans[0]->scope_spans[0]->spans[0]->name, "");
	cr_assert_eq(req->resource_spans[0]->scope_spans[0]->spans[0]->parent_span_id.len, 0);
	otlp__export_trace_service_request__free_unpacked(req, NULL);
	buf_release(&b);
}

/* ---- strings are valid UTF-8 ----------------------------------------------------------------- */

#define FFFD "\xEF\xBF\xBD" /* U+FFFD REPLACEMENT CHARACTER */

/* What a string holding `in` must be exported as: proto3 strings are valid UTF-8. */
static const struct utf8_export_row {
	const char *in, *want;
} utf8_rows[] = {
	{ "\xff\xfe", FFFD FFFD },				   /* bytes that start nothing */
	{ "a\xe2\x82", "a" FFFD FFFD },				   /* U+20AC cut after 2 bytes */
	{ "/p\xf0\x9f\x98/q", "/p" FFFD FFFD FFFD "/q" },	   /* U+1F600 cut, inside */
	{ "\xc0\xaf|\xed\xa0\x80", FFFD FFFD "|" FFFD FFFD FFFD }, /* overlong, surrogate */
	{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", NULL }, /* valid: as is */
	{ "GET /books", NULL },
	{ "", NULL },
};

static const char *utf8_want(size_t i)
{
	return utf8_rows[i].want ? utf8_rows[i].want : utf8_rows[i].in;
}

/*
 * Every string a span batch carries (attribute values, the span's and an event's name, the
 * status message, resource attributes) goes out as valid UTF-8: each byte that does not start
 * a valid sequence as U+FFFD, valid text (4-byte sequences too) byte for byte.
 */
Test(otlp, span_strings_are_exported_as_valid_utf8, LEAK_FINI)
{
	const size_t n = ARRAY_SIZE(utf8_rows);
	struct trace_attr attrs[ARRAY_SIZE(utf8_rows)];
	char keys[ARRAY_SIZE(utf8_rows)][8];
	struct trace_event ev = { .name = (char *)(uintptr_t)utf8_rows[1].in };
	struct trace_span sp = { 0 }, *list[] = { &sp };
	struct trace_resource r = { 0 };
	Otlp__ExportTraceServiceRequest *req;
	Otlp__Resource *rm;
	Otlp__Span *m;
	struct buf b;

	for (size_t i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		attrs[i] = (struct trace_attr){ .key = keys[i],
						.type = TRACE_ATTR_STRING,
						.v.s = utf8_rows[i].in };
	}
	sp.ctx.trace_id[0] = 1;
	sp.ctx.span_id[0] = 1;
	sp.name = (char *)(uintptr_t)utf8_rows[0].in;
	sp.attrs = attrs;
	sp.nattrs = n;
	sp.events = &ev;
	sp.nevents = 1;
	sp.status = TRACE_STATUS_ERROR;
	sp.status_msg = (char *)(uintptr_t)utf8_rows[2].in;
	trace_resource_set(&r, "service.name", utf8_rows[3].in);
	buf_init(&b, BUF_NOCAP);
	cr_assert_eq(otlp_encode_spans(&r, list, 1, &b), 0);
	req = otlp__export_trace_service_request__unpack(NULL, b.len, (const uint8_t *)b.data);
	cr_assert_not_null(req);
	rm = req->resource_spans[0]->resource;
	m = req->resource_spans[0]->scope_spans[0]->spans[0];
	cr_assert_eq(m->n_attributes, n);
	for (size_t i = 0; i < n; i++)
		cr_expect_str_eq(kv_string(m->attributes, n, keys[i]), utf8_want(i), "row %zu", i);
	cr_expect_str_eq(m->name, utf8_want(0));
	cr_expect_str_eq(m->events[0]->name, utf8_want(1));
	cr_expect_str_eq(m->status->message, utf8_want(2));
	cr_expect_str_eq(kv_string(rm->attributes, rm->n_attributes, "service.name"), utf8_want(3));
	otlp__export_trace_service_request__free_unpacked(req, NULL);
	buf_release(&b);
	trace_resource_release(&r);
}

/* Metric label values too (a metric request is a malloc()ed tree: its strings are copies). */
Test(otlp, metric_label_values_are_exported_as_valid_utf8, LEAK_FINI)
{
	struct metrics *reg = metrics_new();
	struct metric *c = metrics_counter(reg, "reqs_total", "Requests.", METRIC_LABELS("v"));
	Otlp__ExportMetricsServiceRequest *req;
	Otlp__NumberDataPoint **dp;
	struct buf b;

	for (size_t i = 0; i < ARRAY_SIZE(utf8_rows); i++)
		metrics_add(metrics_series(c, METRIC_LABELS(utf8_rows[i].in)), (double)i);
	buf_init(&b, BUF_NOCAP);
	cr_assert_eq(otlp_encode_metrics(NULL, reg, 1000, 2000, &b), 0);
	req = otlp__export_metrics_service_request__unpack(NULL, b.len, (const uint8_t *)b.data);
	cr_assert_not_null(req);
	cr_assert_eq(req->resource_metrics[0]->scope_metrics[0]->metrics[0]->sum->n_data_points,
		     ARRAY_SIZE(utf8_rows));
	dp = req->resource_metrics[0]->scope_metrics[0]->metrics[0]->sum->data_points;
	for (size_t i = 0; i < ARRAY_SIZE(utf8_rows); i++) {
		size_t row = (size_t)dp[i]->as_double;

		cr_expect_str_eq(kv_string(dp[i]->attributes, 1, "v"), utf8_want(row), "row %zu",
				 row);
	}
	otlp__export_metrics_service_request__free_unpacked(req, NULL);
	buf_release(&b);
	metrics_free(reg);
}

/* ---- metrics encoding ------------------------------------------------------------------------ */

static const double bounds[] = { 0.1, 1.0, 10.0 };

static Otlp__Metric *find_metric(Otlp__ScopeMetrics *sm, const char *name)
{
	for (size_t i = 0; i < sm->n_metrics; i++)
		if (!strcmp(sm->metrics[i]->name, name))
			return sm->metrics[i];
	return NULL;
}

Test(otlp, metrics_round_trip)
{
	struct metrics *reg = metrics_new();
	struct metric *c = metrics_counter(reg, "reqs_total", "Requests.", METRIC_LABELS("m", "r"));
	struct metric *g = metrics_gauge(reg, "depth", "Depth.", NULL);
	struct metric *h = metrics_histogram(reg, "dur_seconds", "Durations.", NULL, bounds, 3);
	struct metric *z = metrics_histogram(reg, "zero_seconds", "Zero.", NULL, bounds, 3);
	struct trace_resource r = { 0 };
	Otlp__ExportMetricsServiceRequest *req;
	Otlp__ScopeMetrics *sm;
	Otlp__Metric *m;
	struct buf b;

	metrics_add(metrics_series(c, METRIC_LABELS("GET", "/a")), 3);
	metrics_inc(metrics_series(c, METRIC_LABELS("POST", "/b")));
	metrics_set(metrics_series(g, NULL), -2.5);
	metrics_observe(metrics_series(h, NULL), 0.05);
	metrics_observe(metrics_series(h, NULL), 0.1); /* le 0.1: bucket 0 */
	metrics_observe(metrics_series(h, NULL), 5);
	metrics_observe(metrics_series(h, NULL), 50);
	metrics_observe(metrics_series(z, NULL), 0);
	trace_resource_set(&r, "service.name", "unit");
	buf_init(&b, BUF_NOCAP);
	cr_assert_eq(otlp_encode_metrics(&r, reg, 1000, 2000, &b), 0);
	req = otlp__export_metrics_service_request__unpack(NULL, b.len, (const uint8_t *)b.data);
	cr_assert_not_null(req);
	sm = req->resource_metrics[0]->scope_metrics[0];
	cr_assert_eq(sm->n_metrics, 4);

	m = find_metric(sm, "reqs_total");
	cr_assert_eq(m->data_case, OTLP__METRIC__DATA_SUM);
	cr_assert_str_eq(m->description, "Requests.");
	cr_assert(m->sum->is_monotonic);
	cr_assert_eq(m->sum->aggregation_temporality,
		     OTLP__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
	cr_assert_eq(m->sum->n_data_points, 2);
	cr_assert_eq(m->sum->data_points[0]->as_double, 3);
	cr_assert_eq(m->sum->data_points[0]->start_time_unix_nano, 1000);
	cr_assert_eq(m->sum->data_points[0]->time_unix_nano, 2000);
	cr_assert_str_eq(kv_string(m->sum->data_points[1]->attributes, 2, "m"), "POST");
	cr_assert_str_eq(kv_string(m->sum->data_points[1]->attributes, 2, "r"), "/b");

	m = find_metric(sm, "depth");
	cr_assert_eq(m->data_case, OTLP__METRIC__DATA_GAUGE);
	cr_assert_eq(m->gauge->data_points[0]->as_double, -2.5);
	cr_assert_eq(m->gauge->data_points[0]->n_attributes, 0);

	m = find_metric(sm, "dur_seconds");
	cr_assert_eq(m->data_case, OTLP__METRIC__DATA_HISTOGRAM);
	cr_assert_eq(m->histogram->aggregation_temporality,
		     OTLP__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
	{
		Otlp__HistogramDataPoint *dp = m->histogram->data_points[0];
		static const uint64_t want[] = { 2, 0, 1, 1 };

		cr_assert_eq(dp->count, 4);
		cr_assert_eq(dp->sum_present_case, OTLP__HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM);
		cr_assert_float_eq(dp->sum, 55.15, 1e-9);
		cr_assert_eq(dp->n_explicit_bounds, 3);
		cr_assert_eq(dp->explicit_bounds[2], 10.0);
		cr_assert_eq(dp->n_bucket_counts, 4);
		for (int i = 0; i < 4; i++)
			cr_assert_eq(dp->bucket_counts[i], want[i], "bucket %d", i);
		cr_assert_eq(dp->min_present_case,
			     OTLP__HISTOGRAM_DATA_POINT__MIN_PRESENT__NOT_SET);
	}
	/* a sum of 0 is still present (the oneof keeps proto3 `optional` presence) */
	m = find_metric(sm, "zero_seconds");
	cr_assert_eq(m->histogram->data_points[0]->sum_present_case,
		     OTLP__HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM);
	cr_assert_eq(m->histogram->data_points[0]->sum, 0.0);
	cr_assert_eq(m->histogram->data_points[0]->count, 1);

	otlp__export_metrics_service_request__free_unpacked(req, NULL);
	buf_release(&b);
	trace_resource_release(&r);
	metrics_free(reg);
}

/* Each bucket's exemplar goes out in its histogram point, decoded by the generated code. */
Test(otlp, histogram_points_carry_their_exemplars, LEAK_FINI)
{
	struct metrics *reg = metrics_new();
	struct metric *h =
	    metrics_histogram(reg, "ex_seconds", "Ex.", METRIC_LABELS("r"), bounds, 3);
	struct trace_resource r = { 0 };
	struct trace_context a = { .flags = TRACE_FLAG_SAMPLED }, b = a, off = { 0 };
	Otlp__ExportMetricsServiceRequest *req;
	Otlp__HistogramDataPoint *dp;
	Otlp__Metric *m;
	long long before = clock_real_ns(), after;
	struct buf b_out;

	memset(a.trace_id, 0xa1, 16);
	memset(a.span_id, 0xa2, 8);
	memset(b.trace_id, 0xb1, 16);
	memset(b.span_id, 0xb2, 8);
	memcpy(off.trace_id, a.trace_id, 16);
	memcpy(off.span_id, a.span_id, 8); /* flags 00: not sampled */
	metrics_observe_exemplar(metrics_series(h, METRIC_LABELS("/x")), 0.5, &a);    /* le 1 */
	metrics_observe_exemplar(metrics_series(h, METRIC_LABELS("/x")), 50, &b);     /* +Inf */
	metrics_observe_exemplar(metrics_series(h, METRIC_LABELS("/x")), 0.05, &off); /* none */
	metrics_observe_exemplar(metrics_series(h, METRIC_LABELS("/y")), 0.05, NULL);
	after = clock_real_ns();
	trace_resource_set(&r, "service.name", "unit");
	buf_init(&b_out, BUF_NOCAP);
	cr_assert_eq(otlp_encode_metrics(&r, reg, 1000, 2000, &b_out), 0);
	req = otlp__export_metrics_service_request__unpack(NULL, b_out.len,
							   (const uint8_t *)b_out.data);
	cr_assert_not_null(req);
	m = find_metric(req->resource_metrics[0]->scope_metrics[0], "ex_seconds");
	cr_assert_not_null(m);
	cr_assert_eq(m->histogram->n_data_points, 2);

	dp = m->histogram->data_points[0];
	cr_assert_eq(dp->count, 3);
	cr_assert_eq(dp->n_exemplars, 2, "one per bucket with a sampled observation");
	{
		const Otlp__Exemplar *e = dp->exemplars[0];

		cr_expect_eq(e->value_case, OTLP__EXEMPLAR__VALUE_AS_DOUBLE);
		cr_expect_eq(e->as_double, 0.5);
		cr_expect(e->time_unix_nano >= (uint64_t)before &&
			  e->time_unix_nano <= (uint64_t)after);
		cr_assert_eq(e->trace_id.len, 16);
		cr_expect_eq(memcmp(e->trace_id.data, a.trace_id, 16), 0);
		cr_assert_eq(e->span_id.len, 8);
		cr_expect_eq(memcmp(e->span_id.data, a.span_id, 8), 0);
		cr_expect_eq(e->n_filtered_attributes, 0);
	}
	{
		const Otlp__Exemplar *e = dp->exemplars[1];

		cr_expect_eq(e->as_double, 50);
		cr_assert_eq(e->trace_id.len, 16);
		cr_expect_eq(memcmp(e->trace_id.data, b.trace_id, 16), 0);
		cr_assert_eq(e->span_id.len, 8);
		cr_expect_eq(memcmp(e->span_id.data, b.span_id, 8), 0);
	}
	dp = m->histogram->data_points[1];
	cr_expect_eq(dp->count, 1);
	cr_expect_eq(dp->n_exemplars, 0, "no sampled observation, no exemplar");

	otlp__export_metrics_service_request__free_unpacked(req, NULL);
	buf_release(&b_out);
	trace_resource_release(&r);
	metrics_free(reg);
}

Test(otlp, push_without_init_fails)
{
	cr_assert_eq(otlp_push_metrics(), ERR_NOT_FOUND);
	cr_assert_null(otlp_resource());
	otlp_shutdown(); /* no-op */
}

/*
 * The specification: "an empty value of an environment variable" is read "the same way as when
 * the variable is unset". An empty OTEL_EXPORTER_OTLP_ENDPOINT (VAR=${VAR} in a compose file)
 * used to count as configured: the SDK came on, exporting to localhost:4318, and every stop
 * waited up to OTEL_BSP_EXPORT_TIMEOUT for a collector that was not there.
 */
Test(otlp, empty_settings_leave_the_sdk_off)
{
	struct trace_span *s;

	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "", 1);
	setenv("OTEL_SDK_DISABLED", "", 1);
	setenv("OTEL_TRACES_EXPORTER", "", 1);
	setenv("OTEL_BSP_EXPORT_TIMEOUT", "200", 1);
	cr_assert_eq(otlp_init("unit-svc"), 0);
	cr_assert_eq(trace_span_start("probe", TRACE_SPAN_INTERNAL, NULL, &s), 0);
	cr_assert_not(trace_span_recording(s), "the SDK came on from empty settings");
	trace_span_end(s);
	otlp_shutdown();
}

Test(otlp, init_and_shutdown_with_exporters_none)
{
	setenv("OTEL_TRACES_EXPORTER", "none", 1);
	setenv("OTEL_SERVICE_NAME", "unit-svc", 1);
	cr_assert_eq(otlp_init("ignored"), 0);
	cr_assert_eq(otlp_init("again"), ERR_CONFLICT);
	cr_assert_str_eq(trace_resource_get(otlp_resource(), "service.name"), "unit-svc");
	cr_assert_eq(otlp_push_metrics(), ERR_NOT_FOUND); /* metrics exporter none by default */
	otlp_shutdown();
	cr_assert_null(otlp_resource());
}
