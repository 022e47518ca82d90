/* SPDX-License-Identifier: MIT */
/*
 * mmu2d/kvm.h - a KVM virtual machine: memslots, the second-dimension MMU
 * (x86 TDP MMU, x86 legacy MMU, arm64 stage-2), the mmu_notifier
 * invalidation protocol, vCPUs that run guest code, memory attributes and
 * dirty logging.
 *
 *	struct m2d_vm_config cfg;
 *	struct m2d_vm *vm;
 *	m2d_vm_config_default(&cfg);
 *	cfg.mmu = M2D_KVM_MMU_TDP;
 *	m2d_vm_create(&vm, sim, &cfg, &host_ops);
 *	m2d_vm_set_memslot(vm, &slot);          // GPA range -> HVA (and/or gmem)
 *	m2d_vcpu_create(vm, 0, &vcpu);
 *	... from a simulated thread:
 *	m2d_vcpu_run(vcpu, guest_fn, arg, vmm_exit_fn, vmm_arg);
 *	... guest_fn calls m2d_vcpu_access(vcpu, gpa, M2D_ACCESS_WRITE) etc.
 *
 * The host side (process page tables, GUP, VMAs, guest_memfd) is reached
 * through struct m2d_kvm_host_ops, so a VM can be backed by the host mm
 * model or by research code:
 *
 *	struct m2d_kvm_host_ops ops = { 0 };
 *	m2d_kvm_host_ops_set_mm(&ops);           // lib/mm: slot .mm = struct m2d_mm *
 *	m2d_kvm_host_ops_set_gmem(&ops);         // lib/coco: slot .gmem = struct m2d_gmem_file *
 *	m2d_vm_create(&vm, sim, &cfg, &ops);
 *	m2d_vm_mmu_notifier_register(vm, mm);    // kvm_init_mmu_notifier
 *	m2d_gmem_file_create(gmem, vm, m2d_vm_gmem_kvm_ops(), &file);
 *
 * Another host calls m2d_vm_mmu_notifier_invalidate_range_start()/_end()
 * itself (KVM's mmu_notifier callbacks).
 *
 * Public calls may be made from a simulated thread of the VM's sim (the
 * time is charged to it) or from plain code (charged to the sim's outside
 * thread); guest accesses only inside m2d_vcpu_run().
 */
#ifndef M2D_KVM_H
#define M2D_KVM_H

#include <mmu2d/coco.h>
#include <mmu2d/ghcb.h>
#include <mmu2d/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct m2d_sim;
struct m2d_vm;
struct m2d_vcpu;

/* Which second-dimension MMU the VM uses. */
enum m2d_kvm_mmu {
	M2D_KVM_MMU_TDP = 0,      /* x86 TDP MMU (kvm.tdp_mmu=Y): read-locked faults */
	M2D_KVM_MMU_LEGACY = 1,   /* x86 legacy MMU (kvm.tdp_mmu=N): write-locked faults */
	M2D_KVM_MMU_ARM64_S2 = 2, /* arm64 stage-2 */
	M2D_KVM_MMU_SHADOW = 3,   /* x86 shadow paging (ept=N / npt=N): the guest's own page
	                             tables are shadowed (paging_tmpl.h), faults under the write
	                             lock; needs m2d_vm_set_guest_walker() */
	M2D_KVM_MMU_NR
};

/* x86 vendor: selects the SPTE format (EPT for Intel, x86-64/NPT for AMD). */
enum m2d_kvm_vendor {
	M2D_KVM_VENDOR_INTEL = 0,
	M2D_KVM_VENDOR_AMD = 1,
	M2D_KVM_VENDOR_NR
};

