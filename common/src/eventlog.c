/*
 * eventlog.c: the append-only JSON-lines event log (see eventlog.h for the contract).
 *
 * Durability is groupcommit.h's: an appender writes its line and takes the next sequence
 * number under the lock, then commits it (FSYNC=always: syncing under the lock, so the next
 * line is written only after this one is on disk; batch: a group commit).
 */
#include "common/eventlog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/fdio.h"
#include "common/groupcommit.h"
#include "common/jsonenc.h"
#include "common/log.h"
#include "common/xalloc.h"

#define TAIL_CHUNK ((size_t)64 * 1024)

const char *const eventlog_fsync_names[] = { "always", "batch", "never", NULL };

struct eventlog {
	int fd;
	enum eventlog_fsync mode;
	pthread_mutex_t mu;
	struct groupcommit gc; /* lines written, synced; under mu */
	char *name;	       /* the file's base name, for log lines and reasons */
};

/* ---- torn-tail repair ----------------------------------------------------------------------- */

static int read_at(int fd, char *dst, size_t n, off_t pos);

/*
 * The offset just past the file's last newline (0 when it has none), reading backwards from
 * size in chunks. Returns 0 and *out, or ERR_IO.
 */
static int last_line_end(int fd, off_t size, off_t *out)
{
	char *chunk = xmalloc(TAIL_CHUNK);
	off_t pos = size;
	int rc = 0;

	*out = 0;
	while (pos > 0) {
		size_t n = pos > (off_t)TAIL_CHUNK ? TAIL_CHUNK : (size_t)pos;
		size_t k = n;

		pos -= (off_t)n;
		rc = read_at(fd, chunk, n, pos);
		if (rc != 0)
			break;
		while (k > 0 && chunk[k - 1] != '\n')
			k--;
		if (k > 0) {
			*out = pos + (off_t)k;
			break;
		}
	}
	free(chunk);
	return rc;
}

