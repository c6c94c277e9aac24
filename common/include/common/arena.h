/*
 * arena.h: a bump allocator freed in one call (nginx's ngx_pool_t, h2o's h2o_mem_pool_t).
 *
 * An arena hands out memory from blocks it mallocs as it goes and frees all of it at once in
 * arena_release(). There is no per-allocation free. It suits memory whose lifetime is one
 * unit of work: a request (http_arena(), http.h), a protobuf message tree being packed
 * (otlp.c).
 *
 *	struct arena a;
 *
 *	arena_init(&a);
 *	char *url = arena_printf(&a, "%s/books/%s", base, id);
 *	...
 *	arena_release(&a);
 *
 * Memory. Every allocation is aligned for any type (max_align_t) and zeroed. Blocks start
 * small (1 KiB) and double up to 64 KiB; a larger request gets a block of its own, so an
 * arena holds at most its allocations plus one partly used block per size step. Running out
 * of memory aborts (xalloc.h): callers never NULL-check.
 *
 * Ownership. The arena owns everything it returned, and what was tied to it with
 * arena_defer() or arena_buf(); pointers die in arena_release(). After
 * arena_release() the arena is empty and may be used again. struct arena is not thread-safe:
 * one thread at a time.
 */
#ifndef COMMON_ARENA_H
#define COMMON_ARENA_H

#include <stdarg.h>
#include <stddef.h>

#include "common/buf.h"

struct arena_block;
struct arena_defer;

struct arena {
	struct arena_block *head;   /* the block allocations come from; older ones follow */
	struct arena_defer *defers; /* run by arena_release(), newest first */
	size_t total;		    /* bytes handed out, for tests and accounting */
};

#define ARENA_INIT \
	{          \
		0  \
	}

/* Makes a an empty arena. Allocates nothing. */
void arena_init(struct arena *a);
/* n zeroed bytes aligned for any type. n = 0 returns a valid, unique pointer. */
void *arena_alloc(struct arena *a, size_t n);
/* n elements of size elem, zeroed; dies when n * elem overflows. */
void *arena_calloc(struct arena *a, size_t n, size_t elem);
/* A copy of the string s. */
char *arena_strdup(struct arena *a, const char *s);
/* A NUL-terminated copy of the first len bytes of s. */
char *arena_strndup(struct arena *a, const char *s, size_t len);
/* A copy of len bytes of p (plus a NUL byte after them, so text can be copied too). */
void *arena_memdup(struct arena *a, const void *p, size_t len);
/* The printf-style formatted string. */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(struct arena *a, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/*
 * Runs fn(arg) in arena_release(), before the memory goes, newest first (nginx's pool
 * cleanups): how something malloc'd (a decoded event, a json_t) is tied to the arena's life.
 */
void arena_defer(struct arena *a, void (*fn)(void *), void *arg);
/*
 * An empty struct buf (buf.h) with byte cap `cap`, released by arena_release(): a message or
 * body buffer that needs no buf_release() by hand. The struct itself lives in the arena.
 */
struct buf *arena_buf(struct arena *a, size_t cap);
/*
 * Runs the deferred functions, then frees every block; the arena is empty again (no
 * arena_init() needed before reuse).
 */
void arena_release(struct arena *a);
/*
 * Empties the arena as arena_release() does (deferred functions run, every pointer dies), but
 * keeps memory for the next use: one block as large as all the blocks it held, unless that is
 * more than keep_max bytes (then it frees them all). An arena reset after each unit of work of
 * a similar size (otlp.c's span batches) then allocates and faults its pages in once, instead
 * of at every unit. arena_release() frees what a reset kept.
 */
void arena_reset(struct arena *a, size_t keep_max);

#endif
