/*
 * fuzz_traceparent: the input is split at the first NUL byte into a traceparent value and a
 * tracestate list (itself split at '\n' into several headers). Checks the invariants:
 * a parsed traceparent formats to 55 lowercase characters that parse back to the same ids;
 * a valid tracestate is within TRACESTATE_PROPAGATE characters, has at most 32 members and
 * parses back to itself; the header extraction never disagrees with the parsers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/trace.h"
#include "common/traceparent.h"
#include "common/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_traceparent(const char *tp)
{
	struct traceparent a, b;
	char out[TRACEPARENT_LEN + 1];

	if (traceparent_parse1(tp, &a))
		return;
	traceparent_format(&a, out);
	if (strlen(out) != TRACEPARENT_LEN || strncmp(out, "00-", 3))
		abort();
	if (traceparent_parse1(out, &b) || memcmp(&a, &b, sizeof(a)))
		abort();
}

static void check_tracestate(const char *const *v, size_t n)
{
	char out[TRACESTATE_PROPAGATE + 1], again[TRACESTATE_PROPAGATE + 1];
	const char *p = out;
	int members = tracestate_parse(v, n, out, sizeof(out));

	if (members < 0) {
		if (out[0])
			abort();
		return;
	}
	if (members > TRACESTATE_MAX_MEMBERS || strlen(out) > TRACESTATE_PROPAGATE)
		abort();
	if (tracestate_parse(&p, 1, again, sizeof(again)) != members || strcmp(out, again))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1), *ts, *line;
	const char *vals[8];
	struct http_header h[9];
	struct trace_context ctx;
	size_t n = 0;

	memcpy(s, data, size);
	s[size] = '\0';
	ts = memchr(s, '\0', size) ? s + strlen(s) + 1 : s + size;
	if (ts > s + size)
		ts = s + size;
	check_traceparent(s);
	for (line = ts; n < 8;) {
		char *nl = strchr(line, '\n');

		vals[n++] = line;
		if (!nl)
			break;
		*nl = '\0';
		line = nl + 1;
	}
	check_tracestate(vals, n);
	h[0].name = "traceparent";
	h[0].value = s;
	for (size_t i = 0; i < n; i++) {
		h[i + 1].name = "tracestate";
		h[i + 1].value = vals[i];
	}
	if (trace_context_extract(h, n + 1, &ctx) == 0) {
		struct traceparent tp;

		if (traceparent_parse1(s, &tp) || memcmp(tp.trace_id, ctx.trace_id, 16))
			abort();
	}
	free(s);
	return 0;
}
