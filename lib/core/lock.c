// SPDX-License-Identifier: MIT
/*
 * lib/core/lock.c - kernel locks in virtual time, lock_stat counters and
 * lockdep-style checking.
 *
 * Sources: kernel/locking/qspinlock.c (queued spinlock: FIFO MCS queue,
 * waiters spin), kernel/locking/qrwlock.c (readers share; once a writer
 * waits, _QW_WAITING sends later readers to the queue), kernel/locking/
 * mutex.c and rwsem.c (waiters sleep; wake-up latency; handoff to the
 * first waiter; optimistic spinning on a running owner), kernel/locking/
 * lockdep.c (what misuse looks like).
 *
 * The virtual-time rule (docs/virtual-time.md 2).  A request is a
 * synchronisation point, so requests arrive in non-decreasing virtual time.
 * A holder, however, runs ahead without yielding, so it may release at a
 * virtual time later than requests of threads that have not run yet.  Each
 * lock therefore remembers the virtual time of its last exclusive release
 * (released_at) and the latest shared release (read_released_at):
 *
 *  - a request at t on a lock that is free in execution order, with no
 *    waiter queued, is granted at max(t, relevant release); if that release
 *    is later than t the request was contended: it waits until the release
 *    plus a handoff (cache-line transfer, NUMA-distance dependent) and, for
 *    sleeping locks, the wake-up latency;
 *  - a request that conflicts with the holder (in execution order), or
 *    arrives while others wait, queues FIFO and blocks;
 *  - a release at r grants the queue head at max(r, its request time) +
 *    handoff (+ SLEEP_WAKEUP); a head of readers is granted together.
 *
 * Sleeping locks (CONFIG_MUTEX_SPIN_ON_OWNER, CONFIG_RWSEM_SPIN_ON_OWNER):
 * an exclusive waiter of a mutex, or a writer of an rwsem held by a writer,
 * spins on the owner while the owner runs (mutex_optimistic_spin: the OSQ
 * keeps one spinner on the owner, the others spin on their own nodes), so
 * its grant costs a handoff and no SLEEP_WAKEUP unless the owner slept
 * while holding it (owner->on_cpu cleared: the spinners give up and
 * sleep).  Readers of an rwsem do not spin (5.19+, "locking/rwsem: Remove
 * reader optimistic spinning"), and a release with a reader at the head
 * wakes every queued reader, writers keep their place (rwsem_mark_wake:
 * phase-fair, up to MAX_READERS_WAKEUP).  A spinner takes a freed lock
 * ahead of a sleeping head (spinner_steals), once per mutex head and for an
 * rwsem until the head has waited RWSEM_WAIT_TIMEOUT.  folio_lock-style bit
 * locks (m2d_sleep_lock_init) never spin.
 *
 * The lock word is a cache line (struct m2d_cacheline's rule): every
 * acquisition and every shared release is an atomic RMW on it, serialised
 * in virtual time, paying a line transfer when another CPU wrote it last.
 * This is what limits 48 vCPUs faulting under read_lock(&kvm->mmu_lock):
 * readers never wait for each other, but their two RMWs per fault take
 * turns on one line (MECHANISMS.md 4.1, docs/model.md).  Shared releases
 * are therefore synchronisation points too.
 *
 * Ordering guarantees: FIFO among waiters of one lock, except that an
 * rwsem grants every queued reader together and a spinner may pass the
 * sleeping head of a mutex or rwsem (above); a waiting writer blocks later
 * readers (no writer starvation).
 * Progress guarantees: those of the modelled kernel lock; lock cycles are
 * caught by lockdep ranks in debug builds and by deadlock detection always.
 *
 * Waiting time (spinning or sleeping) goes to breakdown category
 * "wait:<class>", so a replay says where its time went.
 */
#include "core/alloc.h"
#include "core/engine_internal.h"

#include <mmu2d/error.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum lock_kind {
	K_SPIN = 0,
	K_RWLOCK,
	K_MUTEX,
	K_RWSEM,
};

static const char *const kind_names[] = { "spinlock", "rwlock", "mutex", "rw_semaphore" };

static bool kind_sleeps(unsigned kind)
{
	return kind == K_MUTEX || kind == K_RWSEM;
}

/* ---- lockdep reporting ------------------------------------------------------ */

__attribute__((noreturn, format(printf, 1, 2))) static void lockdep_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	struct m2d_thread *t = cur_ctx();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "mmu2d lockdep: %s\n", msg);
	if (t) {
		fprintf(stderr, "  in %s '%s' at t=%llu ns, holding %u lock(s):\n",
			t->hot.thread ? "thread" : "context", t->hot.thread ? t->name : "outside",
			(unsigned long long)t->hot.clock, t->nr_held);
		for (unsigned i = 0; i < t->nr_held; i++)
			fprintf(stderr, "    #%u %s (%s, rank %u)\n", i, t->held[i].lock->name,
				t->held[i].shared ? "read" : "write", t->held[i].lock->rank);
	}
	m2d_die(msg);
}

void m2d_lockdep_might_sleep(const char *what)
{
#if M2D_DEBUG_CHECKS
	struct m2d_thread *t = cur_ctx();

	if (!t)
		return;
	if (t->nr_atomic)
		lockdep_fail("sleeping in '%s' while holding a spinning lock (BUG: sleeping function "
			     "called from invalid context)", what);
	if (t->rcu_nesting)
		lockdep_fail("sleeping in '%s' inside an RCU read-side critical section", what);
#else
	(void)what;
#endif
}

