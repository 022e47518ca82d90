/* SPDX-License-Identifier: MIT */
/*
 * lib/kvm/kvm.h - KVM internals: struct m2d_vm (struct kvm), memslots,
 * vCPUs, the invalidation protocol state and the MMU entry points shared
 * by kvm.c, memslot.c, mmu.c, tdp_mmu.c, stage2.c and vcpu.c.
 *
 * Field names follow struct kvm / struct kvm_memory_slot / struct
 * kvm_vcpu so that the model reads like virt/kvm and arch/x86/kvm.
 */
#ifndef M2D_LIB_KVM_KVM_H
#define M2D_LIB_KVM_KVM_H

#include <mmu2d/kvm.h>
#include <mmu2d/pt.h>

#include "core/kernel.h"
#include "mm/mm.h"

#define INVALID_GPA (~0ull)
#define KVM_NR_HUGE_LEVELS 2             /* lpage_info for 2M and 1G */
#define KVM_LPAGE_MIXED_FLAG (1u << 31)  /* mixed private/shared attributes */

/* Number of 4K pages mapped by one entry at @level. */
#define KVM_PAGES_PER_HPAGE(level) (1ull << (9 * ((level) - 1)))

/* arch/x86/include/asm/kvm_host.h: KVM_MMU_HASH_SHIFT, KVM_NUM_MMU_PAGES */
#define KVM_MMU_HASH_SHIFT 12
#define KVM_NUM_MMU_PAGES (1u << KVM_MMU_HASH_SHIFT)

/* kvm_page_table_hashfn: hash_64(gfn, KVM_MMU_HASH_SHIFT) (GOLDEN_RATIO_64). */
static inline unsigned kvm_page_table_hashfn(uint64_t gfn)
{
	return (unsigned)((gfn * 0x61C8864680B583EBull) >> (64 - KVM_MMU_HASH_SHIFT));
}

/* One 2M/1G-aligned region's large-page state (struct kvm_lpage_info). */
struct kvm_lpage_info {
	uint32_t disallow_lpage; /* count (write tracking / misalignment) | KVM_LPAGE_MIXED_FLAG */
};

/* struct kvm_memory_slot */
struct m2d_memslot {
	uint32_t id;
	uint32_t flags;               /* m2d_memslot_flags */
	uint64_t base_gfn;
	uint64_t npages;
	uint64_t userspace_addr;      /* HVA of base_gfn */
	void *mm;                     /* host mm handle */
	void *gmem;                   /* guest_memfd handle, GUEST_MEMFD slots */
	uint64_t gmem_pgoff;          /* page offset of base_gfn in the guest_memfd */
	struct kvm_lpage_info *lpage_info[KVM_NR_HUGE_LEVELS]; /* [level - 2] */
	uint64_t nr_lpage[KVM_NR_HUGE_LEVELS];                  /* entries in each */
	uint64_t *dirty_bitmap;       /* one bit per 4K page while dirty logging */
	/*
	 * Shadow paging only (slot->arch.rmap[0], gfn_track): the GVA + 1 of
	 * the 4K SPTE mapping each gfn (0: none; one alias per gfn, see
	 * paging_tmpl.c), and the KVM_PAGE_TRACK_WRITE count of each gfn (the
	 * guest page tables that are shadowed).
	 */
	uint64_t *shadow_rmap;
	uint16_t *gfn_track;
};

/*
 * The memslot set.  By GPA: sorted by base_gfn (binary search, as
 * search_memslots over the gfn tree).  By HVA: sorted by (userspace_addr,
 * id) with a running maximum of the end HVA, an augmented interval index
 * equivalent to the kernel's hva_tree for stabbing/overlap queries.
 */
struct m2d_memslots {
	struct m2d_memslot **by_gfn;
	struct m2d_memslot **by_hva;
	uint64_t *hva_max_end;        /* max(hva end) over by_hva[0..i] */
	unsigned nr;
	unsigned cap;
};

/* One run of GPA space with non-zero memory attributes, [start, end) in gfns. */
struct kvm_attr_range {
	uint64_t start, end, attrs;
};

/* KVM requests (kvm_make_request). */
#define KVM_REQ_TLB_FLUSH (1u << 0)

