/*
 * test_wal.c: the write-ahead log: snapshot on open, append + commit, replay (torn tail),
 * rewrite (compaction), group commit under concurrent committers, sticky sync failures,
 * setting an unreadable file aside.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/wal.h"

static char dir[64];
static char path[96];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_wal.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/x.wal", dir);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(wal, .init = setup, .fini = teardown);

static int collect(const char *line, size_t len, void *arg)
{
	buf_append(arg, line, len);
	buf_appendc(arg, '|');
	return 0;
}

static const char *replayed(struct buf *b, struct wal_replay_stats *st)
{
	struct buf err;

	buf_reset(b);
	buf_init(&err, BUF_NOCAP);
	cr_assert_eq(wal_replay(path, collect, b, st, &err), 0, "%s", err.data);
	buf_release(&err);
	return b->data;
}

struct lines {
	const char *const *v;
	size_t i;
};

/* A snapshot of v, one line per call, to cross chunk boundaries. */
static int snap(struct buf *chunk, void *arg)
{
	struct lines *l = arg;

	if (!l->v[l->i])
		return 1;
	buf_appends(chunk, l->v[l->i++]);
	buf_appendc(chunk, '\n');
	return l->v[l->i] ? 0 : 1;
}

Test(wal, open_with_snapshot_append_commit_replay)
{
	static const char *const init[] = { "a", "b", NULL };
	struct lines l = { init, 0 };
	struct wal_replay_stats st;
	unsigned long long s1, s2;
	struct buf b, err;
	struct wal *w;

	buf_init(&b, BUF_NOCAP);
	buf_init(&err, BUF_NOCAP);
	cr_assert_eq(wal_open(path, EVENTLOG_FSYNC_BATCH, snap, &l, &w, &err), 0, "%s", err.data);
	cr_assert_eq(wal_size(w), 4);
	cr_assert_eq(wal_append(w, "c\nd\n", 4, &s1), 0);
	cr_assert_eq(wal_append(w, "e\n", 2, &s2), 0);
	cr_assert_eq(s2, s1 + 1);
	cr_assert_eq(wal_commit(w, s2), 0);
	cr_assert_geq(wal_syncs(w), 1);
	cr_assert_str_eq(replayed(&b, &st), "a|b|c|d|e|");
	cr_assert_eq(st.records, 5);
	cr_assert_eq(st.torn_bytes, 0);
	wal_close(w);
	buf_release(&b);
	buf_release(&err);
}

static ino_t inode_of(const char *p)
{
	struct stat st;

	cr_assert_eq(stat(p, &st), 0, "stat %s: %s", p, strerror(errno));
	return st.st_ino;
}

/*
 * A restart with nothing pending keeps the empty log instead of writing and syncing a new one
 * (same inode); any record in the old file, or in the snapshot, still makes a new file.
 */
Test(wal, empty_snapshot_over_an_empty_log_keeps_the_file)
{
	static const char *const one[] = { "x", NULL };
	struct lines l = { one, 0 };
	unsigned long long seq;
	struct buf b, err;
	struct wal *w;
	ino_t ino;

	buf_init(&b, BUF_NOCAP);
	buf_init(&err, BUF_NOCAP);
	cr_assert_eq(wal_open(path, EVENTLOG_FSYNC_BATCH, NULL, NULL, &w, &err), 0, "%s", err.data);
	wal_close(w);
	ino = inode_of(path);
	cr_assert_eq(wal_open(path, EVENTLOG_FSYNC_BATCH, NULL, NULL, &w, &err), 0, "%s", err.data);
	cr_expect_eq(inode_of(path), ino, "the empty log was rewritten");
	cr_assert_eq(wal_append(w, "y\n", 2, &seq), 0);
	cr_assert_eq(wal_commit(w, seq), 0);
	cr_assert_eq(wal_size(w), 2);
	wal_close(w);
	cr_assert_str_eq(replayed(&b, NULL), "y|");
	/* the old log holds a record: a new file, with only the (empty) snapshot */
	cr_assert_eq(wal_open(path, EVENTLOG_FSYNC_BATCH, NULL, NULL, &w, &err), 0, "%s", err.data);
	cr_expect_neq(inode_of(path), ino);
	ino = inode_of(path);
	wal_close(w);
	cr_assert_str_eq(replayed(&b, NULL), "");
	/* a snapshot with a record over an empty log: a new file */
	cr_assert_eq(wal_open(path, EVENTLOG_FSYNC_BATCH, snap, &l, &w, &err), 0, "%s", err.data);
	cr_expect_neq(inode_of(path), ino);
	cr_assert_eq(wal_size(w), 2);
	wal_close(w);
	cr_assert_str_eq(replayed(&b, NULL), "x|");
	buf_release(&b);
	buf_release(&err);
}

