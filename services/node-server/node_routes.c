/*
 * node_routes.c: node-server's HTTP handlers and route table (see node_app.h).
 *
 * Calls to K_SINK and db-service are asynchronous: the handler suspends its request, queues
 * the call on an httpc client, and the completion callback (on the client's thread) answers
 * and resumes it. No pool thread ever waits on the network.
 *
 * Tracing (docs/tracing.md): /add wraps the forward in a PRODUCER span whose context becomes
 * the new event's traceparent extension; /insert processes the event in a CONSUMER span. The
 * HTTP calls are CLIENT spans (httpc) under those, or under the request's SERVER span for the
 * proxied routes. Callbacks enter the request's span (or the messaging span) so their log
 * records carry its ids; http_resume() leaves it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/ce.h"
#include "common/ce_trace.h"
#include "common/err.h"
#include "common/http.h"
#include "common/httpc.h"
#include "common/log.h"
#include "common/step.h"
#include "common/metrics.h"
#include "common/trace.h"
#include "common/xalloc.h"
#include "common/clock.h"
#include "feed.h"
#include "journey.h"
#include "node_app.h"
#include "review_event.h"
#include "statics.h"
#include "ws.h"

#define MSG_CAP 1024
/* 4000 characters written as \uXXXX escapes, plus the envelope of a structured event. */
#define EVENT_MAX_BODY ((size_t)64 * 1024)

/* One suspended request waiting for an upstream answer. */
struct call {
	struct http_request *req;
	struct node_app *app;
	int refresh_on_204;	     /* DELETE: refresh the feed when it worked */
	char id[JOURNEY_ID_MAX + 1]; /* /add: the forwarded event's id; /insert: the event's */
	long long t0_ms;	     /* /add: when it arrived (epoch ms), for the journey */
	struct trace_span *span;     /* /add: PRODUCER, /insert: CONSUMER; NULL for the others */
};

/* Ends c's messaging span, failed (error.type why) unless why is NULL. */
static void call_span_end(struct call *c, const char *why)
{
	if (why) {
		trace_span_set_str(c->span, "error.type", why);
		trace_span_set_status(c->span, TRACE_STATUS_ERROR, NULL);
	}
	trace_span_end(c->span);
	c->span = NULL;
}

static struct call *call_new(struct http_request *req)
{
	struct call *c = xcalloc(1, sizeof(*c));

	c->req = req;
	c->app = req->ctx;
	return c;
}

/* Answers rc with the reason collected in msg, and releases msg. */
static int fail_msg(struct http_request *req, int rc, struct buf *msg)
{
	rc = http_fail(req, rc, "%s", msg->len ? msg->data : "request failed");
	buf_release(msg);
	return rc;
}

/* The code to answer when httpc_send() itself failed. */
static int send_error(int rc)
{
	return rc == ERR_OVERLOADED || rc == ERR_UNAVAILABLE ? rc : ERR_INTERNAL;
}

/* After http_suspend(): answers a failed send at once and frees the call. */
static void send_failed(struct call *c, int rc, const char *what)
{
	call_span_end(c, err_code_name(rc));
	(void)http_fail(c->req, send_error(rc), "could not queue the call to %s", what);
	http_resume(c->req);
	free(c);
}

/* Decodes the request as one CloudEvent (binary or structured mode). */
static int decode_event(struct http_request *req, struct ce_event **ev, struct buf *msg)
{
	size_t n;
	const struct http_header *h = http_headers(req, &n);
	struct ce_error cerr;
	int rc;

	rc = ce_decode_event(h, n, req->body, req->body_len, ev, &cerr);
	if (rc)
		(void)buf_appendf(msg, "not a valid CloudEvent: %s", cerr.message);
	return rc;
}

/*
 * Sends ev in binary mode as a POST to url, traced under parent. Returns httpc_send()'s code
 * or an encode error.
 */
static int send_binary(struct httpc *client, const char *url, const struct ce_event *ev,
		       const struct trace_context *parent, long timeout_ms, httpc_done_fn done,
		       void *arg)
{
	struct httpc_request r = { 0 };
	struct http_header *hh;
	struct ce_headers h;
	const void *body;
	size_t len, i;
	int rc;

	ce_headers_init(&h);
	rc = ce_encode_binary(ev, &h, &body, &len);
	if (rc == 0) {
		hh = xcalloc(h.n ? h.n : 1, sizeof(*hh));
		for (i = 0; i < h.n; i++) {
			hh[i].name = h.items[i].name;
			hh[i].value = h.items[i].value;
		}
		r.method = "POST";
		r.url = url;
		r.headers = hh;
		r.nheaders = h.n;
		r.body = body;
		r.body_len = len;
		r.timeout_ms = timeout_ms;
		r.trace_parent = parent;
		rc = httpc_send(client, &r, done, arg);
		free(hh);
	}
	ce_headers_release(&h);
	return rc;
}

