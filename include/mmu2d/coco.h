/* SPDX-License-Identifier: MIT */
/*
 * mmu2d/coco.h - confidential memory: the SEV-SNP RMP and guest_memfd.
 *
 * Policies and statistics that replayers and research code select and
 * read.  The model itself (lib/coco/rmp.h, lib/coco/sev.h,
 * lib/coco/gmem.h) mirrors arch/x86/virt/svm/sev.c,
 * arch/x86/kvm/svm/sev.c and virt/kvm/guest_memfd.c.
 */
#ifndef M2D_COCO_H
#define M2D_COCO_H

#include <mmu2d/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * How rmpupdate() treats the host direct map (MECHANISMS.md 2.4).  The
 * direct map's own variants (pre-split to 4K, cpa_lock removed, restore
 * 2M) are options of the direct-map model, selected where it is created.
 */
enum m2d_rmp_directmap {
	/* Do not touch the direct map (RMP-only experiments). */
	M2D_RMP_DIRECTMAP_NONE = 0,
	/* (a) SNP host v1 (Dec 2023): set_direct_map_invalid_noflush on each
	 * 4K page before an assigning RMPUPDATE, set_direct_map_default_noflush
	 * on each after an unassigning one. */
	M2D_RMP_DIRECTMAP_INVALIDATE = 1,
	/* (b) merged ~6.11: adjust_direct_map(): set_memory_4k only for 4K
	 * RMP updates inside a 2M/1G direct-map entry; never restores. */
	M2D_RMP_DIRECTMAP_SPLIT_ONLY = 2,
	/* (c) one set_direct_map_valid_noflush(pfn, nr, valid) per update
	 * (the guest_memfd direct-map-removal series). */
	M2D_RMP_DIRECTMAP_NR_PAGES = 3,
	M2D_RMP_DIRECTMAP_NR
};

struct m2d_rmp_config {
	uint64_t max_pfn;                /* host pfns covered; 2M-aligned; no default */
	enum m2d_rmp_directmap directmap;/* default M2D_RMP_DIRECTMAP_SPLIT_ONLY */
	unsigned violation_log;          /* violations kept with addresses; default 64 */
	uint8_t reserved[32];
};

M2D_API void m2d_rmp_config_default(struct m2d_rmp_config *cfg);

/* What PVALIDATE reported to the guest. */
enum m2d_pvalidate_result {
	M2D_PVALIDATE_OK = 0,              /* Validated changed */
	M2D_PVALIDATE_NOUPDATE,            /* PVALIDATE_FAIL_NOUPDATE: already in that state */
	M2D_PVALIDATE_SIZEMISMATCH,        /* 2M request on 4K RMP entries */
	M2D_PVALIDATE_NPF_RMP,             /* #NPF (RMP): page not assigned to this guest/gpa */
	M2D_PVALIDATE_NPF_RMP_SIZEM,       /* #NPF (RMP, SIZEM): 4K request on a 2M RMP entry */
	M2D_PVALIDATE_RESULT_NR
};

/* One RMP violation raised by a host write. */
struct m2d_rmp_violation {
	m2d_vtime_t when;          /* virtual time of the write, ns */
	m2d_pfn_t pfn;             /* the page written */
	m2d_pfn_t assigned_pfn;    /* an assigned page covered by the write's mapping */
	int level;                 /* level of the mapping used for the write */
	int cpu;                   /* host CPU that wrote */
};

struct m2d_rmp_stats {
	uint64_t rmpupdates;            /* RMPUPDATE instructions that succeeded */
	uint64_t rmpupdate_overlaps;    /* FAIL_OVERLAP returns (retried) */
	uint64_t psmash;                /* successful PSMASHes (2M entries smashed) */
	uint64_t entry_reads;           /* RMP entry reads by lookups */
	uint64_t pvalidates;            /* PVALIDATE executions */
	uint64_t violations;            /* RMP violations by host writes */
	uint64_t assigned_2m;           /* 2M entries currently assigned */
	uint64_t assigned_4k;           /* 4K entries currently assigned */
	uint64_t smashed_regions;       /* 2M regions with 4K-entry storage now */
	uint64_t meta_bytes;            /* simulator memory of the RMP model */
};

