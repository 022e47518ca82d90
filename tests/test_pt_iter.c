// SPDX-License-Identifier: MIT
/*
 * tests/test_pt_iter.c - the tdp_iter-shaped iterator: pre-order visit
 * order, min_level, restart after a yield, the forward-progress guard, and
 * the compare-and-exchange setter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <mmu2d/pt.h>

#define G (1ull << 30)
#define M2 (1ull << 21)
#define K4 (1ull << 12)

static const unsigned RWX_WB = M2D_PROT_RWX | M2D_PROT_WB;

static struct m2d_pt *new_pt(enum m2d_pt_format fmt)
{
	struct m2d_pt_config cfg;
	struct m2d_pt *pt = NULL;

	m2d_pt_config_default(&cfg);
	cfg.format = fmt;
	assert_int_equal(m2d_pt_create(&pt, &cfg), 0);
	return pt;
}

struct visit {
	uint64_t addr;
	int level;
	bool present;
};

/*
 * Pre-order: [1G, 1G + 4M) holds one 2M leaf at 1G and 4K leaves at
 * 1G + 2M .. 1G + 2M + 8K.  Walking [1G + 2M - 4K ... ) visits, in order:
 * root entry 0 (level 4, addr 0), the level-3 entry for 1G, then level-2
 * entry 1G (2M leaf: not descended), level-2 entry 1G+2M (table) and its
 * level-1 entries from 1G+2M.
 */
static void test_pt_iter_preorder(void **state)
{
	struct m2d_pt *pt = new_pt(M2D_PT_X86_64);
	struct m2d_pt_iter it;
	struct visit v[2048];
	int n = 0;

	assert_int_equal(m2d_pt_map_range(pt, G, M2, 0x1000, 2, RWX_WB), 0);
	assert_int_equal(m2d_pt_map_range(pt, G + M2, 2 * K4, 0x5000, 1, RWX_WB), 0);

	m2d_pt_for_each_pte(it, pt, G, G + 2 * M2) {
		assert_true(n < 2048);
		v[n].addr = it.addr;
		v[n].level = it.level;
		v[n].present = m2d_pte_is_present(M2D_PT_X86_64, it.old_pte);
		n++;
	}
	/* root entry 0 (covers [0, 512G)), addr rounded down to 0 */
	assert_int_equal(v[0].level, 4);
	assert_int_equal(v[0].addr, 0);
	assert_true(v[0].present);
	/* level-3 entry for [1G, 2G) */
	assert_int_equal(v[1].level, 3);
	assert_int_equal(v[1].addr, G);
	/* level-2 entry 1G: the 2M leaf */
	assert_int_equal(v[2].level, 2);
	assert_int_equal(v[2].addr, G);
	assert_true(v[2].present);
	/* level-2 entry 1G + 2M: a table, then its 512 level-1 entries */
	assert_int_equal(v[3].level, 2);
	assert_int_equal(v[3].addr, G + M2);
	for (int i = 0; i < 512; i++) {
		assert_int_equal(v[4 + i].level, 1);
		assert_int_equal(v[4 + i].addr, G + M2 + i * K4);
		assert_int_equal(v[4 + i].present, i < 2);
	}
	/* the loop stops at end = 1G + 4M: next is level-2 entry 1G + 4M */
	assert_int_equal(n, 4 + 512);
	m2d_pt_destroy(&pt);
}

/* min_level = 2: 4K tables are not entered; huge and table entries are seen. */
static void test_pt_iter_min_level(void **state)
{
	struct m2d_pt *pt = new_pt(M2D_PT_EPT);
	struct m2d_pt_iter it;
	int n1 = 0, n2 = 0, n2_leaf = 0;

	assert_int_equal(m2d_pt_map_range(pt, 0, 4 * M2, 0, 1, RWX_WB), 0);
	assert_int_equal(m2d_pt_map_range(pt, 4 * M2, 2 * M2, 0x800, 2, RWX_WB), 0);
	m2d_pt_for_each_pte_min_level(it, pt, M2D_LEVEL_2M, 0, G) {
		if (it.level == 1)
			n1++;
		if (it.level == 2) {
			n2++;
			if (m2d_pte_is_leaf(M2D_PT_EPT, it.old_pte, 2))
				n2_leaf++;
		}
	}
	assert_int_equal(n1, 0);
	assert_int_equal(n2, 512); /* every entry of the one level-2 table */
	assert_int_equal(n2_leaf, 2);
	m2d_pt_destroy(&pt);
}

