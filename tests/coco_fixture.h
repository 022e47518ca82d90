/* SPDX-License-Identifier: MIT */
/*
 * tests/coco_fixture.h - test doubles for the lib/mm pieces lib/coco uses
 * through ops tables, until physmem and the direct map/CPA land on main:
 *
 *  - fx_pm: host pages handed out as order-0 or order-9 folios (bump
 *    allocator + free lists), with 2M-allocation failure injection and a
 *    way to enumerate free pages (for "no free page is assigned").
 *  - fx_dm: the direct map at 1G/2M/4K per region with the CPA
 *    arithmetic of MECHANISMS.md 1.4/1.7: every set_direct_map_*_noflush
 *    takes cpa_lock once and splits (one flush_tlb_all per level) a large
 *    entry it hits; set_memory_4k splits to 4K; set_direct_map_valid_noflush
 *    of a whole aligned 2M entry rewrites it in place.
 *
 * The real lib/mm modules replace these when they land; the tests keep
 * the same expectations.
 */
#ifndef M2D_TESTS_COCO_FIXTURE_H
#define M2D_TESTS_COCO_FIXTURE_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mmu2d/sim.h>

#include "core/kernel.h"
#include "coco/gmem.h"
#include "coco/rmp.h"

/* ---- host pages ------------------------------------------------------------ */

struct fx_pm {
	uint64_t max_pfn;
	uint64_t bump;              /* next never-allocated pfn (2M-aligned for order 9) */
	uint64_t *free4k, nr_free4k;
	uint64_t *free2m, nr_free2m;
	uint8_t *state;             /* per pfn: 0 free, 1 allocated */
	bool fail_2m;               /* order-9 allocations fail */
	uint64_t splits;
};

static inline void fx_pm_init(struct fx_pm *pm, uint64_t max_pfn)
{
	memset(pm, 0, sizeof(*pm));
	pm->max_pfn = max_pfn;
	pm->bump = 512; /* keep pfn 0..511 out, like firmware-reserved memory */
	pm->free4k = calloc(max_pfn, sizeof(uint64_t));
	pm->free2m = calloc(max_pfn / 512 + 1, sizeof(uint64_t));
	pm->state = calloc(max_pfn, 1);
}

static inline void fx_pm_fini(struct fx_pm *pm)
{
	free(pm->free4k);
	free(pm->free2m);
	free(pm->state);
}

static inline int fx_pm_alloc(void *p, unsigned order, m2d_pfn_t *pfn)
{
	struct fx_pm *pm = p;
	uint64_t v;

	if (order == 9) {
		if (pm->fail_2m)
			return -ENOMEM;
		if (pm->nr_free2m) {
			v = pm->free2m[--pm->nr_free2m];
		} else {
			pm->bump = (pm->bump + 511) & ~511ull;
			if (pm->bump + 512 > pm->max_pfn)
				return -ENOMEM;
			v = pm->bump;
			pm->bump += 512;
		}
		memset(pm->state + v, 1, 512);
	} else {
		if (pm->nr_free4k) {
			v = pm->free4k[--pm->nr_free4k];
		} else {
			if (pm->bump >= pm->max_pfn)
				return -ENOMEM;
			v = pm->bump++;
		}
		pm->state[v] = 1;
	}
	*pfn = m2d_pfn_from_u64(v);
	return 0;
}

static inline void fx_pm_free(void *p, m2d_pfn_t pfn, unsigned order)
{
	struct fx_pm *pm = p;

	if (order == 9) {
		memset(pm->state + pfn.v, 0, 512);
		pm->free2m[pm->nr_free2m++] = pfn.v;
	} else {
		pm->state[pfn.v] = 0;
		pm->free4k[pm->nr_free4k++] = pfn.v;
	}
}

static inline int fx_pm_split(void *p, m2d_pfn_t pfn, unsigned order)
{
	((struct fx_pm *)p)->splits++;
	return 0;
}

static const struct m2d_gmem_folio_ops fx_pm_ops = {
	.alloc = fx_pm_alloc,
	.free = fx_pm_free,
	.split = fx_pm_split,
};

/* ---- direct map ------------------------------------------------------------ */

struct fx_dm {
	uint64_t max_pfn;
	uint8_t *level2m;          /* per 2M region: current level (3 = inside a 1G entry) */
	uint8_t *np;               /* per pfn: 1 = not present */
	uint8_t *np2m;             /* per 2M region: 1 = whole large entry not present */
	struct m2d_spinlock cpa_lock;
	uint64_t cpa_lock_taken;   /* cpa_lock acquisitions */
	uint64_t splits_2m, splits_1g;
	uint64_t calls_invalid, calls_default, calls_valid, calls_4k;
};

static inline void fx_dm_init(struct fx_dm *dm, uint64_t max_pfn, int level)
{
	memset(dm, 0, sizeof(*dm));
	dm->max_pfn = max_pfn;
	dm->level2m = malloc(max_pfn / 512);
	memset(dm->level2m, level, max_pfn / 512);
	dm->np = calloc(max_pfn, 1);
	dm->np2m = calloc(max_pfn / 512, 1);
	spin_lock_init(&dm->cpa_lock, "cpa_lock", M2D_RANK_CPA_LOCK);
}

