/*
 * unit.h: what every Criterion test file shares.
 *
 * Criterion runs each test in a worker whose exit status it ignores once the test passed, so
 * a LeakSanitizer report at the worker's exit would not fail anything. LEAK_FINI runs the
 * leak check at the end of each test instead and aborts on a leak, which Criterion reports
 * as a crash: use it as TestSuite(name, LEAK_FINI) or Test(suite, name, LEAK_FINI).
 * (tests/run.sh also fails a binary whose output holds a LeakSanitizer report.)
 */
#ifndef TESTS_UNIT_H
#define TESTS_UNIT_H

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/clock.h"

/*
 * Waits until *count reaches n: mu guards the count, and cv (made with clock_cond_init()) is
 * broadcast whenever it changes. Fails the test after ms milliseconds; never sleeps and hopes.
 */
static inline void unit_wait_count(pthread_mutex_t *mu, pthread_cond_t *cv, const int *count, int n,
				   long long ms)
{
	struct timespec ts;
	int got;

	clock_deadline(&ts, ms);
	pthread_mutex_lock(mu);
	while (*count < n && pthread_cond_timedwait(cv, mu, &ts) != ETIMEDOUT)
		;
	got = *count;
	pthread_mutex_unlock(mu);
	cr_assert_geq(got, n, "%d of %d within %lld ms", got, n, ms);
}

/*
 * Reads exactly n bytes from fd into p, polling: fails the test when no byte comes for ms
 * milliseconds, or when the peer closes first.
 */
static inline void unit_read_full(int fd, void *p, size_t n, int ms)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		cr_assert_gt(poll(&pfd, 1, ms), 0, "%zu of %zu bytes within %d ms", got, n, ms);
		r = read(fd, (char *)p + got, n - got);
		cr_assert_gt(r, 0, "%zu of %zu bytes: the peer closed", got, n);
		got += (size_t)r;
	}
}

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
static inline void unit_leak_check(void)
{
	if (__lsan_do_recoverable_leak_check())
		abort();
}
#define LEAK_FINI .fini = unit_leak_check
#else
#define LEAK_FINI .fini = NULL
#endif

#endif
