// SPDX-License-Identifier: MIT
/*
 * lib/coco/host.c - lib/coco on a lib/mm host: the RMP over the host's
 * physical memory, calling the host's direct map (lib/mm/directmap.h),
 * and guest_memfd folios from the host's buddy allocator (physmem).
 *
 * The ops tables only forward: each lib/mm function already is the kernel
 * function the RMP / guest_memfd code calls (lookup_address,
 * set_direct_map_*_noflush, set_memory_4k; folio_alloc with the default
 * mempolicy, folio_put, split_folio).
 */
#include <errno.h>

#include "coco/gmem.h"
#include "coco/rmp.h"
#include "mm/directmap.h"
#include "mm/physmem.h"

static int host_dm_level(void *dm, m2d_pfn_t pfn)
{
	int level = M2D_LEVEL_NONE;

	m2d_directmap_present(dm, pfn.v, &level);
	return level;
}

static bool host_dm_is_present(void *dm, m2d_pfn_t pfn)
{
	return m2d_directmap_present(dm, pfn.v, NULL);
}

static int host_dm_set_invalid(void *dm, m2d_pfn_t pfn)
{
	return set_direct_map_invalid_noflush(dm, pfn.v);
}

static int host_dm_set_default(void *dm, m2d_pfn_t pfn)
{
	return set_direct_map_default_noflush(dm, pfn.v);
}

static int host_dm_set_valid(void *dm, m2d_pfn_t pfn, unsigned nr, bool valid)
{
	return set_direct_map_valid_noflush(dm, pfn.v, nr, valid);
}

static int host_dm_set_memory_4k(void *dm, m2d_pfn_t pfn, unsigned npages)
{
	return set_memory_4k(dm, pfn.v, npages);
}

/* The host's direct map (lib/mm/directmap.h), one kernel function each. */
static const struct m2d_rmp_directmap_ops host_dm_ops = {
	.level = host_dm_level,
	.is_present = host_dm_is_present,
	.set_invalid_noflush = host_dm_set_invalid,
	.set_default_noflush = host_dm_set_default,
	.set_valid_noflush = host_dm_set_valid,
	.set_memory_4k = host_dm_set_memory_4k,
};

static void host_rmp_destroy(struct m2d_host *host)
{
	m2d_rmp_destroy(&host->rmp);
	host->rmp_destroy = NULL;
}

int m2d_coco_host_rmp_create(struct m2d_host *host, enum m2d_rmp_directmap policy,
			     struct m2d_rmp **out)
{
	struct m2d_rmp_config cfg;
	int ret;

	if (!host || !out || host->rmp)
		return -EINVAL;
	m2d_rmp_config_default(&cfg);
	cfg.max_pfn = M2D_ALIGN_UP(host->end_pfn, 512);
	cfg.directmap = policy;
	ret = m2d_rmp_create(&host->rmp, &cfg, &host_dm_ops, host);
	if (ret)
		return ret;
	host->rmp_destroy = host_rmp_destroy;
	*out = host->rmp;
	return 0;
}

/* Folios on the node of the allocating CPU (the default mempolicy). */
static int host_folio_alloc(void *pm, unsigned order, m2d_pfn_t *pfn)
{
	struct m2d_folio *folio;
	int ret = m2d_folio_alloc(pm, order, m2d_cpu_node(m2d_current_cpu()), 0, &folio);

	if (!ret)
		*pfn = m2d_pfn_from_u64(folio_pfn(folio));
	return ret;
}

static void host_folio_free(void *pm, m2d_pfn_t pfn, unsigned order)
{
	struct m2d_folio *folio = m2d_pfn_folio(pm, pfn.v);

	if (!M2D_WARN_ON_ONCE(!folio || folio_order(folio) != order))
		m2d_folio_put(pm, folio);
}

static int host_folio_split(void *pm, m2d_pfn_t pfn, unsigned order)
{
	struct m2d_folio *folio = m2d_pfn_folio(pm, pfn.v);

	if (M2D_WARN_ON_ONCE(!folio || folio_order(folio) != order))
		return -EINVAL;
	return m2d_folio_split(pm, folio, 0);
}

const struct m2d_gmem_folio_ops m2d_gmem_host_folio_ops = {
	.alloc = host_folio_alloc,
	.free = host_folio_free,
	.split = host_folio_split,
};
