/*
 * local-broker: Knative Eventing's Broker for a machine without a cluster. It reads the same
 * Broker and Trigger manifests the cluster applies (topology.h), accepts events on
 * POST /<namespace>/<broker> (ingress.h) and delivers them with the MT channel-based broker's
 * contract: filters, retries with backoff, dead-letter sink, replies, TTL (dispatcher.h).
 * With BROKER_DURABILITY=wal (the default) an event is answered 202 only once it is in the
 * write-ahead log under DATA_DIR, and pending deliveries survive a crash as well as a stop.
 * main() reads the configuration, starts, waits for a signal and stops.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/eventlog.h"
#include "common/http.h"
#include "common/log.h"
#include "common/service.h"
#include "common/xalloc.h"
#include "dispatcher.h"
#include "ingress.h"
#include "spool.h"
#include "topology.h"

struct broker_config {
	int port;
	const char *manifests;
	const char *services;
	const char *data_dir;
	long long queue_max;
	long long queue_bytes;
	int durability;
	int fsync;
	long long compact_bytes;
	long long max_ttl;
	long long timeout_default_ms;
	long long trigger_inflight;
	long long grace_ms;
	long long threads;
};

enum durability { DURABILITY_WAL = 0, DURABILITY_MEMORY = 1 };
static const char *const durability_names[] = { "wal", "memory", NULL };

#define WAL_FILE "broker.wal"

#define F(x) offsetof(struct broker_config, x)
static const struct config_var vars[] = {
	SERVICE_VAR_PORT(struct broker_config),
	{ "BROKER_MANIFESTS", CONFIG_STRING, F(manifests), "k8s/base/eventing", 0, 0, NULL,
	  "comma-separated Broker, Trigger and Sequence manifest files or directories" },
	{ "BROKER_SERVICES", CONFIG_STRING, F(services),
	  "node-server=http://127.0.0.1:8080,file-sink=http://127.0.0.1:8082,"
	  "dead-letter-logger=http://127.0.0.1:8083,bad-word-filter=http://127.0.0.1:8085,"
	  "sentiment-analysis=http://127.0.0.1:8086",
	  0, 0, NULL, "Knative Service name=local base URL, comma-separated" },
	{ "DATA_DIR", CONFIG_STRING, F(data_dir), "data/local-broker", 0, 0, NULL,
	  "directory of the broker's write-ahead log (broker.wal)" },
	{ "BROKER_DURABILITY", CONFIG_ENUM, F(durability), "wal", 0, 0, durability_names,
	  "wal: 202 only once the event is in the write-ahead log, pending deliveries survive "
	  "a crash; memory: queues in memory only, lost on any stop" },
	{ "BROKER_FSYNC", CONFIG_ENUM, F(fsync), "batch", 0, 0, eventlog_fsync_names,
	  "write-ahead log sync: batch (group commit), always (one sync per event), never "
	  "(survives a process crash, not a machine crash)" },
	{ "BROKER_WAL_COMPACT", CONFIG_INT, F(compact_bytes), "16777216", 4096, LLONG_MAX, NULL,
	  "bytes past which the write-ahead log is rewritten to the pending deliveries" },
	{ "BROKER_QUEUE_MAX", CONFIG_INT, F(queue_max), "10000", 1, 10000000, NULL,
	  "deliveries pending at once; beyond it ingress answers 503" },
	{ "BROKER_QUEUE_BYTES", CONFIG_INT, F(queue_bytes), "67108864", 4096, LLONG_MAX, NULL,
	  "bytes of events pending at once (64 MiB); beyond it ingress answers 503" },
	{ "BROKER_MAX_TTL", CONFIG_INT, F(max_ttl), "255", 1, INT_MAX, NULL,
	  "knativebrokerttl given to new events (loop protection)" },
	{ "BROKER_TIMEOUT_DEFAULT", CONFIG_DURATION, F(timeout_default_ms), "PT30S", 1, LLONG_MAX,
	  NULL, "per-attempt timeout when delivery.timeout is unset" },
	{ "BROKER_TRIGGER_INFLIGHT", CONFIG_INT, F(trigger_inflight), "32", 1, 4096, NULL,
	  "delivery attempts in flight per Trigger" },
	{ "BROKER_SHUTDOWN_GRACE", CONFIG_DURATION, F(grace_ms), "PT5S", 0, LLONG_MAX, NULL,
	  "on SIGTERM, how long attempts in flight may finish (the rest are resumed)" },
	{ "HTTP_THREADS", CONFIG_INT, F(threads), "4", 1, 256, NULL, "ingress worker threads" },
};
#undef F
#define NVARS (ARRAY_SIZE(vars))

/*
 * The topology from BROKER_MANIFESTS and BROKER_SERVICES into *out. A manifest that cannot be
 * read or is not one this broker can serve is a bad setting (service_bad_setting(): one line,
 * status 2), as bad-word-filter's BADWORDS_FILE is. Returns 0 or that status.
 */
