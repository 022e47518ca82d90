// SPDX-License-Identifier: MIT
/*
 * lib/mm/directmap.c - the kernel direct map and change_page_attr (CPA).
 *
 * Mirrors arch/x86/mm/pat/set_memory.c (MECHANISMS.md 1, 9).  The direct
 * map is an x86-64 4-level page table (mmu2d/pt.h) with real 1G/2M/4K
 * entries, built at boot like init_memory_mapping(): each node's range is
 * cut into 2M-aligned head, 1G body and 2M tail (split_mem_range()), limited
 * by the host's directmap_max_level.  The table maps the direct map with
 * PAGE_OFFSET subtracted (table address = pfn << 12): the PML4 slot differs
 * from the kernel's, every entry below it is the kernel's, bit for bit.
 *
 * Locks (global in the kernel, per host here):
 *   cpa_lock  taken around each __change_page_attr() step (policy "global";
 *             never taken with policy "none", as under debug_pagealloc),
 *             dropped around the table-page allocation of a split;
 *   pgd_lock  inside cpa_lock, around the keep/split decision, the split
 *             itself and the collapse; flush_tlb_all() runs under both.
 *
 * Ordering guarantees: a split is published with one store of the table
 * entry (after the 512 children were written into the private table page),
 * followed by flush_tlb_all() before anyone may change attributes inside
 * it.  Every entry change goes through m2d_pt_set_pte().
 *
 * Progress guarantees: __change_page_attr() repeats after each split; a
 * split lost to a racing CPU (re-lookup finds another entry) frees its page
 * and repeats, so each iteration either consumes pages or lowers the level.
 *
 * Counts: direct_pages_count[] holds entries per level, as the kernel's
 * (DirectMap4k/2M/1G of /proc/meminfo); split/collapse vm events are only
 * counted once the system runs (boot-time pre-splitting is not an event).
 */
#include <errno.h>
#include <string.h>

#include <mmu2d/pt.h>

#include "core/alloc.h"
#include "mm/directmap.h"

/* arch/x86/include/asm/pgtable_types.h */
#define _PAGE_PRESENT (1ull << 0)
#define _PAGE_RW (1ull << 1)
#define _PAGE_USER (1ull << 2)
#define _PAGE_PSE (1ull << 7)
#define _PAGE_GLOBAL (1ull << 8)
#define _PAGE_KERNEL_4K (1ull << 11) /* _PAGE_BIT_SOFTW3: pinned to 4K by set_memory_4k */
#define _PAGE_NX (1ull << 63)
#define PTE_PFN_MASK 0x000ffffffffff000ull
#define PTRS_PER_PTE 512u

#define CPA_FLUSHTLB 1
#define CPA_NO_CHECK_ALIAS 8

/* x86 tlb_single_page_flush_ceiling (arch/x86/mm/tlb.c). */
#define TLB_SINGLE_PAGE_FLUSH_CEILING 33

struct m2d_directmap {
	struct m2d_pt *pt;
	spinlock_t cpa_lock;
	spinlock_t pgd_lock;
	uint64_t direct_pages_count[M2D_LEVEL_NR]; /* entries per level */
	uint64_t splits[M2D_LEVEL_NR];             /* DIRECT_MAP_LEVEL{2,3}_SPLIT */
	uint64_t collapses[M2D_LEVEL_NR];          /* DIRECT_MAP_LEVEL{2,3}_COLLAPSE */
	uint64_t max_pfn_mapped;
	bool system_running;                       /* system_state == SYSTEM_RUNNING */
	enum m2d_cpa_lock_policy cpa_lock_policy;
	bool restore_2m;
};

/* struct cpa_data: the per-request context. */
struct cpa_data {
	uint64_t vaddr;       /* start (table address) */
	uint64_t mask_set;
	uint64_t mask_clr;
	uint64_t numpages;
	uint64_t curpage;
	uint64_t pfn;
	unsigned flags;
	bool force_split;
	bool collapse;        /* CPA_COLLAPSE (restore-2m policy) */
};

static inline uint64_t pfn_mask(int level)
{
	return PTE_PFN_MASK & ~(m2d_level_size(level) - 1);
}

static inline uint64_t pte_flags(uint64_t pte, int level)
{
	return pte & ~pfn_mask(level);
}

