// SPDX-License-Identifier: MIT
/*
 * lib/kvm/stage2.c - arm64 stage-2 faults and unmaps
 * (arch/arm64/kvm/mmu.c user_mem_abort, __unmap_stage2_range,
 * stage2_apply_range; arch/arm64/kvm/hyp/pgtable.c map/unmap walkers).
 *
 * The table is an m2d_pt in arm64 stage-2 format (4K granule, 4 levels).
 *
 * Fault (MECHANISMS.md 6.1): mmap_read_lock + vma_lookup, the VMA page
 * shift clamped by fault_supports_stage2_huge_mapping, mmu_seq snapshot,
 * mmap_read_unlock, GUP, read_lock(mmu_lock), the VM-wide
 * mmu_invalidate_retry (any invalidation in progress, or the sequence
 * moved, retries), transparent_hugepage_adjust, then the shared map walker:
 * each entry change is break-before-make (cmpxchg to a locked marker, TLBI
 * for a valid old entry, cache maintenance of the new mapping when the host
 * lacks FWB, then the new entry).
 *
 * Unmap (6.2, 6.3): under write_lock(mmu_lock), in 1 GiB chunks with
 * cond_resched_rwlock_write between them; every valid leaf is cleared with
 * a per-entry TLBI (deferred to one range TLBI when the host has both
 * FEAT_TLBIRANGE and FWB), a range TLBI per table left empty and, without FWB, a dcache clean+invalidate
 * of the whole page/block; tables left empty are freed (RCU).  No VM-wide
 * flush is requested afterwards.
 */
#include "kvm/kvm.h"

#include <errno.h>

static bool has_fwb(void)
{
	return m2d_cost(M2D_COST_KVM_S2_FWB) != 0.0;
}

/*
 * stage2_unmap_defer_tlb_flush: defer the per-leaf TLBIs of an unmap to
 * one range TLBI only with FEAT_TLBIRANGE and FWB (without FWB the walker
 * does CMOs anyway).
 */
static bool stage2_unmap_defer_tlb_flush(void)
{
	return m2d_cost(M2D_COST_KVM_S2_TLBIRANGE) != 0.0 && has_fwb();
}

/*
 * kvm_stage2_tlbi: @n broadcast TLB invalidations (__kvm_tlb_flush_vmid_ipa:
 * TLBI IPAS2E1IS + DSB ISH, then TLBI VMALLE1IS + DSB ISH; or
 * __kvm_tlb_flush_vmid).  Each completes only once every PE in the
 * inner-shareable domain has acknowledged it, and the interconnect's DVM
 * path handles one such sync at a time: concurrent broadcasts queue
 * (kvm->s2_dvm).  Local (NSH) invalidations do not go through it.
 */
void kvm_stage2_tlbi(struct m2d_vm *kvm, enum m2d_cost id, uint64_t n)
{
	m2d_count(M2D_CTR_s2_tlbi_broadcast, n);
	for (uint64_t i = 0; i < n; i++)
		m2d_serial_delay(&kvm->s2_dvm, id, 1);
}

/*
 * The cost of __kvm_tlb_flush_vmid_ipa for a leaf of @level: a block's
 * invalidation (TLBI IPAS2E1IS at level 1/2, then VMALLE1IS) makes every
 * PE drop all the translations the block covers, which implementations
 * take longer to complete than a page's (kvm_s2_tlbi_block).
 */
static enum m2d_cost stage2_tlbi_cost(int level)
{
	return level > M2D_LEVEL_4K ? M2D_COST_KVM_S2_TLBI_BLOCK : M2D_COST_KVM_S2_TLBI;
}

/*
 * The CMO for a mapping of @level (dcache clean+inval to PoC), without
 * FWB: the CPU's own cost (kvm_s2_dcache_cmo per KiB), and the write-back
 * of the dirty lines to memory, which shares the host's DRAM write path
 * with every other CPU's (kvm->s2_membw, kvm_s2_cmo_membw per KiB; 0 =
 * unlimited): under load the CMO completes when its write-back has been
 * served.
 */
