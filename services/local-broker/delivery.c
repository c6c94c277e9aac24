/*
 * delivery.c: one delivery and the MT broker's delivery rules (see delivery.h).
 */
#include "delivery.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/ce.h"
#include "common/base64.h"
#include "common/err.h"
#include "common/http.h"
#include "common/httpc.h"
#include "common/log.h"
#include "common/text.h"
#include "common/xalloc.h"
#include "ttl.h"

/* A response body kept for knativeerrordata needs no more than 768 bytes (1024 base64). */
#define BODY_KEEP 768

struct delivery *delivery_new(const struct topo_trigger *tr, const struct ce_event *ev, int ttl,
			      const char *traceparent, const char *tracestate)
{
	struct delivery *dv = xcalloc(1, sizeof(*dv));

	list_init(&dv->link);
	dv->event = ce_event_clone(ev);
	(void)ttl_take(dv->event);
	dv->trigger = tr;
	dv->ttl = ttl;
	dv->traceparent = traceparent ? xstrdup(traceparent) : NULL;
	dv->tracestate = tracestate ? xstrdup(tracestate) : NULL;
	dv->state = DELIVERY_NEW;
	dv->bytes = sizeof(*dv) + delivery_event_bytes(dv->event);
	return dv;
}

void delivery_free(struct delivery *dv)
{
	if (!dv)
		return;
	ce_event_free(dv->event);
	free(dv->traceparent);
	free(dv->tracestate);
	free(dv);
}

/* ---- the state machine -------------------------------------------------------------------- */

static const char *const state_names[] = { "new", "queued", "inflight", "waiting", "done" };
static const char *const end_names[] = { "delivered", "dead_lettered", "dropped" };

/* edges[from] is the set of states reachable from it, as bits. */
#define BIT(s) (1u << (s))
static const unsigned edges[] = {
	[DELIVERY_NEW] = BIT(DELIVERY_QUEUED) | BIT(DELIVERY_WAITING),
	[DELIVERY_QUEUED] = BIT(DELIVERY_INFLIGHT) | BIT(DELIVERY_DONE),
	[DELIVERY_INFLIGHT] = BIT(DELIVERY_QUEUED) | BIT(DELIVERY_WAITING) | BIT(DELIVERY_DONE),
	[DELIVERY_WAITING] = BIT(DELIVERY_QUEUED),
	[DELIVERY_DONE] = 0,
};
#undef BIT

const char *delivery_state_name(enum delivery_state s)
{
	return (unsigned)s < ARRAY_SIZE(state_names) ? state_names[s] : "?";
}

const char *delivery_end_name(enum delivery_end e)
{
	return (unsigned)e < ARRAY_SIZE(end_names) ? end_names[e] : "?";
}

int delivery_end_parse(const char *name, enum delivery_end *out)
{
	size_t i;

	for (i = 0; name && i < ARRAY_SIZE(end_names); i++) {
		if (strcmp(name, end_names[i]) == 0) {
			*out = (enum delivery_end)i;
			return 0;
		}
	}
	return ERR_VALIDATION;
}

bool delivery_transition_ok(enum delivery_state from, enum delivery_state to)
{
	if ((unsigned)from >= ARRAY_SIZE(edges) || (unsigned)to >= ARRAY_SIZE(edges))
		return false;
	return (edges[from] & (1u << to)) != 0;
}

void delivery_set_state(struct delivery *dv, enum delivery_state to)
{
	if (!delivery_transition_ok(dv->state, to)) {
		log_error("BUG: delivery of event %s: no transition %s -> %s", dv->event->id,
			  delivery_state_name(dv->state), delivery_state_name(to));
		abort();
	}
	dv->state = to;
}

size_t delivery_event_bytes(const struct ce_event *ev)
{
	const char *attrs[] = { ev->specversion,     ev->id,	     ev->source,  ev->type,
				ev->datacontenttype, ev->dataschema, ev->subject, ev->time };
	size_t i, n = sizeof(*ev) + ev->data_len;

	for (i = 0; i < ARRAY_SIZE(attrs); i++)
		n += attrs[i] ? strlen(attrs[i]) + 1 : 0;
	for (i = 0; i < ev->n_ext; i++)
		n += sizeof(ev->ext[i]) + strlen(ev->ext[i].name) + strlen(ev->ext[i].value) + 2;
	return n;
}

/* ---- one delivery -------------------------------------------------------------------------- */

