// SPDX-License-Identifier: MIT
/*
 * tests/test_guest.c - the guest kernel model: watermarks, accept_memory
 * (unit bitmap, end extension, accepting_list), the allocator's lazy
 * acceptance, PSC descriptors and VMGEXIT re-issue, PVALIDATE fallback,
 * KVM's snp_begin_psc merging, guest page tables.  Exact counts are derived
 * here from the kernel's arithmetic; a seeded randomized test checks the
 * bitmap against a reference model (M2D_TEST_SEED=N reproduces a run).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mmu2d/guest.h>
#include <mmu2d/kvm.h>
#include <mmu2d/sim.h>

#include "core/engine.h"
#include "guest/guest.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* ---- a recording hypervisor ---------------------------------------------- */

struct rec {
	unsigned per_call;       /* entries the "hypervisor" completes per VMGEXIT (0 = all) */
	uint64_t mismatch_gpa;   /* 2M PVALIDATE here reports SIZEMISMATCH (~0: none) */
	uint64_t vmgexits, entries, pval2m, pval4k, evicted;
	uint64_t last_gfn[256];  /* gfns of the 2M entries seen, in order */
	unsigned nlast;
};

static int rec_psc(void *arch, int cpu, struct m2d_psc_desc *d)
{
	struct rec *r = arch;
	unsigned n = 0;

	(void)cpu;
	r->vmgexits++;
	while (d->cur_entry <= d->end_entry && (!r->per_call || n < r->per_call)) {
		struct m2d_psc_entry *e = &d->entries[d->cur_entry];

		if (e->pagesize_2m && r->nlast < 256)
			r->last_gfn[r->nlast++] = e->gfn;
		e->cur_page = e->pagesize_2m ? 512 : 1;
		d->cur_entry++;
		r->entries++;
		n++;
	}
	return 0;
}

static enum m2d_guest_pval rec_pval(void *arch, int cpu, uint64_t gpa, int level)
{
	struct rec *r = arch;

	(void)cpu;
	if (level == M2D_LEVEL_2M) {
		r->pval2m++;
		return gpa == r->mismatch_gpa ? M2D_GUEST_PVAL_SIZEMISMATCH : M2D_GUEST_PVAL_OK;
	}
	r->pval4k++;
	return M2D_GUEST_PVAL_OK;
}

static void rec_evict(void *arch, int cpu, uint64_t gpa, uint64_t size)
{
	(void)cpu;
	(void)gpa;
	((struct rec *)arch)->evicted += size;
}

static const struct m2d_guest_arch_ops rec_ops = {
	.vmgexit_psc = rec_psc,
	.pvalidate = rec_pval,
	.evict_cache = rec_evict,
};

struct env {
	struct m2d_sim *sim;
	struct m2d_guest *g;
	struct rec rec;
};

static void env_setup(struct env *e, uint64_t size, uint64_t unaccepted_from)
{
	struct m2d_sim_config scfg;
	struct m2d_guest_config cfg;

	memset(e, 0, sizeof(*e));
	e->rec.mismatch_gpa = ~0ull;
	m2d_sim_config_default(&scfg);
	scfg.cpus = 4;
	assert_int_equal(m2d_sim_create(&e->sim, &scfg), 0);
	m2d_engine_enter(e->sim);
	m2d_guest_config_default(&cfg);
	cfg.ram_size = size;
	cfg.unaccepted_from = unaccepted_from;
	assert_int_equal(m2d_guest_create(&e->g, &cfg, &rec_ops, &e->rec), 0);
}

static void env_teardown(struct env *e)
{
	m2d_guest_destroy(&e->g);
	assert_null(e->g);
	m2d_engine_leave(e->sim);
	m2d_sim_destroy(&e->sim);
}

/* ---- tests ------------------------------------------------------------------ */

static uint64_t isqrt(uint64_t x)
{
	uint64_t r = 0;

	while ((r + 1) * (r + 1) <= x)
		r++;
	return r;
}

