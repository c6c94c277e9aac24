#include "common/log.h"
#include "common/text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fdio.h"
#include "common/xalloc.h"

/* Longest message kept (bytes); longer ones are cut and end with "...". */
#define LOG_MAX_MESSAGE 16384

static const char *const level_names[] = { "debug", "info", "warn", "error" };

static _Atomic int min_level = LOG_INFO;
static char service_name[128] = "unknown";

static _Thread_local char trace_id[33];
static _Thread_local char span_id[17];

int log_level_parse(const char *name)
{
	int i;

	for (i = 0; name && i < 4; i++)
		if (!strcasecmp(name, level_names[i]))
			return i;
	return -1;
}

int log_init(const char *service, const char *level)
{
	int lvl = level ? log_level_parse(level) : LOG_INFO;

	if (service)
		snprintf(service_name, sizeof(service_name), "%s", service);
	if (lvl < 0)
		return -1;
	atomic_store(&min_level, lvl);
	return 0;
}

int log_enabled(enum log_level level)
{
	return (int)level >= atomic_load_explicit(&min_level, memory_order_relaxed);
}

static int is_lower_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[len] == '\0';
}

void log_set_trace(const char *tid, const char *sid)
{
	trace_id[0] = span_id[0] = '\0';
	if (!tid || strlen(tid) != 32 || !is_lower_hex(tid, 32))
		return;
	memcpy(trace_id, tid, 33);
	if (sid && strlen(sid) == 16 && is_lower_hex(sid, 16))
		memcpy(span_id, sid, 17);
}

void log_format_time(char out[32], long long t_ns)
{
	struct timespec ts;
	struct tm tm;
	time_t secs;
	long long ms;

	if (!t_ns) {
		clock_gettime(CLOCK_REALTIME, &ts);
		t_ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	}
	ms = t_ns / 1000000;
	if (t_ns % 1000000 < 0)
		ms--; /* floor for times before the epoch */
	secs = (time_t)(ms / 1000);
	ms %= 1000;
	if (ms < 0) {
		ms += 1000;
		secs--;
	}
	if (!gmtime_r(&secs, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm)) {
		memcpy(out, "1970-01-01T00:00:00.000Z", 25);
		return;
	}
	snprintf(out + 19, 13, ".%03lldZ", ms);
}

/* Formats the message as a JSON string (a new reference): valid UTF-8, cut if too long. */
__attribute__((format(printf, 1, 0))) static json_t *format_message(const char *fmt, va_list ap)
{
	char small[1024], *text = small;
	struct buf clean;
	json_t *msg;
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(small, sizeof(small), fmt, cp);
	va_end(cp);
	if (n < 0) {
		small[0] = '\0';
	} else if ((size_t)n >= sizeof(small)) {
		size_t size = (size_t)n < LOG_MAX_MESSAGE ? (size_t)n + 1 : LOG_MAX_MESSAGE + 1;

		text = xmalloc(size);
		vsnprintf(text, size, fmt, ap);
	}
	buf_init(&clean, BUF_NOCAP);
	(void)text_utf8_scrub(&clean, text, strlen(text)); /* no cap: cannot fail */
	if (n > LOG_MAX_MESSAGE)
		buf_appends(&clean, "...");
	msg = json_stringn(clean.data, clean.len);
	buf_release(&clean);
	if (text != small)
		free(text);
	return msg;
}

static int dump_cb(const char *data, size_t size, void *arg)
{
	return buf_append(arg, data, size) ? -1 : 0;
}

__attribute__((format(printf, 3, 0))) static void emit(enum log_level level, json_t *fields,
						       const char *fmt, va_list ap)
{
	json_t *rec = json_object();
	char now[32];
	struct buf line;

	log_format_time(now, 0);
	json_object_set_new(rec, "time", json_string(now));
	json_object_set_new(rec, "level", json_string(level_names[level]));
	json_object_set_new(rec, "service", json_string(service_name));
	json_object_set_new(rec, "message", format_message(fmt, ap));
	if (trace_id[0])
		json_object_set_new(rec, "trace_id", json_string(trace_id));
	if (span_id[0])
		json_object_set_new(rec, "span_id", json_string(span_id));
	if (json_is_object(fields))
		json_object_update_missing(rec, fields); /* the fixed members win */
	buf_init(&line, BUF_NOCAP);
	if (!json_dump_callback(rec, dump_cb, &line, JSON_COMPACT) && !buf_appendc(&line, '\n'))
		/* one write(2) unless a pipe takes less */
		(void)fdio_write_full(STDERR_FILENO, line.data, line.len);
	buf_release(&line);
	json_decref(rec);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if ((unsigned)level > LOG_ERROR || !log_enabled(level))
		return;
	va_start(ap, fmt);
	emit(level, NULL, fmt, ap);
	va_end(ap);
}

void log_fields(enum log_level level, json_t *fields, const char *fmt, ...)
{
	va_list ap;

	if ((unsigned)level <= LOG_ERROR && log_enabled(level)) {
		va_start(ap, fmt);
		emit(level, fields, fmt, ap);
		va_end(ap);
	}
	json_decref(fields);
}
