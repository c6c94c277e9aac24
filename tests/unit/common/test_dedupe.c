/*
 * test_dedupe.c: file-sink's saved-keys set: claim / commit / abort, (source, id) keys,
 * first-in-first-out eviction at the bound, waiting on a pending claim, the rebuild from
 * events.log, and memory that does not follow the length of the ids.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <malloc.h>
#if defined(__SANITIZE_ADDRESS__)
#define ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN_BUILD 1
#endif
#endif
#ifdef ASAN_BUILD
/* From ASan's sanitizer/allocator_interface.h, which gcc does not install. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/dedupe.h"
#include "common/err.h"
#include "common/xalloc.h"

enum op { BEGIN, COMMIT, ABORT, ADD, COUNT };

struct step {
	enum op op;
	const char *source, *id;
	int want; /* BEGIN: enum dedupe_state; COUNT: dedupe_count() */
};

struct script {
	const char *name;
	size_t capacity;
	struct step steps[16];
	size_t nsteps;
};

#define S(...) { __VA_ARGS__ }, sizeof((struct step[]){ __VA_ARGS__ }) / sizeof(struct step)

static const struct script scripts[] = {
	{ "new, then saved after commit", 4,
	  S({ BEGIN, "s", "1", DEDUPE_NEW }, { COMMIT, "s", "1", 0 },
	    { BEGIN, "s", "1", DEDUPE_SAVED }, { COUNT, NULL, NULL, 1 }) },
	{ "abort drops the claim", 4,
	  S({ BEGIN, "s", "1", DEDUPE_NEW }, { ABORT, "s", "1", 0 }, { COUNT, NULL, NULL, 0 },
	    { BEGIN, "s", "1", DEDUPE_NEW }, { COMMIT, "s", "1", 0 },
	    { BEGIN, "s", "1", DEDUPE_SAVED }) },
	{ "the key is (source, id), not id alone", 4,
	  S({ ADD, "a", "1", 0 }, { BEGIN, "b", "1", DEDUPE_NEW }, { BEGIN, "a", "2", DEDUPE_NEW },
	    { BEGIN, "a", "1", DEDUPE_SAVED }) },
	{ "no confusion across the source/id boundary", 4,
	  S({ ADD, "ab", "c", 0 }, { BEGIN, "a", "bc", DEDUPE_NEW },
	    { BEGIN, "abc", "", DEDUPE_NEW }, { BEGIN, "ab", "c", DEDUPE_SAVED }) },
	{ "bytes compare exactly (case, spaces)", 4,
	  S({ ADD, "s", "ID", 0 }, { BEGIN, "s", "id", DEDUPE_NEW },
	    { BEGIN, "s", "ID ", DEDUPE_NEW }, { BEGIN, "S", "ID", DEDUPE_NEW }) },
	{ "the oldest saved key is evicted at the bound", 2,
	  S({ ADD, "s", "1", 0 }, { ADD, "s", "2", 0 }, { ADD, "s", "3", 0 },
	    { COUNT, NULL, NULL, 2 }, { BEGIN, "s", "2", DEDUPE_SAVED },
	    { BEGIN, "s", "3", DEDUPE_SAVED }, { BEGIN, "s", "1", DEDUPE_NEW }) },
	{ "adding a saved key again neither evicts nor counts twice", 2,
	  S({ ADD, "s", "1", 0 }, { ADD, "s", "2", 0 }, { ADD, "s", "1", 0 },
	    { COMMIT, "s", "2", 0 }, { COUNT, NULL, NULL, 2 }, { BEGIN, "s", "1", DEDUPE_SAVED },
	    { BEGIN, "s", "2", DEDUPE_SAVED }) },
	{ "pending claims are not evicted and do not count", 1,
	  S({ BEGIN, "s", "p", DEDUPE_NEW }, { ADD, "s", "1", 0 }, { ADD, "s", "2", 0 },
	    { COUNT, NULL, NULL, 1 }, { COMMIT, "s", "p", 0 }, { BEGIN, "s", "p", DEDUPE_SAVED },
	    { BEGIN, "s", "2", DEDUPE_NEW }) },
	{ "capacity 0 behaves as 1", 0,
	  S({ ADD, "s", "1", 0 }, { ADD, "s", "2", 0 }, { COUNT, NULL, NULL, 1 },
	    { BEGIN, "s", "2", DEDUPE_SAVED }) },
};

