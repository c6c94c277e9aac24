/*
 * node_app.h: node-server as one object: its settings, the parts it is made of, and start/stop.
 *
 * node-server is the backend the page talks to and the server of the page:
 *   POST /add            the page's review event → a fresh binary CloudEvent to K_SINK
 *   POST /insert         the broker's moderated event → db-service POST /reviews, CE reply
 *   GET  /comments       the reviews array; with Upgrade: websocket, the live feed (ws.h)
 *   GET  /books[/{id}]   proxied to db-service
 *   DELETE /reviews/{id} proxied to db-service
 *   POST /journey        journey records from file-sink and dead-letter-logger (journey.h)
 *   GET  /journey/{id}   one review's journey by event id; GET /reviews/{id}/journey by review
 *   GET  /delivery       the delivery spec, the trace URL template and the senders' counters
 *   GET  / and files     FRONTEND_DIR (statics.h)
 * The handlers live in node_routes.c; this module wires the parts together.
 *
 * Parts: two httpc clients (one for K_SINK, one for db-service, so a slow broker never delays
 * the database calls), the reviews feed (feed.h), the WebSocket hub (ws.h) behind a
 * read-write lock (so an upgrade finishing during shutdown never reaches a freed hub), the
 * static files (statics.h) and the K_CE_OVERRIDES extensions.
 *
 * Threads: handlers run on the HTTP pool; httpc callbacks on the clients' threads. Everything
 * in struct node_app is set up before the server starts and read-only afterwards, except the
 * hub pointer (under hub_lock) and the atomics.
 */
#ifndef NODE_SERVER_NODE_APP_H
#define NODE_SERVER_NODE_APP_H

#include <pthread.h>
#include <stdatomic.h>

#include "common/buf.h"
#include "common/route.h"
#include "review_event.h"

struct httpc;
struct feed;
struct statics;
struct ws_hub;
struct journey;
struct http_server;
struct http_upgrade;
struct metric_series;

/* The settings (filled by config_load() in main.c). */
struct node_config {
	int port;
	const char *k_sink;	    /* NULL = unset: /add answers 503 */
	const char *k_ce_overrides; /* NULL = none */
	const char *db_url;
	const char *frontend_dir;
	long long reviews_limit;
	long long sink_timeout_ms;
	long long db_timeout_ms;
	long long threads; /* 0 = number of CPUs */
	long long ws_ping_ms;
	long long journey_keep;	     /* JOURNEY_KEEP */
	long long delivery_retry;    /* DELIVERY_RETRY */
	int delivery_policy;	     /* DELIVERY_BACKOFF_POLICY: index in node_backoff_policies */
	long long delivery_delay_ms; /* DELIVERY_BACKOFF_DELAY */
	const char *trace_url;	     /* TRACE_UI_URL, NULL = unset */
};

/* The choices of DELIVERY_BACKOFF_POLICY (Knative's backoffPolicy values). */
extern const char *const node_backoff_policies[];

struct node_app {
	const struct node_config *cfg;
	char *db_url; /* cfg->db_url without a trailing '/' */
	struct review_overrides overrides;
	struct httpc *sink; /* NULL when K_SINK is unset */
	char *sink_name; /* messaging.destination.name: K_SINK's last path segment (the broker) */
	struct httpc *db;
	struct feed *feed;
	struct journey *journey; /* the reviews' journeys (journey.h) */
	struct statics *statics;
	pthread_rwlock_t hub_lock;
	struct ws_hub *hub; /* NULL once stopping */
	struct http_server *srv;
	struct metric_series *add_ok, *add_rejected, *add_refused, *add_unavailable;
	struct metric_series *insert_created, *insert_duplicate, *insert_rejected,
	    *insert_unavailable;
};

/*
 * Builds everything and starts listening. Returns 0 and *out, ERR_VALIDATION for a bad
 * setting (K_CE_OVERRIDES; reason in err: exit 2), or ERR_INTERNAL (logged: exit 1).
 */
int node_app_start(const struct node_config *cfg, struct node_app **out, struct buf *err);
/* The port actually bound. */
int node_app_port(const struct node_app *app);
/* Stops in the safe order (feed, hub, server, clients) and frees everything. */
void node_app_stop(struct node_app *app);

/* http_upgrade_fn: hands an upgraded /comments socket to the hub, or closes it when stopping. */
void node_app_adopt(void *arg, int fd, const char *extra, size_t extra_len,
		    struct http_upgrade *up);

/* The route table (node_routes.c) and the readiness check for /readyz. */
const struct route *node_routes(size_t *n);
int node_routes_ready(void *ctx, struct buf *reason);

#endif
