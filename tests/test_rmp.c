// SPDX-License-Identifier: MIT
/*
 * tests/test_rmp.c - the SEV-SNP RMP (lib/coco/rmp.c) and KVM's SNP hooks
 * (lib/coco/sev.c): exact operation counts from the kernel's arithmetic.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mmu2d/physmem.h>

#include "coco_fixture.h"
#include "coco/gmem.h"
#include "coco/sev.h"
#include "mm/directmap.h"

#define MAX_PFN (8ull << 18) /* 8 GiB */
#define ASID 7

struct ctx {
	struct m2d_sim *sim;
	struct fx_dm dm;
	struct m2d_rmp *rmp;
	struct m2d_sev_vm sev;
};

static struct ctx *ctx_new(enum m2d_rmp_directmap policy, int dm_level)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct m2d_rmp_config cfg;

	c->sim = fx_sim();
	m2d_engine_enter(c->sim);
	fx_dm_init(&c->dm, MAX_PFN, dm_level);
	m2d_rmp_config_default(&cfg);
	cfg.max_pfn = MAX_PFN;
	cfg.directmap = policy;
	assert_int_equal(m2d_rmp_create(&c->rmp, &cfg, &fx_dm_ops, &c->dm), 0);
	c->sev = (struct m2d_sev_vm){ .rmp = c->rmp, .asid = ASID, .snp = true };
	return c;
}

static void ctx_free(struct ctx *c)
{
	m2d_rmp_destroy(&c->rmp);
	assert_null(c->rmp);
	fx_dm_fini(&c->dm);
	m2d_engine_leave(c->sim);
	m2d_sim_destroy(&c->sim);
	free(c);
}

static uint64_t ctr(struct ctx *c, const char *name)
{
	return m2d_sim_counter(c->sim, name);
}

static m2d_pfn_t P(uint64_t v)
{
	return m2d_pfn_from_u64(v);
}

static void test_rmp_lookup_reads_two_entries(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_NONE, M2D_LEVEL_2M);
	bool assigned;
	int level;

	assert_int_equal(m2d_snp_lookup_rmpentry(c->rmp, P(4097), &assigned, &level), 0);
	assert_false(assigned);
	assert_int_equal(level, M2D_LEVEL_4K);
	assert_int_equal(ctr(c, "rmp_entry_reads"), 2);
	assert_int_equal(m2d_snp_lookup_rmpentry(c->rmp, P(MAX_PFN), &assigned, &level), -EFAULT);
	ctx_free(c);
}

/* sev_gmem_prepare on a fresh 2M folio: 2 reads for the pfn's own lookup,
 * then is_large_rmp_possible: 512 lookups x 2 reads = 1024, then one
 * RMPUPDATE (2M).  A second prepare is one lookup. */
static void test_rmp_first_2m_prepare_counts(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_LEVEL_2M);
	m2d_pfn_t pfn = P(10 * 512 + 37);
	struct m2d_rmp_stats st;

	assert_int_equal(m2d_sev_gmem_prepare(&c->sev, pfn, m2d_gfn_from_u64(3 * 512 + 37), 9), 0);
	assert_int_equal(ctr(c, "rmp_entry_reads"), 2 + 1024);
	assert_int_equal(ctr(c, "rmpupdates"), 1);
	assert_int_equal(m2d_rmp_raw_level(c->rmp, pfn), M2D_LEVEL_2M);
	assert_int_equal(m2d_rmp_raw(c->rmp, P(10 * 512)),
			 RMPE_ASSIGNED | RMPE_PAGESIZE | ((3ull * 512) << RMPE_GPA_SHIFT) |
				 ((uint64_t)ASID << RMPE_ASID_SHIFT));
	/* Generation (b): a 2M conversion does not touch the direct map. */
	assert_int_equal(c->dm.calls_4k + c->dm.cpa_lock_taken, 0);
	assert_int_equal(ctr(c, "directmap_splits"), 0);
	/* Sparse: one 2M assignment stores no 4K entries. */
	m2d_rmp_stats_get(c->rmp, &st);
	assert_int_equal(st.smashed_regions, 0);
	assert_int_equal(st.assigned_2m, 1);

	assert_int_equal(m2d_sev_gmem_prepare(&c->sev, pfn, m2d_gfn_from_u64(3 * 512 + 37), 9), 0);
	assert_int_equal(ctr(c, "rmp_entry_reads"), 2 + 1024 + 2);
	assert_int_equal(ctr(c, "rmpupdates"), 1);
	ctx_free(c);
}

