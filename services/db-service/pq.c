/*
 * pq.c: libpq helpers (see pq.h).
 */
#include "pq.h"

#include <ctype.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-events.h>

#include "common/err.h"
#include "common/log.h"
#include "common/trace.h"
#include "common/xalloc.h"
#include "pq_api.h"

#define SQL_WORD_MAX 64

/* Server notices (e.g. "relation already exists, skipping") go to our log, not to stderr. */
static void notice_to_log(void *arg, const char *message)
{
	size_t n = strlen(message);

	(void)arg;
	while (n > 0 && (message[n - 1] == '\n' || message[n - 1] == ' '))
		n--;
	log_debug("postgres: %.*s", (int)n, message);
}

/* The first line of libpq's current error message, for logs. */
static void first_line(const char *text, char *out, size_t size)
{
	size_t n = strcspn(text, "\n");

	if (n >= size)
		n = size - 1;
	memcpy(out, text, n);
	out[n] = '\0';
}

/*
 * Statements prepared on one connection, kept as libpq instance data of the connection: a
 * parameterized statement is parsed and planned by the server once per connection, then only
 * executed (PQexecPrepared). The list is emptied when libpq resets the connection (the server
 * forgot them) and freed with the connection.
 */
#define PQ_MAX_PREPARED 32

struct pq_prepared {
	size_t n;
	char *sql[PQ_MAX_PREPARED]; /* statement "s<i>" is sql[i] */
};

static void prepared_clear(struct pq_prepared *p)
{
	while (p && p->n)
		free(p->sql[--p->n]);
}

static int pq_event(PGEventId id, void *info, void *passthrough)
{
	(void)passthrough;
	if (id == PGEVT_REGISTER) {
		PGEventRegister *e = info;

		return pq_api_get()->setInstanceData(e->conn, pq_event,
						     xcalloc(1, sizeof(struct pq_prepared)));
	}
	if (id == PGEVT_CONNRESET) {
		PGEventConnReset *e = info;

		prepared_clear(pq_api_get()->instanceData(e->conn, pq_event));
	} else if (id == PGEVT_CONNDESTROY) {
		PGEventConnDestroy *e = info;
		struct pq_prepared *p = pq_api_get()->instanceData(e->conn, pq_event);

		prepared_clear(p);
		free(p);
	}
	return 1;
}

/*
 * The name of sql's prepared statement on c, preparing it on first use; NULL when it cannot
 * be prepared (then the caller sends it unprepared, and a real error shows up there).
 */
static const char *prepared_name(PGconn *c, const char *sql, int nparams, char name[16])
{
	struct pq_prepared *p = pq_api_get()->instanceData(c, pq_event);
	PGresult *res;
	size_t i;
	int ok;

	if (!p)
		return NULL;
	for (i = 0; i < p->n; i++)
		if (strcmp(p->sql[i], sql) == 0)
			break;
	(void)snprintf(name, 16, "s%zu", i);
	if (i < p->n)
		return name;
	if (p->n == PQ_MAX_PREPARED)
		return NULL;
	res = pq_api_get()->prepare(c, name, sql, nparams, NULL);
	ok = pq_api_get()->resultStatus(res) == PGRES_COMMAND_OK;
	pq_api_get()->clear(res);
	if (!ok)
		return NULL;
	p->sql[p->n++] = xstrdup(sql);
	return name;
}

PGconn *pq_connect(const char *conninfo, struct buf *msg)
{
	/* Earlier entries lose to later ones, so a connect_timeout in conninfo wins. */
	static const char *const keys[] = { "connect_timeout",
					    "application_name",
					    "client_encoding",
					    "keepalives_idle",
					    "keepalives_interval",
					    "keepalives_count",
					    "tcp_user_timeout",
					    "dbname",
					    NULL };
	/* Dead peers are noticed within about 30 s even when no packet says so. */
	const char *vals[] = {
		PQ_CONNECT_TIMEOUT_S, "db-service", "UTF8", "10", "5", "3", "30000", conninfo, NULL
	};
	char line[256];
	PGconn *c = pq_api_get()->connectdbParams(keys, vals, 1);

	if (pq_api_get()->status(c) == CONNECTION_OK) {
		pq_api_get()->setNoticeProcessor(c, notice_to_log, NULL);
		if (!pq_api_get()->registerEventProc(c, pq_event, "db-service prepared statements",
						     NULL))
			log_warn("postgres: statements will not be prepared on this connection");
		return c;
	}
	first_line(pq_api_get()->errorMessage(c), line, sizeof(line));
	buf_appends(msg, line[0] ? line : "cannot connect");
	pq_api_get()->finish(c);
	return NULL;
}

