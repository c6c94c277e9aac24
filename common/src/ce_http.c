/*
 * ce_http.c: the CloudEvents HTTP protocol binding (http-protocol-binding.md v1.0.2, §3)
 * for ce.h: mode detection, binary-mode headers, structured and batched bodies, and the
 * choice of mode for an event sent (ce_encode_http()).
 */
#include "common/ce.h"
#include "common/text.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/xalloc.h"

#define PREFIX_STRUCTURED "application/cloudevents"
#define PREFIX_BATCH	  "application/cloudevents-batch"

/* ---- mode detection ---------------------------------------------------------------------- */

static bool has_prefix_ci(const char *s, const char *prefix)
{
	return !strncasecmp(s, prefix, strlen(prefix));
}

/* The only Content-Type header, NULL when none, or -1 (with err) when there are several. */
static int find_content_type(const struct http_header *h, size_t n, const char **ct,
			     struct ce_error *err)
{
	size_t i;

	*ct = NULL;
	for (i = 0; i < n; i++) {
		if (strcasecmp(h[i].name, "content-type") != 0)
			continue;
		if (*ct) {
			ce_error_setf(err, CE_ERR_DUP_HEADER, "header Content-Type appears twice");
			return -1;
		}
		*ct = h[i].value;
	}
	return 0;
}

/* Whether ct (past the prefix) names the JSON format: "+json" then end or parameters. */
static bool format_is_json(const char *rest)
{
	if (strncasecmp(rest, "+json", 5) != 0)
		return false;
	rest += 5;
	return !*rest || *rest == ';' || *rest == ' ' || *rest == '\t';
}

bool ce_http_is_event(const struct http_header *headers, size_t n_headers)
{
	size_t i;

	for (i = 0; i < n_headers; i++) {
		if (!strcasecmp(headers[i].name, "ce-specversion"))
			return true;
		if (!strcasecmp(headers[i].name, "content-type") &&
		    has_prefix_ci(text_skip_ows(headers[i].value), PREFIX_STRUCTURED))
			return true;
	}
	return false;
}

/* ---- binary mode: header values ---------------------------------------------------------- */

/* RFC 7230 §3.2.6 quoted-string → its content, appended to out. */
static int unquote(const char *v, struct buf *out)
{
	const char *p = v + 1;

	for (; *p && *p != '"'; p++) {
		if (*p == '\\' && !*++p)
			return -1;
		buf_appendc(out, *p);
	}
	return *p == '"' && !p[1] ? 0 : -1;
}

/* Header value → attribute value in out: unquote, then one round of percent-decoding. */
static int header_value(const char *hname, const char *v, struct buf *out, struct ce_error *err)
{
	struct buf q;
	const char *src = v;
	size_t n = strlen(v);
	int rc = 0;

	buf_init(&q, BUF_NOCAP);
	if (*v == '"') {
		if (unquote(v, &q)) {
			ce_error_setf(err, CE_ERR_ENCODING, "%s: malformed quoted string", hname);
			rc = -1;
			goto cleanup;
		}
		src = q.data;
		n = q.len;
	}
	if (text_percent_decode(src, n, out)) {
		ce_error_setf(err, CE_ERR_ENCODING, "%s: bad percent escape", hname);
		rc = -1;
	}
cleanup:
	buf_release(&q);
	return rc;
}

