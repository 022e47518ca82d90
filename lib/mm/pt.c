// SPDX-License-Identifier: MIT
/*
 * lib/mm/pt.c - radix page tables: table pages, the bookkeeping choke
 * point, and the range operations (map, unmap, split, collapse, protect,
 * test-and-clear A/D, walk).
 *
 * Sources: arch/x86/kvm/mmu/tdp_mmu.c (handle_changed_spte,
 * handle_removed_pt, tdp_mmu_split_huge_page, tdp_mmu_zap_leafs,
 * RCU-deferred tdp_mmu_free_sp_rcu_callback), arch/arm64/kvm/hyp/pgtable.c
 * (stage2 map/unmap walkers), mm/huge_memory.c (split on partial unmap).
 *
 * Operations.  Every store to an entry of a linked table goes through
 * set_pte(), the choke point (STYLE R24).  It:
 *   - keeps the per-table count of present entries (metadata of the page
 *     holding the entry),
 *   - keeps the shape statistics (present leaves and linked tables per level),
 *   - calls the table's change hook once, after the store,
 *   - when a present non-leaf entry is replaced, unlinks the child subtree
 *     (handle_removed_pt(): every present entry below is zeroed and reported
 *     to the hook as a change to 0, pre-order) and frees its pages through
 *     m2d_call_rcu,
 *   - when a present non-leaf entry is installed, links the new child:
 *     a table filled before it became reachable (a split, KVM's eager split)
 *     is scanned, its present entries are counted and reported to the hook
 *     as changes from 0, pre-order.
 *   So the hook's event stream alone describes the tree: replaying it into
 *   a flat map gives exactly the set of present leaves.
 *
 *   Stores into a table that is not linked (being built) are plain: they
 *   are accounted when the table is linked.
 *
 * Ordering guarantees: entries are read with acquire loads and written with
 *   release stores (pt_read/pt_write), so a walker that sees a non-leaf
 *   entry sees the child's contents as they were when it was linked.
 *   Compare-and-exchange setters (pt_iter.c) are sequentially consistent.
 *
 * Progress guarantees: the range operations here are exclusive (the caller
 *   holds the lock that makes it the only writer) and do not yield.  Long
 *   walks that must yield use the iterator (pt_iter.c).
 *
 * Who frees what: the thread that unlinks a table (the set_pte() caller
 *   whose store replaced the non-leaf entry) queues its pages for RCU; the
 *   RCU callback returns them to the table's free list.  Pages are reused
 *   only after that, so a lockless walker that read the old non-leaf entry
 *   under m2d_rcu_read_lock() still reads a (zeroed) table page.
 *   m2d_pt_destroy() waits for pending callbacks with m2d_rcu_barrier().
 */
#include "mm/pt.h"

#include "core/alloc.h"

#include <errno.h>
#include <string.h>

/* ---- table pages ---------------------------------------------------------- */

static uint64_t *page_alloc(struct m2d_pt *pt)
{
	struct pt_chunk *c = pt->chunks;
	uint64_t *p = pt->free_list;

	if (p) {
		pt->free_list = (uint64_t *)(uintptr_t)p[0];
		p[0] = 0;
	} else {
		if (!c || c->used == M2D_PT_PAGES_PER_CHUNK) {
			c = m2d_aligned_zalloc(M2D_ALLOC_PT_PAGE, M2D_PT_CHUNK_SIZE, M2D_PT_CHUNK_SIZE);
			if (!c)
				return NULL;
			c->pt = pt;
			c->used = 1; /* page 0 is the header */
			c->next = pt->chunks;
			pt->chunks = c;
			pt->nr_chunks++;
		}
		p = (uint64_t *)((char *)c + (uint64_t)c->used * M2D_PT_PAGE_SIZE);
		c->used++;
	}
	pt->pages_live++;
	pt->stats.table_bytes += M2D_PT_PAGE_SIZE;
	return p;
}

