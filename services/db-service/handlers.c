/*
 * handlers.c: the HTTP glue of db-service (see handlers.h).
 */
#include "handlers.h"

#include "common/err.h"
#include "common/http.h"
#include "common/xalloc.h"
#include "review.h"
#include "store.h"

/* Large enough for 4000 code points written as \uXXXX escapes, plus padding. */
#define REVIEW_MAX_BODY ((size_t)256 * 1024)
#define MSG_CAP		4096

/* The request's message buffer: the reason a lower layer gives for failing. */
static struct buf *msg_buf(struct http_request *req)
{
	return arena_buf(http_arena(req), MSG_CAP);
}

/* Answers status with body (stolen) or fails with rc and the reason in msg. */
static int finish(struct http_request *req, int rc, int status, json_t *body, struct buf *msg)
{
	if (rc) {
		json_decref(body);
		return http_fail_buf(req, rc, msg);
	}
	return http_respond_json(req, status, body);
}

static int books_list(struct http_request *req)
{
	struct buf *msg = msg_buf(req);
	json_t *books = NULL;
	int rc = store_books_list(req->ctx, &books, msg);

	return finish(req, rc, 200, books, msg);
}

static int books_get(struct http_request *req)
{
	struct buf *msg = msg_buf(req);
	json_t *book = NULL;
	long long id;
	int rc = review_parse_id(http_param(req, "id"), &id, msg);

	if (rc == 0)
		rc = store_book_get(req->ctx, id, &book, msg);
	return finish(req, rc, 200, book, msg);
}

static int reviews_list(struct http_request *req)
{
	struct buf *msg = msg_buf(req);
	json_t *rows = NULL;
	int limit;
	int rc = review_parse_limit(http_query(req, "limit"), &limit, msg);

	if (rc == 0)
		rc = store_reviews_list(req->ctx, limit, &rows, msg);
	return finish(req, rc, 200, rows, msg);
}

static int reviews_create(struct http_request *req)
{
	struct buf *msg = msg_buf(req);
	struct review_input in;
	json_t *row = NULL;
	int created = 0;
	int rc = review_parse(req->body, req->body_len, &in, msg);

	if (rc == 0)
		rc = store_review_insert(req->ctx, &in, &row, &created, msg);
	review_input_release(&in);
	return finish(req, rc, created ? 201 : 200, row, msg);
}

static int reviews_delete(struct http_request *req)
{
	struct buf *msg = msg_buf(req);
	long long id;
	int rc = review_parse_id(http_param(req, "id"), &id, msg);

	if (rc == 0)
		rc = store_review_delete(req->ctx, id, msg);
	if (rc)
		return http_fail_buf(req, rc, msg);
	return http_respond(req, 204, NULL, NULL, 0);
}

static const struct route routes[] = {
	{ "GET", "/books", books_list, 0, ROUTE_BLOCKING },
	{ "GET", "/books/{id}", books_get, 0, ROUTE_BLOCKING },
	{ "GET", "/reviews", reviews_list, 0, ROUTE_BLOCKING },
	{ "POST", "/reviews", reviews_create, REVIEW_MAX_BODY, ROUTE_JSON | ROUTE_BLOCKING },
	{ "DELETE", "/reviews/{id}", reviews_delete, 0, ROUTE_BLOCKING },
};
const struct route *handlers_routes(size_t *n)
{
	*n = ARRAY_SIZE(routes);
	return routes;
}

int handlers_ready(void *ctx, struct buf *reason)
{
	return store_ready(ctx, reason);
}