static void stage2_cmo(struct m2d_vm *kvm, int level)
{
	uint64_t kib = m2d_level_size(level) / M2D_SZ_1K;

	if (has_fwb())
		return;
	if (m2d_cost(M2D_COST_KVM_S2_CMO_MEMBW) != 0.0)
		m2d_serial_overlap(&kvm->s2_membw, M2D_COST_KVM_S2_DCACHE_CMO, kib,
				   M2D_COST_KVM_S2_CMO_MEMBW, kib);
	else
		m2d_delay(M2D_COST_KVM_S2_DCACHE_CMO, kib);
}

/* fault_supports_stage2_huge_mapping */
static bool fault_supports_stage2_huge_mapping(const struct m2d_memslot *slot, uint64_t hva,
					       uint64_t map_size)
{
	uint64_t size = slot->npages << M2D_PAGE_SHIFT;
	uint64_t gpa_start = slot->base_gfn << M2D_PAGE_SHIFT;
	uint64_t uaddr_start = slot->userspace_addr, uaddr_end = uaddr_start + size;

	/*
	 * Pages belonging to memslots that don't have the same alignment
	 * within a PMD/PUD for userspace and IPA cannot be mapped with stage-2
	 * PMD/PUD entries, because we'll end up mapping the wrong pages.
	 */
	if ((gpa_start & (map_size - 1)) != (uaddr_start & (map_size - 1)))
		return false;
	/*
	 * Next, let's make sure we're not trying to map anything not covered
	 * by the memslot.
	 */
	return (hva & ~(map_size - 1)) >= uaddr_start &&
	       (hva & ~(map_size - 1)) + map_size <= uaddr_end;
}

/* transparent_hugepage_adjust: map 2M if the host maps the page with a PMD. */
static uint64_t transparent_hugepage_adjust(struct m2d_vm *kvm, const struct m2d_memslot *slot,
					    uint64_t hva, uint64_t *pfn, uint64_t *ipa)
{
	if (fault_supports_stage2_huge_mapping(slot, hva, M2D_PMD_SIZE)) {
		/* get_user_mapping_size */
		if (kvm->ops.host_mapping_level(slot->mm, hva) < M2D_LEVEL_2M)
			return M2D_PAGE_SIZE;
		*ipa &= ~(M2D_PMD_SIZE - 1);
		*pfn &= ~(KVM_PAGES_PER_HPAGE(M2D_LEVEL_2M) - 1);
		return M2D_PMD_SIZE;
	}
	return M2D_PAGE_SIZE;
}

static int size_to_level(uint64_t size)
{
	return size == M2D_PUD_SIZE ? M2D_LEVEL_1G : size == M2D_PMD_SIZE ? M2D_LEVEL_2M
									  : M2D_LEVEL_4K;
}

/*
 * stage2_try_break_pte + stage2_make_pte for one entry (shared walker):
 * break-before-make with the TLB maintenance the old entry needs.
 * Return: 0, or -EAGAIN if another walker changed the entry.
 */
static int stage2_try_set_pte(struct m2d_vm *kvm, struct m2d_pt_iter *iter, uint64_t new_pte)
{
	uint64_t old = iter->old_pte;

	m2d_delay(M2D_COST_KVM_SPTE_CMPXCHG, 1);
	if (m2d_pt_iter_set_atomic(iter, new_pte))
		return -EAGAIN;
	if (m2d_pte_is_present(kvm->fmt, old)) {
		if (m2d_pte_is_leaf(kvm->fmt, old, iter->level))
			kvm_stage2_tlbi(kvm, stage2_tlbi_cost(iter->level), 1); /* _vmid_ipa */
		else
			kvm_stage2_tlbi(kvm, M2D_COST_KVM_S2_TLBI_VMID, 1); /* __kvm_tlb_flush_vmid */
	}
	return 0;
}

/*
 * kvm_pgtable_stage2_map (flags HANDLE_FAULT | SHARED): install a leaf of
 * @level for @ipa, creating tables from the memcache on the way down.
 */
