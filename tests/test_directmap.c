// SPDX-License-Identifier: MIT
/*
 * tests/test_directmap.c - the direct map and CPA (lib/mm/directmap.c).
 *
 * Exact counts from arch/x86/mm/pat/set_memory.c's arithmetic (MECHANISMS.md
 * 1.3, 1.4, 1.7), with the sequential engine: splits, table pages,
 * flush_tlb_all calls, cpa_lock / pgd_lock acquisitions, DirectMap4k/2M/1G.
 * The randomized test checks presence of every page and the DirectMap
 * totals against a reference model.  Seed: M2D_TEST_SEED (default 1).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/engine.h"
#include "mm/directmap.h"

#define P2M 512ull
#define P1G (512ull * 512)

struct env {
	struct m2d_sim *sim;
	struct m2d_host *host;
};

static void env_create(struct env *e, uint64_t bytes, int max_level, bool restore_2m,
		       enum m2d_cpa_lock_policy lock)
{
	struct m2d_sim_config sc;
	struct m2d_host_config hc;

	m2d_sim_config_default(&sc);
	sc.cpus = 8;
	assert_int_equal(m2d_sim_create(&e->sim, &sc), 0);
	m2d_host_config_default(&hc);
	hc.mem_bytes = bytes;
	hc.directmap_max_level = max_level;
	hc.restore_2m = restore_2m;
	hc.cpa_lock = lock;
	m2d_engine_enter(e->sim);
	assert_int_equal(m2d_host_create(e->sim, &hc, &e->host), 0);
}

static void env_destroy(struct env *e)
{
	m2d_host_destroy(&e->host);
	m2d_engine_leave(e->sim);
	m2d_sim_destroy(&e->sim);
}

static uint64_t ctr(struct env *e, const char *name)
{
	return m2d_sim_counter(e->sim, name);
}

static struct m2d_directmap_info info(struct env *e)
{
	struct m2d_directmap_info di;

	m2d_host_directmap_info(e->host, &di);
	return di;
}

/* ---- boot ---------------------------------------------------------------------- */

static void test_directmap_boot_largest_pages(void **state)
{
	struct env e;
	struct m2d_directmap_info di;
	int level;

	/* 3G + 6M: three 1G entries and three 2M entries. */
	env_create(&e, 3 * M2D_SZ_1G + 6 * M2D_SZ_1M, M2D_LEVEL_1G, false, M2D_CPA_LOCK_GLOBAL);
	di = info(&e);
	assert_int_equal(di.directmap_1g, 3 * M2D_SZ_1G);
	assert_int_equal(di.directmap_2m, 6 * M2D_SZ_1M);
	assert_int_equal(di.directmap_4k, 0);
	/* PML4 + PUD table + one PMD table for the tail. */
	assert_int_equal(di.table_pages, 3);
	assert_true(m2d_directmap_present(e.host, 5, &level));
	assert_int_equal(level, M2D_LEVEL_1G);
	assert_true(m2d_directmap_present(e.host, 3 * P1G + 2, &level));
	assert_int_equal(level, M2D_LEVEL_2M);
	assert_false(m2d_directmap_present(e.host, 3 * P1G + 3 * P2M, &level));
	env_destroy(&e);

	env_create(&e, 2 * M2D_SZ_1G, M2D_LEVEL_2M, false, M2D_CPA_LOCK_GLOBAL);
	di = info(&e);
	assert_int_equal(di.directmap_2m, 2 * M2D_SZ_1G);
	assert_int_equal(di.directmap_1g + di.directmap_4k, 0);
	env_destroy(&e);

	env_create(&e, 64 * M2D_SZ_1M, M2D_LEVEL_4K, false, M2D_CPA_LOCK_GLOBAL);
	di = info(&e);
	assert_int_equal(di.directmap_4k, 64 * M2D_SZ_1M);
	assert_int_equal(di.directmap_1g + di.directmap_2m, 0);
	assert_int_equal(di.table_pages, 3 + 32);
	env_destroy(&e);
}

