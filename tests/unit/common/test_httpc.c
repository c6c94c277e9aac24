/*
 * Tests for the asynchronous HTTP client, against a small libmicrohttpd server started inside
 * the test (thread per connection, so a delayed answer blocks only its own connection).
 *
 * Server routes: /status/N answers N; /echo answers the request body and reports the method
 * and some request headers in response headers; /delay/N answers after N ms (cut short when
 * the server stops); /big/N answers N bytes with a Content-Length; /chunked/N the same in
 * chunked encoding; /headers answers several headers, two of them with the same name.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../unit.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/httpc.h"
#include "common/trace.h"
#include "common/xalloc.h"

/* ---- helpers -------------------------------------------------------------------------- */

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
}

/* Waits on cv (mu held) until the absolute CLOCK_MONOTONIC time deadline_ms. */
static void cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, long long deadline_ms)
{
	struct timespec ts = { .tv_sec = deadline_ms / 1000,
			       .tv_nsec = (deadline_ms % 1000) * 1000000 };

	pthread_cond_timedwait(cv, mu, &ts);
}

/* A counter that callbacks bump and the test waits on with a deadline. */
struct counter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n;
};

static void counter_init(struct counter *k)
{
	pthread_mutex_init(&k->mu, NULL);
	cond_init_mono(&k->cv);
	k->n = 0;
}

static void counter_destroy(struct counter *k)
{
	pthread_cond_destroy(&k->cv);
	pthread_mutex_destroy(&k->mu);
}

static void counter_add(struct counter *k)
{
	pthread_mutex_lock(&k->mu);
	k->n++;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
}

/* Returns the count once it reaches target, or what it is when timeout_ms has passed. */
static int counter_wait(struct counter *k, int target, long long timeout_ms)
{
	long long deadline = mono_ms() + timeout_ms;
	int n;

	pthread_mutex_lock(&k->mu);
	while (k->n < target && mono_ms() < deadline)
		cond_wait_until(&k->cv, &k->mu, deadline);
	n = k->n;
	pthread_mutex_unlock(&k->mu);
	return n;
}

/* ---- the test server ------------------------------------------------------------------ */

static struct MHD_Daemon *server;
static int server_port;
static atomic_int server_connections;
static atomic_int server_delays_started;
static pthread_mutex_t server_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t server_cv;
static int server_stopping;

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	(void)conn;
	(void)socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&server_connections, 1);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct buf *body = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (body) {
		buf_release(body);
		free(body);
		*con_cls = NULL;
	}
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body,
			     size_t len, const char *const *headers)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer_with_free_callback(len, xstrndup(body, len), free);
	enum MHD_Result ret;

	for (; headers && headers[0]; headers += 2)
		MHD_add_response_header(r, headers[0], headers[1]);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static const char *header_or(struct MHD_Connection *conn, const char *name, const char *dflt)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

	return v ? v : dflt;
}

static enum MHD_Result route_echo(struct MHD_Connection *conn, const char *method,
				  const struct buf *body)
{
	char empty[64];
	const char *headers[13] = { "X-Method", method, "X-Echo-Test", "", "X-Content-Type", "",
				    "X-Empty",	empty,	"X-Expect",    "", "X-User-Agent",   "" };

	headers[3] = header_or(conn, "X-Test", "none");
	headers[5] = header_or(conn, "Content-Type", "none");
	headers[9] = header_or(conn, "Expect", "none");
	headers[11] = header_or(conn, "User-Agent", "none");
	/* Brackets, so that an empty request header is seen as "[]". */
	snprintf(empty, sizeof(empty), "[%s]", header_or(conn, "X-Empty", "none"));
	return reply(conn, 200, body->data, body->len, headers);
}

/* Sleeps up to ms milliseconds, or less when the server is being stopped. */
static void server_delay(long ms)
{
	long long deadline = mono_ms() + ms;

	atomic_fetch_add(&server_delays_started, 1);
	pthread_mutex_lock(&server_mu);
	while (!server_stopping && mono_ms() < deadline)
		cond_wait_until(&server_cv, &server_mu, deadline);
	pthread_mutex_unlock(&server_mu);
}

static ssize_t chunk_reader(void *cls, uint64_t pos, char *out, size_t max)
{
	size_t total = (size_t)(uintptr_t)cls, n;

	if (pos >= total)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = total - (size_t)pos < max ? total - (size_t)pos : max;
	n = n > 1000 ? 1000 : n;
	memset(out, 'c', n);
	return (ssize_t)n;
}

