/*
 * test_list.c: list.h, the intrusive list: an empty head, push front and back, the order
 * list_for_each walks, list_entry back to the element, removal in the middle and at the ends,
 * removal while iterating (list_for_each_safe), and a removed node that reads as detached.
 */
#include <criterion/criterion.h>

#include "../unit.h"
#include "common/list.h"

TestSuite(list, LEAK_FINI);

struct item {
	int v;
	struct list_head link;
};

/* Writes the values in list order to out (at most n); returns how many there are. */
static size_t collect(struct list_head *head, int *out, size_t n)
{
	struct list_head *pos;
	size_t k = 0;

	list_for_each(pos, head) {
		if (k < n)
			out[k] = list_entry(pos, struct item, link)->v;
		k++;
	}
	return k;
}

/* Whether every node's prev points back at the node before it. */
static int consistent(struct list_head *head)
{
	struct list_head *pos, *prev = head;

	list_for_each(pos, head) {
		if (pos->prev != prev)
			return 0;
		prev = pos;
	}
	return head->prev == prev;
}

Test(list, empty)
{
	struct list_head head = LIST_HEAD_INIT(head);
	int got[1];

	cr_expect(list_empty(&head));
	cr_expect_eq(collect(&head, got, 1), 0);
	list_init(&head);
	cr_expect(list_empty(&head));
}

Test(list, add_front_and_back)
{
	struct list_head head;
	struct item it[4] = { { .v = 0 }, { .v = 1 }, { .v = 2 }, { .v = 3 } };
	int got[4];

	list_init(&head);
	list_add(&it[1].link, &head);	   /* 1 */
	list_add(&it[0].link, &head);	   /* 0 1 */
	list_add_tail(&it[2].link, &head); /* 0 1 2 */
	list_add_tail(&it[3].link, &head); /* 0 1 2 3 */
	cr_assert_eq(collect(&head, got, 4), 4);
	for (int i = 0; i < 4; i++)
		cr_expect_eq(got[i], i);
	cr_expect(consistent(&head));
	cr_expect_not(list_empty(&head));
	cr_expect_eq(list_entry(head.next, struct item, link), &it[0]);
	cr_expect_eq(list_entry(head.prev, struct item, link), &it[3]);
}

Test(list, del_middle_and_ends)
{
	struct list_head head;
	struct item it[5];
	int got[5];

	list_init(&head);
	for (int i = 0; i < 5; i++) {
		it[i].v = i;
		list_add_tail(&it[i].link, &head);
	}
	list_del(&it[2].link);
	list_del(&it[0].link);
	list_del(&it[4].link);
	cr_assert_eq(collect(&head, got, 5), 2);
	cr_expect_eq(got[0], 1);
	cr_expect_eq(got[1], 3);
	cr_expect(consistent(&head));
	/* A removed node reads as detached, and removing it again changes nothing. */
	cr_expect(list_empty(&it[2].link));
	list_del(&it[2].link);
	cr_assert_eq(collect(&head, got, 5), 2);
	list_del(&it[1].link);
	list_del(&it[3].link);
	cr_expect(list_empty(&head));
	cr_expect(consistent(&head));
}

Test(list, del_while_iterating)
{
	struct list_head head, *pos, *n;
	struct item it[6];
	int got[6];

	list_init(&head);
	for (int i = 0; i < 6; i++) {
		it[i].v = i;
		list_add_tail(&it[i].link, &head);
	}
	list_for_each_safe(pos, n, &head) {
		if (list_entry(pos, struct item, link)->v % 2 == 0)
			list_del(pos);
	}
	cr_assert_eq(collect(&head, got, 6), 3);
	cr_expect_eq(got[0], 1);
	cr_expect_eq(got[1], 3);
	cr_expect_eq(got[2], 5);
	cr_expect(consistent(&head));
}

Test(list, move_between_lists)
{
	struct list_head a, b;
	struct item it = { .v = 7 };
	int got[1];

	list_init(&a);
	list_init(&b);
	list_add(&it.link, &a);
	list_del(&it.link);
	list_add_tail(&it.link, &b);
	cr_expect(list_empty(&a));
	cr_assert_eq(collect(&b, got, 1), 1);
	cr_expect_eq(got[0], 7);
}
