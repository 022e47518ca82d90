// SPDX-License-Identifier: MIT
/*
 * lib/kvm/mmu.c - the x86 fault path (arch/x86/kvm/mmu/mmu.c) and the MMU
 * operations that are not specific to the TDP walk: max mapping level,
 * pfn fault-in (hva_to_pfn, kvm_gmem_get_pfn), staleness checks, memslot
 * zaps, dirty-logging flag changes, memory-attribute hooks, dirty log
 * ioctls.
 *
 * The fault (MECHANISMS.md 4.2), for the TDP MMU:
 *   fast_page_fault (lockless; write to a write-protected SPTE)
 *   mmu_topup_memory_caches (outside mmu_lock)
 *   kvm_mmu_faultin_pfn: snapshot mmu_invalidate_seq; pre-check
 *     mmu_invalidate_retry_gfn_unsafe; GUP fast -> slow -> vma_lookup, or
 *     kvm_gmem_get_pfn for private memory; post-check
 *   read_lock(mmu_lock); is_page_fault_stale (mmu_invalidate_retry_gfn)
 *   kvm_tdp_mmu_map (kvm_mmu_hugepage_adjust first)
 *   read_unlock(mmu_lock)
 * The legacy MMU (tdp_mmu=N) does the same under write_lock(mmu_lock).
 *
 * Shadow paging (ept=N) enters through paging64_walk_addr (paging_tmpl.c)
 * and then takes the legacy path without fast_page_fault.
 *
 * Not modelled: emulated writes to shadowed guest tables, MMIO SPTEs (a
 * fault outside every memslot exits with -EFAULT), async page faults (the
 * FOLL_NOWAIT probe is replaced by the blocking fault-in it falls back to
 * for guests without async PF, as the selftests' guests are), the NX huge
 * page workaround.
 */
#include "kvm/kvm.h"

#include "core/alloc.h"

#include <mmu2d/error.h>

#include <errno.h>
#include <string.h>

/* kvm_arch_init_vm / kvm_mmu_init_tdp_mmu: the root of the second dimension. */
int kvm_mmu_init_vm(struct m2d_vm *kvm)
{
	struct m2d_pt_config cfg;
	int ret;

	m2d_pt_config_default(&cfg);
	cfg.format = kvm->fmt;
	cfg.levels = 4;
	cfg.changed = handle_changed_spte;
	cfg.changed_priv = kvm;
	ret = m2d_pt_create(&kvm->pt, &cfg);
	if (ret)
		return ret;
	if (kvm_shadow_mmu(kvm)) {
		kvm->mmu_page_hash = m2d_calloc(M2D_ALLOC_KVM, KVM_NUM_MMU_PAGES,
						sizeof(*kvm->mmu_page_hash));
		if (!kvm->mmu_page_hash) {
			m2d_pt_destroy(&kvm->pt);
			return -ENOMEM;
		}
	}
	kvm->mmu_pages = 1; /* the root */
	{
		uint64_t base = m2d_pte_make_leaf(kvm->fmt, M2D_LEVEL_4K, 0, M2D_PROT_R);

		kvm->spte_w_mask = m2d_pte_make_leaf(kvm->fmt, M2D_LEVEL_4K, 0,
						     M2D_PROT_R | M2D_PROT_W) ^ base;
		kvm->spte_d_mask = m2d_pte_make_leaf(kvm->fmt, M2D_LEVEL_4K, 0,
						     M2D_PROT_R | M2D_PROT_D) ^ base;
	}
	return 0;
}

/* kvm_mmu_uninit_vm: wait for RCU-deferred table frees, then free all. */
void kvm_mmu_uninit_vm(struct m2d_vm *kvm)
{
	if (!kvm->pt)
		return;
	kvm->mmu_tearing_down = true;
	rcu_barrier();
	m2d_pt_destroy(&kvm->pt);
	if (kvm->mmu_page_hash)
		m2d_free(M2D_ALLOC_KVM, kvm->mmu_page_hash,
			 KVM_NUM_MMU_PAGES * sizeof(*kvm->mmu_page_hash));
	kvm->mmu_page_hash = NULL;
}

/* ---- max mapping level ---------------------------------------------------------- */

/* host_pfn_mapping_level: the host's leaf level for the gfn's HVA. */
static int host_pfn_mapping_level(struct m2d_vm *kvm, uint64_t gfn,
				  const struct m2d_memslot *slot)
{
	return kvm->ops.host_mapping_level(slot->mm, gfn_to_hva_memslot(slot, gfn));
}

/*
 * kvm_mmu_max_mapping_level: min over the requested max level, the
 * memslot's lpage_info (alignment, mixed attributes), and the host mapping
 * level for shared memory (private memory is limited by the caller with the
 * gmem folio order and the RMP level).
 */
static int kvm_mmu_max_mapping_level(struct m2d_vm *kvm, const struct m2d_memslot *slot,
				     uint64_t gfn, int max_level, bool is_private)
{
	int host_level;

	max_level = M2D_MIN(max_level, kvm->cfg.max_level);
	for (; max_level > M2D_LEVEL_4K; max_level--) {
		const struct kvm_lpage_info *linfo = lpage_info_slot(gfn, slot, max_level);

		if (!linfo->disallow_lpage)
			break;
	}
	if (is_private)
		return max_level;
	if (max_level == M2D_LEVEL_4K)
		return M2D_LEVEL_4K;
	host_level = host_pfn_mapping_level(kvm, gfn, slot);
	return M2D_MIN(host_level, max_level);
}

