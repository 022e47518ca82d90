/* SPDX-License-Identifier: MIT */
/*
 * lib/mm/mm_types.h - the host process mm's objects, shared by the files
 * of the host-mm module only (mm.c, memory.c, gup.c, mprotect.c,
 * mmu_notifier.c, hugetlb.c, shmem.c).  Other modules use lib/mm/mm.h.
 *
 * Objects:
 *   struct m2d_mm    mm_struct: VMAs (sorted array, binary search: the maple
 *                    tree's role), host page table, mmap_lock, split PTLs,
 *                    notifier subscriptions, stats.
 *   struct m2d_vma   vm_area_struct (lib/mm/mm.h).
 *   struct m2d_file  a shmem or hugetlbfs inode with its page cache: one
 *                    folio pointer per page-cache page (4K for shmem, the
 *                    hstate size for hugetlbfs), in 512-entry chunks
 *                    allocated on first use.
 *
 * Entry conventions in the host page table (all formats):
 *   M2D_PROT_SW0  "special" (x86 _PAGE_SPECIAL, bit 9): a VM_PFNMAP entry,
 *                 no struct page; GUP fast refuses it (pte_special()).
 *   M2D_PROT_SW1  "protnone": a PROT_NONE mapping (x86 _PAGE_PROTNONE).
 *                 The entry keeps its frame (pte_present() is true for the
 *                 mm) but grants no access; GUP and user accesses fault.
 *   M2D_PROT_D    set on write faults (pte_mkdirty).
 */
#ifndef M2D_LIB_MM_MM_TYPES_H
#define M2D_LIB_MM_MM_TYPES_H

#include "mm/mm.h"
#include "mm/physmem.h"

#include "core/alloc.h"
#include "core/compiler.h"

#define PTE_SPECIAL M2D_PROT_SW0
#define PTE_PROTNONE M2D_PROT_SW1

/* TASK_SIZE of a 4-level (48-bit) user address space, and mmap_min_addr. */
#define TASK_SIZE (1ull << 47)
#define TASK_SIZE_MAX TASK_SIZE
#define MMAP_MIN_ADDR 0x10000ull

/* Split page-table locks: hashed by PMD (PTE tables) and PUD (PMD tables). */
#define M2D_MM_NR_PTL 64

struct m2d_mm {
	struct m2d_rwsem mmap_lock;      /* mm->mmap_lock */
	struct m2d_host *host;
	struct m2d_pt *pgd;              /* host page table */
	enum m2d_pt_format fmt;
	struct m2d_mm_config cfg;
	struct m2d_vma **vmas;           /* sorted by vm_start, non-overlapping */
	size_t nr_vmas, cap_vmas;
	struct cds_list_head notifiers;  /* struct m2d_mmu_notifier.hlist, registration order */
	struct m2d_spinlock page_table_lock;        /* mm->page_table_lock (PUD level) */
	struct m2d_spinlock ptl[M2D_MM_NR_PTL];     /* split ptlocks (pte_lockptr/pmd_lockptr) */
	struct m2d_mm_stats stats;
	/*
	 * mm_cpumask(): host CPUs a thread of this process has run on.  A CPU
	 * joins when a thread on it touches the mm (fault, GUP, syscall: the
	 * model's stand-in for switch_mm) and never leaves (x86 lazy TLB).
	 */
	struct m2d_cpumask cpumask;
};

/* cpumask_set_cpu(cpu, mm_cpumask(mm)) for the current thread's CPU. */
static inline void mm_note_cpu(struct m2d_mm *mm)
{
	unsigned cpu = (unsigned)m2d_current_cpu();
	uint64_t bit = 1ull << (cpu % 64);

	if (!(READ_ONCE(mm->cpumask.bits[cpu / 64]) & bit))
		uatomic_or(&mm->cpumask.bits[cpu / 64], bit);
}

/* Per-VMA data beyond struct m2d_vma (HugeTLB VMA lock). */
struct m2d_vma_ext {
	struct m2d_vma vma;
	struct m2d_rwsem hugetlb_vma_lock; /* hugetlb_vma_lock_{read,write} (VM_HUGETLB only) */
	bool has_vma_lock;
};

#define PCACHE_CHUNK 512

struct m2d_file {
	enum m2d_file_kind kind;
	struct m2d_host *host;
	uint64_t size;                 /* bytes */
	unsigned order;                /* folio order of the page cache (0, 9, 18) */
	uint64_t nr_pages;             /* page-cache slots: size >> (12 + order) */
	struct m2d_folio ***chunks;    /* [nr_chunks][PCACHE_CHUNK], lazily allocated */
	uint64_t nr_chunks;
	uint64_t cached;               /* slots filled */
	long refcount;
	struct m2d_spinlock i_pages;   /* xa_lock of the page cache */
	struct m2d_rwsem i_mmap_rwsem; /* i_mmap_lock_{read,write} */
	uint64_t id;                   /* per-host sequence number: the mapping's hash key */
};

