// SPDX-License-Identifier: MIT
/*
 * tests/test_kvm.c - KVM: memslots and lpage_info, the TDP/legacy/stage-2
 * fault paths (exact table and exchange counts), the invalidation protocol
 * (aliased memslots, retry predicates), exits to the VMM, memory
 * attributes, dirty logging against a reference bitmap, and a seeded
 * randomized fault/zap/split model test.
 *
 * The host is a test double (struct fake_mm): one VMA mapping HVA
 * [base, base + size) to consecutive frames from pfn_base, with a chosen
 * host mapping level and write permission.  It charges no time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mmu2d/guest.h>
#include <mmu2d/kvm.h>
#include <mmu2d/sim.h>

#include "shadow_fixture.h"

#include "kvm/kvm.h"

#define K4 (1ull << 12)
#define M2 (1ull << 21)
#define G1 (1ull << 30)

/* ---- the host test double -------------------------------------------------- */

struct fake_mm {
	uint64_t base, size;  /* the single VMA */
	uint64_t pfn_base;    /* frame of @base */
	bool writable;        /* VM_WRITE */
	int level;            /* host mapping level of every page */
	int vma_page_shift;   /* a hugetlb VMA's page shift (arm64 vma_shift); 0 = 12 */
	unsigned gup_fast, gup_slow, mmap_locks, vma_lookups;
};

static bool in_vma(const struct fake_mm *mm, uint64_t hva)
{
	return hva >= mm->base && hva < mm->base + mm->size;
}

static bool fake_gup_fast(void *p, uint64_t hva, bool write, uint64_t *pfn, bool *writable)
{
	struct fake_mm *mm = p;

	mm->gup_fast++;
	if (!in_vma(mm, hva) || (write && !mm->writable))
		return false;
	*pfn = mm->pfn_base + ((hva - mm->base) >> 12);
	*writable = mm->writable;
	return true;
}

static long fake_gup_slow(void *p, uint64_t hva, bool write, bool nowait, uint64_t *pfn,
			  bool *writable)
{
	struct fake_mm *mm = p;

	mm->gup_slow++;
	mm->mmap_locks++;
	if (!in_vma(mm, hva) || (write && !mm->writable))
		return -EFAULT;
	*pfn = mm->pfn_base + ((hva - mm->base) >> 12);
	*writable = mm->writable;
	return 1;
}

static void fake_mmap_read_lock(void *p)
{
	((struct fake_mm *)p)->mmap_locks++;
}

static void fake_mmap_read_unlock(void *p)
{
}

static int fake_vma_lookup(void *p, uint64_t hva, struct m2d_kvm_vma_info *out)
{
	struct fake_mm *mm = p;

	mm->vma_lookups++;
	if (!in_vma(mm, hva))
		return -ENOENT;
	*out = (struct m2d_kvm_vma_info){ .readable = true, .writable = mm->writable,
					  .page_shift = mm->vma_page_shift ? mm->vma_page_shift : 12 };
	return 0;
}

/* The VM whose mmu_lock fake_host_level records (NULL: none). */
static struct m2d_vm *lock_probe_vm;
static int lock_probe_write, lock_probe_read;

static int fake_host_level(void *p, uint64_t hva)
{
	(void)hva;
	/* arm64 transparent_hugepage_adjust runs under mmu_lock: which side? */
	if (lock_probe_vm) {
		lock_probe_write += lock_probe_vm->mmu_lock.writer != NULL;
		lock_probe_read += lock_probe_vm->mmu_lock.readers != 0;
	}
	return ((struct fake_mm *)p)->level;
}

/* guest_memfd double: frame = 0x100000 + gfn, folio order 9 */
static int fake_gmem_get_pfn(void *gmem, void *slot, uint64_t gfn, uint64_t *pfn,
			     int *max_order)
{
	*pfn = 0x100000 + gfn;
	*max_order = 9;
	return 0;
}

static const struct m2d_kvm_host_ops fake_ops = {
	.gup_fast = fake_gup_fast,
	.gup_slow = fake_gup_slow,
	.mmap_read_lock = fake_mmap_read_lock,
	.mmap_read_unlock = fake_mmap_read_unlock,
	.vma_lookup = fake_vma_lookup,
	.host_mapping_level = fake_host_level,
	.gmem_get_pfn = fake_gmem_get_pfn,
};

/* The seed of the randomized tests: M2D_TEST_SEED, or @dflt; printed. */
static uint64_t test_seed(uint64_t dflt)
{
	const char *s = getenv("M2D_TEST_SEED");

	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

/* ---- fixtures ----------------------------------------------------------------- */

struct env {
	struct m2d_sim *sim;
	struct m2d_vm *vm;
	struct m2d_vcpu *vcpu;
	struct fake_mm mm;
};

static void env_init(struct env *e, enum m2d_kvm_mmu mmu, enum m2d_kvm_vendor vendor)
{
	struct m2d_sim_config scfg;
	struct m2d_vm_config cfg;

	memset(e, 0, sizeof(*e));
	m2d_sim_config_default(&scfg);
	assert_int_equal(m2d_sim_create(&e->sim, &scfg), 0);
	m2d_vm_config_default(&cfg);
	cfg.mmu = mmu;
	cfg.vendor = vendor;
	assert_int_equal(m2d_vm_create(&e->vm, e->sim, &cfg, &fake_ops), 0);
	shadow_fixture_install(e->vm, mmu);
	assert_int_equal(m2d_vcpu_create(e->vm, 0, &e->vcpu), 0);
	m2d_engine_enter(e->sim);
}

static void env_fini(struct env *e)
{
	m2d_engine_leave(e->sim);
	m2d_vm_destroy(&e->vm);
	assert_null(e->vm);
	m2d_sim_destroy(&e->sim);
}

static void add_slot(struct env *e, uint32_t id, uint64_t gpa, uint64_t size, uint64_t hva,
		     uint32_t flags)
{
	struct m2d_memslot_desc d = {
		.id = id, .flags = flags, .guest_phys = gpa, .size = size,
		.userspace_addr = hva, .mm = &e->mm,
	};

	assert_int_equal(m2d_vm_set_memslot(e->vm, &d), 0);
}

static uint64_t ctr(struct env *e, const char *name)
{
	return m2d_sim_counter(e->sim, name);
}

/* Fault once at @gpa; returns the RET_PF_* / -errno. */
static int fault(struct env *e, uint64_t gpa, unsigned flags)
{
	enum retry_cause cause;

	return kvm_mmu_page_fault(e->vcpu, gpa, flags, &cause);
}

/* Charge exactly 1 ns per SPTE compare-and-exchange (all other costs 0). */
static uint64_t cmpxchg_clock(void)
{
	return m2d_now();
}

/* ---- memslots ----------------------------------------------------------------------- */

static void test_kvm_memslot_lookup(void **state)
{
	struct env e;

	env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL);
	e.mm = (struct fake_mm){ .base = 1ull << 40, .size = 4 * G1, .writable = true, .level = 1 };
	add_slot(&e, 1, 4 * G1, 2 * G1, 1ull << 40, 0);
	add_slot(&e, 2, 8 * G1, 2 * G1, 1ull << 40, 0);      /* alias of the same HVA */
	add_slot(&e, 3, 16 * G1, 1 * G1, (1ull << 40) + 2 * G1, 0);

	assert_null(m2d_gfn_to_memslot(&e.vm->slots, (4 * G1 >> 12) - 1));
	assert_int_equal(m2d_gfn_to_memslot(&e.vm->slots, 4 * G1 >> 12)->id, 1);
	assert_int_equal(m2d_gfn_to_memslot(&e.vm->slots, (6 * G1 >> 12) - 1)->id, 1);
	assert_null(m2d_gfn_to_memslot(&e.vm->slots, 6 * G1 >> 12));
	assert_int_equal(m2d_gfn_to_memslot(&e.vm->slots, 9 * G1 >> 12)->id, 2);
	assert_int_equal(m2d_gfn_to_memslot(&e.vm->slots, 16 * G1 >> 12)->id, 3);

	/* GPA overlap and misalignment are rejected. */
	struct m2d_memslot_desc bad = { .id = 9, .guest_phys = 5 * G1, .size = G1,
					.userspace_addr = 1ull << 40, .mm = &e.mm };
	assert_int_equal(m2d_vm_set_memslot(e.vm, &bad), -EINVAL);
	bad.guest_phys = 32 * G1 + 1;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &bad), -EINVAL);
	bad.guest_phys = 32 * G1;
	bad.size = 0;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &bad), -ENOENT);
	env_fini(&e);
}

struct hva_hits {
	uint32_t ids[16];
	unsigned n;
};

static bool collect(struct m2d_memslot *slot, uint64_t s, uint64_t en, void *arg)
{
	struct hva_hits *h = arg;

	h->ids[h->n++] = slot->id;
	return true;
}

static void test_kvm_memslot_hva_overlap(void **state)
{
	struct env e;
	struct hva_hits h = { 0 };
	uint64_t hva = 1ull << 40;

	env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL);
	e.mm = (struct fake_mm){ .base = hva, .size = 8 * G1, .writable = true, .level = 1 };
	add_slot(&e, 5, 0, G1, hva + 4 * G1, 0);
	add_slot(&e, 1, 4 * G1, 2 * G1, hva, 0);
	add_slot(&e, 2, 8 * G1, 2 * G1, hva, 0);
	add_slot(&e, 3, 12 * G1, G1, hva + G1, 0);

	/* [hva + 1.5G, hva + 1.5G + 4K) stabs slots 1, 2, 3 in (hva, id) order. */
	assert_int_equal(m2d_memslots_for_each_hva_overlap(&e.vm->slots, hva + G1 + G1 / 2,
							   hva + G1 + G1 / 2 + K4, collect, &h),
			 3);
	assert_int_equal(h.ids[0], 1);
	assert_int_equal(h.ids[1], 2);
	assert_int_equal(h.ids[2], 3);
	h.n = 0;
	assert_int_equal(m2d_memslots_for_each_hva_overlap(&e.vm->slots, hva + 3 * G1,
							   hva + 4 * G1, collect, &h),
			 0);
	assert_int_equal(m2d_memslots_for_each_hva_overlap(&e.vm->slots, hva + 3 * G1,
							   hva + 4 * G1 + 1, collect, &h),
			 1);
	assert_int_equal(h.ids[0], 5);
	env_fini(&e);
}

/* kvm_alloc_memslot_metadata's alignment rules. */
static void test_kvm_memslot_lpage_info(void **state)
{
	struct env e;
	struct m2d_memslot *s;
	uint64_t hva = 1ull << 40;

	env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL);
	e.mm = (struct fake_mm){ .base = hva, .size = 16 * G1, .writable = true, .level = 3 };
	/* GPA 1G + 4K .. 3G + 8K: first and last 2M/1G regions disallowed. */
	add_slot(&e, 1, G1 + K4, 2 * G1 + K4, hva + K4, 0);
	s = m2d_memslot_by_id(&e.vm->slots, 1);
	assert_int_equal(s->nr_lpage[0], 1025);
	assert_int_equal(s->nr_lpage[1], 3);
	assert_int_equal(s->lpage_info[0][0].disallow_lpage, 1);
	assert_int_equal(s->lpage_info[0][1].disallow_lpage, 0);
	assert_int_equal(s->lpage_info[0][1024].disallow_lpage, 1);
	assert_int_equal(s->lpage_info[1][0].disallow_lpage, 1);
	assert_int_equal(s->lpage_info[1][1].disallow_lpage, 0);
	assert_int_equal(s->lpage_info[1][2].disallow_lpage, 1);
	/* GPA and HVA disagree modulo 2M: every region disallowed at 2M and 1G. */
	add_slot(&e, 2, 8 * G1, 2 * G1, hva + 4 * G1 + K4, 0);
	s = m2d_memslot_by_id(&e.vm->slots, 2);
	for (uint64_t i = 0; i < s->nr_lpage[0]; i++)
		assert_int_equal(s->lpage_info[0][i].disallow_lpage, 1);
	for (uint64_t i = 0; i < s->nr_lpage[1]; i++)
		assert_int_equal(s->lpage_info[1][i].disallow_lpage, 1);
	/* Agree modulo 2M but not 1G: 2M allowed, 1G not. */
	add_slot(&e, 3, 12 * G1, 2 * G1, hva + 8 * G1 + M2, 0);
	s = m2d_memslot_by_id(&e.vm->slots, 3);
	assert_int_equal(s->lpage_info[0][5].disallow_lpage, 0);
	assert_int_equal(s->lpage_info[1][0].disallow_lpage, 1);
	assert_int_equal(s->lpage_info[1][1].disallow_lpage, 1);
	env_fini(&e);
}

/* ---- exact fault counts ------------------------------------------------------------------ */

/*
 * First touch in an empty 4-level tree (root present): 4K = 3 table
 * allocations + 3 link exchanges + 1 leaf exchange; 2M = 2 + 2 + 1;
 * 1G = 1 + 1 + 1 (MECHANISMS.md 4.2).  The legacy MMU's 4K fault then
 * prefetches the other 7 SPTEs of the 8-aligned group (direct_pte_prefetch:
 * the host pages are there), 2 runs around the faulting page 3.
 */
