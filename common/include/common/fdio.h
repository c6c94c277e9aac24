/*
 * fdio.h: whole reads and writes on a file descriptor (git's read_in_full and write_in_full),
 * and the directory sync that makes a new name durable.
 *
 * Each call goes on after EINTR and after a partial transfer, so that callers never write the
 * loop themselves. For blocking descriptors: a non-blocking one that would block fails with
 * EAGAIN. Pure wrappers; thread-safe as read(2) and write(2) are.
 */
#ifndef COMMON_FDIO_H
#define COMMON_FDIO_H

#include <stddef.h>
#include <sys/types.h>

/* One read(2), again after EINTR: the byte count, 0 at the end of the file, -1 (errno). */
ssize_t fdio_read(int fd, void *p, size_t n);
/* Reads until n bytes or the end: the byte count (less than n only at the end), or -1. */
ssize_t fdio_read_full(int fd, void *p, size_t n);
/* fdio_read_full() with pread(2) from offset off; fd's own offset does not move. */
ssize_t fdio_pread_full(int fd, void *p, size_t n, off_t off);
/* Writes all n bytes: 0, or -1 (errno; a write(2) that wrote nothing gives EIO). */
int fdio_write_full(int fd, const void *p, size_t n);
/*
 * Makes a newly created (or renamed) directory entry durable: fsyncs the directory that holds
 * path. 0, or -1 with errno when the directory cannot be opened or synced (a failed sync is
 * also logged as a warning). Until it succeeds, a crash of the machine may lose the entry.
 * EINVAL from fsync(2) (a file system that cannot sync a directory at all) counts as synced,
 * as it does for a file (groupcommit.h).
 */
int fdio_sync_parent(const char *path);

#endif
