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
	f->value_len = value ? strlen(value) : 0;
	f->read_as = f->attr;
	if (!attr)
		return f;
	/* the names before CloudEvents 1.0 that EV's LookupAttribute still answers */
	if (strcmp(attr, "schemaurl") == 0)
		f->read_as = "dataschema";
	else if (strcmp(attr, "datamediatype") == 0)
		f->read = FILTER_READ_MEDIATYPE;
	else if (strcmp(attr, "datacontentencoding") == 0)
		f->read = FILTER_READ_EMPTY;
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

static bool is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/*
 * The value of the attribute leaf f names, as EV's attributes.LookupAttribute reads it (the
 * way was chosen by filter_new(): see enum filter_read; datamediatype as the Go SDK's
 * GetDataMediaType()). Sets *len; NULL when the event has no such attribute.
 */
static const char *lookup(const struct filter *f, const struct ce_event *ev, size_t *len)
{
	const char *v, *end;

	switch (f->read) {
	case FILTER_READ_EMPTY:
		*len = 0;
		return "";
	case FILTER_READ_MEDIATYPE:
		v = ce_get(ev, "datacontenttype");
		end = v ? strchr(v, ';') : NULL;
		if (!end)
			break;
		while (v < end && is_space(*v))
			v++;
		while (end > v && is_space(end[-1]))
			end--;
		*len = (size_t)(end - v);
		return v;
	default:
		v = ce_get(ev, f->read_as);
		break;
	}
	*len = v ? strlen(v) : 0;
	return v;
}

static bool leaf_match(const struct filter *f, const char *actual, size_t n)
{
	size_t m = f->value_len;

	if (!actual)
		return false;
	switch (f->kind) {
	case FILTER_ATTRIBUTE:
		if (m == 0)
			return n != 0;
		return n == m && memcmp(actual, f->value, m) == 0;
	case FILTER_EXACT:
		return n == m && memcmp(actual, f->value, m) == 0;
	case FILTER_PREFIX:
		return n >= m && memcmp(actual, f->value, m) == 0;
	case FILTER_SUFFIX:
		return n >= m && memcmp(actual + n - m, f->value, m) == 0;
	default:
		return false;
	}
}

/* EV's three filter results (eventfilter.FilterResult). */
enum verdict {
	VERDICT_PASS,
	VERDICT_FAIL,
	VERDICT_NONE, /* no filter: passes, and NOT of it is no filter again */
};

/*
 * A group's verdict as EV computes it: the first child whose verdict is stop decides;
 * otherwise the last child's verdict (none for a group without members).
 */
static enum verdict eval(const struct filter *f, const struct ce_event *ev);

static enum verdict eval_group(const struct filter *f, const struct ce_event *ev, enum verdict stop)
{
	enum verdict v = VERDICT_NONE;

	for (size_t i = 0; i < f->nkids && v != stop; i++)
		v = eval(f->kids[i], ev);
	return v;
}

static enum verdict eval(const struct filter *f, const struct ce_event *ev)
{
	const char *actual;
	enum verdict v;
	size_t n;

	if (!f)
		return VERDICT_NONE;
	switch (f->kind) {
	case FILTER_ALL:
		return eval_group(f, ev, VERDICT_FAIL);
	case FILTER_ANY:
		return eval_group(f, ev, VERDICT_PASS);
	case FILTER_NOT:
		v = f->nkids == 1 ? eval(f->kids[0], ev) : VERDICT_NONE;
		return v == VERDICT_PASS   ? VERDICT_FAIL
		       : v == VERDICT_FAIL ? VERDICT_PASS
					   : VERDICT_NONE;
	default:
		actual = lookup(f, ev, &n);
		return leaf_match(f, actual, n) ? VERDICT_PASS : VERDICT_FAIL;
	}
}

bool filter_match(const struct filter *f, const struct ce_event *ev)
{
	return eval(f, ev) != VERDICT_FAIL;
}