/* ---- helpers shared inside the module ----------------------------------- */

/*
 * Public entry points may be called from plain code (replayer setup, tests,
 * research code) or from a simulated thread of the host's sim: enter the
 * engine only in the first case, so a thread's work is charged to it.
 */
static inline bool mm_engine_enter(struct m2d_host *host)
{
	if (m2d_current_sim() == host->sim)
		return false;
	m2d_engine_enter(host->sim);
	return true;
}

static inline void mm_engine_leave(struct m2d_host *host, bool entered)
{
	if (entered)
		m2d_engine_leave(host->sim);
}

/* Evaluate @expr (an int-returning call) inside the engine of @host. */
#define mm_call_entered(host, expr)                                            \
	({                                                                     \
		bool __entered = mm_engine_enter(host);                        \
		int __ret = (expr);                                            \
		mm_engine_leave((host), __entered);                            \
		__ret;                                                         \
	})

static inline uint64_t file_page_size(const struct m2d_file *f)
{
	return M2D_PAGE_SIZE << f->order;
}

static inline int order_level(unsigned order)
{
	return order >= M2D_PUD_ORDER ? M2D_LEVEL_1G : order >= M2D_PMD_ORDER ? M2D_LEVEL_2M
									       : M2D_LEVEL_4K;
}

static inline bool vma_is_anonymous(const struct m2d_vma *vma)
{
	return !vma->vm_file && !(vma->vm_flags & VM_PFNMAP);
}

static inline bool is_vm_hugetlb_page(const struct m2d_vma *vma)
{
	return (vma->vm_flags & VM_HUGETLB) != 0;
}

/* hugetlb_hgm_enabled() */
static inline bool hugetlb_hgm_enabled(const struct m2d_vma *vma)
{
	return (vma->vm_flags & VM_HUGETLB_HGM) != 0;
}

/* Byte offset in the file of @addr in @vma. */
static inline uint64_t vma_file_offset(const struct m2d_vma *vma, uint64_t addr)
{
	return (vma->vm_pgoff << M2D_PAGE_SHIFT) + (addr - vma->vm_start);
}

/* End of the level-@level range containing @addr, clamped to @end (p?d_addr_end). */
static inline uint64_t level_addr_end(uint64_t addr, uint64_t end, int level)
{
	uint64_t boundary = (addr + m2d_level_size(level)) & ~(m2d_level_size(level) - 1);

	return (boundary - 1 < end - 1) ? boundary : end;
}

static inline struct m2d_vma_ext *vma_ext(struct m2d_vma *vma)
{
	return container_of(vma, struct m2d_vma_ext, vma);
}

/* calc_vm_prot_bits(): PROT_* -> VM_READ/VM_WRITE/VM_EXEC */
static inline unsigned calc_vm_prot_bits(unsigned prot)
{
	return ((prot & M2D_PROT_READ) ? VM_READ : 0) | ((prot & M2D_PROT_WRITE) ? VM_WRITE : 0) |
	       ((prot & M2D_PROT_EXEC) ? VM_EXEC : 0);
}

/* Leaf prot bits for a VMA's flags (vm_page_prot). */
unsigned vma_pte_prot(const struct m2d_vma *vma);

/* pte_lockptr()/pmd_lockptr(): the split lock of the table holding @addr's entry at @level. */
struct m2d_spinlock *mm_ptl(struct m2d_mm *mm, uint64_t addr, int level);

/*
 * Entry pointer for @addr at @level, or NULL if a table on the way is
 * missing, or a leaf above @level maps @addr (*@leaf_level set then).
 * With @alloc, missing tables are allocated (pte_alloc/pmd_alloc); on
 * -ENOMEM returns NULL with *@leaf_level = 0.
 */
uint64_t *mm_entry(struct m2d_mm *mm, uint64_t addr, int level, bool alloc, int *leaf_level);

/* Decoded leaf: frame and prot bits; populated = non-zero entry. */
static inline bool pte_none(uint64_t e)
{
	return e == 0;
}

/* folio of a leaf's first frame (struct page of a non-special entry). */
struct m2d_folio *mm_leaf_folio(struct m2d_mm *mm, uint64_t pte, int level);

/* rmap: account one mapping of @nr_pages pages of @folio starting at subpage @idx by one
 * entry at @level (folio_add_*_rmap_*), or its removal; charges mapcount atomics. */
int mm_rmap_add(struct m2d_mm *mm, struct m2d_vma *vma, struct m2d_folio *folio, uint64_t idx,
		int level);
void mm_rmap_remove(struct m2d_mm *mm, struct m2d_vma *vma, struct m2d_folio *folio,
		    uint64_t idx, int level);
