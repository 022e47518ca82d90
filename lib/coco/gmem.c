// SPDX-License-Identifier: MIT
/*
 * lib/coco/gmem.c - guest_memfd.
 *
 * Sources: virt/kvm/guest_memfd.c (kvm_gmem_get_folio, __kvm_gmem_get_pfn,
 * kvm_gmem_get_pfn, kvm_gmem_prepare_folio, kvm_gmem_punch_hole,
 * kvm_gmem_allocate, kvm_gmem_fallocate, kvm_gmem_invalidate_begin/end,
 * kvm_gmem_free_folio, kvm_gmem_bind/unbind, kvm_gmem_release), the
 * hugepage variants (Sean's KVM_GUEST_MEMFD_ALLOW_HUGEPAGE RFC, Roth's
 * gmem_2m_enabled tree) and Paolo Bonzini's per-page preparedness bitmap
 * ("KVM: gmem: track preparedness a page at a time", Nov 2024);
 * mm/truncate.c (truncate_inode_partial_folio).  MECHANISMS.md 3.
 *
 * Storage, per 2 MiB of file offset (struct gmem_hslot, 32 bytes):
 *   .large   the 2M folio covering the range, or
 *   .small   512 order-0 folio pfns, allocated only when some exist;
 *   .prep    the preparedness bitmap's 512 bits, allocated only while the
 *            range is partially prepared (nr_prep 0 = none, 512 = all).
 * A file faulted in at 2M therefore has no per-4K metadata.
 *
 * Folio locks: the kernel locks each folio (PG_locked, a sleeping lock).
 * The model hashes folios onto FOLIO_LOCKS mutexes of class "folio_lock";
 * two folios sharing a mutex is an approximation that only matters for
 * concurrent faults on different folios hashing alike.
 *
 * A folio allocation may yield (physmem takes zone->lock), so after
 * allocating, kvm_gmem_get_folio re-checks the page cache and drops its
 * folio if another thread inserted one meanwhile (filemap_add_folio's
 * -EEXIST retry).
 */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/kernel.h"
#include "coco/gmem.h"
#include "coco/sev.h"

#define HPAGE_NR 512u
#define HPAGE_ORDER 9
#define PREP_WORDS (HPAGE_NR / 64)
#define FOLIO_LOCKS 1024u

struct gmem_hslot {
	uint64_t large;            /* pfn + 1 of the 2M folio; 0 = none */
	uint64_t *small;           /* [512] pfn + 1 of order-0 folios; NULL = none */
	uint64_t *prep;            /* [8] bits while 0 < nr_prep < 512 */
	uint16_t nr_small;         /* order-0 folios present */
	uint16_t nr_prep;          /* prepared pages of this 2M range */
};

struct gmem_binding {
	uint64_t start, end;       /* file pages [start, end) */
	void *slot;                /* KVM's memslot */
	uint64_t base_gfn;         /* gfn of file page @start */
};

struct m2d_gmem_file {
	struct m2d_gmem *gmem;
	void *kvm;
	const struct m2d_gmem_kvm_ops *ops;
	struct gmem_binding *b;    /* [nr_b], unsorted */
	unsigned nr_b, cap_b;
};

struct m2d_gmem {
	struct m2d_gmem_config cfg;
	uint64_t nr_pages;         /* i_size / 4K */
	uint64_t nr_hslots;
	struct gmem_hslot *h;
	const struct m2d_gmem_folio_ops *fops;
	void *pm;
	struct m2d_rmp *rmp;       /* kvm_arch_gmem_invalidate target, or NULL */
	struct m2d_rwsem invalidate_lock;
	struct m2d_mutex *folio_lock; /* [FOLIO_LOCKS] */
	struct m2d_gmem_file **files;
	unsigned nr_files, cap_files;
	struct m2d_gmem_stats st;  /* cumulative fields; the rest is computed */
	uint64_t folios_2m, folios_4k;
	uint64_t meta_bytes;
};

void m2d_gmem_config_default(struct m2d_gmem_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->folio = M2D_GMEM_FOLIO_2M;
	cfg->punch = M2D_GMEM_PUNCH_ALLOW;
}

int m2d_gmem_max_level_for_order(int order)
{
	if (order >= 18)
		return M2D_LEVEL_1G;
	if (order >= HPAGE_ORDER)
		return M2D_LEVEL_2M;
	return M2D_LEVEL_4K;
}

