/* SPDX-License-Identifier: MIT */
/*
 * lib/core/engine.h - the virtual-time engine as model code sees it.
 *
 * Model code (lib/mm, lib/coco, lib/kvm, lib/guest) reads like the kernel:
 *
 *	read_lock(&vm->mmu_lock);
 *	m2d_delay(M2D_COST_PTE_WRITE, 1);
 *	m2d_count(M2D_CTR_spte_installs_4k, 1);
 *	read_unlock(&vm->mmu_lock);
 *
 * Everything here acts on the *current simulated thread* (m2d_current()) and
 * its simulation.  Outside a simulated thread (plain unit tests calling model
 * functions directly), the calls still work: time is charged to the
 * simulation's "outside" pseudo-thread of the sim set with m2d_engine_enter(),
 * locks never contend, call_rcu callbacks run at the next synchronize_rcu()/
 * rcu_barrier() or m2d_engine_leave(), and IPIs are counted only.
 *
 * Semantics (DESIGN.md 3): every simulated thread has a clock in ns.  The
 * scheduler resumes the runnable thread with the smallest clock (ties:
 * lowest id).  A thread yields only at synchronisation points: lock
 * acquire, IPI send, waits, m2d_sched_point().  m2d_delay() never yields.
 *
 * The kernel-named wrappers (spin_lock, read_lock, down_write, call_rcu, ...)
 * are in lib/core/kernel.h, which model code includes.
 */
#ifndef M2D_LIB_CORE_ENGINE_H
#define M2D_LIB_CORE_ENGINE_H

#include <mmu2d/types.h>

#include "core/compiler.h"

struct m2d_sim;
struct m2d_thread;

/* ---- cost parameters and counters ------------------------------------ */

enum m2d_cost {
#define COST(name, unit, meaning) M2D_COST_##name,
#include "core/costs.def"
#undef COST
	M2D_COST_NR
};

enum m2d_counter {
#define COUNTER(name, meaning) M2D_CTR_##name,
#include "core/counters.def"
#undef COUNTER
	M2D_CTR_NR
};

/*
 * Per-thread hot state.  The engine keeps one per simulated thread (and one
 * "outside" pseudo-thread per sim); m2d_cur points at the running one.
 * Fields are read by the inline fast paths below; only the engine writes
 * them otherwise.
 */
struct m2d_thread_hot {
	m2d_vtime_t clock;            /* this thread's virtual time, ns */
	const uint64_t *cost_fp;      /* the sim's profile per unit, fixed point (ns << 32), by id */
	const double *cost_ns;        /* the same in ns, as configured (m2d_cost()) */
	uint64_t *breakdown;          /* ns charged per cost id [M2D_COST_NR] */
	uint64_t *counters;           /* the sim's counters [M2D_CTR_NR] */
	uint64_t frac;                /* sub-ns remainder carried between delays, ns << 32 */
	struct m2d_thread *thread;    /* owner; NULL for the outside pseudo-thread */
	struct m2d_sim *sim;
};

/*
 * Costs are kept in 32.32 fixed point for m2d_delay(): one integer
 * multiply, no float conversions on the hot path.  Values must stay below
 * M2D_COST_MAX_NS per unit (the profile parser and m2d_sim_set_param check).
 */
#define M2D_COST_FP_SHIFT 32
#define M2D_COST_MAX_NS 2147483648.0 /* 2^31 ns, about 2.1 s */

/* initial-exec: one %fs-relative load instead of a __tls_get_addr call */
extern __thread struct m2d_thread_hot *m2d_cur __attribute__((tls_model("initial-exec")));

/*
 * m2d_delay() - charge @count units of cost @id to the current thread.
 * Advances the clock by profile[id] * count ns and attributes the time to
 * the category named after @id.  Never yields.
 */
static inline void m2d_delay(enum m2d_cost id, uint64_t count)
{
	struct m2d_thread_hot *t = m2d_cur;
	unsigned __int128 x = (unsigned __int128)t->cost_fp[id] * count + t->frac;
	uint64_t whole = (uint64_t)(x >> M2D_COST_FP_SHIFT);

	t->frac = (uint64_t)x & ((1ull << M2D_COST_FP_SHIFT) - 1);
	t->clock += whole;
	t->breakdown[id] += whole;
}

