/*
 * sentiment.c: VADER's rules (see sentiment.h). The functions below follow the reference
 * implementation's (vader-sentiment 1.1.3, src/vaderSentiment.js) one by one, with the same
 * names, so that the two can be compared line by line.
 */
#include "sentiment.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/text.h"
#include "common/xalloc.h"

/* Empirical constants of the paper. */
#define B_INCR	 0.293 /* booster word */
#define B_DECR	 (-0.293)
#define C_INCR	 0.733 /* a word in ALL CAPS */
#define N_SCALAR (-0.74)
#define ALPHA	 15.0 /* normalization */

/* ---- a string map (open addressing, FNV-1a) ------------------------------------------- */

/* Keys and names point into the struct sentiment's own copy of its files (NUL-terminated there). */
struct entry {
	const char *key; /* NULL: free slot */
	size_t klen;
	double value;
	const char *text; /* emoji name */
};

struct map {
	struct entry *slots;
	size_t cap, n; /* cap: a power of two, at least 2n */
};

static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static struct entry *map_slot(const struct map *m, const char *k, size_t n)
{
	size_t i = (size_t)hash_bytes(k, n) & (m->cap - 1);

	while (m->slots[i].key && (m->slots[i].klen != n || memcmp(m->slots[i].key, k, n) != 0))
		i = (i + 1) & (m->cap - 1);
	return &m->slots[i];
}

static const struct entry *map_get(const struct map *m, const char *k, size_t n)
{
	const struct entry *e;

	if (m->cap == 0)
		return NULL;
	e = map_slot(m, k, n);
	return e->key ? e : NULL;
}

/* Makes room for n entries in all, so that loading a file of n lines never rehashes. */
static void map_reserve(struct map *m, size_t n)
{
	size_t cap = 64;
	struct map bigger;

	while (cap < 2 * n)
		cap *= 2;
	if (cap <= m->cap)
		return;
	bigger = (struct map){ xcalloc(cap, sizeof(struct entry)), cap, m->n };
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key)
			*map_slot(&bigger, m->slots[i].key, m->slots[i].klen) = m->slots[i];
	free(m->slots);
	*m = bigger;
}

/* The entry for k (kept by reference: it must outlive the map), created when new. */
static struct entry *map_put(struct map *m, const char *k, size_t n)
{
	struct entry *e;

	if (2 * (m->n + 1) > m->cap)
		map_reserve(m, m->cap ? m->cap : 32);
	e = map_slot(m, k, n);
	if (!e->key) {
		e->key = k;
		e->klen = n;
		m->n++;
	}
	return e;
}

