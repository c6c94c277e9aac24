/*
 * badword.c: the list is a trie over a-z plus a word-gap marker; the text becomes a row of
 * units (one per character: its kind and the letters it may stand for), cut into chunks
 * (between whitespace) and words (between punctuation), and each candidate is matched whole
 * against the trie (see badword.h for what is a candidate and how obfuscations read).
 */
#include "badword.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/text.h"
#include "common/xalloc.h"

#define GAP	  26 /* the trie symbol between the words of a phrase entry */
#define STAR	  27 /* an entry's '*' at its end, as a text writes it there (check_stars()) */
#define NSYM	  28
#define ANY	  NSYM /* an entry's '*': any letter (not a trie symbol: added as 26 paths) */
#define MAX_ANY	  2    /* most '*' in an entry (26 * 26 paths) */
#define ALL_AZ	  ((1u << 26) - 1)
#define BIT(c)	  (1u << ((c) - 'a'))
#define MAX_WORDS 4 /* most words in a phrase entry */

enum unit_kind {
	U_LETTER,   /* a letter: mask = its a-z letter, or 0 for a letter of another script */
	U_LEET,	    /* a digit or @ $: mask = the letters it may stand for */
	U_LEET_END, /* ! | +: a letter inside a word, a separator at its ends */
	U_MASK,	    /* '*': any letter inside a word, a separator at its ends */
	U_SPACE,
	U_PUNCT,
	U_IGNORE, /* zero-width characters, combining marks: dropped */
};

struct unit {
	enum unit_kind kind;
	uint32_t mask;	 /* letters this unit may stand for */
	uint32_t raw;	 /* what a run of repeats compares: the folded letter or the symbol */
	unsigned latin;	 /* a Latin letter (not a look-alike from another script) */
	size_t off, end; /* bytes in the text */
};

/* ---- reading characters --------------------------------------------------------------- */

static const char latin1[] = "aaaaaaaceeeeiiiidnooooo_ouuuuyts"	 /* U+00C0 - U+00DF */
			     "aaaaaaaceeeeiiiidnooooo_ouuuuyty"; /* U+00E0 - U+00FF */
static const char latin_ext_a[] =				 /* U+0100 - U+017F */
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkkllllllllllnnnnnnnnnooooooo"
    "orrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";
/*
 * Latin Extended Additional, U+1E00 - U+1EFF (Vietnamese and the letters with a dot or a ring
 * below, "ụ" U+1EE5, "ṡ" U+1E61): each letter's base letter in its canonical decomposition
 * (NFD, Unicode 14), so a precomposed letter reads as its decomposed form does (the combining
 * marks are ignored). Without a decomposition to a base letter: "ẚ" reads a, the long s forms
 * and "ẞ" s (as "ſ" and "ß" do), the Middle-Welsh "Ỻ" l and "Ỽ" v, "Ỿ" y; the delta "ẟ" ('.')
 * is a letter that matches nothing.
 */
static const char latin_ext_additional[] =
    "aabbbbbbccddddddddddeeeeeeeeeeffgghhhhhhhhhhiiiikkkkkkllllllllmm"
    "mmmmnnnnnnnnoooooooopppprrrrrrrrssssssssssttttttttuuuuuuuuuuvvvv"
    "wwwwwwwwwwxxxxyyzzzzzzhtwyassss.aaaaaaaaaaaaaaaaaaaaaaaaeeeeeeee"
    "eeeeeeeeiiiioooooooooooooooooooooooouuuuuuuuuuuuuuyyyyyyyyllvvyy";

/*
 * The letterlike symbols U+2100 - U+214F whose compatibility decomposition (NFKC) is one Latin
 * letter, and that letter: "ℎ" U+210E is h, "ℂ" U+2102 C, the kelvin sign K, the angstrom
 * sign Å, "ℏ" ħ, and "ℇ" the Latin Ɛ (a letter matching nothing, as Ɛ is). 0 for the others,
 * which stay symbols: abbreviations and signs ("℃", "№", "™", "℮") and the Greek and Hebrew
 * letters ("Ω" the ohm sign, "ℵ").
 */
