/*
 * Unit tests for feed_ready() (feed.h): node-server's readiness, kept by the feed and read
 * without I/O.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "common/buf.h"
#include "../../../services/node-server/feed.h"

#include "../unit.h"

Test(feed_ready, not_ready_until_a_snapshot_is_loaded, LEAK_FINI)
{
	struct feed_options o = { .db_url = "http://127.0.0.1:1", .limit = 10 };
	struct feed *f = feed_new(&o);
	struct buf reason;

	buf_init(&reason, 256);
	cr_expect_lt(feed_ready(f, &reason), 0);
	cr_expect_not_null(strstr(reason.data, "not loaded"), "reason: %s", reason.data);
	cr_assert_eq(feed_set(f, "[]", 2), 1);
	buf_reset(&reason);
	cr_expect_eq(feed_ready(f, &reason), 0);
	cr_expect_eq(reason.len, 0);
	buf_release(&reason);
	feed_stop(f);
	feed_free(f);
}
