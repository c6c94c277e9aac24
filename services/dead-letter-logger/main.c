/*
 * dead-letter-logger: the dead-letter sink. It records every event the broker gave up on,
 * with the failed destination, the HTTP code and the decoded response, in
 * $DATA_DIR/events.log (deadletters.h, deadletter.h). main() only reads the configuration, opens
 * the log, starts, waits for a signal and stops.
 *
 * A DATA_DIR that does not exist or is not writable is a start-up error: the process prints
 * why and exits 2 (as for any bad setting).
 */
#include <stddef.h>

#include "common/config.h"
#include "common/eventlog.h"
#include "common/http.h"
#include "common/journey_client.h"
#include "common/service.h"
#include "common/sink.h"
#include "common/xalloc.h"
#include "deadletters.h"

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
	SERVICE_VAR_PORT(struct dll_config),
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

int main(int argc, char **argv)
{
	struct dll_config cfg = { 0 };
	struct sink files;
	int rc;
	struct http_server_config http = { .service = "dead-letter-logger",
					   .ready = deadletters_ready };
	struct deadletters dl;

	service_start("dead-letter-logger", argc, argv, vars, ARRAY_SIZE(vars), &cfg);
	if (sink_open(&files, cfg.data_dir, cfg.fsync, cfg.dedupe_keys, deadletters_key,
		      "dead letters") != 0)
		return 2;
	http.port = cfg.port;
	http.routes = deadletters_routes(&http.nroutes);
	http.ctx = &dl;
	deadletters_init(&dl, &files);
	dl.max_series = (size_t)cfg.max_series;
	dl.events_max_bytes = (size_t)cfg.events_max_bytes;
	if (cfg.journey_url)
		dl.journey = journey_client_new(cfg.journey_url);
	rc = service_run(&http, ", writing %s (FSYNC=%s)", files.path,
			 eventlog_fsync_names[cfg.fsync]);
	journey_client_free(dl.journey);
	sink_close(&files);
	return rc;
}
