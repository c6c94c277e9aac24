/*
 * analyser.h: sentiment-analysis's HTTP API, a Sequence step (step.h) for the HTTP layer.
 * The second step of the moderation Sequence (upstream's sentiment-analysis-app function).
 *
 *	POST /   one CloudEvent (binary or structured mode; in the Sequence, bad-word-filter's
 *	         reply) whose data is {"reviewText": "...", "badWordResult": ...}; step.h says
 *	         what else is refused (400/415, JSON body). Answers 200 with the reply event in
 *	         binary mode, as upstream: type moderated-comment, source sentiment-analysis,
 *	         extensions sentimentresult: positive|negative|neutral and badwordfilter (the
 *	         input's badWordResult; unset when it has none, and data.badWordResult ""),
 *	         and the input's data with "sentimentResult" and "badWordResult" set; beyond
 *	         upstream, "sentimentScore" (VADER's compound score, -1..1) in the data and the
 *	         extension sentimentscore.
 *	         A badWordResult other than "good", "bad", "" or null is refused (400).
 *
 * Metric: sentiment_reviews_total{result}. Span: the CONSUMER span "process {type}" with
 * sentiment.result and sentiment.score. The route is step_routes() (step.h), with req->ctx
 * the analyser's struct step_service. With JOURNEY_URL set (service.journey), each attempt
 * is a journey record (step.h) with "result" and "score".
 */
#ifndef SENTIMENT_ANALYSIS_ANALYSER_H
#define SENTIMENT_ANALYSIS_ANALYSER_H

#include <stddef.h>

#include "common/metrics.h"
#include "common/step.h"
#include "sentiment.h"

struct analyser {
	const struct sentiment *sentiment; /* borrowed: loaded and freed by main */
	struct metric_series *by_label[3]; /* indexed by enum sentiment_label */
	struct step_service service;	   /* the route's context: runs the scoring */
};

/* Fills a and registers its metric in metrics_default(). */
void analyser_init(struct analyser *a, const struct sentiment *s);

#endif
