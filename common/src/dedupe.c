/*
 * dedupe.c: the saved-keys set (see dedupe.h). A chained hash table of 128-bit digests plus a
 * ring of the saved entries in commit order (the ring's head is the next one to evict), under
 * one mutex; a condition variable wakes deliveries waiting on a pending key.
 */
#include "common/dedupe.h"

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
#include "common/locked.h"
#include "common/rand.h"
#include "common/siphash.h"
#include "common/xalloc.h"

struct entry {
	struct entry *next; /* hash chain */
	uint64_t digest[2]; /* of (source, id): the whole key */
	bool saved;	    /* false: pending (claimed by a delivery in flight) */
};

struct dedupe {
	pthread_mutex_t mu;
	pthread_cond_t changed; /* a pending key was committed or aborted */
	struct entry **buckets;
	size_t mask;	     /* buckets - 1 (a power of two minus one) */
	struct entry **ring; /* saved entries, oldest at head */
	size_t capacity, head, nsaved;
	size_t waiting; /* deliveries blocked in dedupe_begin() */
	unsigned char key[SIPHASH_KEY_BYTES];
};

/* Feeds the 8-byte little-endian length of s, then s. */
static void update_part(struct siphash *h, const char *s)
{
	uint64_t n = strlen(s);
	unsigned char len[8];

	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)(n >> (8 * i));
	siphash_update(h, len, sizeof(len));
	siphash_update(h, s, (size_t)n);
}

/* The digest of (source, id, scope): SipHash-128 of the length-prefixed source and id, then scope. */
static void key_digest(const struct dedupe *d, const char *source, const char *id,
		       const char *scope, uint64_t out[2])
{
	struct siphash h;

	siphash_init(&h, d->key);
	update_part(&h, source);
	update_part(&h, id);
	if (scope)
		siphash_update(&h, scope, strlen(scope));
	siphash_final(&h, out);
}

static struct entry **bucket_of(struct dedupe *d, const uint64_t digest[2])
{
	return &d->buckets[digest[0] & d->mask];
}

/* The link that points at the digest's entry, or at the NULL ending its chain. */
static struct entry **find(struct dedupe *d, const uint64_t digest[2])
{
	struct entry **link = bucket_of(d, digest);

	for (; *link; link = &(*link)->next) {
		if ((*link)->digest[0] == digest[0] && (*link)->digest[1] == digest[1])
			return link;
	}
	return link;
}

/* Appends a new entry for digest at *link (the end of its chain). */
static struct entry *insert(struct entry **link, const uint64_t digest[2], bool saved)
{
	struct entry *e = xmalloc(sizeof(*e));

	e->next = NULL;
	e->digest[0] = digest[0];
	e->digest[1] = digest[1];
	e->saved = saved;
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
		struct entry **link = bucket_of(d, old->digest);

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
	if (rand_bytes(d->key, sizeof(d->key)) != 0) {
		uintptr_t p = (uintptr_t)d; /* no getrandom(2): still a per-process value */

		memcpy(d->key, &p, sizeof(p));
	}
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

enum dedupe_state dedupe_begin(struct dedupe *d, const char *source, const char *id,
			       const char *scope)
{
	enum dedupe_state st;
	struct entry **link;
	uint64_t k[2];

	key_digest(d, source, id, scope, k);
	pthread_mutex_lock(&d->mu);
	for (;;) {
		link = find(d, k);
		if (!*link) {
			insert(link, k, false);
			st = DEDUPE_NEW;
			break;
		}
		if ((*link)->saved) {
			st = DEDUPE_SAVED;
			break;
		}
		d->waiting++;
		pthread_cond_wait(&d->changed, &d->mu);
		d->waiting--;
	}
	pthread_mutex_unlock(&d->mu);
	return st;
}

/* Marks the key saved, creating its entry when there is none (dedupe_add, a stray commit). */
static void mark_saved(struct dedupe *d, const uint64_t k[2])
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

void dedupe_commit(struct dedupe *d, const char *source, const char *id, const char *scope)
{
	uint64_t k[2];

	key_digest(d, source, id, scope, k);
	pthread_mutex_lock(&d->mu);
	mark_saved(d, k);
	pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->mu);
}

void dedupe_abort(struct dedupe *d, const char *source, const char *id, const char *scope)
{
	struct entry **link;
	uint64_t k[2];

	key_digest(d, source, id, scope, k);
	pthread_mutex_lock(&d->mu);
	link = find(d, k);
	if (*link && !(*link)->saved)
		erase(link);
	pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->mu);
}

void dedupe_add(struct dedupe *d, const char *source, const char *id, const char *scope)
{
	dedupe_commit(d, source, id, scope);
}

size_t dedupe_waiting(struct dedupe *d)
{
	return locked_size(&d->mu, &d->waiting);
}

size_t dedupe_count(struct dedupe *d)
{
	return locked_size(&d->mu, &d->nsaved);
}

/* Adds the key of one whole events.log line, if it holds one. Returns 1 if so. */
static int load_line(struct dedupe *d, const char *line, size_t len, dedupe_key_fn key_of)
{
	const char *source = NULL, *id = NULL, *scope = NULL;
	json_t *rec;
	int added = 0;

	if (len == 0 || line[len - 1] != '\n')
		return 0; /* torn: no newline yet */
	rec = json_loadb(line, len - 1, JSON_ALLOW_NUL, NULL);
	if (rec && key_of(rec, &source, &id, &scope) && source && id) {
		dedupe_add(d, source, id, scope);
		added = 1;
	}
	json_decref(rec);
	return added;
}

int dedupe_load(struct dedupe *d, const char *path, dedupe_key_fn key_of, size_t *loaded)
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
		*loaded += (size_t)load_line(d, line, (size_t)n, key_of);
	if (ferror(f))
		rc = ERR_IO;
	free(line);
	(void)fclose(f);
	return rc;
}
