/*
 * httpc.c: the asynchronous HTTP client. Design notes:
 *
 * - A request becomes a `struct xfer` (a configured curl easy handle plus its response buffers)
 *   in the sender's thread, and is pushed on `incoming` under the mutex. The client thread
 *   moves it to `waiting`, and from there to `running` (curl_multi_add_handle) while fewer
 *   than max_transfers run. Each xfer is on exactly one of these three lists.
 * - Timers live in a binary min-heap ordered by (deadline, sequence), under the same mutex.
 * - The thread loop: fire due timers, start waiting transfers, curl_multi_perform, complete
 *   finished transfers, then curl_multi_poll until the earliest of curl's timeout and the
 *   next timer deadline. Senders wake it with curl_multi_wakeup, at most once per loop turn.
 * - Callbacks run without the mutex held, so they may call httpc_send()/httpc_timer().
 * - Lazy start: httpc_new() only allocates. The first httpc_send() or httpc_timer() initializes
 *   libcurl (once per process), creates the multi handle and starts the thread (start_locked()),
 *   so a service that has sent nothing yet has not paid for libcurl's and OpenSSL's start-up
 *   (about 2.3 MiB of resident memory, most of it libcrypto pages). Two of OpenSSL's start-up
 *   tables are not loaded (about 0.9 MiB): see global_init_once().
 * - Tracing: the CLIENT span starts in httpc_send() on the sender's thread (so it sees that
 *   thread's current span), travels with the xfer, and ends on the client thread right before
 *   the callback. The xfer keeps a copy of the injected context for the callback.
 */
#include "common/httpc.h"

#include <assert.h>
#include <curl/curl.h>
#include <openssl/crypto.h> /* the OPENSSL_INIT_ flags only: libcrypto is not linked */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/clock.h"
#include "common/curl_api.h"
#include "common/http_check.h"
#include "common/list.h"
#include "common/locked.h"
#include "common/log.h"
#include "common/trace.h"
#include "common/xalloc.h"

enum {
	DEFAULT_MAX_TRANSFERS = 256,
	DEFAULT_MAX_HOST_CONNECTIONS = 64,
	DEFAULT_TIMEOUT_MS = 30000,
	DEFAULT_MAX_PENDING = 10000,
	MAX_HEADER_BYTES = 256 * 1024, /* all response header lines of one response */
	MAX_POLL_MS = 1000,	       /* a safety net: every change wakes the thread anyway */
};
#define DEFAULT_MAX_BODY   ((size_t)16 * 1024 * 1024)
#define DEFAULT_USER_AGENT "bookstore-httpc/1"
#define MAX_TIMER_DELAY_MS (1000LL * 86400 * 365 * 100) /* longer delays are clamped to this */

enum overflow { OVERFLOW_NONE, OVERFLOW_BODY, OVERFLOW_HEADERS };

struct xfer {
	struct list_head node; /* on incoming, waiting or running */
	CURL *easy;
	struct curl_slist *req_headers;
	httpc_done_fn done;
	void *arg;
	long long start_ns;
	struct buf body;
	struct buf head; /* response headers as "name\0value\0" pairs */
	size_t nhead;
	enum overflow overflow;
	char errbuf[CURL_ERROR_SIZE];
	struct trace_span *span;   /* the CLIENT span, or NULL */
	struct trace_context tctx; /* what was injected (valid when has_tctx) */
	int has_tctx;
};

struct xlist {
	struct list_head head;
	size_t len;
};

struct timer {
	long long deadline_ns;
	unsigned long long seq;
	httpc_timer_fn fn;
	void *arg;
};

struct httpc {
	CURLM *multi;	  /* NULL until started */
	pthread_t thread; /* valid once started */
	size_t max_transfers;
	long timeout_ms;
	size_t max_body;
	size_t max_pending;
	char *user_agent;
	size_t max_host_connections; /* set on the multi handle when it is created */

	pthread_mutex_t mu; /* guards everything down to the next comment */
	int started;	    /* the multi handle and the thread exist (start_locked()) */
	int stopping;
	int woken; /* a wakeup is on its way to the thread */
	size_t pending;
	struct xlist incoming;
	struct timer *timers;
	size_t ntimers, timers_alloc;
	unsigned long long timer_seq;

	/* Used by the client thread only. */
	struct xlist waiting, running;

	/*
	 * Idle easy handles, kept for the next transfers (curl->easy_init() and the default
	 * options cost more than curl->easy_reset()). At most max_transfers of them.
	 */
	pthread_mutex_t pool_mu;
	CURL **pool;
	size_t npool;

