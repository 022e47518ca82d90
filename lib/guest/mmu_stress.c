// SPDX-License-Identifier: MIT
/*
 * lib/guest/mmu_stress.c - tools/testing/selftests/kvm/mmu_stress_test.c
 * as a workload (MECHANISMS.md 7.1; docs/model.md).
 *
 * Host side, as main() and vcpu_worker() do:
 *   - one memfd of slot_size, mmap(MAP_SHARED), madvise(MADV_NOHUGEPAGE),
 *     pre-faulted by the main thread (one write per 4K page);
 *   - memslots 1.. at GPA 4 GiB + k * slot_size, all mapping that HVA;
 *   - the guest identity-maps them (x86: 1 GiB pages, arm64: 4K pages);
 *   - nr_vcpus threads, each owning ((end - start) / nr_vcpus) & ~4095
 *     bytes of GPA;
 *   - rendezvous_with_boss(): the vCPU thread spins; the main thread
 *     polls with usleep(100) (plus the task's timer slack and the wake-up)
 *     and takes the timestamp when it sees every vCPU, then releases them.
 * Guest stages (guest_code): 0 and 1 write every page, 2 reads every page,
 * 3 writes while mprotect(PROT_READ) runs until it sees mprotect_ro_done,
 * 4 writes every page after mprotect(PROT_READ|PROT_WRITE).  Each
 * GUEST_SYNC is a ucall exit (KVM_RUN returns).
 * Stage 3 with efault_skip: every -EFAULT is skipped (RIP += 3 / PC += 4)
 * and the guest finishes its passes, then GUEST_SYNC(3).  Without it
 * (the published "stop on first -EFAULT, arm64-style" runs) the vCPU stops
 * at the first -EFAULT; in stage 4 it re-enters, finishes the interrupted
 * pass, leaves the loop (the flag is set) and writes every page again.
 *
 * Guest accesses use m2d_vcpu_access_range (one table walk per leaf table).
 */
#include "guest/guest.h"

#include <mmu2d/kvm.h>
#include <mmu2d/mm.h>
#include <mmu2d/physmem.h>

#include "core/alloc.h"
#include "mm/mm.h"

#include <errno.h>
#include <string.h>

#define SZ_4G (4ull << 30)
#define SZ_1G (1ull << 30)
#define PAGE M2D_PAGE_SIZE

/* The boss/vCPU rendezvous (an atomic_t in the selftest). */
struct rendezvous {
	unsigned n;              /* vCPUs */
	unsigned arrived;
	m2d_vtime_t last_arrival; /* virtual time of the latest arrival */
	unsigned generation;
	struct m2d_waitqueue wq; /* vCPUs spin here (cpu_relax loop) */
	/*
	 * The atomic_t's cache line: every vCPU's atomic_dec_and_test /
	 * atomic_inc is a read-modify-write that must own the line, so the
	 * arrivals are serialised and each pays the line's transfer.
	 */
	struct m2d_cacheline line;
};

struct m2d_mmu_stress;

struct vcpu_info {
	struct m2d_mmu_stress *s;
	struct m2d_vcpu *vcpu;
	uint64_t start_gpa, end_gpa;
	/* guest state kept across KVM_RUNs */
	int stage;               /* the stage the guest code is in */
	uint64_t resume_gpa;     /* stage 3/4: where an interrupted pass continues */
	bool resume;             /* re-execute from resume_gpa */
	uint64_t efaults;
	char name[24];
};

