#include <criterion/criterion.h>
#include <string.h>

#include "common/traceparent.h"
#include "common/xalloc.h"

#define TID  "4bf92f3577b34da6a3ce929d0e0e4736"
#define PID  "00f067aa0ba902b7"
#define GOOD "00-" TID "-" PID "-01"

struct tp_row {
	const char *in;
	int ok;
	const char *out; /* re-emitted form when ok (NULL = same as in) */
};

static const struct tp_row tp_rows[] = {
	{ GOOD, 1, NULL },
	{ "00-" TID "-" PID "-00", 1, NULL },
	{ "00-" TID "-" PID "-03", 1, "00-" TID "-" PID "-01" }, /* only the sampled bit kept */
	{ "00-" TID "-" PID "-ff", 1, "00-" TID "-" PID "-01" },
	/* OWS */
	{ " \t" GOOD " \t", 1, GOOD },
	{ " " GOOD, 1, GOOD },
	/* versions */
	{ "cc-" TID "-" PID "-01", 1, GOOD },
	{ "cc-" TID "-" PID "-01-what-the-future-will-be-like", 1, GOOD },
	{ "cc-" TID "-" PID "-01.what-the-future-will-be-like", 0, NULL },
	{ "cc-" TID "-" PID "-01-", 1, GOOD },
	{ "ff-" TID "-" PID "-01", 0, NULL },
	{ "fe-" TID "-" PID "-01", 1, GOOD },
	{ "0g-" TID "-" PID "-01", 0, NULL },
	{ "CC-" TID "-" PID "-01", 0, NULL },
	/* version 00 with trailing data */
	{ GOOD ".", 0, NULL },
	{ GOOD "-what-the-future-will-be-like", 0, NULL },
	{ GOOD "-", 0, NULL },
	/* ids */
	{ "00-00000000000000000000000000000000-" PID "-01", 0, NULL },
	{ "00-" TID "-0000000000000000-01", 0, NULL },
	{ "00-4BF92F3577B34DA6A3CE929D0E0E4736-" PID "-01", 0, NULL },
	{ "00-" TID "-00F067AA0BA902B7-01", 0, NULL },
	{ "00-" TID "-" PID "-0A", 0, NULL },
	{ "00-" TID "-" PID "-0x", 0, NULL },
	{ "00-4bf92f3577b34da6a3ce929d0e0e473g-" PID "-01", 0, NULL },
	/* lengths and separators */
	{ "00-" TID "-" PID "-1", 0, NULL },
	{ "00-" TID "0-" PID "-01", 0, NULL },
	{ "00-" TID "-" PID "0-01", 0, NULL },
	{ "00-4bf92f3577b34da6a3ce929d0e0e473-" PID "-01", 0, NULL },
	{ "00_" TID "-" PID "-01", 0, NULL },
	{ "00-" TID "_" PID "-01", 0, NULL },
	{ "00-" TID "-" PID "_01", 0, NULL },
	{ "00 " TID " " PID " 01", 0, NULL },
	{ "00-" TID "-" PID "- 1", 0, NULL },
	{ "00-" TID " -" PID "-01", 0, NULL },
	{ "", 0, NULL },
	{ "   ", 0, NULL },
	{ "00", 0, NULL },
	{ "cc-" TID "-" PID "-0", 0, NULL },
};

Test(traceparent, table)
{
	for (size_t i = 0; i < ARRAY_SIZE(tp_rows); i++) {
		const struct tp_row *r = &tp_rows[i];
		struct traceparent tp;
		char out[TRACEPARENT_LEN + 1];
		int rc = traceparent_parse1(r->in, &tp);

		cr_assert_eq(rc == 0, r->ok, "row %zu '%s': rc %d", i, r->in, rc);
		if (!r->ok) {
			static const struct traceparent zero;

			cr_assert(!memcmp(&tp, &zero, sizeof(tp)), "row %zu: out not zeroed", i);
			continue;
		}
		traceparent_format(&tp, out);
		cr_assert_str_eq(out, r->out ? r->out : r->in, "row %zu", i);
	}
}

