/* failsim.c: see failsim.h. */
#include "failsim.h"

#include "common/rand.h"

void failsim_init_every(struct failsim *fs, unsigned long long n)
{
	*fs = (struct failsim){ .every = n ? n : 1 };
	pthread_mutex_init(&fs->mu, NULL);
}

void failsim_init_rate(struct failsim *fs, double rate, uint64_t seed, bool has_seed)
{
	*fs = (struct failsim){ .rate = rate, .state = seed };
	if (!has_seed && rand_bytes(&fs->state, sizeof(fs->state)) != 0)
		fs->state = (uint64_t)(uintptr_t)fs ^ 0x9e3779b97f4a7c15ULL; /* no getrandom(2) */
	pthread_mutex_init(&fs->mu, NULL);
}

void failsim_release(struct failsim *fs)
{
	pthread_mutex_destroy(&fs->mu);
}

uint64_t failsim_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

bool failsim_next(struct failsim *fs)
{
	bool fail;

	pthread_mutex_lock(&fs->mu);
	fs->count++;
	if (fs->every) {
		fail = fs->count % fs->every == 0;
	} else {
		double u = (double)(failsim_splitmix64(&fs->state) >> 11) * 0x1.0p-53;

		fail = u < fs->rate;
	}
	pthread_mutex_unlock(&fs->mu);
	return fail;
}
