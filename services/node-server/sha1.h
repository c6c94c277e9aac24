/*
 * sha1.h: SHA-1 (FIPS 180-4 §6.1), for the WebSocket Sec-WebSocket-Accept value only.
 * SHA-1 is broken for collision resistance: never use it for anything security-relevant.
 *
 * Incremental use: sha1_init(), any number of sha1_update(), sha1_final(). The struct lives
 * wherever the caller puts it and owns no memory. sha1_digest() does all three at once.
 */
#ifndef NODE_SERVER_SHA1_H
#define NODE_SERVER_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_DIGEST_LEN 20

struct sha1 {
	uint32_t h[5];
	uint64_t total;		 /* bytes hashed so far */
	unsigned char block[64]; /* pending partial block */
	size_t used;		 /* bytes in block */
};

void sha1_init(struct sha1 *s);
void sha1_update(struct sha1 *s, const void *data, size_t len);
/* Writes the digest; s must be sha1_init()ed again before reuse. */
void sha1_final(struct sha1 *s, unsigned char out[SHA1_DIGEST_LEN]);
/* SHA-1 of len bytes of data. */
void sha1_digest(const void *data, size_t len, unsigned char out[SHA1_DIGEST_LEN]);

#endif