/* Charge @ns nanoseconds to category @id (for derived costs, e.g. bytes/bandwidth). */
static inline void m2d_delay_ns(enum m2d_cost id, double ns)
{
	struct m2d_thread_hot *t = m2d_cur;
	uint64_t whole, f;

	if (!(ns > 0))
		return;
	whole = (uint64_t)ns;
	f = t->frac + (uint64_t)((ns - (double)whole) * (double)(1ull << M2D_COST_FP_SHIFT));
	whole += f >> M2D_COST_FP_SHIFT;
	t->frac = f & ((1ull << M2D_COST_FP_SHIFT) - 1);
	t->clock += whole;
	t->breakdown[id] += whole;
}

/* The profile value of @id for the current simulation (ns, ns/KiB or flag). */
static inline double m2d_cost(enum m2d_cost id)
{
	return m2d_cur->cost_ns[id];
}

/* Count @n events of counter @id in the current simulation. */
static inline void m2d_count(enum m2d_counter id, uint64_t n)
{
	m2d_cur->counters[id] += n;
}

/* The current thread's virtual time. */
static inline m2d_vtime_t m2d_now(void)
{
	return m2d_cur->clock;
}

struct m2d_sim *m2d_current_sim(void);
/* NULL when called outside a simulated thread. */
struct m2d_thread *m2d_current(void);

/* The host CPU the current thread is bound to (0 outside a thread). */
int m2d_current_cpu(void);

/*
 * m2d_engine_enter() / m2d_engine_leave() - let plain code (unit tests, setup
 * code in a replayer before m2d_sim_run()) call model functions: charges go
 * to the sim's outside pseudo-thread.  Nests; leave runs pending RCU
 * callbacks when the outermost level exits.
 */
void m2d_engine_enter(struct m2d_sim *sim);
void m2d_engine_leave(struct m2d_sim *sim);

/* ---- scheduling -------------------------------------------------------- */

typedef void (*m2d_thread_fn)(void *arg);

/*
 * m2d_thread_create() - a simulated thread bound to host CPU @cpu, starting
 * at virtual time @start running @fn(@arg).  It runs when m2d_sim_run() is
 * called (or, if created from a running thread, when scheduled).
 * Return: the thread (owned by the sim, freed at m2d_sim_destroy), or NULL
 * with -ENOMEM/-EINVAL stored in *@err if @err is not NULL.
 */
struct m2d_thread *m2d_thread_create(struct m2d_sim *sim, int cpu, const char *name,
				     m2d_thread_fn fn, void *arg, m2d_vtime_t start,
				     int *err);

/*
 * m2d_sched_point() - a synchronisation point: if another runnable thread
 * is behind the current one in virtual time, switch to it.
 */
void m2d_sched_point(void);

/* cond_resched(): a sched point (the kernel's voluntary preemption point). */
static inline void cond_resched(void)
{
	m2d_sched_point();
}

/*
 * need_resched() analogue: another runnable thread bound to the same host CPU
 * is behind this one in virtual time.  Threads on other CPUs never make it
 * true (they run in parallel; sched points interleave them).
 */
bool m2d_need_resched(void);

/* Thread attributes used by IPIs and traces. */
void m2d_thread_set_guest_mode(bool in_guest); /* vCPU entered/left guest mode */
bool m2d_thread_in_guest_mode(const struct m2d_thread *t);
const char *m2d_thread_name(const struct m2d_thread *t);
int m2d_thread_cpu(const struct m2d_thread *t);
int m2d_thread_id(const struct m2d_thread *t);

/* Deterministic PRNG of the current simulation (seeded by --seed). */
uint64_t m2d_rand(void);
/* Uniform in [0, n). */
uint64_t m2d_rand_below(uint64_t n);

/* ---- locks -------------------------------------------------------------- */

/*
 * Each lock belongs to a class (its name, e.g. "mmu_lock"); lock_stat-style
 * counters are kept per class in virtual time.  Lock ranks (debug builds)
 * come from the class's rank: a thread may only take a lock whose rank is
 * greater than every lock it holds, unless the rank is 0 (unranked).
 */
struct m2d_lock_class;