/* One ce- header into ev. */
static int binary_attr(struct ce_event *ev, const struct http_header *h, struct ce_error *err)
{
	char *name = xstrdup(h->name + 3), what[96];
	struct buf val;
	size_t i;
	int rc = -1;

	buf_init(&val, BUF_NOCAP);
	for (i = 0; name[i]; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			name[i] = (char)(name[i] + 32);
	snprintf(what, sizeof(what), "header ce-%.80s", name);
	if (!ce_name_valid(name)) {
		ce_error_setf(err, CE_ERR_NAME, "%s: invalid attribute name (must be [a-z0-9]+)",
			      what);
		goto cleanup;
	}
	if (!strcmp(name, "datacontenttype")) {
		ce_error_setf(err, CE_ERR_CONTENT_TYPE,
			      "%s: not allowed in binary mode (Content-Type carries it)", what);
		goto cleanup;
	}
	if (ce_get(ev, name)) {
		ce_error_setf(err, CE_ERR_DUP_HEADER, "%s appears twice", what);
		goto cleanup;
	}
	if (header_value(what, h->value, &val, err) ||
	    ce_check_value(CE_TYPE_STRING, val.data, val.len, what, err))
		goto cleanup;
	rc = ce_set_value(ev, name, CE_TYPE_STRING, val.data, val.len, err) ? -1 : 0;
cleanup:
	buf_release(&val);
	free(name);
	return rc;
}

static int decode_binary(const struct http_header *h, size_t n, const char *ct, const void *body,
			 size_t len, struct ce_event **out, struct ce_error *err)
{
	struct ce_event *ev = ce_event_new();
	size_t i;

	for (i = 0; i < n; i++)
		if (strlen(h[i].name) >= 3 && !strncasecmp(h[i].name, "ce-", 3) &&
		    binary_attr(ev, &h[i], err))
			goto fail;
	if (ct && ce_set_value(ev, "datacontenttype", CE_TYPE_STRING, ct, strlen(ct), err))
		goto fail;
	if (len)
		ce_data_copy(ev, body, len, ce_data_needs_base64(ct, body, len));
	return ce_event_finish(ev, err, out) ? -1 : 0;
fail:
	ce_event_free(ev);
	return -1;
}

/* ---- structured and batched modes -------------------------------------------------------- */

/*
 * A structured or batched body. A member named twice is refused (RFC 8259 §4 leaves the
 * meaning to each parser: one that keeps the first would read another id, or other data).
 */
static json_t *parse_body(const void *body, size_t len, struct ce_error *err)
{
	json_error_t je;
	json_t *j = json_loadb(body ? body : "", len,
			       JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);

	if (!j)
		ce_error_setf(err, CE_ERR_JSON, "body is not valid JSON: %.*s (line %d column %d)",
			      text_utf8_cut(je.text, 160), je.text, je.line, je.column);
	return j;
}

static int decode_structured(const void *body, size_t len, struct ce_event **out,
			     struct ce_error *err)
{
	json_t *j = parse_body(body, len, err);
	int rc;

	if (!j)
		return -1;
	rc = ce_from_json(j, out, err);
	json_decref(j);
	return rc ? -1 : 0;
}

/* All events of a batch must share one specversion (checked before any other rule). */
static int batch_specversions(const json_t *arr, struct ce_error *err)
{
	const char *first = NULL, *sv;
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e)
	{
		sv = json_string_value(json_object_get(e, "specversion"));
		if (!sv)
			continue;
		if (!first)
			first = sv;
		else if (strcmp(first, sv) != 0) {
			ce_error_setf(err, CE_ERR_BATCH_SPECVERSION,
				      "event [%zu]: specversion '%.*s' differs from '%.*s'", i,
				      text_utf8_cut(sv, 16), sv, text_utf8_cut(first, 16), first);
			return -1;
		}
	}
	return 0;
}

static int decode_batch(const void *body, size_t len, struct ce_decoded *out, struct ce_error *err)
{
	json_t *arr = parse_body(body, len, err), *e;
	struct ce_error one;
	size_t i;

	if (!arr)
		return -1;
	if (!json_is_array(arr)) {
		ce_error_setf(err, CE_ERR_JSON, "a batch must be a JSON array");
		goto fail;
	}
	if (batch_specversions(arr, err))
		goto fail;
	out->events = xcalloc(json_array_size(arr) + 1, sizeof(struct ce_event *));
	json_array_foreach(arr, i, e)
	{
		if (ce_from_json(e, &out->events[i], &one)) {
			ce_error_setf(err, one.code, "event [%zu]: %s", i, one.message);
			goto fail;
		}
		out->n_events++;
	}
	json_decref(arr);
	return 0;
fail:
	json_decref(arr);
	return -1;
}

/* ---- decoding ---------------------------------------------------------------------------- */

void ce_decoded_release(struct ce_decoded *d)
{
	size_t i;

	ce_event_free(d->event);
	for (i = 0; i < d->n_events; i++)
		ce_event_free(d->events[i]);
	free(d->events);
	memset(d, 0, sizeof(*d));
}

/* The mode for a Content-Type; -1 (with err) for an unsupported structured format. */
static int detect_mode(const char *ct, enum ce_mode *mode, struct ce_error *err)
{
	const char *v = ct ? text_skip_ows(ct) : "";

	*mode = CE_MODE_BINARY;
	if (has_prefix_ci(v, PREFIX_BATCH))
		*mode = CE_MODE_BATCH;
	else if (has_prefix_ci(v, PREFIX_STRUCTURED))
		*mode = CE_MODE_STRUCTURED;
	else
		return 0;
	v += strlen(*mode == CE_MODE_BATCH ? PREFIX_BATCH : PREFIX_STRUCTURED);
	if (format_is_json(v))
		return 0;
	ce_error_setf(err, CE_ERR_FORMAT, "unsupported event format '%.*s' (only %s+json)",
		      text_utf8_cut(ct, 64), ct,
		      *mode == CE_MODE_BATCH ? PREFIX_BATCH : PREFIX_STRUCTURED);
	return -1;
}

int ce_decode_http(const struct http_header *headers, size_t n_headers, const void *body,
		   size_t len, struct ce_decoded *out, struct ce_error *err)
{
	const char *ct;
	int rc;

	memset(out, 0, sizeof(*out));
	if (err) {
		err->code = CE_OK;
		err->message[0] = '\0';
	}
	if (find_content_type(headers, n_headers, &ct, err) || detect_mode(ct, &out->mode, err))
		goto fail;
	if (out->mode == CE_MODE_BATCH)
		rc = decode_batch(body, len, out, err);
	else if (out->mode == CE_MODE_STRUCTURED)
		rc = decode_structured(body, len, &out->event, err);
	else
		rc = decode_binary(headers, n_headers, ct, body, len, &out->event, err);
	if (!rc)
		return 0;
fail:
	ce_decoded_release(out);
	return err ? ce_errcode_to_err(err->code) : ERR_INVALID_EVENT;
}

