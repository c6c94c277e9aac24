/* attempts.c: delivery attempts per event, in a fixed direct-mapped table (attempts.h). */
#include "attempts.h"

#include <stdlib.h>

#include "common/xalloc.h"

void attempts_init(struct attempts *a)
{
	pthread_mutex_init(&a->lock, NULL);
	a->slots = xcalloc(ATTEMPTS_SLOTS, sizeof(*a->slots));
}

void attempts_release(struct attempts *a)
{
	free(a->slots);
	a->slots = NULL;
	pthread_mutex_destroy(&a->lock);
}

/* FNV-1a over source, a NUL, and id; never 0 (the empty slot). */
static uint64_t key_of(const char *source, const char *id)
{
	uint64_t h = 14695981039346656037ULL;
	const char *p;

	for (p = source; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h *= 1099511628211ULL;
	for (p = id; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h ? h : 1;
}

uint64_t attempts_next(struct attempts *a, const char *source, const char *id)
{
	uint64_t key = key_of(source, id), n;
	struct attempts_slot *s = &a->slots[key % ATTEMPTS_SLOTS];

	pthread_mutex_lock(&a->lock);
	if (s->key != key) {
		s->key = key;
		s->count = 0;
	}
	n = ++s->count;
	pthread_mutex_unlock(&a->lock);
	return n;
}
