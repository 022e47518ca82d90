// SPDX-License-Identifier: MIT
/*
 * lib/mm/memory.c - host page faults, the zap path, page-table allocation
 * and freeing, rmap/mapcount accounting (mm/memory.c, mm/huge_memory.c,
 * mm/rmap.c, mm/mmu_gather.c).
 *
 * Faults (handle_mm_fault): anonymous memory gets a 2M THP when the VMA
 * allows it (do_huge_pmd_anonymous_page) and 4K otherwise
 * (do_anonymous_page); shmem/memfd pages come from the file's page cache
 * (shmem_fault -> finish_fault); VM_PFNMAP VMAs install special entries at
 * the largest aligned size (vfio's huge_fault); HugeTLB is in hugetlb.c.
 * Newly allocated memory is zeroed at the profile's clearing bandwidth
 * (MM_CLEAR_PAGE, ns/KiB).
 *
 * Model simplifications (documented in docs/cost-model.md "mm"):
 *  - no zero page: a read fault on anonymous memory allocates, as a write
 *    fault does, and maps writable if the VMA is;
 *  - no swap, no page migration, no fork/COW: anonymous pages are always
 *    exclusive, so write faults on read-only entries of writable VMAs reuse
 *    the page (wp_page_reuse / wp_page_shared);
 *  - a folio's reference for being mapped is its allocation reference
 *    (anon) or the page cache's (file); mapcounts are exact (physmem).
 *
 * Page-table locks: PTE tables use split ptlocks (pte_lockptr), PMD tables
 * split PMD locks (pmd_lockptr), PUD entries mm->page_table_lock; they are
 * hashed here (M2D_MM_NR_PTL per level), which keeps contention between
 * faults on different tables rare as in the kernel.
 */
#include "mm/mm_types.h"

#include <errno.h>

unsigned vma_pte_prot(const struct m2d_vma *vma)
{
	unsigned prot = M2D_PROT_U | M2D_PROT_A;

	if (vma->vm_flags & VM_PFNMAP)
		prot |= PTE_SPECIAL;   /* pte_mkspecial(); uncached device memory */
	else
		prot |= M2D_PROT_WB;
	if (!(vma->vm_flags & (VM_READ | VM_WRITE | VM_EXEC)))
		return prot | PTE_PROTNONE;
	prot |= M2D_PROT_R;
	if (vma->vm_flags & VM_WRITE)
		prot |= M2D_PROT_W;
	if (vma->vm_flags & VM_EXEC)
		prot |= M2D_PROT_X;
	return prot;
}

struct m2d_spinlock *mm_ptl(struct m2d_mm *mm, uint64_t addr, int level)
{
	if (level == M2D_LEVEL_4K)
		return &mm->ptl[(addr >> M2D_PMD_SHIFT) % M2D_MM_NR_PTL];
	if (level == M2D_LEVEL_2M)
		return &mm->ptl[(addr >> M2D_PUD_SHIFT) % M2D_MM_NR_PTL];
	return &mm->page_table_lock;
}

uint64_t *mm_entry(struct m2d_mm *mm, uint64_t addr, int level, bool alloc, int *leaf_level)
{
	uint64_t *table = m2d_pt_root(mm->pgd);
	int l = m2d_pt_root_level(mm->pgd);

	*leaf_level = 0;
	for (; l > level; l--) {
		uint64_t *ptep = &table[(addr >> (M2D_PAGE_SHIFT + 9 * (l - 1))) & 511];
		uint64_t e = READ_ONCE(*ptep);

		if (pte_none(e)) {
			uint64_t *child;

			if (!alloc)
				return NULL;
			/*
			 * __pte_alloc/__pmd_alloc/__pud_alloc: allocate outside the
			 * lock, link under it unless another thread linked one first
			 * (then ours is freed and theirs used).
			 */
			child = m2d_pt_alloc_table(mm->pgd, l - 1);
			if (!child)
				return NULL;
			m2d_delay(M2D_COST_MM_PT_ALLOC, 1);
			spin_lock(mm_ptl(mm, addr, l));
			e = READ_ONCE(*ptep);
			if (pte_none(e)) {
				m2d_pt_set_pte(mm->pgd, ptep, addr & ~(m2d_level_size(l) - 1), l,
					       m2d_pte_make_table(mm->fmt, child));
				child = NULL;
				e = READ_ONCE(*ptep);
			}
			spin_unlock(mm_ptl(mm, addr, l));
			if (child)
				m2d_pt_free_table(mm->pgd, child);
		}
		if (m2d_pte_is_leaf(mm->fmt, e, l)) {
			*leaf_level = l;
			return NULL;
		}
		table = m2d_pte_table(mm->fmt, e);
		if (NEVER(!table))
			return NULL;
	}
	return &table[(addr >> (M2D_PAGE_SHIFT + 9 * (level - 1))) & 511];
}

