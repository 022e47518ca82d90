/* SPDX-License-Identifier: MIT */
/*
 * mmu2d/mm.h - host process address spaces (struct mm_struct), files with a
 * page cache (memfd/shmem, hugetlbfs), mmap/munmap/mprotect/madvise, host
 * page faults, HugeTLB high-granularity mapping and MADV_COLLAPSE.
 *
 *	struct m2d_mm_config cfg;
 *	struct m2d_mm *mm;
 *	struct m2d_file *memfd;
 *	uint64_t hva;
 *	m2d_mm_config_default(&cfg);
 *	cfg.notifier = M2D_MM_NOTIFIER_P4D;
 *	m2d_mm_create(&mm, host, &cfg);
 *	m2d_memfd_create(host, 2ull << 30, M2D_FILE_SHMEM, &memfd);
 *	m2d_mm_mmap(mm, 0, 2ull << 30, M2D_PROT_READ | M2D_PROT_WRITE,
 *		    M2D_MAP_SHARED, memfd, 0, &hva);
 *	m2d_mm_madvise(mm, hva, 2ull << 30, M2D_MADV_NOHUGEPAGE);
 *	m2d_mm_populate(mm, hva, 2ull << 30, true);
 *	m2d_mm_mprotect(mm, hva, 2ull << 30, M2D_PROT_READ);
 *
 * Every call here acts as the current simulated thread (or the sim's
 * outside thread between m2d_engine_enter/leave) and charges virtual time.
 * Calls that the kernel makes under mmap_lock take it themselves.
 */
#ifndef M2D_MM_H
#define M2D_MM_H

#include <mmu2d/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct m2d_host; /* host physical memory (mmu2d/physmem.h) */
struct m2d_mm;
struct m2d_file;

/* Where mprotect fires mmu_notifier invalidations (MECHANISMS.md 5.4). */
enum m2d_mm_notifier_granularity {
	M2D_MM_NOTIFIER_PUD = 0, /* change_pmd_range, one pair per populated PUD range (2014-2024) */
	M2D_MM_NOTIFIER_P4D = 1, /* change_pud_range, one pair per P4D range (Peter Xu, 2024) */
	M2D_MM_NOTIFIER_NR
};

/* Mapcount scheme of HugeTLB high-granularity mappings (MECHANISMS.md 8). */
enum m2d_mm_mapcount {
	M2D_MM_MAPCOUNT_THP_LIKE = 0,  /* one _mapcount per 4K subpage (HGM v2) */
	M2D_MM_MAPCOUNT_HEAD_ONLY = 1, /* one counter for the whole page (HGM v1) */
	M2D_MM_MAPCOUNT_NR
};

/* Host page-table geometry. */
enum m2d_mm_arch {
	M2D_MM_ARCH_X86_64 = 0, /* x86-64 4-level (p4d folded) */
	M2D_MM_ARCH_ARM64 = 1,  /* arm64 4K granule, 4 levels (48-bit VA) */
	M2D_MM_ARCH_NR
};

/* Transparent huge pages for anonymous memory (/sys/kernel/mm/transparent_hugepage/enabled). */
enum m2d_mm_thp {
	M2D_MM_THP_ALWAYS = 0,
	M2D_MM_THP_MADVISE = 1,
	M2D_MM_THP_NEVER = 2,
	M2D_MM_THP_NR
};

struct m2d_mm_config {
	enum m2d_mm_arch arch;                  /* default X86_64 */
	enum m2d_mm_notifier_granularity notifier; /* default PUD */
	enum m2d_mm_mapcount mapcount;          /* default THP_LIKE */
	enum m2d_mm_thp thp;                    /* default MADVISE */
	int node;                               /* NUMA node for allocations; default 0 */
	uint64_t mmap_base;                     /* first address used for mmap(0, ...);
	                                           default 0x7f0000000000 - grows down */
	uint8_t reserved[32];
};

M2D_API void m2d_mm_config_default(struct m2d_mm_config *cfg);