/* Return a zeroed, unlinked page to the free list. */
static void page_free(struct m2d_pt *pt, uint64_t *page)
{
	struct pt_page_meta *m = pt_meta(page);

	m->level = 0;
	m->flags = 0;
	m->count = 0;
	page[0] = (uint64_t)(uintptr_t)pt->free_list;
	pt->free_list = page;
	pt->pages_live--;
	pt->stats.table_bytes -= M2D_PT_PAGE_SIZE;
}

static uint64_t *meta_page(struct pt_page_meta *m)
{
	struct pt_chunk *c = pt_chunk_of(m);

	return (uint64_t *)((char *)c + (uint64_t)(m - c->meta) * M2D_PT_PAGE_SIZE);
}

/* Mirrors tdp_mmu_free_sp_rcu_callback(). */
static void free_table_rcu(struct m2d_rcu_head *head)
{
	struct pt_page_meta *m = container_of(head, struct pt_page_meta, rcu);
	struct m2d_pt *pt = pt_chunk_of(m)->pt;

	pt->stats.tables_pending_free--;
	page_free(pt, meta_page(m));
}

static uint64_t *table_alloc(struct m2d_pt *pt, int level)
{
	uint64_t *p = page_alloc(pt);

	if (p) {
		struct pt_page_meta *m = pt_meta(p);

		m->level = (uint8_t)level;
		m->flags = 0;
		m->count = 0;
	}
	return p;
}

/* ---- the choke point ------------------------------------------------------- */

static inline void stat_add(uint64_t *v, int64_t d, bool shared)
{
	if (shared)
		uatomic_add(v, (uint64_t)d);
	else
		*v += (uint64_t)d;
}

static void handle_changed_pte(struct m2d_pt *pt, uint64_t addr, int level, uint64_t old_pte,
			       uint64_t new_pte, bool shared);

/*
 * handle_removed_pt() - account the unlinking of @table (entries at @level,
 * first address @addr): zero and report every entry below it, then queue
 * the pages for RCU.  Mirrors handle_removed_pt(): in shared mode each
 * entry is exchanged atomically so a racing cmpxchg on it fails.
 */
static void handle_removed_pt(struct m2d_pt *pt, uint64_t *table, uint64_t addr, int level,
			      bool shared)
{
	struct pt_page_meta *m = pt_meta(table);
	uint64_t size = m2d_level_size(level);

	M2D_BUG_ON(!(m->flags & PT_PAGE_LINKED) || m->level != level);
	m->flags &= (uint8_t)~PT_PAGE_LINKED;
	stat_add(&pt->stats.tables[level], -1, shared);

	for (unsigned i = 0; i < M2D_PT_ENTRIES; i++) {
		uint64_t old;

		if (shared) {
			old = __atomic_exchange_n(&table[i], 0, __ATOMIC_SEQ_CST);
		} else {
			old = pt_read(&table[i]);
			if (!old)
				continue;
			pt_write(&table[i], 0);
		}
		if (old)
			handle_changed_pte(pt, addr + i * size, level, old, 0, shared);
	}
	m->count = 0;
	m->flags |= PT_PAGE_PENDING;
	stat_add(&pt->stats.tables_pending_free, 1, shared);
	m2d_call_rcu(&m->rcu, free_table_rcu);
}

/*
 * handle_linked_pt() - account the linking of @table: count its present
 * entries, report each to the hook as a change from 0 (pre-order), and
 * link its own children.
 */
static void handle_linked_pt(struct m2d_pt *pt, uint64_t *table, uint64_t addr, int level,
			     bool shared)
{
	struct pt_page_meta *m = pt_meta(table);
	uint64_t size = m2d_level_size(level);
	unsigned count = 0;

	M2D_BUG_ON(m->flags & (PT_PAGE_LINKED | PT_PAGE_PENDING));
	M2D_BUG_ON(m->level != level);
	m->flags |= PT_PAGE_LINKED;
	stat_add(&pt->stats.tables[level], 1, shared);
	for (unsigned i = 0; i < M2D_PT_ENTRIES; i++) {
		uint64_t e = pt_read(&table[i]);

		if (!e)
			continue;
		if (pt_is_present(pt->format, e))
			count++;
		handle_changed_pte(pt, addr + i * size, level, 0, e, shared);
	}
	m->count = (uint16_t)count;
}