static void *meta_zalloc(struct m2d_gmem *g, size_t size)
{
	void *p = m2d_zalloc(M2D_ALLOC_GMEM, size);

	if (!p)
		m2d_die("out of memory for guest_memfd metadata");
	g->meta_bytes += size;
	return p;
}

static void meta_free(struct m2d_gmem *g, void *p, size_t size)
{
	if (!p)
		return;
	m2d_free(M2D_ALLOC_GMEM, p, size);
	g->meta_bytes -= size;
}

int m2d_gmem_create(struct m2d_gmem **out, const struct m2d_gmem_config *cfg,
		    const struct m2d_gmem_folio_ops *fops, void *pm, struct m2d_rmp *rmp)
{
	struct m2d_gmem *g;

	M2D_VALIDATE_OR_RET(out && cfg && fops, -EINVAL);
	if (!cfg->size || !M2D_IS_ALIGNED(cfg->size, M2D_PAGE_SIZE) ||
	    cfg->folio >= M2D_GMEM_FOLIO_NR || cfg->punch >= M2D_GMEM_PUNCH_NR)
		return -EINVAL;
	g = m2d_zalloc(M2D_ALLOC_GMEM, sizeof(*g));
	if (!g)
		goto err;
	g->cfg = *cfg;
	g->nr_pages = cfg->size >> M2D_PAGE_SHIFT;
	g->nr_hslots = M2D_DIV_ROUND_UP(g->nr_pages, HPAGE_NR);
	g->h = m2d_calloc(M2D_ALLOC_GMEM, g->nr_hslots, sizeof(*g->h));
	if (!g->h)
		goto err_free_g;
	g->folio_lock = m2d_calloc(M2D_ALLOC_GMEM, FOLIO_LOCKS, sizeof(*g->folio_lock));
	if (!g->folio_lock)
		goto err_free_h;
	g->fops = fops;
	g->pm = pm;
	g->rmp = rmp;
	init_rwsem(&g->invalidate_lock, "gmem_invalidate_lock", M2D_RANK_INVALIDATE_LOCK);
	for (unsigned i = 0; i < FOLIO_LOCKS; i++)
		m2d_sleep_lock_init(&g->folio_lock[i], "folio_lock", M2D_RANK_FOLIO);
	g->meta_bytes = sizeof(*g) + g->nr_hslots * sizeof(*g->h) +
			FOLIO_LOCKS * sizeof(*g->folio_lock);
	*out = g;
	return 0;

err_free_h:
	m2d_free(M2D_ALLOC_GMEM, g->h, g->nr_hslots * sizeof(*g->h));
err_free_g:
	m2d_free(M2D_ALLOC_GMEM, g, sizeof(*g));
err:
	return -ENOMEM;
}

/* ---- preparedness bitmap (one bit per 4K index, stored per 2M) ------------ */

static bool prep_test(const struct gmem_hslot *h, unsigned i)
{
	if (h->nr_prep == HPAGE_NR)
		return true;
	return h->prep && (h->prep[i / 64] >> (i % 64) & 1);
}

/* kvm_gmem_mark_prepared() for pages [first, first + n) of @h. */
static void prep_set(struct m2d_gmem *g, struct gmem_hslot *h, unsigned first, unsigned n)
{
	if (h->nr_prep == HPAGE_NR)
		return;
	if (n == HPAGE_NR) {
		meta_free(g, h->prep, PREP_WORDS * sizeof(uint64_t));
		h->prep = NULL;
		h->nr_prep = HPAGE_NR;
		return;
	}
	if (!h->prep)
		h->prep = meta_zalloc(g, PREP_WORDS * sizeof(uint64_t));
	for (unsigned i = first; i < first + n; i++) {
		if (!(h->prep[i / 64] >> (i % 64) & 1)) {
			h->prep[i / 64] |= 1ull << (i % 64);
			h->nr_prep++;
		}
	}
	if (h->nr_prep == HPAGE_NR) {
		meta_free(g, h->prep, PREP_WORDS * sizeof(uint64_t));
		h->prep = NULL;
	}
}

