/*
 * fuzz_sentiment: sentiment-analysis's lexicon and emoji parsers and its scorer. An input
 * starting with 'L' is a lexicon (sentiment_parse), then used on a fixed text; 'E' is an
 * emoji table; any other input is a review scored with a small built-in lexicon. Every score
 * must be finite, the compound within -1..1, the proportions within 0..1, and the label the
 * compound's.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../services/sentiment-analysis/sentiment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char lexicon[] = "good\t1.9\nbad\t-2.5\ngreat\t3.1\nhorrible\t-2.5\nlol\t1.8\n"
			      ":)\t2.0\nsux\t-1.5\nleast\t-0.1\nface\t0.1\nheart\t2.2\n";
static const char emoji[] = "\xf0\x9f\x98\x80\tgrinning face\n\xe2\x9d\xa4\tred heart\n";
static const char sample[] =
    "Not a VERY good book, but kind of GREAT!!! :) \xe2\x9d\xa4\xef\xb8\x8f ??";

static void check(const struct sentiment *s, const char *text, size_t len)
{
	struct sentiment_score sc;

	sentiment_analyze(s, text, len, &sc);
	if (!isfinite(sc.compound) || sc.compound < -1 || sc.compound > 1)
		abort();
	if (!(sc.pos >= 0 && sc.pos <= 1 && sc.neg >= 0 && sc.neg <= 1 && sc.neu >= 0 &&
	      sc.neu <= 1))
		abort();
	if (sc.label != sentiment_label_of(sc.compound))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sentiment *builtin;
	struct sentiment *s;
	const char *text = (const char *)data + 1;

	if (!builtin &&
	    sentiment_parse(lexicon, sizeof(lexicon) - 1, emoji, sizeof(emoji) - 1, &builtin, NULL))
		abort();
	if (size > 0 && (data[0] == 'L' || data[0] == 'E')) {
		int rc =
		    data[0] == 'L'
			? sentiment_parse(text, size - 1, emoji, sizeof(emoji) - 1, &s, NULL)
			: sentiment_parse(lexicon, sizeof(lexicon) - 1, text, size - 1, &s, NULL);

		if (rc == 0) {
			check(s, sample, sizeof(sample) - 1);
			sentiment_free(s);
		}
		return 0;
	}
	check(builtin, (const char *)data, size);
	return 0;
}
