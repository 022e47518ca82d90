/* SPDX-License-Identifier: MIT */
/*
 * mmu2d/guest.h - the guest kernel model: guest page tables, the guest page
 * allocator with unaccepted memory, lazy acceptance (SEV-SNP PSC + PVALIDATE)
 * and the workload loops of the replayers (MECHANISMS.md 2.5-2.7, 7.1).
 *
 *	struct m2d_guest_config cfg;
 *	struct m2d_guest *g;
 *	m2d_guest_config_default(&cfg);
 *	cfg.ram_base = 0; cfg.ram_size = 16ull << 30;
 *	cfg.unaccepted_from = 1ull << 30;      // firmware accepted the first 1G
 *	m2d_guest_create(&g, &cfg, &arch_ops, arch);
 *	... from a vCPU's guest code:
 *	m2d_guest_alloc_pages(g, cpu, n, gpas); // may accept memory lazily
 *
 * The guest model knows nothing about the host: acceptance reaches the
 * hypervisor through struct m2d_guest_arch_ops (VMGEXIT(PSC), PVALIDATE,
 * the cache eviction), which the SNP glue implements over a KVM vCPU
 * (m2d_guest_snp_arch_ops()) and unit tests implement with a recorder.
 */
#ifndef M2D_GUEST_H
#define M2D_GUEST_H

#include <mmu2d/ghcb.h>
#include <mmu2d/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct m2d_guest;

/* EFI_UNACCEPTED_UNIT_SIZE on x86: one bitmap bit per 2 MiB. */
#define M2D_UNACCEPTED_UNIT_SIZE (2ull << 20)
/* MAX_PAGE_ORDER on x86 (order 10): the blocks the page allocator accepts. */
#define M2D_GUEST_MAX_ORDER 10
/* PVALIDATE outcomes as the guest sees them. */
enum m2d_guest_pval {
	M2D_GUEST_PVAL_OK = 0,
	M2D_GUEST_PVAL_SIZEMISMATCH = 1, /* PVALIDATE_FAIL_SIZEMISMATCH */
	M2D_GUEST_PVAL_FAIL = 2,         /* anything else: the guest terminates */
};

/* The hypervisor interface of lazy acceptance (arch/x86/coco/sev/core.c). */
struct m2d_guest_arch_ops {
	/*
	 * vmgexit_psc(): one VMGEXIT(SVM_VMGEXIT_PSC) with @desc in the GHCB
	 * shared buffer; the hypervisor advances cur_entry/cur_page.
	 * Return: 0, or a negative errno (the guest terminates).
	 */
	int (*vmgexit_psc)(void *arch, int cpu, struct m2d_psc_desc *desc);
	/* pvalidate() of the page at @gpa, @level M2D_LEVEL_4K or _2M, to Validated. */
	enum m2d_guest_pval (*pvalidate)(void *arch, int cpu, uint64_t gpa, int level);
	/* sev_evict_cache() over [@gpa, @gpa + @size) (NULL: CPU has COHERENCY_SFW_NO). */
	void (*evict_cache)(void *arch, int cpu, uint64_t gpa, uint64_t size);
};

struct m2d_guest_config {
	uint64_t ram_base;        /* GPA of guest RAM (the zone), 4 MiB-aligned; default 0 */
	uint64_t ram_size;        /* bytes, multiple of 4 MiB; no default */
	uint64_t unaccepted_from; /* GPA from which RAM starts unaccepted (EFI bitmap);
	                             unit-aligned; default ram_base (all unaccepted) */
	unsigned nr_cpus;         /* guest CPUs (per-CPU GHCB, PSC descriptor); default 1 */
	unsigned psc_max_entry;   /* PSC entries per descriptor, 1..64; default 64 */
	uint8_t reserved[32];
};

M2D_API void m2d_guest_config_default(struct m2d_guest_config *cfg);