static void map_release(struct map *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

struct sentiment {
	struct map lexicon; /* token -> valence */
	struct map emoji;   /* UTF-8 of one code point -> name */
	char *lex_text;	    /* owned copies of the two files, which the maps' keys point into */
	char *emoji_text;
};

/* ---- loading ---------------------------------------------------------------------------- */

/*
 * Calls fn on each non-empty line (without its \n or \r\n) of s, which has a byte to spare
 * at s[len]: fn may write a NUL at the end of its line. Stops at the first error.
 */
static int each_line(char *s, size_t len, struct sentiment *st, struct buf *err,
		     int (*fn)(struct sentiment *, char *, size_t, size_t, struct buf *))
{
	size_t lineno = 0, i = 0;

	while (i < len) {
		char *nl = memchr(s + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - s) : len, n = end - i;
		int rc;

		lineno++;
		if (n && s[i + n - 1] == '\r')
			n--;
		if (n) {
			rc = fn(st, s + i, n, lineno, err);
			if (rc)
				return rc;
		}
		i = end + 1;
	}
	return 0;
}

static int bad_line(struct buf *err, size_t lineno, const char *why)
{
	if (err)
		(void)buf_appendf(err, "line %zu: %s", lineno, why);
	return ERR_VALIDATION;
}

static bool has_control(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return true;
	return false;
}

static bool utf8_valid(const char *p, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		k = text_utf8_seq((const unsigned char *)p + i, n - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

/*
 * strtod()'s value for a plain decimal of at most 15 digits ("-1.5", "2"), without its cost
 * (a tenth of loading the lexicon): the digits make an integer m < 10^15 and the fraction k
 * digits, both m and 10^k are exact doubles, and IEEE division rounds m / 10^k correctly, as
 * strtod does. false for anything else (exponents, more digits), which strtod() then reads.
 */
static bool decimal_fast(const char *p, size_t n, double *out)
{
	static const double pow10[] = { 1e0, 1e1, 1e2,	1e3,  1e4,  1e5,  1e6,	1e7,
					1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15 };
	size_t i = 0, digits = 0, frac = 0;
	bool neg = false, point = false;
	double m = 0;

	if (i < n && (p[i] == '-' || p[i] == '+'))
		neg = p[i++] == '-';
	for (; i < n; i++) {
		if (p[i] == '.' && !point) {
			point = true;
		} else if (p[i] >= '0' && p[i] <= '9' && digits < 15) {
			m = m * 10 + (p[i] - '0');
			digits++;
			frac += point;
		} else {
			return false;
		}
	}
	if (digits == 0)
		return false;
	*out = (neg ? -m : m) / pow10[frac];
	return true;
}

static int lexicon_line(struct sentiment *st, char *p, size_t n, size_t lineno, struct buf *err)
{
	char *tab = memchr(p, '\t', n);
	const char *vend;
	char num[64], *end;
	double v;

	if (!tab || tab == p)
		return bad_line(err, lineno, "expected token<TAB>valence");
	vend = memchr(tab + 1, '\t', n - (size_t)(tab + 1 - p));
	if (!vend)
		vend = p + n;
	if (vend == tab + 1 || (size_t)(vend - tab - 1) >= sizeof(num))
		return bad_line(err, lineno, "the valence is not a number");
	if (!decimal_fast(tab + 1, (size_t)(vend - tab - 1), &v)) {
		memcpy(num, tab + 1, (size_t)(vend - tab - 1));
		num[vend - tab - 1] = '\0';
		errno = 0;
		v = strtod(num, &end);
		if (*end || errno)
			v = NAN;
	}
	if (!isfinite(v) || fabs(v) > 100)
		return bad_line(err, lineno, "the valence is not a number between -100 and 100");
	if (!utf8_valid(p, (size_t)(tab - p)) || has_control(p, (size_t)(tab - p)))
		return bad_line(err, lineno, "the token is not UTF-8 text");
	*tab = '\0';
	map_put(&st->lexicon, p, (size_t)(tab - p))->value = v;
	return 0;
}

static int emoji_line(struct sentiment *st, char *p, size_t n, size_t lineno, struct buf *err)
{
	char *tab = memchr(p, '\t', n);
	struct entry *e;
	uint32_t cp;
	size_t clen;

	if (!tab || tab == p || tab + 1 == p + n)
		return bad_line(err, lineno, "expected emoji<TAB>name");
	clen = text_utf8_seq((const unsigned char *)p, (size_t)(tab - p));
	if (clen == 0 || clen != (size_t)(tab - p) ||
	    text_utf8_next((const unsigned char *)p, clen, &cp) != clen || cp < 0x80)
		return bad_line(err, lineno, "the emoji is not one non-ASCII UTF-8 character");
	if (has_control(tab + 1, n - (size_t)(tab + 1 - p)))
		return bad_line(err, lineno, "the name holds a tab or a control character");
	*tab = '\0';
	p[n] = '\0'; /* the line's \r, \n or the byte to spare */
	e = map_put(&st->emoji, p, clen);
	e->text = tab + 1;
	return 0;
}

/* Room in m for each line of the len bytes at p, so that loading them never rehashes. */
static void reserve_lines(struct map *m, const char *p, size_t len)
{
	size_t lines = 1;

	for (const char *q = p; (q = memchr(q, '\n', len - (size_t)(q - p))); q++)
		lines++;
	map_reserve(m, lines);
}

/*
 * sentiment_parse() of texts it takes over: lex and emoji (NULL for none) are malloc'd, have a
 * byte to spare at [len], and belong to the analyser from here on (freed on failure too).
 */
static int parse_owned(char *lex, size_t lex_len, char *emoji, size_t emoji_len,
		       struct sentiment **out, struct buf *err)
{
	struct sentiment *st = xcalloc(1, sizeof(*st));
	int rc;

	*out = NULL;
	st->lex_text = lex;
	st->emoji_text = emoji;
	reserve_lines(&st->lexicon, lex, lex_len);
	rc = each_line(lex, lex_len, st, err, lexicon_line);
	if (rc == 0 && emoji) {
		reserve_lines(&st->emoji, emoji, emoji_len);
		rc = each_line(emoji, emoji_len, st, err, emoji_line);
		if (rc && err)
			(void)buf_appends(err, " (emoji table)");
	}
	if (rc) {
		sentiment_free(st);
		return rc;
	}
	*out = st;
	return 0;
}

int sentiment_parse(const char *lex, size_t lex_len, const char *emoji, size_t emoji_len,
		    struct sentiment **out, struct buf *err)
{
	return parse_owned(xstrndup(lex, lex_len), lex_len,
			   emoji ? xstrndup(emoji, emoji_len) : NULL, emoji_len, out, err);
}

int sentiment_load(const char *lexicon_path, const char *emoji_path, struct sentiment **out,
		   struct buf *err)
{
	struct buf lex, emo;
	char *lex_text, *emoji_text = NULL;
	size_t lex_len, emoji_len = 0;
	int rc;

	*out = NULL;
	buf_init(&lex, SENTIMENT_FILE_MAX);
	buf_init(&emo, SENTIMENT_FILE_MAX);
	if (buf_read_file(&lex, lexicon_path, err) ||
	    (emoji_path && buf_read_file(&emo, emoji_path, err))) {
		buf_release(&lex);
		buf_release(&emo);
		return ERR_IO;
	}
	/* The files' buffers go to the analyser as they are (their NUL is the byte to spare). */
	lex_text = buf_detach(&lex, &lex_len);
	if (emoji_path)
		emoji_text = buf_detach(&emo, &emoji_len);
	buf_release(&emo);
	rc = parse_owned(lex_text, lex_len, emoji_text, emoji_len, out, err);
	if (rc)
		(void)buf_appendf(err, " (%s%s%s)", lexicon_path, emoji_path ? ", " : "",
				  emoji_path ? emoji_path : "");
	return rc;
}

void sentiment_free(struct sentiment *s)
{
	if (!s)
		return;
	map_release(&s->lexicon);
	map_release(&s->emoji);
	free(s->lex_text);
	free(s->emoji_text);
	free(s);
}

size_t sentiment_lexicon_size(const struct sentiment *s)
{
	return s->lexicon.n;
}

size_t sentiment_emoji_size(const struct sentiment *s)
{
	return s->emoji.n;
}

/* ---- the word lists of the reference ---------------------------------------------------- */

static const char *const PUNC_LIST[] = {
	".",  "!",   "?",  ",",	  ";",	 ":",	"-",	"'",	"\"",
	"!!", "!!!", "??", "???", "?!?", "!?!", "?!?!", "!?!?",
};

static const char *const NEGATE[] = {
	"aint",	  "arent",    "cannot",	 "cant",     "couldnt",	 "darent",   "didnt",	"doesnt",
	"ain't",  "aren't",   "can't",	 "couldn't", "daren't",	 "didn't",   "doesn't", "dont",
	"hadnt",  "hasnt",    "havent",	 "isnt",     "mightnt",	 "mustnt",   "neither", "don't",
	"hadn't", "hasn't",   "haven't", "isn't",    "mightn't", "mustn't",  "neednt",	"needn't",
	"never",  "none",     "nope",	 "nor",	     "not",	 "nothing",  "nowhere", "oughtnt",
	"shant",  "shouldnt", "uhuh",	 "wasnt",    "werent",	 "oughtn't", "shan't",	"shouldn't",
	"uh-uh",  "wasn't",   "weren't", "without",  "wont",	 "wouldnt",  "won't",	"wouldn't",
	"rarely", "seldom",   "despite",
};

struct booster {
	const char *word;
	double scalar;
};

static const struct booster BOOSTER_DICT[] = {
	{ "absolutely", B_INCR },   { "amazingly", B_INCR },	 { "awfully", B_INCR },
	{ "completely", B_INCR },   { "considerably", B_INCR },	 { "decidedly", B_INCR },
	{ "deeply", B_INCR },	    { "effing", B_INCR },	 { "enormously", B_INCR },
	{ "entirely", B_INCR },	    { "especially", B_INCR },	 { "exceptionally", B_INCR },
	{ "extremely", B_INCR },    { "fabulously", B_INCR },	 { "flipping", B_INCR },
	{ "flippin", B_INCR },	    { "fricking", B_INCR },	 { "frickin", B_INCR },
	{ "frigging", B_INCR },	    { "friggin", B_INCR },	 { "fully", B_INCR },
	{ "fucking", B_INCR },	    { "greatly", B_INCR },	 { "hella", B_INCR },
	{ "highly", B_INCR },	    { "hugely", B_INCR },	 { "incredibly", B_INCR },
	{ "intensely", B_INCR },    { "majorly", B_INCR },	 { "more", B_INCR },
	{ "most", B_INCR },	    { "particularly", B_INCR },	 { "purely", B_INCR },
	{ "quite", B_INCR },	    { "really", B_INCR },	 { "remarkably", B_INCR },
	{ "so", B_INCR },	    { "substantially", B_INCR }, { "thoroughly", B_INCR },
	{ "totally", B_INCR },	    { "tremendously", B_INCR },	 { "uber", B_INCR },
	{ "unbelievably", B_INCR }, { "unusually", B_INCR },	 { "utterly", B_INCR },
	{ "very", B_INCR },	    { "almost", B_DECR },	 { "barely", B_DECR },
	{ "hardly", B_DECR },	    { "just enough", B_DECR },	 { "kind of", B_DECR },
	{ "kinda", B_DECR },	    { "kindof", B_DECR },	 { "kind-of", B_DECR },
	{ "less", B_DECR },	    { "little", B_DECR },	 { "marginally", B_DECR },
	{ "occasionally", B_DECR }, { "partly", B_DECR },	 { "scarcely", B_DECR },
	{ "slightly", B_DECR },	    { "somewhat", B_DECR },	 { "sort of", B_DECR },
	{ "sorta", B_DECR },	    { "sortof", B_DECR },	 { "sort-of", B_DECR },
};

struct idiom {
	const char *words;
	double valence;
};

static const struct idiom SPECIAL_CASE_IDIOMS[] = {
	{ "the shit", 3 },	 { "the bomb", 3 },	   { "bad ass", 1.5 },
	{ "yeah right", -2 },	 { "cut the mustard", 2 }, { "kiss of death", -1.5 },
	{ "hand to mouth", -2 },
};

/* ---- tokens ------------------------------------------------------------------------------ */

/* JavaScript's \s. */
static bool is_space(uint32_t cp)
{
	return (cp >= 9 && cp <= 13) || cp == ' ' || cp == 0xa0 || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
	       cp == 0x205f || cp == 0x3000 || cp == 0xfeff;
}

/* The ASCII punctuation the reference strips: [!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~]. */
static bool is_punct(char c)
{
	return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
	       (c >= 0x7b && c <= 0x7e);
}

/* The length of p[0..n) in UTF-16 code units (JavaScript's String length). */
static size_t js_length(const char *p, size_t n)
{
	size_t i = 0, units = 0, k;
	uint32_t cp;

	while (i < n) {
		k = text_utf8_next((const unsigned char *)p + i, n - i, &cp);
		units += cp >= 0x10000 ? 2 : 1;
		i += k;
	}
	return units;
}

static bool in_list(const char *const *list, size_t n, const char *p, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len && memcmp(list[i], p, len) == 0)
			return true;
	return false;
}

/*
 * get_words_and_emoticons(): a token loses one leading or trailing mark of PUNC_LIST when
 * what remains has no punctuation and more than one character.
 */
static void strip_punc(const char **p, size_t *n)
{
	size_t lead = 0, trail = 0, total = 0, i;

	for (i = 0; i < *n; i++)
		total += is_punct((*p)[i]);
	if (total == 0)
		return;
	while (lead < *n && is_punct((*p)[lead]))
		lead++;
	while (trail < *n && is_punct((*p)[*n - 1 - trail]))
		trail++;
	if (lead == total && lead < *n && in_list(PUNC_LIST, ARRAY_SIZE(PUNC_LIST), *p, lead) &&
	    js_length(*p + lead, *n - lead) > 1) {
		*p += lead;
		*n -= lead;
	} else if (trail == total && trail < *n &&
		   in_list(PUNC_LIST, ARRAY_SIZE(PUNC_LIST), *p + *n - trail, trail) &&
		   js_length(*p, *n - trail) > 1) {
		*n -= trail;
	}
}

struct words {
	char **word;  /* as written */
	char **lower; /* lowered as the reference's toLowerCase() lowers them (to_lower()) */
	size_t n, alloc;
};

/*
 * Lowers the token s[0..n) in place as JavaScript's toLowerCase() lowers the capitals whose
 * lowercase can be in the lexicon: A-Z; U+00C0 - U+00DE but U+00D7 (C3 80 - C3 9E in UTF-8,
 * lowered by 0x20, same length); and U+212A KELVIN SIGN (E2 84 AA), which lowers to an ASCII
 * "k", so the token gets shorter. The lexicon's only non-ASCII entries (":Þ", ":-Þ") have a
 * capital, so the reference never finds them in a lowered token, and neither must this. Other
 * capitals lower to letters no entry has, so they are left. s is NUL-terminated again.
 */
static void to_lower(char *s, size_t n)
{
	size_t i = 0, o = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 'A' && c <= 'Z') {
			s[o++] = (char)(c - 'A' + 'a');
			i++;
		} else if (c == 0xc3 && i + 1 < n) {
			c = (unsigned char)s[i + 1];
			s[o++] = s[i];
			s[o++] = (char)(c >= 0x80 && c <= 0x9e && c != 0x97 ? c + 0x20 : c);
			i += 2;
		} else if (c == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x84 &&
			   (unsigned char)s[i + 2] == 0xaa) {
			s[o++] = 'k';
			i += 3;
		} else {
			s[o++] = s[i++];
		}
	}
	s[o] = '\0';
}

