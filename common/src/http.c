/*
 * http.c: the HTTP server on libmicrohttpd 0.9.75 (see http.h).
 *
 * Life of a request (struct http_conn, refcounted):
 *   on_uri        MHD parsed the request line: allocate the state, keep the raw path.
 *                 The pointer becomes *con_cls; the MHD reference is dropped in on_completed.
 *   on_access #1  headers are in: copy headers and query, route, reject early (400/404/405/
 *                 413/415, CORS preflight) by queueing an error at once.
 *   on_access #n  body chunks: accumulate up to the route's cap, 413 beyond it.
 *   on_access end run the handler; queue its response, or park the connection (suspend).
 *   http_resume   another thread: MHD_resume_connection; MHD calls on_access again and the
 *                 stored response is queued. http_suspend() took a reference for that thread.
 *   on_completed  metrics, access log, drop the MHD reference.
 *   conn_free     the last reference: the SERVER span gets its status and ends.
 *
 * Tracing: the SERVER span starts once the request is routed (first_call), is current on the
 * pool thread while the handler runs, stops being current on http_suspend() and http_resume()
 * (a resuming thread may enter it meanwhile), and ends in conn_free(), when no thread can use
 * it any more. The built-in routes (/healthz, /readyz, /metrics) get no span: probes every
 * few seconds would bury the traces that matter.
 *
 * Locks: srv->lock (the list of parked requests, the stopping flag) is taken before c->lock.
 * c->lock guards the response and the suspend/resume flags, which two threads can touch.
 */
#include "common/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/trace.h"
#include "common/xalloc.h"

#define METRICS_MAX_BYTES  ((size_t)16 * 1024 * 1024)
#define DRAIN_AFTER_503_MS 2000
#define DISCARD_SLACK	   ((size_t)64 * 1024)

struct kv_list {
	struct http_header *v;
	size_t n, alloc;
};

/* Request headers or query values, copied into the request's arena. */
struct kv_in {
	struct http_header *v;
	size_t n, alloc;
};

struct http_upgrade {
	http_upgrade_fn fn;
	void *arg;
	struct MHD_UpgradeResponseHandle *urh;
};

struct http_server {
	struct http_server_config cfg;
	struct MHD_Daemon *d;
	int port;
	pthread_mutex_t lock;
	struct http_conn *parked; /* MHD-suspended requests, under lock */
	int stopping;		  /* under lock: no more parking */
	atomic_int draining;	  /* responses carry Connection: close */
	atomic_long active;	  /* requests between on_uri and on_completed */
};

struct http_conn {
	struct http_request req; /* first: handlers get &c->req */
	struct http_server *srv;
	struct MHD_Connection *mc;
	pthread_mutex_t lock;
	int refs;
	struct arena arena; /* http_arena(): the request's copies and the handler's scratch */
	struct timespec t0;
	char *path, *method, *rawquery; /* in arena */
	char remote[INET6_ADDRSTRLEN];
	char version[16]; /* "1.1" */
	struct trace_span *span;
	int aborted; /* MHD terminated the request before a normal completion */
	const char *method_label;
	struct kv_in headers, query; /* in arena */
	struct route_match match;
	unsigned flags; /* of the matched route */
	struct buf body;
	size_t cap; /* body cap of the matched route */
	size_t bytes_in;
	int started, dispatched, queued, too_large, want_suspend, mhd_suspended, resumed, forced;
	/* the response */
	int has_response, status;
	char *ctype, *rbody;
	size_t rlen;
	struct kv_list out;
	struct http_upgrade *upgrade;
	struct http_conn *prev, *next; /* srv->parked */
	int in_list;
};

/* http_set_defaults(): what a config's zero fields become (set before any server starts). */
static struct {
	char bind[INET6_ADDRSTRLEN];
	unsigned connection_timeout_s, header_timeout_s, client_connection_limit;
} defaults;

static struct metric *m_duration;
static atomic_long active_total;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static int h_healthz(struct http_request *req);
static int h_readyz(struct http_request *req);
static int h_metrics(struct http_request *req);

static const struct route builtin_routes[] = {
	{ "GET", "/healthz", h_healthz, 0, 0 },
	{ "GET", "/readyz", h_readyz, 0, 0 },
	{ "GET", "/metrics", h_metrics, 0, 0 },
};

/* ---- small helpers ------------------------------------------------------------------------ */

static struct http_conn *conn_of(const struct http_request *req)
{
	/* req is the first member of struct http_conn */
	return (struct http_conn *)(uintptr_t)req;
}

static void kv_add(struct kv_list *l, const char *name, const char *value)
{
	XGROW(l->v, l->n + 1, l->alloc);
	l->v[l->n].name = xstrdup(name ? name : "");
	l->v[l->n].value = xstrdup(value ? value : "");
	l->n++;
}

