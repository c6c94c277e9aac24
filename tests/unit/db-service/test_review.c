/*
 * Unit tests of services/db-service/review.c: request-body validation, UTF-8 counting,
 * trimming, and the limit/id parameter rules. Table-driven: each table row is one case.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../../services/db-service/review.h"
#include "../../../services/db-service/schema.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/xalloc.h"

/* A string of n copies of unit, wrapped in pre and post (caller frees). */
static char *repeat(const char *pre, const char *unit, size_t n, const char *post)
{
	struct buf b;

	buf_init(&b, BUF_NOCAP);
	buf_appends(&b, pre);
	for (size_t i = 0; i < n; i++)
		buf_appends(&b, unit);
	buf_appends(&b, post);
	return buf_detach(&b, NULL);
}

struct parse_case {
	const char *body;
	int rc;
	const char *text;      /* expected trimmed text when rc == 0 */
	const char *sentiment; /* expected, NULL = none */
	const char *event_id;  /* expected, NULL = none */
	const char *msg;       /* substring of the message when rc != 0 */
};

static const struct parse_case parse_cases[] = {
	{ "{\"reviewText\":\"Great book\"}", 0, "Great book", NULL, NULL, NULL },
	{ "{\"reviewText\":\"  \\t spaced \\n\\r \"}", 0, "spaced", NULL, NULL, NULL },
	{ "{\"reviewText\":\"a b\",\"sentiment\":\"positive\"}", 0, "a b", "positive", NULL, NULL },
	{ "{\"reviewText\":\"x\",\"sentiment\":\"negative\",\"eventId\":\"e-1\"}", 0, "x",
	  "negative", "e-1", NULL },
	{ "{\"reviewText\":\"x\",\"sentiment\":\"neutral\"}", 0, "x", "neutral", NULL, NULL },
	{ "{\"reviewText\":\"x\",\"sentiment\":null,\"eventId\":null}", 0, "x", NULL, NULL, NULL },
	{ "{\"eventId\":\"id\",\"reviewText\":\"caf\\u00e9\"}", 0, "caf\xc3\xa9", NULL, "id",
	  NULL },
	{ "{\"reviewText\":\"'); DROP TABLE book_reviews; --\"}", 0,
	  "'); DROP TABLE book_reviews; --", NULL, NULL, NULL },
	/* not JSON, not an object */
	{ "", ERR_INVALID_JSON, NULL, NULL, NULL, "invalid JSON" },
	{ "{\"reviewText\":", ERR_INVALID_JSON, NULL, NULL, NULL, "invalid JSON" },
	{ "{\"reviewText\":\"a\"} trailing", ERR_INVALID_JSON, NULL, NULL, NULL, "invalid JSON" },
	{ "{\"reviewText\":\"a\",\"reviewText\":\"b\"}", ERR_INVALID_JSON, NULL, NULL, NULL,
	  "duplicate" },
	{ "{\"reviewText\":\"a\\u0000b\"}", ERR_INVALID_JSON, NULL, NULL, NULL, "invalid JSON" },
	{ "[\"reviewText\"]", ERR_BAD_REQUEST, NULL, NULL, NULL, "JSON object" },
	{ "\"text\"", ERR_BAD_REQUEST, NULL, NULL, NULL, "JSON object" },
	{ "null", ERR_BAD_REQUEST, NULL, NULL, NULL, "JSON object" },
	/* reviewText */
	{ "{}", ERR_VALIDATION, NULL, NULL, NULL, "reviewText is required" },
	{ "{\"sentiment\":\"positive\"}", ERR_VALIDATION, NULL, NULL, NULL, "required" },
	{ "{\"reviewText\":\"\"}", ERR_VALIDATION, NULL, NULL, NULL, "must not be empty" },
	{ "{\"reviewText\":\" \\n\\t \"}", ERR_VALIDATION, NULL, NULL, NULL, "must not be empty" },
	{ "{\"reviewText\":null}", ERR_VALIDATION, NULL, NULL, NULL, "must be a string" },
	{ "{\"reviewText\":42}", ERR_VALIDATION, NULL, NULL, NULL, "must be a string" },
	{ "{\"reviewText\":[\"a\"]}", ERR_VALIDATION, NULL, NULL, NULL, "must be a string" },
	/* sentiment */
	{ "{\"reviewText\":\"x\",\"sentiment\":\"Positive\"}", ERR_VALIDATION, NULL, NULL, NULL,
	  "sentiment" },
	{ "{\"reviewText\":\"x\",\"sentiment\":\"\"}", ERR_VALIDATION, NULL, NULL, NULL,
	  "sentiment" },
	{ "{\"reviewText\":\"x\",\"sentiment\":1}", ERR_VALIDATION, NULL, NULL, NULL, "sentiment" },
	{ "{\"reviewText\":\"x\",\"sentiment\":\"positive \"}", ERR_VALIDATION, NULL, NULL, NULL,
	  "sentiment" },
	/* eventId */
	{ "{\"reviewText\":\"x\",\"eventId\":\"\"}", ERR_VALIDATION, NULL, NULL, NULL, "eventId" },
	{ "{\"reviewText\":\"x\",\"eventId\":7}", ERR_VALIDATION, NULL, NULL, NULL, "eventId" },
	{ "{\"reviewText\":\"x\",\"eventId\":{}}", ERR_VALIDATION, NULL, NULL, NULL, "eventId" },
	/* strict members */
	{ "{\"reviewText\":\"x\",\"rating\":5}", ERR_VALIDATION, NULL, NULL, NULL,
	  "unknown member \"rating\"" },
	{ "{\"reviewtext\":\"x\"}", ERR_VALIDATION, NULL, NULL, NULL, "unknown member" },
};

