/* SPDX-License-Identifier: MIT */
/*
 * lib/coco/sev.h - KVM's SEV-SNP private-memory hooks
 * (arch/x86/kvm/svm/sev.c): sev_gmem_prepare, sev_gmem_invalidate,
 * sev_gmem_max_mapping_level and sev_handle_rmp_fault.
 *
 * They live in lib/coco because they only touch the RMP; lib/kvm calls
 * them (kvm_x86_ops.gmem_prepare etc.) and performs the zap that
 * sev_handle_rmp_fault asks for, since coco may not call into kvm.
 */
#ifndef M2D_LIB_COCO_SEV_H
#define M2D_LIB_COCO_SEV_H

#include "coco/rmp.h"

/* The SNP part of struct kvm_sev_info. */
struct m2d_sev_vm {
	struct m2d_rmp *rmp;   /* the host RMP */
	uint32_t asid;         /* the guest's ASID */
	bool snp;              /* sev_snp_guest(kvm) */
};

/*
 * sev_gmem_prepare() - make @pfn (backing @gfn, in a folio of @max_order)
 * private: nothing if already assigned (2 RMP reads); a 2M RMP entry if
 * max_order >= 9 and all 512 entries of the 2M range are shared
 * (is_large_rmp_possible: 512 lookups = 1024 reads), else 4K.
 * Return: 0, -ENOENT (lookup failed), -EINVAL (RMPUPDATE failed).
 */
int m2d_sev_gmem_prepare(struct m2d_sev_vm *sev, m2d_pfn_t pfn, m2d_gfn_t gfn, int max_order);

/*
 * sev_gmem_invalidate() - return [@start, @end) to the host: per assigned
 * pfn (or 2M entry wholly inside the range) RMPUPDATE to shared, PSMASH
 * first when only part of a 2M entry is freed, then CLFLUSH the range.
 * Pages whose RMP state can't be restored are leaked (snp_leak_pages).
 */
void m2d_sev_gmem_invalidate(struct m2d_rmp *rmp, m2d_pfn_t start, m2d_pfn_t end);

/*
 * sev_gmem_max_mapping_level() - the RMP's limit on a private mapping of
 * @pfn: 0 if not an SNP guest, M2D_LEVEL_4K if unassigned or the lookup
 * fails, else the RMP level.
 */
int m2d_sev_gmem_max_mapping_level(struct m2d_sev_vm *sev, m2d_pfn_t pfn);

/* What sev_handle_rmp_fault() decided; KVM carries out the zap. */
struct m2d_sev_rmp_fault {
	bool psmashed;          /* a 2M RMP entry was smashed */
	bool zap;               /* KVM must kvm_zap_gfn_range(zap_start, zap_end) */
	m2d_gfn_t zap_start;    /* the faulting gfn (as the kernel: not aligned) */
	m2d_gfn_t zap_end;      /* zap_start + 512 */
	int rmp_level;          /* RMP level found at the fault */
};

/*
 * sev_handle_rmp_fault() - #NPF with the RMP bit at @gfn, whose private
 * backing (from kvm_gmem_get_pfn, done by the caller) is @pfn.  If the RMP
 * entry is 2M: PSMASH (re-lookup on failure) and ask for a zap of 512
 * gfns.  Spurious faults (already 4K, unassigned) ask for nothing.
 * Return: 0, or the lookup's error (then nothing was done).
 */
int m2d_sev_handle_rmp_fault(struct m2d_sev_vm *sev, m2d_gfn_t gfn, m2d_pfn_t pfn,
			     uint64_t error_code, struct m2d_sev_rmp_fault *out);

/* snp_rmptable_psmash(): PSMASH the 2M entry containing @pfn.
 * Return: 0, -EINVAL, or the PSMASH failure code. */
int m2d_snp_rmptable_psmash(struct m2d_rmp *rmp, m2d_pfn_t pfn);

#endif /* M2D_LIB_COCO_SEV_H */
