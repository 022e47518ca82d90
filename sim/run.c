// SPDX-License-Identifier: MIT
/*
 * sim/run.c - run one replayer on an argument vector (see run.h).
 * Built only on the public API (include/mmu2d).
 */
#include <mmu2d/mmu2d.h>

#include "cli.h"
#include "json.h"
#include "output.h"
#include "profile.h"
#include "progress.h"
#include "replayer.h"
#include "run.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2

void run_printf(const struct run_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (!ctx->out)
		return;
	va_start(ap, fmt);
	vfprintf(ctx->out, fmt, ap);
	va_end(ap);
}

static void replayer_help(FILE *f, const struct replayer *r, const void *opts,
			  const struct cli_common *common)
{
	fprintf(f, "usage: mmu2d %s [options]\n\n%s\n\n%s options:\n", r->name, r->description,
		r->name);
	cli_print_options(f, r->options, opts);
	fprintf(f, "\nCommon options:\n");
	cli_print_options(f, cli_common_options, common);
	fprintf(f, "  %-24s %s\n", "--help, -h", "show this help");
	fprintf(f, "\nSizes take binary K/M/G/T suffixes (128G = 128 GiB). "
		   "Bad input exits with status 2.\n");
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t peak_rss_bytes(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (uint64_t)ru.ru_maxrss * 1024; /* Linux reports KiB */
}

/*
 * The trace writer is optional in the public API: meson enables it when
 * include/mmu2d/sim.h declares m2d_sim_write_trace() taking a path
 * (HAVE_M2D_SIM_WRITE_TRACE_PATH) or a FILE * (HAVE_M2D_SIM_WRITE_TRACE_FILE).
 */
#if defined(HAVE_M2D_SIM_WRITE_TRACE_PATH) || defined(HAVE_M2D_SIM_WRITE_TRACE_FILE)
#define TRACE_SUPPORTED 1
#else
#define TRACE_SUPPORTED 0
#endif

static int check_common(const struct cli_common *c, enum exec_mode mode, struct cli_error *err)
{
	char q[72];

	if (mode == EXEC_CAPTURE && (c->json || c->trace))
		return cli_error_set(err, "--%s: not allowed in an in-process run (its results are "
					  "read back, no files are written)", c->json ? "json" : "trace");
	if (c->trace && !TRACE_SUPPORTED)
		return cli_error_set(err, "--trace: not supported: this library's engine does not "
					  "record a timeline (m2d_sim_write_trace)");
	if (c->trace && !strcmp(c->trace, "-"))
		return cli_error_set(err, "--trace: expected a file name, got '-'");
	if (c->trace && c->json && !strcmp(c->trace, c->json))
		return cli_error_set(err, "--trace: expected a file other than --json's, got '%s'",
				     cli_quote(c->json, q, sizeof(q)));
	return 0;
}

/* Create the simulation; errors caused by the command line exit 2. */
static int create_sim(const struct replayer *r, const void *opts, const struct cli_common *c,
		      struct m2d_sim **sim, int *status, struct cli_error *err)
{
	struct m2d_sim_config cfg;
	struct profile prof;
	char q[72];
	int ret;

	*status = EXIT_USAGE;
	/*
	 * Resolve and parse the profile here so that a bad one is reported as
	 * "--profile: ..." whichever engine is linked; the library then loads
	 * the same file.
	 */
	ret = profile_read(c->profile, "--profile", &prof, err);
	if (ret)
		return ret == -ENOMEM ? cli_error_set(err, "out of memory") : ret;
	m2d_sim_config_default(&cfg);
	cfg.seed = c->seed;
	cfg.profile = prof.path;
	cfg.trace = c->trace != NULL;
	if (r->configure)
		r->configure(opts, &cfg);
	ret = m2d_sim_create(sim, &cfg);
	profile_free(&prof);
	if (ret == -ENOENT || ret == M2D_E_PROFILE)
		return cli_error_set(err, "--profile: cannot load '%s': %s",
				     cli_quote(c->profile, q, sizeof(q)), m2d_strerror(ret));
	if (ret == -EINVAL || ret == M2D_E_CONFIG)
		return cli_error_set(err, "%s: the library rejected the topology (%u CPUs, %u nodes, "
					  "%u sockets): %s", r->name, cfg.cpus, cfg.nodes,
				     cfg.sockets, m2d_strerror(ret));
	if (ret) {
		*status = EXIT_FAILURE;
		return cli_error_set(err, "%s: cannot create the simulation: %s", r->name,
				     m2d_strerror(ret));
	}
	for (size_t i = 0; i < c->sets.n; i++) {
		const struct cli_set *s = &c->sets.v[i];

		ret = m2d_sim_set_param(*sim, s->name, s->value);
		if (ret) {
			m2d_sim_destroy(sim);
			if (ret == M2D_E_PARAM)
				return cli_error_set(err, "--set: expected a cost parameter of the "
							  "profile (see 'mmu2d profile show'), got '%s'",
						     cli_quote(s->name, q, sizeof(q)));
			return cli_error_set(err, "--set: %s=%.17g rejected: %s",
					     cli_quote(s->name, q, sizeof(q)), s->value,
					     m2d_strerror(ret));
		}
	}
	return 0;
}

/* Capture m2d_sim_emit_json()'s members and insert them. */
static int emit_sim_members(struct json_writer *w, const struct m2d_sim *sim)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int ret;

	if (!f)
		return -ENOMEM;
	ret = m2d_sim_emit_json(sim, f);
	if (fclose(f) && !ret)
		ret = -ENOMEM;
	if (!ret)
		json_raw_members(w, buf, len);
	free(buf);
	return ret;
}

