/*
 * otlp.c: OTLP/HTTP protobuf export of spans and metrics (see otlp.h).
 *
 * Messages are built as protobuf-c trees and packed. Span batches live in an arena freed at
 * once, their strings and ids pointing into the spans; metric requests are malloc()ed whole
 * and freed with protobuf-c's free_unpacked (see "protobuf builders").
 */
#include "common/otlp.h"
#include "common/clock.h"
#include "common/text.h"

#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/config.h"
#include "common/err.h"
#include "common/http_check.h"
#include "common/locked.h"
#include "common/log.h"
#include "common/rand.h"
#include "common/xalloc.h"
#include "otlp.pb-c.h"

#define DEFAULT_BASE "http://localhost:4318"
#define SCOPE_NAME   "bookstore"

/* ---- endpoint, headers, Retry-After -------------------------------------------------------- */

/* Checks "http(s)://host..." and returns the offset of the path ('/', '?', '#' or end). */
static int url_path_offset(const char *url, size_t *off)
{
	const char *p = text_url_authority(url);

	if (!p || !*p || *p == '/' || *p == '?' || *p == '#')
		return ERR_BAD_REQUEST;
	*off = (size_t)(p - url) + strcspn(p, "/?#");
	return 0;
}

int otlp_endpoint_url(const char *base, const char *signal_url, const char *signal, struct buf *out)
{
	size_t off, len;

	if (signal_url && *signal_url) {
		if (url_path_offset(signal_url, &off))
			return ERR_BAD_REQUEST;
		if (signal_url[off] == '/')
			return buf_appends(out, signal_url) ? ERR_BAD_REQUEST : 0;
		/* empty path: insert "/" before any query */
		if (buf_append(out, signal_url, off) || buf_appendc(out, '/') ||
		    buf_appends(out, signal_url + off))
			return ERR_BAD_REQUEST;
		return 0;
	}
	if (!base || !*base)
		base = DEFAULT_BASE;
	if (url_path_offset(base, &off))
		return ERR_BAD_REQUEST;
	len = strlen(base);
	while (len > off && base[len - 1] == '/')
		len--;
	if (buf_append(out, base, len) || buf_appendf(out, "/v1/%s", signal))
		return ERR_BAD_REQUEST;
	return 0;
}

int otlp_parse_headers(const char *text, struct header_list *out)
{
	if (header_list_parse(out, text))
		goto fail;
	for (size_t i = 0; i < out->n; i++)
		if (!http_check_token(out->v[i].name) || !http_check_value(out->v[i].value))
			goto fail;
	return 0;
fail:
	header_list_release(out);
	return ERR_BAD_REQUEST;
}

