/*
 * node-server: the backend the bookstore page talks to, and the server of the page
 * (node_routes.h has the routes). main() only reads the configuration, starts, waits for a
 * signal and stops.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/err.h"
#include "common/log.h"
#include "common/service.h"
#include "common/xalloc.h"
#include "node_app.h"

static const struct config_var vars[] = {
	SERVICE_VAR_PORT(struct node_config),
	{ "K_SINK", CONFIG_URL, offsetof(struct node_config, k_sink), NULL, 0, 0, NULL,
	  "where POST /add forwards events (the broker; set by a SinkBinding); unset = 503" },
	{ "K_CE_OVERRIDES", CONFIG_STRING, offsetof(struct node_config, k_ce_overrides), NULL, 0, 0,
	  NULL, "JSON {\"extensions\": {\"name\": \"value\"}} added to every forwarded event" },
	{ "DB_SERVICE_URL", CONFIG_URL, offsetof(struct node_config, db_url),
	  "http://127.0.0.1:8081", 0, 0, NULL, "base URL of db-service" },
	{ "FRONTEND_DIR", CONFIG_STRING, offsetof(struct node_config, frontend_dir),
	  "./frontend-static", 0, 0, NULL, "folder of the page's files, served on GET /" },
	{ "REVIEWS_LIMIT", CONFIG_INT, offsetof(struct node_config, reviews_limit), "100", 1, 1000,
	  NULL, "newest reviews pushed to the page" },
	{ "K_SINK_TIMEOUT_MS", CONFIG_MILLIS, offsetof(struct node_config, sink_timeout_ms), "5000",
	  1, 600000, NULL, "timeout of one call to K_SINK" },
	{ "DB_SERVICE_TIMEOUT_MS", CONFIG_MILLIS, offsetof(struct node_config, db_timeout_ms),
	  "5000", 1, 600000, NULL, "timeout of one call to db-service" },
	{ "HTTP_THREADS", CONFIG_INT, offsetof(struct node_config, threads), "0", 0, 256, NULL,
	  "HTTP worker threads; 0 = one per CPU (handlers never block)" },
	{ "WS_PING_INTERVAL_MS", CONFIG_MILLIS, offsetof(struct node_config, ws_ping_ms), "30000",
	  1, 3600000, NULL, "WebSocket keepalive ping period" },
	{ "JOURNEY_KEEP", CONFIG_INT, offsetof(struct node_config, journey_keep), "256", 1, 10000,
	  NULL, "reviews whose journey is kept for the page (the newest; at most 16 steps each)" },
	{ "DELIVERY_RETRY", CONFIG_INT, offsetof(struct node_config, delivery_retry), "2", 0, 100,
	  NULL, "the Broker's delivery.retry, shown on the page (k8s/ and make run copy it)" },
	{ "DELIVERY_BACKOFF_POLICY", CONFIG_ENUM, offsetof(struct node_config, delivery_policy),
	  "exponential", 0, 0, node_backoff_policies,
	  "the Broker's delivery.backoffPolicy, shown on the page" },
	{ "DELIVERY_BACKOFF_DELAY", CONFIG_DURATION,
	  offsetof(struct node_config, delivery_delay_ms), "PT1S", 0, 86400000, NULL,
	  "the Broker's delivery.backoffDelay, shown on the page" },
	{ "TRACE_UI_URL", CONFIG_STRING, offsetof(struct node_config, trace_url), NULL, 0, 0, NULL,
	  "trace link on the page, {traceId} replaced (http://localhost:16686/trace/{traceId}); "
	  "unset = no link" },
};

int main(int argc, char **argv)
{
	struct node_config cfg = { 0 };
	struct node_app *app;
	struct buf err;
	int rc;

	service_start("node-server", argc, argv, vars, ARRAY_SIZE(vars), &cfg);
	buf_init(&err, 1024);
	rc = node_app_start(&cfg, &app, &err);
	if (rc) {
		if (err.len)
			(void)fprintf(stderr, "%s\n", err.data);
		buf_release(&err);
		service_stop();
		return rc == ERR_VALIDATION ? 2 : 1;
	}
	buf_release(&err);
	log_info("node-server listening on port %d (K_SINK %s, db-service %s)", node_app_port(app),
		 cfg.k_sink ? cfg.k_sink : "unset", cfg.db_url);
	service_wait();
	node_app_stop(app);
	service_stop();
	return 0;
}
