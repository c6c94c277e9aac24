/*
 * Unit tests for ws.c: the pure frame parser and builder, the accept key, and the hub driven
 * over socketpairs (ws_hub_adopt_fd) as a browser would drive it over TCP.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "common/buf.h"
#include "common/http.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "../../../services/node-server/ws.h"

#include "../unit.h"

#define TIMEOUT_MS 3000

static const unsigned char key[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* ---- helpers ---------------------------------------------------------------------------- */

/* Length forms for make_frame(): 0 = minimal, else force the 7-, 16- or 64-bit form. */
enum { LEN_MIN = 0, LEN_7 = 7, LEN_16 = 16, LEN_64 = 64 };

/* Writes a client frame (masked with key when masked) into out; returns its length. */
static size_t make_frame(unsigned char *out, int fin, int rsv, int opcode, int masked,
			 const void *payload, size_t len, int form)
{
	size_t n = 0, i, ext = 0;

	out[n++] = (unsigned char)((fin ? 0x80 : 0) | (rsv << 4) | opcode);
	if (form == LEN_MIN)
		form = len < 126 ? LEN_7 : len <= 0xffff ? LEN_16 : LEN_64;
	if (form == LEN_7) {
		out[n++] = (unsigned char)((masked ? 0x80 : 0) | len);
	} else {
		out[n++] = (unsigned char)((masked ? 0x80 : 0) | (form == LEN_16 ? 126 : 127));
		ext = form == LEN_16 ? 2 : 8;
		for (i = 0; i < ext; i++)
			out[n++] = (unsigned char)((unsigned long long)len >> (8 * (ext - 1 - i)));
	}
	if (masked) {
		memcpy(out + n, key, 4);
		n += 4;
	}
	if (len)
		memcpy(out + n, payload, len);
	if (masked)
		ws_mask(out + n, len, key);
	return n + len;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads exactly n bytes within the deadline; returns n, 0 on EOF first, -1 on timeout. */
static ssize_t read_exact(int fd, void *buf, size_t n, long long deadline)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		got += (size_t)r;
	}
	return (ssize_t)n;
}

struct sframe {
	int opcode;
	int fin;
	size_t len;
	unsigned char *payload; /* malloc'ed, NUL-terminated */
};

/* Reads one server frame (must be unmasked). Returns 1, 0 on EOF, -1 on timeout. */
static int read_frame(int fd, struct sframe *f, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	unsigned char h[10];
	size_t ext = 0, i;
	ssize_t r;

	memset(f, 0, sizeof(*f));
	r = read_exact(fd, h, 2, deadline);
	if (r <= 0)
		return (int)r;
	cr_assert_eq(h[1] & 0x80, 0, "server frames are never masked");
	f->fin = h[0] >> 7;
	f->opcode = h[0] & 0x0f;
	f->len = h[1] & 0x7f;
	if (f->len == 126)
		ext = 2;
	else if (f->len == 127)
		ext = 8;
	if (ext) {
		cr_assert_eq(read_exact(fd, h + 2, ext, deadline), (ssize_t)ext);
		for (f->len = 0, i = 0; i < ext; i++)
			f->len = f->len << 8 | h[2 + i];
	}
	f->payload = malloc(f->len + 1);
	cr_assert_not_null(f->payload);
	if (f->len)
		cr_assert_eq(read_exact(fd, f->payload, f->len, deadline), (ssize_t)f->len);
	f->payload[f->len] = '\0';
	return 1;
}

/* Reads one frame and checks its opcode and payload. */
static void expect_frame(int fd, int opcode, const void *payload, size_t len)
{
	struct sframe f;

	cr_assert_eq(read_frame(fd, &f, TIMEOUT_MS), 1, "no frame arrived");
	cr_expect_eq(f.opcode, opcode);
	cr_expect(f.fin);
	cr_expect_eq(f.len, len);
	if (f.len == len)
		cr_expect(memcmp(f.payload, payload, len) == 0, "payload differs");
	free(f.payload);
}

static void expect_close(int fd, int code)
{
	unsigned char p[2] = { (unsigned char)(code >> 8), (unsigned char)code };

	expect_frame(fd, 0x8, p, 2);
}

/* Skips frames until EOF; fails on a timeout. Returns the number of frames skipped. */
static int expect_eof(int fd)
{
	struct sframe f;
	int n = 0, r;

	while ((r = read_frame(fd, &f, TIMEOUT_MS)) == 1) {
		free(f.payload);
		n++;
	}
	cr_assert_eq(r, 0, "the hub did not close the socket");
	return n;
}

static void send_all(int fd, const void *buf, size_t len)
{
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
}

