// SPDX-License-Identifier: MIT
/*
 * lib/guest/gmem_churn.c - a long run of shared<->private conversions of an
 * SEV-SNP guest backed by guest_memfd, to watch how huge mappings, the RMP
 * and the host direct map degrade under each hole-punch policy
 * (MECHANISMS.md 2.3, 2.4, 2.6, 3.2-3.4).
 *
 * Host: a lib/mm host with its RMP (m2d_coco_host_rmp_create, direct-map
 * policy per config), one guest_memfd of the guest's size (folio order per
 * config), one memslot (KVM_MEM_GUEST_MEMFD; its shared half is an
 * anonymous mapping the guest never touches).
 *
 * Guest (one vCPU, CPU 0): all memory private and touched once (fault-in:
 * folio allocation, zeroing, RMPUPDATE, SPTEs).  Then each conversion picks
 * a random range of 4K << k pages (k uniform in 0..max_order, aligned to its
 * size) and a random direction, and issues KVM_HC_MAP_GPA_RANGE; the VMM
 * (on the vCPU thread, as QEMU's vCPU thread handles KVM_EXIT_HYPERCALL):
 *   to shared:  KVM_SET_MEMORY_ATTRIBUTES(0) (zaps the private SPTEs), then
 *               fallocate(PUNCH_HOLE) of the range in the guest_memfd
 *               (ram_block_discard_range) - allowed, refused for sub-2M
 *               ranges, or turned into zeroing, per the policy;
 *   to private: KVM_SET_MEMORY_ATTRIBUTES(PRIVATE); the guest then accepts
 *               and writes every page of the range (private faults).
 * After the fault-in and every conversions / samples conversions the state
 * is sampled (the sample's RMP lookups are charged like any other).
 */
#include "core/engine.h"
#include "core/kernel.h"
#include "core/alloc.h"
#include "kvm/kvm.h"

#include <mmu2d/coco.h>
#include <mmu2d/kvm.h>
#include <mmu2d/mm.h>
#include <mmu2d/physmem.h>
#include <mmu2d/sim.h>
#include <mmu2d/workloads.h>

#include <errno.h>
#include <string.h>

#define CHURN_GPA (4ull << 30)
#define CHURN_SLOT_ID 1
#define PAGES_2M 512ull

struct churn {
	const struct m2d_gmem_churn_config *cfg;
	struct m2d_gmem_churn_result *res;
	struct m2d_sim *sim;
	struct m2d_host *host;
	struct m2d_rmp *rmp;
	struct m2d_mm *mm;
	struct m2d_gmem *gmem;
	struct m2d_gmem_file *file;
	struct m2d_vm *vm;
	struct m2d_vcpu *vcpu;
	struct m2d_sev_vm sev;
	uint64_t hva;
	uint64_t pages;
	uint64_t *private_bm;      /* the VMM's view of the attributes, a bit per 4K */
	uint64_t conversions;
	uint64_t punches_refused;
	int err;
};

void m2d_gmem_churn_config_default(struct m2d_gmem_churn_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->mem = M2D_SZ_1G;
	cfg->punch = M2D_GMEM_PUNCH_ALLOW;
	cfg->folio = M2D_GMEM_FOLIO_2M;
	cfg->directmap = M2D_RMP_DIRECTMAP_INVALIDATE;
	cfg->conversions = 20000;
	cfg->samples = 20;
	cfg->max_order = 9;
}

static void set_private(struct churn *c, uint64_t first, uint64_t n, bool priv)
{
	for (uint64_t i = first; i < first + n; i++) {
		if (priv)
			c->private_bm[i / 64] |= 1ull << (i % 64);
		else
			c->private_bm[i / 64] &= ~(1ull << (i % 64));
	}
}

/* Is 2M region @r mappable at 2M: wholly private, a 2M folio, a 2M RMP entry? */
static bool region_private_2m(struct churn *c, uint64_t r)
{
	m2d_pfn_t pfn;
	unsigned order;
	bool assigned;
	int level;

	for (uint64_t w = r * PAGES_2M / 64; w < (r + 1) * PAGES_2M / 64; w++)
		if (c->private_bm[w] != ~0ull)
			return false;
	if (!m2d_gmem_folio_lookup(c->gmem, r * PAGES_2M, &pfn, &order) || order < 9)
		return false;
	if (m2d_snp_lookup_rmpentry(c->rmp, pfn, &assigned, &level))
		return false;
	return assigned && level == M2D_LEVEL_2M;
}