/* ---- POST /add -------------------------------------------------------------------------- */

/* The journey's first step: the broker accepted the event (trace id only when sampled). */
static void journey_add_posted(struct call *c)
{
	const struct trace_context *ctx = trace_span_context(c->span);
	char trace_id[33] = "";

	if (trace_context_valid(ctx) && (ctx->flags & TRACE_FLAG_SAMPLED))
		trace_context_hex(ctx, trace_id, NULL);
	journey_posted(c->app->journey, c->id, c->t0_ms, trace_id);
}

static void add_done(const struct httpc_response *res, void *arg)
{
	struct call *c = arg;
	struct node_app *app = c->app;
	char code[16];

	trace_span_enter(c->req->span);
	snprintf(code, sizeof(code), "%d", res->status);
	if (res->err == 0 && res->status >= 200 && res->status < 300)
		journey_add_posted(c);
	call_span_end(c, res->err ? err_code_name(res->err) : res->status >= 300 ? code : NULL);
	if (res->err == 0 && res->status >= 200 && res->status < 300) {
		metrics_inc(app->add_ok);
		(void)http_respond_json(c->req, 200,
					json_pack("{s:b,s:s,s:s}", "success", 1, "message",
						  "Event forwarded successfully", "id", c->id));
	} else if (res->err == 0 && (res->status == 503 || res->status == 429)) {
		/* The broker is full (or shedding load): a retry later will do, so say so. */
		metrics_inc(app->add_unavailable);
		(void)http_fail(c->req, ERR_OVERLOADED,
				"the broker is full (HTTP %d): send the review again in a moment",
				res->status);
	} else if (res->err == 0) {
		metrics_inc(app->add_refused);
		(void)http_fail(c->req, ERR_BAD_GATEWAY, "the broker refused the event (HTTP %d)",
				res->status);
	} else if (res->err == ERR_UNAVAILABLE || res->err == ERR_TIMEOUT) {
		metrics_inc(app->add_unavailable);
		(void)http_fail(c->req, ERR_UNAVAILABLE, "K_SINK is unreachable: %s", res->error);
	} else {
		metrics_inc(app->add_refused);
		(void)http_fail(c->req, ERR_BAD_GATEWAY, "K_SINK failed: %s", res->error);
	}
	http_resume(c->req);
	free(c);
}

static int add_post(struct http_request *req)
{
	struct node_app *app = req->ctx;
	struct ce_event *in = NULL, *ev = NULL;
	struct call *c;
	struct buf msg;
	int rc;

	buf_init(&msg, MSG_CAP);
	rc = decode_event(req, &in, &msg);
	if (rc == 0) {
		rc = review_event_forward(in, &app->overrides, &ev, &msg);
		ce_event_free(in);
	}
	if (rc) {
		metrics_inc(app->add_rejected);
		return fail_msg(req, rc, &msg);
	}
	buf_release(&msg);
	if (app->sink == NULL) {
		ce_event_free(ev);
		metrics_inc(app->add_unavailable);
		return http_fail(req, ERR_UNAVAILABLE,
				 "K_SINK is not set: there is no broker to forward the event to");
	}
	c = call_new(req);
	(void)snprintf(c->id, sizeof(c->id), "%s", ev->id);
	c->t0_ms = clock_real_ns() / 1000000;
	(void)ce_trace_produce(ev, app->sink_name, NULL, &c->span);
	(void)http_suspend(req);
	rc = send_binary(app->sink, app->cfg->k_sink, ev, trace_span_context(c->span),
			 (long)app->cfg->sink_timeout_ms, add_done, c);
	ce_event_free(ev);
	if (rc)
		send_failed(c, rc, "K_SINK");
	return 0;
}

/* ---- POST /insert ----------------------------------------------------------------------- */

/* The "message" of a JSON error body from db-service, copied into out. */
static void upstream_message(const struct httpc_response *res, char *out, size_t size)
{
	json_t *j = json_loadb(res->body, res->body_len, 0, NULL);
	const char *m = json_string_value(json_object_get(j, "message"));

	(void)snprintf(out, size, "%s", m ? m : "no reason given");
	json_decref(j);
}