static void send_frame(int fd, int fin, int opcode, const void *payload, size_t len)
{
	unsigned char *out = malloc(len + 14);
	size_t n;

	cr_assert_not_null(out);
	n = make_frame(out, fin, 0, opcode, 1, payload, len, LEN_MIN);
	send_all(fd, out, n);
	free(out);
}

static void wait_clients(struct ws_hub *hub, size_t want)
{
	long long deadline = now_ms() + TIMEOUT_MS;

	while (ws_hub_clients(hub) != want && now_ms() < deadline) {
		struct timespec ts = { 0, 2000000 };

		nanosleep(&ts, NULL);
	}
	cr_assert_eq(ws_hub_clients(hub), want, "clients: %zu, want %zu", ws_hub_clients(hub),
		     want);
}

/* Adopts one end of a new socketpair; returns the test's end. */
static int connect_client(struct ws_hub *hub, const void *extra, size_t len)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(ws_hub_adopt_fd(hub, sv[0], extra, len, NULL), 0);
	return sv[1];
}

static struct ws_hub *hub_start(struct metrics *reg, long long ping_ms, size_t max_clients)
{
	struct ws_hub_config cfg = { .ping_interval_ms = ping_ms,
				     .max_clients = max_clients,
				     .metrics = reg };
	struct ws_hub *hub;

	cr_assert_eq(ws_hub_new(&cfg, &hub), 0);
	return hub;
}

/* Whether the registry renders this exact sample line. */
static int has_sample(struct metrics *reg, const char *line)
{
	struct buf b;
	char *want;
	int found;

	buf_init(&b, BUF_NOCAP);
	cr_assert_eq(metrics_render(reg, &b), 0);
	want = malloc(strlen(line) + 2);
	cr_assert_not_null(want);
	memcpy(want, line, strlen(line));
	memcpy(want + strlen(line), "\n", 2);
	found = strstr(b.data, want) != NULL;
	free(want);
	buf_release(&b);
	return found;
}

/* ---- parser ----------------------------------------------------------------------------- */

struct prow {
	const char *name;
	int fin, rsv, opcode, masked;
	size_t len;
	int form;
	int result;
	int close_code;
};

static const struct prow prows[] = {
	{ "masked text", 1, 0, 0x1, 1, 5, LEN_MIN, WS_PARSE_FRAME, 0 },
	{ "empty text", 1, 0, 0x1, 1, 0, LEN_MIN, WS_PARSE_FRAME, 0 },
	{ "binary 125", 1, 0, 0x2, 1, 125, LEN_MIN, WS_PARSE_FRAME, 0 },
	{ "unmasked text", 1, 0, 0x1, 0, 5, LEN_MIN, WS_PARSE_ERROR, 1002 },
	{ "16-bit length 126", 1, 0, 0x1, 1, 126, LEN_MIN, WS_PARSE_FRAME, 0 },
	{ "16-bit length at the cap", 1, 0, 0x2, 1, WS_MAX_MESSAGE, LEN_MIN, WS_PARSE_FRAME, 0 },
	{ "16-bit length over the cap", 1, 0, 0x2, 1, WS_MAX_MESSAGE + 1, LEN_MIN, WS_PARSE_ERROR,
	  1009 },
	{ "16-bit length 65535", 1, 0, 0x2, 1, 65535, LEN_MIN, WS_PARSE_ERROR, 1009 },
	{ "64-bit length at the cap", 1, 0, 0x2, 1, WS_MAX_MESSAGE, LEN_64, WS_PARSE_FRAME, 0 },
	{ "64-bit length 65536", 1, 0, 0x2, 1, 65536, LEN_MIN, WS_PARSE_ERROR, 1009 },
	{ "non-minimal 64-bit length", 1, 0, 0x1, 1, 5, LEN_64, WS_PARSE_FRAME, 0 },
	{ "non-minimal 16-bit length", 1, 0, 0x1, 1, 5, LEN_16, WS_PARSE_FRAME, 0 },
	{ "first fragment", 0, 0, 0x1, 1, 3, LEN_MIN, WS_PARSE_FRAME, 0 },
	{ "continuation", 0, 0, 0x0, 1, 3, LEN_MIN, WS_PARSE_FRAME, 0 },
	{ "last continuation", 1, 0, 0x0, 1, 3, LEN_MIN, WS_PARSE_FRAME, 0 },
	{ "ping 125", 1, 0, 0x9, 1, 125, LEN_MIN, WS_PARSE_FRAME, 0 },
	{ "pong", 1, 0, 0xA, 1, 4, LEN_MIN, WS_PARSE_FRAME, 0 },
	{ "close", 1, 0, 0x8, 1, 2, LEN_MIN, WS_PARSE_FRAME, 0 },
	{ "ping 126 too long", 1, 0, 0x9, 1, 126, LEN_MIN, WS_PARSE_ERROR, 1002 },
	{ "ping 5 in 16-bit form", 1, 0, 0x9, 1, 5, LEN_16, WS_PARSE_ERROR, 1002 },
	{ "fragmented ping", 0, 0, 0x9, 1, 5, LEN_MIN, WS_PARSE_ERROR, 1002 },
	{ "fragmented close", 0, 0, 0x8, 1, 2, LEN_MIN, WS_PARSE_ERROR, 1002 },
	{ "opcode 3", 1, 0, 0x3, 1, 1, LEN_MIN, WS_PARSE_ERROR, 1002 },
	{ "opcode 7", 1, 0, 0x7, 1, 1, LEN_MIN, WS_PARSE_ERROR, 1002 },
	{ "opcode 0xB", 1, 0, 0xB, 1, 1, LEN_MIN, WS_PARSE_ERROR, 1002 },
	{ "opcode 0xF", 1, 0, 0xF, 1, 1, LEN_MIN, WS_PARSE_ERROR, 1002 },
	{ "RSV1", 1, 4, 0x1, 1, 1, LEN_MIN, WS_PARSE_ERROR, 1002 },
	{ "RSV2", 1, 2, 0x1, 1, 1, LEN_MIN, WS_PARSE_ERROR, 1002 },
	{ "RSV3", 1, 1, 0x1, 1, 1, LEN_MIN, WS_PARSE_ERROR, 1002 },
};

