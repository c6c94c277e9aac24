/*
 * topology.h: the Brokers and Triggers the local broker serves, read from the same Knative
 * manifests the cluster applies (k8s/base/eventing), so the local topology cannot drift.
 *
 * Loading: topology_new(), topology_set_services() (BROKER_SERVICES: "name=http://host:port,
 * ..." maps Knative Service names to local base URLs), then topology_add_yaml() or
 * topology_add_paths() for each manifest source, then topology_finish(). topology_load() does
 * all of it. Multi-document YAML is read with libyaml; documents of other kinds (or of another
 * API group) are ignored.
 *
 * Validation follows Knative's webhook: delivery.retry >= 0, backoffPolicy linear|exponential,
 * backoffDelay/timeout/retryAfterMax are ISO-8601 durations (timeout not zero), format
 * json|binary, filter attribute names ^[a-z][a-z0-9]*$, each spec.filters element uses exactly
 * one dialect (exact/prefix/suffix take exactly one non-empty attribute; cesql is rejected as
 * not supported), a Trigger names an existing Broker, destinations resolve. Every error is one
 * line naming the file and the object: "triggers.yaml: Trigger ns/t: spec.delivery.retry: ...".
 *
 * Destinations: ref (a Knative Service) → its BROKER_SERVICES URL (unmapped name: error);
 * uri alone → used as is (absolute http(s) URL); ref + uri → the uri path appended to the
 * ref's URL, as Knative resolves it.
 *
 * Delivery: each Trigger's effective spec is its own spec.delivery when present, else its
 * Broker's, replaced WHOLE (never merged per field), as EV's trigger reconciler does.
 *
 * Ownership: the topology owns everything it points to; it is read-only after
 * topology_finish() and may then be shared by threads.
 */
#ifndef LOCAL_BROKER_TOPOLOGY_H
#define LOCAL_BROKER_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "filter.h"

enum backoff_policy { BACKOFF_NONE = 0, BACKOFF_LINEAR, BACKOFF_EXPONENTIAL };
enum event_format { FORMAT_BINARY = 0, FORMAT_JSON };

/* A DeliverySpec (protocols.md §1.1). */
struct delivery_spec {
	bool set;		    /* the object had a delivery block */
	long long retry;	    /* 0 when unset */
	enum backoff_policy policy; /* BACKOFF_NONE when unset */
	long long delay_ms;	    /* backoffDelay; -1 when unset */
	long long timeout_ms;	    /* per attempt; 0 when unset (the broker default applies) */
	enum event_format format;   /* FORMAT_BINARY unless format: json */
	char *dls_url;		    /* resolved deadLetterSink, NULL when none */
};

struct topo_broker {
	char *ns, *name;
	struct delivery_spec delivery;
};

struct topo_trigger {
	char *ns, *name, *broker;
	struct filter *filter; /* NULL matches everything */
	char *subscriber;      /* resolved URL */
	struct delivery_spec own;
	size_t broker_index;		      /* set by topology_finish() */
	const struct delivery_spec *delivery; /* effective spec, set by topology_finish() */
};

struct topo_service {
	char *name, *url;
};

struct topology {
	struct topo_broker *brokers;
	size_t nbrokers, abrokers;
	struct topo_trigger *triggers;
	size_t ntriggers, atriggers;
	struct topo_service *services;
	size_t nservices, aservices;
};

/* An empty topology. Never NULL. */
struct topology *topology_new(void);
void topology_free(struct topology *t);

/* Parses BROKER_SERVICES ("a=http://127.0.0.1:1,b=..."; NULL or "" = none). 0 or ERR_VALIDATION. */
int topology_set_services(struct topology *t, const char *spec, struct buf *err);
/* Reads every Broker and Trigger of a YAML text; origin names it in errors. 0 or ERR_VALIDATION. */
int topology_add_yaml(struct topology *t, const char *text, size_t len, const char *origin,
		      struct buf *err);
/*
 * Reads a comma-separated list of files and directories (a directory: its *.yaml and *.yml
 * files in name order, not recursive). 0, ERR_IO (unreadable) or ERR_VALIDATION.
 */
int topology_add_paths(struct topology *t, const char *paths, struct buf *err);
/* Links Triggers to Brokers and sets the effective delivery specs. 0 or ERR_VALIDATION. */
int topology_finish(struct topology *t, struct buf *err);
/* All of the above. Returns 0 with *out set, or an error with *out NULL and err filled. */
int topology_load(const char *paths, const char *services, struct topology **out, struct buf *err);

/* Lookups; NULL when absent. */
const struct topo_broker *topology_broker(const struct topology *t, const char *ns,
					  const char *name);
const struct topo_trigger *topology_trigger(const struct topology *t, const char *ns,
					    const char *name);

#endif
