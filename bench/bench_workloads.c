// SPDX-License-Identifier: MIT
/*
 * bench/bench_workloads.c - the experiment workloads at full scale: wall
 * time and peak RSS of dirty-log (EPS1: 96 vCPUs x 1 GiB of 1G HugeTLB,
 * TDP MMU, eager split), hgm-collapse (4 GiB, thp-like, 4K -> 1G) and
 * gmem-churn (1 GiB, 20,000 conversions, allow), with their main virtual
 * results.  Output: one JSON object (--format=json) or text.
 */
#include "bench_util.h"

#include <mmu2d/mmu2d.h>

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static struct m2d_sim *new_sim(unsigned cpus, const char *profile)
{
	static char path[4096];
	struct m2d_sim_config sc;
	struct m2d_sim *sim = NULL;

	m2d_sim_config_default(&sc);
	sc.cpus = cpus;
	snprintf(path, sizeof(path), "%s/%s.profile", M2D_BENCH_PROFILE_DIR, profile);
	sc.profile = path;
	if (m2d_sim_create(&sim, &sc))
		return NULL;
	return sim;
}

int main(int argc, char **argv)
{
	bool json = argc > 1 && !strcmp(argv[1], "--format=json");
	struct m2d_dirty_log_config dc;
	struct m2d_dirty_log_result dr;
	struct m2d_hgm_collapse_config hc;
	struct m2d_hgm_collapse_result hr;
	struct m2d_gmem_churn_config gc;
	struct m2d_gmem_churn_result gr;
	struct m2d_sim *sim;
	double t0, w_dirty, w_hgm, w_churn;
	int ret;

	m2d_dirty_log_config_default(&dc);
	dc.nr_vcpus = 96;
	dc.initially_all_set = false;
	sim = new_sim(97, "x86-2022");
	t0 = bench_wall_s();
	ret = sim ? m2d_dirty_log_run(sim, &dc, &dr) : -1;
	w_dirty = bench_wall_s() - t0;
	m2d_sim_destroy(&sim);
	if (ret)
		return 1;

	m2d_hgm_collapse_config_default(&hc);
	sim = new_sim(hc.nr_vcpus + 1, "x86");
	t0 = bench_wall_s();
	ret = sim ? m2d_hgm_collapse_run(sim, &hc, &hr) : -1;
	w_hgm = bench_wall_s() - t0;
	m2d_sim_destroy(&sim);
	if (ret)
		return 1;

	m2d_gmem_churn_config_default(&gc);
	sim = new_sim(2, "snp");
	t0 = bench_wall_s();
	ret = sim ? m2d_gmem_churn_run(sim, &gc, &gr) : -1;
	w_churn = bench_wall_s() - t0;
	m2d_sim_destroy(&sim);
	if (ret)
		return 1;

	if (json)
		printf("{\"dirty_log_wall_s\": %.3f, \"dirty_log_enable_s\": %.9f, "
		       "\"dirty_log_iter1_dirty_s\": %.9f, \"hgm_collapse_wall_s\": %.3f, "
		       "\"hgm_per_1g_s\": %.9f, \"gmem_churn_wall_s\": %.3f, "
		       "\"gmem_churn_private_2m_share_final\": %.6f, \"peak_rss_kb\": %ld}\n",
		       w_dirty, dr.enable_dirty_logging_s, dr.iterations[0].dirty_s, w_hgm,
		       hr.per_1g_s, w_churn, gr.samples[gr.nr_samples - 1].private_2m_share,
		       bench_peak_rss_kb());
	else
		printf("dirty-log EPS1 (96 vCPUs): %.1f s wall; hgm-collapse 4G: %.1f s wall; "
		       "gmem-churn 1G x 20000: %.1f s wall; peak RSS %ld KiB\n",
		       w_dirty, w_hgm, w_churn, bench_peak_rss_kb());
	m2d_dirty_log_result_free(&dr);
	m2d_gmem_churn_result_free(&gr);
	return 0;
}
