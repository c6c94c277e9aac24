/*
 * Unit tests for the WebSocket hub's topics (ws.h, Topics): a client's text message reaches
 * on_text, topic frames reach only the clients that follow the topic, the follow set is
 * bounded, and a slow client skips topic frames (counted) instead of being dropped, so the
 * reviews snapshot still reaches it. A client closed in the middle of on_text (its send
 * failed) leaves ws_hub_following() at 0 once it is gone. Clients are socketpairs
 * (ws_hub_adopt_fd).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/metrics.h"
#include "../../../services/node-server/ws.h"

#include "../unit.h"

TestSuite(ws_topics, LEAK_FINI);

/* on_text: "f<n>" follows topic n, "u<n>" unfollows it. */
static void on_text(void *arg, struct ws_hub *hub, struct ws_client *c, const char *text,
		    size_t len)
{
	char num[32];
	uint64_t topic;

	(void)arg;
	if (len < 2 || len >= sizeof(num))
		return;
	memcpy(num, text + 1, len - 1);
	num[len - 1] = '\0';
	topic = strtoull(num, NULL, 10);
	if (text[0] == 'f')
		ws_hub_follow(hub, c, topic);
	else
		ws_hub_unfollow(hub, c, topic);
	ws_hub_send_text(hub, c, "ok", 2);
}

static struct ws_hub *hub_start(struct metrics *reg, size_t queue, size_t follow_max)
{
	struct ws_hub_config cfg = { .ping_interval_ms = -1,
				     .metrics = reg,
				     .queue_frames = queue,
				     .on_text = on_text,
				     .follow_max = follow_max };
	struct ws_hub *hub;

	cr_assert_eq(ws_hub_new(&cfg, &hub), 0);
	return hub;
}

static int client(struct ws_hub *hub, int sndbuf)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if (sndbuf)
		cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	cr_assert_eq(ws_hub_adopt_fd(hub, sv[0], NULL, 0, NULL), 0);
	return sv[1];
}

static void send_text(int fd, const char *text)
{
	static const unsigned char key[4] = { 9, 8, 7, 6 };
	unsigned char f[64];
	size_t n = strlen(text);

	f[0] = 0x81;
	f[1] = (unsigned char)(0x80 | n);
	memcpy(f + 2, key, 4);
	memcpy(f + 6, text, n);
	ws_mask(f + 6, n, key);
	cr_assert_eq(write(fd, f, 6 + n), (ssize_t)(6 + n));
}

/* Reads one server frame's text payload into out (NUL-terminated); returns its length. */
static size_t read_frame(int fd, struct buf *out)
{
	unsigned char h[10];
	size_t len;

	unit_read_full(fd, h, 2, 3000);
	len = h[1] & 0x7f;
	if (len == 126) {
		unit_read_full(fd, h + 2, 2, 3000);
		len = (size_t)h[2] << 8 | h[3];
	} else if (len == 127) {
		unit_read_full(fd, h + 2, 8, 3000);
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | h[2 + i];
	}
	buf_reset(out);
	cr_assert_eq(buf_append(out, "", 0), 0);
	while (out->len < len) {
		char chunk[4096];
		size_t want = len - out->len < sizeof(chunk) ? len - out->len : sizeof(chunk);

		unit_read_full(fd, chunk, want, 3000);
		cr_assert_eq(buf_append(out, chunk, want), 0);
	}
	return len;
}

static int nothing_pending(int fd)
{
	struct pollfd pfd = { fd, POLLIN, 0 };

	return poll(&pfd, 1, 200) == 0;
}

static int has_sample(struct metrics *reg, const char *line)
{
	struct buf b;
	int found;

	buf_init(&b, BUF_NOCAP);
	cr_assert_eq(metrics_render(reg, &b), 0);
	found = strstr(b.data, line) != NULL;
	buf_release(&b);
	return found;
}

Test(ws_topics, only_followers_get_topic_frames)
{
	struct metrics *reg = metrics_new();
	struct ws_hub *hub = hub_start(reg, 8, 2);
	struct buf f;
	int a = client(hub, 0), b = client(hub, 0);

	buf_init(&f, BUF_NOCAP);
	send_text(a, "f42");
	read_frame(a, &f);
	cr_assert_str_eq(f.data, "ok");
	cr_assert_eq(ws_hub_publish_topic(hub, 42, "t1", 2), 0);
	cr_assert_eq(ws_hub_publish_topic(hub, 7, "other", 5), 0);
	read_frame(a, &f);
	cr_assert_str_eq(f.data, "t1");
	cr_assert(nothing_pending(a), "topic 7 is not followed");
	cr_assert(nothing_pending(b), "b follows nothing");
	/* follow_max 2: following 1 and 2 forgets 42, the oldest */
	send_text(a, "f1");
	read_frame(a, &f);
	send_text(a, "f2");
	read_frame(a, &f);
	cr_assert_eq(ws_hub_publish_topic(hub, 42, "t2", 2), 0);
	cr_assert_eq(ws_hub_publish_topic(hub, 2, "t3", 2), 0);
	read_frame(a, &f);
	cr_assert_str_eq(f.data, "t3");
	/* unfollow */
	send_text(a, "u2");
	read_frame(a, &f);
	cr_assert_eq(ws_hub_publish_topic(hub, 2, "t4", 2), 0);
	cr_assert(nothing_pending(a));
	ws_hub_free(hub);
	close(a);
	close(b);
	buf_release(&f);
	metrics_free(reg);
}

