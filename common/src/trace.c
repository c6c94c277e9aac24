/*
 * trace.c: trace context propagation, sampler, resource, spans and the batch span processor
 * (see trace.h).
 *
 * The processor is a bounded ring of ended spans guarded by one mutex: trace_span_end() takes
 * it for a few instructions and never waits for the exporter. One worker thread wakes up every
 * schedule delay, when a batch is full, on trace_flush() or on trace_shutdown(), and hands the
 * spans to the exporter in batches of at most batch_size.
 */
#include "common/trace.h"
#include "common/clock.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/header.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/rand.h"
#include "common/text.h"
#include "common/xalloc.h"

/* ---- time and ids -------------------------------------------------------------------------- */

/*
 * Ids come from a per-thread xoshiro256** generator seeded from getrandom(2), so starting a
 * span costs no system call. Ids need to be unique, not secret.
 */
static _Thread_local uint64_t rng[4];
static _Thread_local int rng_seeded;

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void)
{
	uint64_t r, t;

	if (!rng_seeded) {
		if (rand_bytes(rng, sizeof(rng)) || !(rng[0] | rng[1] | rng[2] | rng[3]))
			rng[0] = (uint64_t)clock_real_ns() | 1;
		rng_seeded = 1;
	}
	r = rotl(rng[1] * 5, 7) * 9;
	t = rng[1] << 17;
	rng[2] ^= rng[0];
	rng[3] ^= rng[1];
	rng[1] ^= rng[2];
	rng[0] ^= rng[3];
	rng[2] ^= t;
	rng[3] = rotl(rng[3], 45);
	return r;
}

/* Fills n bytes with random data, never all zero. */
static void random_id(uint8_t *b, size_t n)
{
	for (;;) {
		int zero = 1;

		for (size_t i = 0; i < n; i += 8) {
			uint64_t r = rng_next();
			size_t k = n - i < 8 ? n - i : 8;

			memcpy(b + i, &r, k);
		}
		for (size_t i = 0; i < n; i++)
			zero &= b[i] == 0;
		if (!zero)
			return;
	}
}

/* ---- context ------------------------------------------------------------------------------- */

int trace_context_valid(const struct trace_context *ctx)
{
	return ctx && traceparent_ids_valid(ctx->trace_id, ctx->span_id);
}

void trace_context_hex(const struct trace_context *ctx, char trace_id[33], char span_id[17])
{
	if (trace_id)
		text_hex_encode(trace_id, ctx->trace_id, 16);
	if (span_id)
		text_hex_encode(span_id, ctx->span_id, 8);
}

#define MAX_HEADER_VALUES 64

/* Collects the values of header name (case-insensitive) into v; returns the count. */
static size_t header_values(const struct http_header *h, size_t n, const char *name, const char **v)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (h[i].name && h[i].value && !strcasecmp(h[i].name, name) &&
		    k < MAX_HEADER_VALUES)
			v[k++] = h[i].value;
	return k;
}

int trace_context_parse(const char *const *tp, size_t ntp, const char *const *ts, size_t nts,
			struct trace_context *out)
{
	struct traceparent parsed;

	memset(out, 0, sizeof(*out));
	if (traceparent_parse(tp, ntp, &parsed))
		return ERR_NOT_FOUND;
	memcpy(out->trace_id, parsed.trace_id, sizeof(out->trace_id));
	memcpy(out->span_id, parsed.span_id, sizeof(out->span_id));
	out->flags = parsed.flags;
	out->is_remote = 1;
	if (tracestate_parse(ts, nts, out->tracestate, sizeof(out->tracestate)) < 0)
		out->tracestate[0] = '\0';
	return 0;
}

int trace_context_from(const char *traceparent, const char *tracestate, struct trace_context *out)
{
	return trace_context_parse(&traceparent, traceparent ? 1 : 0, &tracestate,
				   tracestate ? 1 : 0, out);
}

static int extract_pair(const struct http_header *h, size_t n, const char *tp_name,
			const char *ts_name, struct trace_context *out)
{
	const char *tp[MAX_HEADER_VALUES], *ts[MAX_HEADER_VALUES];
	size_t ntp = header_values(h, n, tp_name, tp), nts = header_values(h, n, ts_name, ts);

	return trace_context_parse(tp, ntp, ts, nts, out);
}

