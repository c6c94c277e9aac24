/*
 * Unit tests for services/local-broker/delivery.c: the backoff schedule as shipped (linear,
 * exponential, unset policy or delay), the retryable status table row by row, knativeerrordata
 * (base64, 1024-character truncation), response classification, the dead-letter event, the
 * record round trip and the state machine's transition table.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <signal.h>
#include <string.h>

#include "../../../services/local-broker/delivery.h"
#include "../../../services/local-broker/ttl.h"
#include "common/buf.h"
#include "common/base64.h"
#include "common/ce.h"
#include "common/err.h"
#include "common/httpc.h"
#include "common/xalloc.h"

Test(delivery, backoff_schedule)
{
	static const struct {
		enum backoff_policy policy;
		long long delay;
		int k;
		long long want;
	} rows[] = {
		/* exponential: delay * 2^(k-1); the first retry waits the delay */
		{ BACKOFF_EXPONENTIAL, 1000, 1, 1000 },
		{ BACKOFF_EXPONENTIAL, 1000, 2, 2000 },
		{ BACKOFF_EXPONENTIAL, 200, 3, 800 },
		{ BACKOFF_EXPONENTIAL, 200, 10, 102400 },
		/* linear: delay * (k-1); the first retry is immediate */
		{ BACKOFF_LINEAR, 1000, 1, 0 },
		{ BACKOFF_LINEAR, 1000, 2, 1000 },
		{ BACKOFF_LINEAR, 250, 5, 1000 },
		/* unset policy or delay: no wait at all */
		{ BACKOFF_NONE, 1000, 1, 0 },
		{ BACKOFF_NONE, 1000, 4, 0 },
		{ BACKOFF_EXPONENTIAL, -1, 3, 0 },
		{ BACKOFF_LINEAR, -1, 3, 0 },
		{ BACKOFF_EXPONENTIAL, 0, 3, 0 },
		/* saturates instead of overflowing */
		{ BACKOFF_EXPONENTIAL, 1000, 200, LLONG_MAX / 4 },
		{ BACKOFF_LINEAR, LLONG_MAX / 2, 3, LLONG_MAX / 4 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		struct delivery_spec s = { .policy = rows[i].policy, .delay_ms = rows[i].delay };

		cr_expect_eq(delivery_backoff_ms(&s, rows[i].k), rows[i].want, "row %zu: got %lld",
			     i, delivery_backoff_ms(&s, rows[i].k));
	}
}

Test(delivery, retryable_status_table)
{
	static const struct {
		int code;
		bool retry;
	} rows[] = {
		{ 100, false }, { 101, false }, { 199, false }, { 200, false }, { 201, false },
		{ 202, false }, { 204, false }, { 299, false }, { 300, false }, { 301, false },
		{ 302, false }, { 304, false }, { 400, false }, { 401, false }, { 403, false },
		{ 404, true },	{ 405, false }, { 408, true },	{ 409, true },	{ 410, false },
		{ 413, false }, { 415, false }, { 422, false }, { 429, true },	{ 499, false },
		{ 500, true },	{ 501, true },	{ 502, true },	{ 503, true },	{ 504, true },
		{ 599, true },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++)
		cr_expect_eq(delivery_retryable(rows[i].code), rows[i].retry, "code %d",
			     rows[i].code);
}

Test(delivery, error_data_base64_and_truncation)
{
	static const struct {
		size_t len;
		size_t want_len;
	} rows[] = { { 0, 0 },	    { 1, 4 },	   { 20, 28 },	  { 767, 1024 },
		     { 768, 1024 }, { 769, 1024 }, { 5000, 1024 } };
	char body[5000];
	size_t i;

	for (i = 0; i < sizeof(body); i++)
		body[i] = (char)(' ' + i % 90);
	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		struct buf got, full;

		buf_init(&got, BUF_NOCAP);
		buf_init(&full, BUF_NOCAP);
		cr_assert_eq(delivery_error_data(body, rows[i].len, &got), 0);
		cr_assert_eq(base64_encode(body, rows[i].len, &full), 0);
		cr_expect_eq(got.len, rows[i].want_len, "len %zu → %zu", rows[i].len, got.len);
		cr_expect_eq(memcmp(got.data, full.data, got.len), 0,
			     "a prefix of the whole base64");
		buf_release(&got);
		buf_release(&full);
	}
	{
		struct buf b;

		buf_init(&b, BUF_NOCAP);
		delivery_error_data("destination-response", 20, &b);
		cr_expect_str_eq(b.data, "ZGVzdGluYXRpb24tcmVzcG9uc2U=");
		buf_release(&b);
	}
}

