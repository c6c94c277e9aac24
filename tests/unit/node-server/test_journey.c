/*
 * Unit tests for node-server's journey.c: the POST /journey parser (table of accepted and
 * refused bodies), the store (steps, the ring of JOURNEY_KEEP journeys, the step cap, the
 * senders' counters, lookups by review id), the follow-message parser, and publishing to the
 * followers through a real hub (a socketpair stands in for a page).
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/xalloc.h"
#include "../../../services/node-server/journey.h"
#include "../../../services/node-server/ws.h"

#include "../unit.h"

TestSuite(journey, LEAK_FINI);

#define REC(extra)                                                                               \
	"{\"records\":[{\"id\":\"e1\",\"source\":\"file-sink\",\"kind\":\"attempt\",\"time\":5," \
	"\"attempt\":1,\"outcome\":\"saved\"" extra "}]}"

#define STEP(source, extra)                                                                    \
	"{\"records\":[{\"id\":\"e1\",\"source\":\"" source "\",\"kind\":\"step\",\"time\":5," \
	"\"outcome\":\"answered\",\"code\":200" extra "}]}"
#define BWF(extra) STEP("bad-word-filter", extra)
#define SA(extra)  STEP("sentiment-analysis", extra)
#define NOTE(extra)                                                                        \
	"{\"records\":[{\"id\":\"e1\",\"source\":\"file-sink\",\"kind\":\"notification\"," \
	"\"time\":5" extra "}]}"

static const struct {
	const char *body;
	int rc;
} parse_cases[] = {
	{ REC(""), 0 },
	{ REC(",\"code\":200,\"trace_id\":\"0123456789abcdef0123456789abcdef\""), 0 },
	{ REC(",\"policy\":\"FAILURE_RATE=0.5\",\"counters\":{\"saved\":1}"), 0 },
	{ "{\"records\":[{\"id\":\"e1\",\"source\":\"dead-letter-logger\",\"kind\":\"dead-letter\","
	  "\"time\":5,\"destination\":\"http://x\",\"code\":500,\"response\":\"r\"}]}",
	  0 },
	{ "", ERR_INVALID_JSON },
	{ "{", ERR_INVALID_JSON },
	{ "[]", ERR_VALIDATION },
	{ "{\"records\":[]}", ERR_VALIDATION },
	{ REC(",\"x\":1"), ERR_VALIDATION },
	{ REC(",\"attempt\":0"), ERR_INVALID_JSON }, /* a duplicate key */
	{ REC(",\"code\":-1"), ERR_VALIDATION },
	{ REC(",\"trace_id\":\"short\""), ERR_VALIDATION },
	{ REC(",\"counters\":{\"a\":1.5}"), ERR_VALIDATION },
	{ REC(",\"destination\":\"http://x\""), ERR_VALIDATION },
	{ "{\"records\":[{\"id\":\"e1\",\"source\":\"file-sink\",\"kind\":\"dead-letter\",\"time\":"
	  "5}]}",
	  ERR_VALIDATION },
	/* the moderation Sequence's steps and the bad-review notification */
	{ BWF(",\"result\":\"good\""), 0 },
	{ BWF(",\"result\":\"bad\",\"matched\":\"shit\",\"trace_id\":"
	      "\"0123456789abcdef0123456789abcdef\""),
	  0 },
	{ BWF(""), 0 }, /* a step refused before it had a result */
	{ SA(",\"result\":\"positive\",\"score\":0.6369"), 0 },
	{ SA(",\"result\":\"negative\",\"score\":-1"), 0 },
	{ NOTE(",\"outcome\":\"notified\",\"code\":200"), 0 },
	{ NOTE(",\"outcome\":\"io error\",\"code\":500"), 0 },
	{ BWF(",\"result\":\"positive\""), ERR_VALIDATION },
	{ SA(",\"result\":\"bad\""), ERR_VALIDATION },
	{ SA(",\"score\":1.5"), ERR_VALIDATION },
	{ SA(",\"score\":\"0.5\""), ERR_VALIDATION },
	{ SA(",\"matched\":\"x\""), ERR_VALIDATION },
	{ BWF(",\"score\":0.5"), ERR_VALIDATION },
	{ BWF(",\"matched\":\"\""), ERR_VALIDATION },
	{ BWF(",\"matched\":\"0123456789012345678901234567890123456789012345678901234567890123"
	      "4\""),
	  ERR_VALIDATION },
	{ BWF(",\"attempt\":1"), ERR_VALIDATION },
	{ BWF(",\"counters\":{\"a\":1}"), ERR_VALIDATION },
	{ "{\"records\":[{\"id\":\"e1\",\"source\":\"bad-word-filter\",\"kind\":\"step\","
	  "\"time\":5,\"outcome\":\"answered\"}]}",
	  ERR_VALIDATION }, /* a step's code is required */
	{ "{\"records\":[{\"id\":\"e1\",\"source\":\"bad-word-filter\",\"kind\":\"step\","
	  "\"time\":5,\"outcome\":\"saved\",\"code\":200}]}",
	  ERR_VALIDATION },
	{ "{\"records\":[{\"id\":\"e1\",\"source\":\"file-sink\",\"kind\":\"step\","
	  "\"time\":5,\"outcome\":\"answered\",\"code\":200}]}",
	  ERR_VALIDATION },
	{ NOTE(""), ERR_VALIDATION },
	{ NOTE(",\"outcome\":\"answered\""), ERR_VALIDATION },
	{ NOTE(",\"outcome\":\"notified\",\"counters\":{\"a\":1}"), ERR_VALIDATION },
	{ NOTE(",\"outcome\":\"notified\",\"result\":\"bad\""), ERR_VALIDATION },
	{ "{\"records\":[{\"id\":\"\\u0007\",\"source\":\"file-sink\",\"kind\":\"attempt\","
	  "\"time\":5,\"attempt\":1,\"outcome\":\"saved\"}]}",
	  ERR_VALIDATION },
};

