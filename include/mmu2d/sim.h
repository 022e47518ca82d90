/* SPDX-License-Identifier: MIT */
/*
 * mmu2d/sim.h - a simulation: host topology, cost profile, engine, stats.
 *
 *	struct m2d_sim_config cfg;
 *	struct m2d_sim *sim;
 *	m2d_sim_config_default(&cfg);
 *	cfg.cpus = 64;
 *	if (m2d_sim_create(&sim, &cfg)) ...
 *	m2d_sim_spawn(sim, 0, "worker", fn, arg);
 *	m2d_sim_run(sim);
 *	m2d_sim_emit_json(sim, stdout);
 *	m2d_sim_destroy(&sim);
 *
 * Nothing is global: everything hangs off the sim.
 */
#ifndef M2D_SIM_H
#define M2D_SIM_H

#include <stdio.h>

#include <mmu2d/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct m2d_sim;

struct m2d_sim_config {
	unsigned nodes;        /* NUMA nodes; default 1 */
	unsigned sockets;      /* sockets (nodes are spread evenly); default 1 */
	unsigned cpus;         /* host CPUs, spread evenly over nodes; default 64 */
	uint64_t seed;         /* PRNG seed; default 1 */
	const char *profile;   /* profile name or path; NULL = all costs zero */
	size_t stack_size;     /* bytes per simulated thread stack (mmap'd, guard page
	                        * below, touched pages only); default 256 KiB */
	bool trace;            /* record a timeline for m2d_sim_write_trace(); default false */
	uint8_t reserved[32];
};

M2D_API void m2d_sim_config_default(struct m2d_sim_config *cfg);

/*
 * m2d_sim_create() - create a simulation.
 * Return: 0, -ENOMEM, -EINVAL (bad topology), M2D_E_PROFILE (profile parse
 * error; message on stderr with file:line), -ENOENT (profile not found).
 * On success *@out owns the sim; free with m2d_sim_destroy().
 */
M2D_API int m2d_sim_create(struct m2d_sim **out, const struct m2d_sim_config *cfg);
/* Free everything; sets *@sim to NULL. NULL-safe. */
M2D_API void m2d_sim_destroy(struct m2d_sim **sim);

/* Override one cost parameter (the CLI's --set NAME=VALUE).
 * Return: 0, M2D_E_PARAM (unknown name), -EINVAL (negative / not finite). */
M2D_API int m2d_sim_set_param(struct m2d_sim *sim, const char *name, double value);
M2D_API int m2d_sim_get_param(const struct m2d_sim *sim, const char *name, double *out);

typedef void (*m2d_sim_thread_fn)(void *arg);
/* Spawn a simulated thread bound to host CPU @cpu. Return: 0, -EINVAL, -ENOMEM. */
M2D_API int m2d_sim_spawn(struct m2d_sim *sim, int cpu, const char *name,
			  m2d_sim_thread_fn fn, void *arg);
/* Run until every thread has exited. Return: 0 or M2D_E_DEADLOCK. */
M2D_API int m2d_sim_run(struct m2d_sim *sim);

/* Largest thread clock reached so far, ns. */
M2D_API m2d_vtime_t m2d_sim_time(const struct m2d_sim *sim);
/* Value of a counter by JSON name; 0 if unknown. */
M2D_API uint64_t m2d_sim_counter(const struct m2d_sim *sim, const char *name);

/* From inside a simulated thread: its clock, and charge @ns of plain work. */
M2D_API m2d_vtime_t m2d_thread_now(void);
M2D_API void m2d_thread_work(double ns);
/* From inside a simulated thread: a synchronisation point (switches to any
 * runnable thread that is behind in virtual time). */
M2D_API void m2d_sim_sched_point(void);

/* ---- locks for research code and micro-replayers ------------------------ */

enum m2d_sim_lock_kind {
	M2D_SIM_LOCK_SPIN = 0,   /* queued spinlock: FIFO, waiters spin */
	M2D_SIM_LOCK_RWLOCK = 1, /* qrwlock: readers share, a waiting writer blocks new readers */
	M2D_SIM_LOCK_MUTEX = 2,  /* waiters spin on a running owner, else sleep */
	M2D_SIM_LOCK_RWSEM = 3,  /* rw_semaphore: writers spin on a running writer, readers
	                            sleep (all queued readers woken together), writer handoff */
	M2D_SIM_LOCK_KIND_NR
};

struct m2d_sim_lock;

/* Create a lock of class @name (owned by the sim). Return: 0, -EINVAL, -ENOMEM. */
M2D_API int m2d_sim_lock_create(struct m2d_sim *sim, enum m2d_sim_lock_kind kind,
				const char *name, struct m2d_sim_lock **out);
/* From a simulated thread. @write selects the exclusive mode (ignored for spin/mutex). */
M2D_API void m2d_sim_lock_acquire(struct m2d_sim_lock *l, bool write);
M2D_API void m2d_sim_lock_release(struct m2d_sim_lock *l, bool write);