/* Generation (a): 512 set_direct_map_invalid_noflush, each one cpa_lock
 * (+1: split_large_page re-takes it after allocating the table page);
 * the first splits the 2M direct-map entry (one flush_tlb_all); the
 * shared conversion restores 512 pages at 4K and never re-forms 2M. */
static void test_rmp_gen_a_2m_conversion(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_INVALIDATE, M2D_LEVEL_2M);
	m2d_pfn_t pfn = P(20 * 512);

	assert_int_equal(m2d_rmp_make_private(c->rmp, pfn, 0, M2D_LEVEL_2M, ASID, false), 0);
	assert_int_equal(c->dm.calls_invalid, 512);
	assert_int_equal(c->dm.cpa_lock_taken, 512 + 1);
	assert_int_equal(c->dm.splits_2m, 1);
	assert_int_equal(ctr(c, "directmap_splits"), 1);
	assert_int_equal(ctr(c, "flush_tlb_all"), 1);
	assert_false(fx_dm_is_present(&c->dm, P(20 * 512 + 100)));

	assert_int_equal(m2d_rmp_make_shared(c->rmp, pfn, M2D_LEVEL_2M), 0);
	assert_int_equal(c->dm.calls_default, 512);
	assert_int_equal(c->dm.cpa_lock_taken, 1024 + 1);
	assert_int_equal(ctr(c, "flush_tlb_all"), 1);
	assert_int_equal(fx_dm_level(&c->dm, pfn), M2D_LEVEL_4K);
	assert_true(fx_dm_is_present(&c->dm, P(20 * 512 + 100)));
	assert_int_equal(ctr(c, "rmpupdates"), 2);
	ctx_free(c);
}

/* Generation (a) in a 1G-mapped direct map: the first page splits twice. */
static void test_rmp_gen_a_1g_direct_map(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_INVALIDATE, M2D_LEVEL_1G);

	assert_int_equal(m2d_rmp_make_private(c->rmp, P(7), 7 << 12, M2D_LEVEL_4K, ASID, false), 0);
	assert_int_equal(c->dm.splits_1g, 1);
	assert_int_equal(c->dm.splits_2m, 1);
	assert_int_equal(ctr(c, "flush_tlb_all"), 2);
	ctx_free(c);
}

/* Generation (b): 4K conversions split the 2M direct-map entry once. */
static void test_rmp_gen_b_4k_conversion(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_LEVEL_2M);

	assert_int_equal(m2d_rmp_make_private(c->rmp, P(30 * 512 + 3), 0x3000, M2D_LEVEL_4K, ASID, false), 0);
	assert_int_equal(c->dm.calls_4k, 1);
	assert_int_equal(ctr(c, "directmap_splits"), 1);
	assert_int_equal(ctr(c, "flush_tlb_all"), 1);
	assert_int_equal(m2d_rmp_make_private(c->rmp, P(30 * 512 + 4), 0x4000, M2D_LEVEL_4K, ASID, false), 0);
	assert_int_equal(c->dm.calls_4k, 1); /* already 4K: lookup only */
	assert_int_equal(ctr(c, "directmap_splits"), 1);
	/* Shared again: nothing restored. */
	assert_int_equal(m2d_rmp_make_shared(c->rmp, P(30 * 512 + 3), M2D_LEVEL_4K), 0);
	assert_int_equal(fx_dm_level(&c->dm, P(30 * 512)), M2D_LEVEL_4K);
	assert_int_equal(c->dm.cpa_lock_taken, 1 + 1);
	ctx_free(c);
}

