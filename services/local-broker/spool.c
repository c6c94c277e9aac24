/*
 * spool.c: reading the spool of older versions (see spool.h).
 */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/fdio.h"
#include "common/xalloc.h"

#define SPOOL_NAME "broker-spool.json"

char *spool_path(const char *dir)
{
	return xasprintf("%s/%s", dir, SPOOL_NAME);
}

int spool_read(const char *path, json_t **records, struct buf *err)
{
	json_error_t jerr;
	json_t *doc, *arr;

	*records = NULL;
	if (access(path, F_OK) != 0)
		return errno == ENOENT ? ERR_NOT_FOUND : ERR_IO;
	doc = json_load_file(path, JSON_ALLOW_NUL, &jerr);
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
	return fdio_sync_parent(path) ? ERR_IO : 0;
}

/* mkdir(p), then a sync of its parent when it made it, so that the new entry is durable. */
static int mkdir_durable(const char *p)
{
	if (mkdir(p, 0755) != 0)
		return errno == EEXIST ? 0 : ERR_IO;
	return fdio_sync_parent(p) ? ERR_IO : 0;
}

int spool_mkdirs(const char *dir)
{
	char *p = xstrdup(dir), *s;
	int rc = 0;

	for (s = p + 1; *s && rc == 0; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		rc = mkdir_durable(p);
		*s = '/';
	}
	if (rc == 0)
		rc = mkdir_durable(p);
	free(p);
	return rc;
}
