/*
 * http.c: the HTTP server on libmicrohttpd 0.9.75 (see http.h): the MHD callbacks and the
 * request lifecycle, a state machine whose diagram is in http_internal.h (and
 * docs/http-lifecycle.md).
 *
 *   on_uri        MHD parsed the request line: allocate the request, keep the raw path.
 *   on_access     one function per state: route and reject early (HEADERS), collect the body
 *                 up to the route's cap (BODY, DISCARD), run the handler, queue its answer or
 *                 park the connection (HANDLER -> SUSPENDED -> PARKED), queue the answer of a
 *                 resumed request (RESUMED).
 *   http_resume   another thread: MHD_resume_connection; MHD calls on_access again.
 *   on_completed  metrics, access log (http_builtin.c), drop MHD's reference.
 *   conn_free     the last reference: the SERVER span ends, the arena goes.
 */
#include "common/http.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/dlapi.h"
#include "common/err.h"
#include "common/http_check.h"
#include "common/jsonenc.h"
#include "common/log.h"
#include "common/trace.h"
#include "common/xalloc.h"
#include "http_internal.h"

#define DRAIN_AFTER_503_MS 2000
#define DISCARD_SLACK	   ((size_t)64 * 1024)

/* http_set_defaults(): what a config's zero fields become (set before any server starts). */
static struct {
	char bind[INET6_ADDRSTRLEN];
	unsigned connection_timeout_s, header_timeout_s, client_connection_limit;
} defaults;

/* ---- the state machine -------------------------------------------------------------------- */

#define TO(s) (1u << (s))

/* The edges of the diagram in http_internal.h: legal[from] has bit `to` set. */
static const unsigned legal[] = {
	[CONN_HEADERS] = TO(CONN_BODY) | TO(CONN_QUEUED) | TO(CONN_DONE),
	[CONN_BODY] = TO(CONN_DISCARD) | TO(CONN_HANDLER) | TO(CONN_DONE),
	[CONN_DISCARD] = TO(CONN_QUEUED) | TO(CONN_DONE),
	[CONN_HANDLER] = TO(CONN_SUSPENDED) | TO(CONN_QUEUED),
	[CONN_SUSPENDED] = TO(CONN_PARKED) | TO(CONN_RESUMED),
	[CONN_PARKED] = TO(CONN_RESUMED) | TO(CONN_DONE),
	[CONN_RESUMED] = TO(CONN_QUEUED) | TO(CONN_DONE),
	[CONN_QUEUED] = TO(CONN_DONE),
	[CONN_DONE] = 0,
};

int http_conn_transition_ok(int from, int to)
{
	if (from < CONN_HEADERS || from > CONN_DONE || to < CONN_HEADERS || to > CONN_DONE)
		return 0;
	return (legal[from] & TO(to)) != 0;
}

/* The one place c->state changes; c->lock held (readers use atomic_load, no lock). */
static void conn_to(struct http_conn *c, enum conn_state to)
{
	assert(http_conn_transition_ok((int)atomic_load(&c->state), (int)to));
	atomic_store(&c->state, to);
}

/* ---- request state ------------------------------------------------------------------------ */

/* Frees or gives back the stored body. */
static void rbody_drop(struct http_conn *c)
{
	if (!c->rref)
		free(c->rbody);
	else if (c->rrelease)
		c->rrelease(c->rarg);
	c->rbody = NULL;
	c->rref = 0;
	c->rrelease = NULL;
	c->rarg = NULL;
}

static void resp_clear(struct http_conn *c)
{
	free(c->ctype);
	c->ctype = NULL;
	rbody_drop(c);
	c->rlen = 0;
	c->resp = RESP_NONE;
	c->status = 0;
	free(c->upgrade);
	c->upgrade = NULL;
}