/* Folio orders guest_memfd allocates. */
enum m2d_gmem_folio {
	M2D_GMEM_FOLIO_4K = 0,   /* upstream: order 0 only */
	M2D_GMEM_FOLIO_2M = 1,   /* hugepage trees: order 9, fallback to 0 */
	M2D_GMEM_FOLIO_NR
};

/* What a hole punch does to a partially covered 2M folio. */
enum m2d_gmem_punch {
	M2D_GMEM_PUNCH_ALLOW = 0,    /* split the folio, free the covered pages */
	M2D_GMEM_PUNCH_NO_SUB_2M,    /* refuse (-EINVAL) punches not 2M-aligned */
	M2D_GMEM_PUNCH_ZERO_ONLY,    /* hugetlb-like: zero the range, keep the folio */
	M2D_GMEM_PUNCH_NR
};

struct m2d_gmem_config {
	uint64_t size;                /* file size, bytes; 4K-aligned, > 0; no default */
	enum m2d_gmem_folio folio;    /* default M2D_GMEM_FOLIO_2M */
	enum m2d_gmem_punch punch;    /* default M2D_GMEM_PUNCH_ALLOW */
	uint8_t reserved[32];
};

M2D_API void m2d_gmem_config_default(struct m2d_gmem_config *cfg);

struct m2d_gmem_stats {
	uint64_t size;                /* file size, bytes */
	uint64_t folios_2m;           /* 2M folios present */
	uint64_t folios_4k;           /* order-0 folios present */
	uint64_t file_huge_bytes;     /* FileHugePages: bytes in 2M folios */
	uint64_t private_bytes;       /* bytes of present folios assigned in the RMP */
	uint64_t private_2m_bytes;    /* of those: in 2M folios with a 2M RMP entry
				       * (still mappable at 2M) */
	uint64_t prepared_bytes;      /* bytes marked prepared */
	uint64_t huge_allocs;         /* 2M folio allocations, cumulative */
	uint64_t huge_fallbacks;      /* 2M attempts that fell back to order 0 */
	uint64_t splits;              /* 2M folios split by punches */
	uint64_t leaked_pages;        /* pages the RMP could not return (snp_leak_pages) */
	m2d_vtime_t first_huge_alloc; /* virtual time of the first 2M allocation */
	m2d_vtime_t last_huge_alloc;  /* ... and of the latest */
	uint64_t meta_bytes;          /* simulator memory of the gmem model */
};

/* ---- the RMP (lib/coco/rmp.c) --------------------------------------------- */

struct m2d_rmp;

/*
 * The direct map as the RMP code needs it (MECHANISMS.md 2.4).  The CPA
 * model in lib/mm implements these; every call must behave as the kernel
 * function named in its comment (locks, splits, flushes, counters).
 * Returns are 0 or -errno.
 */
struct m2d_rmp_directmap_ops {
	/* lookup_address(pfn_to_kaddr(pfn), &level): M2D_LEVEL_4K/2M/1G, or
	 * M2D_LEVEL_NONE if the pfn is not mapped. */
	int (*level)(void *dm, m2d_pfn_t pfn);
	/* Is the direct-map entry of @pfn present? */
	bool (*is_present)(void *dm, m2d_pfn_t pfn);
	/* set_direct_map_invalid_noflush(pfn_to_page(pfn)) */
	int (*set_invalid_noflush)(void *dm, m2d_pfn_t pfn);
	/* set_direct_map_default_noflush(pfn_to_page(pfn)) */
	int (*set_default_noflush)(void *dm, m2d_pfn_t pfn);
	/* set_direct_map_valid_noflush(pfn_to_page(pfn), nr, valid) */
	int (*set_valid_noflush)(void *dm, m2d_pfn_t pfn, unsigned nr, bool valid);
	/* set_memory_4k(pfn_to_kaddr(pfn), npages) */
	int (*set_memory_4k)(void *dm, m2d_pfn_t pfn, unsigned npages);
};

