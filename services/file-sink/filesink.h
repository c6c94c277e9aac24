/*
 * filesink.h: file-sink's HTTP API, as a route table for the HTTP layer (http.h).
 *
 *	POST /         one CloudEvent (binary or structured mode) from a Trigger. Every attempt
 *	               appends one line to events.log before the answer:
 *	                 {"time", "outcome": "saved" | "error simulated" | "duplicate",
 *	                  "failFirst": k (a FAIL_FIRST failure only), "event": {...}}
 *	               then answers 200 with an empty body, or 500 simulated_failure. A
 *	               redelivery of an event already saved (same source and id, dedupe.h) is
 *	               not saved again: it gets a "duplicate" line and 200, with no failure
 *	               drawn. A malformed event (or a batch: a Trigger never sends one) is
 *	               answered 4xx and logged as
 *	               {"time", "outcome": "rejected", "error": "<why>"}; a failed write is 500
 *	               io_error, so the Trigger retries.
 *	GET  /events   ?limit=1..1000 (default 100): the newest lines, newest first, at most
 *	               EVENTS_MAX_BYTES of them (eventlog_tail()).
 *	POST /bad-reviews, GET /bad-reviews   the notification sink of the moderation path,
 *	               with its own log (badreviews.h); no simulated failures.
 *
 * FAIL_FIRST=N (fs->fail_first) also fails the first N attempts of every event, whatever
 * FAILURE_RATE or FAIL_EVERY decide: FAIL_FIRST=2 with the Broker's retry 2 shows two retries,
 * then "saved". The count is exact and survives a restart: forced failure k is written as an
 * "error simulated" line with "failFirst": k, and kept in the dedupe set under its own scope
 * (rebuilt from events.log at start, filesink_log_key()), so an event is failed exactly N
 * times however many other events arrive in between. It shares the set's DEDUPE_KEYS bound.
 *
 * Journeys: each attempt of an event with an id is counted (attempts.h, the counter
 * filesink_redeliveries_total for attempts after the first) and, with JOURNEY_URL set,
 * reported to node-server as a journey record (common/journey_client.h), best-effort; so is
 * each POST /bad-reviews notification (badreviews.h).
 *
 * Metrics: filesink_deliveries_total{outcome}, filesink_redeliveries_total and the gauge
 * filesink_log_bytes.
 * Every handler expects req->ctx to be the struct filesink.
 */
#ifndef FILE_SINK_FILESINK_H
#define FILE_SINK_FILESINK_H

#include <stddef.h>

#include "common/buf.h"
#include "common/dedupe.h"
#include "common/eventlog.h"
#include "common/metrics.h"
#include "common/route.h"
#include "common/sink.h"
#include "attempts.h"
#include "badreviews.h"
#include "failsim.h"

struct journey_client;

#define FILESINK_SAVED	   "saved"
#define FILESINK_SIMULATED "error simulated"
#define FILESINK_REJECTED  "rejected"
#define FILESINK_DUPLICATE "duplicate"

struct filesink {
	struct eventlog *log;	 /* borrowed: opened and closed by main */
	struct failsim *fail;	 /* borrowed */
	const char *policy;	 /* "FAIL_EVERY=3" or "FAILURE_RATE=0.5", for the error message */
	struct dedupe *dedupe;	 /* borrowed; NULL = no deduplication */
	size_t events_max_bytes; /* EVENTS_MAX_BYTES: GET /events budget */
	struct badreviews *bad;	 /* borrowed; NULL (as filesink_init() leaves it) = 404 */
	struct metric_series *saved, *simulated, *rejected, *duplicate;
	struct metric_series *log_bytes;
	struct metric_series *redelivered;
	struct attempts attempts;
	struct journey_client *journey; /* owned; NULL = no journey records */
	uint64_t fail_first;		/* FAIL_FIRST: each event's first N attempts fail */
};

/* The route table (a static const struct route routes[] in filesink.c) and its size in *n. */
const struct route *filesink_routes(size_t *n);

/*
 * Fills fs with the sink's log and dedupe set (borrowed), fail and policy, and registers its
 * metrics in metrics_default().
 */
void filesink_init(struct filesink *fs, const struct sink *files, struct failsim *fail,
		   const char *policy);

/* Frees what filesink_init() made and the journey client. */
void filesink_release(struct filesink *fs);

/*
 * The dedupe key of an events.log record (dedupe_key_fn, for sink_open()): (source, id) of a
 * "saved" line, or (source, id, FAIL_FIRST scope k) of a line with "failFirst": k. The scope
 * is in a static buffer, valid until the next call (dedupe_load() copies it at once).
 */
int filesink_log_key(json_t *rec, const char **source, const char **id, const char **scope);

/* The /readyz callback: ctx is the struct filesink. */
int filesink_ready(void *ctx, struct buf *reason);

#endif