/* install_leaf(): a new leaf (+ rmap, rss) for @folio (NULL: PFNMAP). Caller holds the ptl.
 * Return: 0, or the rmap's -ENOMEM. */
int mm_install_leaf(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t *ptep, uint64_t addr,
		    int level, uint64_t pfn, struct m2d_folio *folio, bool write);
/* zap_leaf(): clear one leaf (+ rmap, rss, anon folio release). Caller holds the ptl. */
void mm_zap_leaf(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t *ptep, uint64_t addr, int level);
/* A fault on a present leaf: write upgrade (wp_page_reuse/wp_page_shared) or spurious. */
int mm_fault_present(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t *ptep, uint64_t addr,
		     int level, bool write);
/* Charge and count @atomics mapcount RMWs, @distinct of them on per-subpage counters. */
void mm_count_mapcount_atomics(struct m2d_mm *mm, uint64_t atomics, uint64_t distinct);

/*
 * zap_page_range of [@start, @end) inside @vma: clear leaves, drop rmaps,
 * free anon folios.  No notifier, no flush (callers do both, as the kernel's
 * unmap_vmas / zap_page_range_single do).  Return: leaves cleared.
 */
uint64_t mm_unmap_page_range(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t start, uint64_t end);
/* free_pgtables(): free tables wholly inside [floor, ceiling) that cover [start, end). */
void mm_free_pgtables(struct m2d_mm *mm, uint64_t start, uint64_t end, uint64_t floor,
		      uint64_t ceiling);
/*
 * tlb_finish_mmu()/flush_tlb_range(): one flush of [start, end): local, and
 * on x86 an IPI to every other CPU in mm_cpumask (a vCPU in guest mode there
 * takes a VM exit); arm64 broadcasts TLBI instead (no IPIs).
 */
void mm_flush_tlb_range(struct m2d_mm *mm, uint64_t start, uint64_t end);

/* __split_huge_pmd(): notifier + split of the THP/PFNMAP PMD leaf mapping @addr. */
void mm_split_huge_pmd(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t *pmdp, uint64_t addr);
/* __split_huge_pud() for huge pfnmap: the entry is cleared (refaulted later). */
void mm_split_huge_pud(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t *pudp, uint64_t addr);

/* vma_modify_flags(): give [@start, @end) of vmas[*@idx] @newflags (split + merge);
 * *@idx ends on the VMA holding @start.  mmap_write_lock held.  Return: 0, -EINVAL, -ENOMEM. */
int mm_vma_modify_flags(struct m2d_mm *mm, size_t *idx, uint64_t start, uint64_t end,
			unsigned newflags);
void mm_notifier_release(struct m2d_mm *mm);

/* Sorted VMA array. */
struct m2d_vma *mm_find_vma(struct m2d_mm *mm, uint64_t addr); /* first with vm_end > addr */
size_t mm_vma_index(struct m2d_mm *mm, uint64_t addr);         /* index of that VMA */

/* Page cache. */
struct m2d_folio *file_lookup(struct m2d_file *f, uint64_t index);
/* filemap_get_folio / shmem_get_folio(SGP_CACHE) / hugetlb alloc_hugetlb_folio + add:
 * the folio at @index, allocated and zeroed on first use.
 * Return: 1 (allocated now), 0 (was cached), -ENOMEM, -EINVAL. */
int file_get_folio(struct m2d_file *f, uint64_t index, int nid, struct m2d_folio **out);
void m2d_file_get(struct m2d_file *f);

/* Charge clearing @bytes at the profile's clearing bandwidth. */
void mm_clear_pages(uint64_t bytes);

/* HugeTLB (hugetlb.c). */
/*
 * hugetlb_fault_mutex_hash() - the bucket of (@f, huge page @idx) in
 * host->hugetlb_fault_mutex_table: jhash2 of (f->id, idx), masked.
 */
uint32_t hugetlb_fault_mutex_hash(const struct m2d_file *f, uint64_t idx);
int hugetlb_fault(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t addr, bool write);
uint64_t hugetlb_change_protection(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t start,
				   uint64_t end, unsigned newprot);
uint64_t unmap_hugepage_range(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t start,
			      uint64_t end);
int hugetlb_collapse(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t start, uint64_t end);
void hugetlb_vma_lock_read(struct m2d_vma *vma);
void hugetlb_vma_unlock_read(struct m2d_vma *vma);
void hugetlb_vma_lock_write(struct m2d_vma *vma);
void hugetlb_vma_unlock_write(struct m2d_vma *vma);

/* khugepaged.c: MADV_COLLAPSE of anonymous memory (mmap_write_lock held). */
int madvise_collapse(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t start, uint64_t end);

/* mprotect.c */
uint64_t change_protection(struct m2d_mm *mm, struct m2d_vma *vma, uint64_t start, uint64_t end,
			   bool *need_flush);

#endif /* M2D_LIB_MM_MM_TYPES_H */
