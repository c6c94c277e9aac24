#include "common/text.h"

#include <string.h>

#include "common/xalloc.h"

int text_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t text_utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xBF;
	size_t len, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		lo = c == 0xE0 ? 0xA0 : 0x80; /* no overlong forms */
		hi = c == 0xED ? 0x9F : 0xBF; /* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		lo = c == 0xF0 ? 0x90 : 0x80;
		hi = c == 0xF4 ? 0x8F : 0xBF; /* nothing past U+10FFFF */
	} else {
		return 0;
	}
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	return len;
}

size_t text_utf8_next(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t len = text_utf8_seq(p, n), i;
	static const unsigned char lead_mask[5] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };

	if (len == 0) {
		*cp = p[0];
		return 1;
	}
	*cp = p[0] & lead_mask[len];
	for (i = 1; i < len; i++)
		*cp = *cp << 6 | (p[i] & 0x3f);
	return len;
}

int text_percent_decode(const char *s, size_t len, struct buf *out)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] != '%') {
			if (buf_appendc(out, s[i]))
				return -1;
			continue;
		}
		hi = i + 1 < len ? text_hex_value(s[i + 1]) : -1;
		lo = i + 2 < len ? text_hex_value(s[i + 2]) : -1;
		if (hi < 0 || lo < 0 || buf_appendc(out, (char)(hi << 4 | lo)))
			return -1;
		i += 2;
	}
	return 0;
}

char *text_percent_decode_ows(const char *s, size_t len)
{
	struct buf b;

	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	buf_init(&b, BUF_NOCAP);
	if (text_percent_decode(s, len, &b) || memchr(b.data, '\0', b.len)) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

int text_json_string(struct buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, start = 0, k;
	int rc = buf_appendc(out, '"');

	while (rc == 0 && i < n) {
		unsigned char c = p[i];

		k = c < 0x80 ? 1 : text_utf8_seq(p + i, n - i);
		if (k > 1 || (k == 1 && c >= 0x20 && c != '"' && c != '\\')) {
			i += k; /* part of the run copied as is */
			continue;
		}
		rc = buf_append(out, p + start, i - start);
		if (rc == 0 && (c == '"' || c == '\\'))
			rc = buf_appendf(out, "\\%c", c);
		else if (rc == 0)
			rc = buf_appendf(out, "\\u%04x", c);
		start = ++i;
	}
	rc = rc ? rc : buf_append(out, p + start, n - start);
	return rc ? rc : buf_appendc(out, '"');
}
