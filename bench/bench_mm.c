// SPDX-License-Identifier: MIT
/*
 * bench/bench_mm.c - speed and memory of the host mm model at mmu_stress
 * scale: mprotect of 128 GiB of 4K mappings.
 *
 * Setup (public API only): one --slot (2 GiB) memfd, mapped --mem/--slot
 * times back to back (128 GiB of VMAs aliasing the same page cache, as the
 * selftest's memslots alias one HVA range), MADV_NOHUGEPAGE, every page
 * pre-faulted by a host write (33.5M faults at defaults), one notifier
 * subscriber (counting).  Then, each timed on the wall clock and in
 * virtual time:
 *   mprotect_ro  mprotect(PROT_READ) over the whole 128 GiB;
 *   mprotect_rw  mprotect(PROT_READ|PROT_WRITE) back;
 *   munmap       munmap of everything;
 *   gup_fast     (before mprotect_ro) one get_user_page_fast_only(FOLL_WRITE)
 *                per 4K page of the whole range through the KVM host ops,
 *                as full-scale mmu_stress vCPU faults do.
 * Wall and process CPU time are both reported (the CPU time is the stable
 * figure on a shared machine).
 * Output: JSON (--format=json, default) or text (--format=pretty), and a
 * grep-able SUMMARY line on stderr.
 *
 *   bench_mm [--mem 128G] [--slot 2G] [--notifier pud|p4d] [--profile x86]
 *            [--format json|pretty]
 */
#include "bench_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <mmu2d/kvm.h>
#include <mmu2d/mmu2d.h>

struct phase {
	const char *name;
	double wall_s;
	double cpu_s;            /* process CPU time (stable on a shared machine) */
	double virt_s;
	uint64_t invalidations;  /* notifier pairs seen by the subscriber */
	uint64_t entries;        /* faults / PTEs changed / PTEs zapped */
};

struct bench {
	uint64_t mem, slot;
	enum m2d_mm_notifier_granularity notifier;
	struct m2d_host *host;
	struct m2d_mm *mm;
	uint64_t pairs;
	struct phase ph[5];
	uint64_t pt_bytes;
	int err;
};

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void count_start(void *priv, uint64_t start, uint64_t end,
			enum m2d_mmu_notifier_event event, bool may_block)
{
	((struct bench *)priv)->pairs++;
}

static void phase_begin(struct bench *b, struct phase *p, const char *name, double *t0,
			m2d_vtime_t *v0)
{
	p->name = name;
	b->pairs = 0;
	p->cpu_s = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	*t0 = bench_wall_s();
	*v0 = m2d_thread_now();
}

static void phase_end(struct bench *b, struct phase *p, double t0, m2d_vtime_t v0, uint64_t n)
{
	p->wall_s = bench_wall_s() - t0;
	p->cpu_s = clock_s(CLOCK_PROCESS_CPUTIME_ID) - p->cpu_s;
	p->virt_s = (double)(m2d_thread_now() - v0) * 1e-9;
	p->invalidations = b->pairs;
	p->entries = n;
}

