// SPDX-License-Identifier: MIT
/*
 * lib/coco/sev.c - KVM's SEV-SNP hooks for guest_memfd private memory.
 *
 * Source: arch/x86/kvm/svm/sev.c (sev_gmem_prepare, is_large_rmp_possible,
 * is_pfn_range_shared, sev_gmem_invalidate, sev_gmem_max_mapping_level,
 * sev_handle_rmp_fault, snp_rmptable_psmash).  MECHANISMS.md 2.3.
 */
#include <errno.h>

#include "core/kernel.h"
#include "coco/sev.h"

#define PTRS_PER_PMD 512u

/* snp_rmptable_psmash() */
int m2d_snp_rmptable_psmash(struct m2d_rmp *rmp, m2d_pfn_t pfn)
{
	return m2d_psmash(rmp, m2d_pfn_from_u64(pfn.v & ~(uint64_t)(PTRS_PER_PMD - 1)));
}

/*
 * is_pfn_range_shared(): one snp_lookup_rmpentry per 4K pfn until an
 * assigned one is found (the scan charges exactly those lookups).
 */
static bool is_pfn_range_shared(struct m2d_rmp *rmp, uint64_t start, uint64_t end)
{
	return m2d_snp_lookup_rmpentry_scan(rmp, m2d_pfn_from_u64(start), end - start) == end;
}

/* max_level_for_order() */
static int max_level_for_order(int order)
{
	return order >= 9 ? M2D_LEVEL_2M : M2D_LEVEL_4K;
}

/* is_large_rmp_possible() */
static bool is_large_rmp_possible(struct m2d_rmp *rmp, uint64_t pfn, int order)
{
	uint64_t pfn_aligned = pfn & ~(uint64_t)(PTRS_PER_PMD - 1);

	return max_level_for_order(order) > M2D_LEVEL_4K &&
	       is_pfn_range_shared(rmp, pfn_aligned, pfn_aligned + PTRS_PER_PMD);
}

/* sev_gmem_prepare() */
int m2d_sev_gmem_prepare(struct m2d_sev_vm *sev, m2d_pfn_t pfn, m2d_gfn_t gfn, int max_order)
{
	uint64_t pfn_aligned, gfn_aligned;
	bool assigned;
	int level;

	if (!sev->snp)
		return 0;
	if (m2d_snp_lookup_rmpentry(sev->rmp, pfn, &assigned, &level))
		return -ENOENT;
	if (assigned)
		return 0;

	if (is_large_rmp_possible(sev->rmp, pfn.v, max_order)) {
		level = M2D_LEVEL_2M;
		pfn_aligned = pfn.v & ~(uint64_t)(PTRS_PER_PMD - 1);
		gfn_aligned = gfn.v & ~(uint64_t)(PTRS_PER_PMD - 1);
	} else {
		level = M2D_LEVEL_4K;
		pfn_aligned = pfn.v;
		gfn_aligned = gfn.v;
	}
	if (m2d_rmp_make_private(sev->rmp, m2d_pfn_from_u64(pfn_aligned),
				 gfn_aligned << M2D_PAGE_SHIFT, level, sev->asid, false))
		return -EINVAL;
	return 0;
}

/* sev_gmem_invalidate() */
uint64_t m2d_sev_gmem_invalidate(struct m2d_rmp *rmp, m2d_pfn_t start, m2d_pfn_t end)
{
	uint64_t pfn = start.v, leaked = 0;

	while (pfn < end.v) {
		bool use_2m_update = false;
		bool assigned;
		int rmp_level;

		if (m2d_snp_lookup_rmpentry(rmp, m2d_pfn_from_u64(pfn), &assigned, &rmp_level))
			goto next_pfn;
		if (!assigned)
			goto next_pfn;

		use_2m_update = M2D_IS_ALIGNED(pfn, PTRS_PER_PMD) && end.v >= pfn + PTRS_PER_PMD &&
				rmp_level > M2D_LEVEL_4K;
		/*
		 * An unaligned pfn in a 2M RMP entry: PSMASH into 4K entries
		 * before converting the 4K sub-page.
		 */
		if (!use_2m_update && rmp_level > M2D_LEVEL_4K)
			m2d_snp_rmptable_psmash(rmp, m2d_pfn_from_u64(pfn));

		if (m2d_rmp_make_shared(rmp, m2d_pfn_from_u64(pfn),
					use_2m_update ? M2D_LEVEL_2M : M2D_LEVEL_4K)) {
			/* snp_leak_pages(): the page stays assigned and is never
			 * given back to the host. */
			M2D_WARN_ON_ONCE(1);
			leaked += use_2m_update ? PTRS_PER_PMD : 1;
			goto next_pfn;
		}
		/* clflush_cache_range(__va(pfn), PMD_SIZE or PAGE_SIZE) */
		m2d_delay(M2D_COST_CLFLUSH, (use_2m_update ? M2D_PMD_SIZE : M2D_PAGE_SIZE) / M2D_SZ_1K);
next_pfn:
		pfn += use_2m_update ? PTRS_PER_PMD : 1;
		cond_resched();
	}
	return leaked;
}

/* sev_gmem_max_mapping_level() */
int m2d_sev_gmem_max_mapping_level(struct m2d_sev_vm *sev, m2d_pfn_t pfn)
{
	bool assigned;
	int level;

	if (!sev->snp)
		return 0;
	if (m2d_snp_lookup_rmpentry(sev->rmp, pfn, &assigned, &level) || !assigned)
		return M2D_LEVEL_4K;
	return level;
}

/* sev_handle_rmp_fault(), from after kvm_gmem_get_pfn(). */
int m2d_sev_handle_rmp_fault(struct m2d_sev_vm *sev, m2d_gfn_t gfn, m2d_pfn_t pfn,
			     uint64_t error_code, struct m2d_sev_rmp_fault *out)
{
	bool assigned;
	int ret;

	out->psmashed = false;
	out->zap = false;
	out->rmp_level = M2D_LEVEL_NONE;
	ret = m2d_snp_lookup_rmpentry(sev->rmp, pfn, &assigned, &out->rmp_level);
	if (ret)
		return ret;
	if (!assigned)
		return 0;
	/*
	 * Both causes (PVALIDATE/RMPADJUST at a smaller size than the 2M
	 * entry; an NPT mapping smaller than it) need a PSMASH.  Already 4K:
	 * a spurious fault racing with another PSMASH; ignore it.
	 */
	if (out->rmp_level == M2D_LEVEL_4K)
		return 0;
	ret = m2d_snp_rmptable_psmash(sev->rmp, pfn);
	if (!ret) {
		out->psmashed = true;
		m2d_count(M2D_CTR_rmp_npf_psmash, 1);
	} else if (!m2d_snp_lookup_rmpentry(sev->rmp, pfn, &assigned, &out->rmp_level) &&
		   assigned && out->rmp_level == M2D_LEVEL_4K) {
		return 0;
	}
	out->zap = true;
	out->zap_start = gfn;
	out->zap_end = m2d_gfn_from_u64(gfn.v + PTRS_PER_PMD);
	return 0;
}
