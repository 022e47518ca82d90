// SPDX-License-Identifier: MIT
/*
 * lib/core/sched.c - simulated threads and the virtual-time scheduler.
 *
 * Design (DESIGN.md 3.2, docs/virtual-time.md):
 *
 * Every simulated thread is a stackful coroutine with its own clock (ns).
 * Runnable threads that are not running sit in a binary min-heap keyed by
 * (clock, id).  Exactly one thread runs at a time, on the host thread that
 * called m2d_sim_run().  It runs until it reaches a synchronisation point
 * (lock request, IPI, wait, m2d_sched_point()); there, if the heap's top is
 * behind it, it swaps places with the top and switches to it directly
 * (one coroutine switch, no trip through a scheduler loop).  A thread that
 * blocks switches to the top of the heap; when the heap is empty control
 * returns to m2d_sim_run(), which either finds every thread exited or
 * reports a deadlock.
 *
 * Ordering guarantees: a thread passes a synchronisation point only when it
 * has the smallest (clock, id) of all runnable threads.  Woken threads get
 * clocks >= their waker's, and a running thread's clock never decreases, so
 * the sequence of requests made at synchronisation points is non-decreasing
 * in virtual time: lock queues are exact (docs/virtual-time.md 2).
 *
 * Progress guarantees: none beyond the model's own; a cycle of blocked
 * threads is reported as M2D_E_DEADLOCK with what each thread waits for.
 *
 * Determinism: the heap order is a total order on (clock, id); ids are
 * assigned in creation order; nothing depends on addresses or wall time.
 */
#include "core/alloc.h"
#include "core/engine_internal.h"

#include <mmu2d/error.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

__thread struct m2d_thread_hot *m2d_cur __attribute__((tls_model("initial-exec")));

/* ---- run heap ----------------------------------------------------------- */

static inline bool key_before(m2d_vtime_t ca, int ia, m2d_vtime_t cb, int ib)
{
	return ca < cb || (ca == cb && ia < ib);
}

static inline bool before(const struct m2d_thread *a, const struct m2d_thread *b)
{
	return key_before(a->hot.clock, a->id, b->hot.clock, b->id);
}

/*
 * The same order, evaluated without branches: on the sift paths the outcome
 * is data-dependent and mispredicts; setcc/and/or do not.
 */
static inline bool ent_before(const struct heap_ent *a, const struct heap_ent *b)
{
	return (a->clock < b->clock) | ((a->clock == b->clock) & (a->id < b->id));
}

/* Is the heap's top behind @t? */
static inline bool top_before(const struct m2d_sim *sim, const struct m2d_thread *t)
{
	return sim->heap_n && key_before(sim->heap[0].clock, sim->heap[0].id, t->hot.clock, t->id);
}

/*
 * Entries do not record their position in the thread struct: that store per
 * level of every sift touched a cold thread struct; only m2d_sched_reclock()
 * (IPIs, rare) needs a position, and it searches.
 */
static inline void heap_set(struct m2d_sim *sim, unsigned i, struct heap_ent e)
{
	sim->heap[i] = e;
}

static void sift_up(struct m2d_sim *sim, unsigned i)
{
	struct heap_ent e = sim->heap[i];

	while (i) {
		unsigned p = (i - 1) / 2;

		if (!ent_before(&e, &sim->heap[p]))
			break;
		heap_set(sim, i, sim->heap[p]);
		i = p;
	}
	heap_set(sim, i, e);
}

/*
 * Restore the heap below @i after the key at @i grew (replace-top on a
 * sched point, pop, reclock).  Bottom-up (Floyd): the smaller child moves up
 * all the way to a leaf, one branch-free comparison per level, then the
 * entry climbs back to its place, usually a step or two, since a thread
 * that yields has just run ahead of the others.  The heap order is a total
 * order on (clock, id), so the run order does not depend on the layout.
 */