static inline uint64_t pte_pfn(uint64_t pte, int level)
{
	return (pte & pfn_mask(level)) >> M2D_PAGE_SHIFT;
}

static inline uint64_t pfn_pte(uint64_t pfn, uint64_t prot)
{
	return ((pfn << M2D_PAGE_SHIFT) & PTE_PFN_MASK) | prot;
}

/* pgprot_clear_protnone_bits(): _PAGE_GLOBAL means PROTNONE when !present. */
static inline uint64_t pgprot_clear_protnone_bits(uint64_t prot)
{
	return prot & _PAGE_PRESENT ? prot : prot & ~_PAGE_GLOBAL;
}

static inline struct m2d_directmap *dm_of(struct m2d_host *host)
{
	return host->directmap;
}

/* spin_lock(&cpa_lock) unless the policy removed it (the RFC / debug_pagealloc). */
static void cpa_lock_acquire(struct m2d_directmap *dm)
{
	if (dm->cpa_lock_policy == M2D_CPA_LOCK_NONE)
		return;
	spin_lock(&dm->cpa_lock);
	m2d_count(M2D_CTR_cpa_lock_acquisitions, 1);
}

static void cpa_lock_release(struct m2d_directmap *dm)
{
	if (dm->cpa_lock_policy == M2D_CPA_LOCK_NONE)
		return;
	spin_unlock(&dm->cpa_lock);
}

static void pgd_lock_acquire(struct m2d_directmap *dm)
{
	spin_lock(&dm->pgd_lock);
	m2d_count(M2D_CTR_pgd_lock_acquisitions, 1);
}

/*
 * lookup_address_in_pgd(): the entry mapping @address, at its level: a
 * leaf, a non-present large entry, or a 4K PTE.  NULL when a table on the
 * way is missing (a hole).
 */
static uint64_t *lookup_address(struct m2d_directmap *dm, uint64_t address, int *level)
{
	struct m2d_pt_walk w;

	m2d_delay(M2D_COST_CPA_LOOKUP, 1);
	m2d_pt_walk(dm->pt, address, &w);
	*level = w.level;
	if (!w.ptep || (!w.pte && w.level > M2D_LEVEL_4K))
		return NULL;
	return w.ptep;
}

/* split_page_count() */
static void split_page_count(struct m2d_directmap *dm, int level)
{
	if (dm->direct_pages_count[level] == 0)
		return;
	dm->direct_pages_count[level]--;
	if (dm->system_running) {
		dm->splits[level]++;
		m2d_count(level == M2D_LEVEL_2M ? M2D_CTR_directmap_splits_2m
						: M2D_CTR_directmap_splits_1g, 1);
		m2d_count(M2D_CTR_directmap_splits, 1);
	}
	dm->direct_pages_count[level - 1] += PTRS_PER_PTE;
}

/* collapse_page_count() (the 2025 ROX collapse series). */
static void collapse_page_count(struct m2d_directmap *dm, int level)
{
	dm->direct_pages_count[level]++;
	if (dm->system_running) {
		dm->collapses[level]++;
		m2d_count(M2D_CTR_directmap_collapses, 1);
	}
	dm->direct_pages_count[level - 1] -= PTRS_PER_PTE;
}

/*
 * __should_split_large_page(): under pgd_lock.  Return 1 to split, 0 when
 * the large page is kept (same protection) or rewritten in place (full
 * aligned coverage, "preserved").
 */
