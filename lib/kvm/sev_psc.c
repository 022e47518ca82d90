// SPDX-License-Identifier: MIT
/*
 * lib/kvm/sev_psc.c - KVM's handling of a guest Page State Change request
 * (arch/x86/kvm/svm/sev.c: sev_handle_vmgexit(SVM_VMGEXIT_PSC),
 * snp_begin_psc, snp_complete_one_psc, snp_complete_psc).  MECHANISMS.md 2.6.
 *
 * KVM does not change any state itself: every run of mergeable entries
 * becomes one KVM_HC_MAP_GPA_RANGE exit, and the VMM (QEMU's
 * kvm_convert_memory) sets the memory attributes.  The guest is resumed
 * only when every entry of the descriptor is done, so a descriptor of 64
 * contiguous 2M private entries costs one VM exit and one userspace round
 * trip.
 */
#include "kvm/kvm.h"

#include <errno.h>

/*
 * snp_begin_psc(): find the next entry with work left from hdr.cur_entry,
 * merge the following entries with the same operation and page size,
 * contiguous gfns and cur_page == 0.
 * Return: the number of entries in the run (0: nothing left); *@gfn,
 * *@npages, *@huge describe it.
 */
static unsigned snp_begin_psc(struct m2d_psc_desc *desc, uint64_t *gfn, uint64_t *npages,
			      bool *huge, int *err)
{
	unsigned idx, idx_end = desc->end_entry, inflight;
	struct m2d_psc_entry start;

	*err = 0;
	for (idx = desc->cur_entry; idx <= idx_end; idx++, desc->cur_entry++) {
		uint64_t n;

		start = desc->entries[idx];
		*gfn = start.gfn;
		*huge = start.pagesize_2m;
		n = *huge ? 512 : 1;
		if (start.cur_page > n || (*gfn & (n - 1))) {
			*err = -EINVAL; /* GHCB_HV_RESP_MALFORMED_INPUT */
			return 0;
		}
		if (start.cur_page) {
			/* A partly done 2M entry continues as 4K pages. */
			n -= start.cur_page;
			*gfn += start.cur_page;
			*huge = false;
		}
		*npages = n;
		if (n)
			break;
	}
	if (idx > idx_end)
		return 0;
	inflight = 1;
	while (++idx <= idx_end) {
		const struct m2d_psc_entry *e = &desc->entries[idx];

		if (e->operation != start.operation || e->gfn != *gfn + *npages || e->cur_page ||
		    e->pagesize_2m != *huge)
			break;
		inflight++;
		*npages += *huge ? 512 : 1;
	}
	return inflight;
}

/* __snp_complete_one_psc(): mark the in-flight entries done. */
static void snp_complete_one_psc(struct m2d_psc_desc *desc, unsigned inflight)
{
	for (unsigned i = 0; i < inflight; i++) {
		struct m2d_psc_entry *e = &desc->entries[desc->cur_entry];

		e->cur_page = e->pagesize_2m ? 512 : 1;
		desc->cur_entry++;
	}
}

int m2d_vcpu_vmgexit_psc(struct m2d_vcpu *vcpu, struct m2d_psc_desc *desc)
{
	int ret = M2D_GUEST_ACCESS_DONE, err = 0;

	M2D_VALIDATE_OR_RET(vcpu && vcpu->in_run && desc, -EINVAL);
	if (vcpu->stopped)
		return M2D_GUEST_ACCESS_STOPPED;
	if (desc->end_entry >= M2D_VMGEXIT_PSC_MAX_ENTRY || desc->cur_entry > desc->end_entry + 1)
		return -EINVAL;
	vcpu_exit_guest(vcpu);
	m2d_delay(M2D_COST_KVM_EXIT_ENTRY, 1);
	for (;;) {
		uint64_t gfn = 0, npages = 0;
		bool huge = false;
		unsigned inflight = snp_begin_psc(desc, &gfn, &npages, &huge, &err);
		uint8_t op;

		if (!inflight || err)
			break;
		op = desc->entries[desc->cur_entry].operation;
		if (op != M2D_PSC_OP_PRIVATE && op != M2D_PSC_OP_SHARED) {
			/* SMASH/UNSMASH: completed without an exit. */
			snp_complete_one_psc(desc, inflight);
			continue;
		}
		m2d_count(M2D_CTR_psc_exits, 1);
		vcpu->exit = (struct m2d_kvm_exit){
			.reason = M2D_KVM_EXIT_HYPERCALL,
			.gpa = gfn << M2D_PAGE_SHIFT,
			.size = npages,
			.flags = (op == M2D_PSC_OP_PRIVATE ? M2D_KVM_MAP_GPA_RANGE_ENCRYPTED
							   : M2D_KVM_MAP_GPA_RANGE_DECRYPTED) |
				 (huge ? M2D_KVM_MAP_GPA_RANGE_PAGE_SZ_2M
				       : M2D_KVM_MAP_GPA_RANGE_PAGE_SZ_4K),
		};
		if (vcpu_exit_to_user(vcpu, 0) == M2D_KVM_EXIT_STOP)
			return M2D_GUEST_ACCESS_STOPPED;
		snp_complete_one_psc(desc, inflight);
	}
	if (err)
		return err;
	vcpu_enter_guest(vcpu);
	return ret;
}