/*
 * handle_changed_pte() - the accounting of one entry change (the kernel's
 * handle_changed_spte()): leaf statistics, the change hook, then the
 * unlinking of a replaced child table and the linking of a new one.
 * The per-table present count is kept by the caller (set_pte) for the
 * changed entry itself.
 */
static void handle_changed_pte(struct m2d_pt *pt, uint64_t addr, int level, uint64_t old_pte,
			       uint64_t new_pte, bool shared)
{
	enum m2d_pt_format fmt = pt->format;
	bool was_leaf = pt_is_leaf(fmt, old_pte, level);
	bool is_leaf = pt_is_leaf(fmt, new_pte, level);
	uint64_t *old_child, *new_child;

	if (was_leaf != is_leaf)
		stat_add(&pt->stats.leaves[level], is_leaf ? 1 : -1, shared);
	if (pt->changed)
		pt->changed(pt->changed_priv, addr, old_pte, new_pte, level, shared);
	if (level == M2D_LEVEL_4K)
		return;
	old_child = was_leaf ? NULL : pt_child(fmt, old_pte, level);
	new_child = is_leaf ? NULL : pt_child(fmt, new_pte, level);
	if (old_child == new_child)
		return;
	if (old_child)
		handle_removed_pt(pt, old_child, addr, level - 1, shared);
	if (new_child)
		handle_linked_pt(pt, new_child, addr, level - 1, shared);
}

/*
 * set_pte() - store @new_pte at @ptep (an entry at @level mapping @addr,
 * currently @old_pte) and do the bookkeeping.  Exclusive unless @shared,
 * in which case the caller already made the store with cmpxchg.
 */
static inline void set_pte(struct m2d_pt *pt, uint64_t *ptep, uint64_t addr, int level,
			   uint64_t old_pte, uint64_t new_pte, bool shared, bool stored)
{
	struct pt_page_meta *m = pt_meta(ptep);
	int d;

	if (!stored)
		pt_write(ptep, new_pte);
	if (unlikely(!(m->flags & PT_PAGE_LINKED)))
		return; /* accounted when the table is linked */
	d = (int)pt_is_present(pt->format, new_pte) - (int)pt_is_present(pt->format, old_pte);
	if (d) {
		if (shared)
			__atomic_add_fetch(&m->count, (uint16_t)d, __ATOMIC_RELAXED);
		else
			m->count = (uint16_t)(m->count + d);
	}
	if (old_pte != new_pte)
		handle_changed_pte(pt, addr, level, old_pte, new_pte, shared);
}

/* For pt_iter.c: the bookkeeping of a store that was already made (@shared)
 * or is to be made (exclusive). */
void pt_set_pte(struct m2d_pt *pt, uint64_t *ptep, uint64_t addr, int level, uint64_t old_pte,
		uint64_t new_pte, bool shared)
{
	set_pte(pt, ptep, addr, level, old_pte, new_pte, shared, shared);
}

/**
 * m2d_pt_set_pte() - store @new_pte at @ptep and account the change.
 * @pt: the table
 * @ptep: an entry of a table page of @pt
 * @addr: first address mapped by the entry
 * @level: level of the entry
 * @new_pte: the new value
 *
 * Context: exclusive (the caller is the only writer of @pt).
 */
void m2d_pt_set_pte(struct m2d_pt *pt, uint64_t *ptep, uint64_t addr, int level,
		    uint64_t new_pte)
{
	if (!pt || !ptep || level < M2D_LEVEL_4K || level > pt->root_level)
		return;
	set_pte(pt, ptep, pt_round_for_level(addr, level), level, pt_read(ptep), new_pte, false,
		false);
}

/* ---- create / destroy ------------------------------------------------------ */

void m2d_pt_config_default(struct m2d_pt_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->format = M2D_PT_X86_64;
	cfg->levels = 4;
}