/*
 * Restart after a yield resumes at next_last_level_addr, and the walk
 * visits every 4K entry exactly once even though the caller yields
 * whenever the guard allows and the tables change in between.
 */
static void test_pt_iter_restart_after_yield(void **state)
{
	struct m2d_pt *pt = new_pt(M2D_PT_X86_64);
	struct m2d_pt_iter it;
	static uint8_t seen[4 * 512];
	int yields = 0;

	memset(seen, 0, sizeof(seen));
	assert_int_equal(m2d_pt_map_range(pt, 0, 4 * M2, 0, 1, RWX_WB), 0);
	m2d_pt_for_each_pte(it, pt, 0, 4 * M2) {
		if (it.level != 1)
			continue;
		seen[it.addr / K4]++;
		if ((it.addr / K4) % 100 == 7 && m2d_pt_iter_can_yield(&it)) {
			uint64_t resume = it.next_last_level_addr;

			/* The lock is "dropped": someone unmaps and remaps the
			 * 2M region after the current one, freeing its table. */
			if (it.addr + M2 < 4 * M2) {
				uint64_t next2m = (it.addr & ~(M2 - 1)) + M2;

				m2d_pt_unmap_free_range(pt, next2m, M2);
				assert_int_equal(m2d_pt_map_range(pt, next2m, M2, next2m / K4, 1,
								  RWX_WB),
						 0);
			}
			m2d_pt_iter_yielded(&it);
			yields++;
			/* next() restarts from the root at the resume address */
			m2d_pt_iter_next(&it);
			assert_int_equal(it.level, 4);
			assert_int_equal(it.next_last_level_addr, resume);
			assert_false(m2d_pt_iter_can_yield(&it));
		}
	}
	/* The restart revisits the entry it yielded at (KVM does too: the
	 * yield happens before the entry is processed), nothing else twice. */
	for (int i = 0; i < 4 * 512; i++) {
		if (i % 100 == 7)
			assert_int_equal(seen[i], 2);
		else
			assert_int_equal(seen[i], 1);
	}
	assert_true(yields > 10);
	m2d_pt_destroy(&pt);
}

/* can_yield is false until the walk moves past the last (re)start address. */
static void test_pt_iter_can_yield_guard(void **state)
{
	struct m2d_pt *pt = new_pt(M2D_PT_X86_64);
	struct m2d_pt_iter it;

	assert_int_equal(m2d_pt_map_range(pt, 0, M2, 0, 1, RWX_WB), 0);
	m2d_pt_iter_start(&it, pt, M2D_LEVEL_4K, 0);
	assert_true(it.valid);
	assert_false(m2d_pt_iter_can_yield(&it));
	/* stepping down does not move next_last_level_addr */
	m2d_pt_iter_next(&it);
	m2d_pt_iter_next(&it);
	m2d_pt_iter_next(&it);
	assert_int_equal(it.level, 1);
	assert_false(m2d_pt_iter_can_yield(&it));
	/* a step sideways does */
	m2d_pt_iter_next(&it);
	assert_int_equal(it.addr, K4);
	assert_true(m2d_pt_iter_can_yield(&it));
	m2d_pt_iter_yielded(&it);
	m2d_pt_iter_next(&it);
	assert_false(m2d_pt_iter_can_yield(&it));
	assert_int_equal(it.yielded_addr, K4);
	/* Every yield of a walk that always yields when allowed makes progress. */
	{
		int steps = 0;

		while (it.valid && it.addr < M2) {
			if (m2d_pt_iter_can_yield(&it))
				m2d_pt_iter_yielded(&it);
			m2d_pt_iter_next(&it);
			assert_true(++steps < 100000);
		}
	}
	m2d_pt_destroy(&pt);
}

struct hook_log {
	int n;
	uint64_t addr[8], old[8], new[8];
	int level[8];
	bool shared[8];
};

static void log_hook(void *priv, uint64_t addr, uint64_t old_pte, uint64_t new_pte, int level,
		     bool shared)
{
	struct hook_log *l = priv;

	if (l->n < 8) {
		l->addr[l->n] = addr;
		l->old[l->n] = old_pte;
		l->new[l->n] = new_pte;
		l->level[l->n] = level;
		l->shared[l->n] = shared;
	}
	l->n++;
}

