/*
 * Unit tests for the WebSocket hub's close-then-free lifetime (ws.h): after ws_hub_close()
 * the struct stays usable, refuses publishes and new sockets, and has closed every client;
 * ws_hub_free() then frees it.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/err.h"
#include "common/metrics.h"
#include "../../../services/node-server/ws.h"

#include "../unit.h"

#define TIMEOUT_MS 3000

/* Reads from fd until EOF (or the deadline) into out; returns the bytes read. */
static size_t read_to_eof(int fd, unsigned char *out, size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t n = 0;
	ssize_t r;

	while (n < cap && poll(&p, 1, TIMEOUT_MS) == 1) {
		r = read(fd, out + n, cap - n);
		if (r <= 0)
			return n;
		n += (size_t)r;
	}
	cr_assert_fail("the hub did not close the socket");
	return n;
}

static int adopt(struct ws_hub *hub, int *rc)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	*rc = ws_hub_adopt_fd(hub, sv[0], NULL, 0, NULL);
	return sv[1];
}

Test(ws_hub_close, closes_then_refuses_until_free, LEAK_FINI)
{
	static const unsigned char bye[4] = { 0x88, 2, 0x03, 0xe9 }; /* close 1001 */
	struct metrics *reg = metrics_new();
	struct ws_hub_config cfg = { .ping_interval_ms = -1, .metrics = reg };
	unsigned char got[64];
	struct ws_hub *hub;
	int a, b, rc;

	cr_assert_eq(ws_hub_new(&cfg, &hub), 0);
	a = adopt(hub, &rc);
	cr_assert_eq(rc, 0);
	ws_hub_close(hub);
	/* The client got a goodbye and its socket is closed. */
	cr_expect_eq(read_to_eof(a, got, sizeof(got)), sizeof(bye));
	cr_expect_eq(memcmp(got, bye, sizeof(bye)), 0);
	cr_expect_eq(ws_hub_clients(hub), 0);
	/* Closed, not freed: late callers are refused, and a late socket is closed at once. */
	cr_expect_eq(ws_hub_publish(hub, "[]", 2), ERR_UNAVAILABLE);
	b = adopt(hub, &rc);
	cr_expect_eq(rc, ERR_UNAVAILABLE);
	cr_expect_eq(read_to_eof(b, got, sizeof(got)), 0);
	ws_hub_close(hub); /* a second close is a no-op */
	ws_hub_free(hub);
	close(a);
	close(b);
	metrics_free(reg);
}
