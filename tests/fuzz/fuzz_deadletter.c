/*
 * fuzz_deadletter: deadletter_record() on arbitrary knativeerror* values. The input is split
 * at the first two '\n' into knativeerrordest, knativeerrorcode and knativeerrordata. Every
 * record must have the three members, a response that is valid UTF-8 (jansson strings are),
 * an encoding that matches the response, and a code that round-trips through the parser.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/dead-letter-logger/deadletter.h"
#include "common/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(json_t *rec, const struct deadletter_info *info, const char *code)
{
	json_t *err = json_object_get(rec, "error");
	json_t *jcode = json_object_get(err, "code");
	json_t *resp = json_object_get(err, "response");
	int back;

	if (!json_is_object(json_object_get(rec, "event")) || !json_is_object(err))
		abort();
	if (info->has_code != json_is_integer(jcode))
		abort();
	if (info->has_code && (deadletter_parse_code(code, &back) != 0 || back != info->code))
		abort();
	if (info->encoding && !json_is_string(resp))
		abort();
	if (info->encoding && strcmp(info->encoding, "text") && strcmp(info->encoding, "base64") &&
	    strcmp(info->encoding, "raw"))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	char *parts[3] = { s, NULL, NULL };
	struct ce_event *ev = ce_event_new();
	struct deadletter_info info;
	json_t *rec;

	for (int i = 1; i < 3; i++) {
		char *nl = parts[i - 1] ? strchr(parts[i - 1], '\n') : NULL;

		if (nl) {
			*nl = '\0';
			parts[i] = nl + 1;
		}
	}
	if (ce_set(ev, "specversion", "1.0") || ce_set(ev, "id", "1") ||
	    ce_set(ev, "source", "/s") || ce_set(ev, "type", "t"))
		abort();
	/* Values the event model refuses (bad UTF-8, control characters) are left unset. */
	if (parts[0])
		(void)ce_set(ev, DEADLETTER_EXT_DEST, parts[0]);
	if (parts[1])
		(void)ce_set(ev, DEADLETTER_EXT_CODE, parts[1]);
	if (parts[2])
		(void)ce_set(ev, DEADLETTER_EXT_DATA, parts[2]);
	rec = deadletter_record(ev, "2026-01-01T00:00:00.000Z", &info);
	check(rec, &info, ce_get(ev, DEADLETTER_EXT_CODE));
	json_decref(rec);
	ce_event_free(ev);
	free(s);
	return 0;
}
