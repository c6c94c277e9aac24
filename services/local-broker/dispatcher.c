/*
 * dispatcher.c: queues, attempts, retries, dead-lettering and the write-ahead log (see
 * dispatcher.h).
 *
 * Every live delivery is on d->all and in exactly one state of enum delivery_state
 * (delivery.h): QUEUED (on its Trigger's FIFO), INFLIGHT (an httpc request owns it until
 * on_done) or WAITING (an httpc timer owns it until on_timer). All state changes happen under
 * d->mu; httpc calls made under it never block.
 *
 * The log's records are JSON lines, appended under d->mu so their order is the order of the
 * changes:
 *   {"op":"put","id":N,"delivery":{...}}   a delivery as delivery_to_json() (new, or moved to
 *                                         its dead-letter phase); the snapshot is all puts
 *   {"op":"retry","id":N,"attempts":A,"due_ms":T}   a failed attempt, next one due at T
 *   {"op":"done","id":N,"end":"delivered"|"dead_lettered"|"dropped"}
 * Only ingress waits for its puts to be durable (wal_commit outside d->mu); the rest rides on
 * the next sync. Lock order: d->mu, then the wal's own lock.
 *
 * Debug builds assert the bookkeeping (depth, bytes and in-flight counts never go below zero,
 * a tracked delivery is on d->all exactly once, only a QUEUED delivery leaves a FIFO).
 */
#include "dispatcher.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/ce.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/fdio.h"
#include "common/http.h"
#include "common/httpc.h"
#include "common/jsonenc.h"
#include "common/locked.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/trace.h"
#include "common/xalloc.h"
#include "common/wal.h"
#include "delivery.h"
#include "spool.h"
#include "ttl.h"
#include "walreplay.h"

/* A snapshot writes up to this many bytes of records per chunk. */
#define SNAPSHOT_CHUNK ((size_t)1024 * 1024)

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
	struct list_head all;	   /* every live delivery, newest first */
	size_t depth, inflight, bytes;
	int stopping;
	struct wal *wal; /* NULL: memory only */
	/* The committer thread: one wal_commit() (one group sync) per batch of waiters. */
	pthread_t committer;
	bool committer_started, committer_stop;
	pthread_mutex_t cmu;
	pthread_cond_t ccond;
	struct commit_wait *waiters;	   /* FIFO (head), under cmu */
	struct commit_wait **waiters_tail; /* the last next pointer (&waiters when empty) */
	atomic_ullong next_id; /* the next delivery's id in the log (taken outside mu) */
	size_t live_wal_bytes; /* sum of wal_bytes of the live deliveries */
	struct metric *deliveries, *dropped;
	struct metric_series *received, *depth_gauge, *bytes_gauge, *wal_gauge, *compactions;
};

struct commit_wait {
	unsigned long long seq;
	dispatcher_durable_fn fn;
	void *arg;
	struct commit_wait *next;
};

static void on_done(const struct httpc_response *res, void *arg);
static void on_timer(void *arg, int cancelled);
static int ingest(struct dispatcher *d, const struct topo_broker *b, struct ce_event *ev,
		  const char *traceparent, const char *tracestate, bool commit,
		  unsigned long long *seq_out);

static struct trig_queue *queue_of(struct dispatcher *d, const struct delivery *dv)
{
	return &d->queues[dv->trigger - d->topo->triggers];
}

/* ---- bookkeeping (d->mu held) ------------------------------------------------------------- */

/* ---- the write-ahead log (d->mu held) ------------------------------------------------------- */

static void wal_gauge_update(struct dispatcher *d)
{
	if (d->wal)
		metrics_set(d->wal_gauge, (double)wal_size(d->wal));
}

/*
 * dv's full record ("put") with event_json its event's encoding (NULL: encoded here),
 * appended to line; sets dv->wal_bytes. Returns 0 or ERR_INTERNAL (nothing appended).
 */
static int put_line(struct delivery *dv, const struct buf *event_json, struct buf *line)
{
	size_t start = line->len;
	struct buf own;
	int rc;

	buf_init(&own, BUF_NOCAP);
	if (!event_json) {
		rc = ce_encode_structured(dv->event, &own);
		if (rc)
			goto cleanup;
		event_json = &own;
	}
	rc = delivery_put_record(dv, dv->id, event_json, line);
	if (rc == 0)
		dv->wal_bytes = line->len - start;
cleanup:
	buf_release(&own);
	return rc;
}

/*
 * Appends a record that need not be durable before going on: losing it in a crash repeats a
 * step (a redelivery), never loses one. A failure is logged; it is sticky in the wal, and
 * /readyz then reports it.
 */
static void note(struct dispatcher *d, const char *line, size_t len)
{
	unsigned long long seq;

	if (d->wal && wal_append(d->wal, line, len, &seq) != 0)
		log_error("broker.wal: a delivery record was not written (%.*s)", (int)len - 1,
			  line);
}

static void note_put(struct dispatcher *d, struct delivery *dv)
{
	unsigned long long seq;
	struct buf line;

	if (!d->wal)
		return;
	d->live_wal_bytes -= dv->wal_bytes;
	buf_init(&line, BUF_NOCAP);
	if (put_line(dv, NULL, &line) != 0 || wal_append(d->wal, line.data, line.len, &seq) != 0)
		log_error("broker.wal: the dead-letter phase of event %s was not written",
			  dv->event->id);
	d->live_wal_bytes += dv->wal_bytes;
	buf_release(&line);
}

