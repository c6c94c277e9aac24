#include <criterion/criterion.h>
#include <signal.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"

Test(arena, allocations_are_aligned_zeroed_and_distinct)
{
	struct arena a;
	char *prev = NULL;

	arena_init(&a);
	for (size_t n = 0; n < 200; n++) {
		unsigned char *p = arena_alloc(&a, n);

		cr_assert_eq((uintptr_t)p % alignof(max_align_t), 0, "size %zu misaligned", n);
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(p[i], 0);
		memset(p, 0xab, n);
		cr_assert_neq((char *)p, prev);
		prev = (char *)p;
	}
	arena_release(&a);
	cr_assert_null(a.head);
	cr_assert_eq(a.total, 0);
}

Test(arena, strings_are_copied)
{
	struct arena a = ARENA_INIT;
	char src[] = "hello";
	char *d = arena_strdup(&a, src);
	char *n = arena_strndup(&a, "abcdef", 3);
	char *m = arena_memdup(&a, "x\0y", 3);

	src[0] = 'j';
	cr_assert_str_eq(d, "hello");
	cr_assert_str_eq(n, "abc");
	cr_assert_eq(memcmp(m, "x\0y", 4), 0);
	cr_assert_str_eq(arena_strdup(&a, ""), "");
	arena_release(&a);
}

Test(arena, printf_formats_any_length)
{
	struct arena a = ARENA_INIT;
	char big[5000];
	char *s;

	cr_assert_str_eq(arena_printf(&a, "%s/books/%d", "http://db", 42), "http://db/books/42");
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	s = arena_printf(&a, "<%s>", big);
	cr_assert_eq(strlen(s), sizeof(big) + 1);
	cr_assert_eq(s[0], '<');
	cr_assert_eq(s[sizeof(big)], '>');
	arena_release(&a);
}

Test(arena, large_allocation_keeps_the_current_block)
{
	struct arena a = ARENA_INIT;
	char *small1 = arena_alloc(&a, 16);
	char *huge;
	char *small2;

	for (int i = 0; i < 20; i++) /* grow the blocks up to the 64 KiB cap */
		arena_alloc(&a, 8000);
	huge = arena_alloc(&a, 1 << 20);
	small2 = arena_alloc(&a, 16);
	memset(huge, 1, 1 << 20);
	cr_assert_neq(small1, small2);
	cr_assert(small2 < huge || small2 >= huge + (1 << 20), "small alloc inside the huge one");
	cr_assert_geq(a.total, (size_t)(1 << 20) + 20 * 8000 + 32);
	arena_release(&a);
}

Test(arena, calloc_zeroes_arrays_and_reuse_after_release)
{
	struct arena a = ARENA_INIT;
	int *v = arena_calloc(&a, 100, sizeof(int));

	for (int i = 0; i < 100; i++)
		cr_assert_eq(v[i], 0);
	arena_release(&a);
	v = arena_calloc(&a, 10, sizeof(int));
	v[9] = 7;
	cr_assert_eq(v[9], 7);
	arena_release(&a);
}

Test(arena, calloc_overflow_aborts, .signal = SIGABRT)
{
	struct arena a = ARENA_INIT;

	arena_calloc(&a, SIZE_MAX / 2, 4);
}

static int ticks;

static void record(void *arg)
{
	*(int *)arg = ++ticks;
}

Test(arena, defers_run_newest_first_on_release)
{
	struct arena a = ARENA_INIT;
	int first = 0, second = 0;
	struct buf *b = arena_buf(&a, 8);

	arena_defer(&a, record, &first);
	arena_defer(&a, record, &second);
	cr_assert_eq(buf_appends(b, "12345678"), BUF_OK);
	cr_assert_neq(buf_appends(b, "9"), BUF_OK, "the cap holds");
	cr_assert_eq(ticks, 0);
	arena_release(&a); /* ASan reports the buf's memory if it was not released */
	cr_assert_eq(second, 1);
	cr_assert_eq(first, 2);
	cr_assert_null(a.defers);
}

/* The n allocations of `size` bytes each lie one after the other in one block. */
static int contiguous(struct arena *a, size_t n, size_t size)
{
	char *prev = arena_alloc(a, size);
	int ok = 1;

	for (size_t i = 1; i < n; i++) {
		char *p = arena_alloc(a, size);

		ok &= p == prev + size;
		prev = p;
	}
	return ok;
}

Test(arena, reset_keeps_one_block_for_the_next_round)
{
	struct arena a = ARENA_INIT;
	int ran = 0;

	/* 200 KiB in 1 KiB pieces: blocks of 1, 2, 4 ... 64 KiB, so not one contiguous run */
	cr_assert_not(contiguous(&a, 200, 1024));
	arena_defer(&a, record, &ran);
	arena_reset(&a, (size_t)1 << 20);
	cr_assert_neq(ran, 0, "deferred functions run");
	cr_assert_null(a.defers);
	cr_assert_eq(a.total, 0);
	cr_assert_not_null(a.head, "memory is kept");
	for (int round = 0; round < 3; round++) {
		cr_assert(contiguous(&a, 200, 1024), "round %d: one block holds it all", round);
		cr_assert_eq(a.total, 200 * 1024);
		arena_reset(&a, (size_t)1 << 20);
	}
	arena_reset(&a, 1024); /* more than keep_max: nothing is kept */
	cr_assert_null(a.head);
	arena_release(&a);
}