	/*
	 * The span attributes of the last URLs sent to (a service has a handful of fixed
	 * targets: K_SINK, db-service, the journey), so that a traced request does not parse its
	 * URL with libcurl again. Replaced round robin.
	 */
	pthread_mutex_t urls_mu;
	struct url_attrs {
		char *url;  /* as given; NULL: a free slot */
		char *full; /* url.full without user and password; NULL: unparsable */
		char *host; /* server.address; NULL: none */
		long port;  /* server.port; -1: none */
	} urls[4];
	size_t urls_next;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

/*
 * libcurl, loaded at run time (curl_api.h): set once by global_init_once(), NULL when the
 * load failed. Every curl call below runs after httpc_global_init() returned 0.
 */
static const struct curl_api *curl;

/*
 * libcurl's global init also initializes OpenSSL. Two of OpenSSL's start-up tables are left
 * out, with flags that must come first: libcrypto's error strings
 * (OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS) and the legacy cipher and digest name tables
 * (OPENSSL_INIT_NO_ADD_ALL_*). Together they touch about 0.9 MiB of libcrypto and heap that
 * every idle service would carry. What is lost: a libcrypto-level error in an https
 * transfer is named by its code ("error:...:lib(N)::reason(M)", `openssl errstr` decodes it);
 * TLS errors keep their text ("SSL routines::tlsv1 alert protocol version": libssl loads its
 * own strings) and so do certificate verification failures ("SSL certificate problem:
 * self-signed certificate"). Nothing here looks a cipher or digest up by its legacy name:
 * libssl 3 fetches them from the providers. TLS 1.2 and 1.3 transfers with certificate
 * verification were checked against `openssl s_server` with these flags.
 * OPENSSL_init_crypto comes from the libcrypto that libcurl loaded (curl_api.h).
 */
static void global_init_once(void)
{
	const struct curl_api *api = curl_api_get();

	if (!api)
		return; /* logged by curl_api.c */
	if (api->openssl_init_crypto)
		(void)api->openssl_init_crypto(OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS |
						   OPENSSL_INIT_NO_ADD_ALL_CIPHERS |
						   OPENSSL_INIT_NO_ADD_ALL_DIGESTS,
					       NULL);
	if (api->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_msg(LOG_ERROR, "curl_global_init failed, HTTP requests will fail");
		return;
	}
	curl = api;
}

int httpc_global_init(void)
{
	pthread_once(&global_once, global_init_once);
	return curl ? 0 : ERR_UNAVAILABLE;
}

/* ---- FIFO lists of transfers (list.h, with a length) ------------------------------- */

static void xlist_init(struct xlist *l)
{
	list_init(&l->head);
	l->len = 0;
}

static void xlist_push(struct xlist *l, struct xfer *x)
{
	list_add_tail(&x->node, &l->head);
	l->len++;
}

static void xlist_remove(struct xlist *l, struct xfer *x)
{
	assert(l->len > 0 && !list_empty(&x->node));
	list_del(&x->node);
	l->len--;
}

static struct xfer *xlist_pop(struct xlist *l)
{
	struct xfer *x;

