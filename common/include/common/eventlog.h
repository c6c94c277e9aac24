/*
 * eventlog.h: an append-only JSON-lines file ($DATA_DIR/events.log), shared by file-sink and
 * dead-letter-logger.
 *
 * Each record is one compact JSON object on one line, written with one write(2) while the
 * log's lock is held, so lines never interleave (O_APPEND also keeps whole lines from two
 * processes apart). A service appends BEFORE it answers the HTTP request: a 2xx means the line
 * is in the file (and, with FSYNC=always or batch, on disk).
 *
 * Durability (FSYNC=always|batch|never, enum eventlog_fsync):
 *   always  each line is fdatasync()ed before the next one is written: one sync per event,
 *           and appends are serialized behind the disk.
 *   batch   group commit. Each appender writes its line, then waits until a sync that
 *           covers its line has completed. The first waiter that finds no sync running
 *           becomes the leader: it syncs everything written so far, for everybody, while new
 *           appenders keep writing and queue up behind it for the next sync. Under load many
 *           lines share one sync; idle, a line costs one sync as with always.
 *   never   no sync: the line is in the page cache when append returns, so it survives a
 *           crash of the process but not of the machine (power cut, kernel panic).
 * batch is the default: it gives the same promise as always (every answered event is on
 * disk) at a fraction of the syncs, and a Trigger retries anything that got no 2xx.
 *
 * Failures: a failed or short write returns ERR_IO (a short write is cut back off the file so
 * the next line starts clean), and the caller answers 500 so the sender retries. A failed
 * sync is sticky: after it every append returns ERR_IO and eventlog_check() reports it,
 * because after an fsync error the kernel may have dropped the dirty pages and a later
 * successful sync would prove nothing (PostgreSQL's "fsyncgate" rule).
 *
 * Repair on open: a crash (or a full disk) can tear the last append, leaving a line without
 * its newline. eventlog_open() cuts such a torn tail off before anything is appended, so the
 * next record starts a line of its own: the fragment is copied to "<path>.torn-<unix time>"
 * next to the log (kept for inspection; it was never acknowledged, since a 2xx follows the
 * whole line), a warning names that file, and the log is cut back to its last newline. Every
 * line of the log is then whole, and rebuilding state from it (file-sink's dedupe) sees whole
 * lines only.
 *
 * Readers: eventlog_tail() reads the file backwards in chunks and needs no lock; an
 * unterminated last line (a write in progress, or a torn write after a crash) and lines that
 * are not JSON objects are skipped.
 *
 * Ownership: struct eventlog is opaque, created by eventlog_open(), freed by
 * eventlog_close(). All functions are thread-safe except eventlog_close().
 */
#ifndef COMMON_EVENTLOG_H
#define COMMON_EVENTLOG_H

#include <stddef.h>

#include <jansson.h>

#include "common/buf.h"

enum eventlog_fsync {
	EVENTLOG_FSYNC_ALWAYS = 0,
	EVENTLOG_FSYNC_BATCH = 1,
	EVENTLOG_FSYNC_NEVER = 2,
};

/* "always", "batch", "never", NULL: the CONFIG_ENUM choices for FSYNC, indexed by the enum. */
extern const char *const eventlog_fsync_names[];

/* The file name inside DATA_DIR. */
#define EVENTLOG_FILE "events.log"
/* Lines longer than this are treated as corrupt by eventlog_tail() (records are < 2 MiB). */
#define EVENTLOG_MAX_LINE ((size_t)8 * 1024 * 1024)
/* GET /events?limit=: default and maximum. */
#define EVENTLOG_DEFAULT_LIMIT 100
#define EVENTLOG_MAX_LIMIT     1000
/*
 * GET /events: the default byte budget (EVENTS_MAX_BYTES, counted in events.log bytes; the
 * answer is those lines' text, plus the parse of one line at a time: eventlog_tail_text())
 * and its smallest value.
 */
#define EVENTLOG_DEFAULT_TAIL_BYTES	 ((size_t)4 * 1024 * 1024)
#define EVENTLOG_DEFAULT_TAIL_BYTES_TEXT "4194304"
#define EVENTLOG_MIN_TAIL_BYTES		 (64LL * 1024)

struct eventlog;

/*
 * Opens path for appending, creating it with mode 0644 when missing. Unless mode is never,
 * the directory is synced so the name is durable, whether this call created the file or an
 * earlier process did (and may have been killed before its own sync). An existing regular
 * file with a torn last line is repaired first (see "Repair on open" above), and unless mode
 * is never it is synced: a line an earlier process wrote but did not live to sync is read back
 * as saved, so it must be on disk before a repeat is answered from it. Returns 0 and *out, or
 * ERR_IO with errno set (a missing or unwritable directory, a torn tail that cannot be moved
 * aside, a failed sync of the file or of its directory; a file this call created is then
 * removed again): services report it and exit 2.
 */
int eventlog_open(const char *path, enum eventlog_fsync mode, struct eventlog **out);
/*
 * Appends record (borrowed, not modified) as one line, with the durability of the log's mode.
 * Returns 0, ERR_IO (write or sync failed: answer 500) or ERR_INTERNAL (not serializable).
 */
int eventlog_append(struct eventlog *log, const json_t *record);
/*
 * The newest records, newest first, as a new JSON array in *out (caller decrefs): at most
 * limit records whose lines (newline included) add up to at most max_bytes. Reading stops at
 * the first line that would go past max_bytes, so the answer is always the newest lines in
 * order (a newest line longer than max_bytes gives an empty array). Reads backwards in 64 KiB
 * chunks, so the cost follows limit and max_bytes, not the file size. Returns 0 or ERR_IO.
 */
int eventlog_tail(struct eventlog *log, size_t limit, size_t max_bytes, json_t **out);
/*
 * The same records as JSON text appended to out: "[" the lines joined by "," "]", each line
 * as it is in the file. Each line is parsed to be checked and dropped at once, so memory
 * follows the text, not the parsed trees of all of them (a tree of small JSON values takes
 * tens of times its text). Returns 0, or ERR_IO with out as it was.
 */
int eventlog_tail_text(struct eventlog *log, size_t limit, size_t max_bytes, struct buf *out);
/* The file's size in bytes now (0 if it cannot be stat()ed). */
long long eventlog_size(struct eventlog *log);
/* How many syncs the log has performed (group commit makes this << appends under load). */
unsigned long long eventlog_syncs(struct eventlog *log);
/* The readiness check: 0, or -1 with a reason appended (a sticky failure: groupcommit.h). */
int eventlog_check(struct eventlog *log, struct buf *reason);
/* Closes the file and frees log; no append may be running. NULL is a no-op. */
void eventlog_close(struct eventlog *log);

/*
 * Replaces fdatasync(2) for this log (tests: slow syncs down, count them, inject failures).
 * fn returns 0 or -1 with errno set. Set it right after open, before any append.
 */
typedef int (*eventlog_sync_fn)(int fd, void *arg);
void eventlog_set_sync(struct eventlog *log, eventlog_sync_fn fn, void *arg);

/*
 * Parses a ?limit= value: NULL means EVENTLOG_DEFAULT_LIMIT, otherwise decimal digits only,
 * 1..EVENTLOG_MAX_LIMIT. Returns 0 and *out, or ERR_BAD_REQUEST.
 */
int eventlog_limit_parse(const char *text, size_t *out);

#endif
