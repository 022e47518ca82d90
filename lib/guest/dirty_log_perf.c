// SPDX-License-Identifier: MIT
/*
 * lib/guest/dirty_log_perf.c - tools/testing/selftests/kvm/dirty_log_perf_test.c
 * with lib/perf_test_util.c (renamed memstress.c in 2022), as the 2022
 * measurements ran it (MECHANISMS.md 7.3, REFERENCE.md A6/A7a).
 *
 * Setup (not timed, as in the selftest): the backing is mmap'ed in the host
 * mm (HugeTLB 1G/2M: a hugetlbfs memfd mapped MAP_SHARED, which KVM sees as
 * the same PUD/PMD leaves as the selftest's MAP_PRIVATE|MAP_HUGETLB; THP:
 * anonymous + MADV_HUGEPAGE; anonymous: MADV_NOHUGEPAGE), one memslot of
 * nr_vcpus * mem_per_vcpu at the top of the guest physical space
 * (perf_test_create_vm: (max_gfn - pages) aligned down to the backing page
 * size), KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with INITIALLY_SET unless -g.
 *
 * Run (timed on the main thread's clock, which is what the selftest's
 * clock_gettime on the main thread measures):
 *   populate    iteration 0: every vCPU thread runs its slice once
 *               (perf_test_util guest_code: one 8-byte access per 4K page,
 *               written or read per -f), then GUEST_SYNC; the main thread
 *               spins until every vCPU reported the iteration.
 *   enable      KVM_SET_USER_MEMORY_REGION with KVM_MEM_LOG_DIRTY_PAGES.
 *   iteration k the main thread bumps `iteration`; the vCPUs, spinning in
 *               host user space, re-enter the guest and run their slice;
 *               then KVM_GET_DIRTY_LOG and (manual protect) KVM_CLEAR_DIRTY_LOG
 *               of the whole slot.
 *   disable     KVM_SET_USER_MEMORY_REGION without the flag (huge page
 *               recovery).  vCPUs are idle (no -e).
 *
 * arm64 (cfg.arm64): the stage-2 MMU with the selftest's -m 2
 * (VM_MODE_P48V48_4K: the slot at the top of a 48-bit IPA space); PML does
 * not exist, so dirty logging write-protects.  cfg.stride > 4K accesses one
 * page per stride (the "sparse" variant the ARMEPS measurements used).
 *
 * With ept=N (shadow paging) the guest's own page tables matter: the
 * selftest maps the test memory at DEFAULT_GUEST_TEST_MEM (3 GiB) with 4K
 * pages (virt_map), its tables allocated from memslot 0 from
 * KVM_GUEST_PAGE_TABLE_MIN_PADDR; KVM shadows them and the vCPUs' accesses
 * are walked by GVA.  With EPT the model walks the GPA directly (the
 * guest dimension of the 2D walk is not what this test measures).
 */
#include "core/engine.h"
#include "core/kernel.h"
#include "core/alloc.h"

#include <mmu2d/guest.h>
#include <mmu2d/kvm.h>
#include <mmu2d/mm.h>
#include <mmu2d/physmem.h>
#include <mmu2d/sim.h>
#include <mmu2d/workloads.h>

#include <errno.h>
#include <string.h>

#define DLP_SLOT_ID 1              /* PERF_TEST_MEM_SLOT_INDEX */
#define DLP_PA_BITS 46             /* MAXPHYADDR of the 2022 Intel hosts */
#define DLP_PA_BITS_ARM64 48       /* -m 2: VM_MODE_P48V48_4K */
#define DLP_GUEST_TEST_MEM 0xc0000000ull /* DEFAULT_GUEST_TEST_MEM */
#define DLP_PT_MIN_PADDR 0x180000ull /* KVM_GUEST_PAGE_TABLE_MIN_PADDR */
#define DLP_SLOT0_BYTES (512ull << 12) /* DEFAULT_GUEST_PHY_PAGES */

struct dlp;

struct dlp_vcpu {
	struct dlp *d;
	struct m2d_vcpu *vcpu;
	unsigned idx;
	uint64_t gpa;                  /* vcpu_args->gpa (partitioned access) */
	uint64_t addr;                 /* what the vCPU accesses: the GPA (EPT), the GVA (ept=N) */
	uint64_t pages;                /* vcpu_args->pages */
	uint64_t rand;                 /* guest_random_state.seed */
	int last_completed;            /* vcpu_last_completed_iteration[] */
	char name[24];
};

