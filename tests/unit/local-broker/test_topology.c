/*
 * Unit tests for services/local-broker/topology.c: manifest errors (as Knative's webhook
 * would refuse them), destination resolution, delivery spec replacement, and the real
 * k8s/base/eventing manifests.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../../../services/local-broker/topology.h"
#include "common/buf.h"
#include "common/ce.h"
#include "common/xalloc.h"

#define SERVICES "node-server=http://127.0.0.1:8080,file-sink=http://127.0.0.1:8082/,dls=http://d"
#define BROKER \
	"apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: b, namespace: ns}\n"
#define SEQ(spec)                                                                                \
	"---\napiVersion: flows.knative.dev/v1\nkind: Sequence\nmetadata: {name: s, namespace: " \
	"ns}\nspec: " spec "\n"
#define STEP "{ref: {kind: Service, name: node-server}}"
#define SEQ2                                                                                     \
	"---\napiVersion: flows.knative.dev/v1\nkind: Sequence\nmetadata: {name: n, namespace: " \
	"ns}\nspec: {steps: [{uri: 'http://only'}]}\n"
#define TRIGGER(spec)                                                                              \
	"---\napiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t, namespace: " \
	"ns}\nspec: {broker: b, subscriber: {uri: 'http://s'}, " spec "}\n"

static int load(const char *yaml, struct topology **out, struct buf *err)
{
	struct topology *t = topology_new();
	int rc;

	topology_set_self(t, "http://self:1/");
	rc = topology_set_services(t, SERVICES, err);
	if (!rc)
		rc = topology_add_yaml(t, yaml, strlen(yaml), "mem.yaml", err);
	if (!rc)
		rc = topology_finish(t, err);
	if (rc) {
		topology_free(t);
		t = NULL;
	}
	*out = t;
	return rc;
}

Test(topology, errors_table)
{
	static const struct {
		const char *yaml;
		const char *message;
	} rows[] = {
		{ BROKER "spec: {delivery: {retry: -1}}\n",
		  "mem.yaml: Broker ns/b: spec.delivery.retry: must be an integer >= 0 (got "
		  "'-1')" },
		{ BROKER "spec: {delivery: {retry: two}}\n", "spec.delivery.retry" },
		{ BROKER "spec: {delivery: {backoffPolicy: Linear}}\n",
		  "backoffPolicy: must be linear or exponential (got 'Linear')" },
		{ BROKER "spec: {delivery: {backoffDelay: 1s}}\n",
		  "backoffDelay: '1s' is not an ISO-8601 duration" },
		{ BROKER "spec: {delivery: {timeout: PT0S}}\n", "timeout: must not be zero" },
		{ BROKER "spec: {delivery: {format: xml}}\n", "format: must be json or binary" },
		{ BROKER "spec: {delivery: {deadLetterSink: {uri: /relative}}}\n",
		  "deadLetterSink.uri: '/relative' is not an absolute http(s) URL" },
		{ BROKER "spec: {delivery: {deadLetterSink: {ref: {kind: Service, name: nope}}}}\n",
		  "service 'nope' is not mapped in BROKER_SERVICES" },
		{ BROKER "spec: {delivery: {deadLetterSink: {ref: {kind: Channel, name: b}}}}\n",
		  "kind Channel is not supported" },
		{ BROKER "spec: {delivery: {deadLetterSink: {ref: {kind: Broker, name: nob}}}}\n",
		  "spec.delivery.deadLetterSink.ref: Broker ns/nob: no such Broker" },
		{ BROKER TRIGGER("filter: {}") "---\n" BROKER, "defined twice" },
		{ BROKER SEQ("{steps: []}"),
		  "Sequence ns/s: spec.steps: must be a non-empty list" },
		{ BROKER SEQ("{}"), "spec.steps: must be a non-empty list" },
		{ BROKER SEQ("{steps: [{uri: /x}]}"),
		  "spec.steps[0].uri: '/x' is not an absolute http(s) URL" },
		{ BROKER SEQ("{steps: [" STEP ", {delivery: {retry: -1}, uri: 'http://s'}]}"),
		  "Sequence ns/s: spec.steps[1].delivery.retry: must be an integer >= 0" },
		{ BROKER SEQ("{steps: [" STEP
			     "], channelTemplate: {spec: {delivery: {backoffPolicy: "
			     "x}}}}"),
		  "spec.channelTemplate.spec.delivery.backoffPolicy: must be linear or "
		  "exponential" },
		{ BROKER SEQ("{steps: [" STEP "], reply: {uri: 'http://r'}}"),
		  "spec.reply: the local broker supports only a ref to a Broker" },
		{ BROKER SEQ("{steps: [" STEP
			     "], reply: {ref: {kind: Broker, name: b, namespace: o}}}"),
		  "spec.reply.ref: the Broker must be in the Sequence's namespace" },
		{ BROKER SEQ("{steps: [" STEP "], reply: {ref: {kind: Broker, name: nob}}}"),
		  "Sequence step ns/s-kn-sequence-0: spec.reply: no Broker ns/nob" },
		{ BROKER SEQ("{steps: [" STEP "]}") SEQ("{steps: [" STEP "]}"),
		  "spec.steps[0]: its channel ns/s-kn-sequence-0 is defined twice" },
		{ BROKER
		  "---\napiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t, "
		  "namespace: ns}\nspec: {broker: b, subscriber: {ref: {apiVersion: "
		  "flows.knative.dev/v1, kind: Sequence, name: nos}}}\n",
		  "Trigger ns/t: spec.subscriber.ref: Sequence ns/nos: no such Sequence" },
		{ BROKER TRIGGER("filter: {attributes: {Type: x}}"),
		  "Trigger ns/t: spec.filter.attributes: invalid attribute name 'Type'" },
		{ BROKER TRIGGER("filter: {attributes: {9a: x}}"), "invalid attribute name '9a'" },
		{ BROKER TRIGGER("filters: [{exact: {type: a}, suffix: {type: b}}]"),
		  "spec.filters[0]: must use exactly one dialect" },
		{ BROKER TRIGGER("filters: [{}]"),
		  "spec.filters[0]: must use exactly one dialect" },
		{ BROKER TRIGGER("filters: [{regex: {type: a}}]"),
		  "unknown filter dialect 'regex'" },
		{ BROKER TRIGGER("filters: [{exact: {type: a, source: b}}]"),
		  "spec.filters[0].exact: must hold exactly one attribute" },
		{ BROKER TRIGGER("filters: [{prefix: {type: ''}}]"),
		  "the value must be a non-empty" },
		{ BROKER TRIGGER("filters: [{all: [{not: {exact: {Bad: x}}}]}]"),
		  "spec.filters[0].all[0].not.exact: invalid attribute name 'Bad'" },
		{ BROKER TRIGGER("filters: [{cesql: \"type = 'a'\"}]"),
		  "CloudEvents SQL filters are not supported" },
		{ BROKER TRIGGER("filters: [{any: {exact: {type: a}}}]"),
		  "must be a list of filters" },
		{ BROKER
		  "---\napiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t, "
		  "namespace: ns}\nspec: {broker: b}\n",
		  "spec.subscriber: required" },
		{ BROKER
		  "---\napiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t, "
		  "namespace: ns}\nspec: {broker: other, subscriber: {uri: 'http://s'}}\n",
		  "no Broker ns/other" },
		{ "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {namespace: ns}\n",
		  "metadata.name: required" },
		{ BROKER "spec: [1]\n", "Broker ns/b: spec: must be an object" },
		{ BROKER "---\n" BROKER, "Broker ns/b: defined twice" },
		{ "kind: [unclosed\n", "YAML error" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		struct topology *t = NULL;
		struct buf err;

		buf_init(&err, 4096);
		cr_expect_neq(load(rows[i].yaml, &t, &err), 0, "row %zu loaded", i);
		cr_expect_null(t);
		topology_free(t);
		cr_expect(strstr(err.data, rows[i].message) != NULL, "row %zu: '%s' lacks '%s'", i,
			  err.data, rows[i].message);
		buf_release(&err);
	}
}

/* A Sequence as EV's reconciler builds it: a channel and a Subscription per step. */
Test(topology, sequence)
{
	static const char yaml[] = BROKER
	    "spec: {delivery: {retry: 2, deadLetterSink: {uri: 'http://broker-dls'}}}\n"
	    "---\napiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t, "
	    "namespace: "
	    "ns}\nspec: {broker: b, subscriber: {ref: {apiVersion: flows.knative.dev/v1, kind: "
	    "Sequence, name: s}}}\n" SEQ(
		"{channelTemplate: {apiVersion: messaging.knative.dev/v1, kind: InMemoryChannel, "
		"spec: {delivery: {retry: 5, backoffPolicy: linear, backoffDelay: PT2S, "
		"deadLetterSink: {uri: 'http://chan-dls'}}}}, steps: [" STEP ", {ref: {kind: "
		"Service, name: file-sink}, delivery: {retry: 1}}, {uri: 'http://third', "
		"delivery: {retry: 0, deadLetterSink: {uri: 'http://own-dls'}}}], reply: {ref: "
		"{apiVersion: eventing.knative.dev/v1, kind: Broker, name: b}}}") SEQ2;
	struct topology *t = NULL;
	const struct topo_trigger *s0, *s1, *s2, *n0;
	const struct topo_broker *c0;
	struct buf err;

	buf_init(&err, 4096);
	cr_assert_eq(load(yaml, &t, &err), 0, "%s", err.data);
	cr_expect_eq(t->nsequences, 2);
	cr_expect_str_eq(topology_trigger(t, "ns", "t")->subscriber,
			 "http://self:1/ns/s-kn-sequence-0");
	c0 = topology_broker(t, "ns", "s-kn-sequence-0");
	cr_assert_not_null(c0);
	cr_expect_eq(c0->kind, TOPO_CHANNEL);
	cr_expect_eq(topology_broker(t, "ns", "b")->kind, TOPO_BROKER);
	s0 = topology_trigger(t, "ns", "s-kn-sequence-0");
	s1 = topology_trigger(t, "ns", "s-kn-sequence-1");
	s2 = topology_trigger(t, "ns", "s-kn-sequence-2");
	cr_assert(s0 && s1 && s2);
	cr_expect(s0->step && !topology_trigger(t, "ns", "t")->step);
	cr_expect_null(s0->filter);
	cr_expect_str_eq(s0->subscriber, "http://127.0.0.1:8080");
	cr_expect_str_eq(s1->subscriber, "http://127.0.0.1:8082/");
	cr_expect_str_eq(s2->subscriber, "http://third");
	/* Replies: to the next channel, the last to spec.reply. */
	cr_expect_eq(s0->reply_index, s1->broker_index);
	cr_expect_eq(s1->reply_index, s2->broker_index);
	cr_expect_eq(s2->reply_index, (size_t)(topology_broker(t, "ns", "b") - t->brokers));
	cr_expect_eq(topology_trigger(t, "ns", "t")->reply_index,
		     topology_trigger(t, "ns", "t")->broker_index);
	/* Delivery: the channel's when the step sets none; the step's replaces it whole, but
	 * its dead-letter sink falls back to the channel's. */
	cr_expect_eq(s0->delivery->retry, 5);
	cr_expect_eq(s0->delivery->policy, BACKOFF_LINEAR);
	cr_expect_str_eq(s0->delivery->dls_url, "http://chan-dls");
	cr_expect_eq(s1->delivery->retry, 1);
	cr_expect_eq(s1->delivery->policy, BACKOFF_NONE);
	cr_expect_str_eq(s1->delivery->dls_url, "http://chan-dls");
	cr_expect_str_eq(s2->delivery->dls_url, "http://own-dls");
	/* A Sequence without spec.reply: its last step's replies are dropped. */
	n0 = topology_trigger(t, "ns", "n-kn-sequence-0");
	cr_assert_not_null(n0);
	cr_expect_eq(n0->reply_index, TOPO_NO_REPLY);
	cr_expect_null(n0->delivery->dls_url);
	topology_free(t);
	buf_release(&err);
}