struct m2d_vm_config {
	enum m2d_kvm_mmu mmu;       /* default M2D_KVM_MMU_TDP */
	enum m2d_kvm_vendor vendor; /* default INTEL (ignored for arm64) */
	int max_level;              /* largest leaf level, 1..3; default 3 (1G) */
	bool eager_page_split;      /* kvm.eager_page_split; default true */
	bool pml;                   /* Intel PML for dirty logging; default true (Intel) */
	bool manual_protect;        /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2; default false */
	bool initially_all_set;     /* KVM_DIRTY_LOG_INITIALLY_SET; default false */
	bool fault_mmap_lock;       /* x86 faults also take mmap_read_lock + vma_lookup
	                               (kvm_host_page_size -> find_vma, kernels before 5.6: "KVM:
	                               x86/mmu: Rely on host page tables to find HugeTLB
	                               mappings" removed it); default false */
	bool recover_zap;           /* disabling dirty logging zaps collapsible SPTEs with one
	                               flush each (kernels before 6.13) instead of recovering
	                               huge pages in place; default false */
	bool fault_split_huge;      /* TDP MMU: a fault under a huge SPTE splits it in place
	                               (tdp_mmu_split_huge_page, 6.2+); false = kernels before
	                               6.2: zap it (tdp_mmu_zap_spte_atomic + flush) and link an
	                               empty table.  The legacy MMU always zaps
	                               (drop_large_spte).  Default true */
	bool legacy_eager_split;    /* legacy MMU: eager page splitting through the shadow MMU
	                               (kvm_shadow_mmu_try_split_huge_pages, the unmerged 2022
	                               "Extend Eager Page Splitting to the shadow MMU" series);
	                               upstream splits only TDP MMU SPTEs.  Default false */
	bool split_alloc_nowait;    /* TDP MMU eager split: try GFP_NOWAIT under mmu_lock before
	                               dropping it to allocate (tdp_mmu_alloc_sp_for_split,
	                               5.18 .. 6.9); false = 6.10+: always drop the lock and
	                               restart the walk.  Default false */
	bool s2_fault_write_lock;   /* arm64: user_mem_abort takes mmu_lock for write, except for
	                               a write permission fault on a 4K leaf while dirty logging
	                               (use_read_lock, 5.18 .. 6.1: before "KVM: arm64: Parallel
	                               stage-2 fault handling", 6.2).  Default false */
	bool s2_relax_tlbi_is;      /* arm64: kvm_pgtable_stage2_relax_perms invalidates with the
	                               broadcast __kvm_tlb_flush_vmid_ipa (kernels before "KVM:
	                               arm64: Use local TLBI on permission relaxation") instead of
	                               the local _nsh variant.  Default false */
	bool slot_zap_only;         /* x86: deleting a memslot zaps only its SPTEs
	                               (KVM_X86_QUIRK_SLOT_ZAP_ALL disabled by the VMM, 6.12+).
	                               Default false: the quirk's kvm_mmu_zap_all_fast, every SPTE
	                               of every memslot goes (all kernels since 5.3) */
	uint32_t s2_split_chunk_kib; /* arm64 eager split chunk (KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE),
	                               KiB: 2048 (2M) or 1048576 (1G); 0 = 2M.  Used when
	                               eager_page_split is set */
	uint8_t reserved[24];
};

M2D_API void m2d_vm_config_default(struct m2d_vm_config *cfg);

/*
 * Shadow paging (M2D_KVM_MMU_SHADOW): what FNAME(walk_addr) learns from the
 * guest's page tables, which live in guest memory (the library does not
 * own them; the guest model does).
 */
struct m2d_guest_walk {
	uint64_t gfn;            /* walker->gfn: the guest-physical page @gva maps to */
	int level;               /* guest leaf level (1 = 4K) */
	int root_level;          /* walker->max_level (4 for 4-level paging) */
	uint64_t table_gfn[5];   /* walker->table_gfn[level - 1]: the guest table read at level */
	unsigned ad_updates;     /* guest PTEs whose A (or D, on a write) bit this walk set
	                            (FNAME(update_accessed_dirty_bits): one cmpxchg each) */
	bool writable;           /* the guest mapping allows writes */
	bool dirty;              /* the guest leaf's dirty bit (after this walk's update) */
	bool accessed;           /* the guest leaf's accessed bit (after this walk's update) */
};

/*
 * Walk the guest's tables for @gva as the CPU would and, like
 * FNAME(update_accessed_dirty_bits), set the accessed bits on the way and
 * the dirty bit of the leaf when @write.  @peek: only report, set nothing.
 * Return: 0, or -EFAULT if @gva is not mapped (a guest #PF).
 */
