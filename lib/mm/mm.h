/* SPDX-License-Identifier: MIT */
/*
 * lib/mm/mm.h - host process address spaces: the interface KVM (and coco)
 * use inside the library.
 *
 * A struct m2d_mm is a host process's mm_struct: VMAs in address order
 * (the maple tree's role), host page tables (an m2d_pt in x86-64 format,
 * or the arm64 4K-granule geometry), mmap_lock (an rw_semaphore), the
 * registered mmu_notifier subscriptions and the mm's own counters.
 *
 * What KVM uses, with the kernel function each one mirrors:
 *
 *   mmap_read_lock(mm) / mmap_read_unlock(mm)       include/linux/mmap_lock.h
 *   mmap_write_lock(mm) / mmap_write_unlock(mm)
 *   mmap_assert_locked(mm) / mmap_assert_write_locked(mm)
 *   m2d_vma_lookup(mm, hva)                          vma_lookup()
 *   m2d_vma_kernel_pagesize(vma)                     vma_kernel_pagesize()
 *   m2d_get_user_page_fast_only(mm, hva, flags, &pfn, &writable)
 *                                                    get_user_page_fast_only()
 *   m2d_get_user_pages_unlocked(mm, hva, flags, &pfn, &writable)
 *                                                    get_user_pages_unlocked()
 *   m2d_follow_pfnmap(mm, vma, hva, write, &args)    fixup_user_fault() +
 *                                                    follow_pfnmap_start/end()
 *   m2d_host_mapping_level(mm, hva)                  host_pfn_mapping_level()'s
 *                                                    lockless pgd..pte walk
 *   m2d_put_page(pfn)                                put_page()/kvm_release_page_*
 *   m2d_mmu_notifier_register(sub, mm) / _unregister  mm/mmu_notifier.c
 *
 * KVM's hva_to_pfn() is KVM's: it calls the fast GUP, then the slow one
 * (or stops with KVM_PFN_ERR_FAULT / -EAGAIN for FOLL_NOWAIT), then, under
 * mmap_read_lock, vma_lookup() and m2d_follow_pfnmap() for VM_PFNMAP|VM_IO
 * VMAs, exactly as virt/kvm/kvm_main.c does.
 *
 * Locking (MECHANISMS.md 9): mmap_lock (rank MMAP_LOCK) -> page-table locks
 * (rank PTL) -> mmu_notifier start (SRCU; subscribers take their own locks,
 * e.g. kvm->mn_invalidate_lock, kvm->mmu_lock).  invalidate_range_start/end
 * are called with mmap_lock held (read or write, as the kernel path holds
 * it) and with NO page-table lock held.
 */
#ifndef M2D_LIB_MM_MM_H
#define M2D_LIB_MM_MM_H

#include <mmu2d/mm.h>
#include <mmu2d/pt.h>

#include "core/kernel.h"

struct m2d_mm;
struct m2d_vma;
struct m2d_file;

/* ---- VMAs ---------------------------------------------------------------- */

/* vm_flags, the kernel's bit meanings (values are ours). */
enum m2d_vm_flags {
	VM_READ = 1u << 0,
	VM_WRITE = 1u << 1,
	VM_EXEC = 1u << 2,
	VM_SHARED = 1u << 3,
	VM_MAYWRITE = 1u << 4,
	VM_IO = 1u << 5,          /* device memory (set with VM_PFNMAP) */
	VM_PFNMAP = 1u << 6,      /* raw PFNs, no struct page (remap_pfn_range, vfio) */
	VM_HUGETLB = 1u << 7,     /* hugetlbfs mapping */
	VM_HUGEPAGE = 1u << 8,    /* MADV_HUGEPAGE */
	VM_NOHUGEPAGE = 1u << 9,  /* MADV_NOHUGEPAGE */
	VM_HUGETLB_HGM = 1u << 10,/* MADV_SPLIT: HugeTLB high-granularity mapping */
	VM_DONTEXPAND = 1u << 11,
};