/*
 * A Trigger's Broker or Sequence ref goes through the broker's own ingress, so it needs its
 * URL; a Sequence's reply and its steps' channels are internal and do not.
 */
Test(topology, self_refs_need_the_own_url)
{
	static const char internal[] = BROKER SEQ("{steps: [" STEP "], reply: {ref: {kind: Broker, "
						  "name: b}}}");
	static const char ref[] =
	    BROKER "---\napiVersion: eventing.knative.dev/v1\nkind: "
		   "Trigger\nmetadata: {name: t, namespace: ns}\nspec: {broker: "
		   "b, subscriber: {ref: {kind: Broker, name: b}}}\n";
	struct topology *t = topology_new();
	struct buf err;

	buf_init(&err, 4096);
	cr_assert_eq(topology_set_services(t, SERVICES, &err), 0);
	cr_expect_eq(topology_add_yaml(t, internal, strlen(internal), "mem.yaml", &err), 0, "%s",
		     err.data);
	cr_expect_eq(topology_finish(t, &err), 0, "%s", err.data);
	topology_free(t);
	t = topology_new();
	cr_expect_neq(topology_add_yaml(t, ref, strlen(ref), "mem.yaml", &err), 0);
	cr_expect(strstr(err.data, "Trigger ns/t: spec.subscriber.ref: a Broker destination needs "
				   "the broker's own URL") != NULL,
		  "%s", err.data);
	topology_free(t);
	buf_release(&err);
}

