/*
 * ce.c: CloudEvents events, attribute values and their validation. The JSON format lives in
 * ce_json.c and the HTTP binding in ce_http.c.
 */
#include "common/ce.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/base64.h"
#include "common/err.h"
#include "common/text.h"
#include "common/xalloc.h"

/* The core attributes: where each lives in the struct and its type. */
struct core_attr {
	const char *name;
	size_t offset;
	enum ce_type type;
};

static const struct core_attr core_attrs[] = {
	{ "specversion", offsetof(struct ce_event, specversion), CE_TYPE_STRING },
	{ "id", offsetof(struct ce_event, id), CE_TYPE_STRING },
	{ "source", offsetof(struct ce_event, source), CE_TYPE_URI_REF },
	{ "type", offsetof(struct ce_event, type), CE_TYPE_STRING },
	{ "datacontenttype", offsetof(struct ce_event, datacontenttype), CE_TYPE_STRING },
	{ "dataschema", offsetof(struct ce_event, dataschema), CE_TYPE_URI },
	{ "subject", offsetof(struct ce_event, subject), CE_TYPE_STRING },
	{ "time", offsetof(struct ce_event, time), CE_TYPE_TIMESTAMP },
};
#define N_CORE (ARRAY_SIZE(core_attrs))

static const struct core_attr *core_find(const char *name)
{
	size_t i;

	for (i = 0; i < N_CORE; i++)
		if (!strcmp(core_attrs[i].name, name))
			return &core_attrs[i];
	return NULL;
}

static char **core_slot(struct ce_event *ev, const struct core_attr *a)
{
	return (char **)((char *)ev + a->offset);
}

static char *core_value(const struct ce_event *ev, const struct core_attr *a)
{
	return *(char *const *)((const char *)ev + a->offset);
}

/* ---- errors ------------------------------------------------------------------------------ */

void ce_error_setf(struct ce_error *err, enum ce_errcode code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

int ce_errcode_to_err(enum ce_errcode code)
{
	if (code == CE_OK)
		return 0;
	return code == CE_ERR_FORMAT ? ERR_MEDIA_TYPE : ERR_INVALID_EVENT;
}

const char *ce_errcode_name(enum ce_errcode code)
{
	static const char *const names[] = {
		[CE_OK] = "ok",
		[CE_ERR_MISSING] = "missing_attribute",
		[CE_ERR_EMPTY] = "empty_attribute",
		[CE_ERR_SPECVERSION] = "bad_specversion",
		[CE_ERR_NAME] = "bad_attribute_name",
		[CE_ERR_UTF8] = "invalid_utf8",
		[CE_ERR_CONTROL] = "control_character",
		[CE_ERR_TIME] = "bad_time",
		[CE_ERR_BASE64] = "bad_base64",
		[CE_ERR_JSON] = "bad_json",
		[CE_ERR_ENCODING] = "bad_header_encoding",
		[CE_ERR_DUP_HEADER] = "duplicated_header",
		[CE_ERR_CONTENT_TYPE] = "conflicting_datacontenttype",
		[CE_ERR_FORMAT] = "unsupported_format",
		[CE_ERR_BATCH_SPECVERSION] = "mixed_batch_specversions",
		[CE_ERR_DATA_BOTH] = "data_and_data_base64",
		[CE_ERR_TYPE] = "wrong_attribute_type",
		[CE_ERR_TOO_MANY] = "too_many_extensions",
		[CE_ERR_BATCH] = "unexpected_batch",
	};

	if ((size_t)code >= ARRAY_SIZE(names) || !names[code])
		return "unknown";
	return names[code];
}

/* ---- value checks ------------------------------------------------------------------------ */

const char *ce_utf8_check(const void *data, size_t len)
{
	size_t ok = text_utf8_valid_len(data, len);
	const char *why = NULL;
	uint32_t cp;

	if (ok == len)
		return NULL;
	(void)text_utf8_decode((const unsigned char *)data + ok, len - ok, &cp, &why);
	return why;
}

/* The String rule: valid UTF-8 without controls, noncharacters (spec §Type System). */
static int check_string(const char *v, size_t len, const char *what, struct ce_error *err)
{
	const unsigned char *s = (const unsigned char *)v;
	const char *why = NULL;
	uint32_t cp = 0;
	size_t i = 0, n;

	while (i < len) {
		n = text_utf8_decode(s + i, len - i, &cp, &why);
		if (!n) {
			ce_error_setf(err, CE_ERR_UTF8, "%s: invalid UTF-8 (%s)", what, why);
			return -1;
		}
		if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
			ce_error_setf(err, CE_ERR_CONTROL, "%s: control character U+%04X", what,
				      (unsigned)cp);
			return -1;
		}
		if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE) {
			ce_error_setf(err, CE_ERR_CONTROL, "%s: noncharacter U+%04X", what,
				      (unsigned)cp);
			return -1;
		}
		i += n;
	}
	return 0;
}

