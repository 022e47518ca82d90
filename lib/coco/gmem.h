/* SPDX-License-Identifier: MIT */
/*
 * lib/coco/gmem.h - guest_memfd (virt/kvm/guest_memfd.c), internal API.
 *
 * A struct m2d_gmem is the inode: the physical backing, a page cache of
 * folios indexed by 4K file offset, the per-4K preparedness bitmap, the
 * invalidate lock.  A struct m2d_gmem_file is one VM's view (struct
 * gmem_file): its bindings from file offsets to that VM's memslots, and the
 * callbacks into that VM's KVM.
 *
 * Calling "up" into KVM.  lib/coco may not use lib/kvm, so KVM registers a
 * table of callbacks when it opens a file (m2d_gmem_file_create) and passes
 * its memslot as an opaque pointer when it binds one (m2d_gmem_bind).
 * guest_memfd calls them exactly where the kernel's guest_memfd.c calls KVM:
 *
 *   __kvm_gmem_invalidate_begin(f, start, end):
 *       for each bound slot overlapping [start, end):
 *           first slot: ops->invalidate_begin(kvm)    KVM_MMU_LOCK + kvm_mmu_invalidate_begin
 *           flush |= ops->zap(kvm, slot, gfn range)  kvm_mmu_unmap_gfn_range, PRIVATE filter
 *       if a slot was found: ops->invalidate_unlock(kvm, flush)
 *                                                    kvm_flush_remote_tlbs if flush; KVM_MMU_UNLOCK
 *   __kvm_gmem_invalidate_end(f, start, end):
 *       if any binding overlaps: ops->invalidate_end(kvm)
 *                                                    KVM_MMU_LOCK + kvm_mmu_invalidate_end + UNLOCK
 *   kvm_gmem_prepare_folio:  ops->arch_prepare(kvm, gfn, pfn, order)
 *                                                    kvm_arch_gmem_prepare (SNP: m2d_sev_gmem_prepare)
 *
 * kvm_arch_gmem_invalidate (called when a folio is freed, no VM context)
 * goes to the host RMP given at m2d_gmem_create (m2d_sev_gmem_invalidate).
 *
 * Locking (MECHANISMS.md 3, 9): invalidate_lock (rw_semaphore) is taken
 * shared by kvm_gmem_get_pfn and fallocate-allocate, exclusive by punch
 * hole, bind, unbind and release; the folio lock nests inside it; KVM's
 * mmu_lock is taken by the callbacks, inside both.
 */
#ifndef M2D_LIB_COCO_GMEM_H
#define M2D_LIB_COCO_GMEM_H

#include <mmu2d/coco.h>

#include "coco/rmp.h"

struct m2d_gmem;
struct m2d_gmem_file;

/* fallocate() mode bits (FALLOC_FL_*). */
#define M2D_GMEM_FALLOC_KEEP_SIZE 0x01
#define M2D_GMEM_FALLOC_PUNCH_HOLE 0x02

/*
 * Host physical memory as guest_memfd needs it (lib/mm physmem:
 * m2d_folio_alloc / m2d_folio_put / m2d_folio_split).  Each charges its
 * own cost.
 */
struct m2d_gmem_folio_ops {
	/* Allocate a folio of 2^@order pages. Return: 0 (*@pfn = first page), -ENOMEM. */
	int (*alloc)(void *pm, unsigned order, m2d_pfn_t *pfn);
	/* Free the folio of 2^@order pages at @pfn (folio_put of the last reference). */
	void (*free)(void *pm, m2d_pfn_t pfn, unsigned order);
	/* split_folio() to order 0. Return: 0, -EBUSY, -ENOMEM. */
	int (*split)(void *pm, m2d_pfn_t pfn, unsigned order);
};

/* Callbacks into one VM's KVM (see the header comment). */
struct m2d_gmem_kvm_ops {
	void (*invalidate_begin)(void *kvm);
	/* Return: true if a remote TLB flush is needed. */
	bool (*zap)(void *kvm, void *slot, m2d_gfn_t start, m2d_gfn_t end);
	void (*invalidate_unlock)(void *kvm, bool flush);
	void (*invalidate_end)(void *kvm);
	/* NULL: the VM needs no preparation (not SNP). Return: 0 or -errno. */
	int (*arch_prepare)(void *kvm, m2d_gfn_t gfn, m2d_pfn_t pfn, int max_order);
};