static const uint16_t letterlike[0x50] = {
	[0x02] = 'C', [0x07] = 0x190, [0x0a] = 'g', [0x0b] = 'H',  [0x0c] = 'H', [0x0d] = 'H',
	[0x0e] = 'h', [0x0f] = 0x127, [0x10] = 'I', [0x11] = 'I',  [0x12] = 'L', [0x13] = 'l',
	[0x15] = 'N', [0x19] = 'P',   [0x1a] = 'Q', [0x1b] = 'R',  [0x1c] = 'R', [0x1d] = 'R',
	[0x24] = 'Z', [0x28] = 'Z',   [0x2a] = 'K', [0x2b] = 0xc5, [0x2c] = 'B', [0x2d] = 'C',
	[0x2f] = 'e', [0x30] = 'E',   [0x31] = 'F', [0x33] = 'M',  [0x34] = 'o', [0x39] = 'i',
	[0x45] = 'D', [0x46] = 'd',   [0x47] = 'e', [0x48] = 'i',  [0x49] = 'j'
};

/* Cyrillic and Greek letters that look like Latin ones. */
static const struct {
	uint32_t cp;
	char letter;
} lookalikes[] = {
	{ 0x391, 'a' }, { 0x392, 'b' }, { 0x395, 'e' }, { 0x396, 'z' }, { 0x397, 'h' },
	{ 0x399, 'i' }, { 0x39a, 'k' }, { 0x39c, 'm' }, { 0x39d, 'n' }, { 0x39f, 'o' },
	{ 0x3a1, 'p' }, { 0x3a4, 't' }, { 0x3a5, 'y' }, { 0x3a7, 'x' }, { 0x3b1, 'a' },
	{ 0x3b5, 'e' }, { 0x3b9, 'i' }, { 0x3ba, 'k' }, { 0x3bd, 'v' }, { 0x3bf, 'o' },
	{ 0x3c1, 'p' }, { 0x3c4, 't' }, { 0x3c5, 'u' }, { 0x3c7, 'x' }, { 0x405, 's' },
	{ 0x406, 'i' }, { 0x408, 'j' }, { 0x410, 'a' }, { 0x412, 'b' }, { 0x415, 'e' },
	{ 0x41a, 'k' }, { 0x41c, 'm' }, { 0x41d, 'h' }, { 0x41e, 'o' }, { 0x420, 'p' },
	{ 0x421, 'c' }, { 0x422, 't' }, { 0x423, 'y' }, { 0x425, 'x' }, { 0x430, 'a' },
	{ 0x435, 'e' }, { 0x43a, 'k' }, { 0x43e, 'o' }, { 0x440, 'p' }, { 0x441, 'c' },
	{ 0x443, 'y' }, { 0x445, 'x' }, { 0x455, 's' }, { 0x456, 'i' }, { 0x458, 'j' },
	{ 0x501, 'd' },
};

/* Digits and symbols that stand for letters; the first letter is the one entries use. */
static const struct {
	char c;
	const char *letters;
} leet[] = {
	{ '0', "o" }, { '1', "il" }, { '2', "z" }, { '3', "e" },  { '4', "a" },
	{ '5', "s" }, { '6', "gb" }, { '7', "t" }, { '8', "b" },  { '9', "g" },
	{ '@', "a" }, { '$', "s" },  { '!', "i" }, { '|', "li" }, { '+', "t" },
};

static bool is_space(uint32_t cp)
{
	return cp <= 0x20 || cp == 0x7f || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
	       cp == 0x205f || cp == 0x3000;
}

static bool is_ignored(uint32_t cp)
{
	return cp == 0xad || cp == 0x34f || cp == 0x180e || (cp >= 0x200b && cp <= 0x200d) ||
	       (cp >= 0x2060 && cp <= 0x2064) || cp == 0xfeff || (cp >= 0x300 && cp <= 0x36f) ||
	       (cp >= 0x1ab0 && cp <= 0x1aff) || (cp >= 0x1dc0 && cp <= 0x1dff) ||
	       (cp >= 0x20d0 && cp <= 0x20ff) || (cp >= 0xfe00 && cp <= 0xfe0f) ||
	       (cp >= 0xfe20 && cp <= 0xfe2f) || (cp >= 0xe0000 && cp <= 0xe007f);
}

/*
 * Punctuation and symbols beyond ASCII: they separate words. The circled letters U+24B6 -
 * U+24E9 and the letterlike symbols that decompose to a letter (letterlike[]), inside the
 * symbol blocks from U+2070, are letters (classify()).
 */