static bool digits_at(const char *s, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int num_at(const char *s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

bool ce_time_valid(const char *s)
{
	size_t len = strlen(s);
	const char *p;
	int mon, day;

	/* full-date "T" partial-time: YYYY-MM-DDTHH:MM:SS */
	if (len < 20 || !digits_at(s, 4) || s[4] != '-' || !digits_at(s + 5, 2) || s[7] != '-' ||
	    !digits_at(s + 8, 2) || (s[10] != 'T' && s[10] != 't') || !digits_at(s + 11, 2) ||
	    s[13] != ':' || !digits_at(s + 14, 2) || s[16] != ':' || !digits_at(s + 17, 2))
		return false;
	mon = num_at(s + 5, 2);
	day = num_at(s + 8, 2);
	if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(num_at(s, 4), mon) ||
	    num_at(s + 11, 2) > 23 || num_at(s + 14, 2) > 59 || num_at(s + 17, 2) > 60)
		return false;
	p = s + 19;
	if (*p == '.') {
		if (!digits_at(++p, 1))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if ((*p == 'Z' || *p == 'z') && !p[1])
		return true;
	if ((*p != '+' && *p != '-') || strlen(p) != 6 || !digits_at(p + 1, 2) || p[3] != ':' ||
	    !digits_at(p + 4, 2))
		return false;
	return num_at(p + 1, 2) <= 23 && num_at(p + 4, 2) <= 59;
}

char *ce_time_format(const struct timespec *ts, char out[CE_TIME_LEN])
{
	struct tm tm;
	time_t t = ts->tv_sec;
	size_t n;

	if (!gmtime_r(&t, &tm)) {
		snprintf(out, CE_TIME_LEN, "1970-01-01T00:00:00Z");
		return out;
	}
	n = strftime(out, CE_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, CE_TIME_LEN - n, ".%09ldZ", (long)ts->tv_nsec);
	return out;
}

/* Integer: JSON-number integer form, 32-bit signed range. */
static bool int_valid(const char *s)
{
	const char *p = s + (*s == '-');
	char *end;
	long long v;

	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1]) || strlen(p) > 11)
		return false;
	v = strtoll(s, &end, 10);
	return !*end && v >= INT32_MIN && v <= INT32_MAX;
}

/* URI: scheme ":" ..., scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986). */
static bool uri_valid(const char *s)
{
	const char *p = s;

	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return false;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
	       *p == '+' || *p == '-' || *p == '.')
		p++;
	return *p == ':';
}

int ce_check_value(enum ce_type type, const char *v, size_t len, const char *what,
		   struct ce_error *err)
{
	struct buf tmp;
	int rc;