static enum MHD_Result route_sized(struct MHD_Connection *conn, long n, int chunked)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *data;

	if (chunked) {
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1000, chunk_reader,
						      (void *)(uintptr_t)n, NULL);
	} else {
		data = xmalloc((size_t)n + 1);
		memset(data, 'b', (size_t)n);
		r = MHD_create_response_from_buffer_with_free_callback((size_t)n, data, free);
	}
	ret = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result dispatch(struct MHD_Connection *conn, const char *url, const char *method,
				const struct buf *body)
{
	static const char *const multi[] = { "X-One",	   "1",	  "Set-Cookie", "a=1",
					     "Set-Cookie", "b=2", "X-Spaced",	"  padded value  ",
					     NULL };
	long n = 0;

	if (sscanf(url, "/status/%ld", &n) == 1)
		return reply(conn, (unsigned)n, "status", 6, NULL);
	if (strcmp(url, "/echo") == 0)
		return route_echo(conn, method, body);
	if (sscanf(url, "/delay/%ld", &n) == 1) {
		server_delay(n);
		return reply(conn, 200, "late", 4, NULL);
	}
	if (sscanf(url, "/big/%ld", &n) == 1)
		return route_sized(conn, n, 0);
	if (sscanf(url, "/chunked/%ld", &n) == 1)
		return route_sized(conn, n, 1);
	if (strcmp(url, "/headers") == 0)
		return reply(conn, 200, "", 0, multi);
	return reply(conn, 404, "no route", 8, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct buf *body = *con_cls;

	(void)cls;
	(void)version;
	if (!body) {
		body = xmalloc(sizeof(*body));
		buf_init(body, 0);
		*con_cls = body;
		return MHD_YES;
	}
	if (*upload_size) {
		buf_append(body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	return dispatch(conn, url, method, body);
}

static void server_start(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cond_init_mono(&server_cv);
	server = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
	    on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
	    NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_CONNECTION_LIMIT,
	    2000u, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
	cr_assert_not_null(server, "test server did not start");
	server_port = MHD_get_daemon_info(server, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static void server_stop(void)
{
	pthread_mutex_lock(&server_mu);
	server_stopping = 1;
	pthread_cond_broadcast(&server_cv);
	pthread_mutex_unlock(&server_mu);
	MHD_stop_daemon(server);
	pthread_cond_destroy(&server_cv);
}

/* An absolute URL on the test server for path (static buffer, one per call site is enough). */
static const char *url_for(char *out, size_t size, const char *path)
{
	snprintf(out, size, "http://127.0.0.1:%d%s", server_port, path);
	return out;
}

TestSuite(httpc, .init = server_start, .fini = server_stop, .timeout = 60);

/* ---- round trips ---------------------------------------------------------------------- */

struct rt_case {
	const char *method;
	const char *path;
	const char *body; /* NULL: none */
	const char *ctype;
	const char *xtest;
	int status;
	const char *want_body;
	const char *want_method; /* NULL: not checked (not the echo route) */
};

static const struct rt_case rt_cases[] = {
	{ NULL, "/echo", NULL, NULL, NULL, 200, "", "GET" },
	{ "GET", "/echo", NULL, NULL, "abc", 200, "", "GET" },
	{ "POST", "/echo", "hello", "text/plain", "x y z", 200, "hello", "POST" },
	{ NULL, "/echo", "{\"a\":1}", "application/json", NULL, 200, "{\"a\":1}", "POST" },
	{ "PUT", "/echo", "put-body", "text/plain", NULL, 200, "put-body", "PUT" },
	{ "DELETE", "/echo", NULL, NULL, NULL, 200, "", "DELETE" },
	{ "PATCH", "/echo", "", NULL, NULL, 200, "", "PATCH" },
	{ "OPTIONS", "/echo", NULL, NULL, NULL, 200, "", "OPTIONS" },
	{ "GET", "/status/503", NULL, NULL, NULL, 503, "status", NULL },
	{ "GET", "/status/404", NULL, NULL, NULL, 404, "status", NULL },
	{ "POST", "/status/201", "x", "text/plain", NULL, 201, "status", NULL },
	{ "GET", "/status/500", NULL, NULL, NULL, 500, "status", NULL },
	{ "GET", "/nowhere", NULL, NULL, NULL, 404, "no route", NULL },
	{ "HEAD", "/status/200", NULL, NULL, NULL, 200, "", NULL },
};

static void check_echo_headers(const struct rt_case *t, const struct httpc_result *r)
{
	cr_assert_str_eq(httpc_result_header(r, "x-method"), t->want_method, "%s %s",
			 t->method ? t->method : "(default)", t->path);
	cr_assert_str_eq(httpc_result_header(r, "X-ECHO-TEST"), t->xtest ? t->xtest : "none");
	cr_assert_str_eq(httpc_result_header(r, "X-Content-Type"), t->ctype ? t->ctype : "none");
	cr_assert_str_eq(httpc_result_header(r, "X-Empty"), "[]", "an empty header is sent");
	cr_assert_str_eq(httpc_result_header(r, "X-Expect"), "none");
	cr_assert_str_eq(httpc_result_header(r, "X-User-Agent"), "httpc-test/1");
}

Test(httpc, round_trips)
{
	struct httpc_options opt = { .user_agent = "httpc-test/1" };
	struct httpc *c = httpc_new(&opt);
	char url[128];

	cr_assert_not_null(c);
	for (size_t i = 0; i < ARRAY_SIZE(rt_cases); i++) {
		const struct rt_case *t = &rt_cases[i];
		struct http_header h[3] = { { "X-Empty", "" } };
		size_t nh = 1;
		struct httpc_request req = { .method = t->method,
					     .url = url_for(url, sizeof(url), t->path),
					     .body = t->body,
					     .body_len = t->body ? strlen(t->body) : 0,
					     .headers = h };
		struct httpc_result r;

		if (t->ctype)
			h[nh++] = (struct http_header){ "Content-Type", t->ctype };
		if (t->xtest)
			h[nh++] = (struct http_header){ "X-Test", t->xtest };
		req.nheaders = nh;
		cr_assert_eq(httpc_send_sync(c, &req, &r), 0, "row %zu: %s", i, r.error);
		cr_assert_eq(r.err, 0);
		cr_assert_str_eq(r.error, "");
		cr_assert_eq(r.status, t->status, "row %zu: status %d", i, r.status);
		cr_assert_eq(r.body_len, strlen(t->want_body), "row %zu", i);
		cr_assert_str_eq(r.body, t->want_body, "row %zu", i);
		cr_assert_gt(r.elapsed_us, 0);
		if (t->want_method)
			check_echo_headers(t, &r);
		httpc_result_release(&r);
	}
	httpc_free(c);
}

Test(httpc, large_request_body_round_trip)
{
	struct httpc *c = httpc_new(NULL);
	size_t n = (size_t)3 * 1024 * 1024;
	char *body = xmalloc(n), url[128];
	struct httpc_request req = { .method = "POST", .url = url_for(url, sizeof(url), "/echo") };
	struct httpc_result r;

	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + i % 26);
	req.body = body;
	req.body_len = n;
	cr_assert_eq(httpc_send_sync(c, &req, &r), 0, "%s", r.error);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body_len, n);
	cr_assert_eq(memcmp(r.body, body, n), 0);
	cr_assert_str_eq(httpc_result_header(&r, "X-Expect"), "none", "no 100-continue round trip");
	cr_assert_str_eq(httpc_result_header(&r, "X-Content-Type"), "none");
	httpc_result_release(&r);
	free(body);
	httpc_free(c);
}

Test(httpc, response_headers_lookup_and_iteration)
{
	struct httpc *c = httpc_new(NULL);
	char url[128];
	struct httpc_request req = { .url = url_for(url, sizeof(url), "/headers") };
	struct httpc_result r;
	int cookies = 0;

	cr_assert_eq(httpc_send_sync(c, &req, &r), 0);
	cr_assert_str_eq(httpc_result_header(&r, "x-one"), "1");
	cr_assert_str_eq(httpc_result_header(&r, "X-Spaced"), "padded value");
	cr_assert_str_eq(httpc_result_header(&r, "set-cookie"), "a=1", "the first of two");
	cr_assert_null(httpc_result_header(&r, "X-Missing"));
	for (size_t i = 0; i < r.nheaders; i++) {
		if (strcasecmp(r.headers[i].name, "Set-Cookie") == 0)
			cr_assert_str_eq(r.headers[i].value, cookies++ ? "b=2" : "a=1");
	}
	cr_assert_eq(cookies, 2);
	httpc_result_release(&r);
	httpc_free(c);
}

/* ---- failures ------------------------------------------------------------------------- */

/* A loopback port with nothing listening: bound, then closed without listen(). */
static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

Test(httpc, connection_refused)
{
	struct httpc *c = httpc_new(NULL);
	char url[128];
	struct httpc_request req = { .url = url };
	struct httpc_result r;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", free_port());
	cr_assert_eq(httpc_send_sync(c, &req, &r), ERR_UNAVAILABLE, "%s", r.error);
	cr_assert_eq(r.status, 0);
	cr_assert_eq(r.err, ERR_UNAVAILABLE);
	cr_assert_neq(r.error[0], '\0');
	cr_assert_eq(r.body_len, 0);
	httpc_result_release(&r);
	httpc_free(c);
}

Test(httpc, per_request_timeout)
{
	struct httpc *c = httpc_new(NULL);
	char url[128];
	struct httpc_request req = { .url = url_for(url, sizeof(url), "/delay/10000"),
				     .timeout_ms = 200 };
	struct httpc_result r;
	long long t0 = mono_ms(), took;

	cr_assert_eq(httpc_send_sync(c, &req, &r), ERR_TIMEOUT, "%s", r.error);
	took = mono_ms() - t0;
	cr_assert_eq(r.status, 0);
	/* Without the timeout the answer would come after 10 s as a 200: ERR_TIMEOUT is the proof. */
	cr_assert_geq(took, 200, "timed out early: %lld ms", took);
	cr_assert_geq(r.elapsed_us, 200000);
	httpc_result_release(&r);
	httpc_free(c);
}

Test(httpc, client_default_timeout)
{
	struct httpc_options opt = { .timeout_ms = 150 };
	struct httpc *c = httpc_new(&opt);
	char url[128];
	struct httpc_request req = { .url = url_for(url, sizeof(url), "/delay/10000") };
	struct httpc_result r;

	/* The built-in default (30 s) would let the 10 s answer through: ERR_TIMEOUT proves 150 ms. */
	cr_assert_eq(httpc_send_sync(c, &req, &r), ERR_TIMEOUT, "%s", r.error);
	cr_assert_geq(r.elapsed_us, 150000);
	httpc_result_release(&r);
	httpc_free(c);
}

struct cap_case {
	const char *path;
	int err;
	size_t len;
};

Test(httpc, response_body_cap)
{
	static const struct cap_case cases[] = {
		{ "/big/1000", 0, 1000 },
		{ "/big/1001", ERR_TOO_LARGE, 0 },
		{ "/big/200000", ERR_TOO_LARGE, 0 },
		{ "/chunked/1000", 0, 1000 },
		{ "/chunked/1001", ERR_TOO_LARGE, 0 },
		{ "/chunked/200000", ERR_TOO_LARGE, 0 },
		{ "/big/10", 0, 10 }, /* the client still works after failures */
	};
	struct httpc_options opt = { .max_body = 1000 };
	struct httpc *c = httpc_new(&opt);
	char url[128];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct httpc_request req = { .url = url_for(url, sizeof(url), cases[i].path) };
		struct httpc_result r;

		cr_assert_eq(httpc_send_sync(c, &req, &r), cases[i].err, "%s: %s", cases[i].path,
			     r.error);
		if (cases[i].err) {
			cr_assert(strstr(r.error, "larger than 1000 bytes"), "%s", r.error);
		} else {
			cr_assert_eq(r.status, 200);
			cr_assert_eq(r.body_len, cases[i].len, "%s", cases[i].path);
		}
		httpc_result_release(&r);
	}
	httpc_free(c);
}

Test(httpc, invalid_requests_are_refused)
{
	static const struct http_header bad_name[] = { { "Bad Name", "v" } };
	static const struct http_header bad_value[] = { { "X-Ok", "a\r\nX-Injected: 1" } };
	static const struct http_header bad_lf[] = { { "X-Ok", "a\nb" } };
	static const struct http_header empty_name[] = { { "", "v" } };
	const struct httpc_request cases[] = {
		{ .url = NULL },
		{ .url = "" },
		{ .url = "http://127.0.0.1:1/", .headers = bad_name, .nheaders = 1 },
		{ .url = "http://127.0.0.1:1/", .headers = bad_value, .nheaders = 1 },
		{ .url = "http://127.0.0.1:1/", .headers = bad_lf, .nheaders = 1 },
		{ .url = "http://127.0.0.1:1/", .headers = empty_name, .nheaders = 1 },
		{ .url = "http://127.0.0.1:1/", .method = "GE T" },
		{ .url = "http://127.0.0.1:1/", .body_len = 3 },
	};
	struct httpc *c = httpc_new(NULL);

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct httpc_result r;

		cr_assert_eq(httpc_send_sync(c, &cases[i], &r), ERR_BAD_REQUEST, "row %zu", i);
		cr_assert_not_null(r.error);
		cr_assert_not_null(r.body);
		httpc_result_release(&r);
	}
	httpc_free(c);
}

Test(httpc, unsupported_scheme)
{
	struct httpc *c = httpc_new(NULL);
	struct httpc_request req = { .url = "ftp://127.0.0.1/x" };
	struct httpc_result r;

	cr_assert_eq(httpc_send_sync(c, &req, &r), ERR_INTERNAL, "%s", r.error);
	cr_assert_eq(r.status, 0);
	httpc_result_release(&r);
	httpc_free(c);
}

Test(httpc, connections_are_reused)
{
	struct httpc *c = httpc_new(NULL);
	char url[128];
	struct httpc_request req = { .url = url_for(url, sizeof(url), "/status/200") };

	for (int i = 0; i < 20; i++) {
		struct httpc_result r;

		cr_assert_eq(httpc_send_sync(c, &req, &r), 0, "%s", r.error);
		cr_assert_eq(r.status, 200);
		httpc_result_release(&r);
	}
	cr_assert_eq(atomic_load(&server_connections), 1, "%d connections for 20 requests",
		     atomic_load(&server_connections));
	httpc_free(c);
}

/* ---- many requests at once ------------------------------------------------------------ */

#define NREQ 500

struct batch {
	struct counter done;
	pthread_mutex_t mu;
	pthread_t test_thread;
	struct httpc *client;
	int hits[NREQ];
	int bad[NREQ];
	int on_test_thread;
	int send_failures;
	struct item {
		struct batch *b;
		int i;
	} items[NREQ];
};

static void batch_init(struct batch *b, struct httpc *c)
{
	memset(b, 0, sizeof(*b));
	counter_init(&b->done);
	pthread_mutex_init(&b->mu, NULL);
	b->test_thread = pthread_self();
	b->client = c;
	for (int i = 0; i < NREQ; i++)
		b->items[i] = (struct item){ b, i };
}

static void batch_destroy(struct batch *b)
{
	counter_destroy(&b->done);
	pthread_mutex_destroy(&b->mu);
}

static void batch_done(const struct httpc_response *res, void *arg)
{
	struct item *it = arg;
	struct batch *b = it->b;
	char want[16];

	snprintf(want, sizeof(want), "%d", it->i);
	pthread_mutex_lock(&b->mu);
	b->hits[it->i]++;
	if (res->err || res->status != 200 || res->body_len != strlen(want) ||
	    memcmp(res->body, want, res->body_len) != 0)
		b->bad[it->i]++;
	if (pthread_equal(pthread_self(), b->test_thread))
		b->on_test_thread++;
	pthread_mutex_unlock(&b->mu);
	counter_add(&b->done);
}

/* POSTs the item's index to /echo; the callback checks it comes back. */
static void batch_send(struct batch *b, int i)
{
	char url[128], body[16];
	struct httpc_request req = { .method = "POST",
				     .url = url_for(url, sizeof(url), "/echo"),
				     .body = body };

	req.body_len = (size_t)snprintf(body, sizeof(body), "%d", i);
	if (httpc_send(b->client, &req, batch_done, &b->items[i]) != 0) {
		pthread_mutex_lock(&b->mu);
		b->send_failures++;
		pthread_mutex_unlock(&b->mu);
	}
}

static void batch_check(struct batch *b, int n)
{
	cr_assert_eq(b->send_failures, 0);
	cr_assert_eq(counter_wait(&b->done, n, 30000), n, "only %d of %d completed", b->done.n, n);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(b->hits[i], 1, "request %d completed %d times", i, b->hits[i]);
		cr_assert_eq(b->bad[i], 0, "request %d got a wrong answer", i);
	}
	cr_assert_eq(b->on_test_thread, 0, "callbacks must run on the client thread");
}

