// SPDX-License-Identifier: MIT
/*
 * lib/kvm/kvm.c - struct kvm: creation, memslot updates, the mmu_notifier
 * invalidation protocol, remote TLB flushes, memory attributes.
 *
 * Mirrors virt/kvm/kvm_main.c (MECHANISMS.md 5 and 2.6):
 *
 *  invalidate_range_start: mn_active_invalidate_count++ under
 *    mn_invalidate_lock; __kvm_handle_hva_range over every memslot whose HVA
 *    interval overlaps: on the first one take mmu_lock for write and call
 *    kvm_mmu_invalidate_begin (in_progress++); for each one
 *    kvm_mmu_unmap_gfn_range = range_add (min/max accumulation) + arch
 *    zap; one kvm_flush_remote_tlbs if anything was zapped; unlock.
 *  invalidate_range_end: same walk with a null handler and
 *    on_lock = kvm_mmu_invalidate_end (seq++, in_progress--).
 *
 * Faults snapshot mmu_invalidate_seq before resolving the pfn and recheck
 * with mmu_invalidate_retry_gfn (x86) or mmu_invalidate_retry (arm64)
 * under mmu_lock.  The guest's busy re-fault loop while an invalidation is
 * in progress is modelled in mmu.c with mmu_invalidate_wq; it is woken here
 * when the last invalidation ends.
 */
#include "kvm/kvm.h"

#include "core/alloc.h"

#include <mmu2d/error.h>

#include <errno.h>
#include <string.h>

void m2d_vm_config_default(struct m2d_vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mmu = M2D_KVM_MMU_TDP;
	cfg->vendor = M2D_KVM_VENDOR_INTEL;
	cfg->max_level = M2D_LEVEL_1G;
	cfg->eager_page_split = true;
	cfg->pml = true;
	cfg->fault_split_huge = true;
}

int m2d_vm_create(struct m2d_vm **out, struct m2d_sim *sim, const struct m2d_vm_config *cfg,
		  const struct m2d_kvm_host_ops *ops)
{
	struct m2d_vm *kvm;
	int ret;

	M2D_VALIDATE_OR_RET(out && sim && cfg && ops, -EINVAL);
	M2D_VALIDATE_OR_RET(cfg->mmu < M2D_KVM_MMU_NR && cfg->vendor < M2D_KVM_VENDOR_NR, -EINVAL);
	/* kvm_is_block_size_supported: 2M or 1G with 4K pages (0 = 2M) */
	M2D_VALIDATE_OR_RET(!cfg->s2_split_chunk_kib || cfg->s2_split_chunk_kib == 2048 ||
				    cfg->s2_split_chunk_kib == 1048576,
			    -EINVAL);
	M2D_VALIDATE_OR_RET(cfg->max_level >= M2D_LEVEL_4K && cfg->max_level <= M2D_LEVEL_1G,
			    -EINVAL);
	M2D_VALIDATE_OR_RET(ops->gup_fast && ops->gup_slow && ops->mmap_read_lock &&
			    ops->mmap_read_unlock && ops->vma_lookup && ops->host_mapping_level,
			    -EINVAL);

	kvm = m2d_zalloc(M2D_ALLOC_KVM, sizeof(*kvm));
	if (!kvm)
		return -ENOMEM;
	kvm->sim = sim;
	kvm->cfg = *cfg;
	kvm->ops = *ops;
	if (cfg->mmu == M2D_KVM_MMU_ARM64_S2)
		kvm->fmt = M2D_PT_ARM64_S2;
	else if (cfg->mmu == M2D_KVM_MMU_SHADOW)
		kvm->fmt = M2D_PT_X86_64; /* shadow PTEs are ordinary x86 PTEs; no PML without EPT */
	else
		kvm->fmt = cfg->vendor == M2D_KVM_VENDOR_INTEL ? M2D_PT_EPT : M2D_PT_X86_64;
	if (kvm->fmt != M2D_PT_EPT)
		kvm->cfg.pml = false;

	m2d_engine_enter(sim);
	mutex_init(&kvm->slots_lock, "slots_lock", M2D_RANK_SLOTS_LOCK);
	rwlock_init(&kvm->mmu_lock, "mmu_lock", M2D_RANK_MMU_LOCK);
	m2d_cacheline_init(&kvm->stat_pages_line);
	m2d_serial_init(&kvm->s2_dvm, "dvm");
	m2d_serial_init(&kvm->s2_membw, "dram_write");
	spin_lock_init(&kvm->mn_invalidate_lock, "mn_invalidate_lock", M2D_RANK_MN_INVALIDATE);
	m2d_waitqueue_init(&kvm->mmu_invalidate_wq, "mmu_invalidate_retry");
	m2d_waitqueue_init(&kvm->mn_memslots_update_wq, "mn_memslots_update");
	kvm->mmu_invalidate_range_start = INVALID_GPA;
	kvm->mmu_invalidate_range_end = INVALID_GPA;
	ret = kvm_mmu_init_vm(kvm);
	m2d_engine_leave(sim);
	if (ret)
		goto err_free;
	*out = kvm;
	return 0;

err_free:
	m2d_lock_fini(&kvm->slots_lock.c);
	m2d_lock_fini(&kvm->mmu_lock.c);
	m2d_lock_fini(&kvm->mn_invalidate_lock.c);
	m2d_waitqueue_fini(&kvm->mmu_invalidate_wq);
	m2d_waitqueue_fini(&kvm->mn_memslots_update_wq);
	m2d_free(M2D_ALLOC_KVM, kvm, sizeof(*kvm));
	return ret;
}