static int kvm_pgtable_stage2_map(struct m2d_vcpu *vcpu, uint64_t ipa, int level, uint64_t pfn,
				  unsigned prot)
{
	struct m2d_vm *kvm = vcpu->vm;
	uint64_t new_pte = m2d_pte_make_leaf(kvm->fmt, level, pfn, prot);
	struct m2d_pt_iter iter;
	int ret = -EAGAIN;

	m2d_pt_for_each_pte(iter, kvm->pt, ipa, ipa + M2D_PAGE_SIZE) {
		uint64_t *table;

		m2d_delay(M2D_COST_KVM_TDP_ITER_STEP, 1);
		if (iter.level == level) {
			/* stage2_map_walker_try_leaf */
			if (iter.old_pte == new_pte)
				return -EAGAIN; /* someone else mapped it */
			bool was_leaf = m2d_pte_is_leaf(kvm->fmt, iter.old_pte, iter.level);

			/*
			 * Re-mapping the same page (the permission faults that
			 * match the granule went to relax_perms): no CMO.
			 */
			if (!was_leaf || m2d_pte_pfn(kvm->fmt, iter.old_pte, level) != pfn)
				stage2_cmo(kvm, level);
			ret = stage2_try_set_pte(kvm, &iter, new_pte);
			if (!ret && !was_leaf) {
				static const enum m2d_counter ctr[] = {
					[M2D_LEVEL_4K] = M2D_CTR_spte_installs_4k,
					[M2D_LEVEL_2M] = M2D_CTR_spte_installs_2m,
					[M2D_LEVEL_1G] = M2D_CTR_spte_installs_1g,
				};
				m2d_count(ctr[level], 1);
			}
			return ret;
		}
		if (m2d_pte_is_present(kvm->fmt, iter.old_pte) &&
		    !m2d_pte_is_leaf(kvm->fmt, iter.old_pte, iter.level))
			continue;
		/*
		 * stage2_map_walk_leaf: a missing table, or a block that must be
		 * broken into a (new, empty) table.
		 */
		table = m2d_pt_alloc_table(kvm->pt, iter.level - 1);
		if (!table)
			return -ENOMEM;
		if (vcpu->mmu_cache_nobjs > 0)
			vcpu->mmu_cache_nobjs--;
		m2d_count(M2D_CTR_tables_allocated, 1);
		if (stage2_try_set_pte(kvm, &iter, m2d_pte_make_table(kvm->fmt, table))) {
			m2d_pt_free_table(kvm->pt, table);
			m2d_count(M2D_CTR_tables_freed, 1);
			return -EAGAIN;
		}
		uatomic_add(&kvm->mmu_pages, 1);
	}
	return ret;
}

/*
 * kvm_pgtable_stage2_relax_perms (shared walker): add @prot to the leaf
 * mapping @ipa in place (stage2_update_leaf_attrs: one cmpxchg, no
 * break-before-make, no cache maintenance), then invalidate the IPA in the
 * local TLB only (__kvm_tlb_flush_vmid_ipa_nsh), also when the cmpxchg lost
 * (-EAGAIN).  Kernels before "KVM: arm64: Use local TLBI on permission
 * relaxation" (cfg.s2_relax_tlbi_is) broadcast instead, on success only:
 * `if (!ret) kvm_call_hyp(__kvm_tlb_flush_vmid_ipa, ...)`.
 * Return: 0, -EAGAIN, or -ENOENT if no leaf maps @ipa.
 */
static int kvm_pgtable_stage2_relax_perms(struct m2d_vm *kvm, uint64_t ipa, unsigned prot)
{
	struct m2d_pt_iter iter;
	int ret = -ENOENT;

	m2d_pt_for_each_pte(iter, kvm->pt, ipa, ipa + M2D_PAGE_SIZE) {
		uint64_t new_pte;

		m2d_delay(M2D_COST_KVM_TDP_ITER_STEP, 1);
		if (!m2d_pte_is_present(kvm->fmt, iter.old_pte))
			break;
		if (!m2d_pte_is_leaf(kvm->fmt, iter.old_pte, iter.level))
			continue;
		new_pte = m2d_pte_change_prot(kvm->fmt, iter.old_pte, iter.level, prot, 0);
		ret = 0;
		if (new_pte == iter.old_pte)
			break;
		m2d_delay(M2D_COST_KVM_SPTE_CMPXCHG, 1);
		if (m2d_pt_iter_set_atomic(&iter, new_pte))
			ret = -EAGAIN;
		break;
	}
	if (kvm->cfg.s2_relax_tlbi_is) {
		if (!ret)
			kvm_stage2_tlbi(kvm, M2D_COST_KVM_S2_TLBI, 1);
	} else if (!ret || ret == -EAGAIN) {
		m2d_delay(M2D_COST_KVM_S2_TLBI_NSH, 1);
	}
	return ret;
}