struct m2d_folio *mm_leaf_folio(struct m2d_mm *mm, uint64_t pte, int level)
{
	return m2d_pfn_folio(mm->host, m2d_pte_pfn(mm->fmt, pte, level));
}

void mm_count_mapcount_atomics(struct m2d_mm *mm, uint64_t atomics, uint64_t distinct)
{
	if (!atomics)
		return;
	m2d_delay(M2D_COST_MAPCOUNT_ATOMIC_DISTINCT, distinct);
	m2d_delay(M2D_COST_MAPCOUNT_ATOMIC, atomics - distinct);
	m2d_count(M2D_CTR_mapcount_atomics, atomics);
	mm->stats.mapcount_atomics += atomics;
	mm->stats.mapcount_counters += distinct;
}

/* The head-only scheme counts every HugeTLB mapping in the one folio-wide counter. */
static bool rmap_head_only(struct m2d_mm *mm, struct m2d_vma *vma)
{
	return is_vm_hugetlb_page(vma) && mm->cfg.mapcount == M2D_MM_MAPCOUNT_HEAD_ONLY;
}

/*
 * folio_add_{anon,file}_rmap_{pte,pmd,pud} / hugetlb_add_file_rmap: one
 * entry at @level maps subpages [@idx, @idx + pages of @level) of @folio.
 */
int mm_rmap_add(struct m2d_mm *mm, struct m2d_vma *vma, struct m2d_folio *folio, uint64_t idx,
		int level)
{
	uint64_t nr = m2d_level_size(level) >> M2D_PAGE_SHIFT;
	uint64_t atomics = 0, distinct = 0;
	int ret;

	if (rmap_head_only(mm, vma)) {
		ret = m2d_folio_add_head_maps(folio, 1, &atomics);
	} else if (folio->order > 0 && nr == folio_nr_pages(folio)) {
		ret = m2d_folio_add_entire_map(folio, &atomics);
	} else {
		ret = m2d_folio_add_subpage_maps(mm->host, folio, idx, nr, &atomics);
		distinct = nr;
	}
	if (ret)
		return ret;
	mm_count_mapcount_atomics(mm, atomics, distinct);
	return 0;
}

void mm_rmap_remove(struct m2d_mm *mm, struct m2d_vma *vma, struct m2d_folio *folio,
		    uint64_t idx, int level)
{
	uint64_t nr = m2d_level_size(level) >> M2D_PAGE_SHIFT;
	uint64_t atomics = 0, distinct = 0;
	int ret;

	if (rmap_head_only(mm, vma)) {
		ret = m2d_folio_remove_head_maps(folio, 1, &atomics);
	} else if (folio->order > 0 && nr == folio_nr_pages(folio)) {
		ret = m2d_folio_remove_entire_map(folio, &atomics);
	} else {
		ret = m2d_folio_remove_subpage_maps(mm->host, folio, idx, nr, &atomics);
		distinct = nr;
	}
	M2D_WARN_ON_ONCE(ret);
	mm_count_mapcount_atomics(mm, atomics, distinct);
}

void mm_clear_pages(uint64_t bytes)
{
	m2d_delay(M2D_COST_MM_CLEAR_PAGE, bytes / M2D_SZ_1K);
}

static void account_rss(struct m2d_mm *mm, struct m2d_vma *vma, int level, bool add)
{
	uint64_t *rss;

	if (vma->vm_flags & VM_PFNMAP)
		return;
	rss = vma_is_anonymous(vma) ? &mm->stats.rss_anon : &mm->stats.rss_file;
	if (add)
		*rss += m2d_level_size(level);
	else
		*rss -= m2d_level_size(level);
}

