/*
 * ingress.c: POST /<namespace>/<broker> and friends (see ingress.h).
 */
#include "ingress.h"

#include <stdlib.h>
#include <string.h>

#include "common/ce.h"
#include "common/err.h"
#include "common/http.h"
#include "common/trace.h"
#include "common/xalloc.h"
#include "delivery.h"
#include "dispatcher.h"
#include "topology.h"

#define BROKER_PATH "/{namespace}/{broker}"

static int decode(struct http_request *req, struct ce_event **ev)
{
	size_t n;
	const struct http_header *h = http_headers(req, &n);
	struct ce_error cerr = { 0 };

	if (ce_decode_event(h, n, req->body, req->body_len, ev, &cerr))
		return http_fail(req, ERR_INVALID_EVENT, "not a valid CloudEvent: %s",
				 cerr.message);
	return 0;
}

/*
 * The trace context the deliveries of this event continue: the ingress SERVER span's whenever
 * the SDK decided it, sampled or not (flags 00 then, so that the subscriber continues the
 * broker's decision instead of starting a trace of its own); with the SDK off, the request's
 * own context as trace_context_extract() read it (the span is transparent), so that the
 * W3C rules hold either way: repeated tracestate headers combined, an invalid list dropped, a
 * long one cut to TRACESTATE_PROPAGATE, and nothing from two traceparent headers.
 */
static void delivery_context(struct http_request *req, char tp[TRACEPARENT_LEN + 1],
			     const char **traceparent, const char **tracestate)
{
	const struct trace_context *ctx = trace_span_context(req->span);
	struct trace_inject inj;
	size_t n = trace_context_inject(ctx, &inj); /* 0: no context, or a local root */

	*traceparent = NULL;
	*tracestate = NULL;
	if (n == 0)
		return;
	memcpy(tp, inj.traceparent, TRACEPARENT_LEN + 1);
	*traceparent = tp;
	*tracestate = n > 1 ? ctx->tracestate : NULL;
}

/* Knative's attributes on the ingress span (protocols.md §1.11). */
static void span_event_attrs(struct http_request *req, const struct ce_event *ev)
{
	struct trace_span *span = req->span;

	trace_span_set_str(span, "messaging.system", "knative");
	trace_span_set_str(span, "messaging.operation.name", "send");
	trace_span_set_str(span, "messaging.destination.name", http_param(req, "broker"));
	trace_span_set_str(span, "kn.broker.name", http_param(req, "broker"));
	trace_span_set_str(span, "kn.broker.namespace", http_param(req, "namespace"));
	trace_span_set_str(span, "cloudevents.event_id", ev->id);
	trace_span_set_str(span, "cloudevents.event_type", ev->type);
	trace_span_set_str(span, "cloudevents.event_source", ev->source);
}

/* dispatcher_durable_fn: the suspended request's answer, once its records are on disk. */
static void on_durable(void *arg, int rc)
{
	struct http_request *req = arg;

	if (rc == 0)
		(void)http_respond(req, 202, NULL, NULL, 0);
	else
		(void)http_fail(req, ERR_IO, "the event could not be written to the broker's log");
	http_resume(req);
}

static int h_post(struct http_request *req)
{
	struct ingress *in = req->ctx;
	const char *ns = http_param(req, "namespace"), *name = http_param(req, "broker");
	const struct topo_broker *b;
	struct ce_event *ev = NULL;
	const char *traceparent, *tracestate;
	char tp[TRACEPARENT_LEN + 1];
	unsigned long long seq = 0;
	int rc;

	if (strcmp(req->route, BROKER_PATH) != 0)
		return http_fail(req, ERR_BAD_REQUEST, "the path must be /<namespace>/<broker>");
	if (atomic_load(&in->stopping))
		return http_fail(req, ERR_UNAVAILABLE, "the broker is shutting down");
	b = topology_broker(in->topo, ns, name);
	if (!b)
		return http_fail(req, ERR_NOT_FOUND, "no broker %s/%s", ns, name);
	rc = decode(req, &ev);
	if (rc)
		return rc;
	span_event_attrs(req, ev);
	delivery_context(req, tp, &traceparent, &tracestate);
	rc = dispatcher_ingest_begin(in->disp, b, ev, traceparent, tracestate, &seq);
	ce_event_free(ev);
	if (rc == ERR_VALIDATION)
		return http_fail(
		    req, ERR_VALIDATION,
		    "more than %d extension attributes: the broker keeps %d of the %d a "
		    "CloudEvent may have for its own (knativebrokerttl, knativearrivaltime "
		    "and a dead letter's knativeerrordest, knativeerrorcode, knativeerrordata)",
		    DELIVERY_OWN_EXTENSIONS_MAX, DELIVERY_BROKER_EXTENSIONS, CE_MAX_EXTENSIONS);
	if (rc == ERR_TTL)
		return http_fail(req, ERR_TTL, "knativebrokerttl exhausted: the event is looping");
	if (rc == ERR_TOO_LARGE)
		return http_fail(req, ERR_TOO_LARGE,
				 "the event is too large to deliver: " DELIVERY_TOO_LARGE);
	if (rc == ERR_OVERLOADED)
		return http_fail(req, ERR_OVERLOADED,
				 "the broker queues are full (BROKER_QUEUE_MAX deliveries or "
				 "BROKER_QUEUE_BYTES bytes pending)");
	if (rc == ERR_IO)
		return http_fail(req, ERR_IO, "the event could not be written to the broker's log");
	if (rc)
		return http_fail(req, rc, "the event was not accepted");
	if (seq == 0)
		return http_respond(req, 202, NULL, NULL, 0);
	/* 202 only once the log's sync covers the event; no pool thread waits for the disk. */
	(void)http_suspend(req);
	dispatcher_commit_async(in->disp, seq, on_durable, req);
	return 0;
}

static int h_options(struct http_request *req)
{
	http_add_header(req, "Allow", "POST, OPTIONS");
	http_add_header(req, "WebHook-Allowed-Origin", "*");
	http_add_header(req, "WebHook-Allowed-Rate", "*");
	return http_respond(req, 200, NULL, NULL, 0);
}

/* Paths of every other depth exist too, so that they answer 400 (EV) instead of 404. */
#define ROUTES(pattern)                             \
	{ "POST", pattern, h_post, 0, 0 },          \
	{                                           \
		"OPTIONS", pattern, h_options, 0, 0 \
	}

static const struct route routes[] = {
	ROUTES(BROKER_PATH),
	ROUTES("/{a}"),
	ROUTES("/{a}/{b}/{c}"),
	ROUTES("/{a}/{b}/{c}/{d}"),
	ROUTES("/{a}/{b}/{c}/{d}/{e}"),
	ROUTES("/{a}/{b}/{c}/{d}/{e}/{f}"),
	ROUTES("/{a}/{b}/{c}/{d}/{e}/{f}/{g}"),
	ROUTES("/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}"),
};
const struct route *ingress_routes(size_t *n)
{
	*n = ARRAY_SIZE(routes);
	return routes;
}

int ingress_ready(void *ctx, struct buf *reason)
{
	struct ingress *in = ctx;

	if (!in->topo) {
		buf_appends(reason, "topology not loaded");
		return -1;
	}
	if (atomic_load(&in->stopping)) {
		buf_appends(reason, "shutting down");
		return -1;
	}
	return dispatcher_check(in->disp, reason);
}

void ingress_stop(struct ingress *in)
{
	atomic_store(&in->stopping, 1);
}