typedef int (*m2d_guest_walk_fn)(void *priv, uint64_t gva, bool write, bool peek,
				 struct m2d_guest_walk *out);

/*
 * The guest page-table walker of a shadow-paging VM (its CR3 contents).
 * Return: 0, -EINVAL (NULL @kvm or @fn, or the VM does not use shadow paging).
 */
M2D_API int m2d_vm_set_guest_walker(struct m2d_vm *kvm, m2d_guest_walk_fn fn, void *priv);

/* What the host gives KVM for one HVA (vma_lookup under mmap_read_lock). */
struct m2d_kvm_vma_info {
	bool readable;        /* VM_READ */
	bool writable;        /* VM_WRITE */
	bool pfnmap;          /* VM_PFNMAP / VM_IO */
	int page_shift;       /* vma_kernel_pagesize: 12, 21 (hugetlb 2M), 30 (hugetlb 1G) */
};

/*
 * The host mm and guest_memfd as KVM sees them (one callback per kernel
 * function KVM calls; the lib/mm adapter maps them onto lib/mm/mm.h).
 * @mm / @gmem are the opaque handles given in struct m2d_memslot_desc.
 * Every callback runs in the calling simulated thread and charges its own
 * costs.  KVM's own logic (hva_to_pfn's fast/slow/vma order, retries) is
 * KVM's, in lib/kvm.
 */
struct m2d_kvm_host_ops {
	/*
	 * get_user_page_fast_only: lockless, never faults.  Return: true and
	 * *@pfn, *@writable if the host PTE is present (and writable when
	 * @write).
	 */
	bool (*gup_fast)(void *mm, uint64_t hva, bool write, uint64_t *pfn, bool *writable);
	/*
	 * get_user_pages_unlocked: takes mmap_read_lock, faults the page in.
	 * @nowait: FOLL_NOWAIT.  Return: 1 (*@pfn, *@writable), -EFAULT (no VMA,
	 * permission, PFNMAP), -EAGAIN (@nowait and a fault was needed),
	 * -ENOMEM.
	 */
	long (*gup_slow)(void *mm, uint64_t hva, bool write, bool nowait, uint64_t *pfn,
			 bool *writable);
	void (*mmap_read_lock)(void *mm);
	void (*mmap_read_unlock)(void *mm);
	/* vma_lookup (caller holds mmap_read_lock). Return: 0, -ENOENT (no VMA). */
	int (*vma_lookup)(void *mm, uint64_t hva, struct m2d_kvm_vma_info *out);
	/*
	 * follow_pfnmap (caller holds mmap_read_lock; VM_PFNMAP VMA).
	 * Return: 0 (*@pfn, *@writable, *@level), -EFAULT, -ENOMEM.  NULL if
	 * the host has no PFNMAP VMAs.
	 */
	int (*follow_pfnmap)(void *mm, uint64_t hva, bool write, uint64_t *pfn, bool *writable,
			     int *level);
	/*
	 * host_pfn_mapping_level's lockless walk of the host page tables for
	 * @hva.  Return: 3 (PUD leaf), 2 (PMD leaf) or 1.
	 */
	int (*host_mapping_level)(void *mm, uint64_t hva);
	/* kvm_release_pfn (put_page); may be NULL. */
	void (*put_page)(uint64_t pfn);
	/*
	 * kvm_gmem_get_pfn for @gfn of memslot @slot (the opaque slot pointer
	 * given to @gmem_bind).  Return: 0 with *@pfn and *@max_order (folio
	 * order usable for the mapping), or a negative errno (-EFAULT, -EIO,
	 * -EHWPOISON ...).  NULL if the host has no guest_memfd.
	 */
	int (*gmem_get_pfn)(void *gmem, void *slot, uint64_t gfn, uint64_t *pfn, int *max_order);
	/*
	 * kvm_gmem_bind / kvm_gmem_unbind at memslot creation / deletion:
	 * file pages [@offset / 4K, + @npages) back @slot from @base_gfn.
	 * May be NULL.  Return (bind): 0 or a negative errno.
	 */
	int (*gmem_bind)(void *gmem, void *slot, uint64_t base_gfn, uint64_t npages,
			 uint64_t offset);
	void (*gmem_unbind)(void *gmem, void *slot);
	/*
	 * kvm_x86_ops.private_max_mapping_level (SNP: the RMP level).  NULL =
	 * no limit.  Return: a level 1..3.
	 */
	int (*private_max_mapping_level)(void *gmem, uint64_t pfn);
};

