// SPDX-License-Identifier: MIT
/*
 * lib/kvm/tdp_mmu.c - the x86 TDP MMU (arch/x86/kvm/mmu/tdp_mmu.c).
 *
 * The second-dimension table is an m2d_pt in EPT (Intel) or x86-64 (AMD
 * NPT) format with real 64-bit entries; the walks use the pt iterator,
 * which has the shape of tdp_iter (pre-order, restart from the root at
 * next_last_level_addr after a yield).
 *
 * Faults (kvm_tdp_mmu_map) run under read_lock(mmu_lock) inside an RCU
 * read section and change entries with one compare-and-exchange each
 * (m2d_pt_iter_set_atomic = tdp_mmu_set_spte_atomic); a lost exchange
 * makes the fault retry.  Table pages for the walk come from the vCPU's
 * kvm_mmu_memory_cache, filled before mmu_lock was taken.  The legacy MMU
 * (tdp_mmu=N) is modelled as the same walk under write_lock(mmu_lock) with
 * exclusive stores (kvm_tdp_mmu_map(..., shared = false)).
 *
 * Every entry change is reported by the pt module to handle_changed_spte()
 * (the change hook), which keeps the per-level page stats and the table
 * accounting; the pt module unlinks replaced tables (handle_removed_pt) and
 * frees them through call_rcu, as tdp_mmu_free_sp_rcu_callback.
 *
 * Zaps for invalidations (tdp_mmu_zap_leafs) run under write_lock, clear
 * present leaves with plain stores (page-table pages are kept), yield via
 * tdp_mmu_iter_cond_resched (flushing first if a flush is owed), and leave
 * the final kvm_flush_remote_tlbs to the caller.
 *
 * SPTE software bits: SW0 = host-writable, SW1 = MMU-writable (the
 * kernel's shadow_host_writable_mask / shadow_mmu_writable_mask; bits 9/10
 * in the NPT format as in the kernel, bits 52/53 in EPT where the kernel
 * uses 57/58).
 */
#include "kvm/kvm.h"

#include "mm/pt.h"

#include <errno.h>

#define SPTE_HOST_WRITABLE M2D_PROT_SW0
#define SPTE_MMU_WRITABLE M2D_PROT_SW1
/* FROZEN_SPTE (formerly REMOVED_SPTE): SHADOW_NONPRESENT_VALUE | 0x5a0. */
#define FROZEN_SPTE 0x5a0ull

static bool is_frozen_spte(uint64_t spte)
{
	return spte == FROZEN_SPTE;
}

/* The pt module's inline entry predicates (no PLT call on the hot path). */
bool is_shadow_present_pte(const struct m2d_vm *kvm, uint64_t spte)
{
	return !is_frozen_spte(spte) && pt_is_present(kvm->fmt, spte);
}

bool is_last_spte(const struct m2d_vm *kvm, uint64_t spte, int level)
{
	return pt_is_leaf(kvm->fmt, spte, level);
}

static bool is_writable_pte(const struct m2d_vm *kvm, uint64_t spte, int level)
{
	return m2d_pte_prot(kvm->fmt, spte, level) & M2D_PROT_W;
}

static uint64_t level_gfn(uint64_t addr)
{
	return addr >> M2D_PAGE_SHIFT;
}

/*
 * tdp_mmu_walk_start - the fixed cost of one TDP MMU walk from a root,
 * charged once per walk the kernel starts with tdp_iter_start: for the
 * per-root walkers the for_each_tdp_mmu_root step that yields the root
 * (the model has one root: every vCPU shares the root of its role), the
 * rcu_read_lock/unlock around the walk and tdp_iter_start; for a fault
 * (tdp_mmu_for_each_pte on the vCPU's root) the same without the root
 * list.  The entries visited are charged per step (KVM_TDP_ITER_STEP);
 * restarts after a yield (tdp_iter_restart) are part of the yield.
 * Charged only for the TDP MMU: the shadow MMU (tdp_mmu=N) does slot-wide
 * and per-gfn work through its rmaps, not from a root, and arm64's
 * kvm_pgtable_walk is charged per entry only.
 */
void tdp_mmu_walk_start(struct m2d_vm *kvm)
{
	if (kvm->cfg.mmu == M2D_KVM_MMU_TDP)
		m2d_delay(M2D_COST_KVM_TDP_WALK_START, 1);
}

/*
 * The shadow MMU changes leaves it finds through their rmaps
 * (for_each_rmap_spte: __rmap_clear_dirty, rmap_write_protect), not
 * through a page-table iterator, and without handle_changed_spte: the
 * model's pt walk only locates the SPTEs; no iterator step is charged.
 */
static bool walks_rmaps(const struct m2d_vm *kvm)
{
	return kvm_shadow_mmu(kvm);
}

/*
 * The per-child work of handle_removed_pt, charged when the hook sees a
 * table unlinked (the pt module then reports its present children, which
 * land in the stats above).  Shared mode: every one of the 512 children is
 * frozen with an atomic exchange (kvm_tdp_mmu_write_spte_atomic, present
 * or not) and passed to handle_changed_spte.  Exclusive mode: each child
 * is read, and each present one written (kvm_tdp_mmu_write_spte to
 * FROZEN_SPTE) and passed to handle_changed_spte.  The legacy MMU's
 * kvm_mmu_page_unlink_children does the same read / drop per child.  The
 * child table's present count comes from the pt module's page metadata
 * (read before the children are reported: the hook runs pre-order).
 */
static void handle_removed_pt_cost(struct m2d_vm *kvm, const uint64_t *child, bool shared)
{
	if (shared) {
		m2d_delay(M2D_COST_KVM_SPTE_CMPXCHG, M2D_PT_ENTRIES);
		return;
	}
	m2d_delay(M2D_COST_KVM_TDP_ITER_STEP, M2D_PT_ENTRIES);
	m2d_delay(M2D_COST_KVM_SPTE_WRITE, pt_meta(child)->count);
}

/*
 * handle_changed_spte() - the pt change hook: every SPTE change, including
 * the children of linked/unlinked tables, passes here.
 */
