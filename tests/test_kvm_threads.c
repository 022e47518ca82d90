// SPDX-License-Identifier: MIT
/*
 * tests/test_kvm_threads.c - KVM with simulated threads (needs the
 * coroutine engine; with the sequential engine stub it exits 77, skipped):
 *
 *  - a vCPU faulting on a gfn while an invalidation covering it is in
 *    progress spins in its re-fault loop until the invalidation ends, and
 *    the retries are counted as elapsed / (exit + fault overhead);
 *  - x86 only retries for gfns in the range; arm64 retries for any gfn;
 *  - parallel read-locked faults from several vCPUs install every SPTE
 *    exactly once, and the run is deterministic.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include <mmu2d/kvm.h>
#include <mmu2d/sim.h>

#include "shadow_fixture.h"

#include "core/engine.h"
#include "kvm/kvm.h"

#define K4 (1ull << 12)
#define M2 (1ull << 21)
#define HVA (1ull << 40)
#define SIZE (8 * M2)

/* The flat host, but GUP-fast takes 10 us (a window for a racing invalidation). */
static struct m2d_kvm_host_ops flat_ops, slow_ops;
static bool (*flat_gup_fast)(void *, uint64_t, bool, uint64_t *, bool *);

static bool slow_gup_fast(void *mm, uint64_t hva, bool write, uint64_t *pfn, bool *writable)
{
	m2d_thread_work(10000);
	return flat_gup_fast(mm, hva, write, pfn, writable);
}

static void hosts_init(void)
{
	m2d_kvm_host_ops_set_flat(&flat_ops);
	slow_ops = flat_ops;
	flat_gup_fast = flat_ops.gup_fast;
	slow_ops.gup_fast = slow_gup_fast;
}

/* ---- engine probe ----------------------------------------------------------- */

static bool probe_b_ran;
static bool probe_seen;

static void probe_a(void *arg)
{
	m2d_thread_work(1000);
	m2d_sched_point();
	probe_seen = probe_b_ran;
}

static void probe_b(void *arg)
{
	probe_b_ran = true;
}

/* The sequential stub runs A to completion before B; the engine does not. */
static bool have_engine(void)
{
	struct m2d_sim_config cfg;
	struct m2d_sim *sim;

	m2d_sim_config_default(&cfg);
	cfg.cpus = 2;
	if (m2d_sim_create(&sim, &cfg))
		abort();
	m2d_sim_spawn(sim, 0, "a", probe_a, NULL);
	m2d_sim_spawn(sim, 1, "b", probe_b, NULL);
	m2d_sim_run(sim);
	m2d_sim_destroy(&sim);
	return probe_seen;
}

/* ---- fixture ------------------------------------------------------------------ */

struct tenv {
	struct m2d_sim *sim;
	struct m2d_vm *vm;
	struct m2d_vcpu *vcpu[8];
};

static void tenv_init_ops(struct tenv *e, enum m2d_kvm_mmu mmu, unsigned nvcpus,
			  const struct m2d_kvm_host_ops *ops);

static void tenv_init(struct tenv *e, enum m2d_kvm_mmu mmu, unsigned nvcpus)
{
	tenv_init_ops(e, mmu, nvcpus, &flat_ops);
}

static void tenv_init_ops(struct tenv *e, enum m2d_kvm_mmu mmu, unsigned nvcpus,
			  const struct m2d_kvm_host_ops *ops)
{
	struct m2d_sim_config sc;
	struct m2d_vm_config vc;
	struct m2d_memslot_desc d = { .id = 1, .guest_phys = 0, .size = SIZE,
				      .userspace_addr = HVA };

	memset(e, 0, sizeof(*e));
	m2d_sim_config_default(&sc);
	sc.cpus = 16;
	assert_int_equal(m2d_sim_create(&e->sim, &sc), 0);
	/* One retry of the re-fault loop = 2000 ns. */
	assert_int_equal(m2d_sim_set_param(e->sim, "KVM_EXIT_ENTRY", 1500), 0);
	assert_int_equal(m2d_sim_set_param(e->sim, "KVM_FAULT_OVERHEAD", 500), 0);
	m2d_vm_config_default(&vc);
	vc.mmu = mmu;
	assert_int_equal(m2d_vm_create(&e->vm, e->sim, &vc, ops), 0);
	shadow_fixture_install(e->vm, mmu);
	assert_int_equal(m2d_vm_set_memslot(e->vm, &d), 0);
	for (unsigned i = 0; i < nvcpus; i++)
		assert_int_equal(m2d_vcpu_create(e->vm, i, &e->vcpu[i]), 0);
}