/* Generation (c): one set_direct_map_valid_noflush per 2M update, in place. */
static void test_rmp_gen_c_nr_pages(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_NR_PAGES, M2D_LEVEL_2M);

	assert_int_equal(m2d_rmp_make_private(c->rmp, P(40 * 512), 0, M2D_LEVEL_2M, ASID, false), 0);
	assert_int_equal(c->dm.calls_valid, 1);
	assert_int_equal(c->dm.cpa_lock_taken, 1);
	assert_int_equal(ctr(c, "directmap_splits"), 0);
	assert_false(fx_dm_is_present(&c->dm, P(40 * 512 + 5)));
	assert_int_equal(m2d_rmp_make_shared(c->rmp, P(40 * 512), M2D_LEVEL_2M), 0);
	assert_int_equal(c->dm.calls_valid, 2);
	assert_true(fx_dm_is_present(&c->dm, P(40 * 512 + 5)));
	assert_int_equal(fx_dm_level(&c->dm, P(40 * 512)), M2D_LEVEL_2M);
	ctx_free(c);
}

static void test_rmp_psmash_preserves_validated(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_NONE, M2D_LEVEL_2M);
	uint64_t base = 50 * 512, gpa = 5ull << 21;
	struct m2d_rmp_stats st;
	uint64_t e;

	assert_int_equal(m2d_rmp_make_private(c->rmp, P(base), gpa, M2D_LEVEL_2M, ASID, false), 0);
	assert_int_equal(m2d_rmp_pvalidate(c->rmp, P(base), gpa, M2D_LEVEL_2M, ASID, true),
			 M2D_PVALIDATE_OK);
	assert_int_equal(m2d_rmp_pvalidate(c->rmp, P(base), gpa, M2D_LEVEL_2M, ASID, true),
			 M2D_PVALIDATE_NOUPDATE);
	/* A 4K PVALIDATE inside a 2M entry: #NPF with SIZEM. */
	assert_int_equal(m2d_rmp_pvalidate(c->rmp, P(base + 1), gpa + 4096, M2D_LEVEL_4K, ASID, true),
			 M2D_PVALIDATE_NPF_RMP_SIZEM);
	assert_int_equal(m2d_psmash(c->rmp, P(base + 3)), RMPUPDATE_FAIL_INPUT); /* unaligned */
	assert_int_equal(m2d_psmash(c->rmp, P(base)), 0);
	assert_int_equal(ctr(c, "psmash"), 1);
	e = m2d_rmp_raw(c->rmp, P(base + 300));
	assert_true(e & RMPE_ASSIGNED);
	assert_false(e & RMPE_PAGESIZE);
	assert_true(e & RMPE_VALIDATED);
	assert_int_equal(((e & RMPE_GPA_MASK) >> RMPE_GPA_SHIFT), (gpa >> 12) + 300);
	m2d_rmp_stats_get(c->rmp, &st);
	assert_int_equal(st.assigned_4k, 512);
	assert_int_equal(st.assigned_2m, 0);
	assert_int_equal(st.smashed_regions, 1);
	/* Now a 2M PVALIDATE hits 4K entries. */
	assert_int_equal(m2d_rmp_pvalidate(c->rmp, P(base), gpa, M2D_LEVEL_2M, ASID, false),
			 M2D_PVALIDATE_SIZEMISMATCH);
	assert_int_equal(m2d_rmp_pvalidate(c->rmp, P(base + 1), gpa + 4096, M2D_LEVEL_4K, ASID, false),
			 M2D_PVALIDATE_OK);
	/* Wrong ASID or unassigned: #NPF (RMP). */
	assert_int_equal(m2d_rmp_pvalidate(c->rmp, P(base + 2), gpa + 8192, M2D_LEVEL_4K, ASID + 1, true),
			 M2D_PVALIDATE_NPF_RMP);
	assert_int_equal(m2d_rmp_pvalidate(c->rmp, P(base + 512), gpa, M2D_LEVEL_4K, ASID, true),
			 M2D_PVALIDATE_NPF_RMP);
	/* PSMASH of a 4K region fails; a 2M update over assigned 4K entries fails. */
	assert_int_equal(m2d_psmash(c->rmp, P(base)), RMPUPDATE_FAIL_INPUT);
	assert_int_equal(m2d_rmp_make_private(c->rmp, P(base), gpa, M2D_LEVEL_2M, ASID, false), -EFAULT);
	/* Shared 4K by 4K frees the 4K-entry storage. */
	for (unsigned i = 0; i < 512; i++)
		assert_int_equal(m2d_rmp_make_shared(c->rmp, P(base + i), M2D_LEVEL_4K), 0);
	m2d_rmp_stats_get(c->rmp, &st);
	assert_int_equal(st.assigned_4k, 0);
	assert_int_equal(st.smashed_regions, 0);
	ctx_free(c);
}

