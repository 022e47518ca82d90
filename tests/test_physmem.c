// SPDX-License-Identifier: MIT
/*
 * tests/test_physmem.c - the buddy allocator and folios (lib/mm/physmem.c).
 *
 * The randomized test checks every allocation against a reference model:
 * a per-page owner array, from which the expected block (smallest order
 * with a free block, lowest address) and the exact buddyinfo (with eager
 * coalescing the free-block decomposition is unique) are recomputed.
 * Seed: M2D_TEST_SEED (default 1); printed on every run.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/engine.h"
#include "mm/physmem.h"

struct fixture {
	struct m2d_sim *sim;
	struct m2d_host *host;
};

static struct m2d_sim *new_sim(unsigned nodes)
{
	struct m2d_sim_config sc;
	struct m2d_sim *sim;

	m2d_sim_config_default(&sc);
	sc.nodes = nodes;
	sc.cpus = 4 * nodes;
	assert_int_equal(m2d_sim_create(&sim, &sc), 0);
	return sim;
}

static struct m2d_host *new_host(struct m2d_sim *sim, unsigned nodes, const uint64_t *bytes)
{
	struct m2d_host_config hc;
	struct m2d_host *host;

	m2d_host_config_default(&hc);
	hc.nodes = nodes;
	for (unsigned n = 0; n < nodes; n++)
		hc.node_bytes[n] = bytes[n];
	assert_int_equal(m2d_host_create(sim, &hc, &host), 0);
	return host;
}

static void free_host(struct m2d_sim *sim, struct m2d_host **host)
{
	m2d_host_destroy(host);
	m2d_engine_leave(sim);
	m2d_sim_destroy(&sim);
}

static uint64_t seed(void)
{
	const char *s = getenv("M2D_TEST_SEED");

	return s ? strtoull(s, NULL, 0) : 1;
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ---- exact counts ------------------------------------------------------------ */

static void test_physmem_initial_buddyinfo(void **state)
{
	struct m2d_sim *sim = new_sim(2);
	uint64_t bytes[2] = { 3 * M2D_SZ_1G + 6 * M2D_SZ_1M, 2 * M2D_SZ_1G };
	struct m2d_host *host;
	uint64_t bi[M2D_NR_ORDERS], start, nr;

	m2d_engine_enter(sim);
	host = new_host(sim, 2, bytes);
	assert_int_equal(m2d_physmem_buddyinfo(host, 0, bi), 0);
	for (unsigned o = 0; o < M2D_NR_ORDERS; o++)
		assert_int_equal(bi[o], o == 18 ? 3 : o == 10 || o == 9 ? 1 : 0);
	assert_int_equal(m2d_physmem_buddyinfo(host, 1, bi), 0);
	assert_int_equal(bi[18], 2);
	/* Node 1 starts at the next 1G boundary after node 0. */
	assert_int_equal(m2d_host_node_range(host, 1, &start, &nr), 0);
	assert_int_equal(start, 4ull << 18);
	assert_int_equal(nr, 2ull << 18);
	assert_int_equal(m2d_host_pfn_node(host, start), 1);
	assert_int_equal(m2d_host_pfn_node(host, start - 1), -EINVAL);
	assert_int_equal(m2d_physmem_free_pages(host, -1), (5ull << 18) + 3 * 512);
	assert_int_equal(m2d_physmem_buddyinfo(host, 2, bi), -EINVAL);
	free_host(sim, &host);
}