/* Ranks in acquisition order (MECHANISMS.md 9). 0 = unranked. */
enum m2d_lock_rank {
	M2D_RANK_NONE = 0,
	M2D_RANK_SLOTS_LOCK = 10,      /* kvm->slots_lock (mutex) */
	M2D_RANK_INVALIDATE_LOCK = 20, /* gmem filemap invalidate_lock (rwsem) */
	M2D_RANK_MMAP_LOCK = 30,       /* mm->mmap_lock (rwsem) */
	M2D_RANK_I_MMAP = 35,          /* i_mmap_rwsem, hugetlb vma lock */
	M2D_RANK_PTL = 40,             /* host page-table locks */
	M2D_RANK_MN_INVALIDATE = 50,   /* kvm->mn_invalidate_lock (spin) */
	M2D_RANK_MMU_LOCK = 60,        /* kvm->mmu_lock (rwlock) */
	M2D_RANK_TDP_PAGES = 70,       /* tdp_mmu_pages_lock (spin) */
	M2D_RANK_FOLIO = 75,           /* folio lock */
	M2D_RANK_CPA_LOCK = 80,        /* cpa_lock (spin) */
	M2D_RANK_PGD_LOCK = 85,        /* pgd_lock (spin) */
	M2D_RANK_ZONE = 90,            /* zone->lock */
	M2D_RANK_UNACCEPTED = 95,      /* unaccepted_memory_lock */
	M2D_RANK_LEAF = 1000,          /* may not be held while taking another */
};

/*
 * Engine state common to every lock.  The virtual-time rule (docs/
 * virtual-time.md): a request at time t is granted at max(t, the relevant
 * last release) or queued FIFO while the lock is held in a conflicting mode.
 */
struct m2d_lock_common {
	struct m2d_lock_class *cls;   /* statistics and rank; bound on first use */
	const char *name;             /* class name given at init */
	struct m2d_thread *wait_head; /* FIFO of waiting threads (engine-private) */
	struct m2d_thread *wait_tail;
	m2d_vtime_t released_at;      /* virtual time of the last exclusive release, ns */
	m2d_vtime_t read_released_at; /* latest virtual time a shared holder released, ns */
	m2d_vtime_t line_free_at;     /* the lock word's cache line is busy until then, ns */
	int32_t last_cpu;             /* host CPU that last wrote the lock word (-1: none) */
	uint16_t rank;                /* enum m2d_lock_rank */
	uint8_t kind;                 /* engine-private lock kind */
	uint8_t spin_on_owner;        /* exclusive waiters spin while the owner runs (OSQ) */
	uint32_t sim_gen;             /* generation of the sim @cls belongs to */
	uint8_t owner_slept;          /* the current/last exclusive owner slept holding it */
	m2d_vtime_t owner_asleep_until; /* ... and was asleep until then (fast-forwarded sleeps) */
};

struct m2d_spinlock {
	struct m2d_lock_common c;
	struct m2d_thread *owner;
};

struct m2d_rwlock {
	struct m2d_lock_common c;
	struct m2d_thread *writer;
	unsigned readers;
};

struct m2d_mutex {
	struct m2d_lock_common c;
	struct m2d_thread *owner;
};

struct m2d_rwsem {
	struct m2d_lock_common c;
	struct m2d_thread *writer;
	unsigned readers;
};

/*
 * A cache line that CPUs modify with atomic read-modify-writes: a lock word,
 * a VM-wide statistics counter, a page refcount.  RMWs on one line are
 * serialised: each waits until the line is free and, if another CPU wrote it
 * last, pays a transfer (LOCK_HANDOFF + LOCK_HANDOFF_HOP x NUMA distance);
 * a local RMW costs LOCK_ACQUIRE.  Every RMW is a synchronisation point, so
 * RMWs reach a line in virtual-time order and the queue is exact.
 * Lock words use the same rule (lib/core/lock.c).
 */
struct m2d_cacheline {
	m2d_vtime_t free_at;          /* busy until, ns */
	int32_t cpu;                  /* host CPU that wrote it last; -1 = none */
	unsigned cat;                 /* breakdown category for waiting (0 = "cacheline") */
};
void m2d_cacheline_init(struct m2d_cacheline *line);
/* One atomic RMW on @line by the current thread (see above). */
void m2d_cacheline_rmw(struct m2d_cacheline *line);

/*
 * A hardware path that serves one request at a time, system-wide: the
 * interconnect's DVM path that carries broadcast TLB maintenance (arm64
 * TLBI ...IS completes only when every PE has acknowledged it, and an
 * interconnect handles one such sync at a time).  A request waits until
 * the path is free (charged to "wait:<name>"), then occupies it for its
 * cost.  Every use is a synchronisation point, so uses are served in
 * virtual-time order.
 */
