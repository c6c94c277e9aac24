/*
 * ce_request.h: the CloudEvent an HTTP request carries (ce.h over http.h), for the receivers
 * that take one event per request: the sinks, node-server's /add and /insert.
 */
#ifndef COMMON_CE_REQUEST_H
#define COMMON_CE_REQUEST_H

#include "common/ce.h"
#include "common/http.h"

/*
 * Decodes req's headers and body as one CloudEvent (binary or structured mode; a batch is
 * refused), as ce_decode_event() does. Returns 0 with *out set (the caller frees it with
 * ce_event_free()), or the err.h code with the reason in err->message and *out NULL.
 */
int ce_request_decode(const struct http_request *req, struct ce_event **out, struct ce_error *err);

#endif
