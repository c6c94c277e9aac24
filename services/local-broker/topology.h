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
 * ref's URL, as Knative resolves it. A ref to a Broker or a Sequence (flows.knative.dev)
 * resolves to this broker's own ingress (topology_set_self()): <self>/<ns>/<broker>, or the
 * Sequence's first channel <self>/<ns>/<sequence>-kn-sequence-0; topology_finish() checks that
 * it exists in the manifests.
 *
 * Sequences (flows.knative.dev/v1) are read as EV's sequence reconciler builds them
 * (pkg/reconciler/sequence/resources): step i gets a channel, kept here as a topo_broker of
 * kind TOPO_CHANNEL named <sequence>-kn-sequence-<i>, and a Subscription of the same name,
 * kept as a topo_trigger without a filter whose subscriber is the step and whose replies go
 * to the next step's channel; the last step's go to spec.reply (a Broker), or nowhere when
 * it is unset. A step's delivery is its own spec.steps[i].delivery when present, else the
 * channel's, spec.channelTemplate.spec.delivery, replaced whole (EV's subscription
 * reconciler, deliverySpec()), but for the dead-letter sink (below). spec.reply other than a
 * Broker ref is refused as not supported.
 *
 * Delivery: each Trigger's effective spec is its own spec.delivery when present, else its
 * Broker's, replaced WHOLE (never merged per field), as EV's trigger reconciler does; one
 * field falls back all the same: a Trigger's or step's own spec without a deadLetterSink
 * takes its Broker's or channel's (EV's subscription reconciler, resolveDeadLetterSink(); a
 * Broker's trigger channel carries the Broker's delivery).
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
	enum event_format format;   /* FORMAT_BINARY unless format: json; applied only from a
				     * Trigger's own spec, to its subscriber (dispatcher.c) */
	char *dls_url;		    /* resolved deadLetterSink, NULL when none */
};

/* A Broker, or the channel in front of one step of a Sequence. */
enum topo_broker_kind { TOPO_BROKER = 0, TOPO_CHANNEL };

struct topo_broker {
	char *ns, *name;
	enum topo_broker_kind kind;
	struct delivery_spec delivery; /* a channel: spec.channelTemplate.spec.delivery */
};

/* reply_index of a delivery whose replies are dropped (the last step of a Sequence without
 * spec.reply, as a Subscription without a reply does). */
#define TOPO_NO_REPLY ((size_t)-1)

/* A Trigger, or the Subscription of one step of a Sequence (its broker is the step's channel). */
struct topo_trigger {
	char *ns, *name, *broker;
	struct filter *filter; /* NULL matches everything */
	char *subscriber;      /* resolved URL */
	char *reply;	       /* a step: the channel or Broker its replies go to (NULL: none) */
	bool step;	       /* a Sequence step's Subscription, not a Trigger */
	struct delivery_spec own;
	size_t broker_index;		      /* set by topology_finish() */
	size_t reply_index;		      /* where replies are ingested, or TOPO_NO_REPLY */
	const struct delivery_spec *delivery; /* effective spec, set by topology_finish() */
};

/* A destination on this broker's own ingress, checked by topology_finish(). */
struct topo_target {
	char *ns, *name; /* a topo_broker (a Broker or a channel) */
	char *what;	 /* "triggers.yaml: Trigger ns/t: spec.subscriber", for the error */
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
	struct topo_target *targets;
	size_t ntargets, atargets;
	size_t nsequences;
	char *self; /* this broker's ingress base URL, for Broker and Sequence refs (or NULL) */
};

/* An empty topology. Never NULL. */
struct topology *topology_new(void);
void topology_free(struct topology *t);

/* The broker's own base URL ("http://127.0.0.1:8084"), before any manifest is added. */
void topology_set_self(struct topology *t, const char *base);
/* Parses BROKER_SERVICES ("a=http://127.0.0.1:1,b=..."; NULL or "" = none). 0 or ERR_VALIDATION. */
int topology_set_services(struct topology *t, const char *spec, struct buf *err);
/* Reads every Broker, Trigger and Sequence of a YAML text; origin names it in errors. 0 or ERR_VALIDATION. */
int topology_add_yaml(struct topology *t, const char *text, size_t len, const char *origin,
		      struct buf *err);
/*
 * Reads a comma-separated list of files and directories (a directory: its *.yaml and *.yml
 * files in name order, not recursive). 0, ERR_IO (unreadable) or ERR_VALIDATION.
 */
int topology_add_paths(struct topology *t, const char *paths, struct buf *err);
/*
 * Links Triggers to Brokers (and steps to channels and replies), checks the targets on the
 * broker's own ingress and sets the effective delivery specs. 0 or ERR_VALIDATION.
 */
int topology_finish(struct topology *t, struct buf *err);
/*
 * All of the above (self may be NULL: then no Broker or Sequence ref resolves). Returns 0
 * with *out set, or an error with *out NULL and err filled.
 */
int topology_load(const char *paths, const char *services, const char *self, struct topology **out,
		  struct buf *err);

/* Lookups; NULL when absent. */
const struct topo_broker *topology_broker(const struct topology *t, const char *ns,
					  const char *name);
const struct topo_trigger *topology_trigger(const struct topology *t, const char *ns,
					    const char *name);

#endif