Test(topology, destinations_and_ignored_kinds)
{
	static const char yaml[] =
	    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
	    "---\napiVersion: sources.knative.dev/v1\nkind: SinkBinding\nmetadata: {name: y}\n"
	    "---\napiVersion: other.example/v1\nkind: Broker\nmetadata: {name: z}\n"
	    "---\n" BROKER "spec:\n  delivery:\n    deadLetterSink:\n      ref: {apiVersion: "
	    "serving.knative.dev/v1, kind: Service, name: dls}\n"
	    "---\napiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: a, "
	    "namespace: ns}\nspec: {broker: b, subscriber: {ref: {kind: Service, name: "
	    "node-server}, "
	    "uri: /insert}}\n"
	    "---\napiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: c, "
	    "namespace: ns}\nspec: {broker: b, subscriber: {ref: {kind: Service, name: file-sink}, "
	    "uri: x}}\n"
	    "---\napiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: d, "
	    "namespace: ns}\nspec: {broker: b, subscriber: {uri: 'https://h/p?q=1'}}\n";
	struct topology *t;
	struct buf err;

	buf_init(&err, 4096);
	cr_assert_eq(load(yaml, &t, &err), 0, "%s", err.data);
	cr_assert_eq(t->nbrokers, 1, "other kinds and groups ignored");
	cr_assert_eq(t->ntriggers, 3);
	cr_assert_str_eq(t->brokers[0].delivery.dls_url, "http://d");
	cr_assert_str_eq(topology_trigger(t, "ns", "a")->subscriber,
			 "http://127.0.0.1:8080/insert");
	cr_assert_str_eq(topology_trigger(t, "ns", "c")->subscriber, "http://127.0.0.1:8082/x");
	cr_assert_str_eq(topology_trigger(t, "ns", "d")->subscriber, "https://h/p?q=1");
	cr_assert_null(topology_trigger(t, "ns", "zz"));
	cr_assert_null(topology_broker(t, "other", "b"));
	topology_free(t);
	buf_release(&err);
}

