/*
 * delivery.h: one pending delivery of one event to one Trigger, and the delivery rules of
 * Knative's MT channel-based broker (protocols.md §1.2-1.4, §1.6) as pure functions.
 *
 * A delivery goes through two phases: to the subscriber, then, once that failed for good, to
 * the dead-letter sink with the original event plus knativeerrordest, knativeerrorcode and
 * knativeerrordata. Both phases use the Trigger's effective delivery spec (retry, backoff,
 * timeout). The dispatcher (dispatcher.h) owns the queues and the timing; this module only
 * knows what one delivery is and what an attempt's outcome means.
 *
 * Ownership: a struct delivery owns its event and strings; delivery_free() frees them. The
 * trigger pointer belongs to the topology, which outlives every delivery.
 */
#ifndef LOCAL_BROKER_DELIVERY_H
#define LOCAL_BROKER_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/ce.h"
#include "common/list.h"
#include "topology.h"

struct httpc_response;

/* Knative's limit on knativeerrordata: at most this many characters of base64. */
#define DELIVERY_ERROR_DATA_MAX 1024

/*
 * Room for the broker's own extensions. The broker may add five to an event: knativebrokerttl
 * and knativearrivaltime at ingress, knativeerrordest, knativeerrorcode and knativeerrordata
 * on its dead letter. Knative adds the last three to every dead letter; here every decoder
 * (the dead-letter sink's too) takes at most CE_MAX_EXTENSIONS, so ingress keeps the room for
 * them: it takes at most DELIVERY_OWN_EXTENSIONS_MAX extensions of the sender's own (names
 * other than these five, which the broker replaces) and refuses more with 400
 * validation_failed, a reply as any event. Every accepted event then carries all five, within
 * CE_MAX_EXTENSIONS, whatever becomes of it.
 */
#define DELIVERY_BROKER_EXTENSIONS  5
#define DELIVERY_OWN_EXTENSIONS_MAX (CE_MAX_EXTENSIONS - DELIVERY_BROKER_EXTENSIONS)

/*
 * Room for what the broker adds to each message of an event besides its attributes: headers
 * (Prefer, Kn-Namespace, traceparent, a tracestate of at most 512 characters, the client's
 * own, and the dead letter's knativeerrordest, knativeerrorcode and up to
 * DELIVERY_ERROR_DATA_MAX of knativeerrordata) and, in structured mode, the same attributes in
 * the body. An event is accepted only if each form the broker may send it in still fits with
 * this much added (delivery_check_size()).
 */
#define DELIVERY_ADDED_BYTES   ((size_t)4 * 1024)
#define DELIVERY_ADDED_HEADERS 16

enum delivery_phase { DELIVERY_SUBSCRIBER = 0, DELIVERY_DEAD_LETTER = 1 };

/*
 * Where a delivery is in the dispatcher (dispatcher.c). delivery_set_state() checks every
 * change against this machine and aborts on any other (a bug, never input):
 *
 *   NEW ──► QUEUED ──► INFLIGHT ──► DONE        (delivered, dead-lettered or dropped)
 *    │        ▲  │        │  │
 *    │        │  └─► DONE │  └─► QUEUED         (cancelled at shutdown, or on to the DLS)
 *    └──► WAITING ◄───────┘                     (a retry's backoff, or the client is busy)
 *
 * NEW → WAITING is a resumed delivery whose next attempt is not due yet; QUEUED → DONE is a
 * dead-letter sink that disappeared from the manifests.
 */
enum delivery_state {
	DELIVERY_NEW = 0,  /* made, not yet in a queue */
	DELIVERY_QUEUED,   /* on its Trigger's FIFO */
	DELIVERY_INFLIGHT, /* an attempt is running: the HTTP client owns it until it answers */
	DELIVERY_WAITING,  /* a timer owns it until the next attempt is due */
	DELIVERY_DONE,	   /* finished: about to be freed */
};

