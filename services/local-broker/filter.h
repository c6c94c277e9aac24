/*
 * filter.h: Knative Trigger filters as a tree, evaluated against a CloudEvent.
 *
 * Two syntaxes build the same tree (topology.c reads them from the Trigger manifest):
 *   - spec.filter.attributes {name: value}: an ALL of ATTRIBUTE leaves. An ATTRIBUTE leaf
 *     needs the attribute to exist; a non-empty value must match exactly, the empty value
 *     means "any value", but an attribute that exists with an empty value fails (as EV's
 *     eventfilter/attributes does);
 *   - spec.filters (CloudEvents Subscriptions API dialects): an ALL of the elements, each one
 *     of EXACT, PREFIX, SUFFIX (attribute must exist; case-sensitive), ALL, ANY, NOT.
 * Evaluation follows EV's three results (pkg/eventfilter): pass, fail, and "no filter", which
 * a NULL filter, a group without members and a NOT without a child give. ALL stops at the
 * first child that fails, ANY at the first that passes; otherwise a group gives its last
 * child's result. NOT swaps pass and fail and keeps "no filter". An event matches unless the
 * result is fail: so a group without members matches every event, and so does a NOT of one.
 * (topology.c leaves out a list element whose all/any list is empty, as EV skips it.)
 * Attribute lookup is ce_get(): core attributes and extensions alike, by their canonical
 * string; and, as EV's LookupAttribute, schemaurl reads dataschema, datamediatype reads
 * datacontenttype up to its ';' (trimmed), and datacontentencoding is empty.
 *
 * Ownership: a node owns its strings and its children; filter_free() frees the whole tree.
 * Evaluation never modifies the event. Thread-safe for concurrent readers.
 */
#ifndef LOCAL_BROKER_FILTER_H
#define LOCAL_BROKER_FILTER_H

#include <stdbool.h>
#include <stddef.h>

struct ce_event;

enum filter_kind {
	FILTER_ALL,
	FILTER_ANY,
	FILTER_NOT, /* one child; none (its filter was left out) = "no filter" */
	FILTER_EXACT,
	FILTER_PREFIX,
	FILTER_SUFFIX,
	FILTER_ATTRIBUTE, /* legacy spec.filter.attributes entry */
};

/* How a leaf reads its attribute, decided once by filter_new() from its name. */
enum filter_read {
	FILTER_READ_CE,	       /* ce_get(read_as) */
	FILTER_READ_MEDIATYPE, /* datamediatype: datacontenttype up to ';', trimmed */
	FILTER_READ_EMPTY,     /* datacontentencoding: always "" for a 1.0 event */
};

struct filter {
	enum filter_kind kind;
	char *attr;	  /* leaves only, as written */
	char *value;	  /* leaves only */
	size_t value_len; /* strlen(value) */
	enum filter_read read;
	const char *read_as; /* FILTER_READ_CE: attr, or "dataschema" for schemaurl */
	struct filter **kids;
	size_t nkids, akids;
};

/* A new node; attr and value are copied (NULL for groups). Never NULL. */
struct filter *filter_new(enum filter_kind kind, const char *attr, const char *value);
/* Appends child to a group node; the group takes ownership of child. */
void filter_add(struct filter *group, struct filter *child);
/* Frees f and its whole subtree. NULL is a no-op. */
void filter_free(struct filter *f);
/* Whether ev passes f (NULL passes everything). */
bool filter_match(const struct filter *f, const struct ce_event *ev);
/* Whether name is a valid filter attribute name: ^[a-z][a-z0-9]*$. */
bool filter_attr_name_valid(const char *name);
/* Number of nodes in the tree (0 for NULL); topology.c bounds it. */
size_t filter_count(const struct filter *f);

#endif
