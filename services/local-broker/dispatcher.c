/*
 * dispatcher.c: queues, attempts, retries and dead-lettering (see dispatcher.h).
 *
 * Every live delivery is on d->all and in exactly one state: QUEUED (on its Trigger's FIFO),
 * INFLIGHT (an httpc request owns it until on_done) or WAITING (an httpc timer owns it until
 * on_timer). All state changes happen under d->mu; httpc calls made under it never block.
 */
#include "dispatcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ce.h"
#include "common/err.h"
#include "common/httpc.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/trace.h"
#include "common/xalloc.h"
#include "delivery.h"
#include "spool.h"
#include "ttl.h"

enum { ST_QUEUED, ST_INFLIGHT, ST_WAITING };

struct trig_queue {
	struct delivery *head, *tail;
	size_t inflight;
	struct metric_series *dead_letters, *duration;
};

struct dispatcher {
	const struct topology *topo;
	struct dispatcher_options opt;
	struct httpc *client;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct trig_queue *queues; /* one per topo->triggers entry */
	struct delivery *all;
	size_t depth, inflight;
	int stopping;
	struct metric *deliveries, *dropped;
	struct metric_series *received, *depth_gauge;
};

static void on_done(const struct httpc_response *res, void *arg);
static void on_timer(void *arg, int cancelled);

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct trig_queue *queue_of(struct dispatcher *d, const struct delivery *dv)
{
	return &d->queues[dv->trigger - d->topo->triggers];
}

/* ---- bookkeeping (d->mu held) ------------------------------------------------------------- */

static void track(struct dispatcher *d, struct delivery *dv)
{
	dv->owner = d;
	dv->prev = NULL;
	dv->next = d->all;
	if (d->all)
		d->all->prev = dv;
	d->all = dv;
	d->depth++;
	metrics_set(d->depth_gauge, (double)d->depth);
}

static void untrack_free(struct dispatcher *d, struct delivery *dv)
{
	if (dv->prev)
		dv->prev->next = dv->next;
	else
		d->all = dv->next;
	if (dv->next)
		dv->next->prev = dv->prev;
	d->depth--;
	metrics_set(d->depth_gauge, (double)d->depth);
	delivery_free(dv);
}

static void enqueue(struct dispatcher *d, struct delivery *dv)
{
	struct trig_queue *q = queue_of(d, dv);

	dv->state = ST_QUEUED;
	dv->qnext = NULL;
	if (q->tail)
		q->tail->qnext = dv;
	else
		q->head = dv;
	q->tail = dv;
}

static void drop(struct dispatcher *d, struct delivery *dv, const char *reason, int code)
{
	const struct topo_trigger *tr = dv->trigger;

	log_fields(LOG_ERROR,
		   json_pack("{s:s,s:s,s:s,s:i,s:s}", "trigger", tr->name, "event_id",
			     dv->event->id, "event_type", dv->event->type, "code", code, "reason",
			     reason),
		   "event %s dropped after delivery to trigger %s/%s failed: %s", dv->event->id,
		   tr->ns, tr->name, reason);
	metrics_inc(metrics_series(d->dropped, METRIC_LABELS(tr->name, reason)));
	untrack_free(d, dv);
}

/* Schedules the next attempt of dv wait_ms from now. */
static void schedule(struct dispatcher *d, struct delivery *dv, long long wait_ms)
{
	dv->due_ms = now_ms() + wait_ms;
	if (wait_ms <= 0) {
		enqueue(d, dv);
		return;
	}
	dv->state = ST_WAITING;
	if (d->client && httpc_timer(d->client, wait_ms, on_timer, dv) == 0)
		return;
	/* The client is shutting down: the delivery stays WAITING and goes to the spool. */
}

/*
 * Applies the outcome of one attempt of dv (not in flight any more). dest is the URL that
 * failed (NULL: the one dv was sent to).
 */
