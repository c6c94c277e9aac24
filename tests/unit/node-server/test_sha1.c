/* Unit tests for sha1.c: FIPS 180-4 / FIPS 180-2 appendix A vectors and the RFC 6455 key. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../services/node-server/sha1.h"
#include "../../../services/node-server/ws.h"

#include "../unit.h"
#include "common/xalloc.h"

static void hex(const unsigned char d[SHA1_DIGEST_LEN], char out[2 * SHA1_DIGEST_LEN + 1])
{
	size_t i;

	for (i = 0; i < SHA1_DIGEST_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

struct vec {
	const char *msg;
	size_t repeat; /* msg is hashed this many times back to back */
	const char *digest;
};

static const struct vec vecs[] = {
	{ "abc", 1, "a9993e364706816aba3e25717850c26c9cd0d89d" },
	{ "", 1, "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
	{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
	  "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
	{ "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
	  "l"
	  "mnopqrsmnopqrstnopqrstu",
	  1, "a49b2446a02c645bf419f995b67091253a04a259" },
	{ "a", 1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f" },
	/* 64 bytes: the padding needs a second block */
	{ "0123456701234567012345670123456701234567012345670123456701234567", 1,
	  "e0c094e867ef46c350ef54a7f59dd60bed92ae83" },
};

Test(sha1, fips_vectors, LEAK_FINI)
{
	size_t i, r;

	for (i = 0; i < ARRAY_SIZE(vecs); i++) {
		unsigned char d[SHA1_DIGEST_LEN];
		char got[2 * SHA1_DIGEST_LEN + 1];
		struct sha1 s;

		sha1_init(&s);
		for (r = 0; r < vecs[i].repeat; r++)
			sha1_update(&s, vecs[i].msg, strlen(vecs[i].msg));
		sha1_final(&s, d);
		hex(d, got);
		cr_expect_str_eq(got, vecs[i].digest, "vector %zu", i);
	}
}

/* Feeding the same bytes in chunks of every size from 1 to 130 gives the one-shot digest. */
Test(sha1, chunking_does_not_matter, LEAK_FINI)
{
	unsigned char msg[1000], want[SHA1_DIGEST_LEN], got[SHA1_DIGEST_LEN];
	size_t i, chunk;

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(i * 31 + 7);
	sha1_digest(msg, sizeof(msg), want);
	for (chunk = 1; chunk <= 130; chunk++) {
		struct sha1 s;

		sha1_init(&s);
		for (i = 0; i < sizeof(msg); i += chunk)
			sha1_update(&s, msg + i, i + chunk > sizeof(msg) ? sizeof(msg) - i : chunk);
		sha1_final(&s, got);
		cr_expect(memcmp(got, want, sizeof(want)) == 0, "chunk %zu", chunk);
	}
}

/* RFC 6455 §1.3: the sample nonce and its accept value. */
Test(sha1, rfc6455_accept_key, LEAK_FINI)
{
	char accept[WS_ACCEPT_LEN + 1];

	cr_assert_eq(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", accept), 0);
	cr_expect_str_eq(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