Test(httpc, five_hundred_concurrent_requests)
{
	struct httpc_options opt = { .max_host_connections = 32 };
	struct httpc *c = httpc_new(&opt);
	struct batch *b = xmalloc(sizeof(*b));

	batch_init(b, c);
	for (int i = 0; i < NREQ; i++)
		batch_send(b, i);
	batch_check(b, NREQ);
	httpc_free(c);
	cr_assert_eq(b->done.n, NREQ, "no callback may run again on free");
	batch_destroy(b);
	free(b);
}

#define NTHREADS   8
#define PER_THREAD 50

struct sender {
	struct batch *b;
	int first;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;

	for (int i = 0; i < PER_THREAD; i++)
		batch_send(s->b, s->first + i);
	return NULL;
}

Test(httpc, sending_from_many_threads)
{
	struct httpc *c = httpc_new(NULL);
	struct batch *b = xmalloc(sizeof(*b));
	pthread_t th[NTHREADS];
	struct sender s[NTHREADS];

	batch_init(b, c);
	for (int t = 0; t < NTHREADS; t++) {
		s[t] = (struct sender){ b, t * PER_THREAD };
		cr_assert_eq(pthread_create(&th[t], NULL, sender_main, &s[t]), 0);
	}
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	batch_check(b, NTHREADS * PER_THREAD);
	httpc_free(c);
	batch_destroy(b);
	free(b);
}

