// SPDX-License-Identifier: MIT
/*
 * sim/lazy_accept.c - `mmu2d lazy-accept`: an SEV-SNP guest faulting in
 * memory through lazy acceptance under `stress --vm N --vm-bytes B
 * --vm-keep` (REFERENCE.md A1: SNP-01, SNP-03), on the snp profile's
 * two-socket host.  The workload is the library's (m2d_lazy_accept_run,
 * lib/guest/lazy_accept.c).
 */
#include "replayer.h"

#include <errno.h>
#include <inttypes.h>

#define HOST_CPUS 256 /* two sockets of 128 CPUs */

struct lazy_accept_opts {
	uint64_t guest_mem;
	uint64_t vcpus;
	uint64_t workers;
	uint64_t worker_mem;
	unsigned directmap;
	unsigned cpa_lock;
	bool restore_2m;
	bool flush_on_invalidate;
	unsigned pin;
	unsigned gmem_folio;
};

/* Same order as enum m2d_la_directmap. */
static const char *const directmap_names[] = {
	"presplit-4k", "split-on-demand", "split-only", "nr-pages", NULL,
};
static const char *const cpa_lock_names[] = { "global", "none", NULL };
static const char *const pin_names[] = { "none", "node0", NULL };
static const char *const folio_names[] = { "2m", "4k", NULL };

static const struct cli_option lazy_accept_options[] = {
	CLI_OPT_SIZE("guest-mem", struct lazy_accept_opts, guest_mem, "1T", 16ull << 20,
		     4ull << 40, 4ull << 20, "guest RAM (a multiple of 4M)"),
	CLI_OPT_UINT("vcpus", struct lazy_accept_opts, vcpus, "N", "128", 1, HOST_CPUS,
		     "guest vCPUs (the host has 2 x 128 CPUs)"),
	CLI_OPT_UINT("workers", struct lazy_accept_opts, workers, "N", "128", 1, HOST_CPUS,
		     "stress --vm workers, worker i on vCPU i (at most --vcpus)"),
	CLI_OPT_SIZE("worker-mem", struct lazy_accept_opts, worker_mem, "5G", 4096, 4ull << 40,
		     4096, "stress --vm-bytes of each worker"),
	CLI_OPT_ENUM("directmap", struct lazy_accept_opts, directmap, "POLICY", "split-on-demand",
		     directmap_names,
		     "RMP updates vs the direct map: v1 invalidate per 4K on a pre-split 4K or a 2M "
		     "direct map split on demand; split-only (merged adjust_direct_map); nr-pages"),
	CLI_OPT_ENUM("cpa-lock", struct lazy_accept_opts, cpa_lock, "MODE", "global", cpa_lock_names,
		     "the CPA serialisation: global cpa_lock, or none (the RFC)"),
	CLI_OPT_FLAG("restore-2m", struct lazy_accept_opts, restore_2m,
		     "collapse direct-map tables back into 2M entries when possible"),
	CLI_OPT_FLAG("flush-on-invalidate", struct lazy_accept_opts, flush_on_invalidate,
		     "invalidate with set_memory_np/p (TLB flush) instead of the _noflush calls"),
	CLI_OPT_ENUM("pin", struct lazy_accept_opts, pin, "WHERE", "none", pin_names,
		     "pin vCPUs and guest memory to NUMA node 0"),
	CLI_OPT_ENUM("gmem-folio", struct lazy_accept_opts, gmem_folio, "SIZE", "2m", folio_names,
		     "guest_memfd folio size (2m with fallback to 4k, or 4k only)"),
	CLI_OPT_END
};

static int lazy_accept_validate(const void *opts, struct cli_error *err)
{
	const struct lazy_accept_opts *o = opts;

	if (cli_check_at_most(err, lazy_accept_options, opts, "workers", "vcpus"))
		return -EINVAL;
	if (o->pin == 1 && o->vcpus > HOST_CPUS / 2)
		return cli_error_set(err, "--vcpus: expected at most %u with --pin node0 (CPUs of "
					  "node 0), got %" PRIu64, HOST_CPUS / 2, o->vcpus);
	if (o->workers * o->worker_mem >= o->guest_mem)
		return cli_error_set(err, "--worker-mem: expected --workers x --worker-mem below "
					  "--guest-mem (%" PRIu64 " bytes), got %" PRIu64 " x %" PRIu64,
				     o->guest_mem, o->workers, o->worker_mem);
	return 0;
}

static void lazy_accept_configure(const void *opts, struct m2d_sim_config *cfg)
{
	(void)opts;
	cfg->cpus = HOST_CPUS;
	cfg->nodes = 2;
	cfg->sockets = 2;
}

/* The replay's state, kept until the report is written (one run per process). */
static struct m2d_lazy_accept *kept;