static void kv_clear(struct kv_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free((char *)(uintptr_t)l->v[i].name);
		free((char *)(uintptr_t)l->v[i].value);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static long long elapsed_ns(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000000000LL + (t1.tv_nsec - t0->tv_nsec);
}

/* A JSON string for text that may hold invalid UTF-8 (bytes >= 0x80 become '?' then). */
static json_t *json_str_safe(const char *s)
{
	json_t *j = json_string(s ? s : "");
	char *copy;
	size_t i;

	if (j)
		return j;
	copy = xstrdup(s);
	for (i = 0; copy[i]; i++)
		if ((unsigned char)copy[i] >= 0x80 || (unsigned char)copy[i] < 0x20)
			copy[i] = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static const char *method_label(const char *m)
{
	static const char *const known[] = { "GET",    "HEAD",	  "POST",  "PUT",    "PATCH",
					     "DELETE", "OPTIONS", "TRACE", "CONNECT" };
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(m, known[i]) == 0)
			return known[i];
	return "_OTHER";
}

static void collect_active(struct metrics *reg, void *arg)
{
	(void)reg;
	metrics_set(arg, (double)atomic_load(&active_total));
}

static void metrics_setup(void)
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

/* ---- request state ------------------------------------------------------------------------ */

static void resp_clear(struct http_conn *c)
{
	free(c->ctype);
	free(c->rbody);
	c->ctype = c->rbody = NULL;
	c->rlen = 0;
	c->has_response = 0;
	c->status = 0;
	free(c->upgrade);
	c->upgrade = NULL;
}

static void span_finish(struct http_conn *c);

static void conn_free(struct http_conn *c)
{
	span_finish(c);
	resp_clear(c);
	kv_clear(&c->out);
	route_match_release(&c->match);
	buf_release(&c->body);
	arena_release(&c->arena);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void conn_unref(struct http_conn *c)
{
	int left;

	pthread_mutex_lock(&c->lock);
	left = --c->refs;
	pthread_mutex_unlock(&c->lock);
	if (left == 0)
		conn_free(c);
}

/* MHD_OPTION_URI_LOG_CALLBACK: the request line is parsed; the result becomes *con_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
	struct http_server *srv = cls;
	struct http_conn *c = xcalloc(1, sizeof(*c));

	pthread_mutex_init(&c->lock, NULL);
	c->refs = 1;
	c->srv = srv;
	c->mc = mc;
	arena_init(&c->arena);
	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	c->path = arena_strndup(&c->arena, uri ? uri : "", uri ? strcspn(uri, "?") : 0);
	if (uri && uri[strlen(c->path)] == '?')
		c->rawquery = arena_strdup(&c->arena, uri + strlen(c->path) + 1);
	buf_init(&c->body, srv->cfg.max_body);
	c->req.path = c->path;
	c->req.route = "unmatched";
	c->req.body = c->body.data;
	c->req.remote = c->remote;
	c->req.ctx = srv->cfg.ctx;
	atomic_fetch_add(&srv->active, 1);
	atomic_fetch_add(&active_total, 1);
	return c;
}

/* ---- request accessors -------------------------------------------------------------------- */

struct arena *http_arena(struct http_request *req)
{
	return &conn_of(req)->arena;
}

const char *http_param(const struct http_request *req, const char *name)
{
	return route_match_param(&conn_of(req)->match, name);
}

static const char *kv_find(const struct kv_in *l, const char *name, int nocase)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if ((nocase ? strcasecmp(l->v[i].name, name) : strcmp(l->v[i].name, name)) == 0)
			return l->v[i].value;
	return NULL;
}

const char *http_query(const struct http_request *req, const char *name)
{
	return kv_find(&conn_of(req)->query, name, 0);
}

const char *http_header(const struct http_request *req, const char *name)
{
	return kv_find(&conn_of(req)->headers, name, 1);
}

size_t http_header_count(const struct http_request *req, const char *name)
{
	const struct kv_in *l = &conn_of(req)->headers;
	size_t i, n = 0;

	for (i = 0; i < l->n; i++)
		n += strcasecmp(l->v[i].name, name) == 0;
	return n;
}

const struct http_header *http_headers(const struct http_request *req, size_t *n)
{
	const struct http_conn *c = conn_of(req);

	*n = c->headers.n;
	return c->headers.v;
}

/* ---- responses ---------------------------------------------------------------------------- */

/* Stores a response; c->lock held. */
static int resp_set(struct http_conn *c, int status, const char *ctype, const void *body,
		    size_t len)
{
	if (c->has_response || c->forced)
		return ERR_INTERNAL;
	c->has_response = 1;
	c->status = status;
	c->ctype = ctype ? xstrdup(ctype) : NULL;
	c->rbody = xmalloc(len + 1);
	if (len)
		memcpy(c->rbody, body, len);
	c->rbody[len] = '\0';
	c->rlen = len;
	return 0;
}

/* Stores the error answer for err; c->lock held. */
static int resp_error(struct http_conn *c, int err, const char *msg)
{
	json_t *j = json_object();
	char *text;
	int rc;

	json_object_set_new(j, "error", json_string(err_code_name(err)));
	json_object_set_new(j, "message", json_str_safe(msg));
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	rc = resp_set(c, err_http_status(err), "application/json", text, strlen(text));
	free(text);
	if (rc == 0 && err_retry_after(err))
		kv_add(&c->out, "Retry-After", "1");
	return rc;
}

int http_respond(struct http_request *req, int status, const char *content_type, const void *body,
		 size_t len)
{
	struct http_conn *c = conn_of(req);
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = resp_set(c, status, content_type, body, body ? len : 0);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int http_respond_json(struct http_request *req, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	int rc;

	json_decref(body);
	if (text == NULL)
		return http_fail(req, ERR_INTERNAL, "could not serialize the response");
	rc = http_respond(req, status, "application/json", text, strlen(text));
	free(text);
	return rc;
}

static int header_ok(const char *s)
{
	return strpbrk(s, "\r\n") == NULL;
}

int http_add_header(struct http_request *req, const char *name, const char *value)
{
	struct http_conn *c = conn_of(req);

	if (name == NULL || value == NULL || name[0] == '\0' || !header_ok(name) ||
	    !header_ok(value))
		return ERR_BAD_REQUEST;
	pthread_mutex_lock(&c->lock);
	if (!c->forced)
		kv_add(&c->out, name, value);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int http_fail(struct http_request *req, int err, const char *fmt, ...)
{
	struct http_conn *c = conn_of(req);
	struct buf msg;
	va_list ap;

	if (err >= 0)
		err = ERR_INTERNAL;
	buf_init(&msg, 4096);
	va_start(ap, fmt);
	(void)buf_vappendf(&msg, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&c->lock);
	(void)resp_error(c, err, msg.data);
	pthread_mutex_unlock(&c->lock);
	buf_release(&msg);
	return err;
}

int http_respond_upgrade(struct http_request *req, http_upgrade_fn fn, void *arg)
{
	struct http_conn *c = conn_of(req);
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = resp_set(c, MHD_HTTP_SWITCHING_PROTOCOLS, NULL, NULL, 0);
	if (rc == 0) {
		c->upgrade = xcalloc(1, sizeof(*c->upgrade));
		c->upgrade->fn = fn;
		c->upgrade->arg = arg;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static void on_upgraded(void *cls, struct MHD_Connection *mc, void *con_cls, const char *extra,
			size_t extra_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct http_upgrade *up = cls;

	(void)mc;
	(void)con_cls;
	up->urh = urh;
	up->fn(up->arg, sock, extra, extra_size, up);
}

void http_upgrade_close(struct http_upgrade *up)
{
	if (up == NULL)
		return;
	(void)MHD_upgrade_action(up->urh, MHD_UPGRADE_ACTION_CLOSE);
	free(up);
}

static struct MHD_Response *build_response(struct http_conn *c)
{
	struct MHD_Response *r;
	size_t i;

	if (c->upgrade) {
		r = MHD_create_response_for_upgrade(on_upgraded, c->upgrade);
		c->upgrade = NULL; /* owned by the upgraded connection now */
	} else {
		r = MHD_create_response_from_buffer(c->rlen, c->rbody, MHD_RESPMEM_MUST_FREE);
		c->rbody = NULL;
	}
	if (r == NULL)
		return NULL;
	if (c->ctype)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, c->ctype);
	for (i = 0; i < c->out.n; i++) {
		/* MHD adds "Connection: Upgrade" to 101 answers itself */
		if (c->status == MHD_HTTP_SWITCHING_PROTOCOLS &&
		    strcasecmp(c->out.v[i].name, "Connection") == 0)
			continue;
		(void)MHD_add_response_header(r, c->out.v[i].name, c->out.v[i].value);
	}
	if (c->srv->cfg.cors)
		(void)MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
	if (atomic_load(&c->srv->draining) && c->status != MHD_HTTP_SWITCHING_PROTOCOLS)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	return r;
}

/* Queues the stored response (on the connection's MHD thread). */
static enum MHD_Result queue_stored(struct http_conn *c)
{
	struct MHD_Response *r;
	enum MHD_Result ok;

	pthread_mutex_lock(&c->lock);
	if (!c->has_response)
		(void)resp_error(c, ERR_INTERNAL, "the handler returned without a response");
	c->queued = 1;
	r = build_response(c);
	pthread_mutex_unlock(&c->lock);
	if (r == NULL)
		return MHD_NO;
	ok = MHD_queue_response(c->mc, (unsigned)c->status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result fail_now(struct http_conn *c, int err, const char *msg)
{
	pthread_mutex_lock(&c->lock);
	resp_clear(c);
	(void)resp_error(c, err, msg);
	pthread_mutex_unlock(&c->lock);
	return queue_stored(c);
}

/* ---- suspend / resume --------------------------------------------------------------------- */

int http_suspend(struct http_request *req)
{
	struct http_conn *c = conn_of(req);

	if (c->span && trace_current() == c->span)
		trace_span_exit(c->span);
	pthread_mutex_lock(&c->lock);
	if (!c->want_suspend) {
		c->want_suspend = 1;
		c->refs++; /* for the thread that will call http_resume() */
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void http_resume(struct http_request *req)
{
	struct http_conn *c = conn_of(req);

	if (c->span && trace_current() == c->span)
		trace_span_exit(c->span);
	pthread_mutex_lock(&c->lock);
	c->resumed = 1;
	if (c->mhd_suspended) {
		c->mhd_suspended = 0;
		MHD_resume_connection(c->mc);
	}
	pthread_mutex_unlock(&c->lock);
	conn_unref(c);
}

/* Forces the 503 answer of a stopping server; c->lock held. */
static void force_unavailable(struct http_conn *c)
{
	resp_clear(c);
	kv_clear(&c->out);
	(void)resp_error(c, ERR_UNAVAILABLE, "the server is shutting down");
	c->forced = 1;
	c->resumed = 1;
}

/* After a handler called http_suspend(): park the connection, unless already resumed. */
static enum MHD_Result park(struct http_conn *c)
{
	struct http_server *srv = c->srv;

	pthread_mutex_lock(&srv->lock);
	pthread_mutex_lock(&c->lock);
	if (!c->resumed && srv->stopping)
		force_unavailable(c);
	if (c->resumed) {
		pthread_mutex_unlock(&c->lock);
		pthread_mutex_unlock(&srv->lock);
		return queue_stored(c);
	}
	MHD_suspend_connection(c->mc);
	c->mhd_suspended = 1;
	c->next = srv->parked;
	c->prev = NULL;
	if (srv->parked)
		srv->parked->prev = c;
	srv->parked = c;
	c->in_list = 1;
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&srv->lock);
	return MHD_YES;
}

static void unpark(struct http_conn *c)
{
	struct http_server *srv = c->srv;

	pthread_mutex_lock(&srv->lock);
	if (c->in_list) {
		if (c->prev)
			c->prev->next = c->next;
		else
			srv->parked = c->next;
		if (c->next)
			c->next->prev = c->prev;
		c->in_list = 0;
	}
	pthread_mutex_unlock(&srv->lock);
}

/* ---- built-in routes ---------------------------------------------------------------------- */

static int h_healthz(struct http_request *req)
{
	return http_respond_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static int h_readyz(struct http_request *req)
{
	struct http_server *srv = conn_of(req)->srv;
	struct buf why;
	int rc = 0;

	if (srv->cfg.ready == NULL)
		return http_respond_json(req, 200, json_pack("{s:s}", "status", "ready"));
	buf_init(&why, 4096);
	if (srv->cfg.ready(srv->cfg.ctx, &why) == 0) {
		rc = http_respond_json(req, 200, json_pack("{s:s}", "status", "ready"));
	} else {
		json_t *j = json_pack("{s:s}", "status", "not_ready");

		json_object_set_new(j, "reason", json_str_safe(why.len ? why.data : "not ready"));
		rc = http_respond_json(req, 503, j);
	}
	buf_release(&why);
	return rc;
}

static int h_metrics(struct http_request *req)
{
	struct buf out;
	int rc;

	buf_init(&out, METRICS_MAX_BYTES);
	if (metrics_render(metrics_default(), &out) != 0) {
		buf_release(&out);
		return http_fail(req, ERR_INTERNAL, "the metrics exposition is too large");
	}
	rc = http_respond(req, 200, METRICS_CONTENT_TYPE, out.data, out.len);
	buf_release(&out);
	return rc;
}

/* ---- the SERVER span ---------------------------------------------------------------------- */

static int is_builtin(const struct route *r)
{
	for (size_t i = 0; i < sizeof(builtin_routes) / sizeof(builtin_routes[0]); i++)
		if (r == &builtin_routes[i])
			return 1;
	return 0;
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

/*
 * Starts the SERVER span of a request routed to r (NULL when no route matched), continuing
 * the trace of its traceparent (or ce-traceparent) header. Built-in routes get none.
 */
static void span_begin(struct http_conn *c, const struct route *r)
{
	const char *m = strcmp(c->method_label, "_OTHER") != 0 ? c->method_label : "HTTP";
	const struct http_header *h;
	struct trace_context parent;
	char name[160];
	size_t n;

	if (r && is_builtin(r))
		return;
	h = http_headers(&c->req, &n);
	(void)trace_context_extract(h, n, &parent); /* zeroed when absent: a new trace */
	if (r)
		snprintf(name, sizeof(name), "%s %s", m, r->pattern);
	else
		snprintf(name, sizeof(name), "%s", m);
	(void)trace_span_start(name, TRACE_SPAN_SERVER, &parent, &c->span);
	c->req.span = c->span;
	if (trace_span_recording(c->span))
		span_attrs(c, r);
}

/* Records the outcome and ends the span; called with the last reference (conn_free). */
static void span_finish(struct http_conn *c)
{
	char code[16];

	if (!c->span)
		return;
	if (c->queued && c->status > 0) {
		trace_span_set_int(c->span, "http.response.status_code", c->status);
		if (c->status >= 500) {
			snprintf(code, sizeof(code), "%d", c->status);
			trace_span_set_str(c->span, "error.type", code);
			trace_span_set_status(c->span, TRACE_STATUS_ERROR, NULL);
		}
	} else if (c->aborted) {
		trace_span_set_str(c->span, "error.type", "connection_aborted");
	}
	trace_span_end(c->span);
	c->span = NULL;
	c->req.span = NULL;
}

/* Makes log records of this thread carry span's ids (NULL: none). */
static void log_trace_of(const struct trace_span *span)
{
	char tid[33], sid[17];

	if (!span) {
		log_set_trace(NULL, NULL);
		return;
	}
	trace_context_hex(trace_span_context(span), tid, sid);
	log_set_trace(tid, sid);
}

/* ---- the dispatcher ----------------------------------------------------------------------- */

static enum MHD_Result collect_kv(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	struct http_conn *c = cls;
	struct kv_in *l = kind == MHD_HEADER_KIND ? &c->headers : &c->query;

	if (l->n == l->alloc) /* MHD counted them before: cannot happen */
		return MHD_NO;
	l->v[l->n].name = arena_strdup(&c->arena, key ? key : "");
	l->v[l->n].value = arena_strdup(&c->arena, value ? value : "");
	l->n++;
	return MHD_YES;
}

/* Copies the request's values of one kind (headers or query) into the arena. */
static void collect_values(struct http_conn *c, enum MHD_ValueKind kind, struct kv_in *l)
{
	int n = MHD_get_connection_values(c->mc, kind, NULL, NULL);

	l->alloc = n > 0 ? (size_t)n : 0;
	l->v = arena_calloc(&c->arena, l->alloc, sizeof(*l->v));
	(void)MHD_get_connection_values(c->mc, kind, collect_kv, c);
}

/* An IPv6 peer address as text; an IPv4-mapped one (dual stack) as plain IPv4. */
static void remote_v6(const struct in6_addr *a, char *out, size_t n)
{
	if (IN6_IS_ADDR_V4MAPPED(a))
		inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)n);
	else
		inet_ntop(AF_INET6, a, out, (socklen_t)n);
}

static void request_info(struct http_conn *c, const char *method)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	c->method = arena_strdup(&c->arena, method);
	c->req.method = c->method;
	c->method_label = method_label(method);
	collect_values(c, MHD_HEADER_KIND, &c->headers);
	collect_values(c, MHD_GET_ARGUMENT_KIND, &c->query);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET,
				  &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
				  c->remote, sizeof(c->remote));
		else if (sa->sa_family == AF_INET6)
			remote_v6(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
				  c->remote, sizeof(c->remote));
	}
}

/* application/json or application/<x>+json, parameters ignored. */
static int is_json_type(const char *ct)
{
	size_t n;

	if (ct == NULL)
		return 0;
	ct += strspn(ct, " \t");
	n = strcspn(ct, "; \t");
	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return 1;
	return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
	       strncasecmp(ct + n - 5, "+json", 5) == 0;
}

static int is_tchar(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int is_token(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return 0;
	return 1;
}

/* Valid UTF-8 without control characters other than HTAB. */
static int is_clean_text(const unsigned char *s)
{
	while (*s) {
		size_t n, i;

		if (*s < 0x80) {
			if ((*s < 0x20 && *s != '\t') || *s == 0x7f)
				return 0;
			s++;
			continue;
		}
		if (*s >= 0xc2 && *s <= 0xdf)
			n = 1;
		else if (*s >= 0xe0 && *s <= 0xef)
			n = 2;
		else if (*s >= 0xf0 && *s <= 0xf4)
			n = 3;
		else
			return 0;
		for (i = 1; i <= n; i++)
			if ((s[i] & 0xc0) != 0x80)
				return 0;
		if ((*s == 0xe0 && s[1] < 0xa0) || (*s == 0xed && s[1] > 0x9f) ||
		    (*s == 0xf0 && s[1] < 0x90) || (*s == 0xf4 && s[1] > 0x8f))
			return 0; /* overlong, surrogate or beyond U+10FFFF */
		s += n + 1;
	}
	return 1;
}

/* What MHD's parser lets through but we refuse: returns a message, or NULL when fine. */
static const char *request_problem(const struct http_conn *c, const char *version)
{
	const char *te = http_header(&c->req, "Transfer-Encoding");
	size_t i;

	if (!is_token(c->method))
		return "malformed method";
	for (i = 0; i < c->headers.n; i++) {
		if (!is_token(c->headers.v[i].name))
			return "malformed header name";
		if (!is_clean_text((const unsigned char *)c->headers.v[i].value))
			return "header values must be UTF-8 text without control characters";
	}
	if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 && http_header_count(&c->req, "Host") != 1)
		return "HTTP/1.1 requests need exactly one Host header";
	if (http_header_count(&c->req, "Content-Length") > 1)
		return "more than one Content-Length";
	if (te == NULL)
		return NULL;
	if (http_header_count(&c->req, "Transfer-Encoding") > 1 || strcasecmp(te, "chunked") != 0)
		return "only Transfer-Encoding: chunked is supported";
	if (http_header(&c->req, "Content-Length"))
		return "Content-Length and Transfer-Encoding together";
	return NULL;
}

static enum MHD_Result preflight(struct http_conn *c)
{
	const char *want = http_header(&c->req, "Access-Control-Request-Headers");

	pthread_mutex_lock(&c->lock);
	(void)resp_set(c, 204, NULL, NULL, 0);
	kv_add(&c->out, "Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE");
	if (want && header_ok(want))
		kv_add(&c->out, "Access-Control-Allow-Headers", want);
	kv_add(&c->out, "Access-Control-Max-Age", "600");
	pthread_mutex_unlock(&c->lock);
	return queue_stored(c);
}

static int route_request(struct http_conn *c)
{
	const struct http_server_config *cfg = &c->srv->cfg;
	int rc;

	rc = route_match(builtin_routes, sizeof(builtin_routes) / sizeof(builtin_routes[0]),
			 c->method, c->path, &c->match);
	if (rc == ROUTE_NOT_FOUND) {
		route_match_release(&c->match);
		rc = route_match(cfg->routes, cfg->nroutes, c->method, c->path, &c->match);
	}
	return rc;
}

static enum MHD_Result check_body_limits(struct http_conn *c)
{
	const char *cl = http_header(&c->req, "Content-Length");
	const struct route *r = c->match.route;
	size_t cap = r->max_body ? r->max_body : c->srv->cfg.max_body;
	char msg[96];

	c->cap = cap;
	c->body.cap = cap;
	if (cl) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(cl, &end, 10);
		if (errno == 0 && end != cl && v > cap) {
			snprintf(msg, sizeof(msg), "the body exceeds %zu bytes", cap);
			return fail_now(c, ERR_TOO_LARGE, msg);
		}
	}
	if ((r->flags & ROUTE_JSON) && !is_json_type(http_header(&c->req, "Content-Type")))
		return fail_now(c, ERR_MEDIA_TYPE, "Content-Type must be application/json");
	return MHD_YES;
}

/* First call: headers are in. Route and reject what can be rejected before the body. */
static enum MHD_Result first_call(struct http_conn *c, const char *method, const char *version)
{
	const char *problem;
	char msg[192];
	int rc;

	c->started = 1;
	/* The headers are in: from here on the connection gets the longer idle timeout. */
	if (c->srv->cfg.header_timeout_s != c->srv->cfg.connection_timeout_s)
		(void)MHD_set_connection_option(c->mc, MHD_CONNECTION_OPTION_TIMEOUT,
						c->srv->cfg.connection_timeout_s);
	request_info(c, method);
	if (strncmp(version, "HTTP/", 5) == 0)
		snprintf(c->version, sizeof(c->version), "%s", version + 5);
	problem = request_problem(c, version);
	if (problem) {
		span_begin(c, NULL);
		return fail_now(c, ERR_BAD_REQUEST, problem);
	}
	rc = route_request(c);
	span_begin(c, rc == ROUTE_FOUND ? c->match.route : NULL);
	if (rc == ROUTE_BAD_PATH)
		return fail_now(c, ERR_BAD_REQUEST, "malformed request path");
	if (rc == ROUTE_NOT_FOUND)
		return fail_now(c, ERR_NOT_FOUND, "no such path");
	if (rc == ROUTE_NO_METHOD) {
		if (c->srv->cfg.cors && strcmp(method, "OPTIONS") == 0)
			return preflight(c);
		pthread_mutex_lock(&c->lock);
		kv_add(&c->out, "Allow", c->match.allow);
		pthread_mutex_unlock(&c->lock);
		snprintf(msg, sizeof(msg), "method %.40s is not allowed here; allowed: %.96s",
			 c->method, c->match.allow);
		return fail_now(c, ERR_METHOD, msg);
	}
	c->req.route = c->match.route->pattern;
	c->flags = c->match.route->flags;
	return check_body_limits(c);
}

/*
 * A body chunk. Beyond the cap nothing more is kept; MHD 0.9.75 cannot queue an answer in the
 * middle of a body, so the rest is read and dropped and the 413 goes out at the end. A client
 * that keeps sending far past the cap is disconnected.
 */
static enum MHD_Result body_chunk(struct http_conn *c, const char *data, size_t *size)
{
	size_t n = *size;

	*size = 0;
	c->bytes_in += n;
	if (c->too_large || c->queued)
		return c->bytes_in - n > c->cap * 2 + DISCARD_SLACK ? MHD_NO : MHD_YES;
	if (buf_append(&c->body, data, n) != BUF_OK) {
		c->too_large = 1;
		buf_release(&c->body);
		buf_init(&c->body, 1);
	}
	return MHD_YES;
}

static enum MHD_Result run_handler(struct http_conn *c)
{
	int rc;

	c->dispatched = 1;
	c->req.body = c->body.data;
	c->req.body_len = c->body.len;
	trace_span_enter(c->span);
	rc = c->match.route->handler(&c->req);
	if (c->span && trace_current() == c->span)
		trace_span_exit(c->span); /* http_suspend() already did when it was called */
	if (c->want_suspend)
		return park(c);
	if (rc < 0) {
		pthread_mutex_lock(&c->lock);
		if (!c->has_response)
			(void)resp_error(c, rc, "the request failed");
		pthread_mutex_unlock(&c->lock);
	}
	return queue_stored(c);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *mc, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct http_conn *c = *con_cls;
	char msg[96];

	if (c == NULL) /* cannot happen: on_uri always runs first */
		*con_cls = c = on_uri(cls, url, mc);
	if (!c->started)
		return first_call(c, method, version);
	if (*upload_data_size > 0)
		return body_chunk(c, upload_data, upload_data_size);
	if (c->queued)
		return MHD_YES;
	if (c->too_large) {
		snprintf(msg, sizeof(msg), "the body exceeds %zu bytes", c->cap);
		return fail_now(c, ERR_TOO_LARGE, msg);
	}
	if (c->dispatched) /* back from a suspension */
		return queue_stored(c);
	return run_handler(c);
}

static void access_log(struct http_conn *c, long long ns, enum MHD_RequestTerminationCode toe)
{
	json_t *f = json_object();
	enum log_level level = (c->flags & ROUTE_QUIET) ? LOG_DEBUG : LOG_INFO;

	if (!log_enabled(level)) {
		json_decref(f);
		return;
	}
	json_object_set_new(f, "method", json_str_safe(c->method ? c->method : "-"));
	json_object_set_new(f, "route", json_string(c->req.route));
	json_object_set_new(f, "path", json_str_safe(c->path));
	json_object_set_new(f, "status", json_integer(c->queued ? c->status : 0));
	json_object_set_new(f, "duration_ms", json_real((double)ns / 1e6));
	json_object_set_new(f, "bytes_in", json_integer((json_int_t)c->bytes_in));
	json_object_set_new(f, "bytes_out", json_integer((json_int_t)(c->queued ? c->rlen : 0)));
	json_object_set_new(f, "remote", json_string(c->remote));
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		json_object_set_new(f, "aborted", json_integer((json_int_t)toe));
	log_trace_of(c->span);
	log_fields(level, f, "request");
	log_trace_of(trace_current());
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_conn *c = *con_cls;
	long long ns;

	(void)mc;
	if (c == NULL)
		return;
	*con_cls = NULL;
	ns = elapsed_ns(&c->t0);
	c->aborted = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK;
	if (c->started && c->queued) {
		char code[16];

		snprintf(code, sizeof(code), "%d", c->status);
		metrics_observe(
		    metrics_series(m_duration, METRIC_LABELS(c->method_label, c->req.route, code)),
		    (double)ns / 1e9);
	}
	access_log(c, ns, toe);
	unpark(c);
	atomic_fetch_sub(&active_total, 1);
	atomic_fetch_sub(&srv->active, 1);
	conn_unref(c);
}

/* ---- the server --------------------------------------------------------------------------- */

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_warn("microhttpd: %s", line);
}

static int parse_bind(const char *addr, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return ERR_INTERNAL;
}

/*
 * MHD_OPTION_NOTIFY_CONNECTION: a new connection waits for its first request's headers, so it
 * gets the short header timeout; first_call() gives it the idle timeout once they are in.
 * (libmicrohttpd calls this outside its connection-list lock; MHD_set_connection_option()
 * takes that lock, so it must not be called from on_completed(), which may run under it.)
 */
static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;

	(void)socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED &&
	    srv->cfg.header_timeout_s != srv->cfg.connection_timeout_s)
		(void)MHD_set_connection_option(mc, MHD_CONNECTION_OPTION_TIMEOUT,
						srv->cfg.header_timeout_s);
}

