/*
 * review_event.c: the CloudEvent rules of node-server (see review_event.h).
 */
#include "review_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/ce.h"
#include "common/err.h"
#include "common/rand.h"
#include "common/text.h"
#include "common/xalloc.h"

static const char *const core_attributes[] = {
	"specversion", "id", "source", "type", "datacontenttype", "dataschema", "subject", "time",
};

/* json_dumps() that dies instead of returning NULL (it only fails when memory runs out). */
static char *dump_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	if (s == NULL) {
		(void)fputs("node-server: out of memory serializing JSON\n", stderr);
		abort();
	}
	return s;
}

static int is_core_attribute(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(core_attributes); i++)
		if (strcmp(core_attributes[i], name) == 0)
			return 1;
	return 0;
}

void review_event_trim(const char *s, size_t len, size_t *start, size_t *tlen)
{
	size_t b = 0, e = len;

	while (b < e && strchr(" \t\n\v\f\r", s[b]) && s[b] != '\0')
		b++;
	while (e > b && strchr(" \t\n\v\f\r", s[e - 1]) && s[e - 1] != '\0')
		e--;
	*start = b;
	*tlen = e - b;
}

size_t review_event_codepoints(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

void review_overrides_release(struct review_overrides *o)
{
	size_t i;

	for (i = 0; i < o->n; i++) {
		free(o->names[i]);
		free(o->values[i]);
	}
	free(o->names);
	free(o->values);
	memset(o, 0, sizeof(*o));
}

/* Checks one override and appends it to out. */
static int override_add(struct review_overrides *out, const char *name, json_t *value,
			struct buf *msg)
{
	struct ce_error cerr;
	const char *v;

	if (!ce_name_valid(name) || is_core_attribute(name)) {
		buf_appendf(msg, "K_CE_OVERRIDES: '%.*s' is not a valid extension name",
			    text_utf8_cut(name, 64), name);
		return ERR_VALIDATION;
	}
	if (!json_is_string(value)) {
		buf_appendf(msg, "K_CE_OVERRIDES: the value of extension '%s' must be a string",
			    name);
		return ERR_VALIDATION;
	}
	v = json_string_value(value);
	if (ce_check_value(CE_TYPE_STRING, v, json_string_length(value), "extension", &cerr)) {
		buf_appendf(msg, "K_CE_OVERRIDES: %s", cerr.message);
		return ERR_VALIDATION;
	}
	out->names = xrealloc(out->names, (out->n + 1) * sizeof(*out->names));
	out->values = xrealloc(out->values, (out->n + 1) * sizeof(*out->values));
	out->names[out->n] = xstrdup(name);
	out->values[out->n] = xstrdup(v);
	out->n++;
	return 0;
}

int review_overrides_parse(const char *text, struct review_overrides *out, struct buf *msg)
{
	json_error_t jerr;
	json_t *root, *ext, *value;
	const char *key;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (text == NULL || *text == '\0')
		return 0;
	root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		buf_appendf(msg, "K_CE_OVERRIDES: not JSON (%s)", jerr.text);
		return ERR_VALIDATION;
	}
	ext = json_object_get(root, "extensions");
	if (!json_is_object(root) || json_object_size(root) != (ext ? 1U : 0U) ||
	    (ext && !json_is_object(ext))) {
		buf_appendf(msg,
			    "K_CE_OVERRIDES: expected {\"extensions\": {\"name\": \"value\"}}");
		rc = ERR_VALIDATION;
		goto cleanup;
	}
	json_object_foreach(ext, key, value)
	{
		rc = override_add(out, key, value, msg);
		if (rc)
			break;
	}
cleanup:
	json_decref(root);
	if (rc)
		review_overrides_release(out);
	return rc;
}

/* A new event with the required attributes, a fresh id and the current time. */
static struct ce_event *event_new(const char *type, const char *source)
{
	struct ce_event *ev = ce_event_new();
	char id[37], when[CE_TIME_LEN];
	struct timespec ts;