/* ---- classes -------------------------------------------------------------------- */

static struct m2d_lock_class *class_lookup(struct m2d_sim *sim, const char *name, unsigned rank)
{
	struct m2d_lock_class *k;

	for (k = sim->classes; k; k = k->next)
		if (!strcmp(k->name, name))
			return k;
	k = m2d_zalloc(M2D_ALLOC_ENGINE, sizeof(*k));
	if (k)
		k->name = m2d_strdup(M2D_ALLOC_ENGINE, name);
	if (!k || !k->name) {
		/* out of memory: account this lock under the sim's fallback class */
		m2d_free(M2D_ALLOC_ENGINE, k, sizeof(*k));
		return &sim->oom_class;
	}
	k->sim = sim;
	k->rank = rank;
	k->cat = m2d_category_get(sim, "wait:", k->name);
	*sim->classes_tail = k;
	sim->classes_tail = &k->next;
	return k;
}

void m2d_lock_classes_free(struct m2d_sim *sim)
{
	while (sim->classes) {
		struct m2d_lock_class *k = sim->classes;

		sim->classes = k->next;
		m2d_free_str(M2D_ALLOC_ENGINE, k->name);
		m2d_free(M2D_ALLOC_ENGINE, k, sizeof(*k));
	}
	sim->classes_tail = &sim->classes;
}

/*
 * The lock's class in @sim, bound on first use.  A lock last used by
 * another (possibly destroyed) sim is rebound with fresh engine state; the
 * generation check never dereferences a stale class.
 */
static inline struct m2d_lock_class *class_of(struct m2d_lock_common *c, struct m2d_sim *sim)
{
	if (likely(c->cls && c->sim_gen == sim->gen))
		return c->cls;
	c->wait_head = c->wait_tail = NULL;
	c->released_at = c->read_released_at = c->line_free_at = 0;
	c->last_cpu = -1;
	c->cls = class_lookup(sim, c->name, c->rank);
	c->sim_gen = sim->gen;
	return c->cls;
}

static void common_init(struct m2d_lock_common *c, const char *name, enum m2d_lock_rank rank,
			unsigned kind)
{
	memset(c, 0, sizeof(*c));
	c->name = name ? name : kind_names[kind];
	c->rank = (uint16_t)rank;
	c->kind = (uint8_t)kind;
	c->spin_on_owner = kind == K_MUTEX || kind == K_RWSEM;
	c->last_cpu = -1;
}

/* ---- cache lines ---------------------------------------------------------------- */

static inline int ctx_cpu(const struct m2d_thread *t)
{
	return t->hot.thread ? t->cpu : -1;
}

/*
 * One RMW on a line free at *@free_at, last written by *@line_cpu, no
 * earlier than @not_before.  Waiting goes to @wait_cat, the RMW itself to
 * LOCK_ACQUIRE (local) or LOCK_HANDOFF (transfer).  Return: the wait.
 */
static m2d_vtime_t line_rmw(struct m2d_thread *t, m2d_vtime_t *free_at, int32_t *line_cpu,
			    m2d_vtime_t not_before, unsigned wait_cat)
{
	struct m2d_sim *sim = t->sim;
	int cpu = ctx_cpu(t);
	m2d_vtime_t now = t->hot.clock;
	m2d_vtime_t start = M2D_MAX(M2D_MAX(now, not_before), *free_at);
	bool local = *line_cpu < 0 || *line_cpu == cpu;
	double d = local ? sim->cost_ns[M2D_COST_LOCK_ACQUIRE] : m2d_handoff_ns(sim, *line_cpu, cpu);
	m2d_vtime_t end = start + (m2d_vtime_t)d;

	if (start > now) {
		if (M2D_TRACE_ON(sim))
			m2d_trace_record(sim, ctx_tid(t), 'X', sim->cats[wait_cat].name, now,
					 start - now);
		m2d_thread_charge_cat(t, wait_cat, (double)(start - now));
	}
	t->hot.breakdown[local ? M2D_COST_LOCK_ACQUIRE : M2D_COST_LOCK_HANDOFF] += end - start;
	t->hot.clock = end;
	*free_at = end;
	*line_cpu = cpu;
	return start - now;
}

void m2d_cacheline_init(struct m2d_cacheline *line)
{
	line->free_at = 0;
	line->cpu = -1;
	line->cat = 0;
}

void m2d_cacheline_rmw(struct m2d_cacheline *line)
{
	struct m2d_thread *t = cur_ctx();

	if (t->hot.thread)
		m2d_sched_point();
	if (!line->cat)
		line->cat = m2d_category_get(t->sim, "wait:", "cacheline");
	line_rmw(t, &line->free_at, &line->cpu, 0, line->cat);
}

void m2d_serial_init(struct m2d_serial *s, const char *name)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
}

static void serial_reset(struct m2d_serial *s, struct m2d_sim *sim)
{
	if (s->sim_gen != sim->gen || !s->cat) {
		s->free_at = 0;
		s->cat = m2d_category_get(sim, "wait:", s->name ? s->name : "serial");
		s->sim_gen = sim->gen;
	}
}