Test(wal, replay_skips_a_torn_tail_and_empty_lines)
{
	struct wal_replay_stats st;
	struct buf b;
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs("one\n\ntwo\nthr", f);
	fclose(f);
	buf_init(&b, BUF_NOCAP);
	cr_assert_str_eq(replayed(&b, &st), "one|two|");
	cr_assert_eq(st.records, 2);
	cr_assert_eq(st.torn_bytes, 3);
	buf_release(&b);
}

/*
 * Replay reads the file in 64 KiB chunks and carries a line cut by a chunk's end over to the
 * next read. Files of lines whose newlines fall just before, on and after each chunk boundary,
 * lines longer than two chunks, empty lines and a torn tail across a boundary: replay gives
 * exactly the complete non-empty lines, and counts the tail. The random part prints its seed
 * (WAL_TEST_SEED=N replays it).
 */
#define CHUNK ((size_t)64 * 1024)

/* A file of lines of the given lengths (letters from a rotating alphabet), then tail bytes
 * with no newline; the expected replay ("line|line|") goes to want. */
static void write_lines(const size_t *lens, size_t n, size_t tail, struct buf *want)
{
	FILE *f = fopen(path, "w");
	unsigned char c = 'a';

	cr_assert_not_null(f);
	buf_reset(want);
	for (size_t i = 0; i <= n; i++) {
		size_t len = i < n ? lens[i] : tail;

		for (size_t k = 0; k < len; k++, c = c == 'z' ? 'a' : c + 1) {
			fputc(c, f);
			if (i < n)
				buf_appendc(want, (char)c);
		}
		if (i < n) {
			fputc('\n', f);
			if (len)
				buf_appendc(want, '|');
		}
	}
	cr_assert_eq(fclose(f), 0);
}

static size_t count_records(const struct buf *want)
{
	size_t n = 0;

	for (size_t i = 0; i < want->len; i++)
		n += want->data[i] == '|';
	return n;
}

static void check_replay(const size_t *lens, size_t n, size_t tail, const char *what)
{
	struct wal_replay_stats st;
	struct buf want, got;

	buf_init(&want, BUF_NOCAP);
	buf_init(&got, BUF_NOCAP);
	write_lines(lens, n, tail, &want);
	replayed(&got, &st);
	cr_assert_eq(got.len, want.len, "%s: %zu bytes replayed, want %zu", what, got.len,
		     want.len);
	cr_assert(memcmp(got.data, want.data, want.len) == 0, "%s: other lines replayed", what);
	cr_assert_eq(st.records, count_records(&want), "%s", what);
	cr_assert_eq(st.torn_bytes, tail, "%s", what);
	buf_release(&want);
	buf_release(&got);
}

Test(wal, replay_across_chunk_boundaries)
{
	/* newline at offsets CHUNK-2 .. CHUNK+1 (a line of CHUNK-1+d bytes, then its '\n') */
	for (int d = -2; d <= 1; d++) {
		size_t lens[] = { CHUNK - 2 + (size_t)(d + 1), 5, 0, 7 };
		char what[48];

		snprintf(what, sizeof(what), "newline at CHUNK%+d", d);
		check_replay(lens, 4, 0, what);
	}
	{
		size_t lens[] = { 3, 2 * CHUNK + 17, 0, 0, CHUNK, 1 };

		check_replay(lens, 6, 0, "a line of two chunks and more");
	}
	{
		size_t lens[] = { CHUNK - 10 };

		check_replay(lens, 1, CHUNK + 100, "a torn tail across a boundary");
	}
	{
		size_t lens[] = { 0 };

		check_replay(lens, 0, 3 * CHUNK, "only a torn tail, three chunks long");
	}
}