/* kvm_mmu_hugepage_adjust: choose goal_level and align the pfn. */
static void kvm_mmu_hugepage_adjust(struct m2d_vcpu *vcpu, struct kvm_page_fault *fault)
{
	uint64_t mask;

	if (fault->max_level == M2D_LEVEL_4K)
		return;
	if (fault->pfn_err)
		return;
	if (kvm_slot_dirty_track_enabled(fault->slot))
		return;
	fault->req_level = kvm_mmu_max_mapping_level(vcpu->vm, fault->slot, fault->gfn,
						     fault->max_level, fault->is_private);
	if (fault->req_level == M2D_LEVEL_4K)
		return;
	fault->goal_level = fault->req_level;
	mask = KVM_PAGES_PER_HPAGE(fault->goal_level) - 1;
	M2D_WARN_ON_ONCE((fault->gfn & mask) != (fault->pfn & mask));
	fault->pfn &= ~mask;
}

/* ---- pfn fault-in ------------------------------------------------------------------ */

/*
 * hva_to_pfn (virt/kvm/kvm_main.c): GUP-fast (tried for writes, and for
 * reads to opportunistically map writable), then slow GUP, then under
 * mmap_read_lock vma_lookup: no VMA -> KVM_PFN_ERR_FAULT; VM_PFNMAP ->
 * follow_pfnmap; otherwise KVM_PFN_ERR_FAULT.
 */
static void hva_to_pfn(struct m2d_vm *kvm, struct kvm_page_fault *fault)
{
	const struct m2d_kvm_host_ops *ops = &kvm->ops;
	void *mm = fault->slot->mm;
	struct m2d_kvm_vma_info vma;
	bool writable = false;
	uint64_t pfn;
	long npages;

	m2d_delay(M2D_COST_KVM_GUP_FAST, 1);
	if (fault->slot->flags & M2D_MEM_READONLY) {
		/*
		 * __gfn_to_hva_many: a write to a read-only slot is
		 * KVM_PFN_ERR_RO_FAULT (emulated as MMIO; here an -EFAULT exit);
		 * reads map read-only.
		 */
		if (fault->write) {
			fault->pfn_err = -EFAULT;
			return;
		}
		if (ops->gup_slow(mm, fault->hva, false, false, &pfn, &writable) == 1) {
			fault->pfn = pfn;
			fault->map_writable = false;
		} else {
			fault->pfn_err = -EFAULT;
		}
		return;
	}
	/* hva_to_pfn_fast: FOLL_WRITE for writes and for map_writable. */
	if (ops->gup_fast(mm, fault->hva, true, &pfn, &writable)) {
		fault->pfn = pfn;
		fault->map_writable = true;
		return;
	}
	/* hva_to_pfn_slow */
	npages = ops->gup_slow(mm, fault->hva, fault->write, false, &pfn, &writable);
	if (npages == 1) {
		/* A read fault maps writable only if GUP-fast for write succeeds. */
		if (!fault->write && !writable) {
			uint64_t wpfn;
			bool w;

			if (ops->gup_fast(mm, fault->hva, true, &wpfn, &w)) {
				if (ops->put_page)
					ops->put_page(pfn);
				pfn = wpfn;
				writable = true;
			}
		}
		fault->pfn = pfn;
		fault->map_writable = writable || fault->write;
		return;
	}
	if (npages == -EHWPOISON || npages == -EINTR) {
		fault->pfn_err = (int)npages;
		return;
	}

	ops->mmap_read_lock(mm);
	if (ops->vma_lookup(mm, fault->hva, &vma)) {
		fault->pfn_err = -EFAULT;
	} else if (vma.pfnmap && ops->follow_pfnmap) {
		int level;

		/* hva_to_pfn_remapped */
		if (ops->follow_pfnmap(mm, fault->hva, fault->write, &pfn, &writable, &level)) {
			fault->pfn_err = -EFAULT;
		} else {
			fault->pfn = pfn;
			fault->map_writable = writable;
		}
	} else {
		fault->pfn_err = -EFAULT;
	}
	ops->mmap_read_unlock(mm);
}

/* kvm_mmu_prepare_memory_fault_exit */
static void kvm_mmu_prepare_memory_fault_exit(struct m2d_vcpu *vcpu,
					      const struct kvm_page_fault *fault,
					      enum m2d_kvm_exit_reason reason)
{
	vcpu->exit = (struct m2d_kvm_exit){
		.reason = reason,
		.gpa = fault->gfn << M2D_PAGE_SHIFT,
		.size = M2D_PAGE_SIZE,
		.flags = fault->is_private ? M2D_MEMORY_ATTRIBUTE_PRIVATE : 0,
		.write = fault->write,
	};
}

/* kvm_max_private_mapping_level */
static int kvm_max_private_mapping_level(struct m2d_vm *kvm, const struct kvm_page_fault *fault,
					 int max_order)
{
	int max_level = fault->max_level, req;

	if (max_order >= 18)
		max_level = M2D_MIN(max_level, M2D_LEVEL_1G);
	else if (max_order >= 9)
		max_level = M2D_MIN(max_level, M2D_LEVEL_2M);
	else
		max_level = M2D_LEVEL_4K;
	if (max_level == M2D_LEVEL_4K)
		return max_level;
	/* kvm_x86_ops.private_max_mapping_level: SNP's RMP level, or the host hook. */
	if (kvm->sev)
		req = m2d_sev_gmem_max_mapping_level(kvm->sev, m2d_pfn_from_u64(fault->pfn));
	else if (kvm->ops.private_max_mapping_level)
		req = kvm->ops.private_max_mapping_level(fault->slot->gmem, fault->pfn);
	else
		req = 0;
	return req ? M2D_MIN(max_level, req) : max_level;
}

