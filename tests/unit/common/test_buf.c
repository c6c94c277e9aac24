/*
 * test_buf.c: buf.h, every function: init/release/clear/reset/detach on the shared empty
 * sentinel and on allocated memory, setlen/consume, the append family, extend, the cap (an
 * append past it fails with ERR_TOO_LARGE and changes nothing) and the NUL terminator after
 * every change.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../unit.h"
#include "common/buf.h"

TestSuite(buf, LEAK_FINI);

/* The invariants buf.h promises, checked after every operation. */
static void expect_valid(const struct buf *b, const char *want, size_t want_len)
{
	cr_assert_not_null(b->data);
	cr_expect_eq(b->len, want_len);
	cr_expect_eq(memcmp(b->data, want, want_len), 0);
	cr_expect_eq(b->data[b->len], '\0');
	if (b->alloc)
		cr_expect_lt(b->len, b->alloc);
}

Test(buf, init_is_empty_and_allocates_nothing)
{
	struct buf b;

	buf_init(&b, BUF_NOCAP);
	expect_valid(&b, "", 0);
	cr_expect_eq(b.alloc, 0);
	cr_expect_str_eq(b.data, "");
	buf_release(&b);
}

Test(buf, shrinking_an_empty_buffer_leaves_the_sentinel_alone)
{
	struct buf a, b;

	buf_init(&a, BUF_NOCAP);
	buf_init(&b, BUF_NOCAP);
	buf_setlen(&a, 0);
	buf_reset(&a);
	buf_consume(&a, 0);
	expect_valid(&a, "", 0);
	cr_expect_eq(a.alloc, 0);
	/* Both still share the one empty string, and it is still empty. */
	cr_expect_eq(a.data, b.data);
	cr_expect_eq(b.data[0], '\0');
	buf_release(&a);
	buf_release(&b);
}

Test(buf, append_family)
{
	struct buf b;

	buf_init(&b, BUF_NOCAP);
	cr_assert_eq(buf_append(&b, "ab\0c", 4), 0);
	cr_assert_eq(buf_appends(&b, "de"), 0);
	cr_assert_eq(buf_appendc(&b, 'f'), 0);
	cr_assert_eq(buf_appendf(&b, "%d-%s", 42, "x"), 0);
	cr_assert_eq(buf_append(&b, NULL, 0), 0);
	cr_assert_eq(buf_appends(&b, ""), 0);
	expect_valid(&b, "ab\0cdef42-x", 11);
	buf_release(&b);
}

Test(buf, grows_past_the_first_allocation)
{
	struct buf b;
	char chunk[100];

	memset(chunk, 'z', sizeof(chunk));
	buf_init(&b, BUF_NOCAP);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(buf_append(&b, chunk, sizeof(chunk)), 0);
	cr_expect_eq(b.len, 10000);
	cr_expect_gt(b.alloc, 10000);
	cr_expect_eq(b.data[9999], 'z');
	cr_expect_eq(b.data[10000], '\0');
	buf_release(&b);
}

Test(buf, cap_refuses_and_changes_nothing)
{
	struct buf b;

	buf_init(&b, 5);
	cr_assert_eq(buf_appends(&b, "abc"), 0);
	cr_expect_eq(buf_appends(&b, "def"), ERR_TOO_LARGE);
	cr_expect_eq(buf_appendf(&b, "%s", "def"), ERR_TOO_LARGE);
	cr_expect_eq(buf_append(&b, "def", 3), ERR_TOO_LARGE);
	expect_valid(&b, "abc", 3);
	cr_expect_eq(buf_appends(&b, "de"), 0); /* exactly the cap */
	expect_valid(&b, "abcde", 5);
	cr_expect_eq(buf_appendc(&b, 'f'), ERR_TOO_LARGE);
	expect_valid(&b, "abcde", 5);
	buf_release(&b);
}

/*
 * Doubling stops at the cap: a buffer never holds more than cap + 1 bytes (the terminator),
 * so a WebSocket client's capped input buffer (ws.c) is not rounded up to twice its cap.
 */
Test(buf, growth_stops_at_the_cap)
{
	static const size_t caps[] = { 5, 64, 100, 4096, 8192 + 14 + 4096, 65536 + 14 + 4096 };
	char chunk[1000];

	memset(chunk, 'c', sizeof(chunk));
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		struct buf b;

		buf_init(&b, caps[i]);
		while (b.len < caps[i]) {
			size_t n =
			    caps[i] - b.len < sizeof(chunk) ? caps[i] - b.len : sizeof(chunk);

			cr_assert_eq(buf_append(&b, chunk, n), 0);
			cr_expect_leq(b.alloc, caps[i] + 1, "cap %zu: alloc %zu at len %zu",
				      caps[i], b.alloc, b.len);
		}
		cr_expect_eq(b.len, caps[i]);
		cr_expect_eq(buf_appendc(&b, 'x'), ERR_TOO_LARGE);
		cr_expect_eq(b.data[b.len], '\0');
		buf_release(&b);
	}
}

