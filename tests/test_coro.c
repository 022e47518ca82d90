// SPDX-License-Identifier: MIT
/*
 * tests/test_coro.c - the coroutine layer on its own (assembly switch or
 * ucontext): alternation, arguments, callee-saved registers across
 * switches, final transfers, stack guard page, stack reuse.
 *
 * The same checks were run for aarch64 with a standalone build under
 * qemu-aarch64 (docs/virtual-time.md 8).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/coro.h"

#include <stdint.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static struct m2d_coro host, a, b;
static int trace[32], n;

static void fa(void *arg)
{
	m2d_coro_started();
	for (int i = 0; i < 3; i++) {
		trace[n++] = 100 + i + (int)(intptr_t)arg;
		m2d_coro_transfer(&a, &b);
	}
	m2d_coro_transfer_final(&a, &host);
}

static void fb(void *arg)
{
	volatile double local = 1.5;
	volatile char big[8192]; /* deeper than one page: the stack is usable */

	m2d_coro_started();
	memset((void *)big, 1, sizeof(big));
	for (int i = 0; i < 3; i++) {
		trace[n++] = 200 + i;
		m2d_coro_transfer(&b, &a);
	}
	trace[n++] = (int)(local * 2) + big[4000];
	m2d_coro_transfer_final(&b, &host);
}

static void test_coro_alternation(void **state)
{
	static const int want[] = { 107, 200, 108, 201, 109, 202, 4 };
	register long keep1 = 0x1234; /* callee-saved across the switches */
	volatile double keep2 = 3.25;

	n = 0;
	m2d_coro_init_host(&host);
	assert_int_equal(m2d_coro_init(&a, 64 * 1024, fa, (void *)7), 0);
	assert_int_equal(m2d_coro_init(&b, 64 * 1024, fb, NULL), 0);
	m2d_coro_transfer(&host, &a); /* a runs until it hands over to b ... back to host */
	m2d_coro_transfer(&host, &b);
	assert_int_equal(n, 7);
	for (int i = 0; i < 7; i++)
		assert_int_equal(trace[i], want[i]);
	assert_int_equal(keep1, 0x1234);
	assert_true(keep2 == 3.25);
	m2d_coro_fini(&a);
	m2d_coro_fini(&b);
	m2d_coro_fini(NULL);
}

/* The lowest page of a stack is a PROT_NONE guard page: touching it faults. */
static void test_coro_guard_page(void **state)
{
	struct m2d_coro co;
	long ps = sysconf(_SC_PAGESIZE);
	int status;
	pid_t pid;

	assert_int_equal(m2d_coro_init(&co, 32 * 1024, fa, NULL), 0);
	assert_non_null(co.stack);
	assert_true(co.stack_size >= 32 * 1024 + (size_t)ps);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL); /* cmocka catches it otherwise */
		((volatile char *)co.stack)[ps - 1] = 1; /* the guard page's last byte */
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
	((volatile char *)co.stack)[ps] = 1; /* the first usable byte is writable */
	m2d_coro_fini(&co);
	assert_null(co.stack);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_coro_alternation),
		cmocka_unit_test(test_coro_guard_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