static int __should_split_large_page(struct m2d_directmap *dm, uint64_t *kpte,
				     uint64_t address, struct cpa_data *cpa)
{
	uint64_t numpages, psize, lpaddr, old_pte, old_prot, req_prot, old_pfn;
	uint64_t *tmp;
	int level;

	/* Check for races, another CPU might have split this page up already. */
	tmp = lookup_address(dm, address, &level);
	if (tmp != kpte)
		return 1;
	if (level != M2D_LEVEL_2M && level != M2D_LEVEL_1G)
		return -EINVAL;
	old_pte = *kpte;
	old_prot = pte_flags(old_pte, level);
	old_pfn = pte_pfn(old_pte, level);

	psize = m2d_level_size(level);
	/* The number of pages which fit into this large page starting at address. */
	lpaddr = (address + psize) & ~(psize - 1);
	numpages = (lpaddr - address) >> M2D_PAGE_SHIFT;
	if (numpages < cpa->numpages)
		cpa->numpages = numpages;

	/* pgprot_large_2_4k, apply the masks, back to large format. */
	req_prot = old_prot & ~_PAGE_PSE;
	req_prot &= ~cpa->mask_clr;
	req_prot |= cpa->mask_set;
	req_prot = pgprot_clear_protnone_bits(req_prot);
	if (req_prot & _PAGE_PRESENT)
		req_prot |= _PAGE_PSE;

	cpa->pfn = old_pfn + ((address & (psize - 1)) >> M2D_PAGE_SHIFT);
	lpaddr = address & ~(psize - 1);
	numpages = psize >> M2D_PAGE_SHIFT;

	/* Same protection: keep the large page, independent of the range. */
	if (req_prot == old_prot) {
		m2d_count(M2D_CTR_cpa_large_sameprot, 1);
		return 0;
	}
	/* The requested range does not cover the full page: split it up. */
	if (address != lpaddr || cpa->numpages != numpages)
		return 1;
	/*
	 * static_protections()/verify_rwx() find no conflict for direct-map RAM
	 * outside the kernel image.  All checks passed: update the large page.
	 */
	m2d_pt_set_pte(dm->pt, kpte, address, level, pfn_pte(old_pfn, req_prot));
	m2d_delay(M2D_COST_CPA_PTE_WRITE, 1);
	cpa->flags |= CPA_FLUSHTLB;
	m2d_count(M2D_CTR_cpa_large_preserved, 1);
	return 0;
}

/* should_split_large_page() */
static int should_split_large_page(struct m2d_directmap *dm, uint64_t *kpte, uint64_t address,
				   struct cpa_data *cpa)
{
	int do_split;

	if (cpa->force_split)
		return 1;
	pgd_lock_acquire(dm);
	do_split = __should_split_large_page(dm, kpte, address, cpa);
	spin_unlock(&dm->pgd_lock);
	return do_split;
}

/*
 * __split_large_page(): fill @base from the large entry, install it, flush.
 * Return: 0, or 1 if another CPU split the entry first (@base not used).
 */
static int __split_large_page(struct m2d_directmap *dm, uint64_t *kpte, uint64_t address,
			      uint64_t *base)
{
	uint64_t ref_prot, ref_pfn, pfninc = 1, old_pte;
	uint64_t *tmp;
	int level;

	pgd_lock_acquire(dm);
	/* Check for races, another CPU might have split this page up for us already. */
	tmp = lookup_address(dm, address, &level);
	if (tmp != kpte) {
		spin_unlock(&dm->pgd_lock);
		return 1;
	}
	old_pte = *kpte;
	switch (level) {
	case M2D_LEVEL_2M:
		/* Clear PSE (aka _PAGE_PAT) and move PAT bit to correct position. */
		ref_prot = pte_flags(old_pte, level) & ~_PAGE_PSE;
		ref_pfn = pte_pfn(old_pte, level);
		break;
	case M2D_LEVEL_1G:
		ref_prot = pte_flags(old_pte, level);
		ref_pfn = pte_pfn(old_pte, level);
		pfninc = M2D_PMD_SIZE >> M2D_PAGE_SHIFT;
		/* Clear PSE if !PRESENT, or pmd_present() would report a huge pmd. */
		if (!(ref_prot & _PAGE_PRESENT))
			ref_prot &= ~_PAGE_PSE;
		break;
	default:
		spin_unlock(&dm->pgd_lock);
		return 1;
	}
	ref_prot = pgprot_clear_protnone_bits(ref_prot);

	/* Get the target pfn from the original entry (split_set_pte()). */
	for (unsigned i = 0; i < PTRS_PER_PTE; i++)
		base[i] = pfn_pte(ref_pfn + i * pfninc, ref_prot);
	m2d_delay(M2D_COST_CPA_SPLIT_ENTRY, PTRS_PER_PTE);

	split_page_count(dm, level);

	/* Install the new, split up pagetable (_KERNPG_TABLE). */
	m2d_pt_set_pte(dm->pt, kpte, address, level,
		       m2d_pte_make_table(M2D_PT_X86_64, base) & ~_PAGE_USER);
	m2d_delay(M2D_COST_CPA_PTE_WRITE, 1);

	/*
	 * A global flush after splitting and before the actual change, inside
	 * cpa_lock, so no CPU with stale TLB entries changes attributes in
	 * the just split large page in parallel.
	 */
	flush_tlb_all();
	spin_unlock(&dm->pgd_lock);
	return 0;
}

