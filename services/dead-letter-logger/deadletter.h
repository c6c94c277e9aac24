/*
 * deadletter.h: turning a dead letter (an event plus Knative's knativeerror* extensions,
 * shared/reference/protocols.md §1.4) into its events.log record.
 *
 *   {"time": "<RFC 3339 UTC ms>",
 *    "error": {"destination": <knativeerrordest or null>,
 *              "code": <knativeerrorcode as a JSON integer, or null>,
 *              "response": <knativeerrordata, see below, or null>,
 *              "response_encoding": "text" | "base64" | "raw" | null,
 *              "response_truncated": true            (only when the body was visibly cut)},
 *    "event": {<the event in the CloudEvents JSON format without the three extensions>}}
 *
 * knativeerrordata is standard base64 of the subscriber's response body, cut by Knative to
 * 1024 characters. It is decoded and stored as:
 *   "text"    the decoded bytes when they are valid UTF-8. When the value was cut (it has
 *             exactly 1024 characters, or needed padding) and the only flaw is a multi-byte
 *             character cut at the very end, that partial character is dropped and
 *             response_truncated is set; a complete value is never cut;
 *   "base64"  the value as received, when the bytes are binary (not UTF-8);
 *   "raw"     the value as received, when it is not valid base64.
 * A base64 value cut to a length that is not a multiple of 4 (other senders cut anywhere) is
 * padded before decoding and marked response_truncated.
 *
 * Nothing about the error attributes makes a dead letter unacceptable: this is the last stop.
 * Missing attributes give null members, a knativeerrorcode that is not an integer gives
 * "code": null; each such problem is described in info->problems for a log record.
 */
#ifndef DEAD_LETTER_LOGGER_DEADLETTER_H
#define DEAD_LETTER_LOGGER_DEADLETTER_H

#include <stdbool.h>

#include <jansson.h>

#include "common/ce.h"

#define DEADLETTER_EXT_DEST "knativeerrordest"
#define DEADLETTER_EXT_CODE "knativeerrorcode"
#define DEADLETTER_EXT_DATA "knativeerrordata"
/* Knative cuts knativeerrordata to this many characters (KnativeErrorDataExtensionMaxLength). */
#define DEADLETTER_DATA_CAP 1024

/* What deadletter_record() found, for the log record and the metric. */
struct deadletter_info {
	const char *destination; /* borrowed from the event; NULL when missing */
	int code;		 /* valid when has_code */
	bool has_code;
	const char *encoding; /* "text", "base64", "raw", or NULL without knativeerrordata */
	bool truncated;
	char problems[512]; /* "" or "; "-separated descriptions of missing/bad attributes */
};

/*
 * Builds the record for ev (borrowed) stamped with time (RFC 3339 text). Returns a new
 * reference (caller decrefs) and fills *info, whose strings live as long as ev.
 */
json_t *deadletter_record(const struct ce_event *ev, const char *time,
			  struct deadletter_info *info);

/* Parses a knativeerrorcode value strictly (optional '-', digits, 32-bit). 0 or -1. */
int deadletter_parse_code(const char *text, int *out);

#endif
