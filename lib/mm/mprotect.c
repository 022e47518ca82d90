// SPDX-License-Identifier: MIT
/*
 * lib/mm/mprotect.c - mprotect() and change_protection() (mm/mprotect.c,
 * mm/hugetlb.c hugetlb_change_protection()).
 *
 * Where the mmu_notifier fires is the point of this file (MECHANISMS.md 5.4):
 *
 *   M2D_MM_NOTIFIER_PUD  (commit a5338093bfb4, 2014, until 2024)
 *       change_pmd_range() starts a range lazily at the first populated PMD
 *       of each PUD range: one start/end pair per populated 1 GiB span,
 *       covering [first populated PMD address, end of that PUD range).
 *   M2D_MM_NOTIFIER_P4D  (Peter Xu, "mm/mprotect: Push mmu notifier to
 *       PUDs", 2024)
 *       change_pud_range() starts a range lazily at the first populated PUD
 *       of each P4D range: one pair per populated 512 GiB span, covering
 *       [first populated PUD address, end of that P4D range).
 *
 * The event is MMU_NOTIFY_PROTECTION_VMA.  HugeTLB VMAs go through
 * hugetlb_change_protection(), which fires one pair over the whole range
 * (widened by adjust_range_if_pmd_sharing_possible()) whether or not
 * anything is mapped.  mprotect holds mmap_write_lock throughout.
 *
 * New entries keep the frame and the accessed/dirty/special bits and take
 * the VMA's protection (pte_modify(oldpte, vma->vm_page_prot)); a writable
 * VMA gets writable entries (shmem MAP_SHARED without writenotify, and
 * exclusive anonymous pages via MM_CP_TRY_CHANGE_WRITABLE, which is every
 * anonymous page here since fork is not modelled).
 */
#include "mm/mm_types.h"

#include <errno.h>

struct cp_ctx {
	struct m2d_mm *mm;
	struct m2d_vma *vma;
	unsigned newprot;      /* vma_pte_prot() */
	uint64_t pages;        /* present entries processed (the kernel's "pages") */
	bool need_flush;       /* a permission was removed (pte_needs_flush) */
};

/* pte_modify() + ptep_modify_prot_commit() of one present leaf. */
static void change_leaf(struct cp_ctx *c, uint64_t *ptep, uint64_t addr, int level)
{
	struct m2d_mm *mm = c->mm;
	uint64_t old = READ_ONCE(*ptep), new;
	unsigned oprot = m2d_pte_prot(mm->fmt, old, level);
	unsigned keep = oprot & (M2D_PROT_A | M2D_PROT_D | PTE_SPECIAL);
	unsigned nprot = c->newprot | keep;

	lockdep_assert_held(mm_ptl(mm, addr, level));
	new = m2d_pte_make_leaf(mm->fmt, level, m2d_pte_pfn(mm->fmt, old, level), nprot);
	c->pages++;
	mm->stats.ptes_changed++;
	if (new == old)
		return;
	m2d_pt_set_pte(mm->pgd, ptep, addr, level, new);
	m2d_delay(M2D_COST_MM_PTE_UPDATE, 1);
	if (((oprot & ~nprot) & (M2D_PROT_W | M2D_PROT_X)) ||
	    ((nprot & PTE_PROTNONE) && !(oprot & PTE_PROTNONE)))
		c->need_flush = true;
}

/* change_pte_range(): every PTE of one table in [@addr, @end) under the PTE lock. */
static void change_pte_range(struct cp_ctx *c, uint64_t *pte, uint64_t addr, uint64_t end)
{
	struct m2d_spinlock *ptl = mm_ptl(c->mm, addr, M2D_LEVEL_4K);

	spin_lock(ptl);
	do {
		uint64_t *ptep = &pte[(addr >> M2D_PAGE_SHIFT) & 511];

		m2d_delay(M2D_COST_MM_PTE_VISIT, 1);
		if (!pte_none(READ_ONCE(*ptep)))
			change_leaf(c, ptep, addr, M2D_LEVEL_4K);
		addr += M2D_PAGE_SIZE;
	} while (addr != end);
	spin_unlock(ptl);
}