struct m2d_vcpu {
	struct m2d_vm *vm;
	unsigned id;
	struct m2d_thread *thread;     /* the thread in KVM_RUN (NULL outside) */
	unsigned requests;             /* KVM_REQ_* bits */
	bool mode_in_guest;            /* vcpu->mode == IN_GUEST_MODE */
	int mmu_cache_nobjs;           /* kvm_mmu_memory_cache objects available */
	struct m2d_memslot *last_used_slot;
	m2d_kvm_exit_fn vmm;
	void *vmm_arg;
	struct m2d_kvm_exit exit;      /* kvm_run exit info */
	bool in_run;                   /* inside m2d_vcpu_run */
	bool stopped;                  /* the VMM stopped the vCPU */
	int stop_err;                  /* errno of the exit it stopped on */
	unsigned pml_index;            /* PML buffer entries used (512 per buffer) */
};

/* struct kvm */
struct m2d_vm {
	struct m2d_sim *sim;
	struct m2d_vm_config cfg;
	struct m2d_kvm_host_ops ops;
	enum m2d_pt_format fmt;        /* EPT, X86_64 (NPT) or ARM64_S2 */

	struct m2d_mutex slots_lock;
	struct m2d_rwlock mmu_lock;
	struct m2d_spinlock mn_invalidate_lock;
	long mn_active_invalidate_count; /* under mn_invalidate_lock */
	/* kvm->mn_memslots_update_rcuwait: a memslot update waiting for count 0. */
	struct m2d_waitqueue mn_memslots_update_wq;

	/* Invalidation protocol (kvm_host.h); modified under mmu_lock write. */
	uint64_t mmu_invalidate_seq;
	long mmu_invalidate_in_progress;
	uint64_t mmu_invalidate_range_start; /* gfn, INVALID_GPA when empty */
	uint64_t mmu_invalidate_range_end;
	/* The guest's busy re-fault loop waits here (spin mode), see mmu.c. */
	struct m2d_waitqueue mmu_invalidate_wq;
	unsigned nr_retry_waiters;

	struct m2d_memslots slots;

	/* Memory attributes: sorted disjoint runs with attrs != 0. */
	struct kvm_attr_range *attrs;
	unsigned nr_attrs, attrs_cap;

	struct m2d_sev_vm *sev;        /* SEV-SNP state (kvm->arch.sev_info), or NULL */
	struct m2d_mmu_notifier mmu_notifier; /* kvm->mmu_notifier (host_mm.c) */
	struct m2d_mm *mmu_notifier_mm;       /* the mm it is registered on, or NULL */
	struct m2d_pt *pt;             /* the (single) root of the second dimension */
	uint64_t spte_w_mask;          /* raw writable bit of a leaf SPTE in this format */
	uint64_t spte_d_mask;          /* raw dirty bit (0: the format has none, arm64) */
	uint64_t pages[4];             /* kvm->stat.pages[level - 1] (pages_4k/2m/1g) */
	/* The cache line of kvm->stat.pages[]: every update is an atomic64_add. */
	struct m2d_cacheline stat_pages_line;
	/*
	 * Legacy MMU: kvm->arch.mmu_page_hash, as the number of shadow pages
	 * in each of the KVM_NUM_MMU_PAGES buckets (hashed by sp->gfn); NULL
	 * for the TDP MMU, whose pages are never hashed.
	 */
	uint32_t *mmu_page_hash;
	/* Shadow paging: the guest's page-table walker (m2d_vm_set_guest_walker). */
	m2d_guest_walk_fn guest_walk;
	void *guest_walk_priv;
	bool mmu_tearing_down;         /* kvm_mmu_uninit_vm: skip rmap upkeep */
	/*
	 * arm64: the host interconnect's DVM path, which serialises broadcast
	 * TLB maintenance (one VM per simulated host), and
	 * kvm->arch.mmu.split_page_cache (objects available) for eager
	 * splitting.
	 */
	struct m2d_serial s2_dvm;
	struct m2d_serial s2_membw;    /* the host's DRAM write path (CMO write-backs) */
	int split_cache_nobjs;
	uint64_t mmu_pages;            /* tdp_mmu_pages + root */
	uint64_t remote_tlb_flush_requests;
	uint64_t remote_tlb_flush;

