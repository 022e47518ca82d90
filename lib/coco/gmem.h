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

#endif /* M2D_LIB_COCO_GMEM_H */
