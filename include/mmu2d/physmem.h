/* SPDX-License-Identifier: MIT */
/*
 * mmu2d/physmem.h - the host: physical memory (per-node buddy allocator,
 * folios) and the kernel direct map.
 *
 *	struct m2d_host_config hc;
 *	struct m2d_host *host;
 *	struct m2d_folio *folio;
 *	m2d_host_config_default(&hc);
 *	hc.nodes = 2;
 *	hc.mem_bytes = 4 * M2D_SZ_1T;
 *	if (m2d_host_create(sim, &hc, &host)) ...
 *	if (m2d_folio_alloc(host, 9, 0, 0, &folio) == 0)   // a 2M folio on node 0
 *		m2d_folio_put(host, folio);
 *	m2d_host_destroy(&host);
 *
 * Physical memory is a set of PFN ranges, one per NUMA node, managed by a
 * buddy allocator with orders 0..M2D_MAX_ORDER (18: 1 GiB).  Allocation is
 * deterministic: the smallest free order >= the request wins (the kernel's
 * __rmqueue_smallest), and among blocks of that order the lowest address.
 * When the preferred node has nothing, the other nodes are tried in
 * fallback order (increasing NUMA distance, ties by node id after the
 * preferred one, as build_zonelists/find_next_best_node order them),
 * unless M2D_GFP_THISNODE is given.
 *
 * Only metadata exists: no page contents.  Memory never split below 2M has
 * no per-4K metadata; folio metadata exists only for allocated folios.
 * Physmem charges no virtual time for zeroing (clear_page/clear_huge_page
 * are the caller's cost); it charges BUDDY_ALLOC / BUDDY_FREE per call and
 * takes the node's zone->lock, so m2d_folio_alloc/put/split, the mapcount
 * calls that allocate, m2d_physmem_prefragment and the m2d_directmap_*
 * changes must run in a simulated thread (m2d_sim_spawn; inside lib/ and
 * tests also between m2d_engine_enter/leave).  m2d_host_create/destroy and
 * the read-only queries may be called from anywhere.
 */
#ifndef M2D_PHYSMEM_H
#define M2D_PHYSMEM_H

#include <mmu2d/sim.h>
#include <mmu2d/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define M2D_MAX_ORDER 18                 /* 1 GiB */
#define M2D_NR_ORDERS (M2D_MAX_ORDER + 1)
#define M2D_PMD_ORDER 9                  /* 2 MiB */
#define M2D_PUD_ORDER 18                 /* 1 GiB */
#define M2D_MAX_NODES 64

struct m2d_host;
struct m2d_folio;

/* cpa_lock policy (MECHANISMS.md 1): the kernel's global spinlock, or none (the RFC). */
enum m2d_cpa_lock_policy {
	M2D_CPA_LOCK_GLOBAL = 0,
	M2D_CPA_LOCK_NONE = 1,
};

struct m2d_host_config {
	unsigned nodes;         /* NUMA nodes; default 1 (should match the sim's) */
	uint64_t mem_bytes;     /* total memory, split evenly over nodes; default 4 TiB */
	/* Per-node bytes; when node_bytes[0] != 0 these win over mem_bytes. */
	uint64_t node_bytes[M2D_MAX_NODES];
	uint64_t base_pfn;      /* first PFN of node 0 (nodes follow contiguously,
				   each starting 1G-aligned); default 0 */
	/* Direct map (lib/mm/directmap.c). */
	int directmap_max_level;  /* largest direct-map page: 3 (1G, default), 2 (2M), 1 (4K) */
	bool directmap_presplit_4k; /* after building, split everything to 4K with
				       set_memory_4k (counted as splits); default false */
	enum m2d_cpa_lock_policy cpa_lock; /* default M2D_CPA_LOCK_GLOBAL */
	bool restore_2m;          /* collapse 512 identical 4K entries back into 2M (and
				     2M into 1G) after a CPA change; default false */
	uint8_t reserved[32];
};

M2D_API void m2d_host_config_default(struct m2d_host_config *cfg);

/*
 * m2d_host_create() - create host memory (all free) and its direct map
 * (built with the largest allowed pages).
 * Sizes must be multiples of 2 MiB, nodes 1..M2D_MAX_NODES.
 * Return: 0, -EINVAL (bad config), -ENOMEM.
 */
M2D_API int m2d_host_create(struct m2d_sim *sim, const struct m2d_host_config *cfg,
			    struct m2d_host **out);
/* Free everything (allocated folios included). Sets *@host to NULL. NULL-safe. */
M2D_API void m2d_host_destroy(struct m2d_host **host);

M2D_API unsigned m2d_host_nr_nodes(const struct m2d_host *host);
/* PFN range [*@start, *@start + *@nr) of node @nid. Return: 0 or -EINVAL. */
M2D_API int m2d_host_node_range(const struct m2d_host *host, unsigned nid,
				uint64_t *start, uint64_t *nr);
/* Node owning @pfn, or -EINVAL if no node does. */
M2D_API int m2d_host_pfn_node(const struct m2d_host *host, uint64_t pfn);

