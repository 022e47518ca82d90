// SPDX-License-Identifier: MIT
/*
 * lib/guest/hgm_collapse.c - MADV_COLLAPSE of HugeTLB high-granularity
 * mappings under a running KVM guest (MECHANISMS.md 8, REFERENCE.md A9,
 * HGM-02: "MADV_COLLAPSE of 1G HugeTLB pages mapped at 4K under a KVM guest
 * writing 8 bytes per page and skipping ahead a few pages on all vCPUs").
 *
 * Setup (post-copy style, not timed): a 1G hugetlbfs memfd holds the guest
 * memory (fallocate'd: the pages arrived), mapped MAP_SHARED, MADV_SPLIT
 * (VM_HUGETLB_HGM), then UFFDIO_CONTINUE of every 4K piece, so the host maps
 * it with PTEs; one memslot over it at GPA 4 GiB.
 *
 * Run: vCPU threads write one word every skip_pages pages of their slice,
 * pass after pass.  The VMM thread waits until every vCPU finished one pass
 * (all 4K SPTEs present), then collapses each 1G page:
 *   4k-1g     madvise(MADV_COLLAPSE) of the 1G range: one notifier range,
 *             262,144 PTEs torn down, one PUD installed;
 *   4k-2m-1g  512 madvise(MADV_COLLAPSE) of 2M (PTEs -> PMD), then the 1G
 *             (PMDs -> PUD).
 * Each madvise takes mmap_lock for write and fires
 * invalidate_range_start, which KVM handles by zapping the SPTEs under
 * mmu_lock (write); vCPU faults in the range retry until
 * invalidate_range_end (mmu_invalidate_retry_gfn), i.e. they block for the
 * whole collapse of the range.  KVM's callbacks are forwarded through an
 * mmu_notifier subscription that times invalidate_range_start.
 */
#include "core/engine.h"
#include "core/kernel.h"
#include "core/alloc.h"

#include <mmu2d/kvm.h>
#include <mmu2d/mm.h>
#include <mmu2d/physmem.h>
#include <mmu2d/sim.h>
#include <mmu2d/workloads.h>

#include <errno.h>
#include <string.h>

#define HGM_GPA (4ull << 30)
#define HGM_SLOT_ID 1
#define HGM_CHUNK 64 /* accesses per m2d_vcpu_access_range() call */

struct hgm;

struct hgm_vcpu {
	struct hgm *h;
	struct m2d_vcpu *vcpu;
	struct m2d_thread *thread;
	uint64_t gpa, pages;       /* the vCPU's slice */
	uint64_t writes;
	double stall_before_ns;    /* blocked time when the collapse started */
	char name[24];
};

struct hgm {
	const struct m2d_hgm_collapse_config *cfg;
	struct m2d_hgm_collapse_result *res;
	struct m2d_sim *sim;
	struct m2d_host *host;
	struct m2d_mm *mm;
	struct m2d_file *file;
	struct m2d_vm *vm;
	struct m2d_mm_subscription *sub;
	struct hgm_vcpu *vcpus;
	uint64_t hva;
	unsigned nr_warm;          /* vCPUs that finished their first pass */
	unsigned nr_exited;
	unsigned nr_created;       /* vCPU threads created */
	bool stop;                 /* the collapse is done: vCPUs leave */
	struct m2d_waitqueue vmm_wq;
	uint64_t inval_ns;         /* sum of invalidate_range_start durations */
	int err;
};

void m2d_hgm_collapse_config_default(struct m2d_hgm_collapse_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->mapcount = M2D_MM_MAPCOUNT_THP_LIKE;
	cfg->path = M2D_HGM_PATH_4K_1G;
	cfg->mem = 4 * M2D_SZ_1G;
	cfg->nr_vcpus = 4;
	cfg->skip_pages = 4;
}

/* KVM's mmu_notifier ops, with invalidate_range_start timed. */
static void hgm_mn_start(void *priv, uint64_t start, uint64_t end,
			 enum m2d_mmu_notifier_event event, bool may_block)
{
	struct hgm *h = priv;
	m2d_vtime_t t0 = m2d_now();

