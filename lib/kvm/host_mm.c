// SPDX-License-Identifier: MIT
/*
 * lib/kvm/host_mm.c - KVM on lib/mm: the host callbacks over lib/mm/mm.h
 * (GUP, mmap_lock, vma_lookup, follow_pfnmap, the host mapping level,
 * put_page) and KVM's mmu_notifier subscription (kvm_init_mmu_notifier,
 * kvm_mmu_notifier_ops); and the flat host (no host model at all).
 *
 * The memslot's mm handle is a struct m2d_mm.  The notifier callbacks are
 * the kernel's kvm_mmu_notifier_invalidate_range_start/end (kvm.c) and
 * kvm_mmu_notifier_release (kvm_flush_shadow_all: zap every SPTE).
 */
#include "kvm/kvm.h"

#include "mm/mm.h"

#include <errno.h>

static bool mm_gup_fast(void *mm, uint64_t hva, bool write, uint64_t *pfn, bool *writable)
{
	m2d_pfn_t p;
	bool w = false;

	if (!m2d_get_user_page_fast_only(mm, hva, write ? FOLL_WRITE : 0, &p, &w))
		return false;
	*pfn = m2d_pfn_as_u64(p);
	*writable = w;
	return true;
}

static long mm_gup_slow(void *mm, uint64_t hva, bool write, bool nowait, uint64_t *pfn,
			bool *writable)
{
	unsigned flags = (write ? FOLL_WRITE : 0) | (nowait ? FOLL_NOWAIT : 0);
	m2d_pfn_t p;
	bool w = false;
	long ret;

	ret = m2d_get_user_pages_unlocked(mm, hva, flags, &p, &w);
	if (ret == 1) {
		*pfn = m2d_pfn_as_u64(p);
		*writable = w;
	}
	return ret;
}

static void mm_read_lock(void *mm)
{
	mmap_read_lock(mm);
}

static void mm_read_unlock(void *mm)
{
	mmap_read_unlock(mm);
}

static int mm_vma_lookup(void *mm, uint64_t hva, struct m2d_kvm_vma_info *out)
{
	struct m2d_vma *vma = m2d_vma_lookup(mm, hva);
	uint64_t size;

	if (!vma)
		return -ENOENT;
	size = m2d_vma_kernel_pagesize(vma);
	*out = (struct m2d_kvm_vma_info){
		.readable = vma->vm_flags & VM_READ,
		.writable = vma->vm_flags & VM_WRITE,
		.pfnmap = vma->vm_flags & (VM_PFNMAP | VM_IO),
		.page_shift = size == M2D_PUD_SIZE ? M2D_PUD_SHIFT
			      : size == M2D_PMD_SIZE ? M2D_PMD_SHIFT : M2D_PAGE_SHIFT,
	};
	return 0;
}

static int mm_follow_pfnmap(void *mm, uint64_t hva, bool write, uint64_t *pfn, bool *writable,
			    int *level)
{
	struct m2d_vma *vma = m2d_vma_lookup(mm, hva);
	struct m2d_follow_pfnmap_args args;
	int ret;

	if (!vma)
		return -EFAULT;
	ret = m2d_follow_pfnmap(mm, vma, hva, write, &args);
	if (ret)
		return ret;
	*pfn = m2d_pfn_as_u64(args.pfn);
	*writable = args.writable;
	*level = args.level;
	return 0;
}

static int mm_host_mapping_level(void *mm, uint64_t hva)
{
	return m2d_host_mapping_level(mm, hva);
}

static void mm_put_page(uint64_t pfn)
{
	m2d_put_page(m2d_pfn_from_u64(pfn));
}

void m2d_kvm_host_ops_set_mm(struct m2d_kvm_host_ops *ops)
{
	ops->gup_fast = mm_gup_fast;
	ops->gup_slow = mm_gup_slow;
	ops->mmap_read_lock = mm_read_lock;
	ops->mmap_read_unlock = mm_read_unlock;
	ops->vma_lookup = mm_vma_lookup;
	ops->follow_pfnmap = mm_follow_pfnmap;
	ops->host_mapping_level = mm_host_mapping_level;
	ops->put_page = mm_put_page;
}

/* ---- kvm_mmu_notifier_ops ------------------------------------------------------ */

static struct m2d_vm *mmu_notifier_to_kvm(struct m2d_mmu_notifier *mn)
{
	return container_of(mn, struct m2d_vm, mmu_notifier);
}

