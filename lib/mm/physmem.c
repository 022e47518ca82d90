// SPDX-License-Identifier: MIT
/*
 * lib/mm/physmem.c - host physical memory: a per-node buddy allocator
 * (mm/page_alloc.c) over PFN ranges of terabytes, and folios.
 *
 * Design.  The kernel keeps a struct page (64 bytes) for every 4K frame and
 * links free blocks into per-order lists.  At 4 TiB that is 64 GiB of
 * metadata, so the simulator keeps state at 2M granularity and creates 4K
 * state only where memory really is split below 2M:
 *
 *   free blocks of order 9..18   one hierarchical bitmap per order over the
 *                                node's 2M blocks (bit = block index);
 *   split 2M blocks              a struct split2m, created when a 2M block
 *                                is first split and freed when it coalesces
 *                                back: per-order free bitmaps of its 512
 *                                pages and a 512-entry memmap holding the
 *                                folios of order < 9 allocated from it;
 *   which split blocks have a    one hierarchical bitmap per order 0..8 over
 *   free block of order o        2M block indices (has_small[o]);
 *   allocated folios >= 2M       the head entries of a per-1G "gig" (512
 *                                folio slots at 2M granularity), created
 *                                lazily; 1G folios are allocated alone.
 *
 * The node's 1G table (gmap) maps each 1G of the node to its gig or its 1G
 * folio, so pfn_folio() is two indexations and at most nine probes.
 *
 * Allocation policy (deterministic): the smallest order >= the request that
 * has a free block wins (__rmqueue_smallest), and among the blocks of that
 * order the one at the lowest address.  The block is split down with
 * expand(): the upper halves go back to the free sets, the lowest piece is
 * returned.  Freeing coalesces with the buddy while the buddy is free
 * (__free_one_page), up to order 18 (MAX_PAGE_ORDER on x86 is 10, but the
 * simulator's blocks go up to 1 GiB so gigantic folios need no
 * alloc_contig_range()).
 *
 * Locking: each node's zone->lock (spin_lock) around every change of its
 * free sets.  Refcounts and mapcounts are atomics on the folio.
 */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "mm/directmap.h"
#include "mm/physmem.h"

#define PAGES_PER_2M 512u
#define SMALL_ORDERS M2D_PMD_ORDER        /* orders 0..8 live inside a 2M block */
#define HB_MAX_LEVELS 8
#define M2D_DIRECTMAP_MAX_BYTES (1ull << 46) /* 64 TiB: x86-64 4-level direct map */

/* ---- hierarchical bitmap -------------------------------------------------
 * Level 0 holds the bits; bit j of level l+1 is set iff word j of level l
 * is non-zero.  find_first is one ctz per level.
 */
struct hbitmap {
	uint64_t nbits;
	unsigned nlevels;
	uint64_t *words[HB_MAX_LEVELS];
	uint64_t nwords[HB_MAX_LEVELS];
};

static int hb_init(struct hbitmap *hb, uint64_t nbits)
{
	uint64_t n = nbits ? nbits : 1;

	memset(hb, 0, sizeof(*hb));
	hb->nbits = nbits;
	do {
		n = M2D_DIV_ROUND_UP(n, 64);
		M2D_BUG_ON(hb->nlevels == HB_MAX_LEVELS);
		hb->nwords[hb->nlevels] = n;
		hb->words[hb->nlevels] = m2d_calloc(M2D_ALLOC_PHYSMEM, n, sizeof(uint64_t));
		if (!hb->words[hb->nlevels])
			return -ENOMEM;
		hb->nlevels++;
	} while (n > 1);
	return 0;
}

static void hb_fini(struct hbitmap *hb)
{
	for (unsigned l = 0; l < hb->nlevels; l++)
		m2d_free(M2D_ALLOC_PHYSMEM, hb->words[l], hb->nwords[l] * sizeof(uint64_t));
	memset(hb, 0, sizeof(*hb));
}

static inline bool hb_test(const struct hbitmap *hb, uint64_t i)
{
	return i < hb->nbits && (hb->words[0][i >> 6] >> (i & 63)) & 1;
}

static inline void hb_set(struct hbitmap *hb, uint64_t i)
{
	for (unsigned l = 0; l < hb->nlevels; l++) {
		uint64_t w = hb->words[l][i >> 6];

		hb->words[l][i >> 6] = w | (1ull << (i & 63));
		if (w)
			return;
		i >>= 6;
	}
}

static inline void hb_clear(struct hbitmap *hb, uint64_t i)
{
	for (unsigned l = 0; l < hb->nlevels; l++) {
		uint64_t w = hb->words[l][i >> 6] & ~(1ull << (i & 63));

		hb->words[l][i >> 6] = w;
		if (w)
			return;
		i >>= 6;
	}
}

/* Lowest set bit, or UINT64_MAX. */
static inline uint64_t hb_first(const struct hbitmap *hb)
{
	uint64_t idx = 0;

	for (int l = (int)hb->nlevels - 1; l >= 0; l--) {
		uint64_t w = hb->words[l][idx];

		if (!w)
			return UINT64_MAX;
		idx = idx * 64 + (uint64_t)__builtin_ctzll(w);
	}
	return idx;
}

/* ---- per-node state ------------------------------------------------------ */

/*
 * A 2M block split below 2M.  Free blocks of order o are bits of
 * free[] at offset small_off(o) (512 >> o bits each, 1023 bits in all).
 */
struct split2m {
	uint64_t free[16];
	uint16_t nr_free[SMALL_ORDERS];       /* set bits per order */
	struct m2d_folio memmap[PAGES_PER_2M]; /* heads of folios of order < 9 */
};

static inline unsigned small_off(unsigned order)
{
	return 1024u - (1024u >> order);
}

/* A 1G region with allocations below 1G: folio heads at 2M granularity. */
struct gig {
	struct m2d_folio head[PAGES_PER_2M];   /* folios of order 9..17 by 2M index */
	struct split2m *split[PAGES_PER_2M];   /* split 2M blocks */
	unsigned used;                         /* heads + split blocks */
};

/* gmap entries: NULL, a struct gig *, or a 1G folio tagged with bit 0. */
#define GMAP_FOLIO_TAG 1ul

struct filler_stack {
	struct m2d_folio **v;
	size_t nr, cap;
};