static bool is_symbol(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0xbf) || cp == 0xd7 || cp == 0xf7 ||
	       (cp >= 0x2010 && cp <= 0x2027) || (cp >= 0x2030 && cp <= 0x205e) ||
	       (cp >= 0x2070 && cp <= 0x24b5) || (cp >= 0x24ea && cp <= 0x2bff) ||
	       (cp >= 0x2e00 && cp <= 0x2e7f) || (cp >= 0x3001 && cp <= 0x303f) ||
	       (cp >= 0xfe10 && cp <= 0xfe6f) || (cp >= 0xff01 && cp <= 0xff0f) ||
	       (cp >= 0xff1a && cp <= 0xff20) || (cp >= 0xff3b && cp <= 0xff40) ||
	       (cp >= 0xff5b && cp <= 0xff65) || (cp >= 0xfff0 && cp <= 0xffff) ||
	       (cp >= 0x1f000 && cp <= 0x1faff);
}

static void set_leet(struct unit *u, char c, uint32_t raw)
{
	for (size_t i = 0; i < ARRAY_SIZE(leet); i++) {
		if (leet[i].c != c)
			continue;
		for (const char *l = leet[i].letters; *l; l++)
			u->mask |= BIT(*l);
		u->kind = (c == '!' || c == '|' || c == '+') ? U_LEET_END : U_LEET;
		u->raw = raw;
		return;
	}
}

static void set_letter(struct unit *u, char letter, unsigned latin)
{
	u->kind = U_LETTER;
	u->mask = letter >= 'a' && letter <= 'z' ? BIT(letter) : 0;
	u->raw = (uint32_t)letter;
	u->latin = latin;
}

/* The unit for code point cp. */
static void classify(uint32_t cp, struct unit *u)
{
	u->kind = U_PUNCT;
	u->mask = 0;
	u->raw = cp;
	u->latin = 0;
	if (cp >= 0x2100 && cp <= 0x214f && letterlike[cp - 0x2100])
		cp = letterlike[cp - 0x2100];
	if (cp >= 'A' && cp <= 'Z')
		set_letter(u, (char)(cp - 'A' + 'a'), 1);
	else if (cp >= 'a' && cp <= 'z')
		set_letter(u, (char)cp, 1);
	else if ((cp >= '0' && cp <= '9') || cp == '@' || cp == '$' || cp == '!' || cp == '|' ||
		 cp == '+')
		set_leet(u, (char)cp, cp);
	else if (cp == '*') {
		u->kind = U_MASK;
		u->mask = ALL_AZ;
	} else if (is_space(cp))
		u->kind = U_SPACE;
	else if (is_ignored(cp))
		u->kind = U_IGNORE;
	else if (cp < 0x80 || is_symbol(cp))
		u->kind = U_PUNCT;
	else if (cp >= 0xc0 && cp <= 0xff)
		set_letter(u, latin1[cp - 0xc0], 1); /* x and / are symbols (above) */
	else if (cp >= 0x100 && cp <= 0x17f)
		set_letter(u, latin_ext_a[cp - 0x100], 1);
	else if (cp >= 0x1e00 && cp <= 0x1eff && latin_ext_additional[cp - 0x1e00] != '.')
		set_letter(u, latin_ext_additional[cp - 0x1e00], 1);
	else if (cp >= 0xff21 && cp <= 0xff3a)
		set_letter(u, (char)('a' + (cp - 0xff21)), 1);
	else if (cp >= 0xff41 && cp <= 0xff5a)
		set_letter(u, (char)('a' + (cp - 0xff41)), 1);
	else if (cp >= 0xff10 && cp <= 0xff19)
		set_leet(u, (char)('0' + (cp - 0xff10)), '0' + (cp - 0xff10));
	else if (cp >= 0x24b6 && cp <= 0x24cf)
		set_letter(u, (char)('a' + (cp - 0x24b6)), 1);
	else if (cp >= 0x24d0 && cp <= 0x24e9)
		set_letter(u, (char)('a' + (cp - 0x24d0)), 1);
	else if (cp >= 0x1d400 && cp <= 0x1d6a3)
		set_letter(u, (char)('a' + (cp - 0x1d400) % 52 % 26), 1);
	else if (cp >= 0x1d7ce && cp <= 0x1d7ff)
		set_leet(u, (char)('0' + (cp - 0x1d7ce) % 10), '0' + (cp - 0x1d7ce) % 10);
	else
		set_letter(u, 0, 0); /* a letter of another script */
	for (size_t i = 0; u->kind == U_LETTER && !u->latin && i < ARRAY_SIZE(lookalikes); i++)
		if (lookalikes[i].cp == cp)
			set_letter(u, lookalikes[i].letter, 0);
}