static void test_physmem_expand_and_coalesce(void **state)
{
	struct m2d_sim *sim = new_sim(1);
	uint64_t bytes[1] = { M2D_SZ_1G };
	struct m2d_host *host;
	struct m2d_folio *f, *g;
	uint64_t bi[M2D_NR_ORDERS];

	m2d_engine_enter(sim);
	host = new_host(sim, 1, bytes);
	assert_int_equal(m2d_folio_alloc(host, 0, 0, 0, &f), 0);
	assert_int_equal(m2d_folio_pfn(f), 0);
	assert_int_equal(m2d_folio_ref_count(f), 1);
	/* expand(): one free block at every order 0..17. */
	m2d_physmem_buddyinfo(host, 0, bi);
	for (unsigned o = 0; o < M2D_NR_ORDERS; o++)
		assert_int_equal(bi[o], o < 18 ? 1 : 0);
	assert_int_equal(m2d_physmem_split_blocks(host), 1);
	/* The next order-1 request takes the free order-1 block at pfn 2. */
	assert_int_equal(m2d_folio_alloc(host, 1, 0, 0, &g), 0);
	assert_int_equal(m2d_folio_pfn(g), 2);
	assert_ptr_equal(m2d_pfn_folio(host, 3), g);
	assert_ptr_equal(m2d_pfn_folio(host, 0), f);
	assert_null(m2d_pfn_folio(host, 1));
	assert_null(m2d_pfn_folio(host, 4));
	m2d_folio_get(g);
	m2d_folio_put(host, g);
	assert_ptr_equal(m2d_pfn_folio(host, 2), g);
	m2d_folio_put(host, g);
	m2d_folio_put(host, f);
	m2d_physmem_buddyinfo(host, 0, bi);
	for (unsigned o = 0; o < M2D_NR_ORDERS; o++)
		assert_int_equal(bi[o], o == 18 ? 1 : 0);
	assert_int_equal(m2d_physmem_split_blocks(host), 0);
	free_host(sim, &host);
}

static void test_physmem_bad_input(void **state)
{
	struct m2d_sim *sim = new_sim(1);
	uint64_t bytes[1] = { M2D_SZ_1G };
	struct m2d_host_config hc;
	struct m2d_host *host, *h2 = NULL;
	struct m2d_folio *f = NULL;

	m2d_engine_enter(sim);
	host = new_host(sim, 1, bytes);
	assert_int_equal(m2d_folio_alloc(host, 19, 0, 0, &f), -EINVAL);
	assert_int_equal(m2d_folio_alloc(host, 0, 1, 0, &f), -EINVAL);
	assert_int_equal(m2d_folio_alloc(host, 0, -2, 0, &f), -EINVAL);
	assert_int_equal(m2d_folio_alloc(host, 0, 0, 1u << 7, &f), -EINVAL);
	assert_null(f);
	m2d_host_config_default(&hc);
	hc.mem_bytes = M2D_SZ_1G + 4096;
	assert_int_equal(m2d_host_create(sim, &hc, &h2), -EINVAL);
	hc.mem_bytes = M2D_SZ_1G;
	hc.nodes = 0;
	assert_int_equal(m2d_host_create(sim, &hc, &h2), -EINVAL);
	hc.nodes = 1;
	hc.directmap_max_level = 4;
	assert_int_equal(m2d_host_create(sim, &hc, &h2), -EINVAL);
	hc.directmap_max_level = 3;
	hc.mem_bytes = 128 * M2D_SZ_1T; /* beyond the 4-level direct map */
	assert_int_equal(m2d_host_create(sim, &hc, &h2), -EINVAL);
	assert_null(h2);
	/* Exhaustion is -ENOMEM. */
	assert_int_equal(m2d_folio_alloc(host, 18, 0, 0, &f), 0);
	assert_int_equal(m2d_folio_alloc(host, 0, 0, 0, &f), -ENOMEM);
	assert_int_equal(m2d_folio_split(host, f, 18), -EINVAL);
	free_host(sim, &host);
}

static void test_physmem_node_fallback(void **state)
{
	struct m2d_sim *sim = new_sim(2);
	uint64_t bytes[2] = { 2 * M2D_SZ_1G, 2 * M2D_SZ_1G };
	struct m2d_host *host;
	struct m2d_folio *f[3], *g;

	m2d_engine_enter(sim);
	host = new_host(sim, 2, bytes);
	assert_int_equal(m2d_folio_alloc(host, 18, 0, 0, &f[0]), 0);
	assert_int_equal(m2d_folio_alloc(host, 18, 0, 0, &f[1]), 0);
	assert_int_equal(m2d_folio_nid(f[1]), 0);
	assert_int_equal(m2d_folio_alloc(host, 0, 0, M2D_GFP_THISNODE, &g), -ENOMEM);
	assert_int_equal(m2d_sim_counter(sim, "page_alloc_fallbacks"), 0);
	assert_int_equal(m2d_folio_alloc(host, 9, 0, 0, &f[2]), 0);
	assert_int_equal(m2d_folio_nid(f[2]), 1);
	assert_int_equal(m2d_folio_pfn(f[2]), 2ull << 18);
	assert_int_equal(m2d_sim_counter(sim, "page_alloc_fallbacks"), 1);
	/* -1 = NUMA_NO_NODE: the local node (CPU 0 outside a thread: node 0). */
	m2d_folio_put(host, f[0]);
	assert_int_equal(m2d_folio_alloc(host, 9, -1, 0, &g), 0);
	assert_int_equal(m2d_folio_nid(g), 0);
	m2d_folio_put(host, g);
	m2d_folio_put(host, f[1]);
	m2d_folio_put(host, f[2]);
	assert_int_equal(m2d_physmem_free_pages(host, -1), 4ull << 18);
	free_host(sim, &host);
}