static void settle(struct dispatcher *d, struct delivery *dv, const struct delivery_result *r,
		   const char *dest)
{
	const struct delivery_spec *spec = dv->trigger->delivery;
	const char *url = dest ? dest : delivery_url(dv);
	char code[16];

	dv->attempts++;
	snprintf(code, sizeof(code), "%d", r->code);
	if (dv->phase == DELIVERY_SUBSCRIBER)
		metrics_inc(metrics_series(d->deliveries, METRIC_LABELS(dv->trigger->name, code)));
	if (r->outcome != DELIVERY_FAILED) {
		if (dv->phase == DELIVERY_DEAD_LETTER)
			metrics_inc(queue_of(d, dv)->dead_letters);
		untrack_free(d, dv);
		return;
	}
	log_fields(LOG_WARN,
		   json_pack("{s:s,s:s,s:i,s:i,s:s}", "trigger", dv->trigger->name, "url", url,
			     "code", r->code, "attempt", dv->attempts, "event_id", dv->event->id),
		   "delivery attempt %d to %s failed with %d", dv->attempts, url, r->code);
	if (delivery_retryable(r->code) && dv->attempts <= spec->retry) {
		schedule(d, dv, delivery_backoff_ms(spec, dv->attempts));
		return;
	}
	if (dv->phase == DELIVERY_SUBSCRIBER && spec->dls_url) {
		delivery_to_dead_letter(dv, url, r->code, r->body.data, r->body.len);
		enqueue(d, dv);
		return;
	}
	drop(d, dv, dv->phase == DELIVERY_SUBSCRIBER ? "no_dead_letter_sink" : "dead_letter_failed",
	     r->code);
}

/* ---- attempts ----------------------------------------------------------------------------- */

static void add_header(struct http_header *hs, size_t *n, const char *name, const char *value)
{
	if (!value)
		return;
	hs[*n].name = name;
	hs[*n].value = value;
	(*n)++;
}

/* The trace context dv continues (zeroed when it has none: the attempt is not traced). */
static void delivery_trace_parent(const struct delivery *dv, struct trace_context *ctx)
{
	const char *ts = dv->tracestate;
	struct traceparent tp;

	memset(ctx, 0, sizeof(*ctx));
	if (!dv->traceparent || traceparent_parse1(dv->traceparent, &tp) != 0)
		return;
	memcpy(ctx->trace_id, tp.trace_id, sizeof(ctx->trace_id));
	memcpy(ctx->span_id, tp.span_id, sizeof(ctx->span_id));
	ctx->flags = tp.flags;
	ctx->is_remote = 1;
	if (ts && tracestate_parse(&ts, 1, ctx->tracestate, sizeof(ctx->tracestate)) < 0)
		ctx->tracestate[0] = '\0';
}

/*
 * The attempt's tracing: a CLIENT span under the delivery's context (the ingress span, or
 * the attempt that got the reply), one per attempt, retries with http.request.resend_count.
 */
static void trace_attempt(const struct delivery *dv, struct trace_context *parent,
			  struct trace_attr attrs[4], struct httpc_request *req)
{
	delivery_trace_parent(dv, parent);
	attrs[0] = (struct trace_attr){ .key = "kn.trigger.name",
					.type = TRACE_ATTR_STRING,
					.v.s = dv->trigger->name };
	attrs[1] = (struct trace_attr){ .key = "kn.trigger.namespace",
					.type = TRACE_ATTR_STRING,
					.v.s = dv->trigger->ns };
	attrs[2] = (struct trace_attr){ .key = "kn.delivery.phase",
					.type = TRACE_ATTR_STRING,
					.v.s = dv->phase == DELIVERY_SUBSCRIBER ? "subscriber"
										: "dead_letter" };
	attrs[3] = (struct trace_attr){ .key = "cloudevents.event_id",
					.type = TRACE_ATTR_STRING,
					.v.s = dv->event->id };
	req->trace_parent = parent;
	req->trace_attrs = attrs;
	req->trace_nattrs = 4;
	req->resend_count = dv->attempts;
}

