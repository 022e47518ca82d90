// SPDX-License-Identifier: MIT
/*
 * lib/kvm/vcpu.c - vCPUs: the KVM_RUN loop, guest memory accesses, VM
 * exits, exits to userspace, KVM requests.
 *
 * Guest code is a C function run "in guest mode" on the vCPU's simulated
 * thread.  Its memory accesses go through m2d_vcpu_access(): the hardware
 * walk of the second-dimension table (present, writable for a store)
 * decides whether the access retires or causes an EPT/NPT violation
 * (stage-2 abort).  A violation is a VM exit (KVM_EXIT_ENTRY cost, guest
 * mode off), kvm_mmu_page_fault(), and re-entry, which services pending
 * KVM requests (KVM_REQ_TLB_FLUSH).  A fault that must go to userspace
 * (-EFAULT, KVM_EXIT_MEMORY_FAULT, KVM_EXIT_HYPERCALL) returns from
 * KVM_RUN: the VMM callback decides to re-run (the guest re-executes the
 * access), to skip the instruction (RIP += len, the selftests' -EFAULT
 * loop), or to stop.
 *
 * The re-fault loop.  While an invalidation covering the faulting gfn is
 * in progress (x86: in_progress and gfn in [range_start, range_end);
 * arm64: any invalidation), every fault returns RET_PF_RETRY and the guest
 * immediately faults again.  Simulating each iteration would make
 * full-scale replays (48 vCPUs spinning through a multi-second zap)
 * needlessly slow, so the loop is fast-forwarded: the vCPU waits on
 * kvm->mmu_invalidate_wq in spin mode (the engine charges the time as
 * spinning), is woken by kvm_mmu_invalidate_end when the last invalidation
 * ends, and the faults/retries the loop would have done are counted as
 * elapsed / (KVM_EXIT_ENTRY + KVM_FAULT_OVERHEAD).  Retries caused by a
 * sequence change or a lost cmpxchg re-fault at once (they end quickly).
 */
#include "kvm/kvm.h"

#include "coco/rmp.h"
#include "mm/pt.h"
#include "core/alloc.h"

#include <errno.h>

#define PML_ENTITY_NUM 512

