/*
 * dispatcher.h: the broker's queues and delivery engine.
 *
 * dispatcher_ingest() routes an accepted event to every matching Trigger of its Broker and
 * puts one delivery per Trigger into that Trigger's queue, all or nothing: when the deliveries
 * would pass queue_max (counting every delivery not yet finished: queued, in flight or
 * waiting for a retry), nothing is enqueued and it returns ERR_OVERLOADED.
 *
 * Deliveries run concurrently on one httpc client; each Trigger has at most
 * trigger_inflight attempts in flight, so a slow or failing subscriber never holds up the
 * others. Retry waits are httpc timers. Replies are re-ingested through dispatcher_ingest();
 * if that fails the attempt counts as failed (503 when the queues are full, 400 when the
 * reply's TTL is exhausted, the latter dead-lettered with the Broker's ingress URL as
 * knativeerrordest, as EV's reply path does).
 *
 * Shutdown: dispatcher_drain() stops starting attempts, waits up to grace_ms for the attempts
 * in flight, then cancels the rest (they will be retried with the same attempt number: at
 * least once, never lost). dispatcher_spool_save() then writes every pending delivery;
 * dispatcher_spool_load() at the next start resumes them and removes the spool.
 *
 * Metrics (default registry): broker_events_received_total, broker_deliveries_total{trigger,
 * code}, broker_dead_letters_total{trigger}, broker_events_dropped_total{trigger,reason},
 * broker_delivery_duration_seconds{trigger}, broker_queue_depth.
 *
 * Thread safety: dispatcher_ingest() may be called from any thread; the others by the owner.
 */
#ifndef LOCAL_BROKER_DISPATCHER_H
#define LOCAL_BROKER_DISPATCHER_H

#include <stddef.h>

#include "common/buf.h"
#include "topology.h"

struct ce_event;

struct dispatcher_options {
	size_t queue_max;	      /* deliveries tracked at once [10000] */
	int max_ttl;		      /* knativebrokerttl for new events [255] */
	long long timeout_default_ms; /* per attempt when the spec sets none [30000] */
	size_t trigger_inflight;      /* attempts in flight per Trigger [32] */
	const char *ingress_base;     /* "http://127.0.0.1:8084": knativeerrordest of replies */
};

struct dispatcher;

/* Starts the engine (its httpc thread) for topo, which must outlive it. Never NULL. */
struct dispatcher *dispatcher_new(const struct topology *topo,
				  const struct dispatcher_options *opt);
/*
 * Accepts ev (borrowed: copied per Trigger; its knativebrokerttl and knativearrivaltime are
 * updated) into broker b's Triggers. traceparent/tracestate (may be NULL) are passed on.
 * Returns 0, ERR_TTL (loop protection) or ERR_OVERLOADED (queues full; nothing enqueued).
 */
int dispatcher_ingest(struct dispatcher *d, const struct topo_broker *b, struct ce_event *ev,
		      const char *traceparent, const char *tracestate);
/* Deliveries not yet finished. */
size_t dispatcher_depth(struct dispatcher *d);
/* Stops delivering: waits up to grace_ms for attempts in flight, cancels the rest. */
void dispatcher_drain(struct dispatcher *d, long long grace_ms);
/* After dispatcher_drain(): writes every pending delivery to path (removes it when none). */
int dispatcher_spool_save(struct dispatcher *d, const char *path, struct buf *err);
/*
 * Resumes the deliveries spooled at path and removes the file. Returns the number resumed
 * (>= 0), or a negative error with err filled (the file is then left in place).
 */
int dispatcher_spool_load(struct dispatcher *d, const char *path, struct buf *err);
/* Stops (without grace if not drained) and frees every delivery still pending. */
void dispatcher_free(struct dispatcher *d);

#endif
