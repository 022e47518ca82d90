/* SPDX-License-Identifier: MIT */
/*
 * mmu2d/workloads.h - whole-experiment workloads built on the public
 * modules: KVM's dirty_log_perf_test (lib/guest/dirty_log_perf.c), HugeTLB
 * HGM MADV_COLLAPSE under a running guest (lib/guest/hgm_collapse.c) and
 * guest_memfd shared<->private churn (lib/guest/gmem_churn.c).
 *
 *	struct m2d_dirty_log_config cfg;
 *	struct m2d_dirty_log_result res;
 *	m2d_dirty_log_config_default(&cfg);
 *	cfg.nr_vcpus = 96;
 *	m2d_sim_create(&sim, &sc);                  // sc.cpus >= nr_vcpus + 1
 *	m2d_dirty_log_run(sim, &cfg, &res);
 *	... res.iterations[k].dirty_s ...
 *	m2d_dirty_log_result_free(&res);
 *
 * Each workload builds its own host (physmem), host mm and VM inside @sim,
 * runs its simulated threads to completion (m2d_sim_run) and tears them
 * down; the sim keeps the counters, lock statistics and breakdown.
 */
#ifndef M2D_WORKLOADS_H
#define M2D_WORKLOADS_H

#include <mmu2d/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct m2d_sim;

/* ---- dirty_log_perf_test ---------------------------------------------------- */

/* Guest memory backing (the selftest's -s). */
enum m2d_backing {
	M2D_BACKING_HUGETLB_1G = 0, /* anonymous_hugetlb_1gb */
	M2D_BACKING_HUGETLB_2M = 1, /* anonymous_hugetlb_2mb */
	M2D_BACKING_THP = 2,        /* anonymous_thp: MADV_HUGEPAGE */
	M2D_BACKING_ANON = 3,       /* anonymous: MADV_NOHUGEPAGE, 4K */
	M2D_BACKING_NR
};

/* Which KVM MMU runs the guest. */
enum m2d_dirty_log_mmu {
	M2D_DIRTY_LOG_MMU_TDP = 0,    /* ept=Y tdp_mmu=Y */
	M2D_DIRTY_LOG_MMU_LEGACY = 1, /* ept=Y tdp_mmu=N: write-locked faults and splits */
	M2D_DIRTY_LOG_MMU_SHADOW = 2, /* ept=N: the guest's 4K page tables shadowed, no PML */
	M2D_DIRTY_LOG_MMU_NR
};

struct m2d_dirty_log_config {
	unsigned nr_vcpus;        /* -v; default 1 */
	uint64_t mem_per_vcpu;    /* -b bytes per vCPU; default 1 GiB */
	enum m2d_backing backing; /* -s; default HUGETLB_1G */
	enum m2d_dirty_log_mmu mmu; /* default TDP */
	bool eager_split;         /* kvm.eager_page_split; default true */
	bool pml;                 /* Intel PML; default true */
	unsigned write_percent;   /* 1..100; default 100.  When it divides 100 the
	                             2022 rule applies: page i written iff
	                             i % (100 / P) == 0 (-f 100/P); otherwise
	                             memstress's per-page random draw */
	bool initially_all_set;   /* manual protect + KVM_DIRTY_LOG_INITIALLY_SET (the
	                             selftest default); false = -g (GET clears) */
	unsigned iterations;      /* -i, >= 1; default 2 */
	/* Called by the main thread after each phase (may be NULL). */
	void (*progress)(void *arg, const char *phase, double fraction);
	void *progress_arg;
	bool fault_split_huge;    /* m2d_vm_config.fault_split_huge: TDP faults split huge
	                             SPTEs in place (6.2+); false for 2022 kernels; default true */
	bool legacy_eager_split;  /* m2d_vm_config.legacy_eager_split: replay the "Extend Eager
	                             Page Splitting to the shadow MMU" series (EPS3) with the
	                             legacy MMU; default false (not upstream) */
	bool split_alloc_nowait;  /* m2d_vm_config.split_alloc_nowait: eager split allocates
	                             with GFP_NOWAIT under mmu_lock first (5.18 .. 6.9); true for
	                             2022 kernels; default false */
	bool arm64;               /* arm64 host: the stage-2 MMU (mmu must be TDP) and a 48-bit
	                             IPA (-m 2, VM_MODE_P48V48_4K); default false (x86) */
	bool s2_fault_write_lock; /* m2d_vm_config.s2_fault_write_lock (arm64, before 6.2) */
	bool s2_relax_tlbi_is;    /* m2d_vm_config.s2_relax_tlbi_is (arm64) */
	uint8_t pad_[2];
	uint64_t stride;          /* bytes between the pages a vCPU accesses (a multiple of 4K;
	                             0 = 4K, every page); 2M = the "sparse" variant
	                             dirty_log_perf_test_sparse (one page per 2M) */
	uint32_t s2_split_chunk_kib; /* m2d_vm_config.s2_split_chunk_kib (arm64 eager split chunk;
	                             0 = 2M) */
	uint8_t reserved[12];
};

