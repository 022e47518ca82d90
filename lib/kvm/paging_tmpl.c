// SPDX-License-Identifier: MIT
/*
 * lib/kvm/paging_tmpl.c - shadow paging (kvm_intel.ept=N / kvm_amd.npt=N):
 * arch/x86/kvm/mmu/paging_tmpl.h for 64-bit guests (FNAME = paging64),
 * and the shadow MMU's bookkeeping of indirect shadow pages (mmu.c:
 * account_shadowed, rmap_add, for_each_rmap_spte).
 *
 * The second-dimension table kvm->pt is indexed by guest-virtual address.
 * Its tables are the shadow pages: the one linked by an entry of level L
 * shadows the guest's table of level L - 1 for that range (sp->gfn = the
 * guest table's gfn, role.direct = 0), is hashed by that gfn in
 * kvm->mmu_page_hash, and makes the gfn write-tracked (account_shadowed).
 * Leaves map a GVA to the host pfn behind the gfn the guest maps it to;
 * the rmap of that gfn (slot->shadow_rmap) finds the SPTE again for the
 * gfn-indexed operations (dirty logging, notifier zaps).  A vCPU access
 * (vcpu.c) is then the 1D hardware walk of the shadow table.
 *
 * The fault, FNAME(page_fault) (5.18 .. 6.x):
 *   FNAME(walk_addr): read the guest PTE of every level (kvm_gpte_read
 *     each); FNAME(update_accessed_dirty_bits) sets A on every level and D
 *     on the leaf for a write (kvm_gpte_cmpxchg each changed PTE)
 *   page_fault_handle_page_track: a write to a write-tracked gfn (a
 *     shadowed guest table) is emulated
 *   mmu_topup_memory_caches, kvm_faultin_pfn: as the direct MMU (mmu.c)
 *   write_lock(mmu_lock); is_page_fault_stale; FNAME(fetch):
 *     FNAME(gpte_changed) of the top level; for each level above the guest
 *     leaf: kvm_mmu_get_page(table_gfn, direct = 0) (a bucket walk; a new
 *     page is accounted), FNAME(gpte_changed) of the level below, link;
 *     then mmu_set_spte (rmap_add, mmu_try_to_unsync_pages' bucket walk,
 *     mark_page_dirty_in_slot), then FNAME(pte_prefetch) of the rest of
 *     the 8-aligned group while the guest PTEs are accessed
 * There is no fast_page_fault for shadow paging, and no PML without EPT:
 * with dirty logging every first write to a page in each pass takes this
 * whole path under the write lock.
 *
 * Not modelled (the workloads never reach them; each is refused or noted):
 *   - shadow leaves are 4K only (fault->max_level = PG_LEVEL_4K): a guest
 *     huge page is shadowed page by page;
 *   - one SPTE per gfn: a gfn the guest maps at two GVAs exits -EFAULT;
 *   - emulated writes to shadowed guest tables (page_fault_handle_page_track
 *     exits -EFAULT), unsync shadow pages, guest #PF injection (an unmapped
 *     GVA exits -EFAULT);
 *   - make_mmu_pages_available: the selftest VMs stay far below
 *     n_max_mmu_pages (20 per mille of guest memory).
 */
#include "kvm/kvm.h"

#include "core/alloc.h"

#include <errno.h>

int m2d_vm_set_guest_walker(struct m2d_vm *kvm, m2d_guest_walk_fn fn, void *priv)
{
	M2D_VALIDATE_OR_RET(kvm && fn && kvm_shadow_paging(kvm), -EINVAL);
	kvm->guest_walk = fn;
	kvm->guest_walk_priv = priv;
	return 0;
}

/* kvm_page_track_create_memslot / the rmap array of PG_LEVEL_4K (kvm_alloc_memslot_metadata). */
int shadow_alloc_memslot_rmap(struct m2d_memslot *slot)
{
	slot->shadow_rmap = m2d_calloc(M2D_ALLOC_KVM, slot->npages, sizeof(*slot->shadow_rmap));
	slot->gfn_track = m2d_calloc(M2D_ALLOC_KVM, slot->npages, sizeof(*slot->gfn_track));
	if (!slot->shadow_rmap || !slot->gfn_track) {
		shadow_free_memslot_rmap(slot);
		return -ENOMEM;
	}
	return 0;
}

void shadow_free_memslot_rmap(struct m2d_memslot *slot)
{
	if (slot->shadow_rmap)
		m2d_free(M2D_ALLOC_KVM, slot->shadow_rmap, slot->npages * sizeof(*slot->shadow_rmap));
	if (slot->gfn_track)
		m2d_free(M2D_ALLOC_KVM, slot->gfn_track, slot->npages * sizeof(*slot->gfn_track));
	slot->shadow_rmap = NULL;
	slot->gfn_track = NULL;
}

