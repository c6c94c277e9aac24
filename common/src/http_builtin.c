/*
 * http_builtin.c: what the server adds around the handlers (see http.h, http_internal.h):
 * the built-in routes GET /healthz, /readyz and /metrics, the SERVER span, the access log
 * and the request metrics.
 *
 * The built-in routes get no span: probes every few seconds would bury the traces that
 * matter. The span starts once the request is routed, is current on the pool thread while
 * the handler runs (http.c), and ends with the request's last reference, when no thread can
 * use it any more.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/jsonenc.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/trace.h"
#include "common/xalloc.h"
#include "http_internal.h"

#define METRICS_MAX_BYTES ((size_t)16 * 1024 * 1024)

static struct metric *m_duration;
static atomic_long active_total;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

/* ---- built-in routes ---------------------------------------------------------------------- */

/* The constant answers of the probes, sent without a copy (http_respond_ref()). */
static const char healthz_ok[] = "{\"status\":\"ok\"}";
static const char readyz_ready[] = "{\"status\":\"ready\"}";

static int respond_const(struct http_request *req, const char *body, size_t len)
{
	return http_respond_ref(req, 200, "application/json", body, len, NULL, NULL);
}

static int h_healthz(struct http_request *req)
{
	return respond_const(req, healthz_ok, sizeof(healthz_ok) - 1);
}

static int h_readyz(struct http_request *req)
{
	const struct http_server_config *cfg = &http_conn_of(req)->srv->cfg;
	struct buf *why;
	json_t *j;

	if (cfg->ready == NULL)
		return respond_const(req, readyz_ready, sizeof(readyz_ready) - 1);
	why = arena_buf(http_arena(req), 4096);
	if (cfg->ready(cfg->ctx, why) == 0)
		return respond_const(req, readyz_ready, sizeof(readyz_ready) - 1);
	j = json_pack("{s:s}", "status", "not_ready");
	json_object_set_new(j, "reason", jsonenc_string(why->len ? why->data : "not ready"));
	return http_respond_json(req, 503, j);
}

static int h_metrics(struct http_request *req)
{
	struct buf *out = arena_buf(http_arena(req), METRICS_MAX_BYTES);

	if (metrics_render(metrics_default(), out) != 0)
		return http_fail(req, ERR_INTERNAL, "the metrics exposition is too large");
	return http_respond(req, 200, METRICS_CONTENT_TYPE, out->data, out->len);
}

const struct route http_builtin_routes[] = {
	{ "GET", "/healthz", h_healthz, 0, 0 },
	{ "GET", "/readyz", h_readyz, 0, 0 },
	{ "GET", "/metrics", h_metrics, 0, 0 },
};
const size_t http_builtin_nroutes = ARRAY_SIZE(http_builtin_routes);

/* ---- metrics ------------------------------------------------------------------------------ */

static void collect_active(struct metrics *reg, void *arg)
{
	(void)reg;
	metrics_set(arg, (double)atomic_load(&active_total));
}

static void metrics_init(void)
{
	struct metrics *reg = metrics_default();
	struct metric *active;

	metrics_register_process(reg);
	m_duration = metrics_histogram(
	    reg, "http_server_request_duration_seconds", "Duration of HTTP server requests.",
	    METRIC_LABELS("method", "route", "status_code"), metrics_http_duration_buckets,
	    metrics_http_duration_nbuckets);
	active = metrics_gauge(reg, "http_server_active_requests",
			       "Number of HTTP server requests in flight.", METRIC_NO_LABELS);
	metrics_on_collect(reg, collect_active, metrics_series(active, METRIC_NO_LABELS));
}

void http_metrics_setup(void)
{
	pthread_once(&metrics_once, metrics_init);
}

void http_metrics_active(long delta)
{
	atomic_fetch_add(&active_total, delta);
}

/* ---- the SERVER span ---------------------------------------------------------------------- */

static int is_builtin(const struct route *r)
{
	return r >= http_builtin_routes && r < http_builtin_routes + http_builtin_nroutes;
}

