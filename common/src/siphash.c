/* siphash.c: SipHash-2-4, 128-bit output, incremental (see siphash.h). */
#include "common/siphash.h"

#include <string.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t load_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void sipround(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = ROTL(v[1], 13);
	v[1] ^= v[0];
	v[0] = ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = ROTL(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = ROTL(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = ROTL(v[1], 17);
	v[1] ^= v[2];
	v[2] = ROTL(v[2], 32);
}

/* One message word: two compression rounds. */
static void compress(uint64_t v[4], uint64_t m)
{
	v[3] ^= m;
	sipround(v);
	sipround(v);
	v[0] ^= m;
}

void siphash_init(struct siphash *h, const unsigned char key[SIPHASH_KEY_BYTES])
{
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);

	memset(h, 0, sizeof(*h)); /* no tail, nothing hashed yet */
	h->v[0] = k0 ^ 0x736f6d6570736575ULL;
	h->v[1] = k1 ^ 0x646f72616e646f6dULL ^ 0xee; /* 0xee: the 128-bit output variant */
	h->v[2] = k0 ^ 0x6c7967656e657261ULL;
	h->v[3] = k1 ^ 0x7465646279746573ULL;
}

void siphash_update(struct siphash *h, const void *data, size_t n)
{
	const unsigned char *p = data;

	h->total += n;
	while (n > 0 && h->ntail > 0) {
		h->tail |= (uint64_t)*p++ << (8 * h->ntail);
		n--;
		if (++h->ntail == 8) {
			compress(h->v, h->tail);
			h->tail = 0;
			h->ntail = 0;
		}
	}
	for (; n >= 8; p += 8, n -= 8)
		compress(h->v, load_le64(p));
	for (; n > 0; n--)
		h->tail |= (uint64_t)*p++ << (8 * h->ntail++);
}

void siphash_final(struct siphash *h, uint64_t out[2])
{
	uint64_t *v = h->v;

	compress(v, h->tail | (h->total << 56));
	v[2] ^= 0xee;
	for (int i = 0; i < 4; i++)
		sipround(v);
	out[0] = v[0] ^ v[1] ^ v[2] ^ v[3];
	v[1] ^= 0xdd;
	for (int i = 0; i < 4; i++)
		sipround(v);
	out[1] = v[0] ^ v[1] ^ v[2] ^ v[3];
}
