#include "common/duration.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/err.h"
#include "common/xalloc.h"

#define MS_SECOND 1000LL
#define MS_MINUTE (60 * MS_SECOND)
#define MS_HOUR	  (60 * MS_MINUTE)
#define MS_DAY	  (24 * MS_HOUR)
#define MS_WEEK	  (7 * MS_DAY)

/* Fraction digits that take part in the computation; later ones only need to be digits. */
#define FRAC_DIGITS 18

/* One "<number><designator>" component. */
struct component {
	unsigned long long ip;	 /* integer part, saturated at ULLONG_MAX */
	unsigned long long frac; /* first FRAC_DIGITS fraction digits, zero-padded */
	bool has_frac;
	char unit;
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Reads digits [ ('.'|',') digits ] and a designator at *p. Returns NULL or the rule broken. */
static const char *read_component(const char **p, struct component *c)
{
	const char *s = *p;
	int nfrac = 0;

	if (!is_digit(*s))
		return *s ? "expected a number before each designator" : "missing number after 'T'";
	c->ip = 0;
	c->frac = 0;
	c->has_frac = false;
	for (; is_digit(*s); s++)
		c->ip =
		    c->ip > (ULLONG_MAX - 9) / 10 ? ULLONG_MAX : c->ip * 10 + (unsigned)(*s - '0');
	if (*s == '.' || *s == ',') {
		s++;
		if (!is_digit(*s))
			return "a decimal sign must be followed by digits";
		c->has_frac = true;
		for (; is_digit(*s); s++)
			if (nfrac++ < FRAC_DIGITS)
				c->frac = c->frac * 10 + (unsigned)(*s - '0');
		for (; nfrac < FRAC_DIGITS; nfrac++)
			c->frac *= 10;
	}
	if (!*s)
		return "number without a unit designator";
	c->unit = *s++;
	*p = s;
	return NULL;
}

/* unit_ms * c in ms, added to *total. Returns false on overflow. */
static bool add_component(long long *total, const struct component *c, long long unit_ms)
{
	__extension__ typedef unsigned __int128 u128;
	u128 v = (u128)c->ip * (u128)unit_ms;

	v += (u128)c->frac * (u128)unit_ms / (u128)1000000000000000000ULL;
	if (v > (u128)(LLONG_MAX - *total))
		return false;
	*total += (long long)v;
	return true;
}

/*
 * The unit's rank in the allowed order and its length, or a rule when it is not allowed at
 * this place. Date part: W or D; time part: H, M, S.
 */
static const char *unit_info(char unit, bool in_time, int *rank, long long *ms)
{
	static const struct {
		char unit;
		bool time;
		int rank;
		long long ms;
	} units[] = {
		{ 'W', false, 0, MS_WEEK },  { 'D', false, 1, MS_DAY },	  { 'H', true, 2, MS_HOUR },
		{ 'M', true, 3, MS_MINUTE }, { 'S', true, 4, MS_SECOND },
	};
	size_t i;

	if (!in_time && (unit == 'Y' || unit == 'M'))
		return "years and months are not supported (their length varies)";
	for (i = 0; i < ARRAY_SIZE(units); i++) {
		if (units[i].unit != unit || units[i].time != in_time)
			continue;
		*rank = units[i].rank;
		*ms = units[i].ms;
		return NULL;
	}
	if (unit >= 'a' && unit <= 'z')
		return "designators must be upper case";
	return in_time ? "unknown time designator (expected H, M or S)"
		       : "unknown date designator (expected W or D, or T before a time)";
}

/* Parses everything after the leading 'P'. */
static const char *parse_body(const char *s, long long *out)
{
	struct component c = { 0 };
	bool in_time = false, any = false, week = false, frac = false;
	int last_rank = -1, rank = 0;
	long long total = 0, unit_ms = 0;
	const char *why;

	if (!*s)
		return "no units after 'P'";
	while (*s) {
		if (*s == 'T' || *s == 't') {
			if (*s == 't')
				return "designators must be upper case";
			if (in_time)
				return "'T' appears twice";
			in_time = true;
			s++;
			if (!*s)
				return "no units after 'T'";
			continue;
		}
		if (frac)
			return "only the smallest unit may have a fraction";
		why = read_component(&s, &c);
		if (!why)
			why = unit_info(c.unit, in_time, &rank, &unit_ms);
		if (why)
			return why;
		if (rank <= last_rank)
			return "units out of order or repeated";
		if (week || (rank == 0 && any))
			return "weeks cannot be combined with other units";
		if (!add_component(&total, &c, unit_ms))
			return "duration too large";
		week = rank == 0;
		frac = c.has_frac;
		last_rank = rank;
		any = true;
	}
	*out = total;
	return NULL;
}

int duration_parse_why(const char *s, long long *out_ms, const char **why)
{
	const char *rule;
	long long v = 0;

	if (!s || !*s)
		rule = "empty duration";
	else if (*s == '-' || *s == '+')
		rule = "signed durations are not allowed";
	else if (*s == 'p')
		rule = "designators must be upper case";
	else if (*s != 'P')
		rule = "a duration starts with 'P' (e.g. PT1S)";
	else
		rule = parse_body(s + 1, &v);
	if (rule) {
		if (why)
			*why = rule;
		return ERR_VALIDATION;
	}
	*out_ms = v;
	return 0;
}

int duration_parse(const char *s, long long *out_ms)
{
	return duration_parse_why(s, out_ms, NULL);
}

char *duration_format(long long ms, char out[DURATION_FMT_LEN])
{
	unsigned long long v = ms < 0 ? 0ULL - (unsigned long long)ms : (unsigned long long)ms;
	unsigned long long d = v / MS_DAY, h = v / MS_HOUR % 24, m = v / MS_MINUTE % 60;
	unsigned long long sec = v / MS_SECOND % 60, milli = v % MS_SECOND;
	size_t n = 0;

	n += (size_t)snprintf(out + n, DURATION_FMT_LEN - n, "%sP", ms < 0 ? "-" : "");
	if (d)
		n += (size_t)snprintf(out + n, DURATION_FMT_LEN - n, "%lluD", d);
	if (!h && !m && !sec && !milli) {
		if (!d)
			snprintf(out + n, DURATION_FMT_LEN - n, "T0S");
		return out;
	}
	n += (size_t)snprintf(out + n, DURATION_FMT_LEN - n, "T");
	if (h)
		n += (size_t)snprintf(out + n, DURATION_FMT_LEN - n, "%lluH", h);
	if (m)
		n += (size_t)snprintf(out + n, DURATION_FMT_LEN - n, "%lluM", m);
	if (milli) {
		int digits = 3;
		unsigned long long shown = milli;

		while (shown % 10 == 0) {
			shown /= 10;
			digits--;
		}

		snprintf(out + n, DURATION_FMT_LEN - n, "%llu.%0*lluS", sec, digits, shown);
	} else if (sec) {
		snprintf(out + n, DURATION_FMT_LEN - n, "%lluS", sec);
	}
	return out;
}