/* ---- eager page splitting (6.4+, KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE) ---------------- */

/*
 * The split chunk (kvm->arch.mmu.split_page_chunk_size, set by
 * KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE to a supported block size): 0 = off.
 */
static uint64_t kvm_s2_split_chunk(const struct m2d_vm *kvm)
{
	if (!kvm->cfg.eager_page_split)
		return 0;
	if (!kvm->cfg.s2_split_chunk_kib)
		return M2D_PMD_SIZE;
	return (uint64_t)kvm->cfg.s2_split_chunk_kib << 10;
}

/*
 * kvm_mmu_split_nr_page_tables: tables needed to split @range down to
 * PTEs: one per PUD (KVM_PGTABLE_MIN_BLOCK_LEVEL is 1 with 4K pages) plus
 * one per PMD.
 */
static int kvm_mmu_split_nr_page_tables(uint64_t range)
{
	return (int)(M2D_DIV_ROUND_UP(range, M2D_PUD_SIZE) + M2D_DIV_ROUND_UP(range, M2D_PMD_SIZE));
}

/* stage2_block_get_nr_page_tables: tables under a block of @level split to PTEs. */
static int stage2_block_get_nr_page_tables(int level)
{
	return level == M2D_LEVEL_1G ? 1 + M2D_PT_ENTRIES : 1;
}

/* Free an unlinked subtree built by stage2_create_unlinked (the split lost a race). */
static void stage2_free_unlinked(struct m2d_vm *kvm, uint64_t *table, int level)
{
	if (level > M2D_LEVEL_4K) {
		for (unsigned i = 0; i < M2D_PT_ENTRIES; i++)
			if (!m2d_pte_is_leaf(kvm->fmt, table[i], level))
				stage2_free_unlinked(kvm, m2d_pte_table(kvm->fmt, table[i]),
						     level - 1);
	}
	m2d_pt_free_table(kvm->pt, table);
	m2d_count(M2D_CTR_tables_freed, 1);
}

/*
 * kvm_pgtable_stage2_create_unlinked: the table of @level mapping what the
 * block at @level + 1 (@pfn, @prot) maps, built before it is reachable
 * (SKIP_BBM_TLBI | SKIP_CMO: plain stores, no maintenance).  With
 * @force_pte and @level above 4K, every entry is itself a table of PTEs.
 * Each table comes from the split cache; each entry costs kvm_split_spte.
 */
static uint64_t *stage2_create_unlinked(struct m2d_vm *kvm, uint64_t pfn, unsigned prot,
					int level, bool force_pte)
{
	uint64_t *table = m2d_pt_alloc_table(kvm->pt, level);

	if (!table)
		return NULL;
	kvm->split_cache_nobjs--;
	m2d_count(M2D_CTR_tables_allocated, 1);
	for (unsigned i = 0; i < M2D_PT_ENTRIES; i++) {
		uint64_t child_pfn = pfn + (uint64_t)i * KVM_PAGES_PER_HPAGE(level);

		if (force_pte && level > M2D_LEVEL_4K) {
			uint64_t *sub = stage2_create_unlinked(kvm, child_pfn, prot, level - 1, true);

			if (!sub) {
				for (unsigned j = 0; j < i; j++)
					stage2_free_unlinked(kvm,
							     m2d_pte_table(kvm->fmt, table[j]),
							     level - 1);
				m2d_pt_free_table(kvm->pt, table);
				m2d_count(M2D_CTR_tables_freed, 1);
				return NULL;
			}
			table[i] = m2d_pte_make_table(kvm->fmt, sub);
		} else {
			table[i] = m2d_pte_make_leaf(kvm->fmt, level, child_pfn, prot);
		}
	}
	m2d_delay(M2D_COST_KVM_SPLIT_SPTE, M2D_PT_ENTRIES);
	return table;
}

