/*
 * node_routes.c: node-server's HTTP handlers and route table (see node_routes.h).
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
#include "node_routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/arena.h"
#include "common/ce.h"
#include "common/ce_request.h"
#include "common/ce_trace.h"
#include "common/err.h"
#include "common/http.h"
#include "common/httpc.h"
#include "common/journey_client.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/clock.h"
#include "common/text.h"
#include "common/trace.h"
#include "common/xalloc.h"
#include "feed.h"
#include "journey.h"
#include "review_event.h"
#include "statics.h"
#include "ws.h"

#define MSG_CAP 1024
/* 4000 characters written as \uXXXX escapes, plus the envelope of a structured event. */
#define EVENT_MAX_BODY ((size_t)64 * 1024)

/* One suspended request waiting for an upstream answer. */
struct call {
	struct http_request *req;
	struct node_routes *r;
	int refresh;		 /* DELETE: refresh the feed unless db-service said no */
	const char *id;		 /* /add: the forwarded event's id; /insert: the event's */
	long long t0_ms;	 /* /add: when it arrived (epoch ms), for the journey */
	struct trace_span *span; /* /add: PRODUCER, /insert: CONSUMER; NULL for the others */
};

/* Ends a messaging span, failed (error.type why) unless why is NULL. */
static void span_end(struct trace_span *span, const char *why)
{
	if (why) {
		trace_span_set_str(span, "error.type", why);
		trace_span_set_status(span, TRACE_STATUS_ERROR, NULL);
	}
	trace_span_end(span);
}

static void call_span_end(struct call *c, const char *why)
{
	span_end(c->span, why);
	c->span = NULL;
}

/* A call lives in the request's arena: it dies with the request, after http_resume(). */
static struct call *call_new(struct http_request *req)
{
	struct call *c = arena_alloc(http_arena(req), sizeof(*c));

	c->req = req;
	c->r = req->ctx;
	return c;
}

/* A buffer for the reason a lower layer gives for refusing, freed with the request. */
static struct buf *msg_buf(struct http_request *req)
{
	return arena_buf(http_arena(req), MSG_CAP);
}

/* The code to answer when httpc_send() itself failed. */
static int send_error(int rc)
{
	return rc == ERR_OVERLOADED || rc == ERR_UNAVAILABLE ? rc : ERR_INTERNAL;
}

/* After http_suspend(): answers a failed send at once (the call dies with the request). */
static void send_failed(struct call *c, int rc, const char *what)
{
	call_span_end(c, err_code_name(rc));
	(void)http_fail(c->req, send_error(rc), "could not queue the call to %s", what);
	http_resume(c->req);
}

/* Decodes the request as one CloudEvent (binary or structured mode). */
static int decode_event(struct http_request *req, struct ce_event **ev, struct buf *msg)
{
	struct ce_error cerr;
	int rc = ce_request_decode(req, ev, &cerr);

	if (rc)
		(void)buf_appendf(msg, "not a valid CloudEvent: %s", cerr.message);
	return rc;
}

/* ---- POST /add -------------------------------------------------------------------------- */

/* The journey's first step: the broker accepted the event (trace id only when sampled). */
static void journey_add_posted(struct call *c)
{
	char trace_id[33];

	journey_client_trace_id(trace_span_context(c->span), trace_id);
	journey_posted(c->r->journey, c->id, c->t0_ms, trace_id);
}