struct m2d_mmu_stress {
	struct m2d_mmu_stress_config cfg;
	struct m2d_sim *sim;
	struct m2d_host *host;
	struct m2d_mm *mm;
	struct m2d_file *memfd;
	struct m2d_vm *vm;
	struct m2d_guest_pt *gpt;
	uint64_t mem;            /* HVA of the memfd mapping */
	uint64_t end_gpa;
	bool mprotect_ro_done;   /* guest global, set by sync_global_to_guest */
	/*
	 * Stage 3's write loop, fast-forwarded: a pass that met no fault is
	 * repeated identically until the flag is set or an invalidation
	 * starts, so the vCPU spins here instead (see guest_code).
	 */
	struct m2d_waitqueue spin_wq;
	uint64_t inv_gen;        /* mmu_notifier invalidations started */
	struct m2d_mmu_notifier mn;
	struct rendezvous rdv;
	struct vcpu_info *info;
	m2d_vtime_t t[6];        /* start, run1, reset, run2, ro, rw */
	uint64_t invalidations;
	int err;
};

/* ---- rendezvous --------------------------------------------------------- */

/* rendezvous_with_boss(): arrive, spin until the boss releases us. */
static void rendezvous_with_boss(struct rendezvous *r)
{
	unsigned gen;

	gen = r->generation;
	m2d_cacheline_rmw(&r->line);
	r->arrived++;
	if (m2d_now() > r->last_arrival)
		r->last_arrival = m2d_now();
	m2d_wait_event(&r->wq, r->generation != gen, true);
}

/*
 * rendezvous_with_vcpus(): poll every usleep(100) until all vCPUs arrived,
 * take the time, release them.
 */
static m2d_vtime_t rendezvous_with_vcpus(struct m2d_mmu_stress *s, const char *name, double frac)
{
	struct rendezvous *r = &s->rdv;
	m2d_vtime_t t;

	for (;;) {
		m2d_sched_point();
		/*
		 * Threads run ahead of this one to their next blocking point, so
		 * an arrival is visible only once the poll's clock has reached it.
		 */
		if (r->arrived == r->n && r->last_arrival <= m2d_now())
			break;
		/* usleep(100): the interval, the timer slack, the wake-up. */
		m2d_delay(M2D_COST_VMM_POLL_SLEEP, 1);
		m2d_delay(M2D_COST_VMM_TIMER_SLACK, 1);
		m2d_delay(M2D_COST_SLEEP_WAKEUP, 1);
	}
	t = m2d_now();
	r->arrived = 0;
	r->generation++;
	m2d_wake_up_all(&r->wq);
	if (s->cfg.progress)
		s->cfg.progress(s->cfg.progress_arg, name, frac);
	return t;
}

/* ---- the guest ------------------------------------------------------------- */

/* GUEST_SYNC(stage): a ucall exit (x86 PIO / arm64 MMIO) to the vCPU thread. */
static void guest_sync(struct vcpu_info *vi, int stage)
{
	(void)stage;
	vi->stage++;
	m2d_delay(M2D_COST_KVM_EXIT_ENTRY, 1);
	m2d_delay(M2D_COST_KVM_USERSPACE_EXIT, 1);
}

/* One pass over [from, end) with @flags. Return: the access result. */
static int guest_pass(struct vcpu_info *vi, uint64_t from, unsigned flags)
{
	return m2d_vcpu_access_range(vi->vcpu, from, (vi->end_gpa - from) / PAGE, PAGE, flags);
}

