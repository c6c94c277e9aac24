/* Unit tests for node-server's review_event.c: the /add, /insert and feed event rules. */
#include <criterion/criterion.h>
#include <string.h>

#include <jansson.h>

#include "common/ce.h"
#include "common/err.h"
#include "common/xalloc.h"
#include "../../../services/node-server/review_event.h"

#include "../unit.h"

/* An incoming event: type, data (NULL = none) and datacontenttype (NULL = none). */
static struct ce_event *incoming(const char *type, const char *data, const char *ctype)
{
	struct ce_event *ev = ce_event_new();

	cr_assert_eq(ce_set(ev, "specversion", "1.0"), 0);
	cr_assert_eq(ce_set(ev, "id", "unique-comment-id"), 0);
	cr_assert_eq(ce_set(ev, "source", "commentForm"), 0);
	cr_assert_eq(ce_set(ev, "type", type), 0);
	cr_assert_eq(ce_set(ev, "client", "x"), 0);
	if (data)
		cr_assert_eq(ce_set_data(ev, data, strlen(data), ctype), 0);
	return ev;
}

struct fwd_row {
	const char *type;
	const char *data;
	const char *ctype;
	int rc;
	const char *want_data; /* forwarded data when rc == 0 */
	const char *msg_part;  /* part of the message when rc != 0 */
};

static const struct fwd_row fwd_rows[] = {
	{ "new-review-comment", "{\"reviewText\":\"Great\"}", "application/json", 0,
	  "{\"reviewText\":\"Great\"}", NULL },
	{ "new-review-comment", "{\"reviewText\":\"  padded \\n\"}", "application/json", 0,
	  "{\"reviewText\":\"padded\"}", NULL },
	{ "new-review-comment", "{\"reviewText\":\"x\",\"sentiment\":\"positive\"}", NULL, 0,
	  "{\"reviewText\":\"x\",\"sentiment\":\"positive\"}", NULL },
	{ "new-review-comment", "{\"reviewText\":\"'; DROP TABLE x;--\"}",
	  "application/json; charset=utf-8", 0, "{\"reviewText\":\"'; DROP TABLE x;--\"}", NULL },
	{ "other-type", "{\"reviewText\":\"x\"}", "application/json", ERR_VALIDATION, NULL,
	  "unexpected event type" },
	{ "new-review-comment", NULL, NULL, ERR_VALIDATION, NULL, "no data" },
	{ "new-review-comment", "{\"reviewText\":\"   \"}", "application/json", ERR_VALIDATION,
	  NULL, "empty" },
	{ "new-review-comment", "{\"text\":\"x\"}", "application/json", ERR_VALIDATION, NULL,
	  "missing" },
	{ "new-review-comment", "{\"reviewText\":5}", "application/json", ERR_VALIDATION, NULL,
	  "must be a string" },
	{ "new-review-comment", "[\"reviewText\"]", "application/json", ERR_VALIDATION, NULL,
	  "object" },
	{ "new-review-comment", "\"str\"", "application/json", ERR_VALIDATION, NULL, "object" },
	{ "new-review-comment", "{\"reviewText\":", "application/json", ERR_INVALID_JSON, NULL,
	  "not JSON" },
	{ "new-review-comment", "reviewText=x", "text/plain", ERR_VALIDATION, NULL,
	  "application/json" },
	{ "new-review-comment", "{\"reviewText\":\"a\",\"reviewText\":\"b\"}", "application/json",
	  ERR_INVALID_JSON, NULL, "not JSON" },
};