/* The small records are formatted by hand: every value is a number or a fixed name. */
static void note_retry(struct dispatcher *d, const struct delivery *dv)
{
	char line[128];
	int n;

	if (!d->wal)
		return;
	n = snprintf(line, sizeof(line),
		     "{\"op\":\"retry\",\"id\":%llu,\"attempts\":%d,\"due_ms\":%lld}\n", dv->id,
		     dv->attempts, dv->due_ms);
	note(d, line, (size_t)n);
}

static void note_done(struct dispatcher *d, const struct delivery *dv, enum delivery_end end)
{
	char line[128];
	int n;

	if (!d->wal)
		return;
	n = snprintf(line, sizeof(line), "{\"op\":\"done\",\"id\":%llu,\"end\":\"%s\"}\n", dv->id,
		     delivery_end_name(end));
	note(d, line, (size_t)n);
}

struct snapshot {
	struct dispatcher *d;
	struct list_head *cursor; /* the next delivery to write; &d->all at the end */
};

/*
 * wal_snapshot_fn: one put per live delivery, about SNAPSHOT_CHUNK bytes at a time. Each put
 * replaces the delivery's wal_bytes at once, so live_wal_bytes stays their sum even when the
 * rewrite then fails and the old log stays.
 */
static int snapshot_chunk(struct buf *chunk, void *arg)
{
	struct snapshot *sn = arg;
	struct dispatcher *d = sn->d;

	while (sn->cursor != &d->all && chunk->len < SNAPSHOT_CHUNK) {
		struct delivery *dv = list_entry(sn->cursor, struct delivery, link);
		size_t old = dv->wal_bytes;

		if (put_line(dv, NULL, chunk) != 0)
			return ERR_INTERNAL;
		d->live_wal_bytes = d->live_wal_bytes - old + dv->wal_bytes;
		sn->cursor = sn->cursor->next;
	}
	return sn->cursor != &d->all ? 0 : 1;
}

/* Rewrites the log from the live deliveries. */
static int compact(struct dispatcher *d)
{
	struct snapshot sn = { .d = d, .cursor = d->all.next };
	int rc;

	rc = wal_rewrite(d->wal, snapshot_chunk, &sn);
	if (rc == 0)
		metrics_inc(d->compactions);
	wal_gauge_update(d);
	return rc;
}

/* Compacts when the log has grown past compact_bytes and past twice what is live. */
static void maybe_compact(struct dispatcher *d)
{
	long long size;

	if (!d->wal)
		return;
	size = wal_size(d->wal);
	if (size < d->opt.compact_bytes || size < 2 * (long long)d->live_wal_bytes) {
		wal_gauge_update(d);
		return;
	}
	(void)compact(d);
}

/* ---- bookkeeping (d->mu held) ------------------------------------------------------------- */

static void track(struct dispatcher *d, struct delivery *dv)
{
	assert(list_empty(&dv->link) && dv->owner == NULL);
	dv->owner = d;
	list_add(&dv->link, &d->all);
	d->depth++;
	d->bytes += dv->bytes;
	metrics_set(d->depth_gauge, (double)d->depth);
	metrics_set(d->bytes_gauge, (double)d->bytes);
}

static void untrack_free(struct dispatcher *d, struct delivery *dv)
{
	assert(dv->owner == d && !list_empty(&dv->link));
	assert(d->depth > 0 && d->bytes >= dv->bytes && d->live_wal_bytes >= dv->wal_bytes);
	list_del(&dv->link);
	d->depth--;
	d->bytes -= dv->bytes;
	d->live_wal_bytes -= dv->wal_bytes;
	metrics_set(d->depth_gauge, (double)d->depth);
	metrics_set(d->bytes_gauge, (double)d->bytes);
	delivery_free(dv);
}

/* Ends dv: records how, forgets it, and compacts the log when it is due. */
static void finish(struct dispatcher *d, struct delivery *dv, enum delivery_end end)
{
	delivery_set_state(dv, DELIVERY_DONE);
	note_done(d, dv, end);
	untrack_free(d, dv);
	maybe_compact(d);
}

static void enqueue(struct dispatcher *d, struct delivery *dv)
{
	struct trig_queue *q = queue_of(d, dv);

	delivery_set_state(dv, DELIVERY_QUEUED);
	assert(dv->owner == d);
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
	metrics_inc(metrics_series(d->dropped, METRIC_LABELS(tr->ns, tr->name, reason)));
	finish(d, dv, DELIVERY_END_DROPPED);
}

/* Schedules the next attempt of dv wait_ms from now. */
static void schedule(struct dispatcher *d, struct delivery *dv, long long wait_ms)
{
	dv->due_ms = clock_real_ms() + wait_ms;
	if (wait_ms <= 0) {
		enqueue(d, dv);
		return;
	}
	delivery_set_state(dv, DELIVERY_WAITING);
	if (d->client && httpc_timer(d->client, wait_ms, on_timer, dv) == 0)
		return;
	/* The client is shutting down: the delivery stays WAITING, as the log has it. */
}

/* Logs a failed attempt of dv; retry_ms >= 0 is the wait before the next one (-1: none). */
static void log_failed(const struct delivery *dv, const char *url, int code, long long retry_ms)
{
	json_t *fields =
	    json_pack("{s:s,s:s,s:i,s:i,s:s}", "trigger", dv->trigger->name, "url", url, "code",
		      code, "attempt", dv->attempts, "event_id", dv->event->id);
	char next[48] = "";

	if (retry_ms >= 0) {
		json_object_set_new(fields, "retry_in_ms", json_integer(retry_ms));
		snprintf(next, sizeof(next), "; retry in %lld ms", retry_ms);
	}
	log_fields(LOG_WARN, fields, "delivery attempt %d to %s failed with %d%s", dv->attempts,
		   url, code, next);
}