/* ---- timers --------------------------------------------------------------------------- */

#define NTIMERS 8

struct timer_log {
	struct counter fired;
	struct httpc *client;
	long long t0;
	int order[NTIMERS + 2];
	long long at[NTIMERS + 2];
	int cancelled;
	int sync_err;
	int rearm_err;
	struct titem {
		struct timer_log *log;
		int idx;
	} items[NTIMERS + 2];
};

static void timer_log_init(struct timer_log *l, struct httpc *c)
{
	memset(l, 0, sizeof(*l));
	counter_init(&l->fired);
	l->client = c;
	for (int i = 0; i < NTIMERS + 2; i++)
		l->items[i] = (struct titem){ l, i };
}

/* Timer callbacks run one at a time on the client thread: no lock needed for the log. */
static void timer_fired(void *arg, int cancelled)
{
	struct titem *it = arg;
	struct timer_log *l = it->log;

	l->order[l->fired.n] = it->idx;
	l->at[it->idx] = mono_ms();
	l->cancelled += cancelled;
	counter_add(&l->fired);
}

Test(httpc, timers_fire_in_deadline_order_and_not_early)
{
	static const long long delays[NTIMERS] = { 50, 10, 30, 0, 20, 40, 10, 5 };
	static const int want[NTIMERS] = { 3, 7, 1, 6, 4, 2, 5, 0 }; /* by (delay, order set) */
	struct httpc *c = httpc_new(NULL);
	struct timer_log l;

	timer_log_init(&l, c);
	l.t0 = mono_ms();
	for (int i = 0; i < NTIMERS; i++)
		cr_assert_eq(httpc_timer(c, delays[i], timer_fired, &l.items[i]), 0);
	cr_assert_eq(counter_wait(&l.fired, NTIMERS, 10000), NTIMERS);
	for (int i = 0; i < NTIMERS; i++) {
		long long took = l.at[i] - l.t0;

		cr_assert_eq(l.order[i], want[i], "position %d: timer %d", i, l.order[i]);
		cr_assert_geq(took, delays[i], "timer %d fired after %lld ms", i, took);
	}
	cr_assert_eq(l.cancelled, 0);
	httpc_free(c);
	cr_assert_eq(l.fired.n, NTIMERS);
	counter_destroy(&l.fired);
}

