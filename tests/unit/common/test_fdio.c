/*
 * test_fdio.c: fdio.h on pipes and a temporary file: a full read gathers what a writer hands
 * over in pieces and stops at the end; a full pread reads at its offset without moving the
 * file's; a full write gets everything through a pipe smaller than the data and goes on
 * after a short write; the parent directory of a path is synced.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/fdio.h"

#define BIG (1 << 20) /* 16 times a pipe's default 64 KiB */

struct writer {
	int fd;
	const char *data;
	size_t len, piece;
	pthread_t th;
};

/* Writes the data in pieces of w->piece bytes, then closes its end. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;

	for (size_t at = 0; at < w->len; at += w->piece) {
		size_t n = w->len - at < w->piece ? w->len - at : w->piece;

		cr_assert_eq(write(w->fd, w->data + at, n), (ssize_t)n);
		usleep(1000);
	}
	close(w->fd);
	return NULL;
}

Test(fdio, read_full_gathers_pieces_and_stops_at_the_end)
{
	static const char text[] = "one, two, three, four, five";
	struct writer w = { .data = text, .len = sizeof(text) - 1, .piece = 4 };
	char got[64] = { 0 };
	int p[2];

	cr_assert_eq(pipe(p), 0);
	w.fd = p[1];
	pthread_create(&w.th, NULL, writer_main, &w);
	cr_expect_eq(fdio_read_full(p[0], got, 10), 10, "ten bytes from pieces of four");
	cr_expect_eq(fdio_read_full(p[0], got + 10, sizeof(got) - 10), (ssize_t)w.len - 10,
		     "the rest, short only because the writer closed");
	cr_expect_str_eq(got, text);
	cr_expect_eq(fdio_read(p[0], got, 1), 0, "the end");
	pthread_join(w.th, NULL);
	close(p[0]);
	cr_expect_eq(fdio_read_full(p[0], got, 1), -1, "a closed descriptor");
	cr_expect_eq(errno, EBADF);
}

Test(fdio, pread_full_reads_at_its_offset)
{
	char path[] = "/tmp/test_fdio_XXXXXX";
	char got[8] = { 0 };
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(fdio_write_full(fd, "0123456789", 10), 0);
	cr_assert_eq(lseek(fd, 2, SEEK_SET), 2);
	cr_expect_eq(fdio_pread_full(fd, got, 4, 5), 4);
	cr_expect_str_eq(got, "5678");
	cr_expect_eq(fdio_pread_full(fd, got, 4, 8), 2, "short at the end of the file");
	cr_expect_eq(lseek(fd, 0, SEEK_CUR), 2, "the file's offset did not move");
	cr_expect_eq(fdio_pread_full(fd, got, 4, -1), -1);
	cr_expect_eq(errno, EINVAL);
	close(fd);
}

struct reader {
	int fd;
	char *got;
	ssize_t n;
	pthread_t th;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	r->n = fdio_read_full(r->fd, r->got, BIG + 1);
	return NULL;
}

Test(fdio, write_full_gets_everything_through_a_small_pipe)
{
	char *data = malloc(BIG);
	struct reader r = { .got = calloc(1, BIG + 1) };
	int p[2];

	for (size_t i = 0; i < BIG; i++)
		data[i] = (char)(i * 7 + i / 4096);
	cr_assert_eq(pipe(p), 0);
	r.fd = p[0];
	pthread_create(&r.th, NULL, reader_main, &r);
	cr_expect_eq(fdio_write_full(p[1], data, BIG), 0);
	close(p[1]);
	pthread_join(r.th, NULL);
	cr_expect_eq(r.n, BIG, "the reader got %zd bytes", r.n);
	cr_expect_eq(memcmp(r.got, data, BIG), 0);
	close(p[0]);
	free(data);
	free(r.got);
}

/*
 * A file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes the kernel write only part: the
 * loop goes on after the short write and reports the next one's EFBIG, with the part written.
 */
Test(fdio, write_full_goes_on_after_a_short_write)
{
	char path[] = "/tmp/test_fdio_XXXXXX";
	struct rlimit lim;
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	unlink(path);
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &lim), 0);
	lim.rlim_cur = 4;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0, "%s", strerror(errno));
	cr_expect_eq(fdio_write_full(fd, "0123456789", 10), -1, "a short write is not the end");
	cr_expect_eq(errno, EFBIG);
	cr_expect_eq(lseek(fd, 0, SEEK_END), 4, "the part the limit let through");
	close(fd);
}

Test(fdio, sync_parent)
{
	cr_expect_eq(fdio_sync_parent("/tmp/some-file"), 0);
	cr_expect_eq(fdio_sync_parent("relative-file"), 0); /* the working directory */
	cr_expect_eq(fdio_sync_parent("/nonexistent-dir/file"), -1);
}