Test(journey, parse_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(parse_cases); i++) {
		struct buf err;
		json_t *out = NULL;
		int rc;

		buf_init(&err, 1024);
		rc = journey_parse(parse_cases[i].body, strlen(parse_cases[i].body), &out, &err);
		cr_assert_eq(rc, parse_cases[i].rc, "case %zu: %d (%s)", i, rc, err.data);
		cr_assert_eq(rc == 0, out != NULL, "case %zu", i);
		cr_assert_eq(rc != 0, err.len > 0, "case %zu: a refusal says why", i);
		json_decref(out);
		buf_release(&err);
	}
}

static struct journey *store(size_t keep)
{
	struct journey_config c = { keep, 2, "exponential", 1000, NULL };

	return journey_new(&c);
}

static int ingest(struct journey *j, const char *body)
{
	struct buf err;
	size_t n;
	int rc;

	buf_init(&err, 1024);
	rc = journey_ingest(j, body, strlen(body), &n, &err);
	buf_release(&err);
	return rc;
}

Test(journey, steps_of_one_review)
{
	struct journey *j = store(8);
	long long before, after, now;
	json_t *g, *steps;

	journey_posted(j, "e1", 1000, "0123456789abcdef0123456789abcdef");
	cr_assert_eq(ingest(j, REC(",\"counters\":{\"saved\":7},\"policy\":\"FAILURE_RATE=0\"")),
		     0);
	journey_insert(j, "e1", "stored", 200, 42);
	journey_reply(j, "e1", "com.example.reviews.inserted", "r1");
	before = clock_real_ms();
	g = journey_get(j, "e1");
	after = clock_real_ms();
	cr_assert_not_null(g);
	cr_assert_eq(json_integer_value(json_object_get(g, "posted")), 1000);
	/* node-server's clock as it answered: the page counts the retries on it */
	now = json_integer_value(json_object_get(g, "now"));
	cr_assert(now >= before && now <= after, "now %lld not in [%lld, %lld]", now, before,
		  after);
	cr_assert_str_eq(json_string_value(json_object_get(g, "trace_id")),
			 "0123456789abcdef0123456789abcdef");
	cr_assert_eq(json_integer_value(json_object_get(g, "review_id")), 42);
	steps = json_object_get(g, "steps");
	cr_assert_eq(json_array_size(steps), 4);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(steps, 1), "kind")),
			 "attempt");
	cr_assert_null(json_object_get(json_array_get(steps, 1), "counters"));
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(steps, 2), "attempt")), 1);
	json_decref(g);
	g = journey_get_review(j, 42);
	cr_assert_str_eq(json_string_value(json_object_get(g, "id")), "e1");
	json_decref(g);
	cr_assert_null(journey_get_review(j, 43));
	g = journey_delivery(j);
	cr_assert_eq(
	    json_integer_value(json_object_get(
		json_object_get(json_object_get(json_object_get(g, "senders"), "file-sink"),
				"counters"),
		"saved")),
	    7);
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(g, "delivery"), "backoffDelay")),
	    "PT1S");
	json_decref(g);
	journey_free(j);
}