/* change_huge_pmd()/change_huge_pud() under the entry's lock. */
static void change_huge(struct cp_ctx *c, uint64_t *ptep, uint64_t addr, int level)
{
	struct m2d_spinlock *ptl = mm_ptl(c->mm, addr, level);

	spin_lock(ptl);
	if (m2d_pte_is_leaf(c->mm->fmt, READ_ONCE(*ptep), level))
		change_leaf(c, ptep, addr, level);
	spin_unlock(ptl);
}

static void range_start(struct cp_ctx *c, struct m2d_mmu_notifier_range *range, uint64_t start,
			uint64_t end)
{
	range->mm = c->mm;
	range->start = start;
	range->end = end;
	range->event = M2D_MMU_NOTIFY_PROTECTION_VMA;
	range->may_block = true;
	m2d_mmu_notifier_invalidate_range_start(range);
}

/* change_pmd_range(): [@addr, @end) lies within one PUD range. */
static void change_pmd_range(struct cp_ctx *c, uint64_t *pmd, uint64_t addr, uint64_t end)
{
	struct m2d_mm *mm = c->mm;
	struct m2d_mmu_notifier_range range = { .start = 0 };
	bool started = false;

	do {
		uint64_t next = level_addr_end(addr, end, M2D_LEVEL_2M);
		uint64_t *pmdp = &pmd[(addr >> M2D_PMD_SHIFT) & 511];
		uint64_t e = READ_ONCE(*pmdp);

		m2d_delay(M2D_COST_MM_PTE_VISIT, 1);
		if (pte_none(e))
			goto next;
		/* pre-2024: invoke the mmu notifier if the pmd is populated */
		if (mm->cfg.notifier == M2D_MM_NOTIFIER_PUD && !started) {
			range_start(c, &range, addr, end);
			started = true;
		}
		if (m2d_pte_is_leaf(mm->fmt, e, M2D_LEVEL_2M)) {
			if (next - addr != M2D_PMD_SIZE) {
				mm_split_huge_pmd(mm, c->vma, pmdp, addr);
				e = READ_ONCE(*pmdp);
				if (pte_none(e))
					goto next; /* special entry: cleared, refaults */
			} else {
				change_huge(c, pmdp, addr, M2D_LEVEL_2M);
				goto next;
			}
		}
		change_pte_range(c, m2d_pte_table(mm->fmt, e), addr, next);
next:
		cond_resched();
		addr = next;
	} while (addr != end);
	if (started)
		m2d_mmu_notifier_invalidate_range_end(&range);
}

/* change_pud_range(): [@addr, @end) lies within one P4D range. */
static void change_pud_range(struct cp_ctx *c, uint64_t *pud, uint64_t addr, uint64_t end)
{
	struct m2d_mm *mm = c->mm;
	struct m2d_mmu_notifier_range range = { .start = 0 };
	bool started = false;

	do {
		uint64_t next = level_addr_end(addr, end, M2D_LEVEL_1G);
		uint64_t *pudp = &pud[(addr >> M2D_PUD_SHIFT) & 511];
		uint64_t e = READ_ONCE(*pudp);

		m2d_delay(M2D_COST_MM_PTE_VISIT, 1);
		if (pte_none(e))
			goto next;
		if (mm->cfg.notifier == M2D_MM_NOTIFIER_P4D && !started) {
			range_start(c, &range, addr, end);
			started = true;
		}
		if (m2d_pte_is_leaf(mm->fmt, e, M2D_LEVEL_1G)) {
			/* huge pfnmap PUD (the only PUD leaf outside HugeTLB) */
			if (next - addr != M2D_PUD_SIZE) {
				mm_split_huge_pud(mm, c->vma, pudp, addr);
			} else if (mm->cfg.notifier == M2D_MM_NOTIFIER_PUD) {
				/*
				 * The pre-2024 walk had no PUD-leaf case; notify the
				 * leaf's range as change_pmd_range would for a PMD.
				 */
				struct m2d_mmu_notifier_range r;

				range_start(c, &r, addr, next);
				change_huge(c, pudp, addr, M2D_LEVEL_1G);
				m2d_mmu_notifier_invalidate_range_end(&r);
			} else {
				change_huge(c, pudp, addr, M2D_LEVEL_1G);
			}
			goto next;
		}
		change_pmd_range(c, m2d_pte_table(mm->fmt, e), addr, next);
next:
		addr = next;
	} while (addr != end);
	if (started)
		m2d_mmu_notifier_invalidate_range_end(&range);
}

