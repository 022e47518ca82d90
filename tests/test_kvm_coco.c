// SPDX-License-Identifier: MIT
/*
 * tests/test_kvm_coco.c - KVM with lib/coco's guest_memfd and the SNP RMP:
 * private faults through kvm_gmem_get_pfn (2M folio, sev_gmem_prepare,
 * RMP-limited mapping level), guest_memfd hole punches reaching KVM's
 * invalidation through the guest_memfd callbacks, and conversions.
 * Host pages and the direct map are the coco test doubles
 * (tests/coco_fixture.h) until lib/mm lands.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>

#include "coco_fixture.h"

#include <mmu2d/kvm.h>

#include "kvm/kvm.h"

#define HOST_PFNS (1ull << 18) /* 1 GiB */
#define GMEM_SIZE (16ull << 20)
#define M2 (1ull << 21)
#define K4 (1ull << 12)

/* No shared memory behind the slot's HVA in these tests. */
static bool none_gup_fast(void *mm, uint64_t hva, bool write, uint64_t *pfn, bool *writable)
{
	return false;
}

static long none_gup_slow(void *mm, uint64_t hva, bool write, bool nowait, uint64_t *pfn,
			  bool *writable)
{
	return -EFAULT;
}

static void none_lock(void *mm)
{
}

static int none_vma_lookup(void *mm, uint64_t hva, struct m2d_kvm_vma_info *out)
{
	return -ENOENT;
}

static int none_level(void *mm, uint64_t hva)
{
	return M2D_LEVEL_4K;
}

struct world {
	struct m2d_sim *sim;
	struct fx_pm pm;
	struct fx_dm dm;
	struct m2d_rmp *rmp;
	struct m2d_gmem *g;
	struct m2d_gmem_file *f;
	struct m2d_sev_vm sev;
	struct m2d_vm *vm;
	struct m2d_vcpu *vcpu;
};

static void world_init(struct world *w)
{
	struct m2d_kvm_host_ops ops = {
		.gup_fast = none_gup_fast,
		.gup_slow = none_gup_slow,
		.mmap_read_lock = none_lock,
		.mmap_read_unlock = none_lock,
		.vma_lookup = none_vma_lookup,
		.host_mapping_level = none_level,
	};
	struct m2d_rmp_config rc;
	struct m2d_gmem_config gc;
	struct m2d_vm_config vc;
	struct m2d_memslot_desc d;

	memset(w, 0, sizeof(*w));
	w->sim = fx_sim();
	m2d_engine_enter(w->sim);
	fx_pm_init(&w->pm, HOST_PFNS);
	fx_dm_init(&w->dm, HOST_PFNS, M2D_LEVEL_2M);
	m2d_rmp_config_default(&rc);
	rc.max_pfn = HOST_PFNS;
	assert_int_equal(m2d_rmp_create(&w->rmp, &rc, &fx_dm_ops, &w->dm), 0);
	m2d_gmem_config_default(&gc);
	gc.size = GMEM_SIZE;
	assert_int_equal(m2d_gmem_create(&w->g, &gc, &fx_pm_ops, &w->pm, w->rmp), 0);

	m2d_kvm_host_ops_set_gmem(&ops);
	m2d_vm_config_default(&vc);
	vc.vendor = M2D_KVM_VENDOR_AMD;
	assert_int_equal(m2d_vm_create(&w->vm, w->sim, &vc, &ops), 0);
	w->sev = (struct m2d_sev_vm){ .rmp = w->rmp, .asid = 5, .snp = true };
	m2d_vm_set_sev(w->vm, &w->sev);
	assert_int_equal(m2d_gmem_file_create(w->g, w->vm, m2d_vm_gmem_kvm_ops(), &w->f), 0);
	d = (struct m2d_memslot_desc){ .id = 1, .flags = M2D_MEM_GUEST_MEMFD, .guest_phys = 0,
				       .size = GMEM_SIZE, .userspace_addr = 1ull << 40,
				       .gmem = w->f, .gmem_offset = 0 };
	assert_int_equal(m2d_vm_set_memslot(w->vm, &d), 0);
	assert_int_equal(m2d_vcpu_create(w->vm, 0, &w->vcpu), 0);
	assert_int_equal(m2d_vm_set_memory_attributes(w->vm, 0, GMEM_SIZE,
						      M2D_MEMORY_ATTRIBUTE_PRIVATE), 0);
}