Test(review_event, forward_table, LEAK_FINI)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fwd_rows); i++) {
		const struct fwd_row *r = &fwd_rows[i];
		struct ce_event *in = incoming(r->type, r->data, r->ctype), *out = NULL;
		struct buf msg;
		int rc;

		buf_init(&msg, 1024);
		rc = review_event_forward(in, NULL, &out, &msg);
		cr_assert_eq(rc, r->rc, "row %zu: rc %d, want %d (%s)", i, rc, r->rc, msg.data);
		if (rc == 0) {
			cr_assert_str_eq(ce_get(out, "type"), "new-review-comment", "row %zu", i);
			cr_assert_str_eq(ce_get(out, "source"), "bookstore-eda", "row %zu", i);
			cr_assert_str_eq(ce_get(out, "datacontenttype"), "application/json");
			cr_assert_str_neq(ce_get(out, "id"), "unique-comment-id");
			cr_assert_eq(strlen(ce_get(out, "id")), 36);
			cr_assert_not_null(ce_get(out, "time"));
			cr_assert_null(ce_get(out, "client"), "row %zu: extensions not copied", i);
			cr_assert_str_eq((const char *)out->data, r->want_data, "row %zu", i);
			cr_assert_eq(ce_validate(out, NULL), 0);
		} else {
			cr_assert_null(out);
			cr_assert(strstr(msg.data, r->msg_part), "row %zu: message '%s'", i,
				  msg.data);
		}
		ce_event_free(out);
		ce_event_free(in);
		buf_release(&msg);
	}
}

/* 4000 code points pass, 4001 fail; multi-byte characters count once. */
Test(review_event, forward_length_limit, LEAK_FINI)
{
	static const struct {
		const char *unit;
		size_t count;
		int rc;
	} rows[] = {
		{ "a", 4000, 0 },
		{ "a", 4001, ERR_VALIDATION },
		{ "\xc3\xa9", 4000, 0 },
		{ "\xf0\x9f\x93\x9a", 4000, 0 },
		{ "\xf0\x9f\x93\x9a", 4001, ERR_VALIDATION },
	};
	size_t i, k;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		struct buf data, msg;
		struct ce_event *in, *out = NULL;

		buf_init(&data, BUF_NOCAP);
		buf_init(&msg, 1024);
		buf_appends(&data, "{\"reviewText\":\"");
		for (k = 0; k < rows[i].count; k++)
			buf_appends(&data, rows[i].unit);
		buf_appends(&data, "\"}");
		in = incoming("new-review-comment", data.data, "application/json");
		cr_assert_eq(review_event_forward(in, NULL, &out, &msg), rows[i].rc, "row %zu: %s",
			     i, msg.data);
		ce_event_free(out);
		ce_event_free(in);
		buf_release(&data);
		buf_release(&msg);
	}
}

Test(review_event, forward_adds_overrides, LEAK_FINI)
{
	struct review_overrides ov;
	struct ce_event *in = incoming("new-review-comment", "{\"reviewText\":\"x\"}", NULL);
	struct ce_event *out;
	struct buf msg;

	buf_init(&msg, 1024);
	cr_assert_eq(review_overrides_parse(
			 "{\"extensions\":{\"cluster\":\"kind\",\"team\":\"b\"}}", &ov, &msg),
		     0, "%s", msg.data);
	cr_assert_eq(ov.n, 2);
	cr_assert_eq(review_event_forward(in, &ov, &out, &msg), 0);
	cr_assert_str_eq(ce_get(out, "cluster"), "kind");
	cr_assert_str_eq(ce_get(out, "team"), "b");
	ce_event_free(out);
	ce_event_free(in);
	review_overrides_release(&ov);
	buf_release(&msg);
}

