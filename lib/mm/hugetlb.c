// SPDX-License-Identifier: MIT
/*
 * lib/mm/hugetlb.c - HugeTLB mappings, high-granularity mapping (HGM) and
 * MADV_COLLAPSE for HugeTLB (mm/hugetlb.c, James Houghton's HGM series v2,
 * MECHANISMS.md 8).
 *
 * A HugeTLB VMA maps its file's 2M or 1G pages.  Without HGM every mapping
 * is one entry of the hstate size (a PMD or PUD leaf).  With HGM
 * (MADV_SPLIT sets VM_HUGETLB_HGM) a page may also be mapped piecewise by
 * smaller entries (hugetlb_pte of any shift): UFFDIO_CONTINUE installs the
 * pieces, page faults fill a missing piece at the level where the walk
 * (hugetlb_hgm_walk) found a none entry.
 *
 * Mapcounts (m2d_mm_config.mapcount):
 *   thp-like   (HGM v2) an entry smaller than the page counts once in each
 *              4K subpage's _mapcount it covers (plus the folio-wide large
 *              mapcount); a whole-page entry is an "entire" mapping.
 *   head-only  (HGM v1) every entry of any size is one reference in the
 *              single folio-wide counter.
 *
 * hugetlb_collapse(): MADV_COLLAPSE, with mmap_lock held for writing by
 * madvise: one MMU_NOTIFY_CLEAR start/end over the whole range; under the
 * HugeTLB VMA lock and i_mmap_rwsem (write), for each region whose entry
 * points to page tables: clear every small entry, drop its mapcount
 * (thp-like: one atomic per 4K subpage on distinct counters, batched
 * only on the large counter; head-only: one subtract for the whole region,
 * the tlb_finish_mmu batching), free the tables, install one huge entry and
 * add its rmap.  A range that covers whole pages collapses them to the
 * hstate size; inside a 1G page, 2M-aligned subranges collapse to 2M (the
 * intermediate step of the hgm-collapse replayer's 4k-2m-1g path).
 */
#include "mm/mm_types.h"

#include <errno.h>

#include "core/alloc.h"

/*
 * hugetlb_init(): num_fault_mutexes = roundup_pow_of_two(8 *
 * num_possible_cpus()) (1 on !CONFIG_SMP), hugetlb_fault_mutex_table[] of
 * that many mutexes.  All share one lock class, ranked before the VMA lock
 * (I_MMAP - 2); a thread never holds two of them.
 */
int hugetlb_fault_mutex_table_init(struct m2d_host *host)
{
	uint32_t n = 1;
	int cpus = m2d_nr_cpus();

	while (cpus > 1 && n < 8u * (uint32_t)cpus)
		n <<= 1;
	host->hugetlb_fault_mutex_table = m2d_calloc(M2D_ALLOC_MM, n,
						     sizeof(*host->hugetlb_fault_mutex_table));
	if (!host->hugetlb_fault_mutex_table)
		return -ENOMEM;
	host->num_fault_mutexes = n;
	for (uint32_t i = 0; i < n; i++)
		mutex_init(&host->hugetlb_fault_mutex_table[i], "hugetlb_fault_mutex",
			   (enum m2d_lock_rank)(M2D_RANK_I_MMAP - 2));
	return 0;
}

void hugetlb_fault_mutex_table_fini(struct m2d_host *host)
{
	if (!host->hugetlb_fault_mutex_table)
		return;
	for (uint32_t i = 0; i < host->num_fault_mutexes; i++)
		m2d_lock_fini(&host->hugetlb_fault_mutex_table[i].c);
	m2d_free(M2D_ALLOC_MM, host->hugetlb_fault_mutex_table,
		 host->num_fault_mutexes * sizeof(*host->hugetlb_fault_mutex_table));
	host->hugetlb_fault_mutex_table = NULL;
}

static inline uint32_t rol32(uint32_t w, unsigned s)
{
	return (w << s) | (w >> (32 - s));
}

