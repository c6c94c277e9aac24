/*
 * migrator.c: the start-up migration retry loop (see migrator.h).
 */
#include "migrator.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common/log.h"
#include "common/clock.h"
#include "common/locked.h"
#include "common/xalloc.h"

#define RETRY_MIN_MS 250
#define RETRY_MAX_MS 5000

struct migrator {
	struct store *store;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stopping;
};

/* Waits ms unless stopping; returns whether the migrator is stopping. */
static int pause_ms(struct migrator *m, long long ms)
{
	struct timespec ts;
	int stopping;

	clock_deadline(&ts, ms);
	pthread_mutex_lock(&m->mu);
	while (!m->stopping && pthread_cond_timedwait(&m->cv, &m->mu, &ts) != ETIMEDOUT)
		;
	stopping = m->stopping;
	pthread_mutex_unlock(&m->mu);
	return stopping;
}

static void *migrator_main(void *arg)
{
	struct migrator *m = arg;
	long long wait = RETRY_MIN_MS;
	struct buf msg;

	buf_init(&msg, 4096);
	for (int attempt = 1;; attempt++) {
		buf_reset(&msg);
		if (store_migrate(m->store, &msg) == 0)
			break;
		log_warn("schema: attempt %d failed (%s), retrying in %lld ms", attempt, msg.data,
			 wait);
		if (pause_ms(m, wait))
			break;
		wait = wait * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : wait * 2;
	}
	buf_release(&msg);
	return NULL;
}

struct migrator *migrator_start(struct store *store)
{
	struct migrator *m = xcalloc(1, sizeof(*m));

	m->store = store;
	pthread_mutex_init(&m->mu, NULL);
	(void)clock_cond_init(&m->cv);
	if (pthread_create(&m->thread, NULL, migrator_main, m) != 0) {
		log_error("schema: cannot start the migration thread");
		abort();
	}
	return m;
}

void migrator_stop(struct migrator *m)
{
	if (!m)
		return;
	locked_raise(&m->mu, &m->cv, &m->stopping);
	pthread_join(m->thread, NULL);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m);
}
