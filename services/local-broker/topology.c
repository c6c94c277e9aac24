/*
 * topology.c: reading Broker, Trigger and Sequence manifests with libyaml (see topology.h).
 *
 * The YAML is loaded into libyaml's document tree and read by schema: only the paths the
 * broker needs are visited, so aliases cannot make the walk loop, and filter nesting is
 * bounded (depth and node count) so no manifest can make the tree explode.
 */
#include "topology.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "common/duration.h"
#include "common/err.h"
#include "common/text.h"
#include "common/xalloc.h"

#define MAX_FILTER_DEPTH   16
#define MAX_FILTER_NODES   1000
#define MAX_MANIFEST_BYTES ((size_t)4 * 1024 * 1024)

/* What is being read, for error messages. */
struct yctx {
	yaml_document_t *doc;
	struct topology *topo;
	const char *origin;
	const char *kind;
	const char *ns, *name;
	struct buf *err;
	size_t budget;	   /* filter nodes left */
	const char *dpath; /* the delivery block being read, for errors ("spec.delivery") */
};

static int fail(struct yctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct yctx *c, const char *fmt, ...)
{
	va_list ap;

	buf_appendf(c->err, "%s: %s %s/%s: ", c->origin, c->kind, c->ns ? c->ns : "?",
		    c->name ? c->name : "?");
	va_start(ap, fmt);
	buf_vappendf(c->err, fmt, ap);
	va_end(ap);
	return ERR_VALIDATION;
}

/* ---- libyaml tree helpers ----------------------------------------------------------------- */

static int is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	v = (const char *)n->data.scalar.value;
	return !strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

/* The scalar's text, or NULL when n is not a scalar (or holds a NUL byte). */
static const char *scalar(const yaml_node_t *n)
{
	const char *v;

	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	v = (const char *)n->data.scalar.value;
	return strlen(v) == n->data.scalar.length ? v : NULL;
}

/* The value of key in mapping n, or NULL when n is no mapping, the key is absent or null. */
static yaml_node_t *map_get(yaml_document_t *doc, const yaml_node_t *n, const char *key)
{
	const yaml_node_pair_t *p;

	if (!n || n->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const char *k = scalar(yaml_document_get_node(doc, p->key));
		yaml_node_t *v;

		if (!k || strcmp(k, key) != 0)
			continue;
		v = yaml_document_get_node(doc, p->value);
		return v && !is_null(v) ? v : NULL;
	}
	return NULL;
}

static size_t map_size(const yaml_node_t *n)
{
	return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

/* ---- destinations and delivery ------------------------------------------------------------ */

static const char *service_url(const struct topology *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->nservices; i++) {
		if (strcmp(t->services[i].name, name) == 0)
			return t->services[i].url;
	}
	return NULL;
}

static int is_http_url(const char *s)
{
	const char *authority = text_url_authority(s);

	return authority && *authority;
}

static char *join_url(const char *base, const char *path)
{
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	return xasprintf("%.*s%s%s", (int)n, base, path[0] == '/' ? "" : "/", path);
}

/* The channel in front of step i of Sequence seq (EV: SequenceChannelName()). */
static char *sequence_channel(const char *seq, size_t i)
{
	return xasprintf("%s-kn-sequence-%zu", seq, i);
}

/*
 * A ref to a Broker or a Sequence: the broker's own ingress for it, and a target that
 * topology_finish() checks. *owned gets the URL.
 */
static int self_ref_url(struct yctx *c, const char *kind, const char *ns, const char *name,
			const char *path, char **owned)
{
	struct topology *t = c->topo;
	struct topo_target tg;
	struct buf what;

	if (!t->self)
		return fail(c, "%s.ref: a %s destination needs the broker's own URL", path, kind);
	tg.ns = xstrdup(ns);
	tg.name = strcmp(kind, "Broker") == 0 ? xstrdup(name) : sequence_channel(name, 0);
	buf_init(&what, BUF_NOCAP);
	buf_appendf(&what, "%s: %s %s/%s: %s.ref: %s %s/%s", c->origin, c->kind, c->ns, c->name,
		    path, kind, ns, name);
	tg.what = xstrdup(what.data);
	buf_release(&what);
	*owned = xasprintf("%s/%s/%s", t->self, tg.ns, tg.name);
	XGROW(t->targets, t->ntargets + 1, t->atargets);
	t->targets[t->ntargets++] = tg;
	return 0;
}

