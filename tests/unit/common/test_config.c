#include <criterion/criterion.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/xalloc.h"

static const char *const modes[] = { "otlp", "none", "console", NULL };

union value {
	const char *s;
	long long ll;
	int i;
	double d;
};

struct row {
	enum config_type type;
	long long min, max;
	const char *text;
	int ok;
	double want;	  /* numeric result when ok (bool/enum/port/int/millis/duration/rate) */
	const char *rule; /* when !ok: a substring the message must contain */
};

#define OK(t, text, v)                    \
	{                                 \
		t, 0, 0, text, 1, v, NULL \
	}
#define BAD(t, text, rule)                \
	{                                 \
		t, 0, 0, text, 0, 0, rule \
	}
#define OKR(t, lo, hi, text, v)             \
	{                                   \
		t, lo, hi, text, 1, v, NULL \
	}
#define BADR(t, lo, hi, text, rule)         \
	{                                   \
		t, lo, hi, text, 0, 0, rule \
	}

static const struct row rows[] = {
	/* CONFIG_INT */
	OK(CONFIG_INT, "42", 42),
	OK(CONFIG_INT, "-7", -7),
	OK(CONFIG_INT, "0", 0),
	OK(CONFIG_INT, "007", 7),
	BAD(CONFIG_INT, "", "is not an integer"),
	BAD(CONFIG_INT, "-", "is not an integer"),
	BAD(CONFIG_INT, "12abc", "is not an integer"),
	BAD(CONFIG_INT, " 12", "is not an integer"),
	BAD(CONFIG_INT, "12 ", "is not an integer"),
	BAD(CONFIG_INT, "+5", "is not an integer"),
	BAD(CONFIG_INT, "1e3", "is not an integer"),
	BAD(CONFIG_INT, "0x10", "is not an integer"),
	BAD(CONFIG_INT, "1.0", "is not an integer"),
	BAD(CONFIG_INT, "9223372036854775808", "is out of the 64-bit integer range"),
	BAD(CONFIG_INT, "-9223372036854775809", "is out of the 64-bit integer range"),
	BAD(CONFIG_INT, "99999999999999999999999", "is out of the 64-bit integer range"),
	OKR(CONFIG_INT, 1, 10, "10", 10),
	OKR(CONFIG_INT, -5, 5, "-5", -5),
	BADR(CONFIG_INT, 1, 10, "11", "is not an integer between 1 and 10"),
	BADR(CONFIG_INT, 1, 10, "0", "is not an integer between 1 and 10"),
	BADR(CONFIG_INT, 1, 10, "99999999999999999999", "is not an integer between 1 and 10"),
	/* CONFIG_PORT */
	OK(CONFIG_PORT, "8080", 8080),
	OK(CONFIG_PORT, "1", 1),
	OK(CONFIG_PORT, "65535", 65535),
	BAD(CONFIG_PORT, "0", "is not a port number between 1 and 65535"),
	BAD(CONFIG_PORT, "65536", "is not a port number between 1 and 65535"),
	BAD(CONFIG_PORT, "-1", "is not a port number between 1 and 65535"),
	BAD(CONFIG_PORT, "", "is not a port number"),
	BAD(CONFIG_PORT, "http", "is not a port number"),
	BAD(CONFIG_PORT, "80x", "is not a port number"),
	BAD(CONFIG_PORT, "0x50", "is not a port number"),
	BAD(CONFIG_PORT, "99999999999999999999", "is not a port number"),
	/* CONFIG_RATE */
	OK(CONFIG_RATE, "0", 0),
	OK(CONFIG_RATE, "1", 1),
	OK(CONFIG_RATE, "0.25", 0.25),
	OK(CONFIG_RATE, ".5", 0.5),
	OK(CONFIG_RATE, "1e-1", 0.1),
	OK(CONFIG_RATE, "1.0", 1),
	BAD(CONFIG_RATE, "1.5", "is not a rate between 0 and 1"),
	BAD(CONFIG_RATE, "-0.1", "is not a rate between 0 and 1"),
	BAD(CONFIG_RATE, "NaN", "is not a rate between 0 and 1"),
	BAD(CONFIG_RATE, "nan", "is not a rate"),
	BAD(CONFIG_RATE, "inf", "is not a rate"),
	BAD(CONFIG_RATE, "Infinity", "is not a rate"),
	BAD(CONFIG_RATE, "0x1p-1", "is not a rate"),
	BAD(CONFIG_RATE, "", "is not a rate"),
	BAD(CONFIG_RATE, "0.5 ", "is not a rate"),
	BAD(CONFIG_RATE, " 0.5", "is not a rate"),
	BAD(CONFIG_RATE, "50%", "is not a rate"),
	BAD(CONFIG_RATE, "1e999", "is not a rate"),
	BAD(CONFIG_RATE, "0.5.5", "is not a rate"),
	BAD(CONFIG_RATE, "e", "is not a rate"),
	/* CONFIG_DOUBLE */
	OK(CONFIG_DOUBLE, "3.5", 3.5),
	OK(CONFIG_DOUBLE, "-2", -2),
	OK(CONFIG_DOUBLE, "1e3", 1000),
	BAD(CONFIG_DOUBLE, "abc", "is not a finite decimal number"),
	BAD(CONFIG_DOUBLE, "inf", "is not a finite decimal number"),
	BAD(CONFIG_DOUBLE, "", "is not a finite decimal number"),
	OKR(CONFIG_DOUBLE, 0, 100, "99.5", 99.5),
	BADR(CONFIG_DOUBLE, 0, 100, "100.5", "is not a number between 0 and 100"),
	/* CONFIG_MILLIS */
	OK(CONFIG_MILLIS, "0", 0),
	OK(CONFIG_MILLIS, "1500", 1500),
	BAD(CONFIG_MILLIS, "-1", "is not a non-negative integer number of milliseconds"),
	BAD(CONFIG_MILLIS, "1.5", "is not a non-negative integer number of milliseconds"),
	BAD(CONFIG_MILLIS, "1e3", "is not a non-negative integer"),
	BAD(CONFIG_MILLIS, "", "is not a non-negative integer"),
	BAD(CONFIG_MILLIS, "5s", "is not a non-negative integer"),
	BAD(CONFIG_MILLIS, "99999999999999999999", "is not a non-negative integer"),
	OKR(CONFIG_MILLIS, 100, 60000, "100", 100),
	BADR(CONFIG_MILLIS, 100, 60000, "60001", "is not between 100 and 60000 milliseconds"),
	/* CONFIG_DURATION */
	OK(CONFIG_DURATION, "PT1S", 1000),
	OK(CONFIG_DURATION, "PT1.5S", 1500),
	OK(CONFIG_DURATION, "PT0.2S", 200),
	OK(CONFIG_DURATION, "P1D", 86400000),
	OK(CONFIG_DURATION, "PT2M", 120000),
	BAD(CONFIG_DURATION, "1s", "is not an ISO-8601 duration"),
	BAD(CONFIG_DURATION, "1000", "is not an ISO-8601 duration"),
	BAD(CONFIG_DURATION, "", "is not an ISO-8601 duration"),
	BAD(CONFIG_DURATION, "PT", "is not an ISO-8601 duration"),
	BAD(CONFIG_DURATION, "-PT1S", "is not an ISO-8601 duration"),
	BAD(CONFIG_DURATION, "PT1S ", "is not an ISO-8601 duration"),
	BADR(CONFIG_DURATION, 0, 10000, "PT11S", "is not between 0 and 10000 milliseconds"),
	/* CONFIG_BOOL */
	OK(CONFIG_BOOL, "true", 1),
	OK(CONFIG_BOOL, "TRUE", 1),
	OK(CONFIG_BOOL, "Yes", 1),
	OK(CONFIG_BOOL, "1", 1),
	OK(CONFIG_BOOL, "false", 0),
	OK(CONFIG_BOOL, "No", 0),
	OK(CONFIG_BOOL, "0", 0),
	BAD(CONFIG_BOOL, "maybe", "is not a boolean (true/false, 1/0, yes/no)"),
	BAD(CONFIG_BOOL, "", "is not a boolean"),
	BAD(CONFIG_BOOL, "2", "is not a boolean"),
	BAD(CONFIG_BOOL, "on", "is not a boolean"),
	BAD(CONFIG_BOOL, "true ", "is not a boolean"),
	/* CONFIG_ENUM (choices: otlp, none, console) */
	OK(CONFIG_ENUM, "otlp", 0),
	OK(CONFIG_ENUM, "NONE", 1),
	OK(CONFIG_ENUM, "Console", 2),
	BAD(CONFIG_ENUM, "zipkin", "is not one of: otlp, none, console"),
	BAD(CONFIG_ENUM, "", "is not one of: otlp, none, console"),
	BAD(CONFIG_ENUM, "otlp ", "is not one of"),
	/* CONFIG_URL (ok rows store the text itself) */
	OK(CONFIG_URL, "http://example.com", 0),
	OK(CONFIG_URL, "https://broker-ingress.knative-eventing.svc.cluster.local/ns/default", 0),
	OK(CONFIG_URL, "http://127.0.0.1:4318/v1/traces", 0),
	OK(CONFIG_URL, "http://[::1]:8080/", 0),
	OK(CONFIG_URL, "HTTP://Example.COM/", 0),
	BAD(CONFIG_URL, "ftp://example.com",
	    "is not an absolute http:// or https:// URL with a host"),
	BAD(CONFIG_URL, "file:///etc/passwd", "is not an absolute http:// or https:// URL"),
	BAD(CONFIG_URL, "http://", "is not an absolute http:// or https:// URL with a host"),
	BAD(CONFIG_URL, "http:///path", "with a host"),
	BAD(CONFIG_URL, "http:/host", "with a host"),
	BAD(CONFIG_URL, "http://?q", "with a host"),
	BAD(CONFIG_URL, "http://user@/", "with a host"),
	BAD(CONFIG_URL, "://host", "with a host"),
	BAD(CONFIG_URL, "example.com", "with a host"),
	BAD(CONFIG_URL, "/relative/path", "with a host"),
	BAD(CONFIG_URL, "", "with a host"),
	OK(CONFIG_URL, "https://user:pw@host.example:443/p?q=1#f", 0),
	OK(CONFIG_URL, "http://10.0.0.1:65535", 0),
	BAD(CONFIG_URL, "http://host:65536/", "with a host"),
	BAD(CONFIG_URL, "http://host:/", "with a host"),
	BAD(CONFIG_URL, "http://host:8x/", "with a host"),
	BAD(CONFIG_URL, "http://ho st/", "with a host"),
	BAD(CONFIG_URL, "http://host/a b", "with a host"),
	BAD(CONFIG_URL, "http://[::1/", "with a host"),
	BAD(CONFIG_URL, "http://a<b/", "with a host"),
	BAD(CONFIG_URL, "http://exa mple.com", "with a host"),
	BAD(CONFIG_URL, "http://host:99999/", "with a host"),
	/* CONFIG_STRING: anything goes */
	OK(CONFIG_STRING, "anything at all", 0),
	OK(CONFIG_STRING, "", 0),
};

