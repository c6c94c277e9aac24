/*
 * deadletters.h: dead-letter-logger's HTTP API, as a route table for the HTTP layer (http.h).
 *
 *	POST /         one dead letter from the broker (binary or structured mode). Appends its
 *	               record (deadletter.h) to events.log, writes one WARN log record (event id,
 *	               type, destination, code), then answers 200 with an empty body. A failed
 *	               write is 500 io_error, so the broker retries; a malformed event (or a
 *	               batch) is 4xx. The error attributes themselves never cause a rejection.
 *	               A redelivery of a dead letter already recorded (same source, id and
 *	               knativeerrordest; dedupe.h) is answered 200 and not recorded again: one
 *	               INFO log record, no events.log line, no dead_letters_total increment.
 *	GET  /events   ?limit=1..1000 (default 100): the newest records, newest first, at most
 *	               EVENTS_MAX_BYTES of them (eventlog_tail()).
 *
 * Metric: dead_letters_total{destination, code} ("unknown" for a missing or bad value). Both
 * values come from the dead letter, so the family is capped (metrics_series_capped()): at
 * most DEAD_LETTER_SERIES tuples of their own, then destination="other",code="other".
 * Every handler expects req->ctx to be the struct deadletters.
 */
#ifndef DEAD_LETTER_LOGGER_DEADLETTERS_H
#define DEAD_LETTER_LOGGER_DEADLETTERS_H

#include <stdatomic.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/dedupe.h"
#include "common/eventlog.h"
#include "common/metrics.h"
#include "common/route.h"
#include "common/sink.h"

struct journey_client;

/* The default for DEAD_LETTER_SERIES. */
#define DEADLETTERS_DEFAULT_SERIES 100

struct deadletters {
	struct eventlog *log;	 /* borrowed: opened and closed by main */
	struct metric *total;	 /* dead_letters_total */
	size_t max_series;	 /* DEAD_LETTER_SERIES: dead_letters_total's own series */
	size_t events_max_bytes; /* EVENTS_MAX_BYTES: GET /events budget */
	struct dedupe *dedupe;	 /* borrowed, may be NULL (no dedupe): recorded keys */
	/* Journeys: with JOURNEY_URL set, each dead letter recorded is reported to node-server
	 * (common/journey_client.h, best-effort), with the count recorded since the start. */
	struct journey_client *journey; /* borrowed, NULL = off */
	_Atomic unsigned long long recorded;
};

/* The key of an events.log record (a dedupe_key_fn): event.source, event.id, error.destination. */
int deadletters_key(json_t *rec, const char **source, const char **id, const char **scope);

/* The route table (a static const struct route routes[] in deadletters.c) and its size in *n. */
const struct route *deadletters_routes(size_t *n);

/*
 * Fills dl with the sink's log and dedupe set (borrowed) and the default budgets (main sets
 * max_series and events_max_bytes from the settings), and registers its metric in
 * metrics_default().
 */
void deadletters_init(struct deadletters *dl, const struct sink *files);

/* The /readyz callback: ctx is the struct deadletters. */
int deadletters_ready(void *ctx, struct buf *reason);

#endif
