/* test_header.c: the owned header list (header.h). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/header.h"
#include "common/xalloc.h"

Test(header, add_copies_and_take_owns)
{
	struct header_list l = HEADER_LIST_INIT;
	char name[] = "X-Copied";

	header_list_add(&l, name, "1");
	name[0] = 'Y'; /* the list kept its own copy */
	header_list_take(&l, xstrdup("X-Taken"), xstrdup("2"));
	cr_assert_eq(l.n, 2);
	cr_expect_str_eq(l.v[0].name, "X-Copied");
	cr_expect_str_eq(l.v[1].name, "X-Taken");
	cr_expect_str_eq(l.v[1].value, "2");
	header_list_release(&l); /* LeakSanitizer checks that every string was freed */
}

Test(header, get_is_case_insensitive_and_returns_the_first)
{
	struct header_list l = HEADER_LIST_INIT;

	header_list_add(&l, "Vary", "a");
	header_list_add(&l, "vary", "b");
	cr_expect_str_eq(header_list_get(&l, "VARY"), "a");
	cr_expect_null(header_list_get(&l, "Varyx"));
	cr_expect_null(header_list_get(&l, "Var"));
	header_list_release(&l);
}

Test(header, release_leaves_an_empty_reusable_list)
{
	struct header_list l = HEADER_LIST_INIT;

	for (int i = 0; i < 100; i++)
		header_list_add(&l, "A", "b");
	cr_assert_eq(l.n, 100);
	header_list_release(&l);
	cr_expect_null(l.v);
	cr_expect_eq(l.n, 0);
	cr_expect_eq(l.alloc, 0);
	cr_expect_null(header_list_get(&l, "A"));
	header_list_add(&l, "A", "c");
	cr_expect_str_eq(header_list_get(&l, "a"), "c");
	header_list_release(&l);
}

Test(header, parse_reads_the_otel_list_format)
{
	struct header_list l = HEADER_LIST_INIT;

	cr_assert_eq(header_list_parse(&l, " a = 1 ,, \t,b=x%2Cy%3D,c=,d%20e=%C3%A9"), 0);
	cr_assert_eq(l.n, 4);
	cr_expect_str_eq(l.v[0].name, "a");
	cr_expect_str_eq(l.v[0].value, "1");
	cr_expect_str_eq(l.v[1].value, "x,y=");
	cr_expect_str_eq(l.v[2].name, "c");
	cr_expect_str_eq(l.v[2].value, "");
	cr_expect_str_eq(l.v[3].name, "d e");
	cr_expect_str_eq(l.v[3].value, "\xc3\xa9");
	cr_expect_eq(header_list_parse(&l, ""), 0);
	cr_expect_eq(header_list_parse(&l, NULL), 0);
	cr_expect_eq(l.n, 4);
	header_list_release(&l);
}

Test(header, parse_leaves_the_list_as_it_was_on_a_bad_member)
{
	static const char *const bad[] = { "a=1,b", "a=1,=2", "a=1, =2", "a=%zz", "a=%00", "%=1" };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct header_list l = HEADER_LIST_INIT;

		header_list_add(&l, "kept", "1");
		cr_expect_neq(header_list_parse(&l, bad[i]), 0, "'%s'", bad[i]);
		cr_expect_eq(l.n, 1, "'%s' left %zu headers", bad[i], l.n);
		cr_expect_str_eq(l.v[0].name, "kept");
		header_list_release(
		    &l); /* LeakSanitizer: the members before the bad one are freed */
	}
}
