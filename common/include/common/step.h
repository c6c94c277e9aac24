/*
 * step.h: one request to a Sequence step that works on a review (bad-word-filter,
 * sentiment-analysis): the CloudEvent in, its data's reviewText, and the reply event out.
 *
 *	struct step st;
 *	int rc = step_begin(req, &st);       // decodes, or answers 4xx and returns its code
 *	if (rc)
 *		return rc;
 *	... analyse st.text, add to st.data ...
 *	rc = step_reply(req, &st, "moderated-comment", "sentiment-analysis", exts, n);
 *	step_end(&st, rc);
 *	return rc;
 *
 * The request must be one CloudEvent (binary or structured mode; a batch is refused) whose
 * data is a JSON object with a string member reviewText (at most STEP_TEXT_MAX bytes), sent as
 * "data" or, in structured mode, as "data_base64" with a JSON datacontenttype. Any other
 * request is answered 400 (415 for an unsupported event format) with the JSON error body of
 * http.h, whose message says what is wrong (data that does not parse says where), and logged
 * at warn.
 *
 * The reply is the input event with a new time, the given type and source, datacontenttype
 * application/json, no dataschema, data = st.data (the input's data object, with what the
 * step added), and the given extensions set as Strings (an input's extension of the same name
 * is replaced whatever its type, so an input's "badwordfilter": true becomes "good"; a NULL
 * value unsets it). Every other attribute and extension of the input
 * (subject, traceparent, ...) is kept, so a Sequence's steps stay in the review's trace. It
 * is answered 200 in binary mode (ce_request_respond()). It keeps the input's id: its source is
 * new, so (source, id) is still unique as CloudEvents requires, and a review keeps one id from
 * /add through both steps to /insert, which deduplicates by it (a redelivered review is not
 * stored twice).
 *
 * Tracing: step_begin() starts the CONSUMER span "process {type}" (ce_trace.h) as st.span
 * and makes it current; step_end() marks it failed when rc < 0 and ends it.
 *
 * Ownership: st owns in, data, span and note until step_end(); st.text points into data.
 *
 * A step service needs no route table of its own: step_routes() is its one route, POST /,
 * which runs step_begin(), then the service's run function, then step_end(). req->ctx is
 * then the service's struct step_service.
 *
 * Journeys (docs/journey.md): with svc->journey set (the service's JOURNEY_URL), POST /
 * reports each attempt of an event with an id to node-server as one record (common/
 * journey_client.h; the schema is services/node-server/journey.h):
 *	{"id", "source": svc->name, "kind": "step", "time", "outcome": "answered" | "failed",
 *	 "code": the status answered, "trace_id"?, and what the run function noted (step_note():
 *	 "result", "score", "matched")}
 * after the answer is decided; it is best-effort and never delays or fails the answer. A
 * request refused before its event is decoded has no id and no record.
 */
#ifndef COMMON_STEP_H
#define COMMON_STEP_H

#include <stddef.h>

#include <jansson.h>

#include "common/ce.h"
#include "common/config.h"
#include "common/http.h"
#include "common/route.h"
#include "common/service.h"
#include "common/trace.h"

#define STEP_TEXT_MAX ((size_t)64 * 1024)

struct step {
	struct ce_event *in;
	json_t *data;	  /* the input's data object; the step adds its result to it */
	const char *text; /* data.reviewText */
	size_t text_len;
	struct trace_span *span;
	json_t *note; /* the step's result for its journey record (step_note()), or NULL */
};

/* An extension of the reply. */
struct step_ext {
	const char *name;
	const char *value;
};

/*
 * Decodes the request into st. Returns 0, or the negative err.h code after answering the
 * request. Either way the caller ends st with step_end().
 */
int step_begin(struct http_request *req, struct step *st);
/*
 * Answers the reply event (see above). An input with no room left for the step's extensions
 * (the reply would have more than CE_MAX_EXTENSIONS) is answered 400 validation_failed, and
 * logged at warn, as a request that can never succeed. Returns 0 or the answer's code.
 */
int step_reply(struct http_request *req, struct step *st, const char *type, const char *source,
	       const struct step_ext *ext, size_t next);
/*
 * Refuses the review with err (an err.h code) and msg, the way step_begin() refuses a request:
 * the JSON error answer, and a warn log line naming the event. Returns the answer's code.
 */
int step_refuse(struct http_request *req, const struct step *st, int err, const char *msg);
/* Ends the span (failed when rc < 0) and frees st. */
void step_end(struct step *st, int rc);
/* Adds key = value (the reference is taken) to the step's journey record. */
void step_note(struct step *st, const char *key, json_t *value);

/*
 * What a step service does with a decoded review: adds its result to st->data and answers
 * (step_reply(), or step_refuse() for a review it refuses), returning that answer's code.
 */
typedef int (*step_run_fn)(void *arg, struct http_request *req, struct step *st);

struct journey_client;

struct step_service {
	step_run_fn run;
	void *arg;
	const char *name;		/* the service, the records' "source" */
	struct journey_client *journey; /* borrowed; NULL = no journey records */
};

/*
 * The route table of a step service: POST / with req->ctx a struct step_service. Its size goes
 * to *n. The body cap is the server's default, HTTP_DEFAULT_MAX_BODY (1 MiB, the broker's too),
 * not a multiple of STEP_TEXT_MAX: that limit is on the decoded text, and JSON may write a
 * 2-byte character or a control character in 6 bytes ("\u00e9").
 */
const struct route *step_routes(size_t *n);

/*
 * The settings of a step service's config table besides its own: PORT and JOURNEY_URL. type is
 * its config struct, with the fields `int port` and `const char *journey_url`.
 */
#define STEP_VARS(type)                                                                            \
	SERVICE_VAR_PORT(type),                                                                    \
	{                                                                                          \
		"JOURNEY_URL", CONFIG_URL, offsetof(type, journey_url), NULL, 0, 0, NULL,          \
		    "node-server's POST /journey, for the page's journeys (best-effort); unset = " \
		    "off"                                                                          \
	}

/*
 * The HTTP server of a step service: fills http to serve svc (svc->name names the service)
 * with step_routes() on port, and starts sending journey records to journey_url when it is set
 * (a client owned by svc until step_service_end()). main() then calls service_run(http, ...).
 */
void step_service_http(struct step_service *svc, int port, const char *journey_url,
		       struct http_server_config *http);
/* Frees what step_service_http() made for svc (after service_run() returned). */
void step_service_end(struct step_service *svc);

#endif
