/*
 * handlers.h: db-service's HTTP API, as a route table for the HTTP layer (http.h).
 *
 *	GET    /books          all books
 *	GET    /books/{id}     one book, 404 when absent
 *	GET    /reviews        ?limit=1..1000 (default 100), newest first
 *	POST   /reviews        {"reviewText", "sentiment"?, "eventId"?} -> 201 row, or 200 with
 *	                       the existing row when eventId was already stored
 *	DELETE /reviews/{id}   204, 404 when absent
 *
 * Handlers are thin: validate with review.h, run the query with store.h, render JSON.
 * Every handler expects req->ctx to be the struct store.
 */
#ifndef DB_SERVICE_HANDLERS_H
#define DB_SERVICE_HANDLERS_H

#include <stddef.h>

#include "common/buf.h"
#include "common/route.h"

/* The route table (a static const struct route routes[] in handlers.c) and its size in *n. */
const struct route *handlers_routes(size_t *n);

/* The /readyz callback: ctx is the struct store. */
int handlers_ready(void *ctx, struct buf *reason);

#endif
