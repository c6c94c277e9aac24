/*
 * sink.h: what the two event sinks (file-sink, dead-letter-logger) share: the
 * $DATA_DIR/events.log they append to, the dedupe set rebuilt from it at start (dedupe.h),
 * and their GET /events route.
 *
 *	struct sink s;
 *	if (sink_open(&s, cfg.data_dir, cfg.fsync, cfg.dedupe_keys, key_of, "saved events"))
 *		return 2;
 *	... serve, with s.log and s.dedupe lent to the handlers ...
 *	sink_close(&s);
 *
 * Ownership: struct sink owns path, log and dedupe; sink_close() frees them, after the HTTP
 * server stopped (no handler may use them any more).
 */
#ifndef COMMON_SINK_H
#define COMMON_SINK_H

#include <stddef.h>

#include "common/dedupe.h"
#include "common/eventlog.h"

struct http_request;

struct sink {
	char *path; /* $DATA_DIR/events.log */
	struct eventlog *log;
	struct dedupe *dedupe;
};

/*
 * Opens data_dir/events.log for appending (fsync: enum eventlog_fsync) and rebuilds a dedupe
 * set of at most keys entries from it with key_of; logs how many records it remembered
 * ("<n> <what> remembered from <path>"). A DATA_DIR that does not exist or cannot be
 * written or read is a start-up error: prints one line to stderr, frees what it opened and
 * returns ERR_IO (the service exits 2). Returns 0 on success.
 */
int sink_open(struct sink *s, const char *data_dir, int fsync, long long keys, dedupe_key_fn key_of,
	      const char *what);
/*
 * The dedupe key of an events.log record whose "outcome" is outcome: sets *source and *id from
 * its "event" and returns 1, or returns 0 for any other record. A dedupe_key_fn's body for
 * keys without a scope.
 */
int sink_outcome_key(const json_t *rec, const char *outcome, const char **source, const char **id);
/* Frees what sink_open() opened. */
void sink_close(struct sink *s);

/*
 * Answers GET /events?limit=N for log: the newest lines as a JSON array (newest first) within
 * max_bytes (eventlog_tail()), or 400 for a bad limit, 500 when the file cannot be read.
 */
int sink_respond_tail(struct http_request *req, struct eventlog *log, size_t max_bytes);

#endif
