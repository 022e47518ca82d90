// SPDX-License-Identifier: MIT
/*
 * lib/mm/mmu_notifier.c - mmu_notifier subscriptions and invalidation
 * dispatch (mm/mmu_notifier.c).
 *
 * The kernel walks the subscription hlist under SRCU so that
 * registration can race with invalidations.  Here registration takes
 * mmap_write_lock (as mmu_notifier_register() does) and every
 * invalidation path holds mmap_lock (read or write), so the list is
 * stable during a walk without an SRCU read section; the SRCU cost is part
 * of MM_NOTIFIER_CALL, charged per subscriber per call.
 *
 * Counting: M2D_CTR_mm_invalidations counts invalidate_range_start calls
 * fired by the mm (whether or not anyone is subscribed).  KVM counts
 * M2D_CTR_mmu_notifier_invalidations itself, only for calls that reach it.
 */
#include "mm/mm_types.h"

#include <errno.h>

int m2d_mmu_notifier_register(struct m2d_mmu_notifier *sub, struct m2d_mm *mm)
{
	M2D_VALIDATE_OR_RET(sub && mm && sub->ops, -EINVAL);
	if (sub->mm)
		return -EINVAL; /* already registered */
	mmap_write_lock(mm);
	sub->mm = mm;
	cds_list_add_tail(&sub->hlist, &mm->notifiers);
	mmap_write_unlock(mm);
	return 0;
}

void m2d_mmu_notifier_unregister(struct m2d_mmu_notifier *sub, struct m2d_mm *mm)
{
	if (!sub || !mm || sub->mm != mm)
		return;
	/* mmu_notifier_unregister(): ->release runs unless exit_mmap already did */
	if (sub->ops->release)
		sub->ops->release(sub, mm);
	mmap_write_lock(mm);
	cds_list_del(&sub->hlist);
	sub->mm = NULL;
	mmap_write_unlock(mm);
}

/* __mmu_notifier_release(): exit_mmap tears the mm down; subscribers are unhooked. */
void mm_notifier_release(struct m2d_mm *mm)
{
	struct m2d_mmu_notifier *sub, *tmp;

	cds_list_for_each_entry_safe(sub, tmp, &mm->notifiers, hlist) {
		if (sub->ops->release)
			sub->ops->release(sub, mm);
		cds_list_del(&sub->hlist);
		sub->mm = NULL;
	}
}

/**
 * m2d_mmu_notifier_invalidate_range_start() - mn_hlist_invalidate_range_start().
 * @range: [start, end), event, may_block.
 *
 * Calls every subscriber's ->invalidate_range_start in registration order.
 * Context: mmap_lock held by the caller as the mm path holds it; no
 * page-table lock held.
 * Return: 0, or -EAGAIN if a subscriber refused a non-blocking range (the
 * subscribers already called get their ->invalidate_range_end, as the
 * kernel does).
 */
int m2d_mmu_notifier_invalidate_range_start(struct m2d_mmu_notifier_range *range)
{
	struct m2d_mm *mm = range->mm;
	struct m2d_mmu_notifier *sub;
	int ret = 0;

	mmap_assert_locked(mm);
	m2d_count(M2D_CTR_mm_invalidations, 1);
	mm->stats.invalidations++;
	mm->stats.invalidated_bytes += range->end - range->start;
	cds_list_for_each_entry(sub, &mm->notifiers, hlist) {
		int r;

		if (!sub->ops->invalidate_range_start)
			continue;
		m2d_delay(M2D_COST_MM_NOTIFIER_CALL, 1);
		r = sub->ops->invalidate_range_start(sub, range);
		if (r) {
			M2D_WARN_ON_ONCE(r != -EAGAIN || range->may_block);
			ret = r;
			break;
		}
	}
	if (ret) {
		/* undo: ->invalidate_range_end for those already started */
		struct m2d_mmu_notifier *undo;

		cds_list_for_each_entry(undo, &mm->notifiers, hlist) {
			if (undo == sub)
				break;
			if (undo->ops->invalidate_range_start && undo->ops->invalidate_range_end)
				undo->ops->invalidate_range_end(undo, range);
		}
	}
	return ret;
}

void m2d_mmu_notifier_invalidate_range_end(struct m2d_mmu_notifier_range *range)
{
	struct m2d_mm *mm = range->mm;
	struct m2d_mmu_notifier *sub;

	mmap_assert_locked(mm);
	cds_list_for_each_entry(sub, &mm->notifiers, hlist) {
		if (!sub->ops->invalidate_range_end)
			continue;
		m2d_delay(M2D_COST_MM_NOTIFIER_CALL, 1);
		sub->ops->invalidate_range_end(sub, range);
	}
}