static void sample(struct churn *c)
{
	struct m2d_gmem_churn_sample *s = &c->res->samples[c->res->nr_samples++];
	struct m2d_directmap_info dm;
	struct m2d_rmp_stats rs;
	struct m2d_gmem_stats gs;
	struct m2d_vm_stats vs;

	s->t_s = (double)m2d_now() / 1e9;
	s->conversions = c->conversions;
	for (uint64_t w = 0; w < c->pages / 64; w++)
		s->private_bytes += (uint64_t)__builtin_popcountll(c->private_bm[w]) * M2D_PAGE_SIZE;
	for (uint64_t r = 0; r < c->pages / PAGES_2M; r++)
		if (region_private_2m(c, r))
			s->private_2m_bytes += M2D_PMD_SIZE;
	s->private_2m_share = s->private_bytes ?
				      (double)s->private_2m_bytes / (double)s->private_bytes : 0;
	m2d_vm_stats_get(c->vm, &vs);
	s->sptes_4k = vs.pages[1];
	s->sptes_2m = vs.pages[2];
	m2d_rmp_stats_get(c->rmp, &rs);
	s->rmp_smashed_regions = rs.smashed_regions;
	s->rmp_psmash = rs.psmash;
	s->rmpupdates = rs.rmpupdates;
	m2d_gmem_stats_get(c->gmem, &gs);
	s->gmem_folios_2m = gs.folios_2m;
	s->gmem_folios_4k = gs.folios_4k;
	s->gmem_bytes = gs.folios_2m * M2D_PMD_SIZE + gs.folios_4k * M2D_PAGE_SIZE;
	m2d_host_directmap_info(c->host, &dm);
	s->directmap_4k = dm.directmap_4k;
	s->directmap_2m = dm.directmap_2m;
	s->directmap_1g = dm.directmap_1g;
	s->punches_refused = c->punches_refused;
}

/* The VMM's KVM_EXIT_HYPERCALL(KVM_HC_MAP_GPA_RANGE) handler. */
static enum m2d_kvm_exit_action vmm_exit(struct m2d_vcpu *vcpu, const struct m2d_kvm_exit *exit,
					 void *arg)
{
	struct churn *c = arg;
	uint64_t size = exit->size << M2D_PAGE_SHIFT, off = exit->gpa - CHURN_GPA;
	bool priv = exit->flags & M2D_MEMORY_ATTRIBUTE_PRIVATE;
	int ret;

	(void)vcpu;
	if (exit->reason != M2D_KVM_EXIT_HYPERCALL) {
		c->err = -EFAULT;
		return M2D_KVM_EXIT_STOP;
	}
	ret = m2d_vm_set_memory_attributes(c->vm, exit->gpa, size, exit->flags);
	if (!ret && !priv) {
		/* ram_block_discard_range: fallocate(PUNCH_HOLE | KEEP_SIZE) */
		ret = m2d_gmem_fallocate(c->gmem, M2D_GMEM_FALLOC_PUNCH_HOLE |
						  M2D_GMEM_FALLOC_KEEP_SIZE,
					 (int64_t)off, (int64_t)size);
		if (ret == -EINVAL && c->cfg->punch == M2D_GMEM_PUNCH_NO_SUB_2M) {
			c->punches_refused++; /* QEMU warns and keeps going */
			ret = 0;
		}
	}
	if (ret) {
		c->err = ret;
		return M2D_KVM_EXIT_STOP;
	}
	set_private(c, off >> M2D_PAGE_SHIFT, exit->size, priv);
	return M2D_KVM_EXIT_RETRY;
}

static void progress(struct churn *c, const char *phase, double f)
{
	if (c->cfg->progress)
		c->cfg->progress(c->cfg->progress_arg, phase, f);
}

