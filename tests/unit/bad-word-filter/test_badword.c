/*
 * test_badword.c: bad-word-filter's matcher on the shipped list (data/badwords.txt):
 * obfuscations it must catch, innocent words it must never flag (the Scunthorpe problem),
 * where the match is, and the list parser's errors.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../../services/bad-word-filter/badword.h"
#include "../unit.h"
#include "common/err.h"
#include "common/xalloc.h"

#define LIST_FILE "services/bad-word-filter/data/badwords.txt"

static struct badword_list *list;

static void load(void)
{
	struct buf err;

	buf_init(&err, BUF_NOCAP);
	cr_assert_eq(badword_load(LIST_FILE, &list, &err), 0, "%s", err.data);
	buf_release(&err);
}

static void unload(void)
{
	badword_free(list);
	list = NULL;
#ifdef __SANITIZE_ADDRESS__
	unit_leak_check();
#endif
}

TestSuite(badword, .init = load, .fini = unload);

struct row {
	const char *text;
	const char *entry; /* the list entry it must match; NULL: must not match */
};

static void check_rows(const struct row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct badword_match m = { 0 };
		bool bad = badword_check(list, rows[i].text, strlen(rows[i].text), &m);

		if (!rows[i].entry) {
			cr_expect(!bad, "\"%s\" flagged (matched \"%s\")", rows[i].text,
				  bad ? m.entry : "");
			continue;
		}
		cr_expect(bad, "\"%s\" not flagged", rows[i].text);
		if (bad)
			cr_expect_str_eq(m.entry, rows[i].entry, "\"%s\" matched \"%s\"",
					 rows[i].text, m.entry);
	}
}

#define ROWS(r) check_rows(r, ARRAY_SIZE(r))

Test(badword, plain_words_on_word_boundaries)
{
	static const struct row rows[] = {
		{ "This book is shit", "shit" },
		{ "shit, what a book", "shit" },
		{ "(shit)", "shit" },
		{ "what an asshole wrote this", "asshole" },
		{ "Bitches!", "bitches" },
		{ "a blow job scene", "blow job" },
		{ "a blow-job scene", "blowjob" },
		{ "A great book", NULL },
		{ "", NULL },
	};

	ROWS(rows);
}

Test(badword, case_and_unicode)
{
	static const struct row rows[] = {
		{ "SHIT", "shit" },
		{ "ShIt", "shit" },
		{ "F\xc3\xbc"
		  "ck this",
		  "fuck" }, /* ü */
		{ "fu\xcc\x88"
		  "ck",
		  "fuck" }, /* u + combining diaeresis */
		{ "\xef\xbd\x86\xef\xbd\x95\xef\xbd\x83\xef\xbd\x8b", "fuck" }, /* fullwidth */
		{ "\xf0\x9d\x90\x9f\xf0\x9d\x90\xae\xf0\x9d\x90\x9c\xf0\x9d\x90\xa4",
		  "fuck" }, /* bold */
		{ "\xe2\x92\xbb\xe2\x93\xa4\xe2\x93\x92\xe2\x93\x9a you",
		  "fuck" }, /* circled: capital F, small u c k */
		{ "\xe2\x93\x88\xe2\x92\xbd\xe2\x92\xbe\xe2\x93\x89", "shit" }, /* all capital */
		{ "sh\xe2\x93\x98t", "shit" },					/* one circled i */
		{ "\xe2\x93\x92\xe2\x93\x9e\xe2\x93\x9e\xe2\x93\x9a", NULL },	/* cook */
		{ "shit\xe2\x91\xa0", "shit" }, /* circled digit one still separates */
		{ "fu\xe2\x80\x8b"
		  "ck",
		  "fuck" },			      /* zero-width space */
		{ "fu\xd1\x81k", "fuck" },	      /* Cyrillic es */
		{ "\xd1\x81\xd0\xbe\xd0\xba", NULL }, /* Russian "juice", all Cyrillic */
		{ "\xe5\xa5\xbd\xe4\xb9\xa6", NULL }, /* Chinese */
		{ "shit\xe2\x80\x94"
		  "a dash",
		  "shit" }, /* em dash separates */
		{ "caf\xc3\xa9 assassin", NULL },
		/* Latin Extended Additional: precomposed as decomposed (NFC as NFD) */
		{ "f\xe1\xbb\xa5"
		  "ck",
		  "fuck" }, /* u with dot below U+1EE5 */
		{ "fu\xcc\xa3"
		  "ck",
		  "fuck" },		       /* u + combining dot below */
		{ "sh\xe1\xbb\x8bt", "shit" }, /* i with dot below U+1ECB */
		{ "\xe1\xb9\xa1hit", "shit" }, /* s with dot above U+1E61 */
		{ "B\xe1\xba\xa0ST\xe1\xba\xa0RD",
		  "bastard" },			 /* capital A with dot below U+1EA0 */
		{ "fu\xe1\xba\x9fk", NULL },	 /* delta U+1E9F matches nothing */
		{ "Vi\xe1\xbb\x87t Nam", NULL }, /* e with circumflex and dot below U+1EC7 */
	};

	ROWS(rows);
}

