/*
 * coldstart: measures a service's cold start, from fork+exec to the first 200 answer on a path.
 *
 *   coldstart RUNS PORT PATH BINARY [ARGS...]
 *
 * Each run forks, execs BINARY with this process's environment (stdout and stderr to
 * /dev/null), then polls 127.0.0.1:PORT: connect(2); on refusal sleep POLL_US and retry; once
 * connected send "GET PATH", and on anything but a 200 status line close and retry. The time
 * from just before fork() to reading the 200 status line is one sample (CLOCK_MONOTONIC).
 * Then the child is killed (SIGKILL: the start, not the stop, is measured) and reaped.
 * Prints one line per run "run N us", then "median_us M min_us A max_us B". Exits 1 when the
 * child exits early or is not up within 10 s.
 *
 * The request can be another one (the first request that needs more than the listener, e.g.
 * node-server's POST /add, which sends through libcurl):
 *   COLDSTART_METHOD   request method [GET]
 *   COLDSTART_HEADERS  extra header lines, each ending in \n (sent as \r\n) [none]
 *   COLDSTART_BODY     request body, sent with its Content-Length [none]
 *   COLDSTART_STATUS   the 3-digit status that ends a run [200]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define POLL_US	    50
#define DEADLINE_NS (10LL * 1000000000LL)

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void pause_us(long us)
{
	struct timespec ts = { 0, us * 1000 };

	nanosleep(&ts, NULL);
}

static const char *want_status = "200";

/* One attempt: 1 when the request was answered with want_status, else 0. */
static int probe(int port, const char *req, size_t req_len)
{
	struct sockaddr_in sa = { 0 };
	char resp[64];
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok = 0;

	if (fd < 0)
		return 0;
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    send(fd, req, req_len, MSG_NOSIGNAL) == (ssize_t)req_len) {
		while (got < 12) {
			ssize_t n = recv(fd, resp + got, sizeof(resp) - got, 0);

			if (n <= 0)
				break;
			got += (size_t)n;
		}
		ok = got >= 12 && memcmp(resp, "HTTP/1.", 7) == 0 &&
		     memcmp(resp + 9, want_status, 3) == 0;
	}
	close(fd);
	return ok;
}

static pid_t spawn(char **argv)
{
	pid_t pid = fork();

	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, 1);
		dup2(devnull, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* One cold start in nanoseconds, or -1. */
static long long one_run(int port, const char *req, size_t req_len, char **argv)
{
	long long t0 = now_ns(), t = -1;
	pid_t pid = spawn(argv);
	int status;

	if (pid < 0)
		return -1;
	for (;;) {
		if (probe(port, req, req_len)) {
			t = now_ns() - t0;
			break;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "coldstart: %s exited early (status %d)\n", argv[0],
				status);
			return -1;
		}
		if (now_ns() - t0 > DEADLINE_NS) {
			fprintf(stderr, "coldstart: %s not up within 10 s\n", argv[0]);
			break;
		}
		pause_us(POLL_US);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return t;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && *v ? v : fallback;
}

/* "GET path HTTP/1.1" and the headers and body from COLDSTART_*; its length, or -1. */
static int build_request(char *req, size_t size, const char *path)
{
	const char *method = env_or("COLDSTART_METHOD", "GET"),
		   *body = env_or("COLDSTART_BODY", "");
	const char *extra = env_or("COLDSTART_HEADERS", "");
	size_t len;
	int n;

	n = snprintf(req, size, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
		     method, path);
	if (n < 0 || (size_t)n >= size)
		return -1;
	len = (size_t)n;
	for (const char *p = extra; *p; p++) {
		if (*p == '\n' && len + 2 < size) {
			req[len++] = '\r';
			req[len++] = '\n';
		} else if (*p != '\n' && len + 1 < size) {
			req[len++] = *p;
		} else {
			return -1;
		}
	}
	if (*body)
		n = snprintf(req + len, size - len, "Content-Length: %zu\r\n\r\n%s", strlen(body),
			     body);
	else
		n = snprintf(req + len, size - len, "\r\n");
	if (n < 0 || (size_t)n >= size - len)
		return -1;
	return (int)(len + (size_t)n);
}

int main(int argc, char **argv)
{
	char req[4096];
	long long *t;
	int runs, port, i, req_len;

	if (argc < 5) {
		fprintf(stderr, "usage: coldstart RUNS PORT PATH BINARY [ARGS...]\n");
		return 2;
	}
	runs = (int)strtol(argv[1], NULL, 10);
	port = (int)strtol(argv[2], NULL, 10);
	if (runs < 1 || runs > 10000 || port < 1 || port > 65535) {
		fprintf(stderr, "coldstart: bad RUNS or PORT\n");
		return 2;
	}
	want_status = env_or("COLDSTART_STATUS", "200");
	if (strlen(want_status) != 3) {
		fprintf(stderr, "coldstart: COLDSTART_STATUS must be 3 digits\n");
		return 2;
	}
	req_len = build_request(req, sizeof(req), argv[3]);
	if (req_len <= 0) {
		fprintf(stderr, "coldstart: request longer than %zu bytes\n", sizeof(req));
		return 2;
	}
	t = calloc((size_t)runs, sizeof(*t));
	if (!t)
		return 1;
	for (i = 0; i < runs; i++) {
		t[i] = one_run(port, req, (size_t)req_len, argv + 4);
		if (t[i] < 0) {
			free(t);
			return 1;
		}
		printf("run %d %lld\n", i + 1, t[i] / 1000);
	}
	qsort(t, (size_t)runs, sizeof(*t), cmp_ll);
	printf("median_us %lld min_us %lld max_us %lld\n",
	       runs % 2 ? t[runs / 2] / 1000 : (t[runs / 2 - 1] + t[runs / 2]) / 2000, t[0] / 1000,
	       t[runs - 1] / 1000);
	free(t);
	return 0;
}