static void lazy_accept_finish(void)
{
	m2d_lazy_accept_free(&kept);
}

static int lazy_accept_run(struct run_ctx *ctx, const void *opts)
{
	const struct lazy_accept_opts *o = opts;
	struct m2d_lazy_accept_config cfg = {
		.guest_mem = o->guest_mem,
		.nr_vcpus = (unsigned)o->vcpus,
		.nr_workers = (unsigned)o->workers,
		.worker_mem = o->worker_mem,
		.host_cpus = HOST_CPUS,
		.directmap = (enum m2d_la_directmap)o->directmap,
		.cpa_lock_none = o->cpa_lock == 1,
		.restore_2m = o->restore_2m,
		.flush_on_invalidate = o->flush_on_invalidate,
		.pin_node0 = o->pin == 1,
		.gmem_folio_4k = o->gmem_folio == 1,
	};
	struct m2d_lazy_accept_result r;
	int ret;

	progress_phase(ctx->progress, "fault-in");
	ret = m2d_lazy_accept_run(ctx->sim, &cfg, &r, &kept);
	if (ret)
		return ret;
	json_double(ctx->json, "fault_in_gbps", r.fault_in_gbps);
	json_double(ctx->json, "duration_s", r.duration_s);
	json_uint(ctx->json, "accepted_bytes", r.accepted_bytes);
	json_uint(ctx->json, "directmap_4k", r.directmap_4k);
	json_uint(ctx->json, "directmap_2m", r.directmap_2m);
	json_uint(ctx->json, "directmap_1g", r.directmap_1g);
	json_uint(ctx->json, "file_huge_bytes", r.file_huge_bytes);
	json_uint(ctx->json, "gmem_bytes", r.gmem_bytes);
	json_uint(ctx->json, "rmpupdates", r.rmpupdates);
	json_uint(ctx->json, "psc_vmgexits", r.vmgexits);
	json_uint(ctx->json, "pvalidate_2m", r.pvalidate_2m);
	json_uint(ctx->json, "pvalidate_4k", r.pvalidate_4k);

	run_printf(ctx, "lazy-accept: %" PRIu64 " GiB guest, %" PRIu64 " vCPUs, stress --vm %" PRIu64
			" --vm-bytes %" PRIu64 "M --vm-keep; direct map %s, cpa_lock %s%s%s, pin %s, "
			"gmem folios %s\n",
		   o->guest_mem >> 30, o->vcpus, o->workers, o->worker_mem >> 20,
		   directmap_names[o->directmap], cpa_lock_names[o->cpa_lock],
		   o->restore_2m ? ", restore-2m" : "",
		   o->flush_on_invalidate ? ", flush on invalidate" : "", pin_names[o->pin],
		   folio_names[o->gmem_folio]);
	run_printf(ctx, "fault-in rate: %.2f GiB/s (%s) over %.3f s\n", r.fault_in_gbps,
		   o->gmem_folio == 1 ? "guest_memfd bytes / duration" : "FileHugePages growth",
		   r.duration_s);
	run_printf(ctx, "accepted: %" PRIu64 " MiB; RMPUPDATEs: %" PRIu64 "\n",
		   r.accepted_bytes >> 20, r.rmpupdates);
	run_printf(ctx, "DirectMap4k: %" PRIu64 " kB  DirectMap2M: %" PRIu64 " kB  DirectMap1G: %"
			PRIu64 " kB\n",
		   r.directmap_4k >> 10, r.directmap_2m >> 10, r.directmap_1g >> 10);
	return 0;
}

const struct replayer lazy_accept_replayer = {
	.name = "lazy-accept",
	.summary = "SEV-SNP guest faulting in memory through lazy acceptance (stress --vm)",
	.description =
		"An SNP guest of --guest-mem runs `stress --vm W --vm-bytes B --vm-keep`: guest page\n"
		"faults accept 4M blocks (PSC VMGEXIT, MAP_GPA_RANGE exits, PVALIDATE), each 2M\n"
		"unit faults a guest_memfd folio into the NPT and RMPUPDATEs it private, with the\n"
		"host direct map handled per --directmap.  Defaults: the measured SNP host tree\n"
		"(REFERENCE.md A1, SNP-03).  Results: fault_in_gbps (FileHugePages growth rate),\n"
		"duration_s, accepted_bytes, directmap_4k/2m/1g (bytes, as /proc/meminfo).",
	.options = lazy_accept_options,
	.opts_size = sizeof(struct lazy_accept_opts),
	.default_profile = "snp",
	.validate = lazy_accept_validate,
	.configure = lazy_accept_configure,
	.run = lazy_accept_run,
	.finish = lazy_accept_finish,
};
