// SPDX-License-Identifier: MIT
/*
 * sim/gmem_churn.c - `mmu2d gmem-churn`: an SEV-SNP guest converting random
 * ranges shared<->private for a long run, under one guest_memfd hole-punch
 * policy; replayed by m2d_gmem_churn_run() (lib/guest/gmem_churn.c).
 * Results: a time series of how much private memory is still mappable at
 * 2M, smashed RMP entries, and the host direct map.
 */
#include "replayer.h"

#include <errno.h>
#include <inttypes.h>

struct gmem_churn_opts {
	unsigned policy;
	unsigned gmem_folio;
	unsigned directmap;
	uint64_t mem;
	uint64_t conversions;
	uint64_t samples;
};

static const char *const policy_names[] = { "allow", "no-sub-2m", "zero-only", NULL };
static const char *const folio_names[] = { "4k", "2m", NULL };
static const char *const directmap_names[] = { "none", "split-on-demand", "split-only",
					       "nr-pages", NULL };

static const struct cli_option gmem_churn_options[] = {
	CLI_OPT_ENUM("policy", struct gmem_churn_opts, policy, "POLICY", "allow", policy_names,
		     "guest_memfd hole punch of a partial 2M folio: split and free, refuse, or zero"),
	CLI_OPT_ENUM("gmem-folio", struct gmem_churn_opts, gmem_folio, "SIZE", "2m", folio_names,
		     "guest_memfd folio size (2m falls back to 4k)"),
	CLI_OPT_ENUM("directmap", struct gmem_churn_opts, directmap, "POLICY", "split-on-demand",
		     directmap_names, "what RMPUPDATE does to the host direct map"),
	CLI_OPT_SIZE("mem", struct gmem_churn_opts, mem, "1G", 2ull << 20, 1ull << 40, 2ull << 20,
		     "guest memory (one guest_memfd)"),
	CLI_OPT_UINT("conversions", struct gmem_churn_opts, conversions, "N", "20000", 1,
		     100000000, "random range conversions (4K..2M, either direction)"),
	CLI_OPT_UINT("samples", struct gmem_churn_opts, samples, "N", "20", 1, 10000,
		     "time-series points after the initial fault-in"),
	CLI_OPT_END
};

static void gmem_churn_configure(const void *opts, struct m2d_sim_config *cfg)
{
	(void)opts;
	cfg->cpus = 2;
}

static int gmem_churn_run(struct run_ctx *ctx, const void *opts)
{
	const struct gmem_churn_opts *o = opts;
	struct m2d_gmem_churn_config cfg;
	struct m2d_gmem_churn_result res;
	const struct m2d_gmem_churn_sample *last;
	int ret;

	m2d_gmem_churn_config_default(&cfg);
	cfg.mem = o->mem;
	cfg.punch = (int)o->policy;
	cfg.folio = o->gmem_folio == 0 ? M2D_GMEM_FOLIO_4K : M2D_GMEM_FOLIO_2M;
	cfg.directmap = (int)o->directmap;
	cfg.conversions = o->conversions;
	cfg.samples = (unsigned)o->samples;
	cfg.progress = progress_report;
	cfg.progress_arg = ctx->progress;
	progress_phase(ctx->progress, "fault-in");
	ret = m2d_gmem_churn_run(ctx->sim, &cfg, &res);
	if (ret)
		return ret;
	last = &res.samples[res.nr_samples - 1];
	json_double(ctx->json, "duration_s", res.duration_s);
	json_double(ctx->json, "private_2m_share_final", last->private_2m_share);
	json_uint(ctx->json, "rmp_smashed_regions_final", last->rmp_smashed_regions);
	json_uint(ctx->json, "directmap_4k_final", last->directmap_4k);
	json_array_begin(ctx->json, "series");
	for (unsigned i = 0; i < res.nr_samples; i++) {
		const struct m2d_gmem_churn_sample *s = &res.samples[i];

		json_object_begin(ctx->json, NULL);
		json_double(ctx->json, "t_s", s->t_s);
		json_uint(ctx->json, "conversions", s->conversions);
		json_uint(ctx->json, "private_bytes", s->private_bytes);
		json_uint(ctx->json, "private_2m_bytes", s->private_2m_bytes);
		json_double(ctx->json, "private_2m_share", s->private_2m_share);
		json_uint(ctx->json, "sptes_2m", s->sptes_2m);
		json_uint(ctx->json, "sptes_4k", s->sptes_4k);
		json_uint(ctx->json, "rmp_smashed_regions", s->rmp_smashed_regions);
		json_uint(ctx->json, "rmp_psmash", s->rmp_psmash);
		json_uint(ctx->json, "rmpupdates", s->rmpupdates);
		json_uint(ctx->json, "gmem_folios_2m", s->gmem_folios_2m);
		json_uint(ctx->json, "gmem_folios_4k", s->gmem_folios_4k);
		json_uint(ctx->json, "gmem_bytes", s->gmem_bytes);
		json_uint(ctx->json, "directmap_4k", s->directmap_4k);
		json_uint(ctx->json, "directmap_2m", s->directmap_2m);
		json_uint(ctx->json, "directmap_1g", s->directmap_1g);
		json_uint(ctx->json, "punches_refused", s->punches_refused);
		json_object_end(ctx->json);
	}
	json_array_end(ctx->json);

	run_printf(ctx, "gmem-churn: %" PRIu64 " MiB guest_memfd (%s folios), punch policy %s, "
			"direct map %s, %" PRIu64 " conversions\n",
		   o->mem >> 20, folio_names[o->gmem_folio], policy_names[o->policy],
		   directmap_names[o->directmap], o->conversions);
	run_printf(ctx, "%10s %12s %9s %10s %10s %12s %12s %10s\n", "t_s", "conversions",
		   "priv_MiB", "2M_share", "smashed", "dmap4k_MiB", "dmap2m_MiB", "refused");
	for (unsigned i = 0; i < res.nr_samples; i++) {
		const struct m2d_gmem_churn_sample *s = &res.samples[i];

		run_printf(ctx, "%10.6f %12" PRIu64 " %9" PRIu64 " %10.4f %10" PRIu64
				" %12" PRIu64 " %12" PRIu64 " %10" PRIu64 "\n",
			   s->t_s, s->conversions, s->private_bytes >> 20, s->private_2m_share,
			   s->rmp_smashed_regions, s->directmap_4k >> 20, s->directmap_2m >> 20,
			   s->punches_refused);
	}
	m2d_gmem_churn_result_free(&res);
	return 0;
}

const struct replayer gmem_churn_replayer = {
	.name = "gmem-churn",
	.summary = "SNP guest converting random ranges shared<->private under a hole-punch policy",
	.description =
		"One vCPU of an SEV-SNP guest whose memory is one guest_memfd (all private and\n"
		"touched first) converts random ranges (4K..2M, aligned) shared<->private with\n"
		"KVM_HC_MAP_GPA_RANGE; the VMM sets the attributes and, for shared, punches the\n"
		"range out of the guest_memfd (allowed, refused below 2M, or zeroed: --policy);\n"
		"converted-to-private pages are touched again.  Results: a time series (series[])\n"
		"of the private memory still mappable at 2M (private_2m_share), smashed RMP\n"
		"regions, PSMASHes, RMPUPDATEs, guest_memfd folios, the direct map\n"
		"(DirectMap4k/2M/1G bytes) and refused punches.",
	.options = gmem_churn_options,
	.opts_size = sizeof(struct gmem_churn_opts),
	.default_profile = "snp",
	.validate = NULL,
	.configure = gmem_churn_configure,
	.run = gmem_churn_run,
};