/* How a delivery finished (recorded in the write-ahead log). */
enum delivery_end {
	DELIVERY_END_DELIVERED,	    /* the subscriber took it */
	DELIVERY_END_DEAD_LETTERED, /* the dead-letter sink took it */
	DELIVERY_END_DROPPED,	    /* given up: no (working) dead-letter sink */
};

struct delivery {
	struct ce_event *event; /* what this phase sends; knativebrokerttl removed */
	const struct topo_trigger *trigger;
	enum delivery_phase phase;
	int ttl;	  /* knativebrokerttl as accepted at ingress */
	int attempts;	  /* attempts made in this phase */
	long long due_ms; /* wall-clock ms before which the next attempt must not start */
	char *traceparent, *tracestate; /* HTTP trace headers it arrived with, or NULL */
	/* The dispatcher's bookkeeping (dispatcher.c). */
	struct list_head link; /* on the dispatcher's list of live deliveries */
	struct delivery *qnext;
	enum delivery_state state; /* change it with delivery_set_state() only */
	unsigned long long id;	   /* its name in the write-ahead log */
	size_t bytes;		   /* delivery_bytes() at creation: the byte budget's unit */
	size_t wal_bytes;	   /* the size of its latest full record in the log */
	void *owner;
};

/* The state name ("queued", ...) and the end name ("delivered", ...), for logs and the WAL. */
const char *delivery_state_name(enum delivery_state s);
const char *delivery_end_name(enum delivery_end e);
/* Parses delivery_end_name(); 0 or ERR_VALIDATION. */
int delivery_end_parse(const char *name, enum delivery_end *out);
/* Moves dv to state to; aborts when the machine above has no such edge. */
void delivery_set_state(struct delivery *dv, enum delivery_state to);
/* Whether the machine above has the edge from → to. */
bool delivery_transition_ok(enum delivery_state from, enum delivery_state to);
/* What the event costs in memory, roughly: its attributes, extensions and data. */
size_t delivery_event_bytes(const struct ce_event *ev);

/*
 * A new subscriber-phase delivery of a copy of ev (its knativebrokerttl removed; ttl is kept
 * in the delivery). traceparent/tracestate may be NULL. Never NULL.
 */
struct delivery *delivery_new(const struct topo_trigger *tr, const struct ce_event *ev, int ttl,
			      const char *traceparent, const char *tracestate);
void delivery_free(struct delivery *dv);

/* The URL this phase sends to: the subscriber or the dead-letter sink. */
const char *delivery_url(const struct delivery *dv);

/*
 * The wait before retry number k (k = 1 for the first retry), as shipped in EV's retry loop:
 * exponential delay × 2^(k-1), linear delay × (k-1); 0 when the policy or the delay is unset.
 * Saturates instead of overflowing.
 */
long long delivery_backoff_ms(const struct delivery_spec *spec, int k);
/* Whether a failed attempt with this code is retried: >= 500, 404, 408, 409, 429. */
bool delivery_retryable(int code);
/*
 * 0 when ev has at most DELIVERY_OWN_EXTENSIONS_MAX extensions besides the broker's five
 * (see above), so that each of them can still be set; ERR_VALIDATION otherwise.
 */
int delivery_check_room(const struct ce_event *ev);
/*
 * 0 when every form the broker may send ev in fits what every receiver of this project takes,
 * with DELIVERY_ADDED_BYTES and _HEADERS to spare: binary mode within CE_BINARY_HEADERS_MAX and
 * CE_BINARY_HEADERS_COUNT_MAX; structured mode (when binary cannot carry ev, or when
 * structured is set: a Trigger it goes to asks for format json) within HTTP_DEFAULT_MAX_BODY,
 * the body cap of every receiver and of the broker's own ingress. Else ERR_TOO_LARGE (or
 * ce_encode_structured()'s error): binary data grows by a third as structured mode's base64,
 * so an event that came in within the cap could otherwise reach no receiver, its dead-letter
 * sink included. DELIVERY_TOO_LARGE says so in a message.
 */
#define DELIVERY_TOO_LARGE                                                                     \
	"in structured mode (used when its attributes pass 12 KiB or 240 headers in binary "   \
	"mode, or when a Trigger asks for format json) it would pass the 1020 KiB a receiver " \
	"takes, binary data being base64 there"
