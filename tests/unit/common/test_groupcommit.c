/*
 * test_groupcommit.c: groupcommit.h on a real temporary file: an append is whole or cut back
 * off; a commit waits for a sync that covers it; concurrent committers share syncs (batch); holding the lock (always) syncs once per
 * commit; a failed sync is sticky; EINVAL counts as synced; all_synced; sync_parent.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit.h"
#include "common/err.h"
#include "common/buf.h"
#include "common/groupcommit.h"

TestSuite(groupcommit, LEAK_FINI);

#define THREADS	   8
#define PER_THREAD 40

struct file {
	char path[32];
	int fd;
	pthread_mutex_t mu;
	struct groupcommit gc;
};

static atomic_int sync_calls;
static atomic_int fail_with;

/* Counts the syncs, sleeps a little (so committers pile up), fails when told to. */
static int test_sync(int fd, void *arg)
{
	int e = atomic_load(&fail_with);

	(void)arg;
	atomic_fetch_add(&sync_calls, 1);
	usleep(2000);
	if (e) {
		errno = e;
		return -1;
	}
	return fdatasync(fd);
}

static void file_open(struct file *f)
{
	snprintf(f->path, sizeof(f->path), "/tmp/test_gc_XXXXXX");
	f->fd = mkstemp(f->path);
	cr_assert_geq(f->fd, 0);
	pthread_mutex_init(&f->mu, NULL);
	groupcommit_init(&f->gc, &f->mu, f->path);
	groupcommit_set_sync(&f->gc, test_sync, NULL);
	atomic_store(&sync_calls, 0);
	atomic_store(&fail_with, 0);
}

static void file_close(struct file *f)
{
	groupcommit_release(&f->gc);
	pthread_mutex_destroy(&f->mu);
	close(f->fd);
	unlink(f->path);
}

/* One append and its commit, as eventlog.c and wal.c do it. */
static int append_commit(struct file *f, bool batch)
{
	unsigned long long seq;
	int rc;

	pthread_mutex_lock(&f->mu);
	rc = groupcommit_append(&f->gc, f->fd, "x\n", 2, &seq);
	if (rc == 0)
		rc = groupcommit_commit(&f->gc, f->fd, seq, batch);
	if (rc == 0)
		cr_expect_geq(f->gc.synced, seq);
	pthread_mutex_unlock(&f->mu);
	return rc;
}

struct worker {
	struct file *f;
	bool batch;
	int failures;
	pthread_t th;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < PER_THREAD; i++)
		if (append_commit(w->f, w->batch) != 0)
			w->failures++;
	return NULL;
}

static unsigned long long run_workers(struct file *f, bool batch)
{
	struct worker w[THREADS];

	for (int t = 0; t < THREADS; t++) {
		w[t] = (struct worker){ .f = f, .batch = batch };
		pthread_create(&w[t].th, NULL, worker_main, &w[t]);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(w[t].th, NULL);
		cr_expect_eq(w[t].failures, 0);
	}
	cr_expect_eq(f->gc.written, THREADS * PER_THREAD);
	cr_expect_eq(f->gc.synced, f->gc.written);
	cr_expect_eq(f->gc.syncs, (unsigned long long)atomic_load(&sync_calls));
	return f->gc.syncs;
}

static void fsize_limit(rlim_t bytes)
{
	struct rlimit lim;

	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &lim), 0);
	lim.rlim_cur = bytes;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0, "%s", strerror(errno));
}

static off_t file_size(int fd)
{
	struct stat st;

	cr_assert_eq(fstat(fd, &st), 0);
	return st.st_size;
}