static int parse_num(const char *s, size_t len, long long *out)
{
	long long v = 0;

	if (!len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > 100000000000LL)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* The seconds since the epoch of a date whose fields are checked here (month: "Nov"). */
static int date_from(long long day, const char *month, long long year, const char *hms,
		     long long *out)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm = { 0 };
	long long hh, mm, ss;
	const char *m = strstr(months, (char[4]){ month[0], month[1], month[2], 0 });

	if (hms[2] != ':' || hms[5] != ':' || parse_num(hms, 2, &hh) ||
	    parse_num(hms + 3, 2, &mm) || parse_num(hms + 6, 2, &ss))
		return -1;
	if (!m || (m - months) % 3 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
		return -1;
	tm.tm_mday = (int)day;
	tm.tm_mon = (int)((m - months) / 3);
	tm.tm_year = (int)year - 1900;
	tm.tm_hour = (int)hh;
	tm.tm_min = (int)mm;
	tm.tm_sec = (int)ss;
	*out = (long long)timegm(&tm);
	return 0;
}

/*
 * Parses an HTTP-date in the three forms RFC 9110 §5.6.7 has a recipient accept:
 *   IMF-fixdate  "Sun, 06 Nov 1994 08:49:37 GMT"
 *   RFC 850      "Sunday, 06-Nov-94 08:49:37 GMT" (its two-digit year is the one within 50
 *                years of now_s: more than 50 years ahead is the century before)
 *   asctime      "Sun Nov  6 08:49:37 1994"
 * The day name is not checked against the date, as the RFC does not ask it.
 */
static int parse_http_date(const char *s, long long now_s, long long *out)
{
	size_t len = strlen(s);
	const char *comma = strchr(s, ',');
	long long day, year;

	if (len == 29 && comma == s + 3) {
		if (s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
		    strcmp(s + 25, " GMT") != 0 || parse_num(s + 5, 2, &day) ||
		    parse_num(s + 12, 4, &year))
			return -1;
		return date_from(day, s + 8, year, s + 17, out);
	}
	if (comma && len >= 30 && comma - s >= 6 && (size_t)(comma - s) + 24 == len) {
		const char *d = comma + 2; /* "06-Nov-94 08:49:37 GMT" */
		long long this_year;
		struct tm now;
		time_t t = (time_t)now_s;

		if (comma[1] != ' ' || d[2] != '-' || d[6] != '-' || d[9] != ' ' ||
		    strcmp(d + 18, " GMT") != 0 || parse_num(d, 2, &day) ||
		    parse_num(d + 7, 2, &year) || !gmtime_r(&t, &now))
			return -1;
		this_year = (long long)now.tm_year + 1900;
		year += this_year / 100 * 100; /* then within (this_year - 50, this_year + 50] */
		if (year > this_year + 50)
			year -= 100;
		else if (year <= this_year - 50)
			year += 100;
		return date_from(day, d + 3, year, d + 10, out);
	}
	if (len == 24 && s[3] == ' ' && s[7] == ' ' && s[10] == ' ' && s[19] == ' ') {
		if (parse_num(s + 20, 4, &year) ||
		    parse_num(s + 8 + (s[8] == ' '), s[8] == ' ' ? 1 : 2, &day))
			return -1;
		return date_from(day, s + 4, year, s + 11, out);
	}
	return -1;
}

long long otlp_retry_after_ms(const char *value, long long now_s)
{
	long long v;
	size_t len;

	if (!value)
		return -1;
	len = strlen(value);
	text_trim_ows(&value, &len);
	if (!parse_num(value, len, &v))
		return v * 1000;
	{
		char tmp[64] = { 0 }; /* trimmed, NUL-terminated */

		if (len >= sizeof(tmp))
			return -1;
		memcpy(tmp, value, len);
		tmp[len] = '\0';
		if (parse_http_date(tmp, now_s, &v))
			return -1;
	}
	return v > now_s ? (v - now_s) * 1000 : 0;
}

/* ---- protobuf builders --------------------------------------------------------------------- */

/*
 * Where a message tree's memory comes from. Span batches (the hot path) are built in an arena:
 * one bump allocator (arena.h) freed at once after packing, with strings pointing into the spans
 * themselves (they outlive the packing). Metric requests grow arrays as the walk goes, so
 * they use malloc and protobuf-c's free_unpacked; there every string is copied.
 */

/* n zeroed bytes from the arena, or from malloc when a is NULL. */
static void *zalloc(struct arena *a, size_t n)
{
	return a ? arena_alloc(a, n) : xcalloc(1, n);
}

/*
 * Every string field of a tree (keys, values, names, messages) comes from here, as valid
 * UTF-8: proto3 requires it of `string` fields, and a decoder that checks (Go's protobuf, a
 * backend behind a collector) refuses the whole request, every span of the batch. Valid text
 * is s itself in an arena tree (it outlives the packing) or a copy in a malloc tree; text with
 * bytes that are not UTF-8 (a request path or header put on a span as it came) is a copy with
 * U+FFFD for each of them (text_utf8_scrub()).
 */
static char *str_ref(struct arena *a, const char *s)
{
	size_t n = strlen(s);
	struct buf clean;
	char *copy;

	if (text_utf8_valid_len(s, n) == n)
		return a ? (char *)(uintptr_t)s : xstrdup(s);
	buf_init(&clean, BUF_NOCAP);
	(void)text_utf8_scrub(&clean, s, n); /* cannot fail: no cap, and xalloc dies on OOM */
	copy = a ? arena_memdup(a, clean.data, clean.len) : buf_detach(&clean, NULL);
	buf_release(&clean);
	return copy;
}

static Otlp__KeyValue *kv_new(struct arena *a, const char *key)
{
	Otlp__KeyValue *kv = zalloc(a, sizeof(*kv));
	Otlp__AnyValue *v = zalloc(a, sizeof(*v));

	otlp__key_value__init(kv);
	otlp__any_value__init(v);
	kv->key = str_ref(a, key);
	kv->value = v;
	return kv;
}

static Otlp__KeyValue *kv_str(struct arena *a, const char *key, const char *value)
{
	Otlp__KeyValue *kv = kv_new(a, key);

	kv->value->value_case = OTLP__ANY_VALUE__VALUE_STRING_VALUE;
	kv->value->string_value = str_ref(a, value ? value : "");
	return kv;
}

static Otlp__KeyValue *kv_attr(struct arena *a, const struct trace_attr *t)
{
	Otlp__KeyValue *kv;

	if (t->type == TRACE_ATTR_STRING)
		return kv_str(a, t->key, t->v.s);
	kv = kv_new(a, t->key);
	switch (t->type) {
	case TRACE_ATTR_INT:
		kv->value->value_case = OTLP__ANY_VALUE__VALUE_INT_VALUE;
		kv->value->int_value = t->v.i;
		break;
	case TRACE_ATTR_DOUBLE:
		kv->value->value_case = OTLP__ANY_VALUE__VALUE_DOUBLE_VALUE;
		kv->value->double_value = t->v.d;
		break;
	default:
		kv->value->value_case = OTLP__ANY_VALUE__VALUE_BOOL_VALUE;
		kv->value->bool_value = t->v.b ? 1 : 0;
		break;
	}
	return kv;
}

static Otlp__KeyValue **attrs_msg(struct arena *a, const struct trace_attr *t, size_t n)
{
	Otlp__KeyValue **kv = n ? arena_alloc(a, n * sizeof(void *)) : NULL;

	for (size_t i = 0; i < n; i++)
		kv[i] = kv_attr(a, &t[i]);
	return kv;
}

/*
 * Every bytes field (trace and span ids), as str_ref() does strings: b itself in an arena tree
 * (it outlives the packing), a copy in a malloc tree (freed with it by free_unpacked).
 */
static ProtobufCBinaryData bytes_ref(struct arena *a, const uint8_t *b, size_t n)
{
	ProtobufCBinaryData d;

	d.data = a ? (uint8_t *)(uintptr_t)b : memcpy(xmalloc(n), b, n);
	d.len = n;
	return d;
}

static Otlp__Resource *resource_msg(struct arena *a, const struct trace_resource *res)
{
	Otlp__Resource *r = zalloc(a, sizeof(*r));

	otlp__resource__init(r);
	if (res && res->n) {
		r->attributes = zalloc(a, res->n * sizeof(void *));
		for (size_t i = 0; i < res->n; i++)
			r->attributes[i] = kv_str(a, res->attrs[i].key, res->attrs[i].value);
		r->n_attributes = res->n;
	}
	return r;
}

static Otlp__InstrumentationScope *scope_msg(struct arena *a)
{
	Otlp__InstrumentationScope *s = zalloc(a, sizeof(*s));

	otlp__instrumentation_scope__init(s);
	s->name = str_ref(a, SCOPE_NAME);
	s->version = str_ref(a, BOOKSTORE_VERSION);
	return s;
}

static Otlp__Span__Event *event_msg(struct arena *a, const struct trace_event *e)
{
	Otlp__Span__Event *m = arena_alloc(a, sizeof(*m));

	otlp__span__event__init(m);
	m->time_unix_nano = (uint64_t)e->time_ns;
	m->name = str_ref(a, e->name);
	m->attributes = attrs_msg(a, e->attrs, e->nattrs);
	m->n_attributes = e->nattrs;
	m->dropped_attributes_count = e->dropped_attrs;
	return m;
}

static Otlp__Span *span_msg(struct arena *a, const struct trace_span *s)
{
	Otlp__Span *m = arena_alloc(a, sizeof(*m));

	otlp__span__init(m);
	m->trace_id = bytes_ref(a, s->ctx.trace_id, 16);
	m->span_id = bytes_ref(a, s->ctx.span_id, 8);
	if (s->ctx.tracestate[0])
		m->trace_state = str_ref(a, s->ctx.tracestate);
	if (s->has_parent)
		m->parent_span_id = bytes_ref(a, s->parent_span_id, 8);
	/* W3C flags, plus "has is_remote" and, for a remote parent, "is_remote" */
	m->flags = (uint32_t)s->ctx.flags | 0x100u | (s->parent_remote ? 0x200u : 0u);
	m->name = str_ref(a, s->name ? s->name : "");
	m->kind = (Otlp__Span__SpanKind)s->kind;
	m->start_time_unix_nano = (uint64_t)s->start_ns;
	m->end_time_unix_nano = (uint64_t)s->end_ns;
	m->attributes = attrs_msg(a, s->attrs, s->nattrs);
	m->n_attributes = s->nattrs;
	m->dropped_attributes_count = s->dropped_attrs;
	if (s->nevents) {
		m->events = arena_alloc(a, s->nevents * sizeof(void *));
		for (size_t i = 0; i < s->nevents; i++)
			m->events[i] = event_msg(a, &s->events[i]);
		m->n_events = s->nevents;
	}
	m->dropped_events_count = s->dropped_events;
	if (s->status != TRACE_STATUS_UNSET) {
		m->status = arena_alloc(a, sizeof(*m->status));
		otlp__status__init(m->status);
		m->status->code = (Otlp__Status__StatusCode)s->status;
		if (s->status_msg)
			m->status->message = str_ref(a, s->status_msg);
	}
	return m;
}

/* Packs msg straight into the end of out: 0, or ERR_TOO_LARGE past out's cap. */
static int pack(const ProtobufCMessage *msg, struct buf *out)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	char *at = buf_extend(out, len);

	if (!at)
		return ERR_TOO_LARGE;
	protobuf_c_message_pack(msg, (uint8_t *)at);
	return 0;
}

