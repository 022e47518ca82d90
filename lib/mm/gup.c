// SPDX-License-Identifier: MIT
/*
 * lib/mm/gup.c - get_user_pages (mm/gup.c), follow_pfnmap (mm/memory.c),
 * and the host mapping level lookup KVM does (host_pfn_mapping_level).
 *
 * GUP fast is the hot path of every replay (33.5M calls in a full-scale
 * mmu_stress run): one lockless page-table walk (m2d_pt_walk), the
 * pte_special/protnone/write checks of gup_fast_pte_range, one cost charge
 * and two counter increments; no allocation, no lock.
 *
 * References: GUP takes a folio reference in the kernel which KVM drops
 * right after installing the SPTE (kvm_release_faultin_page).  The model
 * charges both (MM_GUP_FAST includes the try_grab_folio atomic,
 * MM_PUT_PAGE the drop) but does not track these transient references:
 * nothing here frees a folio while a notifier-protected user such as KVM
 * holds one, because every free path first runs the notifier.
 */
#include "mm/mm_types.h"

#include <errno.h>

bool m2d_get_user_page_fast_only(struct m2d_mm *mm, uint64_t addr, unsigned gup_flags,
				 m2d_pfn_t *pfn, bool *writable)
{
	struct m2d_pt_walk w;

	m2d_delay(M2D_COST_MM_GUP_FAST, 1);
	m2d_count(M2D_CTR_gup_fast, 1);
	mm->stats.gup_fast++;
	mm_note_cpu(mm);
	/* gup_fast_pgd_range ... gup_fast_pte_range (IRQs off, no locks) */
	m2d_pt_walk(mm->pgd, addr, &w);
	if (unlikely(!w.present || (w.prot & (PTE_SPECIAL | PTE_PROTNONE)) ||
		     ((gup_flags & FOLL_WRITE) && !(w.prot & M2D_PROT_W)))) {
		m2d_count(M2D_CTR_gup_fast_failed, 1);
		mm->stats.gup_fast_failed++;
		return false;
	}
	*pfn = m2d_pfn_from_u64(w.pfn);
	if (writable)
		*writable = (w.prot & M2D_PROT_W) != 0;
	return true;
}

void m2d_put_page(m2d_pfn_t pfn)
{
	m2d_delay(M2D_COST_MM_PUT_PAGE, 1);
}

/* check_vma_flags(): may GUP touch @vma for this access? */
static bool check_vma_flags(const struct m2d_vma *vma, unsigned gup_flags)
{
	if (vma->vm_flags & (VM_IO | VM_PFNMAP))
		return false;
	if (gup_flags & FOLL_WRITE)
		return (vma->vm_flags & VM_WRITE) != 0;
	return (vma->vm_flags & VM_READ) != 0;
}

/* follow_page_mask(): the walk of the slow path, under mmap_lock. */
static bool follow_page(struct m2d_mm *mm, uint64_t addr, unsigned gup_flags, m2d_pfn_t *pfn,
			bool *writable)
{
	struct m2d_pt_walk w;

	m2d_pt_walk(mm->pgd, addr, &w);
	if (!w.present || (w.prot & (PTE_SPECIAL | PTE_PROTNONE)))
		return false;
	if ((gup_flags & FOLL_WRITE) && !(w.prot & M2D_PROT_W))
		return false;
	*pfn = m2d_pfn_from_u64(w.pfn);
	*writable = (w.prot & M2D_PROT_W) != 0;
	return true;
}

/*
 * get_user_pages_unlocked() for one page: mmap_read_lock, then
 * __get_user_pages: vma_lookup + check_vma_flags, follow_page_mask, and on
 * a miss faultin_page (handle_mm_fault) and retry.  FOLL_NOWAIT only
 * matters for faults that wait for I/O, which the model does not have.
 */
long m2d_get_user_pages_unlocked(struct m2d_mm *mm, uint64_t addr, unsigned gup_flags,
				 m2d_pfn_t *pfn, bool *writable)
{
	struct m2d_vma *vma;
	m2d_pfn_t p;
	bool w = false;
	long ret;

	m2d_count(M2D_CTR_gup_slow, 1);
	mm->stats.gup_slow++;
	mm_note_cpu(mm);
	mmap_read_lock(mm);
	m2d_delay(M2D_COST_MM_GUP_SLOW, 1);
	vma = m2d_vma_lookup(mm, addr);
	if (!vma || !check_vma_flags(vma, gup_flags)) {
		ret = -EFAULT;
		goto out;
	}
	for (int tries = 0;; tries++) {
		int err;

		if (follow_page(mm, addr, gup_flags, &p, &w)) {
			ret = 1;
			break;
		}
		/* a concurrent zap or split can undo the fault: retry, as __get_user_pages does */
		if (M2D_WARN_ON_ONCE(tries > 64)) {
			ret = -EFAULT;
			break;
		}
		err = m2d_mm_handle_fault(mm, addr, gup_flags & FOLL_WRITE);
		if (err) {
			ret = err == -ENOMEM ? -ENOMEM : -EFAULT;
			break;
		}
	}
out:
	mmap_read_unlock(mm);
	if (ret == 1) {
		*pfn = p;
		if (writable)
			*writable = w;
	}
	return ret;
}

int m2d_follow_pfnmap(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t addr, bool write_fault,
		      struct m2d_follow_pfnmap_args *args)
{
	mmap_assert_locked(mm);
	if (!vma || !(vma->vm_flags & (VM_IO | VM_PFNMAP)) || addr < vma->vm_start ||
	    addr >= vma->vm_end)
		return -EFAULT;
	for (int tries = 0; tries < 2; tries++) {
		struct m2d_pt_walk w;
		int err;

		/* follow_pfnmap_start() */
		m2d_pt_walk(mm->pgd, addr, &w);
		if (w.present && !(w.prot & PTE_PROTNONE) &&
		    (!write_fault || (w.prot & M2D_PROT_W))) {
			args->pfn = m2d_pfn_from_u64(w.pfn);
			args->writable = (w.prot & M2D_PROT_W) != 0;
			args->level = w.level;
			return 0;
		}
		/* fixup_user_fault() */
		err = m2d_mm_handle_fault(mm, addr, write_fault);
		if (err)
			return err == -ENOMEM ? -ENOMEM : -EFAULT;
	}
	return -EFAULT;
}

int m2d_host_mapping_level(struct m2d_mm *mm, uint64_t addr)
{
	struct m2d_pt_walk w;

	m2d_pt_walk(mm->pgd, addr, &w);
	if (!w.present)
		return M2D_LEVEL_4K;
	return w.level;
}
