/* journey.c: each review's journey, kept and pushed to the pages that follow it (journey.h). */
#include "journey.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/text.h"
#include "common/xalloc.h"
#include "ws.h"

#define DESTINATION_MAX	 512
#define RESPONSE_MAX	 1024
#define OUTCOME_MAX	 32
#define POLICY_MAX	 64
#define COUNTERS_MAX	 16
#define COUNTER_NAME_MAX 32
#define MATCHED_MAX	 64

/* One review's journey. */
struct trip {
	char id[JOURNEY_ID_MAX + 1]; /* "" = unused slot */
	uint64_t topic;
	long long posted_ms; /* 0 = not seen (posted through another node-server, or evicted) */
	char trace_id[33];
	json_t *steps[JOURNEY_STEPS];
	size_t nsteps, more;
	int inserts;	     /* /insert attempts served */
	long long review_id; /* the stored review's id (db-service), 0 = not stored yet */
};

struct journey {
	struct journey_config cfg;
	pthread_mutex_t lock;
	struct trip *trips; /* ring of cfg.keep */
	size_t next;	    /* the slot the next new journey takes */
	struct ws_hub *hub;
	json_t *senders; /* {"file-sink": {"time", "counters", "policy"}, ...} */
	struct metric_series *m_accepted, *m_rejected;
};

uint64_t journey_topic(const char *id)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a: a collision only costs a spare frame */

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ULL;
	return h;
}

struct journey *journey_new(const struct journey_config *cfg)
{
	struct journey *j = xcalloc(1, sizeof(*j));

	j->cfg = *cfg;
	if (j->cfg.keep == 0)
		j->cfg.keep = 1;
	j->trips = xcalloc(j->cfg.keep, sizeof(*j->trips));
	j->senders = json_object();
	pthread_mutex_init(&j->lock, NULL);
	metrics_counter_each(
	    metrics_default(), "node_journey_records_total",
	    "Journey records posted to node-server, by outcome (accepted, rejected).", "outcome",
	    METRIC_LABELS("accepted", "rejected"),
	    (struct metric_series * *const[]){ &j->m_accepted, &j->m_rejected });
	return j;
}

static void trip_clear(struct trip *t)
{
	size_t i;

	for (i = 0; i < t->nsteps; i++)
		json_decref(t->steps[i]);
	memset(t, 0, sizeof(*t));
}

void journey_free(struct journey *j)
{
	size_t i;

	if (j == NULL)
		return;
	for (i = 0; i < j->cfg.keep; i++)
		trip_clear(&j->trips[i]);
	free(j->trips);
	json_decref(j->senders);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

void journey_attach(struct journey *j, struct ws_hub *hub)
{
	pthread_mutex_lock(&j->lock);
	j->hub = hub;
	pthread_mutex_unlock(&j->lock);
}

/* ---- the store (under lock) ------------------------------------------------------------ */

static struct trip *trip_find(struct journey *j, const char *id)
{
	uint64_t topic = journey_topic(id);
	size_t i;

	for (i = 0; i < j->cfg.keep; i++)
		if (j->trips[i].topic == topic && strcmp(j->trips[i].id, id) == 0)
			return &j->trips[i];
	return NULL;
}

/* The journey of id, or a new one in the oldest slot. id must be valid (id_valid()). */
static struct trip *trip_get(struct journey *j, const char *id)
{
	struct trip *t = trip_find(j, id);

	if (t)
		return t;
	t = &j->trips[j->next];
	j->next = (j->next + 1) % j->cfg.keep;
	trip_clear(t);
	(void)snprintf(t->id, sizeof(t->id), "%s", id);
	t->topic = journey_topic(id);
	return t;
}

/* Adds step (taking the reference). */
static void trip_add(struct trip *t, json_t *step)
{
	if (t->nsteps < JOURNEY_STEPS) {
		t->steps[t->nsteps++] = step;
		return;
	}
	t->more++;
	json_decref(step);
}

static json_t *trip_json(const struct trip *t)
{
	json_t *steps = json_array();
	size_t i;

	for (i = 0; i < t->nsteps; i++)
		json_array_append(steps, t->steps[i]);
	/* "now": node-server's clock as it renders, which the page counts the retries on */
	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:I, s:I}", "id", t->id, "review_id",
			 t->review_id ? json_integer(t->review_id) : json_null(), "posted",
			 t->posted_ms ? json_integer(t->posted_ms) : json_null(), "trace_id",
			 t->trace_id[0] ? json_string(t->trace_id) : json_null(), "steps", steps,
			 "more", (json_int_t)t->more, "now", (json_int_t)clock_real_ms());
}

