#include "common/metrics.h"
#include "common/clock.h"
#include "common/text.h"
#include "common/trace.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"

const double metrics_http_duration_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
						 0.5,	0.75, 1,     2.5,  5,	  7.5, 10 };
const size_t metrics_http_duration_nbuckets = ARRAY_SIZE(metrics_http_duration_buckets);

/*
 * One bucket's exemplar, behind a seqlock: seq is odd while a writer fills the words and grows
 * by 2 per write (0: never written). The words are atomics read and written relaxed, so a read
 * that overlaps a write is a retry the sequence detects, never a data race.
 */
struct exemplar_slot {
	_Atomic uint64_t seq;
	_Atomic uint64_t value;	  /* double bits */
	_Atomic uint64_t time_ns; /* CLOCK_REALTIME */
	_Atomic uint64_t ids[3];  /* trace id (two words), span id, as their bytes */
};

/* How often metrics_exemplar() reads a slot that a writer keeps changing before it gives up. */
#define EXEMPLAR_READ_TRIES 64

struct metric_series {
	const struct metric *family;
	char **values;		   /* NULL-terminated copies */
	_Atomic uint64_t bits;	   /* counter/gauge value, or histogram sum, as double bits */
	_Atomic uint64_t *buckets; /* histogram: nbounds + 1, not cumulative */
	/* histogram: held for an observation's bucket and sum, and for a snapshot of them */
	pthread_mutex_t *hmu;
	struct exemplar_slot *exemplars; /* histogram: nbounds + 1 */
	struct metric_series *hnext;	 /* hash chain */
	struct metric_series *next;	 /* creation order */
};

/* One hash chain (a struct, so arrays of chains are sized by an aggregate). */
struct chain {
	struct metric_series *head;
};

struct metric {
	char *name;
	char *help;
	enum metric_type type;
	char **label_names; /* NULL-terminated */
	size_t nlabels;
	double *bounds;
	size_t nbounds;
	struct metric *next;   /* registration order; set once, under the registry lock */
	pthread_rwlock_t lock; /* guards everything below */
	struct metric_series *first, **tail; /* creation order; tail: the last next pointer */
	size_t nseries;
	struct metric_series *overflow; /* metrics_series_capped()'s, once created */
	struct chain *table;
	size_t tsize;
};

struct collector {
	metrics_collect_fn fn;
	void *arg;
};

struct metrics {
	pthread_mutex_t lock;	      /* guards the family list and the collectors */
	struct metric *first, **tail; /* registration order; tail: the last next pointer */
	struct collector *collectors;
	size_t ncollectors, calloc;
};

/* ---- helpers --------------------------------------------------------------------------- */

static void die_bug(const char *what, const char *name)
{
	fprintf(stderr, "metrics: BUG: %s: '%s'\n", what, name ? name : "(null)");
	abort();
}

