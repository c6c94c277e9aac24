/*
 * Tests for ce_request.h against a real server and client on 127.0.0.1: an event sent with
 * ce_request_send() is decoded by a handler with ce_request_decode() and answered with
 * ce_request_respond(); the answer is decoded back. A body that is not an event is refused
 * with the decoder's reason. Every wait has a deadline.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "common/ce.h"
#include "common/ce_request.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/http.h"
#include "common/httpc.h"
#include "common/xalloc.h"

#include "../unit.h"

#define DEADLINE_MS 10000

/* POST /echo: the event back, with type "echoed"; a bad event gets the decoder's code. */
static int echo(struct http_request *req)
{
	struct ce_error err;
	struct ce_event *ev;
	int rc = ce_request_decode(req, &ev, &err);

	if (rc)
		return http_fail(req, rc, "%s", err.message);
	(void)ce_set(ev, "type", "echoed");
	rc = ce_request_respond(req, 201, ev);
	ce_event_free(ev);
	return rc;
}

static const struct route routes[] = { { "POST", "/echo", echo, 0, 0 } };

/* One answer, copied out of the client's callback. */
struct answer {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, status;
	struct http_header h[32];
	size_t n;
	char *names[32], *values[32];
	char *body;
	size_t len;
};

static void on_done(const struct httpc_response *res, void *arg)
{
	struct answer *a = arg;

	pthread_mutex_lock(&a->mu);
	a->status = res->status;
	for (size_t i = 0; i < res->nheaders && i < 32; i++) {
		a->names[i] = xstrdup(res->headers[i].name);
		a->values[i] = xstrdup(res->headers[i].value);
		a->h[i].name = a->names[i];
		a->h[i].value = a->values[i];
		a->n = i + 1;
	}
	a->body = xstrndup(res->body ? res->body : "", res->body_len);
	a->len = res->body_len;
	a->done = 1;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static void answer_init(struct answer *a)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->mu, NULL);
	cr_assert_eq(clock_cond_init(&a->cv), 0);
}

static void wait_answer(struct answer *a)
{
	struct timespec deadline;

	clock_deadline(&deadline, DEADLINE_MS);
	pthread_mutex_lock(&a->mu);
	while (!a->done && pthread_cond_timedwait(&a->cv, &a->mu, &deadline) == 0)
		;
	pthread_mutex_unlock(&a->mu);
	cr_assert(a->done, "no answer within %d ms", DEADLINE_MS);
}

static void answer_release(struct answer *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->names[i]);
		free(a->values[i]);
	}
	free(a->body);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
}

/* A server with POST /echo on 127.0.0.1, a client, and the one answer a test waits for. */
struct echo_run {
	struct http_server *srv;
	struct httpc *client;
	struct answer a;
	char url[64];
};

static void run_start(struct echo_run *r)
{
	struct http_server_config cfg = {
		.service = "test-ce-request", .routes = routes, .nroutes = 1, .threads = 2
	};

	cfg.bind = "127.0.0.1";
	cr_assert_eq(http_server_start(&cfg, &r->srv), 0);
	r->client = httpc_new(&(struct httpc_options){ 0 });
	cr_assert_not_null(r->client);
	answer_init(&r->a);
	snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d/echo", http_server_port(r->srv));
}

static void run_stop(struct echo_run *r)
{
	answer_release(&r->a);
	httpc_free(r->client);
	http_server_stop(r->srv);
}

/* Sends ev (then freed) to /echo with ce_request_send() and waits for the answer. */
static void run_send(struct echo_run *r, struct ce_event *ev)
{
	cr_assert_eq(ce_request_send(r->client, &(struct httpc_request){ .url = r->url }, ev,
				     on_done, &r->a),
		     0);
	ce_event_free(ev);
	wait_answer(&r->a);
}