int trace_context_extract(const struct http_header *headers, size_t n, struct trace_context *out)
{
	const char *v[MAX_HEADER_VALUES];
	int rc;

	memset(out, 0, sizeof(*out));
	if (header_values(headers, n, "traceparent", v) > 0)
		rc = extract_pair(headers, n, "traceparent", "tracestate", out);
	else
		rc = extract_pair(headers, n, "ce-traceparent", "ce-tracestate", out);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

size_t trace_context_inject(const struct trace_context *ctx, struct trace_inject *inj)
{
	struct traceparent tp;

	if (!trace_context_valid(ctx) || ctx->local)
		return 0;
	memcpy(tp.trace_id, ctx->trace_id, 16);
	memcpy(tp.span_id, ctx->span_id, 8);
	tp.flags = ctx->flags & TRACE_FLAG_SAMPLED;
	traceparent_format(&tp, inj->traceparent);
	inj->headers[0].name = "traceparent";
	inj->headers[0].value = inj->traceparent;
	if (!ctx->tracestate[0])
		return 1;
	inj->headers[1].name = "tracestate";
	inj->headers[1].value = ctx->tracestate;
	return 2;
}

/* ---- sampler ------------------------------------------------------------------------------- */

static const char *const sampler_names[] = {
	[TRACE_SAMPLER_ALWAYS_ON] = "always_on",
	[TRACE_SAMPLER_ALWAYS_OFF] = "always_off",
	[TRACE_SAMPLER_RATIO] = "traceidratio",
	[TRACE_SAMPLER_PARENT_ALWAYS_ON] = "parentbased_always_on",
	[TRACE_SAMPLER_PARENT_ALWAYS_OFF] = "parentbased_always_off",
	[TRACE_SAMPLER_PARENT_RATIO] = "parentbased_traceidratio",
};

void trace_sampler_parse(const char *name, const char *arg, struct trace_sampler *out)
{
	size_t i, n = ARRAY_SIZE(sampler_names);

	out->kind = TRACE_SAMPLER_PARENT_ALWAYS_ON;
	out->ratio = 1.0;
	if (name && *name) {
		for (i = 0; i < n && strcasecmp(name, sampler_names[i]) != 0; i++)
			;
		if (i < n)
			out->kind = (enum trace_sampler_kind)i;
		else
			log_warn("OTEL_TRACES_SAMPLER: unknown sampler '%.64s', using "
				 "parentbased_always_on",
				 name);
	}
	if (out->kind != TRACE_SAMPLER_RATIO && out->kind != TRACE_SAMPLER_PARENT_RATIO)
		return;
	if (arg && *arg) {
		char *end;
		double r;

		errno = 0;
		r = strtod(arg, &end);
		if (errno || end == arg || *end || !(r >= 0.0 && r <= 1.0))
			log_warn("OTEL_TRACES_SAMPLER_ARG: '%.64s' is not a ratio between 0 and 1, "
				 "ignored (using 1.0)",
				 arg);
		else
			out->ratio = r;
	}
}

static int ratio_sample(double ratio, const uint8_t trace_id[16])
{
	uint64_t x = 0, bound;

	if (ratio >= 1.0)
		return 1;
	if (!(ratio > 0.0))
		return 0;
	for (int i = 8; i < 16; i++)
		x = x << 8 | trace_id[i];
	bound = (uint64_t)(ratio * 9223372036854775808.0); /* ratio * 2^63 */
	return (x >> 1) < bound;
}

int trace_sampler_should_sample(const struct trace_sampler *s, const struct trace_context *parent,
				const uint8_t trace_id[16])
{
	int has_parent = trace_context_valid(parent);

	switch (s->kind) {
	case TRACE_SAMPLER_ALWAYS_ON:
		return 1;
	case TRACE_SAMPLER_ALWAYS_OFF:
		return 0;
	case TRACE_SAMPLER_RATIO:
		return ratio_sample(s->ratio, trace_id);
	case TRACE_SAMPLER_PARENT_ALWAYS_ON:
		return has_parent ? parent->flags & TRACE_FLAG_SAMPLED : 1;
	case TRACE_SAMPLER_PARENT_ALWAYS_OFF:
		return has_parent ? parent->flags & TRACE_FLAG_SAMPLED : 0;
	case TRACE_SAMPLER_PARENT_RATIO:
		return has_parent ? parent->flags & TRACE_FLAG_SAMPLED
				  : ratio_sample(s->ratio, trace_id);
	}
	return 0;
}

/* ---- resource ------------------------------------------------------------------------------ */

void trace_resource_set(struct trace_resource *res, const char *key, const char *value)
{
	for (size_t i = 0; i < res->n; i++) {
		if (!strcmp(res->attrs[i].key, key)) {
			free(res->attrs[i].value);
			res->attrs[i].value = xstrdup(value);
			return;
		}
	}
	XGROW(res->attrs, res->n + 1, res->alloc);
	res->attrs[res->n].key = xstrdup(key);
	res->attrs[res->n].value = xstrdup(value);
	res->n++;
}

const char *trace_resource_get(const struct trace_resource *res, const char *key)
{
	for (size_t i = 0; i < res->n; i++)
		if (!strcmp(res->attrs[i].key, key))
			return res->attrs[i].value;
	return NULL;
}

void trace_resource_release(struct trace_resource *res)
{
	for (size_t i = 0; i < res->n; i++) {
		free(res->attrs[i].key);
		free(res->attrs[i].value);
	}
	free(res->attrs);
	memset(res, 0, sizeof(*res));
}

int trace_resource_parse(struct trace_resource *res, const char *text)
{
	struct header_list kv = HEADER_LIST_INIT;
	int rc = header_list_parse(&kv, text);

	for (size_t i = 0; !rc && i < kv.n; i++)
		trace_resource_set(res, kv.v[i].name, kv.v[i].value);
	header_list_release(&kv); /* a failed parse keeps the array it grew */
	return rc;
}

static void exe_name(char *out, size_t outsz)
{
	char path[512];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	const char *base;

	if (n <= 0) {
		snprintf(out, outsz, "unknown");
		return;
	}
	path[n] = '\0';
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	n = (ssize_t)strlen(base);
	if ((size_t)n >= outsz)
		n = (ssize_t)outsz - 1;
	memcpy(out, base, (size_t)n);
	out[n] = '\0';
}

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

void trace_resource_detect(struct trace_resource *res, const char *service)
{
	struct trace_resource env = { 0 };
	const char *ra = env_nonempty("OTEL_RESOURCE_ATTRIBUTES"), *name;
	char exe[256], uuid[37], fallback[300];

	if (ra && trace_resource_parse(&env, ra))
		log_warn("OTEL_RESOURCE_ATTRIBUTES: invalid (a member without '=', an empty key "
			 "or a bad %%XX escape): the whole variable is ignored");
	name = env_nonempty("OTEL_SERVICE_NAME");
	if (!name)
		name = trace_resource_get(&env, "service.name");
	if (!name)
		name = service && *service ? service : env_nonempty("K_SERVICE");
	if (!name) {
		exe_name(exe, sizeof(exe));
		snprintf(fallback, sizeof(fallback), "unknown_service:%s", exe);
		name = fallback;
	}
	trace_resource_set(res, "service.name", name);
	trace_resource_set(res, "service.version", BOOKSTORE_VERSION);
	rand_uuid_v4(uuid);
	trace_resource_set(res, "service.instance.id", uuid);
	if (env_nonempty("K_SERVICE"))
		trace_resource_set(res, "faas.name", getenv("K_SERVICE"));
	if (env_nonempty("K_REVISION"))
		trace_resource_set(res, "faas.version", getenv("K_REVISION"));
	if (env_nonempty("K_CONFIGURATION"))
		trace_resource_set(res, "knative.configuration.name", getenv("K_CONFIGURATION"));
	trace_resource_set(res, "telemetry.sdk.name", "bookstore-c");
	trace_resource_set(res, "telemetry.sdk.language", "c");
	trace_resource_set(res, "telemetry.sdk.version", BOOKSTORE_VERSION);
	for (size_t i = 0; i < env.n; i++)
		if (strcmp(env.attrs[i].key, "service.name") != 0)
			trace_resource_set(res, env.attrs[i].key, env.attrs[i].value);
	trace_resource_release(&env);
}

/* ---- provider state ------------------------------------------------------------------------ */

struct provider {
	struct trace_config cfg;
	pthread_mutex_t mu;
	pthread_cond_t wake; /* worker: work to do */
	pthread_cond_t idle; /* trace_flush(): a flush round finished */
	struct trace_span **ring;
	size_t head, count;
	unsigned long long flush_req, flush_done;
	int stopping, has_thread;
	long long stop_deadline_ms;
	pthread_t thread;
	struct metric_series *dropped_full, *dropped_export, *dropped_rejected;
};

/*
 * The provider pointer is read lock-free on every span; it is written under provider_mu by
 * trace_init()/trace_shutdown(), which callers must not race with span creation (a service
 * stops its servers and workers before trace_shutdown()).
 */
static pthread_mutex_t provider_mu = PTHREAD_MUTEX_INITIALIZER;
static struct provider *_Atomic provider;
static _Thread_local struct trace_span *current;

static struct provider *get_provider(void)
{
	return atomic_load_explicit(&provider, memory_order_acquire);
}

/* ---- spans --------------------------------------------------------------------------------- */

/* A copy of str in s's pool when it fits, else malloc'd. */
static char *span_strdup(struct trace_span *s, const char *str)
{
	size_t n = strlen(str) + 1;
	char *p;

	if (n > sizeof(s->pool) - s->pool_used)
		return xstrdup(str);
	p = s->pool + s->pool_used;
	memcpy(p, str, n);
	s->pool_used += n;
	return p;
}

/* Frees a string from span_strdup() (one in the pool stays until the span goes). */
static void span_strfree(struct trace_span *s, const char *str)
{
	if (str && (str < s->pool || str >= s->pool + sizeof(s->pool)))
		free((char *)(uintptr_t)str);
}

static void attr_free(struct trace_span *s, struct trace_attr *a)
{
	span_strfree(s, a->key);
	if (a->type == TRACE_ATTR_STRING)
		span_strfree(s, a->v.s);
}

static void attr_copy(struct trace_span *s, struct trace_attr *dst, const struct trace_attr *src)
{
	*dst = *src;
	dst->key = span_strdup(s, src->key);
	if (src->type == TRACE_ATTR_STRING)
		dst->v.s = span_strdup(s, src->v.s ? src->v.s : "");
}

static void span_free(struct trace_span *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nattrs; i++)
		attr_free(s, &s->attrs[i]);
	if (s->attrs != s->attrs_inline)
		free(s->attrs);
	for (size_t i = 0; i < s->nevents; i++) {
		for (size_t j = 0; j < s->events[i].nattrs; j++)
			attr_free(s, &s->events[i].attrs[j]);
		free(s->events[i].attrs);
		span_strfree(s, s->events[i].name);
	}
	free(s->events);
	span_strfree(s, s->name);
	span_strfree(s, s->status_msg);
	free(s);
}