/* ---- mapcounts and split ------------------------------------------------------------ */

static void test_physmem_mapcounts_lazy(void **state)
{
	struct m2d_sim *sim = new_sim(1);
	uint64_t bytes[1] = { 2 * M2D_SZ_1G };
	struct m2d_alloc_stats a0, a1;
	struct m2d_host *host;
	struct m2d_folio *f, *g;
	uint64_t atomics = 0;

	m2d_engine_enter(sim);
	host = new_host(sim, 1, bytes);
	assert_int_equal(m2d_folio_alloc(host, 18, 0, 0, &f), 0);
	assert_int_equal(m2d_folio_alloc(host, 18, 0, 0, &g), 0);

	/* head-only: one counter, one atomic for all 262,144 mappings. */
	assert_int_equal(m2d_folio_add_head_maps(g, 262144, &atomics), 0);
	assert_int_equal(atomics, 1);
	assert_int_equal(m2d_folio_mapcount(g), 262144);
	assert_false(m2d_folio_has_page_mapcounts(host, g));
	assert_int_equal(m2d_folio_remove_head_maps(g, 262144, &atomics), 0);
	assert_int_equal(atomics, 2);

	/* thp-like: 262,144 distinct counters, created on first subpage map. */
	m2d_alloc_stats_get(&a0);
	atomics = 0;
	assert_int_equal(m2d_folio_add_subpage_maps(host, f, 0, 262144, &atomics), 0);
	assert_int_equal(atomics, 262145);
	m2d_alloc_stats_get(&a1);
	assert_true(a1.live_bytes[M2D_ALLOC_PHYSMEM] - a0.live_bytes[M2D_ALLOC_PHYSMEM] >=
		    262144 * sizeof(int32_t));
	assert_true(m2d_folio_has_page_mapcounts(host, f));
	assert_int_equal(m2d_folio_page_mapcount(host, f, 4096), 1);
	assert_int_equal(m2d_folio_mapcount(f), 262144);
	assert_int_equal(m2d_folio_add_entire_map(f, &atomics), 0);
	assert_int_equal(m2d_folio_entire_mapcount(f), 1);
	assert_int_equal(m2d_folio_mapcount(f), 262145);
	/* Collapse: drop every 4K mapping (262,144 decrements + 1). */
	atomics = 0;
	assert_int_equal(m2d_folio_remove_subpage_maps(host, f, 0, 262144, &atomics), 0);
	assert_int_equal(atomics, 262145);
	assert_int_equal(m2d_folio_remove_subpage_maps(host, f, 0, 1, NULL), -EINVAL);
	assert_int_equal(m2d_folio_remove_entire_map(f, NULL), 0);
	assert_int_equal(m2d_folio_mapcount(f), 0);
	assert_int_equal(m2d_folio_add_subpage_maps(host, f, 262143, 2, NULL), -EINVAL);
	m2d_folio_put(host, f);
	m2d_folio_put(host, g);
	/* The counter array went with the folio (the small index table stays). */
	m2d_alloc_stats_get(&a1);
	assert_true(a1.live_bytes[M2D_ALLOC_PHYSMEM] <
		    a0.live_bytes[M2D_ALLOC_PHYSMEM] + 262144 * sizeof(int32_t));
	free_host(sim, &host);
}

