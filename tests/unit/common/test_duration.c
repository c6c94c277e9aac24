#include <criterion/criterion.h>

#include <limits.h>

#include "common/duration.h"
#include "common/err.h"
#include "common/xalloc.h"

struct parse_row {
	const char *in;
	long long ms; /* expected; -1 = must be rejected */
};

static const struct parse_row parse_rows[] = {
	{ "PT1S", 1000 },
	{ "PT0.2S", 200 },
	{ "PT0,2S", 200 },
	{ "PT0S", 0 },
	{ "P0D", 0 },
	{ "PT1.5M", 90000 },
	{ "PT1H", 3600000 },
	{ "P1D", 86400000 },
	{ "P1DT2H30M", 95400000 },
	{ "P2W", 1209600000 },
	{ "PT0.0015S", 1 },
	{ "PT0.001S", 1 },
	{ "PT0.9999S", 999 },
	{ "PT100S", 100000 },
	{ "PT1H1M1.5S", 3661500 },
	{ "P1DT1S", 86401000 },
	{ "P0.5D", 43200000 },
	{ "PT10M", 600000 },
	{ "PT0.000000000000000000001S", 0 },
	{ "PT9223372036854775S", 9223372036854775000LL },
	{ "PT9223372036854775.807S", LLONG_MAX },
	/* rejected */
	{ "", -1 },
	{ "P", -1 },
	{ "PT", -1 },
	{ "P1DT", -1 },
	{ "-PT1S", -1 },
	{ "+PT1S", -1 },
	{ "PT-1S", -1 },
	{ "pt1s", -1 },
	{ "Pt1S", -1 },
	{ "PT1s", -1 },
	{ "1S", -1 },
	{ "T1S", -1 },
	{ "PT1", -1 },
	{ "PTS", -1 },
	{ "PT.5S", -1 },
	{ "PT1.S", -1 },
	{ "PT1.5M30S", -1 },
	{ "P1.5DT1H", -1 },
	{ "PT1S1M", -1 },
	{ "PT1H1H", -1 },
	{ "PT1M1H", -1 },
	{ "P1Y", -1 },
	{ "P1M", -1 },
	{ "P1Y2M3D", -1 },
	{ "P1W1D", -1 },
	{ "P1DT1W", -1 },
	{ "PT1D", -1 },
	{ "P1H", -1 },
	{ "P1S", -1 },
	{ "PT1STT", -1 },
	{ "PTT1S", -1 },
	{ "PT1S ", -1 },
	{ " PT1S", -1 },
	{ "PT1X", -1 },
	{ "PT9223372036854776S", -1 },
	{ "PT9223372036854775.808S", -1 },
	{ "P99999999999999999999999D", -1 },
	{ "P106751991168D", -1 },
	{ "P106751991167D", 106751991167LL * 86400000 },
};

Test(duration, parse_table)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(parse_rows); i++) {
		const struct parse_row *r = &parse_rows[i];
		long long ms = -42;
		const char *why = NULL;
		int rc = duration_parse_why(r->in, &ms, &why);

		if (r->ms < 0) {
			cr_expect_eq(rc, ERR_VALIDATION, "'%s' should be rejected (got %lld)",
				     r->in, ms);
			cr_expect_eq(ms, -42, "'%s': out untouched on failure", r->in);
			cr_expect(why && *why, "'%s': a reason is given", r->in);
		} else {
			cr_expect_eq(rc, 0, "'%s' should parse (%s)", r->in, why ? why : "");
			cr_expect_eq(ms, r->ms, "'%s' = %lld, expected %lld", r->in, ms, r->ms);
		}
	}
}

Test(duration, parse_without_reason_and_null)
{
	long long ms = 0;

	cr_expect_eq(duration_parse(NULL, &ms), ERR_VALIDATION);
	cr_expect_eq(duration_parse("P1Y", &ms), ERR_VALIDATION);
	cr_expect_eq(duration_parse("PT2S", &ms), 0);
	cr_expect_eq(ms, 2000);
}

Test(duration, reasons_name_the_rule)
{
	static const struct {
		const char *in;
		const char *why;
	} rows[] = {
		{ "P1Y", "years and months are not supported (their length varies)" },
		{ "PT1.5M30S", "only the smallest unit may have a fraction" },
		{ "pt1s", "designators must be upper case" },
		{ "-PT1S", "signed durations are not allowed" },
		{ "P", "no units after 'P'" },
		{ "PT", "no units after 'T'" },
		{ "PT9223372036854776S", "duration too large" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		long long ms;
		const char *why = NULL;

		cr_expect_eq(duration_parse_why(rows[i].in, &ms, &why), ERR_VALIDATION);
		cr_expect_str_eq(why ? why : "(null)", rows[i].why, "%s", rows[i].in);
	}
}

struct format_row {
	long long ms;
	const char *out;
};

static const struct format_row format_rows[] = {
	{ 0, "PT0S" },
	{ 1, "PT0.001S" },
	{ 10, "PT0.01S" },
	{ 200, "PT0.2S" },
	{ 250, "PT0.25S" },
	{ 1000, "PT1S" },
	{ 1500, "PT1.5S" },
	{ 60000, "PT1M" },
	{ 90000, "PT1M30S" },
	{ 3600000, "PT1H" },
	{ 86400000, "P1D" },
	{ 95400000, "P1DT2H30M" },
	{ 90061001, "P1DT1H1M1.001S" },
	{ 1209600000, "P14D" },
	{ LLONG_MAX, "P106751991167DT7H12M55.807S" },
	{ -1500, "-PT1.5S" },
	{ LLONG_MIN, "-P106751991167DT7H12M55.808S" },
};

Test(duration, format_table_and_round_trip)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(format_rows); i++) {
		char out[DURATION_FMT_LEN];
		long long back = -1;

		cr_expect_str_eq(duration_format(format_rows[i].ms, out), format_rows[i].out);
		if (format_rows[i].ms < 0)
			continue;
		cr_expect_eq(duration_parse(out, &back), 0, "%s parses back", out);
		cr_expect_eq(back, format_rows[i].ms, "%s round trips", out);
	}
}