struct m2d_dirty_log_iteration {
	double dirty_s;           /* "Iteration k dirty memory time" */
	double get_dirty_log_s;   /* "Iteration k get dirty log time" */
	double clear_dirty_log_s; /* "Iteration k clear dirty log time" (0 without manual protect) */
	uint64_t dirty_pages;     /* bits set in the bitmap GET returned */
};

struct m2d_dirty_log_result {
	double populate_s;
	double enable_dirty_logging_s;
	double disable_dirty_logging_s;
	unsigned nr_iterations;
	struct m2d_dirty_log_iteration *iterations; /* nr_iterations entries (m2d_dirty_log_result_free) */
	uint64_t guest_pages;     /* 4K pages in the test memslot */
	uint64_t gpa;             /* its guest-physical base */
	uint64_t pages_4k, pages_2m, pages_1g; /* leaf SPTEs after disabling dirty logging */
};

M2D_API void m2d_dirty_log_config_default(struct m2d_dirty_log_config *cfg);
/*
 * m2d_dirty_log_run() - replay tools/testing/selftests/kvm/dirty_log_perf_test.c
 * (the 2022 form with -f) in @sim: one memslot of nr_vcpus * mem_per_vcpu
 * at the top of a 46-bit guest physical space, a vCPU thread per vCPU on
 * host CPUs 0..nr_vcpus-1 and the main thread on CPU nr_vcpus (the sim
 * needs nr_vcpus + 1 CPUs).
 * Return: 0, -EINVAL (bad configuration), -ENOMEM, or an engine error.
 */
M2D_API int m2d_dirty_log_run(struct m2d_sim *sim, const struct m2d_dirty_log_config *cfg,
			      struct m2d_dirty_log_result *out);
M2D_API void m2d_dirty_log_result_free(struct m2d_dirty_log_result *res);

/* ---- HugeTLB HGM: MADV_COLLAPSE under a running guest ------------------------ */

/* The collapse path of each 1G page (the HGM series' MADV_COLLAPSE). */
enum m2d_hgm_path {
	M2D_HGM_PATH_4K_1G = 0,    /* one MADV_COLLAPSE of the 1G page: 4K PTEs -> PUD */
	M2D_HGM_PATH_4K_2M_1G = 1, /* 512 MADV_COLLAPSE of 2M (4K -> PMD), then 1G (PMD -> PUD) */
	M2D_HGM_PATH_NR
};

struct m2d_hgm_collapse_config {
	int mapcount;             /* enum m2d_mm_mapcount; default THP_LIKE */
	enum m2d_hgm_path path;   /* default 4K_1G */
	uint64_t mem;             /* guest memory, a multiple of 1 GiB; default 4 GiB */
	unsigned nr_vcpus;        /* vCPUs writing while the collapse runs; default 4 */
	unsigned skip_pages;      /* the guest writes one word every skip_pages pages; default 4 */
	void (*progress)(void *arg, const char *phase, double fraction);
	void *progress_arg;
	uint8_t reserved[32];
};

struct m2d_hgm_collapse_result {
	double collapse_s;        /* sum of the MADV_COLLAPSE calls' durations */
	double per_1g_s;          /* collapse_s per 1G page */
	double invalidate_start_s;/* time in KVM's invalidate_range_start (zap + flush) */
	uint64_t mapcount_atomics;/* atomic mapcount RMWs during the collapse phase: the
	                             per-4K _mapcount decrements plus the folio-wide ones
	                             (large/head counter subtract, the new entry's map) */
	uint64_t mapcount_subpage_atomics; /* of which on distinct per-4K _mapcounts
	                             (thp-like: 262,144 per 1G collapsed from 4K) */
	double vcpu_stall_s;      /* longest total time one vCPU was blocked on the
	                             invalidation (mmu_invalidate_retry + mmu_lock waits) */
	double vcpu_stall_total_s;/* the same summed over vCPUs */
	uint64_t nr_1g;           /* 1G pages collapsed */
	uint64_t madvise_calls;   /* MADV_COLLAPSE calls issued */
	uint64_t guest_writes;    /* guest accesses retired over the whole run */
	uint64_t host_pages_1g_after; /* PUD leaves mapping the memory at the end */
};