/* split_large_page(): cpa_lock is dropped around the page allocation. */
static int split_large_page(struct m2d_directmap *dm, uint64_t *kpte, int level,
			    uint64_t address)
{
	uint64_t *base;

	cpa_lock_release(dm);
	m2d_delay(M2D_COST_CPA_TABLE_ALLOC, 1);
	base = m2d_pt_alloc_table(dm->pt, level - 1);
	cpa_lock_acquire(dm);
	if (!base)
		return -ENOMEM;
	m2d_count(M2D_CTR_directmap_table_allocs, 1);
	if (__split_large_page(dm, kpte, address, base))
		m2d_pt_free_table(dm->pt, base);
	return 0;
}

/*
 * __cpa_process_fault(): no entry.  Holes inside the direct map are
 * expected: consume one page.
 */
static int __cpa_process_fault(struct m2d_directmap *dm, struct cpa_data *cpa,
			       uint64_t address)
{
	if (address < (dm->max_pfn_mapped << M2D_PAGE_SHIFT)) {
		cpa->numpages = 1;
		cpa->pfn = address >> M2D_PAGE_SHIFT;
		return 0;
	}
	return -EFAULT;
}

/* __change_page_attr(): one step at cpa->vaddr + curpage. */
static int __change_page_attr(struct m2d_directmap *dm, struct cpa_data *cpa)
{
	uint64_t address = cpa->vaddr + (cpa->curpage << M2D_PAGE_SHIFT);
	uint64_t *kpte, old_pte;
	int do_split, err, level;

repeat:
	kpte = lookup_address(dm, address, &level);
	if (!kpte)
		return __cpa_process_fault(dm, cpa, address);
	old_pte = *kpte;
	if (!old_pte)
		return __cpa_process_fault(dm, cpa, address);

	if (level == M2D_LEVEL_4K) {
		uint64_t new_prot = pte_flags(old_pte, level);
		uint64_t pfn = pte_pfn(old_pte, level);
		uint64_t new_pte;

		new_prot &= ~cpa->mask_clr;
		new_prot |= cpa->mask_set;
		m2d_count(M2D_CTR_cpa_4k_set, 1); /* cpa_inc_4k_install() */
		new_prot = pgprot_clear_protnone_bits(new_prot);
		/* Keep the pfn: only the attributes change. */
		new_pte = pfn_pte(pfn, new_prot);
		cpa->pfn = pfn;
		if (old_pte != new_pte) {
			m2d_pt_set_pte(dm->pt, kpte, address, level, new_pte);
			m2d_delay(M2D_COST_CPA_PTE_WRITE, 1);
			cpa->flags |= CPA_FLUSHTLB;
		}
		cpa->numpages = 1;
		return 0;
	}

	/* Check whether we can keep the large page intact and just change the pte. */
	do_split = should_split_large_page(dm, kpte, address, cpa);
	if (do_split <= 0)
		return do_split;
	err = split_large_page(dm, kpte, level, address);
	if (!err)
		goto repeat;
	return err;
}

/* __change_page_attr_set_clr(): one cpa_lock round trip per step. */
static int __change_page_attr_set_clr(struct m2d_directmap *dm, struct cpa_data *cpa)
{
	uint64_t numpages = cpa->numpages, rempages = numpages;
	int ret = 0;

	/* No changes, easy! */
	if (!(cpa->mask_set | cpa->mask_clr) && !cpa->force_split)
		return 0;
	m2d_count(M2D_CTR_cpa_requests, 1);
	m2d_delay(M2D_COST_CPA_CALL, 1);
	while (rempages) {
		/* The remaining pages, for the large page preservation check. */
		cpa->numpages = rempages;
		cpa_lock_acquire(dm);
		ret = __change_page_attr(dm, cpa);
		cpa_lock_release(dm);
		if (ret)
			break;
		/* Direct-map addresses only: cpa_process_alias() has nothing to do. */
		M2D_BUG_ON(cpa->numpages > rempages || !cpa->numpages);
		rempages -= cpa->numpages;
		cpa->curpage += cpa->numpages;
	}
	cpa->numpages = numpages;
	return ret;
}