/* include/linux/jhash.h: jhash2() of four words, initval 0. */
static uint32_t jhash2_4(const uint32_t k[4])
{
	uint32_t a, b, c;

	a = b = c = 0xdeadbeef + (4u << 2);
	a += k[0];
	b += k[1];
	c += k[2];
	/* __jhash_mix */
	a -= c; a ^= rol32(c, 4);  c += b;
	b -= a; b ^= rol32(a, 6);  a += c;
	c -= b; c ^= rol32(b, 8);  b += a;
	a -= c; a ^= rol32(c, 16); c += b;
	b -= a; b ^= rol32(a, 19); a += c;
	c -= b; c ^= rol32(b, 4);  b += a;
	a += k[3];
	/* __jhash_final */
	c ^= b; c -= rol32(b, 14);
	a ^= c; a -= rol32(c, 11);
	b ^= a; b -= rol32(a, 25);
	c ^= b; c -= rol32(b, 16);
	a ^= c; a -= rol32(c, 4);
	b ^= a; b -= rol32(a, 14);
	c ^= b; c -= rol32(b, 24);
	return c;
}

/*
 * hugetlb_fault_mutex_hash(): key[0] is the mapping, key[1] the huge page
 * index; jhash2 over the key's u32 words (x86-64 little-endian order).  The
 * mapping is keyed by the file's sequence number, not its address, so the
 * buckets (and any contention between them) are deterministic.
 */
uint32_t hugetlb_fault_mutex_hash(const struct m2d_file *f, uint64_t idx)
{
	uint32_t key[4] = { (uint32_t)f->id, (uint32_t)(f->id >> 32),
			    (uint32_t)idx, (uint32_t)(idx >> 32) };

	return jhash2_4(key) & (f->host->num_fault_mutexes - 1);
}

void hugetlb_vma_lock_read(struct m2d_vma *vma)
{
	down_read(&vma_ext(vma)->hugetlb_vma_lock);
}
void hugetlb_vma_unlock_read(struct m2d_vma *vma)
{
	up_read(&vma_ext(vma)->hugetlb_vma_lock);
}
void hugetlb_vma_lock_write(struct m2d_vma *vma)
{
	down_write(&vma_ext(vma)->hugetlb_vma_lock);
}
void hugetlb_vma_unlock_write(struct m2d_vma *vma)
{
	up_write(&vma_ext(vma)->hugetlb_vma_lock);
}

static int hstate_level(const struct m2d_vma *vma)
{
	return order_level(vma->vm_file->order);
}

/*
 * hugetlb_hgm_walk(): the entry that maps @addr at the hstate level or, if
 * that entry is a table (HGM), below it: the first none entry or leaf.
 * With @alloc, tables above the hstate level are allocated (huge_pte_alloc).
 * Return: the entry (its level in *@level), or NULL (-ENOMEM / no tables).
 */
static uint64_t *hgm_walk(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t addr, bool alloc,
			  int *level)
{
	int l = hstate_level(vma), leaf;
	uint64_t *ptep = mm_entry(mm, addr, l, alloc, &leaf);

	if (!ptep)
		return NULL;
	for (;;) {
		uint64_t e = READ_ONCE(*ptep);

		if (pte_none(e) || l == M2D_LEVEL_4K || m2d_pte_is_leaf(mm->fmt, e, l))
			break;
		l--;
		ptep = &m2d_pte_table(mm->fmt, e)[(addr >> (M2D_PAGE_SHIFT + 9 * (l - 1))) & 511];
	}
	*level = l;
	return ptep;
}

/* Frame mapped at @addr by a piece of @folio whose page starts at @hbase. */
static uint64_t piece_pfn(struct m2d_folio *folio, uint64_t hbase, uint64_t addr, int level)
{
	uint64_t base = addr & ~(m2d_level_size(level) - 1);

	return folio_pfn(folio) + ((base - hbase) >> M2D_PAGE_SHIFT);
}

/*
 * hugetlb_fault(): hugetlb_fault_mutex, VMA lock (read), walk; a none entry
 * gets the page-cache page (hugetlb_no_page: allocated + cleared on first
 * use) mapped at the entry's level; a present read-only entry is made
 * writable on a write (hugetlb_wp on a shared mapping).
 * Context: mmap_lock held for read.  Return: 0, -ENOMEM.
 */