/* The units of text[0..len), ignored characters dropped. The caller frees *out. */
static size_t read_units(const char *text, size_t len, struct unit **out)
{
	struct unit *u = xcalloc(len ? len : 1, sizeof(*u));
	size_t n = 0, i = 0, k;
	uint32_t cp;

	while (i < len) {
		k = text_utf8_next((const unsigned char *)text + i, len - i, &cp);
		classify(cp, &u[n]);
		u[n].off = i;
		u[n].end = i + k;
		if (u[n].kind != U_IGNORE)
			n++;
		i += k;
	}
	*out = u;
	return n;
}

static bool is_word_unit(const struct unit *u)
{
	return u->kind == U_LETTER || u->kind == U_LEET || u->kind == U_LEET_END ||
	       u->kind == U_MASK;
}

/* ---- the trie ---------------------------------------------------------------------------- */

enum term {
	TERM_WORD = 1 << 0,   /* an entry written as a word (or words) */
	TERM_JOINED = 1 << 1, /* an entry written with separators inside ("s.o.b.") */
};

struct node {
	int32_t child[NSYM]; /* 0: none (the root is never a child) */
	int32_t entry;	     /* index into entries when term */
	unsigned term;
};

struct badword_list {
	struct node *nodes;
	size_t nnodes, alloc;
	char **entries;
	size_t nentries, alloc_entries;
	size_t max_steps; /* the longest entry, in trie symbols */
};

static int32_t node_new(struct badword_list *l)
{
	XGROW(l->nodes, l->nnodes + 1, l->alloc);
	memset(&l->nodes[l->nnodes], 0, sizeof(l->nodes[0]));
	return (int32_t)l->nnodes++;
}

/* ---- candidates ----------------------------------------------------------------------------- */

/* A candidate: symbols (letter masks; GAP between phrase words) read as runs of repeats. */
struct run {
	uint32_t mask; /* letters; 1 << GAP for the gap */
	uint32_t raw;
	size_t count;
};

struct cand {
	struct run runs[BADWORD_ENTRY_MAX + 1];
	size_t nruns;
	size_t letters; /* U_LETTER units (any script) */
	size_t latin;	/* of them, Latin letters */
	bool masked;	/* holds a '*' */
	bool full;	/* longer than any entry: cannot match */
};

static void cand_add(struct cand *c, const struct unit *u)
{
	struct run *last = c->nruns ? &c->runs[c->nruns - 1] : NULL;

	c->letters += u->kind == U_LETTER;
	c->latin += u->latin;
	c->masked |= u->kind == U_MASK;
	if (last && u->kind != U_MASK && last->raw == u->raw && last->mask == u->mask) {
		last->count++;
		return;
	}
	if (c->nruns == BADWORD_ENTRY_MAX + 1) {
		c->full = true;
		return;
	}
	c->runs[c->nruns++] = (struct run){ u->mask, u->kind == U_MASK ? 0 : u->raw, 1 };
}

static void cand_gap(struct cand *c)
{
	static const struct unit gap = { U_PUNCT, 1u << GAP, 0, 0, 0, 0 };

	if (c->nruns == BADWORD_ENTRY_MAX + 1)
		c->full = true;
	else
		c->runs[c->nruns++] = (struct run){ gap.mask, 0xffffffffu, 1 };
}

/*
 * Matches runs[ri..] from node; returns the entry index or -1. A run of one or two must be
 * matched exactly, a longer run by one or two of its letter.
 */
static int32_t walk(const struct badword_list *l, const struct cand *c, size_t ri, int32_t node,
		    unsigned accept)
{
	const struct run *r;
	int32_t res, child, next;

	if (ri == c->nruns)
		return (l->nodes[node].term & accept) ? l->nodes[node].entry : -1;
	r = &c->runs[ri];
	for (unsigned sym = 0; sym < NSYM; sym++) {
		if (!(r->mask & (1u << sym)))
			continue;
		child = l->nodes[node].child[sym];
		if (!child)
			continue;
		next = r->count == 2 ? l->nodes[child].child[sym] : child;
		if (r->count <= 2) {
			res = next ? walk(l, c, ri + 1, next, accept) : -1;
		} else {
			res = walk(l, c, ri + 1, child, accept);
			next = l->nodes[child].child[sym];
			if (res < 0 && next)
				res = walk(l, c, ri + 1, next, accept);
		}
		if (res >= 0)
			return res;
	}
	return -1;
}

