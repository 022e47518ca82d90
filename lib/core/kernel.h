/* SPDX-License-Identifier: MIT */
/*
 * lib/core/kernel.h - kernel names for the engine's primitives, so model
 * code reads like the kernel it mirrors: spin_lock(&cpa_lock),
 * read_lock(&kvm->mmu_lock), mmap_read_lock(mm) (mm/ defines that one),
 * call_rcu(&sp->rcu_head, tdp_mmu_free_sp_rcu_callback).
 *
 * Only lib/ includes this header; the names are macros over m2d_*.
 */
#ifndef M2D_LIB_CORE_KERNEL_H
#define M2D_LIB_CORE_KERNEL_H

#include "core/engine.h"

typedef struct m2d_spinlock spinlock_t;
typedef struct m2d_rwlock rwlock_t;

#define spin_lock_init(l, name, rank) m2d_spin_lock_init((l), (name), (rank))
#define spin_lock(l) m2d_spin_lock(l)
#define spin_unlock(l) m2d_spin_unlock(l)
#define spin_trylock(l) m2d_spin_trylock(l)
#define spin_is_contended(l) m2d_spin_is_contended(l)

#define rwlock_init(l, name, rank) m2d_rwlock_init((l), (name), (rank))
#define read_lock(l) m2d_read_lock(l)
#define read_unlock(l) m2d_read_unlock(l)
#define write_lock(l) m2d_write_lock(l)
#define write_unlock(l) m2d_write_unlock(l)
#define rwlock_needbreak(l) m2d_rwlock_is_contended(l)
#define cond_resched_rwlock_read(l) m2d_cond_resched_rwlock_read(l)
#define cond_resched_rwlock_write(l) m2d_cond_resched_rwlock_write(l)

#define mutex_init(l, name, rank) m2d_mutex_init((l), (name), (rank))
#define mutex_lock(l) m2d_mutex_lock(l)
#define mutex_unlock(l) m2d_mutex_unlock(l)

#define init_rwsem(l, name, rank) m2d_rwsem_init((l), (name), (rank))
#define down_read(l) m2d_down_read(l)
#define up_read(l) m2d_up_read(l)
#define down_write(l) m2d_down_write(l)
#define up_write(l) m2d_up_write(l)
#define downgrade_write(l) m2d_downgrade_write(l)

#define lockdep_assert_held(l) m2d_lockdep_assert_held(&(l)->c)
#define lockdep_assert_held_read(l) m2d_lockdep_assert_held_read(&(l)->c)
#define lockdep_assert_held_write(l) m2d_lockdep_assert_held_write(&(l)->c)

#define rcu_read_lock() m2d_rcu_read_lock()
#define rcu_read_unlock() m2d_rcu_read_unlock()
#define call_rcu(h, f) m2d_call_rcu((h), (f))
#define synchronize_rcu() m2d_synchronize_rcu()
#define rcu_barrier() m2d_rcu_barrier()

#define init_completion(c, name) m2d_init_completion((c), (name))
#define wait_for_completion(c) m2d_wait_for_completion(c)
#define complete(c) m2d_complete(c)
#define complete_all(c) m2d_complete_all(c)

#define flush_tlb_all() m2d_flush_tlb_all()
#define flush_tlb_kernel_range(s, e) m2d_flush_tlb_kernel_range((s), (e))

#endif /* M2D_LIB_CORE_KERNEL_H */
