// SPDX-License-Identifier: MIT
/*
 * lib/kvm/dirty_log.c - KVM_GET_DIRTY_LOG and KVM_CLEAR_DIRTY_LOG
 * (virt/kvm/kvm_main.c kvm_get_dirty_log_protect, kvm_clear_dirty_log_protect;
 * arch/x86/kvm/mmu/mmu.c kvm_arch_mmu_enable_log_dirty_pt_masked).
 *
 * Both run under slots_lock and take mmu_lock for write around the
 * re-protection of the pages whose bits were collected, then flush once
 * (kvm_flush_remote_tlbs_memslot) after dropping mmu_lock.  Re-protection
 * clears D bits with PML and the W bit without.  With manual protect and
 * KVM_DIRTY_LOG_INITIALLY_SET, the first CLEAR of a range also splits huge
 * pages (eager_page_split; TDP MMU only, or the legacy MMU with the EPS3
 * series) and write-protects the huge ones, since enabling dirty logging
 * did nothing.
 */
#include "kvm/kvm.h"

#include <errno.h>

/*
 * kvm_mmu_slot_gfn_write_protect: write-protect the huge leaves at or above
 * @min_level that map @gfn.  Shadow MMU: rmap_write_protect on the gfn's
 * rmap head of every level in [@min_level, KVM_MAX_HUGEPAGE_LEVEL]; TDP
 * MMU: kvm_tdp_mmu_write_protect_gfn, one walk from each root.
 */
static void kvm_mmu_slot_gfn_write_protect(struct m2d_vm *kvm, struct m2d_memslot *slot,
					   uint64_t gfn, int min_level)
{
	if (kvm_shadow_mmu(kvm))
		slot_handle_level_range(kvm, slot, min_level, kvm->cfg.max_level, gfn, gfn);
	kvm_tdp_mmu_wrprot_range(kvm, gfn, gfn + 1, min_level, false);
}

/*
 * kvm_arch_mmu_enable_log_dirty_pt_masked: re-protect the gfns of @mask
 * (bit i = slot gfn @gfn_offset + i).  mmu_lock held for write.
 */
static void kvm_arch_mmu_enable_log_dirty_pt_masked(struct m2d_vm *kvm, struct m2d_memslot *slot,
						    uint64_t gfn_offset, uint64_t mask)
{
	if (kvm->cfg.manual_protect && kvm->cfg.initially_all_set &&
	    kvm->cfg.mmu != M2D_KVM_MMU_ARM64_S2) {
		uint64_t start = slot->base_gfn + gfn_offset + (uint64_t)__builtin_ctzll(mask);
		uint64_t end = slot->base_gfn + gfn_offset + 63 - (uint64_t)__builtin_clzll(mask);

		if (kvm_eager_split_enabled(kvm))
			kvm_tdp_mmu_try_split_huge_pages(kvm, slot, start, end + 1, M2D_LEVEL_4K,
							 false);
		kvm_mmu_slot_gfn_write_protect(kvm, slot, start, M2D_LEVEL_2M);
		/* Cross two large pages? */
		if (M2D_ALIGN_UP(start << M2D_PAGE_SHIFT, M2D_PMD_SIZE) !=
		    M2D_ALIGN_UP(end << M2D_PAGE_SHIFT, M2D_PMD_SIZE))
			kvm_mmu_slot_gfn_write_protect(kvm, slot, end, M2D_LEVEL_2M);
	}
	if (kvm->cfg.mmu == M2D_KVM_MMU_ARM64_S2) {
		/*
		 * arm64 kvm_arch_mmu_enable_log_dirty_pt_masked: stage2_wp_range
		 * over [__ffs(mask), __fls(mask)], every page in between
		 * included; then, with manual protect and INITIALLY_SET (enabling
		 * dirty logging split nothing), kvm_mmu_split_huge_pages of the
		 * same range.
		 */
		uint64_t base = slot->base_gfn + gfn_offset;
		uint64_t start = base + (uint64_t)__builtin_ctzll(mask);
		uint64_t end = base + 64 - (uint64_t)__builtin_clzll(mask);

		kvm_tdp_mmu_wrprot_range(kvm, start, end, M2D_LEVEL_4K, false);
		if (kvm->cfg.manual_protect && kvm->cfg.initially_all_set)
			kvm_mmu_split_huge_pages(kvm, start, end);
		return;
	}
	/* Now handle 4K PTEs: clear D (PML) or write-protect. */
	kvm_tdp_mmu_wrprot_gfns(kvm, slot, gfn_offset, mask);
}

/*
 * slot_handle_level_range (mmu.c): the shadow MMU's rmap walk over the gfns
 * [@start, @end] (inclusive, as for_each_slot_rmap_range) of @slot: for each
 * level in [@start_level, @end_level] it visits the rmap head of every
 * level-sized gfn range, present or not (slot_rmap_walk_next), so the cost
 * grows with the range, not with what is mapped.  The SPTE changes the
 * handler makes are charged by the caller (rmap_spte_update, rmap_add).
 * mmu_lock held for write.
 */
