/*
 * header.h: one HTTP header as a name/value pair.
 *
 * The one type in which every module passes headers: the server hands a request's headers
 * to handlers as an array of them (http.h), the CloudEvents decoder reads such an array
 * (ce.h), and the client sends and returns them (httpc.h). Whoever creates an array says
 * who owns the strings; the struct itself owns nothing.
 */
#ifndef COMMON_HEADER_H
#define COMMON_HEADER_H

struct http_header {
	const char *name;
	const char *value;
};

#endif