/* change_protection_range(): pgd/p4d (one level with 4-level paging). */
static void change_protection_range(struct cp_ctx *c, uint64_t addr, uint64_t end)
{
	struct m2d_mm *mm = c->mm;
	uint64_t *pgd = m2d_pt_root(mm->pgd);

	do {
		uint64_t next = level_addr_end(addr, end, M2D_LEVEL_512G);
		uint64_t e = READ_ONCE(pgd[(addr >> M2D_P4D_SHIFT) & 511]);

		m2d_delay(M2D_COST_MM_PTE_VISIT, 1);
		if (!pte_none(e))
			change_pud_range(c, m2d_pte_table(mm->fmt, e), addr, next);
		addr = next;
	} while (addr != end);
}

/* Every leaf (any level: HugeTLB HGM) in [@addr, @end) under @table at @level. */
static void change_leaves(struct cp_ctx *c, uint64_t *table, int level, uint64_t addr,
			  uint64_t end)
{
	struct m2d_mm *mm = c->mm;

	do {
		uint64_t next = level_addr_end(addr, end, level);
		uint64_t *ptep = &table[(addr >> (M2D_PAGE_SHIFT + 9 * (level - 1))) & 511];
		uint64_t e = READ_ONCE(*ptep);

		m2d_delay(M2D_COST_MM_PTE_VISIT, 1);
		if (!pte_none(e)) {
			if (m2d_pte_is_leaf(mm->fmt, e, level)) {
				struct m2d_spinlock *ptl = mm_ptl(mm, addr, level);

				spin_lock(ptl);
				change_leaf(c, ptep, addr & ~(m2d_level_size(level) - 1), level);
				spin_unlock(ptl);
			} else {
				change_leaves(c, m2d_pte_table(mm->fmt, e), level - 1, addr, next);
			}
		}
		addr = next;
	} while (addr != end);
}

/* adjust_range_if_pmd_sharing_possible() */
static void adjust_range_if_pmd_sharing_possible(struct m2d_vma *vma, uint64_t *start,
						 uint64_t *end)
{
	uint64_t v_start = M2D_ALIGN_UP(vma->vm_start, M2D_PUD_SIZE);
	uint64_t v_end = M2D_ALIGN_DOWN(vma->vm_end, M2D_PUD_SIZE);

	if (!(vma->vm_flags & VM_SHARED) || !(v_end > v_start) || *end <= v_start ||
	    *start >= v_end)
		return;
	if (*start > v_start)
		*start = M2D_ALIGN_DOWN(*start, M2D_PUD_SIZE);
	if (*end < v_end)
		*end = M2D_ALIGN_UP(*end, M2D_PUD_SIZE);
}

/**
 * hugetlb_change_protection() - change_protection() of a HugeTLB VMA: one
 * notifier pair over the (PMD-sharing widened) range, hugetlb VMA lock and
 * i_mmap_rwsem for writing, every leaf of any size, flush.
 * Return: present entries processed.
 */
uint64_t hugetlb_change_protection(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t start,
				   uint64_t end, unsigned newprot)
{
	struct cp_ctx c = { .mm = mm, .vma = vma, .newprot = newprot };
	struct m2d_mmu_notifier_range range = {
		.mm = mm, .start = start, .end = end,
		.event = M2D_MMU_NOTIFY_PROTECTION_VMA, .may_block = true,
	};

	mmap_assert_write_locked(mm);
	adjust_range_if_pmd_sharing_possible(vma, &range.start, &range.end);
	m2d_mmu_notifier_invalidate_range_start(&range);
	hugetlb_vma_lock_write(vma);
	down_write(&vma->vm_file->i_mmap_rwsem);
	change_leaves(&c, m2d_pt_root(mm->pgd), m2d_pt_root_level(mm->pgd), start, end);
	/* flush_hugetlb_tlb_range(): always, as the kernel does after the walk */
	mm_flush_tlb_range(mm, start, end);
	up_write(&vma->vm_file->i_mmap_rwsem);
	hugetlb_vma_unlock_write(vma);
	m2d_mmu_notifier_invalidate_range_end(&range);
	return c.pages;
}

