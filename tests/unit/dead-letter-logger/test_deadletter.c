/*
 * test_deadletter.c: building the events.log record of a dead letter: knativeerrordata
 * decoding (UTF-8 text, binary kept as base64, invalid base64, truncation), the code as an
 * integer or null, missing attributes, and the event without the knativeerror* extensions.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <string.h>

#include "../../../services/dead-letter-logger/deadletter.h"
#include "common/base64.h"
#include "common/buf.h"
#include "common/xalloc.h"

struct dl_row {
	const char *name;
	const char *dest; /* NULL = attribute missing */
	const char *code;
	const char *data;
	const char *want_error; /* the "error" member, as JSON */
	const char *problem;	/* substring of info.problems, or NULL for none */
};

static const struct dl_row dl_rows[] = {
	{ "utf-8 text", "http://sub.default.svc", "500", "ZGVzdGluYXRpb24tcmVzcG9uc2U=",
	  "{\"destination\":\"http://sub.default.svc\",\"code\":500,"
	  "\"response\":\"destination-response\",\"response_encoding\":\"text\"}",
	  NULL },
	{ "json body as text", "http://d", "400", "eyJlcnJvciI6ICLDqSJ9",
	  "{\"destination\":\"http://d\",\"code\":400,\"response\":\"{\\\"error\\\": "
	  "\\\"\\u00e9\\\"}\","
	  "\"response_encoding\":\"text\"}",
	  NULL },
	{ "binary kept as base64", "http://d", "502", "/wCA",
	  "{\"destination\":\"http://d\",\"code\":502,\"response\":\"/wCA\","
	  "\"response_encoding\":\"base64\"}",
	  NULL },
	/* Complete values whose bytes are not UTF-8: kept whole as base64, never cut as "text"
	 * (they were: "caf" truncated, "" truncated, "" truncated). */
	{ "latin-1 kept as base64", "http://d", "500", "Y2Fm6Q==",
	  "{\"destination\":\"http://d\",\"code\":500,\"response\":\"Y2Fm6Q==\","
	  "\"response_encoding\":\"base64\"}",
	  NULL },
	{ "0xff kept as base64", "http://d", "500", "/w==",
	  "{\"destination\":\"http://d\",\"code\":500,\"response\":\"/w==\","
	  "\"response_encoding\":\"base64\"}",
	  NULL },
	{ "0xc0 kept as base64", "http://d", "500", "wA==",
	  "{\"destination\":\"http://d\",\"code\":500,\"response\":\"wA==\","
	  "\"response_encoding\":\"base64\"}",
	  NULL },
	{ "invalid base64 kept raw", "http://d", "500", "not base64!",
	  "{\"destination\":\"http://d\",\"code\":500,\"response\":\"not base64!\","
	  "\"response_encoding\":\"raw\"}",
	  "not valid base64" },
	{ "unpadded cut base64", "http://d", "500", "aGVsbG8",
	  "{\"destination\":\"http://d\",\"code\":500,\"response\":\"hello\","
	  "\"response_encoding\":\"text\",\"response_truncated\":true}",
	  NULL },
	{ "one char over", "http://d", "500", "aGVsbG",
	  "{\"destination\":\"http://d\",\"code\":500,\"response\":\"hell\","
	  "\"response_encoding\":\"text\",\"response_truncated\":true}",
	  NULL },
	{ "4n+1 chars", "http://d", "500", "aGVsb",
	  "{\"destination\":\"http://d\",\"code\":500,\"response\":\"aGVsb\","
	  "\"response_encoding\":\"raw\"}",
	  "not valid base64" },
	{ "bad code", "http://d", "abc", "aGk=",
	  "{\"destination\":\"http://d\",\"code\":null,\"response\":\"hi\","
	  "\"response_encoding\":\"text\"}",
	  "knativeerrorcode 'abc' is not an integer" },
	{ "code beyond 32 bits", "http://d", "99999999999", "aGk=",
	  "{\"destination\":\"http://d\",\"code\":null,\"response\":\"hi\","
	  "\"response_encoding\":\"text\"}",
	  "is not an integer" },
	{ "code with a space", "http://d", "500 ", "aGk=",
	  "{\"destination\":\"http://d\",\"code\":null,\"response\":\"hi\","
	  "\"response_encoding\":\"text\"}",
	  "is not an integer" },
	{ "negative code", "http://d", "-1", "aGk=",
	  "{\"destination\":\"http://d\",\"code\":-1,\"response\":\"hi\","
	  "\"response_encoding\":\"text\"}",
	  NULL },
	{ "all missing", NULL, NULL, NULL,
	  "{\"destination\":null,\"code\":null,\"response\":null,\"response_encoding\":null}",
	  "missing knativeerrordest; missing knativeerrorcode; missing knativeerrordata" },
	{ "only dest", "http://d", NULL, NULL,
	  "{\"destination\":\"http://d\",\"code\":null,\"response\":null,"
	  "\"response_encoding\":null}",
	  "missing knativeerrorcode" },
};

static struct ce_event *event_new(const char *dest, const char *code, const char *data)
{
	struct ce_event *ev = ce_event_new();

	cr_assert_eq(ce_set(ev, "specversion", "1.0"), 0);
	cr_assert_eq(ce_set(ev, "id", "ev-1"), 0);
	cr_assert_eq(ce_set(ev, "source", "/books"), 0);
	cr_assert_eq(ce_set(ev, "type", "com.example.review"), 0);
	cr_assert_eq(ce_set(ev, "traceparent",
			    "00-0af7651916cd43dd8448eb211c80319c-"
			    "b7ad6b7169203331-01"),
		     0);
	if (dest)
		cr_assert_eq(ce_set(ev, DEADLETTER_EXT_DEST, dest), 0);
	if (code)
		cr_assert_eq(ce_set(ev, DEADLETTER_EXT_CODE, code), 0);
	if (data)
		cr_assert_eq(ce_set(ev, DEADLETTER_EXT_DATA, data), 0);
	cr_assert_eq(ce_set_data(ev, "{\"a\":1}", 7, "application/json"), 0);
	return ev;
}

