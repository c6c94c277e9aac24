/*
 * walreplay.h: reading the broker's write-ahead log records back (dispatcher.h, Durability).
 *
 * The dispatcher logs one JSON record per line (common/wal.h carries the lines):
 *   {"op":"put",   "id":N, "delivery":{...}}         a new delivery (delivery_to_json())
 *   {"op":"retry", "id":N, "attempts":A, "due_ms":T} a failed attempt and the next due time
 *   {"op":"done",  "id":N}                           delivered, dead-lettered or dropped
 * walreplay_record() applies one line to the set of live deliveries: a put adds (or replaces)
 * id's delivery, a retry updates the attempt count and due time of a live one (a retry for an
 * id with no put is ignored: its put was compacted away with its done), a done removes it.
 * A line that is not such a record (not JSON, no string op, no integer id >= 0, an unknown
 * op, a put without a delivery object, a retry without integer attempts and due_ms) changes
 * nothing and is counted in bad. next_id ends above every id read.
 *
 * Memory: live keeps each put's line as text, not parsed: a tree of small JSON values takes
 * tens of times the bytes of its text (a 900 KB array of zeros some 30 MB), and a restart
 * holding every pending event's tree at once could need many times BROKER_QUEUE_BYTES.
 * walreplay_delivery() parses one entry at a time.
 *
 * Ownership: struct walreplay owns live (a JSON object: id in decimal -> an entry: {"line":
 * the put's text, and "attempts" and "due_ms" of the latest retry}); walreplay_release()
 * frees it. walreplay_record() keeps no pointer to the line.
 */
#ifndef LOCAL_BROKER_WALREPLAY_H
#define LOCAL_BROKER_WALREPLAY_H

#include <stddef.h>

#include <jansson.h>

struct walreplay {
	json_t *live;		    /* id (decimal text) -> its latest put's entry */
	size_t bad;		    /* lines that are not records */
	unsigned long long next_id; /* 1 + the highest id read (1 when none) */
};

/* An empty replay: no live delivery, next_id 1. */
void walreplay_init(struct walreplay *rp);
/* Frees what rp owns. */
void walreplay_release(struct walreplay *rp);

/* Applies one record (len bytes, no newline) to rp (arg). Always returns 0 (a wal_record_fn). */
int walreplay_record(const char *line, size_t len, void *arg);
/*
 * The delivery object of a live entry: its put's, with the latest retry's attempts and
 * due_ms. A new reference (the caller json_decref()s it), or NULL when the line no longer
 * parses (it did when it was recorded, so only on memory exhaustion).
 */
json_t *walreplay_delivery(json_t *entry);

#endif
