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
	uint8_t reserved[32];
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

#ifdef __cplusplus
}
#endif
#endif /* M2D_WORKLOADS_H */