/*
 * Letterlike symbols U+2100 - U+214F whose compatibility decomposition is a Latin letter
 * read as that letter; the others (multi-letter abbreviations, signs) still separate.
 */
Test(badword, letterlike_symbols)
{
	static const struct row rows[] = {
		{ "s\xe2\x84\x8eit", "shit" },	   /* planck constant h */
		{ "fu\xe2\x84\x82k", "fuck" },	   /* double-struck C, not "fu" "k" */
		{ "fuc\xe2\x84\xaa off", "fuck" }, /* kelvin sign */
		{ "s\xe2\x84\x8fit", "shit" },	   /* h-bar: U+0127 h with stroke */
		{ "\xe2\x84\xb0ssex", NULL },	   /* script capital E */
		{ "\xe2\x84\x8b\xe2\x84\xaf\xe2\x84\x93\xe2\x84\x93\xe2\x84\xb4",
		  NULL },			       /* hello */
		{ "-40 \xe2\x84\x83 outside", NULL },  /* degree Celsius */
		{ "\xe2\x84\x96 1 bestseller", NULL }, /* numero sign */
		{ "fu\xe2\x84\x83k", "fuk" },	       /* degree Celsius still separates */
		{ "sh\xe2\x84\xa2", NULL },	       /* trade mark sign */
	};

	ROWS(rows);
}

Test(badword, obfuscations)
{
	static const struct row rows[] = {
		{ "sh1t", "shit" },
		{ "$h!t", "shit" },
		{ "a$$", "ass" },
		{ "@ss", "ass" },
		{ "b!tch!", "bitch" },
		{ "f*ck", "feck" }, /* the first entry the mask fits */
		{ "pi**ed me off", "pissed" },
		{ "fuuuuuck", "fuck" },
		{ "shiiiiit", "shit" },
		{ "f.u.c.k", "fuck" },
		{ "s-h-i-t", "shit" },
		{ "f_u_c_k", "fuck" },
		{ "f u c k this", "fuck" },
		{ "what a f u c k", "fuck" },
		{ "s.o.b.", "s.o.b." },
	};

	ROWS(rows);
}

/*
 * List entries with ! | + * at a word's end ("sh!+", "shi+", "masterbat*") read those as
 * inside a word (t, t, any letter), not cut short to the common "sh", "shi", "masterbat"; the
 * text's "sh!+" and "shi+" still match, as does any word ending in ! | + with a + among them.
 */
Test(badword, entry_symbols_at_word_ends)
{
	static const struct row rows[] = {
		{ "Sh! Don't spoil the ending.", NULL },
		{ "A novel by Shi Wei", NULL },
		{ "The sh sound", NULL },
		{ "masterbat", NULL },
		{ "Go, Puss!", NULL },
		{ "an A+ read", NULL },
		{ "C++ for beginners", NULL },
		{ "it's as* good as they say", NULL },
		{ "what a load of sh!+", "shit" },
		{ "shi+ book", "shit" },
		{ "SH!+!", "shit" },
		{ "sh!t", "shit" },
		{ "masterbats", "masterbat*" },
		{ "masterbate", "masterbate" },
		{ "b!tch", "bitch" },
		{ "bi+ch", "bitch" },
	};

	ROWS(rows);
}

/*
 * A '*' at the end of a word is a footnote or a rating's star, unless the word with it is an
 * entry written with its '*' there: the text "masterbat*" is the list's "masterbat*".
 */
Test(badword, text_star_at_word_end)
{
	static const struct row rows[] = {
		{ "masterbat*", "masterbat*" },
		{ "what a masterbat* he is", "masterbat*" },
		{ "*masterbat*", "masterbat*" },
		{ "masterb*t*", "masterbat*" },
		{ "f*", NULL },
		{ "f* this", NULL },
		{ "a great book*", NULL },
		{ "5* from me", NULL },
		{ "**bold** text", NULL },
		{ "it's as* good", NULL },
		{ "a piece of s***", NULL },
		{ "sh* happens", NULL },
	};

	ROWS(rows);
}