int delivery_check_size(const struct ce_event *ev, bool structured);
/*
 * knativeerrordata for a response body: standard padded base64, at most
 * DELIVERY_ERROR_DATA_MAX characters. Appends to out; 0 or ERR_TOO_LARGE (out's cap).
 */
int delivery_error_data(const void *body, size_t len, struct buf *out);

enum delivery_outcome {
	DELIVERY_OK,	 /* 2xx without a reply */
	DELIVERY_REPLY,	 /* 2xx carrying a reply event (result.reply) */
	DELIVERY_FAILED, /* result.code and result.body describe the failure */
};

struct delivery_result {
	enum delivery_outcome outcome;
	int code;		/* HTTP status; 500 for transport errors, 502 for a bad reply */
	struct buf body;	/* the response body, or "dispatch error: <err>" */
	struct ce_event *reply; /* DELIVERY_REPLY: owned by the result until taken */
	/* DELIVERY_FAILED after a 2xx: the reply could not be taken (the dispatcher's queues,
	 * its TTL, its size). The subscriber is never called again: no retry, on to the
	 * dead-letter sink. */
	bool reply_failed;
};

/*
 * Classifies one attempt's response (protocols.md §1.3, §1.6): a transport error is code 500
 * with body "dispatch error: <error>"; non-2xx fails with its status; a 2xx (202 included,
 * as EV's filter passes it on) with a CloudEvent is a reply (only in the subscriber phase). A
 * malformed event fails with 502 for a Trigger; a Sequence step's is passed on by EV's channel
 * dispatch (event_dispatcher.go send) to the reply address, which refuses it: 400 "reply
 * refused: <why>" and reply_failed. A non-empty body that is not an event fails with 502 for a
 * Trigger (EV's filter_handler.go writeResponse) and is discarded as a success for a Sequence
 * step's Subscription (step: EV's channel dispatch, event_dispatcher.go executeRequest). A
 * 2xx whose body passed the client's max_body (httpc ERR_TOO_LARGE) is judged on its headers:
 * an event fails with 413 and reply_failed (a reply the broker's ingress would refuse too), a
 * body that is not an event as above (502 for a Trigger); the dead-letter phase ignores it. A
 * non-2xx cut off so fails with its status (the body kept is what arrived). Release with
 * delivery_result_release().
 */
void delivery_classify(enum delivery_phase phase, bool step, const struct httpc_response *res,
		       struct delivery_result *out);
void delivery_result_release(struct delivery_result *r);

/*
 * Moves dv to the dead-letter phase: its event becomes the original plus knativeerrordest
 * (dest), knativeerrorcode (code) and knativeerrordata (base64 of body, truncated; only when
 * the body is not empty, as EV does), with the TTL put back; attempts start again at 0.
 * delivery_check_room() at ingress guarantees the room for them; an event without it (a log
 * written before that check) is dead-lettered without what does not fit, with a warning.
 */
void delivery_to_dead_letter(struct delivery *dv, const char *dest, int code, const void *body,
			     size_t len);

/* The delivery as a log (or legacy spool) record (a new reference). */
json_t *delivery_to_json(const struct delivery *dv);
/*
 * Appends the write-ahead log's line {"op":"put","id":id,"delivery":R}\n to out, R being
 * delivery_to_json(dv) with its "event" member taken as is from event_json
 * (ce_encode_structured() of dv->event). Every delivery of one event has the same event, so
 * the broker encodes it once for all of them. Returns 0, or ERR_TOO_LARGE when out's cap is
 * reached (out unchanged).
 */
int delivery_put_record(const struct delivery *dv, unsigned long long id,
			const struct buf *event_json, struct buf *out);
/*
 * A delivery from a log or legacy spool record. Returns 0 with *out set, or ERR_VALIDATION with a reason
 * in err (unknown trigger, bad event).
 */
int delivery_from_json(json_t *j, const struct topology *t, struct delivery **out, struct buf *err);

#endif
