// SPDX-License-Identifier: MIT
/*
 * lib/coco/host.c - lib/coco on a lib/mm host: guest_memfd folios from the
 * host's buddy allocator (physmem).
 *
 * The ops table only forwards: each lib/mm function already is the kernel
 * function guest_memfd calls (folio_alloc with the default mempolicy,
 * folio_put, split_folio).
 */
#include <errno.h>

#include "coco/gmem.h"
#include "mm/physmem.h"

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