static void add_done(const struct httpc_response *res, void *arg)
{
	struct call *c = arg;
	struct node_routes *r = c->r;
	char code[16];

	trace_span_enter(c->req->span);
	snprintf(code, sizeof(code), "%d", res->status);
	if (res->err == 0 && res->status >= 200 && res->status < 300)
		journey_add_posted(c);
	call_span_end(c, res->err ? err_code_name(res->err) : res->status >= 300 ? code : NULL);
	if (res->err == 0 && res->status >= 200 && res->status < 300) {
		metrics_inc(r->add_ok);
		(void)http_respond_json(c->req, 200,
					json_pack("{s:b,s:s,s:s}", "success", 1, "message",
						  "Event forwarded successfully", "id", c->id));
	} else if (res->err == 0 && (res->status == 503 || res->status == 429)) {
		/* The broker is full (or shedding load): a retry later will do, so say so. */
		metrics_inc(r->add_unavailable);
		(void)http_fail(c->req, ERR_OVERLOADED,
				"the broker is full (HTTP %d): send the review again in a moment",
				res->status);
	} else if (res->err == 0) {
		metrics_inc(r->add_refused);
		(void)http_fail(c->req, ERR_BAD_GATEWAY, "the broker refused the event (HTTP %d)",
				res->status);
	} else if (res->err == ERR_UNAVAILABLE || res->err == ERR_TIMEOUT) {
		metrics_inc(r->add_unavailable);
		(void)http_fail(c->req, ERR_UNAVAILABLE, "K_SINK is unreachable: %s", res->error);
	} else {
		metrics_inc(r->add_refused);
		(void)http_fail(c->req, ERR_BAD_GATEWAY, "K_SINK failed: %s", res->error);
	}
	http_resume(c->req);
}

