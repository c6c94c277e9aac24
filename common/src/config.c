#include "common/config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/duration.h"
#include "common/text.h"
#include "common/xalloc.h"

/* glibc's short program name (declared by <errno.h> only under _GNU_SOURCE). */
extern char *program_invocation_short_name;

/* The longest part of a bad value quoted back in a message. */
#define QUOTE_MAX 64

static const char *const bool_true[] = { "true", "1", "yes", NULL };
static const char *const bool_false[] = { "false", "0", "no", NULL };

/* Appends text quoted, cut at QUOTE_MAX bytes, with control bytes as \xNN (one line). */
static void append_quoted(struct buf *err, const char *text)
{
	size_t i;

	buf_appendc(err, '\'');
	for (i = 0; i < QUOTE_MAX && text[i]; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c < 0x20 || c == 0x7f || c == '\\' || c == '\'')
			buf_appendf(err, "\\x%02x", c);
		else
			buf_appendc(err, (char)c);
	}
	buf_appends(err, text[i] ? "...'" : "'");
}

/* "NAME: 'text' <rule>"; returns -1. */
__attribute__((format(printf, 4, 5))) static int
fail(const struct config_var *var, const char *text, struct buf *err, const char *rule, ...)
{
	va_list ap;

	if (!err)
		return -1;
	buf_appendf(err, "%s: ", var->name);
	append_quoted(err, text);
	buf_appendc(err, ' ');
	va_start(ap, rule);
	buf_vappendf(err, rule, ap);
	va_end(ap);
	return -1;
}

enum { NUM_OK = 0, NUM_SYNTAX = -1, NUM_RANGE = -2 };

/* A decimal integer: an optional '-' and digits, nothing else. */
static int parse_ll(const char *s, long long *out)
{
	const char *p = s + (*s == '-');
	char *end;
	long long v;

	if (!*p)
		return NUM_SYNTAX;
	for (; *p; p++)
		if (*p < '0' || *p > '9')
			return NUM_SYNTAX;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return NUM_RANGE;
	if (errno || *end)
		return NUM_SYNTAX;
	*out = v;
	return NUM_OK;
}

/* A finite decimal number (no hex, inf, nan, blanks). */
static int parse_double(const char *s, double *out)
{
	char *end;
	double v;

	if (!*s || strspn(s, "0123456789.eE+-") != strlen(s))
		return NUM_SYNTAX;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end)
		return NUM_SYNTAX;
	if (!isfinite(v))
		return NUM_RANGE;
	*out = v;
	return NUM_OK;
}

static int bounded(const struct config_var *var)
{
	return var->min != 0 || var->max != 0;
}

static int parse_int(const struct config_var *var, const char *text, void *out, struct buf *err)
{
	long long v = 0;
	int rc = parse_ll(text, &v);

	if (rc == NUM_SYNTAX)
		return fail(var, text, err, "is not an integer");
	if (rc == NUM_RANGE || (bounded(var) && (v < var->min || v > var->max))) {
		if (bounded(var))
			return fail(var, text, err, "is not an integer between %lld and %lld",
				    var->min, var->max);
		return fail(var, text, err, "is out of the 64-bit integer range");
	}
	*(long long *)out = v;
	return 0;
}

static int parse_millis(const struct config_var *var, const char *text, void *out, struct buf *err)
{
	long long v = 0;
	int rc = parse_ll(text, &v);

	if (rc != NUM_OK || v < 0)
		return fail(var, text, err, "is not a non-negative integer number of milliseconds");
	if (bounded(var) && (v < var->min || v > var->max))
		return fail(var, text, err, "is not between %lld and %lld milliseconds", var->min,
			    var->max);
	*(long long *)out = v;
	return 0;
}

static int parse_port(const struct config_var *var, const char *text, void *out, struct buf *err)
{
	long long v = 0;

	if (parse_ll(text, &v) != NUM_OK || v < 1 || v > 65535)
		return fail(var, text, err, "is not a port number between 1 and 65535");
	*(int *)out = (int)v;
	return 0;
}