/*
 * Applies the outcome of one attempt of dv (not in flight any more). dest is the URL that
 * failed (NULL: the one dv was sent to). When r->reply_failed the subscriber answered 2xx
 * and is never called again: the delivery goes on to its dead-letter sink at once.
 */
static void settle(struct dispatcher *d, struct delivery *dv, const struct delivery_result *r,
		   const char *dest)
{
	const struct delivery_spec *spec = dv->trigger->delivery;
	const char *url = dest ? dest : delivery_url(dv);
	long long retry_ms = -1;
	char code[16];

	dv->attempts++;
	snprintf(code, sizeof(code), "%d", r->code);
	if (dv->phase == DELIVERY_SUBSCRIBER)
		metrics_inc(metrics_series(
		    d->deliveries, METRIC_LABELS(dv->trigger->ns, dv->trigger->name, code)));
	if (r->outcome != DELIVERY_FAILED) {
		if (dv->phase == DELIVERY_DEAD_LETTER)
			metrics_inc(queue_of(d, dv)->dead_letters);
		finish(d, dv,
		       dv->phase == DELIVERY_DEAD_LETTER ? DELIVERY_END_DEAD_LETTERED
							 : DELIVERY_END_DELIVERED);
		return;
	}
	if (!r->reply_failed && delivery_retryable(r->code) && dv->attempts <= spec->retry)
		retry_ms = delivery_backoff_ms(spec, dv->attempts);
	log_failed(dv, url, r->code, retry_ms);
	if (retry_ms >= 0) {
		schedule(d, dv, retry_ms);
		note_retry(d, dv);
		return;
	}
	if (dv->phase == DELIVERY_SUBSCRIBER && spec->dls_url) {
		delivery_to_dead_letter(dv, url, r->code, r->body.data, r->body.len);
		note_put(d, dv);
		enqueue(d, dv);
		return;
	}
	drop(d, dv, dv->phase == DELIVERY_SUBSCRIBER ? "no_dead_letter_sink" : "dead_letter_failed",
	     r->code);
}

/* ---- attempts ----------------------------------------------------------------------------- */

/* Appends name: value to hs unless value is NULL. */
static void add_header(struct header_list *hs, const char *name, const char *value)
{
	if (value)
		header_list_add(hs, name, value);
}

/*
 * The attempt's tracing: a CLIENT span under the delivery's context (the ingress span, or
 * the attempt that got the reply), one per attempt, retries with http.request.resend_count.
 */