/* otlp_encode_spans() with the message tree built in a, which the caller empties. */
static int encode_spans(struct arena *a, const struct trace_resource *res,
			struct trace_span *const *spans, size_t n, struct buf *out)
{
	Otlp__ExportTraceServiceRequest *req = arena_alloc(a, sizeof(*req));
	Otlp__ResourceSpans *rs = arena_alloc(a, sizeof(*rs));
	Otlp__ScopeSpans *ss = arena_alloc(a, sizeof(*ss));

	otlp__export_trace_service_request__init(req);
	otlp__resource_spans__init(rs);
	otlp__scope_spans__init(ss);
	req->resource_spans = arena_alloc(a, sizeof(void *));
	req->resource_spans[0] = rs;
	req->n_resource_spans = 1;
	rs->resource = resource_msg(a, res);
	rs->scope_spans = arena_alloc(a, sizeof(void *));
	rs->scope_spans[0] = ss;
	rs->n_scope_spans = 1;
	ss->scope = scope_msg(a);
	ss->spans = n ? arena_alloc(a, n * sizeof(void *)) : NULL;
	for (size_t i = 0; i < n; i++)
		ss->spans[i] = span_msg(a, spans[i]);
	ss->n_spans = n;
	return pack(&req->base, out);
}

int otlp_encode_spans(const struct trace_resource *res, struct trace_span *const *spans, size_t n,
		      struct buf *out)
{
	struct arena a = ARENA_INIT;
	int rc = encode_spans(&a, res, spans, n, out);

	arena_release(&a);
	return rc;
}

/* ---- metrics encoding ---------------------------------------------------------------------- */

struct mwalk {
	Otlp__ScopeMetrics *sm;
	uint64_t start, now;
};

static Otlp__KeyValue **labels_msg(const struct metric_point *pt, size_t *n)
{
	Otlp__KeyValue **kv;
	size_t k = 0;

	while (pt->label_names && pt->label_names[k])
		k++;
	*n = k;
	if (!k)
		return NULL;
	kv = xcalloc(k, sizeof(void *));
	for (size_t i = 0; i < k; i++)
		kv[i] = kv_str(NULL, pt->label_names[i], pt->label_values[i]);
	return kv;
}

/* The Metric for family name: the last one when it has that name, else a new one. */
static Otlp__Metric *metric_for(struct mwalk *w, const char *name, const char *help,
				enum metric_type type)
{
	Otlp__ScopeMetrics *sm = w->sm;
	Otlp__Metric *m;

	if (sm->n_metrics && !strcmp(sm->metrics[sm->n_metrics - 1]->name, name))
		return sm->metrics[sm->n_metrics - 1];
	sm->metrics = xrealloc(sm->metrics, (sm->n_metrics + 1) * sizeof(void *));
	m = xmalloc(sizeof(*m));
	otlp__metric__init(m);
	m->name = xstrdup(name);
	if (help && *help)
		m->description = xstrdup(help);
	if (type == METRIC_COUNTER) {
		m->data_case = OTLP__METRIC__DATA_SUM;
		m->sum = xmalloc(sizeof(*m->sum));
		otlp__sum__init(m->sum);
		m->sum->aggregation_temporality =
		    OTLP__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
		m->sum->is_monotonic = 1;
	} else if (type == METRIC_GAUGE) {
		m->data_case = OTLP__METRIC__DATA_GAUGE;
		m->gauge = xmalloc(sizeof(*m->gauge));
		otlp__gauge__init(m->gauge);
	} else {
		m->data_case = OTLP__METRIC__DATA_HISTOGRAM;
		m->histogram = xmalloc(sizeof(*m->histogram));
		otlp__histogram__init(m->histogram);
		m->histogram->aggregation_temporality =
		    OTLP__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
	}
	sm->metrics[sm->n_metrics++] = m;
	return m;
}

