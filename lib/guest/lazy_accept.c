// SPDX-License-Identifier: MIT
/*
 * lib/guest/lazy_accept.c - an SEV-SNP guest faulting in memory through
 * lazy acceptance: `stress --vm N --vm-bytes B --vm-keep` in the guest
 * (REFERENCE.md A1; MECHANISMS.md 2.4-2.7; docs/model.md).
 *
 * The stack, from the guest down:
 *   guest    each worker touches its B bytes page by page; a guest page
 *            fault allocates from the guest zone, whose watermark check
 *            accepts 4 MiB blocks (accept.c): PSC VMGEXIT, then PVALIDATE;
 *   KVM      snp_begin_psc merges the entries into KVM_HC_MAP_GPA_RANGE
 *            exits (lib/kvm/sev_psc.c); PVALIDATE of an unmapped GPA is an
 *            #NPF: private fault -> kvm_gmem_get_pfn (2M folio, zeroing,
 *            sev_gmem_prepare -> rmp_make_private -> the direct-map policy)
 *            -> NPT map;
 *   VMM      QEMU's kvm_convert_memory on the vCPU thread:
 *            KVM_SET_MEMORY_ATTRIBUTES, then discard of the other backing
 *            (madvise(MADV_DONTNEED) of the shared RAM for to-private:
 *            an mmu_notifier invalidation over the HVA range; a guest_memfd
 *            hole punch for to-shared);
 *   host     the direct map + CPA (cpa_lock), the RMP, the buddy allocator.
 * QEMU marks guest_memfd RAM private when it creates the memslot
 * (kvm_set_phys_mem -> kvm_set_memory_attributes_private), so the guest's
 * to-private conversions find the attribute already set.
 *
 * Direct-map policies (DESIGN.md 4, MECHANISMS.md 2.4): presplit-4k and
 * split-on-demand are generation (a) (set_direct_map_invalid_noflush per
 * 4K page before an assigning RMPUPDATE; --flush-on-invalidate makes it the
 * flushing set_memory_np of the v7 experiment) with the direct map
 * pre-split to 4K or 2M split on demand; split-only is generation (b);
 * nr-pages is generation (c).
 */
#include "guest/guest.h"

#include <mmu2d/coco.h>
#include <mmu2d/kvm.h>
#include <mmu2d/mm.h>
#include <mmu2d/physmem.h>

#include "core/alloc.h"
#include "kvm/kvm.h"

#include <errno.h>
#include <string.h>

#define GiB (1ull << 30)
#define CHUNK_PAGES 512 /* pages a worker faults between synchronisation points */

struct m2d_lazy_accept;

struct la_vcpu {
	struct m2d_lazy_accept *la;
	struct m2d_vcpu *vcpu;
	unsigned idx;
	uint64_t worker_pages;      /* pages this vCPU's worker touches (0: idle) */
	uint64_t *gpas;             /* CHUNK_PAGES */
	int err;
	char name[24];
};

struct m2d_lazy_accept {
	struct m2d_sim *sim;
	struct m2d_lazy_accept_config cfg;
	struct m2d_host *host;
	struct m2d_rmp *rmp;
	struct m2d_gmem *gmem;
	struct m2d_gmem_file *gfile;
	struct m2d_mm *mm;
	struct m2d_vm *vm;
	struct m2d_sev_vm sev;
	struct m2d_guest *guest;
	uint64_t shared_hva;        /* QEMU's shared RAM block */
	struct la_vcpu *v;
	m2d_vtime_t t0;             /* virtual time the guest starts */
	m2d_vtime_t done_at;
	int err;
};

/* ---- the direct map as the RMP code sees it -------------------------------- */

static int dm_level(void *dm, m2d_pfn_t pfn)
{
	int level;

	if (!m2d_directmap_present(((struct m2d_lazy_accept *)dm)->host, pfn.v, &level))
		return M2D_LEVEL_NONE;
	return level;
}

