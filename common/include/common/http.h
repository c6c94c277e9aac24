/*
 * http.h: the HTTP server every service runs (libmicrohttpd 0.9.75 underneath).
 *
 * A service fills a struct http_server_config with its route table (route.h) and its state,
 * calls http_server_start(), and on SIGTERM http_server_stop(). The layer does everything
 * around the handlers in one dispatcher: routing (404/405 with Allow), the body cap (413),
 * the JSON content-type check for ROUTE_JSON routes (415), the error body, CORS, the access
 * log, the request metrics and the built-in routes GET /healthz, GET /readyz, GET /metrics.
 *
 * Error answers. Every failure, whether found by the layer or by a handler, is answered in
 * one place from err.h: status err_http_status(err), Content-Type application/json, body
 * {"error":"<err_code_name(err)>","message":"<text>"}, plus "Retry-After: 1" when
 * err_retry_after(err). A handler fails with
 *
 *	return http_fail(req, ERR_NOT_FOUND, "no book with id %s", id);
 *
 * Handlers. A handler runs on one of the server's pool threads (libmicrohttpd's), or for a
 * ROUTE_BLOCKING route on one of the blocking pool's (workpool.h), started when the table has
 * such a route: the pool threads then only route, read bodies and answer the built-in routes,
 * which therefore answer while every blocking handler waits. A handler either responds
 * (http_respond*, http_fail) and returns 0 (or the negative code http_fail returned), or
 * calls http_suspend() and returns 0; then any thread may later respond and call
 * http_resume(). A handler that returns 0 without responding or suspending gets a 500.
 *
 * Ownership. The layer owns struct http_request and everything it points to (method, path,
 * headers, params, query values, body); all of it stays valid until the response has been
 * sent, which is after the handler returned, or after http_resume() for a suspended request.
 * After http_resume() the caller must not touch req again.
 *
 * Per-request memory. Every request has one arena (arena.h), http_arena(req), for the
 * handler's scratch: formatted URLs and messages, header arrays, copies of strings. It is
 * freed in one go when the request is over: after the response went out (or the client went
 * away, MHD's completed callback) and no thread holds the request any more, which for a
 * suspended request is not before http_resume(). So:
 *   - lives in the arena, dies with the request: whatever the handler allocates from it, and
 *     the layer's own copies of the request (method, path, headers, query values);
 *   - outlives it: the response (http_respond* copy status, type, body and headers into
 *     memory the layer hands to libmicrohttpd, so arena memory may be passed to them;
 *     http_respond_ref() alone borrows the body, which must not be arena memory), a
 *     json_t given to http_respond_json() (stolen), the upgraded socket (http_upgrade_close()),
 *     and anything the handler copies out with malloc (a queued event, a cache entry) or
 *     hands to another module (httpc copies its request's URL, headers and body);
 *   - never point at the arena from anything that outlives the request: once http_resume()
 *     returned, or the handler returned without suspending, the arena may be gone.
 * Only the thread that holds the request (see Threads) allocates from its arena; the layer
 * does not touch it once the handler started.
 *
 * Threads. A request is used by one thread at a time: the pool thread running the handler,
 * or, after http_suspend(), the one thread that will call http_resume(). The server-wide
 * functions are thread-safe.
 *
 * Tracing (trace.h, docs/tracing.md). Every request except the built-in routes gets a SERVER
 * span, req->span, named "{method} {route}" ("{method}" when no route matched, "HTTP" for a
 * method outside http_check_method()'s list, which httpc shares), continuing the trace of the
 * request's traceparent header, or of its ce-traceparent header when there is no traceparent
 * (trace_context_extract()). Attributes:
 * http.request.method (+ _original), url.path, url.scheme, url.query, http.route,
 * server.port, client.address, user_agent.original, network.protocol.version, and at the end
 * http.response.status_code; status Error (and error.type) for 5xx and for a request or
 * response that did not go through whole (connection_aborted, timeout). The span is current
 * on the pool thread while the handler runs, so log records and httpc requests made there
 * belong to it, and the access-log record carries its ids too. Handlers may add attributes
 * and start children (trace_span_start(..., trace_span_context(req->span), ...)); they never
 * end it: the layer does, after the response went out.
 * http_suspend() makes the span stop being current on the calling thread: pass
 * trace_span_context(req->span) explicitly to calls made after it. The thread that later
 * works on the request may trace_span_enter(req->span); http_resume() exits it again.
 */
#ifndef COMMON_HTTP_H
#define COMMON_HTTP_H

#include <stddef.h>

#include <jansson.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/header.h"
#include "common/route.h"

