/* sink.c: the event sinks' events.log, dedupe set and GET /events (see sink.h). */
#include "common/sink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/http.h"
#include "common/log.h"
#include "common/xalloc.h"

int sink_open(struct sink *s, const char *data_dir, int fsync, long long keys, dedupe_key_fn key_of,
	      const char *what)
{
	size_t n;

	memset(s, 0, sizeof(*s));
	s->path = xasprintf("%s/%s", data_dir, EVENTLOG_FILE);
	if (eventlog_open(s->path, (enum eventlog_fsync)fsync, &s->log) != 0) {
		fprintf(stderr, "DATA_DIR: cannot open %s for appending: %s\n", s->path,
			strerror(errno));
		goto fail;
	}
	s->dedupe = dedupe_new((size_t)keys);
	if (dedupe_load(s->dedupe, s->path, key_of, &n) != 0) {
		fprintf(stderr, "DATA_DIR: cannot read %s: %s\n", s->path, strerror(errno));
		goto fail;
	}
	log_info("%zu %s remembered from %s (DEDUPE_KEYS=%lld)", dedupe_count(s->dedupe), what,
		 s->path, keys);
	return 0;
fail:
	sink_close(s);
	return ERR_IO;
}

void sink_close(struct sink *s)
{
	dedupe_free(s->dedupe);
	eventlog_close(s->log);
	free(s->path);
	memset(s, 0, sizeof(*s));
}

int sink_outcome_key(const json_t *rec, const char *outcome, const char **source, const char **id)
{
	const char *o = json_string_value(json_object_get(rec, "outcome"));
	const json_t *ev = json_object_get(rec, "event");

	if (!o || strcmp(o, outcome) != 0)
		return 0;
	*source = json_string_value(json_object_get(ev, "source"));
	*id = json_string_value(json_object_get(ev, "id"));
	return 1;
}

int sink_respond_tail(struct http_request *req, struct eventlog *log, size_t max_bytes)
{
	struct buf text;
	size_t limit, len;
	char *body;

	if (eventlog_limit_parse(http_query(req, "limit"), &limit) != 0)
		return http_fail(req, ERR_BAD_REQUEST, "limit must be an integer from 1 to %d",
				 EVENTLOG_MAX_LIMIT);
	buf_init(&text, BUF_NOCAP); /* bounded by max_bytes */
	if (eventlog_tail_text(log, limit, max_bytes, &text) != 0) {
		buf_release(&text);
		return http_fail(req, ERR_IO, "could not read events.log");
	}
	body = buf_detach(&text, &len); /* sent as it is: the response frees it */
	return http_respond_ref(req, 200, "application/json", body, len, free, body);
}