void m2d_serial_overlap(struct m2d_serial *s, enum m2d_cost local, uint64_t local_n,
			enum m2d_cost occ, uint64_t occ_n)
{
	struct m2d_thread *t = cur_ctx();
	struct m2d_sim *sim = t->sim;
	m2d_vtime_t now, start, end;

	if (t->hot.thread)
		m2d_sched_point();
	serial_reset(s, sim);
	now = t->hot.clock;
	start = M2D_MAX(now, s->free_at);
	end = start + (m2d_vtime_t)(sim->cost_ns[occ] * (double)occ_n);
	s->free_at = end;
	m2d_delay(local, local_n);
	if (end > t->hot.clock) {
		if (M2D_TRACE_ON(sim))
			m2d_trace_record(sim, ctx_tid(t), 'X', sim->cats[s->cat].name, t->hot.clock,
					 end - t->hot.clock);
		m2d_thread_charge_cat(t, s->cat, (double)(end - t->hot.clock));
		t->hot.clock = end;
	}
}

void m2d_serial_delay(struct m2d_serial *s, enum m2d_cost id, uint64_t count)
{
	struct m2d_thread *t = cur_ctx();
	struct m2d_sim *sim = t->sim;
	m2d_vtime_t now, start;

	if (!count)
		return;
	if (t->hot.thread)
		m2d_sched_point();
	serial_reset(s, sim);
	now = t->hot.clock;
	start = M2D_MAX(now, s->free_at);
	if (start > now) {
		if (M2D_TRACE_ON(sim))
			m2d_trace_record(sim, ctx_tid(t), 'X', sim->cats[s->cat].name, now,
					 start - now);
		m2d_thread_charge_cat(t, s->cat, (double)(start - now));
		t->hot.clock = start;
	}
	m2d_delay(id, count);
	s->free_at = t->hot.clock;
}

void m2d_spin_lock_init(struct m2d_spinlock *l, const char *name, enum m2d_lock_rank rank)
{
	memset(l, 0, sizeof(*l));
	common_init(&l->c, name, rank, K_SPIN);
}

void m2d_rwlock_init(struct m2d_rwlock *l, const char *name, enum m2d_lock_rank rank)
{
	memset(l, 0, sizeof(*l));
	common_init(&l->c, name, rank, K_RWLOCK);
}

void m2d_mutex_init(struct m2d_mutex *l, const char *name, enum m2d_lock_rank rank)
{
	memset(l, 0, sizeof(*l));
	common_init(&l->c, name, rank, K_MUTEX);
}

/*
 * A sleeping lock whose waiters never spin: folio_lock (the PG_locked bit,
 * folio_wait_bit_common: waiters queue on a hashed waitqueue and sleep).
 */
void m2d_sleep_lock_init(struct m2d_mutex *l, const char *name, enum m2d_lock_rank rank)
{
	m2d_mutex_init(l, name, rank);
	l->c.spin_on_owner = 0;
}

void m2d_rwsem_init(struct m2d_rwsem *l, const char *name, enum m2d_lock_rank rank)
{
	memset(l, 0, sizeof(*l));
	common_init(&l->c, name, rank, K_RWSEM);
}

void m2d_lock_fini(struct m2d_lock_common *c)
{
	if (!c)
		return;
	M2D_BUG_ON(c->wait_head);
	c->cls = NULL;
}

/* ---- costs ------------------------------------------------------------------------ */

/* Cache-line transfer from the releasing CPU to the acquiring one. */
double m2d_handoff_ns(struct m2d_sim *sim, int from_cpu, int to_cpu)
{
	double ns = sim->cost_ns[M2D_COST_LOCK_HANDOFF];

	if (from_cpu >= 0 && to_cpu >= 0) {
		unsigned a = (unsigned)sim->cpu_node[from_cpu], b = (unsigned)sim->cpu_node[to_cpu];
		int d = sim->distance[a * sim->cfg.nodes + b];

		if (d > 10)
			ns += sim->cost_ns[M2D_COST_LOCK_HANDOFF_HOP] * (d - 10);
	}
	return ns;
}

/*
 * The delay of a contended grant to @to_cpu.  A spinning lock handed from
 * an exclusive owner to a queued exclusive waiter (@queued_excl: qspinlock,
 * or qrwlock's queued_write_lock_slowpath) costs LOCK_HANDOFF_QUEUED, the
 * chain of the unlock store, the queue head's read and acquiring atomic and
 * the wait_lock/MCS hand-on; any other grant one line transfer
 * (LOCK_HANDOFF).  Both add LOCK_HANDOFF_HOP per SLIT unit above 10;
 * sleeping locks add the wake-up of a waiter that slept (@asleep); one that
 * spun on a running owner (mutex_optimistic_spin, rwsem_optimistic_spin)
 * takes the lock word like a spinner.
 */
static m2d_vtime_t grant_delay(struct m2d_sim *sim, const struct m2d_lock_common *c, int to_cpu,
			       bool queued_excl, bool asleep)
{
	double ns = m2d_handoff_ns(sim, c->last_cpu, to_cpu);

	if (kind_sleeps(c->kind)) {
		if (asleep)
			ns += sim->cost_ns[M2D_COST_SLEEP_WAKEUP];
	} else if (queued_excl)
		ns += sim->cost_ns[M2D_COST_LOCK_HANDOFF_QUEUED] - sim->cost_ns[M2D_COST_LOCK_HANDOFF];
	return (m2d_vtime_t)ns;
}

