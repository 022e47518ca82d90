// SPDX-License-Identifier: MIT
/*
 * lib/mm/khugepaged.c - MADV_COLLAPSE of anonymous memory into THPs
 * (mm/khugepaged.c: madvise_collapse -> hpage_collapse_scan_pmd ->
 * collapse_huge_page).
 *
 * For each 2M-aligned region inside the VMA whose PMD points to a PTE
 * table: drop mmap_lock, allocate the 2M folio (alloc_charge_folio), take
 * mmap_write_lock and revalidate the VMA, then under one MMU_NOTIFY_CLEAR
 * pair over the 2M: clear the PMD (pmdp_collapse_flush), copy every
 * present 4K page into the new folio (copy_mc_user_highpage) and clear the
 * rest, release the old pages (rmap, free), install the huge PMD and its
 * rmap.  MADV_COLLAPSE ignores the sysfs THP settings and khugepaged's
 * max_ptes_* limits; VM_NOHUGEPAGE VMAs are not eligible.
 *
 * Model simplifications: the old PTE table is freed rather than deposited
 * (pgtable_trans_huge_deposit keeps it for a later split on x86); the
 * region is collapsed with mmap_lock held for write throughout the copy, as
 * the kernel does, but the scan is not modelled separately.
 */
#include "mm/mm_types.h"

#include <errno.h>

/*
 * __collapse_huge_page_copy(): copy each present page of the unlinked
 * table (snapshot @old) into the new folio, clear the rest, release the
 * old pages (rmap, free).  Return: pages copied.
 */
static uint64_t collapse_copy_release(struct m2d_mm *mm, struct m2d_vma *vma,
				      const uint64_t *old)
{
	uint64_t present = 0;

	for (unsigned i = 0; i < M2D_PT_ENTRIES; i++) {
		struct m2d_folio *folio;
		uint64_t pfn;

		m2d_delay(M2D_COST_MM_PTE_VISIT, 1);
		if (pte_none(old[i])) {
			mm_clear_pages(M2D_PAGE_SIZE); /* clear_user_highpage */
			continue;
		}
		m2d_delay(M2D_COST_MM_COPY_PAGE, M2D_PAGE_SIZE / M2D_SZ_1K);
		m2d_delay(M2D_COST_MM_PTE_UPDATE, 1);
		mm->stats.ptes_zapped++;
		mm->stats.rss_anon -= M2D_PAGE_SIZE;
		present++;
		pfn = m2d_pte_pfn(mm->fmt, old[i], M2D_LEVEL_4K);
		folio = m2d_pfn_folio(mm->host, pfn);
		if (M2D_WARN_ON_ONCE(!folio))
			continue;
		mm_rmap_remove(mm, vma, folio, pfn - folio_pfn(folio), M2D_LEVEL_4K);
		if (m2d_folio_mapcount(folio) == 0)
			m2d_folio_put(mm->host, folio);
	}
	return present;
}

/*
 * collapse_huge_page() for the region at @haddr.  Context: mmap_write_lock
 * held on entry and on return (dropped around the allocation).
 * Return: 0 (collapsed, or nothing to do), -EAGAIN (the VMA changed while
 * the lock was dropped), -ENOMEM (no 2M folio: the kernel's SCAN_ALLOC_HUGE_PAGE_FAIL).
 */
