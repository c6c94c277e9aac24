/*
 * failsim.h: file-sink's failure simulation, which delivery attempts answer 500.
 *
 * Two policies, chosen at start-up:
 *   - every N (FAIL_EVERY=N): deliveries N, 2N, 3N ... fail, counted in arrival order;
 *   - rate (FAILURE_RATE=r, 0..1): each delivery fails with probability r. The draws come from
 *     one splitmix64 stream under a mutex, seeded with FAILURE_SEED when set (so the sequence
 *     of outcomes is reproducible: the k-th delivery to arrive gets the k-th draw) or from
 *     getrandom(2) otherwise. A draw u is the top 53 bits as a double in [0, 1); the delivery
 *     fails when u < r, so r = 0 never fails and r = 1 always does.
 * splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014)
 * is a 64-bit state with a full period and good statistics: ample for a coin flip.
 *
 * struct failsim is owned by the caller (failsim_init() / failsim_release()); failsim_next()
 * is thread-safe.
 */
#ifndef FILE_SINK_FAILSIM_H
#define FILE_SINK_FAILSIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct failsim {
	pthread_mutex_t mu;
	double rate;		  /* rate policy */
	unsigned long long every; /* every-N policy when > 0 */
	unsigned long long count; /* deliveries decided so far */
	uint64_t state;		  /* splitmix64 state */
};

/* Every-N policy (n >= 1). */
void failsim_init_every(struct failsim *fs, unsigned long long n);
/* Rate policy; seed is used when has_seed, else the kernel's random source. */
void failsim_init_rate(struct failsim *fs, double rate, uint64_t seed, bool has_seed);
void failsim_release(struct failsim *fs);
/* Decides the next delivery: true = simulate a failure. */
bool failsim_next(struct failsim *fs);

/* One splitmix64 step: advances *state and returns the next output. */
uint64_t failsim_splitmix64(uint64_t *state);

#endif