static void conn_free(struct http_conn *c)
{
	assert(c->refs == 0 && list_empty(&c->node));
	http_span_finish(c);
	resp_clear(c);
	header_list_release(&c->out);
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
	assert(c->refs > 0);
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
	const char *target = uri ? http_check_origin_form(uri) : "";
	size_t plen = strcspn(target, "?");

	pthread_mutex_init(&c->lock, NULL);
	c->refs = 1;
	c->state = CONN_HEADERS;
	c->srv = srv;
	c->mc = mc;
	list_init(&c->node);
	arena_init(&c->arena);
	c->t0_ns = clock_mono_ns();
	/* an absolute-form target without a path stands for "/" (RFC 9112 §3.2.2) */
	c->path = plen == 0 && target != uri ? arena_strdup(&c->arena, "/")
					     : arena_strndup(&c->arena, target, plen);
	if (target[plen] == '?')
		c->rawquery = arena_strdup(&c->arena, target + plen + 1);
	buf_init(&c->body, srv->cfg.max_body);
	c->req.path = c->path;
	c->req.route = "unmatched";
	c->req.body = c->body.data;
	c->req.remote = c->remote;
	c->req.version = c->version;
	c->req.ctx = srv->cfg.ctx;
	atomic_fetch_add(&srv->active, 1);
	http_metrics_active(1);
	return c;
}

/* ---- request accessors -------------------------------------------------------------------- */

struct arena *http_arena(struct http_request *req)
{
	return &http_conn_of(req)->arena;
}

const char *http_param(const struct http_request *req, const char *name)
{
	return route_match_param(&http_conn_of(req)->match, name);
}

static const char *kv_find(const struct kv_in *l, const char *name, int nocase)
{
	for (size_t i = 0; i < l->n; i++)
		if ((nocase ? strcasecmp(l->v[i].name, name) : strcmp(l->v[i].name, name)) == 0)
			return l->v[i].value;
	return NULL;
}

const char *http_query(const struct http_request *req, const char *name)
{
	return kv_find(&http_conn_of(req)->query, name, 0);
}

const char *http_header(const struct http_request *req, const char *name)
{
	return kv_find(&http_conn_of(req)->headers, name, 1);
}

size_t http_header_count(const struct http_request *req, const char *name)
{
	const struct kv_in *l = &http_conn_of(req)->headers;
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		n += strcasecmp(l->v[i].name, name) == 0;
	return n;
}

const struct http_header *http_headers(const struct http_request *req, size_t *n)
{
	const struct http_conn *c = http_conn_of(req);

	*n = c->headers.n;
	return c->headers.v;
}

/* ---- responses ---------------------------------------------------------------------------- */

/* Stores a response; c->lock held. */
static int resp_set(struct http_conn *c, int status, const char *ctype, const void *body,
		    size_t len)
{
	if (c->resp != RESP_NONE)
		return ERR_INTERNAL;
	c->resp = RESP_SET;
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
	json_object_set_new(j, "message", jsonenc_string(msg));
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	rc = resp_set(c, err_http_status(err), "application/json", text, strlen(text));
	free(text);
	if (rc == 0 && err_retry_after(err))
		header_list_add(&c->out, "Retry-After", "1");
	return rc;
}

