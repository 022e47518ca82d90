/* SPDX-License-Identifier: MIT */
/*
 * mmu2d/ghcb.h - the SEV-SNP guest-hypervisor ABI the guest model and KVM
 * share: the Page State Change descriptor of the GHCB shared buffer
 * (struct snp_psc_desc, GHCB spec section 4.1.6).
 */
#ifndef M2D_GHCB_H
#define M2D_GHCB_H

#include <mmu2d/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* VMGEXIT_PSC_MAX_ENTRY since the descriptor moved to the stack. */
#define M2D_VMGEXIT_PSC_MAX_ENTRY 64

/* struct psc_entry operations (VMGEXIT_PSC_OP_*). */
enum m2d_psc_op {
	M2D_PSC_OP_PRIVATE = 1,
	M2D_PSC_OP_SHARED = 2,
	M2D_PSC_OP_PSMASH = 3,
	M2D_PSC_OP_UNSMASH = 4,
};

/* struct psc_entry (GHCB spec) */
struct m2d_psc_entry {
	uint64_t gfn;          /* first 4K frame */
	uint16_t cur_page;     /* pages of the entry already done (hypervisor writes) */
	uint8_t operation;     /* enum m2d_psc_op */
	bool pagesize_2m;      /* RMP_PG_SIZE_2M */
};

/* struct snp_psc_desc: header + entries (end_entry inclusive). */
struct m2d_psc_desc {
	uint16_t cur_entry;
	uint16_t end_entry;
	struct m2d_psc_entry entries[M2D_VMGEXIT_PSC_MAX_ENTRY];
};

#ifdef __cplusplus
}
#endif
#endif /* M2D_GHCB_H */