/* set_atomic: -EBUSY and a refreshed old_pte when the entry changed underneath. */
static void test_pt_iter_set_atomic_busy(void **state)
{
	struct hook_log log;
	struct m2d_pt_config cfg;
	struct m2d_pt *pt = NULL;
	struct m2d_pt_iter it;
	struct m2d_pt_stats st;
	uint64_t leaf_a, leaf_b;

	memset(&log, 0, sizeof(log));
	m2d_pt_config_default(&cfg);
	cfg.format = M2D_PT_EPT;
	cfg.changed = log_hook;
	cfg.changed_priv = &log;
	assert_int_equal(m2d_pt_create(&pt, &cfg), 0);
	assert_int_equal(m2d_pt_map_range(pt, 0, K4, 0x100, 1, RWX_WB), 0);
	log.n = 0;

	m2d_pt_for_each_pte(it, pt, 0, K4) {
		if (it.level == 1)
			break;
	}
	assert_int_equal(it.level, 1);
	leaf_a = it.old_pte;
	/* 0x100 << 12 | 0x77 */
	assert_int_equal(leaf_a, 0x0000000000100077ull);
	/* "another CPU" changes the entry behind the iterator's back */
	leaf_b = m2d_pte_make_leaf(M2D_PT_EPT, 1, 0x200, RWX_WB);
	m2d_pt_set_pte(pt, it.ptep, 0, 1, leaf_b);
	assert_int_equal(log.n, 1);
	assert_int_equal(m2d_pt_iter_set_atomic(&it, 0), -EBUSY);
	assert_int_equal(it.old_pte, leaf_b);
	assert_int_equal(log.n, 1); /* a failed cmpxchg is not a change */
	/* retry succeeds, bookkeeping runs with shared = true */
	assert_int_equal(m2d_pt_iter_set_atomic(&it, 0), 0);
	assert_int_equal(it.old_pte, 0);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.addr[1], 0);
	assert_int_equal(log.old[1], leaf_b);
	assert_int_equal(log.new[1], 0);
	assert_int_equal(log.level[1], 1);
	assert_true(log.shared[1]);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.leaves[1], 0);
	m2d_pt_destroy(&pt);
}

/*
 * A shared-lock style fault: install a 2M leaf over nothing by linking
 * tables with set_atomic as KVM's kvm_tdp_mmu_map does.
 */
static void test_pt_iter_fault_install(void **state)
{
	struct m2d_pt *pt = new_pt(M2D_PT_X86_64);
	struct m2d_pt_iter it;
	struct m2d_pt_stats st;
	struct m2d_pt_walk w;
	uint64_t gpa = 5 * G + 3 * M2;
	int tables = 0;

	m2d_pt_for_each_pte(it, pt, gpa, gpa + M2) {
		if (it.level == 2) {
			uint64_t leaf = m2d_pte_make_leaf(M2D_PT_X86_64, 2, 0x80000, RWX_WB);

			assert_int_equal(m2d_pt_iter_set_atomic(&it, leaf), 0);
			break;
		}
		if (!m2d_pte_is_present(M2D_PT_X86_64, it.old_pte)) {
			uint64_t *t = m2d_pt_alloc_table(pt, it.level - 1);

			assert_non_null(t);
			assert_int_equal(m2d_pt_iter_set_atomic(&it, m2d_pte_make_table(M2D_PT_X86_64, t)),
					 0);
			tables++;
		}
	}
	/* root exists: a level-3 and a level-2 table are linked (MECHANISMS 4.2: 2 + 1) */
	assert_int_equal(tables, 2);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.tables[3], 1);
	assert_int_equal(st.tables[2], 1);
	assert_int_equal(st.leaves[2], 1);
	m2d_pt_walk(pt, gpa + 0x1234, &w);
	assert_true(w.present);
	assert_int_equal(w.pfn, 0x80001);
	m2d_pt_destroy(&pt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pt_iter_preorder),
		cmocka_unit_test(test_pt_iter_min_level),
		cmocka_unit_test(test_pt_iter_restart_after_yield),
		cmocka_unit_test(test_pt_iter_can_yield_guard),
		cmocka_unit_test(test_pt_iter_set_atomic_busy),
		cmocka_unit_test(test_pt_iter_fault_install),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