/* *out is a mapped service's URL, or *owned a URL on the broker's own ingress. */
static int ref_url(struct yctx *c, const yaml_node_t *ref, const char *path, const char **out,
		   char **owned)
{
	const char *kind = scalar(map_get(c->doc, ref, "kind"));
	const char *name = scalar(map_get(c->doc, ref, "name"));
	const char *ns = scalar(map_get(c->doc, ref, "namespace"));

	if (ref->type != YAML_MAPPING_NODE || !name || !name[0])
		return fail(c, "%s.ref: needs a name", path);
	if (kind && (!strcmp(kind, "Broker") || !strcmp(kind, "Sequence")))
		return self_ref_url(c, kind, ns && ns[0] ? ns : c->ns, name, path, owned);
	if (kind && strcmp(kind, "Service") != 0)
		return fail(c,
			    "%s.ref: kind %s is not supported (Knative Services, Brokers and "
			    "Sequences)",
			    path, kind);
	*out = service_url(c->topo, name);
	if (!*out)
		return fail(c, "%s.ref: service '%s' is not mapped in BROKER_SERVICES", path, name);
	return 0;
}

static int parse_destination(struct yctx *c, const yaml_node_t *n, const char *path, char **out)
{
	const yaml_node_t *ref = map_get(c->doc, n, "ref");
	const yaml_node_t *urin = map_get(c->doc, n, "uri");
	const char *uri = scalar(urin), *base = NULL;
	char *owned = NULL;

	if (n->type != YAML_MAPPING_NODE)
		return fail(c, "%s: must be an object with ref and/or uri", path);
	if (urin && !uri)
		return fail(c, "%s.uri: must be a string", path);
	if (!ref && !uri)
		return fail(c, "%s: needs ref or uri", path);
	if (ref && ref_url(c, ref, path, &base, &owned))
		return ERR_VALIDATION;
	if (!ref && !is_http_url(uri))
		return fail(c, "%s.uri: '%s' is not an absolute http(s) URL", path, uri);
	if (owned)
		base = owned;
	if (base)
		*out = uri ? join_url(base, uri) : xstrdup(base);
	else
		*out = xstrdup(uri);
	free(owned);
	return 0;
}

static int parse_retry(struct yctx *c, const yaml_node_t *n, long long *out)
{
	const char *s = scalar(n);
	char *end;
	long long v;

	if (!s)
		return fail(c, "%s.retry: must be an integer", c->dpath);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT32_MAX)
		return fail(c, "%s.retry: must be an integer >= 0 (got '%s')", c->dpath, s);
	*out = v;
	return 0;
}

static int parse_duration(struct yctx *c, const yaml_node_t *n, const char *field, long long *out)
{
	const char *s = scalar(n), *why = "not a string";

	if (!s || duration_parse_why(s, out, &why))
		return fail(c, "%s.%s: '%s' is not an ISO-8601 duration (%s)", c->dpath, field,
			    s ? s : "", why);
	return 0;
}

/* Key field of delivery block n into *out: 1 when it is a, 2 when it is b, 0 when absent. */
static int parse_enum(struct yctx *c, const yaml_node_t *n, const char *field, const char *a,
		      const char *b, int *out)
{
	const yaml_node_t *v = map_get(c->doc, n, field);
	const char *s = scalar(v);

	*out = 0;
	if (!v)
		return 0;
	if (s && !strcmp(s, a))
		*out = 1;
	else if (s && !strcmp(s, b))
		*out = 2;
	else
		return fail(c, "%s.%s: must be %s or %s (got '%s')", c->dpath, field, a, b,
			    s ? s : "");
	return 0;
}

/* The delivery block of spec (dpath names it in errors; NULL: "spec.delivery"). */
static int parse_delivery_at(struct yctx *c, const yaml_node_t *spec, const char *dpath,
			     struct delivery_spec *d)
{
	const yaml_node_t *n = map_get(c->doc, spec, "delivery"), *v;
	char dls[300];
	long long ms;
	int e = 0;

