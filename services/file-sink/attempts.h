/*
 * attempts.h: how many delivery attempts file-sink has seen of each event, in a fixed table.
 *
 * The broker does not tell a subscriber which attempt it is making (Knative sends no attempt
 * number), so file-sink counts them itself for the journey records (docs/journey.md). The
 * table is direct-mapped: ATTEMPTS_SLOTS slots of 16 bytes (128 KiB), indexed by a 64-bit hash
 * of (source, id); an event whose slot was taken over by another one starts again at 1. That
 * is a view, never a decision: nothing in the delivery depends on it.
 *
 * Threads: attempts_next() is thread-safe (one mutex).
 */
#ifndef FILE_SINK_ATTEMPTS_H
#define FILE_SINK_ATTEMPTS_H

#include <pthread.h>
#include <stdint.h>

#define ATTEMPTS_SLOTS 8192

struct attempts {
	pthread_mutex_t lock;
	struct attempts_slot {
		uint64_t key; /* 0 = empty */
		uint64_t count;
	} * slots;
};

void attempts_init(struct attempts *a);
void attempts_release(struct attempts *a);
/* Counts one more attempt of (source, id) and returns its number (1 for the first). */
uint64_t attempts_next(struct attempts *a, const char *source, const char *id);

#endif
