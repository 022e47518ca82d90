/* SPDX-License-Identifier: MIT */
/*
 * lib/mm/physmem.h - host physical memory, internal view (lib/ only).
 *
 * The public API is include/mmu2d/physmem.h.  This header exposes the
 * folio and the host to the rest of lib/ (host mm, guest_memfd, the RMP)
 * so model code can read folio->... like the kernel.
 */
#ifndef M2D_LIB_MM_PHYSMEM_H
#define M2D_LIB_MM_PHYSMEM_H

#include <mmu2d/physmem.h>

#include "core/kernel.h"

/*
 * struct m2d_folio - an allocated folio (32 bytes).  Folios of order >= 9
 * are allocated one by one; folios of order < 9 live in the lazily created
 * 512-entry memmap of the split 2M block that holds them (so a folio is
 * never per-4K metadata of memory that was not split below 2M).
 *
 * Counters are updated with uatomic (DESIGN.md 3.4); the kernel's
 * _mapcount/-1 bias is not reproduced: 0 means unmapped.
 */
struct m2d_folio {
	uint64_t pfn;             /* first page */
	int32_t refcount;         /* folio_ref_count(); 0 = free memmap slot */
	int32_t large_mapcount;   /* folio_mapcount(): all mappings */
	int32_t entire_mapcount;  /* PMD/PUD mappings of the whole folio */
	uint8_t order;
	uint8_t nid;
	uint16_t flags;           /* M2D_FOLIO_* */
	void *private;            /* owner's data (guest_memfd, page cache): folio->private */
};

/* folio->flags */
enum {
	M2D_FOLIO_HEAD = 1u << 0,      /* memmap slot holds an allocated folio's head */
	M2D_FOLIO_FILLER = 1u << 1,    /* taken by m2d_physmem_prefragment() */
	M2D_FOLIO_PAGE_MAPCOUNTS = 1u << 2, /* per-subpage mapcounts exist */
	M2D_FOLIO_UPTODATE = 1u << 8,  /* folio_test_uptodate (owner-managed) */
	M2D_FOLIO_OWNER0 = 1u << 9,    /* bits 9..15: free for the owner (e.g. gmem "prepared") */
};

static inline uint64_t folio_pfn(const struct m2d_folio *folio) { return folio->pfn; }
static inline unsigned folio_order(const struct m2d_folio *folio) { return folio->order; }
static inline uint64_t folio_nr_pages(const struct m2d_folio *folio) { return 1ull << folio->order; }
static inline unsigned folio_nid(const struct m2d_folio *folio) { return folio->nid; }
static inline bool folio_test_large(const struct m2d_folio *folio) { return folio->order > 0; }

struct m2d_phys_node;     /* per-node buddy state (physmem.c) */
struct m2d_directmap;     /* the kernel direct map (directmap.c) */
struct m2d_rmp;           /* SEV-SNP RMP (lib/coco; owned by the coco module) */

/*
 * struct m2d_host - host physical memory, the direct map, the RMP.
 * lib/coco hangs its RMP off @rmp (and frees it before m2d_host_destroy,
 * or registers @rmp_destroy which m2d_host_destroy calls first).
 */
struct m2d_host {
	struct m2d_sim *sim;
	struct m2d_host_config cfg;
	unsigned nr_nodes;
	struct m2d_phys_node *nodes;       /* [nr_nodes] */
	uint64_t start_pfn;                /* lowest PFN of any node */
	uint64_t end_pfn;                  /* one past the highest */
	struct m2d_directmap *directmap;
	struct m2d_rmp *rmp;
	void (*rmp_destroy)(struct m2d_host *host);
	void *subpage_mapcounts;           /* pfn -> int32_t[2^order] (physmem.c) */
	/* hugetlb_fault_mutex_table[num_fault_mutexes] (hugetlb.c) */
	struct m2d_mutex *hugetlb_fault_mutex_table;
	uint32_t num_fault_mutexes;        /* roundup_pow_of_two(8 * nr host CPUs) */
	uint64_t next_file_id;             /* m2d_file::id source (hash key of a mapping) */
};

/*
 * hugetlb_init()'s fault mutex table (hugetlb.c): roundup_pow_of_two(8 *
 * nr host CPUs) mutexes of class "hugetlb_fault_mutex".  Context: engine
 * entered.  Return: 0, -ENOMEM.
 */
int hugetlb_fault_mutex_table_init(struct m2d_host *host);
void hugetlb_fault_mutex_table_fini(struct m2d_host *host);

/* Split 2M blocks (2M blocks with 4K state) of all nodes: 0 if nothing was split below 2M. */
uint64_t m2d_physmem_split_blocks(const struct m2d_host *host);

#endif /* M2D_LIB_MM_PHYSMEM_H */
