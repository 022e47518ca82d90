// SPDX-License-Identifier: MIT
/*
 * tests/test_lockdep.c - misuse detection in debug builds (M2D_DEBUG_CHECKS):
 * each case runs in a forked child that must abort with a clear message
 * (a death test), and the correct-use twin must pass in-process.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/engine_internal.h"
#include "core/kernel.h"

#include <mmu2d/sim.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct m2d_spinlock cpa_lock, pgd_lock;
static struct m2d_rwlock mmu_lock;
static struct m2d_mutex slots_lock;
static struct m2d_rwsem mmap_lock;

static void init_locks(void)
{
	spin_lock_init(&cpa_lock, "cpa_lock", M2D_RANK_CPA_LOCK);
	spin_lock_init(&pgd_lock, "pgd_lock", M2D_RANK_PGD_LOCK);
	rwlock_init(&mmu_lock, "mmu_lock", M2D_RANK_MMU_LOCK);
	mutex_init(&slots_lock, "slots_lock", M2D_RANK_SLOTS_LOCK);
	init_rwsem(&mmap_lock, "mmap_lock", M2D_RANK_MMAP_LOCK);
}

/* Run @fn in a simulated thread of a fresh sim. */
static void run_in_thread(void (*fn)(void *))
{
	struct m2d_sim_config cfg;
	struct m2d_sim *sim;

	m2d_sim_config_default(&cfg);
	cfg.cpus = 2;
	assert_int_equal(m2d_sim_create(&sim, &cfg), 0);
	init_locks();
	assert_int_equal(m2d_sim_spawn(sim, 0, "victim", fn, NULL), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	m2d_sim_destroy(&sim);
}

/*
 * Fork; the child runs @fn in a simulated thread.  The child must die by
 * SIGABRT and its stderr must contain @needle.
 */
static void expect_death(void (*fn)(void *), const char *needle)
{
	int pipefd[2], status;
	char buf[4096];
	size_t len = 0;
	ssize_t r;
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pipefd[0]);
		dup2(pipefd[1], 2);
		run_in_thread(fn);
		_exit(0);
	}
	close(pipefd[1]);
	while (len < sizeof(buf) - 1 && (r = read(pipefd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = '\0';
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		fail_msg("child did not abort (status %d); stderr: %s", status, buf);
	if (!strstr(buf, needle))
		fail_msg("expected '%s' in: %s", needle, buf);
}

static void unlock_not_held(void *p)
{
	spin_unlock(&cpa_lock);
}

static void sleep_under_spinlock(void *p)
{
	spin_lock(&cpa_lock);
	mutex_lock(&slots_lock);
}

static void wrong_order(void *p)
{
	spin_lock(&pgd_lock);
	spin_lock(&cpa_lock); /* cpa_lock (80) must come before pgd_lock (85) */
}

static void recursive(void *p)
{
	write_lock(&mmu_lock);
	read_lock(&mmu_lock);
}

static void assert_write_but_read(void *p)
{
	read_lock(&mmu_lock);
	lockdep_assert_held_write(&mmu_lock);
}

static void assert_held_not_held(void *p)
{
	lockdep_assert_held(&mmap_lock);
}

static void up_write_while_reading(void *p)
{
	down_read(&mmap_lock);
	up_write(&mmap_lock);
}

static void exit_holding(void *p)
{
	spin_lock(&cpa_lock);
}

static void sync_rcu_in_reader(void *p)
{
	rcu_read_lock();
	synchronize_rcu();
}

static void correct_use(void *p)
{
	mutex_lock(&slots_lock);
	down_read(&mmap_lock);
	lockdep_assert_held_read(&mmap_lock);
	write_lock(&mmu_lock);
	lockdep_assert_held_write(&mmu_lock);
	spin_lock(&cpa_lock);
	spin_lock(&pgd_lock);
	lockdep_assert_held(&pgd_lock);
	spin_unlock(&pgd_lock);
	spin_unlock(&cpa_lock);
	write_unlock(&mmu_lock);
	up_read(&mmap_lock);
	mutex_unlock(&slots_lock);
}

static void test_lockdep_correct_use_passes(void **state)
{
	run_in_thread(correct_use);
}

/* Released in every build: the held-lock stack is always kept. */
static void test_lockdep_unlock_not_held(void **state)
{
	expect_death(unlock_not_held, "which this thread does not hold");
}

static void test_lockdep_up_write_while_reading(void **state)
{
	expect_death(up_write_while_reading, "does not hold");
}

static void test_lockdep_exit_holding(void **state)
{
	expect_death(exit_holding, "exited holding lock 'cpa_lock'");
}

#if M2D_DEBUG_CHECKS
static void test_lockdep_sleep_under_spinlock(void **state)
{
	expect_death(sleep_under_spinlock, "sleeping in 'slots_lock' while holding a spinning lock");
}

static void test_lockdep_wrong_order(void **state)
{
	expect_death(wrong_order, "lock order violation: acquiring 'cpa_lock' (rank 80) while holding 'pgd_lock' (rank 85)");
}

static void test_lockdep_recursive(void **state)
{
	expect_death(recursive, "recursive locking: 'mmu_lock'");
}

static void test_lockdep_assert_held_write_on_read(void **state)
{
	expect_death(assert_write_but_read, "lockdep_assert_held_write('mmu_lock') failed: held for read");
}

static void test_lockdep_assert_held_missing(void **state)
{
	expect_death(assert_held_not_held, "lockdep_assert_held('mmap_lock') failed: not held");
}

static void test_lockdep_synchronize_rcu_in_reader(void **state)
{
	expect_death(sync_rcu_in_reader, "inside an RCU read-side critical section");
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lockdep_correct_use_passes),
		cmocka_unit_test(test_lockdep_unlock_not_held),
		cmocka_unit_test(test_lockdep_up_write_while_reading),
		cmocka_unit_test(test_lockdep_exit_holding),
#if M2D_DEBUG_CHECKS
		cmocka_unit_test(test_lockdep_sleep_under_spinlock),
		cmocka_unit_test(test_lockdep_wrong_order),
		cmocka_unit_test(test_lockdep_recursive),
		cmocka_unit_test(test_lockdep_assert_held_write_on_read),
		cmocka_unit_test(test_lockdep_assert_held_missing),
		cmocka_unit_test(test_lockdep_synchronize_rcu_in_reader),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