/* Host writes: a 2M mapping over a region with a private 4K page faults. */
static void test_rmp_host_write_violations(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_NONE, M2D_LEVEL_2M);
	struct m2d_rmp_violation v[4];
	uint64_t base = 60 * 512;

	assert_int_equal(m2d_rmp_make_private(c->rmp, P(base + 9), 0x9000, M2D_LEVEL_4K, ASID, false), 0);
	assert_false(m2d_rmp_host_write(c->rmp, P(base + 10), M2D_LEVEL_4K));
	assert_true(m2d_rmp_host_write(c->rmp, P(base + 10), M2D_LEVEL_2M));
	assert_true(m2d_rmp_host_write(c->rmp, P(base + 9), M2D_LEVEL_4K));
	assert_true(m2d_rmp_host_write_directmap(c->rmp, P(base + 400))); /* dm is 2M */
	assert_false(m2d_rmp_host_write(c->rmp, P(base + 512), M2D_LEVEL_1G));
	assert_int_equal(ctr(c, "rmp_violations"), 3);
	assert_int_equal(m2d_rmp_violations_get(c->rmp, v, 4), 3);
	assert_int_equal(v[0].pfn.v, base + 10);
	assert_int_equal(v[0].assigned_pfn.v, base + 9);
	assert_int_equal(v[0].level, M2D_LEVEL_2M);
	assert_int_equal(v[2].pfn.v, base + 400);
	ctx_free(c);

	/* Generation (b) splits, so the same write through the direct map is fine. */
	c = ctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_LEVEL_2M);
	assert_int_equal(m2d_rmp_make_private(c->rmp, P(base + 9), 0x9000, M2D_LEVEL_4K, ASID, false), 0);
	assert_false(m2d_rmp_host_write_directmap(c->rmp, P(base + 400)));
	assert_int_equal(ctr(c, "rmp_violations"), 0);
	ctx_free(c);
}

/* sev_gmem_invalidate of part of a 2M entry: PSMASH, 4K shared, CLFLUSH 4K. */
static void test_sev_invalidate_partial_psmash(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_LEVEL_2M);
	uint64_t base = 70 * 512;
	struct m2d_rmp_stats st;

	assert_int_equal(m2d_rmp_make_private(c->rmp, P(base), 0, M2D_LEVEL_2M, ASID, false), 0);
	m2d_sev_gmem_invalidate(c->rmp, P(base + 3), P(base + 5));
	assert_int_equal(ctr(c, "psmash"), 1);
	assert_int_equal(ctr(c, "rmpupdates"), 1 + 2);
	assert_false(m2d_rmp_raw_is_assigned(c->rmp, P(base + 3)));
	assert_false(m2d_rmp_raw_is_assigned(c->rmp, P(base + 4)));
	assert_true(m2d_rmp_raw_is_assigned(c->rmp, P(base + 5)));
	/* 4K shared conversions after the PSMASH split the direct map (b). */
	assert_int_equal(ctr(c, "directmap_splits"), 1);
	/* Whole-2M invalidate of a 2M entry: one 2M RMPUPDATE, 2 MiB flushed. */
	assert_int_equal(m2d_rmp_make_private(c->rmp, P(base + 512), 0, M2D_LEVEL_2M, ASID, false), 0);
	m2d_sev_gmem_invalidate(c->rmp, P(base + 512), P(base + 1024));
	assert_int_equal(ctr(c, "rmpupdates"), 3 + 2);
	m2d_rmp_stats_get(c->rmp, &st);
	assert_int_equal(st.assigned_2m, 0);
	assert_int_equal(st.assigned_4k, 510);
	ctx_free(c);
}