	if (list_empty(&l->head))
		return NULL;
	x = list_entry(l->head.next, struct xfer, node);
	xlist_remove(l, x);
	return x;
}

/* Appends all of from to to, leaving from empty. */
static void xlist_splice(struct xlist *to, struct xlist *from)
{
	struct xfer *x;

	while ((x = xlist_pop(from)))
		xlist_push(to, x);
}

/* ---- timer heap (callers hold c->mu) -------------------------------------------------- */

static int timer_before(const struct timer *a, const struct timer *b)
{
	if (a->deadline_ns != b->deadline_ns)
		return a->deadline_ns < b->deadline_ns;
	return a->seq < b->seq;
}

static void timer_swap(struct timer *h, size_t i, size_t j)
{
	struct timer t = h[i];

	h[i] = h[j];
	h[j] = t;
}

static void heap_push(struct httpc *c, const struct timer *t)
{
	size_t i = c->ntimers;

	XGROW(c->timers, c->ntimers + 1, c->timers_alloc);
	c->timers[c->ntimers++] = *t;
	while (i > 0 && timer_before(&c->timers[i], &c->timers[(i - 1) / 2])) {
		timer_swap(c->timers, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static struct timer heap_pop(struct httpc *c)
{
	struct timer top = c->timers[0];
	size_t i = 0;

	c->timers[0] = c->timers[--c->ntimers];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < c->ntimers && timer_before(&c->timers[l], &c->timers[m]))
			m = l;
		if (r < c->ntimers && timer_before(&c->timers[r], &c->timers[m]))
			m = r;
		if (m == i)
			break;
		timer_swap(c->timers, i, m);
		i = m;
	}
	return top;
}

/* Pops the earliest timer if its deadline is at or before now (any timer when now < 0). */
static int timer_take(struct httpc *c, long long now, struct timer *out)
{
	int got = 0;

	pthread_mutex_lock(&c->mu);
	if (c->ntimers && (now < 0 || c->timers[0].deadline_ns <= now)) {
		*out = heap_pop(c);
		got = 1;
	}
	pthread_mutex_unlock(&c->mu);
	return got;
}

/* Wakes the client thread out of curl_multi_poll; c->mu held. */
static void wake_locked(struct httpc *c)
{
	if (c->started && !c->woken) {
		c->woken = 1;
		curl->multi_wakeup(c->multi);
	}
}

/* ---- building a transfer -------------------------------------------------------------- */

static int valid_request(const struct httpc_request *req)
{
	if (!req->url || !*req->url || (req->method && !http_check_token(req->method)))
		return 0;
	if (req->body_len && !req->body)
		return 0;
	for (size_t i = 0; i < req->nheaders; i++) {
		const char *v = req->headers[i].value;

		if (!http_check_token(req->headers[i].name) || !v || !http_check_value(v))
			return 0;
	}
	return 1;
}

static struct curl_slist *slist_add(struct curl_slist *list, const char *line)
{
	struct curl_slist *l = curl->slist_append(list, line);

	if (!l) {
		fputs("fatal: out of memory (curl_slist_append)\n", stderr);
		abort();
	}
	return l;
}

static int has_header(const struct httpc_request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++) {
		if (strcasecmp(req->headers[i].name, name) == 0)
			return 1;
	}
	return 0;
}

/*
 * The request's headers as curl lines. An empty value is written "Name;" (curl drops
 * "Name:"); "Expect:" turns off 100-continue, and a body without a Content-Type goes
 * without one rather than with curl's form-urlencoded default.
 */
static int is_trace_header(const char *name)
{
	return strcasecmp(name, "traceparent") == 0 || strcasecmp(name, "tracestate") == 0;
}

static struct curl_slist *add_header_line(struct curl_slist *list, const struct http_header *h)
{
	char *line = *h->value ? xasprintf("%s: %s", h->name, h->value) : xasprintf("%s;", h->name);

	list = slist_add(list, line);
	free(line);
	return list;
}

/* ctx: the trace context to inject in place of the caller's trace headers, or NULL. */
static struct curl_slist *build_headers(const struct httpc_request *req,
					const struct trace_context *ctx)
{
	struct curl_slist *list = NULL;
	struct trace_inject inj;
	size_t ninj = ctx ? trace_context_inject(ctx, &inj) : 0;

	for (size_t i = 0; i < req->nheaders; i++) {
		if (ninj && is_trace_header(req->headers[i].name))
			continue;
		list = add_header_line(list, &req->headers[i]);
	}
	for (size_t i = 0; i < ninj; i++)
		list = add_header_line(list, &inj.headers[i]);
	if (!has_header(req, "Expect"))
		list = slist_add(list, "Expect:");
	if (!has_header(req, "Content-Type"))
		list = slist_add(list, "Content-Type:");
	return list;
}

static size_t on_body(char *data, size_t size, size_t n, void *p)
{
	struct xfer *x = p;

	if (buf_append(&x->body, data, size * n) != BUF_OK) {
		x->overflow = OVERFLOW_BODY;
		return 0;
	}
	return size * n;
}

static int is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Stores each "Name: value" line; a status line starts over (after a 1xx interim reply). */
static size_t on_header(char *data, size_t size, size_t n, void *p)
{
	struct xfer *x = p;
	size_t len = size * n, name_len;
	const char *colon = memchr(data, ':', len), *v, *end = data + len;

	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		buf_reset(&x->head);
		x->nhead = 0;
		return len;
	}
	if (!colon || colon == data)
		return len;
	name_len = (size_t)(colon - data);
	for (v = colon + 1; v < end && is_space(*v); v++)
		;
	while (end > v && is_space(end[-1]))
		end--;
	if (buf_append(&x->head, data, name_len) || buf_append(&x->head, "", 1) ||
	    buf_append(&x->head, v, (size_t)(end - v)) || buf_append(&x->head, "", 1)) {
		x->overflow = OVERFLOW_HEADERS;
		return 0;
	}
	x->nhead++;
	return len;
}

/* An easy handle with curl's default options: an idle one from the pool, or a new one. */
static CURL *easy_get(struct httpc *c)
{
	CURL *e = NULL;

	pthread_mutex_lock(&c->pool_mu);
	if (c->npool)
		e = c->pool[--c->npool];
	pthread_mutex_unlock(&c->pool_mu);
	return e ? e : curl->easy_init();
}

