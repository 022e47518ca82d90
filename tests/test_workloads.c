// SPDX-License-Identifier: MIT
/*
 * tests/test_workloads.c - the experiment workloads (mmu2d/workloads.h):
 * exact operation counts on small configurations, derived from the
 * kernel's arithmetic, and a seeded randomized check of dirty-log results
 * against a reference model of the guest's write pattern.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include <mmu2d/sim.h>
#include <mmu2d/workloads.h>

#include "config.h"

#define PAGES_PER_1G (1ull << 18) /* 262,144 4K pages */
#define PTES 512ull

/*
 * A sim with @cpus CPUs.  @profile: a shipped profile name, or NULL for
 * zero costs (enough for bounded workloads; the HGM vCPUs loop until the
 * collapse is done, which needs time to pass).
 */
static struct m2d_sim *new_sim_profile(unsigned cpus, uint64_t seed, const char *profile)
{
	static char path[4096];
	struct m2d_sim_config sc;
	struct m2d_sim *sim;

	m2d_sim_config_default(&sc);
	sc.cpus = cpus;
	sc.seed = seed;
	if (profile) {
		snprintf(path, sizeof(path), "%s/%s.profile", M2D_SOURCE_PROFILE_DIR, profile);
		sc.profile = path;
	}
	assert_int_equal(m2d_sim_create(&sim, &sc), 0);
	return sim;
}

static struct m2d_sim *new_sim(unsigned cpus, uint64_t seed)
{
	return new_sim_profile(cpus, seed, NULL);
}

static uint64_t ctr(struct m2d_sim *sim, const char *name)
{
	return m2d_sim_counter(sim, name);
}

/*
 * Eager split of a 1 GiB HugeTLB slot when dirty logging is enabled
 * (kvm_mmu_slot_apply_flags -> kvm_tdp_mmu_try_split_huge_pages): the 1G
 * SPTE becomes a table of 512 2M SPTEs (1 table), each 2M becomes a table
 * of 512 4K SPTEs (512 tables): 1 + 512 table pages, 512 + 262,144 leaf
 * installs.  Every page is then written each iteration and GET_DIRTY_LOG
 * returns all 262,144 bits; disabling dirty logging recovers the 1G SPTE.
 */
static void check_eager_split_1g(int mmu)
{
	struct m2d_sim *sim = new_sim(2, 1);
	struct m2d_dirty_log_config cfg;
	struct m2d_dirty_log_result res;

	m2d_dirty_log_config_default(&cfg);
	cfg.mmu = mmu;
	/* the legacy MMU splits eagerly only with the EPS3 series */
	cfg.legacy_eager_split = mmu == M2D_DIRTY_LOG_MMU_LEGACY;
	cfg.initially_all_set = false;
	/* 1 ns per rmap head visited: the breakdown counts them */
	assert_int_equal(m2d_sim_set_param(sim, "kvm_rmap_head", 1.0), 0);
	assert_int_equal(m2d_dirty_log_run(sim, &cfg, &res), 0);
	/*
	 * The legacy MMU write-protects through the rmaps: one head per 4K,
	 * 2M and 1G gfn range of the slot (walk_slot_rmaps, levels 4K..1G
	 * once each, PML or not); the TDP MMU has no rmaps.
	 */
	/*
	 * Disabling walks levels 4K..2M once more (kvm_rmap_zap_collapsible_sptes,
	 * KVM_MAX_HUGEPAGE_LEVEL - 1).  The shadow MMU eager split visits the 2M
	 * and 1G heads of the slot (slot_handle_level_range per level above 4K),
	 * and each GET_DIRTY_LOG re-protects through the 4K head of every set
	 * bit (kvm_mmu_clear_dirty_pt_masked: gfn_to_rmap + __rmap_clear_dirty),
	 * all 262,144 in each of the 2 iterations.
	 */
	assert_true(m2d_sim_breakdown_ns(sim, -1, "kvm_rmap_head") ==
		    (mmu == M2D_DIRTY_LOG_MMU_LEGACY ?
			     2 * (PAGES_PER_1G + PTES) + 1 + (PTES + 1) + 2 * PAGES_PER_1G : 0));
	/* populate: one fault maps the whole slot with one 1G SPTE */
	assert_int_equal(ctr(sim, "spte_installs_1g"), 1);
	assert_int_equal(ctr(sim, "huge_splits"), 1 + PTES);
	/* the PDPT under the root (the root is not counted) + 1 + 512 split tables */
	assert_int_equal(ctr(sim, "tables_allocated"), 1 + 1 + PTES);
	/* no fault after enabling: the 4K SPTEs are writable with PML (D bit cleared) */
	assert_int_equal(ctr(sim, "faults"), 1);
	assert_int_equal(res.nr_iterations, 2);
	for (unsigned k = 0; k < 2; k++)
		assert_int_equal(res.iterations[k].dirty_pages, PAGES_PER_1G);
	if (mmu == M2D_DIRTY_LOG_MMU_LEGACY) {
		/*
		 * kvm_rmap_zap_collapsible_sptes: every 4K leaf zapped (the host
		 * maps 1G), no table freed; nothing faults afterwards.
		 */
		assert_int_equal(res.pages_1g + res.pages_2m + res.pages_4k, 0);
		assert_int_equal(ctr(sim, "spte_zaps"), PAGES_PER_1G);
		assert_int_equal(ctr(sim, "tables_freed"), 0);
	} else {
		/* kvm_mmu_recover_huge_pages: one 1G SPTE again, the 513 tables freed */
		assert_int_equal(res.pages_1g, 1);
		assert_int_equal(res.pages_2m + res.pages_4k, 0);
		assert_int_equal(ctr(sim, "tables_freed"), 1 + PTES);
	}
	/*
	 * zero-cost profile but for the rmap heads: enabling costs exactly those
	 * (the split's 2M and 1G heads, then walk_slot_rmaps 4K..1G)
	 */
	assert_true(res.enable_dirty_logging_s ==
		    (mmu == M2D_DIRTY_LOG_MMU_LEGACY ?
			     (PTES + 1 + PAGES_PER_1G + PTES + 1) / 1e9 : 0));
	m2d_dirty_log_result_free(&res);
	m2d_sim_destroy(&sim);
}

