// SPDX-License-Identifier: MIT
/*
 * lib/mm/pt_iter.c - the page-table iterator, in the shape of KVM's
 * arch/x86/kvm/mmu/tdp_iter.c.
 *
 * A pre-order walk over the table rooted at pt->root, from the root level
 * down to a minimum level, visiting every entry (present or not) of every
 * table it reaches, in address order.  The walk converges on
 * next_last_level_addr: stepping down picks the entry containing it,
 * stepping sideways advances it to the next entry's first address.  So
 * after the caller drops its lock (a yield), restarting from the root at
 * next_last_level_addr resumes exactly where the walk was, whatever
 * happened to the tables in between (they may have been freed: the
 * iterator holds no pointer across a restart).
 *
 * Ordering guarantees: entries are read with acquire loads; a step down
 *   re-reads the entry first, so the walk never enters a table that is no
 *   longer linked from it (tables unlinked under a shared lock stay
 *   readable until an RCU grace period has passed: callers that walk
 *   under a shared lock hold m2d_rcu_read_lock()).
 *   m2d_pt_iter_set_atomic() is a sequentially consistent cmpxchg.
 *
 * Progress guarantees: m2d_pt_iter_can_yield() is false until the walk has
 *   moved past the address of the last yield (tdp_mmu_iter_cond_resched's
 *   forward-progress guard), so a walk that yields whenever it can still
 *   finishes.
 *
 * The iterator never allocates and lives on the caller's stack.
 */
#include "mm/pt.h"

#include <errno.h>

/* Recompute ptep for the current address and level and re-read it
 * (tdp_iter_refresh_sptep). */
static void refresh_ptep(struct m2d_pt_iter *it)
{
	it->ptep = it->pt_path[it->level] + pt_index(it->addr, it->level);
	it->old_pte = pt_read(it->ptep);
}

/**
 * m2d_pt_iter_restart() - return to the root and continue the traversal
 * from next_last_level_addr (tdp_iter_restart).
 */
void m2d_pt_iter_restart(struct m2d_pt_iter *it)
{
	it->yielded = false;
	it->yielded_addr = it->next_last_level_addr;
	it->level = it->root_level;
	it->target = it->next_last_level_addr;
	it->addr = pt_round_for_level(it->next_last_level_addr, it->level);
	refresh_ptep(it);
	it->valid = true;
}

/**
 * m2d_pt_iter_start() - start a pre-order walk of @pt at the walk that
 * translates @addr, down to @min_level (tdp_iter_start).
 * @it: the iterator (caller's storage)
 * @pt: the table
 * @min_level: lowest level visited (1..root level)
 * @addr: first address of interest
 *
 * An @addr beyond the table, or a bad @min_level, gives an invalid
 * (finished) iterator.
 */
void m2d_pt_iter_start(struct m2d_pt_iter *it, struct m2d_pt *pt, int min_level, uint64_t addr)
{
	it->pt = pt;
	it->valid = false;
	it->yielded = false;
	if (M2D_WARN_ON_ONCE(!pt) || min_level < M2D_LEVEL_4K || min_level > pt->root_level ||
	    addr >= pt->max_addr) {
		it->ptep = NULL;
		it->old_pte = 0;
		return;
	}
	it->next_last_level_addr = addr;
	it->root_level = pt->root_level;
	it->min_level = min_level;
	it->pt_path[it->root_level] = pt->root;
	m2d_pt_iter_restart(it);
}

/*
 * Step down one level towards next_last_level_addr.  Return: true if the
 * iterator stepped down.
 */
static bool try_step_down(struct m2d_pt_iter *it)
{
	uint64_t *child;

	if (it->level == it->min_level)
		return false;
	/* Re-read the entry: never descend into a table no longer linked here. */
	it->old_pte = pt_read(it->ptep);
	child = pt_child(it->pt->format, it->old_pte, it->level);
	if (!child)
		return false;
	it->level--;
	it->pt_path[it->level] = child;
	it->target = it->next_last_level_addr;
	it->addr = pt_round_for_level(it->next_last_level_addr, it->level);
	refresh_ptep(it);
	return true;
}

