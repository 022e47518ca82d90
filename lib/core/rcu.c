// SPDX-License-Identifier: MIT
/*
 * lib/core/rcu.c - RCU in virtual time.
 *
 * Source: Documentation/RCU/whatisRCU.rst and kernel/rcu/tree.c, reduced to
 * the guarantee model code relies on: a callback queued by call_rcu() at
 * virtual time t runs only after every reader that was inside a read-side
 * section at t has left it, plus a grace-period latency (cost RCU_GP).
 *
 * Model.  Callbacks are batched as in Tree RCU: those queued while no grace
 * period (GP) runs start one at the caller's time s; those queued during a
 * GP wait for the next.  A GP's holdouts are the readers inside a section
 * that began at or before s.  call_rcu() is a synchronisation point, so no
 * runnable thread is behind s: any reader section that begins later (in
 * execution order) begins at or after s and need not be waited for.  When
 * the last holdout leaves (at its own virtual time e), the GP ends at
 * max(s, latest e) + RCU_GP and its callbacks become ready at that time.
 * The scheduler runs ready callbacks before resuming any thread whose clock
 * is past their ready time, in an "rcu" pseudo-thread (the kernel's rcuc/
 * rcuo kthreads), whose clock is the ready time: callbacks never delay a
 * simulated thread, and must not block.
 *
 * synchronize_rcu() queues a callback that wakes the caller; rcu_barrier()
 * queues one behind every pending callback.  Outside simulated threads
 * (m2d_engine_enter) both charge RCU_GP to the caller and run every pending
 * callback at once, in the caller's context.
 *
 * Ordering guarantees: callbacks run in call_rcu() order.
 * Progress guarantees: a reader that never leaves holds up every later
 * callback; a blocked holdout shows up in the deadlock report.
 */
#include "core/engine_internal.h"

#include <stdio.h>

#define NO_TIME UINT64_MAX

static void list_init(struct m2d_rcu_head **head, struct m2d_rcu_head ***tail)
{
	*head = NULL;
	*tail = head;
}

void m2d_rcu_init(struct m2d_sim *sim)
{
	struct rcu_state *r = &sim->rcu;

	list_init(&r->cur_head, &r->cur_tail);
	list_init(&r->next_head, &r->next_tail);
	list_init(&r->done_head, &r->done_tail);
	r->ready_at = NO_TIME;
	m2d_ctx_init(sim, &r->cb_ctx);
	r->cb_ctx.name = (char *)"rcu";
}

static void splice(struct m2d_rcu_head **dh, struct m2d_rcu_head ***dt, struct m2d_rcu_head **sh,
		   struct m2d_rcu_head ***st)
{
	if (!*sh)
		return;
	**dt = *sh;
	*dt = *st;
	list_init(sh, st);
}

static void gp_start(struct m2d_sim *sim, m2d_vtime_t s);

/* The GP in progress has no holdouts left: its callbacks are ready. */
static void gp_complete(struct m2d_sim *sim, m2d_vtime_t now)
{
	struct rcu_state *r = &sim->rcu;
	m2d_vtime_t ready = M2D_MAX(r->gp_start, r->gp_end) +
			    (m2d_vtime_t)sim->cost_ns[M2D_COST_RCU_GP];

	for (struct m2d_rcu_head *h = r->cur_head; h; h = h->next)
		h->ready_at = ready;
	if (!r->done_head)
		r->ready_at = r->cur_head ? ready : NO_TIME;
	splice(&r->done_head, &r->done_tail, &r->cur_head, &r->cur_tail);
	r->gp_active = false;
	sim->counters[M2D_CTR_rcu_grace_periods]++;
	if (r->next_head)
		gp_start(sim, M2D_MAX(now, r->gp_start));
}