void handle_changed_spte(void *priv, uint64_t addr, uint64_t old_spte, uint64_t new_spte,
			 int level, bool shared)
{
	struct m2d_vm *kvm = priv;
	bool was_present = !is_frozen_spte(old_spte) && pt_is_present(kvm->fmt, old_spte);
	bool is_present = !is_frozen_spte(new_spte) && pt_is_present(kvm->fmt, new_spte);
	bool was_leaf = was_present && pt_is_leaf(kvm->fmt, old_spte, level);
	bool is_leaf = is_present && pt_is_leaf(kvm->fmt, new_spte, level);

	/*
	 * handle_changed_spte_acc_track and the dirty half of
	 * handle_changed_spte (kernels before 6.13): a leaf that was accessed
	 * or dirty and goes away (or changes pfn) marks its struct page
	 * accessed (kvm_set_pfn_accessed -> mark_page_accessed) and dirty
	 * (kvm_set_pfn_dirty).  6.13 stopped touching the struct page on zap
	 * ("Don't mark struct page accessed when zapping SPTEs"): set the cost
	 * to 0 to model it.  x86 only; arm64 stage-2 has no such step.
	 */
	if (was_leaf && kvm->fmt != M2D_PT_ARM64_S2 &&
	    (!is_leaf || ((old_spte ^ new_spte) & pt_leaf_addr_mask(kvm->fmt, level))) &&
	    (old_spte & (pt_ad_bit(kvm->fmt, false) | pt_ad_bit(kvm->fmt, true))))
		m2d_delay(M2D_COST_KVM_SET_PFN_AD, 1);

	/* kvm_update_page_stats */
	if (was_leaf != is_leaf) {
		if (shared)
			uatomic_add(&kvm->pages[level], is_leaf ? 1 : -1);
		else
			kvm->pages[level] += is_leaf ? 1 : (uint64_t)-1;
	}
	/*
	 * Legacy MMU: a linked table is a shadow page hashed by the base gfn
	 * of the range it maps (kvm_mmu_get_page: hlist_add_head onto
	 * mmu_page_hash[kvm_page_table_hashfn(gfn)]); an unlinked one leaves
	 * the hash (kvm_mmu_prepare_zap_page: hlist_del).
	 */
	if (kvm->mmu_page_hash) {
		bool was_table = was_present && !was_leaf, is_table = is_present && !is_leaf;
		bool same = was_table && is_table &&
			    pt_child(kvm->fmt, old_spte, level) == pt_child(kvm->fmt, new_spte, level);
		uint64_t sp_gfn = (was_table || is_table) && !same ? kvm_mmu_sp_gfn(kvm, addr, level) : 0;
		unsigned b = kvm_page_table_hashfn(sp_gfn);

		if (was_table && !same) {
			kvm->mmu_page_hash[b]--;
			if (kvm_shadow_paging(kvm))
				unaccount_shadowed(kvm, sp_gfn);
		}
		if (is_table && !same) {
			kvm->mmu_page_hash[b]++;
			/* Shadow paging: kvm_mmu_get_page -> account_shadowed (!role.direct). */
			if (kvm_shadow_paging(kvm))
				account_shadowed(kvm, sp_gfn);
		}
	}
	if (kvm_shadow_paging(kvm) && was_leaf)
		shadow_rmap_changed(kvm, addr, old_spte, new_spte, level);
	/*
	 * Recursively handle child PTs if the change removed a subtree from
	 * the paging structure (handle_removed_pt: tdp_unaccount_mmu_page,
	 * then call_rcu(tdp_mmu_free_sp_rcu_callback); done by the pt module).
	 */
	if (was_present && !was_leaf &&
	    (is_leaf || !is_present ||
	     pt_child(kvm->fmt, old_spte, level) != pt_child(kvm->fmt, new_spte, level))) {
		if (shared)
			uatomic_add(&kvm->mmu_pages, -1);
		else
			kvm->mmu_pages--;
		m2d_count(M2D_CTR_tables_freed, 1);
		if (kvm->cfg.mmu != M2D_KVM_MMU_ARM64_S2)
			handle_removed_pt_cost(kvm, pt_child(kvm->fmt, old_spte, level), shared);
	}
}

/* ---- vCPU MMU page cache ------------------------------------------------------ */

/*
 * tdp_mmu_alloc_sp: take a table page from the vCPU's cache (topped up by
 * mmu_topup_memory_caches before mmu_lock); the page itself is allocated
 * from the pt module here since the simulator keeps no idle pages.
 */
static uint64_t *tdp_mmu_alloc_sp(struct m2d_vcpu *vcpu, int level)
{
	uint64_t *spt = m2d_pt_alloc_table(vcpu->vm->pt, level);

	if (!spt)
		return NULL;
	if (vcpu->mmu_cache_nobjs > 0)
		vcpu->mmu_cache_nobjs--;
	m2d_count(M2D_CTR_tables_allocated, 1);
	return spt;
}

/* tdp_mmu_free_sp: a page that was never linked goes straight back. */
static void tdp_mmu_free_sp(struct m2d_vm *kvm, uint64_t *spt)
{
	m2d_pt_free_table(kvm->pt, spt);
	m2d_count(M2D_CTR_tables_freed, 1);
}

/*
 * Set an SPTE through the iterator: atomically under the read lock
 * (tdp_mmu_set_spte_atomic, -EBUSY if it changed), else exclusively
 * (tdp_mmu_iter_set_spte).
 */
int tdp_mmu_set_spte(struct m2d_vm *kvm, struct m2d_pt_iter *iter, uint64_t new_spte,
		     bool shared)
{
	if (shared) {
		lockdep_assert_held_read(&kvm->mmu_lock);
		m2d_delay(M2D_COST_KVM_SPTE_CMPXCHG, 1);
		return m2d_pt_iter_set_atomic(iter, new_spte);
	}
	lockdep_assert_held_write(&kvm->mmu_lock);
	m2d_delay(M2D_COST_KVM_SPTE_WRITE, 1);
	m2d_pt_iter_set(iter, new_spte);
	return 0;
}

