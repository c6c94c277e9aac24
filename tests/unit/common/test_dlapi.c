/*
 * common/dlapi.c on a real library (libm.so.6): the loader, its state machine, and the one
 * load shared by every caller.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "common/dlapi.h"
#include "common/xalloc.h"

struct m_api {
	double (*cos)(double);
	double (*sqrt)(double);
	void (*absent)(void); /* optional: libm has no such symbol */
};

static const struct dlapi_sym m_syms[] = {
	DLAPI_SYM(struct m_api, cos, "cos"),
	DLAPI_SYM(struct m_api, sqrt, "sqrt"),
	{ "bookstore_no_such_symbol", offsetof(struct m_api, absent), 1 },
};

#define NSYMS (ARRAY_SIZE(m_syms))

Test(dlapi, load_fills_required_entries_and_leaves_a_missing_optional_one_null)
{
	struct m_api api;
	char err[128] = "";

	memset(&api, 0xa5, sizeof(api));
	cr_assert_eq(dlapi_load("libm.so.6", m_syms, NSYMS, &api, sizeof(api), err, sizeof(err)), 0,
		     "err: %s", err);
	cr_assert_not_null(api.cos);
	cr_assert_null(api.absent);
	cr_assert_float_eq(api.sqrt(16.0), 4.0, 1e-12);
	cr_assert_float_eq(api.cos(0.0), 1.0, 1e-12);
}

Test(dlapi, a_missing_required_symbol_fails_with_its_name_and_zeroes_the_table)
{
	static const struct dlapi_sym syms[] = {
		DLAPI_SYM(struct m_api, cos, "cos"),
		DLAPI_SYM(struct m_api, sqrt, "bookstore_no_such_symbol"),
	};
	struct m_api api;
	char err[128];

	memset(&api, 0xa5, sizeof(api));
	cr_assert_eq(dlapi_load("libm.so.6", syms, 2, &api, sizeof(api), err, sizeof(err)), -1);
	cr_assert(strstr(err, "libm.so.6 has no symbol bookstore_no_such_symbol"), "err: %s", err);
	cr_assert_null(api.cos, "the table is zeroed on failure");
}

static struct m_api shared_table;
static struct dlapi shared = DLAPI_INIT("libm.so.6", m_syms, NSYMS, &shared_table);

static void *get_main(void *arg)
{
	(void)arg;
	return (void *)(uintptr_t)dlapi_get(&shared);
}

Test(dlapi, preload_then_concurrent_gets_all_see_one_loaded_table)
{
	pthread_t t[8];

	cr_assert_eq(shared.state, DLAPI_IDLE);
	dlapi_preload(&shared);
	dlapi_preload(&shared); /* a second preload neither loads again nor breaks the state */
	cr_assert_eq(shared.state, DLAPI_QUEUED, "no server started: the load waits in the queue");
	for (int i = 0; i < 8; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, get_main, NULL), 0);
	for (int i = 0; i < 8; i++) {
		void *got;

		pthread_join(t[i], &got);
		cr_assert_eq(got, (void *)&shared_table, "thread %d", i);
	}
	cr_assert_eq(shared.state, DLAPI_LOADED);
	cr_assert_float_eq(shared_table.sqrt(9.0), 3.0, 1e-12);
}

static enum dlapi_state state_of(struct dlapi *d)
{
	enum dlapi_state st;

	pthread_mutex_lock(&d->lock);
	st = d->state;
	pthread_mutex_unlock(&d->lock);
	return st;
}

/* Polls d's state until it is `want`, for at most 10 s. */
static int reaches(struct dlapi *d, enum dlapi_state want)
{
	for (int i = 0; i < 10000; i++) {
		if (state_of(d) == want)
			return 1;
		usleep(1000);
	}
	return 0;
}

static struct m_api late_table;
static struct dlapi late = DLAPI_INIT("libm.so.6", m_syms, NSYMS, &late_table);

Test(dlapi, start_preloads_loads_the_queue_in_the_background_and_later_preloads_at_once)
{
	dlapi_preload(&shared);
	cr_assert_eq(state_of(&shared), DLAPI_QUEUED);
	dlapi_start_preloads(); /* what http_server_start() does once its threads exist */
	cr_assert(reaches(&shared, DLAPI_LOADED), "state %d", (int)state_of(&shared));
	cr_assert_float_eq(shared_table.sqrt(4.0), 2.0, 1e-12);
	dlapi_preload(&late); /* after the start: no queue, no dlapi_get() needed */
	cr_assert(reaches(&late, DLAPI_LOADED), "state %d", (int)state_of(&late));
	cr_assert_eq(dlapi_get(&late), (const void *)&late_table);
}

static struct m_api missing_table;
static struct dlapi missing =
    DLAPI_INIT("libbookstore-no-such-lib.so.9", m_syms, NSYMS, &missing_table);

Test(dlapi, a_failed_load_answers_null_every_time_and_is_not_retried)
{
	cr_assert_null(dlapi_get(&missing));
	cr_assert_eq(missing.state, DLAPI_FAILED);
	dlapi_preload(&missing); /* FAILED is final: no thread, no second attempt */
	cr_assert_null(dlapi_get(&missing));
	cr_assert_eq(missing.state, DLAPI_FAILED);
}
