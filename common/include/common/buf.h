/*
 * buf.h: a growable byte buffer with a hard size cap (git's strbuf, curl's dynbuf).
 *
 * Invariants (as git's strbuf): `data` is never NULL after buf_init() and is always
 * NUL-terminated at data[len], so it can be used as a C string when it holds text. len < alloc
 * whenever alloc > 0; while alloc == 0, data points at a shared empty string that must never be
 * written (so a buffer that never grew costs no allocation). `cap` bounds len: an append that
 * would pass it fails with ERR_TOO_LARGE and leaves the buffer unchanged (curl's dynbuf
 * "toobig"), so no input can grow a buffer without limit; the allocation, doubling as it grows,
 * never passes cap + 1 bytes. Debug builds (no NDEBUG) assert these invariants on every call.
 *
 * Errors: every function that can fail returns an err.h code, 0 (ERR_OK) or ERR_TOO_LARGE, so a
 * caller may hand it up unchanged.
 *
 * Ownership: the buffer owns `data`. Code outside buf.c reads `data` and `len` but never writes
 * the fields: it shrinks the contents with buf_setlen(), buf_consume() or buf_reset().
 * Lifecycle (git's words): buf_release() frees the contents and leaves the buffer empty and
 * usable with the same cap (buf_init() is not needed again); buf_clear() is the same as
 * buf_release() followed by buf_init() with a new cap; buf_detach() hands the contents to the
 * caller (who frees them with free()) and leaves the buffer empty and usable.
 */
#ifndef COMMON_BUF_H
#define COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "common/err.h"

struct buf {
	char *data;
	size_t len;
	size_t alloc;
	size_t cap; /* 0 = no cap */
};

/* The success code of the buf_append* family: err.h's ERR_OK. */
#define BUF_OK	  ERR_OK
#define BUF_NOCAP 0

/* Prepares an empty buffer holding at most cap bytes (BUF_NOCAP for none). Allocates nothing. */
void buf_init(struct buf *b, size_t cap);
/* Frees the contents; the buffer is empty and usable again with the same cap. */
void buf_release(struct buf *b);
/* buf_release(), then buf_init(b, cap). */
void buf_clear(struct buf *b, size_t cap);
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Shrinks the contents to their first len bytes (len <= b->len), keeping the memory. */
void buf_setlen(struct buf *b, size_t len);
/* Drops the first n bytes (n <= b->len) and moves the rest to the front. */
void buf_consume(struct buf *b, size_t n);
/* Returns the contents (NUL-terminated, caller frees) and re-initializes the buffer. */
char *buf_detach(struct buf *b, size_t *len);

/*
 * The append family. Each appends to the end of b and keeps it NUL-terminated; each returns 0,
 * or ERR_TOO_LARGE when the result would pass b's cap, and then leaves b unchanged (no partial
 * append). OOM aborts (xalloc.h).
 *   buf_append()   len bytes from data (which may hold NULs; data may be NULL when len is 0)
 *   buf_appends()  the C string s, without its NUL
 *   buf_appendc()  one byte
 *   buf_appendf()  printf-style formatted text; buf_vappendf() takes a va_list
 */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_appends(struct buf *b, const char *s);
int buf_appendc(struct buf *b, char c);
int buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vappendf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/*
 * Appends n bytes for the caller to write, and returns where they start (NULL, b unchanged,
 * when the cap would be passed). Their contents are undefined until written; the terminator
 * after them is in place. For an encoder that writes straight into b (no copy in between).
 */
char *buf_extend(struct buf *b, size_t n);

/*
 * Appends the whole file at path to b. Returns 0, or -1 with "<path>: <reason>" appended to
 * err (cannot open, read error, or "larger than <cap> bytes" when b's cap is reached; b then
 * holds a prefix).
 */
int buf_read_file(struct buf *b, const char *path, struct buf *err);

#endif