static void test_sev_rmp_fault_and_max_level(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_LEVEL_2M);
	uint64_t base = 80 * 512;
	struct m2d_sev_rmp_fault out;

	assert_int_equal(m2d_sev_gmem_max_mapping_level(&c->sev, P(base)), M2D_LEVEL_4K);
	assert_int_equal(m2d_rmp_make_private(c->rmp, P(base), 0, M2D_LEVEL_2M, ASID, false), 0);
	assert_int_equal(m2d_sev_gmem_max_mapping_level(&c->sev, P(base + 17)), M2D_LEVEL_2M);
	assert_int_equal(m2d_sev_handle_rmp_fault(&c->sev, m2d_gfn_from_u64(17), P(base + 17), 0, &out), 0);
	assert_true(out.psmashed);
	assert_true(out.zap);
	assert_int_equal(out.zap_start.v, 17);
	assert_int_equal(out.zap_end.v, 17 + 512);
	assert_int_equal(m2d_sev_gmem_max_mapping_level(&c->sev, P(base + 17)), M2D_LEVEL_4K);
	/* Spurious: already 4K. */
	assert_int_equal(m2d_sev_handle_rmp_fault(&c->sev, m2d_gfn_from_u64(17), P(base + 17), 0, &out), 0);
	assert_false(out.zap);
	assert_int_equal(ctr(c, "psmash"), 1);
	assert_int_equal(ctr(c, "rmp_npf_psmash"), 1);
	c->sev.snp = false;
	assert_int_equal(m2d_sev_gmem_max_mapping_level(&c->sev, P(base)), 0);
	ctx_free(c);
}

/* Bad input: the kernel's codes, and the RMP unchanged. */
static void test_rmp_bad_input(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_LEVEL_2M);
	struct m2d_rmp_stats before, after;
	struct m2d_rmp_config cfg;
	struct m2d_rmp *r;

	m2d_rmp_stats_get(c->rmp, &before);
	assert_int_equal(m2d_rmp_make_private(c->rmp, P(513), 0, M2D_LEVEL_2M, ASID, false), -EINVAL);
	assert_int_equal(m2d_rmp_make_private(c->rmp, P(512), 4096, M2D_LEVEL_2M, ASID, false), -EINVAL);
	assert_int_equal(m2d_rmp_make_private(c->rmp, P(MAX_PFN), 0, M2D_LEVEL_4K, ASID, false), -EINVAL);
	assert_int_equal(m2d_rmp_make_private(c->rmp, P(MAX_PFN - 512), 0, M2D_LEVEL_1G, ASID, false), -EINVAL);
	assert_int_equal(m2d_rmp_make_shared(c->rmp, P(MAX_PFN + 1), M2D_LEVEL_4K), -EINVAL);
	assert_int_equal(m2d_psmash(c->rmp, P(MAX_PFN)), -EINVAL);
	m2d_rmp_stats_get(c->rmp, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(ctr(c, "rmpupdates"), 0);

	m2d_rmp_config_default(&cfg);
	assert_int_equal(m2d_rmp_create(&r, &cfg, NULL, NULL), -EINVAL);
	cfg.max_pfn = 1000;
	assert_int_equal(m2d_rmp_create(&r, &cfg, &fx_dm_ops, &c->dm), -EINVAL);
	cfg.max_pfn = 1024;
	assert_int_equal(m2d_rmp_create(&r, &cfg, NULL, NULL), -EINVAL); /* policy needs a dm */
	ctx_free(c);
}

/* Two CPUs convert pages of the same 2M range at the same virtual time:
 * the second RMPUPDATE sees FAIL_OVERLAP and spins until the first ends. */
struct overlap_arg {
	struct m2d_rmp *rmp;
	uint64_t pfn;
	m2d_vtime_t done;
};