static void gp_start(struct m2d_sim *sim, m2d_vtime_t s)
{
	struct rcu_state *r = &sim->rcu;

	splice(&r->cur_head, &r->cur_tail, &r->next_head, &r->next_tail);
	r->gp_active = true;
	r->gp_seq++;
	r->gp_start = s;
	r->gp_end = s;
	r->holdouts = 0;
	for (struct m2d_thread *t = sim->all; t; t = t->next_all) {
		if (t->rcu_nesting && t->rcu_start <= s) {
			t->rcu_holdout_gp = r->gp_seq;
			r->holdouts++;
		}
	}
	if (!r->holdouts)
		gp_complete(sim, s);
}

void m2d_rcu_reader_exit(struct m2d_sim *sim, struct m2d_thread *t, m2d_vtime_t at)
{
	struct rcu_state *r = &sim->rcu;

	if (t->rcu_holdout_gp != r->gp_seq || !r->gp_active) {
		t->rcu_holdout_gp = 0;
		return;
	}
	t->rcu_holdout_gp = 0;
	if (at > r->gp_end)
		r->gp_end = at;
	if (--r->holdouts == 0)
		gp_complete(sim, at);
}

void m2d_rcu_read_lock(void)
{
	struct m2d_thread *t = cur_ctx();

	if (t->rcu_nesting++ == 0)
		t->rcu_start = t->hot.clock;
}

void m2d_rcu_read_unlock(void)
{
	struct m2d_thread *t = cur_ctx();

	if (unlikely(!t->rcu_nesting))
		m2d_die("rcu_read_unlock() without rcu_read_lock()");
	if (--t->rcu_nesting == 0 && t->rcu_holdout_gp)
		m2d_rcu_reader_exit(t->sim, t, t->hot.clock);
}

/* Run the ready callbacks whose time has come (<= @upto). */
void m2d_rcu_run_ready(struct m2d_sim *sim, m2d_vtime_t upto)
{
	struct rcu_state *r = &sim->rcu;
	struct m2d_thread_hot *saved;

	if (r->running_cbs)
		return;
	r->running_cbs = true;
	saved = m2d_cur;
	while (r->done_head && r->done_head->ready_at <= upto) {
		struct m2d_rcu_head *h = r->done_head;

		r->done_head = h->next;
		if (!r->done_head)
			r->done_tail = &r->done_head;
		if (h->ready_at > r->cb_ctx.hot.clock)
			r->cb_ctx.hot.clock = h->ready_at;
		m2d_cur = &r->cb_ctx.hot;
		sim->counters[M2D_CTR_rcu_callbacks]++;
		h->func(h);
	}
	m2d_cur = saved;
	r->ready_at = r->done_head ? r->done_head->ready_at : NO_TIME;
	r->running_cbs = false;
}

/*
 * Run every pending callback now, in the caller's context (outside mode,
 * and the end of m2d_sim_run() when no thread is left).
 */
void m2d_rcu_flush_all(struct m2d_sim *sim)
{
	struct rcu_state *r = &sim->rcu;

	struct m2d_thread_hot *saved = m2d_cur;

	if (r->running_cbs)
		return;
	r->running_cbs = true;
	/* callbacks charge the caller's context; with none, the sim's outside one */
	if (!m2d_cur || m2d_cur->sim != sim)
		m2d_cur = &sim->outside.hot;
	for (;;) {
		struct m2d_rcu_head *h;

		splice(&r->done_head, &r->done_tail, &r->cur_head, &r->cur_tail);
		splice(&r->done_head, &r->done_tail, &r->next_head, &r->next_tail);
		h = r->done_head;
		if (!h)
			break;
		r->done_head = h->next;
		if (!r->done_head)
			r->done_tail = &r->done_head;
		sim->counters[M2D_CTR_rcu_callbacks]++;
		h->func(h);
	}
	if (r->gp_active) {
		r->gp_active = false;
		r->holdouts = 0;
	}
	r->ready_at = NO_TIME;
	r->running_cbs = false;
	m2d_cur = saved;
}

