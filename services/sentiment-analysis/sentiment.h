/*
 * sentiment.h: a lexicon-based sentiment analyser, VADER's rules (Hutto & Gilbert, ICWSM
 * 2014) as the `vader-sentiment` npm package 1.1.3 implements them, so that both give the
 * same compound score for the same text:
 *
 *   - tokens are the whitespace-separated words of more than one character; one leading or
 *     trailing punctuation mark ("good.", "!!great") is stripped, emoticons (":)") are kept;
 *   - each token's valence comes from the lexicon (case-insensitive);
 *   - a word in ALL CAPS among words that are not, gets +-0.733;
 *   - the three words before it may boost or dampen it ("very", "kind of": +-0.293, less
 *     with distance), negate it ("not", "isn't", "never": x -0.74), or form an idiom
 *     ("the bomb", "yeah right");
 *   - "least" before it negates it unless "at least" / "very least";
 *   - with "but", the words before it count half and the words after it one and a half;
 *   - up to four '!' add 0.292 each, two or three '?' 0.18 each (more: 0.96), in the
 *     direction of the sum;
 *   - compound = sum / sqrt(sum^2 + 15), rounded to 4 decimals: >= 0.05 is positive,
 *     <= -0.05 negative, neutral between.
 *
 * Beyond that package, as VADER 3.3 does: each emoji of the emoji table is replaced by its
 * name before scoring ("\U0001F622" -> "crying face"), so its words carry the sentiment.
 *
 * Data (sentiment_parse()): the lexicon is VADER's vader_lexicon.txt format, one
 * "token<TAB>valence[<TAB>...]" per line; the emoji table one "emoji<TAB>name" per line.
 * Empty lines are skipped; any other malformed line is an error naming its line number.
 *
 * Ownership and threads: a struct sentiment is immutable once built; any number of threads
 * may call sentiment_analyze() on it at once. sentiment_free() frees it.
 */
#ifndef SENTIMENT_ANALYSIS_SENTIMENT_H
#define SENTIMENT_ANALYSIS_SENTIMENT_H

#include <stddef.h>

#include "common/buf.h"

/* A lexicon or emoji file larger than this is refused (the shipped lexicon is 417 KiB). */
#define SENTIMENT_FILE_MAX ((size_t)16 * 1024 * 1024)
/* Only the first SENTIMENT_TEXT_MAX bytes of a text are analysed. */
#define SENTIMENT_TEXT_MAX ((size_t)64 * 1024)

enum sentiment_label {
	SENTIMENT_NEUTRAL = 0,
	SENTIMENT_POSITIVE,
	SENTIMENT_NEGATIVE,
};

struct sentiment_score {
	double compound; /* -1..1, rounded to 4 decimals */
	double pos, neg, neu;
	enum sentiment_label label;
};

struct sentiment;

/*
 * Builds an analyser from the lexicon text (lex_len bytes) and the emoji table (emoji_len
 * bytes; NULL/0 for none). Returns 0 and *out, or ERR_VALIDATION with "line N: ..." appended
 * to err (which may be NULL).
 */
int sentiment_parse(const char *lex, size_t lex_len, const char *emoji, size_t emoji_len,
		    struct sentiment **out, struct buf *err);
/*
 * sentiment_parse() of the two files (emoji_path may be NULL). Returns 0, ERR_IO (cannot
 * read a file, or larger than SENTIMENT_FILE_MAX) or ERR_VALIDATION, with a message naming
 * the file in err.
 */
int sentiment_load(const char *lexicon_path, const char *emoji_path, struct sentiment **out,
		   struct buf *err);
void sentiment_free(struct sentiment *s);

/* Number of lexicon entries and of emoji names. */
size_t sentiment_lexicon_size(const struct sentiment *s);
size_t sentiment_emoji_size(const struct sentiment *s);

/* Scores text[0..len) (any bytes; invalid UTF-8 is read byte by byte). */
void sentiment_analyze(const struct sentiment *s, const char *text, size_t len,
		       struct sentiment_score *out);

/* The label for a compound score: the thresholds above. */
enum sentiment_label sentiment_label_of(double compound);
/* "positive", "negative" or "neutral". */
const char *sentiment_label_name(enum sentiment_label label);

#endif
