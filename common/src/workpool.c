/*
 * workpool.c: see workpool.h. One mutex guards the queue, the count and the stopping flag;
 * one condition variable wakes an idle thread for a new job, or all of them for the stop.
 */
#include "common/workpool.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/err.h"
#include "common/locked.h"
#include "common/log.h"
#include "common/xalloc.h"

struct workpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct list_head queue; /* workpool_job.node, oldest first */
	size_t queued, max_queued;
	int stopping;
	unsigned nthreads; /* started */
	pthread_t *threads;
};

static void *worker_main(void *arg)
{
	struct workpool *wp = arg;

	pthread_mutex_lock(&wp->mu);
	for (;;) {
		struct workpool_job *job;

		while (list_empty(&wp->queue) && !wp->stopping)
			pthread_cond_wait(&wp->cv, &wp->mu);
		if (list_empty(&wp->queue))
			break; /* stopping, and nothing left to run */
		job = list_entry(wp->queue.next, struct workpool_job, node);
		list_del(&job->node);
		wp->queued--;
		pthread_mutex_unlock(&wp->mu);
		job->run(job); /* may free job */
		pthread_mutex_lock(&wp->mu);
	}
	pthread_mutex_unlock(&wp->mu);
	return NULL;
}

int workpool_start(const char *name, unsigned nthreads, size_t max_queued, struct workpool **out)
{
	struct workpool *wp = xcalloc(1, sizeof(*wp));

	*out = NULL;
	if (nthreads == 0)
		nthreads = 1;
	pthread_mutex_init(&wp->mu, NULL);
	pthread_cond_init(&wp->cv, NULL);
	list_init(&wp->queue);
	wp->max_queued = max_queued;
	wp->threads = xcalloc(nthreads, sizeof(*wp->threads));
	for (; wp->nthreads < nthreads; wp->nthreads++)
		if (pthread_create(&wp->threads[wp->nthreads], NULL, worker_main, wp) != 0)
			break;
	if (wp->nthreads == 0) {
		log_error("%s: cannot start a worker thread", name);
		workpool_stop(wp);
		return ERR_INTERNAL;
	}
	if (wp->nthreads < nthreads)
		log_warn("%s: started %u of %u worker threads", name, wp->nthreads, nthreads);
	*out = wp;
	return 0;
}

int workpool_submit(struct workpool *wp, struct workpool_job *job)
{
	int rc = 0;

	pthread_mutex_lock(&wp->mu);
	if (wp->stopping)
		rc = ERR_UNAVAILABLE;
	else if (wp->max_queued && wp->queued >= wp->max_queued)
		rc = ERR_OVERLOADED;
	if (rc == 0) {
		list_add_tail(&job->node, &wp->queue);
		wp->queued++;
		pthread_cond_signal(&wp->cv);
	}
	pthread_mutex_unlock(&wp->mu);
	return rc;
}

size_t workpool_queued(struct workpool *wp)
{
	size_t n;

	pthread_mutex_lock(&wp->mu);
	n = wp->queued;
	pthread_mutex_unlock(&wp->mu);
	return n;
}

void workpool_stop(struct workpool *wp)
{
	if (wp == NULL)
		return;
	locked_raise(&wp->mu, &wp->cv, &wp->stopping);
	for (unsigned i = 0; i < wp->nthreads; i++)
		pthread_join(wp->threads[i], NULL);
	pthread_cond_destroy(&wp->cv);
	pthread_mutex_destroy(&wp->mu);
	free(wp->threads);
	free(wp);
}
