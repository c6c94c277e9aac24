/*
 * filter.h: bad-word-filter's HTTP API, a Sequence step (step.h) for the HTTP layer. The
 * first step of the moderation Sequence (upstream's bad-word-filter function).
 *
 *	POST /   one new-review-comment CloudEvent (binary or structured mode) whose data is
 *	         {"reviewText": "..."}; step.h says what else is refused (400/415, JSON body).
 *	         Answers 200 with the reply event in binary mode: type new-review-comment, source
 *	         book-review-broker (as upstream), the extension badwordfilter: good|bad, and the
 *	         input's data with "badWordResult": "good"|"bad" added (badword.h decides).
 *
 * Metric: badwordfilter_reviews_total{result} (good|bad). Span: the CONSUMER span "process
 * new-review-comment" with badwordfilter.result. A bad review is logged at info with the
 * list entry it matched. The route is step_routes() (step.h), with req->ctx the filter's
 * struct step_service. With JOURNEY_URL set (service.journey), each attempt is a journey
 * record (step.h) with "result" and, for a bad review, the "matched" entry.
 */
#ifndef BAD_WORD_FILTER_FILTER_H
#define BAD_WORD_FILTER_FILTER_H

#include <stddef.h>

#include "badword.h"
#include "common/metrics.h"
#include "common/step.h"

struct filter {
	struct step_service service;	 /* the route's context: runs the check */
	const struct badword_list *list; /* borrowed: loaded and freed by main */
	struct metric_series *good, *bad;
};

/* Fills f and registers its metric in metrics_default(). */
void filter_init(struct filter *f, const struct badword_list *list);

#endif
