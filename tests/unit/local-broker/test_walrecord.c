/*
 * Unit tests for delivery_put_record() (services/local-broker/delivery.c), the write-ahead
 * log's "put" line that the broker formats by hand instead of through jansson: it must be
 * the very record {"op":"put","id":N,"delivery":delivery_to_json(dv)} that the replay reads,
 * for plain names and for trace headers that need JSON escaping, and it must read back into
 * the same delivery.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../../services/local-broker/delivery.h"
#include "../../../services/local-broker/ttl.h"
#include "common/buf.h"
#include "common/ce.h"
#include "common/err.h"

static const char yaml[] = "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: "
			   "{name: b, namespace: ns}\n"
			   "---\napiVersion: eventing.knative.dev/v1\nkind: Trigger\n"
			   "metadata: {name: t-1, namespace: ns}\n"
			   "spec: {broker: b, subscriber: {uri: 'http://sub'}}\n";

static struct topology *topo(void)
{
	struct topology *t = topology_new();
	struct buf err;

	buf_init(&err, 1024);
	cr_assert_eq(topology_add_yaml(t, yaml, strlen(yaml), "mem", &err), 0, "%s", err.data);
	cr_assert_eq(topology_finish(t, &err), 0, "%s", err.data);
	buf_release(&err);
	return t;
}

static struct ce_event *event(void)
{
	struct ce_event *ev = ce_event_new();

	ce_set(ev, "specversion", "1.0");
	ce_set(ev, "id", "e\"1\\");
	ce_set(ev, "source", "/s");
	ce_set(ev, "type", "t");
	ce_set_data(ev, "{\"reviewText\":\"caf\xc3\xa9 \\\"ok\\\"\"}", 26, "application/json");
	ttl_put(ev, 9);
	return ev;
}

/* Formats dv's record, checks it is one line equal to the jansson form, returns it parsed. */
static json_t *check_record(struct delivery *dv, unsigned long long id)
{
	struct buf line, event_json;
	json_t *got, *want;
	json_error_t jerr;

	buf_init(&line, BUF_NOCAP);
	buf_init(&event_json, BUF_NOCAP);
	cr_assert_eq(ce_encode_structured(dv->event, &event_json), 0);
	cr_assert_eq(delivery_put_record(dv, id, &event_json, &line), 0);
	cr_assert(line.len > 0 && line.data[line.len - 1] == '\n', "one line: %s", line.data);
	cr_assert_null(memchr(line.data, '\n', line.len - 1), "no newline inside: %s", line.data);
	got = json_loadb(line.data, line.len, 0, &jerr);
	cr_assert_not_null(got, "%s: %s", jerr.text, line.data);
	want = json_pack("{s:s,s:I,s:o}", "op", "put", "id", (json_int_t)id, "delivery",
			 delivery_to_json(dv));
	cr_assert(json_equal(got, want), "record %s differs from delivery_to_json()", line.data);
	json_decref(want);
	buf_release(&line);
	buf_release(&event_json);
	return got;
}

Test(walrecord, put_record_is_delivery_to_json)
{
	struct topology *t = topo();
	struct ce_event *ev = event();
	struct delivery *dv = delivery_new(&t->triggers[0], ev, 9, NULL, NULL), *back = NULL;
	struct buf err;
	json_t *rec;

	buf_init(&err, 1024);
	dv->attempts = 3;
	dv->due_ms = 1700000000123LL;
	rec = check_record(dv, 42);
	cr_assert_eq(delivery_from_json(json_object_get(rec, "delivery"), t, &back, &err), 0, "%s",
		     err.data);
	cr_assert_str_eq(back->event->id, "e\"1\\");
	cr_assert_eq(back->attempts, 3);
	cr_assert_eq(back->due_ms, 1700000000123LL);
	cr_assert_eq(back->ttl, 9);
	cr_assert_eq(back->event->data_len, ev->data_len);
	cr_assert_eq(memcmp(back->event->data, ev->data, ev->data_len), 0);
	json_decref(rec);
	delivery_free(back);
	delivery_free(dv);
	ce_event_free(ev);
	topology_free(t);
	buf_release(&err);
}

/* Trace headers come from requests: quotes, backslashes and control bytes must be escaped. */
Test(walrecord, put_record_escapes_trace_headers)
{
	struct topology *t = topo();
	struct ce_event *ev = event();
	struct delivery *dv = delivery_new(
	    &t->triggers[0], ev, 3, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	    "a=\"q\",b=back\\slash\x01");
	json_t *rec;

	delivery_to_dead_letter(dv, "http://sub", 503, "down", 4);
	rec = check_record(dv, 7);
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(rec, "delivery"), "phase")),
	    "dead_letter");
	json_decref(rec);
	delivery_free(dv);
	ce_event_free(ev);
	topology_free(t);
}