int http_respond(struct http_request *req, int status, const char *content_type, const void *body,
		 size_t len)
{
	struct http_conn *c = http_conn_of(req);
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = resp_set(c, status, content_type, body, body ? len : 0);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int http_respond_ref(struct http_request *req, int status, const char *content_type,
		     const void *body, size_t len, void (*release)(void *arg), void *arg)
{
	struct http_conn *c = http_conn_of(req);
	int rc = ERR_INTERNAL;

	pthread_mutex_lock(&c->lock);
	if (c->resp == RESP_NONE) {
		c->resp = RESP_SET;
		c->status = status;
		c->ctype = content_type ? xstrdup(content_type) : NULL;
		c->rbody = (char *)(uintptr_t)body;
		c->rlen = body ? len : 0;
		c->rref = 1;
		c->rrelease = release;
		c->rarg = arg;
		rc = 0;
	}
	pthread_mutex_unlock(&c->lock);
	if (rc && release)
		release(arg);
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

int http_add_header(struct http_request *req, const char *name, const char *value)
{
	struct http_conn *c = http_conn_of(req);

	if (name == NULL || value == NULL || name[0] == '\0' || !http_check_value(name) ||
	    !http_check_value(value))
		return ERR_BAD_REQUEST;
	pthread_mutex_lock(&c->lock);
	if (c->resp != RESP_FORCED)
		header_list_add(&c->out, name, value);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int http_fail(struct http_request *req, int err, const char *fmt, ...)
{
	struct http_conn *c = http_conn_of(req);
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

int http_fail_buf(struct http_request *req, int err, const struct buf *msg)
{
	return http_fail(req, err, "%s", msg->len ? msg->data : "request failed");
}

int http_respond_upgrade(struct http_request *req, http_upgrade_fn fn, void *arg)
{
	struct http_conn *c = http_conn_of(req);
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

/*
 * The MHD response for the stored one; c->lock held. An upgrade response takes c->upgrade
 * into *up: the caller frees it unless libmicrohttpd queued the response (on_upgraded() then
 * hands it to the upgrade function, which owns it).
 */
static struct MHD_Response *build_response(struct http_conn *c, struct http_upgrade **up)
{
	struct MHD_Response *r;

	*up = NULL;
	if (c->upgrade) {
		r = MHD_create_response_for_upgrade(on_upgraded, c->upgrade);
		if (r) {
			*up = c->upgrade;
			c->upgrade = NULL;
		}
	} else if (c->rref) {
		r = MHD_create_response_from_buffer_with_free_callback_cls(c->rlen, c->rbody,
									   c->rrelease, c->rarg);
		if (r) { /* given to libmicrohttpd */
			c->rbody = NULL;
			c->rref = 0;
			c->rrelease = NULL;
		}
	} else {
		r = MHD_create_response_from_buffer(c->rlen, c->rbody, MHD_RESPMEM_MUST_FREE);
		if (r)
			c->rbody = NULL;
	}
	if (r == NULL)
		return NULL;
	if (c->ctype)
		(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, c->ctype);
	for (size_t i = 0; i < c->out.n; i++) {
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

/*
 * Queues the stored response (on the connection's MHD thread): -> CONN_QUEUED. When
 * libmicrohttpd refuses it (a 101 on HTTP/1.0) the connection closes without an answer:
 * sent_status goes back to 0, so the access log, the metrics and the span claim no status.
 */
static enum MHD_Result queue_stored(struct http_conn *c)
{
	struct http_upgrade *up;
	struct MHD_Response *r;
	enum MHD_Result ok = MHD_NO;
	int status;

	pthread_mutex_lock(&c->lock);
	if (c->resp == RESP_NONE)
		(void)resp_error(c, ERR_INTERNAL, "the handler returned without a response");
	conn_to(c, CONN_QUEUED);
	c->sent_status = status = c->status;
	r = build_response(c, &up);
	pthread_mutex_unlock(&c->lock);
	if (r) {
		ok = MHD_queue_response(c->mc, (unsigned)status, r);
		MHD_destroy_response(r);
	}
	if (ok == MHD_YES)
		return MHD_YES;
	free(up); /* on_upgraded() never runs: nobody else would free it */
	log_warn("http: the %d answer could not be queued; the connection is closed", status);
	pthread_mutex_lock(&c->lock);
	c->sent_status = 0;
	pthread_mutex_unlock(&c->lock);
	return MHD_NO;
}

/* Replaces whatever was stored with the error answer and queues it. */
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
	struct http_conn *c = http_conn_of(req);

	trace_span_exit(c->span); /* when it is this thread's current span */
	pthread_mutex_lock(&c->lock);
	if (c->state == CONN_HANDLER) { /* a second call changes nothing */
		conn_to(c, CONN_SUSPENDED);
		c->refs++; /* for the thread that will call http_resume() */
	}
	assert(c->state == CONN_SUSPENDED);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void http_resume(struct http_request *req)
{
	struct http_conn *c = http_conn_of(req);

	trace_span_exit(c->span); /* when it is this thread's current span */
	pthread_mutex_lock(&c->lock);
	/* The stop may have answered already (RESUMED, QUEUED), or the daemon closed (DONE). */
	assert(c->state >= CONN_SUSPENDED);
	if (c->state == CONN_SUSPENDED) {
		conn_to(c, CONN_RESUMED);
	} else if (c->state == CONN_PARKED) {
		conn_to(c, CONN_RESUMED);
		MHD_resume_connection(c->mc);
	}
	pthread_mutex_unlock(&c->lock);
	conn_unref(c);
}

/* Forces the 503 answer of a stopping server; c->lock held. */
static void force_unavailable(struct http_conn *c)
{
	resp_clear(c);
	header_list_release(&c->out);
	(void)resp_error(c, ERR_UNAVAILABLE, "the server is shutting down");
	c->resp = RESP_FORCED;
	conn_to(c, CONN_RESUMED);
}

/*
 * park() with srv->lock held, which it lets go: parks the connection unless resumed (then
 * queues the answer).
 */
static enum MHD_Result park_locked(struct http_conn *c)
{
	struct http_server *srv = c->srv;

	pthread_mutex_lock(&c->lock);
	if (c->state == CONN_SUSPENDED && srv->stopping)
		force_unavailable(c);
	if (c->state == CONN_RESUMED) {
		pthread_mutex_unlock(&c->lock);
		pthread_mutex_unlock(&srv->lock);
		return queue_stored(c);
	}
	MHD_suspend_connection(c->mc);
	conn_to(c, CONN_PARKED);
	list_add(&c->node, &srv->parked);
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&srv->lock);
	return MHD_YES;
}

/* After the handler returned from http_suspend(): park the connection, unless resumed. */
static enum MHD_Result park(struct http_conn *c)
{
	pthread_mutex_lock(&c->srv->lock);
	return park_locked(c);
}

/* Answers every parked request with 503 and resumes it; no request parks after this. */
static size_t answer_parked(struct http_server *srv)
{
	struct list_head *pos;
	size_t n = 0;

	pthread_mutex_lock(&srv->lock);
	srv->stopping = 1;
	list_for_each(pos, &srv->parked) {
		struct http_conn *c = list_entry(pos, struct http_conn, node);

		pthread_mutex_lock(&c->lock);
		if (c->state == CONN_PARKED) {
			force_unavailable(c);
			MHD_resume_connection(c->mc);
			n++;
		}
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&srv->lock);
	return n;
}

/* ---- reading the request ------------------------------------------------------------------ */

static enum MHD_Result collect_kv(void *cls, enum MHD_ValueKind kind, const char *key,
				  size_t key_size, const char *value, size_t value_size)
{
	struct http_conn *c = cls;
	struct kv_in *l = kind == MHD_HEADER_KIND ? &c->headers : &c->query;

	if (l->n == l->alloc) /* MHD counted them before: cannot happen */
		return MHD_NO;
	/* A decoded %00 would cut the C string short ("1%00junk" read as "1"): refused. */
	if ((key && strlen(key) != key_size) || (value && strlen(value) != value_size))
		l->nul = true;
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
	(void)MHD_get_connection_values_n(c->mc, kind, collect_kv, c);
}

/* Dotted-quad text of the 4 bytes at b, as inet_ntop(AF_INET) writes it, without printf. */
static void ipv4_text(const unsigned char *b, char *out)
{
	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];

		if (v >= 100)
			*out++ = (char)('0' + v / 100);
		if (v >= 10)
			*out++ = (char)('0' + v / 10 % 10);
		*out++ = (char)('0' + v % 10);
		*out++ = i < 3 ? '.' : '\0';
	}
}

/* The peer address as text; an IPv4-mapped IPv6 one (dual stack) as plain IPv4. */
static void remote_text(const struct sockaddr *sa, char *out, size_t n)
{
	const struct in6_addr *a6;

	if (sa->sa_family == AF_INET) {
		ipv4_text((const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)
			      ->sin_addr,
			  out);
		return;
	}
	if (sa->sa_family != AF_INET6)
		return;
	a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6))
		ipv4_text(&a6->s6_addr[12], out);
	else
		inet_ntop(AF_INET6, a6, out, (socklen_t)n);
}

static void request_info(struct http_conn *c, const char *method, const char *version)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c->mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	c->method = arena_strdup(&c->arena, method);
	c->req.method = c->method;
	c->method_label = http_check_method(method);
	collect_values(c, MHD_HEADER_KIND, &c->headers);
	collect_values(c, MHD_GET_ARGUMENT_KIND, &c->query);
	if (ci && ci->client_addr)
		remote_text(ci->client_addr, c->remote, sizeof(c->remote));
	if (strncmp(version, "HTTP/", 5) == 0) {
		size_t n = strnlen(version + 5, sizeof(c->version) - 1);

		memcpy(c->version, version + 5, n);
		c->version[n] = '\0';
	}
}

/* ---- CONN_HEADERS: route and reject what can be rejected before the body ------------------ */

static enum MHD_Result preflight(struct http_conn *c)
{
	const char *want = http_header(&c->req, "Access-Control-Request-Headers");

	pthread_mutex_lock(&c->lock);
	(void)resp_set(c, 204, NULL, NULL, 0);
	header_list_add(&c->out, "Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE");
	if (want && http_check_value(want))
		header_list_add(&c->out, "Access-Control-Allow-Headers", want);
	header_list_add(&c->out, "Access-Control-Max-Age", "600");
	pthread_mutex_unlock(&c->lock);
	return queue_stored(c);
}

static int route_request(struct http_conn *c)
{
	const struct http_server_config *cfg = &c->srv->cfg;
	int rc;

	rc = route_match(http_builtin_routes, http_builtin_nroutes, c->method, c->path, &c->match);
	if (rc == ROUTE_NOT_FOUND) {
		route_match_release(&c->match);
		rc = route_match(cfg->routes, cfg->nroutes, c->method, c->path, &c->match);
	}
	return rc;
}

static enum MHD_Result not_routed(struct http_conn *c, int rc)
{
	char msg[192];

	if (rc == ROUTE_BAD_PATH)
		return fail_now(c, ERR_BAD_REQUEST, "malformed request path");
	if (rc == ROUTE_NOT_FOUND)
		return fail_now(c, ERR_NOT_FOUND, "no such path");
	if (c->srv->cfg.cors && strcmp(c->method, "OPTIONS") == 0)
		return preflight(c);
	pthread_mutex_lock(&c->lock);
	header_list_add(&c->out, "Allow", c->match.allow);
	pthread_mutex_unlock(&c->lock);
	snprintf(msg, sizeof(msg), "method %.40s is not allowed here; allowed: %.96s", c->method,
		 c->match.allow);
	return fail_now(c, ERR_METHOD, msg);
}

/* The body cap and the JSON content type of the route; -> CONN_BODY when both pass. */
static enum MHD_Result check_body_limits(struct http_conn *c)
{
	const char *cl = http_header(&c->req, "Content-Length");
	const struct route *r = c->match.route;
	char msg[96];

	c->cap = r->max_body ? r->max_body : c->srv->cfg.max_body;
	c->body.cap = c->cap;
	if (cl) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(cl, &end, 10);
		if (errno == 0 && end != cl && v > c->cap) {
			snprintf(msg, sizeof(msg), "the body exceeds %zu bytes", c->cap);
			return fail_now(c, ERR_TOO_LARGE, msg);
		}
	}
	if ((r->flags & ROUTE_JSON) && !http_check_json_type(http_header(&c->req, "Content-Type")))
		return fail_now(c, ERR_MEDIA_TYPE, "Content-Type must be application/json");
	pthread_mutex_lock(&c->lock);
	conn_to(c, CONN_BODY);
	pthread_mutex_unlock(&c->lock);
	return MHD_YES;
}

