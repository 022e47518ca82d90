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
	m2d_vtime_t first_huge_alloc; /* virtual time of the first 2M allocation */
	m2d_vtime_t last_huge_alloc;  /* ... and of the latest */
	uint64_t meta_bytes;          /* simulator memory of the gmem model */
};

#ifdef __cplusplus
}
#endif
#endif /* M2D_COCO_H */
