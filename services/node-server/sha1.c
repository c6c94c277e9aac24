/* sha1.c: SHA-1 as specified in FIPS 180-4 §5.1.1, §5.3.1 and §6.1.2. */
#include "sha1.h"

#include <string.h>

static uint32_t rol32(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

static uint32_t load_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* f_t and K_t for round t (FIPS 180-4 §4.1.1, §4.2.1). */
static uint32_t round_fk(unsigned t, uint32_t b, uint32_t c, uint32_t d, uint32_t *k)
{
	if (t < 20) {
		*k = 0x5a827999u;
		return (b & c) | (~b & d);
	}
	if (t < 40) {
		*k = 0x6ed9eba1u;
		return b ^ c ^ d;
	}
	if (t < 60) {
		*k = 0x8f1bbcdcu;
		return (b & c) | (b & d) | (c & d);
	}
	*k = 0xca62c1d6u;
	return b ^ c ^ d;
}

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[80];
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	unsigned t;

	for (t = 0; t < 16; t++)
		w[t] = load_be32(p + 4 * (size_t)t);
	for (t = 16; t < 80; t++)
		w[t] = rol32(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
	for (t = 0; t < 80; t++) {
		uint32_t k;
		uint32_t f = round_fk(t, b, c, d, &k);
		uint32_t tmp = rol32(a, 5) + f + e + k + w[t];

		e = d;
		d = c;
		c = rol32(b, 30);
		b = a;
		a = tmp;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

void sha1_init(struct sha1 *s)
{
	static const uint32_t iv[5] = { 0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u,
					0xc3d2e1f0u };

	memset(s, 0, sizeof(*s));
	memcpy(s->h, iv, sizeof(iv));
}

void sha1_update(struct sha1 *s, const void *data, size_t len)
{
	const unsigned char *p = data;

	s->total += len;
	if (s->used) {
		size_t take = 64 - s->used < len ? 64 - s->used : len;

		memcpy(s->block + s->used, p, take);
		s->used += take;
		p += take;
		len -= take;
		if (s->used < 64)
			return;
		sha1_block(s->h, s->block);
		s->used = 0;
	}
	for (; len >= 64; p += 64, len -= 64)
		sha1_block(s->h, p);
	if (len) {
		memcpy(s->block, p, len);
		s->used = len;
	}
}

void sha1_final(struct sha1 *s, unsigned char out[SHA1_DIGEST_LEN])
{
	uint64_t bits = s->total * 8;
	unsigned i;

	/* Padding (§5.1.1): 0x80, zeros up to 56 mod 64, then the bit length big-endian. */
	s->block[s->used++] = 0x80;
	if (s->used > 56) {
		memset(s->block + s->used, 0, 64 - s->used);
		sha1_block(s->h, s->block);
		s->used = 0;
	}
	memset(s->block + s->used, 0, 56 - s->used);
	for (i = 0; i < 8; i++)
		s->block[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
	sha1_block(s->h, s->block);
	for (i = 0; i < 5; i++)
		store_be32(out + 4 * (size_t)i, s->h[i]);
	memset(s, 0, sizeof(*s));
}

void sha1_digest(const void *data, size_t len, unsigned char out[SHA1_DIGEST_LEN])
{
	struct sha1 s;

	sha1_init(&s);
	sha1_update(&s, data, len);
	sha1_final(&s, out);
}