	if (check_string(v, len, what, err))
		return ERR_VALIDATION;
	switch (type) {
	case CE_TYPE_INTEGER:
		if (!int_valid(v))
			goto bad_type;
		break;
	case CE_TYPE_BOOLEAN:
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
			goto bad_type;
		break;
	case CE_TYPE_BINARY:
		buf_init(&tmp, BUF_NOCAP);
		rc = base64_decode(v, len, &tmp);
		buf_release(&tmp);
		if (rc) {
			ce_error_setf(err, CE_ERR_BASE64, "%s: not valid base64", what);
			return ERR_VALIDATION;
		}
		break;
	case CE_TYPE_URI:
		if (!uri_valid(v))
			goto bad_type;
		break;
	case CE_TYPE_TIMESTAMP:
		if (!ce_time_valid(v)) {
			ce_error_setf(err, CE_ERR_TIME, "%s: not an RFC 3339 timestamp", what);
			return ERR_VALIDATION;
		}
		break;
	default:
		break;
	}
	return 0;
bad_type:
	ce_error_setf(err, CE_ERR_TYPE, "%s: not a valid %s", what,
		      type == CE_TYPE_INTEGER	? "32-bit Integer"
		      : type == CE_TYPE_BOOLEAN ? "Boolean (true or false)"
						: "absolute URI");
	return ERR_VALIDATION;
}

bool ce_name_valid(const char *name)
{
	const char *p = name;

	if (!*p)
		return false;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			return false;
	return strcmp(name, "data") != 0;
}

/* ---- content types ----------------------------------------------------------------------- */

/* Splits "type/subtype; params" into lower-case-insensitive views; false if not a media type. */
static bool media_split(const char *ct, const char **type, size_t *tlen, const char **sub,
			size_t *slen)
{
	const char *p = text_skip_ows(ct), *slash;

	slash = strchr(p, '/');
	if (!slash || slash == p)
		return false;
	*type = p;
	*tlen = (size_t)(slash - p);
	*sub = slash + 1;
	for (p = *sub; *p && *p != ';' && *p != ' ' && *p != '\t'; p++)
		;
	*slen = (size_t)(p - *sub);
	return *slen > 0;
}

static bool sub_is(const char *sub, size_t slen, const char *want)
{
	return strlen(want) == slen && !strncasecmp(sub, want, slen);
}

static bool sub_ends(const char *sub, size_t slen, const char *suffix)
{
	size_t n = strlen(suffix);

	return slen > n && !strncasecmp(sub + slen - n, suffix, n);
}

bool ce_content_type_is_json(const char *ct)
{
	return text_media_type_is_json(ct, NULL);
}

/* Textual media types whose data can travel as a JSON string. */
static bool content_type_is_text(const char *ct)
{
	static const char *const subs[] = { "xml",  "javascript", "ecmascript",
					    "yaml", "x-yaml",	  "x-www-form-urlencoded",
					    "csv" };
	const char *type, *sub;
	size_t tlen, slen, i;

	if (!ct || !media_split(ct, &type, &tlen, &sub, &slen))
		return false;
	if (tlen == 4 && !strncasecmp(type, "text", 4))
		return true;
	for (i = 0; i < ARRAY_SIZE(subs); i++)
		if (sub_is(sub, slen, subs[i]))
			return true;
	return sub_ends(sub, slen, "+xml") || sub_ends(sub, slen, "+yaml");
}

/* ---- events ------------------------------------------------------------------------------ */

struct ce_event *ce_event_new(void)
{
	return xcalloc(1, sizeof(struct ce_event));
}

static void data_clear(struct ce_event *ev)
{
	free(ev->data);
	ev->data = NULL;
	ev->data_len = 0;
	ev->has_data = false;
	ev->data_base64 = false;
}

void ce_event_free(struct ce_event *ev)
{
	size_t i;

	if (!ev)
		return;
	for (i = 0; i < N_CORE; i++)
		free(core_value(ev, &core_attrs[i]));
	for (i = 0; i < ev->n_ext; i++) {
		free(ev->ext[i].name);
		free(ev->ext[i].value);
	}
	free(ev->ext);
	data_clear(ev);
	free(ev);
}

