/*
 * route.c: matching a method and a raw path against a route table (see route.h).
 */
#include "common/route.h"
#include "common/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* An absolute path whose escapes are all %XY with hex digits, none of them %00. */
static int path_valid(const char *path)
{
	const char *p;

	if (path == NULL || path[0] != '/')
		return 0;
	for (p = path; *p; p++) {
		if (*p != '%')
			continue;
		if (text_hex_value(p[1]) < 0 || text_hex_value(p[2]) < 0)
			return 0;
		if (text_hex_value(p[1]) == 0 && text_hex_value(p[2]) == 0)
			return 0;
		p += 2;
	}
	return 1;
}

static int is_param(const char *seg, size_t len)
{
	return len >= 2 && seg[0] == '{' && seg[len - 1] == '}';
}

/* Length of the segment starting at s (up to the next '/' or the end). */
static size_t seg_len(const char *s)
{
	return strcspn(s, "/");
}

/* Whether the pattern matches the path, segment by segment. Both start with '/'. */
static int pattern_matches(const char *pattern, const char *path)
{
	const char *p = pattern, *q = path;

	if (p == NULL || *p != '/')
		return 0;
	while (*p == '/' && *q == '/') {
		size_t pl, ql;

		p++;
		q++;
		pl = seg_len(p);
		ql = seg_len(q);
		if (is_param(p, pl)) {
			if (ql == 0)
				return 0;
		} else if (pl != ql || memcmp(p, q, pl) != 0) {
			return 0;
		}
		p += pl;
		q += ql;
	}
	return *p == '\0' && *q == '\0';
}

static int allow_has(const char *allow, const char *method)
{
	size_t n = strlen(method);
	const char *a = allow;

	while (*a) {
		size_t l = strcspn(a, ",");

		if (l == n && memcmp(a, method, n) == 0)
			return 1;
		a += l;
		while (*a == ',' || *a == ' ')
			a++;
	}
	return 0;
}

static void allow_add(char *allow, size_t size, const char *method)
{
	size_t used = strlen(allow), n = strlen(method);

	if (allow_has(allow, method) || used + n + 3 > size)
		return;
	if (used > 0) {
		allow[used++] = ',';
		allow[used++] = ' ';
	}
	memcpy(allow + used, method, n + 1); /* with its NUL; fits: checked above */
}

/* Decodes len bytes of src (validated by path_valid) into dst; returns the bytes written. */
static size_t pct_decode(char *dst, const char *src, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (src[i] == '%' && i + 2 < len && text_hex_value(src[i + 1]) >= 0 &&
		    text_hex_value(src[i + 2]) >= 0) {
			dst[o++] =
			    (char)(text_hex_value(src[i + 1]) * 16 + text_hex_value(src[i + 2]));
			i += 2;
		} else {
			dst[o++] = src[i];
		}
	}
	dst[o] = '\0';
	return o;
}

/* Fills m->params from a pattern known to match path; strings go to m->storage. */
static void extract_params(struct route_match *m, const char *pattern, const char *path)
{
	const char *p = pattern, *q = path;
	char *out;

	if (strchr(pattern, '{') == NULL) /* no parameters: nothing to keep */
		return;
	m->storage = xmalloc(strlen(pattern) + strlen(path) + (size_t)2 * ROUTE_MAX_PARAMS + 2);
	out = m->storage;
	while (*p == '/' && *q == '/') {
		size_t pl = seg_len(++p), ql = seg_len(++q);

		if (is_param(p, pl) && m->nparams < ROUTE_MAX_PARAMS) {
			struct route_param *rp = &m->params[m->nparams++];

			memcpy(out, p + 1, pl - 2);
			out[pl - 2] = '\0';
			rp->name = out;
			out += pl - 1;
			rp->value = out;
			out += pct_decode(out, q, ql) + 1;
		}
		p += pl;
		q += ql;
	}
}

int route_match(const struct route *routes, size_t nroutes, const char *method, const char *path,
		struct route_match *m)
{
	size_t i;
	int any = 0, specific = 0;

	memset(m, 0, sizeof(*m));
	if (method == NULL || !path_valid(path))
		return ROUTE_BAD_PATH;
	for (i = 0; i < nroutes && !specific; i++)
		specific =
		    !(routes[i].flags & ROUTE_FALLBACK) && pattern_matches(routes[i].pattern, path);
	for (i = 0; i < nroutes; i++) {
		const struct route *r = &routes[i];
		int get = strcmp(r->method, "GET") == 0;

		if ((specific && (r->flags & ROUTE_FALLBACK)) || !pattern_matches(r->pattern, path))
			continue;
		any = 1;
		if (m->route == NULL &&
		    (strcmp(r->method, method) == 0 || (get && strcmp(method, "HEAD") == 0)))
			m->route = r;
		allow_add(m->allow, sizeof(m->allow), r->method);
		if (get)
			allow_add(m->allow, sizeof(m->allow), "HEAD");
	}
	if (m->route != NULL) {
		extract_params(m, m->route->pattern, path);
		return ROUTE_FOUND;
	}
	return any ? ROUTE_NO_METHOD : ROUTE_NOT_FOUND;
}

const char *route_match_param(const struct route_match *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nparams; i++)
		if (strcmp(m->params[i].name, name) == 0)
			return m->params[i].value;
	return NULL;
}

void route_match_release(struct route_match *m)
{
	free(m->storage);
	memset(m, 0, sizeof(*m));
}

int route_path_exists(const struct route *routes, size_t nroutes, const char *path)
{
	size_t i;

	if (!path_valid(path))
		return 0;
	for (i = 0; i < nroutes; i++)
		if (pattern_matches(routes[i].pattern, path))
			return 1;
	return 0;
}
