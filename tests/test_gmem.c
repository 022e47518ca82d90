// SPDX-License-Identifier: MIT
/*
 * tests/test_gmem.c - guest_memfd (lib/coco/gmem.c) with the SNP hooks:
 * exact counts, hole-punch policies, bad input, and a seeded randomized
 * state-machine test against a reference model.
 *
 * The randomized test prints its seed; set M2D_TEST_SEED=<n> to replay.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>

#include <mmu2d/physmem.h>

#include "coco_fixture.h"
#include "coco/sev.h"
#include "mm/directmap.h"
#include "mm/physmem.h"

#define ASID 5
#define HOST_PFNS (8ull << 18) /* 8 GiB */

/* ---- a fake KVM: the callbacks, and a map of private gfns ------------------- */

struct fkvm {
	struct m2d_sev_vm sev;
	uint64_t nr_begin, nr_zap, nr_unlock, nr_flush, nr_end;
	uint64_t last_zap_start, last_zap_end;
	bool in_invalidate;
	uint64_t base_gfn, nr_gfns;
	uint8_t *map;            /* per gfn - base: 0, or mapped level */
};

static void fk_begin(void *p)
{
	struct fkvm *k = p;

	assert_false(k->in_invalidate);
	k->in_invalidate = true;
	k->nr_begin++;
}

static void fk_unmap(struct fkvm *k, uint64_t start, uint64_t end)
{
	for (uint64_t g = start; g < end; g++) {
		uint64_t i = g - k->base_gfn;

		if (g < k->base_gfn || i >= k->nr_gfns || !k->map[i])
			continue;
		if (k->map[i] == M2D_LEVEL_2M) {
			uint64_t a = i & ~511ull;

			memset(k->map + a, 0, 512);
		} else {
			k->map[i] = 0;
		}
	}
}

static bool fk_zap(void *p, void *slot, m2d_gfn_t start, m2d_gfn_t end)
{
	struct fkvm *k = p;

	assert_true(k->in_invalidate);
	k->nr_zap++;
	k->last_zap_start = start.v;
	k->last_zap_end = end.v;
	fk_unmap(k, start.v, end.v);
	return true;
}

static void fk_unlock(void *p, bool flush)
{
	struct fkvm *k = p;

	k->nr_unlock++;
	k->nr_flush += flush;
}

static void fk_end(void *p)
{
	struct fkvm *k = p;

	assert_true(k->in_invalidate);
	k->in_invalidate = false;
	k->nr_end++;
}

static int fk_prepare(void *p, m2d_gfn_t gfn, m2d_pfn_t pfn, int max_order)
{
	struct fkvm *k = p;

	return m2d_sev_gmem_prepare(&k->sev, pfn, gfn, max_order);
}

static const struct m2d_gmem_kvm_ops fk_ops = {
	.invalidate_begin = fk_begin,
	.zap = fk_zap,
	.invalidate_unlock = fk_unlock,
	.invalidate_end = fk_end,
	.arch_prepare = fk_prepare,
};

/* ---- test context --------------------------------------------------------- */

struct ctx {
	struct m2d_sim *sim;
	struct fx_pm pm;
	struct fx_dm dm;
	struct m2d_rmp *rmp;
	struct m2d_gmem *g;
	struct m2d_gmem_file *f;
	struct fkvm k;
	int slot_a, slot_b;      /* their addresses are the memslot handles */
	struct m2d_host *host;   /* folios from lib/mm physmem instead of fx_pm */
};

/* ctx_new() takes folios from a lib/mm host when set. */
static bool use_host;

/* Is host page @p free (in the buddy allocator / the fixture)? */
static bool page_is_free(struct ctx *c, uint64_t p)
{
	if (c->host)
		return !m2d_pfn_folio(c->host, p);
	return !c->pm.state[p];
}

static struct ctx *ctx_new(enum m2d_rmp_directmap dmp, enum m2d_gmem_folio folio,
			   enum m2d_gmem_punch punch, uint64_t size, uint64_t base_gfn)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct m2d_rmp_config rc;
	struct m2d_gmem_config gc;

	c->sim = fx_sim();
	m2d_engine_enter(c->sim);
	fx_pm_init(&c->pm, HOST_PFNS);
	fx_dm_init(&c->dm, HOST_PFNS, M2D_LEVEL_2M);
	m2d_gmem_config_default(&gc);
	gc.size = size;
	gc.folio = folio;
	gc.punch = punch;
	if (use_host) {
		/* lib/mm: buddy allocator, direct map (2M) + CPA; the RMP hangs off the host. */
		struct m2d_host_config hc;

		m2d_host_config_default(&hc);
		hc.mem_bytes = HOST_PFNS << 12;
		hc.directmap_max_level = M2D_LEVEL_2M;
		assert_int_equal(m2d_host_create(c->sim, &hc, &c->host), 0);
		assert_int_equal(m2d_coco_host_rmp_create(c->host, dmp, &c->rmp), 0);
		assert_int_equal(m2d_gmem_create(&c->g, &gc, &m2d_gmem_host_folio_ops, c->host, c->rmp), 0);
	} else {
		m2d_rmp_config_default(&rc);
		rc.max_pfn = HOST_PFNS;
		rc.directmap = dmp;
		assert_int_equal(m2d_rmp_create(&c->rmp, &rc, &fx_dm_ops, &c->dm), 0);
		assert_int_equal(m2d_gmem_create(&c->g, &gc, &fx_pm_ops, &c->pm, c->rmp), 0);
	}
	c->k.sev = (struct m2d_sev_vm){ .rmp = c->rmp, .asid = ASID, .snp = true };
	c->k.base_gfn = base_gfn;
	c->k.nr_gfns = size >> 12;
	c->k.map = calloc(c->k.nr_gfns, 1);
	assert_int_equal(m2d_gmem_file_create(c->g, &c->k, &fk_ops, &c->f), 0);
	return c;
}

