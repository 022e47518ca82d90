// SPDX-License-Identifier: MIT
/*
 * bench/bench_kvm.c - simulator speed and memory of the KVM MMU (public API
 * only): mmu_stress_test's populate and zap at full scale.
 *
 * Setup as mmu_stress_test: one HVA range of --slot bytes aliased by
 * --mem / --slot memslots at GPA 4 GiB + k * slot; --vcpus vCPU threads,
 * each writing one word per 4K page of its slice (run1, every access
 * faults and installs a 4K SPTE), then rewriting it (run2, no faults),
 * then mprotect(PROT_READ) of the HVA range (the zap of every SPTE of every
 * memslot), then (host mm only) stage 3: every write exits with -EFAULT
 * and the VMM skips it.
 *
 * --host=mm (default): the host mm model (lib/mm): a shmem memfd mapped
 * MAP_SHARED, MADV_NOHUGEPAGE, prefaulted, KVM subscribed to its
 * mmu_notifier, and the zap is mprotect(PROT_READ).  --host=flat: a flat
 * host through struct m2d_kvm_host_ops (every HVA mapped at 4K, frame =
 * HVA >> 12, no time charged) and the zap is a direct notifier call, so
 * the figures measure lib/kvm (and the pt module and engine) alone.
 *
 * Reported: wall seconds of each phase, ns per 4K page, virtual time of
 * each phase (first thread start to last thread end), counters, peak RSS.  --format=json (default) prints one JSON
 * object on stdout and a SUMMARY line on stderr; --format=pretty prints a
 * table and the SUMMARY line on stdout.
 */
#include "bench_util.h"

#include <mmu2d/error.h>
#include <mmu2d/kvm.h>
#include <mmu2d/mm.h>
#include <mmu2d/physmem.h>
#include <mmu2d/sim.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define GPA_BASE (4ull << 30)
#define HVA_BASE (1ull << 40)

struct opts {
	uint64_t mem, slot;
	unsigned vcpus;
	enum m2d_kvm_mmu mmu;
	const char *mmu_name;
	const char *profile;
	bool json;
	bool flat;
};

/* ---- vCPU threads --------------------------------------------------------------- */

/*
 * Threads spawned for a phase start at virtual time 0; each first idles
 * until the previous phase ended, so phases follow each other in virtual
 * time as they do in the selftest (and lock release times of the previous
 * phase do not count as waiting).
 */
static m2d_vtime_t phase_start;

static void wait_for_phase_start(void)
{
	m2d_vtime_t now = m2d_thread_now();

	if (now < phase_start)
		m2d_thread_work((double)(phase_start - now));
}

struct vcpu_arg {
	struct m2d_vcpu *vcpu;
	uint64_t gpa, pages;
	int result;
	m2d_vtime_t start, end; /* the thread's clock around its KVM_RUN */
};

static void guest_write_slice(struct m2d_vcpu *vcpu, void *p)
{
	struct vcpu_arg *a = p;

	a->result = m2d_vcpu_access_range(vcpu, a->gpa, a->pages, 4096, M2D_ACCESS_WRITE);
}

/* The selftest's host loop in stage 3: skip the faulting instruction. */
static enum m2d_kvm_exit_action vmm_skip(struct m2d_vcpu *vcpu, const struct m2d_kvm_exit *exit,
					 void *arg)
{
	return M2D_KVM_EXIT_SKIP;
}

static void vcpu_thread(void *p)
{
	struct vcpu_arg *a = p;

	wait_for_phase_start();
	a->start = m2d_thread_now();
	m2d_vcpu_run(a->vcpu, guest_write_slice, a, vmm_skip, NULL);
	a->end = m2d_thread_now();
}

/* Virtual duration of a phase: first start to last end over the vCPUs. */
static m2d_vtime_t phase_vtime(const struct vcpu_arg *args, unsigned n)
{
	m2d_vtime_t lo = args[0].start, hi = args[0].end;

	for (unsigned i = 1; i < n; i++) {
		lo = args[i].start < lo ? args[i].start : lo;
		hi = args[i].end > hi ? args[i].end : hi;
	}
	return hi - lo;
}

static int run_vcpus(struct m2d_sim *sim, struct vcpu_arg *args, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		int ret = m2d_sim_spawn(sim, (int)i, "vcpu", vcpu_thread, &args[i]);

		if (ret)
			return ret;
	}
	return m2d_sim_run(sim);
}

