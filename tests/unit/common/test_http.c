/*
 * Tests for the HTTP server (http.h) against a real server on 127.0.0.1 (port 0), driven by a
 * raw socket client so that malformed, oversized and abandoned requests can be sent, and for
 * the shared validation functions (http_check.h) and the lifecycle's transition table.
 *
 * Every read has a deadline (poll); nothing sleeps and hopes.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../../common/src/http_internal.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/http.h"
#include "common/http_check.h"
#include "common/log.h"
#include "common/trace.h"
#include "common/workpool.h"
#include "common/xalloc.h"
#include "../unit.h"

#define DEADLINE_MS 10000
#define STOP_ROUNDS 1000

/* ---- a raw client ------------------------------------------------------------------------- */

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		cr_assert_gt(n, 0, "send failed");
		data += n;
		len -= (size_t)n;
	}
}

/* Reads until the peer closes or the deadline passes; returns the bytes (caller frees). */
static char *read_all(int fd)
{
	long long deadline = clock_mono_ms() + DEADLINE_MS;
	struct buf b;
	char chunk[4096];

	buf_init(&b, 16 * 1024 * 1024);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - clock_mono_ms();
		ssize_t n;

		cr_assert_gt(left, 0, "no answer within %d ms", DEADLINE_MS);
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n <= 0)
			break;
		buf_append(&b, chunk, (size_t)n);
	}
	if (b.len == 0) {
		buf_release(&b);
		return xstrdup("");
	}
	return b.data; /* malloc'd once anything was appended */
}

/* Sends raw (which should say Connection: close) and returns the whole answer. */
static char *exchange(int port, const char *raw)
{
	int fd = dial(port);
	char *out;

	send_all(fd, raw, strlen(raw));
	out = read_all(fd);
	close(fd);
	return out;
}

/* Reads one response of a keep-alive connection (headers, then Content-Length bytes). */
static char *read_response(int fd)
{
	long long deadline = clock_mono_ms() + DEADLINE_MS;
	struct buf b;
	char chunk[4096];

	buf_init(&b, (size_t)1024 * 1024);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		const char *end = b.len ? strstr(b.data, "\r\n\r\n") : NULL;
		const char *cl = b.len ? strstr(b.data, "\r\nContent-Length:") : NULL;
		long long left = deadline - clock_mono_ms();
		ssize_t n;

		if (end && cl && cl < end &&
		    b.len >= (size_t)(end + 4 - b.data) + strtoul(cl + 17, NULL, 10))
			return b.data;
		cr_assert_gt(left, 0, "no whole answer within %d ms: %.200s", DEADLINE_MS,
			     b.len ? b.data : "");
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = recv(fd, chunk, sizeof(chunk), 0);
		cr_assert_gt(n, 0, "the connection closed before a whole answer");
		buf_append(&b, chunk, (size_t)n);
	}
}

static int status_of(const char *resp)
{
	int st = 0;

	cr_assert_eq(strncmp(resp, "HTTP/1.1 ", 9), 0, "not an HTTP answer: %.80s", resp);
	st = (int)strtol(resp + 9, NULL, 10);
	return st;
}

static const char *body_of(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");

	cr_assert_not_null(b);
	return b + 4;
}

/* ---- the server under test ---------------------------------------------------------------- */

static struct {
	atomic_int handled, resumed;
	pthread_t resumer;
	int resumer_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int release; /* a parked request may be answered */
	struct http_request *parked;
} t;

static int h_hello(struct http_request *req)
{
	struct arena *a = http_arena(req);
	char *msg = arena_printf(a, "hello %s q=%s h=%s", http_param(req, "name"),
				 http_query(req, "q") ? http_query(req, "q") : "-",
				 http_header(req, "x-test") ? http_header(req, "X-Test") : "-");

	atomic_fetch_add(&t.handled, 1);
	return http_respond(req, 200, "text/plain", msg, strlen(msg));
}

static int h_echo(struct http_request *req)
{
	atomic_fetch_add(&t.handled, 1);
	return http_respond(req, 200, "application/octet-stream", req->body, req->body_len);
}

static int h_silent(struct http_request *req)
{
	(void)req;
	return 0; /* neither answers nor suspends: the layer answers 500 */
}

static int h_fails(struct http_request *req)
{
	struct buf *msg = arena_buf(http_arena(req), 64);

	buf_appends(msg, "the store said no");
	return http_fail_buf(req, ERR_CONFLICT, msg);
}

