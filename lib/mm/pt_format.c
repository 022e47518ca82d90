// SPDX-License-Identifier: MIT
/*
 * lib/mm/pt_format.c - bit-exact entry encodings for the three formats.
 *
 * Sources: Intel SDM vol. 3A 4.5 (4-level and 5-level paging, tables 4-15
 * to 4-20) and 29.3.2 (EPT, tables 29-1 to 29-6); Arm ARM D8.3 (VMSAv8-64
 * translation table descriptors, stage-2 attributes); the kernel's
 * arch/x86/include/asm/pgtable_types.h (_PAGE_BIT_*), arch/x86/include/asm/
 * vmx.h (VMX_EPT_*), arch/x86/kvm/mmu/spte.h and arch/arm64/kvm/hyp/pgtable.c
 * (KVM_PTE_*).
 *
 * x86-64 (4K PTE; PMD/PUD leaves have PS=1 and PAT moves to bit 12):
 *
 *   63  62..52  51 ............ 12  11..9  8   7      6   5   4    3    2    1    0
 *  +--+-------+-------------------+------+---+------+---+---+----+----+----+----+---+
 *  |NX| (pkey)|  physical address | SW2-0| G |PS/PAT| D | A |PCD |PWT | US | RW | P |
 *  +--+-------+-------------------+------+---+------+---+---+----+----+----+----+---+
 *
 * EPT (leaf at 2M/1G has bit 7 set; non-leaf entries carry R|W|X = 7):
 *
 *   63   62..55  54..52   51 ............ 12  11  10  9   8   7     6     5..3   2  1  0
 *  +---+-------+--------+-------------------+---+---+---+---+-----+-----+------+--+--+--+
 *  |SVE|  ign  | SW2-0  |  physical address |ign|UX | D | A |large|IPAT |memtype| X| W| R|
 *  +---+-------+--------+-------------------+---+---+---+---+-----+-----+------+--+--+--+
 *
 * arm64 stage-2, 4K granule (bits[1:0]: 0b11 table at levels 0-2 or page
 * at level 3, 0b01 block at levels 1-2):
 *
 *   63..59  58..55  54  53  52..48  47 ........... 12  11  10  9..8  7..6    5..2   1  0
 *  +------+-------+---+---+-------+------------------+---+---+-----+------+-------+--+--+
 *  | ign  |SW3-0  |XN1|XN0|  res  | output address   |nG | AF| SH  | S2AP |MemAttr| T| V|
 *  +------+-------+---+---+-------+------------------+---+---+-----+------+-------+--+--+
 *
 * Levels here are the kernel's PG_LEVEL_* (1 = 4K); arm64 calls our level 1
 * its level 3, our level 3 its level 1.
 */
#include "mm/pt.h"

/* The format-specific attribute bits that m2d_prot describes, for @level. */
static uint64_t attr_mask(enum m2d_pt_format fmt, int level)
{
	switch (fmt) {
	case M2D_PT_X86_64:
		return X86_RW | X86_US | X86_PWT | X86_PCD | X86_A | X86_D | X86_G |
		       (7ull * X86_SW0) | X86_NX |
		       (level == M2D_LEVEL_4K ? X86_PAT_4K : X86_PAT_LARGE);
	case M2D_PT_EPT:
		return EPT_RWX | EPT_MT_MASK | EPT_IPAT | EPT_A | EPT_D | (7ull * EPT_SW0);
	default:
		return S2_MEMATTR_MASK | S2_AP_R | S2_AP_W | (3ull << S2_SH_SHIFT) | S2_AF |
		       S2_XN_MASK | (7ull * S2_SW0);
	}
}

/* Encode @prot into the attribute bits of attr_mask(@fmt, @level). */
static uint64_t encode_attrs(enum m2d_pt_format fmt, unsigned prot)
{
	uint64_t v = 0;
	uint64_t sw = (prot >> 8) & 7; /* M2D_PROT_SW0..2 */

	switch (fmt) {
	case M2D_PT_X86_64:
		if (prot & M2D_PROT_W)
			v |= X86_RW;
		if (prot & M2D_PROT_U)
			v |= X86_US;
		if (prot & M2D_PROT_A)
			v |= X86_A;
		if (prot & M2D_PROT_D)
			v |= X86_D;
		if (prot & M2D_PROT_G)
			v |= X86_G;
		if (!(prot & M2D_PROT_X))
			v |= X86_NX;
		if (!(prot & M2D_PROT_WB))
			v |= X86_PWT | X86_PCD; /* PAT index 3: UC */
		return v | sw * X86_SW0;
	case M2D_PT_EPT:
		if (prot & M2D_PROT_R)
			v |= EPT_R;
		if (prot & M2D_PROT_W)
			v |= EPT_W;
		if (prot & M2D_PROT_X)
			v |= EPT_X;
		if (prot & M2D_PROT_WB)
			v |= (EPT_MT_WB << EPT_MT_SHIFT) | EPT_IPAT;
		if (prot & M2D_PROT_A)
			v |= EPT_A;
		if (prot & M2D_PROT_D)
			v |= EPT_D;
		return v | sw * EPT_SW0;
	default:
		v = ((prot & M2D_PROT_WB) ? S2_MEMATTR_NORMAL_WB : S2_MEMATTR_DEVICE_nGnRE)
		    << S2_MEMATTR_SHIFT;
		if (prot & M2D_PROT_R)
			v |= S2_AP_R;
		if (prot & M2D_PROT_W)
			v |= S2_AP_W;
		v |= S2_SH_IS;
		if (prot & M2D_PROT_A)
			v |= S2_AF;
		if (!(prot & M2D_PROT_X))
			v |= S2_XN;
		return v | sw * S2_SW0;
	}
}

