/*
 * sink202: the benchmarks' trivial HTTP subscriber. It answers every request with
 * "202 Accepted" and an empty body, at once, on one epoll thread (keep-alive, Content-Length
 * bodies; no chunked bodies). It stands in for K_SINK and for Trigger subscribers so that the
 * receiver is never the bottleneck of a measurement.
 *
 *   sink202 PORT [LOGFILE]
 *
 * PORT 0 picks a free port. The first line on stdout is "listening PORT". With LOGFILE, every
 * request appends one line "T_NS CE_ID PATH" with T_NS = CLOCK_MONOTONIC nanoseconds when the
 * whole request had arrived (the same clock as Node's process.hrtime), written with one
 * write(2) per request so that the file is complete while the process runs. SIGTERM or SIGINT
 * stop it with status 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX  ((size_t)64 * 1024)
#define BODY_MAX  ((size_t)8 * 1024 * 1024)
#define MAXEVENTS 256

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
};

static volatile sig_atomic_t stopping;
static int log_fd = -1;

static const char answer[] = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The value of header name (case-insensitive) in the head [p, end), copied into out. */
static void header_value(const char *p, const char *end, const char *name, char *out, size_t n)
{
	size_t nl = strlen(name);

	out[0] = '\0';
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
			const char *v = p + nl + 1;
			size_t vl;

			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			vl = (size_t)(eol - v);
			while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
				vl--;
			if (vl >= n)
				vl = n - 1;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return;
		}
		p = eol + 1;
	}
}

static void log_request(const char *head, const char *head_end, long long t)
{
	char id[128], path[128], line[320];
	const char *sp = memchr(head, ' ', (size_t)(head_end - head));
	size_t pl = 0;
	int n;

	header_value(head, head_end, "ce-id", id, sizeof(id));
	if (sp) {
		const char *q = sp + 1;

		while (q + pl < head_end && q[pl] != ' ' && pl < sizeof(path) - 1)
			pl++;
		memcpy(path, q, pl);
	}
	path[pl] = '\0';
	n = snprintf(line, sizeof(line), "%lld %s %s\n", t, id[0] ? id : "-", pl ? path : "-");
	if (n > 0 && write(log_fd, line, (size_t)n) < 0)
		perror("sink202: log");
}

/* The first "\r\n\r\n" in buf, or NULL. */
static char *head_end(char *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 4 <= len; i++)
		if (buf[i] == '\r' && memcmp(buf + i, "\r\n\r\n", 4) == 0)
			return buf + i;
	return NULL;
}

/* Answers every complete request in c->buf. Returns -1 when the connection must close. */
static int serve(struct conn *c)
{
	for (;;) {
		char *end = head_end(c->buf, c->len);
		char clen[32], conn[32];
		size_t head, total;
		long long body;

		if (!end)
			return c->len > HEAD_MAX ? -1 : 0;
		head = (size_t)(end - c->buf) + 4;
		header_value(c->buf, end, "content-length", clen, sizeof(clen));
		body = clen[0] ? strtoll(clen, NULL, 10) : 0;
		if (body < 0 || (size_t)body > BODY_MAX)
			return -1;
		total = head + (size_t)body;
		if (c->len < total)
			return 0;
		if (log_fd >= 0)
			log_request(c->buf, end, now_ns());
		if (send(c->fd, answer, sizeof(answer) - 1, MSG_NOSIGNAL) !=
		    (ssize_t)sizeof(answer) - 1)
			return -1;
		header_value(c->buf, end, "connection", conn, sizeof(conn));
		memmove(c->buf, c->buf + total, c->len - total);
		c->len -= total;
		if (strcasecmp(conn, "close") == 0)
			return -1;
	}
}

/* Reads what is available. Returns -1 when the connection must close. */
static int on_readable(struct conn *c)
{
	for (;;) {
		ssize_t n;

		if (c->cap - c->len < 4096) {
			c->cap = c->cap ? c->cap * 2 : 16384;
			if (c->cap > BODY_MAX + HEAD_MAX)
				return -1;
			c->buf = realloc(c->buf, c->cap);
			if (!c->buf)
				abort();
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n == 0)
			return -1;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		c->len += (size_t)n;
		if (serve(c) != 0)
			return -1;
	}
}

static void conn_close(struct conn *c)
{
	close(c->fd);
	free(c->buf);
	free(c);
}

static int listen_on(int port)
{
	struct sockaddr_in sa = { 0 };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4096) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		close(fd);
		return -1;
	}
	printf("listening %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	return fd;
}

static void accept_all(int lfd, int ep)
{
	for (;;) {
		int fd = accept(lfd, NULL, NULL), one = 1;
		struct epoll_event ev = { .events = EPOLLIN };
		struct conn *c;

		if (fd < 0)
			return;
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c)
			abort();
		c->fd = fd;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
			conn_close(c);
	}
}

int main(int argc, char **argv)
{
	struct epoll_event evs[MAXEVENTS], lev = { .events = EPOLLIN };
	struct sigaction sa = { 0 };
	int lfd, ep, n, i;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: sink202 PORT [LOGFILE]\n");
		return 2;
	}
	if (argc == 3) {
		log_fd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (log_fd < 0) {
			perror(argv[2]);
			return 2;
		}
	}
	sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	lfd = listen_on((int)strtol(argv[1], NULL, 10));
	if (lfd < 0) {
		perror("sink202: listen");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	lev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
	while (!stopping) {
		n = epoll_wait(ep, evs, MAXEVENTS, -1);
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (!c)
				accept_all(lfd, ep);
			else if (on_readable(c) != 0)
				conn_close(c); /* close() also removes it from the epoll set */
		}
	}
	return 0;
}