Test(ws_frame, parse_table, LEAK_FINI)
{
	static unsigned char payload[70000], frame[70100], plain[70000];
	size_t i, j;

	for (j = 0; j < sizeof(payload); j++)
		payload[j] = (unsigned char)('a' + j % 26);
	for (i = 0; i < ARRAY_SIZE(prows); i++) {
		const struct prow *r = &prows[i];
		size_t n = make_frame(frame, r->fin, r->rsv, r->opcode, r->masked, payload, r->len,
				      r->form);
		struct ws_frame f;
		int rc;

		/* A trailing byte of the next frame must not change anything. */
		frame[n] = 0x81;
		rc = ws_frame_parse(frame, n + 1, &f);
		cr_expect_eq(rc, r->result, "%s: result %d", r->name, rc);
		if (rc == WS_PARSE_ERROR)
			cr_expect_eq(f.close_code, r->close_code, "%s: code %d", r->name,
				     f.close_code);
		if (rc != WS_PARSE_FRAME)
			continue;
		cr_expect_eq(f.fin, r->fin, "%s", r->name);
		cr_expect_eq(f.opcode, r->opcode, "%s", r->name);
		cr_expect_eq(f.payload_len, r->len, "%s", r->name);
		cr_expect_eq(f.frame_len, n, "%s", r->name);
		cr_expect(memcmp(f.mask, key, 4) == 0, "%s: mask", r->name);
		memcpy(plain, f.payload, f.payload_len);
		ws_mask(plain, f.payload_len, f.mask);
		cr_expect(memcmp(plain, payload, r->len) == 0, "%s: payload", r->name);
	}
}

/* Every proper prefix of a valid frame is "need more", never an error or a frame. */
Test(ws_frame, need_more_at_every_truncation, LEAK_FINI)
{
	static unsigned char payload[300], frame[400];
	size_t i, cut;

	for (i = 0; i < ARRAY_SIZE(prows); i++) {
		const struct prow *r = &prows[i];
		size_t n;

		if (r->result != WS_PARSE_FRAME || r->len > sizeof(payload))
			continue;
		n = make_frame(frame, r->fin, r->rsv, r->opcode, r->masked, payload, r->len,
			       r->form);
		for (cut = 0; cut < n; cut++) {
			struct ws_frame f;

			cr_expect_eq(ws_frame_parse(frame, cut, &f), WS_PARSE_NEED_MORE,
				     "%s: cut at %zu of %zu", r->name, cut, n);
		}
	}
}

struct rawrow {
	const char *name;
	const char *bytes;
	size_t len;
	int result;
	int close_code;
};

static const struct rawrow rawrows[] = {
	{ "64-bit length with the top bit set", "\x82\xff\x80\x00\x00\x00\x00\x00\x00\x05", 10,
	  WS_PARSE_ERROR, 1002 },
	{ "huge 64-bit length", "\x82\xff\x00\x00\x00\x01\x00\x00\x00\x00", 10, WS_PARSE_ERROR,
	  1009 },
	{ "16-bit length needs its bytes", "\x81\xfe\x00", 3, WS_PARSE_NEED_MORE, 0 },
	{ "64-bit length needs its bytes", "\x81\xff\x00\x00\x00", 5, WS_PARSE_NEED_MORE, 0 },
	{ "errors before the length is complete", "\x81\x7e", 2, WS_PARSE_ERROR, 1002 },
	{ "one byte", "\x81", 1, WS_PARSE_NEED_MORE, 0 },
	{ "nothing", "", 0, WS_PARSE_NEED_MORE, 0 },
	{ "masked empty close", "\x88\x80\x01\x02\x03\x04", 6, WS_PARSE_FRAME, 0 },
};