static void test_directmap_presplit_at_boot_counts_no_events(void **state)
{
	struct m2d_sim_config sc;
	struct m2d_host_config hc;
	struct m2d_directmap_info di;
	struct env e;

	m2d_sim_config_default(&sc);
	assert_int_equal(m2d_sim_create(&e.sim, &sc), 0);
	m2d_host_config_default(&hc);
	hc.mem_bytes = 2 * M2D_SZ_1G;
	hc.directmap_presplit_4k = true;
	m2d_engine_enter(e.sim);
	assert_int_equal(m2d_host_create(e.sim, &hc, &e.host), 0);
	di = info(&e);
	assert_int_equal(di.directmap_4k, 2 * M2D_SZ_1G);
	assert_int_equal(di.directmap_2m + di.directmap_1g, 0);
	assert_int_equal(di.splits_1g + di.splits_2m, 0);
	assert_int_equal(ctr(&e, "flush_tlb_all"), 0);
	assert_int_equal(ctr(&e, "directmap_splits"), 0);
	env_destroy(&e);
}

/* ---- exact counts ------------------------------------------------------------------ */

/* A 4K invalidate inside a 1G entry splits twice: 1G -> 2M, then 2M -> 4K. */
static void test_directmap_invalidate_in_1g_splits_twice(void **state)
{
	struct env e;
	struct m2d_directmap_info before, after;
	uint64_t pfn = P1G + 7 * P2M + 3;
	int level;

	env_create(&e, 4 * M2D_SZ_1G, M2D_LEVEL_1G, false, M2D_CPA_LOCK_GLOBAL);
	before = info(&e);
	assert_int_equal(set_direct_map_invalid_noflush(e.host, pfn), 0);
	after = info(&e);
	assert_int_equal(ctr(&e, "directmap_table_allocs"), 2);
	assert_int_equal(ctr(&e, "flush_tlb_all"), 2);
	assert_int_equal(ctr(&e, "directmap_splits_1g"), 1);
	assert_int_equal(ctr(&e, "directmap_splits_2m"), 1);
	assert_int_equal(ctr(&e, "directmap_splits"), 2);
	assert_int_equal(after.splits_1g, 1);
	assert_int_equal(after.splits_2m, 1);
	assert_int_equal(after.table_pages, before.table_pages + 2);
	assert_int_equal(before.directmap_1g - after.directmap_1g, M2D_SZ_1G);
	assert_int_equal(after.directmap_2m - before.directmap_2m, M2D_SZ_1G - 2 * M2D_SZ_1M);
	assert_int_equal(after.directmap_4k - before.directmap_4k, 2 * M2D_SZ_1M);
	/* One request, one loop step: cpa_lock once, plus one re-take per split. */
	assert_int_equal(ctr(&e, "cpa_requests"), 1);
	assert_int_equal(ctr(&e, "cpa_lock_acquisitions"), 1 + 2);
	/* pgd_lock: decision + split, twice. */
	assert_int_equal(ctr(&e, "pgd_lock_acquisitions"), 4);
	assert_int_equal(ctr(&e, "cpa_4k_set"), 1);
	assert_false(m2d_directmap_present(e.host, pfn, &level));
	assert_int_equal(level, M2D_LEVEL_4K);
	assert_true(m2d_directmap_present(e.host, pfn + 1, &level));
	assert_int_equal(level, M2D_LEVEL_4K);
	assert_true(m2d_directmap_present(e.host, pfn + P2M, &level));
	assert_int_equal(level, M2D_LEVEL_2M);
	/* Restoring never re-forms a large page (no restore-2m). */
	assert_int_equal(set_direct_map_default_noflush(e.host, pfn), 0);
	assert_true(m2d_directmap_present(e.host, pfn, &level));
	assert_int_equal(level, M2D_LEVEL_4K);
	assert_int_equal(ctr(&e, "flush_tlb_all"), 2);
	assert_int_equal(info(&e).directmap_4k, after.directmap_4k);
	env_destroy(&e);
}

