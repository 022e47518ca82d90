// SPDX-License-Identifier: MIT
/*
 * lib/guest/accept.c - the guest page allocator's unaccepted memory and
 * lazy acceptance (MECHANISMS.md 2.5, 2.7).
 *
 * Mirrors:
 *   mm/page_alloc.c            get_page_from_freelist's watermark check,
 *                              try_to_accept_memory (accept up to the high
 *                              watermark, the Jan 2024 guest),
 *                              try_to_accept_memory_one (one MAX_PAGE_ORDER
 *                              block off zone->unaccepted_pages)
 *   drivers/firmware/efi/unaccepted_memory.c  accept_memory: the 2 MiB unit
 *                              bitmap, the unit-aligned end extension,
 *                              accepting_list under unaccepted_memory_lock
 *   arch/x86/coco/sev/core.c   snp_accept_memory -> set_pages_state ->
 *                              __set_pages_state (PSC descriptor, 2M entries
 *                              when aligned), vmgexit_psc (re-issue until
 *                              cur_entry > end_entry), pvalidate_pages /
 *                              pval_pages (2M with the 4K fallback on
 *                              SIZEMISMATCH), sev_evict_cache
 *
 * The zone: free pages are handed out in the order blocks became free
 * (FIFO of 4 MiB blocks; accepted blocks are freed to the tail, as
 * __free_pages_ok(FPI_TO_TAIL)), which is what the buddy's order-0
 * allocations do for a freshly booted guest whose free memory is whole
 * MAX_ORDER blocks.  Metadata is per 4 MiB block and per 2 MiB unit (one
 * bit), never per 4K page.
 */
#include "guest/guest.h"

#include "core/alloc.h"

#include <errno.h>
#include <string.h>

#define MAX_ORDER_NR_PAGES (1ull << M2D_GUEST_MAX_ORDER)
#define BLOCK_SIZE (MAX_ORDER_NR_PAGES << M2D_PAGE_SHIFT)
#define UNIT M2D_UNACCEPTED_UNIT_SIZE

void m2d_guest_config_default(struct m2d_guest_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nr_cpus = 1;
	cfg->psc_max_entry = M2D_VMGEXIT_PSC_MAX_ENTRY;
}

/* int_sqrt() */
static uint64_t int_sqrt(uint64_t x)
{
	uint64_t r = 0, b = 1ull << 62;

	while (b > x)
		b >>= 2;
	while (b) {
		if (x >= r + b) {
			x -= r + b;
			r = (r >> 1) + b;
		} else {
			r >>= 1;
		}
		b >>= 2;
	}
	return r;
}

/*
 * calculate_min_free_kbytes() + __setup_per_zone_wmarks() for a single
 * zone holding all of lowmem: min = sqrt(lowmem_kbytes * 16) KiB clamped
 * to [128, 262144]; low/high add max(min / 4, managed * 10 / 10000)
 * (watermark_scale_factor = 10).  Unaccepted pages are managed pages.
 */
static void setup_zone_wmarks(struct m2d_guest *g)
{
	uint64_t managed = g->nr_pages, kb = managed * 4, min_kb, tmp;

	min_kb = int_sqrt(kb * 16);
	if (min_kb < 128)
		min_kb = 128;
	if (min_kb > 262144)
		min_kb = 262144;
	g->wmark_min = min_kb / 4;
	tmp = managed * 10 / 10000;
	if (tmp < g->wmark_min / 4)
		tmp = g->wmark_min / 4;
	g->wmark_low = g->wmark_min + tmp;
	g->wmark_high = g->wmark_min + 2 * tmp;
}