static void ctx_destroy(struct ctx *c, bool check)
{
	m2d_gmem_file_release(&c->f);
	assert_null(c->f);
	m2d_gmem_destroy(&c->g);
	assert_null(c->g);
	/* Every folio went back through the arch invalidate (unless the test
	 * leaked pages on purpose). */
	for (uint64_t p = 0; p < HOST_PFNS && check; p++)
		if (m2d_rmp_raw_is_assigned(c->rmp, m2d_pfn_from_u64(p)))
			fail_msg("pfn %#llx still assigned after destroy", (unsigned long long)p);
	if (c->host) {
		assert_int_equal(m2d_physmem_free_pages(c->host, -1), HOST_PFNS);
		m2d_host_destroy(&c->host); /* and its RMP */
	} else {
		m2d_rmp_destroy(&c->rmp);
	}
	fx_dm_fini(&c->dm);
	fx_pm_fini(&c->pm);
	free(c->k.map);
	m2d_engine_leave(c->sim);
	m2d_sim_destroy(&c->sim);
	free(c);
}

static void ctx_free(struct ctx *c)
{
	ctx_destroy(c, true);
}

static uint64_t ctr(struct ctx *c, const char *name)
{
	return m2d_sim_counter(c->sim, name);
}

/* KVM's private fault: kvm_gmem_get_pfn, then the mapping level
 * min(level for the gmem order, the RMP level), then map. */
static int fault(struct ctx *c, void *slot, uint64_t gfn, int *level_out)
{
	m2d_pfn_t pfn;
	int mo, level, ret;

	ret = m2d_gmem_get_pfn(c->f, slot, m2d_gfn_from_u64(gfn), &pfn, &mo);
	if (ret)
		return ret;
	/* (M2D_MIN evaluates its arguments twice: the RMP lookup goes first.) */
	level = m2d_sev_gmem_max_mapping_level(&c->k.sev, pfn);
	level = M2D_MIN(m2d_gmem_max_level_for_order(mo), level);
	if (level == M2D_LEVEL_2M)
		memset(c->k.map + ((gfn - c->k.base_gfn) & ~511ull), M2D_LEVEL_2M, 512);
	else
		c->k.map[gfn - c->k.base_gfn] = M2D_LEVEL_4K;
	if (level_out)
		*level_out = level;
	return 0;
}

/* ---- exact counts ------------------------------------------------------------ */

static void test_gmem_first_2m_fault_counts(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_GMEM_FOLIO_2M,
				M2D_GMEM_PUNCH_ALLOW, 64 << 20, 0x1000);
	struct m2d_gmem_stats st;
	int level;

	assert_int_equal(m2d_gmem_bind(c->f, &c->slot_a, m2d_gfn_from_u64(0x1000), 64 << 8, 0), 0);
	assert_int_equal(fault(c, &c->slot_a, 0x1000 + 512 + 7, &level), 0);
	assert_int_equal(level, M2D_LEVEL_2M);
	assert_int_equal(ctr(c, "gmem_pages_zeroed"), 512);
	assert_int_equal(ctr(c, "gmem_prepares"), 1);
	/* sev_gmem_prepare: 2 reads + is_large_rmp_possible's 1024; the mapping
	 * level check is one more lookup (2 reads). */
	assert_int_equal(ctr(c, "rmp_entry_reads"), 2 + 1024 + 2);
	assert_int_equal(ctr(c, "rmpupdates"), 1);
	assert_int_equal(ctr(c, "directmap_splits"), 0);
	m2d_gmem_stats_get(c->g, &st);
	assert_int_equal(st.folios_2m, 1);
	assert_int_equal(st.file_huge_bytes, 2 << 20);
	assert_int_equal(st.private_2m_bytes, 2 << 20);
	assert_int_equal(st.prepared_bytes, 2 << 20);
	/* By file offset: the same page through the binding. */
	{
		m2d_pfn_t p1, p2;
		int mo;

		assert_int_equal(m2d_gmem_get_pfn(c->f, &c->slot_a, m2d_gfn_from_u64(0x1000 + 600), &p1, &mo), 0);
		assert_int_equal(m2d_gmem_get_pfn_pgoff(c->f, 600, &p2, &mo), 0);
		assert_int_equal(p1.v, p2.v);
		assert_int_equal(mo, 9);
	}
	/* The rest of the 2M is prepared: no zeroing, no prepare, no RMP reads
	 * from guest_memfd; only KVM's mapping-level lookup. */
	assert_int_equal(fault(c, &c->slot_a, 0x1000 + 512 + 300, NULL), 0);
	assert_int_equal(ctr(c, "gmem_pages_zeroed"), 512);
	assert_int_equal(ctr(c, "gmem_prepares"), 1);
	assert_int_equal(ctr(c, "rmp_entry_reads"), 1028 + 2);
	ctx_free(c);
}

