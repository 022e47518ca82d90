/* SPDX-License-Identifier: MIT */
/*
 * mmu2d/pt.h - radix page tables with real 64-bit entries.
 *
 * A table is a tree of 4 KiB table pages holding 512 entries each, in one
 * of three bit-exact formats:
 *
 *   M2D_PT_X86_64   x86-64 4- or 5-level paging (host tables, the kernel
 *                   direct map, guest tables, AMD NPT).  Leaves at 4K (PTE),
 *                   2M (PMD with PS), 1G (PUD with PS).
 *   M2D_PT_EPT      Intel EPT (4-level).  Leaves at 4K, 2M, 1G (bit 7).
 *   M2D_PT_ARM64_S2 arm64 stage-2, 4K granule (4 levels, start level 0).
 *                   Block descriptors at 2M (level 2) and 1G (level 1).
 *
 * Levels are numbered as the kernel's PG_LEVEL_*: 1 = 4K, 2 = 2M, 3 = 1G,
 * 4 = 512G, 5 = 256T (the root of a 5-level table).
 *
 * The address field of a non-leaf entry holds the address of the child
 * table page.  The simulator's table pages are 4 KiB-aligned host memory,
 * and that address is what is stored: the entry stays bit-exact in format
 * while child lookup stays a mask.  Leaf entries hold simulated PFNs.
 *
 * Every entry change made by the high-level operations goes through one
 * bookkeeping function (m2d_pt_set_pte / the iterator's setters), which
 * maintains shape statistics, calls the table's change hook, and defers
 * freeing of unlinked table pages through RCU (call_rcu in virtual time
 * when running inside a simulation, immediately otherwise).
 *
 * The change hook's event stream describes the tree exactly: when a present
 * non-leaf entry is replaced, the hook sees that change and then every
 * present entry of the removed subtree going to 0 (pre-order, KVM's
 * handle_removed_pt); when a table is linked, it sees the link and then
 * every present entry already in the new table coming from 0 (a split shows
 * as 1 + 512 events).  Stores into a table that is not linked yet are not
 * reported or counted until it is linked.
 *
 * The module charges no virtual time and counts no events: the mechanism
 * models that use it (KVM, CPA, host mm) charge their own costs.  It works
 * outside a simulation too.  docs/pt.md has the formats and layout.
 *
 * Concurrency: the high-level range operations are "exclusive" (the caller
 * holds whatever lock makes it the only writer).  The iterator offers both
 * exclusive setters and compare-and-exchange setters for shared-lock
 * walkers (the TDP MMU's fault path).
 */
#ifndef M2D_PT_H
#define M2D_PT_H

#include <mmu2d/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define M2D_PT_ENTRIES 512
#define M2D_PT_MAX_LEVELS 5

enum m2d_pt_format {
	M2D_PT_X86_64 = 0,
	M2D_PT_EPT = 1,
	M2D_PT_ARM64_S2 = 2,
	M2D_PT_FORMAT_NR
};

/*
 * Format-independent permission/attribute bits, used to build and decode
 * entries.  Not every format has every bit (x86-64 has no separate R; EPT
 * has no U; a missing bit is ignored on encode and reported as the format
 * implies on decode: x86 present => R).
 */
enum m2d_prot {
	M2D_PROT_R = 1u << 0,      /* readable (EPT R, S2AP read; x86: present) */
	M2D_PROT_W = 1u << 1,      /* writable */
	M2D_PROT_X = 1u << 2,      /* executable (x86: !NX; EPT X; S2 !XN) */
	M2D_PROT_U = 1u << 3,      /* user (x86 U/S) */
	M2D_PROT_A = 1u << 4,      /* accessed (x86 A, EPT A bit 8, S2 AF) */
	M2D_PROT_D = 1u << 5,      /* dirty (x86 D, EPT D bit 9, S2 DBM-less: n/a) */
	M2D_PROT_G = 1u << 6,      /* global (x86 only) */
	M2D_PROT_WB = 1u << 7,     /* write-back memory type (EPT memtype 6 + IPAT;
	                              S2 MemAttr normal WB); x86: PAT index 0.
	                              Without it: x86 PCD|PWT (UC), EPT memtype 0,
	                              S2 MemAttr 0x1 (Device-nGnRE) */
	M2D_PROT_SW0 = 1u << 8,    /* software bit 0 (x86 bit 9 / EPT bit 52 / S2 bit 55) */
	M2D_PROT_SW1 = 1u << 9,    /* software bit 1 (x86 bit 10 / EPT bit 53 / S2 bit 56) */
	M2D_PROT_SW2 = 1u << 10,   /* software bit 2 (x86 bit 11 / EPT bit 54 / S2 bit 57) */
};