int hugetlb_fault(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t addr, bool write)
{
	struct m2d_file *f = vma->vm_file;
	uint64_t hsize = file_page_size(f);
	uint64_t hbase = addr & ~(hsize - 1);
	uint64_t idx = vma_file_offset(vma, hbase) / hsize;
	struct m2d_mutex *fault_mutex;
	struct m2d_folio *folio;
	uint64_t *ptep;
	int level, ret = 0;

	mmap_assert_locked(mm);
	fault_mutex = &f->host->hugetlb_fault_mutex_table[hugetlb_fault_mutex_hash(f, idx)];
	mutex_lock(fault_mutex);
	hugetlb_vma_lock_read(vma);
	ptep = hgm_walk(mm, vma, addr, true, &level);
	if (!ptep) {
		ret = -ENOMEM;
		goto out;
	}
	if (!pte_none(READ_ONCE(*ptep))) {
		ret = mm_fault_present(mm, vma, ptep, addr, level, write);
		goto out;
	}
	ret = file_get_folio(f, idx, mm->cfg.node, &folio);
	if (ret < 0)
		goto out;
	if (ret) {
		mm->stats.faults_alloc++;
		m2d_count(M2D_CTR_host_fault_allocs, 1);
	}
	spin_lock(mm_ptl(mm, addr, level));
	ret = mm_install_leaf(mm, vma, ptep, addr & ~(m2d_level_size(level) - 1), level,
			      piece_pfn(folio, hbase, addr, level), folio, write);
	spin_unlock(mm_ptl(mm, addr, level));
out:
	hugetlb_vma_unlock_read(vma);
	mutex_unlock(fault_mutex);
	return ret;
}

/*
 * unmap_hugepage_range(): __unmap_hugepage_range under the VMA lock and
 * i_mmap_rwsem (write); entries of any size (HGM) are cleared with their
 * rmaps.  Return: leaves cleared.
 */
uint64_t unmap_hugepage_range(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t start,
			      uint64_t end)
{
	uint64_t n;

	hugetlb_vma_lock_write(vma);
	down_write(&vma->vm_file->i_mmap_rwsem);
	n = mm_unmap_page_range(mm, vma, start, end);
	up_write(&vma->vm_file->i_mmap_rwsem);
	hugetlb_vma_unlock_write(vma);
	return n;
}

/* ---- MADV_COLLAPSE -------------------------------------------------------- */

struct collapse_ctx {
	struct m2d_mm *mm;
	struct m2d_vma *vma;
	struct m2d_folio *folio;  /* page-cache folio of the region (NULL: just clear) */
	uint64_t run_first;       /* thp-like: pending run of subpage mapcounts */
	uint64_t run_nr;
	uint64_t head_refs;       /* head-only: references to drop in one subtract */
	uint64_t tables;          /* table pages under the region's entry */
	bool dirty;
};

static void flush_run(struct collapse_ctx *c)
{
	uint64_t atomics = 0;

	if (!c->run_nr)
		return;
	M2D_WARN_ON_ONCE(m2d_folio_remove_subpage_maps(c->mm->host, c->folio, c->run_first,
						       c->run_nr, &atomics));
	mm_count_mapcount_atomics(c->mm, atomics, c->run_nr);
	c->run_nr = 0;
}

/* __unmap_hugepage_range over one region: clear every entry below @table. */
static void collapse_teardown(struct collapse_ctx *c, uint64_t *table, int level, uint64_t addr)
{
	struct m2d_mm *mm = c->mm;
	uint64_t size = m2d_level_size(level);

	c->tables++;
	for (unsigned i = 0; i < M2D_PT_ENTRIES; i++, addr += size) {
		uint64_t *ptep = &table[i];
		uint64_t e = READ_ONCE(*ptep);
		uint64_t pfn, nr;

		m2d_delay(M2D_COST_MM_PTE_VISIT, 1);
		if (pte_none(e))
			continue;
		if (!m2d_pte_is_leaf(mm->fmt, e, level)) {
			collapse_teardown(c, m2d_pte_table(mm->fmt, e), level - 1, addr);
			continue;
		}
		spin_lock(mm_ptl(mm, addr, level));
		m2d_pt_set_pte(mm->pgd, ptep, addr, level, 0);
		spin_unlock(mm_ptl(mm, addr, level));
		m2d_delay(M2D_COST_MM_PTE_UPDATE, 1);
		mm->stats.ptes_zapped++;
		mm->stats.rss_file -= size;
		if (m2d_pte_prot(mm->fmt, e, level) & M2D_PROT_D)
			c->dirty = true;
		if (!c->folio)
			continue;
		pfn = m2d_pte_pfn(mm->fmt, e, level);
		nr = size >> M2D_PAGE_SHIFT;
		if (mm->cfg.mapcount == M2D_MM_MAPCOUNT_HEAD_ONLY) {
			c->head_refs++;
		} else if (c->run_nr && c->run_first + c->run_nr == pfn - folio_pfn(c->folio)) {
			c->run_nr += nr;
		} else {
			flush_run(c);
			c->run_first = pfn - folio_pfn(c->folio);
			c->run_nr = nr;
		}
	}
}

