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
 * if that fails (503 when the queues are full or the log cannot be written, 400 when the
 * reply's TTL is exhausted, 413 when its body passed ingress's limit, HTTP_DEFAULT_MAX_BODY,
 * which bounds every response the broker reads, or when it could not be delivered within it
 * (delivery_check_size())) the subscriber, which answered 2xx, is never called again: the
 * original event goes to the dead-letter sink at once (dropped without one) with the
 * Broker's ingress URL as knativeerrordest, as EV's reply path does. Difference from
 * Knative: EV retries the reply's send with the Trigger's retry spec before dead-lettering;
 * the broker makes one attempt to store it (its own queues, no network in between).
 *
 * Durability (opt.wal_path set, BROKER_DURABILITY=wal): every accepted delivery is first
 * written to a write-ahead log (common/wal.h), and dispatcher_ingest() returns only once that
 * record is on disk (group commit: one sync serves every ingress request waiting at that
 * moment). Each later step is logged too, without waiting for the disk: a failed attempt with
 * its attempt count and next due time, the switch to the dead-letter phase, and the end
 * (delivered, dead-lettered, dropped). dispatcher_resume() at start-up replays the log, so a
 * restart after SIGKILL resumes every pending delivery at its backoff position. A step whose
 * record was lost in the crash is repeated: delivery is at least once, never lost. The log is
 * compacted (rewritten from the pending deliveries) when it has grown past compact_bytes and
 * past twice what is pending, and once more at a graceful stop.
 * Without wal_path (BROKER_DURABILITY=memory) the queues live only in memory, like Knative's
 * in-memory channel: a stop or a crash loses what is pending.
 *
 * Shutdown: dispatcher_drain() stops starting attempts, waits up to grace_ms for the attempts
 * in flight, then cancels the rest (they will be retried with the same attempt number: at
 * least once, never lost).
 *
 * Metrics (default registry): broker_events_received_total, broker_deliveries_total{trigger,
 * code}, broker_dead_letters_total{trigger}, broker_events_dropped_total{trigger,reason},
 * broker_delivery_duration_seconds{trigger}, broker_queue_depth, broker_queue_bytes,
 * broker_wal_bytes, broker_wal_compactions_total.
 *
 * Thread safety: dispatcher_ingest(), dispatcher_ingest_begin() and dispatcher_commit_async()
 * may be called from any thread; the others by the owner.
 */
#ifndef LOCAL_BROKER_DISPATCHER_H
#define LOCAL_BROKER_DISPATCHER_H

#include <stddef.h>

#include "common/buf.h"
#include "common/eventlog.h"
#include "topology.h"

struct ce_event;

struct dispatcher_options {
	size_t queue_max;	      /* deliveries tracked at once [10000] */
	size_t queue_bytes;	      /* bytes of deliveries tracked at once [64 MiB] */
	const char *wal_path;	      /* the write-ahead log; NULL = memory only */
	enum eventlog_fsync fsync;    /* the log's durability (0 = always) */
	long long compact_bytes;      /* compact the log past this size [16 MiB] */
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
 * Returns 0 once the deliveries are durable (see Durability), ERR_VALIDATION (more than
 * DELIVERY_OWN_EXTENSIONS_MAX extensions of its own: no room for the broker's, delivery.h),
 * ERR_TTL (loop protection), ERR_OVERLOADED (queue_max or queue_bytes reached; nothing
 * enqueued) or ERR_IO (the log cannot be written: the sender must retry).
 */
int dispatcher_ingest(struct dispatcher *d, const struct topo_broker *b, struct ce_event *ev,
		      const char *traceparent, const char *tracestate);
/*
 * dispatcher_ingest() without the wait, for ingress threads that must not block on the disk:
 * the deliveries are queued and their records written, and *seq says what must be durable
 * before the 202 (0: nothing, answer now). Then dispatcher_commit_async(d, seq, fn, arg): the
 * committer thread calls fn(arg, rc) once, after one group sync that covers seq (rc 0) or
 * failed (ERR_IO: answer 500, the sender retries). fn runs on that thread and must not block.
 */
int dispatcher_ingest_begin(struct dispatcher *d, const struct topo_broker *b, struct ce_event *ev,
			    const char *traceparent, const char *tracestate,
			    unsigned long long *seq);
typedef void (*dispatcher_durable_fn)(void *arg, int rc);
void dispatcher_commit_async(struct dispatcher *d, unsigned long long seq, dispatcher_durable_fn fn,
			     void *arg);
/* Deliveries not yet finished. */
size_t dispatcher_depth(struct dispatcher *d);
/* Stops delivering: waits up to grace_ms for attempts in flight, cancels the rest. */
void dispatcher_drain(struct dispatcher *d, long long grace_ms);
/* Bytes of deliveries not yet finished (what queue_bytes bounds). */
size_t dispatcher_bytes(struct dispatcher *d);
/*
 * Opens the write-ahead log (no-op without opt.wal_path): replays it, adds the deliveries of
 * a spool left by an older version at legacy_spool (may be NULL), writes them all as the new
 * log and only then removes the spool, and starts them at their due times. A log with lines
 * that are not log records, or a spool that is not one, is moved aside
 * ("<path>.broken-<time>", never deleted) with a warning, the log's readable records resumed.
 * Returns the number of deliveries resumed (>= 0), or ERR_IO with err filled when the log
 * cannot be read at all (an I/O error; it stays where it is) or the new log cannot be written
 * (the broker must not accept events then). A delivery that cannot be
 * resumed (its Trigger is no longer in the manifests, a bad record) is never dropped
 * silently: a warning names its event and Trigger, and its record ({"op":"put",...} as in the
 * log) is appended to "<path>.orphaned-<time>", synced before the new log replaces the old
 * one (ERR_IO with err filled when it cannot be written: the old log stays).
 */
int dispatcher_resume(struct dispatcher *d, const char *legacy_spool, struct buf *err);
/*
 * After dispatcher_drain(): compacts the log to the deliveries still pending, which the next
 * start resumes. Returns how many there are (memory mode: they are lost, with a warning).
 */
size_t dispatcher_checkpoint(struct dispatcher *d);
/* The readiness check: 0, or -1 with a reason appended (the log failed to sync). */
int dispatcher_check(struct dispatcher *d, struct buf *reason);
/* Stops (without grace if not drained) and frees every delivery still pending. */
void dispatcher_free(struct dispatcher *d);

#endif
