/*
 * unit.h — what every cmocka unit test binary shares (tests/unit/<module>/).
 *
 * The Makefile force-includes this header into every unit test source
 * (-include tests/unit/common/unit.h), so a test file needs no #include for
 * it; each main() calls unit_filter_from_env() once, before
 * cmocka_run_group_tests*().
 *
 * Header-only on purpose: a static inline helper needs no object file, so the
 * unit binaries link exactly what they did before.
 */
#ifndef CAIRN_TESTS_UNIT_H
#define CAIRN_TESTS_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

/*
 * Run only the cases whose names match $CAIRN_TEST_FILTER (cmocka's
 * whole-name glob, '*' and '?'), when it is set and not empty; otherwise run
 * every case. `make test T=<module>/<binary> F=<pattern>` sets it.
 * A pattern that matches no case runs zero tests; scripts/run-tests.sh counts
 * that as a failure. Borrows the environment string (valid for the process).
 * Main thread, before the group runs.
 */
static inline void unit_filter_from_env(void)
{
	const char *pattern = getenv("CAIRN_TEST_FILTER");

	if (pattern != NULL && pattern[0] != '\0')
		cmocka_set_test_filter(pattern);
}

#endif
