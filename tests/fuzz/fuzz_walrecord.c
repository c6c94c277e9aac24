/*
 * fuzz_walrecord: the local broker's write-ahead log records as a restart reads them back
 * (walreplay.h), then each live delivery through delivery_from_json() against the demo
 * topology, with the invariants: every live id is below next_id and maps to an object; a
 * delivery that is accepted survives delivery_to_json() and delivery_from_json() again;
 * every refusal explains itself. The input is a log: lines split on '\n'.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../services/local-broker/delivery.h"
#include "../../services/local-broker/topology.h"
#include "../../services/local-broker/walreplay.h"
#include "common/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char manifests[] =
    "apiVersion: eventing.knative.dev/v1\n"
    "kind: Broker\n"
    "metadata: {name: bookstore-broker, namespace: bookstore}\n"
    "spec:\n"
    "  delivery: {retry: 2, backoffPolicy: exponential, backoffDelay: PT1S,\n"
    "             deadLetterSink: {ref: {apiVersion: serving.knative.dev/v1, kind: Service,\n"
    "                                    name: dead-letter-logger, namespace: bookstore}}}\n"
    "---\n"
    "apiVersion: eventing.knative.dev/v1\n"
    "kind: Trigger\n"
    "metadata: {name: file-sink-trigger, namespace: bookstore}\n"
    "spec:\n"
    "  broker: bookstore-broker\n"
    "  filter: {attributes: {type: new-review-comment}}\n"
    "  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: file-sink,\n"
    "                     namespace: bookstore}}\n";

static struct topology *demo_topology(void)
{
	struct topology *t = topology_new();
	struct buf err;

	buf_init(&err, 4096);
	if (topology_set_services(
		t, "node-server=http://n,file-sink=http://f/,dead-letter-logger=http://d", &err) !=
		0 ||
	    topology_add_yaml(t, manifests, sizeof(manifests) - 1, "fuzz", &err) != 0 ||
	    topology_finish(t, &err) != 0)
		abort();
	buf_release(&err);
	return t;
}

/* A delivery accepted once is accepted again from its own record. */
static void check_delivery(json_t *dj, const struct topology *t)
{
	struct delivery *dv = NULL, *again = NULL;
	struct buf err;
	json_t *back;

	buf_init(&err, 1024);
	if (delivery_from_json(dj, t, &dv, &err) != 0) {
		if (err.len == 0)
			abort(); /* every refusal explains itself */
		goto out;
	}
	back = delivery_to_json(dv);
	if (!back || delivery_from_json(back, t, &again, &err) != 0)
		abort();
	json_decref(back);
	delivery_free(again);
	delivery_free(dv);
out:
	buf_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct topology *t;
	const char *p = (const char *)data, *end = p + size;
	struct walreplay rp;
	const char *key;
	json_t *entry;

	if (!t)
		t = demo_topology(); /* read-only after this: kept for the whole run */
	walreplay_init(&rp);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		(void)walreplay_record(p, len, &rp);
		p += len + (nl ? 1 : 0);
	}
	if (rp.next_id == 0)
		abort();
	json_object_foreach(rp.live, key, entry)
	{
		char *tail;
		unsigned long long id = strtoull(key, &tail, 10);
		json_t *dj = walreplay_delivery(entry);

		if (*tail || id >= rp.next_id || !json_is_object(dj))
			abort();
		check_delivery(dj, t);
		json_decref(dj);
	}
	walreplay_release(&rp);
	return 0;
}
