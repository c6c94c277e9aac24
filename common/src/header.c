/* header.c: the owned header list (see header.h). */
#include "common/header.h"

#include <stdint.h>
#include <stdlib.h>
#include <strings.h>

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

void header_list_release(struct header_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free_owned(l->v[i].name);
		free_owned(l->v[i].value);
	}
	free(l->v);
	header_list_init(l);
}