static void world_fini(struct world *w)
{
	struct m2d_memslot_desc d = { .id = 1 };

	assert_int_equal(m2d_vm_set_memslot(w->vm, &d), 0); /* unbinds */
	/* kvm_gmem_release runs with the VM's slots_lock held. */
	mutex_lock(&w->vm->slots_lock);
	m2d_gmem_file_release(&w->f);
	mutex_unlock(&w->vm->slots_lock);
	m2d_vm_destroy(&w->vm);
	m2d_gmem_destroy(&w->g);
	m2d_rmp_destroy(&w->rmp);
	m2d_engine_leave(w->sim);
	fx_dm_fini(&w->dm);
	fx_pm_fini(&w->pm);
	m2d_sim_destroy(&w->sim);
}

static int pfault(struct world *w, uint64_t gpa)
{
	enum retry_cause cause;

	return kvm_mmu_page_fault(w->vcpu, gpa, M2D_ACCESS_PRIVATE | M2D_ACCESS_WRITE, &cause);
}

static uint64_t ctr(struct world *w, const char *name)
{
	return m2d_sim_counter(w->sim, name);
}

/*
 * A private fault on an untouched 2M region: one 2M folio, one
 * sev_gmem_prepare with a 2M RMPUPDATE, and a 2M SPTE (RMP level 2M).
 */
static void test_kvm_coco_private_fault_2m(void **state)
{
	struct world w;
	struct m2d_pt_walk pw;
	struct m2d_vm_stats st;

	world_init(&w);
	assert_int_equal(pfault(&w, 3 * K4), RET_PF_FIXED);
	assert_int_equal(ctr(&w, "gmem_folios_2m"), 1);
	assert_int_equal(ctr(&w, "gmem_prepares"), 1);
	assert_int_equal(ctr(&w, "rmpupdates"), 1);
	assert_int_equal(ctr(&w, "spte_installs_2m"), 1);
	m2d_pt_walk(w.vm->pt, 3 * K4, &pw);
	assert_true(pw.present);
	assert_int_equal(pw.level, M2D_LEVEL_2M);
	/* A second fault in the region is spurious: nothing more. */
	assert_int_equal(pfault(&w, 7 * K4), RET_PF_SPURIOUS);
	assert_int_equal(ctr(&w, "rmpupdates"), 1);
	m2d_vm_stats_get(w.vm, &st);
	assert_int_equal(st.pages[2], 1);
	world_fini(&w);
}

/*
 * fallocate(PUNCH_HOLE) of a mapped 2M region: guest_memfd's invalidation
 * reaches KVM through the callbacks: one begin/end (seq + 1), the 2M SPTE
 * zapped, one remote flush; the next fault allocates again.
 */
static void test_kvm_coco_punch_hole_zaps(void **state)
{
	struct world w;
	struct m2d_vm_stats st, before;

	world_init(&w);
	assert_int_equal(pfault(&w, 0), RET_PF_FIXED);
	assert_int_equal(pfault(&w, M2), RET_PF_FIXED);
	m2d_vm_stats_get(w.vm, &before);
	assert_int_equal(before.pages[2], 2);
	assert_int_equal(m2d_gmem_fallocate(w.g, M2D_GMEM_FALLOC_KEEP_SIZE |
						  M2D_GMEM_FALLOC_PUNCH_HOLE,
					    0, (int64_t)M2),
			 0);
	m2d_vm_stats_get(w.vm, &st);
	assert_int_equal(st.pages[2], 1);
	assert_int_equal(st.mmu_invalidate_seq, before.mmu_invalidate_seq + 1);
	assert_int_equal(st.remote_tlb_flush, before.remote_tlb_flush + 1);
	assert_int_equal(w.vm->mmu_invalidate_in_progress, 0);
	assert_int_equal(pfault(&w, 0), RET_PF_FIXED);
	assert_int_equal(ctr(&w, "gmem_folios_2m"), 3);
	world_fini(&w);
}

