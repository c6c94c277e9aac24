/*
 * fuzz_node_event: node-server's pure event logic on arbitrary input. The first byte picks
 * the parser: the K_CE_OVERRIDES reader, db-service rows → the page's rows, a stored row →
 * the inserted-reply event, or a structured CloudEvent → the forwarded review and the
 * db-service insert body. Accepted output must itself be valid (the forwarded event and the
 * reply pass ce_validate()).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/node-server/review_event.h"
#include "common/buf.h"
#include "common/ce.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_event(const char *text, size_t len, const struct review_overrides *ov)
{
	static const struct http_header hs[] = {
		{ "Content-Type", "application/cloudevents+json" },
	};
	struct ce_decoded d;
	struct ce_error err;
	struct ce_event *out = NULL;
	struct buf msg;
	char *body = NULL;
	size_t blen;

	if (ce_decode_http(hs, 1, text, len, &d, &err))
		return;
	buf_init(&msg, 4096);
	if (review_event_forward(d.event, ov, &out, &msg) == 0) {
		if (ce_validate(out, NULL))
			abort();
		ce_event_free(out);
	}
	buf_reset(&msg);
	if (review_event_insert_body(d.event, &body, &blen, &msg) == 0)
		free(body);
	buf_release(&msg);
	ce_decoded_release(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct review_overrides ov = { 0 };
	struct ce_event *ev = NULL;
	struct buf msg;
	const char *text;
	char *out = NULL;
	size_t len, out_len;

	if (size < 1)
		return 0;
	text = (const char *)data + 1;
	len = size - 1;
	buf_init(&msg, 4096);
	switch (data[0] % 4) {
	case 0: {
		char *z = malloc(len + 1);

		memcpy(z, text, len);
		z[len] = '\0';
		if (review_overrides_parse(z, &ov, &msg) == 0)
			review_overrides_release(&ov);
		free(z);
		break;
	}
	case 1:
		if (review_event_rows(text, len, &out, &out_len, &msg) == 0)
			free(out);
		break;
	case 2:
		if (review_event_inserted(text, len, &ev, &msg) == 0) {
			if (ce_validate(ev, NULL))
				abort();
			ce_event_free(ev);
		}
		break;
	default:
		fuzz_event(text, len, NULL);
		break;
	}
	buf_release(&msg);
	return 0;
}
