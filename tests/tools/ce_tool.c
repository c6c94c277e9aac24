/*
 * ce_tool: the CloudEvents codec (ce.h) as a command, for interoperability tests.
 *
 *   ce_tool decode
 *       stdin:  {"headers": {"name": "value" | ["value", ...]}, "body_base64": "..."}
 *       stdout: the event as JSON (ce_to_json), or a JSON array of them for a batch;
 *               on a decode error {"error": "<code>", "message": "...", "status": <err.h>}
 *               and exit status 1.
 *   ce_tool encode binary|structured
 *       stdin:  one event in the JSON event format
 *       stdout: {"headers": {...}, "body_base64": "..."}; exit status 1 if it is invalid.
 *
 * Exit status 2: usage or input that is not the JSON described above.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/base64.h"
#include "common/ce.h"
#include "common/xalloc.h"

static json_t *read_stdin_json(void)
{
	json_error_t je;
	json_t *j = json_loadf(stdin, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);

	if (!j)
		fprintf(stderr, "ce_tool: stdin is not JSON: %s\n", je.text);
	return j;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(j);
}

static int print_error(const struct ce_error *err, int status)
{
	print_json(json_pack("{s:s, s:s, s:i}", "error", ce_errcode_name(err->code), "message",
			     err->message, "status", status));
	return 1;
}

/* The headers object as a struct http_header array (borrowing the JSON's strings). */
static int collect_headers(json_t *obj, struct http_header **out, size_t *n)
{
	size_t alloc = 0, i;
	const char *name;
	json_t *v, *e;

	*out = NULL;
	*n = 0;
	if (!json_is_object(obj))
		return obj ? -1 : 0;
	json_object_foreach(obj, name, v)
	{
		if (json_is_string(v)) {
			XGROW(*out, *n + 1, alloc);
			(*out)[(*n)++] = (struct http_header){ name, json_string_value(v) };
			continue;
		}
		if (!json_is_array(v))
			return -1;
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e))
				return -1;
			XGROW(*out, *n + 1, alloc);
			(*out)[(*n)++] = (struct http_header){ name, json_string_value(e) };
		}
	}
	return 0;
}

static json_t *decoded_json(const struct ce_decoded *d)
{
	json_t *arr;
	size_t i;

	if (d->mode != CE_MODE_BATCH)
		return ce_to_json(d->event);
	arr = json_array();
	for (i = 0; i < d->n_events; i++)
		json_array_append_new(arr, ce_to_json(d->events[i]));
	return arr;
}

static int cmd_decode(void)
{
	json_t *in = read_stdin_json(), *b64;
	struct http_header *hs = NULL;
	struct ce_decoded d;
	struct ce_error err;
	struct buf body;
	size_t n = 0;
	int rc = 2;

	buf_init(&body, BUF_NOCAP);
	if (!in)
		goto cleanup;
	b64 = json_object_get(in, "body_base64");
	if (collect_headers(json_object_get(in, "headers"), &hs, &n) ||
	    (b64 && (!json_is_string(b64) ||
		     base64_decode(json_string_value(b64), json_string_length(b64), &body)))) {
		fprintf(stderr,
			"ce_tool: expected {\"headers\": {...}, \"body_base64\": \"...\"}\n");
		goto cleanup;
	}
	rc = ce_decode_http(hs, n, body.data, body.len, &d, &err);
	if (rc) {
		rc = print_error(&err, rc);
		goto cleanup;
	}
	print_json(decoded_json(&d));
	ce_decoded_release(&d);
cleanup:
	free(hs);
	buf_release(&body);
	json_decref(in);
	return rc;
}

static json_t *body_json(json_t *headers, const void *body, size_t len)
{
	struct buf b;
	json_t *out;

	buf_init(&b, BUF_NOCAP);
	base64_encode(body, len, &b);
	out = json_pack("{s:o, s:s#}", "headers", headers, "body_base64", b.data, (int)b.len);
	buf_release(&b);
	return out;
}

static int encode(const struct ce_event *ev, int binary)
{
	json_t *headers = json_object();
	struct header_list hs;
	const void *body;
	struct buf b;
	size_t len, i;

	if (binary) {
		header_list_init(&hs);
		if (ce_encode_binary(ev, &hs, &body, &len)) {
			json_decref(headers);
			return 1;
		}
		for (i = 0; i < hs.n; i++)
			json_object_set_new(headers, hs.v[i].name, json_string(hs.v[i].value));
		print_json(body_json(headers, body, len));
		header_list_release(&hs);
		return 0;
	}
	buf_init(&b, BUF_NOCAP);
	if (ce_encode_structured(ev, &b)) {
		buf_release(&b);
		json_decref(headers);
		return 1;
	}
	json_object_set_new(headers, "content-type", json_string(CE_CONTENT_TYPE));
	print_json(body_json(headers, b.data, b.len));
	buf_release(&b);
	return 0;
}

static int cmd_encode(const char *mode)
{
	json_t *in;
	struct ce_event *ev;
	struct ce_error err;
	int rc;

	if (strcmp(mode, "binary") != 0 && strcmp(mode, "structured") != 0) {
		fprintf(stderr, "ce_tool: encode binary|structured\n");
		return 2;
	}
	in = read_stdin_json();
	if (!in)
		return 2;
	rc = ce_from_json(in, &ev, &err);
	json_decref(in);
	if (rc)
		return print_error(&err, rc);
	rc = encode(ev, !strcmp(mode, "binary"));
	ce_event_free(ev);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "decode"))
		return cmd_decode();
	if (argc == 3 && !strcmp(argv[1], "encode"))
		return cmd_encode(argv[2]);
	fprintf(stderr, "usage: ce_tool decode | ce_tool encode binary|structured\n");
	return 2;
}
