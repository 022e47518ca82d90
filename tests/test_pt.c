// SPDX-License-Identifier: MIT
/*
 * tests/test_pt.c - radix page tables: bit-exact encodings, shape counts,
 * range-operation semantics, the change hook, and a seeded randomized
 * model test against a flat reference model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mmu2d/pt.h>
#include <mmu2d/sim.h>

#include "core/alloc.h"
#include "core/engine.h"
#include "mm/pt.h"

#define G (1ull << 30)
#define M2 (1ull << 21)
#define K4 (1ull << 12)

static const unsigned RWX_WB = M2D_PROT_RWX | M2D_PROT_WB;

static struct m2d_pt *new_pt(enum m2d_pt_format fmt, int levels)
{
	struct m2d_pt_config cfg;
	struct m2d_pt *pt = NULL;

	m2d_pt_config_default(&cfg);
	cfg.format = fmt;
	cfg.levels = levels;
	assert_int_equal(m2d_pt_create(&pt, &cfg), 0);
	return pt;
}

/* ---- encodings: every value below is derived by hand in its comment ---- */

static void test_pt_encode_x86(void **state)
{
	enum m2d_pt_format f = M2D_PT_X86_64;
	unsigned all = RWX_WB | M2D_PROT_U | M2D_PROT_A | M2D_PROT_D;

	/* 4K, pfn 0x12345: addr 0x12345000 | P 0x1 | RW 0x2 | US 0x4 | A 0x20 | D 0x40 = 0x67;
	 * X -> NX (bit 63) clear; WB -> PAT index 0 (PWT, PCD, PAT clear). */
	assert_int_equal(m2d_pte_make_leaf(f, 1, 0x12345, all), 0x0000000012345067ull);
	/* 4K read-only, no exec: P 0x1 | NX 1<<63. */
	assert_int_equal(m2d_pte_make_leaf(f, 1, 0x12345, M2D_PROT_R | M2D_PROT_WB),
			 0x8000000012345001ull);
	/* 4K without WB: PWT 0x8 | PCD 0x10 (PAT index 3 = UC) | P | NX. */
	assert_int_equal(m2d_pte_make_leaf(f, 1, 0x12345, M2D_PROT_R), 0x8000000012345019ull);
	/* G bit 8 (0x100) and SW0 bit 9 (0x200), SW2 bit 11 (0x800): P|RW|G|SW0|SW2 = 0xb03. */
	assert_int_equal(m2d_pte_make_leaf(f, 1, 0x12345, RWX_WB | M2D_PROT_G | M2D_PROT_SW0 |
							      M2D_PROT_SW2),
			 0x0000000012345b03ull);
	/* 2M, pfn 0x12200 (512-aligned): addr 0x12200000 | 0x67 | PS 0x80 = 0xe7. */
	assert_int_equal(m2d_pte_make_leaf(f, 2, 0x12200, all), 0x00000000122000e7ull);
	/* 2M leaf drops misaligned pfn bits: pfn 0x12345 -> frame 0x12200. */
	assert_int_equal(m2d_pte_make_leaf(f, 2, 0x12345, all), 0x00000000122000e7ull);
	/* 1G, pfn 0x40000: addr 0x40000000 | P|RW|A|D|PS = 0xe3 | NX. */
	assert_int_equal(m2d_pte_make_leaf(f, 3, 0x40000, M2D_PROT_R | M2D_PROT_W | M2D_PROT_A |
								   M2D_PROT_D | M2D_PROT_WB),
			 0x80000000400000e3ull);
	/* Highest frame: bits 51:12 all set = 0x000ffffffffff000. */
	assert_int_equal(m2d_pte_make_leaf(f, 1, 0xffffffffffull, RWX_WB), 0x000ffffffffff003ull);
	/* Non-leaf: table address | _PAGE_TABLE (P|RW|US|A|D = 0x67). */
	assert_int_equal(m2d_pte_make_table(f, (const uint64_t *)(uintptr_t)0x7f0012345000ull),
			 0x00007f0012345067ull);
	/* Bad level / misaligned table -> 0 (not present). */
	assert_int_equal(m2d_pte_make_leaf(f, 4, 0, RWX_WB), 0);
	assert_int_equal(m2d_pte_make_table(f, (const uint64_t *)(uintptr_t)0x1008), 0);

	/* Decoding. */
	assert_true(m2d_pte_is_present(f, 0x8000000012345001ull));
	assert_false(m2d_pte_is_present(f, 0x8000000012345000ull));
	assert_true(m2d_pte_is_leaf(f, 0x00000000122000e7ull, 2));
	assert_false(m2d_pte_is_leaf(f, 0x00007f0012345067ull, 2));
	assert_true(m2d_pte_is_leaf(f, 0x0000000012345067ull, 1));
	assert_int_equal(m2d_pte_pfn(f, 0x00000000122000e7ull, 2), 0x12200);
	/* A 2M leaf with PAT (bit 12) set: bit 12 is not address. */
	assert_int_equal(m2d_pte_pfn(f, 0x00000000122010e7ull, 2), 0x12200);
	assert_int_equal(m2d_pte_prot(f, 0x00000000122010e7ull, 2) & M2D_PROT_WB, 0);
	assert_int_equal(m2d_pte_prot(f, 0x0000000012345067ull, 1), all);
	/* A 4K PTE with PAT bit 7: not WB. */
	assert_int_equal(m2d_pte_prot(f, 0x00000000123450e7ull, 1) & M2D_PROT_WB, 0);
	assert_ptr_equal(m2d_pte_table(f, 0x00007f0012345067ull),
			 (uint64_t *)(uintptr_t)0x7f0012345000ull);
	assert_null(m2d_pte_table(f, 0x00000000122000e7ull));
	/* change_prot: clear W (bit 1) and set NX: 0x67 -> 0x65 | NX. */
	assert_int_equal(m2d_pte_change_prot(f, 0x0000000012345067ull, 1, 0,
					     M2D_PROT_W | M2D_PROT_X),
			 0x8000000012345065ull);
	/* clearing R is ignored on x86 (no separate read permission). */
	assert_int_equal(m2d_pte_change_prot(f, 0x0000000012345067ull, 1, 0, M2D_PROT_R),
			 0x0000000012345067ull);
	/* change_prot keeps unknown bits (e.g. bit 52 of a KVM SPTE). */
	assert_int_equal(m2d_pte_change_prot(f, 0x0010000012345067ull, 1, 0, M2D_PROT_D),
			 0x0010000012345027ull);
}

