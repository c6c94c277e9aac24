/* deadletter.c: see deadletter.h. */
#include "deadletter.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/text.h"

int deadletter_parse_code(const char *text, int *out)
{
	const char *p = text;
	char *end;
	long v;

	if (*p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < INT_MIN || v > INT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

static void problem(struct deadletter_info *info, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void problem(struct deadletter_info *info, const char *fmt, ...)
{
	size_t used = strlen(info->problems);
	va_list ap;

	if (used + 3 >= sizeof(info->problems))
		return;
	if (used) {
		memcpy(info->problems + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(info->problems + used, sizeof(info->problems) - used, fmt, ap);
	va_end(ap);
}

/*
 * How many bytes at the end of s[0..len) form the start of a multi-byte UTF-8 character that
 * the data ends inside of (0 if none).
 */
static size_t incomplete_tail(const unsigned char *s, size_t len)
{
	for (size_t k = 1; k <= 3 && k <= len; k++) {
		unsigned char c = s[len - k];
		size_t need;

		if ((c & 0xC0) == 0x80)
			continue; /* continuation byte: look further back */
		if (c >= 0xF0 && c <= 0xF4)
			need = 4;
		else if (c >= 0xE0 && c <= 0xEF)
			need = 3;
		else if (c >= 0xC2 && c <= 0xDF)
			need = 2;
		else
			return 0; /* ASCII, or a byte no character starts with (0xC0, 0xC1, 0xF5-0xFF) */
		return need > k ? k : 0;
	}
	return 0;
}

/* Decodes knativeerrordata into the response members of err. */
static void set_response(json_t *err, const char *b64, struct deadletter_info *info)
{
	struct buf padded, bytes;
	size_t len = strlen(b64), cut;

	buf_init(&padded, BUF_NOCAP);
	buf_init(&bytes, BUF_NOCAP);
	buf_append(&padded, b64, len);
	if (len % 4 == 2 || len % 4 == 3) {
		buf_append(&padded, "==", 4 - len % 4);
		info->truncated = true;
	}
	if (len % 4 == 1 || base64_decode(padded.data, padded.len, &bytes) != 0) {
		info->encoding = "raw";
		info->truncated = false;
		problem(info, DEADLETTER_EXT_DATA " is not valid base64; kept as received");
		json_object_set_new(err, "response", json_string(b64));
		goto out;
	}
	cut = 0;
	if (ce_utf8_check(bytes.data, bytes.len) != NULL) {
		/* Only a value cut short can end inside a character: Knative's cap, or ours. */
		if (len == DEADLETTER_DATA_CAP || info->truncated)
			cut = incomplete_tail((const unsigned char *)bytes.data, bytes.len);
		if (!cut || ce_utf8_check(bytes.data, bytes.len - cut) != NULL) {
			info->encoding = "base64";
			info->truncated = false;
			json_object_set_new(err, "response", json_string(b64));
			goto out;
		}
		info->truncated = true;
	}
	info->encoding = "text";
	json_object_set_new(err, "response", json_stringn(bytes.data, bytes.len - cut));
out:
	json_object_set_new(err, "response_encoding", json_string(info->encoding));
	if (info->truncated)
		json_object_set_new(err, "response_truncated", json_true());
	buf_release(&padded);
	buf_release(&bytes);
}

static json_t *error_member(const struct ce_event *ev, struct deadletter_info *info)
{
	const char *code = ce_get(ev, DEADLETTER_EXT_CODE);
	const char *data = ce_get(ev, DEADLETTER_EXT_DATA);
	json_t *err = json_object();

	info->destination = ce_get(ev, DEADLETTER_EXT_DEST);
	json_object_set_new(err, "destination",
			    info->destination ? json_string(info->destination) : json_null());
	if (!info->destination)
		problem(info, "missing " DEADLETTER_EXT_DEST);
	if (!code)
		problem(info, "missing " DEADLETTER_EXT_CODE);
	else if (deadletter_parse_code(code, &info->code) == 0)
		info->has_code = true;
	else
		problem(info, DEADLETTER_EXT_CODE " '%.*s' is not an integer",
			text_utf8_cut(code, 64), code);
	json_object_set_new(err, "code", info->has_code ? json_integer(info->code) : json_null());
	if (data) {
		set_response(err, data, info);
	} else {
		problem(info, "missing " DEADLETTER_EXT_DATA);
		json_object_set_new(err, "response", json_null());
		json_object_set_new(err, "response_encoding", json_null());
	}
	return err;
}

json_t *deadletter_record(const struct ce_event *ev, const char *time, struct deadletter_info *info)
{
	json_t *event = ce_to_json(ev);

	*info = (struct deadletter_info){ 0 };
	json_object_del(event, DEADLETTER_EXT_DEST);
	json_object_del(event, DEADLETTER_EXT_CODE);
	json_object_del(event, DEADLETTER_EXT_DATA);
	return json_pack("{s:s, s:o, s:o}", "time", time, "error", error_member(ev, info), "event",
			 event);
}