/* The "id" of the review db-service answered, or 0. */
static long long stored_review_id(const struct httpc_response *res)
{
	json_t *j = json_loadb(res->body, res->body_len, 0, NULL);
	json_t *id = json_object_get(j, "id");
	long long v = json_is_integer(id) ? (long long)json_integer_value(id) : 0;

	json_decref(j);
	return v;
}

/* Answers an /insert whose review db-service stored (200 existing, 201 new). */
static void insert_stored(struct call *c, const struct httpc_response *res)
{
	struct ce_event *ev;
	struct buf msg;
	int rc;

	buf_init(&msg, MSG_CAP);
	rc = review_event_inserted(res->body, res->body_len, &ev, &msg);
	if (rc) {
		(void)fail_msg(c->req, rc, &msg);
		return;
	}
	buf_release(&msg);
	(void)step_respond_event(c->req, 200, ev);
	journey_insert(c->app->journey, c->id, res->status == 201 ? "stored" : "already stored",
		       200, stored_review_id(res));
	journey_reply(c->app->journey, c->id, ev->type, ev->id);
	ce_event_free(ev);
	metrics_inc(res->status == 201 ? c->app->insert_created : c->app->insert_duplicate);
	if (res->status == 201)
		feed_refresh(c->app->feed);
}

static void insert_done(const struct httpc_response *res, void *arg)
{
	struct call *c = arg;
	struct node_app *app = c->app;
	char why[256], code[16];

	trace_span_enter(c->span);
	snprintf(code, sizeof(code), "%d", res->status);
	if (res->err) {
		metrics_inc(app->insert_unavailable);
		journey_insert(app->journey, c->id, "unavailable", 503, 0);
		(void)http_fail(c->req, ERR_UNAVAILABLE, "db-service is unreachable: %s",
				res->error);
	} else if (res->status == 200 || res->status == 201) {
		insert_stored(c, res);
	} else if (res->status >= 400 && res->status < 500) {
		metrics_inc(app->insert_rejected);
		journey_insert(app->journey, c->id, "rejected", 400, 0);
		upstream_message(res, why, sizeof(why));
		(void)http_fail(c->req, ERR_VALIDATION, "db-service rejected the review: %s", why);
	} else {
		metrics_inc(app->insert_unavailable);
		journey_insert(app->journey, c->id, "unavailable", 503, 0);
		upstream_message(res, why, sizeof(why));
		(void)http_fail(c->req, ERR_UNAVAILABLE, "db-service answered %d: %s", res->status,
				why);
	}
	call_span_end(c, res->err				    ? err_code_name(res->err)
			 : res->status == 200 || res->status == 201 ? NULL
								    : code);
	http_resume(c->req);
	free(c);
}

static int insert_post(struct http_request *req)
{
	static const struct http_header json_type[] = { { "Content-Type", "application/json" } };
	struct node_app *app = req->ctx;
	struct httpc_request r = { 0 };
	struct trace_span *span = NULL;
	struct ce_event *in = NULL;
	struct buf msg;
	struct call *c;
	char *body = NULL, *url;
	char id[JOURNEY_ID_MAX + 1] = "";
	size_t len = 0;
	int rc;

	buf_init(&msg, MSG_CAP);
	rc = decode_event(req, &in, &msg);
	if (rc == 0) {
		(void)ce_trace_consume(req, in, 0, &span);
		(void)snprintf(id, sizeof(id), "%s", in->id);
		rc = review_event_insert_body(in, &body, &len, &msg);
		ce_event_free(in);
	}
	if (rc) {
		trace_span_set_str(span, "error.type", err_code_name(rc));
		trace_span_set_status(span, TRACE_STATUS_ERROR, NULL);
		trace_span_end(span);
		metrics_inc(app->insert_rejected);
		return fail_msg(req, rc, &msg);
	}
	buf_release(&msg);
	url = xasprintf("%s/reviews", app->db_url);
	r.method = "POST";
	r.url = url;
	r.headers = json_type;
	r.nheaders = 1;
	r.body = body;
	r.body_len = len;
	r.timeout_ms = (long)app->cfg->db_timeout_ms;
	r.trace_route = "/reviews";
	c = call_new(req);
	c->span = span;
	memcpy(c->id, id, sizeof(c->id));
	r.trace_parent = trace_span_context(span);
	(void)http_suspend(req);
	rc = httpc_send(app->db, &r, insert_done, c);
	free(url);
	free(body);
	if (rc)
		send_failed(c, rc, "db-service");
	return 0;
}

