/*
 * review.c: validation of review input and of the limit/id parameters (see review.h).
 */
#include "review.h"

#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "common/text.h"
#include "common/xalloc.h"

long review_utf8_count(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	long count = 0;
	size_t i = 0;

	while (i < len) {
		size_t n = p[i] ? text_utf8_seq(p + i, len - i) : 0; /* NUL counts as invalid */

		if (n == 0)
			return -1;
		i += n;
		count++;
	}
	return count;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int review_check_text(const char *s, size_t len, size_t *start, size_t *trimmed_len,
		      struct buf *msg)
{
	size_t b = 0, e = len;
	long n;

	while (b < e && is_space(s[b]))
		b++;
	while (e > b && is_space(s[e - 1]))
		e--;
	n = review_utf8_count(s + b, e - b);
	if (n < 0) {
		buf_appends(msg, "reviewText must be valid UTF-8 without NUL characters");
		return ERR_VALIDATION;
	}
	if (n == 0) {
		buf_appends(msg, "reviewText must not be empty");
		return ERR_VALIDATION;
	}
	if (n > REVIEW_TEXT_MAX) {
		buf_appendf(msg, "reviewText has %ld characters, at most %d are allowed", n,
			    REVIEW_TEXT_MAX);
		return ERR_VALIDATION;
	}
	*start = b;
	*trimmed_len = e - b;
	return 0;
}

int review_sentiment_valid(const char *s)
{
	static const char *const allowed[] = { "positive", "negative", "neutral" };

	for (size_t i = 0; i < ARRAY_SIZE(allowed); i++)
		if (strcmp(s, allowed[i]) == 0)
			return 1;
	return 0;
}

/* An event key member (eventId, eventSource): 1..max code points of UTF-8 without NUL. */
static int check_key(const char *name, long max, const char *s, size_t len, struct buf *msg)
{
	long n = review_utf8_count(s, len);

	if (n < 0) {
		buf_appendf(msg, "%s must be valid UTF-8 without NUL characters", name);
		return ERR_VALIDATION;
	}
	if (n == 0 || n > max) {
		buf_appendf(msg, "%s must have 1 to %ld characters", name, max);
		return ERR_VALIDATION;
	}
	return 0;
}

int review_check_event_id(const char *s, size_t len, struct buf *msg)
{
	return check_key("eventId", REVIEW_EVENT_ID_MAX, s, len, msg);
}

int review_check_event_source(const char *s, size_t len, struct buf *msg)
{
	return check_key("eventSource", REVIEW_EVENT_SOURCE_MAX, s, len, msg);
}

static int take_text(json_t *v, struct review_input *out, struct buf *msg)
{
	size_t start, n;
	int rc;

	if (!json_is_string(v)) {
		buf_appends(msg, "reviewText must be a string");
		return ERR_VALIDATION;
	}
	rc = review_check_text(json_string_value(v), json_string_length(v), &start, &n, msg);
	if (rc)
		return rc;
	out->text = xstrndup(json_string_value(v) + start, n);
	return 0;
}

static int take_sentiment(json_t *v, struct review_input *out, struct buf *msg)
{
	if (json_is_null(v))
		return 0;
	if (!json_is_string(v) || !review_sentiment_valid(json_string_value(v))) {
		buf_appends(msg,
			    "sentiment must be \"positive\", \"negative\", \"neutral\" or null");
		return ERR_VALIDATION;
	}
	out->sentiment = xstrdup(json_string_value(v));
	return 0;
}

/* eventId or eventSource: a string that check() accepts, or null; kept in *out. */
static int take_key(json_t *v, const char *name, int (*check)(const char *, size_t, struct buf *),
		    char **out, struct buf *msg)
{
	int rc;

	if (json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		buf_appendf(msg, "%s must be a string", name);
		return ERR_VALIDATION;
	}
	rc = check(json_string_value(v), json_string_length(v), msg);
	if (rc)
		return rc;
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int take_members(json_t *root, struct review_input *out, struct buf *msg)
{
	const char *key;
	json_t *v;
	int rc = 0;

	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "reviewText") == 0) {
			rc = take_text(v, out, msg);
		} else if (strcmp(key, "sentiment") == 0) {
			rc = take_sentiment(v, out, msg);
		} else if (strcmp(key, "eventId") == 0) {
			rc = take_key(v, key, review_check_event_id, &out->event_id, msg);
		} else if (strcmp(key, "eventSource") == 0) {
			rc = take_key(v, key, review_check_event_source, &out->event_source, msg);
		} else {
			/* Whole keys only: a cut could split a UTF-8 sequence. */
			if (strlen(key) <= 64)
				buf_appendf(msg, "unknown member \"%s\"; ", key);
			buf_appends(msg, "allowed: reviewText, sentiment, eventId, eventSource");
			rc = ERR_VALIDATION;
		}
		if (rc)
			return rc;
	}
	if (!out->text) {
		buf_appends(msg, "reviewText is required");
		return ERR_VALIDATION;
	}
	if (out->event_source && !out->event_id) {
		buf_appends(msg, "eventSource needs an eventId");
		return ERR_VALIDATION;
	}
	return 0;
}

int review_parse(const char *body, size_t len, struct review_input *out, struct buf *msg)
{
	json_error_t jerr;
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root) {
		buf_appendf(msg, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
			    jerr.text);
		return ERR_INVALID_JSON;
	}
	if (!json_is_object(root)) {
		buf_appends(msg, "the body must be a JSON object");
		rc = ERR_BAD_REQUEST;
		goto fail;
	}
	rc = take_members(root, out, msg);
	if (rc)
		goto fail;
	json_decref(root);
	return 0;
fail:
	json_decref(root);
	review_input_release(out);
	return rc;
}

void review_input_release(struct review_input *in)
{
	free(in->text);
	free(in->sentiment);
	free(in->event_id);
	free(in->event_source);
	memset(in, 0, sizeof(*in));
}

/* Digits only, no sign or space, value within [1, max]; -1 if not. */
static long long parse_positive(const char *text, long long max)
{
	long long v = 0;

	if (!text || !*text)
		return -1;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
		if (v > max)
			return -1;
	}
	return v >= 1 ? v : -1;
}

int review_parse_limit(const char *text, int *out, struct buf *msg)
{
	long long v;

	if (!text) {
		*out = REVIEW_LIMIT_DEFAULT;
		return 0;
	}
	v = parse_positive(text, REVIEW_LIMIT_MAX);
	if (v < 0) {
		buf_appendf(msg, "limit must be an integer from 1 to %d", REVIEW_LIMIT_MAX);
		return ERR_BAD_REQUEST;
	}
	*out = (int)v;
	return 0;
}

int review_parse_id(const char *text, long long *out, struct buf *msg)
{
	long long v = parse_positive(text, REVIEW_ID_MAX);

	if (v < 0) {
		buf_appendf(msg, "id must be an integer from 1 to %lld", REVIEW_ID_MAX);
		return ERR_BAD_REQUEST;
	}
	*out = v;
	return 0;
}