static void words_add(struct words *w, const char *p, size_t n)
{
	size_t had = w->alloc;

	XGROW(w->word, w->n + 1, w->alloc);
	if (w->alloc != had)
		w->lower = xrealloc(w->lower, w->alloc * sizeof(*w->lower));
	w->word[w->n] = xstrndup(p, n);
	w->lower[w->n] = xstrndup(p, n);
	to_lower(w->lower[w->n++], n);
}

static void words_release(struct words *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->word[i]);
		free(w->lower[i]);
	}
	free(w->word);
	free(w->lower);
}

/* Splits text at whitespace into the tokens of more than one character, stripped. */
static void split_words(const char *text, size_t len, struct words *w)
{
	size_t i = 0, start = 0, k;
	uint32_t cp;

	while (i <= len) {
		k = i < len ? text_utf8_next((const unsigned char *)text + i, len - i, &cp) : 0;
		if (i == len || is_space(cp)) {
			const char *p = text + start;
			size_t n = i - start;

			if (js_length(p, n) > 1) {
				strip_punc(&p, &n);
				words_add(w, p, n);
			}
			start = i + k;
		}
		if (i == len)
			break;
		i += k;
	}
}

/* VADER 3.3: each emoji of the table becomes its name, a space before it unless one is. */
static void replace_emoji(const struct sentiment *s, const char *text, size_t len, struct buf *out)
{
	size_t i = 0, k;
	uint32_t cp;
	bool prev_space = true;
	const struct entry *e;

	while (i < len) {
		k = text_utf8_next((const unsigned char *)text + i, len - i, &cp);
		e = cp >= 0x80 ? map_get(&s->emoji, text + i, k) : NULL;
		if (e) {
			if (!prev_space)
				(void)buf_appendc(out, ' ');
			(void)buf_appends(out, e->text);
			prev_space = false;
			i += k;
			/* variation selectors and skin tones belong to the emoji */
			while (i < len) {
				k = text_utf8_next((const unsigned char *)text + i, len - i, &cp);
				if (cp != 0xfe0f && cp != 0xfe0e &&
				    !(cp >= 0x1f3fb && cp <= 0x1f3ff))
					break;
				i += k;
			}
			continue;
		}
		(void)buf_append(out, text + i, k);
		prev_space = cp == ' ';
		i += k;
	}
}