static struct MHD_Daemon *start_daemon(struct http_server *srv, unsigned extra_flags,
				       const struct sockaddr_storage *ss)
{
	const struct http_server_config *cfg = &srv->cfg;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG |
			 extra_flags;
	struct MHD_OptionItem addr[2] = { { MHD_OPTION_END, 0, NULL },
					  { MHD_OPTION_END, 0, NULL } };

	if (ss) {
		addr[0].option = MHD_OPTION_SOCK_ADDR;
		addr[0].ptr_value = (void *)(uintptr_t)ss;
	}
	return MHD_start_daemon(
	    flags, (uint16_t)cfg->port, NULL, NULL, on_access, srv, MHD_OPTION_EXTERNAL_LOGGER,
	    on_mhd_log, srv, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED,
	    on_completed, srv, MHD_OPTION_THREAD_POOL_SIZE, cfg->threads,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_CONNECTION_TIMEOUT,
	    cfg->connection_timeout_s, MHD_OPTION_CONNECTION_LIMIT, cfg->connection_limit,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->client_connection_limit,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->connection_memory, MHD_OPTION_ARRAY, addr,
	    MHD_OPTION_END);
}

void http_set_defaults(const char *bind, unsigned connection_timeout_s, unsigned header_timeout_s,
		       unsigned client_connection_limit)
{
	snprintf(defaults.bind, sizeof(defaults.bind), "%s", bind ? bind : "");
	defaults.connection_timeout_s = connection_timeout_s;
	defaults.header_timeout_s = header_timeout_s;
	defaults.client_connection_limit = client_connection_limit;
}