/* tdp_mmu_link_sp: install a non-leaf SPTE pointing at @spt. */
static int tdp_mmu_link_sp(struct m2d_vm *kvm, struct m2d_pt_iter *iter, uint64_t *spt,
			   bool shared)
{
	uint64_t spte = m2d_pte_make_table(kvm->fmt, spt);
	int ret;

	ret = tdp_mmu_set_spte(kvm, iter, spte, shared);
	if (ret)
		return ret;
	/* tdp_account_mmu_page */
	if (shared)
		uatomic_add(&kvm->mmu_pages, 1);
	else
		kvm->mmu_pages++;
	return 0;
}

/*
 * make_small_spte: child @index of a huge SPTE split one level down; same
 * attributes, the child's share of the pfn.
 */
static uint64_t make_small_spte(const struct m2d_vm *kvm, uint64_t huge_spte, int huge_level,
				unsigned index)
{
	int child = huge_level - 1;
	uint64_t pfn = m2d_pte_pfn(kvm->fmt, huge_spte, huge_level) +
		       (uint64_t)index * KVM_PAGES_PER_HPAGE(child);

	return m2d_pte_make_leaf(kvm->fmt, child, pfn,
				 m2d_pte_prot(kvm->fmt, huge_spte, huge_level));
}

/*
 * tdp_mmu_split_huge_page: fill all 512 child SPTEs of @spt while the table
 * is not yet reachable (make_huge_page_split_spte: plain stores into a
 * private page, no handle_changed_spte per child), then link it over the
 * huge SPTE (the pt module
 * reports the 512 children to handle_changed_spte when it links the table,
 * i.e. kvm_update_page_stats(level - 1, 512)).  No TLB flush: the
 * translation is the same either way.
 */
static int tdp_mmu_split_huge_page(struct m2d_vm *kvm, struct m2d_pt_iter *iter, uint64_t *spt,
				   bool shared)
{
	uint64_t huge_spte = iter->old_pte;
	int ret;

	for (unsigned i = 0; i < M2D_PT_ENTRIES; i++)
		spt[i] = make_small_spte(kvm, huge_spte, iter->level, i);
	m2d_delay(M2D_COST_KVM_SPLIT_SPTE, M2D_PT_ENTRIES);
	ret = tdp_mmu_link_sp(kvm, iter, spt, shared);
	if (ret)
		return ret;
	m2d_count(M2D_CTR_huge_splits, 1);
	return 0;
}

/*
 * make_spte (spte.c), for a TDP fault on memory: present, executable,
 * WB, accessed; writable (and dirty on a write fault) if the host mapping
 * is writable.
 */
static uint64_t make_spte(const struct m2d_vm *kvm, const struct kvm_page_fault *fault,
			  int level, uint64_t pfn, bool *wrprot)
{
	unsigned prot = M2D_PROT_R | M2D_PROT_X | M2D_PROT_U | M2D_PROT_WB | M2D_PROT_A;

	*wrprot = false;
	if (fault->map_writable && !fault->map_wrprot) {
		prot |= M2D_PROT_W | SPTE_HOST_WRITABLE | SPTE_MMU_WRITABLE;
		if (fault->write)
			prot |= M2D_PROT_D;
	} else if (fault->map_writable) {
		prot |= SPTE_HOST_WRITABLE;
	}
	return m2d_pte_make_leaf(kvm->fmt, level, pfn, prot);
}

static void count_install(int level)
{
	static const enum m2d_counter ctr[] = {
		[M2D_LEVEL_4K] = M2D_CTR_spte_installs_4k,
		[M2D_LEVEL_2M] = M2D_CTR_spte_installs_2m,
		[M2D_LEVEL_1G] = M2D_CTR_spte_installs_1g,
	};

	m2d_count(ctr[level], 1);
}

/* is_access_allowed */
static bool is_access_allowed(const struct m2d_vm *kvm, const struct kvm_page_fault *fault,
			      uint64_t spte, int level)
{
	if (fault->write)
		return is_writable_pte(kvm, spte, level);
	return true;
}

/*
 * for_each_valid_sp over the mmu_page_hash bucket of @gfn (legacy MMU):
 * every shadow page in the bucket is visited, direct or not, whether or
 * not its gfn matches (kvm_mmu_get_page counts the misses as collisions;
 * mmu_try_to_unsync_pages skips direct pages only after reading them).
 * The chains grow with the number of shadow pages, i.e. with guest memory
 * mapped at 4K: the reason write-locked legacy faults get slower as the
 * VM grows.
 */
static void mmu_page_hash_walk(struct m2d_vm *kvm, uint64_t gfn)
{
	uint32_t n = kvm->mmu_page_hash[kvm_page_table_hashfn(gfn)];

	if (n)
		m2d_delay(M2D_COST_KVM_MMU_PAGE_HASH_NODE, n);
}

/*
 * kvm_update_page_stats: atomic64_add on kvm->stat.pages[level - 1], one
 * VM-wide cache line every vCPU's fault writes (x86 only).
 */
static void kvm_update_page_stats_line(struct m2d_vm *kvm)
{
	if (kvm->fmt != M2D_PT_ARM64_S2)
		m2d_cacheline_rmw(&kvm->stat_pages_line);
}

#define PTE_PREFETCH_NUM 8

/*
 * mmu_set_spte of a prefetched 4K SPTE (no fault): present, not accessed,
 * writable if @writable (then mmu_try_to_unsync_pages walks @gfn's
 * bucket); rmap_add.  mmu_lock held for write.
 */
void kvm_mmu_prefetch_spte(struct m2d_vm *kvm, struct m2d_pt_iter *iter, uint64_t gfn,
			   uint64_t pfn, bool writable)
{
	unsigned prot = M2D_PROT_R | M2D_PROT_X | M2D_PROT_U | M2D_PROT_WB | SPTE_HOST_WRITABLE;

	if (writable) {
		prot |= M2D_PROT_W | SPTE_MMU_WRITABLE;
		mmu_page_hash_walk(kvm, gfn);
	}
	tdp_mmu_set_spte(kvm, iter, m2d_pte_make_leaf(kvm->fmt, M2D_LEVEL_4K, pfn, prot), false);
	count_install(M2D_LEVEL_4K);
	kvm_update_page_stats_line(kvm);
	m2d_delay(M2D_COST_KVM_MMU_SET_SPTE, 1);
	m2d_delay(M2D_COST_KVM_RMAP_ADD, 1);
}

