/*
 * feed.h: the reviews snapshot of node-server, shared by every client.
 *
 * The feed keeps the newest reviews as ONE serialized JSON array (review_event_rows()), built
 * once per change and handed out refcounted: GET /comments sends it as is, and each new
 * version is given once to the publish callback (the WebSocket hub frames it once for every
 * client). Nothing polls per client.
 *
 * Refreshing: feed_refresh() asks db-service GET /reviews?limit=N through the httpc client.
 * Requests coalesce: at most one fetch is in flight, and any number of feed_refresh() calls
 * made meanwhile cause exactly one more fetch after it (so the newest rows are always shown),
 * started 20 ms after the previous one ended (so a burst of inserts costs about 50 reloads a
 * second at most, not one per insert).
 * A failed fetch (db-service down, 5xx, bad answer) is retried on an httpc timer with
 * exponential backoff (100 ms doubling to 5 s) until it succeeds; the old snapshot stays
 * served meanwhile. feed_start() does the first fetch, retried the same way; until it has
 * succeeded feed_get() returns NULL (GET /comments answers 503).
 *
 * Threads: feed_refresh(), feed_get(), feed_set(), feed_ready(), feed_last_ok_ms() and
 * feed_busy() are thread-safe. The fetch callbacks run on the httpc thread. Shutdown order: feed_stop() (no
 * more publishes, no new fetches), then httpc_free() of the client (runs the cancelled
 * callbacks), then feed_free().
 */
#ifndef NODE_SERVER_FEED_H
#define NODE_SERVER_FEED_H

#include <stdatomic.h>
#include <stddef.h>

struct buf;
struct httpc;

/* One version of the reviews array: immutable, refcounted. */
struct feed_snapshot {
	atomic_int refs;
	size_t len;
	char json[]; /* len bytes + a NUL */
};

/* Called with each new version (never twice with the same bytes), on the thread that set it. */
typedef void (*feed_publish_fn)(void *arg, const char *json, size_t len);

struct feed_options {
	struct httpc *http;	 /* the client to fetch with; not owned */
	const char *db_url;	 /* db-service base URL, copied */
	int limit;		 /* ?limit= */
	long timeout_ms;	 /* per fetch; 0 = the client default */
	feed_publish_fn publish; /* may be NULL */
	void *publish_arg;
};

struct feed;

struct feed *feed_new(const struct feed_options *opt);
/* Starts the first fetch (retried until it succeeds). */
void feed_start(struct feed *f);
/* Asks for a fresh copy of the reviews (coalesced, see above). */
void feed_refresh(struct feed *f);
/* The current snapshot with a reference for the caller, or NULL before the first load. */
struct feed_snapshot *feed_get(struct feed *f);
/* Drops a reference from feed_get(). NULL is a no-op. */
void feed_snapshot_release(struct feed_snapshot *s);
/*
 * Installs json (len bytes, copied) as the current snapshot and publishes it, unless it equals
 * the current one (then nothing happens). Returns 1 when it changed, else 0.
 */
int feed_set(struct feed *f, const char *json, size_t len);
/*
 * Readiness, the one place node-server keeps it: 0 once a snapshot is loaded (the page and
 * GET /comments can be served), else -1 with the reason appended to reason. A later
 * db-service outage leaves the feed ready, serving the last snapshot (the routes that need
 * db-service answer 503 meanwhile). Takes the feed's lock briefly and does no I/O, so a
 * /readyz probe never waits on the network.
 */
int feed_ready(struct feed *f, struct buf *reason);
/* CLOCK_MONOTONIC milliseconds of the last successful fetch, 0 if none. */
long long feed_last_ok_ms(struct feed *f);
/*
 * 1 while a fetch is under way, or its retry or the follow-up one is due (its timer set); 0
 * once the feed rests: every feed_refresh() made so far has had its fetch.
 */
int feed_busy(struct feed *f);
/* After this, nothing is published and no fetch starts; in-flight ones end quietly. */
void feed_stop(struct feed *f);
/* Frees the feed. The client must have been freed (or have no feed work) before. */
void feed_free(struct feed *f);

#endif
