/*
 * fuzz_base64: base64_decode() on arbitrary bytes; whatever decodes must encode to text that
 * decodes back to the same bytes, and the encoding has BASE64_LEN() symbols. Also
 * text_utf8_decode() over the same bytes: it always advances by 1-4, a rejected sequence has a
 * reason, and text_utf8_seq()/text_utf8_next() agree with it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void utf8_walk(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		const char *why = NULL;
		uint32_t cp = 0, cp2 = 0;
		size_t len = text_utf8_decode(p + i, n - i, &cp, &why);

		if (len > 4 || len > n - i || (len == 0 && (!why || !*why)))
			abort();
		if (text_utf8_seq(p + i, n - i) != len)
			abort();
		if (text_utf8_next(p + i, n - i, &cp2) != (len ? len : 1) || (len && cp2 != cp))
			abort();
		i += len ? len : 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf raw, enc, back;

	buf_init(&raw, 1 << 20);
	buf_init(&enc, BUF_NOCAP);
	buf_init(&back, BUF_NOCAP);
	if (base64_decode((const char *)data, size, &raw) == 0) {
		if (base64_encode(raw.data, raw.len, &enc) != 0 || enc.len != BASE64_LEN(raw.len))
			abort();
		if (base64_decode(enc.data, enc.len, &back) != 0 || back.len != raw.len ||
		    memcmp(back.data, raw.data, raw.len) != 0)
			abort();
	}
	utf8_walk(data, size);
	buf_release(&raw);
	buf_release(&enc);
	buf_release(&back);
	return 0;
}
