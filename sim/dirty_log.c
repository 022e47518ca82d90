// SPDX-License-Identifier: MIT
/*
 * sim/dirty_log.c - `mmu2d dirty-log`: KVM's dirty_log_perf_test
 * (tools/testing/selftests/kvm/dirty_log_perf_test.c, 2022 form), replayed
 * by m2d_dirty_log_run() (lib/guest/dirty_log_perf.c).
 *
 * Options map onto the selftest: --vcpus (-v), --mem-per-vcpu (-b),
 * --backing (-s), --write-percent P (-f 100/P when P divides 100),
 * --iterations (-i), --initially-all-set (manual protect with
 * KVM_DIRTY_LOG_INITIALLY_SET; without it the selftest's -g), and the
 * module parameters --mmu (ept/tdp_mmu) and --eager-split
 * (kvm.eager_page_split).  Upstream, eager splitting needs the TDP MMU
 * (kvm_mmu_slot_try_split_huge_pages: `if (!tdp_mmu_enabled) return;`);
 * --mmu legacy --eager-split on replays the April 2022 patch set "Extend
 * Eager Page Splitting to the shadow MMU" (EPS3), which was not merged in
 * that form (m2d_dirty_log_config.legacy_eager_split).  --mmu shadow is
 * ept=N: KVM shadows the guest's own 4K page tables (lib/kvm/paging_tmpl.c),
 * every fault takes the write lock, and dirty logging write-protects (no
 * PML without EPT).
 */
#include "replayer.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

struct dirty_log_opts {
	uint64_t vcpus;
	uint64_t mem_per_vcpu;
	unsigned backing;
	unsigned mmu;
	unsigned eager_split;
	uint64_t write_percent;
	bool initially_all_set;
	uint64_t iterations;
	unsigned fault_split;
	unsigned split_alloc;
	unsigned arch;
	uint64_t stride;
	unsigned s2_fault_lock;
	unsigned s2_relax_tlbi;
	unsigned s2_split_chunk;
};

static const char *const backing_names[] = { "hugetlb-1g", "hugetlb-2m", "thp", "anon", NULL };
static const char *const mmu_names[] = { "tdp", "legacy", "shadow", NULL };
static const char *const on_off[] = { "on", "off", NULL };
static const char *const auto_on_off[] = { "auto", "on", "off", NULL };
static const char *const split_alloc_names[] = { "auto", "nowait", "unlocked", NULL };
static const char *const arch_names[] = { "auto", "x86", "arm64", NULL };
static const char *const fault_lock_names[] = { "read", "write", NULL };
static const char *const relax_tlbi_names[] = { "auto", "is", "nsh", NULL };
static const char *const split_chunk_names[] = { "2M", "1G", NULL };

#define MAX_VCPUS 1023 /* the engine's 1024 host CPUs, one for the main thread */

