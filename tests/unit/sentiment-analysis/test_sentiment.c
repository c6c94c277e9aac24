/*
 * test_sentiment.c: sentiment-analysis's VADER rules on the shipped lexicon. The compound
 * scores in the table are what the reference, the vader-sentiment npm package 1.1.3, gives
 * for the same text (tests/integration/moderation_quality.test.mjs compares the two on the
 * whole labelled set); the emoji rows go beyond the reference. Then the thresholds and the
 * file parsers' errors.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../services/sentiment-analysis/sentiment.h"
#include "../unit.h"
#include "common/err.h"
#include "common/xalloc.h"

#define LEXICON "services/sentiment-analysis/data/vader_lexicon.txt"
#define EMOJI	"services/sentiment-analysis/data/emoji_names.tsv"

static struct sentiment *sa;

static void load(void)
{
	struct buf err;

	buf_init(&err, BUF_NOCAP);
	cr_assert_eq(sentiment_load(LEXICON, EMOJI, &sa, &err), 0, "%s", err.data);
	buf_release(&err);
}

static void unload(void)
{
	sentiment_free(sa);
	sa = NULL;
#ifdef __SANITIZE_ADDRESS__
	unit_leak_check();
#endif
}

TestSuite(sentiment, .init = load, .fini = unload);

struct row {
	const char *rule;
	const char *text;
	double compound; /* the reference's */
};

static const struct row rows[] = {
	{ "lexicon", "VADER is smart, handsome, and funny.", 0.8316 },
	{ "exclamation", "VADER is smart, handsome, and funny!", 0.8439 },
	{ "booster", "VADER is very smart, handsome, and funny.", 0.8545 },
	{ "ALL CAPS", "VADER is VERY SMART, handsome, and FUNNY.", 0.9227 },
	{ "caps and !!!", "VADER is VERY SMART, handsome, and FUNNY!!!", 0.9342 },
	{ "negation", "VADER is not smart, handsome, nor funny.", -0.7424 },
	{ "one word", "The book was good.", 0.4404 },
	{ "at least, n't", "At least it isn't a horrible book.", 0.431 },
	{ "kind of", "The book was kind of good.", 0.3832 },
	{ "but",
	  "The plot was good, but the characters are uncompelling and the dialog is not great.",
	  -0.7042 },
	{ "slang, caps", "Today SUX!", -0.5461 },
	{ "emoticons", "Make sure you :) or :D today!", 0.8633 },
	{ "negated negative", "Not bad at all", -0.5423 },
	{ "idiom", "This book is the shit", 0.6124 },
	{ "idiom yeah right", "yeah right, a great book", 0.743 },
	{ "kinda, But", "Today kinda sux! But I'll get by, lol", 0.2228 },
	{ "least", "It was the least good book", -0.3412 },
	{ "never so", "I never so loved a book", 0.7776 },
	{ "two negatives", "A really bad, horrible book.", -0.8211 },
	{ "two ?", "Is it good??", 0.504 },
	{ "four ? (token kept whole)", "Is it good????", 0 },
	{ "empty", "", 0 },
	{ "one-letter words only", "a b c", 0 },
	{ "no sentiment", "the", 0 },
	{ "CAPS alone", "GOOD book", 0.5622 },
	{ "negated booster", "Not a very good book.", 0.4927 },
	{ "didn't", "I didn't like it", -0.2755 },
	{ "short", "No way.", -0.296 },
};

Test(sentiment, same_compound_as_the_reference)
{
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct sentiment_score sc;

		sentiment_analyze(sa, rows[i].text, strlen(rows[i].text), &sc);
		cr_expect(fabs(sc.compound - rows[i].compound) < 1e-9,
			  "%s: \"%s\" gave %.4f, not %.4f", rows[i].rule, rows[i].text, sc.compound,
			  rows[i].compound);
		cr_expect_eq(sc.label, sentiment_label_of(rows[i].compound), "%s", rows[i].rule);
	}
}