static enum MHD_Result on_headers(struct http_conn *c, const char *method, const char *version)
{
	const char *problem;
	int rc;

	/* The headers are in: from here on the connection gets the longer idle timeout. */
	if (c->srv->cfg.header_timeout_s != c->srv->cfg.connection_timeout_s)
		(void)MHD_set_connection_option(c->mc, MHD_CONNECTION_OPTION_TIMEOUT,
						c->srv->cfg.connection_timeout_s);
	request_info(c, method, version);
	problem = http_check_request(c->method, version, c->headers.v, c->headers.n);
	if (!problem && (c->query.nul || c->headers.nul))
		problem = "a query parameter or header holds a NUL byte (%00)";
	if (problem) {
		http_span_begin(c, NULL);
		return fail_now(c, ERR_BAD_REQUEST, problem);
	}
	rc = route_request(c);
	http_span_begin(c, rc == ROUTE_FOUND ? c->match.route : NULL);
	if (rc != ROUTE_FOUND)
		return not_routed(c, rc);
	c->req.route = c->match.route->pattern;
	c->flags = c->match.route->flags;
	return check_body_limits(c);
}

/* ---- CONN_BODY, CONN_DISCARD: the body ---------------------------------------------------- */

/*
 * A body chunk. Beyond the cap nothing more is kept (CONN_DISCARD); MHD 0.9.75 cannot queue
 * an answer in the middle of a body, so the rest is read and dropped and the 413 goes out at
 * the end. A client that keeps sending far past the cap (or past an early answer) is
 * disconnected.
 */