struct ce_event *ce_event_clone(const struct ce_event *ev)
{
	struct ce_event *c = ce_event_new();
	const char *v;
	size_t i;

	for (i = 0; i < N_CORE; i++) {
		v = core_value(ev, &core_attrs[i]);
		*core_slot(c, &core_attrs[i]) = v ? xstrdup(v) : NULL;
	}
	if (ev->n_ext) {
		c->ext = xcalloc(ev->n_ext, sizeof(*c->ext));
		c->alloc_ext = ev->n_ext;
	}
	for (i = 0; i < ev->n_ext; i++) {
		c->ext[i].name = xstrdup(ev->ext[i].name);
		c->ext[i].value = xstrdup(ev->ext[i].value);
		c->ext[i].type = ev->ext[i].type;
	}
	c->n_ext = ev->n_ext;
	if (ev->has_data)
		ce_data_copy(c, ev->data, ev->data_len, ev->data_base64);
	return c;
}

void ce_data_copy(struct ce_event *ev, const void *data, size_t len, bool base64)
{
	unsigned char *p = xmalloc(len + 1);

	if (len && data)
		memcpy(p, data, len);
	p[len] = '\0';
	data_clear(ev);
	ev->data = p;
	ev->data_len = len;
	ev->has_data = true;
	ev->data_base64 = base64;
}

static struct ce_ext *ext_find(const struct ce_event *ev, const char *name)
{
	size_t i;

	for (i = 0; i < ev->n_ext; i++)
		if (!strcmp(ev->ext[i].name, name))
			return &ev->ext[i];
	return NULL;
}

const struct ce_ext *ce_ext_find(const struct ce_event *ev, const char *name)
{
	return ext_find(ev, name);
}

static void ext_remove(struct ce_event *ev, struct ce_ext *x)
{
	size_t i = (size_t)(x - ev->ext);

	free(x->name);
	free(x->value);
	memmove(&ev->ext[i], &ev->ext[i + 1], (ev->n_ext - i - 1) * sizeof(*x));
	ev->n_ext--;
}

/* Sets an extension to value of type, replacing an existing one's value and type. */
static int ext_set(struct ce_event *ev, const char *name, enum ce_type type, const char *value,
		   size_t len, struct ce_error *err)
{
	struct ce_ext *x = ext_find(ev, name);
	char what[64];

	if (!value) {
		if (x)
			ext_remove(ev, x);
		return 0;
	}
	snprintf(what, sizeof(what), "attribute '%s'", name);
	if (ce_check_value(type, value, len, what, err))
		return ERR_VALIDATION;
	if (!x) {
		if (ev->n_ext >= CE_MAX_EXTENSIONS) {
			ce_error_setf(err, CE_ERR_TOO_MANY, "more than %d extension attributes",
				      CE_MAX_EXTENSIONS);
			return ERR_VALIDATION;
		}
		XGROW(ev->ext, ev->n_ext + 1, ev->alloc_ext);
		x = &ev->ext[ev->n_ext++];
		x->name = xstrdup(name);
		x->value = NULL;
	}
	free(x->value);
	x->value = xstrndup(value, len);
	x->type = type;
	return 0;
}

int ce_set_value(struct ce_event *ev, const char *name, enum ce_type type, const char *value,
		 size_t len, struct ce_error *err)
{
	const struct core_attr *core;
	char **slot, what[64];

	if (!ce_name_valid(name)) {
		ce_error_setf(err, CE_ERR_NAME, "invalid attribute name '%.*s'%s",
			      text_utf8_cut(name, 40), name,
			      strcmp(name, "data") ? " (must be [a-z0-9]+)" : " (reserved)");
		return ERR_VALIDATION;
	}
	core = core_find(name);
	if (!core)
		return ext_set(ev, name, type, value, len, err);
	slot = core_slot(ev, core);
	if (value) {
		snprintf(what, sizeof(what), "attribute '%s'", name);
		if (ce_check_value(core->type, value, len, what, err))
			return ERR_VALIDATION;
	}
	free(*slot);
	*slot = value ? xstrndup(value, len) : NULL;
	return 0;
}

