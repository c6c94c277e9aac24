/*
 * journey.h: each review's journey (docs/journey.md), kept by node-server and pushed live to
 * the pages that follow it.
 *
 * A journey is what happened to one forwarded event (a review), keyed by its event id: posted
 * (node-server's /add, accepted by the broker), each delivery attempt at file-sink, each dead
 * letter, each attempt at the moderation Sequence's two steps with its result, the bad-review
 * notification, each /insert attempt node-server itself served, and the reply event.
 * node-server records its own steps directly; file-sink, dead-letter-logger, bad-word-filter
 * and sentiment-analysis post theirs to POST /journey (common/journey_client.h),
 * best-effort. Only what a subscriber of a real Knative cluster sees is used: nothing comes
 * from the broker.
 *
 * Records (POST /journey, application/json, at most JOURNEY_BODY_MAX bytes):
 *	{"records": [ <record>, ... ]}              1 to JOURNEY_BATCH_MAX records
 *	<record> = {
 *	  "id":          the event id (1 to JOURNEY_ID_MAX bytes, no control characters),
 *	  "source", "kind": one of
 *	                 "file-sink" "attempt"                  a delivery attempt of POST /
 *	                 "dead-letter-logger" "dead-letter"     a dead letter
 *	                 "bad-word-filter" "step"               an attempt at the Sequence's
 *	                 "sentiment-analysis" "step"            steps (common/step.h)
 *	                 "file-sink" "notification"             POST /bad-reviews (a bad review)
 *	  "time":        milliseconds since the epoch (an integer > 0), required,
 *	  "attempt":     attempt (required): 1..1000 (file-sink counts them per event id),
 *	  "outcome":     attempt (required): "saved" | "error simulated" | "duplicate" |
 *	                 "io error"; step (required): "answered" (2xx) | "failed";
 *	                 notification (required): "notified" | "duplicate" | "io error",
 *	  "code":        the HTTP status answered (required for a step), or knativeerrorcode
 *	                 (dead-letter), 0..999,
 *	  "result":      step: "good" | "bad" (bad-word-filter), "positive" | "negative" |
 *	                 "neutral" (sentiment-analysis); absent when the step had none,
 *	  "score":       sentiment-analysis step: the compound score, a number -1..1,
 *	  "matched":     bad-word-filter step: the list entry a bad review matched, 1..64 bytes,
 *	  "destination": dead-letter: knativeerrordest, optional, <= 512 bytes,
 *	  "response":    dead-letter: the decoded knativeerrordata, optional, <= 1024 bytes,
 *	  "trace_id":    32 lowercase hex digits, optional (any kind),
 *	  "policy":      attempt, dead-letter: file-sink's failure policy ("FAILURE_RATE=0.5"),
 *	                 optional, <= 64 bytes,
 *	  "counters":    attempt, dead-letter: the sender's own metrics at that moment, optional:
 *	                 an object of at most 16 names (<= 32 bytes) with integer values >= 0
 *	}
 * Any other key, type or range is a 400 with the reason (validation_failed), and nothing of
 * the batch is kept.
 *
 * Storage: the newest `keep` journeys (JOURNEY_KEEP) in a ring; a record for an id not kept
 * starts a new journey, evicting the oldest. A journey keeps at most JOURNEY_STEPS steps
 * (later ones are counted in "more"). Every step is at most about 1.7 KiB, so the store is
 * bounded by keep * JOURNEY_STEPS * 1.7 KiB.
 *
 * A journey, as GET /journey/{id}, GET /reviews/{id}/journey and the frames give it:
 *	{"id": the event id, "review_id": the stored review's id or null,
 *	 "posted": node-server's time of the post (ms since the epoch) or null,
 *	 "trace_id": 32 hex digits or null, "steps": [the records as stored, node-server's own
 *	 steps among them, in arrival order], "more": the steps not kept,
 *	 "now": node-server's clock when this JSON was made (ms since the epoch)}
 * "now" lets a page count down to the next retry on the server's clock (the steps' times are
 * the server side's) rather than its own, which may be off by any amount: it takes "now" as
 * the server's time at receipt and counts on from there with its monotonic clock.
 *
 * Pages: a WebSocket client sends {"follow": [ids]} or {"unfollow": [ids]} (at most
 * JOURNEY_FOLLOW_MAX ids and WS_MAX_MESSAGE bytes per message); it then gets
 * {"journey": <journey>} frames for those ids: the current state at once, and the whole
 * journey again at each change (best-effort: ws.h Topics). A bad message gets one
 * {"error": "bad_request", "message": ...} frame.
 *
 * Threads: every function is thread-safe (one mutex); journey_ws_text() runs on the hub
 * thread. Lock order: the journey mutex, then the hub's own (ws_hub_publish_topic()).
 */