/*
 * Fill @ops with lib/mm's host (lib/kvm/host_mm.c): a memslot's mm handle
 * is then a struct m2d_mm.  The guest_memfd callbacks are left alone.
 */
struct m2d_mm;
M2D_API void m2d_kvm_host_ops_set_mm(struct m2d_kvm_host_ops *ops);
/*
 * Fill @ops with a flat, idealized host for measuring KVM alone: every HVA
 * is mapped at 4K, writable, by frame HVA >> 12; host work costs nothing
 * and raises no mmu_notifier events.  The guest_memfd callbacks are left
 * alone.
 */
M2D_API void m2d_kvm_host_ops_set_flat(struct m2d_kvm_host_ops *ops);

/* ---- VM ------------------------------------------------------------------ */

/*
 * m2d_vm_create() - create a VM in @sim (the mmu root is allocated).
 * @ops: host callbacks; copied.
 * Return: 0, -EINVAL, -ENOMEM.  On success the caller owns *@out and frees
 * it with m2d_vm_destroy().
 */
M2D_API int m2d_vm_create(struct m2d_vm **out, struct m2d_sim *sim,
			  const struct m2d_vm_config *cfg,
			  const struct m2d_kvm_host_ops *ops);
/* Free the VM and its vCPUs (rcu_barrier first). Sets *@vm = NULL. NULL-safe. */
M2D_API void m2d_vm_destroy(struct m2d_vm **vm);

/* ---- memslots ------------------------------------------------------------- */

enum m2d_memslot_flags {
	M2D_MEM_LOG_DIRTY_PAGES = 1u << 0, /* KVM_MEM_LOG_DIRTY_PAGES */
	M2D_MEM_READONLY = 1u << 1,        /* KVM_MEM_READONLY */
	M2D_MEM_GUEST_MEMFD = 1u << 2,     /* KVM_MEM_GUEST_MEMFD */
};

struct m2d_memslot_desc {
	uint32_t id;            /* slot id (KVM_USER_MEM_SLOTS range), unique */
	uint32_t flags;         /* m2d_memslot_flags */
	uint64_t guest_phys;    /* GPA, page-aligned */
	uint64_t size;          /* bytes, page-aligned; 0 deletes the slot */
	uint64_t userspace_addr;/* HVA, page-aligned */
	void *mm;               /* host mm handle passed to the host ops */
	void *gmem;             /* guest_memfd handle (GUEST_MEMFD flag) */
	uint64_t gmem_offset;   /* bytes into the guest_memfd, page-aligned */
};

/*
 * m2d_vm_set_memslot() - KVM_SET_USER_MEMORY_REGION2: create, delete
 * (size 0) or change the flags (dirty logging) of a memslot.  Deleting a
 * slot zaps its SPTEs.  Takes slots_lock.
 * Return: 0, -EINVAL (misaligned, overlapping GPA range, bad flags),
 * -EEXIST (id in use with a different range), -ENOENT (delete unknown id),
 * -ENOMEM.
 */
M2D_API int m2d_vm_set_memslot(struct m2d_vm *vm, const struct m2d_memslot_desc *desc);

/* ---- mmu_notifier (called by the host mm) --------------------------------- */

/*
 * KVM's mmu_notifier invalidate_range_start/end for host virtual range
 * [@start, @end).  @may_block: the range is blockable (zaps may yield).
 */
M2D_API void m2d_vm_mmu_notifier_invalidate_range_start(struct m2d_vm *vm, uint64_t start,
							 uint64_t end, bool may_block);
M2D_API void m2d_vm_mmu_notifier_invalidate_range_end(struct m2d_vm *vm, uint64_t start,
						       uint64_t end);