Test(ws_topics, slow_client_skips_topic_frames_and_keeps_the_snapshot)
{
	struct metrics *reg = metrics_new();
	struct ws_hub *hub = hub_start(reg, 4, 0);
	size_t big = 60000, i;
	char *payload = malloc(big);
	struct buf f;
	int a = client(hub, 4096), saw_snapshot = 0;

	cr_assert_not_null(payload);
	memset(payload, 'x', big);
	buf_init(&f, BUF_NOCAP);
	send_text(a, "f5");
	read_frame(a, &f);
	/* a does not read: its socket fills, then its queue to half, then frames are skipped */
	for (i = 0; i < 20; i++)
		cr_assert_eq(ws_hub_publish_topic(hub, 5, payload, big), 0);
	for (i = 0; i < 300 && has_sample(reg, "ws_topic_frames_dropped_total{reason=\"slow\"} 0");
	     i++)
		usleep(10000);
	cr_assert(!has_sample(reg, "ws_topic_frames_dropped_total{reason=\"slow\"} 0"),
		  "topic frames were skipped");
	cr_assert_eq(ws_hub_publish(hub, "[\"snapshot\"]", 12), 0);
	for (i = 0; i < 25 && !saw_snapshot; i++) {
		read_frame(a, &f);
		saw_snapshot = strcmp(f.data, "[\"snapshot\"]") == 0;
	}
	cr_assert(saw_snapshot, "the snapshot still reached the slow client");
	/* the hub queued the snapshot to it: the point where a full queue would have dropped it */
	cr_assert_eq(ws_hub_clients(hub), 1, "the slow client is not dropped");
	cr_assert(has_sample(reg, "ws_clients_dropped_total{reason=\"slow\"} 0"));
	ws_hub_free(hub);
	close(a);
	free(payload);
	buf_release(&f);
	metrics_free(reg);
}

/*
 * Best-effort frames are bounded in bytes too: a client that does not read skips a topic
 * frame that would take its queue past optional_bytes, though the queue is far from half full
 * in frames (a journey frame can weigh 150 KB).
 */
Test(ws_topics, slow_client_skips_frames_past_the_byte_bound)
{
	struct metrics *reg = metrics_new();
	struct ws_hub_config cfg = { .ping_interval_ms = -1,
				     .metrics = reg,
				     .queue_frames = 64,
				     .on_text = on_text,
				     .optional_bytes = 200000 };
	struct ws_hub *hub;
	size_t big = 150000, i;
	char *payload = malloc(big);
	struct buf f;
	int a;

	cr_assert_eq(ws_hub_new(&cfg, &hub), 0);
	a = client(hub, 4096);
	cr_assert_not_null(payload);
	memset(payload, 'x', big);
	buf_init(&f, BUF_NOCAP);
	send_text(a, "f5");
	read_frame(a, &f);
	/* a does not read: the first frame waits, half sent; the second would pass 200000 bytes */
	for (i = 0; i < 3; i++)
		cr_assert_eq(ws_hub_publish_topic(hub, 5, payload, big), 0);
	for (i = 0; i < 300 && has_sample(reg, "ws_topic_frames_dropped_total{reason=\"slow\"} 0");
	     i++)
		usleep(10000);
	cr_assert(!has_sample(reg, "ws_topic_frames_dropped_total{reason=\"slow\"} 0"),
		  "a frame past the byte bound was skipped");
	cr_assert_eq(ws_hub_clients(hub), 1, "the client is not dropped");
	ws_hub_free(hub);
	close(a);
	free(payload);
	buf_release(&f);
	metrics_free(reg);
}

/* The frames waiting for the hub thread are bounded in bytes: past them a publish is refused. */
Test(ws_topics, topic_backlog_is_bounded_in_bytes)
{
	struct metrics *reg = metrics_new();
	struct ws_hub_config cfg = { .ping_interval_ms = -1,
				     .metrics = reg,
				     .topic_backlog_bytes = 100 };
	struct ws_hub *hub;
	char payload[200];

	memset(payload, 'x', sizeof(payload));
	cr_assert_eq(ws_hub_new(&cfg, &hub), 0);
	cr_expect_eq(ws_hub_publish_topic(hub, 5, payload, sizeof(payload)), ERR_OVERLOADED);
	cr_expect(has_sample(reg, "ws_topic_frames_dropped_total{reason=\"backlog\"} 1"));
	cr_expect_eq(ws_hub_publish_topic(hub, 5, payload, 50), 0);
	ws_hub_free(hub);
	metrics_free(reg);
}

