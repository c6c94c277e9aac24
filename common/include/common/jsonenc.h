/*
 * jsonenc.h: compact JSON text of a jansson value, with every number as it was read.
 *
 * jansson's json_dumps() writes a real with 17 significant digits, so a CloudEvent's data
 * {"price":0.1} came out as {"price":0.10000000000000001} once the data had been through a
 * json_t: after a structured-mode decode, in a structured-mode send, and after the broker
 * read its write-ahead log back. jsonenc_append() writes what json_dumps(v, JSON_COMPACT |
 * JSON_ENCODE_ANY) writes, member order included, except that a real has the fewest of 15,
 * 16 or 17 significant digits that read back as the same double: the shortest text for every
 * normal double (0.1, 1.5, 1e300), 15 digits or more for a subnormal one. As jansson writes
 * them, a real that would read as an integer gets ".0" (2.0) and an exponent has no '+' and
 * no leading zeros. Strings are escaped as
 * text_json_stringn() escapes them ('"', '\\' and control characters; NUL as \u0000).
 *
 * Ownership: v is borrowed and not modified; the text is appended to out.
 */
#ifndef COMMON_JSONENC_H
#define COMMON_JSONENC_H

#include <jansson.h>

#include "common/buf.h"

/*
 * Appends v (any JSON value) as compact JSON text. Returns 0, or buf_append()'s error (out
 * would grow past its cap; what was appended stays).
 */
int jsonenc_append(struct buf *out, const json_t *v);

/* Appends v, a finite double, as jsonenc_append() writes a real. Returns as above. */
int jsonenc_real(struct buf *out, double v);

/*
 * A new JSON string of s (NULL: ""), never NULL: jansson refuses text that is not valid
 * UTF-8, so each byte that does not start a valid sequence becomes U+FFFD
 * (text_utf8_scrub()). For text from outside (a method, a path, an error message quoting
 * input) that goes into a log record, an events.log line or an error body.
 */
json_t *jsonenc_string(const char *s);

#endif
