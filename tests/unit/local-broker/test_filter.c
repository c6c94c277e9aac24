/*
 * Unit tests for services/local-broker/filter.c: every dialect, nesting, missing vs empty
 * attributes, extensions and case sensitivity, as rows of {filter, event, expected}.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <string.h>

#include "../../../services/local-broker/filter.h"
#include "common/ce.h"
#include "common/xalloc.h"

/* The event every row is matched against. */
static struct ce_event *make_event(void)
{
	struct ce_event *ev = ce_event_new();

	cr_assert_eq(ce_set(ev, "specversion", "1.0"), 0);
	cr_assert_eq(ce_set(ev, "id", "42"), 0);
	cr_assert_eq(ce_set(ev, "source", "/shop/orders"), 0);
	cr_assert_eq(ce_set(ev, "type", "com.example.order.created"), 0);
	cr_assert_eq(ce_set(ev, "color", "red"), 0);
	cr_assert_eq(ce_set(ev, "empty", ""), 0);
	cr_assert_eq(ce_set_int(ev, "count", 7), 0);
	cr_assert_eq(ce_set(ev, "dataschema", "https://example.com/order.json"), 0);
	cr_assert_eq(ce_set(ev, "datacontenttype", " application/json ; charset=utf-8"), 0);
	return ev;
}

static struct filter *leaf(enum filter_kind k, const char *a, const char *v)
{
	return filter_new(k, a, v);
}

static struct filter *group(enum filter_kind k, struct filter *a, struct filter *b)
{
	struct filter *g = filter_new(k, NULL, NULL);

	if (a)
		filter_add(g, a);
	if (b)
		filter_add(g, b);
	return g;
}

struct row {
	const char *name;
	struct filter *(*build)(void);
	bool expected;
};

#define ROW(name, expr, expected)                \
	static struct filter *build_##name(void) \
	{                                        \
		return (expr);                   \
	}
#define L(k, a, v) leaf(FILTER_##k, a, v)
#define G(k, a, b) group(FILTER_##k, a, b)

ROW(none, NULL, true)
ROW(attr_exact, G(ALL, L(ATTRIBUTE, "type", "com.example.order.created"), NULL), true)
ROW(attr_case, G(ALL, L(ATTRIBUTE, "type", "COM.example.order.created"), NULL), false)
ROW(attr_any_value, L(ATTRIBUTE, "color", ""), true)
ROW(attr_any_missing, L(ATTRIBUTE, "subject", ""), false)
ROW(attr_any_empty, L(ATTRIBUTE, "empty", ""), false)
ROW(attr_extension_int, L(ATTRIBUTE, "count", "7"), true)
ROW(attr_and, G(ALL, L(ATTRIBUTE, "color", "red"), L(ATTRIBUTE, "source", "/nope")), false)
ROW(exact, L(EXACT, "source", "/shop/orders"), true)
ROW(exact_missing, L(EXACT, "subject", "x"), false)
ROW(exact_ext, L(EXACT, "color", "red"), true)
ROW(exact_case, L(EXACT, "color", "Red"), false)
ROW(prefix, L(PREFIX, "type", "com.example."), true)
ROW(prefix_whole, L(PREFIX, "type", "com.example.order.created"), true)
ROW(prefix_no, L(PREFIX, "type", "org."), false)
ROW(prefix_missing, L(PREFIX, "subject", ""), false)
ROW(suffix, L(SUFFIX, "type", ".created"), true)
ROW(suffix_longer, L(SUFFIX, "color", "infrared"), false)
ROW(all_empty, G(ALL, NULL, NULL), true)
ROW(all_one_false, G(ALL, L(EXACT, "color", "red"), L(EXACT, "color", "blue")), false)
ROW(any_one_true, G(ANY, L(EXACT, "color", "blue"), L(EXACT, "color", "red")), true)
ROW(any_none, G(ANY, L(EXACT, "color", "blue"), L(EXACT, "color", "green")), false)
ROW(any_empty, G(ANY, NULL, NULL), true)
ROW(not_true, G(NOT, L(EXACT, "color", "red"), NULL), false)
ROW(not_false, G(NOT, L(EXACT, "color", "blue"), NULL), true)
ROW(not_missing, G(NOT, L(EXACT, "subject", "x"), NULL), true)
ROW(not_empty_any, G(NOT, G(ANY, NULL, NULL), NULL), true)
ROW(not_empty_all, G(NOT, G(ALL, NULL, NULL), NULL), true)
ROW(not_childless, G(NOT, NULL, NULL), true)
ROW(not_all_last_none, G(NOT, G(ALL, L(EXACT, "color", "red"), G(ANY, NULL, NULL)), NULL), true)
ROW(not_all_last_pass, G(NOT, G(ALL, G(ANY, NULL, NULL), L(EXACT, "color", "red")), NULL), false)
ROW(any_fail_then_none, G(ANY, L(EXACT, "color", "blue"), G(ALL, NULL, NULL)), true)
ROW(not_any_fail_then_none, G(NOT, G(ANY, L(EXACT, "color", "blue"), G(ALL, NULL, NULL)), NULL),
    true)
