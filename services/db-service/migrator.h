/*
 * migrator.h: applies the schema in the background until it succeeds.
 *
 * db-service starts serving HTTP before PostgreSQL is reachable (/healthz answers, /readyz
 * says why it is not ready, data endpoints answer 503). A migrator thread calls
 * store_migrate() until it succeeds, logging one line per failed attempt and waiting between
 * attempts (250 ms doubling to 5 s). migrator_stop() interrupts the wait and joins the thread;
 * an attempt in progress finishes first (it is bounded by libpq's connect_timeout).
 */
#ifndef DB_SERVICE_MIGRATOR_H
#define DB_SERVICE_MIGRATOR_H

#include "store.h"

struct migrator;

/* Starts the thread. store must outlive the migrator. */
struct migrator *migrator_start(struct store *store);
/* Stops the thread (if still retrying), joins it and frees m. */
void migrator_stop(struct migrator *m);

#endif
