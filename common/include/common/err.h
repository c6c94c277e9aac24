/*
 * err.h: the project's error codes, and the one table that maps them to HTTP.
 *
 * Every function that can fail returns int: 0 on success, or a negative ERR_* code.
 * Handlers return such a code (with a message, see http_fail() in http.h); the HTTP layer
 * turns it into a status and a JSON body {"error": "<code>", "message": "<text>"} in one
 * place, err_http_status()/err_code_name(), so no handler picks a status by hand for a failure.
 */
#ifndef COMMON_ERR_H
#define COMMON_ERR_H

enum err {
	ERR_OK = 0,
	ERR_BAD_REQUEST = -1,	/* 400 bad_request: malformed input */
	ERR_INVALID_JSON = -2,	/* 400 invalid_json */
	ERR_INVALID_EVENT = -3, /* 400 invalid_cloudevent */
	ERR_VALIDATION = -4,	/* 400 validation_failed: well-formed but not acceptable */
	ERR_NOT_FOUND = -5,	/* 404 not_found */
	ERR_METHOD = -6,	/* 405 method_not_allowed */
	ERR_CONFLICT = -7,	/* 409 conflict */
	ERR_TOO_LARGE = -8,	/* 413 payload_too_large */
	ERR_MEDIA_TYPE = -9,	/* 415 unsupported_media_type */
	ERR_INTERNAL = -10,	/* 500 internal */
	ERR_SIMULATED = -11,	/* 500 simulated_failure (file-sink) */
	ERR_BAD_GATEWAY = -12,	/* 502 bad_gateway: an upstream refused */
	ERR_UNAVAILABLE = -13,	/* 503 unavailable: a dependency is down; Retry-After */
	ERR_OVERLOADED = -14,	/* 503 overloaded: a queue is full; Retry-After */
	ERR_TIMEOUT = -15,	/* 504 gateway_timeout */
	ERR_IO = -16,		/* 500 io_error: a write to disk failed */
	ERR_TTL = -17,		/* 400 ttl_exceeded (broker loop protection) */
};

/* The HTTP status for an error code (500 for an unknown one). */
int err_http_status(int err);
/* The short snake_case code for the JSON body ("bad_request", ...). */
const char *err_code_name(int err);
/* Whether the answer carries Retry-After (503s). */
int err_retry_after(int err);

#endif