/* ---- buddy allocator ------------------------------------------------------ */

/* Free blocks per order of node @nid, as one /proc/buddyinfo line. Return: 0, -EINVAL. */
M2D_API int m2d_physmem_buddyinfo(const struct m2d_host *host, unsigned nid,
				  uint64_t out[M2D_NR_ORDERS]);
/* Free 4K pages of node @nid (of all nodes if @nid == -1). */
M2D_API uint64_t m2d_physmem_free_pages(const struct m2d_host *host, int nid);

/*
 * m2d_physmem_prefragment() - bring node @nid to exactly @target free blocks
 * per order (a buddyinfo line).  Every free page of the node is first taken
 * by "filler" folios; then, from the highest order down, a free block of
 * order o < M2D_MAX_ORDER is made by freeing the lower half of an order o+1
 * filler piece whose upper half (its buddy) stays allocated, so it cannot
 * coalesce.  A block of order M2D_MAX_ORDER takes 2^18 pages; one of order
 * o < 18 takes 2^(o+1).  The rest stays allocated as filler until
 * m2d_physmem_release_filler().  Deterministic (lowest address first).
 * Return: 0, -EINVAL, -ENOSPC (target needs more free memory than the
 * node has: sum over o < 18 of target[o] * 2^(o+1) + target[18] * 2^18),
 * -EBUSY (the node already has filler), -ENOMEM.
 */
M2D_API int m2d_physmem_prefragment(struct m2d_host *host, unsigned nid,
				    const uint64_t target[M2D_NR_ORDERS]);
/* Free the filler of node @nid (everything coalesces back). Return: 0, -EINVAL. */
M2D_API int m2d_physmem_release_filler(struct m2d_host *host, unsigned nid);

/* Flags for m2d_folio_alloc(). */
#define M2D_GFP_THISNODE (1u << 0) /* __GFP_THISNODE: no fallback to other nodes */

/*
 * m2d_folio_alloc() - allocate a folio of 2^@order pages, preferably on
 * node @nid (-1, NUMA_NO_NODE: the node of the calling thread's CPU, as
 * numa_node_id()).  The folio has refcount 1, no mappings.
 * Return: 0, -EINVAL (order or node out of range, unknown flags), -ENOMEM
 * (no free block of that order on any allowed node; or metadata allocation
 * failed).
 */
M2D_API int m2d_folio_alloc(struct m2d_host *host, unsigned order, int nid, unsigned flags,
			    struct m2d_folio **out) M2D_MUST_CHECK;
/* folio_get(): take a reference. */
M2D_API void m2d_folio_get(struct m2d_folio *folio);
/* folio_put(): drop a reference; the last one frees the folio (it must be unmapped). */
M2D_API void m2d_folio_put(struct m2d_host *host, struct m2d_folio *folio);
/*
 * m2d_pfn_folio() - the allocated folio containing @pfn (pfn_folio()), or
 * NULL if @pfn is free or outside every node.
 */
M2D_API struct m2d_folio *m2d_pfn_folio(const struct m2d_host *host, uint64_t pfn);
/*
 * m2d_folio_split() - split an allocated, unmapped folio with refcount 1
 * into 2^(order - @new_order) folios of order @new_order, each refcount 1
 * (split_page / __split_huge_page's buddy side).  Flags and private are
 * copied to every piece.  On success @folio is no longer valid (the
 * metadata may move from 2M granularity into a 4K memmap): find the pieces
 * with m2d_pfn_folio().
 * Return: 0, -EINVAL (new_order >= order), -EBUSY (mapped or extra refs), -ENOMEM.
 */
M2D_API int m2d_folio_split(struct m2d_host *host, struct m2d_folio *folio,
			    unsigned new_order);

M2D_API uint64_t m2d_folio_pfn(const struct m2d_folio *folio);
M2D_API unsigned m2d_folio_order(const struct m2d_folio *folio);
M2D_API unsigned m2d_folio_nid(const struct m2d_folio *folio);
M2D_API uint64_t m2d_folio_nr_pages(const struct m2d_folio *folio);
M2D_API int m2d_folio_ref_count(const struct m2d_folio *folio);

/* ---- mapcounts -------------------------------------------------------------
 *
 * A folio counts its mappings the way the kernel does (mm/rmap.c):
 *   entire mapcount  - mappings of the whole folio by one PMD/PUD leaf;
 *   large mapcount   - every mapping: +1 per entire mapping, +1 per page-table
 *                      entry mapping one subpage (folio_mapcount());
 *   page mapcount    - per subpage, mappings of that 4K page by a PTE
 *                      (page->_mapcount).  These 2^order counters exist only
 *                      once some subpage has been mapped (lazily allocated:
 *                      HugeTLB HGM's "thp-like" scheme needs 262,144 for a 1G
 *                      folio mapped at 4K; the "head-only" scheme never
 *                      creates them).  They are freed when the folio is.
 * Each call reports the number of atomic RMW operations the kernel would
 * perform in *@atomics (may be NULL), so callers can charge and count them.
 */