Test(dedupe, scripted_sequences)
{
	for (size_t i = 0; i < ARRAY_SIZE(scripts); i++) {
		const struct script *sc = &scripts[i];
		struct dedupe *d = dedupe_new(sc->capacity);

		for (size_t k = 0; k < sc->nsteps; k++) {
			const struct step *st = &sc->steps[k];

			switch (st->op) {
			case BEGIN:
				cr_assert_eq((int)dedupe_begin(d, st->source, st->id, NULL),
					     st->want, "%s: step %zu begin(%s, %s)", sc->name, k,
					     st->source, st->id);
				break;
			case COMMIT:
				dedupe_commit(d, st->source, st->id, NULL);
				break;
			case ABORT:
				dedupe_abort(d, st->source, st->id, NULL);
				break;
			case ADD:
				dedupe_add(d, st->source, st->id, NULL);
				break;
			case COUNT:
				cr_assert_eq(dedupe_count(d), (size_t)st->want,
					     "%s: step %zu count", sc->name, k);
				break;
			}
		}
		dedupe_free(d);
	}
}

Test(dedupe, keeps_exactly_the_newest_keys)
{
	struct dedupe *d = dedupe_new(1000);
	char id[32];

	for (int i = 0; i < 5000; i++) {
		(void)snprintf(id, sizeof(id), "ev-%d", i);
		cr_assert_eq(dedupe_begin(d, "src", id, NULL), DEDUPE_NEW);
		dedupe_commit(d, "src", id, NULL);
	}
	cr_assert_eq(dedupe_count(d), 1000);
	for (int i = 0; i < 5000; i++) {
		enum dedupe_state want = i >= 4000 ? DEDUPE_SAVED : DEDUPE_NEW;

		(void)snprintf(id, sizeof(id), "ev-%d", i);
		cr_assert_eq(dedupe_begin(d, "src", id, NULL), want, "ev-%d", i);
		if (want == DEDUPE_NEW)
			dedupe_abort(d, "src", id, NULL);
	}
	cr_assert_eq(dedupe_count(d), 1000);
	dedupe_free(d);
}

struct racer {
	struct dedupe *d;
	enum dedupe_state got;
};

static void *second_delivery(void *arg)
{
	struct racer *r = arg;

	r->got = dedupe_begin(r->d, "s", "same", NULL);
	if (r->got == DEDUPE_NEW)
		dedupe_abort(r->d, "s", "same", NULL);
	return NULL;
}

/*
 * A second delivery of a key in flight waits, then sees how the first one ended. The claim is
 * settled only once the second delivery is seen waiting (dedupe_waiting()), so the test checks
 * the wait itself, on every run; Criterion's timeout ends it if the thread never waits.
 */
Test(dedupe, second_delivery_waits_for_the_first, .timeout = 30)
{
	static const struct {
		bool commit;
		enum dedupe_state want;
	} rows[] = { { true, DEDUPE_SAVED }, { false, DEDUPE_NEW } };

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct racer r = { dedupe_new(8), (enum dedupe_state) - 1 };
		pthread_t t;

		cr_assert_eq(dedupe_begin(r.d, "s", "same", NULL), DEDUPE_NEW);
		cr_assert_eq(pthread_create(&t, NULL, second_delivery, &r), 0);
		while (dedupe_waiting(r.d) == 0)
			sched_yield(); /* until the second delivery blocks on the claim */
		cr_assert_eq(r.got, (enum dedupe_state) - 1, "it has not returned while waiting");
		if (rows[i].commit)
			dedupe_commit(r.d, "s", "same", NULL);
		else
			dedupe_abort(r.d, "s", "same", NULL);
		cr_assert_eq(pthread_join(t, NULL), 0);
		cr_assert_eq(r.got, rows[i].want, "row %zu", i);
		dedupe_free(r.d);
	}
}

