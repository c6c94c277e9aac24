/* filesink.c: file-sink's routes (see filesink.h). */
#include "filesink.h"

#include <stdlib.h>

#include "common/clock.h"
#include "common/ce.h"
#include "common/ce_request.h"
#include "common/ce_trace.h"
#include "common/err.h"
#include "common/http.h"
#include "common/journey_client.h"
#include "common/jsonenc.h"
#include "common/log.h"
#include "common/sink.h"
#include "common/trace.h"
#include "common/xalloc.h"

static void collect_log_bytes(struct metrics *reg, void *arg)
{
	struct filesink *fs = arg;

	(void)reg;
	metrics_set(fs->log_bytes, (double)eventlog_size(fs->log));
}

void filesink_init(struct filesink *fs, const struct sink *files, struct failsim *fail,
		   const char *policy)
{
	struct metrics *reg = metrics_default();
	struct metric *d;

	fs->log = files->log;
	fs->fail = fail;
	fs->policy = policy;
	fs->dedupe = files->dedupe;
	fs->bad = NULL;
	fs->events_max_bytes = EVENTLOG_DEFAULT_TAIL_BYTES;
	d = metrics_counter(reg, "filesink_deliveries_total",
			    "Delivery attempts by outcome (saved, error simulated, rejected, "
			    "duplicate).",
			    METRIC_LABELS("outcome"));
	fs->saved = metrics_series(d, METRIC_LABELS(FILESINK_SAVED));
	fs->simulated = metrics_series(d, METRIC_LABELS(FILESINK_SIMULATED));
	fs->rejected = metrics_series(d, METRIC_LABELS(FILESINK_REJECTED));
	fs->duplicate = metrics_series(d, METRIC_LABELS(FILESINK_DUPLICATE));
	fs->log_bytes =
	    metrics_series(metrics_gauge(reg, "filesink_log_bytes", "Size of events.log in bytes.",
					 METRIC_NO_LABELS),
			   METRIC_NO_LABELS);
	metrics_on_collect(reg, collect_log_bytes, fs);
	fs->redelivered = metrics_series(
	    metrics_counter(reg, "filesink_redeliveries_total",
			    "Delivery attempts of an event seen before (retries; attempts.h).",
			    METRIC_NO_LABELS),
	    METRIC_NO_LABELS);
	attempts_init(&fs->attempts);
	fs->journey = NULL;
	fs->fail_first = 0;
}

void filesink_release(struct filesink *fs)
{
	journey_client_free(fs->journey);
	fs->journey = NULL;
	attempts_release(&fs->attempts);
}

/* Counts one attempt of ev (attempts.h) and returns its number, 1 for the first. */
static uint64_t count_attempt(struct filesink *fs, const struct ce_event *ev)
{
	uint64_t n = attempts_next(&fs->attempts, ev->source, ev->id);

	if (n > 1)
		metrics_inc(fs->redelivered);
	return n;
}

/*
 * Reports attempt n of ev to node-server (journey_client.h): best-effort, never delaying the
 * answer. status is what the broker is answered.
 */
static void report(struct filesink *fs, const struct ce_event *ev, uint64_t n, const char *outcome,
		   int status, const struct trace_span *span)
{
	char trace_id[33];
	json_t *r;

	if (fs->journey == NULL || !journey_client_id_ok(ev->id))
		return;
	journey_client_trace_id(trace_span_context(span), trace_id);
	r = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:i, s:s, s:{s:I, s:I, s:I, s:I, s:I}}", "id",
		      ev->id, "source", "file-sink", "kind", "attempt", "time",
		      (json_int_t)clock_real_ms(), "attempt", (json_int_t)n, "outcome", outcome,
		      "code", status, "policy", fs->policy, "counters", "saved",
		      (json_int_t)metrics_value(fs->saved), "error_simulated",
		      (json_int_t)metrics_value(fs->simulated), "duplicate",
		      (json_int_t)metrics_value(fs->duplicate), "rejected",
		      (json_int_t)metrics_value(fs->rejected), "redeliveries",
		      (json_int_t)metrics_value(fs->redelivered));
	if (trace_id[0])
		json_object_set_new(r, "trace_id", json_string(trace_id));
	journey_client_record(fs->journey, r);
}