/* Innocent words that contain a bad word, or look like one after normalization. */
Test(badword, scunthorpe_never_flagged)
{
	static const struct row rows[] = {
		{ "Scunthorpe", NULL },
		{ "assassin", NULL },
		{ "classic", NULL },
		{ "cocktail", NULL },
		{ "Essex", NULL },
		{ "grape", NULL },
		{ "therapist", NULL },
		{ "Sussex", NULL },
		{ "Middlesex", NULL },
		{ "Penistone", NULL },
		{ "cockpit", NULL },
		{ "Dickens", NULL },
		{ "analysis", NULL },
		{ "butter", NULL },
		{ "buttress", NULL },
		{ "hello", NULL },
		{ "shell", NULL },
		{ "passion", NULL },
		{ "bass", NULL },
		{ "compass", NULL },
		{ "cumulative", NULL },
		{ "document", NULL },
		{ "scrap", NULL },
		{ "title", NULL },
		{ "cook", NULL },
		{ "sob", NULL },
		{ "Hancock", NULL },
		{ "peacock", NULL },
		{ "assume", NULL },
		{ "shiitake", NULL },
		{ "arsenal", NULL },
		{ "arsenic", NULL },
		{ "hitch", NULL },
		{ "Moby Dick", NULL },
		{ "a pawn in the game", NULL },
		{ "It's hit the shelves", NULL },
		{ "the pen is mightier", NULL },
		{ "a s s e m b l y", NULL },
		{ "5 stars, 4.5 overall", NULL },
		{ "***** five stars", NULL },
		{ "a 555 page book", NULL },
		{ "Dick Van Dyke", NULL },
		{ "a chink in his armour", NULL },
	};

	ROWS(rows);
}

/*
 * The list's phrase "s hit" is the word spelled with a space; the one-letter tail of a
 * contraction written with a space beside its apostrophe belongs to the word before it, so
 * "It' s hit" reads "It's hit" and is not that phrase.
 */
Test(badword, contraction_tail_starts_no_phrase)
{
	static const struct row rows[] = {
		{ "It' s hit or miss", NULL },
		{ "It 's hit or miss", NULL },
		{ "It ' s hit or miss", NULL },
		{ "the 80\xe2\x80\x99 s hit songs", NULL }, /* right single quotation mark */
		{ "That` s hit home", NULL },
		{ "s hit", "s hit" },
		{ "what a s hit book", "s hit" },
		{ "(s hit)", "s hit" },
		{ "It' s shit", "shit" },
		{ "It' s a blow job", "blow job" },
		{ "a 'blow job'", "blow job" },
	};

	ROWS(rows);
}

Test(badword, match_position)
{
	const char *t = "what the  shit is this";
	struct badword_match m;

	cr_assert(badword_check(list, t, strlen(t), &m));
	cr_assert_eq(m.offset, 10);
	cr_assert_eq(m.len, 4);
	t = "oh f.u.c.k!";
	cr_assert(badword_check(list, t, strlen(t), &m));
	cr_assert_eq(m.offset, 3);
	cr_assert_eq(m.len, 7);
	cr_assert(badword_check(list, t, strlen(t), NULL));
}

Test(badword, any_bytes)
{
	static const char junk[] = "\xff\xfe\x80\xc0\xaf sh\xe1\x80 \xf4\x90\x80\x80 ok";

	cr_assert(!badword_check(list, junk, sizeof(junk) - 1, NULL));
	cr_assert(!badword_check(list, "", 0, NULL));
}

struct parse_row {
	const char *text;
	int rc;
	size_t count;
	const char *error; /* substring of the message */
};

Test(badword, parse)
{
	static const struct parse_row rows[] = {
		{ "", 0, 0, NULL },
		{ "# a comment\n\n  darn  \r\nheck\n", 0, 2, NULL },
		{ "darn\nDARN\nd4rn\n", 0, 1, NULL },
		{ "darn\n\xd0\xbf\xd1\x80\xd0\xb8\n", ERR_VALIDATION, 0, "line 2:" },
		{ "...\n", ERR_VALIDATION, 0, "line 1: no letter" },
		{ "a b c d e\n", 0, 1, NULL }, /* spelled out: one word */
		{ "one two three four five\n", ERR_VALIDATION, 0, "more than 4 words" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		  ERR_VALIDATION, 0, "too long" },
		{ "sh!+\nshi+\nshit\n", 0, 1, NULL }, /* all three read "shit" */
		{ "sh!+\nsh\n", 0, 2, NULL },
		{ "ab*\n", 0, 1, NULL },      /* aba ... abz: one entry */
		{ "ab*\nabc\n", 0, 2, NULL }, /* abc names its own path */
		{ "a*\n", ERR_VALIDATION, 0, "fewer than 2 letters" },
		{ "a***b\n", ERR_VALIDATION, 0, "more than two '*'" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct badword_list *l = NULL;
		struct buf err;
		int rc;

		buf_init(&err, BUF_NOCAP);
		rc = badword_parse(rows[i].text, strlen(rows[i].text), &l, &err);
		cr_expect_eq(rc, rows[i].rc, "row %zu: rc %d (%s)", i, rc, err.data);
		if (rc == 0)
			cr_expect_eq(badword_count(l), rows[i].count, "row %zu", i);
		else
			cr_expect(strstr(err.data, rows[i].error), "row %zu: %s", i, err.data);
		badword_free(l);
		buf_release(&err);
	}
}

Test(badword, load_errors)
{
	struct badword_list *l;
	struct buf err;

	buf_init(&err, BUF_NOCAP);
	cr_assert_eq(badword_load("/nonexistent/list.txt", &l, &err), ERR_IO);
	cr_assert_null(l);
	cr_assert(strstr(err.data, "/nonexistent/list.txt"), "%s", err.data);
	buf_release(&err);
}
