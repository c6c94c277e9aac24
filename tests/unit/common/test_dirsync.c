/*
 * test_dirsync.c: a log's directory entry must be durable before the log counts as written.
 * After the rename of a snapshot over the WAL, a crash of the machine may bring the old file
 * back until the directory is synced, without what was appended since. So a failed directory
 * sync fails wal_open(), and makes wal_rewrite() fail with a sticky failure (no append lands
 * in a file that may vanish); and an event log that eventlog_open() created is refused and
 * removed. An event log that exists is synced too (a process killed between its create and
 * its sync left a name that may not be durable), and kept when that fails. EINVAL (a file
 * system that cannot sync a directory) counts as synced, as it does for files. fsync() is
 * interposed in this binary so that a directory's sync can be made to
 * fail; it makes the real call otherwise.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/eventlog.h"
#include "common/wal.h"

static char dir[64];
static char path[96];
static int dir_sync_fails_with; /* 0: directories sync */
static int dir_syncs;		/* directory fsync() calls */

int fsync(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		dir_syncs++;
		if (dir_sync_fails_with) {
			errno = dir_sync_fails_with;
			return -1;
		}
	}
	return (int)syscall(SYS_fsync, fd);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_dirsync.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/x.wal", dir);
	dir_sync_fails_with = 0;
	dir_syncs = 0;
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(dirsync, .init = setup, .fini = teardown);

static char rec_a[] = "a\n", rec_c[] = "c\n";

/* A snapshot of one record. */
static int one_record(struct buf *chunk, void *arg)
{
	buf_appends(chunk, arg);
	return 1;
}

Test(dirsync, wal_open_fails_when_the_directory_cannot_be_synced)
{
	struct wal *w = NULL;
	struct buf err;

	buf_init(&err, BUF_NOCAP);
	dir_sync_fails_with = EIO;
	cr_expect_eq(wal_open(path, EVENTLOG_FSYNC_BATCH, one_record, rec_a, &w, &err), ERR_IO);
	cr_expect_null(w);
	cr_expect(strstr(err.data, "directory cannot be synced") != NULL, "%s", err.data);
	wal_close(w);

	buf_reset(&err);
	dir_sync_fails_with = 0;
	cr_assert_eq(wal_open(path, EVENTLOG_FSYNC_BATCH, one_record, rec_a, &w, &err), 0, "%s",
		     err.data);
	wal_close(w);
	buf_release(&err);
}

Test(dirsync, wal_never_mode_does_not_sync_the_directory)
{
	struct wal *w = NULL;
	struct buf err;

	buf_init(&err, BUF_NOCAP);
	dir_sync_fails_with = EIO;
	cr_expect_eq(wal_open(path, EVENTLOG_FSYNC_NEVER, one_record, rec_a, &w, &err), 0, "%s",
		     err.data);
	wal_close(w);
	buf_release(&err);
}

Test(dirsync, wal_a_rewrite_whose_directory_is_not_synced_is_a_sticky_failure)
{
	unsigned long long seq;
	struct wal *w = NULL;
	struct buf err, why;

	buf_init(&err, BUF_NOCAP);
	buf_init(&why, 256);
	cr_assert_eq(wal_open(path, EVENTLOG_FSYNC_BATCH, one_record, rec_a, &w, &err), 0, "%s",
		     err.data);
	cr_assert_eq(wal_append(w, "b\n", 2, &seq), 0);
	cr_assert_eq(wal_commit(w, seq), 0);

	dir_sync_fails_with = EIO;
	cr_expect_eq(wal_rewrite(w, one_record, rec_c), ERR_IO);
	dir_sync_fails_with = 0;
	cr_expect_eq(wal_check(w, &why), -1, "not ready after the failed rewrite");
	cr_expect(strstr(why.data, "directory entry is not synced") != NULL, "%s", why.data);
	cr_expect_eq(wal_append(w, "d\n", 2, &seq), ERR_IO, "no append after it");
	cr_expect_eq(wal_rewrite(w, one_record, rec_c), ERR_IO, "nor a later rewrite");
	wal_close(w);
	buf_release(&why);
	buf_release(&err);
}

/*
 * A log it creates is used only once its name is durable: a machine crash could otherwise take
 * the file, and every line acknowledged from it, away. It is removed again when the directory
 * cannot be synced, so that the next start creates (and syncs) it once more.
 */
Test(dirsync, eventlog_a_created_log_whose_directory_cannot_be_synced_is_refused)
{
	struct eventlog *log = NULL;
	struct stat st;

	dir_sync_fails_with = EIO;
	cr_expect_eq(eventlog_open(path, EVENTLOG_FSYNC_BATCH, &log), ERR_IO);
	cr_expect_eq(errno, EIO, "%s", strerror(errno));
	cr_expect_null(log);
	cr_expect_neq(stat(path, &st), 0, "the file it created is gone");
	eventlog_close(log);

	cr_assert_eq(eventlog_open(path, EVENTLOG_FSYNC_NEVER, &log), 0,
		     "never: no directory sync");
	eventlog_close(log);
	cr_assert_eq(unlink(path), 0);

	dir_sync_fails_with = 0;
	cr_assert_eq(eventlog_open(path, EVENTLOG_FSYNC_BATCH, &log), 0);
	cr_expect_eq(stat(path, &st), 0);
	eventlog_close(log);
}

/*
 * A file system that cannot sync a directory at all answers EINVAL: that counts as synced, as
 * it does for a file (groupcommit.h), or the broker and the sinks could never start there.
 */
Test(dirsync, einval_counts_as_synced)
{
	struct eventlog *log = NULL;
	struct wal *w = NULL;
	struct buf err;

	buf_init(&err, BUF_NOCAP);
	dir_sync_fails_with = EINVAL;
	cr_expect_eq(wal_open(path, EVENTLOG_FSYNC_BATCH, one_record, rec_a, &w, &err), 0, "%s",
		     err.data);
	wal_close(w);
	cr_assert_eq(unlink(path), 0);
	cr_expect_eq(eventlog_open(path, EVENTLOG_FSYNC_BATCH, &log), 0, "%s", strerror(errno));
	eventlog_close(log);
	cr_expect_gt(dir_syncs, 0, "the directories were asked");
	buf_release(&err);
}

/*
 * A process killed between its create and its directory sync leaves a file whose name may not
 * be durable; the next open syncs the directory before any line is acknowledged. When that
 * fails the file is kept: it may hold lines.
 */
Test(dirsync, eventlog_an_existing_log_syncs_its_directory)
{
	struct eventlog *log = NULL;
	struct stat st;
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	cr_assert_geq(fputs("{\"id\":\"a\"}\n", f), 0);
	cr_assert_eq(fclose(f), 0);

	cr_assert_eq(eventlog_open(path, EVENTLOG_FSYNC_BATCH, &log), 0);
	cr_expect_eq(dir_syncs, 1, "directory syncs: %d", dir_syncs);
	eventlog_close(log);

	dir_sync_fails_with = EIO;
	cr_expect_eq(eventlog_open(path, EVENTLOG_FSYNC_BATCH, &log), ERR_IO);
	cr_expect_null(log);
	cr_expect_eq(stat(path, &st), 0, "an existing log is kept");
	cr_expect_eq(st.st_size, 11);
	eventlog_close(log);
}
