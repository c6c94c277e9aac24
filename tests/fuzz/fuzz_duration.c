/*
 * fuzz_duration: duration_parse() on arbitrary text; whatever parses must format to a
 * canonical string that parses back to the same value, and formatting is a fixpoint.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/duration.h"
#include "common/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	char out[DURATION_FMT_LEN], again[DURATION_FMT_LEN];
	long long ms = -1, back = -1;
	const char *why = NULL;

	if (duration_parse_why(s, &ms, &why) == 0) {
		if (ms < 0)
			abort();
		duration_format(ms, out);
		if (duration_parse(out, &back) != 0 || back != ms)
			abort();
		if (strcmp(duration_format(back, again), out))
			abort();
	} else if (!why || !*why || ms != -1) {
		abort();
	}
	if (size >= 8) {
		long long v;

		memcpy(&v, data, sizeof(v));
		duration_format(v, out);
		if (strlen(out) >= DURATION_FMT_LEN)
			abort();
	}
	free(s);
	return 0;
}