/* {"journey": ...} as one compact string (caller frees), or NULL. */
static char *trip_frame(const struct trip *t, size_t *len)
{
	json_t *f = json_pack("{s:o}", "journey", trip_json(t));
	char *s = json_dumps(f, JSON_COMPACT);

	json_decref(f);
	*len = s ? strlen(s) : 0;
	return s;
}

/* Pushes t to the pages that follow it. */
static void trip_publish(struct journey *j, const struct trip *t)
{
	size_t len;
	char *s;

	/* nobody follows anything: no frame to build (a later follow gets the stored state) */
	if (j->hub == NULL || ws_hub_following(j->hub) == 0)
		return;
	s = trip_frame(t, &len);
	if (s && ws_hub_publish_topic(j->hub, t->topic, s, len) == ERR_OVERLOADED)
		log_debug("journey %s: the WebSocket backlog is full, frame dropped", t->id);
	free(s);
}

static void trip_trace(struct trip *t, const char *trace_id)
{
	if (trace_id && strlen(trace_id) == 32 && t->trace_id[0] == '\0')
		memcpy(t->trace_id, trace_id, 33);
}

/* ---- node-server's own steps ----------------------------------------------------------- */

/* Whether id is 1..JOURNEY_ID_MAX bytes without control characters. */
static int id_valid(const char *id, size_t len)
{
	size_t i;

	if (len == 0 || len > JOURNEY_ID_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
			return 0;
	return 1;
}

/* Locks j and returns id's trip (made if new), or NULL (unlocked) for an id not kept. */
static struct trip *trip_lock(struct journey *j, const char *id)
{
	if (!id_valid(id, strlen(id)))
		return NULL;
	pthread_mutex_lock(&j->lock);
	return trip_get(j, id);
}

/* Adds step (taken) to t, publishes t to its followers and unlocks j. */
static void trip_unlock(struct journey *j, struct trip *t, json_t *step)
{
	trip_add(t, step);
	trip_publish(j, t);
	pthread_mutex_unlock(&j->lock);
}

void journey_posted(struct journey *j, const char *id, long long time_ms, const char *trace_id)
{
	struct trip *t = trip_lock(j, id);

	if (!t)
		return;
	t->posted_ms = time_ms;
	trip_trace(t, trace_id);
	trip_unlock(j, t,
		    json_pack("{s:s, s:s, s:I}", "source", "node-server", "kind", "posted", "time",
			      (json_int_t)time_ms));
}

void journey_insert(struct journey *j, const char *id, const char *outcome, int code,
		    long long review_id)
{
	struct trip *t = trip_lock(j, id);

	if (!t)
		return;
	t->inserts++;
	if (review_id > 0)
		t->review_id = review_id;
	trip_unlock(j, t,
		    json_pack("{s:s, s:s, s:i, s:s, s:i, s:I}", "source", "node-server", "kind",
			      "insert", "attempt", t->inserts, "outcome", outcome, "code", code,
			      "time", (json_int_t)clock_real_ms()));
}

void journey_reply(struct journey *j, const char *id, const char *type, const char *reply_id)
{
	struct trip *t = trip_lock(j, id);

	if (!t)
		return;
	trip_unlock(j, t,
		    json_pack("{s:s, s:s, s:s, s:s, s:I}", "source", "node-server", "kind", "reply",
			      "type", type, "reply_id", reply_id, "time",
			      (json_int_t)clock_real_ms()));
}

/* ---- POST /journey --------------------------------------------------------------------- */

/* The keys a record may have besides id, source and kind. */
enum field {
	F_TIME,
	F_CODE,
	F_TRACE_ID,
	F_COUNTERS,
	F_POLICY,
	F_ATTEMPT,
	F_OUTCOME,
	F_DESTINATION,
	F_RESPONSE,
	F_RESULT,
	F_SCORE,
	F_MATCHED,
	F_COUNT
};
#define F(f) (1u << (f))

/*
 * One kind of record: who sends it, the keys it must have and may have, and the words its
 * outcome and result may be (NULL-terminated lists; NULL: none allowed).
 */
struct record_kind {
	const char *source, *kind;
	unsigned required, allowed;
	const char *const *outcomes, *const *results;
};

static const char *const attempt_outcomes[] = { "saved", "error simulated", "duplicate", "io error",
						NULL };
static const char *const step_outcomes[] = { "answered", "failed", NULL };
static const char *const notification_outcomes[] = { "notified", "duplicate", "io error", NULL };
static const char *const badword_results[] = { "good", "bad", NULL };
static const char *const sentiment_results[] = { "positive", "negative", "neutral", NULL };

#define ANY_RECORD (F(F_TIME) | F(F_CODE) | F(F_TRACE_ID))
#define SENDER	   (F(F_COUNTERS) | F(F_POLICY))
#define STEP	   (F(F_TIME) | F(F_OUTCOME) | F(F_CODE))

static const struct record_kind kinds[] = {
	{ "file-sink", "attempt", F(F_TIME) | F(F_ATTEMPT) | F(F_OUTCOME),
	  ANY_RECORD | SENDER | F(F_ATTEMPT) | F(F_OUTCOME), attempt_outcomes, NULL },
	{ "dead-letter-logger", "dead-letter", F(F_TIME),
	  ANY_RECORD | SENDER | F(F_DESTINATION) | F(F_RESPONSE), NULL, NULL },
	{ "bad-word-filter", "step", STEP, STEP | ANY_RECORD | F(F_RESULT) | F(F_MATCHED),
	  step_outcomes, badword_results },
	{ "sentiment-analysis", "step", STEP, STEP | ANY_RECORD | F(F_RESULT) | F(F_SCORE),
	  step_outcomes, sentiment_results },
	{ "file-sink", "notification", F(F_TIME) | F(F_OUTCOME), ANY_RECORD | F(F_OUTCOME),
	  notification_outcomes, NULL },
};

static int fail(struct buf *err, int idx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends "records[idx]: " (idx >= 0) and the reason to err; returns ERR_VALIDATION. */
static int fail(struct buf *err, int idx, const char *fmt, ...)
{
	va_list ap;

	if (idx >= 0)
		(void)buf_appendf(err, "records[%d]: ", idx);
	va_start(ap, fmt);
	(void)buf_vappendf(err, fmt, ap);
	va_end(ap);
	return ERR_VALIDATION;
}

static int string_ok(json_t *v, size_t max, int allow_empty)
{
	size_t n;

	if (!json_is_string(v))
		return 0;
	n = json_string_length(v);
	return n <= max && (allow_empty || n > 0) && strlen(json_string_value(v)) == n;
}

static int int_ok(json_t *v, long long lo, long long hi)
{
	return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

static int word_ok(json_t *v, const char *const *words)
{
	const char *s = json_string_value(v);

	for (; s && words && *words; words++)
		if (strcmp(s, *words) == 0)
			return 1;
	return 0;
}

static int trace_id_ok(json_t *v)
{
	const char *s = json_string_value(v);

	return s && strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

static int counters_ok(json_t *v)
{
	const char *name;
	json_t *x;

	if (!json_is_object(v) || json_object_size(v) > COUNTERS_MAX)
		return 0;
	json_object_foreach(v, name, x) if (strlen(name) == 0 || strlen(name) > COUNTER_NAME_MAX ||
					    !int_ok(x, 0, 1LL << 53)) return 0;
	return 1;
}

/* How a key's value is checked. */
enum field_type { FT_INT, FT_STRING, FT_WORD, FT_TRACE_ID, FT_COUNTERS, FT_SCORE };

/* A key's check, and what it says when the value is refused. */
struct field_rule {
	const char *name;
	enum field_type type;
	long long lo, hi; /* FT_INT: the range; FT_STRING: the least and most bytes */
	const char *rule;
};

static const struct field_rule fields[F_COUNT] = {
	[F_TIME] = { "time", FT_INT, 1, 1LL << 50, "must be milliseconds > 0" },
	[F_CODE] = { "code", FT_INT, 0, 999, "must be an integer 0..999" },
	[F_TRACE_ID] = { "trace_id", FT_TRACE_ID, 0, 0, "must be 32 lowercase hex digits" },
	[F_COUNTERS] = { "counters", FT_COUNTERS, 0, 0,
			 "must be an object of at most 16 integers >= 0" },
	[F_POLICY] = { "policy", FT_STRING, 0, POLICY_MAX, "must be a string <= 64 bytes" },
	[F_ATTEMPT] = { "attempt", FT_INT, 1, 1000, "must be an integer 1..1000" },
	[F_OUTCOME] = { "outcome", FT_WORD, 0, 0, "must be one of:" },
	[F_DESTINATION] = { "destination", FT_STRING, 0, DESTINATION_MAX,
			    "must be a string <= 512 bytes" },
	[F_RESPONSE] = { "response", FT_STRING, 0, RESPONSE_MAX, "must be a string <= 1024 bytes" },
	[F_RESULT] = { "result", FT_WORD, 0, 0, "must be one of:" },
	[F_SCORE] = { "score", FT_SCORE, 0, 0, "must be a number -1..1" },
	[F_MATCHED] = { "matched", FT_STRING, 1, MATCHED_MAX, "must be a string of 1 to 64 bytes" },
};

/* The words key f may hold in a record of kind k (FT_WORD keys; NULL for the others). */
static const char *const *field_words(int f, const struct record_kind *k)
{
	return f == F_OUTCOME ? k->outcomes : f == F_RESULT ? k->results : NULL;
}

static int field_ok(int f, json_t *v, const struct record_kind *k)
{
	const struct field_rule *r = &fields[f];

	switch (r->type) {
	case FT_INT:
		return int_ok(v, r->lo, r->hi);
	case FT_STRING:
		return string_ok(v, (size_t)r->hi, r->lo == 0);
	case FT_WORD:
		return word_ok(v, field_words(f, k));
	case FT_TRACE_ID:
		return trace_id_ok(v);
	case FT_COUNTERS:
		return counters_ok(v);
	case FT_SCORE:
		return json_is_number(v) && json_number_value(v) >= -1.0 &&
		       json_number_value(v) <= 1.0;
	}
	return 0;
}

static const struct record_kind *kind_find(const char *source, const char *kind)
{
	size_t i;

	for (i = 0; source && kind && i < ARRAY_SIZE(kinds); i++)
		if (strcmp(kinds[i].source, source) == 0 && strcmp(kinds[i].kind, kind) == 0)
			return &kinds[i];
	return NULL;
}

/* Checks key name = v of a record of kind k (idx for the message). */
static int field_check(const char *name, json_t *v, const struct record_kind *k, int idx,
		       struct buf *err)
{
	const char *const *w;
	int f;

	if (strcmp(name, "id") == 0 || strcmp(name, "source") == 0 || strcmp(name, "kind") == 0)
		return 0; /* checked by record_check() */
	for (f = 0; f < F_COUNT && strcmp(fields[f].name, name) != 0; f++)
		;
	if (f == F_COUNT)
		return fail(err, idx, "unknown key \"%.*s\"", text_utf8_cut(name, 40), name);
	if (!(k->allowed & F(f)))
		return fail(err, idx, "%s is not a key of a %s %s record", name, k->source,
			    k->kind);
	if (field_ok(f, v, k))
		return 0;
	(void)fail(err, idx, "%s %s", name, fields[f].rule);
	for (w = field_words(f, k); w && *w; w++)
		(void)buf_appendf(err, " %s%s", *w, w[1] ? "," : "");
	return ERR_VALIDATION;
}

/* Checks record idx: its id, source and kind, its required keys, then every key. */
static int record_check(json_t *r, int idx, struct buf *err)
{
	json_t *id = json_object_get(r, "id");
	const struct record_kind *k;
	const char *name;
	json_t *v;
	int f;

	if (!json_is_object(r))
		return fail(err, idx, "%s", "a record is an object");
	if (!string_ok(id, JOURNEY_ID_MAX, 0) ||
	    !id_valid(json_string_value(id), json_string_length(id)))
		return fail(err, idx, "%s", "id must be 1 to 128 bytes without control characters");
	k = kind_find(json_string_value(json_object_get(r, "source")),
		      json_string_value(json_object_get(r, "kind")));
	if (k == NULL)
		return fail(
		    err, idx, "%s",
		    "source/kind must be file-sink/attempt, dead-letter-logger/dead-letter, "
		    "bad-word-filter/step, sentiment-analysis/step or "
		    "file-sink/notification");
	for (f = 0; f < F_COUNT; f++)
		if ((k->required & F(f)) && !json_object_get(r, fields[f].name))
			return fail(err, idx, "%s is required in a %s %s record", fields[f].name,
				    k->source, k->kind);
	json_object_foreach(r, name,
			    v) if (field_check(name, v, k, idx, err)) return ERR_VALIDATION;
	return 0;
}

int journey_parse(const char *body, size_t len, json_t **out, struct buf *err)
{
	json_error_t jerr;
	json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *records = json_object_get(doc, "records");
	size_t i, n;
	int rc = 0;

	*out = NULL;
	if (doc == NULL) {
		(void)buf_appendf(err, "not JSON: %s", jerr.text);
		return ERR_INVALID_JSON;
	}
	n = json_array_size(records);
	if (!json_is_object(doc) || json_object_size(doc) != 1 || !json_is_array(records) ||
	    n == 0 || n > JOURNEY_BATCH_MAX) {
		rc = fail(err, -1, "%s", "the body must be {\"records\": [1 to 64 records]}");
		goto out;
	}
	for (i = 0; i < n && rc == 0; i++)
		rc = record_check(json_array_get(records, i), (int)i, err);
	if (rc == 0)
		*out = json_incref(records);
out:
	json_decref(doc);
	return rc;
}

/*
 * Keeps the sender's counters and policy when they are newer than what we have. A kept time
 * more than JOURNEY_SKEW_MS ahead of node-server's clock is not believed (anyone who reaches
 * node-server can POST /journey): any record replaces it, so that it cannot freeze the
 * counters until a restart.
 */
static void sender_note(struct journey *j, const char *source, json_t *r, long long time)
{
	json_t *old = json_object_get(j->senders, source);
	json_t *counters = json_object_get(r, "counters");
	long long kept = json_integer_value(json_object_get(old, "time"));

	if (!counters || (old && kept > time && kept <= clock_real_ms() + JOURNEY_SKEW_MS))
		return;
	json_object_set_new(j->senders, source,
			    json_pack("{s:I, s:O, s:O*}", "time", (json_int_t)time, "counters",
				      counters, "policy", json_object_get(r, "policy")));
}

static void record_store(struct journey *j, json_t *r)
{
	const char *id = json_string_value(json_object_get(r, "id"));
	const char *source = json_string_value(json_object_get(r, "source"));
	long long time = json_integer_value(json_object_get(r, "time"));
	struct trip *t = trip_get(j, id);
	json_t *step = json_deep_copy(r);

	trip_trace(t, json_string_value(json_object_get(r, "trace_id")));
	sender_note(j, source, r, time);
	json_object_del(step, "counters");
	json_object_del(step, "policy");
	json_object_del(step, "id");
	json_object_del(step, "trace_id");
	trip_add(t, step);
	trip_publish(j, t);
}

int journey_ingest(struct journey *j, const char *body, size_t len, size_t *n, struct buf *err)
{
	json_t *records;
	size_t i;
	int rc = journey_parse(body, len, &records, err);

	*n = 0;
	if (rc) {
		metrics_inc(j->m_rejected);
		return rc;
	}
	pthread_mutex_lock(&j->lock);
	for (i = 0; i < json_array_size(records); i++)
		record_store(j, json_array_get(records, i));
	pthread_mutex_unlock(&j->lock);
	*n = json_array_size(records);
	metrics_add(j->m_accepted, (double)*n);
	json_decref(records);
	return 0;
}

/* ---- reading --------------------------------------------------------------------------- */

json_t *journey_get(struct journey *j, const char *id)
{
	struct trip *t;
	json_t *out = NULL;

	pthread_mutex_lock(&j->lock);
	t = trip_find(j, id);
	if (t)
		out = trip_json(t);
	pthread_mutex_unlock(&j->lock);
	return out;
}

json_t *journey_get_review(struct journey *j, long long review_id)
{
	json_t *out = NULL;
	size_t i;

	pthread_mutex_lock(&j->lock);
	for (i = 0; i < j->cfg.keep && review_id > 0 && !out; i++)
		if (j->trips[i].review_id == review_id)
			out = trip_json(&j->trips[i]);
	pthread_mutex_unlock(&j->lock);
	return out;
}

json_t *journey_delivery(struct journey *j)
{
	char delay[48];
	json_t *out;
	long long ms = j->cfg.backoff_delay_ms;

	if (ms % 1000 == 0)
		(void)snprintf(delay, sizeof(delay), "PT%lldS", ms / 1000);
	else
		(void)snprintf(delay, sizeof(delay), "PT%lld.%03lldS", ms / 1000, ms % 1000);
	pthread_mutex_lock(&j->lock);
	/* A copy: the answer is written out after the lock is let go, and a POST /journey
	 * changes the live senders object (and frees what it replaces) under the lock. */
	out = json_pack("{s:{s:I, s:s, s:s, s:I}, s:s?, s:o}", "delivery", "retry",
			(json_int_t)j->cfg.retry, "backoffPolicy", j->cfg.backoff_policy,
			"backoffDelay", delay, "backoffDelayMs", (json_int_t)ms, "traceUrl",
			j->cfg.trace_url, "senders", json_deep_copy(j->senders));
	pthread_mutex_unlock(&j->lock);
	return out;
}

/* ---- pages ----------------------------------------------------------------------------- */

int journey_follow_parse(const char *text, size_t len, int *follow, json_t **ids, struct buf *err)
{
	json_t *doc, *list = NULL, *v;
	const char *k = NULL;
	size_t i;
	int rc = ERR_BAD_REQUEST;

	*ids = NULL;
	if (len > WS_MAX_MESSAGE) { /* the hub closes on them (1009); this is for other callers */
		(void)buf_appendf(err, "a message is at most %zu bytes", WS_MAX_MESSAGE);
		return rc;
	}
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(doc) && json_object_size(doc) == 1) {
		k = json_object_iter_key(json_object_iter(doc));
		list = json_object_iter_value(json_object_iter(doc));
	}
	if (!k || (strcmp(k, "follow") != 0 && strcmp(k, "unfollow") != 0) ||
	    !json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > JOURNEY_FOLLOW_MAX) {
		(void)buf_appendf(err,
				  "expected {\"follow\": [ids]} or {\"unfollow\": [ids]} with "
				  "1 to %d ids",
				  JOURNEY_FOLLOW_MAX);
		goto out;
	}
	json_array_foreach(list, i, v)
	{
		if (!string_ok(v, JOURNEY_ID_MAX, 0) ||
		    !id_valid(json_string_value(v), json_string_length(v))) {
			(void)buf_appendf(err,
					  "ids[%zu] must be 1 to %d bytes without control "
					  "characters",
					  i, JOURNEY_ID_MAX);
			goto out;
		}
	}
	*follow = strcmp(k, "follow") == 0;
	*ids = json_incref(list);
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

static void send_error(struct ws_hub *hub, struct ws_client *c, const char *why)
{
	json_t *e = json_pack("{s:s, s:s}", "error", "bad_request", "message", why);
	char *s = json_dumps(e, JSON_COMPACT);

	if (s)
		ws_hub_send_text(hub, c, s, strlen(s));
	free(s);
	json_decref(e);
}

void journey_ws_text(void *arg, struct ws_hub *hub, struct ws_client *c, const char *text,
		     size_t len)
{
	struct journey *j = arg;
	struct buf err;
	json_t *ids, *v;
	struct trip *t;
	size_t i, n;
	int follow;
	char *s;

	buf_init(&err, 256);
	if (journey_follow_parse(text, len, &follow, &ids, &err)) {
		send_error(hub, c, err.data);
		buf_release(&err);
		return;
	}
	buf_release(&err);
	json_array_foreach(ids, i, v)
	{
		const char *id = json_string_value(v);

		if (!follow) {
			ws_hub_unfollow(hub, c, journey_topic(id));
			continue;
		}
		/* The state once, on a new follow, and only to a client that reads: a message that
		 * follows ids again, or a client that never reads, costs no rendering. */
		if (!ws_hub_follow(hub, c, journey_topic(id)) || !ws_hub_has_room(hub, c))
			continue;
		pthread_mutex_lock(&j->lock);
		t = trip_find(j, id);
		s = t ? trip_frame(t, &n) : NULL;
		pthread_mutex_unlock(&j->lock);
		if (s)
			ws_hub_send_text(hub, c, s, n);
		free(s);
	}
	json_decref(ids);
}