#define M2D_PROT_RWX (M2D_PROT_R | M2D_PROT_W | M2D_PROT_X)

/* ---- entry encoding (pure functions, bit-exact) ------------------------- */

/* A leaf entry mapping @pfn at @level (1, 2 or 3) with @prot. */
M2D_API uint64_t m2d_pte_make_leaf(enum m2d_pt_format fmt, int level, uint64_t pfn,
				   unsigned prot);
/* A non-leaf entry pointing at table page @table (full permissions):
 * x86 P|RW|US|A|D (_PAGE_TABLE, 0x67), EPT R|W|X (7), S2 valid|table (3).
 * 0 if @table is not 4 KiB aligned or does not fit the address field.
 * The address is a host pointer: non-leaf entry values differ from run to
 * run, so never print, hash or order anything that affects results by them. */
M2D_API uint64_t m2d_pte_make_table(enum m2d_pt_format fmt, const uint64_t *table);
M2D_API bool m2d_pte_is_present(enum m2d_pt_format fmt, uint64_t pte);
/* Present and a leaf at @level (level 1 entries are always leaves). */
M2D_API bool m2d_pte_is_leaf(enum m2d_pt_format fmt, uint64_t pte, int level);
/* PFN mapped by a leaf (for a huge leaf: the first 4K frame). */
M2D_API uint64_t m2d_pte_pfn(enum m2d_pt_format fmt, uint64_t pte, int level);
/* Child table of a present non-leaf entry. */
M2D_API uint64_t *m2d_pte_table(enum m2d_pt_format fmt, uint64_t pte);
/* Decoded m2d_prot bits of a present leaf at @level. */
M2D_API unsigned m2d_pte_prot(enum m2d_pt_format fmt, uint64_t pte, int level);
/* @pte with prot bits in @set added and in @clear removed (same level). */
M2D_API uint64_t m2d_pte_change_prot(enum m2d_pt_format fmt, uint64_t pte, int level,
				     unsigned set, unsigned clear);

/* ---- tables --------------------------------------------------------------- */

struct m2d_pt;

/*
 * Change hook: called for every entry change made through the bookkeeping
 * function, after the store.  @addr is the first address the entry maps,
 * @shared is true when the change was made with compare-and-exchange
 * under a shared lock.  KVM's handle_changed_spte() is such a hook.
 */
typedef void (*m2d_pt_changed_fn)(void *priv, uint64_t addr, uint64_t old_pte,
				  uint64_t new_pte, int level, bool shared);

struct m2d_pt_config {
	enum m2d_pt_format format; /* default M2D_PT_X86_64 */
	int levels;                /* 4 or 5 (x86-64, EPT); 4 (ARM64_S2); default 4 */
	m2d_pt_changed_fn changed; /* optional change hook; default NULL */
	void *changed_priv;        /* argument of @changed */
	uint8_t reserved[32];
};

M2D_API void m2d_pt_config_default(struct m2d_pt_config *cfg);
/* Create an empty table (root page allocated). Return: 0, -ENOMEM, -EINVAL. */
M2D_API int m2d_pt_create(struct m2d_pt **out, const struct m2d_pt_config *cfg);
/* Free every table page (immediately; inside a simulation, pending RCU
 * frees are waited for with rcu_barrier first). Sets *@pt to NULL. NULL-safe. */
M2D_API void m2d_pt_destroy(struct m2d_pt **pt);

M2D_API enum m2d_pt_format m2d_pt_format(const struct m2d_pt *pt);
M2D_API int m2d_pt_root_level(const struct m2d_pt *pt);
M2D_API uint64_t *m2d_pt_root(const struct m2d_pt *pt);
/* One past the highest address the table can map (2^48 or 2^57). */
M2D_API uint64_t m2d_pt_max_addr(const struct m2d_pt *pt);

