// SPDX-License-Identifier: MIT
/*
 * bench/bench_engine.c - speed of the virtual-time engine on one core.
 *
 *   switch    two simulated threads alternate at sched points: every
 *             m2d_sim_sched_point() is one coroutine switch (target: >= 20
 *             million switches/s);
 *   switch128 the same with 128 threads in round robin (heap depth 7);
 *   lock      one thread takes and releases an uncontended spinlock (the
 *             public m2d_sim_lock_* path: a sched point, the virtual-time
 *             grant, held-lock bookkeeping, lock_stat);
 *   rwlock    the same with read_lock on a qrwlock;
 *   work      m2d_thread_work(), the cheapest way to advance a clock.
 *
 * Built on the public API only (include/mmu2d).  Wall-clock metrics are
 * the median and min of --repeat runs after one warm-up run; virtual-time
 * metrics (deterministic) are kept apart.  Options: --format=pretty|json,
 * --iters=N, --repeat=N, --filter=NAME, --list, --seed=N.
 */
#include "bench_util.h"

#include <mmu2d/mmu2d.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct opts {
	const char *format;
	const char *filter;
	unsigned long long iters;
	unsigned repeat;
	unsigned long long seed;
};

struct result {
	const char *name;
	const char *unit;           /* what one op is */
	unsigned long long ops;     /* per run */
	double ns_per_op_median, ns_per_op_min;
	unsigned long long vtime_ns; /* virtual time at the end of a run */
	unsigned long long switches; /* context_switches counter of a run */
};

static unsigned long long g_iters;
static struct m2d_sim_lock *g_lock;

static void switch_fn(void *arg)
{
	for (unsigned long long i = 0; i < g_iters; i++) {
		m2d_thread_work(1);
		m2d_sim_sched_point();
	}
}

static void lock_fn(void *arg)
{
	bool write = arg != NULL;

	for (unsigned long long i = 0; i < g_iters; i++) {
		m2d_sim_lock_acquire(g_lock, write);
		m2d_sim_lock_release(g_lock, write);
	}
}

static void work_fn(void *arg)
{
	for (unsigned long long i = 0; i < g_iters; i++)
		m2d_thread_work(1);
}

enum kind { B_SWITCH, B_SWITCH128, B_LOCK, B_RWLOCK, B_WORK, B_NR };
static const char *const names[B_NR] = { "switch", "switch128", "lock", "rwlock", "work" };
static const char *const units[B_NR] = { "switch", "switch", "lock+unlock", "read_lock+unlock",
					  "work call" };