struct dlp {
	const struct m2d_dirty_log_config *cfg;
	struct m2d_dirty_log_result *res;
	struct m2d_sim *sim;
	struct m2d_host *host;
	struct m2d_mm *mm;
	struct m2d_file *file;
	struct m2d_vm *vm;
	struct dlp_vcpu *vcpus;
	struct m2d_memslot_desc slot;
	struct m2d_memslot_desc slot0; /* ept=N: memslot 0 with the guest page tables */
	struct m2d_guest_pt *gpt;      /* ept=N: the guest's page tables */
	uint64_t *bitmap;
	uint64_t wr_fract;             /* 100 / write_percent when it divides 100, else 0 */
	uint64_t stride;               /* bytes between accessed pages (4K: every page) */
	int iteration;                 /* the selftest's `iteration` */
	bool host_quit;
	unsigned nr_done;              /* vCPUs whose last_completed == iteration */
	unsigned nr_exited;            /* vCPU threads that returned (pthread_join) */
	struct m2d_waitqueue main_wq;  /* main thread: "every vCPU completed" */
	struct m2d_waitqueue vcpu_wq;  /* vCPU threads: "iteration changed" */
	int err;
};

void m2d_dirty_log_config_default(struct m2d_dirty_log_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->nr_vcpus = 1;
	cfg->mem_per_vcpu = M2D_SZ_1G;
	cfg->backing = M2D_BACKING_HUGETLB_1G;
	cfg->mmu = M2D_DIRTY_LOG_MMU_TDP;
	cfg->eager_split = true;
	cfg->pml = true;
	cfg->write_percent = 100;
	cfg->initially_all_set = true;
	cfg->iterations = 2;
	cfg->fault_split_huge = true;
}

/*
 * guest_random_u32 (test_util.c): the Park-Miller "minimal standard" LCG,
 * seed = seed * 48271 mod (2^31 - 1).
 */
static uint32_t guest_random_u32(uint64_t *seed)
{
	*seed = *seed * 48271 % ((1u << 31) - 1);
	return (uint32_t)*seed;
}

/*
 * perf_test_util guest_code: one pass over the vCPU's pages, an 8-byte
 * store or load per 4K page.  With -f N (2022) page i is written iff
 * i % N == 0; the later memstress rule draws guest_random_u32() % 100 <
 * write_percent per page.  Runs of equal accesses go through
 * m2d_vcpu_access_range() (one walk per leaf table).
 */
static void guest_code(struct m2d_vcpu *vcpu, void *arg)
{
	struct dlp_vcpu *v = arg;
	const struct m2d_dirty_log_config *cfg = v->d->cfg;
	uint64_t f = v->d->wr_fract, stride = v->d->stride;
	uint64_t pages = M2D_DIV_ROUND_UP(v->pages * M2D_PAGE_SIZE, stride);

	if (cfg->write_percent == 100) {
		m2d_vcpu_access_range(vcpu, v->addr, pages, stride, M2D_ACCESS_WRITE);
		return;
	}
	for (uint64_t i = 0; i < pages;) {
		uint64_t gpa = v->addr + i * stride, n;

		if (f) {
			if (i % f == 0) {
				m2d_vcpu_access(vcpu, gpa, M2D_ACCESS_WRITE);
				i++;
				continue;
			}
			n = M2D_MIN(f - i % f, pages - i);
			m2d_vcpu_access_range(vcpu, gpa, n, stride, 0);
			i += n;
			continue;
		}
		m2d_vcpu_access(vcpu, gpa,
				guest_random_u32(&v->rand) % 100 < cfg->write_percent ?
					M2D_ACCESS_WRITE : 0);
		i++;
	}
}