/* Shape statistics (MDB_stat-like), indexed by level 1..root_level. */
struct m2d_pt_stats {
	uint64_t tables[M2D_PT_MAX_LEVELS + 1]; /* table pages whose entries are at level */
	uint64_t leaves[M2D_PT_MAX_LEVELS + 1]; /* present leaf entries at level */
	uint64_t table_bytes;                   /* bytes of table pages (incl. pending RCU) */
	uint64_t tables_pending_free;           /* unlinked, waiting for a grace period */
};
M2D_API void m2d_pt_stats_get(const struct m2d_pt *pt, struct m2d_pt_stats *out);

/* Result of a walk. A walk that finds nothing is not an error (R17). */
struct m2d_pt_walk {
	uint64_t pte;      /* the entry found (0 if none) */
	uint64_t *ptep;    /* where it lives (NULL if the walk stopped at a missing table) */
	int level;         /* level of @pte: the leaf level, or where the walk stopped */
	bool present;      /* @pte is a present leaf */
	uint64_t pfn;      /* pfn of @addr within the leaf (leaf pfn + offset) */
	unsigned prot;     /* m2d_prot of the leaf */
};
M2D_API void m2d_pt_walk(const struct m2d_pt *pt, uint64_t addr, struct m2d_pt_walk *out);

/*
 * m2d_pt_map_range() - map [@addr, @addr + @len) to consecutive frames from
 * @pfn with leaves of @level (1..3) and @prot, allocating intermediate
 * tables.  @addr, @len and @pfn must be aligned to the level size.  Existing
 * leaves in the range are replaced; a table in the way of a huge leaf is
 * unlinked and freed (RCU).
 * Return: 0, -EINVAL (alignment/range), -ENOMEM (partial mapping stays).
 */
M2D_API int m2d_pt_map_range(struct m2d_pt *pt, uint64_t addr, uint64_t len, uint64_t pfn,
			     int level, unsigned prot);
/*
 * m2d_pt_unmap_range() - clear every present leaf that lies in
 * [@addr, @addr + @len) (huge leaves straddling the edges are split first).
 * Table pages are kept, as KVM's leaf zap does.  The range is widened to
 * 4 KiB boundaries and clipped to the table.  If a split fails for lack of
 * memory the straddling huge leaf is cleared whole (as KVM's zap does).
 * Return: number of leaf entries cleared.
 */
M2D_API uint64_t m2d_pt_unmap_range(struct m2d_pt *pt, uint64_t addr, uint64_t len);
/* Same, then unlink and free (RCU) tables that became empty. */
M2D_API uint64_t m2d_pt_unmap_free_range(struct m2d_pt *pt, uint64_t addr, uint64_t len);
/*
 * m2d_pt_split() - replace the huge leaf at @level mapping @addr by a table
 * of 512 leaves at @level - 1 with identical attributes.
 * Return: 0, -ENOENT (no huge leaf at @level there), -ENOMEM.
 */
M2D_API int m2d_pt_split(struct m2d_pt *pt, uint64_t addr, int level);
/*
 * m2d_pt_collapse() - if the table under the @level entry mapping @addr has
 * 512 present leaves with identical attributes mapping consecutive frames
 * aligned to @level, replace it with one leaf at @level and free the table.
 * Return: 0, -ENOENT (no table there), -EINVAL (not collapsible).
 */
M2D_API int m2d_pt_collapse(struct m2d_pt *pt, uint64_t addr, int level);
/* Add @set / remove @clear prot bits on every present leaf in the range
 * (huge leaves straddling the edges are split first, as mprotect does).
 * Return: number of leaves whose value changed. */
M2D_API uint64_t m2d_pt_protect_range(struct m2d_pt *pt, uint64_t addr, uint64_t len,
				      unsigned set, unsigned clear);
/* Clear the accessed (or dirty) bit of every leaf in the range; a huge leaf
 * overlapping the range is handled whole (kvm_age_gfn).  arm64 stage-2 has
 * no dirty bit here: test_clear_dirty returns 0.
 * Return: number of leaves that had it set. */
M2D_API uint64_t m2d_pt_test_clear_young(struct m2d_pt *pt, uint64_t addr, uint64_t len);
M2D_API uint64_t m2d_pt_test_clear_dirty(struct m2d_pt *pt, uint64_t addr, uint64_t len);