/* ---- held-lock stack -------------------------------------------------------------- */

static void check_acquire(struct m2d_thread *t, struct m2d_lock_common *c)
{
#if M2D_DEBUG_CHECKS
	if (kind_sleeps(c->kind))
		m2d_lockdep_might_sleep(c->name);
	for (unsigned i = 0; i < t->nr_held; i++) {
		const struct m2d_lock_common *h = t->held[i].lock;

		if (h == c)
			lockdep_fail("recursive locking: '%s' (%s) is already held by this thread",
				     c->name, kind_names[c->kind]);
		if (c->rank && h->rank && h->rank >= c->rank)
			lockdep_fail("lock order violation: acquiring '%s' (rank %u) while holding "
				     "'%s' (rank %u); ranks must increase (MECHANISMS.md 9)",
				     c->name, c->rank, h->name, h->rank);
	}
#else
	(void)t;
	(void)c;
#endif
}

static void held_push(struct m2d_thread *t, struct m2d_lock_common *c, bool shared)
{
	struct held_lock *h;

	if (unlikely(t->nr_held == M2D_MAX_HELD))
		lockdep_fail("more than %d locks held at once (taking '%s')", M2D_MAX_HELD, c->name);
	h = &t->held[t->nr_held++];
	h->lock = c;
	h->since = t->hot.clock;
	h->shared = shared;
	if (!kind_sleeps(c->kind))
		t->nr_atomic++;
}

/* Remove @c from @t's held stack. Return: when it was acquired. */
static m2d_vtime_t held_pop(struct m2d_thread *t, struct m2d_lock_common *c, bool shared)
{
	for (unsigned i = t->nr_held; i-- > 0;) {
		struct held_lock *h = &t->held[i];
		m2d_vtime_t since;

		if (h->lock != c)
			continue;
		if (h->shared != shared)
			lockdep_fail("'%s' released in %s mode but held in %s mode", c->name,
				     shared ? "read" : "write", h->shared ? "read" : "write");
		since = h->since;
		if (i + 1 < t->nr_held)
			memmove(h, h + 1, (t->nr_held - i - 1) * sizeof(*h));
		t->nr_held--;
		if (!kind_sleeps(c->kind))
			t->nr_atomic--;
		return since;
	}
	lockdep_fail("unlocking '%s' (%s), which this thread does not hold", c->name,
		     kind_names[c->kind]);
}

/*
 * @t sleeps (schedule() with owner->on_cpu cleared): the waiters spinning on
 * it in the sleeping locks it owns stop spinning (mutex_spin_on_owner
 * returns false) and sleep on the wait list.
 */
void m2d_lock_owner_sleeps(struct m2d_thread *t, m2d_vtime_t until)
{
	for (unsigned i = 0; i < t->nr_held; i++) {
		struct m2d_lock_common *c = t->held[i].lock;

		if (t->held[i].shared || !kind_sleeps(c->kind))
			continue;
		c->owner_slept = 1;
		if (until > c->owner_asleep_until)
			c->owner_asleep_until = until;
		for (struct m2d_thread *w = c->wait_head; w; w = w->wait_next)
			if (!until || w->wait_since < until)
				w->spinning = false;
	}
}

static const struct held_lock *held_find(const struct m2d_thread *t, const struct m2d_lock_common *c)
{
	for (unsigned i = t->nr_held; i-- > 0;)
		if (t->held[i].lock == c)
			return &t->held[i];
	return NULL;
}

/* ---- statistics ------------------------------------------------------------------- */

static void stat_acquired(struct m2d_lock_class *k, uint64_t wait)
{
	k->st.acquisitions++;
	if (wait) {
		k->st.contended++;
		k->st.wait_ns += wait;
		if (wait > k->st.wait_max_ns)
			k->st.wait_max_ns = wait;
		k->sim->counters[M2D_CTR_lock_contended]++;
	}
}

static void stat_released(struct m2d_thread *t, struct m2d_lock_common *c, m2d_vtime_t since)
{
	struct m2d_lock_class *k = c->cls;
	m2d_vtime_t now = t->hot.clock;
	uint64_t hold = now > since ? now - since : 0;

	k->st.hold_ns += hold;
	if (hold > k->st.hold_max_ns)
		k->st.hold_max_ns = hold;
	if (M2D_TRACE_ON(t->sim))
		m2d_trace_record(t->sim, ctx_tid(t), 'X', k->name, since, hold);
}

/* ---- the generic engine ----------------------------------------------------------- */

/*
 * Views of the four lock layouts: @owner is the exclusive holder slot,
 * @readers the shared count (NULL for spinlock/mutex).
 */
struct lk {
	struct m2d_lock_common *c;
	struct m2d_thread **owner;
	unsigned *readers;
};

/*
 * @owner: the exclusive owner of @c, or NULL.  An exclusive waiter of a lock
 * that spins on its owner spins while that owner is on a CPU (runnable, or
 * itself spinning): mutex_spin_on_owner's owner->on_cpu.
 */