Test(sentiment, proportions_add_up)
{
	struct sentiment_score sc;
	const char *t = "The plot was good, but the characters are dull.";

	sentiment_analyze(sa, t, strlen(t), &sc);
	cr_assert(sc.pos > 0 && sc.neg > 0 && sc.neu > 0);
	cr_assert(fabs(sc.pos + sc.neg + sc.neu - 1.0) < 0.002, "%f", sc.pos + sc.neg + sc.neu);
}

struct emoji_row {
	const char *text;
	enum sentiment_label label;
};

/* Scored by the words of the emoji's name ("smiling face with heart-eyes"...). */
Test(sentiment, emoji)
{
	static const struct emoji_row erows[] = {
		{ "\xf0\x9f\x98\x8d", SENTIMENT_POSITIVE }, /* smiling face with heart-eyes */
		{ "the book \xf0\x9f\x98\x8a",
		  SENTIMENT_POSITIVE },				    /* smiling face, smiling eyes */
		{ "the book\xf0\x9f\x98\xa2", SENTIMENT_NEGATIVE }, /* crying face, no space */
		{ "\xf0\x9f\x98\xa1\xef\xb8\x8f", SENTIMENT_NEGATIVE }, /* enraged face + VS16 */
		{ "\xf0\x9f\x93\x9a", SENTIMENT_NEUTRAL },		/* books */
	};

	for (size_t i = 0; i < ARRAY_SIZE(erows); i++) {
		struct sentiment_score sc;

		sentiment_analyze(sa, erows[i].text, strlen(erows[i].text), &sc);
		cr_expect_eq(sc.label, erows[i].label, "row %zu: %.4f", i, sc.compound);
	}
}

Test(sentiment, thresholds)
{
	cr_assert_eq(sentiment_label_of(0.05), SENTIMENT_POSITIVE);
	cr_assert_eq(sentiment_label_of(0.0499), SENTIMENT_NEUTRAL);
	cr_assert_eq(sentiment_label_of(0), SENTIMENT_NEUTRAL);
	cr_assert_eq(sentiment_label_of(-0.0499), SENTIMENT_NEUTRAL);
	cr_assert_eq(sentiment_label_of(-0.05), SENTIMENT_NEGATIVE);
	cr_assert_str_eq(sentiment_label_name(SENTIMENT_POSITIVE), "positive");
	cr_assert_str_eq(sentiment_label_name(SENTIMENT_NEGATIVE), "negative");
	cr_assert_str_eq(sentiment_label_name(SENTIMENT_NEUTRAL), "neutral");
}

Test(sentiment, any_bytes)
{
	static const char junk[] = "\xff\xfe good \x80\xc0\xaf \xf4\x90\x80\x80 !!!";
	struct sentiment_score sc;

	sentiment_analyze(sa, junk, sizeof(junk) - 1, &sc);
	cr_assert_eq(sc.label, SENTIMENT_POSITIVE);
}

struct parse_row {
	const char *lex, *emoji;
	int rc;
	size_t nlex, nemoji;
	const char *error;
};