/*
 * direct_pte_prefetch_many: map the run of gfns [@gfn, @gfn + @nr) of
 * @slot whose host pages are already there (gfn_to_page_many_atomic:
 * GUP-fast, stopping at the first page that is not), each with a prefetch
 * mmu_set_spte (not accessed; rmap_add).  Return: false to stop
 * prefetching (nothing could be mapped).
 */
static bool direct_pte_prefetch_many(struct m2d_vm *kvm, struct m2d_memslot *slot, uint64_t gfn,
				     unsigned nr)
{
	uint64_t pfns[PTE_PREFETCH_NUM];
	struct m2d_pt_iter iter;
	unsigned n = 0;

	/* __gfn_to_hva_many: the whole run must lie in the slot. */
	if (gfn < slot->base_gfn || gfn + nr > slot->base_gfn + slot->npages)
		return false;
	m2d_delay(M2D_COST_KVM_GUP_FAST, 1);
	for (; n < nr; n++) {
		bool writable;

		if (!kvm->ops.gup_fast(slot->mm, gfn_to_hva_memslot(slot, gfn + n), true, &pfns[n],
				       &writable))
			break;
	}
	if (!n)
		return false;
	m2d_pt_for_each_pte(iter, kvm->pt, gfn << M2D_PAGE_SHIFT, (gfn + n) << M2D_PAGE_SHIFT) {
		if (iter.level != M2D_LEVEL_4K || is_shadow_present_pte(kvm, iter.old_pte))
			continue;
		kvm_mmu_prefetch_spte(kvm, &iter, iter.addr >> M2D_PAGE_SHIFT,
				      pfns[(iter.addr >> M2D_PAGE_SHIFT) - gfn], true);
	}
	if (kvm->ops.put_page)
		for (unsigned i = 0; i < n; i++)
			kvm->ops.put_page(pfns[i]);
	return true;
}

/*
 * direct_pte_prefetch (mmu.c; the legacy MMU's direct pages, every
 * kernel version): after a 4K fault, the other not-present SPTEs of its
 * PTE_PREFETCH_NUM-aligned group are mapped run by run from the host
 * pages GUP-fast finds, without faults.  Not while an invalidation is in
 * progress, and not for a slot that logs dirty pages
 * (gfn_to_memslot_dirty_bitmap refuses a writable prefetch there).  The
 * TDP MMU never prefetches.
 */
static void direct_pte_prefetch(struct m2d_vm *kvm, struct kvm_page_fault *fault)
{
	uint64_t first = fault->gfn & ~(uint64_t)(PTE_PREFETCH_NUM - 1), run = 0;
	struct m2d_pt_iter iter;
	unsigned nr = 0;

	if (READ_ONCE(kvm->mmu_invalidate_in_progress) ||
	    kvm_slot_dirty_track_enabled(fault->slot))
		return;
	/* __direct_pte_prefetch: runs of non-present SPTEs, split by present ones. */
	m2d_pt_for_each_pte(iter, kvm->pt, first << M2D_PAGE_SHIFT,
			    (first + PTE_PREFETCH_NUM) << M2D_PAGE_SHIFT) {
		uint64_t gfn = iter.addr >> M2D_PAGE_SHIFT;

		if (iter.level != M2D_LEVEL_4K)
			continue;
		if (is_shadow_present_pte(kvm, iter.old_pte) || gfn == fault->gfn) {
			if (nr && !direct_pte_prefetch_many(kvm, fault->slot, run, nr))
				return;
			nr = 0;
			continue;
		}
		if (!nr++)
			run = gfn;
	}
	if (nr)
		direct_pte_prefetch_many(kvm, fault->slot, run, nr);
}

/* tdp_mmu_map_handle_target_level */
static int tdp_mmu_map_handle_target_level(struct m2d_vcpu *vcpu, struct kvm_page_fault *fault,
					   struct m2d_pt_iter *iter, bool shared)
{
	struct m2d_vm *kvm = vcpu->vm;
	uint64_t old = iter->old_pte, new_spte;
	bool wrprot; /* write tracking (shadowed guest tables) is not modelled */
	int ret = RET_PF_FIXED;

	if (is_shadow_present_pte(kvm, old) && is_last_spte(kvm, old, iter->level) &&
	    (fault->prefetch || is_access_allowed(kvm, fault, old, iter->level)))
		return RET_PF_SPURIOUS;

	new_spte = make_spte(kvm, fault, iter->level, fault->pfn, &wrprot);
	/*
	 * make_spte -> mmu_try_to_unsync_pages for a writable SPTE: a walk of
	 * the gfn's hash bucket looking for indirect shadow pages to unsync
	 * (only the legacy MMU has hashed pages).
	 */
	if (kvm->mmu_page_hash && is_writable_pte(kvm, new_spte, iter->level))
		mmu_page_hash_walk(kvm, fault->gfn);
	if (new_spte == old) {
		ret = RET_PF_SPURIOUS;
	} else if (tdp_mmu_set_spte(kvm, iter, new_spte, shared)) {
		fault->retry = RETRY_RACE;
		return RET_PF_RETRY;
	} else {
		if (!is_shadow_present_pte(kvm, old) || !is_last_spte(kvm, old, iter->level)) {
			count_install(iter->level);
			kvm_update_page_stats_line(kvm);
			/*
			 * Legacy mmu_set_spte of a new leaf: the rest of make_spte
			 * (kvm_is_mmio_pfn reads the pfn's struct page), the
			 * dirty-bitmap bit, direct_pte_prefetch's scan, then
			 * (!was_rmapped) rmap_add -> pte_list_add.
			 */
			if (kvm->mmu_page_hash) {
				m2d_delay(M2D_COST_KVM_MMU_SET_SPTE, 1);
				m2d_delay(M2D_COST_KVM_RMAP_ADD, 1);
			}
			if (kvm_shadow_paging(kvm))
				shadow_rmap_add(kvm, fault->slot, fault->gfn, iter->addr);
		} else if (kvm_shadow_paging(kvm)) {
			/*
			 * FNAME(fetch) -> mmu_set_spte on a present leaf (a write to a
			 * write-protected page: there is no fast path for shadow paging):
			 * make_spte and the dirty bit again, then FNAME(pte_prefetch)'s
			 * scan; no rmap_add (was_rmapped).
			 */
			m2d_delay(M2D_COST_KVM_MMU_SET_SPTE, 1);
		}
		if (is_shadow_present_pte(kvm, old) && !is_last_spte(kvm, old, iter->level))
			/* A table was replaced by a huge leaf: kvm_flush_remote_tlbs_gfn. */
			kvm_flush_remote_tlbs(kvm);
	}
	if (is_writable_pte(kvm, new_spte, iter->level) && kvm_slot_dirty_track_enabled(fault->slot))
		mark_page_dirty_in_slot(kvm, fault->slot, fault->gfn);
	if (ret == RET_PF_FIXED && iter->level == M2D_LEVEL_4K && kvm->cfg.mmu == M2D_KVM_MMU_LEGACY)
		direct_pte_prefetch(kvm, fault);
	if (ret == RET_PF_FIXED && iter->level == M2D_LEVEL_4K && kvm_shadow_paging(kvm))
		paging64_pte_prefetch(kvm, fault);
	return ret;
}