/*
 * stage2_split_walker over [@addr, @addr + @size) (exclusive walk, write
 * lock): every valid block is replaced by a table built unlinked and
 * installed with break-before-make, so the old block costs one broadcast
 * block TLBI.  A block is split down to PTEs in one go (force_pte) when
 * the cache holds all the tables that takes (1 for 2M, 513 for 1G: a 1G
 * chunk's cache); otherwise one level only (one table of 2M blocks), and
 * the walk then visits those blocks.
 * Return: 0, or -ENOMEM when the split cache ran dry.
 */
static int kvm_pgtable_stage2_split(struct m2d_vm *kvm, uint64_t addr, uint64_t size)
{
	struct m2d_pt_iter iter;

	m2d_pt_for_each_pte(iter, kvm->pt, addr, addr + size) {
		uint64_t old = iter.old_pte, *childp;
		int nr_pages;
		bool force_pte;

		m2d_delay(M2D_COST_KVM_TDP_ITER_STEP, 1);
		/* No huge-pages exist at the last level; only split valid blocks. */
		if (iter.level == M2D_LEVEL_4K || !m2d_pte_is_present(kvm->fmt, old) ||
		    !m2d_pte_is_leaf(kvm->fmt, old, iter.level))
			continue;
		nr_pages = stage2_block_get_nr_page_tables(iter.level);
		force_pte = kvm->split_cache_nobjs >= nr_pages;
		if (!force_pte)
			nr_pages = 1;
		if (kvm->split_cache_nobjs < nr_pages)
			return -ENOMEM;
		childp = stage2_create_unlinked(kvm, m2d_pte_pfn(kvm->fmt, old, iter.level),
						m2d_pte_prot(kvm->fmt, old, iter.level),
						iter.level - 1, force_pte);
		if (!childp)
			return -ENOMEM;
		/* stage2_try_break_pte (TLBI of the valid block) + stage2_make_pte */
		if (stage2_try_set_pte(kvm, &iter, m2d_pte_make_table(kvm->fmt, childp))) {
			stage2_free_unlinked(kvm, childp, iter.level - 1);
			return -EAGAIN;
		}
		kvm->mmu_pages += (uint64_t)nr_pages;
		m2d_count(M2D_CTR_huge_splits, 1);
	}
	return 0;
}

/*
 * need_split_memcache_topup_or_resched: drop the lock on need_resched (or
 * waiters, where rwlock_needbreak can report them), or when the split
 * cache holds less than one chunk's worth of tables.
 */
static bool need_split_memcache_topup_or_resched(struct m2d_vm *kvm, int min)
{
	if (m2d_need_resched() || (m2d_cost(M2D_COST_KVM_RWLOCK_NEEDBREAK) != 0.0 &&
				   rwlock_needbreak(&kvm->mmu_lock)))
		return true;
	return kvm->split_cache_nobjs < min;
}

/*
 * kvm_mmu_split_huge_pages: split the blocks mapping gfns [@start, @end)
 * chunk by chunk under the write lock; the split cache is topped up (to
 * one chunk's worth, __kvm_mmu_topup_memory_cache with GFP_KERNEL) with
 * the lock dropped.  Eager splitting is best-effort: the first failure
 * ends it.  A no-op when the VMM did not set a chunk size.
 */
void kvm_mmu_split_huge_pages(struct m2d_vm *kvm, uint64_t start, uint64_t end)
{
	uint64_t chunk = kvm_s2_split_chunk(kvm);
	int cache_capacity = kvm_mmu_split_nr_page_tables(chunk);
	uint64_t addr = start << M2D_PAGE_SHIFT, stop = end << M2D_PAGE_SHIFT, next;

	lockdep_assert_held_write(&kvm->mmu_lock);
	if (!chunk || addr >= stop)
		return;
	do {
		if (need_split_memcache_topup_or_resched(kvm, cache_capacity)) {
			write_unlock(&kvm->mmu_lock);
			m2d_sched_point(); /* cond_resched */
			if (kvm->split_cache_nobjs < cache_capacity) {
				m2d_delay(M2D_COST_KVM_MMU_PAGE_ALLOC,
					  (uint64_t)(cache_capacity - kvm->split_cache_nobjs));
				kvm->split_cache_nobjs = cache_capacity;
			}
			write_lock(&kvm->mmu_lock);
		}
		/* __stage2_range_addr_end */
		next = M2D_MIN(M2D_ALIGN_DOWN(addr, chunk) + chunk, stop);
		if (kvm_pgtable_stage2_split(kvm, addr, next - addr))
			break;
		addr = next;
	} while (addr != stop);
}

