/*
 * route.h: the route table and its pure matcher (no libmicrohttpd types).
 *
 * A service describes its endpoints as data:
 *
 *	static const struct route routes[] = {
 *		{ "GET", "/books", books_list, 0, 0 },
 *		{ "GET", "/books/{id}", books_get, 0, 0 },
 *		{ "POST", "/books", books_create, 64 * 1024, ROUTE_JSON },
 *	};
 *
 * Patterns are absolute paths of literal segments and parameters `{name}`; a parameter matches
 * exactly one non-empty segment. Matching is exact and segment by segment: no trailing-slash
 * folding ("/books/" does not match "/books"), no empty segments ("/books//1" matches
 * nothing), no wildcards. Literal segments are compared with the raw (still percent-encoded)
 * request path; parameter values are percent-decoded. The first route in table order whose
 * pattern and method match wins, so put "/books/new" before "/books/{id}".
 *
 * HEAD is allowed wherever GET is: a GET route answers HEAD (the HTTP layer drops the body).
 *
 * A route flagged ROUTE_FALLBACK (a catch-all, such as static files under "/{p1}") stands
 * aside wherever a route without the flag matches the path, whatever the method: "/add" with
 * only "POST /add" is then a POST-only resource (405 with "Allow: POST" for a GET), not a GET
 * that the catch-all answers 404.
 */
#ifndef COMMON_ROUTE_H
#define COMMON_ROUTE_H

#include <stddef.h>

struct http_request;

/* Returns 0 after it responded or suspended, or a negative ERR_* after http_fail(). */
typedef int (*route_handler_fn)(struct http_request *req);

enum route_flags {
	/* The request must carry Content-Type application/json (else 415 before the handler). */
	ROUTE_JSON = 1 << 0,
	/* Not logged in the access log at level info (health probes and the like). */
	ROUTE_QUIET = 1 << 1,
	/*
	 * The handler blocks (on a database): it runs on the server's blocking pool
	 * (http_server_config.blocking_threads), never on a libmicrohttpd thread, so the probes,
	 * /metrics and the other routes answer while every handler waits. It must not call
	 * http_suspend().
	 */
	ROUTE_BLOCKING = 1 << 2,
	/* A catch-all: it matches only paths that no route without this flag matches. */
	ROUTE_FALLBACK = 1 << 3,
};

struct route {
	const char *method;  /* "GET", "POST", ...; case-sensitive as in HTTP */
	const char *pattern; /* "/books/{id}" */
	route_handler_fn handler;
	size_t max_body; /* request body cap in bytes; 0 = the server's default */
	unsigned flags;	 /* enum route_flags */
};

#define ROUTE_MAX_PARAMS 8

struct route_param {
	const char *name;  /* NUL-terminated, without the braces */
	const char *value; /* NUL-terminated, percent-decoded */
};

enum route_result {
	ROUTE_FOUND = 0,      /* m->route and m->params are set */
	ROUTE_NOT_FOUND = -1, /* no pattern matches the path: 404 */
	ROUTE_NO_METHOD = -2, /* patterns match, none for this method: 405, m->allow is set */
	ROUTE_BAD_PATH = -3,  /* not an absolute path, bad percent-encoding or a %00: 400 */
};

/*
 * The outcome of one match. Owns its strings (params and allow) until route_match_release().
 */
struct route_match {
	const struct route *route; /* the matched entry of the caller's table, or NULL */
	size_t nparams;
	struct route_param params[ROUTE_MAX_PARAMS];
	char allow[96]; /* ROUTE_NO_METHOD: "GET, HEAD, POST" in table order, HEAD after GET */
	char *storage;	/* private */
};

/*
 * Matches method and path (the raw request path without the query string) against the
 * table. Always initializes m; call route_match_release(m) afterwards whatever the result.
 * Returns an enum route_result.
 */
int route_match(const struct route *routes, size_t nroutes, const char *method, const char *path,
		struct route_match *m);
/* The decoded value of parameter name, or NULL. The pointer lives as long as m. */
const char *route_match_param(const struct route_match *m, const char *name);
/* Frees what route_match() allocated; m may be matched again afterwards. */
void route_match_release(struct route_match *m);

/* Whether any route of the table matches path with any method (used for CORS preflights). */
int route_path_exists(const struct route *routes, size_t nroutes, const char *path);

#endif
