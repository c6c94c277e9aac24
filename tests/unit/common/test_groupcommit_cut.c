/*
 * test_groupcommit_cut.c: a short write whose partial record cannot be cut back off is a
 * sticky failure. Left in place, the partial record would sit between whole records once the
 * next append lands after it, so no append (and no commit) may follow, and the readiness check
 * says why. ftruncate() is interposed in this binary so that the cut can be made to fail; it
 * makes the real call otherwise.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../unit.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/groupcommit.h"

TestSuite(groupcommit_cut, LEAK_FINI);

static int cut_fails_with; /* 0: ftruncate() works */

int ftruncate(int fd, off_t length)
{
	if (cut_fails_with) {
		errno = cut_fails_with;
		return -1;
	}
	return (int)syscall(SYS_ftruncate, fd, length);
}

static void fsize_limit(rlim_t bytes)
{
	struct rlimit lim;

	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &lim), 0);
	lim.rlim_cur = bytes;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0, "%s", strerror(errno));
}

Test(groupcommit_cut, a_partial_record_that_stays_stops_every_later_append)
{
	char path[32] = "/tmp/test_gc_cut_XXXXXX";
	unsigned long long seq = 0;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	struct groupcommit gc;
	struct rlimit old;
	struct stat st;
	struct buf why;
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(fcntl(fd, F_SETFL, O_APPEND), 0);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	groupcommit_init(&gc, &mu, path);
	buf_init(&why, 256);

	pthread_mutex_lock(&mu);
	cr_assert_eq(groupcommit_append(&gc, fd, "a\n", 2, &seq), 0);
	cr_assert_eq(groupcommit_commit(&gc, fd, seq, false), 0);
	fsize_limit(8);
	cut_fails_with = EROFS;
	cr_expect_eq(groupcommit_append(&gc, fd, "0123456789\n", 11, &seq), ERR_IO);
	cr_expect_eq(errno, ENOSPC, "the append reports the short write: %s", strerror(errno));
	cut_fails_with = 0;
	fsize_limit(old.rlim_cur);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect_eq(st.st_size, 8, "the partial record stayed (the cut failed)");

	cr_expect_eq(groupcommit_append(&gc, fd, "b\n", 2, &seq), ERR_IO,
		     "nothing is appended after a partial record");
	cr_expect_eq(errno, EROFS, "%s", strerror(errno));
	cr_expect_eq(gc.written, 1, "refused appends take no number");
	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect_eq(st.st_size, 8, "the file did not grow");
	pthread_mutex_unlock(&mu);

	cr_expect_eq(groupcommit_check(&gc, &why), -1);
	cr_expect(strstr(why.data, ": a partial record could not be cut off (") != NULL, "%s",
		  why.data);

	buf_release(&why);
	groupcommit_release(&gc);
	close(fd);
	unlink(path);
}
