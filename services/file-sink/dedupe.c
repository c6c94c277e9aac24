/*
 * dedupe.c: the saved-keys set (see dedupe.h). A chained hash table of entries plus a ring of
 * the saved entries in commit order (the ring's head is the next one to evict), under one
 * mutex; a condition variable wakes deliveries waiting on a pending key.
 */
#include "dedupe.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "common/err.h"
#include "common/rand.h"
#include "common/xalloc.h"

struct entry {
	struct entry *next; /* hash chain */
	uint64_t hash;
	bool saved; /* false: pending (claimed by a delivery in flight) */
	size_t slen, ilen;
	char key[]; /* source, NUL, id, NUL */
};

struct dedupe {
	pthread_mutex_t mu;
	pthread_cond_t changed; /* a pending key was committed or aborted */
	struct entry **buckets;
	size_t mask;	     /* buckets - 1 (a power of two minus one) */
	struct entry **ring; /* saved entries, oldest at head */
	size_t capacity, head, nsaved;
	uint64_t seed;
};

struct key {
	const char *source, *id;
	size_t slen, ilen;
	uint64_t hash;
};

/* FNV-1a over the bytes, continuing from h. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static struct key key_make(const struct dedupe *d, const char *source, const char *id)
{
	struct key k = { source, id, strlen(source), strlen(id), 0 };
	uint64_t h = 0xcbf29ce484222325ULL ^ d->seed;

	/* Lengths first, so ("ab","c") and ("a","bc") differ before the bytes are mixed. */
	h = fnv1a(h, &k.slen, sizeof(k.slen));
	h = fnv1a(h, source, k.slen);
	h = fnv1a(h, &k.ilen, sizeof(k.ilen));
	h = fnv1a(h, id, k.ilen);
	/* splitmix64's finalizer spreads the bits over the low ones the mask keeps. */
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	k.hash = h ^ (h >> 31);
	return k;
}

/* The link that points at the key's entry, or at the NULL ending its chain. */
static struct entry **find(struct dedupe *d, const struct key *k)
{
	struct entry **link = &d->buckets[k->hash & d->mask];

	for (; *link; link = &(*link)->next) {
		const struct entry *e = *link;

		if (e->hash == k->hash && e->slen == k->slen && e->ilen == k->ilen &&
		    memcmp(e->key, k->source, k->slen) == 0 &&
		    memcmp(e->key + k->slen + 1, k->id, k->ilen) == 0)
			return link;
	}
	return link;
}

/* Appends a new entry for k at *link (the end of its chain). */
static struct entry *insert(struct entry **link, const struct key *k, bool saved)
{
	struct entry *e = xmalloc(sizeof(*e) + k->slen + k->ilen + 2);

	e->next = NULL;
	e->hash = k->hash;
	e->saved = saved;
	e->slen = k->slen;
	e->ilen = k->ilen;
	memcpy(e->key, k->source, k->slen + 1);
	memcpy(e->key + k->slen + 1, k->id, k->ilen + 1);
	*link = e;
	return e;
}

/* Unlinks and frees the entry at *link. */
static void erase(struct entry **link)
{
	struct entry *e = *link;

	*link = e->next;
	free(e);
}

/* Records e (already marked saved) as the newest saved entry, evicting the oldest if full. */
static void ring_push(struct dedupe *d, struct entry *e)
{
	if (d->nsaved == d->capacity) {
		struct entry *old = d->ring[d->head];
		struct entry **link = &d->buckets[old->hash & d->mask];

		while (*link && *link != old)
			link = &(*link)->next;
		if (*link) /* always: a saved entry stays in the table until evicted */
			erase(link);
		d->head = (d->head + 1) % d->capacity;
		d->nsaved--;
	}
	d->ring[(d->head + d->nsaved) % d->capacity] = e;
	d->nsaved++;
}

struct dedupe *dedupe_new(size_t capacity)
{
	struct dedupe *d = xcalloc(1, sizeof(*d));
	size_t n = 16;

