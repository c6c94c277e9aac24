/*
 * review_event.h: the pure CloudEvent rules of node-server (no HTTP, no I/O), so that unit
 * tests can drive them directly.
 *
 *  - POST /add takes a new-review-comment event from the page (binary or structured mode) and
 *    forwards a new event to K_SINK: review_event_forward().
 *  - POST /insert takes the moderated event from the broker and stores it through db-service:
 *    review_event_insert_body() builds the db-service request, review_event_inserted() the
 *    CloudEvent reply.
 *  - The reviews list pushed to the page: review_event_rows() turns db-service rows into the
 *    array the original node-server sent (id, post_time, content, sentiment).
 *  - K_CE_OVERRIDES: review_overrides_parse().
 *
 * Errors are negative ERR_* codes (err.h) with a one-line reason appended to msg.
 * Nothing here keeps global state; every function is thread-safe on distinct arguments.
 */
#ifndef NODE_SERVER_REVIEW_EVENT_H
#define NODE_SERVER_REVIEW_EVENT_H

#include <stddef.h>

#include "common/buf.h"

struct ce_event;

#define REVIEW_EVENT_TYPE      "new-review-comment"
#define REVIEW_EVENT_SOURCE    "bookstore-eda"
#define REVIEW_INSERTED_TYPE   "com.example.reviews.inserted"
#define REVIEW_INSERTED_SOURCE "/api/reviews"
/* Longest review text, in code points after trimming (as db-service's rule). */
#define REVIEW_EVENT_TEXT_MAX 4000

/* Extensions from K_CE_OVERRIDES, added to every forwarded event. Owns its strings. */
struct review_overrides {
	size_t n;
	char **names;
	char **values;
};

/*
 * Parses K_CE_OVERRIDES: a JSON object {"extensions": {"name": "value", ...}} (Knative's
 * duckv1.CloudEventOverrides). Names must be valid CloudEvents attribute names that are not
 * core attributes; values strings valid as CloudEvents Strings. text NULL or "" gives an
 * empty set. Returns 0 (out filled; release it), or ERR_VALIDATION with the reason in msg and
 * out empty (safe to release).
 */
int review_overrides_parse(const char *text, struct review_overrides *out, struct buf *msg);
void review_overrides_release(struct review_overrides *o);

/*
 * Checks the event the page posted to /add and builds the event to forward: type
 * new-review-comment, source bookstore-eda, a fresh UUID v4 id, the current time,
 * datacontenttype application/json, data = the incoming data object with reviewText trimmed
 * (other members kept), plus the overrides (ov may be NULL). The incoming extensions are not
 * copied. Rejects (ERR_VALIDATION / ERR_INVALID_JSON) another type, data that is not a JSON
 * object, and a reviewText that is missing, not a string, empty after trimming or longer than
 * REVIEW_EVENT_TEXT_MAX code points. Returns 0 with *out (caller frees) or the error.
 */
int review_event_forward(const struct ce_event *in, const struct review_overrides *ov,
			 struct ce_event **out, struct buf *msg);

/*
 * The db-service POST /reviews body for an event delivered to /insert:
 * {"reviewText": <data.reviewText>, "sentiment": <s>, "eventId": <event id>,
 * "eventSource": <event source>} (db-service stores one row per source and id) where s is
 * data.sentimentResult, else data.sentiment, else the sentimentresult extension (omitted when
 * none is present or it is null). The event's type is not checked (as the original). Returns 0
 * with *body (NUL-terminated, caller frees) and *len, or ERR_VALIDATION / ERR_INVALID_JSON.
 */
int review_event_insert_body(const struct ce_event *in, char **body, size_t *len, struct buf *msg);

/*
 * The reply to /insert: type com.example.reviews.inserted, source /api/reviews, a fresh id,
 * the current time, datacontenttype application/json and data = row (len bytes), which must
 * be a JSON object. Returns 0 with *out (caller frees), or ERR_BAD_GATEWAY when row is not
 * a JSON object.
 */
int review_event_inserted(const char *row, size_t len, struct ce_event **out, struct buf *msg);

/*
 * Converts a db-service GET /reviews answer (a JSON array of rows with id, post_time, content,
 * sentiment, event_id) into the compact array the page receives, with only id, post_time,
 * content and sentiment, in that order. Returns 0 with *out (NUL-terminated, caller frees)
 * and *out_len, or ERR_BAD_GATEWAY when the answer is not such an array.
 */
int review_event_rows(const char *body, size_t len, char **out, size_t *out_len, struct buf *msg);

/* Trims ASCII whitespace (space, \t, \n, \v, \f, \r) off s[0..len): sets *start and *tlen. */
void review_event_trim(const char *s, size_t len, size_t *start, size_t *tlen);
/* Code points in s[0..len) (valid UTF-8 assumed; continuation bytes are not counted). */
size_t review_event_codepoints(const char *s, size_t len);

#endif