static void test_physmem_split_folio(void **state)
{
	struct m2d_sim *sim = new_sim(1);
	uint64_t bytes[1] = { M2D_SZ_1G };
	struct m2d_host *host;
	struct m2d_folio *f, *p;
	uint64_t bi[M2D_NR_ORDERS];

	m2d_engine_enter(sim);
	host = new_host(sim, 1, bytes);
	assert_int_equal(m2d_folio_alloc(host, 18, 0, 0, &f), 0);
	m2d_folio_get(f);
	assert_int_equal(m2d_folio_split(host, f, 9), -EBUSY);
	m2d_folio_put(host, f);
	/* 1G -> 512 x 2M; then the 2M at 6M -> 512 x 4K. */
	assert_int_equal(m2d_folio_split(host, f, 9), 0);
	p = m2d_pfn_folio(host, 3 * 512 + 7);
	assert_non_null(p);
	assert_int_equal(m2d_folio_pfn(p), 3 * 512);
	assert_int_equal(m2d_folio_order(p), 9);
	assert_int_equal(m2d_folio_split(host, p, 0), 0);
	assert_int_equal(m2d_physmem_split_blocks(host), 1);
	p = m2d_pfn_folio(host, 3 * 512 + 7);
	assert_int_equal(m2d_folio_pfn(p), 3 * 512 + 7);
	assert_int_equal(m2d_folio_order(p), 0);
	/* Free everything in a scattered order: coalesces back to one 1G block. */
	for (uint64_t i = 0; i < 512; i++) {
		uint64_t b = (i * 37) % 512;

		if (b == 3) {
			for (uint64_t j = 0; j < 512; j++)
				m2d_folio_put(host, m2d_pfn_folio(host, 3 * 512 + (j * 101) % 512));
			continue;
		}
		m2d_folio_put(host, m2d_pfn_folio(host, b * 512));
	}
	m2d_physmem_buddyinfo(host, 0, bi);
	for (unsigned o = 0; o < M2D_NR_ORDERS; o++)
		assert_int_equal(bi[o], o == 18 ? 1 : 0);
	assert_int_equal(m2d_physmem_split_blocks(host), 0);
	free_host(sim, &host);
}

/* ---- pre-fragmentation ------------------------------------------------------------ */

static void test_physmem_prefragment_exact(void **state)
{
	struct m2d_sim *sim = new_sim(1);
	uint64_t bytes[1] = { 4 * M2D_SZ_1G };
	uint64_t target[M2D_NR_ORDERS] = { 0 }, bi[M2D_NR_ORDERS], init[M2D_NR_ORDERS];
	uint64_t too_much[M2D_NR_ORDERS] = { 0 };
	struct m2d_host *host;
	struct m2d_folio *f;

	m2d_engine_enter(sim);
	host = new_host(sim, 1, bytes);
	m2d_physmem_buddyinfo(host, 0, init);
	/* An allocation that exists before stays untouched. */
	assert_int_equal(m2d_folio_alloc(host, 3, 0, 0, &f), 0);
	target[0] = 1000;
	target[3] = 7;
	target[8] = 3;
	target[9] = 100;
	target[12] = 2;
	target[17] = 1;
	target[18] = 1;
	assert_int_equal(m2d_physmem_prefragment(host, 0, target), 0);
	m2d_physmem_buddyinfo(host, 0, bi);
	for (unsigned o = 0; o < M2D_NR_ORDERS; o++)
		assert_int_equal(bi[o], target[o]);
	assert_int_equal(m2d_physmem_prefragment(host, 0, target), -EBUSY);
	/* Allocations now see the fragmented state: a 2M request takes a free 2M block. */
	{
		struct m2d_folio *g;

		assert_int_equal(m2d_folio_alloc(host, 9, 0, 0, &g), 0);
		m2d_physmem_buddyinfo(host, 0, bi);
		assert_int_equal(bi[9], 99);
		m2d_folio_put(host, g);
	}
	assert_int_equal(m2d_physmem_release_filler(host, 0), 0);
	m2d_folio_put(host, f);
	m2d_physmem_buddyinfo(host, 0, bi);
	assert_memory_equal(bi, init, sizeof(bi));
	assert_int_equal(m2d_physmem_split_blocks(host), 0);
	/* Needs more than the node has. */
	too_much[17] = 5; /* 5 x 2 x 512M = 5 GiB > 4 GiB */
	assert_int_equal(m2d_physmem_prefragment(host, 0, too_much), -ENOSPC);
	m2d_physmem_buddyinfo(host, 0, bi);
	assert_memory_equal(bi, init, sizeof(bi));
	free_host(sim, &host);
}

