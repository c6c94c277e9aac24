/*
 * Unit tests for node-server's feed.c: the shared snapshot, publishing once per change, and
 * the coalescing, retrying refresher against an in-process fake db-service (common/http.h).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/http.h"
#include "common/httpc.h"
#include "common/log.h"
#include "../../../services/node-server/feed.h"

#include "../unit.h"

struct published {
	pthread_mutex_t lock;
	int count;
	char last[256];
};

static void on_publish(void *arg, const char *json, size_t len)
{
	struct published *p = arg;

	pthread_mutex_lock(&p->lock);
	p->count++;
	snprintf(p->last, sizeof(p->last), "%.*s", (int)len, json);
	pthread_mutex_unlock(&p->lock);
}

Test(feed, set_get_publish_once_per_change, LEAK_FINI)
{
	struct published p = { PTHREAD_MUTEX_INITIALIZER, 0, "" };
	struct feed_options o = { 0 };
	struct feed_snapshot *s1, *s2;
	struct feed *f;

	o.db_url = "http://127.0.0.1:1";
	o.limit = 10;
	o.publish = on_publish;
	o.publish_arg = &p;
	f = feed_new(&o);
	cr_assert_null(feed_get(f), "nothing before the first load");
	cr_assert_eq(feed_set(f, "[1]", 3), 1);
	cr_assert_eq(feed_set(f, "[1]", 3), 0, "same bytes: no change");
	cr_assert_eq(p.count, 1);
	s1 = feed_get(f);
	cr_assert_not_null(s1);
	cr_assert_str_eq(s1->json, "[1]");
	cr_assert_eq(feed_set(f, "[1,2]", 5), 1);
	cr_assert_eq(p.count, 2);
	cr_assert_str_eq(p.last, "[1,2]");
	cr_assert_str_eq(s1->json, "[1]", "a held snapshot stays valid and unchanged");
	s2 = feed_get(f);
	cr_assert_str_eq(s2->json, "[1,2]");
	feed_snapshot_release(s1);
	feed_snapshot_release(s2);
	feed_stop(f);
	cr_assert_eq(feed_set(f, "[3]", 3), 1);
	cr_assert_eq(p.count, 2, "no publish after feed_stop()");
	feed_free(f);
}

/* ---- a fake db-service ------------------------------------------------------------------ */

static atomic_int hits;	     /* GET /reviews requests seen */
static atomic_int fail_next; /* answer 503 to this many more requests */
static atomic_int version;   /* the id in the answered row */

enum { MAX_HITS = 64 };
static long long hit_ms[MAX_HITS]; /* CLOCK_MONOTONIC time of each request, in order */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fake_reviews(struct http_request *req)
{
	char body[160];
	int n = atomic_fetch_add(&hits, 1);

	if (n < MAX_HITS)
		hit_ms[n] = now_ms();
	if (atomic_load(&fail_next) > 0) {
		atomic_fetch_sub(&fail_next, 1);
		return http_fail(req, ERR_UNAVAILABLE, "database down");
	}
	if (strcmp(http_query(req, "limit") ? http_query(req, "limit") : "", "7") != 0)
		return http_fail(req, ERR_BAD_REQUEST, "wrong limit");
	snprintf(body, sizeof(body),
		 "[{\"id\":%d,\"post_time\":\"2026-11-21T18:59:28.373Z\",\"content\":\"c\","
		 "\"sentiment\":null,\"event_id\":null}]",
		 atomic_load(&version));
	return http_respond(req, 200, "application/json", body, strlen(body));
}

static const struct route fake_routes[] = { { "GET", "/reviews", fake_reviews, 0, 0 } };

struct rig {
	struct http_server *srv;
	struct httpc *http;
	struct feed *feed;
	struct published pub;
	char url[64];
};

static void rig_start(struct rig *r)
{
	struct http_server_config cfg = { 0 };
	struct feed_options o = { 0 };

	log_init("test_feed", "error");
	atomic_store(&hits, 0);
	atomic_store(&fail_next, 0);
	atomic_store(&version, 1);
	pthread_mutex_init(&r->pub.lock, NULL);
	r->pub.count = 0;
	cfg.bind = "127.0.0.1";
	cfg.service = "fake-db";
	cfg.routes = fake_routes;
	cfg.nroutes = 1;
	cfg.threads = 2;
	cr_assert_eq(http_server_start(&cfg, &r->srv), 0);
	snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d", http_server_port(r->srv));
	r->http = httpc_new(NULL);
	cr_assert_not_null(r->http);
	o.http = r->http;
	o.db_url = r->url;
	o.limit = 7;
	o.timeout_ms = 2000;
	o.publish = on_publish;
	o.publish_arg = &r->pub;
	r->feed = feed_new(&o);
}