	(void)event;
	m2d_vm_mmu_notifier_invalidate_range_start(h->vm, start, end, may_block);
	h->inval_ns += m2d_now() - t0;
}

static void hgm_mn_end(void *priv, uint64_t start, uint64_t end, enum m2d_mmu_notifier_event event)
{
	struct hgm *h = priv;

	(void)event;
	m2d_vm_mmu_notifier_invalidate_range_end(h->vm, start, end);
}

/* Time a vCPU thread spent blocked on an invalidation so far. */
static double vcpu_blocked_ns(struct hgm *h, struct hgm_vcpu *v)
{
	int id = m2d_thread_id(v->thread);

	return m2d_sim_breakdown_ns(h->sim, id, "wait:mmu_invalidate_retry") +
	       m2d_sim_breakdown_ns(h->sim, id, "wait:mmu_lock");
}

/* The guest: one 8-byte write every skip_pages pages, pass after pass. */
static void guest_code(struct m2d_vcpu *vcpu, void *arg)
{
	struct hgm_vcpu *v = arg;
	struct hgm *h = v->h;
	uint64_t stride = (uint64_t)h->cfg->skip_pages * M2D_PAGE_SIZE;
	uint64_t n = M2D_DIV_ROUND_UP(v->pages, h->cfg->skip_pages);
	bool warm = false;

	while (!READ_ONCE(h->stop)) {
		for (uint64_t i = 0; i < n && !READ_ONCE(h->stop); i += HGM_CHUNK) {
			uint64_t k = M2D_MIN((uint64_t)HGM_CHUNK, n - i);

			m2d_vcpu_access_range(vcpu, v->gpa + i * stride, k, stride, M2D_ACCESS_WRITE);
			v->writes += k;
		}
		if (!warm) {
			warm = true;
			if (++h->nr_warm == h->cfg->nr_vcpus)
				m2d_wake_up_all(&h->vmm_wq);
		}
	}
}

static void vcpu_thread(void *arg)
{
	struct hgm_vcpu *v = arg;
	struct hgm *h = v->h;
	int ret = m2d_vcpu_run(v->vcpu, guest_code, v, NULL, NULL);

	if (ret && !h->err)
		h->err = ret;
	++h->nr_exited;
	m2d_wake_up_all(&h->vmm_wq);
}

static int madvise_collapse(struct hgm *h, uint64_t addr, uint64_t len)
{
	m2d_vtime_t t0 = m2d_now();
	int ret = m2d_mm_madvise(h->mm, addr, len, M2D_MADV_COLLAPSE);

	h->res->collapse_s += (double)(m2d_now() - t0) / 1e9;
	h->res->madvise_calls++;
	return ret;
}

static void progress(struct hgm *h, const char *phase, double f)
{
	if (h->cfg->progress)
		h->cfg->progress(h->cfg->progress_arg, phase, f);
}

static void hgm_teardown(struct hgm *h)
{
	m2d_mm_unsubscribe(h->mm, &h->sub);
	m2d_vm_destroy(&h->vm);
	m2d_mm_destroy(&h->mm);
	m2d_file_put(&h->file);
}

