/*
 * traceparent.c: W3C traceparent/tracestate parsing and formatting (see traceparent.h).
 */
#include "common/traceparent.h"

#include <string.h>

#include "common/err.h"
#include "common/text.h"

/* A lower-case hex digit's value, or -1: upper case is invalid in trace context. */
static int hexval(char c)
{
	return c >= 'A' && c <= 'F' ? -1 : text_hex_value(c);
}

int traceparent_unhex(const char *hex, size_t n, uint8_t *bytes)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo;

		if (hi < 0)
			return ERR_BAD_REQUEST;
		lo = hexval(hex[2 * i + 1]);
		if (lo < 0)
			return ERR_BAD_REQUEST;
		bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int nonzero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 1;
	return 0;
}

int traceparent_ids_valid(const uint8_t trace_id[16], const uint8_t span_id[8])
{
	return nonzero(trace_id, 16) && nonzero(span_id, 8);
}

static int parse_value(const char *v, size_t len, struct traceparent *out)
{
	uint8_t version, flags;

	if (len < TRACEPARENT_LEN)
		return ERR_BAD_REQUEST;
	if (traceparent_unhex(v, 1, &version) || version == 0xff)
		return ERR_BAD_REQUEST;
	if (version == 0 && len != TRACEPARENT_LEN)
		return ERR_BAD_REQUEST;
	if (len > TRACEPARENT_LEN && v[TRACEPARENT_LEN] != '-')
		return ERR_BAD_REQUEST;
	if (v[2] != '-' || v[35] != '-' || v[52] != '-')
		return ERR_BAD_REQUEST;
	if (traceparent_unhex(v + 3, 16, out->trace_id) ||
	    traceparent_unhex(v + 36, 8, out->span_id) || traceparent_unhex(v + 53, 1, &flags))
		return ERR_BAD_REQUEST;
	if (!traceparent_ids_valid(out->trace_id, out->span_id))
		return ERR_BAD_REQUEST;
	out->flags = flags & TRACE_FLAG_SAMPLED;
	return 0;
}

int traceparent_parse(const char *const *values, size_t n, struct traceparent *out)
{
	const char *v;
	size_t len;
	int rc;

	memset(out, 0, sizeof(*out));
	if (n != 1 || !values[0])
		return ERR_BAD_REQUEST;
	v = values[0];
	len = strlen(v);
	text_trim_ows(&v, &len);
	rc = parse_value(v, len, out);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

int traceparent_parse1(const char *value, struct traceparent *out)
{
	return traceparent_parse(&value, 1, out);
}

void traceparent_format(const struct traceparent *tp, char out[TRACEPARENT_LEN + 1])
{
	out[0] = '0';
	out[1] = '0';
	out[2] = '-';
	text_hex_encode(out + 3, tp->trace_id, 16);
	out[35] = '-';
	text_hex_encode(out + 36, tp->span_id, 8);
	out[52] = '-';
	text_hex_encode(out + 53, &tp->flags, 1);
}

/* ---- tracestate ---------------------------------------------------------------------------- */

static int key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
	       c == '*' || c == '/';
}

static int valid_key(const char *k, size_t len)
{
	const char *at = memchr(k, '@', len);
	size_t i;

	if (len == 0 || len > 256)
		return 0;
	if (!((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= '0' && k[0] <= '9')))
		return 0;
	for (i = 0; i < len; i++)
		if (!key_char(k[i]) && k + i != at)
			return 0;
	if (at) {
		size_t tenant = (size_t)(at - k), system = len - tenant - 1;

		if (tenant > 241 || system == 0 || system > 14)
			return 0;
		if (at[1] < 'a' || at[1] > 'z')
			return 0;
	}
	return 1;
}

static int valid_value(const char *v, size_t len)
{
	if (len == 0 || len > 256 || v[len - 1] == ' ')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (v[i] < 0x20 || v[i] > 0x7e || v[i] == ',' || v[i] == '=')
			return 0;
	return 1;
}

struct member {
	const char *s;
	size_t len;
	size_t keylen;
};