static void overlap_thread(void *p)
{
	struct overlap_arg *a = p;

	assert_int_equal(m2d_rmp_make_private(a->rmp, P(a->pfn), a->pfn << 12, M2D_LEVEL_4K, ASID, false), 0);
	a->done = m2d_now();
}

static void test_rmp_overlap_spins(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_NONE, M2D_LEVEL_4K);
	struct overlap_arg a = { c->rmp, 90 * 512 + 1, 0 }, b = { c->rmp, 90 * 512 + 2, 0 };
	struct overlap_arg d = { c->rmp, 91 * 512 + 2, 0 };

	m2d_engine_leave(c->sim);
	assert_int_equal(m2d_sim_spawn(c->sim, 0, "a", overlap_thread, &a), 0);
	assert_int_equal(m2d_sim_spawn(c->sim, 1, "b", overlap_thread, &b), 0);
	assert_int_equal(m2d_sim_spawn(c->sim, 2, "d", overlap_thread, &d), 0);
	assert_int_equal(m2d_sim_run(c->sim), 0);
	m2d_engine_enter(c->sim);
	assert_int_equal(ctr(c, "rmpupdate_overlaps"), 1);
	assert_int_equal(a.done, 1000);
	assert_int_equal(b.done, 2000); /* spun to 1000, then its own 1000 */
	assert_int_equal(d.done, 1000); /* another 2M range: no overlap */
	ctx_free(c);
}

/* A PSMASH racing with another CPU's RMPUPDATE of the range fails
 * (FAIL_INUSE); sev_handle_rmp_fault then re-checks and still zaps. */
static void psmash_2m_thread(void *p)
{
	struct overlap_arg *a = p;

	assert_int_equal(m2d_rmp_make_private(a->rmp, P(a->pfn), 0, M2D_LEVEL_2M, ASID, false), 0);
}

static void psmash_thread(void *p)
{
	struct overlap_arg *a = p;

	a->done = (m2d_vtime_t)m2d_psmash(a->rmp, P(a->pfn));
}

static void test_rmp_psmash_inuse(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_NONE, M2D_LEVEL_4K);
	struct overlap_arg a = { c->rmp, 100 * 512, 0 }, b = { c->rmp, 100 * 512, 0 };

	m2d_engine_leave(c->sim);
	assert_int_equal(m2d_sim_spawn(c->sim, 0, "a", psmash_2m_thread, &a), 0);
	assert_int_equal(m2d_sim_spawn(c->sim, 1, "b", psmash_thread, &b), 0);
	assert_int_equal(m2d_sim_run(c->sim), 0);
	m2d_engine_enter(c->sim);
	assert_int_equal(b.done, RMPUPDATE_FAIL_INUSE);
	assert_int_equal(ctr(c, "psmash"), 0);
	m2d_delay(M2D_COST_RMPUPDATE, 1); /* past a's update: fine */
	assert_int_equal(m2d_psmash(c->rmp, P(100 * 512)), 0);
	ctx_free(c);
}

/* ---- on the real lib/mm host: the direct map and CPA of lib/mm ------------ */

struct hctx {
	struct m2d_sim *sim;
	struct m2d_host *host;
	struct m2d_rmp *rmp;
};

static struct hctx *hctx_new(enum m2d_rmp_directmap policy, int dm_level)
{
	struct hctx *c = calloc(1, sizeof(*c));
	struct m2d_sim_config sc;
	struct m2d_host_config hc;

	m2d_sim_config_default(&sc);
	sc.cpus = 8;
	assert_int_equal(m2d_sim_create(&c->sim, &sc), 0);
	m2d_host_config_default(&hc);
	hc.mem_bytes = 4ull << 30;
	hc.directmap_max_level = dm_level;
	assert_int_equal(m2d_host_create(c->sim, &hc, &c->host), 0);
	m2d_engine_enter(c->sim);
	assert_int_equal(m2d_coco_host_rmp_create(c->host, policy, &c->rmp), 0);
	assert_int_equal(m2d_coco_host_rmp_create(c->host, policy, &c->rmp), -EINVAL);
	return c;
}

