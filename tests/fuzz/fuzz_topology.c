/*
 * fuzz_topology: the local broker's manifest reader (libyaml + Knative validation) and the
 * filters it builds, with the invariants every accepted topology must satisfy: each Trigger
 * (and Sequence step) has a resolved subscriber (an http(s) URL with a host, the scheme in
 * any case, as text_url_authority() checks it), an effective delivery spec, a known Broker
 * (or channel), replies that go to a known Broker or nowhere, and a bounded filter tree that
 * can be evaluated.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/local-broker/filter.h"
#include "../../services/local-broker/topology.h"
#include "common/buf.h"
#include "common/ce.h"
#include "common/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ce_event *sample_event(void)
{
	struct ce_event *ev = ce_event_new();

	ce_set(ev, "specversion", "1.0");
	ce_set(ev, "id", "1");
	ce_set(ev, "source", "/s");
	ce_set(ev, "type", "new-review-comment");
	ce_set(ev, "color", "red");
	return ev;
}

static void check(const struct topology *t, const struct ce_event *ev)
{
	size_t i;

	for (i = 0; i < t->ntriggers; i++) {
		const struct topo_trigger *tr = &t->triggers[i];
		const char *authority = text_url_authority(tr->subscriber); /* scheme in any case */

		if (!authority || !*authority || !tr->delivery || tr->broker_index >= t->nbrokers ||
		    tr->delivery->retry < 0 ||
		    (tr->reply_index >= t->nbrokers && tr->reply_index != TOPO_NO_REPLY) ||
		    (!tr->step && tr->reply_index != tr->broker_index) ||
		    filter_count(tr->filter) > 1001)
			abort();
		(void)filter_match(tr->filter, ev);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct topology *t = topology_new();
	struct ce_event *ev = sample_event();
	struct buf err;

	buf_init(&err, 4096);
	topology_set_self(t, "http://self:1");
	if (topology_set_services(
		t,
		"node-server=http://n,file-sink=http://f/,dead-letter-logger=http://d,"
		"bad-word-filter=http://b,sentiment-analysis=http://s",
		&err) != 0)
		abort();
	if (topology_add_yaml(t, (const char *)data, size, "fuzz", &err) == 0 &&
	    topology_finish(t, &err) == 0)
		check(t, ev);
	else if (err.len == 0)
		abort(); /* every refusal explains itself */
	topology_free(t);
	ce_event_free(ev);
	buf_release(&err);
	return 0;
}