/*
 * ept=N (shadow paging), 1 vCPU, 1 GiB of 1G HugeTLB, PML unavailable:
 * the guest maps its memory with 4K pages, so populate takes one fault per
 * page and installs 262,144 4K SPTEs under 1 + 1 + 512 indirect shadow
 * pages (the guest's L3, L2 and L1 tables; the root is not counted).
 * Enabling dirty logging write-protects every SPTE through the rmaps
 * (walk_slot_rmaps: one head per 4K, 2M and 1G gfn range); every page then
 * faults again in each iteration (no fast path), and GET_DIRTY_LOG
 * returns every bit and write-protects them again.  Disabling zaps
 * nothing: indirect shadow pages are never collapsible.
 */
static void test_dirty_log_shadow_paging(void **state)
{
	struct m2d_sim *sim = new_sim(2, 1);
	struct m2d_dirty_log_config cfg;
	struct m2d_dirty_log_result res;

	(void)state;
	m2d_dirty_log_config_default(&cfg);
	cfg.mmu = M2D_DIRTY_LOG_MMU_SHADOW;
	cfg.initially_all_set = false;
	assert_int_equal(m2d_sim_set_param(sim, "kvm_rmap_head", 1.0), 0);
	assert_int_equal(m2d_dirty_log_run(sim, &cfg, &res), 0);
	assert_int_equal(ctr(sim, "spte_installs_4k"), PAGES_PER_1G);
	assert_int_equal(ctr(sim, "tables_allocated"), 1 + 1 + PTES);
	assert_int_equal(ctr(sim, "faults"), 3 * PAGES_PER_1G);
	assert_int_equal(ctr(sim, "huge_splits"), 0);
	for (unsigned k = 0; k < 2; k++)
		assert_int_equal(res.iterations[k].dirty_pages, PAGES_PER_1G);
	assert_int_equal(res.pages_4k, PAGES_PER_1G);
	/* enabling: the slot's rmap heads (4K..1G); GET: one head per dirty page */
	assert_true(res.enable_dirty_logging_s == (PAGES_PER_1G + PTES + 1) / 1e9);
	for (unsigned k = 0; k < 2; k++) {
		assert_true(res.iterations[k].get_dirty_log_s == PAGES_PER_1G / 1e9);
	}
	m2d_dirty_log_result_free(&res);
	m2d_sim_destroy(&sim);
}

/*
 * arm64 (stage-2), the ARMEPS configuration at 2 vCPUs x 64 MiB of 2M
 * HugeTLB, INITIALLY_SET, 3 iterations (zero-cost profile):
 * - populate: one 2M block per 2M (32 faults per vCPU, dense or sparse);
 * - iteration 1 writes through the still-writable blocks: no fault;
 * - its CLEAR write-protects everything; with eager splitting it splits
 *   all 64 blocks (one broadcast TLBI each), after which iterations 2 and
 *   3 take one relax-perms fault per written page;
 * - without, iteration 2's first write into each block breaks it (one
 *   broadcast TLBI) and maps one 4K page into a new table: the sparse
 *   pattern (--stride 2M) faults once per block per iteration; the dense
 *   pattern (-f 10) faults on every page of iteration 2 (the reads map the
 *   rest of each block read-only), then only on the written pages.
 */