static void hctx_free(struct hctx *c)
{
	m2d_engine_leave(c->sim);
	m2d_host_destroy(&c->host); /* frees the RMP through host->rmp_destroy */
	m2d_sim_destroy(&c->sim);
	free(c);
}

static uint64_t hctr(struct hctx *c, const char *name)
{
	return m2d_sim_counter(c->sim, name);
}

static uint64_t host_folio_2m(struct hctx *c)
{
	m2d_pfn_t pfn;

	assert_int_equal(m2d_gmem_host_folio_ops.alloc(c->host, 9, &pfn), 0);
	return pfn.v;
}

/*
 * Generation (a) in a 2M direct map: converting one 2M folio is 512
 * set_direct_map_invalid_noflush calls, each one cpa_lock acquisition
 * (plus one re-acquisition in split_large_page, which drops cpa_lock
 * around the table-page allocation), one split, one flush_tlb_all.  The
 * shared conversion restores the 512 pages at 4K: 512 more acquisitions,
 * no split, no flush; DirectMap2M never comes back.
 */
static void test_rmp_host_gen_a(void **state)
{
	struct hctx *c = hctx_new(M2D_RMP_DIRECTMAP_INVALIDATE, M2D_LEVEL_2M);
	uint64_t pfn = host_folio_2m(c);
	uint64_t l0 = hctr(c, "cpa_lock_acquisitions"), f0 = hctr(c, "flush_tlb_all");
	int level;

	assert_int_equal(m2d_rmp_make_private(c->rmp, m2d_pfn_from_u64(pfn), 0, M2D_LEVEL_2M, ASID, false), 0);
	assert_int_equal(hctr(c, "directmap_splits"), 1);
	assert_int_equal(hctr(c, "cpa_lock_acquisitions") - l0, 512 + 1);
	assert_int_equal(hctr(c, "flush_tlb_all") - f0, 1);
	assert_false(m2d_directmap_present(c->host, pfn + 7, &level));
	/* A host write to it now is a #PF on the direct map, not an RMP check. */
	assert_false(m2d_rmp_host_write_directmap(c->rmp, m2d_pfn_from_u64(pfn + 7)));
	assert_int_equal(hctr(c, "directmap_np_writes"), 1);
	assert_int_equal(hctr(c, "rmp_violations"), 0);
	assert_int_equal(m2d_rmp_make_shared(c->rmp, m2d_pfn_from_u64(pfn), M2D_LEVEL_2M), 0);
	assert_int_equal(hctr(c, "cpa_lock_acquisitions") - l0, 2 * 512 + 1);
	assert_int_equal(hctr(c, "flush_tlb_all") - f0, 1);
	assert_true(m2d_directmap_present(c->host, pfn + 7, &level));
	assert_int_equal(level, M2D_LEVEL_4K);
	hctx_free(c);
}

/* Generation (b): a 2M conversion touches the direct map not at all; a 4K
 * conversion splits to 4K once; host writes through it are then fine. */
static void test_rmp_host_gen_b(void **state)
{
	struct hctx *c = hctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_LEVEL_2M);
	uint64_t a = host_folio_2m(c), b = host_folio_2m(c);
	uint64_t l0 = hctr(c, "cpa_lock_acquisitions"), f0 = hctr(c, "flush_tlb_all");
	int level;

	assert_int_equal(m2d_rmp_make_private(c->rmp, m2d_pfn_from_u64(a), 0, M2D_LEVEL_2M, ASID, false), 0);
	assert_int_equal(hctr(c, "cpa_lock_acquisitions") - l0, 0);
	assert_int_equal(hctr(c, "directmap_splits"), 0);
	assert_int_equal(m2d_rmp_make_private(c->rmp, m2d_pfn_from_u64(b + 3), 0x3000, M2D_LEVEL_4K, ASID, false), 0);
	assert_int_equal(hctr(c, "directmap_splits"), 1);
	assert_int_equal(hctr(c, "flush_tlb_all") - f0, 1);
	assert_true(m2d_directmap_present(c->host, b + 100, &level));
	assert_int_equal(level, M2D_LEVEL_4K);
	assert_int_equal(m2d_rmp_make_private(c->rmp, m2d_pfn_from_u64(b + 4), 0x4000, M2D_LEVEL_4K, ASID, false), 0);
	assert_int_equal(hctr(c, "directmap_splits"), 1);
	assert_false(m2d_rmp_host_write_directmap(c->rmp, m2d_pfn_from_u64(b + 100)));
	assert_true(m2d_rmp_host_write_directmap(c->rmp, m2d_pfn_from_u64(a + 100)));
	hctx_free(c);
}

