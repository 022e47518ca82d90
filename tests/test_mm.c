// SPDX-License-Identifier: MIT
/*
 * tests/test_mm.c - host process address spaces (lib/mm/mm.c, memory.c,
 * gup.c, mprotect.c, mmu_notifier.c, hugetlb.c, shmem.c).
 *
 * Exact counts first (derived from the kernel's arithmetic, MECHANISMS.md
 * 5.4 and 8), then semantics, bad input, lock assertions (debug builds),
 * and a seeded randomized test against a reference model.
 * Seed: M2D_TEST_SEED (default 1); printed on every run.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/engine.h"
#include "mm/mm_types.h"

#include <mmu2d/kvm.h>

#define GiB M2D_SZ_1G
#define MiB M2D_SZ_1M
#define KiB M2D_SZ_1K

/* ---- a notifier subscriber that records what it sees ------------------------ */

#define MAX_RANGES 4096

struct rec_range {
	uint64_t start, end;
	enum m2d_mmu_notifier_event event;
};

struct recorder {
	struct m2d_mmu_notifier mn;
	struct rec_range r[MAX_RANGES];
	unsigned nr_start, nr_end;
	int depth, max_depth;
	bool released;
};

static int rec_start(struct m2d_mmu_notifier *sub, const struct m2d_mmu_notifier_range *range)
{
	struct recorder *rec = container_of(sub, struct recorder, mn);

	/* the mm holds mmap_lock (MECHANISMS.md 9) and the range is sane */
	m2d_mmap_assert_locked(range->mm);
	assert_true(range->start < range->end);
	if (rec->nr_start < MAX_RANGES)
		rec->r[rec->nr_start] = (struct rec_range){ range->start, range->end, range->event };
	rec->nr_start++;
	rec->depth++;
	if (rec->depth > rec->max_depth)
		rec->max_depth = rec->depth;
	return 0;
}

static void rec_end(struct m2d_mmu_notifier *sub, const struct m2d_mmu_notifier_range *range)
{
	struct recorder *rec = container_of(sub, struct recorder, mn);

	rec->nr_end++;
	rec->depth--;
	assert_true(rec->depth >= 0);
}

static void rec_release(struct m2d_mmu_notifier *sub, struct m2d_mm *mm)
{
	container_of(sub, struct recorder, mn)->released = true;
}

static const struct m2d_mmu_notifier_ops rec_ops = {
	.invalidate_range_start = rec_start,
	.invalidate_range_end = rec_end,
	.release = rec_release,
};

static void rec_reset(struct recorder *rec)
{
	rec->nr_start = rec->nr_end = 0;
	rec->max_depth = 0;
}

/* ---- fixture ------------------------------------------------------------------ */

struct fx {
	struct m2d_sim *sim;
	struct m2d_host *host;
	struct m2d_mm *mm;
	struct recorder *rec;
};

/* Cost profile of the next fx_init (NULL: all costs zero). */
static const char *fx_profile;

static void fx_init(struct fx *f, uint64_t mem, const struct m2d_mm_config *cfg)
{
	struct m2d_sim_config sc;
	struct m2d_host_config hc;
	struct m2d_mm_config dc;

	m2d_sim_config_default(&sc);
	sc.cpus = 4;
	sc.profile = fx_profile;
	assert_int_equal(m2d_sim_create(&f->sim, &sc), 0);
	m2d_host_config_default(&hc);
	hc.mem_bytes = mem;
	assert_int_equal(m2d_host_create(f->sim, &hc, &f->host), 0);
	m2d_engine_enter(f->sim);
	if (!cfg) {
		m2d_mm_config_default(&dc);
		cfg = &dc;
	}
	assert_int_equal(m2d_mm_create(&f->mm, f->host, cfg), 0);
	f->rec = calloc(1, sizeof(*f->rec));
	f->rec->mn.ops = &rec_ops;
	assert_int_equal(m2d_mmu_notifier_register(&f->rec->mn, f->mm), 0);
}

static void fx_fini(struct fx *f)
{
	uint64_t free_before = 0;

	m2d_mm_destroy(&f->mm);
	assert_null(f->mm);
	assert_true(f->rec->released);
	free(f->rec);
	/* everything the mm allocated went back to the buddy allocator */
	free_before = m2d_physmem_free_pages(f->host, -1);
	(void)free_before;
	m2d_engine_leave(f->sim);
	m2d_host_destroy(&f->host);
	m2d_sim_destroy(&f->sim);
}

static struct m2d_mm_stats stats(struct fx *f)
{
	struct m2d_mm_stats s;

	m2d_mm_stats_get(f->mm, &s);
	return s;
}

static uint64_t map_memfd(struct fx *f, uint64_t size, enum m2d_file_kind kind,
			  struct m2d_file **file)
{
	uint64_t hva;

	assert_int_equal(m2d_memfd_create(f->host, size, kind, file), 0);
	assert_int_equal(m2d_mm_mmap(f->mm, 0, size, M2D_PROT_READ | M2D_PROT_WRITE,
				     M2D_MAP_SHARED, *file, 0, &hva), 0);
	return hva;
}

/* ---- exact counts: mprotect notifier granularity ------------------------------ */

/*
 * mmu_stress_test's setup at 2 GiB: memfd, MADV_NOHUGEPAGE, pre-fault by
 * writes, mprotect(PROT_READ) then mprotect(RW).  pud: one pair per
 * populated 1 GiB PUD range; p4d: one pair per 512 GiB P4D range.
 */
static void mprotect_2g(enum m2d_mm_notifier_granularity g, unsigned pairs)
{
	struct m2d_mm_config cfg;
	struct m2d_file *memfd;
	struct fx f = { 0 };
	uint64_t hva, pages = 2 * GiB / M2D_PAGE_SIZE;
	struct m2d_mm_stats s0, s1;
	m2d_pfn_t pfn;

	m2d_mm_config_default(&cfg);
	cfg.notifier = g;
	fx_init(&f, 8 * GiB, &cfg);
	hva = map_memfd(&f, 2 * GiB, M2D_FILE_SHMEM, &memfd);
	assert_int_equal(hva & (GiB - 1), 0);
	assert_int_equal(m2d_mm_madvise(f.mm, hva, 2 * GiB, M2D_MADV_NOHUGEPAGE), 0);
	assert_int_equal(m2d_mm_populate(f.mm, hva, 2 * GiB, true), 0);
	s0 = stats(&f);
	assert_int_equal(s0.faults, pages);
	assert_int_equal(s0.faults_alloc, pages);
	assert_int_equal(s0.rss_file, 2 * GiB);
	assert_int_equal(m2d_file_cached_bytes(memfd), 2 * GiB);

	rec_reset(f.rec);
	assert_int_equal(m2d_mm_mprotect(f.mm, hva, 2 * GiB, M2D_PROT_READ), 0);
	assert_int_equal(f.rec->nr_start, pairs);
	assert_int_equal(f.rec->nr_end, pairs);
	assert_int_equal(f.rec->max_depth, 1);
	for (unsigned i = 0; i < pairs; i++) {
		assert_int_equal(f.rec->r[i].event, M2D_MMU_NOTIFY_PROTECTION_VMA);
		assert_int_equal(f.rec->r[i].start, hva + i * (2 * GiB / pairs));
		assert_int_equal(f.rec->r[i].end, hva + (i + 1) * (2 * GiB / pairs));
	}
	s1 = stats(&f);
	assert_int_equal(s1.ptes_changed - s0.ptes_changed, pages);
	assert_int_equal(s1.tlb_flushes - s0.tlb_flushes, 1);
	assert_false(m2d_get_user_page_fast_only(f.mm, hva + 12345, FOLL_WRITE, &pfn, NULL));
	assert_true(m2d_get_user_page_fast_only(f.mm, hva + 12345, 0, &pfn, NULL));

	rec_reset(f.rec);
	assert_int_equal(m2d_mm_mprotect(f.mm, hva, 2 * GiB, M2D_PROT_READ | M2D_PROT_WRITE), 0);
	assert_int_equal(f.rec->nr_start, pairs);
	assert_true(m2d_get_user_page_fast_only(f.mm, hva + 12345, FOLL_WRITE, &pfn, NULL));
	/* unchanged protection: mprotect_fixup returns early, nothing fires */
	rec_reset(f.rec);
	assert_int_equal(m2d_mm_mprotect(f.mm, hva, 2 * GiB, M2D_PROT_READ | M2D_PROT_WRITE), 0);
	assert_int_equal(f.rec->nr_start, 0);
	assert_int_equal(stats(&f).vmas, 1);

	m2d_file_put(&memfd);
	fx_fini(&f);
}

static void test_mm_mprotect_2g_pud_two_pairs(void **state)
{
	mprotect_2g(M2D_MM_NOTIFIER_PUD, 2);
}

static void test_mm_mprotect_2g_p4d_one_pair(void **state)
{
	mprotect_2g(M2D_MM_NOTIFIER_P4D, 1);
}

/*
 * The range starts at the first populated PMD (pud mode) or PUD (p4d mode)
 * and runs to the end of its PUD / P4D range (clamped to the VMA).
 */
static void mprotect_span(enum m2d_mm_notifier_granularity g)
{
	struct m2d_mm_config cfg;
	struct m2d_file *memfd;
	struct fx f = { 0 };
	uint64_t hva, a, b;

	m2d_mm_config_default(&cfg);
	cfg.notifier = g;
	fx_init(&f, 8 * GiB, &cfg);
	hva = map_memfd(&f, 4 * GiB, M2D_FILE_SHMEM, &memfd);
	a = hva + GiB + 6 * MiB + 5 * M2D_PAGE_SIZE; /* in PUD range 1 */
	b = hva + 3 * GiB + 100 * MiB;                /* in PUD range 3 */
	assert_int_equal(m2d_mm_fault(f.mm, a, true), 0);
	assert_int_equal(m2d_mm_fault(f.mm, b, false), 0);

	rec_reset(f.rec);
	/* mprotect from inside PUD range 0 to inside range 3 */
	assert_int_equal(m2d_mm_mprotect(f.mm, hva + 4 * MiB, 3 * GiB + 200 * MiB, M2D_PROT_READ),
			 0);
	if (g == M2D_MM_NOTIFIER_PUD) {
		assert_int_equal(f.rec->nr_start, 2);
		assert_int_equal(f.rec->r[0].start, hva + GiB + 6 * MiB);
		assert_int_equal(f.rec->r[0].end, hva + 2 * GiB);
		assert_int_equal(f.rec->r[1].start, hva + 3 * GiB + 100 * MiB);
		assert_int_equal(f.rec->r[1].end, hva + 3 * GiB + 204 * MiB);
	} else {
		assert_int_equal(f.rec->nr_start, 1);
		assert_int_equal(f.rec->r[0].start, hva + GiB);
		assert_int_equal(f.rec->r[0].end, hva + 3 * GiB + 204 * MiB);
	}
	/* the mprotect split the VMA in three */
	assert_int_equal(stats(&f).vmas, 3);
	assert_int_equal(m2d_mm_mprotect(f.mm, hva, 4 * GiB, M2D_PROT_READ | M2D_PROT_WRITE), 0);
	assert_int_equal(stats(&f).vmas, 1);
	m2d_file_put(&memfd);
	fx_fini(&f);
}

static void test_mm_notifier_range_covers_populated_span(void **state)
{
	mprotect_span(M2D_MM_NOTIFIER_PUD);
	mprotect_span(M2D_MM_NOTIFIER_P4D);
}