static void tenv_fini(struct tenv *e)
{
	m2d_vm_destroy(&e->vm);
	m2d_sim_destroy(&e->sim);
}

/* ---- the re-fault loop --------------------------------------------------------------- */

struct inval_arg {
	struct m2d_vm *vm;
	uint64_t start, end;   /* HVA */
	double hold_ns;        /* time between start and end (change_protection) */
	m2d_vtime_t ended_at;
};

static void inval_thread(void *p)
{
	struct inval_arg *a = p;

	m2d_vm_mmu_notifier_invalidate_range_start(a->vm, a->start, a->end, true);
	m2d_thread_work(a->hold_ns);
	m2d_vm_mmu_notifier_invalidate_range_end(a->vm, a->start, a->end);
	a->ended_at = m2d_thread_now();
}

struct touch_arg {
	struct m2d_vcpu *vcpu;
	uint64_t gpa;
	m2d_vtime_t done_at;
};

static void guest_touch_one(struct m2d_vcpu *vcpu, void *p)
{
	struct touch_arg *a = p;

	assert_int_equal(m2d_vcpu_access(vcpu, a->gpa, M2D_ACCESS_WRITE), M2D_GUEST_ACCESS_DONE);
}

static void touch_thread(void *p)
{
	struct touch_arg *a = p;

	m2d_thread_work(10000); /* start after the invalidation began */
	assert_int_equal(m2d_vcpu_run(a->vcpu, guest_touch_one, a, NULL, NULL), 0);
	a->done_at = m2d_thread_now();
}

static void run_race(enum m2d_kvm_mmu mmu, uint64_t inval_off, uint64_t touch_gpa,
		     bool expect_wait)
{
	struct tenv e;
	struct inval_arg ia;
	struct touch_arg ta;
	uint64_t retries;

	tenv_init(&e, mmu, 1);
	ia = (struct inval_arg){ .vm = e.vm, .start = HVA + inval_off,
				 .end = HVA + inval_off + M2, .hold_ns = 1e6 };
	ta = (struct touch_arg){ .vcpu = e.vcpu[0], .gpa = touch_gpa };
	assert_int_equal(m2d_sim_spawn(e.sim, 1, "mprotect", inval_thread, &ia), 0);
	assert_int_equal(m2d_sim_spawn(e.sim, 2, "vcpu0", touch_thread, &ta), 0);
	assert_int_equal(m2d_sim_run(e.sim), 0);
	retries = m2d_sim_counter(e.sim, "fault_retries");
	assert_int_equal(m2d_sim_counter(e.sim, "spte_installs_4k"), 1);
	if (expect_wait) {
		/* Spun from ~10 us to the end at ~1 ms: ~495 retries of 2 us. */
		assert_true(ta.done_at >= ia.ended_at);
		assert_in_range(retries, 480, 500);
	} else {
		assert_int_equal(retries, 0);
		assert_true(ta.done_at < ia.ended_at);
	}
	tenv_fini(&e);
}

static void test_kvm_threads_refault_loop_x86(void **state)
{
	run_race(M2D_KVM_MMU_TDP, 0, 5 * K4, true);       /* gfn in the range */
	run_race(M2D_KVM_MMU_TDP, 4 * M2, 5 * K4, false); /* outside: no retry */
}

static void test_kvm_threads_refault_loop_arm64(void **state)
{
	run_race(M2D_KVM_MMU_ARM64_S2, 0, 5 * K4, true);
	run_race(M2D_KVM_MMU_ARM64_S2, 4 * M2, 5 * K4, true); /* VM-wide */
}

/* ---- parallel populate ----------------------------------------------------------------- */

struct pop_arg {
	struct m2d_vcpu *vcpu;
	uint64_t gpa, pages;
};

