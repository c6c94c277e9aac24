/*
 * fuzz_ce: the CloudEvents HTTP decoder (ce.h) and the stability of its round trips.
 *
 * Input layout: byte 0 picks the Content-Type, byte 1 the number of header lines (0..7);
 * then that many "name:value\n" lines; the rest is the body. When the input decodes, the
 * event is re-encoded structured and binary and decoded again; the attributes (canonical
 * strings) and the data bytes must survive, or the harness aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/ce.h"
#include "common/err.h"
#include "common/xalloc.h"

#define MAX_HEADERS 9

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const content_types[] = {
	NULL,
	"application/json",
	"text/plain",
	"application/octet-stream",
	"application/cloudevents+json; charset=utf-8",
	"application/cloudevents-batch+json",
	"application/cloudevents+xml",
	NULL, /* 7: the first header line is the Content-Type */
};

static void check(int cond)
{
	if (!cond)
		abort();
}

/* Same attributes (by canonical string) and, unless skip_data, the same data bytes. */
static void same_event(const struct ce_event *a, const struct ce_event *b, bool skip_ct,
		       bool skip_data)
{
	static const char *const core[] = { "specversion", "id",      "source", "type",
					    "dataschema",  "subject", "time" };
	const char *x, *y;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(core); i++) {
		x = ce_get(a, core[i]);
		y = ce_get(b, core[i]);
		check((!x && !y) || (x && y && !strcmp(x, y)));
	}
	x = a->datacontenttype;
	y = b->datacontenttype;
	check(skip_ct || (!x && !y) || (x && y && !strcmp(x, y)));
	check(a->n_ext == b->n_ext);
	for (i = 0; i < a->n_ext; i++) {
		y = ce_get(b, a->ext[i].name);
		check(y && !strcmp(y, a->ext[i].value));
	}
	if (skip_data)
		return;
	check(a->data_len == b->data_len);
	check(!a->data_len || !memcmp(a->data, b->data, a->data_len));
}

static struct ce_event *via_structured(const struct ce_event *ev)
{
	struct http_header h = { "Content-Type", CE_CONTENT_TYPE };
	struct ce_decoded d;
	struct ce_error err;
	struct ce_event *out;
	struct buf b;

	buf_init(&b, BUF_NOCAP);
	check(ce_encode_structured(ev, &b) == 0);
	check(ce_decode_http(&h, 1, b.data, b.len, &d, &err) == 0);
	out = d.event;
	d.event = NULL;
	ce_decoded_release(&d);
	buf_release(&b);
	return out;
}

/* NULL when the event cannot travel in binary mode (its datacontenttype is a CE format). */
static struct ce_event *via_binary(const struct ce_event *ev)
{
	struct header_list hs;
	struct ce_decoded d;
	struct ce_error err;
	struct ce_event *out;
	const void *body;
	size_t len;
	int rc;

	header_list_init(&hs);
	rc = ce_encode_binary(ev, &hs, &body, &len);
	if (rc) {
		check(rc == ERR_MEDIA_TYPE);
		header_list_release(&hs);
		return NULL;
	}
	check(ce_decode_http(hs.v, hs.n, body, len, &d, &err) == 0);
	out = d.event;
	d.event = NULL;
	ce_decoded_release(&d);
	header_list_release(&hs);
	return out;
}

static void round_trip(const struct ce_event *e1)
{
	struct ce_event *e2 = via_structured(e1), *e3, *e4;

	same_event(e1, e2, true, true);
	e3 = via_binary(e2);
	if (e3) {
		same_event(e2, e3, false, false);
		ce_event_free(e3);
	}
	e4 = via_binary(e1);
	if (e4) {
		same_event(e1, e4, !e1->datacontenttype, false);
		ce_event_free(e4);
	}
	ce_event_free(e2);
}

static void batch_round_trip(const struct ce_decoded *d)
{
	struct http_header h = { "Content-Type", CE_BATCH_CONTENT_TYPE };
	struct ce_decoded d2;
	struct ce_error err;
	struct buf b;
	size_t i;

	buf_init(&b, BUF_NOCAP);
	check(ce_encode_batch(d->events, d->n_events, &b) == 0);
	check(ce_decode_http(&h, 1, b.data, b.len, &d2, &err) == 0);
	check(d2.n_events == d->n_events);
	for (i = 0; i < d->n_events; i++)
		same_event(d->events[i], d2.events[i], true, true);
	ce_decoded_release(&d2);
	buf_release(&b);
}

/* Splits the input into headers (copied, NUL-terminated) and the body. */
static size_t split(const uint8_t *data, size_t size, char **lines, struct http_header *h,
		    size_t *nh, size_t *body_off)
{
	size_t pos = 2, want = size > 1 ? data[1] % 8 : 0, n = 0, end;
	const uint8_t *nl;
	char *colon;

	while (n < want && pos < size) {
		nl = memchr(data + pos, '\n', size - pos);
		end = nl ? (size_t)(nl - data) : size;
		lines[n] = xstrndup((const char *)data + pos, end - pos);
		colon = strchr(lines[n], ':');
		h[n].name = lines[n];
		h[n].value = colon ? colon + 1 : "";
		if (colon)
			*colon = '\0';
		n++;
		pos = end + 1;
	}
	*nh = n;
	*body_off = pos < size ? pos : size;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_header h[MAX_HEADERS];
	char *lines[MAX_HEADERS] = { 0 };
	struct ce_decoded d;
	struct ce_error err;
	size_t nh = 0, off = 0, i, nlines, choice;

	if (size < 1)
		return 0;
	choice = data[0] % 8;
	nlines = split(data, size, lines, h + 1, &nh, &off);
	h[0] = (struct http_header){ "Content-Type", content_types[choice] };
	if (choice == 7 && nh) {
		h[0].value = h[1].value;
		h[1].name = "x-moved";
	}
	if (ce_decode_http(h[0].value ? h : h + 1, nh + (h[0].value ? 1 : 0), data + off,
			   size - off, &d, &err) == 0) {
		check(err.code == CE_OK);
		if (d.mode == CE_MODE_BATCH)
			batch_round_trip(&d);
		else
			round_trip(d.event);
		ce_decoded_release(&d);
	} else {
		check(err.code != CE_OK && err.message[0]);
	}
	for (i = 0; i < nlines; i++)
		free(lines[i]);
	return 0;
}
