/* Unit tests for file-sink's attempts.c: per-event attempt numbers in the fixed table. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "../../../services/file-sink/attempts.h"

#include "../unit.h"

TestSuite(attempts, LEAK_FINI);

Test(attempts, counts_per_event)
{
	struct attempts a;

	attempts_init(&a);
	cr_assert_eq(attempts_next(&a, "s", "e1"), 1);
	cr_assert_eq(attempts_next(&a, "s", "e1"), 2);
	cr_assert_eq(attempts_next(&a, "s", "e2"), 1);
	cr_assert_eq(attempts_next(&a, "other", "e1"), 1, "the source is part of the key");
	cr_assert_eq(attempts_next(&a, "s", "e1"), 3);
	attempts_release(&a);
}

Test(attempts, bounded_table)
{
	struct attempts a;
	char id[32];
	unsigned long long seen_again = 0;

	attempts_init(&a);
	/* far more events than slots: the table stays ATTEMPTS_SLOTS, old events start over */
	for (int i = 0; i < 4 * ATTEMPTS_SLOTS; i++) {
		snprintf(id, sizeof(id), "event-%d", i);
		cr_assert_eq(attempts_next(&a, "s", id), 1);
	}
	for (int i = 4 * ATTEMPTS_SLOTS - 100; i < 4 * ATTEMPTS_SLOTS; i++) {
		snprintf(id, sizeof(id), "event-%d", i);
		seen_again += attempts_next(&a, "s", id) == 2;
	}
	cr_assert_gt(seen_again, 90, "recent events are still counted (%llu of 100)", seen_again);
	attempts_release(&a);
}
