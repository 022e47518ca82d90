// SPDX-License-Identifier: MIT
/*
 * lib/core/engine_stub.c - a SEQUENTIAL stand-in for the virtual-time engine.
 *
 * It implements lib/core/engine.h and include/mmu2d/sim.h without coroutines:
 * threads run one after another to completion, locks never contend (taking a
 * lock held by another thread aborts), waits abort.  It exists so that model
 * modules can be written and unit-tested (exact operation counts) while the
 * real engine (issue "Virtual-time engine") is built behind the same header.
 * The real engine replaces this file.
 */
#include "core/alloc.h"
#include "core/engine.h"

#include <mmu2d/error.h>
#include <mmu2d/sim.h>

#include <errno.h>
#include <math.h>
#include <string.h>

struct m2d_thread {
	struct m2d_thread_hot hot;
	struct m2d_sim *sim;
	char *name;
	int cpu, id;
	bool in_guest;
	m2d_thread_fn fn;
	void *arg;
	struct m2d_thread *next;
};

struct m2d_sim {
	struct m2d_sim_config cfg;
	double cost_ns[M2D_COST_NR];
	double breakdown[M2D_COST_NR];
	uint64_t counters[M2D_CTR_NR];
	struct m2d_thread_hot outside;
	int enter_depth;
	struct m2d_thread_hot *saved_cur;
	struct m2d_thread *threads, **tail;
	int nr_threads;
	uint64_t rng;
	struct m2d_rcu_head *rcu_pending;
	m2d_vtime_t max_time;
};

__thread struct m2d_thread_hot *m2d_cur;

static const char *const cost_names[M2D_COST_NR] = {
#define COST(name, unit, meaning) #name,
#include "core/costs.def"
#undef COST
};
static const char *const counter_names[M2D_CTR_NR] = {
#define COUNTER(name, meaning) #name,
#include "core/counters.def"
#undef COUNTER
};

void m2d_sim_config_default(struct m2d_sim_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nodes = 1;
	cfg->sockets = 1;
	cfg->cpus = 64;
	cfg->seed = 1;
	cfg->stack_size = 64 * 1024;
}

int m2d_sim_create(struct m2d_sim **out, const struct m2d_sim_config *cfg)
{
	struct m2d_sim *sim;

	if (!cfg->cpus || !cfg->nodes || cfg->cpus > M2D_MAX_CPUS)
		return -EINVAL;
	sim = m2d_zalloc(M2D_ALLOC_ENGINE, sizeof(*sim));
	if (!sim)
		return -ENOMEM;
	sim->cfg = *cfg;
	sim->cfg.profile = NULL;
	sim->rng = cfg->seed;
	sim->tail = &sim->threads;
	sim->outside.cost_ns = sim->cost_ns;
	sim->outside.breakdown = sim->breakdown;
	sim->outside.counters = sim->counters;
	sim->outside.sim = sim;
	*out = sim;
	return 0;
}

static void run_rcu_callbacks(struct m2d_sim *sim)
{
	while (sim->rcu_pending) {
		struct m2d_rcu_head *h = sim->rcu_pending;
		sim->rcu_pending = h->next;
		sim->counters[M2D_CTR_rcu_callbacks]++;
		h->func(h);
	}
}

void m2d_sim_destroy(struct m2d_sim **psim)
{
	struct m2d_sim *sim = psim ? *psim : NULL;

	if (!sim)
		return;
	run_rcu_callbacks(sim);
	while (sim->threads) {
		struct m2d_thread *t = sim->threads;
		sim->threads = t->next;
		m2d_free_str(M2D_ALLOC_ENGINE, t->name);
		m2d_free(M2D_ALLOC_ENGINE, t, sizeof(*t));
	}
	m2d_free(M2D_ALLOC_ENGINE, sim, sizeof(*sim));
	*psim = NULL;
}

int m2d_sim_set_param(struct m2d_sim *sim, const char *name, double value)
{
	if (!isfinite(value) || value < 0)
		return -EINVAL;
	for (int i = 0; i < M2D_COST_NR; i++) {
		if (!strcasecmp(cost_names[i], name)) {
			sim->cost_ns[i] = value;
			return 0;
		}
	}
	return M2D_E_PARAM;
}

int m2d_sim_get_param(const struct m2d_sim *sim, const char *name, double *out)
{
	for (int i = 0; i < M2D_COST_NR; i++) {
		if (!strcasecmp(cost_names[i], name)) {
			*out = sim->cost_ns[i];
			return 0;
		}
	}
	return M2D_E_PARAM;
}