/*
 * set_pte_at / set_pmd_at / set_pud_at of a new leaf for @folio (NULL for
 * PFNMAP) plus its rmap.  Caller holds the entry's ptl.
 */
static int install_leaf(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t *ptep, uint64_t addr,
			int level, uint64_t pfn, struct m2d_folio *folio, bool write)
{
	unsigned prot = vma_pte_prot(vma);
	int ret;

	lockdep_assert_held(mm_ptl(mm, addr, level));
	if (write)
		prot |= M2D_PROT_D;
	if (folio) {
		ret = mm_rmap_add(mm, vma, folio, pfn - folio_pfn(folio), level);
		if (ret)
			return ret;
	}
	m2d_pt_set_pte(mm->pgd, ptep, addr, level, m2d_pte_make_leaf(mm->fmt, level, pfn, prot));
	account_rss(mm, vma, level, true);
	return 0;
}

int mm_install_leaf(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t *ptep, uint64_t addr,
		    int level, uint64_t pfn, struct m2d_folio *folio, bool write)
{
	return install_leaf(mm, vma, ptep, addr, level, pfn, folio, write);
}

/* Clear one leaf (ptep_get_and_clear + rmap + folio release). Caller holds the ptl. */
static void zap_leaf(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t *ptep, uint64_t addr,
		     int level)
{
	uint64_t old = READ_ONCE(*ptep);

	lockdep_assert_held(mm_ptl(mm, addr, level));
	m2d_pt_set_pte(mm->pgd, ptep, addr, level, 0);
	m2d_delay(M2D_COST_MM_PTE_UPDATE, 1);
	mm->stats.ptes_zapped++;
	account_rss(mm, vma, level, false);
	if (!(vma->vm_flags & VM_PFNMAP)) {
		uint64_t pfn = m2d_pte_pfn(mm->fmt, old, level);
		struct m2d_folio *folio = m2d_pfn_folio(mm->host, pfn);

		if (M2D_WARN_ON_ONCE(!folio))
			return;
		mm_rmap_remove(mm, vma, folio, pfn - folio_pfn(folio), level);
		/* anon: the mapping owned the folio's only reference (no swap cache) */
		if (vma_is_anonymous(vma) && m2d_folio_mapcount(folio) == 0)
			m2d_folio_put(mm->host, folio);
	}
}

void mm_zap_leaf(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t *ptep, uint64_t addr, int level)
{
	zap_leaf(mm, vma, ptep, addr, level);
}

/*
 * __split_huge_pmd(): one MMU_NOTIFY_CLEAR pair over the 2M range, then
 * split_huge_pmd_locked: an anonymous THP becomes 512 PTEs mapping the
 * same folio (entire mapcount -> 512 page mapcounts); a special (PFNMAP)
 * huge entry is just cleared and refaults at the smaller size.
 */