/* Encodes dv's event for its trigger's format and sends it. 0 or the httpc_send() error. */
static int send_attempt(struct dispatcher *d, struct delivery *dv, const char *url)
{
	const struct delivery_spec *spec = dv->trigger->delivery;
	struct httpc_request req = { 0 };
	struct trace_context parent;
	struct trace_attr attrs[4];
	struct ce_headers ch;
	struct buf body;
	struct http_header *hs;
	size_t i, n = 0;
	int rc;

	ce_headers_init(&ch);
	buf_init(&body, BUF_NOCAP);
	if (spec->format == FORMAT_JSON)
		rc = ce_encode_structured(dv->event, &body);
	else
		rc = ce_encode_binary(dv->event, &ch, &req.body, &req.body_len);
	hs = xcalloc(ch.n + 6, sizeof(*hs));
	for (i = 0; i < ch.n; i++)
		add_header(hs, &n, ch.items[i].name, ch.items[i].value);
	if (spec->format == FORMAT_JSON) {
		add_header(hs, &n, "Content-Type", CE_CONTENT_TYPE);
		req.body = body.data;
		req.body_len = body.len;
	}
	if (dv->phase == DELIVERY_SUBSCRIBER)
		add_header(hs, &n, "Prefer", "reply");
	add_header(hs, &n, "Kn-Namespace", dv->trigger->ns);
	/* Sent as is when the attempt is not traced; else httpc injects its CLIENT span's. */
	add_header(hs, &n, "traceparent", dv->traceparent);
	add_header(hs, &n, "tracestate", dv->tracestate);
	trace_attempt(dv, &parent, attrs, &req);
	req.method = "POST";
	req.url = url;
	req.headers = hs;
	req.nheaders = n;
	req.timeout_ms = spec->timeout_ms > 0 ? spec->timeout_ms : d->opt.timeout_default_ms;
	if (rc == 0)
		rc = d->client ? httpc_send(d->client, &req, on_done, dv) : ERR_UNAVAILABLE;
	free(hs);
	buf_release(&body);
	ce_headers_release(&ch);
	return rc;
}

static void start_attempt(struct dispatcher *d, struct trig_queue *q, struct delivery *dv)
{
	const char *url = delivery_url(dv);
	struct delivery_result r = { 0 };
	int rc;

	if (!url) {
		drop(d, dv, "dead_letter_sink_removed", 0);
		return;
	}
	rc = send_attempt(d, dv, url);
	if (rc == 0) {
		dv->state = ST_INFLIGHT;
		q->inflight++;
		d->inflight++;
		return;
	}
	if (rc == ERR_OVERLOADED || rc == ERR_UNAVAILABLE) {
		schedule(d, dv, 100); /* the client is busy or stopping: try again, same attempt */
		return;
	}
	buf_init(&r.body, 256);
	r.outcome = DELIVERY_FAILED;
	r.code = 500;
	(void)buf_appendf(&r.body, "dispatch error: request not sent (%s)", err_code_name(rc));
	settle(d, dv, &r, url);
	buf_release(&r.body);
}

/* Starts what the trigger's in-flight limit allows. */
static void pump(struct dispatcher *d, struct trig_queue *q)
{
	while (!d->stopping && q->head && q->inflight < d->opt.trigger_inflight) {
		struct delivery *dv = q->head;

		q->head = dv->qnext;
		if (!q->head)
			q->tail = NULL;
		dv->qnext = NULL;
		start_attempt(d, q, dv);
	}
}

static void pump_all(struct dispatcher *d)
{
	size_t i;

	for (i = 0; i < d->topo->ntriggers; i++)
		pump(d, &d->queues[i]);
}

/* ---- callbacks (client thread) ------------------------------------------------------------ */

static void on_timer(void *arg, int cancelled)
{
	struct delivery *dv = arg;
	struct dispatcher *d = dv->owner;

	if (cancelled)
		return; /* stays WAITING with its due time: spooled */
	pthread_mutex_lock(&d->mu);
	enqueue(d, dv);
	pump(d, queue_of(d, dv));
	pthread_mutex_unlock(&d->mu);
}

/*
 * Re-ingests a reply, in the trace of the attempt that got it (ctx, may be NULL); turns a
 * refusal into a failed attempt. Returns the URL that failed.
 */
static const char *take_reply(struct dispatcher *d, struct delivery *dv, struct delivery_result *r,
			      const struct trace_context *ctx, char **owned)
{
	const struct topo_broker *b = &d->topo->brokers[dv->trigger->broker_index];
	const char *tp = dv->traceparent, *ts = dv->tracestate;
	struct trace_inject inj;
	size_t ninj = ctx ? trace_context_inject(ctx, &inj) : 0;
	int rc;

	if (ninj) {
		tp = inj.traceparent;
		ts = ninj > 1 ? ctx->tracestate : NULL;
	}
	ttl_put(r->reply, dv->ttl);
	rc = dispatcher_ingest(d, b, r->reply, tp, ts);
	if (rc == 0) {
		r->outcome = DELIVERY_OK;
		return NULL;
	}
	r->outcome = DELIVERY_FAILED;
	r->code = rc == ERR_TTL ? 400 : 503;
	buf_reset(&r->body);
	(void)buf_appends(&r->body, rc == ERR_TTL ? "reply dropped: knativebrokerttl exhausted"
						  : "reply not stored: the broker queues are full");
	if (rc != ERR_TTL)
		return NULL;
	*owned = xasprintf("%s/%s/%s", d->opt.ingress_base, b->ns, b->name);
	return *owned;
}

