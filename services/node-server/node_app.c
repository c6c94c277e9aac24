/*
 * node_app.c: builds, starts and stops node-server's parts (see node_app.h).
 */
#include "node_app.h"

#include <string.h>

#include "common/err.h"
#include "common/http.h"
#include "common/httpc.h"
#include "common/log.h"
#include "common/text.h"
#include "common/xalloc.h"
#include "feed.h"
#include "journey.h"
#include "node_routes.h"
#include "review_event.h"
#include "statics.h"
#include "ws.h"

const char *const node_backoff_policies[] = { "exponential", "linear", NULL };

/* WebSocket clients count against the HTTP layer's connection limit. */
#define CONNECTION_LIMIT 8192

struct node_app {
	const struct node_config *cfg;
	char *db_url; /* cfg->db_url without a trailing '/' */
	struct review_overrides overrides;
	struct httpc *sink; /* NULL when K_SINK is unset */
	char *sink_name;
	struct httpc *db;
	struct feed *feed;
	struct journey *journey; /* the reviews' journeys (journey.h) */
	struct statics *statics;
	struct ws_hub *hub;
	struct http_server *srv;
	struct node_routes routes; /* the handlers' view of the parts above */
};

/* feed_publish_fn: every new reviews array goes to every WebSocket client (arg: the hub). */
static void publish(void *arg, const char *json, size_t len)
{
	if (ws_hub_publish(arg, json, len) != 0)
		log_warn("the WebSocket hub refused a snapshot");
}

/*
 * The name of the destination a URL stands for: its last non-empty path segment
 * (".../bookstore/bookstore-broker" → "bookstore-broker"), else its host.
 */
static char *destination_name(const char *url)
{
	const char *p = strstr(url, "://"), *end, *seg;

	p = p ? p + 3 : url;
	end = p + strcspn(p, "?#");
	while (end > p && end[-1] == '/')
		end--;
	seg = end;
	while (seg > p && seg[-1] != '/')
		seg--;
	if (seg == p) /* no path: the host (and port) */
		return xstrndup(p, strcspn(p, "/?#"));
	return xstrndup(seg, (size_t)(end - seg));
}

/* Creates the two HTTP clients. Returns 0 or ERR_INTERNAL. */
static int clients_new(struct node_app *app)
{
	const struct node_config *cfg = app->cfg;
	struct httpc_options db = { 0 }, sink = { 0 };

	db.timeout_ms = (long)cfg->db_timeout_ms;
	db.user_agent = "node-server/1";
	app->db = httpc_new(&db);
	if (app->db == NULL)
		return ERR_INTERNAL;
	if (cfg->k_sink == NULL)
		return 0;
	app->sink_name = destination_name(cfg->k_sink);
	sink.timeout_ms = (long)cfg->sink_timeout_ms;
	sink.max_transfers = 512;
	sink.max_host_connections = 128;
	sink.max_pending = 20000;
	sink.user_agent = "node-server/1";
	app->sink = httpc_new(&sink);
	return app->sink ? 0 : ERR_INTERNAL;
}

/* The journeys store, and the hub's hook for the pages' follow messages (journey.h). */
static int journey_setup(struct node_app *app, struct ws_hub_config *hub)
{
	const struct node_config *cfg = app->cfg;
	struct journey_config jc = { 0 };
	const char *t = cfg->trace_url;

	if (t && (strstr(t, "{traceId}") == NULL || !text_url_authority(t)))
		return ERR_VALIDATION;
	jc.keep = (size_t)cfg->journey_keep;
	jc.retry = cfg->delivery_retry;
	jc.backoff_policy = node_backoff_policies[cfg->delivery_policy];
	jc.backoff_delay_ms = cfg->delivery_delay_ms;
	jc.trace_url = t;
	app->journey = journey_new(&jc);
	hub->on_text = journey_ws_text;
	hub->text_arg = app->journey;
	return 0;
}

