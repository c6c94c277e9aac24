/* deadletters.c: dead-letter-logger's routes (see deadletters.h). */
#include "deadletters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/ce.h"
#include "common/ce_request.h"
#include "common/ce_trace.h"
#include "common/err.h"
#include "common/http.h"
#include "common/journey_client.h"
#include "common/log.h"
#include "common/sink.h"
#include "common/trace.h"
#include "common/xalloc.h"
#include "deadletter.h"

void deadletters_init(struct deadletters *dl, const struct sink *files)
{
	dl->log = files->log;
	dl->max_series = DEADLETTERS_DEFAULT_SERIES;
	dl->events_max_bytes = EVENTLOG_DEFAULT_TAIL_BYTES;
	dl->dedupe = files->dedupe;
	dl->journey = NULL;
	atomic_init(&dl->recorded, 0);
	dl->total = metrics_counter(metrics_default(), "dead_letters_total",
				    "Dead letters received, by failed destination and HTTP code.",
				    METRIC_LABELS("destination", "code"));
}

int deadletters_key(json_t *rec, const char **source, const char **id, const char **scope)
{
	json_t *ev = json_object_get(rec, "event");

	*source = json_string_value(json_object_get(ev, "source"));
	*id = json_string_value(json_object_get(ev, "id"));
	*scope = json_string_value(json_object_get(json_object_get(rec, "error"), "destination"));
	return *source && *id;
}

int deadletters_ready(void *ctx, struct buf *reason)
{
	struct deadletters *dl = ctx;

	return eventlog_check(dl->log, reason);
}

/* The WARN record every dead letter gets, and a second one for bad error attributes. */
static void log_dead_letter(const struct ce_event *ev, const struct deadletter_info *info,
			    const char *code)
{
	json_t *f = json_pack("{s:s, s:s, s:s?}", "event_id", ev->id, "event_type", ev->type,
			      "destination", info->destination);

	json_object_set_new(f, "code", info->has_code ? json_integer(info->code) : json_null());
	log_fields(LOG_WARN, f, "dead letter: event %s (%s) failed at %s with code %s", ev->id,
		   ev->type, info->destination ? info->destination : "an unknown destination",
		   code);
	if (info->problems[0])
		log_fields(LOG_WARN, json_pack("{s:s}", "event_id", ev->id),
			   "dead letter %s has incomplete error attributes: %s", ev->id,
			   info->problems);
}

/* The decoded response on spans is cut to this many bytes (at a UTF-8 boundary). */
#define SPAN_RESPONSE_MAX 256

/* Copies s into out (size SPAN_RESPONSE_MAX + 4), cut at a character boundary with "...". */
static const char *cut_text(const char *s, char *out)
{
	size_t n = strlen(s);

	if (n <= SPAN_RESPONSE_MAX)
		return s;
	n = SPAN_RESPONSE_MAX;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	snprintf(out, SPAN_RESPONSE_MAX + 4, "%.*s...", (int)n, s);
	return out;
}

/*
 * The Knative error attributes of a dead letter (knativeerrordest, knativeerrorcode and the
 * decoded response, cut) on the CONSUMER span, and the same as a "dead letter" span event.
 */
static void trace_dead_letter(struct trace_span *span, const struct deadletter_info *info,
			      const json_t *rec)
{
	const char *resp =
	    json_string_value(json_object_get(json_object_get(rec, "error"), "response"));
	char cut[SPAN_RESPONSE_MAX + 4];
	struct trace_attr a[3];
	size_t n = 0;

	if (!trace_span_recording(span))
		return;
	if (info->destination)
		a[n++] = (struct trace_attr){ .key = DEADLETTER_EXT_DEST,
					      .type = TRACE_ATTR_STRING,
					      .v.s = info->destination };
	if (info->has_code)
		a[n++] = (struct trace_attr){ .key = DEADLETTER_EXT_CODE,
					      .type = TRACE_ATTR_INT,
					      .v.i = info->code };
	if (resp)
		a[n++] = (struct trace_attr){ .key = DEADLETTER_EXT_DATA,
					      .type = TRACE_ATTR_STRING,
					      .v.s = cut_text(resp, cut) };
	for (size_t i = 0; i < n; i++)
		trace_span_set_attr(span, &a[i]);
	trace_span_add_event(span, "dead letter", a, n);
}