/*
 * drop_large_spte (mmu.c), called by __link_shadow_page(flush = true) when
 * the shadow MMU links a table where a huge SPTE is: drop_spte clears it
 * (write lock held), then kvm_flush_remote_tlbs_sptep (a full remote flush
 * without Hyper-V's ranged flush).
 */
static void drop_large_spte(struct m2d_vm *kvm, struct m2d_pt_iter *iter)
{
	M2D_WARN_ON_ONCE(iter->level == M2D_LEVEL_4K);
	tdp_mmu_set_spte(kvm, iter, 0, false);
	m2d_count(M2D_CTR_spte_zaps, 1);
	kvm_flush_remote_tlbs(kvm);
}

/*
 * kvm_tdp_mmu_map - handle a TDP page fault (NPT/EPT violation/misconfig)
 * by installing page tables and SPTEs to translate the faulting guest
 * physical address.  @shared: under read_lock (TDP MMU) or write_lock
 * (legacy model).
 */
int kvm_tdp_mmu_map(struct m2d_vcpu *vcpu, struct kvm_page_fault *fault, bool shared)
{
	struct m2d_vm *kvm = vcpu->vm;
	uint64_t addr = fault->gfn << M2D_PAGE_SHIFT;
	struct m2d_pt_iter iter;
	int ret = RET_PF_RETRY;

	/*
	 * Shadow paging (FNAME(fetch)): the table is indexed by the GVA, and
	 * the top-level guest PTE is re-read first (FNAME(gpte_changed)).
	 */
	if (kvm_shadow_paging(kvm)) {
		addr = fault->addr & ~(M2D_PAGE_SIZE - 1);
		paging64_gpte_changed(kvm);
	}
	rcu_read_lock();
	tdp_mmu_walk_start(kvm);
	m2d_pt_for_each_pte(iter, kvm->pt, addr, addr + M2D_PAGE_SIZE) {
		uint64_t *spt;
		int r;

		m2d_delay(M2D_COST_KVM_TDP_ITER_STEP, 1);
		/*
		 * If SPTE has been frozen by another thread, just give up and
		 * retry, avoiding unnecessary page table allocation and free.
		 */
		if (is_frozen_spte(iter.old_pte)) {
			fault->retry = RETRY_RACE;
			goto retry;
		}
		if (iter.level == fault->goal_level)
			goto map_target_level;
		/* Step down into the lower level page table if it exists. */
		if (is_shadow_present_pte(kvm, iter.old_pte) &&
		    !is_last_spte(kvm, iter.old_pte, iter.level))
			continue;
		/*
		 * A huge SPTE in the way: before 6.2, and always for the shadow
		 * MMU, it is zapped (with a TLB flush) and an empty table linked
		 * in its place, so only the faulting page gets mapped.
		 */
		if (is_shadow_present_pte(kvm, iter.old_pte) &&
		    (!shared || !kvm->cfg.fault_split_huge)) {
			if (shared) {
				if (tdp_mmu_zap_spte_atomic(kvm, &iter)) {
					fault->retry = RETRY_RACE;
					goto retry;
				}
			} else {
				drop_large_spte(kvm, &iter);
			}
		}
		/*
		 * The SPTE is either non-present or points to a huge page that
		 * needs to be split.
		 */
		spt = tdp_mmu_alloc_sp(vcpu, iter.level - 1);
		if (!spt) {
			ret = -ENOMEM;
			goto retry;
		}
		/*
		 * Legacy: kvm_mmu_get_page looks the new page up in its bucket
		 * first.  Shadow paging: by the guest table's gfn, and the guest
		 * PTE of the level below is re-read before linking.
		 */
		if (kvm->mmu_page_hash)
			mmu_page_hash_walk(kvm, kvm_mmu_sp_gfn(kvm, iter.addr, iter.level));
		if (kvm_shadow_paging(kvm))
			paging64_gpte_changed(kvm);
		if (is_shadow_present_pte(kvm, iter.old_pte))
			r = tdp_mmu_split_huge_page(kvm, &iter, spt, shared);
		else
			r = tdp_mmu_link_sp(kvm, &iter, spt, shared);
		/*
		 * Force the guest to retry if installing an upper level SPTE
		 * failed, e.g. because a different task modified the SPTE.
		 */
		if (r) {
			tdp_mmu_free_sp(kvm, spt);
			fault->retry = RETRY_RACE;
			goto retry;
		}
	}
	/*
	 * The walk aborted before reaching the target level, e.g. because the
	 * iterator detected an upper level SPTE was frozen during traversal.
	 */
	fault->retry = RETRY_RACE;
	goto retry;

map_target_level:
	ret = tdp_mmu_map_handle_target_level(vcpu, fault, &iter, shared);
retry:
	rcu_read_unlock();
	return ret;
}