struct m2d_thread *m2d_thread_create(struct m2d_sim *sim, int cpu, const char *name,
				     m2d_thread_fn fn, void *arg, m2d_vtime_t start, int *err)
{
	struct m2d_thread *t;

	if (cpu < 0 || (unsigned)cpu >= sim->cfg.cpus) {
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	t = m2d_zalloc(M2D_ALLOC_ENGINE, sizeof(*t));
	if (!t || !(t->name = m2d_strdup(M2D_ALLOC_ENGINE, name))) {
		m2d_free(M2D_ALLOC_ENGINE, t, sizeof(*t));
		if (err)
			*err = -ENOMEM;
		return NULL;
	}
	t->sim = sim;
	t->cpu = cpu;
	t->id = sim->nr_threads++;
	t->fn = fn;
	t->arg = arg;
	t->hot.clock = start;
	t->hot.cost_ns = sim->cost_ns;
	t->hot.breakdown = sim->breakdown;
	t->hot.counters = sim->counters;
	t->hot.thread = t;
	t->hot.sim = sim;
	*sim->tail = t;
	sim->tail = &t->next;
	return t;
}

int m2d_sim_spawn(struct m2d_sim *sim, int cpu, const char *name, m2d_sim_thread_fn fn, void *arg)
{
	int err = 0;

	return m2d_thread_create(sim, cpu, name, fn, arg, 0, &err) ? 0 : err;
}

int m2d_sim_run(struct m2d_sim *sim)
{
	struct m2d_thread_hot *saved = m2d_cur;

	for (struct m2d_thread *t = sim->threads; t; t = t->next) {
		if (!t->fn)
			continue;
		m2d_cur = &t->hot;
		t->fn(t->arg);
		t->fn = NULL;
		if (t->hot.clock > sim->max_time)
			sim->max_time = t->hot.clock;
	}
	m2d_cur = saved;
	run_rcu_callbacks(sim);
	return 0;
}

m2d_vtime_t m2d_sim_time(const struct m2d_sim *sim)
{
	return M2D_MAX(sim->max_time, sim->outside.clock);
}

uint64_t m2d_sim_counter(const struct m2d_sim *sim, const char *name)
{
	for (int i = 0; i < M2D_CTR_NR; i++)
		if (!strcmp(counter_names[i], name))
			return sim->counters[i];
	return 0;
}

m2d_vtime_t m2d_thread_now(void)
{
	return m2d_now();
}

void m2d_thread_work(double ns)
{
	m2d_cur->clock += (uint64_t)ns;
}

int m2d_sim_emit_json(const struct m2d_sim *sim, FILE *f)
{
	fprintf(f, "  \"breakdown\": {");
	for (int i = 0, n = 0; i < M2D_COST_NR; i++)
		if (sim->breakdown[i] > 0)
			fprintf(f, "%s\"%s\": %.9f", n++ ? ", " : "", cost_names[i],
				sim->breakdown[i] / 1e9);
	fprintf(f, "},\n  \"locks\": {},\n  \"counters\": {");
	for (int i = 0; i < M2D_CTR_NR; i++)
		fprintf(f, "%s\"%s\": %llu", i ? ", " : "", counter_names[i],
			(unsigned long long)sim->counters[i]);
	fprintf(f, "}");
	return 0;
}

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

void m2d_engine_enter(struct m2d_sim *sim)
{
	if (sim->enter_depth++ == 0) {
		sim->saved_cur = m2d_cur;
		m2d_cur = &sim->outside;
	}
}

void m2d_engine_leave(struct m2d_sim *sim)
{
	if (--sim->enter_depth == 0) {
		run_rcu_callbacks(sim);
		m2d_cur = sim->saved_cur;
	}
}

void m2d_sched_point(void)
{
}

bool m2d_need_resched(void)
{
	return false;
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

/* ---- locks: never contend in the stub ---- */

static struct m2d_thread *me(void)
{
	return m2d_current();
}

#define STUB_OWNER_OUTSIDE ((struct m2d_thread *)1)
static struct m2d_thread *owner_token(void)
{
	struct m2d_thread *t = me();

	return t ? t : STUB_OWNER_OUTSIDE;
}

void m2d_spin_lock_init(struct m2d_spinlock *l, const char *name, enum m2d_lock_rank rank)
{
	memset(l, 0, sizeof(*l));
}
void m2d_rwlock_init(struct m2d_rwlock *l, const char *name, enum m2d_lock_rank rank)
{
	memset(l, 0, sizeof(*l));
}
void m2d_mutex_init(struct m2d_mutex *l, const char *name, enum m2d_lock_rank rank)
{
	memset(l, 0, sizeof(*l));
}
void m2d_rwsem_init(struct m2d_rwsem *l, const char *name, enum m2d_lock_rank rank)
{
	memset(l, 0, sizeof(*l));
}
void m2d_lock_fini(struct m2d_lock_common *c)
{
}

void m2d_spin_lock(struct m2d_spinlock *l)
{
	M2D_BUG_ON(l->owner);
	l->owner = owner_token();
	m2d_delay(M2D_COST_LOCK_ACQUIRE, 1);
}
void m2d_spin_unlock(struct m2d_spinlock *l)
{
	M2D_BUG_ON(l->owner != owner_token());
	l->owner = NULL;
}
bool m2d_spin_trylock(struct m2d_spinlock *l)
{
	if (l->owner)
		return false;
	m2d_spin_lock(l);
	return true;
}
bool m2d_spin_is_contended(struct m2d_spinlock *l)
{
	return false;
}

void m2d_read_lock(struct m2d_rwlock *l)
{
	M2D_BUG_ON(l->writer);
	l->readers++;
	m2d_delay(M2D_COST_LOCK_ACQUIRE, 1);
}
void m2d_read_unlock(struct m2d_rwlock *l)
{
	M2D_BUG_ON(!l->readers);
	l->readers--;
}
void m2d_write_lock(struct m2d_rwlock *l)
{
	M2D_BUG_ON(l->writer || l->readers);
	l->writer = owner_token();
	m2d_delay(M2D_COST_LOCK_ACQUIRE, 1);
}
void m2d_write_unlock(struct m2d_rwlock *l)
{
	M2D_BUG_ON(l->writer != owner_token());
	l->writer = NULL;
}
bool m2d_rwlock_is_contended(struct m2d_rwlock *l)
{
	return false;
}
bool m2d_cond_resched_rwlock_read(struct m2d_rwlock *l)
{
	return false;
}
bool m2d_cond_resched_rwlock_write(struct m2d_rwlock *l)
{
	return false;
}

void m2d_mutex_lock(struct m2d_mutex *l)
{
	M2D_BUG_ON(l->owner);
	l->owner = owner_token();
	m2d_delay(M2D_COST_LOCK_ACQUIRE, 1);
}
void m2d_mutex_unlock(struct m2d_mutex *l)
{
	M2D_BUG_ON(l->owner != owner_token());
	l->owner = NULL;
}

void m2d_down_read(struct m2d_rwsem *l)
{
	M2D_BUG_ON(l->writer);
	l->readers++;
	m2d_delay(M2D_COST_LOCK_ACQUIRE, 1);
}
void m2d_up_read(struct m2d_rwsem *l)
{
	M2D_BUG_ON(!l->readers);
	l->readers--;
}
void m2d_down_write(struct m2d_rwsem *l)
{
	M2D_BUG_ON(l->writer || l->readers);
	l->writer = owner_token();
	m2d_delay(M2D_COST_LOCK_ACQUIRE, 1);
}
void m2d_up_write(struct m2d_rwsem *l)
{
	M2D_BUG_ON(l->writer != owner_token());
	l->writer = NULL;
}
void m2d_downgrade_write(struct m2d_rwsem *l)
{
	M2D_BUG_ON(l->writer != owner_token());
	l->writer = NULL;
	l->readers++;
}

bool m2d_lockdep_assert_held(const struct m2d_lock_common *c)
{
	return true;
}
bool m2d_lockdep_assert_held_read(const struct m2d_lock_common *c)
{
	return true;
}
bool m2d_lockdep_assert_held_write(const struct m2d_lock_common *c)
{
	return true;
}

void m2d_waitqueue_init(struct m2d_waitqueue *wq, const char *name)
{
	wq->state = NULL;
	wq->name = name;
}
void m2d_waitqueue_fini(struct m2d_waitqueue *wq)
{
}
void m2d_wait(struct m2d_waitqueue *wq, bool spin)
{
	m2d_die("engine stub: a thread would block (waits need the real engine)");
}
unsigned m2d_wake_up_all(struct m2d_waitqueue *wq)
{
	return 0;
}

void m2d_init_completion(struct m2d_completion *c, const char *name)
{
	c->done = 0;
	m2d_waitqueue_init(&c->wq, name);
}
void m2d_wait_for_completion(struct m2d_completion *c)
{
	m2d_wait_event(&c->wq, c->done, false);
	if (c->done != UINT32_MAX)
		c->done--;
}
void m2d_complete(struct m2d_completion *c)
{
	if (c->done != UINT32_MAX)
		c->done++;
}
void m2d_complete_all(struct m2d_completion *c)
{
	c->done = UINT32_MAX;
}

void m2d_barrier_init(struct m2d_barrier *b, unsigned n, const char *name)
{
	b->n = n;
	b->arrived = 0;
	b->generation = 0;
	m2d_waitqueue_init(&b->wq, name);
}
bool m2d_barrier_wait(struct m2d_barrier *b)
{
	if (++b->arrived == b->n) {
		b->arrived = 0;
		b->generation++;
		return true;
	}
	m2d_die("engine stub: barrier with more than one thread needs the real engine");
}

void m2d_rcu_read_lock(void)
{
}
void m2d_rcu_read_unlock(void)
{
}
void m2d_call_rcu(struct m2d_rcu_head *head, void (*func)(struct m2d_rcu_head *))
{
	struct m2d_sim *sim = m2d_current_sim();

	head->func = func;
	if (!sim) {
		func(head);
		return;
	}
	head->queued_at = m2d_now();
	head->next = sim->rcu_pending;
	sim->rcu_pending = head;
}
void m2d_synchronize_rcu(void)
{
	m2d_delay(M2D_COST_RCU_GP, 1);
}
void m2d_rcu_barrier(void)
{
	struct m2d_sim *sim = m2d_current_sim();

	m2d_delay(M2D_COST_RCU_GP, 1);
	if (sim)
		run_rcu_callbacks(sim);
}

void m2d_ipi_send_mask(const struct m2d_cpumask *mask, enum m2d_cost handler_cost)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < M2D_ARRAY_SIZE(mask->bits); i++)
		n += (uint64_t)__builtin_popcountll(mask->bits[i]);
	m2d_delay(M2D_COST_IPI_SEND, n);
	m2d_delay(M2D_COST_IPI_ACK_WAIT, 1);
	m2d_count(M2D_CTR_ipis, n);
}