static void sift_down(struct m2d_sim *sim, unsigned i)
{
	struct heap_ent *h = sim->heap;
	struct heap_ent e = h[i];
	unsigned n = sim->heap_n, top = i, c;

	while ((c = 2 * i + 1) < n) {
		if (likely(c + 1 < n))
			c += ent_before(&h[c + 1], &h[c]);
		heap_set(sim, i, h[c]);
		i = c;
	}
	while (i > top) {
		unsigned p = (i - 1) / 2;

		if (!ent_before(&e, &h[p]))
			break;
		heap_set(sim, i, h[p]);
		i = p;
	}
	heap_set(sim, i, e);
}

static inline struct heap_ent ent_of(struct m2d_thread *t)
{
	return (struct heap_ent){ t->hot.clock, t->id, t };
}

/* Room for every thread in the heap, reserved when a thread is created. */
static int heap_reserve(struct m2d_sim *sim, unsigned n)
{
	unsigned cap = sim->heap_cap ? sim->heap_cap : 64;
	struct heap_ent *h;

	if (n <= sim->heap_cap)
		return 0;
	while (cap < n)
		cap *= 2;
	h = m2d_realloc(M2D_ALLOC_ENGINE, sim->heap, sim->heap_cap * sizeof(*h), cap * sizeof(*h));
	if (!h)
		return -ENOMEM;
	sim->heap = h;
	sim->heap_cap = cap;
	return 0;
}

static void heap_push(struct m2d_sim *sim, struct m2d_thread *t)
{
	M2D_BUG_ON(sim->heap_n >= sim->heap_cap);
	t->in_heap = true;
	sim->heap[sim->heap_n] = ent_of(t);
	sift_up(sim, sim->heap_n++);
}

static struct m2d_thread *heap_pop(struct m2d_sim *sim)
{
	struct m2d_thread *t = sim->heap[0].t;

	t->in_heap = false;
	if (--sim->heap_n) {
		sim->heap[0] = sim->heap[sim->heap_n];
		sift_down(sim, 0);
	}
	return t;
}

/* @t's clock grew while it sat in the heap (an IPI charged it). */
void m2d_sched_reclock(struct m2d_thread *t)
{
	struct m2d_sim *sim = t->sim;

	if (!t->in_heap)
		return;
	for (unsigned i = 0; i < sim->heap_n; i++) {
		if (sim->heap[i].t == t) {
			sim->heap[i].clock = t->hot.clock;
			sift_down(sim, i);
			return;
		}
	}
	M2D_BUG_ON(1); /* in_heap but not in the heap */
}

/* ---- categories ---------------------------------------------------------- */

/*
 * m2d_category_get() - index of the breakdown category "<prefix><name>",
 * created on first use.  Categories are numbered in first-use order, which
 * is deterministic; the fast path compares the name pointer.
 */
unsigned m2d_category_get(struct m2d_sim *sim, const char *prefix, const char *name)
{
	size_t pl = strlen(prefix);
	char *full;

	for (unsigned i = 0; i < sim->nr_cats; i++)
		if (sim->cats[i].key == name && !strncmp(sim->cats[i].name, prefix, pl))
			return i;
	for (unsigned i = 0; i < sim->nr_cats; i++)
		if (!strncmp(sim->cats[i].name, prefix, pl) && !strcmp(sim->cats[i].name + pl, name))
			return i;
	if (sim->nr_cats == sim->cap_cats) {
		unsigned cap = sim->cap_cats ? 2 * sim->cap_cats : 16;
		struct category *c = m2d_realloc(M2D_ALLOC_ENGINE, sim->cats,
						 sim->cap_cats * sizeof(*c), cap * sizeof(*c));

		if (!c)
			return sim->nr_cats > M2D_CAT_OOM ? M2D_CAT_OOM : UINT32_MAX;
		sim->cats = c;
		sim->cap_cats = cap;
	}
	full = m2d_malloc(M2D_ALLOC_ENGINE, pl + strlen(name) + 1);
	if (!full)
		return sim->nr_cats > M2D_CAT_OOM ? M2D_CAT_OOM : UINT32_MAX;
	strcpy(full, prefix);
	strcat(full, name);
	sim->cats[sim->nr_cats].name = full;
	sim->cats[sim->nr_cats].key = name;
	return sim->nr_cats++;
}

