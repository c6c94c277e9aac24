/*
 * ce_trace.h: CloudEvents and tracing (shared/reference/protocols.md §2.4, §4.4;
 * docs/tracing.md): the distributed-tracing extension (traceparent, tracestate) of an event
 * as a trace context, and the messaging spans of producers and consumers.
 *
 * The extension carries the context of the span that CREATED the event (a PRODUCER span). It
 * is set once, by the producer, and never changed downstream; the HTTP traceparent header, in
 * contrast, changes at every hop. Knative's broker does not add the extension (§1.11).
 *
 * Spans follow the messaging conventions: kind PRODUCER for "send", CONSUMER for "process";
 * attributes messaging.system = "knative", messaging.operation.name, messaging.operation.type,
 * messaging.message.id, messaging.destination.name (producer), and the CloudEvents ones
 * cloudevents.event_id, cloudevents.event_source, cloudevents.event_type,
 * cloudevents.event_spec_version, cloudevents.event_subject (when set).
 *
 * Pure functions on caller-owned data; thread-safe.
 */
#ifndef COMMON_CE_TRACE_H
#define COMMON_CE_TRACE_H

#include "common/ce.h"
#include "common/http.h"
#include "common/trace.h"

/*
 * The event's traceparent (and tracestate) extension as a remote context. Returns 0, or
 * ERR_NOT_FOUND when the event has no valid traceparent (*out zeroed).
 */
int ce_trace_context(const struct ce_event *ev, struct trace_context *out);
/*
 * Sets the traceparent (and tracestate when non-empty) extensions of ev from ctx. A local root
 * (SDK off, trace.h) sets nothing and returns 0; an invalid ctx is ERR_BAD_REQUEST.
 */
int ce_trace_set(struct ce_event *ev, const struct trace_context *ctx);
/* Adds the cloudevents.* attributes of ev to span. */
void ce_trace_attrs(struct trace_span *span, const struct ce_event *ev);

/*
 * Starts the PRODUCER span "send {destination}" (child of parent, NULL for the thread's
 * current span) for ev, and sets ev's extension from it. The caller sends ev with the span's
 * context as the parent of the HTTP request, then sets the outcome and ends the span.
 */
int ce_trace_produce(struct ce_event *ev, const char *destination,
		     const struct trace_context *parent, struct trace_span **out);

enum ce_trace_flags {
	/*
	 * Continue from the event's extension whenever its trace differs from the HTTP request's
	 * (dead letters: the HTTP hop may belong to another trace, the extension always leads
	 * back to the review that produced the event).
	 */
	CE_TRACE_PREFER_EVENT = 1 << 0,
};

/*
 * Starts the CONSUMER span "process {type}" for ev, received on req. The parent is req's
 * SERVER span, which continues the HTTP traceparent header, else ce-traceparent (http.h).
 * When req had no traceparent header (a structured-mode event carries its extension in the
 * body), or with CE_TRACE_PREFER_EVENT, and the extension's trace differs from the server
 * span's, the parent is the extension's context instead. The caller ends the span.
 */
int ce_trace_consume(const struct http_request *req, const struct ce_event *ev, unsigned flags,
		     struct trace_span **out);

/*
 * Ends a messaging span with its handler's outcome: rc < 0 (an err.h code) marks it failed,
 * with error.type = err_code_name(rc). A NULL span is ignored.
 */
void ce_trace_end(struct trace_span *span, int rc);

#endif