struct m2d_serial {
	m2d_vtime_t free_at;          /* busy until, ns */
	const char *name;             /* wait category suffix */
	unsigned cat;
	uint64_t sim_gen;             /* reset when reused by another sim */
};
void m2d_serial_init(struct m2d_serial *s, const char *name);
/* Occupy @s for @count units of cost @id (charged to @id) after waiting for it. */
void m2d_serial_delay(struct m2d_serial *s, enum m2d_cost id, uint64_t count);
/*
 * Work that the CPU does itself (@local_n units of @local) while it keeps
 * @s busy for @occ_n units of @occ (a transfer the path serves in FIFO
 * order): the thread finishes at the later of its own work and the end of
 * its turn on @s.  Time beyond its own work goes to "wait:<name>".
 */
void m2d_serial_overlap(struct m2d_serial *s, enum m2d_cost local, uint64_t local_n,
			enum m2d_cost occ, uint64_t occ_n);

/* Initialise a lock of class @name (classes are per sim, created on first use). */
void m2d_spin_lock_init(struct m2d_spinlock *l, const char *name, enum m2d_lock_rank rank);
void m2d_rwlock_init(struct m2d_rwlock *l, const char *name, enum m2d_lock_rank rank);
void m2d_mutex_init(struct m2d_mutex *l, const char *name, enum m2d_lock_rank rank);
void m2d_sleep_lock_init(struct m2d_mutex *l, const char *name, enum m2d_lock_rank rank);
void m2d_rwsem_init(struct m2d_rwsem *l, const char *name, enum m2d_lock_rank rank);
/* Release engine state; the lock must be free. NULL-safe. */
void m2d_lock_fini(struct m2d_lock_common *c);

void m2d_spin_lock(struct m2d_spinlock *l);
void m2d_spin_unlock(struct m2d_spinlock *l);
bool m2d_spin_trylock(struct m2d_spinlock *l) M2D_MUST_CHECK;
bool m2d_spin_is_contended(struct m2d_spinlock *l);

void m2d_read_lock(struct m2d_rwlock *l);
void m2d_read_unlock(struct m2d_rwlock *l);
void m2d_write_lock(struct m2d_rwlock *l);
void m2d_write_unlock(struct m2d_rwlock *l);
/* Another thread is waiting for @l (rwlock_needbreak). */
bool m2d_rwlock_is_contended(struct m2d_rwlock *l);
/*
 * cond_resched_rwlock_{read,write}: a sched point; if the lock is contended
 * or a reschedule is due, drop and re-take it.  Return: true if dropped.
 */
bool m2d_cond_resched_rwlock_read(struct m2d_rwlock *l);
bool m2d_cond_resched_rwlock_write(struct m2d_rwlock *l);

void m2d_mutex_lock(struct m2d_mutex *l);
void m2d_mutex_unlock(struct m2d_mutex *l);

void m2d_down_read(struct m2d_rwsem *l);
void m2d_up_read(struct m2d_rwsem *l);
void m2d_down_write(struct m2d_rwsem *l);
void m2d_up_write(struct m2d_rwsem *l);
void m2d_downgrade_write(struct m2d_rwsem *l);

/* Held-lock assertions (debug builds check; they return true for use in ifs). */
bool m2d_lockdep_assert_held(const struct m2d_lock_common *c);
bool m2d_lockdep_assert_held_read(const struct m2d_lock_common *c);
bool m2d_lockdep_assert_held_write(const struct m2d_lock_common *c);

/* Sequence counter (seqcount_t). Readers retry in virtual time. */
struct m2d_seqcount {
	unsigned seq;
};
static inline void m2d_seqcount_init(struct m2d_seqcount *s) { s->seq = 0; }
static inline unsigned m2d_read_seqcount_begin(const struct m2d_seqcount *s) { return READ_ONCE(s->seq) & ~1u; }
static inline bool m2d_read_seqcount_retry(const struct m2d_seqcount *s, unsigned start) { return READ_ONCE(s->seq) != start; }
static inline void m2d_write_seqcount_begin(struct m2d_seqcount *s) { WRITE_ONCE(s->seq, s->seq + 1); }
static inline void m2d_write_seqcount_end(struct m2d_seqcount *s) { WRITE_ONCE(s->seq, s->seq + 1); }

/* ---- waiting ------------------------------------------------------------- */