	struct m2d_vcpu **vcpus;
	unsigned nr_vcpus, vcpus_cap;
};

/*
 * Public entry points may be called from plain code (setup, tests) or from
 * a simulated thread of the VM's sim.  Enter the engine only in the first
 * case, so that a thread's work is charged to the thread.
 */
static inline bool kvm_engine_enter(struct m2d_vm *kvm)
{
	if (m2d_current_sim() == kvm->sim)
		return false;
	m2d_engine_enter(kvm->sim);
	return true;
}
static inline void kvm_engine_leave(struct m2d_vm *kvm, bool entered)
{
	if (entered)
		m2d_engine_leave(kvm->sim);
}

/* ---- kvm.c: protocol ----------------------------------------------------- */

/* A gfn range handed to the arch unmap/attribute handlers (struct kvm_gfn_range). */
struct kvm_gfn_range {
	struct m2d_memslot *slot;
	uint64_t start, end;           /* gfns */
	uint64_t attrs;                /* for attribute handlers */
	bool may_block;
};

void kvm_mmu_invalidate_begin(struct m2d_vm *kvm);
void kvm_mmu_invalidate_range_add(struct m2d_vm *kvm, uint64_t start, uint64_t end);
void kvm_mmu_invalidate_end(struct m2d_vm *kvm);
void kvm_flush_remote_tlbs(struct m2d_vm *kvm);
void kvm_zap_gfn_range(struct m2d_vm *kvm, uint64_t gfn_start, uint64_t gfn_end);

/* Retry predicates (kvm_host.h). */
bool mmu_invalidate_retry(const struct m2d_vm *kvm, uint64_t mmu_seq);
bool mmu_invalidate_retry_gfn(const struct m2d_vm *kvm, uint64_t mmu_seq, uint64_t gfn);
bool mmu_invalidate_retry_gfn_unsafe(const struct m2d_vm *kvm, uint64_t mmu_seq,
				     uint64_t gfn);

bool kvm_mem_is_private(const struct m2d_vm *kvm, uint64_t gfn);
/* True if every gfn in [start, end) has exactly @attrs. */
bool kvm_range_has_memory_attributes(const struct m2d_vm *kvm, uint64_t start, uint64_t end,
				     uint64_t attrs);

/* host_mm.c: mmu_notifier_unregister at VM destruction. */
void kvm_mmu_notifier_unregister(struct m2d_vm *kvm);

/* ---- memslot.c ------------------------------------------------------------ */

int m2d_memslots_insert(struct m2d_memslots *s, struct m2d_memslot *slot);
void m2d_memslots_remove(struct m2d_memslots *s, struct m2d_memslot *slot);
void m2d_memslots_fini(struct m2d_memslots *s);
struct m2d_memslot *m2d_memslot_by_id(const struct m2d_memslots *s, uint32_t id);
/* search_memslots: the slot containing @gfn, or NULL. */
struct m2d_memslot *m2d_gfn_to_memslot(const struct m2d_memslots *s, uint64_t gfn);
/* kvm_vcpu_gfn_to_memslot with the vCPU's last_used_slot cache. */
struct m2d_memslot *kvm_vcpu_gfn_to_memslot(struct m2d_vcpu *vcpu, uint64_t gfn);

typedef bool (*m2d_memslot_visit_fn)(struct m2d_memslot *slot, uint64_t hva_start,
				     uint64_t hva_end, void *arg);
/*
 * Visit every slot whose HVA interval overlaps [@start, @end), in
 * (userspace_addr, id) order, with the clamped HVA range.  Stops when @fn
 * returns false.  Return: number of slots visited.
 */
unsigned m2d_memslots_for_each_hva_overlap(const struct m2d_memslots *s, uint64_t start,
					   uint64_t end, m2d_memslot_visit_fn fn, void *arg);

/* kvm_alloc_memslot_metadata: lpage_info with the alignment rules. */
int kvm_alloc_memslot_metadata(struct m2d_memslot *slot);
void kvm_free_memslot(struct m2d_memslot *slot);
struct kvm_lpage_info *lpage_info_slot(uint64_t gfn, const struct m2d_memslot *slot,
				       int level);