static void trace_attempt(const struct delivery *dv, struct trace_context *parent,
			  struct trace_attr attrs[4], struct httpc_request *req)
{
	/* Zeroed when dv has no trace context: the attempt is not traced. */
	(void)trace_context_from(dv->traceparent, dv->tracestate, parent);
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

/*
 * Whether dv's attempt goes in structured mode by choice: EV's broker filter applies a
 * Trigger's own spec.delivery.format, and only on the hop to its subscriber
 * (filter_handler.go); a Broker's format, a Sequence step's and the dead-letter sink's hop
 * send binary mode (the channel dispatch has no format option).
 */
static bool trigger_wants_json(const struct topo_trigger *tr)
{
	return !tr->step && tr->own.set && tr->own.format == FORMAT_JSON;
}

static bool structured_by_choice(const struct delivery *dv)
{
	return dv->phase == DELIVERY_SUBSCRIBER && trigger_wants_json(dv->trigger);
}

/*
 * Encodes dv's event in the mode structured_by_choice() says (ce_encode_http(): structured
 * mode also when binary mode cannot carry the event) and sends it. 0, ERR_INVALID_EVENT or
 * the httpc_send() error.
 */
static int send_attempt(struct dispatcher *d, struct delivery *dv, const char *url)
{
	const struct delivery_spec *spec = dv->trigger->delivery;
	struct httpc_request req = { 0 };
	struct trace_context parent;
	struct trace_attr attrs[4];
	struct ce_encoded msg;
	int rc = ce_encode_http(dv->event, structured_by_choice(dv), &msg);

	if (rc)
		goto cleanup;
	if (dv->phase == DELIVERY_SUBSCRIBER)
		add_header(&msg.headers, "Prefer", "reply");
	add_header(&msg.headers, "Kn-Namespace", dv->trigger->ns);
	/* Sent as is when the attempt is not traced; else httpc injects its CLIENT span's. */
	add_header(&msg.headers, "traceparent", dv->traceparent);
	add_header(&msg.headers, "tracestate", dv->tracestate);
	trace_attempt(dv, &parent, attrs, &req);
	req.method = "POST";
	req.url = url;
	req.headers = msg.headers.v;
	req.nheaders = msg.headers.n;
	req.body = msg.body;
	req.body_len = msg.len;
	req.timeout_ms = spec->timeout_ms > 0 ? spec->timeout_ms : d->opt.timeout_default_ms;
	rc = d->client ? httpc_send(d->client, &req, on_done, dv) : ERR_UNAVAILABLE;
cleanup:
	ce_encoded_release(&msg);
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
	delivery_set_state(dv, DELIVERY_INFLIGHT);
	rc = send_attempt(d, dv, url);
	if (rc == 0) {
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

		assert(dv->state == DELIVERY_QUEUED);
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
		return; /* stays WAITING with its due time, as the log has it */
	pthread_mutex_lock(&d->mu);
	enqueue(d, dv);
	pump(d, queue_of(d, dv));
	pthread_mutex_unlock(&d->mu);
}

/* The ingress URL of the Broker or channel dv's replies go to (in *owned). */
static const char *reply_dest(struct dispatcher *d, const struct delivery *dv, char **owned)
{
	const struct topo_broker *b = &d->topo->brokers[dv->trigger->reply_index];

	*owned = xasprintf("%s/%s/%s", d->opt.ingress_base, b->ns, b->name);
	return *owned;
}

/*
 * Re-ingests a reply into its Trigger's Broker (a Sequence step's: the next channel or the
 * Sequence's reply; none: dropped), in the trace of the attempt that got it (ctx, may be
 * NULL); turns a refusal into a failed attempt: 400 when the reply's TTL is exhausted or it
 * has more extensions than the broker keeps room for, 503 when it cannot be stored (queues
 * full, log not writable). Returns the URL that failed (the Broker's ingress, in *owned),
 * NULL when the reply was taken.
 */
static const char *take_reply(struct dispatcher *d, struct delivery *dv, struct delivery_result *r,
			      const struct trace_context *ctx, char **owned)
{
	const struct topo_broker *b;
	const char *tp = dv->traceparent, *ts = dv->tracestate;
	struct trace_inject inj;
	size_t ninj;
	int rc;

	if (dv->trigger->reply_index == TOPO_NO_REPLY) {
		r->outcome = DELIVERY_OK;
		return NULL;
	}
	b = &d->topo->brokers[dv->trigger->reply_index];
	ninj = ctx ? trace_context_inject(ctx, &inj) : 0;
	if (ninj) {
		tp = inj.traceparent;
		ts = ninj > 1 ? ctx->tracestate : NULL;
	}
	ttl_put(r->reply, dv->ttl);
	rc = ingest(d, b, r->reply, tp, ts, false, NULL);
	if (rc == 0) {
		r->outcome = DELIVERY_OK;
		return NULL;
	}
	r->outcome = DELIVERY_FAILED;
	r->reply_failed = true;
	r->code = rc == ERR_TTL || rc == ERR_VALIDATION ? 400 : rc == ERR_TOO_LARGE ? 413 : 503;
	buf_reset(&r->body);
	if (rc == ERR_TTL)
		(void)buf_appends(&r->body, "reply dropped: knativebrokerttl exhausted");
	else if (rc == ERR_TOO_LARGE)
		(void)buf_appends(&r->body,
				  "reply refused: too large to deliver (" DELIVERY_TOO_LARGE ")");
	else if (rc == ERR_VALIDATION)
		(void)buf_appendf(&r->body, "reply refused: more than %d extension attributes",
				  DELIVERY_OWN_EXTENSIONS_MAX);
	else if (rc == ERR_OVERLOADED)
		(void)buf_appends(&r->body, "reply not stored: the broker queues are full");
	else
		(void)buf_appends(&r->body, "reply not stored: the broker log failed");
	return reply_dest(d, dv, owned);
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
		assert(q->inflight > 0 && d->inflight > 0);
		q->inflight--;
		d->inflight--;
		enqueue(d, dv); /* not counted as an attempt: resumed after the restart */
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->mu);
		return;
	}
	delivery_classify(dv->phase, dv->trigger->step, res, &r);
	if (r.outcome == DELIVERY_REPLY)
		dest = take_reply(d, dv, &r, res->trace, &owned);
	else if (r.reply_failed && dv->trigger->reply_index == TOPO_NO_REPLY)
		r.outcome = DELIVERY_OK; /* too large, but going nowhere anyway */
	else if (r.reply_failed)
		dest = reply_dest(d, dv, &owned);
	pthread_mutex_lock(&d->mu);
	assert(q->inflight > 0 && d->inflight > 0);
	q->inflight--;
	d->inflight--;
	metrics_observe_exemplar(q->duration, (double)res->elapsed_us / 1e6,
				 res->trace_recorded ? res->trace : NULL);
	settle(d, dv, &r, dest);
	pump(d, q);
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->mu);
	delivery_result_release(&r);
	free(owned);
}

/* ---- public API --------------------------------------------------------------------------- */

/* The deliveries of one accepted event, made and encoded before d->mu is taken. */
struct batch {
	struct delivery **made;
	size_t n, bytes;
	struct buf lines; /* their "put" records (with a log) */
};

/* Whether a Trigger of broker bi that ev matches asks for structured mode. */
static bool json_wanted(const struct dispatcher *d, size_t bi, const struct ce_event *ev)
{
	for (size_t i = 0; i < d->topo->ntriggers; i++) {
		const struct topo_trigger *tr = &d->topo->triggers[i];

		if (tr->broker_index == bi && trigger_wants_json(tr) &&
		    filter_match(tr->filter, ev))
			return true;
	}
	return false;
}

/*
 * Makes one delivery per Trigger of broker bi that ev matches, with their log records (the
 * event encoded once for all). Returns 0 or ERR_INTERNAL (the event cannot be encoded).
 */
static int batch_make(struct dispatcher *d, size_t bi, struct ce_event *ev, int ttl,
		      const char *traceparent, const char *tracestate, struct batch *bt)
{
	struct buf event_json;
	size_t i;
	int rc = 0;

	bt->made = xcalloc(d->topo->ntriggers + 1, sizeof(struct delivery *));
	buf_init(&bt->lines, BUF_NOCAP);
	buf_init(&event_json, BUF_NOCAP);
	for (i = 0; i < d->topo->ntriggers; i++) {
		const struct topo_trigger *tr = &d->topo->triggers[i];
		struct delivery *dv;

		if (tr->broker_index != bi || !filter_match(tr->filter, ev))
			continue;
		dv = delivery_new(tr, ev, ttl, traceparent, tracestate);
		dv->id = atomic_fetch_add(&d->next_id, 1);
		bt->made[bt->n++] = dv;
		bt->bytes += dv->bytes;
		if (!d->wal)
			continue;
		/* Every delivery of ev carries the same event: one encoding serves them all. */
		if (!event_json.len)
			rc = ce_encode_structured(dv->event, &event_json);
		if (rc == 0)
			rc = put_line(dv, &event_json, &bt->lines);
		if (rc)
			break;
	}
	buf_release(&event_json);
	return rc;
}

