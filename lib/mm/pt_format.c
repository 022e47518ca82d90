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

/*
 * The permission bits of each format, as data: encode, decode and the
 * raw masks of the range operations all read these tables.
 */
struct prot_bit {
	unsigned prot;  /* one M2D_PROT_* bit */
	uint64_t raw;   /* set on encode when the permission is (!inverted) present */
	uint64_t test;  /* tested on decode (arm64 XN: both XN bits) */
	bool inverted;  /* raw set means the permission is absent (x86 NX, arm64 XN) */
};

#define PB(p, r) { (p), (r), (r), false }

static const struct prot_bit x86_bits[] = {
	PB(M2D_PROT_W, X86_RW), PB(M2D_PROT_U, X86_US), PB(M2D_PROT_A, X86_A),
	PB(M2D_PROT_D, X86_D), PB(M2D_PROT_G, X86_G), { M2D_PROT_X, X86_NX, X86_NX, true },
	PB(M2D_PROT_SW0, X86_SW0), PB(M2D_PROT_SW1, X86_SW0 << 1), PB(M2D_PROT_SW2, X86_SW0 << 2),
	{ 0, 0, 0, false },
};

static const struct prot_bit ept_bits[] = {
	PB(M2D_PROT_R, EPT_R), PB(M2D_PROT_W, EPT_W), PB(M2D_PROT_X, EPT_X),
	PB(M2D_PROT_A, EPT_A), PB(M2D_PROT_D, EPT_D),
	PB(M2D_PROT_SW0, EPT_SW0), PB(M2D_PROT_SW1, EPT_SW0 << 1), PB(M2D_PROT_SW2, EPT_SW0 << 2),
	{ 0, 0, 0, false },
};

static const struct prot_bit s2_bits[] = {
	PB(M2D_PROT_R, S2_AP_R), PB(M2D_PROT_W, S2_AP_W), PB(M2D_PROT_A, S2_AF),
	{ M2D_PROT_X, S2_XN, S2_XN_MASK, true },
	PB(M2D_PROT_SW0, S2_SW0), PB(M2D_PROT_SW1, S2_SW0 << 1), PB(M2D_PROT_SW2, S2_SW0 << 2),
	{ 0, 0, 0, false },
};

#undef PB

static const struct prot_bit *const fmt_bits[M2D_PT_FORMAT_NR] = {
	[M2D_PT_X86_64] = x86_bits,
	[M2D_PT_EPT] = ept_bits,
	[M2D_PT_ARM64_S2] = s2_bits,
};

/*
 * The memory-type field and its write-back and non-write-back values
 * (x86: PAT index 0 vs 3 = UC; EPT: memtype 6 + IPAT vs memtype 0 (UC);
 * arm64: MemAttr Normal-WB 0xF vs Device-nGnRE 0x1).  WB is decoded from
 * the type alone (x86 PWT, PCD and PAT clear; EPT memtype 6).
 */
static uint64_t memtype_field(enum m2d_pt_format fmt, int level)
{
	switch (fmt) {
	case M2D_PT_X86_64:
		return X86_PWT | X86_PCD | (level == M2D_LEVEL_4K ? X86_PAT_4K : X86_PAT_LARGE);
	case M2D_PT_EPT:
		return EPT_MT_MASK | EPT_IPAT;
	default:
		return S2_MEMATTR_MASK;
	}
}

static uint64_t memtype_value(enum m2d_pt_format fmt, bool wb)
{
	switch (fmt) {
	case M2D_PT_X86_64:
		return wb ? 0 : X86_PWT | X86_PCD;
	case M2D_PT_EPT:
		return wb ? (EPT_MT_WB << EPT_MT_SHIFT) | EPT_IPAT : 0;
	default:
		return (wb ? S2_MEMATTR_NORMAL_WB : S2_MEMATTR_DEVICE_nGnRE) << S2_MEMATTR_SHIFT;
	}
}

static bool memtype_is_wb(enum m2d_pt_format fmt, uint64_t pte, int level)
{
	switch (fmt) {
	case M2D_PT_X86_64:
		return !(pte & memtype_field(fmt, level));
	case M2D_PT_EPT:
		return (pte & EPT_MT_MASK) == EPT_MT_WB << EPT_MT_SHIFT;
	default:
		return (pte & S2_MEMATTR_MASK) == S2_MEMATTR_NORMAL_WB << S2_MEMATTR_SHIFT;
	}
}

/*
 * Translate through @tbl: encode (@x holds m2d_prot bits, the result raw
 * bits) or decode (@x a raw entry, the result m2d_prot bits).  @n: entries
 * of @tbl, a constant, so the loop is unrolled and folded.
 */
static inline __attribute__((always_inline)) uint64_t translate_bits(const struct prot_bit *tbl,
								      unsigned n, uint64_t x,
								      bool encode)
{
	uint64_t out = 0;

#pragma GCC unroll 16
	for (unsigned i = 0; i < n; i++)
		if (!(x & (encode ? tbl[i].prot : tbl[i].test)) == tbl[i].inverted)
			out |= encode ? tbl[i].raw : tbl[i].prot;
	return out;
}

#define ENCODE(tbl, prot) translate_bits((tbl), M2D_ARRAY_SIZE(tbl) - 1, (prot), true)