static inline uint64_t gfn_to_hva_memslot(const struct m2d_memslot *slot, uint64_t gfn)
{
	return slot->userspace_addr + ((gfn - slot->base_gfn) << M2D_PAGE_SHIFT);
}
static inline bool kvm_slot_dirty_track_enabled(const struct m2d_memslot *slot)
{
	return slot->flags & M2D_MEM_LOG_DIRTY_PAGES;
}
/*
 * Whether eager page splitting runs: kvm_mmu_slot_try_split_huge_pages and
 * kvm_mmu_try_split_huge_pages return early without the TDP MMU (`if
 * (!tdp_mmu_enabled) return;`); the legacy MMU splits only when replaying
 * the unmerged "Extend Eager Page Splitting to the shadow MMU" series
 * (legacy_eager_split).
 */
static inline bool kvm_eager_split_enabled(const struct m2d_vm *kvm)
{
	return kvm->cfg.eager_page_split &&
	       (kvm->cfg.mmu == M2D_KVM_MMU_TDP || kvm->cfg.legacy_eager_split);
}
/* tdp_enabled == false: the second dimension shadows the guest's page tables. */
static inline bool kvm_shadow_paging(const struct m2d_vm *kvm)
{
	return kvm->cfg.mmu == M2D_KVM_MMU_SHADOW;
}
/* kvm_memslots_have_rmaps && !tdp_mmu: the shadow MMU (legacy or shadow paging). */
static inline bool kvm_shadow_mmu(const struct m2d_vm *kvm)
{
	return kvm->cfg.mmu == M2D_KVM_MMU_LEGACY || kvm->cfg.mmu == M2D_KVM_MMU_SHADOW;
}
static inline bool kvm_slot_has_gmem(const struct m2d_memslot *slot)
{
	return slot->flags & M2D_MEM_GUEST_MEMFD;
}
void mark_page_dirty_in_slot(struct m2d_vm *kvm, struct m2d_memslot *slot, uint64_t gfn);

/* ---- mmu.c / tdp_mmu.c / stage2.c ---------------------------------------- */

enum ret_pf {
	RET_PF_CONTINUE = 0,
	RET_PF_RETRY,
	RET_PF_EMULATE,
	RET_PF_WRITE_PROTECTED,
	RET_PF_INVALID,
	RET_PF_FIXED,
	RET_PF_SPURIOUS,
};

/* Why a fault retried (for the busy-loop wait model). */
enum retry_cause {
	RETRY_NONE = 0,
	RETRY_INVALIDATION, /* an invalidation covering the fault is in progress */
	RETRY_RACE,         /* lost a cmpxchg or the sequence moved: re-fault now */
};

/* struct kvm_page_fault (the subset the model needs). */
struct kvm_page_fault {
	uint64_t addr;           /* GPA */
	uint64_t gfn;
	bool exec, write, present, is_private, prefetch;
	struct m2d_memslot *slot;
	int max_level, req_level, goal_level;
	uint64_t mmu_seq;
	uint64_t hva;
	uint64_t pfn;
	int pfn_err;             /* 0, or the error pfn (-EFAULT, -EHWPOISON, ...) */
	bool map_writable;
	bool map_wrprot;         /* shadow paging: map without write access (FNAME(protect_clean_gpte),
	                            or a write-tracked gfn: mmu_try_to_unsync_pages -> -EPERM) */
	enum retry_cause retry;
};

int kvm_mmu_init_vm(struct m2d_vm *kvm);
void kvm_mmu_uninit_vm(struct m2d_vm *kvm);
/*
 * kvm_mmu_page_fault: one EPT/NPT violation / stage-2 abort on @vcpu.
 * Return: RET_PF_* (>= 0), or -EFAULT / -EHWPOISON / M2D_KVM_EXIT_MEMORY_FAULT
 * style negative errors for exits to userspace (vcpu->exit filled).
 */