void m2d_thread_charge_cat(struct m2d_thread *t, unsigned cat, double ns)
{
	if (cat >= t->nr_cat_ns) {
		unsigned n = M2D_MAX(cat + 1, 2 * t->nr_cat_ns);
		double *a = m2d_realloc(M2D_ALLOC_ENGINE, t->cat_ns, t->nr_cat_ns * sizeof(*a),
					n * sizeof(*a));

		if (!a)
			return; /* out of memory: the clock is right, the breakdown loses @ns */
		memset(a + t->nr_cat_ns, 0, (n - t->nr_cat_ns) * sizeof(*a));
		t->cat_ns = a;
		t->nr_cat_ns = n;
	}
	t->cat_ns[cat] += ns;
}

/* ---- contexts and threads ---------------------------------------------- */

void m2d_ctx_init(struct m2d_sim *sim, struct m2d_thread *t)
{
	t->sim = sim;
	t->in_heap = false;
	t->hot.cost_ns = sim->cost_ns;
	t->hot.cost_fp = sim->cost_fp;
	t->hot.breakdown = t->breakdown;
	t->hot.counters = sim->counters;
	t->hot.sim = sim;
}

void m2d_ctx_fini(struct m2d_thread *t)
{
	m2d_free(M2D_ALLOC_ENGINE, t->cat_ns, t->nr_cat_ns * sizeof(double));
	t->cat_ns = NULL;
	t->nr_cat_ns = 0;
}

static void switch_away(struct m2d_thread *t, bool final);

static void thread_main(void *arg)
{
	struct m2d_thread *t = arg;
	struct m2d_sim *sim = t->sim;

	m2d_coro_started();
	t->fn(t->arg);
	if (t->nr_held) {
		char msg[256];

		snprintf(msg, sizeof(msg), "thread '%s' exited holding lock '%s'", t->name,
			 t->held[t->nr_held - 1].lock->name);
		m2d_die(msg);
	}
	if (t->rcu_nesting) {
		char msg[256];

		snprintf(msg, sizeof(msg), "thread '%s' exited inside an RCU read-side section",
			 t->name);
		m2d_die(msg);
	}
	t->state = M2D_TS_EXITED;
	if (t->hot.clock > sim->max_time)
		sim->max_time = t->hot.clock;
	if (M2D_TRACE_ON(sim))
		m2d_trace_record(sim, t->id, 'i', "exit", t->hot.clock, 0);
	switch_away(t, true);
}

struct m2d_thread *m2d_thread_create(struct m2d_sim *sim, int cpu, const char *name,
				     m2d_thread_fn fn, void *arg, m2d_vtime_t start, int *err)
{
	struct m2d_thread *t, *creator = m2d_cur ? cur_ctx() : NULL;
	int ret = -ENOMEM;

	if (!sim || !fn || cpu < 0 || (unsigned)cpu >= sim->cfg.cpus) {
		ret = -EINVAL;
		goto err;
	}
	if (heap_reserve(sim, (unsigned)sim->nr_threads + 1))
		goto err;
	t = m2d_zalloc(M2D_ALLOC_ENGINE, sizeof(*t));
	if (!t)
		goto err;
	t->name = m2d_strdup(M2D_ALLOC_ENGINE, name ? name : "thread");
	if (!t->name)
		goto err_free;
	ret = m2d_coro_init(&t->coro, sim->cfg.stack_size, thread_main, t);
	if (ret)
		goto err_free_name;
	m2d_ctx_init(sim, t);
	t->cpu = cpu;
	t->id = sim->nr_threads++;
	t->fn = fn;
	t->arg = arg;
	t->hot.thread = t;
	/* A thread created by a running thread cannot start in its past. */
	if (creator && creator->sim == sim && start < creator->hot.clock)
		start = creator->hot.clock;
	t->hot.clock = start;
	*sim->all_tail = t;
	sim->all_tail = &t->next_all;
	t->next_on_cpu = sim->by_cpu[cpu];
	sim->by_cpu[cpu] = t;
	heap_push(sim, t);
	if (M2D_TRACE_ON(sim))
		m2d_trace_record(sim, t->id, 'i', "start", start, 0);
	return t;

err_free_name:
	m2d_free_str(M2D_ALLOC_ENGINE, t->name);
err_free:
	m2d_free(M2D_ALLOC_ENGINE, t, sizeof(*t));
err:
	if (err)
		*err = ret;
	return NULL;
}