static void rig_stop(struct rig *r)
{
	feed_stop(r->feed);
	httpc_free(r->http);
	feed_free(r->feed);
	http_server_stop(r->srv);
	pthread_mutex_destroy(&r->pub.lock);
}

/* Polls until the snapshot names row id want (or 5 s pass). Returns 1 when it did. */
static int wait_version(struct rig *r, int want)
{
	char needle[32];
	int i;

	snprintf(needle, sizeof(needle), "\"id\":%d,", want);
	for (i = 0; i < 500; i++) {
		struct feed_snapshot *s = feed_get(r->feed);
		int ok = s && strstr(s->json, needle) != NULL;

		feed_snapshot_release(s);
		if (ok)
			return 1;
		nanosleep(&(struct timespec){ 0, 10L * 1000 * 1000 }, NULL);
	}
	return 0;
}

/* Polls until the feed rests (feed_busy() 0; 5 s at most). */
static void wait_rest(struct rig *r)
{
	long long deadline = now_ms() + 5000;

	while (feed_busy(r->feed)) {
		cr_assert_lt(now_ms(), deadline, "the feed is still fetching after 5 s");
		nanosleep(&(struct timespec){ 0, 1000L * 1000 }, NULL);
	}
}

/*
 * 200 refreshes: one fetch, and one more for the calls made while it ran. Counted once the
 * feed rests, when nothing of those calls is left to run (one fetch per call would still be
 * fetching then, or have made 200).
 */
Test(feed, first_load_and_coalesced_refreshes, LEAK_FINI)
{
	struct rig r;
	int i, before;

	rig_start(&r);
	feed_start(r.feed);
	cr_assert(wait_version(&r, 1), "the first load arrives");
	cr_assert_gt(feed_last_ok_ms(r.feed), 0);
	before = atomic_load(&hits);
	atomic_store(&version, 2);
	for (i = 0; i < 200; i++)
		feed_refresh(r.feed);
	cr_assert(wait_version(&r, 2), "the newest rows arrive");
	wait_rest(&r);
	cr_assert_leq(atomic_load(&hits) - before, 2, "200 refreshes made %d fetches",
		      atomic_load(&hits) - before);
	cr_assert_eq(r.pub.count, 2, "published once per change");
	rig_stop(&r);
}

Test(feed, failures_are_retried_with_backoff, LEAK_FINI)
{
	struct rig r;

	int i;

	rig_start(&r);
	atomic_store(&fail_next, 3);
	feed_start(r.feed);
	cr_assert(wait_version(&r, 1), "loads after three 503s");
	cr_assert_eq(atomic_load(&hits), 4, "three 503s, then the fetch that succeeds");
	/*
	 * Each retry waits at least its backoff step (100, 200, 400 ms): a lower bound, which no
	 * load on the machine can break. Immediate retries would fail it.
	 */
	for (i = 1; i < 4; i++)
		cr_expect_geq(hit_ms[i] - hit_ms[i - 1], 100LL << (i - 1),
			      "retry %d came %lld ms after the failure, want >= %lld", i,
			      hit_ms[i] - hit_ms[i - 1], 100LL << (i - 1));
	rig_stop(&r);
}

Test(feed, stop_while_retrying_is_clean, LEAK_FINI)
{
	struct rig r;

	rig_start(&r);
	atomic_store(&fail_next, 1000000);
	feed_start(r.feed);
	for (long long deadline = now_ms() + 5000; atomic_load(&hits) < 2;) { /* a retry ran */
		cr_assert_lt(now_ms(), deadline, "no retry after the first failure");
		nanosleep(&(struct timespec){ 0, 1000L * 1000 }, NULL);
	}
	cr_assert_null(feed_get(r.feed));
	rig_stop(&r); /* the pending retry timer is cancelled without leaks */
}
