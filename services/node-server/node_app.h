/*
 * node_app.h: node-server as one object: its settings, the parts it is made of, and start/stop.
 *
 * node-server is the backend the page talks to and the server of the page; its routes and
 * their handlers are in node_routes.h. This module builds the parts, hands them to the
 * routes (struct node_routes) and stops them in a safe order.
 *
 * Parts: two httpc clients (one for K_SINK, one for db-service, so a slow broker never delays
 * the database calls), the reviews feed (feed.h, which also holds readiness), the WebSocket
 * hub (ws.h), the static files (statics.h) and the K_CE_OVERRIDES extensions.
 *
 * Stopping follows close-then-free (as libuv frees a handle only after its close completed):
 * the feed stops publishing, the hub is closed (its sockets too, so late upgrades are
 * refused and closed), the HTTP server stops (no handler or upgrade callback runs after it),
 * the clients are freed (their cancelled callbacks run), and only then is any memory freed.
 * No lock guards the parts: each pointer stays valid from start to the end of stop.
 */
#ifndef NODE_SERVER_NODE_APP_H
#define NODE_SERVER_NODE_APP_H

#include "common/buf.h"

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

struct node_app;

/*
 * Builds everything and starts listening. Returns 0 and *out, ERR_VALIDATION for a bad
 * setting (K_CE_OVERRIDES; reason in err: exit 2), or ERR_INTERNAL (logged: exit 1).
 */
int node_app_start(const struct node_config *cfg, struct node_app **out, struct buf *err);
/* The port actually bound. */
int node_app_port(const struct node_app *app);
/* Stops in the safe order (feed, journeys, hub, server, clients) and frees everything. */
void node_app_stop(struct node_app *app);

#endif