/* The bits that make an entry a present leaf at @level (P+PS, large, V+T). */
static uint64_t leaf_type_bits(enum m2d_pt_format fmt, int level)
{
	switch (fmt) {
	case M2D_PT_X86_64:
		return X86_P | (level > M2D_LEVEL_4K ? X86_PS : 0);
	case M2D_PT_EPT:
		return level > M2D_LEVEL_4K ? EPT_LARGE : 0;
	default:
		return S2_VALID | (level == M2D_LEVEL_4K ? S2_TABLE : 0);
	}
}

static bool valid_fmt_level(enum m2d_pt_format fmt, int level)
{
	return (unsigned)fmt < M2D_PT_FORMAT_NR && level >= M2D_LEVEL_4K && level <= M2D_LEVEL_1G;
}

/**
 * m2d_pte_make_leaf() - encode a leaf entry.
 * @fmt: table format
 * @level: 1 (4K), 2 (2M) or 3 (1G)
 * @pfn: first 4K frame mapped; bits below the level alignment are dropped
 * @prot: m2d_prot bits (bits a format lacks are ignored)
 *
 * Return: the entry, or 0 (not present) for a bad @fmt or @level.
 */
uint64_t m2d_pte_make_leaf(enum m2d_pt_format fmt, int level, uint64_t pfn, unsigned prot)
{
	if (!valid_fmt_level(fmt, level))
		return 0;
	return ((pfn << M2D_PAGE_SHIFT) & pt_leaf_addr_mask(fmt, level)) |
	       leaf_type_bits(fmt, level) | encode_attrs(fmt, prot);
}

/**
 * m2d_pte_make_table() - encode a non-leaf entry pointing at @table.
 *
 * x86-64: P|RW|US|A|D (the kernel's _PAGE_TABLE, 0x67); EPT: R|W|X (7);
 * arm64: valid|table (3).  @table must be 4 KiB aligned.
 * Return: the entry, or 0 for a bad @fmt or misaligned @table.
 */
uint64_t m2d_pte_make_table(enum m2d_pt_format fmt, const uint64_t *table)
{
	uint64_t a = (uint64_t)(uintptr_t)table;

	if ((unsigned)fmt >= M2D_PT_FORMAT_NR || (a & (M2D_PAGE_SIZE - 1)) ||
	    (a & ~pt_addr_mask(fmt)))
		return 0;
	switch (fmt) {
	case M2D_PT_X86_64:
		return a | X86_P | X86_RW | X86_US | X86_A | X86_D;
	case M2D_PT_EPT:
		return a | EPT_RWX;
	default:
		return a | S2_VALID | S2_TABLE;
	}
}

bool m2d_pte_is_present(enum m2d_pt_format fmt, uint64_t pte)
{
	return pt_is_present(fmt, pte);
}

bool m2d_pte_is_leaf(enum m2d_pt_format fmt, uint64_t pte, int level)
{
	return pt_is_leaf(fmt, pte, level);
}

/* Return: the first 4K frame of a leaf at @level (0 if not a leaf). */
uint64_t m2d_pte_pfn(enum m2d_pt_format fmt, uint64_t pte, int level)
{
	if (!valid_fmt_level(fmt, level) || !pt_is_leaf(fmt, pte, level))
		return 0;
	return (pte & pt_leaf_addr_mask(fmt, level)) >> M2D_PAGE_SHIFT;
}

/* Return: the child table of a present non-leaf entry; NULL otherwise.
 * (Any level above 1: a huge-leaf-capable entry is a table iff not a leaf.) */
uint64_t *m2d_pte_table(enum m2d_pt_format fmt, uint64_t pte)
{
	if ((unsigned)fmt >= M2D_PT_FORMAT_NR || !pt_is_present(fmt, pte))
		return NULL;
	switch (fmt) {
	case M2D_PT_X86_64:
		if (pte & X86_PS)
			return NULL;
		break;
	case M2D_PT_EPT:
		if (pte & EPT_LARGE)
			return NULL;
		break;
	default:
		if (!(pte & S2_TABLE))
			return NULL;
		break;
	}
	return (uint64_t *)(uintptr_t)(pte & pt_addr_mask(fmt));
}