/* guest_code(): run from the current stage until the next GUEST_SYNC or a stop. */
static void guest_code(struct m2d_vcpu *vcpu, void *arg)
{
	struct vcpu_info *vi = arg;
	struct m2d_mmu_stress *s = vi->s;
	uint64_t from;
	int r;

	(void)vcpu;
	switch (vi->stage) {
	case 0:
	case 1:
		if (guest_pass(vi, vi->start_gpa, M2D_ACCESS_WRITE) == M2D_GUEST_ACCESS_STOPPED)
			return;
		guest_sync(vi, vi->stage);
		return;
	case 2:
		if (guest_pass(vi, vi->start_gpa, 0) == M2D_GUEST_ACCESS_STOPPED)
			return;
		guest_sync(vi, 2);
		return;
	case 3:
		/* do { write every page } while (!READ_ONCE(mprotect_ro_done)); */
		for (;;) {
			uint64_t gen = s->inv_gen, ef = vi->efaults;
			m2d_vtime_t t0 = m2d_now(), pass_ns, t1;

			from = vi->resume ? vi->resume_gpa : vi->start_gpa;
			vi->resume = false;
			r = guest_pass(vi, from, M2D_ACCESS_WRITE);
			if (r == M2D_GUEST_ACCESS_STOPPED) {
				/* Stuck on the faulting store: re-executed on the next KVM_RUN. */
				vi->resume = true;
				return;
			}
			m2d_sched_point();
			if (READ_ONCE(s->mprotect_ro_done))
				break;
			if (from != vi->start_gpa || gen != s->inv_gen || ef != vi->efaults)
				continue;
			/*
			 * A whole pass retired without a fault: the following
			 * passes are the same until the flag is set or an
			 * invalidation starts.  Spin until then and continue at
			 * the page the loop would have reached.
			 */
			pass_ns = m2d_now() - t0;
			t1 = m2d_now();
			m2d_wait_event(&s->spin_wq, READ_ONCE(s->mprotect_ro_done) || s->inv_gen != gen,
				       true);
			if (pass_ns) {
				uint64_t npages = (vi->end_gpa - vi->start_gpa) / PAGE;
				uint64_t pos = (uint64_t)((double)((m2d_now() - t1) % pass_ns) /
							  (double)pass_ns * (double)npages);

				vi->resume_gpa = vi->start_gpa + pos * PAGE;
				vi->resume = pos != 0;
			}
		}
		if (s->cfg.efault_skip) {
			guest_sync(vi, 3);
			return;
		}
		vi->stage = 4; /* arm64-style: no GUEST_SYNC(3) */
		/* fall through */
	case 4:
		from = vi->resume ? vi->resume_gpa : vi->start_gpa;
		vi->resume = false;
		if (guest_pass(vi, from, M2D_ACCESS_WRITE) == M2D_GUEST_ACCESS_STOPPED) {
			vi->resume = true;
			return;
		}
		guest_sync(vi, 4);
		return;
	default:
		return;
	}
}

/* The vCPU thread's handling of -EFAULT (vcpu_worker's loops). */
static enum m2d_kvm_exit_action vcpu_exit(struct m2d_vcpu *vcpu, const struct m2d_kvm_exit *ex,
					  void *arg)
{
	struct vcpu_info *vi = arg;

	(void)vcpu;
	if (ex->reason != M2D_KVM_EXIT_EFAULT) {
		vi->s->err = -EINVAL; /* the selftest asserts */
		return M2D_KVM_EXIT_STOP;
	}
	vi->efaults++;
	if (vi->stage == 3) {
		if (vi->s->cfg.efault_skip)
			return M2D_KVM_EXIT_SKIP; /* rip += 3 / pc += 4 */
		vi->resume_gpa = ex->gpa & ~(PAGE - 1);
		return M2D_KVM_EXIT_STOP;
	}
	if (vi->stage == 4)
		return M2D_KVM_EXIT_RETRY; /* do { r = _vcpu_run(vcpu); } while (r && errno == EFAULT) */
	vi->s->err = -EFAULT;
	return M2D_KVM_EXIT_STOP;
}

/* vcpu_run + assert_sync_stage: KVM_RUN until the guest reached @stage + 1. */
static void run_vcpu(struct vcpu_info *vi, int stage)
{
	while (vi->stage == stage && !vi->s->err)
		m2d_vcpu_run(vi->vcpu, guest_code, vi, vcpu_exit, vi);
}