Test(traceparent, duplicated_headers_are_invalid)
{
	const char *two[] = { GOOD, GOOD };
	const char *none[] = { NULL };
	struct traceparent tp;

	cr_assert_eq(traceparent_parse(two, 1, &tp), 0);
	cr_assert_neq(traceparent_parse(two, 2, &tp), 0);
	cr_assert_neq(traceparent_parse(none, 0, &tp), 0);
	cr_assert_neq(traceparent_parse(none, 1, &tp), 0);
}

Test(traceparent, unhex_takes_lower_case_only)
{
	uint8_t b[3];

	cr_assert_eq(traceparent_unhex("0aff10", 3, b), 0);
	cr_assert(b[0] == 0x0a && b[1] == 0xff && b[2] == 0x10);
	cr_assert_neq(traceparent_unhex("0AFF10", 3, b), 0);
	cr_assert_neq(traceparent_unhex("0aff1g", 3, b), 0);
}

Test(traceparent, ids_valid_only_when_neither_is_all_zero)
{
	uint8_t tid[16] = { 0 }, sid[8] = { 0 };

	cr_assert_eq(traceparent_ids_valid(tid, sid), 0);
	tid[15] = 1;
	cr_assert_eq(traceparent_ids_valid(tid, sid), 0, "zero span id");
	sid[0] = 1;
	cr_assert_eq(traceparent_ids_valid(tid, sid), 1);
	tid[15] = 0;
	cr_assert_eq(traceparent_ids_valid(tid, sid), 0, "zero trace id");
}

/* ---- tracestate ------------------------------------------------------------------------------ */

struct ts_row {
	const char *in;
	int members; /* -1 = invalid */
	const char *out;
};

static const struct ts_row ts_rows[] = {
	{ "foo=1", 1, "foo=1" },
	{ "foo=1,bar=2", 2, "foo=1,bar=2" },
	{ " foo=1 , \tbar=2\t", 2, "foo=1,bar=2" },
	{ "foo=1,,bar=2,", 2, "foo=1,bar=2" },
	{ ",,, ", 0, "" },
	{ "", 0, "" },
	/* keys */
	{ "0foo=1", 1, "0foo=1" }, /* Level 2: digit first */
	{ "foo_-*/bar=1", 1, "foo_-*/bar=1" },
	{ "tenant@system=1", 1, "tenant@system=1" },
	{ "0tenant@sys=1", 1, "0tenant@sys=1" },
	{ "t@s1234567890123=1", 1, "t@s1234567890123=1" }, /* system 14 chars */
	{ "t@s12345678901234=1", -1, "" },		   /* system 15 chars */
	{ "t@1sys=1", -1, "" },				   /* system starts with a digit */
	{ "t@=1", -1, "" },
	{ "@s=1", -1, "" },
	{ "a@b@c=1", -1, "" },
	{ "Foo=1", -1, "" },
	{ "_foo=1", -1, "" },
	{ "foo.bar=1", -1, "" },
	{ "foo =1", -1, "" },
	{ "=1", -1, "" },
	/* values */
	{ "foo= 1", 1, "foo= 1" },
	{ "foo=1 ", 1, "foo=1" }, /* trailing OWS belongs to the member, not the value */
	{ "foo=a b", 1, "foo=a b" },
	{ "foo=", -1, "" },
	{ "foo", -1, "" },
	{ "foo=1=2", -1, "" },
	{ "foo=\x01", -1, "" },
	{ "foo=\x7f", -1, "" },
	{ "foo=~!", 1, "foo=~!" },
	/* duplicates */
	{ "foo=1,foo=2", -1, "" },
};

