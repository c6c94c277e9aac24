/* Unit tests for route.c: the pure route matcher. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/route.h"
#include "common/xalloc.h"

#include "../unit.h"

static int h(struct http_request *req)
{
	(void)req;
	return 0;
}

static const struct route table[] = {
	{ "GET", "/", h, 0, 0 },
	{ "GET", "/books", h, 0, 0 },
	{ "POST", "/books", h, 0, 0 },
	{ "GET", "/books/new", h, 0, 0 },
	{ "GET", "/books/{id}", h, 0, 0 },
	{ "PUT", "/books/{id}", h, 0, 0 },
	{ "DELETE", "/books/{id}", h, 0, 0 },
	{ "GET", "/shelves/{shelf}/books/{book}", h, 0, 0 },
	{ "POST", "/events", h, 0, 0 },
	{ "OPTIONS", "/events", h, 0, 0 },
	{ "PATCH", "/a/{x}/c", h, 0, 0 },
};
#define NTABLE (ARRAY_SIZE(table))

struct row {
	const char *method;
	const char *path;
	int result;
	int index;	     /* expected table index when ROUTE_FOUND */
	const char *p1, *v1; /* first expected param */
	const char *p2, *v2; /* second expected param */
	const char *allow;   /* expected Allow when ROUTE_NO_METHOD */
};

static const struct row rows[] = {
	{ "GET", "/", ROUTE_FOUND, 0, NULL, NULL, NULL, NULL, NULL },
	{ "GET", "/books", ROUTE_FOUND, 1, NULL, NULL, NULL, NULL, NULL },
	{ "POST", "/books", ROUTE_FOUND, 2, NULL, NULL, NULL, NULL, NULL },
	{ "HEAD", "/books", ROUTE_FOUND, 1, NULL, NULL, NULL, NULL, NULL },
	{ "GET", "/books/new", ROUTE_FOUND, 3, NULL, NULL, NULL, NULL, NULL },
	{ "PUT", "/books/new", ROUTE_FOUND, 5, "id", "new", NULL, NULL, NULL },
	{ "GET", "/books/42", ROUTE_FOUND, 4, "id", "42", NULL, NULL, NULL },
	{ "HEAD", "/books/42", ROUTE_FOUND, 4, "id", "42", NULL, NULL, NULL },
	{ "DELETE", "/books/42", ROUTE_FOUND, 6, "id", "42", NULL, NULL, NULL },
	{ "GET", "/shelves/s1/books/b2", ROUTE_FOUND, 7, "shelf", "s1", "book", "b2", NULL },
	/* percent-encoded segments are decoded in params */
	{ "GET", "/books/a%20b", ROUTE_FOUND, 4, "id", "a b", NULL, NULL, NULL },
	{ "GET", "/books/a%2Fb", ROUTE_FOUND, 4, "id", "a/b", NULL, NULL, NULL },
	{ "GET", "/books/%C3%A9t%c3%a9", ROUTE_FOUND, 4, "id", "\xc3\xa9t\xc3\xa9", NULL, NULL,
	  NULL },
	{ "GET", "/books/a+b", ROUTE_FOUND, 4, "id", "a+b", NULL, NULL, NULL },
	/* literal segments compare raw */
	{ "GET", "/b%6Foks", ROUTE_NOT_FOUND, 0, NULL, NULL, NULL, NULL, NULL },
	/* trailing slash and empty segments */
	{ "GET", "/books/", ROUTE_NOT_FOUND, 0, NULL, NULL, NULL, NULL, NULL },
	{ "GET", "/books//", ROUTE_NOT_FOUND, 0, NULL, NULL, NULL, NULL, NULL },
	{ "GET", "//books", ROUTE_NOT_FOUND, 0, NULL, NULL, NULL, NULL, NULL },
	{ "GET", "/books/42/", ROUTE_NOT_FOUND, 0, NULL, NULL, NULL, NULL, NULL },
	{ "GET", "/shelves//books/b", ROUTE_NOT_FOUND, 0, NULL, NULL, NULL, NULL, NULL },
	{ "GET", "/nothing", ROUTE_NOT_FOUND, 0, NULL, NULL, NULL, NULL, NULL },
	{ "GET", "/Books", ROUTE_NOT_FOUND, 0, NULL, NULL, NULL, NULL, NULL },
	/* 405 with the Allow list; HEAD follows GET */
	{ "PATCH", "/books", ROUTE_NO_METHOD, 0, NULL, NULL, NULL, NULL, "GET, HEAD, POST" },
	{ "POST", "/books/42", ROUTE_NO_METHOD, 0, NULL, NULL, NULL, NULL,
	  "GET, HEAD, PUT, DELETE" },
	{ "GET", "/events", ROUTE_NO_METHOD, 0, NULL, NULL, NULL, NULL, "POST, OPTIONS" },
	{ "HEAD", "/events", ROUTE_NO_METHOD, 0, NULL, NULL, NULL, NULL, "POST, OPTIONS" },
	{ "OPTIONS", "/events", ROUTE_FOUND, 9, NULL, NULL, NULL, NULL, NULL },
	{ "get", "/books", ROUTE_NO_METHOD, 0, NULL, NULL, NULL, NULL, "GET, HEAD, POST" },
	{ "GET", "/a/b/c", ROUTE_NO_METHOD, 0, NULL, NULL, NULL, NULL, "PATCH" },
	/* bad paths */
	{ "GET", "", ROUTE_BAD_PATH, 0, NULL, NULL, NULL, NULL, NULL },
	{ "GET", "books", ROUTE_BAD_PATH, 0, NULL, NULL, NULL, NULL, NULL },
	{ "GET", "*", ROUTE_BAD_PATH, 0, NULL, NULL, NULL, NULL, NULL },
	{ "GET", "/books/%zz", ROUTE_BAD_PATH, 0, NULL, NULL, NULL, NULL, NULL },
	{ "GET", "/books/%4", ROUTE_BAD_PATH, 0, NULL, NULL, NULL, NULL, NULL },
	{ "GET", "/books/%", ROUTE_BAD_PATH, 0, NULL, NULL, NULL, NULL, NULL },
	{ "GET", "/books/a%00b", ROUTE_BAD_PATH, 0, NULL, NULL, NULL, NULL, NULL },
};

