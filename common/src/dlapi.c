/*
 * dlapi.c: dlopen and dlsym into a table of function pointers, once per library (see dlapi.h).
 *
 * A symbol's address is copied into its field with memcpy (POSIX guarantees that a function's
 * address from dlsym converts to a function pointer; ISO C has no cast for it). RTLD_LOCAL: the
 * library's symbols do not join the global scope, and dlsym on its handle also searches its
 * dependencies (libcurl's OPENSSL_init_crypto comes from libcrypto).
 */
#include "common/dlapi.h"

#include <assert.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

int dlapi_load(const char *soname, const struct dlapi_sym *syms, size_t nsyms, void *table,
	       size_t size, char *err, size_t errlen)
{
	void *h;

	memset(table, 0, size);
	h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();

		snprintf(err, errlen, "cannot load %s: %s", soname, why ? why : "unknown error");
		return -1;
	}
	for (size_t i = 0; i < nsyms; i++) {
		void *addr = dlsym(h, syms[i].name);

		assert(syms[i].offset + sizeof(addr) <= size);
		if (!addr && !syms[i].optional) {
			snprintf(err, errlen, "%s has no symbol %s", soname, syms[i].name);
			goto fail;
		}
		memcpy((char *)table + syms[i].offset, &addr, sizeof(addr));
	}
	return 0;
fail:
	memset(table, 0, size);
	dlclose(h);
	return -1;
}

int dlapi_load_like(const struct dlapi *d, const char *soname, void *table, char *err,
		    size_t errlen)
{
	return dlapi_load(soname, d->syms, d->nsyms, table, d->size, err, errlen);
}

/* ---- the state machine -------------------------------------------------------------------- */

#define TO(s) (1u << (s))

/* The edges of the diagram in dlapi.h: legal[from] has bit `to` set. */
static const unsigned legal[] = {
	[DLAPI_IDLE] = TO(DLAPI_QUEUED) | TO(DLAPI_LOADING),
	[DLAPI_QUEUED] = TO(DLAPI_LOADING),
	[DLAPI_LOADING] = TO(DLAPI_LOADED) | TO(DLAPI_FAILED),
	[DLAPI_LOADED] = 0,
	[DLAPI_FAILED] = 0,
};

/* The one place d->state changes; d->lock held. Checked in every build: it runs twice. */
static void state_to(struct dlapi *d, enum dlapi_state to)
{
	if (!(legal[d->state] & TO(to))) {
		log_msg(LOG_ERROR, "%s: load state %d cannot become %d", d->soname, (int)d->state,
			(int)to);
		abort();
	}
	d->state = to;
	if (to == DLAPI_LOADED)
		atomic_store_explicit(&d->loaded, 1, memory_order_release);
	pthread_cond_broadcast(&d->changed);
}

/* Moves d from one of the states in `from` (a TO() mask) to `to`: 1, or 0 if d was elsewhere. */
static int move(struct dlapi *d, unsigned from, enum dlapi_state to)
{
	int moved;

	pthread_mutex_lock(&d->lock);
	moved = (from & TO(d->state)) != 0;
	if (moved)
		state_to(d, to);
	pthread_mutex_unlock(&d->lock);
	return moved;
}

/* Runs the load claimed by the caller (d is DLAPI_LOADING), and publishes its outcome. */
static void run(struct dlapi *d)
{
	char err[512];
	int rc = dlapi_load(d->soname, d->syms, d->nsyms, d->table, d->size, err, sizeof(err));

	if (rc != 0)
		log_msg(LOG_ERROR, "%s not available: %s", d->soname, err);
	pthread_mutex_lock(&d->lock);
	state_to(d, rc == 0 ? DLAPI_LOADED : DLAPI_FAILED);
	pthread_mutex_unlock(&d->lock);
}

static void *load_main(void *arg)
{
	run(arg);
	return NULL;
}

/* Claims a queued d and loads it on a detached thread (here, if no thread can be made). */
static void start(struct dlapi *d)
{
	pthread_attr_t attr;
	pthread_t thread;
	int started = 0;

	if (!move(d, TO(DLAPI_QUEUED), DLAPI_LOADING))
		return; /* a dlapi_get() got there first */
	if (pthread_attr_init(&attr) == 0) {
		if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0)
			started = pthread_create(&thread, &attr, load_main, d) == 0;
		pthread_attr_destroy(&attr);
	}
	if (!started)
		run(d);
}

/* ---- the queue of loads waiting for dlapi_start_preloads() -------------------------------- */

#define QUEUE_MAX 8 /* distinct libraries a process preloads (libcurl, libpq) */

static struct {
	pthread_mutex_t lock;
	struct dlapi *queued[QUEUE_MAX];
	size_t n;
	int started; /* dlapi_start_preloads() ran: preloads start at once */
} queue = { .lock = PTHREAD_MUTEX_INITIALIZER };

void dlapi_preload(struct dlapi *d)
{
	int now;

	pthread_mutex_lock(&queue.lock);
	if (!move(d, TO(DLAPI_IDLE), DLAPI_QUEUED)) {
		pthread_mutex_unlock(&queue.lock);
		return; /* asked for already */
	}
	now = queue.started || queue.n == QUEUE_MAX;
	if (!now)
		queue.queued[queue.n++] = d;
	pthread_mutex_unlock(&queue.lock);
	if (now)
		start(d);
}

void dlapi_start_preloads(void)
{
	struct dlapi *batch[QUEUE_MAX];
	size_t n;

	pthread_mutex_lock(&queue.lock);
	queue.started = 1;
	n = queue.n;
	for (size_t i = 0; i < n; i++)
		batch[i] = queue.queued[i];
	queue.n = 0;
	pthread_mutex_unlock(&queue.lock);
	for (size_t i = 0; i < n; i++)
		start(batch[i]);
}

const void *dlapi_get(struct dlapi *d)
{
	enum dlapi_state st;

	if (atomic_load_explicit(&d->loaded, memory_order_acquire))
		return d->table;
	if (move(d, TO(DLAPI_IDLE) | TO(DLAPI_QUEUED), DLAPI_LOADING))
		run(d);
	pthread_mutex_lock(&d->lock);
	while (d->state == DLAPI_LOADING)
		pthread_cond_wait(&d->changed, &d->lock);
	st = d->state;
	pthread_mutex_unlock(&d->lock);
	return st == DLAPI_LOADED ? d->table : NULL;
}
