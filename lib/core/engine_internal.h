/* SPDX-License-Identifier: MIT */
/*
 * lib/core/engine_internal.h - the engine's private structures, shared by
 * sched.c, lock.c, rcu.c, ipi.c, profile.c, trace.c and sim.c.
 *
 * Nothing outside lib/core/ includes this header.
 */
#ifndef M2D_LIB_CORE_ENGINE_INTERNAL_H
#define M2D_LIB_CORE_ENGINE_INTERNAL_H

#include "core/coro.h"
#include "core/engine.h"

#include <mmu2d/sim.h>

/* Held locks per thread: deep enough for MECHANISMS.md 9's longest chain. */
#define M2D_MAX_HELD 32

enum thread_state {
	M2D_TS_RUNNABLE = 0, /* in the run heap, or running */
	M2D_TS_BLOCKED,      /* waiting on a lock, wait queue or RCU */
	M2D_TS_EXITED,
};

/* What a blocked thread waits for (lock queues use this). */
enum wait_mode {
	M2D_WAIT_EXCL = 0,   /* spinlock, mutex, write side */
	M2D_WAIT_SHARED = 1, /* read side */
};

struct held_lock {
	struct m2d_lock_common *lock;
	m2d_vtime_t since;   /* virtual time of acquisition, ns */
	bool shared;         /* read side */
};

/*
 * A simulated thread, or (with hot.thread == NULL) a pseudo-thread: the
 * sim's "outside" context used between m2d_engine_enter/leave and the RCU
 * callback context.  hot must stay first: m2d_cur points at it.
 */
struct m2d_thread {
	struct m2d_thread_hot hot;
	struct m2d_sim *sim;
	struct m2d_coro coro;
	char *name;
	int cpu;                    /* host CPU it is bound to */
	int id;                     /* creation order, tie-breaker of the scheduler */
	bool in_heap;               /* in sim->heap (runnable, not running) */
	enum thread_state state;
	bool in_guest;              /* vCPU in guest mode (IPIs cost a VM exit) */
	bool spinning;              /* blocked but on CPU (spinlock, spin wait) */
	bool lock_handoff;          /* sleeping-lock waiter passed over once: handoff owed to it */
	m2d_thread_fn fn;
	void *arg;
	double *cat_ns;             /* ns per extra category (sim->cats), grown on demand */
	unsigned nr_cat_ns;
	/* waiting */
	struct m2d_thread *wait_next;
	m2d_vtime_t wait_since;     /* virtual time the wait began, ns */
	enum wait_mode wait_mode;
	unsigned wait_cat;          /* category charged for the wait */
	const char *wait_what;      /* for deadlock reports */
	uint64_t irq_debt_ns;       /* interrupt time taken while blocked-spinning, ns */
	m2d_vtime_t irq_busy_until; /* ... and when the last of those handlers ends */
	/* locks held (lockdep and hold times); the stack itself is at the end */
	unsigned nr_held;
	unsigned nr_atomic;         /* spinlocks/rwlocks held (no sleeping) */
	/* RCU */
	unsigned rcu_nesting;
	m2d_vtime_t rcu_start;      /* clock at the outermost rcu_read_lock */
	uint64_t rcu_holdout_gp;    /* GP sequence this reader holds up, 0 = none */
	struct m2d_thread *next_all; /* sim->all list, creation order */
	struct m2d_thread *next_on_cpu;
	uint64_t breakdown[M2D_COST_NR]; /* ns per cost category */
	struct held_lock held[M2D_MAX_HELD];
};

/*
 * A run-heap entry carries its key, so heap operations and the sched-point
 * test never touch the (large, cold) thread structs.
 */
struct heap_ent {
	m2d_vtime_t clock;          /* == t->hot.clock while in the heap */
	int id;                     /* == t->id */
	struct m2d_thread *t;
};

/* A lock class: lock_stat counters and the breakdown category of waits. */
struct m2d_lock_class {
	struct m2d_sim *sim;
	char *name;
	unsigned rank;
	unsigned cat;               /* "wait:<name>" category index */
	struct m2d_lock_stats st;
	struct m2d_lock_class *next; /* sim->classes, creation order */
};

/* Category 0, created with the sim: plain work charged by m2d_thread_work(). */
#define M2D_CAT_WORK 0u
/* Category 1: waits whose own category could not be allocated (out of memory). */
#define M2D_CAT_OOM 1u

/* Extra breakdown categories (beyond cost ids): "work", "wait:<class>". */
struct category {
	char *name;
	const void *key;            /* the name pointer first seen (fast lookup) */
};

struct rcu_state {
	struct m2d_rcu_head *cur_head, **cur_tail;   /* waiting for the GP in progress */
	struct m2d_rcu_head *next_head, **next_tail; /* queued during the GP in progress */
	struct m2d_rcu_head *done_head, **done_tail; /* ready, at done_at */
	bool gp_active;
	uint64_t gp_seq;            /* sequence number of the current/last GP */
	m2d_vtime_t gp_start;       /* virtual time the current GP started */
	m2d_vtime_t gp_end;         /* latest end of a holdout reader so far */
	unsigned holdouts;          /* readers that started before gp_start, still inside */
	m2d_vtime_t ready_at;       /* callbacks in done run at this time; UINT64_MAX if none */
	struct m2d_thread cb_ctx;   /* pseudo-thread callbacks run in */
	bool running_cbs;
};