Test(ws_frame, parse_raw_table, LEAK_FINI)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rawrows); i++) {
		struct ws_frame f;
		int rc = ws_frame_parse(rawrows[i].bytes, rawrows[i].len, &f);

		cr_expect_eq(rc, rawrows[i].result, "%s: result %d", rawrows[i].name, rc);
		if (rc == WS_PARSE_ERROR)
			cr_expect_eq(f.close_code, rawrows[i].close_code, "%s", rawrows[i].name);
	}
}

/* ---- builder ---------------------------------------------------------------------------- */

struct brow {
	int opcode;
	size_t len;
	size_t hlen;
	const char *header;
};

static const struct brow brows[] = {
	{ 0x1, 0, 2, "\x81\x00" },
	{ 0x1, 5, 2, "\x81\x05" },
	{ 0x1, 125, 2, "\x81\x7d" },
	{ 0x1, 126, 4, "\x81\x7e\x00\x7e" },
	{ 0x2, 65535, 4, "\x82\x7e\xff\xff" },
	{ 0x2, 65536, 10, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00" },
	{ 0x1, 70000, 10, "\x81\x7f\x00\x00\x00\x00\x00\x01\x11\x70" },
	{ 0x8, 2, 2, "\x88\x02" },
	{ 0xA, 3, 2, "\x8a\x03" },
};

Test(ws_frame, build_table, LEAK_FINI)
{
	static char payload[70000];
	size_t i;

	memset(payload, 'x', sizeof(payload));
	for (i = 0; i < ARRAY_SIZE(brows); i++) {
		struct buf b;

		buf_init(&b, BUF_NOCAP);
		buf_appends(&b, "pre");
		cr_assert_eq(ws_frame_build(&b, brows[i].opcode, payload, brows[i].len), 0);
		cr_expect_eq(b.len, 3 + brows[i].hlen + brows[i].len, "row %zu", i);
		cr_expect(memcmp(b.data + 3, brows[i].header, brows[i].hlen) == 0, "row %zu", i);
		cr_expect(memcmp(b.data + 3 + brows[i].hlen, payload, brows[i].len) == 0);
		buf_release(&b);
	}
}

Test(ws_frame, build_respects_the_cap, LEAK_FINI)
{
	struct buf b;

	buf_init(&b, 10);
	buf_appends(&b, "ab");
	cr_expect_eq(ws_frame_build(&b, 0x1, "0123456789", 10), ERR_TOO_LARGE);
	cr_expect_eq(b.len, 2);
	cr_expect_str_eq(b.data, "ab");
	cr_expect_eq(ws_frame_build(&b, 0x1, "0123", 4), 0);
	cr_expect_eq(b.len, 8);
	buf_release(&b);
}

/* ---- accept key ------------------------------------------------------------------------- */

struct krow {
	const char *key;
	int rc;
	const char *accept;
};

static const struct krow krows[] = {
	{ "dGhlIHNhbXBsZSBub25jZQ==", 0, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" },
	{ "AAAAAAAAAAAAAAAAAAAAAA==", 0, "ICX+Yqv66kxgM0FcWaLWlFLwTAI=" },
	{ "", -1, "" },
	{ "dGhlIHNhbXBsZSBub25jZQ=", -1, "" },
	{ "dGhlIHNhbXBsZSBub25jZQ===", -1, "" },
	{ "dGhlIHNhbXBsZSBub25jZR==", -1, "" }, /* non-zero trailing bits */
	{ "dGhlIHNhbXBsZSBub25j*Q==", -1, "" },
	{ "dGhlIHNhbXBsZSBub25jZQAA", -1, "" },
	{ "dGhlIHNhbXBsZSBub25jZSBtb3Jl", -1, "" }, /* 20 bytes */
};

Test(ws_accept, key_table, LEAK_FINI)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(krows); i++) {
		char accept[WS_ACCEPT_LEN + 1];

		cr_expect_eq(ws_accept_key(krows[i].key, accept), krows[i].rc, "%s", krows[i].key);
		cr_expect_str_eq(accept, krows[i].accept, "%s", krows[i].key);
	}
}

/* ---- hub -------------------------------------------------------------------------------- */

