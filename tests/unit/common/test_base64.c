/*
 * test_base64.c: base64.h, the one codec: RFC 4648 §10's vectors both ways, the errors that
 * decoding reports, the cap, base64_value() and BASE64_LEN().
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../unit.h"
#include "common/base64.h"
#include "common/err.h"
#include "common/xalloc.h"

TestSuite(base64, LEAK_FINI);

struct row {
	const char *raw, *enc;
};

static const struct row rfc4648[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

Test(base64, rfc4648_vectors)
{
	struct buf b;

	buf_init(&b, BUF_NOCAP);
	for (size_t i = 0; i < ARRAY_SIZE(rfc4648); i++) {
		size_t n = strlen(rfc4648[i].raw);

		buf_reset(&b);
		cr_assert_eq(base64_encode(rfc4648[i].raw, n, &b), 0);
		cr_expect_str_eq(b.data, rfc4648[i].enc);
		cr_expect_eq(b.len, BASE64_LEN(n));
		buf_reset(&b);
		cr_assert_eq(base64_decode(rfc4648[i].enc, strlen(rfc4648[i].enc), &b), 0);
		cr_expect_eq(b.len, n);
		cr_expect_eq(memcmp(b.data, rfc4648[i].raw, n), 0);
	}
	buf_release(&b);
}

Test(base64, decode_errors)
{
	static const char *bad[] = { "Zg=",	 "Zg",	 "Z===",  "Zm9v!A==",
				     "Zg==Zg==", "Zg=a", "=Zm9v", "Zm9vY" };
	struct buf b;

	buf_init(&b, BUF_NOCAP);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		buf_reset(&b);
		cr_expect_eq(base64_decode(bad[i], strlen(bad[i]), &b), ERR_VALIDATION, "%s",
			     bad[i]);
	}
	buf_reset(&b);
	cr_expect_eq(base64_decode("Zm9v\r\nYmFy\n", 11, &b), 0, "line breaks are ignored");
	cr_expect_str_eq(b.data, "foobar");
	buf_release(&b);
}

Test(base64, cap)
{
	struct buf b;

	buf_init(&b, 4);
	cr_expect_eq(base64_encode("foobar", 6, &b), ERR_TOO_LARGE);
	cr_expect_str_eq(b.data, "Zm9v");
	buf_release(&b);
	buf_init(&b, 2);
	cr_expect_eq(base64_decode("Zm9v", 4, &b), ERR_TOO_LARGE);
	buf_release(&b);
}

Test(base64, value)
{
	cr_expect_eq(base64_value('A'), 0);
	cr_expect_eq(base64_value('z'), 51);
	cr_expect_eq(base64_value('9'), 61);
	cr_expect_eq(base64_value('+'), 62);
	cr_expect_eq(base64_value('/'), 63);
	cr_expect_eq(base64_value('='), -1);
	cr_expect_eq(base64_value('\0'), -1);
	cr_expect_eq(base64_value('-'), -1);
}
