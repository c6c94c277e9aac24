/* ws.c: RFC 6455 frame codec, opening handshake and the epoll fan-out hub (see ws.h). */
#include "ws.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/http.h"
#include "common/list.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/text.h"
#include "common/xalloc.h"
#include "sha1.h"

#define WS_GUID			  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_DEFAULT_QUEUE	  8
#define WS_DEFAULT_PING_MS	  30000
#define WS_DEFAULT_MAX		  10000
#define WS_DEFAULT_FOLLOW	  32
#define WS_DEFAULT_BACKLOG	  4096
#define WS_DEFAULT_BACKLOG_BYTES  ((size_t)16 * 1024 * 1024)
#define WS_DEFAULT_OPTIONAL_BYTES ((size_t)256 * 1024)
#define WS_READ_CHUNK		  4096
#define WS_READ_ROUNDS		  16
#define WS_EVENTS		  64
/* Unparsed input never exceeds one incomplete frame plus one read chunk. */
#define WS_INPUT_CAP (WS_MAX_HEADER + WS_MAX_MESSAGE + WS_READ_CHUNK)

/* ---- frame codec ------------------------------------------------------------------------ */

static int opcode_known(int op)
{
	return op == WS_OP_CONT || op == WS_OP_TEXT || op == WS_OP_BINARY || op == WS_OP_CLOSE ||
	       op == WS_OP_PING || op == WS_OP_PONG;
}

static int parse_error(struct ws_frame *f, int code)
{
	f->close_code = code;
	return WS_PARSE_ERROR;
}

/* Reads the 16- or 64-bit extended length big-endian. */
static uint64_t load_be(const unsigned char *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

int ws_frame_parse(const void *buf, size_t len, struct ws_frame *frame)
{
	const unsigned char *p = buf;
	size_t hdr = 2, ext = 0;
	uint64_t plen;

	memset(frame, 0, sizeof(*frame));
	if (len < 2)
		return WS_PARSE_NEED_MORE;
	frame->fin = p[0] >> 7;
	frame->opcode = p[0] & 0x0f;
	if ((p[0] & 0x70) || !opcode_known(frame->opcode) || !(p[1] & 0x80))
		return parse_error(frame, WS_CLOSE_PROTOCOL);
	plen = p[1] & 0x7f;
	if ((frame->opcode & 0x8) && (!frame->fin || plen > 125))
		return parse_error(frame, WS_CLOSE_PROTOCOL);
	if (plen == 126)
		ext = 2;
	else if (plen == 127)
		ext = 8;
	if (ext) {
		if (len < hdr + ext)
			return WS_PARSE_NEED_MORE;
		plen = load_be(p + hdr, ext);
		hdr += ext;
		if (plen >> 63)
			return parse_error(frame, WS_CLOSE_PROTOCOL);
	}
	if (plen > WS_MAX_MESSAGE)
		return parse_error(frame, WS_CLOSE_TOO_BIG);
	hdr += 4;
	if (len < hdr || len - hdr < plen)
		return WS_PARSE_NEED_MORE;
	memcpy(frame->mask, p + hdr - 4, 4);
	frame->payload = p + hdr;
	frame->payload_len = (size_t)plen;
	frame->frame_len = hdr + (size_t)plen;
	return WS_PARSE_FRAME;
}

void ws_mask(unsigned char *data, size_t len, const unsigned char key[4])
{
	size_t i;

	for (i = 0; i < len; i++)
		data[i] ^= key[i & 3];
}

/* Writes an unmasked FIN header for opcode and len into h; returns its length (2, 4 or 10). */
static size_t frame_header(unsigned char h[10], int opcode, size_t len)
{
	size_t n, i;

	h[0] = (unsigned char)(0x80 | (opcode & 0x0f));
	if (len < 126) {
		h[1] = (unsigned char)len;
		return 2;
	}
	if (len <= 0xffff) {
		h[1] = 126;
		n = 2;
	} else {
		h[1] = 127;
		n = 8;
	}
	for (i = 0; i < n; i++)
		h[2 + i] = (unsigned char)((uint64_t)len >> (8 * (n - 1 - i)));
	return 2 + n;
}

int ws_frame_build(struct buf *out, int opcode, const void *payload, size_t len)
{
	unsigned char h[10];
	size_t hlen = frame_header(h, opcode, len);
	size_t old = out->len;

	if (buf_append(out, h, hlen) || buf_append(out, payload, len)) {
		buf_setlen(out, old);
		return ERR_TOO_LARGE;
	}
	return 0;
}

/* ---- handshake -------------------------------------------------------------------------- */

/* Whether key is the canonical base64 of exactly 16 bytes: 22 symbols and "==". */
static int key_valid(const char *key)
{
	size_t i;

	if (strlen(key) != 24 || key[22] != '=' || key[23] != '=')
		return 0;
	for (i = 0; i < 22; i++)
		if (base64_value(key[i]) < 0)
			return 0;
	/* 22 symbols carry 132 bits: the last 4 must be zero for 128. */
	return (base64_value(key[21]) & 0x0f) == 0;
}

int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	unsigned char digest[SHA1_DIGEST_LEN];
	struct sha1 s;
	struct buf b;

	out[0] = '\0';
	if (!key || !key_valid(key))
		return ERR_BAD_REQUEST;
	sha1_init(&s);
	sha1_update(&s, key, strlen(key));
	sha1_update(&s, WS_GUID, strlen(WS_GUID));
	sha1_final(&s, digest);
	buf_init(&b, WS_ACCEPT_LEN);
	(void)base64_encode(digest, sizeof(digest), &b); /* 28 symbols: fits the cap */
	memcpy(out, b.data, b.len + 1);
	buf_release(&b);
	return 0;
}