Test(review_event, overrides_table, LEAK_FINI)
{
	static const struct {
		const char *text;
		int rc;
		size_t n;
	} rows[] = {
		{ NULL, 0, 0 },
		{ "", 0, 0 },
		{ "{}", 0, 0 },
		{ "{\"extensions\":{}}", 0, 0 },
		{ "{\"extensions\":{\"a1\":\"v\"}}", 0, 1 },
		{ "{\"extensions\":{\"a1\":\"\"}}", 0, 1 },
		{ "not json", ERR_VALIDATION, 0 },
		{ "[]", ERR_VALIDATION, 0 },
		{ "{\"extensions\":[]}", ERR_VALIDATION, 0 },
		{ "{\"extensions\":{\"Bad\":\"v\"}}", ERR_VALIDATION, 0 },
		{ "{\"extensions\":{\"type\":\"v\"}}", ERR_VALIDATION, 0 },
		{ "{\"extensions\":{\"id\":\"v\"}}", ERR_VALIDATION, 0 },
		{ "{\"extensions\":{\"a\":1}}", ERR_VALIDATION, 0 },
		{ "{\"extensions\":{\"a\":\"\\u0001\"}}", ERR_VALIDATION, 0 },
		{ "{\"extensions\":{\"a\":\"x\"},\"other\":1}", ERR_VALIDATION, 0 },
		{ "{\"extensions\":{\"ok\":\"x\",\"BAD\":\"y\"}}", ERR_VALIDATION, 0 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		struct review_overrides ov;
		struct buf msg;
		int rc;

		buf_init(&msg, 1024);
		rc = review_overrides_parse(rows[i].text, &ov, &msg);
		cr_assert_eq(rc, rows[i].rc, "row %zu: rc %d (%s)", i, rc, msg.data);
		cr_assert_eq(ov.n, rows[i].n, "row %zu", i);
		if (rc)
			cr_assert(strstr(msg.data, "K_CE_OVERRIDES"), "row %zu: %s", i, msg.data);
		review_overrides_release(&ov);
		buf_release(&msg);
	}
}

struct ins_row {
	const char *data;
	const char *ext; /* sentimentresult extension, or NULL */
	int rc;
	const char *want; /* db-service body */
};

static const struct ins_row ins_rows[] = {
	{ "{\"reviewText\":\"ok\"}", NULL, 0,
	  "{\"reviewText\":\"ok\",\"eventId\":\"unique-comment-id\",\"eventSource\":"
	  "\"commentForm\"}" },
	{ "{\"reviewText\":\"ok\",\"sentimentResult\":\"positive\"}", "negative", 0,
	  "{\"reviewText\":\"ok\",\"sentiment\":\"positive\",\"eventId\":\"unique-comment-id\","
	  "\"eventSource\":\"commentForm\"}" },
	{ "{\"reviewText\":\"ok\",\"sentiment\":\"neutral\"}", NULL, 0,
	  "{\"reviewText\":\"ok\",\"sentiment\":\"neutral\",\"eventId\":\"unique-comment-id\","
	  "\"eventSource\":\"commentForm\"}" },
	{ "{\"reviewText\":\"ok\",\"sentimentResult\":null}", "negative", 0,
	  "{\"reviewText\":\"ok\",\"sentiment\":\"negative\",\"eventId\":\"unique-comment-id\","
	  "\"eventSource\":\"commentForm\"}" },
	{ "{\"reviewText\":\"ok\",\"badWordResult\":\"good\"}", NULL, 0,
	  "{\"reviewText\":\"ok\",\"eventId\":\"unique-comment-id\",\"eventSource\":"
	  "\"commentForm\"}" },
	{ "{\"reviewText\":\"ok\",\"sentimentResult\":3}", NULL, ERR_VALIDATION, NULL },
	{ "{\"text\":\"ok\"}", NULL, ERR_VALIDATION, NULL },
	{ "[1]", NULL, ERR_VALIDATION, NULL },
	{ "{", NULL, ERR_INVALID_JSON, NULL },
	{ NULL, NULL, ERR_VALIDATION, NULL },
};

Test(review_event, insert_body_table, LEAK_FINI)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ins_rows); i++) {
		const struct ins_row *r = &ins_rows[i];
		struct ce_event *in = incoming("moderated-comment", r->data, "application/json");
		struct buf msg;
		char *body;
		size_t len;
		int rc;

		if (r->ext)
			cr_assert_eq(ce_set(in, "sentimentresult", r->ext), 0);
		buf_init(&msg, 1024);
		rc = review_event_insert_body(in, &body, &len, &msg);
		cr_assert_eq(rc, r->rc, "row %zu: rc %d (%s)", i, rc, msg.data);
		if (rc == 0) {
			cr_assert_str_eq(body, r->want, "row %zu", i);
			cr_assert_eq(len, strlen(r->want));
		} else {
			cr_assert_null(body);
		}
		free(body);
		ce_event_free(in);
		buf_release(&msg);
	}
}