/* Clear the bits of pages [first, first + n) (punch hole / folio free). */
static void prep_clear(struct m2d_gmem *g, struct gmem_hslot *h, unsigned first, unsigned n)
{
	if (!h->nr_prep)
		return;
	if (n == HPAGE_NR) {
		meta_free(g, h->prep, PREP_WORDS * sizeof(uint64_t));
		h->prep = NULL;
		h->nr_prep = 0;
		return;
	}
	if (!h->prep) {
		h->prep = meta_zalloc(g, PREP_WORDS * sizeof(uint64_t));
		memset(h->prep, 0xff, PREP_WORDS * sizeof(uint64_t));
	}
	for (unsigned i = first; i < first + n; i++) {
		if (h->prep[i / 64] >> (i % 64) & 1) {
			h->prep[i / 64] &= ~(1ull << (i % 64));
			h->nr_prep--;
		}
	}
	if (!h->nr_prep) {
		meta_free(g, h->prep, PREP_WORDS * sizeof(uint64_t));
		h->prep = NULL;
	}
}

bool m2d_gmem_is_prepared(const struct m2d_gmem *g, uint64_t index)
{
	if (index >= g->nr_pages)
		return false;
	return prep_test(&g->h[index / HPAGE_NR], index % HPAGE_NR);
}

uint64_t m2d_gmem_nr_pages(const struct m2d_gmem *g)
{
	return g->nr_pages;
}

/* ---- the page cache -------------------------------------------------------- */

/* The folio holding @index: its first pfn and order.  Return: false if none. */
static bool folio_at(const struct m2d_gmem *g, uint64_t index, uint64_t *first_pfn,
		     unsigned *order)
{
	const struct gmem_hslot *h = &g->h[index / HPAGE_NR];

	if (h->large) {
		*first_pfn = h->large - 1;
		*order = HPAGE_ORDER;
		return true;
	}
	if (h->small && h->small[index % HPAGE_NR]) {
		*first_pfn = h->small[index % HPAGE_NR] - 1;
		*order = 0;
		return true;
	}
	return false;
}

bool m2d_gmem_folio_lookup(const struct m2d_gmem *g, uint64_t index, m2d_pfn_t *pfn,
			   unsigned *order)
{
	uint64_t first;
	unsigned o;

	if (index >= g->nr_pages || !folio_at(g, index, &first, &o))
		return false;
	*pfn = m2d_pfn_from_u64(first + (index & ((1ull << o) - 1)));
	*order = o;
	return true;
}

static struct m2d_mutex *folio_lock_of(struct m2d_gmem *g, uint64_t index, unsigned order)
{
	uint64_t key = index & ~((1ull << order) - 1);

	return &g->folio_lock[(key * 0x9e3779b97f4a7c15ull) >> 54];
}

static void small_insert(struct m2d_gmem *g, struct gmem_hslot *h, unsigned i, uint64_t pfn)
{
	if (!h->small)
		h->small = meta_zalloc(g, HPAGE_NR * sizeof(uint64_t));
	h->small[i] = pfn + 1;
	h->nr_small++;
	g->folios_4k++;
}

static void small_remove(struct m2d_gmem *g, struct gmem_hslot *h, unsigned i)
{
	h->small[i] = 0;
	h->nr_small--;
	g->folios_4k--;
	if (!h->nr_small) {
		meta_free(g, h->small, HPAGE_NR * sizeof(uint64_t));
		h->small = NULL;
	}
}

/*
 * kvm_gmem_get_folio() with the hugepage variant: a 2M folio at
 * round_down(index, 512) if none of that range is in the page cache and
 * it lies inside i_size; else (or if the 2M allocation fails) order 0.
 * Returns the folio locked.  Return: 0, -ENOMEM.
 */
