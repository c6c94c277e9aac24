/*
 * log.h: JSON-lines logs on stderr.
 *
 * Each record is one line: {"time":"2026-11-21T19:20:25.123Z","level":"info",
 * "service":"file-sink","message":"...", "trace_id":"...","span_id":"...", <fields>}.
 * time is RFC 3339 UTC with milliseconds. trace_id/span_id appear when the calling thread has
 * a trace context (log_set_trace(), set by the HTTP layer and the span API for the code running
 * inside a span). Records below the level from LOG_LEVEL (debug|info|warn|error; default info)
 * are dropped. A record is written with one write(2), so lines from threads never interleave.
 * All functions are thread-safe.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <jansson.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/*
 * Sets the service name (copied; "unknown" until set) and the level. Returns -1 if level is
 * not a known name (NULL = info), leaving the level unchanged. Call it from main before
 * starting threads.
 */
int log_init(const char *service, const char *level);
/* Parses a level name (case-insensitive); -1 if unknown. */
int log_level_parse(const char *name);
int log_enabled(enum log_level level);

/*
 * The calling thread's trace context, as lowercase hex (32 and 16 chars), copied.
 * NULL clears it. Records written by this thread carry it until it changes. An id that is not
 * lowercase hex of the right length is not recorded (a bad trace_id clears both).
 */
void log_set_trace(const char *trace_id, const char *span_id);

/*
 * The message is made valid UTF-8 (each bad byte becomes U+FFFD) and cut to 16 KiB with a
 * trailing "...".
 */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Like log_msg(), with extra members: fields is a JSON object that is merged into the record
 * and then released (the call steals the reference, even when the record is filtered out;
 * NULL is allowed). Members named like the fixed ones (time, level, ...) are ignored.
 */
void log_fields(enum log_level level, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Formats now (or t_ns since the epoch when non-zero) as RFC 3339 UTC with milliseconds. */
void log_format_time(char out[32], long long t_ns);

#endif
