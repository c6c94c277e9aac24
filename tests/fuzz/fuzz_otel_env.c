/*
 * fuzz_otel_env: the OpenTelemetry settings every service reads from its environment, and the
 * collector's Retry-After. The input up to its first NUL is one text. It is given whole to
 * the list parsers (OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS: header_list_parse(),
 * trace_resource_parse(), otlp_parse_headers()) and to otlp_retry_after_ms(), and split at
 * its first '\n' into a (name, arg) pair for trace_sampler_parse() and a (base, signal URL)
 * pair for otlp_endpoint_url(). The whole input, NUL bytes included, is percent-decoded
 * (text_percent_decode()). Invariants:
 *   - a parsed list, percent-encoded again, parses back to the same members; a failed parse
 *     leaves the members the list held before (and trace_resource_parse() the resource);
 *   - otlp_parse_headers() accepts exactly the lists whose names are tokens and whose values
 *     are header values, and leaves nothing behind when it refuses;
 *   - percent-decoding succeeds exactly when every '%' starts an escape, and each escape
 *     becomes one byte;
 *   - a Retry-After is -1 or a wait; the IMF-fixdate of a time t (drawn from the input)
 *     gives (t - now) seconds, or 0 for a past t;
 *   - the sampler's ratio stays in 0..1; an export URL keeps an http(s) authority and, built
 *     from a base, ends in "/v1/traces".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/header.h"
#include "common/http_check.h"
#include "common/log.h"
#include "common/otlp.h"
#include "common/text.h"
#include "common/trace.h"
#include "common/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Appends s with every byte but letters and digits as a %XX escape. */
static void percent_encode(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (is_alnum((unsigned char)*s))
			buf_appendc(out, *s);
		else
			buf_appendf(out, "%%%02X", (unsigned char)*s);
	}
}

static int same_member(const struct http_header *a, const struct http_header *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->value, b->value);
}

/* plain: text parsed into an empty list, when listed (header_list_parse() gave 0). */
static void check_list(const char *text, const struct header_list *plain, int listed)
{
	struct header_list l = HEADER_LIST_INIT, again = HEADER_LIST_INIT;
	struct buf enc;

	header_list_add(&l, "seed", "1");
	if (header_list_parse(&l, text) != 0) {
		if (listed || l.n != 1 || strcmp(l.v[0].name, "seed") || strcmp(l.v[0].value, "1"))
			abort(); /* a refusal keeps what the list held */
		header_list_release(&l);
		return;
	}
	if (!listed || l.n != plain->n + 1)
		abort();
	buf_init(&enc, BUF_NOCAP);
	for (size_t i = 1; i < l.n; i++) {
		if (!same_member(&l.v[i], &plain->v[i - 1]))
			abort(); /* parsing appends: the seed does not change what is parsed */
		if (!l.v[i].name[0])
			abort(); /* keys are never empty */
		if (i > 1)
			buf_appends(&enc, " , ");
		percent_encode(&enc, l.v[i].name);
		buf_appends(&enc, " = ");
		percent_encode(&enc, l.v[i].value);
	}
	if (header_list_parse(&again, enc.data) != 0 || again.n != l.n - 1)
		abort();
	for (size_t i = 0; i < again.n; i++)
		if (!same_member(&again.v[i], &l.v[i + 1]))
			abort();
	buf_release(&enc);
	header_list_release(&again);
	header_list_release(&l);
}

/* The value the resource must hold for key after parsing list l: its last member's. */
static const char *last_value(const struct header_list *l, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].name, key))
			v = l->v[i].value;
	return v;
}

