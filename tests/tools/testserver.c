/*
 * testserver: a test-only server on the common HTTP layer, with one route per feature the
 * integration tests exercise (tests/integration/http_*.test.mjs).
 *
 *	POST /json          parses a JSON body (ROUTE_JSON: wrong Content-Type is 415), echoes it
 *	POST /small         body cap of 16 bytes (413 beyond)
 *	GET  /items/{id}    echoes the decoded parameter and the query "q"
 *	GET  /slow?ms=N     suspends; a timer thread resumes it after N ms (default 100)
 *	GET  /headers       echoes every request header in order, duplicates included
 *	GET  /fail?code=N   fails with the err.h code -N (tests the error mapping)
 *	GET  /upgrade       101 with "Upgrade: test", writes "upgraded\n" on the raw socket, closes
 *
 * Environment: PORT (default 8080), TESTSERVER_BIND (default 127.0.0.1),
 * TESTSERVER_THREADS (default 4), TESTSERVER_GRACE_MS (default 5000), TESTSERVER_TIMEOUT_S
 * (idle connection timeout, default 30), TESTSERVER_READY
 * (false makes /readyz answer 503). CORS is on.
 */
#include <errno.h>
#include <unistd.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>

#include "common/config.h"
#include "common/err.h"
#include "common/ce.h"
#include "common/http.h"
#include "common/log.h"
#include "common/signals.h"
#include "common/xalloc.h"

struct ts_config {
	int port;
	const char *bind;
	long long threads;
	long long grace_ms;
	long long timeout_s;
	int ready;
	const char *log_level;
};

static const struct config_var ts_vars[] = {
	{ "PORT", CONFIG_PORT, offsetof(struct ts_config, port), "8080", 0, 0, NULL, "TCP port" },
	{ "TESTSERVER_BIND", CONFIG_STRING, offsetof(struct ts_config, bind), "127.0.0.1", 0, 0,
	  NULL, "bind address" },
	{ "TESTSERVER_THREADS", CONFIG_INT, offsetof(struct ts_config, threads), "4", 1, 64, NULL,
	  "server threads" },
	{ "TESTSERVER_GRACE_MS", CONFIG_MILLIS, offsetof(struct ts_config, grace_ms), "5000", 0,
	  600000, NULL, "shutdown grace" },
	{ "TESTSERVER_TIMEOUT_S", CONFIG_INT, offsetof(struct ts_config, timeout_s), "30", 1, 3600,
	  NULL, "idle connection timeout in seconds" },
	{ "TESTSERVER_READY", CONFIG_BOOL, offsetof(struct ts_config, ready), "true", 0, 0, NULL,
	  "whether /readyz says ready" },
	{ "LOG_LEVEL", CONFIG_STRING, offsetof(struct ts_config, log_level), "info", 0, 0, NULL,
	  "log level" },
};

static struct ts_config cfg;

/* ---- /slow: a timer thread that resumes parked requests ---------------------------------- */

struct parked {
	struct http_request *req;
	struct timespec due;
	struct parked *next;
};

static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static struct parked *park_list;
static int park_stop;
static pthread_t park_thread;

static int due(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* Takes the parked requests that are due (all of them when stopping). */
static struct parked *take_due(void)
{
	struct parked **pp = &park_list, *out = NULL;

	while (*pp) {
		struct parked *p = *pp;

		if (park_stop || due(&p->due)) {
			*pp = p->next;
			p->next = out;
			out = p;
		} else {
			pp = &p->next;
		}
	}
	return out;
}

static void *park_main(void *arg)
{
	const struct timespec tick = { 0, 2000000L };

	(void)arg;
	for (;;) {
		struct parked *p;
		int stop;

		pthread_mutex_lock(&park_lock);
		p = take_due();
		stop = park_stop && park_list == NULL;
		pthread_mutex_unlock(&park_lock);
		while (p) {
			struct parked *next = p->next;

			http_respond_json(p->req, 200, json_pack("{s:b}", "slow", 1));
			http_resume(p->req);
			free(p);
			p = next;
		}
		if (stop)
			break;
		nanosleep(&tick, NULL);
	}
	return NULL;
}

static int h_slow(struct http_request *req)
{
	const char *ms = http_query(req, "ms");
	long v = 100;
	struct parked *p;

	if (ms) {
		char *end;

		errno = 0;
		v = strtol(ms, &end, 10);
		if (errno || *end || end == ms || v < 0 || v > 60000)
			return http_fail(req, ERR_VALIDATION, "ms must be 0..60000");
	}
	p = xcalloc(1, sizeof(*p));
	p->req = req;
	clock_gettime(CLOCK_MONOTONIC, &p->due);
	p->due.tv_sec += v / 1000;
	p->due.tv_nsec += (v % 1000) * 1000000L;
	if (p->due.tv_nsec >= 1000000000L) {
		p->due.tv_sec++;
		p->due.tv_nsec -= 1000000000L;
	}
	http_suspend(req);
	pthread_mutex_lock(&park_lock);
	p->next = park_list;
	park_list = p;
	pthread_mutex_unlock(&park_lock);
	return 0;
}

/* ---- the other routes -------------------------------------------------------------------- */

static int h_json(struct http_request *req)
{
	json_error_t jerr;
	json_t *j = json_loadb(req->body, req->body_len, 0, &jerr);

	if (j == NULL)
		return http_fail(req, ERR_INVALID_JSON, "line %d column %d: %s", jerr.line,
				 jerr.column, jerr.text);
	return http_respond_json(req, 200, json_pack("{s:o}", "echo", j));
}

static int h_small(struct http_request *req)
{
	return http_respond_json(req, 200, json_pack("{s:I}", "bytes", (json_int_t)req->body_len));
}

static int h_item(struct http_request *req)
{
	const char *q = http_query(req, "q");
	json_t *j = json_object();

	json_object_set_new(j, "id", json_string(http_param(req, "id")));
	json_object_set_new(j, "route", json_string(req->route));
	json_object_set_new(j, "q", q ? json_string(q) : json_null());
	http_add_header(req, "X-Item", "yes");
	return http_respond_json(req, 200, j);
}

/* A JSON string, or a marker when the bytes are not UTF-8. */
static json_t *str_or_marker(const char *s)
{
	json_t *j = json_string(s);

	return j ? j : json_string("<invalid utf-8>");
}

static int h_headers(struct http_request *req)
{
	size_t i, n;
	const struct http_header *h = http_headers(req, &n);
	json_t *arr = json_array();

	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:o,s:o}", "name", str_or_marker(h[i].name),
						     "value", str_or_marker(h[i].value)));
	return http_respond_json(req, 200,
				 json_pack("{s:o,s:I}", "headers", arr, "x_dup",
					   (json_int_t)http_header_count(req, "X-Dup")));
}