/* Returns a handle (not in the multi) to the pool, or frees it when the pool is full. */
static void easy_put(struct httpc *c, CURL *e)
{
	if (!e)
		return;
	curl->easy_reset(e);
	pthread_mutex_lock(&c->pool_mu);
	if (c->npool < c->max_transfers) {
		c->pool[c->npool++] = e;
		e = NULL;
	}
	pthread_mutex_unlock(&c->pool_mu);
	if (e)
		curl->easy_cleanup(e);
}

static void xfer_free(struct httpc *c, struct xfer *x)
{
	trace_span_end(x->span);
	easy_put(c, x->easy);
	curl->slist_free_all(x->req_headers);
	buf_release(&x->body);
	buf_release(&x->head);
	free(x);
}

/* Method and body: POST, PUT, PATCH and any request with a body send the (copied) body. */
static void set_method(CURL *e, const struct httpc_request *req)
{
	const char *m = req->method ? req->method : (req->body_len ? "POST" : "GET");
	int is_get = !strcmp(m, "GET"), is_head = !strcmp(m, "HEAD");
	int with_body =
	    req->body_len || !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");

	if (with_body) {
		curl->easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		curl->easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body_len ? req->body : "");
	} else if (is_head) {
		curl->easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else {
		curl->easy_setopt(e, CURLOPT_HTTPGET, 1L);
	}
	/* curl's own verb is POST with a body, GET or HEAD without: name any other one. */
	if (with_body ? strcmp(m, "POST") != 0 : !is_get && !is_head)
		curl->easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
}

static void set_options(struct httpc *c, struct xfer *x, const struct httpc_request *req)
{
	CURL *e = x->easy;

	curl->easy_setopt(e, CURLOPT_URL, req->url);
	curl->easy_setopt(e, CURLOPT_PRIVATE, (void *)x);
	curl->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl->easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl->easy_setopt(e, CURLOPT_PROXY, ""); /* service to service: ignore http_proxy */
	curl->easy_setopt(e, CURLOPT_TIMEOUT_MS,
			  req->timeout_ms > 0 ? req->timeout_ms : c->timeout_ms);
	curl->easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	curl->easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_body);
	curl->easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl->easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl->easy_setopt(e, CURLOPT_WRITEDATA, (void *)x);
	curl->easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl->easy_setopt(e, CURLOPT_HEADERDATA, (void *)x);
	x->req_headers = build_headers(req, x->has_tctx ? &x->tctx : NULL);
	curl->easy_setopt(e, CURLOPT_HTTPHEADER, x->req_headers);
	set_method(e, req);
}

/* ---- the CLIENT span ----------------------------------------------------------------- */

static const char *method_of(const struct httpc_request *req)
{
	return req->method ? req->method : (req->body_len ? "POST" : "GET");
}

static void url_attrs_release(struct url_attrs *a)
{
	free(a->url);
	free(a->full);
	free(a->host);
	memset(a, 0, sizeof(*a));
}

