/*
 * Tests for sink.h: events.log under a data directory and the dedupe set rebuilt from it.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/sink.h"

#include "../unit.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_sink.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/" EVENTLOG_FILE, dir);
	unlink(path);
	rmdir(dir);
}

TestSuite(sink, .init = setup, .fini = teardown);

/* dedupe_key_fn: (event.source, event.id) of every line. */
static int key_of(json_t *rec, const char **source, const char **id, const char **scope)
{
	json_t *ev = json_object_get(rec, "event");

	*source = json_string_value(json_object_get(ev, "source"));
	*id = json_string_value(json_object_get(ev, "id"));
	*scope = NULL;
	return *source && *id;
}

Test(sink, reopening_remembers_the_recorded_events)
{
	struct sink s;
	json_t *rec;

	cr_assert_eq(sink_open(&s, dir, EVENTLOG_FSYNC_NEVER, 10, key_of, "events"), 0);
	cr_expect_eq(dedupe_count(s.dedupe), 0);
	cr_expect_not_null(strstr(s.path, EVENTLOG_FILE));
	rec = json_pack("{s:{s:s, s:s}}", "event", "source", "/s", "id", "1");
	cr_assert_eq(eventlog_append(s.log, rec), 0);
	json_decref(rec);
	sink_close(&s);
	cr_expect_null(s.log);
	cr_assert_eq(sink_open(&s, dir, EVENTLOG_FSYNC_NEVER, 10, key_of, "events"), 0);
	cr_expect_eq(dedupe_count(s.dedupe), 1);
	sink_close(&s);
}

Test(sink, a_missing_directory_is_an_io_error)
{
	struct sink s;
	char missing[96];

	snprintf(missing, sizeof(missing), "%s/nope", dir);
	cr_expect_eq(sink_open(&s, missing, EVENTLOG_FSYNC_NEVER, 10, key_of, "events"), ERR_IO);
	cr_expect_null(s.log);
	cr_expect_null(s.dedupe);
	cr_expect_null(s.path);
}