/*
 * m2d_gmem_create() - kvm_gmem_create(): a guest_memfd inode of
 * @cfg->size bytes.  @rmp: the host RMP for kvm_arch_gmem_invalidate on
 * folio free (NULL: non-SNP host).  Must be called inside the engine.
 * Return: 0, -EINVAL (size 0 or not 4K-aligned, bad policy), -ENOMEM.
 */
int m2d_gmem_create(struct m2d_gmem **out, const struct m2d_gmem_config *cfg,
		    const struct m2d_gmem_folio_ops *fops, void *pm, struct m2d_rmp *rmp);
/* Truncate everything (freeing folios through the arch invalidate) and
 * free.  Every file must have been released.  NULL-safe. */
void m2d_gmem_destroy(struct m2d_gmem **gmem);

/*
 * m2d_gmem_file_create() - a VM's view (__kvm_gmem_create's gmem_file).
 * Return: 0, -EINVAL, -ENOMEM.
 */
int m2d_gmem_file_create(struct m2d_gmem *gmem, void *kvm, const struct m2d_gmem_kvm_ops *ops,
			 struct m2d_gmem_file **out);
/* kvm_gmem_release(): the caller holds KVM's slots_lock.  Zaps all
 * SPTEs through the file's bindings and drops them.  NULL-safe. */
void m2d_gmem_file_release(struct m2d_gmem_file **f);

/*
 * m2d_gmem_bind() - kvm_gmem_bind(): file pages [@offset/4K, +@npages)
 * back memslot @slot starting at @base_gfn.
 * Return: 0, -EINVAL (offset negative/unaligned, beyond the file, @npages
 * 0, or overlapping an existing binding - the kernel's codes), -ENOMEM.
 */
int m2d_gmem_bind(struct m2d_gmem_file *f, void *slot, m2d_gfn_t base_gfn, uint64_t npages,
		  int64_t offset);
/* kvm_gmem_unbind(). */
void m2d_gmem_unbind(struct m2d_gmem_file *f, void *slot);

/*
 * m2d_gmem_get_pfn() - kvm_gmem_get_pfn() for @gfn of memslot @slot:
 * invalidate lock (shared), folio lookup or allocation (2M with fallback),
 * zeroing of each unprepared 4K page of the 2^max_order range, one
 * arch_prepare for the range, preparedness bits set.  *@max_order: 9 if
 * the 2M folio is fully inside the binding, else 0.
 * Return: 0, -EFAULT (slot not bound to this file / released), -EIO (gfn
 * not bound to @slot), -ENOMEM, or arch_prepare's error.
 */
int m2d_gmem_get_pfn(struct m2d_gmem_file *f, void *slot, m2d_gfn_t gfn, m2d_pfn_t *pfn,
		     int *max_order);

/*
 * m2d_gmem_fallocate() - kvm_gmem_fallocate() (+ vfs_fallocate's checks).
 * KEEP_SIZE: preallocate folios (no zeroing, no prepare);
 * KEEP_SIZE|PUNCH_HOLE: punch per the inode's policy.
 * Return: 0, -EOPNOTSUPP (mode), -EINVAL (offset < 0, len <= 0, unaligned,
 * allocation beyond the file, no-sub-2m policy refusing), -EFBIG
 * (offset + len overflows), -ENOMEM.  On error the state is unchanged.
 */
int m2d_gmem_fallocate(struct m2d_gmem *gmem, int mode, int64_t offset, int64_t len);

/* Statistics (scans the inode: O(size / 2M + order-0 folios)). */
void m2d_gmem_stats_get(const struct m2d_gmem *gmem, struct m2d_gmem_stats *out);

/*
 * The folio holding file page @index: Return true with *@pfn (of the page
 * at @index) and *@order, or false if absent.  No cost charged.
 */
bool m2d_gmem_folio_lookup(const struct m2d_gmem *gmem, uint64_t index, m2d_pfn_t *pfn,
			   unsigned *order);
/* Is file page @index marked prepared? */
bool m2d_gmem_is_prepared(const struct m2d_gmem *gmem, uint64_t index);
/* File size in 4K pages. */
uint64_t m2d_gmem_nr_pages(const struct m2d_gmem *gmem);

/* kvm_max_level_for_order(): order >= 18 -> 1G, >= 9 -> 2M, else 4K. */
int m2d_gmem_max_level_for_order(int order);

#endif /* M2D_LIB_COCO_GMEM_H */
