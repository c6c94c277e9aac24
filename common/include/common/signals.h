/*
 * signals.h: the shutdown signals, handled synchronously by the main thread.
 *
 * No signal handlers: every service's main() follows one pattern, so no other thread is ever
 * interrupted and nothing async-signal-unsafe can run in a handler.
 *
 *	int main(void)
 *	{
 *		config_load_or_exit(vars, nvars, &cfg);
 *		signals_block();          // first, before any thread exists
 *		start();                  // threads created now inherit the blocked mask
 *		int sig = signals_wait(); // SIGTERM, SIGINT, SIGHUP or SIGQUIT
 *		log_info("stopping on %s", signals_name(sig));
 *		stop();
 *		return 0;
 *	}
 *
 * Because the signals stay blocked in every thread, a pending one is only ever consumed by
 * signals_wait(). SIGPIPE is ignored process-wide, so a write to a closed socket fails with
 * EPIPE instead of killing the process.
 */
#ifndef COMMON_SIGNALS_H
#define COMMON_SIGNALS_H

/*
 * Blocks SIGTERM, SIGINT, SIGHUP and SIGQUIT in the calling thread (call it from main before
 * creating any thread) and sets SIGPIPE to ignored.
 */
void signals_block(void);
/* Waits until one of the blocked signals arrives and returns its number. */
int signals_wait(void);
/* "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", or "signal" for any other number. */
const char *signals_name(int sig);

#endif