static void test_gmem_4k_folios(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_GMEM_FOLIO_4K,
				M2D_GMEM_PUNCH_ALLOW, 4 << 20, 0);
	int level;

	assert_int_equal(m2d_gmem_bind(c->f, &c->slot_a, m2d_gfn_from_u64(0), 1024, 0), 0);
	assert_int_equal(fault(c, &c->slot_a, 3, &level), 0);
	assert_int_equal(level, M2D_LEVEL_4K);
	assert_int_equal(ctr(c, "gmem_pages_zeroed"), 1);
	assert_int_equal(ctr(c, "rmp_entry_reads"), 2 + 2); /* prepare + mapping level */
	assert_int_equal(ctr(c, "rmpupdates"), 1);
	/* Generation (b): the 4K conversion split the 2M direct map once. */
	assert_int_equal(ctr(c, "directmap_splits"), 1);
	assert_int_equal(c->dm.calls_4k, 1);
	assert_int_equal(ctr(c, "gmem_folios_4k"), 1);
	assert_int_equal(ctr(c, "gmem_folios_2m"), 0);
	ctx_free(c);
}

static void test_gmem_2m_fallback(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_GMEM_FOLIO_2M,
				M2D_GMEM_PUNCH_ALLOW, (8 << 20) + (64 << 10), 0);
	m2d_pfn_t pfn;
	unsigned order;

	assert_int_equal(m2d_gmem_bind(c->f, &c->slot_a, m2d_gfn_from_u64(0), 2048 + 16, 0), 0);
	c->pm.fail_2m = true;
	assert_int_equal(fault(c, &c->slot_a, 5, NULL), 0);
	assert_true(m2d_gmem_folio_lookup(c->g, 5, &pfn, &order));
	assert_int_equal(order, 0);
	assert_int_equal(ctr(c, "gmem_2m_fallbacks"), 1);
	c->pm.fail_2m = false;
	/* Part of the 2M range is present: order 0 again. */
	assert_int_equal(fault(c, &c->slot_a, 6, NULL), 0);
	assert_true(m2d_gmem_folio_lookup(c->g, 6, &pfn, &order));
	assert_int_equal(order, 0);
	assert_int_equal(ctr(c, "gmem_2m_fallbacks"), 2);
	/* A fresh 2M range: a 2M folio. */
	assert_int_equal(fault(c, &c->slot_a, 600, NULL), 0);
	assert_true(m2d_gmem_folio_lookup(c->g, 600, &pfn, &order));
	assert_int_equal(order, 9);
	/* The tail beyond the last full 2M of i_size: order 0. */
	assert_int_equal(fault(c, &c->slot_a, 2048 + 3, NULL), 0);
	assert_true(m2d_gmem_folio_lookup(c->g, 2048 + 3, &pfn, &order));
	assert_int_equal(order, 0);
	assert_int_equal(ctr(c, "gmem_2m_fallbacks"), 3);
	ctx_free(c);
}

/* Punch one 4K page out of a prepared 2M folio (policy allow). */
static void test_gmem_punch_allow_splits(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_GMEM_FOLIO_2M,
				M2D_GMEM_PUNCH_ALLOW, 8 << 20, 0x800);
	struct m2d_gmem_stats st;
	m2d_pfn_t pfn, pfn5;
	unsigned order;

	assert_int_equal(m2d_gmem_bind(c->f, &c->slot_a, m2d_gfn_from_u64(0x800), 2048, 0), 0);
	assert_int_equal(fault(c, &c->slot_a, 0x800 + 9, NULL), 0);
	assert_true(m2d_gmem_folio_lookup(c->g, 5, &pfn5, &order));
	assert_int_equal(m2d_gmem_fallocate(c->g, M2D_GMEM_FALLOC_KEEP_SIZE | M2D_GMEM_FALLOC_PUNCH_HOLE,
					    5 << 12, 4096), 0);
	assert_int_equal(c->k.nr_begin, 1);
	assert_int_equal(c->k.nr_zap, 1);
	assert_int_equal(c->k.last_zap_start, 0x800 + 5);
	assert_int_equal(c->k.last_zap_end, 0x800 + 6);
	assert_int_equal(c->k.nr_unlock, 1);
	assert_int_equal(c->k.nr_flush, 1);
	assert_int_equal(c->k.nr_end, 1);
	assert_int_equal(c->k.map[9], 0); /* the 2M mapping was zapped */
	assert_int_equal(ctr(c, "gmem_folio_splits"), 1);
	assert_int_equal(ctr(c, "psmash"), 1);
	assert_int_equal(ctr(c, "rmpupdates"), 2);
	assert_int_equal(ctr(c, "directmap_splits"), 1);
	assert_false(m2d_rmp_raw_is_assigned(c->rmp, pfn5));
	assert_false(m2d_gmem_folio_lookup(c->g, 5, &pfn, &order));
	assert_false(m2d_gmem_is_prepared(c->g, 5));
	assert_true(m2d_gmem_is_prepared(c->g, 6));
	assert_int_equal(c->pm.state[pfn5.v], 0);
	m2d_gmem_stats_get(c->g, &st);
	assert_int_equal(st.folios_2m, 0);
	assert_int_equal(st.folios_4k, 511);
	assert_int_equal(st.file_huge_bytes, 0);
	assert_int_equal(st.private_bytes, 511 * 4096);
	assert_int_equal(st.private_2m_bytes, 0);
	assert_int_equal(st.splits, 1);
	/* Refault after the split: mapped at 4K now. */
	int level;
	assert_int_equal(fault(c, &c->slot_a, 0x800 + 9, &level), 0);
	assert_int_equal(level, M2D_LEVEL_4K);
	ctx_free(c);
}