/* The level of the leaf mapping @ipa (the fault granule of a permission fault), or 0. */
static int stage2_leaf_level(struct m2d_vm *kvm, uint64_t ipa)
{
	struct m2d_pt_walk w;

	m2d_pt_walk(kvm->pt, ipa, &w);
	return w.present ? w.level : 0;
}

/*
 * get_vma_page_shift: the hugetlb page size, else PAGE_SHIFT (the huge
 * VM_PFNMAP case is not modelled).
 */
static int get_vma_page_shift(const struct m2d_kvm_vma_info *vma)
{
	if (vma->page_shift && !vma->pfnmap)
		return vma->page_shift;
	return M2D_PAGE_SHIFT;
}

int user_mem_abort(struct m2d_vcpu *vcpu, struct kvm_page_fault *fault)
{
	struct m2d_vm *kvm = vcpu->vm;
	struct m2d_memslot *memslot = fault->slot;
	const struct m2d_kvm_host_ops *ops = &kvm->ops;
	bool logging_active = kvm_slot_dirty_track_enabled(memslot);
	bool force_pte = logging_active, writable = false, use_read_lock;
	struct m2d_kvm_vma_info vma;
	uint64_t fault_ipa = fault->addr & ~(M2D_PAGE_SIZE - 1), ipa = fault_ipa;
	uint64_t hva = fault->hva, vma_pagesize, mmu_seq, pfn, gfn;
	unsigned prot;
	int vma_shift, ret;
	long npages;

	/* Top up the memcache unless this is a permission fault on a page. */
	if (!fault->present || (logging_active && fault->write)) {
		if (vcpu->mmu_cache_nobjs < 5) {
			m2d_delay(M2D_COST_KVM_MMU_PAGE_ALLOC, (uint64_t)(40 - vcpu->mmu_cache_nobjs));
			vcpu->mmu_cache_nobjs = 40;
		}
	}

	/*
	 * Let's check if we will get back a huge page backed by hugetlbfs, or
	 * get block mapping for device MMIO region.
	 */
	ops->mmap_read_lock(memslot->mm);
	if (ops->vma_lookup(memslot->mm, hva, &vma)) {
		ops->mmap_read_unlock(memslot->mm);
		vcpu->exit = (struct m2d_kvm_exit){ .reason = M2D_KVM_EXIT_EFAULT,
						    .gpa = fault_ipa, .size = M2D_PAGE_SIZE,
						    .write = fault->write };
		return -EFAULT;
	}
	vma_shift = force_pte ? M2D_PAGE_SHIFT : get_vma_page_shift(&vma);
	if (vma_shift == M2D_PUD_SHIFT &&
	    !fault_supports_stage2_huge_mapping(memslot, hva, M2D_PUD_SIZE))
		vma_shift = M2D_PMD_SHIFT;
	if (vma_shift == M2D_PMD_SHIFT &&
	    !fault_supports_stage2_huge_mapping(memslot, hva, M2D_PMD_SIZE)) {
		vma_shift = M2D_PAGE_SHIFT;
		force_pte = true;
	}
	vma_pagesize = 1ull << vma_shift;
	if (vma_pagesize == M2D_PMD_SIZE || vma_pagesize == M2D_PUD_SIZE)
		fault_ipa &= ~(vma_pagesize - 1);
	ipa = fault_ipa;
	gfn = ipa >> M2D_PAGE_SHIFT;
	/*
	 * Read mmu_invalidate_seq so that KVM can detect if the results of
	 * vma_lookup() or __kvm_faultin_pfn() become stale prior to acquiring
	 * kvm->mmu_lock.  Rely on mmap_read_unlock() for an implicit smp_rmb.
	 */
	mmu_seq = READ_ONCE(kvm->mmu_invalidate_seq);
	ops->mmap_read_unlock(memslot->mm);

	/* __kvm_faultin_pfn for @gfn (the block's first page when huge). */
	m2d_delay(M2D_COST_KVM_GUP_FAST, 1);
	hva = gfn_to_hva_memslot(memslot, gfn);
	if (ops->gup_fast(memslot->mm, hva, true, &pfn, &writable)) {
		writable = true;
	} else {
		npages = ops->gup_slow(memslot->mm, hva, fault->write, false, &pfn, &writable);
		if (npages != 1) {
			vcpu->exit = (struct m2d_kvm_exit){ .reason = M2D_KVM_EXIT_EFAULT,
							    .gpa = fault->addr,
							    .size = M2D_PAGE_SIZE,
							    .write = fault->write };
			return -EFAULT;
		}
		writable = writable || fault->write;
	}
	/* Only actually map the page as writable if this was a write fault. */
	if (logging_active && !fault->write)
		writable = false;

	/*
	 * 6.2+: every fault takes the read lock (kvm_fault_lock).  Before
	 * (cfg.s2_fault_write_lock), "to reduce MMU contentions and enhance
	 * concurrency during dirty logging, only acquire read lock for
	 * permission relaxation": use_read_lock = logging_active &&
	 * fault_status == FSC_PERM && write_fault && fault_granule == PAGE_SIZE.
	 */
	use_read_lock = !kvm->cfg.s2_fault_write_lock ||
			(logging_active && fault->present && fault->write &&
			 stage2_leaf_level(kvm, fault_ipa) == M2D_LEVEL_4K);
	if (use_read_lock)
		read_lock(&kvm->mmu_lock);
	else
		write_lock(&kvm->mmu_lock);
	if (mmu_invalidate_retry(kvm, mmu_seq)) {
		fault->retry = kvm->mmu_invalidate_in_progress ? RETRY_INVALIDATION : RETRY_RACE;
		ret = RET_PF_RETRY;
		goto out_unlock;
	}
	/*
	 * If we are not forced to use page mapping, check if we are backed by
	 * a THP and thus use block mapping if possible.
	 */
	if (vma_pagesize == M2D_PAGE_SIZE && !force_pte)
		vma_pagesize = transparent_hugepage_adjust(kvm, memslot, hva, &pfn, &ipa);
	else if (vma_pagesize > M2D_PAGE_SIZE)
		pfn &= ~((vma_pagesize >> M2D_PAGE_SHIFT) - 1);

	prot = M2D_PROT_R | M2D_PROT_X | M2D_PROT_A | M2D_PROT_WB;
	if (writable)
		prot |= M2D_PROT_W;
	/*
	 * Under the premise of getting a permission fault, we just need to
	 * relax permissions only if vma_pagesize equals fault_granule.
	 * Otherwise, kvm_pgtable_stage2_map() should be called to change
	 * block size.
	 */
	if (fault->present &&
	    stage2_leaf_level(kvm, fault_ipa) == size_to_level(vma_pagesize))
		ret = kvm_pgtable_stage2_relax_perms(kvm, fault_ipa, prot);
	else
		ret = kvm_pgtable_stage2_map(vcpu, ipa, size_to_level(vma_pagesize), pfn, prot);
	if (ret == -ENOENT) {
		/* The leaf went away since the fault: the guest re-executes. */
		fault->retry = RETRY_RACE;
		ret = RET_PF_RETRY;
	} else if (ret == -EAGAIN) {
		/* Someone else mapped it (or raced): the guest re-executes. */
		fault->retry = RETRY_RACE;
		ret = RET_PF_SPURIOUS;
	} else if (!ret) {
		ret = RET_PF_FIXED;
	}
	/* Mark the page dirty only if the fault is handled successfully (under mmu_lock). */
	if (writable && ret == RET_PF_FIXED)
		mark_page_dirty_in_slot(kvm, memslot, fault->gfn);
out_unlock:
	if (use_read_lock)
		read_unlock(&kvm->mmu_lock);
	else
		write_unlock(&kvm->mmu_lock);
	if (ops->put_page)
		ops->put_page(pfn);
	return ret;
}

