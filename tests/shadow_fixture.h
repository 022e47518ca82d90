/* SPDX-License-Identifier: MIT */
/*
 * tests/shadow_fixture.h - a guest page-table walker for shadow-paging
 * VMs in tests that run every MMU: an identity-mapped 4-level guest with
 * 4K leaves whose table gfns are synthesized above the test's GPA space
 * (outside every memslot, so they are never write-tracked) and whose
 * accessed/dirty bits are not kept (every walk reports no update).
 * tests/test_kvm.c checks the real walker (lib/guest) with exact counts.
 */
#ifndef M2D_TESTS_SHADOW_FIXTURE_H
#define M2D_TESTS_SHADOW_FIXTURE_H

#include <mmu2d/kvm.h>

#define SHADOW_FIXTURE_TABLES_GFN (1ull << 34)

static inline int shadow_fixture_walk(void *priv, uint64_t gva, bool write, bool peek,
				      struct m2d_guest_walk *out)
{
	(void)priv;
	(void)write;
	(void)peek;
	*out = (struct m2d_guest_walk){ .root_level = 4, .level = 1, .writable = true,
					.gfn = gva >> 12 };
	/* One distinct table per level-sized range (level 4: the root). */
	for (int l = 4; l >= 1; l--)
		out->table_gfn[l - 1] = SHADOW_FIXTURE_TABLES_GFN + ((uint64_t)l << 28) +
					(l == 4 ? 0 : gva >> (12 + 9 * l));
	return 0;
}

/* Install the walker when @vm uses shadow paging. */
static inline void shadow_fixture_install(struct m2d_vm *vm, enum m2d_kvm_mmu mmu)
{
	if (mmu == M2D_KVM_MMU_SHADOW)
		m2d_vm_set_guest_walker(vm, shadow_fixture_walk, NULL);
}

#endif /* M2D_TESTS_SHADOW_FIXTURE_H */
