/*
 * test_text.c: text.h's hex encoder and digit values, its UTF-8 decoder (text_utf8_next) on
 * valid sequences of each length and on bytes that are not UTF-8, the valid-prefix check and
 * the U+FFFD scrubber built on it, and buf.h's buf_read_file (whole file, cap, missing file).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../unit.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/text.h"
#include "common/xalloc.h"

TestSuite(text, LEAK_FINI);

struct utf8_row {
	const char *bytes;
	size_t n;
	uint32_t cp;
	size_t len;
};

Test(text, hex_encode_is_lower_case_and_inverts_hex_value)
{
	const unsigned char all[] = { 0x00, 0x09, 0x0a, 0x7f, 0x80, 0xa5, 0xf0, 0xff };
	char out[2 * sizeof(all) + 2];

	memset(out, 'x', sizeof(out));
	text_hex_encode(out, all, sizeof(all));
	cr_assert_str_eq(out, "00090a7f80a5f0ff");
	cr_assert_eq(out[2 * sizeof(all) + 1], 'x', "wrote past the NUL");
	for (size_t i = 0; i < sizeof(all); i++)
		cr_assert_eq(text_hex_value(out[2 * i]) << 4 | text_hex_value(out[2 * i + 1]),
			     all[i]);
	text_hex_encode(out, all, 0);
	cr_assert_str_eq(out, "");
	cr_assert_eq(text_hex_value('F'), 15);
	cr_assert_eq(text_hex_value('g'), -1);
}

Test(text, utf8_next)
{
	static const struct utf8_row rows[] = {
		{ "A", 1, 'A', 1 },
		{ "\xc3\xa9", 2, 0xe9, 2 },
		{ "\xe2\x82\xac", 3, 0x20ac, 3 },
		{ "\xf0\x9f\x98\x80", 4, 0x1f600, 4 },
		{ "\xf4\x8f\xbf\xbf", 4, 0x10ffff, 4 },
		{ "\xff", 1, 0xff, 1 },		    /* not a lead byte: the byte itself */
		{ "\xc0\xaf", 2, 0xc0, 1 },	    /* overlong */
		{ "\xed\xa0\x80", 3, 0xed, 1 },	    /* surrogate */
		{ "\xf0\x9f\x98", 3, 0xf0, 1 },	    /* truncated */
		{ "\xf4\x90\x80\x80", 4, 0xf4, 1 }, /* past U+10FFFF */
		{ "\x80", 1, 0x80, 1 },		    /* a continuation byte alone */
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		uint32_t cp = 0;
		size_t len = text_utf8_next((const unsigned char *)rows[i].bytes, rows[i].n, &cp);

		cr_expect_eq(len, rows[i].len, "row %zu: length %zu", i, len);
		cr_expect_eq(cp, rows[i].cp, "row %zu: U+%04X", i, (unsigned)cp);
	}
}

struct scrub_row {
	const char *in;
	size_t n;
	size_t valid; /* text_utf8_valid_len() */
	const char *want;
	size_t want_n; /* text_utf8_scrub() */
};

#define FFFD	 "\xEF\xBF\xBD"
#define BYTES(s) s, sizeof(s) - 1