static void batch_release(struct batch *bt)
{
	size_t i;

	for (i = 0; i < bt->n; i++)
		delivery_free(bt->made[i]);
	free(bt->made);
	buf_release(&bt->lines);
}

/*
 * Logs and queues the deliveries of bt (d->mu held), taking them from bt, all or none. Sets
 * *seq to the log's sequence number of their records (0: none written).
 */
static int ingest_locked(struct dispatcher *d, struct batch *bt, unsigned long long *seq)
{
	size_t i;
	int rc;

	if (d->depth + bt->n > d->opt.queue_max || d->bytes + bt->bytes > d->opt.queue_bytes)
		return ERR_OVERLOADED;
	if (d->wal && bt->n > 0) {
		rc = wal_append(d->wal, bt->lines.data, bt->lines.len, seq);
		if (rc)
			return rc;
	}
	/* All tracked before any attempt: an attempt may end at once and compact the log, and
	 * the snapshot must then hold every record just appended. */
	for (i = 0; i < bt->n; i++) {
		track(d, bt->made[i]);
		d->live_wal_bytes += bt->made[i]->wal_bytes;
	}
	for (i = 0; i < bt->n; i++) {
		struct delivery *dv = bt->made[i];

		bt->made[i] = NULL;
		enqueue(d, dv);
		pump(d, queue_of(d, dv));
	}
	bt->n = 0;
	wal_gauge_update(d);
	return 0;
}

/*
 * Accepts ev into broker b. With commit, returns only once its records are on disk; without,
 * sets *seq_out (when not NULL) to what a commit must cover (0: nothing), and the records
 * otherwise ride on the next sync (a reply, re-ingested on the client thread, which must not
 * wait for the disk: its records are ahead of the "done" of the delivery that got it).
 */
static int ingest(struct dispatcher *d, const struct topo_broker *b, struct ce_event *ev,
		  const char *traceparent, const char *tracestate, bool commit,
		  unsigned long long *seq_out)
{
	size_t bi = (size_t)(b - d->topo->brokers);
	struct batch bt = { 0 };
	unsigned long long seq = 0;
	char now[CE_TIME_LEN];
	struct timespec ts;
	int ttl, rc;

	rc = delivery_check_room(ev);
	rc = rc ? rc : ttl_ingress(ev, d->opt.max_ttl, &ttl);
	if (rc)
		return rc;
	clock_gettime(CLOCK_REALTIME, &ts);
	(void)ce_set(ev, "knativearrivaltime", NULL);
	(void)ce_set_typed(ev, "knativearrivaltime", CE_TYPE_TIMESTAMP, ce_time_format(&ts, now),
			   NULL);
	rc = delivery_check_size(ev, json_wanted(d, bi, ev));
	if (rc)
		return rc;
	/* The deliveries and their records are made before the lock: only the append, the
	 * queues and the first attempts are under it. */
	rc = batch_make(d, bi, ev, ttl, traceparent, tracestate, &bt);
	if (rc == 0) {
		pthread_mutex_lock(&d->mu);
		rc = ingest_locked(d, &bt, &seq);
		if (rc == 0)
			metrics_inc(d->received);
		pthread_mutex_unlock(&d->mu);
	}
	batch_release(&bt);
	if (seq_out)
		*seq_out = rc == 0 ? seq : 0;
	if (rc == 0 && commit && seq > 0)
		rc = wal_commit(d->wal, seq);
	return rc;
}

int dispatcher_ingest(struct dispatcher *d, const struct topo_broker *b, struct ce_event *ev,
		      const char *traceparent, const char *tracestate)
{
	return ingest(d, b, ev, traceparent, tracestate, true, NULL);
}

int dispatcher_ingest_begin(struct dispatcher *d, const struct topo_broker *b, struct ce_event *ev,
			    const char *traceparent, const char *tracestate,
			    unsigned long long *seq)
{
	return ingest(d, b, ev, traceparent, tracestate, false, seq);
}

/* ---- the committer thread ------------------------------------------------------------------ */

static void *committer_main(void *arg)
{
	struct dispatcher *d = arg;

	pthread_mutex_lock(&d->cmu);
	for (;;) {
		struct commit_wait *batch, *w;
		unsigned long long top = 0;
		int rc;

		while (!d->waiters && !d->committer_stop)
			pthread_cond_wait(&d->ccond, &d->cmu);
		if (!d->waiters)
			break;
		batch = d->waiters;
		d->waiters = NULL;
		d->waiters_tail = &d->waiters;
		pthread_mutex_unlock(&d->cmu);
		for (w = batch; w; w = w->next)
			top = w->seq > top ? w->seq : top;
		rc = wal_commit(d->wal, top);
		while (batch) {
			w = batch;
			batch = w->next;
			w->fn(w->arg, rc);
			free(w);
		}
		pthread_mutex_lock(&d->cmu);
	}
	pthread_mutex_unlock(&d->cmu);
	return NULL;
}

