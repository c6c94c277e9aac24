/*
 * schema.c: the migrations and schema_apply() (see schema.h).
 */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/err.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "pq.h"
#include "pq_api.h"

static const char *const v1_tables[] = {
	"CREATE TABLE book_reviews ("
	" id serial PRIMARY KEY,"
	" post_time timestamp NOT NULL,"
	" content text NOT NULL,"
	" sentiment text,"
	" event_id text,"
	" CONSTRAINT sentiment_check CHECK (sentiment IN ('positive', 'negative', 'neutral')),"
	" CONSTRAINT book_reviews_event_id_key UNIQUE (event_id))",
	"CREATE INDEX book_reviews_post_time_idx ON book_reviews (post_time)",
	"CREATE TABLE books ("
	" id serial PRIMARY KEY,"
	" title text NOT NULL,"
	" author text NOT NULL,"
	" isbn text NOT NULL UNIQUE,"
	" publisher text NOT NULL,"
	" published_date date NOT NULL,"
	" description text NOT NULL,"
	" price numeric(10,2) NOT NULL CHECK (price >= 0),"
	" currency text NOT NULL DEFAULT 'USD',"
	" cover text NOT NULL)",
	NULL,
};

static const char *const v2_seed[] = {
	"INSERT INTO books (title, author, isbn, publisher, published_date, description, price,"
	" currency, cover) VALUES ('Building serverless applications on Knative',"
	" 'Evan Anderson', '978-1098142070', 'Oreilly & Associates Inc', '2023-12-19',"
	" 'A Guide to Designing and Writing Serverless Cloud Application', 49.00, 'USD',"
	" '/images/cover.svg')",
	"INSERT INTO book_reviews (post_time, content, sentiment) VALUES"
	" ('2020-01-01 00:00:00', 'This book is great!', 'positive'),"
	" ('2020-01-02 00:02:00', 'This book is terrible!', 'negative'),"
	" ('2020-01-03 00:01:30', 'This book is okay.', 'neutral'),"
	" ('2020-01-04 00:00:00', 'Meh', 'neutral')",
	NULL,
};

/*
 * CloudEvents identify an event by source and id together: two sources may use the same id.
 * Rows stored before have the empty source, as does a POST without an eventSource.
 */
static const char *const v3_event_source[] = {
	"ALTER TABLE book_reviews ADD COLUMN event_source text NOT NULL DEFAULT ''",
	"ALTER TABLE book_reviews DROP CONSTRAINT book_reviews_event_id_key",
	"ALTER TABLE book_reviews ADD CONSTRAINT book_reviews_event_key"
	" UNIQUE (event_source, event_id)",
	NULL,
};

const struct migration schema_migrations[] = {
	{ 1, "create book_reviews and books", v1_tables },
	{ 2, "seed the book and the sample reviews", v2_seed },
	{ 3, "key reviews by event source and id", v3_event_source },
};
const size_t schema_nmigrations = ARRAY_SIZE(schema_migrations);

static const char *const prologue[] = {
	"BEGIN",
	"SET LOCAL lock_timeout = '" SCHEMA_LOCK_TIMEOUT "'",
	"SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ")",
	"CREATE TABLE IF NOT EXISTS schema_migrations ("
	" version integer PRIMARY KEY,"
	" name text NOT NULL,"
	" applied_at timestamptz NOT NULL DEFAULT now())",
	NULL,
};

static int run_all(PGconn *c, const char *const *stmts, struct buf *msg)
{
	for (size_t i = 0; stmts[i]; i++) {
		int rc = pq_run(c, stmts[i], 0, NULL, msg);

		if (rc)
			return rc;
	}
	return 0;
}

/* The highest recorded version (0 when none). */
static int current_version(PGconn *c, int *version, struct buf *msg)
{
	PGresult *res;
	int rc = pq_exec(c, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL,
			 &res, msg);

	if (rc)
		return rc;
	*version = (int)strtol(pq_api_get()->getvalue(res, 0, 0), NULL, 10);
	pq_api_get()->clear(res);
	return 0;
}

static int apply_one(PGconn *c, const struct migration *m, struct buf *msg)
{
	char version[16];
	const char *params[2] = { version, m->name };
	int rc;

	snprintf(version, sizeof(version), "%d", m->version);
	rc = run_all(c, m->statements, msg);
	if (rc)
		return rc;
	rc = pq_run(c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, params,
		    msg);
	if (rc == 0)
		log_info("schema: applied migration %d (%s)", m->version, m->name);
	return rc;
}

int schema_apply(PGconn *c, int *applied, struct buf *msg)
{
	int version = 0, rc;

	*applied = 0;
	rc = run_all(c, prologue, msg);
	if (rc)
		goto fail;
	rc = current_version(c, &version, msg);
	if (rc)
		goto fail;
	for (size_t i = 0; i < schema_nmigrations; i++) {
		if (schema_migrations[i].version <= version)
			continue;
		rc = apply_one(c, &schema_migrations[i], msg);
		if (rc)
			goto fail;
		(*applied)++;
	}
	rc = pq_run(c, "COMMIT", 0, NULL, msg);
	if (rc)
		goto fail;
	return 0;
fail:
	*applied = 0;
	/* Harmless when no transaction is open; on a broken connection it just fails. */
	pq_api_get()->clear(pq_api_get()->exec(c, "ROLLBACK"));
	return rc;
}