/**
 * m2d_pte_prot() - decode the m2d_prot bits of a present leaf.
 *
 * x86: R whenever present; WB when PAT index is 0 (PWT, PCD, PAT clear).
 * EPT: WB when memtype is 6.  arm64: X when XN[1:0] is 0, WB when MemAttr
 * is 0xF; no D, U or G.
 * Return: the bits, 0 if @pte is not a present leaf at @level.
 */
unsigned m2d_pte_prot(enum m2d_pt_format fmt, uint64_t pte, int level)
{
	unsigned p = 0;

	if (!valid_fmt_level(fmt, level) || !pt_is_leaf(fmt, pte, level))
		return 0;
	switch (fmt) {
	case M2D_PT_X86_64: {
		uint64_t pat = level == M2D_LEVEL_4K ? X86_PAT_4K : X86_PAT_LARGE;

		p |= M2D_PROT_R;
		if (pte & X86_RW)
			p |= M2D_PROT_W;
		if (!(pte & X86_NX))
			p |= M2D_PROT_X;
		if (pte & X86_US)
			p |= M2D_PROT_U;
		if (pte & X86_A)
			p |= M2D_PROT_A;
		if (pte & X86_D)
			p |= M2D_PROT_D;
		if (pte & X86_G)
			p |= M2D_PROT_G;
		if (!(pte & (X86_PWT | X86_PCD | pat)))
			p |= M2D_PROT_WB;
		p |= (unsigned)((pte / X86_SW0) & 7) << 8;
		break;
	}
	case M2D_PT_EPT:
		if (pte & EPT_R)
			p |= M2D_PROT_R;
		if (pte & EPT_W)
			p |= M2D_PROT_W;
		if (pte & EPT_X)
			p |= M2D_PROT_X;
		if (pte & EPT_A)
			p |= M2D_PROT_A;
		if (pte & EPT_D)
			p |= M2D_PROT_D;
		if (((pte & EPT_MT_MASK) >> EPT_MT_SHIFT) == EPT_MT_WB)
			p |= M2D_PROT_WB;
		p |= (unsigned)((pte / EPT_SW0) & 7) << 8;
		break;
	default:
		if (pte & S2_AP_R)
			p |= M2D_PROT_R;
		if (pte & S2_AP_W)
			p |= M2D_PROT_W;
		if (!(pte & S2_XN_MASK))
			p |= M2D_PROT_X;
		if (pte & S2_AF)
			p |= M2D_PROT_A;
		if (((pte & S2_MEMATTR_MASK) >> S2_MEMATTR_SHIFT) == S2_MEMATTR_NORMAL_WB)
			p |= M2D_PROT_WB;
		p |= (unsigned)((pte / S2_SW0) & 7) << 8;
		break;
	}
	return p;
}

/**
 * m2d_pte_change_prot() - @pte with @set added and @clear removed.
 *
 * Only the attribute bits that m2d_prot describes are rewritten; the
 * address, the leaf type and any other bits (KVM's software bits) are kept.
 * Clearing R|W|X of an EPT entry makes it not present, as in hardware.
 * Return: the new entry; @pte unchanged if it is not a present leaf.
 */
uint64_t m2d_pte_change_prot(enum m2d_pt_format fmt, uint64_t pte, int level, unsigned set,
			     unsigned clear)
{
	unsigned p;

	if (!valid_fmt_level(fmt, level) || !pt_is_leaf(fmt, pte, level))
		return pte;
	p = (m2d_pte_prot(fmt, pte, level) | set) & ~clear;
	return (pte & ~attr_mask(fmt, level)) | encode_attrs(fmt, p);
}

/*
 * pt_leaf_relevel() - the leaf at level @to mapping @pfn with every
 * attribute of leaf @pte at level @from (split / collapse): x86 moves PAT
 * between bit 7 (4K) and bit 12 (large) and sets or clears PS; EPT sets or
 * clears bit 7; arm64 switches page (0b11) and block (0b01) descriptors.
 * Mirrors make_huge_page_split_spte() / make_huge_spte().
 */
uint64_t pt_leaf_relevel(enum m2d_pt_format fmt, uint64_t pte, int from, int to, uint64_t pfn)
{
	bool small_to = to == M2D_LEVEL_4K, small_from = from == M2D_LEVEL_4K;
	uint64_t a = pte & ~pt_leaf_addr_mask(fmt, from);
	uint64_t addr = (pfn << M2D_PAGE_SHIFT) & pt_leaf_addr_mask(fmt, to);

	if (small_to == small_from)
		return a | addr;
	switch (fmt) {
	case M2D_PT_X86_64:
		if (small_to) {
			bool pat = a & X86_PAT_LARGE;

			a &= ~(X86_PS | X86_PAT_LARGE);
			a |= pat ? X86_PAT_4K : 0;
		} else {
			bool pat = a & X86_PAT_4K;

			a &= ~X86_PAT_4K;
			a |= X86_PS | (pat ? X86_PAT_LARGE : 0);
		}
		break;
	case M2D_PT_EPT:
		a = small_to ? a & ~EPT_LARGE : a | EPT_LARGE;
		break;
	default:
		a = small_to ? a | S2_TABLE : a & ~S2_TABLE;
		break;
	}
	return a | addr;
}