struct m2d_phys_node {
	spinlock_t lock;                       /* zone->lock */
	unsigned nid;
	uint64_t start_pfn, end_pfn;
	uint64_t base2m;                       /* absolute 2M index of rel. block 0 (1G-aligned) */
	uint64_t nr_2m;                        /* relative 2M blocks spanned */
	uint64_t nr_1g;
	uint64_t free_pages;
	uint64_t nr_free[M2D_NR_ORDERS];       /* buddyinfo */
	struct hbitmap big[M2D_NR_ORDERS];     /* orders 9..18: free block indices */
	struct hbitmap has_small[SMALL_ORDERS];/* orders 0..8: split blocks with a free block */
	void **gmap;                           /* [nr_1g] */
	uint64_t nr_split;                     /* live split2m blocks */
	unsigned fallback[M2D_MAX_NODES];      /* zonelist: nodes by distance */
	struct filler_stack filler[M2D_NR_ORDERS];
};

/* ---- subpage mapcount table: pfn -> int32_t[2^order] (open addressing) --- */

struct pmc_entry {
	uint64_t pfn;        /* head pfn + 1; 0 = empty */
	int32_t *counts;
	uint64_t nr;
};

struct pmc_table {
	struct pmc_entry *e;
	uint64_t cap, used;
};

static uint64_t pmc_hash(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return k;
}

static struct pmc_entry *pmc_find(const struct pmc_table *t, uint64_t pfn)
{
	if (!t || !t->cap)
		return NULL;
	for (uint64_t i = pmc_hash(pfn) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		if (t->e[i].pfn == pfn + 1)
			return &t->e[i];
		if (!t->e[i].pfn)
			return NULL;
	}
}