static int32_t cand_match(const struct badword_list *l, const struct cand *c, unsigned accept)
{
	if (c->full || c->nruns == 0 || c->nruns > l->max_steps || c->latin == 0)
		return -1;
	if (c->masked && c->letters < 2)
		return -1;
	return walk(l, c, 0, 0, accept);
}

/* ---- splitting the text ---------------------------------------------------------------------- */

struct span {
	size_t from, to;   /* units [from, to), ! | + * at either end trimmed */
	size_t xfrom, xto; /* the same word with them */
};

/* The words of chunk units [from, to), with ! | + * trimmed at both ends, appended to *w. */
static void chunk_words(const struct unit *u, size_t from, size_t to, struct span **w, size_t *n,
			size_t *alloc)
{
	size_t i = from, a, b;
	struct span x;

	while (i < to) {
		while (i < to && !is_word_unit(&u[i]))
			i++;
		a = i;
		while (i < to && is_word_unit(&u[i]))
			i++;
		b = i;
		x = (struct span){ a, b, a, b };
		while (a < b && (u[a].kind == U_LEET_END || u[a].kind == U_MASK))
			a++;
		while (b > a && (u[b - 1].kind == U_LEET_END || u[b - 1].kind == U_MASK))
			b--;
		if (a < b) {
			x.from = a;
			x.to = b;
			XGROW(*w, *n + 1, *alloc);
			(*w)[(*n)++] = x;
		}
	}
}

/* A whitespace-separated chunk of text that holds words: words[0..nwords). */
struct chunk {
	size_t first, nwords; /* scan.words[first..first + nwords) */
};

/* The text cut into units, chunks and words. */
struct scan {
	const struct badword_list *l;
	struct unit *u;
	struct span *words;
	struct chunk *ch;
	size_t nu, nwords, nch;
	struct badword_match *m;
	bool found;
};

static void cand_words(struct cand *c, const struct unit *u, const struct span *w, size_t n)
{
	for (size_t k = 0; k < n && !c->full; k++)
		for (size_t i = w[k].from; i < w[k].to && !c->full; i++)
			cand_add(c, &u[i]);
}

static bool report(struct scan *s, int32_t entry, size_t ufrom, size_t uto)
{
	if (entry < 0)
		return false;
	s->found = true;
	if (s->m) {
		s->m->entry = s->l->entries[entry];
		s->m->offset = s->u[ufrom].off;
		s->m->len = s->u[uto - 1].end - s->u[ufrom].off;
	}
	return true;
}

/*
 * The word w with the ! | + at its ends read as letters, as inside a word, out to the
 * farthest + on each side ("sh!+", "shi+!" as "shit"): false when there is no + there. A ! or
 * | alone at a word's end is punctuation ("Sh!", "Puss!"), and a '*' there a footnote ("as*"),
 * so they never extend a word by themselves.
 */
static bool word_extended(const struct unit *u, const struct span *w, struct span *out)
{
	size_t i;

	*out = *w;
	for (i = w->from; i > w->xfrom && u[i - 1].kind == U_LEET_END; i--)
		if (u[i - 1].raw == '+')
			out->from = i - 1;
	for (i = w->to; i < w->xto && u[i].kind == U_LEET_END; i++)
		if (u[i].raw == '+')
			out->to = i + 1;
	return out->from != w->from || out->to != w->to;
}

/*
 * The word w with the '*'s right after it read as STARs, which only an entry written with its
 * '*'s at its end has ("masterbat*"): a text's '*' at a word's end is otherwise a footnote or a
 * rating's star ("as*", "5*", "**bold**"), which no entry is.
 */
static bool check_stars(struct scan *s, const struct span *w)
{
	static const struct unit star = { U_MASK, 1u << STAR, 0, 0, 0, 0 };
	size_t end = w->to;
	struct cand c;

	while (end < w->xto && s->u[end].kind == U_MASK)
		end++;
	if (end == w->to)
		return false;
	memset(&c, 0, sizeof(c));
	cand_words(&c, s->u, w, 1);
	for (size_t i = w->to; i < end; i++)
		cand_add(&c, &star);
	return report(s, cand_match(s->l, &c, TERM_WORD), w->from, end);
}

/*
 * Each word of the chunk alone (and extended: word_extended(), check_stars()), then the words
 * joined.
 */