/* The VMM thread: wait for the warm-up pass, then collapse every 1G page. */
static void vmm_thread(void *arg)
{
	struct hgm *h = arg;
	const struct m2d_hgm_collapse_config *cfg = h->cfg;
	struct m2d_hgm_collapse_result *res = h->res;
	struct m2d_mm_stats before, after;
	uint64_t n1g = cfg->mem / M2D_SZ_1G;

	m2d_wait_event(&h->vmm_wq, h->nr_warm == cfg->nr_vcpus || h->err, true);
	for (unsigned i = 0; i < cfg->nr_vcpus; i++)
		h->vcpus[i].stall_before_ns = vcpu_blocked_ns(h, &h->vcpus[i]);
	m2d_mm_stats_get(h->mm, &before);
	h->inval_ns = 0;
	progress(h, "collapse", 0);
	for (uint64_t g = 0; g < n1g && !h->err; g++) {
		uint64_t base = h->hva + g * M2D_SZ_1G;
		int ret = 0;

		if (cfg->path == M2D_HGM_PATH_4K_2M_1G)
			for (uint64_t a = base; a < base + M2D_SZ_1G && !ret; a += M2D_PMD_SIZE)
				ret = madvise_collapse(h, a, M2D_PMD_SIZE);
		if (!ret)
			ret = madvise_collapse(h, base, M2D_SZ_1G);
		if (ret)
			h->err = ret;
		progress(h, "collapse", (double)(g + 1) / (double)n1g);
	}
	m2d_mm_stats_get(h->mm, &after);
	res->nr_1g = n1g;
	res->per_1g_s = res->collapse_s / (double)n1g;
	res->invalidate_start_s = (double)h->inval_ns / 1e9;
	res->mapcount_atomics = after.mapcount_atomics - before.mapcount_atomics;
	res->mapcount_subpage_atomics = after.mapcount_counters - before.mapcount_counters;
	for (unsigned i = 0; i < cfg->nr_vcpus; i++) {
		double s = (vcpu_blocked_ns(h, &h->vcpus[i]) - h->vcpus[i].stall_before_ns) / 1e9;

		res->vcpu_stall_total_s += s;
		if (s > res->vcpu_stall_s)
			res->vcpu_stall_s = s;
	}
	for (uint64_t g = 0; g < n1g; g++) {
		struct m2d_mm_xlate x;

		m2d_mm_xlate(h->mm, h->hva + g * M2D_SZ_1G, &x);
		res->host_pages_1g_after += x.present && x.level == M2D_LEVEL_1G;
	}

	WRITE_ONCE(h->stop, true);
	m2d_wait_event(&h->vmm_wq, h->nr_exited == h->nr_created, false);
	for (unsigned i = 0; i < cfg->nr_vcpus; i++)
		res->guest_writes += h->vcpus[i].writes;
	hgm_teardown(h);
}

static int hgm_setup(struct hgm *h)
{
	const struct m2d_hgm_collapse_config *cfg = h->cfg;
	static const struct m2d_mm_notifier_cb cb = {
		.invalidate_range_start = hgm_mn_start,
		.invalidate_range_end = hgm_mn_end,
	};
	struct m2d_kvm_host_ops ops = { 0 };
	struct m2d_host_config hc;
	struct m2d_mm_config mc;
	struct m2d_vm_config vc;
	struct m2d_memslot_desc slot = { 0 };
	int ret;

	m2d_host_config_default(&hc);
	hc.mem_bytes = cfg->mem + M2D_SZ_1G;
	ret = m2d_host_create(h->sim, &hc, &h->host);
	if (ret)
		return ret;
	m2d_mm_config_default(&mc);
	mc.mapcount = (enum m2d_mm_mapcount)cfg->mapcount;
	ret = m2d_mm_create(&h->mm, h->host, &mc);
	if (!ret)
		ret = m2d_memfd_create(h->host, cfg->mem, M2D_FILE_HUGETLB_1G, &h->file);
	if (!ret)
		ret = m2d_file_fallocate(h->file, 0, cfg->mem, -1);
	if (!ret)
		ret = m2d_mm_mmap(h->mm, 0, cfg->mem, M2D_PROT_READ | M2D_PROT_WRITE, M2D_MAP_SHARED,
				  h->file, 0, &h->hva);
	if (!ret)
		ret = m2d_mm_madvise(h->mm, h->hva, cfg->mem, M2D_MADV_SPLIT);
	/* post-copy: UFFDIO_CONTINUE page by page maps everything with 4K PTEs */
	for (uint64_t a = h->hva; !ret && a < h->hva + cfg->mem; a += M2D_PAGE_SIZE)
		ret = m2d_mm_uffd_continue(h->mm, a, M2D_PAGE_SIZE);
	if (ret)
		return ret;

	m2d_kvm_host_ops_set_mm(&ops);
	m2d_vm_config_default(&vc);
	ret = m2d_vm_create(&h->vm, h->sim, &vc, &ops);
	if (!ret)
		ret = m2d_mm_subscribe(h->mm, &cb, h, &h->sub);
	slot.id = HGM_SLOT_ID;
	slot.guest_phys = HGM_GPA;
	slot.size = cfg->mem;
	slot.userspace_addr = h->hva;
	slot.mm = h->mm;
	if (!ret)
		ret = m2d_vm_set_memslot(h->vm, &slot);
	for (unsigned i = 0; !ret && i < cfg->nr_vcpus; i++) {
		struct hgm_vcpu *v = &h->vcpus[i];

		v->h = h;
		v->pages = (cfg->mem / cfg->nr_vcpus) >> M2D_PAGE_SHIFT;
		v->gpa = HGM_GPA + (uint64_t)i * (cfg->mem / cfg->nr_vcpus);
		snprintf(v->name, sizeof(v->name), "vcpu%u", i);
		ret = m2d_vcpu_create(h->vm, i, &v->vcpu);
	}
	return ret;
}