void m2d_vm_destroy(struct m2d_vm **pvm)
{
	struct m2d_vm *kvm = pvm ? *pvm : NULL;

	if (!kvm)
		return;
	m2d_engine_enter(kvm->sim);
	kvm_mmu_notifier_unregister(kvm);
	kvm_mmu_uninit_vm(kvm);
	m2d_engine_leave(kvm->sim);
	m2d_memslots_fini(&kvm->slots);
	for (unsigned i = 0; i < kvm->nr_vcpus; i++)
		m2d_free(M2D_ALLOC_KVM, kvm->vcpus[i], sizeof(struct m2d_vcpu));
	m2d_free(M2D_ALLOC_KVM, kvm->vcpus, kvm->vcpus_cap * sizeof(kvm->vcpus[0]));
	m2d_free(M2D_ALLOC_KVM, kvm->attrs, kvm->attrs_cap * sizeof(kvm->attrs[0]));
	m2d_lock_fini(&kvm->slots_lock.c);
	m2d_lock_fini(&kvm->mmu_lock.c);
	m2d_lock_fini(&kvm->mn_invalidate_lock.c);
	m2d_waitqueue_fini(&kvm->mmu_invalidate_wq);
	m2d_waitqueue_fini(&kvm->mn_memslots_update_wq);
	m2d_free(M2D_ALLOC_KVM, kvm, sizeof(*kvm));
	*pvm = NULL;
}

void m2d_vm_stats_get(const struct m2d_vm *kvm, struct m2d_vm_stats *out)
{
	if (M2D_WARN_ON_ONCE(!kvm || !out))
		return;
	memset(out, 0, sizeof(*out));
	for (int l = 1; l <= 3; l++)
		out->pages[l] = kvm->pages[l];
	out->mmu_pages = kvm->mmu_pages;
	out->mmu_invalidate_seq = kvm->mmu_invalidate_seq;
	out->remote_tlb_flush_requests = kvm->remote_tlb_flush_requests;
	out->remote_tlb_flush = kvm->remote_tlb_flush;
}

/* ---- invalidation protocol -------------------------------------------------- */

/* kvm_mmu_invalidate_begin */
void kvm_mmu_invalidate_begin(struct m2d_vm *kvm)
{
	lockdep_assert_held_write(&kvm->mmu_lock);
	/*
	 * The count increase must become visible at unlock time as no
	 * spte can be established without taking the mmu_lock and
	 * count is also read inside the mmu_lock critical section.
	 */
	kvm->mmu_invalidate_in_progress++;
	if (kvm->mmu_invalidate_in_progress == 1) {
		kvm->mmu_invalidate_range_start = INVALID_GPA;
		kvm->mmu_invalidate_range_end = INVALID_GPA;
	}
}

/* kvm_mmu_invalidate_range_add */
void kvm_mmu_invalidate_range_add(struct m2d_vm *kvm, uint64_t start, uint64_t end)
{
	lockdep_assert_held_write(&kvm->mmu_lock);
	M2D_WARN_ON_ONCE(!kvm->mmu_invalidate_in_progress);

	if (kvm->mmu_invalidate_range_start == INVALID_GPA) {
		kvm->mmu_invalidate_range_start = start;
		kvm->mmu_invalidate_range_end = end;
	} else {
		/*
		 * Fully tracking multiple concurrent ranges has diminishing
		 * returns. Keep things simple and just find the minimal range
		 * which includes the current and new ranges. As there won't be
		 * enough information to subtract a range after its invalidate
		 * completes, any ranges invalidated concurrently will
		 * accumulate and persist until all outstanding invalidates
		 * complete.
		 */
		kvm->mmu_invalidate_range_start = M2D_MIN(kvm->mmu_invalidate_range_start, start);
		kvm->mmu_invalidate_range_end = M2D_MAX(kvm->mmu_invalidate_range_end, end);
	}
}

/* kvm_mmu_invalidate_end */
void kvm_mmu_invalidate_end(struct m2d_vm *kvm)
{
	lockdep_assert_held_write(&kvm->mmu_lock);
	/*
	 * This sequence increase will notify the kvm page fault that
	 * the page that is going to be mapped in the spte could have
	 * been freed.
	 */
	kvm->mmu_invalidate_seq++;
	cmm_smp_wmb();
	/*
	 * The above sequence increase must be visible before the
	 * below count decrease, which is ensured by the smp_wmb above
	 * in conjunction with the smp_rmb in mmu_invalidate_retry().
	 */
	kvm->mmu_invalidate_in_progress--;
	M2D_BUG_ON(kvm->mmu_invalidate_in_progress < 0);
	M2D_WARN_ON_ONCE(kvm->mmu_invalidate_range_start == INVALID_GPA);

	/* Model: release vCPUs spinning in their re-fault loop (mmu.c). */
	if (!kvm->mmu_invalidate_in_progress && kvm->nr_retry_waiters)
		m2d_wake_up_all(&kvm->mmu_invalidate_wq);
}

/* mmu_invalidate_retry (arm64): any invalidation in progress, or seq moved. */
bool mmu_invalidate_retry(const struct m2d_vm *kvm, uint64_t mmu_seq)
{
	if (kvm->mmu_invalidate_in_progress)
		return true;
	/*
	 * Ensure the read of mmu_invalidate_in_progress happens in-order
	 * wrt the read of mmu_invalidate_seq.
	 */
	cmm_smp_rmb();
	return kvm->mmu_invalidate_seq != mmu_seq;
}