const char *delivery_url(const struct delivery *dv)
{
	if (dv->phase == DELIVERY_DEAD_LETTER)
		return dv->trigger->delivery->dls_url;
	return dv->trigger->subscriber;
}

long long delivery_backoff_ms(const struct delivery_spec *spec, int k)
{
	const long long cap = LLONG_MAX / 4;
	long long d = spec->delay_ms;
	int i;

	if (spec->policy == BACKOFF_NONE || d < 0 || k < 1)
		return 0;
	if (spec->policy == BACKOFF_LINEAR)
		return (k - 1) > 0 && d > cap / (k - 1) ? cap : d * (k - 1);
	for (i = 1; i < k; i++) {
		if (d > cap / 2)
			return cap;
		d *= 2;
	}
	return d;
}

bool delivery_retryable(int code)
{
	return code >= 500 || code == 404 || code == 408 || code == 409 || code == 429;
}

int delivery_error_data(const void *body, size_t len, struct buf *out)
{
	size_t start = out->len;
	int rc;

	/* 768 bytes encode to exactly 1024 characters, a prefix of the whole body's base64. */
	rc = base64_encode(body, len > BODY_KEEP ? BODY_KEEP : len, out);
	if (rc == 0 && out->len - start > DELIVERY_ERROR_DATA_MAX)
		buf_setlen(out, start + DELIVERY_ERROR_DATA_MAX);
	return rc;
}

static void result_fail(struct delivery_result *r, int code, const char *body, size_t len)
{
	r->outcome = DELIVERY_FAILED;
	r->code = code;
	buf_reset(&r->body);
	(void)buf_append(&r->body, body, len > BODY_KEEP ? BODY_KEEP : len);
}

/*
 * A 2xx in the subscriber phase: a reply, nothing, or (a Trigger's) a bad answer. A body cut
 * off at the client's max_body (ERR_TOO_LARGE) is an event too large to be taken as a reply.
 */
static void classify_reply(const struct httpc_response *res, bool step, struct delivery_result *r)
{
	bool too_large = res->err == ERR_TOO_LARGE;
	struct http_header *hs = xcalloc(res->nheaders + 1, sizeof(*hs));
	struct ce_decoded dec = { 0 };
	struct ce_error cerr = { 0 };
	size_t i;

	for (i = 0; i < res->nheaders; i++) {
		hs[i].name = res->headers[i].name;
		hs[i].value = res->headers[i].value;
	}
	if (!ce_http_is_event(hs, res->nheaders)) {
		if ((res->body_len > 0 || too_large) && !step)
			result_fail(r, 502, res->body, res->body_len);
		goto cleanup;
	}
	if (too_large) {
		const char *why = res->error ? res->error : "reply too large";

		result_fail(r, 413, why, strlen(why));
		r->reply_failed = true;
		goto cleanup;
	}
	if (ce_decode_http(hs, res->nheaders, res->body, res->body_len, &dec, &cerr) != 0 ||
	    dec.mode == CE_MODE_BATCH) {
		if (step) {
			/* EV's channel passes it on, and the reply address refuses it (400). */
			struct buf why;

			buf_init(&why, 256);
			(void)buf_appendf(&why, "reply refused: %s",
					  dec.mode == CE_MODE_BATCH ? "a batch is not an event"
								    : cerr.message);
			result_fail(r, 400, why.data, why.len);
			r->reply_failed = true;
			buf_release(&why);
		} else {
			result_fail(r, 502, res->body, res->body_len);
		}
		goto cleanup;
	}
	r->outcome = DELIVERY_REPLY;
	r->reply = dec.event;
	dec.event = NULL;
cleanup:
	ce_decoded_release(&dec);
	free(hs);
}

void delivery_classify(enum delivery_phase phase, bool step, const struct httpc_response *res,
		       struct delivery_result *out)
{
	bool cut;

	memset(out, 0, sizeof(*out));
	buf_init(&out->body, BODY_KEEP);
	out->outcome = DELIVERY_OK;
	out->code = res->status;
	/* The head came but the body passed max_body: judged on the status and headers. */
	cut = res->err == ERR_TOO_LARGE && res->status > 0;
	if (cut && res->status >= 200 && res->status < 300) {
		if (phase == DELIVERY_SUBSCRIBER)
			classify_reply(res, step, out);
		return;
	}
	if ((res->err != 0 && !cut) || res->status == 0) {
		out->outcome = DELIVERY_FAILED;
		out->code = 500;
		(void)buf_appendf(&out->body, "dispatch error: %.600s",
				  res->error && res->error[0] ? res->error : "no response");
		return;
	}
	if (res->status < 200 || res->status >= 300) {
		result_fail(out, res->status, res->body, res->body_len);
		return;
	}
	if (phase == DELIVERY_SUBSCRIBER)
		classify_reply(res, step, out);
}