/*
 * One request. The fields are read-only for handlers; the layer keeps its own state next to
 * it. Strings are NUL-terminated and owned by the layer (see Ownership above).
 */
struct http_request {
	const char *method; /* "GET", "POST", ... as received */
	const char *path;   /* raw path as received, still percent-encoded, without the query */
	const char *route;  /* the matched pattern ("/books/{id}"), or "unmatched" */
	const char *body;   /* request body (NUL-terminated copy); "" when there is none */
	size_t body_len;
	const char *remote;  /* peer address, "127.0.0.1" or "::1" */
	const char *version; /* HTTP version without "HTTP/": "1.1", "1.0" ("" if unknown) */
	void *ctx;	     /* http_server_config.ctx */
	void *span;	     /* the SERVER span (struct trace_span *), or NULL: see Tracing */
};

/* The request's arena (see Per-request memory): handler scratch freed with the request. */
struct arena *http_arena(struct http_request *req);

/* The percent-decoded path parameter name ("id" for "{id}"), or NULL. */
const char *http_param(const struct http_request *req, const char *name);
/* The decoded query parameter name ("limit" in "?limit=5"), first value, or NULL. */
const char *http_query(const struct http_request *req, const char *name);
/* The first value of request header name (case-insensitive), or NULL. */
const char *http_header(const struct http_request *req, const char *name);
/* How many times header name (case-insensitive) occurs in the request. */
size_t http_header_count(const struct http_request *req, const char *name);
/* Every request header in arrival order, duplicates included; *n gets the count. */
const struct http_header *http_headers(const struct http_request *req, size_t *n);

/*
 * Sets the response: status, Content-Type (NULL for none) and body (copied; NULL/0 for none).
 * Returns 0, or ERR_INTERNAL if a response was already set (the new one is dropped).
 */
int http_respond(struct http_request *req, int status, const char *content_type, const void *body,
		 size_t len);
/*
 * http_respond() without the copy, for a body that outlives the request (a cached file, a
 * constant): the layer hands body itself to libmicrohttpd. The caller keeps it alive and
 * unchanged until release(arg) runs: exactly once, on any thread, when the response has been
 * sent or dropped (also when this call fails; release NULL: static memory).
 */
int http_respond_ref(struct http_request *req, int status, const char *content_type,
		     const void *body, size_t len, void (*release)(void *arg), void *arg);
/* http_respond() with body serialized compactly as application/json. Steals body. */
int http_respond_json(struct http_request *req, int status, json_t *body);
/*
 * Adds a response header (copied). Any number, before or after http_respond*, but before the
 * handler returns (or before http_resume() for a suspended request). Returns 0, or
 * ERR_BAD_REQUEST when name or value contain CR/LF or the name is empty.
 */
int http_add_header(struct http_request *req, const char *name, const char *value);
/*
 * Sets the error response for err (see Error answers) with a printf-style message.
 * Returns err, so a handler can `return http_fail(...)`.
 */
