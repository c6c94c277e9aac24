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
