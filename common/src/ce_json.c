/*
 * ce_json.c: the CloudEvents JSON event format (json-format.md, v1.0.2) for ce.h.
 */
#include "common/ce.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/err.h"
#include "common/jsonenc.h"
#include "common/text.h"
#include "common/xalloc.h"

#define JSON_LOAD_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

/* The type a JSON extension value maps to, or -1 (with err) when JSON has no such type. */
static int json_ext_value(const char *name, const json_t *v, char *num, size_t numlen,
			  const char **s, size_t *len, enum ce_type *type, struct ce_error *err)
{
	json_int_t i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		*s = json_string_value(v);
		*len = json_string_length(v);
		*type = CE_TYPE_STRING;
		return 0;
	case JSON_TRUE:
	case JSON_FALSE:
		*s = json_is_true(v) ? "true" : "false";
		*len = strlen(*s);
		*type = CE_TYPE_BOOLEAN;
		return 0;
	case JSON_INTEGER:
		i = json_integer_value(v);
		if (i < INT32_MIN || i > INT32_MAX)
			break;
		*len = (size_t)snprintf(num, numlen, "%lld", (long long)i);
		*s = num;
		*type = CE_TYPE_INTEGER;
		return 0;
	default:
		break;
	}
	ce_error_setf(err, CE_ERR_TYPE,
		      "attribute '%.*s': must be a JSON string, boolean or 32-bit integer",
		      text_utf8_cut(name, 40), name);
	return -1;
}

/* One member of the event object other than data/data_base64. */
static int json_member(struct ce_event *ev, const char *key, const json_t *v, struct ce_error *err)
{
	char num[24];
	const char *s = NULL;
	size_t len = 0;
	enum ce_type type = CE_TYPE_STRING;
	bool core = !strcmp(key, "specversion") || !strcmp(key, "id") || !strcmp(key, "source") ||
		    !strcmp(key, "type") || !strcmp(key, "datacontenttype") ||
		    !strcmp(key, "dataschema") || !strcmp(key, "subject") || !strcmp(key, "time");

	if (json_is_null(v))
		return 0; /* null = unset */
	if (!ce_name_valid(key)) {
		ce_error_setf(err, CE_ERR_NAME, "invalid attribute name '%.*s' (must be [a-z0-9]+)",
			      text_utf8_cut(key, 40), key);
		return -1;
	}
	if (core) {
		if (!json_is_string(v)) {
			ce_error_setf(err, CE_ERR_TYPE, "attribute '%s': must be a JSON string",
				      key);
			return -1;
		}
		s = json_string_value(v);
		len = json_string_length(v);
	} else if (json_ext_value(key, v, num, sizeof(num), &s, &len, &type, err)) {
		return -1;
	}
	return ce_set_value(ev, key, type, s, len, err) ? -1 : 0;
}

/* The data or data_base64 member into ev (after datacontenttype is known). */
static int json_data(struct ce_event *ev, const json_t *data, const json_t *b64,
		     struct ce_error *err)
{
	struct buf b;

	if (data && b64) {
		ce_error_setf(err, CE_ERR_DATA_BOTH, "both 'data' and 'data_base64' are present");
		return -1;
	}
	if (b64) {
		if (!json_is_string(b64)) {
			ce_error_setf(err, CE_ERR_TYPE, "'data_base64' must be a JSON string");
			return -1;
		}
		buf_init(&b, BUF_NOCAP);
		if (base64_decode(json_string_value(b64), json_string_length(b64), &b)) {
			buf_release(&b);
			ce_error_setf(err, CE_ERR_BASE64, "'data_base64' is not valid base64");
			return -1;
		}
		ce_data_copy(ev, b.data, b.len, true);
		buf_release(&b);
		return 0;
	}
	if (!data)
		return 0;
	if (json_is_string(data) && ev->datacontenttype &&
	    !ce_content_type_is_json(ev->datacontenttype)) {
		ce_data_copy(ev, json_string_value(data), json_string_length(data), false);
		return 0;
	}
	/* JSON (or implied JSON): keep the value itself as compact JSON text, numbers as read. */
	buf_init(&b, BUF_NOCAP);
	(void)jsonenc_append(&b, data); /* no cap: it cannot fail */
	ce_data_copy(ev, b.data, b.len, false);
	buf_release(&b);
	return 0;
}

