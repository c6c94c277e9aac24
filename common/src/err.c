#include "common/err.h"
#include "common/xalloc.h"

#include <stddef.h>

struct err_map {
	int err;
	int status;
	const char *code;
	int retry_after;
};

static const struct err_map err_table[] = {
	{ ERR_BAD_REQUEST, 400, "bad_request", 0 },
	{ ERR_INVALID_JSON, 400, "invalid_json", 0 },
	{ ERR_INVALID_EVENT, 400, "invalid_cloudevent", 0 },
	{ ERR_VALIDATION, 400, "validation_failed", 0 },
	{ ERR_TTL, 400, "ttl_exceeded", 0 },
	{ ERR_NOT_FOUND, 404, "not_found", 0 },
	{ ERR_METHOD, 405, "method_not_allowed", 0 },
	{ ERR_CONFLICT, 409, "conflict", 0 },
	{ ERR_TOO_LARGE, 413, "payload_too_large", 0 },
	{ ERR_MEDIA_TYPE, 415, "unsupported_media_type", 0 },
	{ ERR_INTERNAL, 500, "internal", 0 },
	{ ERR_SIMULATED, 500, "simulated_failure", 0 },
	{ ERR_IO, 500, "io_error", 0 },
	{ ERR_BAD_GATEWAY, 502, "bad_gateway", 0 },
	{ ERR_UNAVAILABLE, 503, "unavailable", 1 },
	{ ERR_OVERLOADED, 503, "overloaded", 1 },
	{ ERR_TIMEOUT, 504, "gateway_timeout", 0 },
};

static const struct err_map *err_find(int err)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(err_table); i++)
		if (err_table[i].err == err)
			return &err_table[i];
	return NULL;
}

int err_http_status(int err)
{
	const struct err_map *m = err_find(err);

	return m ? m->status : 500;
}

const char *err_code_name(int err)
{
	const struct err_map *m = err_find(err);

	return m ? m->code : "internal";
}

int err_retry_after(int err)
{
	const struct err_map *m = err_find(err);

	return m ? m->retry_after : 0;
}