void mm_split_huge_pmd(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t *pmdp, uint64_t addr)
{
	uint64_t haddr = addr & ~(M2D_PMD_SIZE - 1);
	struct m2d_mmu_notifier_range range = {
		.mm = mm, .start = haddr, .end = haddr + M2D_PMD_SIZE,
		.event = M2D_MMU_NOTIFY_CLEAR, .may_block = true,
	};
	struct m2d_spinlock *ptl = mm_ptl(mm, haddr, M2D_LEVEL_2M);
	uint64_t old;

	m2d_mmu_notifier_invalidate_range_start(&range);
	spin_lock(ptl);
	old = READ_ONCE(*pmdp);
	if (m2d_pte_is_leaf(mm->fmt, old, M2D_LEVEL_2M)) {
		if (vma->vm_flags & VM_PFNMAP) {
			m2d_pt_set_pte(mm->pgd, pmdp, haddr, M2D_LEVEL_2M, 0);
			m2d_delay(M2D_COST_MM_PTE_UPDATE, 1);
		} else {
			struct m2d_folio *folio = mm_leaf_folio(mm, old, M2D_LEVEL_2M);
			uint64_t atomics = 0, undo = 0;

			/* 512 PTE mappings first (may need the per-page counters), then the table */
			if (folio && !m2d_folio_add_subpage_maps(mm->host, folio, 0, M2D_PT_ENTRIES,
								 &atomics)) {
				if (m2d_pt_split(mm->pgd, haddr, M2D_LEVEL_2M) == 0) {
					m2d_delay(M2D_COST_MM_PT_ALLOC, 1);
					m2d_delay(M2D_COST_MM_PTE_UPDATE, M2D_PT_ENTRIES);
					M2D_WARN_ON_ONCE(m2d_folio_remove_entire_map(folio, &atomics));
					mm_count_mapcount_atomics(mm, atomics, M2D_PT_ENTRIES);
					goto out;
				}
				m2d_folio_remove_subpage_maps(mm->host, folio, 0, M2D_PT_ENTRIES,
							      &undo);
			}
			/*
			 * The kernel cannot fail here (the PTE table was deposited at
			 * fault time); the simulator can run out of memory for the table
			 * or the counters.  Drop the whole THP instead, so no caller is
			 * left with a huge leaf it cannot handle.
			 */
			zap_leaf(mm, vma, pmdp, haddr, M2D_LEVEL_2M);
		}
	}
out:
	spin_unlock(ptl);
	mm_flush_tlb_range(mm, haddr, haddr + M2D_PMD_SIZE);
	m2d_mmu_notifier_invalidate_range_end(&range);
}

/* __split_huge_pud(): only huge pfnmap PUDs exist outside hugetlb; they are cleared. */
void mm_split_huge_pud(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t *pudp, uint64_t addr)
{
	uint64_t haddr = addr & ~(M2D_PUD_SIZE - 1);
	struct m2d_mmu_notifier_range range = {
		.mm = mm, .start = haddr, .end = haddr + M2D_PUD_SIZE,
		.event = M2D_MMU_NOTIFY_CLEAR, .may_block = true,
	};

	m2d_mmu_notifier_invalidate_range_start(&range);
	spin_lock(&mm->page_table_lock);
	if (m2d_pte_is_leaf(mm->fmt, READ_ONCE(*pudp), M2D_LEVEL_1G)) {
		m2d_pt_set_pte(mm->pgd, pudp, haddr, M2D_LEVEL_1G, 0);
		m2d_delay(M2D_COST_MM_PTE_UPDATE, 1);
	}
	spin_unlock(&mm->page_table_lock);
	mm_flush_tlb_range(mm, haddr, haddr + M2D_PUD_SIZE);
	m2d_mmu_notifier_invalidate_range_end(&range);
}

/* ---- zap (unmap_page_range) ----------------------------------------------- */

struct zap_ctx {
	struct m2d_mm *mm;
	struct m2d_vma *vma;
	uint64_t zapped;
};

static void zap_range(struct zap_ctx *c, uint64_t *table, int level, uint64_t addr,
		      uint64_t end);

/*
 * zap_p?d_range: one level of unmap_page_range over [@addr, @end).  A huge
 * leaf that the range only partly covers is split first (THP), or cleared
 * (special pfnmap, as __split_huge_pmd does for non-anonymous VMAs).
 */