/*
 * Step to the next entry of the current table page.  Return: false if the
 * iterator was already at the page's last entry.
 */
static bool try_step_side(struct m2d_pt_iter *it)
{
	if (pt_index(it->addr, it->level) == M2D_PT_ENTRIES - 1)
		return false;
	it->addr += m2d_level_size(it->level);
	it->next_last_level_addr = it->addr;
	it->ptep++;
	it->old_pte = pt_read(it->ptep);
	return true;
}

/*
 * Step back up to the parent table, to the entry already visited on the
 * way down.  Return: false if already at the root.
 */
static bool try_step_up(struct m2d_pt_iter *it)
{
	if (it->level == it->root_level)
		return false;
	it->level++;
	it->addr = pt_round_for_level(it->addr, it->level);
	refresh_ptep(it);
	return true;
}

/**
 * m2d_pt_iter_next() - step to the next entry in a pre-order traversal.
 *
 * The algorithm (tdp_iter_next):
 * 1. If the caller yielded since the last step, restart from the root at
 *    next_last_level_addr and stop there.
 * 2. If the current entry is a present non-leaf and the level is above
 *    min_level, step down into the table it points to.
 * 3. Otherwise step to the next entry of the current table.
 * 4. If the current table is finished, step up to the parent table (whose
 *    entry was visited already) and go back to 3.  If there is no parent,
 *    the walk is over: valid becomes false.
 */
void m2d_pt_iter_next(struct m2d_pt_iter *it)
{
	if (it->yielded) {
		m2d_pt_iter_restart(it);
		return;
	}
	if (try_step_down(it))
		return;
	do {
		if (try_step_side(it))
			return;
	} while (try_step_up(it));
	it->valid = false;
}

/* Re-read the current entry into old_pte. */
void m2d_pt_iter_refresh(struct m2d_pt_iter *it)
{
	it->old_pte = pt_read(it->ptep);
}

/**
 * m2d_pt_iter_set() - store @new_pte at the current entry through the
 * bookkeeping (tdp_mmu_iter_set_spte); old_pte becomes @new_pte.
 * Context: exclusive (write lock).
 */
void m2d_pt_iter_set(struct m2d_pt_iter *it, uint64_t new_pte)
{
	pt_set_pte(it->pt, it->ptep, it->addr, it->level, pt_read(it->ptep), new_pte, false);
	it->old_pte = new_pte;
}

/**
 * m2d_pt_iter_set_atomic() - cmpxchg the current entry from old_pte to
 * @new_pte, then do the bookkeeping with shared = true
 * (tdp_mmu_set_spte_atomic).
 * Context: shared (read lock) or exclusive.
 * Return: 0 (old_pte is now @new_pte), or -EBUSY if the entry no longer
 * held old_pte: old_pte is refreshed with the current value; retry.
 */
int m2d_pt_iter_set_atomic(struct m2d_pt_iter *it, uint64_t new_pte)
{
	uint64_t expected = it->old_pte;

	if (!__atomic_compare_exchange_n(it->ptep, &expected, new_pte, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST)) {
		it->old_pte = expected;
		return -EBUSY;
	}
	pt_set_pte(it->pt, it->ptep, it->addr, it->level, expected, new_pte, true);
	it->old_pte = new_pte;
	return 0;
}

/* Forward-progress guard: has the walk moved since the last (re)start? */
bool m2d_pt_iter_can_yield(const struct m2d_pt_iter *it)
{
	return it->next_last_level_addr != it->yielded_addr;
}

/* The caller dropped its lock: the next m2d_pt_iter_next() restarts. */
void m2d_pt_iter_yielded(struct m2d_pt_iter *it)
{
	it->yielded = true;
}
