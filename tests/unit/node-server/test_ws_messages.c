/*
 * Unit tests for the WebSocket hub's client messages (ws.h, RFC 6455): a text message split
 * into fragments, with a control frame between them, reaches on_text whole (§5.4); a text
 * message or a close reason that is not valid UTF-8 fails the connection with 1007 (§8.1),
 * though a character split across two fragments is valid; binary messages never reach
 * on_text. Clients are socketpairs (ws_hub_adopt_fd).
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/metrics.h"
#include "../../../services/node-server/ws.h"

#include "../unit.h"

TestSuite(ws_messages, LEAK_FINI);

/* on_text: echoes the message back, so the test reads what on_text got. */
static void echo(void *arg, struct ws_hub *hub, struct ws_client *c, const char *text, size_t len)
{
	(void)arg;
	ws_hub_send_text(hub, c, text, len);
}

struct peer {
	struct metrics *reg;
	struct ws_hub *hub;
	int fd;
};

static void peer_start(struct peer *p)
{
	struct ws_hub_config cfg = { .ping_interval_ms = -1, .on_text = echo };
	int sv[2];

	p->reg = metrics_new();
	cfg.metrics = p->reg;
	cr_assert_eq(ws_hub_new(&cfg, &p->hub), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(ws_hub_adopt_fd(p->hub, sv[0], NULL, 0, NULL), 0);
	p->fd = sv[1];
}

static void peer_stop(struct peer *p)
{
	ws_hub_free(p->hub);
	close(p->fd);
	metrics_free(p->reg);
}

/* Sends one masked client frame: opcode, FIN bit and payload (at most 125 bytes). */
static void send_frame(int fd, int opcode, int fin, const void *payload, size_t n)
{
	static const unsigned char key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	unsigned char f[6 + 125];

	cr_assert_leq(n, 125);
	f[0] = (unsigned char)((fin ? 0x80 : 0) | opcode);
	f[1] = (unsigned char)(0x80 | n);
	memcpy(f + 2, key, 4);
	memcpy(f + 6, payload, n);
	ws_mask(f + 6, n, key);
	cr_assert_eq(write(fd, f, 6 + n), (ssize_t)(6 + n));
}

/* Reads one server frame (payload <= 125 bytes): its first byte and payload. */
static size_t read_frame(int fd, unsigned char *first, unsigned char *payload)
{
	unsigned char h[2];
	size_t len;

	unit_read_full(fd, h, 2, 3000);
	*first = h[0];
	len = h[1] & 0x7f;
	cr_assert_leq(len, 125);
	unit_read_full(fd, payload, len, 3000);
	return len;
}

/* Asserts that the next frame is a close with code, and that the hub then closes the socket. */
static void expect_close(int fd, unsigned code)
{
	unsigned char first, p[125], rest;
	struct pollfd pfd = { fd, POLLIN, 0 };
	size_t n = read_frame(fd, &first, p);

	cr_expect_eq(first, 0x88, "a close frame, not 0x%02x", first);
	cr_assert_eq(n, 2);
	cr_expect_eq((unsigned)p[0] << 8 | p[1], code);
	cr_assert_gt(poll(&pfd, 1, 3000), 0);
	cr_expect_eq(read(fd, &rest, 1), 0, "then the socket is closed");
}

/* Asserts that the next frame is the echo of the text message msg (len bytes). */
static void expect_echo(int fd, const char *msg, size_t len)
{
	unsigned char first, p[125];
	size_t n = read_frame(fd, &first, p);

	cr_expect_eq(first, 0x81, "a text frame, not 0x%02x", first);
	cr_assert_eq(n, len);
	cr_expect_eq(memcmp(p, msg, n), 0);
}

Test(ws_messages, a_fragmented_text_message_reaches_on_text_whole)
{
	static const char msg[] = "{\"follow\":[\"fragmented\"]}";
	unsigned char first, p[125];
	struct peer peer;
	size_t n;

	peer_start(&peer);
	send_frame(peer.fd, WS_OP_TEXT, 0, msg, 5);
	send_frame(peer.fd, WS_OP_PING, 1, "hi", 2); /* control frames may come in between */
	send_frame(peer.fd, WS_OP_CONT, 0, msg + 5, 10);
	send_frame(peer.fd, WS_OP_CONT, 1, msg + 15, sizeof(msg) - 1 - 15);
	n = read_frame(peer.fd, &first, p);
	cr_expect_eq(first, 0x8a, "the pong first");
	cr_expect_eq(n, 2);
	expect_echo(peer.fd, msg, sizeof(msg) - 1); /* then the echo of the whole message */
	/* the next message starts afresh */
	send_frame(peer.fd, WS_OP_TEXT, 1, "next", 4);
	expect_echo(peer.fd, "next", 4);
	peer_stop(&peer);
}

Test(ws_messages, a_character_split_across_fragments_is_valid)
{
	static const char msg[] = "caf\xc3\xa9";
	struct peer peer;

	peer_start(&peer);
	send_frame(peer.fd, WS_OP_TEXT, 0, msg, 4); /* ends inside the 2-byte é */
	send_frame(peer.fd, WS_OP_CONT, 1, msg + 4, 1);
	expect_echo(peer.fd, msg, 5);
	peer_stop(&peer);
}

Test(ws_messages, text_that_is_not_utf8_fails_with_1007)
{
	static const char *const bad[] = { "\xff\xfe\xfd", "ok \xc3",
					   "\xed\xa0\x80" /* surrogate */ };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct peer peer;

		peer_start(&peer);
		send_frame(peer.fd, WS_OP_TEXT, 1, bad[i], strlen(bad[i]));
		expect_close(peer.fd, WS_CLOSE_INVALID_DATA);
		peer_stop(&peer);
	}
}

Test(ws_messages, fragments_that_end_inside_a_character_fail_with_1007)
{
	struct peer peer;

	peer_start(&peer);
	send_frame(peer.fd, WS_OP_TEXT, 0, "ok", 2);
	send_frame(peer.fd, WS_OP_CONT, 1, "\xc3", 1);
	expect_close(peer.fd, WS_CLOSE_INVALID_DATA);
	peer_stop(&peer);
}

Test(ws_messages, a_close_reason_that_is_not_utf8_fails_with_1007)
{
	static const unsigned char close_bad[] = { 0x03, 0xe8, 0xff };
	static const unsigned char close_ok[] = { 0x03, 0xe8, 'b', 'y', 'e' };
	struct peer peer;

	peer_start(&peer);
	send_frame(peer.fd, WS_OP_CLOSE, 1, close_bad, sizeof(close_bad));
	expect_close(peer.fd, WS_CLOSE_INVALID_DATA);
	peer_stop(&peer);
	peer_start(&peer);
	send_frame(peer.fd, WS_OP_CLOSE, 1, close_ok, sizeof(close_ok));
	expect_close(peer.fd, 1000); /* echoed */
	peer_stop(&peer);
}

Test(ws_messages, binary_messages_never_reach_on_text)
{
	struct peer peer;

	peer_start(&peer);
	send_frame(peer.fd, WS_OP_BINARY, 0, "\xff\x00", 2); /* not UTF-8, and not checked */
	send_frame(peer.fd, WS_OP_CONT, 1, "\xfe", 1);
	send_frame(peer.fd, WS_OP_BINARY, 1, "bin", 3);
	send_frame(peer.fd, WS_OP_TEXT, 1, "text", 4);
	expect_echo(peer.fd, "text", 4); /* only the text message is echoed */
	peer_stop(&peer);
}
