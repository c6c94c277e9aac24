/*
 * header.h: one HTTP header as a name/value pair, and an owned list of them.
 *
 * struct http_header is the one type in which every module passes headers: the server hands
 * a request's headers to handlers as an array of them (http.h), the CloudEvents decoder reads
 * such an array (ce.h), and the client sends and returns them (httpc.h). Whoever creates an
 * array says who owns the strings; the struct itself owns nothing.
 *
 * struct header_list is a growable array of them that owns every name and value (malloc'd):
 * the server's response headers (http.c) and the binary-mode CloudEvents headers
 * (ce_encode_binary()) are built in one, and the OTEL_* list settings are read into one.
 * Its v and n can be passed wherever an array of
 * headers is read. Not thread-safe: the owner serializes.
 */
#ifndef COMMON_HEADER_H
#define COMMON_HEADER_H

#include <stddef.h>

struct http_header {
	const char *name;
	const char *value;
};

struct header_list {
	struct http_header *v; /* n headers; every name and value is owned (malloc'd) */
	size_t n, alloc;
};

#define HEADER_LIST_INIT   \
	{                  \
		NULL, 0, 0 \
	}

void header_list_init(struct header_list *l);
/* Appends a copy of name and value. */
void header_list_add(struct header_list *l, const char *name, const char *value);
/* Appends name and value themselves: the list takes both (malloc'd) and frees them. */
void header_list_take(struct header_list *l, char *name, char *value);
/* The value of the first header called name (case-insensitive), or NULL. */
const char *header_list_get(const struct header_list *l, const char *name);
/*
 * Appends the members of an OpenTelemetry list setting (OTEL_EXPORTER_OTLP_HEADERS,
 * OTEL_RESOURCE_ATTRIBUTES; W3C Baggage without properties): key=value members separated by
 * commas, each side trimmed of spaces and tabs and percent-decoded; empty members are
 * skipped. Returns 0, or ERR_BAD_REQUEST for a member without '=', with an empty key, a bad
 * escape or %00; l then holds the members it held before the call (its array may have grown,
 * so the caller still releases it). Callers check keys and values further.
 */
int header_list_parse(struct header_list *l, const char *text);
/* Frees every name, value and the array; l is empty again and may be reused. */
void header_list_release(struct header_list *l);

#endif
