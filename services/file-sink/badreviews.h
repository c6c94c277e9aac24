/*
 * badreviews.h: file-sink's second sink, the notification sink of the moderation path.
 *
 * badword-broker's Trigger delivers each review that bad-word-filter marked bad (a
 * moderated-comment with badwordfilter: bad) to POST /bad-reviews, where upstream had its
 * Slack notifier (docs/moderation.md says why it is a log here). Each delivery appends one
 * line to DATA_DIR/bad-reviews.log before the answer, so `kubectl exec ... cat
 * /data/bad-reviews.log` shows every bad review:
 *   {"time", "outcome": "notified" | "duplicate", "review": {"id", "reviewText",
 *    "badwordfilter", "sentimentresult"}, "event": {...}}
 * and one WARN record on stderr. It never fails on purpose (FAILURE_RATE is file-sink's
 * demo on POST / only); a redelivery of an event already notified (same source and id,
 * dedupe.h, rebuilt from the log at start) gets a "duplicate" line and 200. A malformed event
 * is answered 4xx with the JSON error body; a failed write is 500, so the broker retries.
 * GET /bad-reviews answers the newest lines, as GET /events does.
 *
 * With a journey client (file-sink's JOURNEY_URL), each delivery of an event with an id is
 * also a journey record for the page (services/node-server/journey.h), best-effort:
 *   {"id", "source": "file-sink", "kind": "notification", "time",
 *    "outcome": "notified" | "duplicate" | "io error", "code", "trace_id"?}
 *
 * Metric: filesink_bad_reviews_total{outcome} (notified, duplicate, rejected).
 * Ownership: struct badreviews owns its log and its dedupe set.
 */
#ifndef FILE_SINK_BADREVIEWS_H
#define FILE_SINK_BADREVIEWS_H

#include <stddef.h>

#include "common/buf.h"
#include "common/eventlog.h"

#define BADREVIEWS_FILE "bad-reviews.log"

struct http_request;
struct badreviews;
struct journey_client;

/*
 * Opens DATA_DIR/bad-reviews.log (dir), rebuilds the dedupe set (dedupe_keys keys) from it
 * and registers the metric. Returns 0 with *out set, or ERR_IO with the reason in err.
 */
int badreviews_open(const char *dir, enum eventlog_fsync mode, size_t dedupe_keys,
		    size_t tail_bytes, struct badreviews **out, struct buf *err);
/* POST /bad-reviews (see above); jc (borrowed) may be NULL: no journey records. */
int badreviews_post(struct badreviews *b, struct http_request *req, struct journey_client *jc);
/* GET /bad-reviews: the newest lines, newest first. */
int badreviews_get(struct badreviews *b, struct http_request *req);
/* The readiness check: 0, or -1 with the reason appended (the log failed). */
int badreviews_check(struct badreviews *b, struct buf *reason);
void badreviews_close(struct badreviews *b);

#endif