	c->dpath = dpath ? dpath : "spec.delivery";
	snprintf(dls, sizeof(dls), "%s.deadLetterSink", c->dpath);
	d->delay_ms = -1;
	if (!n)
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return fail(c, "%s: must be an object", c->dpath);
	d->set = true;
	if ((v = map_get(c->doc, n, "retry")) && parse_retry(c, v, &d->retry))
		return ERR_VALIDATION;
	if (parse_enum(c, n, "backoffPolicy", "linear", "exponential", &e))
		return ERR_VALIDATION;
	d->policy = e == 1 ? BACKOFF_LINEAR : e == 2 ? BACKOFF_EXPONENTIAL : BACKOFF_NONE;
	if ((v = map_get(c->doc, n, "backoffDelay")) &&
	    parse_duration(c, v, "backoffDelay", &d->delay_ms))
		return ERR_VALIDATION;
	if ((v = map_get(c->doc, n, "timeout"))) {
		if (parse_duration(c, v, "timeout", &d->timeout_ms))
			return ERR_VALIDATION;
		if (d->timeout_ms == 0)
			return fail(c, "%s.timeout: must not be zero", c->dpath);
	}
	/* retryAfterMax needs the delivery-retryafter feature, disabled by default: checked only. */
	if ((v = map_get(c->doc, n, "retryAfterMax")) && parse_duration(c, v, "retryAfterMax", &ms))
		return ERR_VALIDATION;
	if (parse_enum(c, n, "format", "json", "binary", &e))
		return ERR_VALIDATION;
	d->format = e == 1 ? FORMAT_JSON : FORMAT_BINARY;
	if ((v = map_get(c->doc, n, "deadLetterSink")) && parse_destination(c, v, dls, &d->dls_url))
		return ERR_VALIDATION;
	return 0;
}

static int parse_delivery(struct yctx *c, const yaml_node_t *spec, struct delivery_spec *d)
{
	return parse_delivery_at(c, spec, NULL, d);
}

static void delivery_spec_release(struct delivery_spec *d)
{
	free(d->dls_url);
	d->dls_url = NULL;
}

/* ---- filters ------------------------------------------------------------------------------ */

static int parse_filter(struct yctx *c, const yaml_node_t *n, const char *path, int depth,
			struct filter **out);

static int take_budget(struct yctx *c, const char *path)
{
	if (c->budget == 0)
		return fail(c, "%s: more than %d filter expressions", path, MAX_FILTER_NODES);
	c->budget--;
	return 0;
}

static int parse_leaf(struct yctx *c, const yaml_node_t *n, const char *path, enum filter_kind kind,
		      struct filter **out)
{
	const yaml_node_pair_t *p;
	const char *k, *v;

	if (!n || n->type != YAML_MAPPING_NODE || map_size(n) != 1)
		return fail(c, "%s: must hold exactly one attribute", path);
	p = n->data.mapping.pairs.start;
	k = scalar(yaml_document_get_node(c->doc, p->key));
	v = scalar(yaml_document_get_node(c->doc, p->value));
	if (!k || !filter_attr_name_valid(k))
		return fail(c, "%s: invalid attribute name '%s' (must match ^[a-z][a-z0-9]*$)",
			    path, k ? k : "");
	if (!v || !v[0])
		return fail(c, "%s.%s: the value must be a non-empty string", path, k);
	*out = filter_new(kind, k, v);
	return 0;
}

static int parse_group(struct yctx *c, const yaml_node_t *n, const char *path, int depth,
		       enum filter_kind kind, struct filter **out)
{
	const yaml_node_item_t *it;
	char sub[256];
	int i = 0;

	if (!n || n->type != YAML_SEQUENCE_NODE)
		return fail(c, "%s: must be a list of filters", path);
	*out = filter_new(kind, NULL, NULL);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		struct filter *kid = NULL;

		snprintf(sub, sizeof(sub), "%s[%d]", path, i);
		if (parse_filter(c, yaml_document_get_node(c->doc, *it), sub, depth + 1, &kid)) {
			filter_free(*out);
			*out = NULL;
			return ERR_VALIDATION;
		}
		if (kid) /* NULL: an empty all/any list, which EV leaves out of the list */
			filter_add(*out, kid);
	}
	return 0;
}

/* An all/any dialect: an empty list is no filter at all (NULL), as EV materializes it. */
static int parse_list_dialect(struct yctx *c, const yaml_node_t *n, const char *path, int depth,
			      enum filter_kind kind, struct filter **out)
{
	if (n && n->type == YAML_SEQUENCE_NODE &&
	    n->data.sequence.items.top == n->data.sequence.items.start) {
		*out = NULL;
		return 0;
	}
	return parse_group(c, n, path, depth, kind, out);
}

/* The Subscriptions API dialects, in the order of dialects[]. */
enum dialect { D_EXACT, D_PREFIX, D_SUFFIX, D_ALL, D_ANY, D_NOT, D_CESQL };
static const char *const dialects[] = { "exact", "prefix", "suffix", "all", "any", "not", "cesql" };