/* Answers and resumes a parked request once the test releases it. */
static void *resumer(void *arg)
{
	struct http_request *req = arg;

	pthread_mutex_lock(&t.mu);
	while (!t.release)
		pthread_cond_wait(&t.cv, &t.mu);
	pthread_mutex_unlock(&t.mu);
	(void)http_respond(req, 200, "text/plain", "later", 5);
	(void)http_add_header(req, "X-Resumed", "yes");
	atomic_fetch_add(&t.resumed, 1);
	http_resume(req);
	return NULL;
}

static int h_park(struct http_request *req)
{
	atomic_fetch_add(&t.handled, 1);
	(void)http_suspend(req);
	pthread_mutex_lock(&t.mu);
	t.parked = req;
	pthread_cond_broadcast(&t.cv);
	pthread_mutex_unlock(&t.mu);
	cr_assert_eq(pthread_create(&t.resumer, NULL, resumer, req), 0);
	t.resumer_started = 1;
	return 0;
}

/* Suspends and is resumed by another thread before the handler returns. */
static int h_quick(struct http_request *req)
{
	pthread_t th;

	(void)http_suspend(req);
	pthread_mutex_lock(&t.mu);
	t.release = 1;
	pthread_mutex_unlock(&t.mu);
	cr_assert_eq(pthread_create(&th, NULL, resumer, req), 0);
	pthread_join(th, NULL);
	return 0;
}

static int ready_no(void *ctx, struct buf *reason)
{
	(void)ctx;
	buf_appends(reason, "postgres: connection refused");
	return -1;
}

static const struct route routes[] = {
	{ "GET", "/hello/{name}", h_hello, 0, 0 },  { "POST", "/echo", h_echo, 16, 0 },
	{ "POST", "/json", h_echo, 0, ROUTE_JSON }, { "GET", "/silent", h_silent, 0, 0 },
	{ "GET", "/fails", h_fails, 0, 0 },	    { "GET", "/park", h_park, 0, 0 },
	{ "GET", "/quick", h_quick, 0, 0 },
};

static struct http_server *srv;
static int port;

static void start(void)
{
	struct http_server_config cfg = {
		.bind = "127.0.0.1",
		.service = "test",
		.routes = routes,
		.nroutes = ARRAY_SIZE(routes),
		.ready = ready_no,
		.threads = 2,
		.shutdown_grace_ms = 300,
	};

	memset(&t, 0, sizeof(t));
	pthread_mutex_init(&t.mu, NULL);
	pthread_cond_init(&t.cv, NULL);
	cr_assert_eq(http_server_start(&cfg, &srv), 0);
	port = http_server_port(srv);
	cr_assert_gt(port, 0);
}

static void stop(void)
{
	if (srv)
		http_server_stop(srv);
	srv = NULL;
	if (t.resumer_started)
		pthread_join(t.resumer, NULL);
	pthread_cond_destroy(&t.cv);
	pthread_mutex_destroy(&t.mu);
}

TestSuite(http, .init = start, .fini = stop, .timeout = 60);

/* Waits until the parked handler ran. */
static void wait_parked(void)
{
	long long deadline = clock_mono_ms() + DEADLINE_MS;

	pthread_mutex_lock(&t.mu);
	while (!t.parked) {
		struct timespec ts = { 0, 0 };

		cr_assert_lt(clock_mono_ms(), deadline, "the handler never parked");
		pthread_mutex_unlock(&t.mu);
		ts.tv_nsec = 5000000L;
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&t.mu);
	}
	pthread_mutex_unlock(&t.mu);
}

static void release_parked(void)
{
	pthread_mutex_lock(&t.mu);
	t.release = 1;
	pthread_cond_broadcast(&t.cv);
	pthread_mutex_unlock(&t.mu);
}

/* ---- routing ------------------------------------------------------------------------------ */

Test(http, routes_params_query_and_headers)
{
	char *r = exchange(port, "GET /hello/w%20x?q=1 HTTP/1.1\r\nHost: a\r\nX-Test: yes\r\n"
				 "Connection: close\r\n\r\n");

	cr_assert_eq(status_of(r), 200, "%s", r);
	cr_assert_str_eq(body_of(r), "hello w x q=1 h=yes");
	free(r);
}

Test(http, unknown_path_is_404_json)
{
	char *r = exchange(port, "GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");

	cr_assert_eq(status_of(r), 404);
	cr_assert_not_null(strstr(r, "application/json"));
	cr_assert_not_null(strstr(body_of(r), "\"error\":\"not_found\""), "%s", r);
	free(r);
}