/* kvm_mmu_faultin_pfn_private */
static int kvm_mmu_faultin_pfn_private(struct m2d_vcpu *vcpu, struct kvm_page_fault *fault)
{
	struct m2d_vm *kvm = vcpu->vm;
	int max_order = 0, r;
	uint64_t pfn;

	if (!kvm_slot_has_gmem(fault->slot)) {
		kvm_mmu_prepare_memory_fault_exit(vcpu, fault, M2D_KVM_EXIT_MEMORY_FAULT);
		return -EFAULT;
	}
	r = kvm->ops.gmem_get_pfn(fault->slot->gmem, fault->slot, fault->gfn, &pfn, &max_order);
	if (r) {
		kvm_mmu_prepare_memory_fault_exit(vcpu, fault, M2D_KVM_EXIT_MEMORY_FAULT);
		return r;
	}
	fault->pfn = pfn;
	fault->map_writable = true;
	fault->max_level = kvm_max_private_mapping_level(kvm, fault, max_order);
	return RET_PF_CONTINUE;
}

/* kvm_handle_error_pfn */
static int kvm_handle_error_pfn(struct m2d_vcpu *vcpu, struct kvm_page_fault *fault)
{
	if (fault->pfn_err == -EHWPOISON) {
		/* kvm_send_hwpoison_signal: the VMM sees an -EFAULT-like stop. */
		kvm_mmu_prepare_memory_fault_exit(vcpu, fault, M2D_KVM_EXIT_EFAULT);
		return -EHWPOISON;
	}
	if (fault->pfn_err == -EINTR)
		return -EINTR;
	kvm_mmu_prepare_memory_fault_exit(vcpu, fault, M2D_KVM_EXIT_EFAULT);
	return -EFAULT;
}

/* Classify a retry seen by the lockless or locked checks. */
static enum retry_cause retry_cause_of(const struct m2d_vm *kvm, uint64_t gfn)
{
	if (READ_ONCE(kvm->mmu_invalidate_in_progress) &&
	    gfn >= kvm->mmu_invalidate_range_start && gfn < kvm->mmu_invalidate_range_end)
		return RETRY_INVALIDATION;
	return RETRY_RACE;
}

/* kvm_mmu_faultin_pfn */
static int kvm_mmu_faultin_pfn(struct m2d_vcpu *vcpu, struct kvm_page_fault *fault)
{
	struct m2d_vm *kvm = vcpu->vm;
	int ret;

	fault->mmu_seq = READ_ONCE(kvm->mmu_invalidate_seq);
	cmm_smp_rmb();
	/*
	 * Now that we have a snapshot of mmu_invalidate_seq we can check for
	 * a private vs. shared mismatch.
	 */
	if (fault->is_private != kvm_mem_is_private(kvm, fault->gfn)) {
		kvm_mmu_prepare_memory_fault_exit(vcpu, fault, M2D_KVM_EXIT_MEMORY_FAULT);
		return -EFAULT;
	}
	/*
	 * Pre-check for a relevant mmu_notifier invalidation event before
	 * acquiring mmu_lock.  If there is an in-progress invalidation and
	 * the gfn is in the range, don't bother resolving the pfn: the fault
	 * is all but guaranteed to be stale (commit d02c357e5bfa).
	 */
	if (mmu_invalidate_retry_gfn_unsafe(kvm, fault->mmu_seq, fault->gfn)) {
		fault->retry = retry_cause_of(kvm, fault->gfn);
		return RET_PF_RETRY;
	}
	if (fault->is_private) {
		ret = kvm_mmu_faultin_pfn_private(vcpu, fault);
		if (ret != RET_PF_CONTINUE)
			return ret;
	} else {
		if (kvm->cfg.fault_mmap_lock) {
			/*
			 * Older x86 (kvm_host_page_size, before 5.6): the
			 * host page size came from the VMA, looked up under
			 * mmap_read_lock on every fault.
			 */
			struct m2d_kvm_vma_info vma;

			kvm->ops.mmap_read_lock(fault->slot->mm);
			kvm->ops.vma_lookup(fault->slot->mm, fault->hva, &vma);
			kvm->ops.mmap_read_unlock(fault->slot->mm);
		}
		hva_to_pfn(kvm, fault);
		if (fault->pfn_err)
			return kvm_handle_error_pfn(vcpu, fault);
	}

	/* Post-check: the invalidation may have started while faulting in. */
	if (mmu_invalidate_retry_gfn_unsafe(kvm, fault->mmu_seq, fault->gfn)) {
		if (kvm->ops.put_page && !fault->is_private)
			kvm->ops.put_page(fault->pfn);
		fault->retry = retry_cause_of(kvm, fault->gfn);
		return RET_PF_RETRY;
	}
	return RET_PF_CONTINUE;
}

/*
 * mmu_topup_memory_caches: kvm_mmu_topup_memory_cache(min =
 * PT64_ROOT_MAX_LEVEL) refills to KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE when
 * fewer than min objects are left.  Table page + header per object.
 */
#define PT64_ROOT_MAX_LEVEL 5
#define KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE 40

static void mmu_topup_memory_caches(struct m2d_vcpu *vcpu)
{
	if (vcpu->mmu_cache_nobjs >= PT64_ROOT_MAX_LEVEL)
		return;
	m2d_delay(M2D_COST_KVM_MMU_PAGE_ALLOC,
		  (uint64_t)(KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE - vcpu->mmu_cache_nobjs));
	vcpu->mmu_cache_nobjs = KVM_ARCH_NR_OBJS_PER_MEMORY_CACHE;
}

/*
 * fast_page_fault: lockless (RCU) fix of a write to a present SPTE that is
 * MMU-writable but write-protected (dirty logging without PML): one
 * cmpxchg sets W (and D), and the gfn is marked dirty.
 * Return: RET_PF_FIXED, RET_PF_SPURIOUS or RET_PF_INVALID.
 */