static void test_gmem_punch_whole_2m(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_GMEM_FOLIO_2M,
				M2D_GMEM_PUNCH_NO_SUB_2M, 8 << 20, 0);
	struct m2d_gmem_stats before, after;
	m2d_pfn_t pfn;
	unsigned order;

	assert_int_equal(m2d_gmem_bind(c->f, &c->slot_a, m2d_gfn_from_u64(0), 2048, 0), 0);
	assert_int_equal(fault(c, &c->slot_a, 1, NULL), 0);
	assert_true(m2d_gmem_folio_lookup(c->g, 0, &pfn, &order));
	m2d_gmem_stats_get(c->g, &before);
	/* no-sub-2m refuses a 4K punch, state unchanged. */
	assert_int_equal(m2d_gmem_fallocate(c->g, 3, 4096, 4096), -EINVAL);
	assert_int_equal(m2d_gmem_fallocate(c->g, 3, 0, (2 << 20) + 4096), -EINVAL);
	m2d_gmem_stats_get(c->g, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(c->k.nr_begin, 0);
	/* A 2M punch: one 2M RMPUPDATE to shared, 2 MiB flushed, folio freed. */
	assert_int_equal(m2d_gmem_fallocate(c->g, 3, 0, 2 << 20), 0);
	assert_int_equal(ctr(c, "rmpupdates"), 2);
	assert_int_equal(ctr(c, "psmash"), 0);
	assert_false(m2d_rmp_raw_is_assigned(c->rmp, pfn));
	assert_int_equal(c->pm.state[pfn.v], 0);
	m2d_gmem_stats_get(c->g, &after);
	assert_int_equal(after.folios_2m, 0);
	assert_int_equal(after.prepared_bytes, 0);
	ctx_free(c);
}

/* zero-only (hugetlb-like): the folio stays, the host zeroes private pages:
 * each such write is an RMP violation (reported, not a crash). */
static void test_gmem_punch_zero_only(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_GMEM_FOLIO_2M,
				M2D_GMEM_PUNCH_ZERO_ONLY, 8 << 20, 0);
	struct m2d_gmem_stats st;
	m2d_pfn_t pfn;
	unsigned order;

	assert_int_equal(m2d_gmem_bind(c->f, &c->slot_a, m2d_gfn_from_u64(0), 2048, 0), 0);
	assert_int_equal(fault(c, &c->slot_a, 1, NULL), 0);
	assert_int_equal(m2d_gmem_fallocate(c->g, 3, 8192, 3 * 4096), 0);
	assert_true(m2d_gmem_folio_lookup(c->g, 3, &pfn, &order));
	assert_int_equal(order, 9);
	assert_int_equal(ctr(c, "gmem_pages_zeroed"), 512 + 3);
	assert_int_equal(ctr(c, "rmp_violations"), 3);
	assert_int_equal(ctr(c, "gmem_folio_splits"), 0);
	m2d_gmem_stats_get(c->g, &st);
	assert_int_equal(st.private_2m_bytes, 2 << 20);
	ctx_free(c);
}

static void test_gmem_fallocate_preallocates(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_GMEM_FOLIO_2M,
				M2D_GMEM_PUNCH_ALLOW, 16 << 20, 0);
	struct m2d_gmem_stats st;

	assert_int_equal(m2d_gmem_fallocate(c->g, M2D_GMEM_FALLOC_KEEP_SIZE, 0, 16 << 20), 0);
	m2d_gmem_stats_get(c->g, &st);
	assert_int_equal(st.folios_2m, 8);
	assert_int_equal(st.prepared_bytes, 0);
	assert_int_equal(ctr(c, "gmem_pages_zeroed"), 0);
	assert_int_equal(ctr(c, "rmpupdates"), 0);
	assert_true(st.first_huge_alloc <= st.last_huge_alloc);
	ctx_free(c);
}

/* Bad input: the kernel's error codes; nothing changes. */
static void test_gmem_bad_input(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_GMEM_FOLIO_2M,
				M2D_GMEM_PUNCH_ALLOW, 8 << 20, 0x100);
	struct m2d_gmem_stats before, after;
	struct m2d_gmem_config gc;
	struct m2d_gmem *g2;
	m2d_pfn_t pfn;
	int other;

	assert_int_equal(m2d_gmem_bind(c->f, &c->slot_a, m2d_gfn_from_u64(0x100), 1024, 0), 0);
	assert_int_equal(fault(c, &c->slot_a, 0x100, NULL), 0);
	m2d_gmem_stats_get(c->g, &before);

	/* fallocate */
	assert_int_equal(m2d_gmem_fallocate(c->g, 3, 100, 4096), -EINVAL);
	assert_int_equal(m2d_gmem_fallocate(c->g, 3, 4096, 100), -EINVAL);
	assert_int_equal(m2d_gmem_fallocate(c->g, 3, -4096, 4096), -EINVAL);
	assert_int_equal(m2d_gmem_fallocate(c->g, 3, 0, 0), -EINVAL);
	assert_int_equal(m2d_gmem_fallocate(c->g, 3, INT64_MAX - 4095, 8192), -EFBIG);
	assert_int_equal(m2d_gmem_fallocate(c->g, M2D_GMEM_FALLOC_PUNCH_HOLE, 0, 4096), -EOPNOTSUPP);
	assert_int_equal(m2d_gmem_fallocate(c->g, 0x11, 0, 4096), -EOPNOTSUPP);
	assert_int_equal(m2d_gmem_fallocate(c->g, M2D_GMEM_FALLOC_KEEP_SIZE, 4 << 20, 8 << 20), -EINVAL);
	/* Punching beyond the end of the file succeeds and does nothing. */
	assert_int_equal(m2d_gmem_fallocate(c->g, 3, 8 << 20, 4096), 0);
	/* bind */
	assert_int_equal(m2d_gmem_bind(c->f, &other, m2d_gfn_from_u64(0x9000), 16, 4096), -EINVAL);
	assert_int_equal(m2d_gmem_bind(c->f, &other, m2d_gfn_from_u64(0x9000), 16, 123), -EINVAL);
	assert_int_equal(m2d_gmem_bind(c->f, &other, m2d_gfn_from_u64(0x9000), 16, -4096), -EINVAL);
	assert_int_equal(m2d_gmem_bind(c->f, &other, m2d_gfn_from_u64(0x9000), 2048, 4096), -EINVAL);
	assert_int_equal(m2d_gmem_bind(c->f, &other, m2d_gfn_from_u64(0x9000), 0, 8 << 19), -EINVAL);
	/* get_pfn: gfn outside the slot, unknown slot. */
	assert_int_equal(m2d_gmem_get_pfn(c->f, &c->slot_a, m2d_gfn_from_u64(0x100 + 1024), &pfn, NULL), -EIO);
	assert_int_equal(m2d_gmem_get_pfn(c->f, &c->slot_a, m2d_gfn_from_u64(0xff), &pfn, NULL), -EIO);
	assert_int_equal(m2d_gmem_get_pfn(c->f, &other, m2d_gfn_from_u64(0x100), &pfn, NULL), -EFAULT);
	assert_int_equal(m2d_gmem_get_pfn_pgoff(c->f, 1024, &pfn, NULL), -EIO);

	m2d_gmem_stats_get(c->g, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(c->k.nr_begin, 0); /* beyond-EOF punch overlaps no binding */

	/* A non-overlapping binding is fine; create validates the config. */
	assert_int_equal(m2d_gmem_bind(c->f, &other, m2d_gfn_from_u64(0x9000), 16, 4 << 20), 0);
	m2d_gmem_config_default(&gc);
	assert_int_equal(m2d_gmem_create(&g2, &gc, &fx_pm_ops, &c->pm, c->rmp), -EINVAL);
	gc.size = 4097;
	assert_int_equal(m2d_gmem_create(&g2, &gc, &fx_pm_ops, &c->pm, c->rmp), -EINVAL);
	ctx_free(c);
}

