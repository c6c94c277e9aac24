#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/trace.h"
#include "common/xalloc.h"

/* Renders reg into a new string (caller frees). */
static char *render(struct metrics *reg)
{
	struct buf b;

	buf_init(&b, BUF_NOCAP);
	cr_assert_eq(metrics_render(reg, &b), 0);
	return buf_detach(&b, NULL);
}

static void expect_render(struct metrics *reg, const char *want)
{
	char *got = render(reg);

	cr_expect_str_eq(got, want);
	free(got);
}

Test(metrics, counter_with_labels)
{
	struct metrics *reg = metrics_new();
	struct metric *m = metrics_counter(reg, "http_requests_total", "Requests served.",
					   METRIC_LABELS("method", "code"));

	metrics_inc(metrics_series(m, METRIC_LABELS("GET", "200")));
	metrics_inc(metrics_series(m, METRIC_LABELS("GET", "200")));
	metrics_add(metrics_series(m, METRIC_LABELS("POST", "500")), 2.5);
	metrics_add(metrics_series(m, METRIC_LABELS("POST", "500")), -7); /* ignored */
	expect_render(reg, "# HELP http_requests_total Requests served.\n"
			   "# TYPE http_requests_total counter\n"
			   "http_requests_total{method=\"GET\",code=\"200\"} 2\n"
			   "http_requests_total{method=\"POST\",code=\"500\"} 2.5\n");
	metrics_free(reg);
}

/*
 * Label values from input are capped: two series of their own, then every new tuple (and any
 * value longer than METRIC_MAX_VALUE_BYTES) lands in the one overflow series.
 */
Test(metrics, capped_series_overflow_into_other)
{
	struct metrics *reg = metrics_new();
	struct metric *m = metrics_counter(reg, "dead_letters_total", "Dead letters.",
					   METRIC_LABELS("destination", "code"));
	char name[32], *huge = malloc(METRIC_MAX_VALUE_BYTES + 2);

	cr_assert_not_null(huge);
	memset(huge, 'h', METRIC_MAX_VALUE_BYTES + 1);
	huge[METRIC_MAX_VALUE_BYTES + 1] = '\0';
	metrics_inc(metrics_series_capped(m, METRIC_LABELS("a", "500"), 2));
	metrics_inc(metrics_series_capped(m, METRIC_LABELS(huge, "500"), 2));
	metrics_inc(metrics_series_capped(m, METRIC_LABELS("b", "500"), 2));
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "attacker-%d", i);
		metrics_inc(metrics_series_capped(m, METRIC_LABELS(name, "500"), 2));
	}
	metrics_inc(metrics_series_capped(m, METRIC_LABELS("a", "500"), 2));
	metrics_inc(metrics_series_capped(m, METRIC_LABELS("a", "404"), 2));
	expect_render(reg, "# HELP dead_letters_total Dead letters.\n"
			   "# TYPE dead_letters_total counter\n"
			   "dead_letters_total{destination=\"a\",code=\"500\"} 2\n"
			   "dead_letters_total{destination=\"other\",code=\"other\"} 1002\n"
			   "dead_letters_total{destination=\"b\",code=\"500\"} 1\n");
	free(huge);
	metrics_free(reg);
}

Test(metrics, gauge_without_labels_shows_zero_at_once)
{
	struct metrics *reg = metrics_new();
	struct metric *m = metrics_gauge(reg, "queue_depth", "Events waiting.", NULL);

	expect_render(reg, "# HELP queue_depth Events waiting.\n"
			   "# TYPE queue_depth gauge\n"
			   "queue_depth 0\n");
	metrics_set(metrics_series(m, NULL), -3);
	expect_render(reg, "# HELP queue_depth Events waiting.\n"
			   "# TYPE queue_depth gauge\n"
			   "queue_depth -3\n");
	metrics_free(reg);
}

Test(metrics, labelled_family_without_series_is_not_rendered)
{
	struct metrics *reg = metrics_new();

	metrics_counter(reg, "x_total", "X.", METRIC_LABELS("a"));
	expect_render(reg, "");
	metrics_free(reg);
}