/**
 * m2d_pt_create() - create an empty table: a root page at the root level.
 * @out: receives the table on success
 * @cfg: configuration; NULL for the defaults
 *
 * Levels: 4 or 5 for x86-64 and EPT (5-level EPT exists), 4 for arm64
 * stage-2 (start level 0).  0 means 4.
 * Return: 0, -EINVAL (bad format or levels), -ENOMEM.
 */
int m2d_pt_create(struct m2d_pt **out, const struct m2d_pt_config *cfg)
{
	struct m2d_pt_config def;
	struct m2d_pt *pt;
	int levels;

	if (!out)
		return -EINVAL;
	if (!cfg) {
		m2d_pt_config_default(&def);
		cfg = &def;
	}
	levels = cfg->levels ? cfg->levels : 4;
	if ((unsigned)cfg->format >= M2D_PT_FORMAT_NR || levels < 4 || levels > 5 ||
	    (cfg->format == M2D_PT_ARM64_S2 && levels != 4))
		return -EINVAL;
	pt = m2d_zalloc(M2D_ALLOC_PT_META, sizeof(*pt));
	if (!pt)
		return -ENOMEM;
	pt->format = cfg->format;
	pt->root_level = levels;
	pt->max_addr = 1ull << (M2D_PAGE_SHIFT + 9 * levels);
	pt->changed = cfg->changed;
	pt->changed_priv = cfg->changed_priv;
	pt->root = table_alloc(pt, levels);
	if (!pt->root) {
		m2d_free(M2D_ALLOC_PT_META, pt, sizeof(*pt));
		return -ENOMEM;
	}
	pt_meta(pt->root)->flags |= PT_PAGE_LINKED;
	pt->stats.tables[levels] = 1;
	*out = pt;
	return 0;
}

/**
 * m2d_pt_destroy() - free every table page and the table.
 *
 * Unlinked tables still waiting for their RCU callback are waited for with
 * m2d_rcu_barrier() (KVM's rcu_barrier() at VM teardown).  The change hook
 * is not called.  NULL-safe; sets *@ppt to NULL.
 */
void m2d_pt_destroy(struct m2d_pt **ppt)
{
	struct m2d_pt *pt = ppt ? *ppt : NULL;

	if (!pt)
		return;
	if (pt->stats.tables_pending_free && m2d_current_sim())
		m2d_rcu_barrier();
	if (M2D_WARN_ON_ONCE(pt->stats.tables_pending_free)) {
		/* Callbacks still reference our pages and no sim can run them:
		 * leak rather than let them touch freed memory. */
		*ppt = NULL;
		return;
	}
	while (pt->chunks) {
		struct pt_chunk *c = pt->chunks;

		pt->chunks = c->next;
		m2d_free(M2D_ALLOC_PT_PAGE, c, M2D_PT_CHUNK_SIZE);
	}
	m2d_free(M2D_ALLOC_PT_META, pt, sizeof(*pt));
	*ppt = NULL;
}

enum m2d_pt_format m2d_pt_format(const struct m2d_pt *pt)
{
	return pt->format;
}

int m2d_pt_root_level(const struct m2d_pt *pt)
{
	return pt->root_level;
}

uint64_t *m2d_pt_root(const struct m2d_pt *pt)
{
	return pt->root;
}

uint64_t m2d_pt_max_addr(const struct m2d_pt *pt)
{
	return pt->max_addr;
}

void m2d_pt_stats_get(const struct m2d_pt *pt, struct m2d_pt_stats *out)
{
	*out = pt->stats;
}

/**
 * m2d_pt_alloc_table() - a zeroed table page for entries at @level, not
 * linked.  Link it by storing m2d_pte_make_table() into an entry at
 * @level + 1 through m2d_pt_set_pte() or the iterator's setters; entries
 * written into it before that are accounted at link time.
 * Return: the page, or NULL (-ENOMEM, or a bad @level).
 */
uint64_t *m2d_pt_alloc_table(struct m2d_pt *pt, int level)
{
	if (!pt || level < M2D_LEVEL_4K || level >= pt->root_level)
		return NULL;
	return table_alloc(pt, level);
}