/* mmu_invalidate_retry_gfn (x86, mmu_lock held) */
bool mmu_invalidate_retry_gfn(const struct m2d_vm *kvm, uint64_t mmu_seq, uint64_t gfn)
{
	lockdep_assert_held(&kvm->mmu_lock);
	if (kvm->mmu_invalidate_in_progress) {
		/*
		 * Dropping mmu_lock after bumping mmu_invalidate_in_progress
		 * but before updating the range is a KVM bug.
		 */
		if (M2D_WARN_ON_ONCE(kvm->mmu_invalidate_range_start == INVALID_GPA ||
				     kvm->mmu_invalidate_range_end == INVALID_GPA))
			return true;
		if (gfn >= kvm->mmu_invalidate_range_start && gfn < kvm->mmu_invalidate_range_end)
			return true;
	}
	return kvm->mmu_invalidate_seq != mmu_seq;
}

/* mmu_invalidate_retry_gfn_unsafe: lockless, may be wrong either way. */
bool mmu_invalidate_retry_gfn_unsafe(const struct m2d_vm *kvm, uint64_t mmu_seq, uint64_t gfn)
{
	/*
	 * Use READ_ONCE() to ensure the in-progress flag and sequence counter
	 * are always read from memory, e.g. so that checking for retry in a
	 * loop won't result in an infinite retry loop.  Don't force loads for
	 * start+end, as the key to avoiding infinite retry loops is observing
	 * the 1=>0 transition of in-progress, i.e. getting false negatives
	 * due to stale start+end values is acceptable.
	 */
	if (READ_ONCE(kvm->mmu_invalidate_in_progress) &&
	    gfn >= kvm->mmu_invalidate_range_start && gfn < kvm->mmu_invalidate_range_end)
		return true;
	return READ_ONCE(kvm->mmu_invalidate_seq) != mmu_seq;
}

/*
 * kvm_flush_remote_tlbs: ++remote_tlb_flush_requests, then
 * kvm_make_all_cpus_request(KVM_REQ_TLB_FLUSH): set the request on every
 * vCPU and IPI those in guest mode on another CPU with
 * smp_call_function_many(ack_kick, wait = true).  ack_kick is empty: the
 * sender waits for the delivery (the target's VM exit) only.  The request
 * stays pending; every vCPU, kicked or not, flushes its guest TLB
 * (KVM_TLB_FLUSH_GUEST) when it next enters the guest (vcpu.c).
 */
void kvm_flush_remote_tlbs(struct m2d_vm *kvm)
{
	struct m2d_cpumask mask;
	int me = m2d_current_cpu();
	bool any = false;

	kvm->remote_tlb_flush_requests++;
	m2d_count(M2D_CTR_remote_tlb_flushes, 1);
	m2d_delay(M2D_COST_KVM_REMOTE_FLUSH_REQ, 1);
	if (kvm->cfg.mmu == M2D_KVM_MMU_ARM64_S2) {
		/* kvm_arch_flush_remote_tlbs: broadcast TLBI VMALLS12E1IS, no IPIs. */
		kvm_stage2_tlbi(kvm, M2D_COST_KVM_S2_TLBI_VMID, 1);
		kvm->remote_tlb_flush++;
		return;
	}

	memset(&mask, 0, sizeof(mask));
	for (unsigned i = 0; i < kvm->nr_vcpus; i++) {
		struct m2d_vcpu *vcpu = kvm->vcpus[i];
		int cpu;

		vcpu->requests |= KVM_REQ_TLB_FLUSH;
		m2d_delay(M2D_COST_KVM_MAKE_REQUEST, 1);
		if (!vcpu->thread || !m2d_thread_in_guest_mode(vcpu->thread))
			continue;
		cpu = m2d_thread_cpu(vcpu->thread);
		if (cpu == me || cpu < 0 || cpu >= M2D_MAX_CPUS)
			continue;
		mask.bits[cpu / 64] |= 1ull << (cpu % 64);
		any = true;
	}
	if (any)
		m2d_ipi_send_mask(&mask, M2D_COST_KVM_ACK_KICK);
	kvm->remote_tlb_flush++;
}

/* ---- __kvm_handle_hva_range ------------------------------------------------- */

typedef bool (*gfn_handler_t)(struct m2d_vm *kvm, struct kvm_gfn_range *range);
typedef void (*on_lock_fn_t)(struct m2d_vm *kvm);

struct kvm_mmu_notifier_range {
	uint64_t start, end;    /* HVA */
	gfn_handler_t handler;  /* NULL = none */
	on_lock_fn_t on_lock;
	bool flush_on_ret;
	bool may_block;
};

struct hva_walk {
	struct m2d_vm *kvm;
	const struct kvm_mmu_notifier_range *range;
	bool found_memslot;
	bool ret;
};

/* hva_to_gfn_memslot */
static uint64_t hva_to_gfn_memslot(uint64_t hva, const struct m2d_memslot *slot)
{
	return slot->base_gfn + ((hva - slot->userspace_addr) >> M2D_PAGE_SHIFT);
}

static bool handle_hva_slot(struct m2d_memslot *slot, uint64_t hva_start, uint64_t hva_end,
			    void *arg)
{
	struct hva_walk *w = arg;
	struct kvm_gfn_range gfn_range = {
		.slot = slot,
		/*
		 * To optimize for the likely case where the address range is
		 * covered by exactly one memslot, don't bother making these
		 * conditional.
		 */
		.start = hva_to_gfn_memslot(hva_start, slot),
		.end = hva_to_gfn_memslot(hva_end + M2D_PAGE_SIZE - 1, slot),
		.may_block = w->range->may_block,
	};

	m2d_delay(M2D_COST_KVM_MEMSLOT_VISIT, 1);
	if (!w->found_memslot) {
		w->found_memslot = true;
		write_lock(&w->kvm->mmu_lock);
		if (w->range->on_lock)
			w->range->on_lock(w->kvm);
		if (!w->range->handler)
			return false;
	}
	w->ret |= w->range->handler(w->kvm, &gfn_range);
	return true;
}

