/* ce_request.c: CloudEvents over the HTTP server and client (see ce_request.h). */
#include "common/ce_request.h"

#include <strings.h>

#include "common/arena.h"
#include "common/err.h"
#include "common/xalloc.h"

int ce_request_decode(const struct http_request *req, struct ce_event **out, struct ce_error *err)
{
	size_t n;
	const struct http_header *h = http_headers(req, &n);

	return ce_decode_event(h, n, req->body, req->body_len, out, err);
}

int ce_request_respond(struct http_request *req, int status, const struct ce_event *ev)
{
	const char *ctype = NULL;
	struct ce_encoded m;
	int rc = ce_encode_http(ev, false, &m);

	for (size_t i = 0; rc == 0 && i < m.headers.n; i++) {
		if (strcasecmp(m.headers.v[i].name, "Content-Type") == 0)
			ctype = m.headers.v[i].value;
		else
			rc = http_add_header(req, m.headers.v[i].name, m.headers.v[i].value);
	}
	if (rc == 0)
		rc = http_respond(req, status, ctype, m.body, m.len);
	else
		rc = http_fail(req, ERR_INTERNAL, "could not encode the reply event");
	ce_encoded_release(&m);
	return rc;
}

int ce_request_send(struct httpc *client, const struct httpc_request *up, const struct ce_event *ev,
		    httpc_done_fn done, void *arg)
{
	struct httpc_request r = *up;
	struct ce_encoded m;
	int rc = ce_encode_http(ev, false, &m);

	if (rc == 0) {
		r.method = up->method ? up->method : "POST";
		r.headers = m.headers.v;
		r.nheaders = m.headers.n;
		r.body = m.body;
		r.body_len = m.len;
		rc = httpc_send(client, &r, done, arg);
	}
	ce_encoded_release(&m);
	return rc;
}

/* arena_defer() callback of ce_request_own(). */
static void event_free(void *ev)
{
	ce_event_free(ev);
}

void ce_request_own(struct http_request *req, struct ce_event *ev)
{
	arena_defer(http_arena(req), event_free, ev);
}