Test(buf, extend_hands_out_room_to_write)
{
	struct buf b;
	char *at;

	buf_init(&b, 8);
	at = buf_extend(&b, 0); /* nothing to write: the sentinel stays as it is */
	cr_assert_not_null(at);
	expect_valid(&b, "", 0);
	cr_expect_eq(b.alloc, 0);
	cr_assert_eq(buf_appends(&b, "ab"), 0);
	at = buf_extend(&b, 4);
	cr_assert_not_null(at);
	cr_expect_eq(at, b.data + 2);
	memcpy(at, "cdef", 4);
	expect_valid(&b, "abcdef", 6);
	cr_expect_null(buf_extend(&b, 3)); /* past the cap of 8 */
	expect_valid(&b, "abcdef", 6);
	at = buf_extend(&b, 2); /* exactly the cap */
	cr_assert_not_null(at);
	memcpy(at, "gh", 2);
	expect_valid(&b, "abcdefgh", 8);
	buf_release(&b);
}

Test(buf, errors_are_err_h_codes)
{
	cr_expect_eq(BUF_OK, ERR_OK);
	cr_expect_neq(ERR_TOO_LARGE, ERR_BAD_REQUEST);
}

Test(buf, setlen_and_reset_keep_memory)
{
	struct buf b;
	size_t alloc;

	buf_init(&b, BUF_NOCAP);
	cr_assert_eq(buf_appends(&b, "hello world"), 0);
	alloc = b.alloc;
	buf_setlen(&b, 5);
	expect_valid(&b, "hello", 5);
	buf_setlen(&b, 5);
	expect_valid(&b, "hello", 5);
	buf_reset(&b);
	expect_valid(&b, "", 0);
	cr_expect_eq(b.alloc, alloc);
	cr_assert_eq(buf_appends(&b, "again"), 0);
	expect_valid(&b, "again", 5);
	buf_release(&b);
}

Test(buf, consume_drops_the_front)
{
	struct buf b;

	buf_init(&b, BUF_NOCAP);
	cr_assert_eq(buf_appends(&b, "0123456789"), 0);
	buf_consume(&b, 0);
	expect_valid(&b, "0123456789", 10);
	buf_consume(&b, 3);
	expect_valid(&b, "3456789", 7);
	buf_consume(&b, 7);
	expect_valid(&b, "", 0);
	cr_assert_eq(buf_appends(&b, "ab"), 0);
	expect_valid(&b, "ab", 2);
	buf_release(&b);
}

Test(buf, release_leaves_a_usable_buffer_with_its_cap)
{
	struct buf b;

	buf_init(&b, 4);
	cr_assert_eq(buf_appends(&b, "abcd"), 0);
	buf_release(&b);
	expect_valid(&b, "", 0);
	cr_expect_eq(b.alloc, 0);
	cr_expect_eq(b.cap, 4);
	/* No buf_init() needed: the buffer is usable, and the cap still holds. */
	cr_expect_eq(buf_appends(&b, "abcde"), ERR_TOO_LARGE);
	cr_assert_eq(buf_appends(&b, "ab"), 0);
	expect_valid(&b, "ab", 2);
	buf_release(&b);
	buf_release(&b); /* twice is harmless */
}

Test(buf, clear_sets_a_new_cap)
{
	struct buf b;

	buf_init(&b, 2);
	cr_assert_eq(buf_appends(&b, "ab"), 0);
	buf_clear(&b, BUF_NOCAP);
	expect_valid(&b, "", 0);
	cr_expect_eq(b.cap, BUF_NOCAP);
	cr_expect_eq(buf_appends(&b, "abcdef"), 0);
	buf_release(&b);
}

Test(buf, detach_hands_over_the_contents)
{
	struct buf b;
	size_t len = 99;
	char *p;

	buf_init(&b, 10);
	p = buf_detach(&b, &len); /* from the sentinel: a fresh empty string */
	cr_expect_str_eq(p, "");
	cr_expect_eq(len, 0);
	free(p);
	cr_assert_eq(buf_appends(&b, "text"), 0);
	p = buf_detach(&b, &len);
	cr_expect_str_eq(p, "text");
	cr_expect_eq(len, 4);
	expect_valid(&b, "", 0);
	cr_expect_eq(b.alloc, 0);
	cr_expect_eq(b.cap, 10);
	free(p);
	p = buf_detach(&b, NULL);
	free(p);
}
