/*
 * wal.c: the write-ahead log (see wal.h for the contract).
 *
 * Durability is groupcommit.h's, as the event log's: wal_append() takes the next sequence
 * number under the lock, wal_commit() commits it. wal_rewrite() holds the lock from start to
 * end and starts only when no sync is running (groupcommit_quiesce()), so no sync ever sees
 * the file descriptor change.
 */
#include "common/wal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/fdio.h"
#include "common/groupcommit.h"
#include "common/log.h"
#include "common/xalloc.h"

#define READ_CHUNK ((size_t)64 * 1024)

struct wal {
	char *path;
	int fd;
	enum eventlog_fsync mode;
	pthread_mutex_t mu;
	struct groupcommit gc; /* appends made, synced; under mu */
	long long size;	       /* bytes in the file */
};

/* ---- replay -------------------------------------------------------------------------------- */

/* Hands the complete lines of data[0..len) to fn; returns the bytes consumed in *used. */
static int replay_lines(const char *data, size_t len, size_t *used, wal_record_fn fn, void *arg,
			struct wal_replay_stats *st)
{
	size_t start = 0;
	const char *nl;
	int rc;

	while (start < len && (nl = memchr(data + start, '\n', len - start)) != NULL) {
		size_t end = (size_t)(nl - data);

		if (end > start) {
			rc = fn(data + start, end - start, arg);
			if (rc)
				return rc;
			st->records++;
		}
		start = end + 1;
	}
	*used = start;
	return 0;
}

int wal_replay(const char *path, wal_record_fn fn, void *arg, struct wal_replay_stats *st,
	       struct buf *err)
{
	struct wal_replay_stats local = { 0 };
	char *chunk = NULL;
	struct buf carry;
	int fd, rc = 0;

	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return ERR_NOT_FOUND;
	if (fd < 0) {
		buf_appendf(err, "%s: %s", path, strerror(errno));
		return ERR_IO;
	}
	chunk = xmalloc(READ_CHUNK);
	buf_init(&carry, BUF_NOCAP);
	for (;;) {
		ssize_t n = fdio_read(fd, chunk, READ_CHUNK);
		size_t used;

		if (n < 0) {
			buf_appendf(err, "%s: %s", path, strerror(errno));
			rc = ERR_IO;
			goto cleanup;
		}
		if (n == 0)
			break;
		buf_append(&carry, chunk, (size_t)n);
		rc = replay_lines(carry.data, carry.len, &used, fn, arg, st);
		if (rc)
			goto cleanup;
		buf_consume(&carry, used);
	}
	st->torn_bytes = carry.len;
cleanup:
	buf_release(&carry);
	free(chunk);
	close(fd);
	return rc;
}

/* Whether a and b name the same file. */
static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

int wal_set_aside(const char *path, int keep, struct buf *moved_to)
{
	char *dst = xasprintf("%s.broken-%lld", path, (long long)time(NULL));
	int rc = 0;

	if (keep) /* a second name; a start-up killed in the same second made it already */
		rc = link(path, dst) == 0 || (errno == EEXIST && same_file(path, dst)) ? 0 : ERR_IO;
	else
		rc = rename(path, dst) == 0 ? 0 : ERR_IO;
	if (rc == 0 && fdio_sync_parent(dst) != 0)
		rc = ERR_IO;
	if (rc == 0)
		buf_appends(moved_to, dst);
	free(dst);
	return rc;
}

/* ---- files --------------------------------------------------------------------------------- */

/*
 * An empty snapshot over an empty file needs no new file: opens path for appending. 0 with
 * *fd_out, or -1 when path is not an empty regular file (then write the snapshot).
 */
static int reopen_empty(const char *path, int *fd_out)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 0) {
		close(fd);
		return -1;
	}
	*fd_out = fd;
	return 0;
}

/*
 * Makes path's directory entry durable (unless mode is never): 0, or ERR_IO with err filled
 * and errno set. Until it is, a crash of the machine may bring back the file that was there
 * before, without what was appended since.
 */
static int sync_entry(const char *path, enum eventlog_fsync mode, struct buf *err)
{
	int e;

	if (mode == EVENTLOG_FSYNC_NEVER || fdio_sync_parent(path) == 0)
		return 0;
	e = errno;
	buf_appendf(err, "%s: its directory cannot be synced: %s", path, strerror(e));
	errno = e;
	return ERR_IO;
}

/*
 * Writes the snapshot to "<path>.tmp", syncs it (unless mode is never) and renames it over
 * path; an empty snapshot over an empty file keeps that file (reopen_empty(): a broker that
 * restarts with nothing pending creates and syncs no file). Returns 0 with the new file's
 * descriptor (open for appending) and size, or ERR_IO. The directory entry is not synced
 * yet: the caller does it (sync_entry()), as the file at path is the new one either way.
 */
