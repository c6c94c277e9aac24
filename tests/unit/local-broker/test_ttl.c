/*
 * Unit tests for services/local-broker/ttl.c: the ingress rule (absent → max, else
 * decrement, <= 0 refused) and the take/put pair around a subscriber call.
 */
#include <criterion/criterion.h>

#include "../../../services/local-broker/ttl.h"
#include "common/ce.h"
#include "common/err.h"
#include "common/xalloc.h"

Test(ttl, ingress_table)
{
	static const struct {
		const char *incoming; /* NULL = absent */
		int max, rc, out;
	} rows[] = {
		{ NULL, 255, 0, 255 },	    { NULL, 5, 0, 5 },	      { "255", 255, 0, 254 },
		{ "2", 255, 0, 1 },	    { "1", 255, ERR_TTL, 0 }, { "0", 255, ERR_TTL, -1 },
		{ "-4", 255, ERR_TTL, -5 }, { "abc", 255, 0, 255 },   { "", 7, 0, 7 },
		{ "300", 255, 0, 299 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		struct ce_event *ev = ce_event_new();
		int out = 12345;

		if (rows[i].incoming)
			cr_assert_eq(ce_set(ev, TTL_EXTENSION, rows[i].incoming), 0);
		cr_expect_eq(ttl_ingress(ev, rows[i].max, &out), rows[i].rc, "row %zu", i);
		cr_expect_eq(out, rows[i].out, "row %zu: %d", i, out);
		if (rows[i].rc == 0) {
			char want[16];

			snprintf(want, sizeof(want), "%d", rows[i].out);
			cr_expect_str_eq(ce_get(ev, TTL_EXTENSION), want, "row %zu", i);
			cr_expect_eq(ce_ext_find(ev, TTL_EXTENSION)->type, CE_TYPE_INTEGER);
		}
		ce_event_free(ev);
	}
}

Test(ttl, take_and_put)
{
	struct ce_event *ev = ce_event_new();

	cr_assert_eq(ttl_take(ev), 0, "absent");
	ttl_put(ev, 17);
	cr_assert_str_eq(ce_get(ev, TTL_EXTENSION), "17");
	cr_assert_eq(ttl_take(ev), 17);
	cr_assert_null(ce_get(ev, TTL_EXTENSION), "removed");
	ce_event_free(ev);
}