/* ---- the host mm (VMM threads) ----------------------------------------------------- */

struct host_setup {
	const struct opts *o;
	struct m2d_host *host;
	struct m2d_mm *mm;
	struct m2d_file *memfd;
	uint64_t hva;
	struct m2d_vm *vm;
	m2d_vtime_t start, end;
	int ret;
};

/* mmu_stress_test's setup: memfd, mmap shared, MADV_NOHUGEPAGE, prefault. */
static void host_setup_thread(void *p)
{
	struct host_setup *hs = p;
	const struct opts *o = hs->o;
	struct m2d_mm_config mc;

	m2d_mm_config_default(&mc);
	mc.arch = o->mmu == M2D_KVM_MMU_ARM64_S2 ? M2D_MM_ARCH_ARM64 : M2D_MM_ARCH_X86_64;
	hs->ret = m2d_mm_create(&hs->mm, hs->host, &mc);
	if (!hs->ret)
		hs->ret = m2d_memfd_create(hs->host, o->slot, M2D_FILE_SHMEM, &hs->memfd);
	if (!hs->ret)
		hs->ret = m2d_mm_mmap(hs->mm, 0, o->slot, M2D_PROT_READ | M2D_PROT_WRITE,
				      M2D_MAP_SHARED, hs->memfd, 0, &hs->hva);
	if (!hs->ret)
		hs->ret = m2d_mm_madvise(hs->mm, hs->hva, o->slot, M2D_MADV_NOHUGEPAGE);
	if (!hs->ret)
		hs->ret = m2d_mm_populate(hs->mm, hs->hva, o->slot, true);
}

/* The ro phase's zap: mprotect(PROT_READ), or (flat host) the notifier calls. */
static void zap_thread(void *p)
{
	struct host_setup *hs = p;

	wait_for_phase_start();
	hs->start = m2d_thread_now();
	if (hs->mm) {
		hs->ret = m2d_mm_mprotect(hs->mm, hs->hva, hs->o->slot, M2D_PROT_READ);
	} else {
		m2d_vm_mmu_notifier_invalidate_range_start(hs->vm, hs->hva, hs->hva + hs->o->slot,
							   true);
		m2d_vm_mmu_notifier_invalidate_range_end(hs->vm, hs->hva, hs->hva + hs->o->slot);
	}
	hs->end = m2d_thread_now();
}

static void host_teardown_thread(void *p)
{
	struct host_setup *hs = p;

	m2d_mm_destroy(&hs->mm);
	m2d_file_put(&hs->memfd);
}

