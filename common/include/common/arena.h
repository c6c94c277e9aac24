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
 * Ownership. The arena owns everything it returned; pointers die in arena_release(). After
 * arena_release() the arena is empty and may be used again. struct arena is not thread-safe:
 * one thread at a time.
 */
#ifndef COMMON_ARENA_H
#define COMMON_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena_block;

struct arena {
	struct arena_block *head; /* the block allocations come from; older ones follow */
	size_t total;		  /* bytes handed out, for tests and accounting */
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
/* Frees every block; the arena is empty again (no arena_init() needed before reuse). */
void arena_release(struct arena *a);

#endif
