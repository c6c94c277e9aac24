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