/* Lockless SPTE check for the guest-access fast path (hardware walk). */
bool kvm_tdp_mmu_spte_allows(struct m2d_vm *kvm, uint64_t gpa, bool write)
{
	struct m2d_pt_walk w;

	m2d_pt_walk(kvm->pt, gpa, &w);
	if (!w.present)
		return false;
	return !write || (w.prot & M2D_PROT_W);
}

/* ---- zaps ------------------------------------------------------------------------ */

/*
 * tdp_mmu_iter_cond_resched - yield if the MMU lock is contended or this
 * thread needs to return control to the scheduler.  If a flush is owed it
 * is done before the lock is dropped.  Return: true if this thread yielded.
 */
bool tdp_mmu_iter_cond_resched(struct m2d_vm *kvm, struct m2d_pt_iter *iter, bool flush,
			       bool shared)
{
	/* Ensure forward progress has been made before yielding. */
	if (!m2d_pt_iter_can_yield(iter))
		return false;
	/*
	 * rwlock_needbreak() is 0 unless the host's preemption model is
	 * preemptible (Sean Christopherson, "sched/core: Drop spinlocks on
	 * contention iff kernel is preemptible", 2024).
	 */
	if (m2d_need_resched() ||
	    (m2d_cost(M2D_COST_KVM_RWLOCK_NEEDBREAK) != 0.0 && rwlock_needbreak(&kvm->mmu_lock))) {
		if (flush)
			kvm_flush_remote_tlbs(kvm);
		rcu_read_unlock();
		if (shared)
			cond_resched_rwlock_read(&kvm->mmu_lock);
		else
			cond_resched_rwlock_write(&kvm->mmu_lock);
		rcu_read_lock();
		m2d_pt_iter_yielded(iter);
		return true;
	}
	return false;
}

/*
 * tdp_mmu_zap_leafs - zap the present leaf SPTEs mapping gfns in
 * [@start, @end), any level; page-table pages are not freed.
 * Return: true if a TLB flush is owed (anything zapped, or @flush in).
 */
bool kvm_tdp_mmu_zap_leafs(struct m2d_vm *kvm, uint64_t start, uint64_t end, bool can_yield,
			   bool flush)
{
	struct m2d_pt_iter iter;
	uint64_t zapped = 0, visited = 0;

	lockdep_assert_held_write(&kvm->mmu_lock);
	/* Shadow paging: kvm_zap_rmap through the rmaps of the gfns. */
	if (kvm_shadow_paging(kvm))
		return shadow_rmap_zap_range(kvm, start, end) || flush;
	end = M2D_MIN(end, m2d_pt_max_addr(kvm->pt) >> M2D_PAGE_SHIFT);
	if (start >= end)
		return flush;
	rcu_read_lock();
	tdp_mmu_walk_start(kvm); /* tdp_mmu_zap_leafs for the one root */
	m2d_pt_for_each_pte(iter, kvm->pt, start << M2D_PAGE_SHIFT, end << M2D_PAGE_SHIFT) {
		/*
		 * Charged as it goes: the clock decides when the walk yields.
		 * A scheduling point per table's worth of entries lets threads
		 * that are behind in virtual time (vCPUs running guest code on
		 * other CPUs) run before the zap gets ahead of them; it does not
		 * drop mmu_lock.
		 */
		m2d_delay(M2D_COST_KVM_TDP_ITER_STEP, 1);
		if (!(++visited % M2D_PT_ENTRIES))
			m2d_sched_point();
		if (can_yield && tdp_mmu_iter_cond_resched(kvm, &iter, flush, false)) {
			flush = false;
			continue;
		}
		if (!is_shadow_present_pte(kvm, iter.old_pte) ||
		    !is_last_spte(kvm, iter.old_pte, iter.level))
			continue;
		m2d_delay(M2D_COST_KVM_SPTE_WRITE, 1);
		m2d_pt_iter_set(&iter, 0);
		zapped++;
		flush = true;
	}
	rcu_read_unlock();
	m2d_count(M2D_CTR_spte_zaps, zapped);
	return flush;
}

/* ---- dirty logging: write-protect, clear D, split, recover ------------------------- */

/*
 * rmap_spte_update - the shadow MMU's change of one leaf found through its
 * rmap: spte_clear_dirty / spte_write_protect -> mmu_spte_update (a plain
 * store: a writable, accessed, dirty SPTE has no volatile bits), which for
 * a cleared D bit also calls kvm_set_pfn_dirty on the pfn's struct page.
 * No handle_changed_spte.  Write lock held.
 */
void rmap_spte_update(struct m2d_vm *kvm, struct m2d_pt_iter *iter, uint64_t new_spte)
{
	lockdep_assert_held_write(&kvm->mmu_lock);
	m2d_delay(M2D_COST_KVM_RMAP_SPTE_UPDATE, 1);
	m2d_pt_iter_set(iter, new_spte);
}

/*
 * clear_leaf_prot_range - the one walk of wrprot_gfn_range and
 * clear_dirty_gfn_range: clear @bit (M2D_PROT_W or M2D_PROT_D) in every
 * present leaf at or above @min_level in [@start, @end) that has it, with
 * cmpxchg when @shared (retrying a lost race).  For the shadow MMU the
 * same leaves are changed through their rmaps (slot_rmap_write_protect,
 * __rmap_clear_dirty, rmap_write_protect): one rmap_spte_update each, no
 * walk from the root; the callers charge the rmap heads.
 * Return: true if anything changed (a flush is owed).
 */