/* ---- proxied db-service routes ---------------------------------------------------------- */

static void proxy_done(const struct httpc_response *res, void *arg)
{
	struct call *c = arg;
	const char *ctype, *retry;

	trace_span_enter(c->req->span);
	if (res->err) {
		(void)http_fail(c->req, ERR_UNAVAILABLE, "db-service is unreachable: %s",
				res->error);
	} else {
		ctype = httpc_response_header(res, "Content-Type");
		retry = httpc_response_header(res, "Retry-After");
		if (retry)
			(void)http_add_header(c->req, "Retry-After", retry);
		(void)http_respond(c->req, res->status, ctype, res->body, res->body_len);
		if (res->status == 204 && c->refresh_on_204)
			feed_refresh(c->app->feed);
	}
	http_resume(c->req);
	free(c);
}

/* Forwards method path to db-service and passes its answer through. */
static int proxy(struct http_request *req, const char *method, const char *path, int refresh)
{
	struct node_app *app = req->ctx;
	struct httpc_request r = { 0 };
	struct call *c = call_new(req);
	char *url = xasprintf("%s%s", app->db_url, path);
	int rc;

	c->refresh_on_204 = refresh;
	r.method = method;
	r.url = url;
	r.timeout_ms = (long)app->cfg->db_timeout_ms;
	r.trace_parent = trace_span_context(req->span);
	r.trace_route = req->route;
	(void)http_suspend(req);
	rc = httpc_send(app->db, &r, proxy_done, c);
	free(url);
	if (rc)
		send_failed(c, rc, "db-service");
	return 0;
}

/* Whether an id path parameter is 1 to 10 digits (so it is safe to put in a URL). */
static int id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	return n >= 1 && n <= 10 && strspn(id, "0123456789") == n;
}

static int books_list(struct http_request *req)
{
	return proxy(req, "GET", "/books", 0);
}

static int books_get(struct http_request *req)
{
	const char *id = http_param(req, "id");
	char path[32];

	if (!id_ok(id))
		return http_fail(req, ERR_BAD_REQUEST, "a book id is a positive integer");
	(void)snprintf(path, sizeof(path), "/books/%s", id);
	return proxy(req, "GET", path, 0);
}

static int reviews_delete(struct http_request *req)
{
	const char *id = http_param(req, "id");
	char path[32];

	if (!id_ok(id))
		return http_fail(req, ERR_BAD_REQUEST, "a review id is a positive integer");
	(void)snprintf(path, sizeof(path), "/reviews/%s", id);
	return proxy(req, "DELETE", path, 1);
}

/* ---- GET /comments ---------------------------------------------------------------------- */

static int comments_ws(struct http_request *req)
{
	struct node_app *app = req->ctx;
	int rc;

	pthread_rwlock_rdlock(&app->hub_lock);
	if (app->hub == NULL) {
		rc = http_fail(req, ERR_UNAVAILABLE, "the server is shutting down");
	} else {
		rc = ws_handshake(req);
		if (rc == 0)
			rc = http_respond_upgrade(req, node_app_adopt, app);
	}
	pthread_rwlock_unlock(&app->hub_lock);
	return rc;
}

static int comments_get(struct http_request *req)
{
	struct node_app *app = req->ctx;
	struct feed_snapshot *s;
	int rc;

	if (http_header(req, "Upgrade"))
		return comments_ws(req);
	s = feed_get(app->feed);
	if (s == NULL)
		return http_fail(req, ERR_UNAVAILABLE,
				 "the reviews are not loaded yet: db-service has not answered");
	(void)http_add_header(req, "Cache-Control", "no-store");
	rc = http_respond(req, 200, "application/json", s->json, s->len);
	feed_snapshot_release(s);
	return rc;
}

/* ---- static files ----------------------------------------------------------------------- */