/* vcpu_worker(): KVM_RUN until GUEST_SYNC, report, spin for the next iteration. */
static void vcpu_worker(void *arg)
{
	struct dlp_vcpu *v = arg;
	struct dlp *d = v->d;

	while (!READ_ONCE(d->host_quit)) {
		int current_iteration = READ_ONCE(d->iteration);
		int ret = m2d_vcpu_run(v->vcpu, guest_code, v, NULL, NULL);

		if (ret && !d->err)
			d->err = ret;
		v->last_completed = current_iteration;
		if (++d->nr_done == d->cfg->nr_vcpus)
			m2d_wake_up_all(&d->main_wq);
		m2d_wait_event(&d->vcpu_wq,
			       current_iteration != READ_ONCE(d->iteration) || READ_ONCE(d->host_quit),
			       true);
	}
	if (++d->nr_exited == d->cfg->nr_vcpus)
		m2d_wake_up_all(&d->main_wq);
}

static double elapsed_s(m2d_vtime_t start)
{
	return (double)(m2d_now() - start) / 1e9;
}

/* The main thread spins until every vCPU completed the current iteration. */
static void wait_for_vcpus(struct dlp *d)
{
	m2d_wait_event(&d->main_wq, d->nr_done == d->cfg->nr_vcpus, true);
}

static void start_iteration(struct dlp *d)
{
	d->nr_done = 0;
	WRITE_ONCE(d->iteration, d->iteration + 1);
	m2d_wake_up_all(&d->vcpu_wq);
}

static void toggle_dirty_logging(struct dlp *d, bool enable)
{
	struct m2d_memslot_desc s = d->slot;
	int ret;

	s.flags = enable ? M2D_MEM_LOG_DIRTY_PAGES : 0;
	ret = m2d_vm_set_memslot(d->vm, &s);
	if (ret && !d->err)
		d->err = ret;
}

static void progress(struct dlp *d, const char *phase, double f)
{
	if (d->cfg->progress)
		d->cfg->progress(d->cfg->progress_arg, phase, f);
}

/* Free the VM, the mm and the backing in the simulated thread that ran the test. */
static void teardown(struct dlp *d)
{
	m2d_vm_destroy(&d->vm);
	m2d_guest_pt_destroy(&d->gpt);
	m2d_mm_destroy(&d->mm);
	m2d_file_put(&d->file);
}

/* run_test(): the main thread. */
static void main_thread(void *arg)
{
	struct dlp *d = arg;
	const struct m2d_dirty_log_config *cfg = d->cfg;
	struct m2d_dirty_log_result *res = d->res;
	uint64_t words = M2D_DIV_ROUND_UP(res->guest_pages, 64);
	m2d_vtime_t start;
	struct m2d_vm_stats st;

	start = m2d_now();
	for (unsigned i = 0; i < cfg->nr_vcpus; i++) {
		struct dlp_vcpu *v = &d->vcpus[i];
		int err = 0;

		v->last_completed = -1;
		if (!m2d_thread_create(d->sim, (int)i, v->name, vcpu_worker, v, start, &err)) {
			/* the threads created so far are waiting for an iteration */
			d->err = err;
			WRITE_ONCE(d->host_quit, true);
			return;
		}
	}
	wait_for_vcpus(d);
	res->populate_s = elapsed_s(start);
	progress(d, "populate", 0);

	start = m2d_now();
	toggle_dirty_logging(d, true);
	res->enable_dirty_logging_s = elapsed_s(start);

	for (unsigned k = 0; k < cfg->iterations && !d->err; k++) {
		struct m2d_dirty_log_iteration *it = &res->iterations[k];

		start = m2d_now();
		start_iteration(d);
		wait_for_vcpus(d);
		it->dirty_s = elapsed_s(start);

		start = m2d_now();
		d->err = m2d_vm_get_dirty_log(d->vm, DLP_SLOT_ID, d->bitmap);
		it->get_dirty_log_s = elapsed_s(start);
		for (uint64_t w = 0; w < words; w++)
			it->dirty_pages += (uint64_t)__builtin_popcountll(d->bitmap[w]);
		if (cfg->initially_all_set && !d->err) {
			start = m2d_now();
			d->err = m2d_vm_clear_dirty_log(d->vm, DLP_SLOT_ID, 0, res->guest_pages,
							d->bitmap);
			it->clear_dirty_log_s = elapsed_s(start);
		}
		progress(d, "iterations", (double)(k + 1) / cfg->iterations);
	}

	start = m2d_now();
	toggle_dirty_logging(d, false);
	res->disable_dirty_logging_s = elapsed_s(start);

	m2d_vm_stats_get(d->vm, &st);
	res->pages_4k = st.pages[1];
	res->pages_2m = st.pages[2];
	res->pages_1g = st.pages[3];

	/* host_quit; perf_test_join_vcpu_threads; perf_test_destroy_vm */
	WRITE_ONCE(d->host_quit, true);
	m2d_wake_up_all(&d->vcpu_wq);
	m2d_wait_event(&d->main_wq, d->nr_exited == cfg->nr_vcpus, false);
	teardown(d);
}