/* Decides sampling for s (ids set) under parent; sets sampling and flags. */
static void span_sample(struct trace_span *s, const struct trace_context *parent, int has_parent)
{
	struct provider *p = get_provider();

	if (!p || p->cfg.disabled) {
		/* no SDK: the parent's context unchanged, or a root that is not propagated */
		if (has_parent)
			s->ctx = *parent;
		else
			s->ctx.local = 1;
		s->sampling = TRACE_SDK_OFF;
		return;
	}
	s->sampling = trace_sampler_should_sample(&p->cfg.sampler, has_parent ? parent : NULL,
						  s->ctx.trace_id)
			  ? TRACE_RECORDED
			  : TRACE_DROPPED;
	s->ctx.flags = s->sampling == TRACE_RECORDED ? TRACE_FLAG_SAMPLED : 0;
}

int trace_span_start(const char *name, enum trace_span_kind kind,
		     const struct trace_context *parent, struct trace_span **out)
{
	struct trace_span *s;
	int has_parent;

	*out = NULL;
	if (!name)
		return ERR_BAD_REQUEST;
	if (!parent && current)
		parent = &current->ctx;
	has_parent = trace_context_valid(parent);
	s = xcalloc(1, sizeof(*s));
	if (has_parent) {
		memcpy(s->ctx.trace_id, parent->trace_id, 16);
		memcpy(s->parent_span_id, parent->span_id, 8);
		memcpy(s->ctx.tracestate, parent->tracestate, sizeof(s->ctx.tracestate));
		s->ctx.tracestate[sizeof(s->ctx.tracestate) - 1] = '\0';
		s->has_parent = 1;
		s->parent_remote = parent->is_remote;
	} else {
		random_id(s->ctx.trace_id, 16);
	}
	random_id(s->ctx.span_id, 8);
	span_sample(s, parent, has_parent);
	s->kind = kind;
	s->start_ns = clock_real_ns();
	s->attrs = s->attrs_inline;
	s->attrs_alloc = TRACE_SPAN_INLINE_ATTRS;
	if (trace_span_recording(s))
		s->name = span_strdup(s, name);
	*out = s;
	return 0;
}

