/*
 * dead-letter-logger: the dead-letter sink. It records every event the broker gave up on,
 * with the failed destination, the HTTP code and the decoded response, in
 * $DATA_DIR/events.log (handlers.h, deadletter.h). main() only reads the configuration, opens
 * the log, starts, waits for a signal and stops.
 *
 * A DATA_DIR that does not exist or is not writable is a start-up error: the process prints
 * why and exits 2 (as for any bad setting).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/dedupe.h"
#include "common/eventlog.h"
#include "common/http.h"
#include "common/journey_client.h"
#include "common/log.h"
#include "common/service.h"
#include "common/xalloc.h"
#include "handlers.h"

struct dll_config {
	int port;
	const char *data_dir;
	int fsync;
	long long events_max_bytes;
	long long max_series;
	long long dedupe_keys;
	const char *journey_url;
};

static const struct config_var vars[] = {
	{ "PORT", CONFIG_PORT, offsetof(struct dll_config, port), "8080", 0, 0, NULL,
	  "TCP port of the HTTP API" },
	{ "DATA_DIR", CONFIG_STRING, offsetof(struct dll_config, data_dir), "/data", 0, 0, NULL,
	  "directory of events.log (must exist and be writable)" },
	{ "FSYNC", CONFIG_ENUM, offsetof(struct dll_config, fsync), "batch", 0, 0,
	  eventlog_fsync_names, "always, batch (group commit) or never" },
	{ "EVENTS_MAX_BYTES", CONFIG_INT, offsetof(struct dll_config, events_max_bytes),
	  EVENTLOG_DEFAULT_TAIL_BYTES_TEXT, EVENTLOG_MIN_TAIL_BYTES, 1LL << 30, NULL,
	  "bytes of events.log lines one GET /events answers at most (newest first)" },
	{ "DEAD_LETTER_SERIES", CONFIG_INT, offsetof(struct dll_config, max_series), "100", 1,
	  100000, NULL,
	  "dead_letters_total series kept (destination, code); more go to destination=\"other\"" },
	{ "DEDUPE_KEYS", CONFIG_INT, offsetof(struct dll_config, dedupe_keys), "100000", 1, 1000000,
	  NULL, "recorded event keys kept to spot redeliveries, 70 bytes each (oldest evicted)" },
	{ "JOURNEY_URL", CONFIG_URL, offsetof(struct dll_config, journey_url), NULL, 0, 0, NULL,
	  "node-server's POST /journey, for the page's journeys (best-effort); unset = off" },
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

/* The recorded-keys set, rebuilt from events.log; exits 2 if it cannot be read. */
static struct dedupe *open_dedupe(const char *path, long long keys)
{
	struct dedupe *d = dedupe_new((size_t)keys);
	size_t n;

	if (dedupe_load(d, path, deadletters_key, &n) != 0) {
		fprintf(stderr, "DATA_DIR: cannot read %s: %s\n", path, strerror(errno));
		exit(2);
	}
	log_info("%zu dead letters remembered from %s (DEDUPE_KEYS=%lld)", dedupe_count(d), path,
		 keys);
	return d;
}

int main(int argc, char **argv)
{
	struct dll_config cfg = { 0 };
	struct http_server_config http = { 0 };
	struct http_server *srv;
	struct eventlog *log;
	struct deadletters dl;
	char *path;

	service_start("dead-letter-logger", argc, argv, vars, NVARS, &cfg);
	path = xasprintf("%s/%s", cfg.data_dir, EVENTLOG_FILE);
	if (eventlog_open(path, (enum eventlog_fsync)cfg.fsync, &log) != 0) {
		fprintf(stderr, "DATA_DIR: cannot open %s for appending: %s\n", path,
			strerror(errno));
		free(path);
		return 2;
	}
	deadletters_init(&dl, log);
	dl.max_series = (size_t)cfg.max_series;
	dl.events_max_bytes = (size_t)cfg.events_max_bytes;
	dl.dedupe = open_dedupe(path, cfg.dedupe_keys);
	if (cfg.journey_url)
		dl.journey = journey_client_new(cfg.journey_url);
	http.port = cfg.port;
	http.service = "dead-letter-logger";
	http.routes = handlers_routes(&http.nroutes);
	http.ctx = &dl;
	http.ready = handlers_ready;
	if (http_server_start(&http, &srv) != 0) {
		journey_client_free(dl.journey);
		dedupe_free(dl.dedupe);
		eventlog_close(log);
		free(path);
		service_stop();
		return 1;
	}
	log_info("dead-letter-logger listening on port %d, writing %s (FSYNC=%s)",
		 http_server_port(srv), path, eventlog_fsync_names[cfg.fsync]);
	service_wait();
	http_server_stop(srv);
	journey_client_free(dl.journey);
	service_stop(); /* after the server, before what metrics read */
	dedupe_free(dl.dedupe);
	eventlog_close(log);
	free(path);
	return 0;
}