Test(tracestate, table)
{
	for (size_t i = 0; i < ARRAY_SIZE(ts_rows); i++) {
		const struct ts_row *r = &ts_rows[i];
		char out[TRACESTATE_PROPAGATE + 1];
		int rc = tracestate_parse(&r->in, 1, out, sizeof(out));

		cr_assert_eq(rc, r->members, "row %zu '%s': %d", i, r->in, rc);
		cr_assert_str_eq(out, r->out, "row %zu", i);
	}
}

static void make_list(char *out, size_t outsz, int n)
{
	size_t len = 0;

	out[0] = '\0';
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, outsz - len, "%sk%d=v%d", i ? "," : "", i, i);
}

Test(tracestate, member_limit)
{
	char in[1024], out[TRACESTATE_PROPAGATE + 1];
	const char *p = in;

	make_list(in, sizeof(in), 32);
	cr_assert_eq(tracestate_parse(&p, 1, out, sizeof(out)), 32);
	cr_assert_str_eq(out, in);
	make_list(in, sizeof(in), 33);
	cr_assert_eq(tracestate_parse(&p, 1, out, sizeof(out)), -1);
	cr_assert_str_eq(out, "");
}

Test(tracestate, multiple_headers_are_combined)
{
	const char *v[] = { "foo=1", " bar=2,baz=3 ", "" };
	const char *dup[] = { "foo=1", "foo=2" };
	char out[64];

	cr_assert_eq(tracestate_parse(v, 3, out, sizeof(out)), 3);
	cr_assert_str_eq(out, "foo=1,bar=2,baz=3");
	cr_assert_eq(tracestate_parse(dup, 2, out, sizeof(out)), -1);
}

struct trunc_row {
	const char *in;
	size_t limit;
	const char *out;
};

#define V100                                                                                       \
	"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567" \
	"890123456789"
#define BIG "big=" V100 V100 /* 204 chars */

static const struct trunc_row trunc_rows[] = {
	{ "a=1,b=2,c=3", 11, "a=1,b=2,c=3" },
	{ "a=1,b=2,c=3", 10, "a=1,b=2" },
	{ "a=1,b=2,c=3", 3, "a=1" },
	{ "a=1,b=2,c=3", 2, "" },
	{ "a=1," BIG ",c=3", 11, "a=1,c=3" }, /* the big member goes first */
	{ "a=1," BIG ",c=3", 7, "a=1,c=3" },
	{ "a=1," BIG ",c=3", 5, "a=1" },
	{ BIG ",a=1", 3, "a=1" },
	{ "a=1,b=2," BIG, 7, "a=1,b=2" },
};

Test(tracestate, truncation)
{
	for (size_t i = 0; i < ARRAY_SIZE(trunc_rows); i++) {
		char s[1024];

		snprintf(s, sizeof(s), "%s", trunc_rows[i].in);
		cr_assert_eq(tracestate_truncate(s, trunc_rows[i].limit), strlen(trunc_rows[i].out),
			     "row %zu", i);
		cr_assert_str_eq(s, trunc_rows[i].out, "row %zu", i);
	}
}

Test(tracestate, parse_keeps_at_least_512_chars_whole_entries)
{
	char in[4096], out[TRACESTATE_PROPAGATE + 1];
	const char *p = in;
	size_t len = 0;
	int n;

	/* 20 members of 40 chars = 819 chars: only whole members up to 512 chars survive */
	for (int i = 0; i < 20; i++)
		len += (size_t)snprintf(in + len, sizeof(in) - len, "%sk%02d=%036d", i ? "," : "",
					i, i);
	n = tracestate_parse(&p, 1, out, sizeof(out));
	cr_assert_eq(n, 12, "%d members kept", n); /* 12 * 40 + 11 = 491; 13 would be 532 */
	cr_assert_eq(strlen(out), 491);
	cr_assert_eq(strncmp(out, in, 491), 0);
	/* a smaller output buffer truncates further */
	n = tracestate_parse(&p, 1, out, 100);
	cr_assert_eq(n, 2);
}