/* n's one dialect (its index in dialects[]) with its value in *value, or ERR_VALIDATION. */
static int filter_dialect(struct yctx *c, const yaml_node_t *n, const char *path,
			  const yaml_node_t **value)
{
	const yaml_node_pair_t *p;
	const char *name;

	if (!n || n->type != YAML_MAPPING_NODE || map_size(n) != 1)
		return fail(c,
			    "%s: must use exactly one dialect (exact, prefix, suffix, all, any, "
			    "not, cesql)",
			    path);
	p = n->data.mapping.pairs.start;
	name = scalar(yaml_document_get_node(c->doc, p->key));
	*value = yaml_document_get_node(c->doc, p->value);
	for (size_t i = 0; name && i < ARRAY_SIZE(dialects); i++) {
		if (strcmp(name, dialects[i]) == 0)
			return (int)i;
	}
	return fail(c, "%s: unknown filter dialect '%s'", path, name ? name : "");
}

static int parse_filter(struct yctx *c, const yaml_node_t *n, const char *path, int depth,
			struct filter **out)
{
	const yaml_node_t *v = NULL;
	struct filter *neg;
	char sub[256];
	int d;

	if (depth > MAX_FILTER_DEPTH)
		return fail(c, "%s: filters nested deeper than %d", path, MAX_FILTER_DEPTH);
	if (take_budget(c, path) || (d = filter_dialect(c, n, path, &v)) < 0)
		return ERR_VALIDATION;
	snprintf(sub, sizeof(sub), "%s.%s", path, dialects[d]);
	switch ((enum dialect)d) {
	case D_EXACT:
		return parse_leaf(c, v, sub, FILTER_EXACT, out);
	case D_PREFIX:
		return parse_leaf(c, v, sub, FILTER_PREFIX, out);
	case D_SUFFIX:
		return parse_leaf(c, v, sub, FILTER_SUFFIX, out);
	case D_ALL:
		return parse_list_dialect(c, v, sub, depth, FILTER_ALL, out);
	case D_ANY:
		return parse_list_dialect(c, v, sub, depth, FILTER_ANY, out);
	case D_CESQL:
		return fail(c, "%s: CloudEvents SQL filters are not supported by the local broker",
			    sub);
	case D_NOT:
		break;
	}
	if (parse_filter(c, v, sub, depth + 1, out))
		return ERR_VALIDATION;
	neg = filter_new(FILTER_NOT, NULL, NULL);
	if (*out) /* else NOT of no filter: no filter, as in EV */
		filter_add(neg, *out);
	*out = neg;
	return 0;
}

/* spec.filter.attributes → an ALL of ATTRIBUTE leaves (NULL when absent or empty). */
static int parse_attributes(struct yctx *c, const yaml_node_t *spec, struct filter **out)
{
	const yaml_node_t *f = map_get(c->doc, spec, "filter"), *a;
	const yaml_node_pair_t *p;

	*out = NULL;
	if (!f)
		return 0;
	a = map_get(c->doc, f, "attributes");
	if (f->type != YAML_MAPPING_NODE || (a && a->type != YAML_MAPPING_NODE))
		return fail(c, "spec.filter: must be an object with an attributes map");
	if (!a || map_size(a) == 0)
		return 0;
	*out = filter_new(FILTER_ALL, NULL, NULL);
	for (p = a->data.mapping.pairs.start; p < a->data.mapping.pairs.top; p++) {
		const char *k = scalar(yaml_document_get_node(c->doc, p->key));
		const yaml_node_t *vn = yaml_document_get_node(c->doc, p->value);
		const char *v = vn && is_null(vn) ? "" : scalar(vn);

		if (!k || !filter_attr_name_valid(k)) {
			fail(c,
			     "spec.filter.attributes: invalid attribute name '%s' (must match "
			     "^[a-z][a-z0-9]*$)",
			     k ? k : "");
			goto fail;
		}
		if (!v) {
			fail(c, "spec.filter.attributes.%s: the value must be a string", k);
			goto fail;
		}
		filter_add(*out, filter_new(FILTER_ATTRIBUTE, k, v));
	}
	return 0;
fail:
	filter_free(*out);
	*out = NULL;
	return ERR_VALIDATION;
}