Test(topology, trigger_delivery_replaces_broker_delivery_whole)
{
	static const char yaml[] = BROKER
	    "spec:\n  delivery: {retry: 5, backoffPolicy: linear, backoffDelay: PT2S, "
	    "timeout: PT3S, deadLetterSink: {uri: 'http://bdls'}}\n"
	    "---\napiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: own, "
	    "namespace: ns}\nspec: {broker: b, subscriber: {uri: 'http://s'}, delivery: {retry: "
	    "1}}\n"
	    "---\napiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: inherit, "
	    "namespace: ns}\nspec: {broker: b, subscriber: {uri: 'http://s'}}\n";
	const struct delivery_spec *own, *inherit;
	struct topology *t;
	struct buf err;

	buf_init(&err, 4096);
	cr_assert_eq(load(yaml, &t, &err), 0, "%s", err.data);
	own = topology_trigger(t, "ns", "own")->delivery;
	inherit = topology_trigger(t, "ns", "inherit")->delivery;
	cr_assert_eq(own->retry, 1);
	cr_assert_eq(own->policy, BACKOFF_NONE, "not merged from the broker");
	cr_assert_eq(own->delay_ms, -1);
	cr_assert_eq(own->timeout_ms, 0);
	/* the dead-letter sink alone falls back: EV's Subscription takes its channel's */
	cr_assert_str_eq(own->dls_url, "http://bdls");
	cr_assert_eq(inherit->retry, 5);
	cr_assert_eq(inherit->policy, BACKOFF_LINEAR);
	cr_assert_eq(inherit->delay_ms, 2000);
	cr_assert_eq(inherit->timeout_ms, 3000);
	cr_assert_str_eq(inherit->dls_url, "http://bdls");
	topology_free(t);
	buf_release(&err);
}

