/*
 * buf.h: a growable byte buffer with a hard size cap.
 *
 * Invariants (as git's strbuf): `data` is never NULL after buf_init() and is always
 * NUL-terminated at data[len], so it can be used as a C string when it holds text.
 * `cap` bounds len: an append that would pass it fails with BUF_TOO_BIG and leaves the buffer
 * unchanged (curl's dynbuf "toobig"), so no input can grow a buffer without limit.
 *
 * Ownership: the buffer owns `data`. buf_release() frees it; buf_detach() hands it to the
 * caller (who frees it with free()) and leaves the buffer empty and usable.
 */
#ifndef COMMON_BUF_H
#define COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t alloc;
	size_t cap; /* 0 = no cap */
};

enum { BUF_OK = 0, BUF_TOO_BIG = -1 };

#define BUF_NOCAP 0

/* Prepares an empty buffer holding at most cap bytes (BUF_NOCAP for none). */
void buf_init(struct buf *b, size_t cap);
/* Frees the contents; the buffer must be buf_init()ed again before reuse. */
void buf_release(struct buf *b);
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Returns the contents (NUL-terminated, caller frees) and re-initializes the buffer. */
char *buf_detach(struct buf *b, size_t *len);

int buf_append(struct buf *b, const void *data, size_t len);
int buf_appends(struct buf *b, const char *s);
int buf_appendc(struct buf *b, char c);
int buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vappendf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/*
 * Appends the whole file at path to b. Returns 0, or -1 with "<path>: <reason>" appended to
 * err (cannot open, read error, or "larger than <cap> bytes" when b's cap is reached; b then
 * holds a prefix).
 */
int buf_read_file(struct buf *b, const char *path, struct buf *err);

#endif
