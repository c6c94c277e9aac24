/*
 * fuzz_ws_frame: ws_frame_parse() over arbitrary client bytes, frame after frame as the hub
 * reads them, checking the parser's promises; then a build/parse round trip of the input as
 * a payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/node-server/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_stream(const uint8_t *data, size_t size)
{
	size_t pos = 0;

	for (;;) {
		struct ws_frame f;
		int rc = ws_frame_parse(data + pos, size - pos, &f);
		unsigned char *copy;

		if (rc == WS_PARSE_NEED_MORE)
			return;
		if (rc == WS_PARSE_ERROR) {
			if (f.close_code != WS_CLOSE_PROTOCOL && f.close_code != WS_CLOSE_TOO_BIG)
				abort();
			return;
		}
		if (rc != WS_PARSE_FRAME || f.frame_len > size - pos ||
		    f.payload_len > WS_MAX_MESSAGE || f.payload_len > f.frame_len ||
		    f.payload != data + pos + (f.frame_len - f.payload_len) ||
		    ((f.opcode & 8) && (f.payload_len > 125 || !f.fin)))
			abort();
		copy = malloc(f.payload_len + 1);
		if (!copy)
			abort();
		memcpy(copy, f.payload, f.payload_len);
		ws_mask(copy, f.payload_len, f.mask);
		free(copy);
		pos += f.frame_len;
	}
}

/* The input as a payload: build the server frame, mask it as a client would, parse it back. */
static void check_round_trip(const uint8_t *data, size_t size)
{
	static const unsigned char key[4] = { 1, 2, 3, 4 };
	struct buf b, c;
	struct ws_frame f;
	size_t hlen;

	if (size > WS_MAX_MESSAGE)
		return;
	buf_init(&b, BUF_NOCAP);
	buf_init(&c, BUF_NOCAP);
	if (ws_frame_build(&b, WS_OP_BINARY, data, size))
		abort();
	hlen = b.len - size;
	b.data[1] = (char)(b.data[1] | 0x80);
	if (buf_append(&c, b.data, hlen) || buf_append(&c, key, 4) ||
	    buf_append(&c, b.data + hlen, size))
		abort();
	ws_mask((unsigned char *)c.data + hlen + 4, size, key);
	if (ws_frame_parse(c.data, c.len, &f) != WS_PARSE_FRAME || f.frame_len != c.len ||
	    f.payload_len != size || f.opcode != WS_OP_BINARY || !f.fin)
		abort();
	ws_mask((unsigned char *)c.data + hlen + 4, size, key);
	if (size && memcmp(c.data + hlen + 4, data, size) != 0)
		abort();
	buf_release(&b);
	buf_release(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_stream(data, size);
	check_round_trip(data, size);
	return 0;
}