/* ---- randomized, against a reference model ------------------------------------------ */

struct model {
	uint64_t start[2], end[2];    /* node pfn ranges */
	uint32_t *owner;              /* per page: 0 free, else folio id */
	uint32_t *used[M2D_NR_ORDERS];/* per aligned block of each order: pages in use */
	uint64_t base;                /* first pfn (1G-aligned) */
	uint64_t npages;
};

static void model_init(struct model *m)
{
	m->base = m->start[0];
	m->npages = m->end[1] - m->base;
	m->owner = calloc(m->npages, sizeof(uint32_t));
	assert_non_null(m->owner);
	for (unsigned o = 0; o < M2D_NR_ORDERS; o++) {
		m->used[o] = calloc((m->npages >> o) + 1, sizeof(uint32_t));
		assert_non_null(m->used[o]);
	}
}

static void model_fini(struct model *m)
{
	free(m->owner);
	for (unsigned o = 0; o < M2D_NR_ORDERS; o++)
		free(m->used[o]);
}

/* Mark [pfn, pfn + 2^order) owned by @id (0 = free). */
static void model_set(struct model *m, uint64_t pfn, unsigned order, uint32_t id)
{
	uint64_t rel = pfn - m->base;

	for (uint64_t i = 0; i < (1ull << order); i++) {
		if (id)
			assert_int_equal(m->owner[rel + i], 0); /* never double-allocated */
		m->owner[rel + i] = id;
	}
	for (unsigned o = 0; o < M2D_NR_ORDERS; o++) {
		if (o >= order) {
			m->used[o][rel >> o] += id ? (1u << order) : -(1u << order);
			continue;
		}
		for (uint64_t b = rel >> o; b < (rel + (1ull << order)) >> o; b++)
			m->used[o][b] = id ? 1u << o : 0;
	}
}

static bool model_block_free(const struct model *m, unsigned nid, uint64_t pfn, unsigned o)
{
	if (pfn < m->start[nid] || pfn + (1ull << o) > m->end[nid])
		return false;
	return m->used[o][(pfn - m->base) >> o] == 0;
}

static bool model_block_maximal(const struct model *m, unsigned nid, uint64_t pfn, unsigned o)
{
	return model_block_free(m, nid, pfn, o) &&
	       !(o < M2D_MAX_ORDER && model_block_free(m, nid, pfn & ~((2ull << o) - 1), o + 1));
}

/* Canonical buddyinfo: maximal free aligned blocks (eager coalescing makes it unique). */
static void model_buddyinfo(const struct model *m, unsigned nid, uint64_t bi[M2D_NR_ORDERS])
{
	memset(bi, 0, sizeof(uint64_t) * M2D_NR_ORDERS);
	for (unsigned o = 0; o <= M2D_MAX_ORDER; o++) {
		uint64_t sz = 1ull << o;

		for (uint64_t pfn = M2D_ALIGN_UP(m->start[nid], sz); pfn + sz <= m->end[nid];
		     pfn += sz)
			bi[o] += model_block_maximal(m, nid, pfn, o);
	}
}

/* Expected result of alloc(order) on @nid: smallest order with a free block, lowest pfn. */
static uint64_t model_expect(const struct model *m, unsigned nid, unsigned order)
{
	for (unsigned o = order; o <= M2D_MAX_ORDER; o++) {
		uint64_t sz = 1ull << o;

		for (uint64_t pfn = M2D_ALIGN_UP(m->start[nid], sz); pfn + sz <= m->end[nid];
		     pfn += sz)
			if (model_block_maximal(m, nid, pfn, o))
				return pfn;
	}
	return UINT64_MAX;
}