/* __kvm_handle_hva_range: Return: whether a memslot overlapped. */
static bool kvm_handle_hva_range(struct m2d_vm *kvm, const struct kvm_mmu_notifier_range *range)
{
	struct hva_walk w = { .kvm = kvm, .range = range };

	if (M2D_WARN_ON_ONCE(range->end <= range->start))
		return false;
	m2d_memslots_for_each_hva_overlap(&kvm->slots, range->start, range->end,
					  handle_hva_slot, &w);
	if (range->flush_on_ret && w.ret)
		kvm_flush_remote_tlbs(kvm);
	if (w.found_memslot)
		write_unlock(&kvm->mmu_lock);
	return w.found_memslot;
}

/* kvm_mmu_unmap_gfn_range */
static bool kvm_mmu_unmap_gfn_range(struct m2d_vm *kvm, struct kvm_gfn_range *range)
{
	kvm_mmu_invalidate_range_add(kvm, range->start, range->end);
	return kvm_unmap_gfn_range(kvm, range);
}

void m2d_vm_mmu_notifier_invalidate_range_start(struct m2d_vm *kvm, uint64_t start,
						uint64_t end, bool may_block)
{
	const struct kvm_mmu_notifier_range hva_range = {
		.start = start,
		.end = end,
		.handler = kvm_mmu_unmap_gfn_range,
		.on_lock = kvm_mmu_invalidate_begin,
		.flush_on_ret = true,
		.may_block = may_block,
	};

	bool entered = kvm_engine_enter(kvm);

	m2d_count(M2D_CTR_mmu_notifier_invalidations, 1);
	/*
	 * Prevent memslot modification between range_start() and range_end()
	 * so that conditionally locking provides the same result in both
	 * functions.
	 */
	spin_lock(&kvm->mn_invalidate_lock);
	kvm->mn_active_invalidate_count++;
	spin_unlock(&kvm->mn_invalidate_lock);

	kvm_handle_hva_range(kvm, &hva_range);
	/* kvm_arch_guest_memory_reclaimed: WBINVD only for SEV/SEV-ES (not modelled). */
	kvm_engine_leave(kvm, entered);
}

void m2d_vm_mmu_notifier_invalidate_range_end(struct m2d_vm *kvm, uint64_t start, uint64_t end)
{
	const struct kvm_mmu_notifier_range hva_range = {
		.start = start,
		.end = end,
		.handler = NULL,
		.on_lock = kvm_mmu_invalidate_end,
		.flush_on_ret = false,
		.may_block = false,
	};
	bool entered = kvm_engine_enter(kvm), wake;

	kvm_handle_hva_range(kvm, &hva_range);

	/* Pairs with the increment in range_start(). */
	spin_lock(&kvm->mn_invalidate_lock);
	if (!M2D_WARN_ON_ONCE(!kvm->mn_active_invalidate_count))
		--kvm->mn_active_invalidate_count;
	wake = !kvm->mn_active_invalidate_count;
	spin_unlock(&kvm->mn_invalidate_lock);
	/*
	 * There can only be one waiter, since the wait happens under
	 * slots_lock.
	 */
	if (wake)
		m2d_wake_up_all(&kvm->mn_memslots_update_wq);
	kvm_engine_leave(kvm, entered);
}

/*
 * kvm_zap_gfn_range (arch/x86/kvm/mmu/mmu.c): mmu_lock write,
 * invalidate_begin + range_add, zap, flush, invalidate_end.
 */
void kvm_zap_gfn_range(struct m2d_vm *kvm, uint64_t gfn_start, uint64_t gfn_end)
{
	bool flush;

	if (M2D_WARN_ON_ONCE(gfn_end <= gfn_start))
		return;
	write_lock(&kvm->mmu_lock);
	kvm_mmu_invalidate_begin(kvm);
	kvm_mmu_invalidate_range_add(kvm, gfn_start, gfn_end);
	if (kvm->cfg.mmu == M2D_KVM_MMU_ARM64_S2)
		flush = kvm_stage2_unmap_range(kvm, gfn_start, gfn_end, true);
	else
		flush = kvm_tdp_mmu_zap_leafs(kvm, gfn_start, gfn_end, true, false);
	if (flush)
		kvm_flush_remote_tlbs(kvm);
	kvm_mmu_invalidate_end(kvm);
	write_unlock(&kvm->mmu_lock);
}

/* ---- memslot updates ----------------------------------------------------------- */

/*
 * kvm_swap_active_memslots: publish the other memslot set, then wait for
 * every kvm->srcu reader of the old one (synchronize_srcu_expedited).  The
 * wait for in-flight invalidations (mn_active_invalidate_count) is done by
 * the caller, once per update.
 */
static void kvm_swap_active_memslots(struct m2d_vm *kvm)
{
	(void)kvm;
	m2d_delay(M2D_COST_SRCU_EXPEDITED_GP, 1);
}

static int vm_delete_memslot(struct m2d_vm *kvm, struct m2d_memslot *slot)
{
	/*
	 * kvm_set_memslot(KVM_MR_DELETE): the slot is made invalid, then
	 * kvm_arch_flush_shadow_memslot zaps its SPTEs, then it is removed.
	 */
	kvm_swap_active_memslots(kvm); /* kvm_invalidate_memslot */
	kvm_mmu_zap_memslot(kvm, slot);
	kvm_swap_active_memslots(kvm); /* kvm_delete_memslot */
	for (unsigned i = 0; i < kvm->nr_vcpus; i++)
		if (kvm->vcpus[i]->last_used_slot == slot)
			kvm->vcpus[i]->last_used_slot = NULL;
	m2d_memslots_remove(&kvm->slots, slot);
	if ((slot->flags & M2D_MEM_GUEST_MEMFD) && kvm->ops.gmem_unbind)
		kvm->ops.gmem_unbind(slot->gmem, slot);
	kvm_free_memslot(slot);
	return 0;
}