static void zap_range(struct zap_ctx *c, uint64_t *table, int level, uint64_t addr,
		      uint64_t end)
{
	struct m2d_mm *mm = c->mm;
	uint64_t size = m2d_level_size(level);

	do {
		uint64_t next = level_addr_end(addr, end, level);
		uint64_t *ptep = &table[(addr >> (M2D_PAGE_SHIFT + 9 * (level - 1))) & 511];
		uint64_t e = READ_ONCE(*ptep);
		uint64_t base = addr & ~(size - 1);

		m2d_delay(M2D_COST_MM_PTE_VISIT, 1);
		if (pte_none(e))
			goto next;
		if (m2d_pte_is_leaf(mm->fmt, e, level)) {
			if (next - addr != size) {
				if (level == M2D_LEVEL_2M)
					mm_split_huge_pmd(mm, c->vma, ptep, addr);
				else if (level == M2D_LEVEL_1G)
					mm_split_huge_pud(mm, c->vma, ptep, addr);
				e = READ_ONCE(*ptep);
				if (pte_none(e) || m2d_pte_is_leaf(mm->fmt, e, level))
					goto next;
			} else {
				struct m2d_spinlock *ptl = mm_ptl(mm, base, level);

				spin_lock(ptl);
				zap_leaf(mm, c->vma, ptep, base, level);
				spin_unlock(ptl);
				c->zapped++;
				goto next;
			}
		}
		if (level == M2D_LEVEL_2M) {
			/* zap_pte_range: the whole PTE table under its lock */
			struct m2d_spinlock *ptl = mm_ptl(mm, addr, M2D_LEVEL_4K);
			uint64_t *pte = m2d_pte_table(mm->fmt, e);
			uint64_t a = addr;

			spin_lock(ptl);
			do {
				uint64_t *p = &pte[(a >> M2D_PAGE_SHIFT) & 511];

				m2d_delay(M2D_COST_MM_PTE_VISIT, 1);
				if (!pte_none(READ_ONCE(*p))) {
					zap_leaf(mm, c->vma, p, a, M2D_LEVEL_4K);
					c->zapped++;
				}
				a += M2D_PAGE_SIZE;
			} while (a != next);
			spin_unlock(ptl);
			cond_resched();
		} else {
			zap_range(c, m2d_pte_table(mm->fmt, e), level - 1, addr, next);
		}
next:
		addr = next;
	} while (addr != end);
}

uint64_t mm_unmap_page_range(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t start, uint64_t end)
{
	struct zap_ctx c = { .mm = mm, .vma = vma };

	mmap_assert_locked(mm);
	if (start >= end)
		return 0;
	zap_range(&c, m2d_pt_root(mm->pgd), m2d_pt_root_level(mm->pgd), start, end);
	return c.zapped;
}

/* ---- free_pgtables ------------------------------------------------------- */

static bool table_is_empty(const uint64_t *table)
{
	for (unsigned i = 0; i < M2D_PT_ENTRIES; i++)
		if (!pte_none(READ_ONCE(table[i])))
			return false;
	return true;
}

/*
 * free_p?d_range: free every table under @table (entries at @level) whose
 * span lies inside [@floor, @ceiling) and meets [@start, @end), bottom-up.
 * Return: true if @table itself became empty.
 */
static bool free_range(struct m2d_mm *mm, uint64_t *table, int level, uint64_t start,
		       uint64_t end, uint64_t floor, uint64_t ceiling)
{
	uint64_t size = m2d_level_size(level);
	uint64_t addr = start;

	do {
		uint64_t next = level_addr_end(addr, end, level);
		uint64_t *ptep = &table[(addr >> (M2D_PAGE_SHIFT + 9 * (level - 1))) & 511];
		uint64_t e = READ_ONCE(*ptep);
		uint64_t base = addr & ~(size - 1);
		uint64_t *child;

		if (level == M2D_LEVEL_4K || pte_none(e) || m2d_pte_is_leaf(mm->fmt, e, level))
			goto next;
		child = m2d_pte_table(mm->fmt, e);
		if (level > M2D_LEVEL_2M)
			free_range(mm, child, level - 1, addr, next, floor, ceiling);
		/* the child's span [base, base + size) must not be shared with another VMA */
		if (base >= floor && base + size - 1 <= ceiling - 1 && table_is_empty(child)) {
			struct m2d_spinlock *ptl = mm_ptl(mm, base, level);

			spin_lock(ptl);
			m2d_pt_set_pte(mm->pgd, ptep, base, level, 0);
			spin_unlock(ptl);
			m2d_delay(M2D_COST_MM_PT_FREE, 1);
			mm->stats.tables_freed++;
		}
next:
		addr = next;
	} while (addr != end);
	return table_is_empty(table);
}

void mm_free_pgtables(struct m2d_mm *mm, uint64_t start, uint64_t end, uint64_t floor,
		      uint64_t ceiling)
{
	if (start >= end)
		return;
	free_range(mm, m2d_pt_root(mm->pgd), m2d_pt_root_level(mm->pgd), start, end, floor,
		   ceiling);
}