static void test_physmem_random_model(void **state)
{
	uint64_t s = seed();
	struct m2d_sim *sim = new_sim(2);
	/* Node 0: 256M + 10M (odd tail); node 1: 130M; orders 17, 18 never fit. */
	uint64_t bytes[2] = { 266 * M2D_SZ_1M, 130 * M2D_SZ_1M };
	struct m2d_host *host;
	struct model m;
	struct m2d_folio **live;
	uint64_t nlive = 0, init_bi[2][M2D_NR_ORDERS], bi[M2D_NR_ORDERS], mbi[M2D_NR_ORDERS];
	uint32_t next_id = 1;
	const unsigned steps = 10000;
	unsigned n_alloc = 0, n_enomem = 0, n_split = 0, n_free = 0;

	print_message("test_physmem_random_model: seed %llu (M2D_TEST_SEED)\n",
		      (unsigned long long)s);
	rng_state = s;
	m2d_engine_enter(sim);
	host = new_host(sim, 2, bytes);
	for (unsigned n = 0; n < 2; n++) {
		uint64_t nr;

		m2d_host_node_range(host, n, &m.start[n], &nr);
		m.end[n] = m.start[n] + nr;
		m2d_physmem_buddyinfo(host, n, init_bi[n]);
	}
	model_init(&m);
	live = calloc(steps, sizeof(*live));
	assert_non_null(live);

	for (unsigned step = 0; step < steps; step++) {
		bool do_alloc = nlive == 0 || rnd() % 100 < 60;

		if (do_alloc) {
			/* Mostly small orders, sometimes 2M..1G. */
			unsigned order = rnd() % 4 ? (unsigned)(rnd() % 10) : (unsigned)(9 + rnd() % 10);
			unsigned nid = (unsigned)(rnd() % 2);
			unsigned flags = rnd() % 4 ? 0 : M2D_GFP_THISNODE;
			uint64_t exp = model_expect(&m, nid, order);
			unsigned exp_nid = nid;
			struct m2d_folio *f;
			int ret;

			if (exp == UINT64_MAX && !flags) {
				exp_nid = 1 - nid;
				exp = model_expect(&m, exp_nid, order);
			}
			ret = m2d_folio_alloc(host, order, (int)nid, flags, &f);
			if (exp == UINT64_MAX) {
				assert_int_equal(ret, -ENOMEM);
				n_enomem++;
				continue;
			}
			n_alloc++;
			assert_int_equal(ret, 0);
			assert_int_equal(m2d_folio_pfn(f), exp);
			assert_int_equal(m2d_folio_nid(f), exp_nid);
			assert_int_equal(m2d_folio_order(f), order);
			model_set(&m, exp, order, next_id++);
			live[nlive++] = f;
		} else {
			uint64_t k = rnd() % nlive;
			struct m2d_folio *f = live[k];
			uint64_t pfn = m2d_folio_pfn(f);

			if (m2d_folio_order(f) > 0 && rnd() % 8 == 0) {
				/* Split, keep the pieces alive. */
				unsigned no = (unsigned)(rnd() % m2d_folio_order(f));
				uint64_t n = 1ull << (m2d_folio_order(f) - no);
				uint32_t id0 = m.owner[pfn - m.base];

				assert_int_equal(m2d_folio_split(host, f, no), 0);
				n_split++;
				live[k] = m2d_pfn_folio(host, pfn);
				for (uint64_t i = 1; i < n; i++) {
					uint64_t q = pfn + (i << no);
					struct m2d_folio *p = m2d_pfn_folio(host, q);

					assert_non_null(p);
					assert_int_equal(m2d_folio_pfn(p), q);
					assert_int_equal(m.owner[q - m.base], id0);
					model_set(&m, q, no, 0);
					if (nlive < steps) {
						model_set(&m, q, no, next_id++);
						live[nlive++] = p;
					} else {
						m2d_folio_put(host, p); /* no room: free it */
					}
				}
				continue;
			}
			model_set(&m, pfn, m2d_folio_order(f), 0);
			m2d_folio_put(host, f);
			n_free++;
			live[k] = live[--nlive];
		}
		/* Check buddyinfo exactly (and pfn_folio at random pages) now and then. */
		if (step % 50 == 0) {
			for (unsigned n = 0; n < 2; n++) {
				m2d_physmem_buddyinfo(host, n, bi);
				model_buddyinfo(&m, n, mbi);
				assert_memory_equal(bi, mbi, sizeof(bi));
			}
			for (int i = 0; i < 64; i++) {
				uint64_t pfn = m.base + rnd() % m.npages;
				struct m2d_folio *f = m2d_pfn_folio(host, pfn);

				if (pfn >= m.end[0] && pfn < m.start[1]) {
					assert_null(f);
					continue;
				}
				if (!m.owner[pfn - m.base]) {
					assert_null(f);
					continue;
				}
				assert_non_null(f);
				assert_true(m2d_folio_pfn(f) <= pfn &&
					    pfn < m2d_folio_pfn(f) + m2d_folio_nr_pages(f));
				assert_int_equal(m.owner[m2d_folio_pfn(f) - m.base],
						 m.owner[pfn - m.base]);
			}
		}
	}
	print_message("%u allocations, %u -ENOMEM, %u splits, %u frees, %llu live at the end\n",
		      n_alloc, n_enomem, n_split, n_free, (unsigned long long)nlive);
	/* Free everything in random order: back to the initial state. */
	while (nlive) {
		uint64_t k = rnd() % nlive;

		m2d_folio_put(host, live[k]);
		live[k] = live[--nlive];
	}
	for (unsigned n = 0; n < 2; n++) {
		m2d_physmem_buddyinfo(host, n, bi);
		assert_memory_equal(bi, init_bi[n], sizeof(bi));
	}
	assert_int_equal(m2d_physmem_split_blocks(host), 0);
	model_fini(&m);
	free(live);
	free_host(sim, &host);
}