/**
 * change_protection() - apply @vma's protection to its entries in [@start, @end).
 * @need_flush: set if a TLB flush is owed at tlb_finish_mmu.
 * Context: mmap_write_lock held.
 * Return: present entries processed.
 */
uint64_t change_protection(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t start, uint64_t end,
			   bool *need_flush)
{
	struct cp_ctx c = { .mm = mm, .vma = vma, .newprot = vma_pte_prot(vma) };

	mmap_assert_write_locked(mm);
	if (is_vm_hugetlb_page(vma))
		return hugetlb_change_protection(mm, vma, start, end, c.newprot);
	change_protection_range(&c, start, end);
	if (c.need_flush)
		*need_flush = true;
	return c.pages;
}

/*
 * do_mprotect_pkey(): for each VMA in the range, mprotect_fixup() (split,
 * set flags, merge, change_protection), stopping with -ENOMEM at the first
 * hole (VMAs before it keep their new protection, as in the kernel);
 * tlb_finish_mmu() at the end.
 */
static int do_mprotect_pkey(struct m2d_mm *mm, uint64_t start, uint64_t len, unsigned prot)
{
	const unsigned protmask = VM_READ | VM_WRITE | VM_EXEC;
	unsigned vmprot;
	bool need_flush = false;
	uint64_t end, tmp;
	size_t idx;
	int ret = 0;

	M2D_VALIDATE_OR_RET(mm, -EINVAL);
	if (prot & ~(unsigned)(M2D_PROT_READ | M2D_PROT_WRITE | M2D_PROT_EXEC))
		return -EINVAL;
	if ((start & (M2D_PAGE_SIZE - 1)) || len > TASK_SIZE_MAX || start > TASK_SIZE_MAX - len)
		return -EINVAL;
	len = M2D_ALIGN_UP(len, M2D_PAGE_SIZE);
	if (!len)
		return 0;
	end = start + len;
	vmprot = calc_vm_prot_bits(prot);

	m2d_delay(M2D_COST_MM_SYSCALL, 1);
	mm_note_cpu(mm);
	mmap_write_lock(mm);
	idx = mm_vma_index(mm, start);
	if (idx == mm->nr_vmas || mm->vmas[idx]->vm_start > start) {
		ret = -ENOMEM;
		goto out;
	}
	for (tmp = start;;) {
		struct m2d_vma *vma = mm->vmas[idx];
		unsigned newflags = (vma->vm_flags & ~protmask) | vmprot;
		uint64_t tmp_end = M2D_MIN(vma->vm_end, end);

		if ((newflags & VM_WRITE) && !(newflags & VM_MAYWRITE)) {
			ret = -EACCES;
			break;
		}
		/* mprotect_fixup(): nothing to do if the flags do not change */
		if (newflags != vma->vm_flags) {
			ret = mm_vma_modify_flags(mm, &idx, tmp, tmp_end, newflags);
			if (ret)
				break;
			change_protection(mm, m2d_vma_lookup(mm, tmp), tmp, tmp_end, &need_flush);
		}
		tmp = tmp_end;
		if (tmp >= end)
			break;
		/* the next VMA must start at @tmp (or contain it, after a merge) */
		idx = mm_vma_index(mm, tmp);
		if (idx == mm->nr_vmas || mm->vmas[idx]->vm_start > tmp) {
			ret = -ENOMEM;
			break;
		}
	}
	if (need_flush)
		mm_flush_tlb_range(mm, start, end);
out:
	mmap_write_unlock(mm);
	return ret;
}

int m2d_mm_mprotect(struct m2d_mm *mm, uint64_t start, uint64_t len, unsigned prot)
{
	M2D_VALIDATE_OR_RET(mm, -EINVAL);
	return mm_call_entered(mm->host, do_mprotect_pkey(mm, start, len, prot));
}