/*
 * guest_memfd -> KVM callbacks (struct m2d_gmem_kvm_ops of <mmu2d/coco.h>;
 * @kvm is the struct m2d_vm, @slot the pointer given to gmem_bind), called
 * where virt/kvm/guest_memfd.c calls KVM:
 *   __kvm_gmem_invalidate_begin: invalidate_begin (KVM_MMU_LOCK +
 *     kvm_mmu_invalidate_begin) on the first bound slot, zap
 *     (kvm_mmu_unmap_gfn_range: range_add + zap) per slot, then
 *     invalidate_unlock (kvm_flush_remote_tlbs if @flush; KVM_MMU_UNLOCK);
 *   __kvm_gmem_invalidate_end: invalidate_end (lock, kvm_mmu_invalidate_end,
 *     unlock).
 */
M2D_API void m2d_vm_gmem_invalidate_begin(void *kvm);
M2D_API bool m2d_vm_gmem_zap(void *kvm, void *slot, m2d_gfn_t start, m2d_gfn_t end);
M2D_API void m2d_vm_gmem_invalidate_unlock(void *kvm, bool flush);
M2D_API void m2d_vm_gmem_invalidate_end(void *kvm);

/*
 * The callbacks above as the table guest_memfd takes
 * (m2d_gmem_file_create(gmem, vm, m2d_vm_gmem_kvm_ops(), &file)); its
 * arch_prepare is sev_gmem_prepare when the VM is an SNP guest.
 */
M2D_API const struct m2d_gmem_kvm_ops *m2d_vm_gmem_kvm_ops(void);
/*
 * Fill the guest_memfd callbacks of @ops with lib/coco's guest_memfd: the
 * memslot's gmem handle is then a struct m2d_gmem_file (kvm_gmem_get_pfn,
 * kvm_gmem_bind, kvm_gmem_unbind).
 */
M2D_API void m2d_kvm_host_ops_set_gmem(struct m2d_kvm_host_ops *ops);
/*
 * Make @vm an SEV-SNP guest (struct kvm_sev_info): private faults are
 * limited by the RMP level (sev_gmem_max_mapping_level) and guest_memfd
 * prepares pages with sev_gmem_prepare.  @sev must outlive the VM.
 */
M2D_API void m2d_vm_set_sev(struct m2d_vm *vm, struct m2d_sev_vm *sev);

/*
 * kvm_init_mmu_notifier: subscribe @vm to @mm's mmu_notifier (the VM's
 * memslots' HVAs live in @mm).  Unsubscribed when the VM is destroyed.
 * Return: 0, -EINVAL, -EBUSY (already registered).
 */
M2D_API int m2d_vm_mmu_notifier_register(struct m2d_vm *vm, struct m2d_mm *mm);

/* ---- memory attributes, dirty logging ------------------------------------- */

#define M2D_MEMORY_ATTRIBUTE_PRIVATE (1ull << 3) /* KVM_MEMORY_ATTRIBUTE_PRIVATE */

/*
 * KVM_SET_MEMORY_ATTRIBUTES for GPA range [@gpa, @gpa + @size).
 * Return: 0, -EINVAL (misaligned, unknown attribute bits), -ENOMEM.
 */
M2D_API int m2d_vm_set_memory_attributes(struct m2d_vm *vm, uint64_t gpa, uint64_t size,
					 uint64_t attrs);
/* Attributes of one gfn. */
M2D_API uint64_t m2d_vm_get_memory_attributes(struct m2d_vm *vm, uint64_t gfn);

/*
 * KVM_GET_DIRTY_LOG: copy slot @id's dirty bitmap (one bit per 4K page,
 * LSB first, 64-bit words) into @bitmap (at least (npages + 63) / 64 words),
 * and, without manual protect, clear it and write-protect the pages.
 * Return: 0, -ENOENT (no slot), -EINVAL (slot not dirty-logged).
 */
M2D_API int m2d_vm_get_dirty_log(struct m2d_vm *vm, uint32_t id, uint64_t *bitmap);
/*
 * KVM_CLEAR_DIRTY_LOG (manual protect): clear the bits set in @bitmap for
 * pages [@first_page, @first_page + @num_pages) of slot @id and
 * write-protect those pages.  @first_page must be a multiple of 64.
 * Return: 0, -ENOENT, -EINVAL.
 */
