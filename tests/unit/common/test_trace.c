#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/ce.h"
#include "common/ce_trace.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/trace.h"
#include "common/xalloc.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PID "00f067aa0ba902b7"

/* ---- sampler --------------------------------------------------------------------------------- */

static void ctx_with(struct trace_context *c, uint8_t flags, int remote)
{
	memset(c, 0, sizeof(*c));
	traceparent_unhex(TID, 16, c->trace_id);
	traceparent_unhex(PID, 8, c->span_id);
	c->flags = flags;
	c->is_remote = remote;
}

/* A trace id whose last 8 bytes are the big-endian value v. */
static void tid_low(uint8_t tid[16], uint64_t v)
{
	memset(tid, 0xab, 8);
	for (int i = 15; i >= 8; i--, v >>= 8)
		tid[i] = (uint8_t)v;
}

struct sampler_row {
	const char *name, *arg;
	int parent; /* 0 none, 1 sampled remote, 2 unsampled remote, 3 sampled local, 4 unsampled local */
	uint64_t low;
	int expect;
};

#define HALF 0x8000000000000000ULL /* (x >> 1) == 2^62 == 0.5 * 2^63 */

static const struct sampler_row sampler_rows[] = {
	{ "always_on", NULL, 0, 0, 1 },
	{ "always_on", NULL, 2, 0, 1 },
	{ "always_off", NULL, 1, 0, 0 },
	{ "parentbased_always_on", NULL, 0, 0, 1 },
	{ "parentbased_always_on", NULL, 1, 0, 1 },
	{ "parentbased_always_on", NULL, 2, 0, 0 },
	{ "parentbased_always_on", NULL, 3, 0, 1 },
	{ "parentbased_always_on", NULL, 4, 0, 0 },
	{ "parentbased_always_off", NULL, 0, 0, 0 },
	{ "parentbased_always_off", NULL, 1, 0, 1 },
	{ "parentbased_always_off", NULL, 4, 0, 0 },
	{ NULL, NULL, 0, 0, 1 }, /* default parentbased_always_on */
	{ "", NULL, 2, 0, 0 },
	{ "nonsense", NULL, 0, 0, 1 }, /* unknown: default */
	{ "PARENTBASED_ALWAYS_OFF", NULL, 0, 0, 0 },
	/* ratio boundaries */
	{ "traceidratio", "0.5", 0, HALF - 2, 1 },
	{ "traceidratio", "0.5", 0, HALF - 1, 1 }, /* (x >> 1) = 2^62 - 1 */
	{ "traceidratio", "0.5", 0, HALF, 0 },
	{ "traceidratio", "0.5", 0, ~0ULL, 0 },
	{ "traceidratio", "0.5", 0, 0, 1 },
	{ "traceidratio", "0", 0, 0, 0 },
	{ "traceidratio", "1", 0, ~0ULL, 1 },
	{ "traceidratio", "1.0", 0, ~0ULL, 1 },
	{ "traceidratio", NULL, 0, ~0ULL, 1 },	/* default arg 1.0 */
	{ "traceidratio", "1.5", 0, ~0ULL, 1 }, /* invalid: ignored */
	{ "traceidratio", "-0.1", 0, ~0ULL, 1 },
	{ "traceidratio", "abc", 0, ~0ULL, 1 },
	{ "traceidratio", "0.5x", 0, ~0ULL, 1 },
	{ "traceidratio", "0.25", 0, HALF / 2 - 1, 1 },
	{ "traceidratio", "0.25", 0, HALF / 2, 0 },
	{ "traceidratio", "0", 1, 0, 0 }, /* not parent-based: ignores the parent */
	{ "parentbased_traceidratio", "0", 1, 0, 1 },
	{ "parentbased_traceidratio", "1", 2, 0, 0 },
	{ "parentbased_traceidratio", "0.5", 0, HALF, 0 },
	{ "parentbased_traceidratio", "0.5", 0, 1, 1 },
};