static void test_pt_encode_ept(void **state)
{
	enum m2d_pt_format f = M2D_PT_EPT;

	/* 4K RWX WB: R|W|X 0x7 | memtype 6 << 3 = 0x30 | IPAT bit 6 0x40 = 0x77. */
	assert_int_equal(m2d_pte_make_leaf(f, 1, 0x12345, RWX_WB), 0x0000000012345077ull);
	/* 2M RWX WB ignore-PAT, pfn 0x12345 aligned down to 0x12200:
	 * 0x77 | large bit 7 0x80 = 0xf7. */
	assert_int_equal(m2d_pte_make_leaf(f, 2, 0x12200, RWX_WB), 0x00000000122000f7ull);
	/* with A (bit 8) and D (bit 9): 0xf7 | 0x300 = 0x3f7. */
	assert_int_equal(m2d_pte_make_leaf(f, 2, 0x12200, RWX_WB | M2D_PROT_A | M2D_PROT_D),
			 0x00000000122003f7ull);
	/* 1G read-only WB, pfn 0x40000: R 0x1 | 0x30 | 0x40 | 0x80 = 0xf1. */
	assert_int_equal(m2d_pte_make_leaf(f, 3, 0x40000, M2D_PROT_R | M2D_PROT_WB),
			 0x00000000400000f1ull);
	/* 4K R|W, not WB: memtype 0 (UC), no IPAT: 0x3. */
	assert_int_equal(m2d_pte_make_leaf(f, 1, 0x12345, M2D_PROT_R | M2D_PROT_W),
			 0x0000000012345003ull);
	/* software bits 52, 53, 54: 0x0070000000000000; U and G ignored. */
	assert_int_equal(m2d_pte_make_leaf(f, 1, 0, M2D_PROT_R | M2D_PROT_SW0 | M2D_PROT_SW1 |
							    M2D_PROT_SW2 | M2D_PROT_U | M2D_PROT_G),
			 0x0070000000000001ull);
	/* Non-leaf: address | R|W|X. */
	assert_int_equal(m2d_pte_make_table(f, (const uint64_t *)(uintptr_t)0x7f0012345000ull),
			 0x00007f0012345007ull);

	assert_true(m2d_pte_is_present(f, 0x4ull));   /* execute-only is present */
	assert_false(m2d_pte_is_present(f, 0x12345070ull)); /* no R/W/X */
	assert_true(m2d_pte_is_leaf(f, 0x00000000122000f7ull, 2));
	assert_false(m2d_pte_is_leaf(f, 0x00007f0012345007ull, 2));
	assert_int_equal(m2d_pte_pfn(f, 0x00000000400000f1ull, 3), 0x40000);
	assert_int_equal(m2d_pte_prot(f, 0x00000000122003f7ull, 2),
			 RWX_WB | M2D_PROT_A | M2D_PROT_D);
	/* clear W: 0x77 -> 0x75 */
	assert_int_equal(m2d_pte_change_prot(f, 0x0000000012345077ull, 1, 0, M2D_PROT_W),
			 0x0000000012345075ull);
	/* clear R|W|X: memtype/IPAT stay, the entry is no longer present */
	assert_int_equal(m2d_pte_change_prot(f, 0x0000000012345077ull, 1, 0, M2D_PROT_RWX),
			 0x0000000012345070ull);
}

static void test_pt_encode_arm64(void **state)
{
	enum m2d_pt_format f = M2D_PT_ARM64_S2;

	/* 4K page (level 3): valid 0x1 | page 0x2 | MemAttr 0xf << 2 = 0x3c | S2AP R 0x40 |
	 * W 0x80 | SH inner 3 << 8 = 0x300 | AF 0x400 = 0x7ff; X -> XN clear. */
	assert_int_equal(m2d_pte_make_leaf(f, 1, 0x12345, RWX_WB | M2D_PROT_A),
			 0x00000000123457ffull);
	/* 4K read-only no-exec: 0x3 | 0x3c | 0x40 | 0x300 | 0x400 = 0x77f | XN bit 54. */
	assert_int_equal(m2d_pte_make_leaf(f, 1, 0x12345, M2D_PROT_R | M2D_PROT_WB | M2D_PROT_A),
			 0x004000001234577full);
	/* 2M block (level 2): bits[1:0] = 0b01: 0x1 | 0x3c | 0xc0 | 0x300 | 0x400 = 0x7fd. */
	assert_int_equal(m2d_pte_make_leaf(f, 2, 0x12200, RWX_WB | M2D_PROT_A),
			 0x00000000122007fdull);
	/* 1G block RW, no A, no X: 0x1 | 0x3c | 0xc0 | 0x300 = 0x3fd | XN. */
	assert_int_equal(m2d_pte_make_leaf(f, 3, 0x40000, M2D_PROT_R | M2D_PROT_W | M2D_PROT_WB),
			 0x00400000400003fdull);
	/* Device nGnRE (not WB): MemAttr 0x1 << 2 = 0x4: 0x3 | 0x4 | 0xc0 | 0x300 = 0x3c7 | XN. */
	assert_int_equal(m2d_pte_make_leaf(f, 1, 0x12345, M2D_PROT_R | M2D_PROT_W),
			 0x00400000123453c7ull);
	/* Software bits 55..57 = 0x0380000000000000; D, U, G ignored; no A so no AF:
	 * 0x3 | 0x3c | 0xc0 | 0x300 = 0x3ff. */
	assert_int_equal(m2d_pte_make_leaf(f, 1, 0, RWX_WB | M2D_PROT_SW0 | M2D_PROT_SW1 |
							    M2D_PROT_SW2 | M2D_PROT_D | M2D_PROT_U),
			 0x03800000000003ffull);
	/* OA is 47:12: the highest 4K frame is 0xfffffffff. */
	assert_int_equal(m2d_pte_make_leaf(f, 1, 0xfffffffffull, RWX_WB), 0x0000fffffffff3ffull);
	/* Table descriptor: address | 0b11. */
	assert_int_equal(m2d_pte_make_table(f, (const uint64_t *)(uintptr_t)0x7f0012345000ull),
			 0x00007f0012345003ull);

	assert_true(m2d_pte_is_leaf(f, 0x00000000122007fdull, 2));
	assert_false(m2d_pte_is_leaf(f, 0x00007f0012345003ull, 2));
	assert_true(m2d_pte_is_leaf(f, 0x00000000123457ffull, 1));
	assert_int_equal(m2d_pte_prot(f, 0x004000001234577full, 1),
			 M2D_PROT_R | M2D_PROT_WB | M2D_PROT_A);
	/* XN[1:0] = 0b01 (bit 53) is also not executable. */
	assert_int_equal(m2d_pte_prot(f, 0x00200000123457ffull, 1) & M2D_PROT_X, 0);
	/* clear A (AF bit 10): 0x7ff -> 0x3ff */
	assert_int_equal(m2d_pte_change_prot(f, 0x00000000123457ffull, 1, 0, M2D_PROT_A),
			 0x00000000123453ffull);
}

