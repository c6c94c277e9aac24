/* clock.c: see clock.h. */
#include "common/clock.h"

#include <limits.h>

static long long read_ns(clockid_t id)
{
	struct timespec ts;

	(void)clock_gettime(id, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long long clock_mono_ns(void)
{
	return read_ns(CLOCK_MONOTONIC);
}

long long clock_mono_us(void)
{
	return read_ns(CLOCK_MONOTONIC) / 1000;
}

long long clock_mono_ms(void)
{
	return read_ns(CLOCK_MONOTONIC) / 1000000;
}

long long clock_real_ns(void)
{
	return read_ns(CLOCK_REALTIME);
}

long long clock_real_ms(void)
{
	return read_ns(CLOCK_REALTIME) / 1000000;
}

void clock_mono_timespec(struct timespec *ts, long long mono_ms)
{
	if (mono_ms < 0)
		mono_ms = 0;
	ts->tv_sec = (time_t)(mono_ms / 1000);
	ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
}

void clock_deadline(struct timespec *ts, long long ms)
{
	long long now = read_ns(CLOCK_MONOTONIC);
	long long most = (LLONG_MAX - now) / 1000000LL; /* past it, ns would overflow */
	long long ns = now + (ms < 0 ? 0 : ms > most ? most : ms) * 1000000LL;

	ts->tv_sec = (time_t)(ns / 1000000000LL);
	ts->tv_nsec = (long)(ns % 1000000000LL);
}

int clock_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t ca;
	int rc = pthread_condattr_init(&ca);

	if (rc)
		return rc;
	rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!rc)
		rc = pthread_cond_init(cond, &ca);
	pthread_condattr_destroy(&ca);
	return rc;
}