static bool dm_is_present(void *dm, m2d_pfn_t pfn)
{
	int level;

	return m2d_directmap_present(((struct m2d_lazy_accept *)dm)->host, pfn.v, &level);
}

/* set_direct_map_invalid_noflush(), or set_memory_np() with --flush-on-invalidate */
static int dm_set_invalid(void *dm, m2d_pfn_t pfn)
{
	struct m2d_lazy_accept *la = dm;

	return m2d_directmap_change(la->host, la->cfg.flush_on_invalidate ? M2D_CPA_NP
								    : M2D_CPA_INVALID_NOFLUSH,
				    pfn.v, 1);
}

/* set_direct_map_default_noflush(), or set_memory_p() with --flush-on-invalidate */
static int dm_set_default(void *dm, m2d_pfn_t pfn)
{
	struct m2d_lazy_accept *la = dm;

	return m2d_directmap_change(la->host, la->cfg.flush_on_invalidate ? M2D_CPA_P
								    : M2D_CPA_DEFAULT_NOFLUSH,
				    pfn.v, 1);
}

static int dm_set_valid(void *dm, m2d_pfn_t pfn, unsigned nr, bool valid)
{
	return m2d_directmap_change(((struct m2d_lazy_accept *)dm)->host,
				    valid ? M2D_CPA_VALID_NR_NOFLUSH : M2D_CPA_INVALID_NR_NOFLUSH,
				    pfn.v, nr);
}

static int dm_set_memory_4k(void *dm, m2d_pfn_t pfn, unsigned npages)
{
	return m2d_directmap_change(((struct m2d_lazy_accept *)dm)->host, M2D_CPA_SET_4K, pfn.v, npages);
}

static const struct m2d_rmp_directmap_ops la_dm_ops = {
	.level = dm_level,
	.is_present = dm_is_present,
	.set_invalid_noflush = dm_set_invalid,
	.set_default_noflush = dm_set_default,
	.set_valid_noflush = dm_set_valid,
	.set_memory_4k = dm_set_memory_4k,
};

/* ---- the guest's hypervisor interface ------------------------------------- */

static int la_vmgexit_psc(void *arch, int cpu, struct m2d_psc_desc *desc)
{
	struct m2d_lazy_accept *la = arch;
	int r = m2d_vcpu_vmgexit_psc(la->v[cpu].vcpu, desc);

	return r == M2D_GUEST_ACCESS_DONE ? 0 : -EIO;
}

/*
 * PVALIDATE of @gpa: the hardware translates the GPA through the NPT (an
 * #NPF into KVM's private fault path if it is not mapped), then checks
 * and updates the RMP entry of the backing page.
 */
static enum m2d_guest_pval la_pvalidate(void *arch, int cpu, uint64_t gpa, int level)
{
	struct m2d_lazy_accept *la = arch;
	struct m2d_vcpu *vcpu = la->v[cpu].vcpu;
	struct m2d_pt_walk w;
	enum m2d_pvalidate_result res;

	if (m2d_vcpu_access(vcpu, gpa, M2D_ACCESS_PRIVATE) != M2D_GUEST_ACCESS_DONE)
		return M2D_GUEST_PVAL_FAIL;
	m2d_pt_walk(la->vm->pt, gpa, &w);
	if (!w.present)
		return M2D_GUEST_PVAL_FAIL;
	res = m2d_rmp_pvalidate(la->rmp, m2d_pfn_from_u64(w.pfn), gpa, level, la->sev.asid, true);
	switch (res) {
	case M2D_PVALIDATE_OK:
		return M2D_GUEST_PVAL_OK;
	case M2D_PVALIDATE_SIZEMISMATCH:
		return M2D_GUEST_PVAL_SIZEMISMATCH;
	default:
		return M2D_GUEST_PVAL_FAIL;
	}
}

static const struct m2d_guest_arch_ops la_arch_ops = {
	.vmgexit_psc = la_vmgexit_psc,
	.pvalidate = la_pvalidate,
	/* sev_evict_cache: not needed on the measured host (COHERENCY_SFW_NO assumed) */
};

