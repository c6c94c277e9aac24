/*
 * fuzz_route: route_match() on arbitrary methods and paths.
 * Input: "<method>\n<path>" (no newline: all of it is the path, method GET).
 * Checks: no crash or leak; FOUND and NO_METHOD agree with route_path_exists(); a found
 * route has every parameter of its pattern, decoded without a NUL byte.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/route.h"
#include "common/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int h(struct http_request *req)
{
	(void)req;
	return 0;
}

static const struct route table[] = {
	{ "GET", "/", h, 0, 0 },
	{ "GET", "/books", h, 0, 0 },
	{ "POST", "/books", h, 0, 0 },
	{ "GET", "/books/{id}", h, 0, 0 },
	{ "PUT", "/books/{id}", h, 0, 0 },
	{ "DELETE", "/books/{id}", h, 0, 0 },
	{ "GET", "/shelves/{shelf}/books/{book}", h, 0, 0 },
	{ "OPTIONS", "/events", h, 0, 0 },
	{ "GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{j}", h, 0, 0 },
};

static size_t count_params(const char *pattern)
{
	size_t n = 0;

	for (; *pattern; pattern++)
		n += *pattern == '{';
	return n > ROUTE_MAX_PARAMS ? ROUTE_MAX_PARAMS : n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size);
	char *nl = strchr(text, '\n');
	const char *method = "GET", *path = text;
	struct route_match m;
	size_t ntable = ARRAY_SIZE(table), i;
	int rc, exists;

	if (nl) {
		*nl = '\0';
		method = text;
		path = nl + 1;
	}
	rc = route_match(table, ntable, method, path, &m);
	exists = route_path_exists(table, ntable, path);
	if ((rc == ROUTE_FOUND || rc == ROUTE_NO_METHOD) != exists)
		abort();
	if (rc == ROUTE_FOUND) {
		if (m.route == NULL || m.nparams != count_params(m.route->pattern))
			abort();
		for (i = 0; i < m.nparams; i++)
			if (route_match_param(&m, m.params[i].name) == NULL)
				abort();
	} else if (m.route != NULL) {
		abort();
	}
	if (rc == ROUTE_NO_METHOD && m.allow[0] == '\0')
		abort();
	route_match_release(&m);
	free(text);
	return 0;
}
