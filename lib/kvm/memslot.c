// SPDX-License-Identifier: MIT
/*
 * lib/kvm/memslot.c - memslots: lookup by gfn and by HVA range, lpage_info.
 *
 * Two orders are kept, as the kernel keeps a gfn tree and an hva interval
 * tree (virt/kvm/kvm_main.c, include/linux/kvm_host.h):
 *
 *  - by_gfn: sorted by base_gfn; memslots never overlap in GPA, so a binary
 *    search finds the slot containing a gfn (search_memslots).
 *  - by_hva: sorted by (userspace_addr, id), plus hva_max_end[i], the largest
 *    end HVA among by_hva[0..i].  hva_max_end is non-decreasing, so the first
 *    slot that can overlap [start, end) is found by binary search on it, and
 *    the scan stops at the first slot starting at or after @end.  This is the
 *    stabbing query the mmu_notifier path needs (kvm_for_each_memslot_in_hva_range);
 *    mmu_stress_test aliases 64 slots onto one 2 GiB HVA range, and each
 *    notifier visits all of them.
 *
 * The set changes only under slots_lock (memslot updates are rare); the
 * arrays are rebuilt by insertion.  Iteration order is deterministic.
 */
#include "kvm/kvm.h"

#include "core/alloc.h"

#include <errno.h>
#include <string.h>

/* gfn_to_index: index of @gfn's @level-sized region within the slot. */
static uint64_t gfn_to_index(uint64_t gfn, uint64_t base_gfn, int level)
{
	int shift = 9 * (level - 1);

	return (gfn >> shift) - (base_gfn >> shift);
}

/* __kvm_mmu_slot_lpages */
static uint64_t kvm_mmu_slot_lpages(const struct m2d_memslot *slot, int level)
{
	return gfn_to_index(slot->base_gfn + slot->npages - 1, slot->base_gfn, level) + 1;
}

static bool kvm_is_level_aligned(uint64_t value, int level)
{
	return M2D_IS_ALIGNED(value, KVM_PAGES_PER_HPAGE(level));
}

/*
 * kvm_alloc_memslot_metadata (arch/x86/kvm/x86.c): per 2M/1G region
 * disallow_lpage is set for the first region if base_gfn is not aligned,
 * for the last if the end is not, and for all regions if base_gfn and the
 * HVA (or, for gmem slots, the guest_memfd offset) disagree modulo the
 * level size.  arm64 does not use lpage_info (its check is per fault,
 * fault_supports_stage2_huge_mapping) but keeping it is harmless.
 */
int kvm_alloc_memslot_metadata(struct m2d_memslot *slot)
{
	for (int level = M2D_LEVEL_2M; level <= M2D_LEVEL_1G; level++) {
		uint64_t lpages = kvm_mmu_slot_lpages(slot, level);
		uint64_t ugfn = slot->userspace_addr >> M2D_PAGE_SHIFT;
		struct kvm_lpage_info *linfo;

		linfo = m2d_calloc(M2D_ALLOC_KVM, lpages, sizeof(*linfo));
		if (!linfo)
			goto err_free;
		slot->lpage_info[level - 2] = linfo;
		slot->nr_lpage[level - 2] = lpages;

		if (!kvm_is_level_aligned(slot->base_gfn, level))
			linfo[0].disallow_lpage = 1;
		if (!kvm_is_level_aligned(slot->base_gfn + slot->npages, level))
			linfo[lpages - 1].disallow_lpage = 1;
		if (!kvm_is_level_aligned(slot->base_gfn ^ ugfn, level) ||
		    (kvm_slot_has_gmem(slot) &&
		     !kvm_is_level_aligned(slot->base_gfn ^ slot->gmem_pgoff, level))) {
			for (uint64_t j = 0; j < lpages; j++)
				linfo[j].disallow_lpage = 1;
		}
	}
	return 0;

err_free:
	kvm_free_memslot(slot);
	return -ENOMEM;
}

