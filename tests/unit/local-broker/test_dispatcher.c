/*
 * test_dispatcher.c: the broker's delivery engine through its public API, against a real
 * subscriber on 127.0.0.1 (a small HTTP/1.1 responder thread) or a port that refuses
 * connections: a delivery ends when the subscriber takes it; queue_max refuses an event all or
 * nothing; an event no Trigger matches makes no delivery; an exhausted knativebrokerttl is
 * refused; with the write-ahead log a delivery still retrying survives a restart
 * (checkpoint, then resume in a new dispatcher), and every commit waiter queued behind a sync
 * is answered once.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../../services/local-broker/dispatcher.h"
#include "../../../services/local-broker/topology.h"
#include "../unit.h"
#include "common/buf.h"
#include "common/ce.h"
#include "common/clock.h"
#include "common/err.h"

TestSuite(dispatcher, LEAK_FINI);

/* ---- a subscriber that answers every request with 202 ---------------------------------- */

struct subscriber {
	int fd, port;
	atomic_int requests;
	pthread_t th;
};

/* Reads one request (headers and a Content-Length body) from c. 0, or -1 at EOF/error. */
static int read_request(int c)
{
	char buf[16384];
	size_t got = 0;
	char *end;
	long body;

	for (;;) {
		ssize_t n = read(c, buf + got, sizeof(buf) - 1 - got);

		if (n <= 0)
			return -1;
		got += (size_t)n;
		buf[got] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end)
			break;
		if (got == sizeof(buf) - 1)
			return -1;
	}
	{
		const char *cl = strstr(buf, "\r\nContent-Length:") /* as libcurl writes it */;

		body = cl ? strtol(cl + 17, NULL, 10) : 0;
	}
	body -= (long)(got - (size_t)(end + 4 - buf));
	while (body > 0) {
		ssize_t n = read(c, buf, sizeof(buf));

		if (n <= 0)
			return -1;
		body -= n;
	}
	return 0;
}

static void *subscriber_main(void *arg)
{
	static const char reply[] = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n"
				    "Connection: close\r\n\r\n";
	struct subscriber *s = arg;

	for (;;) {
		int c = accept(s->fd, NULL, NULL);

		if (c < 0)
			return NULL; /* the listener was shut down */
		if (read_request(c) == 0) {
			atomic_fetch_add(&s->requests, 1);
			(void)!write(c, reply, sizeof(reply) - 1);
		}
		close(c);
	}
}

/* A socket bound to a free port on 127.0.0.1, listening or not. */
static int bind_local(int *port, int listening)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	if (listening)
		cr_assert_eq(listen(fd, 16), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void subscriber_start(struct subscriber *s)
{
	s->fd = bind_local(&s->port, 1);
	atomic_init(&s->requests, 0);
	cr_assert_eq(pthread_create(&s->th, NULL, subscriber_main, s), 0);
}

static void subscriber_stop(struct subscriber *s)
{
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->th, NULL);
	close(s->fd);
}

/*
 * A port bound but not listening: connections to it are refused, and no other test can take
 * it while *fd stays open (close it at the end).
 */
static int refused_port(int *fd)
{
	int port;

	*fd = bind_local(&port, 0);
	return port;
}

/* ---- topology and events ------------------------------------------------------------------- */

#define BROKER                                                                               \
	"apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: b, namespace: " \
	"ns}\n"

/* Broker ns/b with ntriggers Triggers (t0, t1, ...) to port, filtering on type filter (or none). */
static struct topology *topo_make(int port, int ntriggers, const char *filter, const char *delivery)
{
	struct topology *t = topology_new();
	struct buf yaml, err;

	buf_init(&yaml, BUF_NOCAP);
	buf_init(&err, BUF_NOCAP);
	cr_assert_eq(buf_appends(&yaml, BROKER), 0);
	for (int i = 0; i < ntriggers; i++)
		cr_assert_eq(buf_appendf(&yaml,
					 "---\napiVersion: eventing.knative.dev/v1\nkind: Trigger\n"
					 "metadata: {name: t%d, namespace: ns}\nspec: {broker: b, "
					 "subscriber: {uri: 'http://127.0.0.1:%d/'}%s%s%s%s}\n",
					 i, port, filter ? ", filter: {attributes: {type: " : "",
					 filter ? filter : "", filter ? "}}" : "",
					 delivery ? delivery : ""),
			     0);
	cr_assert_eq(topology_set_services(t, "x=http://127.0.0.1:1", &err), 0, "%s", err.data);
	cr_assert_eq(topology_add_yaml(t, yaml.data, yaml.len, "test.yaml", &err), 0, "%s",
		     err.data);
	cr_assert_eq(topology_finish(t, &err), 0, "%s", err.data);
	buf_release(&yaml);
	buf_release(&err);
	return t;
}