/* change_prot touches only the permissions that change. */
static void test_pt_encode_change_prot_exact(void **state)
{
	uint64_t and_mask, or_mask, rng = 12345;

	static const struct {
		enum m2d_pt_format fmt;
		int level;
		uint64_t pte;
		unsigned set, clear;
		uint64_t expect;
	} cases[] = {
		/* x86 4K with PWT only (PAT index 1, WC in the kernel's PAT):
		 * 0x12345000 | P|RW|PWT = 0xb; clearing W keeps PWT: 0x9. */
		{ M2D_PT_X86_64, 1, 0x000000001234500bull, 0, M2D_PROT_W, 0x0000000012345009ull },
		/* ... and clearing WB on it changes nothing (already not WB) */
		{ M2D_PT_X86_64, 1, 0x000000001234500bull, 0, M2D_PROT_WB, 0x000000001234500bull },
		/* setting WB clears PWT/PCD/PAT: 0x1b (P|RW|PWT|PCD) -> 0x3 */
		{ M2D_PT_X86_64, 1, 0x000000001234501bull, M2D_PROT_WB, 0, 0x0000000012345003ull },
		/* 2M: PAT is bit 12: P|RW|PS|PAT(0x1000) = 0x1083 -> WB: 0x83 */
		{ M2D_PT_X86_64, 2, 0x0000000012201083ull, M2D_PROT_WB, 0, 0x0000000012200083ull },
		/* EPT: drop WB: memtype 6 and IPAT cleared: 0x77 -> 0x07 */
		{ M2D_PT_EPT, 1, 0x0000000012345077ull, 0, M2D_PROT_WB, 0x0000000012345007ull },
		/* arm64: XN = 0b01 (bit 53) stays when clearing X ... */
		{ M2D_PT_ARM64_S2, 1, 0x00200000123457ffull, 0, M2D_PROT_X, 0x00200000123457ffull },
		/* ... setting X clears both XN bits */
		{ M2D_PT_ARM64_S2, 1, 0x00600000123457ffull, M2D_PROT_X, 0, 0x00000000123457ffull },
		/* arm64 WB -> device: MemAttr 0xf -> 0x1: 0x7ff -> 0x7c7 */
		{ M2D_PT_ARM64_S2, 1, 0x00000000123457ffull, 0, M2D_PROT_WB, 0x00000000123457c7ull },
	};

	for (unsigned i = 0; i < M2D_ARRAY_SIZE(cases); i++)
		assert_int_equal(m2d_pte_change_prot(cases[i].fmt, cases[i].pte, cases[i].level,
						     cases[i].set, cases[i].clear),
				 cases[i].expect);

	/* The range operations' precomputed masks equal change_prot. */
	for (int n = 0; n < 200000; n++) {
		enum m2d_pt_format f;
		int level;
		unsigned prot, set, clear;
		uint64_t pte, r;

		rng += 0x9e3779b97f4a7c15ull;
		r = (rng ^ (rng >> 31)) * 0xbf58476d1ce4e5b9ull;
		r ^= r >> 29;
		f = (enum m2d_pt_format)(r % 3);
		level = 1 + (int)((r >> 2) % 3);
		prot = (unsigned)(r >> 8) & 0x7ff;
		set = (unsigned)(r >> 20) & 0x7ff;
		clear = (unsigned)(r >> 32) & 0x7ff;
		pte = m2d_pte_make_leaf(f, level, (r >> 44) << 9, prot);
		if (!m2d_pte_is_leaf(f, pte, level))
			continue;
		if (!pt_prot_masks(f, set, clear, &and_mask, &or_mask))
			continue;
		assert_int_equal((pte & and_mask) | or_mask,
				 m2d_pte_change_prot(f, pte, level, set, clear));
	}
}

/* Split preserves attributes bit-exactly, moving x86 PAT from bit 12 to bit 7;
 * collapse moves it back. */
static void test_pt_encode_split_relevel(void **state)
{
	struct m2d_pt *pt = new_pt(M2D_PT_X86_64, 4);
	struct m2d_pt_walk w;

	/* 2M leaf for frame 0x400 at 0x200000: 0x400000 | P|RW|PS (0x83). */
	assert_int_equal(m2d_pt_map_range(pt, 0x200000, M2, 0x400, 2, M2D_PROT_R | M2D_PROT_W |
									 M2D_PROT_X | M2D_PROT_WB),
			 0);
	m2d_pt_walk(pt, 0x200000, &w);
	assert_true(w.present);
	assert_int_equal(w.level, 2);
	assert_int_equal(w.pte, 0x0000000000400083ull);
	/* Give it PAT index 4: bit 12 of a large leaf. */
	m2d_pt_set_pte(pt, w.ptep, 0x200000, 2, 0x0000000000401083ull);
	assert_int_equal(m2d_pt_split(pt, 0x200000, 2), 0);
	/* Child i maps frame 0x400 + i: (0x400 + i) << 12 | P|RW|PAT(bit 7) = 0x83. */
	m2d_pt_walk(pt, 0x200000, &w);
	assert_int_equal(w.level, 1);
	assert_int_equal(w.pte, 0x0000000000400083ull);
	m2d_pt_walk(pt, 0x201000, &w);
	assert_int_equal(w.pte, 0x0000000000401083ull);
	m2d_pt_walk(pt, 0x3ff000, &w);
	assert_int_equal(w.pte, 0x00000000005ff083ull);
	assert_int_equal(w.pfn, 0x5ff);
	assert_int_equal(w.prot & M2D_PROT_WB, 0);
	/* Collapse: PAT goes back to bit 12, PS set. */
	assert_int_equal(m2d_pt_collapse(pt, 0x200000, 2), 0);
	m2d_pt_walk(pt, 0x2ff000, &w);
	assert_int_equal(w.level, 2);
	assert_int_equal(w.pte, 0x0000000000401083ull);
	assert_int_equal(w.pfn, 0x4ff);
	m2d_pt_destroy(&pt);

	/* EPT: a 1G leaf split to 2M keeps bit 7; to 4K clears it. */
	pt = new_pt(M2D_PT_EPT, 4);
	assert_int_equal(m2d_pt_map_range(pt, G, G, 0x40000, 3, RWX_WB), 0);
	assert_int_equal(m2d_pt_split(pt, G, 3), 0);
	m2d_pt_walk(pt, G + M2, &w);
	/* frame 0x40200 << 12 = 0x40200000 | 0xf7 */
	assert_int_equal(w.pte, 0x00000000402000f7ull);
	assert_int_equal(m2d_pt_split(pt, G + M2, 2), 0);
	m2d_pt_walk(pt, G + M2 + K4, &w);
	/* frame 0x40201 << 12 | 0x77 */
	assert_int_equal(w.pte, 0x0000000040201077ull);
	m2d_pt_destroy(&pt);

	/* arm64: block (0b01) <-> page (0b11). */
	pt = new_pt(M2D_PT_ARM64_S2, 4);
	assert_int_equal(m2d_pt_map_range(pt, 0, M2, 0x200, 2, RWX_WB | M2D_PROT_A), 0);
	assert_int_equal(m2d_pt_split(pt, 0, 2), 0);
	m2d_pt_walk(pt, 0x3000, &w);
	/* frame 0x203 << 12 | 0x7ff */
	assert_int_equal(w.pte, 0x00000000002037ffull);
	m2d_pt_destroy(&pt);
}