/* 512 per-page invalidations of one 2M region: 512 steps, one split. */
static void test_directmap_512_invalidations_split_once(void **state)
{
	struct env e;
	struct m2d_directmap_info before, after;
	uint64_t base = 5 * P2M;

	env_create(&e, M2D_SZ_1G, M2D_LEVEL_2M, false, M2D_CPA_LOCK_GLOBAL);
	before = info(&e);
	for (uint64_t i = 0; i < P2M; i++)
		assert_int_equal(set_direct_map_invalid_noflush(e.host, base + i), 0);
	after = info(&e);
	assert_int_equal(ctr(&e, "cpa_requests"), 512);
	/* 512 loop acquisitions + the re-take after the table allocation. */
	assert_int_equal(ctr(&e, "cpa_lock_acquisitions"), 512 + 1);
	assert_int_equal(ctr(&e, "directmap_splits"), 1);
	assert_int_equal(ctr(&e, "directmap_table_allocs"), 1);
	assert_int_equal(ctr(&e, "flush_tlb_all"), 1);
	assert_int_equal(ctr(&e, "cpa_4k_set"), 512);
	assert_int_equal(before.directmap_2m - after.directmap_2m, 2 * M2D_SZ_1M);
	assert_int_equal(after.directmap_4k - before.directmap_4k, 2 * M2D_SZ_1M);
	for (uint64_t i = 0; i < P2M; i++)
		assert_false(m2d_directmap_present(e.host, base + i, NULL));
	assert_true(m2d_directmap_present(e.host, base + P2M, NULL));
	assert_true(m2d_directmap_present(e.host, base - 1, NULL));
	env_destroy(&e);
}

/* The lock removed: no cpa_lock at all, same splits. */
static void test_directmap_cpa_lock_none(void **state)
{
	struct env e;

	env_create(&e, M2D_SZ_1G, M2D_LEVEL_2M, false, M2D_CPA_LOCK_NONE);
	for (uint64_t i = 0; i < P2M; i++)
		assert_int_equal(set_direct_map_invalid_noflush(e.host, i), 0);
	assert_int_equal(ctr(&e, "cpa_lock_acquisitions"), 0);
	assert_int_equal(ctr(&e, "directmap_splits"), 1);
	assert_int_equal(ctr(&e, "pgd_lock_acquisitions"), 2);
	/* Switch at run time. */
	assert_int_equal(m2d_directmap_set_policy(e.host, M2D_CPA_LOCK_GLOBAL, false), 0);
	assert_int_equal(m2d_directmap_set_policy(e.host, 7, false), -EINVAL);
	assert_int_equal(set_direct_map_default_noflush(e.host, 0), 0);
	assert_int_equal(ctr(&e, "cpa_lock_acquisitions"), 1);
	env_destroy(&e);
}