/* Free a page from m2d_pt_alloc_table() that was never linked. */
void m2d_pt_free_table(struct m2d_pt *pt, uint64_t *table)
{
	struct pt_page_meta *m;

	if (!pt || !table)
		return;
	m = pt_meta(table);
	if (M2D_WARN_ON_ONCE(pt_chunk_of(table)->pt != pt || m->flags != 0 || !m->level))
		return;
	memset(table, 0, M2D_PT_PAGE_SIZE);
	page_free(pt, table);
}

/* ---- walk ----------------------------------------------------------------------- */

/* The walk for table format @fmt (a constant in each instance). */
static inline __attribute__((always_inline)) void walk(const struct m2d_pt *pt, uint64_t addr,
							  struct m2d_pt_walk *out,
							  enum m2d_pt_format fmt)
{
	uint64_t *table = pt->root;

	memset(out, 0, sizeof(*out));
	if (addr >= pt->max_addr) {
		out->level = pt->root_level;
		return;
	}
	for (int level = pt->root_level; level >= M2D_LEVEL_4K; level--) {
		uint64_t *ptep = &table[pt_index(addr, level)];
		uint64_t e = pt_read(ptep);

		out->ptep = ptep;
		out->pte = e;
		out->level = level;
		if (!pt_is_present(fmt, e))
			return;
		if (pt_is_leaf(fmt, e, level)) {
			out->present = true;
			out->pfn = ((e & pt_leaf_addr_mask(fmt, level)) >> M2D_PAGE_SHIFT) +
				   ((addr & (m2d_level_size(level) - 1)) >> M2D_PAGE_SHIFT);
			out->prot = pt_leaf_prot(fmt, e, level);
			return;
		}
		table = (uint64_t *)(uintptr_t)(e & pt_addr_mask(fmt));
	}
}

/**
 * m2d_pt_walk() - translate @addr.  Finding nothing is a result, not an
 * error: @out->present is false and @out->level is where the walk stopped.
 * Context: any; a concurrent walker must hold m2d_rcu_read_lock().
 */
void m2d_pt_walk(const struct m2d_pt *pt, uint64_t addr, struct m2d_pt_walk *out)
{
	/* One instance per format: the entry tests fold to a mask each. */
	switch (pt->format) {
	case M2D_PT_X86_64:
		walk(pt, addr, out, M2D_PT_X86_64);
		break;
	case M2D_PT_EPT:
		walk(pt, addr, out, M2D_PT_EPT);
		break;
	default:
		walk(pt, addr, out, pt->format);
		break;
	}
}

/* ---- split / collapse --------------------------------------------------------- */

/*
 * split_huge() - replace the huge leaf @old at *@ptep (level @level, first
 * address @addr) by a table of 512 leaves at @level - 1 with the same
 * attributes.  Mirrors tdp_mmu_split_huge_page(): the children are written
 * while the table is private, then one store links it.
 * Return: the new table, or NULL (-ENOMEM).
 */
static uint64_t *split_huge(struct m2d_pt *pt, uint64_t *ptep, uint64_t addr, int level,
			    uint64_t old)
{
	enum m2d_pt_format fmt = pt->format;
	uint64_t *child = table_alloc(pt, level - 1);
	uint64_t pfn = m2d_pte_pfn(fmt, old, level);
	uint64_t stride = m2d_level_size(level - 1) >> M2D_PAGE_SHIFT;

	if (!child)
		return NULL;
	for (unsigned i = 0; i < M2D_PT_ENTRIES; i++)
		child[i] = pt_leaf_relevel(fmt, old, level, level - 1, pfn + i * stride);
	set_pte(pt, ptep, addr, level, old, m2d_pte_make_table(fmt, child), false, false);
	return child;
}

/* Descend from the root to the entry at @level for @addr; NULL if a table
 * on the way is missing or a leaf sits above @level. */
