/*
 * test_eventlog_open.c: eventlog_open() of an existing log makes what is already in it durable
 * before it returns (unless the mode is never). A line an earlier process wrote but was killed
 * before syncing is read back as saved (the sinks' dedupe), and a redelivery is answered from
 * it, so it must not rest on the page cache. fdatasync() is interposed in this binary to count
 * the calls made on the log file; it then makes the real call. (A log it creates must have a
 * durable name: test_dirsync.c.)
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/eventlog.h"

#include "../unit.h"

static char dir[64];
static char path[96];
static struct stat log_st; /* the log file's identity: its calls are the ones counted */
static int log_syncs;

int fdatasync(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && st.st_dev == log_st.st_dev && st.st_ino == log_st.st_ino)
		log_syncs++;
	return (int)syscall(SYS_fdatasync, fd);
}

/* A log holding one whole line, as an earlier process left it; the counter starts at 0. */
static void setup(void)
{
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/test_eventlog_open.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/events.log", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_gt(fputs("{\"id\":\"written, never synced\"}\n", f), 0);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(stat(path, &log_st), 0);
	log_syncs = 0;
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

TestSuite(eventlog_open, .init = setup, .fini = teardown);

Test(eventlog_open, an_existing_log_is_synced_before_it_is_used, LEAK_FINI)
{
	static const enum eventlog_fsync modes[] = { EVENTLOG_FSYNC_ALWAYS, EVENTLOG_FSYNC_BATCH };

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct eventlog *log;

		log_syncs = 0;
		cr_assert_eq(eventlog_open(path, modes[i], &log), 0);
		cr_expect_eq(log_syncs, 1, "mode %d: %d syncs of the log at open", (int)modes[i],
			     log_syncs);
		eventlog_close(log);
	}
}

Test(eventlog_open, never_means_no_sync, LEAK_FINI)
{
	struct eventlog *log;

	cr_assert_eq(eventlog_open(path, EVENTLOG_FSYNC_NEVER, &log), 0);
	cr_expect_eq(log_syncs, 0);
	eventlog_close(log);
}
