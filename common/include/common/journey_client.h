/*
 * journey_client.h: best-effort journey records from a subscriber to node-server.
 *
 * file-sink, dead-letter-logger and the Sequence's steps (step.h) tell node-server what happened
 * to each event they saw (one record per delivery attempt, dead letter, step attempt or
 * bad-review notification), so the page can show each review's
 * journey (docs/journey.md). The records are a view, never part of the delivery: recording
 * one never blocks and never fails the caller.
 *
 * A record is a JSON object (the schema is node-server's, services/node-server/journey.h).
 * journey_client_record() renders it and appends it to a bounded queue (JOURNEY_CLIENT_QUEUE
 * records and JOURNEY_CLIENT_QUEUE_BYTES bytes); a full queue drops the record. One batch is in
 * flight at a time: POST <url> {"records": [...]} with up to JOURNEY_CLIENT_BATCH records,
 * sent by the client's own httpc thread; what queues up meanwhile goes in the next batch. A
 * batch that fails (node-server down, a 4xx or 5xx, a timeout of 2 s) is dropped, not
 * retried. The POSTs carry no trace context, so they never appear in a review's trace.
 *
 * Metrics (metrics_default()): journey_records_total{outcome="sent|dropped_full|dropped_error"}.
 *
 * Threads: journey_client_record() is thread-safe. journey_client_free() must not race with it.
 */
#ifndef COMMON_JOURNEY_CLIENT_H
#define COMMON_JOURNEY_CLIENT_H

#include <jansson.h>

#define JOURNEY_CLIENT_QUEUE	   1024
#define JOURNEY_CLIENT_QUEUE_BYTES ((size_t)512 * 1024)
#define JOURNEY_CLIENT_BATCH	   64
/* A rendered record longer than this is dropped (counted dropped_full). */
#define JOURNEY_CLIENT_RECORD_MAX ((size_t)2048)

struct journey_client;

/* Starts a client posting to url (copied). Returns NULL when its httpc thread cannot start. */
struct journey_client *journey_client_new(const char *url);
/* Cancels the batch in flight, drops what is queued and frees everything. NULL is a no-op. */
void journey_client_free(struct journey_client *jc);
/* Queues rec (the reference is taken: always decref'd). jc may be NULL (journeys off). */
void journey_client_record(struct journey_client *jc, json_t *rec);

/* Whether node-server would take id as a journey's id: 1..128 bytes, no control characters. */
int journey_client_id_ok(const char *id);

/* The trace id of ctx as 32 hex digits into out when it is valid and sampled, else "". */
struct trace_context;
void journey_client_trace_id(const struct trace_context *ctx, char out[33]);

#endif
