// SPDX-License-Identifier: MIT
/*
 * sim/mmu_stress.c - `mmu2d mmu-stress`: the KVM selftest mmu_stress_test
 * (tools/testing/selftests/kvm/mmu_stress_test.c) on a simulated host.
 *
 * Defaults are the published configuration (REFERENCE.md A5, PFN-STOP-*):
 * 128 GiB of guest memory aliased onto one 2 GiB memfd by 64 memslots,
 * 48 vCPUs on a 64-CPU host, stop on the first -EFAULT.  x86 uses the x86
 * profile (TDP MMU, EPT), arm64 the arm64 profile (stage-2, no FWB).  The
 * workload itself is the library's (m2d_mmu_stress_run, lib/guest).
 */
#include "replayer.h"

#include <errno.h>
#include <inttypes.h>

#define HOST_CPUS 64 /* the A5 hosts: 48 vCPUs = 3/4 of the CPUs */

struct mmu_stress_opts {
	unsigned arch;
	uint64_t vcpus;
	uint64_t mem;
	uint64_t slot;
	unsigned efault;
	bool fault_mmap_lock;
	unsigned notifier;
};

static const char *const arch_names[] = { "x86", "arm64", NULL };
static const char *const efault_names[] = { "stop", "skip", NULL };
static const char *const notifier_names[] = { "pud", "p4d", NULL };

static const struct cli_option mmu_stress_options[] = {
	CLI_OPT_ENUM("arch", struct mmu_stress_opts, arch, "ARCH", "x86", arch_names,
		     "host and guest architecture (x86: TDP MMU + EPT; arm64: stage-2)"),
	CLI_OPT_UINT("vcpus", struct mmu_stress_opts, vcpus, "N", "48", 1, HOST_CPUS - 1,
		     "vCPUs (-c); the host has 64 CPUs, one is the main thread's"),
	CLI_OPT_SIZE("mem", struct mmu_stress_opts, mem, "128G", 1ull << 30, 1ull << 40,
		     1ull << 30, "guest memory (-m), a multiple of --slot"),
	CLI_OPT_SIZE("slot", struct mmu_stress_opts, slot, "2G", 1ull << 30, 64ull << 30,
		     1ull << 30, "memslot and memfd size (-s)"),
	CLI_OPT_ENUM("efault", struct mmu_stress_opts, efault, "MODE", "stop", efault_names,
		     "stage 3: stop at the first -EFAULT, or skip each (RIP += 3 / PC += 4)"),
	CLI_OPT_FLAG("fault-mmap-lock", struct mmu_stress_opts, fault_mmap_lock,
		     "x86 faults also take mmap_lock + vma_lookup (kernels before 5.6)"),
	CLI_OPT_ENUM("notifier", struct mmu_stress_opts, notifier, "GRAN", "pud", notifier_names,
		     "mprotect's mmu_notifier range: per PUD (2014-2024) or per P4D (later)"),
	CLI_OPT_END
};

static int mmu_stress_validate(const void *opts, struct cli_error *err)
{
	const struct mmu_stress_opts *o = opts;

	if (cli_check_multiple(err, mmu_stress_options, opts, "mem", "slot"))
		return -EINVAL;
	/* Each vCPU needs at least one page of GPA. */
	if (o->mem / 4096 < o->vcpus)
		return cli_check_at_most(err, mmu_stress_options, opts, "vcpus", "mem");
	return 0;
}

static void mmu_stress_configure(const void *opts, struct m2d_sim_config *cfg)
{
	(void)opts;
	cfg->cpus = HOST_CPUS;
	cfg->nodes = 1;
	cfg->sockets = 1;
}

/* x86 runs use the x86 profile, arm64 runs the arm64 profile. */
static const char *mmu_stress_profile_for(const void *opts)
{
	return ((const struct mmu_stress_opts *)opts)->arch == 1 ? "arm64" : "x86";
}

static void stress_progress(void *arg, const char *phase, double frac)
{
	struct progress *p = arg;

	progress_phase(p, phase);
	progress_update(p, frac);
}

/* The replay's state, kept until the report is written (one run per process). */
static struct m2d_mmu_stress *kept;

static void mmu_stress_finish(void)
{
	m2d_mmu_stress_free(&kept);
}

static int mmu_stress_run(struct run_ctx *ctx, const void *opts)
{
	const struct mmu_stress_opts *o = opts;
	struct m2d_mmu_stress_config cfg = {
		.arm64 = o->arch == 1,
		.nr_vcpus = (unsigned)o->vcpus,
		.main_cpu = (unsigned)o->vcpus,
		.max_mem = o->mem,
		.slot_size = o->slot,
		.efault_skip = o->efault == 1,
		.fault_mmap_lock = o->fault_mmap_lock,
		.notifier = o->notifier == 1 ? M2D_MM_NOTIFIER_P4D : M2D_MM_NOTIFIER_PUD,
		.progress = stress_progress,
		.progress_arg = ctx->progress,
	};
	struct m2d_mmu_stress_result r;
	int ret;

	progress_phase(ctx->progress, "setup");
	ret = m2d_mmu_stress_run(ctx->sim, &cfg, &r, &kept);
	if (ret)
		return ret;
	json_double(ctx->json, "run1_s", r.run1_s);
	json_double(ctx->json, "reset_s", r.reset_s);
	json_double(ctx->json, "run2_s", r.run2_s);
	json_double(ctx->json, "ro_s", r.ro_s);
	json_double(ctx->json, "rw_s", r.rw_s);
	json_uint(ctx->json, "memslots", r.nr_slots);
	json_uint(ctx->json, "slice_bytes", r.slice_bytes);
	json_uint(ctx->json, "efault_exits", r.efault_exits);
	json_uint(ctx->json, "mprotect_invalidations", r.mprotect_invalidations);
	json_uint(ctx->json, "guest_pt_tables", r.guest_pt_tables);

	run_printf(ctx, "Running with %" PRIu64 "gb of guest memory and %" PRIu64 " vCPUs\n",
		   o->mem >> 30, o->vcpus);
	run_printf(ctx, "run1 = %.9fs, reset = %.9fs, run2 = %.9fs, ro = %.9fs, rw = %.9fs\n",
		   r.run1_s, r.reset_s, r.run2_s, r.ro_s, r.rw_s);
	return 0;
}

const struct replayer mmu_stress_replayer = {
	.name = "mmu-stress",
	.summary = "KVM selftest mmu_stress_test: fault-in, rewrite, mprotect RO/RW of aliased memslots",
	.description =
		"tools/testing/selftests/kvm/mmu_stress_test.c on a 64-CPU host: one 2 GiB memfd\n"
		"(MADV_NOHUGEPAGE, pre-faulted) mapped by --mem / --slot memslots from GPA 4 GiB,\n"
		"one vCPU per slice; phases run1 (fault-in), reset (CR0.WP toggle), run2\n"
		"(rewrite), ro (mprotect PROT_READ while the guest writes) and rw (mprotect back,\n"
		"re-fault).  Defaults: the published PFN-STOP configuration (REFERENCE.md A5).\n"
		"Results: run1_s reset_s run2_s ro_s rw_s (the selftest's printed times).",
	.options = mmu_stress_options,
	.opts_size = sizeof(struct mmu_stress_opts),
	.default_profile = "x86",
	.profile_for = mmu_stress_profile_for,
	.validate = mmu_stress_validate,
	.configure = mmu_stress_configure,
	.run = mmu_stress_run,
	.finish = mmu_stress_finish,
};