Test(text, utf8_valid_len_and_scrub)
{
	static const struct scrub_row rows[] = {
		{ BYTES(""), 0, BYTES("") },
		{ BYTES("ascii /path?q=1"), 15, BYTES("ascii /path?q=1") },
		{ BYTES("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), 9,
		  BYTES("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80") },
		{ BYTES("\xff\xfe"), 0, BYTES(FFFD FFFD) },
		{ BYTES("ab\xe2\x82"), 2, BYTES("ab" FFFD FFFD) }, /* truncated at the end */
		{ BYTES("a\xf0\x9f\x98z"), 1,
		  BYTES("a" FFFD FFFD FFFD "z") }, /* truncated inside */
		{ BYTES("\xe2\x82\xac\x80\xe2\x82\xac"), 3,
		  BYTES("\xe2\x82\xac" FFFD "\xe2\x82\xac") },
		{ BYTES("\xc0\xaf\xed\xa0\x80"), 0, BYTES(FFFD FFFD FFFD FFFD FFFD) },
		{ BYTES("a\0\xff"), 2, BYTES("a\0" FFFD) }, /* NUL is valid */
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const struct scrub_row *r = &rows[i];
		struct buf b;

		cr_expect_eq(text_utf8_valid_len(r->in, r->n), r->valid, "row %zu", i);
		buf_init(&b, BUF_NOCAP);
		cr_assert_eq(text_utf8_scrub(&b, r->in, r->n), 0, "row %zu", i);
		cr_expect_eq(b.len, r->want_n, "row %zu: %zu bytes", i, b.len);
		cr_expect(b.len == r->want_n && !memcmp(b.data, r->want, r->want_n), "row %zu", i);
		cr_expect_eq(text_utf8_valid_len(b.data, b.len), b.len, "row %zu: scrubbed", i);
		buf_release(&b);
	}
}

Test(text, utf8_cut_never_splits_a_character)
{
	static const struct {
		const char *s;
		size_t max;
		int want;
	} rows[] = {
		{ "abc", 2, 2 },       { "abc", 10, 3 },	 { "a\xc3\xa9", 2, 1 },
		{ "a\xc3\xa9", 3, 3 }, { "\xe2\x82\xac", 2, 0 }, { "", 5, 0 },
		{ "ab\xff", 3, 2 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		cr_expect_eq(text_utf8_cut(rows[i].s, rows[i].max), rows[i].want, "row %zu", i);
}

Test(text, utf8_scrub_fails_past_the_cap_with_a_prefix)
{
	struct buf b;

	buf_init(&b, 5);
	cr_assert_eq(text_utf8_scrub(&b,
				     "ab\xff"
				     "cd",
				     5),
		     ERR_TOO_LARGE);
	cr_assert_str_eq(b.data, "ab" FFFD);
	buf_release(&b);
}

/* Creates a file from the template path ("...XXXXXX", rewritten) holding data. */
static void temp_file(char *path, const char *data)
{
	int fd = mkstemp(path);

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

Test(text, read_file)
{
	char path[] = "/tmp/test_text_XXXXXX";
	struct buf b, err;

	temp_file(path, "hello\nworld\n");
	buf_init(&b, BUF_NOCAP);
	buf_init(&err, BUF_NOCAP);
	cr_assert_eq(buf_read_file(&b, path, &err), 0);
	cr_assert_eq(b.len, 12);
	cr_assert_str_eq(b.data, "hello\nworld\n");
	buf_release(&b);
	buf_init(&b, 5);
	cr_assert_eq(buf_read_file(&b, path, &err), -1);
	cr_assert(strstr(err.data, "larger than 5 bytes"), "%s", err.data);
	buf_reset(&err);
	cr_assert_eq(buf_read_file(&b, "/nonexistent/file", &err), -1);
	cr_assert(strstr(err.data, "/nonexistent/file: "), "%s", err.data);
	buf_release(&b);
	buf_release(&err);
	unlink(path);
}

/*
 * buf_read_file() appends to what b holds, fills b up to exactly its cap, reads files whose
 * size fstat(2) does not tell (/proc), and leaves b's bytes NUL-terminated.
 */
Test(text, read_file_appends_up_to_the_cap)
{
	char path[] = "/tmp/test_text_XXXXXX";
	struct buf b, err;

	temp_file(path, "0123456789");
	buf_init(&err, BUF_NOCAP);
	buf_init(&b, 12);
	cr_assert_eq(buf_appends(&b, "ab"), 0);
	cr_assert_eq(buf_read_file(&b, path, &err), 0, "%s", err.data);
	cr_assert_str_eq(b.data, "ab0123456789");
	cr_assert_eq(b.len, 12);
	buf_release(&b);
	buf_init(&b, 11);
	cr_assert_eq(buf_appends(&b, "ab"), 0);
	cr_assert_eq(buf_read_file(&b, path, &err), -1);
	cr_assert(strstr(err.data, "larger than 11 bytes"), "%s", err.data);
	cr_assert_eq(strlen(b.data), b.len);
	buf_release(&b);
	buf_init(&b, BUF_NOCAP);
	cr_assert_eq(buf_read_file(&b, "/proc/self/status", &err), 0, "%s", err.data);
	cr_assert(strstr(b.data, "VmRSS:"), "%s", b.data);
	cr_assert_eq(strlen(b.data), b.len);
	buf_release(&b);
	buf_release(&err);
	unlink(path);
}

struct why_row {
	const char *bytes;
	size_t n;
	const char *why; /* NULL: valid */
};

Test(text, utf8_decode_says_why)
{
	static const struct why_row rows[] = {
		{ "\xe2\x82\xac", 3, NULL },
		{ "\0", 1, NULL },
		{ "\x80", 1, "unexpected continuation byte" },
		{ "\xc1\xbf", 2, "overlong encoding" },
		{ "\xe0\x80\x80", 3, "overlong encoding" },
		{ "\xed\xa0\x80", 3, "UTF-16 surrogate" },
		{ "\xf4\x90\x80\x80", 4, "code point above U+10FFFF" },
		{ "\xf5\x80\x80\x80", 4, "code point above U+10FFFF" },
		{ "\xff", 1, "invalid byte" },
		{ "\xe2\x82", 2, "truncated sequence" },
		{ "\xc3", 1, "truncated sequence" },
		{ "\xe2\x28\xac", 3, "missing continuation byte" },
		{ "\xe2\x82\x28", 3, "missing continuation byte" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const char *why = NULL;
		uint32_t cp;
		size_t len =
		    text_utf8_decode((const unsigned char *)rows[i].bytes, rows[i].n, &cp, &why);

		if (!rows[i].why) {
			cr_expect_eq(len, rows[i].n, "row %zu", i);
			continue;
		}
		cr_expect_eq(len, 0, "row %zu", i);
		cr_expect_str_eq(why ? why : "(none)", rows[i].why, "row %zu", i);
		cr_expect_eq(text_utf8_seq((const unsigned char *)rows[i].bytes, rows[i].n), 0,
			     "row %zu", i);
	}
}

struct media_row {
	const char *ct;
	bool any, application; /* text_media_type_is_json(ct, NULL), (ct, "application") */
};

Test(text, media_type_is_json)
{
	static const struct media_row rows[] = {
		{ "application/json", true, true },
		{ "Application/JSON; charset=utf-8", true, true },
		{ " \tapplication/json", true, true },
		{ "application/cloudevents+json", true, true },
		{ "application/vnd.api+json;x=1", true, true },
		{ "text/json", true, false },
		{ "text/x+json", true, false },
		{ "application/+json", false, false },
		{ "application/jsonx", false, false },
		{ "application/xml", false, false },
		{ "application /json", true, false },
		{ "/json", false, false },
		{ "json", false, false },
		{ "", false, false },
		{ NULL, false, false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		cr_expect_eq(text_media_type_is_json(rows[i].ct, NULL), rows[i].any, "row %zu", i);
		cr_expect_eq(text_media_type_is_json(rows[i].ct, "application"),
			     rows[i].application, "row %zu", i);
	}
}

/* text_json_string(): the literal parses back (jansson) to the same string; escapes shown. */
Test(text, json_string)
{
	static const char *const rows[][2] = {
		{ "plain", "\"plain\"" },
		{ "q\"b\\", "\"q\\\"b\\\\\"" },
		{ "tab\tnl\n\x01", "\"tab\\tnl\\n\\u0001\"" },
		{ "\b\f\r\x1f\x7f", "\"\\b\\f\\r\\u001f\x7f\"" },
		{ "caf\xc3\xa9", "\"caf\xc3\xa9\"" },
		{ "bad\xff", "\"bad\\u00ff\"" },
		{ "", "\"\"" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		struct buf b;

		buf_init(&b, BUF_NOCAP);
		cr_assert_eq(text_json_string(&b, rows[i][0]), 0);
		cr_assert_str_eq(b.data, rows[i][1], "row %zu", i);
		buf_release(&b);
	}
}

/* text_trim_ows() drops SP and HTAB at both ends and nothing else; text_skip_ows() the front. */
Test(text, trim_ows)
{
	static const char *const rows[][2] = {
		{ "a", "a" },	   { " \ta b\t ", "a b" },   { "\t", "" },
		{ "", "" },	   { "\r a \r", "\r a \r" }, { " \ra", "\ra" },
		{ "x\n ", "x\n" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		const char *s = rows[i][0];
		size_t len = strlen(s);

		text_trim_ows(&s, &len);
		cr_expect_eq(len, strlen(rows[i][1]), "row %zu", i);
		cr_expect_eq(strncmp(s, rows[i][1], len), 0, "row %zu", i);
		cr_expect(s >= rows[i][0] && s + len <= rows[i][0] + strlen(rows[i][0]), "row %zu",
			  i);
	}
	/* a view shorter than the string: the bytes past len are not looked at */
	{
		const char *s = " a  b";
		size_t len = 3;

		text_trim_ows(&s, &len);
		cr_expect_eq(len, 1);
		cr_expect_eq(*s, 'a');
	}
	cr_expect_str_eq(text_skip_ows(" \t a \t"), "a \t");
	cr_expect_str_eq(text_skip_ows("\r a"), "\r a");
	cr_expect_str_eq(text_skip_ows(" \t"), "");
}

/* text_url_authority(): http and https in either case, the authority may be empty; else NULL. */
Test(text, url_authority)
{
	cr_expect_str_eq(text_url_authority("http://db:8080/x"), "db:8080/x");
	cr_expect_str_eq(text_url_authority("https://[::1]:443"), "[::1]:443");
	cr_expect_str_eq(text_url_authority("HTTPS://A"), "A");
	cr_expect_str_eq(text_url_authority("Http://"), "");
	cr_expect_null(text_url_authority("http:/x"));
	cr_expect_null(text_url_authority("httpx://x"));
	cr_expect_null(text_url_authority("ftp://x"));
	cr_expect_null(text_url_authority(" http://x"));
	cr_expect_null(text_url_authority(""));
	cr_expect_null(text_url_authority(NULL));
}