Test(http, wrong_method_is_405_with_allow)
{
	char *r = exchange(port, "DELETE /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");

	cr_assert_eq(status_of(r), 405);
	cr_assert_not_null(strstr(r, "Allow: POST"), "%s", r);
	free(r);
}

Test(http, malformed_requests_are_400_before_the_handler)
{
	char *r = exchange(port, "GET /hello/x HTTP/1.1\r\nConnection: close\r\n\r\n");

	cr_assert_eq(status_of(r), 400, "%s", r);
	cr_assert_not_null(strstr(r, "Host header"));
	free(r);
	r = exchange(port, "GET /hello/x HTTP/1.1\r\nHost: a\r\nX-Bad: a\x01z\r\n"
			   "Connection: close\r\n\r\n");
	cr_assert_eq(status_of(r), 400, "%s", r);
	free(r);
	cr_assert_eq(atomic_load(&t.handled), 0);
}

Test(http, handler_without_answer_is_500_and_failures_carry_the_message)
{
	char *r = exchange(port, "GET /silent HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");

	cr_assert_eq(status_of(r), 500, "%s", r);
	free(r);
	r = exchange(port, "GET /fails HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	cr_assert_eq(status_of(r), 409, "%s", r);
	cr_assert_not_null(strstr(body_of(r), "the store said no"), "%s", r);
	free(r);
}

Test(http, builtin_routes)
{
	char *r = exchange(port, "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");

	cr_assert_eq(status_of(r), 200);
	free(r);
	r = exchange(port, "GET /readyz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	cr_assert_eq(status_of(r), 503);
	cr_assert_not_null(strstr(body_of(r), "postgres: connection refused"), "%s", r);
	free(r);
	r = exchange(port, "GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	cr_assert_eq(status_of(r), 200);
	cr_assert_not_null(strstr(body_of(r), "http_server_request_duration_seconds"));
	free(r);
}

/* ---- bodies ------------------------------------------------------------------------------- */

Test(http, body_within_the_cap_reaches_the_handler)
{
	char *r = exchange(port, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
				 "Connection: close\r\n\r\nabcde");

	cr_assert_eq(status_of(r), 200, "%s", r);
	cr_assert_str_eq(body_of(r), "abcde");
	free(r);
}

Test(http, declared_too_large_is_413_at_once)
{
	char *r = exchange(port, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n"
				 "Connection: close\r\n\r\n");

	cr_assert_eq(status_of(r), 413, "%s", r);
	cr_assert_not_null(strstr(body_of(r), "exceeds 16 bytes"));
	free(r);
	cr_assert_eq(atomic_load(&t.handled), 0);
}

Test(http, chunked_body_past_the_cap_is_413_at_the_end)
{
	char *r = exchange(port, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
				 "Connection: close\r\n\r\n"
				 "10\r\n0123456789abcdef\r\n4\r\nmore\r\n0\r\n\r\n");

	cr_assert_eq(status_of(r), 413, "%s", r);
	free(r);
	cr_assert_eq(atomic_load(&t.handled), 0, "the handler never saw the body");
}

/* RFC 9112 §3.2.2: a server must accept the absolute form, which proxies use. */
Test(http, absolute_form_target_is_routed_by_its_path)
{
	static const struct {
		const char *target;
		int status;
		const char *body;
	} rows[] = {
		{ "http://127.0.0.1/hello/abs?q=1", 200, "hello abs q=1 h=-" },
		{ "HTTPS://example.com:8443/hello/x", 200, "hello x q=- h=-" },
		{ "http://h?q=1", 404, NULL }, /* no path: "/" */
		{ "ftp://h/hello/x", 400, NULL },
	};
	char req[256];

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char *r;

		snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", rows[i].target);
		r = exchange(port, req);
		cr_expect_eq(status_of(r), rows[i].status, "%s: %s", rows[i].target, r);
		if (rows[i].body)
			cr_expect_str_eq(body_of(r), rows[i].body, "%s", rows[i].target);
		free(r);
	}
}

/* RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing. */
Test(http, transfer_encoding_in_http_1_0_is_400)
{
	char *r = exchange(port, "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
				 "2\r\n{}\r\n0\r\n\r\n");

	cr_assert_eq(status_of(r), 400, "%s", r);
	cr_assert_not_null(strstr(body_of(r), "not allowed in an HTTP/1.0 request"), "%s", r);
	free(r);
	cr_assert_eq(atomic_load(&t.handled), 0);
}

Test(http, json_route_needs_json_content_type)
{
	char *r = exchange(port, "POST /json HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n"
				 "Content-Length: 2\r\nConnection: close\r\n\r\n{}");

	cr_assert_eq(status_of(r), 415, "%s", r);
	free(r);
	r = exchange(port,
		     "POST /json HTTP/1.1\r\nHost: a\r\nContent-Type: application/cloudevents+json;"
		     " charset=utf-8\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
	cr_assert_eq(status_of(r), 200, "%s", r);
	free(r);
}

/* ---- suspend / resume --------------------------------------------------------------------- */

Test(http, suspended_request_is_answered_on_resume)
{
	int fd = dial(port);
	const char *req = "GET /park HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	char *r;

	send_all(fd, req, strlen(req));
	wait_parked();
	cr_assert_eq(atomic_load(&t.resumed), 0);
	release_parked();
	r = read_all(fd);
	close(fd);
	cr_assert_eq(status_of(r), 200, "%s", r);
	cr_assert_not_null(strstr(r, "X-Resumed: yes"));
	cr_assert_str_eq(body_of(r), "later");
	free(r);
}

Test(http, resume_before_the_handler_returns)
{
	char *r = exchange(port, "GET /quick HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");

	cr_assert_eq(status_of(r), 200, "%s", r);
	cr_assert_str_eq(body_of(r), "later");
	free(r);
}

Test(http, stop_answers_parked_requests_with_503)
{
	int fd = dial(port);
	const char *req = "GET /park HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	char *r;

	send_all(fd, req, strlen(req));
	wait_parked();
	http_server_stop(srv); /* grace 300 ms, then 503 to the parked request */
	srv = NULL;
	r = read_all(fd);
	close(fd);
	cr_assert_eq(status_of(r), 503, "%s", r);
	cr_assert_not_null(strstr(body_of(r), "shutting down"));
	free(r);
	release_parked(); /* the late http_resume() is harmless */
}

/* ---- clients that go away ----------------------------------------------------------------- */

Test(http, client_gone_mid_body_never_reaches_the_handler)
{
	int fd = dial(port);
	const char *req = "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc";
	char *r;

	send_all(fd, req, strlen(req));
	close(fd);
	/* The server is still whole: the next request works, and the first one never ran. */
	r = exchange(port, "GET /hello/y HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	cr_assert_eq(status_of(r), 200, "%s", r);
	free(r);
	cr_assert_eq(atomic_load(&t.handled), 1);
}

Test(http, client_gone_while_parked)
{
	int fd = dial(port);
	const char *req = "GET /park HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	char *r;

	send_all(fd, req, strlen(req));
	wait_parked();
	close(fd);
	release_parked(); /* resumes a request whose client left */
	r = exchange(port, "GET /hello/z HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	cr_assert_eq(status_of(r), 200, "%s", r);
	free(r);
}

/* ---- stopping under load ------------------------------------------------------------------ */

struct loader {
	atomic_int stop;
	int port;
	atomic_long served; /* read by the test's thread while the loader runs */
	pthread_t th;
};

/* New connections, one request each, until told to stop; a refused connect is expected. */
static void *loader_main(void *arg)
{
	static const char req[] =
	    "GET /hello/load HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	struct loader *l = arg;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)l->port) };
	char chunk[512];

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	while (!atomic_load(&l->stop)) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0)
			break;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) > 0) {
			while (recv(fd, chunk, sizeof(chunk), 0) > 0)
				;
			atomic_fetch_add(&l->served, 1);
		}
		close(fd);
	}
	return NULL;
}

/*
 * libmicrohttpd 0.9.75 with a thread pool on epoll: MHD_quiesce_daemon() takes the listening
 * socket out of each worker's epoll set while that worker, woken by traffic, may take it out
 * itself; the loser's EPOLL_CTL_DEL fails and MHD aborts the process ("Failed to remove listen
 * FD from epoll set"). Each round stops a server that four clients keep busy: the process must
 * live through every stop.
 */
Test(http_stop, a_busy_server_stops_every_time, .timeout = 120)
{
	struct http_server_config cfg = {
		.bind = "127.0.0.1",
		.service = "test",
		.routes = routes,
		.nroutes = ARRAY_SIZE(routes),
		.threads = 2,
		.shutdown_grace_ms = 300,
	};
	long served = 0;

	log_init("test", "warn"); /* not an access-log line per request */
	for (int round = 0; round < STOP_ROUNDS; round++) {
		struct loader l[4] = { 0 };
		struct http_server *s = NULL;

		cr_assert_eq(http_server_start(&cfg, &s), 0);
		for (size_t i = 0; i < ARRAY_SIZE(l); i++) {
			l[i].port = http_server_port(s);
			pthread_create(&l[i].th, NULL, loader_main, &l[i]);
		}
		while (atomic_load(&l[0].served) + atomic_load(&l[3].served) < 20) /* under way */
			sched_yield();
		http_server_stop(s);
		for (size_t i = 0; i < ARRAY_SIZE(l); i++) {
			atomic_store(&l[i].stop, 1);
			pthread_join(l[i].th, NULL);
			served += atomic_load(&l[i].served);
		}
	}
	cr_expect_geq(served, 20 * STOP_ROUNDS);
}

/* ---- ROUTE_BLOCKING handlers on the blocking pool ----------------------------------------- */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int entered, release;
	int span_current; /* every handler found its request's span current */
} b;