static int parse_rate(const struct config_var *var, const char *text, void *out, struct buf *err)
{
	double v = 0;

	if (parse_double(text, &v) != NUM_OK || v < 0 || v > 1)
		return fail(var, text, err, "is not a rate between 0 and 1");
	*(double *)out = v;
	return 0;
}

static int parse_number(const struct config_var *var, const char *text, void *out, struct buf *err)
{
	double v = 0;

	if (parse_double(text, &v) != NUM_OK)
		return fail(var, text, err, "is not a finite decimal number");
	if (bounded(var) && (v < (double)var->min || v > (double)var->max))
		return fail(var, text, err, "is not a number between %lld and %lld", var->min,
			    var->max);
	*(double *)out = v;
	return 0;
}

static int parse_duration(const struct config_var *var, const char *text, void *out,
			  struct buf *err)
{
	const char *why = NULL;
	long long ms = 0;

	if (duration_parse_why(text, &ms, &why))
		return fail(var, text, err, "is not an ISO-8601 duration such as PT1.5S (%s)",
			    why ? why : "invalid");
	if (bounded(var) && (ms < var->min || ms > var->max))
		return fail(var, text, err, "is not between %lld and %lld milliseconds", var->min,
			    var->max);
	*(long long *)out = ms;
	return 0;
}

/*
 * An absolute http:// or https:// URL with a host, checked here rather than with libcurl's
 * URL parser so that reading the configuration does not wait for libcurl (loaded at run time,
 * curl_api.h): scheme "http" or "https" (any case), "://", an optional "userinfo@", a host
 * (a bracketed IPv6 address, or a name or IPv4 address of RFC 3986 unreserved, sub-delims and
 * %-escape characters), an optional ":port" (1 to 5 digits, at most 65535), then nothing or a
 * path, query or fragment starting with '/', '?' or '#', with no space or control character.
 */
#define URL_HOST_CHARS \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=%"

static int valid_port(const char *p, size_t n)
{
	long port = 0;

	if (n == 0 || n > 5 || strspn(p, "0123456789") < n)
		return 0;
	for (size_t i = 0; i < n; i++)
		port = port * 10 + (p[i] - '0');
	return port <= 65535;
}