void slot_handle_level_range(struct m2d_vm *kvm, const struct m2d_memslot *slot, int start_level,
			     int end_level, uint64_t start, uint64_t end)
{
	uint64_t heads = 0;

	lockdep_assert_held_write(&kvm->mmu_lock);
	(void)slot;
	for (int level = start_level; level <= end_level; level++) {
		uint64_t shift = 9 * (uint64_t)(level - 1);

		/* gfn_to_index(end, base, level) - gfn_to_index(start, base, level) + 1 */
		heads += (end >> shift) - (start >> shift) + 1;
	}
	m2d_delay(M2D_COST_KVM_RMAP_HEAD, heads);
}

/*
 * walk_slot_rmaps (mmu.c): the shadow MMU (tdp_mmu=N) write-protects or
 * cleans a whole memslot through its rmaps, not its page tables: every
 * rmap head of every level in [@start_level, @end_level]
 * (kvm_mmu_slot_lpages: npages >> 9 per level, rounded out).
 */
void walk_slot_rmaps(struct m2d_vm *kvm, const struct m2d_memslot *slot, int start_level,
		     int end_level)
{
	slot_handle_level_range(kvm, slot, start_level, end_level, slot->base_gfn,
				slot->base_gfn + slot->npages - 1);
}

static struct m2d_memslot *dirty_log_slot(struct m2d_vm *kvm, uint32_t id, int *err)
{
	struct m2d_memslot *slot = m2d_memslot_by_id(&kvm->slots, id);

	*err = 0;
	if (!slot)
		*err = -ENOENT;
	else if (!slot->dirty_bitmap)
		*err = -EINVAL;
	return slot;
}

int m2d_vm_get_dirty_log(struct m2d_vm *kvm, uint32_t id, uint64_t *bitmap)
{
	struct m2d_memslot *slot;
	uint64_t words;
	bool flush = false, entered;
	int err;

	M2D_VALIDATE_OR_RET(kvm && bitmap, -EINVAL);
	entered = kvm_engine_enter(kvm);
	mutex_lock(&kvm->slots_lock);
	slot = dirty_log_slot(kvm, id, &err);
	if (err)
		goto out_unlock;
	words = M2D_DIV_ROUND_UP(slot->npages, 64);
	m2d_delay(M2D_COST_KVM_DIRTY_BITMAP_WORD, words);
	if (kvm->cfg.manual_protect) {
		/* Unlike kvm_get_dirty_log, we always return false in *flush. */
		for (uint64_t i = 0; i < words; i++)
			bitmap[i] = READ_ONCE(slot->dirty_bitmap[i]);
		goto out_unlock;
	}
	write_lock(&kvm->mmu_lock);
	for (uint64_t i = 0; i < words; i++) {
		uint64_t mask;

		bitmap[i] = 0;
		if (!READ_ONCE(slot->dirty_bitmap[i]))
			continue;
		flush = true;
		mask = uatomic_xchg(&slot->dirty_bitmap[i], 0);
		bitmap[i] = mask;
		if (mask)
			kvm_arch_mmu_enable_log_dirty_pt_masked(kvm, slot, i * 64, mask);
	}
	write_unlock(&kvm->mmu_lock);
	if (flush)
		kvm_flush_remote_tlbs(kvm);
out_unlock:
	mutex_unlock(&kvm->slots_lock);
	kvm_engine_leave(kvm, entered);
	return err;
}

int m2d_vm_clear_dirty_log(struct m2d_vm *kvm, uint32_t id, uint64_t first_page,
			   uint64_t num_pages, const uint64_t *bitmap)
{
	struct m2d_memslot *slot;
	bool flush = false, entered;
	int err;

	M2D_VALIDATE_OR_RET(kvm && bitmap, -EINVAL);
	if (!kvm->cfg.manual_protect || first_page % 64)
		return -EINVAL;
	entered = kvm_engine_enter(kvm);
	mutex_lock(&kvm->slots_lock);
	slot = dirty_log_slot(kvm, id, &err);
	if (err)
		goto out_unlock;
	if (first_page >= slot->npages || num_pages > slot->npages - first_page ||
	    (num_pages % 64 && first_page + num_pages != slot->npages)) {
		err = -EINVAL;
		goto out_unlock;
	}
	m2d_delay(M2D_COST_KVM_DIRTY_BITMAP_WORD, M2D_DIV_ROUND_UP(num_pages, 64));
	write_lock(&kvm->mmu_lock);
	for (uint64_t i = first_page / 64, n = M2D_DIV_ROUND_UP(num_pages, 64), k = 0; k < n;
	     k++, i++) {
		uint64_t mask = bitmap[k], old;

		if (!mask)
			continue;
		/* atomic_long_fetch_andnot */
		do {
			old = uatomic_read(&slot->dirty_bitmap[i]);
		} while (uatomic_cmpxchg(&slot->dirty_bitmap[i], old, old & ~mask) != old);
		/* mask contains the bits that really have been cleared. */
		mask &= old;
		if (mask) {
			flush = true;
			kvm_arch_mmu_enable_log_dirty_pt_masked(kvm, slot, i * 64, mask);
		}
	}
	write_unlock(&kvm->mmu_lock);
	if (flush)
		kvm_flush_remote_tlbs(kvm);
out_unlock:
	mutex_unlock(&kvm->slots_lock);
	kvm_engine_leave(kvm, entered);
	return err;
}