/* From inside a timer: a synchronous send is refused, a new timer is accepted. */
static void timer_rearm(void *arg, int cancelled)
{
	struct titem *it = arg;
	struct timer_log *l = it->log;
	struct httpc_request req = { .url = "http://127.0.0.1:1/" };
	struct httpc_result r;

	l->sync_err = httpc_send_sync(l->client, &req, &r);
	httpc_result_release(&r);
	timer_fired(arg, cancelled);
	l->rearm_err = httpc_timer(l->client, 30, timer_fired, &l->items[1]);
}

Test(httpc, timer_set_from_a_callback)
{
	struct httpc *c = httpc_new(NULL);
	struct timer_log l;

	timer_log_init(&l, c);
	cr_assert_eq(httpc_timer(c, 10, timer_rearm, &l.items[0]), 0);
	cr_assert_eq(counter_wait(&l.fired, 2, 10000), 2);
	cr_assert_eq(l.sync_err, ERR_INTERNAL, "send_sync on the client thread must refuse");
	cr_assert_eq(l.rearm_err, 0);
	cr_assert_geq(l.at[1] - l.at[0], 30, "second timer %lld ms after the first",
		      l.at[1] - l.at[0]);
	httpc_free(c);
	counter_destroy(&l.fired);
}

/* ---- shutdown and limits -------------------------------------------------------------- */

