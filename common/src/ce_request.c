/* ce_request.c: CloudEvents over the HTTP server and client (see ce_request.h). */
#include "common/ce_request.h"

#include <strings.h>

#include "common/arena.h"
#include "common/err.h"
#include "common/xalloc.h"

/* One event encoded in binary mode: its headers (owned) and its body (borrowed from ev). */
struct binary {
	struct header_list h;
	const void *body;
	size_t len;
};

static int binary_encode(const struct ce_event *ev, struct binary *b)
{
	header_list_init(&b->h);
	return ce_encode_binary(ev, &b->h, &b->body, &b->len);
}

int ce_request_decode(const struct http_request *req, struct ce_event **out, struct ce_error *err)
{
	size_t n;
	const struct http_header *h = http_headers(req, &n);

	return ce_decode_event(h, n, req->body, req->body_len, out, err);
}

int ce_request_respond(struct http_request *req, int status, const struct ce_event *ev)
{
	const char *ctype = NULL;
	struct binary b;
	int rc = binary_encode(ev, &b);

	for (size_t i = 0; rc == 0 && i < b.h.n; i++) {
		if (strcasecmp(b.h.v[i].name, "Content-Type") == 0)
			ctype = b.h.v[i].value;
		else
			rc = http_add_header(req, b.h.v[i].name, b.h.v[i].value);
	}
	if (rc == 0)
		rc = http_respond(req, status, ctype, b.body, b.len);
	else
		rc = http_fail(req, ERR_INTERNAL, "could not encode the reply event");
	header_list_release(&b.h);
	return rc;
}

int ce_request_send(struct httpc *client, const struct httpc_request *up, const struct ce_event *ev,
		    httpc_done_fn done, void *arg)
{
	struct httpc_request r = *up;
	struct binary b;
	int rc = binary_encode(ev, &b);

	if (rc == 0) {
		r.method = up->method ? up->method : "POST";
		r.headers = b.h.v;
		r.nheaders = b.h.n;
		r.body = b.body;
		r.body_len = b.len;
		rc = httpc_send(client, &r, done, arg);
	}
	header_list_release(&b.h);
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