/* The Trigger's filter: non-empty spec.filters overrides spec.filter. */
static int parse_trigger_filter(struct yctx *c, const yaml_node_t *spec, struct filter **out)
{
	const yaml_node_t *fs = map_get(c->doc, spec, "filters");
	struct filter *legacy = NULL;

	*out = NULL;
	c->budget = MAX_FILTER_NODES;
	if (parse_attributes(c, spec, &legacy))
		return ERR_VALIDATION;
	if (!fs || (fs->type == YAML_SEQUENCE_NODE &&
		    fs->data.sequence.items.top == fs->data.sequence.items.start)) {
		*out = legacy;
		return 0;
	}
	filter_free(legacy);
	return parse_group(c, fs, "spec.filters", 0, FILTER_ALL, out);
}

/* ---- objects ------------------------------------------------------------------------------ */

static int load_broker(struct yctx *c, const yaml_node_t *spec)
{
	struct topology *t = c->topo;
	struct topo_broker b = { 0 };

	if (topology_broker(t, c->ns, c->name))
		return fail(c, "defined twice");
	if (parse_delivery(c, spec, &b.delivery)) {
		delivery_spec_release(&b.delivery);
		return ERR_VALIDATION;
	}
	b.ns = xstrdup(c->ns);
	b.name = xstrdup(c->name);
	XGROW(t->brokers, t->nbrokers + 1, t->abrokers);
	t->brokers[t->nbrokers++] = b;
	return 0;
}

static void trigger_release(struct topo_trigger *tr)
{
	free(tr->ns);
	free(tr->name);
	free(tr->broker);
	free(tr->subscriber);
	free(tr->reply);
	filter_free(tr->filter);
	delivery_spec_release(&tr->own);
}

static int load_trigger(struct yctx *c, const yaml_node_t *spec)
{
	struct topology *t = c->topo;
	struct topo_trigger tr = { 0 };
	const char *broker = scalar(map_get(c->doc, spec, "broker"));
	const yaml_node_t *sub = map_get(c->doc, spec, "subscriber");

	if (topology_trigger(t, c->ns, c->name))
		return fail(c, "defined twice");
	if (!broker || !broker[0])
		return fail(c, "spec.broker: required");
	if (!sub)
		return fail(c, "spec.subscriber: required");
	if (parse_destination(c, sub, "spec.subscriber", &tr.subscriber) ||
	    parse_trigger_filter(c, spec, &tr.filter) || parse_delivery(c, spec, &tr.own)) {
		trigger_release(&tr);
		return ERR_VALIDATION;
	}
	tr.ns = xstrdup(c->ns);
	tr.name = xstrdup(c->name);
	tr.broker = xstrdup(broker);
	XGROW(t->triggers, t->ntriggers + 1, t->atriggers);
	t->triggers[t->ntriggers++] = tr;
	return 0;
}

static void broker_release(struct topo_broker *b)
{
	free(b->ns);
	free(b->name);
	delivery_spec_release(&b->delivery);
}

/* spec.reply: only a ref to a Broker of the Sequence's namespace. *out gets its name. */
static int parse_sequence_reply(struct yctx *c, const yaml_node_t *spec, const char **out)
{
	const yaml_node_t *reply = map_get(c->doc, spec, "reply"), *ref;
	const char *kind, *ns;

	*out = NULL;
	if (!reply)
		return 0;
	ref = map_get(c->doc, reply, "ref");
	kind = scalar(map_get(c->doc, ref, "kind"));
	ns = scalar(map_get(c->doc, ref, "namespace"));
	if (reply->type != YAML_MAPPING_NODE || !ref || ref->type != YAML_MAPPING_NODE ||
	    map_get(c->doc, reply, "uri") || !kind || strcmp(kind, "Broker") != 0)
		return fail(c, "spec.reply: the local broker supports only a ref to a Broker");
	if (ns && ns[0] && strcmp(ns, c->ns) != 0)
		return fail(c, "spec.reply.ref: the Broker must be in the Sequence's namespace");
	*out = scalar(map_get(c->doc, ref, "name"));
	if (!*out || !(*out)[0])
		return fail(c, "spec.reply.ref: needs a name");
	return 0;
}

