/*
 * test_jsonenc.c: jsonenc_append() writes what json_dumps(JSON_COMPACT | JSON_ENCODE_ANY)
 * writes, but a real as the shortest text that reads back as the same double.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/jsonenc.h"

/* in parsed with jansson (NUL allowed), written back. */
static void roundtrip(const char *in, size_t n, const char *want, size_t want_len)
{
	json_error_t e;
	json_t *v = json_loadb(in, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	struct buf b;

	cr_assert_not_null(v, "%s: %s", in, e.text);
	buf_init(&b, BUF_NOCAP);
	cr_assert_eq(jsonenc_append(&b, v), 0);
	cr_expect_eq(b.len, want_len, "%s: got %.*s", in, (int)b.len, b.data);
	cr_expect(b.len == want_len && memcmp(b.data, want, want_len) == 0, "%s: got %.*s", in,
		  (int)b.len, b.data);
	buf_release(&b);
	json_decref(v);
}

#define SAME(s)	    roundtrip(s, strlen(s), s, strlen(s))
#define AS(s, want) roundtrip(s, strlen(s), want, strlen(want))

Test(jsonenc, reals_are_the_shortest_text_that_reads_back)
{
	SAME("0.1");
	SAME("{\"price\":0.1,\"tax\":0.2,\"sum\":0.30000000000000004}");
	SAME("1.5");
	SAME("-0.0");
	SAME("2.0");
	SAME("3.141592653589793");
	SAME("1e300");
	SAME("1e-7");
	SAME("1.7976931348623157e308");
	AS("5e-324", "4.94065645841247e-324"); /* subnormal: 15 digits, not the shortest */
	AS("1.50", "1.5");
	AS("1E2", "100.0");
	AS("1e+21", "1e21");
	AS("0.000001", "1e-6");
}

Test(jsonenc, every_real_reads_back_as_the_same_double)
{
	struct buf b;

	srand(7);
	buf_init(&b, BUF_NOCAP);
	for (int i = 0; i < 100000; i++) {
		double v;
		uint64_t bits =
		    ((uint64_t)rand() << 40) ^ ((uint64_t)rand() << 20) ^ (uint64_t)rand();

		memcpy(&v, &bits, sizeof(v));
		if (!isfinite(v))
			continue;
		buf_reset(&b);
		cr_assert_eq(jsonenc_real(&b, v), 0);
		cr_assert_eq(strtod(b.data, NULL), v, "%s", b.data);
	}
	buf_release(&b);
}

Test(jsonenc, other_values_as_json_dumps_writes_them)
{
	SAME("{\"a\":[1,-2,true,false,null,\"x\"],\"b\":{},\"c\":[]}");
	SAME("{\"z\":1,\"a\":2,\"m\":3}"); /* member order kept */
	SAME("\"caf\xc3\xa9 \xe2\x82\xac\"");
	SAME("9223372036854775807");
	AS("\"a\\u0000b\\n\\\"\\\\\\/\\u0001\"", "\"a\\u0000b\\n\\\"\\\\/\\u0001\"");
}

Test(jsonenc, a_full_buffer_fails)
{
	json_t *v = json_pack("{s:s}", "key", "a value longer than the cap");
	struct buf b;

	buf_init(&b, 8);
	cr_expect_neq(jsonenc_append(&b, v), 0);
	cr_expect_leq(b.len, 8);
	buf_release(&b);
	json_decref(v);
}

Test(jsonenc, string_of_text_that_is_not_utf8)
{
	json_t *ok = jsonenc_string("caf\xc3\xa9"), *bad = jsonenc_string("a\xc3"), *none;

	cr_assert_str_eq(json_string_value(ok), "caf\xc3\xa9", "valid text is kept as it is");
	cr_assert_str_eq(json_string_value(bad), "a\xef\xbf\xbd", "U+FFFD for the cut byte");
	none = jsonenc_string(NULL);
	cr_assert_str_eq(json_string_value(none), "");
	json_decref(ok);
	json_decref(bad);
	json_decref(none);
}
