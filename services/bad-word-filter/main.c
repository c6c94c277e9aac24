/*
 * bad-word-filter: the first step of the moderation Sequence. It marks each review good or
 * bad against a word list (filter.h, badword.h). main() only reads the configuration, loads
 * the list, starts, waits for a signal and stops.
 *
 * A BADWORDS_FILE that cannot be read or holds a bad entry is a start-up error: the process
 * prints why and exits 2 (as for any bad setting).
 */
#include <stddef.h>

#include "badword.h"
#include "common/config.h"
#include "common/service.h"
#include "common/step.h"
#include "common/xalloc.h"
#include "filter.h"

struct bwf_config {
	int port;
	const char *badwords_file;
	const char *journey_url;
};

static const struct config_var vars[] = {
	STEP_VARS(struct bwf_config),
	{ "BADWORDS_FILE", CONFIG_STRING, offsetof(struct bwf_config, badwords_file),
	  "./services/bad-word-filter/data/badwords.txt", 0, 0, NULL,
	  "the word list, one entry per line (its source and licence: data/SOURCES.md)" },
};

int main(int argc, char **argv)
{
	struct bwf_config cfg = { 0 };
	struct http_server_config http;
	struct badword_list *list;
	struct filter f;
	struct buf err;
	int rc;

	service_start("bad-word-filter", argc, argv, vars, ARRAY_SIZE(vars), &cfg);
	buf_init(&err, 1024);
	rc = badword_load(cfg.badwords_file, &list, &err);
	if (rc)
		rc = service_bad_setting("BADWORDS_FILE", err.data);
	buf_release(&err);
	if (rc)
		return rc;
	filter_init(&f, list);
	step_service_http(&f.service, cfg.port, cfg.journey_url, &http);
	rc = service_run(&http, ", %zu entries from %s", badword_count(list), cfg.badwords_file);
	step_service_end(&f.service);
	badword_free(list);
	return rc;
}
