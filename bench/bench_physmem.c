// SPDX-License-Identifier: MIT
/*
 * bench/bench_physmem.c - speed and memory of the buddy allocator.
 *
 * Cases (wall clock, single thread; public API only):
 *   alloc_free_2m  allocate --mem in 2M folios (all live at once), then free all;
 *   alloc_free_4k  allocate --mem in 4K folios in windows of --window (each
 *                  window allocated, then freed), so a TiB fits in RAM.
 * Output: JSON (--format=json, default) or one line per case (--format=pretty),
 * plus a grep-able SUMMARY line on stderr.
 *
 * The host's direct map is built at creation (--directmap 1g|2m|4k|presplit,
 * default 1g); its build time is reported as "host_create_ns".
 *
 *   bench_physmem [--mem 1T] [--window 1G] [--directmap 1g] [--format json|pretty]
 */
#include "bench_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <mmu2d/mmu2d.h>

struct bench_case {
	const char *name;
	uint64_t ops;          /* folios allocated (and freed) */
	double alloc_ns;       /* wall ns per allocation */
	double free_ns;        /* wall ns per free */
	uint64_t peak_live;    /* folios live at once */
};

struct bench {
	uint64_t mem;
	uint64_t window;
	struct m2d_host *host;
	struct m2d_folio **v;
	struct bench_case cases[2];
	double create_ns;
	int err;
};

/* Allocate @n folios of @order, then free them; add the wall time to @c. */
static int round_trip(struct bench *b, struct bench_case *c, unsigned order, uint64_t n,
		      double *alloc_ns, double *free_ns)
{
	double t0 = bench_wall_ns(), t1;

	for (uint64_t i = 0; i < n; i++) {
		int ret = m2d_folio_alloc(b->host, order, 0, 0, &b->v[i]);

		if (ret)
			return ret;
	}
	t1 = bench_wall_ns();
	for (uint64_t i = 0; i < n; i++)
		m2d_folio_put(b->host, b->v[i]);
	*alloc_ns += t1 - t0;
	*free_ns += bench_wall_ns() - t1;
	c->ops += n;
	if (n > c->peak_live)
		c->peak_live = n;
	return 0;
}

static void run(void *arg)
{
	struct bench *b = arg;
	struct bench_case *c2m = &b->cases[0], *c4k = &b->cases[1];
	double a = 0, f = 0;

	c2m->name = "alloc_free_2m";
	b->err = round_trip(b, c2m, 9, b->mem / M2D_PMD_SIZE, &a, &f);
	if (b->err)
		return;
	c2m->alloc_ns = a / (double)c2m->ops;
	c2m->free_ns = f / (double)c2m->ops;

	c4k->name = "alloc_free_4k";
	a = f = 0;
	for (uint64_t done = 0; done < b->mem && !b->err; done += b->window)
		b->err = round_trip(b, c4k, 0, b->window / M2D_PAGE_SIZE, &a, &f);
	c4k->alloc_ns = a / (double)c4k->ops;
	c4k->free_ns = f / (double)c4k->ops;
}