/* The entry at @level for @address (pud_offset/pmd_offset chain); NULL if a
 * leaf or hole sits above @level. */
static uint64_t *entry_at(struct m2d_directmap *dm, uint64_t address, int level)
{
	uint64_t *table = m2d_pt_root(dm->pt);

	for (int l = m2d_pt_root_level(dm->pt); l > level; l--) {
		uint64_t e = table[(address >> (M2D_PAGE_SHIFT + 9 * (l - 1))) & 511];

		if (!m2d_pte_is_present(M2D_PT_X86_64, e) || m2d_pte_is_leaf(M2D_PT_X86_64, e, l))
			return NULL;
		table = m2d_pte_table(M2D_PT_X86_64, e);
	}
	return &table[(address >> (M2D_PAGE_SHIFT + 9 * (level - 1))) & 511];
}

/*
 * collapse_pmd_page() / collapse_pud_page() (2025 "restore large ROX
 * pages"): replace the table under the @level entry of @addr by one large
 * entry if its 512 entries are present leaves with identical flags,
 * consecutive pfns, a first pfn aligned to @level, and no _PAGE_KERNEL_4K.
 * Under pgd_lock.  The table page is freed after the flush (RCU here).
 * Return: 1 if collapsed, else 0.
 */
static int collapse_page(struct m2d_directmap *dm, uint64_t addr, int level)
{
	uint64_t lsize = m2d_level_size(level), base_addr = addr & ~(lsize - 1);
	uint64_t cstride = m2d_level_size(level - 1) >> M2D_PAGE_SHIFT;
	int clevel = level - 1;
	uint64_t *pentry, *table, first, flags, pfn;

	pentry = entry_at(dm, base_addr, level);
	if (!pentry || !m2d_pte_is_present(M2D_PT_X86_64, *pentry) ||
	    m2d_pte_is_leaf(M2D_PT_X86_64, *pentry, level))
		return 0;
	table = m2d_pte_table(M2D_PT_X86_64, *pentry);
	first = table[0];
	flags = pte_flags(first, clevel);
	m2d_delay(M2D_COST_CPA_COLLAPSE_ENTRY, 1);
	if (!(first & _PAGE_PRESENT) || (first & _PAGE_KERNEL_4K))
		return 0;
	if (clevel > M2D_LEVEL_4K && !(first & _PAGE_PSE))
		return 0; /* collapse_pud_page: every PMD must be a leaf */
	pfn = pte_pfn(first, clevel);
	if (pfn & ((lsize >> M2D_PAGE_SHIFT) - 1))
		return 0;
	for (unsigned i = 1; i < PTRS_PER_PTE; i++) {
		uint64_t e = table[i];

		m2d_delay(M2D_COST_CPA_COLLAPSE_ENTRY, 1);
		if (pte_flags(e, clevel) != flags || pte_pfn(e, clevel) != pfn + i * cstride)
			return 0;
	}
	/* pgprot_4k_2_large for a PMD from PTEs; PUD from PMDs keeps PSE. */
	m2d_pt_set_pte(dm->pt, pentry, base_addr, level,
		       pfn_pte(pfn, clevel == M2D_LEVEL_4K ? flags | _PAGE_PSE : flags));
	m2d_delay(M2D_COST_CPA_PTE_WRITE, 1);
	collapse_page_count(dm, level);
	return 1;
}

/* collapse_large_pages(): the PMD of @addr, then its PUD if that worked. */
static int collapse_large_pages(struct m2d_directmap *dm, uint64_t addr, int max_level)
{
	int collapsed;

	pgd_lock_acquire(dm);
	collapsed = collapse_page(dm, addr, M2D_LEVEL_2M);
	if (collapsed && max_level >= M2D_LEVEL_1G)
		collapsed += collapse_page(dm, addr, M2D_LEVEL_1G);
	spin_unlock(&dm->pgd_lock);
	return collapsed;
}

/*
 * cpa_collapse_large_pages(): try every 2M region the request touched; one
 * flush_tlb_all() if anything collapsed.
 */
