/*
 * duration.h: ISO-8601 durations as used by Knative delivery specs (backoffDelay, timeout,
 * retryAfterMax), converted to and from integer milliseconds.
 *
 * Accepted grammar (ISO 8601-1 §5.5.2.4 "format with designators", upper-case only):
 *
 *   P [n W]                       weeks, alone (ISO does not combine W with other units)
 *   P [n D] [T [n H] [n M] [n S]] days, then a time part
 *
 *   - n is a decimal number: digits, optionally with a fraction written with '.' or ','
 *     (ISO allows both). Only the last (smallest) unit given may carry a fraction:
 *     "PT1.5M" is 90 s, "PT1.5M30S" is rejected.
 *   - At least one unit; "P" and "PT" alone are rejected, as is a "T" with nothing after it.
 *   - Designators must be upper case ("pt1s" is rejected): ISO 8601 writes them in upper
 *     case and Knative's Go parser is the reference we follow.
 *   - Years (Y) and months (M before T) are rejected: their length in milliseconds is not
 *     fixed, and a delivery delay never needs them. A day is 24 h and a week 7 days.
 *   - No sign: negative durations are rejected. Results past LLONG_MAX ms are rejected.
 *   - Precision is the millisecond; finer fractions are truncated ("PT0.0015S" is 1 ms).
 *
 * Nothing here keeps state; every function is thread-safe.
 */
#ifndef COMMON_DURATION_H
#define COMMON_DURATION_H

/* Size of the buffer duration_format() needs (the longest output plus the NUL). */
#define DURATION_FMT_LEN 32

/*
 * Parses s into *out_ms. Returns 0, or ERR_VALIDATION (err.h) with *out_ms untouched.
 * If why is not NULL, *why is set on failure to a static string naming the rule that failed,
 * e.g. "years and months are not supported" (never freed by the caller).
 */
int duration_parse_why(const char *s, long long *out_ms, const char **why);
/* duration_parse_why() without the reason. */
int duration_parse(const char *s, long long *out_ms);

/*
 * Writes the canonical form of ms into out: "PT0S" for 0, otherwise days and a time part
 * with only non-zero units and the milliseconds as a fraction of seconds without trailing
 * zeros: 1000 → "PT1S", 200 → "PT0.2S", 95400000 → "P1DT2H30M", 90061001 → "P1DT1H1M1.001S".
 * A negative ms is formatted as its absolute value with a leading '-' (not parseable back).
 * Returns out.
 */
char *duration_format(long long ms, char out[DURATION_FMT_LEN]);

#endif