static int pmc_insert(struct pmc_table *t, uint64_t pfn, int32_t *counts, uint64_t nr)
{
	if ((t->used + 1) * 2 > t->cap) {
		uint64_t ncap = t->cap ? t->cap * 2 : 16;
		struct pmc_entry *ne = m2d_calloc(M2D_ALLOC_PHYSMEM, ncap, sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		for (uint64_t i = 0; i < t->cap; i++) {
			uint64_t j;

			if (!t->e[i].pfn)
				continue;
			for (j = pmc_hash(t->e[i].pfn - 1) & (ncap - 1); ne[j].pfn;
			     j = (j + 1) & (ncap - 1))
				;
			ne[j] = t->e[i];
		}
		m2d_free(M2D_ALLOC_PHYSMEM, t->e, t->cap * sizeof(*t->e));
		t->e = ne;
		t->cap = ncap;
	}
	uint64_t i = pmc_hash(pfn) & (t->cap - 1);

	while (t->e[i].pfn)
		i = (i + 1) & (t->cap - 1);
	t->e[i] = (struct pmc_entry){ pfn + 1, counts, nr };
	t->used++;
	return 0;
}

/* Remove with backward-shift deletion (keeps probe chains intact). */
static void pmc_remove(struct pmc_table *t, struct pmc_entry *ent)
{
	uint64_t i = (uint64_t)(ent - t->e), j = i;

	m2d_free(M2D_ALLOC_PHYSMEM, ent->counts, ent->nr * sizeof(int32_t));
	for (;;) {
		j = (j + 1) & (t->cap - 1);
		if (!t->e[j].pfn)
			break;
		uint64_t home = pmc_hash(t->e[j].pfn - 1) & (t->cap - 1);
		/* Move e[j] into the hole at i unless its home lies in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			t->e[i] = t->e[j];
			i = j;
		}
	}
	t->e[i] = (struct pmc_entry){ 0 };
	t->used--;
}

/* ---- helpers --------------------------------------------------------------- */

static inline struct m2d_phys_node *pfn_node(const struct m2d_host *host, uint64_t pfn)
{
	for (unsigned n = 0; n < host->nr_nodes; n++)
		if (pfn >= host->nodes[n].start_pfn && pfn < host->nodes[n].end_pfn)
			return &host->nodes[n];
	return NULL;
}

static inline uint64_t rel2m_of(const struct m2d_phys_node *node, uint64_t pfn)
{
	return (pfn >> 9) - node->base2m;
}

static inline uint64_t pfn_of_rel2m(const struct m2d_phys_node *node, uint64_t rel2m)
{
	return (node->base2m + rel2m) << 9;
}

static inline bool gmap_is_folio(const void *e)
{
	return (uintptr_t)e & GMAP_FOLIO_TAG;
}

static inline struct m2d_folio *gmap_folio(const void *e)
{
	return (struct m2d_folio *)((uintptr_t)e & ~GMAP_FOLIO_TAG);
}

static inline struct gig *gmap_gig(const struct m2d_phys_node *node, uint64_t rel2m)
{
	void *e = node->gmap[rel2m >> 9];

	return gmap_is_folio(e) ? NULL : e;
}

static struct gig *gig_get(struct m2d_phys_node *node, uint64_t rel2m)
{
	void **slot = &node->gmap[rel2m >> 9];

	M2D_BUG_ON(gmap_is_folio(*slot));
	if (!*slot)
		*slot = m2d_zalloc(M2D_ALLOC_PHYSMEM, sizeof(struct gig));
	return *slot;
}

static void gig_put(struct m2d_phys_node *node, uint64_t rel2m)
{
	void **slot = &node->gmap[rel2m >> 9];
	struct gig *g = *slot;

	if (--g->used == 0) {
		m2d_free(M2D_ALLOC_PHYSMEM, g, sizeof(*g));
		*slot = NULL;
	}
}

static inline bool small_test(const struct split2m *sb, unsigned order, unsigned off)
{
	unsigned bit = small_off(order) + (off >> order);

	return (sb->free[bit >> 6] >> (bit & 63)) & 1;
}

static void small_set(struct m2d_phys_node *node, uint64_t rel2m, struct split2m *sb,
		      unsigned order, unsigned off)
{
	unsigned bit = small_off(order) + (off >> order);

	sb->free[bit >> 6] |= 1ull << (bit & 63);
	if (sb->nr_free[order]++ == 0)
		hb_set(&node->has_small[order], rel2m);
	node->nr_free[order]++;
}

static void small_clear(struct m2d_phys_node *node, uint64_t rel2m, struct split2m *sb,
			unsigned order, unsigned off)
{
	unsigned bit = small_off(order) + (off >> order);

	sb->free[bit >> 6] &= ~(1ull << (bit & 63));
	if (--sb->nr_free[order] == 0)
		hb_clear(&node->has_small[order], rel2m);
	node->nr_free[order]--;
}

/* Lowest free block of @order in @sb (it has one). */
static unsigned small_first(const struct split2m *sb, unsigned order)
{
	unsigned start = small_off(order), nbits = 512u >> order;

	for (unsigned b = 0; b < nbits; b += 64) {
		unsigned bit = start + b;
		uint64_t w = sb->free[bit >> 6] >> (bit & 63);

		if (nbits - b < 64)
			w &= (1ull << (nbits - b)) - 1;
		if (w)
			return (b + (unsigned)__builtin_ctzll(w)) << order;
	}
	M2D_BUG_ON(1);
	return 0;
}

static inline void big_set(struct m2d_phys_node *node, unsigned order, uint64_t rel2m)
{
	hb_set(&node->big[order], rel2m >> (order - M2D_PMD_ORDER));
	node->nr_free[order]++;
}

static inline void big_clear(struct m2d_phys_node *node, unsigned order, uint64_t rel2m)
{
	hb_clear(&node->big[order], rel2m >> (order - M2D_PMD_ORDER));
	node->nr_free[order]--;
}

static inline bool big_test(const struct m2d_phys_node *node, unsigned order, uint64_t rel2m)
{
	return hb_test(&node->big[order], rel2m >> (order - M2D_PMD_ORDER));
}

/*
 * Take the lowest free block of the smallest order in [@order, 18] and
 * expand() it down to @order (upper halves go back as free blocks).
 * Return: the relative 2M index of the block, or UINT64_MAX.
 * Mirrors __rmqueue_smallest() + expand() at orders >= 9.
 */
static uint64_t rmqueue_big(struct m2d_phys_node *node, unsigned order)
{
	for (unsigned cur = order; cur <= M2D_MAX_ORDER; cur++) {
		uint64_t b = hb_first(&node->big[cur]);
		uint64_t rel2m;

		if (b == UINT64_MAX)
			continue;
		rel2m = b << (cur - M2D_PMD_ORDER);
		big_clear(node, cur, rel2m);
		/* expand(): the high half of each split goes back to free_area[cur - 1]. */
		while (cur > order) {
			cur--;
			big_set(node, cur, rel2m + (1ull << (cur - M2D_PMD_ORDER)));
		}
		return rel2m;
	}
	return UINT64_MAX;
}

/* __free_one_page() at orders >= 9: merge with free buddies, then insert. */
static void free_one_big(struct m2d_phys_node *node, uint64_t rel2m, unsigned order)
{
	while (order < M2D_MAX_ORDER) {
		uint64_t buddy = rel2m ^ (1ull << (order - M2D_PMD_ORDER));

		if (!big_test(node, order, buddy))
			break;
		big_clear(node, order, buddy);
		rel2m &= ~(1ull << (order - M2D_PMD_ORDER));
		order++;
	}
	big_set(node, order, rel2m);
}

static struct split2m *split_block(struct m2d_phys_node *node, uint64_t rel2m)
{
	struct gig *g = gmap_gig(node, rel2m);

	return g ? g->split[rel2m & 511] : NULL;
}

/* A fresh 2M block (taken from the big free sets) becomes a split block. */
static struct split2m *split2m_create(struct m2d_phys_node *node, uint64_t rel2m)
{
	struct gig *g = gig_get(node, rel2m);
	struct split2m *sb;

	if (!g)
		return NULL;
	sb = m2d_zalloc(M2D_ALLOC_PHYSMEM, sizeof(*sb));
	if (!sb) {
		g->used++;
		gig_put(node, rel2m);
		return NULL;
	}
	g->split[rel2m & 511] = sb;
	g->used++;
	node->nr_split++;
	return sb;
}

static void split2m_destroy(struct m2d_phys_node *node, uint64_t rel2m)
{
	struct gig *g = gmap_gig(node, rel2m);

	m2d_free(M2D_ALLOC_PHYSMEM, g->split[rel2m & 511], sizeof(struct split2m));
	g->split[rel2m & 511] = NULL;
	node->nr_split--;
	gig_put(node, rel2m);
}

static void folio_init(struct m2d_folio *f, uint64_t pfn, unsigned order, unsigned nid)
{
	*f = (struct m2d_folio){
		.pfn = pfn,
		.refcount = 1,
		.order = (uint8_t)order,
		.nid = (uint8_t)nid,
		.flags = M2D_FOLIO_HEAD,
	};
}

/*
 * Create the metadata of an allocated folio of @order at @rel2m (+ @off
 * pages for order < 9; the split block must exist).  NULL on -ENOMEM.
 */
static struct m2d_folio *folio_install(struct m2d_phys_node *node, uint64_t rel2m,
				       unsigned off, unsigned order)
{
	uint64_t pfn = pfn_of_rel2m(node, rel2m) + off;
	struct m2d_folio *f;
	struct gig *g;

	if (order < M2D_PMD_ORDER) {
		f = &split_block(node, rel2m)->memmap[off];
	} else if (order == M2D_MAX_ORDER) {
		f = m2d_malloc(M2D_ALLOC_PHYSMEM, sizeof(*f));
		if (!f)
			return NULL;
		node->gmap[rel2m >> 9] = (void *)((uintptr_t)f | GMAP_FOLIO_TAG);
	} else {
		g = gig_get(node, rel2m);
		if (!g)
			return NULL;
		g->used++;
		f = &g->head[rel2m & 511];
	}
	folio_init(f, pfn, order, node->nid);
	return f;
}

/* Drop the metadata of a folio being freed (the inverse of folio_install). */
static void folio_uninstall(struct m2d_phys_node *node, struct m2d_folio *f)
{
	uint64_t rel2m = rel2m_of(node, f->pfn);

	if (f->order < M2D_PMD_ORDER) {
		memset(f, 0, sizeof(*f));
	} else if (f->order == M2D_MAX_ORDER) {
		node->gmap[rel2m >> 9] = NULL;
		m2d_free(M2D_ALLOC_PHYSMEM, f, sizeof(*f));
	} else {
		memset(f, 0, sizeof(*f));
		gig_put(node, rel2m);
	}
}

/*
 * rmqueue() for one node under zone->lock.
 * Return: 0, -ENOMEM (nothing free of that order, or metadata).
 */
static int rmqueue(struct m2d_phys_node *node, unsigned order, struct m2d_folio **out)
{
	struct split2m *sb;
	struct m2d_folio *f;
	uint64_t rel2m;
	unsigned off;

	if (order >= M2D_PMD_ORDER) {
		rel2m = rmqueue_big(node, order);
		if (rel2m == UINT64_MAX)
			return -ENOMEM;
		f = folio_install(node, rel2m, 0, order);
		if (!f) {
			free_one_big(node, rel2m, order);
			return -ENOMEM;
		}
		goto done;
	}
	/* __rmqueue_smallest() below 2M: split blocks first, lowest order first. */
	for (unsigned cur = order; cur < M2D_PMD_ORDER; cur++) {
		rel2m = hb_first(&node->has_small[cur]);
		if (rel2m == UINT64_MAX)
			continue;
		sb = split_block(node, rel2m);
		off = small_first(sb, cur);
		small_clear(node, rel2m, sb, cur, off);
		while (cur > order) { /* expand() */
			cur--;
			small_set(node, rel2m, sb, cur, off + (1u << cur));
		}
		f = folio_install(node, rel2m, off, order);
		goto done;
	}
	/* No free block below 2M: split a 2M block off the big sets. */
	rel2m = rmqueue_big(node, M2D_PMD_ORDER);
	if (rel2m == UINT64_MAX)
		return -ENOMEM;
	sb = split2m_create(node, rel2m);
	if (!sb) {
		free_one_big(node, rel2m, M2D_PMD_ORDER);
		return -ENOMEM;
	}
	for (unsigned cur = M2D_PMD_ORDER; cur > order;) {
		cur--;
		small_set(node, rel2m, sb, cur, 1u << cur);
	}
	f = folio_install(node, rel2m, 0, order);
done:
	node->free_pages -= 1ull << order;
	*out = f;
	return 0;
}

/* __free_one_page(): return a block to the node, coalescing. */
static void free_one_page(struct m2d_phys_node *node, uint64_t pfn, unsigned order)
{
	uint64_t rel2m = rel2m_of(node, pfn);

	node->free_pages += 1ull << order;
	if (order >= M2D_PMD_ORDER) {
		free_one_big(node, rel2m, order);
		return;
	}
	struct split2m *sb = split_block(node, rel2m);
	unsigned off = (unsigned)(pfn & 511);

	while (order < M2D_PMD_ORDER) {
		unsigned buddy = off ^ (1u << order);

		if (!small_test(sb, order, buddy))
			break;
		small_clear(node, rel2m, sb, order, buddy);
		off &= ~(1u << order);
		order++;
	}
	if (order < M2D_PMD_ORDER) {
		small_set(node, rel2m, sb, order, off);
		return;
	}
	/* The whole 2M block is free again: drop its 4K state. */
	split2m_destroy(node, rel2m);
	free_one_big(node, rel2m, M2D_PMD_ORDER);
}

/* ---- host ------------------------------------------------------------------ */

void m2d_host_config_default(struct m2d_host_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nodes = 1;
	cfg->mem_bytes = 4 * M2D_SZ_1T;
	cfg->directmap_max_level = M2D_LEVEL_1G;
	cfg->cpa_lock = M2D_CPA_LOCK_GLOBAL;
}

/* Initial free blocks of [@first, @last) 2M blocks: largest aligned first. */
static void node_free_range(struct m2d_phys_node *node, uint64_t first, uint64_t last)
{
	while (first < last) {
		unsigned order = M2D_MAX_ORDER;

		while (order > M2D_PMD_ORDER &&
		       ((first & ((1ull << (order - M2D_PMD_ORDER)) - 1)) ||
			first + (1ull << (order - M2D_PMD_ORDER)) > last))
			order--;
		big_set(node, order, first);
		node->free_pages += 1ull << order;
		first += 1ull << (order - M2D_PMD_ORDER);
	}
}

static int node_init(struct m2d_phys_node *node, unsigned nid, uint64_t start_pfn,
		     uint64_t nr_pages)
{
	int ret;

	node->nid = nid;
	node->start_pfn = start_pfn;
	node->end_pfn = start_pfn + nr_pages;
	node->base2m = (start_pfn >> 9) & ~511ull;
	node->nr_2m = (node->end_pfn >> 9) - node->base2m;
	node->nr_1g = M2D_DIV_ROUND_UP(node->nr_2m, 512);
	spin_lock_init(&node->lock, "zone->lock", M2D_RANK_ZONE);
	for (unsigned o = M2D_PMD_ORDER; o <= M2D_MAX_ORDER; o++) {
		ret = hb_init(&node->big[o],
			      M2D_DIV_ROUND_UP(node->nr_2m, 1ull << (o - M2D_PMD_ORDER)));
		if (ret)
			return ret;
	}
	for (unsigned o = 0; o < SMALL_ORDERS; o++) {
		ret = hb_init(&node->has_small[o], node->nr_2m);
		if (ret)
			return ret;
	}
	node->gmap = m2d_calloc(M2D_ALLOC_PHYSMEM, node->nr_1g, sizeof(void *));
	if (!node->gmap)
		return -ENOMEM;
	node_free_range(node, rel2m_of(node, start_pfn), rel2m_of(node, node->end_pfn));
	return 0;
}

static void node_fini(struct m2d_phys_node *node)
{
	for (uint64_t i = 0; node->gmap && i < node->nr_1g; i++) {
		void *e = node->gmap[i];

		if (!e)
			continue;
		if (gmap_is_folio(e)) {
			m2d_free(M2D_ALLOC_PHYSMEM, gmap_folio(e), sizeof(struct m2d_folio));
			continue;
		}
		struct gig *g = e;

		for (unsigned j = 0; j < PAGES_PER_2M; j++)
			m2d_free(M2D_ALLOC_PHYSMEM, g->split[j], sizeof(struct split2m));
		m2d_free(M2D_ALLOC_PHYSMEM, g, sizeof(*g));
	}
	m2d_free(M2D_ALLOC_PHYSMEM, node->gmap, node->nr_1g * sizeof(void *));
	for (unsigned o = 0; o < M2D_NR_ORDERS; o++) {
		hb_fini(&node->big[o]);
		m2d_free(M2D_ALLOC_PHYSMEM, node->filler[o].v,
			 node->filler[o].cap * sizeof(struct m2d_folio *));
	}
	for (unsigned o = 0; o < SMALL_ORDERS; o++)
		hb_fini(&node->has_small[o]);
	m2d_lock_fini(&node->lock.c);
}

/*
 * The zonelist of @nid: nodes by increasing distance; ties prefer nodes
 * after @nid (find_next_best_node() penalises n < node), then node id.
 */
static void build_zonelist(struct m2d_host *host, unsigned nid)
{
	bool used[M2D_MAX_NODES] = { false };

	for (unsigned i = 0; i < host->nr_nodes; i++) {
		int best = -1;
		long best_val = 0;

		for (unsigned n = 0; n < host->nr_nodes; n++) {
			long val;

			if (used[n])
				continue;
			val = (n == nid ? 0 : (long)m2d_node_distance((int)nid, (int)n)) * 2 +
			      (n < nid);
			if (best < 0 || val < best_val) {
				best = (int)n;
				best_val = val;
			}
		}
		used[best] = true;
		host->nodes[nid].fallback[i] = (unsigned)best;
	}
}

static int host_layout(struct m2d_host *host, const struct m2d_host_config *cfg)
{
	uint64_t pfn = cfg->base_pfn, end = cfg->base_pfn;
	int ret;

	/* Check the whole layout first: it must fit the 4-level direct map (64 TiB). */
	for (unsigned n = 0; n < host->nr_nodes; n++) {
		uint64_t bytes = cfg->node_bytes[0] ? cfg->node_bytes[n] : cfg->mem_bytes / cfg->nodes;

		if (!bytes || !M2D_IS_ALIGNED(bytes, M2D_PMD_SIZE) || bytes > M2D_DIRECTMAP_MAX_BYTES)
			return -EINVAL;
		if (n)
			end = M2D_ALIGN_UP(end, M2D_PUD_SIZE >> M2D_PAGE_SHIFT);
		end += bytes >> M2D_PAGE_SHIFT;
		if (end > (M2D_DIRECTMAP_MAX_BYTES >> M2D_PAGE_SHIFT))
			return -EINVAL;
	}
	for (unsigned n = 0; n < host->nr_nodes; n++) {
		uint64_t bytes = cfg->node_bytes[0] ? cfg->node_bytes[n] : cfg->mem_bytes / cfg->nodes;

		if (!bytes || !M2D_IS_ALIGNED(bytes, M2D_PMD_SIZE))
			return -EINVAL;
		if (n)
			pfn = M2D_ALIGN_UP(pfn, M2D_PUD_SIZE >> M2D_PAGE_SHIFT);
		ret = node_init(&host->nodes[n], n, pfn, bytes >> M2D_PAGE_SHIFT);
		if (ret)
			return ret;
		pfn += bytes >> M2D_PAGE_SHIFT;
	}
	host->start_pfn = host->nodes[0].start_pfn;
	host->end_pfn = host->nodes[host->nr_nodes - 1].end_pfn;
	return 0;
}

int m2d_host_create(struct m2d_sim *sim, const struct m2d_host_config *cfg,
		    struct m2d_host **out)
{
	struct m2d_host *host;
	int ret;

	if (!(sim && cfg && out))
		return -EINVAL;
	if (!(cfg->nodes >= 1 && cfg->nodes <= M2D_MAX_NODES))
		return -EINVAL;
	if (!(cfg->node_bytes[0] || M2D_IS_ALIGNED(cfg->mem_bytes / cfg->nodes, M2D_PMD_SIZE)))
		return -EINVAL;
	if (!M2D_IS_ALIGNED(cfg->base_pfn, PAGES_PER_2M))
		return -EINVAL;
	if (!(cfg->directmap_max_level >= M2D_LEVEL_4K && cfg->directmap_max_level <= M2D_LEVEL_1G))
		return -EINVAL;
	if (!(cfg->cpa_lock == M2D_CPA_LOCK_GLOBAL || cfg->cpa_lock == M2D_CPA_LOCK_NONE))
		return -EINVAL;

	host = m2d_zalloc(M2D_ALLOC_PHYSMEM, sizeof(*host));
	if (!host)
		return -ENOMEM;
	host->sim = sim;
	host->cfg = *cfg;
	host->nr_nodes = cfg->nodes;
	host->nodes = m2d_calloc(M2D_ALLOC_PHYSMEM, cfg->nodes, sizeof(*host->nodes));
	if (!host->nodes) {
		ret = -ENOMEM;
		goto err_free_host;
	}
	m2d_engine_enter(sim);
	ret = host_layout(host, cfg);
	for (unsigned n = 0; !ret && n < host->nr_nodes; n++)
		build_zonelist(host, n);
	if (!ret)
		ret = hugetlb_fault_mutex_table_init(host);
	if (!ret)
		ret = m2d_directmap_create(host);
	m2d_engine_leave(sim);
	if (ret)
		goto err_free_host;
	*out = host;
	return 0;

err_free_host:
	m2d_host_destroy(&host);
	return ret;
}

void m2d_host_destroy(struct m2d_host **hostp)
{
	struct m2d_host *host = hostp ? *hostp : NULL;
	struct pmc_table *pmc;

	if (!host)
		return;
	m2d_engine_enter(host->sim); /* table pages still waiting for RCU */
	if (host->rmp_destroy)
		host->rmp_destroy(host);
	m2d_directmap_destroy(host);
	hugetlb_fault_mutex_table_fini(host);
	m2d_engine_leave(host->sim);
	pmc = host->subpage_mapcounts;
	if (pmc) {
		for (uint64_t i = 0; i < pmc->cap; i++)
			if (pmc->e[i].pfn)
				m2d_free(M2D_ALLOC_PHYSMEM, pmc->e[i].counts,
					 pmc->e[i].nr * sizeof(int32_t));
		m2d_free(M2D_ALLOC_PHYSMEM, pmc->e, pmc->cap * sizeof(*pmc->e));
		m2d_free(M2D_ALLOC_PHYSMEM, pmc, sizeof(*pmc));
	}
	for (unsigned n = 0; host->nodes && n < host->nr_nodes; n++)
		node_fini(&host->nodes[n]);
	m2d_free(M2D_ALLOC_PHYSMEM, host->nodes, host->nr_nodes * sizeof(*host->nodes));
	m2d_free(M2D_ALLOC_PHYSMEM, host, sizeof(*host));
	*hostp = NULL;
}

unsigned m2d_host_nr_nodes(const struct m2d_host *host)
{
	return host ? host->nr_nodes : 0;
}

int m2d_host_node_range(const struct m2d_host *host, unsigned nid, uint64_t *start,
			uint64_t *nr)
{
	if (!(host && start && nr && nid < host->nr_nodes))
		return -EINVAL;
	*start = host->nodes[nid].start_pfn;
	*nr = host->nodes[nid].end_pfn - host->nodes[nid].start_pfn;
	return 0;
}

int m2d_host_pfn_node(const struct m2d_host *host, uint64_t pfn)
{
	const struct m2d_phys_node *node;

	if (!host)
		return -EINVAL;
	node = pfn_node(host, pfn);
	return node ? (int)node->nid : -EINVAL;
}

int m2d_physmem_buddyinfo(const struct m2d_host *host, unsigned nid,
			  uint64_t out[M2D_NR_ORDERS])
{
	if (!(host && out && nid < host->nr_nodes))
		return -EINVAL;
	memcpy(out, host->nodes[nid].nr_free, sizeof(host->nodes[nid].nr_free));
	return 0;
}

uint64_t m2d_physmem_free_pages(const struct m2d_host *host, int nid)
{
	uint64_t sum = 0;

	if (!host || nid >= (int)host->nr_nodes)
		return 0;
	if (nid >= 0)
		return host->nodes[nid].free_pages;
	for (unsigned n = 0; n < host->nr_nodes; n++)
		sum += host->nodes[n].free_pages;
	return sum;
}

uint64_t m2d_physmem_split_blocks(const struct m2d_host *host)
{
	uint64_t sum = 0;

	for (unsigned n = 0; host && n < host->nr_nodes; n++)
		sum += host->nodes[n].nr_split;
	return sum;
}

/* ---- folios ------------------------------------------------------------------ */

/*
 * m2d_folio_alloc() mirrors __alloc_pages(): walk the zonelist of the
 * preferred node (get_page_from_freelist), each node under its zone->lock.
 */
int m2d_folio_alloc(struct m2d_host *host, unsigned order, int nid, unsigned flags,
		    struct m2d_folio **out)
{
	unsigned pref;
	int ret = -ENOMEM;

	if (!(host && out && order <= M2D_MAX_ORDER))
		return -EINVAL;
	if (!(nid >= -1 && nid < (int)host->nr_nodes))
		return -EINVAL;
	if (flags & ~M2D_GFP_THISNODE)
		return -EINVAL;
	if (nid < 0) { /* numa_node_id() */
		int local = m2d_cpu_node(m2d_current_cpu());

		nid = local >= 0 && local < (int)host->nr_nodes ? local : 0;
	}
	pref = (unsigned)nid;
	m2d_delay(M2D_COST_BUDDY_ALLOC, 1);
	for (unsigned i = 0; i < host->nr_nodes; i++) {
		struct m2d_phys_node *node = &host->nodes[host->nodes[pref].fallback[i]];

		if (i && (flags & M2D_GFP_THISNODE))
			break;
		spin_lock(&node->lock);
		ret = rmqueue(node, order, out);
		spin_unlock(&node->lock);
		if (!ret) {
			if (i)
				m2d_count(M2D_CTR_page_alloc_fallbacks, 1);
			break;
		}
	}
	return ret;
}

void m2d_folio_get(struct m2d_folio *folio)
{
	M2D_BUG_ON(uatomic_add_return(&folio->refcount, 1) <= 1);
}

/* free_pages_prepare() + __free_pages_ok(): the folio's memory goes back. */
static void folio_free(struct m2d_host *host, struct m2d_folio *folio)
{
	struct m2d_phys_node *node = &host->nodes[folio->nid];
	uint64_t pfn = folio->pfn;
	unsigned order = folio->order;

	M2D_BUG_ON(folio->large_mapcount || folio->entire_mapcount);
	if (folio->flags & M2D_FOLIO_PAGE_MAPCOUNTS) {
		struct pmc_entry *e = pmc_find(host->subpage_mapcounts, pfn);

		if (ALWAYS(e))
			pmc_remove(host->subpage_mapcounts, e);
	}
	m2d_delay(M2D_COST_BUDDY_FREE, 1);
	spin_lock(&node->lock);
	folio_uninstall(node, folio);
	free_one_page(node, pfn, order);
	spin_unlock(&node->lock);
}

void m2d_folio_put(struct m2d_host *host, struct m2d_folio *folio)
{
	int r;

	if (!folio)
		return;
	r = uatomic_sub_return(&folio->refcount, 1);
	M2D_BUG_ON(r < 0);
	if (r == 0)
		folio_free(host, folio);
}

struct m2d_folio *m2d_pfn_folio(const struct m2d_host *host, uint64_t pfn)
{
	const struct m2d_phys_node *node;
	struct m2d_folio *f;
	uint64_t rel2m;
	void *e;
	struct gig *g;

	if (!host)
		return NULL;
	node = pfn_node(host, pfn);
	if (!node)
		return NULL;
	rel2m = rel2m_of(node, pfn);
	e = node->gmap[rel2m >> 9];
	if (!e)
		return NULL;
	if (gmap_is_folio(e))
		return gmap_folio(e);
	g = e;
	if (g->split[rel2m & 511]) {
		struct split2m *sb = g->split[rel2m & 511];
		unsigned off = (unsigned)(pfn & 511);

		for (unsigned o = 0; o < M2D_PMD_ORDER; o++) {
			f = &sb->memmap[off & ~((1u << o) - 1)];
			if (f->flags & M2D_FOLIO_HEAD)
				return f->pfn + (1ull << f->order) > pfn ? f : NULL;
		}
		return NULL;
	}
	for (unsigned o = 0; o < M2D_MAX_ORDER - M2D_PMD_ORDER; o++) {
		f = &g->head[(rel2m & 511) & ~((1u << o) - 1)];
		if (f->flags & M2D_FOLIO_HEAD)
			return f->pfn + (1ull << f->order) > pfn ? f : NULL;
	}
	return NULL;
}

/*
 * Split the metadata of an allocated folio (under zone->lock).  Everything
 * the pieces need is allocated first, so failure leaves the folio intact.
 */
static int split_folio_locked(struct m2d_phys_node *node, struct m2d_folio *folio,
			      unsigned new_order)
{
	struct m2d_folio tmpl = *folio;
	uint64_t rel2m = rel2m_of(node, folio->pfn);
	uint64_t nr = 1ull << (folio->order - new_order);
	bool big = folio->order >= M2D_PMD_ORDER;
	uint64_t n2m = big ? 1ull << (folio->order - M2D_PMD_ORDER) : 0;
	struct split2m *sbs[PAGES_PER_2M] = { NULL };
	struct gig *g = NULL;

	tmpl.flags &= (uint16_t)~M2D_FOLIO_PAGE_MAPCOUNTS;
	tmpl.order = (uint8_t)new_order;
	if (folio->order == M2D_MAX_ORDER)
		g = m2d_zalloc(M2D_ALLOC_PHYSMEM, sizeof(*g)); /* replaces the 1G entry */
	else if (big)
		g = gmap_gig(node, rel2m);
	if (big && !g)
		return -ENOMEM;
	if (big && new_order < M2D_PMD_ORDER) {
		/* Every 2M of the folio becomes a split block. */
		for (uint64_t i = 0; i < n2m; i++) {
			sbs[i] = m2d_zalloc(M2D_ALLOC_PHYSMEM, sizeof(struct split2m));
			if (!sbs[i])
				goto err_free_blocks;
		}
		for (uint64_t i = 0; i < n2m; i++) {
			g->split[(rel2m + i) & 511] = sbs[i];
			g->used++;
			node->nr_split++;
		}
	}
	/* Remove the old head. */
	if (folio->order == M2D_MAX_ORDER) {
		m2d_free(M2D_ALLOC_PHYSMEM, folio, sizeof(*folio));
		node->gmap[rel2m >> 9] = g;
	} else if (big) {
		memset(folio, 0, sizeof(*folio));
		g->used--; /* cannot reach 0: the pieces or split blocks hold it */
	}
	for (uint64_t i = 0; i < nr; i++) {
		uint64_t pfn = tmpl.pfn + (i << new_order);
		uint64_t r2 = rel2m_of(node, pfn);
		struct m2d_folio *f;

		if (new_order >= M2D_PMD_ORDER) {
			f = &g->head[r2 & 511];
			g->used++;
		} else {
			f = &split_block(node, r2)->memmap[pfn & 511];
		}
		*f = tmpl;
		f->pfn = pfn;
	}
	return 0;

err_free_blocks:
	for (uint64_t i = 0; i < n2m; i++)
		m2d_free(M2D_ALLOC_PHYSMEM, sbs[i], sizeof(struct split2m));
	if (folio->order == M2D_MAX_ORDER)
		m2d_free(M2D_ALLOC_PHYSMEM, g, sizeof(*g));
	return -ENOMEM;
}

int m2d_folio_split(struct m2d_host *host, struct m2d_folio *folio, unsigned new_order)
{
	struct m2d_phys_node *node;
	int ret;

	if (!(host && folio && new_order < folio->order))
		return -EINVAL;
	if (folio->refcount != 1 || folio->large_mapcount || folio->entire_mapcount)
		return -EBUSY;
	if (folio->flags & M2D_FOLIO_PAGE_MAPCOUNTS) {
		struct pmc_entry *e = pmc_find(host->subpage_mapcounts, folio->pfn);

		if (ALWAYS(e))
			pmc_remove(host->subpage_mapcounts, e);
	}
	node = &host->nodes[folio->nid];
	spin_lock(&node->lock);
	ret = split_folio_locked(node, folio, new_order);
	spin_unlock(&node->lock);
	return ret;
}

uint64_t m2d_folio_pfn(const struct m2d_folio *folio)
{
	return folio->pfn;
}

unsigned m2d_folio_order(const struct m2d_folio *folio)
{
	return folio->order;
}

unsigned m2d_folio_nid(const struct m2d_folio *folio)
{
	return folio->nid;
}

uint64_t m2d_folio_nr_pages(const struct m2d_folio *folio)
{
	return 1ull << folio->order;
}

int m2d_folio_ref_count(const struct m2d_folio *folio)
{
	return uatomic_read(&folio->refcount);
}

/* ---- mapcounts ---------------------------------------------------------------- */

static void add_atomics(uint64_t *atomics, uint64_t n)
{
	if (atomics)
		*atomics += n;
}

/* folio_add_file_rmap_pmd/pud: _entire_mapcount and _large_mapcount. */
int m2d_folio_add_entire_map(struct m2d_folio *folio, uint64_t *atomics)
{
	if (!(folio && folio->order > 0))
		return -EINVAL;
	uatomic_inc(&folio->entire_mapcount);
	uatomic_inc(&folio->large_mapcount);
	add_atomics(atomics, 2);
	return 0;
}

int m2d_folio_remove_entire_map(struct m2d_folio *folio, uint64_t *atomics)
{
	if (!(folio && folio->order > 0 && folio->entire_mapcount > 0))
		return -EINVAL;
	uatomic_dec(&folio->entire_mapcount);
	uatomic_dec(&folio->large_mapcount);
	add_atomics(atomics, 2);
	return 0;
}

static int32_t *page_mapcounts(struct m2d_host *host, struct m2d_folio *folio, bool create)
{
	struct pmc_table *t = host->subpage_mapcounts;
	struct pmc_entry *e = pmc_find(t, folio->pfn);
	uint64_t nr = 1ull << folio->order;
	int32_t *counts;

	if (e || !create)
		return e ? e->counts : NULL;
	if (!t) {
		t = m2d_zalloc(M2D_ALLOC_PHYSMEM, sizeof(*t));
		if (!t)
			return NULL;
		host->subpage_mapcounts = t;
	}
	counts = m2d_calloc(M2D_ALLOC_PHYSMEM, nr, sizeof(int32_t));
	if (!counts)
		return NULL;
	if (pmc_insert(t, folio->pfn, counts, nr)) {
		m2d_free(M2D_ALLOC_PHYSMEM, counts, nr * sizeof(int32_t));
		return NULL;
	}
	folio->flags |= M2D_FOLIO_PAGE_MAPCOUNTS;
	return counts;
}

/*
 * __folio_add_rmap(RMAP_LEVEL_PTE): one atomic_inc of page->_mapcount per
 * subpage, one atomic_add of @nr to _large_mapcount.
 */
int m2d_folio_add_subpage_maps(struct m2d_host *host, struct m2d_folio *folio, uint64_t first,
			       uint64_t nr, uint64_t *atomics)
{
	int32_t *counts;

	if (!(host && folio && nr > 0))
		return -EINVAL;
	if (!(first < (1ull << folio->order) && nr <= (1ull << folio->order) - first))
		return -EINVAL;
	if (folio->order == 0) {
		uatomic_inc(&folio->large_mapcount);
		add_atomics(atomics, 1);
		return 0;
	}
	counts = page_mapcounts(host, folio, true);
	if (!counts)
		return -ENOMEM;
	for (uint64_t i = 0; i < nr; i++)
		uatomic_inc(&counts[first + i]);
	uatomic_add(&folio->large_mapcount, (int32_t)nr);
	add_atomics(atomics, nr + 1);
	return 0;
}

int m2d_folio_remove_subpage_maps(struct m2d_host *host, struct m2d_folio *folio,
				  uint64_t first, uint64_t nr, uint64_t *atomics)
{
	int32_t *counts;

	if (!(host && folio && nr > 0))
		return -EINVAL;
	if (!(first < (1ull << folio->order) && nr <= (1ull << folio->order) - first))
		return -EINVAL;
	if (folio->large_mapcount < (int64_t)nr)
		return -EINVAL;
	if (folio->order == 0) {
		uatomic_dec(&folio->large_mapcount);
		add_atomics(atomics, 1);
		return 0;
	}
	counts = page_mapcounts(host, folio, false);
	if (!counts)
		return -EINVAL;
	for (uint64_t i = 0; i < nr; i++)
		if (counts[first + i] <= 0)
		return -EINVAL;
	for (uint64_t i = 0; i < nr; i++)
		uatomic_dec(&counts[first + i]);
	uatomic_sub(&folio->large_mapcount, (int32_t)nr);
	add_atomics(atomics, nr + 1);
	return 0;
}

int m2d_folio_add_head_maps(struct m2d_folio *folio, uint64_t nr, uint64_t *atomics)
{
	if (!(folio && nr > 0 && nr <= INT32_MAX))
		return -EINVAL;
	uatomic_add(&folio->large_mapcount, (int32_t)nr);
	add_atomics(atomics, 1);
	return 0;
}

int m2d_folio_remove_head_maps(struct m2d_folio *folio, uint64_t nr, uint64_t *atomics)
{
	if (!(folio && nr > 0 && (int64_t)nr <= folio->large_mapcount))
		return -EINVAL;
	uatomic_sub(&folio->large_mapcount, (int32_t)nr);
	add_atomics(atomics, 1);
	return 0;
}

int64_t m2d_folio_mapcount(const struct m2d_folio *folio)
{
	return uatomic_read(&folio->large_mapcount);
}

int64_t m2d_folio_entire_mapcount(const struct m2d_folio *folio)
{
	return uatomic_read(&folio->entire_mapcount);
}

int64_t m2d_folio_page_mapcount(const struct m2d_host *host, const struct m2d_folio *folio,
				uint64_t idx)
{
	struct pmc_entry *e;

	if (!host || !folio || idx >= (1ull << folio->order))
		return 0;
	if (folio->order == 0)
		return uatomic_read(&folio->large_mapcount);
	e = pmc_find(host->subpage_mapcounts, folio->pfn);
	return e ? uatomic_read(&e->counts[idx]) : 0;
}

bool m2d_folio_has_page_mapcounts(const struct m2d_host *host, const struct m2d_folio *folio)
{
	return folio && (folio->flags & M2D_FOLIO_PAGE_MAPCOUNTS);
}

/* ---- pre-fragmentation ------------------------------------------------------------ */

/* Track @f as filler; if that fails, give it back (the caller then releases all filler). */
static int filler_push(struct m2d_host *host, struct m2d_phys_node *node, struct m2d_folio *f)
{
	struct filler_stack *s = &node->filler[f->order];

	if (s->nr == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		void *nv = m2d_realloc(M2D_ALLOC_PHYSMEM, s->v, s->cap * sizeof(*s->v),
				       ncap * sizeof(*s->v));

		if (!nv) {
			m2d_folio_put(host, f);
			return -ENOMEM;
		}
		s->v = nv;
		s->cap = ncap;
	}
	f->flags |= M2D_FOLIO_FILLER;
	s->v[s->nr++] = f;
	return 0;
}

static bool node_has_filler(const struct m2d_phys_node *node)
{
	for (unsigned o = 0; o < M2D_NR_ORDERS; o++)
		if (node->filler[o].nr)
			return true;
	return false;
}

/*
 * Split filler folio @f (order > @order) into pieces of @order, all pushed
 * as filler, the lowest last (so it is popped first).
 */
static int filler_split(struct m2d_host *host, struct m2d_phys_node *node, struct m2d_folio *f,
			unsigned order)
{
	uint64_t pfn = f->pfn, nr = 1ull << (f->order - order), i = nr;
	int ret = m2d_folio_split(host, f, order);

	if (ret) {
		m2d_folio_put(host, f); /* not split, no longer tracked */
		return ret;
	}
	while (!ret && i-- > 0)
		ret = filler_push(host, node, m2d_pfn_folio(host, pfn + (i << order)));
	while (ret && i-- > 0) /* the pieces not pushed yet go back */
		m2d_folio_put(host, m2d_pfn_folio(host, pfn + (i << order)));
	return ret;
}

/*
 * Pop a filler piece of order @want into *@out, splitting the most recently
 * pushed filler of the smallest larger order if none is left.
 * Return: 0, -ENOSPC (no filler large enough), -ENOMEM.
 */
static int filler_take(struct m2d_host *host, struct m2d_phys_node *node, unsigned want,
		       struct m2d_folio **out)
{
	for (unsigned o = want; o <= M2D_MAX_ORDER; o++) {
		struct filler_stack *s = &node->filler[o];
		struct m2d_folio *f;
		int ret;

		if (!s->nr)
			continue;
		f = s->v[--s->nr];
		if (o != want) {
			ret = filler_split(host, node, f, want);
			if (ret)
				return ret;
			s = &node->filler[want];
			f = s->v[--s->nr];
		}
		*out = f;
		return 0;
	}
	return -ENOSPC; /* free memory too fragmented for the target */
}

int m2d_physmem_prefragment(struct m2d_host *host, unsigned nid,
			    const uint64_t target[M2D_NR_ORDERS])
{
	struct m2d_phys_node *node;
	uint64_t need = 0;
	int ret = 0;

	if (!(host && target && nid < host->nr_nodes))
		return -EINVAL;
	node = &host->nodes[nid];
	if (node_has_filler(node))
		return -EBUSY;
	for (unsigned o = 0; o < M2D_NR_ORDERS; o++) {
		uint64_t per = o == M2D_MAX_ORDER ? 1ull << o : 2ull << o;

		if (target[o] > node->free_pages / per)
			return -ENOSPC;
		need += target[o] * per;
	}
	if (need > node->free_pages)
		return -ENOSPC;

	/* 1. Every free block of the node becomes a filler folio. */
	for (int o = M2D_MAX_ORDER; o >= 0 && !ret; o--) {
		struct m2d_folio *f;

		while (!ret && node->nr_free[o]) {
			ret = m2d_folio_alloc(host, (unsigned)o, (int)nid, M2D_GFP_THISNODE, &f);
			if (!ret)
				ret = filler_push(host, node, f);
		}
	}
	/* 2. Cut the target blocks out, highest order first. */
	for (int o = M2D_MAX_ORDER; o >= 0 && !ret; o--) {
		for (uint64_t i = 0; i < target[o] && !ret; i++) {
			unsigned want = o == M2D_MAX_ORDER ? M2D_MAX_ORDER : (unsigned)o + 1;
			struct m2d_folio *f;
			uint64_t pfn;

			ret = filler_take(host, node, want, &f);
			if (ret)
				break;
			pfn = f->pfn;
			if (want != (unsigned)o) {
				ret = m2d_folio_split(host, f, (unsigned)o);
				if (ret) {
					m2d_folio_put(host, f);
					break;
				}
				ret = filler_push(host, node, m2d_pfn_folio(host, pfn + (1ull << o)));
				f = m2d_pfn_folio(host, pfn);
				if (ret) {
					m2d_folio_put(host, f);
					break;
				}
			}
			f->flags &= (uint16_t)~M2D_FOLIO_FILLER;
			m2d_folio_put(host, f);
		}
	}
	if (ret)
		m2d_physmem_release_filler(host, nid);
	return ret;
}

int m2d_physmem_release_filler(struct m2d_host *host, unsigned nid)
{
	struct m2d_phys_node *node;

	if (!(host && nid < host->nr_nodes))
		return -EINVAL;
	node = &host->nodes[nid];
	for (unsigned o = 0; o < M2D_NR_ORDERS; o++) {
		struct filler_stack *s = &node->filler[o];

		while (s->nr) {
			struct m2d_folio *f = s->v[--s->nr];

			f->flags &= (uint16_t)~M2D_FOLIO_FILLER;
			m2d_folio_put(host, f);
		}
	}
	return 0;
}