static void check_arm64_dirty_log(bool eager, uint64_t stride, unsigned write_percent)
{
	struct m2d_sim *sim = new_sim(3, 1);
	struct m2d_dirty_log_config cfg;
	struct m2d_dirty_log_result res;
	const uint64_t blocks = 2 * 32, pages = blocks * 512;
	const uint64_t f = 100 / write_percent, slice = pages / 2;
	uint64_t per_iter = stride ? blocks : 2 * ((slice + f - 1) / f), faults, lead = 0;

	m2d_dirty_log_config_default(&cfg);
	cfg.arm64 = true;
	cfg.nr_vcpus = 2;
	cfg.mem_per_vcpu = 64ull << 20;
	cfg.backing = M2D_BACKING_HUGETLB_2M;
	cfg.initially_all_set = true;
	cfg.iterations = 3;
	cfg.eager_split = eager;
	cfg.s2_relax_tlbi_is = true;
	cfg.stride = stride;
	cfg.write_percent = write_percent;
	assert_int_equal(m2d_dirty_log_run(sim, &cfg, &res), 0);
	assert_int_equal(ctr(sim, "spte_installs_2m"), blocks);
	assert_int_equal(res.iterations[0].dirty_pages, pages); /* the all-set bitmap */
	for (unsigned k = 1; k < 3; k++)
		assert_int_equal(res.iterations[k].dirty_pages, per_iter);
	if (eager) {
		faults = blocks + 2 * per_iter;
		assert_int_equal(ctr(sim, "huge_splits"), blocks);
		/* block breaks + the relax TLBIs + one flush per CLEAR */
		assert_int_equal(ctr(sim, "s2_tlbi_broadcast"), blocks + 2 * per_iter + 3);
	} else if (stride) {
		faults = blocks + 2 * per_iter;
		assert_int_equal(ctr(sim, "huge_splits"), 0);
		assert_int_equal(ctr(sim, "s2_tlbi_broadcast"), blocks + per_iter + 3);
	} else {
		/*
		 * Reads before a block's first write go through the protected
		 * block; the write breaks it, so they fault in iteration 3.
		 */
		for (uint64_t b = 0; b < slice / 512; b++)
			lead += 2 * ((f - (512 * b) % f) % f);
		faults = blocks + (pages - lead) + (per_iter + lead);
		assert_int_equal(ctr(sim, "spte_installs_4k"), pages);
		assert_int_equal(ctr(sim, "s2_tlbi_broadcast"), blocks + per_iter + 3);
	}
	assert_int_equal(ctr(sim, "faults"), faults);
	/* arm64 leaves the 4K mappings in place when logging stops */
	assert_int_equal(res.pages_2m, 0);
	m2d_dirty_log_result_free(&res);
	m2d_sim_destroy(&sim);
}

static void test_dirty_log_arm64(void **state)
{
	(void)state;
	check_arm64_dirty_log(true, 2ull << 20, 100);
	check_arm64_dirty_log(false, 2ull << 20, 100);
	check_arm64_dirty_log(true, 0, 10);
	check_arm64_dirty_log(false, 0, 10);
}

static void test_dirty_log_eager_split_1g_tdp(void **state)
{
	(void)state;
	check_eager_split_1g(M2D_DIRTY_LOG_MMU_TDP);
}

static void test_dirty_log_eager_split_1g_legacy(void **state)
{
	(void)state;
	check_eager_split_1g(M2D_DIRTY_LOG_MMU_LEGACY);
}

/*
 * Initially-all-set: enabling does nothing; the first CLEAR_DIRTY_LOG
 * splits (eager_page_split) and write-protects.  Iteration 1's bitmap is
 * the all-set one; the 2M HugeTLB slot of 2 vCPUs x 64 MiB has 64 2M SPTEs,
 * split into 64 tables of 512 4K SPTEs.
 */
static void test_dirty_log_initially_all_set_2m(void **state)
{
	struct m2d_sim *sim = new_sim(3, 1);
	struct m2d_dirty_log_config cfg;
	struct m2d_dirty_log_result res;
	uint64_t pages = 2 * (64ull << 20) / 4096;

	(void)state;
	m2d_dirty_log_config_default(&cfg);
	cfg.nr_vcpus = 2;
	cfg.mem_per_vcpu = 64ull << 20;
	cfg.backing = M2D_BACKING_HUGETLB_2M;
	cfg.initially_all_set = true;
	cfg.iterations = 3;
	assert_int_equal(m2d_dirty_log_run(sim, &cfg, &res), 0);
	assert_int_equal(res.guest_pages, pages);
	assert_int_equal(ctr(sim, "spte_installs_2m"), pages / PTES);
	assert_int_equal(ctr(sim, "faults"), pages / PTES);
	assert_int_equal(ctr(sim, "huge_splits"), pages / PTES);
	assert_int_equal(ctr(sim, "tables_allocated"), 1 + 1 + pages / PTES); /* PDPT, PD, splits */
	for (unsigned k = 0; k < 3; k++)
		assert_int_equal(res.iterations[k].dirty_pages, pages);
	assert_int_equal(res.pages_2m, pages / PTES);
	m2d_dirty_log_result_free(&res);
	m2d_sim_destroy(&sim);
}