static void config_defaults(struct http_server_config *cfg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cfg->bind == NULL && defaults.bind[0])
		cfg->bind = defaults.bind;
	if (cfg->connection_timeout_s == 0)
		cfg->connection_timeout_s = defaults.connection_timeout_s;
	if (cfg->header_timeout_s == 0)
		cfg->header_timeout_s = defaults.header_timeout_s;
	if (cfg->client_connection_limit == 0)
		cfg->client_connection_limit = defaults.client_connection_limit;

	if (cfg->threads == 0)
		cfg->threads = cpus > 0 ? (unsigned)cpus : 1;
	if (cfg->max_body == 0)
		cfg->max_body = HTTP_DEFAULT_MAX_BODY;
	if (cfg->shutdown_grace_ms <= 0)
		cfg->shutdown_grace_ms = 10000;
	if (cfg->connection_timeout_s == 0)
		cfg->connection_timeout_s = HTTP_DEFAULT_IDLE_TIMEOUT_S;
	if (cfg->header_timeout_s == 0)
		cfg->header_timeout_s = HTTP_DEFAULT_HEADER_TIMEOUT_S;
	if (cfg->header_timeout_s > cfg->connection_timeout_s)
		cfg->header_timeout_s = cfg->connection_timeout_s; /* never longer than idle */
	if (cfg->connection_limit == 0)
		cfg->connection_limit = 1000;
	if (cfg->client_connection_limit == 0)
		cfg->client_connection_limit =
		    cfg->connection_limit >= 4 ? cfg->connection_limit / 4 : 1;
	if (cfg->connection_memory == 0)
		cfg->connection_memory = (size_t)64 * 1024;
	if (cfg->service == NULL)
		cfg->service = "http";
}