static int collapse_huge_page(struct m2d_mm *mm, uint64_t haddr)
{
	struct m2d_mmu_notifier_range range = {
		.mm = mm, .start = haddr, .end = haddr + M2D_PMD_SIZE,
		.event = M2D_MMU_NOTIFY_CLEAR, .may_block = true,
	};
	struct m2d_spinlock *ptl = mm_ptl(mm, haddr, M2D_LEVEL_2M);
	struct m2d_folio *folio;
	uint64_t old[M2D_PT_ENTRIES]; /* the PTEs, read before the table is unlinked */
	struct m2d_vma *vma;
	uint64_t *pmdp, *pte;
	int leaf, ret;

	mmap_write_unlock(mm);
	ret = m2d_folio_alloc(mm->host, M2D_PMD_ORDER, mm->cfg.node, 0, &folio);
	mmap_write_lock(mm);
	if (ret)
		return -ENOMEM;
	/* hugepage_vma_revalidate() */
	vma = m2d_vma_lookup(mm, haddr);
	pmdp = mm_entry(mm, haddr, M2D_LEVEL_2M, false, &leaf);
	if (!vma || !vma_is_anonymous(vma) || (vma->vm_flags & VM_NOHUGEPAGE) ||
	    haddr < vma->vm_start || haddr + M2D_PMD_SIZE > vma->vm_end) {
		m2d_folio_put(mm->host, folio);
		return -EAGAIN; /* the VMA changed while mmap_lock was dropped */
	}
	if (!pmdp || pte_none(READ_ONCE(*pmdp)) ||
	    m2d_pte_is_leaf(mm->fmt, READ_ONCE(*pmdp), M2D_LEVEL_2M)) {
		m2d_folio_put(mm->host, folio);
		return 0; /* unmapped or already huge meanwhile */
	}

	m2d_mmu_notifier_invalidate_range_start(&range);
	/*
	 * pmdp_collapse_flush(): unlink the PTE table (freed after a grace
	 * period; lockless walkers such as GUP fast no longer reach it), flush.
	 */
	spin_lock(ptl);
	pte = m2d_pte_table(mm->fmt, READ_ONCE(*pmdp));
	for (unsigned i = 0; i < M2D_PT_ENTRIES; i++)
		old[i] = READ_ONCE(pte[i]);
	m2d_pt_set_pte(mm->pgd, pmdp, haddr, M2D_LEVEL_2M, 0);
	spin_unlock(ptl);
	m2d_delay(M2D_COST_MM_PT_FREE, 1);
	mm->stats.tables_freed++;
	mm_flush_tlb_range(mm, haddr, haddr + M2D_PMD_SIZE);
	m2d_mmu_notifier_invalidate_range_end(&range);

	collapse_copy_release(mm, vma, old);
	spin_lock(ptl);
	ret = mm_install_leaf(mm, vma, pmdp, haddr, M2D_LEVEL_2M, folio_pfn(folio), folio, true);
	spin_unlock(ptl);
	if (ret) {
		m2d_folio_put(mm->host, folio);
		return ret;
	}
	mm->stats.collapses++;
	return 0;
}

/**
 * madvise_collapse() - MADV_COLLAPSE on [@start, @end) of anonymous @vma.
 * Context: mmap_write_lock held (dropped and retaken per region).
 * Return: 0, -EINVAL (VM_NOHUGEPAGE), -ENOMEM / -EAGAIN (a region could not
 * be collapsed; the others are).
 */
int madvise_collapse(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t start, uint64_t end)
{
	uint64_t hstart = M2D_ALIGN_UP(start, M2D_PMD_SIZE);
	uint64_t hend = end & ~(M2D_PMD_SIZE - 1);
	int ret = 0;

	mmap_assert_write_locked(mm);
	if (!vma_is_anonymous(vma) || (vma->vm_flags & VM_NOHUGEPAGE))
		return -EINVAL;
	for (uint64_t haddr = hstart; haddr < hend; haddr += M2D_PMD_SIZE) {
		int leaf, r;
		uint64_t *pmdp = mm_entry(mm, haddr, M2D_LEVEL_2M, false, &leaf);

		/* hpage_collapse_scan_pmd(): only a PMD pointing to a PTE table */
		if (!pmdp || pte_none(READ_ONCE(*pmdp)) ||
		    m2d_pte_is_leaf(mm->fmt, READ_ONCE(*pmdp), M2D_LEVEL_2M))
			continue;
		r = collapse_huge_page(mm, haddr);
		if (r && !ret)
			ret = r;
		cond_resched();
	}
	return ret;
}
