/*
 * spool.c: atomic spool file writes and reads (see spool.h).
 */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/xalloc.h"

#define SPOOL_NAME "broker-spool.json"

char *spool_path(const char *dir)
{
	return xasprintf("%s/%s", dir, SPOOL_NAME);
}

static int fsync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
	int fd, rc = 0;

	fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY);
	if (fd < 0 || fsync(fd) != 0)
		rc = ERR_IO;
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ERR_IO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int spool_write(const char *path, json_t *records, struct buf *err)
{
	char *tmp = xasprintf("%s.tmp", path);
	json_t *doc = json_pack("{s:i,s:O}", "version", 1, "deliveries", records);
	char *text = json_dumps(doc, JSON_COMPACT);
	int fd = -1, rc = ERR_IO;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !text || write_all(fd, text, strlen(text)) || fsync(fd) != 0) {
		buf_appendf(err, "%s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	if (close(fd) != 0) {
		fd = -1;
		buf_appendf(err, "%s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		buf_appendf(err, "rename %s: %s", path, strerror(errno));
		goto cleanup;
	}
	rc = fsync_dir_of(path);
	if (rc)
		buf_appendf(err, "fsync of the directory of %s failed", path);
cleanup:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	free(text);
	json_decref(doc);
	free(tmp);
	return rc;
}

int spool_read(const char *path, json_t **records, struct buf *err)
{
	json_error_t jerr;
	json_t *doc, *arr;

	*records = NULL;
	if (access(path, F_OK) != 0)
		return errno == ENOENT ? ERR_NOT_FOUND : ERR_IO;
	doc = json_load_file(path, 0, &jerr);
	if (!doc) {
		buf_appendf(err, "%s:%d: %s", path, jerr.line, jerr.text);
		return ERR_VALIDATION;
	}
	arr = json_object_get(doc, "deliveries");
	if (!json_is_array(arr) || json_integer_value(json_object_get(doc, "version")) != 1) {
		buf_appendf(err, "%s: not a version 1 spool", path);
		json_decref(doc);
		return ERR_VALIDATION;
	}
	*records = json_incref(arr);
	json_decref(doc);
	return 0;
}

int spool_remove(const char *path)
{
	if (unlink(path) != 0)
		return errno == ENOENT ? 0 : ERR_IO;
	return fsync_dir_of(path);
}

int spool_mkdirs(const char *dir)
{
	char *p = xstrdup(dir), *s;
	int rc = 0;

	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			rc = ERR_IO;
		*s = '/';
	}
	if (mkdir(p, 0755) != 0 && errno != EEXIST)
		rc = ERR_IO;
	free(p);
	return rc;
}