/* lock_stat-style counters of one lock class, in virtual time. */
struct m2d_lock_stats {
	uint64_t acquisitions;  /* successful acquisitions */
	uint64_t contended;     /* acquisitions that had to wait */
	uint64_t wait_ns;       /* total virtual time spent waiting */
	uint64_t wait_max_ns;   /* longest single wait */
	uint64_t hold_ns;       /* total virtual time held */
	uint64_t hold_max_ns;   /* longest single hold */
};
/* Return: 0, or -ENOENT if no lock of class @name exists. */
M2D_API int m2d_sim_lock_stats(const struct m2d_sim *sim, const char *name,
			       struct m2d_lock_stats *out);

/* ---- cost parameters (mmu2d profile show) --------------------------------- */

struct m2d_param_info {
	const char *name;    /* profile key (lower case), e.g. "lock_handoff" */
	const char *unit;    /* "ns", "ns/KiB", "ns/hop" or "flag" */
	const char *meaning; /* one line from lib/core/costs.def */
	const char *source;  /* the profile line's comment (REFERENCE.md id or "fitted"),
			      * "set" after m2d_sim_set_param(), NULL without a profile */
	double value;        /* current value in @unit */
};
/* Number of cost parameters (every profile defines all of them). */
M2D_API unsigned m2d_sim_param_count(void);
/* Describe parameter @idx (0 .. count-1). Return: 0, -EINVAL. */
M2D_API int m2d_sim_param_info(const struct m2d_sim *sim, unsigned idx,
			       struct m2d_param_info *out);
/* Path of the loaded profile file, or NULL (all costs zero). */
M2D_API const char *m2d_sim_profile_path(const struct m2d_sim *sim);

/*
 * m2d_profile_parse_fn - called by m2d_profile_parse() for each parameter
 * line, in file order: @name in lower case, @value in its unit, @source
 * the line's comment, @line its number.  Return 0, or nonzero to stop.
 */
typedef int (*m2d_profile_parse_fn)(void *arg, const char *name, double value,
				    const char *source, unsigned line);
/*
 * m2d_profile_parse() - check the profile FILE @path with the rules
 * m2d_sim_create() loads it by (known names, each once, finite values,
 * a source comment, every parameter set) and call @fn (may be NULL) for
 * each parameter.  The first problem goes to @err as one line without a
 * newline, "FILE:LINE: message" (or "FILE: message" for a missing one).
 * Return: 0, M2D_E_PROFILE, -errno (cannot open @path), -ENOMEM, or the
 * nonzero value @fn returned.
 */
M2D_API int m2d_profile_parse(const char *path, m2d_profile_parse_fn fn, void *arg,
			      char *err, size_t errlen);

/* ---- topology ------------------------------------------------------------- */

/* NUMA node of host CPU @cpu, and the SLIT distance between two nodes
 * (defaults: 10 local, 12 same socket, 21 other socket). Return -EINVAL if out of range. */
M2D_API int m2d_sim_cpu_node(const struct m2d_sim *sim, unsigned cpu);
M2D_API int m2d_sim_node_distance(const struct m2d_sim *sim, unsigned a, unsigned b);
/* Override one distance (symmetric; 10 <= @distance <= 255, a != b). Return: 0, -EINVAL. */
M2D_API int m2d_sim_set_node_distance(struct m2d_sim *sim, unsigned a, unsigned b,
				      unsigned distance);

/* ---- breakdown -------------------------------------------------------------- */

/* Number of simulated threads created so far (ids 0 .. n-1). */
M2D_API int m2d_sim_thread_count(const struct m2d_sim *sim);
/*
 * Virtual time charged to @category ("lock_handoff", "wait:mmu_lock", "work")
 * by thread @thread_id, or by everything (threads, outside code, RCU
 * callbacks) if @thread_id is -1.  Return: ns; 0 for unknown names.
 */
M2D_API double m2d_sim_breakdown_ns(const struct m2d_sim *sim, int thread_id,
				    const char *category);

/*
 * Write the timeline recorded with cfg.trace as Chrome trace-event JSON
 * (opens in Perfetto / chrome://tracing).
 * Return: 0, -EINVAL (tracing was off), -errno of the file, -ENOMEM (the
 * recording ran out of memory and is incomplete).
 */
M2D_API int m2d_sim_write_trace(const struct m2d_sim *sim, const char *path);

/*
 * Write the "breakdown", "locks" and "counters" members (without the outer
 * braces, comma-separated, two-space indented at level 1) as JSON.
 * Deterministic: same inputs, same bytes.
 */
M2D_API int m2d_sim_emit_json(const struct m2d_sim *sim, FILE *f);
/*
 * Write a "threads" member the same way: one object per simulated thread
 * (id, name, cpu, time_s, breakdown in seconds per category).
 * Deterministic. Return: 0, -ENOMEM, -EIO.
 */
M2D_API int m2d_sim_emit_json_threads(const struct m2d_sim *sim, FILE *f);

#ifdef __cplusplus
}
#endif
#endif /* M2D_SIM_H */
