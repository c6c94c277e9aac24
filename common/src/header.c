/* header.c: the owned header list (see header.h). */
#include "common/header.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/text.h"
#include "common/xalloc.h"

void header_list_init(struct header_list *l)
{
	l->v = NULL;
	l->n = 0;
	l->alloc = 0;
}

void header_list_take(struct header_list *l, char *name, char *value)
{
	XGROW(l->v, l->n + 1, l->alloc);
	l->v[l->n].name = name;
	l->v[l->n].value = value;
	l->n++;
}

void header_list_add(struct header_list *l, const char *name, const char *value)
{
	header_list_take(l, xstrdup(name), xstrdup(value));
}

const char *header_list_get(const struct header_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcasecmp(l->v[i].name, name))
			return l->v[i].value;
	return NULL;
}

/* The list's strings are its own; http_header's fields are const for its readers. */
static void free_owned(const char *s)
{
	free((char *)(uintptr_t)s);
}

/* Frees the headers from index n on. */
static void truncate_to(struct header_list *l, size_t n)
{
	while (l->n > n) {
		l->n--;
		free_owned(l->v[l->n].name);
		free_owned(l->v[l->n].value);
	}
}

void header_list_release(struct header_list *l)
{
	truncate_to(l, 0);
	free(l->v);
	header_list_init(l);
}

int header_list_parse(struct header_list *l, const char *text)
{
	size_t old = l->n;
	const char *p = text;

	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		char *k, *v;

		if (strspn(p, " \t") < len) { /* an empty member is skipped */
			if (!eq)
				goto fail;
			k = text_percent_decode_ows(p, (size_t)(eq - p));
			v = text_percent_decode_ows(eq + 1, len - (size_t)(eq - p) - 1);
			if (!k || !v || !*k) {
				free(k);
				free(v);
				goto fail;
			}
			header_list_take(l, k, v);
		}
		p = comma ? comma + 1 : NULL;
	}
	return 0;
fail:
	truncate_to(l, old);
	return ERR_BAD_REQUEST;
}