/* Free the slot's metadata and the slot itself. NULL-safe. */
void kvm_free_memslot(struct m2d_memslot *slot)
{
	if (!slot)
		return;
	for (int i = 0; i < KVM_NR_HUGE_LEVELS; i++) {
		if (slot->lpage_info[i])
			m2d_free(M2D_ALLOC_KVM, slot->lpage_info[i],
				 slot->nr_lpage[i] * sizeof(struct kvm_lpage_info));
		slot->lpage_info[i] = NULL;
	}
	if (slot->dirty_bitmap)
		m2d_free(M2D_ALLOC_KVM, slot->dirty_bitmap,
			 M2D_DIV_ROUND_UP(slot->npages, 64) * sizeof(uint64_t));
	shadow_free_memslot_rmap(slot);
	m2d_free(M2D_ALLOC_KVM, slot, sizeof(*slot));
}

/* lpage_info_slot: the region of @level containing @gfn (level 2 or 3). */
struct kvm_lpage_info *lpage_info_slot(uint64_t gfn, const struct m2d_memslot *slot, int level)
{
	return &slot->lpage_info[level - 2][gfn_to_index(gfn, slot->base_gfn, level)];
}

static bool hva_before(const struct m2d_memslot *a, const struct m2d_memslot *b)
{
	if (a->userspace_addr != b->userspace_addr)
		return a->userspace_addr < b->userspace_addr;
	return a->id < b->id;
}

static void rebuild_hva_max(struct m2d_memslots *s)
{
	uint64_t m = 0;

	for (unsigned i = 0; i < s->nr; i++) {
		const struct m2d_memslot *slot = s->by_hva[i];
		uint64_t end = slot->userspace_addr + (slot->npages << M2D_PAGE_SHIFT);

		m = M2D_MAX(m, end);
		s->hva_max_end[i] = m;
	}
}

static int memslots_grow(struct m2d_memslots *s)
{
	unsigned ncap = s->cap ? s->cap * 2 : 16;
	struct m2d_memslot **g, **h;
	uint64_t *e;

	g = m2d_realloc(M2D_ALLOC_KVM, s->by_gfn, s->cap * sizeof(*g), ncap * sizeof(*g));
	if (!g)
		return -ENOMEM;
	s->by_gfn = g;
	h = m2d_realloc(M2D_ALLOC_KVM, s->by_hva, s->cap * sizeof(*h), ncap * sizeof(*h));
	if (!h)
		return -ENOMEM;
	s->by_hva = h;
	e = m2d_realloc(M2D_ALLOC_KVM, s->hva_max_end, s->cap * sizeof(*e), ncap * sizeof(*e));
	if (!e)
		return -ENOMEM;
	s->hva_max_end = e;
	s->cap = ncap;
	return 0;
}

/*
 * m2d_memslots_insert() - add @slot (its GPA range must not overlap another).
 * Return: 0, -EINVAL (GPA overlap), -ENOMEM.
 */
int m2d_memslots_insert(struct m2d_memslots *s, struct m2d_memslot *slot)
{
	unsigned lo = 0, hi = s->nr, i;
	int ret;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (s->by_gfn[mid]->base_gfn < slot->base_gfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0) {
		const struct m2d_memslot *prev = s->by_gfn[lo - 1];

		if (prev->base_gfn + prev->npages > slot->base_gfn)
			return -EINVAL;
	}
	if (lo < s->nr && slot->base_gfn + slot->npages > s->by_gfn[lo]->base_gfn)
		return -EINVAL;
	if (s->nr == s->cap) {
		ret = memslots_grow(s);
		if (ret)
			return ret;
	}
	memmove(&s->by_gfn[lo + 1], &s->by_gfn[lo], (s->nr - lo) * sizeof(s->by_gfn[0]));
	s->by_gfn[lo] = slot;

	for (i = 0; i < s->nr && hva_before(s->by_hva[i], slot); i++)
		;
	memmove(&s->by_hva[i + 1], &s->by_hva[i], (s->nr - i) * sizeof(s->by_hva[0]));
	s->by_hva[i] = slot;
	s->nr++;
	rebuild_hva_max(s);
	return 0;
}

