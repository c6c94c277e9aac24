/*
 * file-sink: the Trigger subscriber that saves every delivered CloudEvent to
 * $DATA_DIR/events.log and fails a configurable share of deliveries on purpose, to exercise
 * Knative's retries and dead-letter sink (filesink.h, failsim.h). main() only reads the
 * configuration, opens the log, starts, waits for a signal and stops.
 *
 * A DATA_DIR that does not exist or is not writable is a start-up error: the process prints
 * why and exits 2 (as for any bad setting), so the pod crash-loops visibly instead of
 * reporting ready and answering every event with 500.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/eventlog.h"
#include "common/http.h"
#include "common/journey_client.h"
#include "common/service.h"
#include "common/sink.h"
#include "common/xalloc.h"
#include "badreviews.h"
#include "failsim.h"
#include "filesink.h"

struct filesink_config {
	int port;
	const char *data_dir;
	int fsync;
	double failure_rate;
	long long fail_every;
	long long failure_seed;
	long long dedupe_keys;
	long long events_max_bytes;
	const char *journey_url;
	long long fail_first;
};

static const struct config_var vars[] = {
	SERVICE_VAR_PORT(struct filesink_config),
	{ "DATA_DIR", CONFIG_STRING, offsetof(struct filesink_config, data_dir), "/data", 0, 0,
	  NULL, "directory of events.log (must exist and be writable)" },
	{ "FSYNC", CONFIG_ENUM, offsetof(struct filesink_config, fsync), "batch", 0, 0,
	  eventlog_fsync_names, "always, batch (group commit) or never" },
	{ "FAILURE_RATE", CONFIG_RATE, offsetof(struct filesink_config, failure_rate), "0.5", 0, 0,
	  NULL, "share of deliveries answered 500 (not with FAIL_EVERY)" },
	{ "FAIL_EVERY", CONFIG_INT, offsetof(struct filesink_config, fail_every), NULL, 1,
	  1000000000, NULL, "fail deliveries N, 2N, 3N... instead of FAILURE_RATE" },
	{ "FAILURE_SEED", CONFIG_INT, offsetof(struct filesink_config, failure_seed), NULL, 0, 0,
	  NULL, "seed of the FAILURE_RATE draws (reproducible); unset = random" },
	{ "DEDUPE_KEYS", CONFIG_INT, offsetof(struct filesink_config, dedupe_keys), "100000", 1,
	  1000000, NULL,
	  "recorded event keys kept to spot redeliveries, 70 bytes each (oldest evicted)" },
	{ "EVENTS_MAX_BYTES", CONFIG_INT, offsetof(struct filesink_config, events_max_bytes),
	  EVENTLOG_DEFAULT_TAIL_BYTES_TEXT, EVENTLOG_MIN_TAIL_BYTES, 1LL << 30, NULL,
	  "bytes of events.log lines one GET /events answers at most (newest first)" },
	{ "FAIL_FIRST", CONFIG_INT, offsetof(struct filesink_config, fail_first), "0", 0, 1000,
	  NULL, "also fail the first N attempts of every event (counted per event id)" },
	{ "JOURNEY_URL", CONFIG_URL, offsetof(struct filesink_config, journey_url), NULL, 0, 0,
	  NULL, "node-server's POST /journey, for the page's journeys (best-effort); unset = off" },
};

static int is_set(const char *name)
{
	const char *v = getenv(name);

	return v && *v;
}

/* Cross-checks the failure settings (exits 2 when both are set) and fills the policy. */
static void load(struct filesink_config *cfg, struct failsim *fail, char *policy, size_t n)
{
	if (cfg->fail_every > 0 && is_set("FAILURE_RATE")) {
		fprintf(stderr, "FAIL_EVERY and FAILURE_RATE are both set: choose one\n");
		exit(2);
	}
	if (cfg->fail_every > 0) {
		failsim_init_every(fail, (unsigned long long)cfg->fail_every);
		snprintf(policy, n, "FAIL_EVERY=%lld", cfg->fail_every);
	} else {
		failsim_init_rate(fail, cfg->failure_rate, (uint64_t)cfg->failure_seed,
				  is_set("FAILURE_SEED"));
		snprintf(policy, n, "FAILURE_RATE=%g", cfg->failure_rate);
	}
	if (cfg->fail_first > 0) {
		size_t used = strlen(policy);

		snprintf(policy + used, n - used, ", FAIL_FIRST=%lld", cfg->fail_first);
	}
}

int main(int argc, char **argv)
{
	struct filesink_config cfg = { 0 };
	struct http_server_config http = { .service = "file-sink", .ready = filesink_ready };
	struct failsim fail;
	struct filesink fs;
	struct badreviews *bad;
	struct buf err;
	struct sink files;
	char policy[64];
	int rc;

	service_start("file-sink", argc, argv, vars, ARRAY_SIZE(vars), &cfg);
	load(&cfg, &fail, policy, sizeof(policy));
	if (sink_open(&files, cfg.data_dir, cfg.fsync, cfg.dedupe_keys, filesink_log_key,
		      "saved events") != 0)
		return 2;
	buf_init(&err, 1024);
	if (badreviews_open(cfg.data_dir, (enum eventlog_fsync)cfg.fsync, (size_t)cfg.dedupe_keys,
			    (size_t)cfg.events_max_bytes, &bad, &err) != 0) {
		rc = service_bad_setting("DATA_DIR", err.data);
		buf_release(&err);
		sink_close(&files);
		return rc;
	}
	buf_release(&err);
	filesink_init(&fs, &files, &fail, policy);
	fs.bad = bad;
	fs.events_max_bytes = (size_t)cfg.events_max_bytes;
	fs.fail_first = (uint64_t)cfg.fail_first;
	if (cfg.journey_url)
		fs.journey = journey_client_new(cfg.journey_url);
	http.port = cfg.port;
	http.routes = filesink_routes(&http.nroutes);
	http.ctx = &fs;
	rc = service_run(&http, ", writing %s (FSYNC=%s, %s)", files.path,
			 eventlog_fsync_names[cfg.fsync], policy);
	filesink_release(&fs);
	badreviews_close(bad);
	sink_close(&files);
	failsim_release(&fail);
	return rc;
}
