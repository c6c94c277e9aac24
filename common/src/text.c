#include "common/text.h"

#include <string.h>
#include <strings.h>

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

void text_hex_encode(char *out, const void *bytes, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *in = bytes;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

static int is_cont(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

/*
 * The length of the sequence that lead byte c (>= 0x80) starts, with the bounds of its second
 * byte in lo and hi (no overlong forms, no surrogates, nothing past U+10FFFF), or 0 and *why.
 */
static size_t lead_length(unsigned char c, unsigned char *lo, unsigned char *hi, const char **why)
{
	*lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
	*hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
	if (c < 0xC0)
		*why = "unexpected continuation byte";
	else if (c < 0xC2)
		*why = "overlong encoding";
	else if (c > 0xF4)
		*why = c < 0xF8 ? "code point above U+10FFFF" : "invalid byte";
	else
		return c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	return 0;
}

size_t text_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp, const char **why)
{
	static const unsigned char lead_mask[5] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	unsigned char c = p[0], lo, hi;
	size_t len, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	len = lead_length(c, &lo, &hi, why);
	if (!len)
		return 0;
	if (n >= 2 && is_cont(p[1]) && (p[1] < lo || p[1] > hi)) {
		*why = c == 0xED   ? "UTF-16 surrogate"
		       : c == 0xF4 ? "code point above U+10FFFF"
				   : "overlong encoding";
		return 0;
	}
	*cp = c & lead_mask[len];
	for (i = 1; i < len; i++) {
		if (i >= n) {
			*why = "truncated sequence";
			return 0;
		}
		if (!is_cont(p[i])) {
			*why = "missing continuation byte";
			return 0;
		}
		*cp = *cp << 6 | (p[i] & 0x3f);
	}
	return len;
}

size_t text_utf8_seq(const unsigned char *p, size_t n)
{
	const char *why;
	uint32_t cp;

	return text_utf8_decode(p, n, &cp, &why);
}

size_t text_utf8_valid_len(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		k = text_utf8_seq(p + i, n - i);
		if (!k)
			break;
		i += k;
	}
	return i;
}

int text_utf8_cut(const char *s, size_t max)
{
	return (int)text_utf8_valid_len(s, strnlen(s, max));
}

int text_utf8_scrub(struct buf *out, const char *s, size_t n)
{
	size_t ok;
	int rc = 0;

	while (n && !rc) {
		ok = text_utf8_valid_len(s, n);
		rc = buf_append(out, s, ok);
		if (ok < n && !rc) {
			rc = buf_append(out, "\xEF\xBF\xBD", 3); /* U+FFFD for the byte at s[ok] */
			ok++;
		}
		s += ok;
		n -= ok;
	}
	return rc;
}

size_t text_utf8_next(const unsigned char *p, size_t n, uint32_t *cp)
{
	const char *why;
	size_t len = text_utf8_decode(p, n, cp, &why);

	if (len == 0) {
		*cp = p[0];
		return 1;
	}
	return len;
}

bool text_media_type_is_json(const char *ct, const char *type)
{
	const char *slash, *sub;
	size_t tlen, slen;

	if (!ct)
		return false;
	ct += strspn(ct, " \t");
	slash = strchr(ct, '/');
	if (!slash || slash == ct)
		return false;
	tlen = (size_t)(slash - ct);
	if (type && (strlen(type) != tlen || strncasecmp(ct, type, tlen) != 0))
		return false;
	sub = slash + 1;
	slen = strcspn(sub, "; \t");
	if (slen == 4 && strncasecmp(sub, "json", 4) == 0)
		return true;
	return slen > 5 && strncasecmp(sub + slen - 5, "+json", 5) == 0;
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

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

void text_trim_ows(const char **s, size_t *len)
{
	while (*len && is_ows(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && is_ows((*s)[*len - 1]))
		(*len)--;
}

const char *text_skip_ows(const char *s)
{
	while (is_ows(*s))
		s++;
	return s;
}

const char *text_url_authority(const char *url)
{
	if (!url)
		return NULL;
	if (!strncasecmp(url, "http://", 7))
		return url + 7;
	if (!strncasecmp(url, "https://", 8))
		return url + 8;
	return NULL;
}

char *text_percent_decode_ows(const char *s, size_t len)
{
	struct buf b;

	text_trim_ows(&s, &len);
	buf_init(&b, BUF_NOCAP);
	if (text_percent_decode(s, len, &b) || memchr(b.data, '\0', b.len)) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

int text_json_string(struct buf *out, const char *s)
{
	return text_json_stringn(out, s, strlen(s));
}

/* The letter of c's two-character JSON escape (\n for a newline), or 0 when it has none. */
static char short_escape(unsigned char c)
{
	switch (c) {
	case '"':
		return '"';
	case '\\':
		return '\\';
	case '\b':
		return 'b';
	case '\f':
		return 'f';
	case '\n':
		return 'n';
	case '\r':
		return 'r';
	case '\t':
		return 't';
	default:
		return 0;
	}
}

int text_json_stringn(struct buf *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, start = 0, k;
	int rc = buf_appendc(out, '"');
	char e;

	while (rc == 0 && i < n) {
		unsigned char c = p[i];

		k = c < 0x80 ? 1 : text_utf8_seq(p + i, n - i);
		if (k > 1 || (k == 1 && c >= 0x20 && c != '"' && c != '\\')) {
			i += k; /* part of the run copied as is */
			continue;
		}
		rc = buf_append(out, p + start, i - start);
		if (rc == 0 && (e = short_escape(c)) != 0)
			rc = buf_appendf(out, "\\%c", e);
		else if (rc == 0)
			rc = buf_appendf(out, "\\u%04x", c);
		start = ++i;
	}
	rc = rc ? rc : buf_append(out, p + start, n - start);
	return rc ? rc : buf_appendc(out, '"');
}
