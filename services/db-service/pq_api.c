/*
 * pq_api.c: the table of libpq's entry points in struct pq_api, loaded by dlapi.h.
 */
#include "pq_api.h"

#include <unistd.h>

#include "common/dlapi.h"
#include "common/log.h"
#include "common/xalloc.h"

#define SYM(name) DLAPI_SYM(struct pq_api, name, "PQ" #name)

static const struct dlapi_sym syms[] = {
	SYM(connectdbParams),
	SYM(finish),
	SYM(status),
	SYM(transactionStatus),
	SYM(errorMessage),
	SYM(socket),
	SYM(consumeInput),
	SYM(db),
	SYM(host),
	SYM(port),
	SYM(setNoticeProcessor),
	SYM(registerEventProc),
	SYM(setInstanceData),
	SYM(instanceData),
	SYM(conninfoParse),
	SYM(conninfoFree),
	SYM(freemem),
	SYM(exec),
	SYM(execParams),
	SYM(prepare),
	SYM(execPrepared),
	SYM(resultStatus),
	SYM(resultErrorField),
	SYM(resultErrorMessage),
	SYM(ntuples),
	SYM(getvalue),
	SYM(getlength),
	SYM(getisnull),
	SYM(cmdTuples),
	SYM(clear),
};

static struct pq_api table;
static struct dlapi lib = DLAPI_INIT(PQ_API_SONAME, syms, ARRAY_SIZE(syms), &table);

int pq_api_load(const char *soname, struct pq_api *api, char *err, size_t errlen)
{
	return dlapi_load_like(&lib, soname, api, err, errlen);
}

void pq_api_preload(void)
{
	dlapi_preload(&lib);
}

const struct pq_api *pq_api_get(void)
{
	const struct pq_api *api = dlapi_get(&lib);

	if (!api) {
		log_msg(LOG_ERROR, "db-service cannot run without libpq: exiting");
		_exit(127);
	}
	return api;
}
