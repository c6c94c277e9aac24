/*
 * test_failsim.c: file-sink's failure decision: the FAIL_EVERY pattern, FAILURE_SEED
 * reproducibility, the splitmix64 reference outputs and the FAILURE_RATE statistics.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>

#include "../../../services/file-sink/failsim.h"
#include "common/xalloc.h"

struct every_row {
	unsigned long long n;
	const char *pattern; /* F = fail, . = pass, for the first deliveries */
};

static const struct every_row every_rows[] = {
	{ 1, "FFFFFF" },	  { 2, ".F.F.F.F" },	   { 3, "..F..F..F..F" },
	{ 5, "....F....F....F" }, { 7, "......F......F" },
};

Test(failsim, fail_every_exact_pattern)
{
	for (size_t i = 0; i < ARRAY_SIZE(every_rows); i++) {
		const struct every_row *r = &every_rows[i];
		struct failsim fs;

		failsim_init_every(&fs, r->n);
		for (size_t k = 0; r->pattern[k]; k++) {
			bool want = r->pattern[k] == 'F';

			cr_assert_eq(failsim_next(&fs), want, "FAIL_EVERY=%llu delivery %zu", r->n,
				     k + 1);
		}
		failsim_release(&fs);
	}
}

/* The published splitmix64 outputs for seed 0 (Vigna's splitmix64.c reference). */
Test(failsim, splitmix64_reference_values)
{
	uint64_t s = 0;

	cr_assert_eq(failsim_splitmix64(&s), 0xe220a8397b1dcdafULL);
	cr_assert_eq(failsim_splitmix64(&s), 0x6e789e6aa1b965f4ULL);
	cr_assert_eq(failsim_splitmix64(&s), 0x06c45d188009454fULL);
}

static void draw(double rate, uint64_t seed, bool has_seed, bool *out, size_t n)
{
	struct failsim fs;

	failsim_init_rate(&fs, rate, seed, has_seed);
	for (size_t i = 0; i < n; i++)
		out[i] = failsim_next(&fs);
	failsim_release(&fs);
}

Test(failsim, seed_is_reproducible)
{
	enum { N = 2000 };
	static bool a[N], b[N], c[N];
	size_t same = 0;

	draw(0.5, 42, true, a, N);
	draw(0.5, 42, true, b, N);
	draw(0.5, 43, true, c, N);
	cr_assert_arr_eq(a, b, sizeof(a), "same seed, different sequences");
	for (size_t i = 0; i < N; i++)
		same += a[i] == c[i];
	cr_assert_lt(same, N * 6 / 10, "seeds 42 and 43 agree on %zu of %d draws", same, N);
}

struct rate_row {
	double rate;
	uint64_t seed;
	bool has_seed;
};

static const struct rate_row rate_rows[] = {
	{ 0.0, 1, true }, { 1.0, 1, true },  { 0.5, 7, true },	 { 0.1, 8, true },
	{ 0.9, 9, true }, { 0.5, 0, false }, { 0.25, 0, false }, { 0.001, 3, true },
};

/* The share of failures stays within 5 standard deviations of the rate (exact at 0 and 1). */
Test(failsim, rate_statistics)
{
	enum { N = 20000 };
	static bool out[N];

	for (size_t i = 0; i < ARRAY_SIZE(rate_rows); i++) {
		const struct rate_row *r = &rate_rows[i];
		double sigma = sqrt(N * r->rate * (1 - r->rate));
		size_t fails = 0;

		draw(r->rate, r->seed, r->has_seed, out, N);
		for (size_t k = 0; k < N; k++)
			fails += out[k];
		cr_assert_leq(fabs((double)fails - N * r->rate), 5 * sigma,
			      "rate %g: %zu failures of %d (sigma %.1f)", r->rate, fails, N, sigma);
	}
}

enum { THREADS = 4, PER_THREAD = 1000 };

static void *decide(void *arg)
{
	struct failsim *fs = arg;
	size_t fails = 0;

	for (int i = 0; i < PER_THREAD; i++)
		fails += failsim_next(fs);
	return (void *)(uintptr_t)fails;
}

/* Concurrent deliveries share one counter: exactly one in N fails overall. */
Test(failsim, fail_every_under_threads)
{
	struct failsim fs;
	pthread_t th[THREADS];
	size_t fails = 0;

	failsim_init_every(&fs, 4);
	for (int t = 0; t < THREADS; t++)
		cr_assert_eq(pthread_create(&th[t], NULL, decide, &fs), 0);
	for (int t = 0; t < THREADS; t++) {
		void *ret;

		pthread_join(th[t], &ret);
		fails += (uintptr_t)ret;
	}
	cr_assert_eq(fails, THREADS * PER_THREAD / 4);
	failsim_release(&fs);
}