Test(wal, replay_random_lines)
{
	const char *env = getenv("WAL_TEST_SEED");
	unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
	size_t lens[64];

	fprintf(stderr, "test_wal replay_random_lines seed=%u (replay with WAL_TEST_SEED=%u)\n",
		seed, seed);
	srand(seed);
	for (int round = 0; round < 40; round++) {
		size_t n = (size_t)(rand() % 64), tail;
		char what[64];

		for (size_t i = 0; i < n; i++) {
			switch (rand() % 4) {
			case 0:
				lens[i] = 0;
				break;
			case 1:
				lens[i] = (size_t)(rand() % 100) + 1;
				break;
			case 2: /* around a chunk */
				lens[i] = CHUNK - 8 + (size_t)(rand() % 16);
				break;
			default:
				lens[i] = (size_t)(rand() % (3 * (int)CHUNK)) + 1;
				break;
			}
		}
		tail = rand() % 3 ? 0 : (size_t)(rand() % (2 * (int)CHUNK));
		snprintf(what, sizeof(what), "seed %u round %d", seed, round);
		check_replay(lens, n, tail, what);
	}
}

Test(wal, replay_missing_is_not_found)
{
	struct buf b, err;

	buf_init(&b, BUF_NOCAP);
	buf_init(&err, BUF_NOCAP);
	cr_assert_eq(wal_replay(path, collect, &b, NULL, &err), ERR_NOT_FOUND);
	buf_release(&b);
	buf_release(&err);
}

Test(wal, replay_of_a_long_line_across_reads)
{
	size_t n = 200 * 1024;
	char *big = malloc(n + 2);
	struct wal_replay_stats st;
	struct buf b;
	FILE *f = fopen(path, "w");

	memset(big, 'x', n);
	big[n] = '\n';
	big[n + 1] = '\0';
	cr_assert_not_null(f);
	fputs(big, f);
	fputs("y\n", f);
	fclose(f);
	buf_init(&b, BUF_NOCAP);
	replayed(&b, &st);
	cr_assert_eq(st.records, 2);
	cr_assert_eq(b.len, n + 3);
	buf_release(&b);
	free(big);
}

Test(wal, rewrite_replaces_the_file_and_counts_as_commit)
{
	static const char *const compacted[] = { "only", NULL };
	struct lines l = { compacted, 0 };
	unsigned long long seq;
	char tmp[128];
	struct buf b, err;
	struct wal *w;

	buf_init(&b, BUF_NOCAP);
	buf_init(&err, BUF_NOCAP);
	cr_assert_eq(wal_open(path, EVENTLOG_FSYNC_BATCH, NULL, NULL, &w, &err), 0);
	cr_assert_eq(wal_append(w, "x\ny\n", 4, &seq), 0);
	cr_assert_eq(wal_rewrite(w, snap, &l), 0);
	cr_assert_eq(wal_size(w), 5);
	cr_assert_eq(wal_commit(w, seq), 0);
	cr_assert_eq(wal_append(w, "z\n", 2, &seq), 0);
	cr_assert_str_eq(replayed(&b, NULL), "only|z|");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	cr_assert_eq(access(tmp, F_OK), -1, "no temporary file is left");
	wal_close(w);
	buf_release(&b);
	buf_release(&err);
}

/* Set aside renamed (keep 0) or as a second name with the file left in place (keep 1). */
Test(wal, set_aside_keeps_the_bytes)
{
	for (int keep = 0; keep <= 1; keep++) {
		struct buf moved, again;
		FILE *f = fopen(path, "w");
		char text[64] = { 0 };

		cr_assert_not_null(f);
		fputs("garbage", f);
		fclose(f);
		buf_init(&moved, BUF_NOCAP);
		cr_assert_eq(wal_set_aside(path, keep, &moved), 0);
		cr_assert_eq(access(path, F_OK), keep ? 0 : -1, "keep %d", keep);
		cr_assert(strstr(moved.data, ".broken-") != NULL, "%s", moved.data);
		f = fopen(moved.data, "r");
		cr_assert_not_null(f);
		cr_assert_eq(fread(text, 1, sizeof(text) - 1, f), 7);
		fclose(f);
		cr_assert_str_eq(text, "garbage");
		if (keep) { /* a second start-up within the same second */
			buf_init(&again, BUF_NOCAP);
			cr_assert_eq(wal_set_aside(path, 1, &again), 0);
			buf_release(&again);
			unlink(path);
		}
		unlink(moved.data);
		buf_release(&moved);
	}
}

/* ---- group commit ------------------------------------------------------------------------ */

#define THREADS	   8
#define PER_THREAD 40

static atomic_long durable_size;
static atomic_int sync_calls;

