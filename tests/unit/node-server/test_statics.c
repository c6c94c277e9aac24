/* Unit tests for node-server's statics.c: path rules, content types, ETags, the file cache. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/xalloc.h"
#include "../../../services/node-server/statics.h"

#include "../unit.h"

Test(statics, segment_check)
{
	static const struct {
		const char *seg;
		int rc;
	} rows[] = {
		{ "index.html", 0 },
		{ "app.js", 0 },
		{ "a b", 0 },
		{ "x..y", 0 },
		{ "", ERR_BAD_REQUEST },
		{ ".", ERR_BAD_REQUEST },
		{ "..", ERR_BAD_REQUEST },
		{ "../etc", ERR_BAD_REQUEST },
		{ "a/b", ERR_BAD_REQUEST },
		{ "..\\..\\x", ERR_BAD_REQUEST },
		{ "a\\b", ERR_BAD_REQUEST },
		{ "a\nb", ERR_BAD_REQUEST },
		{ "a\x7f", ERR_BAD_REQUEST },
		{ ".git", ERR_NOT_FOUND },
		{ ".env", ERR_NOT_FOUND },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++)
		cr_assert_eq(statics_segment_check(rows[i].seg), rows[i].rc, "row %zu '%s'", i,
			     rows[i].seg);
	cr_assert_eq(statics_segment_check(NULL), ERR_BAD_REQUEST);
}

Test(statics, content_types)
{
	static const struct {
		const char *name, *type;
	} rows[] = {
		{ "index.html", "text/html; charset=utf-8" },
		{ "style.css", "text/css; charset=utf-8" },
		{ "app.js", "text/javascript; charset=utf-8" },
		{ "lib.mjs", "text/javascript; charset=utf-8" },
		{ "logo.svg", "image/svg+xml" },
		{ "a.PNG", "image/png" },
		{ "favicon.ico", "image/x-icon" },
		{ "data.json", "application/json" },
		{ "font.woff2", "font/woff2" },
		{ "robots.txt", "text/plain; charset=utf-8" },
		{ "noext", "application/octet-stream" },
		{ "dir.js/file", "application/octet-stream" },
		{ "archive.tar.gz", "application/octet-stream" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++)
		cr_assert_str_eq(statics_content_type(rows[i].name), rows[i].type, "row %zu", i);
}

Test(statics, etag_match)
{
	static const struct {
		const char *inm;
		int match;
	} rows[] = {
		{ NULL, 0 },
		{ "", 0 },
		{ "\"abc\"", 1 },
		{ "W/\"abc\"", 1 },
		{ "\"x\", \"abc\"", 1 },
		{ "\"x\",\"abc\" ", 1 },
		{ "*", 1 },
		{ "\"abcd\"", 0 },
		{ "abc", 0 },
		{ "\"ab\"", 0 },
		{ ",,,", 0 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rows); i++)
		cr_assert_eq(statics_etag_match(rows[i].inm, "\"abc\""), rows[i].match, "row %zu",
			     i);
}

/* A temporary folder with a few files, and one file outside it. */
struct tree {
	char base[PATH_MAX];
	char root[PATH_MAX];
	char outside[PATH_MAX];
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fputs(text, f) >= 0, 1);
	cr_assert_eq(fclose(f), 0);
}

static void tree_make(struct tree *t)
{
	char p[PATH_MAX + 64];
	char tmpl[] = "/tmp/statics-test-XXXXXX";

	cr_assert_not_null(mkdtemp(tmpl));
	snprintf(t->base, sizeof(t->base), "%s", tmpl);
	snprintf(t->root, sizeof(t->root), "%s/www", tmpl);
	snprintf(t->outside, sizeof(t->outside), "%s/secret.txt", tmpl);
	cr_assert_eq(mkdir(t->root, 0700), 0);
	snprintf(p, sizeof(p), "%s/images", t->root);
	cr_assert_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/index.html", t->root);
	write_file(p, "<h1>hi</h1>");
	snprintf(p, sizeof(p), "%s/images/logo.svg", t->root);
	write_file(p, "<svg/>");
	snprintf(p, sizeof(p), "%s/.hidden", t->root);
	write_file(p, "no");
	write_file(t->outside, "secret");
	snprintf(p, sizeof(p), "%s/link.txt", t->root);
	cr_assert_eq(symlink(t->outside, p), 0);
}