/* Two VMs' views of one inode: a punch invalidates through both; release
 * and unbind stop the callbacks. */
static void test_gmem_two_views_release(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_GMEM_FOLIO_2M,
				M2D_GMEM_PUNCH_ALLOW, 8 << 20, 0);
	struct fkvm k2 = { .base_gfn = 0x5000, .nr_gfns = 2048 };
	struct m2d_gmem_file *f2;
	int slot2;

	k2.map = calloc(2048, 1);
	k2.sev = c->k.sev;
	assert_int_equal(m2d_gmem_file_create(c->g, &k2, &fk_ops, &f2), 0);
	assert_int_equal(m2d_gmem_bind(c->f, &c->slot_a, m2d_gfn_from_u64(0), 1024, 0), 0);
	assert_int_equal(m2d_gmem_bind(f2, &slot2, m2d_gfn_from_u64(0x5000), 1024, 2 << 20), 0);
	/* A punch over both bindings: one begin/zap/unlock/end per view. */
	assert_int_equal(m2d_gmem_fallocate(c->g, 3, 1 << 20, 2 << 20), 0);
	assert_int_equal(c->k.nr_begin, 1);
	assert_int_equal(c->k.last_zap_start, 256);
	assert_int_equal(c->k.last_zap_end, 768);
	assert_int_equal(k2.nr_begin, 1);
	assert_int_equal(k2.last_zap_start, 0x5000);
	assert_int_equal(k2.last_zap_end, 0x5000 + 256);
	assert_int_equal(k2.nr_end, 1);
	/* Releasing the second view zaps everything it had bound. */
	m2d_gmem_file_release(&f2);
	assert_null(f2);
	assert_int_equal(k2.nr_begin, 2);
	assert_int_equal(k2.last_zap_start, 0x5000);
	assert_int_equal(k2.last_zap_end, 0x5000 + 1024);
	assert_int_equal(m2d_gmem_fallocate(c->g, 3, 2 << 20, 2 << 20), 0);
	assert_int_equal(k2.nr_begin, 2);
	/* Unbound: no more callbacks, and the slot no longer resolves. */
	m2d_gmem_unbind(c->f, &c->slot_a);
	assert_int_equal(m2d_gmem_fallocate(c->g, 3, 0, 2 << 20), 0);
	assert_int_equal(c->k.nr_begin, 2);
	m2d_pfn_t pfn;
	assert_int_equal(m2d_gmem_get_pfn(c->f, &c->slot_a, m2d_gfn_from_u64(0), &pfn, NULL), -EFAULT);
	free(k2.map);
	ctx_free(c);
}

/* A page the RMP cannot make shared again (immutable) is leaked, as
 * snp_leak_pages: it never goes back to the allocator. */
static void test_gmem_leak_unreclaimable(void **state)
{
	struct ctx *c = ctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_GMEM_FOLIO_4K,
				M2D_GMEM_PUNCH_ALLOW, 4 << 20, 0);
	struct m2d_gmem_stats st;
	m2d_pfn_t pfn;

	assert_int_equal(m2d_gmem_bind(c->f, &c->slot_a, m2d_gfn_from_u64(0), 1024, 0), 0);
	assert_int_equal(m2d_gmem_get_pfn(c->f, &c->slot_a, m2d_gfn_from_u64(7), &pfn, NULL), 0);
	assert_int_equal(m2d_rmp_make_shared(c->rmp, pfn, M2D_LEVEL_4K), 0);
	assert_int_equal(m2d_rmp_make_private(c->rmp, pfn, 7 << 12, M2D_LEVEL_4K, ASID, true), 0);
	assert_int_equal(m2d_gmem_fallocate(c->g, 3, 7 << 12, 4096), 0);
	m2d_gmem_stats_get(c->g, &st);
	assert_int_equal(st.leaked_pages, 1);
	assert_int_equal(st.folios_4k, 0);
	assert_int_equal(c->pm.state[pfn.v], 1);  /* still allocated: leaked */
	assert_true(m2d_rmp_raw_is_assigned(c->rmp, pfn));
	ctx_destroy(c, false);
}