#if TRACE_SUPPORTED
/* Write the timeline into the output's temporary file, then move it into place. */
static int write_trace(struct output *o, const struct m2d_sim *sim, struct cli_error *err)
{
	int ret;
#ifdef HAVE_M2D_SIM_WRITE_TRACE_PATH
	ret = m2d_sim_write_trace(sim, o->tmp);
#else
	FILE *f = fopen(o->tmp, "w");

	ret = f ? m2d_sim_write_trace(sim, f) : -errno;
	if (f && fclose(f) && !ret)
		ret = -EIO;
#endif
	if (ret) {
		cli_error_set(err, "--trace: cannot record the trace: %s", m2d_strerror(ret));
		output_abort(o);
		return ret;
	}
	return output_commit_file(o, "trace", err);
}
#endif

int replay_check(const struct replayer *r, int argc, char **argv, const char *profile,
		 struct cli_error *err)
{
	struct cli_common common = { .profile = profile };
	struct cli_table t[2] = { { r->options, NULL }, { cli_common_options, &common } };
	struct profile prof;
	bool help;
	void *opts = calloc(1, r->opts_size ? r->opts_size : 1);
	int ret = -EINVAL;

	if (!opts)
		return cli_error_set(err, "out of memory");
	t[0].base = opts;
	if (cli_apply_defaults(t, 2, err) || cli_parse(t, 2, argc, argv, r->name, &help, err))
		goto out;
	if (help) {
		cli_error_set(err, "--help: not allowed in an in-process run");
		goto out;
	}
	if ((r->validate && r->validate(opts, err)) || check_common(&common, EXEC_CAPTURE, err))
		goto out;
	if (profile_read(common.profile, "--profile", &prof, err))
		goto out;
	profile_free(&prof);
	ret = 0;
out:
	cli_sets_free(&common.sets);
	free(opts);
	return ret;
}