static void vcpu_worker(void *arg)
{
	struct vcpu_info *vi = arg;
	struct m2d_mmu_stress *s = vi->s;

	rendezvous_with_boss(&s->rdv);
	run_vcpu(vi, 0);
	rendezvous_with_boss(&s->rdv);
	/*
	 * x86: KVM_GET_SREGS / KVM_SET_SREGS toggling CR0.WP: a context reset
	 * whose TDP root role is unchanged, so nothing is zapped or re-faulted.
	 */
	rendezvous_with_boss(&s->rdv);
	run_vcpu(vi, 1);
	rendezvous_with_boss(&s->rdv);
	run_vcpu(vi, 2);
	/* Stage 3: until the first -EFAULT (stop) or GUEST_SYNC(3) (skip). */
	if (s->cfg.efault_skip)
		run_vcpu(vi, 3);
	else
		m2d_vcpu_run(vi->vcpu, guest_code, vi, vcpu_exit, vi);
	rendezvous_with_boss(&s->rdv);
	/* Stage 4: re-run while -EFAULT, until GUEST_SYNC(4). */
	while (vi->stage <= 4 && !s->err)
		m2d_vcpu_run(vi->vcpu, guest_code, vi, vcpu_exit, vi);
	rendezvous_with_boss(&s->rdv);
}

static void main_thread(void *arg)
{
	struct m2d_mmu_stress *s = arg;
	struct m2d_mm_stats st0, st1;

	s->t[0] = rendezvous_with_vcpus(s, "spawning", 0.0);
	s->t[1] = rendezvous_with_vcpus(s, "run 1", 0.3);
	s->t[2] = rendezvous_with_vcpus(s, "reset", 0.35);
	s->t[3] = rendezvous_with_vcpus(s, "run 2", 0.4);
	m2d_mm_stats_get(s->mm, &st0);
	if (m2d_mm_mprotect(s->mm, s->mem, s->cfg.slot_size, M2D_PROT_READ))
		s->err = -EIO;
	/* usleep(10) */
	m2d_delay_ns(M2D_COST_VMM_POLL_SLEEP, m2d_cost(M2D_COST_VMM_POLL_SLEEP) / 10);
	m2d_delay(M2D_COST_VMM_TIMER_SLACK, 1);
	m2d_delay(M2D_COST_SLEEP_WAKEUP, 1);
	WRITE_ONCE(s->mprotect_ro_done, true);
	m2d_wake_up_all(&s->spin_wq);
	s->t[4] = rendezvous_with_vcpus(s, "mprotect RO", 0.7);
	if (m2d_mm_mprotect(s->mm, s->mem, s->cfg.slot_size, M2D_PROT_READ | M2D_PROT_WRITE))
		s->err = -EIO;
	s->t[5] = rendezvous_with_vcpus(s, "mprotect RW", 1.0);
	m2d_mm_stats_get(s->mm, &st1);
	s->invalidations = st1.invalidations - st0.invalidations;
}

/* An invalidation starts: spinning stage-3 loops must look at memory again. */
static int stress_mn_start(struct m2d_mmu_notifier *sub, const struct m2d_mmu_notifier_range *range)
{
	struct m2d_mmu_stress *s = caa_container_of(sub, struct m2d_mmu_stress, mn);

	(void)range;
	s->inv_gen++;
	m2d_wake_up_all(&s->spin_wq);
	return 0;
}

static const struct m2d_mmu_notifier_ops stress_mn_ops = {
	.invalidate_range_start = stress_mn_start,
};

/* ---- setup ------------------------------------------------------------------- */