static uint64_t *find_entry(const struct m2d_pt *pt, uint64_t addr, int level)
{
	uint64_t *table = pt->root;

	for (int l = pt->root_level; l > level; l--) {
		table = pt_child(pt->format, pt_read(&table[pt_index(addr, l)]), l);
		if (!table)
			return NULL;
	}
	return &table[pt_index(addr, level)];
}

/**
 * m2d_pt_split() - split the huge leaf at @level mapping @addr into 512
 * leaves at @level - 1.  The hook sees the parent change, then the 512 new
 * leaves.
 * Return: 0, -EINVAL (bad level or address), -ENOENT (no huge leaf at
 * @level there), -ENOMEM.
 */
int m2d_pt_split(struct m2d_pt *pt, uint64_t addr, int level)
{
	uint64_t *ptep, old;

	if (!pt || level < M2D_LEVEL_2M || level > M2D_LEVEL_1G || addr >= pt->max_addr)
		return -EINVAL;
	ptep = find_entry(pt, addr, level);
	if (!ptep)
		return -ENOENT;
	old = pt_read(ptep);
	if (!pt_is_leaf(pt->format, old, level))
		return -ENOENT;
	return split_huge(pt, ptep, pt_round_for_level(addr, level), level, old) ? 0 : -ENOMEM;
}

/**
 * m2d_pt_collapse() - replace a full table of identical, consecutive,
 * aligned leaves under the @level entry mapping @addr by one leaf at
 * @level (khugepaged's collapse, KVM's huge page recovery).  The hook sees
 * the parent change, then the 512 removed leaves; the table is RCU-freed.
 * Return: 0, -EINVAL (bad level/address, or not collapsible), -ENOENT (no
 * table there).
 */
int m2d_pt_collapse(struct m2d_pt *pt, uint64_t addr, int level)
{
	enum m2d_pt_format fmt;
	uint64_t *ptep, *child, old, first, attrs, pfn0, stride, mask;

	if (!pt || level < M2D_LEVEL_2M || level > M2D_LEVEL_1G || addr >= pt->max_addr)
		return -EINVAL;
	fmt = pt->format;
	ptep = find_entry(pt, addr, level);
	if (!ptep)
		return -ENOENT;
	old = pt_read(ptep);
	child = pt_child(fmt, old, level);
	if (!child)
		return -ENOENT;
	first = pt_read(&child[0]);
	if (!pt_is_leaf(fmt, first, level - 1))
		return -EINVAL;
	mask = pt_leaf_addr_mask(fmt, level - 1);
	attrs = first & ~mask;
	pfn0 = m2d_pte_pfn(fmt, first, level - 1);
	stride = m2d_level_size(level - 1) >> M2D_PAGE_SHIFT;
	if (pfn0 & ((m2d_level_size(level) >> M2D_PAGE_SHIFT) - 1))
		return -EINVAL;
	for (unsigned i = 1; i < M2D_PT_ENTRIES; i++) {
		uint64_t e = pt_read(&child[i]);

		if (!pt_is_leaf(fmt, e, level - 1) || (e & ~mask) != attrs ||
		    ((e & mask) >> M2D_PAGE_SHIFT) != pfn0 + i * stride)
			return -EINVAL;
	}
	set_pte(pt, ptep, pt_round_for_level(addr, level), level, old,
		pt_leaf_relevel(fmt, first, level - 1, level, pfn0), false, false);
	return 0;
}

/* ---- map ------------------------------------------------------------------------ */

struct map_ctx {
	struct m2d_pt *pt;
	uint64_t start, end;  /* the whole range */
	uint64_t pfn;         /* frame of @start */
	uint64_t tmpl;        /* leaf with address 0 */
	int level;            /* leaf level */
};

