/*
 * locked.h: one field read under its mutex, for the getters that report a counter or a flag kept
 * under a lock (dedupe_waiting(), dispatcher_depth(), store_migrated(), ...), so each is one line.
 * The value may change as soon as the mutex is released: use it for reports and decisions that
 * tolerate that, never to skip taking the lock for an update. And one flag raised under its
 * mutex with a wake-up, the stop signal of a thread that waits on a condition variable.
 */
#ifndef COMMON_LOCKED_H
#define COMMON_LOCKED_H

#include <pthread.h>
#include <stddef.h>
#include <string.h>

/* Copies the n bytes at src to dst with mu held. */
static inline void locked_copy(pthread_mutex_t *mu, void *dst, const void *src, size_t n)
{
	pthread_mutex_lock(mu);
	memcpy(dst, src, n);
	pthread_mutex_unlock(mu);
}

/* *v, read with mu held. */
static inline size_t locked_size(pthread_mutex_t *mu, const size_t *v)
{
	size_t n;

	locked_copy(mu, &n, v, sizeof(n));
	return n;
}

/* *v, read with mu held. */
static inline int locked_int(pthread_mutex_t *mu, const int *v)
{
	int n;

	locked_copy(mu, &n, v, sizeof(n));
	return n;
}

/*
 * Sets *flag to 1 with mu held and wakes every thread waiting on cv: how a thread that waits on
 * cv for work (a worker, the migrator, the /readyz pinger) is told to stop. The caller joins it.
 */
static inline void locked_raise(pthread_mutex_t *mu, pthread_cond_t *cv, int *flag)
{
	pthread_mutex_lock(mu);
	*flag = 1;
	pthread_cond_broadcast(cv);
	pthread_mutex_unlock(mu);
}

#endif