/*
 * flush_tlb_mm_range() as tlb_finish_mmu issues it: a full flush above
 * tlb_single_page_flush_ceiling (33 pages), else one INVLPG per page, on
 * this CPU and (x86, native_flush_tlb_multi) by IPI on every other CPU of
 * mm_cpumask.  arm64's __flush_tlb_range broadcasts TLBI ... IS: no IPIs.
 */
void mm_flush_tlb_range(struct m2d_mm *mm, uint64_t start, uint64_t end)
{
	uint64_t pages = (end - start) >> M2D_PAGE_SHIFT;
	enum m2d_cost flush = pages > 33 ? M2D_COST_TLB_FLUSH_LOCAL_ALL
					 : M2D_COST_TLB_FLUSH_LOCAL_PAGE;
	uint64_t count = pages > 33 ? 1 : pages;
	struct m2d_cpumask others = mm->cpumask;
	unsigned me = (unsigned)m2d_current_cpu();
	bool remote = false;

	m2d_count(M2D_CTR_host_tlb_flushes, 1);
	mm->stats.tlb_flushes++;
	others.bits[me / 64] &= ~(1ull << (me % 64));
	for (unsigned w = 0; w < M2D_ARRAY_SIZE(others.bits) && !remote; w++)
		remote = others.bits[w] != 0;
	if (mm->cfg.arch == M2D_MM_ARCH_X86_64 && remote) {
		/* the sender runs the handler locally too (flush_tlb_func) */
		m2d_ipi_send_mask(&others, flush);
		mm->stats.tlb_flush_ipis++;
		return;
	}
	m2d_delay(flush, count);
}

/* ---- faults ---------------------------------------------------------------- */

/* thp_vma_allowable_order(vma, PMD_ORDER) for a fault at @haddr */
static bool thp_allowed(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t haddr)
{
	if (!vma_is_anonymous(vma) || (vma->vm_flags & VM_NOHUGEPAGE))
		return false;
	if (mm->cfg.thp == M2D_MM_THP_NEVER ||
	    (mm->cfg.thp == M2D_MM_THP_MADVISE && !(vma->vm_flags & VM_HUGEPAGE)))
		return false;
	return haddr >= vma->vm_start && haddr + M2D_PMD_SIZE <= vma->vm_end;
}

/*
 * A present entry on a fault: a write to a read-only entry of a writable
 * VMA is resolved in place (wp_page_reuse / wp_page_shared: mkwrite +
 * mkdirty); anything else is a spurious fault.
 */
int mm_fault_present(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t *ptep,
			 uint64_t addr, int level, bool write)
{
	uint64_t base = addr & ~(m2d_level_size(level) - 1);
	struct m2d_spinlock *ptl = mm_ptl(mm, base, level);
	uint64_t e;

	spin_lock(ptl);
	e = READ_ONCE(*ptep);
	if (m2d_pte_is_leaf(mm->fmt, e, level)) {
		unsigned prot = m2d_pte_prot(mm->fmt, e, level);
		unsigned set = 0, clear = 0;

		if (prot & PTE_PROTNONE) {
			/* protection was widened without a PTE update: take the VMA's */
			clear = PTE_PROTNONE;
			set = vma_pte_prot(vma) & (M2D_PROT_R | M2D_PROT_X);
		}
		if (write && !(prot & M2D_PROT_W))
			set |= M2D_PROT_W | M2D_PROT_D;
		if (set | clear) {
			m2d_pt_set_pte(mm->pgd, ptep, base, level,
				       m2d_pte_change_prot(mm->fmt, e, level, set, clear));
			m2d_delay(M2D_COST_MM_PTE_UPDATE, 1);
		}
	}
	spin_unlock(ptl);
	return 0;
}

/* do_huge_pmd_anonymous_page(): Return 0, -ENOMEM (no 2M folio: fall back), -EAGAIN (raced). */
static int do_huge_pmd_anonymous_page(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t *pmdp,
				      uint64_t haddr, bool write)
{
	struct m2d_folio *folio;
	struct m2d_spinlock *ptl;
	int ret;

	ret = m2d_folio_alloc(mm->host, M2D_PMD_ORDER, mm->cfg.node, 0, &folio);
	if (ret)
		return ret;
	mm_clear_pages(M2D_PMD_SIZE); /* clear_huge_page */
	ptl = mm_ptl(mm, haddr, M2D_LEVEL_2M);
	spin_lock(ptl);
	if (!pte_none(READ_ONCE(*pmdp))) {
		spin_unlock(ptl);
		m2d_folio_put(mm->host, folio);
		return -EAGAIN;
	}
	ret = install_leaf(mm, vma, pmdp, haddr, M2D_LEVEL_2M, folio_pfn(folio), folio, write);
	spin_unlock(ptl);
	if (ret)
		m2d_folio_put(mm->host, folio);
	return ret;
}