/* decode(encode(prot)) is prot, minus the bits a format lacks. */
static void test_pt_encode_roundtrip(void **state)
{
	static const unsigned lacks[M2D_PT_FORMAT_NR] = {
		[M2D_PT_X86_64] = 0,
		[M2D_PT_EPT] = M2D_PROT_U | M2D_PROT_G,
		[M2D_PT_ARM64_S2] = M2D_PROT_U | M2D_PROT_G | M2D_PROT_D,
	};

	for (int f = 0; f < M2D_PT_FORMAT_NR; f++) {
		for (int level = 1; level <= 3; level++) {
			for (unsigned p = 0; p < 0x800; p++) {
				uint64_t pte = m2d_pte_make_leaf(f, level, 0x40000, p);
				unsigned want = p & ~lacks[f];

				if (f == M2D_PT_X86_64)
					want |= M2D_PROT_R; /* present => readable */
				if (f == M2D_PT_EPT && !(p & M2D_PROT_RWX)) {
					assert_false(m2d_pte_is_present(f, pte));
					continue;
				}
				assert_true(m2d_pte_is_leaf(f, pte, level));
				assert_int_equal(m2d_pte_pfn(f, pte, level), 0x40000);
				assert_int_equal(m2d_pte_prot(f, pte, level), want);
			}
		}
	}
}

/* Running out of memory: -ENOMEM, consistent state, nothing leaked. */
static void test_pt_enomem(void **state)
{
	struct m2d_pt *pt = new_pt(M2D_PT_X86_64, 4);
	struct m2d_pt_stats st;
	struct m2d_pt_walk w;

	/* Fill the first 64-page chunk exactly: root + L3 table (the 1G leaf at
	 * 0) + the L2 table of [1G, 2G) + 60 L1 tables = 63 table pages. */
	assert_int_equal(m2d_pt_map_range(pt, 0, G, 0, 3, RWX_WB), 0);
	for (int i = 0; i < 60; i++)
		assert_int_equal(m2d_pt_map_range(pt, G + i * M2, K4, i, 1, RWX_WB), 0);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.table_bytes, 63 * 4096);

	/* map needing two new tables fails */
	m2d_alloc_fail_after(1);
	assert_int_equal(m2d_pt_map_range(pt, G + 100 * M2, K4, 7, 1, RWX_WB), -ENOMEM);
	m2d_pt_walk(pt, G + 100 * M2, &w);
	assert_false(w.present);
	/* split fails, the leaf stays */
	m2d_alloc_fail_after(1);
	assert_int_equal(m2d_pt_split(pt, 0, 3), -ENOMEM);
	m2d_pt_walk(pt, 5 * K4, &w);
	assert_true(w.present);
	assert_int_equal(w.level, 3);
	/* unmap of 4K of the 1G leaf cannot split: the whole leaf goes */
	m2d_alloc_fail_after(1);
	assert_int_equal(m2d_pt_unmap_range(pt, 0, K4), 1);
	m2d_alloc_fail_after(0);
	m2d_pt_walk(pt, 5 * M2, &w);
	assert_false(w.present);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.leaves[3], 0);
	assert_int_equal(st.leaves[1], 60);
	assert_int_equal(st.table_bytes, 63 * 4096);
	/* and it works again afterwards */
	assert_int_equal(m2d_pt_map_range(pt, G + 100 * M2, K4, 7, 1, RWX_WB), 0);
	m2d_pt_walk(pt, G + 100 * M2, &w);
	assert_int_equal(w.pfn, 7);
	m2d_pt_destroy(&pt);
}

/* ---- shape counts ---------------------------------------------------------- */

/*
 * 128 GiB at 4K under an existing root: 2^37 / 2^12 = 2^25 leaves;
 * 2^25 / 512 = 65,536 last-level tables; 65,536 / 512 = 128 level-2 tables;
 * 128 GiB < 512 GiB: 1 level-3 table; plus the root.
 */
static void test_pt_shape_128g_4k(void **state)
{
	struct m2d_pt *pt = new_pt(M2D_PT_EPT, 4);
	struct m2d_pt_stats st;

	assert_int_equal(m2d_pt_map_range(pt, 0, 128 * G, 0, 1, RWX_WB), 0);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.leaves[1], 33554432);
	assert_int_equal(st.tables[1], 65536);
	assert_int_equal(st.tables[2], 128);
	assert_int_equal(st.tables[3], 1);
	assert_int_equal(st.tables[4], 1);
	assert_int_equal(st.table_bytes, (65536ull + 128 + 1 + 1) * 4096);
	/* unmap keeps the tables (KVM's leaf zap) */
	assert_int_equal(m2d_pt_unmap_range(pt, 0, 128 * G), 33554432);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.leaves[1], 0);
	assert_int_equal(st.tables[1], 65536);
	/* unmap_free drops them all but the root */
	assert_int_equal(m2d_pt_unmap_free_range(pt, 0, 128 * G), 0);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.tables[1], 0);
	assert_int_equal(st.tables[2], 0);
	assert_int_equal(st.tables[3], 0);
	assert_int_equal(st.tables[4], 1);
	assert_int_equal(st.table_bytes, 4096);
	m2d_pt_destroy(&pt);
}

/* 128 GiB at 2M: 65,536 leaves in 128 level-2 tables under 1 level-3 table. */
static void test_pt_shape_128g_2m(void **state)
{
	struct m2d_pt *pt = new_pt(M2D_PT_X86_64, 4);
	struct m2d_pt_stats st;

	assert_int_equal(m2d_pt_map_range(pt, 0, 128 * G, 0, 2, RWX_WB), 0);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.leaves[2], 65536);
	assert_int_equal(st.leaves[1], 0);
	assert_int_equal(st.tables[1], 0);
	assert_int_equal(st.tables[2], 128);
	assert_int_equal(st.tables[3], 1);
	m2d_pt_destroy(&pt);
}

