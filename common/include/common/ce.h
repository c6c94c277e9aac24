/*
 * ce.h: CloudEvents 1.0.2 events, their JSON format and the HTTP protocol binding.
 *
 * An event is a struct ce_event: the core attributes, the extensions (each with the type the
 * JSON format let us see), and the data as bytes. Every attribute value is kept in its
 * canonical string form (CloudEvents spec §Type System), so ce_get() is the one lookup that
 * Knative trigger filters use, for core attributes and extensions alike.
 *
 * Ownership: an event owns every string and the data it points to. Setters copy their
 * arguments. ce_event_free() frees the event and everything in it. Read the struct freely;
 * change it only through the functions below, so the invariants hold:
 *   - every non-NULL string is a valid attribute value of its type (valid UTF-8, no control
 *     characters, a time that is RFC 3339, ...);
 *   - extension names are [a-z0-9]+, unique, never a core attribute name, in insertion order.
 * Required-attribute rules (specversion "1.0", non-empty id, source, type) are checked by
 * ce_validate(), which the decoders and encoders run.
 *
 * Data: `data` holds `data_len` bytes (plus a NUL after them, not counted) when has_data.
 *   - From the JSON format: a `data` member with a JSON content type (or none) is stored as
 *     its compact JSON text (a JSON string stays a JSON string: "\"hi\""); a `data` member
 *     with another content type is stored as the string's UTF-8 bytes; `data_base64` is
 *     stored decoded, with data_base64 set.
 *   - From HTTP binary mode: the body, with data_base64 set unless the content type is
 *     JSON, or textual (text/..., ...xml, ...javascript, ...yaml) with a UTF-8 body, or
 *     absent with a body that parses as JSON. An empty body is no data.
 *   - "data": null (or absent) is no data, like any null attribute.
 *   - To the JSON format: data_base64 set → "data_base64"; a JSON content type (or none)
 *     whose bytes parse as JSON nested at most CE_JSON_DATA_DEPTH_MAX levels → "data" as
 *     that JSON value; otherwise valid UTF-8 → "data" as a string; otherwise "data_base64".
 *     (jansson reads at most 2048 levels, and a record that carries the event, such as an
 *     events.log line, nests its data deeper: deeper data goes as data_base64, which reads
 *     back.) When data is present without datacontenttype,
 *     encoders write "application/json" explicitly (JSON format §3.1, "implied").
 *
 * Errors: decoders fill a struct ce_error with a typed code and a message naming the
 * attribute and the rule, e.g. "missing required attribute 'source'" or
 * "header ce-subject: invalid UTF-8 (overlong encoding)", and return the err.h code the HTTP
 * layer answers with: ERR_MEDIA_TYPE for an unsupported format, ERR_INVALID_EVENT otherwise.
 *
 * Limits: none below the spec's 64 KiB; at most CE_MAX_EXTENSIONS extensions per event.
 * JSON integers beyond 64 bits in data make a structured body unparseable (jansson).
 *
 * Thread safety: no global state; distinct events may be used from distinct threads.
 */
#ifndef COMMON_CE_H
#define COMMON_CE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/header.h"

#define CE_SPECVERSION	  "1.0"
#define CE_MAX_EXTENSIONS 1000
/* JSON data nested deeper than this is written as data_base64 (see Data above). */
#define CE_JSON_DATA_DEPTH_MAX 1024
/* Lower-case charset: the npm cloudevents SDK (v10) matches this media type exactly. */
#define CE_CONTENT_TYPE	      "application/cloudevents+json; charset=utf-8"
#define CE_BATCH_CONTENT_TYPE "application/cloudevents-batch+json; charset=utf-8"
/* Length of "2006-01-02T15:04:05.000000000Z" plus the NUL: enough for ce_time_format(). */
#define CE_TIME_LEN 40

/* The CloudEvents type system (spec §Type System). */
enum ce_type {
	CE_TYPE_STRING = 0,
	CE_TYPE_INTEGER,   /* 32-bit signed; canonical "-12" */
	CE_TYPE_BOOLEAN,   /* "true" / "false" */
	CE_TYPE_BINARY,	   /* canonical = standard padded base64 */
	CE_TYPE_URI,	   /* absolute URI */
	CE_TYPE_URI_REF,   /* URI-reference */
	CE_TYPE_TIMESTAMP, /* RFC 3339 */
};

struct ce_ext {
	char *name;	   /* [a-z0-9]+ */
	char *value;	   /* canonical string form */
	enum ce_type type; /* JSON tells strings, integers and booleans apart; HTTP headers
			      give CE_TYPE_STRING; ce_set_typed() sets any type */
};

