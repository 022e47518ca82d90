// SPDX-License-Identifier: MIT
/* tests/test_alloc.c - the tagged allocator: accounting and failure injection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/alloc.h"

static void test_alloc_accounting(void **state)
{
	struct m2d_alloc_stats before, after;
	void *p;

	m2d_alloc_stats_get(&before);
	p = m2d_malloc(M2D_ALLOC_MISC, 1000);
	assert_non_null(p);
	m2d_alloc_stats_get(&after);
	assert_int_equal(after.live_bytes[M2D_ALLOC_MISC] - before.live_bytes[M2D_ALLOC_MISC], 1000);
	assert_int_equal(after.live_count[M2D_ALLOC_MISC] - before.live_count[M2D_ALLOC_MISC], 1);
	assert_true(after.peak_bytes[M2D_ALLOC_MISC] >= 1000);
	m2d_free(M2D_ALLOC_MISC, p, 1000);
	m2d_alloc_stats_get(&after);
	assert_int_equal(after.live_bytes[M2D_ALLOC_MISC], before.live_bytes[M2D_ALLOC_MISC]);
}

static void test_alloc_aligned_zeroed(void **state)
{
	unsigned char *p = m2d_aligned_zalloc(M2D_ALLOC_PT_PAGE, 4096, 4096);

	assert_non_null(p);
	assert_int_equal((uintptr_t)p % 4096, 0);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(p[i], 0);
	m2d_free(M2D_ALLOC_PT_PAGE, p, 4096);
}

static void test_alloc_fail_after(void **state)
{
	void *a, *b, *c;

	m2d_alloc_fail_after(2);
	a = m2d_malloc(M2D_ALLOC_MISC, 8);
	b = m2d_malloc(M2D_ALLOC_MISC, 8);
	c = m2d_malloc(M2D_ALLOC_MISC, 8);
	assert_non_null(a);
	assert_null(b);
	assert_non_null(c);
	m2d_free(M2D_ALLOC_MISC, a, 8);
	m2d_free(M2D_ALLOC_MISC, c, 8);
}

static void test_alloc_fail_probability(void **state)
{
	int failed = 0;

	m2d_alloc_fail_setup(42, 0.5);
	for (int i = 0; i < 1000; i++) {
		void *p = m2d_malloc(M2D_ALLOC_MISC, 16);
		if (!p)
			failed++;
		m2d_free(M2D_ALLOC_MISC, p, 16);
	}
	m2d_alloc_fail_setup(0, 0);
	assert_in_range(failed, 400, 600);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_accounting),
		cmocka_unit_test(test_alloc_aligned_zeroed),
		cmocka_unit_test(test_alloc_fail_after),
		cmocka_unit_test(test_alloc_fail_probability),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