Test(sampler, decisions)
{
	for (size_t i = 0; i < ARRAY_SIZE(sampler_rows); i++) {
		const struct sampler_row *r = &sampler_rows[i];
		struct trace_sampler s;
		struct trace_context parent;
		uint8_t tid[16];
		static const uint8_t flags[] = { 0, 1, 0, 1, 0 };

		trace_sampler_parse(r->name, r->arg, &s);
		ctx_with(&parent, flags[r->parent], r->parent == 1 || r->parent == 2);
		tid_low(tid, r->low);
		cr_assert_eq(!!trace_sampler_should_sample(&s, r->parent ? &parent : NULL, tid),
			     r->expect, "row %zu (%s %s)", i, r->name ? r->name : "NULL",
			     r->arg ? r->arg : "");
	}
}

Test(sampler, ratio_is_roughly_the_ratio)
{
	struct trace_sampler s;
	int hits = 0;

	trace_sampler_parse("traceidratio", "0.1", &s);
	for (int i = 0; i < 20000; i++) {
		struct trace_span *sp;

		trace_span_start("x", TRACE_SPAN_INTERNAL, NULL, &sp);
		hits += trace_sampler_should_sample(&s, NULL, sp->ctx.trace_id) ? 1 : 0;
		trace_span_end(sp);
	}
	cr_assert(hits > 1600 && hits < 2400, "%d of 20000", hits);
}

/* ---- resource -------------------------------------------------------------------------------- */

struct res_row {
	const char *attrs;	 /* OTEL_RESOURCE_ATTRIBUTES */
	const char *otel_name;	 /* OTEL_SERVICE_NAME */
	const char *k_service;	 /* K_SERVICE */
	const char *given;	 /* name passed by the service */
	const char *name;	 /* expected service.name; "EXE" = unknown_service:<exe> */
	const char *key, *value; /* one more expected attribute (value NULL = absent) */
};

static const struct res_row res_rows[] = {
	{ NULL, NULL, NULL, NULL, "EXE", "service.version", BOOKSTORE_VERSION },
	{ NULL, NULL, NULL, "db-service", "db-service", "telemetry.sdk.language", "c" },
	{ NULL, NULL, "ksvc", "db-service", "db-service", "faas.name", "ksvc" },
	{ NULL, NULL, "ksvc", NULL, "ksvc", "faas.name", "ksvc" },
	{ "service.name=from-attrs", NULL, "ksvc", "given", "from-attrs", NULL, NULL },
	{ "service.name=from-attrs", "otel", NULL, "given", "otel", NULL, NULL },
	{ "a=1,b=2", NULL, NULL, "svc", "svc", "b", "2" },
	{ "a=x%2Cy%3Dz%20w", NULL, NULL, "svc", "svc", "a", "x,y=z w" },
	{ " a = 1 , ,b=2", NULL, NULL, "svc", "svc", "a", "1" },
	{ "k%41=v", NULL, NULL, "svc", "svc", "kA", "v" },
	{ "a=1,bad", NULL, NULL, "svc", "svc", "a", NULL },   /* no '=': all discarded */
	{ "a=1,b=%zz", NULL, NULL, "svc", "svc", "a", NULL }, /* bad escape */
	{ "a=1,b=%4", NULL, NULL, "svc", "svc", "a", NULL },  /* truncated escape */
	{ "a=1,=2", NULL, NULL, "svc", "svc", "a", NULL },    /* empty key */
	{ "service.name=x,b=%", "otel", NULL, NULL, "otel", "b", NULL },
	{ "service.version=9", NULL, NULL, "svc", "svc", "service.version", "9" },
};

Test(resource, detect)
{
	for (size_t i = 0; i < ARRAY_SIZE(res_rows); i++) {
		const struct res_row *r = &res_rows[i];
		struct trace_resource res = { 0 };
		const char *name;

#define SETENV(k, v) ((v) ? setenv(k, v, 1) : unsetenv(k))
		SETENV("OTEL_RESOURCE_ATTRIBUTES", r->attrs);
		SETENV("OTEL_SERVICE_NAME", r->otel_name);
		SETENV("K_SERVICE", r->k_service);
		trace_resource_detect(&res, r->given);
		name = trace_resource_get(&res, "service.name");
		if (!strcmp(r->name, "EXE"))
			cr_assert(!strncmp(name, "unknown_service:test_trace", 26), "row %zu: %s",
				  i, name);
		else
			cr_assert_str_eq(name, r->name, "row %zu", i);
		if (r->key && r->value)
			cr_assert_str_eq(trace_resource_get(&res, r->key), r->value, "row %zu", i);
		else if (r->key)
			cr_assert_null(trace_resource_get(&res, r->key), "row %zu", i);
		cr_assert_not_null(trace_resource_get(&res, "service.instance.id"));
		cr_assert_str_eq(trace_resource_get(&res, "telemetry.sdk.name"), "bookstore-c");
		trace_resource_release(&res);
	}
}