static void tree_remove(struct tree *t)
{
	char cmd[PATH_MAX * 2];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->base);
	cr_assert_eq(system(cmd), 0);
}

Test(statics, lookup_table, LEAK_FINI)
{
	static const struct {
		const char *segs[3];
		size_t n;
		int rc;
		const char *body;
	} rows[] = {
		{ { NULL }, 0, 0, "<h1>hi</h1>" },
		{ { "index.html" }, 1, 0, "<h1>hi</h1>" },
		{ { "images", "logo.svg" }, 2, 0, "<svg/>" },
		{ { "images" }, 1, ERR_NOT_FOUND, NULL },
		{ { "missing.js" }, 1, ERR_NOT_FOUND, NULL },
		{ { ".hidden" }, 1, ERR_NOT_FOUND, NULL },
		{ { "link.txt" }, 1, ERR_NOT_FOUND, NULL },
		{ { "..", "secret.txt" }, 2, ERR_BAD_REQUEST, NULL },
		{ { "images", "..", "index.html" }, 3, ERR_BAD_REQUEST, NULL },
		{ { "../secret.txt" }, 1, ERR_BAD_REQUEST, NULL },
		{ { "..\\secret.txt" }, 1, ERR_BAD_REQUEST, NULL },
	};
	struct statics *st;
	struct tree t;
	struct buf msg;
	size_t i;

	tree_make(&t);
	buf_init(&msg, 1024);
	cr_assert_eq(statics_new(t.root, &st, &msg), 0, "%s", msg.data);
	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		struct statics_file *f = NULL;
		int rc = statics_lookup(st, rows[i].segs, rows[i].n, &f, &msg);

		cr_assert_eq(rc, rows[i].rc, "row %zu: rc %d", i, rc);
		if (rc == 0) {
			cr_assert_eq(f->len, strlen(rows[i].body), "row %zu", i);
			cr_assert_eq(memcmp(f->data, rows[i].body, f->len), 0, "row %zu", i);
			cr_assert_eq(f->etag[0], '"');
		} else {
			cr_assert_null(f);
		}
		statics_file_release(f);
	}
	statics_free(st);
	tree_remove(&t);
	buf_release(&msg);
}

/* The cache serves the same file object until the file changes, then the new content. */
Test(statics, cache_picks_up_changes, LEAK_FINI)
{
	const char *segs[1] = { "index.html" };
	struct statics_file *a, *b, *c;
	struct timespec later[2];
	char p[PATH_MAX + 32];
	struct statics *st;
	struct tree t;
	struct buf msg;

	tree_make(&t);
	buf_init(&msg, 1024);
	cr_assert_eq(statics_new(t.root, &st, &msg), 0);
	cr_assert_eq(statics_lookup(st, segs, 1, &a, &msg), 0);
	cr_assert_eq(statics_lookup(st, segs, 1, &b, &msg), 0);
	cr_assert_eq(a, b, "an unchanged file comes from the cache");
	snprintf(p, sizeof(p), "%s/index.html", t.root);
	write_file(p, "<h1>changed</h1>");
	later[0].tv_sec = later[1].tv_sec = time(NULL) + 10;
	later[0].tv_nsec = later[1].tv_nsec = 0;
	cr_assert_eq(utimensat(AT_FDCWD, p, later, 0), 0);
	cr_assert_eq(statics_lookup(st, segs, 1, &c, &msg), 0);
	cr_assert_neq(a, c);
	cr_assert_eq(c->len, strlen("<h1>changed</h1>"));
	cr_assert_str_neq(a->etag, c->etag);
	statics_file_release(a);
	statics_file_release(b);
	statics_file_release(c);
	statics_free(st);
	tree_remove(&t);
	buf_release(&msg);
}

Test(statics, missing_root, LEAK_FINI)
{
	const char *segs[1] = { "index.html" };
	struct statics_file *f;
	struct statics *st;
	struct buf msg;

	buf_init(&msg, 1024);
	cr_assert_eq(statics_new("/nonexistent/frontend", &st, &msg), ERR_NOT_FOUND);
	cr_assert(strstr(msg.data, "FRONTEND_DIR"));
	cr_assert_eq(statics_lookup(st, segs, 1, &f, &msg), ERR_NOT_FOUND);
	cr_assert_eq(statics_lookup(st, NULL, 0, &f, &msg), ERR_NOT_FOUND);
	statics_free(st);
	buf_release(&msg);
}

