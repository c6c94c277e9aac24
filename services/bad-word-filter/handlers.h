/*
 * handlers.h: bad-word-filter's HTTP API, as a route table for the HTTP layer (http.h). The
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
 * list entry it matched. Every handler expects req->ctx to be the struct filter.
 */
#ifndef BAD_WORD_FILTER_HANDLERS_H
#define BAD_WORD_FILTER_HANDLERS_H

#include <stddef.h>

#include "badword.h"
#include "common/metrics.h"
#include "common/route.h"

#define FILTER_REPLY_TYPE   "new-review-comment"
#define FILTER_REPLY_SOURCE "book-review-broker"
#define FILTER_EXTENSION    "badwordfilter"

struct filter {
	const struct badword_list *list; /* borrowed: loaded and freed by main */
	struct metric_series *good, *bad;
};

/* The route table (a static const struct route routes[] in handlers.c) and its size in *n. */
const struct route *handlers_routes(size_t *n);

/* Fills f and registers its metric in metrics_default(). */
void filter_init(struct filter *f, const struct badword_list *list);

#endif