void m2d_threads_free(struct m2d_sim *sim)
{
	while (sim->all) {
		struct m2d_thread *t = sim->all;

		sim->all = t->next_all;
		m2d_coro_fini(&t->coro);
		m2d_ctx_fini(t);
		m2d_free_str(M2D_ALLOC_ENGINE, t->name);
		m2d_free(M2D_ALLOC_ENGINE, t, sizeof(*t));
	}
	sim->all_tail = &sim->all;
	m2d_free(M2D_ALLOC_ENGINE, sim->heap, sim->heap_cap * sizeof(*sim->heap));
	sim->heap = NULL;
	sim->heap_n = sim->heap_cap = 0;
}

/* ---- switching ------------------------------------------------------------ */

/*
 * The next thread to run, after running RCU callbacks whose grace period
 * ended at or before its clock (they may wake threads, so re-check).
 */
static struct m2d_thread *pick_next(struct m2d_sim *sim)
{
	for (;;) {
		m2d_vtime_t upto = sim->heap_n ? sim->heap[0].clock : UINT64_MAX;

		if (unlikely(sim->rcu.ready_at != UINT64_MAX && sim->rcu.ready_at <= upto)) {
			m2d_rcu_run_ready(sim, upto);
			continue;
		}
		return sim->heap_n ? heap_pop(sim) : NULL;
	}
}

static void resume(struct m2d_sim *sim, struct m2d_coro *from, struct m2d_thread *n, bool final)
{
	struct m2d_coro *to = n ? &n->coro : &sim->host;

	sim->running = n;
	m2d_cur = n ? &n->hot : NULL;
	sim->counters[M2D_CTR_context_switches]++;
	if (final) {
		/* the next context to run unmaps our stack (we are still on it) */
		sim->zombie = container_of(from, struct m2d_thread, coro);
		m2d_coro_transfer_final(from, to);
	}
	m2d_coro_transfer(from, to);
	if (sim->zombie) {
		m2d_coro_fini(&sim->zombie->coro);
		sim->zombie = NULL;
	}
}

static void switch_away(struct m2d_thread *t, bool final)
{
	struct m2d_sim *sim = t->sim;
	struct m2d_thread *n = pick_next(sim);

	if (n == t) {
		/* an RCU callback run by pick_next() woke @t itself */
		sim->running = t;
		m2d_cur = &t->hot;
		return;
	}
	resume(sim, &t->coro, n, final);
	/* resumed: whoever switched to us set m2d_cur and sim->running */
}

/* Slow path of m2d_sched_point(): the heap's top is behind @t. */
static void yield_to_top(struct m2d_thread *t)
{
	struct m2d_sim *sim = t->sim;
	struct m2d_thread *n = sim->heap[0].t;

	/* Replace the top by @t and resume the old top: one sift. */
	n->in_heap = false;
	t->in_heap = true;
	sim->heap[0] = ent_of(t);
	sift_down(sim, 0);
	resume(sim, &t->coro, n, false);
}

void m2d_sched_point(void)
{
	struct m2d_thread *t = cur_ctx();
	struct m2d_sim *sim;

	if (!t || !t->hot.thread)
		return;
	sim = t->sim;
	if (unlikely(sim->rcu.ready_at <= t->hot.clock))
		m2d_rcu_run_ready(sim, t->hot.clock);
	if (top_before(sim, t))
		yield_to_top(t);
}

void m2d_sim_sched_point(void)
{
	m2d_sched_point();
}

/*
 * need_resched(): the kernel sets it when another task wants *this* CPU.
 * Threads on other CPUs being behind in virtual time is not a reason to
 * reschedule (sched points already interleave them), so only a runnable
 * thread bound to the same host CPU and behind this one counts.
 */
