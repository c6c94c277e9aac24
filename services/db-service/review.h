/*
 * review.h: the pure domain rules of db-service (no libpq or libmicrohttpd types), so that
 * unit tests and the fuzzer can drive them directly.
 *
 * A POST /reviews body is a JSON object with exactly these members:
 *	reviewText  string, required: after trimming ASCII whitespace, 1..4000 code points of
 *	            valid UTF-8 without NUL
 *	sentiment   "positive" | "negative" | "neutral", or null / absent
 *	eventId     non-empty string of at most 200 code points (valid UTF-8, no NUL), or
 *	            null / absent
 *	eventSource non-empty string of at most 400 code points (valid UTF-8, no NUL), or
 *	            null / absent; only with an eventId
 * A review with an eventId is stored once per (eventSource, eventId), the CloudEvents rule
 * that source and id together identify an event; an absent eventSource is the empty source,
 * the key of every review stored before db-service took sources. Both limits together keep
 * the key within one btree index entry (PostgreSQL: about 2700 bytes).
 * Any other member, a duplicated member or a member of the wrong type is rejected.
 *
 * Query and path parameters: limit is 1..1000 digits-only (default 100 when absent); an id is
 * 1..2147483647 digits-only (the range of a PostgreSQL serial).
 *
 * Errors are negative ERR_* codes from err.h with a one-line reason appended to msg.
 */
#ifndef DB_SERVICE_REVIEW_H
#define DB_SERVICE_REVIEW_H

#include <stddef.h>

#include "common/buf.h"

#define REVIEW_TEXT_MAX		4000
#define REVIEW_EVENT_ID_MAX	200
#define REVIEW_EVENT_SOURCE_MAX 400
#define REVIEW_LIMIT_DEFAULT	100
#define REVIEW_LIMIT_MAX	1000
#define REVIEW_ID_MAX		2147483647LL

/* A validated review. Owns its strings (xstrdup'ed); release with review_input_release(). */
struct review_input {
	char *text;	    /* trimmed, never NULL after a successful parse */
	char *sentiment;    /* NULL when absent or null */
	char *event_id;	    /* NULL when absent or null */
	char *event_source; /* NULL when absent or null (then never without event_id) */
};

/*
 * Parses and validates a request body of len bytes (need not be NUL-terminated).
 * On success fills *out (which the caller releases) and returns 0. On failure returns
 * ERR_INVALID_JSON (not JSON), ERR_BAD_REQUEST (not an object) or ERR_VALIDATION, appends the
 * reason to msg and leaves *out empty (safe to release).
 */
int review_parse(const char *body, size_t len, struct review_input *out, struct buf *msg);
/* Frees the strings and zeroes the struct. */
void review_input_release(struct review_input *in);

/*
 * The number of code points in s[0..len) if it is valid UTF-8 (shortest form, no surrogates,
 * at most U+10FFFF) without any NUL byte, else -1.
 */
long review_utf8_count(const char *s, size_t len);
/*
 * Validates a review text: trims ASCII whitespace (space, \t, \n, \v, \f, \r) from both ends
 * and checks the rules above. On success *start and *trimmed_len delimit the trimmed text in s.
 */
int review_check_text(const char *s, size_t len, size_t *start, size_t *trimmed_len,
		      struct buf *msg);
/* Whether s is one of positive, negative, neutral (exact, case-sensitive). */
int review_sentiment_valid(const char *s);
/* Validates an eventId, or an eventSource, of len bytes (the rules above). */
int review_check_event_id(const char *s, size_t len, struct buf *msg);
int review_check_event_source(const char *s, size_t len, struct buf *msg);

/* Parses ?limit= (NULL = absent = default). Returns 0 or ERR_BAD_REQUEST. */
int review_parse_limit(const char *text, int *out, struct buf *msg);
/* Parses an {id} path parameter. Returns 0 or ERR_BAD_REQUEST. */
int review_parse_id(const char *text, long long *out, struct buf *msg);

#endif
