// SPDX-License-Identifier: MIT
/*
 * bench/bench_pt.c - speed and memory of the radix page tables (public API
 * only).
 *
 * Per repetition, on a fresh table: map SIZE at LEVEL under an existing
 * root, translate every leaf with m2d_pt_walk(), visit every entry with the
 * iterator, write-protect everything, unmap everything.  Each phase's wall
 * time is reported as the median over the repetitions, with ns per leaf.
 * Peak RSS comes from getrusage(RUSAGE_SELF) at the end.
 *
 * Output: --format=json (default): one JSON object on stdout
 *   {"bench": "pt", "m2d_version", "config": {...}, "results": {...}}
 * and the SUMMARY line on stderr; --format=pretty: a table and the
 * SUMMARY line on stdout.
 */
#include "bench_util.h"

#include <mmu2d/error.h>
#include <mmu2d/pt.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum phase { PH_MAP, PH_WALK, PH_ITER, PH_PROTECT, PH_UNMAP, PH_NR };
static const char *const phase_names[PH_NR] = { "map", "walk", "iter", "protect", "unmap" };

struct opts {
	uint64_t size;
	int level;
	int reps;
	bool json;
	enum m2d_pt_format fmt;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_pt [--size=N[K|M|G|T]] [--level=1|2|3|4k|2m|1g] [--reps=N]\n"
		   "                [--pt-format=ept|x86|arm64] [--format=json|pretty]\n"
		   "defaults: --size=128G --level=4k --reps=3 --pt-format=ept --format=json\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	o->size = 128ull << 30;
	o->level = 1;
	o->reps = 3;
	o->json = true;
	o->fmt = M2D_PT_EPT;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = strchr(a, '=');