/* Splitting one 1G leaf to 4K: 1 level-2 table, then 512 level-1 tables. */
static void test_pt_shape_split_1g_to_4k(void **state)
{
	struct m2d_pt *pt = new_pt(M2D_PT_ARM64_S2, 4);
	struct m2d_pt_stats before, st;

	assert_int_equal(m2d_pt_map_range(pt, 7 * G, G, 0x1c0000, 3, RWX_WB), 0);
	m2d_pt_stats_get(pt, &before);
	assert_int_equal(before.leaves[3], 1);
	assert_int_equal(m2d_pt_split(pt, 7 * G, 3), 0);
	for (int i = 0; i < 512; i++)
		assert_int_equal(m2d_pt_split(pt, 7 * G + i * M2, 2), 0);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.tables[2] - before.tables[2], 1);
	assert_int_equal(st.tables[1] - before.tables[1], 512);
	assert_int_equal(st.leaves[3], 0);
	assert_int_equal(st.leaves[2], 0);
	assert_int_equal(st.leaves[1], 262144);
	/* and back */
	for (int i = 0; i < 512; i++)
		assert_int_equal(m2d_pt_collapse(pt, 7 * G + i * M2, 2), 0);
	assert_int_equal(m2d_pt_collapse(pt, 7 * G, 3), 0);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.leaves[3], 1);
	assert_int_equal(st.tables[1], 0);
	assert_int_equal(st.tables[2], 0);
	assert_int_equal(st.tables_pending_free, 0); /* outside a sim: freed at once */
	m2d_pt_destroy(&pt);
}

/* ---- semantics --------------------------------------------------------------- */

static void test_pt_map_walk_unmap(void **state)
{
	struct m2d_pt *pt = new_pt(M2D_PT_X86_64, 4);
	struct m2d_pt_walk w;
	struct m2d_pt_stats st;

	/* invalid input */
	assert_int_equal(m2d_pt_map_range(pt, 0x1000, M2, 0, 2, RWX_WB), -EINVAL);
	assert_int_equal(m2d_pt_map_range(pt, 0, M2, 1, 2, RWX_WB), -EINVAL);
	assert_int_equal(m2d_pt_map_range(pt, 0, K4, 0, 0, RWX_WB), -EINVAL);
	assert_int_equal(m2d_pt_map_range(pt, 0, K4, 0, 4, RWX_WB), -EINVAL);
	assert_int_equal(m2d_pt_map_range(pt, 1ull << 48, K4, 0, 1, RWX_WB), -EINVAL);
	assert_int_equal(m2d_pt_map_range(pt, (1ull << 48) - K4, 2 * K4, 0, 1, RWX_WB), -EINVAL);
	assert_int_equal(m2d_pt_map_range(pt, 0, K4, 1ull << 40, 1, RWX_WB), -EINVAL);
	assert_int_equal(m2d_pt_map_range(pt, 0, 0, 0, 1, RWX_WB), 0);

	/* empty: nothing found, not an error; stops at the root */
	m2d_pt_walk(pt, 0x1234, &w);
	assert_false(w.present);
	assert_int_equal(w.level, 4);
	assert_non_null(w.ptep);
	assert_int_equal(w.pte, 0);

	assert_int_equal(m2d_pt_map_range(pt, 0x40000000, 3 * K4, 0x777, 1, RWX_WB), 0);
	m2d_pt_walk(pt, 0x40001abc, &w);
	assert_true(w.present);
	assert_int_equal(w.level, 1);
	assert_int_equal(w.pfn, 0x778);
	assert_int_equal(w.prot, RWX_WB);
	m2d_pt_walk(pt, 0x40003000, &w);
	assert_false(w.present);
	assert_int_equal(w.level, 1);
	/* remap in place with new prot */
	assert_int_equal(m2d_pt_map_range(pt, 0x40001000, K4, 0x999, 1, M2D_PROT_R | M2D_PROT_WB),
			 0);
	m2d_pt_walk(pt, 0x40001000, &w);
	assert_int_equal(w.pfn, 0x999);
	assert_int_equal(w.prot, M2D_PROT_R | M2D_PROT_WB);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.leaves[1], 3);
	/* unmap a byte range: widened to 4K */
	assert_int_equal(m2d_pt_unmap_range(pt, 0x40001800, 0x10), 1);
	m2d_pt_walk(pt, 0x40001000, &w);
	assert_false(w.present);
	assert_int_equal(m2d_pt_unmap_range(pt, 0, 1ull << 48), 2);
	assert_int_equal(m2d_pt_unmap_range(pt, 0, ~0ull), 0);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.leaves[1], 0);
	assert_int_equal(st.tables[1], 1);
	m2d_pt_destroy(&pt);
	m2d_pt_destroy(&pt); /* NULL-safe */
	m2d_pt_destroy(NULL);
}

static void test_pt_create_invalid(void **state)
{
	struct m2d_pt_config cfg;
	struct m2d_pt *pt = NULL;

	m2d_pt_config_default(&cfg);
	cfg.levels = 3;
	assert_int_equal(m2d_pt_create(&pt, &cfg), -EINVAL);
	cfg.levels = 6;
	assert_int_equal(m2d_pt_create(&pt, &cfg), -EINVAL);
	cfg.levels = 5;
	cfg.format = M2D_PT_ARM64_S2;
	assert_int_equal(m2d_pt_create(&pt, &cfg), -EINVAL);
	cfg.format = M2D_PT_FORMAT_NR;
	assert_int_equal(m2d_pt_create(&pt, &cfg), -EINVAL);
	assert_null(pt);
	assert_int_equal(m2d_pt_create(NULL, &cfg), -EINVAL);
	/* 5-level x86: 57-bit space, root at level 5 */
	cfg.format = M2D_PT_X86_64;
	assert_int_equal(m2d_pt_create(&pt, &cfg), 0);
	assert_int_equal(m2d_pt_root_level(pt), 5);
	assert_int_equal(m2d_pt_max_addr(pt), 1ull << 57);
	assert_int_equal(m2d_pt_map_range(pt, 1ull << 56, G, 0, 3, RWX_WB), 0);
	{
		struct m2d_pt_walk w;
		struct m2d_pt_stats st;

		m2d_pt_walk(pt, (1ull << 56) + 5 * K4, &w);
		assert_true(w.present);
		assert_int_equal(w.level, 3);
		assert_int_equal(w.pfn, 5);
		m2d_pt_stats_get(pt, &st);
		assert_int_equal(st.tables[5], 1);
		assert_int_equal(st.tables[4], 1);
		assert_int_equal(st.tables[3], 1);
	}
	m2d_pt_destroy(&pt);
	/* allocation failure: -ENOMEM, nothing leaked */
	m2d_alloc_fail_after(1);
	assert_int_equal(m2d_pt_create(&pt, NULL), -ENOMEM);
	m2d_alloc_fail_after(2);
	assert_int_equal(m2d_pt_create(&pt, NULL), -ENOMEM);
	m2d_alloc_fail_after(0);
}


/* ---- the change hook ---------------------------------------------------------- */