ROW(alias_schemaurl, L(EXACT, "schemaurl", "https://example.com/order.json"), true)
ROW(alias_mediatype, L(EXACT, "datamediatype", "application/json"), true)
ROW(alias_mediatype_suffix, L(SUFFIX, "datamediatype", "/json"), true)
ROW(alias_mediatype_whole, L(EXACT, "datamediatype", " application/json ; charset=utf-8"), false)
ROW(alias_encoding, L(EXACT, "datacontentencoding", "base64"), false)
ROW(alias_attr_any, L(ATTRIBUTE, "datamediatype", ""), true)
ROW(nested,
    G(ALL, G(NOT, G(ANY, L(EXACT, "color", "blue"), L(SUFFIX, "id", "3")), NULL),
      G(ANY, L(PREFIX, "source", "/shop"), L(EXACT, "id", "0"))),
    true)

static const struct row rows[] = {
	{ "no filter", build_none, true },
	{ "attributes exact", build_attr_exact, true },
	{ "attributes are case-sensitive", build_attr_case, false },
	{ "attributes empty = any value", build_attr_any_value, true },
	{ "attributes empty, attribute missing", build_attr_any_missing, false },
	{ "attributes empty, attribute empty", build_attr_any_empty, false },
	{ "attributes on an integer extension", build_attr_extension_int, true },
	{ "attributes are ANDed", build_attr_and, false },
	{ "exact", build_exact, true },
	{ "exact on a missing attribute", build_exact_missing, false },
	{ "exact on an extension", build_exact_ext, true },
	{ "exact is case-sensitive", build_exact_case, false },
	{ "prefix", build_prefix, true },
	{ "prefix equal to the value", build_prefix_whole, true },
	{ "prefix not matching", build_prefix_no, false },
	{ "prefix on a missing attribute", build_prefix_missing, false },
	{ "suffix", build_suffix, true },
	{ "suffix longer than the value", build_suffix_longer, false },
	{ "all without members", build_all_empty, true },
	{ "all with one false", build_all_one_false, false },
	{ "any with one true", build_any_one_true, true },
	{ "any with none true", build_any_none, false },
	{ "any without members", build_any_empty, true },
	{ "not of true", build_not_true, false },
	{ "not of false", build_not_false, true },
	{ "not of a missing attribute", build_not_missing, true },
	/* EV's "no filter" result: a group without members, and NOT keeps it (filter.h) */
	{ "not of an any without members", build_not_empty_any, true },
	{ "not of an all without members", build_not_empty_all, true },
	{ "not without a child", build_not_childless, true },
	{ "not of an all whose last member gives no filter", build_not_all_last_none, true },
	{ "not of an all whose last member passes", build_not_all_last_pass, false },
	{ "any: a failing member, then no filter", build_any_fail_then_none, true },
	{ "not of that any", build_not_any_fail_then_none, true },
	/* the names before CloudEvents 1.0 that EV's LookupAttribute still answers */
	{ "schemaurl is dataschema", build_alias_schemaurl, true },
	{ "datamediatype is datacontenttype before ';', trimmed", build_alias_mediatype, true },
	{ "suffix on datamediatype", build_alias_mediatype_suffix, true },
	{ "datamediatype is not the whole datacontenttype", build_alias_mediatype_whole, false },
	{ "datacontentencoding is empty for a 1.0 event", build_alias_encoding, false },
	{ "attributes: datamediatype has a value", build_alias_attr_any, true },
	{ "nested all/not/any", build_nested, true },
};

Test(filter, table)
{
	struct ce_event *ev = make_event();
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		struct filter *f = rows[i].build();

		cr_expect_eq(filter_match(f, ev), rows[i].expected, "%s", rows[i].name);
		filter_free(f);
	}
	ce_event_free(ev);
}

Test(filter, never_modifies_the_event)
{
	struct ce_event *ev = make_event();
	struct filter *f = G(ALL, L(PREFIX, "type", "com"), L(ATTRIBUTE, "color", ""));

	cr_assert(filter_match(f, ev));
	cr_assert_str_eq(ce_get(ev, "color"), "red");
	cr_assert_eq(ev->n_ext, 3);
	cr_assert_eq(filter_count(f), 3);
	filter_free(f);
	ce_event_free(ev);
}

Test(filter, attribute_names)
{
	static const struct {
		const char *name;
		bool ok;
	} names[] = {
		{ "type", true }, { "a1", true },    { "x", true },    { "", false },
		{ "1a", false },  { "Type", false }, { "a-b", false }, { "a_b", false },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		cr_expect_eq(filter_attr_name_valid(names[i].name), names[i].ok, "'%s'",
			     names[i].name);
}
