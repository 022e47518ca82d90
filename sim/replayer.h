/* SPDX-License-Identifier: MIT */
/*
 * sim/replayer.h - what a replayer gives the mmu2d dispatcher.
 *
 * One replayer per file (sim/<name>.c), listed in main.c's table.  The
 * dispatcher parses the options, calls validate(), creates the simulation
 * (profile, seed, --set overrides, with configure() filling the topology),
 * then calls run() with the JSON writer positioned inside "results", and
 * writes the rest of the envelope (docs/cli.md).
 */
#ifndef M2D_SIM_REPLAYER_H
#define M2D_SIM_REPLAYER_H

#include <mmu2d/mmu2d.h>

#include "cli.h"
#include "json.h"
#include "progress.h"

struct run_ctx {
	struct m2d_sim *sim;              /* created from the profile and options */
	const struct cli_common *common;  /* --profile, --seed, --set, ... */
	struct json_writer *json;         /* inside the "results" object */
	FILE *out;                        /* human-readable output; NULL with --quiet */
	struct progress *progress;        /* always valid; no-op when disabled */
};

struct replayer {
	const char *name;                 /* command word */
	const char *summary;              /* one line for 'mmu2d --help' */
	const char *description;          /* paragraph for 'mmu2d NAME --help' */
	const struct cli_option *options; /* bound to a struct of opts_size bytes */
	size_t opts_size;
	const char *default_profile;      /* --profile default */
	/* The profile when --profile is not given, from the options (may be NULL:
	 * default_profile). */
	const char *(*profile_for)(const void *opts);
	/* Checks that need the resolved profile name (may be NULL); 0 or cli_error_set(). */
	int (*validate_profile)(const void *opts, const char *profile, struct cli_error *err);
	/*
	 * Cross-option checks on the parsed options (sizes that must divide,
	 * more vCPUs than host CPUs ...).  Return 0, or -EINVAL with a message
	 * naming the option in @err.  May be NULL.
	 */
	int (*validate)(const void *opts, struct cli_error *err);
	/* Fill the topology of the simulation (cpus, nodes, sockets). May be NULL. */
	void (*configure)(const void *opts, struct m2d_sim_config *cfg);
	/* Run the replay, write results.  Return: 0 or a negative error code. */
	int (*run)(struct run_ctx *ctx, const void *opts);
	/*
	 * Free what run() kept alive for the report (after the JSON is
	 * written, so that teardown work does not enter the statistics).
	 * May be NULL.
	 */
	void (*finish)(void);
};

/* printf to ctx->out unless it is NULL (--quiet). */
void run_printf(const struct run_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

extern const struct replayer lock_storm_replayer;
extern const struct replayer mmu_stress_replayer;
extern const struct replayer lazy_accept_replayer;
extern const struct replayer dirty_log_replayer;
extern const struct replayer hgm_collapse_replayer;
extern const struct replayer gmem_churn_replayer;

#endif /* M2D_SIM_REPLAYER_H */