/* Collapse the region [@base, @base + size(@level)) if its entry is a table. */
static int collapse_region(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t base, int level)
{
	struct m2d_file *f = vma->vm_file;
	uint64_t hsize = file_page_size(f);
	uint64_t hbase = base & ~(hsize - 1);
	struct collapse_ctx c = { .mm = mm, .vma = vma };
	uint64_t *ptep, e;
	int leaf, ret = 0;

	ptep = mm_entry(mm, base, level, false, &leaf);
	if (!ptep)
		return 0;
	e = READ_ONCE(*ptep);
	if (pte_none(e) || m2d_pte_is_leaf(mm->fmt, e, level))
		return 0; /* nothing mapped, or already huge */
	c.folio = file_lookup(f, vma_file_offset(vma, hbase) / hsize);
	collapse_teardown(&c, m2d_pte_table(mm->fmt, e), level - 1, base);
	flush_run(&c);
	if (c.head_refs) {
		uint64_t atomics = 0;

		M2D_WARN_ON_ONCE(m2d_folio_remove_head_maps(c.folio, c.head_refs, &atomics));
		mm_count_mapcount_atomics(mm, atomics, 0);
	}
	/* free the now-empty tables, then install the huge entry under its lock */
	spin_lock(mm_ptl(mm, base, level));
	m2d_pt_set_pte(mm->pgd, ptep, base, level, 0);
	m2d_delay(M2D_COST_MM_PT_FREE, c.tables);
	mm->stats.tables_freed += c.tables;
	if (c.folio) {
		ret = mm_install_leaf(mm, vma, ptep, base, level, piece_pfn(c.folio, hbase, base, level),
				      c.folio, c.dirty);
		if (!ret) {
			mm->stats.collapses++;
			m2d_count(M2D_CTR_hugetlb_collapses, 1);
		}
	}
	spin_unlock(mm_ptl(mm, base, level));
	return ret;
}

/**
 * hugetlb_collapse() - MADV_COLLAPSE on [@start, @end) of a HugeTLB VMA.
 * Context: mmap_write_lock held (madvise).
 * Return: 0, -ENOMEM (rmap counters).
 */
int hugetlb_collapse(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t start, uint64_t end)
{
	uint64_t hsize = m2d_vma_kernel_pagesize(vma);
	int hlevel = hstate_level(vma);
	struct m2d_mmu_notifier_range range = {
		.mm = mm, .start = start, .end = end, .event = M2D_MMU_NOTIFY_CLEAR,
		.may_block = true,
	};
	int ret = 0;

	mmap_assert_write_locked(mm);
	if (!hugetlb_hgm_enabled(vma))
		return 0; /* no high-granularity mappings can exist */
	m2d_mmu_notifier_invalidate_range_start(&range);
	hugetlb_vma_lock_write(vma);
	down_write(&vma->vm_file->i_mmap_rwsem);
	for (uint64_t a = start & ~(hsize - 1); a < end && !ret; a += hsize) {
		if (a >= start && a + hsize <= end) {
			ret = collapse_region(mm, vma, a, hlevel);
		} else if (hlevel == M2D_LEVEL_1G) {
			uint64_t s = M2D_MAX(a, M2D_ALIGN_UP(start, M2D_PMD_SIZE));
			uint64_t e = M2D_MIN(a + hsize, end & ~(M2D_PMD_SIZE - 1));

			for (uint64_t b = s; b < e && !ret; b += M2D_PMD_SIZE)
				ret = collapse_region(mm, vma, b, M2D_LEVEL_2M);
		}
		cond_resched();
	}
	mm_flush_tlb_range(mm, start, end);
	up_write(&vma->vm_file->i_mmap_rwsem);
	hugetlb_vma_unlock_write(vma);
	m2d_mmu_notifier_invalidate_range_end(&range);
	return ret;
}