int m2d_guest_create(struct m2d_guest **out, const struct m2d_guest_config *cfg,
		     const struct m2d_guest_arch_ops *ops, void *arch)
{
	struct m2d_guest *g;
	uint64_t nblocks, first_unacc;

	M2D_VALIDATE_OR_RET(out && cfg, -EINVAL);
	if (!cfg->ram_size || cfg->ram_size % BLOCK_SIZE || cfg->ram_base % BLOCK_SIZE)
		return -EINVAL;
	if (cfg->ram_base + cfg->ram_size < cfg->ram_base)
		return -EINVAL;
	first_unacc = cfg->unaccepted_from ? cfg->unaccepted_from : cfg->ram_base;
	if (first_unacc < cfg->ram_base || first_unacc > cfg->ram_base + cfg->ram_size ||
	    first_unacc % UNIT)
		return -EINVAL;
	if (!cfg->nr_cpus || cfg->psc_max_entry < 1 ||
	    cfg->psc_max_entry > M2D_VMGEXIT_PSC_MAX_ENTRY)
		return -EINVAL;

	g = m2d_zalloc(M2D_ALLOC_GUEST, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->cfg = *cfg;
	if (ops) {
		g->ops = *ops;
		g->has_ops = true;
	}
	g->arch = arch;
	g->nr_pages = cfg->ram_size >> M2D_PAGE_SHIFT;
	g->nr_units = cfg->ram_size / UNIT;
	nblocks = cfg->ram_size / BLOCK_SIZE;
	g->nr_blocks = nblocks;
	g->bitmap = m2d_zalloc(M2D_ALLOC_GUEST, ((g->nr_units + 63) / 64) * sizeof(uint64_t));
	g->fifo = m2d_malloc(M2D_ALLOC_GUEST, nblocks * sizeof(*g->fifo));
	g->unacc = m2d_malloc(M2D_ALLOC_GUEST, nblocks * sizeof(*g->unacc));
	if (!g->bitmap || !g->fifo || !g->unacc) {
		m2d_guest_destroy(&g);
		return -ENOMEM;
	}
	for (uint64_t u = (first_unacc - cfg->ram_base) / UNIT; u < g->nr_units; u++)
		g->bitmap[u / 64] |= 1ull << (u % 64);
	/*
	 * memblock_free_pages -> __free_pages_core: a MAX_ORDER block with
	 * any unaccepted unit goes to zone->unaccepted_pages (address order),
	 * the others to the free lists.
	 */
	for (uint64_t b = 0; b < nblocks; b++) {
		uint64_t u = b * (BLOCK_SIZE / UNIT);

		if (m2d_guest_range_unaccepted(g, cfg->ram_base + u * UNIT) ||
		    m2d_guest_range_unaccepted(g, cfg->ram_base + (u + 1) * UNIT)) {
			g->unacc[g->unacc_tail++] = b;
			g->nr_unaccepted += MAX_ORDER_NR_PAGES;
		} else {
			g->fifo[g->fifo_tail++] = b;
		}
		g->nr_free += MAX_ORDER_NR_PAGES;
	}
	setup_zone_wmarks(g);
	spin_lock_init(&g->zone_lock, "zone->lock", M2D_RANK_ZONE);
	spin_lock_init(&g->unaccepted_memory_lock, "unaccepted_memory_lock", M2D_RANK_UNACCEPTED);
	m2d_waitqueue_init(&g->accepting_wq, "accepting_list");
	CDS_INIT_LIST_HEAD(&g->accepting_list);
	*out = g;
	return 0;
}

void m2d_guest_destroy(struct m2d_guest **gp)
{
	struct m2d_guest *g = gp ? *gp : NULL;

	if (!g)
		return;
	if (g->bitmap) {
		m2d_lock_fini(&g->zone_lock.c);
		m2d_lock_fini(&g->unaccepted_memory_lock.c);
		m2d_waitqueue_fini(&g->accepting_wq);
	}
	m2d_free(M2D_ALLOC_GUEST, g->bitmap, ((g->nr_units + 63) / 64) * sizeof(uint64_t));
	m2d_free(M2D_ALLOC_GUEST, g->fifo, g->nr_blocks * sizeof(*g->fifo));
	m2d_free(M2D_ALLOC_GUEST, g->unacc, g->nr_blocks * sizeof(*g->unacc));
	m2d_free(M2D_ALLOC_GUEST, g, sizeof(*g));
	*gp = NULL;
}

bool m2d_guest_range_unaccepted(const struct m2d_guest *g, uint64_t gpa)
{
	uint64_t u;

	if (gpa < g->cfg.ram_base || gpa >= g->cfg.ram_base + g->cfg.ram_size)
		return false;
	u = (gpa - g->cfg.ram_base) / UNIT;
	return (g->bitmap[u / 64] >> (u % 64)) & 1;
}

static bool unit_test(const struct m2d_guest *g, uint64_t u)
{
	return (g->bitmap[u / 64] >> (u % 64)) & 1;
}

/* ---- arch_accept_memory: SNP page state change -------------------------- */

/*
 * pval_pages(): PVALIDATE each entry; a 2M entry that reports
 * SIZEMISMATCH is validated as 512 4K pages.
 */
static int pval_pages(struct m2d_guest *g, int cpu, const struct m2d_psc_desc *desc)
{
	for (unsigned i = 0; i <= desc->end_entry; i++) {
		const struct m2d_psc_entry *e = &desc->entries[i];
		uint64_t gpa = e->gfn << M2D_PAGE_SHIFT;
		enum m2d_guest_pval rc;

		if (e->pagesize_2m) {
			g->stats.pvalidate_2m++;
			rc = g->ops.pvalidate(g->arch, cpu, gpa, M2D_LEVEL_2M);
			if (rc == M2D_GUEST_PVAL_SIZEMISMATCH) {
				g->stats.pvalidate_fallbacks++;
				for (unsigned k = 0; k < 512; k++) {
					g->stats.pvalidate_4k++;
					rc = g->ops.pvalidate(g->arch, cpu,
							      gpa + ((uint64_t)k << M2D_PAGE_SHIFT),
							      M2D_LEVEL_4K);
					if (rc != M2D_GUEST_PVAL_OK)
						return -EIO;
				}
				continue;
			}
		} else {
			g->stats.pvalidate_4k++;
			rc = g->ops.pvalidate(g->arch, cpu, gpa, M2D_LEVEL_4K);
		}
		if (rc != M2D_GUEST_PVAL_OK)
			return -EIO; /* sev_es_terminate(SEV_TERM_SET_LINUX, GHCB_TERM_PVALIDATE) */
	}
	return 0;
}

/* vmgexit_psc(): issue VMGEXITs until the hypervisor processed every entry. */
static int vmgexit_psc(struct m2d_guest *g, int cpu, struct m2d_psc_desc *desc)
{
	uint16_t end_entry = desc->end_entry;

	while (desc->cur_entry <= desc->end_entry) {
		uint16_t cur = desc->cur_entry;
		int ret;

		g->stats.vmgexits++;
		m2d_count(M2D_CTR_psc_vmgexits, 1);
		ret = g->ops.vmgexit_psc(g->arch, cpu, desc);
		/* The sanity checks: no error, no going backwards, no growth. */
		if (ret || desc->end_entry > end_entry || desc->cur_entry < cur)
			return -EIO;
	}
	return 0;
}

/*
 * __set_pages_state(): fill one descriptor from @gpa (2M entries where
 * aligned and at least 2M remain), VMGEXIT, then PVALIDATE.
 * Return: the GPA after the last entry, or 0 on failure (*@err set).
 */
static uint64_t set_pages_state_one(struct m2d_guest *g, int cpu, struct m2d_psc_desc *desc,
				    uint64_t gpa, uint64_t end, int *err)
{
	unsigned i = 0;

	memset(desc, 0, sizeof(*desc));
	g->stats.psc_descs++;
	while (gpa < end && i < g->cfg.psc_max_entry) {
		struct m2d_psc_entry *e = &desc->entries[i];

		desc->end_entry = (uint16_t)i;
		e->gfn = gpa >> M2D_PAGE_SHIFT;
		e->operation = M2D_PSC_OP_PRIVATE;
		if (!(gpa & (M2D_PMD_SIZE - 1)) && end - gpa >= M2D_PMD_SIZE) {
			e->pagesize_2m = true;
			gpa += M2D_PMD_SIZE;
			g->stats.psc_entries_2m++;
		} else {
			gpa += M2D_PAGE_SIZE;
			g->stats.psc_entries_4k++;
		}
		i++;
	}
	m2d_delay(M2D_COST_GUEST_PSC_ENTRY, i);
	*err = vmgexit_psc(g, cpu, desc);
	if (!*err)
		*err = pval_pages(g, cpu, desc);
	return gpa;
}

/* snp_accept_memory() -> set_pages_state(__va(start), npages, SNP_PAGE_STATE_PRIVATE) */
static int arch_accept_memory(struct m2d_guest *g, int cpu, uint64_t start, uint64_t end)
{
	struct m2d_psc_desc desc;
	uint64_t gpa = start;
	int err = 0;

	g->stats.arch_accepts++;
	if (!g->has_ops)
		return 0;
	while (gpa < end && !err)
		gpa = set_pages_state_one(g, cpu, &desc, gpa, end, &err);
	if (!err && g->ops.evict_cache)
		g->ops.evict_cache(g->arch, cpu, start, end - start);
	return err;
}

/* ---- accept_memory (drivers/firmware/efi/unaccepted_memory.c) ----------- */

struct accept_range {
	uint64_t start, end;          /* units */
	struct cds_list_head list;
};

static bool accepting_overlaps(const struct m2d_guest *g, const struct accept_range *r)
{
	struct accept_range *entry;

	cds_list_for_each_entry(entry, &g->accepting_list, list) {
		if (entry->end <= r->start)
			continue;
		if (entry->start >= r->end)
			continue;
		return true;
	}
	return false;
}

int m2d_guest_accept_memory(struct m2d_guest *g, int cpu, uint64_t start, uint64_t size)
{
	uint64_t base = g->cfg.ram_base, end = start + size, bitmap_end = g->nr_units * UNIT;
	struct accept_range range;
	uint64_t u;
	int err = 0;

	g->stats.accept_calls++;
	m2d_count(M2D_CTR_guest_accept_calls, 1);
	/* Only the part of the range represented in the bitmap. */
	if (start < base)
		start = base;
	if (end < base || size == 0)
		return 0;
	start -= base;
	end -= base;
	/* load_unaligned_zeropad() may touch the next unit: accept it too. */
	if (!(end % UNIT))
		end += UNIT;
	if (end > bitmap_end)
		end = bitmap_end;
	if (start >= end)
		return 0;
	range.start = start / UNIT;
	range.end = (end + UNIT - 1) / UNIT;

	for (;;) {
		spin_lock(&g->unaccepted_memory_lock);
		if (!accepting_overlaps(g, &range))
			break;
		/* Somebody else accepts part of the range: drop the lock, retry. */
		spin_unlock(&g->unaccepted_memory_lock);
		g->stats.accept_retries++;
		m2d_count(M2D_CTR_guest_accept_retries, 1);
		m2d_wait(&g->accepting_wq, true);
	}
	cds_list_add(&range.list, &g->accepting_list);

	/* for_each_set_bitrange_from(range_start, range_end, bitmap, range.end) */
	u = range.start;
	while (u < range.end && !err) {
		uint64_t rs, re;

		while (u < range.end && !unit_test(g, u))
			u++;
		if (u == range.end)
			break;
		rs = u;
		while (u < range.end && unit_test(g, u))
			u++;
		re = u;
		/* IRQs stay off; the spinlock is dropped around the accept. */
		spin_unlock(&g->unaccepted_memory_lock);
		err = arch_accept_memory(g, cpu, base + rs * UNIT, base + re * UNIT);
		spin_lock(&g->unaccepted_memory_lock);
		if (err)
			break;
		for (uint64_t k = rs; k < re; k++)
			g->bitmap[k / 64] &= ~(1ull << (k % 64));
		g->stats.accepted_bytes += (re - rs) * UNIT;
		m2d_count(M2D_CTR_guest_accepted_units, re - rs);
	}
	cds_list_del(&range.list);
	spin_unlock(&g->unaccepted_memory_lock);
	m2d_wake_up_all(&g->accepting_wq);
	return err;
}

/* ---- the page allocator --------------------------------------------------- */

/*
 * try_to_accept_memory_one(): take the first block off
 * zone->unaccepted_pages, accept it, free it to the tail of the free list.
 */
static int try_to_accept_memory_one(struct m2d_guest *g, int cpu)
{
	uint64_t b;
	int err;

	spin_lock(&g->zone_lock);
	if (g->unacc_head == g->unacc_tail) {
		spin_unlock(&g->zone_lock);
		return 0;
	}
	b = g->unacc[g->unacc_head++];
	/* account_freepages(-MAX_ORDER_NR_PAGES); NR_UNACCEPTED -= ... */
	g->nr_free -= MAX_ORDER_NR_PAGES;
	g->nr_unaccepted -= MAX_ORDER_NR_PAGES;
	spin_unlock(&g->zone_lock);

	err = m2d_guest_accept_memory(g, cpu, g->cfg.ram_base + b * BLOCK_SIZE, BLOCK_SIZE);
	if (err)
		return err;
	g->stats.blocks_accepted++;
	/* __free_pages_ok(page, MAX_PAGE_ORDER, FPI_TO_TAIL) */
	spin_lock(&g->zone_lock);
	m2d_delay(M2D_COST_GUEST_PAGE_FREE, 1);
	g->fifo[g->fifo_tail++] = b;
	g->nr_free += MAX_ORDER_NR_PAGES;
	spin_unlock(&g->zone_lock);
	return 1;
}

/* Free pages the watermark check may use (NR_FREE_PAGES - NR_UNACCEPTED). */
static uint64_t usable_free(const struct m2d_guest *g)
{
	return g->nr_free - g->nr_unaccepted;
}

/*
 * try_to_accept_memory(): accept blocks until the zone is back at its
 * high watermark (at least one block).
 * Return: 1 if something was accepted, 0 if nothing was left, or -EIO.
 */
static int try_to_accept_memory(struct m2d_guest *g, int cpu)
{
	int64_t to_accept = (int64_t)g->wmark_high - (int64_t)usable_free(g);
	int ret = 0, r;

	do {
		r = try_to_accept_memory_one(g, cpu);
		if (r <= 0)
			return r < 0 ? r : ret;
		ret = 1;
		to_accept -= (int64_t)MAX_ORDER_NR_PAGES;
	} while (to_accept > 0);
	return ret;
}

/* Hand out @n pages from the head of the free FIFO (zone->lock held). */
static void rmqueue(struct m2d_guest *g, uint64_t n, uint64_t *gpas)
{
	for (uint64_t i = 0; i < n;) {
		uint64_t b = g->fifo[g->fifo_head];
		uint64_t left = MAX_ORDER_NR_PAGES - g->head_used, take = n - i;
		uint64_t gpa = g->cfg.ram_base + b * BLOCK_SIZE + (g->head_used << M2D_PAGE_SHIFT);

		if (take > left)
			take = left;
		if (gpas)
			for (uint64_t k = 0; k < take; k++)
				gpas[i + k] = gpa + (k << M2D_PAGE_SHIFT);
		i += take;
		g->head_used += take;
		if (g->head_used == MAX_ORDER_NR_PAGES) {
			g->fifo_head++;
			g->head_used = 0;
		}
	}
	g->nr_free -= n;
	g->stats.allocated_pages += n;
}

/*
 * Allocate up to @n pages while the zone stays above @mark: the order-0
 * check passes while free - 1 >= mark, so free - mark pages are available.
 * Return: pages allocated (written to @gpas).
 */
static uint64_t alloc_above(struct m2d_guest *g, uint64_t n, uint64_t mark, uint64_t *gpas)
{
	uint64_t free, ok, take;

	spin_lock(&g->zone_lock);
	free = usable_free(g);
	ok = free > mark ? free - mark : 0;
	take = n < ok ? n : ok;
	if (take) {
		m2d_delay(M2D_COST_GUEST_PAGE_ALLOC, take);
		rmqueue(g, take, gpas);
	}
	spin_unlock(&g->zone_lock);
	return take;
}

int64_t m2d_guest_alloc_pages(struct m2d_guest *g, int cpu, uint64_t n, uint64_t *gpas)
{
	uint64_t done = 0;

	M2D_VALIDATE_OR_RET(g, -EINVAL);
	while (done < n) {
		uint64_t take;
		int r;

		/* zone_watermark_fast() for order 0 against the low watermark. */
		take = alloc_above(g, n - done, g->wmark_low, gpas ? gpas + done : NULL);
		done += take;
		if (take)
			continue;
		/* The watermark check failed: accept more memory, then try again. */
		r = try_to_accept_memory(g, cpu);
		if (r < 0)
			return r;
		if (r == 0) {
			/* Nothing left to accept: allocate down to the min watermark. */
			done += alloc_above(g, n - done, g->wmark_min, gpas ? gpas + done : NULL);
			break;
		}
	}
	return (int64_t)done;
}

void m2d_guest_stats_get(const struct m2d_guest *g, struct m2d_guest_stats *out)
{
	*out = g->stats;
	out->free_pages = g->nr_free;
	out->unaccepted_pages = g->nr_unaccepted;
	out->wmark_min = g->wmark_min;
	out->wmark_low = g->wmark_low;
	out->wmark_high = g->wmark_high;
}