static void span_attrs(struct http_conn *c, const struct route *r)
{
	struct trace_span *s = c->span;
	const char *ua = http_header(&c->req, "User-Agent");

	trace_span_set_str(s, "http.request.method", c->method_label);
	if (strcmp(c->method_label, "_OTHER") == 0)
		trace_span_set_str(s, "http.request.method_original", c->method);
	trace_span_set_str(s, "url.path", c->path);
	trace_span_set_str(s, "url.scheme", "http");
	if (c->rawquery)
		trace_span_set_str(s, "url.query", c->rawquery);
	if (r)
		trace_span_set_str(s, "http.route", r->pattern);
	trace_span_set_int(s, "server.port", c->srv->port);
	if (c->remote[0])
		trace_span_set_str(s, "client.address", c->remote);
	if (ua)
		trace_span_set_str(s, "user_agent.original", ua);
	if (c->version[0])
		trace_span_set_str(s, "network.protocol.version", c->version);
}

void http_span_begin(struct http_conn *c, const struct route *r)
{
	const char *m = strcmp(c->method_label, "_OTHER") != 0 ? c->method_label : "HTTP";
	struct trace_context parent;
	char name[160];

	if (r && is_builtin(r))
		return;
	/* zeroed when absent: a new trace */
	(void)trace_context_extract(c->headers.v, c->headers.n, &parent);
	/* The name is formatted only for a span that records (a sampled one). */
	(void)trace_span_start(m, TRACE_SPAN_SERVER, &parent, &c->span);
	c->req.span = c->span;
	if (!trace_span_recording(c->span))
		return;
	if (r) {
		snprintf(name, sizeof(name), "%s %s", m, r->pattern);
		trace_span_set_name(c->span, name);
	}
	span_attrs(c, r);
}

void http_span_finish(struct http_conn *c)
{
	char code[16];

	if (!c->span)
		return;
	if (c->sent_status > 0)
		trace_span_set_int(c->span, "http.response.status_code", c->sent_status);
	if (c->sent_status >= 500) {
		snprintf(code, sizeof(code), "%d", c->sent_status);
		trace_span_set_str(c->span, "error.type", code);
		trace_span_set_status(c->span, TRACE_STATUS_ERROR, NULL);
	} else if (c->toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		/* the request or the response did not go through whole (semconv: an Error) */
		trace_span_set_str(c->span, "error.type",
				   c->toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED
				       ? "timeout"
				       : "connection_aborted");
		trace_span_set_status(c->span, TRACE_STATUS_ERROR, NULL);
	}
	trace_span_end(c->span);
	c->span = NULL;
	c->req.span = NULL;
}

/* ---- access log and duration -------------------------------------------------------------- */

static void access_log(struct http_conn *c, long long ns)
{
	enum log_level level = (c->flags & ROUTE_QUIET) ? LOG_DEBUG : LOG_INFO;
	json_t *f;

	if (!log_enabled(level))
		return;
	f = json_object();
	json_object_set_new(f, "method", jsonenc_string(c->method ? c->method : "-"));
	json_object_set_new(f, "route", json_string(c->req.route));
	json_object_set_new(f, "path", jsonenc_string(c->path));
	json_object_set_new(f, "status", json_integer(c->sent_status));
	json_object_set_new(f, "duration_ms", json_real((double)ns / 1e6));
	json_object_set_new(f, "bytes_in", json_integer((json_int_t)c->bytes_in));
	json_object_set_new(f, "bytes_out",
			    json_integer((json_int_t)(c->sent_status ? c->rlen : 0)));
	json_object_set_new(f, "remote", json_string(c->remote));
	if (c->toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		json_object_set_new(f, "aborted", json_integer((json_int_t)c->toe));
	trace_log_span(c->span);
	log_fields(level, f, "request");
	trace_log_span(trace_current());
}

void http_observe(struct http_conn *c, long long ns)
{
	if (c->sent_status) {
		char code[16];
		int st = c->sent_status;

		if (st >= 100 && st <= 999) { /* every status MHD sends; no printf per request */
			code[0] = (char)('0' + st / 100);
			code[1] = (char)('0' + st / 10 % 10);
			code[2] = (char)('0' + st % 10);
			code[3] = '\0';
		} else {
			snprintf(code, sizeof(code), "%d", st);
		}
		/* the exemplar links to the request's trace only when its span is exported */
		metrics_observe_exemplar(
		    metrics_series(m_duration, METRIC_LABELS(c->method_label, c->req.route, code)),
		    (double)ns / 1e9,
		    trace_span_recording(c->span) ? trace_span_context(c->span) : NULL);
	}
	access_log(c, ns);
}