/* Parses url into a (owned copies): server.address, server.port, url.full without user:pass. */
static void url_attrs_parse(struct url_attrs *a, const char *url)
{
	CURLU *u = curl->url();
	char *host = NULL, *port = NULL, *full = NULL;

	memset(a, 0, sizeof(*a));
	a->url = xstrdup(url);
	a->port = -1;
	if (!u || curl->url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto cleanup;
	(void)curl->url_set(u, CURLUPART_USER, NULL, 0);
	(void)curl->url_set(u, CURLUPART_PASSWORD, NULL, 0);
	if (curl->url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK)
		a->full = xstrdup(full);
	if (curl->url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		a->host = xstrdup(host);
	if (curl->url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		a->port = strtol(port, NULL, 10);
cleanup:
	curl->free_str(full);
	curl->free_str(host);
	curl->free_str(port);
	curl->url_cleanup(u);
}

static void url_attrs_set(struct trace_span *span, const struct url_attrs *a)
{
	trace_span_set_str(span, "url.full", a->full ? a->full : a->url);
	if (a->host)
		trace_span_set_str(span, "server.address", a->host);
	if (a->port >= 0)
		trace_span_set_int(span, "server.port", a->port);
}

/* server.address, server.port and url.full on span, from c's cache or parsed into it. */
static void url_attrs_add(struct httpc *c, struct trace_span *span, const char *url)
{
	struct url_attrs fresh, *slot;

	pthread_mutex_lock(&c->urls_mu);
	for (size_t i = 0; i < ARRAY_SIZE(c->urls); i++) {
		if (c->urls[i].url && strcmp(c->urls[i].url, url) == 0) {
			url_attrs_set(span, &c->urls[i]);
			pthread_mutex_unlock(&c->urls_mu);
			return;
		}
	}
	pthread_mutex_unlock(&c->urls_mu);
	url_attrs_parse(&fresh, url); /* outside the lock: libcurl's parser is the cost */
	url_attrs_set(span, &fresh);
	pthread_mutex_lock(&c->urls_mu);
	slot = &c->urls[c->urls_next];
	c->urls_next = (c->urls_next + 1) % (ARRAY_SIZE(c->urls));
	url_attrs_release(slot);
	*slot = fresh;
	pthread_mutex_unlock(&c->urls_mu);
}

static void client_attrs(struct httpc *c, struct trace_span *span, const struct httpc_request *req)
{
	const char *m = method_of(req), *label = http_check_method(m);

	trace_span_set_str(span, "http.request.method", label);
	if (strcmp(label, "_OTHER") == 0)
		trace_span_set_str(span, "http.request.method_original", m);
	url_attrs_add(c, span, req->url);
	if (req->resend_count > 0)
		trace_span_set_int(span, "http.request.resend_count", req->resend_count);
	for (size_t i = 0; i < req->trace_nattrs; i++)
		trace_span_set_attr(span, &req->trace_attrs[i]);
}

/* Picks the parent, starts the CLIENT span and decides what x injects (see httpc.h). */
static void trace_begin(struct httpc *c, struct xfer *x, const struct httpc_request *req)
{
	const struct trace_context *parent = req->trace_parent;
	const char *m = method_of(req);
	struct trace_span *span = NULL;
	char name[160];

	if (!parent && trace_current())
		parent = trace_span_context(trace_current());
	if (!parent || !trace_context_valid(parent))
		return;
	x->tctx = *parent;
	x->has_tctx = 1;
	if (strcmp(http_check_method(m), "_OTHER") == 0)
		m = "HTTP";
	if (req->trace_route)
		snprintf(name, sizeof(name), "%s %s", m, req->trace_route);
	else
		snprintf(name, sizeof(name), "%s", m);
	(void)trace_span_start(name, TRACE_SPAN_CLIENT, parent, &span);
	if (!trace_span_recording(span)) {
		trace_span_end(span);
		return;
	}
	x->span = span;
	x->tctx = *trace_span_context(span);
	client_attrs(c, span, req);
}

static const char *error_type(int err, int cancelled)
{
	if (cancelled)
		return "cancelled";
	return err == ERR_TIMEOUT ? "timeout" : err_code_name(err);
}

/* Records the outcome on the CLIENT span and ends it. */
static void trace_finish(struct xfer *x, int status, int err, int cancelled, const char *why)
{
	char code[16];

	if (!x->span)
		return;
	if (status > 0)
		trace_span_set_int(x->span, "http.response.status_code", status);
	if (err || cancelled) {
		trace_span_set_str(x->span, "error.type", error_type(err, cancelled));
		trace_span_set_status(x->span, TRACE_STATUS_ERROR, why);
	} else if (status >= 400) {
		snprintf(code, sizeof(code), "%d", status);
		trace_span_set_str(x->span, "error.type", code);
		trace_span_set_status(x->span, TRACE_STATUS_ERROR, NULL);
	}
	trace_span_end(x->span);
	x->span = NULL;
}

static int xfer_new(struct httpc *c, const struct httpc_request *req, httpc_done_fn done, void *arg,
		    struct xfer **out)
{
	struct xfer *x;

	if (!valid_request(req))
		return ERR_BAD_REQUEST;
	x = xcalloc(1, sizeof(*x));
	list_init(&x->node);
	x->done = done;
	x->arg = arg;
	x->start_ns = clock_mono_ns();
	buf_init(&x->body, c->max_body);
	buf_init(&x->head, MAX_HEADER_BYTES);
	x->easy = easy_get(c);
	if (!x->easy) {
		xfer_free(c, x);
		return ERR_INTERNAL;
	}
	trace_begin(c, x, req);
	set_options(c, x, req);
	*out = x;
	return 0;
}

/* ---- completing a transfer ------------------------------------------------------------ */

static int map_curl_code(const struct xfer *x, CURLcode code)
{
	if (code != CURLE_OK && x->overflow != OVERFLOW_NONE)
		return ERR_TOO_LARGE;
	switch (code) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return ERR_UNAVAILABLE;
	case CURLE_OPERATION_TIMEDOUT:
		return ERR_TIMEOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return ERR_TOO_LARGE;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_FAILED_INIT:
		return ERR_INTERNAL;
	default:
		return ERR_BAD_GATEWAY;
	}
}

static const char *error_text(struct httpc *c, struct xfer *x, CURLcode code)
{
	if (code == CURLE_OK)
		return "";
	if (x->overflow == OVERFLOW_BODY || code == CURLE_FILESIZE_EXCEEDED)
		snprintf(x->errbuf, sizeof(x->errbuf), "response body larger than %zu bytes",
			 c->max_body);
	else if (x->overflow == OVERFLOW_HEADERS)
		snprintf(x->errbuf, sizeof(x->errbuf), "response headers larger than %d bytes",
			 MAX_HEADER_BYTES);
	return x->errbuf[0] ? x->errbuf : curl->easy_strerror(code);
}

/* The collected "name\0value\0" pairs as an array pointing into x->head (caller frees). */
static struct http_header *header_view(const struct xfer *x)
{
	struct http_header *h = xcalloc(x->nhead ? x->nhead : 1, sizeof(*h));
	const char *p = x->head.data;

	for (size_t i = 0; i < x->nhead; i++) {
		h[i].name = p;
		p += strlen(p) + 1;
		h[i].value = p;
		p += strlen(p) + 1;
	}
	return h;
}

/* Calls the transfer's callback with its outcome, then frees it. x is on no list. */
static void xfer_complete(struct httpc *c, struct xfer *x, CURLcode code, int cancelled)
{
	struct httpc_response res = { 0 };
	struct http_header *headers = header_view(x);
	long status = 0;

	if (!cancelled)
		curl->easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	res.status = (int)status;
	res.err = cancelled ? ERR_UNAVAILABLE : map_curl_code(x, code);
	res.cancelled = cancelled;
	res.error = cancelled ? "cancelled: the HTTP client was shut down" : error_text(c, x, code);
	res.headers = headers;
	res.nheaders = x->nhead;
	res.body = x->body.data;
	res.body_len = x->body.len;
	res.elapsed_us = (clock_mono_ns() - x->start_ns) / 1000;
	res.trace = x->has_tctx ? &x->tctx : NULL;
	res.trace_recorded = x->span != NULL; /* before trace_finish() ends it */
	trace_finish(x, res.status, res.err, cancelled, res.error);

	pthread_mutex_lock(&c->mu);
	c->pending--; /* before the callback, so that it may send a follow-up right away */
	pthread_mutex_unlock(&c->mu);
	x->done(&res, x->arg);
	free(headers);
	xfer_free(c, x);
}

/* ---- the client thread ---------------------------------------------------------------- */

static void run_due_timers(struct httpc *c)
{
	long long now = clock_mono_ns();
	struct timer t;

	while (timer_take(c, now, &t))
		t.fn(t.arg, 0);
}

static void start_transfers(struct httpc *c)
{
	struct xfer *x;

	pthread_mutex_lock(&c->mu);
	xlist_splice(&c->waiting, &c->incoming);
	c->woken = 0;
	pthread_mutex_unlock(&c->mu);

	while (c->running.len < c->max_transfers && (x = xlist_pop(&c->waiting))) {
		if (curl->multi_add_handle(c->multi, x->easy) != CURLM_OK) {
			xfer_complete(c, x, CURLE_FAILED_INIT, 0);
			continue;
		}
		xlist_push(&c->running, x);
	}
}

static void finish_transfers(struct httpc *c)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl->multi_info_read(c->multi, &left))) {
		CURL *e = msg->easy_handle;
		CURLcode code = msg->data.result;
		void *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl->easy_getinfo(e, CURLINFO_PRIVATE, &priv);
		curl->multi_remove_handle(c->multi, e);
		xlist_remove(&c->running, priv);
		xfer_complete(c, priv, code, 0);
	}
}