static double numeric(enum config_type t, const union value *v)
{
	switch (t) {
	case CONFIG_INT:
	case CONFIG_MILLIS:
	case CONFIG_DURATION:
		return (double)v->ll;
	case CONFIG_PORT:
	case CONFIG_BOOL:
	case CONFIG_ENUM:
		return v->i;
	case CONFIG_RATE:
	case CONFIG_DOUBLE:
		return v->d;
	default:
		return 0;
	}
}

Test(config, parse_table)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		const struct row *r = &rows[i];
		struct config_var var = { "TEST_VAR", r->type, 0,     NULL,
					  r->min,     r->max,  modes, "help" };
		union value v, before;
		char prefix[128];
		struct buf err;
		int rc;

		memset(&v, 0x5a, sizeof(v));
		before = v;
		buf_init(&err, BUF_NOCAP);
		rc = config_parse(&var, r->text, &v, &err);
		if (r->ok) {
			cr_expect_eq(rc, 0, "row %zu '%s': %s", i, r->text, err.data);
			cr_expect_eq(err.len, 0, "row %zu", i);
			if (r->type == CONFIG_STRING || r->type == CONFIG_URL)
				cr_expect_eq(v.s, r->text, "row %zu", i);
			else
				cr_expect_eq(numeric(r->type, &v), r->want, "row %zu '%s': got %f",
					     i, r->text, numeric(r->type, &v));
		} else {
			cr_expect_eq(rc, -1, "row %zu '%s' was accepted", i, r->text);
			snprintf(prefix, sizeof(prefix), "TEST_VAR: '%s' ", r->text);
			cr_expect_eq(strncmp(err.data, prefix, strlen(prefix)), 0,
				     "row %zu: message '%s' does not start with \"%s\"", i,
				     err.data, prefix);
			cr_expect_not_null(strstr(err.data, r->rule), "row %zu: '%s' lacks '%s'", i,
					   err.data, r->rule);
			cr_expect_null(strchr(err.data, '\n'), "row %zu", i);
			cr_expect_eq(memcmp(&v, &before, sizeof(v)), 0, "row %zu: out written", i);
		}
		buf_release(&err);
	}
}