/* Posts body with content_type to /echo by hand and waits for the answer. */
static void run_post(struct echo_run *r, const char *content_type, const char *body)
{
	const struct http_header h[] = { { "Content-Type", content_type } };
	struct httpc_request q = { .method = "POST",
				   .url = r->url,
				   .headers = h,
				   .nheaders = 1,
				   .body = body,
				   .body_len = strlen(body) };

	cr_assert_eq(httpc_send(r->client, &q, on_done, &r->a), 0);
	wait_answer(&r->a);
}

/* A new event with id, source "/s", type "t" and data of type ct. */
static struct ce_event *event_new(const char *id, const char *data, const char *ct)
{
	struct ce_event *ev = ce_event_new();

	cr_assert_eq(ce_set(ev, "specversion", "1.0"), 0);
	cr_assert_eq(ce_set(ev, "id", id), 0);
	cr_assert_eq(ce_set(ev, "source", "/s"), 0);
	cr_assert_eq(ce_set(ev, "type", "t"), 0);
	cr_assert_eq(ce_set_data(ev, data, strlen(data), ct), 0);
	return ev;
}

Test(ce_request, send_decode_respond_round_trip, LEAK_FINI)
{
	struct ce_event *back = NULL;
	struct ce_error err;
	struct echo_run r;

	run_start(&r);
	run_send(&r, event_new("r-1", "{\"reviewText\":\"ok\"}", "application/json"));
	cr_expect_eq(r.a.status, 201);
	cr_assert_eq(ce_decode_event(r.a.h, r.a.n, r.a.body, r.a.len, &back, &err), 0, "%s",
		     err.message);
	cr_expect_str_eq(back->id, "r-1");
	cr_expect_str_eq(back->type, "echoed");
	cr_expect_eq(back->data_len, 19);
	cr_expect_eq(memcmp(back->data, "{\"reviewText\":\"ok\"}", 19), 0);
	ce_event_free(back);
	run_stop(&r);
}

static void expect_structured_echo(const struct answer *a)
{
	const char *ct = NULL;
	struct ce_event *back = NULL;
	struct ce_error err;

	cr_expect_eq(a->status, 201, "%d %s", a->status, a->body);
	for (size_t i = 0; i < a->n; i++) {
		if (!strcasecmp(a->h[i].name, "content-type"))
			ct = a->h[i].value;
		cr_expect_neq(strncasecmp(a->h[i].name, "ce-", 3), 0, "header %s", a->h[i].name);
	}
	cr_assert_not_null(ct);
	cr_expect_str_eq(ct, CE_CONTENT_TYPE);
	cr_assert_eq(ce_decode_event(a->h, a->n, a->body, a->len, &back, &err), 0, "%s",
		     err.message);
	cr_expect_str_eq(back->id, "1");
	cr_expect_str_eq(back->type, "echoed");
	cr_expect_str_eq(back->datacontenttype, "application/cloudevents+json");
	cr_expect_eq(back->data_len, 2);
	cr_expect_eq(memcmp(back->data, "{}", 2), 0);
	ce_event_free(back);
}

Test(ce_request, a_cloudevents_data_type_is_sent_structured, LEAK_FINI)
{
	struct echo_run r;

	run_start(&r);
	run_send(&r, event_new("1", "{}", "application/cloudevents+json"));
	expect_structured_echo(&r.a);
	run_stop(&r);
}

/* The same event posted by hand, so that only ce_request_respond() is under test. */
Test(ce_request, a_cloudevents_data_type_is_answered_structured, LEAK_FINI)
{
	struct echo_run r;

	run_start(&r);
	run_post(&r, "application/cloudevents+json",
		 "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
		 "\"datacontenttype\":\"application/cloudevents+json\",\"data\":{}}");
	expect_structured_echo(&r.a);
	run_stop(&r);
}

Test(ce_request, a_body_that_is_no_event_is_refused, LEAK_FINI)
{
	struct echo_run r;

	run_start(&r);
	run_post(&r, "application/json", "{}");
	cr_expect_eq(r.a.status, 400);
	cr_expect_not_null(strstr(r.a.body, "specversion"), "body: %s", r.a.body);
	run_stop(&r);
}
