/*
 * siphash.h: SipHash-2-4 with a 128-bit output (Aumasson and Bernstein, "SipHash: a fast
 * short-input PRF", 2012), computed incrementally.
 *
 * A keyed hash: with a secret random key (rand_bytes()), nobody who sees only the outputs can
 * choose inputs that collide, so a 128-bit digest can stand for a key of any length in a set
 * (file-sink's dedupe.h keeps 16 bytes per saved event instead of its source and id).
 *
 *	struct siphash h;
 *	uint64_t out[2];
 *
 *	siphash_init(&h, key);
 *	siphash_update(&h, data, n);    any number of times, any lengths
 *	siphash_final(&h, out);         out[0] is the first 8 output bytes, little-endian
 *
 * The output bytes equal the reference implementation's siphash() with outlen 16 over the
 * concatenated input (tests/unit/common/test_siphash.c checks its published vectors).
 * Ownership: struct siphash is plain caller-owned state; no allocation, thread-safe per state.
 */
#ifndef COMMON_SIPHASH_H
#define COMMON_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_BYTES 16

struct siphash {
	uint64_t v[4];
	uint64_t tail;	/* pending bytes, little-endian */
	size_t ntail;	/* 0..7 */
	uint64_t total; /* bytes hashed so far */
};

/* Starts a hash under the 16-byte key. */
void siphash_init(struct siphash *h, const unsigned char key[SIPHASH_KEY_BYTES]);
/* Adds n bytes. */
void siphash_update(struct siphash *h, const void *data, size_t n);
/* Finishes: the 128-bit digest as two 64-bit words (the state is spent). */
void siphash_final(struct siphash *h, uint64_t out[2]);

#endif
