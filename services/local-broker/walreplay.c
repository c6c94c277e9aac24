/* walreplay.c: applying write-ahead log records to the live set (see walreplay.h). */
#include "walreplay.h"

#include <stdio.h>
#include <string.h>

void walreplay_init(struct walreplay *rp)
{
	rp->live = json_object();
	rp->bad = 0;
	rp->next_id = 1;
}

void walreplay_release(struct walreplay *rp)
{
	json_decref(rp->live);
	rp->live = NULL;
}

int walreplay_record(const char *line, size_t len, void *arg)
{
	struct walreplay *rp = arg;
	json_t *rec = json_loadb(line, len, JSON_ALLOW_NUL, NULL), *dj;
	json_int_t id = 0, attempts = 0, due = 0;
	const char *op = NULL;
	char key[32];

	if (!rec || json_unpack(rec, "{s:s,s:I}", "op", &op, "id", &id) != 0 || id < 0) {
		rp->bad++;
		goto out;
	}
	snprintf(key, sizeof(key), "%lld", (long long)id);
	if ((unsigned long long)id >= rp->next_id)
		rp->next_id = (unsigned long long)id + 1;
	if (strcmp(op, "put") == 0) {
		dj = json_object_get(rec, "delivery");
		if (json_is_object(dj))
			json_object_set(rp->live, key, dj);
		else
			rp->bad++;
	} else if (strcmp(op, "retry") == 0) {
		dj = json_object_get(rp->live, key);
		if (json_unpack(rec, "{s:I,s:I}", "attempts", &attempts, "due_ms", &due) != 0)
			rp->bad++;
		else if (dj) {
			json_object_set_new(dj, "attempts", json_integer(attempts));
			json_object_set_new(dj, "due_ms", json_integer(due));
		}
	} else if (strcmp(op, "done") == 0) {
		json_object_del(rp->live, key);
	} else {
		rp->bad++;
	}
out:
	json_decref(rec);
	return 0;
}