bool m2d_need_resched(void)
{
	struct m2d_thread *t = cur_ctx();

	if (!t || !t->hot.thread)
		return false;
	for (struct m2d_thread *o = t->sim->by_cpu[t->cpu]; o; o = o->next_on_cpu)
		if (o != t && o->state == M2D_TS_RUNNABLE && before(o, t))
			return true;
	return false;
}

/* Block the running thread @t until m2d_sched_wake(). */
void m2d_sched_block(struct m2d_thread *t)
{
	struct m2d_sim *sim = t->sim;

	M2D_BUG_ON(t != sim->running);
	if (!t->spinning && t->nr_held)
		m2d_lock_owner_sleeps(t, 0);
	t->state = M2D_TS_BLOCKED;
	sim->nr_blocked++;
	switch_away(t, false);
	t->spinning = false;
	t->wait_what = NULL;
}

/*
 * m2d_sched_wake() - make blocked @t runnable at virtual time @at (or its
 * own clock if later, or the end of an interrupt handler it took while
 * spinning); the waited time goes to category @cat.
 */
void m2d_sched_wake(struct m2d_thread *t, m2d_vtime_t at, unsigned cat)
{
	struct m2d_sim *sim = t->sim;

	M2D_BUG_ON(t->state != M2D_TS_BLOCKED);
	/* interrupts taken while spinning: their time is already in the breakdown */
	if (t->irq_busy_until > at)
		at = t->irq_busy_until;
	if (at > t->hot.clock) {
		m2d_vtime_t waited = at - t->hot.clock;

		waited = waited > t->irq_debt_ns ? waited - t->irq_debt_ns : 0;
		if (M2D_TRACE_ON(sim))
			m2d_trace_record(sim, t->id, 'X', sim->cats[cat].name, t->hot.clock,
					 at - t->hot.clock);
		m2d_thread_charge_cat(t, cat, (double)waited);
		t->hot.clock = at;
	}
	t->irq_debt_ns = 0;
	t->irq_busy_until = 0;
	/* a sleeping owner: its locks' spinners see it back on a CPU only from @at */
	if (!t->spinning && t->nr_held)
		m2d_lock_owner_sleeps(t, t->hot.clock);
	t->state = M2D_TS_RUNNABLE;
	sim->nr_blocked--;
	heap_push(sim, t);
}

static void report_deadlock(struct m2d_sim *sim)
{
	fprintf(stderr, "mmu2d: deadlock: every simulated thread is blocked\n");
	for (struct m2d_thread *t = sim->all; t; t = t->next_all)
		if (t->state == M2D_TS_BLOCKED)
			fprintf(stderr, "  thread %d '%s' (cpu %d, t=%llu ns) waits for %s\n", t->id,
				t->name, t->cpu, (unsigned long long)t->hot.clock,
				t->wait_what ? t->wait_what : "?");
}

int m2d_sim_run(struct m2d_sim *sim)
{
	struct m2d_thread_hot *saved = m2d_cur;
	struct m2d_thread *n;

	M2D_VALIDATE_OR_RET(sim && !sim->in_run, -EINVAL);
	sim->in_run = true;
	m2d_coro_init_host(&sim->host);
	n = pick_next(sim);
	if (n)
		resume(sim, &sim->host, n, false);
	m2d_cur = saved;
	sim->running = NULL;
	sim->in_run = false;
	for (struct m2d_thread *t = sim->all; t; t = t->next_all) {
		if (t->hot.clock > sim->max_time)
			sim->max_time = t->hot.clock;
		if (t->state == M2D_TS_EXITED)
			m2d_coro_fini(&t->coro);
	}
	if (sim->nr_blocked) {
		report_deadlock(sim);
		return M2D_E_DEADLOCK;
	}
	m2d_rcu_flush_all(sim);
	return 0;
}

int m2d_sim_spawn(struct m2d_sim *sim, int cpu, const char *name, m2d_sim_thread_fn fn, void *arg)
{
	int err = 0;

	M2D_VALIDATE_OR_RET(sim && fn, -EINVAL);
	return m2d_thread_create(sim, cpu, name, fn, arg, 0, &err) ? 0 : err;
}