/* Fault flags beyond the public M2D_ACCESS_* bits. */
#define M2D_ACCESS_PRESENT (1u << 8) /* the SPTE was present (permission fault) */
#define M2D_ACCESS_RMP (1u << 9)     /* the hardware RMP check failed (SNP) */
/* #NPF error code bits of SEV-SNP (arch/x86/include/asm/kvm_host.h). */
#define PFERR_GUEST_RMP_MASK (1ull << 31)
#define PFERR_GUEST_ENC_MASK (1ull << 34)
#define PFERR_GUEST_SIZEM_MASK (1ull << 35)
/* sev_handle_rmp_fault for an #NPF with the RMP bit at @gpa (mmu.c). */
void kvm_handle_rmp_fault(struct m2d_vcpu *vcpu, uint64_t gpa, uint64_t error_code);
int kvm_mmu_page_fault(struct m2d_vcpu *vcpu, uint64_t gpa, unsigned flags,
		       enum retry_cause *cause);

bool kvm_unmap_gfn_range(struct m2d_vm *kvm, struct kvm_gfn_range *range);
void kvm_mmu_zap_memslot(struct m2d_vm *kvm, struct m2d_memslot *slot);

/* TDP MMU (x86, both tdp_mmu=Y and the write-locked legacy variant). */
int kvm_tdp_mmu_map(struct m2d_vcpu *vcpu, struct kvm_page_fault *fault, bool shared);
bool kvm_tdp_mmu_zap_leafs(struct m2d_vm *kvm, uint64_t start, uint64_t end, bool can_yield,
			   bool flush);
bool kvm_tdp_mmu_wrprot_range(struct m2d_vm *kvm, uint64_t start, uint64_t end, int min_level,
			      bool shared);
bool kvm_tdp_mmu_wrprot_slot(struct m2d_vm *kvm, struct m2d_memslot *slot, int min_level,
			     bool shared);
bool kvm_tdp_mmu_clear_dirty_slot(struct m2d_vm *kvm, struct m2d_memslot *slot, bool shared);
bool kvm_tdp_mmu_wrprot_gfns(struct m2d_vm *kvm, struct m2d_memslot *slot, uint64_t gfn_offset,
			     uint64_t mask);
void kvm_tdp_mmu_try_split_huge_pages(struct m2d_vm *kvm, struct m2d_memslot *slot,
				      uint64_t start, uint64_t end, int target_level, bool shared);
void kvm_mmu_recover_huge_pages(struct m2d_vm *kvm, struct m2d_memslot *slot);
/* SPTE helpers shared by mmu.c and tdp_mmu.c */
bool is_shadow_present_pte(const struct m2d_vm *kvm, uint64_t spte);
bool is_last_spte(const struct m2d_vm *kvm, uint64_t spte, int level);
int tdp_mmu_set_spte(struct m2d_vm *kvm, struct m2d_pt_iter *iter, uint64_t new_spte,
		     bool shared);
int tdp_mmu_zap_spte_atomic(struct m2d_vm *kvm, struct m2d_pt_iter *iter);
/* tdp_mmu_iter_cond_resched: Return: true if the thread yielded. */
bool tdp_mmu_iter_cond_resched(struct m2d_vm *kvm, struct m2d_pt_iter *iter, bool flush,
			       bool shared) M2D_MUST_CHECK;
/* Fast path: is the SPTE for @gpa present (and writable for @write)? */
bool kvm_tdp_mmu_spte_allows(struct m2d_vm *kvm, uint64_t gpa, bool write);
/* The change hook (handle_changed_spte). */
void handle_changed_spte(void *priv, uint64_t addr, uint64_t old_spte, uint64_t new_spte,
			 int level, bool shared);

/* Shadow paging (paging_tmpl.c). */
/* FNAME(walk_addr): sets fault->gfn.  Return: RET_PF_CONTINUE or -EFAULT (guest #PF). */
int paging64_walk_addr(struct m2d_vcpu *vcpu, struct kvm_page_fault *fault);
bool kvm_gfn_is_write_tracked(const struct m2d_memslot *slot, uint64_t gfn);
/* True if @gfn already has a shadow SPTE at another GVA (aliases are not modelled). */
bool shadow_rmap_is_alias(const struct m2d_memslot *slot, uint64_t gfn, uint64_t gva);
/* sp->gfn of the shadow page linked by the entry at @addr of @level (hash key). */
uint64_t kvm_mmu_sp_gfn(struct m2d_vm *kvm, uint64_t addr, int level);
/* account_shadowed for a new indirect shadow page of guest table @gfn. */
void account_shadowed(struct m2d_vm *kvm, uint64_t gfn);
void unaccount_shadowed(struct m2d_vm *kvm, uint64_t gfn);
/* FNAME(pte_prefetch) after a 4K shadow leaf was set (mmu_lock held for write). */
void paging64_pte_prefetch(struct m2d_vm *kvm, struct kvm_page_fault *fault);
/* mmu_set_spte of a prefetched 4K SPTE at @iter (tdp_mmu.c). */
void kvm_mmu_prefetch_spte(struct m2d_vm *kvm, struct m2d_pt_iter *iter, uint64_t gfn,
			   uint64_t pfn, bool writable);
