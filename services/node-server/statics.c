/*
 * statics.c: static files from FRONTEND_DIR, cached in memory (see statics.h).
 */
#include "statics.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/fdio.h"
#include "common/xalloc.h"

/*
 * One cached request path. `path` is the joined request path (root + segments), the key;
 * `file` was read from the regular file it resolved to inside the root, whose identity and
 * version are dev, ino, size and mtime. Several paths may share one file ("/" and
 * "/index.html").
 */
struct entry {
	char *path; /* joined, not resolved */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	unsigned gen; /* st->gen when it was last checked against the file system */
	struct statics_file *file;
};

/* Any change to a watched directory or file: a name added, removed, renamed, data, metadata. */
#define WATCH_MASK                                                                        \
	(IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | \
	 IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)

struct statics {
	char *root; /* resolved; NULL when FRONTEND_DIR is missing */
	size_t root_len;
	pthread_mutex_t lock;
	int watch_fd; /* inotify, non-blocking; -1: every lookup stat()s instead */
	unsigned gen; /* bumped by every inotify event */
	struct entry entries[STATICS_MAX_FILES];
	size_t n;
};

static const struct {
	const char *ext;
	const char *type;
} types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "htm", "text/html; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "json", "application/json" },
	{ "map", "application/json" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "webp", "image/webp" },
	{ "ico", "image/x-icon" },
	{ "woff2", "font/woff2" },
	{ "woff", "font/woff" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "webmanifest", "application/manifest+json" },
};

const char *statics_content_type(const char *name)
{
	const char *dot = strrchr(name, '.');
	const char *slash = strrchr(name, '/');
	size_t i;

	if (dot && (slash == NULL || dot > slash))
		for (i = 0; i < ARRAY_SIZE(types); i++)
			if (strcasecmp(dot + 1, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

int statics_segment_check(const char *seg)
{
	const unsigned char *p;

	if (seg == NULL || seg[0] == '\0' || strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0)
		return ERR_BAD_REQUEST;
	for (p = (const unsigned char *)seg; *p; p++)
		if (*p == '/' || *p == '\\' || *p < 0x20 || *p == 0x7f)
			return ERR_BAD_REQUEST;
	if (seg[0] == '.')
		return ERR_NOT_FOUND;
	return 0;
}

int statics_etag_match(const char *inm, const char *etag)
{
	const char *p = inm;
	size_t elen = strlen(etag);

	if (inm == NULL)
		return 0;
	while (*p) {
		const char *start, *end;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end - start == 1 && *start == '*')
			return 1;
		if (end - start > 2 && strncmp(start, "W/", 2) == 0)
			start += 2;
		if ((size_t)(end - start) == elen && memcmp(start, etag, elen) == 0)
			return 1;
	}
	return 0;
}

int statics_new(const char *root, struct statics **out, struct buf *msg)
{
	struct statics *st = xcalloc(1, sizeof(*st));
	char *resolved = realpath(root, NULL);
	struct stat sb;

	pthread_mutex_init(&st->lock, NULL);
	st->watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	*out = st;
	if (resolved == NULL || stat(resolved, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		(void)buf_appendf(msg, "FRONTEND_DIR '%s' is not a directory (%s)", root,
				  resolved ? "not a directory" : strerror(errno));
		free(resolved);
		return ERR_NOT_FOUND;
	}
	st->root = resolved;
	st->root_len = strlen(resolved);
	return 0;
}

/* Takes one more reference on f and returns it. */
static struct statics_file *file_ref(struct statics_file *f)
{
	atomic_fetch_add(&f->refs, 1);
	return f;
}

void statics_file_release(struct statics_file *f)
{
	if (f && atomic_fetch_sub(&f->refs, 1) == 1) {
		free(f->data);
		free(f);
	}
}

void statics_file_put(void *f)
{
	statics_file_release(f);
}

void statics_free(struct statics *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->n; i++) {
		free(st->entries[i].path);
		statics_file_release(st->entries[i].file);
	}
	if (st->watch_fd >= 0)
		(void)close(st->watch_fd);
	pthread_mutex_destroy(&st->lock);
	free(st->root);
	free(st);
}

/* Reads the whole file open on fd (sb from fstat) into a new statics_file. */
static int read_file(int fd, const struct stat *sb, const char *path, struct statics_file **out,
		     struct buf *msg)
{
	struct statics_file *f;
	size_t len = (size_t)sb->st_size;

	if (len > STATICS_MAX_FILE) {
		(void)buf_appendf(msg, "the file is larger than %zu bytes", STATICS_MAX_FILE);
		return ERR_TOO_LARGE;
	}
	f = xcalloc(1, sizeof(*f));
	atomic_init(&f->refs, 1);
	f->data = xmalloc(len + 1);
	if (fdio_read_full(fd, f->data, len) != (ssize_t)len) {
		statics_file_release(f);
		(void)buf_appendf(msg, "could not read the file");
		return ERR_IO;
	}
	f->len = len;
	f->content_type = statics_content_type(path);
	(void)snprintf(f->etag, sizeof(f->etag), "\"%llx-%llx-%llx\"",
		       (unsigned long long)sb->st_ino, (unsigned long long)len,
		       (unsigned long long)sb->st_mtim.tv_sec * 1000000000ULL +
			   (unsigned long long)sb->st_mtim.tv_nsec);
	*out = f;
	return 0;
}

static int same_version(const struct entry *e, const struct stat *sb)
{
	return e->dev == sb->st_dev && e->ino == sb->st_ino && e->size == sb->st_size &&
	       e->mtime.tv_sec == sb->st_mtim.tv_sec && e->mtime.tv_nsec == sb->st_mtim.tv_nsec;
}

static struct entry *entry_find(struct statics *st, const char *joined)
{
	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->entries[i].path, joined) == 0)
			return &st->entries[i];
	return NULL;
}

