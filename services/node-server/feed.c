/*
 * feed.c: the shared reviews snapshot and its coalescing refresher (see feed.h).
 */
#include "feed.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/httpc.h"
#include "common/locked.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "review_event.h"

/*
 * When refreshes were asked for during a fetch, the next fetch waits this long after the
 * previous one ended: under a burst of inserts the feed reloads at most about every
 * REFRESH_GAP_MS instead of back to back, while a lone insert still refreshes at once.
 */
#define REFRESH_GAP_MS 20
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct feed {
	struct httpc *http;
	char *url;
	long timeout_ms;
	feed_publish_fn publish;
	void *publish_arg;

	pthread_mutex_t lock; /* guards the fields below */
	struct feed_snapshot *current;
	int in_flight; /* a fetch (or its retry timer) is under way */
	int pending;   /* another fetch was asked for meanwhile */
	int stopping;  /* feed_stop() was called */
	long long backoff_ms;
	int failures; /* consecutive failed fetches */

	pthread_mutex_t publish_lock; /* orders snapshots and publishes; stopping under it too */
	atomic_llong last_ok_ms;
	struct metric_series *ok, *failed;
};

struct feed *feed_new(const struct feed_options *opt)
{
	struct feed *f = xcalloc(1, sizeof(*f));

	f->http = opt->http;
	f->url = xasprintf("%s/reviews?limit=%d", opt->db_url, opt->limit);
	f->timeout_ms = opt->timeout_ms;
	f->publish = opt->publish;
	f->publish_arg = opt->publish_arg;
	f->backoff_ms = BACKOFF_MIN_MS;
	pthread_mutex_init(&f->lock, NULL);
	pthread_mutex_init(&f->publish_lock, NULL);
	atomic_init(&f->last_ok_ms, 0);
	metrics_counter_each(metrics_default(), "node_feed_refreshes_total",
			     "Fetches of the reviews list from db-service, by outcome", "outcome",
			     METRIC_LABELS("ok", "error"),
			     (struct metric_series * *const[]){ &f->ok, &f->failed });
	return f;
}

void feed_snapshot_release(struct feed_snapshot *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		free(s);
}

struct feed_snapshot *feed_get(struct feed *f)
{
	struct feed_snapshot *s;

	pthread_mutex_lock(&f->lock);
	s = f->current;
	if (s)
		atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&f->lock);
	return s;
}

int feed_set(struct feed *f, const char *json, size_t len)
{
	struct feed_snapshot *s, *old;
	int changed = 0;

	pthread_mutex_lock(&f->publish_lock);
	old = feed_get(f);
	if (old == NULL || old->len != len || memcmp(old->json, json, len) != 0) {
		s = xmalloc(sizeof(*s) + len + 1);
		atomic_init(&s->refs, 1);
		s->len = len;
		memcpy(s->json, json, len);
		s->json[len] = '\0';
		pthread_mutex_lock(&f->lock);
		feed_snapshot_release(f->current);
		f->current = s;
		pthread_mutex_unlock(&f->lock);
		if (f->publish && !f->stopping)
			f->publish(f->publish_arg, json, len);
		changed = 1;
	}
	feed_snapshot_release(old);
	pthread_mutex_unlock(&f->publish_lock);
	return changed;
}

int feed_ready(struct feed *f, struct buf *reason)
{
	int loaded;

	pthread_mutex_lock(&f->lock);
	loaded = f->current != NULL;
	pthread_mutex_unlock(&f->lock);
	if (loaded)
		return 0;
	(void)buf_appendf(reason, "reviews: not loaded from db-service yet (retrying)");
	return -1;
}

long long feed_last_ok_ms(struct feed *f)
{
	return atomic_load(&f->last_ok_ms);
}

int feed_busy(struct feed *f)
{
	return locked_int(&f->lock, &f->in_flight);
}

static void fetch(struct feed *f);

/* A cancelled timer or request (the client is stopping): no fetch is in flight any more. */
static void cancelled(struct feed *f)
{
	pthread_mutex_lock(&f->lock);
	f->in_flight = 0;
	pthread_mutex_unlock(&f->lock);
}