M2D_API int m2d_vm_clear_dirty_log(struct m2d_vm *vm, uint32_t id, uint64_t first_page,
				   uint64_t num_pages, const uint64_t *bitmap);

/* ---- vCPUs ---------------------------------------------------------------- */

/* Why KVM_RUN returned to userspace. */
enum m2d_kvm_exit_reason {
	M2D_KVM_EXIT_NONE = 0,
	M2D_KVM_EXIT_EFAULT = 1,       /* KVM_RUN returned -EFAULT (memory fault info filled) */
	M2D_KVM_EXIT_MEMORY_FAULT = 2, /* KVM_EXIT_MEMORY_FAULT (private/shared mismatch) */
	M2D_KVM_EXIT_HYPERCALL = 3,    /* KVM_EXIT_HYPERCALL (KVM_HC_MAP_GPA_RANGE) */
	M2D_KVM_EXIT_NR
};

struct m2d_kvm_exit {
	enum m2d_kvm_exit_reason reason;
	uint64_t gpa;        /* memory fault: faulting GPA; hypercall: arg0 */
	uint64_t size;       /* memory fault: bytes; hypercall: npages */
	uint64_t flags;      /* memory fault: M2D_MEMORY_ATTRIBUTE_PRIVATE if private; hypercall: attrs */
	bool write;          /* the access was a write */
};

/* What the VMM does after an exit (the selftest host loop's decision). */
enum m2d_kvm_exit_action {
	M2D_KVM_EXIT_RETRY = 0, /* re-enter; the guest re-executes the access */
	M2D_KVM_EXIT_SKIP = 1,  /* advance RIP/PC past the access, re-enter */
	M2D_KVM_EXIT_STOP = 2,  /* stop running this vCPU (KVM_RUN not called again) */
};

/* The VMM's exit handler, run on the vCPU thread (KVM_RUN has returned). */
typedef enum m2d_kvm_exit_action (*m2d_kvm_exit_fn)(struct m2d_vcpu *vcpu,
						    const struct m2d_kvm_exit *exit,
						    void *arg);
/* Guest code; runs in guest mode until it returns (a final exit). */
typedef void (*m2d_kvm_guest_fn)(struct m2d_vcpu *vcpu, void *arg);

/* Create vCPU @id. Return: 0, -EINVAL, -EEXIST, -ENOMEM. The VM owns it. */
M2D_API int m2d_vcpu_create(struct m2d_vm *vm, unsigned id, struct m2d_vcpu **out);

/*
 * m2d_vcpu_run() - from a simulated thread: KVM_RUN loop.  Enters guest
 * mode and calls @guest(@vcpu, @garg); exits to userspace are handed to
 * @vmm (NULL = stop on every exit).  Returns when the guest function
 * returns or the VMM stops.
 * Return: 0 (guest finished), or the errno of the exit the VMM stopped on
 * (-EFAULT, ...).
 */
M2D_API int m2d_vcpu_run(struct m2d_vcpu *vcpu, m2d_kvm_guest_fn guest, void *garg,
			 m2d_kvm_exit_fn vmm, void *vmm_arg);

/* Result of a guest access. */
enum m2d_guest_access {
	M2D_GUEST_ACCESS_DONE = 0,    /* the access retired */
	M2D_GUEST_ACCESS_SKIPPED = 1, /* the VMM skipped the instruction */
	M2D_GUEST_ACCESS_STOPPED = 2, /* the VMM stopped the vCPU: the guest must return */
};

/* Access flags of guest memory accesses. */
enum m2d_access_flags {
	M2D_ACCESS_WRITE = 1u << 0,   /* a store */
	M2D_ACCESS_EXEC = 1u << 1,    /* an instruction fetch */
	M2D_ACCESS_PRIVATE = 1u << 2, /* encrypted access (SNP C-bit / TDX shared bit clear) */
};

/*
 * m2d_vcpu_access() - guest code accesses one word at @gpa (@flags:
 * m2d_access_flags).  If the SPTE is present (and writable for a write)
 * the access retires at the guest-access cost; otherwise a VM exit and the
 * fault path, possibly exits to the VMM, until it retires.
 * Context: inside m2d_vcpu_run() on @vcpu.
 * Return: an m2d_guest_access, or -EINVAL (not in a vCPU run).
 */