static bool check_chunk(struct scan *s, const struct chunk *ch)
{
	const struct span *w = s->words + ch->first;
	struct span x;
	struct cand c;

	for (size_t k = 0; k < ch->nwords; k++) {
		memset(&c, 0, sizeof(c));
		cand_words(&c, s->u, &w[k], 1);
		if (report(s, cand_match(s->l, &c, TERM_WORD), w[k].from, w[k].to) ||
		    check_stars(s, &w[k]))
			return true;
		if (!word_extended(s->u, &w[k], &x))
			continue;
		memset(&c, 0, sizeof(c));
		cand_words(&c, s->u, &x, 1);
		if (report(s, cand_match(s->l, &c, TERM_WORD), x.from, x.to))
			return true;
	}
	if (ch->nwords < 2)
		return false;
	memset(&c, 0, sizeof(c));
	cand_words(&c, s->u, w, ch->nwords);
	return report(s, cand_match(s->l, &c, TERM_WORD | TERM_JOINED), w[0].from,
		      w[ch->nwords - 1].to);
}

static bool single_char(const struct scan *s, const struct chunk *ch)
{
	return ch->nwords == 1 && s->words[ch->first].to - s->words[ch->first].from == 1;
}

/* The first unit of chunk ch and the end of its last word. */
static size_t chunk_from(const struct scan *s, const struct chunk *ch)
{
	return s->words[ch->first].from;
}

static size_t chunk_to(const struct scan *s, const struct chunk *ch)
{
	return s->words[ch->first + ch->nwords - 1].to;
}

/* An apostrophe, or a character typed for one. */
static bool is_apostrophe(const struct unit *u)
{
	return u->kind == U_PUNCT &&
	       (u->raw == '\'' || u->raw == '`' || u->raw == 0xb4 || u->raw == 0x2018 ||
		u->raw == 0x2019 || u->raw == 0x2032 || u->raw == 0xff07);
}

/*
 * Whether chunk ch starts with the one-letter tail of a contraction written with a space
 * beside its apostrophe: a word, then an apostrophe with whitespace around it, then one
 * letter ("It' s", "It 's", "the 80' s", "don' t"). The letter ends the word before it, so
 * no phrase starts there: "It' s hit" reads "It's hit", not the list's "s hit".
 */
static bool contraction_tail(const struct scan *s, const struct chunk *ch)
{
	const struct span *w = &s->words[ch->first];
	size_t i = w->from, apostrophes = 0;

	if (w->to - w->from != 1 || s->u[w->from].kind != U_LETTER)
		return false;
	for (; i > 0 && (s->u[i - 1].kind == U_SPACE || is_apostrophe(&s->u[i - 1])); i--)
		apostrophes += s->u[i - 1].kind != U_SPACE;
	return apostrophes > 0 && i > 0 && is_word_unit(&s->u[i - 1]);
}

/*
 * Across chunks: the phrases (chunks ch[0..k) joined, GAP between them, k = 2..MAX_WORDS;
 * none from a contraction's tail) and the spelled-out words: the one-character chunks from
 * ch[0] to the end of their run, when there are three or more ("f u c k", and "a f u c k"
 * from its second chunk; but not the "a s s" that starts "a s s e m b l y").
 */
static bool check_across(struct scan *s, const struct chunk *ch, size_t avail)
{
	size_t phrases = contraction_tail(s, &ch[0]) ? 1 : avail, k;
	struct cand c;

	memset(&c, 0, sizeof(c));
	cand_words(&c, s->u, s->words + ch[0].first, ch[0].nwords);
	for (k = 1; k < phrases && k < MAX_WORDS; k++) {
		cand_gap(&c);
		cand_words(&c, s->u, s->words + ch[k].first, ch[k].nwords);
		if (report(s, cand_match(s->l, &c, TERM_WORD), chunk_from(s, &ch[0]),
			   chunk_to(s, &ch[k])))
			return true;
	}
	if (!single_char(s, &ch[0]))
		return false;
	memset(&c, 0, sizeof(c));
	for (k = 0; k < avail && k <= BADWORD_ENTRY_MAX && single_char(s, &ch[k]); k++)
		cand_add(&c, &s->u[chunk_from(s, &ch[k])]);
	return k >= 3 && report(s, cand_match(s->l, &c, TERM_WORD | TERM_JOINED),
				chunk_from(s, &ch[0]), chunk_to(s, &ch[k - 1]));
}