Test(resource, knative_attributes)
{
	struct trace_resource res = { 0 };

	setenv("K_SERVICE", "file-sink", 1);
	setenv("K_REVISION", "file-sink-00002", 1);
	setenv("K_CONFIGURATION", "file-sink", 1);
	trace_resource_detect(&res, NULL);
	cr_assert_str_eq(trace_resource_get(&res, "service.name"), "file-sink");
	cr_assert_str_eq(trace_resource_get(&res, "faas.version"), "file-sink-00002");
	cr_assert_str_eq(trace_resource_get(&res, "knative.configuration.name"), "file-sink");
	trace_resource_release(&res);
}

/* ---- context extraction ---------------------------------------------------------------------- */

struct extract_row {
	struct http_header h[4];
	size_t n;
	int ok;
	const char *span_id, *tracestate;
};

#define TP(p) "00-" TID "-" p "-01"
static const struct extract_row extract_rows[] = {
	{ { { "traceparent", TP(PID) } }, 1, 1, PID, "" },
	{ { { "Traceparent", TP(PID) }, { "TraceState", "a=1" } }, 2, 1, PID, "a=1" },
	{ { { "traceparent", TP(PID) }, { "tracestate", "a=1" }, { "tracestate", "b=2" } },
	  3,
	  1,
	  PID,
	  "a=1,b=2" },
	{ { { "traceparent", TP(PID) }, { "tracestate", "A=1" } }, 2, 1, PID, "" },
	{ { { "traceparent", TP(PID) }, { "traceparent", TP(PID) } }, 2, 0, NULL, NULL },
	{ { { "traceparent", "junk" }, { "ce-traceparent", TP("1111111111111111") } },
	  2,
	  0,
	  NULL,
	  NULL },
	{ { { "ce-traceparent", TP("1111111111111111") }, { "ce-tracestate", "c=3" } },
	  2,
	  1,
	  "1111111111111111",
	  "c=3" },
	{ { { "traceparent", TP(PID) }, { "ce-traceparent", TP("1111111111111111") } },
	  2,
	  1,
	  PID,
	  "" },
	{ { { "tracestate", "a=1" } }, 1, 0, NULL, NULL },
	{ { { "other", "x" } }, 1, 0, NULL, NULL },
};

Test(context, extract_precedence)
{
	for (size_t i = 0; i < ARRAY_SIZE(extract_rows); i++) {
		const struct extract_row *r = &extract_rows[i];
		struct trace_context c;
		char sid[17];
		int rc = trace_context_extract(r->h, r->n, &c);

		cr_assert_eq(rc == 0, r->ok, "row %zu: rc %d", i, rc);
		if (!r->ok) {
			cr_assert(!trace_context_valid(&c));
			cr_assert_str_eq(c.tracestate, "");
			continue;
		}
		trace_context_hex(&c, NULL, sid);
		cr_assert_str_eq(sid, r->span_id, "row %zu", i);
		cr_assert_str_eq(c.tracestate, r->tracestate, "row %zu", i);
		cr_assert_eq(c.is_remote, 1);
	}
}

static void init_with(size_t max_attrs, size_t max_events, size_t queue, size_t batch,
		      enum trace_sampler_kind kind);