/* ---- the guest walk ------------------------------------------------------------- */

/*
 * FNAME(walk_addr): one read per guest level, then the A/D updates.  Sets
 * fault->gfn.  Return: RET_PF_CONTINUE, or -EFAULT (not mapped by the
 * guest, or a write through a read-only guest mapping: a guest #PF, whose
 * injection is not modelled).
 */
int paging64_walk_addr(struct m2d_vcpu *vcpu, struct kvm_page_fault *fault)
{
	struct m2d_vm *kvm = vcpu->vm;
	struct m2d_guest_walk w = { 0 };
	int r;

	if (!kvm->guest_walk)
		return -EFAULT;
	r = kvm->guest_walk(kvm->guest_walk_priv, fault->addr, fault->write, false, &w);
	m2d_delay(M2D_COST_KVM_GPTE_READ,
		  (uint64_t)(w.root_level >= w.level ? w.root_level - w.level + 1 : 0));
	if (r || (fault->write && !w.writable))
		return -EFAULT;
	m2d_delay(M2D_COST_KVM_GPTE_CMPXCHG, w.ad_updates);
	fault->gfn = w.gfn;
	/*
	 * FNAME(protect_clean_gpte): a read through a clean guest PTE maps
	 * read-only, so that the first write faults and sets the guest's D.
	 */
	fault->map_wrprot = !fault->write && !w.dirty;
	/* The shadow leaf is 4K (see the top of the file). */
	fault->max_level = M2D_LEVEL_4K;
	return RET_PF_CONTINUE;
}

/* kvm_gfn_is_write_tracked (KVM_PAGE_TRACK_WRITE). */
bool kvm_gfn_is_write_tracked(const struct m2d_memslot *slot, uint64_t gfn)
{
	return slot->gfn_track && slot->gfn_track[gfn - slot->base_gfn];
}

/*
 * A gfn mapped at a second GVA would need a pte_list_desc chain; the model
 * keeps one SPTE per gfn.  Return: true if @gfn is already mapped elsewhere.
 */
bool shadow_rmap_is_alias(const struct m2d_memslot *slot, uint64_t gfn, uint64_t gva)
{
	uint64_t e = slot->shadow_rmap ? slot->shadow_rmap[gfn - slot->base_gfn] : 0;

	return e && e != (gva & ~(M2D_PAGE_SIZE - 1)) + 1;
}

/* FNAME(gpte_changed): kvm_vcpu_read_guest_atomic of one guest PTE (or the 8 around a 4K one). */
void paging64_gpte_changed(struct m2d_vm *kvm)
{
	(void)kvm;
	m2d_delay(M2D_COST_KVM_GPTE_READ, 1);
}

/*
 * sp->gfn of the shadow page linked by the entry at @addr of @level: the
 * guest table of level @level - 1 it shadows, or, below a guest huge page,
 * the first gfn of the range (a direct page, FNAME(fetch)'s second loop).
 * The TDP and legacy MMUs map by gfn: the range's first gfn.
 */
uint64_t kvm_mmu_sp_gfn(struct m2d_vm *kvm, uint64_t addr, int level)
{
	struct m2d_guest_walk w = { 0 };

	if (!kvm_shadow_paging(kvm))
		return addr >> M2D_PAGE_SHIFT;
	int r;

	if (!kvm->guest_walk)
		return addr >> M2D_PAGE_SHIFT;
	/* @addr is the range's first GVA: the guest need not map it, only reach the table. */
	r = kvm->guest_walk(kvm->guest_walk_priv, addr, false, true, &w);
	if (w.level && w.level <= level - 1)
		return w.table_gfn[level - 2];
	if (!r)
		return w.gfn & ~(KVM_PAGES_PER_HPAGE(level) - 1);
	return addr >> M2D_PAGE_SHIFT;
}

/*
 * account_shadowed / unaccount_shadowed: the guest table @gfn becomes (stops
 * being) write-tracked, which also forbids (allows) huge mappings of its
 * 2M and 1G regions (kvm_mmu_gfn_disallow_lpage / _allow_lpage).
 */
static void update_gfn_track(struct m2d_vm *kvm, uint64_t gfn, int delta)
{
	struct m2d_memslot *slot = m2d_gfn_to_memslot(&kvm->slots, gfn);

	if (!slot || !slot->gfn_track)
		return;
	slot->gfn_track[gfn - slot->base_gfn] += (uint16_t)delta;
	for (int level = M2D_LEVEL_2M; level <= M2D_LEVEL_1G; level++)
		lpage_info_slot(gfn, slot, level)->disallow_lpage += (uint32_t)delta;
}