static int kvm_gmem_get_folio(struct m2d_gmem *g, uint64_t index, uint64_t *first_pfn,
			      unsigned *order)
{
	struct gmem_hslot *h = &g->h[index / HPAGE_NR];
	m2d_pfn_t pfn;
	int ret;

	m2d_delay(M2D_COST_GMEM_FOLIO_LOOKUP, 1);
	for (;;) {
		if (folio_at(g, index, first_pfn, order))
			break;
		if (g->cfg.folio == M2D_GMEM_FOLIO_2M) {
			bool fits = (index / HPAGE_NR + 1) * HPAGE_NR <= g->nr_pages;

			if (fits && !h->nr_small && !g->fops->alloc(g->pm, HPAGE_ORDER, &pfn)) {
				if (h->large || h->nr_small) {
					/* Lost a race while allocating: drop ours. */
					g->fops->free(g->pm, pfn, HPAGE_ORDER);
					continue;
				}
				h->large = pfn.v + 1;
				g->folios_2m++;
				if (!g->st.huge_allocs++)
					g->st.first_huge_alloc = m2d_now();
				g->st.last_huge_alloc = m2d_now();
				m2d_count(M2D_CTR_gmem_folios_2m, 1);
				continue;
			}
			g->st.huge_fallbacks++;
			m2d_count(M2D_CTR_gmem_2m_fallbacks, 1);
		}
		ret = g->fops->alloc(g->pm, 0, &pfn);
		if (ret)
			return ret;
		if (folio_at(g, index, first_pfn, order)) {
			g->fops->free(g->pm, pfn, 0);
			break;
		}
		small_insert(g, h, index % HPAGE_NR, pfn.v);
		m2d_count(M2D_CTR_gmem_folios_4k, 1);
	}
	mutex_lock(folio_lock_of(g, index, *order));
	return 0;
}

static void folio_unlock(struct m2d_gmem *g, uint64_t index, unsigned order)
{
	mutex_unlock(folio_lock_of(g, index, order));
}

/* clear_highpage() of @n pages from @pfn: host writes through the direct map. */
static void clear_highpages(struct m2d_gmem *g, uint64_t pfn, unsigned n)
{
	m2d_delay(M2D_COST_GMEM_ZERO, (uint64_t)n * (M2D_PAGE_SIZE / M2D_SZ_1K));
	m2d_count(M2D_CTR_gmem_pages_zeroed, n);
	if (g->rmp)
		m2d_rmp_host_write_directmap_range(g->rmp, m2d_pfn_from_u64(pfn), n);
}

/* ---- bindings ------------------------------------------------------------- */

static struct gmem_binding *binding_of_slot(struct m2d_gmem_file *f, void *slot)
{
	for (unsigned i = 0; i < f->nr_b; i++)
		if (f->b[i].slot == slot)
			return &f->b[i];
	return NULL;
}

int m2d_gmem_file_create(struct m2d_gmem *g, void *kvm, const struct m2d_gmem_kvm_ops *ops,
			 struct m2d_gmem_file **out)
{
	struct m2d_gmem_file *f;