static const struct cli_option dirty_log_options[] = {
	CLI_OPT_UINT("vcpus", struct dirty_log_opts, vcpus, "N", "96", 1, MAX_VCPUS,
		     "vCPUs (-v), one thread each on CPUs 0..N-1; the main thread on CPU N"),
	CLI_OPT_SIZE("mem-per-vcpu", struct dirty_log_opts, mem_per_vcpu, "1G", 4096, 1ull << 40,
		     4096, "guest memory each vCPU dirties (-b)"),
	CLI_OPT_ENUM("backing", struct dirty_log_opts, backing, "SRC", "hugetlb-1g", backing_names,
		     "guest memory backing (-s)"),
	CLI_OPT_ENUM("mmu", struct dirty_log_opts, mmu, "MMU", "tdp", mmu_names,
		     "tdp (TDP MMU), legacy (ept=Y tdp_mmu=N), shadow (ept=N: shadow paging)"),
	CLI_OPT_ENUM("eager-split", struct dirty_log_opts, eager_split, "on|off", "on", on_off,
		     "kvm.eager_page_split; with --mmu legacy, on replays the unmerged EPS3 "
		     "series (Extend Eager Page Splitting to the shadow MMU, Apr 2022)"),
	CLI_OPT_UINT("write-percent", struct dirty_log_opts, write_percent, "P", "100", 1, 100,
		     "percent of pages written per pass (5 = the selftest's -f 20)"),
	CLI_OPT_FLAG("initially-all-set", struct dirty_log_opts, initially_all_set,
		     "manual protect with KVM_DIRTY_LOG_INITIALLY_SET (off: the selftest's -g)"),
	CLI_OPT_UINT("iterations", struct dirty_log_opts, iterations, "N", "2", 1, 100000,
		     "dirty-log iterations after populate (-i)"),
	CLI_OPT_ENUM("fault-split", struct dirty_log_opts, fault_split, "auto|on|off", "auto",
		     auto_on_off,
		     "TDP faults under a huge SPTE split it in place (6.2+) or zap it (off); "
		     "auto: off for the x86-2022 profile, else on"),
	CLI_OPT_ENUM("split-alloc", struct dirty_log_opts, split_alloc, "auto|nowait|unlocked",
		     "auto", split_alloc_names,
		     "TDP eager split page-table allocation: GFP_NOWAIT under mmu_lock first "
		     "(5.18-6.9) or always after dropping it (6.10+); auto: nowait for the "
		     "x86-2022 profile, else unlocked"),
	CLI_OPT_ENUM("arch", struct dirty_log_opts, arch, "auto|x86|arm64", "auto", arch_names,
		     "host: x86 (the --mmu MMUs), arm64 (stage-2, -m 2: 48-bit IPA, 4K); auto: "
		     "arm64 when the profile is an arm64 one (default profile: x86-2022, "
		     "arm64-2023 for --arch arm64)"),
	CLI_OPT_SIZE("stride", struct dirty_log_opts, stride, "4K", 4096, 1ull << 40, 4096,
		     "distance between the pages a vCPU accesses (2M: the sparse variant, "
		     "dirty_log_perf_test_sparse)"),
	CLI_OPT_ENUM("s2-fault-lock", struct dirty_log_opts, s2_fault_lock, "read|write", "read",
		     fault_lock_names,
		     "arm64 stage-2 faults take mmu_lock for read (6.2+) or for write except "
		     "dirty-logging 4K write permission faults (5.18-6.1)"),
	CLI_OPT_ENUM("s2-relax-tlbi", struct dirty_log_opts, s2_relax_tlbi, "auto|is|nsh", "auto",
		     relax_tlbi_names,
		     "arm64 permission relaxation invalidates with a broadcast (is) or local (nsh) "
		     "TLBI; auto: is for the arm64-2022/arm64-2023 profiles without eager split (6.1/6.2), "
		     "else nsh (the eager split series carries the local TLBI, 6.4)"),
	CLI_OPT_ENUM("s2-split-chunk", struct dirty_log_opts, s2_split_chunk, "2M|1G", "2M",
		     split_chunk_names,
		     "arm64 eager split chunk (KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE): the range split "
		     "per split-cache top-up; a 1G chunk splits a 1G block to PTEs at once"),
	CLI_OPT_END
};

static int dirty_log_validate(const void *opts, struct cli_error *err)
{
	const struct dirty_log_opts *o = opts;
	static const uint64_t page[] = { 1ull << 30, 2ull << 20, 4096, 4096 };

	if ((o->mem_per_vcpu * o->vcpus) % page[o->backing])
		return cli_error_set(err, "--mem-per-vcpu: expected --vcpus x SIZE to be a multiple "
					  "of the %s page size, got %" PRIu64 " x %" PRIu64,
				     backing_names[o->backing], o->vcpus, o->mem_per_vcpu);
	if (o->stride > o->mem_per_vcpu)
		return cli_error_set(err, "--stride: expected at most --mem-per-vcpu (%" PRIu64
					  "), got %" PRIu64, o->mem_per_vcpu, o->stride);
	if (o->arch == 2 && o->mmu != 0)
		return cli_error_set(err, "--mmu: expected tdp with --arch arm64 (the stage-2 MMU), "
					  "got %s", mmu_names[o->mmu]);
	if (o->mem_per_vcpu * o->vcpus > (1ull << 42))
		return cli_error_set(err, "--mem-per-vcpu: expected --vcpus x SIZE at most 4T, got "
					  "%" PRIu64 " x %" PRIu64, o->vcpus, o->mem_per_vcpu);
	return 0;
}

static void dirty_log_configure(const void *opts, struct m2d_sim_config *cfg)
{
	const struct dirty_log_opts *o = opts;

	cfg->cpus = (unsigned)o->vcpus + 1;
	cfg->nodes = 1;
}

/*
 * The kernel generation the profile stands for decides version-dependent
 * KVM behaviour (not costs): x86-2022 is a 5.x/6.0-6.1 host, before "KVM:
 * x86/mmu: Split huge pages mapped by the TDP MMU on fault" (6.2).
 */
static bool profile_is_2022(const char *profile)
{
	const char *base = strrchr(profile, '/');

	base = base ? base + 1 : profile;
	return !strcmp(base, "x86-2022") || !strcmp(base, "x86-2022.profile");
}

