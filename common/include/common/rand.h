/*
 * rand.h: random bytes and identifiers from the kernel's CSPRNG (getrandom(2)).
 *
 * All functions are thread-safe and keep no state. They are meant for identifiers
 * (CloudEvent ids, W3C trace and span ids), not for keys, though the source would do for both.
 */
#ifndef COMMON_RAND_H
#define COMMON_RAND_H

#include <stddef.h>

/*
 * Fills buf with n random bytes. Retries on EINTR and short reads.
 * Returns 0, or ERR_IO if the kernel cannot provide randomness (no getrandom(2)).
 */
int rand_bytes(void *buf, size_t n);

/*
 * Writes a random RFC 4122 version 4 UUID as 36 lowercase characters plus a NUL,
 * e.g. "0b6e3f0c-7d2a-4c1e-9f3b-5a0d8e7c6b41" (version nibble 4, variant bits 10xx).
 * Aborts the process if the kernel has no randomness, which does not happen on Linux >= 3.17.
 */
void rand_uuid_v4(char out[37]);

/*
 * Writes nbytes random bytes as 2 * nbytes lowercase hex characters plus a NUL into out
 * (which must hold 2 * nbytes + 1 bytes). The value is never all zeros when nbytes > 0, so
 * rand_hex(id, 16) is a valid W3C trace-id and rand_hex(id, 8) a valid span-id (all-zero ids
 * are invalid there); an all-zero draw is simply drawn again. Aborts as rand_uuid_v4() does.
 */
void rand_hex(char *out, size_t nbytes);

#endif