static bool clear_leaf_prot_range(struct m2d_vm *kvm, uint64_t start, uint64_t end, int min_level,
				  unsigned bit, bool shared)
{
	struct m2d_pt_iter iter;
	bool spte_set = false, rmaps = walks_rmaps(kvm);

	rcu_read_lock();
	tdp_mmu_walk_start(kvm);
	m2d_pt_for_each_pte_min_level(iter, kvm->pt, min_level, start << M2D_PAGE_SHIFT,
				      end << M2D_PAGE_SHIFT) {
		uint64_t new_spte;

		if (!rmaps)
			m2d_delay(M2D_COST_KVM_TDP_ITER_STEP, 1);
retry:
		if (tdp_mmu_iter_cond_resched(kvm, &iter, false, shared))
			continue;
		if (!is_shadow_present_pte(kvm, iter.old_pte) ||
		    !is_last_spte(kvm, iter.old_pte, iter.level) ||
		    !(m2d_pte_prot(kvm->fmt, iter.old_pte, iter.level) & bit))
			continue;
		new_spte = m2d_pte_change_prot(kvm->fmt, iter.old_pte, iter.level, 0, bit);
		if (rmaps)
			rmap_spte_update(kvm, &iter, new_spte);
		else if (tdp_mmu_set_spte(kvm, &iter, new_spte, shared))
			goto retry;
		spte_set = true;
	}
	rcu_read_unlock();
	return spte_set;
}

/*
 * kvm_tdp_mmu_wrprot_range (kvm_tdp_mmu_wrprot_slot's worker, the kernel's
 * wrprot_gfn_range): clear W on every writable leaf at or above @min_level,
 * with cmpxchg under the read lock.
 * Return: true if anything changed (a flush is owed).
 */
bool kvm_tdp_mmu_wrprot_range(struct m2d_vm *kvm, uint64_t start, uint64_t end, int min_level,
			     bool shared)
{
	if (kvm_shadow_paging(kvm)) {
		/*
		 * Shadow leaves are 4K: a walk from 2M up finds nothing (the
		 * callers charge the rmap heads: walk_slot_rmaps,
		 * kvm_mmu_slot_gfn_write_protect).
		 */
		if (min_level > M2D_LEVEL_4K)
			return false;
		return shadow_rmap_clear_bit(kvm, m2d_gfn_to_memslot(&kvm->slots, start), start,
					     end, NULL, M2D_PROT_W);
	}
	return clear_leaf_prot_range(kvm, start, end, min_level, M2D_PROT_W, shared);
}

/*
 * kvm_tdp_mmu_wrprot_slot (read lock held by the caller, @shared) and the
 * write-locked equivalents (legacy slot_handle_level, arm64
 * kvm_mmu_wp_memory_region).
 */
bool kvm_tdp_mmu_wrprot_slot(struct m2d_vm *kvm, struct m2d_memslot *slot, int min_level,
			     bool shared)
{
	return kvm_tdp_mmu_wrprot_range(kvm, slot->base_gfn, slot->base_gfn + slot->npages, min_level,
				shared);
}

/*
 * kvm_tdp_mmu_clear_dirty_slot (PML; the kernel's clear_dirty_gfn_range):
 * clear the D bit of every leaf so the next write is logged (read lock held
 * by the caller).
 */
bool kvm_tdp_mmu_clear_dirty_slot(struct m2d_vm *kvm, struct m2d_memslot *slot, bool shared)
{
	if (kvm_shadow_paging(kvm))
		return shadow_rmap_clear_bit(kvm, slot, slot->base_gfn, slot->base_gfn + slot->npages,
					     NULL, M2D_PROT_D);
	return clear_leaf_prot_range(kvm, slot->base_gfn, slot->base_gfn + slot->npages,
				     M2D_LEVEL_4K, M2D_PROT_D, shared);
}

/*
 * kvm_tdp_mmu_clear_dirty_pt_masked / write-protect the gfns selected by
 * @mask (bit i = gfn slot->base_gfn + @gfn_offset + i) at 4K, under the
 * write lock (GET/CLEAR_DIRTY_LOG).  With PML the D bit is cleared, else W.
 * TDP MMU: clear_dirty_pt_masked, one walk from the root over
 * [gfn + __ffs(mask), gfn + BITS_PER_LONG).  Shadow MMU
 * (kvm_mmu_clear_dirty_pt_masked / kvm_mmu_write_protect_pt_masked): per
 * set bit, gfn_to_rmap and __rmap_clear_dirty / rmap_write_protect on the
 * 4K rmap head: one head per bit and one rmap_spte_update per changed SPTE.
 * Return: true if anything changed.
 */
bool kvm_tdp_mmu_wrprot_gfns(struct m2d_vm *kvm, struct m2d_memslot *slot, uint64_t gfn_offset,
			     uint64_t mask)
{
	unsigned clear = kvm->cfg.pml ? M2D_PROT_D : M2D_PROT_W;
	uint64_t base = slot->base_gfn + gfn_offset;
	struct m2d_pt_iter iter;
	bool spte_set = false;

	lockdep_assert_held_write(&kvm->mmu_lock);
	/* kvm_mmu_write_protect_pt_masked / kvm_mmu_clear_dirty_pt_masked through the rmaps. */
	if (kvm_shadow_paging(kvm))
		return shadow_rmap_clear_bit(kvm, slot, base, base + 64, &mask, clear);
	if (walks_rmaps(kvm))
		m2d_delay(M2D_COST_KVM_RMAP_HEAD, (uint64_t)__builtin_popcountll(mask));
	rcu_read_lock();
	tdp_mmu_walk_start(kvm);
	m2d_pt_for_each_pte(iter, kvm->pt, (base + (uint64_t)__builtin_ctzll(mask)) << M2D_PAGE_SHIFT,
			    (base + 64 - (uint64_t)__builtin_clzll(mask)) << M2D_PAGE_SHIFT) {
		uint64_t gfn = level_gfn(iter.addr), new_spte;

		if (!walks_rmaps(kvm))
			m2d_delay(M2D_COST_KVM_TDP_ITER_STEP, 1);
		if (iter.level > M2D_LEVEL_4K || gfn < base || !(mask & (1ull << (gfn - base))))
			continue;
		if (!is_shadow_present_pte(kvm, iter.old_pte) ||
		    !(m2d_pte_prot(kvm->fmt, iter.old_pte, iter.level) & clear))
			continue;
		new_spte = m2d_pte_change_prot(kvm->fmt, iter.old_pte, iter.level, 0, clear);
		if (walks_rmaps(kvm))
			rmap_spte_update(kvm, &iter, new_spte);
		else
			tdp_mmu_set_spte(kvm, &iter, new_spte, false);
		spte_set = true;
	}
	rcu_read_unlock();
	return spte_set;
}