static void check_row(const struct row *r)
{
	struct route_match m;
	int rc = route_match(table, NTABLE, r->method, r->path, &m);

	cr_expect_eq(rc, r->result, "%s %s: result %d, want %d", r->method, r->path, rc, r->result);
	if (rc == ROUTE_FOUND && r->result == ROUTE_FOUND) {
		cr_expect_eq(m.route, &table[r->index], "%s %s: route %s %s", r->method, r->path,
			     m.route->method, m.route->pattern);
		cr_expect_eq(m.nparams, (size_t)(r->p1 != NULL) + (r->p2 != NULL), "%s: nparams",
			     r->path);
		if (r->p1)
			cr_expect_str_eq(route_match_param(&m, r->p1), r->v1, "%s", r->path);
		if (r->p2)
			cr_expect_str_eq(route_match_param(&m, r->p2), r->v2, "%s", r->path);
		cr_expect_null(route_match_param(&m, "nope"));
	} else {
		cr_expect_null(m.route, "%s %s: no route expected", r->method, r->path);
	}
	if (r->allow)
		cr_expect_str_eq(m.allow, r->allow, "%s %s: allow '%s'", r->method, r->path,
				 m.allow);
	route_match_release(&m);
}

Test(route, table_driven, LEAK_FINI)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++)
		check_row(&rows[i]);
}

Test(route, path_exists, LEAK_FINI)
{
	static const struct {
		const char *path;
		int exists;
	} cases[] = {
		{ "/books", 1 }, { "/books/9", 1 }, { "/events", 1 },	 { "/books/", 0 },
		{ "/x", 0 },	 { "", 0 },	    { "/books/%zz", 0 }, { "/a/%41/c", 1 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++)
		cr_expect_eq(route_path_exists(table, NTABLE, cases[i].path), cases[i].exists, "%s",
			     cases[i].path);
}

Test(route, empty_table_and_release_twice, LEAK_FINI)
{
	struct route_match m;

	cr_expect_eq(route_match(NULL, 0, "GET", "/", &m), ROUTE_NOT_FOUND);
	route_match_release(&m);
	route_match_release(&m);
	cr_expect_eq(route_match(table, NTABLE, NULL, "/", &m), ROUTE_BAD_PATH);
	route_match_release(&m);
}

Test(route, fallback_stands_aside_where_a_specific_route_matches, LEAK_FINI)
{
	static const struct route site[] = {
		{ "POST", "/add", h, 0, 0 },
		{ "DELETE", "/reviews/{id}", h, 0, 0 },
		{ "GET", "/{p1}", h, 0, ROUTE_FALLBACK },
		{ "GET", "/{p1}/{p2}", h, 0, ROUTE_FALLBACK },
	};
	static const struct {
		const char *method, *path;
		int result, index;
		const char *allow;
	} cases[] = {
		{ "POST", "/add", ROUTE_FOUND, 0, NULL },
		{ "GET", "/add", ROUTE_NO_METHOD, 0, "POST" },
		{ "HEAD", "/add", ROUTE_NO_METHOD, 0, "POST" },
		{ "GET", "/reviews/7", ROUTE_NO_METHOD, 0, "DELETE" },
		{ "GET", "/app.js", ROUTE_FOUND, 2, NULL },
		{ "HEAD", "/images/a.svg", ROUTE_FOUND, 3, NULL },
		{ "POST", "/app.js", ROUTE_NO_METHOD, 0, "GET, HEAD" },
		{ "GET", "/a/b/c", ROUTE_NOT_FOUND, 0, NULL },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct route_match m;
		int rc = route_match(site, ARRAY_SIZE(site), cases[i].method, cases[i].path, &m);

		cr_expect_eq(rc, cases[i].result, "%s %s: %d", cases[i].method, cases[i].path, rc);
		if (rc == ROUTE_FOUND)
			cr_expect_eq(m.route, &site[cases[i].index], "%s", cases[i].path);
		if (cases[i].allow)
			cr_expect_str_eq(m.allow, cases[i].allow, "%s %s", cases[i].method,
					 cases[i].path);
		route_match_release(&m);
	}
}

Test(route, too_many_params_keeps_first_eight, LEAK_FINI)
{
	static const struct route many[] = {
		{ "GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", h, 0, 0 },
	};
	struct route_match m;

	cr_assert_eq(route_match(many, 1, "GET", "/1/2/3/4/5/6/7/8/9", &m), ROUTE_FOUND);
	cr_expect_eq(m.nparams, ROUTE_MAX_PARAMS);
	cr_expect_str_eq(route_match_param(&m, "h"), "8");
	cr_expect_null(route_match_param(&m, "i"));
	route_match_release(&m);
}