/* The nr-pages variant over a whole aligned 2M entry rewrites it in place. */
static void test_directmap_nr_pages_aligned_2m_no_split(void **state)
{
	struct env e;
	struct m2d_directmap_info before, after;
	uint64_t base = 9 * P2M;
	int level;

	env_create(&e, M2D_SZ_1G, M2D_LEVEL_2M, false, M2D_CPA_LOCK_GLOBAL);
	before = info(&e);
	assert_int_equal(set_direct_map_valid_noflush(e.host, base, P2M, false), 0);
	after = info(&e);
	assert_int_equal(ctr(&e, "directmap_splits"), 0);
	assert_int_equal(ctr(&e, "flush_tlb_all"), 0); /* noflush */
	assert_int_equal(ctr(&e, "cpa_lock_acquisitions"), 1);
	assert_int_equal(ctr(&e, "cpa_large_preserved"), 1);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_false(m2d_directmap_present(e.host, base + 100, &level));
	assert_int_equal(level, M2D_LEVEL_2M);
	/* Invalid again: same protection, kept ("sameprot"). */
	assert_int_equal(set_direct_map_valid_noflush(e.host, base, P2M, false), 0);
	assert_int_equal(ctr(&e, "cpa_large_sameprot"), 1);
	/* Valid again, in place. */
	assert_int_equal(set_direct_map_valid_noflush(e.host, base, P2M, true), 0);
	assert_int_equal(ctr(&e, "cpa_large_preserved"), 2);
	assert_true(m2d_directmap_present(e.host, base + 100, &level));
	assert_int_equal(level, M2D_LEVEL_2M);
	/* One 4K page inside the non-present 2M entry splits it to 512 non-present PTEs. */
	assert_int_equal(set_direct_map_valid_noflush(e.host, base, P2M, false), 0);
	assert_int_equal(set_direct_map_default_noflush(e.host, base + 1), 0);
	assert_int_equal(ctr(&e, "directmap_splits"), 1);
	assert_true(m2d_directmap_present(e.host, base + 1, &level));
	assert_int_equal(level, M2D_LEVEL_4K);
	assert_false(m2d_directmap_present(e.host, base + 2, NULL));
	/* A 2M range inside a 1G entry splits the 1G entry only. */
	env_destroy(&e);

	env_create(&e, 2 * M2D_SZ_1G, M2D_LEVEL_1G, false, M2D_CPA_LOCK_GLOBAL);
	assert_int_equal(set_direct_map_valid_noflush(e.host, P1G + 3 * P2M, P2M, false), 0);
	assert_int_equal(ctr(&e, "directmap_splits_1g"), 1);
	assert_int_equal(ctr(&e, "directmap_splits_2m"), 0);
	assert_int_equal(ctr(&e, "cpa_large_preserved"), 1);
	assert_false(m2d_directmap_present(e.host, P1G + 3 * P2M, &level));
	assert_int_equal(level, M2D_LEVEL_2M);
	/* One CPA step (the 2M is preserved after the split) + the re-take after the allocation. */
	assert_int_equal(ctr(&e, "cpa_lock_acquisitions"), 1 + 1);
	env_destroy(&e);
}