/* ---- the rules ---------------------------------------------------------------------------- */

/* Python's str.isupper() as the reference has it: no [a-z] and at least one [A-Z]. */
static bool is_upper_python(const char *w)
{
	bool upper = false;

	for (; *w; w++) {
		if (*w >= 'a' && *w <= 'z')
			return false;
		upper |= *w >= 'A' && *w <= 'Z';
	}
	return upper;
}

static bool in_lexicon(const struct sentiment *s, const char *lower)
{
	return map_get(&s->lexicon, lower, strlen(lower)) != NULL;
}

static const struct booster *booster(const char *lower)
{
	for (size_t i = 0; i < ARRAY_SIZE(BOOSTER_DICT); i++)
		if (strcmp(BOOSTER_DICT[i].word, lower) == 0)
			return &BOOSTER_DICT[i];
	return NULL;
}

/* Whether just some words are in ALL CAPS. */
static bool allcap_differential(const struct words *w)
{
	size_t caps = 0;

	for (size_t i = 0; i < w->n; i++)
		caps += is_upper_python(w->word[i]);
	return caps > 0 && caps < w->n;
}

/* negated() of one word. */
static bool negated(const char *word)
{
	return in_list(NEGATE, ARRAY_SIZE(NEGATE), word, strlen(word)) ||
	       strstr(word, "n't") != NULL;
}