/* ---- the VMM (QEMU kvm_convert_memory) --------------------------------------- */

static int kvm_convert_memory(struct m2d_lazy_accept *la, uint64_t gpa, uint64_t size, bool to_private)
{
	int r;

	m2d_delay(M2D_COST_VMM_SET_ATTR_IOCTL, 1);
	r = m2d_vm_set_memory_attributes(la->vm, gpa, size,
					 to_private ? M2D_MEMORY_ATTRIBUTE_PRIVATE : 0);
	if (r)
		return r;
	if (to_private) /* ram_block_discard_range() of the shared backing */
		return m2d_mm_madvise(la->mm, la->shared_hva + gpa, size, M2D_MADV_DONTNEED);
	/* ram_block_discard_guest_memfd_range() */
	return m2d_gmem_fallocate(la->gmem, M2D_GMEM_FALLOC_KEEP_SIZE | M2D_GMEM_FALLOC_PUNCH_HOLE,
				  (int64_t)gpa, (int64_t)size);
}

static enum m2d_kvm_exit_action la_vmm_exit(struct m2d_vcpu *vcpu, const struct m2d_kvm_exit *ex,
					    void *arg)
{
	struct la_vcpu *lv = arg;
	int r;

	(void)vcpu;
	switch (ex->reason) {
	case M2D_KVM_EXIT_HYPERCALL:
		r = kvm_convert_memory(lv->la, ex->gpa, ex->size << M2D_PAGE_SHIFT,
				       ex->flags & M2D_KVM_MAP_GPA_RANGE_ENCRYPTED);
		break;
	case M2D_KVM_EXIT_MEMORY_FAULT:
		r = kvm_convert_memory(lv->la, ex->gpa & ~(M2D_PAGE_SIZE - 1),
				       ex->size ? ex->size : M2D_PAGE_SIZE,
				       ex->flags & M2D_MEMORY_ATTRIBUTE_PRIVATE);
		break;
	default:
		r = -EFAULT;
		break;
	}
	if (r) {
		lv->err = r;
		return M2D_KVM_EXIT_STOP;
	}
	return M2D_KVM_EXIT_RETRY;
}

/* ---- the guest workload --------------------------------------------------- */

/*
 * stress --vm-keep worker (hogvm): touch every page of a fresh malloc'ed
 * region once; each first touch is a guest page fault that allocates (and
 * clears) a page: one store per page to the page the allocator gave.
 */
static void stress_worker(struct m2d_vcpu *vcpu, void *arg)
{
	struct la_vcpu *lv = arg;
	struct m2d_lazy_accept *la = lv->la;
	uint64_t left = lv->worker_pages;

	while (left && !lv->err) {
		uint64_t n = left < CHUNK_PAGES ? left : CHUNK_PAGES, i = 0;
		int64_t got = m2d_guest_alloc_pages(la->guest, (int)lv->idx, n, lv->gpas);

		if (got <= 0) {
			lv->err = got < 0 ? (int)got : -ENOMEM;
			return;
		}
		m2d_delay(M2D_COST_GUEST_PAGE_FAULT, (uint64_t)got);
		m2d_count(M2D_CTR_guest_page_faults, (uint64_t)got);
		while (i < (uint64_t)got) {
			uint64_t run = 1;

			while (i + run < (uint64_t)got &&
			       lv->gpas[i + run] == lv->gpas[i] + run * M2D_PAGE_SIZE)
				run++;
			if (m2d_vcpu_access_range(vcpu, lv->gpas[i], run, M2D_PAGE_SIZE,
						  M2D_ACCESS_WRITE | M2D_ACCESS_PRIVATE) !=
			    M2D_GUEST_ACCESS_DONE) {
				lv->err = -EIO;
				return;
			}
			i += run;
		}
		left -= (uint64_t)got;
		m2d_sched_point();
	}
}

