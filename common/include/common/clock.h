/*
 * clock.h: the one place that reads the clocks and builds condition-variable deadlines.
 *
 * Monotonic times (CLOCK_MONOTONIC) measure durations and deadlines; wall-clock times
 * (CLOCK_REALTIME) only stamp records that leave the process (span times, log lines). Every
 * condition variable that waits with a deadline is made with clock_cond_init(), so its
 * deadlines are monotonic too and a wall-clock step cannot stretch or cut a wait.
 */
#ifndef COMMON_CLOCK_H
#define COMMON_CLOCK_H

#include <pthread.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds, microseconds and milliseconds. */
long long clock_mono_ns(void);
long long clock_mono_us(void);
long long clock_mono_ms(void);
/* CLOCK_REALTIME in nanoseconds and milliseconds since the Unix epoch. */
long long clock_real_ns(void);
long long clock_real_ms(void);

/*
 * Sets *ts to CLOCK_MONOTONIC now + ms, for pthread_cond_timedwait(): ms < 0 counts as 0, and
 * a deadline past what the clock can count (an ms of centuries) is the latest one it can.
 */
void clock_deadline(struct timespec *ts, long long ms);
/* The absolute CLOCK_MONOTONIC time mono_ms as a timespec. */
void clock_mono_timespec(struct timespec *ts, long long mono_ms);
/* Initialises a condition variable whose timed waits use CLOCK_MONOTONIC. 0 or an errno. */
int clock_cond_init(pthread_cond_t *cond);

#endif