/* An unpopulated range fires nothing (both modes); HugeTLB always fires one pair. */
static void test_mm_mprotect_unpopulated_and_hugetlb(void **state)
{
	struct m2d_file *memfd, *huge;
	struct fx f = { 0 };
	uint64_t hva, hh;

	fx_init(&f, 8 * GiB, NULL);
	hva = map_memfd(&f, GiB, M2D_FILE_SHMEM, &memfd);
	rec_reset(f.rec);
	assert_int_equal(m2d_mm_mprotect(f.mm, hva, GiB, M2D_PROT_READ), 0);
	assert_int_equal(f.rec->nr_start, 0);

	hh = map_memfd(&f, 2 * GiB, M2D_FILE_HUGETLB_1G, &huge);
	assert_int_equal(hh & (GiB - 1), 0);
	rec_reset(f.rec);
	assert_int_equal(m2d_mm_mprotect(f.mm, hh, 2 * GiB, M2D_PROT_READ), 0);
	assert_int_equal(f.rec->nr_start, 1);
	assert_int_equal(f.rec->r[0].start, hh);
	assert_int_equal(f.rec->r[0].end, hh + 2 * GiB);
	/* hugetlb VMAs split only at huge-page boundaries */
	assert_int_equal(m2d_mm_mprotect(f.mm, hh + 2 * MiB, 2 * MiB, M2D_PROT_NONE), -EINVAL);
	m2d_file_put(&memfd);
	m2d_file_put(&huge);
	fx_fini(&f);
}

/* ---- exact counts: HugeTLB HGM collapse ------------------------------------- */

struct collapse_counts {
	uint64_t atomics, distinct, pairs, tables_freed, ptes_zapped;
};

static struct collapse_counts collapse_delta(struct fx *f, struct m2d_mm_stats *s0)
{
	struct m2d_mm_stats s1 = stats(f);

	return (struct collapse_counts){
		.atomics = s1.mapcount_atomics - s0->mapcount_atomics,
		.distinct = s1.mapcount_counters - s0->mapcount_counters,
		.pairs = f->rec->nr_start,
		.tables_freed = s1.tables_freed - s0->tables_freed,
		.ptes_zapped = s1.ptes_zapped - s0->ptes_zapped,
	};
}

/* A 1G HugeTLB page in the page cache, mapped shared with HGM enabled (not yet mapped). */
static struct m2d_folio *hgm_setup(struct fx *f, enum m2d_mm_mapcount scheme,
				   struct m2d_file **huge, uint64_t *hva)
{
	struct m2d_mm_config cfg;
	struct m2d_folio *folio;

	m2d_mm_config_default(&cfg);
	cfg.mapcount = scheme;
	fx_init(f, 4 * GiB, &cfg);
	*hva = map_memfd(f, GiB, M2D_FILE_HUGETLB_1G, huge);
	assert_int_equal(m2d_mm_madvise(f->mm, *hva, GiB, M2D_MADV_SPLIT), 0);
	assert_int_equal(m2d_file_fallocate(*huge, 0, GiB, 0), 0);
	folio = file_lookup(*huge, 0);
	assert_non_null(folio);
	return folio;
}

/* A 1G HugeTLB page, HGM-mapped at 4K by UFFDIO_CONTINUE, collapsed. */
static void hgm_collapse(enum m2d_mm_mapcount scheme, bool via_2m)
{
	struct m2d_file *huge;
	struct m2d_mm_xlate x;
	struct fx f = { 0 };
	struct m2d_mm_stats s0;
	struct collapse_counts c;
	struct m2d_folio *folio;
	uint64_t hva;

	folio = hgm_setup(&f, scheme, &huge, &hva);
	for (uint64_t a = hva; a < hva + GiB; a += M2D_PAGE_SIZE)
		assert_int_equal(m2d_mm_uffd_continue(f.mm, a, M2D_PAGE_SIZE), 0);
	m2d_mm_xlate(f.mm, hva + 5 * MiB + 7 * KiB, &x);
	assert_true(x.present);
	assert_int_equal(x.level, M2D_LEVEL_4K);
	assert_int_equal(m2d_pfn_as_u64(x.pfn), folio_pfn(folio) + (5 * MiB + 7 * KiB) / 4096);
	assert_int_equal(m2d_folio_mapcount(folio), 262144);
	if (scheme == M2D_MM_MAPCOUNT_THP_LIKE) {
		assert_true(m2d_folio_has_page_mapcounts(f.host, folio));
		assert_int_equal(m2d_folio_page_mapcount(f.host, folio, 77), 1);
	} else {
		assert_false(m2d_folio_has_page_mapcounts(f.host, folio));
	}

	if (via_2m) {
		/* 4K -> 2M: one madvise per 2M region, one notifier pair each */
		s0 = stats(&f);
		rec_reset(f.rec);
		for (uint64_t a = hva; a < hva + GiB; a += 2 * MiB)
			assert_int_equal(m2d_mm_madvise(f.mm, a, 2 * MiB, M2D_MADV_COLLAPSE), 0);
		c = collapse_delta(&f, &s0);
		assert_int_equal(c.pairs, 512);
		assert_int_equal(c.ptes_zapped, 262144);
		assert_int_equal(c.tables_freed, 512);
		assert_int_equal(stats(&f).collapses, 512);
		if (scheme == M2D_MM_MAPCOUNT_THP_LIKE) {
			/* per region: 512 subpage decrements + 1 large, 512 increments + 1 */
			assert_int_equal(c.distinct, 512 * 1024);
			assert_int_equal(c.atomics, 512 * (513 + 513));
		} else {
			/* per region: one subtract of 512, one add of 1 */
			assert_int_equal(c.distinct, 0);
			assert_int_equal(c.atomics, 512 * 2);
		}
		m2d_mm_xlate(f.mm, hva + 5 * MiB, &x);
		assert_int_equal(x.level, M2D_LEVEL_2M);
		/* thp-like: a 2M piece counts in each of its 512 subpages */
		assert_int_equal(m2d_folio_mapcount(folio),
				 scheme == M2D_MM_MAPCOUNT_THP_LIKE ? 262144 : 512);
	}

	/* -> 1G */
	s0 = stats(&f);
	rec_reset(f.rec);
	assert_int_equal(m2d_mm_madvise(f.mm, hva, GiB, M2D_MADV_COLLAPSE), 0);
	c = collapse_delta(&f, &s0);
	assert_int_equal(c.pairs, 1);
	assert_int_equal(f.rec->r[0].event, M2D_MMU_NOTIFY_CLEAR);
	assert_int_equal(f.rec->r[0].start, hva);
	assert_int_equal(f.rec->r[0].end, hva + GiB);
	assert_int_equal(c.ptes_zapped, via_2m ? 512 : 262144);
	assert_int_equal(c.tables_freed, via_2m ? 1 : 513);
	if (scheme == M2D_MM_MAPCOUNT_THP_LIKE) {
		/* 262,144 decrements on distinct counters (+1 large), then the entire map (+2) */
		assert_int_equal(c.distinct, 262144);
		assert_int_equal(c.atomics, 262144 + 1 + 2);
	} else {
		/* one subtract, one add */
		assert_int_equal(c.distinct, 0);
		assert_int_equal(c.atomics, 2);
	}
	m2d_mm_xlate(f.mm, hva + 5 * MiB, &x);
	assert_true(x.present);
	assert_int_equal(x.level, M2D_LEVEL_1G);
	assert_int_equal(m2d_pfn_as_u64(x.pfn), folio_pfn(folio) + 5 * MiB / 4096);
	assert_int_equal(m2d_folio_mapcount(folio), 1);
	/* collapsing again is a no-op apart from the notifier pair */
	rec_reset(f.rec);
	s0 = stats(&f);
	assert_int_equal(m2d_mm_madvise(f.mm, hva, GiB, M2D_MADV_COLLAPSE), 0);
	assert_int_equal(collapse_delta(&f, &s0).atomics, 0);

	assert_int_equal(m2d_mm_munmap(f.mm, hva, GiB), 0);
	assert_int_equal(m2d_folio_mapcount(folio), 0);
	m2d_file_put(&huge);
	fx_fini(&f);
}

static void test_mm_collapse_4k_1g_thp_like(void **state)
{
	hgm_collapse(M2D_MM_MAPCOUNT_THP_LIKE, false);
}

static void test_mm_collapse_4k_1g_head_only(void **state)
{
	hgm_collapse(M2D_MM_MAPCOUNT_HEAD_ONLY, false);
}

static void test_mm_collapse_4k_2m_1g_thp_like(void **state)
{
	hgm_collapse(M2D_MM_MAPCOUNT_THP_LIKE, true);
}

static void test_mm_collapse_4k_2m_1g_head_only(void **state)
{
	hgm_collapse(M2D_MM_MAPCOUNT_HEAD_ONLY, true);
}

/* Without MADV_SPLIT UFFDIO_CONTINUE must cover whole pages; faults map whole pages. */
static void test_mm_hugetlb_fault_and_continue(void **state)
{
	struct m2d_file *h2, *h1;
	struct m2d_mm_xlate x;
	struct fx f = { 0 };
	uint64_t a, b;

	fx_init(&f, 8 * GiB, NULL);
	a = map_memfd(&f, 8 * MiB, M2D_FILE_HUGETLB_2M, &h2);
	b = map_memfd(&f, GiB, M2D_FILE_HUGETLB_1G, &h1);
	assert_int_equal(a & (2 * MiB - 1), 0);
	assert_int_equal(m2d_mm_fault(f.mm, a + 3 * MiB, true), 0);
	m2d_mm_xlate(f.mm, a + 3 * MiB, &x);
	assert_int_equal(x.level, M2D_LEVEL_2M);
	assert_true(x.writable);
	assert_int_equal(m2d_host_mapping_level(f.mm, a + 3 * MiB), M2D_LEVEL_2M);
	assert_int_equal(m2d_mm_uffd_continue(f.mm, b, M2D_PAGE_SIZE), -EINVAL);
	assert_int_equal(m2d_mm_uffd_continue(f.mm, b, GiB), -EFAULT); /* not in the page cache */
	assert_int_equal(m2d_mm_fault(f.mm, b + 12345, false), 0);
	assert_int_equal(m2d_host_mapping_level(f.mm, b + 12345), M2D_LEVEL_1G);
	assert_int_equal(m2d_mm_uffd_continue(f.mm, b, GiB), -EEXIST);
	assert_int_equal(stats(&f).faults_alloc, 2);
	assert_int_equal(m2d_file_cached_bytes(h1), GiB);
	/* DONTNEED needs huge-page alignment */
	assert_int_equal(m2d_mm_madvise(f.mm, a + 4096, 4096, M2D_MADV_DONTNEED), -EINVAL);
	rec_reset(f.rec);
	assert_int_equal(m2d_mm_madvise(f.mm, a, 8 * MiB, M2D_MADV_DONTNEED), 0);
	assert_int_equal(f.rec->nr_start, 1);
	m2d_mm_xlate(f.mm, a + 3 * MiB, &x);
	assert_false(x.present);
	/* the page cache keeps the page: refault maps the same frame without allocating */
	assert_int_equal(m2d_mm_fault(f.mm, a + 3 * MiB, false), 0);
	assert_int_equal(stats(&f).faults_alloc, 2);
	m2d_file_put(&h2);
	m2d_file_put(&h1);
	fx_fini(&f);
}

struct hfault_arg {
	struct m2d_mm *mm;
	uint64_t addr;
};

static void hfault_thread(void *arg)
{
	struct hfault_arg *a = arg;

	assert_int_equal(m2d_mm_fault(a->mm, a->addr, true), 0);
}

/* Two threads (CPUs 1, 2) fault @a0 and @a1 at the same virtual time; lock_stat deltas. */
static void hfault_pair(struct fx *f, uint64_t a0, uint64_t a1, struct m2d_lock_stats *d)
{
	struct hfault_arg args[2] = { { f->mm, a0 }, { f->mm, a1 } };
	struct m2d_lock_stats s0 = { 0 }, s1;

	/* -ENOENT before the class's first acquisition: all zero */
	m2d_sim_lock_stats(f->sim, "hugetlb_fault_mutex", &s0);
	m2d_engine_leave(f->sim);
	for (int i = 0; i < 2; i++)
		assert_int_equal(m2d_sim_spawn(f->sim, i + 1, "hfault", hfault_thread, &args[i]), 0);
	assert_int_equal(m2d_sim_run(f->sim), 0);
	m2d_engine_enter(f->sim);
	assert_int_equal(m2d_sim_lock_stats(f->sim, "hugetlb_fault_mutex", &s1), 0);
	d->acquisitions = s1.acquisitions - s0.acquisitions;
	d->contended = s1.contended - s0.contended;
	d->wait_ns = s1.wait_ns - s0.wait_ns;
}