int main(int argc, char **argv)
{
	struct bench b = { .mem = M2D_SZ_1T, .window = M2D_SZ_1G };
	const char *format = "json", *dmap = "1g";
	struct m2d_sim_config sc;
	struct m2d_host_config hc;
	struct m2d_sim *sim;
	long peak_rss_kb;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mem") && i + 1 < argc) {
			ret = bench_parse_nonzero_size(argv[++i], 10, &b.mem);
		} else if (!strcmp(argv[i], "--window") && i + 1 < argc) {
			ret = bench_parse_nonzero_size(argv[++i], 10, &b.window);
		} else if (!strcmp(argv[i], "--directmap") && i + 1 < argc) {
			dmap = argv[++i];
			ret = strcmp(dmap, "1g") && strcmp(dmap, "2m") && strcmp(dmap, "4k") &&
			      strcmp(dmap, "presplit") ? -EINVAL : 0;
		} else if (!strncmp(argv[i], "--format=", 9)) {
			format = argv[i] + 9;
			ret = strcmp(format, "json") && strcmp(format, "pretty") ? -EINVAL : 0;
		} else {
			ret = -EINVAL;
		}
		if (ret || b.mem % M2D_SZ_1G || !b.window || b.window % M2D_PMD_SIZE ||
		    b.window > b.mem) {
			fprintf(stderr, "bench_physmem: bad option '%s' (accepted: --mem SIZE "
				"(multiple of 1G), --window SIZE (multiple of 2M, <= mem), "
				"--directmap 1g|2m|4k|presplit, --format=json|pretty)\n", argv[i]);
			return 2;
		}
	}
	m2d_sim_config_default(&sc);
	if ((ret = m2d_sim_create(&sim, &sc))) {
		fprintf(stderr, "bench_physmem: sim: %s\n", m2d_strerror(ret));
		return 1;
	}
	m2d_host_config_default(&hc);
	hc.mem_bytes = b.mem;
	hc.directmap_max_level = !strcmp(dmap, "2m") ? 2 : !strcmp(dmap, "4k") ? 1 : 3;
	hc.directmap_presplit_4k = !strcmp(dmap, "presplit");
	b.create_ns = bench_wall_ns();
	ret = m2d_host_create(sim, &hc, &b.host);
	b.create_ns = bench_wall_ns() - b.create_ns;
	if (ret) {
		fprintf(stderr, "bench_physmem: host: %s\n", m2d_strerror(ret));
		return 1;
	}
	b.v = calloc(b.mem / M2D_PMD_SIZE > b.window / M2D_PAGE_SIZE ? b.mem / M2D_PMD_SIZE
							  : b.window / M2D_PAGE_SIZE,
		     sizeof(*b.v));
	if (!b.v)
		return 1;
	m2d_sim_spawn(sim, 0, "bench", run, &b);
	m2d_sim_run(sim);
	if (b.err) {
		fprintf(stderr, "bench_physmem: %s\n", m2d_strerror(b.err));
		return 1;
	}
	peak_rss_kb = bench_peak_rss_kb();
	if (!strcmp(format, "json")) {
		printf("{\"m2d_version\": \"%s\", \"bench\": \"physmem\", \"seed\": 0,\n"
		       " \"config\": {\"mem_bytes\": %llu, \"window_bytes\": %llu, \"directmap\": \"%s\"},\n"
		       " \"results\": {\n  \"host_create\": {\"wall\": {\"ns\": %.0f}},",
		       m2d_version(), (unsigned long long)b.mem, (unsigned long long)b.window, dmap,
		       b.create_ns);
		for (int i = 0; i < 2; i++)
			printf("%s\n  \"%s\": {\"ops\": %llu, \"peak_live_folios\": %llu, "
			       "\"wall\": {\"alloc_ns_per_op\": %.1f, \"free_ns_per_op\": %.1f}}",
			       i ? "," : "", b.cases[i].name, (unsigned long long)b.cases[i].ops,
			       (unsigned long long)b.cases[i].peak_live, b.cases[i].alloc_ns,
			       b.cases[i].free_ns);
		printf("},\n \"sim\": {\"peak_rss_bytes\": %llu}}\n",
		       (unsigned long long)peak_rss_kb * 1024);
	} else {
		printf("host_create    %.3f s (directmap %s)\n", b.create_ns / 1e9, dmap);
		for (int i = 0; i < 2; i++)
			printf("%-14s ops %12llu  alloc %7.1f ns/op  free %7.1f ns/op\n",
			       b.cases[i].name, (unsigned long long)b.cases[i].ops,
			       b.cases[i].alloc_ns, b.cases[i].free_ns);
		printf("peak RSS %llu KiB\n", (unsigned long long)peak_rss_kb);
	}
	fprintf(stderr, "SUMMARY physmem alloc_2m_ns %.1f free_2m_ns %.1f alloc_4k_ns %.1f "
		"free_4k_ns %.1f peak_rss_kib %llu\n", b.cases[0].alloc_ns, b.cases[0].free_ns,
		b.cases[1].alloc_ns, b.cases[1].free_ns, (unsigned long long)peak_rss_kb);
	free(b.v);
	m2d_host_destroy(&b.host);
	m2d_sim_destroy(&sim);
	return 0;
}