/* Concurrent first faults on one 2M range from four vCPUs (real engine,
 * real buddy allocator: allocation takes zone->lock and may yield): one 2M
 * folio, one prepare, one RMPUPDATE; the losers wait on the folio lock. */
struct cfault {
	struct ctx *c;
	uint64_t gfn;
	m2d_pfn_t pfn;
	int mo, ret;
};

static void cfault_thread(void *p)
{
	struct cfault *a = p;

	a->ret = m2d_gmem_get_pfn(a->c->f, &a->c->slot_a, m2d_gfn_from_u64(a->gfn), &a->pfn, &a->mo);
}

static void test_gmem_concurrent_first_faults(void **state)
{
	struct ctx *c;
	struct cfault a[4];
	struct m2d_lock_stats ls;

	use_host = true;
	c = ctx_new(M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_GMEM_FOLIO_2M, M2D_GMEM_PUNCH_ALLOW, 8 << 20, 0);
	use_host = false;
	assert_int_equal(m2d_gmem_bind(c->f, &c->slot_a, m2d_gfn_from_u64(0), 2048, 0), 0);
	m2d_engine_leave(c->sim);
	for (int i = 0; i < 4; i++) {
		a[i] = (struct cfault){ .c = c, .gfn = 512 + 100 * i };
		assert_int_equal(m2d_sim_spawn(c->sim, i, "vcpu", cfault_thread, &a[i]), 0);
	}
	assert_int_equal(m2d_sim_run(c->sim), 0);
	m2d_engine_enter(c->sim);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(a[i].ret, 0);
		assert_int_equal(a[i].mo, 9);
		assert_int_equal(a[i].pfn.v, a[0].pfn.v + 100 * i);
	}
	assert_int_equal(ctr(c, "gmem_folios_2m"), 1);
	assert_int_equal(ctr(c, "gmem_prepares"), 1);
	assert_int_equal(ctr(c, "rmpupdates"), 1);
	assert_int_equal(ctr(c, "gmem_pages_zeroed"), 512);
	assert_int_equal(m2d_sim_lock_stats(c->sim, "folio_lock", &ls), 0);
	assert_int_equal(ls.acquisitions, 4);
	ctx_free(c);
}

/* ---- the randomized state-machine test -------------------------------------- */

enum { REF_ABSENT = 0, REF_PRIVATE = 1 };

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

struct rsetup {
	enum m2d_rmp_directmap dm;
	enum m2d_gmem_folio folio;
	enum m2d_gmem_punch punch;
	bool host;               /* folios from lib/mm physmem */
};

#define RT_SIZE (4ull << 30)   /* 4 GiB file */
#define RT_PAGES (RT_SIZE >> 12)
#define RT_HALF (RT_PAGES / 2)
#define RT_GFN_A 0x100000ull   /* slot A: pages [0, half) */
#define RT_GFN_B 0x400000ull   /* slot B: pages [half, end), mapped at gfn 0x400000 */

static uint64_t gfn_of(uint64_t idx)
{
	return idx < RT_HALF ? RT_GFN_A + idx : RT_GFN_B + idx - RT_HALF;
}

static void check_invariants(struct ctx *c, const struct rsetup *s, const uint8_t *ref,
			     uint8_t *kmap_b)
{
	/* Every private page the reference knows of: present, prepared,
	 * assigned with its gpa and ASID; unprepared present pages are shared. */
	for (uint64_t idx = 0; idx < RT_PAGES; idx++) {
		bool present, prepared = m2d_gmem_is_prepared(c->g, idx);
		m2d_pfn_t pfn;
		unsigned order;
		uint64_t e, head;

		present = m2d_gmem_folio_lookup(c->g, idx, &pfn, &order);
		if (prepared != (ref[idx] == REF_PRIVATE))
			fail_msg("page %#llx: prepared %d, reference %d", (unsigned long long)idx,
				 prepared, ref[idx]);
		if (prepared && !present)
			fail_msg("page %#llx prepared but no folio", (unsigned long long)idx);
		if (!present)
			continue;
		if (!prepared) {
			if (m2d_rmp_raw_is_assigned(c->rmp, pfn))
				fail_msg("unprepared page %#llx is private", (unsigned long long)idx);
			continue;
		}
		head = m2d_rmp_raw(c->rmp, m2d_pfn_from_u64(pfn.v & ~511ull));
		e = (head & RMPE_PAGESIZE) ? head : m2d_rmp_raw(c->rmp, pfn);
		if (!(e & RMPE_ASSIGNED))
			fail_msg("private page %#llx not assigned", (unsigned long long)idx);
		if (((e & RMPE_ASID_MASK) >> RMPE_ASID_SHIFT) != ASID)
			fail_msg("page %#llx: wrong asid", (unsigned long long)idx);
		if ((e & RMPE_PAGESIZE) ?
			    ((e & RMPE_GPA_MASK) >> RMPE_GPA_SHIFT) != (gfn_of(idx) & ~511ull) :
			    ((e & RMPE_GPA_MASK) >> RMPE_GPA_SHIFT) != gfn_of(idx))
			fail_msg("page %#llx: wrong gpa", (unsigned long long)idx);
	}
	/* Every mapped private gfn has a matching RMP entry of size >= mapping. */
	for (uint64_t i = 0; i < RT_PAGES; i++) {
		uint8_t lvl = i < RT_HALF ? c->k.map[i] : kmap_b[i - RT_HALF];
		m2d_pfn_t pfn;
		unsigned order;

		if (!lvl)
			continue;
		if (ref[i] != REF_PRIVATE || !m2d_gmem_folio_lookup(c->g, i, &pfn, &order))
			fail_msg("mapped gfn of page %#llx is not private", (unsigned long long)i);
		if (m2d_rmp_raw_level(c->rmp, pfn) < lvl)
			fail_msg("page %#llx mapped at %d above its RMP level", (unsigned long long)i, lvl);
	}
	/* No free host page is assigned. */
	for (uint64_t p = 0; p < HOST_PFNS; p++)
		if (page_is_free(c, p) && m2d_rmp_raw_is_assigned(c->rmp, m2d_pfn_from_u64(p)))
			fail_msg("free pfn %#llx is assigned", (unsigned long long)p);
	/*
	 * Under (b) no 2M direct-map entry covers a mix of private and shared
	 * 4K pages.  (A 2M entry over a region that is private throughout,
	 * e.g. after the PSMASH of an RMP #NPF, is allowed: the kernel only
	 * splits on the RMPUPDATE that makes part of it shared.)
	 */
	if (s->dm == M2D_RMP_DIRECTMAP_SPLIT_ONLY)
		for (uint64_t r = 0; r < HOST_PFNS / 512; r++) {
			unsigned n = m2d_rmp_region_assigned(c->rmp, m2d_pfn_from_u64(r * 512));

			int level = c->dm.level2m[r];

			if (c->host)
				m2d_directmap_present(c->host, r * 512, &level);
			if (level >= M2D_LEVEL_2M && n && n != 512)
				fail_msg("2M direct-map entry %#llx covers %u private 4K pages",
					 (unsigned long long)r, n);
		}
}