/* on_text like journey_ws_text(): for each of topics 1..4, follow it, then send it a frame. */
static void on_text_follow_and_send(void *arg, struct ws_hub *hub, struct ws_client *c,
				    const char *text, size_t len)
{
	static char frame[60000];
	uint64_t topic;

	(void)arg;
	(void)text;
	(void)len;
	memset(frame, 'x', sizeof(frame));
	for (topic = 1; topic <= 4; topic++) {
		ws_hub_follow(hub, c, topic);
		ws_hub_send_text(hub, c, frame, sizeof(frame));
	}
}

/*
 * The first send fails hard (the peer shut its reading side: EPIPE), which closes the client
 * in the middle of on_text; following the next topics must not count the closed client as a
 * follower again, or ws_hub_following() stays above 0 after it is freed.
 */
Test(ws_topics, a_client_closed_inside_on_text_is_no_follower)
{
	struct metrics *reg = metrics_new();
	struct ws_hub_config cfg = { .ping_interval_ms = -1,
				     .metrics = reg,
				     .on_text = on_text_follow_and_send };
	struct ws_hub *hub;
	int a, i;

	cr_assert_eq(ws_hub_new(&cfg, &hub), 0);
	a = client(hub, 0);
	for (i = 0; i < 300 && ws_hub_clients(hub) != 1; i++)
		usleep(10000);
	cr_assert_eq(ws_hub_clients(hub), 1);
	/* a stops reading: the hub's next send to it fails with EPIPE */
	cr_assert_eq(shutdown(a, SHUT_RD), 0);
	send_text(a, "follow");
	for (i = 0; i < 300 && ws_hub_clients(hub) != 0; i++)
		usleep(10000);
	cr_assert_eq(ws_hub_clients(hub), 0, "the client was closed by its failed send");
	cr_expect_eq(ws_hub_following(hub), 0, "a freed client follows nothing");
	ws_hub_free(hub);
	close(a);
	metrics_free(reg);
}

/* on_text for the next test: "f" follows topic 7; each message records what ws_hub_follow()
 * (when called) and ws_hub_has_room() said. */
static _Atomic int said_follow = -1, said_room = -1;

static void on_text_record(void *arg, struct ws_hub *hub, struct ws_client *c, const char *text,
			   size_t len)
{
	(void)arg;
	if (len == 1 && text[0] == 'f')
		said_follow = ws_hub_follow(hub, c, 7);
	said_room = ws_hub_has_room(hub, c);
}

/* Waits until on_text_record() has recorded an answer in *said, and returns it. */
static int recorded(_Atomic int *said)
{
	int i, v = -1;

	for (i = 0; i < 300 && (v = *said) < 0; i++)
		usleep(10000);
	cr_assert_geq(v, 0, "on_text ran");
	*said = -1;
	return v;
}

/*
 * journey_ws_text() sends a journey's state only on a new follow and only to a client with
 * room: ws_hub_follow() says whether the follow is new, and ws_hub_has_room() is false once a
 * client that does not read holds half of optional_bytes.
 */
Test(ws_topics, follow_says_whether_it_is_new_and_has_room_whether_to_build_a_frame)
{
	struct metrics *reg = metrics_new();
	struct ws_hub_config cfg = { .ping_interval_ms = -1,
				     .metrics = reg,
				     .queue_frames = 64,
				     .on_text = on_text_record,
				     .optional_bytes = 200000 };
	struct ws_hub *hub;
	size_t big = 150000, i;
	char *payload = malloc(big);
	int a;

	cr_assert_not_null(payload);
	memset(payload, 'x', big);
	cr_assert_eq(ws_hub_new(&cfg, &hub), 0);
	a = client(hub, 4096);
	send_text(a, "f");
	cr_expect_eq(recorded(&said_follow), 1, "a new follow");
	cr_expect_eq(recorded(&said_room), 1, "an empty queue has room");
	send_text(a, "f");
	cr_expect_eq(recorded(&said_follow), 0, "the same topic again: not new");
	cr_expect_eq(recorded(&said_room), 1);
	/* a does not read: the first frame waits, half sent, and holds 150000 of 200000 bytes */
	for (i = 0; i < 3; i++)
		cr_assert_eq(ws_hub_publish_topic(hub, 7, payload, big), 0);
	for (i = 0; i < 300 && has_sample(reg, "ws_topic_frames_dropped_total{reason=\"slow\"} 0");
	     i++)
		usleep(10000);
	send_text(a, "w");
	cr_expect_eq(recorded(&said_room), 0, "no room for another large frame");
	ws_hub_free(hub);
	close(a);
	free(payload);
	metrics_free(reg);
}
