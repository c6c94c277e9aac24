#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/rand.h"
#include "common/xalloc.h"

#define UUID_SAMPLES 10000

static int is_lower_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

/* Checks the 8-4-4-4-12 layout, version 4 and variant 10xx of one UUID. */
static void check_uuid(const char *u)
{
	cr_assert_eq(strlen(u), 36, "length of %s", u);
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			cr_assert_eq(u[i], '-', "dash at %d in %s", i, u);
		else
			cr_assert(is_lower_hex(u[i]), "char %d of %s", i, u);
	}
	cr_assert_eq(u[14], '4', "version nibble of %s", u);
	cr_assert(strchr("89ab", u[19]) != NULL, "variant nibble of %s", u);
}

static int cmp_uuid(const void *a, const void *b)
{
	return strcmp(a, b);
}

Test(rand, uuid_format_and_uniqueness)
{
	char(*ids)[37] = calloc(UUID_SAMPLES, sizeof(*ids));
	int variant_seen[4] = { 0 };

	cr_assert_not_null(ids);
	for (int i = 0; i < UUID_SAMPLES; i++) {
		rand_uuid_v4(ids[i]);
		check_uuid(ids[i]);
		variant_seen[strchr("89ab", ids[i][19]) - "89ab"]++;
	}
	for (int v = 0; v < 4; v++)
		cr_expect_gt(variant_seen[v], 0, "variant nibble %c never drawn", "89ab"[v]);
	qsort(ids, UUID_SAMPLES, sizeof(*ids), cmp_uuid);
	for (int i = 1; i < UUID_SAMPLES; i++)
		cr_assert_str_neq(ids[i - 1], ids[i], "duplicate uuid");
	free(ids);
}

Test(rand, hex_length_and_charset)
{
	static const size_t sizes[] = { 0, 1, 8, 16, 31, 32, 33, 100 };

	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
		size_t n = sizes[s];
		char *out = malloc(2 * n + 2);
		int nonzero = 0;

		cr_assert_not_null(out);
		out[2 * n + 1] = 'Z'; /* canary: only 2n + 1 bytes may be written */
		rand_hex(out, n);
		cr_assert_eq(strlen(out), 2 * n, "length for %zu bytes", n);
		for (size_t i = 0; i < 2 * n; i++) {
			cr_assert(is_lower_hex(out[i]), "char %zu for %zu bytes: %c", i, n, out[i]);
			nonzero |= out[i] != '0';
		}
		cr_assert(n == 0 || nonzero, "all-zero id for %zu bytes", n);
		cr_assert_eq(out[2 * n + 1], 'Z', "wrote past the end for %zu bytes", n);
		free(out);
	}
}

Test(rand, trace_and_span_ids_differ)
{
	char a[33], b[33], s1[17], s2[17];

	rand_hex(a, 16);
	rand_hex(b, 16);
	rand_hex(s1, 8);
	rand_hex(s2, 8);
	cr_assert_str_neq(a, b);
	cr_assert_str_neq(s1, s2);
	cr_assert_neq(strcmp(a, "00000000000000000000000000000000"), 0);
}

Test(rand, bytes_fill_large_buffers)
{
	static const size_t sizes[] = { 1, 255, 256, 4096, 1 << 20 };

	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
		unsigned char *p = calloc(1, sizes[s]);
		size_t zeros = 0;

		cr_assert_not_null(p);
		cr_assert_eq(rand_bytes(p, sizes[s]), 0);
		for (size_t i = 0; i < sizes[s]; i++)
			zeros += p[i] == 0;
		/* About 1/256 of random bytes are zero; a buffer left unfilled would be all zero. */
		if (sizes[s] >= 4096)
			cr_assert_lt(zeros, sizes[s] / 64, "%zu zero bytes of %zu", zeros,
				     sizes[s]);
		free(p);
	}
	cr_assert_eq(rand_bytes(NULL, 0), 0);
}