M2D_API void m2d_hgm_collapse_config_default(struct m2d_hgm_collapse_config *cfg);
/*
 * m2d_hgm_collapse_run() - a KVM guest whose memory is a 1G HugeTLB memfd
 * mapped MAP_SHARED with HGM (MADV_SPLIT) and mapped at 4K by
 * UFFDIO_CONTINUE (post-copy style); vCPUs (CPUs 0..n-1) write one word
 * every skip_pages pages of their slice in a loop; after one full pass, the
 * VMM thread (CPU n) collapses every 1G page by the configured path while
 * the vCPUs keep running.  The sim needs nr_vcpus + 1 CPUs.
 * Return: 0, -EINVAL, -ENOMEM, or an engine error.
 */
M2D_API int m2d_hgm_collapse_run(struct m2d_sim *sim, const struct m2d_hgm_collapse_config *cfg,
				 struct m2d_hgm_collapse_result *out);

/* ---- guest_memfd shared<->private churn -------------------------------------- */

struct m2d_gmem_churn_config {
	uint64_t mem;             /* guest memory (one guest_memfd), multiple of 2M; default 1 GiB */
	int punch;                /* enum m2d_gmem_punch: hole-punch policy; default ALLOW */
	int folio;                /* enum m2d_gmem_folio; default 2M */
	int directmap;            /* enum m2d_rmp_directmap; default INVALIDATE (split on demand) */
	uint64_t conversions;     /* conversions (each one range, one direction); default 20000 */
	unsigned samples;         /* time-series points after the initial fault-in; default 20 */
	unsigned max_order;       /* ranges are 4K << k, k uniform in 0..max_order, aligned
	                             to their size; default 9 (up to 2M) */
	void (*progress)(void *arg, const char *phase, double fraction);
	void *progress_arg;
	uint8_t reserved[32];
};

/* One point of the time series. */
struct m2d_gmem_churn_sample {
	double t_s;               /* virtual time of the vCPU */
	uint64_t conversions;     /* conversions done so far */
	uint64_t private_bytes;   /* guest memory whose attribute is private */
	uint64_t private_2m_bytes;/* of which in 2M regions mappable at 2M: wholly private,
	                             one 2M folio, a 2M RMP entry */
	double private_2m_share;  /* private_2m_bytes / private_bytes (0 if none) */
	uint64_t sptes_2m, sptes_4k; /* private SPTEs mapped now, by size */
	uint64_t rmp_smashed_regions; /* 2M RMP regions held as 4K entries now */
	uint64_t rmp_psmash;      /* PSMASHes so far */
	uint64_t rmpupdates;      /* RMPUPDATEs so far */
	uint64_t gmem_folios_2m, gmem_folios_4k, gmem_bytes; /* guest_memfd page cache */
	uint64_t directmap_4k, directmap_2m, directmap_1g; /* bytes (/proc/meminfo) */
	uint64_t punches_refused; /* hole punches the policy refused so far */
};

struct m2d_gmem_churn_result {
	unsigned nr_samples;      /* samples[0] is after the initial fault-in */
	struct m2d_gmem_churn_sample *samples; /* m2d_gmem_churn_result_free */
	unsigned samples_alloc;   /* entries allocated (internal) */
	double duration_s;
};

M2D_API void m2d_gmem_churn_config_default(struct m2d_gmem_churn_config *cfg);
/*
 * m2d_gmem_churn_run() - an SEV-SNP guest (one vCPU on CPU 0) whose memory
 * is one guest_memfd, all private and faulted in first; then it converts
 * random ranges (KVM_HC_MAP_GPA_RANGE exits): to shared, the VMM sets the
 * attributes and punches the range out of the guest_memfd (QEMU's discard),
 * which the policy may refuse or turn into zeroing; to private, the VMM sets
 * the attributes and the guest touches every page (faults, folio
 * allocation, RMPUPDATE).  The state is sampled at regular intervals.
 * Return: 0, -EINVAL, -ENOMEM, or an engine error.
 */
M2D_API int m2d_gmem_churn_run(struct m2d_sim *sim, const struct m2d_gmem_churn_config *cfg,
			       struct m2d_gmem_churn_result *out);
M2D_API void m2d_gmem_churn_result_free(struct m2d_gmem_churn_result *res);

#ifdef __cplusplus
}
#endif
#endif /* M2D_WORKLOADS_H */