Test(config, message_is_one_line_and_bounded)
{
	struct config_var var = { "N", CONFIG_INT, 0, NULL, 0, 0, NULL, "n" };
	char long_text[200];
	long long v = 0;
	struct buf err;

	buf_init(&err, BUF_NOCAP);
	cr_expect_eq(config_parse(&var, "1\n2\\'", &v, &err), -1);
	cr_expect_str_eq(err.data, "N: '1\\x0a2\\x5c\\x27' is not an integer");
	buf_reset(&err);
	memset(long_text, '7', sizeof(long_text) - 2);
	long_text[sizeof(long_text) - 2] = 'x';
	long_text[sizeof(long_text) - 1] = '\0';
	cr_expect_eq(config_parse(&var, long_text, &v, &err), -1);
	cr_expect_lt(err.len, 120, "%s", err.data);
	cr_expect_not_null(strstr(err.data, "...' is not an integer"), "%s", err.data);
	cr_expect_eq(config_parse(&var, "x", &v, NULL), -1); /* err is optional */
	buf_release(&err);
}

/* ---- config_load ----------------------------------------------------------------------- */

struct test_cfg {
	int port;
	const char *url;
	double rate;
	long long retries;
	long long timeout_ms;
	int mode;
	int verbose;
	const char *optional;
};

