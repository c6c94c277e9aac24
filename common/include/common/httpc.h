/*
 * httpc.h: an asynchronous HTTP/1.1 client (libcurl multi) with timers on the same thread.
 *
 * One client is one background thread that owns one curl multi handle. Requests are queued
 * from any thread with httpc_send() and run concurrently on that thread; connections are kept
 * alive and reused across requests. Completion callbacks and timer callbacks all run on the
 * client thread, one at a time, so they must not block: they hand results to their owner
 * (resume a suspended server request, schedule a retry with httpc_timer(), ...). A retry
 * waits on a timer, never on a sleeping thread.
 *
 * Callback rules (as libuv's): when httpc_send() or httpc_timer() returns an error, its
 * callback is never called; when it returns 0, the callback is called exactly once, on the
 * client thread, also when the client is freed first (then with `cancelled` set).
 *
 * Thread safety: httpc_send(), httpc_timer() and httpc_send_sync() may be called from any
 * thread, including from inside callbacks (httpc_send_sync() excepted: it would deadlock and
 * returns ERR_INTERNAL there). httpc_new()/httpc_free() are called by the owner. Other threads
 * must have stopped calling into the client before httpc_free() is called; only the callbacks
 * that httpc_free() itself runs may still call in (and get ERR_UNAVAILABLE).
 */
#ifndef COMMON_HTTPC_H
#define COMMON_HTTPC_H

#include <stddef.h>

#include "common/header.h"

struct httpc;
struct trace_attr;
struct trace_context;

/* Every field is optional: 0 / NULL picks the default in brackets. */
struct httpc_options {
	size_t max_transfers; /* transfers in flight at once; more wait in FIFO order [256] */
	size_t max_host_connections; /* open connections per host:port [64] */
	long timeout_ms;	     /* per-request timeout when the request sets none [30000] */
	size_t max_body;	/* response body cap in bytes; past it, ERR_TOO_LARGE [16 MiB] */
	size_t max_pending;	/* requests accepted but not yet completed [10000] */
	const char *user_agent; /* User-Agent header, copied ["bookstore-httpc/1"] */
};

/*
 * A request. httpc_send() copies all of it (strings, headers, body), so the caller may free or
 * reuse it as soon as httpc_send() returns. Header names and values must not contain CR, LF or
 * NUL, and names must be HTTP tokens, or httpc_send() fails with ERR_BAD_REQUEST (so an
 * attribute forwarded as a header cannot inject another header). An empty value is sent as an
 * empty header. The client never uses 100-continue, sends a body without Content-Type when the
 * request names none, follows no redirects and ignores http_proxy/https_proxy (service to
 * service traffic).
 */
struct httpc_request {
	const char *method; /* "GET", "POST", ...; NULL = GET, or POST when body_len > 0 */
	const char *url;    /* http:// or https:// */
	const struct http_header *headers;
	size_t nheaders;
	const void *body; /* may be NULL when body_len is 0 */
	size_t body_len;
	long timeout_ms; /* whole exchange, from when the transfer starts; 0 = client default */
	/* Tracing (trace.h, docs/tracing.md); all optional, see Tracing below. */
	const struct trace_context *trace_parent; /* NULL: the calling thread's current span */
	const char *trace_route;		  /* span name "{method} {trace_route}" */
	int resend_count;			  /* > 0: this is retry number resend_count */
	const struct trace_attr *trace_attrs;	  /* extra CLIENT span attributes (copied) */
	size_t trace_nattrs;
};

/*
 * Tracing. The parent is req->trace_parent, or when that is NULL the span current on the
 * thread that calls httpc_send() (trace_span_enter()); pass a zeroed context to force none.
 * With a valid parent the request gets one CLIENT span (kind CLIENT, named "{method}" or
 * "{method} {trace_route}"; attributes http.request.method, server.address, server.port,
 * url.full without credentials, http.request.resend_count when resend_count > 0, the
 * trace_attrs, and at the end http.response.status_code and error.type; status Error for
 * 4xx, 5xx and transport errors). The span ends just before the completion callback runs,
 * and its `traceparent` (+ `tracestate`) replace any the caller put in headers. When that
 * span does not record (OTEL_SDK_DISABLED, an unsampled parent) no span is kept and the
 * parent's own context is injected unchanged. Without a parent nothing is added.
 */

/*
 * The outcome of a request, passed to the completion callback. Everything it points to is
 * owned by the client and valid ONLY during the callback: copy what you keep.
 *
 * err is 0 when a complete HTTP response arrived, whatever its status (a 503 is err 0, status
 * 503). Otherwise err is ERR_UNAVAILABLE (connection refused, host unreachable, DNS failure,
 * or cancelled), ERR_TIMEOUT (the request's timeout passed), ERR_TOO_LARGE (the body passed
 * max_body), ERR_INTERNAL (malformed URL, unsupported scheme) or ERR_BAD_GATEWAY (anything
 * else: reset, bad reply). status is 0 when no response head arrived, and may be set on a
 * failure that came after it (e.g. ERR_TOO_LARGE).
 */