void m2d_flush_tlb_all(void)
{
	struct m2d_sim *sim = m2d_current_sim();
	uint64_t n = sim->cfg.cpus - 1;

	m2d_count(M2D_CTR_flush_tlb_all, 1);
	m2d_count(M2D_CTR_ipis, n);
	m2d_delay(M2D_COST_IPI_SEND, n);
	m2d_delay(M2D_COST_IPI_ACK_WAIT, 1);
	m2d_delay(M2D_COST_TLB_FLUSH_LOCAL_ALL, 1);
}

void m2d_flush_tlb_kernel_range(uint64_t start, uint64_t end)
{
	m2d_flush_tlb_all();
}

int m2d_nr_cpus(void)
{
	return (int)m2d_current_sim()->cfg.cpus;
}

int m2d_cpu_node(int cpu)
{
	struct m2d_sim *sim = m2d_current_sim();

	return (int)((unsigned)cpu / M2D_DIV_ROUND_UP(sim->cfg.cpus, sim->cfg.nodes));
}

int m2d_node_distance(int a, int b)
{
	return a == b ? 10 : 20;
}

void m2d_trace_begin(const char *name)
{
}
void m2d_trace_end(const char *name)
{
}
void m2d_trace_instant(const char *name)
{
}

/* ---- public lock API (sequential stub: no contention, no stats) ---- */

