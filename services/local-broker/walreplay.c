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

/* A live entry for a put line: its text, which walreplay_delivery() parses again. */
static json_t *entry_new(const char *line, size_t len)
{
	json_t *text = json_stringn(line, len);

	return text ? json_pack("{s:o}", "line", text) : NULL;
}

int walreplay_record(const char *line, size_t len, void *arg)
{
	struct walreplay *rp = arg;
	json_t *rec = json_loadb(line, len, JSON_ALLOW_NUL, NULL), *entry;
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
		entry =
		    json_is_object(json_object_get(rec, "delivery")) ? entry_new(line, len) : NULL;
		if (entry)
			json_object_set_new(rp->live, key, entry);
		else
			rp->bad++;
	} else if (strcmp(op, "retry") == 0) {
		entry = json_object_get(rp->live, key);
		if (json_unpack(rec, "{s:I,s:I}", "attempts", &attempts, "due_ms", &due) != 0)
			rp->bad++;
		else if (entry) {
			json_object_set_new(entry, "attempts", json_integer(attempts));
			json_object_set_new(entry, "due_ms", json_integer(due));
		}
	} else if (strcmp(op, "done") == 0) {
		json_object_del(rp->live, key);
	} else {
		rp->bad++;
	}
out:
	json_decref(rec); /* the put's tree too: only its text stays */
	return 0;
}

json_t *walreplay_delivery(json_t *entry)
{
	const char *line = json_string_value(json_object_get(entry, "line"));
	json_t *rec, *dj, *v;

	if (!line)
		return NULL;
	rec = json_loadb(line, json_string_length(json_object_get(entry, "line")), JSON_ALLOW_NUL,
			 NULL);
	dj = json_incref(json_object_get(rec, "delivery"));
	json_decref(rec);
	if (!json_is_object(dj)) {
		json_decref(dj);
		return NULL;
	}
	if ((v = json_object_get(entry, "attempts")) != NULL)
		json_object_set(dj, "attempts", v);
	if ((v = json_object_get(entry, "due_ms")) != NULL)
		json_object_set(dj, "due_ms", v);
	return dj;
}