/* Stops watching: from now on every lookup stat()s. Lock held. */
static void watch_off(struct statics *st)
{
	if (st->watch_fd >= 0)
		(void)close(st->watch_fd);
	st->watch_fd = -1;
}

/* Reads every queued inotify event; any event makes every entry stale. Lock held. */
static void watch_drain(struct statics *st)
{
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t r;

	while (st->watch_fd >= 0) {
		r = fdio_read(st->watch_fd, ev, sizeof(ev));
		if (r > 0) {
			st->gen++;
			continue;
		}
		if (r == 0 || errno != EAGAIN)
			watch_off(st);
		break;
	}
}

/*
 * Watches path (links followed) and every directory from the root down to it, so a change
 * anywhere on the way (a name swapped for a link, a directory renamed) or to the file itself
 * queues an event. Lock held; on failure (e.g. the watch limit) watching stops.
 */
static void watch_path(struct statics *st, const char *path)
{
	char p[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(p) || n < st->root_len) {
		watch_off(st);
		return;
	}
	memcpy(p, path, n + 1);
	while (st->watch_fd >= 0 && n >= st->root_len) {
		p[n] = '\0';
		if (inotify_add_watch(st->watch_fd, p, WATCH_MASK) < 0)
			watch_off(st);
		while (n > 0 && p[n - 1] != '/')
			n--;
		if (n == 0)
			break;
		n--; /* the slash */
	}
}

/*
 * The fast path: joined's entry, still current, as a new reference. With inotify, current
 * means no event came since the entry was checked (no system call but reading the empty
 * queue). Without it, joined still leads (following links, one stat(2)) to the very file
 * version cached for it, which was inside the root when it was read. A changed file, or a link
 * swapped in, takes the slow path.
 */
static struct statics_file *cached(struct statics *st, const char *joined)
{
	struct statics_file *f;
	struct entry *e;
	struct stat sb;

	pthread_mutex_lock(&st->lock);
	watch_drain(st);
	if (st->watch_fd >= 0) {
		e = entry_find(st, joined);
		f = e && e->gen == st->gen ? file_ref(e->file) : NULL;
		pthread_mutex_unlock(&st->lock);
		return f;
	}
	pthread_mutex_unlock(&st->lock);
	if (stat(joined, &sb) != 0 || !S_ISREG(sb.st_mode))
		return NULL;
	pthread_mutex_lock(&st->lock);
	e = entry_find(st, joined);
	f = e && same_version(e, &sb) ? file_ref(e->file) : NULL;
	pthread_mutex_unlock(&st->lock);
	return f;
}

