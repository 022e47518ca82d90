// SPDX-License-Identifier: MIT
/*
 * sim/main.c - the mmu2d command-line tool: dispatch to replayers.
 * Built only on the public API (include/mmu2d).  The CLI and JSON contract
 * is DESIGN.md section 6; docs/cli.md describes it as implemented.
 *
 * Exit status: 0 success, 1 the simulation or an output write failed,
 * 2 bad command line (exactly one line on stderr naming the option).
 */
#include <mmu2d/mmu2d.h>

#include "cli.h"
#include "json.h"
#include "output.h"
#include "profile.h"
#include "progress.h"
#include "replayer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2

static const struct replayer *const replayers[] = {
	&lock_storm_replayer,
	&mmu_stress_replayer,
	&lazy_accept_replayer,
};
#define NR_REPLAYERS (sizeof(replayers) / sizeof(replayers[0]))

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	struct cli_error err;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "mmu2d: %s\n", err.msg);
	return EXIT_USAGE;
}

static int report(const struct cli_error *err, int status)
{
	fprintf(stderr, "mmu2d: %s\n", err->msg);
	return status;
}

void run_printf(const struct run_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (!ctx->out)
		return;
	va_start(ap, fmt);
	vfprintf(ctx->out, fmt, ap);
	va_end(ap);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: mmu2d REPLAYER [options]\n"
		   "       mmu2d REPLAYER --help\n"
		   "       mmu2d profile list | profile show NAME|FILE\n"
		   "       mmu2d --help | --version\n"
		   "\n"
		   "Simulate the two-dimensional MMU of a virtualized host in deterministic\n"
		   "virtual time.\n"
		   "\n"
		   "Replayers:\n");
	for (size_t i = 0; i < NR_REPLAYERS; i++)
		fprintf(f, "  %-22s %s\n", replayers[i]->name, replayers[i]->summary);
	fprintf(f, "\nCommands:\n"
		   "  %-22s %s\n  %-22s %s\n",
		   "profile list", "list the cost profiles",
		   "profile show NAME|FILE", "show a profile's parameters and their sources");
	fprintf(f, "\nExit status: 0 success, 1 simulation or output failure, 2 bad command line.\n");
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

/* ---- mmu2d profile list | show ---- */

/* Print @p's parameters as a valid profile file. */
static int show_params(const struct profile *p, struct cli_error *err)
{
#ifdef HAVE_M2D_SIM_PARAM_INFO
	/* The library's view: every parameter, its unit and meaning. */
	struct m2d_sim_config cfg;
	struct m2d_param_info info;
	struct m2d_sim *sim;
	char val[32];
	int ret;

	m2d_sim_config_default(&cfg);
	cfg.cpus = 1;
	cfg.profile = p->path;
	ret = m2d_sim_create(&sim, &cfg);
	if (ret)
		return cli_error_set(err, "profile show: the library cannot load '%s': %s", p->path,
				     m2d_strerror(ret));
	for (unsigned k = 0; k < m2d_sim_param_count(); k++) {
		if (m2d_sim_param_info(sim, k, &info))
			continue;
		json_format_double(val, sizeof(val), info.value);
		printf("# %s [%s]\n%s = %s  # %s\n", info.meaning, info.unit, info.name, val,
		       info.source ? info.source : "");
	}
	m2d_sim_destroy(&sim);
	return 0;
#else
	/* The file's entries (the library has no parameter listing API). */
	char val[32];

	if (!p->nr_params)
		printf("# no parameters set\n");
	for (size_t i = 0; i < p->nr_params; i++) {
		json_format_double(val, sizeof(val), p->params[i].value);
		printf("%s = %s  # %s\n", p->params[i].name, val, p->params[i].source);
	}
	return 0;
#endif
}