void dispatcher_commit_async(struct dispatcher *d, unsigned long long seq, dispatcher_durable_fn fn,
			     void *arg)
{
	struct commit_wait *w = xcalloc(1, sizeof(*w));

	w->seq = seq;
	w->fn = fn;
	w->arg = arg;
	pthread_mutex_lock(&d->cmu);
	*d->waiters_tail = w;
	d->waiters_tail = &w->next;
	pthread_cond_signal(&d->ccond);
	pthread_mutex_unlock(&d->cmu);
}

static void committer_stop(struct dispatcher *d)
{
	if (!d->committer_started)
		return;
	pthread_mutex_lock(&d->cmu);
	d->committer_stop = true;
	pthread_cond_signal(&d->ccond);
	pthread_mutex_unlock(&d->cmu);
	pthread_join(d->committer, NULL); /* it answers every waiter before it exits */
	d->committer_started = false;
}

size_t dispatcher_depth(struct dispatcher *d)
{
	return locked_size(&d->mu, &d->depth);
}

size_t dispatcher_bytes(struct dispatcher *d)
{
	return locked_size(&d->mu, &d->bytes);
}

/* The broker's series without labels, as data: one row each, the field it fills. */
static const struct plain_metric {
	bool gauge;
	const char *name, *help;
	size_t field; /* offsetof(struct dispatcher, ...) of its struct metric_series * */
} plain_metrics[] = {
	{ false, "broker_events_received_total",
	  "Events accepted by the broker (ingress and replies)",
	  offsetof(struct dispatcher, received) },
	{ true, "broker_queue_depth", "Deliveries not yet finished",
	  offsetof(struct dispatcher, depth_gauge) },
	{ true, "broker_queue_bytes",
	  "Bytes of the deliveries not yet finished (bounded by BROKER_QUEUE_BYTES)",
	  offsetof(struct dispatcher, bytes_gauge) },
	{ true, "broker_wal_bytes", "Size of the write-ahead log file",
	  offsetof(struct dispatcher, wal_gauge) },
	{ false, "broker_wal_compactions_total",
	  "Rewrites of the write-ahead log to the pending deliveries",
	  offsetof(struct dispatcher, compactions) },
};

static void register_metrics(struct dispatcher *d)
{
	struct metrics *reg = metrics_default();
	struct metric *dl, *dur;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(plain_metrics); i++) {
		const struct plain_metric *pm = &plain_metrics[i];
		struct metric *m = pm->gauge
				       ? metrics_gauge(reg, pm->name, pm->help, METRIC_NO_LABELS)
				       : metrics_counter(reg, pm->name, pm->help, METRIC_NO_LABELS);

		*(struct metric_series **)((char *)d + pm->field) = metrics_series(m, NULL);
	}
	d->deliveries = metrics_counter(reg, "broker_deliveries_total",
					"Delivery attempts to subscribers by result code",
					METRIC_LABELS("namespace", "trigger", "code"));
	d->dropped = metrics_counter(reg, "broker_events_dropped_total",
				     "Events given up without a dead-letter delivery",
				     METRIC_LABELS("namespace", "trigger", "reason"));
	dl = metrics_counter(reg, "broker_dead_letters_total",
			     "Events delivered to a dead-letter sink",
			     METRIC_LABELS("namespace", "trigger"));
	dur = metrics_histogram(reg, "broker_delivery_duration_seconds",
				"Duration of one delivery attempt",
				METRIC_LABELS("namespace", "trigger"),
				metrics_http_duration_buckets, metrics_http_duration_nbuckets);
	for (i = 0; i < d->topo->ntriggers; i++) {
		const struct topo_trigger *tr = &d->topo->triggers[i];

		d->queues[i].dead_letters = metrics_series(dl, METRIC_LABELS(tr->ns, tr->name));
		d->queues[i].duration = metrics_series(dur, METRIC_LABELS(tr->ns, tr->name));
	}
}

struct dispatcher *dispatcher_new(const struct topology *topo, const struct dispatcher_options *opt)
{
	struct dispatcher *d = xcalloc(1, sizeof(*d));
	struct httpc_options ho = { 0 };

	d->topo = topo;
	d->opt = *opt;
	list_init(&d->all);
	if (!d->opt.queue_max)
		d->opt.queue_max = 10000;
	if (!d->opt.queue_bytes)
		d->opt.queue_bytes = (size_t)64 * 1024 * 1024;
	if (!d->opt.compact_bytes)
		d->opt.compact_bytes = 16LL * 1024 * 1024;
	atomic_init(&d->next_id, 1);
	if (!d->opt.max_ttl)
		d->opt.max_ttl = TTL_DEFAULT_MAX;
	if (!d->opt.timeout_default_ms)
		d->opt.timeout_default_ms = 30000;
	if (!d->opt.trigger_inflight)
		d->opt.trigger_inflight = 32;
	if (!d->opt.ingress_base)
		d->opt.ingress_base = "http://127.0.0.1:8080";
	pthread_mutex_init(&d->mu, NULL);
	pthread_mutex_init(&d->cmu, NULL);
	pthread_cond_init(&d->ccond, NULL);
	d->waiters_tail = &d->waiters;
	(void)clock_cond_init(&d->cond);
	d->queues = xcalloc(topo->ntriggers + 1, sizeof(*d->queues));
	register_metrics(d);
	ho.max_transfers = 512;
	ho.max_pending = d->opt.queue_max + 1024;
	ho.timeout_ms = d->opt.timeout_default_ms;
	ho.user_agent = "bookstore-local-broker/1";
	/* A reply is held to what ingress accepts (its routes keep the default body cap). */
	ho.max_body = HTTP_DEFAULT_MAX_BODY;
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

