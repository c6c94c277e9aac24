/*
 * fuzz_review: db-service's request-body parser and validator (review_parse) and the
 * limit/id parameter parsers, with the invariants every accepted input must satisfy.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/db-service/review.h"
#include "common/buf.h"
#include "common/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static void check_accepted(const struct review_input *in)
{
	size_t n = strlen(in->text);
	long cp = review_utf8_count(in->text, n);

	if (cp < 1 || cp > REVIEW_TEXT_MAX || is_space(in->text[0]) || is_space(in->text[n - 1]))
		abort();
	if (in->sentiment && !review_sentiment_valid(in->sentiment))
		abort();
	if (in->event_id) {
		cp = review_utf8_count(in->event_id, strlen(in->event_id));
		if (cp < 1 || cp > REVIEW_EVENT_ID_MAX)
			abort();
	}
	if (in->event_source) {
		cp = review_utf8_count(in->event_source, strlen(in->event_source));
		if (!in->event_id || cp < 1 || cp > REVIEW_EVENT_SOURCE_MAX)
			abort();
	}
}

static void check_params(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size);
	struct buf msg;
	long long id;
	int limit;

	buf_init(&msg, 4096);
	if (review_parse_limit(text, &limit, &msg) == 0 && (limit < 1 || limit > REVIEW_LIMIT_MAX))
		abort();
	if (review_parse_id(text, &id, &msg) == 0 && (id < 1 || id > REVIEW_ID_MAX))
		abort();
	buf_release(&msg);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct review_input in;
	struct buf msg;

	buf_init(&msg, 4096);
	if (review_parse((const char *)data, size, &in, &msg) == 0)
		check_accepted(&in);
	else if (in.text || in.sentiment || in.event_id || msg.len == 0)
		abort(); /* a failure keeps nothing and always says why */
	review_input_release(&in);
	buf_release(&msg);
	if (size < 64)
		check_params(data, size);
	return 0;
}