int trace_span_recording(const struct trace_span *span)
{
	return span && span->sampling == TRACE_RECORDED;
}

const struct trace_context *trace_span_context(const struct trace_span *span)
{
	static const struct trace_context none;

	return span ? &span->ctx : &none;
}

static size_t limit_attrs(void)
{
	struct provider *p = get_provider();

	return p ? p->cfg.max_attrs : 128;
}

/*
 * Sets or replaces an attribute of s in (*arr, *n) within limit; counts drops. An array at
 * s->attrs_inline moves to the heap when it is full.
 */
static void attrs_put(struct trace_span *s, struct trace_attr **arr, size_t *n, size_t *alloc,
		      unsigned *dropped, size_t limit, const struct trace_attr *a)
{
	for (size_t i = 0; i < *n; i++) {
		if (!strcmp((*arr)[i].key, a->key)) {
			attr_free(s, &(*arr)[i]);
			attr_copy(s, &(*arr)[i], a);
			return;
		}
	}
	if (*n >= limit) {
		(*dropped)++;
		return;
	}
	if (*arr == s->attrs_inline && *n + 1 > *alloc) {
		struct trace_attr *heap = xmalloc(2 * *alloc * sizeof(*heap));

		memcpy(heap, *arr, *n * sizeof(*heap));
		*arr = heap;
		*alloc *= 2;
	}
	xgrow((void **)arr, alloc, *n + 1, sizeof(**arr));
	attr_copy(s, &(*arr)[*n], a);
	(*n)++;
}