	clock_deadline(&dl, grace_ms);
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

/* ---- resuming ------------------------------------------------------------------------------ */

/*
 * A delivery that cannot be resumed (its Trigger left the manifests, a bad record): a warning
 * naming its event and Trigger, and its record appended to orphans (kept_aside() writes it).
 */
static void orphan(json_t *dj, unsigned long long id, const char *from, const char *why,
		   struct buf *orphans)
{
	const char *eid = json_string_value(json_object_get(json_object_get(dj, "event"), "id"));
	const char *ns = json_string_value(json_object_get(dj, "trigger_namespace"));
	const char *name = json_string_value(json_object_get(dj, "trigger"));
	json_t *rec = json_pack("{s:s,s:I,s:O}", "op", "put", "id", (json_int_t)id, "delivery", dj);
	size_t start = orphans->len;

	log_fields(LOG_WARN,
		   json_pack("{s:s?,s:s?,s:s?}", "event_id", eid, "trigger_namespace", ns,
			     "trigger", name),
		   "%s: the pending delivery of event %s to Trigger %s/%s cannot be resumed (%s): "
		   "its record is kept aside",
		   from, eid ? eid : "?", ns ? ns : "?", name ? name : "?", why);
	if (rec && (jsonenc_append(orphans, rec) != 0 || buf_appendc(orphans, '\n') != 0))
		buf_setlen(orphans, start); /* past its cap: this record is left out */
	json_decref(rec);
}

/*
 * Tracks a resumed delivery (d->mu held); what cannot be resumed goes to orphans (orphan()).
 * Returns whether it was resumed.
 */
static int resume_one(struct dispatcher *d, json_t *dj, unsigned long long id, const char *from,
		      struct buf *orphans)
{
	struct delivery *dv = NULL;
	struct buf why;

