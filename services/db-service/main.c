/*
 * db-service: the bookstore's PostgreSQL-backed API (books and reviews). It owns the schema
 * and applies it in the background at start-up (migrator.h), so it may start before the
 * database. main() only reads the configuration, starts, waits for a signal and stops.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/http.h"
#include "common/log.h"
#include "common/service.h"
#include "common/xalloc.h"
#include "handlers.h"
#include "migrator.h"
#include "pq.h"
#include "pq_api.h"
#include "store.h"

struct db_config {
	int port;
	const char *database_url;
	long long pool_size;
	long long threads;
	long long insert_batch_max;
	long long insert_queue_max;
	long long insert_queue_bytes;
};

static const struct config_var vars[] = {
	SERVICE_VAR_PORT(struct db_config),
	{ "DATABASE_URL", CONFIG_STRING, offsetof(struct db_config, database_url), NULL, 0, 0, NULL,
	  "libpq URI or key=value string; unset = libpq's PG* variables" },
	{ "DB_POOL_SIZE", CONFIG_INT, offsetof(struct db_config, pool_size), "8", 1, 256, NULL,
	  "most PostgreSQL connections at once" },
	{ "HTTP_THREADS", CONFIG_INT, offsetof(struct db_config, threads), "32", 1, 256, NULL,
	  "threads the handlers run on (they block on the database); probes and /metrics are "
	  "answered on others, one per CPU" },
	{ "INSERT_BATCH_MAX", CONFIG_INT, offsetof(struct db_config, insert_batch_max), "64", 1,
	  1000, NULL, "most concurrent review inserts per statement (1 = one statement each)" },
	{ "INSERT_QUEUE_MAX", CONFIG_INT, offsetof(struct db_config, insert_queue_max), "1024", 1,
	  1000000, NULL, "most review inserts waiting for a batch (more: 503)" },
	{ "INSERT_QUEUE_BYTES", CONFIG_INT, offsetof(struct db_config, insert_queue_bytes),
	  "16777216", 1, 1LL << 40, NULL, "most bytes of review inserts waiting (more: 503)" },
};

/* A malformed DATABASE_URL is a configuration error, not an outage to retry forever. */
static int check_database_url(const char *url)
{
	struct buf msg;
	int rc;

	buf_init(&msg, 1024);
	rc = pq_conninfo_check(url, &msg);
	if (rc)
		fprintf(stderr, "DATABASE_URL: %s\n", msg.data);
	buf_release(&msg);
	return rc;
}

int main(int argc, char **argv)
{
	struct db_config cfg = { 0 };
	struct http_server_config http = { 0 };
	struct http_server *srv = NULL;
	struct migrator *migrator;
	int rc = 0;
	struct store *store;

	service_start("db-service", argc, argv, vars, ARRAY_SIZE(vars), &cfg);
	pq_api_preload(); /* loads once the server's threads exist (pq_api.h) */
	if (!cfg.database_url)
		cfg.database_url = "";
	store = store_new(cfg.database_url, (size_t)cfg.pool_size);
	store_set_insert_batching(store, (size_t)cfg.insert_batch_max, (size_t)cfg.insert_queue_max,
				  (size_t)cfg.insert_queue_bytes);
	http.port = cfg.port;
	http.service = "db-service";
	http.routes = handlers_routes(&http.nroutes);
	http.ctx = store;
	http.ready = handlers_ready;
	http.blocking_threads = (unsigned)cfg.threads;
	if (http_server_start(&http, &srv) != 0) {
		rc = 1;
		goto stop;
	}
	/* Needs libpq: checked once it is loaded, while /healthz already answers. */
	if (check_database_url(cfg.database_url) != 0) {
		rc = 2;
		goto stop;
	}
	migrator = migrator_start(store);
	log_info("db-service listening on port %d", http_server_port(srv));
	service_wait();
	migrator_stop(migrator);
stop:
	http_server_stop(srv);
	service_stop(); /* after the server, before what metrics read */
	store_free(store);
	return rc;
}