/*
 * struct m2d_vma - a vm_area_struct.  Fields are read-only outside lib/mm
 * and stable only while mmap_lock is held (read or write).
 */
struct m2d_vma {
	uint64_t vm_start;          /* first address, page aligned */
	uint64_t vm_end;            /* one past the last address */
	unsigned vm_flags;          /* enum m2d_vm_flags */
	uint64_t vm_pgoff;          /* file offset of vm_start, in 4K pages;
	                               PFNMAP: first PFN (remap_pfn_range's vm_pgoff) */
	struct m2d_file *vm_file;   /* shmem/hugetlbfs file, NULL for anon/PFNMAP */
	struct m2d_mm *vm_mm;
};

/*
 * m2d_vma_lookup() - the VMA containing @addr, or NULL (vma_lookup()).
 * Context: mmap_lock held (read or write).
 */
struct m2d_vma *m2d_vma_lookup(struct m2d_mm *mm, uint64_t addr);

/*
 * m2d_vma_kernel_pagesize() - page size backing @vma: the hstate size for
 * hugetlbfs (2M or 1G), PAGE_SIZE otherwise (vma_kernel_pagesize()).
 */
uint64_t m2d_vma_kernel_pagesize(const struct m2d_vma *vma);

/* ---- mmap_lock ----------------------------------------------------------- */

/* The rw_semaphore of @mm (for lockdep assertions in other modules). */
struct m2d_rwsem *m2d_mm_mmap_lock(struct m2d_mm *mm);

static inline void mmap_read_lock(struct m2d_mm *mm)
{
	down_read(m2d_mm_mmap_lock(mm));
}
static inline void mmap_read_unlock(struct m2d_mm *mm)
{
	up_read(m2d_mm_mmap_lock(mm));
}
static inline void mmap_write_lock(struct m2d_mm *mm)
{
	down_write(m2d_mm_mmap_lock(mm));
}
static inline void mmap_write_unlock(struct m2d_mm *mm)
{
	up_write(m2d_mm_mmap_lock(mm));
}
static inline void mmap_write_downgrade(struct m2d_mm *mm)
{
	downgrade_write(m2d_mm_mmap_lock(mm));
}
/* mmap_assert_locked()/mmap_assert_write_locked(): lockdep + rwsem state check. */
void m2d_mmap_assert_locked(struct m2d_mm *mm);
void m2d_mmap_assert_write_locked(struct m2d_mm *mm);
#define mmap_assert_locked(mm) m2d_mmap_assert_locked(mm)
#define mmap_assert_write_locked(mm) m2d_mmap_assert_write_locked(mm)

/* ---- GUP ------------------------------------------------------------------ */

/* gup_flags (include/linux/mm_types.h FOLL_*) */
enum m2d_foll_flags {
	FOLL_WRITE = 1u << 0,        /* need write access */
	FOLL_NOWAIT = 1u << 1,       /* do not wait for I/O / do not fault (async pf) */
	FOLL_HWPOISON = 1u << 2,     /* report -EHWPOISON */
	FOLL_INTERRUPTIBLE = 1u << 3,
	FOLL_GET = 1u << 4,          /* take a page reference (default for KVM) */
	FOLL_PIN = 1u << 5,          /* pin_user_pages semantics */
	FOLL_LONGTERM = 1u << 6,
};

/*
 * m2d_get_user_page_fast_only() - lockless GUP of one page
 * (get_user_page_fast_only(), i.e. gup_fast without the slow fallback).
 * @mm:       address space
 * @addr:     user address (need not be aligned)
 * @gup_flags: FOLL_WRITE to require a writable PTE
 * @pfn:      out: the 4K frame backing @addr (written only on success)
 * @writable: out, may be NULL: the PTE is writable
 *
 * Walks the host page tables without taking mmap_lock or page-table locks
 * (IRQs off in the kernel).  Fails if the entry is not present, is a
 * special/PFNMAP entry, or (FOLL_WRITE) is not writable.  Never faults.
 * Context: any; no lock needed.
 * Return: true if the page was got (a reference is taken: m2d_put_page()).
 */
