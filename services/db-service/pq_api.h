/*
 * pq_api.h: libpq, loaded at run time (dlopen) instead of at exec.
 *
 * libpq's closure (libssl, libcrypto, gssapi/krb5, ldap, ...) costs the dynamic loader about
 * 3.5 ms of CPU per exec: more than the whole start of a bare libmicrohttpd server. So
 * db-service has no DT_NEEDED entry on libpq: main() calls pq_api_preload() first, libpq loads
 * on a background thread as soon as the HTTP server's threads exist (common/dlapi.h says why
 * not earlier), and /healthz answers meanwhile. pq.c, schema.c and store.c call libpq only
 * through the table pq_api_get() returns; the headers still come from libpq-dev (types,
 * constants, the prototypes the fields copy with __typeof__).
 *
 * db-service cannot work without libpq, exactly as before, when a missing libpq made exec fail:
 * pq_api_get() waits for the load, and if libpq.so.5 (or one of its entry points) is missing it
 * logs why and ends the process with status 127, the dynamic loader's status for a missing
 * library. So pq_api_get() never returns NULL.
 *
 * Thread-safe.
 */
#ifndef DB_SERVICE_PQ_API_H
#define DB_SERVICE_PQ_API_H

#include <stddef.h>

#include <libpq-events.h>
#include <libpq-fe.h>

#define PQ_API_SONAME "libpq.so.5"

/*
 * libpq's entry points db-service uses: each field is named as libpq's function without the
 * PQ prefix, and has that function's type.
 */
struct pq_api {
	__typeof__(PQconnectdbParams) *connectdbParams;
	__typeof__(PQfinish) *finish;
	__typeof__(PQstatus) *status;
	__typeof__(PQtransactionStatus) *transactionStatus;
	__typeof__(PQerrorMessage) *errorMessage;
	__typeof__(PQsocket) *socket;
	__typeof__(PQconsumeInput) *consumeInput;
	__typeof__(PQdb) *db;
	__typeof__(PQhost) *host;
	__typeof__(PQport) *port;
	__typeof__(PQsetNoticeProcessor) *setNoticeProcessor;
	__typeof__(PQregisterEventProc) *registerEventProc;
	__typeof__(PQsetInstanceData) *setInstanceData;
	__typeof__(PQinstanceData) *instanceData;
	__typeof__(PQconninfoParse) *conninfoParse;
	__typeof__(PQconninfoFree) *conninfoFree;
	__typeof__(PQfreemem) *freemem;
	__typeof__(PQexec) *exec;
	__typeof__(PQexecParams) *execParams;
	__typeof__(PQprepare) *prepare;
	__typeof__(PQexecPrepared) *execPrepared;
	__typeof__(PQresultStatus) *resultStatus;
	__typeof__(PQresultErrorField) *resultErrorField;
	__typeof__(PQresultErrorMessage) *resultErrorMessage;
	__typeof__(PQntuples) *ntuples;
	__typeof__(PQgetvalue) *getvalue;
	__typeof__(PQgetlength) *getlength;
	__typeof__(PQgetisnull) *getisnull;
	__typeof__(PQcmdTuples) *cmdTuples;
	__typeof__(PQclear) *clear;
};

/* Asks for libpq to be loaded on a background thread (dlapi_preload()); returns at once. */
void pq_api_preload(void);

/*
 * The table, once libpq is loaded: waits for the load started by pq_api_preload() (or runs
 * it). Never NULL: a failed load ends the process (see above).
 */
const struct pq_api *pq_api_get(void);

/* The loader itself, for tests: as dlapi_load() (common/dlapi.h) with the table above. */
int pq_api_load(const char *soname, struct pq_api *api, char *err, size_t errlen);

#endif