/*
 * Bookkeeping choke point: store @new_pte at @ptep (an entry at @level
 * mapping @addr) and account the change: shape stats, the change hook, and,
 * if a present non-leaf entry is replaced, unlink + RCU-free of the child
 * subtree (its leaves are accounted as removed).  Exclusive context.
 */
M2D_API void m2d_pt_set_pte(struct m2d_pt *pt, uint64_t *ptep, uint64_t addr, int level,
			    uint64_t new_pte);

/* Allocate a zeroed table page for entries at @level (1 .. root level - 1)
 * for callers that build a subtree before linking it, like KVM's split.
 * Entries written into it (plain stores or m2d_pt_set_pte) are accounted
 * and reported when it is linked. NULL on -ENOMEM or a bad @level. */
M2D_API uint64_t *m2d_pt_alloc_table(struct m2d_pt *pt, int level);
/* Free a table page that was never linked (immediately). */
M2D_API void m2d_pt_free_table(struct m2d_pt *pt, uint64_t *table);

/* ---- iterator (the shape of KVM's tdp_iter) ------------------------------- */

/*
 * A pre-order walk over [start, end) from the root down to @min_level,
 * visiting every entry (present or not) of every table it reaches.  After
 * a yield (or any time the caller drops its lock), m2d_pt_iter_restart()
 * resumes from the root at the next address not yet finished.
 */
struct m2d_pt_iter {
	uint64_t *pt_path[M2D_PT_MAX_LEVELS + 1]; /* table page at each level on the path,
	                                             indexed by level (1..root_level) */
	uint64_t next_last_level_addr; /* where a restart resumes */
	uint64_t yielded_addr;         /* next_last_level_addr at the last yield */
	uint64_t target;               /* the address the walk converges on */
	uint64_t *ptep;                /* current entry */
	uint64_t old_pte;              /* snapshot of *ptep */
	uint64_t addr;                 /* first address mapped by the current entry */
	int root_level;
	int min_level;
	int level;                     /* level of the current entry */
	bool valid;                    /* false once the walk is over */
	bool yielded;                  /* set by m2d_pt_iter_yielded(); next() restarts */
	struct m2d_pt *pt;
};

M2D_API void m2d_pt_iter_start(struct m2d_pt_iter *it, struct m2d_pt *pt, int min_level,
			       uint64_t addr);
/* Advance: step down into a present non-leaf child, else sideways, else up. */
M2D_API void m2d_pt_iter_next(struct m2d_pt_iter *it);
/* Restart from the root at it->next_last_level_addr. */
M2D_API void m2d_pt_iter_restart(struct m2d_pt_iter *it);
/* Re-read *ptep into old_pte. */
M2D_API void m2d_pt_iter_refresh(struct m2d_pt_iter *it);
/* Exclusive store through the bookkeeping function; updates old_pte. */
M2D_API void m2d_pt_iter_set(struct m2d_pt_iter *it, uint64_t new_pte);
/*
 * Compare-and-exchange against it->old_pte, then bookkeeping (shared=true).
 * Return: 0 (old_pte becomes @new_pte), or -EBUSY if *ptep changed
 * (old_pte is refreshed; retry).
 */
M2D_API int m2d_pt_iter_set_atomic(struct m2d_pt_iter *it, uint64_t new_pte) M2D_MUST_CHECK;
/*
 * Forward-progress guard: true if the walk has moved since the last yield
 * (a caller that is about to drop its lock should only do so then).
 */
M2D_API bool m2d_pt_iter_can_yield(const struct m2d_pt_iter *it);
/* Record that the caller yielded: the next m2d_pt_iter_next() restarts from the root. */
M2D_API void m2d_pt_iter_yielded(struct m2d_pt_iter *it);

#define m2d_pt_for_each_pte_min_level(it, pt, min_level, start, end)           \
	for (m2d_pt_iter_start(&(it), (pt), (min_level), (start));             \
	     (it).valid && (it).addr < (end); m2d_pt_iter_next(&(it)))

#define m2d_pt_for_each_pte(it, pt, start, end)                                \
	m2d_pt_for_each_pte_min_level(it, pt, M2D_LEVEL_4K, start, end)

#ifdef __cplusplus
}
#endif
#endif /* M2D_PT_H */