/* Remove @slot (which must be in the set). */
void m2d_memslots_remove(struct m2d_memslots *s, struct m2d_memslot *slot)
{
	unsigned i;

	for (i = 0; i < s->nr && s->by_gfn[i] != slot; i++)
		;
	if (M2D_WARN_ON_ONCE(i == s->nr))
		return;
	memmove(&s->by_gfn[i], &s->by_gfn[i + 1], (s->nr - i - 1) * sizeof(s->by_gfn[0]));
	for (i = 0; i < s->nr && s->by_hva[i] != slot; i++)
		;
	memmove(&s->by_hva[i], &s->by_hva[i + 1], (s->nr - i - 1) * sizeof(s->by_hva[0]));
	s->nr--;
	rebuild_hva_max(s);
}

/* Free every slot and the index. */
void m2d_memslots_fini(struct m2d_memslots *s)
{
	for (unsigned i = 0; i < s->nr; i++)
		kvm_free_memslot(s->by_gfn[i]);
	m2d_free(M2D_ALLOC_KVM, s->by_gfn, s->cap * sizeof(s->by_gfn[0]));
	m2d_free(M2D_ALLOC_KVM, s->by_hva, s->cap * sizeof(s->by_hva[0]));
	m2d_free(M2D_ALLOC_KVM, s->hva_max_end, s->cap * sizeof(s->hva_max_end[0]));
	memset(s, 0, sizeof(*s));
}

struct m2d_memslot *m2d_memslot_by_id(const struct m2d_memslots *s, uint32_t id)
{
	for (unsigned i = 0; i < s->nr; i++)
		if (s->by_gfn[i]->id == id)
			return s->by_gfn[i];
	return NULL;
}

/* search_memslots */
struct m2d_memslot *m2d_gfn_to_memslot(const struct m2d_memslots *s, uint64_t gfn)
{
	unsigned lo = 0, hi = s->nr;

	/* Find the last slot with base_gfn <= gfn. */
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (s->by_gfn[mid]->base_gfn <= gfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	struct m2d_memslot *slot = s->by_gfn[lo - 1];

	return gfn < slot->base_gfn + slot->npages ? slot : NULL;
}

/* kvm_vcpu_gfn_to_memslot: try vcpu->last_used_slot first. */
struct m2d_memslot *kvm_vcpu_gfn_to_memslot(struct m2d_vcpu *vcpu, uint64_t gfn)
{
	struct m2d_memslot *slot = vcpu->last_used_slot;

	if (slot && gfn >= slot->base_gfn && gfn < slot->base_gfn + slot->npages)
		return slot;
	slot = m2d_gfn_to_memslot(&vcpu->vm->slots, gfn);
	if (slot)
		vcpu->last_used_slot = slot;
	return slot;
}

unsigned m2d_memslots_for_each_hva_overlap(const struct m2d_memslots *s, uint64_t start,
					   uint64_t end, m2d_memslot_visit_fn fn, void *arg)
{
	unsigned lo = 0, hi = s->nr, n = 0;

	/* First index whose running max end exceeds @start. */
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (s->hva_max_end[mid] <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (unsigned i = lo; i < s->nr; i++) {
		struct m2d_memslot *slot = s->by_hva[i];
		uint64_t s_start = slot->userspace_addr;
		uint64_t s_end = s_start + (slot->npages << M2D_PAGE_SHIFT);

		if (s_start >= end)
			break;
		if (s_end <= start)
			continue;
		n++;
		if (!fn(slot, M2D_MAX(start, s_start), M2D_MIN(end, s_end), arg))
			break;
	}
	return n;
}

/* mark_page_dirty_in_slot: set the gfn's bit in the slot's dirty bitmap. */
void mark_page_dirty_in_slot(struct m2d_vm *kvm, struct m2d_memslot *slot, uint64_t gfn)
{
	uint64_t rel;

	if (!slot || !slot->dirty_bitmap)
		return;
	rel = gfn - slot->base_gfn;
	uatomic_or(&slot->dirty_bitmap[rel / 64], 1ull << (rel % 64));
}