Test(context, inject)
{
	struct http_header in[] = { { "traceparent", TP(PID) }, { "tracestate", "a=1" } };
	struct trace_context c, none = { 0 };
	struct trace_inject inj;
	struct trace_span *s;

	cr_assert_eq(trace_context_extract(in, 2, &c), 0);
	cr_assert_eq(trace_context_inject(&c, &inj), 2);
	cr_assert_str_eq(inj.headers[0].name, "traceparent");
	cr_assert_str_eq(inj.headers[0].value, TP(PID));
	cr_assert_str_eq(inj.headers[1].value, "a=1");
	cr_assert_eq(trace_context_inject(&none, &inj), 0);
	/* with the SDK on, a child keeps the trace id and tracestate, with its own span id */
	init_with(128, 128, 16, 4, TRACE_SAMPLER_ALWAYS_ON);
	trace_span_start("child", TRACE_SPAN_CLIENT, &c, &s);
	cr_assert_eq(trace_context_inject(trace_span_context(s), &inj), 2);
	cr_assert_eq(strncmp(inj.headers[0].value, "00-" TID "-", 36), 0);
	cr_assert_neq(strcmp(inj.headers[0].value, TP(PID)), 0);
	cr_assert_str_eq(inj.headers[1].value, "a=1");
	trace_span_end(s);
	trace_shutdown();
}

/*
 * The SDK off (the OpenTelemetry API without an SDK): a span under a parent passes the parent's
 * context on unchanged, sampled flag and span id included, so the next hop's span hangs off a
 * span that was exported; a root has ids for the logs but injects nothing, so the next hop
 * starts (and samples) a trace of its own. Before, the child had a new span id that no one
 * exported, and a root went out with flags 00, which made a parent-based sampler downstream
 * drop the whole trace.
 */
Test(context, sdk_off_is_transparent)
{
	struct http_header in[] = { { "traceparent", TP(PID) }, { "tracestate", "a=1" } };
	struct trace_context c;
	struct trace_inject inj;
	struct trace_span *s, *root, *child;
	struct ce_event *ev = ce_event_new();

	cr_assert_eq(trace_context_extract(in, 2, &c), 0);
	trace_span_start("server", TRACE_SPAN_SERVER, &c, &s);
	cr_assert_not(trace_span_recording(s));
	cr_assert_eq(trace_context_inject(trace_span_context(s), &inj), 2);
	cr_assert_str_eq(inj.headers[0].value, TP(PID));
	cr_assert_str_eq(inj.headers[1].value, "a=1");
	trace_span_end(s);

	trace_span_start("root", TRACE_SPAN_SERVER, NULL, &root);
	cr_assert(trace_context_valid(trace_span_context(root)), "ids for the logs");
	cr_assert_eq(trace_context_inject(trace_span_context(root), &inj), 0);
	trace_span_enter(root);
	trace_span_start("child", TRACE_SPAN_CLIENT, NULL, &child);
	cr_assert_eq(
	    memcmp(trace_span_context(child)->span_id, trace_span_context(root)->span_id, 8), 0);
	cr_assert_eq(trace_context_inject(trace_span_context(child), &inj), 0);
	trace_span_end(child);
	trace_span_exit(root);
	/* an event produced under it carries no traceparent extension, and that is no error */
	cr_assert_eq(ce_trace_set(ev, trace_span_context(root)), 0);
	cr_assert_null(ce_get(ev, "traceparent"));
	ce_event_free(ev);
	trace_span_end(root);
}

/* ---- spans and the processor ----------------------------------------------------------------- */

struct sink {
	pthread_mutex_t mu;
	struct trace_span copies[64];
	char names[64][32];
	char attr0[64][32];
	size_t n, batches, total;
	int fail;
};

static struct sink sink = { .mu = PTHREAD_MUTEX_INITIALIZER };

static int capture(void *arg, struct trace_span *const *spans, size_t n, long long deadline)
{
	struct sink *k = arg;

	cr_assert_gt(deadline, clock_mono_ms() - 1);
	pthread_mutex_lock(&k->mu);
	k->batches++;
	k->total += n;
	for (size_t i = 0; i < n && k->n < 64; i++, k->n++) {
		k->copies[k->n] = *spans[i]; /* shallow: pointers die after the call */
		snprintf(k->names[k->n], 32, "%s", spans[i]->name);
		snprintf(k->attr0[k->n], 32, "%s", spans[i]->nattrs ? spans[i]->attrs[0].key : "");
	}
	pthread_mutex_unlock(&k->mu);
	return k->fail ? ERR_BAD_GATEWAY : 0;
}