/* Step i: its channel and its Subscription (see topology.h). */
static int load_step(struct yctx *c, const yaml_node_t *step, const yaml_node_t *tmpl_spec,
		     size_t i, size_t n, const char *reply)
{
	struct topology *t = c->topo;
	struct topo_broker ch = { .kind = TOPO_CHANNEL };
	struct topo_trigger tr = { .step = true };
	char *name = sequence_channel(c->name, i);
	char path[64], dpath[80];

	snprintf(path, sizeof(path), "spec.steps[%zu]", i);
	snprintf(dpath, sizeof(dpath), "%s.delivery", path);
	if (topology_broker(t, c->ns, name) || topology_trigger(t, c->ns, name)) {
		fail(c, "%s: its channel %s/%s is defined twice", path, c->ns, name);
		goto fail;
	}
	if (!step || step->type != YAML_MAPPING_NODE) {
		fail(c, "%s: must be an object with ref and/or uri", path);
		goto fail;
	}
	if (parse_delivery_at(c, tmpl_spec, "spec.channelTemplate.spec.delivery", &ch.delivery) ||
	    parse_destination(c, step, path, &tr.subscriber) ||
	    parse_delivery_at(c, step, dpath, &tr.own))
		goto fail;
	ch.ns = xstrdup(c->ns);
	ch.name = xstrdup(name);
	tr.ns = xstrdup(c->ns);
	tr.name = xstrdup(name);
	tr.broker = name;
	if (i + 1 < n)
		tr.reply = sequence_channel(c->name, i + 1);
	else if (reply)
		tr.reply = xstrdup(reply);
	XGROW(t->brokers, t->nbrokers + 1, t->abrokers);
	t->brokers[t->nbrokers++] = ch;
	XGROW(t->triggers, t->ntriggers + 1, t->atriggers);
	t->triggers[t->ntriggers++] = tr;
	return 0;
fail:
	free(name);
	broker_release(&ch);
	trigger_release(&tr);
	return ERR_VALIDATION;
}

static int load_sequence(struct yctx *c, const yaml_node_t *spec)
{
	const yaml_node_t *steps = map_get(c->doc, spec, "steps");
	const yaml_node_t *tmpl = map_get(c->doc, spec, "channelTemplate");
	const char *reply = NULL;
	size_t i, n;

	if (!steps || steps->type != YAML_SEQUENCE_NODE ||
	    steps->data.sequence.items.top == steps->data.sequence.items.start)
		return fail(c, "spec.steps: must be a non-empty list");
	if (tmpl && tmpl->type != YAML_MAPPING_NODE)
		return fail(c, "spec.channelTemplate: must be an object");
	if (parse_sequence_reply(c, spec, &reply))
		return ERR_VALIDATION;
	n = (size_t)(steps->data.sequence.items.top - steps->data.sequence.items.start);
	for (i = 0; i < n; i++) {
		if (load_step(c,
			      yaml_document_get_node(c->doc, steps->data.sequence.items.start[i]),
			      map_get(c->doc, tmpl, "spec"), i, n, reply))
			return ERR_VALIDATION;
	}
	c->topo->nsequences++;
	return 0;
}

static int load_document(struct yctx *c)
{
	const yaml_node_t *root = yaml_document_get_root_node(c->doc);
	const char *api = scalar(map_get(c->doc, root, "apiVersion"));
	const char *kind = scalar(map_get(c->doc, root, "kind"));
	const yaml_node_t *meta = map_get(c->doc, root, "metadata");
	const yaml_node_t *spec = map_get(c->doc, root, "spec");

	bool sequence =
	    api && kind && !strncmp(api, "flows.knative.dev/", 18) && !strcmp(kind, "Sequence");

	if (!sequence && (!api || strncmp(api, "eventing.knative.dev/", 21) != 0 || !kind))
		return 0;
	if (!sequence && strcmp(kind, "Broker") != 0 && strcmp(kind, "Trigger") != 0)
		return 0;
	c->kind = kind;
	c->name = scalar(map_get(c->doc, meta, "name"));
	c->ns = scalar(map_get(c->doc, meta, "namespace"));
	if (!c->ns)
		c->ns = "default";
	if (!c->name || !c->name[0])
		return fail(c, "metadata.name: required");
	if (spec && spec->type != YAML_MAPPING_NODE)
		return fail(c, "spec: must be an object");
	if (!strcmp(kind, "Broker"))
		return load_broker(c, spec);
	if (!spec)
		return fail(c, "spec: required");
	return sequence ? load_sequence(c, spec) : load_trigger(c, spec);
}