static void vcpu_thread(void *arg)
{
	struct la_vcpu *lv = arg;
	struct m2d_lazy_accept *la = lv->la;

	m2d_vcpu_run(lv->vcpu, stress_worker, lv, la_vmm_exit, lv);
	if (lv->err && !la->err)
		la->err = lv->err;
	if (m2d_now() > la->done_at)
		la->done_at = m2d_now();
}

/* ---- setup ------------------------------------------------------------------- */

/* Host CPU of vCPU @i: pinned to node 0, or spread over both sockets. */
static int vcpu_cpu(const struct m2d_lazy_accept_config *c, unsigned i)
{
	if (c->pin_node0)
		return (int)i;
	return (int)((i % 2) * (c->host_cpus / 2) + i / 2);
}

static int la_setup(struct m2d_lazy_accept *la, struct m2d_sim *sim)
{
	const struct m2d_lazy_accept_config *c = &la->cfg;
	struct m2d_host_config hcfg;
	struct m2d_rmp_config rcfg;
	struct m2d_gmem_config gcfg;
	struct m2d_mm_config mcfg;
	struct m2d_vm_config vcfg;
	struct m2d_kvm_host_ops ops;
	struct m2d_guest_config guest_cfg;
	uint64_t start, nr, max_pfn;
	int r;

	m2d_host_config_default(&hcfg);
	hcfg.nodes = 2;
	/* The guest's memory fits on node 0 when pinned; 32 GiB for the host kernel. */
	hcfg.node_bytes[0] = c->pin_node0 ? c->guest_mem + 32 * GiB : c->guest_mem / 2 + 32 * GiB;
	hcfg.node_bytes[1] = c->pin_node0 ? 32 * GiB : c->guest_mem / 2 + 32 * GiB;
	/* The measured host: DirectMap2M (split on demand) or pre-split to 4K. */
	hcfg.directmap_max_level = M2D_LEVEL_2M;
	hcfg.directmap_presplit_4k = c->directmap == M2D_LA_DIRECTMAP_PRESPLIT_4K;
	hcfg.cpa_lock = c->cpa_lock_none ? M2D_CPA_LOCK_NONE : M2D_CPA_LOCK_GLOBAL;
	hcfg.restore_2m = c->restore_2m;
	r = m2d_host_create(sim, &hcfg, &la->host);
	if (r)
		return r;
	r = m2d_host_node_range(la->host, 1, &start, &nr);
	if (r)
		return r;
	max_pfn = (start + nr + 511) & ~511ull;

	m2d_rmp_config_default(&rcfg);
	rcfg.max_pfn = max_pfn;
	switch (c->directmap) {
	case M2D_LA_DIRECTMAP_SPLIT_ONLY:
		rcfg.directmap = M2D_RMP_DIRECTMAP_SPLIT_ONLY;
		break;
	case M2D_LA_DIRECTMAP_NR_PAGES:
		rcfg.directmap = M2D_RMP_DIRECTMAP_NR_PAGES;
		break;
	default:
		rcfg.directmap = M2D_RMP_DIRECTMAP_INVALIDATE;
		break;
	}
	r = m2d_rmp_create(&la->rmp, &rcfg, &la_dm_ops, la);
	if (r)
		return r;

	m2d_gmem_config_default(&gcfg);
	gcfg.size = c->guest_mem;
	gcfg.folio = c->gmem_folio_4k ? M2D_GMEM_FOLIO_4K : M2D_GMEM_FOLIO_2M;
	r = m2d_gmem_create(&la->gmem, &gcfg, &m2d_gmem_host_folio_ops, la->host, la->rmp);
	if (r)
		return r;

	m2d_mm_config_default(&mcfg);
	r = m2d_mm_create(&la->mm, la->host, &mcfg);
	if (r)
		return r;
	r = m2d_mm_mmap(la->mm, 0, c->guest_mem, M2D_PROT_READ | M2D_PROT_WRITE,
			M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS, NULL, 0, &la->shared_hva);
	if (r)
		return r;

	m2d_vm_config_default(&vcfg);
	vcfg.mmu = M2D_KVM_MMU_TDP;
	vcfg.vendor = M2D_KVM_VENDOR_AMD;
	memset(&ops, 0, sizeof(ops));
	m2d_kvm_host_ops_set_mm(&ops);
	m2d_kvm_host_ops_set_gmem(&ops);
	r = m2d_vm_create(&la->vm, sim, &vcfg, &ops);
	if (r)
		return r;
	la->sev = (struct m2d_sev_vm){ .rmp = la->rmp, .asid = 1, .snp = true };
	m2d_vm_set_sev(la->vm, &la->sev);
	r = m2d_vm_mmu_notifier_register(la->vm, la->mm);
	if (r)
		return r;
	r = m2d_gmem_file_create(la->gmem, la->vm, m2d_vm_gmem_kvm_ops(), &la->gfile);
	if (r)
		return r;
	{
		struct m2d_memslot_desc d = {
			.id = 0,
			.flags = M2D_MEM_GUEST_MEMFD,
			.guest_phys = 0,
			.size = c->guest_mem,
			.userspace_addr = la->shared_hva,
			.mm = la->mm,
			.gmem = la->gfile,
			.gmem_offset = 0,
		};

		r = m2d_vm_set_memslot(la->vm, &d);
		if (r)
			return r;
	}
	/* kvm_set_phys_mem: guest_memfd RAM starts private. */
	r = m2d_vm_set_memory_attributes(la->vm, 0, c->guest_mem, M2D_MEMORY_ATTRIBUTE_PRIVATE);
	if (r)
		return r;

	m2d_guest_config_default(&guest_cfg);
	guest_cfg.ram_size = c->guest_mem;
	guest_cfg.nr_cpus = c->nr_vcpus;
	r = m2d_guest_create(&la->guest, &guest_cfg, &la_arch_ops, la);
	if (r)
		return r;

	la->v = m2d_zalloc(M2D_ALLOC_GUEST, c->nr_vcpus * sizeof(*la->v));
	if (!la->v)
		return -ENOMEM;
	for (unsigned i = 0; i < c->nr_vcpus; i++) {
		struct la_vcpu *lv = &la->v[i];

		lv->la = la;
		lv->idx = i;
		lv->worker_pages = i < c->nr_workers ? c->worker_mem >> M2D_PAGE_SHIFT : 0;
		lv->gpas = m2d_malloc(M2D_ALLOC_GUEST, CHUNK_PAGES * sizeof(uint64_t));
		if (!lv->gpas)
			return -ENOMEM;
		r = m2d_vcpu_create(la->vm, i, &lv->vcpu);
		if (r)
			return r;
	}
	return 0;
}

