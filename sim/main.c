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
#include "run.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2

static const struct replayer *const replayers[] = {
	&lock_storm_replayer,
	&mmu_stress_replayer,
	&lazy_accept_replayer,
	&dirty_log_replayer,
	&hgm_collapse_replayer,
	&gmem_churn_replayer,
};
#define NR_REPLAYERS (sizeof(replayers) / sizeof(replayers[0]))

size_t replayer_count(void)
{
	return NR_REPLAYERS;
}

const struct replayer *replayer_at(size_t i)
{
	return i < NR_REPLAYERS ? replayers[i] : NULL;
}

const struct replayer *replayer_find(const char *name)
{
	for (size_t i = 0; i < NR_REPLAYERS; i++)
		if (!strcmp(name, replayers[i]->name))
			return replayers[i];
	return NULL;
}

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

static void usage(FILE *f)
{
	fprintf(f, "usage: mmu2d REPLAYER [options]\n"
		   "       mmu2d REPLAYER --help\n"
		   "       mmu2d profile list | profile show NAME|FILE\n"
		   "       mmu2d validate [options] | calibrate --profile NAME [options]\n"
		   "       mmu2d --help | --version\n"
		   "\n"
		   "Simulate the two-dimensional MMU of a virtualized host in deterministic\n"
		   "virtual time.\n"
		   "\n"
		   "Replayers:\n");
	for (size_t i = 0; i < NR_REPLAYERS; i++)
		fprintf(f, "  %-22s %s\n", replayers[i]->name, replayers[i]->summary);
	fprintf(f, "\nCommands:\n"
		   "  %-22s %s\n  %-22s %s\n  %-22s %s\n  %-22s %s\n",
		   "profile list", "list the cost profiles",
		   "profile show NAME|FILE", "show a profile's parameters and their sources",
		   "validate", "run the reference configurations, write docs/validation.md",
		   "calibrate", "fit a profile's 'fitted' parameters to the calibration points");
	fprintf(f, "\nExit status: 0 success, 1 simulation or output failure, 2 bad command line.\n");
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

static int run_replayer(const struct replayer *r, int argc, char **argv)
{
	struct cli_error err;
	int status = replay_exec(r, argc, argv, EXEC_CLI, NULL, NULL, &err);

	return status ? report(&err, status) : 0;
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
	if (!strcmp(argv[1], "validate"))
		return validate_main(argc - 2, argv + 2);
	if (!strcmp(argv[1], "calibrate"))
		return calibrate_main(argc - 2, argv + 2);
	for (size_t i = 0; i < NR_REPLAYERS; i++)
		if (!strcmp(argv[1], replayers[i]->name))
			return run_replayer(replayers[i], argc - 2, argv + 2);
	return usage_error("unknown replayer '%s' (see 'mmu2d --help')",
			   cli_quote(argv[1], q, sizeof(q)));
}
