/* SPDX-License-Identifier: MIT */
/*
 * lib/mm/pt.h - page-table internals shared by pt.c, pt_iter.c and
 * pt_format.c: the table object, the table-page chunk layout and the
 * inline entry accessors used on hot paths.
 *
 * Memory layout (docs/pt.md has the picture):
 *
 *   A table page is 4 KiB holding 512 uint64_t entries.  Pages come from
 *   chunks of M2D_PT_CHUNK_SIZE bytes, M2D_PT_CHUNK_SIZE-aligned, allocated
 *   with m2d_aligned_zalloc(M2D_ALLOC_PT_PAGE).  The first page of a chunk
 *   is its header: owner, free count and one struct pt_page_meta per page
 *   of the chunk.  So the metadata of a table page is found from the page
 *   pointer with a mask and a shift (pt_meta()), and a non-leaf entry only
 *   has to hold the page's address, as a hardware entry does.
 *
 *   Per-table metadata: level, number of present entries, the RCU head used
 *   to defer its free.  Nothing per leaf.
 */
#ifndef M2D_LIB_MM_PT_H
#define M2D_LIB_MM_PT_H

#include <mmu2d/pt.h>

#include "core/compiler.h"
#include "core/engine.h"

/* 256 KiB chunks: 1 header page + 63 table pages (98.4% of the chunk). */
#define M2D_PT_CHUNK_SHIFT 18
#define M2D_PT_CHUNK_SIZE (1ull << M2D_PT_CHUNK_SHIFT)
#define M2D_PT_PAGES_PER_CHUNK (M2D_PT_CHUNK_SIZE / M2D_PAGE_SIZE)
#define M2D_PT_PAGE_SIZE M2D_PAGE_SIZE

struct m2d_pt;

/* Metadata of one table page (the kernel's struct kvm_mmu_page, minus the SPT). */
struct pt_page_meta {
	struct m2d_rcu_head rcu;  /* deferred free after unlink */
	uint16_t count;           /* present entries in the page (0..512) */
	uint8_t level;            /* level of the page's entries (1..5); 0 = free */
	uint8_t flags;            /* PT_PAGE_* */
};

#define PT_PAGE_LINKED 0x1u   /* reachable from the root */
#define PT_PAGE_PENDING 0x2u  /* unlinked, waiting for its RCU callback */

/* Chunk header: lives in the chunk's first page. */
struct pt_chunk {
	struct m2d_pt *pt;             /* owner */
	struct pt_chunk *next;         /* all chunks of @pt */
	uint32_t used;                 /* pages handed out at least once (bump pointer) */
	struct pt_page_meta meta[M2D_PT_PAGES_PER_CHUNK]; /* [0] unused (header page) */
};

_Static_assert(sizeof(struct pt_chunk) <= M2D_PT_PAGE_SIZE, "chunk header fits one page");

struct m2d_pt {
	enum m2d_pt_format format;
	int root_level;
	uint64_t *root;
	uint64_t max_addr;             /* 1 << (12 + 9 * root_level) */
	m2d_pt_changed_fn changed;
	void *changed_priv;
	struct m2d_pt_stats stats;
	struct pt_chunk *chunks;       /* newest first */
	uint64_t *free_list;           /* free zeroed pages; entry 0 links the next one */
	uint64_t nr_chunks;
	uint64_t pages_live;           /* pages allocated (linked, unlinked or pending) */
};

static inline struct pt_chunk *pt_chunk_of(const void *page)
{
	return (struct pt_chunk *)((uintptr_t)page & ~(uintptr_t)(M2D_PT_CHUNK_SIZE - 1));
}

static inline struct pt_page_meta *pt_meta(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	struct pt_chunk *c = pt_chunk_of(p);

	return &c->meta[(a & (M2D_PT_CHUNK_SIZE - 1)) >> M2D_PAGE_SHIFT];
}

/* The table page holding entry @ptep. */
static inline uint64_t *pt_page_of(const uint64_t *ptep)
{
	return (uint64_t *)((uintptr_t)ptep & ~(uintptr_t)(M2D_PT_PAGE_SIZE - 1));
}

/* Index of the entry for @addr at @level (SPTE_INDEX). */
static inline unsigned pt_index(uint64_t addr, int level)
{
	return (unsigned)(addr >> (M2D_PAGE_SHIFT + 9 * (level - 1))) & (M2D_PT_ENTRIES - 1);
}

static inline uint64_t pt_round_for_level(uint64_t addr, int level)
{
	return addr & ~(m2d_level_size(level) - 1);
}

/* Entry access: atomic loads/stores so shared-lock walkers are real (R25). */
static inline uint64_t pt_read(const uint64_t *ptep)
{
	return __atomic_load_n(ptep, __ATOMIC_ACQUIRE);
}

static inline void pt_write(uint64_t *ptep, uint64_t v)
{
	__atomic_store_n(ptep, v, __ATOMIC_RELEASE);
}

