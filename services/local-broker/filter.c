/*
 * filter.c: evaluation of Trigger filter trees (see filter.h).
 */
#include "filter.h"

#include <stdlib.h>
#include <string.h>

#include "common/ce.h"
#include "common/xalloc.h"

struct filter *filter_new(enum filter_kind kind, const char *attr, const char *value)
{
	struct filter *f = xcalloc(1, sizeof(*f));

	f->kind = kind;
	f->attr = attr ? xstrdup(attr) : NULL;
	f->value = value ? xstrdup(value) : NULL;
	return f;
}

void filter_add(struct filter *group, struct filter *child)
{
	XGROW(group->kids, group->nkids + 1, group->akids); // NOLINT(bugprone-sizeof-expression)
	group->kids[group->nkids++] = child;
}

void filter_free(struct filter *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < f->nkids; i++)
		filter_free(f->kids[i]);
	free(f->kids);
	free(f->attr);
	free(f->value);
	free(f);
}

size_t filter_count(const struct filter *f)
{
	size_t i, n;

	if (!f)
		return 0;
	n = 1;
	for (i = 0; i < f->nkids; i++)
		n += filter_count(f->kids[i]);
	return n;
}

bool filter_attr_name_valid(const char *name)
{
	const char *p;

	if (!name || name[0] < 'a' || name[0] > 'z')
		return false;
	for (p = name + 1; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			return false;
	}
	return true;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static bool leaf_match(const struct filter *f, const char *actual)
{
	if (!actual)
		return false;
	switch (f->kind) {
	case FILTER_ATTRIBUTE:
		if (f->value[0] == '\0')
			return actual[0] != '\0';
		return strcmp(actual, f->value) == 0;
	case FILTER_EXACT:
		return strcmp(actual, f->value) == 0;
	case FILTER_PREFIX:
		return strncmp(actual, f->value, strlen(f->value)) == 0;
	case FILTER_SUFFIX:
		return has_suffix(actual, f->value);
	default:
		return false;
	}
}

bool filter_match(const struct filter *f, const struct ce_event *ev)
{
	size_t i;

	if (!f)
		return true;
	switch (f->kind) {
	case FILTER_ALL:
		for (i = 0; i < f->nkids; i++) {
			if (!filter_match(f->kids[i], ev))
				return false;
		}
		return true;
	case FILTER_ANY:
		for (i = 0; i < f->nkids; i++) {
			if (filter_match(f->kids[i], ev))
				return true;
		}
		return f->nkids == 0;
	case FILTER_NOT:
		return f->nkids == 1 && !filter_match(f->kids[0], ev);
	default:
		return leaf_match(f, ce_get(ev, f->attr));
	}
}