/* Map [@addr, @end) (inside the span of @table, whose entries are at @level). */
static int map_rec(struct map_ctx *c, uint64_t *table, int level, uint64_t addr, uint64_t end)
{
	struct m2d_pt *pt = c->pt;
	enum m2d_pt_format fmt = pt->format;
	uint64_t size = m2d_level_size(level);
	unsigned i = pt_index(addr, level);

	if (level == c->level) {
		uint64_t frame = (c->pfn << M2D_PAGE_SHIFT) + (addr - c->start);

		for (; addr < end; i++, addr += size, frame += size) {
			uint64_t *ptep = &table[i];
			uint64_t old = pt_read(ptep), new = c->tmpl | frame;

			if (old != new)
				set_pte(pt, ptep, addr, level, old, new, false, false);
		}
		return 0;
	}
	for (; addr < end; i++) {
		uint64_t ea = pt_round_for_level(addr, level);
		uint64_t next = M2D_MIN(ea + size, end);
		uint64_t *ptep = &table[i];
		uint64_t old = pt_read(ptep);
		uint64_t *child = pt_child(fmt, old, level);
		int ret;

		if (!child) {
			if (pt_is_leaf(fmt, old, level) && (ea < c->start || ea + size > c->end)) {
				/* A huge leaf straddling the range: keep the outside part. */
				child = split_huge(pt, ptep, ea, level, old);
			} else {
				child = table_alloc(pt, level - 1);
				if (child)
					set_pte(pt, ptep, ea, level, old,
						m2d_pte_make_table(fmt, child), false, false);
			}
			if (!child)
				return -ENOMEM;
		}
		ret = map_rec(c, child, level - 1, addr, next);
		if (ret)
			return ret;
		addr = next;
	}
	return 0;
}

/**
 * m2d_pt_map_range() - see include/mmu2d/pt.h.
 * Context: exclusive.
 */
int m2d_pt_map_range(struct m2d_pt *pt, uint64_t addr, uint64_t len, uint64_t pfn, int level,
		     unsigned prot)
{
	struct map_ctx c;
	uint64_t size, npages;

	if (!pt || level < M2D_LEVEL_4K || level > M2D_LEVEL_1G)
		return -EINVAL;
	size = m2d_level_size(level);
	if ((addr | len | (pfn << M2D_PAGE_SHIFT)) & (size - 1))
		return -EINVAL;
	if (!len)
		return 0;
	npages = len >> M2D_PAGE_SHIFT;
	if (addr >= pt->max_addr || len > pt->max_addr - addr ||
	    pfn > (pt_addr_mask(pt->format) >> M2D_PAGE_SHIFT) ||
	    npages - 1 > (pt_addr_mask(pt->format) >> M2D_PAGE_SHIFT) - pfn)
		return -EINVAL;
	c.pt = pt;
	c.start = addr;
	c.end = addr + len;
	c.pfn = pfn;
	c.level = level;
	c.tmpl = m2d_pte_make_leaf(pt->format, level, 0, prot);
	return map_rec(&c, pt->root, pt->root_level, addr, addr + len);
}

/* ---- unmap / protect / age ---------------------------------------------------- */

enum range_op {
	OP_UNMAP,
	OP_UNMAP_FREE,
	OP_PROTECT,
	OP_YOUNG,
	OP_DIRTY,
};

struct range_ctx {
	struct m2d_pt *pt;
	uint64_t start, end;
	enum range_op op;
	unsigned set, clear;   /* OP_PROTECT */
	bool masks;            /* and_mask/or_mask apply (pt_prot_masks) */
	uint64_t and_mask, or_mask;
	uint64_t count;        /* leaves changed */
};

/* The new value of leaf @old at @level for the operation (== @old: no change). */
static uint64_t range_leaf_new(struct range_ctx *c, uint64_t old, int level)
{
	enum m2d_pt_format fmt = c->pt->format;

	switch (c->op) {
	case OP_UNMAP:
	case OP_UNMAP_FREE:
		return 0;
	case OP_PROTECT:
		if (c->masks)
			return (old & c->and_mask) | c->or_mask;
		return m2d_pte_change_prot(fmt, old, level, c->set, c->clear);
	default: /* OP_YOUNG, OP_DIRTY: and_mask clears the A or D bit */
		return old & c->and_mask;
	}
}

