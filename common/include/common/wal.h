/*
 * wal.h: a write-ahead log: one file of newline-terminated records, appended with group
 * commit, replayed at start-up, and rewritten (compacted) from a snapshot.
 *
 * Appending and committing are two steps, so a caller can order its records under its own
 * lock and wait for the disk outside it:
 *
 *   wal_append(w, line, len, &seq)   one write(2) of whole records; seq numbers them
 *   wal_commit(w, seq)               returns once every record up to seq is on disk
 *
 * A record that only needs to reach the disk eventually (a progress note whose loss costs a
 * redelivery, never an event) is appended and not committed: the next commit covers it.
 *
 * Durability (enum eventlog_fsync, the same FSYNC names as eventlog.h):
 *   always  wal_commit() syncs right away, under the log's lock: one sync per commit.
 *   batch   group commit, as eventlog.h's batch: the first committer that finds no sync
 *           running leads one sync for every record written so far; committers that arrive
 *           meanwhile wait for the next one. Under load many commits share one sync.
 *   never   wal_commit() returns at once: records survive a crash of the process (they are in
 *           the page cache) but not of the machine.
 * A failed sync is sticky (PostgreSQL's "fsyncgate" rule): every later append and commit
 * returns ERR_IO and wal_check() reports it.
 *
 * Replay: wal_replay() hands every complete line to a callback. An unterminated last line
 * (a write cut short by a crash) is skipped and counted, never handed on.
 *
 * Compaction: wal_rewrite() writes a snapshot produced by a callback to "<path>.tmp", syncs
 * it, renames it over path and syncs the directory, then appends to the new file. A crash at
 * any point leaves either the old file or the new one whole. An empty snapshot over an empty
 * file keeps that file (its directory is synced; nothing else is written). The caller
 * guarantees that the snapshot includes the effect of every record appended before (it holds
 * its own lock across the call, so no append interleaves); the rewrite therefore counts as a
 * commit of them all. When the directory cannot be synced after the rename, path already names
 * the new file but a crash of the machine could bring the old one back: wal_open() then fails,
 * and wal_rewrite() fails with a sticky failure (appends go nowhere that could be lost).
 *
 * Ownership: struct wal is opaque, created by wal_open(), freed by wal_close(). wal_append(),
 * wal_commit(), wal_size(), wal_syncs() and wal_check() are thread-safe; wal_rewrite() may
 * run while others commit, but not while another thread appends.
 */
#ifndef COMMON_WAL_H
#define COMMON_WAL_H

#include <stddef.h>

#include "common/buf.h"
#include "common/eventlog.h"

struct wal;

/* Replay statistics. */
struct wal_replay_stats {
	size_t records;	   /* complete lines handed to the callback */
	size_t torn_bytes; /* bytes of an unterminated last line, skipped */
};

/* Called with each complete line (without its newline, not NUL-terminated). 0 to go on. */
typedef int (*wal_record_fn)(const char *line, size_t len, void *arg);

/*
 * Reads path line by line into fn. Returns 0; ERR_NOT_FOUND when path does not exist;
 * ERR_IO when it cannot be read (err filled); or fn's non-zero return.
 */
int wal_replay(const char *path, wal_record_fn fn, void *arg, struct wal_replay_stats *st,
	       struct buf *err);

/*
 * Sets a damaged log aside as "<path>.broken-<unix seconds>" (never deletes it), syncs that
 * name, and appends it to moved_to. keep: the file also stays at path (a second name, link(2))
 * until a new log replaces it (wal_open()), so that a start-up that fails or is killed before
 * then still finds the records it resumed from it; else it is renamed. 0 or ERR_IO.
 */
int wal_set_aside(const char *path, int keep, struct buf *moved_to);

/*
 * Produces the snapshot for wal_open()/wal_rewrite(): appends the next records to chunk and
 * returns 0 while there is more, 1 when done (chunk may hold the last records), or a
 * negative error. The wal writes and empties chunk between calls.
 */
typedef int (*wal_snapshot_fn)(struct buf *chunk, void *arg);

/*
 * Creates path afresh with the snapshot (fn may be NULL: empty) and opens it for appending;
 * an empty snapshot over an empty file opens that file (see Compaction), so a restart with
 * nothing pending costs no file sync. Returns 0 and *out, or ERR_IO with err filled.
 */
int wal_open(const char *path, enum eventlog_fsync mode, wal_snapshot_fn fn, void *arg,
	     struct wal **out, struct buf *err);
/*
 * Appends data[0..len) (whole records, each ending in '\n') with one write(2) and sets *seq.
 * A short write is cut back off the file. 0 or ERR_IO.
 */
int wal_append(struct wal *w, const char *data, size_t len, unsigned long long *seq);
/* Waits until every record up to seq is durable (see the modes above). 0 or ERR_IO. */
int wal_commit(struct wal *w, unsigned long long seq);
/*
 * Replaces the file with the snapshot fn produces (see Compaction). 0, or ERR_IO: the old file
 * is kept when the snapshot could not be written, and the failure is sticky when the new
 * file's directory entry could not be synced.
 */
int wal_rewrite(struct wal *w, wal_snapshot_fn fn, void *arg);
/* The file's size in bytes (appended since the last rewrite, plus the snapshot). */
long long wal_size(struct wal *w);
/* Syncs performed (group commit makes this << commits under load). */
unsigned long long wal_syncs(struct wal *w);
/* The readiness check: 0, or -1 with a reason appended (a sticky failure: groupcommit.h). */
int wal_check(struct wal *w, struct buf *reason);
/* Closes the file and frees w; nothing may be running on it. NULL is a no-op. */
void wal_close(struct wal *w);

/* Replaces fdatasync(2) (tests). fn returns 0 or -1 with errno set. Set it before use. */
void wal_set_sync(struct wal *w, eventlog_sync_fn fn, void *arg);

#endif
