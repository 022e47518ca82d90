// SPDX-License-Identifier: MIT
/*
 * sim/reference.c - the reference table (see reference.h), built in and from files.
 *
 * Which rows are calibration points: every PFN-STOP phase (the fitted
 * parameters of model.md are the per-operation costs those phases expose),
 * SNP-01 and SNP-03, EPS1-01..05, and the two ends (2 and 64 vCPUs) of the
 * EPS3 vCPU sweeps.  The EPS3 points in between (4..32 vCPUs) are validation
 * points: the shape of the scaling curve must come from the mechanisms
 * (mmu_lock contention of the legacy MMU), never from a fit.  The arm64
 * dirty-log tables (ARMEPS on arm64-2023, ARMPF on arm64-2022) calibrate
 * one point per fitted value (1-vCPU points for per-fault costs, the
 * largest configurations for the shared paths, T1-128-base for the block
 * TLBI plateau); every other point of the sweeps validates.  HGM-02 is an
 * operation count, exact from the mechanism.  Tolerances are DESIGN.md
 * section 7's: +-10% (dirty-log +-15%), with the run2 phase +-25% and the
 * reset phase a factor of 3 (a usleep(100) rendezvous: timer slack
 * dominates); held-back configurations are judged at +-20% by whoever holds
 * their values.
 */
#include "reference.h"
#include "cli.h"
#include "json.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CAL REF_CALIBRATION
#define VAL REF_VALIDATION
#define HELD REF_HELD_BACK
#define REL(t) REF_TOL_REL, (t)
#define FACTOR(t) REF_TOL_FACTOR, (t)
/* REF(id, role, profile, command, quick, key, value, unit, REL(t) or FACTOR(t), what) */
#define REF(i, r, p, c, q, k, v, u, ...)                                                           \
	{ .id = (i), .role = (r), .profile = (p), .command = (c), .quick = (q), .key = (k),        \
	  .value = (v), .unit = (u), REF_TAIL(__VA_ARGS__) }
#define REF_TAIL(kind, t, w) .tol_kind = (kind), .tol = (t), .what = (w)

/*
 * The five phases of one mmu_stress_test run (REFERENCE.md A5): run2 +-25%,
 * reset a factor of 3, the others +-10%; --quick runs 8 GiB (1/16).
 */
#define PFN_PHASE(pfx, ph, r, p, c, what, v, tol)                                                  \
	REF(pfx "-" ph, r, p, c, "--mem 8G", ph "_s", v, "s", tol,                                 \
	    "mmu_stress_test '" ph "' phase, " what)
#define PFN_PHASES(pfx, r, p, c, what, run1, reset, run2, ro, rw)                                  \
	PFN_PHASE(pfx, "run1", r, p, c, what, run1, REL(0.10)),                                    \
	PFN_PHASE(pfx, "reset", r, p, c, what, reset, FACTOR(3)),                                  \
	PFN_PHASE(pfx, "run2", r, p, c, what, run2, REL(0.25)),                                    \
	PFN_PHASE(pfx, "ro", r, p, c, what, ro, REL(0.10)),                                        \
	PFN_PHASE(pfx, "rw", r, p, c, what, rw, REL(0.10))

/*
 * --quick scales every configuration down about 16x (memory, or vCPUs where
 * memory per vCPU is a 1 GiB page) for a smoke check; the values are then
 * not comparable with the references.
 */
