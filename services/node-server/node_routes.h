/*
 * node_routes.h: node-server's HTTP handlers, their route table and the /readyz check.
 *
 *   POST /add            the page's review event → a fresh binary CloudEvent to K_SINK
 *   POST /insert         the broker's moderated event → db-service POST /reviews, CE reply
 *   GET  /comments       the reviews array; with Upgrade: websocket, the live feed (ws.h)
 *   GET  /books[/{id}]   proxied to db-service
 *   DELETE /reviews/{id} proxied to db-service
 *   POST /journey        journey records from file-sink and dead-letter-logger (journey.h)
 *   GET  /journey/{id}   one review's journey by event id; GET /reviews/{id}/journey by review
 *   GET  /delivery       the delivery spec, the trace URL template and the senders' counters
 *   GET  / and files     FRONTEND_DIR (statics.h)
 *
 * Every handler expects req->ctx to be a struct node_routes. The module knows nothing of how
 * its parts are built or stopped (node_app.h does that): it only borrows them.
 *
 * Threads: handlers run on the HTTP pool, httpc callbacks on the clients' threads. The
 * struct is filled before the server starts and read-only afterwards; the parts it points to
 * are thread-safe (httpc.h, feed.h, ws.h, statics.h) and outlive the HTTP server.
 */
#ifndef NODE_SERVER_NODE_ROUTES_H
#define NODE_SERVER_NODE_ROUTES_H

#include <stddef.h>

#include "common/buf.h"
#include "common/route.h"

struct httpc;
struct feed;
struct statics;
struct ws_hub;
struct journey;
struct review_overrides;
struct metric_series;

/* What the handlers use; every pointer is borrowed. */
struct node_routes {
	const struct review_overrides *overrides; /* K_CE_OVERRIDES */
	struct httpc *sink;			  /* NULL when K_SINK is unset: /add answers 503 */
	const char *sink_url;			  /* K_SINK */
	const char *sink_name; /* messaging.destination.name: K_SINK's last path segment */
	long sink_timeout_ms;
	struct httpc *db;
	const char *db_url; /* db-service base URL without a trailing '/' */
	long db_timeout_ms;
	struct feed *feed;
	struct ws_hub *hub;
	struct journey *journey; /* the reviews' journeys (journey.h) */
	struct statics *statics;
	/* filled by node_routes_metrics() */
	struct metric_series *add_ok, *add_rejected, *add_refused, *add_unavailable;
	struct metric_series *insert_created, *insert_duplicate, *insert_rejected,
	    *insert_unavailable;
};

/* Registers the handlers' counters (node_add_total, node_insert_total) in metrics_default(). */
void node_routes_metrics(struct node_routes *r);

/* The route table (a static const struct route routes[]) and its size in *n. */
const struct route *node_routes_table(size_t *n);

/*
 * The /readyz callback (ctx is the struct node_routes): the feed's readiness (feed_ready()),
 * read without any I/O.
 */
int node_routes_ready(void *ctx, struct buf *reason);

#endif