static void cpa_collapse_large_pages(struct m2d_host *host, struct cpa_data *cpa)
{
	struct m2d_directmap *dm = dm_of(host);
	uint64_t start = cpa->vaddr & ~(M2D_PMD_SIZE - 1);
	uint64_t end = cpa->vaddr + (cpa->numpages << M2D_PAGE_SHIFT);
	int collapsed = 0;

	for (uint64_t addr = start; addr < end; addr += M2D_PMD_SIZE)
		collapsed += collapse_large_pages(dm, addr, host->cfg.directmap_max_level);
	if (collapsed)
		flush_tlb_all();
}

/*
 * cpa_flush(): without caching changes, either a full flush or an IPI to
 * every CPU that INVLPGs each page (flush_tlb_kernel_range here).
 */
static void cpa_flush(struct cpa_data *cpa)
{
	if (cpa->numpages > TLB_SINGLE_PAGE_FLUSH_CEILING)
		flush_tlb_all();
	else
		flush_tlb_kernel_range(M2D_PAGE_OFFSET + cpa->vaddr,
				       M2D_PAGE_OFFSET + cpa->vaddr +
					       (cpa->numpages << M2D_PAGE_SHIFT));
}

static int check_range(struct m2d_host *host, uint64_t pfn, uint64_t nr)
{
	if (!host || !host->directmap)
		return -EINVAL;
	if (pfn >= dm_of(host)->max_pfn_mapped || nr > dm_of(host)->max_pfn_mapped - pfn)
		return -EINVAL;
	return 0;
}

/* __set_pages_p / __set_pages_np: CPA_NO_CHECK_ALIAS, no cpa_flush. */
static int set_pages(struct m2d_host *host, uint64_t pfn, uint64_t nr, bool present)
{
	struct cpa_data cpa = {
		.vaddr = pfn << M2D_PAGE_SHIFT,
		.numpages = nr,
		.mask_set = present ? _PAGE_PRESENT | _PAGE_RW : 0,
		.mask_clr = present ? 0 : _PAGE_PRESENT | _PAGE_RW,
		.flags = CPA_NO_CHECK_ALIAS,
		.collapse = present && dm_of(host)->restore_2m,
	};
	int ret = check_range(host, pfn, nr);

	if (ret)
		return ret;
	ret = __change_page_attr_set_clr(dm_of(host), &cpa);
	if (!ret && cpa.collapse)
		cpa_collapse_large_pages(host, &cpa);
	return ret;
}

int set_direct_map_invalid_noflush(struct m2d_host *host, uint64_t pfn)
{
	return set_pages(host, pfn, 1, false);
}

int set_direct_map_default_noflush(struct m2d_host *host, uint64_t pfn)
{
	return set_pages(host, pfn, 1, true);
}

int set_direct_map_valid_noflush(struct m2d_host *host, uint64_t pfn, uint64_t nr, bool valid)
{
	return set_pages(host, pfn, nr, valid);
}

/*
 * change_page_attr_set_clr(): kmap_flush_unused() + vm_unmap_aliases(),
 * the CPA loop, then cpa_flush() if anything changed; restore-2m collapses
 * after the flush, as CPA_COLLAPSE does.
 */
static int change_page_attr_set_clr(struct m2d_host *host, uint64_t pfn, uint64_t nr,
				    uint64_t mask_set, uint64_t mask_clr, bool force_split,
				    bool collapse)
{
	struct cpa_data cpa = {
		.vaddr = pfn << M2D_PAGE_SHIFT,
		.numpages = nr,
		.mask_set = mask_set,
		.mask_clr = mask_clr,
		.force_split = force_split,
		.collapse = collapse,
	};
	int ret = check_range(host, pfn, nr);

	if (ret)
		return ret;
	if (!mask_set && !mask_clr && !force_split)
		return 0;
	/* Must avoid aliasing mappings in the highmem code. */
	m2d_delay(M2D_COST_CPA_VM_UNMAP_ALIASES, 1); /* kmap_flush_unused + vm_unmap_aliases */
	ret = __change_page_attr_set_clr(dm_of(host), &cpa);
	if (!(cpa.flags & CPA_FLUSHTLB))
		return ret;
	if (ret) {
		flush_tlb_all(); /* cpa_flush_all() */
		return ret;
	}
	cpa_flush(&cpa);
	if (cpa.collapse)
		cpa_collapse_large_pages(host, &cpa);
	return 0;
}