static inline void fx_dm_fini(struct fx_dm *dm)
{
	free(dm->level2m);
	free(dm->np);
	free(dm->np2m);
}

static inline int fx_dm_level(void *p, m2d_pfn_t pfn)
{
	struct fx_dm *dm = p;

	return pfn.v < dm->max_pfn ? dm->level2m[pfn.v / 512] : M2D_LEVEL_NONE;
}

static inline bool fx_dm_is_present(void *p, m2d_pfn_t pfn)
{
	struct fx_dm *dm = p;

	return !dm->np[pfn.v] && !dm->np2m[pfn.v / 512];
}

/* split_large_page() drops cpa_lock around the table-page allocation. */
static inline void fx_dm_split_alloc(struct fx_dm *dm)
{
	spin_unlock(&dm->cpa_lock);
	spin_lock(&dm->cpa_lock);
	dm->cpa_lock_taken++;
}

/* split_large_page() until @pfn's entry is 4K: one flush_tlb_all per split. */
static inline void fx_dm_split_to_4k(struct fx_dm *dm, uint64_t pfn)
{
	uint64_t r = pfn / 512;

	if (dm->level2m[r] == M2D_LEVEL_1G) {
		uint64_t g = r & ~511ull;

		fx_dm_split_alloc(dm);
		for (uint64_t i = g; i < g + 512 && i < dm->max_pfn / 512; i++)
			dm->level2m[i] = M2D_LEVEL_2M;
		dm->splits_1g++;
		m2d_count(M2D_CTR_directmap_splits, 1);
		flush_tlb_all();
	}
	if (dm->level2m[r] == M2D_LEVEL_2M) {
		fx_dm_split_alloc(dm);
		dm->level2m[r] = M2D_LEVEL_4K;
		if (dm->np2m[r]) {
			memset(dm->np + r * 512, 1, 512);
			dm->np2m[r] = 0;
		}
		dm->splits_2m++;
		m2d_count(M2D_CTR_directmap_splits, 1);
		flush_tlb_all();
	}
}

/* One __change_page_attr_set_clr iteration on one 4K page (cpa_lock held). */
static inline void fx_dm_cpa_one(struct fx_dm *dm, uint64_t pfn, bool present)
{
	spin_lock(&dm->cpa_lock);
	dm->cpa_lock_taken++;
	fx_dm_split_to_4k(dm, pfn);
	dm->np[pfn] = !present;
	spin_unlock(&dm->cpa_lock);
}

static inline int fx_dm_set_invalid(void *p, m2d_pfn_t pfn)
{
	struct fx_dm *dm = p;

	dm->calls_invalid++;
	fx_dm_cpa_one(dm, pfn.v, false);
	return 0;
}

static inline int fx_dm_set_default(void *p, m2d_pfn_t pfn)
{
	struct fx_dm *dm = p;

	dm->calls_default++;
	fx_dm_cpa_one(dm, pfn.v, true);
	return 0;
}

static inline int fx_dm_set_valid(void *p, m2d_pfn_t pfn, unsigned nr, bool valid)
{
	struct fx_dm *dm = p;
	uint64_t r = pfn.v / 512;

	dm->calls_valid++;
	if (nr == 512 && !(pfn.v % 512) && dm->level2m[r] == M2D_LEVEL_2M) {
		/* Full, aligned coverage: the 2M entry is rewritten in place. */
		spin_lock(&dm->cpa_lock);
		dm->cpa_lock_taken++;
		dm->np2m[r] = !valid;
		spin_unlock(&dm->cpa_lock);
		return 0;
	}
	for (unsigned i = 0; i < nr; i++)
		fx_dm_cpa_one(dm, pfn.v + i, valid);
	return 0;
}

static inline int fx_dm_set_memory_4k(void *p, m2d_pfn_t pfn, unsigned npages)
{
	struct fx_dm *dm = p;

	dm->calls_4k++;
	spin_lock(&dm->cpa_lock);
	dm->cpa_lock_taken++;
	fx_dm_split_to_4k(dm, pfn.v);
	spin_unlock(&dm->cpa_lock);
	return 0;
}

static const struct m2d_rmp_directmap_ops fx_dm_ops = {
	.level = fx_dm_level,
	.is_present = fx_dm_is_present,
	.set_invalid_noflush = fx_dm_set_invalid,
	.set_default_noflush = fx_dm_set_default,
	.set_valid_noflush = fx_dm_set_valid,
	.set_memory_4k = fx_dm_set_memory_4k,
};

/* ---- a sim to run model code in ------------------------------------------- */

static inline struct m2d_sim *fx_sim(void)
{
	struct m2d_sim_config cfg;
	struct m2d_sim *sim;

	m2d_sim_config_default(&cfg);
	cfg.cpus = 4;
	if (m2d_sim_create(&sim, &cfg))
		abort();
	m2d_sim_set_param(sim, "rmpupdate", 1000);
	m2d_sim_set_param(sim, "psmash", 500);
	m2d_sim_set_param(sim, "rmp_entry_read", 10);
	m2d_sim_set_param(sim, "gmem_zero", 80);
	m2d_sim_set_param(sim, "clflush", 20);
	return sim;
}

#endif /* M2D_TESTS_COCO_FIXTURE_H */