/* How long to poll: until curl's next timeout or the next timer, whichever is first. */
static int poll_wait_ms(struct httpc *c)
{
	long long wait = MAX_POLL_MS;
	long curl_ms = -1;

	if (c->waiting.len && c->running.len < c->max_transfers)
		return 0;
	curl->multi_timeout(c->multi, &curl_ms);
	if (curl_ms >= 0 && curl_ms < wait)
		wait = curl_ms;
	pthread_mutex_lock(&c->mu);
	if (c->ntimers) {
		long long left = c->timers[0].deadline_ns - clock_mono_ns();
		long long ms =
		    left <= 0 ? 0 : (left + 999999) / 1000000; /* round up: never early */

		if (ms < wait)
			wait = ms;
	}
	pthread_mutex_unlock(&c->mu);
	return (int)wait;
}

/* After stopping: every transfer and timer left gets its callback with cancelled = 1. */
static void cancel_all(struct httpc *c)
{
	struct xfer *x;
	struct timer t;

	pthread_mutex_lock(&c->mu);
	xlist_splice(&c->waiting, &c->incoming);
	pthread_mutex_unlock(&c->mu);
	while ((x = xlist_pop(&c->running))) {
		curl->multi_remove_handle(c->multi, x->easy);
		xfer_complete(c, x, CURLE_OK, 1);
	}
	while ((x = xlist_pop(&c->waiting)))
		xfer_complete(c, x, CURLE_OK, 1);
	while (timer_take(c, -1, &t))
		t.fn(t.arg, 1);
}