/*
 * m2d_rmp_create() - an RMP covering host pfns [0, @cfg->max_pfn).
 * @dm_ops/@dm: the host direct map (may be NULL: no direct map modelled;
 * then only M2D_RMP_DIRECTMAP_NONE is valid and host-write checks see
 * every write as a 4K write).
 * Return: 0, -EINVAL (max_pfn 0 or not 2M-aligned, bad policy), -ENOMEM.
 */
M2D_API int m2d_rmp_create(struct m2d_rmp **out, const struct m2d_rmp_config *cfg,
		   const struct m2d_rmp_directmap_ops *dm_ops, void *dm);
/* Free; NULL-safe; sets *@rmp to NULL. */
M2D_API void m2d_rmp_destroy(struct m2d_rmp **rmp);

struct m2d_host;

/*
 * m2d_coco_host_rmp_create() - the RMP of a lib/mm host (mmu2d/physmem.h),
 * covering all its memory and hung off it (m2d_host_destroy frees it);
 * rmpupdate() calls the host's direct map per @policy.  The direct map's
 * own variants are host options: directmap_max_level and
 * directmap_presplit_4k at m2d_host_create, cpa_lock and restore_2m there
 * or with m2d_directmap_set_policy().  Call inside the engine.
 * Return: 0, -EINVAL (NULL, the host already has an RMP, bad policy),
 * -ENOMEM.
 */
M2D_API int m2d_coco_host_rmp_create(struct m2d_host *host, enum m2d_rmp_directmap policy,
				     struct m2d_rmp **out);

/*
 * snp_lookup_rmpentry() - 2 RMP entry reads: @pfn's own entry and its
 * 2M-aligned entry; *@level is the authoritative page size.
 * Return: 0, -EFAULT (pfn beyond the RMP).
 */
M2D_API int m2d_snp_lookup_rmpentry(struct m2d_rmp *rmp, m2d_pfn_t pfn, bool *assigned, int *level);

/*
 * rmp_make_private() / rmp_make_shared() - rmpupdate() with the direct-map
 * policy applied (MECHANISMS.md 2.4), RMPUPDATE retried while it returns
 * FAIL_OVERLAP.  @level is M2D_LEVEL_4K or M2D_LEVEL_2M (then @pfn must be
 * 2M-aligned).
 * Return: 0, -EINVAL (bad level/alignment/range), -EFAULT (RMPUPDATE
 * failed for another reason, as the kernel).
 */
M2D_API int m2d_rmp_make_private(struct m2d_rmp *rmp, m2d_pfn_t pfn, uint64_t gpa, int level,
			 uint32_t asid, bool immutable);
M2D_API int m2d_rmp_make_shared(struct m2d_rmp *rmp, m2d_pfn_t pfn, int level);

/*
 * psmash() - split the 2M entry at ALIGN_DOWN(@pfn, 512) into 512 4K
 * entries, preserving Validated.
 * Return: 0, -EINVAL (pfn beyond the RMP), or a positive PSMASH failure
 * code as the instruction does: 1 (FAIL_INPUT: not an assigned 2M entry,
 * or @pfn not 2M-aligned), 3 (FAIL_INUSE: another CPU's RMPUPDATE/PSMASH
 * of the range is in flight).
 */
M2D_API int m2d_psmash(struct m2d_rmp *rmp, m2d_pfn_t pfn);

/*
 * PVALIDATE executed by the guest with ASID @asid on the page at @gpa
 * backed by host @pfn, at @level, setting Validated to @validate.
 * Never an error: the outcome is what the instruction reports.
 */
M2D_API enum m2d_pvalidate_result m2d_rmp_pvalidate(struct m2d_rmp *rmp, m2d_pfn_t pfn, uint64_t gpa,
					    int level, uint32_t asid, bool validate);

/*
 * The CPU's RMP check on a host write to @pfn through a mapping of @level
 * (M2D_LEVEL_4K/2M/1G): a violation if @pfn is assigned, or if the mapping
 * is 2M or larger and any 4K page of the 2M region containing @pfn is
 * assigned (1G mappings are checked as 2M).  A violation is counted
 * (rmp_violations) and logged with the offending addresses; it is a
 * result, not an error.
 * Return: true if the write raised an RMP violation.
 */