/* calculate_min_free_kbytes + __setup_per_zone_wmarks, by hand. */
static void test_watermarks(void **state)
{
	static const uint64_t sizes[] = { 64 * MiB, 16 * GiB };
	struct env e;
	struct m2d_guest_stats st;

	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		uint64_t pages = sizes[i] >> 12, min_kb = isqrt(pages * 4 * 16), tmp;

		env_setup(&e, sizes[i], 0);
		m2d_guest_stats_get(e.g, &st);
		if (min_kb < 128)
			min_kb = 128;
		tmp = pages * 10 / 10000 > min_kb / 16 ? pages * 10 / 10000 : min_kb / 16;
		assert_int_equal(st.wmark_min, min_kb / 4);
		assert_int_equal(st.wmark_low, min_kb / 4 + tmp);
		assert_int_equal(st.wmark_high, min_kb / 4 + 2 * tmp);
		assert_int_equal(st.free_pages, pages);
		assert_int_equal(st.unaccepted_pages, pages);
		env_teardown(&e);
	}
	/* 1 TiB: min_free_kbytes = sqrt(2^30 * 16) = 131072 KiB. */
	env_setup(&e, 1024 * GiB, 0);
	m2d_guest_stats_get(e.g, &st);
	assert_int_equal(st.wmark_min, 32768);
	assert_int_equal(st.wmark_low, 32768 + 268435);
	assert_int_equal(st.wmark_high, 32768 + 2 * 268435);
	env_teardown(&e);
}

/* accept_memory of one 4 MiB block: the end extension accepts 3 units. */
static void test_accept_extension(void **state)
{
	struct env e;
	struct m2d_guest_stats st;

	(void)state;
	env_setup(&e, 64 * MiB, 0);
	assert_int_equal(m2d_guest_accept_memory(e.g, 0, 8 * MiB, 4 * MiB), 0);
	for (uint64_t a = 0; a < 64 * MiB; a += 2 * MiB)
		assert_int_equal(m2d_guest_range_unaccepted(e.g, a), !(a >= 8 * MiB && a < 14 * MiB));
	m2d_guest_stats_get(e.g, &st);
	assert_int_equal(st.accepted_bytes, 6 * MiB);
	assert_int_equal(st.arch_accepts, 1);
	assert_int_equal(st.psc_descs, 1);
	assert_int_equal(st.psc_entries_2m, 3);
	assert_int_equal(st.psc_entries_4k, 0);
	assert_int_equal(e.rec.vmgexits, 1);
	assert_int_equal(e.rec.pval2m, 3);
	assert_int_equal(e.rec.evicted, 6 * MiB);
	/* The next block: unit 6 is done, units 7 and 8 remain. */
	assert_int_equal(m2d_guest_accept_memory(e.g, 0, 12 * MiB, 4 * MiB), 0);
	m2d_guest_stats_get(e.g, &st);
	assert_int_equal(st.accepted_bytes, 10 * MiB);
	assert_int_equal(e.rec.last_gfn[3], (14 * MiB) >> 12);
	/* Unaligned end: no extension; an accepted range is a no-op. */
	assert_int_equal(m2d_guest_accept_memory(e.g, 0, 20 * MiB + 4096, 8192), 0);
	m2d_guest_stats_get(e.g, &st);
	assert_int_equal(st.accepted_bytes, 12 * MiB);
	assert_int_equal(m2d_guest_accept_memory(e.g, 0, 8 * MiB, 2 * MiB - 4096), 0);
	m2d_guest_stats_get(e.g, &st);
	assert_int_equal(st.accepted_bytes, 12 * MiB);
	assert_int_equal(st.arch_accepts, 3);
	/* The last unit: the extension is clipped to the bitmap. */
	assert_int_equal(m2d_guest_accept_memory(e.g, 0, 62 * MiB, 2 * MiB), 0);
	m2d_guest_stats_get(e.g, &st);
	assert_int_equal(st.accepted_bytes, 14 * MiB);
	env_teardown(&e);
}