int ce_from_json(json_t *obj, struct ce_event **out, struct ce_error *err)
{
	struct ce_event *ev;
	const json_t *data = NULL, *b64 = NULL;
	const char *key;
	json_t *v;

	*out = NULL;
	if (!json_is_object(obj)) {
		ce_error_setf(err, CE_ERR_JSON, "an event must be a JSON object");
		return ERR_INVALID_EVENT;
	}
	ev = ce_event_new();
	json_object_foreach(obj, key, v)
	{
		if (!strcmp(key, "data"))
			data = json_is_null(v) ? NULL : v;
		else if (!strcmp(key, "data_base64"))
			b64 = json_is_null(v) ? NULL : v;
		else if (json_member(ev, key, v, err))
			goto fail;
	}
	if (json_data(ev, data, b64, err))
		goto fail;
	return ce_event_finish(ev, err, out);
fail:
	ce_event_free(ev);
	return ERR_INVALID_EVENT;
}

/* How deep v nests (a scalar: 0). jansson reads at most 2048 levels, so this recurses no more. */
static size_t json_depth(const json_t *v)
{
	size_t d = 0, i, x_d;
	const char *k;
	json_t *x;

	if (json_is_array(v)) {
		json_array_foreach(v, i, x)
		{
			x_d = json_depth(x);
			d = x_d > d ? x_d : d;
		}
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)(uintptr_t)v, k, x)
		{
			x_d = json_depth(x);
			d = x_d > d ? x_d : d;
		}
	} else {
		return 0;
	}
	return d + 1;
}

/* The data member(s) of ev into obj; sets *as_json when data went as a JSON value. */
static void data_to_json(const struct ce_event *ev, json_t *obj, bool *as_json)
{
	const char *ct = ev->datacontenttype;
	json_t *v = NULL;
	struct buf b;

	*as_json = false;
	if (!ev->has_data)
		return;
	if (!ev->data_base64) {
		if (!ct || ce_content_type_is_json(ct)) {
			v = json_loadb((const char *)ev->data, ev->data_len, JSON_LOAD_FLAGS, NULL);
			if (v && json_depth(v) > CE_JSON_DATA_DEPTH_MAX) {
				json_decref(v); /* the record around it would not read back */
				v = NULL;
			}
			*as_json = v != NULL;
		} else {
			v = json_stringn((const char *)ev->data, ev->data_len);
		}
	}
	if (v) {
		json_object_set_new(obj, "data", v);
		return;
	}
	buf_init(&b, BUF_NOCAP);
	base64_encode(ev->data, ev->data_len, &b);
	json_object_set_new(obj, "data_base64", json_stringn(b.data, b.len));
	buf_release(&b);
}

static json_t *ext_to_json(const struct ce_ext *x)
{
	if (x->type == CE_TYPE_INTEGER)
		return json_integer(strtoll(x->value, NULL, 10));
	if (x->type == CE_TYPE_BOOLEAN)
		return json_boolean(!strcmp(x->value, "true"));
	return json_string(x->value);
}

json_t *ce_to_json(const struct ce_event *ev)
{
	static const char *const order[] = { "specversion",	"id",	      "source",	 "type",
					     "datacontenttype", "dataschema", "subject", "time" };
	json_t *obj = json_object(), *data = json_object();
	const char *v;
	bool as_json;
	size_t i;

	data_to_json(ev, data, &as_json);
	for (i = 0; i < ARRAY_SIZE(order); i++) {
		v = ce_get(ev, order[i]);
		if (!v && as_json && !strcmp(order[i], "datacontenttype"))
			v = "application/json"; /* implied: say it explicitly */
		if (v)
			json_object_set_new(obj, order[i], json_string(v));
	}
	for (i = 0; i < ev->n_ext; i++)
		json_object_set_new(obj, ev->ext[i].name, ext_to_json(&ev->ext[i]));
	json_object_update(obj, data);
	json_decref(data);
	return obj;
}

/* Appends j's text to out and drops j: 0, or ERR_TOO_LARGE (out past its cap, left as it was). */
static int dump_to_buf(json_t *j, struct buf *out)
{
	size_t start = out->len;
	int rc = 0;

	if (jsonenc_append(out, j)) {
		buf_setlen(out, start);
		rc = ERR_TOO_LARGE;
	}
	json_decref(j);
	return rc;
}

int ce_encode_structured(const struct ce_event *ev, struct buf *out)
{
	if (ce_validate(ev, NULL))
		return ERR_INVALID_EVENT;
	return dump_to_buf(ce_to_json(ev), out);
}

int ce_encode_batch(struct ce_event *const *evs, size_t n, struct buf *out)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++) {
		if (ce_validate(evs[i], NULL)) {
			json_decref(arr);
			return ERR_INVALID_EVENT;
		}
		json_array_append_new(arr, ce_to_json(evs[i]));
	}
	return dump_to_buf(arr, out);
}