static void queue(struct m2d_sim *sim, struct m2d_rcu_head *head, m2d_vtime_t now)
{
	struct rcu_state *r = &sim->rcu;

	head->next = NULL;
	head->queued_at = now;
	head->ready_at = NO_TIME;
	*r->next_tail = head;
	r->next_tail = &head->next;
	if (!r->gp_active)
		gp_start(sim, now);
}

void m2d_call_rcu(struct m2d_rcu_head *head, void (*func)(struct m2d_rcu_head *))
{
	struct m2d_thread *t = cur_ctx();
	struct rcu_state *r;

	head->func = func;
	if (!t) {
		func(head);
		return;
	}
	if (!t->hot.thread) {
		/* outside mode (or inside a callback): runs at the next flush */
		r = &t->sim->rcu;
		head->next = NULL;
		head->queued_at = t->hot.clock;
		*r->next_tail = head;
		r->next_tail = &head->next;
		if (!r->gp_active && t->sim->in_run)
			gp_start(t->sim, t->hot.clock);
		return;
	}
	m2d_sched_point();
	queue(t->sim, head, t->hot.clock);
}

struct rcu_waiter {
	struct m2d_rcu_head head;
	struct m2d_thread *t;
	unsigned cat;
};

static void wake_waiter(struct m2d_rcu_head *h)
{
	struct rcu_waiter *w = caa_container_of(h, struct rcu_waiter, head);

	m2d_sched_wake(w->t, h->ready_at, w->cat);
}

void m2d_synchronize_rcu(void)
{
	struct m2d_thread *t = cur_ctx();
	struct rcu_waiter w;

	if (!t->hot.thread) {
		m2d_delay(M2D_COST_RCU_GP, 1);
		m2d_rcu_flush_all(t->sim);
		return;
	}
	m2d_lockdep_might_sleep("synchronize_rcu");
	if (t->rcu_nesting)
		m2d_die("synchronize_rcu() inside an RCU read-side section deadlocks");
	m2d_sched_point();
	w.t = t;
	w.cat = m2d_category_get(t->sim, "wait:", "synchronize_rcu");
	w.head.func = wake_waiter;
	t->wait_what = "synchronize_rcu";
	queue(t->sim, &w.head, t->hot.clock);
	m2d_sched_block(t);
}

static void wake_barrier(struct m2d_rcu_head *h)
{
	struct rcu_waiter *w = caa_container_of(h, struct rcu_waiter, head);
	m2d_vtime_t at = M2D_MAX(h->ready_at, w->t->sim->rcu.cb_ctx.hot.clock);

	m2d_sched_wake(w->t, at, w->cat);
}

/*
 * rcu_barrier(): wait for every callback queued so far.  The barrier entry
 * goes behind the last pending callback, in whichever list that is, so it
 * needs no grace period of its own (kernel/rcu/tree.c rcu_barrier()).
 */
void m2d_rcu_barrier(void)
{
	struct m2d_thread *t = cur_ctx();
	struct rcu_state *r;
	struct rcu_waiter w;

	if (!t)
		return;
	if (!t->hot.thread) {
		m2d_delay(M2D_COST_RCU_GP, 1);
		m2d_rcu_flush_all(t->sim);
		return;
	}
	m2d_lockdep_might_sleep("rcu_barrier");
	m2d_sched_point();
	r = &t->sim->rcu;
	w.t = t;
	w.cat = m2d_category_get(t->sim, "wait:", "rcu_barrier");
	w.head.func = wake_barrier;
	w.head.next = NULL;
	w.head.queued_at = t->hot.clock;
	if (r->next_head) {
		*r->next_tail = &w.head;
		r->next_tail = &w.head.next;
	} else if (r->cur_head) {
		*r->cur_tail = &w.head;
		r->cur_tail = &w.head.next;
	} else if (r->done_head) {
		w.head.ready_at = caa_container_of(r->done_tail, struct m2d_rcu_head, next)->ready_at;
		*r->done_tail = &w.head;
		r->done_tail = &w.head.next;
	} else {
		return;
	}
	t->wait_what = "rcu_barrier";
	m2d_sched_block(t);
}