static int h_fail(struct http_request *req)
{
	const char *code = http_query(req, "code");
	long v = code ? strtol(code, NULL, 10) : 10;

	return http_fail(req, (int)-v, "failing on purpose with %ld", v);
}

static void on_upgraded(void *arg, int fd, const char *extra, size_t extra_size,
			struct http_upgrade *up)
{
	static const char msg[] = "upgraded\n";

	(void)arg;
	(void)extra;
	(void)extra_size;
	if (write(fd, msg, sizeof(msg) - 1) < 0)
		log_warn("upgrade: write failed");
	http_upgrade_close(up);
}

static int h_upgrade(struct http_request *req)
{
	http_add_header(req, "Upgrade", "test");
	http_add_header(req, "Connection", "Upgrade");
	return http_respond_upgrade(req, on_upgraded, NULL);
}

/*
 * POST /ce: decodes a CloudEvent (binary, structured or batched) from the request and
 * answers 200 with the event(s) in the JSON format, or the decoder's error as the one JSON
 * error body. Exercises the CloudEvents decoder behind the real HTTP layer.
 */
static int h_ce(struct http_request *req)
{
	const struct http_header *hs;
	struct ce_decoded d;
	struct ce_error err;
	json_t *out;
	size_t n, i;
	int rc;

	hs = http_headers(req, &n);
	rc = ce_decode_http(hs, n, req->body, req->body_len, &d, &err);
	if (rc)
		return http_fail(req, rc, "%s", err.message);
	if (d.mode == CE_MODE_BATCH) {
		out = json_array();
		for (i = 0; i < d.n_events; i++)
			json_array_append_new(out, ce_to_json(d.events[i]));
	} else {
		out = ce_to_json(d.event);
	}
	ce_decoded_release(&d);
	return http_respond_json(req, 200, out);
}

static int ready(void *ctx, struct buf *reason)
{
	(void)ctx;
	if (cfg.ready)
		return 0;
	buf_appends(reason, "TESTSERVER_READY is false");
	return -1;
}

static const struct route routes[] = {
	{ "POST", "/json", h_json, 0, ROUTE_JSON }, /* 415 unless JSON */
	{ "POST", "/small", h_small, 16, 0 },	    /* 413 past 16 bytes */
	{ "GET", "/items/{id}", h_item, 0, 0 },	    /* path parameter */
	{ "GET", "/slow", h_slow, 0, 0 },	    /* suspend/resume */
	{ "GET", "/headers", h_headers, 0, 0 },	    /* every header */
	{ "GET", "/fail", h_fail, 0, 0 },	    /* error mapping */
	{ "GET", "/upgrade", h_upgrade, 0, 0 },	    /* 101 and a raw socket */
	{ "POST", "/ce", h_ce, 0, 0 },		    /* CloudEvents decoding */
};

int main(void)
{
	struct http_server_config hc = { 0 };
	struct http_server *srv;
	int sig;

	config_load_or_exit(ts_vars, ARRAY_SIZE(ts_vars), &cfg);
	if (log_init("testserver", cfg.log_level) != 0)
		return 2;
	signals_block();
	if (pthread_create(&park_thread, NULL, park_main, NULL) != 0)
		return 1;
	hc.port = cfg.port;
	hc.bind = cfg.bind;
	hc.service = "testserver";
	hc.routes = routes;
	hc.nroutes = ARRAY_SIZE(routes);
	hc.ready = ready;
	hc.threads = (unsigned)cfg.threads;
	hc.cors = 1;
	hc.shutdown_grace_ms = cfg.grace_ms;
	hc.connection_timeout_s = (unsigned)cfg.timeout_s;
	if (http_server_start(&hc, &srv) != 0)
		return 1;
	sig = signals_wait();
	log_info("stopping on %s", signals_name(sig));
	http_server_stop(srv);
	pthread_mutex_lock(&park_lock);
	park_stop = 1;
	pthread_mutex_unlock(&park_lock);
	pthread_join(park_thread, NULL);
	return 0;
}
