/*
 * fuzz_config: config_parse() over every type with arbitrary text. Besides memory errors,
 * it checks the contract: an accepted value obeys its type's rule, and a rejected one leaves
 * the field untouched and yields one line naming the variable.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const choices[] = { "otlp", "none", "console", NULL };

static const struct config_var vars[] = {
	{ "S", CONFIG_STRING, 0, NULL, 0, 0, NULL, "" },
	{ "U", CONFIG_URL, 0, NULL, 0, 0, NULL, "" },
	{ "I", CONFIG_INT, 0, NULL, 0, 0, NULL, "" },
	{ "IB", CONFIG_INT, 0, NULL, -10, 1000, NULL, "" },
	{ "P", CONFIG_PORT, 0, NULL, 0, 0, NULL, "" },
	{ "R", CONFIG_RATE, 0, NULL, 0, 0, NULL, "" },
	{ "D", CONFIG_DOUBLE, 0, NULL, 0, 0, NULL, "" },
	{ "DB", CONFIG_DOUBLE, 0, NULL, -1, 1, NULL, "" },
	{ "M", CONFIG_MILLIS, 0, NULL, 0, 0, NULL, "" },
	{ "MB", CONFIG_MILLIS, 0, NULL, 5, 50, NULL, "" },
	{ "T", CONFIG_DURATION, 0, NULL, 0, 0, NULL, "" },
	{ "B", CONFIG_BOOL, 0, NULL, 0, 0, NULL, "" },
	{ "E", CONFIG_ENUM, 0, NULL, 0, 0, choices, "" },
};

union value {
	const char *s;
	long long ll;
	int i;
	double d;
};

static void check_ok(const struct config_var *v, const union value *out)
{
	switch (v->type) {
	case CONFIG_INT:
	case CONFIG_MILLIS:
		if ((v->min || v->max) && (out->ll < v->min || out->ll > v->max))
			abort();
		if (v->type == CONFIG_MILLIS && out->ll < 0)
			abort();
		break;
	case CONFIG_DURATION:
		if (out->ll < 0)
			abort();
		break;
	case CONFIG_PORT:
		if (out->i < 1 || out->i > 65535)
			abort();
		break;
	case CONFIG_RATE:
		if (!(out->d >= 0 && out->d <= 1))
			abort();
		break;
	case CONFIG_DOUBLE:
		if (!isfinite(out->d) ||
		    ((v->min || v->max) && (out->d < (double)v->min || out->d > (double)v->max)))
			abort();
		break;
	case CONFIG_BOOL:
		if (out->i != 0 && out->i != 1)
			abort();
		break;
	case CONFIG_ENUM:
		if (out->i < 0 || out->i > 2)
			abort();
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size); /* stops at an embedded NUL */
	struct buf err;
	size_t i;

	buf_init(&err, BUF_NOCAP);
	for (i = 0; i < ARRAY_SIZE(vars); i++) {
		union value out;

		memset(&out, 0x5a, sizeof(out));
		buf_reset(&err);
		if (config_parse(&vars[i], text, &out, &err) == 0) {
			check_ok(&vars[i], &out);
			continue;
		}
		if (strncmp(err.data, vars[i].name, strlen(vars[i].name)) ||
		    err.data[strlen(vars[i].name)] != ':' || strchr(err.data, '\n') ||
		    out.ll != 0x5a5a5a5a5a5a5a5aLL)
			abort();
	}
	buf_release(&err);
	free(text);
	return 0;
}