static double bits_to_double(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static uint64_t double_to_bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

static void atomic_add_double(_Atomic uint64_t *p, double v)
{
	uint64_t old = atomic_load_explicit(p, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(p, &old,
						      double_to_bits(bits_to_double(old) + v),
						      memory_order_relaxed, memory_order_relaxed))
		;
}

static int is_name_start(int c, int colon)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

static int valid_name(const char *s, int colon)
{
	if (!s || !is_name_start((unsigned char)*s, colon))
		return 0;
	for (s++; *s; s++)
		if (!is_name_start((unsigned char)*s, colon) && !(*s >= '0' && *s <= '9'))
			return 0;
	return 1;
}

static size_t count_strings(const char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

static char **copy_strings(const char *const *v, size_t n)
{
	char **out = xcalloc(n + 1, sizeof(*out));
	size_t i;

	for (i = 0; v && i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

static void free_strings(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* ---- registry -------------------------------------------------------------------------- */

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static struct metrics *default_reg;

static void default_create(void)
{
	default_reg = metrics_new();
}

struct metrics *metrics_default(void)
{
	pthread_once(&default_once, default_create);
	return default_reg;
}

struct metrics *metrics_new(void)
{
	struct metrics *reg = xcalloc(1, sizeof(*reg));

	pthread_mutex_init(&reg->lock, NULL);
	reg->tail = &reg->first;
	return reg;
}

static void series_free(struct metric_series *s)
{
	free_strings(s->values);
	free(s->buckets);
	if (s->hmu) {
		pthread_mutex_destroy(s->hmu);
		free(s->hmu);
	}
	free(s->exemplars);
	free(s);
}

static void family_free(struct metric *m)
{
	struct metric_series *s, *next;

	for (s = m->first; s; s = next) {
		next = s->next;
		series_free(s);
	}
	free(m->table);
	free_strings(m->label_names);
	free(m->bounds);
	free(m->name);
	free(m->help);
	pthread_rwlock_destroy(&m->lock);
	free(m);
}

void metrics_free(struct metrics *reg)
{
	struct metric *m, *next;

	/* The default registry lives until exit (reachable, so no leak report). */
	if (!reg || reg == default_reg)
		return;
	for (m = reg->first; m; m = next) {
		next = m->next;
		family_free(m);
	}
	free(reg->collectors);
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

static void check_labels(const char *name, const char *const *label_names, enum metric_type type)
{
	size_t i, j;

	for (i = 0; label_names && label_names[i]; i++) {
		const char *l = label_names[i];

		if (!valid_name(l, 0))
			die_bug("invalid label name", l);
		if (l[0] == '_' && l[1] == '_')
			die_bug("reserved label name", l);
		if (type == METRIC_HISTOGRAM && !strcmp(l, "le"))
			die_bug("histogram label 'le' is reserved", name);
		for (j = 0; j < i; j++)
			if (!strcmp(label_names[j], l))
				die_bug("duplicate label name", l);
	}
}

static int same_shape(const struct metric *m, enum metric_type type, const char *const *label_names,
		      const double *bounds, size_t nbounds)
{
	size_t i;

	if (m->type != type || m->nlabels != count_strings(label_names))
		return 0;
	for (i = 0; i < m->nlabels; i++)
		if (strcmp(m->label_names[i], label_names[i]) != 0)
			return 0;
	if (type != METRIC_HISTOGRAM)
		return 1;
	if (m->nbounds != nbounds)
		return 0;
	return nbounds == 0 || !memcmp(m->bounds, bounds, nbounds * sizeof(*bounds));
}

static struct metric *family_new(const char *name, const char *help, enum metric_type type,
				 const char *const *label_names, const double *bounds,
				 size_t nbounds)
{
	struct metric *m = xcalloc(1, sizeof(*m));

	m->name = xstrdup(name);
	m->help = xstrdup(help ? help : "");
	m->type = type;
	m->nlabels = count_strings(label_names);
	m->label_names = copy_strings(label_names, m->nlabels);
	if (nbounds) {
		m->bounds = xmalloc(nbounds * sizeof(*bounds));
		memcpy(m->bounds, bounds, nbounds * sizeof(*bounds));
	}
	m->nbounds = nbounds;
	m->tsize = 16;
	m->table = xcalloc(m->tsize, sizeof(*m->table));
	m->tail = &m->first;
	pthread_rwlock_init(&m->lock, NULL);
	return m;
}

static struct metric *family_register(struct metrics *reg, const char *name, const char *help,
				      enum metric_type type, const char *const *label_names,
				      const double *bounds, size_t nbounds)
{
	struct metric *m;

	if (!valid_name(name, 1))
		die_bug("invalid metric name", name);
	check_labels(name, label_names, type);
	pthread_mutex_lock(&reg->lock);
	for (m = reg->first; m; m = m->next) {
		if (strcmp(m->name, name) != 0)
			continue;
		if (!same_shape(m, type, label_names, bounds, nbounds)) {
			pthread_mutex_unlock(&reg->lock);
			die_bug("registered again with another type, labels or buckets", name);
		}
		break;
	}
	if (!m) {
		m = family_new(name, help, type, label_names, bounds, nbounds);
		*reg->tail = m;
		reg->tail = &m->next;
	}
	pthread_mutex_unlock(&reg->lock);
	/* A family without labels has exactly one series, shown from the start. */
	if (m->nlabels == 0)
		metrics_series(m, NULL);
	return m;
}

struct metric *metrics_counter(struct metrics *reg, const char *name, const char *help,
			       const char *const *label_names)
{
	return family_register(reg, name, help, METRIC_COUNTER, label_names, NULL, 0);
}

struct metric *metrics_gauge(struct metrics *reg, const char *name, const char *help,
			     const char *const *label_names)
{
	return family_register(reg, name, help, METRIC_GAUGE, label_names, NULL, 0);
}

struct metric *metrics_histogram(struct metrics *reg, const char *name, const char *help,
				 const char *const *label_names, const double *bounds,
				 size_t nbounds)
{
	size_t i;

	for (i = 0; i < nbounds; i++)
		if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
			die_bug("histogram bounds must be finite and strictly increasing", name);
	return family_register(reg, name, help, METRIC_HISTOGRAM, label_names, bounds, nbounds);
}

/* ---- series ---------------------------------------------------------------------------- */

static size_t hash_values(const char *const *values)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	size_t i;
	const char *p;

	for (i = 0; values && values[i]; i++) {
		for (p = values[i]; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		h = (h ^ 0xff) * 1099511628211ULL; /* separator: 0xff never ends valid text */
	}
	return (size_t)h;
}

static int values_equal(char *const *a, const char *const *b, size_t n)
{
	size_t i;

	if (!b)
		return n == 0;
	for (i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

static struct metric_series *series_find(const struct metric *m, const char *const *values,
					 size_t h)
{
	struct metric_series *s;

	for (s = m->table[h % m->tsize].head; s; s = s->hnext)
		if (values_equal(s->values, values, m->nlabels))
			return s;
	return NULL;
}

static void table_grow(struct metric *m)
{
	size_t nsize = m->tsize * 2, slot;
	struct chain *t = xcalloc(nsize, sizeof(*t));
	struct metric_series *s;

	for (s = m->first; s; s = s->next) {
		slot = hash_values((const char *const *)s->values) % nsize;
		s->hnext = t[slot].head;
		t[slot].head = s;
	}
	free(m->table);
	m->table = t;
	m->tsize = nsize;
}

static void exemplar_init(struct exemplar_slot *e)
{
	atomic_init(&e->seq, 0);
	atomic_init(&e->value, 0);
	atomic_init(&e->time_ns, 0);
	for (size_t i = 0; i < ARRAY_SIZE(e->ids); i++)
		atomic_init(&e->ids[i], 0);
}

/* Called with the write lock held. */
static struct metric_series *series_create(struct metric *m, const char *const *values, size_t h)
{
	struct metric_series *s = xcalloc(1, sizeof(*s));
	size_t slot, i;

	s->family = m;
	s->values = copy_strings(values, m->nlabels);
	atomic_init(&s->bits, double_to_bits(0.0));
	if (m->type == METRIC_HISTOGRAM) {
		s->buckets = xcalloc(m->nbounds + 1, sizeof(*s->buckets));
		s->hmu = xmalloc(sizeof(*s->hmu));
		pthread_mutex_init(s->hmu, NULL);
		s->exemplars = xcalloc(m->nbounds + 1, sizeof(*s->exemplars));
		for (i = 0; i <= m->nbounds; i++) {
			atomic_init(&s->buckets[i], 0);
			exemplar_init(&s->exemplars[i]);
		}
	}
	*m->tail = s;
	m->tail = &s->next;
	m->nseries++;
	if (m->nseries > 2 * m->tsize) {
		table_grow(m); /* rehashes every series, including s */
		return s;
	}
	slot = h % m->tsize;
	s->hnext = m->table[slot].head;
	m->table[slot].head = s;
	return s;
}

void metrics_counter_each(struct metrics *reg, const char *name, const char *help,
			  const char *label, const char *const *values,
			  struct metric_series **const *out)
{
	const char *const names[] = { label, NULL };
	struct metric *m = metrics_counter(reg, name, help, names);

	for (size_t i = 0; values[i]; i++)
		*out[i] = metrics_series(m, (const char *const[]){ values[i], NULL });
}

struct metric_series *metrics_series(struct metric *m, const char *const *values)
{
	struct metric_series *s;
	size_t h;

	if (count_strings(values) != m->nlabels)
		die_bug("wrong number of label values", m->name);
	h = hash_values(values);
	pthread_rwlock_rdlock(&m->lock);
	s = series_find(m, values, h);
	pthread_rwlock_unlock(&m->lock);
	if (s)
		return s;
	pthread_rwlock_wrlock(&m->lock);
	s = series_find(m, values, h);
	if (!s)
		s = series_create(m, values, h);
	pthread_rwlock_unlock(&m->lock);
	return s;
}

/* The overflow series of m: every label METRIC_OVERFLOW_VALUE. Write lock held. */
static struct metric_series *overflow_series(struct metric *m)
{
	const char **values;
	size_t h;

	if (m->overflow)
		return m->overflow;
	values = xcalloc(m->nlabels + 1, sizeof(*values));
	for (size_t i = 0; i < m->nlabels; i++)
		values[i] = METRIC_OVERFLOW_VALUE;
	h = hash_values(values);
	m->overflow = series_find(m, values, h);
	if (!m->overflow)
		m->overflow = series_create(m, values, h);
	free(values);
	return m->overflow;
}

struct metric_series *metrics_series_capped(struct metric *m, const char *const *values,
					    size_t max_series)
{
	struct metric_series *s;
	size_t h;
	int too_long = 0;

	if (count_strings(values) != m->nlabels)
		die_bug("wrong number of label values", m->name);
	for (size_t i = 0; i < m->nlabels; i++)
		too_long |= strlen(values[i]) > METRIC_MAX_VALUE_BYTES;
	h = hash_values(values);
	pthread_rwlock_rdlock(&m->lock);
	s = too_long ? NULL : series_find(m, values, h);
	pthread_rwlock_unlock(&m->lock);
	if (s)
		return s;
	pthread_rwlock_wrlock(&m->lock);
	s = too_long ? NULL : series_find(m, values, h);
	if (!s && !too_long && m->nseries - (m->overflow != NULL) < max_series)
		s = series_create(m, values, h);
	if (!s)
		s = overflow_series(m);
	pthread_rwlock_unlock(&m->lock);
	return s;
}

void metrics_inc(struct metric_series *s)
{
	atomic_add_double(&s->bits, 1.0);
}

void metrics_add(struct metric_series *s, double v)
{
	if (v >= 0) /* also false for NaN: a counter never goes down */
		atomic_add_double(&s->bits, v);
}

double metrics_value(const struct metric_series *s)
{
	return bits_to_double(atomic_load_explicit(&s->bits, memory_order_relaxed));
}

void metrics_set(struct metric_series *s, double v)
{
	atomic_store_explicit(&s->bits, double_to_bits(v), memory_order_relaxed);
}

/* The bucket of v: the first bound v is at most, else the +Inf bucket (also for NaN). */
static size_t bucket_of(const struct metric *m, double v)
{
	size_t i = 0;

	while (i < m->nbounds && !(v <= m->bounds[i]))
		i++;
	return i;
}

/* One observation: its bucket and the sum together (histogram_read() sees both or neither). */
static void observe_in(struct metric_series *s, size_t bucket, double v)
{
	pthread_mutex_lock(s->hmu);
	atomic_fetch_add_explicit(&s->buckets[bucket], 1, memory_order_relaxed);
	atomic_add_double(&s->bits, v);
	pthread_mutex_unlock(s->hmu);
}

/*
 * The counts (nbounds + 1, not cumulative) and the sum of histogram series s, returned, and
 * their total in *count: one snapshot, so that _sum and _count describe the same
 * observations.
 */
static double histogram_read(const struct metric *m, const struct metric_series *s,
			     uint64_t *counts, uint64_t *count)
{
	double sum;

	*count = 0;
	pthread_mutex_lock(s->hmu);
	for (size_t i = 0; i <= m->nbounds; i++) {
		counts[i] = atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
		*count += counts[i];
	}
	sum = bits_to_double(atomic_load_explicit(&s->bits, memory_order_relaxed));
	pthread_mutex_unlock(s->hmu);
	return sum;
}

void metrics_observe(struct metric_series *s, double v)
{
	if (!s->buckets)
		return; /* not a histogram */
	observe_in(s, bucket_of(s->family, v), v);
}

/* Writes one exemplar into e, or nothing when another writer holds e (see metrics.h). */
static void exemplar_store(struct exemplar_slot *e, double v, const struct trace_context *ctx)
{
	uint64_t seq = atomic_load_explicit(&e->seq, memory_order_relaxed);
	uint64_t ids[3];

	if ((seq & 1) || !atomic_compare_exchange_strong_explicit(
			     &e->seq, &seq, seq + 1, memory_order_relaxed, memory_order_relaxed))
		return;
	/* the odd sequence is visible before any word changes (a reader that sees one retries) */
	atomic_thread_fence(memory_order_release);
	memcpy(ids, ctx->trace_id, 16);
	memcpy(&ids[2], ctx->span_id, 8);
	atomic_store_explicit(&e->value, double_to_bits(v), memory_order_relaxed);
	atomic_store_explicit(&e->time_ns, (uint64_t)clock_real_ns(), memory_order_relaxed);
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
		atomic_store_explicit(&e->ids[i], ids[i], memory_order_relaxed);
	atomic_store_explicit(&e->seq, seq + 2, memory_order_release);
}

void metrics_observe_exemplar(struct metric_series *s, double v, const struct trace_context *ctx)
{
	size_t i;

	if (!s->buckets)
		return; /* not a histogram */
	i = bucket_of(s->family, v);
	if (ctx && (ctx->flags & TRACE_FLAG_SAMPLED) && trace_context_valid(ctx))
		exemplar_store(&s->exemplars[i], v, ctx);
	observe_in(s, i, v);
}

int metrics_exemplar(const struct metric_series *s, size_t bucket, struct metric_exemplar *out)
{
	struct exemplar_slot *e;
	uint64_t seq, value, time_ns, ids[3];

	if (!s->exemplars || bucket > s->family->nbounds)
		return 0;
	e = &s->exemplars[bucket];
	for (int tries = 0; tries < EXEMPLAR_READ_TRIES; tries++) {
		seq = atomic_load_explicit(&e->seq, memory_order_acquire);
		if (seq == 0)
			return 0; /* never written */
		if (seq & 1)
			continue; /* a writer is at it */
		value = atomic_load_explicit(&e->value, memory_order_relaxed);
		time_ns = atomic_load_explicit(&e->time_ns, memory_order_relaxed);
		for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
			ids[i] = atomic_load_explicit(&e->ids[i], memory_order_relaxed);
		/* the words are read before the sequence is read again */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&e->seq, memory_order_relaxed) != seq)
			continue; /* a write overlapped the read */
		out->value = bits_to_double(value);
		out->time_ns = (long long)time_ns;
		memcpy(out->trace_id, ids, 16);
		memcpy(out->span_id, &ids[2], 8);
		return 1;
	}
	return 0;
}

/* ---- collect callbacks ----------------------------------------------------------------- */

void metrics_on_collect(struct metrics *reg, metrics_collect_fn fn, void *arg)
{
	size_t i;

	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < reg->ncollectors; i++)
		if (reg->collectors[i].fn == fn && reg->collectors[i].arg == arg)
			break;
	if (i == reg->ncollectors) {
		XGROW(reg->collectors, reg->ncollectors + 1, reg->calloc);
		reg->collectors[reg->ncollectors].fn = fn;
		reg->collectors[reg->ncollectors].arg = arg;
		reg->ncollectors++;
	}
	pthread_mutex_unlock(&reg->lock);
}

/* Runs the callbacks without the registry lock, so they may register and update metrics. */
static void run_collectors(struct metrics *reg)
{
	struct collector *c;
	size_t n, i;

	pthread_mutex_lock(&reg->lock);
	n = reg->ncollectors;
	c = xmalloc((n ? n : 1) * sizeof(*c));
	if (n)
		memcpy(c, reg->collectors, n * sizeof(*c));
	pthread_mutex_unlock(&reg->lock);
	for (i = 0; i < n; i++)
		c[i].fn(reg, c[i].arg);
	free(c);
}

/* ---- text format ----------------------------------------------------------------------- */

/*
 * Appends s escaped for a HELP text (\\ and \n) or, with quote, for a label value (also \").
 * Invalid UTF-8 becomes U+FFFD, since Prometheus rejects it.
 */
static int append_escaped(struct buf *b, const char *s, int quote)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), k;
	int rc = 0;

	while (n && !rc) {
		const char *esc = NULL;

		if (*p == '\\')
			esc = "\\\\";
		else if (*p == '\n')
			esc = "\\n";
		else if (*p == '"' && quote)
			esc = "\\\"";
		k = esc ? 0 : text_utf8_seq(p, n);
		if (esc)
			rc = buf_append(b, esc, 2);
		else if (k)
			rc = buf_append(b, p, k);
		else
			rc = buf_append(b, "\xEF\xBF\xBD", 3);
		k = k ? k : 1;
		p += k;
		n -= k;
	}
	return rc;
}

/* Formats v the way Go's ParseFloat reads it back exactly, as short as possible. */
static void format_double(char out[32], double v)
{
	int prec;

	if (isnan(v)) {
		memcpy(out, "NaN", 4);
		return;
	}
	if (isinf(v)) {
		memcpy(out, v > 0 ? "+Inf" : "-Inf", 5);
		return;
	}
	if (v == 0) {
		memcpy(out, "0", 2); /* also -0 */
		return;
	}
	if (v == trunc(v) && fabs(v) < 1e15) {
		snprintf(out, 32, "%.0f", v);
		return;
	}
	for (prec = 15; prec < 17; prec++) {
		snprintf(out, 32, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
	snprintf(out, 32, "%.17g", v);
}

struct render {
	struct buf *out;
	int rc;
};

static void put(struct render *r, const char *s)
{
	if (!r->rc)
		r->rc = buf_appends(r->out, s);
}

static void put_escaped(struct render *r, const char *s, int quote)
{
	if (!r->rc)
		r->rc = append_escaped(r->out, s, quote);
}

static void put_double(struct render *r, double v)
{
	char num[32];

	format_double(num, v);
	put(r, num);
}

/* name{labels[,le="x"]} value\n */
static void put_sample(struct render *r, const struct metric *m, const struct metric_series *s,
		       const char *suffix, const char *le, double v)
{
	size_t i;

	put(r, m->name);
	put(r, suffix);
	if (m->nlabels || le) {
		put(r, "{");
		for (i = 0; i < m->nlabels; i++) {
			put(r, i ? "," : "");
			put(r, m->label_names[i]);
			put(r, "=\"");
			put_escaped(r, s->values[i], 1);
			put(r, "\"");
		}
		if (le) {
			put(r, m->nlabels ? ",le=\"" : "le=\"");
			put(r, le);
			put(r, "\"");
		}
		put(r, "}");
	}
	put(r, " ");
	put_double(r, v);
	put(r, "\n");
}

/* counts: scratch for nbounds + 1 buckets, one allocation for the whole family. */
static void put_histogram(struct render *r, const struct metric *m, const struct metric_series *s,
			  uint64_t *counts)
{
	uint64_t cum = 0, count;
	double sum = histogram_read(m, s, counts, &count);
	char le[32];
	size_t i;

	for (i = 0; i <= m->nbounds; i++) {
		cum += counts[i];
		if (i < m->nbounds)
			format_double(le, m->bounds[i]);
		else
			memcpy(le, "+Inf", 5);
		put_sample(r, m, s, "_bucket", le, (double)cum);
	}
	put_sample(r, m, s, "_sum", NULL, sum);
	/* _count is the +Inf bucket, so the two always agree. */
	put_sample(r, m, s, "_count", NULL, (double)count);
}

static const char *type_name(enum metric_type t)
{
	switch (t) {
	case METRIC_COUNTER:
		return "counter";
	case METRIC_GAUGE:
		return "gauge";
	case METRIC_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

static void put_family(struct render *r, struct metric *m)
{
	uint64_t *counts = xcalloc(m->nbounds + 1, sizeof(*counts)); /* histograms' scratch */
	const struct metric_series *s;

	pthread_rwlock_rdlock(&m->lock);
	if (m->nseries) {
		put(r, "# HELP ");
		put(r, m->name);
		put(r, " ");
		put_escaped(r, m->help, 0);
		put(r, "\n# TYPE ");
		put(r, m->name);
		put(r, " ");
		put(r, type_name(m->type));
		put(r, "\n");
	}
	for (s = m->first; s; s = s->next) {
		if (m->type == METRIC_HISTOGRAM)
			put_histogram(r, m, s, counts);
		else
			put_sample(
			    r, m, s, "", NULL,
			    bits_to_double(atomic_load_explicit(&s->bits, memory_order_relaxed)));
	}
	pthread_rwlock_unlock(&m->lock);
	free(counts);
}

int metrics_render(struct metrics *reg, struct buf *out)
{
	struct render r = { out, 0 };
	struct metric *m;

	run_collectors(reg);
	pthread_mutex_lock(&reg->lock);
	for (m = reg->first; m; m = m->next)
		put_family(&r, m);
	pthread_mutex_unlock(&reg->lock);
	return r.rc ? ERR_TOO_LARGE : 0;
}

/* ---- walk ------------------------------------------------------------------------------ */

static void walk_family(struct metric *m, metrics_visit_fn visit, void *arg)
{
	uint64_t *counts = xcalloc(m->nbounds + 1, sizeof(*counts));
	const struct metric_series *s;
	struct metric_point pt;

	pthread_rwlock_rdlock(&m->lock);
	for (s = m->first; s; s = s->next) {
		double v = bits_to_double(atomic_load_explicit(&s->bits, memory_order_relaxed));

		memset(&pt, 0, sizeof(pt));
		pt.label_names = (const char *const *)m->label_names;
		pt.label_values = (const char *const *)s->values;
		if (m->type == METRIC_HISTOGRAM) {
			pt.sum = histogram_read(m, s, counts, &pt.count);
			pt.bounds = m->bounds;
			pt.nbounds = m->nbounds;
			pt.bucket_counts = counts;
			pt.series = s;
		} else {
			pt.value = v;
		}
		visit(m->name, m->help, m->type, &pt, arg);
	}
	pthread_rwlock_unlock(&m->lock);
	free(counts);
}

void metrics_walk(struct metrics *reg, metrics_visit_fn visit, void *arg)
{
	struct metric *m;

	run_collectors(reg);
	pthread_mutex_lock(&reg->lock);
	for (m = reg->first; m; m = m->next)
		walk_family(m, visit, arg);
	pthread_mutex_unlock(&reg->lock);
}

/* ---- process metrics ------------------------------------------------------------------- */

static const char help_cpu[] = "Total user and system CPU time spent in seconds.";
static const char help_rss[] = "Resident memory size in bytes.";
static const char help_fds[] = "Number of open file descriptors.";
static const char help_start[] = "Start time of the process since unix epoch in seconds.";

/* Reads a small /proc file into out (NUL-terminated). Returns its length or -1. */
static ssize_t read_small(const char *path, char *out, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	(void)fclose(f);
	return (ssize_t)n;
}

/* utime, stime and starttime (clock ticks) from /proc/self/stat. */
static int read_stat(unsigned long long *utime, unsigned long long *stime,
		     unsigned long long *start)
{
	char text[1024], *p, *end;
	unsigned long long v;
	int field;

	if (read_small("/proc/self/stat", text, sizeof(text)) < 0)
		return -1;
	p = strrchr(text, ')');
	if (!p || p[1] != ' ' || !p[2] || !p[3])
		return -1;
	p += 3; /* past ") S", at field 4 */
	for (field = 4; field <= 22; field++) {
		v = strtoull(p, &end, 10);
		if (end == p)
			return -1;
		if (field == 14)
			*utime = v;
		else if (field == 15)
			*stime = v;
		else if (field == 22)
			*start = v;
		p = end;
	}
	return 0;
}

static double boot_time(void)
{
	char text[8192], *p, *end;
	double v;

	if (read_small("/proc/stat", text, sizeof(text)) < 0)
		return 0;
	p = strstr(text, "\nbtime ");
	if (!p)
		return 0;
	v = (double)strtoull(p + 7, &end, 10);
	return end == p + 7 ? 0 : v;
}

static double open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	const struct dirent *e;
	double n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* minus the descriptor reading the directory */
}

static void set_one(struct metric *m, double v)
{
	metrics_set(metrics_series(m, NULL), v);
}

static void process_collect(struct metrics *reg, void *arg)
{
	double tck = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
	unsigned long long ut = 0, st = 0, start = 0;
	char statm[256], *end;
	double pages;

	(void)arg;
	if (tck <= 0)
		tck = 100;
	if (!read_stat(&ut, &st, &start)) {
		set_one(metrics_counter(reg, "process_cpu_seconds_total", help_cpu, NULL),
			(double)(ut + st) / tck);
		set_one(metrics_gauge(reg, "process_start_time_seconds", help_start, NULL),
			boot_time() + (double)start / tck);
	}
	if (read_small("/proc/self/statm", statm, sizeof(statm)) > 0) {
		/* fields: size resident ... (pages) */
		(void)strtoull(statm, &end, 10);
		pages = (double)strtoull(end, NULL, 10);
		set_one(metrics_gauge(reg, "process_resident_memory_bytes", help_rss, NULL),
			pages * page);
	}
	set_one(metrics_gauge(reg, "process_open_fds", help_fds, NULL), open_fds());
}

void metrics_register_process(struct metrics *reg)
{
	metrics_counter(reg, "process_cpu_seconds_total", help_cpu, NULL);
	metrics_gauge(reg, "process_resident_memory_bytes", help_rss, NULL);
	metrics_gauge(reg, "process_open_fds", help_fds, NULL);
	metrics_gauge(reg, "process_start_time_seconds", help_start, NULL);
	metrics_on_collect(reg, process_collect, NULL);
}