/* The host side: memory, mm and backing mapping (vm_userspace_mem_region_add). */
static int setup_backing(struct dlp *d, uint64_t size)
{
	const struct m2d_dirty_log_config *cfg = d->cfg;
	struct m2d_host_config hc;
	struct m2d_mm_config mc;
	uint64_t hva;
	int ret;

	m2d_host_config_default(&hc);
	/* The guest memory plus room for page tables and metadata. */
	hc.mem_bytes = M2D_ALIGN_UP(size + size / 8 + (1ull << 30), M2D_SZ_1G);
	/* ept=N: memslot 0 holds the guest's page tables (about 1/512 of the memory). */
	if (cfg->mmu == M2D_DIRTY_LOG_MMU_SHADOW) {
		d->slot0.size = M2D_ALIGN_UP(DLP_PT_MIN_PADDR + size / 256 + DLP_SLOT0_BYTES,
					     M2D_PMD_SIZE);
		hc.mem_bytes += M2D_ALIGN_UP(d->slot0.size, M2D_SZ_1G);
	}
	ret = m2d_host_create(d->sim, &hc, &d->host);
	if (ret)
		return ret;
	m2d_mm_config_default(&mc);
	ret = m2d_mm_create(&d->mm, d->host, &mc);
	if (ret)
		return ret;
	switch (cfg->backing) {
	case M2D_BACKING_HUGETLB_1G:
	case M2D_BACKING_HUGETLB_2M:
		ret = m2d_memfd_create(d->host, size,
				       cfg->backing == M2D_BACKING_HUGETLB_1G ? M2D_FILE_HUGETLB_1G
									      : M2D_FILE_HUGETLB_2M,
				       &d->file);
		if (!ret)
			ret = m2d_mm_mmap(d->mm, 0, size, M2D_PROT_READ | M2D_PROT_WRITE,
					  M2D_MAP_SHARED, d->file, 0, &hva);
		break;
	default:
		ret = m2d_mm_mmap(d->mm, 0, size, M2D_PROT_READ | M2D_PROT_WRITE,
				  M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS, NULL, 0, &hva);
		if (!ret)
			ret = m2d_mm_madvise(d->mm, hva, size,
					     cfg->backing == M2D_BACKING_THP ? M2D_MADV_HUGEPAGE
									     : M2D_MADV_NOHUGEPAGE);
		break;
	}
	if (ret)
		return ret;
	d->slot.userspace_addr = hva;
	if (d->slot0.size) {
		ret = m2d_mm_mmap(d->mm, 0, d->slot0.size, M2D_PROT_READ | M2D_PROT_WRITE,
				  M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS, NULL, 0, &hva);
		d->slot0.userspace_addr = hva;
	}
	return ret;
}

/*
 * ept=N: memslot 0 and the guest's page tables (kvm_vm_elf_load's slot,
 * virt_map of the test memory at DEFAULT_GUEST_TEST_MEM with 4K pages),
 * handed to KVM as the guest's CR3.
 */
static int setup_guest_paging(struct dlp *d, uint64_t size)
{
	int ret;

	d->slot0.id = 0;
	d->slot0.guest_phys = 0;
	d->slot0.mm = d->mm;
	ret = m2d_vm_set_memslot(d->vm, &d->slot0);
	if (!ret)
		ret = m2d_guest_pt_create_map(&d->gpt, DLP_GUEST_TEST_MEM, d->slot.guest_phys, size,
					      M2D_LEVEL_4K, false, DLP_PT_MIN_PADDR);
	if (!ret && DLP_PT_MIN_PADDR + m2d_guest_pt_tables(d->gpt) * M2D_PAGE_SIZE > d->slot0.size)
		ret = -ENOSPC;
	if (!ret)
		ret = m2d_vm_set_guest_walker(d->vm, m2d_guest_pt_walk, d->gpt);
	return ret;
}