static enum MHD_Result body_chunk(struct http_conn *c, enum conn_state s, const char *data,
				  size_t *size)
{
	size_t n = *size;

	*size = 0;
	c->bytes_in += n;
	if (s != CONN_BODY)
		return c->bytes_in - n > c->cap * 2 + DISCARD_SLACK ? MHD_NO : MHD_YES;
	if (buf_append(&c->body, data, n) != BUF_OK) {
		buf_release(&c->body);
		buf_init(&c->body, 1);
		pthread_mutex_lock(&c->lock);
		conn_to(c, CONN_DISCARD);
		pthread_mutex_unlock(&c->lock);
	}
	return MHD_YES;
}

/* BODY, DISCARD, QUEUED: a chunk, or the end of the body (*size == 0). */
static enum MHD_Result on_body(struct http_conn *c, enum conn_state s, const char *data,
			       size_t *size)
{
	char msg[96];

	if (*size > 0)
		return body_chunk(c, s, data, size);
	if (s != CONN_DISCARD)
		return MHD_YES; /* QUEUED; BODY is run_handler()'s */
	snprintf(msg, sizeof(msg), "the body exceeds %zu bytes", c->cap);
	return fail_now(c, ERR_TOO_LARGE, msg);
}

/* ---- CONN_HANDLER ------------------------------------------------------------------------- */