#ifndef NODE_SERVER_JOURNEY_H
#define NODE_SERVER_JOURNEY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"

struct ws_hub;
struct ws_client;

#define JOURNEY_ID_MAX	   128
#define JOURNEY_STEPS	   16
#define JOURNEY_BATCH_MAX  64
#define JOURNEY_BODY_MAX   ((size_t)256 * 1024)
#define JOURNEY_FOLLOW_MAX 32
/* How far ahead of node-server's clock a sender's record time is believed (GET /delivery). */
#define JOURNEY_SKEW_MS (5LL * 60 * 1000)

struct journey_config {
	size_t keep;		    /* journeys kept (JOURNEY_KEEP) */
	long long retry;	    /* the Broker's delivery.retry (DELIVERY_RETRY) */
	const char *backoff_policy; /* "exponential" | "linear" (DELIVERY_BACKOFF_POLICY) */
	long long backoff_delay_ms; /* DELIVERY_BACKOFF_DELAY */
	const char *trace_url;	    /* TRACE_UI_URL with "{traceId}", or NULL */
};

struct journey;

/* Creates the store (cfg copied; its strings must outlive it). */
struct journey *journey_new(const struct journey_config *cfg);
void journey_free(struct journey *j);
/* Where changes are published (NULL: nowhere). Detach before freeing the hub. */
void journey_attach(struct journey *j, struct ws_hub *hub);

/* The topic (ws.h) of an event id. */
uint64_t journey_topic(const char *id);

/* node-server's own steps. trace_id may be NULL or "". */
void journey_posted(struct journey *j, const char *id, long long time_ms, const char *trace_id);
/*
 * One /insert served: outcome "stored" | "already stored" | "rejected" | "unavailable";
 * review_id is the stored review's id (> 0), or 0.
 */
void journey_insert(struct journey *j, const char *id, const char *outcome, int code,
		    long long review_id);
/* The reply event sent in the /insert answer. */
void journey_reply(struct journey *j, const char *id, const char *type, const char *reply_id);

/*
 * Validates a POST /journey body into an array of records (new reference in *out). Returns 0,
 * ERR_INVALID_JSON or ERR_VALIDATION with the reason in err. Pure: no store involved.
 */
int journey_parse(const char *body, size_t len, json_t **out, struct buf *err);
/* journey_parse() and then every record into the store. Returns its code. */
int journey_ingest(struct journey *j, const char *body, size_t len, size_t *n, struct buf *err);

/* The journey of id as JSON (new reference), or NULL when it is not kept. */
json_t *journey_get(struct journey *j, const char *id);
/* The journey of the stored review review_id (from db-service), or NULL when it is not kept. */
json_t *journey_get_review(struct journey *j, long long review_id);
/* GET /delivery: the delivery spec, the trace URL template and the senders' latest counters. */
json_t *journey_delivery(struct journey *j);

/*
 * Parses a page's message: *follow is 1 for "follow", 0 for "unfollow", and *ids a new array
 * of id strings. Returns 0 or ERR_BAD_REQUEST with the reason in err. Pure.
 */
int journey_follow_parse(const char *text, size_t len, int *follow, json_t **ids, struct buf *err);
/* ws_text_fn for the hub (arg: struct journey *). */
void journey_ws_text(void *arg, struct ws_hub *hub, struct ws_client *c, const char *text,
		     size_t len);

#endif
