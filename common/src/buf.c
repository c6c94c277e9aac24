/* buf.c: see buf.h. */
#include "common/buf.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* What data points at while nothing is allocated; never written (buf_check() asserts it). */
static char buf_empty[1];

/* The invariants of buf.h, checked in debug builds (curl's DEBUGASSERT). */
#define buf_check(b)                                                          \
	do {                                                                  \
		assert((b)->data != NULL);                                    \
		assert((b)->alloc ? (b)->len < (b)->alloc                     \
				  : (b)->len == 0 && (b)->data == buf_empty); \
		assert((b)->data[(b)->len] == '\0');                          \
		assert(!(b)->cap || (b)->len <= (b)->cap);                    \
	} while (0)

void buf_init(struct buf *b, size_t cap)
{
	b->data = buf_empty;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

void buf_release(struct buf *b)
{
	buf_check(b);
	if (b->alloc)
		free(b->data);
	buf_init(b, b->cap);
}

void buf_clear(struct buf *b, size_t cap)
{
	buf_release(b);
	buf_init(b, cap);
}

/* n, cut to b->len: a larger n is the caller's bug (an assertion in a debug build). */
static size_t at_most_len(const struct buf *b, size_t n)
{
	assert(n <= b->len);
	return n < b->len ? n : b->len;
}

void buf_setlen(struct buf *b, size_t len)
{
	buf_check(b);
	len = at_most_len(b, len);
	if (!b->alloc)
		return;
	b->len = len;
	b->data[len] = '\0';
}

void buf_reset(struct buf *b)
{
	buf_setlen(b, 0);
}

void buf_consume(struct buf *b, size_t n)
{
	buf_check(b);
	n = at_most_len(b, n);
	if (!n)
		return;
	memmove(b->data, b->data + n, b->len - n);
	buf_setlen(b, b->len - n);
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *p;

	buf_check(b);
	p = b->alloc ? b->data : xstrdup("");
	if (len)
		*len = b->len;
	buf_init(b, b->cap);
	return p;
}

/* Makes room for extra more bytes plus the terminator, or fails past the cap. */
static int buf_grow(struct buf *b, size_t extra)
{
	size_t want, n;

	buf_check(b);
	if (extra > SIZE_MAX / 2 - b->len)
		return ERR_TOO_LARGE;
	want = b->len + extra;
	if (b->cap && want > b->cap)
		return ERR_TOO_LARGE;
	if (want + 1 <= b->alloc)
		return 0;
	n = b->alloc ? b->alloc * 2 : 64;
	while (n < want + 1)
		n *= 2;
	b->data = xrealloc(b->alloc ? b->data : NULL, n);
	if (!b->alloc)
		b->data[0] = '\0';
	b->alloc = n;
	return 0;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
	if (buf_grow(b, len))
		return ERR_TOO_LARGE;
	if (!len)
		return 0;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

char *buf_extend(struct buf *b, size_t n)
{
	char *at;

	if (!n)
		return b->data + b->len; /* nothing to write: no allocation, the sentinel stays */
	if (buf_grow(b, n))
		return NULL;
	at = b->data + b->len;
	b->len += n;
	b->data[b->len] = '\0';
	return at;
}

int buf_appends(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_appendc(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0 || buf_grow(b, (size_t)n))
		return ERR_TOO_LARGE;
	if (!n)
		return 0;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = buf_vappendf(b, fmt, ap);
	va_end(ap);
	return ret;
}

int buf_read_file(struct buf *b, const char *path, struct buf *err)
{
	FILE *f = fopen(path, "rb");
	char chunk[65536];
	size_t n;
	int rc = 0;

	if (!f) {
		(void)buf_appendf(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(b, chunk, n)) {
			(void)buf_appendf(err, "%s: larger than %zu bytes", path, b->cap);
			rc = -1;
			goto done;
		}
	}
	if (ferror(f)) {
		(void)buf_appendf(err, "%s: read error", path);
		rc = -1;
	}
done:
	fclose(f);
	return rc;
}