Test(metrics, histogram)
{
	static const double bounds[] = { 0.1, 1, 2.5 };
	struct metrics *reg = metrics_new();
	struct metric *m = metrics_histogram(reg, "req_duration_seconds", "Latency.",
					     METRIC_LABELS("route"), bounds, 3);
	struct metric_series *s = metrics_series(m, METRIC_LABELS("/books"));

	metrics_observe(s, 0.05);
	metrics_observe(s, 0.1); /* le is inclusive */
	metrics_observe(s, 2);
	metrics_observe(s, 7);
	expect_render(reg, "# HELP req_duration_seconds Latency.\n"
			   "# TYPE req_duration_seconds histogram\n"
			   "req_duration_seconds_bucket{route=\"/books\",le=\"0.1\"} 2\n"
			   "req_duration_seconds_bucket{route=\"/books\",le=\"1\"} 2\n"
			   "req_duration_seconds_bucket{route=\"/books\",le=\"2.5\"} 3\n"
			   "req_duration_seconds_bucket{route=\"/books\",le=\"+Inf\"} 4\n"
			   "req_duration_seconds_sum{route=\"/books\"} 9.15\n"
			   "req_duration_seconds_count{route=\"/books\"} 4\n");
	metrics_free(reg);
}

Test(metrics, histogram_without_labels_and_http_buckets)
{
	struct metrics *reg = metrics_new();
	struct metric *m =
	    metrics_histogram(reg, "d_seconds", "D.", NULL, metrics_http_duration_buckets,
			      metrics_http_duration_nbuckets);
	char *text;

	cr_assert_eq(metrics_http_duration_nbuckets, 14);
	metrics_observe(metrics_series(m, NULL), 0.3);
	text = render(reg);
	cr_expect_not_null(strstr(text, "d_seconds_bucket{le=\"0.005\"} 0\n"
					"d_seconds_bucket{le=\"0.01\"} 0\n"
					"d_seconds_bucket{le=\"0.025\"} 0\n"
					"d_seconds_bucket{le=\"0.05\"} 0\n"
					"d_seconds_bucket{le=\"0.075\"} 0\n"
					"d_seconds_bucket{le=\"0.1\"} 0\n"
					"d_seconds_bucket{le=\"0.25\"} 0\n"
					"d_seconds_bucket{le=\"0.5\"} 1\n"
					"d_seconds_bucket{le=\"0.75\"} 1\n"
					"d_seconds_bucket{le=\"1\"} 1\n"
					"d_seconds_bucket{le=\"2.5\"} 1\n"
					"d_seconds_bucket{le=\"5\"} 1\n"
					"d_seconds_bucket{le=\"7.5\"} 1\n"
					"d_seconds_bucket{le=\"10\"} 1\n"
					"d_seconds_bucket{le=\"+Inf\"} 1\n"
					"d_seconds_sum 0.3\n"
					"d_seconds_count 1\n"),
			   "%s", text);
	free(text);
	metrics_free(reg);
}