static int fast_page_fault(struct m2d_vcpu *vcpu, struct kvm_page_fault *fault)
{
	struct m2d_vm *kvm = vcpu->vm;
	uint64_t addr = fault->gfn << M2D_PAGE_SHIFT;
	struct m2d_pt_iter iter;
	int ret = RET_PF_INVALID;

	/* page_fault_can_be_fast: A/D bits enabled, so only write-protection faults. */
	if (!fault->present || !fault->write || fault->is_private)
		return RET_PF_INVALID;
	rcu_read_lock();
	tdp_mmu_walk_start(kvm); /* kvm_tdp_mmu_fast_pf_get_last_sptep */
	m2d_pt_for_each_pte(iter, kvm->pt, addr, addr + M2D_PAGE_SIZE) {
		unsigned prot;

		m2d_delay(M2D_COST_KVM_TDP_ITER_STEP, 1);
		if (!m2d_pte_is_present(kvm->fmt, iter.old_pte))
			break;
		if (!m2d_pte_is_leaf(kvm->fmt, iter.old_pte, iter.level))
			continue;
		prot = m2d_pte_prot(kvm->fmt, iter.old_pte, iter.level);
		if (prot & M2D_PROT_W) {
			ret = RET_PF_SPURIOUS;
			break;
		}
		if (!(prot & M2D_PROT_SW1) || iter.level != M2D_LEVEL_4K)
			break;
		m2d_delay(M2D_COST_KVM_SPTE_CMPXCHG, 1);
		if (m2d_pt_iter_set_atomic(&iter, m2d_pte_change_prot(kvm->fmt, iter.old_pte,
								      iter.level,
								      M2D_PROT_W | M2D_PROT_D, 0)))
			break; /* lost the race: take the slow path */
		fault->slot = kvm_vcpu_gfn_to_memslot(vcpu, fault->gfn);
		mark_page_dirty_in_slot(kvm, fault->slot, fault->gfn);
		ret = RET_PF_FIXED;
		break;
	}
	rcu_read_unlock();
	return ret;
}

/* is_page_fault_stale (memslot faults; the single root is never obsolete) */
static bool is_page_fault_stale(struct m2d_vcpu *vcpu, struct kvm_page_fault *fault)
{
	if (mmu_invalidate_retry_gfn(vcpu->vm, fault->mmu_seq, fault->gfn)) {
		fault->retry = retry_cause_of(vcpu->vm, fault->gfn);
		return true;
	}
	return false;
}

/* kvm_tdp_mmu_page_fault / direct_page_fault (legacy: @shared = false). */
static int kvm_x86_page_fault(struct m2d_vcpu *vcpu, struct kvm_page_fault *fault, bool shared)
{
	struct m2d_vm *kvm = vcpu->vm;
	int r;

	if (kvm_shadow_paging(kvm)) {
		/*
		 * FNAME(page_fault): no fast path.  page_fault_handle_page_track:
		 * a write to a shadowed guest table is emulated (not modelled),
		 * and so would be a gfn already mapped at another GVA.
		 */
		if ((fault->write && kvm_gfn_is_write_tracked(fault->slot, fault->gfn)) ||
		    shadow_rmap_is_alias(fault->slot, fault->gfn, fault->addr)) {
			kvm_mmu_prepare_memory_fault_exit(vcpu, fault, M2D_KVM_EXIT_EFAULT);
			return -EFAULT;
		}
		/* make_spte -> mmu_try_to_unsync_pages: a tracked gfn maps read-only. */
		if (kvm_gfn_is_write_tracked(fault->slot, fault->gfn))
			fault->map_wrprot = true;
	} else {
		r = fast_page_fault(vcpu, fault);
		if (r != RET_PF_INVALID)
			return r;
	}
	mmu_topup_memory_caches(vcpu);
	r = kvm_mmu_faultin_pfn(vcpu, fault);
	if (r != RET_PF_CONTINUE)
		return r;

	r = RET_PF_RETRY;
	if (shared)
		read_lock(&kvm->mmu_lock);
	else
		write_lock(&kvm->mmu_lock);
	if (is_page_fault_stale(vcpu, fault))
		goto out_unlock;
	kvm_mmu_hugepage_adjust(vcpu, fault);
	r = kvm_tdp_mmu_map(vcpu, fault, shared);
out_unlock:
	if (shared)
		read_unlock(&kvm->mmu_lock);
	else
		write_unlock(&kvm->mmu_lock);
	/* kvm_mmu_finish_page_fault: release the pfn */
	if (kvm->ops.put_page && !fault->is_private)
		kvm->ops.put_page(fault->pfn);
	return r;
}

int kvm_mmu_page_fault(struct m2d_vcpu *vcpu, uint64_t gpa, unsigned flags,
		       enum retry_cause *cause)
{
	struct m2d_vm *kvm = vcpu->vm;
	struct kvm_page_fault fault = {
		.addr = gpa,
		.gfn = gpa >> M2D_PAGE_SHIFT,
		.write = flags & M2D_ACCESS_WRITE,
		.exec = flags & M2D_ACCESS_EXEC,
		.is_private = flags & M2D_ACCESS_PRIVATE,
		.present = flags & M2D_ACCESS_PRESENT,
		.max_level = kvm->cfg.max_level,
		.req_level = M2D_LEVEL_4K,
		.goal_level = M2D_LEVEL_4K,
	};
	int r;