Test(sentiment, parse)
{
	static const struct parse_row prows[] = {
		{ "good\t1.9\t0.9\t[1, 2]\n\nbad\t-2.5\r\n", NULL, 0, 2, 0, NULL },
		{ "good\t1.9", "\xf0\x9f\x98\x80\tgrinning face\n", 0, 1, 1, NULL },
		{ "good\t1.9\ngood\t2\n", NULL, 0, 1, 0, NULL },
		{ "good\n", NULL, ERR_VALIDATION, 0, 0, "line 1:" },
		{ "good\t1.9\nbad\tx\n", NULL, ERR_VALIDATION, 0, 0, "line 2: the valence" },
		{ "\t1\n", NULL, ERR_VALIDATION, 0, 0, "line 1:" },
		{ "big\t1e300\n", NULL, ERR_VALIDATION, 0, 0, "between -100 and 100" },
		{ "nan\tnan\n", NULL, ERR_VALIDATION, 0, 0, "line 1:" },
		{ "bad\xff\t1\n", NULL, ERR_VALIDATION, 0, 0, "not UTF-8" },
		{ "good\t1\n", "x\tan ascii letter\n", ERR_VALIDATION, 0, 0, "(emoji table)" },
		{ "good\t1\n", "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\ttwo\n", ERR_VALIDATION, 0, 0,
		  "line 1:" },
		{ "good\t1\n", "\xf0\x9f\x98\x80\t\n", ERR_VALIDATION, 0, 0, "line 1:" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(prows); i++) {
		const struct parse_row *r = &prows[i];
		struct sentiment *s = NULL;
		struct buf err;
		int rc;

		buf_init(&err, BUF_NOCAP);
		rc = sentiment_parse(r->lex, strlen(r->lex), r->emoji,
				     r->emoji ? strlen(r->emoji) : 0, &s, &err);
		cr_expect_eq(rc, r->rc, "row %zu: %d (%s)", i, rc, err.data);
		if (rc == 0) {
			cr_expect_eq(sentiment_lexicon_size(s), r->nlex, "row %zu", i);
			cr_expect_eq(sentiment_emoji_size(s), r->nemoji, "row %zu", i);
		} else {
			cr_expect(strstr(err.data, r->error), "row %zu: %s", i, err.data);
		}
		sentiment_free(s);
		buf_release(&err);
	}
}

/* The compound score of the one-word text `word` alone: VADER's normalisation of valence v. */
static double one_word(double v)
{
	return round(v / sqrt(v * v + 15) * 10000) / 10000;
}

/*
 * Each spelling of a valence is read as strtod() reads it (plain decimals take a faster path;
 * the rest go to strtod).
 */
Test(sentiment, valences_as_strtod_reads_them)
{
	static const char *const spellings[] = { "1.9", "-0.25", "+2",	"2.",
						 ".5",	"-3.1",	 "1e0", "0.1000000000000001",
						 "-0",	"007.50" };
	char lex[128];

	for (size_t i = 0; i < ARRAY_SIZE(spellings); i++) {
		struct sentiment *s;
		struct sentiment_score sc;
		double v = strtod(spellings[i], NULL);

		snprintf(lex, sizeof(lex), "other\t-4\nword\t%s\n", spellings[i]);
		cr_assert_eq(sentiment_parse(lex, strlen(lex), NULL, 0, &s, NULL), 0, "%s", lex);
		sentiment_analyze(s, "word", 4, &sc);
		cr_expect_float_eq(sc.compound, one_word(v), 1e-9, "%s: %f, want %f", spellings[i],
				   sc.compound, one_word(v));
		sentiment_free(s);
	}
}

/* A token or an emoji given twice keeps its last line. */
Test(sentiment, last_line_wins)
{
	struct sentiment *s;
	struct sentiment_score sc;
	const char *twice = "word\t-3\nword\t2\ngood\t1.9\nbad\t-2.5\n";
	const char *emoji = "\xf0\x9f\x98\x80\tbad\n\xf0\x9f\x98\x80\tgood\n";

	cr_assert_eq(sentiment_parse(twice, strlen(twice), emoji, strlen(emoji), &s, NULL), 0);
	sentiment_analyze(s, "word", 4, &sc);
	cr_expect_float_eq(sc.compound, one_word(2), 1e-9, "%f", sc.compound);
	sentiment_analyze(s, "\xf0\x9f\x98\x80", 4, &sc);
	cr_expect_float_eq(sc.compound, one_word(1.9), 1e-9, "%f", sc.compound);
	sentiment_free(s);
}

Test(sentiment, load_errors)
{
	struct sentiment *s;
	struct buf err;

	buf_init(&err, BUF_NOCAP);
	cr_assert_eq(sentiment_load("/nonexistent/lexicon.txt", NULL, &s, &err), ERR_IO);
	cr_assert_null(s);
	cr_assert(strstr(err.data, "/nonexistent/lexicon.txt"), "%s", err.data);
	buf_reset(&err);
	cr_assert_eq(sentiment_load(LEXICON, "/nonexistent/emoji.tsv", &s, &err), ERR_IO);
	cr_assert(strstr(err.data, "/nonexistent/emoji.tsv"), "%s", err.data);
	buf_release(&err);
}