static void on_timer(void *arg, int was_cancelled)
{
	struct feed *f = arg;

	if (was_cancelled)
		cancelled(f);
	else
		fetch(f);
}

/* After a failure: wait, then fetch again. Lock not held. */
static void retry_later(struct feed *f)
{
	long long delay;

	pthread_mutex_lock(&f->lock);
	delay = f->backoff_ms;
	f->backoff_ms = f->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : f->backoff_ms * 2;
	f->pending = 0; /* the retry fetches the newest rows anyway */
	if (f->stopping || httpc_timer(f->http, delay, on_timer, f) != 0)
		f->in_flight = 0;
	pthread_mutex_unlock(&f->lock);
}

/* Applies a db-service answer; returns 0 when it was a usable list. */
static int apply(struct feed *f, const struct httpc_response *res)
{
	struct buf msg;
	char *json;
	size_t len;
	int rc;

	buf_init(&msg, 512);
	if (res->err) {
		(void)buf_appendf(&msg, "db-service unreachable: %s", res->error);
		rc = ERR_UNAVAILABLE;
	} else if (res->status != 200) {
		(void)buf_appendf(&msg, "db-service answered %d", res->status);
		rc = ERR_BAD_GATEWAY;
	} else {
		rc = review_event_rows(res->body, res->body_len, &json, &len, &msg);
	}
	if (rc == 0) {
		(void)feed_set(f, json, len);
		free(json);
		atomic_store(&f->last_ok_ms, clock_mono_ms());
		metrics_inc(f->ok);
	} else {
		metrics_inc(f->failed);
		pthread_mutex_lock(&f->lock);
		if (f->failures++ == 0)
			log_warn("reviews refresh failed (retrying with backoff): %s", msg.data);
		pthread_mutex_unlock(&f->lock);
	}
	buf_release(&msg);
	return rc;
}

static void on_fetched(const struct httpc_response *res, void *arg)
{
	struct feed *f = arg;
	int again;

	if (res->cancelled) {
		cancelled(f);
		return;
	}
	if (apply(f, res) != 0) {
		retry_later(f);
		return;
	}
	pthread_mutex_lock(&f->lock);
	if (f->failures)
		log_info("reviews refresh works again after %d failures", f->failures);
	f->failures = 0;
	f->backoff_ms = BACKOFF_MIN_MS;
	again = f->pending && !f->stopping;
	f->pending = 0;
	if (!again)
		f->in_flight = 0;
	if (again && (f->stopping || httpc_timer(f->http, REFRESH_GAP_MS, on_timer, f) != 0))
		f->in_flight = 0;
	pthread_mutex_unlock(&f->lock);
}

/* Sends one GET /reviews; in_flight is already set. */
static void fetch(struct feed *f)
{
	struct httpc_request req = { 0 };
	int stopping;

	pthread_mutex_lock(&f->lock);
	stopping = f->stopping;
	if (stopping)
		f->in_flight = 0;
	pthread_mutex_unlock(&f->lock);
	if (stopping)
		return;
	req.method = "GET";
	req.url = f->url;
	req.timeout_ms = f->timeout_ms;
	if (httpc_send(f->http, &req, on_fetched, f) != 0)
		retry_later(f);
}

void feed_refresh(struct feed *f)
{
	int start = 0;

	pthread_mutex_lock(&f->lock);
	if (f->stopping) {
		/* nothing */
	} else if (f->in_flight) {
		f->pending = 1;
	} else {
		f->in_flight = 1;
		start = 1;
	}
	pthread_mutex_unlock(&f->lock);
	if (start)
		fetch(f);
}

void feed_start(struct feed *f)
{
	feed_refresh(f);
}

void feed_stop(struct feed *f)
{
	pthread_mutex_lock(&f->publish_lock);
	pthread_mutex_lock(&f->lock);
	f->stopping = 1;
	pthread_mutex_unlock(&f->lock);
	pthread_mutex_unlock(&f->publish_lock);
}

void feed_free(struct feed *f)
{
	if (f == NULL)
		return;
	feed_snapshot_release(f->current);
	pthread_mutex_destroy(&f->lock);
	pthread_mutex_destroy(&f->publish_lock);
	free(f->url);
	free(f);
}