/* Largest level at which a pfnmap entry can map @addr (huge_fault order choice). */
static int pfnmap_level(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t addr)
{
	for (int level = M2D_LEVEL_1G; level > M2D_LEVEL_4K; level--) {
		uint64_t size = m2d_level_size(level);
		uint64_t base = addr & ~(size - 1);
		uint64_t pfn = vma->vm_pgoff + ((base - vma->vm_start) >> M2D_PAGE_SHIFT);
		int leaf;
		uint64_t *ptep;

		if (base < vma->vm_start || base + size > vma->vm_end ||
		    (pfn & ((size >> M2D_PAGE_SHIFT) - 1)))
			continue;
		ptep = mm_entry(mm, addr, level, false, &leaf);
		if (leaf)
			return leaf;
		/* a missing upper table, or a none entry at @level, can take the huge entry */
		if (!ptep || pte_none(READ_ONCE(*ptep)))
			return level;
	}
	return M2D_LEVEL_4K;
}

static int fault_at_level(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t addr, int level,
			  bool write)
{
	uint64_t base = addr & ~(m2d_level_size(level) - 1);
	struct m2d_folio *folio = NULL;
	struct m2d_spinlock *ptl;
	uint64_t *ptep, pfn;
	int leaf, ret;

	ptep = mm_entry(mm, addr, level, true, &leaf);
	if (!ptep) {
		int huge = leaf;

		if (!huge)
			return -ENOMEM;
		/* a huge leaf above @level maps @addr already */
		ptep = mm_entry(mm, addr, huge, false, &leaf);
		if (NEVER(!ptep))
			return -EAGAIN;
		return mm_fault_present(mm, vma, ptep, addr, huge, write);
	}
	if (!pte_none(READ_ONCE(*ptep))) {
		if (m2d_pte_is_leaf(mm->fmt, READ_ONCE(*ptep), level))
			return mm_fault_present(mm, vma, ptep, addr, level, write);
		return -EAGAIN; /* a table appeared: retry at a smaller level */
	}

	if (vma->vm_flags & VM_PFNMAP) {
		pfn = vma->vm_pgoff + ((base - vma->vm_start) >> M2D_PAGE_SHIFT);
	} else if (vma->vm_file) {
		/* shmem_fault: page cache lookup, allocate + clear on a miss */
		uint64_t index = vma_file_offset(vma, base) >> M2D_PAGE_SHIFT;

		ret = file_get_folio(vma->vm_file, index, mm->cfg.node, &folio);
		if (ret < 0)
			return ret;
		if (ret) {
			mm->stats.faults_alloc++;
			m2d_count(M2D_CTR_host_fault_allocs, 1);
		}
		pfn = folio_pfn(folio);
	} else {
		/* do_anonymous_page: alloc_anon_folio + clear_user_highpage */
		ret = m2d_folio_alloc(mm->host, 0, mm->cfg.node, 0, &folio);
		if (ret)
			return ret;
		mm_clear_pages(M2D_PAGE_SIZE);
		mm->stats.faults_alloc++;
		m2d_count(M2D_CTR_host_fault_allocs, 1);
		pfn = folio_pfn(folio);
	}

	ptl = mm_ptl(mm, base, level);
	spin_lock(ptl);
	if (!pte_none(READ_ONCE(*ptep))) {
		ret = 0; /* lost a race with another fault: theirs stands */
		if (folio && vma_is_anonymous(vma))
			m2d_folio_put(mm->host, folio);
	} else {
		ret = install_leaf(mm, vma, ptep, base, level, pfn, folio, write);
		if (ret && folio && vma_is_anonymous(vma))
			m2d_folio_put(mm->host, folio);
	}
	spin_unlock(ptl);
	return ret;
}