/*
 * -f N (write_percent = 100 / N): page i of each vCPU's slice is written
 * iff i % N == 0, so each GET returns ceil(pages / N) bits per vCPU.
 */
static void test_dirty_log_write_fraction(void **state)
{
	struct m2d_sim *sim = new_sim(4, 1);
	struct m2d_dirty_log_config cfg;
	struct m2d_dirty_log_result res;
	uint64_t per_vcpu = (8ull << 20) / 4096;

	(void)state;
	m2d_dirty_log_config_default(&cfg);
	cfg.nr_vcpus = 3;
	cfg.mem_per_vcpu = 8ull << 20;
	cfg.backing = M2D_BACKING_ANON;
	cfg.write_percent = 5; /* -f 20 */
	cfg.initially_all_set = false;
	assert_int_equal(m2d_dirty_log_run(sim, &cfg, &res), 0);
	for (unsigned k = 0; k < 2; k++)
		assert_int_equal(res.iterations[k].dirty_pages, 3 * ((per_vcpu + 19) / 20));
	/* anonymous 4K: every page faulted once at populate, all 4K SPTEs */
	assert_int_equal(ctr(sim, "spte_installs_4k"), 3 * per_vcpu);
	assert_int_equal(ctr(sim, "huge_splits"), 0);
	m2d_dirty_log_result_free(&res);
	m2d_sim_destroy(&sim);
}

/* Bad configurations: -EINVAL, nothing allocated that leaks. */
static void test_dirty_log_bad_config(void **state)
{
	struct m2d_sim *sim = new_sim(2, 1);
	struct m2d_dirty_log_config cfg;
	struct m2d_dirty_log_result res;

	(void)state;
	m2d_dirty_log_config_default(&cfg);
	cfg.write_percent = 0;
	assert_int_equal(m2d_dirty_log_run(sim, &cfg, &res), -EINVAL);
	m2d_dirty_log_config_default(&cfg);
	cfg.mem_per_vcpu = 3ull << 20; /* not a multiple of 1G */
	assert_int_equal(m2d_dirty_log_run(sim, &cfg, &res), -EINVAL);
	m2d_dirty_log_config_default(&cfg);
	cfg.nr_vcpus = 2; /* needs 3 CPUs */
	assert_int_equal(m2d_dirty_log_run(sim, &cfg, &res), -EINVAL);
	m2d_sim_destroy(&sim);
}

/*
 * Seeded random configurations (backing, MMU incl. shadow paging, eager split, write percent
 * dividing 100, vCPUs, iterations, initially-all-set) checked against the
 * reference model of the 2022 guest loop: every GET returns
 * nr_vcpus * ceil(pages_per_vcpu / (100 / P)) bits, the leaves left after
 * disabling are the backing's size, and nothing faults after populate
 * when eager splitting is on with PML and 100% writes.
 */
/* Whether enabling dirty logging (or the first CLEAR) splits the huge SPTEs. */
static bool eager_split_effective(const struct m2d_dirty_log_config *cfg)
{
	return cfg->eager_split && (cfg->mmu == M2D_DIRTY_LOG_MMU_TDP || cfg->legacy_eager_split);
}

/* The seed of a randomized test: M2D_TEST_SEED, else @dflt; printed so a failure replays. */
static unsigned random_test_seed(const char *name, unsigned dflt)
{
	unsigned seed = getenv("M2D_TEST_SEED") ? (unsigned)atoi(getenv("M2D_TEST_SEED")) : dflt;

	printf("%s: seed %u (M2D_TEST_SEED=N reproduces)\n", name, seed);
	srand(seed);
	return seed;
}

/* The selftest options both randomized dirty-log tests draw (-s -f -v -i -g -b, eager split). */
static void random_dirty_log_config(struct m2d_dirty_log_config *cfg)
{
	static const unsigned pcts[] = { 100, 50, 25, 20, 10, 5, 4, 2, 1 };

	m2d_dirty_log_config_default(cfg);
	cfg->backing = (enum m2d_backing)(1 + rand() % 3); /* 1G is covered above */
	cfg->eager_split = rand() % 2;
	cfg->write_percent = pcts[rand() % 9];
	cfg->nr_vcpus = 1 + rand() % 3;
	cfg->iterations = 1 + rand() % 3;
	cfg->initially_all_set = rand() % 2;
	cfg->mem_per_vcpu = (uint64_t)(1 + rand() % 4) * (2ull << 20);
}

