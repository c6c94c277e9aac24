/*
 * store.c: the connection pool and the queries (see store.h).
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "common/err.h"
#include "common/clock.h"
#include "common/locked.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "pq.h"
#include "pq_api.h"
#include "schema.h"

#define BACKOFF_MIN_MS	 250
#define BACKOFF_MAX_MS	 2000
#define CHECKOUT_WAIT_MS 10000
#define INSERT_ATTEMPTS	 3
#define PING_PATIENCE_MS 2000 /* a /readyz ping that has not answered by then: not ready */

struct store {
	char *conninfo;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a connection slot was returned */
	PGconn **idle;	   /* connections ready for use */
	size_t nidle;
	size_t size; /* most connections at once */
	size_t busy; /* slots checked out (connected or connecting) */
	long long retry_at_ms;
	long long backoff_ms;
	char down_reason[200]; /* why the last connect failed ("" when up) */
	int migrated;
	/* /readyz's ping (store_ready()), run by the pinger thread one at a time, under mu */
	pthread_t pinger;
	pthread_cond_t ping_cv; /* a ping was asked for or ended, or the store stops */
	int ping_wanted;	/* a probe asked for a ping the pinger has not begun */
	int ping_running;	/* asked for and not ended */
	int stopping;
	long long ping_started_ms; /* CLOCK_MONOTONIC */
	unsigned long pings_ended;
	int ping_rc;	       /* the last ping's outcome: 0 or an ERR_* */
	char ping_reason[240]; /* and its reason, when it failed */
	/* Insert batching (see store.h), under mu. */
	pthread_cond_t batch_cv;   /* a batch finished */
	struct insert_req *qhead;  /* inserts waiting for a leader, oldest first */
	struct insert_req **qtail; /* &last->next, or &qhead */
	size_t qcount, qbytes;	   /* what waits in the queue */
	size_t batch_max;	   /* most rows per batch; 1 = one statement per insert */
	size_t queue_max, queue_bytes_max;
	int batch_running; /* a leader has a batch in PostgreSQL */
	struct metric_series *m_queue, *m_batches, *m_batch_rows, *m_fallbacks;
};

/* The one unlabelled series of a new counter of the default registry. */
static struct metric_series *counter(const char *name, const char *help)
{
	return metrics_series(metrics_counter(metrics_default(), name, help, NULL), NULL);
}

static void *pinger_main(void *arg);

struct store *store_new(const char *conninfo, size_t pool_size)
{
	struct store *s = xcalloc(1, sizeof(*s));

	s->conninfo = xstrdup(conninfo ? conninfo : "");
	s->size = pool_size ? pool_size : 1;
	s->idle = xcalloc(s->size, sizeof(PGconn *));
	s->backoff_ms = BACKOFF_MIN_MS;
	s->qtail = &s->qhead;
	s->batch_max = 1;
	s->queue_max = STORE_INSERT_QUEUE_MAX_DEFAULT;
	s->queue_bytes_max = STORE_INSERT_QUEUE_BYTES_DEFAULT;
	pthread_mutex_init(&s->mu, NULL);
	(void)clock_cond_init(&s->cv);
	pthread_cond_init(&s->batch_cv, NULL);
	(void)clock_cond_init(&s->ping_cv);
	if (pthread_create(&s->pinger, NULL, pinger_main, s) != 0) {
		log_error("database: cannot start the /readyz ping thread");
		abort();
	}
	s->m_queue = metrics_series(metrics_gauge(metrics_default(), "db_insert_queue_length",
						  "Review inserts waiting for a batch.", NULL),
				    NULL);
	s->m_batches = counter("db_insert_batches_total",
			       "Batch statements run (two or more review inserts each).");
	s->m_batch_rows = counter("db_insert_batch_requests_total",
				  "Review inserts that went into a batch statement.");
	s->m_fallbacks = counter("db_insert_batch_fallbacks_total",
				 "Batch statements that failed, so their inserts ran one by one.");
	return s;
}

