/*
 * schema.h: db-service's database schema as an ordered list of migrations, and the code that
 * applies the missing ones.
 *
 * schema_apply() runs in one transaction holding pg_advisory_xact_lock(SCHEMA_LOCK_KEY), so
 * two instances starting at once serialize: the second waits, then finds every version in
 * schema_migrations and applies nothing. Each migration is applied at most once per database
 * (its version is recorded in the same transaction), which is what keeps the sample reviews
 * from being seeded twice.
 *
 * Every lock the transaction waits for, the advisory lock first, is bounded by
 * SCHEMA_LOCK_TIMEOUT. A session that holds the lock and never lets go (a replica whose
 * connection the server has not yet seen die, a psql left open) then costs a failed attempt,
 * which the migrator logs and retries, instead of a query that blocks db-service's migration
 * and its shutdown until the server drops that session.
 */
#ifndef DB_SERVICE_SCHEMA_H
#define DB_SERVICE_SCHEMA_H

#include <stddef.h>

#include <libpq-fe.h>

#include "common/buf.h"

/* The advisory lock key ("bookstor" in ASCII, as a positive bigint). */
#define SCHEMA_LOCK_KEY "7093010716826431346"

/* The longest one attempt waits for any lock (PostgreSQL's lock_timeout syntax). */
#define SCHEMA_LOCK_TIMEOUT "5s"

struct migration {
	int version;		       /* strictly increasing from 1 */
	const char *name;	       /* recorded in schema_migrations */
	const char *const *statements; /* NULL-terminated; each a single SQL statement */
};

extern const struct migration schema_migrations[];
extern const size_t schema_nmigrations;

/*
 * Applies every migration not yet recorded, in version order. Returns 0 and the number
 * applied in *applied, or an ERR_* code (see pq.h; ERR_UNAVAILABLE when the database cannot
 * be reached) after rolling back.
 */
int schema_apply(PGconn *c, int *applied, struct buf *msg);

#endif