static void enqueue(struct m2d_lock_common *c, struct m2d_thread *t, bool shared,
		    const struct m2d_thread *owner)
{
	bool owner_runs = owner && (owner->state != M2D_TS_BLOCKED || owner->spinning) &&
			  t->hot.clock >= c->owner_asleep_until;

	t->wait_next = NULL;
	t->wait_since = t->hot.clock;
	t->wait_mode = shared ? M2D_WAIT_SHARED : M2D_WAIT_EXCL;
	t->wait_cat = c->cls->cat;
	t->wait_what = c->name;
	t->spinning = !kind_sleeps(c->kind) || (!shared && c->spin_on_owner && owner_runs);
	t->lock_handoff = false;
	if (c->wait_tail)
		c->wait_tail->wait_next = t;
	else
		c->wait_head = t;
	c->wait_tail = t;
}

static struct m2d_thread *dequeue(struct m2d_lock_common *c)
{
	struct m2d_thread *w = c->wait_head;

	c->wait_head = w->wait_next;
	if (!c->wait_head)
		c->wait_tail = NULL;
	w->wait_next = NULL;
	return w;
}

static void outside_cannot_wait(struct m2d_lock_common *c)
{
	lockdep_fail("'%s' is held by a simulated thread; code outside simulated threads "
		     "(m2d_engine_enter, RCU callbacks) cannot wait for it", c->name);
}

/* Take @w out of @c's queue wherever it is. */
static void unlink_waiter(struct m2d_lock_common *c, struct m2d_thread *w)
{
	struct m2d_thread **pp = &c->wait_head, *prev = NULL;

	while (*pp != w) {
		prev = *pp;
		pp = &(*pp)->wait_next;
	}
	*pp = w->wait_next;
	if (c->wait_tail == w)
		c->wait_tail = prev;
	w->wait_next = NULL;
}

static void grant_excl(struct m2d_sim *sim, struct lk *l, struct m2d_thread *w, m2d_vtime_t r,
		       bool excl_release)
{
	struct m2d_lock_common *c = l->c;
	m2d_vtime_t g = M2D_MAX(r, w->wait_since) +
			grant_delay(sim, c, w->cpu, excl_release, !w->spinning);

	c->owner_slept = 0;
	*l->owner = w;
	c->line_free_at = M2D_MAX(c->line_free_at, g);
	c->last_cpu = w->cpu;
	stat_acquired(c->cls, g - w->wait_since);
	m2d_sched_wake(w, g, c->cls->cat);
}

#define RWSEM_WAIT_TIMEOUT_NS 4000000 /* DIV_ROUND_UP(HZ, 250) jiffies at HZ=1000 */

/*
 * A free sleeping lock whose queue head sleeps goes to a waiter spinning
 * behind it (mutex_optimistic_spin, rwsem_optimistic_spin take it while the
 * woken head is on its way), unless the head was passed over once already
 * (MUTEX_FLAG_HANDOFF: the woken head that fails asks for a direct
 * handoff) or has waited RWSEM_WAIT_TIMEOUT (RWSEM_FLAG_HANDOFF).
 * Return: the spinner that takes it, or NULL.
 */
static struct m2d_thread *spinner_steals(const struct m2d_lock_common *c, m2d_vtime_t r)
{
	const struct m2d_thread *head = c->wait_head;

	if (!kind_sleeps(c->kind) || !c->spin_on_owner || head->spinning || head->lock_handoff)
		return NULL;
	if (c->kind == K_RWSEM && r > head->wait_since &&
	    r - head->wait_since >= RWSEM_WAIT_TIMEOUT_NS)
		return NULL;
	for (struct m2d_thread *w = head->wait_next; w; w = w->wait_next)
		if (w->wait_mode == M2D_WAIT_EXCL && w->spinning && w->wait_since <= r)
			return w;
	return NULL;
}

static void grant_reader(struct m2d_sim *sim, struct m2d_lock_common *c, struct lk *l,
			 struct m2d_thread *w, m2d_vtime_t r)
{
	m2d_vtime_t g = M2D_MAX(r, w->wait_since) + grant_delay(sim, c, w->cpu, false, true);

	c->line_free_at = M2D_MAX(c->line_free_at, g);
	c->last_cpu = w->cpu;
	(*l->readers)++;
	stat_acquired(c->cls, g - w->wait_since);
	m2d_sched_wake(w, g, c->cls->cat);
}

/*
 * rwsem_mark_wake with a reader at the head: every queued reader (up to
 * MAX_READERS_WAKEUP) is granted, in queue order, the writers stay queued
 * in theirs.
 */
#define MAX_READERS_WAKEUP 0x100

static void grant_all_readers(struct m2d_sim *sim, struct lk *l, m2d_vtime_t r)
{
	struct m2d_lock_common *c = l->c;
	struct m2d_thread *w = c->wait_head, *prev = NULL, *next;
	unsigned woken = 0;

	for (; w && woken < MAX_READERS_WAKEUP; w = next) {
		next = w->wait_next;
		if (w->wait_mode == M2D_WAIT_EXCL) {
			prev = w;
			continue;
		}
		/* unlink @w (O(1): @prev is the waiter before it) */
		if (prev)
			prev->wait_next = next;
		else
			c->wait_head = next;
		if (c->wait_tail == w)
			c->wait_tail = prev;
		w->wait_next = NULL;
		grant_reader(sim, c, l, w, r);
		woken++;
	}
}