/*
 * set_memory_4k(): force_split with empty masks (as in the kernels the SNP
 * split-only code ran on: the 4K PTE itself does not change, so no
 * cpa_flush follows; the 2025 _PAGE_KERNEL_4K pinning is not modelled, and
 * restore-2m only collapses after making pages present).
 */
int set_memory_4k(struct m2d_host *host, uint64_t pfn, uint64_t nr)
{
	return change_page_attr_set_clr(host, pfn, nr, 0, 0, true, false);
}

int set_memory_np(struct m2d_host *host, uint64_t pfn, uint64_t nr)
{
	return change_page_attr_set_clr(host, pfn, nr, 0, _PAGE_PRESENT, false, false);
}

int set_memory_p(struct m2d_host *host, uint64_t pfn, uint64_t nr)
{
	return change_page_attr_set_clr(host, pfn, nr, _PAGE_PRESENT, 0, false,
					host && host->directmap && dm_of(host)->restore_2m);
}

bool m2d_directmap_present(const struct m2d_host *host, uint64_t pfn, int *level)
{
	struct m2d_pt_walk w;

	if (!host || !host->directmap || pfn >= host->directmap->max_pfn_mapped)
		return false;
	m2d_pt_walk(host->directmap->pt, pfn << M2D_PAGE_SHIFT, &w);
	if (level)
		*level = w.level;
	return w.present;
}

int m2d_directmap_set_policy(struct m2d_host *host, enum m2d_cpa_lock_policy cpa_lock,
			     bool restore_2m)
{
	if (!host || !host->directmap ||
	    (cpa_lock != M2D_CPA_LOCK_GLOBAL && cpa_lock != M2D_CPA_LOCK_NONE))
		return -EINVAL;
	host->directmap->cpa_lock_policy = cpa_lock;
	host->directmap->restore_2m = restore_2m;
	return 0;
}

int m2d_directmap_change(struct m2d_host *host, enum m2d_cpa_op op, uint64_t pfn, uint64_t nr)
{
	int ret = check_range(host, pfn, nr);

	if (ret)
		return ret;
	switch (op) {
	case M2D_CPA_INVALID_NOFLUSH:
	case M2D_CPA_DEFAULT_NOFLUSH:
		for (uint64_t i = 0; i < nr && !ret; i++)
			ret = op == M2D_CPA_INVALID_NOFLUSH ?
				      set_direct_map_invalid_noflush(host, pfn + i) :
				      set_direct_map_default_noflush(host, pfn + i);
		return ret;
	case M2D_CPA_INVALID_NR_NOFLUSH:
		return set_direct_map_valid_noflush(host, pfn, nr, false);
	case M2D_CPA_VALID_NR_NOFLUSH:
		return set_direct_map_valid_noflush(host, pfn, nr, true);
	case M2D_CPA_SET_4K:
		return set_memory_4k(host, pfn, nr);
	case M2D_CPA_NP:
		return set_memory_np(host, pfn, nr);
	case M2D_CPA_P:
		return set_memory_p(host, pfn, nr);
	default:
		return -EINVAL;
	}
}

void m2d_host_directmap_info(const struct m2d_host *host, struct m2d_directmap_info *out)
{
	const struct m2d_directmap *dm;
	struct m2d_pt_stats st;

	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!host || !host->directmap)
		return;
	dm = host->directmap;
	out->directmap_4k = dm->direct_pages_count[M2D_LEVEL_4K] << M2D_PAGE_SHIFT;
	out->directmap_2m = dm->direct_pages_count[M2D_LEVEL_2M] << M2D_PMD_SHIFT;
	out->directmap_1g = dm->direct_pages_count[M2D_LEVEL_1G] << M2D_PUD_SHIFT;
	out->splits_1g = dm->splits[M2D_LEVEL_1G];
	out->splits_2m = dm->splits[M2D_LEVEL_2M];
	out->collapses_2m = dm->collapses[M2D_LEVEL_2M];
	out->collapses_1g = dm->collapses[M2D_LEVEL_1G];
	m2d_pt_stats_get(dm->pt, &st);
	for (int l = 1; l <= M2D_PT_MAX_LEVELS; l++)
		out->table_pages += st.tables[l];
}

/* ---- boot ----------------------------------------------------------------- */