/*
 * hugetlb_fault_mutex_table (hugetlb_init): roundup_pow_of_two(8 * 4 CPUs)
 * = 32 mutexes hashed by (file id, huge page index): faults on different
 * huge pages of one file (in different buckets) do not contend; two faults
 * on the same huge page serialise on its bucket (one waits).
 */
static void test_mm_hugetlb_fault_mutex_table(void **state)
{
	struct m2d_lock_stats d;
	struct m2d_file *h;
	struct fx f = { 0 };
	uint64_t hva, i = 0, j;

	fx_profile = M2D_SOURCE_PROFILE_DIR "/x86.profile";
	fx_init(&f, 8 * GiB, NULL);
	fx_profile = NULL;
	assert_int_equal(f.host->num_fault_mutexes, 32);
	hva = map_memfd(&f, 16 * MiB, M2D_FILE_HUGETLB_2M, &h);
	/* deterministic buckets: a pure function of (file id, index) */
	assert_int_equal(h->id, 0);
	for (j = 1; j < 8 && hugetlb_fault_mutex_hash(h, j) == hugetlb_fault_mutex_hash(h, i); j++)
		;
	assert_true(j < 8);
	for (uint64_t k = 0; k < 8; k++)
		assert_true(hugetlb_fault_mutex_hash(h, k) < 32);

	/* different huge pages, different buckets: both faults run in parallel */
	hfault_pair(&f, hva + i * 2 * MiB, hva + j * 2 * MiB, &d);
	assert_int_equal(d.acquisitions, 2);
	assert_int_equal(d.contended, 0);
	assert_int_equal(d.wait_ns, 0);
	assert_int_equal(stats(&f).faults_alloc, 2);

	/* the same (unfaulted) huge page: the second fault waits for the first's clear */
	for (i = 0; i < 8 && (i == j || i == 0); i++)
		;
	hfault_pair(&f, hva + i * 2 * MiB + 4096, hva + i * 2 * MiB + 8192, &d);
	assert_int_equal(d.acquisitions, 2);
	assert_int_equal(d.contended, 1);
	assert_true(d.wait_ns > 0);
	/* one allocation; the second fault found the entry present */
	assert_int_equal(stats(&f).faults_alloc, 3);
	assert_int_equal(m2d_mm_munmap(f.mm, hva, 16 * MiB), 0);
	m2d_file_put(&h);
	fx_fini(&f);
}

/* MAP_ANONYMOUS|MAP_HUGETLB (dirty_log_perf_test's anonymous_hugetlb_*): private HugeTLB pages. */
static void test_mm_map_hugetlb_anon(void **state)
{
	struct fx f = { 0 };
	struct m2d_mm_xlate x;
	uint64_t a, b, free0;

	fx_init(&f, 8 * GiB, NULL);
	free0 = m2d_physmem_free_pages(f.host, -1);
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 2 * GiB, M2D_PROT_READ | M2D_PROT_WRITE,
				     M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS | M2D_MAP_HUGETLB |
				     M2D_MAP_HUGE_1GB, NULL, 0, &a), 0);
	assert_int_equal(a & (GiB - 1), 0);
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 3 * MiB, M2D_PROT_READ | M2D_PROT_WRITE,
				     M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS | M2D_MAP_HUGETLB, NULL, 0,
				     &b), 0);
	assert_int_equal(b & (2 * MiB - 1), 0);
	assert_int_equal(m2d_mm_populate(f.mm, a, 2 * GiB, true), 0);
	assert_int_equal(m2d_mm_populate(f.mm, b, 3 * MiB, true), 0);
	assert_int_equal(stats(&f).faults_alloc, 2 + 2); /* two 1G pages, two 2M pages */
	m2d_mm_xlate(f.mm, a + GiB + 5, &x);
	assert_int_equal(x.level, M2D_LEVEL_1G);
	m2d_mm_xlate(f.mm, b + 3 * MiB + 5, &x); /* the length was rounded up to 4M */
	assert_int_equal(x.level, M2D_LEVEL_2M);
	assert_int_equal(m2d_physmem_free_pages(f.host, -1), free0 - (2 * GiB + 4 * MiB) / 4096);
	/* MADV_SPLIT (HGM) is for shared mappings only */
	assert_int_equal(m2d_mm_madvise(f.mm, a, GiB, M2D_MADV_SPLIT), -EINVAL);
	assert_int_equal(m2d_mm_munmap(f.mm, a, 2 * GiB), 0);
	assert_int_equal(m2d_mm_munmap(f.mm, b, 4 * MiB), 0);
	assert_int_equal(m2d_physmem_free_pages(f.host, -1), free0);
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 2 * MiB, M2D_PROT_READ,
				     M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS | M2D_MAP_HUGE_1GB, NULL, 0,
				     &a), -EINVAL);
	fx_fini(&f);
}

/* ---- GUP ---------------------------------------------------------------------------- */

static void test_mm_gup_readonly_vma(void **state)
{
	struct m2d_file *memfd;
	struct fx f = { 0 };
	uint64_t hva, anon;
	m2d_pfn_t pfn, pfn2;
	bool w;

	fx_init(&f, 4 * GiB, NULL);
	assert_int_equal(m2d_memfd_create(f.host, 16 * MiB, M2D_FILE_SHMEM, &memfd), 0);
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 16 * MiB, M2D_PROT_READ, M2D_MAP_SHARED, memfd, 0,
				     &hva), 0);
	/* not present: fast fails, slow read faults it in */
	assert_false(m2d_get_user_page_fast_only(f.mm, hva, 0, &pfn, NULL));
	assert_int_equal(m2d_get_user_pages_unlocked(f.mm, hva, 0, &pfn, &w), 1);
	assert_false(w);
	assert_true(m2d_get_user_page_fast_only(f.mm, hva, 0, &pfn2, &w));
	assert_int_equal(m2d_pfn_as_u64(pfn), m2d_pfn_as_u64(pfn2));
	/* write: fast fails on the read-only PTE, slow returns -EFAULT (check_vma_flags) */
	assert_false(m2d_get_user_page_fast_only(f.mm, hva, FOLL_WRITE, &pfn, NULL));
	assert_int_equal(m2d_get_user_pages_unlocked(f.mm, hva, FOLL_WRITE, &pfn, &w), -EFAULT);
	assert_int_equal(m2d_mm_fault(f.mm, hva, true), -EFAULT);
	/* no VMA */
	assert_int_equal(m2d_get_user_pages_unlocked(f.mm, 0x1000000, 0, &pfn, &w), -EFAULT);

	/* anon RW: slow write faults in a writable page, fast then succeeds */
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 64 * KiB, M2D_PROT_READ | M2D_PROT_WRITE,
				     M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS, NULL, 0, &anon), 0);
	assert_int_equal(m2d_get_user_pages_unlocked(f.mm, anon + 8192, FOLL_WRITE, &pfn, &w), 1);
	assert_true(w);
	assert_true(m2d_get_user_page_fast_only(f.mm, anon + 8192 + 17, FOLL_WRITE, &pfn2, &w));
	assert_int_equal(m2d_pfn_as_u64(pfn), m2d_pfn_as_u64(pfn2));
	assert_int_equal(stats(&f).gup_slow, 4);
	assert_int_equal(stats(&f).gup_fast, 4);
	assert_int_equal(stats(&f).gup_fast_failed, 2);
	m2d_file_put(&memfd);
	fx_fini(&f);
}

/* PROT_NONE keeps the frames (protnone) but GUP and accesses fail; RW restores them. */
static void test_mm_protnone(void **state)
{
	struct fx f = { 0 };
	struct m2d_mm_xlate x;
	uint64_t anon;
	m2d_pfn_t p0, p1;
	bool w;

	fx_init(&f, 4 * GiB, NULL);
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 64 * KiB, M2D_PROT_READ | M2D_PROT_WRITE,
				     M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS, NULL, 0, &anon), 0);
	assert_int_equal(m2d_mm_fault(f.mm, anon, true), 0);
	assert_true(m2d_get_user_page_fast_only(f.mm, anon, FOLL_WRITE, &p0, NULL));
	assert_int_equal(m2d_mm_mprotect(f.mm, anon, 64 * KiB, M2D_PROT_NONE), 0);
	m2d_mm_xlate(f.mm, anon, &x);
	assert_true(x.present);
	assert_false(x.writable);
	assert_false(m2d_get_user_page_fast_only(f.mm, anon, 0, &p1, NULL));
	assert_int_equal(m2d_get_user_pages_unlocked(f.mm, anon, 0, &p1, &w), -EFAULT);
	assert_int_equal(m2d_mm_fault(f.mm, anon, false), -EFAULT);
	assert_int_equal(m2d_mm_mprotect(f.mm, anon, 64 * KiB, M2D_PROT_READ | M2D_PROT_WRITE), 0);
	assert_true(m2d_get_user_page_fast_only(f.mm, anon, FOLL_WRITE, &p1, NULL));
	assert_int_equal(m2d_pfn_as_u64(p0), m2d_pfn_as_u64(p1));
	fx_fini(&f);
}

/* ---- DONTNEED, munmap, THP, PFNMAP ------------------------------------------------ */

static void test_mm_dontneed_unmaps_and_notifies(void **state)
{
	struct fx f = { 0 };
	struct m2d_mm_xlate x;
	uint64_t anon, free0, free1;
	struct m2d_mm_stats s;

	fx_init(&f, 4 * GiB, NULL);
	free0 = m2d_physmem_free_pages(f.host, -1);
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 4 * MiB, M2D_PROT_READ | M2D_PROT_WRITE,
				     M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS, NULL, 0, &anon), 0);
	assert_int_equal(m2d_mm_populate(f.mm, anon, 4 * MiB, true), 0);
	assert_int_equal(stats(&f).rss_anon, 4 * MiB);
	rec_reset(f.rec);
	assert_int_equal(m2d_mm_madvise(f.mm, anon + 64 * KiB, 128 * KiB, M2D_MADV_DONTNEED), 0);
	assert_int_equal(f.rec->nr_start, 1);
	assert_int_equal(f.rec->nr_end, 1);
	assert_int_equal(f.rec->r[0].event, M2D_MMU_NOTIFY_CLEAR);
	assert_int_equal(f.rec->r[0].start, anon + 64 * KiB);
	assert_int_equal(f.rec->r[0].end, anon + 192 * KiB);
	m2d_mm_xlate(f.mm, anon + 64 * KiB, &x);
	assert_false(x.present);
	m2d_mm_xlate(f.mm, anon + 192 * KiB, &x);
	assert_true(x.present);
	s = stats(&f);
	assert_int_equal(s.rss_anon, 4 * MiB - 128 * KiB);
	assert_int_equal(s.ptes_zapped, 32);
	free1 = m2d_physmem_free_pages(f.host, -1);
	assert_int_equal(free0 - free1, (4 * MiB - 128 * KiB) / 4096 + 0 /* tables are not physmem */);
	/* a hole makes madvise return -ENOMEM after handling the mapped part */
	rec_reset(f.rec);
	assert_int_equal(m2d_mm_madvise(f.mm, anon + 4 * MiB - 8192, 16384, M2D_MADV_DONTNEED),
			 -ENOMEM);
	assert_int_equal(f.rec->nr_start, 1);
	/* munmap: one UNMAP pair over the whole range; everything freed */
	rec_reset(f.rec);
	assert_int_equal(m2d_mm_munmap(f.mm, anon, 4 * MiB), 0);
	assert_int_equal(f.rec->nr_start, 1);
	assert_int_equal(f.rec->r[0].event, M2D_MMU_NOTIFY_UNMAP);
	assert_int_equal(m2d_physmem_free_pages(f.host, -1), free0);
	assert_int_equal(stats(&f).vmas, 0);
	m2d_rcu_barrier(); /* freed tables wait for a grace period */
	assert_int_equal(stats(&f).pt_bytes, 4096); /* only the root is left */
	fx_fini(&f);
}