/* The journey record of a dead letter just recorded (journey_client.h), best-effort. */
static void report(struct deadletters *dl, const struct ce_event *ev,
		   const struct deadletter_info *info, const json_t *rec,
		   const struct trace_span *span)
{
	const char *resp =
	    json_string_value(json_object_get(json_object_get(rec, "error"), "response"));
	unsigned long long n = atomic_fetch_add(&dl->recorded, 1) + 1;
	char cut[SPAN_RESPONSE_MAX + 4], trace_id[33];
	json_t *r;

	if (dl->journey == NULL || !journey_client_id_ok(ev->id))
		return;
	journey_client_trace_id(trace_span_context(span), trace_id);
	r = json_pack("{s:s, s:s, s:s, s:I, s:{s:I}}", "id", ev->id, "source", "dead-letter-logger",
		      "kind", "dead-letter", "time", (json_int_t)clock_real_ms(), "counters",
		      "dead_letters", (json_int_t)n);
	if (info->destination && strlen(info->destination) <= 512)
		json_object_set_new(r, "destination", json_string(info->destination));
	if (info->has_code && info->code >= 0 && info->code <= 999)
		json_object_set_new(r, "code", json_integer(info->code));
	if (resp)
		json_object_set_new(r, "response", json_string(cut_text(resp, cut)));
	if (trace_id[0])
		json_object_set_new(r, "trace_id", json_string(trace_id));
	journey_client_record(dl->journey, r);
}

/* Records ev (or fails), answering the request. Returns 0 or the err.h code answered. */
static int record_dead_letter(struct deadletters *dl, struct http_request *req,
			      const struct ce_event *ev, struct trace_span *span)
{
	struct deadletter_info info;
	char now[32], code[16];
	json_t *rec;
	int rc;

	log_format_time(now, 0);
	rec = deadletter_record(ev, now, &info);
	trace_dead_letter(span, &info, rec);
	if (dl->dedupe &&
	    dedupe_begin(dl->dedupe, ev->source, ev->id, info.destination) == DEDUPE_SAVED) {
		json_decref(rec);
		log_fields(LOG_INFO, json_pack("{s:s}", "event_id", ev->id),
			   "dead letter %s was recorded before: a redelivery, not recorded again",
			   ev->id);
		return http_respond(req, 200, NULL, NULL, 0);
	}
	rc = eventlog_append(dl->log, rec);
	if (rc == 0)
		report(dl, ev, &info, rec, span);
	json_decref(rec);
	if (dl->dedupe && rc == 0)
		dedupe_commit(dl->dedupe, ev->source, ev->id, info.destination);
	else if (dl->dedupe)
		dedupe_abort(dl->dedupe, ev->source, ev->id, info.destination);
	if (rc != 0)
		return http_fail(req, ERR_IO, "could not write dead letter %s to events.log",
				 ev->id);
	if (info.has_code)
		snprintf(code, sizeof(code), "%d", info.code);
	else
		snprintf(code, sizeof(code), "unknown");
	log_dead_letter(ev, &info, code);
	metrics_inc(metrics_series_capped(
	    dl->total, METRIC_LABELS(info.destination ? info.destination : "unknown", code),
	    dl->max_series));
	return http_respond(req, 200, NULL, NULL, 0);
}

static int post_dead_letter(struct http_request *req)
{
	struct deadletters *dl = req->ctx;
	struct ce_error cerr = { 0 };
	struct trace_span *span = NULL;
	struct ce_event *ev;
	int rc = ce_request_decode(req, &ev, &cerr);

	if (rc != 0) {
		log_fields(LOG_WARN, json_pack("{s:s}", "error", err_code_name(rc)),
			   "rejected a malformed dead letter: %s", cerr.message);
		return http_fail(req, rc, "%s", cerr.message);
	}
	ce_request_own(req, ev);
	(void)ce_trace_consume(req, ev, CE_TRACE_PREFER_EVENT, &span);
	trace_span_enter(span);
	rc = record_dead_letter(dl, req, ev, span);
	ce_trace_end(span, rc);
	return rc;
}

static int get_events(struct http_request *req)
{
	struct deadletters *dl = req->ctx;

	return sink_respond_tail(req, dl->log, dl->events_max_bytes);
}

static const struct route routes[] = {
	{ "POST", "/", post_dead_letter, 0, 0 },
	{ "GET", "/events", get_events, 0, 0 },
};
const struct route *deadletters_routes(size_t *n)
{
	*n = ARRAY_SIZE(routes);
	return routes;
}