int http_server_start(const struct http_server_config *cfg, struct http_server **out)
{
	struct http_server *srv = xcalloc(1, sizeof(*srv));
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *di;

	*out = NULL;
	pthread_once(&metrics_once, metrics_setup);
	srv->cfg = *cfg;
	config_defaults(&srv->cfg);
	pthread_mutex_init(&srv->lock, NULL);
	if (srv->cfg.bind) {
		if (parse_bind(srv->cfg.bind, cfg->port, &ss) != 0) {
			log_error("http: bad bind address '%s'", srv->cfg.bind);
			goto fail;
		}
		srv->d = start_daemon(srv, 0, &ss);
	} else {
		srv->d = start_daemon(srv, MHD_USE_DUAL_STACK, NULL);
		if (srv->d == NULL)
			srv->d = start_daemon(srv, 0, NULL);
	}
	if (srv->d == NULL) {
		log_error("http: cannot listen on %s port %d", srv->cfg.bind ? srv->cfg.bind : "*",
			  cfg->port);
		goto fail;
	}
	di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = di ? (int)di->port : cfg->port;
	log_info("http: %s listening on port %d with %u threads", srv->cfg.service, srv->port,
		 srv->cfg.threads);
	*out = srv;
	return 0;
fail:
	pthread_mutex_destroy(&srv->lock);
	free(srv);
	return ERR_INTERNAL;
}