static void on_done(const struct httpc_response *res, void *arg)
{
	struct delivery *dv = arg;
	struct dispatcher *d = dv->owner;
	struct trig_queue *q = queue_of(d, dv);
	struct delivery_result r;
	const char *dest = NULL;
	char *owned = NULL;

	if (res->cancelled) {
		pthread_mutex_lock(&d->mu);
		q->inflight--;
		d->inflight--;
		enqueue(d, dv); /* not counted as an attempt: resumed after the restart */
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->mu);
		return;
	}
	delivery_classify(dv->phase, res, &r);
	if (r.outcome == DELIVERY_REPLY)
		dest = take_reply(d, dv, &r, res->trace, &owned);
	pthread_mutex_lock(&d->mu);
	q->inflight--;
	d->inflight--;
	metrics_observe(q->duration, (double)res->elapsed_us / 1e6);
	settle(d, dv, &r, dest);
	pump(d, q);
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->mu);
	delivery_result_release(&r);
	free(owned);
}

/* ---- public API --------------------------------------------------------------------------- */

int dispatcher_ingest(struct dispatcher *d, const struct topo_broker *b, struct ce_event *ev,
		      const char *traceparent, const char *tracestate)
{
	size_t bi = (size_t)(b - d->topo->brokers), i, n = 0;
	char now[CE_TIME_LEN];
	struct timespec ts;
	int ttl, rc;

	rc = ttl_ingress(ev, d->opt.max_ttl, &ttl);
	if (rc)
		return rc;
	clock_gettime(CLOCK_REALTIME, &ts);
	(void)ce_set(ev, "knativearrivaltime", NULL);
	(void)ce_set_typed(ev, "knativearrivaltime", CE_TYPE_TIMESTAMP, ce_time_format(&ts, now),
			   NULL);
	for (i = 0; i < d->topo->ntriggers; i++) {
		const struct topo_trigger *tr = &d->topo->triggers[i];

		if (tr->broker_index == bi && filter_match(tr->filter, ev))
			n++;
	}
	pthread_mutex_lock(&d->mu);
	if (d->depth + n > d->opt.queue_max) {
		pthread_mutex_unlock(&d->mu);
		return ERR_OVERLOADED;
	}
	for (i = 0; i < d->topo->ntriggers; i++) {
		const struct topo_trigger *tr = &d->topo->triggers[i];
		struct delivery *dv;

		if (tr->broker_index != bi || !filter_match(tr->filter, ev))
			continue;
		dv = delivery_new(tr, ev, ttl, traceparent, tracestate);
		track(d, dv);
		enqueue(d, dv);
		pump(d, &d->queues[i]);
	}
	metrics_inc(d->received);
	pthread_mutex_unlock(&d->mu);
	return 0;
}

size_t dispatcher_depth(struct dispatcher *d)
{
	size_t n;

	pthread_mutex_lock(&d->mu);
	n = d->depth;
	pthread_mutex_unlock(&d->mu);
	return n;
}

static void register_metrics(struct dispatcher *d)
{
	struct metrics *reg = metrics_default();
	struct metric *dl, *dur;
	size_t i;

	d->received = metrics_series(metrics_counter(reg, "broker_events_received_total",
						     "Events accepted by the broker (ingress and "
						     "replies)",
						     METRIC_NO_LABELS),
				     NULL);
	d->depth_gauge =
	    metrics_series(metrics_gauge(reg, "broker_queue_depth", "Deliveries not yet finished",
					 METRIC_NO_LABELS),
			   NULL);
	d->deliveries = metrics_counter(reg, "broker_deliveries_total",
					"Delivery attempts to subscribers by result code",
					METRIC_LABELS("trigger", "code"));
	d->dropped = metrics_counter(reg, "broker_events_dropped_total",
				     "Events given up without a dead-letter delivery",
				     METRIC_LABELS("trigger", "reason"));
	dl = metrics_counter(reg, "broker_dead_letters_total",
			     "Events delivered to a dead-letter sink", METRIC_LABELS("trigger"));
	dur = metrics_histogram(reg, "broker_delivery_duration_seconds",
				"Duration of one delivery attempt", METRIC_LABELS("trigger"),
				metrics_http_duration_buckets, metrics_http_duration_nbuckets);
	for (i = 0; i < d->topo->ntriggers; i++) {
		const char *name = d->topo->triggers[i].name;

		d->queues[i].dead_letters = metrics_series(dl, METRIC_LABELS(name));
		d->queues[i].duration = metrics_series(dur, METRIC_LABELS(name));
	}
}

