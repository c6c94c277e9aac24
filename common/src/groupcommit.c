/* groupcommit.c: see groupcommit.h. */
#include "common/groupcommit.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"

static int default_sync(int fd, void *arg)
{
	(void)arg;
	return fdatasync(fd);
}

void groupcommit_init(struct groupcommit *g, pthread_mutex_t *mu, const char *name)
{
	memset(g, 0, sizeof(*g));
	g->mu = mu;
	g->name = name;
	g->sync_fn = default_sync;
	pthread_cond_init(&g->cv, NULL);
}

void groupcommit_release(struct groupcommit *g)
{
	pthread_cond_destroy(&g->cv);
}

void groupcommit_set_sync(struct groupcommit *g, groupcommit_sync_fn fn, void *arg)
{
	g->sync_fn = fn ? fn : default_sync;
	g->sync_arg = fn ? arg : NULL;
}

void groupcommit_fail(struct groupcommit *g, int e, const char *what)
{
	if (g->sticky_errno)
		return;
	g->sticky_errno = e ? e : EIO;
	g->sticky_what = what;
	log_error("%s: %s: %s; refusing further appends", g->name, what, strerror(g->sticky_errno));
}

int groupcommit_append(struct groupcommit *g, int fd, const void *data, size_t len,
		       unsigned long long *seq)
{
	ssize_t n;
	off_t end;
	int e;

	if (g->sticky_errno) {
		errno = g->sticky_errno;
		return ERR_IO;
	}
	n = write(fd, data, len);
	if (n == (ssize_t)len) {
		*seq = ++g->written;
		return 0;
	}
	e = n < 0 ? errno : ENOSPC;
	log_error("%s: write failed: %s", g->name, n < 0 ? strerror(e) : "short write");
	if (n > 0) {
		/*
		 * O_APPEND left the offset at the end of the partial record. Left in place, it
		 * would sit between whole records once the next append lands after it.
		 */
		end = lseek(fd, 0, SEEK_CUR);
		if (end < n || ftruncate(fd, end - n) != 0)
			groupcommit_fail(g, errno, "a partial record could not be cut off");
	}
	errno = e;
	return ERR_IO;
}

/* One sync; EINVAL means the file cannot be synced at all: nothing to do. Sets *e. */
static int do_sync(struct groupcommit *g, int fd, int *e)
{
	int rc = g->sync_fn(fd, g->sync_arg);

	*e = errno;
	if (rc != 0 && *e == EINVAL)
		return 0;
	return rc;
}

/* Records the outcome of a sync of appends 1..target. Lock held. */
static void sync_done(struct groupcommit *g, unsigned long long target, int rc, int e)
{
	g->syncs++;
	if (rc == 0) {
		if (target > g->synced)
			g->synced = target;
	} else {
		groupcommit_fail(g, e, "a sync failed");
	}
}

int groupcommit_commit(struct groupcommit *g, int fd, unsigned long long seq, bool lead_unlocked)
{
	assert(seq <= g->written);
	for (;;) {
		unsigned long long target = g->written;
		int rc, e;

		if (g->synced >= seq)
			return 0;
		if (g->sticky_errno)
			return ERR_IO;
		if (g->syncing) {
			pthread_cond_wait(&g->cv, g->mu);
			continue;
		}
		if (!lead_unlocked) {
			rc = do_sync(g, fd, &e);
			sync_done(g, target, rc, e);
			continue;
		}
		g->syncing = true;
		pthread_mutex_unlock(g->mu);
		rc = do_sync(g, fd, &e);
		pthread_mutex_lock(g->mu);
		g->syncing = false;
		sync_done(g, target, rc, e);
		pthread_cond_broadcast(&g->cv);
	}
}

void groupcommit_quiesce(struct groupcommit *g)
{
	while (g->syncing)
		pthread_cond_wait(&g->cv, g->mu);
}

void groupcommit_all_synced(struct groupcommit *g)
{
	assert(!g->syncing);
	g->synced = g->written;
	pthread_cond_broadcast(&g->cv);
}

unsigned long long groupcommit_syncs(struct groupcommit *g)
{
	unsigned long long n;

	pthread_mutex_lock(g->mu);
	n = g->syncs;
	pthread_mutex_unlock(g->mu);
	return n;
}

int groupcommit_check(struct groupcommit *g, struct buf *reason)
{
	const char *what;
	int e;

	pthread_mutex_lock(g->mu);
	e = g->sticky_errno;
	what = g->sticky_what;
	pthread_mutex_unlock(g->mu);
	if (!e)
		return 0;
	buf_appendf(reason, "%s: %s (%s)", g->name, what, strerror(e));
	return -1;
}