int pq_conninfo_check(const char *conninfo, struct buf *msg)
{
	char *why = NULL;
	PQconninfoOption *opts;

	if (!*conninfo)
		return 0;
	opts = pq_api_get()->conninfoParse(conninfo, &why);
	if (opts) {
		pq_api_get()->conninfoFree(opts);
		return 0;
	}
	buf_appends(msg, why ? why : "cannot parse the connection string");
	while (msg->len > 0 && msg->data[msg->len - 1] == '\n')
		buf_setlen(msg, msg->len - 1);
	pq_api_get()->freemem(why);
	return ERR_BAD_REQUEST;
}

int pq_alive(PGconn *c)
{
	struct pollfd pfd;

	if (pq_api_get()->status(c) != CONNECTION_OK)
		return 0;
	pfd.fd = pq_api_get()->socket(c);
	pfd.events = POLLIN;
	/* An idle connection has nothing to read unless the server is going away. */
	for (int i = 0; i < 4; i++) {
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) <= 0)
			break;
		if (!pq_api_get()->consumeInput(c))
			return 0;
	}
	return pq_api_get()->status(c) == CONNECTION_OK;
}

/* The database or the connection is not there (read-only: a standby, not the primary). */
static int is_unavailable_state(const char *state)
{
	return strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
	       strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
	       strcmp(state, "57P03") == 0 || strcmp(state, "25006") == 0;
}

static int classify(PGconn *c, const char *state)
{
	if (pq_api_get()->status(c) != CONNECTION_OK)
		return ERR_UNAVAILABLE;
	if (!state) /* an error made up by libpq itself: lost connection and the like */
		return ERR_UNAVAILABLE;
	if (is_unavailable_state(state))
		return ERR_UNAVAILABLE;
	if (strncmp(state, "40", 2) == 0) /* serialization failure, deadlock: run it again */
		return ERR_CONFLICT;
	if (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0)
		return ERR_VALIDATION;
	return ERR_INTERNAL;
}

int pq_check(PGconn *c, const PGresult *res, struct buf *msg)
{
	ExecStatusType st = res ? pq_api_get()->resultStatus(res) : PGRES_FATAL_ERROR;
	const char *state;
	char line[256];
	int err;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return 0;
	state = res ? pq_api_get()->resultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	err = classify(c, state);
	first_line(res ? pq_api_get()->resultErrorMessage(res) : pq_api_get()->errorMessage(c),
		   line, sizeof(line));
	log_warn("postgres: %s (SQLSTATE %s)", line, state ? state : "none");
	if (err == ERR_UNAVAILABLE)
		buf_appends(msg, "the database is unavailable");
	else if (err == ERR_CONFLICT)
		buf_appendf(msg, "the database rolled the transaction back, try again: %s", line);
	else if (err == ERR_VALIDATION)
		buf_appendf(msg, "rejected by the database: %s", line);
	else
		buf_appends(msg, "database error");
	return err;
}

/* ---- the CLIENT span of a query ------------------------------------------------------- */

/* Copies the identifier or keyword at s (letters, digits, '_', '.', '"') into out. */
static size_t sql_word(const char *s, char *out, size_t n)
{
	size_t len = 0;

	while (s[len] && (isalnum((unsigned char)s[len]) || strchr("_.\"", s[len])))
		len++;
	if (len >= n)
		len = n - 1;
	memcpy(out, s, len);
	out[len] = '\0';
	return len;
}

