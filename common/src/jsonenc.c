/* jsonenc.c: compact JSON text of a jansson value (see jsonenc.h). */
#include "common/jsonenc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/text.h"

int jsonenc_real(struct buf *out, double v)
{
	char s[40], *e;
	int p, n;

	/* %g drops trailing zeros, so the first precision that reads back is the shortest. */
	for (p = 15;; p++) {
		n = snprintf(s, sizeof(s) - 2, "%.*g", p, v); /* room for ".0" */
		if (p == 17 || strtod(s, NULL) == v)
			break;
	}
	e = strchr(s, 'e');
	if (e) {
		/* jansson's form: no '+' and no leading zeros in the exponent (1e+05 → 1e5). */
		char *d = e + 1, *q = e + 1;

		if (*q == '-') {
			d++;
			q++;
		} else if (*q == '+') {
			q++;
		}
		while (*q == '0' && q[1])
			q++;
		memmove(d, q, strlen(q) + 1);
	} else if (!strchr(s, '.') && n > 0) {
		memcpy(s + n, ".0", 3); /* still a real when read back */
	}
	return buf_appends(out, s);
}

static int append_object(struct buf *out, const json_t *v)
{
	json_t *obj = (json_t *)(uintptr_t)v; /* jansson's iterator takes no const; it reads */
	const char *key;
	size_t len;
	json_t *m;
	int rc = buf_appendc(out, '{'), first = 1;

	json_object_keylen_foreach(obj, key, len, m)
	{
		if (rc == 0 && !first)
			rc = buf_appendc(out, ',');
		first = 0;
		rc = rc ? rc : text_json_stringn(out, key, len);
		rc = rc ? rc : buf_appendc(out, ':');
		rc = rc ? rc : jsonenc_append(out, m);
		if (rc)
			return rc;
	}
	return buf_appendc(out, '}');
}

static int append_array(struct buf *out, const json_t *v)
{
	int rc = buf_appendc(out, '[');

	for (size_t i = 0; rc == 0 && i < json_array_size(v); i++) {
		if (i)
			rc = buf_appendc(out, ',');
		rc = rc ? rc : jsonenc_append(out, json_array_get(v, i));
	}
	return rc ? rc : buf_appendc(out, ']');
}

int jsonenc_append(struct buf *out, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return append_object(out, v);
	case JSON_ARRAY:
		return append_array(out, v);
	case JSON_STRING:
		return text_json_stringn(out, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return buf_appendf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		return jsonenc_real(out, json_real_value(v));
	case JSON_TRUE:
		return buf_appends(out, "true");
	case JSON_FALSE:
		return buf_appends(out, "false");
	case JSON_NULL:
	default:
		return buf_appends(out, "null");
	}
}

json_t *jsonenc_string(const char *s)
{
	json_t *j;
	struct buf b;

	if (!s)
		return json_string("");
	j = json_string(s);
	if (j)
		return j;
	buf_init(&b, BUF_NOCAP);
	(void)text_utf8_scrub(&b, s, strlen(s));
	j = json_stringn(b.data ? b.data : "", b.len);
	buf_release(&b);
	return j ? j : json_string("");
}