static int h_block(struct http_request *req)
{
	pthread_mutex_lock(&b.mu);
	b.entered++;
	b.span_current &= trace_current() == req->span;
	pthread_cond_broadcast(&b.cv);
	while (!b.release)
		pthread_cond_wait(&b.cv, &b.mu);
	pthread_mutex_unlock(&b.mu);
	return http_respond(req, 200, "text/plain", "done", 4);
}

static int h_block_fails(struct http_request *req)
{
	return http_fail(req, ERR_CONFLICT, "blocked and said no");
}

static const struct route blocking_routes[] = {
	{ "GET", "/block", h_block, 0, ROUTE_BLOCKING },
	{ "GET", "/block-fails", h_block_fails, 0, ROUTE_BLOCKING },
};

/* One MHD thread, and blocking_threads / blocking_queue as asked. */
static struct http_server *start_blocking(unsigned nthreads, size_t queue)
{
	struct http_server_config cfg = {
		.bind = "127.0.0.1",
		.service = "test",
		.routes = blocking_routes,
		.nroutes = ARRAY_SIZE(blocking_routes),
		.ready = ready_no,
		.threads = 1,
		.blocking_threads = nthreads,
		.blocking_queue = queue,
		.shutdown_grace_ms = 300,
	};
	struct http_server *s = NULL;

