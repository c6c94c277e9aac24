/*
 * http_internal.h: what the server's files share (not a public API; see http.h).
 *
 *   http.c          libmicrohttpd glue and the request lifecycle (the state machine below)
 *   http_check.c    request validation shared with httpc.c (common/http_check.h)
 *   http_builtin.c  GET /healthz, /readyz, /metrics, the access log, the SERVER span and
 *                   the request metrics
 *
 * The lifecycle of a request (struct http_conn). One state, changed only by conn_to(), which
 * asserts that the step is an edge of this graph (debug builds):
 *
 *     on_uri
 *       |
 *       v
 *   CONN_HEADERS --(rejected before the body: 400/404/405/413/415, preflight)--+
 *       |                                                                      |
 *       | routed                                                               |
 *       v                                                                      |
 *   CONN_BODY ----(body beyond the route's cap)----> CONN_DISCARD --(413)----->+
 *       |                                                                      |
 *       | body complete                                                        |
 *       v                                                                      |
 *   CONN_HANDLER --(handler returned, answered)------------------------------->+
 *       |                                                                      |
 *       | http_suspend(), or handed to the blocking pool (ROUTE_BLOCKING)      |
 *       v                                                                      v
 *   CONN_SUSPENDED --(handler returned)--> CONN_PARKED                    CONN_QUEUED
 *       |                                     |                                ^
 *       | http_resume() before the            | http_resume(), or the stop     |
 *       | handler returned                    | answers 503 (answer_parked)    |
 *       v                                     v                                |
 *   CONN_RESUMED <----------------------------+                                |
 *       |                                                                      |
 *       +--(on_access queues the stored response)----------------------------->+
 *
 *   A ROUTE_BLOCKING request takes the suspended path without its handler knowing: on its MHD
 *   thread run_handler() suspends it and queues it for srv->blocking; a pool thread runs the
 *   handler, stores its answer and calls http_resume(). A request the stop answered with 503
 *   before a pool thread took it is not run at all.
 *
 *   on_completed (the response went out, or the client or the daemon went away) moves every
 *   state on an MHD thread (HEADERS, BODY, DISCARD, PARKED, RESUMED, QUEUED) to CONN_DONE.
 *   HANDLER and SUSPENDED only exist inside on_access, so on_completed never sees them.
 *
 * Data next to the state, not flags: c->resp says whether a response is stored (and whether
 * the stop forced a 503 that handlers may no longer replace); c->sent_status is the status
 * handed to libmicrohttpd (0 = none); c->toe how MHD ended the request; c->node is on
 * srv->parked from PARKED until on_completed.
 *
 * References: MHD holds one from on_uri to on_completed; http_suspend() takes one for the
 * thread that will call http_resume(). The last one frees the request and its arena.
 *
 * Locks: srv->lock (the parked list, the stopping flag) is taken before c->lock. c->lock
 * guards the changes of c->state (read with atomic_load anywhere), the response and c->refs,
 * which two threads can touch.
 */
#ifndef COMMON_HTTP_INTERNAL_H
#define COMMON_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/http.h"
#include "common/list.h"
#include "common/route.h"
#include "common/workpool.h"

enum conn_state {
	CONN_HEADERS,	/* on_uri ran; the first on_access will route */
	CONN_BODY,	/* routed, reading the body */
	CONN_DISCARD,	/* the body passed the cap: reading and dropping it, 413 at the end */
	CONN_HANDLER,	/* the handler runs on a pool thread */
	CONN_SUSPENDED, /* the handler called http_suspend() and has not returned yet */
	CONN_PARKED,	/* MHD-suspended on srv->parked, waiting for http_resume() */
	CONN_RESUMED,	/* resumed: the next on_access queues the stored response */
	CONN_QUEUED,	/* a response is with libmicrohttpd */
	CONN_DONE,	/* on_completed ran */
};

/* The response slot. */
enum conn_resp {
	RESP_NONE,   /* nothing stored yet */
	RESP_SET,    /* a response is stored; another http_respond* is refused */
	RESP_FORCED, /* the stopping server stored 503: the handler's answer is dropped */
};

/* Request headers or query values, copied into the request's arena. */
struct kv_in {
	struct http_header *v;
	size_t n, alloc;
	bool nul; /* a name or value held a NUL (%00 in a query): refused with 400 */
};

struct http_upgrade {
	http_upgrade_fn fn;
	void *arg;
	struct MHD_UpgradeResponseHandle *urh;
};

struct http_server {
	struct http_server_config cfg;
	struct MHD_Daemon *d;
	int port;
	pthread_mutex_t lock;
	struct list_head parked;   /* MHD-suspended requests (http_conn.node), under lock */
	int stopping;		   /* under lock: no more parking */
	atomic_int draining;	   /* responses carry Connection: close */
	atomic_long active;	   /* requests between on_uri and on_completed */
	struct workpool *blocking; /* runs ROUTE_BLOCKING handlers; NULL when the table has none */
};

struct http_conn {
	struct http_request req; /* first: handlers get &c->req */
	struct http_server *srv;
	struct MHD_Connection *mc;
	pthread_mutex_t lock;
	int refs;
	_Atomic enum conn_state state; /* written by conn_to() under lock */
	struct arena arena; /* http_arena(): the request's copies and the handler's scratch */
	long long t0_ns;    /* CLOCK_MONOTONIC at on_uri */
	char *path, *method, *rawquery; /* in arena */
	char remote[INET6_ADDRSTRLEN];
	char version[16]; /* "1.1" */
	struct trace_span *span;
	const char *method_label;    /* http_check_method() */
	struct kv_in headers, query; /* in arena */
	struct route_match match;
	unsigned flags; /* of the matched route */
	struct buf body;
	size_t cap; /* body cap of the matched route */
	size_t bytes_in;
	enum MHD_RequestTerminationCode toe; /* set in on_completed */
	/* the response */
	enum conn_resp resp;
	int status, sent_status;
	char *ctype, *rbody;
	size_t rlen;
	int rref;		     /* rbody is borrowed (http_respond_ref()), not malloc'd */
	void (*rrelease)(void *arg); /* ... and given back with this, when not NULL */
	void *rarg;
	struct header_list out; /* response headers: another thread may add them (http.h) */
	struct http_upgrade *upgrade;
	struct list_head node;	 /* on srv->parked */
	struct workpool_job job; /* a ROUTE_BLOCKING handler waiting for srv->blocking */
};

/* The struct http_conn of a request. */
static inline struct http_conn *http_conn_of(const struct http_request *req)
{
	return (struct http_conn *)(uintptr_t)req; /* req is the first member */
}

/* 1 when the diagram above has the edge from -> to (http.c; the unit test checks it). */
int http_conn_transition_ok(int from, int to);

/* http_builtin.c */
extern const struct route http_builtin_routes[];
extern const size_t http_builtin_nroutes;
/* Registers the request metrics once (any number of calls). */
void http_metrics_setup(void);
/* Counts a request in or out of http_server_active_requests. */
void http_metrics_active(long delta);
/* Starts the SERVER span of c, routed to r (NULL: no route matched); none for built-ins. */
void http_span_begin(struct http_conn *c, const struct route *r);
/* Records the outcome on c's span and ends it (the last reference). */
void http_span_finish(struct http_conn *c);
/* The access-log record and the duration metric of a completed request. */
void http_observe(struct http_conn *c, long long ns);

#endif