int topology_add_yaml(struct topology *t, const char *text, size_t len, const char *origin,
		      struct buf *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	int rc = 0;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	for (;;) {
		struct yctx c = { .doc = &doc, .topo = t, .origin = origin, .err = err };

		if (!yaml_parser_load(&parser, &doc)) {
			buf_appendf(err, "%s:%zu: YAML error: %s", origin,
				    (size_t)parser.problem_mark.line + 1,
				    parser.problem ? parser.problem : "unknown");
			rc = ERR_VALIDATION;
			break;
		}
		if (!yaml_document_get_root_node(&doc)) {
			yaml_document_delete(&doc);
			break;
		}
		rc = load_document(&c);
		yaml_document_delete(&doc);
		if (rc)
			break;
	}
	yaml_parser_delete(&parser);
	return rc;
}

/* ---- files -------------------------------------------------------------------------------- */

static int add_file(struct topology *t, const char *path, struct buf *err)
{
	struct buf text;
	char chunk[8192];
	size_t n;
	int rc = 0;
	FILE *f = fopen(path, "r");

	if (!f) {
		buf_appendf(err, "%s: %s", path, strerror(errno));
		return ERR_IO;
	}
	buf_init(&text, MAX_MANIFEST_BYTES);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(&text, chunk, n)) {
			buf_appendf(err, "%s: larger than %zu bytes", path, MAX_MANIFEST_BYTES);
			rc = ERR_IO;
			goto cleanup;
		}
	}
	if (ferror(f)) {
		buf_appendf(err, "%s: read error", path);
		rc = ERR_IO;
		goto cleanup;
	}
	rc = topology_add_yaml(t, text.data, text.len, path, err);
cleanup:
	fclose(f);
	buf_release(&text);
	return rc;
}

static int is_yaml_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && ((n > 5 && !strcmp(name + n - 5, ".yaml")) ||
				  (n > 4 && !strcmp(name + n - 4, ".yml")));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_dir(struct topology *t, const char *dir, struct buf *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, alloc = 0, i;
	int rc = 0;

	if (!d) {
		buf_appendf(err, "%s: %s", dir, strerror(errno));
		return ERR_IO;
	}
	while ((de = readdir(d)) != NULL) {
		if (!is_yaml_name(de->d_name))
			continue;
		XGROW(names, n + 1, alloc);
		names[n++] = xasprintf("%s/%s", dir, de->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		if (!rc)
			rc = add_file(t, names[i], err);
		free(names[i]);
	}
	free(names);
	return rc;
}

static int add_path(struct topology *t, const char *path, struct buf *err)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		buf_appendf(err, "%s: %s", path, strerror(errno));
		return ERR_IO;
	}
	return S_ISDIR(st.st_mode) ? add_dir(t, path, err) : add_file(t, path, err);
}

int topology_add_paths(struct topology *t, const char *paths, struct buf *err)
{
	const char *p = paths;
	int rc = 0;

	while (!rc && p && *p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *item = p;
		char *one;

		text_trim_ows(&item, &n);
		if (n > 0) {
			one = xstrndup(item, n);
			rc = add_path(t, one, err);
			free(one);
		}
		p = end ? end + 1 : NULL;
	}
	return rc;
}

/* ---- services, finishing, lookups --------------------------------------------------------- */

static int add_service(struct topology *t, const char *item, size_t n, struct buf *err)
{
	const char *eq = memchr(item, '=', n);
	char *name, *url;

	if (!eq || eq == item) {
		buf_appendf(err, "BROKER_SERVICES: '%.*s' is not name=url", (int)n, item);
		return ERR_VALIDATION;
	}
	name = xstrndup(item, (size_t)(eq - item));
	url = xstrndup(eq + 1, n - (size_t)(eq - item) - 1);
	if (!is_http_url(url) || service_url(t, name)) {
		buf_appendf(err, "BROKER_SERVICES: %s: %s", name,
			    service_url(t, name) ? "mapped twice" : "not an http(s) URL");
		free(name);
		free(url);
		return ERR_VALIDATION;
	}
	XGROW(t->services, t->nservices + 1, t->aservices);
	t->services[t->nservices].name = name;
	t->services[t->nservices++].url = url;
	return 0;
}

int topology_set_services(struct topology *t, const char *spec, struct buf *err)
{
	const char *p = spec;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		while (n > 0 && *p == ' ') {
			p++;
			n--;
		}
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n > 0 && add_service(t, p, n, err))
			return ERR_VALIDATION;
		p = end ? end + 1 : NULL;
	}
	return 0;
}

void topology_set_self(struct topology *t, const char *base)
{
	size_t n = base ? strlen(base) : 0;

	while (n > 0 && base[n - 1] == '/')
		n--;
	free(t->self);
	t->self = base ? xstrndup(base, n) : NULL;
}