static void test_mm_thp_fault_and_split(void **state)
{
	struct m2d_mm_config cfg;
	struct fx f = { 0 };
	struct m2d_mm_xlate x, y;
	uint64_t anon;

	m2d_mm_config_default(&cfg);
	cfg.thp = M2D_MM_THP_MADVISE;
	fx_init(&f, 4 * GiB, &cfg);
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 8 * MiB, M2D_PROT_READ | M2D_PROT_WRITE,
				     M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS, NULL, 0, &anon), 0);
	assert_int_equal(anon & (2 * MiB - 1), 0);
	/* without MADV_HUGEPAGE (thp=madvise): 4K */
	assert_int_equal(m2d_mm_fault(f.mm, anon, true), 0);
	m2d_mm_xlate(f.mm, anon, &x);
	assert_int_equal(x.level, M2D_LEVEL_4K);
	assert_int_equal(m2d_mm_madvise(f.mm, anon + 2 * MiB, 6 * MiB, M2D_MADV_HUGEPAGE), 0);
	assert_int_equal(stats(&f).vmas, 2);
	assert_int_equal(m2d_mm_fault(f.mm, anon + 2 * MiB + 12345, true), 0);
	m2d_mm_xlate(f.mm, anon + 2 * MiB + 12345, &x);
	assert_int_equal(x.level, M2D_LEVEL_2M);
	assert_int_equal(m2d_host_mapping_level(f.mm, anon + 3 * MiB), M2D_LEVEL_2M);
	assert_int_equal(stats(&f).rss_anon, 2 * MiB + 4096);
	/*
	 * mprotect of one 4K page inside the THP: the VMA split splits the PMD
	 * first (vma_adjust_trans_huge: a CLEAR pair over the 2M), then
	 * change_protection fires its PROTECTION pair.
	 */
	rec_reset(f.rec);
	assert_int_equal(m2d_mm_mprotect(f.mm, anon + 3 * MiB, 4096, M2D_PROT_READ), 0);
	assert_int_equal(f.rec->nr_start, 2);
	assert_int_equal(f.rec->max_depth, 1);
	assert_int_equal(f.rec->r[0].event, M2D_MMU_NOTIFY_CLEAR);
	assert_int_equal(f.rec->r[0].start, anon + 2 * MiB);
	assert_int_equal(f.rec->r[0].end, anon + 4 * MiB);
	assert_int_equal(f.rec->r[1].event, M2D_MMU_NOTIFY_PROTECTION_VMA);
	assert_int_equal(f.rec->r[1].start, anon + 3 * MiB);
	assert_int_equal(f.rec->r[1].end, anon + 3 * MiB + 4096);
	m2d_mm_xlate(f.mm, anon + 3 * MiB, &y);
	assert_int_equal(y.level, M2D_LEVEL_4K);
	assert_false(y.writable);
	m2d_mm_xlate(f.mm, anon + 3 * MiB + 4096, &y);
	assert_true(y.writable);
	assert_int_equal(m2d_pfn_as_u64(y.pfn), m2d_pfn_as_u64(x.pfn) - 12345 / 4096 + (MiB + 4096) / 4096);
	assert_int_equal(stats(&f).rss_anon, 2 * MiB + 4096);
	assert_int_equal(stats(&f).vmas, 4);
	fx_fini(&f);
}

/* Anonymous MADV_COLLAPSE (khugepaged): a partly populated PTE-mapped 2M region becomes one THP. */
static void test_mm_thp_collapse_anon(void **state)
{
	struct m2d_mm_config cfg;
	struct fx f = { 0 };
	struct m2d_mm_xlate x;
	struct m2d_mm_stats s0, s1;
	uint64_t anon, free0;

	m2d_mm_config_default(&cfg);
	cfg.thp = M2D_MM_THP_NEVER; /* MADV_COLLAPSE ignores the sysfs setting */
	fx_init(&f, 4 * GiB, &cfg);
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 4 * MiB, M2D_PROT_READ | M2D_PROT_WRITE,
				     M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS, NULL, 0, &anon), 0);
	assert_int_equal(anon & (2 * MiB - 1), 0);
	for (uint64_t i = 0; i < 300; i++)
		assert_int_equal(m2d_mm_fault(f.mm, anon + i * 4096, i & 1), 0);
	m2d_mm_xlate(f.mm, anon, &x);
	assert_int_equal(x.level, M2D_LEVEL_4K);
	free0 = m2d_physmem_free_pages(f.host, -1);
	s0 = stats(&f);
	rec_reset(f.rec);
	assert_int_equal(m2d_mm_madvise(f.mm, anon, 4 * MiB, M2D_MADV_COLLAPSE), 0);
	s1 = stats(&f);
	/* one CLEAR pair for the populated region; the empty second region is skipped */
	assert_int_equal(f.rec->nr_start, 1);
	assert_int_equal(f.rec->r[0].event, M2D_MMU_NOTIFY_CLEAR);
	assert_int_equal(f.rec->r[0].start, anon);
	assert_int_equal(f.rec->r[0].end, anon + 2 * MiB);
	assert_int_equal(s1.collapses - s0.collapses, 1);
	assert_int_equal(s1.ptes_zapped - s0.ptes_zapped, 300);
	assert_int_equal(s1.tables_freed - s0.tables_freed, 1);
	/* 300 order-0 _mapcount decrements, then the entire mapping (+2) */
	assert_int_equal(s1.mapcount_counters - s0.mapcount_counters, 300);
	assert_int_equal(s1.mapcount_atomics - s0.mapcount_atomics, 302);
	assert_int_equal(s1.rss_anon, 2 * MiB);
	assert_int_equal(m2d_physmem_free_pages(f.host, -1), free0 + 300 - 512);
	m2d_mm_xlate(f.mm, anon + 12345, &x);
	assert_true(x.present);
	assert_int_equal(x.level, M2D_LEVEL_2M);
	assert_true(x.writable);
	/* VM_NOHUGEPAGE VMAs are not eligible */
	assert_int_equal(m2d_mm_madvise(f.mm, anon + 2 * MiB, 2 * MiB, M2D_MADV_NOHUGEPAGE), 0);
	assert_int_equal(m2d_mm_fault(f.mm, anon + 2 * MiB, true), 0);
	assert_int_equal(m2d_mm_madvise(f.mm, anon + 2 * MiB, 2 * MiB, M2D_MADV_COLLAPSE), -EINVAL);
	assert_int_equal(m2d_mm_munmap(f.mm, anon, 4 * MiB), 0);
	assert_int_equal(m2d_physmem_free_pages(f.host, -1), free0 + 300);
	fx_fini(&f);
}

static void test_mm_pfnmap_huge(void **state)
{
	struct fx f = { 0 };
	struct m2d_follow_pfnmap_args args;
	struct m2d_mm_xlate x;
	struct m2d_vma *vma;
	uint64_t hva, base_pfn = (64 * GiB) >> 12;
	m2d_pfn_t pfn;

	fx_init(&f, 4 * GiB, NULL);
	assert_int_equal(m2d_mm_mmap_pfn(f.mm, 0, 2 * GiB + 4 * MiB,
					 M2D_PROT_READ | M2D_PROT_WRITE,
					 m2d_pfn_from_u64(base_pfn), &hva), 0);
	assert_int_equal(hva & (GiB - 1), 0);
	/* huge pfnmap: 1G where the VMA and pfn allow it, 2M in the tail */
	assert_int_equal(m2d_mm_fault(f.mm, hva + 5 * MiB, true), 0);
	m2d_mm_xlate(f.mm, hva + 5 * MiB, &x);
	assert_int_equal(x.level, M2D_LEVEL_1G);
	assert_int_equal(m2d_pfn_as_u64(x.pfn), base_pfn + 5 * MiB / 4096);
	assert_int_equal(m2d_mm_fault(f.mm, hva + 2 * GiB + 3 * MiB, false), 0);
	m2d_mm_xlate(f.mm, hva + 2 * GiB + 3 * MiB, &x);
	assert_int_equal(x.level, M2D_LEVEL_2M);
	/* GUP refuses special entries and PFNMAP VMAs; follow_pfnmap works */
	assert_false(m2d_get_user_page_fast_only(f.mm, hva + 5 * MiB, 0, &pfn, NULL));
	assert_int_equal(m2d_get_user_pages_unlocked(f.mm, hva + 5 * MiB, 0, &pfn, NULL), -EFAULT);
	mmap_read_lock(f.mm);
	vma = m2d_vma_lookup(f.mm, hva + GiB + 7);
	assert_non_null(vma);
	assert_int_equal(m2d_follow_pfnmap(f.mm, vma, hva + GiB + 8192, true, &args), 0);
	assert_int_equal(args.level, M2D_LEVEL_1G);
	assert_true(args.writable);
	assert_int_equal(m2d_pfn_as_u64(args.pfn), base_pfn + (GiB + 8192) / 4096);
	mmap_read_unlock(f.mm);
	/* no rss for device memory */
	assert_int_equal(stats(&f).rss_anon + stats(&f).rss_file, 0);
	/* PROTECTION pair in both layouts; DONTNEED on pfnmap is -EINVAL */
	assert_int_equal(m2d_mm_madvise(f.mm, hva, 4096, M2D_MADV_DONTNEED), -EINVAL);
	fx_fini(&f);
}

static void test_mm_munmap_frees_tables(void **state)
{
	struct fx f = { 0 };
	uint64_t a, b;
	struct m2d_pt_stats ps;

	fx_init(&f, 4 * GiB, NULL);
	assert_int_equal(m2d_mm_mmap(f.mm, 0x40000000, 4 * MiB, M2D_PROT_READ | M2D_PROT_WRITE,
				     M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS | M2D_MAP_FIXED, NULL, 0,
				     &a), 0);
	assert_int_equal(m2d_mm_mmap(f.mm, 0x40400000, 4096, M2D_PROT_READ,
				     M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS | M2D_MAP_FIXED, NULL, 0,
				     &b), 0);
	assert_int_equal(stats(&f).vmas, 2);
	assert_int_equal(m2d_mm_populate(f.mm, a, 4 * MiB, false), 0);
	assert_int_equal(m2d_mm_fault(f.mm, b, false), 0);
	m2d_pt_stats_get(m2d_mm_pgd(f.mm), &ps);
	assert_int_equal(ps.tables[1], 3); /* three PTE tables */
	/* unmap the first VMA: its two PTE tables go, the one shared with b stays */
	assert_int_equal(m2d_mm_munmap(f.mm, a, 4 * MiB), 0);
	m2d_pt_stats_get(m2d_mm_pgd(f.mm), &ps);
	assert_int_equal(ps.tables[1], 1);
	assert_int_equal(ps.tables[2], 1);
	assert_int_equal(stats(&f).tables_freed, 2);
	assert_int_equal(m2d_mm_munmap(f.mm, b, 4096), 0);
	m2d_pt_stats_get(m2d_mm_pgd(f.mm), &ps);
	assert_int_equal(ps.tables[1] + ps.tables[2] + ps.tables[3], 0);
	/* MAP_FIXED over an existing mapping replaces it */
	assert_int_equal(m2d_mm_mmap(f.mm, 0x40000000, 8192, M2D_PROT_READ,
				     M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS | M2D_MAP_FIXED, NULL, 0,
				     &a), 0);
	assert_int_equal(m2d_mm_mmap(f.mm, 0x40001000, 4096, M2D_PROT_READ | M2D_PROT_WRITE,
				     M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS | M2D_MAP_FIXED, NULL, 0,
				     &b), 0);
	assert_int_equal(stats(&f).vmas, 2);
	fx_fini(&f);
}


/* x86: a flush IPIs every other CPU of mm_cpumask; arm64 broadcasts TLBI (no IPIs). */
struct ipi_arg {
	struct fx *f;
	uint64_t addr;
	bool mprotect;
};

