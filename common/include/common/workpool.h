/*
 * workpool.h: a fixed set of threads that run queued jobs, oldest first (libuv's
 * uv_queue_work, nginx's thread pools): work that blocks (a database call) runs there, so
 * the threads that must stay responsive (libmicrohttpd's, which answer the probes) never
 * wait on it.
 *
 * A job is intrusive: the caller embeds a struct workpool_job in its own object, sets run,
 * and finds the object back with list_entry(job, type, member) in run. The pool never allocates per job,
 * so workpool_submit() cannot fail for want of memory; it fails only when the queue holds
 * max_queued jobs already (ERR_OVERLOADED) or the pool is stopping (ERR_UNAVAILABLE).
 *
 * Ownership: the caller owns the job's memory and must keep it alive until run has been
 * called (run may free it). Every submitted job runs exactly once, also when the pool
 * stops: workpool_stop() lets the threads run what is queued, then joins them. Thread-safe.
 */
#ifndef COMMON_WORKPOOL_H
#define COMMON_WORKPOOL_H

#include <stddef.h>

#include "common/list.h"

struct workpool;

struct workpool_job {
	struct list_head node; /* the pool's, while queued */
	void (*run)(struct workpool_job *job);
};

/*
 * Starts nthreads threads (at least 1) and a queue of at most max_queued waiting jobs (0 =
 * no bound). Returns 0 and *out, or ERR_INTERNAL (no thread could be started; logged).
 */
int workpool_start(const char *name, unsigned nthreads, size_t max_queued, struct workpool **out);
/* Queues job for a pool thread. Returns 0, ERR_OVERLOADED (queue full) or ERR_UNAVAILABLE. */
int workpool_submit(struct workpool *wp, struct workpool_job *job);
/* The jobs waiting for a thread now (not those running). */
size_t workpool_queued(struct workpool *wp);
/* Refuses new jobs, runs those queued, waits for the threads and frees the pool. NULL: no-op. */
void workpool_stop(struct workpool *wp);

#endif