/**
 * m2d_mm_handle_fault() - handle_mm_fault() for a user access (see mm.h).
 */
int m2d_mm_handle_fault(struct m2d_mm *mm, uint64_t addr, bool write)
{
	struct m2d_vma *vma;
	int ret;

	mmap_assert_locked(mm);
	mm_note_cpu(mm);
	vma = m2d_vma_lookup(mm, addr);
	/* access_error(): SIGSEGV */
	if (!vma)
		return -EFAULT;
	if (write ? !(vma->vm_flags & VM_WRITE)
		  : !(vma->vm_flags & (VM_READ | VM_WRITE | VM_EXEC)))
		return -EFAULT;

	m2d_delay(M2D_COST_MM_FAULT, 1);
	m2d_count(M2D_CTR_host_faults, 1);
	mm->stats.faults++;

	if (is_vm_hugetlb_page(vma))
		return hugetlb_fault(mm, vma, addr, write);

	if (vma->vm_flags & VM_PFNMAP)
		return fault_at_level(mm, vma, addr, pfnmap_level(mm, vma, addr), write);

	/* __handle_mm_fault: a none PMD in a THP-enabled VMA takes a 2M folio */
	if (vma_is_anonymous(vma)) {
		uint64_t haddr = addr & ~(M2D_PMD_SIZE - 1);
		int leaf;
		uint64_t *pmdp;

		if (thp_allowed(mm, vma, haddr)) {
			pmdp = mm_entry(mm, addr, M2D_LEVEL_2M, true, &leaf);
			if (!pmdp && !leaf)
				return -ENOMEM;
			if (pmdp && pte_none(READ_ONCE(*pmdp))) {
				ret = do_huge_pmd_anonymous_page(mm, vma, pmdp, haddr, write);
				if (ret == 0) {
					mm->stats.faults_alloc++;
					m2d_count(M2D_CTR_host_fault_allocs, 1);
					return 0;
				}
				/* VM_FAULT_FALLBACK: no 2M folio, or raced */
			}
		}
	}
	ret = fault_at_level(mm, vma, addr, M2D_LEVEL_4K, write);
	if (ret == -EAGAIN)
		ret = fault_at_level(mm, vma, addr, M2D_LEVEL_4K, write);
	return ret;
}

/* ---- user accesses (public) ------------------------------------------------ */

/* Would a user access of kind @write at @addr succeed without a fault? */
static bool access_ok_now(struct m2d_mm *mm, uint64_t addr, bool write)
{
	struct m2d_pt_walk w;

	m2d_pt_walk(mm->pgd, addr, &w);
	if (!w.present || (w.prot & PTE_PROTNONE))
		return false;
	return !write || (w.prot & M2D_PROT_W);
}

int m2d_mm_fault(struct m2d_mm *mm, uint64_t addr, bool write)
{
	bool entered;
	int ret;

	M2D_VALIDATE_OR_RET(mm, -EINVAL);
	if (access_ok_now(mm, addr, write))
		return 0;
	entered = mm_engine_enter(mm->host);
	/* exc_page_fault -> lock_mm_and_find_vma -> handle_mm_fault */
	mmap_read_lock(mm);
	ret = m2d_mm_handle_fault(mm, addr, write);
	mmap_read_unlock(mm);
	mm_engine_leave(mm->host, entered);
	return ret;
}

static int mm_populate(struct m2d_mm *mm, uint64_t addr, uint64_t len, bool write)
{
	uint64_t end;

	M2D_VALIDATE_OR_RET(mm, -EINVAL);
	if (!len || addr + len < addr)
		return -EINVAL;
	end = addr + len;
	for (addr &= ~(M2D_PAGE_SIZE - 1); addr < end; addr += M2D_PAGE_SIZE) {
		int ret = m2d_mm_fault(mm, addr, write);

		if (ret)
			return ret;
	}
	return 0;
}

int m2d_mm_populate(struct m2d_mm *mm, uint64_t addr, uint64_t len, bool write)
{
	M2D_VALIDATE_OR_RET(mm, -EINVAL);
	return mm_call_entered(mm->host, mm_populate(mm, addr, len, write));
}