#define NPENDING 20
#define NPTIMERS 5

struct cancel_log {
	int calls[NPENDING];
	int cancelled;
	int bad;
	int resend_refused;
	int timer_calls[NPTIMERS];
	int timer_cancelled;
	int retimer_refused;
	struct httpc *client;
	struct citem {
		struct cancel_log *log;
		int idx;
	} items[NPENDING];
};

static void cancel_done(const struct httpc_response *res, void *arg)
{
	struct citem *it = arg;
	struct cancel_log *l = it->log;
	struct httpc_request req = { .url = "http://127.0.0.1:1/" };

	l->calls[it->idx]++;
	l->cancelled += res->cancelled;
	l->bad += res->err != ERR_UNAVAILABLE || res->status != 0 || !strstr(res->error, "cancel");
	l->resend_refused += httpc_send(l->client, &req, cancel_done, arg) == ERR_UNAVAILABLE;
}

static void cancel_timer(void *arg, int cancelled)
{
	struct citem *it = arg;
	struct cancel_log *l = it->log;

	l->timer_calls[it->idx]++;
	l->timer_cancelled += cancelled;
	l->retimer_refused += httpc_timer(l->client, 0, cancel_timer, arg) == ERR_UNAVAILABLE;
}

/* Polls (with a deadline) until the server has started n delayed answers. */
static int wait_delays_started(int n, long long timeout_ms)
{
	long long deadline = mono_ms() + timeout_ms;
	struct timespec tick = { 0, 5000000L };

	while (atomic_load(&server_delays_started) < n && mono_ms() < deadline)
		nanosleep(&tick, NULL);
	return atomic_load(&server_delays_started);
}

