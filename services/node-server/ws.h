/*
 * ws.h: the WebSocket hub of node-server (RFC 6455 over the HTTP layer's upgrade).
 *
 * The browser page opens ws://host/comments (node_routes.h) and only listens: the server
 * pushes the current reviews array (a JSON array) every time it changes. The hub keeps every
 * upgraded socket in one epoll thread (no thread per client) and fans one pre-built frame out
 * to all of them.
 *
 * Use from a handler, with the hub as the route's context:
 *
 *	static int ws_route(struct http_request *req)
 *	{
 *		return ws_hub_upgrade(((struct app *)req->ctx)->hub, req);
 *	}
 *
 * and whenever the list changes: ws_hub_publish(hub, json, len) with the serialized array.
 *
 * Delivery. A publish builds ONE unmasked text frame in a refcounted buffer shared by every
 * client; it becomes the current snapshot and is queued to every connected client, in order.
 * A new client gets the current snapshot (if any) right after it is adopted. Each client has
 * a bounded queue (ws_hub_config.queue_frames frames, default 8): a client whose queue is full
 * when a frame arrives is slow and is dropped at once (socket closed without a close frame,
 * since a frame may be half written; counted in ws_clients_dropped_total{reason="slow"}).
 * If publishers outrun the hub thread itself, snapshots that were never handed to any client
 * may be skipped (coalesced): every client still ends with the newest one.
 *
 * Client frames are parsed per RFC 6455 §5 (ws_frame_parse): unmasked frames, reserved bits
 * or opcodes, fragmented or oversized control frames and continuation errors close with 1002;
 * a message over WS_MAX_MESSAGE bytes closes with 1009. Each complete text message, whole or
 * gathered from its fragments (§5.4: an intermediary may split it), goes to
 * ws_hub_config.on_text (see Topics); binary messages are read and ignored. A text message or a
 * close reason that is not valid UTF-8 closes with 1007 (§8.1). Ping is answered with a pong of
 * the same payload, pong is noted, close is echoed and then the socket is closed.
 *
 * Memory per client: its queue (frames shared with the other clients, and its own best-effort
 * frames within optional_bytes) and an input buffer that holds at most one incomplete frame (<=
 * WS_MAX_HEADER + WS_MAX_MESSAGE) plus one 4 KiB read, freed whenever it is empty, and the
 * fragments of a text message under way (<= WS_MAX_MESSAGE), freed once it is complete: about
 * 20 KiB at worst (with 64 KiB messages it was 68 KB), on top of about 40 KB measured for a
 * connected client that has sent nothing.
 *
 * Keepalive: every ping_interval_ms the hub pings each client; a client that has not answered
 * the previous ping by the next tick is dropped (reason="timeout").
 *
 * Topics (the review journeys, journey.h). Besides the snapshot that every client gets, a
 * frame can be published to one topic (a 64-bit key): only the clients that follow it get it.
 * A client follows at most ws_hub_config.follow_max topics (default 32; following one more
 * forgets the oldest). Topic frames are best-effort: a client whose queue is half full, or
 * would hold more than optional_bytes (256 KiB) with the frame, skips them (the snapshot keeps
 * the rest), and at most topic_backlog frames and topic_backlog_bytes (16 MiB) wait for the
 * hub thread (more are dropped); both count in
 * ws_topic_frames_dropped_total{reason="slow|backlog"}. A journey frame can weigh some 150 KB
 * (16 steps whose 1 KiB responses are control characters, each written as \u00XX): the bytes
 * bound a client's private frames (ws_hub_send_text() copies) and the backlog, not the count.
 * A client says what it follows in its own text messages: each complete text message is
 * handed to ws_hub_config.on_text on the hub thread, which may call
 * ws_hub_follow(), ws_hub_unfollow() and ws_hub_send_text() for that client.
 *
 * Metrics (in ws_hub_config.metrics, default metrics_default()): gauge ws_clients (connected
 * now), counter ws_clients_dropped_total{reason="slow|timeout|limit"}, counter
 * ws_messages_published_total, counter ws_topic_frames_dropped_total{reason}.
 *
 * File descriptors: ws_hub_new() raises the RLIMIT_NOFILE soft limit to the hard limit, so
 * 1,000+ clients fit (the HTTP layer's connection_limit must allow them too).
 *
 * Lifetime: close, then free (libuv's rule: memory is freed only after the close completed).
 * ws_hub_close() stops the hub: from then on publishes and upgrades are refused (an upgraded
 * socket handed in late is closed at once), and every client socket is closed. The struct
 * stays valid, so handlers and callbacks that still hold the pointer are safe, until
 * ws_hub_free(), which the owner calls once nothing can reach the hub any more (after
 * http_server_stop() and after its publishers stopped).
 *
 * Threads: ws_hub_publish(), ws_hub_upgrade(), ws_hub_adopt_cb(), ws_hub_adopt_fd(),
 * ws_hub_clients() and ws_hub_close() are thread-safe, also against ws_hub_close().
 * ws_hub_close() must run BEFORE http_server_stop(), since it closes the upgraded sockets with
 * http_upgrade_close(). ws_hub_free() must not race with anything.
 */