static int valid_url(const char *text)
{
	const char *auth, *end, *at, *host, *port;
	size_t n;

	auth = text_url_authority(text);
	if (!auth)
		return 0;
	for (const char *p = auth; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return 0;
	end = auth + strcspn(auth, "/?#");
	at = NULL;
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	host = at ? at + 1 : auth;
	if (*host == '[') {
		n = strspn(host + 1, "0123456789abcdefABCDEF:.");
		if (n < 2 || host[1 + n] != ']')
			return 0;
		port = host + 2 + n;
	} else {
		n = strspn(host, URL_HOST_CHARS);
		if (n == 0)
			return 0;
		port = host + n;
	}
	if (port == end)
		return 1;
	return *port == ':' && valid_port(port + 1, (size_t)(end - port - 1));
}

static int parse_url(const struct config_var *var, const char *text, void *out, struct buf *err)
{
	if (!valid_url(text))
		return fail(var, text, err,
			    "is not an absolute http:// or https:// URL with a host");
	*(const char **)out = text;
	return 0;
}

static int find_choice(const char *const *choices, const char *text)
{
	int i;

	for (i = 0; choices && choices[i]; i++)
		if (!strcasecmp(choices[i], text))
			return i;
	return -1;
}

static void append_choices(struct buf *b, const char *const *choices, const char *sep)
{
	int i;

	for (i = 0; choices && choices[i]; i++)
		buf_appendf(b, "%s%s", i ? sep : "", choices[i]);
}

static int parse_enum(const struct config_var *var, const char *text, void *out, struct buf *err)
{
	int i = find_choice(var->choices, text);

	if (i < 0) {
		fail(var, text, err, "is not one of: ");
		if (err)
			append_choices(err, var->choices, ", ");
		return -1;
	}
	*(int *)out = i;
	return 0;
}

static int parse_bool(const struct config_var *var, const char *text, void *out, struct buf *err)
{
	if (find_choice(bool_true, text) >= 0)
		*(int *)out = 1;
	else if (find_choice(bool_false, text) >= 0)
		*(int *)out = 0;
	else
		return fail(var, text, err, "is not a boolean (true/false, 1/0, yes/no)");
	return 0;
}

static int parse_string(const struct config_var *var, const char *text, void *out, struct buf *err)
{
	(void)var;
	(void)err;
	*(const char **)out = text;
	return 0;
}

/* One row per config_type: how its text is parsed, and the hint config_usage() prints. */
static const struct config_kind {
	int (*parse)(const struct config_var *var, const char *text, void *out, struct buf *err);
	const char *hint;
} kinds[] = {
	[CONFIG_STRING] = { parse_string, "text" },
	[CONFIG_URL] = { parse_url, "http(s) URL" },
	[CONFIG_INT] = { parse_int, "integer" },
	[CONFIG_PORT] = { parse_port, "port 1-65535" },
	[CONFIG_RATE] = { parse_rate, "rate 0-1" },
	[CONFIG_DOUBLE] = { parse_number, "number" },
	[CONFIG_MILLIS] = { parse_millis, "milliseconds" },
	[CONFIG_DURATION] = { parse_duration, "ISO-8601 duration" },
	[CONFIG_BOOL] = { parse_bool, "true|false" },
	[CONFIG_ENUM] = { parse_enum, "" },
};

static const struct config_kind *kind_of(const struct config_var *var)
{
	size_t t = (size_t)var->type;

	return t < ARRAY_SIZE(kinds) && kinds[t].parse ? &kinds[t] : NULL;
}

int config_parse(const struct config_var *var, const char *text, void *out, struct buf *err)
{
	const struct config_kind *k = kind_of(var);

	if (k)
		return k->parse(var, text, out, err);
	if (err)
		buf_appendf(err, "%s: unknown configuration type %d", var->name, (int)var->type);
	return -1;
}

int config_load(const struct config_var *vars, size_t n, void *cfg, struct buf *err)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct config_var *var = &vars[i];
		const char *text = getenv(var->name);
		void *field = (char *)cfg + var->offset;

		if (text && *text) {
			if (config_parse(var, text, field, err))
				return -1;
			continue;
		}
		if (!var->def)
			continue;
		if (config_parse(var, var->def, field, NULL)) {
			if (err)
				buf_appendf(err, "%s: the built-in default '%s' is invalid",
					    var->name, var->def);
			return -1;
		}
	}
	return 0;
}

void config_load_or_exit(const struct config_var *vars, size_t n, void *cfg)
{
	struct buf err;

	buf_init(&err, 4096);
	if (!config_load(vars, n, cfg, &err)) {
		buf_release(&err);
		return;
	}
	fprintf(stderr, "%s: config: %s\n", program_invocation_short_name, err.data);
	buf_release(&err);
	exit(2);
}

void config_exit(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

void config_usage(const struct config_var *vars, size_t n)
{
	int wname = (int)strlen("VARIABLE"), wdef = (int)strlen("DEFAULT");
	struct buf line;
	size_t i;

	for (i = 0; i < n; i++) {
		int ln = (int)strlen(vars[i].name), ld = vars[i].def ? (int)strlen(vars[i].def) : 1;

		wname = ln > wname ? ln : wname;
		wdef = ld > wdef ? ld : wdef;
	}
	buf_init(&line, BUF_NOCAP);
	buf_appendf(&line, "%-*s  %-*s  %s\n", wname, "VARIABLE", wdef, "DEFAULT", "DESCRIPTION");
	for (i = 0; i < n; i++) {
		const struct config_var *v = &vars[i];

		buf_appendf(&line, "%-*s  %-*s  %s (", wname, v->name, wdef, v->def ? v->def : "-",
			    v->help ? v->help : "");
		if (v->type == CONFIG_ENUM)
			append_choices(&line, v->choices, "|");
		else if (kind_of(v))
			buf_appends(&line, kind_of(v)->hint);
		buf_appends(&line, ")\n");
	}
	fputs(line.data, stdout);
	buf_release(&line);
}