/* 64 entries per descriptor; the hypervisor doing one entry per VMGEXIT. */
static void test_psc_batching(void **state)
{
	struct env e;
	struct m2d_guest_stats st;

	(void)state;
	env_setup(&e, 1 * GiB, 0);
	/* [0, 256M) + the extension unit = 129 2M units -> 64 + 64 + 1 entries. */
	assert_int_equal(m2d_guest_accept_memory(e.g, 0, 0, 256 * MiB), 0);
	m2d_guest_stats_get(e.g, &st);
	assert_int_equal(st.psc_descs, 3);
	assert_int_equal(st.psc_entries_2m, 129);
	assert_int_equal(st.vmgexits, 3);
	assert_int_equal(e.rec.pval2m, 129);
	assert_int_equal(st.accepted_bytes, 258 * MiB);
	/* Re-issue: one entry per VMGEXIT -> one VMGEXIT per entry. */
	e.rec.per_call = 1;
	e.rec.vmgexits = 0;
	assert_int_equal(m2d_guest_accept_memory(e.g, 0, 512 * MiB, 8 * MiB), 0);
	assert_int_equal(e.rec.vmgexits, 5);
	env_teardown(&e);
}

/* A 2M PVALIDATE reporting SIZEMISMATCH is redone as 512 4K PVALIDATEs. */
static void test_pvalidate_fallback(void **state)
{
	struct env e;
	struct m2d_guest_stats st;

	(void)state;
	env_setup(&e, 64 * MiB, 0);
	e.rec.mismatch_gpa = 2 * MiB;
	assert_int_equal(m2d_guest_accept_memory(e.g, 0, 0, 4 * MiB), 0);
	m2d_guest_stats_get(e.g, &st);
	assert_int_equal(st.pvalidate_2m, 3);
	assert_int_equal(st.pvalidate_fallbacks, 1);
	assert_int_equal(st.pvalidate_4k, 512);
	assert_int_equal(e.rec.pval4k, 512);
	env_teardown(&e);
}

/*
 * The allocator: all memory unaccepted.  Allocation proceeds while
 * free - low > 0; when the check fails, try_to_accept_memory accepts
 * ceil((high - free) / 1024) blocks (at least one).  With high - low <
 * 1024 that is one block per failure, so after N pages k blocks were
 * accepted, k the least with k * 1024 - low >= N, and the bitmap shows
 * 2k + 1 units (the first block's extension unit).
 */
static void test_alloc_lazy_accept(void **state)
{
	static const uint64_t ns[] = { 1, 703, 704, 705, 5000, 12000 };
	struct env e;
	struct m2d_guest_stats st;

	(void)state;
	for (unsigned i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		uint64_t n = ns[i], k, low, high, *gpas = calloc(n, sizeof(*gpas)), first;

		env_setup(&e, 64 * MiB, 0);
		m2d_guest_stats_get(e.g, &st);
		low = st.wmark_low;
		high = st.wmark_high;
		assert_true(high - low < 1024 && high <= 1024);
		assert_int_equal(m2d_guest_alloc_pages(e.g, 0, n, gpas), (int64_t)n);
		/* The first failure (free 0) accepts ceil(high / 1024) = 1 block. */
		k = (n + low + 1023) / 1024;
		m2d_guest_stats_get(e.g, &st);
		assert_int_equal(st.blocks_accepted, k);
		assert_int_equal(st.vmgexits, k);
		assert_int_equal(st.accepted_bytes, (2 * k + 1) * 2 * MiB);
		assert_int_equal(st.allocated_pages, n);
		assert_int_equal(st.free_pages, 16384 - n);
		assert_int_equal(st.unaccepted_pages, 16384 - k * 1024);
		/* Pages come in address order from the accepted blocks. */
		first = 0;
		for (uint64_t j = 0; j < n; j++)
			assert_int_equal(gpas[j], first + j * 4096);
		free(gpas);
		env_teardown(&e);
	}
}