static Otlp__NumberDataPoint *number_point(const struct mwalk *w, const struct metric_point *pt)
{
	Otlp__NumberDataPoint *dp = xmalloc(sizeof(*dp));

	otlp__number_data_point__init(dp);
	dp->attributes = labels_msg(pt, &dp->n_attributes);
	dp->start_time_unix_nano = w->start;
	dp->time_unix_nano = w->now;
	dp->value_case = OTLP__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
	dp->as_double = pt->value;
	return dp;
}

static Otlp__Exemplar *exemplar_msg(const struct metric_exemplar *ex)
{
	Otlp__Exemplar *e = xmalloc(sizeof(*e));

	otlp__exemplar__init(e);
	e->time_unix_nano = (uint64_t)ex->time_ns;
	e->value_case = OTLP__EXEMPLAR__VALUE_AS_DOUBLE;
	e->as_double = ex->value;
	e->trace_id = bytes_ref(NULL, ex->trace_id, sizeof(ex->trace_id));
	e->span_id = bytes_ref(NULL, ex->span_id, sizeof(ex->span_id));
	return e;
}

/* The exemplars of pt's buckets, in bucket order (those that have one). */
static void exemplars_msg(const struct metric_point *pt, Otlp__HistogramDataPoint *dp)
{
	struct metric_exemplar ex;

	for (size_t i = 0; i <= pt->nbounds; i++) {
		if (!pt->series || !metrics_exemplar(pt->series, i, &ex))
			continue;
		if (!dp->exemplars)
			dp->exemplars = xcalloc(pt->nbounds + 1, sizeof(void *));
		dp->exemplars[dp->n_exemplars++] = exemplar_msg(&ex);
	}
}

static Otlp__HistogramDataPoint *histogram_point(const struct mwalk *w,
						 const struct metric_point *pt)
{
	Otlp__HistogramDataPoint *dp = xmalloc(sizeof(*dp));

	otlp__histogram_data_point__init(dp);
	dp->attributes = labels_msg(pt, &dp->n_attributes);
	dp->start_time_unix_nano = w->start;
	dp->time_unix_nano = w->now;
	dp->count = pt->count;
	dp->sum_present_case = OTLP__HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM;
	dp->sum = pt->sum;
	dp->n_explicit_bounds = pt->nbounds;
	dp->explicit_bounds = xcalloc(pt->nbounds + 1, sizeof(double));
	memcpy(dp->explicit_bounds, pt->bounds, pt->nbounds * sizeof(double));
	dp->n_bucket_counts = pt->nbounds + 1;
	dp->bucket_counts = xcalloc(pt->nbounds + 1, sizeof(uint64_t));
	memcpy(dp->bucket_counts, pt->bucket_counts, (pt->nbounds + 1) * sizeof(uint64_t));
	exemplars_msg(pt, dp);
	return dp;
}

/* metrics_walk() visitor: adds one data point (arrays grow one by one; series are few). */
static void visit(const char *name, const char *help, enum metric_type type,
		  const struct metric_point *pt, void *arg)
{
	struct mwalk *w = arg;
	Otlp__Metric *m = metric_for(w, name, help, type);

	if (type == METRIC_HISTOGRAM) {
		Otlp__Histogram *h = m->histogram;

		h->data_points = xrealloc(h->data_points, (h->n_data_points + 1) * sizeof(void *));
		h->data_points[h->n_data_points++] = histogram_point(w, pt);
	} else if (type == METRIC_COUNTER) {
		Otlp__Sum *s = m->sum;

		s->data_points = xrealloc(s->data_points, (s->n_data_points + 1) * sizeof(void *));
		s->data_points[s->n_data_points++] = number_point(w, pt);
	} else {
		Otlp__Gauge *g = m->gauge;

		g->data_points = xrealloc(g->data_points, (g->n_data_points + 1) * sizeof(void *));
		g->data_points[g->n_data_points++] = number_point(w, pt);
	}
}

int otlp_encode_metrics(const struct trace_resource *res, struct metrics *reg, long long start_ns,
			long long now_ns, struct buf *out)
{
	Otlp__ExportMetricsServiceRequest *req = xmalloc(sizeof(*req));
	Otlp__ResourceMetrics *rm = xmalloc(sizeof(*rm));
	struct mwalk w = { 0 };
	int rc;

	otlp__export_metrics_service_request__init(req);
	otlp__resource_metrics__init(rm);
	w.sm = xmalloc(sizeof(*w.sm));
	otlp__scope_metrics__init(w.sm);
	w.start = (uint64_t)start_ns;
	w.now = (uint64_t)now_ns;
	req->resource_metrics = xcalloc(1, sizeof(void *));
	req->resource_metrics[0] = rm;
	req->n_resource_metrics = 1;
	rm->resource = resource_msg(NULL, res);
	rm->scope_metrics = xcalloc(1, sizeof(void *));
	rm->scope_metrics[0] = w.sm;
	rm->n_scope_metrics = 1;
	w.sm->scope = scope_msg(NULL);
	metrics_walk(reg, visit, &w);
	rc = pack(&req->base, out);
	protobuf_c_message_free_unpacked(&req->base, NULL);
	return rc;
}

/* ---- configuration ------------------------------------------------------------------------- */

enum exporter { EXPORTER_OTLP, EXPORTER_CONSOLE, EXPORTER_NONE };
static const char *const exporter_choices[] = { "otlp", "console", "none", NULL };