/* Whether the comma-separated list holds tok (case-insensitive, optional whitespace). */
static int has_token(const char *list, const char *tok)
{
	size_t tlen = strlen(tok);

	while (list && *list) {
		const char *end = strchr(list, ',');
		size_t n = end ? (size_t)(end - list) : strlen(list);
		const char *item = list;

		text_trim_ows(&item, &n);
		if (n == tlen && strncasecmp(item, tok, n) == 0)
			return 1;
		list = end ? end + 1 : NULL;
	}
	return 0;
}

static int connection_has_upgrade(const struct http_request *req)
{
	const struct http_header *h;
	size_t n, i;

	h = http_headers(req, &n);
	for (i = 0; i < n; i++)
		if (strcasecmp(h[i].name, "Connection") == 0 && has_token(h[i].value, "upgrade"))
			return 1;
	return 0;
}

/* Whether an HTTP version as http.h gives it (DIGIT "." DIGIT, RFC 9112 §2.3) is >= 1.1. */
static int version_at_least_1_1(const char *v)
{
	if (v[0] < '1' || v[0] > '9' || v[1] != '.' || v[2] < '0' || v[2] > '9')
		return 0;
	return v[0] > '1' || v[2] >= '1';
}

int ws_wants_upgrade(const struct http_request *req)
{
	return has_token(http_header(req, "Upgrade"), "websocket");
}

int ws_handshake(struct http_request *req)
{
	const char *version = http_header(req, "Sec-WebSocket-Version");
	const char *key = http_header(req, "Sec-WebSocket-Key");
	char accept[WS_ACCEPT_LEN + 1];

	if (strcmp(req->method, "GET") != 0)
		return http_fail(req, ERR_BAD_REQUEST, "a WebSocket handshake must be a GET");
	if (!version_at_least_1_1(req->version))
		return http_fail(req, ERR_BAD_REQUEST,
				 "a WebSocket handshake needs HTTP/1.1 or later, not HTTP/%s",
				 req->version);
	if (!ws_wants_upgrade(req))
		return http_fail(req, ERR_BAD_REQUEST, "missing Upgrade: websocket");
	if (!connection_has_upgrade(req))
		return http_fail(req, ERR_BAD_REQUEST, "missing Connection: Upgrade");
	if (!version || strcmp(version, "13") != 0) {
		http_add_header(req, "Sec-WebSocket-Version", "13");
		return http_fail(req, ERR_BAD_REQUEST, "unsupported Sec-WebSocket-Version");
	}
	if (http_header_count(req, "Sec-WebSocket-Key") != 1 || ws_accept_key(key, accept))
		return http_fail(req, ERR_BAD_REQUEST, "bad Sec-WebSocket-Key");
	if (http_add_header(req, "Upgrade", "websocket") ||
	    http_add_header(req, "Connection", "Upgrade") ||
	    http_add_header(req, "Sec-WebSocket-Accept", accept))
		return http_fail(req, ERR_INTERNAL, "cannot set the handshake headers");
	return 0;
}

/* ---- hub -------------------------------------------------------------------------------- */

/*
 * One server frame, shared by the client queues that hold it. refs is only touched by the
 * hub thread (publishers hand frames over through the locked pending list).
 */
struct ws_msg {
	size_t refs;
	size_t len;
	uint64_t topic;	     /* topic frames: the topic */
	struct ws_msg *next; /* pending list */
	unsigned char data[];
};

struct ws_client {
	int fd;
	struct http_upgrade *up;	/* NULL: close(fd) */
	struct buf in;			/* received bytes not parsed yet */
	struct ws_msg **queue;		/* ring of qcap entries */
	size_t qcap, qhead, qlen, qoff; /* qoff: bytes of queue[qhead] already sent */
	size_t qbytes;			/* the queued frames' bytes (shared ones too) */
	uint32_t events;		/* registered epoll events */
	int closing;			/* close frame queued: close the socket once flushed */
	int close_ticks;		/* keepalive ticks spent closing */
	int ping_pending;		/* pinged, no pong yet */
	int in_fragment;		/* inside a fragmented data message */
	int msg_text;			/* the data message under way is text */
	size_t msg_total;		/* its size so far */
	struct buf msg;	   /* a fragmented text message's payload so far (<= WS_MAX_MESSAGE) */
	int dead;	   /* closed; freed at the end of the loop round */
	uint64_t *follows; /* hub->cfg.follow_max topics, oldest first; NULL until the first */
	size_t nfollows;
	struct list_head link;	/* on hub->clients while open */
	struct ws_client *next; /* on the adopted or the graveyard stack */
};