/* restore-2m: the last default_noflush of a 2M region collapses it, one flush. */
static void test_directmap_restore_2m_collapses(void **state)
{
	struct env e;
	struct m2d_directmap_info before, after;
	uint64_t base = 3 * P2M;
	int level;

	env_create(&e, M2D_SZ_1G, M2D_LEVEL_2M, true, M2D_CPA_LOCK_GLOBAL);
	before = info(&e);
	for (uint64_t i = 0; i < P2M; i++)
		assert_int_equal(set_direct_map_invalid_noflush(e.host, base + i), 0);
	assert_int_equal(ctr(&e, "flush_tlb_all"), 1);
	for (uint64_t i = 0; i < P2M; i++)
		assert_int_equal(set_direct_map_default_noflush(e.host, base + i), 0);
	after = info(&e);
	assert_int_equal(ctr(&e, "directmap_collapses"), 1);
	assert_int_equal(ctr(&e, "flush_tlb_all"), 2); /* split + collapse */
	assert_int_equal(after.collapses_2m, 1);
	assert_int_equal(after.directmap_2m, before.directmap_2m);
	assert_int_equal(after.directmap_4k, 0);
	assert_true(m2d_directmap_present(e.host, base + 7, &level));
	assert_int_equal(level, M2D_LEVEL_2M);
	env_destroy(&e);

	/*
	 * A page invalidated and restored alone does not collapse: going
	 * non-present cleared _PAGE_GLOBAL (pgprot_clear_protnone_bits) and
	 * __set_pages_p only sets PRESENT|RW, so its flags differ from the
	 * 511 untouched PTEs.
	 */
	env_create(&e, 2 * M2D_SZ_1G, M2D_LEVEL_1G, true, M2D_CPA_LOCK_GLOBAL);
	assert_int_equal(set_direct_map_invalid_noflush(e.host, P1G + 12345), 0);
	assert_int_equal(ctr(&e, "flush_tlb_all"), 2);
	assert_int_equal(set_direct_map_default_noflush(e.host, P1G + 12345), 0);
	assert_int_equal(ctr(&e, "directmap_collapses"), 0);
	assert_int_equal(ctr(&e, "flush_tlb_all"), 2);
	env_destroy(&e);

	/*
	 * A whole 1G made invalid in place, one page of it valid (two splits of
	 * non-present entries), then the whole 1G valid: the 4K table collapses
	 * into a 2M entry and the 2M table into a 1G entry, with one flush.
	 */
	env_create(&e, 2 * M2D_SZ_1G, M2D_LEVEL_1G, true, M2D_CPA_LOCK_GLOBAL);
	before = info(&e);
	assert_int_equal(set_direct_map_valid_noflush(e.host, P1G, P1G, false), 0);
	assert_int_equal(ctr(&e, "directmap_splits"), 0);
	assert_int_equal(set_direct_map_default_noflush(e.host, P1G + 12345), 0);
	assert_int_equal(ctr(&e, "directmap_splits"), 2);
	assert_int_equal(ctr(&e, "flush_tlb_all"), 2);
	assert_false(m2d_directmap_present(e.host, P1G + 12346, NULL));
	assert_int_equal(set_direct_map_valid_noflush(e.host, P1G, P1G, true), 0);
	after = info(&e);
	assert_int_equal(ctr(&e, "flush_tlb_all"), 3);
	assert_int_equal(ctr(&e, "directmap_collapses"), 2);
	assert_int_equal(after.collapses_2m, 1);
	assert_int_equal(after.collapses_1g, 1);
	assert_int_equal(after.directmap_1g, before.directmap_1g);
	assert_int_equal(after.directmap_2m + after.directmap_4k, 0);
	assert_int_equal(after.table_pages, before.table_pages);
	assert_true(m2d_directmap_present(e.host, P1G + 12345, &level));
	assert_int_equal(level, M2D_LEVEL_1G);
	env_destroy(&e);
}

/* set_memory_4k splits down to 4K without changing the PTEs: no cpa_flush. */
static void test_directmap_set_memory_4k(void **state)
{
	struct env e;
	int level;

	env_create(&e, 2 * M2D_SZ_1G, M2D_LEVEL_1G, true, M2D_CPA_LOCK_GLOBAL);
	assert_int_equal(set_memory_4k(e.host, 77, 1), 0);
	assert_int_equal(ctr(&e, "directmap_splits"), 2);
	assert_int_equal(ctr(&e, "flush_tlb_all"), 2);
	/* force_split: no pgd_lock for the decision, only for each split. */
	assert_int_equal(ctr(&e, "pgd_lock_acquisitions"), 2);
	assert_true(m2d_directmap_present(e.host, 77, &level));
	assert_int_equal(level, M2D_LEVEL_4K);
	/* Already 4K: nothing more. */
	assert_int_equal(set_memory_4k(e.host, 77, 1), 0);
	assert_int_equal(ctr(&e, "directmap_splits"), 2);
	assert_int_equal(ctr(&e, "flush_tlb_all"), 2);
	assert_int_equal(info(&e).directmap_4k, 2 * M2D_SZ_1M);
	env_destroy(&e);
}