/* A sender's counters record with its time and saved count (file-sink, event e1). */
static int counters_at(struct journey *j, long long time, int saved)
{
	char body[256];

	(void)snprintf(body, sizeof(body),
		       "{\"records\":[{\"id\":\"e1\",\"source\":\"file-sink\",\"kind\":"
		       "\"attempt\",\"time\":%lld,\"attempt\":1,\"outcome\":\"saved\","
		       "\"counters\":{\"saved\":%d}}]}",
		       time, saved);
	return ingest(j, body);
}

static json_int_t saved_shown(json_t *delivery)
{
	return json_integer_value(json_object_get(
	    json_object_get(json_object_get(json_object_get(delivery, "senders"), "file-sink"),
			    "counters"),
	    "saved"));
}

/* The saved count GET /delivery shows now. */
static json_int_t saved_now(struct journey *j)
{
	json_t *g = journey_delivery(j);
	json_int_t n = saved_shown(g);

	json_decref(g);
	return n;
}

/*
 * GET /delivery's answer is turned into text after the store's lock is let go: it must be a
 * copy, not the live senders object that the next POST /journey changes (and frees parts of)
 * under the lock.
 */
Test(journey, delivery_is_a_snapshot)
{
	struct journey *j = store(8);
	json_t *g;

	cr_assert_eq(counters_at(j, 5, 1), 0);
	g = journey_delivery(j);
	cr_assert_eq(counters_at(j, 6, 2), 0);
	cr_expect_eq(saved_shown(g), 1, "the answer changed after it was made");
	json_decref(g);
	cr_expect_eq(saved_now(j), 2);
	journey_free(j);
}

/*
 * A record time far ahead of node-server's clock (POST /journey is on the public node-server)
 * does not freeze a sender's counters: a later record with a true time replaces it.
 */
Test(journey, a_time_from_the_future_does_not_freeze_the_counters)
{
	struct journey *j = store(8);

	cr_assert_eq(counters_at(j, 1LL << 50, 999999), 0);
	cr_assert_eq(counters_at(j, clock_real_ms(), 1), 0);
	cr_expect_eq(saved_now(j), 1);
	/* within the allowed skew the newer time still wins */
	cr_assert_eq(counters_at(j, clock_real_ms() + 60000, 5), 0);
	cr_assert_eq(counters_at(j, clock_real_ms(), 6), 0);
	cr_expect_eq(saved_now(j), 5);
	journey_free(j);
}

Test(journey, moderation_steps_of_one_review)
{
	struct journey *j = store(8);
	json_t *g, *steps, *s;

	journey_posted(j, "e1", 1000, NULL);
	cr_assert_eq(ingest(j, BWF(",\"result\":\"bad\",\"matched\":\"shit\"")), 0);
	cr_assert_eq(ingest(j, SA(",\"result\":\"negative\",\"score\":-0.5574")), 0);
	cr_assert_eq(ingest(j, NOTE(",\"outcome\":\"notified\",\"code\":200")), 0);
	g = journey_get(j, "e1");
	steps = json_object_get(g, "steps");
	cr_assert_eq(json_array_size(steps), 4);
	s = json_array_get(steps, 1);
	cr_assert_str_eq(json_string_value(json_object_get(s, "source")), "bad-word-filter");
	cr_assert_str_eq(json_string_value(json_object_get(s, "kind")), "step");
	cr_assert_str_eq(json_string_value(json_object_get(s, "result")), "bad");
	cr_assert_str_eq(json_string_value(json_object_get(s, "matched")), "shit");
	cr_assert_eq(json_integer_value(json_object_get(s, "code")), 200);
	cr_assert_null(json_object_get(s, "id"), "the id is the journey's, not repeated per step");
	s = json_array_get(steps, 2);
	cr_assert_str_eq(json_string_value(json_object_get(s, "result")), "negative");
	cr_assert_float_eq(json_real_value(json_object_get(s, "score")), -0.5574, 1e-9);
	s = json_array_get(steps, 3);
	cr_assert_str_eq(json_string_value(json_object_get(s, "kind")), "notification");
	cr_assert_str_eq(json_string_value(json_object_get(s, "outcome")), "notified");
	json_decref(g);
	g = journey_delivery(j);
	cr_assert_eq(json_object_size(json_object_get(g, "senders")), 0,
		     "step and notification records carry no counters");
	json_decref(g);
	journey_free(j);
}

Test(journey, bounded_ring_and_steps)
{
	struct journey *j = store(3);
	char id[16];
	json_t *g;

	for (int i = 0; i < 4; i++) {
		snprintf(id, sizeof(id), "r%d", i);
		journey_posted(j, id, 1, NULL);
	}
	cr_assert_null(journey_get(j, "r0"), "the oldest of 4 is evicted with keep 3");
	for (int i = 0; i < JOURNEY_STEPS + 5; i++)
		journey_insert(j, "r3", "unavailable", 503, 0);
	g = journey_get(j, "r3");
	cr_assert_eq(json_array_size(json_object_get(g, "steps")), JOURNEY_STEPS);
	cr_assert_eq(json_integer_value(json_object_get(g, "more")), 6);
	json_decref(g);
	journey_free(j);
}