struct ev {
	uint64_t addr, old, new;
	int level;
	bool shared;
};

struct evlog {
	int n, cap;
	struct ev *v;
};

static void evlog_hook(void *priv, uint64_t addr, uint64_t old_pte, uint64_t new_pte, int level,
		       bool shared)
{
	struct evlog *l = priv;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 1024;
		l->v = realloc(l->v, (size_t)l->cap * sizeof(*l->v));
		assert_non_null(l->v);
	}
	l->v[l->n++] = (struct ev){ addr, old_pte, new_pte, level, shared };
}

static struct m2d_pt *new_hooked_pt(enum m2d_pt_format fmt, struct evlog *log)
{
	struct m2d_pt_config cfg;
	struct m2d_pt *pt = NULL;

	memset(log, 0, sizeof(*log));
	m2d_pt_config_default(&cfg);
	cfg.format = fmt;
	cfg.changed = evlog_hook;
	cfg.changed_priv = log;
	assert_int_equal(m2d_pt_create(&pt, &cfg), 0);
	return pt;
}

/* Every change is reported once, with the right old/new/level, in pre-order. */
static void test_pt_hook_exactly_once(void **state)
{
	enum m2d_pt_format f = M2D_PT_X86_64;
	struct evlog log;
	struct m2d_pt *pt = new_hooked_pt(f, &log);
	uint64_t leaf2m, *t;

	/* Map one 2M leaf at 2G: links a level-3 table (event at level 4), a
	 * level-2 table (event at level 3), then the leaf (level 2). */
	leaf2m = m2d_pte_make_leaf(f, 2, 0x600, RWX_WB);
	assert_int_equal(m2d_pt_map_range(pt, 2 * G, M2, 0x600, 2, RWX_WB), 0);
	assert_int_equal(log.n, 3);
	assert_int_equal(log.v[0].level, 4);
	assert_int_equal(log.v[0].addr, 0);
	assert_int_equal(log.v[0].old, 0);
	t = m2d_pte_table(f, log.v[0].new);
	assert_non_null(t);
	assert_int_equal(log.v[1].level, 3);
	assert_int_equal(log.v[1].addr, 2 * G);
	assert_int_equal(log.v[2].level, 2);
	assert_int_equal(log.v[2].addr, 2 * G);
	assert_int_equal(log.v[2].old, 0);
	assert_int_equal(log.v[2].new, leaf2m);
	assert_false(log.v[2].shared);

	/* Re-mapping the same value is no change: no event. */
	log.n = 0;
	assert_int_equal(m2d_pt_map_range(pt, 2 * G, M2, 0x600, 2, RWX_WB), 0);
	assert_int_equal(log.n, 0);

	/* Split: the parent change (leaf -> table), then 512 new leaves. */
	assert_int_equal(m2d_pt_split(pt, 2 * G, 2), 0);
	assert_int_equal(log.n, 513);
	assert_int_equal(log.v[0].level, 2);
	assert_int_equal(log.v[0].old, leaf2m);
	assert_non_null(m2d_pte_table(f, log.v[0].new));
	for (int i = 0; i < 512; i++) {
		assert_int_equal(log.v[1 + i].level, 1);
		assert_int_equal(log.v[1 + i].addr, 2 * G + i * K4);
		assert_int_equal(log.v[1 + i].old, 0);
		assert_int_equal(log.v[1 + i].new, m2d_pte_make_leaf(f, 1, 0x600 + i, RWX_WB));
	}

	/* Protect 3 pages: 3 events, W cleared. */
	log.n = 0;
	assert_int_equal(m2d_pt_protect_range(pt, 2 * G + K4, 3 * K4, 0, M2D_PROT_W), 3);
	assert_int_equal(log.n, 3);
	assert_int_equal(log.v[0].old, m2d_pte_make_leaf(f, 1, 0x601, RWX_WB));
	assert_int_equal(log.v[0].new, m2d_pte_make_leaf(f, 1, 0x601, RWX_WB & ~M2D_PROT_W));
	/* Now not collapsible (attributes differ). */
	assert_int_equal(m2d_pt_collapse(pt, 2 * G, 2), -EINVAL);
	assert_int_equal(m2d_pt_protect_range(pt, 2 * G, M2, M2D_PROT_W, 0), 3);

	/* Collapse: the parent change, then the 512 removed leaves. */
	log.n = 0;
	assert_int_equal(m2d_pt_collapse(pt, 2 * G, 2), 0);
	assert_int_equal(log.n, 513);
	assert_int_equal(log.v[0].new, leaf2m);
	for (int i = 0; i < 512; i++) {
		assert_int_equal(log.v[1 + i].addr, 2 * G + i * K4);
		assert_int_equal(log.v[1 + i].new, 0);
		assert_int_equal(log.v[1 + i].level, 1);
	}

	/* unmap_free of everything: the leaf, then the level-2 table's parent
	 * entry, the level-3 table's parent entry (post-order freeing). */
	log.n = 0;
	assert_int_equal(m2d_pt_unmap_free_range(pt, 0, 1ull << 48), 1);
	assert_int_equal(log.n, 3);
	assert_int_equal(log.v[0].level, 2);
	assert_int_equal(log.v[0].old, leaf2m);
	assert_int_equal(log.v[1].level, 3);
	assert_int_equal(log.v[1].new, 0);
	assert_int_equal(log.v[2].level, 4);
	assert_ptr_equal(m2d_pte_table(f, log.v[2].old), t);

	/* Replacing a populated table by a huge leaf reports the removed
	 * subtree: 1 parent event + 4 leaves. */
	assert_int_equal(m2d_pt_map_range(pt, 0, 4 * K4, 0, 1, RWX_WB), 0);
	log.n = 0;
	assert_int_equal(m2d_pt_map_range(pt, 0, M2, 0, 2, RWX_WB), 0);
	assert_int_equal(log.n, 5);
	assert_int_equal(log.v[0].level, 2);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(log.v[1 + i].level, 1);
		assert_int_equal(log.v[1 + i].new, 0);
	}
	m2d_pt_destroy(&pt);
	free(log.v);
}

/* Mapping small leaves into a huge leaf: a straddling leaf is split (the
 * outside keeps its mapping), a covered one is replaced. */