/* set_memory_np/p flush through cpa_flush: full flush above 33 pages. */
static void test_directmap_set_memory_np_p(void **state)
{
	struct env e;

	env_create(&e, M2D_SZ_1G, M2D_LEVEL_2M, false, M2D_CPA_LOCK_GLOBAL);
	assert_int_equal(set_memory_np(e.host, 4 * P2M, P2M), 0);
	assert_int_equal(ctr(&e, "directmap_splits"), 0);
	assert_int_equal(ctr(&e, "cpa_large_preserved"), 1);
	assert_int_equal(ctr(&e, "flush_tlb_all"), 1);
	assert_false(m2d_directmap_present(e.host, 4 * P2M + 9, NULL));
	assert_int_equal(set_memory_p(e.host, 4 * P2M, P2M), 0);
	assert_int_equal(ctr(&e, "flush_tlb_all"), 2);
	assert_true(m2d_directmap_present(e.host, 4 * P2M + 9, NULL));
	/* No change: no flush. */
	assert_int_equal(set_memory_p(e.host, 4 * P2M, P2M), 0);
	assert_int_equal(ctr(&e, "cpa_large_sameprot"), 1);
	assert_int_equal(ctr(&e, "flush_tlb_all"), 2);
	env_destroy(&e);
}

static void test_directmap_bad_input(void **state)
{
	struct env e;

	env_create(&e, M2D_SZ_1G, M2D_LEVEL_2M, false, M2D_CPA_LOCK_GLOBAL);
	assert_int_equal(set_direct_map_invalid_noflush(e.host, P1G), -EINVAL);
	assert_int_equal(set_direct_map_valid_noflush(e.host, P1G - 1, 2, false), -EINVAL);
	assert_int_equal(set_memory_4k(e.host, P1G - 1, UINT64_MAX), -EINVAL);
	assert_int_equal(set_memory_np(NULL, 0, 1), -EINVAL);
	/* nr = 0: the CPA loop does nothing (as the kernel's). */
	assert_int_equal(set_direct_map_valid_noflush(e.host, 0, 0, false), 0);
	assert_int_equal(ctr(&e, "cpa_lock_acquisitions"), 0);
	env_destroy(&e);
}

/* A pfn in the hole between two nodes: no entry, one page consumed, success. */
static void test_directmap_hole_between_nodes(void **state)
{
	struct m2d_sim_config sc;
	struct m2d_host_config hc;
	struct env e;
	uint64_t start, nr;

	m2d_sim_config_default(&sc);
	sc.nodes = 2;
	sc.cpus = 8;
	assert_int_equal(m2d_sim_create(&e.sim, &sc), 0);
	m2d_host_config_default(&hc);
	hc.nodes = 2;
	hc.node_bytes[0] = M2D_SZ_1G + 4 * M2D_SZ_1M;
	hc.node_bytes[1] = M2D_SZ_1G;
	m2d_engine_enter(e.sim);
	assert_int_equal(m2d_host_create(e.sim, &hc, &e.host), 0);
	assert_int_equal(m2d_host_node_range(e.host, 1, &start, &nr), 0);
	assert_int_equal(start, 2 * P1G);
	assert_int_equal(info(&e).directmap_1g, 2 * M2D_SZ_1G);
	assert_int_equal(info(&e).directmap_2m, 4 * M2D_SZ_1M);
	assert_int_equal(set_direct_map_invalid_noflush(e.host, P1G + 100 * P2M), 0);
	assert_int_equal(set_direct_map_valid_noflush(e.host, P1G + 2 * P2M - 1, 3, false), 0);
	assert_int_equal(ctr(&e, "directmap_splits"), 1); /* the 2M entry at 1G + 2M */
	assert_false(m2d_directmap_present(e.host, P1G + P2M + 511, NULL));
	assert_false(m2d_directmap_present(e.host, P1G + 2 * P2M, NULL));
	assert_true(m2d_directmap_present(e.host, P1G + P2M + 510, NULL));
	assert_int_equal(set_direct_map_invalid_noflush(e.host, 3 * P1G), -EINVAL);
	env_destroy(&e);
}

/*
 * A split whose table allocation fails: -ENOMEM, the mapping unchanged.
 * Table pages come in chunks, so split 2M regions until one needs memory.
 */