/* ---- allocation failures: -ENOMEM, nothing leaked, state intact ---------------------- */

static uint64_t live_bytes(void)
{
	struct m2d_alloc_stats st;

	m2d_alloc_stats_get(&st);
	return st.live_bytes[M2D_ALLOC_PHYSMEM] + st.live_bytes[M2D_ALLOC_CPA] +
	       st.live_bytes[M2D_ALLOC_PT_PAGE] + st.live_bytes[M2D_ALLOC_PT_META];
}

static void test_physmem_alloc_failures(void **state)
{
	struct m2d_sim *sim = new_sim(2);
	struct m2d_host_config hc;
	struct m2d_host *host;
	uint64_t base, init[2][M2D_NR_ORDERS], bi[M2D_NR_ORDERS];
	uint64_t target[M2D_NR_ORDERS] = { 0 };
	int ret, n;

	m2d_engine_enter(sim);
	m2d_host_config_default(&hc);
	hc.nodes = 2;
	hc.mem_bytes = 4 * M2D_SZ_1G;
	base = live_bytes();
	/* m2d_host_create: every allocation site fails once. */
	for (n = 1;; n++) {
		m2d_alloc_fail_after((uint64_t)n);
		ret = m2d_host_create(sim, &hc, &host);
		m2d_alloc_fail_after(0);
		if (!ret)
			break;
		assert_int_equal(ret, -ENOMEM);
		assert_int_equal(live_bytes(), base);
	}
	assert_true(n > 10);
	m2d_physmem_buddyinfo(host, 0, init[0]);
	m2d_physmem_buddyinfo(host, 1, init[1]);
	target[0] = 3;
	target[4] = 2;
	target[9] = 5;
	/* A sequence of operations, failing at its n-th allocation. */
	for (n = 1; n < 400; n++) {
		struct m2d_folio *a = NULL, *b = NULL, *c = NULL, *d = NULL;
		uint64_t bpfn = 0;

		m2d_alloc_fail_after((uint64_t)n);
		ret = m2d_folio_alloc(host, 0, 0, 0, &a);
		assert_true(ret == 0 || ret == -ENOMEM);
		if (m2d_folio_alloc(host, 9, 0, 0, &b) == 0) {
			bpfn = m2d_folio_pfn(b);
			ret = m2d_folio_split(host, b, 2);
			assert_true(ret == 0 || ret == -ENOMEM);
			if (ret)
				m2d_folio_put(host, b);
			else
				for (uint64_t i = 0; i < 128; i++)
					m2d_folio_put(host, m2d_pfn_folio(host, bpfn + 4 * i));
		}
		if (m2d_folio_alloc(host, 18, 1, 0, &c) == 0) {
			ret = m2d_folio_add_subpage_maps(host, c, 10, 100, NULL);
			assert_true(ret == 0 || ret == -ENOMEM);
			if (!ret)
				assert_int_equal(m2d_folio_remove_subpage_maps(host, c, 10, 100, NULL), 0);
		}
		ret = m2d_folio_alloc(host, 3, 1, 0, &d);
		assert_true(ret == 0 || ret == -ENOMEM);
		ret = m2d_physmem_prefragment(host, 0, target);
		assert_true(ret == 0 || ret == -ENOMEM);
		if (!ret) {
			m2d_physmem_buddyinfo(host, 0, bi);
			assert_memory_equal(bi, target, sizeof(bi));
		}
		m2d_alloc_fail_after(0);
		m2d_physmem_release_filler(host, 0);
		m2d_folio_put(host, a);
		m2d_folio_put(host, c);
		m2d_folio_put(host, d);
		for (unsigned nid = 0; nid < 2; nid++) {
			m2d_physmem_buddyinfo(host, nid, bi);
			assert_memory_equal(bi, init[nid], sizeof(bi));
		}
		assert_int_equal(m2d_physmem_split_blocks(host), 0);
	}
	m2d_host_destroy(&host);
	assert_int_equal(live_bytes(), base);
	m2d_engine_leave(sim);
	m2d_sim_destroy(&sim);
}