static void *client_main(void *p)
{
	struct httpc *c = p;
	int running;

	while (!locked_int(&c->mu, &c->stopping)) {
		run_due_timers(c);
		start_transfers(c);
		curl->multi_perform(c->multi, &running);
		finish_transfers(c);
		curl->multi_poll(c->multi, NULL, 0, poll_wait_ms(c), NULL);
	}
	cancel_all(c);
	return NULL;
}

/* ---- public API ----------------------------------------------------------------------- */

static void apply_options(struct httpc *c, const struct httpc_options *opt)
{
	static const struct httpc_options none;

	if (!opt)
		opt = &none;
	c->max_transfers = opt->max_transfers ? opt->max_transfers : DEFAULT_MAX_TRANSFERS;
	c->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : DEFAULT_TIMEOUT_MS;
	c->max_body = opt->max_body ? opt->max_body : DEFAULT_MAX_BODY;
	c->max_pending = opt->max_pending ? opt->max_pending : DEFAULT_MAX_PENDING;
	c->user_agent = xstrdup(opt->user_agent ? opt->user_agent : DEFAULT_USER_AGENT);
	c->max_host_connections =
	    opt->max_host_connections ? opt->max_host_connections : DEFAULT_MAX_HOST_CONNECTIONS;
}

/*
 * The first use: libcurl, the multi handle and the thread; c->mu held. 0, or ERR_UNAVAILABLE
 * (nothing kept: a later call tries again).
 */
static int start_locked(struct httpc *c)
{
	if (c->started)
		return 0;
	if (httpc_global_init() != 0)
		return ERR_UNAVAILABLE;
	c->multi = curl->multi_init();
	if (!c->multi)
		return ERR_UNAVAILABLE;
	curl->multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->max_host_connections);
	/* Keep as many idle connections as may be busy at once, for keep-alive reuse. */
	curl->multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->max_transfers);
	if (pthread_create(&c->thread, NULL, client_main, c) != 0) {
		curl->multi_cleanup(c->multi);
		c->multi = NULL;
		return ERR_UNAVAILABLE;
	}
	c->started = 1;
	return 0;
}

struct httpc *httpc_new(const struct httpc_options *opt)
{
	struct httpc *c = xcalloc(1, sizeof(*c));

	apply_options(c, opt);
	curl_api_preload(); /* loads once the server's threads exist (dlapi.h) */
	c->pool = xcalloc(c->max_transfers, sizeof(*c->pool));
	pthread_mutex_init(&c->pool_mu, NULL);
	pthread_mutex_init(&c->urls_mu, NULL);
	pthread_mutex_init(&c->mu, NULL);
	xlist_init(&c->incoming);
	xlist_init(&c->waiting);
	xlist_init(&c->running);
	return c;
}

void httpc_free(struct httpc *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	c->woken = 0;
	wake_locked(c);
	pthread_mutex_unlock(&c->mu);
	if (c->started) { /* else nothing was ever queued */
		pthread_join(c->thread, NULL);
		curl->multi_cleanup(c->multi);
	}
	while (c->npool)
		curl->easy_cleanup(c->pool[--c->npool]);
	free(c->pool);
	pthread_mutex_destroy(&c->pool_mu);
	for (size_t i = 0; i < ARRAY_SIZE(c->urls); i++)
		url_attrs_release(&c->urls[i]);
	pthread_mutex_destroy(&c->urls_mu);
	pthread_mutex_destroy(&c->mu);
	free(c->timers);
	free(c->user_agent);
	free(c);
}

int httpc_send(struct httpc *c, const struct httpc_request *req, httpc_done_fn done, void *arg)
{
	struct xfer *x;
	int ret;

	/* Before xfer_new(), whose easy handle and header list are libcurl's: none without it. */
	if (httpc_global_init() != 0)
		return ERR_UNAVAILABLE;
	ret = xfer_new(c, req, done, arg, &x);
	if (ret)
		return ret;
	pthread_mutex_lock(&c->mu);
	if (c->stopping || start_locked(c) != 0) {
		ret = ERR_UNAVAILABLE;
	} else if (c->pending >= c->max_pending) {
		ret = ERR_OVERLOADED;
	} else {
		c->pending++;
		xlist_push(&c->incoming, x);
		wake_locked(c);
	}
	pthread_mutex_unlock(&c->mu);
	if (ret) {
		trace_finish(x, 0, ret, 0, "request not sent");
		xfer_free(c, x);
	}
	return ret;
}

