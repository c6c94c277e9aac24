/* fdio.c: whole reads and writes (see fdio.h). */
#include "common/fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"

ssize_t fdio_read(int fd, void *p, size_t n)
{
	ssize_t got;

	do
		got = read(fd, p, n);
	while (got < 0 && errno == EINTR);
	return got;
}

/* The loop of both full reads: off < 0 reads at fd's offset, else preads at off. */
static ssize_t read_full(int fd, char *p, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t got = off < 0 ? read(fd, p + done, n - done)
				      : pread(fd, p + done, n - done, off + (off_t)done);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -1;
		if (got == 0)
			break;
		done += (size_t)got;
	}
	return (ssize_t)done;
}

ssize_t fdio_read_full(int fd, void *p, size_t n)
{
	return read_full(fd, p, n, -1);
}

ssize_t fdio_pread_full(int fd, void *p, size_t n, off_t off)
{
	if (off < 0) {
		errno = EINVAL;
		return -1;
	}
	return read_full(fd, p, n, off);
}

int fdio_write_full(int fd, const void *p, size_t n)
{
	const char *at = p;

	while (n > 0) {
		ssize_t w = write(fd, at, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		at += w;
		n -= (size_t)w;
	}
	return 0;
}

int fdio_sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, rc = -1, e;

	if (!slash)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else
		dir = xstrndup(path, (size_t)(slash - path));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		e = errno;
		if (rc != 0 && e == EINVAL)
			rc = 0; /* this file system cannot sync a directory at all */
		else if (rc != 0)
			log_warn("fsync of directory %s failed: %s", dir, strerror(e));
		close(fd);
	} else {
		e = errno;
	}
	free(dir);
	errno = e;
	return rc;
}
