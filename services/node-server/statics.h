/*
 * statics.h: the page's static files (FRONTEND_DIR), served from memory.
 *
 * A request path is given as its decoded segments (the route's path parameters). Each segment
 * must be a plain name: not empty, not "." or "..", not starting with '.', without '/', '\\'
 * or control characters (so "%2e%2e", "%2f" and "..\\" tricks are refused before any file
 * system call). The joined path is then resolved with realpath(3) and must stay inside the
 * resolved root, so a symlink cannot lead outside either. No segments means index.html.
 *
 * Files are read once and kept in memory (the folder is small; at most STATICS_MAX_FILES
 * request paths, files of up to STATICS_MAX_FILE bytes, are cached), and edits show up at
 * once. An inotify instance watches every cached file and every directory from the root down
 * to it (both the requested path and the resolved one); every lookup reads the instance's
 * queue (non-blocking, under the cache lock), and any event makes every entry stale. A stale
 * or new path goes through realpath(3) and the root check again, and its entry becomes current
 * only when, with the watches in place, the requested path still leads to the file version read.
 * A path whose entry is current costs that one read(2) of an empty queue. Without inotify (no
 * instance, or a watch refused, e.g. at the watch limit) every lookup stat()s the requested
 * path instead and reloads the file when its device, inode, size or mtime changed.
 *
 * ETag: a strong tag made of the inode, size and mtime in nanoseconds. Cache-Control:
 * "no-cache" (always revalidate; the 304 is cheap).
 *
 * Threads: statics_lookup() is thread-safe; the returned file is immutable and refcounted.
 */
#ifndef NODE_SERVER_STATICS_H
#define NODE_SERVER_STATICS_H

#include <stdatomic.h>
#include <stddef.h>

#include "common/buf.h"

#define STATICS_MAX_SEGMENTS 3
#define STATICS_MAX_FILES    256
#define STATICS_MAX_FILE     ((size_t)8 * 1024 * 1024)

/* One file's content and headers. Immutable; release with statics_file_release(). */
struct statics_file {
	atomic_int refs;
	char *data;
	size_t len;
	const char *content_type; /* static string */
	char etag[64];		  /* with the quotes */
};

struct statics;

/*
 * Resolves root with realpath(3). Returns 0 and *out, or ERR_NOT_FOUND when root does not
 * exist or is not a directory (reason in msg; *out is still usable and finds nothing).
 */
int statics_new(const char *root, struct statics **out, struct buf *msg);
void statics_free(struct statics *st);

/*
 * Finds the file for segs[0..n). Returns 0 and *out (a reference for the caller), or
 * ERR_BAD_REQUEST (a segment that is not a plain name), ERR_NOT_FOUND (no such regular file
 * inside the root, or a dot file), ERR_TOO_LARGE / ERR_IO; the reason goes to msg.
 */
int statics_lookup(struct statics *st, const char *const *segs, size_t n, struct statics_file **out,
		   struct buf *msg);
void statics_file_release(struct statics_file *f);
/* statics_file_release() as a release callback (http_respond_ref()). */
void statics_file_put(void *f);

/*
 * Checks one decoded segment: 0 when it is a plain name, ERR_NOT_FOUND for a dot file,
 * ERR_BAD_REQUEST for "", ".", "..", '/', '\\' or a control character.
 */
int statics_segment_check(const char *seg);
/* The Content-Type for a file name, by its extension (application/octet-stream if unknown). */
const char *statics_content_type(const char *name);
/* Whether an If-None-Match header value (a list of tags, or "*") matches etag. */
int statics_etag_match(const char *if_none_match, const char *etag);

#endif