static void test_directmap_split_enomem(void **state)
{
	struct env e;
	struct m2d_directmap_info before, now;
	uint64_t r;
	int ret = 0;

	env_create(&e, M2D_SZ_1G, M2D_LEVEL_2M, false, M2D_CPA_LOCK_GLOBAL);
	for (r = 0; r < 512; r++) {
		before = info(&e);
		m2d_alloc_fail_after(1);
		ret = set_direct_map_invalid_noflush(e.host, r * P2M + 5);
		m2d_alloc_fail_after(0);
		if (ret)
			break;
	}
	assert_int_equal(ret, -ENOMEM);
	now = info(&e);
	assert_memory_equal(&before, &now, sizeof(before));
	assert_true(m2d_directmap_present(e.host, r * P2M + 5, NULL));
	assert_int_equal(ctr(&e, "directmap_splits"), r);
	/* Memory again: it works. */
	assert_int_equal(set_direct_map_invalid_noflush(e.host, r * P2M + 5), 0);
	assert_false(m2d_directmap_present(e.host, r * P2M + 5, NULL));
	assert_int_equal(ctr(&e, "directmap_splits"), r + 1);
	env_destroy(&e);
}

/* The public entry point, from a simulated thread. */
struct public_ctx {
	struct m2d_host *host;
	int ret[4];
};

static void public_thread(void *arg)
{
	struct public_ctx *c = arg;

	c->ret[0] = m2d_directmap_change(c->host, M2D_CPA_INVALID_NOFLUSH, 7 * P2M, P2M);
	c->ret[1] = m2d_directmap_change(c->host, M2D_CPA_OP_NR, 0, 1);
	c->ret[2] = m2d_directmap_change(c->host, M2D_CPA_VALID_NR_NOFLUSH, 7 * P2M, P2M);
	c->ret[3] = m2d_directmap_change(c->host, M2D_CPA_NP, P1G - 1, 2);
}

static void test_directmap_public_change(void **state)
{
	struct public_ctx c = { 0 };
	struct env e;

	env_create(&e, M2D_SZ_1G, M2D_LEVEL_2M, false, M2D_CPA_LOCK_GLOBAL);
	m2d_engine_leave(e.sim);
	c.host = e.host;
	assert_int_equal(m2d_sim_spawn(e.sim, 1, "cpa", public_thread, &c), 0);
	assert_int_equal(m2d_sim_run(e.sim), 0);
	m2d_engine_enter(e.sim);
	assert_int_equal(c.ret[0], 0);
	assert_int_equal(c.ret[1], -EINVAL);
	assert_int_equal(c.ret[2], 0);
	assert_int_equal(c.ret[3], -EINVAL);
	assert_int_equal(ctr(&e, "cpa_requests"), 512 + 1);
	assert_int_equal(ctr(&e, "cpa_lock_acquisitions"), 512 + 1 + 512);
	assert_int_equal(ctr(&e, "directmap_splits"), 1);
	assert_true(m2d_directmap_present(e.host, 7 * P2M + 3, NULL));
	assert_int_equal(ctr(&e, "flush_tlb_all"), 1);
	env_destroy(&e);
}

/* ---- randomized, against a reference model ---------------------------------------- */

