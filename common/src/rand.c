#include "common/rand.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "common/err.h"
#include "common/text.h"

int rand_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return ERR_IO;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* rand_bytes() for callers that have no way to report failure: the process cannot go on. */
static void rand_bytes_or_die(void *buf, size_t n)
{
	if (rand_bytes(buf, n) == 0)
		return;
	fputs("fatal: getrandom(2) failed: no randomness available\n", stderr);
	abort();
}

void rand_uuid_v4(char out[37])
{
	unsigned char b[16];
	char hex[33];
	size_t o = 0;

	rand_bytes_or_die(b, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10xx (RFC 4122) */
	text_hex_encode(hex, b, sizeof(b));
	for (size_t i = 0; i < 32; i++) {
		if (i == 8 || i == 12 || i == 16 || i == 20)
			out[o++] = '-';
		out[o++] = hex[i];
	}
	out[o] = '\0';
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i])
			return 0;
	}
	return 1;
}

void rand_hex(char *out, size_t nbytes)
{
	unsigned char chunk[32];
	int nonzero = 0;

	out[0] = '\0';
	/* Any length works, in chunks; an all-zero value (2^-64 for a span id) is drawn again. */
	while (nbytes > 0 && !nonzero) {
		for (size_t done = 0, n; done < nbytes; done += n) {
			n = nbytes - done < sizeof(chunk) ? nbytes - done : sizeof(chunk);
			rand_bytes_or_die(chunk, n);
			nonzero |= !all_zero(chunk, n);
			text_hex_encode(out + 2 * done, chunk, n);
		}
	}
}