/* The arm64 profiles (arm64, arm64-2023, or files named so). */
static bool profile_is_arm64(const char *profile)
{
	const char *base = strrchr(profile, '/');

	base = base ? base + 1 : profile;
	return !strncmp(base, "arm64", 5);
}

/*
 * arm64-2022 / arm64-2023: the 6.1 / 6.2 hosts of the arm64 dirty-log
 * measurements, before "KVM: arm64: Use local TLBI on permission relaxation".
 */
static bool profile_is_arm64_pre_local_tlbi(const char *profile)
{
	const char *base = strrchr(profile, '/');

	base = base ? base + 1 : profile;
	return !strncmp(base, "arm64-2022", 10) || !strncmp(base, "arm64-2023", 10);
}

static int dirty_log_validate_profile(const void *opts, const char *profile,
				      struct cli_error *err)
{
	const struct dirty_log_opts *o = opts;

	if (o->arch == 0 && o->mmu != 0 && profile_is_arm64(profile))
		return cli_error_set(err, "--mmu: expected tdp with the arm64 profile %s (the "
					  "stage-2 MMU), got %s", profile, mmu_names[o->mmu]);
	return 0;
}

/* --arch arm64 runs the arm64-2023 profile by default. */
static const char *dirty_log_profile_for(const void *opts)
{
	return ((const struct dirty_log_opts *)opts)->arch == 2 ? "arm64-2023" : "x86-2022";
}

