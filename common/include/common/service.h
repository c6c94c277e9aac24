/*
 * service.h: the start and the stop that every service's main() shares, so that main.c only
 * reads its configuration, starts its parts and stops them:
 *
 *	int main(int argc, char **argv)
 *	{
 *		struct fs_config cfg = { 0 };
 *		struct http_server_config http = { 0 };
 *		int rc;
 *
 *		service_start("file-sink", argc, argv, vars, NVARS, &cfg);
 *		... open what the service needs, fill http ...
 *		rc = service_run(&http, ", writing %s", path);
 *		... free the rest ...
 *		return rc;
 *	}
 *
 * Settings every service reads besides its own table: LOG_LEVEL (debug|info|warn|error,
 * default info), the HTTP server's BIND_ADDRESS, HTTP_CLIENT_CONNECTIONS,
 * HTTP_HEADER_TIMEOUT_MS and HTTP_IDLE_TIMEOUT_MS (handed to http_set_defaults(), see http.h),
 * and the OTEL_* variables (otlp.h).
 */
#ifndef COMMON_SERVICE_H
#define COMMON_SERVICE_H

#include <stddef.h>

#include "common/config.h"

struct http_server_config;

/*
 * The PORT row of a service's settings table (as git's OPT_* macros build option tables):
 * type is the service's config struct, whose int port receives the value.
 */
#define SERVICE_VAR_PORT(type)                                                 \
	{                                                                      \
		"PORT", CONFIG_PORT, offsetof(type, port), "8080", 0, 0, NULL, \
		    "TCP port of the HTTP server"                              \
	}

/*
 * Handles the command line (--help prints the settings and exits 0; any other argument
 * exits 2), loads the service's settings into cfg and the shared ones (a bad value prints one
 * line and exits 2), sets up the JSON logs, blocks the termination signals in the calling
 * thread before any other thread exists (signals.h), and starts OpenTelemetry (otlp.h).
 */
void service_start(const char *name, int argc, char **argv, const struct config_var *vars,
		   size_t nvars, void *cfg);
/* Waits for SIGTERM, SIGINT, SIGHUP or SIGQUIT, logs which, and returns it. */
int service_wait(void);
/*
 * Flushes the last spans and pushes the metrics a final time (otlp_shutdown()). Call it after
 * the servers stopped and before freeing anything the metrics read.
 */
void service_stop(void);

/*
 * The serving part of a main() whose only server is one HTTP server: starts it, logs
 * "<http->service> listening on port <port>" followed by the formatted detail, waits for a
 * termination signal, stops the server and calls service_stop(). Returns the exit status:
 * 0, or 1 when the server could not start (service_stop() is called then too).
 */
int service_run(const struct http_server_config *http, const char *detail_fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A start-up error in a setting's content (a file that cannot be loaded): prints
 * "<setting>: <why>" to stderr, calls service_stop() and returns 2, the exit status of a bad
 * setting.
 */
int service_bad_setting(const char *setting, const char *why);

#endif