	memset(&b, 0, sizeof(b));
	b.span_current = 1;
	pthread_mutex_init(&b.mu, NULL);
	cr_assert_eq(clock_cond_init(&b.cv), 0);
	cr_assert_eq(http_server_start(&cfg, &s), 0);
	return s;
}

/* Waits until n handlers have entered h_block. */
static void wait_entered(int n)
{
	unit_wait_count(&b.mu, &b.cv, &b.entered, n, DEADLINE_MS);
}

static void release_blocked(void)
{
	pthread_mutex_lock(&b.mu);
	b.release = 1;
	pthread_cond_broadcast(&b.cv);
	pthread_mutex_unlock(&b.mu);
}

static int send_get(int p, const char *path)
{
	char req[128];
	int fd = dial(p);

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", path);
	send_all(fd, req, strlen(req));
	return fd;
}

static int answer_status(int fd, const char *body)
{
	char *r = read_all(fd);
	int st = status_of(r);

	close(fd);
	if (body)
		cr_assert_str_eq(body_of(r), body, "%s", r);
	free(r);
	return st;
}

/*
 * Three handlers block on one libmicrohttpd thread's server: the probes, /metrics and a
 * failing blocking route still answer before any of them is let go. Run on the MHD thread,
 * the first handler would hold the only thread and every probe would wait (10 s, then fail).
 */
Test(http_blocking, probes_answer_while_every_handler_waits, .timeout = 60)
{
	struct http_server *s = start_blocking(4, 0);
	int p = http_server_port(s), fds[3];

	for (int i = 0; i < 3; i++)
		fds[i] = send_get(p, "/block");
	wait_entered(3);
	cr_assert_eq(answer_status(send_get(p, "/healthz"), "{\"status\":\"ok\"}"), 200);
	cr_assert_eq(answer_status(send_get(p, "/readyz"), NULL), 503);
	cr_assert_eq(answer_status(send_get(p, "/metrics"), NULL), 200);
	cr_assert_eq(answer_status(send_get(p, "/block-fails"), NULL), 409);
	pthread_mutex_lock(&b.mu);
	cr_assert_eq(b.entered, 3, "nothing was let go yet");
	pthread_mutex_unlock(&b.mu);
	release_blocked();
	for (int i = 0; i < 3; i++)
		cr_assert_eq(answer_status(fds[i], "done"), 200);
	cr_assert(b.span_current, "the SERVER span is current on the pool thread");
	http_server_stop(s);
}