Test(review_event, inserted_reply, LEAK_FINI)
{
	static const char row[] = "{\"id\":7,\"post_time\":\"2026-11-21T18:59:28.373Z\","
				  "\"content\":\"hi\",\"sentiment\":null,\"event_id\":\"e\"}";
	struct ce_event *ev;
	struct buf msg;

	buf_init(&msg, 1024);
	cr_assert_eq(review_event_inserted(row, strlen(row), &ev, &msg), 0);
	cr_assert_str_eq(ce_get(ev, "type"), "com.example.reviews.inserted");
	cr_assert_str_eq(ce_get(ev, "source"), "/api/reviews");
	cr_assert_str_eq(ce_get(ev, "datacontenttype"), "application/json");
	cr_assert_str_eq((const char *)ev->data, row);
	cr_assert_eq(ce_validate(ev, NULL), 0);
	ce_event_free(ev);
	cr_assert_eq(review_event_inserted("\"str\"", 5, &ev, &msg), ERR_BAD_GATEWAY);
	cr_assert_null(ev);
	cr_assert_eq(review_event_inserted("nope", 4, &ev, &msg), ERR_BAD_GATEWAY);
	buf_release(&msg);
}

Test(review_event, rows_table, LEAK_FINI)
{
	static const struct {
		const char *in;
		int rc;
		const char *want;
	} rows[] = {
		{ "[]", 0, "[]" },
		{ "[{\"id\":5,\"post_time\":\"2026-11-21T18:59:28.373Z\",\"content\":\"c\","
		  "\"sentiment\":\"positive\",\"event_id\":\"e\"}]",
		  0,
		  "[{\"id\":5,\"post_time\":\"2026-11-21T18:59:28.373Z\",\"content\":\"c\","
		  "\"sentiment\":\"positive\"}]" },
		{ "[{\"event_id\":null,\"sentiment\":null,\"content\":\"<b>\",\"post_time\":\"t\","
		  "\"id\":1}]",
		  0, "[{\"id\":1,\"post_time\":\"t\",\"content\":\"<b>\",\"sentiment\":null}]" },
		{ "[{\"id\":1,\"post_time\":\"t\",\"content\":\"c\"}]", 0,
		  "[{\"id\":1,\"post_time\":\"t\",\"content\":\"c\",\"sentiment\":null}]" },
		{ "{}", ERR_BAD_GATEWAY, NULL },
		{ "[1]", ERR_BAD_GATEWAY, NULL },
		{ "[{\"id\":\"1\",\"post_time\":\"t\",\"content\":\"c\"}]", ERR_BAD_GATEWAY, NULL },
		{ "[{\"id\":1,\"post_time\":\"t\",\"content\":\"c\",\"sentiment\":1}]",
		  ERR_BAD_GATEWAY, NULL },
		{ "garbage", ERR_BAD_GATEWAY, NULL },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		struct buf msg;
		char *out;
		size_t len;
		int rc;

		buf_init(&msg, 1024);
		rc = review_event_rows(rows[i].in, strlen(rows[i].in), &out, &len, &msg);
		cr_assert_eq(rc, rows[i].rc, "row %zu: %s", i, msg.data);
		if (rc == 0) {
			cr_assert_str_eq(out, rows[i].want, "row %zu", i);
			cr_assert_eq(len, strlen(rows[i].want));
		}
		free(out);
		buf_release(&msg);
	}
}

Test(review_event, trim_and_count)
{
	static const struct {
		const char *s;
		size_t start, len, cps;
	} rows[] = {
		{ "", 0, 0, 0 },
		{ "   ", 3, 0, 0 },
		{ " a ", 1, 1, 1 },
		{ "\t\n\v\f\rx y\r\n", 5, 3, 3 },
		{ "\xc3\xa9t\xc3\xa9", 0, 5, 3 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		size_t start, len;

		review_event_trim(rows[i].s, strlen(rows[i].s), &start, &len);
		cr_assert_eq(start, rows[i].start, "row %zu", i);
		cr_assert_eq(len, rows[i].len, "row %zu", i);
		cr_assert_eq(review_event_codepoints(rows[i].s + start, len), rows[i].cps,
			     "row %zu", i);
	}
}