/* Runs the route's handler with the request's span current; returns what it returned. */
static int call_handler(struct http_conn *c)
{
	int rc;

	trace_span_enter(c->span);
	rc = c->match.route->handler(&c->req);
	trace_span_exit(c->span); /* unless http_suspend() already did */
	return rc;
}

/* A handler failed (rc < 0) without answering: the answer comes from its code. */
static void answer_failure(struct http_conn *c, int rc)
{
	if (rc >= 0)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->resp == RESP_NONE)
		(void)resp_error(c, rc, "the request failed");
	pthread_mutex_unlock(&c->lock);
}

/* A thread of srv->blocking: the handler of a ROUTE_BLOCKING request, unless the stop
 * answered it already (RESP_FORCED). */
static void run_blocking(struct workpool_job *job)
{
	struct http_conn *c = list_entry(job, struct http_conn, job);
	int forced;

	pthread_mutex_lock(&c->lock);
	forced = c->resp == RESP_FORCED;
	pthread_mutex_unlock(&c->lock);
	if (!forced)
		answer_failure(c, call_handler(c));
	http_resume(&c->req);
}

/*
 * Hands a ROUTE_BLOCKING request to srv->blocking (CONN_HANDLER -> SUSPENDED) and parks it as
 * for http_suspend(), or answers 503 when too many wait already or the server is stopping.
 * All under srv->lock: the stop cannot begin between the hand-off and the parking, where it
 * would answer 503 for a request whose handler runs (and, say, stores a review) anyway.
 */
static enum MHD_Result hand_off(struct http_conn *c)
{
	struct http_server *srv = c->srv;
	int rc;

	pthread_mutex_lock(&srv->lock);
	if (srv->stopping) {
		pthread_mutex_unlock(&srv->lock);
		return fail_now(c, ERR_UNAVAILABLE, "the server is shutting down");
	}
	(void)http_suspend(&c->req);
	c->job.run = run_blocking;
	rc = workpool_submit(srv->blocking, &c->job);
	if (rc) { /* resumed at once: what http_resume() does, but libmicrohttpd's ref remains */
		pthread_mutex_lock(&c->lock);
		(void)resp_error(c, rc, "too many requests are waiting for a worker thread");
		conn_to(c, CONN_RESUMED);
		c->refs--; /* http_suspend()'s */
		pthread_mutex_unlock(&c->lock);
	}
	return park_locked(c);
}