/*
 * One blocking thread and room for one waiting request: the third is 503 overloaded with
 * Retry-After. Then the stop answers both held requests 503, and the one still queued never
 * runs its handler.
 */
static void *stopper(void *arg)
{
	http_server_stop(arg);
	return NULL;
}

Test(http_blocking, a_full_queue_is_503_and_the_stop_runs_nothing_queued, .timeout = 60)
{
	struct http_server *s = start_blocking(1, 1);
	int p = http_server_port(s), running, queued;
	long long deadline = clock_mono_ms() + DEADLINE_MS;
	pthread_t th;
	char *r;

	running = send_get(p, "/block");
	wait_entered(1);
	queued = send_get(p, "/block");
	while (workpool_queued(s->blocking) < 1)
		cr_assert_lt(clock_mono_ms(), deadline, "the second request never queued");
	r = exchange(p, "GET /block HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	cr_assert_eq(status_of(r), 503, "%s", r);
	cr_assert_not_null(strstr(r, "Retry-After: 1"), "%s", r);
	cr_assert_not_null(strstr(body_of(r), "\"error\":\"overloaded\""), "%s", r);
	free(r);
	/* The stop: grace 300 ms, 503 to both, then it waits for the running handler. */
	cr_assert_eq(pthread_create(&th, NULL, stopper, s), 0);
	cr_assert_eq(answer_status(running, NULL), 503);
	cr_assert_eq(answer_status(queued, NULL), 503);
	release_blocked();
	pthread_join(th, NULL);
	cr_assert_eq(b.entered, 1, "the queued handler ran after the stop answered it");
}

/*
 * A keep-alive connection's next request reaches the blocking pool once the stop has begun
 * (in the drain after the grace period): 503 at once, and its handler never runs. It used to
 * be handed to the pool, where an idle thread could start the handler while the stop answered
 * 503: the client was told 503 for work that was done.
 */
Test(http_blocking, a_request_after_the_stop_began_is_503_and_never_runs, .timeout = 60)
{
	static const char probe[] = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char late[] = "GET /block HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char partial_req[] =
	    "GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc";
	struct http_server *s = start_blocking(2, 0);
	int p = http_server_port(s), keep, partial, held;
	pthread_t th;
	char *r;

	keep = dial(p);
	send_all(keep, probe, strlen(probe));
	r = read_response(keep);
	cr_assert_eq(status_of(r), 200, "%s", r);
	free(r);
	partial = dial(p); /* a request in flight: the stop drains for its full 2 s */
	send_all(partial, partial_req, strlen(partial_req));
	held = send_get(p, "/block");
	wait_entered(1);
	cr_assert_eq(pthread_create(&th, NULL, stopper, s), 0);
	cr_assert_eq(answer_status(held, NULL), 503); /* the stop has begun */
	send_all(keep, late, strlen(late));
	r = read_response(keep);
	cr_assert_eq(status_of(r), 503, "%s", r);
	cr_assert_not_null(strstr(body_of(r), "shutting down"), "%s", r);
	free(r);
	release_blocked();
	pthread_join(th, NULL);
	cr_assert_eq(b.entered, 1, "a handler ran for a request the stop refused");
	close(keep);
	close(partial);
}

/* ---- the SERVER span of a request that did not go through --------------------------------- */

static struct {
	pthread_mutex_t mu;
	int n;
	char name[64], error_type[32];
	enum trace_status status;
} spans = { .mu = PTHREAD_MUTEX_INITIALIZER };

static int capture_span(void *arg, struct trace_span *const *batch, size_t n, long long deadline)
{
	(void)arg;
	(void)deadline;
	pthread_mutex_lock(&spans.mu);
	for (size_t i = 0; i < n; i++, spans.n++) {
		snprintf(spans.name, sizeof(spans.name), "%s", batch[i]->name);
		spans.status = batch[i]->status;
		spans.error_type[0] = '\0';
		for (size_t j = 0; j < batch[i]->nattrs; j++)
			if (!strcmp(batch[i]->attrs[j].key, "error.type"))
				snprintf(spans.error_type, sizeof(spans.error_type), "%s",
					 batch[i]->attrs[j].v.s);
	}
	pthread_mutex_unlock(&spans.mu);
	return 0;
}

/*
 * A client that sends part of a body and goes away: the request never went through, which
 * semconv's HTTP spans call an Error (with error.type). The span had the error.type only, its
 * status left Unset, so error filters and span-based error rates missed it.
 */
Test(http_span, a_request_the_client_abandoned_is_an_error, .timeout = 60)
{
	struct http_server_config cfg = {
		.bind = "127.0.0.1",
		.service = "test",
		.routes = routes,
		.nroutes = ARRAY_SIZE(routes),
		.threads = 1,
	};
	struct trace_config tc;
	struct http_server *s = NULL;
	const char *req = "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc";
	long long deadline = clock_mono_ms() + DEADLINE_MS;
	int fd;

	trace_config_defaults(&tc);
	tc.export = capture_span;
	tc.schedule_delay_ms = 60000;
	cr_assert_eq(trace_init(&tc), 0);
	cr_assert_eq(http_server_start(&cfg, &s), 0);
	fd = dial(http_server_port(s));
	send_all(fd, req, strlen(req));
	while (atomic_load(&s->active) == 0) /* routed, reading the body */
		cr_assert_lt(clock_mono_ms(), deadline, "the request never started");
	close(fd);
	while (atomic_load(&s->active) > 0) /* libmicrohttpd saw it go */
		cr_assert_lt(clock_mono_ms(), deadline, "the request never completed");
	http_server_stop(s);
	trace_shutdown(); /* exports the span */
	cr_assert_eq(spans.n, 1);
	cr_assert_str_eq(spans.name, "POST /echo");
	cr_assert_str_eq(spans.error_type, "connection_aborted");
	cr_assert_eq(spans.status, TRACE_STATUS_ERROR);
}

/* ---- the lifecycle's transition table ----------------------------------------------------- */

Test(http_lifecycle, edges_of_the_diagram_are_legal)
{
	static const int edges[][2] = {
		{ CONN_HEADERS, CONN_BODY },	  { CONN_HEADERS, CONN_QUEUED },
		{ CONN_HEADERS, CONN_DONE },	  { CONN_BODY, CONN_DISCARD },
		{ CONN_BODY, CONN_HANDLER },	  { CONN_BODY, CONN_DONE },
		{ CONN_DISCARD, CONN_QUEUED },	  { CONN_DISCARD, CONN_DONE },
		{ CONN_HANDLER, CONN_SUSPENDED }, { CONN_HANDLER, CONN_QUEUED },
		{ CONN_SUSPENDED, CONN_PARKED },  { CONN_SUSPENDED, CONN_RESUMED },
		{ CONN_PARKED, CONN_RESUMED },	  { CONN_PARKED, CONN_DONE },
		{ CONN_RESUMED, CONN_QUEUED },	  { CONN_RESUMED, CONN_DONE },
		{ CONN_QUEUED, CONN_DONE },
	};
	size_t n = ARRAY_SIZE(edges), legal = 0;

	for (size_t i = 0; i < n; i++)
		cr_assert(http_conn_transition_ok(edges[i][0], edges[i][1]), "edge %d -> %d",
			  edges[i][0], edges[i][1]);
	for (int from = CONN_HEADERS; from <= CONN_DONE; from++)
		for (int to = CONN_HEADERS; to <= CONN_DONE; to++)
			legal += (size_t)http_conn_transition_ok(from, to);
	cr_assert_eq(legal, n, "the table has edges the diagram does not");
}

Test(http_lifecycle, illegal_steps_are_refused)
{
	cr_assert_not(http_conn_transition_ok(CONN_HEADERS, CONN_HANDLER));
	cr_assert_not(http_conn_transition_ok(CONN_HANDLER, CONN_DONE));
	cr_assert_not(http_conn_transition_ok(CONN_QUEUED, CONN_HANDLER));
	cr_assert_not(http_conn_transition_ok(CONN_DONE, CONN_HEADERS));
	cr_assert_not(http_conn_transition_ok(CONN_PARKED, CONN_QUEUED));
	cr_assert_not(http_conn_transition_ok(CONN_BODY, CONN_BODY));
	cr_assert_not(http_conn_transition_ok(-1, CONN_BODY));
	cr_assert_not(http_conn_transition_ok(CONN_BODY, CONN_DONE + 1));
}

/* ---- shared validation (http_check.h) ----------------------------------------------------- */

Test(http_check, tokens)
{
	cr_assert(http_check_token("GET"));
	cr_assert(http_check_token("X-Custom_1!#$%&'*+.^`|~"));
	cr_assert_not(http_check_token(""));
	cr_assert_not(http_check_token(NULL));
	cr_assert_not(http_check_token("a b"));
	cr_assert_not(http_check_token("a:b"));
	cr_assert_not(http_check_token("caf\xc3\xa9"));
}

Test(http_check, one_method_list_for_server_and_client)
{
	cr_assert_str_eq(http_check_method("GET"), "GET");
	cr_assert_str_eq(http_check_method("QUERY"), "QUERY");
	cr_assert_str_eq(http_check_method("CONNECT"), "CONNECT");
	cr_assert_str_eq(http_check_method("get"), "_OTHER");
	cr_assert_str_eq(http_check_method("BREW"), "_OTHER");
}

Test(http_check, values_and_text)
{
	cr_assert(http_check_value("plain value"));
	cr_assert_not(http_check_value("a\r\nX-Injected: 1"));
	cr_assert_not(http_check_value("a\nb"));
	cr_assert(http_check_text("tab\tand caf\xc3\xa9 \xf0\x9f\x93\x9a"));
	cr_assert(http_check_text(""));
	cr_assert_not(http_check_text("bell\x07"));
	cr_assert_not(http_check_text("del\x7f"));
	cr_assert_not(http_check_text("\xc0\xaf"));	    /* overlong */
	cr_assert_not(http_check_text("\xed\xa0\x80"));	    /* surrogate */
	cr_assert_not(http_check_text("\xf4\x90\x80\x80")); /* past U+10FFFF */
	cr_assert_not(http_check_text("\xe2\x82"));	    /* truncated */
}

Test(http_check, json_content_types)
{
	cr_assert(http_check_json_type("application/json"));
	cr_assert(http_check_json_type(" Application/JSON; charset=utf-8"));
	cr_assert(http_check_json_type("application/cloudevents+json"));
	cr_assert_not(http_check_json_type("application/+json"));
	cr_assert_not(http_check_json_type("text/json"));
	cr_assert_not(http_check_json_type("application/jsonx"));
	cr_assert_not(http_check_json_type(NULL));
}

Test(http_check, requests)
{
	const struct http_header ok[] = { { "Host", "a" }, { "Transfer-Encoding", "chunked" } };
	const struct http_header two_cl[] = { { "Host", "a" },
					      { "Content-Length", "1" },
					      { "content-length", "1" } };
	const struct http_header te_cl[] = { { "Host", "a" },
					     { "Transfer-Encoding", "chunked" },
					     { "Content-Length", "1" } };
	const struct http_header gzip[] = { { "Host", "a" }, { "Transfer-Encoding", "gzip" } };
	const struct http_header bad_name[] = { { "Host", "a" }, { "Bad Name", "x" } };

	cr_assert_null(http_check_request("GET", "HTTP/1.1", ok, 2));
	cr_assert_null(http_check_request("GET", "HTTP/1.0", NULL, 0));
	cr_assert_str_eq(http_check_request("GET", "HTTP/1.1", NULL, 0),
			 "HTTP/1.1 requests need exactly one Host header");
	cr_assert_str_eq(http_check_request("G(T", "HTTP/1.1", ok, 2), "malformed method");
	cr_assert_str_eq(http_check_request("GET", "HTTP/1.1", two_cl, 3),
			 "more than one Content-Length");
	cr_assert_str_eq(http_check_request("GET", "HTTP/1.1", te_cl, 3),
			 "Content-Length and Transfer-Encoding together");
	cr_assert_str_eq(http_check_request("GET", "HTTP/1.1", gzip, 2),
			 "only Transfer-Encoding: chunked is supported");
	cr_assert_str_eq(http_check_request("POST", "HTTP/1.0", ok, 2),
			 "Transfer-Encoding is not allowed in an HTTP/1.0 request");
	cr_assert_str_eq(http_check_request("GET", "HTTP/1.1", bad_name, 2),
			 "malformed header name");
}

Test(http_check, origin_form)
{
	const char *origin = "/x?y", *star = "*";

	cr_assert_eq(http_check_origin_form(origin), origin);
	cr_assert_eq(http_check_origin_form(star), star);
	cr_assert_str_eq(http_check_origin_form("http://h:1/p?q"), "/p?q");
	cr_assert_str_eq(http_check_origin_form("hTTp://h/"), "/");
	cr_assert_str_eq(http_check_origin_form("https://u@h?q"), "?q");
	cr_assert_str_eq(http_check_origin_form("http://h"), "");
	cr_assert_str_eq(http_check_origin_form("http:/h/p"), "http:/h/p");
}