static const struct config_var vars[] = {
	{ "TC_PORT", CONFIG_PORT, offsetof(struct test_cfg, port), "8080", 0, 0, NULL, "port" },
	{ "TC_URL", CONFIG_URL, offsetof(struct test_cfg, url), "http://localhost:4318", 0, 0, NULL,
	  "url" },
	{ "TC_RATE", CONFIG_RATE, offsetof(struct test_cfg, rate), "0.1", 0, 0, NULL, "rate" },
	{ "TC_RETRIES", CONFIG_INT, offsetof(struct test_cfg, retries), "3", 0, 10, NULL, "n" },
	{ "TC_TIMEOUT", CONFIG_DURATION, offsetof(struct test_cfg, timeout_ms), "PT5S", 0, 0, NULL,
	  "timeout" },
	{ "TC_MODE", CONFIG_ENUM, offsetof(struct test_cfg, mode), "none", 0, 0, modes, "mode" },
	{ "TC_VERBOSE", CONFIG_BOOL, offsetof(struct test_cfg, verbose), "false", 0, 0, NULL,
	  "verbose" },
	{ "TC_OPTIONAL", CONFIG_STRING, offsetof(struct test_cfg, optional), NULL, 0, 0, NULL,
	  "optional" },
};
#define NVARS (ARRAY_SIZE(vars))

static void clear_env(void)
{
	size_t i;

	for (i = 0; i < NVARS; i++)
		unsetenv(vars[i].name);
}

Test(config, defaults_apply_only_when_unset_or_empty)
{
	static const char *const sentinel = "untouched";
	struct test_cfg cfg = { .optional = sentinel };
	struct buf err;

	clear_env();
	setenv("TC_RATE", "", 1); /* empty counts as unset */
	buf_init(&err, BUF_NOCAP);
	cr_assert_eq(config_load(vars, NVARS, &cfg, &err), 0, "%s", err.data);
	cr_expect_eq(cfg.port, 8080);
	cr_expect_str_eq(cfg.url, "http://localhost:4318");
	cr_expect_eq(cfg.rate, 0.1);
	cr_expect_eq(cfg.retries, 3);
	cr_expect_eq(cfg.timeout_ms, 5000);
	cr_expect_eq(cfg.mode, 1);
	cr_expect_eq(cfg.verbose, 0);
	cr_expect_eq(cfg.optional, sentinel, "a variable without default is left alone");

	setenv("TC_PORT", "9090", 1);
	setenv("TC_URL", "https://collector:4318/v1/traces", 1);
	setenv("TC_RATE", "1", 1);
	setenv("TC_RETRIES", "0", 1);
	setenv("TC_TIMEOUT", "PT0.25S", 1);
	setenv("TC_MODE", "CONSOLE", 1);
	setenv("TC_VERBOSE", "yes", 1);
	setenv("TC_OPTIONAL", "set", 1);
	cr_assert_eq(config_load(vars, NVARS, &cfg, &err), 0, "%s", err.data);
	cr_expect_eq(cfg.port, 9090);
	cr_expect_str_eq(cfg.url, "https://collector:4318/v1/traces");
	cr_expect_eq(cfg.rate, 1);
	cr_expect_eq(cfg.retries, 0);
	cr_expect_eq(cfg.timeout_ms, 250);
	cr_expect_eq(cfg.mode, 2);
	cr_expect_eq(cfg.verbose, 1);
	cr_expect_str_eq(cfg.optional, "set");
	buf_release(&err);
	clear_env();
}