static void check_dirty_pages(unsigned c, unsigned seed, unsigned k, uint64_t got, uint64_t want)
{
	if (got != want)
		fail_msg("case %u (seed %u): iteration %u: %llu dirty pages, want %llu", c, seed,
			 k + 1, (unsigned long long)got, (unsigned long long)want);
}

static void test_dirty_log_random(void **state)
{
	static const uint64_t bsz[] = { 1ull << 30, 2ull << 20, 2ull << 20, 4096 };
	unsigned seed = random_test_seed("test_dirty_log_random", 4242);
	unsigned cases = 12;

	(void)state;
	for (unsigned c = 0; c < cases; c++) {
		struct m2d_dirty_log_config cfg;
		struct m2d_dirty_log_result res;
		struct m2d_sim *sim;
		uint64_t per_vcpu_pages, f, want;

		random_dirty_log_config(&cfg);
		cfg.mmu = rand() % M2D_DIRTY_LOG_MMU_NR;
		cfg.fault_split_huge = rand() % 2;
		cfg.legacy_eager_split = rand() % 2;
		sim = new_sim(cfg.nr_vcpus + 1, c + 1);
		assert_int_equal(m2d_dirty_log_run(sim, &cfg, &res), 0);
		per_vcpu_pages = cfg.mem_per_vcpu / 4096;
		f = 100 / cfg.write_percent;
		want = cfg.nr_vcpus * ((per_vcpu_pages + f - 1) / f);
		/*
		 * A fault under a write-protected huge SPTE zaps it (legacy
		 * drop_large_spte, TDP before 6.2) when nothing split it first:
		 * in the first pass after the huge SPTEs are write-protected
		 * (enable, or iteration 1's CLEAR with initially-all-set), each
		 * 2M region's pages from its first written page on fault and are
		 * mapped writable, so they are logged, reads included
		 * (make_spte -> mark_page_dirty_in_slot); the pages read before
		 * that write were unmapped by the zap and are logged in the next
		 * pass.  Then every pass logs the written pages only.
		 */
		uint64_t zap_head = 0, zap_tail = 0;
		unsigned zap_pass = cfg.initially_all_set ? 1 : 0;

		/* Shadow paging maps the guest's 4K pages: nothing huge to zap. */
		if (bsz[cfg.backing] != 4096 && !eager_split_effective(&cfg) &&
		    cfg.mmu != M2D_DIRTY_LOG_MMU_SHADOW &&
		    (cfg.mmu == M2D_DIRTY_LOG_MMU_LEGACY || !cfg.fault_split_huge)) {
			for (uint64_t r = 0; r < per_vcpu_pages / PTES; r++) {
				uint64_t first = (r * PTES + f - 1) / f * f;

				if (first > (r + 1) * PTES)
					first = (r + 1) * PTES;
				zap_tail += (r + 1) * PTES - first;
				zap_head += first - r * PTES;
			}
			zap_tail *= cfg.nr_vcpus;
			zap_head *= cfg.nr_vcpus;
		}
		for (unsigned k = 0; k < cfg.iterations; k++) {
			/* initially-all-set: iteration 1 returns the all-set bitmap */
			uint64_t w = cfg.initially_all_set && k == 0 ? res.guest_pages : want;

			if (zap_tail + zap_head && k == zap_pass)
				w = zap_tail;
			else if (zap_tail + zap_head && k == zap_pass + 1)
				w = want + zap_head;

			check_dirty_pages(c, seed, k, res.iterations[k].dirty_pages, w);
		}
		/*
		 * recovery puts back the host mapping size (anon: 4K; THP/hugetlb-2m:
		 * 2M); the legacy MMU only zaps the collapsible 4K leaves
		 * (kvm_rmap_zap_collapsible_sptes) and nothing faults afterwards
		 */
		if (cfg.mmu == M2D_DIRTY_LOG_MMU_SHADOW) {
			assert_int_equal(res.pages_4k, res.guest_pages);
			assert_int_equal(res.pages_2m + res.pages_1g, 0);
		} else if (bsz[cfg.backing] == (2ull << 20) && cfg.mmu == M2D_DIRTY_LOG_MMU_LEGACY &&
			   cfg.initially_all_set && cfg.iterations == 1 &&
			   !eager_split_effective(&cfg)) {
			/*
			 * The only CLEAR write-protected the 2M SPTEs after the only
			 * pass: nothing faulted them apart, and the rmap zap leaves
			 * huge leaves alone.
			 */
			assert_int_equal(res.pages_2m, res.guest_pages / PTES);
			assert_int_equal(res.pages_4k, 0);
		} else if (bsz[cfg.backing] == (2ull << 20) && cfg.mmu == M2D_DIRTY_LOG_MMU_LEGACY) {
			assert_int_equal(res.pages_2m, 0);
			assert_int_equal(res.pages_4k, 0);
		} else if (bsz[cfg.backing] == (2ull << 20)) {
			assert_int_equal(res.pages_2m, res.guest_pages / PTES);
			assert_int_equal(res.pages_4k, 0);
		} else {
			assert_int_equal(res.pages_4k, res.guest_pages);
		}
		m2d_dirty_log_result_free(&res);
		m2d_sim_destroy(&sim);
	}
	printf("test_dirty_log_random: %u random configurations matched the model\n", cases);
}