static void run_random(const struct rsetup *s, uint64_t seed, unsigned nops)
{
	struct ctx *c;

	use_host = s->host;
	c = ctx_new(s->dm, s->folio, s->punch, RT_SIZE, RT_GFN_A);
	use_host = false;
	struct fkvm *k;
	uint8_t *ref = calloc(RT_PAGES, 1);
	uint8_t *kmap_b;
	struct m2d_gmem_stats st;

	k = &c->k;
	rng_state = seed;
	/* One fake-KVM map covers slot A's gfns; slot B's live in kmap_b
	 * (the fake unmaps by gfn, so keep two arrays and route by gfn). */
	free(k->map);
	k->nr_gfns = RT_GFN_B + RT_HALF - RT_GFN_A;
	k->map = calloc(k->nr_gfns, 1);
	kmap_b = k->map + (RT_GFN_B - RT_GFN_A);
	assert_int_equal(m2d_gmem_bind(c->f, &c->slot_a, m2d_gfn_from_u64(RT_GFN_A), RT_HALF, 0), 0);
	assert_int_equal(m2d_gmem_bind(c->f, &c->slot_b, m2d_gfn_from_u64(RT_GFN_B), RT_HALF,
				       (int64_t)(RT_HALF << 12)), 0);

	for (unsigned op = 0; op < nops; op++) {
		uint64_t kind = rnd_below(100);
		/* Work in a 256 MiB window so operations meet each other. */
		uint64_t win = rnd_below(RT_PAGES / 65536) * 65536;
		uint64_t idx = win + rnd_below(65536);
		void *slot = idx < RT_HALF ? (void *)&c->slot_a : (void *)&c->slot_b;

		if (kind < 45) {
			/* prepare / convert to private / refault a run of pages */
			uint64_t n = 1 + rnd_below(rnd_below(4) ? 8 : 1024);

			for (uint64_t i = idx; i < idx + n && i < RT_PAGES; i++) {
				void *sl = i < RT_HALF ? (void *)&c->slot_a : (void *)&c->slot_b;
				m2d_pfn_t pfn;
				int mo;

				assert_int_equal(m2d_gmem_get_pfn(c->f, sl, m2d_gfn_from_u64(gfn_of(i)), &pfn, &mo), 0);
				memset(ref + (i & ~((1ull << mo) - 1)), REF_PRIVATE, 1ull << mo);
				{
					int level = m2d_sev_gmem_max_mapping_level(&k->sev, pfn);

					level = M2D_MIN(m2d_gmem_max_level_for_order(mo), level);
					uint64_t mi = gfn_of(i) - RT_GFN_A;

					if (level == M2D_LEVEL_2M)
						memset(k->map + (mi & ~511ull), M2D_LEVEL_2M, 512);
					else
						k->map[mi] = M2D_LEVEL_4K;
				}
			}
		} else if (kind < 80) {
			/* convert to shared: discard the private backing (punch) */
			uint64_t n = 1 + rnd_below(rnd_below(2) ? 16 : 2048);
			uint64_t off = idx << 12, len = n << 12;
			int ret;

			if (s->punch == M2D_GMEM_PUNCH_NO_SUB_2M && rnd_below(2)) {
				off &= ~((2ull << 20) - 1);
				len = M2D_ALIGN_UP(len, 2ull << 20);
			}
			/* Reference: covered pages become absent, except in 2M
			 * folios a zero-only punch covers partially. */
			ret = 0;
			if (s->punch == M2D_GMEM_PUNCH_NO_SUB_2M &&
			    (off % (2 << 20) || len % (2 << 20)))
				ret = -EINVAL;
			for (uint64_t i = off >> 12; !ret && i < M2D_MIN((off + len) >> 12, RT_PAGES); i++) {
				m2d_pfn_t pfn;
				unsigned order;
				uint64_t h0 = i & ~511ull;

				if (s->punch == M2D_GMEM_PUNCH_ZERO_ONLY &&
				    m2d_gmem_folio_lookup(c->g, i, &pfn, &order) && order == 9 &&
				    (h0 < off >> 12 || h0 + 512 > (off + len) >> 12))
					continue;
				ref[i] = REF_ABSENT;
			}
			assert_int_equal(m2d_gmem_fallocate(c->g, 3, (int64_t)off, (int64_t)len), ret);
		} else if (kind < 88) {
			/* a big 2M-aligned punch */
			uint64_t h = idx & ~511ull, n = 512 * (1 + rnd_below(64));

			n = M2D_MIN(n, RT_PAGES - h);
			memset(ref + h, REF_ABSENT, n);
			assert_int_equal(m2d_gmem_fallocate(c->g, 3, (int64_t)(h << 12), (int64_t)(n << 12)), 0);
		} else if (kind < 96) {
			/* guest PVALIDATE(4K) on a mapped page: an RMP #NPF with
			 * SIZEM if its RMP entry is 2M -> PSMASH + zap 512 gfns */
			m2d_pfn_t pfn;
			unsigned order;
			uint64_t g = gfn_of(idx);

			if (ref[idx] != REF_PRIVATE || !m2d_gmem_folio_lookup(c->g, idx, &pfn, &order))
				continue;
			if (m2d_rmp_pvalidate(c->rmp, pfn, g << 12, M2D_LEVEL_4K, ASID, true) ==
			    M2D_PVALIDATE_NPF_RMP_SIZEM) {
				struct m2d_sev_rmp_fault out;

				assert_int_equal(m2d_sev_handle_rmp_fault(&k->sev, m2d_gfn_from_u64(g), pfn,
									  0, &out), 0);
				assert_true(out.zap);
				fk_unmap(k, out.zap_start.v, out.zap_end.v);
				assert_int_equal(m2d_rmp_pvalidate(c->rmp, pfn, g << 12, M2D_LEVEL_4K, ASID, true),
						 M2D_PVALIDATE_OK);
			}
		} else {
			/* preallocate a range (no prepare) */
			uint64_t n = 1 + rnd_below(1024);

			n = M2D_MIN(n, RT_PAGES - idx);
			assert_int_equal(m2d_gmem_fallocate(c->g, M2D_GMEM_FALLOC_KEEP_SIZE,
							    (int64_t)(idx << 12), (int64_t)(n << 12)), 0);
		}
		(void)slot;
		if (op % 400 == 399)
			check_invariants(c, s, ref, kmap_b);
	}
	check_invariants(c, s, ref, kmap_b);
	m2d_gmem_stats_get(c->g, &st);
	print_message("  dm=%d folio=%d punch=%d host=%d: %llu 2M + %llu 4K folios, private %llu MiB "
		      "(%llu MiB mappable at 2M), %llu splits, psmash %llu, directmap splits %llu\n",
		      s->dm, s->folio, s->punch, s->host, (unsigned long long)st.folios_2m,
		      (unsigned long long)st.folios_4k, (unsigned long long)(st.private_bytes >> 20),
		      (unsigned long long)(st.private_2m_bytes >> 20), (unsigned long long)st.splits,
		      (unsigned long long)ctr(c, "psmash"), (unsigned long long)ctr(c, "directmap_splits"));
	free(ref);
	ctx_free(c);
}