int httpc_timer(struct httpc *c, long long delay_ms, httpc_timer_fn fn, void *arg)
{
	struct timer t = { 0 };
	int ret = 0;

	if (delay_ms < 0)
		delay_ms = 0;
	if (delay_ms > MAX_TIMER_DELAY_MS)
		delay_ms = MAX_TIMER_DELAY_MS;
	t.fn = fn;
	t.arg = arg;
	pthread_mutex_lock(&c->mu);
	if (c->stopping || start_locked(c) != 0) {
		ret = ERR_UNAVAILABLE;
	} else {
		/* After start_locked(): the first call may have waited for libcurl's load. */
		t.deadline_ns = clock_mono_ns() + delay_ms * 1000000LL;
		t.seq = c->timer_seq++;
		heap_push(c, &t);
		wake_locked(c);
	}
	pthread_mutex_unlock(&c->mu);
	return ret;
}

static const char *find_header(const struct http_header *h, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(h[i].name, name) == 0)
			return h[i].value;
	}
	return NULL;
}

const char *httpc_response_header(const struct httpc_response *res, const char *name)
{
	return find_header(res->headers, res->nheaders, name);
}

const char *httpc_result_header(const struct httpc_result *r, const char *name)
{
	return find_header(r->headers, r->nheaders, name);
}

/* ---- the synchronous wrapper ---------------------------------------------------------- */

struct sync_call {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	struct httpc_result *out;
};

/* One allocation holding the array and then all its strings, so free(headers) frees all. */
static struct http_header *copy_headers(const struct http_header *h, size_t n)
{
	size_t size = (n ? n : 1) * sizeof(*h);
	struct http_header *copy;
	char *p;

	for (size_t i = 0; i < n; i++)
		size += strlen(h[i].name) + strlen(h[i].value) + 2;
	copy = xmalloc(size);
	p = (char *)(copy + (n ? n : 1));
	for (size_t i = 0; i < n; i++) {
		size_t ln = strlen(h[i].name) + 1, lv = strlen(h[i].value) + 1;

		memcpy(p, h[i].name, ln);
		copy[i].name = p;
		memcpy(p + ln, h[i].value, lv);
		copy[i].value = p + ln;
		p += ln + lv;
	}
	return copy;
}

static void sync_done(const struct httpc_response *res, void *arg)
{
	struct sync_call *call = arg;
	struct httpc_result *out = call->out;

	out->status = res->status;
	out->err = res->err;
	out->error = xstrdup(res->error);
	out->headers = copy_headers(res->headers, res->nheaders);
	out->nheaders = res->nheaders;
	out->body = xstrndup(res->body, res->body_len);
	out->body_len = res->body_len;
	out->elapsed_us = res->elapsed_us;
	pthread_mutex_lock(&call->mu);
	call->done = 1;
	pthread_cond_signal(&call->cv);
	pthread_mutex_unlock(&call->mu);
}

static const char *send_error_text(int err)
{
	switch (err) {
	case ERR_OVERLOADED:
		return "too many pending requests";
	case ERR_UNAVAILABLE:
		return "the HTTP client is shutting down, or libcurl could not be loaded";
	case ERR_BAD_REQUEST:
		return "invalid request: missing URL, bad method or bad header";
	default:
		return "request not sent";
	}
}

static int result_fail(struct httpc_result *out, int err, const char *why)
{
	out->err = err;
	out->error = xstrdup(why);
	out->headers = NULL;
	out->body = xstrdup("");
	return err;
}

int httpc_send_sync(struct httpc *c, const struct httpc_request *req, struct httpc_result *out)
{
	struct sync_call call = { .out = out };
	int ret, on_client_thread;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->mu);
	on_client_thread = c->started && pthread_equal(pthread_self(), c->thread);
	pthread_mutex_unlock(&c->mu);
	if (on_client_thread)
		return result_fail(out, ERR_INTERNAL,
				   "httpc_send_sync called on the client thread");
	pthread_mutex_init(&call.mu, NULL);
	pthread_cond_init(&call.cv, NULL);
	ret = httpc_send(c, req, sync_done, &call);
	if (ret) {
		result_fail(out, ret, send_error_text(ret));
		goto cleanup;
	}
	pthread_mutex_lock(&call.mu);
	while (!call.done)
		pthread_cond_wait(&call.cv, &call.mu);
	pthread_mutex_unlock(&call.mu);
cleanup:
	pthread_cond_destroy(&call.cv);
	pthread_mutex_destroy(&call.mu);
	return out->err;
}

void httpc_result_release(struct httpc_result *r)
{
	free(r->error);
	free(r->headers);
	free(r->body);
	memset(r, 0, sizeof(*r));
}
