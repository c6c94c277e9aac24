/*
 * sentiment-analysis: the second step of the moderation Sequence. It scores each review's
 * sentiment with VADER's rules (analyser.h, sentiment.h). main() only reads the
 * configuration, loads the lexicon, starts, waits for a signal and stops.
 *
 * A lexicon or emoji file that cannot be read or holds a malformed line is a start-up error:
 * the process prints why and exits 2 (as for any bad setting).
 */
#include <stddef.h>

#include "common/config.h"
#include "common/service.h"
#include "common/step.h"
#include "common/xalloc.h"
#include "analyser.h"
#include "sentiment.h"

struct sa_config {
	int port;
	const char *lexicon_file;
	const char *emoji_file;
	const char *journey_url;
};

static const struct config_var vars[] = {
	STEP_VARS(struct sa_config),
	{ "SENTIMENT_LEXICON_FILE", CONFIG_STRING, offsetof(struct sa_config, lexicon_file),
	  "./services/sentiment-analysis/data/vader_lexicon.txt", 0, 0, NULL,
	  "VADER's lexicon, token<TAB>valence per line (source and licence: data/SOURCES.md)" },
	{ "SENTIMENT_EMOJI_FILE", CONFIG_STRING, offsetof(struct sa_config, emoji_file),
	  "./services/sentiment-analysis/data/emoji_names.tsv", 0, 0, NULL,
	  "emoji<TAB>name per line; an emoji is scored by its name's words" },
};

int main(int argc, char **argv)
{
	struct sa_config cfg = { 0 };
	struct http_server_config http;
	struct sentiment *s;
	struct analyser a;
	struct buf err;
	int rc;

	service_start("sentiment-analysis", argc, argv, vars, ARRAY_SIZE(vars), &cfg);
	buf_init(&err, 1024);
	rc = sentiment_load(cfg.lexicon_file, cfg.emoji_file, &s, &err);
	if (rc)
		rc = service_bad_setting("SENTIMENT_LEXICON_FILE / SENTIMENT_EMOJI_FILE", err.data);
	buf_release(&err);
	if (rc)
		return rc;
	analyser_init(&a, s);
	step_service_http(&a.service, cfg.port, cfg.journey_url, &http);
	rc = service_run(&http, ", %zu lexicon entries from %s, %zu emoji",
			 sentiment_lexicon_size(s), cfg.lexicon_file, sentiment_emoji_size(s));
	step_service_end(&a.service);
	sentiment_free(s);
	return rc;
}
