/*
 * test_spool.c: spool_mkdirs() makes DATA_DIR durable. Each directory it creates is synced
 * into its parent, so that a power loss after the broker's first 202 cannot take the new
 * directory, and the log in it, away; one that exists is left alone. fsync() is interposed in
 * this binary to record which directories are synced; it makes the real call.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../../services/local-broker/spool.h"
#include "common/err.h"

#define MAX_SYNCS 16

static char synced[MAX_SYNCS][PATH_MAX]; /* the directories fsync() was called on */
static int nsynced;

int fsync(int fd)
{
	char link[64];
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && nsynced < MAX_SYNCS) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, synced[nsynced], PATH_MAX - 1);
		synced[nsynced][n > 0 ? n : 0] = '\0';
		nsynced++;
	}
	return (int)syscall(SYS_fsync, fd);
}

static int was_synced(const char *dir)
{
	for (int i = 0; i < nsynced; i++)
		if (strcmp(synced[i], dir) == 0)
			return 1;
	return 0;
}

Test(spool, mkdirs_syncs_each_new_directory_into_its_parent)
{
	char base[] = "/tmp/test_spool.XXXXXX", path[PATH_MAX], sub[PATH_MAX], cmd[PATH_MAX];
	struct stat st;

	cr_assert_not_null(mkdtemp(base));
	snprintf(sub, sizeof(sub), "%s/a", base);
	snprintf(path, sizeof(path), "%s/a/b/c", base);
	nsynced = 0;
	cr_assert_eq(spool_mkdirs(path), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect(S_ISDIR(st.st_mode));
	cr_expect(was_synced(base), "%s holds the new a: not synced", base);
	cr_expect(was_synced(sub), "%s holds the new b: not synced", sub);
	snprintf(sub, sizeof(sub), "%s/a/b", base);
	cr_expect(was_synced(sub), "%s holds the new c: not synced", sub);
	cr_expect(!was_synced("/tmp"), "/tmp already held %s: synced for nothing", base);
	/* Again: nothing to create, nothing to sync. */
	nsynced = 0;
	cr_assert_eq(spool_mkdirs(path), 0);
	cr_expect_eq(nsynced, 0);
	/* A file in the way is an error, not a directory. */
	snprintf(sub, sizeof(sub), "%s/f", base);
	cr_assert_eq(close(open(sub, O_CREAT | O_WRONLY, 0600)), 0);
	snprintf(path, sizeof(path), "%s/f/x", base);
	cr_expect_eq(spool_mkdirs(path), ERR_IO);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	cr_assert_eq(system(cmd), 0);
}
