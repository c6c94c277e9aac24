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

int groupcommit_append(struct groupcommit *g, int fd, const void *data, size_t len,
		       unsigned long long *seq)
{
	ssize_t n;
	off_t end;
	int e;

	if (g->sync_errno) {
		errno = g->sync_errno;
		return ERR_IO;
	}
	n = write(fd, data, len);
	if (n == (ssize_t)len) {
		*seq = ++g->written;
		return 0;
	}
	e = n < 0 ? errno : ENOSPC;
	if (n > 0) {
		/* O_APPEND left the offset at the end of the partial record. */
		end = lseek(fd, 0, SEEK_CUR);
		if (end < n || ftruncate(fd, end - n) != 0)
			log_error("%s: cannot cut a partial record: %s", g->name, strerror(errno));
	}
	log_error("%s: write failed: %s", g->name, n < 0 ? strerror(e) : "short write");
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
	} else if (!g->sync_errno) {
		g->sync_errno = e ? e : EIO;
		log_error("%s: sync failed: %s; refusing further appends", g->name, strerror(e));
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
		if (g->sync_errno)
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
	int e;

	pthread_mutex_lock(g->mu);
	e = g->sync_errno;
	pthread_mutex_unlock(g->mu);
	if (!e)
		return 0;
	buf_appendf(reason, "%s: a sync failed (%s)", g->name, strerror(e));
	return -1;
}