	m2d_count(M2D_CTR_faults, 1);
	m2d_delay(M2D_COST_KVM_FAULT_OVERHEAD, 1);
	if (kvm_shadow_paging(kvm)) {
		/* FNAME(page_fault): @gpa is a GVA; the guest's tables give the gfn. */
		r = paging64_walk_addr(vcpu, &fault);
		if (r < 0) {
			kvm_mmu_prepare_memory_fault_exit(vcpu, &fault, M2D_KVM_EXIT_EFAULT);
			*cause = RETRY_NONE;
			return r;
		}
	}
	fault.slot = kvm_vcpu_gfn_to_memslot(vcpu, fault.gfn);
	if (!fault.slot) {
		/* No memslot: MMIO emulation is not modelled; exit like -EFAULT. */
		kvm_mmu_prepare_memory_fault_exit(vcpu, &fault, M2D_KVM_EXIT_EFAULT);
		return -EFAULT;
	}
	fault.hva = gfn_to_hva_memslot(fault.slot, fault.gfn);

	if (kvm->cfg.mmu == M2D_KVM_MMU_ARM64_S2)
		r = user_mem_abort(vcpu, &fault);
	else
		r = kvm_x86_page_fault(vcpu, &fault, kvm->cfg.mmu == M2D_KVM_MMU_TDP);
	if (r == RET_PF_RETRY)
		m2d_count(M2D_CTR_fault_retries, 1);
	*cause = r == RET_PF_RETRY ? fault.retry : RETRY_NONE;
	return r;
}

/* ---- zaps ----------------------------------------------------------------------------- */

/*
 * kvm_handle_gfn_range(kvm, range, kvm_zap_rmap): the legacy MMU (ept=Y,
 * tdp_mmu=N; direct shadow pages) zaps through the rmaps, not the tables.
 * for_each_slot_rmap_range(range->slot, PG_LEVEL_4K, KVM_MAX_HUGEPAGE_LEVEL,
 * range->start, range->end - 1) visits the rmap head of every level-sized
 * gfn range, mapped or not (slot_handle_level_range charges them), and
 * kvm_zap_rmap -> kvm_zap_all_rmap_sptes (pte_list_destroy before 6.1)
 * clears each SPTE a head holds with mmu_spte_clear_track_bits (the A/D
 * bits go to the struct page: handle_changed_spte's KVM_SET_PFN_AD) and
 * empties the head (one store, KVM_RMAP_ADD).  No iterator step, no walk
 * from the root, no table unlinked: the emptied shadow pages stay.
 * Return: true if anything was zapped (the caller flushes).
 */
static bool kvm_rmap_zap_gfn_range(struct m2d_vm *kvm, const struct kvm_gfn_range *range)
{
	uint64_t start = range->start, end = range->end, zapped = 0;
	struct m2d_pt_iter iter;

	lockdep_assert_held_write(&kvm->mmu_lock);
	if (start >= end)
		return false;
	slot_handle_level_range(kvm, range->slot, M2D_LEVEL_4K, kvm->cfg.max_level, start,
				end - 1);
	end = M2D_MIN(end, m2d_pt_max_addr(kvm->pt) >> M2D_PAGE_SHIFT);
	rcu_read_lock();
	m2d_pt_for_each_pte(iter, kvm->pt, start << M2D_PAGE_SHIFT, end << M2D_PAGE_SHIFT) {
		if (!is_shadow_present_pte(kvm, iter.old_pte) ||
		    !is_last_spte(kvm, iter.old_pte, iter.level))
			continue;
		tdp_mmu_set_spte(kvm, &iter, 0, false); /* mmu_spte_clear_track_bits */
		m2d_delay(M2D_COST_KVM_RMAP_ADD, 1);    /* the head emptied */
		zapped++;
	}
	rcu_read_unlock();
	m2d_count(M2D_CTR_spte_zaps, zapped);
	return zapped;
}

/*
 * kvm_unmap_gfn_range (x86: the rmaps with tdp_mmu=N, then
 * kvm_tdp_mmu_unmap_gfn_range over every root; arm64:
 * __unmap_stage2_range).  Caller holds mmu_lock for write.
 * Return: true if a TLB flush is owed.
 */
bool kvm_unmap_gfn_range(struct m2d_vm *kvm, struct kvm_gfn_range *range)
{
	if (kvm->cfg.mmu == M2D_KVM_MMU_ARM64_S2)
		return kvm_stage2_unmap_range(kvm, range->start, range->end, range->may_block);
	if (kvm_shadow_mmu(kvm) && !kvm_shadow_paging(kvm) && range->slot)
		return kvm_rmap_zap_gfn_range(kvm, range);
	return kvm_tdp_mmu_zap_leafs(kvm, range->start, range->end, range->may_block, false);
}

/*
 * kvm_arch_flush_shadow_memslot (slot deletion).  arm64: unmap the slot's
 * range.  x86: with KVM_X86_QUIRK_SLOT_ZAP_ALL (on unless the VMM disables
 * it, 6.12+; unconditional since the 5.3 revert of "KVM: x86: Zap only the
 * relevant pages when removing a memslot") kvm_mmu_zap_all_fast makes every
 * root obsolete, so every SPTE of every memslot goes and the vCPUs refault
 * all of guest memory; modelled as a zap of every leaf (one root, tables
 * kept).  With the quirk disabled (cfg.slot_zap_only), kvm_mmu_zap_memslot:
 * the slot's SPTEs only.
 */
void kvm_mmu_zap_memslot(struct m2d_vm *kvm, struct m2d_memslot *slot)
{
	bool flush;

	write_lock(&kvm->mmu_lock);
	if (kvm->cfg.mmu == M2D_KVM_MMU_ARM64_S2)
		flush = kvm_stage2_unmap_range(kvm, slot->base_gfn, slot->base_gfn + slot->npages,
					       true);
	else if (!kvm->cfg.slot_zap_only)
		flush = kvm_tdp_mmu_zap_leafs(kvm, 0, m2d_pt_max_addr(kvm->pt) >> M2D_PAGE_SHIFT,
					      true, false);
	else
		flush = kvm_tdp_mmu_zap_leafs(kvm, slot->base_gfn, slot->base_gfn + slot->npages,
					      true, false);
	if (flush)
		kvm_flush_remote_tlbs(kvm);
	write_unlock(&kvm->mmu_lock);
}