Test(review, parse_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(parse_cases); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct review_input in;
		struct buf msg;
		int rc;

		buf_init(&msg, 4096);
		rc = review_parse(c->body, strlen(c->body), &in, &msg);
		cr_expect_eq(rc, c->rc, "row %zu (%s): rc %d, want %d (%s)", i, c->body, rc, c->rc,
			     msg.data);
		if (rc == 0 && c->rc == 0) {
			cr_expect_str_eq(in.text, c->text, "row %zu text", i);
			if (c->sentiment)
				cr_expect_str_eq(in.sentiment, c->sentiment, "row %zu", i);
			else
				cr_expect_null(in.sentiment, "row %zu sentiment", i);
			if (c->event_id)
				cr_expect_str_eq(in.event_id, c->event_id, "row %zu", i);
			else
				cr_expect_null(in.event_id, "row %zu event_id", i);
		} else if (rc != 0) {
			cr_expect_null(in.text, "row %zu: nothing kept on failure", i);
			cr_expect(strstr(msg.data, c->msg) != NULL,
				  "row %zu: message '%s' lacks '%s'", i, msg.data, c->msg);
		}
		review_input_release(&in);
		buf_release(&msg);
	}
}

Test(review, parse_event_source)
{
	static const struct {
		const char *body;
		int rc;
		const char *source; /* kept when rc == 0, NULL = none; else in the message */
	} rows[] = {
		{ "{\"reviewText\":\"x\",\"eventId\":\"e\",\"eventSource\":\"/a\"}", 0, "/a" },
		{ "{\"reviewText\":\"x\",\"eventId\":\"e\",\"eventSource\":null}", 0, NULL },
		{ "{\"reviewText\":\"x\",\"eventSource\":\"/a\"}", ERR_VALIDATION,
		  "eventSource needs an eventId" },
		{ "{\"reviewText\":\"x\",\"eventId\":\"e\",\"eventSource\":\"\"}", ERR_VALIDATION,
		  "eventSource must have 1 to 400" },
		{ "{\"reviewText\":\"x\",\"eventId\":\"e\",\"eventSource\":1}", ERR_VALIDATION,
		  "eventSource must be a string" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct review_input in;
		struct buf msg;
		int rc;

		buf_init(&msg, 4096);
		rc = review_parse(rows[i].body, strlen(rows[i].body), &in, &msg);
		cr_expect_eq(rc, rows[i].rc, "row %zu: rc %d (%s)", i, rc, msg.data);
		if (rc == 0 && rows[i].source)
			cr_expect_str_eq(in.event_source, rows[i].source, "row %zu", i);
		else if (rc == 0)
			cr_expect_null(in.event_source, "row %zu", i);
		else
			cr_expect(strstr(msg.data, rows[i].source) != NULL, "row %zu: '%s'", i,
				  msg.data);
		review_input_release(&in);
		buf_release(&msg);
	}
}

Test(review, parse_body_with_raw_nul_and_length)
{
	static const char body[] = "{\"reviewText\":\"ok\"}\0garbage";
	struct review_input in;
	struct buf msg;

	buf_init(&msg, 4096);
	/* Only len bytes count: the NUL is inside the body, so it is not JSON. */
	cr_expect_eq(review_parse(body, sizeof(body) - 1, &in, &msg), ERR_INVALID_JSON);
	review_input_release(&in);
	buf_reset(&msg);
	cr_expect_eq(review_parse(body, strlen(body), &in, &msg), 0, "%s", msg.data);
	cr_expect_str_eq(in.text, "ok");
	review_input_release(&in);
	buf_release(&msg);
}

struct length_case {
	const char *pre, *unit, *post;
	size_t n;
	int rc;
	size_t trimmed_bytes;
};

/* 4000 code points, counted as code points whatever their byte length. */
static const struct length_case length_cases[] = {
	{ "", "a", "", 4000, 0, 4000 },
	{ "", "a", "", 4001, ERR_VALIDATION, 0 },
	{ "   ", "a", "\n\n", 4000, 0, 4000 }, /* whitespace does not count */
	{ "", "\xc3\xa9", "", 4000, 0, 8000 }, /* é: 2 bytes each */
	{ "", "\xc3\xa9", "", 4001, ERR_VALIDATION, 0 },
	{ "", "\xe2\x82\xac", "", 4000, 0, 12000 },	/* €: 3 bytes */
	{ "", "\xf0\x9f\x98\x80", "", 4000, 0, 16000 }, /* emoji: 4 bytes */
	{ "", "\xf0\x9f\x98\x80", "", 4001, ERR_VALIDATION, 0 },
	{ "", "a", "", 1, 0, 1 },
	{ " ", "a", " ", 1, 0, 1 },
	{ "\t", " ", "\r", 10, ERR_VALIDATION, 0 }, /* only whitespace */
};

Test(review, text_length_in_code_points)
{
	for (size_t i = 0; i < ARRAY_SIZE(length_cases); i++) {
		const struct length_case *c = &length_cases[i];
		char *s = repeat(c->pre, c->unit, c->n, c->post);
		size_t start = 99, n = 99;
		struct buf msg;
		int rc;

		buf_init(&msg, 4096);
		rc = review_check_text(s, strlen(s), &start, &n, &msg);
		cr_expect_eq(rc, c->rc, "row %zu: rc %d want %d (%s)", i, rc, c->rc, msg.data);
		if (c->rc == 0) {
			cr_expect_eq(start, strlen(c->pre), "row %zu start", i);
			cr_expect_eq(n, c->trimmed_bytes, "row %zu length %zu", i, n);
		}
		buf_release(&msg);
		free(s);
	}
}

struct utf8_case {
	const char *s;
	size_t len;
	long count;
};

#define U(lit, count)                       \
	{                                   \
		lit, sizeof(lit) - 1, count \
	}
static const struct utf8_case utf8_cases[] = {
	U("", 0),
	U("abc", 3),
	U("caf\xc3\xa9", 4),
	U("\xe2\x82\xac", 1),
	U("\xf0\x9f\x98\x80", 1),
	U("\xf4\x8f\xbf\xbf", 1),  /* U+10FFFF */
	U("\xed\x9f\xbf", 1),	   /* U+D7FF */
	U("\xee\x80\x80", 1),	   /* U+E000 */
	U("a\0b", -1),		   /* NUL */
	U("\xc3", -1),		   /* truncated */
	U("\xe2\x82", -1),	   /* truncated */
	U("\x80", -1),		   /* lone continuation */
	U("\xc0\xaf", -1),	   /* overlong / */
	U("\xc1\xbf", -1),	   /* overlong */
	U("\xe0\x80\xaf", -1),	   /* overlong 3-byte */
	U("\xf0\x80\x80\xaf", -1), /* overlong 4-byte */
	U("\xed\xa0\x80", -1),	   /* surrogate U+D800 */
	U("\xed\xbf\xbf", -1),	   /* surrogate U+DFFF */
	U("\xf4\x90\x80\x80", -1), /* U+110000 */
	U("\xf5\x80\x80\x80", -1), /* invalid lead */
	U("\xff", -1),		   /* invalid byte */
	U("\xc3\x28", -1),	   /* bad continuation */
	U("\xe2\x28\xa1", -1),	   /* bad continuation */
	U("ok\xf0\x9f\x98", -1),   /* truncated at the end */
};

Test(review, utf8_count_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(utf8_cases); i++) {
		long n = review_utf8_count(utf8_cases[i].s, utf8_cases[i].len);

		cr_expect_eq(n, utf8_cases[i].count, "row %zu: %ld, want %ld", i, n,
			     utf8_cases[i].count);
	}
}