/*
 * stage2_unmap_walker over [@start, @end) gfns (exclusive).
 * Return: number of leaves cleared.
 */
static uint64_t kvm_pgtable_stage2_unmap(struct m2d_vm *kvm, uint64_t start, uint64_t end)
{
	struct m2d_pt_iter iter;
	uint64_t zapped = 0, visited = 0, tables = kvm->mmu_pages;
	bool fwb = has_fwb(), defer = stage2_unmap_defer_tlb_flush();

	m2d_pt_for_each_pte(iter, kvm->pt, start << M2D_PAGE_SHIFT, end << M2D_PAGE_SHIFT) {
		m2d_delay(M2D_COST_KVM_TDP_ITER_STEP, 1);
		/* Let threads behind in virtual time run (the lock stays held). */
		if (!(++visited % M2D_PT_ENTRIES))
			m2d_sched_point();
		if (!m2d_pte_is_leaf(kvm->fmt, iter.old_pte, iter.level))
			continue;
		m2d_delay(M2D_COST_KVM_SPTE_WRITE, 1);
		m2d_pt_iter_set(&iter, 0);
		zapped++;
		/* stage2_unmap_put_pte: break-before-make unless deferred */
		if (!defer) /* __kvm_tlb_flush_vmid_ipa */
			kvm_stage2_tlbi(kvm, stage2_tlbi_cost(iter.level), 1);
		if (!fwb)
			stage2_cmo(kvm, iter.level);
	}
	/*
	 * Free the tables left empty (the walk's TABLE_POST visit): each one
	 * cleared is a kvm_tlb_flush_vmid_range of its range (a whole-VMID
	 * flush without FEAT_TLBIRANGE).
	 */
	m2d_pt_unmap_free_range(kvm->pt, start << M2D_PAGE_SHIFT, (end - start) << M2D_PAGE_SHIFT);
	kvm_stage2_tlbi(kvm, M2D_COST_KVM_S2_TLBI_VMID, tables - kvm->mmu_pages);
	/* kvm_pgtable_stage2_unmap: the deferred range TLBI, whatever was found */
	if (defer)
		kvm_stage2_tlbi(kvm, M2D_COST_KVM_S2_TLBI_VMID, 1);
	m2d_count(M2D_CTR_spte_zaps, zapped);
	return zapped;
}