static const char log_text[] =
    /* saved: loaded */
    "{\"time\":\"t\",\"outcome\":\"saved\",\"event\":{\"id\":\"a\",\"source\":\"s\"}}\n"
    /* error simulated and duplicate: not saved by this attempt */
    "{\"time\":\"t\",\"outcome\":\"error simulated\",\"event\":{\"id\":\"b\",\"source\":"
    "\"s\"}}\n"
    "{\"time\":\"t\",\"outcome\":\"duplicate\",\"event\":{\"id\":\"c\",\"source\":\"s\"}}\n"
    /* rejected: no event */
    "{\"time\":\"t\",\"outcome\":\"rejected\",\"error\":\"missing required attribute\"}\n"
    /* not JSON, mentions "saved" */
    "garbage \"saved\" garbage\n"
    "\n"
    /* saved without an id, with a non-string source */
    "{\"outcome\":\"saved\",\"event\":{\"source\":\"s\"}}\n"
    "{\"outcome\":\"saved\",\"event\":{\"id\":\"e\",\"source\":7}}\n"
    /* an event whose data says "saved" is not a saved line */
    "{\"outcome\":\"error simulated\",\"event\":{\"id\":\"f\",\"source\":\"s\","
    "\"data\":{\"x\":\"saved\"}}}\n"
    /* saved, other source, spaces in the JSON */
    "{ \"outcome\" : \"saved\", \"event\" : { \"source\" : \"t\", \"id\" : \"a\" } }\n"
    /* a torn last line (no newline): the write was cut by a crash */
    "{\"time\":\"t\",\"outcome\":\"saved\",\"event\":{\"id\":\"g\",\"source\":\"s\"}}";

static const struct {
	const char *source, *id;
	enum dedupe_state want;
} loaded_rows[] = {
	{ "s", "a", DEDUPE_SAVED }, { "t", "a", DEDUPE_SAVED }, { "s", "b", DEDUPE_NEW },
	{ "s", "c", DEDUPE_NEW },   { "s", "e", DEDUPE_NEW },	{ "s", "f", DEDUPE_NEW },
	{ "s", "g", DEDUPE_NEW },
};

/* file-sink's key function (services/file-sink/main.c): the "saved" lines only. */
static int saved_key(json_t *rec, const char **source, const char **id, const char **scope)
{
	const char *outcome = json_string_value(json_object_get(rec, "outcome"));
	json_t *ev = json_object_get(rec, "event");

	if (!outcome || strcmp(outcome, "saved") != 0)
		return 0;
	*source = json_string_value(json_object_get(ev, "source"));
	*id = json_string_value(json_object_get(ev, "id"));
	*scope = NULL;
	return 1;
}

/* The scope is part of the key; NULL and "" are the same scope. */
Test(dedupe, scope_is_part_of_the_key)
{
	struct dedupe *d = dedupe_new(8);

	cr_assert_eq(dedupe_begin(d, "s", "a", "http://x/insert"), DEDUPE_NEW);
	dedupe_commit(d, "s", "a", "http://x/insert");
	cr_assert_eq(dedupe_begin(d, "s", "a", "http://x/insert"), DEDUPE_SAVED);
	cr_assert_eq(dedupe_begin(d, "s", "a", "http://y"), DEDUPE_NEW);
	dedupe_abort(d, "s", "a", "http://y");
	cr_assert_eq(dedupe_begin(d, "s", "a", NULL), DEDUPE_NEW);
	dedupe_commit(d, "s", "a", NULL);
	cr_assert_eq(dedupe_begin(d, "s", "a", ""), DEDUPE_SAVED);
	cr_assert_eq(dedupe_begin(d, "s", "ahttp://y", NULL), DEDUPE_NEW, "id and scope are apart");
	dedupe_abort(d, "s", "ahttp://y", NULL);
	cr_assert_eq(dedupe_count(d), 2);
	dedupe_free(d);
}

Test(dedupe, load_rebuilds_from_saved_lines)
{
	char path[] = "/tmp/test_dedupe_XXXXXX";
	int fd = mkstemp(path);
	struct dedupe *d = dedupe_new(100);
	size_t n = 99;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, log_text, sizeof(log_text) - 1), (ssize_t)sizeof(log_text) - 1);
	cr_assert_eq(close(fd), 0);
	cr_assert_eq(dedupe_load(d, path, saved_key, &n), 0);
	(void)unlink(path);
	cr_assert_eq(n, 2);
	cr_assert_eq(dedupe_count(d), 2);
	for (size_t i = 0; i < ARRAY_SIZE(loaded_rows); i++) {
		enum dedupe_state got =
		    dedupe_begin(d, loaded_rows[i].source, loaded_rows[i].id, NULL);

		cr_assert_eq(got, loaded_rows[i].want, "(%s, %s)", loaded_rows[i].source,
			     loaded_rows[i].id);
		if (got == DEDUPE_NEW)
			dedupe_abort(d, loaded_rows[i].source, loaded_rows[i].id, NULL);
	}
	dedupe_free(d);
}

