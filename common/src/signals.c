#include "common/signals.h"
#include "common/xalloc.h"

#include <pthread.h>
#include <signal.h>
#include <stddef.h>

static const struct {
	int sig;
	const char *name;
} shutdown_signals[] = {
	{ SIGTERM, "SIGTERM" },
	{ SIGINT, "SIGINT" },
	{ SIGHUP, "SIGHUP" },
	{ SIGQUIT, "SIGQUIT" },
};

#define NSIGNALS (ARRAY_SIZE(shutdown_signals))

static void shutdown_set(sigset_t *set)
{
	size_t i;

	sigemptyset(set);
	for (i = 0; i < NSIGNALS; i++)
		sigaddset(set, shutdown_signals[i].sig);
}

void signals_block(void)
{
	struct sigaction sa = { 0 };
	sigset_t set;

	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	shutdown_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int signals_wait(void)
{
	sigset_t set;
	int sig = 0;

	shutdown_set(&set);
	while (sigwait(&set, &sig) != 0)
		;
	return sig;
}

const char *signals_name(int sig)
{
	size_t i;

	for (i = 0; i < NSIGNALS; i++)
		if (shutdown_signals[i].sig == sig)
			return shutdown_signals[i].name;
	return "signal";
}