/* A step's replies: the next channel, the Sequence's reply Broker, or none. */
static int link_reply(struct topology *t, struct topo_trigger *tr, struct buf *err)
{
	const struct topo_broker *b;

	if (!tr->step) {
		tr->reply_index = tr->broker_index;
		return 0;
	}
	if (!tr->reply) {
		tr->reply_index = TOPO_NO_REPLY;
		return 0;
	}
	b = topology_broker(t, tr->ns, tr->reply);
	if (!b) {
		buf_appendf(err,
			    "Sequence step %s/%s: spec.reply: no Broker %s/%s in the manifests",
			    tr->ns, tr->name, tr->ns, tr->reply);
		return ERR_VALIDATION;
	}
	tr->reply_index = (size_t)(b - t->brokers);
	return 0;
}

/*
 * The effective delivery spec. A Trigger or step whose own spec has no dead-letter sink takes
 * its Broker's or channel's: EV's subscription reconciler (resolveDeadLetterSink()) falls back
 * to the channel's sink, and a Broker's trigger channel is made with the Broker's delivery.
 */
static void link_delivery(struct topo_trigger *tr, const struct topo_broker *b)
{
	if (!tr->own.set) {
		tr->delivery = &b->delivery;
		return;
	}
	if (!tr->own.dls_url && b->delivery.dls_url)
		tr->own.dls_url = xstrdup(b->delivery.dls_url);
	tr->delivery = &tr->own;
}

int topology_finish(struct topology *t, struct buf *err)
{
	size_t i, j;

	for (i = 0; i < t->ntargets; i++) {
		const struct topo_target *tg = &t->targets[i];

		if (!topology_broker(t, tg->ns, tg->name)) {
			buf_appendf(err, "%s: no such %s in the manifests", tg->what,
				    strstr(tg->name, "-kn-sequence-") ? "Sequence" : "Broker");
			return ERR_VALIDATION;
		}
	}
	for (i = 0; i < t->ntriggers; i++) {
		struct topo_trigger *tr = &t->triggers[i];

		for (j = 0; j < t->nbrokers; j++) {
			if (!strcmp(t->brokers[j].ns, tr->ns) &&
			    !strcmp(t->brokers[j].name, tr->broker))
				break;
		}
		if (j == t->nbrokers) {
			buf_appendf(err,
				    "Trigger %s/%s: spec.broker: no Broker %s/%s in the manifests",
				    tr->ns, tr->name, tr->ns, tr->broker);
			return ERR_VALIDATION;
		}
		tr->broker_index = j;
		link_delivery(tr, &t->brokers[j]);
		if (link_reply(t, tr, err))
			return ERR_VALIDATION;
	}
	return 0;
}

int topology_load(const char *paths, const char *services, const char *self, struct topology **out,
		  struct buf *err)
{
	struct topology *t = topology_new();
	int rc;

	*out = NULL;
	topology_set_self(t, self);
	rc = topology_set_services(t, services, err);
	if (!rc)
		rc = topology_add_paths(t, paths, err);
	if (!rc)
		rc = topology_finish(t, err);
	if (rc) {
		topology_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

struct topology *topology_new(void)
{
	return xcalloc(1, sizeof(struct topology));
}

void topology_free(struct topology *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->nbrokers; i++)
		broker_release(&t->brokers[i]);
	for (i = 0; i < t->ntriggers; i++)
		trigger_release(&t->triggers[i]);
	for (i = 0; i < t->nservices; i++) {
		free(t->services[i].name);
		free(t->services[i].url);
	}
	for (i = 0; i < t->ntargets; i++) {
		free(t->targets[i].ns);
		free(t->targets[i].name);
		free(t->targets[i].what);
	}
	free(t->brokers);
	free(t->triggers);
	free(t->services);
	free(t->targets);
	free(t->self);
	free(t);
}

const struct topo_broker *topology_broker(const struct topology *t, const char *ns,
					  const char *name)
{
	size_t i;

	for (i = 0; i < t->nbrokers; i++) {
		if (!strcmp(t->brokers[i].ns, ns) && !strcmp(t->brokers[i].name, name))
			return &t->brokers[i];
	}
	return NULL;
}

const struct topo_trigger *topology_trigger(const struct topology *t, const char *ns,
					    const char *name)
{
	size_t i;

	for (i = 0; i < t->ntriggers; i++) {
		if (!strcmp(t->triggers[i].ns, ns) && !strcmp(t->triggers[i].name, name))
			return &t->triggers[i];
	}
	return NULL;
}
