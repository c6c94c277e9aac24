/*
 * fuzz_http_check: the request validation the server and the client share (http_check.h).
 * Input: "<method>\n<version>\n<name>:<value>\n..." (missing lines: empty).
 * Checks: no crash or leak; a request accepted by http_check_request() has a token method,
 * token header names and clean header values; http_check_method() returns the method itself
 * or "_OTHER"; http_check_json_type() accepts only types that start with "application/";
 * http_check_origin_form() of the first line points into it, at its start or at a '/', '?'
 * or its end, and never inside an origin-form target.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/http_check.h"
#include "common/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADERS 32

/* Splits text at '\n' into at most max lines (in place); returns the count. */
static size_t split_lines(char *text, char **lines, size_t max)
{
	size_t n = 0;

	while (n < max) {
		char *nl = strchr(text, '\n');

		lines[n++] = text;
		if (!nl)
			break;
		*nl = '\0';
		text = nl + 1;
	}
	return n;
}

static void check_request(char **lines, size_t n)
{
	struct http_header h[MAX_HEADERS];
	size_t nh = 0;
	const char *method = n > 0 ? lines[0] : "", *version = n > 1 ? lines[1] : "";
	const char *problem;

	for (size_t i = 2; i < n && nh < MAX_HEADERS; i++) {
		char *colon = strchr(lines[i], ':');

		if (!colon)
			continue;
		*colon = '\0';
		h[nh].name = lines[i];
		h[nh].value = colon + 1;
		nh++;
	}
	problem = http_check_request(method, version, h, nh);
	if (problem)
		return;
	if (!http_check_token(method))
		abort();
	for (size_t i = 0; i < nh; i++)
		if (!http_check_token(h[i].name) || !http_check_text(h[i].value) ||
		    !http_check_value(h[i].value))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size);
	char *lines[MAX_HEADERS + 2];
	size_t n = split_lines(text, lines, MAX_HEADERS + 2);
	const char *label = http_check_method(lines[0]), *type, *origin;

	if (strcmp(label, lines[0]) != 0 && strcmp(label, "_OTHER") != 0)
		abort();
	type = lines[0] + strspn(lines[0], " \t");
	if (http_check_json_type(lines[0]) && strncasecmp(type, "application/", 12) != 0)
		abort();
	origin = http_check_origin_form(lines[0]);
	if (origin < lines[0] || origin > lines[0] + strlen(lines[0]) ||
	    (origin != lines[0] && (lines[0][0] == '/' || (*origin && !strchr("/?#", *origin)))))
		abort();
	check_request(lines, n);
	free(text);
	return 0;
}
