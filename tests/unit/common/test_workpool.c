/*
 * Tests for the worker pool (workpool.h): every job runs once, in order on one thread, the
 * queue bound refuses with ERR_OVERLOADED, and the stop runs what is queued before it joins.
 * Waits are condition variables with deadlines; nothing sleeps and hopes.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/workpool.h"
#include "../unit.h"

#define DEADLINE_MS 10000

struct job {
	struct workpool_job w;
	int id;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int gate_open, started;
	int order[64];
	int n;
} s;

/* Records its id; the job with id 0 first waits until the test opens the gate. */
static void run(struct workpool_job *w)
{
	struct job *j = list_entry(w, struct job, w);

	pthread_mutex_lock(&s.mu);
	s.started++;
	pthread_cond_broadcast(&s.cv);
	while (j->id == 0 && !s.gate_open)
		pthread_cond_wait(&s.cv, &s.mu);
	s.order[s.n++] = j->id;
	pthread_cond_broadcast(&s.cv);
	pthread_mutex_unlock(&s.mu);
}

static void wait_for(int *what, int n)
{
	unit_wait_count(&s.mu, &s.cv, what, n, DEADLINE_MS);
}

static void open_gate(void)
{
	pthread_mutex_lock(&s.mu);
	s.gate_open = 1;
	pthread_cond_broadcast(&s.cv);
	pthread_mutex_unlock(&s.mu);
}

static void reset(void)
{
	pthread_mutex_init(&s.mu, NULL);
	cr_assert_eq(clock_cond_init(&s.cv), 0);
	s.gate_open = s.started = s.n = 0;
}

static void *stopper(void *wp)
{
	workpool_stop(wp);
	return NULL;
}

TestSuite(workpool, .init = reset, .timeout = 30);

Test(workpool, one_thread_runs_every_job_once_oldest_first)
{
	struct workpool *wp;
	struct job jobs[8];

	cr_assert_eq(workpool_start("test", 1, 0, &wp), 0);
	for (int i = 0; i < 8; i++) {
		jobs[i] = (struct job){ .w.run = run, .id = i };
		cr_assert_eq(workpool_submit(wp, &jobs[i].w), 0);
	}
	wait_for(&s.started, 1);
	cr_assert_eq(workpool_queued(wp), 7, "one runs (held at the gate), seven wait");
	open_gate();
	wait_for(&s.n, 8);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(s.order[i], i);
	workpool_stop(wp);
}

Test(workpool, a_full_queue_refuses_and_the_stop_runs_what_waits)
{
	struct workpool *wp;
	struct job held = { .w.run = run, .id = 0 }, a = { .w.run = run, .id = 1 },
		   c = { .w.run = run, .id = 2 };
	pthread_t th;

	cr_assert_eq(workpool_start("test", 1, 1, &wp), 0);
	cr_assert_eq(workpool_submit(wp, &held.w), 0);
	wait_for(&s.started, 1); /* running, so no longer queued */
	cr_assert_eq(workpool_submit(wp, &a.w), 0);
	cr_assert_eq(workpool_submit(wp, &c.w), ERR_OVERLOADED);
	/* The stop waits for the held job, then runs the queued one before it returns. */
	cr_assert_eq(pthread_create(&th, NULL, stopper, wp), 0);
	open_gate();
	pthread_join(th, NULL);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.order[0], 0);
	cr_assert_eq(s.order[1], 1);
}

Test(workpool, many_threads_run_jobs_side_by_side)
{
	struct workpool *wp;
	struct job held = { .w.run = run, .id = 0 }, more[4];

	cr_assert_eq(workpool_start("test", 2, 0, &wp), 0);
	cr_assert_eq(workpool_submit(wp, &held.w), 0);
	wait_for(&s.started, 1);
	for (int i = 0; i < 4; i++) {
		more[i] = (struct job){ .w.run = run, .id = i + 1 };
		cr_assert_eq(workpool_submit(wp, &more[i].w), 0);
	}
	wait_for(&s.n, 4); /* the second thread ran them while the first is held */
	cr_assert_eq(s.started, 5);
	open_gate();
	workpool_stop(wp);
	cr_assert_eq(s.n, 5);
	cr_assert_eq(s.order[4], 0);
}
