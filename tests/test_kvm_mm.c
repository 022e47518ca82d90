// SPDX-License-Identifier: MIT
/*
 * tests/test_kvm_mm.c - KVM on the host mm model (lib/mm): mmu_stress_test
 * in miniature.  One shmem memfd mapped once, MADV_NOHUGEPAGE, prefaulted;
 * NSLOTS memslots alias its HVA range; the vCPU writes every page (run1),
 * rewrites (run2), mprotect(PROT_READ) zaps every SPTE of every slot
 * through KVM's mmu_notifier and writes exit with -EFAULT (skipped),
 * reads map read-only, mprotect(PROT_READ|PROT_WRITE) zaps again and the
 * writes re-fault.  Exact counts at each step, for x86 TDP and arm64.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include <mmu2d/kvm.h>
#include <mmu2d/mm.h>
#include <mmu2d/physmem.h>
#include <mmu2d/sim.h>

#include "kvm/kvm.h"

#define SLOT_SIZE (8ull << 20)
#define NSLOTS 4
#define PAGES (SLOT_SIZE >> 12)
#define GPA_BASE (4ull << 30)

struct stress {
	struct m2d_sim *sim;
	struct m2d_host *host;
	struct m2d_mm *mm;
	struct m2d_file *memfd;
	struct m2d_vm *vm;
	struct m2d_vcpu *vcpu;
	uint64_t hva;
};

static void stress_init(struct stress *s, bool arm64)
{
	struct m2d_sim_config sc;
	struct m2d_host_config hc;
	struct m2d_mm_config mc;
	struct m2d_vm_config vc;
	struct m2d_kvm_host_ops ops = { 0 };

	memset(s, 0, sizeof(*s));
	m2d_sim_config_default(&sc);
	sc.cpus = 4;
	assert_int_equal(m2d_sim_create(&s->sim, &sc), 0);
	m2d_host_config_default(&hc);
	hc.mem_bytes = 256ull << 20;
	assert_int_equal(m2d_host_create(s->sim, &hc, &s->host), 0);
	m2d_engine_enter(s->sim);
	m2d_mm_config_default(&mc);
	mc.arch = arm64 ? M2D_MM_ARCH_ARM64 : M2D_MM_ARCH_X86_64;
	assert_int_equal(m2d_mm_create(&s->mm, s->host, &mc), 0);
	assert_int_equal(m2d_memfd_create(s->host, SLOT_SIZE, M2D_FILE_SHMEM, &s->memfd), 0);
	assert_int_equal(m2d_mm_mmap(s->mm, 0, SLOT_SIZE, M2D_PROT_READ | M2D_PROT_WRITE,
				     M2D_MAP_SHARED, s->memfd, 0, &s->hva),
			 0);
	assert_int_equal(m2d_mm_madvise(s->mm, s->hva, SLOT_SIZE, M2D_MADV_NOHUGEPAGE), 0);
	assert_int_equal(m2d_mm_populate(s->mm, s->hva, SLOT_SIZE, true), 0);

	m2d_kvm_host_ops_set_mm(&ops);
	m2d_vm_config_default(&vc);
	vc.mmu = arm64 ? M2D_KVM_MMU_ARM64_S2 : M2D_KVM_MMU_TDP;
	assert_int_equal(m2d_vm_create(&s->vm, s->sim, &vc, &ops), 0);
	assert_int_equal(m2d_vm_mmu_notifier_register(s->vm, s->mm), 0);
	for (unsigned k = 0; k < NSLOTS; k++) {
		struct m2d_memslot_desc d = {
			.id = k + 1, .guest_phys = GPA_BASE + k * SLOT_SIZE, .size = SLOT_SIZE,
			.userspace_addr = s->hva, .mm = s->mm,
		};

		assert_int_equal(m2d_vm_set_memslot(s->vm, &d), 0);
	}
	assert_int_equal(m2d_vcpu_create(s->vm, 0, &s->vcpu), 0);
}

static void stress_fini(struct stress *s)
{
	m2d_vm_destroy(&s->vm);
	m2d_mm_destroy(&s->mm);
	m2d_file_put(&s->memfd);
	m2d_engine_leave(s->sim);
	m2d_host_destroy(&s->host);
	m2d_sim_destroy(&s->sim);
}

struct pass {
	unsigned flags;
	unsigned exits;
};

static void guest_pass(struct m2d_vcpu *vcpu, void *arg)
{
	struct pass *p = arg;

	assert_int_equal(m2d_vcpu_access_range(vcpu, GPA_BASE, NSLOTS * PAGES, 4096, p->flags),
			 M2D_GUEST_ACCESS_DONE);
}

/* The selftest's host loop: skip the faulting instruction on -EFAULT. */
static enum m2d_kvm_exit_action vmm_skip(struct m2d_vcpu *vcpu, const struct m2d_kvm_exit *exit,
					 void *arg)
{
	struct pass *p = arg;

	assert_int_equal(exit->reason, M2D_KVM_EXIT_EFAULT);
	p->exits++;
	return M2D_KVM_EXIT_SKIP;
}