static void guest_pop(struct m2d_vcpu *vcpu, void *p)
{
	struct pop_arg *a = p;

	assert_int_equal(m2d_vcpu_access_range(vcpu, a->gpa, a->pages, K4, M2D_ACCESS_WRITE),
			 M2D_GUEST_ACCESS_DONE);
}

static void pop_thread(void *p)
{
	struct pop_arg *a = p;

	assert_int_equal(m2d_vcpu_run(a->vcpu, guest_pop, a, NULL, NULL), 0);
}

static m2d_vtime_t run_populate(enum m2d_kvm_mmu mmu)
{
	const unsigned n = 8;
	struct tenv e;
	struct pop_arg pa[8];
	struct m2d_vm_stats st;
	m2d_vtime_t t;

	tenv_init(&e, mmu, n);
	/* A critical section long enough that write-locked faults collide. */
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_SPTE_WRITE", 500), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_SPTE_CMPXCHG", 500), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_TDP_ITER_STEP", 50), 0);
	for (unsigned i = 0; i < n; i++) {
		/* Contiguous 1 MiB slices: the vCPUs share upper tables and race to link them. */
		pa[i] = (struct pop_arg){ .vcpu = e.vcpu[i], .gpa = i * SIZE / n,
					  .pages = SIZE / n / K4 };
		assert_int_equal(m2d_sim_spawn(e.sim, (int)i, "vcpu", pop_thread, &pa[i]), 0);
	}
	assert_int_equal(m2d_sim_run(e.sim), 0);
	m2d_vm_stats_get(e.vm, &st);
	assert_int_equal(st.pages[1], SIZE / K4);
	assert_int_equal(m2d_sim_counter(e.sim, "spte_installs_4k"), SIZE / K4);
	/* Every table allocated is linked or freed after a lost race. */
	assert_int_equal(m2d_sim_counter(e.sim, "tables_allocated") -
				 m2d_sim_counter(e.sim, "tables_freed"),
			 st.mmu_pages - 1);
	/*
	 * mmu_lock: one acquisition per fault (TDP: read, no contention
	 * among readers; legacy: write, the faults serialize).
	 */
	if (mmu != M2D_KVM_MMU_ARM64_S2) {
		struct m2d_lock_stats ls;

		assert_int_equal(m2d_sim_lock_stats(e.sim, "mmu_lock", &ls), 0);
		/* legacy: each fault also maps the rest of its 8-page group (direct_pte_prefetch) */
		assert_int_equal(ls.acquisitions, mmu == M2D_KVM_MMU_LEGACY ? SIZE / K4 / 8 : SIZE / K4);
		if (mmu == M2D_KVM_MMU_TDP)
			assert_int_equal(ls.contended, 0);
		else
			assert_true(ls.contended > 0);
	}
	t = m2d_sim_time(e.sim);
	tenv_fini(&e);
	return t;
}

static void test_kvm_threads_parallel_populate(void **state)
{
	for (int mmu = 0; mmu < M2D_KVM_MMU_NR; mmu++) {
		m2d_vtime_t a = run_populate((enum m2d_kvm_mmu)mmu);
		m2d_vtime_t b = run_populate((enum m2d_kvm_mmu)mmu);

		assert_int_equal(a, b); /* deterministic */
		assert_true(a > 0);
	}
}

/* ---- the sequence check -------------------------------------------------------------- */

struct quick_inval_arg {
	struct m2d_vm *vm;
	double at_ns;
};

static void quick_inval_thread(void *p)
{
	struct quick_inval_arg *a = p;

	m2d_thread_work(a->at_ns);
	/* An invalidation of an HVA range far from the faulting page. */
	m2d_vm_mmu_notifier_invalidate_range_start(a->vm, HVA + 6 * M2, HVA + 7 * M2, true);
	m2d_vm_mmu_notifier_invalidate_range_end(a->vm, HVA + 6 * M2, HVA + 7 * M2);
}

static void touch_now_thread(void *p)
{
	struct touch_arg *a = p;

	assert_int_equal(m2d_vcpu_run(a->vcpu, guest_touch_one, a, NULL, NULL), 0);
}

/*
 * A fault whose mmu_seq snapshot predates an invalidation that completes
 * while it resolves the pfn retries, even though its gfn is outside the
 * range (x86: the sequence moved; arm64: likewise); an invalidation that
 * completed before the snapshot does not make it retry.
 */