/* Validates one trimmed, non-empty member and records it in m[*n]. */
static int add_member(const char *s, size_t len, struct member *m, size_t *n)
{
	const char *eq = memchr(s, '=', len);
	size_t keylen;

	if (!eq)
		return ERR_BAD_REQUEST;
	keylen = (size_t)(eq - s);
	if (!valid_key(s, keylen) || !valid_value(eq + 1, len - keylen - 1))
		return ERR_BAD_REQUEST;
	if (*n == TRACESTATE_MAX_MEMBERS)
		return ERR_BAD_REQUEST;
	for (size_t i = 0; i < *n; i++)
		if (m[i].keylen == keylen && !memcmp(m[i].s, s, keylen))
			return ERR_BAD_REQUEST;
	m[*n].s = s;
	m[*n].len = len;
	m[*n].keylen = keylen;
	(*n)++;
	return 0;
}

/* Splits one header value into members. */
static int split_value(const char *v, struct member *m, size_t *n)
{
	for (;;) {
		const char *comma = strchr(v, ',');
		size_t len = comma ? (size_t)(comma - v) : strlen(v);
		const char *s = v;

		text_trim_ows(&s, &len);
		if (len && add_member(s, len, m, n))
			return ERR_BAD_REQUEST;
		if (!comma)
			return 0;
		v = comma + 1;
	}
}

/* Writes the members into out (outsz >= 1), joined by ','; stops before overflowing. */
static size_t join_members(const struct member *m, size_t n, char *out, size_t outsz)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		size_t need = m[i].len + (len ? 1 : 0);

		if (len + need >= outsz) {
			/* too big for out even before truncation: drop it (it would be truncated) */
			continue;
		}
		if (len)
			out[len++] = ',';
		memcpy(out + len, m[i].s, m[i].len);
		len += m[i].len;
	}
	out[len] = '\0';
	return len;
}

int tracestate_parse(const char *const *values, size_t n, char *out, size_t outsz)
{
	struct member m[TRACESTATE_MAX_MEMBERS];
	size_t nm = 0, limit = outsz - 1;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (values[i] && split_value(values[i], m, &nm))
			return ERR_BAD_REQUEST;
	if (limit > TRACESTATE_PROPAGATE)
		limit = TRACESTATE_PROPAGATE;
	if (nm == 0)
		return 0;
	{
		/* Join into a scratch buffer large enough for 32 maximal members, then truncate. */
		char full[TRACESTATE_MAX_MEMBERS * 515];
		size_t len;

		join_members(m, nm, full, sizeof(full));
		len = tracestate_truncate(full, limit);
		memcpy(out, full, len + 1);
	}
	{
		int count = out[0] ? 1 : 0;

		for (const char *p = out; *p; p++)
			count += *p == ',';
		return count;
	}
}

/* Removes the member [start, end) (end is at ',' or NUL) from s of length *len. */
static void remove_member(char *s, size_t *len, size_t start, size_t end)
{
	if (end < *len) {
		end++; /* swallow the following comma */
	} else if (start > 0) {
		start--; /* last member: swallow the preceding comma */
	}
	memmove(s + start, s + end, *len - end + 1);
	*len -= end - start;
}

/* Finds the leftmost member longer than TRACESTATE_BIG_MEMBER; 0 if none. */
static int find_big(const char *s, size_t len, size_t *start, size_t *end)
{
	size_t b = 0;

	while (b < len) {
		const char *comma = memchr(s + b, ',', len - b);
		size_t e = comma ? (size_t)(comma - s) : len;

		if (e - b > TRACESTATE_BIG_MEMBER) {
			*start = b;
			*end = e;
			return 1;
		}
		b = e + 1;
	}
	return 0;
}

size_t tracestate_truncate(char *s, size_t limit)
{
	size_t len = strlen(s), start, end;

	while (len > limit) {
		if (find_big(s, len, &start, &end)) {
			remove_member(s, &len, start, end);
		} else {
			const char *last = strrchr(s, ',');

			start = last ? (size_t)(last - s) + 1 : 0;
			remove_member(s, &len, start, len);
		}
	}
	return len;
}