void account_shadowed(struct m2d_vm *kvm, uint64_t gfn)
{
	m2d_delay(M2D_COST_KVM_ACCOUNT_SHADOWED, 1);
	update_gfn_track(kvm, gfn, 1);
}

void unaccount_shadowed(struct m2d_vm *kvm, uint64_t gfn)
{
	update_gfn_track(kvm, gfn, -1);
}

/*
 * FNAME(pte_prefetch) after a 4K shadow leaf: the other not-present SPTEs
 * of its PTE_PREFETCH_NUM-aligned group, in order, from the guest PTEs
 * FNAME(gpte_changed) already read.  FNAME(prefetch_gpte) stops at the
 * first guest PTE that is not present or not accessed (a page the guest
 * has not touched since the SPTE went away), at a gfn outside every slot
 * or whose host page GUP-fast does not find (gfn_to_pfn_memslot_atomic),
 * and at a writable one in a slot that logs dirty pages
 * (gfn_to_memslot_dirty_bitmap); a clean guest PTE maps read-only
 * (protect_clean_gpte), a write-tracked gfn too.  Here a gfn already
 * mapped at another GVA also stops it (one rmap entry per gfn).  Not while
 * an invalidation is in progress.
 */
void paging64_pte_prefetch(struct m2d_vm *kvm, struct kvm_page_fault *fault)
{
	uint64_t first = M2D_ALIGN_DOWN(fault->addr, 8 * M2D_PAGE_SIZE);
	struct m2d_pt_iter iter;

	if (READ_ONCE(kvm->mmu_invalidate_in_progress) || !kvm->guest_walk)
		return;
	m2d_pt_for_each_pte(iter, kvm->pt, first, first + 8 * M2D_PAGE_SIZE) {
		struct m2d_guest_walk w = { 0 };
		struct m2d_memslot *slot;
		uint64_t pfn;
		bool writable, host_writable;

		if (iter.level != M2D_LEVEL_4K ||
		    iter.addr == (fault->addr & ~(M2D_PAGE_SIZE - 1)) ||
		    is_shadow_present_pte(kvm, iter.old_pte))
			continue;
		if (kvm->guest_walk(kvm->guest_walk_priv, iter.addr, false, true, &w) ||
		    w.level != M2D_LEVEL_4K || !w.accessed)
			return;
		slot = m2d_gfn_to_memslot(&kvm->slots, w.gfn);
		writable = w.writable && w.dirty;
		if (!slot || (writable && kvm_slot_dirty_track_enabled(slot)) ||
		    kvm_slot_has_gmem(slot) || shadow_rmap_is_alias(slot, w.gfn, iter.addr))
			return;
		m2d_delay(M2D_COST_KVM_GUP_FAST, 1);
		if (!kvm->ops.gup_fast(slot->mm, gfn_to_hva_memslot(slot, w.gfn), true, &pfn,
				       &host_writable))
			return;
		if (kvm_gfn_is_write_tracked(slot, w.gfn))
			writable = false;
		kvm_mmu_prefetch_spte(kvm, &iter, w.gfn, pfn, writable);
		shadow_rmap_add(kvm, slot, w.gfn, iter.addr);
		if (kvm->ops.put_page)
			kvm->ops.put_page(pfn);
	}
}

/* ---- rmaps ------------------------------------------------------------------------ */

/* rmap_add for a new 4K leaf (its cost is charged with mmu_set_spte). */
void shadow_rmap_add(struct m2d_vm *kvm, struct m2d_memslot *slot, uint64_t gfn, uint64_t gva)
{
	(void)kvm;
	if (slot && slot->shadow_rmap)
		slot->shadow_rmap[gfn - slot->base_gfn] = (gva & ~(M2D_PAGE_SIZE - 1)) + 1;
}

/*
 * rmap_remove, from the change hook: a shadow leaf at @gva went away (or
 * now maps another pfn); its gfn comes from the guest tables, as the
 * kernel's comes from sp->shadowed_translation.
 */