static void check_resource(const char *text, const struct header_list *l, int listed)
{
	struct trace_resource res = { 0 };

	trace_resource_set(&res, "service.name", "before");
	if (trace_resource_parse(&res, text) != 0) {
		const char *kept = trace_resource_get(&res, "service.name");

		if (listed || res.n != 1 || !kept || strcmp(kept, "before"))
			abort(); /* a refusal leaves the resource as it was */
	} else {
		if (!listed)
			abort();
		for (size_t i = 0; i < l->n; i++) {
			const char *got = trace_resource_get(&res, l->v[i].name);

			if (!got || strcmp(got, last_value(l, l->v[i].name)))
				abort();
		}
		for (size_t i = 0; i < res.n; i++) /* keys stay unique */
			for (size_t j = i + 1; j < res.n; j++)
				if (!strcmp(res.attrs[i].key, res.attrs[j].key))
					abort();
	}
	trace_resource_release(&res);
}

static void check_headers(const char *text, const struct header_list *l, int listed)
{
	struct header_list h = HEADER_LIST_INIT;
	int ok = listed;

	for (size_t i = 0; ok && i < l->n; i++)
		ok = http_check_token(l->v[i].name) && http_check_value(l->v[i].value);
	if ((otlp_parse_headers(text, &h) == 0) != ok)
		abort();
	if (ok ? h.n != l->n : h.n != 0)
		abort();
	for (size_t i = 0; ok && i < l->n; i++)
		if (!same_member(&h.v[i], &l->v[i]))
			abort();
	header_list_release(&h);
}

static void check_percent(const char *s, size_t len)
{
	struct buf out;
	size_t escapes = 0;
	int valid = 1;

	for (size_t i = 0; valid && i < len; i++) {
		if (s[i] != '%')
			continue;
		valid =
		    i + 2 < len && text_hex_value(s[i + 1]) >= 0 && text_hex_value(s[i + 2]) >= 0;
		escapes++;
		i += 2;
	}
	buf_init(&out, BUF_NOCAP);
	if ((text_percent_decode(s, len, &out) == 0) != valid)
		abort();
	if (valid && out.len != len - 2 * escapes)
		abort();
	buf_release(&out);
}

static void check_retry_after(const char *text, const uint8_t *data, size_t size)
{
	const long long now = 1764547200; /* 2025-12-01T00:00:00Z */
	long long got = otlp_retry_after_ms(text, now), t = 0;
	char date[64];
	struct tm tm;
	time_t tt;

	if (got < -1)
		abort();
	for (size_t i = 0; i < size && i < 5; i++)
		t = t << 8 | data[i];
	t %= 253402300800LL; /* up to 9999-12-31 */
	tt = (time_t)t;
	/* the C locale (nothing calls setlocale()): English day and month names */
	if (!gmtime_r(&tt, &tm) || !strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm))
		abort();
	if (otlp_retry_after_ms(date, now) != (t > now ? (t - now) * 1000 : 0))
		abort();
}

static void check_pair(const char *a, const char *b)
{
	struct trace_sampler s;
	struct buf url;
	const char *auth;

	trace_sampler_parse(a, b, &s);
	if (!(s.ratio >= 0.0 && s.ratio <= 1.0) || s.kind > TRACE_SAMPLER_PARENT_RATIO)
		abort();
	buf_init(&url, BUF_NOCAP);
	if (otlp_endpoint_url(a, b, "traces", &url) == 0) {
		auth = text_url_authority(url.data);
		if (!auth || !*auth || *auth == '/')
			abort();
		if (!*b && (url.len < 10 || strcmp(url.data + url.len - 10, "/v1/traces")))
			abort();
	}
	buf_release(&url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	struct header_list l = HEADER_LIST_INIT;
	char *s = xmalloc(size + 1), *nl;
	int listed;

	if (!quiet)
		quiet = log_init("fuzz_otel_env", "error") == 0; /* the sampler's warnings */
	memcpy(s, data, size);
	s[size] = '\0';
	listed = header_list_parse(&l, s) == 0;
	check_list(s, &l, listed);
	check_resource(s, &l, listed);
	check_headers(s, &l, listed);
	header_list_release(&l);
	check_percent((const char *)data, size); /* exactly size bytes: no terminator to lean on */
	check_retry_after(s, data, size);
	nl = strchr(s, '\n');
	if (nl) {
		*nl = '\0';
		check_pair(s, nl + 1);
	} else {
		check_pair(s, "");
	}
	free(s);
	return 0;
}
