/*
 * bare.c: the ceiling for `make bench`: a bare libmicrohttpd keep-alive server answering every
 * request with 200 "ok" from a static buffer, one polling thread per CPU (epoll), no routing,
 * logging, metrics or tracing. Usage: bare <port>; prints "listening <port>" once it listens
 * and serves until SIGTERM or SIGINT.
 */
#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *body,
				  size_t *body_len, void **state)
{
	static char ok[] = "ok";
	struct MHD_Response *r;
	enum MHD_Result rc;

	(void)cls, (void)url, (void)method, (void)version, (void)body;
	if (*state == NULL) { /* the headers: wait for the body */
		*state = ok;
		return MHD_YES;
	}
	if (*body_len) { /* a body chunk: ignore it */
		*body_len = 0;
		return MHD_YES;
	}
	r = MHD_create_response_from_buffer(2, ok, MHD_RESPMEM_PERSISTENT);
	rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

int main(int argc, char **argv)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct MHD_Daemon *d;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL,
			     (uint16_t)(argc > 1 ? strtoul(argv[1], NULL, 10) : 0), NULL, NULL,
			     on_request, NULL, MHD_OPTION_THREAD_POOL_SIZE,
			     (unsigned)(cpus > 0 ? cpus : 1), MHD_OPTION_CONNECTION_LIMIT, 10000u,
			     MHD_OPTION_END);
	if (!d)
		return 1;
	printf("listening %u\n", (unsigned)MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
	fflush(stdout);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return 0;
}
