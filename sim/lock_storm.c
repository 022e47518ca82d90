// SPDX-License-Identifier: MIT
/*
 * sim/lock_storm.c - `mmu2d lock-storm`: N simulated CPUs hammer one lock.
 *
 * Each CPU runs one thread that loops
 *	acquire; m2d_thread_work(hold); release; m2d_thread_work(think)
 * up to --ops times.  It exercises the engine's lock model alone through
 * the public API, so researchers can see how a lock class behaves (queueing,
 * reader sharing, sleeping waiters, NUMA handoff) before it appears inside a
 * kernel mechanism.
 *
 * Measurement window: the run ends, for every CPU, when the first CPU has
 * completed all of its --ops operations; a CPU does not start an operation
 * at or after that virtual time.  Ops per CPU then show how fairly the lock
 * was shared (fairness = min/max ops per CPU, 1 = perfectly fair).
 * The wait of one acquisition is the virtual time from calling acquire to
 * holding the lock, so it includes the uncontended acquire cost (one
 * cache-line RMW on the lock word; lib/core/lock.c).
 */
#include "replayer.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

struct lock_storm_opts {
	uint64_t cpus;       /* host CPUs, one thread each */
	unsigned lock;       /* index into lock_names */
	uint64_t hold_ns;    /* work while holding the lock */
	uint64_t think_ns;   /* work between release and the next acquire */
	uint64_t ops;        /* operations per CPU */
	uint64_t numa_nodes; /* NUMA nodes the CPUs are spread over */
};

static const char *const lock_names[] = {
	"spin", "rwlock-read", "rwlock-write", "mutex", "rwsem-read", "rwsem-write", NULL,
};
static const enum m2d_sim_lock_kind lock_kinds[] = {
	M2D_SIM_LOCK_SPIN, M2D_SIM_LOCK_RWLOCK, M2D_SIM_LOCK_RWLOCK,
	M2D_SIM_LOCK_MUTEX, M2D_SIM_LOCK_RWSEM, M2D_SIM_LOCK_RWSEM,
};
static const bool lock_write[] = { true, false, true, true, false, true };

#define MAX_CPUS 1024 /* the engine's host CPU limit */
#define MAX_NODES 255 /* the engine's NUMA node limit */

static const struct cli_option lock_storm_options[] = {
	CLI_OPT_UINT("cpus", struct lock_storm_opts, cpus, "N", "8", 1, MAX_CPUS,
		     "simulated host CPUs, one thread each"),
	CLI_OPT_ENUM("lock", struct lock_storm_opts, lock, "KIND", "spin", lock_names,
		     "lock class and mode"),
	CLI_OPT_UINT("hold-ns", struct lock_storm_opts, hold_ns, "NS", "100", 0, 1000000000,
		     "work done holding the lock, ns"),
	CLI_OPT_UINT("think-ns", struct lock_storm_opts, think_ns, "NS", "1000", 0, 1000000000,
		     "work between release and the next acquire, ns"),
	CLI_OPT_UINT("ops", struct lock_storm_opts, ops, "K", "10000", 1, 1000000000,
		     "acquire/release operations per CPU"),
	CLI_OPT_UINT("numa-nodes", struct lock_storm_opts, numa_nodes, "M", "1", 1, MAX_NODES,
		     "NUMA nodes the CPUs are spread over evenly"),
	CLI_OPT_END
};

struct storm {
	struct m2d_sim_lock *lock;
	bool write;
	uint64_t hold_ns, think_ns, ops;
	m2d_vtime_t stop_at;       /* when the first CPU finished its ops */
	uint64_t done, total;      /* operations completed, planned */
	struct progress *progress;
};

struct storm_cpu {
	struct storm *s;
	uint64_t ops;              /* operations completed */
	uint64_t wait_sum_ns;      /* sum of acquire waits */
	uint64_t wait_max_ns;      /* longest acquire wait */
	char name[24];             /* thread name, alive for the whole run */
};

static void storm_thread(void *arg)
{
	struct storm_cpu *c = arg;
	struct storm *s = c->s;

	while (c->ops < s->ops && m2d_thread_now() < s->stop_at) {
		m2d_vtime_t t0 = m2d_thread_now(), wait;

		m2d_sim_lock_acquire(s->lock, s->write);
		wait = m2d_thread_now() - t0;
		m2d_thread_work((double)s->hold_ns);
		m2d_sim_lock_release(s->lock, s->write);
		m2d_thread_work((double)s->think_ns);

		c->ops++;
		c->wait_sum_ns += wait;
		if (wait > c->wait_max_ns)
			c->wait_max_ns = wait;
		if ((++s->done & 1023) == 0)
			progress_update(s->progress, (double)s->done / (double)s->total);
	}
	if (c->ops == s->ops && m2d_thread_now() < s->stop_at)
		s->stop_at = m2d_thread_now();
}

static int lock_storm_validate(const void *opts, struct cli_error *err)
{
	return cli_check_divisor(err, lock_storm_options, opts, "numa-nodes", "cpus");
}

static void lock_storm_configure(const void *opts, struct m2d_sim_config *cfg)
{
	const struct lock_storm_opts *o = opts;

	cfg->cpus = (unsigned)o->cpus;
	cfg->nodes = (unsigned)o->numa_nodes;
}