/* A file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes the kernel write only part. */
Test(groupcommit, a_short_write_is_cut_back_off)
{
	unsigned long long seq = 0;
	struct rlimit old;
	struct file f;
	char back[16] = { 0 };

	file_open(&f);
	cr_assert_eq(fcntl(f.fd, F_SETFL, O_APPEND), 0);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(groupcommit_append(&f.gc, f.fd, "a\n", 2, &seq), 0);
	cr_expect_eq(seq, 1);
	fsize_limit(8);
	errno = 0;
	cr_expect_eq(groupcommit_append(&f.gc, f.fd, "0123456789\n", 11, &seq), ERR_IO);
	cr_expect_eq(errno, ENOSPC, "a short write: %s", strerror(errno));
	cr_expect_eq(file_size(f.fd), 2, "the 6 bytes written are cut back off");
	fsize_limit(2);
	cr_expect_eq(groupcommit_append(&f.gc, f.fd, "b\n", 2, &seq), ERR_IO);
	cr_expect_eq(errno, EFBIG, "nothing written: %s", strerror(errno));
	fsize_limit(old.rlim_cur);
	cr_assert_eq(groupcommit_append(&f.gc, f.fd, "c\n", 2, &seq), 0);
	cr_expect_eq(seq, 2, "failed appends take no number");
	cr_assert_eq(pread(f.fd, back, sizeof(back) - 1, 0), 4);
	cr_expect_str_eq(back, "a\nc\n");
	file_close(&f);
}

Test(groupcommit, batch_committers_share_syncs)
{
	struct file f;
	unsigned long long syncs;

	file_open(&f);
	syncs = run_workers(&f, true);
	cr_expect_lt(syncs, THREADS * PER_THREAD / 3, "%llu syncs for %d commits", syncs,
		     THREADS * PER_THREAD);
	file_close(&f);
}

Test(groupcommit, always_syncs_every_commit)
{
	struct file f;

	file_open(&f);
	cr_expect_eq(run_workers(&f, false), THREADS * PER_THREAD);
	file_close(&f);
}

Test(groupcommit, a_failed_sync_is_sticky)
{
	struct file f;

	file_open(&f);
	cr_assert_eq(append_commit(&f, true), 0);
	atomic_store(&fail_with, EIO);
	cr_expect_eq(append_commit(&f, true), ERR_IO);
	cr_expect_eq(f.gc.sticky_errno, EIO);
	atomic_store(&fail_with, 0);
	cr_expect_eq(append_commit(&f, true), ERR_IO, "sticky after the disk recovers");
	cr_expect_eq(append_commit(&f, false), ERR_IO);
	file_close(&f);
}

Test(groupcommit, check_and_syncs_report_under_the_lock)
{
	struct file f;
	struct buf why;

	file_open(&f);
	buf_init(&why, 256);
	cr_assert_eq(append_commit(&f, true), 0);
	cr_expect_eq(groupcommit_syncs(&f.gc), 1);
	cr_expect_eq(groupcommit_check(&f.gc, &why), 0);
	cr_expect_eq(why.len, 0);
	atomic_store(&fail_with, EIO);
	cr_expect_eq(append_commit(&f, true), ERR_IO);
	atomic_store(&fail_with, 0);
	cr_expect_eq(groupcommit_check(&f.gc, &why), -1);
	cr_expect(strstr(why.data, ": a sync failed (") != NULL, "%s", why.data);
	buf_release(&why);
	file_close(&f);
}

Test(groupcommit, einval_counts_as_synced)
{
	struct file f;

	file_open(&f);
	atomic_store(&fail_with, EINVAL);
	cr_expect_eq(append_commit(&f, true), 0);
	cr_expect_eq(f.gc.sticky_errno, 0);
	file_close(&f);
}

Test(groupcommit, all_synced_and_quiesce)
{
	struct file f;

	file_open(&f);
	pthread_mutex_lock(&f.mu);
	f.gc.written += 3;
	groupcommit_quiesce(&f.gc); /* no sync running: returns at once */
	groupcommit_all_synced(&f.gc);
	cr_expect_eq(f.gc.synced, 3);
	cr_expect_eq(groupcommit_commit(&f.gc, f.fd, 3, true), 0);
	pthread_mutex_unlock(&f.mu);
	cr_expect_eq(atomic_load(&sync_calls), 0, "nothing left to sync");
	file_close(&f);
}
