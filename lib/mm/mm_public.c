// SPDX-License-Identifier: MIT
/*
 * lib/mm/mm_public.c - the host mm as code outside lib/ reaches it:
 *
 *  - m2d_mm_fill_kvm_host_ops(): struct m2d_kvm_host_ops callbacks
 *    (include/mmu2d/kvm.h) implemented on lib/mm/mm.h, so a replayer can
 *    back a VM's memslots with a struct m2d_mm (the @mm handle of a memslot
 *    is the struct m2d_mm *).  Only the struct type is shared with KVM;
 *    lib/mm calls nothing in lib/kvm.
 *  - m2d_mm_subscribe(): an mmu_notifier subscription with plain callbacks
 *    (a replayer forwards them to m2d_vm_mmu_notifier_invalidate_range_*,
 *    research code can observe invalidations).
 */
#include "mm/mm_types.h"

#include <mmu2d/kvm.h>

#include <errno.h>

/* ---- struct m2d_kvm_host_ops on lib/mm ------------------------------------ */

static bool kvm_gup_fast(void *mm, uint64_t hva, bool write, uint64_t *pfn, bool *writable)
{
	m2d_pfn_t p;

	if (!m2d_get_user_page_fast_only(mm, hva, write ? FOLL_WRITE : 0, &p, writable))
		return false;
	*pfn = m2d_pfn_as_u64(p);
	return true;
}

static long kvm_gup_slow(void *mm, uint64_t hva, bool write, bool nowait, uint64_t *pfn,
			 bool *writable)
{
	unsigned flags = FOLL_HWPOISON | (write ? FOLL_WRITE : 0) | (nowait ? FOLL_NOWAIT : 0);
	m2d_pfn_t p;
	long ret = m2d_get_user_pages_unlocked(mm, hva, flags, &p, writable);

	if (ret == 1)
		*pfn = m2d_pfn_as_u64(p);
	return ret;
}

static void kvm_mmap_read_lock(void *mm)
{
	mmap_read_lock(mm);
}

static void kvm_mmap_read_unlock(void *mm)
{
	mmap_read_unlock(mm);
}

static int kvm_vma_lookup(void *mm, uint64_t hva, struct m2d_kvm_vma_info *out)
{
	struct m2d_vma *vma = m2d_vma_lookup(mm, hva);

	if (!vma)
		return -ENOENT;
	out->readable = (vma->vm_flags & VM_READ) != 0;
	out->writable = (vma->vm_flags & VM_WRITE) != 0;
	out->pfnmap = (vma->vm_flags & (VM_PFNMAP | VM_IO)) != 0;
	out->page_shift = __builtin_ctzll(m2d_vma_kernel_pagesize(vma));
	return 0;
}

static int kvm_follow_pfnmap(void *mm, uint64_t hva, bool write, uint64_t *pfn, bool *writable,
			     int *level)
{
	struct m2d_follow_pfnmap_args args;
	int ret = m2d_follow_pfnmap(mm, m2d_vma_lookup(mm, hva), hva, write, &args);

	if (ret)
		return ret;
	*pfn = m2d_pfn_as_u64(args.pfn);
	*writable = args.writable;
	*level = args.level;
	return 0;
}

static int kvm_host_mapping_level(void *mm, uint64_t hva)
{
	return m2d_host_mapping_level(mm, hva);
}

static void kvm_put_page(uint64_t pfn)
{
	m2d_put_page(m2d_pfn_from_u64(pfn));
}

void m2d_mm_fill_kvm_host_ops(struct m2d_kvm_host_ops *ops)
{
	ops->gup_fast = kvm_gup_fast;
	ops->gup_slow = kvm_gup_slow;
	ops->mmap_read_lock = kvm_mmap_read_lock;
	ops->mmap_read_unlock = kvm_mmap_read_unlock;
	ops->vma_lookup = kvm_vma_lookup;
	ops->follow_pfnmap = kvm_follow_pfnmap;
	ops->host_mapping_level = kvm_host_mapping_level;
	ops->put_page = kvm_put_page;
}

/* ---- plain-callback subscriptions ----------------------------------------- */

struct m2d_mm_subscription {
	struct m2d_mmu_notifier mn;
	struct m2d_mm_notifier_cb cb;
	void *priv;
};

static int sub_start(struct m2d_mmu_notifier *mn, const struct m2d_mmu_notifier_range *r)
{
	struct m2d_mm_subscription *s = container_of(mn, struct m2d_mm_subscription, mn);

	if (s->cb.invalidate_range_start)
		s->cb.invalidate_range_start(s->priv, r->start, r->end, r->event, r->may_block);
	return 0;
}

static void sub_end(struct m2d_mmu_notifier *mn, const struct m2d_mmu_notifier_range *r)
{
	struct m2d_mm_subscription *s = container_of(mn, struct m2d_mm_subscription, mn);

	if (s->cb.invalidate_range_end)
		s->cb.invalidate_range_end(s->priv, r->start, r->end, r->event);
}

static void sub_release(struct m2d_mmu_notifier *mn, struct m2d_mm *mm)
{
	struct m2d_mm_subscription *s = container_of(mn, struct m2d_mm_subscription, mn);

	if (s->cb.release)
		s->cb.release(s->priv);
}

static const struct m2d_mmu_notifier_ops sub_ops = {
	.invalidate_range_start = sub_start,
	.invalidate_range_end = sub_end,
	.release = sub_release,
};

static int subscribe(struct m2d_mm *mm, const struct m2d_mm_notifier_cb *cb, void *priv,
		     struct m2d_mm_subscription **out)
{
	struct m2d_mm_subscription *s;
	int ret;

	M2D_VALIDATE_OR_RET(mm && cb && out, -EINVAL);
	s = m2d_zalloc(M2D_ALLOC_MM, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cb = *cb;
	s->priv = priv;
	s->mn.ops = &sub_ops;
	ret = m2d_mmu_notifier_register(&s->mn, mm);
	if (ret) {
		m2d_free(M2D_ALLOC_MM, s, sizeof(*s));
		return ret;
	}
	*out = s;
	return 0;
}

int m2d_mm_subscribe(struct m2d_mm *mm, const struct m2d_mm_notifier_cb *cb, void *priv,
		     struct m2d_mm_subscription **out)
{
	M2D_VALIDATE_OR_RET(mm && cb && out, -EINVAL);
	return mm_call_entered(mm->host, subscribe(mm, cb, priv, out));
}

void m2d_mm_unsubscribe(struct m2d_mm *mm, struct m2d_mm_subscription **ps)
{
	struct m2d_mm_subscription *s = ps ? *ps : NULL;

	if (!s)
		return;
	/* after exit_mmap the subscription is already unhooked (s->mn.mm == NULL) */
	if (mm && s->mn.mm == mm)
		m2d_mmu_notifier_unregister(&s->mn, mm);
	m2d_free(M2D_ALLOC_MM, s, sizeof(*s));
	*ps = NULL;
}
