/*
 * service.h: the start and the stop that every service's main() shares, so that main.c only
 * reads its configuration, starts its parts and stops them:
 *
 *	int main(int argc, char **argv)
 *	{
 *		struct fs_config cfg = { 0 };
 *
 *		service_start("file-sink", argc, argv, vars, NVARS, &cfg);
 *		... open what the service needs, http_server_start() ...
 *		service_wait();
 *		http_server_stop(srv);
 *		service_stop();
 *		... free the rest ...
 *		return 0;
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

#endif