/*
 * m2d_mm_create() - an empty address space on @host.
 * Context: inside m2d_engine_enter()/leave() or a simulated thread.
 * Return: 0, -EINVAL (bad config), -ENOMEM.  On success *@out owns the mm.
 */
M2D_API int m2d_mm_create(struct m2d_mm **out, struct m2d_host *host,
			  const struct m2d_mm_config *cfg);
/* exit_mmap(): notifier ->release, unmap everything, free tables. NULL-safe; sets *@mm = NULL. */
M2D_API void m2d_mm_destroy(struct m2d_mm **mm);

/* ---- files with a page cache -------------------------------------------- */

enum m2d_file_kind {
	M2D_FILE_SHMEM = 0,      /* memfd_create() / tmpfs: 4K page cache */
	M2D_FILE_HUGETLB_2M = 1, /* memfd_create(MFD_HUGETLB | MFD_HUGE_2MB) */
	M2D_FILE_HUGETLB_1G = 2, /* memfd_create(MFD_HUGETLB | MFD_HUGE_1GB) */
	M2D_FILE_KIND_NR
};

/*
 * m2d_memfd_create() - a file of @size bytes (multiple of its page size).
 * Pages are allocated (and zeroed) on first fault.
 * Return: 0, -EINVAL, -ENOMEM.  The caller owns one reference (m2d_file_put());
 * each VMA mapping the file holds another.
 */
M2D_API int m2d_memfd_create(struct m2d_host *host, uint64_t size, enum m2d_file_kind kind,
			     struct m2d_file **out);
/* Drop a reference; the last one frees the page cache. NULL-safe; sets *@f = NULL. */
M2D_API void m2d_file_put(struct m2d_file **f);
/*
 * m2d_file_fallocate() - fallocate(mode 0): allocate (and zero) the
 * page-cache pages covering [@off, @off + @len), on node @nid (-1: node 0
 * first).  Already cached pages are kept.
 * Return: 0, -EINVAL, -ENOMEM.
 */
M2D_API int m2d_file_fallocate(struct m2d_file *f, uint64_t off, uint64_t len, int nid);
/* Pages in the file's page cache, in bytes. */
M2D_API uint64_t m2d_file_cached_bytes(const struct m2d_file *f);

/* ---- mmap and friends ---------------------------------------------------- */

enum m2d_mm_prot {
	M2D_PROT_NONE = 0,
	M2D_PROT_READ = 1u << 0,
	M2D_PROT_WRITE = 1u << 1,
	M2D_PROT_EXEC = 1u << 2,
};

enum m2d_mm_map_flags {
	M2D_MAP_SHARED = 1u << 0,
	M2D_MAP_PRIVATE = 1u << 1,
	M2D_MAP_ANONYMOUS = 1u << 2,
	M2D_MAP_FIXED = 1u << 3,   /* replace whatever is mapped at @addr */
	M2D_MAP_HUGETLB = 1u << 4, /* with MAP_ANONYMOUS: HugeTLB pages, 2M unless MAP_HUGE_1GB */
	M2D_MAP_HUGE_1GB = 1u << 5,/* with MAP_HUGETLB: 1G pages */
};

/*
 * m2d_mm_mmap() - map @len bytes (do_mmap()).  @file NULL with
 * M2D_MAP_ANONYMOUS: anonymous memory (THP per config and madvise), or with
 * M2D_MAP_HUGETLB HugeTLB pages from an internal hugetlbfs file (private or
 * shared; length rounded up to the page size); else a MAP_SHARED mapping of
 * @file at byte offset @off.  @addr 0 picks an address
 * (top-down, aligned to the file's huge page size, and to 2M for anonymous
 * mappings of at least 2M); otherwise @addr is used (M2D_MAP_FIXED unmaps
 * what is there first; without it a hint that overlaps a mapping, or an
 * unaligned hint for hugetlbfs, is ignored and an address is picked).
 * MAP_PRIVATE file mappings (COW) are not modelled: -EINVAL.
 * Return: 0 (*@out_addr written), -EINVAL (alignment, flags, range beyond
 * the file), -ENOMEM (no room).
 */
