// SPDX-License-Identifier: MIT
/*
 * tests/test_engine.c - the virtual-time engine: scheduling order, lock
 * queueing against closed forms, rwlock sharing and writer fairness,
 * sleeping locks, waits, RCU, IPIs, determinism, outside mode, JSON.
 *
 * Every test builds its own sim with a NULL profile (all costs 0) and sets
 * exactly the costs it reasons about, so expected times are exact.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/engine_internal.h"
#include "core/kernel.h"

#include <mmu2d/error.h>
#include <mmu2d/sim.h>

#include "core/engine.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct m2d_sim *new_sim(unsigned cpus, unsigned nodes, unsigned sockets)
{
	struct m2d_sim_config cfg;
	struct m2d_sim *sim = NULL;

	m2d_sim_config_default(&cfg);
	cfg.cpus = cpus;
	cfg.nodes = nodes;
	cfg.sockets = sockets;
	cfg.trace = true;
	assert_int_equal(m2d_sim_create(&sim, &cfg), 0);
	return sim;
}

static void set(struct m2d_sim *sim, const char *name, double v)
{
	assert_int_equal(m2d_sim_set_param(sim, name, v), 0);
}

/* ---- scheduling order ----------------------------------------------------- */

struct order_log {
	int who[64];
	m2d_vtime_t when[64];
	int n;
};

struct order_arg {
	struct order_log *log;
	int id;
	m2d_vtime_t step;
	int steps;
};

static void order_fn(void *p)
{
	struct order_arg *a = p;

	for (int i = 0; i < a->steps; i++) {
		m2d_sched_point();
		a->log->who[a->log->n] = a->id;
		a->log->when[a->log->n++] = m2d_now();
		m2d_thread_work((double)a->step);
	}
}