M2D_API bool m2d_rmp_host_write(struct m2d_rmp *rmp, m2d_pfn_t pfn, int level);
/* The same, through the kernel direct map (its current level for @pfn).
 * A write to a non-present direct-map entry is a kernel #PF, not an RMP
 * check: it is counted as directmap_np_writes and returns false. */
M2D_API bool m2d_rmp_host_write_directmap(struct m2d_rmp *rmp, m2d_pfn_t pfn);

/*
 * Would a host write through a mapping of @level at @pfn violate the RMP?
 * (the predicate of m2d_rmp_host_write, without counting).
 */
M2D_API bool m2d_rmp_write_would_fault(const struct m2d_rmp *rmp, m2d_pfn_t pfn, int level);

/* Statistics and the violation log. */
M2D_API void m2d_rmp_stats_get(const struct m2d_rmp *rmp, struct m2d_rmp_stats *out);
/* Copy up to @n logged violations (oldest first). Return: number copied. */
M2D_API unsigned m2d_rmp_violations_get(const struct m2d_rmp *rmp, struct m2d_rmp_violation *out,
				unsigned n);
/* The policy in use. */
M2D_API enum m2d_rmp_directmap m2d_rmp_directmap_policy(const struct m2d_rmp *rmp);
/* The direct map hooked to this RMP (NULL if none). */
M2D_API const struct m2d_rmp_directmap_ops *m2d_rmp_directmap(const struct m2d_rmp *rmp, void **dm);

/* ---- KVM's SNP hooks (lib/coco/sev.c) ------------------------------------- */

/* The SNP part of struct kvm_sev_info. */
struct m2d_sev_vm {
	struct m2d_rmp *rmp;   /* the host RMP */
	uint32_t asid;         /* the guest's ASID */
	bool snp;              /* sev_snp_guest(kvm) */
};

/*
 * sev_gmem_prepare() - make @pfn (backing @gfn, in a folio of @max_order)
 * private: nothing if already assigned (2 RMP reads); a 2M RMP entry if
 * max_order >= 9 and all 512 entries of the 2M range are shared
 * (is_large_rmp_possible: 512 lookups = 1024 reads), else 4K.
 * Return: 0, -ENOENT (lookup failed), -EINVAL (RMPUPDATE failed).
 */
M2D_API int m2d_sev_gmem_prepare(struct m2d_sev_vm *sev, m2d_pfn_t pfn, m2d_gfn_t gfn, int max_order);

/*
 * sev_gmem_invalidate() - return [@start, @end) to the host: per assigned
 * pfn (or 2M entry wholly inside the range) RMPUPDATE to shared, PSMASH
 * first when only part of a 2M entry is freed, then CLFLUSH the range.
 * Pages whose RMP state can't be restored are leaked (snp_leak_pages).
 * Return: the number of pages leaked (0 normally).
 */
M2D_API uint64_t m2d_sev_gmem_invalidate(struct m2d_rmp *rmp, m2d_pfn_t start, m2d_pfn_t end);

/*
 * sev_gmem_max_mapping_level() - the RMP's limit on a private mapping of
 * @pfn: 0 if not an SNP guest, M2D_LEVEL_4K if unassigned or the lookup
 * fails, else the RMP level.
 */
M2D_API int m2d_sev_gmem_max_mapping_level(struct m2d_sev_vm *sev, m2d_pfn_t pfn);

/* What sev_handle_rmp_fault() decided; KVM carries out the zap. */
struct m2d_sev_rmp_fault {
	bool psmashed;          /* a 2M RMP entry was smashed */
	bool zap;               /* KVM must kvm_zap_gfn_range(zap_start, zap_end) */
	m2d_gfn_t zap_start;    /* the faulting gfn (as the kernel: not aligned) */
	m2d_gfn_t zap_end;      /* zap_start + 512 */
	int rmp_level;          /* RMP level found at the fault */
};

/*
 * sev_handle_rmp_fault() - #NPF with the RMP bit at @gfn, whose private
 * backing (from kvm_gmem_get_pfn, done by the caller) is @pfn.  If the RMP
 * entry is 2M: PSMASH (re-lookup on failure) and ask for a zap of 512
 * gfns.  Spurious faults (already 4K, unassigned) ask for nothing.
 * Return: 0, or the lookup's error (then nothing was done).
 */
