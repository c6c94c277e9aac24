#include <criterion/criterion.h>
#include <string.h>

#include "common/ce.h"
#include "common/ce_trace.h"
#include "common/err.h"
#include "common/trace.h"
#include "common/xalloc.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PID "00f067aa0ba902b7"
#define TP  "00-" TID "-" PID "-01"

struct ext_row {
	const char *traceparent; /* the extension's value, NULL = absent */
	const char *tracestate;
	int ok;
	const char *state_out; /* the normalized tracestate kept */
};

static const struct ext_row ext_rows[] = {
	{ TP, NULL, 1, "" },
	{ TP, "a=1, b=2", 1, "a=1,b=2" },
	{ TP, "not valid", 1, "" }, /* an invalid tracestate is dropped, the parent kept */
	{ "00-" TID "-" PID "-00", NULL, 1, "" },
	{ NULL, "a=1", 0, "" },
	{ "00-" TID "-0000000000000000-01", NULL, 0, "" },
	{ "garbage", NULL, 0, "" },
};

static struct ce_event *event_new(void)
{
	struct ce_event *ev = ce_event_new();

	cr_assert_eq(ce_set(ev, "specversion", "1.0"), 0);
	cr_assert_eq(ce_set(ev, "id", "e-1"), 0);
	cr_assert_eq(ce_set(ev, "source", "/test"), 0);
	cr_assert_eq(ce_set(ev, "type", "new-review-comment"), 0);
	return ev;
}

Test(ce_trace, context_from_extension)
{
	for (size_t i = 0; i < ARRAY_SIZE(ext_rows); i++) {
		const struct ext_row *r = &ext_rows[i];
		struct ce_event *ev = event_new();
		struct trace_context ctx;
		char tid[33], sid[17];

		if (r->traceparent)
			cr_assert_eq(ce_set(ev, "traceparent", r->traceparent), 0);
		if (r->tracestate)
			cr_assert_eq(ce_set(ev, "tracestate", r->tracestate), 0);
		cr_expect_eq(ce_trace_context(ev, &ctx) == 0, r->ok, "row %zu", i);
		if (r->ok) {
			trace_context_hex(&ctx, tid, sid);
			cr_expect_str_eq(tid, TID, "row %zu", i);
			cr_expect_str_eq(sid, PID, "row %zu", i);
			cr_expect_eq(ctx.is_remote, 1, "row %zu", i);
			cr_expect_str_eq(ctx.tracestate, r->state_out, "row %zu", i);
		} else {
			cr_expect_not(trace_context_valid(&ctx), "row %zu", i);
		}
		ce_event_free(ev);
	}
}

Test(ce_trace, set_round_trips)
{
	struct ce_event *ev = event_new();
	struct trace_context in = { 0 }, out;

	cr_assert_eq(ce_trace_context(ev, &in), ERR_NOT_FOUND);
	cr_assert_eq(ce_set(ev, "traceparent", TP), 0);
	cr_assert_eq(ce_set(ev, "tracestate", "k=v"), 0);
	cr_assert_eq(ce_trace_context(ev, &in), 0);
	in.span_id[7] ^= 1;
	in.tracestate[0] = '\0';
	cr_assert_eq(ce_trace_set(ev, &in), 0);
	cr_expect_str_eq(ce_get(ev, "traceparent"), "00-" TID "-00f067aa0ba902b6-01");
	cr_expect_null(ce_get(ev, "tracestate"), "an empty tracestate removes the extension");
	cr_assert_eq(ce_trace_context(ev, &out), 0);
	cr_expect_eq(memcmp(out.span_id, in.span_id, 8), 0);
	memset(&in, 0, sizeof(in));
	cr_expect_eq(ce_trace_set(ev, &in), ERR_BAD_REQUEST, "an invalid context is not written");
	ce_event_free(ev);
}

/* Without a provider spans do not record, but the producer still stamps the extension. */
Test(ce_trace, produce_sets_the_extension_once_from_its_span)
{
	struct ce_event *ev = event_new();
	struct trace_context parent, ext;
	struct trace_span *span = NULL;

	struct trace_config cfg;

	trace_config_defaults(&cfg); /* the SDK on (no exporter): the span has its own id */
	cr_assert_eq(trace_init(&cfg), 0);
	cr_assert_eq(ce_set(ev, "traceparent", TP), 0);
	cr_assert_eq(ce_trace_context(ev, &parent), 0);
	cr_assert_eq(ce_trace_produce(ev, "bookstore-broker", &parent, &span), 0);
	cr_assert_eq(ce_trace_context(ev, &ext), 0);
	cr_expect_eq(memcmp(ext.trace_id, parent.trace_id, 16), 0, "same trace");
	cr_expect_eq(memcmp(ext.span_id, trace_span_context(span)->span_id, 8), 0,
		     "the extension is the producer span's context");
	cr_expect_neq(memcmp(ext.span_id, parent.span_id, 8), 0);
	trace_span_end(span);
	ce_event_free(ev);
	trace_shutdown();
}

/* The SDK off: the producer span is transparent, so the extension is the parent's, unchanged. */
Test(ce_trace, produce_with_the_sdk_off_passes_the_parent_on)
{
	struct ce_event *ev = event_new();
	struct trace_context parent, ext;
	struct trace_span *span = NULL;

	cr_assert_eq(ce_set(ev, "traceparent", TP), 0);
	cr_assert_eq(ce_trace_context(ev, &parent), 0);
	cr_assert_eq(ce_trace_produce(ev, "bookstore-broker", &parent, &span), 0);
	cr_assert_eq(ce_trace_context(ev, &ext), 0);
	cr_expect_str_eq(ce_get(ev, "traceparent"), TP);
	trace_span_end(span);
	ce_event_free(ev);
}