bool m2d_get_user_page_fast_only(struct m2d_mm *mm, uint64_t addr, unsigned gup_flags,
				 m2d_pfn_t *pfn, bool *writable) M2D_MUST_CHECK;

/*
 * m2d_get_user_pages_unlocked() - slow GUP of one page
 * (get_user_pages_unlocked(addr, 1, &page, gup_flags)): takes mmap_read_lock,
 * finds the VMA, checks its flags (check_vma_flags: FOLL_WRITE on a VMA
 * without VM_WRITE -> -EFAULT; VM_IO|VM_PFNMAP -> -EFAULT), faults the page
 * in (handle_mm_fault) if the entry is missing or lacks write permission,
 * and returns the frame.  FOLL_NOWAIT only changes faults that would wait
 * for I/O (swap, file read), which the model does not have: such a call
 * faults the page in like any other.
 * Context: mmap_lock NOT held by the caller (this takes it).
 * Return: 1 (one page got; *@pfn, *@writable written), -EFAULT (no VMA /
 * permission / PFNMAP), -ENOMEM (host memory exhausted).
 */
long m2d_get_user_pages_unlocked(struct m2d_mm *mm, uint64_t addr, unsigned gup_flags,
				 m2d_pfn_t *pfn, bool *writable);

/* put_page() on a frame got by GUP (charges the reference drop). */
void m2d_put_page(m2d_pfn_t pfn);

/*
 * Result of m2d_follow_pfnmap() (struct follow_pfnmap_args): the pfn at the
 * faulting address, whether the entry is writable, and the level of the
 * host entry (huge pfnmap: PMD/PUD leaves where the VMA is aligned).
 */
struct m2d_follow_pfnmap_args {
	m2d_pfn_t pfn;   /* frame of the address (leaf pfn + offset) */
	bool writable;   /* entry is writable */
	int level;       /* M2D_LEVEL_4K/2M/1G of the host entry */
};

/*
 * m2d_follow_pfnmap() - hva_to_pfn_remapped()'s lookup: follow_pfnmap_start()
 * on a VM_PFNMAP|VM_IO VMA; if the entry is missing (or not writable for
 * @write_fault), fixup_user_fault() faults it in (huge_fault at PUD/PMD
 * when the VMA and pfn are aligned, else 4K) and the lookup is retried.
 * Context: mmap_lock held for read.
 * Return: 0, -EFAULT (no PFNMAP VMA at @addr, or write to a read-only VMA),
 * -ENOMEM.
 */
int m2d_follow_pfnmap(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t addr,
		      bool write_fault, struct m2d_follow_pfnmap_args *args);

/*
 * m2d_host_mapping_level() - level of the host leaf mapping @addr (the walk
 * in KVM's host_pfn_mapping_level(): pgd -> p4d -> pud (leaf => 1G) -> pmd
 * (leaf => 2M) -> 4K), read locklessly.
 * Context: any.  The caller must hold the mmu_notifier retry protocol
 * (mmu_invalidate_seq) for the answer to be stable, as KVM does.
 * Return: M2D_LEVEL_4K, M2D_LEVEL_2M or M2D_LEVEL_1G; M2D_LEVEL_4K also if
 * nothing is mapped (the kernel's answer for a non-present entry).
 */
int m2d_host_mapping_level(struct m2d_mm *mm, uint64_t addr);

/*
 * m2d_mm_handle_fault() - a user access to @addr (handle_mm_fault() via the
 * arch page-fault handler, or GUP's faultin_page()): allocate + zero on
 * first touch, install the host entry (THP 2M for anon VMAs when allowed,
 * hugetlb 2M/1G, shmem 4K), upgrade to writable on a write to a writable
 * VMA.
 * Context: mmap_lock held for read (or write).
 * Return: 0, -EFAULT (no VMA / access not permitted: SIGSEGV),
 * -ENOMEM (host memory exhausted: VM_FAULT_OOM).
 */
int m2d_mm_handle_fault(struct m2d_mm *mm, uint64_t addr, bool write);

/* ---- mmu_notifier ------------------------------------------------------------ */

