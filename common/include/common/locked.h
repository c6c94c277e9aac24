/*
 * locked.h: one field read under its mutex, for the getters that report a counter kept under a
 * lock (dedupe_waiting(), dispatcher_depth(), ...), so each is one line.
 * The value may change as soon as the mutex is released: use it for reports and decisions that
 * tolerate that, never to skip taking the lock for an update.
 */
#ifndef COMMON_LOCKED_H
#define COMMON_LOCKED_H

#include <pthread.h>
#include <stddef.h>

/* *v, read with mu held. */
static inline size_t locked_size(pthread_mutex_t *mu, const size_t *v)
{
	size_t n;

	pthread_mutex_lock(mu);
	n = *v;
	pthread_mutex_unlock(mu);
	return n;
}

#endif