struct ce_event {
	/* required */
	char *specversion;
	char *id;
	char *source; /* URI-reference */
	char *type;
	/* optional: NULL when unset */
	char *datacontenttype;
	char *dataschema; /* URI */
	char *subject;
	char *time; /* RFC 3339 text, kept as received */
	/* extensions */
	struct ce_ext *ext;
	size_t n_ext, alloc_ext;
	/* data */
	unsigned char *data; /* data_len bytes + a NUL; NULL when !has_data */
	size_t data_len;
	bool has_data;
	bool data_base64; /* came as data_base64 / must be sent as data_base64 */
};

/* Decode error codes. The message in struct ce_error says which attribute and why. */
enum ce_errcode {
	CE_OK = 0,
	CE_ERR_MISSING,		  /* missing required attribute */
	CE_ERR_EMPTY,		  /* required (or non-empty when present) attribute is "" */
	CE_ERR_SPECVERSION,	  /* specversion is not "1.0" */
	CE_ERR_NAME,		  /* attribute name not [a-z0-9]+, or reserved ("data") */
	CE_ERR_UTF8,		  /* invalid UTF-8 (overlong, surrogate, truncated, ...) */
	CE_ERR_CONTROL,		  /* control character or noncharacter in a String */
	CE_ERR_TIME,		  /* not an RFC 3339 timestamp */
	CE_ERR_BASE64,		  /* bad base64 in data_base64 or a Binary value */
	CE_ERR_JSON,		  /* body is not JSON / not an object / not an array */
	CE_ERR_ENCODING,	  /* bad quoted-string or percent escape in a header */
	CE_ERR_DUP_HEADER,	  /* a ce- header (or Content-Type) appears twice */
	CE_ERR_CONTENT_TYPE,	  /* ce-datacontenttype header in binary mode */
	CE_ERR_FORMAT,		  /* structured/batched format other than +json */
	CE_ERR_BATCH_SPECVERSION, /* batch events with different specversions */
	CE_ERR_DATA_BOTH,	  /* data and data_base64 both present */
	CE_ERR_TYPE,		  /* wrong JSON type or value for the attribute's type */
	CE_ERR_TOO_MANY,	  /* more than CE_MAX_EXTENSIONS extensions */
	CE_ERR_BATCH,		  /* a batch where one event is expected */
};

struct ce_error {
	enum ce_errcode code;
	char message[256];
};

enum ce_mode {
	CE_MODE_BINARY = 0,
	CE_MODE_STRUCTURED,
	CE_MODE_BATCH,
};

/* The result of ce_decode_http(). Owns its events; release with ce_decoded_release(). */
struct ce_decoded {
	enum ce_mode mode;
	struct ce_event *event;	  /* binary and structured modes */
	struct ce_event **events; /* batched mode: n_events events (0 is valid) */
	size_t n_events;
};

/* ---- lifecycle ------------------------------------------------------------------------- */

/* A new event with no attributes set (not even specversion). Never NULL. */
struct ce_event *ce_event_new(void);
/* Frees ev and everything it owns. NULL is a no-op. */
void ce_event_free(struct ce_event *ev);
/* A deep copy. Never NULL (for a non-NULL ev). */
struct ce_event *ce_event_clone(const struct ce_event *ev);

/* ---- attributes ------------------------------------------------------------------------ */

/*
 * Sets any attribute by name, core or extension; value NULL unsets it. Core attributes get
 * their spec type (time: Timestamp, source: URI-reference, dataschema: URI); an extension
 * becomes a String, replacing the value and the type of one the event already has (an
 * event's "badwordfilter": true that arrived as a JSON Boolean is replaced by the String
 * "good"; ce_set_typed() sets another type). Returns 0, or ERR_VALIDATION for a bad name, a
 * value that is not valid for the type, or a new extension beyond CE_MAX_EXTENSIONS.
 */
int ce_set(struct ce_event *ev, const char *name, const char *value);
/*
 * ce_set() for an extension with an explicit type; value is the canonical string
 * ("500", "true", base64, RFC 3339 ...). For a core attribute type is ignored.
 * err may be NULL. Returns 0 or ERR_VALIDATION (details in *err).
 */
int ce_set_typed(struct ce_event *ev, const char *name, enum ce_type type, const char *value,
		 struct ce_error *err);
/* Shorthands for Integer and Boolean extensions. */
int ce_set_int(struct ce_event *ev, const char *name, int value);
int ce_set_bool(struct ce_event *ev, const char *name, bool value);
/*
 * The canonical string of an attribute (core or extension), or NULL when it is not set.
 * The string belongs to ev and lives until that attribute changes.
 */
const char *ce_get(const struct ce_event *ev, const char *name);
/* The extension called name, or NULL (core attributes are not extensions). */
const struct ce_ext *ce_ext_find(const struct ce_event *ev, const char *name);