/*
 * Marks e current for the inotify fast path: with joined and resolved watched and the queue
 * drained, joined must still lead to the file version read (else e stays stale and the next
 * lookup checks again). Lock held.
 */
static void entry_check(struct statics *st, struct entry *e, const char *joined,
			const char *resolved)
{
	struct stat sb;

	watch_path(st, joined);
	watch_path(st, resolved);
	watch_drain(st);
	if (st->watch_fd < 0)
		return;
	if (stat(joined, &sb) == 0 && same_version(e, &sb))
		e->gen = st->gen;
	else
		e->gen = st->gen - 1;
}

/*
 * Reads resolved (checked to be inside the root) and caches it under joined; a file another
 * path already cached in the same version (and, with inotify, current) is shared. Lock held.
 */
static int load(struct statics *st, const char *joined, const char *resolved,
		struct statics_file **out, struct buf *msg)
{
	struct entry *e = entry_find(st, joined);
	struct stat sb;
	size_t i;
	int fd, rc = 0;

	fd = open(resolved, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		if (fd >= 0)
			(void)close(fd);
		(void)buf_appendf(msg, "no such file");
		return ERR_NOT_FOUND;
	}
	*out = NULL;
	watch_drain(st); /* events since cached() drained: no sharing a file that just changed */
	for (i = 0; i < st->n && *out == NULL; i++)
		if (same_version(&st->entries[i], &sb) &&
		    (st->watch_fd < 0 || st->entries[i].gen == st->gen) &&
		    st->entries[i].file->content_type == statics_content_type(resolved))
			*out = file_ref(st->entries[i].file);
	if (*out == NULL)
		rc = read_file(fd, &sb, resolved, out, msg);
	(void)close(fd);
	if (rc)
		return rc;
	if (e == NULL && st->n < STATICS_MAX_FILES) {
		e = &st->entries[st->n++];
		e->path = xstrdup(joined);
		e->file = NULL;
	}
	if (e) {
		struct statics_file *old = e->file;

		e->file = file_ref(*out); /* before old is let go: they may be one file */
		statics_file_release(old);
		e->dev = sb.st_dev;
		e->ino = sb.st_ino;
		e->size = sb.st_size;
		e->mtime = sb.st_mtim;
		entry_check(st, e, joined, resolved);
	}
	return 0;
}

/* root + "/" + the segments joined by "/", or index.html for none. Caller frees. */
static char *join(const struct statics *st, const char *const *segs, size_t n)
{
	struct buf b;
	size_t i;

	buf_init(&b, PATH_MAX);
	(void)buf_appends(&b, st->root);
	if (n == 0)
		(void)buf_appends(&b, "/index.html");
	for (i = 0; i < n; i++) {
		if (buf_appendc(&b, '/') != 0 || buf_appends(&b, segs[i]) != 0) {
			buf_release(&b);
			return NULL;
		}
	}
	return buf_detach(&b, NULL);
}

int statics_lookup(struct statics *st, const char *const *segs, size_t n, struct statics_file **out,
		   struct buf *msg)
{
	char *joined = NULL, *resolved = NULL;
	size_t i;
	int rc;

	*out = NULL;
	for (i = 0; i < n; i++) {
		rc = statics_segment_check(segs[i]);
		if (rc) {
			(void)buf_appendf(msg, rc == ERR_NOT_FOUND ? "no such file"
								   : "not a plain file name");
			return rc;
		}
	}
	rc = ERR_NOT_FOUND;
	if (st->root == NULL || n > STATICS_MAX_SEGMENTS || (joined = join(st, segs, n)) == NULL) {
		(void)buf_appendf(msg, "no such file");
		goto cleanup;
	}
	*out = cached(st, joined);
	if (*out) {
		rc = 0;
		goto cleanup;
	}
	if ((resolved = realpath(joined, NULL)) == NULL ||
	    strncmp(resolved, st->root, st->root_len) != 0 || resolved[st->root_len] != '/') {
		(void)buf_appendf(msg, "no such file");
		goto cleanup;
	}
	pthread_mutex_lock(&st->lock);
	rc = load(st, joined, resolved, out, msg);
	pthread_mutex_unlock(&st->lock);
cleanup:
	free(joined);
	free(resolved);
	return rc;
}