#ifndef NODE_SERVER_WS_H
#define NODE_SERVER_WS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct http_request;
struct http_upgrade;
struct metrics;

/*
 * Largest client message (sum of its fragments) the hub accepts; more closes with 1009. Sized
 * for the only messages pages send, journey's {"follow": [ids]} (journey.h), which journey.c
 * limits with this same constant. It bounds each client's input buffer (see Memory above).
 */
#define WS_MAX_MESSAGE ((size_t)8 * 1024)
/* Largest frame header: 2 + 8 (64-bit length) + 4 (mask). */
#define WS_MAX_HEADER 14
/* Length of a Sec-WebSocket-Accept value (base64 of 20 bytes), without the NUL. */
#define WS_ACCEPT_LEN 28

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA,
};

/* Close status codes used by the hub (RFC 6455 §7.4.1). */
#define WS_CLOSE_NORMAL	      1000
#define WS_CLOSE_GOING_AWAY   1001
#define WS_CLOSE_PROTOCOL     1002
#define WS_CLOSE_INVALID_DATA 1007
#define WS_CLOSE_POLICY	      1008
#define WS_CLOSE_TOO_BIG      1009

/* ---- pure frame codec (no I/O, no allocation) ------------------------------------------ */

/* One parsed client frame. payload points into the parser's input and is still masked. */
struct ws_frame {
	int fin;		      /* FIN bit */
	int opcode;		      /* enum ws_opcode */
	unsigned char mask[4];	      /* masking key */
	const unsigned char *payload; /* masked payload, payload_len bytes */
	size_t payload_len;
	size_t frame_len; /* header + payload: bytes to consume */
	int close_code;	  /* on WS_PARSE_ERROR: 1002 or 1009 */
};

enum ws_parse_result {
	WS_PARSE_ERROR = -1,	/* protocol error: close with frame->close_code */
	WS_PARSE_NEED_MORE = 0, /* buf holds a truncated frame: read more and call again */
	WS_PARSE_FRAME = 1,	/* *frame describes the frame at the start of buf */
};

/*
 * Parses the frame at the start of buf (len bytes) as sent by a client: it must be masked,
 * have no RSV bits, a known opcode; control frames must have FIN and <= 125 bytes; a payload
 * over WS_MAX_MESSAGE is an error (1009) as soon as the length is known; a 64-bit length with
 * the top bit set is an error (1002). Non-minimal length encodings are accepted.
 * Returns enum ws_parse_result; *frame is filled for WS_PARSE_FRAME and its close_code for
 * WS_PARSE_ERROR.
 */
int ws_frame_parse(const void *buf, size_t len, struct ws_frame *frame);

/* XORs len bytes of data in place with key (masking and unmasking are the same operation). */
void ws_mask(unsigned char *data, size_t len, const unsigned char key[4]);

/*
 * Appends one unmasked frame with FIN set (as servers send) for opcode and payload to out.
 * Returns 0 or ERR_TOO_LARGE (out unchanged).
 */
int ws_frame_build(struct buf *out, int opcode, const void *payload, size_t len);

/*
 * Computes Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)) into out
 * (NUL-terminated). Returns 0, or ERR_BAD_REQUEST when key is not the canonical base64 of
 * exactly 16 bytes (out is then "").
 */
int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* ---- handshake -------------------------------------------------------------------------- */

/*
 * Validates a WebSocket opening handshake (RFC 6455 §4.2.1): method GET over HTTP/1.1 or later
 * (§4.1; libmicrohttpd would not send the 101 on HTTP/1.0), Upgrade: websocket
 * (case-insensitive), a Connection header with the "upgrade" token, Sec-WebSocket-Version: 13
 * and a valid Sec-WebSocket-Key. On success adds the Upgrade, Connection and
 * Sec-WebSocket-Accept response headers and returns 0: the caller then calls
 * http_respond_upgrade(req, ws_hub_adopt_cb, hub) (as ws_hub_upgrade() does). On failure returns
 * http_fail(req, ERR_BAD_REQUEST, ...) (400 JSON; a bad version also gets a
 * "Sec-WebSocket-Version: 13" header).
 */
int ws_handshake(struct http_request *req);
/*
 * Whether req asks for a WebSocket: its Upgrade header lists the "websocket" token. A route
 * that also answers plain requests hands only these to ws_hub_upgrade(), and serves any other
 * request as if it had no Upgrade header (an upgrade it does not support, such as h2c, may
 * be ignored: RFC 9110 §7.8).
 */
int ws_wants_upgrade(const struct http_request *req);

/* ---- hub -------------------------------------------------------------------------------- */

struct ws_hub;
struct ws_client;

/*
 * A client's text message (len bytes, not NUL-terminated, not UTF-8 checked), on the hub
 * thread. c is valid only during the call.
 */
typedef void (*ws_text_fn)(void *arg, struct ws_hub *hub, struct ws_client *c, const char *text,
			   size_t len);