/* ---- thread attributes ------------------------------------------------- */

struct m2d_sim *m2d_current_sim(void)
{
	return m2d_cur ? m2d_cur->sim : NULL;
}

struct m2d_thread *m2d_current(void)
{
	return m2d_cur ? m2d_cur->thread : NULL;
}

int m2d_current_cpu(void)
{
	struct m2d_thread *t = m2d_current();

	return t ? t->cpu : 0;
}

void m2d_thread_set_guest_mode(bool in_guest)
{
	struct m2d_thread *t = m2d_current();

	if (t)
		t->in_guest = in_guest;
}

bool m2d_thread_in_guest_mode(const struct m2d_thread *t)
{
	return t->in_guest;
}

const char *m2d_thread_name(const struct m2d_thread *t)
{
	return t->name;
}

int m2d_thread_cpu(const struct m2d_thread *t)
{
	return t->cpu;
}

int m2d_thread_id(const struct m2d_thread *t)
{
	return t->id;
}

m2d_vtime_t m2d_thread_now(void)
{
	return m2d_now();
}

void m2d_thread_work(double ns)
{
	struct m2d_thread *t = cur_ctx();
	uint64_t whole, f;

	if (!(ns > 0))
		return;
	whole = (uint64_t)ns;
	f = t->hot.frac + (uint64_t)((ns - (double)whole) * (double)(1ull << M2D_COST_FP_SHIFT));
	whole += f >> M2D_COST_FP_SHIFT;
	t->hot.frac = f & ((1ull << M2D_COST_FP_SHIFT) - 1);
	t->hot.clock += whole;
	m2d_thread_charge_cat(t, M2D_CAT_WORK, (double)whole);
}

/* ---- PRNG: splitmix64, one stream per simulation ---------------------------- */