/* Converting part of a private 2M mapping to shared zaps it and maps the rest at 4K. */
static void test_kvm_coco_conversion_mixed(void **state)
{
	struct world w;
	struct m2d_pt_walk pw;

	world_init(&w);
	assert_int_equal(pfault(&w, M2), RET_PF_FIXED);
	assert_int_equal(m2d_vm_set_memory_attributes(w.vm, M2, K4, 0), 0);
	m2d_pt_walk(w.vm->pt, M2 + K4, &pw);
	assert_false(pw.present);
	/* Mixed region: private faults map 4K now. */
	assert_int_equal(pfault(&w, M2 + K4), RET_PF_FIXED);
	m2d_pt_walk(w.vm->pt, M2 + K4, &pw);
	assert_true(pw.present);
	assert_int_equal(pw.level, M2D_LEVEL_4K);
	/* The shared gfn faulted as private exits to userspace. */
	assert_int_equal(pfault(&w, M2), -EFAULT);
	assert_int_equal(w.vcpu->exit.reason, M2D_KVM_EXIT_MEMORY_FAULT);
	world_fini(&w);
}

static void guest_private_write(struct m2d_vcpu *vcpu, void *arg)
{
	assert_int_equal(m2d_vcpu_access(vcpu, *(uint64_t *)arg,
					 M2D_ACCESS_WRITE | M2D_ACCESS_PRIVATE),
			 M2D_GUEST_ACCESS_DONE);
}

/*
 * The hardware RMP check: after a partial conversion the private page is
 * mapped 4K in the NPT while its RMP entry is still 2M; the guest's access
 * raises #NPF(RMP): sev_handle_rmp_fault PSMASHes and KVM zaps 512 gfns,
 * the access re-faults at 4K and retires.
 */
static void test_kvm_coco_rmp_npf(void **state)
{
	struct world w;
	uint64_t gpa = M2 + 5 * K4;
	uint64_t zaps;

	world_init(&w);
	assert_int_equal(pfault(&w, M2), RET_PF_FIXED);
	assert_int_equal(ctr(&w, "spte_installs_2m"), 1);
	assert_int_equal(m2d_vm_set_memory_attributes(w.vm, M2, K4, 0), 0);
	assert_int_equal(pfault(&w, gpa), RET_PF_FIXED); /* 4K: mixed region */
	zaps = ctr(&w, "spte_zaps");
	assert_int_equal(ctr(&w, "psmash"), 0);
	assert_int_equal(m2d_vcpu_run(w.vcpu, guest_private_write, &gpa, NULL, NULL), 0);
	assert_int_equal(ctr(&w, "rmp_npf_psmash"), 1);
	assert_int_equal(ctr(&w, "spte_zaps"), zaps + 1);
	/* The second run does not fault again. */
	uint64_t faults = ctr(&w, "faults");

	assert_int_equal(m2d_vcpu_run(w.vcpu, guest_private_write, &gpa, NULL, NULL), 0);
	assert_int_equal(ctr(&w, "faults"), faults);
	world_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kvm_coco_private_fault_2m),
		cmocka_unit_test(test_kvm_coco_punch_hole_zaps),
		cmocka_unit_test(test_kvm_coco_conversion_mixed),
		cmocka_unit_test(test_kvm_coco_rmp_npf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