/*
 * m2d_guest_create() - a guest kernel with one ZONE_NORMAL over the RAM:
 * 4 MiB blocks from unaccepted_from on are on zone->unaccepted_pages (in
 * address order), the rest is free.  Watermarks follow the kernel's
 * arithmetic (calculate_min_free_kbytes, watermark_scale_factor = 10).
 * @ops/@arch: the hypervisor (ops copied; NULL means no SNP: acceptance
 * only clears the bitmap, as a TDX/SNP model without costs would).
 * Must be called inside the engine (m2d_engine_enter or a thread).
 * Return: 0, -EINVAL, -ENOMEM.
 */
M2D_API int m2d_guest_create(struct m2d_guest **out, const struct m2d_guest_config *cfg,
			     const struct m2d_guest_arch_ops *ops, void *arch);
/* Free; NULL-safe; sets *@g = NULL. */
M2D_API void m2d_guest_destroy(struct m2d_guest **g);

/*
 * m2d_guest_alloc_pages() - guest CPU @cpu allocates @n order-0 pages
 * (alloc_page per guest page fault): get_page_from_freelist's watermark
 * check and, when it fails, the lazy acceptance (try_to_accept_memory).
 * The GPAs are written to @gpas (n entries; may be NULL).
 * Return: pages allocated (< @n only when the zone is exhausted), or a
 * negative errno (acceptance failed: -EIO).
 */
M2D_API int64_t m2d_guest_alloc_pages(struct m2d_guest *g, int cpu, uint64_t n, uint64_t *gpas);

/*
 * m2d_guest_accept_memory() - accept_memory(@start, @size) directly (the
 * kernel's accept_page / callers outside the allocator).
 * Return: 0 or -EIO.
 */
M2D_API int m2d_guest_accept_memory(struct m2d_guest *g, int cpu, uint64_t start, uint64_t size);

/* Is the 2 MiB unit holding @gpa still unaccepted (its bitmap bit set)? */
M2D_API bool m2d_guest_range_unaccepted(const struct m2d_guest *g, uint64_t gpa);

struct m2d_guest_stats {
	uint64_t free_pages;          /* NR_FREE_PAGES (includes unaccepted) */
	uint64_t unaccepted_pages;    /* NR_UNACCEPTED */
	uint64_t allocated_pages;     /* pages handed out */
	uint64_t wmark_min, wmark_low, wmark_high; /* zone watermarks, pages */
	uint64_t accepted_bytes;      /* bytes whose bitmap bits were cleared */
	uint64_t accept_calls;        /* accept_memory calls */
	uint64_t accept_retries;      /* accepting_list overlaps waited on */
	uint64_t blocks_accepted;     /* try_to_accept_memory_one successes */
	uint64_t arch_accepts;        /* arch_accept_memory calls (one per set-bit run) */
	uint64_t psc_descs;           /* PSC descriptors built (__set_pages_state calls) */
	uint64_t psc_entries_2m;      /* 2M PSC entries */
	uint64_t psc_entries_4k;      /* 4K PSC entries */
	uint64_t vmgexits;            /* VMGEXIT(PSC) issued (incl. re-issues) */
	uint64_t pvalidate_2m;        /* 2M PVALIDATEs */
	uint64_t pvalidate_4k;        /* 4K PVALIDATEs (incl. the SIZEMISMATCH fallback) */
	uint64_t pvalidate_fallbacks; /* 2M PVALIDATEs that fell back to 512 x 4K */
};
M2D_API void m2d_guest_stats_get(const struct m2d_guest *g, struct m2d_guest_stats *out);

/* ---- guest page tables --------------------------------------------------- */

struct m2d_guest_pt;

/*
 * m2d_guest_pt_create() - guest page tables for [@base, @base + @size)
 * identity-mapped with leaves of @level (the selftests' virt_map: x86
 * uses M2D_LEVEL_1G, arm64 M2D_LEVEL_4K), the table pages themselves placed
 * at guest-physical @table_gpa onward (the selftest puts them in memslot 0).
 * @arm64: stage-1 arm64 format instead of x86-64.
 * Return: 0, -EINVAL, -ENOMEM.
 */