struct otlp_env {
	const char *sdk_disabled;
	int traces_exporter, metrics_exporter;
	const char *sampler, *sampler_arg;
	long long bsp_delay, bsp_timeout, bsp_queue, bsp_batch;
	long long attr_limit, event_limit;
	long long metric_interval, metric_timeout;
	const char *endpoint, *traces_endpoint, *metrics_endpoint;
	const char *headers, *traces_headers, *metrics_headers;
	long long timeout, traces_timeout, metrics_timeout;
	const char *protocol, *traces_protocol, *metrics_protocol;
};

/* One row of env_vars[] per kind of variable; a kind fixes the type, bounds and choices. */
#define E(f) offsetof(struct otlp_env, f)
#define TEXT(name, f, help)                                       \
	{                                                         \
		name, CONFIG_STRING, E(f), NULL, 0, 0, NULL, help \
	}
#define URL(name, f, help)                                     \
	{                                                      \
		name, CONFIG_URL, E(f), NULL, 0, 0, NULL, help \
	}
#define EXPORTER(name, f, def, help)                                       \
	{                                                                  \
		name, CONFIG_ENUM, E(f), def, 0, 0, exporter_choices, help \
	}
#define COUNT(name, f, def, min, max, help)                       \
	{                                                         \
		name, CONFIG_INT, E(f), def, min, max, NULL, help \
	}
#define MILLIS(name, f, def, help)                                        \
	{                                                                 \
		name, CONFIG_MILLIS, E(f), def, 1, 86400000LL, NULL, help \
	}