struct ws_hub_config {
	size_t queue_frames;	    /* frames a client may have pending; 0 = 8 */
	long long ping_interval_ms; /* keepalive period; 0 = 30000, negative = never ping */
	size_t max_clients;	    /* beyond it new clients are closed at once; 0 = 10000 */
	struct metrics *metrics;    /* NULL = metrics_default() */
	ws_text_fn on_text;	    /* NULL: client messages are ignored */
	void *text_arg;
	size_t follow_max;	    /* topics one client follows at most; 0 = 32 */
	size_t topic_backlog;	    /* topic frames waiting for the hub thread at most; 0 = 4096 */
	size_t topic_backlog_bytes; /* and their bytes at most; 0 = 16 MiB */
	size_t optional_bytes;	    /* a best-effort frame is queued only while the queue stays
				* within this many bytes; 0 = 256 KiB */
};

/*
 * Creates the hub and starts its thread. cfg may be NULL (all defaults); it is copied.
 * Returns 0 and *out, or ERR_INTERNAL (epoll/eventfd/thread creation failed; logged).
 */
int ws_hub_new(const struct ws_hub_config *cfg, struct ws_hub **out);

/*
 * Closes the hub: refuses further publishes and upgrades, sends every client a close frame
 * (1001) when its socket can take it, closes every socket (http_upgrade_close() or close())
 * and joins the thread. The memory stays valid until ws_hub_free(). A second call is a no-op.
 */
void ws_hub_close(struct ws_hub *hub);

/*
 * Frees the hub, including the frames still queued; closes it first when ws_hub_close() was
 * not called. NULL is allowed.
 */
void ws_hub_free(struct ws_hub *hub);

/*
 * The /comments upgrade in one call: 503 once the hub is closed, else ws_handshake() and,
 * when it passed, http_respond_upgrade(req, ws_hub_adopt_cb, hub). Returns the answer's code.
 */
int ws_hub_upgrade(struct ws_hub *hub, struct http_request *req);

/*
 * Publishes a new snapshot: json (len bytes, copied) is framed once as a text frame and sent
 * to every client, and to each later client on arrival. Returns 0, or ERR_UNAVAILABLE once
 * ws_hub_close() has begun.
 */
int ws_hub_publish(struct ws_hub *hub, const char *json, size_t len);

/*
 * http_upgrade_fn for http_respond_upgrade(): arg is the struct ws_hub *. Hands the socket to
 * the hub, which then owns it and closes it with http_upgrade_close(up).
 */
void ws_hub_adopt_cb(void *arg, int fd, const char *extra_in, size_t extra_in_size,
		     struct http_upgrade *up);

/*
 * Adopts a connected socket (already past the handshake). extra (len bytes, copied) holds
 * bytes already read from it. The hub owns fd from now on, even when this fails: it makes it
 * non-blocking and closes it with http_upgrade_close(up), or with close(fd) when up is NULL
 * (tests hand in one end of a socketpair that way). Returns 0, or ERR_UNAVAILABLE when the
 * hub is shutting down (fd already closed).
 */
int ws_hub_adopt_fd(struct ws_hub *hub, int fd, const char *extra, size_t len,
		    struct http_upgrade *up);

/*
 * Publishes json (len bytes, copied, framed once) to the clients that follow topic, best
 * effort (see Topics). Returns 0, ERR_OVERLOADED when the backlog is full (dropped, counted)
 * or ERR_UNAVAILABLE once ws_hub_free() has begun. Thread-safe.
 */
int ws_hub_publish_topic(struct ws_hub *hub, uint64_t topic, const char *json, size_t len);

/*
 * Hub thread only (inside on_text): c follows topic (forgetting its oldest when full). Returns
 * 1 when c did not follow it before, else 0: a no-op when it did, and once c is closed or
 * closing, as when an earlier ws_hub_send_text() in the same on_text failed and closed it.
 */
int ws_hub_follow(struct ws_hub *hub, struct ws_client *c, uint64_t topic);
/*
 * Hub thread only: whether a best-effort frame to c would be queued now, as far as c's queue
 * tells without the frame: c is open and its queue is less than half full, in frames and in
 * optional_bytes. A caller asks before it builds a large frame for c alone (a journey's state
 * on follow), so a client that does not read costs no rendering.
 */
int ws_hub_has_room(const struct ws_hub *hub, const struct ws_client *c);
/* Hub thread only: c stops following topic (no-op when it did not, or c is closed/closing). */
void ws_hub_unfollow(struct ws_hub *hub, struct ws_client *c, uint64_t topic);
/*
 * Hub thread only: queues one text frame to c alone, skipped like a topic frame when slow. A
 * send error closes c (the rest of on_text may still pass it: the calls above are no-ops).
 */
void ws_hub_send_text(struct ws_hub *hub, struct ws_client *c, const char *text, size_t len);

/* Clients that follow at least one topic right now (thread-safe; 0 lets publishers skip work). */
size_t ws_hub_following(struct ws_hub *hub);

/* Clients connected right now: taken over by the hub thread and not closed yet. */
size_t ws_hub_clients(struct ws_hub *hub);

#endif