struct httpc_response {
	int status;
	int err;
	int cancelled;	   /* 1 when httpc_free() cancelled the request (err ERR_UNAVAILABLE) */
	const char *error; /* human-readable reason; "" when err is 0 */
	const struct http_header *headers; /* in arrival order; names as the server sent them */
	size_t nheaders;
	const char *body; /* NUL-terminated for convenience; body_len excludes the NUL */
	size_t body_len;
	long long elapsed_us; /* from httpc_send() to the callback, queueing included */
	/* The context injected into the request (the CLIENT span's, see Tracing), or NULL. */
	const struct trace_context *trace;
	/* 1 when that context is a CLIENT span's that recorded (it is exported), e.g. for an
	 * exemplar (metrics_observe_exemplar()); 0 when it is the parent's, passed on. */
	int trace_recorded;
};

typedef void (*httpc_done_fn)(const struct httpc_response *res, void *arg);
/* cancelled is 1 when httpc_free() fires the timer before its deadline. */
typedef void (*httpc_timer_fn)(void *arg, int cancelled);

/*
 * Initializes libcurl (loaded at run time, curl_api.h; and through it OpenSSL, without two of
 * its tables, see httpc.c) for the whole process, once (pthread_once); a client's first
 * httpc_send() or httpc_timer() calls it. 0, or ERR_UNAVAILABLE when libcurl could not be
 * loaded or initialized (logged once; every later call fails the same way).
 */
int httpc_global_init(void);

/*
 * A client (opt may be NULL for the defaults). It asks for libcurl to be loaded on a background
 * thread (curl_api_preload(): once the HTTP server's threads exist) and otherwise only
 * allocates: libcurl's global init, the curl multi handle and the client thread are set up by
 * the first httpc_send() or httpc_timer(), so a process that sends nothing does not carry
 * libcurl's and OpenSSL's start-up memory. Never returns NULL (allocation failures abort,
 * xalloc.h).
 */
struct httpc *httpc_new(const struct httpc_options *opt);

/*
 * Stops the client and frees it. Before it returns, every request not yet completed gets its
 * callback with cancelled = 1 (err ERR_UNAVAILABLE, error "cancelled"), and every timer not yet
 * fired gets its callback with cancelled = 1, in deadline order, all on the client thread, so
 * their owners can free their state. httpc_send()/httpc_timer() called by those callbacks fail
 * with ERR_UNAVAILABLE. NULL is a no-op. Must not be called from a callback.
 */
void httpc_free(struct httpc *c);

/*
 * Queues a request; done(res, arg) will run once on the client thread. Never blocks.
 * Returns 0, ERR_OVERLOADED when max_pending requests are already pending, ERR_UNAVAILABLE
 * when the client is shutting down, when libcurl could not be loaded (httpc_global_init()) or,
 * on first use, when the thread could not be started, ERR_BAD_REQUEST for a missing URL or a
 * bad header.
 */
int httpc_send(struct httpc *c, const struct httpc_request *req, httpc_done_fn done, void *arg);

/*
 * Calls fn(arg, 0) once on the client thread, no earlier than delay_ms milliseconds from now
 * (negative counts as 0). Timers fire in deadline order; equal deadlines in the order set.
 * Returns 0, or ERR_UNAVAILABLE when the client is shutting down, when libcurl could not be
 * loaded or, on first use, when the thread could not be started.
 */
int httpc_timer(struct httpc *c, long long delay_ms, httpc_timer_fn fn, void *arg);

/* A response copied out of the client: the caller owns it and calls httpc_result_release(). */
struct httpc_result {
	int status;
	int err;
	char *error;		     /* never NULL after httpc_send_sync() */
	struct http_header *headers; /* the strings belong to the result too */
	size_t nheaders;
	char *body; /* NUL-terminated; never NULL after httpc_send_sync() */
	size_t body_len;
	long long elapsed_us;
};

/*
 * Sends req and waits for the outcome (for tools and tests; servers use httpc_send()).
 * Always fills *out (with err set when nothing was sent) and returns out->err.
 * Returns ERR_INTERNAL without sending when called on the client thread.
 */
int httpc_send_sync(struct httpc *c, const struct httpc_request *req, struct httpc_result *out);
void httpc_result_release(struct httpc_result *r);

/* The value of the first header called name (case-insensitive), or NULL. */
const char *httpc_response_header(const struct httpc_response *res, const char *name);
const char *httpc_result_header(const struct httpc_result *r, const char *name);

#endif