static void init_with(size_t max_attrs, size_t max_events, size_t queue, size_t batch,
		      enum trace_sampler_kind kind)
{
	struct trace_config cfg;

	trace_config_defaults(&cfg);
	cfg.max_attrs = max_attrs;
	cfg.max_events = max_events;
	cfg.queue_size = queue;
	cfg.batch_size = batch;
	cfg.sampler.kind = kind;
	cfg.schedule_delay_ms = 60000;
	cfg.export = capture;
	cfg.export_arg = &sink;
	cr_assert_eq(trace_init(&cfg), 0);
}

Test(span, lifecycle_and_limits)
{
	struct trace_span *root, *child;
	struct trace_attr ea[3] = { { .key = "e1", .type = TRACE_ATTR_INT, .v.i = 1 },
				    { .key = "e2", .type = TRACE_ATTR_BOOL, .v.b = 1 },
				    { .key = "e3", .type = TRACE_ATTR_DOUBLE, .v.d = 1.5 } };

	init_with(2, 1, 16, 4, TRACE_SAMPLER_ALWAYS_ON);
	cr_assert_eq(trace_init(&(struct trace_config){ .queue_size = 1, .batch_size = 1 }),
		     ERR_CONFLICT);
	cr_assert_eq(trace_span_start(NULL, TRACE_SPAN_SERVER, NULL, &root), ERR_BAD_REQUEST);
	cr_assert_eq(trace_span_start("root", TRACE_SPAN_SERVER, NULL, &root), 0);
	cr_assert(trace_span_recording(root));
	cr_assert_eq(root->ctx.flags, TRACE_FLAG_SAMPLED);
	trace_span_set_str(root, "a", "1");
	trace_span_set_int(root, "b", 2);
	trace_span_set_str(root, "a", "replaced");  /* same key: replaced, not dropped */
	trace_span_set_double(root, "c", 3.0);	    /* third key: dropped */
	trace_span_set_bool(root, "d", 1);	    /* dropped */
	trace_span_add_event(root, "ev1", ea, 3);   /* 3 attrs, limit 2 */
	trace_span_add_event(root, "ev2", NULL, 0); /* limit 1: dropped */
	trace_span_set_status(root, TRACE_STATUS_ERROR, "bad");
	trace_span_set_name(root, "GET /books");
	trace_span_enter(root);
	cr_assert_eq(trace_current(), root);
	trace_span_start("child", TRACE_SPAN_CLIENT, NULL, &child); /* parent: current */
	cr_assert(!memcmp(child->ctx.trace_id, root->ctx.trace_id, 16));
	cr_assert(!memcmp(child->parent_span_id, root->ctx.span_id, 8));
	cr_assert_eq(child->parent_remote, 0);
	trace_span_end(child);
	trace_span_exit(root);
	cr_assert_null(trace_current());
	cr_assert_eq(root->nattrs, 2);
	cr_assert_str_eq(root->attrs[0].v.s, "replaced");
	cr_assert_eq(root->dropped_attrs, 2);
	cr_assert_eq(root->nevents, 1);
	cr_assert_eq(root->events[0].nattrs, 2);
	cr_assert_eq(root->events[0].dropped_attrs, 1);
	cr_assert_eq(root->dropped_events, 1);
	cr_assert_str_eq(root->status_msg, "bad");
	trace_span_end(root);
	cr_assert_eq(trace_flush(5000), 0);
	cr_assert_eq(sink.n, 2);
	cr_assert_str_eq(sink.names[0], "child");
	cr_assert_str_eq(sink.names[1], "GET /books");
	cr_assert_geq(sink.copies[1].end_ns, sink.copies[1].start_ns);
	cr_assert_gt(sink.copies[1].start_ns, 1600000000LL * 1000000000LL);
	trace_shutdown();
	/* NULL is a no-op everywhere */
	trace_span_set_str(NULL, "a", "b");
	trace_span_add_event(NULL, "e", NULL, 0);
	trace_span_end(NULL);
	trace_span_enter(NULL);
}