struct m2d_sim_lock {
	enum m2d_sim_lock_kind kind;
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

	if (kind < 0 || kind >= M2D_SIM_LOCK_KIND_NR || !name)
		return -EINVAL;
	l = m2d_zalloc(M2D_ALLOC_ENGINE, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->kind = kind;
	*out = l; /* leaked by the stub; the real engine owns it in the sim */
	return 0;
}

void m2d_sim_lock_acquire(struct m2d_sim_lock *l, bool write)
{
	switch (l->kind) {
	case M2D_SIM_LOCK_SPIN: m2d_spin_lock(&l->u.spin); break;
	case M2D_SIM_LOCK_RWLOCK: write ? m2d_write_lock(&l->u.rw) : m2d_read_lock(&l->u.rw); break;
	case M2D_SIM_LOCK_MUTEX: m2d_mutex_lock(&l->u.mutex); break;
	default: write ? m2d_down_write(&l->u.rwsem) : m2d_down_read(&l->u.rwsem); break;
	}
}

void m2d_sim_lock_release(struct m2d_sim_lock *l, bool write)
{
	switch (l->kind) {
	case M2D_SIM_LOCK_SPIN: m2d_spin_unlock(&l->u.spin); break;
	case M2D_SIM_LOCK_RWLOCK: write ? m2d_write_unlock(&l->u.rw) : m2d_read_unlock(&l->u.rw); break;
	case M2D_SIM_LOCK_MUTEX: m2d_mutex_unlock(&l->u.mutex); break;
	default: write ? m2d_up_write(&l->u.rwsem) : m2d_up_read(&l->u.rwsem); break;
	}
}

int m2d_sim_lock_stats(const struct m2d_sim *sim, const char *name, struct m2d_lock_stats *out)
{
	return -ENOENT;
}
