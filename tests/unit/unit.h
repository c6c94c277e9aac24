/*
 * unit.h: what every Criterion test file shares.
 *
 * Criterion runs each test in a worker whose exit status it ignores once the test passed, so
 * a LeakSanitizer report at the worker's exit would not fail anything. LEAK_FINI runs the
 * leak check at the end of each test instead and aborts on a leak, which Criterion reports
 * as a crash: use it as TestSuite(name, LEAK_FINI) or Test(suite, name, LEAK_FINI).
 * (tests/run.sh also fails a binary whose output holds a LeakSanitizer report.)
 */
#ifndef TESTS_UNIT_H
#define TESTS_UNIT_H

#include <stdlib.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
static inline void unit_leak_check(void)
{
	if (__lsan_do_recoverable_leak_check())
		abort();
}
#define LEAK_FINI .fini = unit_leak_check
#else
#define LEAK_FINI .fini = NULL
#endif

#endif