/* ---- format bits (see pt_format.c for the diagrams) ---------------------- */

#define PT_ADDR_MASK_52 0x000ffffffffff000ull /* bits 51:12 (x86-64, EPT) */
#define PT_ADDR_MASK_48 0x0000fffffffff000ull /* bits 47:12 (arm64 4K granule OA) */

#define X86_P (1ull << 0)
#define X86_RW (1ull << 1)
#define X86_US (1ull << 2)
#define X86_PWT (1ull << 3)
#define X86_PCD (1ull << 4)
#define X86_A (1ull << 5)
#define X86_D (1ull << 6)
#define X86_PS (1ull << 7)
#define X86_PAT_4K (1ull << 7)
#define X86_G (1ull << 8)
#define X86_SW0 (1ull << 9)
#define X86_PAT_LARGE (1ull << 12)
#define X86_NX (1ull << 63)

#define EPT_R (1ull << 0)
#define EPT_W (1ull << 1)
#define EPT_X (1ull << 2)
#define EPT_RWX (EPT_R | EPT_W | EPT_X)
#define EPT_MT_SHIFT 3
#define EPT_MT_MASK (7ull << EPT_MT_SHIFT)
#define EPT_MT_WB 6ull
#define EPT_IPAT (1ull << 6)
#define EPT_LARGE (1ull << 7)
#define EPT_A (1ull << 8)
#define EPT_D (1ull << 9)
#define EPT_SW0 (1ull << 52)

#define S2_VALID (1ull << 0)
#define S2_TABLE (1ull << 1) /* table (levels 0-2) or page (level 3) */
#define S2_MEMATTR_SHIFT 2
#define S2_MEMATTR_MASK (0xfull << S2_MEMATTR_SHIFT)
#define S2_MEMATTR_NORMAL_WB 0xfull
#define S2_MEMATTR_DEVICE_nGnRE 0x1ull
#define S2_AP_R (1ull << 6)
#define S2_AP_W (1ull << 7)
#define S2_SH_SHIFT 8
#define S2_SH_IS (3ull << S2_SH_SHIFT)
#define S2_AF (1ull << 10)
#define S2_XN (1ull << 54)
#define S2_XN_MASK (3ull << 53)
#define S2_SW0 (1ull << 55)

static inline uint64_t pt_addr_mask(enum m2d_pt_format fmt)
{
	return fmt == M2D_PT_ARM64_S2 ? PT_ADDR_MASK_48 : PT_ADDR_MASK_52;
}

static inline bool pt_is_present(enum m2d_pt_format fmt, uint64_t pte)
{
	switch (fmt) {
	case M2D_PT_EPT:
		return (pte & EPT_RWX) != 0;
	default: /* x86 P and arm64 valid are both bit 0 */
		return (pte & 1) != 0;
	}
}

/* Present and a leaf at @level. */
static inline bool pt_is_leaf(enum m2d_pt_format fmt, uint64_t pte, int level)
{
	if (!pt_is_present(fmt, pte))
		return false;
	if (level == M2D_LEVEL_4K)
		return true;
	if (level > M2D_LEVEL_1G)
		return false;
	switch (fmt) {
	case M2D_PT_X86_64:
		return (pte & X86_PS) != 0;
	case M2D_PT_EPT:
		return (pte & EPT_LARGE) != 0;
	default:
		return (pte & S2_TABLE) == 0;
	}
}

/* Present non-leaf entry: the child table page. */
static inline uint64_t *pt_child(enum m2d_pt_format fmt, uint64_t pte, int level)
{
	if (level == M2D_LEVEL_4K || !pt_is_present(fmt, pte) || pt_is_leaf(fmt, pte, level))
		return NULL;
	return (uint64_t *)(uintptr_t)(pte & pt_addr_mask(fmt));
}

/* Address bits of a leaf at @level (the frame, aligned to the level). */
static inline uint64_t pt_leaf_addr_mask(enum m2d_pt_format fmt, int level)
{
	return pt_addr_mask(fmt) & ~(m2d_level_size(level) - 1);
}

/* m2d_prot bits of a present leaf at @level, unchecked (m2d_pte_prot). */
unsigned pt_leaf_prot(enum m2d_pt_format fmt, uint64_t pte, int level);
bool pt_prot_masks(enum m2d_pt_format fmt, unsigned set, unsigned clear, uint64_t *and_mask,
		   uint64_t *or_mask);
uint64_t pt_ad_bit(enum m2d_pt_format fmt, bool dirty);
uint64_t pt_leaf_relevel(enum m2d_pt_format fmt, uint64_t pte, int from, int to, uint64_t pfn);

/* pt.c internals used by the iterator. */
void pt_set_pte(struct m2d_pt *pt, uint64_t *ptep, uint64_t addr, int level, uint64_t old_pte,
		uint64_t new_pte, bool shared);

#endif /* M2D_LIB_MM_PT_H */
