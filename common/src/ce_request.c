/* ce_request.c: the CloudEvent of an HTTP request (see ce_request.h). */
#include "common/ce_request.h"

int ce_request_decode(const struct http_request *req, struct ce_event **out, struct ce_error *err)
{
	size_t n;
	const struct http_header *h = http_headers(req, &n);

	return ce_decode_event(h, n, req->body, req->body_len, out, err);
}