void trace_span_set_attr(struct trace_span *span, const struct trace_attr *attr)
{
	if (!trace_span_recording(span) || !attr || !attr->key)
		return;
	attrs_put(span, &span->attrs, &span->nattrs, &span->attrs_alloc, &span->dropped_attrs,
		  limit_attrs(), attr);
}

void trace_span_set_str(struct trace_span *span, const char *key, const char *value)
{
	struct trace_attr a = { .key = key, .type = TRACE_ATTR_STRING, .v.s = value };

	trace_span_set_attr(span, &a);
}

void trace_span_set_int(struct trace_span *span, const char *key, long long value)
{
	struct trace_attr a = { .key = key, .type = TRACE_ATTR_INT, .v.i = value };

	trace_span_set_attr(span, &a);
}

void trace_span_set_double(struct trace_span *span, const char *key, double value)
{
	struct trace_attr a = { .key = key, .type = TRACE_ATTR_DOUBLE, .v.d = value };

	trace_span_set_attr(span, &a);
}

void trace_span_set_bool(struct trace_span *span, const char *key, int value)
{
	struct trace_attr a = { .key = key, .type = TRACE_ATTR_BOOL, .v.b = !!value };

	trace_span_set_attr(span, &a);
}

void trace_span_set_name(struct trace_span *span, const char *name)
{
	if (!trace_span_recording(span) || !name)
		return;
	span_strfree(span, span->name);
	span->name = span_strdup(span, name);
}

void trace_span_add_event(struct trace_span *span, const char *name, const struct trace_attr *attrs,
			  size_t nattrs)
{
	struct provider *p;
	struct trace_event *e;
	size_t alloc = 0, max_events = 128, max_attrs = 128;

	if (!trace_span_recording(span) || !name)
		return;
	p = get_provider();
	if (p) {
		max_events = p->cfg.max_events;
		max_attrs = p->cfg.max_attrs;
	}
	if (span->nevents >= max_events) {
		span->dropped_events++;
		return;
	}
	XGROW(span->events, span->nevents + 1, span->events_alloc);
	e = &span->events[span->nevents++];
	memset(e, 0, sizeof(*e));
	e->name = span_strdup(span, name);
	e->time_ns = clock_real_ns();
	for (size_t i = 0; i < nattrs; i++)
		if (attrs[i].key)
			attrs_put(span, &e->attrs, &e->nattrs, &alloc, &e->dropped_attrs, max_attrs,
				  &attrs[i]);
}