/* A 2 ms sync that records how much of the file it made durable. */
static int slow_sync(int fd, void *arg)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	struct stat st;

	(void)arg;
	cr_assert_eq(fstat(fd, &st), 0);
	nanosleep(&ts, NULL);
	atomic_store(&durable_size, (long)st.st_size);
	atomic_fetch_add(&sync_calls, 1);
	return 0;
}

struct committer {
	struct wal *w;
	int failures, not_durable;
	pthread_t th;
};

static void *commit_loop(void *arg)
{
	struct committer *c = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		unsigned long long seq;

		if (wal_append(c->w, "record\n", 7, &seq) != 0 || wal_commit(c->w, seq) != 0) {
			c->failures++;
			continue;
		}
		if (atomic_load(&durable_size) < 7)
			c->not_durable++;
	}
	return NULL;
}

Test(wal, group_commit_shares_syncs)
{
	struct committer c[THREADS];
	struct buf err;
	struct wal *w;
	unsigned long long syncs;

	buf_init(&err, BUF_NOCAP);
	atomic_store(&durable_size, 0);
	atomic_store(&sync_calls, 0);
	cr_assert_eq(wal_open(path, EVENTLOG_FSYNC_BATCH, NULL, NULL, &w, &err), 0);
	wal_set_sync(w, slow_sync, NULL);
	for (int t = 0; t < THREADS; t++) {
		c[t] = (struct committer){ .w = w };
		pthread_create(&c[t].th, NULL, commit_loop, &c[t]);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(c[t].th, NULL);
		cr_assert_eq(c[t].failures, 0);
		cr_assert_eq(c[t].not_durable, 0);
	}
	syncs = wal_syncs(w);
	cr_assert_eq(syncs, (unsigned long long)atomic_load(&sync_calls));
	cr_assert_lt(syncs, THREADS * PER_THREAD / 3, "%llu syncs for %d commits", syncs,
		     THREADS * PER_THREAD);
	cr_assert_eq(atomic_load(&durable_size), wal_size(w));
	wal_close(w);
	buf_release(&err);
}

static int failing_sync(int fd, void *arg)
{
	(void)fd;
	(*(int *)arg)++;
	errno = EIO;
	return -1;
}

Test(wal, sync_failure_is_sticky)
{
	for (int mode = 0; mode <= 1; mode++) {
		unsigned long long seq;
		struct buf reason, err;
		struct wal *w;
		int calls = 0;

		buf_init(&err, BUF_NOCAP);
		buf_init(&reason, BUF_NOCAP);
		cr_assert_eq(wal_open(path, (enum eventlog_fsync)mode, NULL, NULL, &w, &err), 0);
		wal_set_sync(w, failing_sync, &calls);
		cr_assert_eq(wal_check(w, &reason), 0);
		cr_assert_eq(wal_append(w, "a\n", 2, &seq), 0);
		cr_assert_eq(wal_commit(w, seq), ERR_IO);
		cr_assert_eq(wal_commit(w, seq), ERR_IO);
		cr_assert_eq(wal_append(w, "b\n", 2, &seq), ERR_IO);
		cr_assert_eq(calls, 1, "mode %d: %d syncs", mode, calls);
		cr_assert_eq(wal_check(w, &reason), -1);
		cr_assert(strstr(reason.data, "sync failed") != NULL, "%s", reason.data);
		buf_release(&reason);
		buf_release(&err);
		wal_close(w);
	}
}

Test(wal, never_commits_without_syncing)
{
	unsigned long long seq;
	struct buf err;
	struct wal *w;
	int calls = 0;

	buf_init(&err, BUF_NOCAP);
	cr_assert_eq(wal_open(path, EVENTLOG_FSYNC_NEVER, NULL, NULL, &w, &err), 0);
	wal_set_sync(w, failing_sync, &calls);
	cr_assert_eq(wal_append(w, "a\n", 2, &seq), 0);
	cr_assert_eq(wal_commit(w, seq), 0);
	cr_assert_eq(calls, 0);
	wal_close(w);
	buf_release(&err);
}

Test(wal, open_in_a_missing_directory_fails)
{
	struct buf err;
	struct wal *w = (struct wal *)1;

	buf_init(&err, BUF_NOCAP);
	cr_assert_eq(wal_open("/nonexistent-dir/x.wal", EVENTLOG_FSYNC_BATCH, NULL, NULL, &w, &err),
		     ERR_IO);
	cr_assert_null(w);
	cr_assert(strstr(err.data, "nonexistent-dir") != NULL, "%s", err.data);
	buf_release(&err);
}