/* Past the span's inline storage (TRACE_SPAN_INLINE_ATTRS, TRACE_SPAN_POOL): heap, no leak. */
Test(span, beyond_inline_storage)
{
	struct trace_attr ea = { .key = "event.key", .type = TRACE_ATTR_STRING, .v.s = "v" };
	struct trace_span *s;
	char key[32], big[TRACE_SPAN_POOL + 64];
	size_t n = TRACE_SPAN_INLINE_ATTRS * 3;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	init_with(128, 4, 16, 4, TRACE_SAMPLER_ALWAYS_ON);
	cr_assert_eq(trace_span_start("inline", TRACE_SPAN_SERVER, NULL, &s), 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "key.%zu", i);
		trace_span_set_str(s, key, i % 2 ? big : "small");
	}
	trace_span_set_str(s, "key.0", "replaced"); /* a pooled value replaced */
	trace_span_set_str(s, "key.1", "again");    /* a malloc'd value replaced */
	trace_span_add_event(s, big, &ea, 1);
	trace_span_set_status(s, TRACE_STATUS_ERROR, big);
	trace_span_set_name(s, big);
	cr_assert_eq(s->nattrs, n);
	cr_assert_neq(s->attrs, s->attrs_inline);
	cr_assert_str_eq(s->attrs[0].v.s, "replaced");
	cr_assert_str_eq(s->attrs[1].v.s, "again");
	cr_assert_str_eq(s->attrs[3].v.s, big);
	cr_assert_str_eq(s->attrs[n - 1].key, "key.47");
	cr_assert_str_eq(s->events[0].attrs[0].v.s, "v");
	cr_assert_str_eq(s->status_msg, big);
	cr_assert_str_eq(s->name, big);
	cr_assert_leq(s->pool_used, sizeof(s->pool));
	trace_span_end(s);
	cr_assert_eq(trace_flush(5000), 0);
	trace_shutdown();
}

/* The API: setting Unset is ignored, Ok is final, Error can still become Ok. */
Test(span, status_rules)
{
	struct trace_span *s;

	init_with(8, 4, 16, 4, TRACE_SAMPLER_ALWAYS_ON);
	cr_assert_eq(trace_span_start("status", TRACE_SPAN_SERVER, NULL, &s), 0);
	trace_span_set_status(s, TRACE_STATUS_ERROR, "first");
	trace_span_set_status(s, TRACE_STATUS_UNSET, NULL);
	cr_expect_eq(s->status, TRACE_STATUS_ERROR, "Unset is ignored");
	cr_expect_str_eq(s->status_msg, "first");
	trace_span_set_status(s, TRACE_STATUS_ERROR, "second");
	cr_expect_str_eq(s->status_msg, "second");
	trace_span_set_status(s, TRACE_STATUS_OK, NULL);
	cr_expect_eq(s->status, TRACE_STATUS_OK);
	cr_expect_null(s->status_msg);
	trace_span_set_status(s, TRACE_STATUS_ERROR, "late");
	cr_expect_eq(s->status, TRACE_STATUS_OK, "Ok is final");
	cr_expect_null(s->status_msg);
	trace_span_end(s);
	cr_assert_eq(trace_flush(5000), 0);
	trace_shutdown();
}

Test(span, unsampled_spans_propagate_but_are_not_exported)
{
	struct trace_span *s, *c;
	struct http_header h = { "traceparent", "00-" TID "-" PID "-00" };
	struct trace_context parent;
	struct trace_inject inj;

	init_with(128, 128, 16, 4, TRACE_SAMPLER_PARENT_ALWAYS_ON);
	cr_assert_eq(trace_context_extract(&h, 1, &parent), 0);
	trace_span_start("unsampled", TRACE_SPAN_SERVER, &parent, &s);
	cr_assert(!trace_span_recording(s));
	trace_span_set_str(s, "ignored", "x");
	cr_assert_eq(s->nattrs, 0);
	cr_assert_eq(trace_context_inject(trace_span_context(s), &inj), 1);
	cr_assert_eq(strncmp(inj.headers[0].value, "00-" TID "-", 36), 0);
	cr_assert_str_eq(inj.headers[0].value + 53, "00");
	trace_span_start("child", TRACE_SPAN_CLIENT, trace_span_context(s), &c);
	cr_assert(!trace_span_recording(c));
	trace_span_end(c);
	trace_span_end(s);
	cr_assert_eq(trace_flush(5000), 0);
	cr_assert_eq(sink.n, 0);
	trace_shutdown();
}