/* Cuts text[0..len) into units, words and chunks (the chunks that hold no word are left out). */
static void scan_init(struct scan *s, const char *text, size_t len)
{
	size_t i = 0, a, w0, alloc_w = 0;

	s->nu = read_units(text, len, &s->u);
	s->words = NULL;
	s->nwords = 0;
	s->ch = xcalloc(s->nu ? s->nu : 1, sizeof(*s->ch));
	s->nch = 0;
	while (i < s->nu) {
		while (i < s->nu && s->u[i].kind == U_SPACE)
			i++;
		a = i;
		while (i < s->nu && s->u[i].kind != U_SPACE)
			i++;
		w0 = s->nwords;
		chunk_words(s->u, a, i, &s->words, &s->nwords, &alloc_w);
		if (s->nwords > w0)
			s->ch[s->nch++] = (struct chunk){ w0, s->nwords - w0 };
	}
}

static void scan_release(struct scan *s)
{
	free(s->u);
	free(s->words);
	free(s->ch);
}

bool badword_check(const struct badword_list *l, const char *text, size_t len,
		   struct badword_match *m)
{
	struct scan s = { .l = l, .m = m };

	if (len > BADWORD_TEXT_MAX)
		len = BADWORD_TEXT_MAX;
	scan_init(&s, text, len);
	for (size_t i = 0; i < s.nch && !s.found; i++)
		if (!check_chunk(&s, &s.ch[i]))
			(void)check_across(&s, &s.ch[i], s.nch - i);
	scan_release(&s);
	return s.found;
}

/* ---- building the list ------------------------------------------------------------------------ */

static int bad_entry(struct buf *err, size_t lineno, const char *why)
{
	if (err)
		(void)buf_appendf(err, "line %zu: %s", lineno, why);
	return ERR_VALIDATION;
}

/*
 * Appends the symbols of a word of an entry to syms: each unit read as inside a word of a
 * text, ! | + and * at its ends included (the primary letter of a digit or symbol, ANY for a
 * '*'), so "sh!+" is "shit" and never the "sh" that "Sh!" reads as.
 */
static int entry_symbols(const struct unit *u, const struct span *w, uint8_t *syms, size_t *n)
{
	for (size_t i = w->xfrom; i < w->xto; i++) {
		if (u[i].mask == 0)
			return -1;
		if (*n >= BADWORD_ENTRY_MAX)
			return -1;
		if (u[i].kind == U_MASK) {
			syms[(*n)++] = ANY;
		} else if (u[i].kind == U_LETTER) {
			syms[(*n)++] = (uint8_t)(u[i].raw - 'a');
		} else {
			for (size_t k = 0; k < ARRAY_SIZE(leet); k++)
				if ((uint32_t)(unsigned char)leet[k].c == u[i].raw)
					syms[(*n)++] = (uint8_t)(leet[k].letters[0] - 'a');
		}
	}
	return 0;
}

/* Whether an entry is written with lower-case letters only. */
static bool plain(const char *entry, size_t len)
{
	for (size_t i = 0; i < len && entry[i]; i++)
		if (!(entry[i] >= 'a' && entry[i] <= 'z'))
			return false;
	return true;
}

/* An entry being added: its text, and its index in entries once a trie node names it. */
struct adding {
	const char *text;
	size_t len;
	int32_t index; /* -1: not stored yet */
	unsigned term;
};

static int32_t adding_index(struct badword_list *l, struct adding *e)
{
	if (e->index < 0) {
		XGROW(l->entries, l->nentries + 1, l->alloc_entries);
		l->entries[l->nentries] = xstrndup(e->text, e->len);
		e->index = (int32_t)l->nentries++;
	}
	return e->index;
}

/* Whether syms[i..n) are all ANY: the '*'s at the entry's end. */
static bool trailing_any(const uint8_t *syms, size_t i, size_t n)
{
	for (; i < n; i++)
		if (syms[i] != ANY)
			return false;
	return true;
}

/*
 * Adds the path syms[i..n) from node; an ANY adds one path per letter, and the ANYs at the
 * entry's end also a path of STARs from there.
 */
static void trie_add(struct badword_list *l, int32_t node, uint8_t *syms, size_t i, size_t n,
		     struct adding *e)
{
	struct node *t;
	int32_t child;
	char *old;