Test(review, invalid_utf8_text_is_rejected)
{
	static const char *const bad[] = { "\xc3", "ab\xff", "\xed\xa0\x80x", "x\0y" };
	static const size_t lens[] = { 1, 3, 4, 3 };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		size_t start, n;
		struct buf msg;

		buf_init(&msg, 4096);
		cr_expect_eq(review_check_text(bad[i], lens[i], &start, &n, &msg), ERR_VALIDATION,
			     "row %zu", i);
		cr_expect(strstr(msg.data, "UTF-8") != NULL, "row %zu: %s", i, msg.data);
		buf_release(&msg);
	}
}

struct event_key_case {
	int (*check)(const char *s, size_t len, struct buf *msg);
	const char *unit;
	size_t n;
	int rc;
};

static const struct event_key_case event_key_cases[] = {
	{ review_check_event_id, "a", 1, 0 },
	{ review_check_event_id, "a", 200, 0 },
	{ review_check_event_id, "a", 201, ERR_VALIDATION },
	{ review_check_event_id, "\xc3\xa9", 200, 0 }, /* 400 bytes, 200 code points */
	{ review_check_event_id, "\xc3\xa9", 201, ERR_VALIDATION },
	{ review_check_event_id, "a", 0, ERR_VALIDATION },
	{ review_check_event_id, "\xff", 1, ERR_VALIDATION },
	{ review_check_event_source, "a", 1, 0 },
	{ review_check_event_source, "\xf0\x9f\x98\x80", 400, 0 }, /* 1600 bytes */
	{ review_check_event_source, "a", 401, ERR_VALIDATION },
	{ review_check_event_source, "a", 0, ERR_VALIDATION },
	{ review_check_event_source, "\xc3", 1, ERR_VALIDATION },
};