/*
 * Random arm64 configurations (stage-2) against the arm64 rules: a fault
 * maps a page writable (and logs it) only for a write while logging, so
 * every pass logs exactly the written pages (the all-set bitmap in
 * INITIALLY_SET's iteration 1), whatever splits or breaks the blocks; at
 * the end (arm64 keeps its 4K mappings) a 2M block survives only if
 * nothing split it: no eager split and no write into it after it was
 * write-protected (or INITIALLY_SET with a single pass: the only CLEAR
 * comes after it).
 */
static void test_dirty_log_random_arm64(void **state)
{
	unsigned seed = random_test_seed("test_dirty_log_random_arm64", 4343);
	unsigned cases = 10;

	(void)state;
	for (unsigned c = 0; c < cases; c++) {
		struct m2d_dirty_log_config cfg;
		struct m2d_dirty_log_result res;
		struct m2d_sim *sim;
		uint64_t stride_pages, accessed, f, want, blocks, survive = 0;

		random_dirty_log_config(&cfg);
		cfg.arm64 = true;
		cfg.stride = rand() % 2 ? 2ull << 20 : 0;
		cfg.s2_fault_write_lock = rand() % 2;
		cfg.s2_relax_tlbi_is = rand() % 2;
		cfg.s2_split_chunk_kib = rand() % 2 ? 1048576 : 2048;
		sim = new_sim(cfg.nr_vcpus + 1, c + 1);
		assert_int_equal(m2d_dirty_log_run(sim, &cfg, &res), 0);
		stride_pages = cfg.stride ? cfg.stride / 4096 : 1;
		accessed = cfg.mem_per_vcpu / 4096 / stride_pages;
		f = 100 / cfg.write_percent;
		want = cfg.nr_vcpus * ((accessed + f - 1) / f);
		for (unsigned k = 0; k < cfg.iterations; k++) {
			uint64_t w = cfg.initially_all_set && k == 0 ? res.guest_pages : want;

			check_dirty_pages(c, seed, k, res.iterations[k].dirty_pages, w);
		}
		blocks = cfg.mem_per_vcpu / (2ull << 20);
		if (cfg.backing != M2D_BACKING_ANON && !cfg.eager_split) {
			if (cfg.initially_all_set && cfg.iterations == 1) {
				survive = cfg.nr_vcpus * blocks;
			} else {
				/* blocks with no written page (the sparse pattern reads some) */
				for (uint64_t b = 0; b < blocks; b++) {
					bool written = false;

					for (uint64_t i = b * (512 / stride_pages);
					     i < (b + 1) * (512 / stride_pages); i++)
						written |= i % f == 0;
					survive += !written;
				}
				survive *= cfg.nr_vcpus;
			}
		}
		if (res.pages_2m != survive)
			fail_msg("case %u (seed %u): %llu 2M blocks after, want %llu", c, seed,
				 (unsigned long long)res.pages_2m, (unsigned long long)survive);
		assert_int_equal(res.pages_1g, 0);
		m2d_dirty_log_result_free(&res);
		m2d_sim_destroy(&sim);
	}
	printf("test_dirty_log_random_arm64: %u random configurations matched the model\n", cases);
}

/*
 * HGM MADV_COLLAPSE of 1 GiB mapped at 4K.  thp-like 4K -> 1G: every one of
 * the 262,144 PTEs holds a reference in a different 4K subpage's _mapcount,
 * so collapse does 262,144 atomic decrements on distinct counters, plus the
 * folio-wide ones (large mapcount subtract, the new PUD's entire map).
 * head-only: the 262,144 references live in the head counter: one subtract
 * and the new mapping's increment.  4K -> 2M -> 1G under thp-like maps each
 * 2M with a PMD that counts in 512 subpages, then tears those down again:
 * 3 x 262,144 subpage atomics.  One notifier range per madvise.
 */