static void run(void *arg)
{
	struct bench *b = arg;
	struct m2d_mm_notifier_cb cb = { .invalidate_range_start = count_start };
	struct m2d_mm_subscription *sub = NULL;
	struct m2d_mm_config cfg;
	struct m2d_mm_stats s0, s1;
	struct m2d_file *memfd = NULL;
	uint64_t nslots = b->mem / b->slot, base, out;
	m2d_vtime_t v0;
	double t0;

	m2d_mm_config_default(&cfg);
	cfg.notifier = b->notifier;
	b->err = m2d_mm_create(&b->mm, b->host, &cfg);
	if (b->err)
		return;
	b->err = m2d_memfd_create(b->host, b->slot, M2D_FILE_SHMEM, &memfd);
	if (b->err)
		goto out;
	base = (cfg.mmap_base - b->mem) & ~(M2D_SZ_1G - 1);
	for (uint64_t i = 0; i < nslots && !b->err; i++)
		b->err = m2d_mm_mmap(b->mm, base + i * b->slot, b->slot,
				     M2D_PROT_READ | M2D_PROT_WRITE, M2D_MAP_SHARED | M2D_MAP_FIXED,
				     memfd, 0, &out);
	if (!b->err)
		b->err = m2d_mm_madvise(b->mm, base, b->mem, M2D_MADV_NOHUGEPAGE);
	if (!b->err)
		b->err = m2d_mm_subscribe(b->mm, &cb, b, &sub);
	if (b->err)
		goto out;

	m2d_mm_stats_get(b->mm, &s0);
	phase_begin(b, &b->ph[0], "populate", &t0, &v0);
	b->err = m2d_mm_populate(b->mm, base, b->mem, true);
	m2d_mm_stats_get(b->mm, &s1);
	phase_end(b, &b->ph[0], t0, v0, s1.faults - s0.faults);
	b->pt_bytes = s1.pt_bytes;
	if (b->err)
		goto out;

	{
		struct m2d_kvm_host_ops ops = { 0 };
		uint64_t got = 0, pfn;
		bool w;

		m2d_kvm_host_ops_set_mm(&ops);
		phase_begin(b, &b->ph[4], "gup_fast", &t0, &v0);
		for (uint64_t a = base; a < base + b->mem; a += 4096)
			got += ops.gup_fast(b->mm, a, true, &pfn, &w);
		phase_end(b, &b->ph[4], t0, v0, got);
		if (got != b->mem / 4096)
			b->err = -EFAULT;
	}

	m2d_mm_stats_get(b->mm, &s1);
	s0 = s1;
	phase_begin(b, &b->ph[1], "mprotect_ro", &t0, &v0);
	b->err = m2d_mm_mprotect(b->mm, base, b->mem, M2D_PROT_READ);
	m2d_mm_stats_get(b->mm, &s1);
	phase_end(b, &b->ph[1], t0, v0, s1.ptes_changed - s0.ptes_changed);
	if (b->err)
		goto out;

	s0 = s1;
	phase_begin(b, &b->ph[2], "mprotect_rw", &t0, &v0);
	b->err = m2d_mm_mprotect(b->mm, base, b->mem, M2D_PROT_READ | M2D_PROT_WRITE);
	m2d_mm_stats_get(b->mm, &s1);
	phase_end(b, &b->ph[2], t0, v0, s1.ptes_changed - s0.ptes_changed);
	if (b->err)
		goto out;

	s0 = s1;
	phase_begin(b, &b->ph[3], "munmap", &t0, &v0);
	b->err = m2d_mm_munmap(b->mm, base, b->mem);
	m2d_mm_stats_get(b->mm, &s1);
	phase_end(b, &b->ph[3], t0, v0, s1.ptes_zapped - s0.ptes_zapped);
out:
	m2d_mm_unsubscribe(b->mm, &sub);
	m2d_file_put(&memfd);
	m2d_mm_destroy(&b->mm);
}