struct ws_hub {
	struct ws_hub_config cfg;
	int epfd, evfd;
	pthread_t thread;
	pthread_mutex_t lock;
	/* under lock */
	int stopping;
	struct ws_msg *pending, *pending_tail;
	size_t npending;
	struct ws_client *adopted;
	struct ws_msg *topics, *topics_tail; /* topic frames, in order */
	size_t ntopics, topic_bytes;
	/* hub thread only (and ws_hub_free() after the join) */
	struct ws_msg *snapshot;
	struct list_head clients; /* the open clients, newest first */
	struct ws_client *graveyard;
	long long next_ping;
	atomic_size_t nclients;
	atomic_size_t nfollowing; /* clients that follow at least one topic */
	struct metric_series *m_clients, *m_slow, *m_timeout, *m_limit, *m_published;
	struct metric_series *m_topic_slow, *m_topic_backlog;
};

/* Appends m to the list *head .. *tail (a FIFO of frames). */
static void msg_push(struct ws_msg **head, struct ws_msg **tail, struct ws_msg *m)
{
	if (*tail)
		(*tail)->next = m;
	else
		*head = m;
	*tail = m;
}

static struct ws_msg *msg_new(int opcode, const void *payload, size_t len)
{
	unsigned char h[10];
	size_t hlen = frame_header(h, opcode, len);
	struct ws_msg *m = xmalloc(sizeof(*m) + hlen + len);

	m->refs = 1;
	m->len = hlen + len;
	m->next = NULL;
	m->topic = 0;
	memcpy(m->data, h, hlen);
	if (len)
		memcpy(m->data + hlen, payload, len);
	return m;
}

static void msg_unref(struct ws_msg *m)
{
	if (m && --m->refs == 0)
		free(m);
}