static void check_hgm(int mapcount, enum m2d_hgm_path path, uint64_t subpage, uint64_t total,
		      uint64_t calls)
{
	struct m2d_sim *sim = new_sim_profile(3, 1, "x86");
	struct m2d_hgm_collapse_config cfg;
	struct m2d_hgm_collapse_result res;

	m2d_hgm_collapse_config_default(&cfg);
	cfg.mapcount = mapcount;
	cfg.path = path;
	cfg.mem = 1ull << 30;
	cfg.nr_vcpus = 2;
	assert_int_equal(m2d_hgm_collapse_run(sim, &cfg, &res), 0);
	assert_int_equal(res.nr_1g, 1);
	assert_int_equal(res.madvise_calls, calls);
	assert_int_equal(res.mapcount_subpage_atomics, subpage);
	assert_int_equal(res.mapcount_atomics, total);
	assert_int_equal(res.host_pages_1g_after, 1);
	assert_int_equal(ctr(sim, "hugetlb_collapses"), calls);
	/* KVM had mapped the whole GiB at 4K (the vCPUs' first pass wrote 1 page in 4) */
	assert_true(res.guest_writes >= PAGES_PER_1G / 4);
	m2d_sim_destroy(&sim);
}

static void test_hgm_thp_like_4k_1g(void **state)
{
	(void)state;
	/* 262,144 decrements + 1 large subtract; the PUD: entire + large mapcount */
	check_hgm(0, M2D_HGM_PATH_4K_1G, PAGES_PER_1G, PAGES_PER_1G + 3, 1);
}

static void test_hgm_head_only_4k_1g(void **state)
{
	(void)state;
	/* one subtract of 262,144 from the head counter; one increment for the PUD */
	check_hgm(1, M2D_HGM_PATH_4K_1G, 0, 2, 1);
}

static void test_hgm_thp_like_4k_2m_1g(void **state)
{
	(void)state;
	/*
	 * Per 2M: 512 subpage decrements + 1 large-mapcount subtract (one
	 * batch), then the PMD's 512 subpage increments + 1 large add; then
	 * the 1G step as 4k-1g: 262,144 + 1 for the PMDs' references, + 2 for
	 * the PUD's entire map (entire and large mapcount).
	 */
	check_hgm(0, M2D_HGM_PATH_4K_2M_1G, 3 * PAGES_PER_1G,
		  PTES * (2 * PTES + 2) + PAGES_PER_1G + 3, PTES + 1);
}

static void test_hgm_bad_config(void **state)
{
	struct m2d_sim *sim = new_sim(3, 1);
	struct m2d_hgm_collapse_config cfg;
	struct m2d_hgm_collapse_result res;

	(void)state;
	m2d_hgm_collapse_config_default(&cfg);
	cfg.mem = 3ull << 29; /* 1.5 GiB */
	assert_int_equal(m2d_hgm_collapse_run(sim, &cfg, &res), -EINVAL);
	m2d_hgm_collapse_config_default(&cfg);
	cfg.nr_vcpus = 4; /* needs 5 CPUs */
	cfg.mem = 1ull << 30;
	assert_int_equal(m2d_hgm_collapse_run(sim, &cfg, &res), -EINVAL);
	m2d_sim_destroy(&sim);
}

static void run_churn(struct m2d_sim *sim, int punch, int folio, uint64_t conversions,
		      struct m2d_gmem_churn_result *res)
{
	struct m2d_gmem_churn_config cfg;

	m2d_gmem_churn_config_default(&cfg);
	cfg.mem = 16ull << 20;
	cfg.punch = punch;
	cfg.folio = folio;
	cfg.conversions = conversions;
	cfg.samples = 8;
	assert_int_equal(m2d_gmem_churn_run(sim, &cfg, res), 0);
	/* the fault-in, then every conversions / 8 conversions */
	assert_int_equal(res->nr_samples, 1 + (conversions >= 8 ? 8 : conversions));
}

/*
 * Fault-in of 16 MiB with 2M folios: 8 folios, one 2M RMPUPDATE each
 * (sev_gmem_prepare: all 512 entries shared), 8 2M SPTEs, all of it
 * mappable at 2M.  With 4K folios: 4096 of everything at 4K.
 */
static void test_gmem_churn_fault_in(void **state)
{
	struct m2d_gmem_churn_result res;
	struct m2d_sim *sim;
	const struct m2d_gmem_churn_sample *s;

	(void)state;
	sim = new_sim(2, 1);
	run_churn(sim, 0 /* allow */, 1 /* 2M */, 1, &res);
	s = &res.samples[0];
	assert_int_equal(s->conversions, 0);
	assert_int_equal(s->private_bytes, 16ull << 20);
	assert_int_equal(s->private_2m_bytes, 16ull << 20);
	assert_true(s->private_2m_share == 1.0);
	assert_int_equal(s->gmem_folios_2m, 8);
	assert_int_equal(s->gmem_folios_4k, 0);
	assert_int_equal(s->rmpupdates, 8);
	assert_int_equal(s->sptes_2m, 8);
	assert_int_equal(s->sptes_4k, 0);
	assert_int_equal(s->rmp_smashed_regions, 0);
	m2d_gmem_churn_result_free(&res);
	m2d_sim_destroy(&sim);

	sim = new_sim(2, 1);
	run_churn(sim, 0, 0 /* 4K */, 1, &res);
	s = &res.samples[0];
	assert_int_equal(s->gmem_folios_4k, 4096);
	assert_int_equal(s->rmpupdates, 4096);
	assert_int_equal(s->sptes_4k, 4096);
	assert_int_equal(s->private_2m_bytes, 0);
	m2d_gmem_churn_result_free(&res);
	m2d_sim_destroy(&sim);
}

