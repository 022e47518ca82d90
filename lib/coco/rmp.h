/* SPDX-License-Identifier: MIT */
/*
 * lib/coco/rmp.h - the SEV-SNP Reverse Map Table and the host helpers that
 * change it (arch/x86/virt/svm/sev.c): rmpupdate, rmp_make_private/shared,
 * psmash, snp_lookup_rmpentry, adjust_direct_map; the guest's PVALIDATE;
 * and the RMP check the CPU applies to host writes.
 *
 * Internal API of lib/coco.  The public view (policies, statistics) is
 * include/mmu2d/coco.h.
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

/*
 * The direct map as the RMP code needs it (MECHANISMS.md 2.4).  The CPA
 * model in lib/mm implements these; every call must behave as the kernel
 * function named in its comment (locks, splits, flushes, counters).
 * Returns are 0 or -errno.
 */
struct m2d_rmp_directmap_ops {
	/* lookup_address(pfn_to_kaddr(pfn), &level): M2D_LEVEL_4K/2M/1G, or
	 * M2D_LEVEL_NONE if the pfn is not mapped. */
	int (*level)(void *dm, m2d_pfn_t pfn);
	/* Is the direct-map entry of @pfn present? */
	bool (*is_present)(void *dm, m2d_pfn_t pfn);
	/* set_direct_map_invalid_noflush(pfn_to_page(pfn)) */
	int (*set_invalid_noflush)(void *dm, m2d_pfn_t pfn);
	/* set_direct_map_default_noflush(pfn_to_page(pfn)) */
	int (*set_default_noflush)(void *dm, m2d_pfn_t pfn);
	/* set_direct_map_valid_noflush(pfn_to_page(pfn), nr, valid) */
	int (*set_valid_noflush)(void *dm, m2d_pfn_t pfn, unsigned nr, bool valid);
	/* set_memory_4k(pfn_to_kaddr(pfn), npages) */
	int (*set_memory_4k)(void *dm, m2d_pfn_t pfn, unsigned npages);
};

struct m2d_rmp;

/*
 * m2d_rmp_create() - an RMP covering host pfns [0, @cfg->max_pfn).
 * @dm_ops/@dm: the host direct map (may be NULL: no direct map modelled;
 * then only M2D_RMP_DIRECTMAP_NONE is valid and host-write checks see
 * every write as a 4K write).
 * Return: 0, -EINVAL (max_pfn 0 or not 2M-aligned, bad policy), -ENOMEM.
 */
int m2d_rmp_create(struct m2d_rmp **out, const struct m2d_rmp_config *cfg,
		   const struct m2d_rmp_directmap_ops *dm_ops, void *dm);
/* Free; NULL-safe; sets *@rmp to NULL. */
void m2d_rmp_destroy(struct m2d_rmp **rmp);

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
 * snp_lookup_rmpentry() - 2 RMP entry reads: @pfn's own entry and its
 * 2M-aligned entry; *@level is the authoritative page size.
 * Return: 0, -EFAULT (pfn beyond the RMP).
 */
int m2d_snp_lookup_rmpentry(struct m2d_rmp *rmp, m2d_pfn_t pfn, bool *assigned, int *level);

/*
 * rmp_make_private() / rmp_make_shared() - rmpupdate() with the direct-map
 * policy applied (MECHANISMS.md 2.4), RMPUPDATE retried while it returns
 * FAIL_OVERLAP.  @level is M2D_LEVEL_4K or M2D_LEVEL_2M (then @pfn must be
 * 2M-aligned).
 * Return: 0, -EINVAL (bad level/alignment/range), -EFAULT (RMPUPDATE
 * failed for another reason, as the kernel).
 */
int m2d_rmp_make_private(struct m2d_rmp *rmp, m2d_pfn_t pfn, uint64_t gpa, int level,
			 uint32_t asid, bool immutable);
int m2d_rmp_make_shared(struct m2d_rmp *rmp, m2d_pfn_t pfn, int level);

/*
 * psmash() - split the 2M entry at ALIGN_DOWN(@pfn, 512) into 512 4K
 * entries, preserving Validated.
 * Return: 0, -EINVAL (pfn beyond the RMP), or a positive PSMASH failure
 * code (RMPUPDATE_FAIL_INPUT: not a 2M entry) as the instruction does.
 */
int m2d_psmash(struct m2d_rmp *rmp, m2d_pfn_t pfn);

/*
 * PVALIDATE executed by the guest with ASID @asid on the page at @gpa
 * backed by host @pfn, at @level, setting Validated to @validate.
 * Never an error: the outcome is what the instruction reports.
 */
enum m2d_pvalidate_result m2d_rmp_pvalidate(struct m2d_rmp *rmp, m2d_pfn_t pfn, uint64_t gpa,
					    int level, uint32_t asid, bool validate);

/*
 * The CPU's RMP check on a host write to @pfn through a mapping of @level
 * (M2D_LEVEL_4K/2M/1G): a violation if @pfn is assigned, or if the mapping
 * is 2M or larger and any 4K page of the 2M region containing @pfn is
 * assigned (1G mappings are checked as 2M).  A violation is counted
 * (rmp_violations) and logged with the offending addresses; it is a
 * result, not an error.
 * Return: true if the write raised an RMP violation.
 */
bool m2d_rmp_host_write(struct m2d_rmp *rmp, m2d_pfn_t pfn, int level);
/* The same, through the kernel direct map (its current level for @pfn).
 * A write to a non-present direct-map entry is a #PF, not an RMP check:
 * it is not counted here. */
bool m2d_rmp_host_write_directmap(struct m2d_rmp *rmp, m2d_pfn_t pfn);

/*
 * Would a host write through a mapping of @level at @pfn violate the RMP?
 * (the predicate of m2d_rmp_host_write, without counting).
 */
bool m2d_rmp_write_would_fault(const struct m2d_rmp *rmp, m2d_pfn_t pfn, int level);

/* Statistics and the violation log. */
void m2d_rmp_stats_get(const struct m2d_rmp *rmp, struct m2d_rmp_stats *out);
/* Copy up to @n logged violations (oldest first). Return: number copied. */
unsigned m2d_rmp_violations_get(const struct m2d_rmp *rmp, struct m2d_rmp_violation *out,
				unsigned n);
/* The policy in use. */
enum m2d_rmp_directmap m2d_rmp_directmap_policy(const struct m2d_rmp *rmp);
/* The direct map hooked to this RMP (NULL if none). */
const struct m2d_rmp_directmap_ops *m2d_rmp_directmap(const struct m2d_rmp *rmp, void **dm);

#endif /* M2D_LIB_COCO_RMP_H */