static const struct http_header ce_reply[] = {
	{ "Ce-Specversion", "1.0" },
	{ "ce-id", "r1" },
	{ "ce-source", "/r" },
	{ "ce-type", "reply" },
	{ "Content-Type", "application/json" },
};
static const struct http_header bad_reply[] = { { "ce-specversion", "1.0" }, { "ce-id", "r1" } };
static const struct http_header text[] = { { "Content-Type", "text/plain" } };

Test(delivery, classify_table)
{
	static const struct {
		enum delivery_phase phase;
		struct httpc_response res;
		enum delivery_outcome outcome;
		int code;
		const char *body;
	} rows[] = {
		{ DELIVERY_SUBSCRIBER, { .status = 200 }, DELIVERY_OK, 200, "" },
		{ DELIVERY_SUBSCRIBER, { .status = 204 }, DELIVERY_OK, 204, "" },
		{ DELIVERY_SUBSCRIBER,
		  { .status = 0, .err = -13, .error = "refused" },
		  DELIVERY_FAILED,
		  500,
		  "dispatch error: refused" },
		{ DELIVERY_SUBSCRIBER,
		  { .status = 503, .body = "busy", .body_len = 4 },
		  DELIVERY_FAILED,
		  503,
		  "busy" },
		{ DELIVERY_SUBSCRIBER, { .status = 302 }, DELIVERY_FAILED, 302, "" },
		{ DELIVERY_SUBSCRIBER,
		  { .status = 200,
		    .headers = ce_reply,
		    .nheaders = 5,
		    .body = "{}",
		    .body_len = 2 },
		  DELIVERY_REPLY,
		  200,
		  "" },
		{ DELIVERY_SUBSCRIBER,
		  { .status = 202,
		    .headers = ce_reply,
		    .nheaders = 5,
		    .body = "{}",
		    .body_len = 2 },
		  DELIVERY_REPLY,
		  202,
		  "" },
		{ DELIVERY_SUBSCRIBER,
		  { .status = 200, .headers = text, .nheaders = 1, .body = "hi", .body_len = 2 },
		  DELIVERY_FAILED,
		  502,
		  "hi" },
		{ DELIVERY_SUBSCRIBER,
		  { .status = 200,
		    .headers = bad_reply,
		    .nheaders = 2,
		    .body = "x",
		    .body_len = 1 },
		  DELIVERY_FAILED,
		  502,
		  "x" },
		{ DELIVERY_DEAD_LETTER,
		  { .status = 200, .headers = text, .nheaders = 1, .body = "hi", .body_len = 2 },
		  DELIVERY_OK,
		  200,
		  "" },
	};
	static char big[3000];
	struct httpc_response long_text = { .status = 200,
					    .headers = text,
					    .nheaders = 1,
					    .body = big,
					    .body_len = sizeof(big) - 1 };
	struct delivery_result lr;
	size_t i;

	memset(big, 'x', sizeof(big) - 1);
	delivery_classify(DELIVERY_SUBSCRIBER, false, &long_text, &lr);
	cr_expect_eq(lr.code, 502);
	cr_expect_eq(lr.body.len, 768, "a long body is kept up to what knativeerrordata needs");
	delivery_result_release(&lr);
	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		struct delivery_result r;

		delivery_classify(rows[i].phase, false, &rows[i].res, &r);
		cr_expect_eq(r.outcome, rows[i].outcome, "row %zu: outcome %d", i, r.outcome);
		cr_expect_eq(r.code, rows[i].code, "row %zu: code %d", i, r.code);
		cr_expect_str_eq(r.body.data, rows[i].body, "row %zu", i);
		if (r.outcome == DELIVERY_REPLY)
			cr_expect_str_eq(r.reply->id, "r1");
		delivery_result_release(&r);
	}
}