/* Pre-accepted memory below the watermark gap; exhaustion. */
static void test_alloc_exhaust(void **state)
{
	struct env e;
	struct m2d_guest_stats st;
	int64_t got;

	(void)state;
	env_setup(&e, 64 * MiB, 8 * MiB);
	m2d_guest_stats_get(e.g, &st);
	assert_int_equal(st.unaccepted_pages, 16384 - 2048);
	/* 2048 accepted pages: 2048 - low fit before the first acceptance. */
	assert_int_equal(m2d_guest_alloc_pages(e.g, 1, 2048 - st.wmark_low, NULL),
			 (int64_t)(2048 - st.wmark_low));
	m2d_guest_stats_get(e.g, &st);
	assert_int_equal(st.blocks_accepted, 0);
	assert_int_equal(m2d_guest_alloc_pages(e.g, 1, 1, NULL), 1);
	m2d_guest_stats_get(e.g, &st);
	assert_int_equal(st.blocks_accepted, 1);
	/* Everything: the zone stops at the min watermark. */
	got = m2d_guest_alloc_pages(e.g, 1, 1ull << 20, NULL);
	m2d_guest_stats_get(e.g, &st);
	assert_int_equal(st.unaccepted_pages, 0);
	assert_int_equal(st.free_pages, st.wmark_min);
	assert_int_equal((uint64_t)got + 2048 - st.wmark_low + 1, 16384 - st.wmark_min);
	assert_int_equal(st.accepted_bytes, 56 * MiB);
	env_teardown(&e);
}

static void test_bad_config(void **state)
{
	struct m2d_guest_config cfg;
	struct m2d_guest *g = NULL;
	struct m2d_sim *sim;
	struct m2d_sim_config scfg;

	(void)state;
	m2d_sim_config_default(&scfg);
	assert_int_equal(m2d_sim_create(&sim, &scfg), 0);
	m2d_engine_enter(sim);
	m2d_guest_config_default(&cfg);
	assert_int_equal(m2d_guest_create(&g, &cfg, NULL, NULL), -EINVAL); /* size 0 */
	cfg.ram_size = 6 * MiB;
	assert_int_equal(m2d_guest_create(&g, &cfg, NULL, NULL), -EINVAL); /* not 4M */
	cfg.ram_size = 8 * MiB;
	cfg.ram_base = 2 * MiB;
	assert_int_equal(m2d_guest_create(&g, &cfg, NULL, NULL), -EINVAL);
	cfg.ram_base = 0;
	cfg.unaccepted_from = 1 * MiB;
	assert_int_equal(m2d_guest_create(&g, &cfg, NULL, NULL), -EINVAL);
	cfg.unaccepted_from = 0;
	cfg.psc_max_entry = 65;
	assert_int_equal(m2d_guest_create(&g, &cfg, NULL, NULL), -EINVAL);
	cfg.psc_max_entry = 64;
	assert_int_equal(m2d_guest_create(&g, &cfg, NULL, NULL), 0);
	/* Without arch ops acceptance only clears the bitmap. */
	assert_int_equal(m2d_guest_accept_memory(g, 0, 0, 4 * MiB), 0);
	assert_false(m2d_guest_range_unaccepted(g, 4 * MiB));
	assert_true(m2d_guest_range_unaccepted(g, 6 * MiB));
	m2d_guest_destroy(&g);
	m2d_engine_leave(sim);
	m2d_sim_destroy(&sim);
}