/* Grant waiters at the head of the queue after a release at @r. */
static void grant_waiters(struct m2d_sim *sim, struct lk *l, m2d_vtime_t r, bool excl_release)
{
	struct m2d_lock_common *c = l->c;

	if (c->wait_head && !*l->owner && !(l->readers && *l->readers)) {
		struct m2d_thread *s = spinner_steals(c, r);

		if (s) {
			unlink_waiter(c, s);
			if (c->kind == K_MUTEX)
				c->wait_head->lock_handoff = true;
			grant_excl(sim, l, s, r, excl_release);
			return;
		}
	}
	while (c->wait_head) {
		struct m2d_thread *w = c->wait_head;

		if (w->wait_mode == M2D_WAIT_EXCL) {
			if (*l->owner || (l->readers && *l->readers))
				return;
			dequeue(c);
			grant_excl(sim, l, w, r, excl_release);
			return;
		}
		/* a run of readers at the head enters together */
		if (*l->owner)
			return;
		if (c->kind == K_RWSEM) {
			grant_all_readers(sim, l, r);
			return;
		}
		dequeue(c);
		grant_reader(sim, c, l, w, r);
	}
}

/*
 * Uncontended grant at max(now, @rel): the acquiring RMW on the lock word.
 * If the conflicting release @rel lies in this thread's virtual future the
 * request was contended: it waits for the release and a handoff (plus the
 * wake-up latency for sleeping locks); otherwise it takes its turn on the
 * lock word's cache line.
 */
static void grant_now(struct m2d_thread *t, struct m2d_lock_common *c, m2d_vtime_t rel,
		      bool queued_excl)
{
	m2d_vtime_t now = t->hot.clock;

	if (rel > now) {
		/* it spun if the owner it waited for ran throughout (never slept) */
		bool spun = queued_excl && c->spin_on_owner && !c->owner_slept;
		m2d_vtime_t g = M2D_MAX(rel, c->line_free_at) +
				grant_delay(t->sim, c, t->cpu, queued_excl, !spun);

		/* it slept until g: the sleeping locks it holds saw their owner off CPU */
		if (kind_sleeps(c->kind) && !spun && t->nr_held)
			m2d_lock_owner_sleeps(t, g);
		if (M2D_TRACE_ON(t->sim))
			m2d_trace_record(t->sim, ctx_tid(t), 'X', t->sim->cats[c->cls->cat].name, now,
					 g - now);
		m2d_thread_charge_cat(t, c->cls->cat, (double)(g - now));
		t->hot.clock = g;
		c->line_free_at = g;
		c->last_cpu = ctx_cpu(t);
		stat_acquired(c->cls, g - now);
	} else {
		stat_acquired(c->cls, line_rmw(t, &c->line_free_at, &c->last_cpu, 0, c->cls->cat));
	}
}

static void lock_excl(struct lk *l)
{
	struct m2d_thread *t = cur_ctx();
	struct m2d_lock_common *c = l->c;
	struct m2d_sim *sim = t->sim;

	class_of(c, sim);
	if (t->hot.thread)
		m2d_sched_point();
	check_acquire(t, c);
	if (!*l->owner && !(l->readers && *l->readers) && !c->wait_head) {
		/* exclusive after an exclusive release: the queued handoff */
		grant_now(t, c, M2D_MAX(c->released_at, c->read_released_at),
			  c->released_at >= c->read_released_at);
		c->owner_slept = 0;
		*l->owner = t;
		held_push(t, c, false);
		return;
	}
	if (!t->hot.thread)
		outside_cannot_wait(c);
	enqueue(c, t, false, *l->owner);
	m2d_sched_block(t);
	M2D_BUG_ON(*l->owner != t);
	held_push(t, c, false); /* granted by the releaser, at our new clock */
}

static bool trylock_excl(struct lk *l)
{
	struct m2d_thread *t = cur_ctx();
	struct m2d_lock_common *c = l->c;

	class_of(c, t->sim);
	if (t->hot.thread)
		m2d_sched_point();
	/* Held in execution order, queued, or still held at this virtual time. */
	if (*l->owner || (l->readers && *l->readers) || c->wait_head ||
	    M2D_MAX(c->released_at, c->read_released_at) > t->hot.clock)
		return false;
	check_acquire(t, c);
	grant_now(t, c, 0, false);
	c->owner_slept = 0;
	*l->owner = t;
	held_push(t, c, false);
	return true;
}

static void unlock_excl(struct lk *l)
{
	struct m2d_thread *t = cur_ctx();
	struct m2d_lock_common *c = l->c;
	m2d_vtime_t since;

	if (unlikely(*l->owner != t))
		lockdep_fail("unlocking '%s' (%s), which this thread does not hold (owner: %s)",
			     c->name, kind_names[c->kind],
			     *l->owner ? ((*l->owner)->hot.thread ? (*l->owner)->name : "outside") :
					 "none");
	since = held_pop(t, c, false);
	stat_released(t, c, since);
	*l->owner = NULL;
	c->released_at = t->hot.clock;
	c->last_cpu = ctx_cpu(t);
	c->line_free_at = M2D_MAX(c->line_free_at, t->hot.clock);
	if (c->wait_head)
		grant_waiters(t->sim, l, t->hot.clock, true);
}

