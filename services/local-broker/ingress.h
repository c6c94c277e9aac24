/*
 * ingress.h: the broker's HTTP ingress, as Knative's MT broker answers it (protocols.md §1.7).
 *
 *   POST /<namespace>/<broker>   202 once the event is in the queue of every matching Trigger
 *                                (and, with BROKER_DURABILITY=wal, on disk in the log);
 *                                400 not a (valid) CloudEvent, a batch, or TTL exhausted;
 *                                404 unknown broker; 503 + Retry-After when the queues are full
 *                                (count or bytes) or the broker is shutting down; 500 when the
 *                                log cannot be written
 *   POST /<any other depth>      400 (the path must be exactly /<namespace>/<broker>)
 *   OPTIONS (those paths)        200, Allow: POST, OPTIONS, WebHook-Allowed-Origin: *,
 *                                WebHook-Allowed-Rate: *
 *   other methods                405 (the HTTP layer, with Allow); bare "/" → 404
 *
 * Tracing: the request's SERVER span (http.h) gets Knative's messaging attributes, and the
 * deliveries continue from it (dispatcher.h). With tracing off, the request's own trace
 * headers are kept with the event and passed on unchanged. The CloudEvents traceparent
 * extension is never touched.
 * struct ingress is the route table's context (http_server_config.ctx); the caller owns it.
 */
#ifndef LOCAL_BROKER_INGRESS_H
#define LOCAL_BROKER_INGRESS_H

#include <stdatomic.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/route.h"

struct topology;
struct dispatcher;

struct ingress {
	const struct topology *topo;
	struct dispatcher *disp;
	atomic_int stopping; /* set by ingress_stop(): answer 503, not ready */
};

/* The route table (a static const struct route routes[] in ingress.c) and its size in *n. */
const struct route *ingress_routes(size_t *n);

/*
 * GET /readyz: ready while the topology is loaded, the broker is not shutting down and its
 * log has not failed to sync.
 */
int ingress_ready(void *ctx, struct buf *reason);
/* From now on ingress answers 503 and /readyz fails. */
void ingress_stop(struct ingress *in);

#endif
