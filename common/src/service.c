#include "common/service.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/http.h"
#include "common/log.h"
#include "common/otlp.h"
#include "common/signals.h"
#include "common/xalloc.h"

struct shared_config {
	int log_level;
	const char *bind;
	long long client_connections;
	long long header_timeout_ms;
	long long idle_timeout_ms;
};

static const char *const level_names[] = { "debug", "info", "warn", "error", NULL };

static const struct config_var shared_vars[] = {
	{ "LOG_LEVEL", CONFIG_ENUM, offsetof(struct shared_config, log_level), "info", 0, 0,
	  level_names, "lowest level of the JSON log records written to stderr" },
	{ "BIND_ADDRESS", CONFIG_STRING, offsetof(struct shared_config, bind), NULL, 0, 0, NULL,
	  "IP address the HTTP server listens on (127.0.0.1, ::1); unset = every interface" },
	{ "HTTP_CLIENT_CONNECTIONS", CONFIG_INT, offsetof(struct shared_config, client_connections),
	  "0", 0, 1000000, NULL,
	  "connections one client address may hold; 0 = a quarter of the server's limit" },
	{ "HTTP_HEADER_TIMEOUT_MS", CONFIG_MILLIS,
	  offsetof(struct shared_config, header_timeout_ms), "10000", 1000, 3600000, NULL,
	  "a new connection is closed when its first request headers stall this long" },
	{ "HTTP_IDLE_TIMEOUT_MS", CONFIG_MILLIS, offsetof(struct shared_config, idle_timeout_ms),
	  "30000", 1000, 3600000, NULL,
	  "a connection (after its first headers) is closed when idle this long" },
};
#define NSHARED (ARRAY_SIZE(shared_vars))

/* Hands the shared HTTP settings to the HTTP layer (exits 2 on a bad combination). */
static void http_defaults(const struct shared_config *sh)
{
	struct sockaddr_in6 a6;
	struct sockaddr_in a4;

	if (sh->bind && *sh->bind && inet_pton(AF_INET, sh->bind, &a4.sin_addr) != 1 &&
	    inet_pton(AF_INET6, sh->bind, &a6.sin6_addr) != 1)
		config_exit("BIND_ADDRESS: '%.64s' is not an IPv4 or IPv6 address", sh->bind);
	if (sh->header_timeout_ms > sh->idle_timeout_ms)
		config_exit(
		    "HTTP_HEADER_TIMEOUT_MS (%lld) must not exceed HTTP_IDLE_TIMEOUT_MS (%lld)",
		    sh->header_timeout_ms, sh->idle_timeout_ms);
	/* libmicrohttpd counts whole seconds: round up. */
	http_set_defaults(sh->bind, (unsigned)((sh->idle_timeout_ms + 999) / 1000),
			  (unsigned)((sh->header_timeout_ms + 999) / 1000),
			  (unsigned)sh->client_connections);
}

void service_start(const char *name, int argc, char **argv, const struct config_var *vars,
		   size_t nvars, void *cfg)
{
	struct shared_config shared = { 0 };

	if (argc > 1) {
		int help = strcmp(argv[1], "--help") == 0;

		if (!help)
			fprintf(stderr,
				"%s: takes no arguments (settings come from the environment)\n",
				name);
		config_usage(vars, nvars);
		config_usage(shared_vars, NSHARED);
		exit(help ? 0 : 2);
	}
	config_load_or_exit(vars, nvars, cfg);
	config_load_or_exit(shared_vars, NSHARED, &shared);
	http_defaults(&shared);
	(void)log_init(name, level_names[shared.log_level]);
	signals_block();
	(void)otlp_init(name);
}

int service_wait(void)
{
	int sig = signals_wait();

	log_info("stopping on %s", signals_name(sig));
	return sig;
}

void service_stop(void)
{
	otlp_shutdown();
}

int service_run(const struct http_server_config *http, const char *detail_fmt, ...)
{
	struct http_server *srv;
	struct buf detail;
	va_list ap;

	if (http_server_start(http, &srv) != 0) {
		service_stop();
		return 1;
	}
	buf_init(&detail, 1024);
	va_start(ap, detail_fmt);
	(void)buf_vappendf(&detail, detail_fmt, ap);
	va_end(ap);
	log_info("%s listening on port %d%s", http->service, http_server_port(srv), detail.data);
	buf_release(&detail);
	service_wait();
	http_server_stop(srv);
	service_stop(); /* after the server, before what the metrics read is freed */
	return 0;
}

int service_bad_setting(const char *setting, const char *why)
{
	fprintf(stderr, "%s: %s\n", setting, why);
	service_stop();
	return 2;
}
