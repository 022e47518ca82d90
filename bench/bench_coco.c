// SPDX-License-Identifier: MIT
/*
 * bench/bench_coco.c - simulator cost of guest_memfd + SNP preparation.
 *
 * Prepares --size bytes (default 1 TiB) of guest_memfd backed by 2M
 * folios, one kvm_gmem_get_pfn per 2M (each: 2M folio, 512 pages zeroed,
 * sev_gmem_prepare with its 1024-read 2M check and one RMPUPDATE), then
 * punches it all (one 2M RMPUPDATE to shared + CLFLUSH per folio).
 * Reports virtual-time metrics (deterministic) apart from wall-clock and
 * memory metrics (noisy), as JSON, plus one SUMMARY line.
 *
 * Folios come from a lib/mm host (buddy allocator, --size + 2 GiB, 1G
 * direct map); the RMP calls the host's direct map per --directmap
 * (default split-only, the merged code: nothing for 2M conversions;
 * invalidate = SNP host v1, 512 CPA calls per folio).
 *
 *   bench_coco [--size BYTES[K|M|G|T]] [--folio 2m|4k]
 *              [--directmap none|invalidate|split-only|nr-pages] [--json FILE|-] [--seed N]
 */
#include "bench_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <mmu2d/mmu2d.h>
#include <mmu2d/physmem.h>

static void nop(void *k)
{
}

static bool nop_zap(void *k, void *slot, m2d_gfn_t s, m2d_gfn_t e)
{
	return false;
}

static void nop_unlock(void *k, bool flush)
{
}

static int prepare(void *k, m2d_gfn_t gfn, m2d_pfn_t pfn, int order)
{
	return m2d_sev_gmem_prepare(k, pfn, gfn, order);
}

static const struct m2d_gmem_kvm_ops kvm_ops = { nop, nop_zap, nop_unlock, nop, prepare };

struct run {
	uint64_t size;
	enum m2d_gmem_folio folio;
	enum m2d_rmp_directmap dm;
	struct m2d_sim *sim;
	int err;
	double t_prep, t_punch;
	m2d_vtime_t v_prep, v_punch;
	struct m2d_rmp_stats rs;
	struct m2d_gmem_stats gs_full, gs;
	long peak_rss_kb;
};

/* The simulated thread: build, prepare everything, punch everything. */
static void run_thread(void *arg)
{
	struct run *r = arg;
	struct m2d_gmem_config gc;
	struct m2d_sev_vm sev;
	struct m2d_rmp *rmp;
	struct m2d_gmem *g;
	struct m2d_gmem_file *f;
	struct m2d_host_config hc;
	struct m2d_host *host;
	double t0;
	int slot;

	m2d_host_config_default(&hc);
	hc.mem_bytes = r->size + (2ull << 30);
	if ((r->err = m2d_host_create(r->sim, &hc, &host)))
		return;
	m2d_gmem_config_default(&gc);
	gc.size = r->size;
	gc.folio = r->folio;
	if ((r->err = m2d_coco_host_rmp_create(host, r->dm, &rmp)))
		goto out_host;
	r->err = -ENOMEM;
	if (m2d_gmem_create(&g, &gc, &m2d_gmem_host_folio_ops, host, rmp))
		goto out_host;
	sev = (struct m2d_sev_vm){ .rmp = rmp, .asid = 1, .snp = true };
	if (m2d_gmem_file_create(g, &sev, &kvm_ops, &f))
		goto out_gmem;
	if ((r->err = m2d_gmem_bind(f, &slot, m2d_gfn_from_u64(0), r->size >> 12, 0)))
		goto out_file;

	t0 = bench_wall_s();
	r->v_prep = m2d_thread_now();
	for (uint64_t gfn = 0; gfn < r->size >> 12; gfn += r->folio == M2D_GMEM_FOLIO_2M ? 512 : 1) {
		m2d_pfn_t pfn;
		int mo;

		if ((r->err = m2d_gmem_get_pfn(f, &slot, m2d_gfn_from_u64(gfn), &pfn, &mo)))
			goto out_file;
	}
	r->t_prep = bench_wall_s() - t0;
	r->v_prep = m2d_thread_now() - r->v_prep;
	m2d_gmem_stats_get(g, &r->gs_full);
	m2d_rmp_stats_get(rmp, &r->rs);
	r->peak_rss_kb = bench_peak_rss_kb();

	t0 = bench_wall_s();
	r->v_punch = m2d_thread_now();
	r->err = m2d_gmem_fallocate(g, M2D_GMEM_FALLOC_KEEP_SIZE | M2D_GMEM_FALLOC_PUNCH_HOLE, 0,
				    (int64_t)r->size);
	r->t_punch = bench_wall_s() - t0;
	r->v_punch = m2d_thread_now() - r->v_punch;
	m2d_gmem_stats_get(g, &r->gs);
out_file:
	m2d_gmem_file_release(&f);
out_gmem:
	m2d_gmem_destroy(&g);
out_host:	/* the host frees its RMP */
	m2d_host_destroy(&host);
}