struct trace_event {
	m2d_vtime_t ts, dur;        /* ns */
	const char *name;           /* static string or category name */
	int tid;                    /* thread id, -1 outside */
	char ph;                    /* 'X' complete, 'B', 'E', 'i' */
};

struct m2d_sim {
	struct m2d_sim_config cfg;
	double cost_ns[M2D_COST_NR];   /* profile values, ns (or ns/KiB, flag) per unit */
	uint64_t cost_fp[M2D_COST_NR]; /* the same in 32.32 fixed point, for m2d_delay() */
	char *cost_src[M2D_COST_NR];   /* profile comment per parameter */
	char *profile_path;
	uint64_t counters[M2D_CTR_NR];
	struct m2d_thread outside;     /* pseudo-thread of plain callers */
	int enter_depth;               /* m2d_engine_enter nesting */
	bool enter_in_thread;          /* the outermost enter came from one of our threads */
	struct m2d_thread_hot *saved_cur;
	uint32_t gen;                  /* unique per sim created in this process */
	/* threads */
	struct m2d_thread *all, **all_tail;
	int nr_threads;
	struct m2d_thread **by_cpu;    /* per host CPU: threads bound to it */
	struct heap_ent *heap;         /* runnable threads, min (clock, id) first */
	unsigned heap_n, heap_cap;
	struct m2d_coro host;          /* m2d_sim_run's stack */
	struct m2d_thread *running;    /* current simulated thread, NULL on host */
	struct m2d_thread *zombie;     /* exited thread whose stack awaits unmapping */
	unsigned nr_blocked;
	bool in_run;
	/* topology */
	int *cpu_node;
	unsigned *node_socket;
	uint8_t *distance;             /* nodes x nodes, SLIT style */
	/* categories, lock classes */
	struct category *cats;
	unsigned nr_cats, cap_cats;
	struct m2d_lock_class *classes, **classes_tail;
	struct m2d_lock_class oom_class; /* used when a class cannot be allocated */
	struct m2d_sim_lock *sim_locks; /* public locks, freed with the sim */
	/* RCU */
	struct rcu_state rcu;
	/* PRNG (splitmix64) */
	uint64_t rng;
	m2d_vtime_t max_time;
	/* trace */
	struct trace_event *trace;
	size_t trace_n, trace_cap;
	bool trace_oom;                /* an allocation failed: events are missing */
	bool trace_truncated;          /* the event cap was reached */
};

/* The context m2d_cur points at (a thread or a pseudo-thread). */
static inline struct m2d_thread *cur_ctx(void)
{
	return (struct m2d_thread *)m2d_cur;
}

/* ---- sched.c ---- */
void m2d_sched_block(struct m2d_thread *t);
/*
 * lock.c: @t goes to sleep (not spinning), until virtual time @until if known
 * (0: until woken); the sleeping locks it owns see owner->on_cpu clear.
 */
void m2d_lock_owner_sleeps(struct m2d_thread *t, m2d_vtime_t until);
void m2d_sched_wake(struct m2d_thread *t, m2d_vtime_t at, unsigned cat);
void m2d_sched_reclock(struct m2d_thread *t);
void m2d_thread_charge_cat(struct m2d_thread *t, unsigned cat, double ns);
unsigned m2d_category_get(struct m2d_sim *sim, const char *prefix, const char *name);
void m2d_threads_free(struct m2d_sim *sim);
void m2d_ctx_init(struct m2d_sim *sim, struct m2d_thread *t);
void m2d_ctx_fini(struct m2d_thread *t);

/* ---- lock.c ---- */
void m2d_lock_classes_free(struct m2d_sim *sim);
double m2d_handoff_ns(struct m2d_sim *sim, int from_cpu, int to_cpu);
void m2d_lockdep_might_sleep(const char *what);

/* ---- rcu.c ---- */
void m2d_rcu_init(struct m2d_sim *sim);
void m2d_rcu_run_ready(struct m2d_sim *sim, m2d_vtime_t upto);
void m2d_rcu_flush_all(struct m2d_sim *sim);
void m2d_rcu_reader_exit(struct m2d_sim *sim, struct m2d_thread *t, m2d_vtime_t at);

/* ---- profile.c ---- */
int m2d_cost_set(struct m2d_sim *sim, int id, double value);
int m2d_profile_load(struct m2d_sim *sim, const char *profile);
void m2d_profile_free(struct m2d_sim *sim);
extern const char *const m2d_cost_names[M2D_COST_NR];
extern const char *const m2d_cost_units[M2D_COST_NR];
extern const char *const m2d_cost_meanings[M2D_COST_NR];

/* ---- trace.c ---- */
void m2d_trace_record(struct m2d_sim *sim, int tid, char ph, const char *name, m2d_vtime_t ts,
		      m2d_vtime_t dur);
void m2d_trace_free(struct m2d_sim *sim);

static inline int ctx_tid(const struct m2d_thread *t)
{
	return t->hot.thread ? t->id : -1;
}

#define M2D_TRACE_ON(sim) (unlikely((sim)->cfg.trace))

#endif /* M2D_LIB_CORE_ENGINE_INTERNAL_H */