static void lock_shared(struct lk *l)
{
	struct m2d_thread *t = cur_ctx();
	struct m2d_lock_common *c = l->c;

	class_of(c, t->sim);
	if (t->hot.thread)
		m2d_sched_point();
	check_acquire(t, c);
	/* qrwlock: a writer holding or waiting sends readers to the queue. */
	if (!*l->owner && !c->wait_head) {
		grant_now(t, c, c->released_at, false);
		(*l->readers)++;
		held_push(t, c, true);
		return;
	}
	if (!t->hot.thread)
		outside_cannot_wait(c);
	enqueue(c, t, true, NULL);
	m2d_sched_block(t);
	held_push(t, c, true);
}

static void unlock_shared(struct lk *l)
{
	struct m2d_thread *t = cur_ctx();
	struct m2d_lock_common *c = l->c;
	m2d_vtime_t since, now = t->hot.clock;

	if (unlikely(!*l->readers))
		lockdep_fail("read-unlocking '%s' (%s), which has no readers", c->name,
			     kind_names[c->kind]);
	/* The releasing atomic_sub on the lock word takes its turn on the line. */
	if (t->hot.thread)
		m2d_sched_point();
	line_rmw(t, &c->line_free_at, &c->last_cpu, 0, c->cls->cat);
	now = t->hot.clock;
	since = held_pop(t, c, true);
	stat_released(t, c, since);
	(*l->readers)--;
	if (now > c->read_released_at)
		c->read_released_at = now;
	if (!*l->readers && c->wait_head)
		grant_waiters(t->sim, l, M2D_MAX(c->read_released_at, c->released_at), false);
}

/* ---- the kernel API ------------------------------------------------------------------- */

#define LK_SPIN(l) (&(struct lk){ &(l)->c, &(l)->owner, NULL })
#define LK_RW(l) (&(struct lk){ &(l)->c, &(l)->writer, &(l)->readers })

void m2d_spin_lock(struct m2d_spinlock *l)
{
	lock_excl(LK_SPIN(l));
}

void m2d_spin_unlock(struct m2d_spinlock *l)
{
	unlock_excl(LK_SPIN(l));
}

bool m2d_spin_trylock(struct m2d_spinlock *l)
{
	return trylock_excl(LK_SPIN(l));
}

/* A waiter whose request time has been reached (virtual-time contention). */
static bool has_waiter(const struct m2d_lock_common *c)
{
	return c->wait_head && c->wait_head->wait_since <= m2d_now();
}

bool m2d_spin_is_contended(struct m2d_spinlock *l)
{
	return has_waiter(&l->c);
}

void m2d_read_lock(struct m2d_rwlock *l)
{
	lock_shared(LK_RW(l));
}

void m2d_read_unlock(struct m2d_rwlock *l)
{
	unlock_shared(LK_RW(l));
}

void m2d_write_lock(struct m2d_rwlock *l)
{
	lock_excl(LK_RW(l));
}

void m2d_write_unlock(struct m2d_rwlock *l)
{
	unlock_excl(LK_RW(l));
}

bool m2d_rwlock_is_contended(struct m2d_rwlock *l)
{
	return has_waiter(&l->c);
}

/*
 * cond_resched_rwlock_{read,write}() (kernel/sched/core.c
 * __cond_resched_rwlock_*): a sched point, so threads behind in time can
 * queue; then, if someone waits, drop the lock, reschedule and re-take it.
 */
bool m2d_cond_resched_rwlock_read(struct m2d_rwlock *l)
{
	m2d_sched_point();
	if (!has_waiter(&l->c) && !m2d_need_resched())
		return false;
	m2d_read_unlock(l);
	m2d_sched_point();
	m2d_read_lock(l);
	return true;
}

bool m2d_cond_resched_rwlock_write(struct m2d_rwlock *l)
{
	m2d_sched_point();
	if (!has_waiter(&l->c) && !m2d_need_resched())
		return false;
	m2d_write_unlock(l);
	m2d_sched_point();
	m2d_write_lock(l);
	return true;
}

#define LK_MUTEX(l) (&(struct lk){ &(l)->c, &(l)->owner, NULL })

void m2d_mutex_lock(struct m2d_mutex *l)
{
	lock_excl(LK_MUTEX(l));
}

void m2d_mutex_unlock(struct m2d_mutex *l)
{
	unlock_excl(LK_MUTEX(l));
}

void m2d_down_read(struct m2d_rwsem *l)
{
	lock_shared(LK_RW(l));
}

void m2d_up_read(struct m2d_rwsem *l)
{
	unlock_shared(LK_RW(l));
}

void m2d_down_write(struct m2d_rwsem *l)
{
	lock_excl(LK_RW(l));
}

void m2d_up_write(struct m2d_rwsem *l)
{
	unlock_excl(LK_RW(l));
}

/* downgrade_write(): the writer becomes a reader; queued readers at the head join. */
void m2d_downgrade_write(struct m2d_rwsem *l)
{
	struct m2d_thread *t = cur_ctx();
	struct lk *v = LK_RW(l);
	m2d_vtime_t since;

	if (unlikely(l->writer != t))
		lockdep_fail("downgrade_write of '%s', which this thread does not hold for write",
			     l->c.name);
	since = held_pop(t, &l->c, false);
	l->writer = NULL;
	l->readers++;
	held_push(t, &l->c, true);
	t->held[t->nr_held - 1].since = since;
	if (l->c.wait_head && l->c.wait_head->wait_mode == M2D_WAIT_SHARED)
		grant_waiters(t->sim, v, t->hot.clock, false);
}