/* ---- memory attributes ------------------------------------------------------------------ */

static void hugepage_set_mixed(struct kvm_lpage_info *linfo, bool mixed)
{
	if (mixed)
		linfo->disallow_lpage |= KVM_LPAGE_MIXED_FLAG;
	else
		linfo->disallow_lpage &= ~KVM_LPAGE_MIXED_FLAG;
}

/*
 * kvm_arch_post_set_memory_attributes (x86): recompute the mixed flag of
 * every 2M/1G region touching the range.  A region not entirely inside the
 * slot is mixed; otherwise it is mixed unless all its gfns share the new
 * attributes (for 1G: unless none of its 2M regions is mixed and the whole
 * range has the attributes).
 */
void kvm_arch_post_set_memory_attributes(struct m2d_vm *kvm, struct kvm_gfn_range *range)
{
	struct m2d_memslot *slot = range->slot;

	lockdep_assert_held_write(&kvm->mmu_lock);
	for (int level = M2D_LEVEL_2M; level <= M2D_LEVEL_1G; level++) {
		uint64_t nr = KVM_PAGES_PER_HPAGE(level);
		uint64_t gfn = M2D_ALIGN_DOWN(range->start, nr);

		for (; gfn < range->end; gfn += nr) {
			struct kvm_lpage_info *linfo = lpage_info_slot(
				M2D_MAX(gfn, slot->base_gfn), slot, level);
			bool mixed;

			if (gfn < slot->base_gfn || gfn + nr > slot->base_gfn + slot->npages)
				mixed = true;
			else
				mixed = !kvm_range_has_memory_attributes(kvm, gfn, gfn + nr,
									 range->attrs);
			hugepage_set_mixed(linfo, mixed);
		}
	}
}

/* ---- dirty logging ------------------------------------------------------------------------ */

/*
 * kvm_mmu_slot_apply_flags (x86.c): enabling dirty logging splits huge
 * pages eagerly (unless initially-all-set manual protect defers it to
 * CLEAR_DIRTY_LOG) and write-protects (no PML) or clears D bits (PML),
 * then one flush; disabling recovers huge pages (zap of collapsible SPTEs,
 * which the next faults re-map huge).
 */
void kvm_mmu_slot_apply_flags(struct m2d_vm *kvm, struct m2d_memslot *slot, uint32_t old_flags,
			      uint32_t new_flags)
{
	bool log_dirty_pages = new_flags & M2D_MEM_LOG_DIRTY_PAGES;
	bool shared = !kvm_shadow_mmu(kvm);

	if (!((old_flags ^ new_flags) & M2D_MEM_LOG_DIRTY_PAGES))
		return;
	if (!log_dirty_pages) {
		/* arm64 leaves the 4K mappings in place when logging stops. */
		if (kvm->cfg.mmu != M2D_KVM_MMU_ARM64_S2)
			kvm_mmu_recover_huge_pages(kvm, slot);
		return;
	}
	if (kvm->cfg.manual_protect && kvm->cfg.initially_all_set)
		return;
	if (kvm->cfg.mmu == M2D_KVM_MMU_ARM64_S2) {
		/*
		 * arm64 kvm_arch_commit_memory_region: kvm_mmu_wp_memory_region
		 * (stage2_wp_range under the write lock, then
		 * kvm_flush_remote_tlbs_memslot), then kvm_mmu_split_memory_region
		 * (kvm_mmu_split_huge_pages under the write lock; a no-op unless
		 * the VMM set KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE, cfg.eager_page_split).
		 */
		write_lock(&kvm->mmu_lock);
		kvm_tdp_mmu_wrprot_slot(kvm, slot, M2D_LEVEL_4K, false);
		write_unlock(&kvm->mmu_lock);
		kvm_flush_remote_tlbs(kvm); /* kvm_flush_remote_tlbs_memslot */
		if (kvm->cfg.eager_page_split) {
			write_lock(&kvm->mmu_lock);
			kvm_mmu_split_huge_pages(kvm, slot->base_gfn, slot->base_gfn + slot->npages);
			write_unlock(&kvm->mmu_lock);
		}
		return;
	}
	if (shared)
		read_lock(&kvm->mmu_lock);
	else
		write_lock(&kvm->mmu_lock);
	if (kvm_eager_split_enabled(kvm))
		kvm_tdp_mmu_try_split_huge_pages(kvm, slot, slot->base_gfn,
						 slot->base_gfn + slot->npages, M2D_LEVEL_4K,
						 shared);
	if (kvm->cfg.pml) {
		/* PML: clear D on 4K leaves, write-protect huge ones. */
		kvm_tdp_mmu_clear_dirty_slot(kvm, slot, shared);
		kvm_tdp_mmu_wrprot_slot(kvm, slot, M2D_LEVEL_2M, shared);
	} else {
		kvm_tdp_mmu_wrprot_slot(kvm, slot, M2D_LEVEL_4K, shared);
	}
	/*
	 * With rmaps (tdp_mmu=N) both go through them: PML walks the 4K level
	 * (kvm_mmu_slot_leaf_clear_dirty) and 2M..1G
	 * (kvm_mmu_slot_remove_write_access(PG_LEVEL_2M)), without PML
	 * remove_write_access walks 4K..1G: every level once either way.
	 */
	if (kvm_shadow_mmu(kvm))
		walk_slot_rmaps(kvm, slot, M2D_LEVEL_4K, kvm->cfg.max_level);
	if (shared)
		read_unlock(&kvm->mmu_lock);
	else
		write_unlock(&kvm->mmu_lock);
	/*
	 * Unconditionally flush the TLBs after enabling dirty logging
	 * (kvm_flush_remote_tlbs_memslot, after dropping mmu_lock): the write
	 * protection helpers need not report whether they changed anything.
	 */
	kvm_flush_remote_tlbs(kvm);
}