/*
 * Copies len bytes as the event's data and sets datacontenttype (content_type NULL unsets
 * it). data_base64 is set unless content_type is JSON or textual and the bytes fit it.
 * data NULL removes the data. Returns 0 or ERR_VALIDATION (bad content type).
 */
int ce_set_data(struct ce_event *ev, const void *data, size_t len, const char *content_type);

/*
 * Checks the event-level rules: specversion present and "1.0", id, source and type present
 * and non-empty, subject and dataschema non-empty when present. err may be NULL.
 * Returns 0 or ERR_INVALID_EVENT.
 */
int ce_validate(const struct ce_event *ev, struct ce_error *err);
/*
 * The last step of every decoder: ce_validate(ev), then hands ev to *out (0), or frees it and
 * returns ERR_INVALID_EVENT with *err filled.
 */
int ce_event_finish(struct ce_event *ev, struct ce_error *err, struct ce_event **out);

/* ---- JSON format ----------------------------------------------------------------------- */

/*
 * The whole event as a JSON object in the JSON event format (a new reference; the caller
 * json_decref()s it). This is what file-sink logs.
 */
json_t *ce_to_json(const struct ce_event *ev);
/*
 * Builds and validates an event from a JSON object (borrowed, not modified). Returns 0 with *out set
 * (caller frees), or ERR_INVALID_EVENT with *err filled and *out NULL.
 */
int ce_from_json(json_t *obj, struct ce_event **out, struct ce_error *err);

/* ---- HTTP binding ---------------------------------------------------------------------- */

/*
 * Decodes an HTTP request or response. headers: all headers in arrival order, duplicates
 * included; body: len bytes (may be NULL when len is 0). The mode comes from Content-Type:
 * application/cloudevents-batch → batched, application/cloudevents → structured (only +json),
 * anything else → binary. Returns 0 with *out filled (release it), or ERR_INVALID_EVENT /
 * ERR_MEDIA_TYPE with *err filled and *out empty.
 */
int ce_decode_http(const struct http_header *headers, size_t n_headers, const void *body,
		   size_t len, struct ce_decoded *out, struct ce_error *err);
void ce_decoded_release(struct ce_decoded *d);
/*
 * ce_decode_http() for receivers that take one event per request (a Trigger's subscriber, a
 * dead-letter sink, a broker's ingress): a batch is refused with CE_ERR_BATCH. Returns 0 with
 * *out set (the caller frees it), or the err.h code with *err filled and *out NULL.
 */
int ce_decode_event(const struct http_header *headers, size_t n_headers, const void *body,
		    size_t len, struct ce_event **out, struct ce_error *err);
/*
 * Whether a message looks like a CloudEvent (sdk-go's ReadEncoding): a ce-specversion
 * header or a Content-Type starting with application/cloudevents. Used to tell a reply
 * event from a plain body.
 */
bool ce_http_is_event(const struct http_header *headers, size_t n_headers);

/*
 * Binary mode: appends to out (header.h; the list owns what it gets) with Content-Type (when there
 * is a datacontenttype or data) and one lower-case ce-<name> header per other attribute,
 * values percent-encoded. *body and *len point at ev's data (borrowed: valid while ev is
 * unchanged; NULL/0 without data). Returns 0, ERR_INVALID_EVENT (ce_validate() failed) or
 * ERR_MEDIA_TYPE when datacontenttype starts with application/cloudevents: a receiver would
 * read such a body as a structured event, so send it in structured mode instead
 * (ce_encode_http() does).
 */
int ce_encode_binary(const struct ce_event *ev, struct header_list *out, const void **body,
		     size_t *len);
/*
 * Structured mode: appends the event's JSON to out; the Content-Type to send is
 * CE_CONTENT_TYPE. Returns 0, ERR_INVALID_EVENT (ce_validate() failed) or ERR_TOO_LARGE
 * (out's cap).
 */
int ce_encode_structured(const struct ce_event *ev, struct buf *out);
/* Batched mode: appends a JSON array of n events; Content-Type CE_BATCH_CONTENT_TYPE. */
int ce_encode_batch(struct ce_event *const *evs, size_t n, struct buf *out);

/*
 * One event encoded for an HTTP request or response by ce_encode_http(). It owns headers
 * (every name and value, Content-Type included) and json. body points into json in
 * structured mode, and into the event's data in binary mode (borrowed: valid while that event
 * is unchanged). Release it with ce_encoded_release().
 */
struct ce_encoded {
	enum ce_mode mode;	    /* CE_MODE_BINARY or CE_MODE_STRUCTURED */
	struct header_list headers; /* to send as they are */
	struct buf json;	    /* the structured-mode body; empty in binary mode */
	const void *body;	    /* len bytes; NULL/0 when there is no body */
	size_t len;
};