Test(ws_hub, publish_and_snapshot, LEAK_FINI)
{
	struct metrics *reg = metrics_new();
	struct ws_hub *hub = hub_start(reg, -1, 0);
	int a, b;

	a = connect_client(hub, NULL, 0);
	wait_clients(hub, 1);
	cr_expect(has_sample(reg, "ws_clients 1"));
	cr_assert_eq(ws_hub_publish(hub, "[1]", 3), 0);
	expect_frame(a, 0x1, "[1]", 3);
	/* A later client gets the current snapshot at once. */
	b = connect_client(hub, NULL, 0);
	expect_frame(b, 0x1, "[1]", 3);
	wait_clients(hub, 2);
	cr_assert_eq(ws_hub_publish(hub, "[1,2]", 5), 0);
	cr_assert_eq(ws_hub_publish(hub, "[]", 2), 0);
	expect_frame(a, 0x1, "[1,2]", 5);
	expect_frame(a, 0x1, "[]", 2);
	expect_frame(b, 0x1, "[1,2]", 5);
	expect_frame(b, 0x1, "[]", 2);
	cr_expect(has_sample(reg, "ws_messages_published_total 3"));
	/* Shutdown says goodbye (1001) and closes. */
	ws_hub_free(hub);
	expect_close(a, 1001);
	expect_close(b, 1001);
	cr_expect_eq(expect_eof(a), 0);
	cr_expect_eq(expect_eof(b), 0);
	cr_expect(has_sample(reg, "ws_clients 0"));
	close(a);
	close(b);
	metrics_free(reg);
}

Test(ws_hub, large_snapshot, LEAK_FINI)
{
	struct metrics *reg = metrics_new();
	struct ws_hub *hub = hub_start(reg, -1, 0);
	size_t len = 300000;
	char *json = malloc(len);
	int a;

	cr_assert_not_null(json);
	memset(json, '1', len);
	a = connect_client(hub, NULL, 0);
	wait_clients(hub, 1);
	cr_assert_eq(ws_hub_publish(hub, json, len), 0);
	expect_frame(a, 0x1, json, len);
	ws_hub_free(hub);
	close(a);
	free(json);
	metrics_free(reg);
}

Test(ws_hub, ping_pong_and_close_handshake, LEAK_FINI)
{
	struct metrics *reg = metrics_new();
	struct ws_hub *hub = hub_start(reg, -1, 0);
	unsigned char code[2] = { 0x03, 0xe8 };
	int a = connect_client(hub, NULL, 0);

	send_frame(a, 1, 0x9, "abc", 3);
	expect_frame(a, 0xA, "abc", 3);
	send_frame(a, 1, 0x9, NULL, 0);
	expect_frame(a, 0xA, "", 0);
	/* Data and pongs are ignored; a fragmented message with a ping in between is fine. */
	send_frame(a, 1, 0x1, "hello", 5);
	send_frame(a, 1, 0xA, "x", 1);
	send_frame(a, 0, 0x1, "he", 2);
	send_frame(a, 1, 0x9, "mid", 3);
	send_frame(a, 1, 0x0, "llo", 3);
	expect_frame(a, 0xA, "mid", 3);
	send_frame(a, 1, 0x8,
		   "\x03\xe8"
		   "bye",
		   5);
	expect_frame(a, 0x8, code, 2);
	cr_expect_eq(expect_eof(a), 0);
	wait_clients(hub, 0);
	ws_hub_free(hub);
	close(a);
	metrics_free(reg);
}

/* Bytes the client sent right after its handshake (extra_in) are parsed first. */
Test(ws_hub, extra_input_is_parsed, LEAK_FINI)
{
	struct metrics *reg = metrics_new();
	struct ws_hub *hub = hub_start(reg, -1, 0);
	unsigned char frame[32];
	size_t n = make_frame(frame, 1, 0, 0x9, 1, "early", 5, LEN_MIN);
	int a = connect_client(hub, frame, n);

	expect_frame(a, 0xA, "early", 5);
	ws_hub_free(hub);
	close(a);
	metrics_free(reg);
}

struct efr {
	int fin, rsv, opcode, masked;
	const char *payload;
	size_t len;
};

struct ecase {
	const char *name;
	int code;
	struct efr frames[3];
	size_t nframes;
};

static const struct ecase ecases[] = {
	{ "unmasked frame", 1002, { { 1, 0, 0x1, 0, "hi", 2 } }, 1 },
	{ "reserved bit", 1002, { { 1, 2, 0x1, 1, "hi", 2 } }, 1 },
	{ "reserved opcode", 1002, { { 1, 0, 0x5, 1, "hi", 2 } }, 1 },
	{ "continuation first", 1002, { { 1, 0, 0x0, 1, "hi", 2 } }, 1 },
	{ "text inside a fragmented text",
	  1002,
	  { { 0, 0, 0x1, 1, "a", 1 }, { 1, 0, 0x1, 1, "b", 1 } },
	  2 },
	{ "close with one byte", 1002, { { 1, 0, 0x8, 1, "\x03", 1 } }, 1 },
	{ "close with code 1005", 1002, { { 1, 0, 0x8, 1, "\x03\xed", 2 } }, 1 },
	{ "close with code 999", 1002, { { 1, 0, 0x8, 1, "\x03\xe7", 2 } }, 1 },
	{ "fragmented ping", 1002, { { 0, 0, 0x9, 1, "p", 1 } }, 1 },
};