static int static_get(struct http_request *req)
{
	static const char *const names[STATICS_MAX_SEGMENTS] = { "p1", "p2", "p3" };
	struct node_app *app = req->ctx;
	const char *segs[STATICS_MAX_SEGMENTS];
	struct statics_file *f;
	struct buf msg;
	size_t n = 0, i;
	int rc;

	for (i = 0; i < STATICS_MAX_SEGMENTS; i++)
		if ((segs[n] = http_param(req, names[i])) != NULL)
			n++;
	buf_init(&msg, MSG_CAP);
	rc = statics_lookup(app->statics, segs, n, &f, &msg);
	if (rc)
		return fail_msg(req, rc, &msg);
	buf_release(&msg);
	(void)http_add_header(req, "ETag", f->etag);
	(void)http_add_header(req, "Cache-Control", "no-cache");
	(void)http_add_header(req, "X-Content-Type-Options", "nosniff");
	if (statics_etag_match(http_header(req, "If-None-Match"), f->etag))
		rc = http_respond(req, 304, NULL, NULL, 0);
	else
		rc = http_respond(req, 200, f->content_type, f->data, f->len);
	statics_file_release(f);
	return rc;
}

/* ---- journeys (journey.h) -------------------------------------------------------------- */

static int journey_post(struct http_request *req)
{
	struct node_app *app = req->ctx;
	struct buf msg;
	size_t n;
	int rc;

	buf_init(&msg, MSG_CAP);
	rc = journey_ingest(app->journey, req->body, req->body_len, &n, &msg);
	if (rc)
		return fail_msg(req, rc, &msg);
	buf_release(&msg);
	return http_respond_json(req, 202, json_pack("{s:I}", "accepted", (json_int_t)n));
}

static int journey_get_one(struct http_request *req)
{
	struct node_app *app = req->ctx;
	json_t *j = journey_get(app->journey, http_param(req, "id"));

	if (j == NULL)
		return http_fail(req, ERR_NOT_FOUND,
				 "no journey kept for this id (only the newest reviews' are)");
	(void)http_add_header(req, "Cache-Control", "no-store");
	return http_respond_json(req, 200, j);
}

static int review_journey_get(struct http_request *req)
{
	struct node_app *app = req->ctx;
	const char *id = http_param(req, "id");
	json_t *j;

	if (!id_ok(id))
		return http_fail(req, ERR_BAD_REQUEST, "a review id is a positive integer");
	j = journey_get_review(app->journey, strtoll(id, NULL, 10));
	if (j == NULL)
		return http_fail(req, ERR_NOT_FOUND,
				 "no journey kept for this review (only the newest reviews' are)");
	(void)http_add_header(req, "Cache-Control", "no-store");
	return http_respond_json(req, 200, j);
}

static int delivery_get(struct http_request *req)
{
	struct node_app *app = req->ctx;

	(void)http_add_header(req, "Cache-Control", "no-store");
	return http_respond_json(req, 200, journey_delivery(app->journey));
}

/* ---- readiness -------------------------------------------------------------------------- */

/*
 * GET /readyz: node-server's own state, read without any I/O, so a probe never waits on a
 * pool thread. Ready once the feed has loaded the reviews (the page and GET /comments can be
 * served); a later db-service outage leaves it ready, serving the last snapshot, while the
 * routes that need db-service answer 503 with Retry-After.
 */
int node_routes_ready(void *ctx, struct buf *reason)
{
	struct node_app *app = ctx;
	struct feed_snapshot *s = feed_get(app->feed);

	if (s) {
		feed_snapshot_release(s);
		return 0;
	}
	(void)buf_appendf(reason, "reviews: not loaded from db-service yet (retrying)");
	return -1;
}

/* ---- the table -------------------------------------------------------------------------- */

static const struct route routes[] = {
	{ "POST", "/add", add_post, EVENT_MAX_BODY, 0 },
	{ "POST", "/insert", insert_post, EVENT_MAX_BODY, 0 },
	{ "GET", "/comments", comments_get, 0, 0 },
	{ "GET", "/books", books_list, 0, 0 },
	{ "GET", "/books/{id}", books_get, 0, 0 },
	{ "DELETE", "/reviews/{id}", reviews_delete, 0, 0 },
	{ "POST", "/journey", journey_post, JOURNEY_BODY_MAX, ROUTE_JSON },
	{ "GET", "/journey/{id}", journey_get_one, 0, 0 },
	{ "GET", "/reviews/{id}/journey", review_journey_get, 0, 0 },
	{ "GET", "/delivery", delivery_get, 0, 0 },
	{ "GET", "/", static_get, 0, 0 },
	{ "GET", "/{p1}", static_get, 0, 0 },
	{ "GET", "/{p1}/{p2}", static_get, 0, 0 },
	{ "GET", "/{p1}/{p2}/{p3}", static_get, 0, 0 },
};
const struct route *node_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}