M2D_API int m2d_vcpu_access(struct m2d_vcpu *vcpu, uint64_t gpa, unsigned flags);
/*
 * m2d_vcpu_access_range() - @n accesses at @gpa, @gpa + @stride, ...
 * (one word each).  Present SPTEs are checked with one table walk per leaf
 * table, not per access.  An access the VMM skips counts as done.
 * Return: as m2d_vcpu_access; STOPPED ends the loop early.
 */
M2D_API int m2d_vcpu_access_range(struct m2d_vcpu *vcpu, uint64_t gpa, uint64_t n,
				  uint64_t stride, unsigned flags);
/*
 * m2d_vcpu_npf_rmp() - an #NPF with the RMP bit raised by a guest
 * instruction other than a plain access (SEV-SNP: PVALIDATE at 4K on a 2M
 * RMP entry, @size_mismatch = PFERR_GUEST_SIZEM): VM exit,
 * sev_handle_rmp_fault (PSMASH + zap of 512 gfns), re-entry.  Plain
 * private accesses raise it themselves in m2d_vcpu_access().
 * Return: as m2d_vcpu_access.
 */
M2D_API int m2d_vcpu_npf_rmp(struct m2d_vcpu *vcpu, uint64_t gpa, bool size_mismatch);
/* Guest hypercall KVM_HC_MAP_GPA_RANGE (exits to the VMM). Return: as access. */
M2D_API int m2d_vcpu_map_gpa_range(struct m2d_vcpu *vcpu, uint64_t gpa, uint64_t npages,
				   uint64_t attrs);

/* ---- SEV-SNP page state change (arch/x86/kvm/svm/sev.c) ------------------- */

/* KVM_MAP_GPA_RANGE_* attribute bits of a KVM_HC_MAP_GPA_RANGE exit (args[2]). */
#define M2D_KVM_MAP_GPA_RANGE_PAGE_SZ_4K 0ull
#define M2D_KVM_MAP_GPA_RANGE_PAGE_SZ_2M 1ull
#define M2D_KVM_MAP_GPA_RANGE_ENCRYPTED (1ull << 4)
#define M2D_KVM_MAP_GPA_RANGE_DECRYPTED 0ull

/*
 * m2d_vcpu_vmgexit_psc() - the guest executes VMGEXIT(SVM_VMGEXIT_PSC)
 * with @desc in its GHCB: a VM exit, then snp_begin_psc(): entries from
 * cur_entry are merged into runs (same operation and page size,
 * contiguous gfns, untouched) and each run is one KVM_EXIT_HYPERCALL
 * (KVM_HC_MAP_GPA_RANGE: exit.gpa, exit.size = 4K pages, exit.flags =
 * M2D_KVM_MAP_GPA_RANGE_*) to the VMM; snp_complete_one_psc() marks the
 * run done and the next run follows, until every entry is done; then the
 * guest resumes.  PSMASH/UNSMASH entries complete without an exit.
 * Context: inside m2d_vcpu_run() on @vcpu.
 * Return: as m2d_vcpu_access (STOPPED if the VMM stopped the vCPU), or
 * -EINVAL (bad descriptor: the kernel returns GHCB_HV_RESP_MALFORMED_INPUT).
 */
M2D_API int m2d_vcpu_vmgexit_psc(struct m2d_vcpu *vcpu, struct m2d_psc_desc *desc);

/* ---- introspection --------------------------------------------------------- */

struct m2d_vm_stats {
	uint64_t pages[4];           /* present leaf SPTEs by level (1 = 4K, 2 = 2M, 3 = 1G) */
	uint64_t mmu_pages;          /* table pages (tdp_mmu_pages), root included */
	uint64_t mmu_invalidate_seq; /* kvm->mmu_invalidate_seq */
	uint64_t remote_tlb_flush_requests;
	uint64_t remote_tlb_flush;
};
M2D_API void m2d_vm_stats_get(const struct m2d_vm *vm, struct m2d_vm_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* M2D_KVM_H */