static int stress_setup(struct m2d_mmu_stress *s, struct m2d_sim *sim)
{
	const struct m2d_mmu_stress_config *c = &s->cfg;
	struct m2d_host_config hcfg;
	struct m2d_mm_config mcfg;
	struct m2d_vm_config vcfg;
	struct m2d_kvm_host_ops ops;
	uint64_t nslots = c->max_mem / c->slot_size, nr_bytes, gpa;
	int r;

	m2d_host_config_default(&hcfg);
	/* The memfd plus room for page tables and the kernel. */
	hcfg.mem_bytes = c->slot_size + SZ_4G;
	r = m2d_host_create(sim, &hcfg, &s->host);
	if (r)
		return r;
	m2d_mm_config_default(&mcfg);
	mcfg.arch = c->arm64 ? M2D_MM_ARCH_ARM64 : M2D_MM_ARCH_X86_64;
	mcfg.notifier = c->notifier;
	r = m2d_mm_create(&s->mm, s->host, &mcfg);
	if (r)
		return r;
	r = m2d_memfd_create(s->host, c->slot_size, M2D_FILE_SHMEM, &s->memfd);
	if (r)
		return r;
	r = m2d_mm_mmap(s->mm, 0, c->slot_size, M2D_PROT_READ | M2D_PROT_WRITE, M2D_MAP_SHARED,
			s->memfd, 0, &s->mem);
	if (!r)
		r = m2d_mm_madvise(s->mm, s->mem, c->slot_size, M2D_MADV_NOHUGEPAGE);
	/* Pre-fault the memory to avoid taking mmap_sem on guest page faults. */
	if (!r)
		r = m2d_mm_populate(s->mm, s->mem, c->slot_size, true);
	if (r)
		return r;

	m2d_vm_config_default(&vcfg);
	vcfg.mmu = c->arm64 ? M2D_KVM_MMU_ARM64_S2 : M2D_KVM_MMU_TDP;
	vcfg.vendor = M2D_KVM_VENDOR_INTEL;
	vcfg.fault_mmap_lock = c->fault_mmap_lock;
	memset(&ops, 0, sizeof(ops));
	m2d_kvm_host_ops_set_mm(&ops);
	r = m2d_vm_create(&s->vm, sim, &vcfg, &ops);
	if (r)
		return r;
	/* Subscribed before KVM, so it runs first (registration order). */
	m2d_waitqueue_init(&s->spin_wq, "guest_write_loop");
	s->mn.ops = &stress_mn_ops;
	r = m2d_mmu_notifier_register(&s->mn, s->mm);
	if (r)
		return r;
	r = m2d_vm_mmu_notifier_register(s->vm, s->mm);
	if (r)
		return r;
	for (uint64_t k = 0; k < nslots; k++) {
		struct m2d_memslot_desc d = {
			.id = (uint32_t)(k + 1),
			.guest_phys = SZ_4G + k * c->slot_size,
			.size = c->slot_size,
			.userspace_addr = s->mem,
			.mm = s->mm,
		};

		r = m2d_vm_set_memslot(s->vm, &d);
		if (r)
			return r;
	}
	s->end_gpa = SZ_4G + nslots * c->slot_size;
	/* virt_map: x86 1 GiB pages, arm64 4K pages; tables in slot 0 (< 1 GiB). */
	r = m2d_guest_pt_create(&s->gpt, SZ_4G, nslots * c->slot_size,
				c->arm64 ? M2D_LEVEL_4K : M2D_LEVEL_1G, c->arm64, 1ull << 20);
	if (r)
		return r;

	nr_bytes = ((s->end_gpa - SZ_4G) / c->nr_vcpus) & ~(PAGE - 1);
	if (!nr_bytes)
		return -EINVAL;
	s->info = m2d_zalloc(M2D_ALLOC_GUEST, c->nr_vcpus * sizeof(*s->info));
	if (!s->info)
		return -ENOMEM;
	gpa = SZ_4G;
	for (unsigned i = 0; i < c->nr_vcpus; i++, gpa += nr_bytes) {
		struct vcpu_info *vi = &s->info[i];

		vi->s = s;
		vi->start_gpa = gpa;
		vi->end_gpa = gpa + nr_bytes;
		r = m2d_vcpu_create(s->vm, i, &vi->vcpu);
		if (r)
			return r;
	}
	s->rdv.n = c->nr_vcpus;
	m2d_waitqueue_init(&s->rdv.wq, "rendezvous");
	m2d_cacheline_init(&s->rdv.line);
	return 0;
}