/*
 * A wait queue: threads sleep on it until woken.  m2d_wait_event() is the
 * kernel's wait_event(): a sched point (so @cond is first tested when no
 * runnable thread is behind in virtual time), then it re-tests @cond (a C
 * expression) after every wake-up.  Waking charges SLEEP_WAKEUP to the woken thread; the woken
 * thread's clock becomes max(its clock, the waker's clock) + latency.
 * @spin: true = the waiter busy-waits (charged as spinning, no wake-up latency),
 * which fast-forwards kernel retry loops (e.g. a vCPU re-faulting while an
 * invalidation is in progress) without simulating every iteration.
 */
struct m2d_waitqueue {
	void *state;                  /* engine-private */
	const char *name;             /* breakdown category "wait:<name>" */
};
void m2d_waitqueue_init(struct m2d_waitqueue *wq, const char *name);
void m2d_waitqueue_fini(struct m2d_waitqueue *wq);
/* Block the current thread until woken (no condition re-check). */
void m2d_wait(struct m2d_waitqueue *wq, bool spin);
/* Wake every waiter. Return: number woken. */
unsigned m2d_wake_up_all(struct m2d_waitqueue *wq);
#define m2d_wait_event(wq, cond, spin)                                         \
	do {                                                                   \
		m2d_sched_point();                                             \
		while (!(cond))                                                \
			m2d_wait((wq), (spin));                                \
	} while (0)

/* completion (wait_for_completion / complete / complete_all). */
struct m2d_completion {
	unsigned done;
	m2d_vtime_t done_at;          /* latest virtual time complete() was called */
	struct m2d_waitqueue wq;
};
void m2d_init_completion(struct m2d_completion *c, const char *name);
void m2d_wait_for_completion(struct m2d_completion *c);
void m2d_complete(struct m2d_completion *c);
void m2d_complete_all(struct m2d_completion *c);

/* Barrier for @n threads (the selftests' pthread_barrier rendezvous). */
struct m2d_barrier {
	unsigned n, arrived, generation;
	struct m2d_waitqueue wq;
};
void m2d_barrier_init(struct m2d_barrier *b, unsigned n, const char *name);
/* Return: true for exactly one thread per generation (the last to arrive). */
bool m2d_barrier_wait(struct m2d_barrier *b);

/* ---- RCU ------------------------------------------------------------------ */

struct m2d_rcu_head {
	struct m2d_rcu_head *next;
	void (*func)(struct m2d_rcu_head *head);
	m2d_vtime_t queued_at;        /* virtual time of call_rcu() */
	m2d_vtime_t ready_at;         /* engine: when its grace period ended */
};

void m2d_rcu_read_lock(void);
void m2d_rcu_read_unlock(void);
/* Run @func(@head) after every reader that began before this call has finished
 * and a grace period (RCU_GP) has passed. */
void m2d_call_rcu(struct m2d_rcu_head *head, void (*func)(struct m2d_rcu_head *));
void m2d_synchronize_rcu(void);
/* Wait until every callback queued so far has run. */
void m2d_rcu_barrier(void);

/* ---- IPIs and TLB shootdowns --------------------------------------------- */

/* Host CPU sets for IPIs (up to M2D_MAX_CPUS host CPUs). */
#define M2D_MAX_CPUS 1024
struct m2d_cpumask {
	uint64_t bits[M2D_MAX_CPUS / 64];
};

/*
 * m2d_ipi_send_mask() - synchronous IPI to every CPU in @mask (excluding the
 * sender): the sender pays IPI_SEND per target and waits IPI_ACK_WAIT; each
 * target's current thread is charged IPI_RECEIVE, plus VM_EXIT if it is a
 * vCPU in guest mode.  See docs/virtual-time.md for targets whose clocks are
 * ahead of the sender.
 */
void m2d_ipi_send_mask(const struct m2d_cpumask *mask, enum m2d_cost handler_cost);
/* flush_tlb_all(): IPI to all online CPUs + local full flush. */
void m2d_flush_tlb_all(void);
/* flush_tlb_kernel_range(): IPI all CPUs; per-page or full flush by size. */
void m2d_flush_tlb_kernel_range(uint64_t start, uint64_t end);

/* Number of host CPUs and NUMA node of a CPU. */
int m2d_nr_cpus(void);
int m2d_cpu_node(int cpu);
/* NUMA distance in the SLIT sense (10 = local). */
int m2d_node_distance(int a, int b);

/* ---- tracing ---------------------------------------------------------- */

/* Mark a named span on the current thread's timeline (no-op unless tracing). */
void m2d_trace_begin(const char *name);
void m2d_trace_end(const char *name);
void m2d_trace_instant(const char *name);

#endif /* M2D_LIB_CORE_ENGINE_H */
