/*
 * config.h: strict configuration from the environment.
 *
 * Each service describes its settings as data, a static const table of struct config_var,
 * and fills one struct of its own once at start-up with config_load(). Every value is
 * parsed strictly: a bad integer, duration, URL, rate or choice is an error naming the
 * variable and the rule, never a silent fallback to the default. The default (text, parsed
 * by the same rules) applies only when the variable is unset or empty.
 *
 * Storage per type (the field at `offset` in the caller's struct):
 *   CONFIG_STRING    const char *   (points into the environment or the default; not owned)
 *   CONFIG_URL       const char *   absolute http:// or https:// URL with a host
 *   CONFIG_INT       long long      within [min, max]
 *   CONFIG_PORT      int            1..65535
 *   CONFIG_RATE      double         0..1
 *   CONFIG_DOUBLE    double         within [min, max]
 *   CONFIG_MILLIS    long long      integer milliseconds within [min, max] (OTEL_* style)
 *   CONFIG_DURATION  long long      ISO-8601 duration (PT1S) in milliseconds (duration.h)
 *   CONFIG_BOOL      int            true/false/1/0/yes/no (case-insensitive)
 *   CONFIG_ENUM      int            index into choices (case-insensitive)
 */
#ifndef COMMON_CONFIG_H
#define COMMON_CONFIG_H

#include <stddef.h>

#include "common/buf.h"

enum config_type {
	CONFIG_STRING,
	CONFIG_URL,
	CONFIG_INT,
	CONFIG_PORT,
	CONFIG_RATE,
	CONFIG_DOUBLE,
	CONFIG_MILLIS,
	CONFIG_DURATION,
	CONFIG_BOOL,
	CONFIG_ENUM,
};

struct config_var {
	const char *name; /* environment variable */
	enum config_type type;
	size_t offset;	    /* offsetof(struct <svc>_config, field) */
	const char *def;    /* default text; NULL = optional (field left untouched) */
	long long min, max; /* CONFIG_INT, _MILLIS, _DOUBLE, _DURATION (ms) (0,0 = unbounded) */
	const char *const *choices; /* CONFIG_ENUM: NULL-terminated */
	const char *help;	    /* one line for --help and the README */
};

/*
 * Fills cfg from the environment. Returns 0, or -1 with one line in err such as
 * "FAILURE_RATE: '1.5' is not a rate between 0 and 1" (stopping at the first bad variable).
 * A variable that is unset or empty and has no default leaves its field untouched, so
 * zero-initialize cfg. The quoted value is cut at 64 bytes and control bytes are shown as \xNN.
 */
int config_load(const struct config_var *vars, size_t n, void *cfg, struct buf *err);
/* config_load(), printing the message to stderr and exiting with status 2 on failure. */
void config_load_or_exit(const struct config_var *vars, size_t n, void *cfg);
/*
 * Prints a bad setting or combination of settings (fmt, one line without its "\n") to stderr
 * and exits with status 2, as config_load_or_exit() does for a bad variable.
 */
__attribute__((noreturn, format(printf, 1, 2))) void config_exit(const char *fmt, ...);
/*
 * Parses one value by its var's rules into out (a pointer to the field). Returns 0, or -1 with
 * the message appended to err (which may be NULL); out is untouched on failure.
 */
int config_parse(const struct config_var *var, const char *text, void *out, struct buf *err);
/* Prints the table (name, default, help and the expected form) to stdout for --help. */
void config_usage(const struct config_var *vars, size_t n);

#endif