static void guest_code(struct m2d_vcpu *vcpu, void *arg)
{
	struct churn *c = arg;
	const struct m2d_gmem_churn_config *cfg = c->cfg;
	uint64_t every = M2D_MAX(cfg->conversions / cfg->samples, 1ull);

	/* Boot: everything private (the VMM set it), accepted and written once. */
	if (m2d_vcpu_access_range(vcpu, CHURN_GPA, c->pages, M2D_PAGE_SIZE,
				  M2D_ACCESS_PRIVATE | M2D_ACCESS_WRITE) != M2D_GUEST_ACCESS_DONE)
		return;
	sample(c);
	progress(c, "churn", 0);
	while (c->conversions < cfg->conversions && !c->err) {
		unsigned k = (unsigned)m2d_rand_below(cfg->max_order + 1);
		uint64_t n = 1ull << k;
		uint64_t first = m2d_rand_below(c->pages / n) * n;
		bool to_private = m2d_rand_below(2);
		uint64_t gpa = CHURN_GPA + first * M2D_PAGE_SIZE;

		if (m2d_vcpu_map_gpa_range(vcpu, gpa, n,
					   to_private ? M2D_MEMORY_ATTRIBUTE_PRIVATE : 0) !=
		    M2D_GUEST_ACCESS_DONE)
			return;
		if (to_private &&
		    m2d_vcpu_access_range(vcpu, gpa, n, M2D_PAGE_SIZE,
					  M2D_ACCESS_PRIVATE | M2D_ACCESS_WRITE) !=
			    M2D_GUEST_ACCESS_DONE)
			return;
		c->conversions++;
		if (c->conversions % every == 0 && c->res->nr_samples <= cfg->samples) {
			sample(c);
			progress(c, "churn", (double)c->conversions / (double)cfg->conversions);
		}
	}
}

static void churn_teardown(struct churn *c)
{
	struct m2d_memslot_desc d = { .id = CHURN_SLOT_ID };

	if (c->vm && c->file)
		m2d_vm_set_memslot(c->vm, &d); /* unbinds the guest_memfd */
	if (c->file) {
		/* kvm_gmem_release runs with the VM's slots_lock held */
		mutex_lock(&c->vm->slots_lock);
		m2d_gmem_file_release(&c->file);
		mutex_unlock(&c->vm->slots_lock);
	}
	m2d_vm_destroy(&c->vm);
	m2d_gmem_destroy(&c->gmem);
	m2d_mm_destroy(&c->mm);
}

static void vcpu_thread(void *arg)
{
	struct churn *c = arg;
	int ret = m2d_vcpu_run(c->vcpu, guest_code, c, vmm_exit, c);

	if (ret && !c->err)
		c->err = ret;
	c->res->duration_s = (double)m2d_now() / 1e9;
	churn_teardown(c);
}

static int churn_setup(struct churn *c)
{
	const struct m2d_gmem_churn_config *cfg = c->cfg;
	struct m2d_kvm_host_ops ops = { 0 };
	struct m2d_host_config hc;
	struct m2d_mm_config mc;
	struct m2d_gmem_config gc;
	struct m2d_vm_config vc;
	struct m2d_memslot_desc slot = { 0 };
	int ret;

	m2d_host_config_default(&hc);
	/* the guest's memory plus 1 GiB for everything else */
	hc.mem_bytes = M2D_ALIGN_UP(cfg->mem, M2D_SZ_1G) + M2D_SZ_1G;
	ret = m2d_host_create(c->sim, &hc, &c->host);
	if (!ret)
		ret = m2d_coco_host_rmp_create(c->host, (enum m2d_rmp_directmap)cfg->directmap,
					       &c->rmp);
	if (ret)
		return ret;
	m2d_mm_config_default(&mc);
	ret = m2d_mm_create(&c->mm, c->host, &mc);
	if (!ret)
		ret = m2d_mm_mmap(c->mm, 0, cfg->mem, M2D_PROT_READ | M2D_PROT_WRITE,
				  M2D_MAP_PRIVATE | M2D_MAP_ANONYMOUS, NULL, 0, &c->hva);
	m2d_gmem_config_default(&gc);
	gc.size = cfg->mem;
	gc.folio = (enum m2d_gmem_folio)cfg->folio;
	gc.punch = (enum m2d_gmem_punch)cfg->punch;
	if (!ret)
		ret = m2d_gmem_create(&c->gmem, &gc, &m2d_gmem_host_folio_ops, c->host, c->rmp);
	if (ret)
		return ret;

	m2d_kvm_host_ops_set_mm(&ops);
	m2d_kvm_host_ops_set_gmem(&ops);
	m2d_vm_config_default(&vc);
	vc.vendor = M2D_KVM_VENDOR_AMD;
	ret = m2d_vm_create(&c->vm, c->sim, &vc, &ops);
	if (ret)
		return ret;
	c->sev = (struct m2d_sev_vm){ .rmp = c->rmp, .asid = 1, .snp = true };
	m2d_vm_set_sev(c->vm, &c->sev);
	ret = m2d_gmem_file_create(c->gmem, c->vm, m2d_vm_gmem_kvm_ops(), &c->file);
	slot.id = CHURN_SLOT_ID;
	slot.flags = M2D_MEM_GUEST_MEMFD;
	slot.guest_phys = CHURN_GPA;
	slot.size = cfg->mem;
	slot.userspace_addr = c->hva;
	slot.mm = c->mm;
	slot.gmem = c->file;
	if (!ret)
		ret = m2d_vm_set_memslot(c->vm, &slot);
	if (!ret)
		ret = m2d_vm_set_memory_attributes(c->vm, CHURN_GPA, cfg->mem,
						   M2D_MEMORY_ATTRIBUTE_PRIVATE);
	if (!ret)
		set_private(c, 0, c->pages, true);
	if (!ret)
		ret = m2d_vcpu_create(c->vm, 0, &c->vcpu);
	return ret;
}