/* One run; returns wall ns and fills the deterministic metrics. */
static double run_once(enum kind k, const struct opts *o, struct result *r)
{
	struct m2d_sim_config cfg;
	struct m2d_sim *sim;
	double t0, t1;
	int err;

	m2d_sim_config_default(&cfg);
	cfg.cpus = k == B_SWITCH128 ? 128 : 2;
	cfg.seed = o->seed;
	if ((err = m2d_sim_create(&sim, &cfg))) {
		fprintf(stderr, "bench: m2d_sim_create: %s\n", m2d_strerror(err));
		exit(1);
	}
	g_iters = o->iters;
	switch (k) {
	case B_SWITCH:
		m2d_sim_spawn(sim, 0, "a", switch_fn, NULL);
		m2d_sim_spawn(sim, 1, "b", switch_fn, NULL);
		break;
	case B_SWITCH128:
		/* 128 threads (a full-scale vCPU count): the run heap is 7 deep */
		g_iters = o->iters / 64;
		for (int c = 0; c < 128; c++)
			m2d_sim_spawn(sim, c, "v", switch_fn, NULL);
		break;
	case B_LOCK:
	case B_RWLOCK:
		m2d_sim_lock_create(sim, k == B_LOCK ? M2D_SIM_LOCK_SPIN : M2D_SIM_LOCK_RWLOCK, "bench",
				    &g_lock);
		m2d_sim_spawn(sim, 0, "locker", lock_fn, NULL);
		break;
	default:
		m2d_sim_spawn(sim, 0, "worker", work_fn, NULL);
		break;
	}
	t0 = bench_wall_ns();
	if ((err = m2d_sim_run(sim))) {
		fprintf(stderr, "bench: m2d_sim_run: %s\n", m2d_strerror(err));
		exit(1);
	}
	t1 = bench_wall_ns();
	r->vtime_ns = m2d_sim_time(sim);
	r->switches = m2d_sim_counter(sim, "context_switches");
	r->ops = k == B_SWITCH || k == B_SWITCH128 ? r->switches : o->iters;
	m2d_sim_destroy(&sim);
	return t1 - t0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void bench(enum kind k, const struct opts *o, struct result *r)
{
	double t[64];
	unsigned n = o->repeat > 64 ? 64 : o->repeat;

	r->name = names[k];
	r->unit = units[k];
	run_once(k, o, r); /* warm-up */
	for (unsigned i = 0; i < n; i++)
		t[i] = run_once(k, o, r) / (double)r->ops;
	qsort(t, n, sizeof(t[0]), cmp_double);
	r->ns_per_op_min = t[0];
	r->ns_per_op_median = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static void usage(void)
{
	printf("usage: bench_engine [--format=pretty|json] [--iters=N] [--repeat=N] [--filter=NAME] "
	       "[--seed=N] [--list]\n");
}

int main(int argc, char **argv)
{
	struct opts o = { "pretty", NULL, 2000000, 5, 1 };
	struct result res[B_NR];
	unsigned nres = 0;
	char host[256] = "unknown";

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strncmp(a, "--format=", 9))
			o.format = a + 9;
		else if (!strncmp(a, "--iters=", 8))
			o.iters = strtoull(a + 8, NULL, 0);
		else if (!strncmp(a, "--repeat=", 9))
			o.repeat = (unsigned)strtoul(a + 9, NULL, 0);
		else if (!strncmp(a, "--filter=", 9))
			o.filter = a + 9;
		else if (!strncmp(a, "--seed=", 7))
			o.seed = strtoull(a + 7, NULL, 0);
		else if (!strcmp(a, "--list")) {
			for (int k = 0; k < B_NR; k++)
				printf("%s\n", names[k]);
			return 0;
		} else {
			usage();
			return strcmp(a, "--help") ? 2 : 0;
		}
	}
	if (!o.iters || !o.repeat || (strcmp(o.format, "pretty") && strcmp(o.format, "json"))) {
		usage();
		return 2;
	}
	for (int k = 0; k < B_NR; k++)
		if (!o.filter || strstr(names[k], o.filter))
			bench((enum kind)k, &o, &res[nres++]);
	gethostname(host, sizeof(host) - 1);
	if (!strcmp(o.format, "json")) {
		printf("{\n  \"m2d_version\": \"%s\",\n  \"timestamp\": %lld,\n  \"host\": \"%s\",\n"
		       "  \"seed\": %llu,\n  \"config\": {\"iters\": %llu, \"repeat\": %u, \"filter\": \"%s\"},\n"
		       "  \"results\": [",
		       m2d_version(), (long long)time(NULL), host, o.seed, o.iters, o.repeat,
		       o.filter ? o.filter : "");
		for (unsigned i = 0; i < nres; i++) {
			const struct result *r = &res[i];

			printf("%s\n    {\"name\": \"%s\", \"unit\": \"%s\", "
			       "\"virtual\": {\"ops\": %llu, \"vtime_ns\": %llu, \"context_switches\": %llu}, "
			       "\"wall\": {\"ns_per_op_median\": %.3f, \"ns_per_op_min\": %.3f, "
			       "\"ops_per_s_median\": %.0f}}",
			       i ? "," : "", r->name, r->unit, r->ops, r->vtime_ns, r->switches,
			       r->ns_per_op_median, r->ns_per_op_min, 1e9 / r->ns_per_op_median);
		}
		printf("\n  ]\n}\n");
	} else {
		for (unsigned i = 0; i < nres; i++)
			printf("%-8s %10.2f ns/%s (min %.2f)  %12.0f /s\n", res[i].name,
			       res[i].ns_per_op_median, res[i].unit, res[i].ns_per_op_min,
			       1e9 / res[i].ns_per_op_median);
	}
	fprintf(stderr, "SUMMARY engine");
	for (unsigned i = 0; i < nres; i++)
		fprintf(stderr, " %s_per_s %.0f", res[i].name, 1e9 / res[i].ns_per_op_median);
	fprintf(stderr, "\n");
	return 0;
}