int main(int argc, char **argv)
{
	uint64_t size = 1ull << 40, seed = 1;
	static const char *const dm_names[] = { "none", "invalidate", "split-only", "nr-pages" };
	enum m2d_rmp_directmap dm = M2D_RMP_DIRECTMAP_SPLIT_ONLY;
	const char *json = "-", *folio_name = "2m";
	enum m2d_gmem_folio folio = M2D_GMEM_FOLIO_2M;
	struct m2d_sim_config sc;
	struct run r;
	FILE *out;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc) {
			if (bench_parse_nonzero_size(argv[++i], 0, &size) || size % (2 << 20)) {
				fprintf(stderr, "bench_coco: --size: a positive multiple of 2M (K/M/G/T suffixes)\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--folio") && i + 1 < argc) {
			folio_name = argv[++i];
			if (!strcmp(folio_name, "2m")) {
				folio = M2D_GMEM_FOLIO_2M;
			} else if (!strcmp(folio_name, "4k")) {
				folio = M2D_GMEM_FOLIO_4K;
			} else {
				fprintf(stderr, "bench_coco: --folio: 2m or 4k\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--directmap") && i + 1 < argc) {
			const char *v = argv[++i];

			for (dm = 0; dm < M2D_RMP_DIRECTMAP_NR && strcmp(v, dm_names[dm]); dm++)
				;
			if (dm == M2D_RMP_DIRECTMAP_NR) {
				fprintf(stderr, "bench_coco: --directmap: none, invalidate, split-only or nr-pages\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json = argv[++i];
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			seed = strtoull(argv[++i], NULL, 0);
		} else {
			fprintf(stderr, "usage: bench_coco [--size BYTES] [--folio 2m|4k] "
				"[--directmap none|invalidate|split-only|nr-pages] [--json FILE|-] [--seed N]\n");
			return 2;
		}
	}

	memset(&r, 0, sizeof(r));
	m2d_sim_config_default(&sc);
	sc.seed = seed;
	sc.profile = "snp";
	if ((ret = m2d_sim_create(&r.sim, &sc))) {
		fprintf(stderr, "bench_coco: sim: %s\n", m2d_strerror(ret));
		return 1;
	}
	r.size = size;
	r.folio = folio;
	r.dm = dm;
	if ((ret = m2d_sim_spawn(r.sim, 0, "prepare", run_thread, &r)) || (ret = m2d_sim_run(r.sim)) ||
	    (ret = r.err)) {
		fprintf(stderr, "bench_coco: %s\n", m2d_strerror(ret));
		return 1;
	}

	out = strcmp(json, "-") ? fopen(json, "w") : stdout;
	if (!out) {
		fprintf(stderr, "bench_coco: --json: cannot open %s\n", json);
		return 2;
	}
	fprintf(out, "{\n  \"m2d_version\": \"%s\",\n  \"bench\": \"coco\",\n  \"seed\": %llu,\n",
		m2d_version(), (unsigned long long)seed);
	fprintf(out, "  \"config\": {\"size\": %llu, \"folio\": \"%s\", \"directmap\": \"%s\", \"profile\": \"snp\", "
		"\"host_mem\": %llu},\n", (unsigned long long)size, folio_name, dm_names[dm],
		(unsigned long long)(size + (2ull << 30)));
	fprintf(out, "  \"results\": {\n    \"virtual\": {\"prepare_s\": %.9f, \"punch_s\": %.9f, "
		"\"rmpupdates\": %llu, \"rmp_entry_reads\": %llu, \"pages_zeroed\": %llu, "
		"\"folios_2m\": %llu, \"folios_4k\": %llu, \"file_huge_bytes\": %llu, "
		"\"cpa_lock_acquisitions\": %llu, \"directmap_splits\": %llu},\n",
		r.v_prep / 1e9, r.v_punch / 1e9, (unsigned long long)m2d_sim_counter(r.sim, "rmpupdates"),
		(unsigned long long)m2d_sim_counter(r.sim, "rmp_entry_reads"),
		(unsigned long long)m2d_sim_counter(r.sim, "gmem_pages_zeroed"),
		(unsigned long long)r.gs_full.folios_2m, (unsigned long long)r.gs_full.folios_4k,
		(unsigned long long)r.gs_full.file_huge_bytes,
		(unsigned long long)m2d_sim_counter(r.sim, "cpa_lock_acquisitions"),
		(unsigned long long)m2d_sim_counter(r.sim, "directmap_splits"));
	fprintf(out, "    \"wall\": {\"prepare_s\": %.6f, \"punch_s\": %.6f, \"ns_per_prepare\": %.1f, "
		"\"peak_rss_bytes\": %llu, \"rmp_meta_bytes\": %llu, \"gmem_meta_bytes\": %llu}\n  }\n}\n",
		r.t_prep, r.t_punch, r.t_prep * 1e9 / (double)(r.gs_full.folios_2m + r.gs_full.folios_4k),
		(unsigned long long)r.peak_rss_kb * 1024, (unsigned long long)r.rs.meta_bytes,
		(unsigned long long)r.gs_full.meta_bytes);
	if (out != stdout)
		fclose(out);
	fprintf(out == stdout ? stderr : stdout, "SUMMARY bench_coco size %llu folio %s prepare_wall_s %.3f punch_wall_s %.3f "
	       "peak_rss_mib %.1f rmpupdates %llu\n", (unsigned long long)size, folio_name, r.t_prep,
	       r.t_punch, r.peak_rss_kb / 1024.0, (unsigned long long)m2d_sim_counter(r.sim, "rmpupdates"));

	m2d_sim_destroy(&r.sim);
	return r.gs.folios_2m + r.gs.folios_4k ? 1 : 0;
}