static int profile_cmd(int argc, char **argv)
{
	struct cli_error err;
	struct profile p;
	char q[72];
	char **names;
	int n;

	if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
		printf("usage: mmu2d profile list\n"
		       "       mmu2d profile show NAME|FILE\n\n"
		       "Profiles are searched in $M2D_PROFILE_DIR, the source tree's sim/profiles,\n"
		       "then the installed profile directory; a FILE is any argument containing '/'\n"
		       "or '.profile'.  'show' prints a valid profile file.\n");
		return 0;
	}
	if (argc == 1 && !strcmp(argv[0], "list")) {
		n = profile_names(&names);
		if (n < 0)
			return usage_error("profile: out of memory");
		for (int i = 0; i < n; i++) {
			if (profile_read(names[i], "profile list", &p, &err)) {
				printf("%-12s (invalid: %s)\n", names[i], err.msg);
				continue;
			}
			printf("%-12s %3zu parameters  %s\n", names[i], p.nr_params, p.path);
			profile_free(&p);
		}
		profile_names_free(names, n);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[0], "show")) {
		int ret;

		if (profile_read(argv[1], "profile show", &p, &err))
			return report(&err, EXIT_USAGE);
		printf("# profile %s (%s)\n", argv[1], p.path);
		ret = show_params(&p, &err);
		profile_free(&p);
		return ret ? report(&err, EXIT_FAILURE) : 0;
	}
	if (argc >= 1 && strcmp(argv[0], "list") && strcmp(argv[0], "show"))
		return usage_error("profile: unknown command '%s' (expected list or show NAME)",
				   cli_quote(argv[0], q, sizeof(q)));
	return usage_error("profile: expected 'list' or 'show NAME|FILE'");
}

/* ---- running a replayer ---- */

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

static int check_common(const struct cli_common *c, struct cli_error *err)
{
	char q[72];

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

static int run_replayer(const struct replayer *r, int argc, char **argv)
{
	struct cli_common common = { .profile = r->default_profile, .progress = isatty(2) == 1 };
	struct output json_out = OUTPUT_INIT, trace_out = OUTPUT_INIT;
	struct cli_table t[2] = { { r->options, NULL }, { cli_common_options, &common } };
	struct m2d_sim *sim = NULL;
	struct progress progress;
	struct json_writer w;
	struct cli_error err;
	struct run_ctx ctx;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = NULL;
	int status = EXIT_USAGE, ret;
	double t0 = wall_now();
	bool help;
	void *opts;

	opts = calloc(1, r->opts_size ? r->opts_size : 1);
	if (!opts)
		return usage_error("out of memory");
	t[0].base = opts;
	if (cli_apply_defaults(t, 2, &err) || cli_parse(t, 2, argc, argv, r->name, &help, &err))
		goto err_report;
	if (help) {
		replayer_help(stdout, r, opts, &common);
		status = 0;
		goto out;
	}
	if ((r->validate && r->validate(opts, &err)) || check_common(&common, &err))
		goto err_report;
	/* No --profile given: the replayer may pick one from its options. */
	if (r->profile_for && common.profile == r->default_profile)
		common.profile = r->profile_for(opts);
	if (create_sim(r, opts, &common, &sim, &status, &err))
		goto err_report;
	if (common.json && output_open(&json_out, "json", common.json, &err))
		goto err_report;
	if (common.trace && output_open(&trace_out, "trace", common.trace, &err))
		goto err_report;

	status = EXIT_FAILURE;
	mem = open_memstream(&buf, &len);
	if (!mem) {
		cli_error_set(&err, "out of memory");
		goto err_report;
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
		cli_error_set(&err, "%s: simulation failed: %s", r->name, m2d_strerror(ret));
		goto err_report;
	}
	json_object_end(&w);
	if (emit_sim_members(&w, sim)) {
		cli_error_set(&err, "%s: cannot emit the simulation's statistics", r->name);
		goto err_report;
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
		cli_error_set(&err, "%s: cannot format the JSON report", r->name);
		goto err_report;
	}
	mem = NULL;
#if TRACE_SUPPORTED
	if (common.trace && write_trace(&trace_out, sim, &err))
		goto err_report;
#endif
	if (common.json && output_commit(&json_out, "json", buf, len, &err))
		goto err_report;
	status = 0;
	goto out;

err_report:
	report(&err, status);
out:
	if (mem)
		fclose(mem);
	free(buf);
	output_abort(&json_out);
	output_abort(&trace_out);
	if (r->finish)
		r->finish();
	m2d_sim_destroy(&sim);
	cli_sets_free(&common.sets);
	free(opts);
	return status;
}

int main(int argc, char **argv)
{
	char q[72];

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("mmu2d %s\n", m2d_version());
		return 0;
	}
	if (!strcmp(argv[1], "profile"))
		return profile_cmd(argc - 2, argv + 2);
	for (size_t i = 0; i < NR_REPLAYERS; i++)
		if (!strcmp(argv[1], replayers[i]->name))
			return run_replayer(replayers[i], argc - 2, argv + 2);
	return usage_error("unknown replayer '%s' (see 'mmu2d --help')",
			   cli_quote(argv[1], q, sizeof(q)));
}