/* FNAME(gpte_changed): re-read one guest PTE under mmu_lock. */
void paging64_gpte_changed(struct m2d_vm *kvm);
/* rmap upkeep for a shadow leaf at @gva: added at install, dropped when it goes away. */
void shadow_rmap_add(struct m2d_vm *kvm, struct m2d_memslot *slot, uint64_t gfn, uint64_t gva);
void shadow_rmap_changed(struct m2d_vm *kvm, uint64_t gva, uint64_t old_spte, uint64_t new_spte,
			 int level);
/*
 * The gfn-indexed operations through the rmaps (for_each_rmap_spte over
 * [@start, @end), or the gfns of *@mask): clear @bit on 4K leaves (write-protect or clean), or
 * zap them.  mmu_lock held for write.  Return: true if a flush is owed.
 */
bool shadow_rmap_clear_bit(struct m2d_vm *kvm, struct m2d_memslot *slot, uint64_t start,
			   uint64_t end, const uint64_t *mask, unsigned bit);
bool shadow_rmap_zap_range(struct m2d_vm *kvm, uint64_t start, uint64_t end);
int shadow_alloc_memslot_rmap(struct m2d_memslot *slot);
void shadow_free_memslot_rmap(struct m2d_memslot *slot);

/* arm64 stage-2 */
int user_mem_abort(struct m2d_vcpu *vcpu, struct kvm_page_fault *fault);
bool kvm_stage2_unmap_range(struct m2d_vm *kvm, uint64_t start, uint64_t end, bool may_block);
void kvm_stage2_tlbi(struct m2d_vm *kvm, enum m2d_cost id, uint64_t n);
void kvm_free_stage2_pgd(struct m2d_vm *kvm);
void kvm_mmu_split_huge_pages(struct m2d_vm *kvm, uint64_t start, uint64_t end);

/* Memory attributes (x86 hooks). */
void kvm_arch_post_set_memory_attributes(struct m2d_vm *kvm, struct kvm_gfn_range *range);

/* Dirty logging (dirty_log.c). */
/* walk_slot_rmaps: the shadow MMU's slot-wide rmap walk, levels [@start, @end] (dirty_log.c). */
void walk_slot_rmaps(struct m2d_vm *kvm, const struct m2d_memslot *slot, int start_level,
		     int end_level);
/* slot_handle_level_range: rmap heads of gfns [@start, @end] at each level (dirty_log.c). */
void slot_handle_level_range(struct m2d_vm *kvm, const struct m2d_memslot *slot, int start_level,
			     int end_level, uint64_t start, uint64_t end);
/* tdp_mmu_walk_start: charge one TDP MMU walk from a root (tdp_mmu.c). */
void tdp_mmu_walk_start(struct m2d_vm *kvm);
/* rmap_spte_update: the shadow MMU's mmu_spte_update of a leaf found through its rmap. */
void rmap_spte_update(struct m2d_vm *kvm, struct m2d_pt_iter *iter, uint64_t new_spte);
void kvm_mmu_slot_apply_flags(struct m2d_vm *kvm, struct m2d_memslot *slot, uint32_t old_flags,
			      uint32_t new_flags);

/* ---- vcpu.c: guest mode and exits to userspace (used by sev_psc.c) ------- */
/* vcpu_enter_guest: service requests, then guest mode. */
void vcpu_enter_guest(struct m2d_vcpu *vcpu);
void vcpu_exit_guest(struct m2d_vcpu *vcpu);
/* KVM_RUN returns to the VMM with vcpu->exit filled. Return: the VMM's action. */
enum m2d_kvm_exit_action vcpu_exit_to_user(struct m2d_vcpu *vcpu, int err);

#endif /* M2D_LIB_KVM_KVM_H */
