/* buf.c: see buf.h. */
#include "common/buf.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fdio.h"
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

/*
 * Makes room for extra more bytes plus the terminator, or fails past the cap. The allocation
 * doubles, but never past cap + 1: a capped buffer holds at most its cap and the terminator.
 */
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
	if (b->cap && n - 1 > b->cap)
		n = b->cap + 1; /* want <= cap: still enough */
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

/*
 * Reads straight into b, sized from fstat(2) when path is a regular file (one allocation and
 * one copy, where stdio and a doubling buffer made three copies and a realloc per doubling);
 * anything else (a pipe, /proc) in 64 KiB steps.
 */
int buf_read_file(struct buf *b, const char *path, struct buf *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;
	size_t want = 65536, room;
	bool too_large = false;
	char *at;
	struct stat st;
	ssize_t got = 0;
	char probe;

	if (fd < 0) {
		(void)buf_appendf(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (unsigned long long)st.st_size < SIZE_MAX / 4)
		want = (size_t)st.st_size + 1; /* + 1: room for the read that finds the end */
	for (;;) {
		room = b->cap && b->cap - b->len < want ? b->cap - b->len : want;
		if (room == 0) { /* at the cap: the file must end here */
			got = fdio_read(fd, &probe, 1);
			too_large = got > 0;
			break;
		}
		at = buf_extend(b, room);
		if (!at) {
			too_large = true;
			break;
		}
		got = fdio_read(fd, at, room);
		buf_setlen(b, b->len - room + (got > 0 ? (size_t)got : 0));
		if (got <= 0)
			break;
		want = 65536;
	}
	if (too_large)
		(void)buf_appendf(err, "%s: larger than %zu bytes", path, b->cap);
	else if (got < 0)
		(void)buf_appendf(err, "%s: read error: %s", path, strerror(errno));
	else
		rc = 0;
	close(fd);
	return rc;
}