static int setup_vm(struct dlp *d, uint64_t size)
{
	static const uint64_t backing_size[M2D_BACKING_NR] = {
		M2D_SZ_1G, M2D_PMD_SIZE, M2D_PMD_SIZE, M2D_PAGE_SIZE,
	};
	const struct m2d_dirty_log_config *cfg = d->cfg;
	struct m2d_kvm_host_ops ops = { 0 };
	struct m2d_vm_config vc;
	uint64_t region_end = 1ull << (cfg->arm64 ? DLP_PA_BITS_ARM64 : DLP_PA_BITS);
	uint64_t seed = m2d_rand() % ((1u << 31) - 1);
	int ret;

	m2d_kvm_host_ops_set_mm(&ops);
	m2d_vm_config_default(&vc);
	vc.mmu = cfg->mmu == M2D_DIRTY_LOG_MMU_LEGACY ? M2D_KVM_MMU_LEGACY :
		 cfg->mmu == M2D_DIRTY_LOG_MMU_SHADOW ? M2D_KVM_MMU_SHADOW : M2D_KVM_MMU_TDP;
	if (cfg->arm64)
		vc.mmu = M2D_KVM_MMU_ARM64_S2;
	vc.vendor = M2D_KVM_VENDOR_INTEL;
	/* arm64: eager splitting = KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE set by the VMM */
	vc.eager_page_split = cfg->eager_split;
	vc.pml = cfg->pml && !cfg->arm64;
	vc.s2_fault_write_lock = cfg->s2_fault_write_lock;
	vc.s2_relax_tlbi_is = cfg->s2_relax_tlbi_is;
	vc.s2_split_chunk_kib = cfg->s2_split_chunk_kib;
	vc.manual_protect = cfg->initially_all_set;
	vc.initially_all_set = cfg->initially_all_set;
	vc.fault_split_huge = cfg->fault_split_huge;
	vc.split_alloc_nowait = cfg->split_alloc_nowait;
	vc.legacy_eager_split = cfg->legacy_eager_split;
	ret = m2d_vm_create(&d->vm, d->sim, &vc, &ops);
	if (ret)
		return ret;
	ret = m2d_vm_mmu_notifier_register(d->vm, d->mm);
	if (ret)
		return ret;
	/* perf_test_create_vm: args->gpa = (region_end_gfn - guest_num_pages - 1) pages, aligned down. */
	d->slot.id = DLP_SLOT_ID;
	d->slot.guest_phys = M2D_ALIGN_DOWN(region_end - size - M2D_PAGE_SIZE,
					    backing_size[cfg->backing]);
	d->slot.size = size;
	d->slot.mm = d->mm;
	ret = m2d_vm_set_memslot(d->vm, &d->slot);
	if (!ret && cfg->mmu == M2D_DIRTY_LOG_MMU_SHADOW)
		ret = setup_guest_paging(d, size);
	if (ret)
		return ret;
	for (unsigned i = 0; i < cfg->nr_vcpus; i++) {
		struct dlp_vcpu *v = &d->vcpus[i];

		v->d = d;
		v->idx = i;
		v->pages = cfg->mem_per_vcpu >> M2D_PAGE_SHIFT;
		v->gpa = d->slot.guest_phys + (uint64_t)i * cfg->mem_per_vcpu;
		v->addr = cfg->mmu == M2D_DIRTY_LOG_MMU_SHADOW ?
				  DLP_GUEST_TEST_MEM + (uint64_t)i * cfg->mem_per_vcpu : v->gpa;
		/* new_guest_random_state(random_seed + vcpu_idx), random_seed from --seed */
		v->rand = (seed + i) % ((1u << 31) - 1) ?: 1;
		snprintf(v->name, sizeof(v->name), "vcpu%u", i);
		ret = m2d_vcpu_create(d->vm, i, &v->vcpu);
		if (ret)
			return ret;
	}
	return 0;
}