/* Rebuilding a log longer than the bound keeps its newest keys. */
Test(dedupe, load_keeps_the_newest_when_over_the_bound)
{
	char path[] = "/tmp/test_dedupe_XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct dedupe *d = dedupe_new(10);
	size_t n = 0;

	cr_assert_not_null(f);
	for (int i = 0; i < 50; i++)
		fprintf(f, "{\"outcome\":\"saved\",\"event\":{\"id\":\"%d\",\"source\":\"s\"}}\n",
			i);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(dedupe_load(d, path, saved_key, &n), 0);
	(void)unlink(path);
	cr_assert_eq(n, 50);
	cr_assert_eq(dedupe_count(d), 10);
	cr_assert_eq(dedupe_begin(d, "s", "49", NULL), DEDUPE_SAVED);
	cr_assert_eq(dedupe_begin(d, "s", "40", NULL), DEDUPE_SAVED);
	cr_assert_eq(dedupe_begin(d, "s", "39", NULL), DEDUPE_NEW);
	dedupe_abort(d, "s", "39", NULL);
	dedupe_free(d);
}

static const struct {
	const char *path;
	int want;
} load_errors[] = {
	{ "/nonexistent-dir/events.log", 0 }, /* a first start: nothing to rebuild */
	{ "/dev/full", 0 },		      /* endless zeros: only a regular file is read */
	{ "/tmp", 0 },
	{ "/etc/passwd/events.log", ERR_IO }, /* cannot be opened (ENOTDIR) */
};

Test(dedupe, load_missing_or_special_file_is_empty_unopenable_is_an_error)
{
	for (size_t i = 0; i < ARRAY_SIZE(load_errors); i++) {
		struct dedupe *d = dedupe_new(4);
		size_t n = 7;

		cr_assert_eq(dedupe_load(d, load_errors[i].path, saved_key, &n),
			     load_errors[i].want, "%s", load_errors[i].path);
		cr_assert_eq(n, 0);
		cr_assert_eq(dedupe_count(d), 0);
		dedupe_free(d);
	}
}

/* Bytes the allocator has handed out and not got back: ASan's count, or glibc's. */
static size_t heap_in_use(void)
{
#ifdef ASAN_BUILD
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
#endif
}

/*
 * Keys cost a fixed size, whatever the length of the id: 150 events with 500 KB ids (75 MB of
 * ids, the measurement) leave the set's heap within 150 * DEDUPE_ENTRY_BYTES, plus
 * slack for the allocator, of what it was before.
 */
Test(dedupe, memory_does_not_follow_the_id_length)
{
	enum { N = 150, ID_BYTES = 500 * 1000 };
	struct dedupe *d = dedupe_new(1000);
	char *id = malloc(ID_BYTES + 16);
	size_t before, after;

	cr_assert_not_null(id);
	memset(id, 'x', ID_BYTES);
	before = heap_in_use();
	for (int i = 0; i < N; i++) {
		snprintf(id + ID_BYTES, 16, "-%d", i);
		cr_assert_eq(dedupe_begin(d, "/bookstore/reviews", id, NULL), DEDUPE_NEW);
		dedupe_commit(d, "/bookstore/reviews", id, NULL);
	}
	after = heap_in_use();
	cr_assert_eq(dedupe_count(d), N);
	cr_assert_leq(after - before, (size_t)N * DEDUPE_ENTRY_BYTES + 4096,
		      "the set grew by %zu bytes for %d keys", after - before, N);
	snprintf(id + ID_BYTES, 16, "-%d", N - 1);
	cr_assert_eq(dedupe_begin(d, "/bookstore/reviews", id, NULL), DEDUPE_SAVED);
	free(id);
	dedupe_free(d);
}