int m2d_gmem_churn_run(struct m2d_sim *sim, const struct m2d_gmem_churn_config *cfg,
		       struct m2d_gmem_churn_result *out)
{
	struct churn c = { .cfg = cfg, .res = out, .sim = sim };
	int ret, err = 0;

	M2D_VALIDATE_OR_RET(sim && cfg && out, -EINVAL);
	memset(out, 0, sizeof(*out));
	if (!cfg->mem || cfg->mem % M2D_PMD_SIZE || cfg->mem > (1ull << 40) ||
	    cfg->punch < 0 || cfg->punch >= M2D_GMEM_PUNCH_NR || cfg->folio < 0 ||
	    cfg->folio >= M2D_GMEM_FOLIO_NR || cfg->directmap < 0 ||
	    cfg->directmap >= M2D_RMP_DIRECTMAP_NR || !cfg->conversions || !cfg->samples ||
	    cfg->samples > 100000 || cfg->max_order > 18 ||
	    (cfg->mem >> M2D_PAGE_SHIFT) < (1ull << cfg->max_order))
		return -EINVAL;
	c.pages = cfg->mem >> M2D_PAGE_SHIFT;
	c.private_bm = m2d_calloc(M2D_ALLOC_GUEST, c.pages / 64, sizeof(uint64_t));
	out->samples = m2d_calloc(M2D_ALLOC_GUEST, cfg->samples + 1, sizeof(*out->samples));
	out->samples_alloc = out->samples ? cfg->samples + 1 : 0;
	if (!c.private_bm || !out->samples) {
		ret = -ENOMEM;
		goto out;
	}
	m2d_engine_enter(sim);
	ret = churn_setup(&c);
	if (!ret && !m2d_thread_create(sim, 0, "vcpu0", vcpu_thread, &c, m2d_now(), &err))
		ret = err;
	if (ret)
		churn_teardown(&c);
	m2d_engine_leave(sim);
	if (!ret)
		ret = m2d_sim_run(sim);
	if (!ret)
		ret = c.err;
	m2d_host_destroy(&c.host); /* frees the RMP hung off it */
out:
	m2d_free(M2D_ALLOC_GUEST, c.private_bm, c.pages / 64 * sizeof(uint64_t));
	if (ret)
		m2d_gmem_churn_result_free(out);
	return ret;
}

void m2d_gmem_churn_result_free(struct m2d_gmem_churn_result *res)
{
	if (!res)
		return;
	m2d_free(M2D_ALLOC_GUEST, res->samples, res->samples_alloc * sizeof(*res->samples));
	res->samples = NULL;
	res->nr_samples = 0;
	res->samples_alloc = 0;
}