M2D_API int m2d_guest_pt_create(struct m2d_guest_pt **out, uint64_t base, uint64_t size,
				int level, bool arm64, uint64_t table_gpa);
/*
 * m2d_guest_pt_create_map() - the same for [@gva, @gva + @size) mapped to
 * [@gpa, @gpa + @size) (the selftests' virt_map(vm, vaddr, paddr, npages)).
 */
M2D_API int m2d_guest_pt_create_map(struct m2d_guest_pt **out, uint64_t gva, uint64_t gpa,
				    uint64_t size, int level, bool arm64, uint64_t table_gpa);
M2D_API void m2d_guest_pt_destroy(struct m2d_guest_pt **gpt);

/*
 * The guest side of a 2D walk for @gva: the GPA it maps to, the guest leaf
 * level, and the GPA of every guest table entry read on the way (root
 * first; @n_entries set).  The hardware then translates each of those
 * GPAs and the final one through the host's second-dimension table.
 * Return: 0, -EFAULT (not mapped).
 */
M2D_API int m2d_guest_pt_translate(const struct m2d_guest_pt *gpt, uint64_t gva, uint64_t *gpa,
				   int *level, uint64_t entry_gpas[5], unsigned *n_entries);
/*
 * An m2d_guest_walk_fn over @priv = a struct m2d_guest_pt (x86 format):
 * FNAME(walk_addr_generic) and FNAME(update_accessed_dirty_bits) for a
 * shadow-paging VM (m2d_vm_set_guest_walker).
 */
struct m2d_guest_walk;
M2D_API int m2d_guest_pt_walk(void *priv, uint64_t gva, bool write, bool peek,
			      struct m2d_guest_walk *out);
/* Guest table pages (4 KiB each). */
M2D_API uint64_t m2d_guest_pt_tables(const struct m2d_guest_pt *gpt);

struct m2d_sim;

/* ---- workloads: the KVM selftest mmu_stress_test --------------------------- */

struct m2d_mmu_stress_config {
	bool arm64;              /* arm64 host + guest (stage-2, 4K guest pages) */
	unsigned nr_vcpus;       /* vCPU threads, on host CPUs 0..nr_vcpus-1 */
	unsigned main_cpu;       /* host CPU of the main (boss) thread */
	uint64_t max_mem;        /* -m: guest memory, multiple of slot_size */
	uint64_t slot_size;      /* -s: the memfd size and each memslot's size */
	bool efault_skip;        /* stage 3: skip each -EFAULT (RIP += 3 / PC += 4);
	                            false: stop at the first -EFAULT (arm64-style) */
	bool fault_mmap_lock;    /* x86 faults take mmap_lock + vma_lookup */
	int notifier;            /* enum m2d_mm_notifier_granularity */
	/* Called by the main thread at each rendezvous (may be NULL). */
	void (*progress)(void *arg, const char *phase, double fraction);
	void *progress_arg;
};

struct m2d_mmu_stress_result {
	double run1_s, reset_s, run2_s, ro_s, rw_s; /* the selftest's printed phases */
	uint64_t nr_slots;          /* memslots created */
	uint64_t slice_bytes;       /* bytes of GPA per vCPU */
	uint64_t efault_exits;      /* -EFAULT exits seen by the vCPU threads */
	uint64_t guest_pt_tables;   /* guest page-table pages (virt_map) */
	uint64_t mprotect_invalidations; /* mmu_notifier ranges fired by the two mprotects */
};

/*
 * m2d_mmu_stress_run() - replay tools/testing/selftests/kvm/mmu_stress_test.c
 * in @sim (host CPUs >= nr_vcpus and > main_cpu): the 2 GiB memfd with
 * MADV_NOHUGEPAGE pre-faulted from the host, max_mem / slot_size aliasing
 * memslots from GPA 4 GiB, one vCPU thread per slice, the main thread
 * polling the rendezvous with usleep(100), mprotect(PROT_READ) and back.
 * Return: 0, -EINVAL (bad configuration), -ENOMEM, or the engine's error.
 */