	buf_init(&why, 512);
	if (!dj)
		buf_appends(&why, "its record no longer parses");
	if (!dj || delivery_from_json(dj, d->topo, &dv, &why) != 0) {
		orphan(dj, id, from, why.data, orphans);
		buf_release(&why);
		return 0;
	}
	buf_release(&why);
	dv->id = id;
	track(d, dv);
	return 1;
}

/*
 * Replays the log at path into d (d->mu held), the records that cannot be resumed into
 * orphans. 0; or ERR_IO, with the reason in why, when it cannot be read (left as it is: an
 * I/O error, EMFILE or a directory in its place must not start the broker without the events
 * it holds) or its damaged lines cannot be set aside.
 */
static int replay_log(struct dispatcher *d, const char *path, struct buf *orphans, struct buf *why)
{
	struct walreplay rp;
	struct wal_replay_stats st;
	struct buf err, aside;
	const char *key;
	json_t *entry;
	void *tmp;
	int rc;

	walreplay_init(&rp);
	buf_init(&err, 1024);
	buf_init(&aside, 1024);
	rc = wal_replay(path, walreplay_record, &rp, &st, &err);
	if (rc == ERR_NOT_FOUND) {
		rc = 0;
		goto cleanup;
	}
	if (rc) {
		buf_appendf(why,
			    "%s; the log is left as it is, and the broker does not start without "
			    "the events it holds",
			    err.data);
		rc = ERR_IO;
		goto cleanup;
	}
	if (st.torn_bytes)
		log_warn("%s: the last record was cut short by a crash (%zu bytes): ignored", path,
			 st.torn_bytes);
	if (rp.bad > 0) {
		if (wal_set_aside(path, 1, &aside) != 0) {
			buf_appendf(why, "%s has damaged records and cannot be moved aside: %s",
				    path, strerror(errno));
			rc = ERR_IO;
			goto cleanup;
		}
		log_warn(
		    "%s: some lines are not log records; the file is kept as %s and the records "
		    "that could be read are resumed",
		    path, aside.data);
	}
	/* One delivery's tree at a time, each entry's text freed once it is resumed. */
	json_object_foreach_safe(rp.live, tmp, key, entry)
	{
		json_t *dj = walreplay_delivery(entry);

		(void)resume_one(d, dj, strtoull(key, NULL, 10), path, orphans);
		json_decref(dj);
		json_object_del(rp.live, key);
	}
	if (rp.next_id > d->next_id)
		d->next_id = rp.next_id;
cleanup:
	walreplay_release(&rp);
	buf_release(&err);
	buf_release(&aside);
	return rc;
}

/*
 * Adds a spool written by an older version (d->mu held), what cannot be resumed to orphans.
 * Whether one was loaded.
 */
static bool load_legacy_spool(struct dispatcher *d, const char *path, struct buf *orphans)
{
	json_t *arr = NULL, *rec;
	struct buf err, aside;
	bool loaded = false;
	size_t i;
	int rc;

	buf_init(&err, 1024);
	buf_init(&aside, 1024);
	rc = spool_read(path, &arr, &err);
	if (rc == ERR_NOT_FOUND)
		goto cleanup;
	if (rc) {
		if (wal_set_aside(path, 0, &aside) == 0)
			log_warn("spool %s is unreadable (%s): kept as %s", path, err.data,
				 aside.data);
		else
			log_error("spool %s is unreadable (%s) and cannot be moved aside", path,
				  err.data);
		goto cleanup;
	}
	json_array_foreach(arr, i, rec)
	{
		(void)resume_one(d, rec, d->next_id++, path, orphans);
	}
	loaded = true;
cleanup:
	json_decref(arr);
	buf_release(&err);
	buf_release(&aside);
	return loaded;
}

/*
 * The name of a "<wal>.orphaned-*" file next to the log that holds exactly orphans already
 * (caller frees), or NULL. The old log stays until the new one replaces it, so a start-up that
 * failed after kept_aside() (a full disk, the rewrite killed) orphans the same records from it
 * again: they are kept once, not once per attempt.
 */
static char *kept_before(const char *wal_path, const struct buf *orphans)
{
	const char *slash = strrchr(wal_path, '/');
	char *dir = slash ? xstrndup(wal_path, (size_t)(slash - wal_path + 1)) : xstrdup("./");
	char *prefix = xasprintf("%s.orphaned-", slash ? slash + 1 : wal_path);
	char *found = NULL;
	struct dirent *de;
	struct buf text, err;
	struct stat st;
	DIR *dp = opendir(dir);

	buf_init(&text, orphans->len + 1);
	buf_init(&err, 256);
	while (dp && !found && (de = readdir(dp)) != NULL) {
		char *p;

		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		p = xasprintf("%s%s", dir, de->d_name);
		buf_reset(&text);
		if (stat(p, &st) == 0 && (size_t)st.st_size == orphans->len &&
		    buf_read_file(&text, p, &err) == 0 && text.len == orphans->len &&
		    memcmp(text.data, orphans->data, orphans->len) == 0)
			found = p;
		else
			free(p);
	}
	if (dp)
		closedir(dp);
	buf_release(&text);
	buf_release(&err);
	free(prefix);
	free(dir);
	return found;
}

/*
 * Writes the records of the deliveries that cannot be resumed to "<wal>.orphaned-<unix
 * seconds>" (appended, synced, its name synced) before the new log replaces the old one,
 * unless such a file holds them already (kept_before()).
 * 0, or ERR_IO with err filled: the broker must not start, the old log stays.
 */
static int kept_aside(struct dispatcher *d, const struct buf *orphans, struct buf *err)
{
	char *path;
	int fd, rc = 0;

	if (orphans->len == 0)
		return 0;
	path = kept_before(d->opt.wal_path, orphans);
	if (path) {
		log_warn(
		    "%s: holds the log records of the pending deliveries that cannot be resumed "
		    "(kept by an earlier start-up)",
		    path);
		free(path);
		return 0;
	}
	path = xasprintf("%s.orphaned-%lld", d->opt.wal_path, (long long)time(NULL));
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || fdio_write_full(fd, orphans->data, orphans->len) != 0 || fsync(fd) != 0 ||
	    fdio_sync_parent(path) != 0) {
		buf_appendf(err, "%s: cannot keep the deliveries that cannot be resumed: %s", path,
			    strerror(errno));
		rc = ERR_IO;
	} else {
		log_warn("%s: holds the log records of the pending deliveries that cannot be "
			 "resumed",
			 path);
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

int dispatcher_resume(struct dispatcher *d, const char *legacy_spool, struct buf *err)
{
	struct snapshot sn = { .d = d };
	struct list_head *pos;
	struct delivery *dv;
	long long now = clock_real_ms();
	struct buf orphans;
	bool spooled = false;
	int rc = 0, n = 0;

	if (!d->opt.wal_path)
		return 0;
	buf_init(&orphans, BUF_NOCAP);
	pthread_mutex_lock(&d->mu);
	rc = replay_log(d, d->opt.wal_path, &orphans, err);
	if (rc)
		goto out;
	if (legacy_spool)
		spooled = load_legacy_spool(d, legacy_spool, &orphans);
	rc = kept_aside(d, &orphans, err);
	if (rc)
		goto out;
	sn.cursor = d->all.next;
	rc = wal_open(d->opt.wal_path, d->opt.fsync, snapshot_chunk, &sn, &d->wal, err);
	if (rc)
		goto out;
	wal_gauge_update(d);
	if (pthread_create(&d->committer, NULL, committer_main, d) != 0) {
		log_error("local-broker: cannot start the log's committer thread");
		abort();
	}
	d->committer_started = true;
	/* The log now holds the spool's deliveries: only now may the spool go. */
	if (spooled && spool_remove(legacy_spool) != 0)
		log_warn("%s: resumed, but cannot be removed: %s", legacy_spool, strerror(errno));
	list_for_each(pos, &d->all) {
		dv = list_entry(pos, struct delivery, link);
		schedule(d, dv, dv->due_ms > now ? dv->due_ms - now : 0);
		n++;
	}
	pump_all(d);
out:
	pthread_mutex_unlock(&d->mu);
	buf_release(&orphans);
	return rc ? rc : n;
}

size_t dispatcher_checkpoint(struct dispatcher *d)
{
	size_t n;

	pthread_mutex_lock(&d->mu);
	n = d->depth;
	if (d->wal && compact(d) == 0 && n > 0)
		log_info("kept %zu pending deliveries in %s for the next start", n,
			 d->opt.wal_path);
	else if (!d->wal && n > 0)
		log_warn(
		    "%zu pending deliveries are lost: BROKER_DURABILITY=memory keeps them only "
		    "in memory",
		    n);
	pthread_mutex_unlock(&d->mu);
	return n;
}

int dispatcher_check(struct dispatcher *d, struct buf *reason)
{
	return d->wal ? wal_check(d->wal, reason) : 0;
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
	committer_stop(d);
	while (!list_empty(&d->all))
		untrack_free(d, list_entry(d->all.next, struct delivery, link));
	wal_close(d->wal);
	pthread_cond_destroy(&d->ccond);
	pthread_mutex_destroy(&d->cmu);
	free(d->queues);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->mu);
	free(d);
}