int main(int argc, char **argv)
{
	struct bench b = { .mem = 128ull << 30, .slot = 2ull << 30,
			   .notifier = M2D_MM_NOTIFIER_PUD };
	const char *format = "json", *profile = "x86";
	struct m2d_sim_config sc;
	struct m2d_host_config hc;
	struct m2d_sim *sim;
	long peak_rss_kb;
	int ret = 0;

	for (int i = 1; i < argc && !ret; i++) {
		const char *a = argv[i];

		if (!strncmp(a, "--mem=", 6))
			ret = bench_parse_nonzero_size(a + 6, 0, &b.mem);
		else if (!strcmp(a, "--mem") && i + 1 < argc)
			ret = bench_parse_nonzero_size(argv[++i], 0, &b.mem);
		else if (!strncmp(a, "--slot=", 7))
			ret = bench_parse_nonzero_size(a + 7, 0, &b.slot);
		else if (!strcmp(a, "--slot") && i + 1 < argc)
			ret = bench_parse_nonzero_size(argv[++i], 0, &b.slot);
		else if (!strcmp(a, "--notifier=pud") || (!strcmp(a, "--notifier") && i + 1 < argc &&
							   !strcmp(argv[i + 1], "pud") && ++i))
			b.notifier = M2D_MM_NOTIFIER_PUD;
		else if (!strcmp(a, "--notifier=p4d") || (!strcmp(a, "--notifier") && i + 1 < argc &&
							   !strcmp(argv[i + 1], "p4d") && ++i))
			b.notifier = M2D_MM_NOTIFIER_P4D;
		else if (!strncmp(a, "--profile=", 10))
			profile = a + 10;
		else if (!strncmp(a, "--format=", 9))
			format = a + 9;
		else
			ret = -EINVAL;
		if (!ret && strcmp(format, "json") && strcmp(format, "pretty"))
			ret = -EINVAL;
		if (ret) {
			fprintf(stderr, "bench_mm: bad option '%s' (accepted: --mem SIZE --slot SIZE "
				"--notifier pud|p4d --profile=NAME --format=json|pretty)\n", a);
			return 2;
		}
	}
	if (b.slot % (2ull << 20) || b.mem % b.slot) {
		fprintf(stderr, "bench_mm: --mem must be a multiple of --slot, --slot of 2M\n");
		return 2;
	}

	m2d_sim_config_default(&sc);
	sc.cpus = 4;
	sc.profile = profile;
	ret = m2d_sim_create(&sim, &sc);
	if (ret) {
		fprintf(stderr, "bench_mm: sim: %s\n", m2d_strerror(ret));
		return 1;
	}
	m2d_host_config_default(&hc);
	hc.mem_bytes = b.slot + (4ull << 30);
	ret = m2d_host_create(sim, &hc, &b.host);
	if (!ret)
		ret = m2d_sim_spawn(sim, 0, "bench", run, &b);
	if (!ret)
		ret = m2d_sim_run(sim);
	if (!ret)
		ret = b.err;
	if (ret) {
		fprintf(stderr, "bench_mm: %s\n", m2d_strerror(ret));
		return 1;
	}
	peak_rss_kb = bench_peak_rss_kb();

	if (!strcmp(format, "json")) {
		printf("{\"m2d_version\": \"%s\", \"bench\": \"mm\", \"seed\": 0,\n"
		       " \"config\": {\"mem\": %llu, \"slot\": %llu, \"notifier\": \"%s\", "
		       "\"profile\": \"%s\"},\n \"results\": {",
		       m2d_version(), (unsigned long long)b.mem, (unsigned long long)b.slot,
		       b.notifier == M2D_MM_NOTIFIER_PUD ? "pud" : "p4d", profile);
		for (int i = 0; i < 5; i++)
			printf("%s\n  \"%s\": {\"wall_s\": %.6f, \"cpu_s\": %.6f, \"virtual_s\": %.9f, "
			       "\"entries\": %llu, \"invalidations\": %llu}",
			       i ? "," : "", b.ph[i].name, b.ph[i].wall_s, b.ph[i].cpu_s, b.ph[i].virt_s,
			       (unsigned long long)b.ph[i].entries,
			       (unsigned long long)b.ph[i].invalidations);
		printf("},\n \"sim\": {\"peak_rss_bytes\": %llu, \"host_pt_bytes\": %llu}}\n",
		       (unsigned long long)peak_rss_kb * 1024, (unsigned long long)b.pt_bytes);
	} else {
		for (int i = 0; i < 5; i++)
			printf("%-12s wall %9.3f s  cpu %9.3f s  virtual %9.6f s  entries %10llu  "
			       "invalidations %llu\n", b.ph[i].name, b.ph[i].wall_s, b.ph[i].cpu_s,
			       b.ph[i].virt_s,
			       (unsigned long long)b.ph[i].entries,
			       (unsigned long long)b.ph[i].invalidations);
		printf("peak RSS %llu KiB, host page tables %llu KiB\n",
		       (unsigned long long)peak_rss_kb, (unsigned long long)b.pt_bytes >> 10);
	}
	fprintf(stderr, "SUMMARY mm mprotect_ro_wall_s %.3f mprotect_ro_cpu_s %.3f "
		"mprotect_rw_wall_s %.3f populate_wall_s %.3f gup_fast_cpu_ns %.1f "
		"peak_rss_bytes %llu\n", b.ph[1].wall_s, b.ph[1].cpu_s, b.ph[2].wall_s,
		b.ph[0].wall_s,
		b.ph[4].entries ? b.ph[4].cpu_s * 1e9 / (double)b.ph[4].entries : 0.0,
		(unsigned long long)peak_rss_kb * 1024);
	m2d_host_destroy(&b.host);
	m2d_sim_destroy(&sim);
	return 0;
}