void trace_span_set_status(struct trace_span *span, enum trace_status status, const char *msg)
{
	/* The API's rules: setting Unset is ignored, and Ok is final. */
	if (!trace_span_recording(span) || status == TRACE_STATUS_UNSET ||
	    span->status == TRACE_STATUS_OK)
		return;
	span->status = status;
	span_strfree(span, span->status_msg);
	span->status_msg = status == TRACE_STATUS_ERROR && msg ? span_strdup(span, msg) : NULL;
}

void trace_log_span(const struct trace_span *s)
{
	char tid[33], sid[17];

	if (!s) {
		log_set_trace(NULL, NULL);
		return;
	}
	trace_context_hex(&s->ctx, tid, sid);
	log_set_trace(tid, sid);
}

void trace_span_enter(struct trace_span *span)
{
	if (!span)
		return;
	span->prev_current = current;
	current = span;
	trace_log_span(span);
}

void trace_span_exit(struct trace_span *span)
{
	if (!span || current != span)
		return;
	current = span->prev_current;
	span->prev_current = NULL;
	trace_log_span(current);
}

struct trace_span *trace_current(void)
{
	return current;
}

/* Enqueues s (O(1)); returns 0, or -1 when it was dropped (queue full or no exporter). */
static int enqueue(struct provider *p, struct trace_span *s)
{
	int rc = -1, signal = 0;

	pthread_mutex_lock(&p->mu);
	if (!p->stopping && p->has_thread && p->count < p->cfg.queue_size) {
		p->ring[(p->head + p->count) % p->cfg.queue_size] = s;
		p->count++;
		signal = p->count == p->cfg.batch_size;
		rc = 0;
	}
	pthread_mutex_unlock(&p->mu);
	if (signal)
		pthread_cond_signal(&p->wake);
	return rc;
}

void trace_span_end(struct trace_span *span)
{
	struct provider *p;

	if (!span)
		return;
	if (current == span)
		trace_span_exit(span);
	if (!trace_span_recording(span)) {
		span_free(span);
		return;
	}
	span->end_ns = clock_real_ns();
	p = get_provider();
	if (!p || !p->has_thread) {
		span_free(span);
		return;
	}
	if (enqueue(p, span)) {
		if (!p->stopping)
			metrics_inc(p->dropped_full);
		span_free(span);
	}
}

/* ---- batch span processor ------------------------------------------------------------------ */

void trace_config_defaults(struct trace_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->sampler.kind = TRACE_SAMPLER_PARENT_ALWAYS_ON;
	cfg->sampler.ratio = 1.0;
	cfg->max_attrs = 128;
	cfg->max_events = 128;
	cfg->queue_size = 2048;
	cfg->batch_size = 512;
	cfg->schedule_delay_ms = 5000;
	cfg->export_timeout_ms = 30000;
}

/* Exports and frees batch[0..n) (called without the lock). */
static void export_batch(struct provider *p, struct trace_span **batch, size_t n)
{
	long long deadline = clock_mono_ms() + p->cfg.export_timeout_ms;
	int rc;

	pthread_mutex_lock(&p->mu);
	if (p->stopping && p->stop_deadline_ms < deadline)
		deadline = p->stop_deadline_ms;
	pthread_mutex_unlock(&p->mu);
	rc = p->cfg.export(p->cfg.export_arg, batch, n, deadline);
	if (rc < 0)
		metrics_add(p->dropped_export, (double)n);
	else if (rc > 0)
		metrics_add(p->dropped_rejected, (double)rc);
	for (size_t i = 0; i < n; i++)
		span_free(batch[i]);
}

/* Takes up to min(batch_size, max) spans off the ring into batch (locked). */
static size_t take_batch(struct provider *p, struct trace_span **batch, size_t max)
{
	size_t n = 0;

	while (p->count && n < p->cfg.batch_size && n < max) {
		batch[n++] = p->ring[p->head];
		p->head = (p->head + 1) % p->cfg.queue_size;
		p->count--;
	}
	return n;
}

/*
 * The worker: sleeps until the schedule delay passes, a batch is full, a flush is requested
 * or the provider stops; then exports what was queued at that moment, batch by batch (spans
 * ended meanwhile wait for the next round, so a busy producer cannot starve a flush).
 */