/* ---- UFFDIO_CONTINUE ------------------------------------------------------- */

/*
 * hugetlb_mfill_atomic_pte(MFILL_ATOMIC_CONTINUE) for one piece: the entry
 * at @level mapping @addr must be none (tables above are allocated).
 */
static int continue_piece(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t addr, int level)
{
	struct m2d_file *f = vma->vm_file;
	uint64_t hsize = file_page_size(f);
	uint64_t hbase = addr & ~(hsize - 1);
	struct m2d_folio *folio;
	uint64_t *ptep;
	int leaf, ret;

	folio = file_lookup(f, vma_file_offset(vma, hbase) / hsize);
	if (!folio)
		return -EFAULT;
	ptep = mm_entry(mm, addr, level, true, &leaf);
	if (!ptep)
		return leaf ? -EEXIST : -ENOMEM;
	if (!pte_none(READ_ONCE(*ptep)))
		return m2d_pte_is_leaf(mm->fmt, READ_ONCE(*ptep), level) ? -EEXIST : -EAGAIN;
	spin_lock(mm_ptl(mm, addr, level));
	ret = mm_install_leaf(mm, vma, ptep, addr, level, piece_pfn(folio, hbase, addr, level),
			      folio, false);
	spin_unlock(mm_ptl(mm, addr, level));
	return ret;
}

static int mfill_atomic_continue(struct m2d_mm *mm, uint64_t addr, uint64_t len)
{
	struct m2d_vma *vma;
	uint64_t end, hsize;
	int hlevel, ret = 0;

	M2D_VALIDATE_OR_RET(mm, -EINVAL);
	if (!len || (addr & (M2D_PAGE_SIZE - 1)) || (len & (M2D_PAGE_SIZE - 1)) ||
	    addr > TASK_SIZE - len)
		return -EINVAL;
	end = addr + len;
	m2d_delay(M2D_COST_MM_SYSCALL, 1);
	mm_note_cpu(mm);
	mmap_read_lock(mm);
	vma = m2d_vma_lookup(mm, addr);
	if (!vma || vma->vm_end < end || !is_vm_hugetlb_page(vma) ||
	    !(vma->vm_flags & VM_SHARED)) {
		ret = -EINVAL;
		goto out;
	}
	hsize = m2d_vma_kernel_pagesize(vma);
	hlevel = hstate_level(vma);
	if (!hugetlb_hgm_enabled(vma) && ((addr | len) & (hsize - 1))) {
		ret = -EINVAL;
		goto out;
	}
	/*
	 * mfill_atomic_hugetlb(): the fault mutex of each huge page, then the
	 * VMA lock; pieces of one huge page are filled under one hold.
	 */
	while (addr < end && !ret) {
		struct m2d_file *f = vma->vm_file;
		uint64_t hbase = addr & ~(hsize - 1);
		uint64_t hend = hbase + hsize < end ? hbase + hsize : end;
		struct m2d_mutex *fault_mutex = &f->host->hugetlb_fault_mutex_table[
			hugetlb_fault_mutex_hash(f, vma_file_offset(vma, hbase) / hsize)];

		mutex_lock(fault_mutex);
		hugetlb_vma_lock_read(vma);
		while (addr < hend && !ret) {
			int level = hlevel;

			/* the largest piece that @addr's alignment and the remaining length allow */
			while (level > M2D_LEVEL_4K && ((addr & (m2d_level_size(level) - 1)) ||
							end - addr < m2d_level_size(level)))
				level--;
			ret = continue_piece(mm, vma, addr, level);
			/* a table at @level (finer pieces mapped): map this piece at the next level down */
			while (ret == -EAGAIN && level > M2D_LEVEL_4K)
				ret = continue_piece(mm, vma, addr, --level);
			if (!ret)
				addr += m2d_level_size(level);
		}
		hugetlb_vma_unlock_read(vma);
		mutex_unlock(fault_mutex);
	}
out:
	mmap_read_unlock(mm);
	return ret;
}

int m2d_mm_uffd_continue(struct m2d_mm *mm, uint64_t addr, uint64_t len)
{
	M2D_VALIDATE_OR_RET(mm, -EINVAL);
	return mm_call_entered(mm->host, mfill_atomic_continue(mm, addr, len));
}
