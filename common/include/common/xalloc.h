/*
 * xalloc.h: allocation wrappers that never return NULL, and the array helpers.
 *
 * As in git (wrapper.c) and redis (zmalloc), running out of memory is not an error a caller
 * can handle: these print one line to stderr and abort(). Callers never NULL-check them.
 * Memory they return is owned by the caller and released with free().
 */
#ifndef COMMON_XALLOC_H
#define COMMON_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
/* Copies len bytes of s, NUL bytes included (unlike strndup), and adds a NUL terminator. */
char *xstrndup(const char *s, size_t len);
/* Like asprintf(), but dies on failure. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grows *arr (of *alloc elements of size elem) so that it can hold at least nr elements. */
void xgrow(void **arr, size_t *alloc, size_t nr, size_t elem);
#define XGROW(arr, nr, alloc) xgrow((void **)&(arr), &(alloc), (nr), sizeof(*(arr)))

/* 1 when a is a pointer, 0 when it is an array. */
#define IS_POINTER_(a) __builtin_types_compatible_p(__typeof__(a), __typeof__(&(a)[0]))
/* The number of elements of an array (git's ARRAY_SIZE). A pointer does not compile: the
 * bit-field's width is then -1. */
#define ARRAY_SIZE(a) \
	(sizeof(a) / sizeof((a)[0]) + 0 * sizeof(struct { int array : 1 - 2 * IS_POINTER_(a); }))

#endif