/*
 * A Sequence step's Subscription (EV's channel dispatch, event_dispatcher.go executeRequest)
 * discards a 2xx body that is not a CloudEvent; the 502 is the broker filter's, for Triggers.
 */
Test(delivery, classify_step)
{
	const struct httpc_response plain = {
		.status = 200, .headers = text, .nheaders = 1, .body = "hi", .body_len = 2
	};
	const struct httpc_response bad = {
		.status = 200, .headers = bad_reply, .nheaders = 2, .body = "x", .body_len = 1
	};
	const struct httpc_response ok = {
		.status = 200, .headers = ce_reply, .nheaders = 5, .body = "{}", .body_len = 2
	};
	struct delivery_result r;

	delivery_classify(DELIVERY_SUBSCRIBER, true, &plain, &r);
	cr_expect_eq(r.outcome, DELIVERY_OK, "a step: a body that is not an event is discarded");
	cr_expect_eq(r.code, 200);
	delivery_result_release(&r);
	delivery_classify(DELIVERY_SUBSCRIBER, false, &plain, &r);
	cr_expect_eq(r.outcome, DELIVERY_FAILED, "a Trigger: 502");
	cr_expect_eq(r.code, 502);
	delivery_result_release(&r);
	delivery_classify(DELIVERY_SUBSCRIBER, false, &bad, &r);
	cr_expect_eq(r.code, 502, "a Trigger: a malformed event fails as the filter's 502");
	cr_expect(!r.reply_failed, "a Trigger's subscriber is called again");
	delivery_result_release(&r);
	delivery_classify(DELIVERY_SUBSCRIBER, true, &bad, &r);
	cr_expect_eq(r.outcome, DELIVERY_FAILED);
	cr_expect_eq(r.code, 400, "a step: the reply address refuses a malformed event");
	cr_expect(r.reply_failed, "a step that answered 2xx is never called again");
	cr_expect(strncmp(r.body.data, "reply refused: ", 15) == 0, "%s", r.body.data);
	delivery_result_release(&r);
	delivery_classify(DELIVERY_SUBSCRIBER, true, &ok, &r);
	cr_expect_eq(r.outcome, DELIVERY_REPLY, "a step: an event is its reply");
	delivery_result_release(&r);
}

/* A 2xx body past httpc's max_body (ERR_TOO_LARGE): judged on its headers. */
Test(delivery, classify_too_large)
{
	const struct httpc_response ev = { .status = 200,
					   .err = ERR_TOO_LARGE,
					   .error = "response body larger than 1048576 bytes",
					   .headers = ce_reply,
					   .nheaders = 5 };
	const struct httpc_response plain = { .status = 200,
					      .err = ERR_TOO_LARGE,
					      .error = "too large",
					      .headers = text,
					      .nheaders = 1 };
	const struct httpc_response failed = { .status = 503,
					       .err = ERR_TOO_LARGE,
					       .error = "too large",
					       .headers = text,
					       .nheaders = 1 };
	struct delivery_result r;

	delivery_classify(DELIVERY_SUBSCRIBER, false, &ev, &r);
	cr_expect_eq(r.outcome, DELIVERY_FAILED);
	cr_expect_eq(r.code, 413, "a reply ingress would refuse");
	cr_expect(r.reply_failed, "never retried");
	cr_expect_str_eq(r.body.data, "response body larger than 1048576 bytes");
	delivery_result_release(&r);
	delivery_classify(DELIVERY_SUBSCRIBER, false, &plain, &r);
	cr_expect_eq(r.code, 502, "a Trigger: not an event");
	cr_expect(!r.reply_failed);
	delivery_result_release(&r);
	delivery_classify(DELIVERY_SUBSCRIBER, true, &plain, &r);
	cr_expect_eq(r.outcome, DELIVERY_OK, "a step: discarded");
	delivery_result_release(&r);
	delivery_classify(DELIVERY_DEAD_LETTER, false, &ev, &r);
	cr_expect_eq(r.outcome, DELIVERY_OK, "the dead-letter sink took it");
	delivery_result_release(&r);
	delivery_classify(DELIVERY_SUBSCRIBER, false, &failed, &r);
	cr_expect_eq(r.code, 503, "a failure keeps its status");
	delivery_result_release(&r);
}

