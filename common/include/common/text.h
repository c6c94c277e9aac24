/*
 * text.h: small text helpers that the parsers share: hex digits, UTF-8 sequences and
 * percent-decoding (CloudEvents headers, OTEL_* variables, request paths, log and metric
 * escaping, the word scanners of the review analysers). Pure functions; no state.
 */
#ifndef COMMON_TEXT_H
#define COMMON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* The value of hex digit c (either case), or -1. */
int text_hex_value(char c);

/* The one hex encoder: n bytes as 2n lower-case digits and a NUL into out (2n + 1 bytes). */
void text_hex_encode(char *out, const void *bytes, size_t n);

/*
 * The one UTF-8 decoder. Decodes the sequence at p (n >= 1 bytes) into *cp and returns its
 * length (1-4), or returns 0 and points *why at a static reason ("overlong encoding", "UTF-16
 * surrogate", "code point above U+10FFFF", "truncated sequence", "missing continuation byte",
 * "unexpected continuation byte", "invalid byte") when it is not valid UTF-8. NUL is valid.
 */
size_t text_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp, const char **why);

/*
 * The length (1-4) of the valid UTF-8 sequence at p, which has n >= 1 bytes, or 0 when it is
 * not valid UTF-8 (overlong forms, surrogates, code points past U+10FFFF, truncation).
 */
size_t text_utf8_seq(const unsigned char *p, size_t n);

/*
 * The length of the longest valid UTF-8 prefix of s[0..n): n when all of it is valid. ASCII
 * bytes are passed over without decoding, so checking ASCII text is one cheap loop.
 */
size_t text_utf8_valid_len(const char *s, size_t n);
/*
 * How many bytes of the NUL-terminated s to print with "%.*s" for at most max bytes without
 * cutting a character in two: text_utf8_valid_len() of its first max bytes.
 */
int text_utf8_cut(const char *s, size_t max);

/*
 * Appends s[0..n) to out as valid UTF-8: valid sequences as they are, and U+FFFD for each byte
 * that does not start one (text_utf8_seq() == 0), as text_utf8_next() counts them. Returns
 * buf_append()'s result (out then holds a prefix).
 */
int text_utf8_scrub(struct buf *out, const char *s, size_t n);

/*
 * Decodes the character at p (n >= 1 bytes) into *cp and returns its length in bytes. A byte
 * that does not start a valid sequence (text_utf8_seq() == 0) decodes as itself, U+0000 to
 * U+00FF, with length 1, so a scan over any bytes always advances.
 */
size_t text_utf8_next(const unsigned char *p, size_t n, uint32_t *cp);

/*
 * The one JSON media-type check: whether ct ("type/subtype; params", parameters and the
 * white space before them ignored, case-insensitive) has the subtype "json" or a "+json"
 * suffix ("vnd.x+json"). type NULL accepts any type (the CloudEvents rule for
 * datacontenttype); else the type must be that one (the HTTP server's "application"). false
 * for NULL.
 */
bool text_media_type_is_json(const char *ct, const char *type);

/*
 * Appends the percent-decoded bytes of s[0..len) to out (one round: "%2541" gives "%41").
 * Returns 0, or -1 when a '%' is not followed by two hex digits (out then holds a prefix).
 */
int text_percent_decode(const char *s, size_t len, struct buf *out);

/*
 * Narrows the view *s[0..*len) to drop the optional white space (RFC 9110 5.6.3: SP and HTAB)
 * at both ends; all of it when it is nothing else. Other bytes (CR, NUL) are not trimmed.
 */
void text_trim_ows(const char **s, size_t *len);

/* s past its leading optional white space (SP and HTAB); s is NUL-terminated. */
const char *text_skip_ows(const char *s);

/*
 * The one check of an absolute http(s) URL's scheme: url past "http://" or "https://" (the
 * scheme in either case, RFC 3986 3.1), that is, at its authority, which may be empty; NULL
 * for any other scheme or for NULL.
 */
const char *text_url_authority(const char *url);

/*
 * Trims spaces and tabs around s[0..len), then percent-decodes it into a new string (the
 * caller frees it). NULL on a bad escape or when the result would hold a NUL byte (%00).
 * The form of OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS members.
 */
char *text_percent_decode_ows(const char *s, size_t len);

/*
 * Appends s as a JSON string literal (RFC 8259: quoted; '"', '\\' and control characters
 * escaped, as \n \t \r \b \f where JSON has a letter for them and as \u00XX else, as jansson
 * writes them; valid UTF-8 as is, any other byte as the code point of the same value), for
 * writers that format small records by hand. Returns buf_append()'s result.
 */
int text_json_string(struct buf *out, const char *s);
/* text_json_string() of the n bytes at s, which may hold NUL (written as \u0000). */
int text_json_stringn(struct buf *out, const char *s, size_t n);

#endif
