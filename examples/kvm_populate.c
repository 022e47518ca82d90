// SPDX-License-Identifier: MIT
/*
 * examples/kvm_populate.c - a research-style program on the public API:
 * how long do N vCPUs take to fault in their memory with the TDP MMU
 * (read-locked faults), the legacy MMU (write-locked faults) and shadow
 * paging (ept=N: write-locked faults that also walk the guest's own 4K
 * page tables, one fault per 4K page whatever the host mapping)?
 *
 *	example_kvm_populate [vcpus] [MiB per vCPU] [profile]
 *
 * The host is the host mm model: a memfd mapped shared, prefaulted, with
 * KVM subscribed to its mmu_notifier.  Prints the virtual time of the
 * populate phase and the mmu_lock statistics for each MMU.
 */
#include <mmu2d/error.h>
#include <mmu2d/guest.h>
#include <mmu2d/kvm.h>
#include <mmu2d/mm.h>
#include <mmu2d/physmem.h>
#include <mmu2d/sim.h>

#include <stdio.h>
#include <stdlib.h>

struct setup {
	struct m2d_host *host;
	uint64_t size;
	struct m2d_mm *mm;
	struct m2d_file *memfd;
	uint64_t hva;
	int ret;
};

/* The VMM: memfd, mmap shared, prefault (a simulated thread: it charges time). */
static void vmm_setup(void *p)
{
	struct setup *s = p;
	struct m2d_mm_config mc;

	m2d_mm_config_default(&mc);
	s->ret = m2d_mm_create(&s->mm, s->host, &mc);
	if (!s->ret)
		s->ret = m2d_memfd_create(s->host, s->size, M2D_FILE_SHMEM, &s->memfd);
	if (!s->ret)
		s->ret = m2d_mm_mmap(s->mm, 0, s->size, M2D_PROT_READ | M2D_PROT_WRITE,
				     M2D_MAP_SHARED, s->memfd, 0, &s->hva);
	if (!s->ret)
		s->ret = m2d_mm_populate(s->mm, s->hva, s->size, true);
}

static void vmm_teardown(void *p)
{
	struct setup *s = p;

	m2d_mm_destroy(&s->mm);
	m2d_file_put(&s->memfd);
}

struct vcpu_job {
	struct m2d_vcpu *vcpu;
	uint64_t gpa, pages;
	m2d_vtime_t start, end;
};

static void guest(struct m2d_vcpu *vcpu, void *p)
{
	struct vcpu_job *j = p;

	m2d_vcpu_access_range(vcpu, j->gpa, j->pages, 4096, M2D_ACCESS_WRITE);
}

static void vcpu_thread(void *p)
{
	struct vcpu_job *j = p;

	j->start = m2d_thread_now();
	m2d_vcpu_run(j->vcpu, guest, j, NULL, NULL);
	j->end = m2d_thread_now();
}