struct m2d_mmu_stress;
/* @state: as m2d_lazy_accept_run(). */
M2D_API int m2d_mmu_stress_run(struct m2d_sim *sim, const struct m2d_mmu_stress_config *cfg,
			       struct m2d_mmu_stress_result *out, struct m2d_mmu_stress **state);
M2D_API void m2d_mmu_stress_free(struct m2d_mmu_stress **state);

/* ---- workloads: SNP lazy acceptance under `stress --vm` -------------------- */

/* Host direct-map handling of RMP updates (DESIGN.md 4, MECHANISMS.md 2.4). */
enum m2d_la_directmap {
	M2D_LA_DIRECTMAP_PRESPLIT_4K = 0,    /* (a) on a direct map pre-split to 4K */
	M2D_LA_DIRECTMAP_SPLIT_ON_DEMAND = 1,/* (a) on a 2M direct map, split on demand */
	M2D_LA_DIRECTMAP_SPLIT_ONLY = 2,     /* (b) adjust_direct_map: set_memory_4k only */
	M2D_LA_DIRECTMAP_NR_PAGES = 3,       /* (c) one set_direct_map_valid_noflush per folio */
	M2D_LA_DIRECTMAP_NR
};

struct m2d_lazy_accept_config {
	uint64_t guest_mem;        /* guest RAM, multiple of 4 MiB */
	unsigned nr_vcpus;         /* vCPU threads */
	unsigned nr_workers;       /* stress --vm workers (<= nr_vcpus), worker i on vCPU i */
	uint64_t worker_mem;       /* --vm-bytes, multiple of 4K */
	unsigned host_cpus;        /* host CPUs, even: two sockets/nodes of host_cpus / 2 */
	enum m2d_la_directmap directmap;
	bool cpa_lock_none;        /* the RFC removing cpa_lock */
	bool restore_2m;           /* collapse direct-map tables back to 2M */
	bool flush_on_invalidate;  /* (a) with set_memory_np/p (flushing) */
	bool pin_node0;            /* vCPUs and guest memory on node 0 */
	bool gmem_folio_4k;        /* guest_memfd order-0 folios only */
};

struct m2d_lazy_accept_result {
	double fault_in_gbps;      /* GiB/s of FileHugePages growth (first to last 2M folio);
	                              4K folios: gmem bytes / duration */
	double duration_s;         /* virtual time until the last worker finished */
	uint64_t file_huge_bytes;  /* FileHugePages at the end */
	uint64_t gmem_bytes;       /* guest_memfd bytes allocated */
	uint64_t accepted_bytes;   /* guest memory accepted */
	uint64_t directmap_4k, directmap_2m, directmap_1g; /* /proc/meminfo DirectMap*, bytes */
	uint64_t rmpupdates;
	uint64_t vmgexits;         /* guest PSC VMGEXITs */
	uint64_t pvalidate_2m, pvalidate_4k;
};

struct m2d_lazy_accept;

/*
 * m2d_lazy_accept_run() - replay the SNP lazy-acceptance fault-in
 * (REFERENCE.md A1) in @sim: @sim must have cfg->host_cpus CPUs on 2
 * nodes.  @state NULL: everything is torn down before returning (which
 * charges the teardown's work to @sim); else, on success, the host, VM and
 * guest stay alive in *@state until m2d_lazy_accept_free(), so that the
 * sim's statistics cover the replay only.
 * Return: 0, -EINVAL, -ENOMEM, or the engine's / model's error.
 */
M2D_API int m2d_lazy_accept_run(struct m2d_sim *sim, const struct m2d_lazy_accept_config *cfg,
				struct m2d_lazy_accept_result *out, struct m2d_lazy_accept **state);
/* Tear down what m2d_lazy_accept_run() kept. NULL-safe; sets *@state = NULL. */
M2D_API void m2d_lazy_accept_free(struct m2d_lazy_accept **state);

#ifdef __cplusplus
}
#endif
#endif /* M2D_GUEST_H */