/*
 * tdp_mmu_make_huge_spte: the huge SPTE that maps what the table under
 * @iter maps, built from the first present leaf below it.
 * Return: 0 and *@huge, or -ENOENT if no leaf is found.
 */
static int tdp_mmu_make_huge_spte(struct m2d_vm *kvm, const struct m2d_pt_iter *parent,
				  uint64_t *huge)
{
	uint64_t start = parent->addr, end = start + m2d_level_size(parent->level);
	struct m2d_pt_iter iter;

	m2d_pt_for_each_pte(iter, kvm->pt, start, end) {
		uint64_t pfn;

		if (iter.level >= parent->level || !is_shadow_present_pte(kvm, iter.old_pte) ||
		    !is_last_spte(kvm, iter.old_pte, iter.level))
			continue;
		pfn = m2d_pte_pfn(kvm->fmt, iter.old_pte, iter.level) -
		      ((iter.addr - start) >> M2D_PAGE_SHIFT);
		*huge = m2d_pte_make_leaf(kvm->fmt, parent->level, pfn,
					  m2d_pte_prot(kvm->fmt, iter.old_pte, iter.level));
		return 0;
	}
	return -ENOENT;
}

static void kvm_mmu_recover_huge_pages_in_place(struct m2d_vm *kvm, struct m2d_memslot *slot);

/*
 * kvm_tdp_mmu_zap_collapsible_sptes (before 6.13): under the read lock,
 * zap every page table that could be replaced by a huge mapping, each with
 * tdp_mmu_zap_spte_atomic and therefore its own remote TLB flush
 * (REC-01-before: 131072 flushes for 256 GiB of 2M regions); the vCPUs'
 * next faults map huge.
 */
static void kvm_tdp_mmu_zap_collapsible_sptes(struct m2d_vm *kvm, struct m2d_memslot *slot)
{
	uint64_t start = slot->base_gfn, end = slot->base_gfn + slot->npages;
	struct m2d_pt_iter iter;

	read_lock(&kvm->mmu_lock);
	rcu_read_lock();
	tdp_mmu_walk_start(kvm);
	m2d_pt_for_each_pte_min_level(iter, kvm->pt, M2D_LEVEL_2M, start << M2D_PAGE_SHIFT,
				      end << M2D_PAGE_SHIFT) {
		uint64_t gfn = iter.addr >> M2D_PAGE_SHIFT;

		m2d_delay(M2D_COST_KVM_TDP_ITER_STEP, 1);
retry:
		if (tdp_mmu_iter_cond_resched(kvm, &iter, false, true))
			continue;
		if (iter.level > kvm->cfg.max_level || gfn < start ||
		    gfn + KVM_PAGES_PER_HPAGE(iter.level) > end ||
		    !is_shadow_present_pte(kvm, iter.old_pte) ||
		    is_last_spte(kvm, iter.old_pte, iter.level))
			continue;
		if (kvm_mmu_max_mapping_level(kvm, slot, gfn, iter.level,
					      kvm_slot_has_gmem(slot) &&
						      kvm_mem_is_private(kvm, gfn)) < iter.level)
			continue;
		/* Note, a successful atomic zap also does a remote TLB flush. */
		if (tdp_mmu_zap_spte_atomic(kvm, &iter))
			goto retry;
	}
	rcu_read_unlock();
	read_unlock(&kvm->mmu_lock);
}

/*
 * kvm_rmap_zap_collapsible_sptes (the shadow MMU, every kernel version):
 * under the write lock, walk_slot_rmaps(kvm_mmu_zap_collapsible_spte,
 * PG_LEVEL_4K, KVM_MAX_HUGEPAGE_LEVEL - 1, flush_on_yield = true) zaps each
 * direct leaf SPTE whose shadow page's level is below
 * kvm_mmu_max_mapping_level(sp->gfn) (kvm_zap_one_rmap_spte).  Only the
 * leaves go: the emptied shadow pages stay linked, never replaced in place
 * (the next fault installs the huge SPTE over them).  One
 * kvm_flush_remote_tlbs_memslot at the end, plus one before each yield
 * that owes one; without Hyper-V's ranged flushes there is no per-SPTE
 * flush.  The walk cost is the rmap heads of both levels (walk_slot_rmaps).
 */