int m2d_vcpu_create(struct m2d_vm *kvm, unsigned id, struct m2d_vcpu **out)
{
	struct m2d_vcpu *vcpu;

	M2D_VALIDATE_OR_RET(kvm && out, -EINVAL);
	for (unsigned i = 0; i < kvm->nr_vcpus; i++)
		if (kvm->vcpus[i]->id == id)
			return -EEXIST;
	if (kvm->nr_vcpus == kvm->vcpus_cap) {
		unsigned ncap = kvm->vcpus_cap ? kvm->vcpus_cap * 2 : 8;
		struct m2d_vcpu **n = m2d_realloc(M2D_ALLOC_KVM, kvm->vcpus,
						  kvm->vcpus_cap * sizeof(*n), ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		kvm->vcpus = n;
		kvm->vcpus_cap = ncap;
	}
	vcpu = m2d_zalloc(M2D_ALLOC_KVM, sizeof(*vcpu));
	if (!vcpu)
		return -ENOMEM;
	vcpu->vm = kvm;
	vcpu->id = id;
	kvm->vcpus[kvm->nr_vcpus++] = vcpu;
	*out = vcpu;
	return 0;
}

/* kvm_check_request(KVM_REQ_TLB_FLUSH) -> kvm_vcpu_flush_tlb_guest */
static void vcpu_service_requests(struct m2d_vcpu *vcpu)
{
	if (vcpu->requests & KVM_REQ_TLB_FLUSH) {
		vcpu->requests &= ~KVM_REQ_TLB_FLUSH;
		m2d_delay(M2D_COST_KVM_TLB_FLUSH_GUEST, 1);
	}
}

/* vcpu_enter_guest: service requests, then guest mode. */
void vcpu_enter_guest(struct m2d_vcpu *vcpu)
{
	vcpu_service_requests(vcpu);
	vcpu->mode_in_guest = true;
	m2d_thread_set_guest_mode(true);
}

/*
 * A request made while the vCPU was in guest mode came with a kick
 * (kvm_make_all_cpus_request): the IPI forced a VM exit (charged by the
 * engine to this thread), and vcpu_enter_guest serviced the request before
 * re-entering.  The guest code notices at its next access.
 */
static void vcpu_kicked_reenter(struct m2d_vcpu *vcpu)
{
	if (vcpu->requests)
		vcpu_service_requests(vcpu);
}

void vcpu_exit_guest(struct m2d_vcpu *vcpu)
{
	vcpu->mode_in_guest = false;
	m2d_thread_set_guest_mode(false);
}

int m2d_vcpu_run(struct m2d_vcpu *vcpu, m2d_kvm_guest_fn guest, void *garg, m2d_kvm_exit_fn vmm,
		 void *vmm_arg)
{
	struct m2d_vm *kvm;
	bool entered;

	M2D_VALIDATE_OR_RET(vcpu && guest && !vcpu->in_run, -EINVAL);
	kvm = vcpu->vm;
	entered = kvm_engine_enter(kvm);
	vcpu->thread = m2d_current();
	vcpu->vmm = vmm;
	vcpu->vmm_arg = vmm_arg;
	vcpu->in_run = true;
	vcpu->stopped = false;
	vcpu->stop_err = 0;
	vcpu_enter_guest(vcpu);
	guest(vcpu, garg);
	vcpu_exit_guest(vcpu);
	vcpu->in_run = false;
	vcpu->thread = NULL;
	kvm_engine_leave(kvm, entered);
	return vcpu->stop_err;
}

/*
 * An exit to userspace: KVM_RUN returns, the VMM decides.
 * Return: the VMM's action.
 */
enum m2d_kvm_exit_action vcpu_exit_to_user(struct m2d_vcpu *vcpu, int err)
{
	enum m2d_kvm_exit_action act = M2D_KVM_EXIT_STOP;

	if (vcpu->exit.reason == M2D_KVM_EXIT_EFAULT)
		m2d_count(M2D_CTR_efault_exits, 1);
	else
		m2d_count(M2D_CTR_userspace_exits, 1);
	m2d_delay(M2D_COST_KVM_USERSPACE_EXIT, 1);
	if (vcpu->vmm)
		act = vcpu->vmm(vcpu, &vcpu->exit, vcpu->vmm_arg);
	if (act == M2D_KVM_EXIT_STOP) {
		vcpu->stopped = true;
		vcpu->stop_err = err;
	}
	return act;
}

/* The busy re-fault loop while an invalidation covers @gfn (see top). */
static bool retry_wait_cond(const struct m2d_vm *kvm, uint64_t gfn)
{
	if (!READ_ONCE(kvm->mmu_invalidate_in_progress))
		return false;
	if (kvm->cfg.mmu == M2D_KVM_MMU_ARM64_S2)
		return true;
	return gfn >= kvm->mmu_invalidate_range_start && gfn < kvm->mmu_invalidate_range_end;
}

static void vcpu_spin_until_invalidation_ends(struct m2d_vcpu *vcpu, uint64_t gfn)
{
	struct m2d_vm *kvm = vcpu->vm;
	double per = m2d_cost(M2D_COST_KVM_EXIT_ENTRY) + m2d_cost(M2D_COST_KVM_FAULT_OVERHEAD);
	m2d_vtime_t t0 = m2d_now();
	uint64_t n;

	if (!retry_wait_cond(kvm, gfn))
		return;
	kvm->nr_retry_waiters++;
	m2d_wait_event(&kvm->mmu_invalidate_wq, !retry_wait_cond(kvm, gfn), true);
	kvm->nr_retry_waiters--;
	n = per > 0 ? (uint64_t)((double)(m2d_now() - t0) / per) : 0;
	m2d_count(M2D_CTR_faults, n);
	m2d_count(M2D_CTR_fault_retries, n);
}

/*
 * One EPT violation / stage-2 abort on @gpa.
 * Return: -1 to re-execute the access, else an m2d_guest_access result.
 */
static int vcpu_handle_violation(struct m2d_vcpu *vcpu, uint64_t gpa, unsigned flags)
{
	enum retry_cause cause = RETRY_NONE;
	int r, ret = -1;

	vcpu_exit_guest(vcpu);
	m2d_delay(M2D_COST_KVM_EXIT_ENTRY, 1);
	r = kvm_mmu_page_fault(vcpu, gpa, flags, &cause);
	/* npf_interception: the RMP part of the fault after the MMU part. */
	if (r >= 0 && (flags & M2D_ACCESS_RMP))
		kvm_handle_rmp_fault(vcpu, gpa, PFERR_GUEST_RMP_MASK | PFERR_GUEST_ENC_MASK);
	if (r == RET_PF_RETRY && cause == RETRY_INVALIDATION)
		vcpu_spin_until_invalidation_ends(vcpu, gpa >> M2D_PAGE_SHIFT);
	if (r < 0) {
		switch (vcpu_exit_to_user(vcpu, r)) {
		case M2D_KVM_EXIT_RETRY:
			break;
		case M2D_KVM_EXIT_SKIP:
			ret = M2D_GUEST_ACCESS_SKIPPED;
			break;
		case M2D_KVM_EXIT_STOP:
			return M2D_GUEST_ACCESS_STOPPED;
		}
	}
	vcpu_enter_guest(vcpu);
	return ret;
}

/*
 * The hardware side of a store to a present writable leaf: set D (an
 * atomic OR, no KVM bookkeeping) and, with PML on a dirty-logged slot, log
 * the GPA; a full PML buffer exits to KVM, which drains it into the dirty
 * bitmap.
 */
static void vcpu_set_dirty(struct m2d_vcpu *vcpu, uint64_t *ptep, uint64_t gpa)
{
	struct m2d_vm *kvm = vcpu->vm;
	struct m2d_memslot *slot;

	uatomic_or(ptep, kvm->spte_d_mask);
	m2d_delay(M2D_COST_KVM_GUEST_SET_DIRTY, 1);
	if (!kvm->cfg.pml)
		return;
	slot = kvm_vcpu_gfn_to_memslot(vcpu, gpa >> M2D_PAGE_SHIFT);
	if (!slot || !kvm_slot_dirty_track_enabled(slot))
		return;
	mark_page_dirty_in_slot(kvm, slot, gpa >> M2D_PAGE_SHIFT);
	if (++vcpu->pml_index == PML_ENTITY_NUM) {
		vcpu->pml_index = 0;
		m2d_delay(M2D_COST_KVM_PML_FULL_EXIT, 1);
	}
}

/*
 * The hardware RMP check of a private access (SEV-SNP): a 4K nested
 * mapping of a page whose assigned RMP entry is 2M faults (#NPF with the
 * RMP bit).  No cost: it is part of the hardware walk.
 */
static bool rmp_check_fails(const struct m2d_vm *kvm, const struct m2d_pt_walk *w)
{
	m2d_pfn_t pfn;

	if (!kvm->sev->snp || w->level != M2D_LEVEL_4K)
		return false;
	pfn = m2d_pfn_from_u64(m2d_pte_pfn(kvm->fmt, w->pte, w->level));
	return m2d_rmp_raw_is_assigned(kvm->sev->rmp, pfn) &&
	       m2d_rmp_raw_level(kvm->sev->rmp, pfn) > M2D_LEVEL_4K;
}

/*
 * Check one access against the leaf the hardware walk found.
 * Return: true if it retires.
 */
static bool access_allowed(struct m2d_vcpu *vcpu, struct m2d_pt_walk *w, uint64_t gpa,
			   unsigned flags)
{
	if (!w->present)
		return false;
	if ((flags & M2D_ACCESS_PRIVATE) && vcpu->vm->sev && rmp_check_fails(vcpu->vm, w))
		return false;
	if (flags & M2D_ACCESS_WRITE) {
		const struct m2d_vm *kvm = vcpu->vm;

		if (!(w->pte & kvm->spte_w_mask))
			return false;
		if (kvm->spte_d_mask && !(w->pte & kvm->spte_d_mask)) {
			vcpu_set_dirty(vcpu, w->ptep, gpa);
			w->pte |= kvm->spte_d_mask;
		}
	}
	return true;
}

/*
 * The access at @gpa did not retire against the walk @w: VM exits and
 * faults until it does (or the VMM skips or stops it).
 */
static int vcpu_access_slow(struct m2d_vcpu *vcpu, uint64_t gpa, unsigned flags,
			    struct m2d_pt_walk *w)
{
	for (;;) {
		unsigned why = 0;
		int r;

		if (w->present)
			why = M2D_ACCESS_PRESENT;
		if (w->present && (flags & M2D_ACCESS_PRIVATE) && vcpu->vm->sev &&
		    rmp_check_fails(vcpu->vm, w))
			why |= M2D_ACCESS_RMP;
		r = vcpu_handle_violation(vcpu, gpa, flags | why);
		if (r >= 0)
			return r;
		m2d_pt_walk(vcpu->vm->pt, gpa, w);
		if (access_allowed(vcpu, w, gpa, flags))
			return M2D_GUEST_ACCESS_DONE;
	}
}

int m2d_vcpu_access(struct m2d_vcpu *vcpu, uint64_t gpa, unsigned flags)
{
	struct m2d_pt_walk w;

	M2D_VALIDATE_OR_RET(vcpu && vcpu->in_run, -EINVAL);
	if (vcpu->stopped)
		return M2D_GUEST_ACCESS_STOPPED;
	vcpu_kicked_reenter(vcpu);
	m2d_delay(M2D_COST_KVM_GUEST_ACCESS, 1);
	m2d_pt_walk(vcpu->vm->pt, gpa, &w);
	if (access_allowed(vcpu, &w, gpa, flags))
		return M2D_GUEST_ACCESS_DONE;
	return vcpu_access_slow(vcpu, gpa, flags, &w);
}

int m2d_vcpu_access_range(struct m2d_vcpu *vcpu, uint64_t gpa, uint64_t n, uint64_t stride,
			  unsigned flags)
{
	struct m2d_vm *kvm;
	uint64_t done = 0;

	M2D_VALIDATE_OR_RET(vcpu && vcpu->in_run && stride, -EINVAL);
	kvm = vcpu->vm;
	if (vcpu->stopped)
		return M2D_GUEST_ACCESS_STOPPED;
	while (done < n) {
		struct m2d_pt_walk w;
		uint64_t run = 0;
		bool faulted = false;
		int r;

		/*
		 * A synchronisation point per leaf table: other threads that
		 * are behind in virtual time run first, so a zap that happens
		 * "earlier" is seen by the accesses after it.
		 */
		m2d_sched_point();
		vcpu_kicked_reenter(vcpu);
		m2d_pt_walk(kvm->pt, gpa, &w);
		for (;;) {
			uint64_t next = gpa + stride, shift;

			if (!access_allowed(vcpu, &w, gpa, flags)) {
				faulted = true;
				break;
			}
			run++;
			gpa = next;
			if (done + run == n || next < stride)
				break;
			/* Stay inside the leaf (huge) or the leaf table (4K): no re-walk. */
			shift = w.level == M2D_LEVEL_4K ? M2D_PMD_SHIFT
							: M2D_PAGE_SHIFT + 9 * (w.level - 1);
			if ((next >> shift) != ((next - stride) >> shift))
				break;
			if (w.level == M2D_LEVEL_4K) {
				uint64_t step = (next >> M2D_PAGE_SHIFT) -
						((next - stride) >> M2D_PAGE_SHIFT);

				if (step) {
					w.ptep += step;
					w.pte = READ_ONCE(*w.ptep);
					w.present = pt_is_leaf(kvm->fmt, w.pte, M2D_LEVEL_4K);
				}
			}
		}
		done += run;
		if (!faulted) {
			m2d_delay(M2D_COST_KVM_GUEST_ACCESS, run);
			continue;
		}
		/* The access at @gpa faults: the slow path, from this walk. */
		m2d_delay(M2D_COST_KVM_GUEST_ACCESS, run + 1);
		r = vcpu_access_slow(vcpu, gpa, flags, &w);
		if (r == M2D_GUEST_ACCESS_STOPPED)
			return r;
		done++;
		gpa += stride;
	}
	return M2D_GUEST_ACCESS_DONE;
}

int m2d_vcpu_map_gpa_range(struct m2d_vcpu *vcpu, uint64_t gpa, uint64_t npages, uint64_t attrs)
{
	M2D_VALIDATE_OR_RET(vcpu && vcpu->in_run, -EINVAL);
	if (vcpu->stopped)
		return M2D_GUEST_ACCESS_STOPPED;
	vcpu_exit_guest(vcpu);
	m2d_delay(M2D_COST_KVM_EXIT_ENTRY, 1);
	vcpu->exit = (struct m2d_kvm_exit){
		.reason = M2D_KVM_EXIT_HYPERCALL,
		.gpa = gpa,
		.size = npages,
		.flags = attrs,
	};
	if (vcpu_exit_to_user(vcpu, 0) == M2D_KVM_EXIT_STOP)
		return M2D_GUEST_ACCESS_STOPPED;
	vcpu_enter_guest(vcpu);
	return M2D_GUEST_ACCESS_DONE;
}

int m2d_vcpu_npf_rmp(struct m2d_vcpu *vcpu, uint64_t gpa, bool size_mismatch)
{
	M2D_VALIDATE_OR_RET(vcpu && vcpu->in_run, -EINVAL);
	if (vcpu->stopped)
		return M2D_GUEST_ACCESS_STOPPED;
	vcpu_exit_guest(vcpu);
	m2d_delay(M2D_COST_KVM_EXIT_ENTRY, 1);
	kvm_handle_rmp_fault(vcpu, gpa, PFERR_GUEST_RMP_MASK | PFERR_GUEST_ENC_MASK |
					(size_mismatch ? PFERR_GUEST_SIZEM_MASK : 0));
	vcpu_enter_guest(vcpu);
	return M2D_GUEST_ACCESS_DONE;
}
