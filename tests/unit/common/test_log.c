#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"

/* ---- stderr capture -------------------------------------------------------------------- */

struct capture {
	int pipe[2];
	int saved;
};

static void capture_start(struct capture *c)
{
	cr_assert_eq(pipe(c->pipe), 0);
	c->saved = dup(STDERR_FILENO);
	cr_assert_geq(c->saved, 0);
	cr_assert_geq(dup2(c->pipe[1], STDERR_FILENO), 0);
	close(c->pipe[1]);
}

/* Restores stderr and returns everything written meanwhile (caller frees). */
static char *capture_end(struct capture *c)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;

	cr_assert_geq(dup2(c->saved, STDERR_FILENO), 0);
	close(c->saved);
	buf_init(&b, BUF_NOCAP);
	while ((n = read(c->pipe[0], chunk, sizeof(chunk))) > 0)
		buf_append(&b, chunk, (size_t)n);
	close(c->pipe[0]);
	return buf_detach(&b, NULL);
}

/* Splits text into lines, parses each as a JSON object into out[]; returns the count. */
static int parse_lines(const char *text, json_t **out, int max)
{
	const char *p = text, *nl;
	int n = 0;

	while (*p) {
		json_error_t err;

		nl = strchr(p, '\n');
		cr_assert_not_null(nl, "record without a final newline: %s", p);
		cr_assert_lt(n, max);
		out[n] = json_loadb(p, (size_t)(nl - p), 0, &err);
		cr_assert_not_null(out[n], "line %d is not JSON (%s): %.*s", n, err.text,
				   (int)(nl - p), p);
		cr_assert(json_is_object(out[n]));
		n++;
		p = nl + 1;
	}
	return n;
}

static void free_lines(json_t **lines, int n)
{
	int i;

	for (i = 0; i < n; i++)
		json_decref(lines[i]);
}

