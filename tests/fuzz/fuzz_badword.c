/*
 * fuzz_badword: bad-word-filter's list parser and matcher. An input starting with 'L' is a
 * word list (badword_parse), then used on a fixed text; any other input is a review checked
 * against a small built-in list that has every kind of entry (plain, leetspeak, joined,
 * spelled out, phrase). A match must lie within the text and name an entry, and the answer
 * must not change when asked twice.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../services/bad-word-filter/badword.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char builtin[] = "fuck\nsh1t\na_s_s\nf u c k e r\nblow job\nb!tch\ns.o.b.\n";
static const char sample[] =
    "What a f*cking b!tch, sh i t, a s s, blow-job, s.o.b. \xf0\x9f\x98\x80";

static void check(const struct badword_list *l, const char *text, size_t len)
{
	struct badword_match m = { 0 };
	bool bad = badword_check(l, text, len, &m);

	if (bad != badword_check(l, text, len, NULL))
		abort();
	if (bad && (!m.entry || m.len == 0 || m.offset + m.len > len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct badword_list *list;
	struct badword_list *l;

	if (!list && badword_parse(builtin, sizeof(builtin) - 1, &list, NULL) != 0)
		abort();
	if (size > 0 && data[0] == 'L') {
		if (badword_parse((const char *)data + 1, size - 1, &l, NULL) == 0) {
			check(l, sample, sizeof(sample) - 1);
			check(l, (const char *)data + 1, size - 1);
			badword_free(l);
		}
		return 0;
	}
	check(list, (const char *)data, size);
	return 0;
}
