/*
 * badword.h: finds the words of a bad-word list in a text, on word boundaries, so that
 * innocent words that merely contain a bad word ("Scunthorpe", "assassin", "cocktail") never
 * match.
 *
 * Reading the text (the list's entries are read the same way):
 *   - Case-insensitive and Unicode-aware: letters are folded to a-z, accents dropped
 *     (Latin-1, Latin Extended-A and Latin Extended Additional, combining marks),
 *     fullwidth, circled and mathematical letters and the letterlike symbols that decompose
 *     to a Latin letter ("ℎ" U+210E, "ℂ") read as their ASCII letter, and Cyrillic and
 *     Greek look-alikes ("а" U+0430) as the Latin letter they imitate. Any other letter is
 *     a letter that matches nothing, so it still joins a word. Zero-width characters and
 *     soft hyphens are ignored.
 *   - A word is a run of letters, digits and the symbols @ $ ! | + * between separators
 *     (whitespace, punctuation, emoji). ! | + * at either end of a word are separators; but
 *     a word is also read with the ! | + at its ends as letters out to the farthest + ("sh!+",
 *     "shi+!" read "shit"; "Sh!", "Puss!" and a footnote's "as*" do not), and with the '*'s
 *     at its end as an entry's '*'s there (the text "masterbat*" is the entry "masterbat*";
 *     "as*", "5*" and "**bold**" are no entry).
 * Obfuscations it catches:
 *   - digits and symbols for letters (0=o 1=i/l 2=z 3=e 4=a 5=s 6=g/b 7=t 8=b 9=g @=a $=s
 *     !=i |=l/i +=t): "sh1t", "a$$", "b!tch";
 *   - a '*' inside a word with at least two letters stands for any one letter: "f*ck";
 *   - repeated letters: a run of three or more of one character reads as one or two of it
 *     ("fuuuuck", "shiiit"); runs of one or two must match exactly, so "cook" is not "cok";
 *   - separators inside a word: a whitespace-free chunk split by punctuation is also read
 *     joined ("f.u.c.k", "s-h-i-t", "a_s_s"), and so is the end of a run of three or more
 *     one-character words ("f u c k").
 * List entries: one per line (blank lines and lines starting with '#' are skipped). An entry's
 * symbols read as inside a word of a text, at its ends too: "sh!+" and "shi+" are "shit" (never
 * the "sh" and "shi" of "Sh!" or "Shi Wei"), and a '*' is any letter ("masterbat*" is 26
 * words, and the text "masterbat*" too; at most two '*', in an entry of two letters or more).
 * An entry written with separators ("s.o.b.", "a_s_s") matches only text written with
 * separators, so "s.o.b." does not flag "sob". An entry of several words ("blow job") matches
 * those words in a row, but not from the one-letter tail of a contraction written with a space
 * beside its apostrophe: "It' s hit", "It 's hit" read "It's hit", not the list's "s hit".
 *
 * Ownership and threads: a struct badword_list is immutable once built; any number of
 * threads may call badword_check() on it at once.
 */
#ifndef BAD_WORD_FILTER_BADWORD_H
#define BAD_WORD_FILTER_BADWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

/* A list file larger than this is refused. */
#define BADWORD_FILE_MAX ((size_t)4 * 1024 * 1024)
/* An entry longer than this many letters is refused. */
#define BADWORD_ENTRY_MAX 64
/* Only the first BADWORD_TEXT_MAX bytes of a text are checked. */
#define BADWORD_TEXT_MAX ((size_t)64 * 1024)

struct badword_list;

struct badword_match {
	const char *entry; /* the list entry as written in the file; owned by the list */
	size_t offset;	   /* where the matched text starts and how long it is, in bytes */
	size_t len;
};

/*
 * Builds a list from text[0..len). Returns 0 and *out, or ERR_VALIDATION with "line N: ..."
 * appended to err (may be NULL) for an entry that has no letter this filter can match or is
 * longer than BADWORD_ENTRY_MAX letters.
 */
int badword_parse(const char *text, size_t len, struct badword_list **out, struct buf *err);
/* badword_parse() of a file: also ERR_IO (unreadable, or larger than BADWORD_FILE_MAX). */
int badword_load(const char *path, struct badword_list **out, struct buf *err);
void badword_free(struct badword_list *l);
/* Number of entries. */
size_t badword_count(const struct badword_list *l);

/*
 * Whether text[0..len) (any bytes; invalid UTF-8 is read byte by byte) holds a word of the
 * list. When it does and m is not NULL, *m describes the first match in reading order.
 */
bool badword_check(const struct badword_list *l, const char *text, size_t len,
		   struct badword_match *m);

#endif