static void *worker_main(void *arg)
{
	struct provider *p = arg;
	struct trace_span **batch = xcalloc(p->cfg.batch_size, sizeof(void *));
	struct timespec ts;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		unsigned long long want = p->flush_req;
		size_t todo, n;

		if (!p->stopping && p->flush_done == want && p->count < p->cfg.batch_size) {
			clock_deadline(&ts, p->cfg.schedule_delay_ms);
			pthread_cond_timedwait(&p->wake, &p->mu, &ts);
			want = p->flush_req;
		}
		for (todo = p->count; todo && (n = take_batch(p, batch, todo)) > 0; todo -= n) {
			pthread_mutex_unlock(&p->mu);
			export_batch(p, batch, n);
			pthread_mutex_lock(&p->mu);
		}
		p->flush_done = want;
		pthread_cond_broadcast(&p->idle);
		if (p->stopping && !p->count)
			break;
	}
	pthread_mutex_unlock(&p->mu);
	free(batch);
	return NULL;
}

static int config_check(const struct trace_config *cfg)
{
	if (!cfg->queue_size || !cfg->batch_size || cfg->batch_size > cfg->queue_size)
		return ERR_BAD_REQUEST;
	if (cfg->schedule_delay_ms < 0 || cfg->export_timeout_ms < 0)
		return ERR_BAD_REQUEST;
	return 0;
}

static void register_metrics(struct provider *p)
{
	metrics_counter_each(
	    metrics_default(), "otel_spans_dropped_total",
	    "Spans not exported: the queue was full (queue_full), the export "
	    "failed after its retries (export_failed), or the collector rejected them "
	    "in a partial success (rejected).",
	    "reason", METRIC_LABELS("queue_full", "export_failed", "rejected"),
	    (struct metric_series * *const[]){ &p->dropped_full, &p->dropped_export,
					       &p->dropped_rejected });
}

int trace_init(const struct trace_config *cfg)
{
	struct provider *p;

	if (config_check(cfg))
		return ERR_BAD_REQUEST;
	pthread_mutex_lock(&provider_mu);
	if (atomic_load(&provider)) {
		pthread_mutex_unlock(&provider_mu);
		return ERR_CONFLICT;
	}
	p = xcalloc(1, sizeof(*p));
	p->cfg = *cfg;
	pthread_mutex_init(&p->mu, NULL);
	(void)clock_cond_init(&p->wake);
	(void)clock_cond_init(&p->idle);
	register_metrics(p);
	if (!cfg->disabled && cfg->export) {
		p->ring = xcalloc(cfg->queue_size, sizeof(void *));
		p->has_thread = 1;
		if (pthread_create(&p->thread, NULL, worker_main, p)) {
			log_error("trace: cannot start the span processor thread");
			p->has_thread = 0;
		}
	}
	atomic_store(&provider, p);
	pthread_mutex_unlock(&provider_mu);
	return 0;
}

int trace_flush(long long timeout_ms)
{
	struct provider *p = get_provider();
	unsigned long long want;
	struct timespec ts;
	int rc = 0;

	if (!p || !p->has_thread)
		return 0;
	clock_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&p->mu);
	want = ++p->flush_req;
	pthread_cond_signal(&p->wake);
	while (p->flush_done < want && rc == 0)
		rc = pthread_cond_timedwait(&p->idle, &p->mu, &ts);
	rc = p->flush_done >= want ? 0 : ERR_TIMEOUT;
	pthread_mutex_unlock(&p->mu);
	return rc;
}

void trace_shutdown(void)
{
	struct provider *p;

	pthread_mutex_lock(&provider_mu);
	p = atomic_load(&provider);
	if (!p) {
		pthread_mutex_unlock(&provider_mu);
		return;
	}
	if (p->has_thread) {
		pthread_mutex_lock(&p->mu);
		p->stopping = 1;
		p->stop_deadline_ms = clock_mono_ms() + p->cfg.export_timeout_ms;
		pthread_cond_signal(&p->wake);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
	}
	atomic_store(&provider, NULL);
	pthread_mutex_unlock(&provider_mu);
	while (p->count) { /* only when the thread could not start */
		span_free(p->ring[p->head]);
		p->head = (p->head + 1) % p->cfg.queue_size;
		p->count--;
	}
	free(p->ring);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->idle);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