struct dispatcher *dispatcher_new(const struct topology *topo, const struct dispatcher_options *opt)
{
	struct dispatcher *d = xcalloc(1, sizeof(*d));
	struct httpc_options ho = { 0 };
	pthread_condattr_t ca;

	d->topo = topo;
	d->opt = *opt;
	if (!d->opt.queue_max)
		d->opt.queue_max = 10000;
	if (!d->opt.max_ttl)
		d->opt.max_ttl = TTL_DEFAULT_MAX;
	if (!d->opt.timeout_default_ms)
		d->opt.timeout_default_ms = 30000;
	if (!d->opt.trigger_inflight)
		d->opt.trigger_inflight = 32;
	if (!d->opt.ingress_base)
		d->opt.ingress_base = "http://127.0.0.1:8080";
	pthread_mutex_init(&d->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	d->queues = xcalloc(topo->ntriggers + 1, sizeof(*d->queues));
	register_metrics(d);
	ho.max_transfers = 512;
	ho.max_pending = d->opt.queue_max + 1024;
	ho.timeout_ms = d->opt.timeout_default_ms;
	ho.user_agent = "bookstore-local-broker/1";
	d->client = httpc_new(&ho);
	if (!d->client) {
		log_error("local-broker: cannot start the HTTP client");
		abort();
	}
	return d;
}

void dispatcher_drain(struct dispatcher *d, long long grace_ms)
{
	struct timespec dl;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += grace_ms / 1000;
	dl.tv_nsec += (grace_ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&d->mu);
	d->stopping = 1;
	while (d->inflight > 0) {
		if (pthread_cond_timedwait(&d->cond, &d->mu, &dl) == ETIMEDOUT)
			break;
	}
	if (d->inflight > 0)
		log_warn("%zu delivery attempts still in flight after %lld ms: cancelling them",
			 d->inflight, grace_ms);
	pthread_mutex_unlock(&d->mu);
	httpc_free(d->client); /* cancels the rest; every callback has run when it returns */
	d->client = NULL;
}

int dispatcher_spool_save(struct dispatcher *d, const char *path, struct buf *err)
{
	json_t *arr = json_array();
	struct delivery *dv;
	int rc = 0;

	for (dv = d->all; dv; dv = dv->next)
		json_array_append_new(arr, delivery_to_json(dv));
	if (json_array_size(arr) > 0)
		rc = spool_write(path, arr, err);
	else
		rc = spool_remove(path);
	if (rc == 0 && json_array_size(arr) > 0)
		log_info("spooled %zu pending deliveries to %s", json_array_size(arr), path);
	json_decref(arr);
	return rc;
}

int dispatcher_spool_load(struct dispatcher *d, const char *path, struct buf *err)
{
	json_t *arr = NULL, *rec;
	size_t i;
	int rc, n = 0;
	long long now = now_ms();

	rc = spool_read(path, &arr, err);
	if (rc == ERR_NOT_FOUND)
		return 0;
	if (rc)
		return rc;
	pthread_mutex_lock(&d->mu);
	json_array_foreach(arr, i, rec)
	{
		struct delivery *dv = NULL;
		struct buf why;

		buf_init(&why, 512);
		if (delivery_from_json(rec, d->topo, &dv, &why) != 0) {
			log_error("spool record %zu dropped: %s", i, why.data);
			buf_release(&why);
			continue;
		}
		buf_release(&why);
		track(d, dv);
		schedule(d, dv, dv->due_ms > now ? dv->due_ms - now : 0);
		n++;
	}
	pump_all(d);
	pthread_mutex_unlock(&d->mu);
	json_decref(arr);
	if (spool_remove(path) != 0) {
		buf_appendf(err, "%s: cannot remove the spool after loading it", path);
		return ERR_IO;
	}
	return n;
}

void dispatcher_free(struct dispatcher *d)
{
	if (!d)
		return;
	if (d->client) {
		pthread_mutex_lock(&d->mu);
		d->stopping = 1;
		pthread_mutex_unlock(&d->mu);
		httpc_free(d->client);
	}
	while (d->all)
		untrack_free(d, d->all);
	free(d->queues);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->mu);
	free(d);
}