static struct ce_event *event(void)
{
	struct ce_event *ev = ce_event_new();

	ce_set(ev, "specversion", "1.0");
	ce_set(ev, "id", "e1");
	ce_set(ev, "source", "/s");
	ce_set(ev, "type", "t");
	ce_set_data(ev, "{\"a\":1}", 7, "application/json");
	ttl_put(ev, 9);
	return ev;
}

Test(delivery, dead_letter_event)
{
	char ns[] = "ns", name[] = "t", sub[] = "http://sub", dls[] = "http://dls";
	struct delivery_spec spec = { .dls_url = dls };
	struct topo_trigger tr = { .ns = ns, .name = name, .subscriber = sub };
	struct ce_event *ev = event();
	struct delivery *dv;

	tr.delivery = &spec;
	dv = delivery_new(&tr, ev, 9, NULL, NULL);
	cr_assert_null(ce_get(dv->event, TTL_EXTENSION), "removed for the subscriber");
	cr_assert_str_eq(delivery_url(dv), "http://sub");
	dv->attempts = 3;
	delivery_to_dead_letter(dv, "http://sub", 503, "busy", 4);
	cr_assert_eq(dv->phase, DELIVERY_DEAD_LETTER);
	cr_assert_eq(dv->attempts, 0);
	cr_assert_str_eq(delivery_url(dv), "http://dls");
	cr_assert_str_eq(ce_get(dv->event, "knativeerrordest"), "http://sub");
	cr_assert_str_eq(ce_get(dv->event, "knativeerrorcode"), "503");
	cr_assert_eq(ce_ext_find(dv->event, "knativeerrorcode")->type, CE_TYPE_INTEGER);
	cr_assert_str_eq(ce_get(dv->event, "knativeerrordata"), "YnVzeQ==");
	cr_assert_str_eq(ce_get(dv->event, TTL_EXTENSION), "9");
	cr_assert_eq(dv->event->data_len, 7);
	cr_assert_eq(memcmp(dv->event->data, "{\"a\":1}", 7), 0, "data unchanged");
	delivery_free(dv);
	ce_event_free(ev);
}

Test(delivery, dead_letter_without_body_has_no_errordata)
{
	char ns[] = "ns", name[] = "t", sub[] = "http://sub";
	struct topo_trigger tr = { .ns = ns, .name = name, .subscriber = sub };
	struct delivery_spec spec = { 0 };
	struct ce_event *ev = event();
	struct delivery *dv;

	tr.delivery = &spec;
	dv = delivery_new(&tr, ev, 9, NULL, NULL);
	delivery_to_dead_letter(dv, "http://sub", 404, "", 0);
	cr_assert_null(ce_get(dv->event, "knativeerrordata"));
	cr_assert_str_eq(ce_get(dv->event, "knativeerrorcode"), "404");
	delivery_free(dv);
	ce_event_free(ev);
}