/* ---- main --------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_kvm [--mem=N[K|M|G|T]] [--slot=N[K|M|G]] [--vcpus=N]\n"
		   "                 [--mmu=tdp|legacy|arm64] [--host=mm|flat] [--profile=NAME]\n"
		   "                 [--format=json|pretty]\n"
		   "defaults: --mem=128G --slot=2G --vcpus=48 --mmu=tdp --host=mm --profile=x86"
		   " --format=json\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	o->mem = 128ull << 30;
	o->slot = 2ull << 30;
	o->vcpus = 48;
	o->mmu = M2D_KVM_MMU_TDP;
	o->mmu_name = "tdp";
	o->profile = "x86";
	o->json = true;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strncmp(a, "--mem=", 6)) {
			if (bench_parse_size(a + 6, 10, &o->mem) || !o->mem || o->mem % 4096)
				goto bad;
		} else if (!strncmp(a, "--slot=", 7)) {
			if (bench_parse_size(a + 7, 10, &o->slot) || !o->slot || o->slot % (2ull << 20))
				goto bad;
		} else if (!strncmp(a, "--vcpus=", 8)) {
			o->vcpus = (unsigned)strtoul(a + 8, NULL, 10);
			if (!o->vcpus || o->vcpus > 1024)
				goto bad;
		} else if (!strncmp(a, "--mmu=", 6)) {
			o->mmu_name = a + 6;
			if (!strcmp(a + 6, "tdp"))
				o->mmu = M2D_KVM_MMU_TDP;
			else if (!strcmp(a + 6, "legacy"))
				o->mmu = M2D_KVM_MMU_LEGACY;
			else if (!strcmp(a + 6, "arm64"))
				o->mmu = M2D_KVM_MMU_ARM64_S2;
			else
				goto bad;
		} else if (!strcmp(a, "--host=flat")) {
			o->flat = true;
		} else if (!strcmp(a, "--host=mm")) {
			o->flat = false;
		} else if (!strncmp(a, "--profile=", 10)) {
			o->profile = a + 10;
		} else if (!strcmp(a, "--format=json")) {
			o->json = true;
		} else if (!strcmp(a, "--format=pretty")) {
			o->json = false;
		} else if (!strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else {
			goto bad;
		}
	}
	if (o->mem % o->slot)
		goto bad;
	return 0;
bad:
	fprintf(stderr, "bench_kvm: bad option '%s'\n", argc > 1 ? argv[argc - 1] : "");
	usage(stderr);
	return -EINVAL;
}

static const char *const counter_names[] = {
	"faults", "fault_retries", "spte_installs_4k", "spte_zaps", "tables_allocated",
	"tables_freed", "remote_tlb_flushes", "mmu_notifier_invalidations", "efault_exits",
};

int main(int argc, char **argv)
{
	struct opts o;
	struct m2d_sim_config scfg;
	struct m2d_vm_config vcfg;
	struct m2d_sim *sim = NULL;
	struct m2d_vm *vm = NULL;
	struct vcpu_arg *args;
	uint64_t pages, per_vcpu, nslots;
	double t0, wall[4];
	m2d_vtime_t vt[4];
	long peak_rss_kb;
	int ret;

	if (parse_args(argc, argv, &o))
		return 2;
	m2d_sim_config_default(&scfg);
	scfg.cpus = o.vcpus < 64 ? 64 : o.vcpus;
	scfg.profile = o.profile;
	ret = m2d_sim_create(&sim, &scfg);
	if (ret) {
		fprintf(stderr, "bench_kvm: sim: %s\n", m2d_strerror(ret));
		return 1;
	}
	struct m2d_kvm_host_ops ops = { 0 };
	struct m2d_host *host = NULL;
	struct m2d_mm *mm = NULL;
	struct m2d_file *memfd = NULL;
	uint64_t hva = HVA_BASE;

	if (!o.flat) {
		struct m2d_host_config hc;
		struct host_setup hs = { .o = &o };

		m2d_host_config_default(&hc);
		hc.mem_bytes = o.slot + (1ull << 30);
		ret = m2d_host_create(sim, &hc, &host);
		if (ret) {
			fprintf(stderr, "bench_kvm: host: %s\n", m2d_strerror(ret));
			return 1;
		}
		hs.host = host;
		/* The VMM's setup runs as a simulated thread (it charges time). */
		if (m2d_sim_spawn(sim, 0, "vmm", host_setup_thread, &hs) || m2d_sim_run(sim) ||
		    hs.ret) {
			fprintf(stderr, "bench_kvm: host mm setup failed\n");
			return 1;
		}
		mm = hs.mm;
		memfd = hs.memfd;
		hva = hs.hva;
		phase_start = m2d_sim_time(sim);
		m2d_kvm_host_ops_set_mm(&ops);
	} else {
		m2d_kvm_host_ops_set_flat(&ops);
	}
	m2d_vm_config_default(&vcfg);
	vcfg.mmu = o.mmu;
	ret = m2d_vm_create(&vm, sim, &vcfg, &ops);
	if (ret) {
		fprintf(stderr, "bench_kvm: vm: %s\n", m2d_strerror(ret));
		return 1;
	}
	if (mm && m2d_vm_mmu_notifier_register(vm, mm))
		return 1;
	nslots = o.mem / o.slot;
	for (uint64_t k = 0; k < nslots; k++) {
		struct m2d_memslot_desc d = {
			.id = (uint32_t)(k + 1), .guest_phys = GPA_BASE + k * o.slot, .size = o.slot,
			.userspace_addr = hva, .mm = mm,
		};

		ret = m2d_vm_set_memslot(vm, &d);
		if (ret) {
			fprintf(stderr, "bench_kvm: memslot: %s\n", m2d_strerror(ret));
			return 1;
		}
	}
	args = calloc(o.vcpus, sizeof(*args));
	if (!args)
		return 1;
	pages = o.mem / 4096;
	per_vcpu = pages / o.vcpus;
	for (unsigned i = 0; i < o.vcpus; i++) {
		if (m2d_vcpu_create(vm, i, &args[i].vcpu))
			return 1;
		args[i].gpa = GPA_BASE + (uint64_t)i * per_vcpu * 4096;
		args[i].pages = per_vcpu;
	}

	/* run1: populate; run2: rewrite over present SPTEs. */
	for (int ph = 0; ph < 2; ph++) {
		t0 = bench_wall_s();
		ret = run_vcpus(sim, args, o.vcpus);
		wall[ph] = bench_wall_s() - t0;
		vt[ph] = phase_vtime(args, o.vcpus);
		phase_start = m2d_sim_time(sim);
		if (ret) {
			fprintf(stderr, "bench_kvm: run: %s\n", m2d_strerror(ret));
			return 1;
		}
	}
	/* The ro mprotect's zap of the whole HVA range. */
	{
		struct host_setup hs = { .o = &o, .mm = mm, .hva = hva, .vm = vm };

		t0 = bench_wall_s();
		if (m2d_sim_spawn(sim, 0, "vmm", zap_thread, &hs) || m2d_sim_run(sim) || hs.ret)
			return 1;
		wall[2] = bench_wall_s() - t0;
		vt[2] = hs.end - hs.start;
		phase_start = m2d_sim_time(sim);
	}
	/* Stage 3 with the host mm: every write exits with -EFAULT, skipped. */
	wall[3] = 0;
	vt[3] = 0;
	if (mm) {
		t0 = bench_wall_s();
		ret = run_vcpus(sim, args, o.vcpus);
		wall[3] = bench_wall_s() - t0;
		vt[3] = phase_vtime(args, o.vcpus);
		if (ret)
			return 1;
	}
	peak_rss_kb = bench_peak_rss_kb();

	static const char *const ph_names[4] = { "populate", "rewrite", "zap", "ro_exits" };
	uint64_t total = per_vcpu * o.vcpus;

	if (o.json) {
		printf("{\"bench\": \"kvm\", \"m2d_version\": \"%s\", \"config\": {\"mem\": %" PRIu64
		       ", \"slot\": %" PRIu64 ", \"vcpus\": %u, \"mmu\": \"%s\", \"host\": \"%s\","
		       " \"profile\": \"%s\"}, \"results\": {",
		       m2d_version(), o.mem, o.slot, o.vcpus, o.mmu_name, o.flat ? "flat" : "mm",
		       o.profile);
		for (int ph = 0; ph < 4; ph++)
			printf("\"%s\": {\"wall_s\": %.6f, \"ns_per_page\": %.2f, \"virtual_s\": %.9f}, ",
			       ph_names[ph], wall[ph], wall[ph] * 1e9 / (double)total,
			       (double)vt[ph] * 1e-9);
		printf("\"counters\": {");
		for (size_t i = 0; i < sizeof(counter_names) / sizeof(counter_names[0]); i++)
			printf("%s\"%s\": %" PRIu64, i ? ", " : "", counter_names[i],
			       m2d_sim_counter(sim, counter_names[i]));
		printf("}, \"peak_rss_bytes\": %ld}}\n", peak_rss_kb * 1024L);
	} else {
		printf("%-10s %10s %12s %12s\n", "phase", "wall_s", "ns/page", "virtual_s");
		for (int ph = 0; ph < 4; ph++)
			printf("%-10s %10.3f %12.2f %12.6f\n", ph_names[ph], wall[ph],
			       wall[ph] * 1e9 / (double)total, (double)vt[ph] * 1e-9);
		printf("peak RSS %ld MiB\n", peak_rss_kb / 1024L);
	}
	fprintf(o.json ? stderr : stdout,
		"SUMMARY bench_kvm mmu %s pages %" PRIu64 " populate_ns_per_page %.2f"
		" zap_ns_per_page %.2f peak_rss_mib %ld\n",
		o.mmu_name, total, wall[0] * 1e9 / (double)total, wall[2] * 1e9 / (double)total,
		peak_rss_kb / 1024L);
	m2d_vm_destroy(&vm);
	if (mm) {
		struct host_setup hs = { .o = &o, .mm = mm, .memfd = memfd };

		m2d_sim_spawn(sim, 0, "vmm", host_teardown_thread, &hs);
		m2d_sim_run(sim);
		m2d_host_destroy(&host);
	}
	m2d_sim_destroy(&sim);
	free(args);
	return 0;
}