int filesink_ready(void *ctx, struct buf *reason)
{
	struct filesink *fs = ctx;

	if (fs->bad && badreviews_check(fs->bad, reason) != 0)
		return -1;
	return eventlog_check(fs->log, reason);
}

static json_t *record_new(const char *outcome)
{
	char now[32];

	log_format_time(now, 0);
	return json_pack("{s:s, s:s}", "time", now, "outcome", outcome);
}

/* A malformed request: one WARN record, one "rejected" line, the 4xx answer. */
static int reject(struct filesink *fs, struct http_request *req, int err, const char *why)
{
	json_t *rec = record_new(FILESINK_REJECTED);

	json_object_set_new(rec, "error", jsonenc_string(why));
	if (eventlog_append(fs->log, rec) != 0)
		log_error("could not record a rejected delivery in events.log");
	json_decref(rec);
	metrics_inc(fs->rejected);
	log_fields(
	    LOG_WARN,
	    json_pack("{s:s, s:o}", "error", err_code_name(err), "reason", jsonenc_string(why)),
	    "rejected a delivery: %s", why);
	return http_fail(req, err, "%s", why);
}

/*
 * A redelivery of an event saved before (dedupe.h): one "duplicate" line, then 200. The 200
 * stands when that line cannot be written (a full disk): the event is saved, and a 5xx would
 * make Knative retry it into the dead-letter sink, saved and dead-lettered both.
 */
static int save_duplicate(struct filesink *fs, struct http_request *req, const struct ce_event *ev,
			  uint64_t n, const struct trace_span *span)
{
	json_t *rec = record_new(FILESINK_DUPLICATE);

	json_object_set_new(rec, "event", ce_to_json(ev));
	if (eventlog_append(fs->log, rec) != 0)
		log_error("event %s was saved before; its redelivery could not be recorded in "
			  "events.log",
			  ev->id);
	json_decref(rec);
	metrics_inc(fs->duplicate);
	report(fs, ev, n, FILESINK_DUPLICATE, 200, span);
	log_info("event %s from %s was saved before: a redelivery, not saved again", ev->id,
		 ev->source);
	return http_respond(req, 200, NULL, NULL, 0);
}

/* The dedupe scope under which forced failure k of an event is recorded (FAIL_FIRST). */
static void forced_scope(json_int_t k, char *out, size_t n)
{
	(void)snprintf(out, n, "fail-first-%lld", (long long)k);
}

int filesink_log_key(json_t *rec, const char **source, const char **id, const char **scope)
{
	static char forced[32];
	json_int_t k = json_integer_value(json_object_get(rec, "failFirst"));

	*scope = NULL;
	if (sink_outcome_key(rec, FILESINK_SAVED, source, id))
		return 1;
	if (k < 1 || !sink_outcome_key(rec, FILESINK_SIMULATED, source, id))
		return 0;
	forced_scope(k, forced, sizeof(forced));
	*scope = forced;
	return 1;
}

/*
 * FAIL_FIRST: claims ev's next forced failure, the one after the highest recorded (1 when none
 * is), with its dedupe scope in scope, or returns 0 when the last one (fail_first) is recorded,
 * FAIL_FIRST is 0 or there is no dedupe set to count in. The search starts from the highest:
 * the set keeps only the newest DEDUPE_KEYS keys, and an evicted lower one must not be claimed
 * again (with fewer keys than forced failures, an event would otherwise fail forever).
 */
static json_int_t claim_forced(struct filesink *fs, const struct ce_event *ev, char *scope,
			       size_t size)
{
	json_int_t k = (json_int_t)fs->fail_first;

	if (!fs->dedupe)
		return 0;
	for (; k > 0; k--) {
		forced_scope(k, scope, size);
		if (dedupe_begin(fs->dedupe, ev->source, ev->id, scope) == DEDUPE_SAVED)
			break;
		dedupe_abort(fs->dedupe, ev->source, ev->id, scope);
	}
	if ((uint64_t)k >= fs->fail_first)
		return 0;
	forced_scope(k + 1, scope, size);
	return dedupe_begin(fs->dedupe, ev->source, ev->id, scope) == DEDUPE_NEW ? k + 1 : 0;
}

