/* filter.c: bad-word-filter's routes (see filter.h). */
#include "filter.h"

#include <string.h>

#include "common/http.h"
#include "common/log.h"
#include "common/step.h"
#include "common/trace.h"

#define FILTER_REPLY_TYPE   "new-review-comment"
#define FILTER_REPLY_SOURCE "book-review-broker"
#define FILTER_EXTENSION    "badwordfilter"
/* node-server's bound of a journey record's "matched" (journey.h); longer entries are left out */
#define FILTER_NOTE_MATCHED_MAX 64

/* step_run_fn: marks the review good or bad and answers the reply event. */
static int filter_review(void *arg, struct http_request *req, struct step *st)
{
	struct filter *f = arg;
	struct badword_match m;
	const char *result;
	int rc;

	result = badword_check(f->list, st->text, st->text_len, &m) ? "bad" : "good";
	trace_span_set_str(st->span, "badwordfilter.result", result);
	if (result[0] == 'b')
		log_fields(
		    LOG_INFO, json_pack("{s:s, s:s}", "event_id", st->in->id, "matched", m.entry),
		    "review %s is bad: it matches the list entry \"%s\"", st->in->id, m.entry);
	(void)json_object_set_new(st->data, "badWordResult", json_string(result));
	step_note(st, "result", json_string(result));
	if (result[0] == 'b' && strlen(m.entry) <= FILTER_NOTE_MATCHED_MAX)
		step_note(st, "matched", json_string(m.entry));
	rc = step_reply(req, st, FILTER_REPLY_TYPE, FILTER_REPLY_SOURCE,
			&(struct step_ext){ FILTER_EXTENSION, result }, 1);
	if (rc == 0)
		metrics_inc(result[0] == 'b' ? f->bad : f->good);
	return rc;
}

void filter_init(struct filter *f, const struct badword_list *list)
{
	struct metric *m =
	    metrics_counter(metrics_default(), "badwordfilter_reviews_total",
			    "Reviews checked, by result (good or bad).", METRIC_LABELS("result"));

	f->list = list;
	f->service.run = filter_review;
	f->service.arg = f;
	f->service.name = "bad-word-filter";
	f->service.journey = NULL;
	f->good = metrics_series(m, METRIC_LABELS("good"));
	f->bad = metrics_series(m, METRIC_LABELS("bad"));
}