Test(span, always_off_and_uninitialized)
{
	struct trace_span *s;

	trace_span_start("before-init", TRACE_SPAN_INTERNAL, NULL, &s);
	cr_assert(!trace_span_recording(s));
	cr_assert(trace_context_valid(trace_span_context(s)));
	trace_span_end(s);
	init_with(128, 128, 16, 4, TRACE_SAMPLER_ALWAYS_OFF);
	trace_span_start("off", TRACE_SPAN_INTERNAL, NULL, &s);
	cr_assert(!trace_span_recording(s));
	trace_span_end(s);
	trace_shutdown();
	trace_shutdown(); /* twice is fine */
}

static double counter_value(const char *reason)
{
	struct metric *m = metrics_counter(metrics_default(), "otel_spans_dropped_total", "x",
					   METRIC_LABELS("reason"));
	struct buf b;
	char needle[96];
	const char *p;
	double v = -1;

	(void)m;
	buf_init(&b, BUF_NOCAP);
	metrics_render(metrics_default(), &b);
	snprintf(needle, sizeof(needle), "otel_spans_dropped_total{reason=\"%s\"} ", reason);
	p = strstr(b.data, needle);
	if (p)
		v = strtod(p + strlen(needle), NULL);
	buf_release(&b);
	return v;
}

Test(processor, full_queue_drops_and_counts)
{
	struct trace_span *s;

	/* batch == queue, never reached below: the worker waits for its 60 s delay */
	init_with(128, 128, 4, 4, TRACE_SAMPLER_ALWAYS_ON);
	for (int i = 0; i < 3; i++) {
		trace_span_start("q", TRACE_SPAN_INTERNAL, NULL, &s);
		trace_span_end(s);
	}
	cr_assert_eq(counter_value("queue_full"), 0);
	trace_span_start("4th", TRACE_SPAN_INTERNAL, NULL, &s);
	trace_span_end(s); /* fills the queue: the worker is woken */
	for (int i = 0; i < 200; i++) {
		trace_span_start("more", TRACE_SPAN_INTERNAL, NULL, &s);
		trace_span_end(s);
	}
	cr_assert_eq(trace_flush(5000), 0);
	cr_assert_gt(counter_value("queue_full"), 0);
	cr_assert_leq(counter_value("queue_full"), 200);
	cr_assert_eq((double)sink.total + counter_value("queue_full"), 204.0, "%zu exported",
		     sink.total);
	trace_shutdown();
}

Test(processor, failed_export_counts_and_shutdown_flushes)
{
	struct trace_span *s;

	init_with(128, 128, 64, 8, TRACE_SAMPLER_ALWAYS_ON);
	sink.fail = 1;
	for (int i = 0; i < 5; i++) {
		trace_span_start("f", TRACE_SPAN_INTERNAL, NULL, &s);
		trace_span_end(s);
	}
	cr_assert_eq(trace_flush(5000), 0);
	cr_assert_eq(counter_value("export_failed"), 5);
	sink.fail = 0;
	for (int i = 0; i < 3; i++) {
		trace_span_start("at-exit", TRACE_SPAN_INTERNAL, NULL, &s);
		trace_span_end(s);
	}
	trace_shutdown(); /* no flush call: shutdown exports them */
	cr_assert_eq(sink.n, 8);
	cr_assert_str_eq(sink.names[7], "at-exit");
	/* after shutdown spans are simply dropped */
	trace_span_start("late", TRACE_SPAN_INTERNAL, NULL, &s);
	trace_span_end(s);
	cr_assert_eq(sink.n, 8);
}

Test(processor, bad_config_is_rejected)
{
	struct trace_config cfg;

	trace_config_defaults(&cfg);
	cfg.batch_size = cfg.queue_size + 1;
	cr_assert_eq(trace_init(&cfg), ERR_BAD_REQUEST);
	cfg.batch_size = 0;
	cr_assert_eq(trace_init(&cfg), ERR_BAD_REQUEST);
}

/* ---- logs inside a span ---------------------------------------------------------------------- */