M2D_API int m2d_sev_handle_rmp_fault(struct m2d_sev_vm *sev, m2d_gfn_t gfn, m2d_pfn_t pfn,
			     uint64_t error_code, struct m2d_sev_rmp_fault *out);

/* snp_rmptable_psmash(): PSMASH the 2M entry containing @pfn.
 * Return: 0, -EINVAL, or the PSMASH failure code. */
M2D_API int m2d_snp_rmptable_psmash(struct m2d_rmp *rmp, m2d_pfn_t pfn);

/* ---- guest_memfd (lib/coco/gmem.c) ---------------------------------------- */

struct m2d_gmem;
struct m2d_gmem_file;

/* fallocate() mode bits (FALLOC_FL_*). */
#define M2D_GMEM_FALLOC_KEEP_SIZE 0x01
#define M2D_GMEM_FALLOC_PUNCH_HOLE 0x02

/*
 * Host physical memory as guest_memfd needs it (lib/mm physmem:
 * m2d_folio_alloc / m2d_folio_put / m2d_folio_split).  Each charges its
 * own cost.
 */
struct m2d_gmem_folio_ops {
	/* Allocate a folio of 2^@order pages. Return: 0 (*@pfn = first page), -ENOMEM. */
	int (*alloc)(void *pm, unsigned order, m2d_pfn_t *pfn);
	/* Free the folio of 2^@order pages at @pfn (folio_put of the last reference). */
	void (*free)(void *pm, m2d_pfn_t pfn, unsigned order);
	/* split_folio() to order 0. Return: 0, -EBUSY, -ENOMEM. */
	int (*split)(void *pm, m2d_pfn_t pfn, unsigned order);
};

/* Callbacks into one VM's KVM (see the header comment). */
struct m2d_gmem_kvm_ops {
	void (*invalidate_begin)(void *kvm);
	/* Return: true if a remote TLB flush is needed. */
	bool (*zap)(void *kvm, void *slot, m2d_gfn_t start, m2d_gfn_t end);
	void (*invalidate_unlock)(void *kvm, bool flush);
	void (*invalidate_end)(void *kvm);
	/* NULL: the VM needs no preparation (not SNP). Return: 0 or -errno. */
	int (*arch_prepare)(void *kvm, m2d_gfn_t gfn, m2d_pfn_t pfn, int max_order);
};

/*
 * Folio ops over a lib/mm host (include/mmu2d/physmem.h): m2d_folio_alloc
 * on the node of the allocating CPU (the default mempolicy), m2d_folio_put,
 * m2d_folio_split.  Pass the struct m2d_host * as @pm of m2d_gmem_create().
 */
M2D_API extern const struct m2d_gmem_folio_ops m2d_gmem_host_folio_ops;

/*
 * m2d_gmem_create() - kvm_gmem_create(): a guest_memfd inode of
 * @cfg->size bytes.  @rmp: the host RMP for kvm_arch_gmem_invalidate on
 * folio free (NULL: non-SNP host).  Must be called inside the engine.
 * Return: 0, -EINVAL (size 0 or not 4K-aligned, bad policy), -ENOMEM.
 */
M2D_API int m2d_gmem_create(struct m2d_gmem **out, const struct m2d_gmem_config *cfg,
		    const struct m2d_gmem_folio_ops *fops, void *pm, struct m2d_rmp *rmp);
/* Truncate everything (freeing folios through the arch invalidate) and
 * free.  Every file must have been released.  NULL-safe. */
M2D_API void m2d_gmem_destroy(struct m2d_gmem **gmem);

/*
 * m2d_gmem_file_create() - a VM's view (__kvm_gmem_create's gmem_file).
 * Return: 0, -EINVAL, -ENOMEM.
 */
M2D_API int m2d_gmem_file_create(struct m2d_gmem *gmem, void *kvm, const struct m2d_gmem_kvm_ops *ops,
			 struct m2d_gmem_file **out);