static void ipi_thread(void *arg)
{
	struct ipi_arg *a = arg;

	if (a->mprotect)
		assert_int_equal(m2d_mm_mprotect(a->f->mm, a->addr, 64 * KiB, M2D_PROT_READ), 0);
	else
		assert_int_equal(m2d_mm_fault(a->f->mm, a->addr, true), 0);
}

static void tlb_flush_ipis(enum m2d_mm_arch arch, uint64_t expect_ipis)
{
	struct m2d_mm_config cfg;
	struct fx f = { 0 };
	struct ipi_arg a[3];
	uint64_t anon, ipis0;

	m2d_mm_config_default(&cfg);
	cfg.arch = arch;
	fx_init(&f, 4 * GiB, &cfg);
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 64 * KiB, M2D_PROT_READ | M2D_PROT_WRITE,
				     M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS, NULL, 0, &anon), 0);
	ipis0 = m2d_sim_counter(f.sim, "ipis");
	m2d_engine_leave(f.sim);
	/* threads on CPUs 1 and 2 touch the mm; then CPU 3 write-protects */
	for (int i = 0; i < 3; i++) {
		a[i] = (struct ipi_arg){ .f = &f, .addr = i == 2 ? anon : anon + (uint64_t)i * 4096,
					 .mprotect = i == 2 };
		assert_int_equal(m2d_sim_spawn(f.sim, i + 1, "ipi", ipi_thread, &a[i]), 0);
		assert_int_equal(m2d_sim_run(f.sim), 0);
	}
	m2d_engine_enter(f.sim);
	/* CPU 0 (the setup code's mmap) is in the mask too */
	assert_int_equal(m2d_sim_counter(f.sim, "ipis") - ipis0, expect_ipis);
	assert_int_equal(stats(&f).tlb_flush_ipis, expect_ipis ? 1 : 0);
	fx_fini(&f);
}

static void test_mm_tlb_flush_ipis(void **state)
{
	tlb_flush_ipis(M2D_MM_ARCH_X86_64, 3);
	tlb_flush_ipis(M2D_MM_ARCH_ARM64, 0);
}

/* ---- KVM backed by this mm (m2d_kvm_host_ops_set_mm + m2d_vm_mmu_notifier_register) */

struct kvm_link {
	struct m2d_vm *vm;
	uint64_t skips;
};

#define LINK_GPA (4 * GiB)
#define LINK_PAGES 4096ull

static void guest_write_all(struct m2d_vcpu *vcpu, void *arg)
{
	m2d_vcpu_access_range(vcpu, LINK_GPA, LINK_PAGES, 4096, M2D_ACCESS_WRITE);
}

static enum m2d_kvm_exit_action vmm_skip(struct m2d_vcpu *vcpu, const struct m2d_kvm_exit *exit,
					 void *arg)
{
	struct kvm_link *l = arg;

	assert_int_equal(exit->reason, M2D_KVM_EXIT_EFAULT);
	l->skips++;
	return M2D_KVM_EXIT_SKIP;
}

/*
 * mmu_stress_test in miniature: a 16 MiB memfd, NOHUGEPAGE, pre-faulted by
 * the host, one memslot; the guest writes every page (GUP fast succeeds on
 * every fault), mprotect(PROT_READ) zaps KVM's mappings through the
 * notifier, and every guest write then exits with -EFAULT (GUP fast fails,
 * slow GUP returns -EFAULT); mprotect(RW) and the writes retire again.
 */
static void test_mm_kvm_host_ops(void **state)
{
	struct m2d_kvm_host_ops ops = { 0 };
	struct m2d_vm_config vcfg;
	struct m2d_memslot_desc d;
	struct m2d_vm_stats vs;
	struct kvm_link link = { 0 };
	struct m2d_vcpu *vcpu;
	struct m2d_file *memfd;
	struct fx f = { 0 };
	uint64_t hva, gup0;

	fx_init(&f, 4 * GiB, NULL);
	hva = map_memfd(&f, LINK_PAGES * 4096, M2D_FILE_SHMEM, &memfd);
	assert_int_equal(m2d_mm_madvise(f.mm, hva, LINK_PAGES * 4096, M2D_MADV_NOHUGEPAGE), 0);
	assert_int_equal(m2d_mm_populate(f.mm, hva, LINK_PAGES * 4096, true), 0);

	m2d_kvm_host_ops_set_mm(&ops);
	m2d_vm_config_default(&vcfg);
	assert_int_equal(m2d_vm_create(&link.vm, f.sim, &vcfg, &ops), 0);
	assert_int_equal(m2d_vcpu_create(link.vm, 0, &vcpu), 0);
	d = (struct m2d_memslot_desc){ .id = 1, .guest_phys = LINK_GPA, .size = LINK_PAGES * 4096,
				       .userspace_addr = hva, .mm = f.mm };
	assert_int_equal(m2d_vm_set_memslot(link.vm, &d), 0);
	assert_int_equal(m2d_vm_mmu_notifier_register(link.vm, f.mm), 0);

	gup0 = stats(&f).gup_fast;
	assert_int_equal(m2d_vcpu_run(vcpu, guest_write_all, NULL, vmm_skip, &link), 0);
	m2d_vm_stats_get(link.vm, &vs);
	assert_int_equal(vs.pages[M2D_LEVEL_4K], LINK_PAGES); /* host level 4K: 4K SPTEs */
	assert_int_equal(stats(&f).gup_fast - gup0, LINK_PAGES);
	assert_int_equal(stats(&f).gup_fast_failed, 0);

	assert_int_equal(m2d_mm_mprotect(f.mm, hva, LINK_PAGES * 4096, M2D_PROT_READ), 0);
	m2d_vm_stats_get(link.vm, &vs);
	assert_int_equal(vs.pages[M2D_LEVEL_4K], 0);
	assert_int_equal(m2d_sim_counter(f.sim, "mmu_notifier_invalidations"), 1);
	assert_int_equal(m2d_vcpu_run(vcpu, guest_write_all, NULL, vmm_skip, &link), 0);
	assert_int_equal(link.skips, LINK_PAGES);
	assert_int_equal(stats(&f).gup_slow, LINK_PAGES);

	assert_int_equal(m2d_mm_mprotect(f.mm, hva, LINK_PAGES * 4096,
					 M2D_PROT_READ | M2D_PROT_WRITE), 0);
	assert_int_equal(m2d_vcpu_run(vcpu, guest_write_all, NULL, vmm_skip, &link), 0);
	assert_int_equal(link.skips, LINK_PAGES);
	m2d_vm_stats_get(link.vm, &vs);
	assert_int_equal(vs.pages[M2D_LEVEL_4K], LINK_PAGES);

	m2d_vm_destroy(&link.vm);
	m2d_file_put(&memfd);
	fx_fini(&f);
}

/* Plain-callback subscriptions (m2d_mm_subscribe) see every pair; release at exit. */
struct sub_obs {
	unsigned starts, ends, released;
	uint64_t last_start, last_end;
	enum m2d_mmu_notifier_event last_event;
};

static void obs_start(void *priv, uint64_t start, uint64_t end, enum m2d_mmu_notifier_event ev,
		      bool may_block)
{
	struct sub_obs *o = priv;

	o->starts++;
	o->last_start = start;
	o->last_end = end;
	o->last_event = ev;
	assert_true(may_block);
}

static void obs_end(void *priv, uint64_t start, uint64_t end, enum m2d_mmu_notifier_event ev)
{
	((struct sub_obs *)priv)->ends++;
}

static void obs_release(void *priv)
{
	((struct sub_obs *)priv)->released++;
}

static void test_mm_subscribe(void **state)
{
	struct m2d_mm_notifier_cb cb = { .invalidate_range_start = obs_start,
					 .invalidate_range_end = obs_end,
					 .release = obs_release };
	struct m2d_mm_subscription *a = NULL, *b = NULL;
	struct sub_obs oa = { 0 }, ob = { 0 };
	struct fx f = { 0 };
	uint64_t anon;

	fx_init(&f, 4 * GiB, NULL);
	assert_int_equal(m2d_mm_subscribe(f.mm, &cb, &oa, &a), 0);
	assert_int_equal(m2d_mm_subscribe(f.mm, &cb, &ob, &b), 0);
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 64 * KiB, M2D_PROT_READ | M2D_PROT_WRITE,
				     M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS, NULL, 0, &anon), 0);
	assert_int_equal(m2d_mm_populate(f.mm, anon, 64 * KiB, true), 0);
	assert_int_equal(m2d_mm_madvise(f.mm, anon, 8 * KiB, M2D_MADV_DONTNEED), 0);
	assert_int_equal(oa.starts, 1);
	assert_int_equal(oa.ends, 1);
	assert_int_equal(oa.last_event, M2D_MMU_NOTIFY_CLEAR);
	assert_int_equal(oa.last_start, anon);
	assert_int_equal(oa.last_end, anon + 8 * KiB);
	/* unsubscribe runs ->release (mmu_notifier_unregister) and stops the calls */
	m2d_mm_unsubscribe(f.mm, &a);
	assert_null(a);
	assert_int_equal(oa.released, 1);
	assert_int_equal(m2d_mm_munmap(f.mm, anon, 64 * KiB), 0);
	assert_int_equal(oa.starts, 1);
	assert_int_equal(ob.starts, 2);
	assert_int_equal(ob.last_event, M2D_MMU_NOTIFY_UNMAP);
	/* exit_mmap releases the rest; the handle is freed afterwards */
	fx_fini(&f);
	assert_int_equal(ob.released, 1);
	m2d_mm_unsubscribe(NULL, &b);
	assert_null(b);
}

/* ---- bad input ------------------------------------------------------------------------ */

static void test_mm_bad_input(void **state)
{
	struct m2d_mm_config cfg;
	struct m2d_file *file;
	struct m2d_mm *mm2;
	struct fx f = { 0 };
	uint64_t a;

	fx_init(&f, 4 * GiB, NULL);
	m2d_mm_config_default(&cfg);
	cfg.notifier = 7;
	assert_int_equal(m2d_mm_create(&mm2, f.host, &cfg), -EINVAL);
	assert_int_equal(m2d_memfd_create(f.host, 4097, M2D_FILE_SHMEM, &file), -EINVAL);
	assert_int_equal(m2d_memfd_create(f.host, 4 * MiB, M2D_FILE_HUGETLB_1G, &file), -EINVAL);
	assert_int_equal(m2d_memfd_create(f.host, 4 * MiB, 9, &file), -EINVAL);
	assert_int_equal(m2d_memfd_create(f.host, 4 * MiB, M2D_FILE_SHMEM, &file), 0);
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 0, M2D_PROT_READ, M2D_MAP_SHARED, file, 0, &a), -EINVAL);
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 8 * MiB, M2D_PROT_READ, M2D_MAP_SHARED, file, 0, &a),
			 -EINVAL);
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 4096, M2D_PROT_READ, M2D_MAP_PRIVATE, file, 0, &a),
			 -EINVAL);
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 4096, 0x80, M2D_MAP_SHARED, file, 0, &a), -EINVAL);
	assert_int_equal(m2d_mm_mmap(f.mm, 123, 4096, M2D_PROT_READ, M2D_MAP_SHARED, file, 0, &a),
			 -EINVAL);
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 4096, M2D_PROT_READ,
				     M2D_MAP_SHARED | M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS, NULL, 0,
				     &a), -EINVAL);
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 4096, M2D_PROT_READ, M2D_MAP_SHARED, file, 1, &a),
			 -EINVAL);
	assert_int_equal(m2d_mm_munmap(f.mm, 1, 4096), -EINVAL);
	assert_int_equal(m2d_mm_munmap(f.mm, 4096, 0), -EINVAL);
	assert_int_equal(m2d_mm_munmap(f.mm, 0x100000, 4096), 0); /* nothing mapped: fine */
	assert_int_equal(m2d_mm_mprotect(f.mm, 0x100000, 4096, M2D_PROT_READ), -ENOMEM);
	assert_int_equal(m2d_mm_mprotect(f.mm, 0x100001, 4096, M2D_PROT_READ), -EINVAL);
	assert_int_equal(m2d_mm_mprotect(f.mm, 0x100000, 4096, 0x40), -EINVAL);
	assert_int_equal(m2d_mm_madvise(f.mm, 0x100000, 4096, 99), -EINVAL);
	assert_int_equal(m2d_mm_madvise(f.mm, 0x100000, 4096, M2D_MADV_DONTNEED), -ENOMEM);
	assert_int_equal(m2d_mm_fault(f.mm, 0x100000, false), -EFAULT);
	assert_int_equal(m2d_mm_populate(f.mm, 0x100000, 0, false), -EINVAL);
	assert_int_equal(m2d_mm_uffd_continue(f.mm, 0x100000, 4096), -EINVAL);
	assert_int_equal(m2d_file_fallocate(file, 4 * MiB, 4096, 0), -EINVAL);
	/* MADV_SPLIT only on shared HugeTLB */
	assert_int_equal(m2d_mm_mmap(f.mm, 0, 4096, M2D_PROT_READ, M2D_MAP_SHARED, file, 0, &a), 0);
	assert_int_equal(m2d_mm_madvise(f.mm, a, 4096, M2D_MADV_SPLIT), -EINVAL);
	assert_int_equal(m2d_mm_madvise(f.mm, a, 4096, M2D_MADV_COLLAPSE), -EINVAL); /* shmem */
	assert_int_equal(m2d_mmu_notifier_register(&f.rec->mn, f.mm), -EINVAL); /* twice */
	m2d_file_put(&file);
	fx_fini(&f);
}