int ce_set_typed(struct ce_event *ev, const char *name, enum ce_type type, const char *value,
		 struct ce_error *err)
{
	return ce_set_value(ev, name, type, value, value ? strlen(value) : 0, err);
}

int ce_set(struct ce_event *ev, const char *name, const char *value)
{
	return ce_set_value(ev, name, CE_TYPE_STRING, value, value ? strlen(value) : 0, NULL);
}

int ce_set_int(struct ce_event *ev, const char *name, int value)
{
	char s[16];

	snprintf(s, sizeof(s), "%d", value);
	return ce_set_typed(ev, name, CE_TYPE_INTEGER, s, NULL);
}

int ce_set_bool(struct ce_event *ev, const char *name, bool value)
{
	return ce_set_typed(ev, name, CE_TYPE_BOOLEAN, value ? "true" : "false", NULL);
}

const char *ce_get(const struct ce_event *ev, const char *name)
{
	const struct core_attr *core = core_find(name);
	const struct ce_ext *x;

	if (core)
		return core_value(ev, core);
	x = ext_find(ev, name);
	return x ? x->value : NULL;
}

bool ce_data_needs_base64(const char *content_type, const void *data, size_t len)
{
	json_t *j;

	if (!content_type) {
		/* JSON is implied without a content type: only JSON can go as "data". */
		j = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		json_decref(j);
		return j == NULL;
	}
	if (ce_content_type_is_json(content_type))
		return false;
	return !content_type_is_text(content_type) || ce_utf8_check(data, len) != NULL;
}

int ce_set_data(struct ce_event *ev, const void *data, size_t len, const char *content_type)
{
	if (ce_set(ev, "datacontenttype", content_type))
		return ERR_VALIDATION;
	if (!data) {
		data_clear(ev);
		return 0;
	}
	ce_data_copy(ev, data, len, ce_data_needs_base64(content_type, data, len));
	return 0;
}

/* A required attribute: present and non-empty. */
static int check_required(const char *v, const char *name, struct ce_error *err)
{
	if (!v) {
		ce_error_setf(err, CE_ERR_MISSING, "missing required attribute '%s'", name);
		return -1;
	}
	if (!*v) {
		ce_error_setf(err, CE_ERR_EMPTY, "required attribute '%s' is empty", name);
		return -1;
	}
	return 0;
}

static int check_nonempty(const char *v, const char *name, struct ce_error *err)
{
	if (v && !*v) {
		ce_error_setf(err, CE_ERR_EMPTY, "attribute '%s' must not be empty when present",
			      name);
		return -1;
	}
	return 0;
}

int ce_validate(const struct ce_event *ev, struct ce_error *err)
{
	if (check_required(ev->specversion, "specversion", err))
		return ERR_INVALID_EVENT;
	if (strcmp(ev->specversion, CE_SPECVERSION) != 0) {
		ce_error_setf(err, CE_ERR_SPECVERSION,
			      "unsupported specversion '%.*s' (only " CE_SPECVERSION ")",
			      text_utf8_cut(ev->specversion, 32), ev->specversion);
		return ERR_INVALID_EVENT;
	}
	if (check_required(ev->id, "id", err) || check_required(ev->source, "source", err) ||
	    check_required(ev->type, "type", err) ||
	    check_nonempty(ev->datacontenttype, "datacontenttype", err) ||
	    check_nonempty(ev->dataschema, "dataschema", err) ||
	    check_nonempty(ev->subject, "subject", err))
		return ERR_INVALID_EVENT;
	return 0;
}

int ce_event_finish(struct ce_event *ev, struct ce_error *err, struct ce_event **out)
{
	if (ce_validate(ev, err)) {
		ce_event_free(ev);
		return ERR_INVALID_EVENT;
	}
	*out = ev;
	return 0;
}