Test(httpc, free_cancels_pending_requests_and_timers)
{
	struct httpc_options opt = { .max_transfers = 5 };
	struct httpc *c = httpc_new(&opt);
	struct cancel_log l = { .client = c };
	char url[128];
	struct httpc_request req = { .url = url_for(url, sizeof(url), "/delay/20000") };

	for (int i = 0; i < NPENDING; i++) {
		l.items[i] = (struct citem){ &l, i };
		cr_assert_eq(httpc_send(c, &req, cancel_done, &l.items[i]), 0);
	}
	for (int i = 0; i < NPTIMERS; i++)
		cr_assert_eq(httpc_timer(c, 60000, cancel_timer, &l.items[i]), 0);
	/* 5 transfers running (the server holds them), 15 waiting behind max_transfers. */
	cr_assert_eq(wait_delays_started(5, 10000), 5);
	/* A free that waited for the 20 s answers would see them succeed: every callback must
	 * report a cancel instead. */
	httpc_free(c);
	for (int i = 0; i < NPENDING; i++)
		cr_assert_eq(l.calls[i], 1, "request %d: %d callbacks", i, l.calls[i]);
	cr_assert_eq(l.cancelled, NPENDING);
	cr_assert_eq(l.bad, 0);
	cr_assert_eq(l.resend_refused, NPENDING);
	for (int i = 0; i < NPTIMERS; i++)
		cr_assert_eq(l.timer_calls[i], 1, "timer %d: %d callbacks", i, l.timer_calls[i]);
	cr_assert_eq(l.timer_cancelled, NPTIMERS);
	cr_assert_eq(l.retimer_refused, NPTIMERS);
}

struct full_log {
	struct counter done;
	int ok;
};

static void full_done(const struct httpc_response *res, void *arg)
{
	struct full_log *l = arg;

	l->ok += res->err == 0 && res->status == 200;
	counter_add(&l->done);
}

Test(httpc, queue_full_is_overloaded)
{
	struct httpc_options opt = { .max_pending = 2 };
	struct httpc *c = httpc_new(&opt);
	char url[128], fast[128];
	struct httpc_request slow = { .url = url_for(url, sizeof(url), "/delay/300") };
	struct httpc_request quick = { .url = url_for(fast, sizeof(fast), "/status/200") };
	struct full_log l = { .ok = 0 };
	struct httpc_result r;

	counter_init(&l.done);
	cr_assert_eq(httpc_send(c, &slow, full_done, &l), 0);
	cr_assert_eq(httpc_send(c, &slow, full_done, &l), 0);
	cr_assert_eq(httpc_send(c, &quick, full_done, &l), ERR_OVERLOADED);
	cr_assert_eq(httpc_send_sync(c, &quick, &r), ERR_OVERLOADED);
	cr_assert_eq(r.status, 0);
	httpc_result_release(&r);
	cr_assert_eq(counter_wait(&l.done, 2, 10000), 2);
	/* Room again once they completed. */
	cr_assert_eq(httpc_send(c, &quick, full_done, &l), 0);
	cr_assert_eq(counter_wait(&l.done, 3, 10000), 3);
	httpc_free(c);
	cr_assert_eq(l.done.n, 3, "a refused request's callback must never run");
	cr_assert_eq(l.ok, 3);
	counter_destroy(&l.done);
}