static void test_pt_map_over_huge(void **state)
{
	struct m2d_pt *pt = new_pt(M2D_PT_EPT, 4);
	struct m2d_pt_walk w;
	struct m2d_pt_stats st;

	assert_int_equal(m2d_pt_map_range(pt, 0, G, 0x100000, 3, RWX_WB), 0);
	/* 4K into the middle: 1G -> 512 x 2M, one 2M -> 512 x 4K */
	assert_int_equal(m2d_pt_map_range(pt, 5 * M2 + 7 * K4, K4, 0x42, 1, M2D_PROT_R | M2D_PROT_WB),
			 0);
	m2d_pt_walk(pt, 5 * M2 + 7 * K4, &w);
	assert_int_equal(w.level, 1);
	assert_int_equal(w.pfn, 0x42);
	m2d_pt_walk(pt, 5 * M2 + 8 * K4, &w);
	assert_int_equal(w.level, 1);
	assert_int_equal(w.pfn, 0x100000 + 5 * 512 + 8);
	m2d_pt_walk(pt, 6 * M2, &w);
	assert_int_equal(w.level, 2);
	assert_int_equal(w.pfn, 0x100000 + 6 * 512);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.leaves[3], 0);
	assert_int_equal(st.leaves[2], 511);
	assert_int_equal(st.leaves[1], 512);
	/* A 2M map over the 4K table replaces it (freed). */
	assert_int_equal(m2d_pt_map_range(pt, 4 * M2, 2 * M2, 0x200, 2, RWX_WB), 0);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.leaves[1], 0);
	assert_int_equal(st.tables[1], 0);
	/* 1G over the 2M table */
	assert_int_equal(m2d_pt_map_range(pt, 0, G, 0x0, 3, RWX_WB), 0);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.leaves[3], 1);
	assert_int_equal(st.leaves[2], 0);
	assert_int_equal(st.tables[2], 0);
	/* 4K map covering a whole 2M of a 1G leaf: only the straddling 1G is
	 * split; the covered 2M is replaced without a split. */
	assert_int_equal(m2d_pt_map_range(pt, M2, M2, 0x5000, 1, RWX_WB), 0);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.leaves[2], 511);
	assert_int_equal(st.leaves[1], 512);
	m2d_pt_destroy(&pt);
}

/* unmap / protect split huge leaves straddling the range edges. */
static void test_pt_unmap_protect_split_edges(void **state)
{
	struct m2d_pt *pt = new_pt(M2D_PT_ARM64_S2, 4);
	struct m2d_pt_walk w;
	struct m2d_pt_stats st;

	assert_int_equal(m2d_pt_map_range(pt, 0, 4 * M2, 0, 2, RWX_WB), 0);
	/* [1M, 5M): the 2M leaf at 0 straddles (split, 256 x 4K cleared),
	 * [2M, 4M) is covered (1 leaf), the leaf at 4M straddles (256 x 4K). */
	assert_int_equal(m2d_pt_unmap_range(pt, M2 / 2, 2 * M2), 256 + 1 + 256);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.leaves[2], 1);   /* [6M, 8M) */
	assert_int_equal(st.leaves[1], 512); /* [0, 1M) and [5M, 6M) */
	m2d_pt_walk(pt, M2 / 2 - K4, &w);
	assert_true(w.present);
	assert_int_equal(w.pfn, 255);
	m2d_pt_walk(pt, M2 / 2, &w);
	assert_false(w.present);
	m2d_pt_walk(pt, 5 * M2 / 2 - K4, &w); /* 5M - 4K */
	assert_false(w.present);
	m2d_pt_walk(pt, 5 * M2 / 2, &w);      /* 5M */
	assert_true(w.present);
	assert_int_equal(w.level, 1);
	m2d_pt_walk(pt, 4 * M2 - K4, &w);     /* 8M - 4K: the 2M leaf at 6M */
	assert_true(w.present);
	assert_int_equal(w.level, 2);

	/* protect [7M, 7M + 4K): splits the leaf at 6M, changes one 4K leaf */
	assert_int_equal(m2d_pt_protect_range(pt, 7 * M2 / 2, K4, 0, M2D_PROT_W), 1);
	m2d_pt_walk(pt, 7 * M2 / 2, &w);
	assert_int_equal(w.level, 1);
	assert_int_equal(w.prot, RWX_WB & ~M2D_PROT_W);
	assert_int_equal(w.pfn, 3 * 512 + 256);
	/* protecting with no change changes nothing */
	assert_int_equal(m2d_pt_protect_range(pt, 0, 8 * M2, 0, M2D_PROT_G | M2D_PROT_D), 0);
	m2d_pt_destroy(&pt);
}

/* test_clear_young / test_clear_dirty: count and clear; huge leaves whole. */
static void test_pt_young_dirty(void **state)
{
	struct m2d_pt *pt = new_pt(M2D_PT_X86_64, 4);
	struct m2d_pt_walk w;
	unsigned ad = RWX_WB | M2D_PROT_A | M2D_PROT_D;

	assert_int_equal(m2d_pt_map_range(pt, 0, 8 * K4, 0, 1, ad), 0);
	assert_int_equal(m2d_pt_map_range(pt, M2, M2, 0x200, 2, ad), 0);
	assert_int_equal(m2d_pt_test_clear_young(pt, 2 * K4, 2 * K4), 2);
	assert_int_equal(m2d_pt_test_clear_young(pt, 2 * K4, 2 * K4), 0);
	m2d_pt_walk(pt, 2 * K4, &w);
	assert_int_equal(w.prot, RWX_WB | M2D_PROT_D);
	/* 4K of the 2M leaf: the whole leaf is aged, not split */
	assert_int_equal(m2d_pt_test_clear_young(pt, M2 + 5 * K4, K4), 1);
	m2d_pt_walk(pt, M2, &w);
	assert_int_equal(w.level, 2);
	assert_int_equal(w.prot, RWX_WB | M2D_PROT_D);
	assert_int_equal(m2d_pt_test_clear_dirty(pt, 0, G), 9);
	assert_int_equal(m2d_pt_test_clear_dirty(pt, 0, G), 0);
	assert_int_equal(m2d_pt_test_clear_young(pt, 0, G), 6);
	m2d_pt_destroy(&pt);

	/* EPT: A bit 8, D bit 9 */
	pt = new_pt(M2D_PT_EPT, 4);
	assert_int_equal(m2d_pt_map_range(pt, 0, K4, 0x10, 1, ad), 0);
	assert_int_equal(m2d_pt_test_clear_dirty(pt, 0, K4), 1);
	m2d_pt_walk(pt, 0, &w);
	/* 0x10 << 12 | 0x77 | A 0x100 */
	assert_int_equal(w.pte, 0x0000000000010177ull);
	m2d_pt_destroy(&pt);

	/* arm64: AF ages; there is no dirty bit */
	pt = new_pt(M2D_PT_ARM64_S2, 4);
	assert_int_equal(m2d_pt_map_range(pt, 0, K4, 0x10, 1, ad), 0);
	assert_int_equal(m2d_pt_test_clear_dirty(pt, 0, K4), 0);
	assert_int_equal(m2d_pt_test_clear_young(pt, 0, K4), 1);
	m2d_pt_walk(pt, 0, &w);
	/* 0x10 << 12 | 0x3ff (no AF) */
	assert_int_equal(w.pte, 0x00000000000103ffull);
	m2d_pt_destroy(&pt);
}

