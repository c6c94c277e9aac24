/*
 * ce_request.h: CloudEvents over this project's HTTP layers (ce.h with http.h and httpc.h):
 * the event a request carries, an answer that is an event, and an event sent with httpc.
 * Used by the receivers that take one event per request (the sinks, the Sequence steps,
 * node-server's /add and /insert).
 *
 * Every event sent or answered goes through ce_encode_http(): binary mode (ce- headers, a
 * Content-Type from datacontenttype, the data as the body), except for an event whose
 * datacontenttype starts with application/cloudevents, which binary mode cannot carry: that
 * one goes in structured mode (Content-Type CE_CONTENT_TYPE, the event as JSON).
 */
#ifndef COMMON_CE_REQUEST_H
#define COMMON_CE_REQUEST_H

#include "common/ce.h"
#include "common/http.h"
#include "common/httpc.h"

/*
 * Decodes req's headers and body as one CloudEvent (binary or structured mode; a batch is
 * refused), as ce_decode_event() does. Returns 0 with *out set (the caller frees it with
 * ce_event_free()), or the err.h code with the reason in err->message and *out NULL.
 */
int ce_request_decode(const struct http_request *req, struct ce_event **out, struct ce_error *err);

/* Hands ev to req: it is freed with the request's arena (http_arena()), after the answer. */
void ce_request_own(struct http_request *req, struct ce_event *ev);

/*
 * Answers status with ev (binary mode, or structured when binary cannot carry it; see above).
 * Returns http_respond()'s code, or answers 500 and returns its code when ev is not valid.
 */
int ce_request_respond(struct http_request *req, int status, const struct ce_event *ev);

/*
 * Sends ev through client (binary mode, or structured when binary cannot carry it; see
 * above): method (NULL = POST), url, timeout and trace fields come from up, whose headers and
 * body are replaced by the event's (up itself is not changed; httpc copies what it sends, so
 * ev may be freed on return). Returns httpc_send()'s code, or ERR_INVALID_EVENT (ev is not
 * valid) with nothing sent.
 */
int ce_request_send(struct httpc *client, const struct httpc_request *up, const struct ce_event *ev,
		    httpc_done_fn done, void *arg);

#endif