int http_server_port(const struct http_server *srv)
{
	return srv->port;
}

/* Waits until no request is in flight or deadline_ns (CLOCK_MONOTONIC) passes. */
static void wait_idle(struct http_server *srv, const struct timespec *t0, long long limit_ns)
{
	const struct timespec tick = { 0, 10000000L };

	while (atomic_load(&srv->active) > 0 && elapsed_ns(t0) < limit_ns)
		nanosleep(&tick, NULL);
}

/* Answers every parked request with 503 and resumes it; no request parks after this. */
static size_t answer_parked(struct http_server *srv)
{
	struct http_conn *c;
	size_t n = 0;

	pthread_mutex_lock(&srv->lock);
	srv->stopping = 1;
	for (c = srv->parked; c; c = c->next) {
		pthread_mutex_lock(&c->lock);
		if (c->mhd_suspended) {
			force_unavailable(c);
			c->mhd_suspended = 0;
			MHD_resume_connection(c->mc);
			n++;
		}
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&srv->lock);
	return n;
}

void http_server_stop(struct http_server *srv)
{
	struct timespec t0;
	MHD_socket fd;
	size_t forced;

	if (srv == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	atomic_store(&srv->draining, 1);
	fd = MHD_quiesce_daemon(srv->d);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	log_info("http: stopping, %ld requests in flight", atomic_load(&srv->active));
	wait_idle(srv, &t0, srv->cfg.shutdown_grace_ms * 1000000LL);
	forced = answer_parked(srv);
	if (forced)
		log_warn("http: answered %zu suspended requests with 503", forced);
	wait_idle(srv, &t0, (srv->cfg.shutdown_grace_ms + DRAIN_AFTER_503_MS) * 1000000LL);
	MHD_stop_daemon(srv->d);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}