/*
 * The most header bytes ("name: value\r\n") and headers a binary-mode message may have; past
 * either the event goes in structured mode, so that an event with hundreds of extensions is
 * not answered 431 (which no retry changes) by its subscriber or its dead-letter sink. 16 KiB
 * is Node.js's limit on a request's headers, the strictest of the common servers; this
 * project's servers (libmicrohttpd) keep the headers in a 64 KiB pool per connection at some
 * 60 bytes each besides their text, so about 900 short ones fill it: 256 stay well within.
 */
#define CE_BINARY_HEADERS_MAX	    ((size_t)16 * 1024)
#define CE_BINARY_HEADERS_COUNT_MAX 256

/*
 * Encodes ev in binary mode (ce_encode_binary()), or in structured mode (Content-Type
 * CE_CONTENT_TYPE, body from ce_encode_structured()) when structured is set or binary mode
 * cannot carry ev (its datacontenttype starts with application/cloudevents, or its headers
 * would pass CE_BINARY_HEADERS_MAX bytes or CE_BINARY_HEADERS_COUNT_MAX headers). *out is
 * overwritten. Returns 0 with *out filled, or ERR_INVALID_EVENT (ce_validate() failed) with
 * *out empty; either way ce_encoded_release() may be called on it.
 */
int ce_encode_http(const struct ce_event *ev, bool structured, struct ce_encoded *out);
/*
 * The header bytes ("name: value\r\n" each) and the number of headers that binary mode takes
 * for ev, as ce_encode_http() measures them against CE_BINARY_HEADERS_MAX and _COUNT_MAX.
 * Returns 0, or ce_encode_binary()'s ERR_INVALID_EVENT / ERR_MEDIA_TYPE (both set to 0).
 */
int ce_binary_size(const struct ce_event *ev, size_t *bytes, size_t *count);
/* Frees what e owns; e is empty again. */
void ce_encoded_release(struct ce_encoded *e);

/* ---- errors and helpers ---------------------------------------------------------------- */

/* The err.h code for a decode error: ERR_MEDIA_TYPE for CE_ERR_FORMAT, else ERR_INVALID_EVENT. */
int ce_errcode_to_err(enum ce_errcode code);
/* A short snake_case name for a code ("missing_attribute", "invalid_utf8", ...). */
const char *ce_errcode_name(enum ce_errcode code);

/* Whether a media type is JSON: "x/json" or "x/y+json" after stripping parameters. */
bool ce_content_type_is_json(const char *content_type);
/* Checks an RFC 3339 timestamp (full date-time, 'T'/'t', 'Z'/'z' or ±hh:mm offset). */
bool ce_time_valid(const char *s);
/* Formats ts as RFC 3339 UTC with nanoseconds ("...T15:04:05.123456789Z"). Returns out. */
char *ce_time_format(const struct timespec *ts, char out[CE_TIME_LEN]);

/* ---- building blocks (also used across ce.c, ce_json.c and ce_http.c) ----------------- */

/* Fills err (when not NULL) with code and a printf-style message. */
void ce_error_setf(struct ce_error *err, enum ce_errcode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* NULL when s[0..len) is valid UTF-8, else the reason ("overlong encoding", ...). */
const char *ce_utf8_check(const void *s, size_t len);
/* Whether name is a valid attribute name: [a-z0-9]+ and not the reserved "data". */
bool ce_name_valid(const char *name);
/*
 * Checks value[0..len) (NUL-terminated at len) against the String rules and the type's
 * canonical form; `what` starts the error message ("attribute 'x'", "header ce-x").
 * Returns 0 or ERR_VALIDATION with *err filled (err may be NULL).
 */
int ce_check_value(enum ce_type type, const char *value, size_t len, const char *what,
		   struct ce_error *err);
/*
 * Sets attribute name to value[0..len) (NULL unsets); an extension gets type (an existing
 * one's type is replaced). Returns 0 or ERR_VALIDATION with *err filled (err may be NULL).
 */
int ce_set_value(struct ce_event *ev, const char *name, enum ce_type type, const char *value,
		 size_t len, struct ce_error *err);
/* Replaces the event's data with a copy of data[0..len) and sets its data_base64 flag. */
void ce_data_copy(struct ce_event *ev, const void *data, size_t len, bool base64);
/*
 * Whether data of this content type must travel as data_base64 in the JSON format: not for
 * JSON types, not for textual types holding UTF-8, and without a type only if not JSON.
 */
bool ce_data_needs_base64(const char *content_type, const void *data, size_t len);

#endif