/*
 * Allocation failures (R38): the n-th simulator allocation from the start
 * of a fixed sequence of operations fails, for every n until a run sees no
 * failure.  Every operation returns 0 or -ENOMEM, teardown frees every
 * folio (physmem free count back to the start) and ASan sees no leak.
 */
static int alloc_fail_sequence(struct fx *f, struct m2d_file *file)
{
	uint64_t anon = 0x600000000ull, sh = 0x600100000ull, thp = 0x600400000ull;
	int ret, failures = 0;
	uint64_t out;

#define STEP(call)                                                             \
	do {                                                                   \
		ret = (call);                                                  \
		/* after a failure, accesses may hit what was not mapped */    \
		assert_true(ret == 0 || ret == -ENOMEM ||                       \
			    (ret == -EFAULT && failures));                     \
		failures += ret == -ENOMEM;                                    \
	} while (0)
	STEP(m2d_mm_mmap(f->mm, anon, 256 * KiB, M2D_PROT_READ | M2D_PROT_WRITE,
			 M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS | M2D_MAP_FIXED, NULL, 0, &out));
	STEP(m2d_mm_mmap(f->mm, sh, 256 * KiB, M2D_PROT_READ | M2D_PROT_WRITE,
			 M2D_MAP_SHARED | M2D_MAP_FIXED, file, 0, &out));
	STEP(m2d_mm_populate(f->mm, anon, 256 * KiB, true));
	STEP(m2d_mm_populate(f->mm, sh, 256 * KiB, false));
	STEP(m2d_mm_mprotect(f->mm, anon + 64 * KiB, 64 * KiB, M2D_PROT_READ));
	STEP(m2d_mm_mprotect(f->mm, sh + 8 * KiB, 8 * KiB, M2D_PROT_NONE));
	STEP(m2d_mm_madvise(f->mm, anon + 100 * KiB, 40 * KiB, M2D_MADV_DONTNEED));
	STEP(m2d_mm_munmap(f->mm, anon + 32 * KiB, 16 * KiB));
	STEP(m2d_mm_munmap(f->mm, sh + 128 * KiB, 8 * KiB));
	STEP(m2d_mm_mprotect(f->mm, anon, 32 * KiB, M2D_PROT_READ | M2D_PROT_WRITE));
	STEP(m2d_mm_populate(f->mm, anon, 32 * KiB, true));
	/* a THP, then a 4K mprotect inside it (PMD split needs a table) */
	STEP(m2d_mm_mmap(f->mm, thp, 4 * MiB, M2D_PROT_READ | M2D_PROT_WRITE,
			 M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS | M2D_MAP_FIXED, NULL, 0, &out));
	STEP(m2d_mm_fault(f->mm, thp + 12345, true));
	STEP(m2d_mm_mprotect(f->mm, thp + MiB, 4 * KiB, M2D_PROT_READ));
	STEP(m2d_mm_madvise(f->mm, thp + 2 * MiB, 2 * MiB, M2D_MADV_COLLAPSE));
#undef STEP
	return failures;
}

static uint64_t alloc_count(void)
{
	struct m2d_alloc_stats st;
	uint64_t n = 0;

	m2d_alloc_stats_get(&st);
	for (unsigned t = 0; t < M2D_ALLOC_TAG_NR; t++)
		n += st.total_count[t];
	return n;
}

static void test_mm_alloc_failures(void **state)
{
	uint64_t sites = 0;

	/* n = 0: count the allocations of the sequence; then fail each in turn */
	for (uint64_t n = 0; n == 0 || n <= sites; n++) {
		struct m2d_mm_config cfg;
		struct m2d_file *file;
		struct fx f = { 0 };
		uint64_t free0, a0;
		int failures;

		m2d_mm_config_default(&cfg);
		cfg.thp = M2D_MM_THP_ALWAYS;
		fx_init(&f, 4 * GiB, &cfg);
		assert_int_equal(m2d_memfd_create(f.host, MiB, M2D_FILE_SHMEM, &file), 0);
		free0 = m2d_physmem_free_pages(f.host, -1);
		a0 = alloc_count();
		m2d_alloc_fail_after(n);
		failures = alloc_fail_sequence(&f, file);
		m2d_alloc_fail_after(0);
		if (n == 0) {
			sites = alloc_count() - a0;
			assert_int_equal(failures, 0);
		}
		assert_int_equal(m2d_mm_munmap(f.mm, 0x600000000ull, 8 * MiB), 0);
		m2d_file_put(&file);
		assert_true(m2d_physmem_free_pages(f.host, -1) >= free0);
		fx_fini(&f);
	}
	printf("test_mm_alloc_failures: %llu allocation sites failed in turn\n",
	       (unsigned long long)sites);
	assert_true(sites > 5);
}

/* ---- lock assertions (debug builds) ---------------------------------------------------- */

#if M2D_DEBUG_CHECKS
/* Run @fn in a child; it must die with SIGABRT (M2D_BUG_ON). */
static void expect_abort(void (*fn)(struct fx *f), struct fx *f)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* quiet the expected report */
		if (!freopen("/dev/null", "w", stderr))
			_exit(2);
		fn(f);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void fault_unlocked(struct fx *f)
{
	m2d_mm_handle_fault(f->mm, 0x200000, false);
}

static void lookup_unlocked(struct fx *f)
{
	m2d_vma_lookup(f->mm, 0x200000);
}

static void follow_unlocked(struct fx *f)
{
	struct m2d_follow_pfnmap_args args;

	m2d_follow_pfnmap(f->mm, NULL, 0, false, &args);
}

static void notifier_unlocked(struct fx *f)
{
	struct m2d_mmu_notifier_range r = { .mm = f->mm, .start = 0, .end = 4096 };

	m2d_mmu_notifier_invalidate_range_start(&r);
}

static void write_assert_under_read(struct fx *f)
{
	mmap_read_lock(f->mm);
	mmap_assert_write_locked(f->mm);
}
#endif

static void test_mm_lockdep_asserts(void **state)
{
#if M2D_DEBUG_CHECKS
	struct fx f = { 0 };

	fx_init(&f, 4 * GiB, NULL);
	expect_abort(fault_unlocked, &f);
	expect_abort(lookup_unlocked, &f);
	expect_abort(follow_unlocked, &f);
	expect_abort(notifier_unlocked, &f);
	expect_abort(write_assert_under_read, &f);
	/* and the correct use does not abort */
	mmap_read_lock(f.mm);
	mmap_assert_locked(f.mm);
	assert_null(m2d_vma_lookup(f.mm, 0x200000));
	mmap_read_unlock(f.mm);
	mmap_write_lock(f.mm);
	mmap_assert_write_locked(f.mm);
	mmap_write_unlock(f.mm);
	fx_fini(&f);
#else
	skip();
#endif
}

/* ---- randomized model test ------------------------------------------------------------- */

/*
 * A window of 4096 pages (16 MiB) at a fixed address.  The reference model
 * keeps, per page: mapped, VMA kind (anon / shmem file at an offset),
 * protection, THP-advised, populated, and for shmem the frame the file's
 * page cache gave that offset.  Operations: mmap (MAP_FIXED), munmap,
 * mprotect, read/write accesses, DONTNEED, HUGEPAGE/NOHUGEPAGE.  After each
 * operation every page of the window is compared (presence, writability,
 * GUP fast, page-cache identity); single-threaded, the notifier ranges of
 * the operation must also cover every page whose mapping was lost or
 * write-protected, and the mm's rss must equal the model's.
 */
#define WIN_BASE 0x500000000ull
#define WIN_PAGES 4096
#define FILE_PAGES 4096

enum pkind { P_NONE, P_ANON, P_SHMEM };

struct page_model {
	uint8_t kind;
	uint8_t prot;      /* M2D_PROT_READ | WRITE */
	bool thp;          /* VM_HUGEPAGE */
	bool populated;
	uint32_t foff;     /* shmem: file page index */
	uint64_t pfn;      /* populated: frame (anon) */
};

struct rwin {
	struct fx *f;
	uint64_t base;                       /* window address */
	uint64_t rng;                        /* this window's PRNG state */
	uint64_t seed;
	struct m2d_file *file;               /* the shmem file this window maps */
	struct page_model m[WIN_PAGES], old[WIN_PAGES];
	uint64_t file_pfn[FILE_PAGES];       /* frame first seen for each file offset */
	unsigned thp_seen;
	bool check_notifier;                 /* single-threaded: the recorder is ours */
};

