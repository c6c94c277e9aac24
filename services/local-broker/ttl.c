/*
 * ttl.c: knativebrokerttl handling (see ttl.h).
 */
#include "ttl.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "common/ce.h"
#include "common/err.h"

/* The value when the extension holds an integer; 0 and *ok = 0 otherwise. */
static int ttl_value(const struct ce_event *ev, int *ok)
{
	const char *s = ce_get(ev, TTL_EXTENSION);
	char *end;
	long v;

	*ok = 0;
	if (!s)
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < INT_MIN || v > INT_MAX)
		return 0;
	*ok = 1;
	return (int)v;
}

int ttl_ingress(struct ce_event *ev, int max_ttl, int *out)
{
	int ok, ttl = ttl_value(ev, &ok);

	ttl = ok ? (ttl > INT_MIN ? ttl - 1 : ttl) : max_ttl;
	*out = ttl;
	if (ttl <= 0)
		return ERR_TTL;
	ttl_put(ev, ttl);
	return 0;
}

int ttl_take(struct ce_event *ev)
{
	int ok, ttl = ttl_value(ev, &ok);

	(void)ce_set(ev, TTL_EXTENSION, NULL);
	return ok ? ttl : 0;
}

void ttl_put(struct ce_event *ev, int ttl)
{
	(void)ce_set(ev, TTL_EXTENSION, NULL);
	(void)ce_set_int(ev, TTL_EXTENSION, ttl);
}
