/*
 * base64.h: the one base64 codec (RFC 4648 §4: the standard alphabet, padded), for the
 * CloudEvents data_base64 member and Binary attributes, the broker's dead-letter error data and
 * the WebSocket handshake. Pure functions; no state.
 */
#ifndef COMMON_BASE64_H
#define COMMON_BASE64_H

#include <stddef.h>

#include "common/buf.h"

/* The length of the padded encoding of n bytes. */
#define BASE64_LEN(n) (((n) + 2) / 3 * 4)

/*
 * Appends the padded base64 of data[0..len) to out. 0, or ERR_TOO_LARGE when out's cap is
 * reached (out then holds a prefix of the encoding, whole 4-symbol groups).
 */
int base64_encode(const void *data, size_t len, struct buf *out);
/*
 * Decodes padded base64 s[0..len) into out; CR and LF are ignored anywhere. 0, ERR_VALIDATION
 * (a symbol outside the alphabet, bad padding, a partial group, data after the padding) or
 * ERR_TOO_LARGE (out's cap). On an error out holds what was decoded before it.
 */
int base64_decode(const char *s, size_t len, struct buf *out);
/* The 6-bit value of base64 symbol c, or -1 ('=' and NUL are not symbols). */
int base64_value(char c);

#endif