static enum MHD_Result run_handler(struct http_conn *c)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	conn_to(c, CONN_HANDLER);
	pthread_mutex_unlock(&c->lock);
	c->req.body = c->body.data;
	c->req.body_len = c->body.len;
	if ((c->flags & ROUTE_BLOCKING) && c->srv->blocking)
		return hand_off(c);
	rc = call_handler(c);
	if (atomic_load(&c->state) != CONN_HANDLER) /* suspended, perhaps resumed already */
		return park(c);
	answer_failure(c, rc);
	return queue_stored(c);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *mc, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct http_conn *c = *con_cls;
	enum conn_state s;

	if (c == NULL) /* cannot happen: on_uri always runs first */
		*con_cls = c = on_uri(cls, url, mc);
	s = atomic_load(&c->state);
	switch (s) {
	case CONN_HEADERS:
		return on_headers(c, method, version);
	case CONN_BODY:
		if (*upload_data_size == 0)
			return run_handler(c);
		/* fall through */
	case CONN_DISCARD:
	case CONN_QUEUED:
		return on_body(c, s, upload_data, upload_data_size);
	case CONN_RESUMED:
		return queue_stored(c);
	case CONN_HANDLER:
	case CONN_SUSPENDED:
	case CONN_PARKED:
	case CONN_DONE:
		break;
	}
	assert(!"on_access in a state where MHD cannot call it");
	return MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_conn *c = *con_cls;

	(void)mc;
	if (c == NULL)
		return;
	*con_cls = NULL;
	pthread_mutex_lock(&srv->lock);
	list_del(&c->node);
	pthread_mutex_unlock(&srv->lock);
	pthread_mutex_lock(&c->lock);
	c->toe = toe;
	conn_to(c, CONN_DONE);
	pthread_mutex_unlock(&c->lock);
	http_observe(c, clock_mono_ns() - c->t0_ns);
	http_metrics_active(-1);
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
 * gets the short header timeout; on_headers() gives it the idle timeout once they are in.
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
	/*
	 * poll(2), not epoll: with a thread pool on epoll, libmicrohttpd 0.9.75 (Debian 12) races
	 * MHD_quiesce_daemon() against each worker taking the listening socket out of its own
	 * epoll set, and aborts the process when it loses (test_http's http_stop test).
	 */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG | extra_flags;
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
	if (cfg->blocking_threads == 0)
		cfg->blocking_threads = 16;
	if (cfg->blocking_queue == 0)
		cfg->blocking_queue = 1024;
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

static int has_blocking_routes(const struct http_server_config *cfg)
{
	for (size_t i = 0; i < cfg->nroutes; i++)
		if (cfg->routes[i].flags & ROUTE_BLOCKING)
			return 1;
	return 0;
}

int http_server_start(const struct http_server_config *cfg, struct http_server **out)
{
	struct http_server *srv = xcalloc(1, sizeof(*srv));
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *di;

	*out = NULL;
	http_metrics_setup();
	srv->cfg = *cfg;
	config_defaults(&srv->cfg);
	pthread_mutex_init(&srv->lock, NULL);
	list_init(&srv->parked);
	if (has_blocking_routes(&srv->cfg)) {
		if (workpool_start(srv->cfg.service, srv->cfg.blocking_threads,
				   srv->cfg.blocking_queue, &srv->blocking) != 0)
			goto fail;
		if (srv->cfg.threads < 2) /* the ready callback may hold one (http.h) */
			srv->cfg.threads = 2;
	}
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
	log_info("http: %s listening on port %d with %u threads (%u for blocking handlers)",
		 srv->cfg.service, srv->port, srv->cfg.threads,
		 srv->blocking ? srv->cfg.blocking_threads : 0);
	dlapi_start_preloads(); /* now that our threads exist (dlapi.h: why) */
	*out = srv;
	return 0;
fail:
	workpool_stop(srv->blocking);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
	return ERR_INTERNAL;
}

int http_server_port(const struct http_server *srv)
{
	return srv->port;
}

/* Waits until no request is in flight or the CLOCK_MONOTONIC time deadline_ms passes. */
static void wait_idle(struct http_server *srv, long long deadline_ms)
{
	const struct timespec tick = { 0, 10000000L };

	while (atomic_load(&srv->active) > 0 && clock_mono_ms() < deadline_ms)
		nanosleep(&tick, NULL);
}

void http_server_stop(struct http_server *srv)
{
	long long t0;
	MHD_socket fd;
	size_t forced;

	if (srv == NULL)
		return;
	t0 = clock_mono_ms();
	atomic_store(&srv->draining, 1);
	fd = MHD_quiesce_daemon(srv->d);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	log_info("http: stopping, %ld requests in flight", atomic_load(&srv->active));
	wait_idle(srv, t0 + srv->cfg.shutdown_grace_ms);
	forced = answer_parked(srv);
	if (forced)
		log_warn("http: answered %zu suspended requests with 503", forced);
	wait_idle(srv, t0 + srv->cfg.shutdown_grace_ms + DRAIN_AFTER_503_MS);
	MHD_stop_daemon(srv->d);
	workpool_stop(srv->blocking); /* what is queued was answered 503: it is not run */
	assert(list_empty(&srv->parked));
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}