static void la_teardown(struct m2d_lazy_accept *la)
{
	if (la->v) {
		for (unsigned i = 0; i < la->cfg.nr_vcpus; i++)
			m2d_free(M2D_ALLOC_GUEST, la->v[i].gpas, CHUNK_PAGES * sizeof(uint64_t));
		m2d_free(M2D_ALLOC_GUEST, la->v, la->cfg.nr_vcpus * sizeof(*la->v));
	}
	m2d_guest_destroy(&la->guest);
	m2d_gmem_file_release(&la->gfile);
	m2d_vm_destroy(&la->vm);
	m2d_gmem_destroy(&la->gmem);
	m2d_mm_destroy(&la->mm);
	m2d_rmp_destroy(&la->rmp);
	m2d_host_destroy(&la->host);
}

void m2d_lazy_accept_free(struct m2d_lazy_accept **state)
{
	struct m2d_lazy_accept *la = state ? (struct m2d_lazy_accept *)*state : NULL;
	struct m2d_sim *sim;

	if (!la)
		return;
	sim = la->sim;
	m2d_engine_enter(sim);
	la_teardown(la);
	m2d_engine_leave(sim);
	m2d_free(M2D_ALLOC_GUEST, la, sizeof(*la));
	*state = NULL;
}

int m2d_lazy_accept_run(struct m2d_sim *sim, const struct m2d_lazy_accept_config *cfg,
			struct m2d_lazy_accept_result *out, struct m2d_lazy_accept **state)
{
	struct m2d_lazy_accept *la_;
	struct m2d_gmem_stats gs;
	struct m2d_guest_stats st;
	struct m2d_rmp_stats rs;
	struct m2d_directmap_info di;
	int r;