void store_free(struct store *s)
{
	if (!s)
		return;
	locked_raise(&s->mu, &s->ping_cv, &s->stopping);
	pthread_join(s->pinger, NULL); /* a ping under way ends as every query does (pq.h) */
	for (size_t i = 0; i < s->nidle; i++)
		pq_api_get()->finish(s->idle[i]);
	pthread_cond_destroy(&s->ping_cv);
	pthread_cond_destroy(&s->batch_cv);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s->idle);
	free(s->conninfo);
	free(s);
}

/* Waits (s->mu held) until a slot is free. Returns 0 or ERR_OVERLOADED. */
static int wait_slot(struct store *s)
{
	long long deadline = clock_mono_ms() + CHECKOUT_WAIT_MS;
	struct timespec ts = { .tv_sec = deadline / 1000, .tv_nsec = (deadline % 1000) * 1000000 };

	while (s->nidle == 0 && s->busy >= s->size) {
		if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT)
			return ERR_OVERLOADED;
	}
	return 0;
}

static void release_slot(struct store *s, PGconn *c)
{
	pthread_mutex_lock(&s->mu);
	if (c)
		s->idle[s->nidle++] = c;
	s->busy--;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Opens a new connection for a slot already taken, honouring the backoff. */
static int connect_slot(struct store *s, PGconn **out, struct buf *msg)
{
	struct buf why;
	int in_backoff;

	pthread_mutex_lock(&s->mu);
	in_backoff = clock_mono_ms() < s->retry_at_ms;
	pthread_mutex_unlock(&s->mu);
	if (in_backoff) {
		buf_appends(msg, "the database is unavailable");
		return ERR_UNAVAILABLE;
	}
	buf_init(&why, 1024);
	*out = pq_connect(s->conninfo, &why);
	pthread_mutex_lock(&s->mu);
	if (*out) {
		s->backoff_ms = BACKOFF_MIN_MS;
		s->retry_at_ms = 0;
		s->down_reason[0] = '\0';
	} else {
		s->retry_at_ms = clock_mono_ms() + s->backoff_ms;
		s->backoff_ms =
		    s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
		snprintf(s->down_reason, sizeof(s->down_reason), "%s", why.data);
	}
	pthread_mutex_unlock(&s->mu);
	if (!*out) {
		log_warn("database: cannot connect: %s", why.data);
		buf_appends(msg, "the database is unavailable");
	}
	buf_release(&why);
	return *out ? 0 : ERR_UNAVAILABLE;
}

/* How store_run() runs an operation. */
enum run_flags {
	RUN_REPEATABLE = 1 << 0, /* safe to run twice: see store.h for when it is */
	RUN_NOW = 1 << 1,	 /* no waiting for a slot: every one busy is ERR_OVERLOADED */
};

/*
 * Checks a connection out, waiting up to CHECKOUT_WAIT_MS for a slot unless RUN_NOW. *reused
 * tells whether it served an earlier operation.
 */
static int checkout(struct store *s, unsigned flags, PGconn **out, int *reused, struct buf *msg)
{
	PGconn *c = NULL;
	int rc;

	pthread_mutex_lock(&s->mu);
	if (!(flags & RUN_NOW))
		rc = wait_slot(s);
	else
		rc = s->nidle == 0 && s->busy >= s->size ? ERR_OVERLOADED : 0;
	if (rc == 0) {
		s->busy++;
		if (s->nidle > 0)
			c = s->idle[--s->nidle];
	}
	pthread_mutex_unlock(&s->mu);
	if (rc) {
		buf_appends(msg, "every database connection is busy");
		return rc;
	}
	if (c && pq_alive(c)) {
		*out = c;
		*reused = 1;
		return 0;
	}
	if (c) {
		log_info("database: dropping a broken connection");
		pq_api_get()->finish(c);
	}
	*reused = 0;
	rc = connect_slot(s, out, msg);
	if (rc)
		release_slot(s, NULL);
	return rc;
}

/* Returns a connection; one that is broken or left inside a transaction is closed. */
static void checkin(struct store *s, PGconn *c)
{
	if (pq_api_get()->status(c) != CONNECTION_OK ||
	    pq_api_get()->transactionStatus(c) != PQTRANS_IDLE) {
		pq_api_get()->finish(c);
		c = NULL;
	}
	release_slot(s, c);
}

typedef int (*store_op_fn)(PGconn *c, void *arg, struct buf *msg);

/* Runs op on a pooled connection; see store.h for when it runs a second time. */
static int store_run(struct store *s, store_op_fn op, void *arg, unsigned flags, struct buf *msg)
{
	size_t mark = msg->len;

	for (int attempt = 0;; attempt++) {
		PGconn *c;
		int reused, rc;

		rc = checkout(s, flags, &c, &reused, msg);
		if (rc)
			return rc;
		rc = op(c, arg, msg);
		checkin(s, c);
		if (!(flags & RUN_REPEATABLE) || attempt > 0 ||
		    !(rc == ERR_CONFLICT || (rc == ERR_UNAVAILABLE && reused)))
			return rc;
		log_info(rc == ERR_CONFLICT
			     ? "database: the transaction was rolled back, running it once more"
			     : "database: connection lost, trying once more on a new one");
		buf_setlen(msg, mark);
	}
}

int store_migrated(struct store *s)
{
	return locked_int(&s->mu, &s->migrated);
}

static int migrate_op(PGconn *c, void *arg, struct buf *msg)
{
	int *applied = arg;

	return schema_apply(c, applied, msg);
}

int store_migrate(struct store *s, struct buf *msg)
{
	int applied = 0;
	int rc = store_run(s, migrate_op, &applied, RUN_REPEATABLE, msg);

	if (rc)
		return rc;
	log_info("schema: up to date (%d migration(s) applied now, %zu known)", applied,
		 schema_nmigrations);
	pthread_mutex_lock(&s->mu);
	s->migrated = 1;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* Runs op once the schema is in place. */
static int store_serve(struct store *s, store_op_fn op, void *arg, unsigned flags, struct buf *msg)
{
	if (!store_migrated(s)) {
		buf_appends(msg, "the database schema is not ready yet");
		return ERR_UNAVAILABLE;
	}
	return store_run(s, op, arg, flags, msg);
}

static int ping_op(PGconn *c, void *arg, struct buf *msg)
{
	(void)arg;
	return pq_run(c, "SELECT 1", 0, NULL, msg);
}

/* One ping, on the pinger thread; records its outcome (mu held on return). */
static void ping_once(struct store *s)
{
	struct buf msg;
	int rc;

	buf_init(&msg, 1024);
	/* Every connection at work is busy, not down. */
	rc = store_run(s, ping_op, NULL, RUN_REPEATABLE | RUN_NOW, &msg);
	pthread_mutex_lock(&s->mu);
	if (rc == ERR_OVERLOADED)
		rc = s->down_reason[0] ? ERR_UNAVAILABLE : 0;
	s->ping_rc = rc;
	s->ping_reason[0] = '\0';
	if (rc)
		snprintf(s->ping_reason, sizeof(s->ping_reason), "database: %s",
			 s->down_reason[0] ? s->down_reason : msg.data);
	s->ping_running = 0;
	s->pings_ended++;
	pthread_cond_broadcast(&s->ping_cv);
	buf_release(&msg);
}

/* The pinger: runs the pings store_ready() asks for, so no probe's thread waits on one. */
static void *pinger_main(void *arg)
{
	struct store *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->ping_wanted && !s->stopping)
			pthread_cond_wait(&s->ping_cv, &s->mu);
		if (s->stopping)
			break;
		s->ping_wanted = 0;
		pthread_mutex_unlock(&s->mu);
		ping_once(s);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* The answer from the last ping (mu held), or not ready once the ping under way has waited
 * PING_PATIENCE_MS (a database that accepts but never answers). */
static int ping_answer(struct store *s, struct buf *reason)
{
	long long waited = clock_mono_ms() - s->ping_started_ms;

	if (s->ping_running && waited >= PING_PATIENCE_MS) {
		buf_appendf(reason, "database: a ping has had no answer for %lld ms", waited);
		return ERR_UNAVAILABLE;
	}
	if (s->ping_rc)
		buf_appends(reason, s->ping_reason);
	return s->ping_rc;
}

int store_ready(struct store *s, struct buf *reason)
{
	struct timespec deadline;
	unsigned long ended;
	int rc;

	if (!store_migrated(s)) {
		buf_appends(reason, "database: schema not applied yet");
		return -1;
	}
	pthread_mutex_lock(&s->mu);
	if (!s->ping_running) {
		/* This probe asks for a ping and waits for it, a while at most. */
		s->ping_running = 1;
		s->ping_wanted = 1;
		s->ping_started_ms = clock_mono_ms();
		pthread_cond_broadcast(&s->ping_cv);
		ended = s->pings_ended;
		clock_mono_timespec(&deadline, s->ping_started_ms + PING_PATIENCE_MS);
		while (s->pings_ended == ended &&
		       pthread_cond_timedwait(&s->ping_cv, &s->mu, &deadline) != ETIMEDOUT)
			;
	}
	rc = ping_answer(s, reason);
	pthread_mutex_unlock(&s->mu);
	return rc ? -1 : 0;
}

/* ---- rows ------------------------------------------------------------------------------ */

/* A text cell as a JSON string, or null for SQL NULL (or text that is not UTF-8). */
/* The text of a cell, or NULL for SQL NULL. */
static const char *cell_text(const PGresult *r, int row, int col)
{
	return pq_api_get()->getisnull(r, row, col) ? NULL : pq_api_get()->getvalue(r, row, col);
}

static json_t *cell_str(const PGresult *r, int row, int col)
{
	json_t *v;

	if (pq_api_get()->getisnull(r, row, col))
		return json_null();
	v = json_stringn(pq_api_get()->getvalue(r, row, col),
			 (size_t)pq_api_get()->getlength(r, row, col));
	return v ? v : json_null();
}

static json_t *cell_int(const PGresult *r, int row, int col)
{
	return json_integer(strtoll(pq_api_get()->getvalue(r, row, col), NULL, 10));
}

/* Builds an object from the columns of one row; names[i] names column i. */
static json_t *row_object(const PGresult *r, int row, const char *const *names)
{
	json_t *o = json_object();

	json_object_set_new(o, names[0], cell_int(r, row, 0));
	for (int col = 1; names[col]; col++)
		json_object_set_new(o, names[col], cell_str(r, row, col));
	return o;
}

static json_t *rows_array(const PGresult *r, const char *const *names)
{
	json_t *a = json_array();

	for (int i = 0; i < pq_api_get()->ntuples(r); i++)
		json_array_append_new(a, row_object(r, i, names));
	return a;
}

#define REVIEW_COLS                                                                         \
	"id, to_char(post_time, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), content, sentiment, " \
	"event_id, nullif(event_source, '')"
static const char *const review_names[] = { "id",	"post_time",	"content", "sentiment",
					    "event_id", "event_source", NULL };

#define BOOK_COLS                                                                     \
	"id, title, author, isbn, publisher, to_char(published_date, 'YYYY-MM-DD'), " \
	"description, price::text, currency, cover"
static const char *const book_names[] = { "id",	       "title",		 "author",	"isbn",
					  "publisher", "published_date", "description", "price",
					  "currency",  "cover",		 NULL };

/* ---- operations ------------------------------------------------------------------------ */

struct query_op {
	const char *sql;
	int nparams;
	const char *const *params;
	const char *const *names;
	int single;	     /* one object (ERR_NOT_FOUND when no row) instead of an array */
	const char *missing; /* message for ERR_NOT_FOUND */
	json_t *out;
};

static int query_op(PGconn *c, void *arg, struct buf *msg)
{
	struct query_op *q = arg;
	PGresult *res;
	int rc = pq_exec(c, q->sql, q->nparams, q->params, &res, msg);

	if (rc)
		return rc;
	if (!q->single) {
		q->out = rows_array(res, q->names);
	} else if (pq_api_get()->ntuples(res) == 0) {
		buf_appends(msg, q->missing);
		rc = ERR_NOT_FOUND;
	} else {
		q->out = row_object(res, 0, q->names);
	}
	pq_api_get()->clear(res);
	return rc;
}

int store_books_list(struct store *s, json_t **out, struct buf *msg)
{
	struct query_op q = { .sql = "SELECT " BOOK_COLS " FROM books ORDER BY id",
			      .names = book_names };
	int rc = store_serve(s, query_op, &q, RUN_REPEATABLE, msg);

	*out = q.out;
	return rc;
}

int store_book_get(struct store *s, long long id, json_t **out, struct buf *msg)
{
	char idtext[24];
	const char *params[1] = { idtext };
	struct query_op q = { .sql = "SELECT " BOOK_COLS " FROM books WHERE id = $1",
			      .nparams = 1,
			      .params = params,
			      .names = book_names,
			      .single = 1,
			      .missing = "no such book" };
	int rc;

	snprintf(idtext, sizeof(idtext), "%lld", id);
	rc = store_serve(s, query_op, &q, RUN_REPEATABLE, msg);
	*out = q.out;
	return rc;
}

int store_reviews_list(struct store *s, int limit, json_t **out, struct buf *msg)
{
	char lim[16];
	const char *params[1] = { lim };
	struct query_op q = { .sql = "SELECT " REVIEW_COLS " FROM book_reviews"
				     " ORDER BY post_time DESC, id DESC LIMIT $1",
			      .nparams = 1,
			      .params = params,
			      .names = review_names };
	int rc;

	snprintf(lim, sizeof(lim), "%d", limit);
	rc = store_serve(s, query_op, &q, RUN_REPEATABLE, msg);
	*out = q.out;
	return rc;
}

struct insert_op {
	const struct review_input *in;
	json_t *row;
	int created;
};

/*
 * INSERT ... ON CONFLICT DO NOTHING returns no row when the event key (source and id) exists;
 * the SELECT that follows runs in a new snapshot (autocommit, read committed), so it sees the
 * row that won, including one committed by a concurrent insert this statement waited for.
 */
static int insert_op(PGconn *c, void *arg, struct buf *msg)
{
	struct insert_op *op = arg;
	const char *params[4] = { op->in->text, op->in->sentiment, op->in->event_id,
				  op->in->event_source };
	PGresult *res;
	int rc;

	for (int attempt = 0; attempt < INSERT_ATTEMPTS; attempt++) {
		rc = pq_exec(
		    c,
		    "INSERT INTO book_reviews"
		    " (post_time, content, sentiment, event_id, event_source)"
		    " VALUES (date_trunc('milliseconds', statement_timestamp()"
		    " AT TIME ZONE 'UTC'), $1, $2, $3, coalesce($4, ''))"
		    " ON CONFLICT (event_source, event_id) DO NOTHING RETURNING " REVIEW_COLS,
		    4, params, &res, msg);
		if (rc)
			return rc;
		op->created = pq_api_get()->ntuples(res) == 1;
		if (!op->created && op->in->event_id) {
			pq_api_get()->clear(res);
			rc = pq_exec(c,
				     "SELECT " REVIEW_COLS " FROM book_reviews"
				     " WHERE event_id = $1 AND event_source = coalesce($2, '')",
				     2, params + 2, &res, msg);
			if (rc)
				return rc;
		}
		if (pq_api_get()->ntuples(res) == 1) {
			op->row = row_object(res, 0, review_names);
			pq_api_get()->clear(res);
			return 0;
		}
		pq_api_get()->clear(res); /* deleted between the two statements: insert again */
	}
	buf_appends(msg, "the review could not be stored, try again");
	return ERR_CONFLICT;
}

/* ---- insert batching ----------------------------------------------------------------- */

/* One POST /reviews in the queue or in a batch; lives on its caller's stack. */
struct insert_req {
	struct insert_req *next;
	const struct review_input *in;
	size_t bytes; /* what it holds in the queue */
	json_t *row;  /* the answer, once resolved (owned until handed to the caller) */
	int created;
	int rc;
	int done;	/* the leader finished with it (under mu) */
	struct buf msg; /* the reason when rc != 0 */
};

struct batch_op {
	struct insert_req **reqs;
	size_t n;
	int inserted; /* the batch INSERT committed: no request may be inserted blindly again */
};

/*
 * The batch: the rows come as four text arrays, so one prepared statement serves any batch
 * size. unnest() yields the rows in array order and the serial ids follow that order.
 */
#define BATCH_INSERT_SQL                                                                   \
	"INSERT INTO book_reviews (post_time, content, sentiment, event_id, event_source)" \
	" SELECT date_trunc('milliseconds', statement_timestamp() AT TIME ZONE 'UTC'),"    \
	" t.c, t.s, t.e, t.src"                                                            \
	" FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(c, s, e, src)"  \
	" ON CONFLICT (event_source, event_id) DO NOTHING RETURNING " REVIEW_COLS
#define BATCH_SELECT_SQL                           \
	"SELECT " REVIEW_COLS " FROM book_reviews" \
	" WHERE (event_id, event_source) IN"       \
	" (SELECT * FROM unnest($1::text[], $2::text[]))"

static size_t insert_bytes(const struct review_input *in)
{
	return sizeof(struct insert_req) + strlen(in->text) +
	       (in->sentiment ? strlen(in->sentiment) : 0) +
	       (in->event_id ? strlen(in->event_id) : 0) +
	       (in->event_source ? strlen(in->event_source) : 0);
}

/* Today's path for one insert: its own statement(s), with store_run()'s retry rule. */
static void insert_one(struct store *s, struct insert_req *r)
{
	struct insert_op op = { .in = r->in };

	r->rc = store_serve(s, insert_op, &op, r->in->event_id ? RUN_REPEATABLE : 0, &r->msg);
	r->row = op.row;
	r->created = op.created;
}

/* The source of an event key: no eventSource is the empty one (see review.h). */
static const char *key_source(const char *source)
{
	return source ? source : "";
}

/* Whether in carries the event key (id, source); a NULL id matches only inputs without one. */
static int key_is(const struct review_input *in, const char *id, const char *source)
{
	if (!id || !in->event_id)
		return !id && !in->event_id;
	return strcmp(in->event_id, id) == 0 &&
	       strcmp(key_source(in->event_source), key_source(source)) == 0;
}

/* The index of the first request of the batch with the event key of reqs[i] (i if none). */
static size_t batch_first(const struct batch_op *b, size_t i)
{
	const struct review_input *in = b->reqs[i]->in;

	for (size_t j = 0; in->event_id && j < i; j++) {
		if (key_is(b->reqs[j]->in, in->event_id, in->event_source))
			return j;
	}
	return i;
}

/* The first unresolved request of the batch with the event key (id NULL: one without an id). */
static struct insert_req *batch_match(const struct batch_op *b, const char *id, const char *source)
{
	for (size_t i = 0; i < b->n; i++) {
		struct insert_req *r = b->reqs[i];

		if (!r->row && key_is(r->in, id, source))
			return r;
	}
	return NULL;
}

/* Appends v (NULL = SQL NULL) as one element of a PostgreSQL array literal. */
static void array_append(struct buf *a, const char *v)
{
	if (a->len > 1)
		(void)buf_appendc(a, ',');
	if (!v) {
		(void)buf_appends(a, "NULL");
		return;
	}
	(void)buf_appendc(a, '"');
	while (*v) {
		size_t n = strcspn(v, "\"\\");

		(void)buf_append(a, v, n);
		v += n;
		if (*v) {
			(void)buf_appendc(a, '\\');
			(void)buf_appendc(a, *v++);
		}
	}
	(void)buf_appendc(a, '"');
}

/* Gives each returned row to its request; created tells whether the rows are new. */
static void batch_take_rows(struct batch_op *b, const PGresult *res, int created)
{
	for (int i = 0; i < pq_api_get()->ntuples(res); i++) {
		const char *id = cell_text(res, i, 4), *source = cell_text(res, i, 5);
		struct insert_req *r = batch_match(b, id, source);

		if (!r)
			continue;
		r->row = row_object(res, i, review_names);
		r->created = created;
	}
}

/* Starts the PostgreSQL array literals arr[from..to) afresh: "{". */
static void arrays_open(struct buf *arr, int from, int to)
{
	for (int i = from; i < to; i++) {
		buf_reset(&arr[i]);
		(void)buf_appendc(&arr[i], '{');
	}
}

/* Ends the array literals arr[from..to) and points params[0..] at them. */
static void arrays_close(struct buf *arr, int from, int to, const char **params)
{
	for (int i = from; i < to; i++) {
		(void)buf_appendc(&arr[i], '}');
		params[i - from] = arr[i].data;
	}
}

/* The batch's rows, one per distinct event key, in one INSERT; arr is scratch. */
static int batch_insert(PGconn *c, struct batch_op *b, struct buf *arr, struct buf *msg)
{
	const char *params[4];
	PGresult *res;
	int rc;

	arrays_open(arr, 0, 4);
	for (size_t i = 0; i < b->n; i++) {
		const struct review_input *in = b->reqs[i]->in;

		if (batch_first(b, i) != i)
			continue; /* a second request for the same event key: not sent twice */
		array_append(&arr[0], in->text);
		array_append(&arr[1], in->sentiment);
		array_append(&arr[2], in->event_id);
		array_append(&arr[3], key_source(in->event_source));
	}
	arrays_close(arr, 0, 4, params);
	rc = pq_exec(c, BATCH_INSERT_SQL, 4, params, &res, msg);
	if (rc)
		return rc;
	b->inserted = 1;
	batch_take_rows(b, res, 1);
	pq_api_get()->clear(res);
	return 0;
}

/*
 * The rows stored already under the keys the INSERT skipped (a retry, or a concurrent insert
 * that won); arr is scratch.
 */
static int batch_read_existing(PGconn *c, struct batch_op *b, struct buf *arr, struct buf *msg)
{
	const char *params[2];
	PGresult *res;
	size_t existing = 0;
	int rc;

	arrays_open(arr, 2, 4);
	for (size_t i = 0; i < b->n; i++) {
		struct insert_req *r = b->reqs[i];

		if (!r->row && r->in->event_id && batch_first(b, i) == i) {
			array_append(&arr[2], r->in->event_id);
			array_append(&arr[3], key_source(r->in->event_source));
			existing++;
		}
	}
	arrays_close(arr, 2, 4, params);
	if (existing == 0)
		return 0;
	rc = pq_exec(c, BATCH_SELECT_SQL, 2, params, &res, msg);
	if (rc)
		return rc;
	batch_take_rows(b, res, 0);
	pq_api_get()->clear(res);
	return 0;
}

/*
 * Inserts the batch's rows (one per distinct event key) in one statement, then reads the rows
 * already stored under the other keys. Requests left without a row are settled by the caller.
 */
static int batch_op(PGconn *c, void *arg, struct buf *msg)
{
	struct batch_op *b = arg;
	struct buf arr[4];
	int rc;

	for (int i = 0; i < 4; i++)
		buf_init(&arr[i], BUF_NOCAP); /* bounded by the queue's byte limit */
	rc = batch_insert(c, b, arr, msg);
	if (rc == 0)
		rc = batch_read_existing(c, b, arr, msg);
	for (int i = 0; i < 4; i++)
		buf_release(&arr[i]);
	return rc;
}

/*
 * Runs one batch (no lock held) and settles every request in it. When the batch statement
 * fails, nothing of it was stored, and each request runs alone as it would without batching,
 * so one bad row fails only its own request. A request the batch left without a row (its
 * stored row was deleted in between, or the follow-up read failed) also runs alone.
 */
static void batch_run(struct store *s, struct insert_req **reqs, size_t n)
{
	struct batch_op b = { .reqs = reqs, .n = n };
	struct buf why;
	int rc;

	if (n == 1) {
		insert_one(s, reqs[0]);
		return;
	}
	buf_init(&why, 1024);
	metrics_inc(s->m_batches);
	metrics_add(s->m_batch_rows, (double)n);
	rc = store_serve(s, batch_op, &b, 0, &why);
	if (rc && !b.inserted) {
		metrics_inc(s->m_fallbacks);
		log_info("database: a batch of %zu inserts failed (%s), inserting one by one", n,
			 why.data);
	}
	for (size_t i = 0; i < n; i++) {
		struct insert_req *r = reqs[i];
		struct insert_req *first = reqs[batch_first(&b, i)];

		if (r->row)
			continue;
		if (!b.inserted &&
		    (rc == ERR_OVERLOADED || (rc == ERR_UNAVAILABLE && !r->in->event_id))) {
			/* as alone: no connection, or not repeatable without an event id */
			r->rc = rc;
			(void)buf_append(&r->msg, why.data, why.len);
		} else if (first != r && first->row) {
			r->row = json_deep_copy(first->row);
			r->created = 0;
		} else {
			insert_one(s, r);
		}
	}
	buf_release(&why);
}

/*
 * Leads one batch (s->mu held; dropped while the batch runs): takes up to batch_max requests
 * from the head of the queue, runs them, marks them done and wakes their callers.
 */
static void batch_lead(struct store *s)
{
	struct insert_req *reqs[STORE_INSERT_BATCH_LIMIT];
	size_t n = 0;

	while (s->qhead && n < s->batch_max) {
		struct insert_req *r = s->qhead;

		s->qhead = r->next;
		s->qcount--;
		s->qbytes -= r->bytes;
		reqs[n++] = r;
	}
	if (!s->qhead)
		s->qtail = &s->qhead;
	metrics_set(s->m_queue, (double)s->qcount);
	s->batch_running = 1;
	pthread_mutex_unlock(&s->mu);
	batch_run(s, reqs, n);
	pthread_mutex_lock(&s->mu);
	s->batch_running = 0;
	for (size_t i = 0; i < n; i++)
		reqs[i]->done = 1;
	pthread_cond_broadcast(&s->batch_cv);
}

/* Appends r to the queue (s->mu held); r stays there until a leader takes it. */
static void queue_push(struct store *s, struct insert_req *r)
{
	*s->qtail = r;
	s->qtail = &r->next;
	s->qcount++;
	s->qbytes += r->bytes;
	metrics_set(s->m_queue, (double)s->qcount);
}

void store_set_insert_batching(struct store *s, size_t batch_max, size_t queue_max,
			       size_t queue_bytes)
{
	pthread_mutex_lock(&s->mu);
	s->batch_max = batch_max < 1			      ? 1
		       : batch_max > STORE_INSERT_BATCH_LIMIT ? STORE_INSERT_BATCH_LIMIT
							      : batch_max;
	s->queue_max = queue_max ? queue_max : 1;
	s->queue_bytes_max = queue_bytes;
	pthread_mutex_unlock(&s->mu);
}

int store_review_insert(struct store *s, const struct review_input *in, json_t **row, int *created,
			struct buf *msg)
{
	struct insert_req r = { .in = in, .bytes = insert_bytes(in) };
	int rc;

	pthread_mutex_lock(&s->mu);
	if (s->batch_max <= 1) {
		pthread_mutex_unlock(&s->mu);
		buf_init(&r.msg, BUF_NOCAP);
		insert_one(s, &r);
		goto out;
	}
	if (s->qcount >= s->queue_max ||
	    (s->qcount > 0 && s->qbytes + r.bytes > s->queue_bytes_max)) {
		pthread_mutex_unlock(&s->mu);
		buf_appends(msg, "too many reviews are waiting to be stored, try again later");
		*row = NULL;
		*created = 0;
		return ERR_OVERLOADED;
	}
	buf_init(&r.msg, BUF_NOCAP);
	queue_push(s, &r);
	while (!r.done) {
		if (!s->batch_running)
			batch_lead(s);
		else
			pthread_cond_wait(&s->batch_cv, &s->mu);
	}
	pthread_mutex_unlock(&s->mu);
out:
	rc = r.rc;
	if (rc) {
		json_decref(r.row);
		r.row = NULL;
		buf_append(msg, r.msg.data, r.msg.len);
	}
	buf_release(&r.msg);
	*row = r.row;
	*created = r.created;
	return rc;
}

static int delete_op(PGconn *c, void *arg, struct buf *msg)
{
	const char *const *params = arg;
	PGresult *res;
	int rc = pq_exec(c, "DELETE FROM book_reviews WHERE id = $1", 1, params, &res, msg);

	if (rc)
		return rc;
	if (strcmp(pq_api_get()->cmdTuples(res), "0") == 0) {
		buf_appends(msg, "no such review");
		rc = ERR_NOT_FOUND;
	}
	pq_api_get()->clear(res);
	return rc;
}

int store_review_delete(struct store *s, long long id, struct buf *msg)
{
	char idtext[24];
	const char *params[1] = { idtext };

	snprintf(idtext, sizeof(idtext), "%lld", id);
	return store_serve(s, delete_op, (void *)params, RUN_REPEATABLE, msg);
}