static void test_gmem_random_state_machine(void **state)
{
	static const struct rsetup setups[] = {
		{ M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_GMEM_FOLIO_2M, M2D_GMEM_PUNCH_ALLOW, false },
		{ M2D_RMP_DIRECTMAP_INVALIDATE, M2D_GMEM_FOLIO_2M, M2D_GMEM_PUNCH_ALLOW, false },
		{ M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_GMEM_FOLIO_4K, M2D_GMEM_PUNCH_ALLOW, false },
		{ M2D_RMP_DIRECTMAP_NR_PAGES, M2D_GMEM_FOLIO_2M, M2D_GMEM_PUNCH_NO_SUB_2M, false },
		{ M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_GMEM_FOLIO_2M, M2D_GMEM_PUNCH_ZERO_ONLY, false },
		{ M2D_RMP_DIRECTMAP_SPLIT_ONLY, M2D_GMEM_FOLIO_2M, M2D_GMEM_PUNCH_ALLOW, true },
		{ M2D_RMP_DIRECTMAP_INVALIDATE, M2D_GMEM_FOLIO_2M, M2D_GMEM_PUNCH_ALLOW, true },
	};
	const char *env = getenv("M2D_TEST_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : 0x5eed2026ull;

	print_message("gmem random state machine: seed %#llx (M2D_TEST_SEED to replay)\n",
		      (unsigned long long)seed);
	for (unsigned i = 0; i < M2D_ARRAY_SIZE(setups); i++)
		run_random(&setups[i], seed + i, 4000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gmem_first_2m_fault_counts),
		cmocka_unit_test(test_gmem_4k_folios),
		cmocka_unit_test(test_gmem_2m_fallback),
		cmocka_unit_test(test_gmem_punch_allow_splits),
		cmocka_unit_test(test_gmem_punch_whole_2m),
		cmocka_unit_test(test_gmem_punch_zero_only),
		cmocka_unit_test(test_gmem_fallocate_preallocates),
		cmocka_unit_test(test_gmem_bad_input),
		cmocka_unit_test(test_gmem_two_views_release),
		cmocka_unit_test(test_gmem_concurrent_first_faults),
		cmocka_unit_test(test_gmem_leak_unreclaimable),
		cmocka_unit_test(test_gmem_random_state_machine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