static void check_first_touch(enum m2d_kvm_mmu mmu, enum m2d_kvm_vendor vendor, int host_level,
			      int want_tables, const char *install_ctr)
{
	struct env e;
	uint64_t hva = 1ull << 40, t0;
	const char *cost = mmu == M2D_KVM_MMU_LEGACY ? "KVM_SPTE_WRITE" : "KVM_SPTE_CMPXCHG";
	unsigned prefetched = mmu == M2D_KVM_MMU_LEGACY && host_level == 1 ? 7 : 0;
	struct m2d_vm_stats st;

	env_init(&e, mmu, vendor);
	e.mm = (struct fake_mm){ .base = hva, .size = 4 * G1, .pfn_base = 0x400000,
				 .writable = true, .level = host_level };
	add_slot(&e, 1, 4 * G1, 4 * G1, hva, 0);
	assert_int_equal(m2d_sim_set_param(e.sim, cost, 1.0), 0);
	t0 = cmpxchg_clock();
	assert_int_equal(fault(&e, 5 * G1 + 3 * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(ctr(&e, "tables_allocated"), want_tables);
	assert_int_equal(cmpxchg_clock() - t0, want_tables + 1 + prefetched);
	assert_int_equal(ctr(&e, install_ctr), 1 + prefetched);
	assert_int_equal(ctr(&e, "remote_tlb_flushes"), 0);
	m2d_vm_stats_get(e.vm, &st);
	assert_int_equal(st.mmu_pages, 1 + want_tables);
	assert_int_equal(st.pages[4 - want_tables], 1 + prefetched);
	/* A second access: spurious, no new exchange. */
	t0 = cmpxchg_clock();
	assert_int_equal(fault(&e, 5 * G1 + 3 * K4, M2D_ACCESS_WRITE), RET_PF_SPURIOUS);
	assert_int_equal(cmpxchg_clock() - t0, 0);
	assert_true(kvm_tdp_mmu_spte_allows(e.vm, 5 * G1 + 3 * K4, true));
	env_fini(&e);
}

static void test_kvm_tdp_first_touch_counts(void **state)
{
	check_first_touch(M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL, 1, 3, "spte_installs_4k");
	check_first_touch(M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL, 2, 2, "spte_installs_2m");
	check_first_touch(M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL, 3, 1, "spte_installs_1g");
	check_first_touch(M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_AMD, 1, 3, "spte_installs_4k");
	check_first_touch(M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_AMD, 3, 1, "spte_installs_1g");
}

static void test_kvm_legacy_first_touch_counts(void **state)
{
	check_first_touch(M2D_KVM_MMU_LEGACY, M2D_KVM_VENDOR_INTEL, 1, 3, "spte_installs_4k");
	check_first_touch(M2D_KVM_MMU_LEGACY, M2D_KVM_VENDOR_INTEL, 2, 2, "spte_installs_2m");
}

/*
 * Legacy MMU shadow-page hash (kvm->arch.mmu_page_hash: 4096 buckets,
 * hash_64(sp->gfn, 12)).  Every new shadow page walks the bucket of its
 * base gfn before joining it (kvm_mmu_get_page), and every writable leaf
 * walks the bucket of the faulting gfn (mmu_try_to_unsync_pages).  With
 * KVM_MMU_PAGE_HASH_NODE = 1 ns (all other costs 0) the clock counts the
 * shadow pages visited; the reference replays the same hash from the
 * kernel's arithmetic: sp->gfn = gfn & ~(KVM_PAGES_PER_HPAGE(level) - 1)
 * of the entry the page is linked under.
 */
static unsigned ref_page_table_hashfn(uint64_t gfn)
{
	return (unsigned)((gfn * 0x61C8864680B583EBull) >> (64 - 12)); /* GOLDEN_RATIO_64 */
}

static void test_kvm_legacy_mmu_page_hash_walks(void **state)
{
	static uint32_t bucket[4096];
	static uint8_t have_2m[2048], have_1g[4];
	struct env e;
	uint64_t hva = 1ull << 40, base = 4 * G1, t0, want = 0, sum = 0;
	bool have_512g = false;

	memset(bucket, 0, sizeof(bucket));
	memset(have_2m, 0, sizeof(have_2m));
	memset(have_1g, 0, sizeof(have_1g));
	env_init(&e, M2D_KVM_MMU_LEGACY, M2D_KVM_VENDOR_INTEL);
	e.mm = (struct fake_mm){ .base = hva, .size = 4 * G1, .pfn_base = 0x400000,
				 .writable = true, .level = 1 };
	add_slot(&e, 1, base, 4 * G1, hva, 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_MMU_PAGE_HASH_NODE", 1.0), 0);
	t0 = m2d_now();
	for (uint64_t i = 0; i < 6000; i++) {
		/* distinct 8-page groups: r2m cycles, the offset steps by a group */
		uint64_t r2m = i * 7919 % 2048;
		uint64_t gpa = base + r2m * M2 + (i / 2048) * 8 * K4, gfn = gpa / K4;
		uint64_t b512g = gfn & ~((1ull << 27) - 1), b1g = gfn & ~((1ull << 18) - 1);
		uint64_t b2m = gfn & ~511ull;

		if (!have_512g) {
			want += bucket[ref_page_table_hashfn(b512g)]++;
			have_512g = true;
		}
		if (!have_1g[r2m / 512]) {
			want += bucket[ref_page_table_hashfn(b1g)]++;
			have_1g[r2m / 512] = 1;
		}
		if (!have_2m[r2m]) {
			want += bucket[ref_page_table_hashfn(b2m)]++;
			have_2m[r2m] = 1;
		}
		want += bucket[ref_page_table_hashfn(gfn)];
		/* direct_pte_prefetch maps gfn + 1 .. gfn + 7, each walking its bucket */
		for (uint64_t g = gfn + 1; g < gfn + 8; g++)
			want += bucket[ref_page_table_hashfn(g)];
		assert_int_equal(fault(&e, gpa, M2D_ACCESS_WRITE), RET_PF_FIXED);
	}
	assert_int_equal(m2d_now() - t0, want);
	assert_true(want > 0);
	/* The hash holds every shadow page but the root. */
	for (unsigned b = 0; b < KVM_NUM_MMU_PAGES; b++) {
		assert_int_equal(e.vm->mmu_page_hash[b], bucket[b]);
		sum += e.vm->mmu_page_hash[b];
	}
	assert_int_equal(sum, 1 + 4 + 2048);
	assert_int_equal(ctr(&e, "tables_allocated"), sum);
	env_fini(&e);
}

/*
 * Shadow paging (ept=N), FNAME(page_fault) with the real guest tables of
 * lib/guest: a 4-level guest mapping GVA 3 GiB at 4K to GPA 1 GiB, its
 * tables in slot 0.  Costs are spaced so the clock decodes the counts:
 * kvm_gpte_read 1, kvm_gpte_cmpxchg 100, kvm_account_shadowed 10000.
 *   first write at 3G:       walk 4 reads + gpte_changed(top) 1 + one per new
 *                            shadow page 3 = 8 reads; A on L4, L3, L2 and A|D on
 *                            the leaf = 4 cmpxchg; 3 new indirect pages.
 *   write at 3G + 4K:        4 + 1 reads, 1 cmpxchg (the leaf).
 *   write at 3G + 2M:        4 + 1 + 1 reads, 2 cmpxchg (L2 entry, leaf), 1 page.
 *   read at 3G + 8K:         4 + 1 reads, 1 cmpxchg (A only): mapped read-only
 *                            (protect_clean_gpte); the write then faults again
 *                            (4 + 1 reads, 1 cmpxchg for D) and maps writable.
 * The guest tables the pages shadow (L3, L2 and the two L1 tables) become
 * write-tracked, and a write fault on one of them is refused (emulation).
 */
static void test_kvm_shadow_fault_counts(void **state)
{
	struct m2d_guest_pt *gpt;
	struct env e;
	uint64_t hva = 1ull << 40, gva = 3 * G1, gpa = G1, t;
	const struct m2d_memslot *slot0;

	env_init(&e, M2D_KVM_MMU_SHADOW, M2D_KVM_VENDOR_INTEL);
	e.mm = (struct fake_mm){ .base = hva, .size = G1 + 4 * M2, .pfn_base = 0x100000,
				 .writable = true, .level = 1 };
	add_slot(&e, 0, 0, 4 * M2, hva, 0);
	add_slot(&e, 1, gpa, 4 * M2, hva + G1, 0);
	assert_int_equal(m2d_guest_pt_create_map(&gpt, gva, gpa, 4 * M2, M2D_LEVEL_4K, false,
						 M2), 0);
	assert_int_equal(m2d_vm_set_guest_walker(e.vm, m2d_guest_pt_walk, gpt), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_GPTE_READ", 1.0), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_GPTE_CMPXCHG", 100.0), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_ACCOUNT_SHADOWED", 10000.0), 0);

	t = m2d_now();
	assert_int_equal(fault(&e, gva, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(m2d_now() - t, 8 + 4 * 100 + 3 * 10000);
	assert_int_equal(ctr(&e, "tables_allocated"), 3);
	t = m2d_now();
	assert_int_equal(fault(&e, gva + K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(m2d_now() - t, 5 + 100);
	t = m2d_now();
	assert_int_equal(fault(&e, gva + M2, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(m2d_now() - t, 6 + 2 * 100 + 10000);
	t = m2d_now();
	assert_int_equal(fault(&e, gva + 2 * K4, 0), RET_PF_FIXED);
	assert_int_equal(m2d_now() - t, 5 + 100);
	assert_false(kvm_tdp_mmu_spte_allows(e.vm, gva + 2 * K4, true));
	assert_true(kvm_tdp_mmu_spte_allows(e.vm, gva + 2 * K4, false));
	t = m2d_now();
	assert_int_equal(fault(&e, gva + 2 * K4, M2D_ACCESS_WRITE | M2D_ACCESS_PRESENT),
			 RET_PF_FIXED);
	assert_int_equal(m2d_now() - t, 5 + 100);
	assert_true(kvm_tdp_mmu_spte_allows(e.vm, gva + 2 * K4, true));
	assert_int_equal(ctr(&e, "spte_installs_4k"), 4);

	/* The shadowed guest tables: L4 (the root, not accounted), L3, L2, 2 x L1. */
	slot0 = m2d_gfn_to_memslot(&e.vm->slots, M2 >> 12);
	assert_int_equal(slot0->gfn_track[(M2 >> 12) + 0], 0);
	for (unsigned i = 1; i <= 4; i++)
		assert_int_equal(slot0->gfn_track[(M2 >> 12) + i], 1);
	assert_true(kvm_gfn_is_write_tracked(slot0, (M2 >> 12) + 3));
	/* 4 pages hashed by their guest table gfn. */
	assert_int_equal(e.vm->mmu_page_hash[kvm_page_table_hashfn((M2 >> 12) + 3)] > 0, true);
	env_fini(&e);
	m2d_guest_pt_destroy(&gpt);
}

/*
 * Dirty logging under shadow paging: no PML without EPT, so enabling it
 * write-protects every 4K SPTE through the rmaps; the next write to a page
 * faults (no fast path), maps it writable and sets its bit; GET_DIRTY_LOG
 * returns it and write-protects it again through its rmap.
 */
static void test_kvm_shadow_dirty_log(void **state)
{
	struct m2d_guest_pt *gpt;
	struct env e;
	uint64_t hva = 1ull << 40, gva = 3 * G1, gpa = G1, bitmap[4 * M2 / K4 / 64];
	struct m2d_memslot_desc d = { .id = 1, .guest_phys = gpa, .size = 4 * M2,
				      .userspace_addr = hva + G1 };

	env_init(&e, M2D_KVM_MMU_SHADOW, M2D_KVM_VENDOR_INTEL);
	assert_false(e.vm->cfg.pml);
	e.mm = (struct fake_mm){ .base = hva, .size = G1 + 4 * M2, .pfn_base = 0x100000,
				 .writable = true, .level = 2 };
	d.mm = &e.mm;
	add_slot(&e, 0, 0, 4 * M2, hva, 0);
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	assert_int_equal(m2d_guest_pt_create_map(&gpt, gva, gpa, 4 * M2, M2D_LEVEL_4K, false,
						 M2), 0);
	assert_int_equal(m2d_vm_set_guest_walker(e.vm, m2d_guest_pt_walk, gpt), 0);
	for (uint64_t i = 0; i < 1024; i++)
		assert_int_equal(fault(&e, gva + i * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	/* The host maps 2M, but the shadow leaves are 4K. */
	assert_int_equal(ctr(&e, "spte_installs_4k"), 1024);
	d.flags = M2D_MEM_LOG_DIRTY_PAGES;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	for (uint64_t i = 0; i < 1024; i++)
		assert_false(kvm_tdp_mmu_spte_allows(e.vm, gva + i * K4, true));
	assert_int_equal(fault(&e, gva + 5 * K4, M2D_ACCESS_WRITE | M2D_ACCESS_PRESENT),
			 RET_PF_FIXED);
	assert_int_equal(fault(&e, gva + 700 * K4, M2D_ACCESS_WRITE | M2D_ACCESS_PRESENT),
			 RET_PF_FIXED);
	assert_true(kvm_tdp_mmu_spte_allows(e.vm, gva + 5 * K4, true));
	assert_int_equal(m2d_vm_get_dirty_log(e.vm, 1, bitmap), 0);
	assert_int_equal(bitmap[0], 1ull << 5);
	assert_int_equal(bitmap[700 / 64], 1ull << (700 % 64));
	assert_false(kvm_tdp_mmu_spte_allows(e.vm, gva + 5 * K4, true));
	assert_false(kvm_tdp_mmu_spte_allows(e.vm, gva + 700 * K4, true));
	assert_true(kvm_tdp_mmu_spte_allows(e.vm, gva + 700 * K4, false));
	/* Deleting the slot zaps its SPTEs through the rmaps. */
	d.flags = 0;
	d.size = 0;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	assert_false(kvm_tdp_mmu_spte_allows(e.vm, gva + 5 * K4, false));
	env_fini(&e);
	m2d_guest_pt_destroy(&gpt);
}

/*
 * A walker over lib/guest's tables with two extra guest mappings: GVA
 * ALIAS_GVA maps the same gfn as GVA 3 GiB (a second alias, refused: the
 * rmap keeps one SPTE per gfn), and PT_GVA maps the guest's own L2 table
 * (write-tracked once shadowed: a write is emulated, refused here).
 */
#define ALIAS_GVA (5 * G1)
#define PT_GVA (6 * G1)
static int alias_walk(void *priv, uint64_t gva, bool write, bool peek, struct m2d_guest_walk *out)
{
	int r;

	if (gva >> 30 != ALIAS_GVA >> 30 && gva >> 30 != PT_GVA >> 30)
		return m2d_guest_pt_walk(priv, gva, write, peek, out);
	r = m2d_guest_pt_walk(priv, 3 * G1, write, peek, out);
	if (!r && gva >> 30 == PT_GVA >> 30)
		out->gfn = out->table_gfn[1] + ((gva - PT_GVA) >> 12); /* the L2 table onward */
	return r;
}

/*
 * Deleting a memslot: x86 with KVM_X86_QUIRK_SLOT_ZAP_ALL (the default)
 * zaps every SPTE of every slot (kvm_mmu_zap_all_fast), without it only the
 * slot's; arm64 unmaps only the slot's range.
 */
static void test_kvm_memslot_delete_zaps(void **state)
{
	static const enum m2d_kvm_mmu mmus[] = { M2D_KVM_MMU_TDP, M2D_KVM_MMU_LEGACY,
						 M2D_KVM_MMU_TDP, M2D_KVM_MMU_ARM64_S2 };

	for (int k = 0; k < 4; k++) {
		uint64_t hva = 1ull << 40;
		bool zap_only = k == 2, arm64 = mmus[k] == M2D_KVM_MMU_ARM64_S2;
		struct m2d_memslot_desc d = { .id = 1, .guest_phys = G1, .size = 0,
					      .userspace_addr = hva };
		struct env e;

		env_init(&e, mmus[k], M2D_KVM_VENDOR_INTEL);
		e.vm->cfg.slot_zap_only = zap_only;
		e.mm = (struct fake_mm){ .base = hva, .size = 8 * M2, .pfn_base = 0x400000,
					 .writable = true, .level = 1 };
		add_slot(&e, 1, G1, 4 * M2, hva, 0);
		add_slot(&e, 2, 2 * G1, 4 * M2, hva + 4 * M2, 0);
		for (uint64_t p = 0; p < 16; p++) {
			int r = fault(&e, G1 + p * K4, M2D_ACCESS_WRITE);

			assert_true(r == RET_PF_FIXED || r == RET_PF_SPURIOUS);
			r = fault(&e, 2 * G1 + p * K4, M2D_ACCESS_WRITE);
			assert_true(r == RET_PF_FIXED || r == RET_PF_SPURIOUS);
		}
		assert_true(kvm_tdp_mmu_spte_allows(e.vm, 2 * G1 + 5 * K4, true));
		d.mm = &e.mm;
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0); /* size 0: delete */
		assert_false(kvm_tdp_mmu_spte_allows(e.vm, G1 + 5 * K4, false));
		if (zap_only || arm64)
			assert_true(kvm_tdp_mmu_spte_allows(e.vm, 2 * G1 + 5 * K4, true));
		else
			assert_false(kvm_tdp_mmu_spte_allows(e.vm, 2 * G1 + 5 * K4, false));
		/* The other slot faults back in. */
		assert_int_equal(fault(&e, 2 * G1 + 5 * K4, M2D_ACCESS_WRITE),
				 zap_only || arm64 ? RET_PF_SPURIOUS : RET_PF_FIXED);
		env_fini(&e);
	}
}

/*
 * Legacy MMU (tdp_mmu=N): an mmu_notifier invalidation is
 * kvm_handle_gfn_range(kvm_zap_rmap): the rmap head of every 4K, 2M and 1G
 * range of the gfns, mapped or not, and per zapped SPTE one clear and one
 * head store (pte_list_remove); no iterator step, no walk from the root, no
 * table freed.  The TDP MMU zaps the same leaves with its iterator.
 */
static void test_kvm_legacy_notifier_zap_through_rmaps(void **state)
{
	/* gfns [G1 + 2M + 4K*3, G1 + 2M + 4K*3 + 700 pages): crosses one 2M boundary. */
	const uint64_t first = 512 + 3, n = 700, gfn0 = G1 / K4 + first;
	const uint64_t heads = n + ((gfn0 + n - 1) >> 9) - (gfn0 >> 9) + 1 +
			       ((gfn0 + n - 1) >> 18) - (gfn0 >> 18) + 1;

	for (int legacy = 0; legacy < 2; legacy++) {
		uint64_t hva = 1ull << 40, t0, tables;
		struct env e;

		env_init(&e, legacy ? M2D_KVM_MMU_LEGACY : M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL);
		e.mm = (struct fake_mm){ .base = hva, .size = 4 * M2, .pfn_base = 0x400000,
					 .writable = true, .level = 1 };
		add_slot(&e, 1, G1, 4 * M2, hva, 0);
		/* Legacy: direct_pte_prefetch maps some neighbours first (spurious). */
		for (uint64_t p = 0; p < 4 * M2 / K4; p++) {
			int r = fault(&e, G1 + p * K4, M2D_ACCESS_WRITE);

			assert_true(r == RET_PF_FIXED || r == RET_PF_SPURIOUS);
		}
		assert_int_equal(ctr(&e, "spte_installs_4k"), 4 * M2 / K4);
		tables = ctr(&e, "tables_freed");
		assert_int_equal(m2d_sim_set_param(e.sim, "KVM_RMAP_HEAD", 1.0), 0);
		assert_int_equal(m2d_sim_set_param(e.sim, "KVM_SPTE_WRITE", 1ull << 12), 0);
		assert_int_equal(m2d_sim_set_param(e.sim, "KVM_RMAP_ADD", 1ull << 20), 0);
		assert_int_equal(m2d_sim_set_param(e.sim, "KVM_SET_PFN_AD", 0.0), 0);
		assert_int_equal(m2d_sim_set_param(e.sim, "KVM_TDP_WALK_START", 0.0), 0);
		assert_int_equal(m2d_sim_set_param(e.sim, "KVM_TDP_ITER_STEP", 1ull << 30), 0);
		assert_int_equal(m2d_sim_set_param(e.sim, "KVM_MEMSLOT_VISIT", 0.0), 0);
		assert_int_equal(m2d_sim_set_param(e.sim, "LOCK_ACQUIRE", 0.0), 0);
		/* The remote flush is charged after the zap: time the zap alone. */
		write_lock(&e.vm->mmu_lock);
		t0 = m2d_now();
		{
			struct kvm_gfn_range r = { .slot = m2d_memslot_by_id(&e.vm->slots, 1),
						   .start = gfn0, .end = gfn0 + n, .may_block = true };

			assert_true(kvm_unmap_gfn_range(e.vm, &r));
		}
		if (legacy)
			assert_int_equal(m2d_now() - t0, heads + (n << 12) + (n << 20));
		else /* one iterator step per entry visited, at least one per zapped leaf */
			assert_true(m2d_now() - t0 >= (n << 30) + (n << 12));
		write_unlock(&e.vm->mmu_lock);
		assert_int_equal(ctr(&e, "spte_zaps"), n);
		assert_int_equal(ctr(&e, "tables_freed"), tables);
		assert_true(kvm_tdp_mmu_spte_allows(e.vm, G1 + (first - 1) * K4, true));
		assert_false(kvm_tdp_mmu_spte_allows(e.vm, G1 + first * K4, false));
		assert_false(kvm_tdp_mmu_spte_allows(e.vm, G1 + (first + n - 1) * K4, false));
		assert_true(kvm_tdp_mmu_spte_allows(e.vm, G1 + (first + n) * K4, true));
		env_fini(&e);
	}
}

/*
 * Shadow paging: an mmu_notifier invalidation zaps through the rmaps (the
 * gfns of the HVA range, whatever GVA maps them) and the next access
 * faults again, prefetching the rest of its 8-page group (the guest PTEs
 * are accessed); a write to a shadowed guest table and a second alias of a
 * gfn exit -EFAULT (emulation and pte_list chains are not modelled).
 */
static void test_kvm_shadow_rmap_zap_and_refusals(void **state)
{
	struct m2d_guest_pt *gpt;
	struct env e;
	uint64_t hva = 1ull << 40, gva = 3 * G1, gpa = G1;

	env_init(&e, M2D_KVM_MMU_SHADOW, M2D_KVM_VENDOR_INTEL);
	e.mm = (struct fake_mm){ .base = hva, .size = G1 + 4 * M2, .pfn_base = 0x100000,
				 .writable = true, .level = 1 };
	add_slot(&e, 0, 0, 4 * M2, hva, 0);
	add_slot(&e, 1, gpa, 4 * M2, hva + G1, 0);
	assert_int_equal(m2d_guest_pt_create_map(&gpt, gva, gpa, 4 * M2, M2D_LEVEL_4K, false,
						 M2), 0);
	assert_int_equal(m2d_vm_set_guest_walker(e.vm, alias_walk, gpt), 0);
	for (uint64_t i = 0; i < 1024; i++)
		assert_int_equal(fault(&e, gva + i * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	/* Invalidate the HVAs of gfns 512..767 (GVA 3G + 2M ..): 256 SPTEs go. */
	m2d_vm_mmu_notifier_invalidate_range_start(e.vm, hva + G1 + M2, hva + G1 + M2 + M2 / 2,
						   true);
	m2d_vm_mmu_notifier_invalidate_range_end(e.vm, hva + G1 + M2, hva + G1 + M2 + M2 / 2);
	assert_int_equal(ctr(&e, "spte_zaps"), 256);
	assert_true(kvm_tdp_mmu_spte_allows(e.vm, gva + 511 * K4, true));
	assert_false(kvm_tdp_mmu_spte_allows(e.vm, gva + 512 * K4, false));
	assert_false(kvm_tdp_mmu_spte_allows(e.vm, gva + 767 * K4, false));
	assert_true(kvm_tdp_mmu_spte_allows(e.vm, gva + 768 * K4, true));
	/*
	 * The re-fault maps 600 and FNAME(pte_prefetch) maps 601..607 again:
	 * their guest PTEs are accessed (and dirty: writable).
	 */
	assert_int_equal(fault(&e, gva + 600 * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(ctr(&e, "spte_installs_4k"), 1024 + 8);
	assert_true(kvm_tdp_mmu_spte_allows(e.vm, gva + 607 * K4, true));
	assert_false(kvm_tdp_mmu_spte_allows(e.vm, gva + 608 * K4, false));
	assert_false(kvm_tdp_mmu_spte_allows(e.vm, gva + 599 * K4, false));
	/* gfn of GVA 3G is mapped there already: a second GVA for it is refused. */
	assert_int_equal(fault(&e, ALIAS_GVA, M2D_ACCESS_WRITE), -EFAULT);
	/*
	 * Reading the guest's own (shadowed, write-tracked) L2 table maps it
	 * read-only; writing it would be emulated.  The page after it (an L1
	 * table, also shadowed) likewise.
	 */
	assert_int_equal(fault(&e, PT_GVA, 0), RET_PF_FIXED);
	assert_true(kvm_tdp_mmu_spte_allows(e.vm, PT_GVA, false));
	assert_false(kvm_tdp_mmu_spte_allows(e.vm, PT_GVA, true));
	assert_int_equal(fault(&e, PT_GVA, M2D_ACCESS_WRITE | M2D_ACCESS_PRESENT), -EFAULT);
	assert_int_equal(fault(&e, PT_GVA + K4, M2D_ACCESS_WRITE), -EFAULT);
	env_fini(&e);
	m2d_guest_pt_destroy(&gpt);
}

/*
 * direct_pte_prefetch (legacy MMU, 4K): after a fault, the not-present
 * SPTEs of the 8-aligned group are mapped run by run from the host pages
 * GUP-fast finds.  A present SPTE splits the runs; a run stops at the
 * first host page GUP-fast does not find (here: past the VMA); nothing is
 * prefetched for a slot that logs dirty pages, nor by the TDP MMU.
 */
static void test_kvm_legacy_direct_pte_prefetch(void **state)
{
	struct env e;
	uint64_t hva = 1ull << 40;
	struct m2d_memslot_desc d = { .id = 1, .guest_phys = 0, .size = 2 * M2,
				      .userspace_addr = hva };

	env_init(&e, M2D_KVM_MMU_LEGACY, M2D_KVM_VENDOR_INTEL);
	/* the VMA ends 3 pages into the group at 16 */
	e.mm = (struct fake_mm){ .base = hva, .size = 19 * K4, .writable = true, .level = 1 };
	d.mm = &e.mm;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	/* group 0..7: fault 5 after 2: 2 maps 0,1,3..7; 5 is then spurious */
	assert_int_equal(fault(&e, 2 * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(ctr(&e, "spte_installs_4k"), 8);
	assert_int_equal(fault(&e, 5 * K4, M2D_ACCESS_WRITE), RET_PF_SPURIOUS);
	assert_int_equal(ctr(&e, "faults"), 2);
	/* group 16..23: only 16..18 have host pages: fault 17 prefetches 16 and 18 */
	assert_int_equal(fault(&e, 17 * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(ctr(&e, "spte_installs_4k"), 8 + 3);
	assert_false(kvm_tdp_mmu_spte_allows(e.vm, 19 * K4, false));
	env_fini(&e);

	/* dirty logging: gfn_to_memslot_dirty_bitmap refuses the prefetch */
	env_init(&e, M2D_KVM_MMU_LEGACY, M2D_KVM_VENDOR_INTEL);
	e.mm = (struct fake_mm){ .base = hva, .size = 2 * M2, .writable = true, .level = 1 };
	d.mm = &e.mm;
	d.flags = M2D_MEM_LOG_DIRTY_PAGES;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	assert_int_equal(fault(&e, 2 * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(ctr(&e, "spte_installs_4k"), 1);
	env_fini(&e);

	/* the TDP MMU has no prefetch */
	env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL);
	e.mm = (struct fake_mm){ .base = hva, .size = 2 * M2, .writable = true, .level = 1 };
	d.mm = &e.mm;
	d.flags = 0;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	assert_int_equal(fault(&e, 2 * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(ctr(&e, "spte_installs_4k"), 1);
	env_fini(&e);
}

/*
 * Enabling dirty logging on an empty slot: kvm_alloc_dirty_bitmap is
 * kvzalloc(2 * ALIGN(npages, 64) / 8): kmalloc (one buddy allocation) up to
 * KMALLOC_MAX_SIZE = 4 MiB, else vmalloc (a page and a PTE per 4K); every
 * byte is cleared; plus one synchronize_srcu_expedited for the flags-only
 * swap.  Disabling frees it (kfree: 1, vfree: one per page) and swaps again.
 * The costs are set to spaced powers of two so the clock decodes the counts.
 */
static void check_dirty_bitmap_cost(uint64_t size, uint64_t want_alloc, uint64_t want_pte,
				    uint64_t want_kib, uint64_t want_free)
{
	struct env e;
	uint64_t hva = 1ull << 40, t0;
	struct m2d_memslot_desc d = { .id = 1, .guest_phys = 0, .size = size,
				      .userspace_addr = hva, .mm = NULL };

	env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL);
	e.mm = (struct fake_mm){ .base = hva, .size = size, .writable = true, .level = 1 };
	d.mm = &e.mm;
	add_slot(&e, 1, 0, size, hva, 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "BUDDY_ALLOC", 1.0), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "MM_PTE_UPDATE", 1ull << 12), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "MM_CLEAR_PAGE", 1ull << 24), 0);
	t0 = m2d_now();
	d.flags = M2D_MEM_LOG_DIRTY_PAGES;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	assert_int_equal(m2d_now() - t0, want_alloc + (want_pte << 12) + (want_kib << 24));
	assert_int_equal(m2d_sim_set_param(e.sim, "BUDDY_FREE", 1.0), 0);
	t0 = m2d_now();
	d.flags = 0;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	assert_int_equal(m2d_now() - t0, want_free);
	/* kvm_swap_active_memslots: once per flags change, twice per delete. */
	for (const char *const *c = (const char *const[]){ "BUDDY_ALLOC", "BUDDY_FREE",
			"MM_PTE_UPDATE", "MM_CLEAR_PAGE", NULL }; *c; c++)
		assert_int_equal(m2d_sim_set_param(e.sim, *c, 0), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "SRCU_EXPEDITED_GP", 1000), 0);
	t0 = m2d_now();
	d.flags = M2D_MEM_LOG_DIRTY_PAGES;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	assert_int_equal(m2d_now() - t0, 1000);
	t0 = m2d_now();
	d.size = 0;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	assert_int_equal(m2d_now() - t0, 2000);
	env_fini(&e);
}

static void test_kvm_dirty_bitmap_alloc_cost(void **state)
{
	/* 8 GiB: 2M pages, 256 KiB of bitmap, 512 KiB allocated: kmalloc. */
	check_dirty_bitmap_cost(8 * G1, 1, 0, 512, 1);
	/* 128 GiB: 4 MiB of bitmap, 8 MiB allocated: vmalloc of 2048 pages. */
	check_dirty_bitmap_cost(128 * G1, 2048, 2048, 8192, 2048);
}

static void test_kvm_stage2_first_touch_counts(void **state)
{
	check_first_touch(M2D_KVM_MMU_ARM64_S2, M2D_KVM_VENDOR_INTEL, 1, 3, "spte_installs_4k");
	/* THP-backed (host PMD): transparent_hugepage_adjust maps 2M. */
	check_first_touch(M2D_KVM_MMU_ARM64_S2, M2D_KVM_VENDOR_INTEL, 2, 2, "spte_installs_2m");
}

/* A second 4K fault in the same 2M region allocates nothing new. */
/*
 * A 4K fault under a huge SPTE (the host mapping became 4K).  Current TDP
 * MMU (fault_split_huge): tdp_mmu_split_huge_page fills a child table with
 * 512 leaves and links it, no flush; the 4K leaf is then already there
 * (spurious).  TDP before 6.2 (tdp_mmu_zap_spte_atomic) and the legacy MMU
 * (__link_shadow_page -> drop_large_spte(flush)): zap the huge SPTE, one
 * remote flush, link an empty table, install only the faulting leaf; the
 * 511 neighbours are unmapped (the legacy MMU then prefetches the other 7
 * of the faulting page's 8-aligned group: direct_pte_prefetch).
 */
static void check_fault_under_huge(enum m2d_kvm_mmu mmu, bool split)
{
	struct env e;
	uint64_t hva = 1ull << 40;
	struct m2d_vm_stats st;
	struct m2d_pt_walk w;
	unsigned prefetched = mmu == M2D_KVM_MMU_LEGACY ? 7 : 0;

	env_init(&e, mmu, M2D_KVM_VENDOR_INTEL);
	assert_true(e.vm->cfg.fault_split_huge); /* the default */
	e.vm->cfg.fault_split_huge = split;
	split = split && mmu == M2D_KVM_MMU_TDP;
	e.mm = (struct fake_mm){ .base = hva, .size = 4 * M2, .pfn_base = 0x80000,
				 .writable = true, .level = 2 };
	add_slot(&e, 1, 0, 4 * M2, hva, 0);
	assert_int_equal(fault(&e, 0, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(ctr(&e, "spte_installs_2m"), 1);
	assert_int_equal(ctr(&e, "tables_allocated"), 2);
	e.mm.level = 1;
	if (split) {
		assert_int_equal(fault(&e, 5 * K4, M2D_ACCESS_WRITE), RET_PF_SPURIOUS);
		assert_int_equal(ctr(&e, "huge_splits"), 1);
		assert_int_equal(ctr(&e, "remote_tlb_flushes"), 0);
		assert_int_equal(ctr(&e, "spte_installs_4k"), 0);
	} else {
		assert_int_equal(fault(&e, 5 * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
		assert_int_equal(ctr(&e, "huge_splits"), 0);
		assert_int_equal(ctr(&e, "remote_tlb_flushes"), 1);
		assert_int_equal(ctr(&e, "spte_installs_4k"), prefetched + 1);
	}
	assert_int_equal(ctr(&e, "tables_allocated"), 3);
	assert_int_equal(ctr(&e, "tables_freed"), 0);
	m2d_vm_stats_get(e.vm, &st);
	assert_int_equal(st.pages[2], 0);
	assert_int_equal(st.pages[1], split ? 512 : 1 + prefetched);
	assert_int_equal(st.mmu_pages, 4);
	m2d_pt_walk(e.vm->pt, 5 * K4, &w);
	assert_true(w.present);
	assert_int_equal(w.level, M2D_LEVEL_4K);
	assert_int_equal(w.pfn, 0x80000 + 5);
	m2d_pt_walk(e.vm->pt, 6 * K4, &w);
	assert_int_equal(w.present, split || prefetched);
	if (w.present)
		assert_int_equal(w.pfn, 0x80000 + 6);
	m2d_pt_walk(e.vm->pt, 8 * K4, &w);
	assert_int_equal(w.present, split);
	env_fini(&e);
}

static void test_kvm_fault_under_huge_spte(void **state)
{
	check_fault_under_huge(M2D_KVM_MMU_TDP, true);
	check_fault_under_huge(M2D_KVM_MMU_TDP, false);
	/* The legacy MMU never splits on a fault, whatever fault_split_huge says. */
	check_fault_under_huge(M2D_KVM_MMU_LEGACY, true);
}

static void test_kvm_tdp_neighbour_fault(void **state)
{
	struct env e;
	uint64_t hva = 1ull << 40;

	env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL);
	e.mm = (struct fake_mm){ .base = hva, .size = G1, .writable = true, .level = 1 };
	add_slot(&e, 1, 0, G1, hva, 0);
	for (uint64_t i = 0; i < 512; i++)
		assert_int_equal(fault(&e, i * K4, 0), RET_PF_FIXED);
	assert_int_equal(ctr(&e, "tables_allocated"), 3);
	assert_int_equal(ctr(&e, "spte_installs_4k"), 512);
	assert_int_equal(fault(&e, M2, 0), RET_PF_FIXED);
	assert_int_equal(ctr(&e, "tables_allocated"), 4);
	/* Each fault: GUP-fast succeeded (read faults try it for write). */
	assert_int_equal(e.mm.gup_fast, 513);
	assert_int_equal(e.mm.gup_slow, 0);
	env_fini(&e);
}

/* ---- invalidation protocol ------------------------------------------------------------------- */

/*
 * mmu_stress_test's aliasing: N memslots over one HVA range; one notifier
 * invalidation of the range zaps every SPTE of every slot, accumulates one
 * range covering all slots, flushes once and bumps the sequence once.
 */
static void test_kvm_notifier_aliasing(void **state)
{
	const unsigned nslots = 8;
	const uint64_t slot_size = 8 * M2;
	struct env e;
	uint64_t hva = 1ull << 40, pages = slot_size / K4;
	struct m2d_vm_stats st;
	struct m2d_lock_stats ls;

	env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL);
	e.mm = (struct fake_mm){ .base = hva, .size = slot_size, .writable = true, .level = 1 };
	for (unsigned i = 0; i < nslots; i++)
		add_slot(&e, i + 1, 4 * G1 + i * slot_size, slot_size, hva, 0);
	for (unsigned i = 0; i < nslots; i++)
		for (uint64_t p = 0; p < pages; p++)
			assert_int_equal(fault(&e, 4 * G1 + i * slot_size + p * K4, M2D_ACCESS_WRITE),
					 RET_PF_FIXED);
	m2d_vm_stats_get(e.vm, &st);
	assert_int_equal(st.pages[1], nslots * pages);
	assert_int_equal(st.mmu_invalidate_seq, 0);

	m2d_vm_mmu_notifier_invalidate_range_start(e.vm, hva, hva + slot_size, true);
	assert_int_equal(e.vm->mmu_invalidate_in_progress, 1);
	assert_int_equal(e.vm->mmu_invalidate_range_start, 4 * G1 >> 12);
	assert_int_equal(e.vm->mmu_invalidate_range_end, (4 * G1 + nslots * slot_size) >> 12);
	assert_int_equal(e.vm->mn_active_invalidate_count, 1);
	m2d_vm_stats_get(e.vm, &st);
	assert_int_equal(st.pages[1], 0);
	assert_int_equal(ctr(&e, "spte_zaps"), nslots * pages);
	assert_int_equal(ctr(&e, "remote_tlb_flushes"), 1);
	/* Leaf zaps keep the tables. */
	assert_int_equal(st.mmu_pages, 1 + 1 + 1 + nslots * slot_size / M2);
	m2d_vm_mmu_notifier_invalidate_range_end(e.vm, hva, hva + slot_size);
	m2d_vm_stats_get(e.vm, &st);
	assert_int_equal(st.mmu_invalidate_seq, 1);
	assert_int_equal(e.vm->mmu_invalidate_in_progress, 0);
	assert_int_equal(e.vm->mn_active_invalidate_count, 0);
	assert_int_equal(ctr(&e, "mmu_notifier_invalidations"), 1);
	assert_int_equal(ctr(&e, "remote_tlb_flushes"), 1);
	if (m2d_sim_lock_stats(e.sim, "mmu_lock", &ls) == 0)
		assert_int_equal(ls.acquisitions, nslots * pages + 2);

	/* An invalidation that overlaps no memslot does not reach the protocol. */
	m2d_vm_mmu_notifier_invalidate_range_start(e.vm, hva + slot_size, hva + 2 * slot_size, true);
	m2d_vm_mmu_notifier_invalidate_range_end(e.vm, hva + slot_size, hva + 2 * slot_size);
	m2d_vm_stats_get(e.vm, &st);
	assert_int_equal(st.mmu_invalidate_seq, 1);
	assert_int_equal(ctr(&e, "mmu_notifier_invalidations"), 2);
	env_fini(&e);
}

/* The retry predicates (MECHANISMS.md 5.3), directly. */
static void test_kvm_retry_predicates(void **state)
{
	struct env e;
	struct m2d_vm *kvm;
	uint64_t seq;

	env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL);
	kvm = e.vm;
	seq = kvm->mmu_invalidate_seq;
	write_lock(&kvm->mmu_lock);
	assert_false(mmu_invalidate_retry_gfn(kvm, seq, 100));
	assert_false(mmu_invalidate_retry(kvm, seq));

	kvm_mmu_invalidate_begin(kvm);
	/* Between begin and range_add the lockless check sees no range. */
	assert_false(mmu_invalidate_retry_gfn_unsafe(kvm, seq, 100));
	kvm_mmu_invalidate_range_add(kvm, 50, 150);
	kvm_mmu_invalidate_range_add(kvm, 400, 500); /* accumulates to [50, 500) */
	assert_int_equal(kvm->mmu_invalidate_range_start, 50);
	assert_int_equal(kvm->mmu_invalidate_range_end, 500);
	/* x86: only gfns in the accumulated range retry while in progress. */
	assert_true(mmu_invalidate_retry_gfn(kvm, seq, 100));
	assert_true(mmu_invalidate_retry_gfn(kvm, seq, 300));
	assert_false(mmu_invalidate_retry_gfn(kvm, seq, 10));
	assert_false(mmu_invalidate_retry_gfn(kvm, seq, 500));
	assert_true(mmu_invalidate_retry_gfn_unsafe(kvm, seq, 499));
	assert_false(mmu_invalidate_retry_gfn_unsafe(kvm, seq, 600));
	/* arm64: any invalidation in progress retries. */
	assert_true(mmu_invalidate_retry(kvm, seq));

	/* A nested invalidation keeps widening; the range resets only at 0->1. */
	kvm_mmu_invalidate_begin(kvm);
	kvm_mmu_invalidate_range_add(kvm, 1000, 1001);
	assert_int_equal(kvm->mmu_invalidate_range_start, 50);
	assert_int_equal(kvm->mmu_invalidate_range_end, 1001);
	kvm_mmu_invalidate_end(kvm);
	kvm_mmu_invalidate_end(kvm);
	assert_int_equal(kvm->mmu_invalidate_seq, seq + 2);

	/* After the invalidation completed, every snapshot from before retries. */
	assert_true(mmu_invalidate_retry_gfn(kvm, seq, 10));
	assert_true(mmu_invalidate_retry_gfn_unsafe(kvm, seq, 10));
	assert_true(mmu_invalidate_retry(kvm, seq));
	/* A snapshot taken after it does not. */
	assert_false(mmu_invalidate_retry_gfn(kvm, seq + 2, 10));
	assert_false(mmu_invalidate_retry(kvm, seq + 2));

	/* Next invalidation starts from an empty range. */
	kvm_mmu_invalidate_begin(kvm);
	assert_int_equal(kvm->mmu_invalidate_range_start, INVALID_GPA);
	kvm_mmu_invalidate_range_add(kvm, 7, 8);
	assert_true(mmu_invalidate_retry_gfn(kvm, seq + 2, 7));
	assert_false(mmu_invalidate_retry_gfn(kvm, seq + 2, 100));
	kvm_mmu_invalidate_end(kvm);
	write_unlock(&kvm->mmu_lock);
	env_fini(&e);
}

/*
 * A fault whose snapshot predates a completed invalidation retries at
 * is_page_fault_stale even for an unrelated gfn (x86), and any
 * invalidation in progress makes a stage-2 fault retry: drive the fault
 * path's pre-check by leaving an invalidation open.
 */
static void test_kvm_fault_precheck_retry(void **state)
{
	struct env e;
	uint64_t hva = 1ull << 40;

	env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL);
	e.mm = (struct fake_mm){ .base = hva, .size = G1, .writable = true, .level = 1 };
	add_slot(&e, 1, 0, G1, hva, 0);
	write_lock(&e.vm->mmu_lock);
	kvm_mmu_invalidate_begin(e.vm);
	kvm_mmu_invalidate_range_add(e.vm, 0, 16);
	write_unlock(&e.vm->mmu_lock);
	/* In range: the pre-check retries before GUP. */
	enum retry_cause cause;
	assert_int_equal(kvm_mmu_page_fault(e.vcpu, 4 * K4, 0, &cause), RET_PF_RETRY);
	assert_int_equal(cause, RETRY_INVALIDATION);
	assert_int_equal(e.mm.gup_fast, 0);
	/* Outside the range: x86 proceeds. */
	assert_int_equal(kvm_mmu_page_fault(e.vcpu, 64 * K4, 0, &cause), RET_PF_FIXED);
	assert_int_equal(ctr(&e, "fault_retries"), 1);
	write_lock(&e.vm->mmu_lock);
	kvm_mmu_invalidate_end(e.vm);
	write_unlock(&e.vm->mmu_lock);
	env_fini(&e);

	env_init(&e, M2D_KVM_MMU_ARM64_S2, M2D_KVM_VENDOR_INTEL);
	e.mm = (struct fake_mm){ .base = hva, .size = G1, .writable = true, .level = 1 };
	add_slot(&e, 1, 0, G1, hva, 0);
	write_lock(&e.vm->mmu_lock);
	kvm_mmu_invalidate_begin(e.vm);
	kvm_mmu_invalidate_range_add(e.vm, 0, 16);
	write_unlock(&e.vm->mmu_lock);
	/* arm64: VM-wide check, an unrelated gfn retries too (after GUP). */
	assert_int_equal(kvm_mmu_page_fault(e.vcpu, 64 * K4, 0, &cause), RET_PF_RETRY);
	assert_int_equal(cause, RETRY_INVALIDATION);
	assert_int_equal(e.mm.gup_fast, 1);
	write_lock(&e.vm->mmu_lock);
	kvm_mmu_invalidate_end(e.vm);
	write_unlock(&e.vm->mmu_lock);
	assert_int_equal(kvm_mmu_page_fault(e.vcpu, 64 * K4, 0, &cause), RET_PF_FIXED);
	env_fini(&e);
}

/*
 * arm64 unmap (stage2_unmap_walker): per-entry TLBI and, without FWB, a 4K
 * CMO per page; each table left empty is cleared with a range TLBI of its
 * range (kvm_tlb_flush_vmid_range: a whole-VMID flush without
 * FEAT_TLBIRANGE).  Only with FEAT_TLBIRANGE and FWB are the per-entry
 * TLBIs deferred to one range TLBI at the end.
 */
static void test_kvm_stage2_unmap_costs(void **state)
{
	struct env e;
	uint64_t hva = 1ull << 40, t0;
	struct m2d_vm_stats st;

	env_init(&e, M2D_KVM_MMU_ARM64_S2, M2D_KVM_VENDOR_INTEL);
	e.mm = (struct fake_mm){ .base = hva, .size = 4 * M2, .writable = true, .level = 1 };
	add_slot(&e, 1, 0, 4 * M2, hva, 0);
	for (uint64_t p = 0; p < 4 * M2 / K4; p++)
		assert_int_equal(fault(&e, p * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_S2_TLBI", 1.0), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_S2_DCACHE_CMO", 1000.0), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_S2_TLBI_VMID", 7.0), 0);
	t0 = m2d_now();
	m2d_vm_mmu_notifier_invalidate_range_start(e.vm, hva, hva + 4 * M2, true);
	m2d_vm_mmu_notifier_invalidate_range_end(e.vm, hva, hva + 4 * M2);
	/* 2048 pages x (1 TLBI + 4 KiB x 1000 ns/KiB), 4 + 1 + 1 emptied tables x 7 */
	assert_int_equal(m2d_now() - t0, 2048 * (1 + 4000) + 6 * 7);
	assert_int_equal(ctr(&e, "spte_zaps"), 2048);
	/* No VM-wide flush on arm64 unmap. */
	assert_int_equal(ctr(&e, "remote_tlb_flushes"), 0);
	m2d_vm_stats_get(e.vm, &st);
	assert_int_equal(st.pages[1], 0);
	assert_int_equal(ctr(&e, "tables_freed"), 4 + 1 + 1);
	/* FWB without TLBIRANGE: no CMOs, the per-entry TLBIs stay. */
	for (uint64_t p = 0; p < 4 * M2 / K4; p++)
		assert_int_equal(fault(&e, p * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_S2_FWB", 1.0), 0);
	t0 = m2d_now();
	m2d_vm_mmu_notifier_invalidate_range_start(e.vm, hva, hva + 4 * M2, true);
	m2d_vm_mmu_notifier_invalidate_range_end(e.vm, hva, hva + 4 * M2);
	assert_int_equal(m2d_now() - t0, 2048 + 6 * 7);
	/* FWB and TLBIRANGE: the per-entry TLBIs deferred to one range TLBI. */
	for (uint64_t p = 0; p < 4 * M2 / K4; p++)
		assert_int_equal(fault(&e, p * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_S2_TLBIRANGE", 1.0), 0);
	t0 = m2d_now();
	m2d_vm_mmu_notifier_invalidate_range_start(e.vm, hva, hva + 4 * M2, true);
	m2d_vm_mmu_notifier_invalidate_range_end(e.vm, hva, hva + 4 * M2);
	assert_int_equal(m2d_now() - t0, 6 * 7 + 7);
	env_fini(&e);
}

/* ---- vCPU runs and exits ---------------------------------------------------------------- */

struct run_ctx {
	uint64_t gpa, n;
	unsigned flags;
	int result;
	unsigned exits;
	enum m2d_kvm_exit_action action;
	struct m2d_kvm_exit last;
};

static void guest_touch(struct m2d_vcpu *vcpu, void *arg)
{
	struct run_ctx *c = arg;

	c->result = m2d_vcpu_access_range(vcpu, c->gpa, c->n, K4, c->flags);
}

static enum m2d_kvm_exit_action vmm_exit(struct m2d_vcpu *vcpu, const struct m2d_kvm_exit *exit,
					 void *arg)
{
	struct run_ctx *c = arg;

	c->exits++;
	c->last = *exit;
	return c->action;
}

/*
 * mmu_stress_test's ro phase in miniature: after mprotect(PROT_READ) (a
 * notifier invalidation + the VMA losing VM_WRITE), every write exits with
 * -EFAULT; the VMM skips the instruction each time.
 */
static void test_kvm_vcpu_efault_skip(void **state)
{
	struct env e;
	uint64_t hva = 1ull << 40;
	struct run_ctx c = { .gpa = 0, .n = 1024, .flags = M2D_ACCESS_WRITE,
			     .action = M2D_KVM_EXIT_SKIP };

	env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL);
	e.mm = (struct fake_mm){ .base = hva, .size = 4 * M2, .writable = true, .level = 1 };
	add_slot(&e, 1, 0, 4 * M2, hva, 0);
	assert_int_equal(m2d_vcpu_run(e.vcpu, guest_touch, &c, vmm_exit, &c), 0);
	assert_int_equal(c.result, M2D_GUEST_ACCESS_DONE);
	assert_int_equal(ctr(&e, "faults"), 1024);
	assert_int_equal(c.exits, 0);
	/* run2: rewrites over present SPTEs do not fault. */
	assert_int_equal(m2d_vcpu_run(e.vcpu, guest_touch, &c, vmm_exit, &c), 0);
	assert_int_equal(ctr(&e, "faults"), 1024);

	m2d_vm_mmu_notifier_invalidate_range_start(e.vm, hva, hva + 4 * M2, true);
	e.mm.writable = false;
	m2d_vm_mmu_notifier_invalidate_range_end(e.vm, hva, hva + 4 * M2);
	assert_int_equal(m2d_vcpu_run(e.vcpu, guest_touch, &c, vmm_exit, &c), 0);
	assert_int_equal(c.exits, 1024);
	assert_int_equal(ctr(&e, "efault_exits"), 1024);
	assert_int_equal(c.last.reason, M2D_KVM_EXIT_EFAULT);
	assert_int_equal(c.last.gpa, 1023 * K4);
	assert_true(c.last.write);
	/* stage 2 reads work on the read-only mapping. */
	c.flags = 0;
	assert_int_equal(m2d_vcpu_run(e.vcpu, guest_touch, &c, vmm_exit, &c), 0);
	assert_int_equal(c.exits, 1024);
	assert_true(kvm_tdp_mmu_spte_allows(e.vm, 5 * K4, false));
	assert_false(kvm_tdp_mmu_spte_allows(e.vm, 5 * K4, true));

	/* Stop on the first -EFAULT (arm64-style host loop). */
	c.flags = M2D_ACCESS_WRITE;
	c.action = M2D_KVM_EXIT_STOP;
	assert_int_equal(m2d_vcpu_run(e.vcpu, guest_touch, &c, vmm_exit, &c), -EFAULT);
	assert_int_equal(c.result, M2D_GUEST_ACCESS_STOPPED);
	assert_int_equal(c.exits, 1025);
	env_fini(&e);
}

/* KVM_HC_MAP_GPA_RANGE: the guest's hypercall exits to the VMM, which converts. */
struct psc_vmm {
	struct m2d_vm *vm;
	unsigned exits;
};

static enum m2d_kvm_exit_action vmm_map_gpa_range(struct m2d_vcpu *vcpu,
						  const struct m2d_kvm_exit *exit, void *arg)
{
	struct psc_vmm *v = arg;

	v->exits++;
	assert_int_equal(exit->reason, M2D_KVM_EXIT_HYPERCALL);
	assert_int_equal(m2d_vm_set_memory_attributes(v->vm, exit->gpa, exit->size * K4,
						      exit->flags),
			 0);
	return M2D_KVM_EXIT_RETRY;
}

static void guest_psc(struct m2d_vcpu *vcpu, void *arg)
{
	assert_int_equal(m2d_vcpu_map_gpa_range(vcpu, M2, 512, M2D_MEMORY_ATTRIBUTE_PRIVATE),
			 M2D_GUEST_ACCESS_DONE);
	assert_int_equal(m2d_vcpu_access(vcpu, M2 + K4, M2D_ACCESS_WRITE | M2D_ACCESS_PRIVATE),
			 M2D_GUEST_ACCESS_DONE);
}

static void test_kvm_vcpu_map_gpa_range(void **state)
{
	struct env e;
	uint64_t hva = 1ull << 40;
	int gmem;
	struct m2d_memslot_desc d;
	struct psc_vmm v = { 0 };

	env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_AMD);
	e.mm = (struct fake_mm){ .base = hva, .size = 4 * M2, .writable = true, .level = 1 };
	d = (struct m2d_memslot_desc){ .id = 1, .flags = M2D_MEM_GUEST_MEMFD, .size = 4 * M2,
				       .userspace_addr = hva, .mm = &e.mm, .gmem = &gmem };
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	v.vm = e.vm;
	assert_int_equal(m2d_vcpu_run(e.vcpu, guest_psc, NULL, vmm_map_gpa_range, &v), 0);
	assert_int_equal(v.exits, 1);
	assert_int_equal(ctr(&e, "userspace_exits"), 1);
	/* Private 2M region, gmem folio order 9: one 2M private SPTE at the gmem pfn. */
	assert_int_equal(ctr(&e, "spte_installs_2m"), 1);
	struct m2d_pt_walk w;

	m2d_pt_walk(e.vm->pt, M2 + K4, &w);
	assert_true(w.present);
	assert_int_equal(w.level, M2D_LEVEL_2M);
	assert_int_equal(w.pfn, 0x100000 + 512 + 1); /* gfn 513 */
	assert_int_equal(e.mm.gup_fast + e.mm.gup_slow, 0);
	env_fini(&e);
}

/*
 * guest_memfd punch hole: __kvm_gmem_invalidate_begin/end through the
 * callbacks zap the private mappings of the bound slot, flush once, and
 * make a racing private fault retry until the end.
 */
static void test_kvm_gmem_invalidate(void **state)
{
	struct env e;
	uint64_t hva = 1ull << 40;
	int gmem;
	struct m2d_memslot_desc d;
	struct m2d_memslot *slot;
	struct m2d_vm_stats st;
	enum retry_cause cause;
	bool flush;

	env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_AMD);
	e.mm = (struct fake_mm){ .base = hva, .size = 4 * M2, .writable = true, .level = 1 };
	d = (struct m2d_memslot_desc){ .id = 1, .flags = M2D_MEM_GUEST_MEMFD, .size = 4 * M2,
				       .userspace_addr = hva, .mm = &e.mm, .gmem = &gmem };
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	slot = m2d_memslot_by_id(&e.vm->slots, 1);
	assert_int_equal(m2d_vm_set_memory_attributes(e.vm, 0, 4 * M2,
						      M2D_MEMORY_ATTRIBUTE_PRIVATE), 0);
	for (uint64_t r = 0; r < 4; r++)
		assert_int_equal(fault(&e, r * M2, M2D_ACCESS_PRIVATE), RET_PF_FIXED);
	m2d_vm_stats_get(e.vm, &st);
	assert_int_equal(st.pages[2], 4);

	/* Punch [2M, 4M): one bound slot. */
	m2d_vm_gmem_invalidate_begin(e.vm);
	flush = m2d_vm_gmem_zap(e.vm, slot, m2d_gfn_from_u64(512), m2d_gfn_from_u64(1024));
	assert_true(flush);
	m2d_vm_gmem_invalidate_unlock(e.vm, flush);
	m2d_vm_stats_get(e.vm, &st);
	assert_int_equal(st.pages[2], 3);
	assert_int_equal(ctr(&e, "remote_tlb_flushes"), 1); /* the punch (nothing was mapped at conversion) */
	/* A private fault in the punched range retries while in progress. */
	assert_int_equal(kvm_mmu_page_fault(e.vcpu, M2 + K4, M2D_ACCESS_PRIVATE, &cause),
			 RET_PF_RETRY);
	assert_int_equal(cause, RETRY_INVALIDATION);
	m2d_vm_gmem_invalidate_end(e.vm);
	assert_int_equal(e.vm->mmu_invalidate_in_progress, 0);
	assert_int_equal(kvm_mmu_page_fault(e.vcpu, M2 + K4, M2D_ACCESS_PRIVATE, &cause),
			 RET_PF_FIXED);
	env_fini(&e);
}

/* fault_mmap_lock: every fault also takes mmap_read_lock for vma_lookup. */
static void test_kvm_fault_mmap_lock(void **state)
{
	struct env e;
	uint64_t hva = 1ull << 40;

	env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL);
	e.vm->cfg.fault_mmap_lock = true;
	e.mm = (struct fake_mm){ .base = hva, .size = M2, .writable = true, .level = 1 };
	add_slot(&e, 1, 0, M2, hva, 0);
	for (uint64_t p = 0; p < 16; p++)
		assert_int_equal(fault(&e, p * K4, 0), RET_PF_FIXED);
	assert_int_equal(e.mm.mmap_locks, 16);
	assert_int_equal(e.mm.vma_lookups, 16);
	e.vm->cfg.fault_mmap_lock = false;
	assert_int_equal(fault(&e, 16 * K4, 0), RET_PF_FIXED);
	assert_int_equal(e.mm.mmap_locks, 16);
	env_fini(&e);
}

struct stride_ctx {
	uint64_t gpa, n, stride;
};

static void guest_stride(struct m2d_vcpu *vcpu, void *p)
{
	struct stride_ctx *c = p;

	assert_int_equal(m2d_vcpu_access_range(vcpu, c->gpa, c->n, c->stride, M2D_ACCESS_WRITE),
			 M2D_GUEST_ACCESS_DONE);
}

/* Sub-page and odd strides: one fault per 4K page touched, none per word. */
static void test_kvm_vcpu_access_range_strides(void **state)
{
	static const uint64_t strides[] = { 8, 64, 4096, 4096 + 64, 3 * 4096, 2 * M2 };
	struct env e;
	uint64_t hva = 1ull << 40;

	for (unsigned i = 0; i < M2D_ARRAY_SIZE(strides); i++) {
		struct stride_ctx c = { .gpa = 3 * 8, .n = 3000, .stride = strides[i] };
		uint64_t last = c.gpa + (c.n - 1) * c.stride, pages;

		if (last >= 8 * M2)
			c.n = (8 * M2 - c.gpa) / c.stride;
		last = c.gpa + (c.n - 1) * c.stride;
		/* Distinct 4K pages touched. */
		pages = 0;
		for (uint64_t k = 0, prev = ~0ull; k < c.n; k++) {
			uint64_t pg = (c.gpa + k * c.stride) >> 12;

			if (pg != prev)
				pages++;
			prev = pg;
		}
		env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL);
		e.mm = (struct fake_mm){ .base = hva, .size = 8 * M2, .writable = true, .level = 1 };
		add_slot(&e, 1, 0, 8 * M2, hva, 0);
		assert_int_equal(m2d_vcpu_run(e.vcpu, guest_stride, &c, NULL, NULL), 0);
		assert_int_equal(ctr(&e, "faults"), pages);
		assert_int_equal(ctr(&e, "spte_installs_4k"), pages);
		assert_true(kvm_tdp_mmu_spte_allows(e.vm, last, true));
		env_fini(&e);
	}
}

/* ---- memory attributes --------------------------------------------------------------------- */

static void test_kvm_memory_attributes(void **state)
{
	struct env e;
	uint64_t hva = 1ull << 40;
	struct m2d_memslot_desc d;
	struct m2d_memslot *s;
	struct m2d_vm_stats st;
	int gmem;

	env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_AMD);
	e.mm = (struct fake_mm){ .base = hva, .size = 4 * M2, .writable = true, .level = 2 };
	d = (struct m2d_memslot_desc){ .id = 1, .flags = M2D_MEM_GUEST_MEMFD, .guest_phys = 0,
				       .size = 4 * M2, .userspace_addr = hva, .mm = &e.mm,
				       .gmem = &gmem };
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	s = m2d_memslot_by_id(&e.vm->slots, 1);

	/* Shared 2M mapping, then convert 4K of it to private. */
	assert_int_equal(fault(&e, 0, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(ctr(&e, "spte_installs_2m"), 1);
	assert_int_equal(m2d_vm_set_memory_attributes(e.vm, K4, K4, M2D_MEMORY_ATTRIBUTE_PRIVATE),
			 0);
	m2d_vm_stats_get(e.vm, &st);
	assert_int_equal(st.pages[2], 0);             /* zapped */
	assert_int_equal(st.mmu_invalidate_seq, 1);   /* one begin/end */
	assert_int_equal(m2d_vm_get_memory_attributes(e.vm, 1), M2D_MEMORY_ATTRIBUTE_PRIVATE);
	assert_int_equal(m2d_vm_get_memory_attributes(e.vm, 2), 0);
	assert_true(s->lpage_info[0][0].disallow_lpage & KVM_LPAGE_MIXED_FLAG);
	assert_false(s->lpage_info[0][1].disallow_lpage & KVM_LPAGE_MIXED_FLAG);
	/* Setting the same attributes again: no invalidation. */
	assert_int_equal(m2d_vm_set_memory_attributes(e.vm, K4, K4, M2D_MEMORY_ATTRIBUTE_PRIVATE),
			 0);
	m2d_vm_stats_get(e.vm, &st);
	assert_int_equal(st.mmu_invalidate_seq, 1);

	/* Mixed region: shared faults map 4K; a private access to a shared gfn exits. */
	assert_int_equal(fault(&e, 0, 0), RET_PF_FIXED);
	assert_int_equal(ctr(&e, "spte_installs_4k"), 1);
	assert_int_equal(fault(&e, 0, M2D_ACCESS_PRIVATE), -EFAULT);
	assert_int_equal(e.vcpu->exit.reason, M2D_KVM_EXIT_MEMORY_FAULT);
	/* Private fault on the private gfn: gmem pfn, 4K (mixed region). */
	assert_int_equal(fault(&e, K4, M2D_ACCESS_PRIVATE), RET_PF_FIXED);
	assert_int_equal(ctr(&e, "spte_installs_4k"), 2);

	/* Whole 2M region private: mixed flag cleared, private fault maps 2M (folio order 9). */
	assert_int_equal(m2d_vm_set_memory_attributes(e.vm, M2, M2, M2D_MEMORY_ATTRIBUTE_PRIVATE),
			 0);
	assert_false(s->lpage_info[0][1].disallow_lpage & KVM_LPAGE_MIXED_FLAG);
	assert_int_equal(fault(&e, M2 + 5 * K4, M2D_ACCESS_PRIVATE), RET_PF_FIXED);
	assert_int_equal(ctr(&e, "spte_installs_2m"), 2);
	/* Back to shared for [0, 4M): the runs merge away. */
	assert_int_equal(m2d_vm_set_memory_attributes(e.vm, 0, 4 * M2, 0), 0);
	assert_int_equal(e.vm->nr_attrs, 0);
	assert_false(s->lpage_info[0][0].disallow_lpage & KVM_LPAGE_MIXED_FLAG);
	assert_int_equal(m2d_vm_set_memory_attributes(e.vm, 1, K4, 0), -EINVAL);
	env_fini(&e);
}

/* ---- dirty logging vs a reference bitmap ------------------------------------------------------ */

static void guest_write_list(struct m2d_vcpu *vcpu, void *arg)
{
	const uint64_t *gpas = arg;

	for (unsigned i = 1; i <= gpas[0]; i++)
		assert_int_equal(m2d_vcpu_access(vcpu, gpas[i], M2D_ACCESS_WRITE),
				 M2D_GUEST_ACCESS_DONE);
}

static void check_dirty_log(enum m2d_kvm_mmu mmu, enum m2d_kvm_vendor vendor, bool manual,
			    uint64_t seed)
{
	const uint64_t npages = 4 * M2 / K4, words = npages / 64;
	struct env e;
	uint64_t hva = 1ull << 40, ref[64], got[64];
	uint64_t *gpas = malloc((npages + 1) * sizeof(*gpas));
	struct m2d_memslot_desc d;

	env_init(&e, mmu, vendor);
	/* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, enabled before any slot exists. */
	e.vm->cfg.manual_protect = manual;
	e.mm = (struct fake_mm){ .base = hva, .size = 4 * M2, .writable = true, .level = 2 };
	add_slot(&e, 1, 0, 4 * M2, hva, 0);
	/* Populate with huge pages, then enable logging (eager split). */
	for (uint64_t p = 0; p < npages; p += 512)
		assert_int_equal(fault(&e, p * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	d = (struct m2d_memslot_desc){ .id = 1, .flags = M2D_MEM_LOG_DIRTY_PAGES, .guest_phys = 0,
				       .size = 4 * M2, .userspace_addr = hva, .mm = &e.mm };
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	if (mmu == M2D_KVM_MMU_TDP)
		assert_int_equal(ctr(&e, "huge_splits"), 4);

	srand((unsigned)seed);
	for (int iter = 0; iter < 4; iter++) {
		uint64_t n = 0;

		memset(ref, 0, sizeof(ref));
		for (uint64_t i = 0; i < 300; i++) {
			uint64_t p = (uint64_t)rand() % npages;

			gpas[++n] = p * K4;
			ref[p / 64] |= 1ull << (p % 64);
		}
		gpas[0] = n;
		assert_int_equal(m2d_vcpu_run(e.vcpu, guest_write_list, gpas, NULL, NULL), 0);
		assert_int_equal(m2d_vm_get_dirty_log(e.vm, 1, got), 0);
		for (uint64_t w = 0; w < words; w++)
			if (got[w] != ref[w])
				fail_msg("seed %llu iter %d word %llu: got %llx want %llx",
					 (unsigned long long)seed, iter, (unsigned long long)w,
					 (unsigned long long)got[w], (unsigned long long)ref[w]);
		if (manual)
			assert_int_equal(m2d_vm_clear_dirty_log(e.vm, 1, 0, npages, got), 0);
	}
	free(gpas);
	env_fini(&e);
}

static void test_kvm_dirty_log_reference(void **state)
{
	uint64_t seed = test_seed(42);

	printf("dirty log seed %llu (M2D_TEST_SEED)\n", (unsigned long long)seed);
	check_dirty_log(M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL, false, seed);     /* PML */
	check_dirty_log(M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_AMD, false, seed + 1);   /* wrprot */
	check_dirty_log(M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_AMD, true, seed + 2);    /* CLEAR */
	check_dirty_log(M2D_KVM_MMU_LEGACY, M2D_KVM_VENDOR_INTEL, true, seed + 3);
	check_dirty_log(M2D_KVM_MMU_ARM64_S2, M2D_KVM_VENDOR_INTEL, false, seed + 4);
}

/*
 * Eager page splitting (MECHANISMS.md 4.6): enabling dirty logging on a
 * slot mapped by one 1G SPTE splits it to 512 2M, then each 2M to 512 4K:
 * 1 + 512 tables and splits, 262144 4K leaves, one flush.  With manual
 * protect + initially-all-set nothing happens at enable; CLEAR_DIRTY_LOG
 * of a 64-page chunk splits only what covers it (1G -> 2M -> 4K once).
 */
static void test_kvm_eager_split_counts(void **state)
{
	struct env e;
	uint64_t hva = 1ull << 40, bits[1] = { ~0ull };
	struct m2d_memslot_desc d;
	struct m2d_vm_stats st;

	for (int initially_set = 0; initially_set < 2; initially_set++) {
		env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_AMD);
		e.vm->cfg.manual_protect = initially_set;
		e.vm->cfg.initially_all_set = initially_set;
		e.mm = (struct fake_mm){ .base = hva, .size = G1, .writable = true, .level = 3 };
		d = (struct m2d_memslot_desc){ .id = 1, .guest_phys = G1, .size = G1,
					       .userspace_addr = hva, .mm = &e.mm };
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
		assert_int_equal(fault(&e, G1, M2D_ACCESS_WRITE), RET_PF_FIXED);
		assert_int_equal(ctr(&e, "spte_installs_1g"), 1);
		assert_int_equal(ctr(&e, "tables_allocated"), 1);
		d.flags = M2D_MEM_LOG_DIRTY_PAGES;
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
		m2d_vm_stats_get(e.vm, &st);
		if (!initially_set) {
			assert_int_equal(ctr(&e, "huge_splits"), 513);
			assert_int_equal(ctr(&e, "tables_allocated"), 1 + 513);
			assert_int_equal(st.pages[1], 262144);
			assert_int_equal(st.pages[2], 0);
			assert_int_equal(st.pages[3], 0);
			assert_int_equal(ctr(&e, "remote_tlb_flushes"), 1);
			assert_false(kvm_tdp_mmu_spte_allows(e.vm, G1 + 5 * K4, true));
		} else {
			assert_int_equal(ctr(&e, "huge_splits"), 0);
			assert_int_equal(st.pages[3], 1);
			assert_int_equal(m2d_vm_clear_dirty_log(e.vm, 1, 64, 64, bits), 0);
			m2d_vm_stats_get(e.vm, &st);
			assert_int_equal(ctr(&e, "huge_splits"), 2);
			assert_int_equal(st.pages[2], 511);
			assert_int_equal(st.pages[1], 512);
			/* The cleared pages are write-protected, their neighbours not. */
			assert_false(kvm_tdp_mmu_spte_allows(e.vm, G1 + 64 * K4, true));
			assert_true(kvm_tdp_mmu_spte_allows(e.vm, G1 + 128 * K4, true));
		}
		env_fini(&e);
	}
}

/*
 * Legacy MMU (tdp_mmu=N): kvm_mmu_slot_try_split_huge_pages returns early
 * (!tdp_mmu_enabled), so enabling dirty logging on a 1G-mapped slot only
 * write-protects the 1G SPTE (nor does the first CLEAR split).  With the
 * EPS3 series (legacy_eager_split) the shadow MMU splits like the TDP MMU,
 * 1 + 512 splits, and adds each of the 513 x 512 children to its gfn's rmap
 * (rmap_add).
 */
static void test_kvm_legacy_eager_split_counts(void **state)
{
	uint64_t hva = 1ull << 40, bits[1] = { ~0ull };

	for (int eps3 = 0; eps3 < 2; eps3++) {
		for (int initially_set = 0; initially_set < 2; initially_set++) {
			struct m2d_memslot_desc d = { .id = 1, .guest_phys = G1, .size = G1,
						      .userspace_addr = hva };
			struct m2d_vm_stats st;
			struct env e;
			uint64_t t0;

			env_init(&e, M2D_KVM_MMU_LEGACY, M2D_KVM_VENDOR_AMD);
			assert_true(e.vm->cfg.eager_page_split);
			assert_false(e.vm->cfg.legacy_eager_split); /* the default */
			e.vm->cfg.legacy_eager_split = eps3;
			e.vm->cfg.manual_protect = initially_set;
			e.vm->cfg.initially_all_set = initially_set;
			e.mm = (struct fake_mm){ .base = hva, .size = G1, .writable = true,
						 .level = 3 };
			d.mm = &e.mm;
			assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
			assert_int_equal(fault(&e, G1, M2D_ACCESS_WRITE), RET_PF_FIXED);
			assert_int_equal(m2d_sim_set_param(e.sim, "KVM_RMAP_ADD", 1.0), 0);
			t0 = m2d_now();
			d.flags = M2D_MEM_LOG_DIRTY_PAGES;
			assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
			if (initially_set)
				assert_int_equal(m2d_vm_clear_dirty_log(e.vm, 1, 64, 64, bits), 0);
			m2d_vm_stats_get(e.vm, &st);
			if (!eps3) {
				assert_int_equal(ctr(&e, "huge_splits"), 0);
				assert_int_equal(st.pages[3], 1);
				assert_int_equal(m2d_now() - t0, 0);
			} else if (!initially_set) {
				assert_int_equal(ctr(&e, "huge_splits"), 513);
				assert_int_equal(st.pages[1], 262144);
				assert_int_equal(m2d_now() - t0, 513 * 512);
			} else {
				assert_int_equal(ctr(&e, "huge_splits"), 2);
				assert_int_equal(st.pages[2], 511);
				assert_int_equal(m2d_now() - t0, 2 * 512);
			}
			assert_false(kvm_tdp_mmu_spte_allows(e.vm, G1 + 64 * K4, true));
			env_fini(&e);
		}
	}
}

/*
 * Walks from the root per KVM_CLEAR_DIRTY_LOG word (kvm_arch_mmu_enable_log_dirty_pt_masked,
 * manual protect + initially-all-set, ~v5.17): for a word with mask m at
 * slot offset o, start = base + o + __ffs(m), end = base + o + __fls(m):
 *   - kvm_mmu_try_split_huge_pages(start, end + 1) if eager splitting: 1
 *   - kvm_mmu_slot_gfn_write_protect(start, 2M): 1
 *   - again for end if ALIGN(start, 2M) != ALIGN(end, 2M): 1
 *   - kvm_mmu_clear_dirty_pt_masked -> clear_dirty_pt_masked: 1
 * each per TDP MMU root (one here); words whose bits were already clear
 * are skipped.  With KVM_TDP_WALK_START = 1 (all other costs 0) the clock
 * counts the walks.  The shadow MMU walks no root: it visits rmap heads,
 * two per write-protected gfn (2M, 1G) and one per set bit at 4K.
 */
static uint64_t ref_align_2m(uint64_t gfn)
{
	return (gfn + 511) & ~511ull;
}

static void check_clear_walks(enum m2d_kvm_mmu mmu, bool split, uint64_t slot_gpa)
{
	const uint64_t size = 8 * M2, npages = size / K4, words = npages / 64;
	uint64_t hva = 1ull << 40, base = slot_gpa / K4, t0, want = 0, heads = 0, crossings = 0;
	uint64_t *bits = calloc(words, sizeof(*bits));
	struct m2d_memslot_desc d = { .id = 1, .guest_phys = slot_gpa, .size = size,
				      .userspace_addr = hva };
	struct env e;

	env_init(&e, mmu, M2D_KVM_VENDOR_INTEL);
	e.vm->cfg.manual_protect = true;
	e.vm->cfg.initially_all_set = true;
	e.vm->cfg.eager_page_split = split;
	e.vm->cfg.legacy_eager_split = split;
	e.mm = (struct fake_mm){ .base = hva, .size = size, .pfn_base = 0x400000, .writable = true,
				 .level = 2 };
	d.mm = &e.mm;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	for (uint64_t p = 0; p < npages; p += 512)
		assert_int_equal(fault(&e, slot_gpa + p * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	d.flags = M2D_MEM_LOG_DIRTY_PAGES;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	/*
	 * Word k: full (k % 3 == 0: aligned slot, words 0 and 24 start a 2M
	 * region; unaligned, words 15, 39, 63 cross into the next one), a
	 * [lo, hi] run, or a single bit; every seventh word empty.
	 */
	for (uint64_t k = 0; k < words; k++) {
		uint64_t lo = k % 3 == 0 ? 0 : k * 7 % 64;
		uint64_t hi = k % 3 == 0 ? 63 : k % 3 == 1 ? lo + (k * 13 % (64 - lo)) : lo;
		uint64_t start = base + k * 64 + lo, end = base + k * 64 + hi, wp;

		bits[k] = k % 7 == 6 ? 0 : (~0ull >> (63 - hi)) & (~0ull << lo);
		if (!bits[k])
			continue;
		wp = 1 + (ref_align_2m(start) != ref_align_2m(end));
		crossings += wp - 1;

		want += split + wp + 1;
		/* Legacy: the split's 2M and 1G heads over [start, end], 2 per wrprot, 1 per bit. */
		heads += (split ? ((end >> 9) - (start >> 9) + 1) + ((end >> 18) - (start >> 18) + 1)
				: 0) + 2 * wp + (uint64_t)__builtin_popcountll(bits[k]);
	}
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_TDP_WALK_START", 1.0), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_RMAP_HEAD", 1ull << 20), 0);
	t0 = m2d_now();
	assert_int_equal(m2d_vm_clear_dirty_log(e.vm, 1, 0, npages, bits), 0);
	if (mmu == M2D_KVM_MMU_TDP)
		assert_int_equal(m2d_now() - t0, want);
	else
		assert_int_equal(m2d_now() - t0, heads << 20);
	assert_true(crossings >= 2); /* the pattern exercises the second write-protect */
	/* The same bits again: already clear in the dirty bitmap, nothing walks. */
	t0 = m2d_now();
	assert_int_equal(m2d_vm_clear_dirty_log(e.vm, 1, 0, npages, bits), 0);
	assert_int_equal(m2d_now() - t0, 0);
	env_fini(&e);
	free(bits);
}

static void test_kvm_clear_dirty_log_walk_starts(void **state)
{
	check_clear_walks(M2D_KVM_MMU_TDP, false, G1);
	check_clear_walks(M2D_KVM_MMU_TDP, true, G1);
	/* A slot base that is not 64-page aligned: words straddle 2M boundaries. */
	check_clear_walks(M2D_KVM_MMU_TDP, false, G1 + 3 * K4);
	check_clear_walks(M2D_KVM_MMU_LEGACY, false, G1);
	check_clear_walks(M2D_KVM_MMU_LEGACY, true, G1 + 3 * K4);
}

/*
 * Legacy MMU enabling dirty logging with PML after an eager split
 * (kvm_mmu_slot_leaf_clear_dirty -> walk_slot_rmaps(__rmap_clear_dirty)):
 * every 4K leaf is cleaned through its rmap, one mmu_spte_update each
 * (KVM_RMAP_SPTE_UPDATE), and no TDP iterator step or walk from the root
 * is charged; the TDP MMU clears the same D bits with one walk
 * (KVM_TDP_WALK_START) and one cmpxchg per leaf under the read lock.
 */
static void test_kvm_legacy_clear_dirty_through_rmaps(void **state)
{
	for (int legacy = 0; legacy < 2; legacy++) {
		uint64_t hva = 1ull << 40, t0;
		struct m2d_memslot_desc d = { .id = 1, .guest_phys = G1, .size = 4 * M2,
					      .userspace_addr = hva };
		struct env e;

		env_init(&e, legacy ? M2D_KVM_MMU_LEGACY : M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_INTEL);
		assert_true(e.vm->cfg.pml);
		e.vm->cfg.legacy_eager_split = true;
		e.mm = (struct fake_mm){ .base = hva, .size = 4 * M2, .pfn_base = 0x400000,
					 .writable = true, .level = 2 };
		d.mm = &e.mm;
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
		for (uint64_t p = 0; p < 4; p++)
			assert_int_equal(fault(&e, G1 + p * M2, M2D_ACCESS_WRITE), RET_PF_FIXED);
		assert_int_equal(m2d_sim_set_param(e.sim, "KVM_RMAP_SPTE_UPDATE", 1.0), 0);
		assert_int_equal(m2d_sim_set_param(e.sim, "KVM_SPTE_WRITE", 1ull << 12), 0);
		assert_int_equal(m2d_sim_set_param(e.sim, "KVM_SPTE_CMPXCHG", 1ull << 12), 0);
		assert_int_equal(m2d_sim_set_param(e.sim, "KVM_TDP_WALK_START", 1ull << 24), 0);
		/* Legacy: any iterator step would show above bit 30. */
		if (legacy)
			assert_int_equal(m2d_sim_set_param(e.sim, "KVM_TDP_ITER_STEP", 1ull << 30),
					 0);
		t0 = m2d_now();
		d.flags = M2D_MEM_LOG_DIRTY_PAGES;
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
		assert_int_equal(ctr(&e, "huge_splits"), 4);
		/* Both link the 4 split tables with one SPTE store each. */
		if (legacy) {
			assert_int_equal(m2d_now() - t0, 4 * 512 + (4ull << 12));
		} else {
			/*
			 * TDP (read lock): three walks from the root (split, clear
			 * D, wrprot 2M+) and one cmpxchg per 4K leaf whose D it
			 * clears.
			 */
			assert_int_equal(m2d_now() - t0, (3ull << 24) + ((2048ull + 4) << 12));
		}
		/* PML: D cleared, W kept. */
		assert_true(kvm_tdp_mmu_spte_allows(e.vm, G1 + 5 * K4, true));
		env_fini(&e);
	}
}

/* Disabling dirty logging recovers huge pages in place (one flush). */
static void test_kvm_dirty_log_recover_huge(void **state)
{
	struct env e;
	uint64_t hva = 1ull << 40, t0;
	struct m2d_memslot_desc d = { .id = 1, .guest_phys = 0, .size = 4 * M2,
				      .userspace_addr = hva };
	struct m2d_vm_stats st;
	uint64_t flushes;

	env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_AMD);
	e.mm = (struct fake_mm){ .base = hva, .size = 4 * M2, .writable = true, .level = 2 };
	d.mm = &e.mm;
	d.flags = M2D_MEM_LOG_DIRTY_PAGES;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	for (uint64_t p = 0; p < 4 * M2 / K4; p++)
		assert_int_equal(fault(&e, p * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	m2d_vm_stats_get(e.vm, &st);
	assert_int_equal(st.pages[1], 2048);
	flushes = ctr(&e, "remote_tlb_flushes");
	/*
	 * 1 ns per exchange: 4 huge SPTEs installed over tables, and
	 * handle_removed_pt freezes each of the 4 x 512 children (shared mode).
	 */
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_SPTE_CMPXCHG", 1.0), 0);
	t0 = m2d_now();
	d.flags = 0;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	assert_int_equal(m2d_now() - t0, 4 + 4 * 512);
	m2d_vm_stats_get(e.vm, &st);
	assert_int_equal(st.pages[1], 0);
	assert_int_equal(st.pages[2], 4);
	assert_int_equal(ctr(&e, "remote_tlb_flushes"), flushes + 1);
	assert_int_equal(ctr(&e, "tables_freed"), 4);
	env_fini(&e);
}

/*
 * Before 6.13: disabling dirty logging zaps each collapsible page table
 * with its own flush (REC-01-before: one flush per 2M region); the next
 * faults map 2M.
 */
static void test_kvm_dirty_log_zap_collapsible(void **state)
{
	struct env e;
	uint64_t hva = 1ull << 40, flushes;
	struct m2d_memslot_desc d = { .id = 1, .guest_phys = 0, .size = 4 * M2,
				      .userspace_addr = hva };
	struct m2d_vm_stats st;

	env_init(&e, M2D_KVM_MMU_TDP, M2D_KVM_VENDOR_AMD);
	e.vm->cfg.recover_zap = true;
	e.mm = (struct fake_mm){ .base = hva, .size = 4 * M2, .writable = true, .level = 2 };
	d.mm = &e.mm;
	d.flags = M2D_MEM_LOG_DIRTY_PAGES;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	for (uint64_t p = 0; p < 4 * M2 / K4; p++)
		assert_int_equal(fault(&e, p * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	flushes = ctr(&e, "remote_tlb_flushes");
	d.flags = 0;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	m2d_vm_stats_get(e.vm, &st);
	assert_int_equal(st.pages[1], 0);
	assert_int_equal(st.pages[2], 0);
	assert_int_equal(ctr(&e, "tables_freed"), 4);
	assert_int_equal(ctr(&e, "remote_tlb_flushes"), flushes + 4);
	for (uint64_t r = 0; r < 4; r++)
		assert_int_equal(fault(&e, r * M2 + K4, 0), RET_PF_FIXED);
	assert_int_equal(ctr(&e, "spte_installs_2m"), 4);
	env_fini(&e);
}

/*
 * Legacy MMU, any kernel: kvm_mmu_recover_huge_pages ->
 * kvm_rmap_zap_collapsible_sptes under the write lock: walk_slot_rmaps over
 * levels 4K..2M (KVM_MAX_HUGEPAGE_LEVEL - 1; 2048 + 4 rmap heads for an 8M
 * slot), zap each leaf below its max mapping level (2048 4K leaves whose
 * host mapping is 2M; none where the host maps 4K), one flush at the end,
 * no table freed (the emptied shadow pages stay linked); the next fault in
 * a region replaces the empty table by a 2M SPTE.
 */
static void test_kvm_legacy_zap_collapsible(void **state)
{
	for (int zap = 0; zap < 2; zap++) {
		struct env e;
		uint64_t hva = 1ull << 40, flushes, zaps, t0;
		struct m2d_memslot_desc d = { .id = 1, .guest_phys = 0, .size = 4 * M2,
					      .userspace_addr = hva };
		struct m2d_vm_stats st;

		env_init(&e, M2D_KVM_MMU_LEGACY, M2D_KVM_VENDOR_AMD);
		e.vm->cfg.recover_zap = zap; /* the kernel version does not matter */
		e.mm = (struct fake_mm){ .base = hva, .size = 4 * M2, .writable = true,
					 .level = 2 };
		d.mm = &e.mm;
		d.flags = M2D_MEM_LOG_DIRTY_PAGES;
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
		for (uint64_t p = 0; p < 4 * M2 / K4; p++)
			assert_int_equal(fault(&e, p * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
		flushes = ctr(&e, "remote_tlb_flushes");
		zaps = ctr(&e, "spte_zaps");
		assert_int_equal(m2d_sim_set_param(e.sim, "KVM_RMAP_HEAD", 1.0), 0);
		t0 = m2d_now();
		d.flags = 0;
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
		assert_int_equal(m2d_now() - t0, 2048 + 4);
		m2d_vm_stats_get(e.vm, &st);
		assert_int_equal(st.pages[1], 0);
		assert_int_equal(st.pages[2], 0);
		assert_int_equal(st.mmu_pages, 1 + 1 + 1 + 4);
		assert_int_equal(ctr(&e, "tables_freed"), 0);
		assert_int_equal(ctr(&e, "spte_zaps"), zaps + 2048);
		assert_int_equal(ctr(&e, "remote_tlb_flushes"), flushes + 1);
		for (uint64_t r = 0; r < 4; r++)
			assert_int_equal(fault(&e, r * M2 + K4, 0), RET_PF_FIXED);
		assert_int_equal(ctr(&e, "spte_installs_2m"), 4);
		assert_int_equal(ctr(&e, "tables_freed"), 4);
		env_fini(&e);
	}
	/* Host mapping 4K: nothing is collapsible, nothing zapped, no flush. */
	{
		struct env e;
		uint64_t hva = 1ull << 40, flushes;
		struct m2d_memslot_desc d = { .id = 1, .guest_phys = 0, .size = 2 * M2,
					      .userspace_addr = hva };

		env_init(&e, M2D_KVM_MMU_LEGACY, M2D_KVM_VENDOR_AMD);
		e.mm = (struct fake_mm){ .base = hva, .size = 2 * M2, .writable = true,
					 .level = 1 };
		d.mm = &e.mm;
		d.flags = M2D_MEM_LOG_DIRTY_PAGES;
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
		for (uint64_t p = 0; p < 16; p++)
			assert_int_equal(fault(&e, p * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
		flushes = ctr(&e, "remote_tlb_flushes");
		d.flags = 0;
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
		assert_int_equal(ctr(&e, "remote_tlb_flushes"), flushes);
		assert_int_equal(ctr(&e, "spte_zaps"), 0);
		env_fini(&e);
	}
}

/*
 * handle_removed_pt in exclusive mode (legacy fault replacing a table by a
 * 2M SPTE): each of the 512 children is read, each of the 24 present ones
 * written (FROZEN_SPTE; 3 faults in 3 8-page groups, each prefetching the
 * other 7).  With KVM_SPTE_WRITE = 1 and KVM_TDP_ITER_STEP = 1000: 1 + 24
 * writes, 3 walk steps + 512 reads.
 */
static void test_kvm_removed_pt_exclusive_counts(void **state)
{
	struct env e;
	uint64_t hva = 1ull << 40, t0;

	env_init(&e, M2D_KVM_MMU_LEGACY, M2D_KVM_VENDOR_INTEL);
	e.mm = (struct fake_mm){ .base = hva, .size = 2 * M2, .writable = true, .level = 1 };
	add_slot(&e, 1, 0, 2 * M2, hva, 0);
	for (uint64_t p = 0; p < 3; p++)
		assert_int_equal(fault(&e, p * 8 * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(ctr(&e, "spte_installs_4k"), 24);
	e.mm.level = 2;
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_SPTE_WRITE", 1.0), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_TDP_ITER_STEP", 1000.0), 0);
	t0 = m2d_now();
	assert_int_equal(fault(&e, 100 * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(m2d_now() - t0, 1 + 24 + 1000 * (3 + 512));
	assert_int_equal(ctr(&e, "spte_installs_2m"), 1);
	assert_int_equal(ctr(&e, "tables_freed"), 1);
	env_fini(&e);
}

/*
 * kvm_mmu_slot_apply_flags (x86) and kvm_arch_commit_memory_region (arm64)
 * flush unconditionally after enabling dirty logging, even when nothing
 * was write-protected (an empty slot): one flush each.
 */
static void test_kvm_enable_dirty_log_flush(void **state)
{
	for (int mmu = 0; mmu < M2D_KVM_MMU_NR; mmu++) {
		struct env e;
		uint64_t hva = 1ull << 40;
		struct m2d_memslot_desc d = { .id = 1, .guest_phys = 0, .size = 2 * M2,
					      .userspace_addr = hva };

		env_init(&e, (enum m2d_kvm_mmu)mmu, M2D_KVM_VENDOR_INTEL);
		e.mm = (struct fake_mm){ .base = hva, .size = 2 * M2, .writable = true,
					 .level = 1 };
		d.mm = &e.mm;
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
		d.flags = M2D_MEM_LOG_DIRTY_PAGES;
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
		assert_int_equal(ctr(&e, "remote_tlb_flushes"), 1);
		env_fini(&e);
	}
}

/*
 * arm64 kvm_mmu_write_protect_pt_masked write-protects the whole range
 * [__ffs(mask), __fls(mask)] (kvm_stage2_wp_range), not only the set bits:
 * a CLEAR of bits 1 and 5 write-protects pages 1..5 and leaves 0 and 6.
 */
static void test_kvm_arm64_dirty_log_wp_range(void **state)
{
	struct env e;
	uint64_t hva = 1ull << 40, bits[1] = { (1ull << 1) | (1ull << 5) };
	struct m2d_memslot_desc d = { .id = 1, .guest_phys = 0, .size = 2 * M2,
				      .userspace_addr = hva, .flags = M2D_MEM_LOG_DIRTY_PAGES };

	env_init(&e, M2D_KVM_MMU_ARM64_S2, M2D_KVM_VENDOR_INTEL);
	e.vm->cfg.manual_protect = true;
	e.mm = (struct fake_mm){ .base = hva, .size = 2 * M2, .writable = true, .level = 1 };
	d.mm = &e.mm;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	for (uint64_t p = 0; p < 7; p++)
		assert_int_equal(fault(&e, p * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(m2d_vm_clear_dirty_log(e.vm, 1, 0, 64, bits), 0);
	for (uint64_t p = 0; p < 7; p++)
		assert_int_equal(kvm_tdp_mmu_spte_allows(e.vm, p * K4, true), p == 0 || p == 6);
	env_fini(&e);
}

/*
 * arm64 permission fault on a page mapped at the size the fault maps
 * (a write to a write-protected 4K page while logging):
 * kvm_pgtable_stage2_relax_perms, one cmpxchg without break-before-make
 * and a local TLBI (__kvm_tlb_flush_vmid_ipa_nsh), no broadcast TLBI, no
 * CMO.  A write to a write-protected 2M block while logging maps 4K: the
 * block is broken (broadcast TLBI) into a new table.
 */
static void test_kvm_arm64_relax_perms(void **state)
{
	struct env e;
	uint64_t hva = 1ull << 40, t0;
	struct m2d_memslot_desc d = { .id = 1, .guest_phys = 0, .size = 4 * M2,
				      .userspace_addr = hva };

	env_init(&e, M2D_KVM_MMU_ARM64_S2, M2D_KVM_VENDOR_INTEL);
	e.vm->cfg.eager_page_split = false; /* no KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE */
	e.mm = (struct fake_mm){ .base = hva, .size = 4 * M2, .writable = true, .level = 1 };
	d.mm = &e.mm;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	assert_int_equal(fault(&e, 3 * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
	e.mm.level = 2;
	assert_int_equal(fault(&e, M2, M2D_ACCESS_WRITE), RET_PF_FIXED);
	assert_int_equal(ctr(&e, "spte_installs_2m"), 1);
	d.flags = M2D_MEM_LOG_DIRTY_PAGES;
	assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
	assert_false(kvm_tdp_mmu_spte_allows(e.vm, 3 * K4, true));
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_SPTE_CMPXCHG", 1e6), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_S2_TLBI", 1e7), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_S2_TLBI_BLOCK", 1000), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_S2_TLBI_NSH", 1), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_S2_TLBI_VMID", 1e9), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_S2_DCACHE_CMO", 1e5), 0);
	t0 = m2d_now();
	assert_int_equal(fault(&e, 3 * K4, M2D_ACCESS_WRITE | M2D_ACCESS_PRESENT), RET_PF_FIXED);
	assert_int_equal(m2d_now() - t0, 1000000 + 1);
	assert_true(kvm_tdp_mmu_spte_allows(e.vm, 3 * K4, true));
	/* 2M block: break it (1 broadcast block TLBI), link a table, map the 4K page (+ CMO). */
	t0 = m2d_now();
	assert_int_equal(fault(&e, M2 + K4, M2D_ACCESS_WRITE | M2D_ACCESS_PRESENT),
			 RET_PF_FIXED);
	assert_int_equal(m2d_now() - t0, 2 * 1000000 + 1000 + 4 * 100000);
	env_fini(&e);
}

/*
 * arm64 eager page splitting (kvm_mmu_split_huge_pages, chunk PMD_SIZE).
 * Without INITIALLY_SET, enabling dirty logging write-protects the slot
 * (one broadcast flush, kvm_flush_remote_tlbs_memslot) and splits every
 * 2M block: one table and one broadcast TLBI (break-before-make of the
 * valid block) each, the 512 children write-protected with the block's
 * pfns.  With INITIALLY_SET nothing happens until a CLEAR, which splits
 * only the blocks its [__ffs, __fls] range touches.
 */
static void test_kvm_arm64_eager_split_counts(void **state)
{
	const unsigned nblocks = 8;
	uint64_t hva = 1ull << 40, tables, tlbis, bits[1] = { 1ull << 3 };

	(void)state;
	for (int ias = 0; ias < 2; ias++) {
		struct env e;
		struct m2d_memslot_desc d = { .id = 1, .guest_phys = 0, .size = nblocks * M2,
					      .userspace_addr = hva };

		env_init(&e, M2D_KVM_MMU_ARM64_S2, M2D_KVM_VENDOR_INTEL);
		e.vm->cfg.manual_protect = e.vm->cfg.initially_all_set = ias;
		e.mm = (struct fake_mm){ .base = hva, .size = nblocks * M2, .writable = true,
					 .level = 2 };
		d.mm = &e.mm;
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
		for (unsigned b = 0; b < nblocks; b++)
			assert_int_equal(fault(&e, b * M2, M2D_ACCESS_WRITE), RET_PF_FIXED);
		assert_int_equal(ctr(&e, "spte_installs_2m"), nblocks);
		tables = ctr(&e, "tables_allocated");
		tlbis = ctr(&e, "s2_tlbi_broadcast");
		d.flags = M2D_MEM_LOG_DIRTY_PAGES;
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
		if (!ias) {
			assert_int_equal(ctr(&e, "huge_splits"), nblocks);
			assert_int_equal(ctr(&e, "tables_allocated") - tables, nblocks);
			assert_int_equal(ctr(&e, "s2_tlbi_broadcast") - tlbis, nblocks + 1);
			for (uint64_t p = 0; p < nblocks * 512; p += 97) {
				struct m2d_pt_walk w;

				m2d_pt_walk(e.vm->pt, p * K4, &w);
				assert_true(w.present);
				assert_int_equal(w.level, M2D_LEVEL_4K);
				assert_false(kvm_tdp_mmu_spte_allows(e.vm, p * K4, true));
			}
		} else {
			assert_int_equal(ctr(&e, "huge_splits"), 0);
			assert_int_equal(ctr(&e, "s2_tlbi_broadcast"), tlbis);
			/*
			 * CLEAR of page 3 of block 5: stage2_wp_range write-protects
			 * the block that maps it (all of it), then that block alone
			 * is split, its children inheriting the protection.
			 */
			assert_int_equal(m2d_vm_clear_dirty_log(e.vm, 1, 5 * 512, 64, bits), 0);
			assert_int_equal(ctr(&e, "huge_splits"), 1);
			assert_int_equal(ctr(&e, "tables_allocated") - tables, 1);
			assert_false(kvm_tdp_mmu_spte_allows(e.vm, 5 * M2 + 3 * K4, true));
			assert_false(kvm_tdp_mmu_spte_allows(e.vm, 5 * M2 + 400 * K4, true));
			assert_true(kvm_tdp_mmu_spte_allows(e.vm, 4 * M2, true));
			/* block break + kvm_flush_remote_tlbs after the CLEAR */
			assert_int_equal(ctr(&e, "s2_tlbi_broadcast") - tlbis, 2);
		}
		env_fini(&e);
	}
}

/*
 * arm64 eager splitting of 1G blocks (two 1G hugetlb blocks, no
 * INITIALLY_SET).  With the 2M chunk the cache holds 2 objects, so a 1G
 * block is split one level (force_pte = false), then each of its 2M blocks
 * in turn: 1 + 512 splits, tables and block TLBIs per GiB.  With the 1G
 * chunk the cache holds 513 and the block is split to PTEs at once: one
 * split, 513 tables and one block TLBI per GiB.  Either way every page ends
 * up a write-protected 4K PTE with its block's pfn.
 */
static void test_kvm_arm64_eager_split_1g_chunks(void **state)
{
	uint64_t hva = 1ull << 40;

	(void)state;
	for (int big = 0; big < 2; big++) {
		struct env e;
		struct m2d_memslot_desc d = { .id = 1, .guest_phys = 0, .size = 2 * G1,
					      .userspace_addr = hva };
		uint64_t tables, tlbis, per = big ? 1 : 1 + 512, tbl = big ? 513 : 1 + 512;

		env_init(&e, M2D_KVM_MMU_ARM64_S2, M2D_KVM_VENDOR_INTEL);
		e.vm->cfg.s2_split_chunk_kib = big ? 1048576 : 2048;
		e.mm = (struct fake_mm){ .base = hva, .size = 2 * G1, .writable = true,
					 .level = 3, .vma_page_shift = 30 };
		d.mm = &e.mm;
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
		for (unsigned b = 0; b < 2; b++)
			assert_int_equal(fault(&e, b * G1, M2D_ACCESS_WRITE), RET_PF_FIXED);
		assert_int_equal(ctr(&e, "spte_installs_1g"), 2);
		tables = ctr(&e, "tables_allocated");
		tlbis = ctr(&e, "s2_tlbi_broadcast");
		d.flags = M2D_MEM_LOG_DIRTY_PAGES;
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
		assert_int_equal(ctr(&e, "huge_splits"), 2 * per);
		assert_int_equal(ctr(&e, "tables_allocated") - tables, 2 * tbl);
		assert_int_equal(ctr(&e, "s2_tlbi_broadcast") - tlbis, 2 * per + 1);
		{
			struct m2d_vm_stats st;

			m2d_vm_stats_get(e.vm, &st);
			assert_int_equal(st.pages[1], 2 * 512 * 512);
			assert_int_equal(st.pages[2] + st.pages[3], 0);
			assert_int_equal(st.mmu_pages, 1 + 1 + 2 * 513); /* root, L1 table, splits */
		}
		for (uint64_t p = 0; p < 2 * 512 * 512; p += 4099) {
			struct m2d_pt_walk w;

			m2d_pt_walk(e.vm->pt, p * K4, &w);
			assert_true(w.present);
			assert_int_equal(w.level, M2D_LEVEL_4K);
			assert_int_equal(w.pfn, p);
			assert_false(kvm_tdp_mmu_spte_allows(e.vm, p * K4, true));
		}
		env_fini(&e);
	}
}

/*
 * arm64 fault locking (user_mem_abort): 6.2+ takes mmu_lock for read for
 * every fault; 5.18 .. 6.1 (s2_fault_write_lock) for write, except a
 * write permission fault on a 4K leaf while dirty logging.  With 6.1 and
 * a broadcast relax TLBI (s2_relax_tlbi_is), the relax costs one broadcast.
 */
static void test_kvm_arm64_fault_lock_versions(void **state)
{
	uint64_t hva = 1ull << 40;

	(void)state;
	for (int old = 0; old < 2; old++) {
		struct env e;
		struct m2d_memslot_desc d = { .id = 1, .guest_phys = 0, .size = 2 * M2,
					      .userspace_addr = hva };
		uint64_t tlbis;

		env_init(&e, M2D_KVM_MMU_ARM64_S2, M2D_KVM_VENDOR_INTEL);
		e.vm->cfg.s2_fault_write_lock = old;
		e.vm->cfg.s2_relax_tlbi_is = old;
		e.mm = (struct fake_mm){ .base = hva, .size = 2 * M2, .writable = true,
					 .level = 1 };
		d.mm = &e.mm;
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
		lock_probe_vm = e.vm;
		lock_probe_write = lock_probe_read = 0;
		for (uint64_t p = 0; p < 4; p++)
			assert_int_equal(fault(&e, p * K4, M2D_ACCESS_WRITE), RET_PF_FIXED);
		lock_probe_vm = NULL;
		assert_int_equal(lock_probe_write, old ? 4 : 0);
		assert_int_equal(lock_probe_read, old ? 0 : 4);
		d.flags = M2D_MEM_LOG_DIRTY_PAGES;
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
		tlbis = ctr(&e, "s2_tlbi_broadcast");
		assert_int_equal(fault(&e, 2 * K4, M2D_ACCESS_WRITE | M2D_ACCESS_PRESENT),
				 RET_PF_FIXED);
		assert_true(kvm_tdp_mmu_spte_allows(e.vm, 2 * K4, true));
		assert_int_equal(ctr(&e, "s2_tlbi_broadcast") - tlbis, old ? 1 : 0);
		env_fini(&e);
	}
}

/* ---- randomized model test ---------------------------------------------------------------------- */

/*
 * Random faults (read/write, three host levels by region), notifier zaps
 * of random HVA ranges, kvm_zap_gfn_range, dirty-logging toggles (split /
 * recover), checked after every step against a reference: the set of
 * mapped gfns with their expected pfn, and stats = number of present
 * leaves by level.
 */
static void test_kvm_random_model(void **state)
{
	const uint64_t size = 8 * M2, npages = size / K4;
	uint64_t seed;
	static bool ref_mapped[8 * 512];
	struct env e;
	uint64_t hva = 1ull << 40;
	struct m2d_memslot_desc d = { .id = 1, .guest_phys = 0, .size = size,
				      .userspace_addr = hva };

	for (int mmu = 0; mmu < M2D_KVM_MMU_NR; mmu++) {
		uint64_t rng = test_seed(20261121) + (uint64_t)mmu;

		seed = rng;
		printf("random model seed %llu mmu %d (M2D_TEST_SEED = seed - mmu)\n",
		       (unsigned long long)rng, mmu);
		env_init(&e, (enum m2d_kvm_mmu)mmu, M2D_KVM_VENDOR_INTEL);
		e.mm = (struct fake_mm){ .base = hva, .size = size, .pfn_base = 0x80000,
					 .writable = true, .level = 2 };
		d.mm = &e.mm;
		d.flags = 0;
		e.vm->cfg.recover_zap = rng & 1;
		e.vm->cfg.fault_split_huge = !(rng & 2);
		assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
		memset(ref_mapped, 0, sizeof(ref_mapped));
		for (int step = 0; step < 3000; step++) {
			uint64_t r, p, n;

			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			r = rng >> 33;
			p = (r >> 4) % npages;
			switch (r % 8) {
			case 0: case 1: case 2: case 3: {
				int ret = fault(&e, p * K4, (r & 16) ? M2D_ACCESS_WRITE : 0);

				assert_true(ret == RET_PF_FIXED || ret == RET_PF_SPURIOUS);
				/*
				 * arm64 breaks a block to map a 4K page inside it
				 * (break-before-make into an empty table), the legacy
				 * MMU drops it (drop_large_spte), and so does the TDP
				 * MMU before 6.2 (!fault_split_huge): the rest of that
				 * block becomes unmapped.
				 */
				if (mmu != M2D_KVM_MMU_TDP || !e.vm->cfg.fault_split_huge) {
					for (uint64_t q = 0; q < npages; q++) {
						struct m2d_pt_walk w;

						m2d_pt_walk(e.vm->pt, q * K4, &w);
						if (ref_mapped[q] && !w.present)
							assert_int_equal(q >> 9, p >> 9);
						ref_mapped[q] = w.present;
					}
				}
				/* Huge mappings map their whole region. */
				struct m2d_pt_walk w;

				m2d_pt_walk(e.vm->pt, p * K4, &w);
				assert_true(w.present);
				for (uint64_t q = p & ~((m2d_level_size(w.level) >> 12) - 1), k = 0;
				     k < m2d_level_size(w.level) >> 12; k++)
					ref_mapped[q + k] = true;
				break;
			}
			case 4: /* notifier invalidation of a random HVA range */
				n = 1 + (r >> 20) % 700;
				if (p + n > npages)
					n = npages - p;
				m2d_vm_mmu_notifier_invalidate_range_start(e.vm, hva + p * K4,
									   hva + (p + n) * K4, true);
				m2d_vm_mmu_notifier_invalidate_range_end(e.vm, hva + p * K4,
									 hva + (p + n) * K4);
				/* Leaves overlapping the range are zapped whole. */
				for (uint64_t q = 0; q < npages; q++) {
					struct m2d_pt_walk w;

					if (!ref_mapped[q])
						continue;
					m2d_pt_walk(e.vm->pt, q * K4, &w);
					uint64_t sz = m2d_level_size(w.present ? w.level : 1) >> 12;
					uint64_t b = q & ~(sz - 1);

					if (w.present && b < p + n && b + sz > p)
						fail_msg("seed %llu step %d: gfn %llu (level %d) survived zap of [%llu, %llu)",
							 (unsigned long long)seed, step,
							 (unsigned long long)q, w.level,
							 (unsigned long long)p,
							 (unsigned long long)(p + n));
				}
				for (uint64_t q = 0; q < npages; q++) {
					struct m2d_pt_walk w;

					m2d_pt_walk(e.vm->pt, q * K4, &w);
					ref_mapped[q] = w.present;
				}
				break;
			case 5:
				if (mmu == M2D_KVM_MMU_ARM64_S2)
					break;
				n = 1 + (r >> 20) % 1500;
				if (p + n > npages)
					n = npages - p;
				kvm_zap_gfn_range(e.vm, p, p + n);
				for (uint64_t q = 0; q < npages; q++) {
					struct m2d_pt_walk w;

					m2d_pt_walk(e.vm->pt, q * K4, &w);
					if (q >= p && q < p + n)
						assert_false(w.present);
					ref_mapped[q] = w.present;
				}
				break;
			case 6: /* toggle dirty logging: split or recover */
				d.flags ^= M2D_MEM_LOG_DIRTY_PAGES;
				assert_int_equal(m2d_vm_set_memslot(e.vm, &d), 0);
				/*
				 * Splits keep every mapping; recovery maps a whole
				 * 2M region huge from any of its 4K leaves.
				 */
				for (uint64_t q = 0; q < npages; q++) {
					struct m2d_pt_walk w;

					m2d_pt_walk(e.vm->pt, q * K4, &w);
					if (ref_mapped[q] && !w.present) {
						/* Only zap-collapsible drops mappings: whole 2M tables. */
						struct m2d_pt_walk w2;

						assert_true(e.vm->cfg.recover_zap ||
							    mmu == M2D_KVM_MMU_LEGACY);
						for (uint64_t k = q & ~511ull; k < (q | 511); k++) {
							m2d_pt_walk(e.vm->pt, k * K4, &w2);
							assert_false(w2.present);
						}
					} else if (!ref_mapped[q] && w.present) {
						assert_int_equal(w.level, M2D_LEVEL_2M);
					}
					ref_mapped[q] = w.present;
				}
				break;
			default: /* change host mapping level */
				e.mm.level = 1 + (int)((r >> 8) % 2);
				break;
			}
			/* Invariants: mapped set, pfns, stats. */
			uint64_t leaves[4] = { 0 };

			for (uint64_t q = 0; q < npages; q++) {
				struct m2d_pt_walk w;

				m2d_pt_walk(e.vm->pt, q * K4, &w);
				if (w.present != ref_mapped[q])
					fail_msg("seed %llu step %d op %d p %llu: gfn %llu present %d want %d",
						 (unsigned long long)seed, step, (int)(r % 8),
						 (unsigned long long)p, (unsigned long long)q,
						 w.present, ref_mapped[q]);
				if (w.present) {
					assert_int_equal(w.pfn, 0x80000 + q);
					if ((q & ((m2d_level_size(w.level) >> 12) - 1)) == 0)
						leaves[w.level]++;
				}
			}
			struct m2d_vm_stats st;

			m2d_vm_stats_get(e.vm, &st);
			for (int l = 1; l <= 3; l++)
				if (st.pages[l] != leaves[l])
					fail_msg("seed %llu step %d: pages[%d] %llu want %llu",
						 (unsigned long long)seed, step, l,
						 (unsigned long long)st.pages[l],
						 (unsigned long long)leaves[l]);
		}
		env_fini(&e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kvm_memslot_lookup),
		cmocka_unit_test(test_kvm_memslot_hva_overlap),
		cmocka_unit_test(test_kvm_memslot_lpage_info),
		cmocka_unit_test(test_kvm_tdp_first_touch_counts),
		cmocka_unit_test(test_kvm_legacy_first_touch_counts),
		cmocka_unit_test(test_kvm_legacy_mmu_page_hash_walks),
		cmocka_unit_test(test_kvm_legacy_direct_pte_prefetch),
		cmocka_unit_test(test_kvm_shadow_fault_counts),
		cmocka_unit_test(test_kvm_shadow_dirty_log),
		cmocka_unit_test(test_kvm_shadow_rmap_zap_and_refusals),
		cmocka_unit_test(test_kvm_dirty_bitmap_alloc_cost),
		cmocka_unit_test(test_kvm_fault_under_huge_spte),
		cmocka_unit_test(test_kvm_stage2_first_touch_counts),
		cmocka_unit_test(test_kvm_tdp_neighbour_fault),
		cmocka_unit_test(test_kvm_notifier_aliasing),
		cmocka_unit_test(test_kvm_memslot_delete_zaps),
		cmocka_unit_test(test_kvm_retry_predicates),
		cmocka_unit_test(test_kvm_fault_precheck_retry),
		cmocka_unit_test(test_kvm_stage2_unmap_costs),
		cmocka_unit_test(test_kvm_vcpu_efault_skip),
		cmocka_unit_test(test_kvm_vcpu_access_range_strides),
		cmocka_unit_test(test_kvm_vcpu_map_gpa_range),
		cmocka_unit_test(test_kvm_fault_mmap_lock),
		cmocka_unit_test(test_kvm_gmem_invalidate),
		cmocka_unit_test(test_kvm_memory_attributes),
		cmocka_unit_test(test_kvm_dirty_log_reference),
		cmocka_unit_test(test_kvm_eager_split_counts),
		cmocka_unit_test(test_kvm_legacy_eager_split_counts),
		cmocka_unit_test(test_kvm_clear_dirty_log_walk_starts),
		cmocka_unit_test(test_kvm_legacy_clear_dirty_through_rmaps),
		cmocka_unit_test(test_kvm_legacy_notifier_zap_through_rmaps),
		cmocka_unit_test(test_kvm_dirty_log_recover_huge),
		cmocka_unit_test(test_kvm_dirty_log_zap_collapsible),
		cmocka_unit_test(test_kvm_legacy_zap_collapsible),
		cmocka_unit_test(test_kvm_removed_pt_exclusive_counts),
		cmocka_unit_test(test_kvm_enable_dirty_log_flush),
		cmocka_unit_test(test_kvm_arm64_dirty_log_wp_range),
		cmocka_unit_test(test_kvm_arm64_relax_perms),
		cmocka_unit_test(test_kvm_arm64_eager_split_counts),
		cmocka_unit_test(test_kvm_arm64_eager_split_1g_chunks),
		cmocka_unit_test(test_kvm_arm64_fault_lock_versions),
		cmocka_unit_test(test_kvm_random_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
