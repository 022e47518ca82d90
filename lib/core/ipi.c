// SPDX-License-Identifier: MIT
/*
 * lib/core/ipi.c - IPIs and TLB shootdowns in virtual time, host topology.
 *
 * Sources: kernel/smp.c smp_call_function_many_cond() (the sender queues a
 * csd per target, sends the IPIs and, with wait=1, spins until every
 * target ran the function), arch/x86/mm/tlb.c flush_tlb_all() and
 * flush_tlb_kernel_range() (full flush above tlb_single_page_flush_ceiling
 * = 33 pages, else one INVLPG per page), and for a target vCPU in guest
 * mode the VM exit and re-entry the host interrupt forces.
 *
 * Sender: IPI_SEND per target, then IPI_ACK_WAIT plus the handler's
 * duration (it waits for the slowest target to finish the function).
 * Target: the thread on that CPU (a runnable thread, or one spinning on a
 * lock) is charged IPI_RECEIVE + handler (+ VM_EXIT in guest mode) at its
 * own clock (a thread spinning on a lock takes it at the send time and
 * resumes at max(grant, end of the handler)).  Because the send is a
 * synchronisation point, every runnable
 * target is at or ahead of the sender in virtual time; the approximation
 * (docs/virtual-time.md 4) inserts the handler at the target's current
 * clock instead of at the sender's time in the target's past.  Sleeping
 * threads are off CPU: the idle CPU takes the IPI and nobody is delayed.
 */
#include "core/engine_internal.h"

#include <stdio.h>

#define TLB_SINGLE_PAGE_FLUSH_CEILING 33 /* arch/x86/mm/tlb.c */

/* The thread that is on @cpu: runnable or spinning, lowest id first. */
static struct m2d_thread *thread_on_cpu(struct m2d_sim *sim, int cpu)
{
	struct m2d_thread *best = NULL;

	for (struct m2d_thread *t = sim->by_cpu[cpu]; t; t = t->next_on_cpu) {
		if (t->state == M2D_TS_EXITED || (t->state == M2D_TS_BLOCKED && !t->spinning))
			continue;
		if (!best || t->id < best->id)
			best = t;
	}
	return best;
}

static void charge_target(struct m2d_thread *t, enum m2d_cost handler, uint64_t count,
			  m2d_vtime_t sent)
{
	struct m2d_sim *sim = t->sim;
	uint64_t recv = (uint64_t)sim->cost_ns[M2D_COST_IPI_RECEIVE];
	uint64_t h = (uint64_t)(sim->cost_ns[handler] * (double)count);
	uint64_t exitc = t->in_guest ? (uint64_t)sim->cost_ns[M2D_COST_VM_EXIT] : 0;
	uint64_t total = recv + h + exitc;

	t->breakdown[M2D_COST_IPI_RECEIVE] += recv;
	t->breakdown[handler] += h;
	t->breakdown[M2D_COST_VM_EXIT] += exitc;
	if (t->state == M2D_TS_BLOCKED) {
		/*
		 * A spinner takes the interrupt when it is sent; handlers queue.
		 * It resumes at max(grant, end of its last handler).
		 */
		m2d_vtime_t from = M2D_MAX(t->irq_busy_until, sent);

		t->irq_busy_until = from + total;
		t->irq_debt_ns += total;
		if (M2D_TRACE_ON(sim) && total)
			m2d_trace_record(sim, t->id, 'X', "ipi", from, total);
	} else {
		if (M2D_TRACE_ON(sim) && total)
			m2d_trace_record(sim, t->id, 'X', "ipi", t->hot.clock, total);
		t->hot.clock += total;
		m2d_sched_reclock(t);
	}
}

