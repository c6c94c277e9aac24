/*
 * test_locked.c: locked.h reads the field it is given, and takes and releases the mutex
 * (a held mutex blocks it until released; after it returns the mutex is free again).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "../unit.h"
#include "common/locked.h"

TestSuite(locked, LEAK_FINI);

struct shared {
	pthread_mutex_t mu;
	size_t n;
	atomic_int read_done;
};

static void *reader(void *arg)
{
	struct shared *s = arg;

	cr_expect_eq(locked_size(&s->mu, &s->n), 42);
	atomic_store(&s->read_done, 1);
	return NULL;
}

Test(locked, reads_the_field)
{
	struct shared s = { .n = 7 };

	pthread_mutex_init(&s.mu, NULL);
	cr_expect_eq(locked_size(&s.mu, &s.n), 7);
	cr_expect_eq(pthread_mutex_trylock(&s.mu), 0, "released after the read");
	pthread_mutex_unlock(&s.mu);
	pthread_mutex_destroy(&s.mu);
}

Test(locked, reads_an_int_field)
{
	pthread_mutex_t mu;
	int flag = 1;

	pthread_mutex_init(&mu, NULL);
	cr_expect_eq(locked_int(&mu, &flag), 1);
	flag = 0;
	cr_expect_eq(locked_int(&mu, &flag), 0);
	cr_expect_eq(pthread_mutex_trylock(&mu), 0, "released after the read");
	pthread_mutex_unlock(&mu);
	pthread_mutex_destroy(&mu);
}

/*
 * Polls (10 s at most) until another thread waits for mu, which we hold: glibc marks a mutex
 * with a waiter contended (its lock word 2) before the waiter sleeps. Elsewhere, a 20 ms
 * window for the reader to reach it.
 */
static void wait_contended(pthread_mutex_t *mu)
{
#ifdef __GLIBC__
	for (int i = 0; i < 10000 && __atomic_load_n(&mu->__data.__lock, __ATOMIC_ACQUIRE) != 2;
	     i++)
		usleep(1000);
	cr_assert_eq(__atomic_load_n(&mu->__data.__lock, __ATOMIC_ACQUIRE), 2,
		     "the reader never waited for the mutex");
#else
	(void)mu;
	usleep(20000);
#endif
}

Test(locked, waits_for_the_writer)
{
	struct shared s = { .n = 1 };
	pthread_t th;

	pthread_mutex_init(&s.mu, NULL);
	atomic_init(&s.read_done, 0);
	pthread_mutex_lock(&s.mu);
	pthread_create(&th, NULL, reader, &s);
	wait_contended(&s.mu); /* the reader waits in pthread_mutex_lock() */
	cr_expect_eq(atomic_load(&s.read_done), 0);
	s.n = 42;
	pthread_mutex_unlock(&s.mu);
	pthread_join(th, NULL);
	cr_expect_eq(atomic_load(&s.read_done), 1);
	pthread_mutex_destroy(&s.mu);
}

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;   /* what locked_raise() wakes; nothing else signals it */
	pthread_cond_t seen; /* the waiters' own news: waiting, left */
	int stopping, waiting, left;
};

/* Waits on cv until stopping, as a worker does; says on `seen` when it waits and when it left. */
static void *wait_for_stop(void *arg)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->mu);
	w->waiting++;
	pthread_cond_broadcast(&w->seen);
	while (!w->stopping)
		pthread_cond_wait(&w->cv, &w->mu);
	w->left++;
	pthread_cond_broadcast(&w->seen);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/*
 * locked_raise() sets the flag and wakes every waiter: two threads blocked on cv both end
 * (with a signal for the broadcast, one would stay blocked and `left` stop at 1).
 */
Test(locked, raise_wakes_every_waiter)
{
	struct waiter w = { .stopping = 0, .waiting = 0, .left = 0 };
	pthread_t t[2];

	pthread_mutex_init(&w.mu, NULL);
	cr_assert_eq(clock_cond_init(&w.cv), 0);
	cr_assert_eq(clock_cond_init(&w.seen), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, wait_for_stop, &w), 0);
	unit_wait_count(&w.mu, &w.seen, &w.waiting, 2, 5000); /* both are in pthread_cond_wait */
	locked_raise(&w.mu, &w.cv, &w.stopping);
	unit_wait_count(&w.mu, &w.seen, &w.left, 2, 5000); /* both woke and left */
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_join(t[i], NULL), 0);
	cr_expect_eq(w.stopping, 1);
	pthread_cond_destroy(&w.seen);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
}
