/*
 * dedupe.h: the events a sink has already recorded, so that a redelivery is not recorded twice.
 *
 * The broker delivers at least once: an event whose line was written but whose 200 never
 * reached the broker (the sink killed in between, a broker restart with the attempt in
 * flight, a timeout) is delivered again. CloudEvents identify an event by (source, id), so a
 * sink keeps the set of recorded keys and answers a redelivery 200 without recording it
 * again. file-sink keys by (source, id) and writes a "duplicate" line instead of a second
 * "saved" one; dead-letter-logger keys by (source, id, knativeerrordest), since one event can
 * fail at two Triggers' subscribers, and writes nothing for a repeat. The optional third part
 * of a key, `scope`, is that destination (NULL: none, the same as "").
 *
 * Protocol, one delivery:
 *   dedupe_begin(key)    DEDUPE_SAVED: already saved, it is a duplicate (nothing to finish).
 *                        DEDUPE_NEW: the key is now "pending" (claimed by this delivery); the
 *                        caller writes its line, then calls exactly one of
 *   dedupe_commit(key)   the "saved" line is written: the key becomes saved;
 *   dedupe_abort(key)    not saved (simulated failure, write error): the claim is dropped.
 * A second delivery of a pending key waits in dedupe_begin() until the first one commits or
 * aborts (a write takes milliseconds), so two concurrent deliveries never both save.
 *
 * Bound and eviction: at most `capacity` saved keys are kept; saving one more evicts the
 * oldest saved key (first in, first out by commit order). A redelivery is at most minutes
 * behind its first delivery (the broker's retries and restart), while the set holds the last
 * `capacity` events (DEDUPE_KEYS, default 100000), so an evicted key would only be a very late
 * redelivery, which is then saved again. Pending keys are never evicted and do not count
 * against the bound (there is one per delivery in flight).
 *
 * Memory: a key is kept as a fixed-size digest, never as the strings received, so the set
 * costs the same whatever the length of a source or an id: DEDUPE_ENTRY_BYTES per key (the
 * entry and its allocator header) plus a ring slot and about one bucket (8 bytes each), some
 * 70 bytes, so about 7 MiB at the default 100000 keys. An id of 500 KB costs what an id of 5
 * bytes costs.
 *
 * Rebuild: dedupe_load() reads events.log from the start and adds the key that the caller's
 * dedupe_key_fn finds in each line (file-sink: "saved" lines only), so the set survives a
 * restart (the newest `capacity` keys win). Lines that are torn (no final newline), not JSON,
 * or without a key are skipped; eventlog_open() has already cut a torn last line off the log
 * (eventlog.h).
 *
 * Keys: the digest is SipHash-2-4-128 (siphash.h) of (length of source, source, length of id,
 * id, scope), under a key drawn from getrandom(2) at dedupe_new(). Source, id and scope are
 * thus compared byte for byte, exactly as received; ("ab", "c") and ("a", "bc") differ. Two different events share a
 * digest with probability about n^2 / 2^129 for n keys (below 10^-28 at 100000), and nobody
 * can craft ids that collide or that aim at one hash chain without the per-process key.
 *
 * Ownership: struct dedupe is opaque, created by dedupe_new() and freed by dedupe_free(); it
 * keeps no pointer to the strings it is given. Every function except dedupe_free() is thread-safe.
 */
#ifndef COMMON_DEDUPE_H
#define COMMON_DEDUPE_H

#include <stddef.h>

#include <jansson.h>

/* The default for DEDUPE_KEYS. */
#define DEDUPE_DEFAULT_KEYS 100000
/* The heap bytes one key costs, allocator overhead included (see Memory). */
#define DEDUPE_ENTRY_BYTES 48

enum dedupe_state {
	DEDUPE_NEW = 0,	  /* claimed: write the line, then dedupe_commit() or dedupe_abort() */
	DEDUPE_SAVED = 1, /* saved before: a duplicate */
};

struct dedupe;

/* A set keeping at most capacity (>= 1) saved keys. */
struct dedupe *dedupe_new(size_t capacity);
/* Frees the set; no call may be running. NULL is a no-op. */
void dedupe_free(struct dedupe *d);

/*
 * Claims (source, id, scope) or reports it saved; waits while another delivery holds the
 * claim. scope may be NULL (the same as ""); so may it in the three calls below.
 */
enum dedupe_state dedupe_begin(struct dedupe *d, const char *source, const char *id,
			       const char *scope);
/* Marks a claimed key saved (evicting the oldest saved key when the set is full). */
void dedupe_commit(struct dedupe *d, const char *source, const char *id, const char *scope);
/* Drops a claim without saving. */
void dedupe_abort(struct dedupe *d, const char *source, const char *id, const char *scope);

/* Adds (source, id, scope) as saved without a claim (used by dedupe_load()). */
void dedupe_add(struct dedupe *d, const char *source, const char *id, const char *scope);
/* Saved keys held now (pending claims not counted). */
size_t dedupe_count(struct dedupe *d);
/* Deliveries waiting in dedupe_begin() on another delivery's claim right now. */
size_t dedupe_waiting(struct dedupe *d);

/*
 * The key one events.log record holds: returns 1 with *source, *id and *scope (NULL allowed)
 * borrowed from rec (or from the function's own storage, valid until its next call), or 0 when
 * the record holds none (not a recorded event).
 */
typedef int (*dedupe_key_fn)(json_t *rec, const char **source, const char **id, const char **scope);

/*
 * Adds the key key_of() finds in each whole line of the events.log at path. A missing file, or one that
 * is not a regular file (a device, a FIFO, a directory), has nothing to rebuild from.
 * Returns 0 with *loaded = the keys read (before eviction), or ERR_IO (errno set).
 */
int dedupe_load(struct dedupe *d, const char *path, dedupe_key_fn key_of, size_t *loaded);

#endif