Test(topology, filters_override_filter)
{
	static const char yaml[] = BROKER TRIGGER("filter: {attributes: {type: a}}, filters: "
						  "[{exact: {type: b}}, {not: {prefix: {id: x}}}]");
	struct topology *t;
	struct buf err;
	const struct filter *f;

	buf_init(&err, 4096);
	cr_assert_eq(load(yaml, &t, &err), 0, "%s", err.data);
	f = t->triggers[0].filter;
	cr_assert_eq(f->kind, FILTER_ALL);
	cr_assert_eq(f->nkids, 2);
	cr_assert_eq(f->kids[0]->kind, FILTER_EXACT);
	cr_assert_str_eq(f->kids[0]->value, "b");
	cr_assert_eq(f->kids[1]->kind, FILTER_NOT);
	topology_free(t);
	buf_release(&err);
}

/*
 * An all/any whose list is empty is left out of its list, as EV leaves it out when it
 * materializes the filters; a NOT of it is no filter. Matched against one event.
 */
Test(topology, empty_all_any_lists_are_left_out_as_in_ev)
{
	static const struct {
		const char *filters;
		bool matches;
	} rows[] = {
		{ "[{not: {any: []}}]", true },
		{ "[{not: {all: []}}]", true },
		{ "[{any: [{exact: {type: nope}}, {all: []}]}]", false },
		{ "[{any: [{exact: {type: nope}}, {any: []}]}]", false },
		{ "[{all: []}]", true },
		{ "[{exact: {type: nope}}, {any: []}]", false },
		{ "[{not: {all: [{exact: {type: order}}, {any: []}]}}]", false },
	};
	struct ce_event *ev = ce_event_new();

	cr_assert_eq(ce_set(ev, "specversion", "1.0"), 0);
	cr_assert_eq(ce_set(ev, "id", "1"), 0);
	cr_assert_eq(ce_set(ev, "source", "/s"), 0);
	cr_assert_eq(ce_set(ev, "type", "order"), 0);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char yaml[1024];
		struct topology *t;
		struct buf err;

		snprintf(yaml, sizeof(yaml), BROKER TRIGGER("filters: %s"), rows[i].filters);
		buf_init(&err, 4096);
		cr_assert_eq(load(yaml, &t, &err), 0, "%s: %s", rows[i].filters, err.data);
		cr_expect_eq(filter_match(t->triggers[0].filter, ev), rows[i].matches, "%s",
			     rows[i].filters);
		topology_free(t);
		buf_release(&err);
	}
	ce_event_free(ev);
}

