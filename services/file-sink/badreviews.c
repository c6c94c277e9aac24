/* badreviews.c: the notification sink of the moderation path (see badreviews.h). */
#include "badreviews.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/ce.h"
#include "common/ce_trace.h"
#include "common/clock.h"
#include "common/dedupe.h"
#include "common/err.h"
#include "common/http.h"
#include "common/journey_client.h"
#include "common/jsonenc.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/sink.h"
#include "common/trace.h"
#include "common/xalloc.h"

struct badreviews {
	struct eventlog *log;
	struct dedupe *dedupe;
	size_t tail_bytes;
	struct metric_series *notified, *duplicate, *rejected;
};

/* The dedupe key of a bad-reviews.log line (dedupe_key_fn): its "notified" events. */
static int notified_key(json_t *rec, const char **source, const char **id, const char **scope)
{
	*scope = NULL;
	return sink_outcome_key(rec, "notified", source, id);
}

int badreviews_open(const char *dir, enum eventlog_fsync mode, size_t dedupe_keys,
		    size_t tail_bytes, struct badreviews **out, struct buf *err)
{
	struct badreviews *b = xcalloc(1, sizeof(*b));
	char *path = xasprintf("%s/%s", dir, BADREVIEWS_FILE);
	size_t n;
	int rc = 0;

	*out = NULL;
	b->tail_bytes = tail_bytes;
	if (eventlog_open(path, mode, &b->log) != 0) {
		buf_appendf(err, "cannot open %s for appending: %s", path, strerror(errno));
		rc = ERR_IO;
		goto cleanup;
	}
	b->dedupe = dedupe_new(dedupe_keys);
	if (dedupe_load(b->dedupe, path, notified_key, &n) != 0) {
		buf_appendf(err, "cannot read %s: %s", path, strerror(errno));
		rc = ERR_IO;
		goto cleanup;
	}
	metrics_counter_each(
	    metrics_default(), "filesink_bad_reviews_total",
	    "Bad reviews delivered to POST /bad-reviews by outcome (notified, "
	    "duplicate, rejected).",
	    "outcome", METRIC_LABELS("notified", "duplicate", "rejected"),
	    (struct metric_series * *const[]){ &b->notified, &b->duplicate, &b->rejected });
	*out = b;
	b = NULL;
cleanup:
	badreviews_close(b);
	free(path);
	return rc;
}

/* The review in a few fields, for the line and the log record. */
static json_t *review_summary(const struct ce_event *ev)
{
	json_t *data = NULL, *text, *out;

	if (ev->has_data && ev->data_len > 0)
		data = json_loadb((const char *)ev->data, ev->data_len, 0, NULL);
	text = json_object_get(data, "reviewText");
	out = json_pack("{s:s, s:O?, s:s?, s:s?}", "id", ev->id, "reviewText",
			json_is_string(text) ? text : NULL, "badwordfilter",
			ce_get(ev, "badwordfilter"), "sentimentresult",
			ce_get(ev, "sentimentresult"));
	json_decref(data);
	return out;
}

/* Appends the line; 0 or ERR_IO. */
static int record(struct badreviews *b, const char *outcome, const struct ce_event *ev)
{
	char now[32];
	json_t *rec;
	int rc;

	log_format_time(now, 0);
	rec = json_pack("{s:s, s:s, s:o, s:o}", "time", now, "outcome", outcome, "review",
			review_summary(ev), "event", ce_to_json(ev));
	rc = eventlog_append(b->log, rec);
	json_decref(rec);
	return rc ? ERR_IO : 0;
}

static int decode(struct badreviews *b, struct http_request *req, struct ce_event **ev)
{
	struct ce_error cerr = { 0 };
	size_t n;
	const struct http_header *h = http_headers(req, &n);
	int rc = ce_decode_event(h, n, req->body, req->body_len, ev, &cerr);

	if (rc == 0)
		return 0;
	metrics_inc(b->rejected);
	log_fields(LOG_WARN,
		   json_pack("{s:s, s:o}", "error", err_code_name(rc), "reason",
			     jsonenc_string(cerr.message)),
		   "rejected a bad-review delivery: %s", cerr.message);
	return http_fail(req, rc, "%s", cerr.message);
}

/* The journey record of this notification (journey_client.h), best-effort. */
static void report(struct journey_client *jc, const struct ce_event *ev, const char *outcome,
		   int status, const struct trace_span *span)
{
	char trace_id[33];
	json_t *r;

	if (jc == NULL || !journey_client_id_ok(ev->id))
		return;
	journey_client_trace_id(trace_span_context(span), trace_id);
	r = json_pack("{s:s, s:s, s:s, s:I, s:s, s:i}", "id", ev->id, "source", "file-sink", "kind",
		      "notification", "time", (json_int_t)clock_real_ms(), "outcome", outcome,
		      "code", status);
	if (r && trace_id[0])
		(void)json_object_set_new(r, "trace_id", json_string(trace_id));
	journey_client_record(jc, r);
}

int badreviews_post(struct badreviews *b, struct http_request *req, struct journey_client *jc)
{
	struct trace_span *span = NULL;
	struct ce_event *ev;
	bool dup;
	int rc = decode(b, req, &ev);

	if (rc != 0)
		return rc;
	(void)ce_trace_consume(req, ev, 0, &span);
	trace_span_enter(span);
	dup = dedupe_begin(b->dedupe, ev->source, ev->id, NULL) == DEDUPE_SAVED;
	rc = record(b, dup ? "duplicate" : "notified", ev);
	if (!dup && rc == 0)
		dedupe_commit(b->dedupe, ev->source, ev->id, NULL);
	else if (!dup)
		dedupe_abort(b->dedupe, ev->source, ev->id, NULL);
	else if (rc != 0) /* notified before: only the note of the redelivery is lost */
		log_error("bad review %s was notified before; its redelivery could not be "
			  "recorded in %s",
			  ev->id, BADREVIEWS_FILE);
	if (rc != 0 && !dup) {
		report(jc, ev, "io error", 500, span);
		rc = http_fail(req, ERR_IO, "could not write event %s to %s", ev->id,
			       BADREVIEWS_FILE);
		goto out;
	}
	metrics_inc(dup ? b->duplicate : b->notified);
	report(jc, ev, dup ? "duplicate" : "notified", 200, span);
	if (!dup)
		log_fields(LOG_WARN,
			   json_pack("{s:s, s:s?, s:s?}", "event_id", ev->id, "badwordfilter",
				     ce_get(ev, "badwordfilter"), "sentimentresult",
				     ce_get(ev, "sentimentresult")),
			   "bad review %s notified (kept out of the database)", ev->id);
	rc = http_respond(req, 200, NULL, NULL, 0);
out:
	ce_trace_end(span, rc);
	ce_event_free(ev);
	return rc;
}

int badreviews_get(struct badreviews *b, struct http_request *req)
{
	return sink_respond_tail(req, b->log, b->tail_bytes);
}

int badreviews_check(struct badreviews *b, struct buf *reason)
{
	return eventlog_check(b->log, reason);
}

void badreviews_close(struct badreviews *b)
{
	if (!b)
		return;
	dedupe_free(b->dedupe);
	eventlog_close(b->log);
	free(b);
}
