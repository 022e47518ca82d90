/* SPDX-License-Identifier: MIT */
/*
 * sim/run.h - run a replayer on an argument vector.
 *
 * The one path every replay takes, whether from the command line
 * (`mmu2d NAME ARGS...`) or in-process from `mmu2d validate` and
 * `mmu2d calibrate`: parse the options, validate, create the simulation
 * (profile, seed, --set), run, and build the JSON envelope of docs/cli.md.
 */
#ifndef M2D_SIM_RUN_H
#define M2D_SIM_RUN_H

#include <stddef.h>

#include "cli.h"

struct replayer;

enum exec_mode {
	/* As `mmu2d NAME ARGS...`: --help, human output, --json/--trace files, progress. */
	EXEC_CLI,
	/*
	 * In-process: no output files (--json/--trace/--help are rejected), no
	 * human output, no progress; the JSON document is handed back.
	 */
	EXEC_CAPTURE,
};

/*
 * replay_exec() - parse @argv[0..@argc) (the replayer's arguments, without
 * its name) for @r and run it.
 * @json, @len: EXEC_CAPTURE: on success the whole JSON document (the
 * caller frees *@json); may be NULL in EXEC_CLI mode.
 * Return: exit status: 0, 1 (the simulation or an output failed), 2 (bad
 * arguments); when nonzero, @err holds the one line.
 */
int replay_exec(const struct replayer *r, int argc, char **argv, enum exec_mode mode,
		char **json, size_t *len, struct cli_error *err);

/*
 * replay_check() - parse and validate @argv for @r as replay_exec() would
 * in-process, and check that profile @profile can be read; run nothing.
 * Return: 0 or -EINVAL (the one line in @err).
 */
int replay_check(const struct replayer *r, int argc, char **argv, const char *profile,
		 struct cli_error *err);

/* The replayers built into this mmu2d (sim/main.c's table), in table order. */
size_t replayer_count(void);
const struct replayer *replayer_at(size_t i);
/* The replayer named @name, or NULL if it is not built. */
const struct replayer *replayer_find(const char *name);

/* `mmu2d validate` and `mmu2d calibrate` (sim/validate.c). Return: exit status. */
int validate_main(int argc, char **argv);
int calibrate_main(int argc, char **argv);

#endif /* M2D_SIM_RUN_H */