int replay_exec(const struct replayer *r, int argc, char **argv, enum exec_mode mode,
		char **json, size_t *json_len, struct cli_error *err)
{
	bool cli = mode == EXEC_CLI;
	struct cli_common common = { .profile = r->default_profile };
	struct output json_out = OUTPUT_INIT, trace_out = OUTPUT_INIT;
	struct cli_table t[2] = { { r->options, NULL }, { cli_common_options, &common } };
	struct m2d_sim *sim = NULL;
	struct progress progress;
	struct json_writer w;
	struct run_ctx ctx;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = NULL;
	int status = EXIT_USAGE, ret;
	double t0 = wall_now();
	bool help;
	void *opts;

	if (json)
		*json = NULL;
	if (json_len)
		*json_len = 0;
	common.progress = cli && isatty(2) == 1;
	opts = calloc(1, r->opts_size ? r->opts_size : 1);
	if (!opts)
		return cli_error_set(err, "out of memory"), EXIT_USAGE;
	t[0].base = opts;
	if (cli_apply_defaults(t, 2, err) || cli_parse(t, 2, argc, argv, r->name, &help, err))
		goto out;
	if (help && !cli) {
		cli_error_set(err, "--help: not allowed in an in-process run");
		goto out;
	}
	if (help) {
		replayer_help(stdout, r, opts, &common);
		status = 0;
		goto out;
	}
	if (!cli) {
		common.progress = false;
		common.quiet = true;
	}
	if ((r->validate && r->validate(opts, err)) || check_common(&common, mode, err))
		goto out;
	/* No --profile given: the replayer may pick one from its options. */
	if (r->profile_for && common.profile == r->default_profile)
		common.profile = r->profile_for(opts);
	if (r->validate_profile && r->validate_profile(opts, common.profile, err))
		goto out;
	if (create_sim(r, opts, &common, &sim, &status, err))
		goto out;
	if (common.json && output_open(&json_out, "json", common.json, err))
		goto out;
	if (common.trace && output_open(&trace_out, "trace", common.trace, err))
		goto out;

	status = EXIT_FAILURE;
	mem = open_memstream(&buf, &len);
	if (!mem) {
		cli_error_set(err, "out of memory");
		goto out;
	}
	json_init(&w, mem);
	json_object_begin(&w, NULL);
	json_string(&w, "mmu2d_version", m2d_version());
	json_string(&w, "replayer", r->name);
	json_string(&w, "profile", common.profile);
	json_uint(&w, "seed", common.seed);
	json_object_begin(&w, "config");
	cli_echo_json(&w, r->options, opts);
	cli_echo_sets(&w, "set", &common.sets);
	json_object_end(&w);
	json_object_begin(&w, "results");

	progress_init(&progress, stderr, common.progress, r->name);
	ctx = (struct run_ctx){
		.sim = sim,
		.common = &common,
		.json = &w,
		.out = common.quiet ? NULL : (common.json && !strcmp(common.json, "-")) ? stderr : stdout,
		.progress = &progress,
	};
	ret = r->run(&ctx, opts);
	progress_done(&progress);
	if (ret) {
		cli_error_set(err, "%s: simulation failed: %s", r->name, m2d_strerror(ret));
		goto out;
	}
	json_object_end(&w);
	if (emit_sim_members(&w, sim)) {
		cli_error_set(err, "%s: cannot emit the simulation's statistics", r->name);
		goto out;
	}
	json_object_begin(&w, "sim");
	json_double(&w, "wall_s", wall_now() - t0);
	json_uint(&w, "events", m2d_sim_counter(sim, "context_switches"));
	json_uint(&w, "peak_rss_bytes", peak_rss_bytes());
	json_object_end(&w);
	json_object_end(&w);
	json_finish(&w);
	if (json_error(&w) | (fclose(mem) != 0)) {
		mem = NULL;
		cli_error_set(err, "%s: cannot format the JSON report", r->name);
		goto out;
	}
	mem = NULL;
#if TRACE_SUPPORTED
	if (common.trace && write_trace(&trace_out, sim, err))
		goto out;
#endif
	if (common.json && output_commit(&json_out, "json", buf, len, err))
		goto out;
	if (json) {
		*json = buf;
		*json_len = len;
		buf = NULL;
	}
	status = 0;
out:
	if (mem)
		fclose(mem);
	free(buf);
	output_abort(&json_out);
	output_abort(&trace_out);
	/* Called once per run() so that in-process runs (validate) start clean. */
	if (r->finish)
		r->finish();
	m2d_sim_destroy(&sim);
	cli_sets_free(&common.sets);
	free(opts);
	return status;
}