Test(journey, follow_parse)
{
	static const struct {
		const char *text;
		int rc, follow;
		size_t n;
	} cases[] = {
		{ "{\"follow\":[\"a\",\"b\"]}", 0, 1, 2 },
		{ "{\"unfollow\":[\"a\"]}", 0, 0, 1 },
		{ "{\"follow\":[]}", ERR_BAD_REQUEST, 0, 0 },
		{ "{\"follow\":\"a\"}", ERR_BAD_REQUEST, 0, 0 },
		{ "{\"follow\":[1]}", ERR_BAD_REQUEST, 0, 0 },
		{ "{\"watch\":[\"a\"]}", ERR_BAD_REQUEST, 0, 0 },
		{ "{\"follow\":[\"a\"],\"x\":1}", ERR_BAD_REQUEST, 0, 0 },
		{ "nope", ERR_BAD_REQUEST, 0, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf err;
		json_t *ids = NULL;
		int follow = -1;
		int rc;

		buf_init(&err, 256);
		rc =
		    journey_follow_parse(cases[i].text, strlen(cases[i].text), &follow, &ids, &err);
		cr_assert_eq(rc, cases[i].rc, "case %zu", i);
		if (rc == 0) {
			cr_assert_eq(follow, cases[i].follow, "case %zu", i);
			cr_assert_eq(json_array_size(ids), cases[i].n, "case %zu", i);
		}
		json_decref(ids);
		buf_release(&err);
	}
}

/* Whether buf (len bytes, binary) holds needle. */
static int holds(const char *buf, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(buf + i, needle, n) == 0)
			return 1;
	return 0;
}

/* Reads from fd until buf holds needle or 3 s pass; returns whether it did. */
static int read_until(int fd, char *buf, size_t cap, const char *needle)
{
	size_t len = 0;
	struct timespec t0, now;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ssize_t n = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);

		if (n > 0) {
			len += (size_t)n;
			buf[len] = '\0';
			if (holds(buf, len, needle))
				return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= 3 || len == cap - 1)
			return 0;
		usleep(5000);
	}
}

/* A masked client text frame. */
static void send_text(int fd, const char *text)
{
	unsigned char f[256];
	static const unsigned char key[4] = { 1, 2, 3, 4 };
	size_t n = strlen(text);

	f[0] = 0x81;
	f[1] = (unsigned char)(0x80 | n);
	memcpy(f + 2, key, 4);
	memcpy(f + 6, text, n);
	ws_mask(f + 6, n, key);
	cr_assert_eq(write(fd, f, 6 + n), (ssize_t)(6 + n));
}

Test(journey, followers_get_frames)
{
	struct journey *j = store(8);
	struct ws_hub_config hc = { 0 };
	struct ws_hub *hub;
	char buf[8192];
	int a[2], b[2];

	hc.on_text = journey_ws_text;
	hc.text_arg = j;
	hc.ping_interval_ms = -1;
	cr_assert_eq(ws_hub_new(&hc, &hub), 0);
	journey_attach(j, hub);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	cr_assert_eq(ws_hub_adopt_fd(hub, a[0], NULL, 0, NULL), 0);
	cr_assert_eq(ws_hub_adopt_fd(hub, b[0], NULL, 0, NULL), 0);
	journey_posted(j, "f1", 1, NULL);
	send_text(a[1], "{\"follow\":[\"f1\"]}");
	cr_assert(read_until(a[1], buf, sizeof(buf), "\"journey\":{\"id\":\"f1\""),
		  "the state on follow");
	journey_insert(j, "f1", "stored", 200, 7);
	/* "now" (node-server's time, for the page's countdown) is the frame's last key */
	cr_assert(read_until(a[1], buf, sizeof(buf), "\"now\":"), "the change, with the time");
	cr_assert(holds(buf, strlen(buf), "\"outcome\":\"stored\""), "the change");
	send_text(b[1], "{\"follow\":1}");
	cr_assert(read_until(b[1], buf, sizeof(buf), "\"error\":\"bad_request\""));
	cr_assert_not(holds(buf, strlen(buf), "\"journey\""),
		      "a socket that follows nothing gets none");
	journey_attach(j, NULL);
	ws_hub_free(hub);
	journey_free(j);
	close(a[1]);
	close(b[1]);
}
