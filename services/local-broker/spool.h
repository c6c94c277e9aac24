/*
 * spool.h: the file where pending deliveries survive a graceful restart.
 *
 * The spool is one JSON document {"version":1,"deliveries":[<record>...]} (records are
 * delivery_to_json()). spool_write() writes a temp file next to the target, fsyncs it,
 * renames it over the target and fsyncs the directory, so a crash leaves either the old
 * file or the new one, never a torn one.
 */
#ifndef LOCAL_BROKER_SPOOL_H
#define LOCAL_BROKER_SPOOL_H

#include <jansson.h>

#include "common/buf.h"

/* The spool path under dir (caller frees). */
char *spool_path(const char *dir);
/* Writes records (a JSON array, borrowed) to path. 0 or ERR_IO with err filled. */
int spool_write(const char *path, json_t *records, struct buf *err);
/*
 * Reads path into *records (a new array reference). 0; ERR_NOT_FOUND when there is no
 * spool; ERR_IO or ERR_VALIDATION (unreadable or malformed) with err filled.
 */
int spool_read(const char *path, json_t **records, struct buf *err);
/* Removes path and fsyncs its directory. 0, or ERR_IO (a missing file is not an error). */
int spool_remove(const char *path);
/* Creates dir and its parents (mode 0755). 0 or ERR_IO. */
int spool_mkdirs(const char *dir);

#endif