	for (; i < n; i++) {
		if (syms[i] == ANY) {
			bool trailing = trailing_any(syms, i, n);

			for (uint8_t c = 0; c < 26; c++) {
				syms[i] = c;
				trie_add(l, node, syms, i, n, e);
			}
			if (trailing) {
				memset(syms + i, STAR, n - i);
				trie_add(l, node, syms, i, n, e);
			}
			memset(syms + i, ANY, trailing ? n - i : 1);
			return;
		}
		child = l->nodes[node].child[syms[i]];
		if (!child) {
			child = node_new(l);
			l->nodes[node].child[syms[i]] = child;
		}
		node = child;
	}
	t = &l->nodes[node];
	old = t->term ? l->entries[t->entry] : NULL;
	if (!old) {
		t->entry = adding_index(l, e);
	} else if (plain(e->text, e->len) && !plain(old, SIZE_MAX)) {
		/* "shit" names the entry better than "5h1t"; a '*' entry names other paths too */
		if (strchr(old, '*')) {
			t->entry = adding_index(l, e);
		} else {
			free(old);
			l->entries[t->entry] = xstrndup(e->text, e->len);
		}
	}
	t->term |= e->term;
	if (n > l->max_steps)
		l->max_steps = n;
}

/*
 * One entry: one word → TERM_WORD; one chunk of several words, or single characters spaced
 * out ("f u c k") → joined, TERM_JOINED; several words → a phrase with GAPs, TERM_WORD.
 */
static int add_entry(struct badword_list *l, const char *p, size_t len, size_t lineno,
		     struct buf *err)
{
	uint8_t syms[BADWORD_ENTRY_MAX + MAX_WORDS];
	struct scan s = { .l = l };
	struct adding e = { p, len, -1, 0 };
	size_t n = 0, k, w, any = 0;
	bool spelled = true;
	int rc = 0;

	scan_init(&s, p, len);
	for (k = 0; k < s.nch; k++)
		spelled &= single_char(&s, &s.ch[k]);
	spelled &= s.nch >= 3;
	if (s.nch == 0 || (s.nch > MAX_WORDS && !spelled)) {
		rc = bad_entry(err, lineno, s.nch ? "more than 4 words" : "no letter to match");
		goto done;
	}
	e.term = (s.nch == 1 && s.ch[0].nwords == 1) || (s.nch > 1 && !spelled) ? TERM_WORD
										: TERM_JOINED;
	for (k = 0; k < s.nch && rc == 0; k++) {
		if (k && !spelled)
			syms[n++] = GAP;
		for (w = 0; w < s.ch[k].nwords && rc == 0; w++)
			rc = entry_symbols(s.u, &s.words[s.ch[k].first + w], syms, &n);
	}
	if (rc) {
		rc = bad_entry(err, lineno, "a character this filter cannot match, or too long");
		goto done;
	}
	for (k = 0; k < n; k++)
		any += syms[k] == ANY;
	if (any > MAX_ANY || (any && n - any < 2)) {
		/* a text's '*' stands for a letter only in a word with two letters or more */
		rc =
		    bad_entry(err, lineno, "more than two '*', or a '*' with fewer than 2 letters");
		goto done;
	}
	trie_add(l, 0, syms, 0, n, &e);
done:
	scan_release(&s);
	return rc;
}

int badword_parse(const char *text, size_t len, struct badword_list **out, struct buf *err)
{
	struct badword_list *l = xcalloc(1, sizeof(*l));
	size_t i = 0, lineno = 0, n;
	int rc = 0;

	*out = NULL;
	(void)node_new(l); /* the root */
	while (i < len && rc == 0) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) : len;
		const char *p = text + i;

		lineno++;
		n = end - i;
		while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--; /* CR, SP and HTAB in any order at the end */
		text_trim_ows(&p, &n);
		if (n && *p != '#')
			rc = add_entry(l, p, n, lineno, err);
		i = end + 1;
	}
	if (rc) {
		badword_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

int badword_load(const char *path, struct badword_list **out, struct buf *err)
{
	struct buf data;
	int rc;

	*out = NULL;
	buf_init(&data, BADWORD_FILE_MAX);
	if (buf_read_file(&data, path, err)) {
		rc = ERR_IO;
		goto done;
	}
	rc = badword_parse(data.data, data.len, out, err);
	if (rc)
		(void)buf_appendf(err, " in %s", path);
done:
	buf_release(&data);
	return rc;
}

void badword_free(struct badword_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nentries; i++)
		free(l->entries[i]);
	free(l->entries);
	free(l->nodes);
	free(l);
}

size_t badword_count(const struct badword_list *l)
{
	return l->nentries;
}
