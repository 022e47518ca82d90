// SPDX-License-Identifier: MIT
/*
 * lib/guest/vmm.c - a VM backed by a host process mm: KVM's host
 * callbacks (virt/kvm/kvm_main.c hva_to_pfn's helpers) mapped onto the
 * host mm model, and KVM's mmu_notifier subscription
 * (kvm_init_mmu_notifier / kvm_mmu_notifier_invalidate_range_start/end).
 */
#include "guest/guest.h"

#include <mmu2d/kvm.h>

#include "core/alloc.h"
#include "mm/mm.h"

#include <errno.h>

static bool vmm_gup_fast(void *mm, uint64_t hva, bool write, uint64_t *pfn, bool *writable)
{
	m2d_pfn_t p;

	if (!m2d_get_user_page_fast_only(mm, hva, write ? FOLL_WRITE : 0, &p, writable))
		return false;
	*pfn = p.v;
	return true;
}

static long vmm_gup_slow(void *mm, uint64_t hva, bool write, bool nowait, uint64_t *pfn,
			 bool *writable)
{
	m2d_pfn_t p;
	long r = m2d_get_user_pages_unlocked(mm, hva, (write ? FOLL_WRITE : 0) |
						      (nowait ? FOLL_NOWAIT : 0),
					     &p, writable);

	if (r == 1)
		*pfn = p.v;
	return r;
}

static void vmm_mmap_read_lock(void *mm)
{
	mmap_read_lock(mm);
}

static void vmm_mmap_read_unlock(void *mm)
{
	mmap_read_unlock(mm);
}

static int vmm_vma_lookup(void *mm, uint64_t hva, struct m2d_kvm_vma_info *out)
{
	struct m2d_vma *vma = m2d_vma_lookup(mm, hva);
	uint64_t psz;

	if (!vma)
		return -ENOENT;
	out->readable = vma->vm_flags & VM_READ;
	out->writable = vma->vm_flags & VM_WRITE;
	out->pfnmap = vma->vm_flags & (VM_PFNMAP | VM_IO);
	psz = m2d_vma_kernel_pagesize(vma);
	out->page_shift = psz >= (1ull << 30) ? 30 : psz >= (1ull << 21) ? 21 : 12;
	return 0;
}

static int vmm_follow_pfnmap(void *mm, uint64_t hva, bool write, uint64_t *pfn, bool *writable,
			     int *level)
{
	struct m2d_vma *vma = m2d_vma_lookup(mm, hva);
	struct m2d_follow_pfnmap_args args;
	int r;

	if (!vma)
		return -EFAULT;
	r = m2d_follow_pfnmap(mm, vma, hva, write, &args);
	if (r)
		return r;
	*pfn = args.pfn.v;
	*writable = args.writable;
	*level = args.level;
	return 0;
}

static int vmm_host_mapping_level(void *mm, uint64_t hva)
{
	return m2d_host_mapping_level(mm, hva);
}

static void vmm_put_page(uint64_t pfn)
{
	m2d_put_page(m2d_pfn_from_u64(pfn));
}

static const struct m2d_kvm_host_ops vmm_mm_ops = {
	.gup_fast = vmm_gup_fast,
	.gup_slow = vmm_gup_slow,
	.mmap_read_lock = vmm_mmap_read_lock,
	.mmap_read_unlock = vmm_mmap_read_unlock,
	.vma_lookup = vmm_vma_lookup,
	.follow_pfnmap = vmm_follow_pfnmap,
	.host_mapping_level = vmm_host_mapping_level,
	.put_page = vmm_put_page,
};

const struct m2d_kvm_host_ops *m2d_vmm_mm_host_ops(void)
{
	return &vmm_mm_ops;
}

struct m2d_vmm_notifier {
	struct m2d_mmu_notifier mn;   /* kvm->mmu_notifier */
	struct m2d_vm *vm;
	struct m2d_mm *mm;
};

/* kvm_mmu_notifier_invalidate_range_start() */
static int vmm_mn_start(struct m2d_mmu_notifier *sub, const struct m2d_mmu_notifier_range *range)
{
	struct m2d_vmm_notifier *n = caa_container_of(sub, struct m2d_vmm_notifier, mn);

	m2d_vm_mmu_notifier_invalidate_range_start(n->vm, range->start, range->end,
						   mmu_notifier_range_blockable(range));
	return 0;
}

/* kvm_mmu_notifier_invalidate_range_end() */
static void vmm_mn_end(struct m2d_mmu_notifier *sub, const struct m2d_mmu_notifier_range *range)
{
	struct m2d_vmm_notifier *n = caa_container_of(sub, struct m2d_vmm_notifier, mn);

	m2d_vm_mmu_notifier_invalidate_range_end(n->vm, range->start, range->end);
}

static const struct m2d_mmu_notifier_ops vmm_mn_ops = {
	.invalidate_range_start = vmm_mn_start,
	.invalidate_range_end = vmm_mn_end,
};

int m2d_vmm_notifier_register(struct m2d_vm *vm, struct m2d_mm *mm, struct m2d_vmm_notifier **out)
{
	struct m2d_vmm_notifier *n;
	int r;

	M2D_VALIDATE_OR_RET(vm && mm && out, -EINVAL);
	n = m2d_zalloc(M2D_ALLOC_GUEST, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->mn.ops = &vmm_mn_ops;
	n->vm = vm;
	n->mm = mm;
	r = m2d_mmu_notifier_register(&n->mn, mm);
	if (r) {
		m2d_free(M2D_ALLOC_GUEST, n, sizeof(*n));
		return r;
	}
	*out = n;
	return 0;
}

void m2d_vmm_notifier_unregister(struct m2d_vmm_notifier **np)
{
	struct m2d_vmm_notifier *n = np ? *np : NULL;

	if (!n)
		return;
	if (n->mn.mm)
		m2d_mmu_notifier_unregister(&n->mn, n->mm);
	m2d_free(M2D_ALLOC_GUEST, n, sizeof(*n));
	*np = NULL;
}