/* Random accept_memory calls against a reference bitmap with the kernel's rules. */
static void test_accept_random(void **state)
{
	const char *s = getenv("M2D_TEST_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : 0x5eed2024ull, x;
	enum { UNITS = 256 };
	bool ref[UNITS];
	uint64_t ref_bytes = 0;
	struct env e;
	struct m2d_guest_stats st;

	(void)state;
	printf("test_accept_random: seed %" PRIu64 " (M2D_TEST_SEED=N to reproduce)\n", seed);
	x = seed | 1;
	env_setup(&e, UNITS * 2 * MiB, 0);
	for (unsigned i = 0; i < UNITS; i++)
		ref[i] = true;
	for (unsigned op = 0; op < 2000; op++) {
		uint64_t start, size, end, us, ue;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		start = (x % (UNITS * 512ull)) << 12;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		size = ((x % 2048) + 1) << 12;
		assert_int_equal(m2d_guest_accept_memory(e.g, (int)(op % 4), start, size), 0);
		end = start + size;
		if (!(end % (2 * MiB)))
			end += 2 * MiB;
		if (end > UNITS * 2 * MiB)
			end = UNITS * 2 * MiB;
		us = start / (2 * MiB);
		ue = (end + 2 * MiB - 1) / (2 * MiB);
		for (uint64_t u = us; u < ue; u++)
			if (ref[u]) {
				ref[u] = false;
				ref_bytes += 2 * MiB;
			}
		for (unsigned u = 0; u < UNITS; u++)
			assert_int_equal(m2d_guest_range_unaccepted(e.g, u * 2 * MiB), ref[u]);
	}
	m2d_guest_stats_get(e.g, &st);
	assert_int_equal(st.accepted_bytes, ref_bytes);
	/* Every accepted unit was PVALIDATEd at 2M exactly once (all runs aligned). */
	assert_int_equal(e.rec.pval2m + e.rec.pval4k / 512, ref_bytes / (2 * MiB));
	env_teardown(&e);
}

/* ---- KVM's snp_begin_psc merging ------------------------------------------- */

struct psc_vmm {
	unsigned n;
	struct m2d_kvm_exit ex[16];
};

static enum m2d_kvm_exit_action psc_vmm(struct m2d_vcpu *vcpu, const struct m2d_kvm_exit *ex,
					void *arg)
{
	struct psc_vmm *v = arg;

	(void)vcpu;
	if (v->n < 16)
		v->ex[v->n] = *ex;
	v->n++;
	return M2D_KVM_EXIT_RETRY;
}

/* A host with nothing mapped: PSC exits never reach it. */
static bool no_gup_fast(void *mm, uint64_t hva, bool write, uint64_t *pfn, bool *writable)
{
	(void)mm, (void)hva, (void)write, (void)pfn, (void)writable;
	return false;
}
static long no_gup_slow(void *mm, uint64_t hva, bool write, bool nowait, uint64_t *pfn,
			bool *writable)
{
	(void)mm, (void)hva, (void)write, (void)nowait, (void)pfn, (void)writable;
	return -EFAULT;
}
static void no_lock(void *mm)
{
	(void)mm;
}
static int no_vma(void *mm, uint64_t hva, struct m2d_kvm_vma_info *out)
{
	(void)mm, (void)hva, (void)out;
	return -ENOENT;
}
static int no_level(void *mm, uint64_t hva)
{
	(void)mm, (void)hva;
	return 1;
}

static struct m2d_psc_desc *psc_cur;
static int psc_expect;

static void guest_psc(struct m2d_vcpu *vcpu, void *arg)
{
	(void)arg;
	assert_int_equal(m2d_vcpu_vmgexit_psc(vcpu, psc_cur), psc_expect);
}

static void add(struct m2d_psc_desc *d, uint64_t gfn, bool huge, uint8_t op, uint16_t cur_page)
{
	unsigned i = d->end_entry + (d->cur_entry == 0xffff ? 0 : 1);

	if (d->cur_entry == 0xffff) {
		d->cur_entry = 0;
		i = 0;
	}
	d->end_entry = (uint16_t)i;
	d->entries[i] = (struct m2d_psc_entry){ .gfn = gfn, .pagesize_2m = huge, .operation = op,
						.cur_page = cur_page };
}

static void test_kvm_psc_merge(void **state)
{
	struct m2d_sim_config scfg;
	struct m2d_vm_config vcfg;
	struct m2d_kvm_host_ops ops;
	struct m2d_sim *sim;
	struct m2d_vm *vm;
	struct m2d_vcpu *vcpu;
	struct m2d_psc_desc d;
	struct psc_vmm v;

	(void)state;
	m2d_sim_config_default(&scfg);
	assert_int_equal(m2d_sim_create(&sim, &scfg), 0);
	m2d_engine_enter(sim);
	m2d_vm_config_default(&vcfg);
	vcfg.vendor = M2D_KVM_VENDOR_AMD;
	memset(&ops, 0, sizeof(ops));
	ops.gup_fast = no_gup_fast;
	ops.gup_slow = no_gup_slow;
	ops.mmap_read_lock = no_lock;
	ops.mmap_read_unlock = no_lock;
	ops.vma_lookup = no_vma;
	ops.host_mapping_level = no_level;
	assert_int_equal(m2d_vm_create(&vm, sim, &vcfg, &ops), 0);
	assert_int_equal(m2d_vcpu_create(vm, 0, &vcpu), 0);
	psc_cur = &d;

	/* Three contiguous 2M private entries: one exit of 1536 pages. */
	memset(&d, 0, sizeof(d));
	d.cur_entry = 0xffff;
	add(&d, 0x800, true, M2D_PSC_OP_PRIVATE, 0);
	add(&d, 0xa00, true, M2D_PSC_OP_PRIVATE, 0);
	add(&d, 0xc00, true, M2D_PSC_OP_PRIVATE, 0);
	memset(&v, 0, sizeof(v));
	assert_int_equal(m2d_vcpu_run(vcpu, guest_psc, NULL, psc_vmm, &v), 0);
	assert_int_equal(v.n, 1);
	assert_int_equal(v.ex[0].reason, M2D_KVM_EXIT_HYPERCALL);
	assert_int_equal(v.ex[0].gpa, 0x800ull << 12);
	assert_int_equal(v.ex[0].size, 1536);
	assert_int_equal(v.ex[0].flags,
			 M2D_KVM_MAP_GPA_RANGE_ENCRYPTED | M2D_KVM_MAP_GPA_RANGE_PAGE_SZ_2M);
	assert_int_equal(d.cur_entry, 3);
	assert_int_equal(d.entries[2].cur_page, 512);

	/*
	 * A gap, a page-size change, an operation change, a partly done 2M
	 * entry (continues as 4K) and a PSMASH (no exit): 5 exits.
	 */
	memset(&d, 0, sizeof(d));
	d.cur_entry = 0xffff;
	add(&d, 0x000, true, M2D_PSC_OP_PRIVATE, 0);
	add(&d, 0x400, true, M2D_PSC_OP_PRIVATE, 0);   /* gap */
	add(&d, 0x600, false, M2D_PSC_OP_PRIVATE, 0);  /* 4K after 2M */
	add(&d, 0x601, false, M2D_PSC_OP_PRIVATE, 0);  /* merges */
	add(&d, 0x602, false, M2D_PSC_OP_SHARED, 0);   /* op change */
	add(&d, 0x800, true, M2D_PSC_OP_PSMASH, 0);    /* no exit */
	add(&d, 0xa00, true, M2D_PSC_OP_PRIVATE, 100); /* partial: 412 4K pages */
	memset(&v, 0, sizeof(v));
	assert_int_equal(m2d_vcpu_run(vcpu, guest_psc, NULL, psc_vmm, &v), 0);
	assert_int_equal(v.n, 5);
	assert_int_equal(v.ex[0].size, 512);
	assert_int_equal(v.ex[1].gpa, 0x400ull << 12);
	assert_int_equal(v.ex[2].size, 2);
	assert_int_equal(v.ex[2].flags, M2D_KVM_MAP_GPA_RANGE_ENCRYPTED);
	assert_int_equal(v.ex[3].flags, M2D_KVM_MAP_GPA_RANGE_DECRYPTED);
	assert_int_equal(v.ex[4].gpa, (0xa00ull + 100) << 12);
	assert_int_equal(v.ex[4].size, 412);
	assert_int_equal(v.ex[4].flags, M2D_KVM_MAP_GPA_RANGE_ENCRYPTED);
	assert_int_equal(d.cur_entry, 7);
	assert_int_equal(m2d_sim_counter(sim, "psc_exits"), 6);

	/* Malformed: a misaligned 2M gfn. */
	memset(&d, 0, sizeof(d));
	d.cur_entry = 0xffff;
	add(&d, 0x801, true, M2D_PSC_OP_PRIVATE, 0);
	memset(&v, 0, sizeof(v));
	psc_expect = -EINVAL;
	assert_int_equal(m2d_vcpu_run(vcpu, guest_psc, NULL, psc_vmm, &v), 0);
	assert_int_equal(v.n, 0);
	psc_expect = M2D_GUEST_ACCESS_DONE;
	m2d_vm_destroy(&vm);
	m2d_engine_leave(sim);
	m2d_sim_destroy(&sim);
}

/* ---- guest page tables ------------------------------------------------------- */

static void test_guest_pt(void **state)
{
	struct m2d_sim_config scfg;
	struct m2d_sim *sim;
	struct m2d_guest_pt *gpt;
	uint64_t gpa, ents[5];
	unsigned n;
	int level;

	(void)state;
	m2d_sim_config_default(&scfg);
	assert_int_equal(m2d_sim_create(&sim, &scfg), 0);
	m2d_engine_enter(sim);
	/* x86 selftest: 132 GiB identity-mapped with 1G pages: PML4 + PDPT. */
	assert_int_equal(m2d_guest_pt_create(&gpt, 0, 132 * GiB, M2D_LEVEL_1G, false, 0x100000),
			 0);
	assert_int_equal(m2d_guest_pt_tables(gpt), 2);
	assert_int_equal(m2d_guest_pt_translate(gpt, 100 * GiB + 4096 * 7, &gpa, &level, ents, &n),
			 0);
	assert_int_equal(gpa, 100 * GiB + 4096 * 7);
	assert_int_equal(level, M2D_LEVEL_1G);
	assert_int_equal(n, 2);
	assert_int_equal(ents[0], 0x100000);             /* PML4 entry 0 */
	assert_int_equal(ents[1], 0x101000 + 100 * 8);   /* PDPT entry 100 */
	assert_int_equal(m2d_guest_pt_translate(gpt, 200 * GiB, &gpa, &level, ents, &n), -EFAULT);
	m2d_guest_pt_destroy(&gpt);
	/* arm64: 4K leaves over 4 GiB + 8 GiB: 1 + 1 + 12 + 12 * 512 tables. */
	assert_int_equal(m2d_guest_pt_create(&gpt, 4 * GiB, 8 * GiB, M2D_LEVEL_4K, true, 0), 0);
	assert_int_equal(m2d_guest_pt_tables(gpt), 1 + 1 + 8 + 8 * 512);
	assert_int_equal(m2d_guest_pt_translate(gpt, 5 * GiB + 4096 * 3 + 8, &gpa, &level, ents, &n),
			 0);
	assert_int_equal(gpa, 5 * GiB + 4096 * 3 + 8);
	assert_int_equal(level, M2D_LEVEL_4K);
	assert_int_equal(n, 4);
	m2d_guest_pt_destroy(&gpt);
	m2d_engine_leave(sim);
	m2d_sim_destroy(&sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_watermarks),
		cmocka_unit_test(test_accept_extension),
		cmocka_unit_test(test_psc_batching),
		cmocka_unit_test(test_pvalidate_fallback),
		cmocka_unit_test(test_alloc_lazy_accept),
		cmocka_unit_test(test_alloc_exhaust),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_accept_random),
		cmocka_unit_test(test_kvm_psc_merge),
		cmocka_unit_test(test_guest_pt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