static int dlp_check(const struct m2d_dirty_log_config *cfg)
{
	if (!cfg->nr_vcpus || cfg->nr_vcpus >= 1024 || !cfg->iterations ||
	    cfg->iterations > 100000 || !cfg->write_percent || cfg->write_percent > 100 ||
	    cfg->backing >= M2D_BACKING_NR || cfg->mmu >= M2D_DIRTY_LOG_MMU_NR ||
	    !cfg->mem_per_vcpu || cfg->mem_per_vcpu % M2D_PAGE_SIZE ||
	    cfg->mem_per_vcpu > (1ull << 40) || cfg->stride % M2D_PAGE_SIZE ||
	    cfg->stride > cfg->mem_per_vcpu || (cfg->arm64 && cfg->mmu != M2D_DIRTY_LOG_MMU_TDP))
		return -EINVAL;
	/* The backing's page size must divide the memory (vm_userspace_mem_region_add). */
	if (cfg->backing == M2D_BACKING_HUGETLB_1G && (cfg->mem_per_vcpu * cfg->nr_vcpus) % M2D_SZ_1G)
		return -EINVAL;
	if (cfg->backing == M2D_BACKING_HUGETLB_2M &&
	    (cfg->mem_per_vcpu * cfg->nr_vcpus) % M2D_PMD_SIZE)
		return -EINVAL;
	return 0;
}

int m2d_dirty_log_run(struct m2d_sim *sim, const struct m2d_dirty_log_config *cfg,
		      struct m2d_dirty_log_result *out)
{
	struct dlp d = { .cfg = cfg, .res = out, .sim = sim };
	uint64_t size;
	int ret, err = 0;

	M2D_VALIDATE_OR_RET(sim && cfg && out, -EINVAL);
	memset(out, 0, sizeof(*out));
	ret = dlp_check(cfg);
	if (ret)
		return ret;
	size = cfg->mem_per_vcpu * cfg->nr_vcpus;
	if (100 % cfg->write_percent == 0)
		d.wr_fract = 100 / cfg->write_percent;
	d.stride = cfg->stride ? cfg->stride : M2D_PAGE_SIZE;
	out->nr_iterations = cfg->iterations;
	out->guest_pages = size >> M2D_PAGE_SHIFT;
	out->iterations = m2d_calloc(M2D_ALLOC_GUEST, cfg->iterations, sizeof(*out->iterations));
	d.vcpus = m2d_calloc(M2D_ALLOC_GUEST, cfg->nr_vcpus, sizeof(*d.vcpus));
	d.bitmap = m2d_calloc(M2D_ALLOC_GUEST, M2D_DIV_ROUND_UP(out->guest_pages, 64),
			      sizeof(uint64_t));
	if (!out->iterations || !d.vcpus || !d.bitmap) {
		ret = -ENOMEM;
		goto out;
	}
	m2d_waitqueue_init(&d.main_wq, "dirty_log_main");
	m2d_waitqueue_init(&d.vcpu_wq, "dirty_log_vcpu");

	m2d_engine_enter(sim);
	ret = m2d_nr_cpus() < (int)cfg->nr_vcpus + 1 ? -EINVAL : 0;
	if (!ret)
		ret = setup_backing(&d, size);
	if (!ret)
		ret = setup_vm(&d, size);
	if (!ret && !m2d_thread_create(sim, (int)cfg->nr_vcpus, "main", main_thread, &d, m2d_now(),
				       &err))
		ret = err;
	m2d_engine_leave(sim);
	if (!ret)
		ret = m2d_sim_run(sim);
	if (!ret)
		ret = d.err;
	out->gpa = d.slot.guest_phys;

	/* What the main thread did not free (setup or thread creation failed). */
	m2d_engine_enter(sim);
	teardown(&d);
	m2d_engine_leave(sim);
	m2d_host_destroy(&d.host);
	m2d_waitqueue_fini(&d.main_wq);
	m2d_waitqueue_fini(&d.vcpu_wq);
out:
	m2d_free(M2D_ALLOC_GUEST, d.vcpus, cfg->nr_vcpus * sizeof(*d.vcpus));
	m2d_free(M2D_ALLOC_GUEST, d.bitmap, M2D_DIV_ROUND_UP(out->guest_pages, 64) * sizeof(uint64_t));
	if (ret)
		m2d_dirty_log_result_free(out);
	return ret;
}

void m2d_dirty_log_result_free(struct m2d_dirty_log_result *res)
{
	if (!res)
		return;
	m2d_free(M2D_ALLOC_GUEST, res->iterations, res->nr_iterations * sizeof(*res->iterations));
	res->iterations = NULL;
	res->nr_iterations = 0;
}