/*
 * Reference model of the churn, per policy, checked at every sample:
 * 4K folios + allow: the guest_memfd holds exactly the private pages, each
 * mapped by one 4K SPTE (converted-to-private pages are touched at once,
 * to-shared ones punched and zapped), nothing at 2M, no PSMASH.
 * zero-only: partial 2M punches only zero (the folio stays whole), whole
 * 2M punches free it: the file holds only 2M folios and no punch is
 * refused.  no-sub-2m: the same file shape; sub-2M punches are refused.  Every policy: private_2m <= private <= mem.
 */
static void test_gmem_churn_policies(void **state)
{
	const uint64_t mem = 16ull << 20;
	struct m2d_gmem_churn_result res;
	struct m2d_sim *sim;

	(void)state;
	sim = new_sim(2, 7);
	run_churn(sim, 0, 0, 3000, &res);
	for (unsigned i = 0; i < res.nr_samples; i++) {
		const struct m2d_gmem_churn_sample *s = &res.samples[i];

		assert_int_equal(s->gmem_bytes, s->private_bytes);
		assert_int_equal(s->sptes_4k * 4096, s->private_bytes);
		assert_int_equal(s->sptes_2m + s->private_2m_bytes + s->rmp_psmash, 0);
	}
	assert_int_equal(res.samples[8].conversions, 3000);
	m2d_gmem_churn_result_free(&res);
	m2d_sim_destroy(&sim);

	for (int punch = 0; punch < 3; punch++) {
		sim = new_sim(2, 7);
		run_churn(sim, punch, 1, 3000, &res);
		for (unsigned i = 0; i < res.nr_samples; i++) {
			const struct m2d_gmem_churn_sample *s = &res.samples[i];

			assert_true(s->private_2m_bytes <= s->private_bytes);
			assert_true(s->private_bytes <= mem);
			assert_true(s->gmem_bytes <= mem);
			if (punch) { /* no-sub-2m, zero-only */
				assert_int_equal(s->gmem_bytes % (2ull << 20), 0);
				assert_int_equal(s->gmem_folios_4k, 0);
			}
			if (punch == 2) {
				assert_int_equal(s->punches_refused, 0);
			} else if (punch == 0) {
				assert_int_equal(s->punches_refused, 0);
				assert_true(s->gmem_bytes >= s->private_bytes);
			}
		}
		if (punch == 1)
			assert_true(res.samples[8].punches_refused > 0);
		m2d_gmem_churn_result_free(&res);
		m2d_sim_destroy(&sim);
	}
}

static void test_gmem_churn_bad_config(void **state)
{
	struct m2d_sim *sim = new_sim(2, 1);
	struct m2d_gmem_churn_config cfg;
	struct m2d_gmem_churn_result res;

	(void)state;
	m2d_gmem_churn_config_default(&cfg);
	cfg.mem = 3ull << 20;
	assert_int_equal(m2d_gmem_churn_run(sim, &cfg, &res), -EINVAL);
	m2d_gmem_churn_config_default(&cfg);
	cfg.punch = 3;
	assert_int_equal(m2d_gmem_churn_run(sim, &cfg, &res), -EINVAL);
	m2d_gmem_churn_config_default(&cfg);
	cfg.conversions = 0;
	assert_int_equal(m2d_gmem_churn_run(sim, &cfg, &res), -EINVAL);
	m2d_sim_destroy(&sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dirty_log_eager_split_1g_tdp),
		cmocka_unit_test(test_dirty_log_eager_split_1g_legacy),
		cmocka_unit_test(test_dirty_log_shadow_paging),
		cmocka_unit_test(test_dirty_log_initially_all_set_2m),
		cmocka_unit_test(test_dirty_log_arm64),
		cmocka_unit_test(test_dirty_log_random_arm64),
		cmocka_unit_test(test_dirty_log_write_fraction),
		cmocka_unit_test(test_dirty_log_bad_config),
		cmocka_unit_test(test_dirty_log_random),
		cmocka_unit_test(test_hgm_thp_like_4k_1g),
		cmocka_unit_test(test_hgm_head_only_4k_1g),
		cmocka_unit_test(test_hgm_thp_like_4k_2m_1g),
		cmocka_unit_test(test_hgm_bad_config),
		cmocka_unit_test(test_gmem_churn_fault_in),
		cmocka_unit_test(test_gmem_churn_policies),
		cmocka_unit_test(test_gmem_churn_bad_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
