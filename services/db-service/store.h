/*
 * store.h: db-service's data access: a small pool of PostgreSQL connections and the queries
 * behind each endpoint. Every query is parameterized; rows come back as jansson objects.
 *
 * Pool. At most `size` connections exist; a caller checks one out for a single operation and
 * returns it, so a PGconn is never used by two threads at once. Connections are opened lazily.
 * A reused connection is probed first (pq_alive); a broken one is dropped and replaced.
 * When the database cannot be reached, callers get ERR_UNAVAILABLE at once: after a failed
 * connect no new attempt is made for a short, growing backoff (250 ms doubling to 2 s), so an
 * outage costs requests nothing but a quick 503. When the database is back, the next attempt
 * after the backoff reconnects by itself. A caller that finds every connection busy waits up
 * to 10 s, then gets ERR_OVERLOADED.
 *
 * Retries. An operation that failed with ERR_UNAVAILABLE on a reused connection (the server
 * restarted since it was last used), or with ERR_CONFLICT (the database rolled it back: a
 * serialization failure or a deadlock, SQLSTATE class 40), runs once more, on a new
 * connection, if it is safe to repeat: reads, deletes, and inserts that carry an eventId. A
 * second ERR_CONFLICT is answered 409, which its callers retry.
 *
 * Rows (json objects, owned by the caller):
 *   review: {"id": int, "post_time": "2026-11-21T18:59:28.373Z", "content": str,
 *            "sentiment": str|null, "event_id": str|null}
 *   book:   {"id": int, "title", "author", "isbn", "publisher", "published_date": "2023-12-19",
 *            "description", "price": "49.00", "currency", "cover"}
 *
 * Errors are ERR_* codes (pq.h has the mapping) with a client-safe reason appended to msg.
 * All functions are thread-safe.
 */
#ifndef DB_SERVICE_STORE_H
#define DB_SERVICE_STORE_H

#include <stddef.h>

#include <jansson.h>

#include "common/buf.h"
#include "review.h"

struct store;

/* conninfo: libpq URI or key=value string, copied; "" = libpq's PG* environment. */
struct store *store_new(const char *conninfo, size_t pool_size);
/* Closes every connection. No operation may be running. */
void store_free(struct store *s);

/*
 * One attempt to apply the schema (schema.h). On success the store starts serving; before
 * that every operation fails with ERR_UNAVAILABLE. Returns 0 or an ERR_* code.
 */
int store_migrate(struct store *s, struct buf *msg);
/* Whether the schema has been applied. */
int store_migrated(struct store *s);

/*
 * For GET /readyz, on a libmicrohttpd thread (http.h): 0 if migrated and a query succeeds now,
 * or every connection is at work and the last connect succeeded (busy is not down); else -1
 * with the reason. The query runs on the store's pinger thread, one at a time, and never
 * waits for a connection. The probe that asks for it waits for its outcome at most 2 s; a
 * probe that comes while it runs answers at once from the last outcome. A ping unanswered for
 * 2 s is "not ready" (a database that accepts but never answers holds no probe's thread).
 */
int store_ready(struct store *s, struct buf *reason);

int store_books_list(struct store *s, json_t **out, struct buf *msg);
/* ERR_NOT_FOUND when there is no such book. */
int store_book_get(struct store *s, long long id, json_t **out, struct buf *msg);

/* The newest `limit` reviews (post_time DESC, id DESC) as an array. */
int store_reviews_list(struct store *s, int limit, json_t **out, struct buf *msg);
/*
 * Inserts a review, or, when in->event_id is already stored, returns that row instead.
 * *created is 1 for a new row, 0 for an existing one. Safe under concurrency: one event id
 * never yields two rows.
 *
 * Batching (group commit style, no thread of its own). With batch_max > 1 (see
 * store_set_insert_batching()), concurrent inserts queue while one batch is in PostgreSQL; a
 * caller that finds no batch running leads the next: it takes up to batch_max requests from
 * the head of the queue, inserts them with ONE statement (one transaction), and hands each
 * caller its own row; the others wait, and one of them leads the batch after. Each answer is
 * the one the insert would get alone: two requests with one event id in a batch store one row
 * (the first gets *created 1, the other 0 and the same row), a stored id gets its row back, and
 * when the batch statement fails (one row breaks a constraint) every request of the batch runs
 * alone, so only the bad one fails. A caller that finds queue_max requests waiting, or
 * queue_bytes bytes of them (a lone request always queues), gets ERR_OVERLOADED at once.
 */
int store_review_insert(struct store *s, const struct review_input *in, json_t **row, int *created,
			struct buf *msg);
/* Defaults and limits for store_set_insert_batching(). */
#define STORE_INSERT_BATCH_LIMIT	 1000
#define STORE_INSERT_QUEUE_MAX_DEFAULT	 1024
#define STORE_INSERT_QUEUE_BYTES_DEFAULT ((size_t)16 * 1024 * 1024)

/*
 * Sets the insert batching (before serving): at most batch_max rows per statement (1, the
 * default: every insert runs alone, unqueued; at most STORE_INSERT_BATCH_LIMIT), at most
 * queue_max requests and queue_bytes bytes (their text, ids and bookkeeping) waiting.
 */
void store_set_insert_batching(struct store *s, size_t batch_max, size_t queue_max,
			       size_t queue_bytes);

/* ERR_NOT_FOUND when there is no such review. */
int store_review_delete(struct store *s, long long id, struct buf *msg);

#endif