	rand_uuid_v4(id);
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)ce_set(ev, "specversion", CE_SPECVERSION);
	(void)ce_set(ev, "id", id);
	(void)ce_set(ev, "source", source);
	(void)ce_set(ev, "type", type);
	(void)ce_set(ev, "time", ce_time_format(&ts, when));
	return ev;
}

/* The event's data as a JSON object (a new reference), or NULL with the error in *rc/msg. */
static json_t *data_object(const struct ce_event *in, int *rc, struct buf *msg)
{
	json_error_t jerr;
	json_t *data;

	*rc = ERR_VALIDATION;
	if (!in->has_data || in->data_len == 0) {
		buf_appendf(msg, "the event has no data: expected {\"reviewText\": \"...\"}");
		return NULL;
	}
	if (in->datacontenttype && !ce_content_type_is_json(in->datacontenttype)) {
		buf_appendf(msg, "the event data must be application/json, not '%.*s'",
			    text_utf8_cut(in->datacontenttype, 64), in->datacontenttype);
		return NULL;
	}
	data = json_loadb((const char *)in->data, in->data_len,
			  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (data == NULL) {
		*rc = ERR_INVALID_JSON;
		buf_appendf(msg, "the event data is not JSON: %s", jerr.text);
		return NULL;
	}
	if (!json_is_object(data)) {
		json_decref(data);
		buf_appendf(msg, "the event data must be a JSON object");
		return NULL;
	}
	*rc = 0;
	return data;
}

/* Replaces data.reviewText by its trimmed form after checking it. */
static int trim_review_text(json_t *data, struct buf *msg)
{
	json_t *text = json_object_get(data, "reviewText");
	size_t start, tlen;
	const char *s;

	if (!json_is_string(text)) {
		buf_appendf(msg, text ? "reviewText must be a string" : "reviewText is missing");
		return ERR_VALIDATION;
	}
	s = json_string_value(text);
	review_event_trim(s, json_string_length(text), &start, &tlen);
	if (tlen == 0) {
		buf_appendf(msg, "reviewText is empty");
		return ERR_VALIDATION;
	}
	if (review_event_codepoints(s + start, tlen) > REVIEW_EVENT_TEXT_MAX) {
		buf_appendf(msg, "reviewText is longer than %d characters", REVIEW_EVENT_TEXT_MAX);
		return ERR_VALIDATION;
	}
	if (start != 0 || tlen != json_string_length(text))
		(void)json_object_set_new(data, "reviewText", json_stringn(s + start, tlen));
	return 0;
}

int review_event_forward(const struct ce_event *in, const struct review_overrides *ov,
			 struct ce_event **out, struct buf *msg)
{
	const char *type = ce_get(in, "type");
	struct ce_event *ev;
	json_t *data;
	char *text;
	size_t i;
	int rc;

	*out = NULL;
	if (type == NULL || strcmp(type, REVIEW_EVENT_TYPE) != 0) {
		buf_appendf(msg, "unexpected event type '%.*s': expected " REVIEW_EVENT_TYPE,
			    text_utf8_cut(type ? type : "", 64), type ? type : "");
		return ERR_VALIDATION;
	}
	data = data_object(in, &rc, msg);
	if (data == NULL)
		return rc;
	rc = trim_review_text(data, msg);
	if (rc) {
		json_decref(data);
		return rc;
	}
	text = dump_json(data);
	json_decref(data);
	ev = event_new(REVIEW_EVENT_TYPE, REVIEW_EVENT_SOURCE);
	for (i = 0; ov && i < ov->n; i++)
		(void)ce_set(ev, ov->names[i], ov->values[i]);
	(void)ce_set_data(ev, text, strlen(text), "application/json");
	free(text);
	*out = ev;
	return 0;
}

/* The sentiment of an /insert event: a JSON string or null (borrowed or new in *owned). */
static int pick_sentiment(const struct ce_event *in, json_t *data, json_t **out, struct buf *msg)
{
	static const char *const members[] = { "sentimentResult", "sentiment" };
	const char *ext = ce_get(in, "sentimentresult");
	size_t i;

	*out = NULL;
	for (i = 0; i < ARRAY_SIZE(members); i++) {
		json_t *v = json_object_get(data, members[i]);

		if (v == NULL || json_is_null(v))
			continue;
		if (!json_is_string(v)) {
			buf_appendf(msg, "%s must be a string", members[i]);
			return ERR_VALIDATION;
		}
		*out = json_incref(v);
		return 0;
	}
	if (ext)
		*out = json_string(ext);
	return 0;
}

int review_event_insert_body(const struct ce_event *in, char **body, size_t *len, struct buf *msg)
{
	json_t *data, *text, *sentiment = NULL, *req;
	int rc;

	*body = NULL;
	*len = 0;
	data = data_object(in, &rc, msg);
	if (data == NULL)
		return rc;
	text = json_object_get(data, "reviewText");
	if (!json_is_string(text)) {
		buf_appendf(msg, text ? "reviewText must be a string" : "reviewText is missing");
		rc = ERR_VALIDATION;
		goto cleanup;
	}
	rc = pick_sentiment(in, data, &sentiment, msg);
	if (rc)
		goto cleanup;
	req = json_object();
	(void)json_object_set(req, "reviewText", text);
	if (sentiment)
		(void)json_object_set(req, "sentiment", sentiment);
	(void)json_object_set_new(req, "eventId", json_string(in->id));
	(void)json_object_set_new(req, "eventSource", json_string(in->source));
	*body = dump_json(req);
	*len = strlen(*body);
	json_decref(req);
cleanup:
	json_decref(sentiment);
	json_decref(data);
	return rc;
}

int review_event_inserted(const char *row, size_t len, struct ce_event **out, struct buf *msg)
{
	json_t *obj = json_loadb(row, len, JSON_REJECT_DUPLICATES, NULL);
	struct ce_event *ev;
	char *text;

	*out = NULL;
	if (!json_is_object(obj)) {
		json_decref(obj);
		buf_appendf(msg, "db-service answered with something other than a review object");
		return ERR_BAD_GATEWAY;
	}
	text = dump_json(obj);
	json_decref(obj);
	ev = event_new(REVIEW_INSERTED_TYPE, REVIEW_INSERTED_SOURCE);
	(void)ce_set_data(ev, text, strlen(text), "application/json");
	free(text);
	*out = ev;
	return 0;
}

/* One page row from one db-service row, or NULL when the row has the wrong shape. */
static json_t *page_row(json_t *row)
{
	json_t *id = json_object_get(row, "id");
	json_t *time = json_object_get(row, "post_time");
	json_t *content = json_object_get(row, "content");
	json_t *sentiment = json_object_get(row, "sentiment");
	json_t *out;

	if (!json_is_integer(id) || !json_is_string(time) || !json_is_string(content))
		return NULL;
	if (sentiment == NULL)
		sentiment = json_null();
	else if (!json_is_string(sentiment) && !json_is_null(sentiment))
		return NULL;
	out = json_object();
	(void)json_object_set(out, "id", id);
	(void)json_object_set(out, "post_time", time);
	(void)json_object_set(out, "content", content);
	(void)json_object_set(out, "sentiment", sentiment);
	return out;
}

int review_event_rows(const char *body, size_t len, char **out, size_t *out_len, struct buf *msg)
{
	json_t *rows = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *page, *row;
	size_t i;
	int rc = 0;

	*out = NULL;
	*out_len = 0;
	if (!json_is_array(rows)) {
		json_decref(rows);
		buf_appendf(msg,
			    "db-service answered GET /reviews with something other than an array");
		return ERR_BAD_GATEWAY;
	}
	page = json_array();
	json_array_foreach(rows, i, row)
	{
		json_t *r = page_row(row);

		if (r == NULL) {
			buf_appendf(msg, "db-service row %zu has an unexpected shape", i);
			rc = ERR_BAD_GATEWAY;
			break;
		}
		(void)json_array_append_new(page, r);
	}
	if (rc == 0) {
		*out = dump_json(page);
		*out_len = strlen(*out);
	}
	json_decref(page);
	json_decref(rows);
	return rc;
}