static void test_directmap_random_model(void **state)
{
	const char *s = getenv("M2D_TEST_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : 1, x = seed;
	const uint64_t npages = 2 * P1G + 16 * P2M; /* 2G + 32M: 1G and 2M entries */
	struct env e;
	bool *present;

	print_message("test_directmap_random_model: seed %llu (M2D_TEST_SEED)\n",
		      (unsigned long long)seed);
	present = malloc(npages);
	assert_non_null(present);
	memset(present, 1, npages);
	env_create(&e, npages << M2D_PAGE_SHIFT, M2D_LEVEL_1G, (seed & 1) != 0,
		   M2D_CPA_LOCK_GLOBAL);
	for (int step = 0; step < 400; step++) {
		uint64_t r, pfn, nr;
		int op;

		x += 0x9e3779b97f4a7c15ull;
		r = x;
		r = (r ^ (r >> 30)) * 0xbf58476d1ce4e5b9ull;
		r = (r ^ (r >> 27)) * 0x94d049bb133111ebull;
		r ^= r >> 31;
		op = (int)(r % 6);
		/* Concentrate on a few 2M regions so that they fill up and collapse. */
		pfn = ((r >> 8) % 8) * P1G / 4 + ((r >> 16) % 4) * P2M + (r >> 24) % P2M;
		pfn %= npages;
		nr = op >= 4 ? ((r >> 40) % 3 == 0 ? P2M - pfn % P2M : 1 + (r >> 44) % 700) : 1;
		if (op == 4 && ((r >> 52) & 1)) { /* whole aligned 2M: preserved in place */
			pfn = M2D_ALIGN_DOWN(pfn, P2M);
			nr = P2M;
		}
		nr = M2D_MIN(nr, npages - pfn);
		switch (op) {
		case 0:
		case 1:
			assert_int_equal(set_direct_map_invalid_noflush(e.host, pfn), 0);
			present[pfn] = false;
			break;
		case 2:
		case 3:
			assert_int_equal(set_direct_map_default_noflush(e.host, pfn), 0);
			present[pfn] = true;
			break;
		case 4:
			assert_int_equal(set_direct_map_valid_noflush(e.host, pfn, nr, (r >> 50) & 1), 0);
			memset(present + pfn, (int)((r >> 50) & 1), nr);
			break;
		default:
			assert_int_equal(set_memory_4k(e.host, pfn, nr), 0);
			break;
		}
		if (step % 40 == 39 || step == 399) {
			struct m2d_directmap_info di = info(&e);

			for (uint64_t p = 0; p < npages; p++) {
				bool got = m2d_directmap_present(e.host, p, NULL);

				if (got != present[p])
					fail_msg("seed %llu step %d: pfn %llu present %d, model %d",
						 (unsigned long long)seed, step,
						 (unsigned long long)p, got, present[p]);
			}
			assert_int_equal(di.directmap_4k + di.directmap_2m + di.directmap_1g,
					 npages << M2D_PAGE_SHIFT);
			assert_int_equal(di.splits_1g + di.splits_2m,
					 ctr(&e, "directmap_splits"));
		}
	}
	print_message("restore_2m %d: %llu requests, %llu splits, %llu collapses, %llu preserved\n",
		      (int)(seed & 1), (unsigned long long)ctr(&e, "cpa_requests"),
		      (unsigned long long)ctr(&e, "directmap_splits"),
		      (unsigned long long)ctr(&e, "directmap_collapses"),
		      (unsigned long long)ctr(&e, "cpa_large_preserved"));
	free(present);
	env_destroy(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_directmap_boot_largest_pages),
		cmocka_unit_test(test_directmap_presplit_at_boot_counts_no_events),
		cmocka_unit_test(test_directmap_invalidate_in_1g_splits_twice),
		cmocka_unit_test(test_directmap_512_invalidations_split_once),
		cmocka_unit_test(test_directmap_cpa_lock_none),
		cmocka_unit_test(test_directmap_nr_pages_aligned_2m_no_split),
		cmocka_unit_test(test_directmap_restore_2m_collapses),
		cmocka_unit_test(test_directmap_set_memory_4k),
		cmocka_unit_test(test_directmap_set_memory_np_p),
		cmocka_unit_test(test_directmap_bad_input),
		cmocka_unit_test(test_directmap_hole_between_nodes),
		cmocka_unit_test(test_directmap_split_enomem),
		cmocka_unit_test(test_directmap_public_change),
		cmocka_unit_test(test_directmap_random_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