static char *capture_stderr(void (*fn)(void))
{
	int p[2], saved;
	struct buf b;
	char chunk[4096];
	ssize_t n;

	cr_assert_eq(pipe(p), 0);
	saved = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	close(p[1]);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	buf_init(&b, BUF_NOCAP);
	while ((n = read(p[0], chunk, sizeof(chunk))) > 0)
		buf_append(&b, chunk, (size_t)n);
	close(p[0]);
	return buf_detach(&b, NULL);
}

static char outer_ids[2][33], inner_ids[2][33];

static void log_in_spans(void)
{
	struct trace_span *outer, *inner;

	log_info("before");
	trace_span_start("outer", TRACE_SPAN_SERVER, NULL, &outer);
	trace_context_hex(trace_span_context(outer), outer_ids[0], outer_ids[1]);
	trace_span_enter(outer);
	log_info("in outer");
	trace_span_start("inner", TRACE_SPAN_INTERNAL, NULL, &inner);
	trace_context_hex(trace_span_context(inner), inner_ids[0], inner_ids[1]);
	trace_span_enter(inner);
	log_info("in inner");
	trace_span_exit(inner);
	log_info("back in outer");
	trace_span_end(inner);
	trace_span_end(outer); /* ending the current span also exits it */
	log_info("after");
}

Test(logs, records_inside_a_span_carry_its_ids)
{
	struct {
		const char *msg;
		const char *(*ids)[2];
	} want[5];
	char *out, *line, *save = NULL;
	int i = 0;

	log_init("test", "info");
	init_with(128, 128, 16, 4, TRACE_SAMPLER_ALWAYS_ON);
	out = capture_stderr(log_in_spans);
	trace_shutdown();
	const char *o[2] = { outer_ids[0], outer_ids[1] }, *in[2] = { inner_ids[0], inner_ids[1] };
	want[0].msg = "before", want[0].ids = NULL;
	want[1].msg = "in outer", want[1].ids = &o;
	want[2].msg = "in inner", want[2].ids = &in;
	want[3].msg = "back in outer", want[3].ids = &o;
	want[4].msg = "after", want[4].ids = NULL;
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
		json_t *j = json_loads(line, 0, NULL);

		cr_assert_not_null(j, "%s", line);
		cr_assert_lt(i, 5);
		cr_assert_str_eq(json_string_value(json_object_get(j, "message")), want[i].msg);
		if (want[i].ids) {
			cr_assert_str_eq(json_string_value(json_object_get(j, "trace_id")),
					 (*want[i].ids)[0]);
			cr_assert_str_eq(json_string_value(json_object_get(j, "span_id")),
					 (*want[i].ids)[1]);
		} else {
			cr_assert_null(json_object_get(j, "trace_id"), "%s", line);
		}
		json_decref(j);
	}
	cr_assert_eq(i, 5);
	free(out);
}

Test(trace, context_from_one_header_pair)
{
	struct trace_context ctx;
	char tid[33], sid[17];

	cr_assert_eq(trace_context_from("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
					"k=v", &ctx),
		     0);
	trace_context_hex(&ctx, tid, sid);
	cr_expect_str_eq(tid, "0af7651916cd43dd8448eb211c80319c");
	cr_expect_str_eq(sid, "b7ad6b7169203331");
	cr_expect_eq(ctx.flags, 1);
	cr_expect_eq(ctx.is_remote, 1);
	cr_expect_str_eq(ctx.tracestate, "k=v");
	/* An invalid tracestate is dropped; the context stays. */
	cr_assert_eq(trace_context_from("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
					"not a list entry", &ctx),
		     0);
	cr_expect_str_eq(ctx.tracestate, "");
	cr_expect_eq(ctx.flags, 0);
	/* No or a bad traceparent: ERR_NOT_FOUND and a zeroed context. */
	cr_expect_eq(trace_context_from(NULL, "k=v", &ctx), ERR_NOT_FOUND);
	cr_expect_not(trace_context_valid(&ctx));
	cr_expect_eq(trace_context_from("00-zz", NULL, &ctx), ERR_NOT_FOUND);
	cr_expect_eq(ctx.is_remote, 0);
	cr_expect_str_eq(ctx.tracestate, "");
}