static const char *str_member(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int matches(const char *re, const char *s)
{
	regex_t rx;
	int ok;

	cr_assert_eq(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
	ok = s && regexec(&rx, s, 0, NULL, 0) == 0;
	regfree(&rx);
	return ok;
}

#define TIME_RE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"

/* ---- tests ----------------------------------------------------------------------------- */

Test(log, record_fields)
{
	struct capture c;
	json_t *lines[4];
	char *out;
	int n;

	cr_assert_eq(log_init("file-sink", "info"), 0);
	capture_start(&c);
	log_info("stored %d events in %s", 3, "/tmp/x");
	out = capture_end(&c);
	n = parse_lines(out, lines, 4);
	cr_assert_eq(n, 1);
	cr_expect_str_eq(str_member(lines[0], "level"), "info");
	cr_expect_str_eq(str_member(lines[0], "service"), "file-sink");
	cr_expect_str_eq(str_member(lines[0], "message"), "stored 3 events in /tmp/x");
	cr_expect(matches(TIME_RE, str_member(lines[0], "time")), "time %s",
		  str_member(lines[0], "time"));
	cr_expect_null(json_object_get(lines[0], "trace_id"));
	cr_expect_null(json_object_get(lines[0], "span_id"));
	cr_expect_eq(json_object_size(lines[0]), 4);
	/* the fixed members come first, in this order */
	cr_expect_eq(strncmp(out, "{\"time\":\"", 9), 0, "%s", out);
	free_lines(lines, n);
	free(out);
}

Test(log, format_time)
{
	static const struct {
		long long ns;
		const char *want;
	} rows[] = {
		{ 1795288825123000000LL, "2026-11-21T19:20:25.123Z" },
		{ 1234567890123456789LL, "2009-02-13T23:31:30.123Z" },
		{ 951782400999999999LL, "2000-02-29T00:00:00.999Z" },
		{ 1000000LL, "1970-01-01T00:00:00.001Z" },
		{ -1LL, "1969-12-31T23:59:59.999Z" },
	};
	char out[32];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		log_format_time(out, rows[i].ns);
		cr_expect_str_eq(out, rows[i].want, "row %zu", i);
	}
	log_format_time(out, 0);
	cr_expect(matches(TIME_RE, out), "now: %s", out);
	cr_expect_eq(strncmp(out, "20", 2), 0);
}

Test(log, level_parse)
{
	static const struct {
		const char *name;
		int want;
	} rows[] = {
		{ "debug", LOG_DEBUG },
		{ "info", LOG_INFO },
		{ "warn", LOG_WARN },
		{ "error", LOG_ERROR },
		{ "WARN", LOG_WARN },
		{ "Info", LOG_INFO },
		{ "", -1 },
		{ "warning", -1 },
		{ "trace", -1 },
		{ "info ", -1 },
		{ NULL, -1 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++)
		cr_expect_eq(log_level_parse(rows[i].name), rows[i].want, "row %zu", i);
	cr_expect_eq(log_init("svc", "verbose"), -1);
	cr_expect_eq(log_init("svc", NULL), 0);
	cr_expect(log_enabled(LOG_INFO));
	cr_expect_not(log_enabled(LOG_DEBUG));
}

Test(log, level_filtering)
{
	static const struct {
		const char *level;
		const char *want; /* the levels that get through, in order */
	} rows[] = {
		{ "debug", "debug,info,warn,error," },
		{ "info", "info,warn,error," },
		{ "warn", "warn,error," },
		{ "error", "error," },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		struct capture c;
		json_t *lines[8];
		char got[64] = "", *out;
		int n, j;

		cr_assert_eq(log_init("svc", rows[i].level), 0);
		capture_start(&c);
		log_debug("d");
		log_info("i");
		log_warn("w");
		log_error("e");
		out = capture_end(&c);
		n = parse_lines(out, lines, 8);
		for (j = 0; j < n; j++) {
			size_t len = strlen(got);

			snprintf(got + len, sizeof(got) - len, "%s,",
				 str_member(lines[j], "level"));
		}
		cr_expect_str_eq(got, rows[i].want, "LOG_LEVEL=%s", rows[i].level);
		free_lines(lines, n);
		free(out);
	}
}

static void *other_thread(void *arg)
{
	(void)arg;
	log_info("from another thread");
	return NULL;
}

Test(log, trace_ids_only_when_set)
{
	static const char tid[] = "4bf92f3577b34da6a3ce929d0e0e4736";
	static const char sid[] = "00f067aa0ba902b7";
	struct capture c;
	json_t *lines[8];
	pthread_t th;
	char *out;
	int n;

	log_init("svc", "info");
	capture_start(&c);
	log_set_trace(tid, sid);
	log_info("in a span");
	cr_assert_eq(pthread_create(&th, NULL, other_thread, NULL), 0);
	pthread_join(th, NULL);
	log_set_trace(NULL, NULL);
	log_info("cleared");
	log_set_trace("4BF92F3577B34DA6A3CE929D0E0E4736", sid); /* not lowercase: ignored */
	log_info("bad id");
	log_set_trace(tid, "short");
	log_info("trace only");
	out = capture_end(&c);
	n = parse_lines(out, lines, 8);
	cr_assert_eq(n, 5);
	cr_expect_str_eq(str_member(lines[0], "trace_id"), tid);
	cr_expect_str_eq(str_member(lines[0], "span_id"), sid);
	cr_expect_str_eq(str_member(lines[1], "message"), "from another thread");
	cr_expect_null(json_object_get(lines[1], "trace_id"), "thread-local context leaked");
	cr_expect_null(json_object_get(lines[2], "trace_id"));
	cr_expect_null(json_object_get(lines[3], "trace_id"));
	cr_expect_str_eq(str_member(lines[4], "trace_id"), tid);
	cr_expect_null(json_object_get(lines[4], "span_id"));
	free_lines(lines, n);
	free(out);
}

Test(log, messages_always_yield_valid_json_lines)
{
	static const struct {
		const char *msg, *want;
	} rows[] = {
		{ "plain", "plain" },
		{ "quote \" and backslash \\", "quote \" and backslash \\" },
		{ "two\nlines\r\tand tab", "two\nlines\r\tand tab" },
		{ "ctl \x01\x1f", "ctl \x01\x1f" },
		{ "caf\xC3\xA9 \xF0\x9F\x93\x9A", "caf\xC3\xA9 \xF0\x9F\x93\x9A" },
		{ "bad \xFF byte", "bad \xEF\xBF\xBD byte" },
		{ "cut \xE2\x82", "cut \xEF\xBF\xBD\xEF\xBF\xBD" },
		{ "overlong \xC0\xAF", "overlong \xEF\xBF\xBD\xEF\xBF\xBD" },
		{ "surrogate \xED\xA0\x80", "surrogate \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" },
	};
	size_t i;

	log_init("svc", "debug");
	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		struct capture c;
		json_t *lines[2];
		char *out;
		int n;

		capture_start(&c);
		log_warn("%s", rows[i].msg);
		out = capture_end(&c);
		cr_expect_eq(strchr(out, '\n'), out + strlen(out) - 1, "row %zu: one line", i);
		n = parse_lines(out, lines, 2);
		cr_assert_eq(n, 1);
		cr_expect_str_eq(str_member(lines[0], "message"), rows[i].want, "row %zu", i);
		free_lines(lines, n);
		free(out);
	}
}

Test(log, long_messages_are_cut)
{
	char *big = malloc(40000), *out;
	struct capture c;
	json_t *lines[2];
	const char *msg;

	memset(big, 'x', 39999);
	big[39999] = '\0';
	log_init("svc", "info");
	capture_start(&c);
	log_info("%s", big);
	out = capture_end(&c);
	cr_assert_eq(parse_lines(out, lines, 2), 1);
	msg = str_member(lines[0], "message");
	cr_expect_lt(strlen(msg), 20000);
	cr_expect_gt(strlen(msg), 10000);
	cr_expect_str_eq(msg + strlen(msg) - 3, "...");
	json_decref(lines[0]);
	free(out);
	free(big);
}

Test(log, fields_are_merged_and_fixed_members_win)
{
	struct capture c;
	json_t *lines[4];
	char *out;

	log_init("svc", "info");
	capture_start(&c);
	log_fields(LOG_INFO,
		   json_pack("{s:i, s:s, s:s}", "status", 503, "level", "bogus", "route", "/books"),
		   "request %s", "done");
	log_fields(LOG_DEBUG, json_pack("{s:i}", "dropped", 1), "below level"); /* released */
	log_fields(LOG_ERROR, NULL, "no fields");
	log_fields(LOG_ERROR, json_string("not an object"), "ignored fields");
	out = capture_end(&c);
	cr_assert_eq(parse_lines(out, lines, 4), 3);
	cr_expect_eq(json_integer_value(json_object_get(lines[0], "status")), 503);
	cr_expect_str_eq(str_member(lines[0], "route"), "/books");
	cr_expect_str_eq(str_member(lines[0], "level"), "info");
	cr_expect_str_eq(str_member(lines[0], "message"), "request done");
	cr_expect_str_eq(str_member(lines[1], "message"), "no fields");
	cr_expect_str_eq(str_member(lines[2], "message"), "ignored fields");
	cr_expect_eq(json_object_size(lines[2]), 4);
	free_lines(lines, 3);
	free(out);
}

#define WRITERS 4
#define RECORDS 50

static void *writer(void *arg)
{
	int id = (int)(intptr_t)arg, i;

	for (i = 0; i < RECORDS; i++)
		log_fields(LOG_INFO, json_pack("{s:i, s:i}", "writer", id, "seq", i),
			   "record %d of writer %d with some padding text to lengthen it", i, id);
	return NULL;
}

Test(log, threads_never_interleave_lines)
{
	json_t *lines[WRITERS * RECORDS + 1];
	int next[WRITERS] = { 0 }, n, i;
	pthread_t th[WRITERS];
	struct capture c;
	char *out;

	log_init("svc", "info");
	capture_start(&c);
	for (i = 0; i < WRITERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i), 0);
	for (i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	out = capture_end(&c);
	n = parse_lines(out, lines, WRITERS * RECORDS + 1);
	cr_assert_eq(n, WRITERS * RECORDS);
	for (i = 0; i < n; i++) {
		int w = (int)json_integer_value(json_object_get(lines[i], "writer"));

		cr_assert(w >= 0 && w < WRITERS);
		/* each writer's records arrive whole and in its own order */
		cr_expect_eq(json_integer_value(json_object_get(lines[i], "seq")), next[w]++);
	}
	free_lines(lines, n);
	free(out);
}