/* kvm_gmem_release(): the caller holds KVM's slots_lock.  Zaps all
 * SPTEs through the file's bindings and drops them.  NULL-safe. */
M2D_API void m2d_gmem_file_release(struct m2d_gmem_file **f);

/* The @kvm handle the file was created with (for KVM-side glue keyed by file). */
M2D_API void *m2d_gmem_file_kvm(const struct m2d_gmem_file *f);

/*
 * m2d_gmem_bind() - kvm_gmem_bind(): file pages [@offset/4K, +@npages)
 * back memslot @slot starting at @base_gfn.
 * Return: 0, -EINVAL (offset negative/unaligned, beyond the file, @npages
 * 0, or overlapping an existing binding - the kernel's codes), -ENOMEM.
 */
M2D_API int m2d_gmem_bind(struct m2d_gmem_file *f, void *slot, m2d_gfn_t base_gfn, uint64_t npages,
		  int64_t offset);
/* kvm_gmem_unbind(). */
M2D_API void m2d_gmem_unbind(struct m2d_gmem_file *f, void *slot);

/*
 * m2d_gmem_get_pfn() - kvm_gmem_get_pfn() for @gfn of memslot @slot:
 * invalidate lock (shared), folio lookup or allocation (2M with fallback),
 * zeroing of each unprepared 4K page of the 2^max_order range, one
 * arch_prepare for the range, preparedness bits set.  *@max_order: 9 if
 * the 2M folio is fully inside the binding, else 0.
 * Return: 0, -EFAULT (slot not bound to this file / released), -EIO (gfn
 * not bound to @slot), -ENOMEM, or arch_prepare's error.
 */
M2D_API int m2d_gmem_get_pfn(struct m2d_gmem_file *f, void *slot, m2d_gfn_t gfn, m2d_pfn_t *pfn,
		     int *max_order);

/*
 * m2d_gmem_get_pfn_pgoff() - the same for file page @pgoff, through the
 * memslot bound there (for callers that index by file offset, as
 * kvm_gmem_get_pfn's index = gfn - base_gfn + pgoff).
 * Return: as m2d_gmem_get_pfn; -EIO if no memslot is bound at @pgoff.
 */
M2D_API int m2d_gmem_get_pfn_pgoff(struct m2d_gmem_file *f, uint64_t pgoff, m2d_pfn_t *pfn,
				   int *max_order);

/*
 * m2d_gmem_fallocate() - kvm_gmem_fallocate() (+ vfs_fallocate's checks).
 * KEEP_SIZE: preallocate folios (no zeroing, no prepare);
 * KEEP_SIZE|PUNCH_HOLE: punch per the inode's policy.
 * Return: 0, -EOPNOTSUPP (mode), -EINVAL (offset < 0, len <= 0, unaligned,
 * allocation beyond the file, no-sub-2m policy refusing), -EFBIG
 * (offset + len overflows), -ENOMEM.  On error the state is unchanged.
 */
M2D_API int m2d_gmem_fallocate(struct m2d_gmem *gmem, int mode, int64_t offset, int64_t len);

/* Statistics (scans the inode: O(size / 2M + order-0 folios)). */
M2D_API void m2d_gmem_stats_get(const struct m2d_gmem *gmem, struct m2d_gmem_stats *out);

/*
 * The folio holding file page @index: Return true with *@pfn (of the page
 * at @index) and *@order, or false if absent.  No cost charged.
 */
M2D_API bool m2d_gmem_folio_lookup(const struct m2d_gmem *gmem, uint64_t index, m2d_pfn_t *pfn,
			   unsigned *order);
/* Is file page @index marked prepared? */
M2D_API bool m2d_gmem_is_prepared(const struct m2d_gmem *gmem, uint64_t index);
/* File size in 4K pages. */
M2D_API uint64_t m2d_gmem_nr_pages(const struct m2d_gmem *gmem);

/* kvm_max_level_for_order(): order >= 18 -> 1G, >= 9 -> 2M, else 4K. */
M2D_API int m2d_gmem_max_level_for_order(int order);

#ifdef __cplusplus
}
#endif
#endif /* M2D_COCO_H */