static int write_snapshot(const char *path, enum eventlog_fsync mode, wal_snapshot_fn fn, void *arg,
			  int *fd_out, long long *size_out, struct buf *err)
{
	char *tmp = xasprintf("%s.tmp", path);
	struct buf chunk;
	long long size = 0;
	int fd = -1, rc = ERR_IO, more;

	buf_init(&chunk, BUF_NOCAP);
	more = fn ? fn(&chunk, arg) : 1;
	if (more == 1 && chunk.len == 0 && reopen_empty(path, fd_out) == 0) {
		*size_out = 0;
		rc = 0;
		goto cleanup;
	}
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		buf_appendf(err, "%s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	for (;;) {
		if (more < 0) {
			buf_appendf(err, "%s: the snapshot failed (%s)", tmp, err_code_name(more));
			goto cleanup;
		}
		if (fdio_write_full(fd, chunk.data, chunk.len) != 0) {
			buf_appendf(err, "%s: %s", tmp, strerror(errno));
			goto cleanup;
		}
		size += (long long)chunk.len;
		buf_reset(&chunk);
		if (more == 1)
			break;
		more = fn(&chunk, arg);
	}
	if (mode != EVENTLOG_FSYNC_NEVER && fdatasync(fd) != 0 && errno != EINVAL) {
		buf_appendf(err, "%s: sync: %s", tmp, strerror(errno));
		goto cleanup;
	}
	if (rename(tmp, path) != 0) {
		buf_appendf(err, "rename %s: %s", path, strerror(errno));
		goto cleanup;
	}
	*fd_out = fd;
	*size_out = size;
	fd = -1;
	rc = 0;
cleanup:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	buf_release(&chunk);
	free(tmp);
	return rc;
}

int wal_open(const char *path, enum eventlog_fsync mode, wal_snapshot_fn fn, void *arg,
	     struct wal **out, struct buf *err)
{
	struct wal *w;
	long long size = 0;
	int fd = -1, rc;

	*out = NULL;
	rc = write_snapshot(path, mode, fn, arg, &fd, &size, err);
	if (rc == 0 && (rc = sync_entry(path, mode, err)) != 0)
		close(fd);
	if (rc)
		return rc;
	w = xcalloc(1, sizeof(*w));
	w->path = xstrdup(path);
	w->fd = fd;
	w->mode = mode;
	w->size = size;
	pthread_mutex_init(&w->mu, NULL);
	groupcommit_init(&w->gc, &w->mu, w->path);
	*out = w;
	return 0;
}

void wal_set_sync(struct wal *w, eventlog_sync_fn fn, void *arg)
{
	groupcommit_set_sync(&w->gc, fn, arg);
}

void wal_close(struct wal *w)
{
	if (!w)
		return;
	close(w->fd);
	groupcommit_release(&w->gc);
	pthread_mutex_destroy(&w->mu);
	free(w->path);
	free(w);
}

/* ---- append and commit --------------------------------------------------------------------- */

int wal_append(struct wal *w, const char *data, size_t len, unsigned long long *seq)
{
	int rc;

	pthread_mutex_lock(&w->mu);
	rc = groupcommit_append(&w->gc, w->fd, data, len, seq);
	if (rc == 0)
		w->size += (long long)len;
	pthread_mutex_unlock(&w->mu);
	return rc;
}

int wal_commit(struct wal *w, unsigned long long seq)
{
	int rc = 0;

	if (w->mode == EVENTLOG_FSYNC_NEVER)
		return 0;
	pthread_mutex_lock(&w->mu);
	/* FSYNC=always keeps the lock: nothing is written while its sync runs. */
	rc = groupcommit_commit(&w->gc, w->fd, seq, w->mode == EVENTLOG_FSYNC_BATCH);
	pthread_mutex_unlock(&w->mu);
	return rc;
}

int wal_rewrite(struct wal *w, wal_snapshot_fn fn, void *arg)
{
	struct buf err;
	long long size = 0;
	int fd = -1, rc;

	buf_init(&err, 1024);
	pthread_mutex_lock(&w->mu);
	groupcommit_quiesce(&w->gc);
	if (w->gc.sticky_errno) {
		rc = ERR_IO;
		goto out;
	}
	rc = write_snapshot(w->path, w->mode, fn, arg, &fd, &size, &err);
	if (rc) {
		log_error("%s: compaction failed, appending to the old file: %s", w->path,
			  err.data);
		goto out;
	}
	close(w->fd);
	w->fd = fd;
	w->size = size;
	rc = sync_entry(w->path, w->mode, &err);
	if (rc) {
		/* path names the new file now, but a crash may still bring the old one back. */
		groupcommit_fail(&w->gc, errno,
				 "the compacted log's directory entry is not synced");
		goto out;
	}
	groupcommit_all_synced(&w->gc); /* the snapshot holds the effect of every append */
out:
	pthread_mutex_unlock(&w->mu);
	buf_release(&err);
	return rc;
}

long long wal_size(struct wal *w)
{
	long long n;

	pthread_mutex_lock(&w->mu);
	n = w->size;
	pthread_mutex_unlock(&w->mu);
	return n;
}

unsigned long long wal_syncs(struct wal *w)
{
	return groupcommit_syncs(&w->gc);
}

int wal_check(struct wal *w, struct buf *reason)
{
	return groupcommit_check(&w->gc, reason);
}
