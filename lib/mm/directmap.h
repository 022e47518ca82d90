/* SPDX-License-Identifier: MIT */
/*
 * lib/mm/directmap.h - the kernel direct map and change_page_attr (CPA),
 * internal API (lib/ only).  MECHANISMS.md 1, arch/x86/mm/pat/set_memory.c.
 *
 * The direct map maps every host PFN at PAGE_OFFSET + (pfn << 12) with an
 * x86-64 page table (mmu2d/pt.h) built at boot with the largest page size
 * allowed (host config directmap_max_level).  Changes go through
 * __change_page_attr_set_clr(): cpa_lock (policy "global"), then pgd_lock,
 * lookup, keep/split decision, split_large_page() (which drops cpa_lock
 * around the table-page allocation), one flush_tlb_all() per split under
 * both locks, and a repeat after each split.
 *
 * Every function here must run inside the engine (simulated thread or
 * m2d_engine_enter) and charges CPA_* costs.
 */
#ifndef M2D_LIB_MM_DIRECTMAP_H
#define M2D_LIB_MM_DIRECTMAP_H

#include "mm/physmem.h"

/* Where the direct map starts (x86-64 4-level __PAGE_OFFSET_BASE_L4). */
#define M2D_PAGE_OFFSET 0xffff888000000000ull

/* Direct-map virtual address of @pfn (__va(PFN_PHYS(pfn))). */
static inline uint64_t m2d_pfn_to_kaddr(uint64_t pfn)
{
	return M2D_PAGE_OFFSET + (pfn << M2D_PAGE_SHIFT);
}

/* set_direct_map_invalid_noflush(): make one page not present. Return: 0 or -errno. */
int set_direct_map_invalid_noflush(struct m2d_host *host, uint64_t pfn);
/* set_direct_map_default_noflush(): make one page present RW again. */
int set_direct_map_default_noflush(struct m2d_host *host, uint64_t pfn);
/*
 * set_direct_map_valid_noflush(): @nr pages from @pfn made present (@valid)
 * or not present.  A range covering a whole aligned 2M (1G) entry rewrites
 * that entry in place without splitting.
 */
int set_direct_map_valid_noflush(struct m2d_host *host, uint64_t pfn, uint64_t nr, bool valid);
/* set_memory_4k(): split the mapping of [pfn, pfn + nr) down to 4K entries. */
int set_memory_4k(struct m2d_host *host, uint64_t pfn, uint64_t nr);
/* set_memory_np() / set_memory_p(): not present / present, then cpa_flush. */
int set_memory_np(struct m2d_host *host, uint64_t pfn, uint64_t nr);
int set_memory_p(struct m2d_host *host, uint64_t pfn, uint64_t nr);

/* Build the direct map of @host at boot (called by m2d_host_create, inside the engine). */
int m2d_directmap_create(struct m2d_host *host);
/* Free it (NULL-safe; called by m2d_host_destroy). */
void m2d_directmap_destroy(struct m2d_host *host);

#endif /* M2D_LIB_MM_DIRECTMAP_H */