Test(ws_hub, protocol_errors_close, LEAK_FINI)
{
	struct metrics *reg = metrics_new();
	struct ws_hub *hub = hub_start(reg, -1, 0);
	size_t i, j;

	for (i = 0; i < ARRAY_SIZE(ecases); i++) {
		const struct ecase *e = &ecases[i];
		unsigned char out[64];
		int a = connect_client(hub, NULL, 0);

		for (j = 0; j < e->nframes; j++) {
			const struct efr *f = &e->frames[j];
			size_t n = make_frame(out, f->fin, f->rsv, f->opcode, f->masked, f->payload,
					      f->len, LEN_MIN);

			send_all(a, out, n);
		}
		cr_log_info("case %s", e->name);
		expect_close(a, e->code);
		cr_expect_eq(expect_eof(a), 0, "%s", e->name);
		close(a);
	}
	wait_clients(hub, 0);
	ws_hub_free(hub);
	metrics_free(reg);
}

/* A message over WS_MAX_MESSAGE in fragments, and a single frame over it: 1009. */
Test(ws_hub, oversized_messages_close_1009, LEAK_FINI)
{
	struct metrics *reg = metrics_new();
	struct ws_hub *hub = hub_start(reg, -1, 0);
	static char big[WS_MAX_MESSAGE / 2 + 1]; /* two of them: one byte over */
	unsigned char hdr[14];
	int a, b;
	size_t n;

	a = connect_client(hub, NULL, 0);
	send_frame(a, 0, 0x2, big, sizeof(big));
	send_frame(a, 1, 0x0, big, sizeof(big));
	expect_close(a, 1009);
	expect_eof(a);
	/* Only the header of a 1 MiB frame: the hub must not wait for the payload. */
	b = connect_client(hub, NULL, 0);
	n = make_frame(hdr, 1, 0, 0x2, 1, NULL, 0, LEN_64);
	hdr[7] = 0x10; /* length 0x100000 (the payload is never sent) */
	send_all(b, hdr, n);
	expect_close(b, 1009);
	expect_eof(b);
	ws_hub_free(hub);
	close(a);
	close(b);
	metrics_free(reg);
}

/* A client that never reads is dropped once its queue fills; a reading one gets everything. */
Test(ws_hub, slow_client_is_dropped, LEAK_FINI)
{
	struct metrics *reg = metrics_new();
	struct ws_hub *hub = hub_start(reg, -1, 0);
	static char json[32768];
	int fast, slow, i, frames = 64;

	fast = connect_client(hub, NULL, 0);
	slow = connect_client(hub, NULL, 0);
	wait_clients(hub, 2);
	for (i = 0; i < frames; i++) {
		memset(json, 'a' + i % 26, sizeof(json));
		cr_assert_eq(ws_hub_publish(hub, json, sizeof(json)), 0);
		expect_frame(fast, 0x1, json, sizeof(json));
	}
	wait_clients(hub, 1);
	cr_expect(has_sample(reg, "ws_clients_dropped_total{reason=\"slow\"} 1"));
	cr_expect(has_sample(reg, "ws_clients 1"));
	/* The slow client got some frames (what the socket buffers held), then EOF. */
	cr_expect_lt(expect_eof(slow), frames);
	cr_assert_eq(ws_hub_publish(hub, "[]", 2), 0);
	expect_frame(fast, 0x1, "[]", 2);
	ws_hub_free(hub);
	close(fast);
	close(slow);
	metrics_free(reg);
}

/* Keepalive: a client answering pings stays, a silent one is dropped after one interval. */
Test(ws_hub, keepalive_drops_silent_clients, LEAK_FINI)
{
	struct metrics *reg = metrics_new();
	struct ws_hub *hub = hub_start(reg, 200, 0);
	int live = connect_client(hub, NULL, 0);
	int dead = connect_client(hub, NULL, 0);
	long long end = now_ms() + 1100;
	int pings = 0;

	wait_clients(hub, 2);
	while (now_ms() < end) {
		struct sframe f;
		int r = read_frame(live, &f, (int)(end - now_ms()) + 1);

		if (r != 1)
			break;
		if (f.opcode == 0x9) {
			pings++;
			send_frame(live, 1, 0xA, f.payload, f.len);
		}
		free(f.payload);
	}
	cr_expect_geq(pings, 3, "pings: %d", pings);
	cr_expect_eq(ws_hub_clients(hub), 1);
	cr_expect_geq(expect_eof(dead), 1, "the silent client was pinged first");
	cr_expect(has_sample(reg, "ws_clients_dropped_total{reason=\"timeout\"} 1"));
	ws_hub_free(hub);
	close(live);
	close(dead);
	metrics_free(reg);
}