static void test_kvm_threads_sequence_moved(void **state)
{
	for (int mmu = 0; mmu < M2D_KVM_MMU_NR; mmu++) {
		for (int during = 0; during < 2; during++) {
			struct tenv e;
			struct quick_inval_arg qa;
			struct touch_arg ta;

			tenv_init_ops(&e, (enum m2d_kvm_mmu)mmu, 1, &slow_ops);
			/* Fault starts at 0; GUP runs from ~2 us to ~12 us. */
			qa = (struct quick_inval_arg){ .vm = e.vm, .at_ns = during ? 5000 : 0 };
			ta = (struct touch_arg){ .vcpu = e.vcpu[0], .gpa = 5 * K4 };
			if (!during) {
				/* Completed before the vCPU starts. */
				assert_int_equal(m2d_sim_spawn(e.sim, 1, "inval", quick_inval_thread,
							       &qa), 0);
				assert_int_equal(m2d_sim_run(e.sim), 0);
				assert_int_equal(m2d_sim_spawn(e.sim, 2, "vcpu0", touch_now_thread,
							       &ta), 0);
			} else {
				assert_int_equal(m2d_sim_spawn(e.sim, 2, "vcpu0", touch_now_thread,
							       &ta), 0);
				assert_int_equal(m2d_sim_spawn(e.sim, 1, "inval", quick_inval_thread,
							       &qa), 0);
			}
			assert_int_equal(m2d_sim_run(e.sim), 0);
			assert_int_equal(m2d_sim_counter(e.sim, "fault_retries"), during ? 1 : 0);
			/* legacy: the faulting page and its 7 prefetched neighbours */
			assert_int_equal(m2d_sim_counter(e.sim, "spte_installs_4k"),
					 mmu == M2D_KVM_MMU_LEGACY ? 8 : 1);
			tenv_fini(&e);
		}
	}
}

/* ---- remote TLB flush IPIs ------------------------------------------------------------- */

struct zap_arg {
	struct m2d_vm *vm;
	uint64_t hva;
	double delay_ns;
};

static void zap_thread(void *p)
{
	struct zap_arg *a = p;

	m2d_thread_work(a->delay_ns);
	m2d_vm_mmu_notifier_invalidate_range_start(a->vm, a->hva, a->hva + M2, true);
	m2d_vm_mmu_notifier_invalidate_range_end(a->vm, a->hva, a->hva + M2);
}

/* vCPU 1: populate its 8 MiB, then rewrite it @rewrites times (guest mode). */
static void guest_pop_rewrite(struct m2d_vcpu *vcpu, void *p)
{
	struct pop_arg *a = p;

	for (int i = 0; i < 11; i++)
		assert_int_equal(m2d_vcpu_access_range(vcpu, a->gpa, a->pages, K4,
						       M2D_ACCESS_WRITE),
				 M2D_GUEST_ACCESS_DONE);
}

static void pop_rewrite_thread(void *p)
{
	struct pop_arg *a = p;

	assert_int_equal(m2d_vcpu_run(a->vcpu, guest_pop_rewrite, a, NULL, NULL), 0);
}

/*
 * kvm_flush_remote_tlbs after a zap IPIs the vCPUs in guest mode: vCPU 0
 * populated the zapped 2 MiB and finished (~1.1 ms); vCPU 1 populates its
 * 8 MiB (~4.3 ms) and then rewrites it in guest mode until ~6.5 ms; the zap
 * at 5 ms IPIs vCPU 1 only.
 */
static void test_kvm_threads_flush_ipis_guest_mode(void **state)
{
	struct tenv e;
	struct pop_arg pa[2];
	struct zap_arg za;

	tenv_init(&e, M2D_KVM_MMU_TDP, 2);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_GUEST_ACCESS", 100), 0);
	pa[0] = (struct pop_arg){ .vcpu = e.vcpu[0], .gpa = 0, .pages = M2 / K4 };
	pa[1] = (struct pop_arg){ .vcpu = e.vcpu[1], .gpa = 4 * M2, .pages = 4 * M2 / K4 };
	za = (struct zap_arg){ .vm = e.vm, .hva = HVA, .delay_ns = 5e6 };
	assert_int_equal(m2d_sim_spawn(e.sim, 0, "vcpu0", pop_thread, &pa[0]), 0);
	assert_int_equal(m2d_sim_spawn(e.sim, 1, "vcpu1", pop_rewrite_thread, &pa[1]), 0);
	assert_int_equal(m2d_sim_spawn(e.sim, 3, "mprotect", zap_thread, &za), 0);
	assert_int_equal(m2d_sim_run(e.sim), 0);
	assert_int_equal(m2d_sim_counter(e.sim, "spte_zaps"), M2 / K4);
	assert_int_equal(m2d_sim_counter(e.sim, "remote_tlb_flushes"), 1);
	assert_int_equal(m2d_sim_counter(e.sim, "ipis"), 1);
	tenv_fini(&e);
}