/* folio_add_{pmd,pud}_rmap: one more entire mapping. Return: 0, -EINVAL (order 0). */
M2D_API int m2d_folio_add_entire_map(struct m2d_folio *folio, uint64_t *atomics);
M2D_API int m2d_folio_remove_entire_map(struct m2d_folio *folio, uint64_t *atomics);
/*
 * folio_add_*_rmap_ptes: map subpages [@first, @first + @nr) once more each,
 * per-subpage counted (+1 atomic per subpage, +1 for the large mapcount).
 * Return: 0, -EINVAL (range outside the folio), -ENOMEM (counter array).
 */
M2D_API int m2d_folio_add_subpage_maps(struct m2d_host *host, struct m2d_folio *folio,
				       uint64_t first, uint64_t nr, uint64_t *atomics);
M2D_API int m2d_folio_remove_subpage_maps(struct m2d_host *host, struct m2d_folio *folio,
					  uint64_t first, uint64_t nr, uint64_t *atomics);
/*
 * Head-only accounting (HGM "head-only"): @nr mappings counted only in the
 * large mapcount (one atomic), no per-subpage counters.
 */
M2D_API int m2d_folio_add_head_maps(struct m2d_folio *folio, uint64_t nr, uint64_t *atomics);
M2D_API int m2d_folio_remove_head_maps(struct m2d_folio *folio, uint64_t nr,
				       uint64_t *atomics);
M2D_API int64_t m2d_folio_mapcount(const struct m2d_folio *folio);
M2D_API int64_t m2d_folio_entire_mapcount(const struct m2d_folio *folio);
/* Mapcount of subpage @idx (0 if the counters were never created). */
M2D_API int64_t m2d_folio_page_mapcount(const struct m2d_host *host,
					const struct m2d_folio *folio, uint64_t idx);
M2D_API bool m2d_folio_has_page_mapcounts(const struct m2d_host *host,
					  const struct m2d_folio *folio);

/* ---- direct map --------------------------------------------------------- */

/* /proc/meminfo's DirectMap lines and CPA statistics. */
struct m2d_directmap_info {
	uint64_t directmap_4k; /* bytes mapped by 4K entries (DirectMap4k) */
	uint64_t directmap_2m; /* bytes mapped by 2M entries (DirectMap2M) */
	uint64_t directmap_1g; /* bytes mapped by 1G entries (DirectMap1G) */
	uint64_t splits_1g;    /* 1G entries split (vm event DIRECT_MAP_LEVEL3_SPLIT) */
	uint64_t splits_2m;    /* 2M entries split (DIRECT_MAP_LEVEL2_SPLIT) */
	uint64_t collapses_2m; /* 4K tables collapsed into 2M (DIRECT_MAP_LEVEL2_COLLAPSE) */
	uint64_t collapses_1g; /* 2M tables collapsed into 1G (DIRECT_MAP_LEVEL3_COLLAPSE) */
	uint64_t table_pages;  /* page-table pages of the direct map */
};
M2D_API void m2d_host_directmap_info(const struct m2d_host *host,
				     struct m2d_directmap_info *out);

/* Is @pfn present in the direct map?  *@level (may be NULL): level of its entry. */
M2D_API bool m2d_directmap_present(const struct m2d_host *host, uint64_t pfn, int *level);

/* Direct-map changes, each the kernel entry point named (arch/x86/mm/pat/set_memory.c). */
enum m2d_cpa_op {
	M2D_CPA_INVALID_NOFLUSH = 0,    /* set_direct_map_invalid_noflush(), once per page */
	M2D_CPA_DEFAULT_NOFLUSH = 1,    /* set_direct_map_default_noflush(), once per page */
	M2D_CPA_INVALID_NR_NOFLUSH = 2, /* set_direct_map_valid_noflush(page, nr, false) */
	M2D_CPA_VALID_NR_NOFLUSH = 3,   /* set_direct_map_valid_noflush(page, nr, true) */
	M2D_CPA_SET_4K = 4,             /* set_memory_4k(addr, nr) */
	M2D_CPA_NP = 5,                 /* set_memory_np(addr, nr) */
	M2D_CPA_P = 6,                  /* set_memory_p(addr, nr) */
	M2D_CPA_OP_NR
};

/*
 * m2d_directmap_change() - apply @op to pfns [@pfn, @pfn + @nr), from a
 * simulated thread (locks, splits, flushes and costs as the kernel's).
 * Return: 0, -EINVAL (unknown op, range outside the direct map), -ENOMEM
 * (a split's table page; the pages before it are changed).
 */
M2D_API int m2d_directmap_change(struct m2d_host *host, enum m2d_cpa_op op, uint64_t pfn,
				 uint64_t nr);
/* Run-time policy switches (the host config's cpa_lock and restore_2m). Return: 0, -EINVAL. */
M2D_API int m2d_directmap_set_policy(struct m2d_host *host, enum m2d_cpa_lock_policy cpa_lock,
				     bool restore_2m);

#ifdef __cplusplus
}
#endif
#endif /* M2D_PHYSMEM_H */
