/* analyser.c: sentiment-analysis's routes (see analyser.h). */
#include "analyser.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/http.h"
#include "common/step.h"
#include "common/trace.h"

#define ANALYSER_REPLY_TYPE   "moderated-comment"
#define ANALYSER_REPLY_SOURCE "sentiment-analysis"

/* badWordResult is absent, null, "", "good" or "bad" (what bad-word-filter writes). */
static bool bad_word_result_valid(const json_t *v)
{
	const char *s = json_string_value(v);

	if (!v || json_is_null(v))
		return true;
	return s && (!*s || !strcmp(s, "good") || !strcmp(s, "bad"));
}

/* step_run_fn: scores the review and answers the reply event. */
static int analyse_review(void *arg, struct http_request *req, struct step *st)
{
	struct analyser *a = arg;
	struct sentiment_score sc;
	const char *label, *bad;
	char score[32];
	int rc;

	if (!bad_word_result_valid(json_object_get(st->data, "badWordResult")))
		return step_refuse(req, st, ERR_VALIDATION,
				   "data.badWordResult must be \"good\", \"bad\" or absent");
	sentiment_analyze(a->sentiment, st->text, st->text_len, &sc);
	label = sentiment_label_name(sc.label);
	snprintf(score, sizeof(score), "%.4f", sc.compound);
	trace_span_set_str(st->span, "sentiment.result", label);
	trace_span_set_double(st->span, "sentiment.score", sc.compound);
	bad = json_string_value(json_object_get(st->data, "badWordResult"));
	if (!bad)
		bad = "";
	(void)json_object_set_new(st->data, "badWordResult", json_string(bad));
	(void)json_object_set_new(st->data, "sentimentResult", json_string(label));
	(void)json_object_set_new(st->data, "sentimentScore", json_real(sc.compound));
	bad = json_string_value(json_object_get(st->data, "badWordResult"));
	step_note(st, "result", json_string(label));
	if (sc.compound >= -1.0 && sc.compound <= 1.0)
		step_note(st, "score", json_real(sc.compound));
	rc = step_reply(req, st, ANALYSER_REPLY_TYPE, ANALYSER_REPLY_SOURCE,
			(const struct step_ext[]){ { "sentimentresult", label },
						   { "sentimentscore", score },
						   { "badwordfilter", bad[0] ? bad : NULL } },
			3);
	if (rc == 0)
		metrics_inc(a->by_label[sc.label]);
	return rc;
}

void analyser_init(struct analyser *a, const struct sentiment *s)
{
	struct metric *m = metrics_counter(
	    metrics_default(), "sentiment_reviews_total",
	    "Reviews scored, by result (positive, negative, neutral).", METRIC_LABELS("result"));

	a->service.run = analyse_review;
	a->service.arg = a;
	a->service.name = "sentiment-analysis";
	a->service.journey = NULL;
	a->sentiment = s;
	for (int l = SENTIMENT_NEUTRAL; l <= SENTIMENT_NEGATIVE; l++)
		a->by_label[l] =
		    metrics_series(m, METRIC_LABELS(sentiment_label_name((enum sentiment_label)l)));
}