static int add_post(struct http_request *req)
{
	struct node_routes *r = req->ctx;
	struct httpc_request up = { 0 };
	struct ce_event *in = NULL, *ev = NULL;
	struct buf *msg = msg_buf(req);
	struct call *c;
	int rc = decode_event(req, &in, msg);

	if (rc == 0) {
		rc = review_event_forward(in, r->overrides, &ev, msg);
		ce_event_free(in);
	}
	if (rc) {
		metrics_inc(r->add_rejected);
		return http_fail_buf(req, rc, msg);
	}
	if (r->sink == NULL) {
		ce_event_free(ev);
		metrics_inc(r->add_unavailable);
		return http_fail(req, ERR_UNAVAILABLE,
				 "K_SINK is not set: there is no broker to forward the event to");
	}
	c = call_new(req);
	c->id = arena_strdup(http_arena(req), ev->id);
	c->t0_ms = clock_real_ms();
	(void)ce_trace_produce(ev, r->sink_name, NULL, &c->span);
	(void)http_suspend(req);
	up.url = r->sink_url;
	up.timeout_ms = r->sink_timeout_ms;
	up.trace_parent = trace_span_context(c->span);
	rc = ce_request_send(r->sink, &up, ev, add_done, c);
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

/*
 * Whether db-service refused the review itself (400, 413, 415: the same review would be refused
 * again), as opposed to "not now". Any other answer is answered like a 5xx, so the broker
 * retries it: 408, 409 "try again" and 429, and a 404, 401 or 403, which come from what stands
 * in front of db-service (Knative's activator or ingress while a route is not ready), never
 * from db-service's POST /reviews; Knative retries 404 for that reason.
 */
static int upstream_rejected(int status)
{
	return status == 400 || status == 413 || status == 415;
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

/*
 * Answers an /insert whose review db-service stored (200 existing, 201 new). The feed is
 * refreshed either way: a 200 may be the first answer node-server sees for a row stored by an
 * attempt it never heard back from (its call timed out, or db-service retried after a broken
 * connection), and refreshes coalesce (feed.h), so a true repeat costs little.
 */
static void insert_stored(struct call *c, const struct httpc_response *res)
{
	struct buf *msg = msg_buf(c->req);
	struct ce_event *ev;
	int rc = review_event_inserted(res->body, res->body_len, &ev, msg);

	if (rc) {
		(void)http_fail_buf(c->req, rc, msg);
		return;
	}
	(void)ce_request_respond(c->req, 200, ev);
	journey_insert(c->r->journey, c->id, res->status == 201 ? "stored" : "already stored", 200,
		       stored_review_id(res));
	journey_reply(c->r->journey, c->id, ev->type, ev->id);
	ce_event_free(ev);
	metrics_inc(res->status == 201 ? c->r->insert_created : c->r->insert_duplicate);
	feed_refresh(c->r->feed);
}

static void insert_done(const struct httpc_response *res, void *arg)
{
	struct call *c = arg;
	struct node_routes *r = c->r;
	char why[256], code[16];

	trace_span_enter(c->span);
	snprintf(code, sizeof(code), "%d", res->status);
	if (res->err) {
		metrics_inc(r->insert_unavailable);
		journey_insert(r->journey, c->id, "unavailable", 503, 0);
		(void)http_fail(c->req, ERR_UNAVAILABLE, "db-service is unreachable: %s",
				res->error);
	} else if (res->status == 200 || res->status == 201) {
		insert_stored(c, res);
	} else if (upstream_rejected(res->status)) {
		metrics_inc(r->insert_rejected);
		journey_insert(r->journey, c->id, "rejected", 400, 0);
		upstream_message(res, why, sizeof(why));
		(void)http_fail(c->req, ERR_VALIDATION, "db-service rejected the review: %s", why);
	} else {
		metrics_inc(r->insert_unavailable);
		journey_insert(r->journey, c->id, "unavailable", 503, 0);
		upstream_message(res, why, sizeof(why));
		(void)http_fail(c->req, ERR_UNAVAILABLE, "db-service answered %d: %s", res->status,
				why);
	}
	call_span_end(c, res->err				    ? err_code_name(res->err)
			 : res->status == 200 || res->status == 201 ? NULL
								    : code);
	http_resume(c->req);
}

static int insert_post(struct http_request *req)
{
	static const struct http_header json_type[] = { { "Content-Type", "application/json" } };
	struct node_routes *r = req->ctx;
	struct httpc_request up = { 0 };
	struct trace_span *span = NULL;
	struct ce_event *in = NULL;
	struct buf *msg = msg_buf(req);
	struct call *c;
	char *body = NULL, *id = NULL;
	size_t len = 0;
	int rc = decode_event(req, &in, msg);

	if (rc == 0) {
		(void)ce_trace_consume(req, in, 0, &span);
		id = arena_strdup(http_arena(req), in->id);
		rc = review_event_insert_body(in, &body, &len, msg);
		ce_event_free(in);
	}
	if (rc) {
		span_end(span, err_code_name(rc));
		metrics_inc(r->insert_rejected);
		return http_fail_buf(req, rc, msg);
	}
	up.method = "POST";
	up.url = arena_printf(http_arena(req), "%s/reviews", r->db_url);
	up.headers = json_type;
	up.nheaders = 1;
	up.body = body;
	up.body_len = len;
	up.timeout_ms = r->db_timeout_ms;
	up.trace_route = "/reviews";
	c = call_new(req);
	c->span = span;
	c->id = id;
	up.trace_parent = trace_span_context(span);
	(void)http_suspend(req);
	rc = httpc_send(r->db, &up, insert_done, c);
	free(body);
	if (rc)
		send_failed(c, rc, "db-service");
	return 0;
}

/* ---- proxied db-service routes ---------------------------------------------------------- */

/*
 * Whether an answer is db-service's own, to pass on as it is: 200, 201, 204 (no body), or a
 * 4xx or 5xx with a JSON body. Anything else came from what stands in front of it (an HTML or
 * text error page from an ingress or the activator, a redirect) or is broken.
 */
static int upstream_own(const struct httpc_response *res)
{
	int st = res->status;

	if (st == 204)
		return res->body_len == 0;
	if (st != 200 && st != 201 && (st < 400 || st > 599))
		return 0;
	return text_media_type_is_json(httpc_response_header(res, "Content-Type"), "application");
}

static void proxy_done(const struct httpc_response *res, void *arg)
{
	struct call *c = arg;
	const char *ctype, *retry;

	trace_span_enter(c->req->span);
	if (res->err) {
		(void)http_fail(c->req, ERR_UNAVAILABLE, "db-service is unreachable: %s",
				res->error);
	} else if (!upstream_own(res)) {
		ctype = httpc_response_header(res, "Content-Type");
		(void)http_fail(c->req, res->status >= 500 ? ERR_UNAVAILABLE : ERR_BAD_GATEWAY,
				"db-service answered %d (%.*s), not an answer of its own",
				res->status, text_utf8_cut(ctype ? ctype : "no Content-Type", 60),
				ctype ? ctype : "no Content-Type");
	} else {
		ctype = httpc_response_header(res, "Content-Type");
		retry = httpc_response_header(res, "Retry-After");
		if (retry)
			(void)http_add_header(c->req, "Retry-After", retry);
		(void)http_respond(c->req, res->status, ctype, res->body, res->body_len);
	}
	/* A DELETE that db-service may have done (no answer: it may have, before the timeout; 404:
	 * it may have, on an earlier attempt) refreshes the feed too; refreshes coalesce. */
	if (c->refresh && (res->err || res->status == 204 || res->status == 404))
		feed_refresh(c->r->feed);
	http_resume(c->req);
}

/* Forwards method path to db-service and passes its own answers through (upstream_own()). */
static int proxy(struct http_request *req, const char *method, const char *path, int refresh)
{
	struct node_routes *r = req->ctx;
	struct httpc_request up = { 0 };
	struct call *c = call_new(req);
	int rc;

	c->refresh = refresh;
	up.method = method;
	up.url = arena_printf(http_arena(req), "%s%s", r->db_url, path);
	up.timeout_ms = r->db_timeout_ms;
	up.trace_parent = trace_span_context(req->span);
	up.trace_route = req->route;
	(void)http_suspend(req);
	rc = httpc_send(r->db, &up, proxy_done, c);
	if (rc)
		send_failed(c, rc, "db-service");
	return 0;
}

/*
 * Whether an id path parameter is one db-service can hold: 1 to 10 digits (so it is safe to put
 * in a URL) whose value is 1 to 2147483647, db-service's range (review.h).
 */
static int id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	long long v;

	if (n < 1 || n > 10 || strspn(id, "0123456789") != n)
		return 0;
	v = strtoll(id, NULL, 10);
	return v >= 1 && v <= 2147483647;
}

static int books_list(struct http_request *req)
{
	return proxy(req, "GET", "/books", 0);
}

/* Proxies method {prefix}/{id} after checking the id parameter (what: "book", "review"). */
static int proxy_id(struct http_request *req, const char *method, const char *what, int refresh)
{
	const char *id = http_param(req, "id");
	char path[32];

	if (!id_ok(id))
		return http_fail(req, ERR_BAD_REQUEST, "a %s id is an integer from 1 to 2147483647",
				 what);
	(void)snprintf(path, sizeof(path), "/%ss/%s", what, id);
	return proxy(req, method, path, refresh);
}

static int books_get(struct http_request *req)
{
	return proxy_id(req, "GET", "book", 0);
}

static int reviews_delete(struct http_request *req)
{
	return proxy_id(req, "DELETE", "review", 1);
}

/* ---- GET /comments ---------------------------------------------------------------------- */

static int comments_get(struct http_request *req)
{
	struct node_routes *r = req->ctx;
	struct feed_snapshot *s;
	int rc;

	if (ws_wants_upgrade(req)) /* any other Upgrade (h2c) is ignored: the list */
		return ws_hub_upgrade(r->hub, req);
	s = feed_get(r->feed);
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
	struct node_routes *r = req->ctx;
	const char *segs[STATICS_MAX_SEGMENTS];
	struct buf *msg = msg_buf(req);
	struct statics_file *f;
	size_t n = 0, i;
	int rc;

	for (i = 0; i < STATICS_MAX_SEGMENTS; i++)
		if ((segs[n] = http_param(req, names[i])) != NULL)
			n++;
	rc = statics_lookup(r->statics, segs, n, &f, msg);
	if (rc)
		return http_fail_buf(req, rc, msg);
	(void)http_add_header(req, "ETag", f->etag);
	(void)http_add_header(req, "Cache-Control", "no-cache");
	(void)http_add_header(req, "X-Content-Type-Options", "nosniff");
	if (statics_etag_match(http_header(req, "If-None-Match"), f->etag)) {
		rc = http_respond(req, 304, NULL, NULL, 0);
		statics_file_release(f);
		return rc;
	}
	/* sent from the cache without a copy: the response holds f's reference until it is out */
	return http_respond_ref(req, 200, f->content_type, f->data, f->len, statics_file_put, f);
}

/* ---- journeys (journey.h) -------------------------------------------------------------- */

static int journey_post(struct http_request *req)
{
	struct node_routes *r = req->ctx;
	struct buf *msg = msg_buf(req);
	size_t n;
	int rc = journey_ingest(r->journey, req->body, req->body_len, &n, msg);

	if (rc)
		return http_fail_buf(req, rc, msg);
	return http_respond_json(req, 202, json_pack("{s:I}", "accepted", (json_int_t)n));
}

/* 200 with j, never cached; j NULL: 404, no journey is kept for this `key`. Steals j. */
static int respond_journey(struct http_request *req, json_t *j, const char *key)
{
	if (j == NULL)
		return http_fail(req, ERR_NOT_FOUND,
				 "no journey kept for this %s (only the newest reviews' are)", key);
	(void)http_add_header(req, "Cache-Control", "no-store");
	return http_respond_json(req, 200, j);
}

static int journey_get_one(struct http_request *req)
{
	struct node_routes *r = req->ctx;

	return respond_journey(req, journey_get(r->journey, http_param(req, "id")), "id");
}

static int review_journey_get(struct http_request *req)
{
	struct node_routes *r = req->ctx;
	const char *id = http_param(req, "id");

	if (!id_ok(id))
		return http_fail(req, ERR_BAD_REQUEST,
				 "a review id is an integer from 1 to 2147483647");
	return respond_journey(req, journey_get_review(r->journey, strtoll(id, NULL, 10)),
			       "review");
}

static int delivery_get(struct http_request *req)
{
	struct node_routes *r = req->ctx;

	return respond_journey(req, journey_delivery(r->journey), "delivery");
}

/* ---- readiness -------------------------------------------------------------------------- */

int node_routes_ready(void *ctx, struct buf *reason)
{
	struct node_routes *r = ctx;

	return feed_ready(r->feed, reason);
}

/* ---- metrics and the table -------------------------------------------------------------- */

void node_routes_metrics(struct node_routes *r)
{
	struct metric *add, *ins;

	add = metrics_counter(metrics_default(), "node_add_total", "POST /add requests by outcome",
			      METRIC_LABELS("outcome"));
	ins = metrics_counter(metrics_default(), "node_insert_total",
			      "POST /insert requests by outcome", METRIC_LABELS("outcome"));
	r->add_ok = metrics_series(add, METRIC_LABELS("forwarded"));
	r->add_rejected = metrics_series(add, METRIC_LABELS("rejected"));
	r->add_refused = metrics_series(add, METRIC_LABELS("refused"));
	r->add_unavailable = metrics_series(add, METRIC_LABELS("unavailable"));
	r->insert_created = metrics_series(ins, METRIC_LABELS("created"));
	r->insert_duplicate = metrics_series(ins, METRIC_LABELS("duplicate"));
	r->insert_rejected = metrics_series(ins, METRIC_LABELS("rejected"));
	r->insert_unavailable = metrics_series(ins, METRIC_LABELS("unavailable"));
}

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
	{ "GET", "/", static_get, 0, ROUTE_FALLBACK },
	{ "GET", "/{p1}", static_get, 0, ROUTE_FALLBACK },
	{ "GET", "/{p1}/{p2}", static_get, 0, ROUTE_FALLBACK },
	{ "GET", "/{p1}/{p2}/{p3}", static_get, 0, ROUTE_FALLBACK },
};
const struct route *node_routes_table(size_t *n)
{
	*n = ARRAY_SIZE(routes);
	return routes;
}