/* split/collapse error codes. */
static void test_pt_split_collapse_errors(void **state)
{
	struct m2d_pt *pt = new_pt(M2D_PT_X86_64, 4);

	assert_int_equal(m2d_pt_split(pt, 0, 1), -EINVAL);
	assert_int_equal(m2d_pt_split(pt, 0, 4), -EINVAL);
	assert_int_equal(m2d_pt_split(pt, 1ull << 48, 2), -EINVAL);
	assert_int_equal(m2d_pt_split(pt, 0, 2), -ENOENT);    /* nothing */
	assert_int_equal(m2d_pt_collapse(pt, 0, 2), -ENOENT); /* no table */
	assert_int_equal(m2d_pt_map_range(pt, 0, M2, 0, 2, RWX_WB), 0);
	assert_int_equal(m2d_pt_split(pt, 0, 3), -ENOENT);    /* a table at level 3 */
	assert_int_equal(m2d_pt_collapse(pt, 0, 2), -ENOENT); /* a leaf, not a table */
	assert_int_equal(m2d_pt_map_range(pt, 2 * M2, 511 * K4, 0x400, 1, RWX_WB), 0);
	assert_int_equal(m2d_pt_collapse(pt, 2 * M2, 2), -EINVAL); /* 511 of 512 */
	assert_int_equal(m2d_pt_map_range(pt, 3 * M2 - K4, K4, 0x5ff, 1, RWX_WB), 0);
	assert_int_equal(m2d_pt_collapse(pt, 2 * M2, 2), 0);
	/* misaligned frames are not collapsible */
	assert_int_equal(m2d_pt_map_range(pt, 4 * M2, M2, 0x401, 1, RWX_WB), 0);
	assert_int_equal(m2d_pt_collapse(pt, 4 * M2, 2), -EINVAL);
	/* the level-3 collapse needs 512 2M leaves */
	assert_int_equal(m2d_pt_collapse(pt, 0, 3), -EINVAL);
	m2d_pt_destroy(&pt);
}

/* Inside a simulation unlinked tables wait for RCU; table_bytes counts them. */
static void test_pt_rcu_deferred_free(void **state)
{
	struct m2d_sim_config scfg;
	struct m2d_sim *sim = NULL;
	struct m2d_pt *pt;
	struct m2d_pt_stats st;

	m2d_sim_config_default(&scfg);
	assert_int_equal(m2d_sim_create(&sim, &scfg), 0);
	m2d_engine_enter(sim);
	pt = new_pt(M2D_PT_EPT, 4);
	assert_int_equal(m2d_pt_map_range(pt, 0, 2 * M2, 0, 1, RWX_WB), 0);
	/* 1 + 1 + 2 tables under the root */
	assert_int_equal(m2d_pt_unmap_free_range(pt, 0, G), 1024);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.tables[1] + st.tables[2] + st.tables[3], 0);
	assert_int_equal(st.tables_pending_free, 4);
	assert_int_equal(st.table_bytes, 5 * 4096);
	/* a table page is not reused before the grace period */
	assert_int_equal(m2d_pt_map_range(pt, 0, K4, 0, 1, RWX_WB), 0);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.table_bytes, 8 * 4096);
	m2d_engine_leave(sim); /* runs the callbacks */
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.tables_pending_free, 0);
	assert_int_equal(st.table_bytes, 4 * 4096);
	/* destroy with callbacks pending waits for them (rcu_barrier) */
	m2d_engine_enter(sim);
	m2d_pt_unmap_free_range(pt, 0, G);
	m2d_pt_destroy(&pt);
	m2d_engine_leave(sim);
	assert_int_equal(m2d_sim_counter(sim, "rcu_callbacks"), 7);
	m2d_sim_destroy(&sim);
}

/* Tables built before linking (KVM's split): accounted at link time. */
static void test_pt_link_prebuilt_table(void **state)
{
	enum m2d_pt_format f = M2D_PT_EPT;
	struct evlog log;
	struct m2d_pt *pt = new_hooked_pt(f, &log);
	struct m2d_pt_stats st;
	struct m2d_pt_walk w;
	uint64_t *t;

	assert_int_equal(m2d_pt_map_range(pt, 0, M2, 0, 1, RWX_WB), 0);
	assert_null(m2d_pt_alloc_table(pt, 4)); /* nothing links a root-level table */
	t = m2d_pt_alloc_table(pt, 1);
	assert_non_null(t);
	/* stores into the private table are not accounted yet */
	for (int i = 0; i < 10; i++)
		m2d_pt_set_pte(pt, &t[i], M2 + i * K4, 1, m2d_pte_make_leaf(f, 1, 0x900 + i, RWX_WB));
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.leaves[1], 512);
	m2d_pt_walk(pt, M2, &w);
	assert_int_equal(w.level, 2);
	log.n = 0;
	m2d_pt_set_pte(pt, w.ptep, M2, 2, m2d_pte_make_table(f, t));
	assert_int_equal(log.n, 11);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.leaves[1], 522);
	assert_int_equal(st.tables[1], 2);
	m2d_pt_walk(pt, M2 + 9 * K4, &w);
	assert_int_equal(w.pfn, 0x909);
	/* a never-linked table can be freed directly */
	t = m2d_pt_alloc_table(pt, 2);
	t[3] = 0x1234;
	m2d_pt_free_table(pt, t);
	m2d_pt_stats_get(pt, &st);
	assert_int_equal(st.table_bytes, (1 + 1 + 1 + 2) * 4096ull);
	m2d_pt_destroy(&pt);
	free(log.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pt_encode_x86),
		cmocka_unit_test(test_pt_encode_ept),
		cmocka_unit_test(test_pt_encode_arm64),
		cmocka_unit_test(test_pt_encode_change_prot_exact),
		cmocka_unit_test(test_pt_encode_split_relevel),
		cmocka_unit_test(test_pt_encode_roundtrip),
		cmocka_unit_test(test_pt_enomem),
		cmocka_unit_test(test_pt_create_invalid),
		cmocka_unit_test(test_pt_map_walk_unmap),
		cmocka_unit_test(test_pt_shape_128g_4k),
		cmocka_unit_test(test_pt_shape_128g_2m),
		cmocka_unit_test(test_pt_shape_split_1g_to_4k),
		cmocka_unit_test(test_pt_hook_exactly_once),
		cmocka_unit_test(test_pt_map_over_huge),
		cmocka_unit_test(test_pt_unmap_protect_split_edges),
		cmocka_unit_test(test_pt_young_dirty),
		cmocka_unit_test(test_pt_split_collapse_errors),
		cmocka_unit_test(test_pt_rcu_deferred_free),
		cmocka_unit_test(test_pt_link_prebuilt_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