static double scalar_inc_dec(const char *word, const char *lower, double valence, bool cap_diff)
{
	const struct booster *b = booster(lower);
	double scalar = 0.0;

	if (b) {
		scalar = b->scalar;
		if (valence < 0)
			scalar *= -1;
		if (cap_diff && is_upper_python(word))
			scalar += valence > 0 ? C_INCR : -C_INCR;
	}
	return scalar;
}

static bool is(const char *word, const char *what)
{
	return strcmp(word, what) == 0;
}

static double never_check(double valence, char *const *w, size_t start_i, size_t i)
{
	if (start_i == 0 && negated(w[i - 1]))
		valence *= N_SCALAR;
	if (start_i == 1) {
		if (is(w[i - 2], "never") && (is(w[i - 1], "so") || is(w[i - 1], "this")))
			valence *= 1.5;
		else if (negated(w[i - 2]))
			valence *= N_SCALAR;
	}
	if (start_i == 2) {
		if ((is(w[i - 3], "never") && (is(w[i - 2], "so") || is(w[i - 2], "this"))) ||
		    is(w[i - 1], "so") || is(w[i - 1], "this"))
			valence *= 1.25;
		else if (negated(w[i - 3]))
			valence *= N_SCALAR;
	}
	return valence;
}

/* Whether the n words from w[from] joined by spaces are exactly `words`. */
static bool seq_is(char *const *w, size_t from, size_t n, const char *words)
{
	size_t len;

	for (size_t j = 0; j < n; j++) {
		len = strlen(w[from + j]);
		if (strncmp(words, w[from + j], len) != 0)
			return false;
		words += len;
		if (j + 1 < n) {
			if (*words != ' ')
				return false;
			words++;
		}
	}
	return *words == '\0';
}