static int lock_storm_run(struct run_ctx *ctx, const void *opts)
{
	const struct lock_storm_opts *o = opts;
	struct storm s = {
		.write = lock_write[o->lock],
		.hold_ns = o->hold_ns,
		.think_ns = o->think_ns,
		.ops = o->ops,
		.stop_at = UINT64_MAX,
		.total = o->cpus * o->ops,
		.progress = ctx->progress,
	};
	uint64_t ops_total = 0, ops_min = UINT64_MAX, ops_max = 0, wait_sum = 0, wait_max = 0;
	struct m2d_lock_stats st;
	struct storm_cpu *cpus;
	double duration_s, throughput, mean_wait, fairness;
	int ret;

	cpus = calloc(o->cpus, sizeof(*cpus));
	if (!cpus)
		return -ENOMEM;
	ret = m2d_sim_lock_create(ctx->sim, lock_kinds[o->lock], "lock_storm", &s.lock);
	if (ret)
		goto out;
	for (uint64_t i = 0; i < o->cpus; i++) {
		cpus[i].s = &s;
		snprintf(cpus[i].name, sizeof(cpus[i].name), "cpu%" PRIu64, i);
		ret = m2d_sim_spawn(ctx->sim, (int)i, cpus[i].name, storm_thread, &cpus[i]);
		if (ret)
			goto out;
	}
	progress_phase(ctx->progress, "acquire/release");
	ret = m2d_sim_run(ctx->sim);
	if (ret)
		goto out;

	for (uint64_t i = 0; i < o->cpus; i++) {
		ops_total += cpus[i].ops;
		wait_sum += cpus[i].wait_sum_ns;
		ops_min = cpus[i].ops < ops_min ? cpus[i].ops : ops_min;
		ops_max = cpus[i].ops > ops_max ? cpus[i].ops : ops_max;
		wait_max = cpus[i].wait_max_ns > wait_max ? cpus[i].wait_max_ns : wait_max;
	}
	duration_s = (double)m2d_sim_time(ctx->sim) / 1e9;
	/* A zero-length run (zero costs, no work) has no throughput: JSON null. */
	throughput = duration_s > 0 ? (double)ops_total / duration_s : NAN;
	mean_wait = ops_total ? (double)wait_sum / (double)ops_total : 0;
	fairness = ops_max ? (double)ops_min / (double)ops_max : 0;

	json_double(ctx->json, "throughput_ops_per_s", throughput);
	json_double(ctx->json, "mean_wait_ns", mean_wait);
	json_uint(ctx->json, "max_wait_ns", wait_max);
	json_double(ctx->json, "fairness", fairness);
	json_uint(ctx->json, "ops_total", ops_total);
	json_uint(ctx->json, "ops_min_per_cpu", ops_min);
	json_uint(ctx->json, "ops_max_per_cpu", ops_max);
	json_double(ctx->json, "duration_s", duration_s);
	json_array_begin(ctx->json, "ops_per_cpu");
	for (uint64_t i = 0; i < o->cpus; i++)
		json_uint(ctx->json, NULL, cpus[i].ops);
	json_array_end(ctx->json);

	run_printf(ctx, "lock-storm: %" PRIu64 " CPUs on %" PRIu64 " NUMA node%s, %s lock, "
			"hold %" PRIu64 " ns, think %" PRIu64 " ns, %" PRIu64 " ops per CPU\n",
		   o->cpus, o->numa_nodes, o->numa_nodes == 1 ? "" : "s", lock_names[o->lock],
		   o->hold_ns, o->think_ns, o->ops);
	run_printf(ctx, "Completed %" PRIu64 " operations in %.9f s of virtual time\n", ops_total,
		   duration_s);
	if (duration_s > 0)
		run_printf(ctx, "Throughput:    %.1f ops/s\n", throughput);
	else
		run_printf(ctx, "Throughput:    n/a (no virtual time passed)\n");
	run_printf(ctx, "Acquire wait:  mean %.1f ns, max %" PRIu64 " ns\n", mean_wait, wait_max);
	run_printf(ctx, "Fairness:      %.3f (min %" PRIu64 ", max %" PRIu64 " ops per CPU)\n",
		   fairness, ops_min, ops_max);
	if (!m2d_sim_lock_stats(ctx->sim, "lock_storm", &st))
		run_printf(ctx, "Lock stats:    %" PRIu64 " acquisitions, %" PRIu64 " contended, "
				"wait max %" PRIu64 " ns, hold max %" PRIu64 " ns\n",
			   st.acquisitions, st.contended, st.wait_max_ns, st.hold_max_ns);
out:
	free(cpus);
	return ret;
}

const struct replayer lock_storm_replayer = {
	.name = "lock-storm",
	.summary = "N simulated CPUs contend for one lock (engine lock model alone)",
	.description =
		"Each simulated CPU loops: acquire; work --hold-ns; release; work --think-ns,\n"
		"up to --ops times.  A CPU starts no operation after the first CPU has finished\n"
		"all of its operations, so ops per CPU measure fairness (min/max, 1 = fair).\n"
		"Results: throughput_ops_per_s, mean_wait_ns and max_wait_ns (virtual time from\n"
		"calling acquire to holding the lock), fairness, ops per CPU.",
	.options = lock_storm_options,
	.opts_size = sizeof(struct lock_storm_opts),
	.default_profile = "x86",
	.validate = lock_storm_validate,
	.configure = lock_storm_configure,
	.run = lock_storm_run,
};