M2D_API int m2d_mm_mmap(struct m2d_mm *mm, uint64_t addr, uint64_t len, unsigned prot,
			unsigned flags, struct m2d_file *file, uint64_t off, uint64_t *out_addr);

/*
 * m2d_mm_mmap_pfn() - map device memory at @pfn (a vfio-pci BAR style
 * VM_PFNMAP|VM_IO mapping).  Entries are installed on fault, at 1G or 2M
 * where the address and pfn are aligned (huge pfnmap), else 4K.
 * Return: 0, -EINVAL, -ENOMEM.
 */
M2D_API int m2d_mm_mmap_pfn(struct m2d_mm *mm, uint64_t addr, uint64_t len, unsigned prot,
			    m2d_pfn_t pfn, uint64_t *out_addr);

/* munmap(): notifier (MMU_NOTIFY_UNMAP... per VMA), unmap, free. Return: 0, -EINVAL, -ENOMEM. */
M2D_API int m2d_mm_munmap(struct m2d_mm *mm, uint64_t addr, uint64_t len);

/*
 * mprotect(): mmap_write_lock; split/merge VMAs; change_protection() with the
 * configured notifier granularity.
 * Return: 0, -EINVAL, -ENOMEM (range not fully mapped: the kernel's -ENOMEM),
 * -EACCES (PROT_WRITE on a read-only file mapping).
 */
M2D_API int m2d_mm_mprotect(struct m2d_mm *mm, uint64_t addr, uint64_t len, unsigned prot);

enum m2d_mm_advice {
	M2D_MADV_DONTNEED = 0,   /* zap the range (notifier MMU_NOTIFY_CLEAR) */
	M2D_MADV_HUGEPAGE = 1,
	M2D_MADV_NOHUGEPAGE = 2,
	M2D_MADV_COLLAPSE = 3,   /* THP / HugeTLB HGM collapse */
	M2D_MADV_SPLIT = 4,      /* enable HugeTLB high-granularity mapping (HGM series) */
	M2D_MADV_NR
};

/* Return: 0, -EINVAL, -ENOMEM (unmapped hole), -EBUSY (collapse failed), -EAGAIN. */
M2D_API int m2d_mm_madvise(struct m2d_mm *mm, uint64_t addr, uint64_t len, int advice);

/*
 * m2d_mm_fault() - a user access by the current thread (a host page fault
 * if the entry is missing or read-only for a write).
 * Return: 0, -EFAULT (SIGSEGV), -ENOMEM.
 */
M2D_API int m2d_mm_fault(struct m2d_mm *mm, uint64_t addr, bool write);
/* One access per page of the range (the selftests' pre-fault loop). Return as m2d_mm_fault(). */
M2D_API int m2d_mm_populate(struct m2d_mm *mm, uint64_t addr, uint64_t len, bool write);

/*
 * m2d_mm_uffd_continue() - UFFDIO_CONTINUE on a MAP_SHARED HugeTLB VMA:
 * map [@addr, @addr + @len) of page-cache pages (which must exist, e.g.
 * from m2d_file_fallocate()).  With HGM enabled (MADV_SPLIT) each piece is
 * mapped with the largest entry (4K, 2M, 1G) that the range's alignment
 * and size allow; without HGM the range must cover whole huge pages.
 * Return: 0, -EINVAL (range, alignment, not HugeTLB), -EFAULT (page not in
 * the page cache), -EEXIST (already mapped), -ENOMEM.
 */
M2D_API int m2d_mm_uffd_continue(struct m2d_mm *mm, uint64_t addr, uint64_t len);

/* mmu_notifier events (enum mmu_notifier_event). */
enum m2d_mmu_notifier_event {
	M2D_MMU_NOTIFY_UNMAP = 0,
	M2D_MMU_NOTIFY_CLEAR = 1,
	M2D_MMU_NOTIFY_PROTECTION_VMA = 2,
	M2D_MMU_NOTIFY_PROTECTION_PAGE = 3,
	M2D_MMU_NOTIFY_SOFT_DIRTY = 4,
	M2D_MMU_NOTIFY_RELEASE = 5,
	M2D_MMU_NOTIFY_MIGRATE = 6,
	M2D_MMU_NOTIFY_EVENT_NR
};