/* Everything but the HTTP server. Returns 0, ERR_VALIDATION or ERR_INTERNAL. */
static int parts_new(struct node_app *app, struct buf *err)
{
	const struct node_config *cfg = app->cfg;
	struct ws_hub_config hub = { 0 };
	struct feed_options fo = { 0 };
	struct buf msg;
	size_t n;
	int rc;

	rc = review_overrides_parse(cfg->k_ce_overrides, &app->overrides, err);
	if (rc)
		return ERR_VALIDATION;
	n = strlen(cfg->db_url);
	while (n > 0 && cfg->db_url[n - 1] == '/')
		n--;
	app->db_url = xstrndup(cfg->db_url, n);
	if (clients_new(app) != 0) {
		log_error("could not start the HTTP clients");
		return ERR_INTERNAL;
	}
	buf_init(&msg, 1024);
	if (statics_new(cfg->frontend_dir, &app->statics, &msg) != 0)
		log_warn("%s: every page file will answer 404", msg.data);
	buf_release(&msg);
	if (journey_setup(app, &hub) != 0) {
		(void)buf_appends(err, "TRACE_UI_URL: must be an http(s) URL with {traceId} in it");
		return ERR_VALIDATION;
	}
	hub.ping_interval_ms = cfg->ws_ping_ms;
	if (ws_hub_new(&hub, &app->hub) != 0)
		return ERR_INTERNAL;
	journey_attach(app->journey, app->hub);
	fo.http = app->db;
	fo.db_url = app->db_url;
	fo.limit = (int)cfg->reviews_limit;
	fo.timeout_ms = (long)cfg->db_timeout_ms;
	fo.publish = publish;
	fo.publish_arg = app->hub;
	app->feed = feed_new(&fo);
	return 0;
}

/* Lends the parts to the handlers (node_routes.h). */
static void routes_setup(struct node_app *app)
{
	struct node_routes *r = &app->routes;

	r->overrides = &app->overrides;
	r->sink = app->sink;
	r->sink_url = app->cfg->k_sink;
	r->sink_name = app->sink_name;
	r->sink_timeout_ms = (long)app->cfg->sink_timeout_ms;
	r->db = app->db;
	r->db_url = app->db_url;
	r->db_timeout_ms = (long)app->cfg->db_timeout_ms;
	r->feed = app->feed;
	r->hub = app->hub;
	r->journey = app->journey;
	r->statics = app->statics;
}

/*
 * Stops what parts_new() made and frees it: close first, free last (see node_app.h). The hub
 * is closed before the server stops, since it closes the upgraded sockets through it.
 */
static void parts_free(struct node_app *app)
{
	if (app->feed)
		feed_stop(app->feed);
	if (app->journey)
		journey_attach(app->journey, NULL);
	if (app->hub)
		ws_hub_close(app->hub);
	if (app->srv)
		http_server_stop(app->srv);
	app->srv = NULL;
	httpc_free(app->sink);
	httpc_free(app->db);
	feed_free(app->feed);
	ws_hub_free(app->hub);
	journey_free(app->journey);
	statics_free(app->statics);
	review_overrides_release(&app->overrides);
	free(app->sink_name);
	free(app->db_url);
}

int node_app_start(const struct node_config *cfg, struct node_app **out, struct buf *err)
{
	struct node_app *app = xcalloc(1, sizeof(*app));
	struct http_server_config http = { 0 };
	int rc;

	*out = NULL;
	app->cfg = cfg;
	node_routes_metrics(&app->routes);
	rc = parts_new(app, err);
	if (rc)
		goto fail;
	routes_setup(app);
	http.port = cfg->port;
	http.service = "node-server";
	http.routes = node_routes_table(&http.nroutes);
	http.ctx = &app->routes;
	http.ready = node_routes_ready;
	http.threads = (unsigned)cfg->threads;
	http.cors = 1;
	http.connection_limit = CONNECTION_LIMIT;
	if (http_server_start(&http, &app->srv) != 0) {
		rc = ERR_INTERNAL;
		goto fail;
	}
	feed_start(app->feed);
	*out = app;
	return 0;
fail:
	parts_free(app);
	free(app);
	return rc;
}

int node_app_port(const struct node_app *app)
{
	return http_server_port(app->srv);
}

void node_app_stop(struct node_app *app)
{
	if (app == NULL)
		return;
	parts_free(app);
	free(app);
}