Test(ws_hub, client_limit, LEAK_FINI)
{
	struct metrics *reg = metrics_new();
	struct ws_hub *hub = hub_start(reg, -1, 1);
	int a = connect_client(hub, NULL, 0);
	int b;

	wait_clients(hub, 1);
	b = connect_client(hub, NULL, 0);
	cr_expect_eq(expect_eof(b), 0);
	cr_expect(has_sample(reg, "ws_clients_dropped_total{reason=\"limit\"} 1"));
	cr_expect_eq(ws_hub_clients(hub), 1);
	ws_hub_free(hub);
	close(a);
	close(b);
	metrics_free(reg);
}

/* A client that hangs up is forgotten; publishing afterwards is harmless. */
Test(ws_hub, peer_hangup, LEAK_FINI)
{
	struct metrics *reg = metrics_new();
	struct ws_hub *hub = hub_start(reg, -1, 0);
	int a = connect_client(hub, NULL, 0);

	wait_clients(hub, 1);
	close(a);
	wait_clients(hub, 0);
	cr_expect_eq(ws_hub_publish(hub, "[]", 2), 0);
	ws_hub_free(hub);
	metrics_free(reg);
}

/*
 * 1,000 clients at once (2,000 descriptors with the test's ends) all get the snapshot. The
 * common soft RLIMIT_NOFILE (1,024) is too low, so the test raises its own soft limit to the
 * hard one first; only a hard limit below what it needs skips it, with the reason printed.
 */
Test(ws_hub, thousand_clients, LEAK_FINI, .timeout = 60)
{
	enum { N = 1000, NEED = 2 * N + 64 };
	struct metrics *reg;
	struct ws_hub *hub;
	static int fds[N];
	struct rlimit rl;
	int i;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < NEED && rl.rlim_max >= NEED) {
		rl.rlim_cur = rl.rlim_max;
		cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	if (rl.rlim_cur < NEED)
		cr_skip_test(
		    "hard RLIMIT_NOFILE %llu is below the %d descriptors 1,000 clients need",
		    (unsigned long long)rl.rlim_max, NEED);
	reg = metrics_new();
	hub = hub_start(reg, -1, 0);
	for (i = 0; i < N; i++)
		fds[i] = connect_client(hub, NULL, 0);
	wait_clients(hub, N);
	cr_assert_eq(ws_hub_publish(hub, "[\"book\"]", 8), 0);
	for (i = 0; i < N; i++)
		expect_frame(fds[i], 0x1, "[\"book\"]", 8);
	cr_expect(has_sample(reg, "ws_clients 1000"));
	ws_hub_free(hub);
	for (i = 0; i < N; i++)
		close(fds[i]);
	metrics_free(reg);
}

/* ---- the handshake through the real HTTP layer ------------------------------------------ */

static int ws_route(struct http_request *req)
{
	int rc = ws_handshake(req);

	if (rc)
		return rc;
	return http_respond_upgrade(req, ws_hub_adopt_cb, req->ctx);
}

static const struct route ws_routes[] = {
	{ "GET", "/ws", ws_route, 0, 0 },
};

struct hrow {
	const char *name;
	const char *headers; /* after the request line */
	const char *status;  /* expected status line prefix */
	const char *has;     /* a header line the response must carry, or NULL */
};

#define GOOD_KEY    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define GOOD_ACCEPT "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"

static const struct hrow hrows[] = {
	{ "valid",
	  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" GOOD_KEY,
	  "HTTP/1.1 101", GOOD_ACCEPT },
	{ "case and token lists",
	  "Upgrade: WebSocket\r\nConnection: keep-alive, UPGRADE\r\nSec-WebSocket-Version: "
	  "13\r\n" GOOD_KEY,
	  "HTTP/1.1 101", GOOD_ACCEPT },
	{ "no Upgrade", "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" GOOD_KEY,
	  "HTTP/1.1 400", NULL },
	{ "Upgrade: h2c",
	  "Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" GOOD_KEY,
	  "HTTP/1.1 400", NULL },
	{ "no upgrade token",
	  "Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Version: 13\r\n" GOOD_KEY,
	  "HTTP/1.1 400", NULL },
	{ "version 8",
	  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n" GOOD_KEY,
	  "HTTP/1.1 400", "Sec-WebSocket-Version: 13\r\n" },
	{ "no key", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
	  "HTTP/1.1 400", NULL },
	{ "short key",
	  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	  "Sec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n",
	  "HTTP/1.1 400", NULL },
};