Test(delivery, spool_record_round_trip)
{
	struct topology *t = topology_new();
	struct buf err;
	struct ce_event *ev = event();
	struct delivery *dv, *back = NULL;
	json_t *j;
	static const char yaml[] = "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: "
				   "{name: b, namespace: ns}\n"
				   "---\napiVersion: eventing.knative.dev/v1\nkind: Trigger\n"
				   "metadata: {name: t, namespace: ns}\n"
				   "spec: {broker: b, subscriber: {uri: 'http://sub'}}\n";

	buf_init(&err, 1024);
	cr_assert_eq(topology_add_yaml(t, yaml, strlen(yaml), "mem", &err), 0, "%s", err.data);
	cr_assert_eq(topology_finish(t, &err), 0, "%s", err.data);
	dv = delivery_new(&t->triggers[0], ev, 9,
			  "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", NULL);
	dv->attempts = 2;
	dv->due_ms = 1234567;
	j = delivery_to_json(dv);
	cr_assert_eq(delivery_from_json(j, t, &back, &err), 0, "%s", err.data);
	cr_assert_eq(back->trigger, &t->triggers[0]);
	cr_assert_eq(back->attempts, 2);
	cr_assert_eq(back->due_ms, 1234567);
	cr_assert_eq(back->ttl, 9);
	cr_assert_eq(back->phase, DELIVERY_SUBSCRIBER);
	cr_assert_str_eq(back->event->id, "e1");
	cr_assert_str_eq(back->traceparent, dv->traceparent);
	cr_assert_null(back->tracestate);
	json_decref(j);
	delivery_free(back);
	json_object_set_new(j = delivery_to_json(dv), "trigger", json_string("gone"));
	cr_assert_neq(delivery_from_json(j, t, &back, &err), 0, "unknown trigger refused");
	cr_assert_null(back);
	json_decref(j);
	delivery_free(dv);
	ce_event_free(ev);
	topology_free(t);
	buf_release(&err);
}

/* The state machine of delivery.h: every edge drawn there is allowed, nothing else. */
Test(delivery, state_transition_table)
{
	enum { N = DELIVERY_DONE + 1 };
	static const bool allowed[N][N] = {
		/* to:             NEW    QUEUED INFLT  WAIT   DONE */
		[DELIVERY_NEW] = { false, true, false, true, false },
		[DELIVERY_QUEUED] = { false, false, true, false, true },
		[DELIVERY_INFLIGHT] = { false, true, false, true, true },
		[DELIVERY_WAITING] = { false, true, false, false, false },
		[DELIVERY_DONE] = { false, false, false, false, false },
	};

	for (int from = 0; from < N; from++)
		for (int to = 0; to < N; to++)
			cr_expect_eq(delivery_transition_ok(from, to), allowed[from][to],
				     "%s -> %s", delivery_state_name(from),
				     delivery_state_name(to));
	cr_expect_not(delivery_transition_ok(DELIVERY_NEW, (enum delivery_state)99));
}

Test(delivery, set_state_aborts_on_an_illegal_edge, .signal = SIGABRT)
{
	char id[] = "x";
	struct delivery dv = { 0 };
	struct ce_event ev = { .id = id };

	dv.event = &ev;
	delivery_set_state(&dv, DELIVERY_QUEUED);
	delivery_set_state(&dv, DELIVERY_INFLIGHT);
	delivery_set_state(&dv, DELIVERY_DONE);
	delivery_set_state(&dv, DELIVERY_QUEUED); /* a bug: DONE is final */
}

Test(delivery, end_names_round_trip)
{
	for (int e = DELIVERY_END_DELIVERED; e <= DELIVERY_END_DROPPED; e++) {
		enum delivery_end out;

		cr_assert_eq(delivery_end_parse(delivery_end_name(e), &out), 0);
		cr_assert_eq((int)out, e);
	}
	cr_assert_eq(delivery_end_parse("lost", &(enum delivery_end){ 0 }), ERR_VALIDATION);
}

/* An event with own extensions x0..x(n-1), plus the broker's named in with. */
static struct ce_event *event_with(size_t n, const char *const *with, size_t nwith)
{
	struct ce_event *ev = event();
	char name[16];
	size_t i;

	(void)ce_set(ev, TTL_EXTENSION, NULL);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "x%zu", i);
		cr_assert_eq(ce_set(ev, name, "v"), 0);
	}
	for (i = 0; i < nwith; i++)
		cr_assert_eq(ce_set(ev, with[i], "1"), 0);
	return ev;
}