/* ---- memory: no per-4K metadata for 2M/1G-only memory -------------------------------- */

static void alloc_all(struct m2d_host *host, unsigned order, struct m2d_folio **v, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(m2d_folio_alloc(host, order, (int)(i & 1), M2D_GFP_THISNODE, &v[i]), 0);
}

static void test_physmem_4t_no_per_4k_metadata(void **state)
{
	struct m2d_sim *sim = new_sim(2);
	uint64_t bytes[2] = { 2 * M2D_SZ_1T, 2 * M2D_SZ_1T };
	const uint64_t pages_4k = (4 * M2D_SZ_1T) >> M2D_PAGE_SHIFT;
	struct m2d_alloc_stats st;
	struct m2d_host *host;
	struct m2d_folio **v;
	struct m2d_folio *f;
	uint64_t n1g = 4096, n2m = 4096 * 512;

	m2d_engine_enter(sim);
	host = new_host(sim, 2, bytes);
	v = calloc(n2m, sizeof(*v));
	assert_non_null(v);

	alloc_all(host, 18, v, n1g);
	assert_int_equal(m2d_folio_alloc(host, 0, 0, 0, &f), -ENOMEM);
	m2d_alloc_stats_get(&st);
	/* Less than one bit per 4K page in all; no split 2M block. */
	assert_true(st.live_bytes[M2D_ALLOC_PHYSMEM] < pages_4k / 8);
	assert_int_equal(m2d_physmem_split_blocks(host), 0);
	for (uint64_t i = 0; i < n1g; i++)
		m2d_folio_put(host, v[i]);

	alloc_all(host, 9, v, n2m);
	assert_int_equal(m2d_physmem_free_pages(host, -1), 0);
	m2d_alloc_stats_get(&st);
	print_message("4 TiB as 2M folios: physmem metadata %llu bytes (%.3f bytes per 4K page)\n",
		      (unsigned long long)st.live_bytes[M2D_ALLOC_PHYSMEM],
		      (double)st.live_bytes[M2D_ALLOC_PHYSMEM] / (double)pages_4k);
	assert_true(st.live_bytes[M2D_ALLOC_PHYSMEM] < pages_4k / 8);
	assert_int_equal(m2d_physmem_split_blocks(host), 0);
	assert_ptr_equal(m2d_pfn_folio(host, m2d_folio_pfn(v[12345]) + 511), v[12345]);
	for (uint64_t i = 0; i < n2m; i++)
		m2d_folio_put(host, v[i]);
	assert_int_equal(m2d_physmem_free_pages(host, -1), pages_4k);
	free(v);
	free_host(sim, &host);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_physmem_initial_buddyinfo),
		cmocka_unit_test(test_physmem_expand_and_coalesce),
		cmocka_unit_test(test_physmem_bad_input),
		cmocka_unit_test(test_physmem_node_fallback),
		cmocka_unit_test(test_physmem_mapcounts_lazy),
		cmocka_unit_test(test_physmem_split_folio),
		cmocka_unit_test(test_physmem_prefragment_exact),
		cmocka_unit_test(test_physmem_random_model),
		cmocka_unit_test(test_physmem_alloc_failures),
		cmocka_unit_test(test_physmem_4t_no_per_4k_metadata),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