/* Map [@start, @end) pfns with leaves of @level (aligned). */
static int map_chunk(struct m2d_directmap *dm, uint64_t start, uint64_t end, int level)
{
	unsigned prot = M2D_PROT_R | M2D_PROT_W | M2D_PROT_A | M2D_PROT_D | M2D_PROT_G |
			M2D_PROT_WB; /* PAGE_KERNEL: NX */
	uint64_t len = (end - start) << M2D_PAGE_SHIFT;
	int ret;

	if (!len)
		return 0;
	ret = m2d_pt_map_range(dm->pt, start << M2D_PAGE_SHIFT, len, start, level, prot);
	if (!ret)
		dm->direct_pages_count[level] += len / m2d_level_size(level); /* update_page_count */
	return ret;
}

/*
 * init_memory_mapping() for one range: split_mem_range() into a head of 4K
 * up to 2M alignment, 2M up to 1G alignment, a 1G body, a 2M and a 4K tail,
 * each limited to @max_level.
 */
static int init_memory_mapping(struct m2d_directmap *dm, uint64_t start, uint64_t end,
			       int max_level)
{
	uint64_t p2m = 1ull << 9, p1g = 1ull << 18;
	uint64_t a2 = M2D_MIN(M2D_ALIGN_UP(start, p2m), end);
	uint64_t a1 = M2D_MIN(M2D_ALIGN_UP(a2, p1g), end);
	uint64_t b1 = M2D_MAX(M2D_ALIGN_DOWN(end, p1g), a1);
	uint64_t b2 = M2D_MAX(M2D_ALIGN_DOWN(end, p2m), b1);
	int l2 = M2D_MIN(max_level, M2D_LEVEL_2M), l1 = max_level;
	int ret = 0;

	if (max_level == M2D_LEVEL_4K)
		return map_chunk(dm, start, end, M2D_LEVEL_4K);
	ret = ret ?: map_chunk(dm, start, a2, M2D_LEVEL_4K);
	ret = ret ?: map_chunk(dm, a2, a1, l2);
	ret = ret ?: map_chunk(dm, a1, b1, l1);
	ret = ret ?: map_chunk(dm, b1, b2, l2);
	ret = ret ?: map_chunk(dm, b2, end, M2D_LEVEL_4K);
	return ret;
}

int m2d_directmap_create(struct m2d_host *host)
{
	struct m2d_pt_config pc;
	struct m2d_directmap *dm;
	int ret;

	dm = m2d_zalloc(M2D_ALLOC_CPA, sizeof(*dm));
	if (!dm)
		return -ENOMEM;
	host->directmap = dm;
	m2d_pt_config_default(&pc);
	pc.format = M2D_PT_X86_64;
	pc.levels = 4;
	ret = m2d_pt_create(&dm->pt, &pc);
	if (ret)
		return ret;
	spin_lock_init(&dm->cpa_lock, "cpa_lock", M2D_RANK_CPA_LOCK);
	spin_lock_init(&dm->pgd_lock, "pgd_lock", M2D_RANK_PGD_LOCK);
	dm->cpa_lock_policy = host->cfg.cpa_lock;
	dm->restore_2m = host->cfg.restore_2m;
	for (unsigned n = 0; n < host->nr_nodes; n++) {
		uint64_t start, nr;

		m2d_host_node_range(host, n, &start, &nr);
		/*
		 * Pre-split to 4K at boot gives exactly the table of a 4K-only
		 * build (the split children carry the large entry's flags
		 * without PSE, i.e. PAGE_KERNEL) and split_page_count() counts
		 * no event before the system runs, so build it at 4K directly.
		 */
		ret = init_memory_mapping(dm, start, start + nr,
					  host->cfg.directmap_presplit_4k ?
						  M2D_LEVEL_4K : host->cfg.directmap_max_level);
		if (ret)
			return ret;
	}
	dm->max_pfn_mapped = host->end_pfn;
	dm->system_running = true;
	return 0;
}

void m2d_directmap_destroy(struct m2d_host *host)
{
	struct m2d_directmap *dm = host ? host->directmap : NULL;

	if (!dm)
		return;
	m2d_pt_destroy(&dm->pt);
	m2d_lock_fini(&dm->cpa_lock.c);
	m2d_lock_fini(&dm->pgd_lock.c);
	m2d_free(M2D_ALLOC_CPA, dm, sizeof(*dm));
	host->directmap = NULL;
}