/*
 * kvm_tdp_mmu_try_split_huge_pages / tdp_mmu_split_huge_pages_root:
 * pre-order walk from @target_level + 1; each present huge SPTE is split
 * one level (a 1G page becomes 512 2M, and each 2M is then split on the way
 * down).  TDP MMU: under the read lock (@shared, enabling dirty logging)
 * or the write lock (CLEAR_DIRTY_LOG) each table is allocated after
 * dropping mmu_lock and RCU (tdp_mmu_alloc_sp_for_split), then the walk
 * restarts from the root.  Legacy MMU (only with the EPS3 series,
 * kvm_eager_split_enabled): kvm_shadow_mmu_try_split_huge_pages under the
 * write lock, the page allocated in place (the shadow MMU's split cache),
 * and each of the 512 children added to its gfn's rmap
 * (shadow_mmu_split_huge_page -> __rmap_add).
 */
void kvm_tdp_mmu_try_split_huge_pages(struct m2d_vm *kvm, struct m2d_memslot *slot,
				      uint64_t start, uint64_t end, int target_level, bool shared)
{
	struct m2d_pt_iter iter;
	uint64_t *spt = NULL;
	int spt_level = 0;

	/*
	 * The shadow MMU (legacy, shadow paging): kvm_shadow_mmu_try_split_huge_pages,
	 * slot_handle_level_range over the rmaps of each level above
	 * @target_level, not a walk from a root.  Shadow paging maps 4K only:
	 * it visits the heads and finds nothing.
	 */
	if (walks_rmaps(kvm))
		slot_handle_level_range(kvm, slot, target_level + 1, kvm->cfg.max_level, start,
					end - 1);
	if (kvm_shadow_paging(kvm))
		return;
	rcu_read_lock();
	tdp_mmu_walk_start(kvm); /* tdp_mmu_split_huge_pages_root for the one root */
	m2d_pt_for_each_pte_min_level(iter, kvm->pt, target_level + 1, start << M2D_PAGE_SHIFT,
				      end << M2D_PAGE_SHIFT) {
		if (!walks_rmaps(kvm))
			m2d_delay(M2D_COST_KVM_TDP_ITER_STEP, 1);
retry:
		if (tdp_mmu_iter_cond_resched(kvm, &iter, false, shared))
			continue;
		if (!is_shadow_present_pte(kvm, iter.old_pte) ||
		    !is_last_spte(kvm, iter.old_pte, iter.level) || iter.level <= target_level)
			continue;
		if (spt && spt_level != iter.level - 1) {
			tdp_mmu_free_sp(kvm, spt);
			spt = NULL;
		}
		if (!spt && (kvm->cfg.mmu == M2D_KVM_MMU_LEGACY || kvm->cfg.split_alloc_nowait)) {
			/*
			 * Shadow MMU eager split (kvm_shadow_mmu_try_split_huge_pages):
			 * the page comes from a split cache under the write lock.
			 * TDP MMU, 5.18 .. 6.9 (tdp_mmu_alloc_sp_for_split): first
			 * GFP_NOWAIT | __GFP_ACCOUNT under mmu_lock, which EPS1-06
			 * saw never fail; only a failure drops the lock.
			 */
			spt_level = iter.level - 1;
			m2d_delay(M2D_COST_KVM_MMU_PAGE_ALLOC, 1);
			spt = m2d_pt_alloc_table(kvm->pt, spt_level);
			if (spt)
				m2d_count(M2D_CTR_tables_allocated, 1);
			else if (kvm->cfg.mmu == M2D_KVM_MMU_LEGACY)
				break;
		}
		if (!spt) {
			/*
			 * tdp_mmu_alloc_sp_for_split (6.10+: always; before: after a
			 * GFP_NOWAIT failure): allocate with GFP_KERNEL_ACCOUNT
			 * after dropping mmu_lock and RCU, then restart the walk.
			 */
			spt_level = iter.level - 1;
			rcu_read_unlock();
			if (shared)
				read_unlock(&kvm->mmu_lock);
			else
				write_unlock(&kvm->mmu_lock);
			m2d_delay(M2D_COST_KVM_MMU_PAGE_ALLOC, 1);
			spt = m2d_pt_alloc_table(kvm->pt, spt_level);
			if (shared)
				read_lock(&kvm->mmu_lock);
			else
				write_lock(&kvm->mmu_lock);
			rcu_read_lock();
			m2d_pt_iter_yielded(&iter);
			if (!spt)
				break;
			m2d_count(M2D_CTR_tables_allocated, 1);
			continue;
		}
		if (tdp_mmu_split_huge_page(kvm, &iter, spt, shared))
			goto retry;
		if (kvm->cfg.mmu == M2D_KVM_MMU_LEGACY)
			m2d_delay(M2D_COST_KVM_RMAP_ADD, M2D_PT_ENTRIES);
		spt = NULL;
	}
	rcu_read_unlock();
	if (spt)
		tdp_mmu_free_sp(kvm, spt);
}

/*
 * tdp_mmu_zap_spte_atomic - zap an SPTE under the read lock: freeze it
 * with cmpxchg (FROZEN_SPTE), flush (kvm_flush_remote_tlbs_gfn: a full
 * flush on x86), then write the non-present value.  A frozen SPTE is never
 * replaced before the TLB flush.  Return: 0, or -EBUSY if it changed.
 */
int tdp_mmu_zap_spte_atomic(struct m2d_vm *kvm, struct m2d_pt_iter *iter)
{
	int ret;

	lockdep_assert_held_read(&kvm->mmu_lock);
	m2d_delay(M2D_COST_KVM_SPTE_CMPXCHG, 1);
	ret = m2d_pt_iter_set_atomic(iter, FROZEN_SPTE);
	if (ret)
		return ret;
	kvm_flush_remote_tlbs(kvm);
	/* __kvm_tdp_mmu_write_spte: nobody else writes a frozen SPTE. */
	m2d_delay(M2D_COST_KVM_SPTE_WRITE, 1);
	ret = m2d_pt_iter_set_atomic(iter, 0);
	M2D_BUG_ON(ret);
	return 0;
}
