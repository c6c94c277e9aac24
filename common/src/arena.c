/*
 * arena.c: the bump allocator of arena.h.
 */
#include "common/arena.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	max_align_t data[];
};

struct arena_defer {
	struct arena_defer *next;
	void (*fn)(void *);
	void *arg;
};

#define ARENA_FIRST_BLOCK ((size_t)1024)
#define ARENA_MAX_BLOCK	  ((size_t)64 * 1024)

void arena_init(struct arena *a)
{
	a->head = NULL;
	a->defers = NULL;
	a->total = 0;
}

/* The size of the next block: double the current one, capped, and at least n. */
static size_t next_block_size(const struct arena *a, size_t n)
{
	size_t size = a->head ? a->head->size * 2 : ARENA_FIRST_BLOCK;

	if (size > ARENA_MAX_BLOCK)
		size = ARENA_MAX_BLOCK;
	return n > size ? n : size;
}

static struct arena_block *block_new(struct arena *a, size_t n)
{
	size_t size = next_block_size(a, n);
	struct arena_block *b = xmalloc(sizeof(*b) + size);

	b->size = size;
	b->used = 0;
	if (a->head && size > ARENA_MAX_BLOCK) {
		/* An oversized block goes behind the current one, which keeps its free room. */
		b->used = size;
		b->next = a->head->next;
		a->head->next = b;
		return b;
	}
	b->next = a->head;
	a->head = b;
	return b;
}

void *arena_alloc(struct arena *a, size_t n)
{
	struct arena_block *b = a->head;
	void *p;

	if (n > SIZE_MAX - sizeof(max_align_t)) {
		fputs("fatal: arena allocation too large\n", stderr);
		abort();
	}
	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	if (!n)
		n = sizeof(max_align_t);
	if (!b || b->size - b->used < n) {
		b = block_new(a, n);
		if (b->used) { /* oversized: the whole block is this allocation */
			a->total += n;
			return memset(b->data, 0, n);
		}
	}
	assert(b->used % sizeof(max_align_t) == 0 && b->size - b->used >= n);
	p = (char *)b->data + b->used;
	b->used += n;
	a->total += n;
	return memset(p, 0, n);
}

void *arena_calloc(struct arena *a, size_t n, size_t elem)
{
	if (elem && n > SIZE_MAX / elem) {
		fputs("fatal: arena allocation overflows\n", stderr);
		abort();
	}
	return arena_alloc(a, n * elem);
}

void *arena_memdup(struct arena *a, const void *p, size_t len)
{
	char *d = arena_alloc(a, len + 1); /* zeroed: d[len] is the NUL */

	if (len)
		memcpy(d, p, len);
	return d;
}

char *arena_strndup(struct arena *a, const char *s, size_t len)
{
	return arena_memdup(a, s, len);
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_memdup(a, s, strlen(s));
}

char *arena_vprintf(struct arena *a, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *s;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		fputs("fatal: arena_printf: bad format\n", stderr);
		abort();
	}
	s = arena_alloc(a, (size_t)n + 1);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = arena_vprintf(a, fmt, ap);
	va_end(ap);
	return s;
}

void arena_defer(struct arena *a, void (*fn)(void *), void *arg)
{
	struct arena_defer *d = arena_alloc(a, sizeof(*d));

	d->fn = fn;
	d->arg = arg;
	d->next = a->defers;
	a->defers = d;
}

static void release_buf(void *arg)
{
	buf_release(arg);
}

struct buf *arena_buf(struct arena *a, size_t cap)
{
	struct buf *b = arena_alloc(a, sizeof(*b));

	buf_init(b, cap);
	arena_defer(a, release_buf, b);
	return b;
}

static void run_defers(struct arena *a)
{
	while (a->defers) { /* a deferred function may defer more: they run too */
		struct arena_defer *d = a->defers;

		a->defers = d->next;
		d->fn(d->arg);
	}
}

static void free_blocks(struct arena *a)
{
	while (a->head) {
		struct arena_block *b = a->head;

		a->head = b->next;
		free(b);
	}
	a->total = 0;
}

void arena_release(struct arena *a)
{
	run_defers(a);
	free_blocks(a);
}

void arena_reset(struct arena *a, size_t keep_max)
{
	size_t held = 0;
	struct arena_block *b;

	run_defers(a);
	for (b = a->head; b; b = b->next)
		held += b->size;
	if (a->head && !a->head->next && held <= keep_max) {
		a->head->used = 0; /* already one block: kept as it is */
		a->total = 0;
		return;
	}
	free_blocks(a);
	if (held == 0 || held > keep_max)
		return;
	b = xmalloc(sizeof(*b) + held);
	b->next = NULL;
	b->size = held;
	b->used = 0;
	a->head = b;
}