Test(review, event_key_rules)
{
	for (size_t i = 0; i < ARRAY_SIZE(event_key_cases); i++) {
		const struct event_key_case *c = &event_key_cases[i];
		char *s = repeat("", c->unit, c->n, "");
		struct buf msg;

		buf_init(&msg, 4096);
		cr_expect_eq(c->check(s, strlen(s), &msg), c->rc, "row %zu: %s", i, msg.data);
		buf_release(&msg);
		free(s);
	}
}

Test(review, sentiment_values)
{
	static const struct {
		const char *s;
		int ok;
	} rows[] = { { "positive", 1 }, { "negative", 1 }, { "neutral", 1 },   { "", 0 },
		     { "POSITIVE", 0 }, { "mixed", 0 },	   { "neutral\n", 0 }, { "pos", 0 } };

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		cr_expect_eq(review_sentiment_valid(rows[i].s), rows[i].ok, "row %zu (%s)", i,
			     rows[i].s);
}

struct number_case {
	const char *text;
	int rc;
	long long value;
};

static const struct number_case limit_cases[] = {
	{ NULL, 0, 100 },
	{ "1", 0, 1 },
	{ "100", 0, 100 },
	{ "1000", 0, 1000 },
	{ "007", 0, 7 },
	{ "0", ERR_BAD_REQUEST, 0 },
	{ "1001", ERR_BAD_REQUEST, 0 },
	{ "-1", ERR_BAD_REQUEST, 0 },
	{ "+5", ERR_BAD_REQUEST, 0 },
	{ "", ERR_BAD_REQUEST, 0 },
	{ "abc", ERR_BAD_REQUEST, 0 },
	{ "10abc", ERR_BAD_REQUEST, 0 },
	{ " 10", ERR_BAD_REQUEST, 0 },
	{ "10 ", ERR_BAD_REQUEST, 0 },
	{ "1e2", ERR_BAD_REQUEST, 0 },
	{ "99999999999999999999999", ERR_BAD_REQUEST, 0 },
	{ "0x10", ERR_BAD_REQUEST, 0 },
};