int ce_decode_event(const struct http_header *headers, size_t n_headers, const void *body,
		    size_t len, struct ce_event **out, struct ce_error *err)
{
	struct ce_decoded d;
	int rc;

	*out = NULL;
	rc = ce_decode_http(headers, n_headers, body, len, &d, err);
	if (rc)
		return rc;
	if (d.mode == CE_MODE_BATCH) {
		ce_decoded_release(&d);
		ce_error_setf(err, CE_ERR_BATCH,
			      "batched mode is not accepted here: send one event per request");
		return ERR_INVALID_EVENT;
	}
	*out = d.event;
	return 0;
}

/* ---- binary mode: encoding --------------------------------------------------------------- */

/* Percent-encodes space, '"', '%' and every byte outside U+0021..U+007E (upper-case hex). */
static char *percent_encode(const char *v)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)v;
	struct buf b;
	char esc[3];

	buf_init(&b, BUF_NOCAP);
	for (; *p; p++) {
		if (*p > 0x20 && *p < 0x7F && *p != '"' && *p != '%') {
			buf_appendc(&b, (char)*p);
			continue;
		}
		esc[0] = '%';
		esc[1] = hex[*p >> 4];
		esc[2] = hex[*p & 15];
		buf_append(&b, esc, 3);
	}
	return buf_detach(&b, NULL);
}

static void add_ce_header(struct header_list *out, const char *name, const char *value)
{
	header_list_take(out, xasprintf("ce-%s", name), percent_encode(value));
}

/*
 * Whether binary mode can carry ev: not when its datacontenttype names a CloudEvents format,
 * which a receiver would take for a structured or batched event.
 */
static bool binary_can_carry(const struct ce_event *ev)
{
	return !ev->datacontenttype ||
	       !has_prefix_ci(text_skip_ows(ev->datacontenttype), PREFIX_STRUCTURED);
}

int ce_encode_binary(const struct ce_event *ev, struct header_list *out, const void **body,
		     size_t *len)
{
	static const char *const core[] = { "specversion", "id",      "source", "type",
					    "dataschema",  "subject", "time" };
	const char *v;
	size_t i;

	*body = NULL;
	*len = 0;
	if (ce_validate(ev, NULL))
		return ERR_INVALID_EVENT;
	if (!binary_can_carry(ev))
		return ERR_MEDIA_TYPE;
	if (ev->datacontenttype)
		header_list_take(out, xstrdup("Content-Type"), xstrdup(ev->datacontenttype));
	else if (ev->has_data && !ev->data_base64)
		header_list_take(out, xstrdup("Content-Type"), xstrdup("application/json"));
	for (i = 0; i < ARRAY_SIZE(core); i++) {
		v = ce_get(ev, core[i]);
		if (v)
			add_ce_header(out, core[i], v);
	}
	for (i = 0; i < ev->n_ext; i++)
		add_ce_header(out, ev->ext[i].name, ev->ext[i].value);
	if (ev->has_data) {
		*body = ev->data;
		*len = ev->data_len;
	}
	return 0;
}

/* ---- either mode: encoding -------------------------------------------------------------- */

/* The bytes headers take on the wire: "name: value\r\n" each. */
static size_t header_bytes(const struct header_list *l)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		n += strlen(l->v[i].name) + strlen(l->v[i].value) + 4;
	return n;
}

int ce_binary_size(const struct ce_event *ev, size_t *bytes, size_t *count)
{
	struct header_list h = HEADER_LIST_INIT;
	const void *body;
	size_t len;
	int rc = ce_encode_binary(ev, &h, &body, &len);

	*bytes = rc ? 0 : header_bytes(&h);
	*count = rc ? 0 : h.n;
	header_list_release(&h);
	return rc;
}

int ce_encode_http(const struct ce_event *ev, bool structured, struct ce_encoded *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	header_list_init(&out->headers);
	buf_init(&out->json, BUF_NOCAP);
	if (!structured && binary_can_carry(ev)) {
		out->mode = CE_MODE_BINARY;
		rc = ce_encode_binary(ev, &out->headers, &out->body, &out->len);
		if (rc || (out->headers.n <= CE_BINARY_HEADERS_COUNT_MAX &&
			   header_bytes(&out->headers) <= CE_BINARY_HEADERS_MAX))
			goto out;
		ce_encoded_release(out); /* too many headers for a receiver: structured */
	}
	out->mode = CE_MODE_STRUCTURED;
	rc = ce_encode_structured(ev, &out->json);
	if (rc == 0) {
		header_list_add(&out->headers, "Content-Type", CE_CONTENT_TYPE);
		out->body = out->json.data;
		out->len = out->json.len;
	}
out:
	if (rc)
		ce_encoded_release(out);
	return rc;
}

void ce_encoded_release(struct ce_encoded *e)
{
	header_list_release(&e->headers);
	buf_release(&e->json);
	e->mode = CE_MODE_BINARY;
	e->body = NULL;
	e->len = 0;
}