static void assert_error_member(json_t *rec, const char *want_text, const char *name)
{
	json_error_t jerr;
	json_t *want = json_loads(want_text, 0, &jerr);
	json_t *got = json_object_get(rec, "error");
	char *got_text = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);

	cr_assert_not_null(want, "%s: bad expectation: %s", name, jerr.text);
	cr_assert(json_equal(want, got), "%s: error member %s, want %s", name, got_text, want_text);
	free(got_text);
	json_decref(want);
}

Test(deadletter, record_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(dl_rows); i++) {
		const struct dl_row *r = &dl_rows[i];
		struct ce_event *ev = event_new(r->dest, r->code, r->data);
		struct deadletter_info info;
		json_t *rec = deadletter_record(ev, "2026-01-02T03:04:05.006Z", &info);
		json_t *event = json_object_get(rec, "event");

		cr_assert_str_eq(json_string_value(json_object_get(rec, "time")),
				 "2026-01-02T03:04:05.006Z");
		assert_error_member(rec, r->want_error, r->name);
		if (r->problem)
			cr_assert(strstr(info.problems, r->problem) != NULL,
				  "%s: problems '%s' lack '%s'", r->name, info.problems,
				  r->problem);
		else
			cr_assert_str_empty(info.problems, "%s: unexpected problems '%s'", r->name,
					    info.problems);
		cr_assert_null(json_object_get(event, DEADLETTER_EXT_DEST), "%s", r->name);
		cr_assert_null(json_object_get(event, DEADLETTER_EXT_CODE), "%s", r->name);
		cr_assert_null(json_object_get(event, DEADLETTER_EXT_DATA), "%s", r->name);
		cr_assert_str_eq(json_string_value(json_object_get(event, "id")), "ev-1");
		cr_assert_not_null(json_object_get(event, "traceparent"), "other extensions stay");
		cr_assert_eq(
		    json_integer_value(json_object_get(json_object_get(event, "data"), "a")), 1);
		json_decref(rec);
		ce_event_free(ev);
	}
}

/* An Integer-typed code (structured mode) and the info the handler logs and counts. */
Test(deadletter, integer_code_and_info)
{
	struct ce_event *ev = event_new("http://sub", NULL, "aGk=");
	struct deadletter_info info;
	json_t *rec;

	cr_assert_eq(ce_set_int(ev, DEADLETTER_EXT_CODE, 404), 0);
	rec = deadletter_record(ev, "2026-01-02T03:04:05.006Z", &info);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(rec, "error"), "code")),
		     404);
	cr_assert(info.has_code);
	cr_assert_eq(info.code, 404);
	cr_assert_str_eq(info.destination, "http://sub");
	cr_assert_str_eq(info.encoding, "text");
	json_decref(rec);
	ce_event_free(ev);
}

/*
 * Knative keeps 1024 characters of base64: a body of 767 'a' and an 'é' (2 bytes) is cut
 * inside the 'é'. The text survives without the partial character, marked truncated.
 */
Test(deadletter, knative_1024_char_truncation_inside_a_character)
{
	struct buf body, b64;
	struct ce_event *ev;
	struct deadletter_info info;
	json_t *rec, *err;
	const char *resp;

	buf_init(&body, BUF_NOCAP);
	buf_init(&b64, BUF_NOCAP);
	for (int i = 0; i < 767; i++)
		buf_appendc(&body, 'a');
	buf_appends(&body, "\xc3\xa9 and more text after the cut");
	cr_assert_eq(base64_encode(body.data, body.len, &b64), 0);
	cr_assert_gt(b64.len, 1024);
	b64.data[1024] = '\0';
	ev = event_new("http://sub", "500", b64.data);
	rec = deadletter_record(ev, "2026-01-02T03:04:05.006Z", &info);
	err = json_object_get(rec, "error");
	resp = json_string_value(json_object_get(err, "response"));
	cr_assert_not_null(resp);
	cr_assert_eq(strlen(resp), 767);
	cr_assert_eq(strspn(resp, "a"), 767);
	cr_assert_str_eq(json_string_value(json_object_get(err, "response_encoding")), "text");
	cr_assert(json_is_true(json_object_get(err, "response_truncated")));
	json_decref(rec);
	ce_event_free(ev);
	buf_release(&body);
	buf_release(&b64);
}

struct code_row {
	const char *text;
	int rc;
	int want;
};

static const struct code_row code_rows[] = {
	{ "500", 0, 500 },	 { "0", 0, 0 },	   { "-12", 0, -12 }, { "2147483647", 0, INT_MAX },
	{ "2147483648", -1, 0 }, { "", -1, 0 },	   { "-", -1, 0 },    { "+5", -1, 0 },
	{ " 5", -1, 0 },	 { "5xx", -1, 0 }, { "1e3", -1, 0 },  { "0x1F", -1, 0 },
};

Test(deadletter, parse_code_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(code_rows); i++) {
		int got = 777;

		cr_assert_eq(deadletter_parse_code(code_rows[i].text, &got), code_rows[i].rc,
			     "'%s'", code_rows[i].text);
		cr_assert_eq(got, code_rows[i].rc == 0 ? code_rows[i].want : 777, "'%s'",
			     code_rows[i].text);
	}
}