static const struct config_var env_vars[] = {
	TEXT("OTEL_SDK_DISABLED", sdk_disabled,
	     "only \"true\" (any case) disables tracing and OTLP export"),
	EXPORTER("OTEL_TRACES_EXPORTER", traces_exporter, "otlp", "span exporter"),
	EXPORTER("OTEL_METRICS_EXPORTER", metrics_exporter, "none",
		 "metric exporter (none: Prometheus scrapes /metrics)"),
	TEXT("OTEL_TRACES_SAMPLER", sampler, "sampler"),
	TEXT("OTEL_TRACES_SAMPLER_ARG", sampler_arg, "sampler argument (ratio)"),
	MILLIS("OTEL_BSP_SCHEDULE_DELAY", bsp_delay, "5000", "delay between span exports"),
	MILLIS("OTEL_BSP_EXPORT_TIMEOUT", bsp_timeout, "30000",
	       "time allowed for one span export, retries included"),
	COUNT("OTEL_BSP_MAX_QUEUE_SIZE", bsp_queue, "2048", 1, 1 << 22,
	      "spans waiting for export; more are dropped"),
	COUNT("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", bsp_batch, "512", 1, 1 << 22,
	      "spans per export (<= queue size)"),
	COUNT("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", attr_limit, "128", 0, 1 << 20,
	      "attributes per span"),
	COUNT("OTEL_SPAN_EVENT_COUNT_LIMIT", event_limit, "128", 0, 1 << 20, "events per span"),
	MILLIS("OTEL_METRIC_EXPORT_INTERVAL", metric_interval, "60000",
	       "delay between metric exports"),
	MILLIS("OTEL_METRIC_EXPORT_TIMEOUT", metric_timeout, "30000",
	       "time allowed for one metric export, retries included"),
	URL("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint,
	    "OTLP/HTTP base URL (default http://localhost:4318)"),
	URL("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces_endpoint, "full URL for spans"),
	URL("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", metrics_endpoint, "full URL for metrics"),
	TEXT("OTEL_EXPORTER_OTLP_HEADERS", headers, "extra request headers k=v,k2=v2"),
	TEXT("OTEL_EXPORTER_OTLP_TRACES_HEADERS", traces_headers, "extra span request headers"),
	TEXT("OTEL_EXPORTER_OTLP_METRICS_HEADERS", metrics_headers, "extra metric request headers"),
	MILLIS("OTEL_EXPORTER_OTLP_TIMEOUT", timeout, "10000", "timeout of one HTTP attempt"),
	MILLIS("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", traces_timeout, NULL,
	       "timeout of one span HTTP attempt"),
	MILLIS("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", metrics_timeout, NULL,
	       "timeout of one metric HTTP attempt"),
	TEXT("OTEL_EXPORTER_OTLP_PROTOCOL", protocol, "only http/protobuf"),
	TEXT("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", traces_protocol, "only http/protobuf"),
	TEXT("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", metrics_protocol, "only http/protobuf"),
};
#undef E
#undef TEXT
#undef URL
#undef EXPORTER
#undef COUNT
#undef MILLIS

/* ---- runtime state ------------------------------------------------------------------------- */

/* Where and how one signal is posted. */
struct target {
	const char *signal; /* "traces", "metrics" */
	char *url;
	struct header_list headers; /* parsed extra headers + Content-Type (last) */
	long long timeout_ms;
	int failing; /* logs only the first failure of a run of failures */
};

/*
 * A span batch's message tree and request body are kept for the next batch (no fresh pages to
 * fault in, no heap trim, at every export) unless either grew past this.
 */
#define KEEP_MAX ((size_t)4 << 20)

struct otlp {
	struct otlp_env env;
	struct trace_resource res;
	struct httpc *client;
	struct target traces, metrics;
	struct arena trace_arena; /* export_spans_otlp()'s, on the batch processor's thread */
	struct buf trace_body;
	long long start_ns;
	pthread_mutex_t mu;
	pthread_cond_t cond; /* reader wake-up and interruptible retry waits */
	int stopping;
	int reader_running;
	pthread_t reader;
};

static struct otlp *state;

/* Waits ms on st->cond (CLOCK_MONOTONIC); returns early when stopping is set and stop. */
static void wait_ms(struct otlp *o, long long ms, int stop_early)
{
	struct timespec ts;

	clock_deadline(&ts, ms);
	pthread_mutex_lock(&o->mu);
	while (!(stop_early && o->stopping))
		if (pthread_cond_timedwait(&o->cond, &o->mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&o->mu);
}

static int retryable_status(int status)
{
	return status == 429 || status == 502 || status == 503 || status == 504;
}

long long otlp_backoff_ms(int attempt, int status, const char *retry_after, long long now_s,
			  uint32_t rnd)
{
	long long d = 1000, ra;

	for (int i = 0; i < attempt && d < 5000; i++)
		d = d * 3 / 2;
	if (d > 5000)
		d = 5000;
	d = d / 2 + (long long)(rnd % (uint32_t)(d / 2 + 1));
	if (status == 429 || status == 503) {
		ra = otlp_retry_after_ms(retry_after, now_s);
		if (ra > d) /* never sooner than asked, nor sooner than the backoff */
			d = ra;
	}
	return d;
}

static long long backoff_ms(int attempt, const struct httpc_result *r)
{
	uint32_t rnd;

	if (rand_bytes(&rnd, sizeof(rnd)))
		rnd = 0;
	return otlp_backoff_ms(attempt, r->status, httpc_result_header(r, "Retry-After"),
			       (long long)time(NULL), rnd);
}

static void note_result(struct target *t, int ok, const struct httpc_result *r, int attempts)
{
	if (ok) {
		if (t->failing)
			log_info("otlp: %s export to %s works again", t->signal, t->url);
		t->failing = 0;
		return;
	}
	if (!t->failing)
		log_warn("otlp: %s export to %s failed after %d attempt(s): %s%d %s", t->signal,
			 t->url, attempts, r->err ? "" : "HTTP ", r->err ? r->err : r->status,
			 r->err ? r->error : "");
	t->failing = 1;
}

/* Logs a partial success's rejection or message; returns the count (0 when negative). */
static long long note_partial(const struct target *t, const char *what, long long n,
			      const char *msg)
{
	if (n > 0 || (msg && *msg))
		log_warn("otlp: %s export to %s: %lld %s rejected (%s)", t->signal, t->url, n, what,
			 msg && *msg ? msg : "no message");
	return n > 0 ? n : 0;
}

/*
 * What a 2xx answer says it rejected (the OTLP partial success: a count and a message, which
 * must not be retried). Returns the count (0 for an empty, full-success or unreadable body)
 * and logs a warning for a rejection or a message.
 */
static long long partial_rejected(const struct target *t, const struct httpc_result *r)
{
	const uint8_t *body = (const uint8_t *)r->body;
	long long n = 0;

	if (r->body_len == 0)
		return 0;
	if (strcmp(t->signal, "traces") == 0) {
		Otlp__ExportTraceServiceResponse *res =
		    otlp__export_trace_service_response__unpack(NULL, r->body_len, body);
		Otlp__ExportTracePartialSuccess *ps = res ? res->partial_success : NULL;

		n = ps ? note_partial(t, "spans", ps->rejected_spans, ps->error_message) : 0;
		otlp__export_trace_service_response__free_unpacked(res, NULL);
	} else {
		Otlp__ExportMetricsServiceResponse *res =
		    otlp__export_metrics_service_response__unpack(NULL, r->body_len, body);
		Otlp__ExportMetricsPartialSuccess *ps = res ? res->partial_success : NULL;

		n = ps ? note_partial(t, "data points", ps->rejected_data_points, ps->error_message)
		       : 0;
		otlp__export_metrics_service_response__free_unpacked(res, NULL);
	}
	return n;
}

/*
 * POSTs body to t until success, a non-retryable answer, or deadline_ms (CLOCK_MONOTONIC).
 * Returns 0, or ERR_BAD_GATEWAY / ERR_TIMEOUT; *rejected is what a success rejected
 * (partial_rejected()).
 */
static int post(struct otlp *o, struct target *t, const struct buf *body, long long deadline_ms,
		long long *rejected)
{
	struct httpc_request req = { .method = "POST",
				     .url = t->url,
				     .headers = t->headers.v,
				     .nheaders = t->headers.n,
				     .body = body->data,
				     .body_len = body->len };
	struct httpc_result r;
	int attempt, ok = 0, retry = 1;

	for (attempt = 0; retry; attempt++) {
		long long left = deadline_ms - clock_mono_ms(), delay;

		if (left <= 0)
			break;
		req.timeout_ms = t->timeout_ms < left ? t->timeout_ms : left;
		httpc_send_sync(o->client, &req, &r);
		ok = !r.err && r.status >= 200 && r.status < 300;
		retry = !ok && (r.err ? r.err != ERR_INTERNAL && r.err != ERR_TOO_LARGE
				      : retryable_status(r.status));
		delay = retry ? backoff_ms(attempt, &r) : 0;
		if (ok || !retry || clock_mono_ms() + delay >= deadline_ms) {
			note_result(t, ok, &r, attempt + 1);
			*rejected = ok ? partial_rejected(t, &r) : 0;
			httpc_result_release(&r);
			return ok ? 0 : ERR_BAD_GATEWAY;
		}
		httpc_result_release(&r);
		wait_ms(o, delay, 0);
	}
	if (!t->failing)
		log_warn("otlp: %s export to %s timed out after %d attempt(s)", t->signal, t->url,
			 attempt);
	t->failing = 1;
	return ERR_TIMEOUT;
}

/* ---- exporters ----------------------------------------------------------------------------- */

static int export_spans_otlp(void *arg, struct trace_span *const *spans, size_t n,
			     long long deadline_ms)
{
	struct otlp *o = arg;
	long long rejected = 0;
	int rc;

	/* Only the batch processor's thread exports (trace.h): the memory is kept. */
	buf_reset(&o->trace_body);
	rc = encode_spans(&o->trace_arena, &o->res, spans, n, &o->trace_body);
	arena_reset(&o->trace_arena, KEEP_MAX);
	if (!rc)
		rc = post(o, &o->traces, &o->trace_body, deadline_ms, &rejected);
	if (o->trace_body.alloc > KEEP_MAX)
		buf_release(&o->trace_body);
	if (rc == 0 && rejected > 0) /* the processor counts them dropped */
		return rejected < (long long)n ? (int)rejected : (int)n;
	return rc;
}

/* s as a JSON string (NULL: NULL), each byte that is not UTF-8 as U+FFFD (str_ref()). */
static json_t *json_text(const char *s)
{
	char *clean;
	json_t *j;

	if (!s)
		return NULL;
	clean = str_ref(NULL, s);
	j = json_string(clean);
	free(clean);
	return j;
}

static json_t *attrs_json(const struct trace_attr *a, size_t n)
{
	json_t *obj = json_object();

	for (size_t i = 0; i < n; i++) {
		json_t *v;

		switch (a[i].type) {
		case TRACE_ATTR_STRING:
			v = json_text(a[i].v.s);
			break;
		case TRACE_ATTR_INT:
			v = json_integer(a[i].v.i);
			break;
		case TRACE_ATTR_DOUBLE:
			v = json_real(a[i].v.d);
			break;
		default:
			v = json_boolean(a[i].v.b);
			break;
		}
		json_object_set_new(obj, a[i].key, v ? v : json_null());
	}
	return obj;
}

static json_t *span_json(const struct otlp *o, const struct trace_span *s)
{
	static const char *const status[] = { "unset", "ok", "error" };
	char tid[33], sid[17], pid[17] = "";
	json_t *j, *events = json_array();

	trace_context_hex(&s->ctx, tid, sid);
	if (s->has_parent)
		text_hex_encode(pid, s->parent_span_id, 8);
	for (size_t i = 0; i < s->nevents; i++)
		json_array_append_new(
		    events,
		    json_pack("{s:o, s:I, s:o}", "name", json_text(s->events[i].name),
			      "time_unix_nano", (json_int_t)s->events[i].time_ns, "attributes",
			      attrs_json(s->events[i].attrs, s->events[i].nattrs)));
	j = json_pack("{s:o, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:o, s:o, s:s, s:o*, s:o*}", "name",
		      json_text(s->name ? s->name : ""), "trace_id", tid, "span_id", sid,
		      "parent_span_id", pid, "tracestate", s->ctx.tracestate, "kind", (int)s->kind,
		      "start_time_unix_nano", (json_int_t)s->start_ns, "end_time_unix_nano",
		      (json_int_t)s->end_ns, "attributes", attrs_json(s->attrs, s->nattrs),
		      "events", events, "status", status[s->status], "status_message",
		      json_text(s->status_msg), "service.name",
		      json_text(trace_resource_get(&o->res, "service.name")));
	return j;
}

/* Writes one JSON line with a single write(2). */
static void write_line(json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (text) {
		size_t len = strlen(text);
		char *line = xmalloc(len + 2);

		memcpy(line, text, len);
		line[len] = '\n';
		if (write(STDERR_FILENO, line, len + 1) < 0) {
			/* nothing sensible to do */
		}
		free(line);
		free(text);
	}
	json_decref(j);
}

static int export_spans_console(void *arg, struct trace_span *const *spans, size_t n,
				long long deadline_ms)
{
	(void)deadline_ms;
	for (size_t i = 0; i < n; i++)
		write_line(span_json(arg, spans[i]));
	return 0;
}

static void console_visit(const char *name, const char *help, enum metric_type type,
			  const struct metric_point *pt, void *arg)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	json_t *labels = json_object(), *j;

	(void)help;
	(void)arg;
	for (size_t i = 0; pt->label_names && pt->label_names[i]; i++)
		json_object_set_new(labels, pt->label_names[i], json_text(pt->label_values[i]));
	if (type == METRIC_HISTOGRAM)
		j = json_pack("{s:s, s:s, s:o, s:I, s:f}", "metric", name, "type", types[type],
			      "labels", labels, "count", (json_int_t)pt->count, "sum", pt->sum);
	else
		j = json_pack("{s:s, s:s, s:o, s:f}", "metric", name, "type", types[type], "labels",
			      labels, "value", pt->value);
	write_line(j);
}

static int push_metrics(struct otlp *o, long long deadline_ms)
{
	long long rejected;
	struct buf body;
	int rc;

	if (o->env.metrics_exporter == EXPORTER_CONSOLE) {
		metrics_walk(metrics_default(), console_visit, NULL);
		return 0;
	}
	if (o->env.metrics_exporter != EXPORTER_OTLP)
		return ERR_NOT_FOUND;
	buf_init(&body, (size_t)64 << 20);
	rc = otlp_encode_metrics(&o->res, metrics_default(), o->start_ns, clock_real_ns(), &body);
	if (!rc)
		rc = post(o, &o->metrics, &body, deadline_ms, &rejected); /* logged only */
	buf_release(&body);
	return rc;
}

static void *reader_main(void *arg)
{
	struct otlp *o = arg;

	for (;;) {
		int stop;

		wait_ms(o, o->env.metric_interval, 1);
		pthread_mutex_lock(&o->mu);
		stop = o->stopping;
		pthread_mutex_unlock(&o->mu);
		if (stop)
			return NULL;
		push_metrics(o, clock_mono_ms() + o->env.metric_timeout);
	}
}

/* ---- init and shutdown --------------------------------------------------------------------- */

static void check_protocol(const char *name, const char *value)
{
	if (value && *value && strcmp(value, "http/protobuf") != 0)
		log_warn("%s: '%.32s' is not supported, using http/protobuf", name, value);
}

/* Fills t for one signal; exits with status 2 on a bad endpoint (config_load checked it). */
static void target_init(struct target *t, const char *signal, const struct otlp_env *env,
			const char *signal_url, const char *signal_headers,
			long long signal_timeout)
{
	const char *hname = signal_headers && *signal_headers
				? "OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS"
				: "OTEL_EXPORTER_OTLP_HEADERS";
	const char *htext = signal_headers && *signal_headers ? signal_headers : env->headers;
	struct buf url;

	t->signal = signal;
	buf_init(&url, BUF_NOCAP);
	if (otlp_endpoint_url(env->endpoint, signal_url, signal, &url))
		config_exit("OTLP %s endpoint: not an http(s) URL", signal);
	t->url = buf_detach(&url, NULL);
	if (htext && *htext && otlp_parse_headers(htext, &t->headers))
		log_warn("%s: invalid (k=v,k2=v2 with percent-encoding expected), ignored", hname);
	header_list_add(&t->headers, "Content-Type", "application/x-protobuf");
	t->timeout_ms = signal_timeout > 0 ? signal_timeout : env->timeout;
}

static void target_release(struct target *t)
{
	free(t->url);
	header_list_release(&t->headers);
	memset(t, 0, sizeof(*t));
}

static void trace_setup(struct otlp *o, int disabled)
{
	struct trace_config tc;

	trace_config_defaults(&tc);
	tc.disabled = disabled;
	trace_sampler_parse(o->env.sampler, o->env.sampler_arg, &tc.sampler);
	tc.max_attrs = (size_t)o->env.attr_limit;
	tc.max_events = (size_t)o->env.event_limit;
	tc.queue_size = (size_t)o->env.bsp_queue;
	tc.batch_size = (size_t)o->env.bsp_batch;
	tc.schedule_delay_ms = o->env.bsp_delay;
	tc.export_timeout_ms = o->env.bsp_timeout;
	if (!disabled && o->env.traces_exporter == EXPORTER_OTLP)
		tc.export = export_spans_otlp;
	else if (!disabled && o->env.traces_exporter == EXPORTER_CONSOLE)
		tc.export = export_spans_console;
	tc.export_arg = o;
	if (trace_init(&tc))
		log_error("otlp: the tracer provider was already initialized");
}

static void load_env(struct otlp_env *env)
{
	config_load_or_exit(env_vars, ARRAY_SIZE(env_vars), env);
	if (env->bsp_batch > env->bsp_queue)
		config_exit("OTEL_BSP_MAX_EXPORT_BATCH_SIZE: %lld is larger than "
			    "OTEL_BSP_MAX_QUEUE_SIZE (%lld)",
			    env->bsp_batch, env->bsp_queue);
	check_protocol("OTEL_EXPORTER_OTLP_PROTOCOL", env->protocol);
	check_protocol("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", env->traces_protocol);
	check_protocol("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", env->metrics_protocol);
}

/*
 * Whether the environment names an OTLP destination or an exporter at all. With none of
 * these set, the SDK stays off: exporting to the default localhost:4318 with no collector
 * there would only fail, and hold every shutdown for the export timeout. Setting any one of
 * them (as the cluster's manifests do) turns the spec's defaults back on.
 */
static int otlp_configured(void)
{
	static const char *const names[] = {
		"OTEL_SDK_DISABLED",
		"OTEL_TRACES_EXPORTER",
		"OTEL_METRICS_EXPORTER",
		"OTEL_EXPORTER_OTLP_ENDPOINT",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		const char *v = getenv(names[i]);

		if (v && *v) /* empty is unset (the specification's rule for every OTEL_*) */
			return 1;
	}
	return 0;
}

int otlp_init(const char *service)
{
	struct otlp *o;
	int disabled;

	if (state)
		return ERR_CONFLICT;
	o = xcalloc(1, sizeof(*o));
	buf_init(&o->trace_body, (size_t)64 << 20); /* the OTLP request size limit */
	o->env.traces_timeout = o->env.metrics_timeout = -1;
	load_env(&o->env);
	disabled =
	    (o->env.sdk_disabled && !strcasecmp(o->env.sdk_disabled, "true")) || !otlp_configured();
	if (disabled)
		o->env.traces_exporter = o->env.metrics_exporter = EXPORTER_NONE;
	o->start_ns = clock_real_ns();
	pthread_mutex_init(&o->mu, NULL);
	(void)clock_cond_init(&o->cond);
	trace_resource_detect(&o->res, service);
	if (o->env.traces_exporter == EXPORTER_OTLP || o->env.metrics_exporter == EXPORTER_OTLP) {
		struct httpc_options opt = { .max_body = (size_t)4 << 20,
					     .user_agent = "bookstore-otlp/" BOOKSTORE_VERSION };

		target_init(&o->traces, "traces", &o->env, o->env.traces_endpoint,
			    o->env.traces_headers, o->env.traces_timeout);
		target_init(&o->metrics, "metrics", &o->env, o->env.metrics_endpoint,
			    o->env.metrics_headers, o->env.metrics_timeout);
		o->client = httpc_new(&opt);
		if (!o->client) {
			log_error("otlp: cannot start the HTTP client: OTLP export is off");
			o->env.traces_exporter = o->env.metrics_exporter = EXPORTER_NONE;
		}
	}
	state = o;
	trace_setup(o, disabled);
	if (o->env.metrics_exporter != EXPORTER_NONE) {
		o->reader_running = !pthread_create(&o->reader, NULL, reader_main, o);
		if (!o->reader_running)
			log_error("otlp: cannot start the metric reader thread");
	}
	return 0;
}

int otlp_push_metrics(void)
{
	if (!state)
		return ERR_NOT_FOUND;
	return push_metrics(state, clock_mono_ms() + state->env.metric_timeout);
}

const struct trace_resource *otlp_resource(void)
{
	return state ? &state->res : NULL;
}

void otlp_shutdown(void)
{
	struct otlp *o = state;

	if (!o)
		return;
	trace_shutdown(); /* flushes the queued spans within OTEL_BSP_EXPORT_TIMEOUT */
	locked_raise(&o->mu, &o->cond, &o->stopping);
	if (o->reader_running) {
		pthread_join(o->reader, NULL);
		push_metrics(o, clock_mono_ms() + o->env.metric_timeout); /* the final push */
	}
	httpc_free(o->client);
	buf_release(&o->trace_body);
	arena_release(&o->trace_arena);
	target_release(&o->traces);
	target_release(&o->metrics);
	trace_resource_release(&o->res);
	pthread_cond_destroy(&o->cond);
	pthread_mutex_destroy(&o->mu);
	state = NULL;
	free(o);
}