/* The runnable thread with the smallest clock runs; ties go to the lowest id. */
static void test_engine_sched_min_clock_order(void **state)
{
	struct m2d_sim *sim = new_sim(4, 1, 1);
	struct order_log log = { 0 };
	struct order_arg a[3] = { { &log, 0, 300, 3 }, { &log, 1, 200, 3 }, { &log, 2, 300, 3 } };

	for (int i = 0; i < 3; i++)
		assert_int_equal(m2d_sim_spawn(sim, i, "t", order_fn, &a[i]), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	assert_int_equal(log.n, 9);
	/* events sorted by (time, id): 0@0 1@0 2@0 1@200 0@300 2@300 1@400 0@600 2@600 */
	static const int who[] = { 0, 1, 2, 1, 0, 2, 1, 0, 2 };
	static const m2d_vtime_t when[] = { 0, 0, 0, 200, 300, 300, 400, 600, 600 };
	for (int i = 0; i < 9; i++) {
		assert_int_equal(log.who[i], who[i]);
		assert_int_equal(log.when[i], when[i]);
	}
	assert_int_equal(m2d_sim_time(sim), 900);
	assert_true(m2d_sim_counter(sim, "context_switches") > 0);
	m2d_sim_destroy(&sim);
	assert_null(sim);
}

/* ---- spinlock queueing ------------------------------------------------------ */

struct loop_arg {
	struct m2d_sim_lock *lock;
	bool write;
	int iters;
	double hold, think;
	m2d_vtime_t first_grant, last_release;
};

static void lock_loop_fn(void *p)
{
	struct loop_arg *a = p;

	for (int i = 0; i < a->iters; i++) {
		m2d_sim_lock_acquire(a->lock, a->write);
		if (i == 0)
			a->first_grant = m2d_thread_now();
		m2d_thread_work(a->hold);
		m2d_sim_lock_release(a->lock, a->write);
		a->last_release = m2d_thread_now();
		m2d_thread_work(a->think);
	}
}

/*
 * N threads loop {lock; hold H; unlock; think T}; with N*H >> H+T the lock
 * is never idle, so one acquisition completes every H + the queued handoff
 * (LOCK_HANDOFF_QUEUED: exclusive owner to queued exclusive waiter).
 */
static void test_engine_spinlock_saturated_throughput(void **state)
{
	const int n = 16, iters = 200;
	const double hold = 1000, think = 200, handoff = 80;
	struct m2d_sim *sim = new_sim(16, 1, 1);
	struct m2d_sim_lock *lock;
	struct loop_arg a[16];
	struct m2d_lock_stats st;
	m2d_vtime_t start = UINT64_MAX, end = 0;
	double throughput, expect = 1.0 / (hold + handoff);

	set(sim, "lock_handoff", 30);
	set(sim, "lock_handoff_queued", handoff);
	assert_int_equal(m2d_sim_lock_create(sim, M2D_SIM_LOCK_SPIN, "storm", &lock), 0);
	for (int i = 0; i < n; i++) {
		a[i] = (struct loop_arg){ lock, true, iters, hold, think, 0, 0 };
		assert_int_equal(m2d_sim_spawn(sim, i, "worker", lock_loop_fn, &a[i]), 0);
	}
	assert_int_equal(m2d_sim_run(sim), 0);
	for (int i = 0; i < n; i++) {
		start = M2D_MIN(start, a[i].first_grant);
		end = M2D_MAX(end, a[i].last_release);
	}
	throughput = (double)(n * iters) / (double)(end - start);
	print_message("spinlock: %.6g acq/ns, closed form %.6g\n", throughput, expect);
	assert_true(fabs(throughput - expect) / expect < 0.01);
	assert_int_equal(m2d_sim_lock_stats(sim, "storm", &st), 0);
	assert_int_equal(st.acquisitions, n * iters);
	assert_true(st.contended >= (uint64_t)(n * iters - n));
	assert_int_equal(st.hold_ns, (uint64_t)(n * iters * hold));
	assert_int_equal(st.hold_max_ns, (uint64_t)hold);
	/* every waited ns is in the breakdown under wait:<class> */
	assert_true(fabs(m2d_sim_breakdown_ns(sim, -1, "wait:storm") - (double)st.wait_ns) < 1);
	m2d_sim_destroy(&sim);
}

/* With one thread nothing waits: time is exactly iters * (acquire + H + T). */
static void test_engine_spinlock_single_thread_no_wait(void **state)
{
	struct m2d_sim *sim = new_sim(4, 1, 1);
	struct m2d_sim_lock *lock;
	struct loop_arg a = { NULL, true, 100, 500, 300, 0, 0 };
	struct m2d_lock_stats st;

	set(sim, "lock_acquire", 10);
	set(sim, "lock_handoff", 1000);
	assert_int_equal(m2d_sim_lock_create(sim, M2D_SIM_LOCK_SPIN, "solo", &lock), 0);
	a.lock = lock;
	assert_int_equal(m2d_sim_spawn(sim, 0, "only", lock_loop_fn, &a), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	assert_int_equal(m2d_sim_time(sim), 100 * (10 + 500 + 300));
	assert_int_equal(m2d_sim_lock_stats(sim, "solo", &st), 0);
	assert_int_equal(st.acquisitions, 100);
	assert_int_equal(st.contended, 0);
	assert_int_equal(st.wait_ns, 0);
	assert_true(m2d_sim_breakdown_ns(sim, 0, "lock_acquire") == 1000.0);
	m2d_sim_destroy(&sim);
}

/* A release in the requester's virtual future is waited for (+ handoff). */
static struct m2d_spinlock future_lock;

static void future_holder(void *p)
{
	spin_lock(&future_lock);
	m2d_thread_work(5000); /* runs ahead without yielding */
	spin_unlock(&future_lock);
}

static void future_requester(void *p)
{
	m2d_vtime_t *granted = p;

	m2d_thread_work(1000);
	spin_lock(&future_lock);
	*granted = m2d_now();
	spin_unlock(&future_lock);
}

static void test_engine_spinlock_release_in_future(void **state)
{
	struct m2d_sim *sim = new_sim(2, 2, 2);
	m2d_vtime_t granted = 0;
	struct m2d_lock_stats st;

	set(sim, "lock_handoff", 20);
	set(sim, "lock_handoff_queued", 50);
	set(sim, "lock_handoff_hop", 10);
	spin_lock_init(&future_lock, "future", M2D_RANK_NONE);
	assert_int_equal(m2d_sim_spawn(sim, 0, "holder", future_holder, NULL), 0);
	assert_int_equal(m2d_sim_spawn(sim, 1, "requester", future_requester, &granted), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	/* CPUs 0 and 1 are on different sockets: distance 21, 11 hops; queued handoff */
	assert_int_equal(granted, 5000 + 50 + 11 * 10);
	assert_int_equal(m2d_sim_lock_stats(sim, "future", &st), 0);
	assert_int_equal(st.contended, 1);
	assert_int_equal(st.wait_ns, 4000 + 160);
	m2d_sim_destroy(&sim);
}

/* Waiters are granted in request order; a run of queued readers enters together. */
struct fifo_arg {
	struct m2d_rwlock *l;
	m2d_vtime_t start, got;
	bool write;
};

static void fifo_fn(void *p)
{
	struct fifo_arg *a = p;

	m2d_thread_work((double)a->start);
	if (a->write)
		write_lock(a->l);
	else
		read_lock(a->l);
	a->got = m2d_now();
	m2d_thread_work(100);
	if (a->write)
		write_unlock(a->l);
	else
		read_unlock(a->l);
}

static void test_engine_rwlock_fifo_reader_batches(void **state)
{
	struct m2d_sim *sim = new_sim(6, 1, 1);
	struct m2d_rwlock l;
	/* W0 holds [0,100); R1, R2 wait; W3 waits; R4 waits behind W3 */
	struct fifo_arg a[5] = { { &l, 0, 0, true }, { &l, 10, 0, false }, { &l, 20, 0, false },
				 { &l, 30, 0, true }, { &l, 40, 0, false } };

	set(sim, "lock_handoff", 5);
	rwlock_init(&l, "fifo", M2D_RANK_NONE);
	for (int i = 0; i < 5; i++)
		assert_int_equal(m2d_sim_spawn(sim, i, "f", fifo_fn, &a[i]), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	/*
	 * Readers wait for W0's release (100) + handoff; their acquiring RMWs
	 * take turns on the lock word's line (+5 each).  Their releasing RMWs
	 * end at 210 and 215; W3 gets the lock at 215 + 5, and R4, which
	 * arrived while W3 waited, only after W3's release at 320.
	 */
	assert_int_equal(a[0].got, 0);
	assert_int_equal(a[1].got, 105);
	assert_int_equal(a[2].got, 110);
	assert_int_equal(a[3].got, 220);
	assert_int_equal(a[4].got, 325);
	m2d_sim_destroy(&sim);
}

/* ---- rwlock ------------------------------------------------------------------ */

/* Readers with no writer run fully in parallel: nobody waits. */
static void test_engine_rwlock_readers_parallel(void **state)
{
	const int n = 8;
	struct m2d_sim *sim = new_sim(8, 1, 1);
	struct m2d_sim_lock *lock;
	struct loop_arg a[8];
	struct m2d_lock_stats st;

	assert_int_equal(m2d_sim_lock_create(sim, M2D_SIM_LOCK_RWLOCK, "mmu_lock", &lock), 0);
	for (int i = 0; i < n; i++) {
		a[i] = (struct loop_arg){ lock, false, 50, 1000, 10, 0, 0 };
		assert_int_equal(m2d_sim_spawn(sim, i, "reader", lock_loop_fn, &a[i]), 0);
	}
	assert_int_equal(m2d_sim_run(sim), 0);
	assert_int_equal(m2d_sim_time(sim), 50 * 1010);
	assert_int_equal(m2d_sim_lock_stats(sim, "mmu_lock", &st), 0);
	assert_int_equal(st.acquisitions, n * 50);
	assert_int_equal(st.contended, 0);
	m2d_sim_destroy(&sim);
}

/*
 * The lock word is a cache line: N readers on N CPUs looping
 * {read_lock; read_unlock} never wait for each other, but their two RMWs per
 * iteration take turns on the line, each paying a transfer from the CPU
 * that wrote it last.  With no hold or think time the line is never idle, so
 * the run takes 2 x N x K transfers (the very first RMW is local).
 */
static void test_engine_rwlock_reader_line_bounce(void **state)
{
	const int n = 8, k = 200;
	struct m2d_sim *sim = new_sim(8, 1, 1);
	struct m2d_sim_lock *lock;
	struct loop_arg a[8];
	struct m2d_lock_stats st;
	double expect = 2.0 * n * k * 100;

	set(sim, "lock_acquire", 10);
	set(sim, "lock_handoff", 100);
	assert_int_equal(m2d_sim_lock_create(sim, M2D_SIM_LOCK_RWLOCK, "mmu_lock", &lock), 0);
	for (int i = 0; i < n; i++) {
		a[i] = (struct loop_arg){ lock, false, k, 0, 0, 0, 0 };
		assert_int_equal(m2d_sim_spawn(sim, i, "reader", lock_loop_fn, &a[i]), 0);
	}
	assert_int_equal(m2d_sim_run(sim), 0);
	assert_true(fabs((double)m2d_sim_time(sim) - expect) <= 0.01 * expect);
	assert_int_equal(m2d_sim_lock_stats(sim, "mmu_lock", &st), 0);
	assert_int_equal(st.acquisitions, n * k);
	m2d_sim_destroy(&sim);
}

/* One reader alone keeps the line local: every RMW costs lock_acquire. */
static void test_engine_rwlock_single_reader_line_local(void **state)
{
	struct m2d_sim *sim = new_sim(2, 1, 1);
	struct m2d_sim_lock *lock;
	struct loop_arg a = { NULL, false, 100, 50, 0, 0, 0 };

	set(sim, "lock_acquire", 10);
	set(sim, "lock_handoff", 100);
	assert_int_equal(m2d_sim_lock_create(sim, M2D_SIM_LOCK_RWLOCK, "mmu_lock", &lock), 0);
	a.lock = lock;
	assert_int_equal(m2d_sim_spawn(sim, 1, "reader", lock_loop_fn, &a), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	assert_int_equal(m2d_sim_time(sim), 100 * (10 + 50 + 10));
	m2d_sim_destroy(&sim);
}

struct rmw_arg {
	struct m2d_cacheline *line;
	int iters;
};

static void rmw_loop_fn(void *p)
{
	struct rmw_arg *a = p;

	for (int i = 0; i < a->iters; i++)
		m2d_cacheline_rmw(a->line);
}

/*
 * m2d_cacheline_rmw across two NUMA nodes (SLIT distance set to 20): 2
 * threads on different nodes alternate on the line, so every RMW after the
 * first pays lock_handoff + 10 x lock_handoff_hop.
 */
static void test_engine_cacheline_rmw_remote(void **state)
{
	const int k = 100;
	struct m2d_sim *sim = new_sim(2, 2, 2);
	struct m2d_cacheline line;
	struct rmw_arg a = { &line, k }, b = { &line, k };

	set(sim, "lock_acquire", 10);
	set(sim, "lock_handoff", 100);
	set(sim, "lock_handoff_hop", 5);
	assert_int_equal(m2d_sim_set_node_distance(sim, 0, 1, 20), 0);
	m2d_cacheline_init(&line);
	assert_int_equal(m2d_sim_spawn(sim, 0, "a", rmw_loop_fn, &a), 0);
	assert_int_equal(m2d_sim_spawn(sim, 1, "b", rmw_loop_fn, &b), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	assert_int_equal(m2d_sim_time(sim), 10 + (2 * k - 1) * (100 + 10 * 5));
	m2d_sim_destroy(&sim);
}

struct serial_arg {
	struct m2d_serial *s;
	int iters;
	bool overlap;
};

static void serial_loop_fn(void *p)
{
	struct serial_arg *a = p;

	for (int i = 0; i < a->iters; i++) {
		if (a->overlap)
			m2d_serial_overlap(a->s, M2D_COST_KVM_S2_DCACHE_CMO, 1,
					   M2D_COST_KVM_S2_CMO_MEMBW, 1);
		else
			m2d_serial_delay(a->s, M2D_COST_KVM_S2_TLBI, 1);
		m2d_thread_work(100);
	}
}

/*
 * m2d_serial: N threads each use the path k times with 100 ns of own work
 * in between.  m2d_serial_delay holds it for its whole cost (200 ns): with
 * 4 threads the path is the bottleneck, 4 x k x 200 ns (+ the last 100 ns
 * of work).  m2d_serial_overlap: own work 300 ns while occupying the path
 * 50 ns: 2 threads never wait (k x 400 ns); 16 threads are paced by the
 * path (16 x k x 50 ns, + the tail of one thread's own work).
 */
static void test_engine_serial_path(void **state)
{
	const int k = 50;

	(void)state;
	for (int c = 0; c < 3; c++) {
		unsigned n = c == 0 ? 4 : c == 1 ? 2 : 16;
		struct m2d_sim *sim = new_sim(n, 1, 1);
		struct m2d_serial path;
		struct serial_arg a = { &path, k, c > 0 };

		set(sim, "kvm_s2_tlbi", 200);
		set(sim, "kvm_s2_dcache_cmo", 300);
		set(sim, "kvm_s2_cmo_membw", 50);
		m2d_serial_init(&path, "dvm");
		for (unsigned i = 0; i < n; i++)
			assert_int_equal(m2d_sim_spawn(sim, (int)i, "t", serial_loop_fn, &a), 0);
		assert_int_equal(m2d_sim_run(sim), 0);
		if (c == 0)
			assert_int_equal(m2d_sim_time(sim), 4 * k * 200 + 100);
		else if (c == 1)
			assert_int_equal(m2d_sim_time(sim), k * 400);
		else
			assert_true(m2d_sim_time(sim) >= 16 * k * 50 &&
				    m2d_sim_time(sim) <= 16 * k * 50 + 400);
		m2d_sim_destroy(&sim);
	}
}

/* A stream of overlapping readers does not starve a writer. */
struct starve_arg {
	struct m2d_rwlock *l;
	m2d_vtime_t start, got;
	int iters;
};

static void reader_stream(void *p)
{
	struct starve_arg *a = p;

	m2d_thread_work((double)a->start);
	for (int i = 0; i < a->iters; i++) {
		read_lock(a->l);
		m2d_thread_work(1000);
		read_unlock(a->l);
	}
}

static void starving_writer(void *p)
{
	struct starve_arg *a = p;

	m2d_thread_work((double)a->start);
	write_lock(a->l);
	a->got = m2d_now();
	m2d_thread_work(100);
	write_unlock(a->l);
}

static void test_engine_rwlock_writer_not_starved(void **state)
{
	struct m2d_sim *sim = new_sim(8, 1, 1);
	struct m2d_rwlock l;
	struct starve_arg r[4], w = { &l, 5100, 0, 0 };

	rwlock_init(&l, "mmu_lock", M2D_RANK_MMU_LOCK);
	/* readers staggered by 250 ns: at every instant some reader holds the lock */
	for (int i = 0; i < 4; i++) {
		r[i] = (struct starve_arg){ &l, (m2d_vtime_t)i * 250, 0, 100 };
		assert_int_equal(m2d_sim_spawn(sim, i, "reader", reader_stream, &r[i]), 0);
	}
	assert_int_equal(m2d_sim_spawn(sim, 4, "writer", starving_writer, &w), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	/* the writer waits only for the readers inside at 5100: the last leaves at 6000 */
	assert_int_equal(w.got, 6000);
	m2d_sim_destroy(&sim);
}

/* ---- sleeping locks ------------------------------------------------------------ */

static struct m2d_mutex slots_lock;
static struct m2d_completion owner_wakes;

static void mutex_fn(void *p)
{
	m2d_vtime_t *got = p;

	mutex_lock(&slots_lock);
	*got = m2d_now();
	m2d_thread_work(10000);
	mutex_unlock(&slots_lock);
}

/* The first owner sleeps inside (wait_for_completion), the others only work. */
static void mutex_sleeping_owner_fn(void *p)
{
	m2d_vtime_t *got = p;

	mutex_lock(&slots_lock);
	*got = m2d_now();
	if (!*got)
		wait_for_completion(&owner_wakes);
	m2d_thread_work(10000);
	mutex_unlock(&slots_lock);
}

static void owner_waker(void *p)
{
	m2d_thread_work(5000);
	complete(&owner_wakes);
}

/*
 * A mutex waiter spins on an owner that runs (mutex_optimistic_spin): a
 * handoff, no wake-up.  If the owner sleeps while holding it, the waiters
 * sleep too and pay the wake-up; a folio-style sleep lock always does.
 */
static void test_engine_mutex_wakeup_latency(void **state)
{
	for (int mode = 0; mode < 3; mode++) {
		struct m2d_sim *sim = new_sim(4, 1, 1);
		m2d_vtime_t got[3], slot = 10000 + 100;

		set(sim, "sleep_wakeup", 3000);
		set(sim, "lock_handoff", 100);
		set(sim, "lock_acquire", 0);
		if (mode == 2)
			m2d_sleep_lock_init(&slots_lock, "folio_lock", M2D_RANK_SLOTS_LOCK);
		else
			mutex_init(&slots_lock, "slots_lock", M2D_RANK_SLOTS_LOCK);
		init_completion(&owner_wakes, "owner_wakes");
		for (int i = 0; i < 3; i++)
			assert_int_equal(m2d_sim_spawn(sim, i, "m", mode == 1 ? mutex_sleeping_owner_fn :
									mutex_fn, &got[i]), 0);
		if (mode == 1)
			assert_int_equal(m2d_sim_spawn(sim, 3, "waker", owner_waker, NULL), 0);
		assert_int_equal(m2d_sim_run(sim), 0);
		assert_int_equal(got[0], 0);
		switch (mode) {
		case 0: /* both waiters spin */
			assert_int_equal(got[1], slot);
			assert_int_equal(got[2], 2 * slot);
			break;
		case 1: /* the first owner sleeps until 5000 (+ its own wake-up): the waiters sleep */
			assert_int_equal(got[1], 5000 + 3000 + 10000 + 100 + 3000);
			/* the last waiter went to sleep then too: woken by the second owner */
			assert_int_equal(got[2], got[1] + slot + 3000);
			break;
		case 2: /* folio_lock: waiters always sleep */
			assert_int_equal(got[1], slot + 3000);
			assert_int_equal(got[2], 2 * (slot + 3000));
			break;
		}
		assert_true(m2d_sim_breakdown_ns(sim, 2, mode == 2 ? "wait:folio_lock" :
								      "wait:slots_lock") == (double)got[2]);
		m2d_sim_destroy(&sim);
	}
}

/*
 * A spinner takes a mutex ahead of a sleeping head once: the owner slept
 * (its first waiter went to sleep), woke and ran on, and a later waiter
 * spins; at the release the spinner steals it, the passed-over head is
 * owed the handoff (MUTEX_FLAG_HANDOFF) and gets it next, woken.
 */
struct steal_arg {
	m2d_vtime_t start, got;
	bool sleeps;
};

static void mutex_steal_fn(void *p)
{
	struct steal_arg *a = p;

	m2d_thread_work((double)a->start);
	mutex_lock(&slots_lock);
	a->got = m2d_now();
	if (a->sleeps) {
		wait_for_completion(&owner_wakes);
		m2d_thread_work(10000);
		m2d_sched_point(); /* the late waiter queues before the release */
	} else {
		m2d_thread_work(1000);
	}
	mutex_unlock(&slots_lock);
}

static void test_engine_mutex_spinner_steals_once(void **state)
{
	struct m2d_sim *sim = new_sim(4, 1, 1);
	struct steal_arg a[3] = {
		{ .start = 0, .sleeps = true }, /* owner: sleeps until 5000 (+3000 wake-up) */
		{ .start = 100 },               /* W1: spins, then sleeps with the owner */
		{ .start = 9000 },              /* W2: arrives while the owner runs: spins */
	};

	set(sim, "sleep_wakeup", 3000);
	set(sim, "lock_handoff", 100);
	set(sim, "lock_acquire", 0);
	mutex_init(&slots_lock, "slots_lock", M2D_RANK_SLOTS_LOCK);
	init_completion(&owner_wakes, "owner_wakes");
	for (int i = 0; i < 3; i++)
		assert_int_equal(m2d_sim_spawn(sim, i, "m", mutex_steal_fn, &a[i]), 0);
	assert_int_equal(m2d_sim_spawn(sim, 3, "waker", owner_waker, NULL), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	assert_int_equal(a[0].got, 0);
	/* the owner releases at 5000 + 3000 + 10000 */
	assert_int_equal(a[2].got, 18000 + 100);
	assert_int_equal(a[1].got, a[2].got + 1000 + 100 + 3000);
	m2d_sim_destroy(&sim);
}

/* rwsem: a writer queued behind readers gets the lock when the last reader leaves. */
static struct m2d_rwsem mmap_lock;

static void rwsem_reader(void *p)
{
	down_read(&mmap_lock);
	m2d_thread_work((double)(uintptr_t)p);
	up_read(&mmap_lock);
}

static void rwsem_writer(void *p)
{
	m2d_vtime_t *got = p;

	m2d_thread_work(10);
	down_write(&mmap_lock);
	*got = m2d_now();
	lockdep_assert_held_write(&mmap_lock);
	downgrade_write(&mmap_lock);
	lockdep_assert_held_read(&mmap_lock);
	up_read(&mmap_lock);
}

static void test_engine_rwsem_writer_after_readers(void **state)
{
	struct m2d_sim *sim = new_sim(4, 1, 1);
	m2d_vtime_t got = 0;

	set(sim, "sleep_wakeup", 500);
	init_rwsem(&mmap_lock, "mmap_lock", M2D_RANK_MMAP_LOCK);
	assert_int_equal(m2d_sim_spawn(sim, 0, "r1", rwsem_reader, (void *)(uintptr_t)4000), 0);
	assert_int_equal(m2d_sim_spawn(sim, 1, "r2", rwsem_reader, (void *)(uintptr_t)7000), 0);
	assert_int_equal(m2d_sim_spawn(sim, 2, "w", rwsem_writer, &got), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	assert_int_equal(got, 7000 + 500);
	m2d_sim_destroy(&sim);
}

/*
 * rwsem_mark_wake is phase-fair: with a reader at the head, every queued
 * reader enters, the writer between them keeps its place.  A writer
 * queued behind a writer that runs spins (no wake-up) and, while the
 * sleeping head has waited less than RWSEM_WAIT_TIMEOUT (4 ms), takes the
 * freed lock ahead of it; readers sleep.
 */
struct rw_order_arg {
	m2d_vtime_t start, hold, got;
	bool write;
};

static void rw_order_fn(void *p)
{
	struct rw_order_arg *a = p;

	m2d_thread_work((double)a->start);
	if (a->write)
		down_write(&mmap_lock);
	else
		down_read(&mmap_lock);
	a->got = m2d_now();
	m2d_thread_work((double)a->hold);
	m2d_sched_point(); /* the others queue (in execution order) before the release */
	if (a->write)
		up_write(&mmap_lock);
	else
		up_read(&mmap_lock);
}

static void test_engine_rwsem_phase_fair_readers(void **state)
{
	/* W1 holds 10 us (the head has waited < 4 ms: W2 steals) or 5 ms (handoff to the head) */
	for (int late = 0; late < 2; late++) {
		struct m2d_sim *sim = new_sim(4, 1, 1);
		m2d_vtime_t h1 = late ? 5000000 : 10000;
		struct rw_order_arg a[4] = {
			{ .start = 0, .hold = h1, .write = true },      /* W1 */
			{ .start = 100, .hold = 1000, .write = false }, /* R1 */
			{ .start = 200, .hold = 500, .write = true },   /* W2 */
			{ .start = 300, .hold = 2000, .write = false }, /* R2 */
		};

		set(sim, "sleep_wakeup", 3000);
		set(sim, "lock_handoff", 100);
		set(sim, "lock_acquire", 0);
		init_rwsem(&mmap_lock, "mmap_lock", M2D_RANK_MMAP_LOCK);
		for (int i = 0; i < 4; i++)
			assert_int_equal(m2d_sim_spawn(sim, i, "t", rw_order_fn, &a[i]), 0);
		assert_int_equal(m2d_sim_run(sim), 0);
		assert_int_equal(a[0].got, 0);
		if (!late) {
			/* W2 spun on W1 and takes it at the release: a handoff, no wake-up */
			assert_int_equal(a[2].got, h1 + 100);
			/* then R1 and R2 together, each woken */
			assert_int_equal(a[1].got, a[2].got + 500 + 100 + 3000);
			assert_int_equal(a[3].got, a[1].got);
		} else {
			/* R1 and R2 together at W1's release, each woken */
			assert_int_equal(a[1].got, h1 + 100 + 3000);
			assert_int_equal(a[3].got, a[1].got);
			/* W2 after the last reader, still spinning: no wake-up */
			assert_int_equal(a[2].got, a[3].got + 2000 + 100 + 100);
		}
		m2d_sim_destroy(&sim);
	}
}

/* ---- completion, barrier --------------------------------------------------------- */

static struct m2d_completion done;

static void completer(void *p)
{
	m2d_thread_work(7000);
	complete(&done);
}

static void completion_waiter(void *p)
{
	m2d_vtime_t *got = p;

	m2d_thread_work(1000);
	wait_for_completion(&done);
	*got = m2d_now();
}

static void test_engine_completion(void **state)
{
	struct m2d_sim *sim = new_sim(4, 1, 1);
	m2d_vtime_t got = 0;

	set(sim, "sleep_wakeup", 250);
	init_completion(&done, "done");
	assert_int_equal(m2d_sim_spawn(sim, 0, "waiter", completion_waiter, &got), 0);
	assert_int_equal(m2d_sim_spawn(sim, 1, "completer", completer, NULL), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	assert_int_equal(got, 7250);
	m2d_sim_destroy(&sim);
}

struct barrier_arg {
	struct m2d_barrier *b;
	m2d_vtime_t arrive, left;
	bool last;
};

static void barrier_fn(void *p)
{
	struct barrier_arg *a = p;

	m2d_thread_work((double)a->arrive);
	a->last = m2d_barrier_wait(a->b);
	a->left = m2d_now();
}

static void test_engine_barrier(void **state)
{
	struct m2d_sim *sim = new_sim(4, 1, 1);
	struct m2d_barrier b;
	struct barrier_arg a[3] = { { &b, 100, 0, false }, { &b, 900, 0, false }, { &b, 400, 0, false } };
	int lasts = 0;

	set(sim, "sleep_wakeup", 50);
	m2d_barrier_init(&b, 3, "barrier");
	for (int i = 0; i < 3; i++)
		assert_int_equal(m2d_sim_spawn(sim, i, "b", barrier_fn, &a[i]), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	for (int i = 0; i < 3; i++)
		lasts += a[i].last;
	assert_int_equal(lasts, 1);
	assert_true(a[1].last);
	assert_int_equal(a[1].left, 900);
	assert_int_equal(a[0].left, 950);
	assert_int_equal(a[2].left, 950);
	m2d_sim_destroy(&sim);
}

/* ---- deadlock ------------------------------------------------------------------------- */

static struct m2d_waitqueue never_wq;

static void sleeper(void *p)
{
	m2d_wait(&never_wq, false);
}

static void test_engine_deadlock_reported(void **state)
{
	struct m2d_sim *sim = new_sim(2, 1, 1);

	m2d_waitqueue_init(&never_wq, "never");
	assert_int_equal(m2d_sim_spawn(sim, 0, "sleeper", sleeper, NULL), 0);
	assert_int_equal(m2d_sim_run(sim), M2D_E_DEADLOCK);
	m2d_sim_destroy(&sim);
}

/* ---- RCU ------------------------------------------------------------------------------- */

struct rcu_ctx {
	struct m2d_rcu_head head;
	int *inside_old;  /* readers that began before call_rcu and are still inside */
	bool ran;
	m2d_vtime_t ran_at;
	int violations;
};

static int readers_inside_before;
static m2d_vtime_t call_time;

static void rcu_cb(struct m2d_rcu_head *h)
{
	struct rcu_ctx *c = caa_container_of(h, struct rcu_ctx, head);

	c->ran = true;
	c->ran_at = m2d_now();
	if (readers_inside_before)
		c->violations++;
}

struct rcu_reader_arg {
	m2d_vtime_t start, len;
};

static void rcu_reader(void *p)
{
	struct rcu_reader_arg *a = p;
	bool before;

	m2d_thread_work((double)a->start);
	m2d_sched_point();
	rcu_read_lock();
	before = m2d_now() <= call_time;
	if (before)
		readers_inside_before++;
	m2d_thread_work((double)a->len);
	m2d_sched_point(); /* let others (and callbacks) run while inside */
	if (before)
		readers_inside_before--;
	rcu_read_unlock();
}

static struct rcu_ctx rcu_c;

static void rcu_caller(void *p)
{
	m2d_thread_work(1000);
	m2d_sched_point();
	call_time = m2d_now();
	call_rcu(&rcu_c.head, rcu_cb);
}

static void test_engine_rcu_callback_after_readers(void **state)
{
	struct m2d_sim *sim = new_sim(8, 1, 1);
	struct rcu_reader_arg r[3] = { { 0, 5000 }, { 500, 20000 }, { 2000, 100000 } };

	set(sim, "rcu_gp", 3000);
	memset(&rcu_c, 0, sizeof(rcu_c));
	readers_inside_before = 0;
	call_time = UINT64_MAX;
	for (int i = 0; i < 3; i++)
		assert_int_equal(m2d_sim_spawn(sim, i, "reader", rcu_reader, &r[i]), 0);
	assert_int_equal(m2d_sim_spawn(sim, 3, "caller", rcu_caller, NULL), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	assert_true(rcu_c.ran);
	assert_int_equal(rcu_c.violations, 0);
	/* readers 0 and 1 began before the call at 1000; the later one ends at 20500 */
	assert_int_equal(rcu_c.ran_at, 20500 + 3000);
	assert_int_equal(m2d_sim_counter(sim, "rcu_callbacks"), 1);
	m2d_sim_destroy(&sim);
}

static int barrier_cbs;

static void count_cb(struct m2d_rcu_head *h)
{
	barrier_cbs++;
}

static struct m2d_rcu_head heads[10];

static void rcu_barrier_fn(void *p)
{
	m2d_vtime_t *t = p;

	for (int i = 0; i < 10; i++) {
		call_rcu(&heads[i], count_cb);
		m2d_thread_work(100);
	}
	rcu_barrier();
	assert_int_equal(barrier_cbs, 10);
	*t = m2d_now();
	synchronize_rcu();
	*t = m2d_now() - *t;
}

static void test_engine_rcu_barrier_waits_all(void **state)
{
	struct m2d_sim *sim = new_sim(2, 1, 1);
	m2d_vtime_t sync_time = 0;

	set(sim, "rcu_gp", 2000);
	barrier_cbs = 0;
	assert_int_equal(m2d_sim_spawn(sim, 0, "t", rcu_barrier_fn, &sync_time), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	assert_int_equal(barrier_cbs, 10);
	assert_int_equal(sync_time, 2000);
	m2d_sim_destroy(&sim);
}

/* ---- IPIs ---------------------------------------------------------------------------- */

static void ipi_target(void *p)
{
	bool guest = p != NULL;

	m2d_thread_set_guest_mode(guest);
	m2d_thread_work(100);
	m2d_sched_point();
	m2d_thread_work(100);
}

static void ipi_sender(void *p)
{
	m2d_thread_work(50);
	flush_tlb_all();
}

static void test_engine_ipi_flush_tlb_all(void **state)
{
	struct m2d_sim *sim = new_sim(4, 1, 1);

	set(sim, "ipi_send", 10);
	set(sim, "ipi_ack_wait", 500);
	set(sim, "ipi_receive", 300);
	set(sim, "tlb_flush_local_all", 40);
	set(sim, "vm_exit", 1000);
	assert_int_equal(m2d_sim_spawn(sim, 0, "sender", ipi_sender, NULL), 0);
	assert_int_equal(m2d_sim_spawn(sim, 1, "host", ipi_target, NULL), 0);
	assert_int_equal(m2d_sim_spawn(sim, 2, "vcpu", ipi_target, (void *)1), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	/* 3 target CPUs (one idle); the sender waits for the handler too */
	assert_int_equal(m2d_sim_counter(sim, "ipis"), 3);
	assert_int_equal(m2d_sim_counter(sim, "flush_tlb_all"), 1);
	assert_true(m2d_sim_breakdown_ns(sim, 0, "ipi_send") == 30);
	assert_true(m2d_sim_breakdown_ns(sim, 1, "ipi_receive") == 300);
	assert_true(m2d_sim_breakdown_ns(sim, 1, "vm_exit") == 0);
	assert_true(m2d_sim_breakdown_ns(sim, 2, "vm_exit") == 1000);
	assert_true(m2d_sim_breakdown_ns(sim, 0, "tlb_flush_local_all") == 80);
	assert_int_equal(m2d_sim_time(sim), 200 + 300 + 40 + 1000);
	m2d_sim_destroy(&sim);
}


/* ---- cond_resched_rwlock, trylock, range flushes -------------------------------------- */

static struct m2d_rwlock cr_lock;
static int cr_yields;
static m2d_vtime_t cr_reader_got;

static void cr_holder(void *p)
{
	write_lock(&cr_lock);
	for (int i = 0; i < 10; i++) {
		m2d_thread_work(1000);
		if (cond_resched_rwlock_write(&cr_lock))
			cr_yields++;
	}
	write_unlock(&cr_lock);
}

static void cr_reader(void *p)
{
	m2d_thread_work(2500);
	read_lock(&cr_lock);
	cr_reader_got = m2d_now();
	m2d_thread_work(500);
	read_unlock(&cr_lock);
}

/*
 * A writer walking with cond_resched_rwlock_write() lets a reader that
 * queued at 2500 in at its next check (3000), then waits for it to leave.
 */
static void test_engine_cond_resched_rwlock_write(void **state)
{
	struct m2d_sim *sim = new_sim(2, 1, 1);

	rwlock_init(&cr_lock, "mmu_lock", M2D_RANK_MMU_LOCK);
	cr_yields = 0;
	cr_reader_got = 0;
	assert_int_equal(m2d_sim_spawn(sim, 0, "zapper", cr_holder, NULL), 0);
	assert_int_equal(m2d_sim_spawn(sim, 1, "vcpu", cr_reader, NULL), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	assert_int_equal(cr_yields, 1);
	assert_int_equal(cr_reader_got, 3000);
	assert_int_equal(m2d_sim_time(sim), 10500);
	m2d_sim_destroy(&sim);
}

static struct m2d_spinlock try_lock;
static bool try_early, try_late;

static void try_holder(void *p)
{
	spin_lock(&try_lock);
	m2d_thread_work(5000);
	spin_unlock(&try_lock);
}

static void try_taker(void *p)
{
	m2d_thread_work(1000);
	try_early = spin_trylock(&try_lock);
	if (try_early)
		spin_unlock(&try_lock);
	m2d_thread_work(5000);
	try_late = spin_trylock(&try_lock);
	if (try_late)
		spin_unlock(&try_lock);
}

/* spin_trylock() fails while the lock is held at the caller's virtual time. */
static void test_engine_spin_trylock_virtual_time(void **state)
{
	struct m2d_sim *sim = new_sim(2, 1, 1);

	spin_lock_init(&try_lock, "try", M2D_RANK_NONE);
	assert_int_equal(m2d_sim_spawn(sim, 0, "holder", try_holder, NULL), 0);
	assert_int_equal(m2d_sim_spawn(sim, 1, "taker", try_taker, NULL), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	assert_false(try_early);
	assert_true(try_late);
	m2d_sim_destroy(&sim);
}

/* flush_tlb_kernel_range(): INVLPG per page up to 33 pages, full flush above. */
static void test_engine_flush_tlb_kernel_range(void **state)
{
	struct m2d_sim *sim = new_sim(8, 1, 1);
	m2d_vtime_t t0;

	set(sim, "ipi_send", 1);
	set(sim, "tlb_flush_local_page", 10);
	set(sim, "tlb_flush_local_all", 100);
	m2d_engine_enter(sim);
	flush_tlb_kernel_range(0x1000, 0x1000 + 33 * 4096);
	/* 7 targets; the sender waits for 33 INVLPGs remotely, then does 33 locally */
	assert_int_equal(m2d_now(), 7 + 330 + 330);
	t0 = m2d_now();
	flush_tlb_kernel_range(0x1000, 0x1000 + 34 * 4096);
	assert_int_equal(m2d_now() - t0, 7 + 100 + 100);
	m2d_engine_leave(sim);
	assert_int_equal(m2d_sim_counter(sim, "tlb_flush_kernel_ranges"), 2);
	assert_int_equal(m2d_sim_counter(sim, "ipis"), 14);
	m2d_sim_destroy(&sim);
}

/* An IPI to a thread spinning on a lock: handled while it waits. */
static struct m2d_spinlock spin_ipi_lock;
static m2d_vtime_t spinner_got;

static void spin_ipi_holder(void *p)
{
	spin_lock(&spin_ipi_lock);
	m2d_thread_work(1000);
	m2d_sched_point();
	spin_unlock(&spin_ipi_lock);
}

static void spin_ipi_waiter(void *p)
{
	m2d_thread_work(100);
	spin_lock(&spin_ipi_lock);
	spinner_got = m2d_now();
	spin_unlock(&spin_ipi_lock);
}

static void spin_ipi_sender(void *p)
{
	m2d_thread_work(500);
	flush_tlb_all();
}

static void test_engine_ipi_to_spinning_waiter(void **state)
{
	struct m2d_sim *sim = new_sim(3, 1, 1);

	set(sim, "ipi_receive", 300);
	spin_lock_init(&spin_ipi_lock, "ipi_spin", M2D_RANK_NONE);
	assert_int_equal(m2d_sim_spawn(sim, 0, "holder", spin_ipi_holder, NULL), 0);
	assert_int_equal(m2d_sim_spawn(sim, 1, "waiter", spin_ipi_waiter, NULL), 0);
	assert_int_equal(m2d_sim_spawn(sim, 2, "sender", spin_ipi_sender, NULL), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	/* holder: 1000 + 300 (interrupted); waiter: handler [500, 800) ends before the grant */
	assert_int_equal(spinner_got, 1300);
	assert_true(m2d_sim_breakdown_ns(sim, 1, "ipi_receive") == 300);
	assert_true(m2d_sim_breakdown_ns(sim, 1, "wait:ipi_spin") == 900);
	m2d_sim_destroy(&sim);
}

/* ---- determinism -------------------------------------------------------------------------- */

static struct m2d_sim_lock *det_locks[3];

static void random_worker(void *p)
{
	for (int i = 0; i < 200; i++) {
		struct m2d_sim_lock *l = det_locks[m2d_rand_below(3)];
		bool w = m2d_rand_below(4) == 0;

		m2d_sim_lock_acquire(l, w);
		m2d_thread_work((double)m2d_rand_below(500));
		m2d_sim_lock_release(l, w);
		m2d_thread_work((double)m2d_rand_below(300));
	}
}

static struct m2d_sim *det_run(uint64_t seed)
{
	struct m2d_sim_config cfg;
	struct m2d_sim *sim;
	static const enum m2d_sim_lock_kind kinds[3] = { M2D_SIM_LOCK_SPIN, M2D_SIM_LOCK_RWLOCK,
							 M2D_SIM_LOCK_RWSEM };
	static const char *names[3] = { "a", "b", "c" };

	m2d_sim_config_default(&cfg);
	cfg.cpus = 8;
	cfg.nodes = 2;
	cfg.seed = seed;
	cfg.trace = true;
	assert_int_equal(m2d_sim_create(&sim, &cfg), 0);
	set(sim, "lock_handoff", 40);
	set(sim, "lock_handoff_hop", 5);
	set(sim, "sleep_wakeup", 700);
	for (int i = 0; i < 3; i++)
		assert_int_equal(m2d_sim_lock_create(sim, kinds[i], names[i], &det_locks[i]), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(m2d_sim_spawn(sim, i, "w", random_worker, NULL), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	return sim;
}

static bool same_events(const struct m2d_sim *a, const struct m2d_sim *b)
{
	if (a->trace_n != b->trace_n)
		return false;
	for (size_t i = 0; i < a->trace_n; i++) {
		const struct trace_event *x = &a->trace[i], *y = &b->trace[i];

		if (x->tid != y->tid || x->ts != y->ts || x->dur != y->dur || x->ph != y->ph ||
		    strcmp(x->name, y->name))
			return false;
	}
	return true;
}

static void test_engine_determinism(void **state)
{
	struct m2d_sim *a = det_run(7), *b = det_run(7), *c = det_run(8);

	assert_true(a->trace_n > 1000);
	assert_true(same_events(a, b));
	assert_false(same_events(a, c));
	assert_int_equal(m2d_sim_time(a), m2d_sim_time(b));
	m2d_sim_destroy(&a);
	m2d_sim_destroy(&b);
	m2d_sim_destroy(&c);
}

/* ---- randomized model test: mutual exclusion in virtual time ------------------------------ */

struct interval {
	m2d_vtime_t from, to;
	bool shared;
};

struct excl_state {
	struct interval iv[4096];
	int n;
};

#define MX_LOCKS 4
static struct excl_state excl[MX_LOCKS];
static struct m2d_sim_lock *mx_locks[MX_LOCKS];
/* lock kinds of mx_locks: 0 spinlock, 1 rwlock, 2 rwsem, 3 mutex */
static bool mx_shared_ok(int k)
{
	return k == 1 || k == 2;
}

static void mx_record(int k, struct interval iv)
{
	if (excl[k].n < 4096)
		excl[k].iv[excl[k].n++] = iv;
}

/*
 * Hold lock @k, sometimes taking the next lock inside it (0 -> 1: spinning
 * in spinning; 2 -> 3: a sleeping lock's owner blocking on another sleeping
 * lock, so its own waiters stop spinning and sleep).
 */
static void mx_worker(void *p)
{
	for (int i = 0; i < 100; i++) {
		int k = (int)m2d_rand_below(MX_LOCKS);
		bool w = m2d_rand_below(3) == 0 || !mx_shared_ok(k);
		bool nest = (k == 0 || k == 2) && m2d_rand_below(3) == 0;
		struct interval iv, in;

		m2d_sim_lock_acquire(mx_locks[k], w);
		iv.from = m2d_thread_now();
		iv.shared = !w;
		m2d_thread_work((double)(1 + m2d_rand_below(800)));
		if (nest) {
			bool w2 = m2d_rand_below(2) == 0 || !mx_shared_ok(k + 1);

			m2d_sim_lock_acquire(mx_locks[k + 1], w2);
			in.from = m2d_thread_now();
			in.shared = !w2;
			m2d_thread_work((double)(1 + m2d_rand_below(300)));
			in.to = m2d_thread_now();
			m2d_sim_lock_release(mx_locks[k + 1], w2);
			mx_record(k + 1, in);
		}
		iv.to = m2d_thread_now();
		m2d_sim_lock_release(mx_locks[k], w);
		mx_record(k, iv);
		m2d_thread_work((double)m2d_rand_below(400));
		if (m2d_rand_below(5) == 0)
			m2d_sched_point();
	}
}

static int cmp_iv(const void *a, const void *b)
{
	const struct interval *x = a, *y = b;

	return x->from < y->from ? -1 : x->from > y->from;
}

/*
 * Reference model: an exclusive hold overlaps no other hold of the same
 * lock; shared holds may overlap each other only.  Random workloads, seed
 * printed so failures reproduce.
 */
static void test_engine_random_mutual_exclusion(void **state)
{
	static const enum m2d_sim_lock_kind kinds[MX_LOCKS] = {
		M2D_SIM_LOCK_SPIN, M2D_SIM_LOCK_RWLOCK, M2D_SIM_LOCK_RWSEM, M2D_SIM_LOCK_MUTEX
	};
	static const char *names[MX_LOCKS] = { "x", "y", "z", "m" };
	uint64_t base = getenv("M2D_TEST_SEED") ? strtoull(getenv("M2D_TEST_SEED"), NULL, 0) : 12345;

	for (uint64_t seed = base; seed < base + 10; seed++) {
		struct m2d_sim_config cfg;
		struct m2d_sim *sim;

		print_message("random mutual exclusion: seed %" PRIu64 "\n", seed);
		m2d_sim_config_default(&cfg);
		cfg.cpus = 6;
		cfg.nodes = 2;
		cfg.seed = seed;
		assert_int_equal(m2d_sim_create(&sim, &cfg), 0);
		set(sim, "lock_handoff", (double)(seed % 7) * 10);
		set(sim, "sleep_wakeup", 300);
		memset(excl, 0, sizeof(excl));
		for (int i = 0; i < MX_LOCKS; i++)
			assert_int_equal(m2d_sim_lock_create(sim, kinds[i], names[i], &mx_locks[i]), 0);
		for (int i = 0; i < 6; i++)
			assert_int_equal(m2d_sim_spawn(sim, i, "mx", mx_worker, NULL), 0);
		assert_int_equal(m2d_sim_run(sim), 0);
		for (int k = 0; k < MX_LOCKS; k++) {
			qsort(excl[k].iv, (size_t)excl[k].n, sizeof(struct interval), cmp_iv);
			for (int i = 0; i < excl[k].n; i++) {
				for (int j = i + 1; j < excl[k].n && excl[k].iv[j].from < excl[k].iv[i].to; j++) {
					if (!excl[k].iv[i].shared || !excl[k].iv[j].shared)
						fail_msg("seed %" PRIu64 ": lock %s holds [%" PRIu64 ",%" PRIu64
							 ") and [%" PRIu64 ",%" PRIu64 ") overlap",
							 seed, names[k], excl[k].iv[i].from, excl[k].iv[i].to,
							 excl[k].iv[j].from, excl[k].iv[j].to);
				}
			}
		}
		m2d_sim_destroy(&sim);
	}
}

/* ---- outside mode (m2d_engine_enter) --------------------------------------------------------- */

static int outside_cbs;

static void outside_cb(struct m2d_rcu_head *h)
{
	outside_cbs++;
	m2d_delay(M2D_COST_LOCK_ACQUIRE, 1);
}

static void test_engine_outside_mode(void **state)
{
	struct m2d_sim *sim = new_sim(4, 1, 1);
	struct m2d_spinlock l;
	struct m2d_rwlock rw;
	struct m2d_rcu_head h;

	set(sim, "lock_acquire", 5);
	outside_cbs = 0;
	m2d_engine_enter(sim);
	assert_null(m2d_current());
	spin_lock_init(&l, "cpa_lock", M2D_RANK_CPA_LOCK);
	rwlock_init(&rw, "mmu_lock", M2D_RANK_MMU_LOCK);
	write_lock(&rw);
	lockdep_assert_held_write(&rw);
	spin_lock(&l);
	m2d_delay(M2D_COST_LOCK_ACQUIRE, 3);
	spin_unlock(&l);
	write_unlock(&rw);
	assert_int_equal(m2d_now(), 25);
	call_rcu(&h, outside_cb);
	assert_int_equal(outside_cbs, 0);
	m2d_engine_leave(sim);
	assert_int_equal(outside_cbs, 1);
	assert_int_equal(m2d_sim_time(sim), 30);
	m2d_sim_destroy(&sim);
}

/* m2d_engine_enter() from a simulated thread changes nothing: the thread pays. */
static struct m2d_sim *inside_sim;

static void inside_fn(void *p)
{
	struct m2d_rcu_head *h = p;

	m2d_engine_enter(inside_sim);
	assert_non_null(m2d_current());
	m2d_delay(M2D_COST_LOCK_ACQUIRE, 4);
	call_rcu(h, outside_cb);
	m2d_engine_leave(inside_sim);
	/* leave did not flush: the callback waits for its grace period */
	assert_int_equal(outside_cbs, 0);
}

static void test_engine_enter_inside_thread(void **state)
{
	struct m2d_sim *sim = new_sim(2, 1, 1);
	struct m2d_rcu_head h;

	set(sim, "lock_acquire", 5);
	set(sim, "rcu_gp", 100);
	inside_sim = sim;
	outside_cbs = 0;
	assert_int_equal(m2d_sim_spawn(sim, 0, "vmm", inside_fn, &h), 0);
	assert_int_equal(m2d_sim_run(sim), 0);
	assert_int_equal(outside_cbs, 1);
	assert_true(m2d_sim_breakdown_ns(sim, 0, "lock_acquire") == 20);
	m2d_sim_destroy(&sim);
}

/* A lock initialised once and used by two sims in turn (no stale class). */
static void test_engine_lock_reused_across_sims(void **state)
{
	static struct m2d_spinlock l;
	struct m2d_lock_stats st;

	spin_lock_init(&l, "reused", M2D_RANK_NONE);
	for (int i = 0; i < 3; i++) {
		struct m2d_sim *sim = new_sim(2, 1, 1);

		m2d_engine_enter(sim);
		spin_lock(&l);
		spin_unlock(&l);
		m2d_engine_leave(sim);
		assert_int_equal(m2d_sim_lock_stats(sim, "reused", &st), 0);
		assert_int_equal(st.acquisitions, 1);
		m2d_sim_destroy(&sim);
	}
}

/* ---- JSON and trace ---------------------------------------------------------------------------- */

static char *emit(struct m2d_sim *sim)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(m2d_sim_emit_json(sim, f), 0);
	fclose(f);
	return buf;
}

static void test_engine_json_deterministic(void **state)
{
	struct m2d_sim *a = det_run(3), *b = det_run(3);
	char *ja = emit(a), *jb = emit(b);
	char path[] = "/tmp/m2d-trace-XXXXXX";
	int fd = mkstemp(path);

	assert_string_equal(ja, jb);
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		double sum = 0;

		assert_int_equal(m2d_sim_emit_json_threads(a, f), 0);
		fclose(f);
		assert_non_null(strstr(buf, "\"threads\": [\n    {\"id\": 0, \"name\": \"w\", \"cpu\": 0, "));
		/* per-thread breakdowns add up to each thread's clock */
		for (int id = 0; id < m2d_sim_thread_count(a); id++) {
			const struct m2d_thread *t = a->all;

			while (t->id != id)
				t = t->next_all;
			sum = 0;
			for (int k = 0; k < M2D_COST_NR; k++)
				sum += (double)t->breakdown[k];
			for (unsigned k = 0; k < t->nr_cat_ns; k++)
				sum += t->cat_ns[k];
			assert_true(fabs(sum - (double)t->hot.clock) < 1.0);
		}
		free(buf);
	}
	assert_non_null(strstr(ja, "\"wait:a\": "));
	assert_non_null(strstr(ja, "\"a\": {\"acquisitions\": "));
	assert_non_null(strstr(ja, "\"context_switches\": "));
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(m2d_sim_write_trace(a, path), 0);
	unlink(path);
	free(ja);
	free(jb);
	m2d_sim_destroy(&a);
	m2d_sim_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engine_sched_min_clock_order),
		cmocka_unit_test(test_engine_spinlock_saturated_throughput),
		cmocka_unit_test(test_engine_spinlock_single_thread_no_wait),
		cmocka_unit_test(test_engine_spinlock_release_in_future),
		cmocka_unit_test(test_engine_rwlock_fifo_reader_batches),
		cmocka_unit_test(test_engine_rwlock_readers_parallel),
		cmocka_unit_test(test_engine_rwlock_reader_line_bounce),
		cmocka_unit_test(test_engine_rwlock_single_reader_line_local),
		cmocka_unit_test(test_engine_cacheline_rmw_remote),
		cmocka_unit_test(test_engine_serial_path),
		cmocka_unit_test(test_engine_rwlock_writer_not_starved),
		cmocka_unit_test(test_engine_mutex_wakeup_latency),
		cmocka_unit_test(test_engine_mutex_spinner_steals_once),
		cmocka_unit_test(test_engine_rwsem_writer_after_readers),
		cmocka_unit_test(test_engine_rwsem_phase_fair_readers),
		cmocka_unit_test(test_engine_completion),
		cmocka_unit_test(test_engine_barrier),
		cmocka_unit_test(test_engine_deadlock_reported),
		cmocka_unit_test(test_engine_rcu_callback_after_readers),
		cmocka_unit_test(test_engine_rcu_barrier_waits_all),
		cmocka_unit_test(test_engine_ipi_flush_tlb_all),
		cmocka_unit_test(test_engine_cond_resched_rwlock_write),
		cmocka_unit_test(test_engine_spin_trylock_virtual_time),
		cmocka_unit_test(test_engine_flush_tlb_kernel_range),
		cmocka_unit_test(test_engine_ipi_to_spinning_waiter),
		cmocka_unit_test(test_engine_determinism),
		cmocka_unit_test(test_engine_random_mutual_exclusion),
		cmocka_unit_test(test_engine_outside_mode),
		cmocka_unit_test(test_engine_enter_inside_thread),
		cmocka_unit_test(test_engine_lock_reused_across_sims),
		cmocka_unit_test(test_engine_json_deterministic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
