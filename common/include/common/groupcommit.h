/*
 * groupcommit.h: group commit for an append-only file (leader/follower), shared by the event
 * log (eventlog.c) and the write-ahead log (wal.c).
 *
 * `written` numbers the appends (the owner takes ++written for each, in file order), `synced`
 * is the highest one known to be on disk. A committer whose number is not synced yet and finds
 * no sync running leads one: it snapshots `written`, drops the lock, syncs, retakes the lock,
 * publishes the snapshot as `synced` and wakes every waiter; the others wait. Appends made
 * while the leader syncs are covered by the next sync, led by one of their committers.
 *
 * Failures are sticky: a sync that fails, a partial record (a short write) that cannot be cut
 * back off the file, and what the owner reports with groupcommit_fail(). `sticky_errno` is set,
 * and every later append and commit fails with ERR_IO, so nothing is appended after a record
 * that may be lost or torn; the owner's readiness check (groupcommit_check()) reports it. A
 * partial record left at the end is healed when the owner next opens the file.
 *
 * Threading contract: the group commit uses its owner's mutex (given to groupcommit_init()).
 * Every call below except init/release/set_sync is made with that mutex held, and the fields
 * are read only with it held. groupcommit_commit() may drop and retake it (to sync as a leader,
 * or to wait); groupcommit_quiesce() may wait on it. The descriptor passed to a commit must
 * stay open and unchanged until the commit returns: an owner that swaps its file first calls
 * groupcommit_quiesce() (no sync is running then, and none starts while it holds the mutex).
 */
#ifndef COMMON_GROUPCOMMIT_H
#define COMMON_GROUPCOMMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct buf;

/* Makes fd's written data durable (fdatasync() by default). 0, or -1 with errno set. */
typedef int (*groupcommit_sync_fn)(int fd, void *arg);

struct groupcommit {
	pthread_mutex_t *mu; /* the owner's */
	pthread_cond_t cv;
	const char *name; /* the file, for log lines (borrowed) */
	groupcommit_sync_fn sync_fn;
	void *sync_arg;
	unsigned long long written; /* appends made (the number of the last one) */
	unsigned long long synced;  /* appends 1..synced are on disk */
	unsigned long long syncs;   /* syncs performed */
	bool syncing;		    /* a leader is syncing right now */
	int sticky_errno;	    /* the first sticky failure's errno (0: none) */
	const char *sticky_what;    /* what failed, for readiness (static string) */
};

/* Prepares g over the owner's mutex mu; name must outlive g. */
void groupcommit_init(struct groupcommit *g, pthread_mutex_t *mu, const char *name);
void groupcommit_release(struct groupcommit *g);
/* Replaces the sync function (NULL: fdatasync()); for tests. Not while commits run. */
void groupcommit_set_sync(struct groupcommit *g, groupcommit_sync_fn fn, void *arg);
/*
 * Appends data[0..len) to fd (open with O_APPEND) with one write(2) and numbers it: 0 with
 * *seq set (++written), or ERR_IO when a sticky failure came before or the write failed or
 * was short. A short write is cut back off, so that the file still ends with a whole record
 * and the next append starts clean; errno says why (ENOSPC for a short write). When the cut
 * fails, the failure becomes sticky.
 */
int groupcommit_append(struct groupcommit *g, int fd, const void *data, size_t len,
		       unsigned long long *seq);
/*
 * Waits until append seq is on disk. With lead_unlocked, a committer that leads syncs without
 * the mutex, so others keep appending (FSYNC=batch); without it, it syncs holding the mutex,
 * so nothing is appended meanwhile (FSYNC=always). 0, or ERR_IO when a sync failed now or a
 * sticky failure came before. A file that cannot be synced at all (EINVAL: a pipe, /dev/null)
 * counts as synced.
 */
int groupcommit_commit(struct groupcommit *g, int fd, unsigned long long seq, bool lead_unlocked);
/* The number of syncs performed so far (takes the owner's mutex: call it without). */
unsigned long long groupcommit_syncs(struct groupcommit *g);
/*
 * Readiness (takes the owner's mutex: call it without): 0 while nothing sticky failed, else
 * -1 with "<name>: <what failed> (<reason>)" appended to reason, for example "events.log: a
 * sync failed (Input/output error)".
 */
int groupcommit_check(struct groupcommit *g, struct buf *reason);
/*
 * Makes a failure sticky (the first one wins; e 0 counts as EIO): every later append and
 * commit fails with ERR_IO, and groupcommit_check() reports "<name>: <what> (<strerror(e)>)".
 * what must be a static string. Logged as an error.
 */
void groupcommit_fail(struct groupcommit *g, int e, const char *what);
/* Waits until no sync is running (before the owner swaps its file). */
void groupcommit_quiesce(struct groupcommit *g);
/* Marks every append so far as durable (the owner rewrote them into a synced file). */
void groupcommit_all_synced(struct groupcommit *g);

#endif
