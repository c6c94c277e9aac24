/* handlers.c: dead-letter-logger's routes (see handlers.h). */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/ce.h"
#include "common/err.h"
#include "common/http.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "deadletter.h"

void deadletters_init(struct deadletters *dl, struct eventlog *log)
{
	dl->log = log;
	dl->total = metrics_counter(metrics_default(), "dead_letters_total",
				    "Dead letters received, by failed destination and HTTP code.",
				    METRIC_LABELS("destination", "code"));
}

int handlers_ready(void *ctx, struct buf *reason)
{
	struct deadletters *dl = ctx;

	return eventlog_check(dl->log, reason);
}

/*
 * Decodes the request's event. Returns 0 with *out set (caller frees), or an err.h code with
 * the reason in err->message.
 */
static int decode_event(const struct http_request *req, struct ce_event **out, struct ce_error *err)
{
	size_t n;
	const struct http_header *hh = http_headers(req, &n);
	struct ce_header *h = xcalloc(n ? n : 1, sizeof(*h));
	struct ce_decoded d;
	int rc;

	*out = NULL;
	for (size_t i = 0; i < n; i++)
		h[i] = (struct ce_header){ hh[i].name, hh[i].value };
	rc = ce_decode_http(h, n, req->body, req->body_len, &d, err);
	free(h);
	if (rc != 0)
		return rc;
	if (d.mode == CE_MODE_BATCH) {
		ce_decoded_release(&d);
		snprintf(err->message, sizeof(err->message),
			 "batched mode is not accepted: dead letters come one per request");
		return ERR_BAD_REQUEST;
	}
	*out = d.event;
	d.event = NULL;
	ce_decoded_release(&d);
	return 0;
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

static int post_dead_letter(struct http_request *req)
{
	struct deadletters *dl = req->ctx;
	struct deadletter_info info;
	struct ce_error cerr = { 0 };
	struct ce_event *ev;
	char now[32], code[16];
	json_t *rec;
	int rc = decode_event(req, &ev, &cerr);

	if (rc != 0) {
		log_fields(LOG_WARN, json_pack("{s:s}", "error", err_code_name(rc)),
			   "rejected a malformed dead letter: %s", cerr.message);
		return http_fail(req, rc, "%s", cerr.message);
	}
	log_format_time(now, 0);
	rec = deadletter_record(ev, now, &info);
	rc = eventlog_append(dl->log, rec);
	json_decref(rec);
	if (rc != 0) {
		rc = http_fail(req, ERR_IO, "could not write dead letter %s to events.log", ev->id);
		goto out;
	}
	if (info.has_code)
		snprintf(code, sizeof(code), "%d", info.code);
	else
		snprintf(code, sizeof(code), "unknown");
	log_dead_letter(ev, &info, code);
	metrics_inc(metrics_series(
	    dl->total, METRIC_LABELS(info.destination ? info.destination : "unknown", code)));
	rc = http_respond(req, 200, NULL, NULL, 0);
out:
	ce_event_free(ev);
	return rc;
}

static int get_events(struct http_request *req)
{
	struct deadletters *dl = req->ctx;
	size_t limit;
	json_t *arr;

	if (eventlog_limit_parse(http_query(req, "limit"), &limit) != 0)
		return http_fail(req, ERR_BAD_REQUEST, "limit must be an integer from 1 to %d",
				 EVENTLOG_MAX_LIMIT);
	if (eventlog_tail(dl->log, limit, &arr) != 0)
		return http_fail(req, ERR_IO, "could not read events.log");
	return http_respond_json(req, 200, arr);
}

const struct route handlers_routes[] = {
	{ "POST", "/", post_dead_letter, 0, 0 },
	{ "GET", "/events", get_events, 0, 0 },
};
const size_t handlers_nroutes = sizeof(handlers_routes) / sizeof(handlers_routes[0]);
