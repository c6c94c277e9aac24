/*
 * http_check.h: the HTTP syntax rules the server (http.c) and the client (httpc.c) share, so
 * that both accept the same tokens and name the same methods. Pure functions; no state.
 */
#ifndef COMMON_HTTP_CHECK_H
#define COMMON_HTTP_CHECK_H

#include <stddef.h>

#include "common/header.h"

/* 1 when s is a non-empty RFC 9110 token (method, header name), else 0. NULL gives 0. */
int http_check_token(const char *s);

/*
 * The OpenTelemetry name of method m: m itself when it is one of the known methods (GET,
 * HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE, CONNECT, QUERY; case-sensitive), else
 * "_OTHER". The result is a static string.
 */
const char *http_check_method(const char *m);

/* 1 when s holds no CR or LF (a value that cannot split a header line), else 0. */
int http_check_value(const char *s);

/* 1 when s is valid UTF-8 without control characters other than HTAB, else 0. */
int http_check_text(const char *s);

/* 1 when ct is application/json or application/<x>+json (parameters ignored), else 0. */
int http_check_json_type(const char *ct);

/*
 * What a request's line and headers break that libmicrohttpd's parser lets through: a
 * message ("malformed header name", ...) or NULL when the request is fine. version is
 * "HTTP/1.1" or "HTTP/1.0"; h[0..n) are the request headers.
 */
const char *http_check_request(const char *method, const char *version, const struct http_header *h,
			       size_t n);

/*
 * Where the path of a request target starts. An absolute-form target ("http://host:port/p?q",
 * RFC 9112 §3.2.2, which a server must accept; scheme http or https, any case) gives the
 * part after its authority: "/p?q", or "" or "?q" when it has no path, which stands for "/".
 * Any other target is returned as it is.
 */
const char *http_check_origin_form(const char *target);

#endif