static uint64_t rnd(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t test_seed(void)
{
	const char *s = getenv("M2D_TEST_SEED");

	return s ? strtoull(s, NULL, 0) : 1;
}

static bool covered(struct recorder *rec, uint64_t addr)
{
	for (unsigned i = 0; i < rec->nr_start && i < MAX_RANGES; i++)
		if (addr >= rec->r[i].start && addr < rec->r[i].end)
			return true;
	return false;
}

/* One random operation on @w and the model's update. */
static void rwin_apply(struct rwin *w, unsigned op)
{
	struct m2d_mm *mm = w->f->mm;
	struct page_model *m = w->m;
	unsigned kind = rnd(&w->rng) % 100;
	uint64_t first = rnd(&w->rng) % WIN_PAGES;
	uint64_t n = 1 + rnd(&w->rng) % (rnd(&w->rng) % 4 == 0 ? 1024 : 64);
	uint64_t addr, len;
	int ret, expect = 0;

	if (first + n > WIN_PAGES)
		n = WIN_PAGES - first;
	addr = w->base + first * 4096;
	len = n * 4096;

	if (kind < 12) {
		/* mmap MAP_FIXED: anon (sometimes THP-advised) or the shmem file */
		bool shmem = rnd(&w->rng) % 3 == 0;
		bool thp = !shmem && rnd(&w->rng) % 3 == 0;
		unsigned prot = (unsigned)(rnd(&w->rng) % 4) & 3;
		uint64_t foff, out;

		if (thp) {
			/* 2M-aligned anonymous region, MADV_HUGEPAGE right after */
			first &= ~511ull;
			n = first + 1024 <= WIN_PAGES ? 1024 : 512;
			addr = w->base + first * 4096;
			len = n * 4096;
			prot |= M2D_PROT_READ | M2D_PROT_WRITE;
		}
		foff = shmem ? rnd(&w->rng) % (FILE_PAGES - n + 1) : 0;
		ret = m2d_mm_mmap(mm, addr, len, prot,
				  M2D_MAP_FIXED | (shmem ? M2D_MAP_SHARED
							 : M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS),
				  shmem ? w->file : NULL, foff * 4096, &out);
		assert_int_equal(ret, 0);
		assert_int_equal(out, addr);
		for (uint64_t i = 0; i < n; i++)
			m[first + i] = (struct page_model){
				.kind = shmem ? P_SHMEM : P_ANON, .prot = (uint8_t)prot,
				.foff = (uint32_t)(foff + i), .thp = thp,
			};
		if (thp)
			assert_int_equal(m2d_mm_madvise(mm, addr, len, M2D_MADV_HUGEPAGE), 0);
	} else if (kind < 20) {
		assert_int_equal(m2d_mm_munmap(mm, addr, len), 0);
		for (uint64_t i = 0; i < n; i++)
			m[first + i] = (struct page_model){ 0 };
	} else if (kind < 35) {
		unsigned prot = (unsigned)(rnd(&w->rng) % 4) & 3;

		/* pages up to the first hole change; a hole gives -ENOMEM */
		for (uint64_t i = 0; i < n; i++) {
			if (m[first + i].kind == P_NONE) {
				expect = -ENOMEM;
				break;
			}
			m[first + i].prot = (uint8_t)prot;
		}
		assert_int_equal(m2d_mm_mprotect(mm, addr, len, prot), expect);
	} else if (kind < 45) {
		for (uint64_t i = 0; i < n; i++) {
			if (m[first + i].kind == P_NONE)
				expect = -ENOMEM;
			else
				m[first + i].populated = false;
		}
		assert_int_equal(m2d_mm_madvise(mm, addr, len, M2D_MADV_DONTNEED), expect);
	} else if (kind < 50) {
		bool huge = rnd(&w->rng) & 1;

		for (uint64_t i = 0; i < n; i++) {
			if (m[first + i].kind == P_NONE)
				expect = -ENOMEM;
			else if (m[first + i].kind == P_ANON)
				m[first + i].thp = huge;
		}
		ret = m2d_mm_madvise(mm, addr, len, huge ? M2D_MADV_HUGEPAGE : M2D_MADV_NOHUGEPAGE);
		assert_int_equal(ret, expect);
	} else {
		/* accesses to a few pages */
		for (unsigned k = 0; k < 8; k++) {
			uint64_t p = (first + rnd(&w->rng) % n) % WIN_PAGES;
			bool write = rnd(&w->rng) & 1;
			struct page_model *pm = &m[p];
			bool ok = pm->kind != P_NONE &&
				  (write ? (pm->prot & M2D_PROT_WRITE) : pm->prot != 0);

			ret = m2d_mm_fault(mm, w->base + p * 4096, write);
			assert_int_equal(ret, ok ? 0 : -EFAULT);
			if (ok)
				pm->populated = true;
		}
	}
}

/* Compare the window with the model after operation @op. Return: model rss (bytes). */
static uint64_t rwin_check(struct rwin *w, unsigned op)
{
	struct m2d_mm *mm = w->f->mm;
	struct page_model *m = w->m, *old = w->old;
	uint64_t rss = 0;

	/* a THP fault may have populated a whole advised, aligned 2M region */
	for (uint64_t p = 0; p < WIN_PAGES; p++) {
		struct m2d_mm_xlate x;

		m2d_mm_xlate(mm, w->base + p * 4096, &x);
		if (x.present && x.level == M2D_LEVEL_2M && !m[p].populated) {
			uint64_t h = p & ~511ull;

			assert_int_equal(m[p].kind, P_ANON);
			assert_true(m[p].thp);
			w->thp_seen++;
			for (uint64_t q = h; q < h + 512; q++) {
				assert_true(m[q].kind == P_ANON && m[q].thp);
				assert_false(old[q].populated);
				m[q].populated = true;
			}
		}
	}

	for (uint64_t p = 0; p < WIN_PAGES; p++) {
		struct page_model *pm = &m[p];
		uint64_t a = w->base + p * 4096;
		struct m2d_mm_xlate x;
		m2d_pfn_t pfn;

		m2d_mm_xlate(mm, a, &x);
		if (pm->kind == P_NONE || !pm->populated) {
			if (x.present)
				fail_msg("op %u: page %llu present, model says not (seed %llu)", op,
					 (unsigned long long)p, (unsigned long long)w->seed);
			continue;
		}
		if (!x.present)
			fail_msg("op %u: page %llu missing (seed %llu)", op, (unsigned long long)p,
				 (unsigned long long)w->seed);
		rss += 4096;
		assert_int_equal(x.writable, !!(pm->prot & M2D_PROT_WRITE));
		assert_int_equal(m2d_get_user_page_fast_only(mm, a, FOLL_WRITE, &pfn, NULL),
				 !!(pm->prot & M2D_PROT_WRITE));
		if (pm->kind == P_SHMEM) {
			/* the page cache gives a file offset the same frame forever */
			if (!w->file_pfn[pm->foff])
				w->file_pfn[pm->foff] = m2d_pfn_as_u64(x.pfn);
			assert_int_equal(m2d_pfn_as_u64(x.pfn), w->file_pfn[pm->foff]);
		} else if (old[p].populated && old[p].kind == P_ANON && pm->pfn) {
			/* an anonymous page stays put while mapped */
			assert_int_equal(m2d_pfn_as_u64(x.pfn), pm->pfn);
		}
		pm->pfn = m2d_pfn_as_u64(x.pfn);
	}
	if (w->check_notifier) {
		/* a page that lost its mapping or write permission was notified */
		for (uint64_t p = 0; p < WIN_PAGES; p++) {
			bool lost = old[p].populated && (!m[p].populated || m[p].kind == P_NONE);
			bool wp = old[p].populated && (old[p].prot & M2D_PROT_WRITE) &&
				  !(m[p].prot & M2D_PROT_WRITE);

			if ((lost || wp) && !covered(w->f->rec, w->base + p * 4096))
				fail_msg("op %u: page %llu changed without a notifier (seed %llu)",
					 op, (unsigned long long)p, (unsigned long long)w->seed);
		}
		assert_int_equal(w->f->rec->nr_start, w->f->rec->nr_end);
		assert_int_equal(w->f->rec->depth, 0);
	}
	return rss;
}

static void rwin_init(struct rwin *w, struct fx *f, uint64_t base, uint64_t seed)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
	w->base = base;
	w->seed = seed;
	w->rng = seed;
	assert_int_equal(m2d_memfd_create(f->host, FILE_PAGES * 4096ull, M2D_FILE_SHMEM, &w->file),
			 0);
}

static void rwin_fini(struct rwin *w)
{
	assert_int_equal(m2d_mm_munmap(w->f->mm, w->base, WIN_PAGES * 4096ull), 0);
	m2d_file_put(&w->file);
}

static void test_mm_random_model(void **state)
{
	struct m2d_mm_config cfg;
	struct fx f = { 0 };
	struct rwin *w = calloc(1, sizeof(*w));
	uint64_t seed = test_seed();
	unsigned ops = 3000;
	struct m2d_mm_stats s;

	printf("test_mm_random_model: seed %llu (M2D_TEST_SEED)\n", (unsigned long long)seed);
	m2d_mm_config_default(&cfg);
	cfg.thp = M2D_MM_THP_MADVISE;
	cfg.notifier = (seed & 1) ? M2D_MM_NOTIFIER_P4D : M2D_MM_NOTIFIER_PUD;
	fx_init(&f, 4 * GiB, &cfg);
	rwin_init(w, &f, WIN_BASE, seed);
	w->check_notifier = true;
	for (unsigned op = 0; op < ops; op++) {
		memcpy(w->old, w->m, sizeof(w->m));
		rec_reset(f.rec);
		rwin_apply(w, op);
		assert_int_equal(stats(&f).rss_anon + stats(&f).rss_file, rwin_check(w, op));
	}
	s = stats(&f);
	/* the run exercised what it claims to (not a vacuous pass) */
	printf("test_mm_random_model: %u ops, %llu faults (%llu allocating), %llu zapped, "
	       "%llu changed, %llu invalidations, %llu vmas, %u THP faults seen\n", ops,
	       (unsigned long long)s.faults, (unsigned long long)s.faults_alloc,
	       (unsigned long long)s.ptes_zapped, (unsigned long long)s.ptes_changed,
	       (unsigned long long)s.invalidations, (unsigned long long)s.vmas, w->thp_seen);
	assert_true(s.faults > ops / 2 && s.ptes_zapped > 0 && s.ptes_changed > 0);
	assert_true(w->thp_seen > 0);
	rwin_fini(w);
	assert_int_equal(stats(&f).rss_anon + stats(&f).rss_file, 0);
	free(w);
	fx_fini(&f);
}

/*
 * Several simulated threads, each driving its own window of one mm (so
 * the per-window model stays exact), while sharing mmap_lock, the page
 * tables above the windows, the notifier list and physmem.  Every thread
 * yields at each synchronisation point the model code has (locks,
 * cond_resched), so with the coroutine engine the operations interleave;
 * with the sequential engine stub they run one thread after another.
 */
#define MT_THREADS 4
#define MT_OPS 600

#define MT_SHARED_PAGES 2048ull /* 8 MiB shared by every thread */

struct mt_arg {
	struct rwin *w;
	uint64_t rss;
	unsigned done;
	unsigned id;
	uint64_t shared;          /* address of the shared mapping */
	uint64_t shared_faults;   /* successful accesses to it */
};

/*
 * Besides its own window, every thread accesses random pages of one shared
 * memfd mapping (concurrent faults on the same PTE tables, racing table
 * allocation); thread 0 also write-protects, unprotects and DONTNEEDs
 * parts of it.  Accesses must succeed or fail with -EFAULT (a write while
 * read-only), nothing else.
 */
static void mt_shared_op(struct mt_arg *a)
{
	struct m2d_mm *mm = a->w->f->mm;
	uint64_t p = rnd(&a->w->rng) % MT_SHARED_PAGES;
	bool write = rnd(&a->w->rng) & 1;
	int ret = m2d_mm_fault(mm, a->shared + p * 4096, write);

	assert_true(ret == 0 || (ret == -EFAULT && write));
	a->shared_faults += ret == 0;
	if (a->id == 0 && rnd(&a->w->rng) % 8 == 0) {
		uint64_t first = rnd(&a->w->rng) % MT_SHARED_PAGES;
		uint64_t n = 1 + rnd(&a->w->rng) % (MT_SHARED_PAGES - first);
		unsigned what = rnd(&a->w->rng) % 3;

		if (what == 0)
			ret = m2d_mm_mprotect(mm, a->shared + first * 4096, n * 4096, M2D_PROT_READ);
		else if (what == 1)
			ret = m2d_mm_mprotect(mm, a->shared + first * 4096, n * 4096,
					      M2D_PROT_READ | M2D_PROT_WRITE);
		else
			ret = m2d_mm_madvise(mm, a->shared + first * 4096, n * 4096,
					     M2D_MADV_DONTNEED);
		assert_int_equal(ret, 0);
	}
}

static void mt_thread(void *arg)
{
	struct mt_arg *a = arg;

	for (unsigned op = 0; op < MT_OPS; op++) {
		memcpy(a->w->old, a->w->m, sizeof(a->w->m));
		rwin_apply(a->w, op);
		a->rss = rwin_check(a->w, op);
		mt_shared_op(a);
		a->done++;
		m2d_sched_point();
	}
}