/* The word after the first whole-word, case-insensitive keyword kw in sql, or "". */
static void sql_after(const char *sql, const char *kw, char *out, size_t n)
{
	size_t k = strlen(kw);
	const char *p;

	out[0] = '\0';
	for (p = sql; *p; p++) {
		if (strncasecmp(p, kw, k) != 0 || (p > sql && !isspace((unsigned char)p[-1])) ||
		    !isspace((unsigned char)p[k]))
			continue;
		p += k;
		while (isspace((unsigned char)*p))
			p++;
		(void)sql_word(p, out, n);
		return;
	}
}

/* db.operation.name (upper case) and the table a statement works on ("" when unknown). */
static void sql_summary(const char *sql, char op[SQL_WORD_MAX], char table[SQL_WORD_MAX])
{
	size_t i;

	while (isspace((unsigned char)*sql))
		sql++;
	(void)sql_word(sql, op, SQL_WORD_MAX);
	for (i = 0; op[i]; i++)
		op[i] = (char)toupper((unsigned char)op[i]);
	table[0] = '\0';
	if (!strcmp(op, "SELECT") || !strcmp(op, "DELETE"))
		sql_after(sql, "FROM", table, SQL_WORD_MAX);
	else if (!strcmp(op, "INSERT"))
		sql_after(sql, "INTO", table, SQL_WORD_MAX);
	else if (!strcmp(op, "UPDATE"))
		sql_after(sql, "UPDATE", table, SQL_WORD_MAX);
}

/*
 * A CLIENT span for one statement, child of the thread's current span (the HTTP request).
 * Statements run outside a traced request (migrations, readiness probes) get none.
 */
static struct trace_span *query_span_start(PGconn *c, const char *sql)
{
	char op[SQL_WORD_MAX], table[SQL_WORD_MAX], name[2 * SQL_WORD_MAX + 2];
	const char *host = pq_api_get()->host(c), *port = pq_api_get()->port(c);
	struct trace_span *span = NULL;

	if (!trace_current())
		return NULL;
	sql_summary(sql, op, table);
	snprintf(name, sizeof(name), "%s%s%s", op[0] ? op : "postgresql", table[0] ? " " : "",
		 table);
	(void)trace_span_start(name, TRACE_SPAN_CLIENT, NULL, &span);
	if (!trace_span_recording(span))
		return span;
	trace_span_set_str(span, "db.system.name", "postgresql");
	trace_span_set_str(span, "db.namespace", pq_api_get()->db(c) ? pq_api_get()->db(c) : "");
	if (op[0])
		trace_span_set_str(span, "db.operation.name", op);
	if (table[0])
		trace_span_set_str(span, "db.collection.name", table);
	trace_span_set_str(span, "db.query.text", sql);
	if (host && *host)
		trace_span_set_str(span, "server.address", host);
	if (port && *port)
		trace_span_set_int(span, "server.port", strtol(port, NULL, 10));
	return span;
}

static void query_span_end(struct trace_span *span, const PGresult *res, int rc)
{
	const char *state = res ? pq_api_get()->resultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (rc) {
		if (state)
			trace_span_set_str(span, "db.response.status_code", state);
		trace_span_set_str(span, "error.type", state ? state : err_code_name(rc));
		trace_span_set_status(span, TRACE_STATUS_ERROR, NULL);
	}
	trace_span_end(span);
}

int pq_exec(PGconn *c, const char *sql, int nparams, const char *const *params, PGresult **out,
	    struct buf *msg)
{
	struct trace_span *span = query_span_start(c, sql);
	char buf[16];
	const char *name = nparams > 0 ? prepared_name(c, sql, nparams, buf) : NULL;
	PGresult *res =
	    name ? pq_api_get()->execPrepared(c, name, nparams, params, NULL, NULL, 0)
		 : pq_api_get()->execParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	int rc = pq_check(c, res, msg);

	query_span_end(span, res, rc);
	if (rc) {
		pq_api_get()->clear(res);
		*out = NULL;
		return rc;
	}
	*out = res;
	return 0;
}

int pq_run(PGconn *c, const char *sql, int nparams, const char *const *params, struct buf *msg)
{
	PGresult *res;
	int rc = pq_exec(c, sql, nparams, params, &res, msg);

	pq_api_get()->clear(res);
	return rc;
}