int http_fail(struct http_request *req, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * http_fail() with the message collected in msg (a reason a lower layer appended, as in
 * store.c's `struct buf *msg` parameters), or "request failed" when msg is empty. Returns err.
 */
int http_fail_buf(struct http_request *req, int err, const struct buf *msg);

/*
 * Parks the request: the handler returns 0 and the connection waits without holding a
 * thread. Later any thread sets the response (http_respond*, http_fail, http_add_header)
 * and then calls http_resume() exactly once, even after http_server_stop() (then the
 * response is dropped, the stop already answered 503). Returns 0.
 */
int http_suspend(struct http_request *req);
/* Queues the stored response of a suspended request. req is dead after this call. */
void http_resume(struct http_request *req);

/*
 * WebSocket and other upgrades. http_respond_upgrade() answers 101 Switching Protocols with
 * the headers added by http_add_header() (Upgrade, Connection, Sec-WebSocket-Accept). After
 * the 101 is sent, on a server thread, fn(arg, fd, extra_in, extra_in_size, up) gets the raw
 * socket; extra_in holds bytes the client sent after its request (already read, valid during
 * the call). fd belongs to the layer: never close() it, call http_upgrade_close(up) exactly
 * once when done (from any thread); fn may return at once and keep fd for another thread.
 * libmicrohttpd sends a 101 only on HTTP/1.1 or later (req->version): elsewhere the connection
 * is closed without an answer, fn never runs, and the request is logged with status 0, so
 * check the version first and answer with an error.
 */
struct http_upgrade;
typedef void (*http_upgrade_fn)(void *arg, int fd, const char *extra_in, size_t extra_in_size,
				struct http_upgrade *up);
int http_respond_upgrade(struct http_request *req, http_upgrade_fn fn, void *arg);
/* Closes the upgraded connection and frees up. */
void http_upgrade_close(struct http_upgrade *up);

/*
 * Readiness callback for GET /readyz: return 0 when ready, else a negative value and append
 * a short reason ("postgres: connection refused") to reason. It runs on a libmicrohttpd
 * thread, so it must answer at once from what it knows (never wait for a busy resource): a
 * probe that waits behind the handlers fails the kubelet's timeout. One that must ask the
 * resource asks on a thread of its own, one question at a time, and waits for the answer a
 * bounded while (db-service's store_ready(): 2 s), so a resource that never answers holds no
 * thread; the server keeps a second for /healthz and /metrics meanwhile.
 */
typedef int (*http_ready_fn)(void *ctx, struct buf *reason);

#define HTTP_DEFAULT_MAX_BODY ((size_t)1024 * 1024)

/*
 * Connection limits. One client must not be able to hold every connection:
 *   - at most client_connection_limit connections per client address (beyond them a new
 *     connection from that address is closed at once), 0 = a quarter of connection_limit;
 *   - a new connection waiting for its first request's headers is closed after
 *     header_timeout_s seconds in which no byte arrived; once the headers are in, the
 *     connection gets connection_timeout_s seconds of idleness (a slow body, a slow reader,
 *     a kept-alive connection between requests). libmicrohttpd measures both from the last
 *     byte received or sent, so a client trickling one byte per interval is held only by the
 *     per-address cap and the 64 KiB header memory (connection_memory).
 * Fields left 0 (and bind left NULL) take the process-wide defaults of http_set_defaults(),
 * which service_start() sets from the shared settings BIND_ADDRESS, HTTP_CLIENT_CONNECTIONS,
 * HTTP_HEADER_TIMEOUT_MS and HTTP_IDLE_TIMEOUT_MS, else the built-in defaults below.
 */
#define HTTP_DEFAULT_HEADER_TIMEOUT_S 10
#define HTTP_DEFAULT_IDLE_TIMEOUT_S   30

struct http_server_config {
	int port;		    /* 0 = any free port (see http_server_port()) */
	const char *bind;	    /* IPv4 or IPv6 literal; NULL = all interfaces (dual stack) */
	const char *service;	    /* service name (logs) */
	const struct route *routes; /* not copied: must outlive the server */
	size_t nroutes;
	void *ctx;		       /* handed to handlers as req->ctx */
	http_ready_fn ready;	       /* NULL = always ready */
	unsigned threads;	       /* pool threads; 0 = number of CPUs */
	unsigned blocking_threads;     /* threads for ROUTE_BLOCKING handlers; 0 = 16 (with
					  such routes, `threads` is at least 2) */
	size_t blocking_queue;	       /* most such requests waiting for one; 0 = 1024;
					  more: 503 overloaded */
	size_t max_body;	       /* default body cap; 0 = HTTP_DEFAULT_MAX_BODY */
	int cors;		       /* answer CORS preflights, add Access-Control-Allow-Origin */
	long long shutdown_grace_ms;   /* in-flight requests get this long on stop; 0 = 10000 */
	unsigned connection_timeout_s; /* idle timeout of a request in progress; 0 = 30 */
	unsigned header_timeout_s;     /* idle timeout while waiting for headers; 0 = 10;
					  never more than connection_timeout_s */
	unsigned connection_limit;     /* 0 = 1000 */
	unsigned client_connection_limit; /* per client address; 0 = connection_limit / 4 */
	size_t connection_memory;	  /* per-connection memory (headers); 0 = 64 KiB */
};

/*
 * Sets the defaults for fields a struct http_server_config leaves 0 or NULL: bind (copied;
 * NULL or "" = all interfaces), connection_timeout_s, header_timeout_s and
 * client_connection_limit. Call it before starting servers (service_start() does).
 */
void http_set_defaults(const char *bind, unsigned connection_timeout_s, unsigned header_timeout_s,
		       unsigned client_connection_limit);

struct http_server;

/*
 * Starts listening and serving. Registers the process metrics once. Once the server's threads
 * exist, starts the libraries queued for a background load (dlapi_start_preloads()). Returns 0
 * and *out, or ERR_INTERNAL (bad bind address, port in use; logged).
 */
int http_server_start(const struct http_server_config *cfg, struct http_server **out);
/* The TCP port actually bound. */
int http_server_port(const struct http_server *srv);
/*
 * Graceful stop, then frees srv: stops accepting, waits up to shutdown_grace_ms for
 * in-flight requests, answers still-suspended ones with 503 unavailable, stops the daemon.
 */
void http_server_stop(struct http_server *srv);

#endif