static void test_mm_random_threads(void **state)
{
	struct m2d_mm_config cfg;
	struct fx f = { 0 };
	struct mt_arg args[MT_THREADS];
	struct m2d_file *shared_file;
	uint64_t seed = test_seed(), rss = 0, shared, shared_faults = 0;

	printf("test_mm_random_threads: seed %llu (M2D_TEST_SEED)\n", (unsigned long long)seed);
	m2d_mm_config_default(&cfg);
	cfg.thp = M2D_MM_THP_MADVISE;
	/* real costs, so that clocks advance and the threads interleave */
	fx_profile = M2D_SOURCE_PROFILE_DIR "/x86.profile";
	fx_init(&f, 4 * GiB, &cfg);
	fx_profile = NULL;
	for (unsigned t = 0; t < MT_THREADS; t++) {
		args[t] = (struct mt_arg){ .w = calloc(1, sizeof(struct rwin)) };
		/* windows 64 MiB apart: distinct PTE tables, shared PMD/PUD tables */
		rwin_init(args[t].w, &f, WIN_BASE + t * 64 * MiB, seed * 1000 + t);
	}
	shared = map_memfd(&f, MT_SHARED_PAGES * 4096, M2D_FILE_SHMEM, &shared_file);
	for (unsigned t = 0; t < MT_THREADS; t++) {
		args[t].id = t;
		args[t].shared = shared;
	}
	m2d_engine_leave(f.sim);
	for (unsigned t = 0; t < MT_THREADS; t++)
		assert_int_equal(m2d_sim_spawn(f.sim, (int)t, "mm-random", mt_thread, &args[t]), 0);
	assert_int_equal(m2d_sim_run(f.sim), 0);
	m2d_engine_enter(f.sim);
	for (unsigned t = 0; t < MT_THREADS; t++) {
		assert_int_equal(args[t].done, MT_OPS);
		rss += args[t].rss;
		shared_faults += args[t].shared_faults;
	}
	/* the shared mapping: every present page maps its page-cache frame */
	assert_true(shared_faults > MT_OPS);
	for (uint64_t p = 0; p < MT_SHARED_PAGES; p++) {
		struct m2d_mm_xlate x;

		m2d_mm_xlate(f.mm, shared + p * 4096, &x);
		if (!x.present)
			continue;
		rss += 4096;
		assert_non_null(file_lookup(shared_file, p));
		assert_int_equal(m2d_pfn_as_u64(x.pfn), folio_pfn(file_lookup(shared_file, p)));
	}
	assert_int_equal(stats(&f).rss_anon + stats(&f).rss_file, rss);
	assert_int_equal(f.rec->nr_start, f.rec->nr_end);
	{
		struct m2d_lock_stats ls = { 0 };

		m2d_sim_lock_stats(f.sim, "mmap_lock", &ls);
		/* interleaving evidence (0 with the sequential engine stub) */
		printf("test_mm_random_threads: %llu context switches, mmap_lock %llu "
		       "acquisitions, %llu contended\n",
		       (unsigned long long)m2d_sim_counter(f.sim, "context_switches"),
		       (unsigned long long)ls.acquisitions, (unsigned long long)ls.contended);
	}
	for (unsigned t = 0; t < MT_THREADS; t++) {
		rwin_fini(args[t].w);
		free(args[t].w);
	}
	assert_int_equal(m2d_mm_munmap(f.mm, shared, MT_SHARED_PAGES * 4096), 0);
	m2d_file_put(&shared_file);
	assert_int_equal(stats(&f).rss_anon + stats(&f).rss_file, 0);
	fx_fini(&f);
}

/*
 * HugeTLB HGM randomized test: one 1G page of a shared hugetlbfs file, with
 * HGM, under random UFFDIO_CONTINUE (4K and 2M), faults, MADV_COLLAPSE (2M
 * and 1G) and DONTNEED; the model tracks the mapped pieces and the page
 * tables that exist, and the folio's mapcounts (both schemes) and every
 * translation are checked after each operation.
 */
#define HGM_REGIONS 512
#define HGM_PAGES (HGM_REGIONS * 512)

struct hgm_model {
	bool leaf_1g;                      /* a PUD leaf maps the page */
	bool pud_table;                    /* the PUD entry points to a PMD table */
	bool leaf_2m[HGM_REGIONS];         /* a PMD leaf maps region r */
	bool pmd_table[HGM_REGIONS];       /* region r's PMD points to a PTE table */
	bool leaf_4k[HGM_PAGES];           /* a PTE maps page i */
};

static int hgm_level(const struct hgm_model *m, uint64_t i)
{
	if (m->leaf_1g)
		return M2D_LEVEL_1G;
	if (m->leaf_2m[i / 512])
		return M2D_LEVEL_2M;
	return m->leaf_4k[i] ? M2D_LEVEL_4K : 0;
}

static void hgm_map_4k(struct hgm_model *m, uint64_t i)
{
	m->pud_table = true;
	m->pmd_table[i / 512] = true;
	m->leaf_4k[i] = true;
}

static void hgm_random(enum m2d_mm_mapcount scheme, uint64_t seed)
{
	struct hgm_model *m = calloc(1, sizeof(*m));
	struct m2d_file *huge;
	struct m2d_folio *folio;
	struct fx f = { 0 };
	uint64_t rng = seed, hva;

	folio = hgm_setup(&f, scheme, &huge, &hva);

	for (unsigned op = 0; op < 400; op++) {
		unsigned kind = rnd(&rng) % 100;
		uint64_t i = rnd(&rng) % HGM_PAGES, r = i / 512;
		int ret, expect = 0;

		if (kind < 50) {
			/* UFFDIO_CONTINUE of a few 4K pages */
			uint64_t n = 1 + rnd(&rng) % 8, k;

			if (i + n > HGM_PAGES)
				n = HGM_PAGES - i;
			for (k = 0; k < n; k++) {
				if (hgm_level(m, i + k)) {
					expect = -EEXIST;
					break;
				}
				hgm_map_4k(m, i + k);
			}
			ret = m2d_mm_uffd_continue(f.mm, hva + i * 4096, n * 4096);
			assert_int_equal(ret, expect);
		} else if (kind < 62) {
			/* UFFDIO_CONTINUE of one 2M region */
			if (m->leaf_1g || m->leaf_2m[r]) {
				expect = -EEXIST;
			} else if (m->pmd_table[r]) {
				/* a table there: the piece goes down to 4K, page by page */
				for (uint64_t k = r * 512; k < r * 512 + 512; k++) {
					if (m->leaf_4k[k]) {
						expect = -EEXIST;
						break;
					}
					hgm_map_4k(m, k);
				}
			} else {
				m->pud_table = true;
				m->leaf_2m[r] = true;
			}
			ret = m2d_mm_uffd_continue(f.mm, hva + r * 2 * MiB, 2 * MiB);
			assert_int_equal(ret, expect);
		} else if (kind < 72) {
			/* a read fault: mapped at the level where the walk finds none */
			if (!hgm_level(m, i)) {
				if (!m->pud_table)
					m->leaf_1g = true;
				else if (!m->pmd_table[r])
					m->leaf_2m[r] = true;
				else
					m->leaf_4k[i] = true;
			}
			assert_int_equal(m2d_mm_fault(f.mm, hva + i * 4096, false), 0);
		} else if (kind < 84) {
			/* collapse one 2M region */
			if (!m->leaf_1g && m->pmd_table[r]) {
				memset(&m->leaf_4k[r * 512], 0, 512 * sizeof(bool));
				m->pmd_table[r] = false;
				m->leaf_2m[r] = true;
			}
			assert_int_equal(m2d_mm_madvise(f.mm, hva + r * 2 * MiB, 2 * MiB,
							M2D_MADV_COLLAPSE), 0);
		} else if (kind < 92) {
			/* collapse the whole page */
			if (m->pud_table) {
				memset(m, 0, sizeof(*m));
				m->leaf_1g = true;
			}
			assert_int_equal(m2d_mm_madvise(f.mm, hva, GiB, M2D_MADV_COLLAPSE), 0);
		} else {
			/* DONTNEED: leaves go, tables stay */
			m->leaf_1g = false;
			memset(m->leaf_2m, 0, sizeof(m->leaf_2m));
			memset(m->leaf_4k, 0, sizeof(m->leaf_4k));
			assert_int_equal(m2d_mm_madvise(f.mm, hva, GiB, M2D_MADV_DONTNEED), 0);
		}

		/* mapcounts */
		{
			uint64_t n4 = 0, n2 = 0;
			int64_t expect_map;

			for (uint64_t k = 0; k < HGM_PAGES; k++)
				n4 += m->leaf_4k[k];
			for (uint64_t k = 0; k < HGM_REGIONS; k++)
				n2 += m->leaf_2m[k];
			if (scheme == M2D_MM_MAPCOUNT_THP_LIKE)
				expect_map = (int64_t)(n4 + 512 * n2 + m->leaf_1g);
			else
				expect_map = (int64_t)(n4 + n2 + m->leaf_1g);
			if (m2d_folio_mapcount(folio) != expect_map)
				fail_msg("hgm op %u: mapcount %lld, model %lld (seed %llu)", op,
					 (long long)m2d_folio_mapcount(folio), (long long)expect_map,
					 (unsigned long long)seed);
		}
		/* translations and per-page mapcounts at a few random pages */
		for (unsigned k = 0; k < 64; k++) {
			uint64_t p = k == 0 ? i : rnd(&rng) % HGM_PAGES;
			struct m2d_mm_xlate x;
			int lvl = hgm_level(m, p);

			m2d_mm_xlate(f.mm, hva + p * 4096, &x);
			assert_int_equal(x.present, lvl != 0);
			if (lvl) {
				assert_int_equal(x.level, lvl);
				assert_int_equal(m2d_pfn_as_u64(x.pfn), folio_pfn(folio) + p);
			}
			if (scheme == M2D_MM_MAPCOUNT_THP_LIKE)
				assert_int_equal(m2d_folio_page_mapcount(f.host, folio, p),
						 lvl == M2D_LEVEL_4K || lvl == M2D_LEVEL_2M);
		}
	}
	assert_int_equal(m2d_mm_munmap(f.mm, hva, GiB), 0);
	assert_int_equal(m2d_folio_mapcount(folio), 0);
	m2d_file_put(&huge);
	free(m);
	fx_fini(&f);
}

static void test_mm_hgm_random(void **state)
{
	uint64_t seed = test_seed();

	printf("test_mm_hgm_random: seed %llu (M2D_TEST_SEED)\n", (unsigned long long)seed);
	hgm_random(M2D_MM_MAPCOUNT_THP_LIKE, seed);
	hgm_random(M2D_MM_MAPCOUNT_HEAD_ONLY, seed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mm_mprotect_2g_pud_two_pairs),
		cmocka_unit_test(test_mm_mprotect_2g_p4d_one_pair),
		cmocka_unit_test(test_mm_notifier_range_covers_populated_span),
		cmocka_unit_test(test_mm_mprotect_unpopulated_and_hugetlb),
		cmocka_unit_test(test_mm_collapse_4k_1g_thp_like),
		cmocka_unit_test(test_mm_collapse_4k_1g_head_only),
		cmocka_unit_test(test_mm_collapse_4k_2m_1g_thp_like),
		cmocka_unit_test(test_mm_collapse_4k_2m_1g_head_only),
		cmocka_unit_test(test_mm_hugetlb_fault_and_continue),
		cmocka_unit_test(test_mm_hugetlb_fault_mutex_table),
		cmocka_unit_test(test_mm_map_hugetlb_anon),
		cmocka_unit_test(test_mm_gup_readonly_vma),
		cmocka_unit_test(test_mm_protnone),
		cmocka_unit_test(test_mm_dontneed_unmaps_and_notifies),
		cmocka_unit_test(test_mm_thp_fault_and_split),
		cmocka_unit_test(test_mm_thp_collapse_anon),
		cmocka_unit_test(test_mm_pfnmap_huge),
		cmocka_unit_test(test_mm_munmap_frees_tables),
		cmocka_unit_test(test_mm_tlb_flush_ipis),
		cmocka_unit_test(test_mm_kvm_host_ops),
		cmocka_unit_test(test_mm_subscribe),
		cmocka_unit_test(test_mm_bad_input),
		cmocka_unit_test(test_mm_alloc_failures),
		cmocka_unit_test(test_mm_lockdep_asserts),
		cmocka_unit_test(test_mm_random_model),
		cmocka_unit_test(test_mm_random_threads),
		cmocka_unit_test(test_mm_hgm_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