/* kvm_dirty_bitmap_bytes */
static uint64_t kvm_dirty_bitmap_bytes(const struct m2d_memslot *slot)
{
	return M2D_DIV_ROUND_UP(slot->npages, 64) * sizeof(uint64_t);
}

#define KMALLOC_MAX_SIZE (4ull << 20) /* 1 << (MAX_ORDER + PAGE_SHIFT - 1), MAX_ORDER 11 */

/*
 * The cost of kvzalloc(@bytes, GFP_KERNEL_ACCOUNT) (mm/util.c
 * kvmalloc_node, 2022): up to KMALLOC_MAX_SIZE one kmalloc (a single
 * high-order buddy allocation), else __vmalloc_node: an order-0 page per
 * 4K, each mapped into the vmalloc area.  __GFP_ZERO clears every page.
 */
static void kvzalloc_cost(uint64_t bytes)
{
	uint64_t pages = M2D_DIV_ROUND_UP(bytes, M2D_PAGE_SIZE);

	if (bytes <= KMALLOC_MAX_SIZE) {
		m2d_delay(M2D_COST_BUDDY_ALLOC, 1);
	} else {
		m2d_delay(M2D_COST_BUDDY_ALLOC, pages);
		m2d_delay(M2D_COST_MM_PTE_UPDATE, pages);
	}
	m2d_delay(M2D_COST_MM_CLEAR_PAGE, pages * (M2D_PAGE_SIZE / 1024));
}

/* kvfree: kfree of the one allocation, or vfree of every page. */
static void kvfree_cost(uint64_t bytes)
{
	m2d_delay(M2D_COST_BUDDY_FREE,
		  bytes <= KMALLOC_MAX_SIZE ? 1 : M2D_DIV_ROUND_UP(bytes, M2D_PAGE_SIZE));
}

/*
 * kvm_alloc_dirty_bitmap: twice the bitmap (the second half is
 * KVM_GET_DIRTY_LOG's buffer), zeroed.
 */
static int alloc_dirty_bitmap(struct m2d_memslot *slot)
{
	kvzalloc_cost(2 * kvm_dirty_bitmap_bytes(slot));
	slot->dirty_bitmap = m2d_calloc(M2D_ALLOC_KVM, M2D_DIV_ROUND_UP(slot->npages, 64),
					sizeof(uint64_t));
	return slot->dirty_bitmap ? 0 : -ENOMEM;
}

/* kvm_destroy_dirty_bitmap */
static void free_dirty_bitmap(struct m2d_memslot *slot)
{
	kvfree_cost(2 * kvm_dirty_bitmap_bytes(slot));
	m2d_free(M2D_ALLOC_KVM, slot->dirty_bitmap,
		 M2D_DIV_ROUND_UP(slot->npages, 64) * sizeof(uint64_t));
	slot->dirty_bitmap = NULL;
}

/* KVM_DIRTY_LOG_INITIALLY_SET: the bitmap starts all-ones. */
static void dirty_bitmap_set_all(struct m2d_memslot *slot)
{
	uint64_t words = M2D_DIV_ROUND_UP(slot->npages, 64);

	/* bitmap_set(new->dirty_bitmap, 0, new->npages): a memset of the first half */
	m2d_delay(M2D_COST_MM_CLEAR_PAGE, M2D_DIV_ROUND_UP(words * sizeof(uint64_t), 1024));
	for (uint64_t w = 0; w < words; w++)
		slot->dirty_bitmap[w] = ~0ull;
	if (slot->npages % 64)
		slot->dirty_bitmap[words - 1] = (1ull << (slot->npages % 64)) - 1;
}

