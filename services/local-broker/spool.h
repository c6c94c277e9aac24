/*
 * spool.h: the spool of older versions, which wrote pending deliveries to one file at a
 * graceful stop. The write-ahead log (dispatcher.h) replaced it; a spool found at start-up is
 * read once, its deliveries go into the log, and only then is it removed.
 *
 * The spool is one JSON document {"version":1,"deliveries":[<record>...]} (records are
 * delivery_to_json()).
 */
#ifndef LOCAL_BROKER_SPOOL_H
#define LOCAL_BROKER_SPOOL_H

#include <jansson.h>

#include "common/buf.h"

/* The spool path under dir (caller frees). */
char *spool_path(const char *dir);
/*
 * Reads path into *records (a new array reference). 0; ERR_NOT_FOUND when there is no
 * spool; ERR_IO or ERR_VALIDATION (unreadable or malformed) with err filled.
 */
int spool_read(const char *path, json_t **records, struct buf *err);
/* Removes path and fsyncs its directory. 0, or ERR_IO (a missing file is not an error). */
int spool_remove(const char *path);
/*
 * Creates dir and its parents (mode 0755), each new one synced into its parent directory (a
 * log written in a directory whose entry is not durable could vanish with it at a power
 * loss). 0 or ERR_IO.
 */
int spool_mkdirs(const char *dir);

#endif