static const struct ref_entry builtin[] = {
	PFN_PHASES("PFN-STOP-x86", CAL, "x86", "mmu-stress --arch x86",
		   "128 GiB aliased onto 2 GiB, 48 vCPUs, stop on first -EFAULT (x86)",
		   6.873408794, 0.000165898, 0.035537803, 6.149083106, 7.713627355),
	PFN_PHASES("PFN-STOP-arm64", CAL, "arm64", "mmu-stress --arch arm64",
		   "128 GiB aliased onto 2 GiB, 48 vCPUs, stop on first -EFAULT (arm64)",
		   13.960144969, 0.000178596, 0.018020005, 50.924434051, 14.712983786),
	REF("SNP-01", CAL, "snp",
	    "lazy-accept --directmap presplit-4k", "--guest-mem 64G --worker-mem 320M",
	    "fault_in_gbps", 12.9, "GB/s", REL(0.10),
	    "gmem fault-in rate, 1 TB SNP guest, 128 vCPUs, direct map pre-split to 4K, unpinned"),
	REF("SNP-03", CAL, "snp",
	    "lazy-accept --directmap split-on-demand", "--guest-mem 64G --worker-mem 320M",
	    "fault_in_gbps", 8.0, "GB/s", REL(0.10),
	    "gmem fault-in rate, 1 TB SNP guest, 128 vCPUs,"
	    " 2M direct map split on demand, unpinned"),
	REF("EPS1-01-N", CAL, "x86-2022",
	    "dirty-log --vcpus 96 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu tdp --eager-split off --initially-all-set --iterations 3", "--vcpus 6",
	    "iterations[0].clear_dirty_log_s", 0.049572219, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 clear dirty log time,"
	    " initially-all-set, 96 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, TDP MMU, eager_page_split=N"),
	REF("EPS1-01-Y", CAL, "x86-2022",
	    "dirty-log --vcpus 96 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu tdp --eager-split on --initially-all-set --iterations 3", "--vcpus 6",
	    "iterations[0].clear_dirty_log_s", 1.667811687, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 clear dirty log time,"
	    " initially-all-set, 96 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, TDP MMU, eager_page_split=Y"),
	REF("EPS1-02-N", CAL, "x86-2022",
	    "dirty-log --vcpus 96 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu tdp --eager-split off --initially-all-set --iterations 3", "--vcpus 6",
	    "iterations[1].dirty_s", 2.751442902, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 2 dirty memory time, initially-all-set,"
	    " 96 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, TDP MMU, eager_page_split=N"),
	REF("EPS1-02-Y", CAL, "x86-2022",
	    "dirty-log --vcpus 96 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu tdp --eager-split on --initially-all-set --iterations 3", "--vcpus 6",
	    "iterations[1].dirty_s", 0.127016504, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 2 dirty memory time, initially-all-set,"
	    " 96 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, TDP MMU, eager_page_split=Y"),
	REF("EPS1-03-N", CAL, "x86-2022",
	    "dirty-log --vcpus 96 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu tdp --eager-split off --initially-all-set --iterations 3", "--vcpus 6",
	    "iterations[2].clear_dirty_log_s", 1.374501209, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 3 clear dirty log time,"
	    " initially-all-set, 96 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, TDP MMU, eager_page_split=N"),
	REF("EPS1-03-Y", CAL, "x86-2022",
	    "dirty-log --vcpus 96 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu tdp --eager-split on --initially-all-set --iterations 3", "--vcpus 6",
	    "iterations[2].clear_dirty_log_s", 1.422478617, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 3 clear dirty log time,"
	    " initially-all-set, 96 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, TDP MMU, eager_page_split=Y"),
	REF("EPS1-04-N", CAL, "x86-2022",
	    "dirty-log --vcpus 96 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu tdp --eager-split off --iterations 3", "--vcpus 6",
	    "enable_dirty_logging_s", 0.001683739, "s", REL(0.15),
	    "dirty_log_perf_test enabling dirty logging time, 96 vCPUs,"
	    " 1 GiB/vCPU, 1 GiB HugeTLB, TDP MMU, eager_page_split=N"),
	REF("EPS1-04-Y", CAL, "x86-2022",
	    "dirty-log --vcpus 96 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu tdp --eager-split on --iterations 3", "--vcpus 6",
	    "enable_dirty_logging_s", 1.546904175, "s", REL(0.15),
	    "dirty_log_perf_test enabling dirty logging time, 96 vCPUs,"
	    " 1 GiB/vCPU, 1 GiB HugeTLB, TDP MMU, eager_page_split=Y"),
	REF("EPS1-05-N", CAL, "x86-2022",
	    "dirty-log --vcpus 96 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu tdp --eager-split off --iterations 3", "--vcpus 6",
	    "iterations[0].dirty_s", 2.943733325, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 dirty memory time, 96 vCPUs,"
	    " 1 GiB/vCPU, 1 GiB HugeTLB, TDP MMU, eager_page_split=N"),
	REF("EPS1-05-Y", CAL, "x86-2022",
	    "dirty-log --vcpus 96 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu tdp --eager-split on --iterations 3", "--vcpus 6",
	    "iterations[0].dirty_s", 0.145979748, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 dirty memory time, 96 vCPUs,"
	    " 1 GiB/vCPU, 1 GiB HugeTLB, TDP MMU, eager_page_split=Y"),
	REF("EPS3-T1-2-N", CAL, "x86-2022",
	    "dirty-log --vcpus 2 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split off", "--vcpus 1",
	    "iterations[0].dirty_s", 0.326340139, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 dirty memory time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 2 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=N"),
	REF("EPS3-T1-2-Y", CAL, "x86-2022",
	    "dirty-log --vcpus 2 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split on", "--vcpus 1",
	    "iterations[0].dirty_s", 0.058645119, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 dirty memory time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 2 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=Y"),
	REF("EPS3-T1-4-N", VAL, "x86-2022",
	    "dirty-log --vcpus 4 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split off", "--vcpus 1",
	    "iterations[0].dirty_s", 0.425658733, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 dirty memory time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 4 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=N"),
	REF("EPS3-T1-4-Y", VAL, "x86-2022",
	    "dirty-log --vcpus 4 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split on", "--vcpus 1",
	    "iterations[0].dirty_s", 0.059211364, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 dirty memory time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 4 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=Y"),
	REF("EPS3-T1-8-N", VAL, "x86-2022",
	    "dirty-log --vcpus 8 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split off", "--vcpus 1",
	    "iterations[0].dirty_s", 1.392495283, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 dirty memory time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 8 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=N"),
	REF("EPS3-T1-8-Y", VAL, "x86-2022",
	    "dirty-log --vcpus 8 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split on", "--vcpus 1",
	    "iterations[0].dirty_s", 0.059992269, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 dirty memory time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 8 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=Y"),
	REF("EPS3-T1-16-N", VAL, "x86-2022",
	    "dirty-log --vcpus 16 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split off", "--vcpus 1",
	    "iterations[0].dirty_s", 2.891475203, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 dirty memory time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 16 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=N"),
	REF("EPS3-T1-16-Y", VAL, "x86-2022",
	    "dirty-log --vcpus 16 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split on", "--vcpus 1",
	    "iterations[0].dirty_s", 0.074386427, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 dirty memory time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 16 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=Y"),
	REF("EPS3-T1-32-N", VAL, "x86-2022",
	    "dirty-log --vcpus 32 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split off", "--vcpus 2",
	    "iterations[0].dirty_s", 7.077453255, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 dirty memory time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 32 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=N"),
	REF("EPS3-T1-32-Y", VAL, "x86-2022",
	    "dirty-log --vcpus 32 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split on", "--vcpus 2",
	    "iterations[0].dirty_s", 0.074484273, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 dirty memory time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 32 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=Y"),
	REF("EPS3-T1-64-N", CAL, "x86-2022",
	    "dirty-log --vcpus 64 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split off", "--vcpus 4",
	    "iterations[0].dirty_s", 17.907075277, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 dirty memory time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 64 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=N"),
	REF("EPS3-T1-64-Y", CAL, "x86-2022",
	    "dirty-log --vcpus 64 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split on", "--vcpus 4",
	    "iterations[0].dirty_s", 0.080433025, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 dirty memory time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 64 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=Y"),
	REF("EPS3-T3-2-N", CAL, "x86-2022",
	    "dirty-log --vcpus 2 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split off", "--vcpus 1",
	    "enable_dirty_logging_s", 0.001618723, "s", REL(0.15),
	    "dirty_log_perf_test enabling dirty logging time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 2 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=N"),
	REF("EPS3-T3-2-Y", CAL, "x86-2022",
	    "dirty-log --vcpus 2 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split on", "--vcpus 1",
	    "enable_dirty_logging_s", 0.026362044, "s", REL(0.15),
	    "dirty_log_perf_test enabling dirty logging time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 2 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=Y"),
	REF("EPS3-T3-4-N", VAL, "x86-2022",
	    "dirty-log --vcpus 4 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split off", "--vcpus 1",
	    "enable_dirty_logging_s", 0.003214434, "s", REL(0.15),
	    "dirty_log_perf_test enabling dirty logging time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 4 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=N"),
	REF("EPS3-T3-4-Y", VAL, "x86-2022",
	    "dirty-log --vcpus 4 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split on", "--vcpus 1",
	    "enable_dirty_logging_s", 0.052079721, "s", REL(0.15),
	    "dirty_log_perf_test enabling dirty logging time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 4 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=Y"),
	REF("EPS3-T3-8-N", VAL, "x86-2022",
	    "dirty-log --vcpus 8 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split off", "--vcpus 1",
	    "enable_dirty_logging_s", 0.006392632, "s", REL(0.15),
	    "dirty_log_perf_test enabling dirty logging time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 8 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=N"),
	REF("EPS3-T3-8-Y", VAL, "x86-2022",
	    "dirty-log --vcpus 8 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split on", "--vcpus 1",
	    "enable_dirty_logging_s", 0.106090423, "s", REL(0.15),
	    "dirty_log_perf_test enabling dirty logging time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 8 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=Y"),
	REF("EPS3-T3-16-N", VAL, "x86-2022",
	    "dirty-log --vcpus 16 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split off", "--vcpus 1",
	    "enable_dirty_logging_s", 0.012733697, "s", REL(0.15),
	    "dirty_log_perf_test enabling dirty logging time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 16 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=N"),
	REF("EPS3-T3-16-Y", VAL, "x86-2022",
	    "dirty-log --vcpus 16 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split on", "--vcpus 1",
	    "enable_dirty_logging_s", 0.212877154, "s", REL(0.15),
	    "dirty_log_perf_test enabling dirty logging time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 16 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=Y"),
	REF("EPS3-T3-32-N", VAL, "x86-2022",
	    "dirty-log --vcpus 32 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split off", "--vcpus 2",
	    "enable_dirty_logging_s", 0.060493391, "s", REL(0.15),
	    "dirty_log_perf_test enabling dirty logging time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 32 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=N"),
	REF("EPS3-T3-32-Y", VAL, "x86-2022",
	    "dirty-log --vcpus 32 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split on", "--vcpus 2",
	    "enable_dirty_logging_s", 0.438669189, "s", REL(0.15),
	    "dirty_log_perf_test enabling dirty logging time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 32 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=Y"),
	REF("EPS3-T3-64-N", CAL, "x86-2022",
	    "dirty-log --vcpus 64 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split off", "--vcpus 4",
	    "enable_dirty_logging_s", 0.104983842, "s", REL(0.15),
	    "dirty_log_perf_test enabling dirty logging time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 64 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=N"),
	REF("EPS3-T3-64-Y", CAL, "x86-2022",
	    "dirty-log --vcpus 64 --mem-per-vcpu 1G --backing hugetlb-1g"
	    " --mmu legacy --eager-split on", "--vcpus 4",
	    "enable_dirty_logging_s", 1.19943536, "s", REL(0.15),
	    "dirty_log_perf_test enabling dirty logging time, legacy MMU (ept=Y,"
	    " tdp_mmu=N), 64 vCPUs, 1 GiB/vCPU, 1 GiB HugeTLB, eager_page_split=Y"),
	REF("HGM-02", VAL, "x86", "hgm-collapse --mapcount thp-like --path 4k-1g --mem 1G", "",
	    "mapcount_atomics", 262144, "atomics", REL(0.10),
	    "mapcount atomics of one MADV_COLLAPSE of a 1 GiB HugeTLB page mapped "
	    "at 4K, THP-like mapcount"),
	/*
	 * arm64 eager page splitting (REFERENCE.md A8, 6.2-rc3 +/- the series):
	 * the selftest default (manual protect + INITIALLY_SET), so the first
	 * CLEAR write-protects (and with the series splits) and "dirty time" is
	 * Iteration 2, the first pass that faults.  T1: one write per 2M
	 * (dirty_log_perf_test_sparse); T2: -f 10.
	 */
	REF("ARMEPS-T1-1-base", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 1 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split off", "",
	    "iterations[1].dirty_s", 0.00263, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 1 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T1-1-eps", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 1 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split on", "",
	    "iterations[1].dirty_s", 0.00166, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 1 vCPUs, eager split series"),
	REF("ARMEPS-T1-2-base", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 2 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split off", "",
	    "iterations[1].dirty_s", 0.0029500000000000004, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 2 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T1-2-eps", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 2 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split on", "",
	    "iterations[1].dirty_s", 0.0017, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 2 vCPUs, eager split series"),
	REF("ARMEPS-T1-4-base", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 4 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split off", "",
	    "iterations[1].dirty_s", 0.00321, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 4 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T1-4-eps", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 4 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split on", "",
	    "iterations[1].dirty_s", 0.00171, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 4 vCPUs, eager split series"),
	REF("ARMEPS-T1-8-base", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 8 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split off", "",
	    "iterations[1].dirty_s", 0.00497, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 8 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T1-8-eps", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 8 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split on", "",
	    "iterations[1].dirty_s", 0.0017800000000000001, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 8 vCPUs, eager split series"),
	REF("ARMEPS-T1-16-base", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 16 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split off", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 0.00951, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 16 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T1-16-eps", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 16 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split on", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 0.00182, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 16 vCPUs, eager split series"),
	REF("ARMEPS-T1-32-base", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 32 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split off", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 0.020149999999999998, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 32 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T1-32-eps", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 32 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split on", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 0.0030299999999999997, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 32 vCPUs, eager split series"),
	REF("ARMEPS-T1-64-base", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 64 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split off", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 0.04009, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 64 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T1-64-eps", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 64 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split on", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 0.0058, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 64 vCPUs, eager split series"),
	REF("ARMEPS-T1-128-base", CAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 128 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split off", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 0.08008, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 128 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T1-128-eps", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 128 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split on", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 0.012240000000000001, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 128 vCPUs, eager split series"),
	REF("ARMEPS-T1-152-base", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 152 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split off", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 0.10981, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 152 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T1-152-eps", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 152 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --stride 2M --eager-split on", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 0.01514, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, one write per 2M (sparse), 152 vCPUs, eager split series"),
	REF("ARMEPS-T2-1-base", CAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 1 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split off", "",
	    "iterations[1].dirty_s", 0.65, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 1 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T2-1-eps", CAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 1 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split on", "",
	    "iterations[1].dirty_s", 0.07, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 1 vCPUs, eager split series"),
	REF("ARMEPS-T2-2-base", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 2 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split off", "",
	    "iterations[1].dirty_s", 0.7, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 2 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T2-2-eps", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 2 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split on", "",
	    "iterations[1].dirty_s", 0.08, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 2 vCPUs, eager split series"),
	REF("ARMEPS-T2-4-base", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 4 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split off", "",
	    "iterations[1].dirty_s", 0.71, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 4 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T2-4-eps", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 4 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split on", "",
	    "iterations[1].dirty_s", 0.08, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 4 vCPUs, eager split series"),
	REF("ARMEPS-T2-8-base", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 8 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split off", "",
	    "iterations[1].dirty_s", 0.72, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 8 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T2-8-eps", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 8 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split on", "",
	    "iterations[1].dirty_s", 0.08, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 8 vCPUs, eager split series"),
	REF("ARMEPS-T2-16-base", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 16 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split off", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 0.76, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 16 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T2-16-eps", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 16 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split on", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 0.08, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 16 vCPUs, eager split series"),
	REF("ARMEPS-T2-32-base", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 32 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split off", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 1.61, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 32 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T2-32-eps", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 32 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split on", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 0.14, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 32 vCPUs, eager split series"),
	REF("ARMEPS-T2-64-base", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 64 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split off", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 3.46, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 64 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T2-64-eps", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 64 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split on", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 0.3, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 64 vCPUs, eager split series"),
	REF("ARMEPS-T2-128-base", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 128 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split off", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 5.49, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 128 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T2-128-eps", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 128 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split on", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 0.64, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 128 vCPUs, eager split series"),
	REF("ARMEPS-T2-152-base", CAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 152 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split off", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 6.44, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 152 vCPUs, 6.2-rc3 baseline"),
	REF("ARMEPS-T2-152-eps", VAL, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 152 --mem-per-vcpu 1G --backing hugetlb-2m --initially-all-set --iterations 3 --write-percent 10 --eager-split on", "--mem-per-vcpu 64M",
	    "iterations[1].dirty_s", 0.63, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, -f 10, 152 vCPUs, eager split series"),
	/*
	 * arm64 parallel stage-2 faults (REFERENCE.md A10, 6.1-rc3 +/- the
	 * series): THP, 4 GiB per vCPU, -i 2, selftest default (INITIALLY_SET);
	 * populate is iteration 0, "dirty" Iteration 2 (the faulting pass).
	 * Another host than ARMEPS (faults about 3x cheaper): profile arm64-2022.
	 */
	REF("ARMPF-pop-1-base", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 1 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock write", "",
	    "populate_s", 0.21, "s", REL(0.15),
	    "arm64 populate time, THP 4 GiB/vCPU, 1 vCPUs, write-locked faults (6.1-rc3)"),
	REF("ARMPF-dirty-1-base", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 1 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock write", "",
	    "iterations[1].dirty_s", 0.87, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, THP 4 GiB/vCPU, 1 vCPUs, write-locked faults (6.1-rc3)"),
	REF("ARMPF-pop-1-par", CAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 1 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock read", "",
	    "populate_s", 0.17, "s", REL(0.15),
	    "arm64 populate time, THP 4 GiB/vCPU, 1 vCPUs, parallel faults"),
	REF("ARMPF-dirty-1-par", CAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 1 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock read", "",
	    "iterations[1].dirty_s", 0.93, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, THP 4 GiB/vCPU, 1 vCPUs, parallel faults"),
	REF("ARMPF-pop-2-base", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 2 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock write", "",
	    "populate_s", 0.26, "s", REL(0.15),
	    "arm64 populate time, THP 4 GiB/vCPU, 2 vCPUs, write-locked faults (6.1-rc3)"),
	REF("ARMPF-dirty-2-base", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 2 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock write", "",
	    "iterations[1].dirty_s", 1.11, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, THP 4 GiB/vCPU, 2 vCPUs, write-locked faults (6.1-rc3)"),
	REF("ARMPF-pop-2-par", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 2 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock read", "",
	    "populate_s", 0.23, "s", REL(0.15),
	    "arm64 populate time, THP 4 GiB/vCPU, 2 vCPUs, parallel faults"),
	REF("ARMPF-dirty-2-par", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 2 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock read", "",
	    "iterations[1].dirty_s", 1.16, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, THP 4 GiB/vCPU, 2 vCPUs, parallel faults"),
	REF("ARMPF-pop-4-base", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 4 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock write", "",
	    "populate_s", 0.39, "s", REL(0.15),
	    "arm64 populate time, THP 4 GiB/vCPU, 4 vCPUs, write-locked faults (6.1-rc3)"),
	REF("ARMPF-dirty-4-base", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 4 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock write", "",
	    "iterations[1].dirty_s", 2.39, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, THP 4 GiB/vCPU, 4 vCPUs, write-locked faults (6.1-rc3)"),
	REF("ARMPF-pop-4-par", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 4 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock read", "",
	    "populate_s", 0.31, "s", REL(0.15),
	    "arm64 populate time, THP 4 GiB/vCPU, 4 vCPUs, parallel faults"),
	REF("ARMPF-dirty-4-par", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 4 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock read", "",
	    "iterations[1].dirty_s", 1.27, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, THP 4 GiB/vCPU, 4 vCPUs, parallel faults"),
	REF("ARMPF-pop-8-base", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 8 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock write", "--mem-per-vcpu 256M",
	    "populate_s", 0.68, "s", REL(0.15),
	    "arm64 populate time, THP 4 GiB/vCPU, 8 vCPUs, write-locked faults (6.1-rc3)"),
	REF("ARMPF-dirty-8-base", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 8 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock write", "--mem-per-vcpu 256M",
	    "iterations[1].dirty_s", 5.01, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, THP 4 GiB/vCPU, 8 vCPUs, write-locked faults (6.1-rc3)"),
	REF("ARMPF-pop-8-par", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 8 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock read", "--mem-per-vcpu 256M",
	    "populate_s", 0.39, "s", REL(0.15),
	    "arm64 populate time, THP 4 GiB/vCPU, 8 vCPUs, parallel faults"),
	REF("ARMPF-dirty-8-par", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 8 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock read", "--mem-per-vcpu 256M",
	    "iterations[1].dirty_s", 1.39, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, THP 4 GiB/vCPU, 8 vCPUs, parallel faults"),
	REF("ARMPF-pop-16-base", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 16 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock write", "--mem-per-vcpu 256M",
	    "populate_s", 1.26, "s", REL(0.15),
	    "arm64 populate time, THP 4 GiB/vCPU, 16 vCPUs, write-locked faults (6.1-rc3)"),
	REF("ARMPF-dirty-16-base", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 16 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock write", "--mem-per-vcpu 256M",
	    "iterations[1].dirty_s", 8.89, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, THP 4 GiB/vCPU, 16 vCPUs, write-locked faults (6.1-rc3)"),
	REF("ARMPF-pop-16-par", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 16 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock read", "--mem-per-vcpu 256M",
	    "populate_s", 0.53, "s", REL(0.15),
	    "arm64 populate time, THP 4 GiB/vCPU, 16 vCPUs, parallel faults"),
	REF("ARMPF-dirty-16-par", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 16 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock read", "--mem-per-vcpu 256M",
	    "iterations[1].dirty_s", 2.07, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, THP 4 GiB/vCPU, 16 vCPUs, parallel faults"),
	REF("ARMPF-pop-32-base", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 32 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock write", "--mem-per-vcpu 256M",
	    "populate_s", 2.51, "s", REL(0.15),
	    "arm64 populate time, THP 4 GiB/vCPU, 32 vCPUs, write-locked faults (6.1-rc3)"),
	REF("ARMPF-dirty-32-base", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 32 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock write", "--mem-per-vcpu 256M",
	    "iterations[1].dirty_s", 19.9, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, THP 4 GiB/vCPU, 32 vCPUs, write-locked faults (6.1-rc3)"),
	REF("ARMPF-pop-32-par", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 32 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock read", "--mem-per-vcpu 256M",
	    "populate_s", 1.04, "s", REL(0.15),
	    "arm64 populate time, THP 4 GiB/vCPU, 32 vCPUs, parallel faults"),
	REF("ARMPF-dirty-32-par", VAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 32 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock read", "--mem-per-vcpu 256M",
	    "iterations[1].dirty_s", 4.45, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, THP 4 GiB/vCPU, 32 vCPUs, parallel faults"),
	REF("ARMPF-pop-48-base", CAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 48 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock write", "--mem-per-vcpu 256M",
	    "populate_s", 3.94, "s", REL(0.15),
	    "arm64 populate time, THP 4 GiB/vCPU, 48 vCPUs, write-locked faults (6.1-rc3)"),
	REF("ARMPF-dirty-48-base", CAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 48 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock write", "--mem-per-vcpu 256M",
	    "iterations[1].dirty_s", 32.1, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, THP 4 GiB/vCPU, 48 vCPUs, write-locked faults (6.1-rc3)"),
	REF("ARMPF-pop-48-par", CAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 48 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock read", "--mem-per-vcpu 256M",
	    "populate_s", 1.55, "s", REL(0.15),
	    "arm64 populate time, THP 4 GiB/vCPU, 48 vCPUs, parallel faults"),
	REF("ARMPF-dirty-48-par", CAL, "arm64-2022",
	    "dirty-log --arch arm64 --vcpus 48 --mem-per-vcpu 4G --backing thp --initially-all-set --iterations 2 --eager-split off --s2-fault-lock read", "--mem-per-vcpu 256M",
	    "iterations[1].dirty_s", 6.23, "s", REL(0.15),
	    "arm64 Iteration 2 dirty time, THP 4 GiB/vCPU, 48 vCPUs, parallel faults"),
	PFN_PHASES("PFN-SKIP-x86", HELD, "x86", "mmu-stress --arch x86 --efault skip",
		   "skip each -EFAULT (x86)", NAN, NAN, NAN, NAN, NAN),
	PFN_PHASES("PFN-SKIP-arm64", HELD, "arm64", "mmu-stress --arch arm64 --efault skip",
		   "skip each -EFAULT (arm64)", NAN, NAN, NAN, NAN, NAN),
	PFN_PHASES("PFN-MMAPLOCK-x86", HELD, "x86", "mmu-stress --arch x86 --fault-mmap-lock",
		   "x86 fault path also takes mmap_lock + vma_lookup", NAN, NAN, NAN, NAN, NAN),
	/* dirty_log_perf_test configurations without a published figure (issue 8). */
	REF("DL-SHADOW-16-populate", HELD, "x86-2022",
	    "dirty-log --vcpus 16 --mem-per-vcpu 1G --backing hugetlb-1g --mmu shadow"
	    " --eager-split off --iterations 1", "--vcpus 2",
	    "populate_s", NAN, "s", REL(0.15),
	    "dirty_log_perf_test populate time, shadow paging (ept=N), 16 vCPUs, 1 GiB/vCPU,"
	    " 1 GiB HugeTLB (the guest maps 4K)"),
	REF("DL-SHADOW-16-enable", HELD, "x86-2022",
	    "dirty-log --vcpus 16 --mem-per-vcpu 1G --backing hugetlb-1g --mmu shadow"
	    " --eager-split off --iterations 1", "--vcpus 2",
	    "enable_dirty_logging_s", NAN, "s", REL(0.15),
	    "dirty_log_perf_test enabling dirty logging time, shadow paging (ept=N), 16 vCPUs"),
	REF("DL-SHADOW-16-dirty1", HELD, "x86-2022",
	    "dirty-log --vcpus 16 --mem-per-vcpu 1G --backing hugetlb-1g --mmu shadow"
	    " --eager-split off --iterations 1", "--vcpus 2",
	    "iterations[0].dirty_s", NAN, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 dirty memory time, shadow paging (ept=N), 16 vCPUs"),
	REF("DL-SHADOW-16-get1", HELD, "x86-2022",
	    "dirty-log --vcpus 16 --mem-per-vcpu 1G --backing hugetlb-1g --mmu shadow"
	    " --eager-split off --iterations 1", "--vcpus 2",
	    "iterations[0].get_dirty_log_s", NAN, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 get dirty log time, shadow paging (ept=N), 16 vCPUs"),
	REF("DL-F20-TDP-16-dirty2", HELD, "x86-2022",
	    "dirty-log --vcpus 16 --mem-per-vcpu 1G --backing hugetlb-1g --mmu tdp"
	    " --eager-split on --write-percent 5 --iterations 2", "--vcpus 2",
	    "iterations[1].dirty_s", NAN, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 2 dirty memory time, -f 20 (5% of pages written),"
	    " TDP MMU, 16 vCPUs, eager_page_split=Y"),
	REF("DL-IAS-LEGACY-16-clear1", HELD, "x86-2022",
	    "dirty-log --vcpus 16 --mem-per-vcpu 1G --backing hugetlb-1g --mmu legacy"
	    " --eager-split on --initially-all-set --iterations 2", "--vcpus 2",
	    "iterations[0].clear_dirty_log_s", NAN, "s", REL(0.15),
	    "dirty_log_perf_test Iteration 1 clear dirty log time, initially-all-set,"
	    " legacy MMU with the EPS3 series (splitting happens here), 16 vCPUs"),
	REF("DL-ARM64-EPS-16-enable", HELD, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 16 --mem-per-vcpu 1G --backing hugetlb-2m"
	    " --eager-split on --iterations 2", "--mem-per-vcpu 64M",
	    "enable_dirty_logging_s", NAN, "s", REL(0.15),
	    "arm64 enabling dirty logging time without INITIALLY_SET (write-protect, then eager"
	    " split of 8192 2M blocks in 2M chunks under the write lock), 16 vCPUs"),
	REF("DL-ARM64-EPS-16-clear1", HELD, "arm64-2023",
	    "dirty-log --arch arm64 --vcpus 16 --mem-per-vcpu 1G --backing hugetlb-2m"
	    " --initially-all-set --eager-split on --iterations 2", "--mem-per-vcpu 64M",
	    "iterations[0].clear_dirty_log_s", NAN, "s", REL(0.15),
	    "arm64 Iteration 1 clear dirty log time, INITIALLY_SET (the first CLEAR write-protects"
	    " and splits every block), 16 vCPUs"),
	REF("SNP-01-pinned", HELD, "snp",
	    "lazy-accept --directmap presplit-4k --pin node0", "--guest-mem 64G --worker-mem 320M",
	    "fault_in_gbps", NAN, "GB/s", REL(0.20),
	    "gmem fault-in rate as SNP-01, guest pinned to node 0"),
	REF("SNP-03-pinned", HELD, "snp",
	    "lazy-accept --directmap split-on-demand --pin node0", "--guest-mem 64G --worker-mem 320M",
	    "fault_in_gbps", NAN, "GB/s", REL(0.20),
	    "gmem fault-in rate as SNP-03, guest pinned to node 0"),
};

void ref_table_builtin(struct ref_table *t)
{
	*t = (struct ref_table){ .v = builtin, .n = sizeof(builtin) / sizeof(builtin[0]) };
}

static const char *const role_names[] = {
	[REF_CALIBRATION] = "calibration",
	[REF_VALIDATION] = "validation",
	[REF_HELD_BACK] = "held-back",
};

const char *ref_role_name(enum ref_role role)
{
	return role_names[role];
}

bool ref_id_valid(const char *id)
{
	if (!isupper((unsigned char)id[0]))
		return false;
	for (const char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-_.*?", *p))
			return false;
	return true;
}

bool ref_match(const char *patterns, const char *id)
{
	const char *p = patterns;

	if (!patterns)
		return true;
	while (*p) {
		size_t n = strcspn(p, ",");
		char pat[128];

		if (n && n < sizeof(pat)) {
			memcpy(pat, p, n);
			pat[n] = '\0';
			if (!fnmatch(pat, id, 0))
				return true;
		}
		p += n + (p[n] == ',');
	}
	return false;
}

bool ref_within(const struct ref_entry *e, double sim)
{
	double r;

	if (!isfinite(sim) || !isfinite(e->value) || e->value <= 0)
		return false;
	r = sim / e->value;
	if (e->tol_kind == REF_TOL_FACTOR)
		return r >= 1 / e->tol && r <= e->tol;
	return fabs(r - 1) <= e->tol + 1e-12;
}

void ref_tol_format(const struct ref_entry *e, char *buf, size_t len)
{
	if (e->tol_kind == REF_TOL_FACTOR)
		snprintf(buf, len, "x%g", e->tol);
	else
		snprintf(buf, len, "±%g%%", e->tol * 100);
}

void ref_free_args(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

static int split_into(const char *s, char ***argv, int *argc)
{
	while (*s) {
		size_t n;
		char **nv;

		while (*s == ' ')
			s++;
		n = strcspn(s, " ");
		if (!n)
			break;
		nv = realloc(*argv, (size_t)(*argc + 2) * sizeof(**argv));
		if (!nv)
			return -ENOMEM;
		*argv = nv;
		nv[*argc] = strndup(s, n);
		nv[*argc + 1] = NULL;
		if (!nv[*argc])
			return -ENOMEM;
		(*argc)++;
		s += n;
	}
	return 0;
}

int ref_split_args(const char *command, const char *extra, char ***argv)
{
	int argc = 0;

	*argv = calloc(1, sizeof(**argv));
	if (!*argv || split_into(command, argv, &argc) || (extra && split_into(extra, argv, &argc))) {
		ref_free_args(*argv);
		*argv = NULL;
		return -ENOMEM;
	}
	return argc;
}

/* "name", "name[3]" segments separated by '.'. */
static bool key_valid(const char *key)
{
	const char *p = key;

	do {
		if (!isalpha((unsigned char)*p) && *p != '_')
			return false;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		if (*p == '[') {
			if (!isdigit((unsigned char)*++p))
				return false;
			while (isdigit((unsigned char)*p))
				p++;
			if (*p++ != ']')
				return false;
		}
	} while (*p == '.' && *++p);
	return *p == '\0';
}

static int check_entry(const struct ref_entry *e, struct cli_error *err)
{
	char q[72];

	if (!ref_id_valid(e->id) || strpbrk(e->id, "*?"))
		return cli_error_set(err, "expected a reference id like PFN-STOP-x86-run1, got '%s'",
				     cli_quote(e->id, q, sizeof(q)));
	if (!e->command[0] || e->command[0] == '-' || e->command[0] == ' ')
		return cli_error_set(err, "%s: expected 'REPLAYER ARGS...', got '%s'", e->id,
				     cli_quote(e->command, q, sizeof(q)));
	if (!e->profile[0])
		return cli_error_set(err, "%s: expected a profile", e->id);
	if (!key_valid(e->key))
		return cli_error_set(err, "%s: expected a results key like 'ro_s' or "
					  "'iterations[0].dirty_s', got '%s'",
				     e->id, cli_quote(e->key, q, sizeof(q)));
	if (e->role != REF_HELD_BACK && !(isfinite(e->value) && e->value > 0))
		return cli_error_set(err, "%s: expected a positive reference value", e->id);
	if (e->role == REF_HELD_BACK && !isnan(e->value))
		return cli_error_set(err, "%s: a held-back entry has no value ('-')", e->id);
	if (!(e->tol > 0) || (e->tol_kind == REF_TOL_FACTOR && !(e->tol > 1)))
		return cli_error_set(err, "%s: expected a tolerance like 10%% or x3", e->id);
	return 0;
}

int ref_table_check(const struct ref_table *t, struct cli_error *err)
{
	for (size_t i = 0; i < t->n; i++) {
		if (check_entry(&t->v[i], err))
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(t->v[i].id, t->v[j].id))
				return cli_error_set(err, "%s: id listed twice", t->v[i].id);
	}
	return 0;
}

void ref_table_write(FILE *f, const struct ref_table *t)
{
	fprintf(f, "# ID | ROLE | PROFILE | REPLAYER ARGS | QUICK ARGS | KEY | VALUE | UNIT | TOL | "
		   "WHAT\n");
	for (size_t i = 0; i < t->n; i++) {
		const struct ref_entry *e = &t->v[i];
		char tol[32];

		if (e->tol_kind == REF_TOL_FACTOR)
			snprintf(tol, sizeof(tol), "x%g", e->tol);
		else
			snprintf(tol, sizeof(tol), "%g%%", e->tol * 100);
		fprintf(f, "%s | %s | %s | %s | %s | %s | ", e->id, ref_role_name(e->role),
			e->profile, e->command, e->quick, e->key);
		if (isnan(e->value)) {
			fprintf(f, "-");
		} else {
			char v[32];

			json_format_double(v, sizeof(v), e->value);
			fputs(v, f);
		}
		fprintf(f, " | %s | %s | %s\n", e->unit, tol, e->what);
	}
}

/* Trim spaces in place. */
static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static int parse_line(char *line, struct ref_entry *e, const char *where, struct cli_error *err)
{
	char *f[10], *end, q[72];
	size_t n = 0;
	char *p = line;

	for (;;) {
		char *bar = strchr(p, '|');

		if (n == 9 || !bar) {
			f[n++] = trim(p);
			break;
		}
		*bar = '\0';
		f[n++] = trim(p);
		p = bar + 1;
	}
	if (n != 10)
		return cli_error_set(err, "--table: %s: expected 10 fields separated by '|', got %zu",
				     where, n);
	e->id = f[0];
	if (!strcmp(f[1], "calibration"))
		e->role = REF_CALIBRATION;
	else if (!strcmp(f[1], "validation"))
		e->role = REF_VALIDATION;
	else if (!strcmp(f[1], "held-back"))
		e->role = REF_HELD_BACK;
	else
		return cli_error_set(err, "--table: %s: expected a role (calibration, validation or "
					  "held-back), got '%s'", where, cli_quote(f[1], q, sizeof(q)));
	e->profile = f[2];
	e->command = f[3];
	e->quick = f[4];
	e->key = f[5];
	if (!strcmp(f[6], "-")) {
		e->value = NAN;
	} else {
		errno = 0;
		e->value = strtod(f[6], &end);
		if (errno || end == f[6] || *end || !isfinite(e->value))
			return cli_error_set(err, "--table: %s: expected a number or '-' as the value, "
						  "got '%s'", where, cli_quote(f[6], q, sizeof(q)));
	}
	e->unit = f[7];
	if (f[8][0] == 'x') {
		e->tol_kind = REF_TOL_FACTOR;
		e->tol = strtod(f[8] + 1, &end);
	} else {
		e->tol_kind = REF_TOL_REL;
		e->tol = strtod(f[8], &end) / 100;
		if (*end == '%')
			end++;
		else
			end = f[8];
	}
	if (end == f[8] || end == f[8] + 1 || *end || !isfinite(e->tol))
		return cli_error_set(err, "--table: %s: expected a tolerance like 10%% or x3, got '%s'",
				     where, cli_quote(f[8], q, sizeof(q)));
	e->what = f[9];
	if (check_entry(e, err)) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		return cli_error_set(err, "--table: %s: %s", where, msg);
	}
	return 0;
}

int ref_table_read(const char *path, struct ref_table *t, struct cli_error *err)
{
	FILE *f = fopen(path, "r");
	char q[72], where[128];
	size_t cap = 0, len = 0, lineno = 0;
	char *text = NULL, *line;
	int ret = 0;

	*t = (struct ref_table){ 0 };
	if (!f) {
		int e = errno;

		cli_error_set(err, "--table: cannot open '%s': %s", cli_quote(path, q, sizeof(q)),
			      strerror(e));
		return e == ENOENT ? -ENOENT : -EINVAL;
	}
	/* Keep the whole file: entries point into it. */
	for (;;) {
		size_t got;

		if (len + 4096 + 1 > cap) {
			char *nt = realloc(text, cap = (cap + 4096) * 2);

			if (!nt) {
				ret = -ENOMEM;
				goto out;
			}
			text = nt;
		}
		got = fread(text + len, 1, cap - len - 1, f);
		len += got;
		if (!got)
			break;
	}
	if (!text || ferror(f)) {
		ret = text ? cli_error_set(err, "--table: cannot read '%s'", cli_quote(path, q, sizeof(q)))
			   : cli_error_set(err, "--table: '%s' is empty", cli_quote(path, q, sizeof(q)));
		goto out;
	}
	text[len] = '\0';
	if (strlen(text) != len) {
		ret = cli_error_set(err, "--table: '%s' is not a text file", cli_quote(path, q, sizeof(q)));
		goto out;
	}
	t->text = text;
	text = NULL;
	line = t->text;
	while (line && *line) {
		char *nl = strchr(line, '\n'), *s;
		struct ref_entry *ne;

		if (nl)
			*nl = '\0';
		lineno++;
		s = trim(line);
		line = nl ? nl + 1 : NULL;
		if (!*s || *s == '#')
			continue;
		ne = realloc(t->owned, (t->n + 1) * sizeof(*ne));
		if (!ne) {
			ret = -ENOMEM;
			goto out;
		}
		t->owned = ne;
		t->v = ne;
		snprintf(where, sizeof(where), "%s:%zu", cli_quote(path, q, sizeof(q)), lineno);
		ret = parse_line(s, &ne[t->n], where, err);
		if (ret)
			goto out;
		t->n++;
	}
	if (!t->n) {
		ret = cli_error_set(err, "--table: '%s' has no entries", cli_quote(path, q, sizeof(q)));
		goto out;
	}
	for (size_t i = 0; i < t->n; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(t->v[i].id, t->v[j].id)) {
				ret = cli_error_set(err, "--table: '%s': %s listed twice",
						    cli_quote(path, q, sizeof(q)), t->v[i].id);
				goto out;
			}
out:
	fclose(f);
	free(text);
	if (ret == -ENOMEM)
		cli_error_set(err, "out of memory");
	if (ret)
		ref_table_free(t);
	return ret;
}

void ref_table_free(struct ref_table *t)
{
	free(t->owned);
	free(t->text);
	*t = (struct ref_table){ 0 };
}

/* ---- the `fitted` convention of profile comments ---- */

int ref_fitted_parse(const char *source, struct fitted_note *n)
{
	const char *p = source;

	*n = (struct fitted_note){ .rest = "" };
	if (strncmp(p, "fitted", 6) || (p[6] && p[6] != ':' && p[6] != ' ' && p[6] != '(' &&
					p[6] != ';' && p[6] != ','))
		return 0;
	n->fitted = true;
	p += 6;
	if (*p == ':') {
		const char *q = p + 1;

		for (;;) {
			size_t len;
			char tok[128];

			while (*q == ' ')
				q++;
			len = strcspn(q, ", ;");
			if (!len || len >= sizeof(tok))
				break;
			memcpy(tok, q, len);
			tok[len] = '\0';
			if (!ref_id_valid(tok))
				break;
			if (ref_fitted_add(n, tok) == -ENOMEM) {
				ref_fitted_free(n);
				return -ENOMEM;
			}
			q += len;
			p = q;
			while (*q == ' ')
				q++;
			if (*q != ',')
				break;
			q++;
		}
		if (!n->nr_ids)
			p = source + 6; /* "fitted: free text": keep the colon in the text */
	}
	while (*p == ' ' || *p == ';')
		p++;
	n->rest = p;
	return 0;
}

void ref_fitted_free(struct fitted_note *n)
{
	for (size_t i = 0; i < n->nr_ids; i++)
		free(n->ids[i]);
	n->nr_ids = 0;
}

bool ref_fitted_names(const struct fitted_note *n, const char *id)
{
	for (size_t i = 0; i < n->nr_ids; i++)
		if (!fnmatch(n->ids[i], id, 0))
			return true;
	return false;
}

int ref_fitted_add(struct fitted_note *n, const char *id)
{
	for (size_t i = 0; i < n->nr_ids; i++)
		if (!strcmp(n->ids[i], id))
			return 0;
	if (n->nr_ids == sizeof(n->ids) / sizeof(n->ids[0]))
		return -ENOSPC;
	n->ids[n->nr_ids] = strdup(id);
	if (!n->ids[n->nr_ids])
		return -ENOMEM;
	n->nr_ids++;
	return 0;
}

char *ref_fitted_format(const struct fitted_note *n)
{
	size_t cap = 16 + strlen(n->rest), len;
	char *s;

	for (size_t i = 0; i < n->nr_ids; i++)
		cap += strlen(n->ids[i]) + 2;
	s = malloc(cap);
	if (!s)
		return NULL;
	len = (size_t)snprintf(s, cap, "fitted");
	for (size_t i = 0; i < n->nr_ids; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s%s", i ? ", " : ": ", n->ids[i]);
	if (*n->rest) {
		const char *rest = n->rest;

		if (n->nr_ids && *rest == ':') /* "fitted: free text" gained ids */
			for (rest++; *rest == ' ';)
				rest++;
		snprintf(s + len, cap - len, "%s%s",
			 !n->nr_ids ? (*rest == ':' ? "" : " ") : (*rest == '(' ? " " : "; "), rest);
	}
	return s;
}