/*
 * A cached path answers from the cache while its file is unchanged; a link to a file outside
 * the root swapped in for it is not followed (the cache is keyed by the file's identity, and
 * a new identity goes through realpath and the root check again).
 */
Test(statics, swapped_in_link_is_not_followed, LEAK_FINI)
{
	const char *segs[1] = { "page.html" };
	struct statics_file *a, *b;
	char p[PATH_MAX + 32];
	struct statics *st;
	struct tree t;
	struct buf msg;

	tree_make(&t);
	buf_init(&msg, 1024);
	snprintf(p, sizeof(p), "%s/page.html", t.root);
	write_file(p, "<p>page</p>");
	cr_assert_eq(statics_new(t.root, &st, &msg), 0);
	cr_assert_eq(statics_lookup(st, segs, 1, &a, &msg), 0);
	cr_assert_eq(statics_lookup(st, segs, 1, &b, &msg), 0);
	cr_assert_eq(a, b, "an unchanged file comes from the cache");
	statics_file_release(b);
	cr_assert_eq(unlink(p), 0);
	cr_assert_eq(symlink(t.outside, p), 0);
	b = NULL;
	cr_assert_eq(statics_lookup(st, segs, 1, &b, &msg), ERR_NOT_FOUND);
	cr_assert_null(b);
	cr_assert_eq(memcmp(a->data, "<p>page</p>", a->len), 0, "a held reference stays valid");
	statics_file_release(a);
	statics_free(st);
	tree_remove(&t);
	buf_release(&msg);
}

/*
 * With inotify, a cached file is current until an event says otherwise, so even an edit that
 * keeps the inode, the size and the mtime (which a stat(2) comparison cannot see) is picked
 * up at once; so is a directory on the way renamed and replaced.
 */
Test(statics, inotify_sees_what_stat_cannot, LEAK_FINI)
{
	const char *segs[2] = { "images", "logo.svg" };
	struct statics_file *a, *b, *c;
	char p[PATH_MAX + 32], q[PATH_MAX + 32];
	struct stat sb;
	struct timespec same[2];
	struct statics *st;
	struct tree t;
	struct buf msg;
	int probe = inotify_init1(IN_CLOEXEC);
	FILE *f;

	if (probe < 0)
		cr_skip_test("inotify_init1 failed (%s): statics falls back to stat(2)",
			     strerror(errno));
	(void)close(probe);
	tree_make(&t);
	buf_init(&msg, 1024);
	cr_assert_eq(statics_new(t.root, &st, &msg), 0);
	cr_assert_eq(statics_lookup(st, segs, 2, &a, &msg), 0);
	snprintf(p, sizeof(p), "%s/images/logo.svg", t.root);
	cr_assert_eq(stat(p, &sb), 0);
	f = fopen(p, "r+");
	cr_assert_not_null(f);
	cr_assert_eq(fputs("<SVG/>", f) >= 0, 1); /* same length, same inode */
	cr_assert_eq(fclose(f), 0);
	same[0] = sb.st_atim;
	same[1] = sb.st_mtim;
	cr_assert_eq(utimensat(AT_FDCWD, p, same, 0), 0);
	cr_assert_eq(statics_lookup(st, segs, 2, &b, &msg), 0);
	cr_assert_eq(memcmp(b->data, "<SVG/>", b->len), 0, "the edit is seen");
	snprintf(q, sizeof(q), "%s/images.old", t.root);
	snprintf(p, sizeof(p), "%s/images", t.root);
	cr_assert_eq(rename(p, q), 0);
	cr_assert_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/images/logo.svg", t.root);
	write_file(p, "<svg>new</svg>");
	cr_assert_eq(statics_lookup(st, segs, 2, &c, &msg), 0);
	cr_assert_eq(c->len, strlen("<svg>new</svg>"), "the new directory's file is served");
	statics_file_release(a);
	statics_file_release(b);
	statics_file_release(c);
	statics_free(st);
	tree_remove(&t);
	buf_release(&msg);
}
