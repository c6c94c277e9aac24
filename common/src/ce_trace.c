/*
 * ce_trace.c: the CloudEvents distributed-tracing extension and messaging spans (see
 * ce_trace.h).
 */
#include "common/ce_trace.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"

int ce_trace_context(const struct ce_event *ev, struct trace_context *out)
{
	return trace_context_from(ce_get(ev, "traceparent"), ce_get(ev, "tracestate"), out);
}

int ce_trace_set(struct ce_event *ev, const struct trace_context *ctx)
{
	struct trace_inject inj;
	size_t n = trace_context_inject(ctx, &inj);
	int rc;

	if (n == 0) /* a local root (SDK off) has nothing to pass on */
		return trace_context_valid(ctx) ? 0 : ERR_BAD_REQUEST;
	rc = ce_set(ev, "traceparent", inj.traceparent);
	if (rc == 0)
		rc = ce_set(ev, "tracestate", n > 1 ? ctx->tracestate : NULL);
	return rc;
}

void ce_trace_attrs(struct trace_span *span, const struct ce_event *ev)
{
	if (!trace_span_recording(span))
		return;
	trace_span_set_str(span, "messaging.system", "knative");
	trace_span_set_str(span, "messaging.message.id", ev->id);
	trace_span_set_str(span, "cloudevents.event_id", ev->id);
	trace_span_set_str(span, "cloudevents.event_source", ev->source);
	trace_span_set_str(span, "cloudevents.event_type", ev->type);
	trace_span_set_str(span, "cloudevents.event_spec_version", ev->specversion);
	if (ev->subject)
		trace_span_set_str(span, "cloudevents.event_subject", ev->subject);
}

/* Starts the span "<op> <target>" of ev's messaging operation op ("send", "process"). */
static int messaging_span(const char *op, const char *target, enum trace_span_kind kind,
			  const struct trace_context *parent, const struct ce_event *ev,
			  struct trace_span **out)
{
	char name[256];
	int rc;

	snprintf(name, sizeof(name), "%s %s", op, target);
	rc = trace_span_start(name, kind, parent, out);
	if (rc)
		return rc;
	ce_trace_attrs(*out, ev);
	trace_span_set_str(*out, "messaging.operation.name", op);
	trace_span_set_str(*out, "messaging.operation.type", op);
	return 0;
}

int ce_trace_produce(struct ce_event *ev, const char *destination,
		     const struct trace_context *parent, struct trace_span **out)
{
	int rc = messaging_span("send", destination, TRACE_SPAN_PRODUCER, parent, ev, out);

	if (rc)
		return rc;
	trace_span_set_str(*out, "messaging.destination.name", destination);
	return ce_trace_set(ev, trace_span_context(*out));
}

/* The parent of a CONSUMER span (see ce_trace_consume()). */
static struct trace_context consumer_parent(const struct http_request *req,
					    const struct ce_event *ev, unsigned flags)
{
	const struct trace_context *srv = trace_span_context(req->span);
	struct trace_context ext;
	int use_ext;

	if (ce_trace_context(ev, &ext) != 0)
		return *srv;
	use_ext = !trace_context_valid(srv) ||
		  ((flags & CE_TRACE_PREFER_EVENT) || http_header_count(req, "traceparent") == 0);
	if (use_ext && trace_context_valid(srv) &&
	    memcmp(srv->trace_id, ext.trace_id, sizeof(ext.trace_id)) == 0)
		use_ext = 0; /* same trace: stay under the server span */
	return use_ext ? ext : *srv;
}

int ce_trace_consume(const struct http_request *req, const struct ce_event *ev, unsigned flags,
		     struct trace_span **out)
{
	struct trace_context parent = consumer_parent(req, ev, flags);

	return messaging_span("process", ev->type, TRACE_SPAN_CONSUMER, &parent, ev, out);
}

void ce_trace_end(struct trace_span *span, int rc)
{
	if (rc < 0) {
		trace_span_set_str(span, "error.type", err_code_name(rc));
		trace_span_set_status(span, TRACE_STATUS_ERROR, NULL);
	}
	trace_span_end(span);
}
