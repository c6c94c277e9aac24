/*
 * fuzz_journey: node-server's journey parsers on arbitrary input (services/node-server/
 * journey.h). The first byte picks the parser: a POST /journey body (journey_parse, then the
 * accepted records into a small store, read back) or a page's follow message
 * (journey_follow_parse). Accepted input must give what the parser promises.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/node-server/journey.h"
#include "common/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_records(const char *text, size_t len)
{
	static const struct journey_config cfg = { 4, 2, "exponential", 1000, NULL };
	struct journey *j;
	struct buf err;
	json_t *out = NULL, *r;
	size_t n;

	buf_init(&err, 4096);
	if (journey_parse(text, len, &out, &err) == 0) {
		if (!json_is_array(out) || json_array_size(out) == 0 ||
		    json_array_size(out) > JOURNEY_BATCH_MAX)
			abort();
		j = journey_new(&cfg);
		buf_reset(&err);
		if (journey_ingest(j, text, len, &n, &err) != 0 || n != json_array_size(out))
			abort();
		r = journey_get(j,
				json_string_value(json_object_get(json_array_get(out, 0), "id")));
		if (r == NULL)
			abort();
		json_decref(r);
		r = journey_delivery(j);
		json_decref(r);
		journey_free(j);
	} else if (err.len == 0) {
		abort(); /* a refusal always says why */
	}
	json_decref(out);
	buf_release(&err);
}

static void fuzz_follow(const char *text, size_t len)
{
	struct buf err;
	json_t *ids = NULL;
	int follow;

	buf_init(&err, 1024);
	if (journey_follow_parse(text, len, &follow, &ids, &err) == 0 &&
	    (json_array_size(ids) == 0 || json_array_size(ids) > JOURNEY_FOLLOW_MAX))
		abort();
	json_decref(ids);
	buf_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_follow((const char *)data + 1, size - 1);
	else
		fuzz_records((const char *)data + 1, size - 1);
	return 0;
}