static struct ce_event *event_make(const char *id, const char *type)
{
	struct ce_event *ev = ce_event_new();

	cr_assert_eq(ce_set(ev, "specversion", "1.0"), 0);
	cr_assert_eq(ce_set(ev, "id", id), 0);
	cr_assert_eq(ce_set(ev, "source", "/test"), 0);
	cr_assert_eq(ce_set(ev, "type", type), 0);
	return ev;
}

static int ingest(struct dispatcher *d, const struct topology *t, const char *id)
{
	struct ce_event *ev = event_make(id, "t.one");
	int rc = dispatcher_ingest(d, &t->brokers[0], ev, NULL, NULL);

	ce_event_free(ev);
	return rc;
}

/* Polls until the dispatcher holds want deliveries; 10 s at most. */
static int wait_depth(struct dispatcher *d, size_t want)
{
	long long deadline = clock_mono_ms() + 10000;

	while (dispatcher_depth(d) != want) {
		if (clock_mono_ms() > deadline)
			return -1;
		usleep(5000);
	}
	return 0;
}

/* A subscriber that is down, and a long backoff: deliveries stay pending, retrying. */
#define RETRY_LATER ", delivery: {retry: 5, backoffPolicy: exponential, backoffDelay: PT60S}"

/* ---- tests --------------------------------------------------------------------------------- */

Test(dispatcher, delivers_to_a_real_subscriber)
{
	struct dispatcher_options opt = { 0 };
	struct subscriber s;
	struct topology *t;
	struct dispatcher *d;

	subscriber_start(&s);
	t = topo_make(s.port, 2, NULL, NULL);
	d = dispatcher_new(t, &opt);
	cr_assert_eq(ingest(d, t, "e1"), 0);
	cr_expect_eq(wait_depth(d, 0), 0, "still %zu pending", dispatcher_depth(d));
	cr_expect_eq(atomic_load(&s.requests), 2, "one delivery per Trigger");
	cr_expect_eq(dispatcher_bytes(d), 0);
	dispatcher_drain(d, 1000);
	dispatcher_free(d);
	topology_free(t);
	subscriber_stop(&s);
}

Test(dispatcher, queue_max_refuses_all_or_nothing)
{
	int hole;
	struct dispatcher_options opt = { .queue_max = 3 };
	struct topology *t = topo_make(refused_port(&hole), 2, NULL, RETRY_LATER);
	struct dispatcher *d = dispatcher_new(t, &opt);

	cr_assert_eq(ingest(d, t, "e1"), 0);
	cr_expect_eq(dispatcher_depth(d), 2);
	cr_expect_gt(dispatcher_bytes(d), 0);
	cr_expect_eq(ingest(d, t, "e2"), ERR_OVERLOADED, "2 more would pass queue_max 3");
	cr_expect_eq(dispatcher_depth(d), 2, "nothing of e2 was enqueued");
	dispatcher_drain(d, 0);
	dispatcher_free(d);
	topology_free(t);
	close(hole);
}

Test(dispatcher, unmatched_event_makes_no_delivery)
{
	int hole;
	struct dispatcher_options opt = { 0 };
	struct topology *t = topo_make(refused_port(&hole), 1, "t.other", RETRY_LATER);
	struct dispatcher *d = dispatcher_new(t, &opt);

	cr_expect_eq(ingest(d, t, "e1"), 0);
	cr_expect_eq(dispatcher_depth(d), 0);
	dispatcher_free(d);
	topology_free(t);
	close(hole);
}

