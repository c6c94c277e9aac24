/* base64.c: see base64.h. */
#include "common/base64.h"

#include <stdint.h>
#include <string.h>

#include "common/err.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_encode(const void *data, size_t len, struct buf *out)
{
	const unsigned char *s = data;
	char q[4];
	size_t i;
	uint32_t v;

	for (i = 0; i < len; i += 3) {
		v = (uint32_t)s[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		q[0] = b64_alphabet[v >> 18 & 63];
		q[1] = b64_alphabet[v >> 12 & 63];
		q[2] = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
		q[3] = i + 2 < len ? b64_alphabet[v & 63] : '=';
		if (buf_append(out, q, 4))
			return ERR_TOO_LARGE;
	}
	return 0;
}

int base64_value(char c)
{
	const char *p = c ? strchr(b64_alphabet, c) : NULL;

	return p ? (int)(p - b64_alphabet) : -1;
}

int base64_decode(const char *s, size_t len, struct buf *out)
{
	int vals[4], nq = 0, pad = 0, v;
	unsigned char bytes[3];
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\r' || s[i] == '\n')
			continue;
		if (s[i] == '=') {
			v = 0;
			pad++;
		} else {
			v = base64_value(s[i]);
			if (v < 0 || pad)
				return ERR_VALIDATION;
		}
		vals[nq++] = v;
		if (nq < 4)
			continue;
		if (pad > 2)
			return ERR_VALIDATION;
		bytes[0] = (unsigned char)(vals[0] << 2 | vals[1] >> 4);
		bytes[1] = (unsigned char)((vals[1] & 15) << 4 | vals[2] >> 2);
		bytes[2] = (unsigned char)((vals[2] & 3) << 6 | vals[3]);
		if (buf_append(out, bytes, (size_t)(3 - pad)))
			return ERR_TOO_LARGE;
		nq = 0;
		if (pad)
			break;
	}
	for (i++; i < len; i++)
		if (s[i] != '\r' && s[i] != '\n')
			return ERR_VALIDATION;
	return nq ? ERR_VALIDATION : 0;
}