/* The idiom among SPECIAL_CASE_IDIOMS that the n words from w[from] form, or NULL. */
static const struct idiom *idiom(char *const *w, size_t from, size_t n)
{
	for (size_t k = 0; k < ARRAY_SIZE(SPECIAL_CASE_IDIOMS); k++)
		if (seq_is(w, from, n, SPECIAL_CASE_IDIOMS[k].words))
			return &SPECIAL_CASE_IDIOMS[k];
	return NULL;
}

static bool booster_bigram(char *const *w, size_t from)
{
	for (size_t k = 0; k < ARRAY_SIZE(BOOSTER_DICT); k++)
		if (strchr(BOOSTER_DICT[k].word, ' ') && seq_is(w, from, 2, BOOSTER_DICT[k].word))
			return true;
	return false;
}

/* i >= 3. */
static double idioms_check(double valence, char *const *w, size_t n, size_t i)
{
	/* onezero, twoonezero, twoone, threetwoone, threetwo: the first that is an idiom */
	static const struct {
		size_t back, len;
	} seqs[] = { { 1, 2 }, { 2, 3 }, { 2, 2 }, { 3, 3 }, { 3, 2 } };
	const struct idiom *id;

	for (size_t k = 0; k < ARRAY_SIZE(seqs); k++) {
		id = idiom(w, i - seqs[k].back, seqs[k].len);
		if (id) {
			valence = id->valence;
			break;
		}
	}
	if (n - 1 > i && (id = idiom(w, i, 2)) != NULL)
		valence = id->valence;
	if (n - 1 > i + 1 && (id = idiom(w, i, 3)) != NULL)
		valence = id->valence;
	if (booster_bigram(w, i - 3) || booster_bigram(w, i - 2))
		valence += B_DECR;
	return valence;
}