static void range_rec(struct range_ctx *c, uint64_t *table, int level, uint64_t addr,
		      uint64_t end)
{
	struct m2d_pt *pt = c->pt;
	enum m2d_pt_format fmt = pt->format;
	uint64_t size = m2d_level_size(level);
	unsigned i = pt_index(addr, level);

	for (; addr < end; i++) {
		uint64_t ea = pt_round_for_level(addr, level);
		uint64_t next = M2D_MIN(ea + size, end);
		uint64_t *ptep = &table[i];
		uint64_t old = pt_read(ptep);
		uint64_t *child;

		if (!pt_is_present(fmt, old)) {
			addr = next;
			continue;
		}
		if (pt_is_leaf(fmt, old, level)) {
			bool covered = ea >= c->start && ea + size <= c->end;
			uint64_t new;

			if (!covered && c->op <= OP_PROTECT) {
				/* Straddling huge leaf: split, then handle the inside. */
				child = split_huge(pt, ptep, ea, level, old);
				if (child) {
					range_rec(c, child, level - 1, addr, next);
					addr = next;
					continue;
				}
				/* -ENOMEM: the whole leaf takes the change (over-unmap,
				 * as KVM's leaf zap does for any overlapping leaf). */
			}
			new = range_leaf_new(c, old, level);
			if (new != old) {
				set_pte(pt, ptep, ea, level, old, new, false, false);
				c->count++;
			}
			addr = next;
			continue;
		}
		child = pt_child(fmt, old, level);
		range_rec(c, child, level - 1, addr, next);
		if (c->op == OP_UNMAP_FREE && !pt_meta(child)->count)
			set_pte(pt, ptep, ea, level, old, 0, false, false);
		addr = next;
	}
}

static uint64_t range_op(struct m2d_pt *pt, uint64_t addr, uint64_t len, enum range_op op,
			 unsigned set, unsigned clear)
{
	struct range_ctx c;
	uint64_t end;

	if (!pt || !len || addr >= pt->max_addr)
		return 0;
	end = len > pt->max_addr - addr ? pt->max_addr : addr + len;
	c.pt = pt;
	c.start = M2D_ALIGN_DOWN(addr, M2D_PAGE_SIZE);
	c.end = M2D_ALIGN_UP(end, M2D_PAGE_SIZE);
	c.op = op;
	c.set = set;
	c.clear = clear;
	c.count = 0;
	c.masks = false;
	if (op == OP_PROTECT)
		c.masks = pt_prot_masks(pt->format, set, clear, &c.and_mask, &c.or_mask);
	if (op == OP_YOUNG || op == OP_DIRTY) {
		uint64_t bit = pt_ad_bit(pt->format, op == OP_DIRTY);

		if (!bit)
			return 0;
		c.and_mask = ~bit;
	}
	range_rec(&c, pt->root, pt->root_level, c.start, c.end);
	return c.count;
}

/*
 * The range operations below take any byte range; it is widened to 4 KiB
 * boundaries.  Context: exclusive.
 */
uint64_t m2d_pt_unmap_range(struct m2d_pt *pt, uint64_t addr, uint64_t len)
{
	return range_op(pt, addr, len, OP_UNMAP, 0, 0);
}

uint64_t m2d_pt_unmap_free_range(struct m2d_pt *pt, uint64_t addr, uint64_t len)
{
	return range_op(pt, addr, len, OP_UNMAP_FREE, 0, 0);
}

uint64_t m2d_pt_protect_range(struct m2d_pt *pt, uint64_t addr, uint64_t len, unsigned set,
			      unsigned clear)
{
	return range_op(pt, addr, len, OP_PROTECT, set, clear);
}

/* Huge leaves overlapping the range are aged whole (kvm_age_gfn). */
uint64_t m2d_pt_test_clear_young(struct m2d_pt *pt, uint64_t addr, uint64_t len)
{
	return range_op(pt, addr, len, OP_YOUNG, 0, 0);
}

/* arm64 stage-2 has no dirty bit here (no DBM): always 0. */
uint64_t m2d_pt_test_clear_dirty(struct m2d_pt *pt, uint64_t addr, uint64_t len)
{
	return range_op(pt, addr, len, OP_DIRTY, 0, 0);
}