void shadow_rmap_changed(struct m2d_vm *kvm, uint64_t gva, uint64_t old_spte, uint64_t new_spte,
			 int level)
{
	struct m2d_guest_walk w = { 0 };
	struct m2d_memslot *slot;
	bool was_leaf = is_shadow_present_pte(kvm, old_spte) && is_last_spte(kvm, old_spte, level);
	bool is_leaf = is_shadow_present_pte(kvm, new_spte) && is_last_spte(kvm, new_spte, level);

	if (!was_leaf || is_leaf || kvm->mmu_tearing_down || !kvm->guest_walk)
		return;
	if (kvm->guest_walk(kvm->guest_walk_priv, gva, false, true, &w))
		return;
	slot = m2d_gfn_to_memslot(&kvm->slots, w.gfn);
	if (slot && slot->shadow_rmap && !shadow_rmap_is_alias(slot, w.gfn, gva))
		slot->shadow_rmap[w.gfn - slot->base_gfn] = 0;
}

/*
 * One 4K shadow leaf found through its rmap: position @iter on it.
 * Return: true if @gva has a present 4K leaf.
 */
static bool rmap_spte(struct m2d_vm *kvm, uint64_t gva, struct m2d_pt_iter *out)
{
	struct m2d_pt_iter iter;

	m2d_pt_for_each_pte(iter, kvm->pt, gva, gva + M2D_PAGE_SIZE) {
		if (iter.level != M2D_LEVEL_4K)
			continue;
		if (!is_shadow_present_pte(kvm, iter.old_pte) ||
		    !is_last_spte(kvm, iter.old_pte, iter.level))
			return false;
		*out = iter;
		return true;
	}
	return false;
}

/*
 * __rmap_write_protect / __rmap_clear_dirty over the gfns of [@start, @end)
 * selected by *@mask (bit i = @start + i; NULL for the whole range): clear @bit of
 * each SPTE (spte_write_protect / spte_clear_dirty -> mmu_spte_update).
 * The rmap heads of a masked call are charged here (one per set bit, as
 * kvm_mmu_write_protect_pt_masked visits them); a slot-wide caller
 * charges walk_slot_rmaps itself.
 */
bool shadow_rmap_clear_bit(struct m2d_vm *kvm, struct m2d_memslot *slot, uint64_t start,
			   uint64_t end, const uint64_t *mask, unsigned bit)
{
	bool flush = false;

	lockdep_assert_held_write(&kvm->mmu_lock);
	if (!slot || !slot->shadow_rmap)
		return false;
	if (mask)
		m2d_delay(M2D_COST_KVM_RMAP_HEAD, (uint64_t)__builtin_popcountll(*mask));
	start = M2D_MAX(start, slot->base_gfn);
	end = M2D_MIN(end, slot->base_gfn + slot->npages);
	rcu_read_lock();
	for (uint64_t gfn = start; gfn < end; gfn++) {
		uint64_t e = slot->shadow_rmap[gfn - slot->base_gfn];
		struct m2d_pt_iter iter;

		if (!e || (mask && !(*mask & (1ull << ((gfn - start) & 63)))))
			continue;
		if (!rmap_spte(kvm, e - 1, &iter) ||
		    !(m2d_pte_prot(kvm->fmt, iter.old_pte, iter.level) & bit))
			continue;
		rmap_spte_update(kvm, &iter,
				 m2d_pte_change_prot(kvm->fmt, iter.old_pte, iter.level, 0, bit));
		flush = true;
	}
	rcu_read_unlock();
	return flush;
}

/* kvm_zap_rmap / kvm_zap_all_rmap_sptes over the gfns of [@start, @end), every slot. */
bool shadow_rmap_zap_range(struct m2d_vm *kvm, uint64_t start, uint64_t end)
{
	uint64_t zapped = 0;

	lockdep_assert_held_write(&kvm->mmu_lock);
	rcu_read_lock();
	for (unsigned i = 0; i < kvm->slots.nr; i++) {
		struct m2d_memslot *slot = kvm->slots.by_gfn[i];
		uint64_t s = M2D_MAX(start, slot->base_gfn);
		uint64_t e = M2D_MIN(end, slot->base_gfn + slot->npages);

		if (!slot->shadow_rmap)
			continue;
		for (uint64_t gfn = s; gfn < e; gfn++) {
			uint64_t r = slot->shadow_rmap[gfn - slot->base_gfn];
			struct m2d_pt_iter iter;

			if (!r)
				continue;
			m2d_delay(M2D_COST_KVM_RMAP_HEAD, 1);
			if (rmap_spte(kvm, r - 1, &iter)) {
				tdp_mmu_set_spte(kvm, &iter, 0, false);
				zapped++;
			}
			slot->shadow_rmap[gfn - slot->base_gfn] = 0;
		}
	}
	rcu_read_unlock();
	m2d_count(M2D_CTR_spte_zaps, zapped);
	return zapped;
}