/* Reads the response head byte by byte (so no frame bytes are consumed) into out. */
static void read_head(int fd, char *out, size_t cap)
{
	long long deadline = now_ms() + TIMEOUT_MS;
	size_t n = 0;

	while (n + 1 < cap) {
		cr_assert_eq(read_exact(fd, out + n, 1, deadline), 1, "response head cut short");
		n++;
		out[n] = '\0';
		if (n >= 4 && memcmp(out + n - 4, "\r\n\r\n", 4) == 0)
			return;
	}
	cr_assert_fail("response head too long");
}

static int tcp_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* The real HTTP layer on 127.0.0.1 with ws_routes, for hub. */
static struct http_server *ws_server_start(struct ws_hub *hub)
{
	struct http_server_config cfg = { .bind = "127.0.0.1",
					  .service = "test-ws",
					  .routes = ws_routes,
					  .nroutes = 1,
					  .ctx = hub,
					  .threads = 2 };
	struct http_server *srv;

	cr_assert_eq(http_server_start(&cfg, &srv), 0);
	return srv;
}

Test(ws_http, handshake_table, LEAK_FINI, .timeout = 30)
{
	struct metrics *reg = metrics_new();
	struct ws_hub *hub = hub_start(reg, -1, 0);
	struct http_server *srv = ws_server_start(hub);
	size_t i;

	cr_assert_eq(ws_hub_publish(hub, "[42]", 4), 0);
	for (i = 0; i < ARRAY_SIZE(hrows); i++) {
		const struct hrow *r = &hrows[i];
		int fd = tcp_connect(http_server_port(srv));
		char req[1024], head[4096];
		int n =
		    snprintf(req, sizeof(req), "GET /ws HTTP/1.1\r\nHost: x\r\n%s\r\n", r->headers);

		send_all(fd, req, (size_t)n);
		read_head(fd, head, sizeof(head));
		cr_expect(strncmp(head, r->status, strlen(r->status)) == 0, "%s: %s", r->name,
			  head);
		if (r->has)
			cr_expect_not_null(strstr(head, r->has), "%s: %s", r->name, head);
		if (strncmp(r->status, "HTTP/1.1 101", 12) == 0) {
			/* Upgraded: the snapshot arrives, ping gets pong, close is echoed. */
			expect_frame(fd, 0x1, "[42]", 4);
			send_frame(fd, 1, 0x9, "hi", 2);
			expect_frame(fd, 0xA, "hi", 2);
			send_frame(fd, 1, 0x8, "\x03\xe8", 2);
			expect_close(fd, 1000);
			cr_expect_eq(expect_eof(fd), 0, "%s", r->name);
		} else {
			cr_expect_not_null(strstr(head, "application/json"), "%s", r->name);
		}
		close(fd);
	}
	/* One client left connected: shutdown must close it through the HTTP layer. */
	{
		int fd = tcp_connect(http_server_port(srv));
		char req[512], head[4096];
		int n = snprintf(req, sizeof(req), "GET /ws HTTP/1.1\r\nHost: x\r\n%s\r\n",
				 hrows[0].headers);

		send_all(fd, req, (size_t)n);
		read_head(fd, head, sizeof(head));
		expect_frame(fd, 0x1, "[42]", 4);
		wait_clients(hub, 1);
		ws_hub_free(hub);
		expect_close(fd, 1001);
		cr_expect_eq(expect_eof(fd), 0);
		close(fd);
	}
	http_server_stop(srv);
	metrics_free(reg);
}

/*
 * RFC 6455 §4.1: the handshake needs HTTP/1.1 or later. libmicrohttpd would not send a 101 on
 * HTTP/1.0 and closed the connection without an answer; now it is a 400 JSON.
 */
Test(ws_http, http_1_0_handshake_is_400, LEAK_FINI, .timeout = 30)
{
	static const char req[] = "GET /ws HTTP/1.0\r\nHost: x\r\n"
				  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
				  "Sec-WebSocket-Version: 13\r\n" GOOD_KEY "\r\n";
	struct metrics *reg = metrics_new();
	struct ws_hub *hub = hub_start(reg, -1, 0);
	struct http_server *srv = ws_server_start(hub);
	char head[4096];
	int fd;

	fd = tcp_connect(http_server_port(srv));
	send_all(fd, req, sizeof(req) - 1);
	read_head(fd, head, sizeof(head));
	cr_expect(strncmp(head, "HTTP/1.1 400", 12) == 0, "%s", head);
	cr_expect_not_null(strstr(head, "application/json"), "%s", head);
	close(fd);
	cr_expect_eq(ws_hub_clients(hub), 0);
	http_server_stop(srv);
	ws_hub_free(hub);
	metrics_free(reg);
}