static uint64_t ctr(struct stress *s, const char *name)
{
	return m2d_sim_counter(s->sim, name);
}

static void run_pass(struct stress *s, unsigned flags, unsigned want_exits)
{
	struct pass p = { .flags = flags };

	assert_int_equal(m2d_vcpu_run(s->vcpu, guest_pass, &p, vmm_skip, &p), 0);
	assert_int_equal(p.exits, want_exits);
}

static void check_stress(bool arm64)
{
	const uint64_t n = NSLOTS * PAGES;
	struct stress s;
	struct m2d_vm_stats st;

	stress_init(&s, arm64);
	/* run1: every page faults and maps 4K (host PTEs are 4K). */
	run_pass(&s, M2D_ACCESS_WRITE, 0);
	assert_int_equal(ctr(&s, "faults"), n);
	assert_int_equal(ctr(&s, "spte_installs_4k"), n);
	/* run2: rewrites over present SPTEs. */
	run_pass(&s, M2D_ACCESS_WRITE, 0);
	assert_int_equal(ctr(&s, "faults"), n);

	/* ro: one notifier invalidation (one PUD range) zaps every slot. */
	assert_int_equal(m2d_mm_mprotect(s.mm, s.hva, SLOT_SIZE, M2D_PROT_READ), 0);
	assert_int_equal(ctr(&s, "mmu_notifier_invalidations"), 1);
	assert_int_equal(ctr(&s, "spte_zaps"), n);
	m2d_vm_stats_get(s.vm, &st);
	assert_int_equal(st.pages[1], 0);
	assert_int_equal(st.mmu_invalidate_seq, 1);
	assert_int_equal(ctr(&s, "remote_tlb_flushes"), arm64 ? 0 : 1);
	/* Stage 3: every write exits with -EFAULT and is skipped. */
	run_pass(&s, M2D_ACCESS_WRITE, (unsigned)n);
	assert_int_equal(ctr(&s, "efault_exits"), n);
	/* Stage 2-like reads map read-only. */
	run_pass(&s, 0, 0);
	assert_int_equal(ctr(&s, "faults"), 3 * n);
	assert_false(kvm_tdp_mmu_spte_allows(s.vm, GPA_BASE, true));
	assert_true(kvm_tdp_mmu_spte_allows(s.vm, GPA_BASE, false));

	/* rw: zap again; writes re-fault and succeed. */
	assert_int_equal(m2d_mm_mprotect(s.mm, s.hva, SLOT_SIZE, M2D_PROT_READ | M2D_PROT_WRITE),
			 0);
	assert_int_equal(ctr(&s, "mmu_notifier_invalidations"), 2);
	assert_int_equal(ctr(&s, "spte_zaps"), 2 * n);
	run_pass(&s, M2D_ACCESS_WRITE, 0);
	assert_int_equal(ctr(&s, "faults"), 4 * n);
	assert_int_equal(ctr(&s, "efault_exits"), n);
	m2d_vm_stats_get(s.vm, &st);
	assert_int_equal(st.pages[1], n);
	stress_fini(&s);
}

static void test_kvm_mm_stress_x86(void **state)
{
	check_stress(false);
}

static void test_kvm_mm_stress_arm64(void **state)
{
	check_stress(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kvm_mm_stress_x86),
		cmocka_unit_test(test_kvm_mm_stress_arm64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
