/*
 * pq.h: the libpq helpers db-service builds on: connecting with bounded waits, running one
 * parameterized statement, and mapping every failure to an err.h code in one place.
 *
 * Error mapping (pq_check): no result, a broken connection, SQLSTATE class 08 (connection
 * exception), 53 (insufficient resources), 57P01..57P03 (admin/crash shutdown, cannot connect
 * now) and 25006 (read-only: a standby) → ERR_UNAVAILABLE (503, retry later); class 40
 * (serialization failure, deadlock: the transaction was rolled back) → ERR_CONFLICT (409, run
 * it again); class 23 (integrity) and 22 (data exception) → ERR_VALIDATION; anything else →
 * ERR_INTERNAL. The server's text is logged at warn level; only
 * a short, stable reason is appended to msg, because msg is shown to HTTP clients.
 *
 * A PGconn is used by one thread at a time (the pool in store.h guarantees it).
 */
#ifndef DB_SERVICE_PQ_H
#define DB_SERVICE_PQ_H

#include <libpq-fe.h>

#include "common/buf.h"

/* Seconds libpq may spend establishing one connection (libpq's connect_timeout). */
#define PQ_CONNECT_TIMEOUT_S "3"

/*
 * Opens a connection. conninfo is a libpq URI or key=value string; "" means libpq's PG*
 * environment variables and defaults. A connect_timeout inside conninfo wins over ours.
 * Returns the connection (caller PQfinish()es it), or NULL with the reason in msg.
 */
PGconn *pq_connect(const char *conninfo, struct buf *msg);

/*
 * Checks the syntax of conninfo (URI or key=value; "" is valid) without connecting.
 * Returns 0, or ERR_BAD_REQUEST with libpq's reason in msg.
 */
int pq_conninfo_check(const char *conninfo, struct buf *msg);

/*
 * Whether an idle connection still looks usable: reads whatever the server sent while it was
 * idle (a termination notice, EOF) without blocking. Returns 1 if usable, 0 if not.
 */
int pq_alive(PGconn *c);

/* Maps res (may be NULL) on c to 0 or an ERR_* code (see above). Does not clear res. */
int pq_check(PGconn *c, const PGresult *res, struct buf *msg);

/*
 * Runs one statement with text parameters (params[i] NULL = SQL NULL) and text results. A
 * statement with parameters is prepared on c the first time c runs it (at most 32 per
 * connection; connections from pq_connect() only), and executed prepared from then on.
 * Returns 0 and *out (caller PQclear()s it), or an ERR_* code with *out NULL.
 */
int pq_exec(PGconn *c, const char *sql, int nparams, const char *const *params, PGresult **out,
	    struct buf *msg);

/* Runs a statement whose result is not needed. */
int pq_run(PGconn *c, const char *sql, int nparams, const char *const *params, struct buf *msg);

#endif