int m2d_hgm_collapse_run(struct m2d_sim *sim, const struct m2d_hgm_collapse_config *cfg,
			 struct m2d_hgm_collapse_result *out)
{
	struct hgm h = { .cfg = cfg, .res = out, .sim = sim };
	int ret, err = 0;

	M2D_VALIDATE_OR_RET(sim && cfg && out, -EINVAL);
	memset(out, 0, sizeof(*out));
	if (cfg->mapcount < 0 || cfg->mapcount >= M2D_MM_MAPCOUNT_NR ||
	    cfg->path >= M2D_HGM_PATH_NR || !cfg->mem || cfg->mem % M2D_SZ_1G ||
	    cfg->mem > (1ull << 40) || !cfg->nr_vcpus || cfg->nr_vcpus >= 1024 ||
	    (cfg->mem / cfg->nr_vcpus) % M2D_PAGE_SIZE || !cfg->skip_pages ||
	    cfg->skip_pages > (cfg->mem / cfg->nr_vcpus) / M2D_PAGE_SIZE)
		return -EINVAL;
	h.vcpus = m2d_calloc(M2D_ALLOC_GUEST, cfg->nr_vcpus, sizeof(*h.vcpus));
	if (!h.vcpus)
		return -ENOMEM;
	m2d_waitqueue_init(&h.vmm_wq, "hgm_vmm");

	m2d_engine_enter(sim);
	ret = m2d_nr_cpus() < (int)cfg->nr_vcpus + 1 ? -EINVAL : 0;
	if (!ret)
		ret = hgm_setup(&h);
	/*
	 * The VMM thread first: at equal virtual times the lower thread id
	 * runs, so the collapse is not starved by vCPUs whose accesses cost
	 * nothing (a zero-cost profile).
	 */
	if (!ret && !m2d_thread_create(sim, (int)cfg->nr_vcpus, "vmm", vmm_thread, &h, m2d_now(),
				       &err))
		ret = err;
	for (unsigned i = 0; !ret && i < cfg->nr_vcpus; i++) {
		h.vcpus[i].thread = m2d_thread_create(sim, (int)i, h.vcpus[i].name, vcpu_thread,
						      &h.vcpus[i], m2d_now(), &err);
		if (!h.vcpus[i].thread)
			ret = err;
		else
			h.nr_created++;
	}
	if (ret) { /* the threads created so far leave at once */
		WRITE_ONCE(h.stop, true);
		h.err = ret;
	}
	m2d_engine_leave(sim);
	err = m2d_sim_run(sim);
	if (!ret)
		ret = err ? err : h.err;

	m2d_engine_enter(sim);
	hgm_teardown(&h);
	m2d_engine_leave(sim);
	m2d_host_destroy(&h.host);
	m2d_waitqueue_fini(&h.vmm_wq);
	m2d_free(M2D_ALLOC_GUEST, h.vcpus, cfg->nr_vcpus * sizeof(*h.vcpus));
	return ret;
}