void delivery_result_release(struct delivery_result *r)
{
	buf_release(&r->body);
	ce_event_free(r->reply);
	r->reply = NULL;
}

/* The extensions the broker sets itself (see DELIVERY_BROKER_EXTENSIONS). */
static const char *const broker_extensions[DELIVERY_BROKER_EXTENSIONS] = {
	TTL_EXTENSION,	    "knativearrivaltime", "knativeerrordest",
	"knativeerrorcode", "knativeerrordata",
};

int delivery_check_room(const struct ce_event *ev)
{
	size_t i, own = ev->n_ext;

	if (own <= DELIVERY_OWN_EXTENSIONS_MAX)
		return 0; /* every event but a huge one: no lookups on the ingress path */
	for (i = 0; i < ARRAY_SIZE(broker_extensions); i++)
		if (ce_ext_find(ev, broker_extensions[i]))
			own--;
	return own > DELIVERY_OWN_EXTENSIONS_MAX ? ERR_VALIDATION : 0;
}

/* The figures DELIVERY_TOO_LARGE gives. */
_Static_assert(CE_BINARY_HEADERS_MAX - DELIVERY_ADDED_BYTES == (size_t)12 * 1024, "12 KiB");
_Static_assert(CE_BINARY_HEADERS_COUNT_MAX - DELIVERY_ADDED_HEADERS == 240, "240 headers");
_Static_assert(HTTP_DEFAULT_MAX_BODY - DELIVERY_ADDED_BYTES == (size_t)1020 * 1024, "1020 KiB");

int delivery_check_size(const struct ce_event *ev, bool structured)
{
	size_t bytes, count;
	struct buf json;
	int rc = ce_binary_size(ev, &bytes, &count);

	if (rc == 0 && (bytes + DELIVERY_ADDED_BYTES > CE_BINARY_HEADERS_MAX ||
			count + DELIVERY_ADDED_HEADERS > CE_BINARY_HEADERS_COUNT_MAX))
		rc = ERR_TOO_LARGE; /* its attributes go in the body then */
	if (rc == 0 && !structured)
		return 0;
	buf_init(&json, BUF_NOCAP);
	rc = ce_encode_structured(ev, &json);
	if (rc == 0 && json.len + DELIVERY_ADDED_BYTES > HTTP_DEFAULT_MAX_BODY)
		rc = ERR_TOO_LARGE;
	buf_release(&json);
	return rc;
}

void delivery_to_dead_letter(struct delivery *dv, const char *dest, int code, const void *body,
			     size_t len)
{
	struct buf data;
	int rc = 0;

	buf_init(&data, BUF_NOCAP);
	(void)delivery_error_data(body, len, &data);
	ttl_put(dv->event, dv->ttl);
	rc |= ce_set(dv->event, "knativeerrordest", NULL);
	rc |= ce_set(dv->event, "knativeerrordest", dest);
	rc |= ce_set(dv->event, "knativeerrorcode", NULL);
	rc |= ce_set_int(dv->event, "knativeerrorcode", code);
	rc |= ce_set(dv->event, "knativeerrordata", NULL);
	if (data.len > 0)
		rc |= ce_set(dv->event, "knativeerrordata", data.data);
	buf_release(&data);
	if (rc)
		log_warn(
		    "event %s is dead-lettered without all of knativeerrordest, "
		    "knativeerrorcode and knativeerrordata: it has %zu extensions (at most %d)",
		    dv->event->id, dv->event->n_ext, CE_MAX_EXTENSIONS);
	dv->phase = DELIVERY_DEAD_LETTER;
	dv->attempts = 0;
	dv->due_ms = 0;
}

/* ---- spool records ------------------------------------------------------------------------ */