static void stress_teardown(struct m2d_mmu_stress *s)
{
	if (s->mn.mm)
		m2d_mmu_notifier_unregister(&s->mn, s->mm);
	if (s->mn.ops)
		m2d_waitqueue_fini(&s->spin_wq);
	m2d_vm_destroy(&s->vm);
	m2d_guest_pt_destroy(&s->gpt);
	m2d_mm_destroy(&s->mm);
	m2d_file_put(&s->memfd);
	m2d_host_destroy(&s->host);
	if (s->info) {
		m2d_waitqueue_fini(&s->rdv.wq);
		m2d_free(M2D_ALLOC_GUEST, s->info, s->cfg.nr_vcpus * sizeof(*s->info));
	}
}

int m2d_mmu_stress_run(struct m2d_sim *sim, const struct m2d_mmu_stress_config *cfg,
		       struct m2d_mmu_stress_result *out, struct m2d_mmu_stress **state)
{
	struct m2d_mmu_stress *sp;
	m2d_vtime_t t0;
	int r;

	M2D_VALIDATE_OR_RET(sim && cfg && out, -EINVAL);
	if (!cfg->nr_vcpus || !cfg->slot_size || cfg->slot_size % SZ_1G || !cfg->max_mem ||
	    cfg->max_mem % cfg->slot_size || cfg->notifier < 0 ||
	    cfg->notifier >= M2D_MM_NOTIFIER_NR)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	sp = m2d_zalloc(M2D_ALLOC_GUEST, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->cfg = *cfg;
	sp->sim = sim;

	m2d_engine_enter(sim);
	r = stress_setup(sp, sim);
	/* The threads start when the setup (pre-fault, memslots) is done. */
	t0 = m2d_now();
	m2d_engine_leave(sim);
	if (r)
		goto out;
	for (unsigned i = 0; i < cfg->nr_vcpus && !r; i++) {
		snprintf(sp->info[i].name, sizeof(sp->info[i].name), "vcpu%u", i);
		if (!m2d_thread_create(sim, (int)i, sp->info[i].name, vcpu_worker, &sp->info[i], t0,
				       &r))
			break;
	}
	if (!r)
		m2d_thread_create(sim, (int)cfg->main_cpu, "main", main_thread, sp, t0, &r);
	if (!r)
		r = m2d_sim_run(sim);
	if (!r)
		r = sp->err;
	if (r)
		goto out;
	out->run1_s = (double)(sp->t[1] - sp->t[0]) / 1e9;
	out->reset_s = (double)(sp->t[2] - sp->t[1]) / 1e9;
	out->run2_s = (double)(sp->t[3] - sp->t[2]) / 1e9;
	out->ro_s = (double)(sp->t[4] - sp->t[3]) / 1e9;
	out->rw_s = (double)(sp->t[5] - sp->t[4]) / 1e9;
	out->nr_slots = cfg->max_mem / cfg->slot_size;
	out->slice_bytes = sp->info[0].end_gpa - sp->info[0].start_gpa;
	for (unsigned i = 0; i < cfg->nr_vcpus; i++)
		out->efault_exits += sp->info[i].efaults;
	out->guest_pt_tables = m2d_guest_pt_tables(sp->gpt);
	out->mprotect_invalidations = sp->invalidations;
out:
	if (state && !r) {
		*state = sp;
		return 0;
	}
	m2d_engine_enter(sim);
	stress_teardown(sp);
	m2d_engine_leave(sim);
	m2d_free(M2D_ALLOC_GUEST, sp, sizeof(*sp));
	return r;
}

void m2d_mmu_stress_free(struct m2d_mmu_stress **state)
{
	struct m2d_mmu_stress *sp = state ? *state : NULL;
	struct m2d_sim *sim;

	if (!sp)
		return;
	sim = sp->sim;
	m2d_engine_enter(sim);
	stress_teardown(sp);
	m2d_engine_leave(sim);
	m2d_free(M2D_ALLOC_GUEST, sp, sizeof(*sp));
	*state = NULL;
}