Test(dispatcher, exhausted_ttl_is_refused)
{
	int hole;
	struct dispatcher_options opt = { 0 };
	struct topology *t = topo_make(refused_port(&hole), 1, NULL, RETRY_LATER);
	struct dispatcher *d = dispatcher_new(t, &opt);
	struct ce_event *ev = event_make("e1", "t.one");

	cr_assert_eq(ce_set_int(ev, "knativebrokerttl", 1), 0);
	cr_expect_eq(dispatcher_ingest(d, &t->brokers[0], ev, NULL, NULL), ERR_TTL);
	cr_expect_eq(dispatcher_depth(d), 0);
	ce_event_free(ev);
	dispatcher_free(d);
	topology_free(t);
	close(hole);
}

Test(dispatcher, wal_keeps_a_pending_delivery_across_a_restart)
{
	int hole;
	char dir[] = "/tmp/test_dispatcher_XXXXXX";
	struct dispatcher_options opt = { 0 };
	struct topology *t = topo_make(refused_port(&hole), 1, NULL, RETRY_LATER);
	struct dispatcher *d;
	struct buf err, reason;
	char path[64];

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/broker.wal", dir);
	opt.wal_path = path;
	buf_init(&err, BUF_NOCAP);
	buf_init(&reason, BUF_NOCAP);
	d = dispatcher_new(t, &opt);
	cr_assert_eq(dispatcher_resume(d, NULL, &err), 0, "%s", err.data);
	cr_assert_eq(ingest(d, t, "e1"), 0);
	cr_expect_eq(dispatcher_depth(d), 1);
	cr_expect_eq(dispatcher_check(d, &reason), 0, "%s", reason.data);
	dispatcher_drain(d, 0);
	cr_expect_eq(dispatcher_checkpoint(d), 1);
	dispatcher_free(d);

	d = dispatcher_new(t, &opt);
	cr_expect_eq(dispatcher_resume(d, NULL, &err), 1, "%s", err.data);
	cr_expect_eq(dispatcher_depth(d), 1);
	dispatcher_drain(d, 0);
	dispatcher_free(d);

	topology_free(t);
	buf_release(&err);
	buf_release(&reason);
	unlink(path);
	rmdir(dir);
	close(hole);
}

struct answers {
	atomic_int ok, failed;
};

static void answered(void *arg, int rc)
{
	struct answers *a = arg;

	atomic_fetch_add(rc == 0 ? &a->ok : &a->failed, 1);
}

/*
 * Ingress threads queue their commit waiters while the committer is inside a sync (FSYNC
 * always: one fdatasync per batch): every waiter gets its one answer, none is lost or answered
 * twice, however many queue up behind a sync.
 */
Test(dispatcher, every_queued_commit_waiter_is_answered)
{
	enum { N = 64 };
	int hole;
	char dir[] = "/tmp/test_dispatcher_XXXXXX";
	struct dispatcher_options opt = { 0 };
	struct topology *t = topo_make(refused_port(&hole), 1, NULL, RETRY_LATER);
	struct answers a = { 0 };
	struct dispatcher *d;
	struct buf err;
	char path[64], id[16];
	long long deadline;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/broker.wal", dir);
	opt.wal_path = path;
	buf_init(&err, BUF_NOCAP);
	d = dispatcher_new(t, &opt);
	cr_assert_eq(dispatcher_resume(d, NULL, &err), 0, "%s", err.data);
	for (int i = 0; i < N; i++) {
		unsigned long long seq = 0;
		struct ce_event *ev;

		snprintf(id, sizeof(id), "e%d", i);
		ev = event_make(id, "t.one");
		cr_assert_eq(dispatcher_ingest_begin(d, &t->brokers[0], ev, NULL, NULL, &seq), 0);
		ce_event_free(ev);
		cr_assert_gt(seq, 0);
		dispatcher_commit_async(d, seq, answered, &a);
	}
	deadline = clock_mono_ms() + 10000;
	while (atomic_load(&a.ok) + atomic_load(&a.failed) < N && clock_mono_ms() < deadline)
		usleep(2000);
	dispatcher_drain(d, 0);
	dispatcher_free(d); /* joins the committer: any second answer has come by now */
	cr_expect_eq(atomic_load(&a.ok), N);
	cr_expect_eq(atomic_load(&a.failed), 0);
	topology_free(t);
	buf_release(&err);
	unlink(path);
	rmdir(dir);
	close(hole);
}