static int run_one(enum m2d_kvm_mmu mmu, unsigned nvcpus, uint64_t per_vcpu, const char *profile)
{
	struct m2d_sim_config sc;
	struct m2d_host_config hc;
	struct m2d_vm_config vc;
	struct m2d_kvm_host_ops ops = { 0 };
	struct m2d_sim *sim = NULL;
	struct m2d_vm *vm = NULL;
	struct setup s = { 0 };
	struct vcpu_job *jobs;
	struct m2d_memslot_desc d;
	struct m2d_guest_pt *gpt = NULL;
	struct m2d_lock_stats ls;
	m2d_vtime_t lo = ~0ull, hi = 0;
	int ret;

	m2d_sim_config_default(&sc);
	sc.cpus = nvcpus + 1;
	sc.profile = profile;
	ret = m2d_sim_create(&sim, &sc);
	if (ret)
		return ret;
	m2d_host_config_default(&hc);
	hc.mem_bytes = nvcpus * per_vcpu + (256ull << 20);
	ret = m2d_host_create(sim, &hc, &s.host);
	if (ret)
		goto out_sim;
	s.size = nvcpus * per_vcpu;
	m2d_sim_spawn(sim, (int)nvcpus, "vmm", vmm_setup, &s);
	m2d_sim_run(sim);
	if (s.ret) {
		ret = s.ret;
		goto out_host;
	}

	m2d_kvm_host_ops_set_mm(&ops);
	m2d_vm_config_default(&vc);
	vc.mmu = mmu;
	ret = m2d_vm_create(&vm, sim, &vc, &ops);
	if (ret)
		goto out_mm;
	m2d_vm_mmu_notifier_register(vm, s.mm);
	d = (struct m2d_memslot_desc){ .id = 1, .guest_phys = 1ull << 32, .size = s.size,
				       .userspace_addr = s.hva, .mm = s.mm };
	ret = m2d_vm_set_memslot(vm, &d);
	/*
	 * Shadow paging needs the guest's page tables: identity-mapped 4K
	 * pages (GVA = GPA), the table pages placed at GPA 16 MiB (outside
	 * every memslot here, so not write-tracked; the dirty-log replayer
	 * puts them in memslot 0 as the selftests do).
	 */
	if (!ret && mmu == M2D_KVM_MMU_SHADOW)
		ret = m2d_guest_pt_create_map(&gpt, d.guest_phys, d.guest_phys, s.size, 1, false,
					      16ull << 20);
	if (!ret && mmu == M2D_KVM_MMU_SHADOW)
		ret = m2d_vm_set_guest_walker(vm, m2d_guest_pt_walk, gpt);
	jobs = calloc(nvcpus, sizeof(*jobs));
	for (unsigned i = 0; !ret && i < nvcpus; i++) {
		ret = m2d_vcpu_create(vm, i, &jobs[i].vcpu);
		jobs[i].gpa = d.guest_phys + i * per_vcpu;
		jobs[i].pages = per_vcpu / 4096;
		if (!ret)
			ret = m2d_sim_spawn(sim, (int)i, "vcpu", vcpu_thread, &jobs[i]);
	}
	if (!ret)
		ret = m2d_sim_run(sim);
	for (unsigned i = 0; !ret && i < nvcpus; i++) {
		lo = jobs[i].start < lo ? jobs[i].start : lo;
		hi = jobs[i].end > hi ? jobs[i].end : hi;
	}
	if (!ret) {
		printf("%-7s populate %.6f s virtual, %llu faults",
		       mmu == M2D_KVM_MMU_TDP ? "tdp" : mmu == M2D_KVM_MMU_LEGACY ? "legacy" : "shadow",
		       (double)(hi - lo) * 1e-9,
		       (unsigned long long)m2d_sim_counter(sim, "faults"));
		if (!m2d_sim_lock_stats(sim, "mmu_lock", &ls))
			printf(", mmu_lock contended %llu of %llu, wait %.6f s",
			       (unsigned long long)ls.contended, (unsigned long long)ls.acquisitions,
			       (double)ls.wait_ns * 1e-9);
		printf("\n");
	}
	free(jobs);
	m2d_vm_destroy(&vm);
	m2d_guest_pt_destroy(&gpt);
out_mm:
	m2d_sim_spawn(sim, (int)nvcpus, "vmm", vmm_teardown, &s);
	m2d_sim_run(sim);
out_host:
	m2d_host_destroy(&s.host);
out_sim:
	m2d_sim_destroy(&sim);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned nvcpus = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 8;
	uint64_t mib = argc > 2 ? strtoull(argv[2], NULL, 10) : 64;
	const char *profile = argc > 3 ? argv[3] : NULL;
	int ret;

	if (!nvcpus || nvcpus > 256 || !mib) {
		fprintf(stderr, "usage: example_kvm_populate [vcpus 1..256] [MiB per vCPU] [profile]\n");
		return 2;
	}
	ret = run_one(M2D_KVM_MMU_TDP, nvcpus, mib << 20, profile);
	if (!ret)
		ret = run_one(M2D_KVM_MMU_LEGACY, nvcpus, mib << 20, profile);
	if (!ret)
		ret = run_one(M2D_KVM_MMU_SHADOW, nvcpus, mib << 20, profile);
	if (ret) {
		fprintf(stderr, "example_kvm_populate: %s\n", m2d_strerror(ret));
		return 1;
	}
	return 0;
}
