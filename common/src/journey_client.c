/* journey_client.c: best-effort journey records to node-server (see journey_client.h). */
#include "common/journey_client.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/httpc.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/trace.h"
#include "common/xalloc.h"

#define POST_TIMEOUT_MS 2000

struct journey_client {
	char *url;
	struct httpc *http;
	pthread_mutex_t lock;
	/* under lock */
	char *queue[JOURNEY_CLIENT_QUEUE]; /* ring of rendered records */
	size_t head, n, bytes;
	int in_flight;	/* a batch is being posted */
	size_t batch_n; /* records in the batch in flight */
	struct metric_series *sent, *dropped_full, *dropped_error;
};

int journey_client_id_ok(const char *id)
{
	size_t n = 0;

	for (; id && id[n]; n++)
		if ((unsigned char)id[n] < 0x20 || id[n] == 0x7f || n >= 128)
			return 0;
	return n > 0;
}

void journey_client_trace_id(const struct trace_context *ctx, char out[33])
{
	out[0] = '\0';
	if (ctx && trace_context_valid(ctx) && (ctx->flags & TRACE_FLAG_SAMPLED))
		trace_context_hex(ctx, out, NULL);
}

struct journey_client *journey_client_new(const char *url)
{
	struct journey_client *jc = xcalloc(1, sizeof(*jc));
	/* One batch in flight to one host, a few queued: a record is never worth more. */
	const struct httpc_options o = { .timeout_ms = POST_TIMEOUT_MS,
					 .max_transfers = 1,
					 .max_host_connections = 1,
					 .max_pending = 4,
					 .user_agent = "bookstore-journey/1" };

	jc->http = httpc_new(&o);
	if (jc->http == NULL) {
		free(jc);
		return NULL;
	}
	jc->url = xstrdup(url);
	pthread_mutex_init(&jc->lock, NULL);
	metrics_counter_each(
	    metrics_default(), "journey_records_total",
	    "Journey records for node-server, by outcome (sent, dropped_full, "
	    "dropped_error).",
	    "outcome", METRIC_LABELS("sent", "dropped_full", "dropped_error"),
	    (struct metric_series * *const[]){ &jc->sent, &jc->dropped_full, &jc->dropped_error });
	return jc;
}

/* Under lock: moves up to a batch of queued records into body; returns how many. */
static size_t take_batch(struct journey_client *jc, struct buf *body)
{
	size_t k = 0;

	(void)buf_appends(body, "{\"records\":[");
	while (jc->n && k < JOURNEY_CLIENT_BATCH) {
		char *r = jc->queue[jc->head];

		if (k)
			(void)buf_appendc(body, ',');
		(void)buf_appends(body, r);
		jc->bytes -= strlen(r);
		free(r);
		jc->queue[jc->head] = NULL;
		jc->head = (jc->head + 1) % JOURNEY_CLIENT_QUEUE;
		jc->n--;
		k++;
	}
	(void)buf_appends(body, "]}");
	return k;
}

static void batch_done(const struct httpc_response *res, void *arg);

/*
 * Under lock, with no batch in flight: posts the next batch, if any. The lock is dropped
 * around httpc_send() (it may run nothing of ours, but keeps the lock short).
 */
static void send_next(struct journey_client *jc)
{
	static const struct http_header json_type[] = { { "Content-Type", "application/json" } };
	static const struct trace_context none; /* zeroed: no trace context on these POSTs */
	struct httpc_request r = { 0 };
	struct buf body;
	size_t k;
	int rc;

	if (jc->n == 0 || jc->in_flight)
		return;
	buf_init(&body, BUF_NOCAP);
	k = take_batch(jc, &body);
	jc->in_flight = 1;
	jc->batch_n = k;
	r.method = "POST";
	r.url = jc->url;
	r.headers = json_type;
	r.nheaders = 1;
	r.body = body.data;
	r.body_len = body.len;
	r.trace_parent = &none;
	rc = httpc_send(jc->http, &r, batch_done, jc);
	buf_release(&body);
	if (rc) {
		jc->in_flight = 0;
		metrics_add(jc->dropped_error, (double)k);
	}
}

static void batch_done(const struct httpc_response *res, void *arg)
{
	struct journey_client *jc = arg;

	pthread_mutex_lock(&jc->lock);
	if (res->err == 0 && res->status >= 200 && res->status < 300) {
		metrics_add(jc->sent, (double)jc->batch_n);
	} else {
		metrics_add(jc->dropped_error, (double)jc->batch_n);
		log_debug("journey records not delivered to %s: %s (HTTP %d)", jc->url,
			  res->err ? res->error : "refused", res->status);
	}
	jc->in_flight = 0;
	if (!res->cancelled)
		send_next(jc);
	pthread_mutex_unlock(&jc->lock);
}

void journey_client_record(struct journey_client *jc, json_t *rec)
{
	char *s;
	size_t len;

	if (jc == NULL || rec == NULL) {
		json_decref(rec);
		return;
	}
	s = json_dumps(rec, JSON_COMPACT);
	json_decref(rec);
	len = s ? strlen(s) : 0;
	pthread_mutex_lock(&jc->lock);
	if (s == NULL || len > JOURNEY_CLIENT_RECORD_MAX || jc->n == JOURNEY_CLIENT_QUEUE ||
	    jc->bytes + len > JOURNEY_CLIENT_QUEUE_BYTES) {
		metrics_inc(jc->dropped_full);
		free(s);
	} else {
		jc->queue[(jc->head + jc->n) % JOURNEY_CLIENT_QUEUE] = s;
		jc->n++;
		jc->bytes += len;
		send_next(jc);
	}
	pthread_mutex_unlock(&jc->lock);
}

void journey_client_free(struct journey_client *jc)
{
	if (jc == NULL)
		return;
	httpc_free(jc->http); /* runs batch_done(cancelled) for the batch in flight */
	while (jc->n) {
		free(jc->queue[jc->head]);
		jc->head = (jc->head + 1) % JOURNEY_CLIENT_QUEUE;
		jc->n--;
	}
	pthread_mutex_destroy(&jc->lock);
	free(jc->url);
	free(jc);
}