json_t *delivery_to_json(const struct delivery *dv)
{
	json_t *j = json_object();

	json_object_set_new(j, "trigger_namespace", json_string(dv->trigger->ns));
	json_object_set_new(j, "trigger", json_string(dv->trigger->name));
	json_object_set_new(
	    j, "phase",
	    json_string(dv->phase == DELIVERY_DEAD_LETTER ? "dead_letter" : "subscriber"));
	json_object_set_new(j, "attempts", json_integer(dv->attempts));
	json_object_set_new(j, "due_ms", json_integer(dv->due_ms));
	json_object_set_new(j, "ttl", json_integer(dv->ttl));
	if (dv->traceparent)
		json_object_set_new(j, "traceparent", json_string(dv->traceparent));
	if (dv->tracestate)
		json_object_set_new(j, "tracestate", json_string(dv->tracestate));
	json_object_set_new(j, "event", ce_to_json(dv->event));
	return j;
}

int delivery_put_record(const struct delivery *dv, unsigned long long id,
			const struct buf *event_json, struct buf *out)
{
	size_t start = out->len;
	int rc;

	/* By hand, in delivery_to_json()'s member order: jansson's tree and dump cost more than
	 * the rest of an ingress request. */
	rc = buf_appendf(out,
			 "{\"op\":\"put\",\"id\":%llu,\"delivery\":{\"trigger_namespace\":", id);
	rc = rc ? rc : text_json_string(out, dv->trigger->ns);
	rc = rc ? rc : buf_appends(out, ",\"trigger\":");
	rc = rc ? rc : text_json_string(out, dv->trigger->name);
	rc = rc ? rc
		: buf_appendf(out, ",\"phase\":\"%s\",\"attempts\":%d,\"due_ms\":%lld,\"ttl\":%d",
			      dv->phase == DELIVERY_DEAD_LETTER ? "dead_letter" : "subscriber",
			      dv->attempts, dv->due_ms, dv->ttl);
	if (rc == 0 && dv->traceparent) {
		rc = buf_appends(out, ",\"traceparent\":");
		rc = rc ? rc : text_json_string(out, dv->traceparent);
	}
	if (rc == 0 && dv->tracestate) {
		rc = buf_appends(out, ",\"tracestate\":");
		rc = rc ? rc : text_json_string(out, dv->tracestate);
	}
	rc = rc ? rc : buf_appends(out, ",\"event\":");
	rc = rc ? rc : buf_append(out, event_json->data, event_json->len);
	rc = rc ? rc : buf_appends(out, "}}\n");
	if (rc) {
		out->len = start;
		if (out->alloc)
			out->data[start] = '\0';
		return ERR_TOO_LARGE;
	}
	return 0;
}

int delivery_from_json(json_t *j, const struct topology *t, struct delivery **out, struct buf *err)
{
	const char *ns = NULL, *name = NULL, *phase = NULL, *tp = NULL, *ts = NULL;
	json_int_t attempts = 0, due = 0, ttl = 0;
	json_t *evj = NULL;
	const struct topo_trigger *tr;
	struct ce_event *ev = NULL;
	struct ce_error cerr = { 0 };

	*out = NULL;
	if (json_unpack(j, "{s:s,s:s,s:s,s:I,s:I,s:I,s?s,s?s,s:o}", "trigger_namespace", &ns,
			"trigger", &name, "phase", &phase, "attempts", &attempts, "due_ms", &due,
			"ttl", &ttl, "traceparent", &tp, "tracestate", &ts, "event", &evj) != 0 ||
	    attempts < 0 || attempts > INT_MAX || ttl < INT_MIN || ttl > INT_MAX) {
		buf_appends(err, "malformed spool record");
		return ERR_VALIDATION;
	}
	tr = topology_trigger(t, ns, name);
	if (!tr) {
		buf_appendf(err, "Trigger %s/%s is no longer in the manifests", ns, name);
		return ERR_VALIDATION;
	}
	if (ce_from_json(evj, &ev, &cerr) != 0) {
		buf_appendf(err, "spooled event: %s", cerr.message);
		return ERR_VALIDATION;
	}
	*out = delivery_new(tr, ev, (int)ttl, tp, ts);
	ce_event_free(ev);
	(*out)->phase =
	    strcmp(phase, "dead_letter") == 0 ? DELIVERY_DEAD_LETTER : DELIVERY_SUBSCRIBER;
	if ((*out)->phase == DELIVERY_DEAD_LETTER)
		ttl_put((*out)->event, (int)ttl);
	(*out)->attempts = (int)attempts;
	(*out)->due_ms = due;
	return 0;
}