/* kvm_mmu_notifier_invalidate_range_start (blocking ranges only: 0). */
static int kvm_mmu_notifier_invalidate_range_start(struct m2d_mmu_notifier *mn,
						   const struct m2d_mmu_notifier_range *range)
{
	m2d_vm_mmu_notifier_invalidate_range_start(mmu_notifier_to_kvm(mn), range->start,
						   range->end, mmu_notifier_range_blockable(range));
	return 0;
}

static void kvm_mmu_notifier_invalidate_range_end(struct m2d_mmu_notifier *mn,
						  const struct m2d_mmu_notifier_range *range)
{
	m2d_vm_mmu_notifier_invalidate_range_end(mmu_notifier_to_kvm(mn), range->start,
						 range->end);
}

/* kvm_mmu_notifier_release -> kvm_flush_shadow_all: zap every SPTE. */
static void kvm_mmu_notifier_release(struct m2d_mmu_notifier *mn, struct m2d_mm *mm)
{
	struct m2d_vm *kvm = mmu_notifier_to_kvm(mn);

	if (kvm->cfg.mmu == M2D_KVM_MMU_ARM64_S2)
		kvm_free_stage2_pgd(kvm); /* kvm_arch_flush_shadow_all */
	else
		kvm_zap_gfn_range(kvm, 0, m2d_pt_max_addr(kvm->pt) >> M2D_PAGE_SHIFT);
	kvm->mmu_notifier_mm = NULL;
}

static const struct m2d_mmu_notifier_ops kvm_mmu_notifier_ops = {
	.invalidate_range_start = kvm_mmu_notifier_invalidate_range_start,
	.invalidate_range_end = kvm_mmu_notifier_invalidate_range_end,
	.release = kvm_mmu_notifier_release,
};

int m2d_vm_mmu_notifier_register(struct m2d_vm *kvm, struct m2d_mm *mm)
{
	bool entered;
	int ret;

	M2D_VALIDATE_OR_RET(kvm && mm, -EINVAL);
	if (kvm->mmu_notifier_mm)
		return -EBUSY;
	kvm->mmu_notifier.ops = &kvm_mmu_notifier_ops;
	entered = kvm_engine_enter(kvm);
	ret = m2d_mmu_notifier_register(&kvm->mmu_notifier, mm);
	kvm_engine_leave(kvm, entered);
	if (!ret)
		kvm->mmu_notifier_mm = mm;
	return ret;
}

/* kvm_destroy_vm: mmu_notifier_unregister. */
void kvm_mmu_notifier_unregister(struct m2d_vm *kvm)
{
	if (!kvm->mmu_notifier_mm)
		return;
	m2d_mmu_notifier_unregister(&kvm->mmu_notifier, kvm->mmu_notifier_mm);
	kvm->mmu_notifier_mm = NULL;
}

/* ---- the flat host ------------------------------------------------------------------ */

/*
 * An idealized host for measuring KVM alone: every HVA is mapped, at 4K,
 * writable, by frame HVA >> 12, in one readable+writable VMA; nothing is
 * charged.  No mmu_notifier events come from it.
 */
static bool flat_gup_fast(void *mm, uint64_t hva, bool write, uint64_t *pfn, bool *writable)
{
	*pfn = hva >> M2D_PAGE_SHIFT;
	*writable = true;
	return true;
}

static long flat_gup_slow(void *mm, uint64_t hva, bool write, bool nowait, uint64_t *pfn,
			  bool *writable)
{
	*pfn = hva >> M2D_PAGE_SHIFT;
	*writable = true;
	return 1;
}

static void flat_lock(void *mm)
{
}

static int flat_vma_lookup(void *mm, uint64_t hva, struct m2d_kvm_vma_info *out)
{
	*out = (struct m2d_kvm_vma_info){ .readable = true, .writable = true,
					  .page_shift = M2D_PAGE_SHIFT };
	return 0;
}

static int flat_host_mapping_level(void *mm, uint64_t hva)
{
	return M2D_LEVEL_4K;
}

void m2d_kvm_host_ops_set_flat(struct m2d_kvm_host_ops *ops)
{
	ops->gup_fast = flat_gup_fast;
	ops->gup_slow = flat_gup_slow;
	ops->mmap_read_lock = flat_lock;
	ops->mmap_read_unlock = flat_lock;
	ops->vma_lookup = flat_vma_lookup;
	ops->follow_pfnmap = NULL;
	ops->host_mapping_level = flat_host_mapping_level;
	ops->put_page = NULL;
}
