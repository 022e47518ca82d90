/* SPDX-License-Identifier: MIT */
/*
 * lib/coco/rmp.h - the SEV-SNP Reverse Map Table and the host helpers that
 * change it (arch/x86/virt/svm/sev.c): rmpupdate, rmp_make_private/shared,
 * psmash, snp_lookup_rmpentry, adjust_direct_map; the guest's PVALIDATE;
 * and the RMP check the CPU applies to host writes.
 *
 * The API is public (include/mmu2d/coco.h); this header adds the raw
 * entry layout and raw accessors for lib/coco and tests.
 */
#ifndef M2D_LIB_COCO_RMP_H
#define M2D_LIB_COCO_RMP_H

#include <mmu2d/coco.h>

#include "core/engine.h"

/*
 * Raw RMP entry, low 64 bits, Zen3/Zen4 layout (struct rmpentry_raw in
 * arch/x86/virt/svm/sev.c; "not architectural"):
 *
 *   63  62  61  60......51 50..................12 11....3  2   1   0
 *  +---+---+---+-----------+----------------------+-------+---+---+---+
 *  |rsv|val|vms|   asid    |   gpa (4K frame no.) | rsvd  |imm|psz|asg|
 *  +---+---+---+-----------+----------------------+-------+---+---+---+
 *
 * asg = assigned, psz = pagesize (0 = 4K, 1 = 2M), imm = immutable,
 * vms = vmsa, val = validated.  The high 64 bits are only used for dumps
 * and are not modelled.
 *
 * Model rule: an unassigned entry is stored as 0 (RMPUPDATE to shared
 * clears every field; the kernel never reads the page size of an
 * unassigned entry: sev_gmem_invalidate and sev_gmem_max_mapping_level
 * both check "assigned" first).
 */
#define RMPE_ASSIGNED (1ull << 0)
#define RMPE_PAGESIZE (1ull << 1)
#define RMPE_IMMUTABLE (1ull << 2)
#define RMPE_GPA_SHIFT 12
#define RMPE_GPA_MASK (((1ull << 39) - 1) << RMPE_GPA_SHIFT)
#define RMPE_ASID_SHIFT 51
#define RMPE_ASID_MASK (((1ull << 10) - 1) << RMPE_ASID_SHIFT)
#define RMPE_VMSA (1ull << 61)
#define RMPE_VALIDATED (1ull << 62)

/* RMPUPDATE / PSMASH / PVALIDATE return codes (APM vol. 3, asm/sev.h). */
enum {
	RMP_SUCCESS = 0,
	RMPUPDATE_FAIL_INPUT = 1,
	RMPUPDATE_FAIL_PERMISSION = 2,
	RMPUPDATE_FAIL_INUSE = 3,
	RMPUPDATE_FAIL_OVERLAP = 4,
	PVALIDATE_FAIL_INPUT = 1,
	PVALIDATE_FAIL_SIZEMISMATCH = 6,
	PVALIDATE_FAIL_NOUPDATE = 255,
};

#define RMP_PTRS_PER_PMD 512u

/* struct rmp_state (arch/x86/include/asm/sev.h): the RMPUPDATE operand. */
struct m2d_rmp_state {
	uint64_t gpa;        /* guest physical address (bytes) */
	uint8_t assigned;    /* 1 = guest-owned */
	uint8_t pagesize;    /* 0 = 4K, 1 = 2M */
	uint8_t immutable;
	uint8_t rsvd;
	uint32_t asid;
};

/* The raw low 64 bits of the RMP entry of @pfn (no cost charged; for tests
 * and invariant checks).  0 for an out-of-range pfn. */
uint64_t m2d_rmp_raw(const struct m2d_rmp *rmp, m2d_pfn_t pfn);
/* Effective (authoritative) level of @pfn: 2M if its 2M-aligned entry is an
 * assigned 2M entry, else 4K.  No cost charged. */
int m2d_rmp_raw_level(const struct m2d_rmp *rmp, m2d_pfn_t pfn);
/* Is @pfn assigned (through its own or its authoritative 2M entry)? */
bool m2d_rmp_raw_is_assigned(const struct m2d_rmp *rmp, m2d_pfn_t pfn);
/* Number of assigned 4K pages in the 2M region containing @pfn (512 for
 * a 2M entry). */
unsigned m2d_rmp_region_assigned(const struct m2d_rmp *rmp, m2d_pfn_t pfn);

/*
 * @n consecutive snp_lookup_rmpentry() calls from @start stopping at the
 * first assigned pfn (2 reads each, charged).  Return: that pfn, or
 * start + n if none is assigned.
 */
uint64_t m2d_snp_lookup_rmpentry_scan(struct m2d_rmp *rmp, m2d_pfn_t start, uint64_t n);
/* m2d_rmp_host_write_directmap() for @n consecutive pfns.
 * Return: number of violations. */
unsigned m2d_rmp_host_write_directmap_range(struct m2d_rmp *rmp, m2d_pfn_t pfn, uint64_t n);

#endif /* M2D_LIB_COCO_RMP_H */