static void kvm_rmap_zap_collapsible_sptes(struct m2d_vm *kvm, struct m2d_memslot *slot)
{
	uint64_t start = slot->base_gfn, end = slot->base_gfn + slot->npages, zapped = 0;
	struct m2d_pt_iter iter;
	bool flush = false;

	lockdep_assert_held_write(&kvm->mmu_lock);
	walk_slot_rmaps(kvm, slot, M2D_LEVEL_4K, M2D_LEVEL_1G - 1);
	/* Shadow paging: indirect shadow pages are never collapsible (!sp->role.direct). */
	if (kvm_shadow_paging(kvm))
		return;
	rcu_read_lock();
	m2d_pt_for_each_pte(iter, kvm->pt, start << M2D_PAGE_SHIFT, end << M2D_PAGE_SHIFT) {
		uint64_t gfn = iter.addr >> M2D_PAGE_SHIFT;

		if (tdp_mmu_iter_cond_resched(kvm, &iter, flush, false)) {
			flush = false;
			continue;
		}
		if (iter.level >= M2D_LEVEL_1G || !is_shadow_present_pte(kvm, iter.old_pte) ||
		    !is_last_spte(kvm, iter.old_pte, iter.level))
			continue;
		/* sp->role.level < kvm_mmu_max_mapping_level(kvm, slot, sp->gfn, PG_LEVEL_NUM) */
		if (kvm_mmu_max_mapping_level(kvm, slot, gfn, M2D_LEVEL_1G, false) <= iter.level)
			continue;
		/* kvm_zap_one_rmap_spte: pte_list_remove + mmu_spte_clear_track_bits */
		tdp_mmu_set_spte(kvm, &iter, 0, false);
		m2d_delay(M2D_COST_KVM_RMAP_ADD, 1);
		zapped++;
		flush = true;
	}
	rcu_read_unlock();
	m2d_count(M2D_CTR_spte_zaps, zapped);
	if (flush)
		kvm_flush_remote_tlbs(kvm);
}

/*
 * kvm_mmu_recover_huge_pages (6.13+) / kvm_mmu_zap_collapsible_sptes
 * (before): the rmap zap for the shadow MMU in either version; for the TDP
 * MMU in place or by zapping tables, per the kernel version.
 */
void kvm_mmu_recover_huge_pages(struct m2d_vm *kvm, struct m2d_memslot *slot)
{
	if (kvm_shadow_mmu(kvm)) {
		write_lock(&kvm->mmu_lock);
		kvm_rmap_zap_collapsible_sptes(kvm, slot);
		write_unlock(&kvm->mmu_lock);
		return;
	}
	if (kvm->cfg.recover_zap) {
		kvm_tdp_mmu_zap_collapsible_sptes(kvm, slot);
		return;
	}
	kvm_mmu_recover_huge_pages_in_place(kvm, slot);
}

/*
 * kvm_tdp_mmu_recover_huge_pages (6.13, David Matlack): when dirty logging
 * is disabled, replace each page table that could be a huge mapping
 * (memslot alignment, host mapping level) by one huge SPTE, in place, with
 * cmpxchg under the read lock; the old tables are RCU-freed by the pt
 * module; one flush at the end (REC-01-after).
 */
static void kvm_mmu_recover_huge_pages_in_place(struct m2d_vm *kvm, struct m2d_memslot *slot)
{
	const bool shared = true;
	uint64_t start = slot->base_gfn, end = slot->base_gfn + slot->npages;
	struct m2d_pt_iter iter;
	bool flush = false;

	read_lock(&kvm->mmu_lock);
	rcu_read_lock();
	tdp_mmu_walk_start(kvm);
	m2d_pt_for_each_pte_min_level(iter, kvm->pt, M2D_LEVEL_2M, start << M2D_PAGE_SHIFT,
				      end << M2D_PAGE_SHIFT) {
		uint64_t gfn = iter.addr >> M2D_PAGE_SHIFT, huge;
		int max_level;

		m2d_delay(M2D_COST_KVM_TDP_ITER_STEP, 1);
retry:
		if (tdp_mmu_iter_cond_resched(kvm, &iter, flush, shared)) {
			flush = false;
			continue;
		}
		if (iter.level > kvm->cfg.max_level || gfn < start ||
		    gfn + KVM_PAGES_PER_HPAGE(iter.level) > end ||
		    !is_shadow_present_pte(kvm, iter.old_pte) ||
		    is_last_spte(kvm, iter.old_pte, iter.level))
			continue;
		max_level = kvm_mmu_max_mapping_level(kvm, slot, gfn, iter.level,
						      kvm_slot_has_gmem(slot) &&
							      kvm_mem_is_private(kvm, gfn));
		if (max_level < iter.level)
			continue;
		if (tdp_mmu_make_huge_spte(kvm, &iter, &huge))
			continue;
		if (tdp_mmu_set_spte(kvm, &iter, huge, shared))
			goto retry;
		flush = true;
	}
	rcu_read_unlock();
	if (flush)
		kvm_flush_remote_tlbs(kvm);
	read_unlock(&kvm->mmu_lock);
}

/*
 * sev_handle_rmp_fault (arch/x86/kvm/svm/sev.c), called by
 * npf_interception after kvm_mmu_page_fault for an #NPF with the RMP bit:
 * kvm_gmem_get_pfn, then the RMP decision (lib/coco: PSMASH a 2M entry),
 * then kvm_zap_gfn_range(gfn, gfn + 512) so the next fault maps at the
 * RMP's size.
 */
void kvm_handle_rmp_fault(struct m2d_vcpu *vcpu, uint64_t gpa, uint64_t error_code)
{
	struct m2d_vm *kvm = vcpu->vm;
	uint64_t gfn = gpa >> M2D_PAGE_SHIFT, pfn;
	struct m2d_memslot *slot = kvm_vcpu_gfn_to_memslot(vcpu, gfn);
	struct m2d_sev_rmp_fault out;
	int order;

	if (!kvm->sev || !slot || !kvm_slot_has_gmem(slot) || !kvm->ops.gmem_get_pfn)
		return;
	if (kvm->ops.gmem_get_pfn(slot->gmem, slot, gfn, &pfn, &order))
		return;
	if (m2d_sev_handle_rmp_fault(kvm->sev, m2d_gfn_from_u64(gfn), m2d_pfn_from_u64(pfn),
				     error_code, &out))
		return;
	if (out.zap)
		kvm_zap_gfn_range(kvm, m2d_gfn_as_u64(out.zap_start), m2d_gfn_as_u64(out.zap_end));
}