struct m2d_mmu_notifier;

/*
 * struct m2d_mmu_notifier_range - struct mmu_notifier_range: [@start, @end)
 * user addresses, the event (enum m2d_mmu_notifier_event in <mmu2d/mm.h>),
 * and whether the subscriber may sleep/yield (mmu_notifier_range_blockable()).
 */
struct m2d_mmu_notifier_range {
	struct m2d_mm *mm;
	uint64_t start;
	uint64_t end;
	enum m2d_mmu_notifier_event event;
	bool may_block;
};

/*
 * struct m2d_mmu_notifier_ops - struct mmu_notifier_ops (the subset KVM uses).
 * @invalidate_range_start: before the primary MM changes PTEs in the range.
 *     Return 0, or -EAGAIN only if !range->may_block and it would block.
 * @invalidate_range_end: after; every start is matched by exactly one end.
 * @release: the mm is being torn down (exit_mmap); may be NULL.
 * @clear_flush_young / @clear_young / @test_young: aging callbacks; may be NULL.
 * Context: called with mmap_lock held as the calling mm path holds it and
 * inside an SRCU read section; no page-table lock held.
 */
struct m2d_mmu_notifier_ops {
	int (*invalidate_range_start)(struct m2d_mmu_notifier *sub,
				      const struct m2d_mmu_notifier_range *range);
	void (*invalidate_range_end)(struct m2d_mmu_notifier *sub,
				     const struct m2d_mmu_notifier_range *range);
	void (*release)(struct m2d_mmu_notifier *sub, struct m2d_mm *mm);
	bool (*clear_flush_young)(struct m2d_mmu_notifier *sub, struct m2d_mm *mm,
				  uint64_t start, uint64_t end);
	bool (*clear_young)(struct m2d_mmu_notifier *sub, struct m2d_mm *mm,
			    uint64_t start, uint64_t end);
	bool (*test_young)(struct m2d_mmu_notifier *sub, struct m2d_mm *mm,
			   uint64_t addr);
};

/*
 * struct m2d_mmu_notifier - a subscription (struct mmu_notifier), embedded in
 * the subscriber (KVM: struct kvm's mmu_notifier).  Set @ops, then register.
 */
struct m2d_mmu_notifier {
	const struct m2d_mmu_notifier_ops *ops;
	struct m2d_mm *mm;            /* set by register */
	struct cds_list_head hlist;   /* on the mm's subscription list */
};

/*
 * m2d_mmu_notifier_register() - subscribe @sub to @mm (mmu_notifier_register():
 * takes mmap_write_lock).  Subscribers are called in registration order.
 * Context: mmap_lock not held.
 * Return: 0, -EINVAL (no ops, or already registered).
 */
int m2d_mmu_notifier_register(struct m2d_mmu_notifier *sub, struct m2d_mm *mm);
/* mmu_notifier_unregister(): calls ->release, then removes. NULL-safe. */
void m2d_mmu_notifier_unregister(struct m2d_mmu_notifier *sub, struct m2d_mm *mm);

/*
 * mmu_notifier_invalidate_range_start()/_end(): call every subscriber.
 * The mm's own paths (mprotect, munmap, madvise, collapse) call these;
 * exposed for other modules that change user mappings of an mm.
 * Counts M2D_CTR_mm_invalidations (one per start).
 * Return (start): 0, or -EAGAIN from a non-blocking range.
 */
int m2d_mmu_notifier_invalidate_range_start(struct m2d_mmu_notifier_range *range);
void m2d_mmu_notifier_invalidate_range_end(struct m2d_mmu_notifier_range *range);

/* mmu_notifier_range_blockable() */
static inline bool mmu_notifier_range_blockable(const struct m2d_mmu_notifier_range *range)
{
	return range->may_block;
}

/* ---- host page tables ------------------------------------------------------- */

/* The host page table of @mm (read-only use outside lib/mm: walks, tests). */
struct m2d_pt *m2d_mm_pgd(struct m2d_mm *mm);

#endif /* M2D_LIB_MM_MM_H */