/* ---- mmu_notifier subscriptions ------------------------------------------------ */

/* (KVM subscribes with m2d_vm_mmu_notifier_register() and reaches the mm through
 * m2d_kvm_host_ops_set_mm(), both in <mmu2d/kvm.h>.) */

/*
 * Plain callbacks of an mmu_notifier subscription (struct mmu_notifier_ops:
 * invalidate_range_start/end, release).  Called with the mm's mmap_lock held
 * as the mm path holds it, in the simulated thread doing the mm operation.
 * Any callback may be NULL.
 */
struct m2d_mm_notifier_cb {
	void (*invalidate_range_start)(void *priv, uint64_t start, uint64_t end,
				       enum m2d_mmu_notifier_event event, bool may_block);
	void (*invalidate_range_end)(void *priv, uint64_t start, uint64_t end,
				     enum m2d_mmu_notifier_event event);
	void (*release)(void *priv); /* exit_mmap / unsubscribe */
	uint8_t reserved[32];
};

struct m2d_mm_subscription;

/*
 * m2d_mm_subscribe() - mmu_notifier_register() with @cb (copied) and @priv.
 * For observers (research code, traces); KVM has its own subscription.
 * Return: 0, -EINVAL, -ENOMEM.  Free with m2d_mm_unsubscribe() (also after
 * m2d_mm_destroy(), which only unhooks it).
 */
M2D_API int m2d_mm_subscribe(struct m2d_mm *mm, const struct m2d_mm_notifier_cb *cb, void *priv,
			     struct m2d_mm_subscription **out);
/* mmu_notifier_unregister() (->release runs if the mm is still alive) and free. NULL-safe. */
M2D_API void m2d_mm_unsubscribe(struct m2d_mm *mm, struct m2d_mm_subscription **sub);


/* ---- inspection ------------------------------------------------------------ */

/* A host translation (page-table walk, no side effects). */
struct m2d_mm_xlate {
	bool present;    /* a leaf maps the address */
	int level;       /* M2D_LEVEL_4K/2M/1G of the leaf (0 if none) */
	m2d_pfn_t pfn;   /* frame of the address */
	bool writable;
};
M2D_API void m2d_mm_xlate(struct m2d_mm *mm, uint64_t addr, struct m2d_mm_xlate *out);

/* Per-mm counters (exact operation counts). */
struct m2d_mm_stats {
	uint64_t vmas;                 /* VMAs now */
	uint64_t rss_anon;             /* bytes of anon memory mapped */
	uint64_t rss_file;             /* bytes of shmem/hugetlb memory mapped (per mapping entry) */
	uint64_t pt_bytes;             /* host page-table bytes */
	uint64_t faults;               /* host page faults handled */
	uint64_t faults_alloc;         /* ... that allocated (first touch) */
	uint64_t gup_fast;             /* fast GUP attempts */
	uint64_t gup_fast_failed;      /* ... that failed */
	uint64_t gup_slow;             /* slow GUP calls */
	uint64_t invalidations;        /* invalidate_range_start calls fired */
	uint64_t invalidated_bytes;    /* sum of (end - start) of those */
	uint64_t ptes_changed;         /* leaf entries changed by change_protection */
	uint64_t ptes_zapped;          /* leaf entries cleared (munmap/DONTNEED/collapse) */
	uint64_t tables_freed;         /* page-table pages freed */
	uint64_t collapses;            /* successful MADV_COLLAPSE huge-entry installs */
	uint64_t mapcount_atomics;     /* atomic RMWs on mapcounts (collapse, map, unmap) */
	uint64_t mapcount_counters;    /* distinct counters touched by those */
	uint64_t tlb_flushes;          /* flush_tlb_range / tlb_finish_mmu flushes */
	uint64_t tlb_flush_ipis;       /* ... that sent IPIs (x86, other CPUs in mm_cpumask) */
	uint8_t reserved[56];
};
M2D_API void m2d_mm_stats_get(const struct m2d_mm *mm, struct m2d_mm_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* M2D_MM_H */
