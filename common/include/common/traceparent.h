/*
 * traceparent.h: the W3C Trace Context headers traceparent and tracestate
 * (shared/reference/protocols.md §3), parsed and formatted exactly as the spec and its test
 * suite require. Pure functions on caller-owned memory: no allocation, no global state,
 * thread-safe.
 *
 * traceparent. "00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>", lowercase only.
 * Leading and trailing OWS (space, tab) is trimmed. Invalid: another length for version 00,
 * version ff, non-hex or uppercase characters, an all-zero trace-id or parent-id, wrong
 * separators. A higher version (01..fe) is accepted when it is at least 55 characters long
 * and the flags are followed by the end or by '-'; what follows is ignored and the value is
 * re-emitted as version 00. A request with two or more traceparent headers is invalid.
 *
 * tracestate. A comma-separated list of at most 32 key=value members; OWS around members and
 * empty members are allowed; several headers are joined with ','. Keys follow Level 2
 * (a lowercase letter or digit, then up to 255 of a-z 0-9 _ - * / @), except that a key containing '@' must be the Level 1
 * multi-tenant form `tenant@system` (one '@', tenant 1..241 chars, system 1..14 chars
 * starting with a lowercase letter). Values are 1..256 printable ASCII characters without
 * ',' and '=' that do not end with a space. Any invalid member, a duplicated key, or more
 * than 32 members makes the whole tracestate invalid (it is then dropped, never partially
 * kept). The normalized form has no OWS and no empty members.
 */
#ifndef COMMON_TRACEPARENT_H
#define COMMON_TRACEPARENT_H

#include <stddef.h>
#include <stdint.h>

#define TRACEPARENT_LEN	       55 /* "00-" 32 "-" 16 "-" 2 */
#define TRACESTATE_MAX_MEMBERS 32
#define TRACESTATE_PROPAGATE   512 /* we keep at most this many characters (spec: >= 512) */
#define TRACESTATE_BIG_MEMBER  128 /* members longer than this are dropped first */

#define TRACE_FLAG_SAMPLED 0x01

struct traceparent {
	uint8_t trace_id[16];
	uint8_t span_id[8]; /* the parent-id field */
	uint8_t flags;	    /* only bit 0 (sampled) is kept: other bits are cleared on parse */
};

/*
 * Parses the values of every traceparent header of one request (n of them, in order).
 * Returns 0 and fills *out, or ERR_BAD_REQUEST when n != 1 or the value is invalid
 * (*out is then zeroed; the caller restarts the trace).
 */
int traceparent_parse(const char *const *values, size_t n, struct traceparent *out);
/* Parses one value (a convenience for traceparent_parse(&value, 1, out)). */
int traceparent_parse1(const char *value, struct traceparent *out);
/* Writes the version 00 form and a NUL into out (TRACEPARENT_LEN + 1 bytes). */
void traceparent_format(const struct traceparent *tp, char out[TRACEPARENT_LEN + 1]);

/* 1 when neither id is all zero (an all-zero trace-id or parent-id is invalid), else 0. */
int traceparent_ids_valid(const uint8_t trace_id[16], const uint8_t span_id[8]);
/* Parses exactly 2n lowercase hex characters; 0 or ERR_BAD_REQUEST. */
int traceparent_unhex(const char *hex, size_t n, uint8_t *bytes);

/*
 * Parses and validates the tracestate headers of one request (n values, joined with ','),
 * and writes the normalized list into out (size outsz, NUL-terminated), truncated to fit
 * min(outsz - 1, TRACESTATE_PROPAGATE) characters by tracestate_truncate(). Returns the
 * number of members kept (0 for none), or ERR_BAD_REQUEST when the list is invalid (out is
 * then ""). outsz must be at least 1.
 */
int tracestate_parse(const char *const *values, size_t n, char *out, size_t outsz);
/*
 * Shortens the normalized list s in place until it is at most limit characters: first drops
 * members longer than TRACESTATE_BIG_MEMBER characters (left to right), then drops members
 * from the right. Whole members only. Returns the new length.
 */
size_t tracestate_truncate(char *s, size_t limit);

#endif
