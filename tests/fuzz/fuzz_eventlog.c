/*
 * fuzz_eventlog: an events.log as a sink finds it when it starts again after a crash. The
 * input's first two bytes choose a GET /events limit (1..16) and byte budget (1..1021); the
 * rest is the file. sink_open() repairs a torn tail and rebuilds the dedupe set from the file
 * (with file-sink's key: the event of each "saved" record); then eventlog_tail() reads it
 * backwards and one record is appended. Invariants, each against a forward reading of the
 * same bytes:
 *   - the log keeps exactly the bytes up to its last newline; a torn fragment after it is
 *     moved to one "events.log.torn-*" file, byte for byte, and nothing is moved otherwise;
 *   - the dedupe set holds the key of every whole line, and no other key;
 *   - the tail is the newest JSON-object lines, newest first, stopping at the limit or at
 *     the first line past the budget;
 *   - the appended record starts a line of its own: the tail reads it back.
 * The files live in a private directory under /dev/shm (else $TMPDIR or /tmp), emptied after
 * every input.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/dedupe.h"
#include "common/eventlog.h"
#include "common/log.h"
#include "common/sink.h"
#include "common/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TORN_PREFIX EVENTLOG_FILE ".torn-"

static char work[256]; /* the private directory, made at the first input */

static void remove_dir(void)
{
	(void)rmdir(work); /* empty: every input's files are gone */
}

static const char *work_dir(void)
{
	struct stat st;
	const char *base = getenv("TMPDIR");

	if (work[0])
		return work;
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
		base = "/dev/shm";
	snprintf(work, sizeof(work), "%s/fuzz_eventlog.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(work))
		abort();
	atexit(remove_dir);
	return work;
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		abort();
}

static void read_file(const char *path, struct buf *out)
{
	struct buf err;

	buf_init(&err, 1024);
	buf_reset(out);
	if (buf_read_file(out, path, &err) != 0)
		abort();
	buf_release(&err);
}

/* Checks the one torn-fragment file against frag[0..n) (none when n is 0) and removes it. */
static void check_aside(const char *dir, const uint8_t *frag, size_t n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct buf got;
	int found = 0;

	if (!d)
		abort();
	buf_init(&got, BUF_NOCAP);
	while ((e = readdir(d))) {
		char *path;

		if (strncmp(e->d_name, TORN_PREFIX, strlen(TORN_PREFIX)))
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		read_file(path, &got);
		if (found++ || got.len != n || memcmp(got.data, frag, n))
			abort();
		unlink(path);
		free(path);
	}
	closedir(d);
	if (found != (n > 0))
		abort();
	buf_release(&got);
}

static int saved_key(json_t *rec, const char **source, const char **id, const char **scope)
{
	*scope = NULL;
	return sink_outcome_key(rec, "saved", source, id);
}

/* The set holds the keys of the whole lines of log[0..n), and only those. */
static void check_dedupe(struct dedupe *set, const char *log, size_t n)
{
	const char *p = log, *end = log + n;
	json_t *keys = json_object(); /* "<length of source>:<source>:<id>" of each key */

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *source = NULL, *id = NULL, *scope = NULL;
		json_t *rec = json_loadb(p, (size_t)(nl - p), 0, NULL);

		if (rec && saved_key(rec, &source, &id, &scope) && source && id) {
			char *k = xasprintf("%zu:%s:%s", strlen(source), source, id);

			json_object_set_new(keys, k, json_true());
			free(k);
			if (dedupe_begin(set, source, id, scope) != DEDUPE_SAVED)
				abort();
		}
		json_decref(rec);
		p = nl + 1;
	}
	if (dedupe_count(set) != json_object_size(keys))
		abort();
	json_decref(keys);
}

/* What eventlog_tail(limit, budget) must return for log[0..n), read forwards. */
static json_t *expected_tail(const char *log, size_t n, size_t limit, size_t budget)
{
	json_t *want = json_array();
	const char *end = log + n;

	while (end > log && json_array_size(want) < limit) {
		const char *start = end - 1; /* end - 1 is the newline ending this line */
		json_t *rec;
		size_t len;

		while (start > log && start[-1] != '\n')
			start--;
		len = (size_t)(end - 1 - start);
		end = start;
		if (len == 0)
			continue;
		if (len + 1 > budget)
			break;
		rec = json_loadb(start, len, JSON_REJECT_DUPLICATES, NULL);
		if (json_is_object(rec)) {
			json_array_append(want, rec);
			budget -= len + 1;
		}
		json_decref(rec);
	}
	return want;
}

static void check_tail(struct eventlog *log, const char *bytes, size_t n, size_t limit,
		       size_t budget)
{
	json_t *got = NULL, *want = expected_tail(bytes, n, limit, budget);

	if (eventlog_tail(log, limit, budget, &got) != 0 || !json_equal(got, want))
		abort();
	json_decref(got);
	json_decref(want);
}

static void check_append(struct eventlog *log)
{
	json_t *rec = json_pack("{s:s, s:{s:s, s:s}}", "outcome", "saved", "event", "source",
				"fuzz", "id", "appended");
	json_t *got = NULL;

	if (eventlog_append(log, rec) != 0 || eventlog_tail(log, 1, 1 << 20, &got) != 0 ||
	    json_array_size(got) != 1 || !json_equal(json_array_get(got, 0), rec))
		abort();
	json_decref(got);
	json_decref(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	const char *dir = work_dir();
	char *path = xasprintf("%s/%s", dir, EVENTLOG_FILE);
	const uint8_t *file = data + (size < 2 ? size : 2);
	size_t n = size < 2 ? 0 : size - 2, whole = n;
	size_t limit = size > 0 ? 1 + data[0] % 16 : 1, budget = size > 1 ? 1 + 4 * data[1] : 1;
	struct buf healed;
	struct sink s;

	if (!quiet)
		quiet = log_init("fuzz_eventlog", "error") == 0; /* the repair's warnings */
	while (whole > 0 && file[whole - 1] != '\n')
		whole--;
	write_file(path, file, n);
	if (sink_open(&s, dir, EVENTLOG_FSYNC_NEVER, (long long)n + 1, saved_key, "saved events") !=
	    0)
		abort();
	buf_init(&healed, BUF_NOCAP);
	read_file(path, &healed);
	if (healed.len != whole || memcmp(healed.data, file, whole))
		abort();
	check_aside(dir, file + whole, n - whole);
	check_dedupe(s.dedupe, healed.data, healed.len);
	check_tail(s.log, healed.data, healed.len, limit, budget);
	check_append(s.log);
	sink_close(&s);
	unlink(path);
	buf_release(&healed);
	free(path);
	return 0;
}
