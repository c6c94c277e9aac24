/*
 * Unit tests of services/db-service/pq.c that need no server: connection-string checking.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../../services/db-service/pq.h"
#include "../../../services/db-service/pq_api.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/xalloc.h"

static const struct {
	const char *conninfo;
	int rc;
} conninfo_cases[] = {
	{ "", 0 },
	{ "postgresql://postgres@127.0.0.1:5432/bookstore", 0 },
	{ "postgres://user:secret@db.example:6543/x?sslmode=disable&connect_timeout=1", 0 },
	{ "host=/tmp port=5432 dbname=bookstore", 0 },
	{ "postgresql:///bookstore?host=/var/run/postgresql", 0 },
	{ "postgresql://[bad", ERR_BAD_REQUEST },
	{ "host=x bogus=1", ERR_BAD_REQUEST },
	{ "postgresql://h/db?nosuchoption=1", ERR_BAD_REQUEST },
	{ "host='unterminated", ERR_BAD_REQUEST },
};

Test(pq, conninfo_check_table)
{
	for (size_t i = 0; i < ARRAY_SIZE(conninfo_cases); i++) {
		struct buf msg;
		int rc;

		buf_init(&msg, 1024);
		rc = pq_conninfo_check(conninfo_cases[i].conninfo, &msg);
		cr_expect_eq(rc, conninfo_cases[i].rc, "row %zu (%s): rc %d (%s)", i,
			     conninfo_cases[i].conninfo, rc, msg.data);
		if (rc) {
			cr_expect_gt(msg.len, 0, "row %zu: a reason", i);
			cr_expect_neq(msg.data[msg.len - 1], '\n', "row %zu: no trailing newline",
				      i);
		}
		buf_release(&msg);
	}
}

/* libpq is not linked (pq_api.h): every entry point of the table comes from the dlopen'ed one. */
Test(pq, libpq_loads_at_run_time_with_every_entry)
{
	const struct pq_api *api = pq_api_get();
	const void *const *fn = (const void *const *)(const void *)api;
	struct pq_api loaded;
	char err[256];

	for (size_t i = 0; i < sizeof(*api) / sizeof(void *); i++)
		cr_expect_not_null(fn[i], "entry %zu", i);
	cr_assert_eq(api->status(NULL), CONNECTION_BAD);
	cr_assert_eq(pq_api_load("libm.so.6", &loaded, err, sizeof(err)), -1);
	cr_assert(strstr(err, "libm.so.6 has no symbol PQconnectdbParams"), "err: %s", err);
}