/* ---- assertions -------------------------------------------------------------------------- */

bool m2d_lockdep_assert_held(const struct m2d_lock_common *c)
{
#if M2D_DEBUG_CHECKS
	if (!held_find(cur_ctx(), c))
		lockdep_fail("lockdep_assert_held('%s') failed: not held", c->name);
#endif
	return true;
}

bool m2d_lockdep_assert_held_read(const struct m2d_lock_common *c)
{
#if M2D_DEBUG_CHECKS
	const struct held_lock *h = held_find(cur_ctx(), c);

	if (!h || !h->shared)
		lockdep_fail("lockdep_assert_held_read('%s') failed: %s", c->name,
			     h ? "held for write" : "not held");
#endif
	return true;
}

bool m2d_lockdep_assert_held_write(const struct m2d_lock_common *c)
{
#if M2D_DEBUG_CHECKS
	const struct held_lock *h = held_find(cur_ctx(), c);

	if (!h || h->shared)
		lockdep_fail("lockdep_assert_held_write('%s') failed: %s", c->name,
			     h ? "held for read" : "not held");
#endif
	return true;
}

/* ---- public lock API (include/mmu2d/sim.h) ---------------------------------------------- */

struct m2d_sim_lock {
	enum m2d_sim_lock_kind kind;
	struct m2d_sim_lock *next;
	char *name;
	union {
		struct m2d_spinlock spin;
		struct m2d_rwlock rw;
		struct m2d_mutex mutex;
		struct m2d_rwsem rwsem;
	} u;
};

int m2d_sim_lock_create(struct m2d_sim *sim, enum m2d_sim_lock_kind kind, const char *name,
			struct m2d_sim_lock **out)
{
	struct m2d_sim_lock *l;

	M2D_VALIDATE_OR_RET(sim && out && name && *name, -EINVAL);
	M2D_VALIDATE_OR_RET((unsigned)kind < M2D_SIM_LOCK_KIND_NR, -EINVAL);
	l = m2d_zalloc(M2D_ALLOC_ENGINE, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->name = m2d_strdup(M2D_ALLOC_ENGINE, name);
	if (!l->name) {
		m2d_free(M2D_ALLOC_ENGINE, l, sizeof(*l));
		return -ENOMEM;
	}
	l->kind = kind;
	switch (kind) {
	case M2D_SIM_LOCK_SPIN:
		m2d_spin_lock_init(&l->u.spin, l->name, M2D_RANK_NONE);
		break;
	case M2D_SIM_LOCK_RWLOCK:
		m2d_rwlock_init(&l->u.rw, l->name, M2D_RANK_NONE);
		break;
	case M2D_SIM_LOCK_MUTEX:
		m2d_mutex_init(&l->u.mutex, l->name, M2D_RANK_NONE);
		break;
	default:
		m2d_rwsem_init(&l->u.rwsem, l->name, M2D_RANK_NONE);
		break;
	}
	/* the class exists (with zero counters) from creation on */
	class_of(&l->u.spin.c, sim);
	l->next = sim->sim_locks;
	sim->sim_locks = l;
	*out = l;
	return 0;
}

void m2d_sim_locks_free(struct m2d_sim *sim);
void m2d_sim_locks_free(struct m2d_sim *sim)
{
	while (sim->sim_locks) {
		struct m2d_sim_lock *l = sim->sim_locks;

		sim->sim_locks = l->next;
		m2d_free_str(M2D_ALLOC_ENGINE, l->name);
		m2d_free(M2D_ALLOC_ENGINE, l, sizeof(*l));
	}
}

void m2d_sim_lock_acquire(struct m2d_sim_lock *l, bool write)
{
	switch (l->kind) {
	case M2D_SIM_LOCK_SPIN:
		m2d_spin_lock(&l->u.spin);
		break;
	case M2D_SIM_LOCK_RWLOCK:
		write ? m2d_write_lock(&l->u.rw) : m2d_read_lock(&l->u.rw);
		break;
	case M2D_SIM_LOCK_MUTEX:
		m2d_mutex_lock(&l->u.mutex);
		break;
	default:
		write ? m2d_down_write(&l->u.rwsem) : m2d_down_read(&l->u.rwsem);
		break;
	}
}

void m2d_sim_lock_release(struct m2d_sim_lock *l, bool write)
{
	switch (l->kind) {
	case M2D_SIM_LOCK_SPIN:
		m2d_spin_unlock(&l->u.spin);
		break;
	case M2D_SIM_LOCK_RWLOCK:
		write ? m2d_write_unlock(&l->u.rw) : m2d_read_unlock(&l->u.rw);
		break;
	case M2D_SIM_LOCK_MUTEX:
		m2d_mutex_unlock(&l->u.mutex);
		break;
	default:
		write ? m2d_up_write(&l->u.rwsem) : m2d_up_read(&l->u.rwsem);
		break;
	}
}

int m2d_sim_lock_stats(const struct m2d_sim *sim, const char *name, struct m2d_lock_stats *out)
{
	M2D_VALIDATE_OR_RET(sim && name && out, -EINVAL);
	for (const struct m2d_lock_class *k = sim->classes; k; k = k->next) {
		if (!strcmp(k->name, name)) {
			*out = k->st;
			return 0;
		}
	}
	return -ENOENT;
}