		if (!strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!v) {
			fprintf(stderr, "bench_pt: option %s needs =VALUE\n", a);
			return -EINVAL;
		}
		v++;
		if (!strncmp(a, "--size=", 7)) {
			if (bench_parse_size(v, 10, &o->size) || !o->size) {
				fprintf(stderr, "bench_pt: --size: a size like 4G (K/M/G/T suffix)\n");
				return -EINVAL;
			}
		} else if (!strncmp(a, "--level=", 8)) {
			if (!strcmp(v, "1") || !strcasecmp(v, "4k"))
				o->level = 1;
			else if (!strcmp(v, "2") || !strcasecmp(v, "2m"))
				o->level = 2;
			else if (!strcmp(v, "3") || !strcasecmp(v, "1g"))
				o->level = 3;
			else {
				fprintf(stderr, "bench_pt: --level: 1|2|3|4k|2m|1g\n");
				return -EINVAL;
			}
		} else if (!strncmp(a, "--reps=", 7)) {
			o->reps = atoi(v);
			if (o->reps < 1 || o->reps > 1000) {
				fprintf(stderr, "bench_pt: --reps: 1..1000\n");
				return -EINVAL;
			}
		} else if (!strncmp(a, "--format=", 9)) {
			if (!strcmp(v, "json"))
				o->json = true;
			else if (!strcmp(v, "pretty"))
				o->json = false;
			else {
				fprintf(stderr, "bench_pt: --format: json|pretty\n");
				return -EINVAL;
			}
		} else if (!strncmp(a, "--pt-format=", 12)) {
			if (!strcmp(v, "ept"))
				o->fmt = M2D_PT_EPT;
			else if (!strcmp(v, "x86"))
				o->fmt = M2D_PT_X86_64;
			else if (!strcmp(v, "arm64"))
				o->fmt = M2D_PT_ARM64_S2;
			else {
				fprintf(stderr, "bench_pt: --pt-format: ept|x86|arm64\n");
				return -EINVAL;
			}
		} else {
			fprintf(stderr, "bench_pt: unknown option %s\n", a);
			return -EINVAL;
		}
	}
	if (o->size & ((1ull << (12 + 9 * (o->level - 1))) - 1) || o->size > (1ull << 47)) {
		fprintf(stderr, "bench_pt: --size must be a multiple of the level size, <= 128T\n");
		return -EINVAL;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	const unsigned prot = M2D_PROT_RWX | M2D_PROT_WB | M2D_PROT_A | M2D_PROT_D;
	struct opts o;
	double *t[PH_NR], med[PH_NR];
	struct m2d_pt_stats st;
	long peak_rss_kb;
	uint64_t leaves, visited = 0, checksum = 0, protected_n = 0, unmapped = 0;
	uint64_t step;

	if (parse_args(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	step = 1ull << (12 + 9 * (o.level - 1));
	leaves = o.size / step;
	for (int p = 0; p < PH_NR; p++)
		t[p] = calloc((size_t)o.reps, sizeof(double));

	for (int r = 0; r < o.reps; r++) {
		struct m2d_pt_config cfg;
		struct m2d_pt *pt;
		struct m2d_pt_iter it;
		double t0;
		int ret;

		m2d_pt_config_default(&cfg);
		cfg.format = o.fmt;
		ret = m2d_pt_create(&pt, &cfg);
		if (ret) {
			fprintf(stderr, "bench_pt: m2d_pt_create: %s\n", m2d_strerror(ret));
			return 1;
		}
		t0 = bench_wall_s();
		ret = m2d_pt_map_range(pt, 0, o.size, 0, o.level, prot);
		t[PH_MAP][r] = bench_wall_s() - t0;
		if (ret) {
			fprintf(stderr, "bench_pt: m2d_pt_map_range: %s\n", m2d_strerror(ret));
			return 1;
		}
		m2d_pt_stats_get(pt, &st);

		t0 = bench_wall_s();
		for (uint64_t a = 0; a < o.size; a += step) {
			struct m2d_pt_walk w;

			m2d_pt_walk(pt, a, &w);
			checksum += w.pfn;
		}
		t[PH_WALK][r] = bench_wall_s() - t0;

		t0 = bench_wall_s();
		visited = 0;
		m2d_pt_for_each_pte(it, pt, 0, o.size)
			visited++;
		t[PH_ITER][r] = bench_wall_s() - t0;

		t0 = bench_wall_s();
		protected_n = m2d_pt_protect_range(pt, 0, o.size, 0, M2D_PROT_W);
		t[PH_PROTECT][r] = bench_wall_s() - t0;

		t0 = bench_wall_s();
		unmapped = m2d_pt_unmap_range(pt, 0, o.size);
		t[PH_UNMAP][r] = bench_wall_s() - t0;
		m2d_pt_destroy(&pt);
	}
	for (int p = 0; p < PH_NR; p++)
		med[p] = median(t[p], o.reps);
	peak_rss_kb = bench_peak_rss_kb();
	if (protected_n != leaves || unmapped != leaves ||
	    checksum != (uint64_t)o.reps * (leaves * (leaves - 1) / 2) * (step >> 12)) {
		fprintf(stderr, "bench_pt: self-check failed\n");
		return 1;
	}

	if (o.json) {
		printf("{\"bench\": \"pt\", \"m2d_version\": \"%s\",\n", m2d_version());
		printf(" \"config\": {\"size\": %" PRIu64 ", \"level\": %d, \"reps\": %d, "
		       "\"pt_format\": \"%s\"},\n",
		       o.size, o.level, o.reps,
		       o.fmt == M2D_PT_EPT ? "ept" : o.fmt == M2D_PT_X86_64 ? "x86" : "arm64");
		printf(" \"results\": {");
		for (int p = 0; p < PH_NR; p++)
			printf("\"%s_s\": %.6f, \"%s_ns_per_leaf\": %.2f, ", phase_names[p], med[p],
			       phase_names[p], med[p] * 1e9 / (double)leaves);
		printf("\"leaves\": %" PRIu64 ", \"entries_visited\": %" PRIu64
		       ", \"tables\": [%" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64
		       "], \"table_bytes\": %" PRIu64 ", \"peak_rss_bytes\": %lld}}\n",
		       leaves, visited, st.tables[1], st.tables[2], st.tables[3], st.tables[4],
		       st.table_bytes, (long long)peak_rss_kb * 1024);
	} else {
		printf("bench_pt: %" PRIu64 " bytes at level %d, %" PRIu64 " leaves, %d reps (median)\n",
		       o.size, o.level, leaves, o.reps);
		for (int p = 0; p < PH_NR; p++)
			printf("  %-8s %10.3f s %10.2f ns/leaf\n", phase_names[p], med[p],
			       med[p] * 1e9 / (double)leaves);
		printf("  tables   %" PRIu64 " / %" PRIu64 " / %" PRIu64 " / %" PRIu64
		       " (levels 1..4), %" PRIu64 " bytes\n",
		       st.tables[1], st.tables[2], st.tables[3], st.tables[4], st.table_bytes);
		printf("  peak RSS %lld bytes\n", (long long)peak_rss_kb * 1024);
	}
	fprintf(o.json ? stderr : stdout,
		"SUMMARY pt size %" PRIu64 " level %d map_s %.3f walk_s %.3f iter_s %.3f "
		"protect_s %.3f unmap_s %.3f map_ns_per_leaf %.1f peak_rss_mib %.1f\n",
		o.size, o.level, med[PH_MAP], med[PH_WALK], med[PH_ITER], med[PH_PROTECT],
		med[PH_UNMAP], med[PH_MAP] * 1e9 / (double)leaves,
		(double)peak_rss_kb / 1024.0);
	for (int p = 0; p < PH_NR; p++)
		free(t[p]);
	return 0;
}