Test(metrics, escaping)
{
	static const struct {
		const char *value, *want;
	} rows[] = {
		{ "plain", "plain" },
		{ "a\"b", "a\\\"b" },
		{ "back\\slash", "back\\\\slash" },
		{ "two\nlines", "two\\nlines" },
		{ "caf\xC3\xA9 \xE2\x82\xAC", "caf\xC3\xA9 \xE2\x82\xAC" }, /* valid UTF-8 kept */
		{ "bad\xFF", "bad\xEF\xBF\xBD" },		  /* invalid byte: U+FFFD */
		{ "cut\xE2\x82", "cut\xEF\xBF\xBD\xEF\xBF\xBD" }, /* truncated sequence */
		{ "", "" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		struct metrics *reg = metrics_new();
		struct metric *m = metrics_counter(
		    reg, "e_total", "Help with \\ and\nnewline \"quoted\".", METRIC_LABELS("v"));
		char want[256];

		metrics_inc(metrics_series(m, METRIC_LABELS(rows[i].value)));
		snprintf(want, sizeof(want),
			 "# HELP e_total Help with \\\\ and\\nnewline \"quoted\".\n"
			 "# TYPE e_total counter\n"
			 "e_total{v=\"%s\"} 1\n",
			 rows[i].want);
		expect_render(reg, want);
		metrics_free(reg);
	}
}

Test(metrics, float_formatting)
{
	static const struct {
		double v;
		const char *want;
	} rows[] = {
		{ 0, "0" },
		{ -0.0, "0" },
		{ 1, "1" },
		{ -1, "-1" },
		{ 42, "42" },
		{ 123456789012, "123456789012" },
		{ 0.005, "0.005" },
		{ 0.1, "0.1" },
		{ 2.5, "2.5" },
		{ 7.5, "7.5" },
		{ 0.1 + 0.2, "0.30000000000000004" },
		{ 1.0 / 3, "0.3333333333333333" },
		{ 1e-7, "1e-07" },
		{ 1e15, "1e+15" },
		{ 1e300, "1e+300" },
		{ 1.5e300, "1.5e+300" },
		{ INFINITY, "+Inf" },
		{ -INFINITY, "-Inf" },
		{ NAN, "NaN" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		struct metrics *reg = metrics_new();
		struct metric *m = metrics_gauge(reg, "g", "G.", NULL);
		char want[128], *got;

		metrics_set(metrics_series(m, NULL), rows[i].v);
		snprintf(want, sizeof(want), "# HELP g G.\n# TYPE g gauge\ng %s\n", rows[i].want);
		got = render(reg);
		cr_expect_str_eq(got, want, "row %zu", i);
		free(got);
		metrics_free(reg);
	}
}

Test(metrics, register_twice_returns_same_family)
{
	struct metrics *reg = metrics_new();
	struct metric *a = metrics_counter(reg, "c_total", "C.", METRIC_LABELS("x", "y"));
	struct metric *b = metrics_counter(reg, "c_total", "C.", METRIC_LABELS("x", "y"));
	struct metric *h1 = metrics_histogram(reg, "h", "H.", NULL, metrics_http_duration_buckets,
					      metrics_http_duration_nbuckets);
	struct metric *h2 = metrics_histogram(reg, "h", "H.", NULL, metrics_http_duration_buckets,
					      metrics_http_duration_nbuckets);

	cr_expect_eq(a, b);
	cr_expect_eq(h1, h2);
	cr_expect_eq(metrics_series(a, METRIC_LABELS("1", "2")),
		     metrics_series(b, METRIC_LABELS("1", "2")));
	cr_expect_neq(metrics_series(a, METRIC_LABELS("1", "2")),
		      metrics_series(a, METRIC_LABELS("12", "")));
	metrics_free(reg);
}

Test(metrics, default_registry_is_shared_and_not_freed)
{
	struct metrics *d = metrics_default();

	cr_expect_eq(d, metrics_default());
	metrics_free(d); /* a no-op by contract */
	metrics_inc(metrics_series(metrics_counter(d, "still_alive_total", "A.", NULL), NULL));
}

Test(metrics, render_respects_buffer_cap)
{
	struct metrics *reg = metrics_new();
	struct buf b;

	metrics_gauge(reg, "a_long_enough_metric_name", "Some help text.", NULL);
	buf_init(&b, 16);
	cr_expect_eq(metrics_render(reg, &b), ERR_TOO_LARGE);
	buf_release(&b);
	metrics_free(reg);
}

Test(metrics, many_series_survive_rehash)
{
	struct metrics *reg = metrics_new();
	struct metric *m = metrics_counter(reg, "s_total", "S.", METRIC_LABELS("i"));
	struct metric_series *first[500];
	char v[16];
	int i;

	for (i = 0; i < 500; i++) {
		snprintf(v, sizeof(v), "%d", i);
		first[i] = metrics_series(m, METRIC_LABELS(v));
		metrics_add(first[i], i);
	}
	for (i = 0; i < 500; i++) {
		snprintf(v, sizeof(v), "%d", i);
		cr_assert_eq(metrics_series(m, METRIC_LABELS(v)), first[i], "series %d", i);
	}
	metrics_free(reg);
}

/* ---- concurrency ----------------------------------------------------------------------- */

#define THREADS 8
#define ROUNDS	20000

struct worker {
	struct metric *counter, *hist, *gauge;
	int id;
};

static void *work(void *arg)
{
	const struct worker *w = arg;
	char id[8];
	int i;

	snprintf(id, sizeof(id), "%d", w->id % 2);
	for (i = 0; i < ROUNDS; i++) {
		/* Look up each time: exercises the read lock and first-time creation races. */
		metrics_inc(metrics_series(w->counter, METRIC_LABELS(id)));
		metrics_observe(metrics_series(w->hist, NULL), 0.5);
		metrics_add(metrics_series(w->gauge, NULL), 0.25);
	}
	return NULL;
}

struct totals {
	double counter, gauge, sum;
	uint64_t count, inf;
	int series;
};

static void add_up(const char *name, const char *help, enum metric_type type,
		   const struct metric_point *pt, void *arg)
{
	struct totals *t = arg;
	size_t i;

	(void)help;
	t->series++;
	if (type == METRIC_COUNTER && !strcmp(name, "ops_total"))
		t->counter += pt->value;
	if (type == METRIC_GAUGE)
		t->gauge += pt->value;
	if (type == METRIC_HISTOGRAM) {
		t->count += pt->count;
		t->sum += pt->sum;
		for (i = 0; i <= pt->nbounds; i++)
			t->inf += pt->bucket_counts[i];
	}
}

Test(metrics, concurrent_updates_sum_correctly)
{
	struct metrics *reg = metrics_new();
	struct worker w[THREADS];
	pthread_t th[THREADS];
	struct totals t = { 0 };
	int i;

	for (i = 0; i < THREADS; i++) {
		w[i].counter = metrics_counter(reg, "ops_total", "Ops.", METRIC_LABELS("worker"));
		w[i].hist = metrics_histogram(reg, "ops_seconds", "Ops.", NULL,
					      metrics_http_duration_buckets,
					      metrics_http_duration_nbuckets);
		w[i].gauge = metrics_gauge(reg, "ops_level", "Level.", NULL);
		w[i].id = i;
		cr_assert_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	metrics_walk(reg, add_up, &t);
	cr_expect_eq(t.series, 4); /* two counter series, the histogram, the gauge */
	cr_expect_eq(t.counter, THREADS * ROUNDS);
	cr_expect_eq(t.gauge, THREADS * ROUNDS * 0.25);
	cr_expect_eq(t.count, THREADS * ROUNDS);
	cr_expect_eq(t.inf, THREADS * ROUNDS);
	cr_expect_eq(t.sum, THREADS * ROUNDS * 0.5);
	metrics_free(reg);
}

/* Observes 1.0 into a histogram series until told to stop. */
struct observer {
	struct metric_series *s;
	atomic_int *stop;
};

static void *observe_ones(void *arg)
{
	struct observer *o = arg;

	while (!atomic_load(o->stop))
		metrics_observe(o->s, 1.0);
	return NULL;
}

/* Every observation is 1.0: a snapshot whose sum differs from its count caught one half done. */
static void sum_is_count(const char *name, const char *help, enum metric_type type,
			 const struct metric_point *pt, void *arg)
{
	int *torn = arg;

	(void)name;
	(void)help;
	if (type == METRIC_HISTOGRAM && pt->sum != (double)pt->count)
		(*torn)++;
}

Test(metrics, sum_and_count_agree_while_observed)
{
	struct metrics *reg = metrics_new();
	struct metric *m =
	    metrics_histogram(reg, "ones", "Ones.", NULL, metrics_http_duration_buckets,
			      metrics_http_duration_nbuckets);
	struct observer o[2];
	pthread_t th[2];
	atomic_int stop = 0;
	int torn = 0, rendered_torn = 0;
	struct buf out;

	for (int i = 0; i < 2; i++) {
		o[i] = (struct observer){ metrics_series(m, NULL), &stop };
		cr_assert_eq(pthread_create(&th[i], NULL, observe_ones, &o[i]), 0);
	}
	buf_init(&out, BUF_NOCAP);
	for (int i = 0; i < 2000; i++) {
		const char *sum, *count;

		metrics_walk(reg, sum_is_count, &torn);
		buf_reset(&out);
		cr_assert_eq(metrics_render(reg, &out), 0);
		sum = strstr(out.data, "ones_sum ");
		count = strstr(out.data, "ones_count ");
		cr_assert(sum && count);
		if (strtod(sum + 9, NULL) != strtod(count + 11, NULL))
			rendered_torn++;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	cr_expect_eq(torn, 0, "%d of 2000 walks had a sum apart from the count", torn);
	cr_expect_eq(rendered_torn, 0, "%d of 2000 renders had a sum apart from the count",
		     rendered_torn);
	buf_release(&out);
	metrics_free(reg);
}

/* ---- exemplars ------------------------------------------------------------------------- */

/* A context whose ids all derive from k (trace id: k, then k ^ a constant; span id: ~k). */
static struct trace_context ctx_of(uint64_t k, uint8_t flags)
{
	struct trace_context c = { .flags = flags };
	uint64_t words[3] = { k, k ^ 0x5a5a5a5a5a5a5a5aULL, ~k };

	memcpy(c.trace_id, words, 16);
	memcpy(c.span_id, &words[2], 8);
	return c;
}

/* Whether ex is exactly what ctx_of((uint64_t)ex->value, ...) wrote. */
static int exemplar_consistent(const struct metric_exemplar *ex)
{
	struct trace_context want = ctx_of((uint64_t)ex->value, TRACE_FLAG_SAMPLED);

	return !memcmp(ex->trace_id, want.trace_id, 16) && !memcmp(ex->span_id, want.span_id, 8);
}

Test(metrics, exemplar_is_the_latest_sampled_observation_of_its_bucket)
{
	static const double bounds[] = { 0.1, 1 };
	struct metrics *reg = metrics_new();
	struct metric *m = metrics_histogram(reg, "ex_seconds", "Ex.", NULL, bounds, 2);
	struct metric_series *s = metrics_series(m, NULL);
	struct trace_context a = ctx_of(1, TRACE_FLAG_SAMPLED), b = ctx_of(2, TRACE_FLAG_SAMPLED);
	struct metric_exemplar ex;
	long long before = clock_real_ns(), after;

	metrics_observe_exemplar(s, 0.05, &a);
	metrics_observe_exemplar(s, 0.07, &b); /* same bucket: replaces a's */
	metrics_observe_exemplar(s, 5, &a);
	metrics_observe(s, 0.08); /* no context: the exemplar stays */
	after = clock_real_ns();

	cr_assert_eq(metrics_exemplar(s, 0, &ex), 1);
	cr_expect_eq(ex.value, 0.07);
	cr_expect_eq(memcmp(ex.trace_id, b.trace_id, 16), 0);
	cr_expect_eq(memcmp(ex.span_id, b.span_id, 8), 0);
	cr_expect(ex.time_ns >= before && ex.time_ns <= after, "time %lld not in [%lld, %lld]",
		  ex.time_ns, before, after);
	cr_expect_eq(metrics_exemplar(s, 1, &ex), 0, "le 1 had no observation");
	cr_assert_eq(metrics_exemplar(s, 2, &ex), 1);
	cr_expect_eq(ex.value, 5);
	cr_expect_eq(memcmp(ex.trace_id, a.trace_id, 16), 0);
	cr_expect_eq(memcmp(ex.span_id, a.span_id, 8), 0);
	cr_expect_eq(metrics_exemplar(s, 3, &ex), 0, "past the +Inf bucket");
	/* every observation is counted, with an exemplar or not */
	expect_render(reg, "# HELP ex_seconds Ex.\n"
			   "# TYPE ex_seconds histogram\n"
			   "ex_seconds_bucket{le=\"0.1\"} 3\n"
			   "ex_seconds_bucket{le=\"1\"} 3\n"
			   "ex_seconds_bucket{le=\"+Inf\"} 4\n"
			   "ex_seconds_sum 5.2\n"
			   "ex_seconds_count 4\n");
	metrics_free(reg);
}

Test(metrics, an_unsampled_or_missing_context_keeps_no_exemplar)
{
	static const double bounds[] = { 1 };
	struct metrics *reg = metrics_new();
	struct metric *m = metrics_histogram(reg, "none_seconds", "None.", NULL, bounds, 1);
	struct metric *c = metrics_counter(reg, "none_total", "None.", NULL);
	struct metric_series *s = metrics_series(m, NULL);
	struct trace_context unsampled = ctx_of(7, 0), zero = { .flags = TRACE_FLAG_SAMPLED };
	struct metric_exemplar ex;
	struct totals t = { 0 };

	metrics_observe_exemplar(s, 0.5, NULL);
	metrics_observe_exemplar(s, 0.5, &unsampled);
	metrics_observe_exemplar(s, 2, &zero); /* sampled flag, but no ids */
	metrics_observe_exemplar(metrics_series(c, NULL), 1, &unsampled); /* not a histogram */
	for (size_t i = 0; i < 2; i++)
		cr_expect_eq(metrics_exemplar(s, i, &ex), 0, "bucket %zu", i);
	cr_expect_eq(metrics_exemplar(metrics_series(c, NULL), 0, &ex), 0);
	metrics_walk(reg, add_up, &t);
	cr_expect_eq(t.count, 3);
	cr_expect_eq(t.sum, 3);
	cr_expect_eq(t.counter, 0);
	metrics_free(reg);
}

#define EX_WRITERS  4
#define EX_DISTINCT 2000 /* exemplars the reader must see change under it */

struct ex_writer {
	struct metric_series *s;
	uint64_t id;
	atomic_int *stop;
};

static void *write_exemplars(void *arg)
{
	const struct ex_writer *w = arg;

	for (uint64_t i = 1; !atomic_load(w->stop); i++) {
		uint64_t k = w->id << 40 | i; /* below 2^53: exact as a double */
		struct trace_context c = ctx_of(k, TRACE_FLAG_SAMPLED);

		metrics_observe_exemplar(w->s, (double)k, &c);
	}
	return NULL;
}

/*
 * Writers race on one bucket, each exemplar's ids derived from its value; the reader checks
 * every exemplar it gets while they run, until it has seen EX_DISTINCT of them (or 20 s
 * passed). A torn one mixes two writes and does not match.
 */
Test(metrics, concurrent_exemplars_are_never_torn)
{
	struct metrics *reg = metrics_new();
	struct metric *m = metrics_histogram(reg, "race_seconds", "Race.", NULL, NULL, 0);
	struct metric_series *s = metrics_series(m, NULL);
	struct ex_writer w[EX_WRITERS];
	pthread_t th[EX_WRITERS];
	struct metric_exemplar ex;
	atomic_int stop = 0;
	long reads = 0, torn = 0, distinct = 0;
	long long deadline = clock_mono_ms() + 20000;
	double last = -1;

	for (int i = 0; i < EX_WRITERS; i++) {
		w[i] = (struct ex_writer){ s, (uint64_t)i + 1, &stop };
		cr_assert_eq(pthread_create(&th[i], NULL, write_exemplars, &w[i]), 0);
	}
	while (distinct < EX_DISTINCT && clock_mono_ms() < deadline) {
		if (!metrics_exemplar(s, 0, &ex))
			continue;
		reads++;
		torn += !exemplar_consistent(&ex);
		distinct += ex.value != last;
		last = ex.value;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < EX_WRITERS; i++)
		pthread_join(th[i], NULL);
	cr_expect_eq(torn, 0, "%ld torn exemplars in %ld reads", torn, reads);
	cr_expect_geq(distinct, EX_DISTINCT, "the reads overlapped the writes (%ld reads)", reads);
	cr_assert_eq(metrics_exemplar(s, 0, &ex), 1);
	cr_expect(exemplar_consistent(&ex));
	metrics_free(reg);
}

/* ---- walk ------------------------------------------------------------------------------ */

struct seen {
	char names[8][64];
	char values[8][64];
	uint64_t buckets[8][4];
	int n;
};

static void record(const char *name, const char *help, enum metric_type type,
		   const struct metric_point *pt, void *arg)
{
	struct seen *s = arg;
	size_t i;

	(void)type;
	cr_assert_lt(s->n, 8);
	cr_expect_not_null(help);
	snprintf(s->names[s->n], 64, "%s", name);
	snprintf(s->values[s->n], 64, "%s",
		 pt->label_values && pt->label_values[0] ? pt->label_values[0] : "-");
	for (i = 0; pt->bucket_counts && i <= pt->nbounds && i < 4; i++)
		s->buckets[s->n][i] = pt->bucket_counts[i];
	s->n++;
}

Test(metrics, walk_visits_every_series)
{
	static const double bounds[] = { 1, 2, 3 };
	struct metrics *reg = metrics_new();
	struct metric *c = metrics_counter(reg, "a_total", "A.", METRIC_LABELS("k"));
	struct metric *h = metrics_histogram(reg, "b_seconds", "B.", NULL, bounds, 3);
	struct seen s = { 0 };

	metrics_gauge(reg, "g", "G.", NULL);
	metrics_inc(metrics_series(c, METRIC_LABELS("x")));
	metrics_inc(metrics_series(c, METRIC_LABELS("y")));
	metrics_observe(metrics_series(h, NULL), 1.5);
	metrics_observe(metrics_series(h, NULL), 1.7);
	metrics_observe(metrics_series(h, NULL), 9);
	metrics_walk(reg, record, &s);
	cr_assert_eq(s.n, 4);
	cr_expect_str_eq(s.names[0], "a_total");
	cr_expect_str_eq(s.values[0], "x");
	cr_expect_str_eq(s.values[1], "y");
	cr_expect_str_eq(s.names[2], "b_seconds");
	cr_expect_str_eq(s.names[3], "g");
	/* bucket counts are per bucket, not cumulative */
	cr_expect_eq(s.buckets[2][0], 0);
	cr_expect_eq(s.buckets[2][1], 2);
	cr_expect_eq(s.buckets[2][2], 0);
	cr_expect_eq(s.buckets[2][3], 1);
	metrics_free(reg);
}

/* ---- collect and process --------------------------------------------------------------- */

static void bump(struct metrics *reg, void *arg)
{
	int *calls = arg;

	(*calls)++;
	metrics_set(metrics_series(metrics_gauge(reg, "calls", "Calls.", NULL), NULL), *calls);
}

Test(metrics, collect_runs_before_each_render_once_per_registration)
{
	struct metrics *reg = metrics_new();
	int calls = 0;
	char *text;

	metrics_on_collect(reg, bump, &calls);
	metrics_on_collect(reg, bump, &calls); /* same pair: not added twice */
	text = render(reg);
	cr_expect_str_eq(text, "# HELP calls Calls.\n# TYPE calls gauge\ncalls 1\n");
	free(text);
	text = render(reg);
	cr_expect_str_eq(text, "# HELP calls Calls.\n# TYPE calls gauge\ncalls 2\n");
	free(text);
	metrics_free(reg);
}

struct proc_values {
	double cpu, rss, fds, start;
};

static void proc_visit(const char *name, const char *help, enum metric_type type,
		       const struct metric_point *pt, void *arg)
{
	struct proc_values *p = arg;

	(void)help;
	if (!strcmp(name, "process_cpu_seconds_total") && type == METRIC_COUNTER)
		p->cpu = pt->value;
	else if (!strcmp(name, "process_resident_memory_bytes"))
		p->rss = pt->value;
	else if (!strcmp(name, "process_open_fds"))
		p->fds = pt->value;
	else if (!strcmp(name, "process_start_time_seconds"))
		p->start = pt->value;
}

Test(metrics, process_metrics)
{
	struct metrics *reg = metrics_new();
	struct proc_values p = { -1, -1, -1, -1 };
	struct timespec now;

	metrics_register_process(reg);
	metrics_register_process(reg);
	metrics_walk(reg, proc_visit, &p);
	clock_gettime(CLOCK_REALTIME, &now);
	cr_expect_geq(p.cpu, 0);
	cr_expect_gt(p.rss, 1024 * 1024, "rss %f", p.rss);
	cr_expect_geq(p.fds, 3, "fds %f", p.fds); /* stdin, stdout, stderr at least */
	cr_expect_gt(p.start, 1e9);
	cr_expect_leq(p.start, (double)now.tv_sec + 1);
	cr_expect_gt(p.start, (double)now.tv_sec - 3600);
	metrics_free(reg);
}

/* ---- programming errors abort ---------------------------------------------------------- */

Test(metrics, invalid_metric_name_aborts, .signal = SIGABRT)
{
	metrics_counter(metrics_new(), "1bad", "B.", NULL);
}

Test(metrics, invalid_label_name_aborts, .signal = SIGABRT)
{
	metrics_counter(metrics_new(), "ok_total", "B.", METRIC_LABELS("bad-label"));
}

Test(metrics, reserved_label_name_aborts, .signal = SIGABRT)
{
	metrics_counter(metrics_new(), "ok_total", "B.", METRIC_LABELS("__name"));
}

Test(metrics, le_label_on_histogram_aborts, .signal = SIGABRT)
{
	metrics_histogram(metrics_new(), "h", "H.", METRIC_LABELS("le"), NULL, 0);
}

Test(metrics, other_shape_aborts, .signal = SIGABRT)
{
	struct metrics *reg = metrics_new();

	metrics_counter(reg, "x_total", "X.", NULL);
	metrics_gauge(reg, "x_total", "X.", NULL);
}

Test(metrics, wrong_value_count_aborts, .signal = SIGABRT)
{
	struct metric *m = metrics_counter(metrics_new(), "x_total", "X.", METRIC_LABELS("a"));

	metrics_series(m, METRIC_LABELS("1", "2"));
}

Test(metrics, unsorted_bounds_abort, .signal = SIGABRT)
{
	static const double bounds[] = { 1, 1 };

	metrics_histogram(metrics_new(), "h", "H.", NULL, bounds, 2);
}