Test(delivery, room_for_the_broker_extensions)
{
	static const char *const all[] = { "knativebrokerttl", "knativearrivaltime",
					   "knativeerrordest", "knativeerrorcode",
					   "knativeerrordata" };
	char ns[] = "ns", name[] = "t", sub[] = "http://sub";
	struct topo_trigger tr = { .ns = ns, .name = name, .subscriber = sub };
	struct delivery_spec spec = { 0 };
	struct ce_event *ev;
	struct delivery *dv;

	cr_assert_eq(DELIVERY_OWN_EXTENSIONS_MAX, CE_MAX_EXTENSIONS - 5);
	ev = event_with(DELIVERY_OWN_EXTENSIONS_MAX, NULL, 0);
	cr_assert_eq(delivery_check_room(ev), 0);
	/* The most ingress takes: the dead letter still gets all three, within the limit. */
	(void)ce_set(ev, "knativearrivaltime", "2020-01-01T00:00:00Z");
	tr.delivery = &spec;
	dv = delivery_new(&tr, ev, 9, NULL, NULL);
	delivery_to_dead_letter(dv, "http://sub", 500, "no", 2);
	cr_assert_str_eq(ce_get(dv->event, "knativeerrordest"), "http://sub");
	cr_assert_str_eq(ce_get(dv->event, "knativeerrorcode"), "500");
	cr_assert_str_eq(ce_get(dv->event, "knativeerrordata"), "bm8=");
	cr_assert_str_eq(ce_get(dv->event, TTL_EXTENSION), "9");
	cr_assert_eq(dv->event->n_ext, CE_MAX_EXTENSIONS);
	delivery_free(dv);
	ce_event_free(ev);
	/* One more of the sender's own is refused, ... */
	ev = event_with(DELIVERY_OWN_EXTENSIONS_MAX + 1, NULL, 0);
	cr_assert_eq(delivery_check_room(ev), ERR_VALIDATION);
	ce_event_free(ev);
	/* ... the broker's own names never count (they are replaced). */
	ev = event_with(DELIVERY_OWN_EXTENSIONS_MAX, all, ARRAY_SIZE(all));
	cr_assert_eq(delivery_check_room(ev), 0);
	ce_event_free(ev);
	ev = event_with(DELIVERY_OWN_EXTENSIONS_MAX + 1, all, 4);
	cr_assert_eq(delivery_check_room(ev), ERR_VALIDATION);
	ce_event_free(ev);
}

/* event() with len bytes of binary data, and an extension x of vlen characters (0: none). */
static struct ce_event *sized_event(size_t len, size_t vlen, size_t nexts)
{
	struct ce_event *ev = event();
	char *data = xmalloc(len ? len : 1), *v = xmalloc(vlen + 1);
	char name[24];

	memset(data, 0xff, len);
	cr_assert_eq(ce_set_data(ev, data, len, "application/octet-stream"), 0);
	memset(v, 'v', vlen);
	v[vlen] = '\0';
	if (vlen)
		cr_assert_eq(ce_set(ev, "x", v), 0);
	for (size_t i = 0; i < nexts; i++) {
		snprintf(name, sizeof(name), "e%zu", i);
		cr_assert_eq(ce_set(ev, name, "1"), 0);
	}
	free(data);
	free(v);
	return ev;
}

Test(delivery, check_size_keeps_every_form_within_what_receivers_take)
{
	static const struct {
		size_t data, ext, nexts; /* binary data bytes, one extension's length, extensions */
		bool json;		 /* a Trigger asks for format json */
		int rc;
	} rows[] = {
		{ 1000, 0, 0, false, 0 },
		{ 1000, 0, 0, true, 0 },
		/* 800 KB of binary data: binary mode, but base64 passes 1 MiB */
		{ 800000, 0, 0, false, 0 },
		{ 800000, 0, 0, true, ERR_TOO_LARGE },
		/* attributes past the headers' budget: structured mode, which must fit */
		{ 800000, 13000, 0, false, ERR_TOO_LARGE },
		{ 600000, 13000, 0, false, 0 },
		{ 1000, 12 * 1024, 0, false, 0 },
		{ 800000, 0, 250, false, ERR_TOO_LARGE },
		{ 1000, 0, 250, false, 0 },
		/* right under the headers' budget: binary mode, as big as ingress takes */
		{ 1000000, 10000, 0, false, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct ce_event *ev = sized_event(rows[i].data, rows[i].ext, rows[i].nexts);

		cr_expect_eq(delivery_check_size(ev, rows[i].json), rows[i].rc, "row %zu", i);
		ce_event_free(ev);
	}
}
