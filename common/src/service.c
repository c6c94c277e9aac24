#include "common/service.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/otlp.h"
#include "common/signals.h"

struct shared_config {
	int log_level;
};

static const char *const level_names[] = { "debug", "info", "warn", "error", NULL };

static const struct config_var shared_vars[] = {
	{ "LOG_LEVEL", CONFIG_ENUM, offsetof(struct shared_config, log_level), "info", 0, 0,
	  level_names, "lowest level of the JSON log records written to stderr" },
};
#define NSHARED (sizeof(shared_vars) / sizeof(shared_vars[0]))

void service_start(const char *name, int argc, char **argv, const struct config_var *vars,
		   size_t nvars, void *cfg)
{
	struct shared_config shared = { 0 };

	if (argc > 1) {
		int help = strcmp(argv[1], "--help") == 0;

		if (!help)
			fprintf(stderr,
				"%s: takes no arguments (settings come from the environment)\n",
				name);
		config_usage(vars, nvars);
		config_usage(shared_vars, NSHARED);
		exit(help ? 0 : 2);
	}
	config_load_or_exit(vars, nvars, cfg);
	config_load_or_exit(shared_vars, NSHARED, &shared);
	(void)log_init(name, level_names[shared.log_level]);
	signals_block();
	(void)otlp_init(name);
}

int service_wait(void)
{
	int sig = signals_wait();

	log_info("stopping on %s", signals_name(sig));
	return sig;
}

void service_stop(void)
{
	otlp_shutdown();
}