static double zap_sender_ns;

static void timed_zap_thread(void *p)
{
	struct zap_arg *a = p;
	m2d_vtime_t t0;

	m2d_thread_work(a->delay_ns);
	t0 = m2d_now();
	m2d_vm_mmu_notifier_invalidate_range_start(a->vm, a->hva, a->hva + M2, true);
	zap_sender_ns = (double)(m2d_now() - t0);
	m2d_vm_mmu_notifier_invalidate_range_end(a->vm, a->hva, a->hva + M2);
}

/*
 * kvm_make_all_cpus_request's IPI handler is ack_kick (empty): the sender
 * of kvm_flush_remote_tlbs pays one IPI send and the wait for the ack
 * (10 + 1000 ns here), not the guest TLB flush; KVM_REQ_TLB_FLUSH stays
 * pending on the kicked vCPU, which flushes (1 ms here) once, when it
 * re-enters the guest.  vCPU 0 has left KVM_RUN: its request waits for its
 * next entry, which never comes.
 */
static void test_kvm_threads_flush_ack_kick(void **state)
{
	struct tenv e;
	struct pop_arg pa[2];
	struct zap_arg za;

	tenv_init(&e, M2D_KVM_MMU_TDP, 2);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_GUEST_ACCESS", 100), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "IPI_SEND", 10), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "IPI_ACK_WAIT", 1000), 0);
	assert_int_equal(m2d_sim_set_param(e.sim, "KVM_TLB_FLUSH_GUEST", 1e6), 0);
	pa[0] = (struct pop_arg){ .vcpu = e.vcpu[0], .gpa = 0, .pages = M2 / K4 };
	pa[1] = (struct pop_arg){ .vcpu = e.vcpu[1], .gpa = 4 * M2, .pages = 4 * M2 / K4 };
	za = (struct zap_arg){ .vm = e.vm, .hva = HVA, .delay_ns = 5e6 };
	assert_int_equal(m2d_sim_spawn(e.sim, 0, "vcpu0", pop_thread, &pa[0]), 0);
	assert_int_equal(m2d_sim_spawn(e.sim, 1, "vcpu1", pop_rewrite_thread, &pa[1]), 0);
	assert_int_equal(m2d_sim_spawn(e.sim, 3, "mprotect", timed_zap_thread, &za), 0);
	assert_int_equal(m2d_sim_run(e.sim), 0);
	assert_int_equal(m2d_sim_counter(e.sim, "remote_tlb_flushes"), 1);
	assert_int_equal(m2d_sim_counter(e.sim, "ipis"), 1);
	assert_true(zap_sender_ns == 1010);
	assert_true(m2d_sim_breakdown_ns(e.sim, -1, "kvm_tlb_flush_guest") == 1e6);
	assert_true(e.vcpu[0]->requests & KVM_REQ_TLB_FLUSH);
	assert_false(e.vcpu[1]->requests & KVM_REQ_TLB_FLUSH);
	tenv_fini(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kvm_threads_refault_loop_x86),
		cmocka_unit_test(test_kvm_threads_refault_loop_arm64),
		cmocka_unit_test(test_kvm_threads_parallel_populate),
		cmocka_unit_test(test_kvm_threads_flush_ipis_guest_mode),
		cmocka_unit_test(test_kvm_threads_flush_ack_kick),
		cmocka_unit_test(test_kvm_threads_sequence_moved),
	};

	hosts_init();
	if (!have_engine()) {
		printf("test_kvm_threads: the sequential engine stub is in use; skipped\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
