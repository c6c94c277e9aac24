/* step.c: a Sequence step's request and reply (see step.h). */
#include "common/step.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/arena.h"
#include "common/ce_request.h"
#include "common/ce_trace.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/journey_client.h"
#include "common/log.h"
#include "common/xalloc.h"

static int reject(struct http_request *req, int rc, const char *id, const char *msg)
{
	log_fields(LOG_WARN, json_pack("{s:s, s:s?}", "error", err_code_name(rc), "event_id", id),
		   "rejected a review event: %s", msg);
	return http_fail(req, rc, "%s", msg);
}

int step_begin(struct http_request *req, struct step *st)
{
	struct ce_error cerr = { 0 };
	json_error_t jerr;
	char msg[256];
	json_t *text;
	int rc;

	memset(st, 0, sizeof(*st));
	rc = ce_request_decode(req, &st->in, &cerr);
	if (rc)
		return reject(req, rc, NULL, cerr.message);
	(void)ce_trace_consume(req, st->in, 0, &st->span);
	trace_span_enter(st->span);
	/* JSON data, whether it came as "data" or as "data_base64" (stored decoded either way) */
	if (st->in->has_data &&
	    (!st->in->datacontenttype || ce_content_type_is_json(st->in->datacontenttype))) {
		st->data = json_loadb((const char *)st->in->data, st->in->data_len,
				      JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
		if (!st->data) {
			snprintf(msg, sizeof(msg),
				 "the event's data is not valid JSON: %s (at %d:%d)", jerr.text,
				 jerr.line, jerr.column);
			return reject(req, ERR_VALIDATION, st->in->id, msg);
		}
	}
	text = json_object_get(st->data, "reviewText");
	if (!json_is_object(st->data) || !json_is_string(text))
		return reject(
		    req, ERR_VALIDATION, st->in->id,
		    !json_is_object(st->data)
			? "the event's data must be a JSON object {\"reviewText\": \"...\"}"
			: (text ? "data.reviewText must be a string"
				: "data.reviewText is missing"));
	st->text = json_string_value(text);
	st->text_len = json_string_length(text);
	if (st->text_len > STEP_TEXT_MAX)
		return reject(req, ERR_VALIDATION, st->in->id,
			      "data.reviewText is longer than 64 KiB");
	return 0;
}

/* How many extensions the reply has: the input's, with the step's set or unset. */
static size_t step_reply_exts(const struct ce_event *in, const struct step_ext *ext, size_t next)
{
	size_t n = in->n_ext;

	for (size_t i = 0; i < next; i++) {
		bool has = ce_ext_find(in, ext[i].name) != NULL;

		n += ext[i].value && !has;
		n -= !ext[i].value && has;
	}
	return n;
}

int step_refuse(struct http_request *req, const struct step *st, int err, const char *msg)
{
	return reject(req, err, st->in ? st->in->id : NULL, msg);
}

int step_reply(struct http_request *req, struct step *st, const char *type, const char *source,
	       const struct step_ext *ext, size_t next)
{
	struct arena *a = http_arena(req);
	struct ce_event *out;
	char *data;
	char when[CE_TIME_LEN], msg[160];
	struct timespec ts;
	int rc = 0;

	if (step_reply_exts(st->in, ext, next) > CE_MAX_EXTENSIONS) {
		snprintf(msg, sizeof(msg),
			 "the event has %zu extension attributes: no room for the ones this step "
			 "adds to its reply (at most %d per event)",
			 st->in->n_ext, CE_MAX_EXTENSIONS);
		return reject(req, ERR_VALIDATION, st->in->id, msg);
	}
	out = ce_event_clone(st->in);
	data = json_dumps(st->data, JSON_COMPACT | JSON_REAL_PRECISION(15));
	ce_request_own(req, out); /* the reply lives as long as the request */
	arena_defer(a, free, data);
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	rc |= ce_set(out, "time", ce_time_format(&ts, when));
	rc |= ce_set(out, "type", type);
	rc |= ce_set(out, "source", source);
	rc |= ce_set(out, "dataschema", NULL); /* the input's schema does not describe the reply */
	rc |= ce_set_data(out, data, strlen(data), "application/json");
	for (size_t i = 0; i < next; i++)
		rc |= ce_set(out, ext[i].name, ext[i].value);
	if (rc)
		return http_fail(req, ERR_INTERNAL, "could not build the reply event");
	return ce_request_respond(req, 200, out);
}

void step_note(struct step *st, const char *key, json_t *value)
{
	if (st->note == NULL)
		st->note = json_object();
	(void)json_object_set_new(st->note, key, value);
}

void step_end(struct step *st, int rc)
{
	if (st->span)
		ce_trace_end(st->span, rc);
	json_decref(st->note);
	json_decref(st->data);
	ce_event_free(st->in);
	memset(st, 0, sizeof(*st));
}

/*
 * Reports the attempt answered rc (0: 200) to node-server's journeys (journey_client.h):
 * best-effort, queued after the answer is decided, never delaying it.
 */
static void step_report(const struct step_service *svc, const struct step *st, int rc)
{
	char trace_id[33];
	json_t *r;

	if (svc->journey == NULL || st->in == NULL || !journey_client_id_ok(st->in->id))
		return;
	journey_client_trace_id(trace_span_context(st->span), trace_id);
	r = json_pack("{s:s, s:s, s:s, s:I, s:s, s:i}", "id", st->in->id, "source", svc->name,
		      "kind", "step", "time", (json_int_t)clock_real_ms(), "outcome",
		      rc ? "failed" : "answered", "code", rc ? err_http_status(rc) : 200);
	if (r && trace_id[0])
		(void)json_object_set_new(r, "trace_id", json_string(trace_id));
	if (r && st->note)
		(void)json_object_update(r, st->note);
	journey_client_record(svc->journey, r);
}

/* POST / of a step service: decode, run, report, end. */
static int step_post(struct http_request *req)
{
	const struct step_service *svc = req->ctx;
	struct step st;
	int rc = step_begin(req, &st);

	if (rc == 0)
		rc = svc->run(svc->arg, req, &st);
	step_report(svc, &st, rc);
	step_end(&st, rc);
	return rc;
}

static const struct route routes[] = {
	{ "POST", "/", step_post, 0, 0 }, /* the server's default cap (step.h) */
};

const struct route *step_routes(size_t *n)
{
	*n = ARRAY_SIZE(routes);
	return routes;
}

void step_service_http(struct step_service *svc, int port, const char *journey_url,
		       struct http_server_config *http)
{
	if (journey_url)
		svc->journey = journey_client_new(journey_url);
	memset(http, 0, sizeof(*http));
	http->port = port;
	http->service = svc->name;
	http->routes = step_routes(&http->nroutes);
	http->ctx = svc;
}

void step_service_end(struct step_service *svc)
{
	journey_client_free(svc->journey);
	svc->journey = NULL;
}