/* Creates a new file next to path for the torn fragment: "<path>.torn-<unix time>[.<k>]". */
static int create_aside(const char *path, char **name)
{
	long long now = (long long)time(NULL);

	for (int k = 0; k < 100; k++) {
		char *p = k ? xasprintf("%s.torn-%lld.%d", path, now, k)
			    : xasprintf("%s.torn-%lld", path, now);
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

		if (fd >= 0) {
			*name = p;
			return fd;
		}
		free(p);
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

/* Copies fd's bytes [from, to) into out, a chunk at a time, and syncs out. 0 or ERR_IO. */
static int copy_range(int fd, off_t from, off_t to, int out)
{
	char *chunk = xmalloc(TAIL_CHUNK);
	int rc = 0;

	while (from < to && rc == 0) {
		size_t n = to - from > (off_t)TAIL_CHUNK ? TAIL_CHUNK : (size_t)(to - from);

		rc = read_at(fd, chunk, n, from);
		if (rc == 0 && write(out, chunk, n) != (ssize_t)n)
			rc = ERR_IO;
		from += (off_t)n;
	}
	if (rc == 0 && fsync(out) != 0 && errno != EINVAL)
		rc = ERR_IO;
	free(chunk);
	return rc;
}

/*
 * Cuts an unterminated last line (a write torn by a crash or a full disk) off the log, so the
 * next append starts a line of its own. The fragment is first copied to a file next to the
 * log (synced, with its directory entry) and a warning names it; only then is the log cut back
 * to its last newline. Nothing is done for a log that ends with a newline, or that is not a
 * regular file. Returns 0 or ERR_IO (errno set).
 */
static int repair_tail(int fd, const char *path)
{
	struct stat st;
	off_t keep;
	char *aside = NULL;
	int out, rc, e;

	if (fstat(fd, &st) != 0)
		return ERR_IO;
	if (!S_ISREG(st.st_mode) || st.st_size == 0)
		return 0;
	rc = last_line_end(fd, st.st_size, &keep);
	if (rc != 0 || keep == st.st_size)
		return rc;
	out = create_aside(path, &aside);
	if (out < 0) {
		log_error("%s: a torn last line (%lld bytes) cannot be moved aside: %s", path,
			  (long long)(st.st_size - keep), strerror(errno));
		return ERR_IO;
	}
	rc = copy_range(fd, keep, st.st_size, out);
	e = errno;
	close(out);
	if (rc == 0) {
		(void)fdio_sync_parent(aside);
		if (ftruncate(fd, keep) != 0 || (fdatasync(fd) != 0 && errno != EINVAL))
			rc = ERR_IO;
		e = errno;
	}
	if (rc == 0)
		log_warn("%s: the last line was torn (%lld bytes without a final newline, "
			 "an append cut short by a crash); moved it to %s and cut the log back "
			 "to its last whole line",
			 path, (long long)(st.st_size - keep), aside);
	else
		log_error("%s: could not repair a torn last line: %s", path, strerror(e));
	free(aside);
	errno = e;
	return rc;
}

int eventlog_open(const char *path, enum eventlog_fsync mode, struct eventlog **out)
{
	struct eventlog *log;
	bool created = true;
	int fd;

	*out = NULL;
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EEXIST) {
		created = false;
		fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	}
	if (fd < 0)
		return ERR_IO;
	/*
	 * The log's name must be durable before a line of it is acknowledged. Synced on every
	 * open, not only when this process created it: a process killed between its create and
	 * its sync left a file whose name may not be. A created log that cannot be synced is
	 * removed, so the next start creates it again; an existing one, which may hold lines, is
	 * kept.
	 */
	if (mode != EVENTLOG_FSYNC_NEVER && fdio_sync_parent(path) != 0) {
		int e = errno;

		close(fd);
		if (created)
			unlink(path);
		errno = e;
		return ERR_IO;
	}
	/*
	 * What an earlier process wrote may still be only in the page cache (it was killed after
	 * its write, before its sync): the sinks read those lines back as saved (dedupe) and answer
	 * a redelivery from them, so they are made durable before anything is answered.
	 */
	if (!created && (repair_tail(fd, path) != 0 ||
			 (mode != EVENTLOG_FSYNC_NEVER && fdatasync(fd) != 0 && errno != EINVAL))) {
		int e = errno;

		close(fd);
		errno = e;
		return ERR_IO;
	}
	log = xcalloc(1, sizeof(*log));
	log->fd = fd;
	log->mode = mode;
	pthread_mutex_init(&log->mu, NULL);
	log->name = xstrdup(strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
	groupcommit_init(&log->gc, &log->mu, log->name);
	*out = log;
	return 0;
}

void eventlog_set_sync(struct eventlog *log, eventlog_sync_fn fn, void *arg)
{
	groupcommit_set_sync(&log->gc, fn, arg);
}

void eventlog_close(struct eventlog *log)
{
	if (!log)
		return;
	close(log->fd);
	groupcommit_release(&log->gc);
	pthread_mutex_destroy(&log->mu);
	free(log->name);
	free(log);
}

int eventlog_append(struct eventlog *log, const json_t *record)
{
	struct buf line;
	unsigned long long seq;
	int rc;

	if (!json_is_object(record))
		return ERR_INTERNAL;
	buf_init(&line, BUF_NOCAP);
	(void)jsonenc_append(&line, record); /* no cap: it cannot fail */
	(void)buf_appendc(&line, '\n');
	pthread_mutex_lock(&log->mu);
	rc = groupcommit_append(&log->gc, log->fd, line.data, line.len, &seq);
	if (rc == 0 && log->mode != EVENTLOG_FSYNC_NEVER)
		rc = groupcommit_commit(&log->gc, log->fd, seq, log->mode == EVENTLOG_FSYNC_BATCH);
	pthread_mutex_unlock(&log->mu);
	buf_release(&line);
	return rc;
}

long long eventlog_size(struct eventlog *log)
{
	struct stat st;

	if (fstat(log->fd, &st) != 0)
		return 0;
	return (long long)st.st_size;
}

unsigned long long eventlog_syncs(struct eventlog *log)
{
	return groupcommit_syncs(&log->gc);
}

int eventlog_check(struct eventlog *log, struct buf *reason)
{
	return groupcommit_check(&log->gc, reason);
}

/* ---- tail ---------------------------------------------------------------------------------- */

struct tail_state {
	struct buf *out;  /* the array's text being filled, newest first, without its ']' */
	size_t n;	  /* records in it */
	size_t limit;	  /* records wanted */
	size_t budget;	  /* line bytes still allowed (max_bytes minus the lines taken) */
	bool full;	  /* limit reached, or the next line did not fit the budget */
	bool skip_next;	  /* the next segment found (going backwards) is partial: drop it */
	struct buf carry; /* bytes of a line whose start has not been read yet */
};

/*
 * Adds line[0..len) to the result when it is a JSON object and fits the byte budget; a line
 * that does not fit ends the read (older lines are not taken either, so the answer stays the
 * newest lines in order).
 */
static void tail_emit(struct tail_state *t, const char *line, size_t len)
{
	json_t *rec;
	bool ok;

	if (len == 0)
		return;
	if (len + 1 > t->budget) {
		t->full = true;
		return;
	}
	/* Parsed to be checked, then dropped: only the line's text is kept, one tree at a time. */
	rec = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	ok = json_is_object(rec);
	json_decref(rec);
	if (!ok) {
		log_debug("events.log: skipping a line that is not a JSON object");
		return;
	}
	if (t->n++ > 0)
		(void)buf_appendc(t->out, ',');
	(void)buf_append(t->out, line, len);
	t->budget -= len + 1;
	if (t->n >= t->limit)
		t->full = true;
}

/*
 * Splits win[0..len) (a chunk followed by the carried bytes) at newlines, from the end, and
 * emits the complete lines; what precedes the first newline becomes the new carry.
 */
static void tail_scan(struct tail_state *t, const char *win, size_t len)
{
	size_t end = len, k = len;

	while (k > 0 && !t->full) {
		k--;
		if (win[k] != '\n')
			continue;
		if (t->skip_next)
			t->skip_next = false;
		else
			tail_emit(t, win + k + 1, end - k - 1);
		end = k;
	}
	if (!t->skip_next && end >= t->budget)
		t->full = true; /* the line being carried cannot fit: stop before buffering it */
	if (t->full)
		end = 0;
	buf_reset(&t->carry);
	if (end > EVENTLOG_MAX_LINE) {
		t->skip_next = true; /* a line this long is garbage: drop it whole */
		return;
	}
	buf_append(&t->carry, win, end);
}

/* Reads exactly n bytes at pos. 0 or ERR_IO (a short file is an error). */
static int read_at(int fd, char *dst, size_t n, off_t pos)
{
	return fdio_pread_full(fd, dst, n, pos) == (ssize_t)n ? 0 : ERR_IO;
}

int eventlog_tail_text(struct eventlog *log, size_t limit, size_t max_bytes, struct buf *out)
{
	struct tail_state t = { .out = out,
				.limit = limit,
				.budget = max_bytes,
				.full = limit == 0,
				.skip_next = true };
	char *chunk = xmalloc(TAIL_CHUNK);
	size_t start = out->len;
	struct buf win;
	off_t pos;
	int rc = 0;

	pos = (off_t)eventlog_size(log);
	(void)buf_appendc(out, '[');
	buf_init(&t.carry, BUF_NOCAP);
	buf_init(&win, BUF_NOCAP);
	while (pos > 0 && !t.full) {
		size_t n = pos > (off_t)TAIL_CHUNK ? TAIL_CHUNK : (size_t)pos;

		pos -= (off_t)n;
		rc = read_at(log->fd, chunk, n, pos);
		if (rc != 0)
			goto fail;
		buf_reset(&win);
		buf_append(&win, chunk, n);
		buf_append(&win, t.carry.data, t.carry.len);
		tail_scan(&t, win.data, win.len);
	}
	/* The first line of the file has no newline before it. */
	if (pos == 0 && !t.skip_next && !t.full)
		tail_emit(&t, t.carry.data, t.carry.len);
	(void)buf_appendc(out, ']');
fail:
	if (rc)
		buf_setlen(out, start);
	free(chunk);
	buf_release(&t.carry);
	buf_release(&win);
	return rc;
}

int eventlog_tail(struct eventlog *log, size_t limit, size_t max_bytes, json_t **out)
{
	struct buf text;
	int rc;

	buf_init(&text, BUF_NOCAP);
	rc = eventlog_tail_text(log, limit, max_bytes, &text);
	*out = rc ? NULL : json_loadb(text.data, text.len, JSON_ALLOW_NUL, NULL);
	buf_release(&text);
	return rc == 0 && !*out ? ERR_INTERNAL : rc;
}

/* ---- helpers ------------------------------------------------------------------------------- */

int eventlog_limit_parse(const char *text, size_t *out)
{
	size_t v = 0;

	if (!text) {
		*out = EVENTLOG_DEFAULT_LIMIT;
		return 0;
	}
	if (!*text || strlen(text) > 4)
		return ERR_BAD_REQUEST;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return ERR_BAD_REQUEST;
		v = v * 10 + (size_t)(*p - '0');
	}
	if (v < 1 || v > EVENTLOG_MAX_LIMIT)
		return ERR_BAD_REQUEST;
	*out = v;
	return 0;
}
