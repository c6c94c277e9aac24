/*
 * ttl.h: the broker's loop protection, the knativebrokerttl extension (EV pkg/broker/ttl.go).
 *
 * Ingress sets it to the maximum when an event arrives without it (or with a value that is
 * not an integer) and decrements it otherwise; a result <= 0 is refused (400). The filter
 * side removes it before calling a subscriber and puts the same value back on a reply, so a
 * reply loop ends after at most max hops. The value travels as an Integer extension.
 */
#ifndef LOCAL_BROKER_TTL_H
#define LOCAL_BROKER_TTL_H

struct ce_event;

#define TTL_EXTENSION	"knativebrokerttl"
#define TTL_DEFAULT_MAX 255

/* Applies the ingress rule to ev and stores the new value in *out. 0 or ERR_TTL. */
int ttl_ingress(struct ce_event *ev, int max_ttl, int *out);
/* Removes the extension from ev; returns its value, or 0 when absent or not an integer. */
int ttl_take(struct ce_event *ev);
/* Sets the extension to ttl (an Integer). */
void ttl_put(struct ce_event *ev, int ttl);

#endif