Test(review, limit_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(limit_cases); i++) {
		const struct number_case *c = &limit_cases[i];
		struct buf msg;
		int v = -7, rc;

		buf_init(&msg, 4096);
		rc = review_parse_limit(c->text, &v, &msg);
		cr_expect_eq(rc, c->rc, "row %zu (%s): rc %d", i, c->text ? c->text : "NULL", rc);
		if (c->rc == 0)
			cr_expect_eq(v, c->value, "row %zu: %d", i, v);
		else
			cr_expect(strstr(msg.data, "limit") != NULL, "row %zu: %s", i, msg.data);
		buf_release(&msg);
	}
}

static const struct number_case id_cases[] = {
	{ "1", 0, 1 },
	{ "42", 0, 42 },
	{ "2147483647", 0, 2147483647LL },
	{ "2147483648", ERR_BAD_REQUEST, 0 },
	{ "0", ERR_BAD_REQUEST, 0 },
	{ "-3", ERR_BAD_REQUEST, 0 },
	{ "abc", ERR_BAD_REQUEST, 0 },
	{ "1.5", ERR_BAD_REQUEST, 0 },
	{ "", ERR_BAD_REQUEST, 0 },
	{ NULL, ERR_BAD_REQUEST, 0 },
	{ "1;DROP", ERR_BAD_REQUEST, 0 },
	{ "184467440737095516160", ERR_BAD_REQUEST, 0 },
};

Test(review, id_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(id_cases); i++) {
		const struct number_case *c = &id_cases[i];
		struct buf msg;
		long long v = -7;
		int rc;

		buf_init(&msg, 4096);
		rc = review_parse_id(c->text, &v, &msg);
		cr_expect_eq(rc, c->rc, "row %zu (%s): rc %d", i, c->text ? c->text : "NULL", rc);
		if (c->rc == 0)
			cr_expect_eq(v, c->value, "row %zu: %lld", i, v);
		buf_release(&msg);
	}
}

Test(schema, migrations_are_ordered_and_non_empty)
{
	cr_assert_gt(schema_nmigrations, 0);
	for (size_t i = 0; i < schema_nmigrations; i++) {
		const struct migration *m = &schema_migrations[i];

		cr_expect_eq(m->version, (int)i + 1, "migration %zu has version %d", i, m->version);
		cr_expect(m->name && *m->name, "migration %zu has a name", i);
		cr_expect(m->statements && m->statements[0], "migration %zu has statements", i);
		for (size_t j = 0; m->statements && m->statements[j]; j++)
			cr_expect(strchr(m->statements[j], ';') == NULL,
				  "migration %zu statement %zu must be a single statement", i, j);
	}
}