static int load_topology(const struct broker_config *cfg, struct topology **out)
{
	struct topology *topo = NULL;
	struct buf err;
	char self[64];
	int rc = 0;

	snprintf(self, sizeof(self), "http://127.0.0.1:%d", cfg->port);
	buf_init(&err, 4096);
	if (topology_load(cfg->manifests, cfg->services, self, &topo, &err) != 0)
		rc = service_bad_setting("BROKER_MANIFESTS / BROKER_SERVICES", err.data);
	else
		log_info("topology: %zu brokers and channels, %zu triggers and subscriptions, %zu "
			 "sequences from %s",
			 topo->nbrokers, topo->ntriggers, topo->nsequences, cfg->manifests);
	buf_release(&err);
	*out = topo;
	return rc;
}

/* Replays the write-ahead log (and an older version's spool). 0, or -1: do not start. */
static int resume(struct dispatcher *d, const char *wal, const char *spool)
{
	struct buf err;
	int n;

	buf_init(&err, 4096);
	n = dispatcher_resume(d, spool, &err);
	if (n < 0)
		log_error("the write-ahead log cannot be opened: %s", err.data);
	else if (n > 0)
		log_info("resumed %d pending deliveries from %s", n, wal);
	buf_release(&err);
	return n < 0 ? -1 : 0;
}

static void shutdown_all(const struct broker_config *cfg, struct http_server *srv,
			 struct ingress *in, struct dispatcher *d)
{
	ingress_stop(in);
	http_server_stop(srv);
	dispatcher_drain(d, cfg->grace_ms);
	(void)dispatcher_checkpoint(d);
}

static int run(const struct broker_config *cfg, struct topology *topo)
{
	struct dispatcher_options dopt = { 0 };
	struct http_server_config http = { 0 };
	struct ingress in = { .topo = topo };
	struct http_server *srv;
	char base[64], *spool = spool_path(cfg->data_dir);
	char *wal = xasprintf("%s/%s", cfg->data_dir, WAL_FILE);
	int rc = 1;

	snprintf(base, sizeof(base), "http://127.0.0.1:%d", cfg->port);
	dopt.queue_max = (size_t)cfg->queue_max;
	dopt.queue_bytes = (size_t)cfg->queue_bytes;
	dopt.wal_path = cfg->durability == DURABILITY_WAL ? wal : NULL;
	dopt.fsync = (enum eventlog_fsync)cfg->fsync;
	dopt.compact_bytes = cfg->compact_bytes;
	dopt.max_ttl = (int)cfg->max_ttl;
	dopt.timeout_default_ms = cfg->timeout_default_ms;
	dopt.trigger_inflight = (size_t)cfg->trigger_inflight;
	dopt.ingress_base = base;
	in.disp = dispatcher_new(topo, &dopt);
	if (resume(in.disp, wal, spool) != 0) {
		dispatcher_drain(in.disp, 0);
		goto cleanup;
	}
	http.port = cfg->port;
	http.service = "local-broker";
	http.routes = ingress_routes(&http.nroutes);
	http.ctx = &in;
	http.ready = ingress_ready;
	http.threads = (unsigned)cfg->threads;
	if (http_server_start(&http, &srv) != 0) {
		dispatcher_drain(in.disp, 0);
		goto cleanup;
	}
	log_info("local-broker listening on port %d (BROKER_DURABILITY=%s, BROKER_FSYNC=%s)",
		 http_server_port(srv), durability_names[cfg->durability],
		 eventlog_fsync_names[cfg->fsync]);
	service_wait();
	shutdown_all(cfg, srv, &in, in.disp);
	rc = 0;
cleanup:
	dispatcher_free(in.disp);
	free(wal);
	free(spool);
	return rc;
}

int main(int argc, char **argv)
{
	struct broker_config cfg = { 0 };
	struct topology *topo;
	int rc;

	service_start("local-broker", argc, argv, vars, NVARS, &cfg);
	rc = load_topology(&cfg, &topo);
	if (rc)
		return rc;
	if (spool_mkdirs(cfg.data_dir) != 0) { /* as the sinks' DATA_DIR */
		char why[PATH_MAX + 128];

		snprintf(why, sizeof(why), "cannot create %s: %s", cfg.data_dir, strerror(errno));
		topology_free(topo);
		return service_bad_setting("DATA_DIR", why);
	}
	rc = run(&cfg, topo);
	service_stop(); /* after the servers: flushes the last spans */
	topology_free(topo);
	return rc;
}
