// SPDX-License-Identifier: MIT
/*
 * sim/hgm_collapse.c - `mmu2d hgm-collapse`: MADV_COLLAPSE of 1G HugeTLB
 * pages mapped at 4K (HGM) while a KVM guest keeps writing, replayed by
 * m2d_hgm_collapse_run() (lib/guest/hgm_collapse.c; REFERENCE.md A9).
 */
#include "replayer.h"

#include <errno.h>
#include <inttypes.h>

struct hgm_collapse_opts {
	unsigned mapcount;
	unsigned path;
	uint64_t mem;
	uint64_t vcpus;
};

static const char *const mapcount_names[] = { "thp-like", "head-only", NULL };
static const char *const path_names[] = { "4k-1g", "4k-2m-1g", NULL };

static const struct cli_option hgm_collapse_options[] = {
	CLI_OPT_ENUM("mapcount", struct hgm_collapse_opts, mapcount, "SCHEME", "thp-like",
		     mapcount_names, "HGM mapcount: per-4K _mapcount (v2) or one head counter (v1)"),
	CLI_OPT_ENUM("path", struct hgm_collapse_opts, path, "PATH", "4k-1g", path_names,
		     "collapse 4K PTEs straight to 1G, or to 2M first and then to 1G"),
	CLI_OPT_SIZE("mem", struct hgm_collapse_opts, mem, "4G", 1ull << 30, 1ull << 40, 1ull << 30,
		     "guest memory (1G HugeTLB pages)"),
	CLI_OPT_UINT("vcpus", struct hgm_collapse_opts, vcpus, "N", "4", 1, 1023,
		     "vCPUs writing during the collapse (CPUs 0..N-1; the VMM thread on CPU N)"),
	CLI_OPT_END
};

static int hgm_collapse_validate(const void *opts, struct cli_error *err)
{
	const struct hgm_collapse_opts *o = opts;

	/* each vCPU's slice: whole pages, at least skip_pages (4) of them */
	if ((o->mem / o->vcpus) % 4096 || o->mem / o->vcpus < 4 * 4096)
		return cli_error_set(err, "--vcpus: expected a number that splits --mem (%" PRIu64
					  ") into slices of whole 4K pages, got %" PRIu64,
				     o->mem, o->vcpus);
	return 0;
}

static void hgm_collapse_configure(const void *opts, struct m2d_sim_config *cfg)
{
	const struct hgm_collapse_opts *o = opts;

	cfg->cpus = (unsigned)o->vcpus + 1;
}

static int hgm_collapse_run(struct run_ctx *ctx, const void *opts)
{
	const struct hgm_collapse_opts *o = opts;
	struct m2d_hgm_collapse_config cfg;
	struct m2d_hgm_collapse_result res;
	int ret;

	m2d_hgm_collapse_config_default(&cfg);
	cfg.mapcount = (int)o->mapcount;
	cfg.path = (enum m2d_hgm_path)o->path;
	cfg.mem = o->mem;
	cfg.nr_vcpus = (unsigned)o->vcpus;
	cfg.progress = progress_report;
	cfg.progress_arg = ctx->progress;
	progress_phase(ctx->progress, "setup");
	ret = m2d_hgm_collapse_run(ctx->sim, &cfg, &res);
	if (ret)
		return ret;
	json_double(ctx->json, "collapse_s", res.collapse_s);
	json_double(ctx->json, "per_1g_s", res.per_1g_s);
	json_double(ctx->json, "invalidate_start_s", res.invalidate_start_s);
	json_uint(ctx->json, "mapcount_atomics", res.mapcount_atomics);
	json_uint(ctx->json, "mapcount_subpage_atomics", res.mapcount_subpage_atomics);
	json_double(ctx->json, "vcpu_stall_s", res.vcpu_stall_s);
	json_double(ctx->json, "vcpu_stall_total_s", res.vcpu_stall_total_s);
	json_uint(ctx->json, "pages_1g", res.nr_1g);
	json_uint(ctx->json, "madvise_calls", res.madvise_calls);
	json_uint(ctx->json, "guest_writes", res.guest_writes);
	json_uint(ctx->json, "host_pages_1g_after", res.host_pages_1g_after);

	run_printf(ctx, "hgm-collapse: %" PRIu64 " GiB of 1G HugeTLB mapped at 4K, %s mapcount, "
			"path %s, %" PRIu64 " vCPUs writing\n",
		   o->mem >> 30, mapcount_names[o->mapcount], path_names[o->path], o->vcpus);
	run_printf(ctx, "MADV_COLLAPSE:        %.9f s total, %.9f s per 1G page (%" PRIu64
			" calls)\n",
		   res.collapse_s, res.per_1g_s, res.madvise_calls);
	run_printf(ctx, "invalidate_range_start (KVM zap): %.9f s\n", res.invalidate_start_s);
	run_printf(ctx, "mapcount atomics:     %" PRIu64 " (%" PRIu64 " on per-4K _mapcounts)\n",
		   res.mapcount_atomics, res.mapcount_subpage_atomics);
	run_printf(ctx, "vCPU stall:           %.9f s longest, %.9f s total\n", res.vcpu_stall_s,
		   res.vcpu_stall_total_s);
	return 0;
}

const struct replayer hgm_collapse_replayer = {
	.name = "hgm-collapse",
	.summary = "MADV_COLLAPSE of HGM-mapped 1G HugeTLB pages under a running KVM guest",
	.description =
		"Guest memory is a 1G HugeTLB memfd mapped at 4K with HugeTLB high-granularity\n"
		"mapping (MADV_SPLIT + UFFDIO_CONTINUE per page).  vCPUs write one word every 4\n"
		"pages of their slice in a loop; after one pass the VMM thread collapses every\n"
		"1G page (4k-1g: one MADV_COLLAPSE; 4k-2m-1g: 512 of 2M then one of 1G) while\n"
		"the vCPUs keep running and block on the invalidation.  Results: collapse_s,\n"
		"per_1g_s, invalidate_start_s (KVM's zap in invalidate_range_start),\n"
		"mapcount_atomics, vcpu_stall_s (longest time one vCPU was blocked).",
	.options = hgm_collapse_options,
	.opts_size = sizeof(struct hgm_collapse_opts),
	.default_profile = "x86",
	.validate = hgm_collapse_validate,
	.configure = hgm_collapse_configure,
	.run = hgm_collapse_run,
};