	M2D_VALIDATE_OR_RET(g && ops && out, -EINVAL);
	if (!ops->invalidate_begin || !ops->zap || !ops->invalidate_unlock || !ops->invalidate_end)
		return -EINVAL;
	if (g->nr_files == g->cap_files) {
		unsigned cap = g->cap_files ? 2 * g->cap_files : 4;
		void *p = m2d_realloc(M2D_ALLOC_GMEM, g->files, g->cap_files * sizeof(*g->files),
				      cap * sizeof(*g->files));

		if (!p)
			return -ENOMEM;
		g->files = p;
		g->cap_files = cap;
	}
	f = m2d_zalloc(M2D_ALLOC_GMEM, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->gmem = g;
	f->kvm = kvm;
	f->ops = ops;
	g->files[g->nr_files++] = f;
	*out = f;
	return 0;
}

void *m2d_gmem_file_kvm(const struct m2d_gmem_file *f)
{
	return f->kvm;
}

int m2d_gmem_bind(struct m2d_gmem_file *f, void *slot, m2d_gfn_t base_gfn, uint64_t npages,
		  int64_t offset)
{
	struct m2d_gmem *g = f->gmem;
	uint64_t start, end;
	int ret = -EINVAL;

	if (offset < 0 || !M2D_IS_ALIGNED((uint64_t)offset, M2D_PAGE_SIZE) || !npages ||
	    npages > g->nr_pages || (uint64_t)offset > g->cfg.size - (npages << M2D_PAGE_SHIFT))
		return -EINVAL;
	start = (uint64_t)offset >> M2D_PAGE_SHIFT;
	end = start + npages;

	down_write(&g->invalidate_lock);
	for (unsigned i = 0; i < f->nr_b; i++)
		if (f->b[i].start < end && start < f->b[i].end)
			goto out;
	if (f->nr_b == f->cap_b) {
		unsigned cap = f->cap_b ? 2 * f->cap_b : 4;
		void *p = m2d_realloc(M2D_ALLOC_GMEM, f->b, f->cap_b * sizeof(*f->b),
				      cap * sizeof(*f->b));

		ret = -ENOMEM;
		if (!p)
			goto out;
		f->b = p;
		f->cap_b = cap;
	}
	f->b[f->nr_b++] = (struct gmem_binding){ start, end, slot, base_gfn.v };
	ret = 0;
out:
	up_write(&g->invalidate_lock);
	return ret;
}

void m2d_gmem_unbind(struct m2d_gmem_file *f, void *slot)
{
	struct m2d_gmem *g = f->gmem;
	struct gmem_binding *b;

	down_write(&g->invalidate_lock);
	b = binding_of_slot(f, slot);
	if (b)
		*b = f->b[--f->nr_b];
	up_write(&g->invalidate_lock);
}

/* ---- invalidation --------------------------------------------------------- */

/* __kvm_gmem_invalidate_begin() */
static void __gmem_invalidate_begin(struct m2d_gmem_file *f, uint64_t start, uint64_t end)
{
	bool flush = false, found_memslot = false;

	for (unsigned i = 0; i < f->nr_b; i++) {
		const struct gmem_binding *b = &f->b[i];

		if (b->end <= start || end <= b->start)
			continue;
		if (!found_memslot) {
			found_memslot = true;
			f->ops->invalidate_begin(f->kvm);
		}
		flush |= f->ops->zap(f->kvm, b->slot,
				     m2d_gfn_from_u64(b->base_gfn + M2D_MAX(b->start, start) - b->start),
				     m2d_gfn_from_u64(b->base_gfn + M2D_MIN(b->end, end) - b->start));
	}
	if (found_memslot)
		f->ops->invalidate_unlock(f->kvm, flush);
}

/* __kvm_gmem_invalidate_end() */
static void __gmem_invalidate_end(struct m2d_gmem_file *f, uint64_t start, uint64_t end)
{
	for (unsigned i = 0; i < f->nr_b; i++) {
		if (f->b[i].start < end && start < f->b[i].end) {
			f->ops->invalidate_end(f->kvm);
			return;
		}
	}
}

void m2d_gmem_file_release(struct m2d_gmem_file **p)
{
	struct m2d_gmem_file *f = p ? *p : NULL;
	struct m2d_gmem *g;

	if (!f)
		return;
	g = f->gmem;
	down_write(&g->invalidate_lock);
	__gmem_invalidate_begin(f, 0, ~0ull);
	__gmem_invalidate_end(f, 0, ~0ull);
	for (unsigned i = 0; i < g->nr_files; i++) {
		if (g->files[i] == f) {
			g->files[i] = g->files[--g->nr_files];
			break;
		}
	}
	up_write(&g->invalidate_lock);
	m2d_free(M2D_ALLOC_GMEM, f->b, f->cap_b * sizeof(*f->b));
	m2d_free(M2D_ALLOC_GMEM, f, sizeof(*f));
	*p = NULL;
}

/* ---- kvm_gmem_get_pfn ------------------------------------------------------ */

/* Is every page of [first, first + n) (inside one 2M range) prepared? */
static bool range_prepared(const struct gmem_hslot *h, unsigned first, unsigned n)
{
	if (h->nr_prep == HPAGE_NR)
		return true;
	if (!h->nr_prep)
		return false;
	for (unsigned i = first; i < first + n; i++)
		if (!prep_test(h, i))
			return false;
	return true;
}

/*
 * kvm_gmem_prepare_folio() of the per-page-preparedness version: zero each
 * unprepared page of the range, one kvm_arch_gmem_prepare for it, mark it
 * prepared.  A partially prepared range is prepared page by page, so the
 * arch callback never sees a range it already prepared in part.
 */
static int kvm_gmem_prepare_folio(struct m2d_gmem_file *f, struct gmem_hslot *h,
				  uint64_t idx_start, uint64_t gfn_start, uint64_t pfn_start,
				  int order)
{
	struct m2d_gmem *g = f->gmem;
	unsigned first = idx_start % HPAGE_NR, n = 1u << order;
	bool partial = h->nr_prep != 0;
	int ret = 0;

	if (!partial) {
		clear_highpages(g, pfn_start, n);
	} else {
		for (unsigned i = 0; i < n; i++)
			if (!prep_test(h, first + i))
				clear_highpages(g, pfn_start + i, 1);
	}
	/* smp_wmb(): page cleared before the bit is visible */
	if (!partial) {
		if (f->ops->arch_prepare) {
			m2d_count(M2D_CTR_gmem_prepares, 1);
			ret = f->ops->arch_prepare(f->kvm, m2d_gfn_from_u64(gfn_start),
						   m2d_pfn_from_u64(pfn_start), order);
		}
		if (!ret)
			prep_set(g, h, first, n);
		return ret;
	}
	for (unsigned i = 0; i < n && !ret; i++) {
		if (prep_test(h, first + i))
			continue;
		if (f->ops->arch_prepare) {
			m2d_count(M2D_CTR_gmem_prepares, 1);
			ret = f->ops->arch_prepare(f->kvm, m2d_gfn_from_u64(gfn_start + i),
						   m2d_pfn_from_u64(pfn_start + i), 0);
		}
		if (!ret)
			prep_set(g, h, first + i, 1);
	}
	return ret;
}

int m2d_gmem_get_pfn(struct m2d_gmem_file *f, void *slot, m2d_gfn_t gfn, m2d_pfn_t *pfn,
		     int *max_order)
{
	struct m2d_gmem *g = f->gmem;
	const struct gmem_binding *b;
	uint64_t index, folio_pfn, idx_start;
	struct gmem_hslot *h;
	unsigned order;
	int ret, mo;

	down_read(&g->invalidate_lock);
	b = binding_of_slot(f, slot);
	if (!b) {
		ret = -EFAULT;
		goto out_unlock;
	}
	index = gfn.v - b->base_gfn + b->start;
	if (gfn.v < b->base_gfn || index >= b->end) {
		ret = -EIO;
		goto out_unlock;
	}
	ret = kvm_gmem_get_folio(g, index, &folio_pfn, &order);
	if (ret)
		goto out_unlock;

	/* __kvm_gmem_get_pfn: max_order from the folio, clipped to the binding
	 * (and to a gfn alignment that lets the range map at that order). */
	mo = (int)order;
	idx_start = index & ~((1ull << mo) - 1);
	if (mo && (idx_start < b->start || idx_start + (1ull << mo) > b->end ||
		   !M2D_IS_ALIGNED(b->base_gfn - b->start, 1ull << mo))) {
		mo = 0;
		idx_start = index;
	}
	h = &g->h[index / HPAGE_NR];
	if (!range_prepared(h, idx_start % HPAGE_NR, 1u << mo)) {
		ret = kvm_gmem_prepare_folio(f, h, idx_start, b->base_gfn + idx_start - b->start,
					     folio_pfn + (idx_start & ((1ull << order) - 1)), mo);
	}
	folio_unlock(g, index, order);
	if (!ret) {
		*pfn = m2d_pfn_from_u64(folio_pfn + (index & ((1ull << order) - 1)));
		if (max_order)
			*max_order = mo;
	}
out_unlock:
	up_read(&g->invalidate_lock);
	return ret;
}

int m2d_gmem_get_pfn_pgoff(struct m2d_gmem_file *f, uint64_t pgoff, m2d_pfn_t *pfn,
			   int *max_order)
{
	const struct gmem_binding *b = NULL;

	for (unsigned i = 0; i < f->nr_b && !b; i++)
		if (pgoff >= f->b[i].start && pgoff < f->b[i].end)
			b = &f->b[i];
	if (!b)
		return -EIO;
	return m2d_gmem_get_pfn(f, b->slot, m2d_gfn_from_u64(b->base_gfn + pgoff - b->start), pfn,
				max_order);
}

/* ---- truncation ------------------------------------------------------------ */

/*
 * kvm_gmem_free_folio(): kvm_arch_gmem_invalidate, then the folio goes
 * back to the host - unless pages of it could not be made shared: those
 * are leaked (snp_leak_pages keeps a reference), so the folio stays out
 * of the allocator.
 */
static void gmem_free_folio(struct m2d_gmem *g, uint64_t pfn, unsigned order)
{
	uint64_t leaked = 0;

	if (g->rmp)
		leaked = m2d_sev_gmem_invalidate(g->rmp, m2d_pfn_from_u64(pfn),
						 m2d_pfn_from_u64(pfn + (1ull << order)));
	if (leaked) {
		g->st.leaked_pages += leaked;
		return;
	}
	g->fops->free(g->pm, m2d_pfn_from_u64(pfn), order);
}

/* Free the order-0 folios of pages [first, first + n) of @h. */
static void truncate_small(struct m2d_gmem *g, struct gmem_hslot *h, unsigned first, unsigned n)
{
	for (unsigned i = first; i < first + n && h->small; i++) {
		uint64_t pfn1 = h->small[i];

		if (!pfn1)
			continue;
		small_remove(g, h, i);
		gmem_free_folio(g, pfn1 - 1, 0);
	}
}

static void truncate_large(struct m2d_gmem *g, struct gmem_hslot *h)
{
	uint64_t pfn = h->large - 1;

	h->large = 0;
	g->folios_2m--;
	gmem_free_folio(g, pfn, HPAGE_ORDER);
}

/* split_folio() of the 2M folio of @h into 512 order-0 folios. Return: 0 or -errno. */
static int split_large(struct m2d_gmem *g, struct gmem_hslot *h)
{
	uint64_t pfn = h->large - 1;
	int ret = g->fops->split(g->pm, m2d_pfn_from_u64(pfn), HPAGE_ORDER);

	if (ret)
		return ret;
	h->large = 0;
	g->folios_2m--;
	for (unsigned i = 0; i < HPAGE_NR; i++)
		small_insert(g, h, i, pfn + i);
	g->st.splits++;
	m2d_count(M2D_CTR_gmem_folio_splits, 1);
	return 0;
}

/*
 * truncate_inode_pages_range() over pages [start, end) with the inode's
 * hole-punch policy for a partially covered 2M folio:
 *   allow      truncate_inode_partial_folio: no zeroing (the mapping is
 *              inaccessible), split_folio; if the split fails the folio is
 *              not dirty, so the whole folio is truncated (as the kernel);
 *   zero-only  hugetlbfs-like: zero the covered pages, keep the folio.
 */
static void truncate_range(struct m2d_gmem *g, uint64_t start, uint64_t end)
{
	end = M2D_MIN(end, g->nr_pages);
	for (uint64_t hs = start / HPAGE_NR; hs * HPAGE_NR < end; hs++) {
		struct gmem_hslot *h = &g->h[hs];
		uint64_t lo = M2D_MAX(start, hs * HPAGE_NR), hi = M2D_MIN(end, (hs + 1) * HPAGE_NR);
		unsigned first = lo % HPAGE_NR, n = (unsigned)(hi - lo);

		if (h->large && n < HPAGE_NR) {
			if (g->cfg.punch == M2D_GMEM_PUNCH_ZERO_ONLY) {
				clear_highpages(g, h->large - 1 + first, n);
				cond_resched();
				continue;
			}
			if (split_large(g, h)) {
				first = 0;
				n = HPAGE_NR;
			}
		}
		if (h->large)
			truncate_large(g, h);
		else
			truncate_small(g, h, first, n);
		prep_clear(g, h, first, n);
		cond_resched();
	}
}

/* kvm_gmem_punch_hole() */
static int kvm_gmem_punch_hole(struct m2d_gmem *g, uint64_t offset, uint64_t len)
{
	uint64_t start = offset >> M2D_PAGE_SHIFT, end = (offset + len) >> M2D_PAGE_SHIFT;

	if (g->cfg.punch == M2D_GMEM_PUNCH_NO_SUB_2M &&
	    (!M2D_IS_ALIGNED(offset, M2D_PMD_SIZE) || !M2D_IS_ALIGNED(len, M2D_PMD_SIZE)))
		return -EINVAL;
	m2d_count(M2D_CTR_gmem_punches, 1);
	/* Bindings must be stable across invalidation. */
	down_write(&g->invalidate_lock);
	for (unsigned i = 0; i < g->nr_files; i++)
		__gmem_invalidate_begin(g->files[i], start, end);
	if (start < g->nr_pages)
		truncate_range(g, start, end);
	for (unsigned i = 0; i < g->nr_files; i++)
		__gmem_invalidate_end(g->files[i], start, end);
	up_write(&g->invalidate_lock);
	return 0;
}

/* kvm_gmem_allocate() */
static int kvm_gmem_allocate(struct m2d_gmem *g, uint64_t offset, uint64_t len)
{
	uint64_t index, end;
	int ret = 0;

	/* Dedicated guest memory is immutable by default. */
	if (offset + len > g->cfg.size)
		return -EINVAL;
	down_read(&g->invalidate_lock);
	end = (offset + len) >> M2D_PAGE_SHIFT;
	for (index = offset >> M2D_PAGE_SHIFT; index < end;) {
		uint64_t first;
		unsigned order;

		ret = kvm_gmem_get_folio(g, index, &first, &order);
		if (ret)
			break;
		folio_unlock(g, index, order);
		index = (index & ~((1ull << order) - 1)) + (1ull << order);
		cond_resched();
	}
	up_read(&g->invalidate_lock);
	return ret;
}

int m2d_gmem_fallocate(struct m2d_gmem *g, int mode, int64_t offset, int64_t len)
{
	/* vfs_fallocate() */
	if (offset < 0 || len <= 0)
		return -EINVAL;
	if (offset > INT64_MAX - len)
		return -EFBIG;
	/* kvm_gmem_fallocate() */
	if (!(mode & M2D_GMEM_FALLOC_KEEP_SIZE))
		return -EOPNOTSUPP;
	if (mode & ~(M2D_GMEM_FALLOC_KEEP_SIZE | M2D_GMEM_FALLOC_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if (!M2D_IS_ALIGNED((uint64_t)offset, M2D_PAGE_SIZE) ||
	    !M2D_IS_ALIGNED((uint64_t)len, M2D_PAGE_SIZE))
		return -EINVAL;
	if (mode & M2D_GMEM_FALLOC_PUNCH_HOLE)
		return kvm_gmem_punch_hole(g, (uint64_t)offset, (uint64_t)len);
	return kvm_gmem_allocate(g, (uint64_t)offset, (uint64_t)len);
}

void m2d_gmem_destroy(struct m2d_gmem **p)
{
	struct m2d_gmem *g = p ? *p : NULL;

	if (!g)
		return;
	M2D_WARN_ON_ONCE(g->nr_files);
	/* truncate_inode_pages_final(): every folio goes through free_folio. */
	for (uint64_t hs = 0; hs < g->nr_hslots; hs++) {
		struct gmem_hslot *h = &g->h[hs];

		if (h->large)
			truncate_large(g, h);
		truncate_small(g, h, 0, HPAGE_NR);
		meta_free(g, h->prep, PREP_WORDS * sizeof(uint64_t));
	}
	for (unsigned i = 0; i < FOLIO_LOCKS; i++)
		m2d_lock_fini(&g->folio_lock[i].c);
	m2d_lock_fini(&g->invalidate_lock.c);
	m2d_free(M2D_ALLOC_GMEM, g->folio_lock, FOLIO_LOCKS * sizeof(*g->folio_lock));
	m2d_free(M2D_ALLOC_GMEM, g->files, g->cap_files * sizeof(*g->files));
	m2d_free(M2D_ALLOC_GMEM, g->h, g->nr_hslots * sizeof(*g->h));
	m2d_free(M2D_ALLOC_GMEM, g, sizeof(*g));
	*p = NULL;
}

/* ---- statistics ------------------------------------------------------------ */

void m2d_gmem_stats_get(const struct m2d_gmem *g, struct m2d_gmem_stats *out)
{
	*out = g->st;
	out->size = g->cfg.size;
	out->folios_2m = g->folios_2m;
	out->folios_4k = g->folios_4k;
	out->file_huge_bytes = g->folios_2m * M2D_PMD_SIZE;
	out->private_bytes = 0;
	out->private_2m_bytes = 0;
	out->prepared_bytes = 0;
	out->meta_bytes = g->meta_bytes;
	for (uint64_t hs = 0; hs < g->nr_hslots; hs++) {
		const struct gmem_hslot *h = &g->h[hs];

		out->prepared_bytes += (uint64_t)h->nr_prep * M2D_PAGE_SIZE;
		if (!g->rmp)
			continue;
		if (h->large) {
			m2d_pfn_t pfn = m2d_pfn_from_u64(h->large - 1);
			uint64_t n = m2d_rmp_region_assigned(g->rmp, pfn);

			out->private_bytes += n * M2D_PAGE_SIZE;
			if (m2d_rmp_raw_level(g->rmp, pfn) == M2D_LEVEL_2M)
				out->private_2m_bytes += M2D_PMD_SIZE;
		} else if (h->small) {
			for (unsigned i = 0; i < HPAGE_NR; i++)
				if (h->small[i] &&
				    m2d_rmp_raw_is_assigned(g->rmp, m2d_pfn_from_u64(h->small[i] - 1)))
					out->private_bytes += M2D_PAGE_SIZE;
		}
	}
}
