/*
 * test_eventlog.c: the JSON-lines event log: append, tail (newest first, across chunk
 * boundaries, partial and bad lines), concurrent appenders, group commit and failures.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/eventlog.h"
#include "common/xalloc.h"

static char dir[64];
static char path[96];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_eventlog.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/" EVENTLOG_FILE, dir);
}

/* Removes the log and whatever the test left next to it (torn fragments moved aside). */
static void teardown(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char full[400];

	while (d && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(full, sizeof(full), "%s/%s", dir, de->d_name);
		unlink(full);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

TestSuite(eventlog, .init = setup, .fini = teardown);

static void write_file(const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(text, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static char *read_file(size_t *len)
{
	struct buf b;
	char tmp[4096];
	FILE *f = fopen(path, "rb");
	size_t n;

	cr_assert_not_null(f);
	buf_init(&b, BUF_NOCAP);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_append(&b, tmp, n);
	fclose(f);
	return buf_detach(&b, len);
}

/* Asserts that arr holds objects whose "n" members are want[0..nwant), in order. */
static void assert_ns(json_t *arr, const long long *want, size_t nwant, const char *what)
{
	cr_assert(json_is_array(arr), "%s: not an array", what);
	cr_assert_eq(json_array_size(arr), nwant, "%s: %zu records, want %zu", what,
		     json_array_size(arr), nwant);
	for (size_t i = 0; i < nwant; i++) {
		json_t *n = json_object_get(json_array_get(arr, i), "n");

		cr_assert(json_is_integer(n), "%s: record %zu has no n", what, i);
		cr_assert_eq(json_integer_value(n), want[i], "%s: record %zu is n=%lld, want %lld",
			     what, i, json_integer_value(n), want[i]);
	}
}

Test(eventlog, append_then_tail_newest_first)
{
	struct eventlog *log;
	json_t *arr;
	size_t len;
	char *text;
	static const long long want3[] = { 4, 3, 2 }, want_all[] = { 4, 3, 2, 1, 0 };

	cr_assert_eq(eventlog_open(path, EVENTLOG_FSYNC_BATCH, &log), 0);
	for (int i = 0; i < 5; i++) {
		json_t *rec = json_pack("{s:i, s:s}", "n", i, "text", "line\nwith newline");

		cr_assert_eq(eventlog_append(log, rec), 0);
		json_decref(rec);
	}
	cr_assert_eq(eventlog_tail(log, 3, SIZE_MAX, &arr), 0);
	assert_ns(arr, want3, 3, "limit 3");
	json_decref(arr);
	cr_assert_eq(eventlog_tail(log, 100, SIZE_MAX, &arr), 0);
	assert_ns(arr, want_all, 5, "limit 100");
	json_decref(arr);
	cr_assert_eq(eventlog_tail(log, 0, SIZE_MAX, &arr), 0);
	assert_ns(arr, NULL, 0, "limit 0");
	json_decref(arr);

	text = read_file(&len);
	cr_assert_eq(eventlog_size(log), (long long)len);
	cr_assert_str_eq(text, "{\"n\":0,\"text\":\"line\\nwith newline\"}\n"
			       "{\"n\":1,\"text\":\"line\\nwith newline\"}\n"
			       "{\"n\":2,\"text\":\"line\\nwith newline\"}\n"
			       "{\"n\":3,\"text\":\"line\\nwith newline\"}\n"
			       "{\"n\":4,\"text\":\"line\\nwith newline\"}\n");
	free(text);
	eventlog_close(log);
}

Test(eventlog, creates_file_0644_and_appends_to_existing)
{
	struct eventlog *log;
	struct stat st;
	json_t *rec = json_pack("{s:i}", "n", 7);
	json_t *arr;
	static const long long want[] = { 7, 1 };

	write_file("{\"n\":1}\n", 8);
	unlink(path);
	mode_t old = umask(0);
	cr_assert_eq(eventlog_open(path, EVENTLOG_FSYNC_NEVER, &log), 0);
	umask(old);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0644, "mode %o", (unsigned)(st.st_mode & 0777));
	eventlog_close(log);

	write_file("{\"n\":1}\n", 8);
	cr_assert_eq(eventlog_open(path, EVENTLOG_FSYNC_ALWAYS, &log), 0);
	cr_assert_eq(eventlog_append(log, rec), 0);
	cr_assert_eq(eventlog_tail(log, 10, SIZE_MAX, &arr), 0);
	assert_ns(arr, want, 2, "appended after existing");
	json_decref(arr);
	json_decref(rec);
	eventlog_close(log);
}

struct tail_row {
	const char *name;
	const char *file;
	size_t limit;
	long long want[4];
	size_t nwant;
};

static const struct tail_row tail_rows[] = {
	{ "empty file", "", 10, { 0 }, 0 },
	{ "one line", "{\"n\":1}\n", 10, { 1 }, 1 },
	{ "partial last line dropped", "{\"n\":1}\n{\"n\":2}", 10, { 1 }, 1 },
	{ "torn last line dropped", "{\"n\":1}\n{\"n\":2}\n{\"n\":", 10, { 2, 1 }, 2 },
	{ "only a partial line", "{\"n\":1}", 10, { 0 }, 0 },
	{ "garbage line skipped", "garbage\n{\"n\":2}\n", 10, { 2 }, 1 },
	{ "empty lines skipped", "\n\n{\"n\":1}\n\n", 10, { 1 }, 1 },
	{ "non-object skipped", "[1]\n{\"n\":2}\n\"s\"\n", 10, { 2 }, 1 },
	{ "limit cuts", "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n", 2, { 3, 2 }, 2 },
	{ "limit 1", "{\"n\":1}\n{\"n\":2}\n", 1, { 2 }, 1 },
	{ "first line without newline before", "{\"n\":1}\n", 1, { 1 }, 1 },
};

Test(eventlog, tail_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(tail_rows); i++) {
		const struct tail_row *r = &tail_rows[i];
		struct eventlog *log;
		json_t *arr;

		write_file(r->file, strlen(r->file));
		cr_assert_eq(eventlog_open(path, EVENTLOG_FSYNC_NEVER, &log), 0, "%s", r->name);
		cr_assert_eq(eventlog_tail(log, r->limit, SIZE_MAX, &arr), 0, "%s", r->name);
		assert_ns(arr, r->want, r->nwant, r->name);
		json_decref(arr);
		eventlog_close(log);
	}
}

/* Lines of very different lengths (some longer than a 64 KiB chunk) read back exactly. */
Test(eventlog, tail_across_chunk_boundaries)
{
	enum { N = 60 };
	struct buf file;
	struct eventlog *log;
	long long want[N];
	static const size_t limits[] = { 1, 2, 7, 31, N, N + 10 };

	buf_init(&file, BUF_NOCAP);
	for (int i = 0; i < N; i++) {
		size_t pad = ((size_t)i * 7919u) % 9000u;

		if (i % 13 == 5)
			pad = 70000 + (size_t)i * 1000; /* longer than a chunk */
		buf_appendf(&file, "{\"n\":%d,\"pad\":\"", i);
		for (size_t k = 0; k < pad; k++)
			buf_appendc(&file, (char)('a' + (k + (size_t)i) % 26));
		buf_appends(&file, "\"}\n");
	}
	buf_appends(&file, "{\"n\":999,\"pad\":\"partial"); /* a torn last line */
	write_file(file.data, file.len);
	cr_assert_gt(file.len, (size_t)8 * 64 * 1024);
	buf_release(&file);
	for (int i = 0; i < N; i++)
		want[i] = N - 1 - i;
	cr_assert_eq(eventlog_open(path, EVENTLOG_FSYNC_NEVER, &log), 0);
	for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
		json_t *arr;
		char what[32];
		size_t n = limits[i] < N ? limits[i] : N;

		snprintf(what, sizeof(what), "limit %zu", limits[i]);
		cr_assert_eq(eventlog_tail(log, limits[i], SIZE_MAX, &arr), 0);
		assert_ns(arr, want, n, what);
		json_decref(arr);
	}
	eventlog_close(log);
}

/* ---- concurrency ----------------------------------------------------------------------- */

enum { THREADS = 8, PER_THREAD = 60 };

struct appender {
	struct eventlog *log;
	int id;
	int check_durable;
	int failures;
	int not_durable;
};

static atomic_llong durable_size; /* file size when the last completed sync started */
static atomic_int sync_calls;

static int slow_sync(int fd, void *arg)
{
	struct stat st;
	struct timespec ts = { 0, 2000000L };

	(void)arg;
	if (fstat(fd, &st) != 0)
		return -1;
	nanosleep(&ts, NULL);
	atomic_fetch_add(&sync_calls, 1);
	if (st.st_size > atomic_load(&durable_size))
		atomic_store(&durable_size, st.st_size);
	return 0;
}

/* Whether token occurs in the first atomic durable_size bytes of the file. */
static int is_durable(const char *token)
{
	long long n = atomic_load(&durable_size);
	char *data = xmalloc((size_t)n + 1);
	int fd = open(path, O_RDONLY);
	ssize_t got = fd >= 0 ? pread(fd, data, (size_t)n, 0) : -1;
	int found;

	data[got > 0 ? got : 0] = '\0';
	found = got == n && strstr(data, token) != NULL;

	if (fd >= 0)
		close(fd);
	free(data);
	return found;
}

static void *append_thread(void *arg)
{
	struct appender *a = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		char token[32];
		json_t *rec;

		snprintf(token, sizeof(token), "\"t%d-%d\"", a->id, i);
		rec = json_pack("{s:i, s:i, s:s#}", "t", a->id, "i", i, "tok", token + 1,
				strlen(token) - 2);
		if (eventlog_append(a->log, rec) != 0)
			a->failures++;
		else if (a->check_durable && !is_durable(token))
			a->not_durable++;
		json_decref(rec);
	}
	return NULL;
}