Test(config, bad_values_name_the_variable)
{
	static const struct {
		const char *name, *value, *want;
	} cases[] = {
		{ "TC_PORT", "abc", "TC_PORT: 'abc' is not a port number between 1 and 65535" },
		{ "TC_RATE", "1.5", "TC_RATE: '1.5' is not a rate between 0 and 1" },
		{ "TC_RETRIES", "11", "TC_RETRIES: '11' is not an integer between 0 and 10" },
		{ "TC_URL", "ftp://x",
		  "TC_URL: 'ftp://x' is not an absolute http:// or https:// URL with a host" },
		{ "TC_MODE", "jaeger", "TC_MODE: 'jaeger' is not one of: otlp, none, console" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct test_cfg cfg = { 0 };
		struct buf err;

		clear_env();
		setenv(cases[i].name, cases[i].value, 1);
		buf_init(&err, BUF_NOCAP);
		cr_expect_eq(config_load(vars, NVARS, &cfg, &err), -1, "case %zu", i);
		cr_expect_str_eq(err.data, cases[i].want, "case %zu", i);
		buf_release(&err);
	}
	clear_env();
}

Test(config, bad_default_is_reported)
{
	static const struct config_var bad[] = {
		{ "TC_BAD", CONFIG_PORT, 0, "eighty", 0, 0, NULL, "bad default" },
	};
	struct buf err;
	int port = 0;

	unsetenv("TC_BAD");
	buf_init(&err, BUF_NOCAP);
	cr_expect_eq(config_load(bad, 1, &port, &err), -1);
	cr_expect_str_eq(err.data, "TC_BAD: the built-in default 'eighty' is invalid");
	buf_release(&err);
}

/*
 * LeakSanitizer's hook: turned off in forked children, which inherit the records of threads
 * that do not exist there ("Running thread ... was not suspended. False leaks are possible").
 */
static int in_child;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return in_child;
}

/* Runs fn in a child with stdout and stderr captured; returns the exit status. */
static int run_captured(void (*fn)(void), char *out, size_t size)
{
	int fds[2], status = -1;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		in_child = 1;
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		fn();
		fflush(stdout);
		_exit(0);
	}
	close(fds[1]);
	while (len + 1 < size && (n = read(fds[0], out + len, size - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fds[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void load_bad_port(void)
{
	struct test_cfg cfg = { 0 };

	clear_env();
	setenv("TC_PORT", "70000", 1);
	config_load_or_exit(vars, NVARS, &cfg);
}

static void load_good(void)
{
	struct test_cfg cfg = { 0 };

	clear_env();
	config_load_or_exit(vars, NVARS, &cfg);
	printf("port=%d\n", cfg.port);
}

static void usage(void)
{
	config_usage(vars, NVARS);
}

Test(config, load_or_exit)
{
	char out[1024];

	const char *msg;

	cr_expect_eq(run_captured(load_bad_port, out, sizeof(out)), 2);
	/* "<program>: config: <message>"; Criterion names its workers "boxfort-worker" */
	msg = strstr(out, ": config: ");
	cr_assert_not_null(msg, "%s", out);
	cr_expect_gt(msg - out, 0);
	cr_expect_null(memchr(out, ' ', (size_t)(msg - out)), "%s", out);
	cr_expect_str_eq(msg, ": config: TC_PORT: '70000' is not a port number between 1 and "
			      "65535\n");
	cr_expect_eq(run_captured(load_good, out, sizeof(out)), 0);
	cr_expect_str_eq(out, "port=8080\n");
}

static void exit_bad_pair(void)
{
	config_exit("A_MS (%d) must not exceed B_MS (%d)", 5, 3);
}

Test(config, exit_prints_one_line_and_exits_2)
{
	char out[1024];

	cr_expect_eq(run_captured(exit_bad_pair, out, sizeof(out)), 2);
	cr_expect_str_eq(out, "A_MS (5) must not exceed B_MS (3)\n");
}

Test(config, usage_table)
{
	char out[4096];

	cr_assert_eq(run_captured(usage, out, sizeof(out)), 0);
	cr_expect_eq(strncmp(out, "VARIABLE     DEFAULT                DESCRIPTION\n", 48), 0, "%s",
		     out);
	cr_expect_not_null(
	    strstr(out, "\nTC_PORT      8080                   port (port 1-65535)\n"), "%s", out);
	cr_expect_not_null(
	    strstr(out, "\nTC_MODE      none                   mode (otlp|none|console)\n"), "%s",
	    out);
	cr_expect_not_null(strstr(out, "\nTC_OPTIONAL  -                      optional (text)\n"),
			   "%s", out);
}
