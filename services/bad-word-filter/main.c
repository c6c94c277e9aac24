/*
 * bad-word-filter: the first step of the moderation Sequence. It marks each review good or
 * bad against a word list (handlers.h, badword.h). main() only reads the configuration, loads
 * the list, starts, waits for a signal and stops.
 *
 * A BADWORDS_FILE that cannot be read or holds a bad entry is a start-up error: the process
 * prints why and exits 2 (as for any bad setting).
 */
#include <stddef.h>
#include <stdio.h>

#include "badword.h"
#include "common/config.h"
#include "common/http.h"
#include "common/log.h"
#include "common/service.h"
#include "handlers.h"

struct bwf_config {
	int port;
	const char *badwords_file;
};

static const struct config_var vars[] = {
	{ "PORT", CONFIG_PORT, offsetof(struct bwf_config, port), "8080", 0, 0, NULL,
	  "TCP port of the HTTP API" },
	{ "BADWORDS_FILE", CONFIG_STRING, offsetof(struct bwf_config, badwords_file),
	  "./services/bad-word-filter/data/badwords.txt", 0, 0, NULL,
	  "the word list, one entry per line (its source and licence: data/SOURCES.md)" },
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

int main(int argc, char **argv)
{
	struct bwf_config cfg = { 0 };
	struct http_server_config http = { 0 };
	struct http_server *srv;
	struct badword_list *list;
	struct filter f;
	struct buf err;

	service_start("bad-word-filter", argc, argv, vars, NVARS, &cfg);
	buf_init(&err, 1024);
	if (badword_load(cfg.badwords_file, &list, &err) != 0) {
		fprintf(stderr, "BADWORDS_FILE: %s\n", err.data);
		buf_release(&err);
		service_stop();
		return 2;
	}
	buf_release(&err);
	filter_init(&f, list);
	http.port = cfg.port;
	http.service = "bad-word-filter";
	http.routes = handlers_routes(&http.nroutes);
	http.ctx = &f;
	if (http_server_start(&http, &srv) != 0) {
		badword_free(list);
		service_stop();
		return 1;
	}
	log_info("bad-word-filter listening on port %d, %zu entries from %s", http_server_port(srv),
		 badword_count(list), cfg.badwords_file);
	service_wait();
	http_server_stop(srv);
	service_stop(); /* after the server, before what metrics read */
	badword_free(list);
	return 0;
}