static void run_appenders(struct eventlog *log, struct appender *a, int check_durable)
{
	pthread_t th[THREADS];

	for (int t = 0; t < THREADS; t++) {
		a[t] = (struct appender){ .log = log, .id = t, .check_durable = check_durable };
		cr_assert_eq(pthread_create(&th[t], NULL, append_thread, &a[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
}

/* Every line from every thread is present exactly once and whole, in all three modes. */
Test(eventlog, concurrent_appenders_exactly_once)
{
	for (int mode = 0; mode <= 2; mode++) {
		struct eventlog *log;
		struct appender a[THREADS];
		int seen[THREADS][PER_THREAD] = { { 0 } };
		json_t *arr, *rec;
		size_t i;

		unlink(path);
		cr_assert_eq(eventlog_open(path, (enum eventlog_fsync)mode, &log), 0);
		run_appenders(log, a, 0);
		for (int t = 0; t < THREADS; t++)
			cr_assert_eq(a[t].failures, 0);
		cr_assert_eq(eventlog_tail(log, EVENTLOG_MAX_LIMIT, SIZE_MAX, &arr), 0);
		cr_assert_eq(json_array_size(arr), (size_t)THREADS * PER_THREAD,
			     "mode %s: %zu lines", eventlog_fsync_names[mode],
			     json_array_size(arr));
		json_array_foreach(arr, i, rec)
		{
			long long t = json_integer_value(json_object_get(rec, "t"));
			long long k = json_integer_value(json_object_get(rec, "i"));

			cr_assert(t >= 0 && t < THREADS && k >= 0 && k < PER_THREAD);
			seen[t][k]++;
		}
		for (int t = 0; t < THREADS; t++)
			for (int k = 0; k < PER_THREAD; k++)
				cr_assert_eq(seen[t][k], 1, "mode %s: t%d-%d seen %d times",
					     eventlog_fsync_names[mode], t, k, seen[t][k]);
		if (mode == EVENTLOG_FSYNC_NEVER)
			cr_assert_eq(eventlog_syncs(log), 0);
		if (mode == EVENTLOG_FSYNC_ALWAYS)
			cr_assert_eq(eventlog_syncs(log), (unsigned long long)THREADS * PER_THREAD);
		json_decref(arr);
		eventlog_close(log);
	}
}

/* batch: slow syncs are shared by many lines, and no append returns before its line is synced. */
Test(eventlog, group_commit_shares_syncs_and_is_durable)
{
	struct eventlog *log;
	struct appender a[THREADS];
	unsigned long long syncs;

	atomic_store(&durable_size, 0);
	atomic_store(&sync_calls, 0);
	cr_assert_eq(eventlog_open(path, EVENTLOG_FSYNC_BATCH, &log), 0);
	eventlog_set_sync(log, slow_sync, NULL);
	run_appenders(log, a, 1);
	syncs = eventlog_syncs(log);
	for (int t = 0; t < THREADS; t++) {
		cr_assert_eq(a[t].failures, 0);
		cr_assert_eq(a[t].not_durable, 0,
			     "thread %d: %d appends returned before their sync", t,
			     a[t].not_durable);
	}
	cr_assert_eq(syncs, (unsigned long long)atomic_load(&sync_calls));
	cr_assert_geq(syncs, 1);
	/* 8 appenders against a 2 ms sync: most syncs must carry several lines. */
	cr_assert_lt(syncs, THREADS * PER_THREAD / 3, "%llu syncs for %d lines", syncs,
		     THREADS * PER_THREAD);
	cr_assert_eq(atomic_load(&durable_size), eventlog_size(log));
	eventlog_close(log);
}

/* ---- failures -------------------------------------------------------------------------- */

static int failing_sync(int fd, void *arg)
{
	(void)fd;
	(*(int *)arg)++;
	errno = EIO;
	return -1;
}

Test(eventlog, sync_failure_is_sticky)
{
	for (int mode = 0; mode <= 1; mode++) {
		struct eventlog *log;
		struct buf reason;
		json_t *rec = json_pack("{s:i}", "n", 1);
		int calls = 0;

		unlink(path);
		cr_assert_eq(eventlog_open(path, (enum eventlog_fsync)mode, &log), 0);
		eventlog_set_sync(log, failing_sync, &calls);
		buf_init(&reason, BUF_NOCAP);
		cr_assert_eq(eventlog_check(log, &reason), 0);
		cr_assert_eq(eventlog_append(log, rec), ERR_IO);
		cr_assert_eq(eventlog_append(log, rec), ERR_IO);
		cr_assert_eq(calls, 1, "a second append must not sync again (got %d)", calls);
		cr_assert_eq(eventlog_check(log, &reason), -1);
		cr_assert(strstr(reason.data, "sync failed") != NULL, "%s", reason.data);
		buf_release(&reason);
		json_decref(rec);
		eventlog_close(log);
	}
}

/* A failure names the log's own file: bad-reviews.log's said "events.log", which was 0 bytes. */
Test(eventlog, a_failure_names_its_own_file)
{
	char other[128];
	struct eventlog *log;
	struct buf reason;
	json_t *rec = json_pack("{s:i}", "n", 1);
	int calls = 0;

	snprintf(other, sizeof(other), "%s/bad-reviews.log", dir);
	cr_assert_eq(eventlog_open(other, EVENTLOG_FSYNC_BATCH, &log), 0);
	eventlog_set_sync(log, failing_sync, &calls);
	cr_assert_eq(eventlog_append(log, rec), ERR_IO);
	buf_init(&reason, BUF_NOCAP);
	cr_assert_eq(eventlog_check(log, &reason), -1);
	cr_assert_eq(strncmp(reason.data, "bad-reviews.log: ", 17), 0, "%s", reason.data);
	buf_release(&reason);
	json_decref(rec);
	eventlog_close(log);
	unlink(other);
}

Test(eventlog, write_failure_is_err_io)
{
	struct eventlog *log;
	json_t *rec = json_pack("{s:i}", "n", 1);

	if (access("/dev/full", W_OK) != 0)
		cr_skip_test("/dev/full is not writable here");
	cr_assert_eq(symlink("/dev/full", path), 0);
	cr_assert_eq(eventlog_open(path, EVENTLOG_FSYNC_BATCH, &log), 0);
	cr_assert_eq(eventlog_append(log, rec), ERR_IO);
	cr_assert_eq(errno, ENOSPC);
	json_decref(rec);
	eventlog_close(log);
}

Test(eventlog, open_missing_directory_fails)
{
	struct eventlog *log = (struct eventlog *)&log;
	char bad[160];

	snprintf(bad, sizeof(bad), "%s/no/such/dir/" EVENTLOG_FILE, dir);
	cr_assert_eq(eventlog_open(bad, EVENTLOG_FSYNC_BATCH, &log), ERR_IO);
	cr_assert_eq(errno, ENOENT);
	cr_assert_null(log);
}

/*
 * GET /events is bounded in bytes: the newest lines that fit max_bytes (newline included),
 * stopping at the first that does not, also when it is longer than the read chunk.
 */
Test(eventlog, tail_stops_at_the_byte_budget)
{
	/* Three lines of 8 bytes ({"n":1}\n ...), then one of 100008 bytes, then one of 8. */
	struct buf file;
	struct eventlog *log;
	json_t *arr;
	static const struct {
		size_t limit, max_bytes, want_n;
	} rows[] = {
		{ 10, 8, 1 },	     /* exactly the newest line */
		{ 10, 7, 0 },	     /* not even the newest line: nothing */
		{ 10, 100016, 2 },   /* the newest and the big one */
		{ 10, 100015, 1 },   /* the big one does not fit: stop there */
		{ 10, 100040, 5 },   /* everything */
		{ 3, 100040, 3 },    /* the count limit still applies */
		{ 10, SIZE_MAX, 5 }, /* no budget */
	};

	buf_init(&file, BUF_NOCAP);
	buf_appendf(&file, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":\"");
	for (int i = 0; i < 100000 - 7; i++)
		buf_appendc(&file, 'x');
	buf_appendf(&file, "\",\"k\":1}\n{\"n\":5}\n");
	cr_assert_eq(file.len, 24 + 100008 + 8, "%zu", file.len);
	write_file(file.data, file.len);
	cr_assert_eq(eventlog_open(path, EVENTLOG_FSYNC_NEVER, &log), 0);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		cr_assert_eq(eventlog_tail(log, rows[i].limit, rows[i].max_bytes, &arr), 0);
		cr_assert_eq(json_array_size(arr), rows[i].want_n,
			     "limit %zu, %zu bytes: %zu records, want %zu", rows[i].limit,
			     rows[i].max_bytes, json_array_size(arr), rows[i].want_n);
		if (rows[i].want_n > 0)
			cr_assert_eq(
			    json_integer_value(json_object_get(json_array_get(arr, 0), "n")), 5);
		json_decref(arr);
	}
	eventlog_close(log);
	buf_release(&file);
}

/*
 * Finds the one "events.log.torn-*" file in dir (none: returns NULL), returns its bytes and
 * removes it; asserts there is at most one.
 */
static char *take_aside(size_t *len)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *found = NULL;

	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL) {
		char full[400];
		struct buf b;
		char tmp[4096];
		FILE *f;
		size_t n;

		if (strncmp(de->d_name, EVENTLOG_FILE ".torn-", strlen(EVENTLOG_FILE ".torn-")) !=
		    0)
			continue;
		cr_assert_null(found, "more than one torn file");
		snprintf(full, sizeof(full), "%s/%s", dir, de->d_name);
		f = fopen(full, "rb");
		cr_assert_not_null(f);
		buf_init(&b, BUF_NOCAP);
		while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
			buf_append(&b, tmp, n);
		fclose(f);
		unlink(full);
		found = buf_detach(&b, len);
	}
	closedir(d);
	return found;
}

struct torn_row {
	const char *name;
	const char *kept; /* the whole lines before the tear */
	const char *torn; /* the fragment after them ("" = none) */
	size_t pad;	  /* extra 'x' bytes appended to torn (a fragment longer than a chunk) */
};

static const struct torn_row torn_rows[] = {
	{ "empty file", "", "", 0 },
	{ "whole lines", "{\"n\":1}\n{\"n\":2}\n", "", 0 },
	{ "torn after whole lines", "{\"n\":1}\n", "{\"n\":2,\"te", 0 },
	{ "only a fragment", "", "{\"n\":", 0 },
	{ "fragment that is valid JSON without its newline", "{\"n\":1}\n", "{\"n\":2}", 0 },
	{ "fragment longer than a read chunk", "{\"n\":1}\n", "{\"n\":\"", 200 * 1024 },
	{ "fragment of newline-free garbage across chunks", "", "garbage", 130 * 1024 },
};

/*
 * Opening a log with a torn last line moves the fragment aside and cuts the log back to its
 * last newline, so the next append is a line of its own and every line parses.
 */
Test(eventlog, open_repairs_a_torn_tail)
{
	for (size_t i = 0; i < ARRAY_SIZE(torn_rows); i++) {
		const struct torn_row *r = &torn_rows[i];
		struct buf want_torn, file;
		struct eventlog *log;
		json_t *rec = json_pack("{s:i}", "n", 9);
		json_t *arr;
		char *text, *aside;
		size_t len, alen = 0;

		buf_init(&want_torn, BUF_NOCAP);
		buf_appendf(&want_torn, "%s", r->torn);
		for (size_t k = 0; k < r->pad; k++)
			buf_appendc(&want_torn, 'x');
		buf_init(&file, BUF_NOCAP);
		buf_appendf(&file, "%s", r->kept);
		buf_append(&file, want_torn.data, want_torn.len);
		write_file(file.data ? file.data : "", file.len);

		cr_assert_eq(eventlog_open(path, EVENTLOG_FSYNC_BATCH, &log), 0, "%s", r->name);
		cr_assert_eq(eventlog_append(log, rec), 0, "%s", r->name);
		text = read_file(&len);
		cr_assert_eq(len, strlen(r->kept) + 8, "%s: log is %zu bytes", r->name, len);
		cr_assert_eq(memcmp(text, r->kept, strlen(r->kept)), 0, "%s: kept lines", r->name);
		cr_assert_eq(memcmp(text + strlen(r->kept), "{\"n\":9}\n", 8), 0,
			     "%s: the new record is a line of its own", r->name);
		cr_assert_eq(eventlog_tail(log, 10, SIZE_MAX, &arr), 0);
		cr_assert_eq(json_integer_value(json_object_get(json_array_get(arr, 0), "n")), 9,
			     "%s: tail sees the new record", r->name);
		json_decref(arr);

		aside = take_aside(&alen);
		if (want_torn.len == 0) {
			cr_assert_null(aside, "%s: nothing to move aside", r->name);
		} else {
			cr_assert_not_null(aside, "%s: the fragment is kept next to the log",
					   r->name);
			cr_assert_eq(alen, want_torn.len, "%s: fragment of %zu bytes", r->name,
				     alen);
			cr_assert_eq(memcmp(aside, want_torn.data, alen), 0, "%s", r->name);
		}
		free(aside);
		free(text);
		buf_release(&want_torn);
		buf_release(&file);
		json_decref(rec);
		eventlog_close(log);
	}
}

/*
 * A torn tail that cannot be moved aside fails the open and leaves the log untouched: here a
 * log name of 250 bytes, so "<name>.torn-<time>" is longer than a file name may be.
 */
Test(eventlog, open_fails_when_the_fragment_cannot_be_kept)
{
	static const char text[] = "{\"n\":1}\n{\"n\":";
	struct eventlog *log = (struct eventlog *)&log;
	char name[251], longpath[400];
	struct stat st;
	FILE *f;

	memset(name, 'e', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(longpath, sizeof(longpath), "%s/%s", dir, name);
	f = fopen(longpath, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(text, 1, sizeof(text) - 1, f), sizeof(text) - 1);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(eventlog_open(longpath, EVENTLOG_FSYNC_BATCH, &log), ERR_IO);
	cr_assert_eq(errno, ENAMETOOLONG);
	cr_assert_null(log);
	cr_assert_eq(stat(longpath, &st), 0);
	cr_assert_eq(st.st_size, (off_t)sizeof(text) - 1, "the log is left as it was");
	unlink(longpath);
}

struct limit_row {
	const char *text;
	int rc;
	size_t want;
};

static const struct limit_row limit_rows[] = {
	{ NULL, 0, 100 },
	{ "1", 0, 1 },
	{ "1000", 0, 1000 },
	{ "0100", 0, 100 },
	{ "0", ERR_BAD_REQUEST, 0 },
	{ "1001", ERR_BAD_REQUEST, 0 },
	{ "", ERR_BAD_REQUEST, 0 },
	{ "-1", ERR_BAD_REQUEST, 0 },
	{ "+5", ERR_BAD_REQUEST, 0 },
	{ "5x", ERR_BAD_REQUEST, 0 },
	{ " 5", ERR_BAD_REQUEST, 0 },
	{ "99999", ERR_BAD_REQUEST, 0 },
	{ "1e3", ERR_BAD_REQUEST, 0 },
};

Test(eventlog, limit_parse_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(limit_rows); i++) {
		const struct limit_row *r = &limit_rows[i];
		size_t got = 12345;

		cr_assert_eq(eventlog_limit_parse(r->text, &got), r->rc, "'%s'",
			     r->text ? r->text : "(null)");
		cr_assert_eq(got, r->rc == 0 ? r->want : 12345, "'%s' -> %zu",
			     r->text ? r->text : "(null)", got);
	}
}