	M2D_VALIDATE_OR_RET(sim && cfg && out, -EINVAL);
	if (!cfg->guest_mem || cfg->guest_mem % (4ull << 20) || !cfg->nr_vcpus ||
	    cfg->nr_workers > cfg->nr_vcpus || cfg->host_cpus < 2 || cfg->host_cpus % 2 ||
	    cfg->nr_vcpus > (cfg->pin_node0 ? cfg->host_cpus / 2 : cfg->host_cpus) ||
	    cfg->worker_mem % M2D_PAGE_SIZE || cfg->directmap >= M2D_LA_DIRECTMAP_NR ||
	    (uint64_t)cfg->nr_workers * cfg->worker_mem >= cfg->guest_mem)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	la_ = m2d_zalloc(M2D_ALLOC_GUEST, sizeof(*la_));
	if (!la_)
		return -ENOMEM;
	la_->cfg = *cfg;
	la_->sim = sim;

	m2d_engine_enter(sim);
	r = la_setup(la_, sim);
	/* The guest starts when the VMM's setup (memslot, attributes) is done. */
	la_->t0 = m2d_now();
	m2d_engine_leave(sim);
	for (unsigned i = 0; i < cfg->nr_vcpus && !r; i++) {
		if (!la_->v[i].worker_pages)
			continue;
		snprintf(la_->v[i].name, sizeof(la_->v[i].name), "vcpu%u", i);
		if (!m2d_thread_create(sim, vcpu_cpu(cfg, i), la_->v[i].name, vcpu_thread,
				       &la_->v[i], la_->t0, &r))
			break;
	}
	if (!r)
		r = m2d_sim_run(sim);
	if (!r)
		r = la_->err;
	if (!r) {
		m2d_engine_enter(sim);
		m2d_gmem_stats_get(la_->gmem, &gs);
		m2d_engine_leave(sim);
		m2d_guest_stats_get(la_->guest, &st);
		m2d_rmp_stats_get(la_->rmp, &rs);
		m2d_host_directmap_info(la_->host, &di);
		out->duration_s = (double)(la_->done_at - la_->t0) / 1e9;
		out->file_huge_bytes = gs.file_huge_bytes;
		out->gmem_bytes = gs.file_huge_bytes + gs.folios_4k * M2D_PAGE_SIZE;
		if (gs.file_huge_bytes && gs.last_huge_alloc > gs.first_huge_alloc)
			out->fault_in_gbps = (double)gs.file_huge_bytes / GiB /
					     ((double)(gs.last_huge_alloc - gs.first_huge_alloc) / 1e9);
		else if (la_->done_at)
			out->fault_in_gbps = (double)out->gmem_bytes / GiB / out->duration_s;
		out->accepted_bytes = st.accepted_bytes;
		out->directmap_4k = di.directmap_4k;
		out->directmap_2m = di.directmap_2m;
		out->directmap_1g = di.directmap_1g;
		out->rmpupdates = rs.rmpupdates;
		out->vmgexits = st.vmgexits;
		out->pvalidate_2m = st.pvalidate_2m;
		out->pvalidate_4k = st.pvalidate_4k;
	}
	if (state && !r) {
		*state = (struct m2d_lazy_accept *)la_;
		return 0;
	}
	m2d_engine_enter(sim);
	la_teardown(la_);
	m2d_engine_leave(sim);
	m2d_free(M2D_ALLOC_GUEST, la_, sizeof(*la_));
	return r;
}