/*
 * Encode @prot into attribute bits (everything but the address and leaf
 * type).  On the SPTE/PTE install path: one instance per format so the
 * table loops are unrolled (as pt_leaf_prot() decodes).
 */
static uint64_t encode_attrs(enum m2d_pt_format fmt, unsigned prot)
{
	uint64_t v = memtype_value(fmt, prot & M2D_PROT_WB);

	switch (fmt) {
	case M2D_PT_X86_64:
		return v | ENCODE(x86_bits, prot);
	case M2D_PT_EPT:
		return v | ENCODE(ept_bits, prot);
	default:
		return v | ENCODE(s2_bits, prot) | S2_SH_IS;
	}
}

#undef ENCODE

#define DECODE(tbl, pte) ((unsigned)translate_bits((tbl), M2D_ARRAY_SIZE(tbl) - 1, (pte), false))

/*
 * The m2d_prot bits of a present leaf at @level (no checks).  On the walk
 * path: one instance per format so the table loops are unrolled.
 */
unsigned pt_leaf_prot(enum m2d_pt_format fmt, uint64_t pte, int level)
{
	unsigned p;

	switch (fmt) {
	case M2D_PT_X86_64:
		p = M2D_PROT_R | DECODE(x86_bits, pte); /* x86: present => R */
		break;
	case M2D_PT_EPT:
		p = DECODE(ept_bits, pte);
		break;
	default:
		p = DECODE(s2_bits, pte);
		break;
	}
	return memtype_is_wb(fmt, pte, level) ? p | M2D_PROT_WB : p;
}

#undef DECODE

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
	if (!valid_fmt_level(fmt, level) || !pt_is_leaf(fmt, pte, level))
		return 0;
	return pt_leaf_prot(fmt, pte, level);
}

/* Raw masks for "add @set, remove @clear" (WB excluded): see pt_prot_masks(). */
static void prot_masks(enum m2d_pt_format fmt, unsigned set, unsigned clear, uint64_t *and_mask,
		       uint64_t *or_mask)
{
	*and_mask = ~0ull;
	*or_mask = 0;
	for (const struct prot_bit *b = fmt_bits[fmt]; b->prot; b++) {
		bool lose = clear & b->prot, gain = !lose && (set & b->prot);

		if (!lose && !gain)
			continue;
		if (gain != b->inverted)
			*or_mask |= b->raw;
		else
			*and_mask &= ~b->test;
	}
}

/*
 * pt_prot_masks() - raw masks for "add @set, remove @clear" on every
 * present leaf of @fmt: new = (pte & *and_mask) | *or_mask, equal to
 * m2d_pte_change_prot() for any leaf.  Every permission but WB is one raw
 * bit (x86 NX and arm64 XN inverted; gaining X on arm64 clears both XN
 * bits).  Return: false when no such masks exist: @set or @clear has WB (a
 * memory-type field), or arm64 loses X (an entry with XN = 0b01 is
 * already not executable and must stay as it is).
 */
bool pt_prot_masks(enum m2d_pt_format fmt, unsigned set, unsigned clear, uint64_t *and_mask,
		   uint64_t *or_mask)
{
	if ((set | clear) & M2D_PROT_WB ||
	    (fmt == M2D_PT_ARM64_S2 && (clear & M2D_PROT_X)))
		return false;
	prot_masks(fmt, set, clear, and_mask, or_mask);
	return true;
}

/**
 * m2d_pte_change_prot() - @pte with @set added and @clear removed.
 *
 * Only the bits of permissions that actually change are rewritten: the
 * address, the leaf type, a memory type that is not being changed (x86 PAT
 * WC stays WC when W is cleared) and any other bits (KVM's software bits)
 * are kept.  Bits the format lacks are ignored (x86 R, EPT U/G, arm64
 * D/U/G).  Clearing R|W|X of an EPT entry makes it not present, as in
 * hardware.
 * Return: the new entry; @pte unchanged if it is not a present leaf.
 */
uint64_t m2d_pte_change_prot(enum m2d_pt_format fmt, uint64_t pte, int level, unsigned set,
			     unsigned clear)
{
	uint64_t and_mask, or_mask;
	unsigned p, np;

	if (!valid_fmt_level(fmt, level) || !pt_is_leaf(fmt, pte, level))
		return pte;
	p = m2d_pte_prot(fmt, pte, level);
	np = (p | set) & ~clear;
	/* touch only the permissions that change */
	prot_masks(fmt, np & ~p, p & ~np, &and_mask, &or_mask);
	pte = (pte & and_mask) | or_mask;
	if ((p ^ np) & M2D_PROT_WB) /* only when the memory type changes to or from WB */
		pte = (pte & ~memtype_field(fmt, level)) | memtype_value(fmt, np & M2D_PROT_WB);
	return pte;
}

/* The raw accessed (@dirty: dirty) bit of @fmt; 0 if the format has none. */
uint64_t pt_ad_bit(enum m2d_pt_format fmt, bool dirty)
{
	switch (fmt) {
	case M2D_PT_X86_64:
		return dirty ? X86_D : X86_A;
	case M2D_PT_EPT:
		return dirty ? EPT_D : EPT_A;
	default:
		return dirty ? 0 : S2_AF;
	}
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