/*
 * __unmap_stage2_range / stage2_apply_range: 1 GiB chunks
 * (kvm_granule_size(KVM_PGTABLE_MIN_BLOCK_LEVEL)) with
 * cond_resched_rwlock_write between them when @may_block.
 * Return: false (TLB maintenance was done per entry).
 */
bool kvm_stage2_unmap_range(struct m2d_vm *kvm, uint64_t start, uint64_t end, bool may_block)
{
	const uint64_t chunk = M2D_PUD_SIZE >> M2D_PAGE_SHIFT;

	lockdep_assert_held_write(&kvm->mmu_lock);
	while (start < end) {
		uint64_t next = M2D_MIN(M2D_ALIGN_DOWN(start, chunk) + chunk, end);

		kvm_pgtable_stage2_unmap(kvm, start, next);
		start = next;
		/*
		 * __cond_resched_rwlock_write: drop the lock on need_resched, or
		 * on waiters only if rwlock_needbreak() can report them (the
		 * kvm_rwlock_needbreak flag: preemptible host).
		 */
		if (may_block && start < end &&
		    (m2d_need_resched() || (m2d_cost(M2D_COST_KVM_RWLOCK_NEEDBREAK) != 0.0 &&
					    rwlock_needbreak(&kvm->mmu_lock))))
			(void)cond_resched_rwlock_write(&kvm->mmu_lock);
	}
	return false;
}

/*
 * kvm_free_stage2_pgd -> kvm_pgtable_stage2_destroy (stage2_free_walker):
 * what arm64's kvm_arch_flush_shadow_all does when the mm goes away or the
 * VM is destroyed.  Every entry is dropped and every table freed with no
 * TLB or cache maintenance (the VMID is not reused before a full flush).
 */
void kvm_free_stage2_pgd(struct m2d_vm *kvm)
{
	uint64_t end = m2d_pt_max_addr(kvm->pt);
	struct m2d_pt_iter iter;

	write_lock(&kvm->mmu_lock);
	m2d_pt_for_each_pte(iter, kvm->pt, 0, end) {
		m2d_delay(M2D_COST_KVM_TDP_ITER_STEP, 1);
		if (m2d_pte_is_leaf(kvm->fmt, iter.old_pte, iter.level))
			m2d_pt_iter_set(&iter, 0);
	}
	m2d_pt_unmap_free_range(kvm->pt, 0, end);
	write_unlock(&kvm->mmu_lock);
}