/* Send to every CPU of @mask but the sender's; the handler costs @count x @handler. */
static void ipi_send(const struct m2d_cpumask *mask, enum m2d_cost handler, uint64_t count)
{
	struct m2d_thread *self = cur_ctx();
	struct m2d_sim *sim = self->sim;
	int me = self->hot.thread ? self->cpu : 0; /* outside code runs on CPU 0 */
	uint64_t n = 0;

	m2d_sched_point();
	for (unsigned w = 0; w < M2D_ARRAY_SIZE(mask->bits); w++) {
		uint64_t bits = mask->bits[w];

		while (bits) {
			int cpu = (int)(w * 64 + (unsigned)__builtin_ctzll(bits));
			struct m2d_thread *t;

			bits &= bits - 1;
			if (cpu == me || (unsigned)cpu >= sim->cfg.cpus)
				continue;
			n++;
			t = thread_on_cpu(sim, cpu);
			if (t && t != self)
				charge_target(t, handler, count, self->hot.clock);
		}
	}
	if (!n)
		return;
	m2d_count(M2D_CTR_ipis, n);
	m2d_delay(M2D_COST_IPI_SEND, n);
	m2d_delay(M2D_COST_IPI_ACK_WAIT, 1);
	m2d_delay(handler, count);
}

void m2d_ipi_send_mask(const struct m2d_cpumask *mask, enum m2d_cost handler_cost)
{
	ipi_send(mask, handler_cost, 1);
}

static void all_cpus(struct m2d_sim *sim, struct m2d_cpumask *m)
{
	unsigned n = sim->cfg.cpus;

	for (unsigned w = 0; w < M2D_ARRAY_SIZE(m->bits); w++) {
		if (n >= 64)
			m->bits[w] = ~0ull;
		else
			m->bits[w] = n ? (1ull << n) - 1 : 0;
		n = n >= 64 ? n - 64 : 0;
	}
}

/* flush_tlb_all(): on_each_cpu(do_flush_tlb_all, NULL, 1). */
void m2d_flush_tlb_all(void)
{
	struct m2d_cpumask m;

	all_cpus(m2d_current_sim(), &m);
	m2d_count(M2D_CTR_flush_tlb_all, 1);
	ipi_send(&m, M2D_COST_TLB_FLUSH_LOCAL_ALL, 1);
	m2d_delay(M2D_COST_TLB_FLUSH_LOCAL_ALL, 1);
}

/*
 * flush_tlb_kernel_range() (arch/x86/mm/tlb.c): a full flush on every CPU
 * above tlb_single_page_flush_ceiling pages, else one INVLPG per page.
 */
void m2d_flush_tlb_kernel_range(uint64_t start, uint64_t end)
{
	struct m2d_cpumask m;
	uint64_t pages = end > start ? M2D_DIV_ROUND_UP(end - start, M2D_PAGE_SIZE) : 0;

	all_cpus(m2d_current_sim(), &m);
	m2d_count(M2D_CTR_tlb_flush_kernel_ranges, 1);
	if (end == UINT64_MAX || pages > TLB_SINGLE_PAGE_FLUSH_CEILING) {
		ipi_send(&m, M2D_COST_TLB_FLUSH_LOCAL_ALL, 1);
		m2d_delay(M2D_COST_TLB_FLUSH_LOCAL_ALL, 1);
	} else {
		ipi_send(&m, M2D_COST_TLB_FLUSH_LOCAL_PAGE, pages);
		m2d_delay(M2D_COST_TLB_FLUSH_LOCAL_PAGE, pages);
	}
}

int m2d_nr_cpus(void)
{
	return (int)m2d_current_sim()->cfg.cpus;
}

int m2d_cpu_node(int cpu)
{
	struct m2d_sim *sim = m2d_current_sim();

	if (cpu < 0 || (unsigned)cpu >= sim->cfg.cpus)
		return 0;
	return sim->cpu_node[cpu];
}

int m2d_node_distance(int a, int b)
{
	struct m2d_sim *sim = m2d_current_sim();

	if (a < 0 || b < 0 || (unsigned)a >= sim->cfg.nodes || (unsigned)b >= sim->cfg.nodes)
		return 0;
	return sim->distance[(unsigned)a * sim->cfg.nodes + (unsigned)b];
}