static double least_check(const struct sentiment *s, double valence, const struct words *w,
			  size_t i)
{
	if (i > 1 && is(w->lower[i - 1], "least") && !in_lexicon(s, "least")) {
		if (!is(w->lower[i - 2], "at") && !is(w->lower[i - 2], "very"))
			valence *= N_SCALAR;
	} else if (i > 0 && is(w->lower[i - 1], "least") && !in_lexicon(s, "least")) {
		valence *= N_SCALAR;
	}
	return valence;
}

static double sentiment_valence(const struct sentiment *s, const struct words *w, bool cap_diff,
				size_t i)
{
	const struct entry *e = map_get(&s->lexicon, w->lower[i], strlen(w->lower[i]));
	double valence, sc;

	if (!e)
		return 0;
	valence = e->value;
	if (is_upper_python(w->word[i]) && cap_diff)
		valence += valence > 0 ? C_INCR : -C_INCR;
	for (size_t start_i = 0; start_i < 3; start_i++) {
		size_t j = i - (start_i + 1);

		if (i <= start_i || in_lexicon(s, w->lower[j]))
			continue;
		/* dampen the modifiers further away */
		sc = scalar_inc_dec(w->word[j], w->lower[j], valence, cap_diff);
		if (start_i == 1 && sc != 0)
			sc *= 0.95;
		else if (start_i == 2 && sc != 0)
			sc *= 0.9;
		valence += sc;
		valence = never_check(valence, w->word, start_i, i);
		if (start_i == 2)
			valence = idioms_check(valence, w->word, w->n, i);
	}
	return least_check(s, valence, w, i);
}