	if (capacity == 0)
		capacity = 1;
	while (n < capacity)
		n *= 2;
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->changed, NULL);
	d->buckets = xcalloc(n, sizeof(void *)); /* struct entry * */
	d->mask = n - 1;
	d->ring = xcalloc(capacity, sizeof(void *)); /* struct entry * */
	d->capacity = capacity;
	if (rand_bytes(&d->seed, sizeof(d->seed)) != 0)
		d->seed = (uint64_t)(uintptr_t)d; /* no getrandom(2): still a per-process value */
	return d;
}

void dedupe_free(struct dedupe *d)
{
	if (!d)
		return;
	for (size_t i = 0; i <= d->mask; i++) {
		while (d->buckets[i])
			erase(&d->buckets[i]);
	}
	free(d->buckets);
	free(d->ring);
	pthread_cond_destroy(&d->changed);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

enum dedupe_state dedupe_begin(struct dedupe *d, const char *source, const char *id)
{
	struct key k = key_make(d, source, id);
	enum dedupe_state st;
	struct entry **link;

	pthread_mutex_lock(&d->mu);
	for (;;) {
		link = find(d, &k);
		if (!*link) {
			insert(link, &k, false);
			st = DEDUPE_NEW;
			break;
		}
		if ((*link)->saved) {
			st = DEDUPE_SAVED;
			break;
		}
		pthread_cond_wait(&d->changed, &d->mu);
	}
	pthread_mutex_unlock(&d->mu);
	return st;
}

/* Marks the key saved, creating its entry when there is none (dedupe_add, a stray commit). */
static void mark_saved(struct dedupe *d, const struct key *k)
{
	struct entry **link = find(d, k);
	struct entry *e = *link;

	if (e && e->saved)
		return;
	if (!e)
		e = insert(link, k, true);
	e->saved = true;
	ring_push(d, e);
}

void dedupe_commit(struct dedupe *d, const char *source, const char *id)
{
	struct key k = key_make(d, source, id);

	pthread_mutex_lock(&d->mu);
	mark_saved(d, &k);
	pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->mu);
}

void dedupe_abort(struct dedupe *d, const char *source, const char *id)
{
	struct key k = key_make(d, source, id);
	struct entry **link;

	pthread_mutex_lock(&d->mu);
	link = find(d, &k);
	if (*link && !(*link)->saved)
		erase(link);
	pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->mu);
}

void dedupe_add(struct dedupe *d, const char *source, const char *id)
{
	struct key k = key_make(d, source, id);

	pthread_mutex_lock(&d->mu);
	mark_saved(d, &k);
	pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->mu);
}

size_t dedupe_count(struct dedupe *d)
{
	size_t n;

	pthread_mutex_lock(&d->mu);
	n = d->nsaved;
	pthread_mutex_unlock(&d->mu);
	return n;
}

/* Adds the key of one events.log line if it is a whole "saved" line. Returns 1 if so. */
static int load_line(struct dedupe *d, const char *line, size_t len)
{
	json_t *rec, *ev;
	const char *outcome, *source, *id;
	int added = 0;

	if (len == 0 || line[len - 1] != '\n' || !strstr(line, "\"saved\""))
		return 0; /* torn (no newline yet) or not a saved line: cheap checks first */
	rec = json_loadb(line, len - 1, 0, NULL);
	ev = json_object_get(rec, "event");
	outcome = json_string_value(json_object_get(rec, "outcome"));
	source = json_string_value(json_object_get(ev, "source"));
	id = json_string_value(json_object_get(ev, "id"));
	if (outcome && strcmp(outcome, "saved") == 0 && source && id) {
		dedupe_add(d, source, id);
		added = 1;
	}
	json_decref(rec);
	return added;
}

int dedupe_load(struct dedupe *d, const char *path, size_t *loaded)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	struct stat st;
	ssize_t n;
	int rc = 0;

	*loaded = 0;
	if (!f)
		return errno == ENOENT ? 0 : ERR_IO;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		(void)fclose(
		    f); /* a device or a FIFO (tests put /dev/full there): nothing to read */
		return 0;
	}
	while ((n = getline(&line, &cap, f)) > 0)
		*loaded += (size_t)load_line(d, line, (size_t)n);
	if (ferror(f))
		rc = ERR_IO;
	free(line);
	(void)fclose(f);
	return rc;
}