static int dirty_log_run(struct run_ctx *ctx, const void *opts)
{
	const struct dirty_log_opts *o = opts;
	struct m2d_dirty_log_config cfg;
	struct m2d_dirty_log_result res;
	double get_total = 0, clear_total = 0;
	int ret;

	m2d_dirty_log_config_default(&cfg);
	cfg.nr_vcpus = (unsigned)o->vcpus;
	cfg.mem_per_vcpu = o->mem_per_vcpu;
	cfg.backing = (enum m2d_backing)o->backing;
	cfg.mmu = (enum m2d_dirty_log_mmu)o->mmu;
	cfg.eager_split = o->eager_split == 0;
	/* Upstream splits eagerly only with the TDP MMU; legacy/shadow + on replays EPS3. */
	cfg.legacy_eager_split = o->mmu != 0 && cfg.eager_split;
	cfg.write_percent = (unsigned)o->write_percent;
	cfg.initially_all_set = o->initially_all_set;
	cfg.iterations = (unsigned)o->iterations;
	cfg.fault_split_huge = o->fault_split == 0 ? !profile_is_2022(ctx->common->profile)
						    : o->fault_split == 1;
	cfg.split_alloc_nowait = o->split_alloc == 0 ? profile_is_2022(ctx->common->profile)
						     : o->split_alloc == 1;
	cfg.arm64 = o->arch == 2 || (o->arch == 0 && profile_is_arm64(ctx->common->profile));
	cfg.stride = o->stride;
	cfg.s2_fault_write_lock = o->s2_fault_lock == 1;
	cfg.s2_split_chunk_kib = o->s2_split_chunk == 1 ? 1048576 : 2048;
	/*
	 * auto: the kernel the profile stands for (6.1/6.2: broadcast), except
	 * that arm64 eager splitting is the series that also carries "KVM:
	 * arm64: Use local TLBI on permission relaxation" (both 6.4 upstream).
	 */
	cfg.s2_relax_tlbi_is = o->s2_relax_tlbi == 0 ?
				       profile_is_arm64_pre_local_tlbi(ctx->common->profile) &&
					       !cfg.eager_split :
				       o->s2_relax_tlbi == 1;
	cfg.progress = progress_report;
	cfg.progress_arg = ctx->progress;
	progress_phase(ctx->progress, "populate");
	ret = m2d_dirty_log_run(ctx->sim, &cfg, &res);
	if (ret)
		return ret;

	json_string(ctx->json, "arch", cfg.arm64 ? "arm64" : "x86");
	if (cfg.arm64)
		json_bool(ctx->json, "s2_relax_tlbi_is", cfg.s2_relax_tlbi_is);

	if (!cfg.arm64) {
		json_bool(ctx->json, "fault_split_huge", cfg.fault_split_huge);
		json_bool(ctx->json, "split_alloc_nowait", cfg.split_alloc_nowait);
	}
	json_double(ctx->json, "populate_s", res.populate_s);
	json_double(ctx->json, "enable_dirty_logging_s", res.enable_dirty_logging_s);
	json_array_begin(ctx->json, "iterations");
	for (unsigned k = 0; k < res.nr_iterations; k++) {
		const struct m2d_dirty_log_iteration *it = &res.iterations[k];

		json_object_begin(ctx->json, NULL);
		json_double(ctx->json, "dirty_s", it->dirty_s);
		json_double(ctx->json, "get_dirty_log_s", it->get_dirty_log_s);
		json_double(ctx->json, "clear_dirty_log_s", it->clear_dirty_log_s);
		json_uint(ctx->json, "dirty_pages", it->dirty_pages);
		json_object_end(ctx->json);
	}
	json_array_end(ctx->json);
	json_double(ctx->json, "disable_dirty_logging_s", res.disable_dirty_logging_s);
	json_uint(ctx->json, "guest_pages", res.guest_pages);
	json_uint(ctx->json, "gpa", res.gpa);
	json_uint(ctx->json, "pages_4k_after", res.pages_4k);
	json_uint(ctx->json, "pages_2m_after", res.pages_2m);
	json_uint(ctx->json, "pages_1g_after", res.pages_1g);

	run_printf(ctx, "dirty-log: %" PRIu64 " vCPUs x %" PRIu64 " MiB, %s, mmu %s, eager split "
			"%s, %" PRIu64 "%% writes%s\n",
		   o->vcpus, o->mem_per_vcpu >> 20, backing_names[o->backing],
		   cfg.arm64 ? "arm64 stage-2" : mmu_names[o->mmu],
		   on_off[o->eager_split], o->write_percent,
		   o->initially_all_set ? ", initially-all-set" : "");
	run_printf(ctx, "Populate memory time: %.9fs\n", res.populate_s);
	run_printf(ctx, "Enabling dirty logging time: %.9fs\n\n", res.enable_dirty_logging_s);
	for (unsigned k = 0; k < res.nr_iterations; k++) {
		const struct m2d_dirty_log_iteration *it = &res.iterations[k];

		run_printf(ctx, "Iteration %u dirty memory time: %.9fs\n", k + 1, it->dirty_s);
		run_printf(ctx, "Iteration %u get dirty log time: %.9fs\n", k + 1,
			   it->get_dirty_log_s);
		if (o->initially_all_set)
			run_printf(ctx, "Iteration %u clear dirty log time: %.9fs\n", k + 1,
				   it->clear_dirty_log_s);
		get_total += it->get_dirty_log_s;
		clear_total += it->clear_dirty_log_s;
	}
	run_printf(ctx, "Disabling dirty logging time: %.9fs\n", res.disable_dirty_logging_s);
	run_printf(ctx, "Get dirty log over %u iterations took %.9fs. (Avg %.9fs/iteration)\n",
		   res.nr_iterations, get_total, get_total / res.nr_iterations);
	if (o->initially_all_set)
		run_printf(ctx, "Clear dirty log over %u iterations took %.9fs. (Avg "
				"%.9fs/iteration)\n",
			   res.nr_iterations, clear_total, clear_total / res.nr_iterations);
	m2d_dirty_log_result_free(&res);
	return 0;
}

const struct replayer dirty_log_replayer = {
	.name = "dirty-log",
	.summary = "KVM dirty_log_perf_test: populate, enable logging, dirty/get/clear, disable",
	.description =
		"Replays tools/testing/selftests/kvm/dirty_log_perf_test.c (2022 form): each vCPU\n"
		"writes (or reads, per --write-percent) one word per 4K page of its slice; the\n"
		"main thread times populate, enabling dirty logging (eager page splitting,\n"
		"write-protection or D-bit clearing), each iteration's dirty pass and\n"
		"KVM_GET_DIRTY_LOG / KVM_CLEAR_DIRTY_LOG, and disabling dirty logging (huge page\n"
		"recovery).  x86 (TDP, legacy or shadow MMU) or arm64 (stage-2, --arch).\n"
		"Results: populate_s, enable_dirty_logging_s, iterations[k] (the\n"
		"selftest's Iteration k+1: dirty_s, get_dirty_log_s, clear_dirty_log_s,\n"
		"dirty_pages), disable_dirty_logging_s.",
	.options = dirty_log_options,
	.opts_size = sizeof(struct dirty_log_opts),
	.default_profile = "x86-2022",
	.profile_for = dirty_log_profile_for,
	.validate_profile = dirty_log_validate_profile,
	.validate = dirty_log_validate,
	.configure = dirty_log_configure,
	.run = dirty_log_run,
};