/* Generation (c): one whole-2M set_direct_map_valid_noflush, no split. */
static void test_rmp_host_gen_c(void **state)
{
	struct hctx *c = hctx_new(M2D_RMP_DIRECTMAP_NR_PAGES, M2D_LEVEL_2M);
	uint64_t a = host_folio_2m(c);
	int level;

	assert_int_equal(m2d_rmp_make_private(c->rmp, m2d_pfn_from_u64(a), 0, M2D_LEVEL_2M, ASID, false), 0);
	assert_int_equal(hctr(c, "directmap_splits"), 0);
	assert_false(m2d_directmap_present(c->host, a + 9, &level));
	assert_int_equal(level, M2D_LEVEL_2M);
	assert_int_equal(m2d_rmp_make_shared(c->rmp, m2d_pfn_from_u64(a), M2D_LEVEL_2M), 0);
	assert_true(m2d_directmap_present(c->host, a + 9, &level));
	assert_int_equal(level, M2D_LEVEL_2M);
	hctx_free(c);
}

/* A pre-split 4K direct map (host option): generation (a) never splits. */
static void test_rmp_host_presplit(void **state)
{
	struct m2d_sim_config sc;
	struct m2d_host_config hc;
	struct m2d_sim *sim;
	struct m2d_host *host;
	struct m2d_rmp *rmp;
	m2d_pfn_t pfn;
	uint64_t s0;

	m2d_sim_config_default(&sc);
	assert_int_equal(m2d_sim_create(&sim, &sc), 0);
	m2d_host_config_default(&hc);
	hc.mem_bytes = 1ull << 30;
	hc.directmap_presplit_4k = true;
	assert_int_equal(m2d_host_create(sim, &hc, &host), 0);
	m2d_engine_enter(sim);
	assert_int_equal(m2d_coco_host_rmp_create(host, M2D_RMP_DIRECTMAP_INVALIDATE, &rmp), 0);
	assert_int_equal(m2d_gmem_host_folio_ops.alloc(host, 9, &pfn), 0);
	s0 = m2d_sim_counter(sim, "directmap_splits");
	assert_int_equal(m2d_rmp_make_private(rmp, pfn, 0, M2D_LEVEL_2M, ASID, false), 0);
	assert_int_equal(m2d_sim_counter(sim, "directmap_splits"), s0);
	m2d_engine_leave(sim);
	m2d_host_destroy(&host);
	m2d_sim_destroy(&sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rmp_lookup_reads_two_entries),
		cmocka_unit_test(test_rmp_first_2m_prepare_counts),
		cmocka_unit_test(test_rmp_gen_a_2m_conversion),
		cmocka_unit_test(test_rmp_gen_a_1g_direct_map),
		cmocka_unit_test(test_rmp_gen_b_4k_conversion),
		cmocka_unit_test(test_rmp_gen_c_nr_pages),
		cmocka_unit_test(test_rmp_psmash_preserves_validated),
		cmocka_unit_test(test_rmp_host_write_violations),
		cmocka_unit_test(test_sev_invalidate_partial_psmash),
		cmocka_unit_test(test_sev_rmp_fault_and_max_level),
		cmocka_unit_test(test_rmp_bad_input),
		cmocka_unit_test(test_rmp_overlap_spins),
		cmocka_unit_test(test_rmp_psmash_inuse),
		cmocka_unit_test(test_rmp_host_gen_a),
		cmocka_unit_test(test_rmp_host_gen_b),
		cmocka_unit_test(test_rmp_host_gen_c),
		cmocka_unit_test(test_rmp_host_presplit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