/* The threads of this process (/proc/self/task). */
static int thread_count(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int n = -1;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

static void count_timer(void *arg, int cancelled)
{
	(void)cancelled;
	atomic_fetch_add((atomic_int *)arg, 1);
}

Test(httpc, the_thread_starts_on_first_use)
{
	int before = thread_count();
	struct httpc *idle, *c;
	atomic_int fired = 0;
	long long deadline = mono_ms() + 10000;

	/* The first httpc_new() loads libcurl on a short-lived thread (curl_api.h): let it end. */
	httpc_free(httpc_new(NULL));
	cr_assert_eq(httpc_global_init(), 0);
	while (thread_count() != before && mono_ms() < deadline)
		usleep(1000);
	cr_assert_eq(thread_count(), before, "the libcurl loader thread ends");
	idle = httpc_new(NULL);
	c = httpc_new(NULL);
	cr_assert_not_null(idle);
	cr_assert_eq(thread_count(), before, "httpc_new() starts no thread");
	cr_assert_eq(httpc_timer(c, 0, count_timer, &fired), 0);
	cr_assert_eq(thread_count(), before + 1, "the first httpc_timer() starts the thread");
	httpc_free(idle); /* never used: nothing to join */
	httpc_free(c);
	cr_assert_eq(atomic_load(&fired), 1, "the timer ran, or was cancelled, exactly once");
	cr_assert_eq(thread_count(), before);
}

/* ---- the CLIENT span's URL attributes --------------------------------------------------- */

struct url_span {
	char full[160], host[64];
	long long port;
};

static struct {
	pthread_mutex_t mu;
	struct url_span spans[16];
	size_t n;
} url_spans = { .mu = PTHREAD_MUTEX_INITIALIZER };

static int capture_client_spans(void *arg, struct trace_span *const *spans, size_t n,
				long long deadline)
{
	(void)arg;
	(void)deadline;
	pthread_mutex_lock(&url_spans.mu);
	for (size_t i = 0; i < n; i++) {
		struct url_span *u;

		if (spans[i]->kind != TRACE_SPAN_CLIENT || url_spans.n == 16)
			continue;
		u = &url_spans.spans[url_spans.n++];
		memset(u, 0, sizeof(*u));
		u->port = -1;
		for (size_t k = 0; k < spans[i]->nattrs; k++) {
			const struct trace_attr *a = &spans[i]->attrs[k];

			if (strcmp(a->key, "url.full") == 0)
				snprintf(u->full, sizeof(u->full), "%s", a->v.s);
			else if (strcmp(a->key, "server.address") == 0)
				snprintf(u->host, sizeof(u->host), "%s", a->v.s);
			else if (strcmp(a->key, "server.port") == 0)
				u->port = a->v.i;
		}
	}
	pthread_mutex_unlock(&url_spans.mu);
	return 0;
}

/*
 * Each CLIENT span names its own URL, also when the client has parsed more URLs than it keeps
 * (4) and when one comes back; user and password never reach url.full.
 */
Test(httpc, client_spans_carry_their_own_url)
{
	static const char *const paths[] = { "/a?n=1", "/b", "/c", "/d", "/e", "/a?n=1", "/b" };
	const size_t npaths = ARRAY_SIZE(paths);
	struct trace_config cfg;
	struct trace_span *root;
	struct httpc *c = httpc_new(NULL);
	char urls[8][128], want[128];

	trace_config_defaults(&cfg);
	cfg.sampler.kind = TRACE_SAMPLER_ALWAYS_ON;
	cfg.schedule_delay_ms = 60000;
	cfg.export = capture_client_spans;
	cr_assert_eq(trace_init(&cfg), 0);
	cr_assert_eq(trace_span_start("test", TRACE_SPAN_SERVER, NULL, &root), 0);
	trace_span_enter(root);
	for (size_t i = 0; i < npaths; i++) {
		struct httpc_request req = { 0 };
		struct httpc_result r;

		/* the first time, /a?n=1 carries a user and a password */
		snprintf(urls[i], sizeof(urls[i]), "http://%s127.0.0.1:%d%s",
			 i == 0 ? "user:secret@" : "", server_port, paths[i]);
		req.url = urls[i];
		cr_assert_eq(httpc_send_sync(c, &req, &r), 0, "%s: %s", urls[i], r.error);
		httpc_result_release(&r);
	}
	trace_span_exit(root);
	trace_span_end(root);
	trace_shutdown(); /* exports what is queued */
	httpc_free(c);
	cr_assert_eq(url_spans.n, npaths);
	for (size_t i = 0; i < npaths; i++) {
		snprintf(want, sizeof(want), "http://127.0.0.1:%d%s", server_port, paths[i]);
		cr_expect_str_eq(url_spans.spans[i].full, want, "span %zu", i);
		cr_expect_str_eq(url_spans.spans[i].host, "127.0.0.1", "span %zu", i);
		cr_expect_eq(url_spans.spans[i].port, server_port, "span %zu", i);
	}
}

/* ---- without libcurl -------------------------------------------------------------------- */

static void never_done(const struct httpc_response *res, void *arg)
{
	(void)res;
	(void)arg;
	cr_assert_fail("the callback of a refused request ran");
}

static void never_fired(void *arg, int cancelled)
{
	(void)arg;
	(void)cancelled;
	cr_assert_fail("the callback of a refused timer ran");
}

/*
 * libcurl that cannot be loaded (libcurl.so.4 missing, or without a symbol curl_api.c needs):
 * this process's one load of it (Criterion runs each test in its own process) fails for real,
 * with no file descriptor left to open the library with. httpc_send() fails with
 * ERR_UNAVAILABLE instead of calling through the missing table, no callback runs, later calls
 * fail the same way, and nothing leaks (ASan).
 */
Test(httpc_without_libcurl, send_and_timer_are_unavailable, LEAK_FINI)
{
	const struct httpc_request req = { .url = "http://127.0.0.1:1/" };
	struct httpc *c = httpc_new(NULL);
	struct rlimit was, none;
	struct httpc_result r;
	int sent;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &was), 0);
	none = was;
	none.rlim_cur = 0;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &none), 0);
	sent = httpc_send(c, &req, never_done, NULL); /* loads libcurl: dlopen cannot open it */
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &was), 0);
	cr_assert_eq(sent, ERR_UNAVAILABLE);
	cr_assert_eq(httpc_global_init(), ERR_UNAVAILABLE, "the load failed once for good");
	cr_assert_eq(httpc_send(c, &req, never_done, NULL), ERR_UNAVAILABLE);
	cr_assert_eq(httpc_timer(c, 0, never_fired, NULL), ERR_UNAVAILABLE);
	cr_assert_eq(httpc_send_sync(c, &req, &r), ERR_UNAVAILABLE);
	httpc_result_release(&r);
	httpc_free(c);
}