static int vm_create_memslot(struct m2d_vm *kvm, const struct m2d_memslot_desc *d)
{
	struct m2d_memslot *slot;
	int ret;

	slot = m2d_zalloc(M2D_ALLOC_KVM, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	slot->id = d->id;
	slot->flags = d->flags;
	slot->base_gfn = d->guest_phys >> M2D_PAGE_SHIFT;
	slot->npages = d->size >> M2D_PAGE_SHIFT;
	slot->userspace_addr = d->userspace_addr;
	slot->mm = d->mm;
	slot->gmem = d->gmem;
	slot->gmem_pgoff = d->gmem_offset >> M2D_PAGE_SHIFT;
	ret = kvm_alloc_memslot_metadata(slot); /* frees @slot on failure */
	if (ret)
		return ret;
	/* Shadow paging: the 4K rmap and the write-tracking counts (kvm_page_track_create_memslot). */
	if (kvm_shadow_paging(kvm)) {
		ret = shadow_alloc_memslot_rmap(slot);
		if (ret)
			goto err_free;
	}
	if (slot->flags & M2D_MEM_LOG_DIRTY_PAGES) {
		ret = alloc_dirty_bitmap(slot);
		if (ret)
			goto err_free;
		if (kvm->cfg.manual_protect && kvm->cfg.initially_all_set)
			dirty_bitmap_set_all(slot);
	}
	if ((slot->flags & M2D_MEM_GUEST_MEMFD) && kvm->ops.gmem_bind) {
		ret = kvm->ops.gmem_bind(slot->gmem, slot, slot->base_gfn, slot->npages,
					 d->gmem_offset);
		if (ret)
			goto err_free;
	}
	ret = m2d_memslots_insert(&kvm->slots, slot);
	if (ret)
		goto err_unbind;
	kvm_swap_active_memslots(kvm); /* kvm_create_memslot */
	return 0;

err_unbind:
	if ((slot->flags & M2D_MEM_GUEST_MEMFD) && kvm->ops.gmem_unbind)
		kvm->ops.gmem_unbind(slot->gmem, slot);
err_free:
	kvm_free_memslot(slot);
	return ret;
}

static int vm_change_flags(struct m2d_vm *kvm, struct m2d_memslot *slot, uint32_t new_flags)
{
	uint32_t old_flags = slot->flags;
	int ret;

	if ((old_flags ^ new_flags) & ~M2D_MEM_LOG_DIRTY_PAGES)
		return -EINVAL;
	if (old_flags == new_flags)
		return 0;
	if (new_flags & M2D_MEM_LOG_DIRTY_PAGES) {
		ret = alloc_dirty_bitmap(slot);
		if (ret)
			return ret;
		if (kvm->cfg.manual_protect && kvm->cfg.initially_all_set)
			dirty_bitmap_set_all(slot);
	}
	slot->flags = new_flags;
	kvm_swap_active_memslots(kvm); /* kvm_update_flags_memslot */
	kvm_mmu_slot_apply_flags(kvm, slot, old_flags, new_flags);
	if (!(new_flags & M2D_MEM_LOG_DIRTY_PAGES))
		free_dirty_bitmap(slot);
	return 0;
}

int m2d_vm_set_memslot(struct m2d_vm *kvm, const struct m2d_memslot_desc *d)
{
	struct m2d_memslot *slot;
	uint32_t known = M2D_MEM_LOG_DIRTY_PAGES | M2D_MEM_READONLY | M2D_MEM_GUEST_MEMFD;
	bool entered;
	int ret;

	M2D_VALIDATE_OR_RET(kvm && d, -EINVAL);
	if ((d->flags & ~known) || !M2D_IS_ALIGNED(d->guest_phys, M2D_PAGE_SIZE) ||
	    !M2D_IS_ALIGNED(d->size, M2D_PAGE_SIZE) ||
	    !M2D_IS_ALIGNED(d->userspace_addr, M2D_PAGE_SIZE) ||
	    !M2D_IS_ALIGNED(d->gmem_offset, M2D_PAGE_SIZE))
		return -EINVAL;
	if (d->guest_phys + d->size < d->guest_phys ||
	    d->userspace_addr + d->size < d->userspace_addr)
		return -EINVAL;
	if ((d->flags & M2D_MEM_GUEST_MEMFD) && (!d->gmem || !kvm->ops.gmem_get_pfn))
		return -EINVAL;
	if (d->guest_phys + d->size > m2d_pt_max_addr(kvm->pt))
		return -EINVAL;

	entered = kvm_engine_enter(kvm);
	mutex_lock(&kvm->slots_lock);
	/*
	 * kvm_swap_active_memslots: do not change the memslots an
	 * invalidation in flight walked in range_start() (its range_end()
	 * must see the same ones).
	 */
	m2d_wait_event(&kvm->mn_memslots_update_wq, !READ_ONCE(kvm->mn_active_invalidate_count),
		       false);
	slot = m2d_memslot_by_id(&kvm->slots, d->id);
	if (!d->size) {
		ret = slot ? vm_delete_memslot(kvm, slot) : -ENOENT;
	} else if (slot) {
		if (slot->base_gfn != d->guest_phys >> M2D_PAGE_SHIFT ||
		    slot->npages != d->size >> M2D_PAGE_SHIFT ||
		    slot->userspace_addr != d->userspace_addr)
			ret = -EEXIST;
		else
			ret = vm_change_flags(kvm, slot, d->flags);
	} else {
		ret = vm_create_memslot(kvm, d);
	}
	mutex_unlock(&kvm->slots_lock);
	kvm_engine_leave(kvm, entered);
	return ret;
}

/* ---- memory attributes (KVM_SET_MEMORY_ATTRIBUTES) ------------------------------ */

/* Index of the first run whose end is > @gfn. */
static unsigned attr_search(const struct m2d_vm *kvm, uint64_t gfn)
{
	unsigned lo = 0, hi = kvm->nr_attrs;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (kvm->attrs[mid].end <= gfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint64_t get_attrs(const struct m2d_vm *kvm, uint64_t gfn)
{
	unsigned i = attr_search(kvm, gfn);

	if (i < kvm->nr_attrs && kvm->attrs[i].start <= gfn)
		return kvm->attrs[i].attrs;
	return 0;
}

uint64_t m2d_vm_get_memory_attributes(struct m2d_vm *kvm, uint64_t gfn)
{
	if (M2D_WARN_ON_ONCE(!kvm))
		return 0;
	return get_attrs(kvm, gfn);
}

/* kvm_mem_is_private (attribute part) */
bool kvm_mem_is_private(const struct m2d_vm *kvm, uint64_t gfn)
{
	return get_attrs(kvm, gfn) & M2D_MEMORY_ATTRIBUTE_PRIVATE;
}

/* kvm_range_has_memory_attributes(kvm, start, end, ~0, attrs) */
bool kvm_range_has_memory_attributes(const struct m2d_vm *kvm, uint64_t start, uint64_t end,
				     uint64_t attrs)
{
	unsigned i = attr_search(kvm, start);
	uint64_t pos = start;

	while (pos < end) {
		if (i < kvm->nr_attrs && kvm->attrs[i].start <= pos) {
			if (kvm->attrs[i].attrs != attrs)
				return false;
			pos = kvm->attrs[i].end;
			i++;
		} else {
			/* A hole: attributes 0. */
			if (attrs)
				return false;
			pos = i < kvm->nr_attrs ? kvm->attrs[i].start : end;
		}
	}
	return true;
}

static int attrs_reserve(struct m2d_vm *kvm, unsigned extra)
{
	unsigned ncap;
	struct kvm_attr_range *n;

	if (kvm->nr_attrs + extra <= kvm->attrs_cap)
		return 0;
	ncap = M2D_MAX(kvm->attrs_cap * 2, kvm->nr_attrs + extra + 8);
	n = m2d_realloc(M2D_ALLOC_KVM, kvm->attrs, kvm->attrs_cap * sizeof(*n), ncap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	kvm->attrs = n;
	kvm->attrs_cap = ncap;
	return 0;
}

/* Store @attrs for [start, end): the xa_store loop, as an interval update. */
static void attrs_store(struct m2d_vm *kvm, uint64_t start, uint64_t end, uint64_t attrs)
{
	struct kvm_attr_range *a = kvm->attrs;
	unsigned first = attr_search(kvm, start), last = first, nkeep = 0;
	struct kvm_attr_range keep[3];

	/* Runs [first, last) overlap [start, end). */
	while (last < kvm->nr_attrs && a[last].start < end)
		last++;
	if (first < last && a[first].start < start)
		keep[nkeep++] = (struct kvm_attr_range){ a[first].start, start, a[first].attrs };
	if (attrs)
		keep[nkeep++] = (struct kvm_attr_range){ start, end, attrs };
	if (first < last && a[last - 1].end > end)
		keep[nkeep++] = (struct kvm_attr_range){ end, a[last - 1].end, a[last - 1].attrs };
	/* attrs_reserve() was called for 2 extra runs by the caller. */
	memmove(&a[first + nkeep], &a[last], (kvm->nr_attrs - last) * sizeof(*a));
	memcpy(&a[first], keep, nkeep * sizeof(*a));
	kvm->nr_attrs = kvm->nr_attrs - (last - first) + nkeep;

	/* Merge equal neighbours around the edit. */
	for (unsigned i = first ? first - 1 : 0; i + 1 < kvm->nr_attrs && i <= first + nkeep;) {
		if (a[i].end == a[i + 1].start && a[i].attrs == a[i + 1].attrs) {
			a[i].end = a[i + 1].end;
			memmove(&a[i + 1], &a[i + 2], (kvm->nr_attrs - i - 2) * sizeof(*a));
			kvm->nr_attrs--;
		} else {
			i++;
		}
	}
}

typedef bool (*gfn_range_handler_t)(struct m2d_vm *kvm, struct kvm_gfn_range *range);

struct kvm_mmu_notifier_gfn_range {
	uint64_t start, end, attrs;
	gfn_range_handler_t handler;
	on_lock_fn_t on_lock;
	bool flush_on_ret;
	bool may_block;
};

/* kvm_handle_gfn_range: the gfn-keyed twin of __kvm_handle_hva_range. */
static void kvm_handle_gfn_range(struct m2d_vm *kvm, const struct kvm_mmu_notifier_gfn_range *range)
{
	bool found_memslot = false, ret = false;
	const struct m2d_memslots *s = &kvm->slots;

	for (unsigned i = 0; i < s->nr; i++) {
		struct m2d_memslot *slot = s->by_gfn[i];
		uint64_t end_gfn = slot->base_gfn + slot->npages;
		struct kvm_gfn_range gfn_range;

		if (end_gfn <= range->start || slot->base_gfn >= range->end)
			continue;
		gfn_range = (struct kvm_gfn_range){
			.slot = slot,
			.start = M2D_MAX(range->start, slot->base_gfn),
			.end = M2D_MIN(range->end, end_gfn),
			.attrs = range->attrs,
			.may_block = range->may_block,
		};
		if (!found_memslot) {
			found_memslot = true;
			write_lock(&kvm->mmu_lock);
			if (range->on_lock)
				range->on_lock(kvm);
		}
		ret |= range->handler(kvm, &gfn_range);
	}
	if (range->flush_on_ret && ret)
		kvm_flush_remote_tlbs(kvm);
	if (found_memslot)
		write_unlock(&kvm->mmu_lock);
}

/* kvm_pre_set_memory_attributes: range_add + arch pre-set (x86: zap). */
static bool kvm_pre_set_memory_attributes(struct m2d_vm *kvm, struct kvm_gfn_range *range)
{
	/*
	 * Unconditionally add the range to the invalidation set, regardless of
	 * whether or not the arch callback actually needs to zap SPTEs.  E.g.
	 * if KVM supports RWX attributes in the future and the attributes are
	 * going from R=>RW, zapping isn't strictly necessary.  Unconditionally
	 * adding the range allows KVM to require that MMU invalidations add at
	 * least one range between begin() and end(), e.g. allows KVM to detect
	 * bugs where the add() is missed.  Relaxing the rule *might* be safe,
	 * but it's not obvious that allowing new mappings while the attributes
	 * are in flux is desirable or worth the complexity.
	 */
	kvm_mmu_invalidate_range_add(kvm, range->start, range->end);
	return kvm_unmap_gfn_range(kvm, range);
}

static bool kvm_post_set_memory_attributes(struct m2d_vm *kvm, struct kvm_gfn_range *range)
{
	kvm_arch_post_set_memory_attributes(kvm, range);
	return false;
}

/* kvm_vm_set_mem_attributes */
int m2d_vm_set_memory_attributes(struct m2d_vm *kvm, uint64_t gpa, uint64_t size, uint64_t attrs)
{
	uint64_t start = gpa >> M2D_PAGE_SHIFT, end = (gpa + size) >> M2D_PAGE_SHIFT;
	struct kvm_mmu_notifier_gfn_range pre_set_range = {
		.start = start, .end = end, .attrs = attrs,
		.handler = kvm_pre_set_memory_attributes,
		.on_lock = kvm_mmu_invalidate_begin,
		.flush_on_ret = true, .may_block = true,
	};
	struct kvm_mmu_notifier_gfn_range post_set_range = {
		.start = start, .end = end, .attrs = attrs,
		.handler = kvm_post_set_memory_attributes,
		.on_lock = kvm_mmu_invalidate_end,
		.may_block = true,
	};
	bool entered;
	int ret = 0;

	M2D_VALIDATE_OR_RET(kvm, -EINVAL);
	if ((attrs & ~M2D_MEMORY_ATTRIBUTE_PRIVATE) || !size ||
	    !M2D_IS_ALIGNED(gpa, M2D_PAGE_SIZE) || !M2D_IS_ALIGNED(size, M2D_PAGE_SIZE) ||
	    gpa + size < gpa)
		return -EINVAL;

	entered = kvm_engine_enter(kvm);
	mutex_lock(&kvm->slots_lock);
	/* Nothing to do if the entire range has the desired attributes. */
	if (kvm_range_has_memory_attributes(kvm, start, end, attrs))
		goto out_unlock;
	/* Reserve memory ahead of time to avoid having to deal with failures. */
	m2d_delay(M2D_COST_KVM_XA_STORE, end - start);
	ret = attrs_reserve(kvm, 2);
	if (ret)
		goto out_unlock;
	kvm_handle_gfn_range(kvm, &pre_set_range);
	m2d_delay(M2D_COST_KVM_XA_STORE, end - start);
	attrs_store(kvm, start, end, attrs);
	kvm_handle_gfn_range(kvm, &post_set_range);
out_unlock:
	mutex_unlock(&kvm->slots_lock);
	kvm_engine_leave(kvm, entered);
	return ret;
}

/* ---- guest_memfd callbacks (virt/kvm/guest_memfd.c -> KVM) ------------------------ */

/* __kvm_gmem_invalidate_begin, first bound slot: KVM_MMU_LOCK + begin. */
void m2d_vm_gmem_invalidate_begin(void *p)
{
	struct m2d_vm *kvm = p;

	write_lock(&kvm->mmu_lock);
	kvm_mmu_invalidate_begin(kvm);
}

/*
 * kvm_mmu_unmap_gfn_range for one bound slot (attr_filter PRIVATE: the
 * single root holds both, so the range is zapped).  mmu_lock held (write).
 * Return: true if a TLB flush is owed.
 */
bool m2d_vm_gmem_zap(void *p, void *slot, m2d_gfn_t start, m2d_gfn_t end)
{
	struct kvm_gfn_range range = {
		.slot = slot,
		.start = m2d_gfn_as_u64(start),
		.end = m2d_gfn_as_u64(end),
		.may_block = true,
	};

	return kvm_mmu_unmap_gfn_range(p, &range);
}

/* End of __kvm_gmem_invalidate_begin: flush if owed, KVM_MMU_UNLOCK. */
void m2d_vm_gmem_invalidate_unlock(void *p, bool flush)
{
	struct m2d_vm *kvm = p;

	if (flush)
		kvm_flush_remote_tlbs(kvm);
	write_unlock(&kvm->mmu_lock);
}

/* __kvm_gmem_invalidate_end */
void m2d_vm_gmem_invalidate_end(void *p)
{
	struct m2d_vm *kvm = p;

	write_lock(&kvm->mmu_lock);
	kvm_mmu_invalidate_end(kvm);
	write_unlock(&kvm->mmu_lock);
}

/* kvm_arch_gmem_prepare: sev_gmem_prepare for SNP guests. */
static int kvm_arch_gmem_prepare(void *p, m2d_gfn_t gfn, m2d_pfn_t pfn, int max_order)
{
	struct m2d_vm *kvm = p;

	if (!kvm->sev || !kvm->sev->snp)
		return 0;
	return m2d_sev_gmem_prepare(kvm->sev, pfn, gfn, max_order);
}

static const struct m2d_gmem_kvm_ops kvm_gmem_kvm_ops = {
	.invalidate_begin = m2d_vm_gmem_invalidate_begin,
	.zap = m2d_vm_gmem_zap,
	.invalidate_unlock = m2d_vm_gmem_invalidate_unlock,
	.invalidate_end = m2d_vm_gmem_invalidate_end,
	.arch_prepare = kvm_arch_gmem_prepare,
};

const struct m2d_gmem_kvm_ops *m2d_vm_gmem_kvm_ops(void)
{
	return &kvm_gmem_kvm_ops;
}

void m2d_vm_set_sev(struct m2d_vm *kvm, struct m2d_sev_vm *sev)
{
	if (M2D_WARN_ON_ONCE(!kvm))
		return;
	kvm->sev = sev;
}

static int coco_gmem_get_pfn(void *gmem, void *slot, uint64_t gfn, uint64_t *pfn, int *max_order)
{
	m2d_pfn_t p;
	int ret = m2d_gmem_get_pfn(gmem, slot, m2d_gfn_from_u64(gfn), &p, max_order);

	if (!ret)
		*pfn = m2d_pfn_as_u64(p);
	return ret;
}

static int coco_gmem_bind(void *gmem, void *slot, uint64_t base_gfn, uint64_t npages,
			  uint64_t offset)
{
	return m2d_gmem_bind(gmem, slot, m2d_gfn_from_u64(base_gfn), npages, (int64_t)offset);
}

static void coco_gmem_unbind(void *gmem, void *slot)
{
	m2d_gmem_unbind(gmem, slot);
}

void m2d_kvm_host_ops_set_gmem(struct m2d_kvm_host_ops *ops)
{
	ops->gmem_get_pfn = coco_gmem_get_pfn;
	ops->gmem_bind = coco_gmem_bind;
	ops->gmem_unbind = coco_gmem_unbind;
}