/* Ends the claims save_event() made: saved (the "saved" line is written) or not. */
static void settle_claims(struct filesink *fs, const struct ce_event *ev, bool saved,
			  json_int_t forced, bool forced_written, const char *scope)
{
	if (!fs->dedupe)
		return;
	if (saved)
		dedupe_commit(fs->dedupe, ev->source, ev->id, NULL);
	else
		dedupe_abort(fs->dedupe, ev->source, ev->id, NULL);
	if (forced > 0 && forced_written)
		dedupe_commit(fs->dedupe, ev->source, ev->id, scope);
	else if (forced > 0)
		dedupe_abort(fs->dedupe, ev->source, ev->id, scope);
}

/*
 * Saves ev (or fails), answering the request and reporting the attempt to the journeys.
 * Returns 0 or the err.h code answered.
 */
static int save_event(struct filesink *fs, struct http_request *req, const struct ce_event *ev,
		      const struct trace_span *span)
{
	uint64_t n = count_attempt(fs, ev);
	char scope[32];
	json_int_t forced;
	bool fail;
	json_t *rec;
	int rc;

	if (fs->dedupe && dedupe_begin(fs->dedupe, ev->source, ev->id, NULL) == DEDUPE_SAVED)
		return save_duplicate(fs, req, ev, n, span);
	fail = failsim_next(fs->fail);
	forced = claim_forced(fs, ev, scope, sizeof(scope));
	fail = fail || forced > 0;
	rec = record_new(fail ? FILESINK_SIMULATED : FILESINK_SAVED);
	if (forced > 0)
		json_object_set_new(rec, "failFirst", json_integer(forced));
	json_object_set_new(rec, "event", ce_to_json(ev));
	rc = eventlog_append(fs->log, rec);
	json_decref(rec);
	settle_claims(fs, ev, rc == 0 && !fail, forced, rc == 0, scope);
	if (rc != 0) {
		report(fs, ev, n, "io error", 500, span);
		return http_fail(req, ERR_IO, "could not write event %s to events.log", ev->id);
	}
	if (fail) {
		metrics_inc(fs->simulated);
		report(fs, ev, n, FILESINK_SIMULATED, 500, span);
		log_info("simulated a failure for event %s (%s)", ev->id, fs->policy);
		return http_fail(req, ERR_SIMULATED, "simulated failure for event %s (%s)", ev->id,
				 fs->policy);
	}
	metrics_inc(fs->saved);
	report(fs, ev, n, FILESINK_SAVED, 200, span);
	log_debug("saved event %s of type %s", ev->id, ev->type);
	return http_respond(req, 200, NULL, NULL, 0);
}

static int post_event(struct http_request *req)
{
	struct filesink *fs = req->ctx;
	struct ce_error cerr = { 0 };
	struct trace_span *span = NULL;
	struct ce_event *ev;
	int rc = ce_request_decode(req, &ev, &cerr);

	if (rc != 0)
		return reject(fs, req, rc, cerr.message);
	ce_request_own(req, ev);
	(void)ce_trace_consume(req, ev, 0, &span);
	trace_span_enter(span);
	rc = save_event(fs, req, ev, span);
	ce_trace_end(span, rc);
	return rc;
}

static int get_events(struct http_request *req)
{
	struct filesink *fs = req->ctx;

	return sink_respond_tail(req, fs->log, fs->events_max_bytes);
}

static int post_bad_review(struct http_request *req)
{
	struct filesink *fs = req->ctx;

	if (!fs->bad)
		return http_fail(req, ERR_NOT_FOUND, "no bad-review sink");
	return badreviews_post(fs->bad, req, fs->journey);
}

static int get_bad_reviews(struct http_request *req)
{
	struct filesink *fs = req->ctx;

	if (!fs->bad)
		return http_fail(req, ERR_NOT_FOUND, "no bad-review sink");
	return badreviews_get(fs->bad, req);
}

static const struct route routes[] = {
	{ "POST", "/", post_event, 0, 0 },
	{ "GET", "/events", get_events, 0, 0 },
	{ "POST", "/bad-reviews", post_bad_review, 0, 0 },
	{ "GET", "/bad-reviews", get_bad_reviews, 0, 0 },
};
const struct route *filesink_routes(size_t *n)
{
	*n = ARRAY_SIZE(routes);
	return routes;
}