/* The contrastive "but": half before it, one and a half after it. */
static void but_check(const struct words *w, double *sentiments)
{
	size_t but = w->n, i;

	for (i = 0; i < w->n && but == w->n; i++)
		if (is(w->word[i], "but"))
			but = i;
	for (i = 0; i < w->n && but == w->n; i++)
		if (is(w->word[i], "BUT"))
			but = i;
	if (but == w->n)
		return;
	for (i = 0; i < w->n; i++) {
		if (i < but)
			sentiments[i] *= 0.5;
		else if (i > but)
			sentiments[i] *= 1.5;
	}
}

/* Emphasis from up to four '!' and from two or more '?'. */
static double punctuation_emphasis(const char *text, size_t len)
{
	size_t ep = 0, qm = 0;
	double amp;

	for (size_t i = 0; i < len; i++) {
		ep += text[i] == '!';
		qm += text[i] == '?';
	}
	amp = (double)(ep > 4 ? 4 : ep) * 0.292;
	if (qm > 1)
		amp += qm <= 3 ? (double)qm * 0.18 : 0.96;
	return amp;
}

static double round_to(double x, double scale)
{
	return round(x * scale) / scale;
}

static void score_valence(const double *sentiments, size_t n, const char *text, size_t len,
			  struct sentiment_score *out)
{
	double sum = 0, amp, compound, pos = 0, neg = 0, total;
	size_t neu = 0;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		sum += sentiments[i];
	amp = punctuation_emphasis(text, len);
	if (sum > 0)
		sum += amp;
	else if (sum < 0)
		sum -= amp;
	compound = sum / sqrt(sum * sum + ALPHA);
	if (compound < -1.0)
		compound = -1.0;
	else if (compound > 1.0)
		compound = 1.0;
	for (size_t i = 0; i < n; i++) {
		if (sentiments[i] > 0)
			pos += sentiments[i] + 1; /* compensates for neutral words counted as 1 */
		else if (sentiments[i] < 0)
			neg += sentiments[i] - 1;
		else
			neu++;
	}
	if (pos > fabs(neg))
		pos += amp;
	else if (pos < fabs(neg))
		neg -= amp;
	total = pos + fabs(neg) + (double)neu;
	out->compound = round_to(compound, 1e4);
	out->pos = round_to(fabs(pos / total), 1e3);
	out->neg = round_to(fabs(neg / total), 1e3);
	out->neu = round_to(fabs((double)neu / total), 1e3);
}

void sentiment_analyze(const struct sentiment *s, const char *text, size_t len,
		       struct sentiment_score *out)
{
	struct words w = { 0 };
	struct buf t;
	double *sentiments;
	bool cap_diff;

	if (len > SENTIMENT_TEXT_MAX)
		len = SENTIMENT_TEXT_MAX;
	buf_init(&t, BUF_NOCAP);
	replace_emoji(s, text, len, &t);
	split_words(t.data, t.len, &w);
	cap_diff = allcap_differential(&w);
	sentiments = xcalloc(w.n ? w.n : 1, sizeof(*sentiments));
	for (size_t i = 0; i < w.n; i++) {
		if ((i + 1 < w.n && is(w.lower[i], "kind") && is(w.lower[i + 1], "of")) ||
		    booster(w.lower[i]))
			sentiments[i] = 0;
		else
			sentiments[i] = sentiment_valence(s, &w, cap_diff, i);
	}
	but_check(&w, sentiments);
	score_valence(sentiments, w.n, t.data, t.len, out);
	out->label = sentiment_label_of(out->compound);
	free(sentiments);
	words_release(&w);
	buf_release(&t);
}

enum sentiment_label sentiment_label_of(double compound)
{
	if (compound >= 0.05)
		return SENTIMENT_POSITIVE;
	if (compound <= -0.05)
		return SENTIMENT_NEGATIVE;
	return SENTIMENT_NEUTRAL;
}

const char *sentiment_label_name(enum sentiment_label label)
{
	switch (label) {
	case SENTIMENT_POSITIVE:
		return "positive";
	case SENTIMENT_NEGATIVE:
		return "negative";
	case SENTIMENT_NEUTRAL:
		break;
	}
	return "neutral";
}
