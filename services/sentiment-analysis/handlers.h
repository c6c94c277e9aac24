/*
 * handlers.h: sentiment-analysis's HTTP API, as a route table for the HTTP layer (http.h).
 * The second step of the moderation Sequence (upstream's sentiment-analysis-app function).
 *
 *	POST /   one CloudEvent (binary or structured mode; in the Sequence, bad-word-filter's
 *	         reply) whose data is {"reviewText": "...", "badWordResult": ...}; step.h says
 *	         what else is refused (400/415, JSON body). Answers 200 with the reply event in
 *	         binary mode, as upstream: type moderated-comment, source sentiment-analysis,
 *	         extensions sentimentresult: positive|negative|neutral and badwordfilter (the
 *	         input's badWordResult; unset when it has none, and data.badWordResult ""), and the input's data with
 *	         "sentimentResult" and "badWordResult" set; beyond upstream, "sentimentScore"
 *	         (VADER's compound score, -1..1) in the data and the extension sentimentscore.
 *	         A badWordResult other than "good", "bad", "" or null is refused (400).
 *
 * Metric: sentiment_reviews_total{result}. Span: the CONSUMER span "process {type}" with
 * sentiment.result and sentiment.score. Every handler expects req->ctx to be the struct
 * analyser.
 */
#ifndef SENTIMENT_ANALYSIS_HANDLERS_H
#define SENTIMENT_ANALYSIS_HANDLERS_H

#include <stddef.h>

#include "common/metrics.h"
#include "common/route.h"
#include "sentiment.h"

#define ANALYSER_REPLY_TYPE   "moderated-comment"
#define ANALYSER_REPLY_SOURCE "sentiment-analysis"

struct analyser {
	const struct sentiment *sentiment; /* borrowed: loaded and freed by main */
	struct metric_series *by_label[3]; /* indexed by enum sentiment_label */
};

/* The route table (a static const struct route routes[] in handlers.c) and its size in *n. */
const struct route *handlers_routes(size_t *n);

/* Fills a and registers its metric in metrics_default(). */
void analyser_init(struct analyser *a, const struct sentiment *s);

#endif