static void wake(struct ws_hub *hub)
{
	uint64_t one = 1;

	if (write(hub->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("ws: eventfd write: %s", strerror(errno));
}

static void socket_release(int fd, struct http_upgrade *up)
{
	if (up) {
		shutdown(fd, SHUT_RDWR);
		http_upgrade_close(up);
	} else {
		close(fd);
	}
}

static void clients_changed(struct ws_hub *hub, int delta)
{
	size_t n = delta > 0 ? atomic_fetch_add(&hub->nclients, 1) + 1
			     : atomic_fetch_sub(&hub->nclients, 1) - 1;

	metrics_set(hub->m_clients, (double)n);
}

static void client_clear_queue(struct ws_client *c)
{
	while (c->qlen) {
		msg_unref(c->queue[c->qhead]);
		c->qhead = (c->qhead + 1) % c->qcap;
		c->qlen--;
	}
	c->qoff = 0;
	c->qbytes = 0;
}

/* Closes c's socket and moves it to the graveyard (freed after the current loop round). */
static void client_close(struct ws_hub *hub, struct ws_client *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	epoll_ctl(hub->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	socket_release(c->fd, c->up);
	client_clear_queue(c);
	buf_release(&c->in);
	buf_release(&c->msg);
	if (c->nfollows) {
		atomic_fetch_sub(&hub->nfollowing, 1);
		c->nfollows = 0;
	}
	list_del(&c->link);
	c->next = hub->graveyard;
	hub->graveyard = c;
	clients_changed(hub, -1);
}

static void client_free(struct ws_client *c)
{
	free(c->follows);
	free(c->queue);
	free(c);
}

static void client_update_events(struct ws_hub *hub, struct ws_client *c)
{
	uint32_t want = (c->closing ? 0 : EPOLLIN) | (c->qlen ? EPOLLOUT : 0);
	struct epoll_event ev = { .events = want, .data.ptr = c };

	if (want == c->events)
		return;
	if (epoll_ctl(hub->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		log_warn("ws: epoll_ctl: %s", strerror(errno));
		client_close(hub, c);
		return;
	}
	c->events = want;
}

/* Sends as much of the queue as the socket takes; closes a closing client once it is empty. */
static void client_flush(struct ws_hub *hub, struct ws_client *c)
{
	while (c->qlen) {
		struct ws_msg *m = c->queue[c->qhead];
		ssize_t n =
		    send(c->fd, m->data + c->qoff, m->len - c->qoff, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			client_close(hub, c);
			return;
		}
		c->qoff += (size_t)n;
		if (c->qoff < m->len)
			continue;
		c->qbytes -= m->len;
		msg_unref(m);
		c->qhead = (c->qhead + 1) % c->qcap;
		c->qlen--;
		c->qoff = 0;
	}
	if (!c->qlen && c->closing) {
		client_close(hub, c);
		return;
	}
	client_update_events(hub, c);
}

/* Queues m (taking a reference) and tries to send; a full queue drops the client. */
static void client_send(struct ws_hub *hub, struct ws_client *c, struct ws_msg *m)
{
	if (c->dead)
		return;
	if (c->qlen == c->qcap) {
		metrics_inc(hub->m_slow);
		log_info("ws: dropping a slow client (%zu frames pending)", c->qlen);
		client_close(hub, c);
		return;
	}
	m->refs++;
	c->queue[(c->qhead + c->qlen) % c->qcap] = m;
	c->qlen++;
	c->qbytes += m->len;
	client_flush(hub, c);
}

static void client_control(struct ws_hub *hub, struct ws_client *c, int opcode, const void *payload,
			   size_t len)
{
	struct ws_msg *m = msg_new(opcode, payload, len);

	client_send(hub, c, m);
	msg_unref(m);
}

/* Starts the closing handshake with code: nothing more is read or sent after the close. */
static void client_fail(struct ws_hub *hub, struct ws_client *c, int code)
{
	unsigned char p[2] = { (unsigned char)(code >> 8), (unsigned char)code };

	log_debug("ws: closing a client with %d", code);
	client_control(hub, c, WS_OP_CLOSE, p, sizeof(p));
	c->closing = 1;
	if (!c->dead)
		client_flush(hub, c);
}

/* Whether a received close status code may be sent on the wire (RFC 6455 §7.4). */
static int close_code_valid(unsigned code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
	       (code >= 3000 && code <= 4999);
}

/* Answers a close frame: echo its status code, then close once the echo is sent. */
static void client_close_frame(struct ws_hub *hub, struct ws_client *c, const unsigned char *p,
			       size_t len)
{
	if (len == 1 || (len >= 2 && !close_code_valid((unsigned)p[0] << 8 | p[1]))) {
		client_fail(hub, c, WS_CLOSE_PROTOCOL);
		return;
	}
	if (len > 2 && text_utf8_valid_len((const char *)p + 2, len - 2) != len - 2) {
		client_fail(hub, c, WS_CLOSE_INVALID_DATA); /* the reason is UTF-8 (§5.5.1, §8.1) */
		return;
	}
	client_control(hub, c, WS_OP_CLOSE, p, len ? 2 : 0);
	c->closing = 1;
	if (!c->dead)
		client_flush(hub, c);
}

/*
 * Acts on one data frame: checks fragmentation and size, and gathers the fragments of a text
 * message (binary content is ignored). Returns 1 when f completes a text message that is
 * valid UTF-8 (§8.1: else the client fails with 1007), its payload then in *text and *len
 * (the frame's own, or c->msg until the next call); else 0.
 */
static int client_data(struct ws_hub *hub, struct ws_client *c, const struct ws_frame *f,
		       const unsigned char *payload, const char **text, size_t *len)
{
	if (f->opcode != WS_OP_CONT) {
		if (c->in_fragment) {
			client_fail(hub, c, WS_CLOSE_PROTOCOL);
			return 0;
		}
		c->msg_total = 0;
		c->msg_text = f->opcode == WS_OP_TEXT;
	} else if (!c->in_fragment) {
		client_fail(hub, c, WS_CLOSE_PROTOCOL);
		return 0;
	}
	c->msg_total += f->payload_len;
	if (c->msg_total > WS_MAX_MESSAGE) {
		client_fail(hub, c, WS_CLOSE_TOO_BIG);
		return 0;
	}
	c->in_fragment = !f->fin;
	if (!c->msg_text)
		return 0;
	if (f->fin && f->opcode != WS_OP_CONT) {
		*text = (const char *)payload;
		*len = f->payload_len;
	} else {
		/* msg_total is within WS_MAX_MESSAGE, msg's cap: the append cannot fail */
		(void)buf_append(&c->msg, payload, f->payload_len);
		if (!f->fin)
			return 0;
		*text = c->msg.data;
		*len = c->msg.len;
	}
	if (text_utf8_valid_len(*text, *len) != *len) {
		client_fail(hub, c, WS_CLOSE_INVALID_DATA);
		return 0;
	}
	return 1;
}

/* Acts on one complete client frame; payload is already unmasked. */
static void client_frame(struct ws_hub *hub, struct ws_client *c, const struct ws_frame *f,
			 const unsigned char *payload)
{
	const char *text;
	size_t len;

	switch (f->opcode) {
	case WS_OP_PING:
		client_control(hub, c, WS_OP_PONG, payload, f->payload_len);
		break;
	case WS_OP_PONG:
		c->ping_pending = 0;
		break;
	case WS_OP_CLOSE:
		client_close_frame(hub, c, payload, f->payload_len);
		break;
	default:
		if (client_data(hub, c, f, payload, &text, &len) && !c->dead && !c->closing &&
		    hub->cfg.on_text)
			hub->cfg.on_text(hub->cfg.text_arg, hub, c, text, len);
		if (!c->in_fragment)
			buf_release(&c->msg); /* a gathered message is freed once it is complete */
		break;
	}
}

/* Parses and handles every complete frame in c->in, then drops the consumed bytes. */
static void client_parse(struct ws_hub *hub, struct ws_client *c)
{
	size_t pos = 0;

	while (!c->dead && !c->closing) {
		struct ws_frame f;
		unsigned char *payload;
		int rc = ws_frame_parse(c->in.data + pos, c->in.len - pos, &f);

		if (rc == WS_PARSE_NEED_MORE)
			break;
		if (rc == WS_PARSE_ERROR) {
			client_fail(hub, c, f.close_code);
			break;
		}
		payload = (unsigned char *)c->in.data + pos + (f.frame_len - f.payload_len);
		ws_mask(payload, f.payload_len, f.mask);
		pos += f.frame_len;
		client_frame(hub, c, &f, payload);
	}
	if (c->dead)
		return;
	if (pos == c->in.len) {
		buf_release(&c->in); /* idle clients keep no input buffer */
		return;
	}
	buf_consume(&c->in, pos);
}

static void client_read(struct ws_hub *hub, struct ws_client *c)
{
	char chunk[WS_READ_CHUNK];
	int round;

	for (round = 0; round < WS_READ_ROUNDS && !c->dead && !c->closing; round++) {
		ssize_t n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			client_close(hub, c);
			return;
		}
		if (buf_append(&c->in, chunk, (size_t)n)) {
			client_fail(hub, c, WS_CLOSE_TOO_BIG);
			return;
		}
		client_parse(hub, c);
	}
}

static void client_event(struct ws_hub *hub, struct ws_client *c, uint32_t events)
{
	if (events & (EPOLLERR | EPOLLHUP)) {
		client_close(hub, c);
		return;
	}
	if (events & EPOLLIN)
		client_read(hub, c);
	if (!c->dead && (events & EPOLLOUT))
		client_flush(hub, c);
}

/* Registers a client handed over by ws_hub_adopt_fd() and sends it the current snapshot. */
static void client_start(struct ws_hub *hub, struct ws_client *c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

	if (atomic_load(&hub->nclients) >= hub->cfg.max_clients) {
		metrics_inc(hub->m_limit);
		log_warn("ws: client limit %zu reached", hub->cfg.max_clients);
		socket_release(c->fd, c->up);
		buf_release(&c->in);
		client_free(c);
		return;
	}
	if (epoll_ctl(hub->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		log_warn("ws: epoll_ctl add: %s", strerror(errno));
		socket_release(c->fd, c->up);
		buf_release(&c->in);
		client_free(c);
		return;
	}
	c->events = EPOLLIN;
	c->queue = xcalloc(hub->cfg.queue_frames, sizeof(struct ws_msg *));
	c->qcap = hub->cfg.queue_frames;
	list_add(&c->link, &hub->clients);
	clients_changed(hub, 1);
	if (hub->snapshot)
		client_send(hub, c, hub->snapshot);
	if (!c->dead && c->in.len)
		client_parse(hub, c);
}

/* Queues m to every open client, then makes it the snapshot (taking the caller's reference). */
static void hub_fanout(struct ws_hub *hub, struct ws_msg *m)
{
	struct list_head *pos, *next;

	list_for_each_safe(pos, next, &hub->clients) {
		struct ws_client *c = list_entry(pos, struct ws_client, link);

		if (!c->closing)
			client_send(hub, c, m);
	}
	msg_unref(hub->snapshot);
	hub->snapshot = m;
}

static int client_follows(const struct ws_client *c, uint64_t topic)
{
	size_t i;

	for (i = 0; i < c->nfollows; i++)
		if (c->follows[i] == topic)
			return 1;
	return 0;
}

/*
 * Queues a best-effort frame to c unless its queue is half full or would pass
 * optional_bytes (then counts it dropped): a journey frame can weigh 150 KB.
 */
static void client_send_optional(struct ws_hub *hub, struct ws_client *c, struct ws_msg *m)
{
	if (c->dead || c->closing)
		return;
	if (c->qlen * 2 >= c->qcap || c->qbytes + m->len > hub->cfg.optional_bytes) {
		metrics_inc(hub->m_topic_slow);
		return;
	}
	client_send(hub, c, m);
}

/* Queues topic frame m to the clients that follow its topic, then drops the caller's ref. */
static void hub_fanout_topic(struct ws_hub *hub, struct ws_msg *m)
{
	struct list_head *pos, *next;

	list_for_each_safe(pos, next, &hub->clients) {
		struct ws_client *c = list_entry(pos, struct ws_client, link);

		if (c->nfollows && client_follows(c, m->topic))
			client_send_optional(hub, c, m);
	}
	msg_unref(m);
}

/* Fans out the topic frames taken from the locked list. */
static void hub_topics(struct ws_hub *hub, struct ws_msg *msgs)
{
	struct ws_msg *m;

	for (m = msgs; m; m = msgs) {
		msgs = m->next;
		m->next = NULL;
		hub_fanout_topic(hub, m);
	}
}

/*
 * A closed client (dead) or one that is closing follows nothing: on_text may go on calling
 * this after its own ws_hub_send_text() closed the client, and client_close() has already
 * taken the client out of hub->nfollowing, which nothing would lower again.
 */
int ws_hub_follow(struct ws_hub *hub, struct ws_client *c, uint64_t topic)
{
	size_t max = hub->cfg.follow_max;

	if (c->dead || c->closing || client_follows(c, topic))
		return 0;
	if (c->follows == NULL)
		c->follows = xcalloc(max, sizeof(*c->follows));
	if (c->nfollows == 0)
		atomic_fetch_add(&hub->nfollowing, 1);
	if (c->nfollows < max) {
		c->follows[c->nfollows++] = topic;
		return 1;
	}
	/* full: forget the oldest (the array is kept oldest first) */
	memmove(c->follows, c->follows + 1, (max - 1) * sizeof(*c->follows));
	c->follows[max - 1] = topic;
	return 1;
}

int ws_hub_has_room(const struct ws_hub *hub, const struct ws_client *c)
{
	return !c->dead && !c->closing && c->qlen * 2 < c->qcap &&
	       c->qbytes * 2 < hub->cfg.optional_bytes;
}

void ws_hub_unfollow(struct ws_hub *hub, struct ws_client *c, uint64_t topic)
{
	size_t i;

	if (c->dead || c->closing)
		return; /* follows nothing, or will not for long: client_close() counts it out */
	for (i = 0; i < c->nfollows; i++) {
		if (c->follows[i] != topic)
			continue;
		memmove(c->follows + i, c->follows + i + 1,
			(c->nfollows - i - 1) * sizeof(*c->follows));
		c->nfollows--;
		if (c->nfollows == 0)
			atomic_fetch_sub(&hub->nfollowing, 1);
		return;
	}
}

size_t ws_hub_following(struct ws_hub *hub)
{
	return atomic_load(&hub->nfollowing);
}

void ws_hub_send_text(struct ws_hub *hub, struct ws_client *c, const char *text, size_t len)
{
	struct ws_msg *m = msg_new(WS_OP_TEXT, text, len);

	client_send_optional(hub, c, m);
	msg_unref(m);
}

int ws_hub_publish_topic(struct ws_hub *hub, uint64_t topic, const char *json, size_t len)
{
	struct ws_msg *m;
	int rc = 0;

	pthread_mutex_lock(&hub->lock);
	if (hub->stopping) {
		rc = ERR_UNAVAILABLE;
	} else if (hub->ntopics >= hub->cfg.topic_backlog ||
		   hub->topic_bytes + len > hub->cfg.topic_backlog_bytes) {
		metrics_inc(hub->m_topic_backlog);
		rc = ERR_OVERLOADED;
	} else {
		m = msg_new(WS_OP_TEXT, json, len);
		m->topic = topic;
		msg_push(&hub->topics, &hub->topics_tail, m);
		hub->ntopics++;
		hub->topic_bytes += len;
	}
	pthread_mutex_unlock(&hub->lock);
	if (rc == 0)
		wake(hub);
	return rc;
}

/* Takes the published frames and adopted clients; returns whether the hub is stopping. */
static int hub_take_work(struct ws_hub *hub)
{
	struct ws_msg *msgs, *m, *topics;
	struct ws_client *adopted, *c;
	uint64_t count;
	int stopping;

	if (read(hub->evfd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("ws: eventfd read: %s", strerror(errno));
	pthread_mutex_lock(&hub->lock);
	msgs = hub->pending;
	hub->pending = hub->pending_tail = NULL;
	hub->npending = 0;
	topics = hub->topics;
	hub->topics = hub->topics_tail = NULL;
	hub->ntopics = 0;
	hub->topic_bytes = 0;
	adopted = hub->adopted;
	hub->adopted = NULL;
	stopping = hub->stopping;
	pthread_mutex_unlock(&hub->lock);
	for (m = msgs; m; m = msgs) {
		msgs = m->next;
		m->next = NULL;
		hub_fanout(hub, m);
	}
	hub_topics(hub, topics);
	for (c = adopted; c; c = adopted) {
		adopted = c->next;
		c->next = NULL;
		client_start(hub, c);
	}
	return stopping;
}

/* Keepalive: drops clients that missed the last ping (or a close), pings the others. */
static void hub_keepalive(struct ws_hub *hub)
{
	struct list_head *pos, *next;

	list_for_each_safe(pos, next, &hub->clients) {
		struct ws_client *c = list_entry(pos, struct ws_client, link);

		if (c->closing) {
			if (c->close_ticks++)
				client_close(hub, c);
			continue;
		}
		if (c->ping_pending) {
			metrics_inc(hub->m_timeout);
			log_info("ws: dropping a client that did not answer a ping");
			client_close(hub, c);
			continue;
		}
		c->ping_pending = 1;
		client_control(hub, c, WS_OP_PING, NULL, 0);
	}
}

static int hub_timeout(const struct ws_hub *hub)
{
	long long left;

	if (hub->cfg.ping_interval_ms < 0)
		return -1;
	left = hub->next_ping - clock_mono_ms();
	if (left < 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

static void hub_bury(struct ws_hub *hub)
{
	while (hub->graveyard) {
		struct ws_client *c = hub->graveyard;

		hub->graveyard = c->next;
		client_free(c);
	}
}

static void *hub_main(void *arg)
{
	struct ws_hub *hub = arg;
	struct epoll_event ev[WS_EVENTS];
	int stop = 0;

	while (!stop) {
		int i, woke = 0;
		int n = epoll_wait(hub->epfd, ev, WS_EVENTS, hub_timeout(hub));

		if (n < 0 && errno != EINTR)
			log_error("ws: epoll_wait: %s", strerror(errno));
		/* Only per-client I/O here: it can close nothing but its own client. */
		for (i = 0; i < n; i++) {
			if (ev[i].data.ptr)
				client_event(hub, ev[i].data.ptr, ev[i].events);
			else
				woke = 1;
		}
		if (woke)
			stop = hub_take_work(hub);
		if (!stop && hub->cfg.ping_interval_ms >= 0 && clock_mono_ms() >= hub->next_ping) {
			hub_keepalive(hub);
			hub->next_ping = clock_mono_ms() + hub->cfg.ping_interval_ms;
		}
		hub_bury(hub);
	}
	return NULL;
}

/* Lets 1,000+ sockets fit: soft RLIMIT_NOFILE up to the hard limit. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("ws: cannot raise RLIMIT_NOFILE: %s", strerror(errno));
}

static void hub_metrics(struct ws_hub *hub, struct metrics *reg)
{
	hub->m_clients = metrics_series(
	    metrics_gauge(reg, "ws_clients", "WebSocket clients connected now.", METRIC_NO_LABELS),
	    NULL);
	metrics_counter_each(
	    reg, "ws_clients_dropped_total", "WebSocket clients dropped by the server, by reason.",
	    "reason", METRIC_LABELS("slow", "timeout", "limit"),
	    (struct metric_series * *const[]){ &hub->m_slow, &hub->m_timeout, &hub->m_limit });
	hub->m_published = metrics_series(
	    metrics_counter(reg, "ws_messages_published_total",
			    "Snapshots published to the WebSocket clients.", METRIC_NO_LABELS),
	    NULL);
	metrics_counter_each(
	    reg, "ws_topic_frames_dropped_total",
	    "Best-effort topic frames (journeys) not sent, by reason.", "reason",
	    METRIC_LABELS("slow", "backlog"),
	    (struct metric_series * *const[]){ &hub->m_topic_slow, &hub->m_topic_backlog });
	metrics_set(hub->m_clients, 0);
}

static void hub_config(struct ws_hub *hub, const struct ws_hub_config *cfg)
{
	if (cfg)
		hub->cfg = *cfg;
	if (!hub->cfg.queue_frames)
		hub->cfg.queue_frames = WS_DEFAULT_QUEUE;
	if (!hub->cfg.ping_interval_ms)
		hub->cfg.ping_interval_ms = WS_DEFAULT_PING_MS;
	if (!hub->cfg.max_clients)
		hub->cfg.max_clients = WS_DEFAULT_MAX;
	if (!hub->cfg.metrics)
		hub->cfg.metrics = metrics_default();
	if (!hub->cfg.follow_max)
		hub->cfg.follow_max = WS_DEFAULT_FOLLOW;
	if (!hub->cfg.topic_backlog)
		hub->cfg.topic_backlog = WS_DEFAULT_BACKLOG;
	if (!hub->cfg.topic_backlog_bytes)
		hub->cfg.topic_backlog_bytes = WS_DEFAULT_BACKLOG_BYTES;
	if (!hub->cfg.optional_bytes)
		hub->cfg.optional_bytes = WS_DEFAULT_OPTIONAL_BYTES;
}

int ws_hub_new(const struct ws_hub_config *cfg, struct ws_hub **out)
{
	struct ws_hub *hub = xcalloc(1, sizeof(*hub));
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	*out = NULL;
	list_init(&hub->clients);
	hub_config(hub, cfg);
	hub_metrics(hub, hub->cfg.metrics);
	raise_fd_limit();
	atomic_init(&hub->nclients, 0);
	atomic_init(&hub->nfollowing, 0);
	pthread_mutex_init(&hub->lock, NULL);
	hub->next_ping = clock_mono_ms() + hub->cfg.ping_interval_ms;
	hub->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	hub->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (hub->evfd < 0 || hub->epfd < 0 || epoll_ctl(hub->epfd, EPOLL_CTL_ADD, hub->evfd, &ev))
		goto fail;
	if (pthread_create(&hub->thread, NULL, hub_main, hub)) {
		errno = EAGAIN;
		goto fail;
	}
	*out = hub;
	return 0;
fail:
	log_error("ws: cannot start the hub: %s", strerror(errno));
	if (hub->evfd >= 0)
		close(hub->evfd);
	if (hub->epfd >= 0)
		close(hub->epfd);
	pthread_mutex_destroy(&hub->lock);
	free(hub);
	return ERR_INTERNAL;
}

/* Best-effort close frame 1001 when no frame is half sent, then the socket is released. */
static void client_goodbye(struct ws_client *c)
{
	static const unsigned char bye[4] = { 0x80 | WS_OP_CLOSE, 2, WS_CLOSE_GOING_AWAY >> 8,
					      WS_CLOSE_GOING_AWAY & 0xff };

	if (!c->closing && c->qoff == 0 &&
	    send(c->fd, bye, sizeof(bye), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("ws: close frame not sent: %s", strerror(errno));
	socket_release(c->fd, c->up);
	client_clear_queue(c);
	buf_release(&c->in);
	buf_release(&c->msg);
	client_free(c);
}

void ws_hub_close(struct ws_hub *hub)
{
	struct list_head *pos, *next;
	struct ws_client *c;
	int closed;

	pthread_mutex_lock(&hub->lock);
	closed = hub->stopping;
	hub->stopping = 1;
	pthread_mutex_unlock(&hub->lock);
	if (closed)
		return;
	wake(hub);
	pthread_join(hub->thread, NULL);
	/* The thread is gone, and adopters see stopping: the lists below are ours. */
	list_for_each_safe(pos, next, &hub->clients) {
		list_del(pos);
		client_goodbye(list_entry(pos, struct ws_client, link));
	}
	pthread_mutex_lock(&hub->lock);
	c = hub->adopted;
	hub->adopted = NULL;
	pthread_mutex_unlock(&hub->lock);
	while (c) {
		struct ws_client *after = c->next;

		client_goodbye(c);
		c = after;
	}
	hub_bury(hub);
	atomic_store(&hub->nclients, 0);
	metrics_set(hub->m_clients, 0);
}

void ws_hub_free(struct ws_hub *hub)
{
	struct ws_msg *m;

	if (!hub)
		return;
	ws_hub_close(hub);
	while ((m = hub->pending)) {
		hub->pending = m->next;
		free(m);
	}
	while ((m = hub->topics)) {
		hub->topics = m->next;
		free(m);
	}
	msg_unref(hub->snapshot);
	close(hub->evfd);
	close(hub->epfd);
	pthread_mutex_destroy(&hub->lock);
	free(hub);
}

int ws_hub_upgrade(struct ws_hub *hub, struct http_request *req)
{
	int stopping, rc;

	pthread_mutex_lock(&hub->lock);
	stopping = hub->stopping;
	pthread_mutex_unlock(&hub->lock);
	if (stopping)
		return http_fail(req, ERR_UNAVAILABLE, "the server is shutting down");
	rc = ws_handshake(req);
	if (rc == 0)
		rc = http_respond_upgrade(req, ws_hub_adopt_cb, hub);
	return rc;
}

int ws_hub_publish(struct ws_hub *hub, const char *json, size_t len)
{
	struct ws_msg *m = msg_new(WS_OP_TEXT, json, len);

	pthread_mutex_lock(&hub->lock);
	if (hub->stopping) {
		pthread_mutex_unlock(&hub->lock);
		free(m);
		return ERR_UNAVAILABLE;
	}
	msg_push(&hub->pending, &hub->pending_tail, m);
	hub->npending++;
	/* The hub thread fell behind: skip the oldest snapshots no client has seen yet. */
	while (hub->npending > hub->cfg.queue_frames && hub->pending) {
		struct ws_msg *old = hub->pending;

		hub->pending = old->next;
		free(old);
		hub->npending--;
	}
	pthread_mutex_unlock(&hub->lock);
	metrics_inc(hub->m_published);
	wake(hub);
	return 0;
}

int ws_hub_adopt_fd(struct ws_hub *hub, int fd, const char *extra, size_t len,
		    struct http_upgrade *up)
{
	struct ws_client *c;
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || len > WS_INPUT_CAP) {
		socket_release(fd, up);
		return ERR_BAD_REQUEST;
	}
	c = xcalloc(1, sizeof(*c));
	list_init(&c->link);
	c->fd = fd;
	c->up = up;
	buf_init(&c->in, WS_INPUT_CAP);
	buf_init(&c->msg, WS_MAX_MESSAGE);
	if (len && buf_append(&c->in, extra, len))
		abort(); /* len <= the cap, checked above */
	pthread_mutex_lock(&hub->lock);
	if (hub->stopping) {
		pthread_mutex_unlock(&hub->lock);
		socket_release(fd, up);
		buf_release(&c->in);
		free(c);
		return ERR_UNAVAILABLE;
	}
	c->next = hub->adopted;
	hub->adopted = c;
	pthread_mutex_unlock(&hub->lock);
	wake(hub);
	return 0;
}

void ws_hub_adopt_cb(void *arg, int fd, const char *extra_in, size_t extra_in_size,
		     struct http_upgrade *up)
{
	if (ws_hub_adopt_fd(arg, fd, extra_in, extra_in_size, up))
		log_warn("ws: upgraded connection refused");
}

size_t ws_hub_clients(struct ws_hub *hub)
{
	return atomic_load(&hub->nclients);
}
