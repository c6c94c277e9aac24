#include <criterion/criterion.h>
#include <limits.h>
#include <errno.h>
#include <pthread.h>

#include "common/clock.h"

Test(clock, monotonic_units_agree_and_never_go_back)
{
	long long ms = clock_mono_ms(), us = clock_mono_us(), ns = clock_mono_ns();

	cr_assert_geq(us / 1000, ms);
	cr_assert_geq(ns / 1000, us);
	cr_assert_geq(clock_mono_ns(), ns);
}

Test(clock, realtime_is_after_2020)
{
	cr_assert_gt(clock_real_ns(), 1577836800LL * 1000000000LL);
}

Test(clock, deadline_is_ahead_by_the_given_ms)
{
	struct timespec ts;
	long long before = clock_mono_ns(), at;

	clock_deadline(&ts, 1500);
	at = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	cr_assert_geq(at, before + 1500LL * 1000000LL);
	cr_assert_lt(ts.tv_nsec, 1000000000L);
	clock_deadline(&ts, -5);
	at = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	cr_assert_leq(at, clock_mono_ns());
}

/* BROKER_SHUTDOWN_GRACE and the like allow up to LLONG_MAX ms: the latest deadline, not a wrap. */
Test(clock, a_deadline_of_centuries_saturates)
{
	static const long long huge[] = { 9300000000000LL, LLONG_MAX / 1000, LLONG_MAX };
	struct timespec ts;

	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		clock_deadline(&ts, huge[i]);
		cr_assert_geq(ts.tv_nsec, 0, "%lld ms", huge[i]);
		cr_assert_lt(ts.tv_nsec, 1000000000L, "%lld ms", huge[i]);
		cr_assert_gt((long long)ts.tv_sec,
			     clock_mono_ns() / 1000000000LL + 100LL * 365 * 86400,
			     "%lld ms: at least a century ahead", huge[i]);
	}
}

Test(clock, mono_timespec_splits_ms)
{
	struct timespec ts;

	clock_mono_timespec(&ts, 12345);
	cr_assert_eq(ts.tv_sec, 12);
	cr_assert_eq(ts.tv_nsec, 345000000L);
}

Test(clock, cond_times_out_on_the_monotonic_clock)
{
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond;
	struct timespec ts;

	cr_assert_eq(clock_cond_init(&cond), 0);
	clock_deadline(&ts, 20);
	pthread_mutex_lock(&mu);
	cr_assert_eq(pthread_cond_timedwait(&cond, &mu, &ts), ETIMEDOUT);
	pthread_mutex_unlock(&mu);
	pthread_cond_destroy(&cond);
}

Test(clock, realtime_ms_agrees_with_ns)
{
	long long ms = clock_real_ms(), ns = clock_real_ns();

	cr_assert_geq(ns / 1000000, ms);
	cr_assert_gt(ms, 1577836800LL * 1000LL);
}