uint64_t m2d_rand(void)
{
	struct m2d_sim *sim = m2d_current_sim();
	uint64_t z = (sim->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t m2d_rand_below(uint64_t n)
{
	return n ? m2d_rand() % n : 0;
}

/* ---- engine_enter / leave --------------------------------------------------- */

/*
 * Called from a simulated thread of @sim (model code that brackets itself,
 * e.g. m2d_vm_create() from a VMM thread), enter/leave change nothing: the
 * thread keeps charging itself, its locks can wait, and RCU keeps its
 * grace periods.
 */
void m2d_engine_enter(struct m2d_sim *sim)
{
	if (sim->enter_depth++ == 0) {
		sim->saved_cur = m2d_cur;
		sim->enter_in_thread = m2d_cur && m2d_cur->sim == sim && m2d_cur->thread;
		if (!sim->enter_in_thread)
			m2d_cur = &sim->outside.hot;
	}
}

void m2d_engine_leave(struct m2d_sim *sim)
{
	M2D_BUG_ON(sim->enter_depth <= 0);
	if (sim->enter_depth == 1 && !sim->enter_in_thread && !sim->in_run)
		m2d_rcu_flush_all(sim);
	if (--sim->enter_depth == 0 && !sim->enter_in_thread)
		m2d_cur = sim->saved_cur;
}

/* ---- wait queues ------------------------------------------------------------ */

/*
 * A wait queue is a FIFO of blocked threads: wq->state points at the tail
 * of a circular singly-linked list through thread->wait_next (no
 * allocation, so completions and barriers need no fini).
 */
void m2d_waitqueue_init(struct m2d_waitqueue *wq, const char *name)
{
	wq->state = NULL;
	wq->name = name ? name : "waitqueue";
}

void m2d_waitqueue_fini(struct m2d_waitqueue *wq)
{
	M2D_BUG_ON(wq->state);
}

void m2d_wait(struct m2d_waitqueue *wq, bool spin)
{
	struct m2d_thread *t = cur_ctx(), *tail = wq->state;

	if (!t || !t->hot.thread) {
		char msg[200];

		snprintf(msg, sizeof(msg),
			 "wait on '%s' outside a simulated thread would block forever", wq->name);
		m2d_die(msg);
	}
	if (!spin)
		m2d_lockdep_might_sleep(wq->name);
	t->wait_cat = m2d_category_get(t->sim, "wait:", wq->name);
	t->wait_since = t->hot.clock;
	t->wait_what = wq->name;
	t->spinning = spin;
	if (tail) {
		t->wait_next = tail->wait_next;
		tail->wait_next = t;
	} else {
		t->wait_next = t;
	}
	wq->state = t;
	m2d_sched_block(t);
}

/* Wake the first @max waiters (FIFO). Return: number woken. */
static unsigned wake_up_n(struct m2d_waitqueue *wq, unsigned max)
{
	struct m2d_thread *self = cur_ctx();
	m2d_vtime_t now = self ? self->hot.clock : 0;
	unsigned n = 0;

	while (wq->state && n < max) {
		struct m2d_thread *tail = wq->state, *w = tail->wait_next;
		m2d_vtime_t at = M2D_MAX(now, w->hot.clock);

		if (w == tail)
			wq->state = NULL;
		else
			tail->wait_next = w->wait_next;
		w->wait_next = NULL;
		if (!w->spinning)
			at += (m2d_vtime_t)w->sim->cost_ns[M2D_COST_SLEEP_WAKEUP];
		m2d_sched_wake(w, at, w->wait_cat);
		n++;
	}
	return n;
}

unsigned m2d_wake_up_all(struct m2d_waitqueue *wq)
{
	return wake_up_n(wq, UINT32_MAX);
}

/* ---- completion --------------------------------------------------------------- */

void m2d_init_completion(struct m2d_completion *c, const char *name)
{
	c->done = 0;
	c->done_at = 0;
	m2d_waitqueue_init(&c->wq, name);
}

/*
 * wait_for_completion(): a synchronisation point; if complete() already
 * happened in execution order but at a later virtual time (the completer
 * ran ahead), the waiter still waits until that time.
 */
void m2d_wait_for_completion(struct m2d_completion *c)
{
	struct m2d_thread *t = cur_ctx();

	m2d_sched_point();
	m2d_wait_event(&c->wq, c->done, false);
	if (c->done != UINT32_MAX)
		c->done--;
	if (t && t->hot.thread && c->done_at > t->hot.clock) {
		/* it would have slept until complete() and been woken */
		m2d_vtime_t at = c->done_at + (m2d_vtime_t)t->sim->cost_ns[M2D_COST_SLEEP_WAKEUP];
		unsigned cat = m2d_category_get(t->sim, "wait:", c->wq.name);

		if (t->nr_held)
			m2d_lock_owner_sleeps(t, at);
		m2d_thread_charge_cat(t, cat, (double)(at - t->hot.clock));
		t->hot.clock = at;
	}
}

static void completion_stamp(struct m2d_completion *c)
{
	struct m2d_thread *t = cur_ctx();

	if (t && t->hot.clock > c->done_at)
		c->done_at = t->hot.clock;
}

void m2d_complete(struct m2d_completion *c)
{
	if (c->done != UINT32_MAX)
		c->done++;
	completion_stamp(c);
	wake_up_n(&c->wq, 1);
}

void m2d_complete_all(struct m2d_completion *c)
{
	c->done = UINT32_MAX;
	completion_stamp(c);
	m2d_wake_up_all(&c->wq);
}

/* ---- barrier (pthread_barrier_wait) --------------------------------------------- */

void m2d_barrier_init(struct m2d_barrier *b, unsigned n, const char *name)
{
	b->n = n ? n : 1;
	b->arrived = 0;
	b->generation = 0;
	m2d_waitqueue_init(&b->wq, name);
}

bool m2d_barrier_wait(struct m2d_barrier *b)
{
	unsigned gen;

	/* Arrivals are synchronisation points: they happen in virtual-time order. */
	m2d_sched_point();
	gen = b->generation;
	if (++b->arrived == b->n) {
		b->arrived = 0;
		b->generation++;
		m2d_wake_up_all(&b->wq);
		return true;
	}
	m2d_wait_event(&b->wq, b->generation != gen, false);
	return false;
}