Test(topology, services_errors)
{
	static const char *const bad[] = { "novalue", "=http://x", "a=ftp://x",
					   "a=http://x,a=http://y" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		struct topology *t = topology_new();
		struct buf err;

		buf_init(&err, 1024);
		cr_expect_neq(topology_set_services(t, bad[i], &err), 0, "'%s'", bad[i]);
		cr_expect(strstr(err.data, "BROKER_SERVICES") != NULL, "%s", err.data);
		topology_free(t);
		buf_release(&err);
	}
}

Test(topology, the_demo_manifests)
{
	struct topology *t = NULL;
	struct buf err;
	const struct delivery_spec *d;

	buf_init(&err, 4096);
	cr_assert_eq(topology_load("k8s/base/eventing",
				   "node-server=http://n,file-sink=http://f,"
				   "dead-letter-logger=http://dl,bad-word-filter=http://bw,"
				   "sentiment-analysis=http://sa",
				   "http://self", &t, &err),
		     0, "%s", err.data);
	cr_assert_not_null(topology_broker(t, "bookstore", "bookstore-broker"));
	d = topology_trigger(t, "bookstore", "file-sink-trigger")->delivery;
	cr_assert_eq(d->retry, 2);
	cr_assert_eq(d->policy, BACKOFF_EXPONENTIAL);
	cr_assert_eq(d->delay_ms, 1000);
	cr_assert_str_eq(d->dls_url, "http://dl");
	cr_assert_str_eq(topology_trigger(t, "bookstore", "db-insert-trigger")->subscriber,
			 "http://n/insert");
	/* The moderation path: the Sequence's two steps, the second broker and its sink. */
	cr_assert_str_eq(topology_trigger(t, "bookstore", "sequence-trigger")->subscriber,
			 "http://self/bookstore/sequence-kn-sequence-0");
	cr_assert_str_eq(topology_trigger(t, "bookstore", "sequence-kn-sequence-0")->subscriber,
			 "http://bw");
	cr_assert_str_eq(topology_trigger(t, "bookstore", "sequence-kn-sequence-1")->subscriber,
			 "http://sa");
	cr_assert_eq(topology_trigger(t, "bookstore", "sequence-kn-sequence-1")->reply_index,
		     (size_t)(topology_broker(t, "bookstore", "bookstore-broker") - t->brokers));
	cr_assert_eq(topology_trigger(t, "bookstore", "sequence-kn-sequence-0")->delivery->retry,
		     3);
	cr_assert_str_eq(topology_trigger(t, "bookstore", "badword-noti-trigger")->subscriber,
			 "http://self/bookstore/badword-broker");
	cr_assert_str_eq(
	    topology_trigger(t, "bookstore", "badword-notification-trigger")->subscriber,
	    "http://f/bad-reviews");
	d = topology_trigger(t, "bookstore", "badword-notification-trigger")->delivery;
	cr_assert_eq(d->retry, 3);
	cr_assert_str_eq(d->dls_url, "http://dl");
	topology_free(t);
	buf_release(&err);
	buf_init(&err, 4096);
	cr_assert_neq(
	    topology_load("k8s/base/eventing", "node-server=http://n", "http://self", &t, &err), 0);
	cr_assert(strstr(err.data, "not mapped") != NULL, "%s", err.data);
	buf_release(&err);
}
