/* SPDX-License-Identifier: MIT */
/*
 * sim/reference.h - the published measurements the replayers reproduce, as data.
 *
 * One entry per REFERENCE.md benchmark row that a replayer covers, plus the
 * configurations held back for validation (run from mechanism, no value
 * given here).  An entry says how to reproduce the row: the replayer, the
 * profile and the argument vector of its published configuration (DESIGN.md
 * section 6 options), and where the simulated value is in the replayer's
 * JSON "results" (a key path such as "ro_s" or
 * "iterations[0].clear_dirty_log_s").  `mmu2d validate` runs them and
 * `mmu2d calibrate` fits a profile's `fitted` parameters to the
 * calibration points (docs/validation.md, docs/cost-model.md).
 *
 * The table can also be read from a text file (mmu2d validate --table FILE),
 * one entry per line, fields separated by '|' (blank lines and lines
 * starting with '#' are ignored):
 *
 *   ID | ROLE | PROFILE | REPLAYER ARGS... | QUICK ARGS... | KEY | VALUE | UNIT | TOL | WHAT
 *
 *   ROLE   calibration, validation (a reference value, not fitted) or
 *          held-back (validation, value held back: no VALUE)
 *   QUICK  arguments appended for --quick (scaled down), may be empty
 *   VALUE  a number, or '-' for held-back entries
 *   TOL    "10%" (|sim/ref - 1| <= 0.10) or "x3" (ref/3 <= sim <= 3 ref)
 *
 * `mmu2d validate --list` prints the table in this format.
 */
#ifndef M2D_SIM_REFERENCE_H
#define M2D_SIM_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct cli_error;

enum ref_role {
	REF_CALIBRATION, /* a REFERENCE.md value the profile's fitted parameters may be fitted to */
	REF_VALIDATION,  /* a REFERENCE.md value never used for fitting */
	REF_HELD_BACK,   /* validation, value held back: simulated value only */
};

enum ref_tol_kind {
	REF_TOL_REL,    /* |sim/ref - 1| <= tol */
	REF_TOL_FACTOR, /* 1/tol <= sim/ref <= tol */
};

struct ref_entry {
	const char *id;         /* REFERENCE.md id, e.g. "PFN-STOP-x86-run1" */
	enum ref_role role;
	const char *profile;    /* profile the configuration runs with */
	const char *command;    /* "REPLAYER ARGS...", space-separated */
	const char *quick;      /* arguments appended for --quick ("" = none) */
	const char *key;        /* path into "results" */
	double value;           /* reference value; NAN when held back */
	const char *unit;       /* unit of value, as the replayer reports it */
	enum ref_tol_kind tol_kind;
	double tol;             /* 0.10 for 10%, 3 for a factor of 3 */
	const char *what;       /* one line: what was measured */
};

struct ref_table {
	const struct ref_entry *v;
	size_t n;
	char *text;             /* storage of a table read from a file, or NULL */
	struct ref_entry *owned;
};

/* The built-in table (sim/reference.c). */
void ref_table_builtin(struct ref_table *t);

/*
 * ref_table_read() - read a table file in the format above and check it
 * (ref_table_check).  Errors name "FILE:LINE".
 * Return: 0, -ENOENT, -EINVAL, -ENOMEM (message in @err).
 */
int ref_table_read(const char *path, struct ref_table *t, struct cli_error *err);
void ref_table_free(struct ref_table *t);

/*
 * ref_table_check() - every id unique and well-formed, a replayer named,
 * a valid key path, a positive finite value unless held back, a positive
 * tolerance (factor > 1).  Return: 0 or -EINVAL (message in @err).
 */
int ref_table_check(const struct ref_table *t, struct cli_error *err);

/* Print @t in the file format (round-trips through ref_table_read). */
void ref_table_write(FILE *f, const struct ref_table *t);

/*
 * ref_split_args() - split "@command @extra" at spaces into a NULL-terminated
 * argv of new strings (free with ref_free_args).  argv[0] is the replayer.
 * Return: the argument count, or -ENOMEM.
 */
int ref_split_args(const char *command, const char *extra, char ***argv);
void ref_free_args(char **argv);

/* True if @sim is within @e's tolerance of its reference value. */
bool ref_within(const struct ref_entry *e, double sim);
/* Tolerance as text: "±10%", "x3". */
void ref_tol_format(const struct ref_entry *e, char *buf, size_t len);
const char *ref_role_name(enum ref_role role);

/* True if @id matches the comma-separated fnmatch patterns of @patterns (NULL = all). */
bool ref_match(const char *patterns, const char *id);

/* True if @id looks like a reference id (or an fnmatch pattern of ids). */
bool ref_id_valid(const char *id);

#endif /* M2D_SIM_REFERENCE_H */

/*
 * The `fitted` convention of profile source comments (docs/cost-model.md):
 *
 *   name = value  # fitted
 *   name = value  # fitted: PFN-STOP-x86-run1, PFN-STOP-x86-rw  free text
 *   name = value  # fitted (arm64 only)
 *
 * A comment starting with the word "fitted" marks a parameter `mmu2d
 * calibrate` may change; after "fitted:" a comma-separated list of reference
 * ids (or fnmatch patterns of ids, "PFN-STOP-x86-*") names the points it was
 * fitted to.  Anything else (a REFERENCE.md id citing a measurement) is not
 * fitted and is never changed.
 */
struct fitted_note {
	bool fitted;
	size_t nr_ids;
	char *ids[32];      /* owned */
	const char *rest;   /* free text after the ids, points into the source */
};

/* Parse @source.  Return: 0 or -ENOMEM. Free with ref_fitted_free(). */
int ref_fitted_parse(const char *source, struct fitted_note *n);
void ref_fitted_free(struct fitted_note *n);
/* True if one of @n's ids (patterns) matches reference id @id. */
bool ref_fitted_names(const struct fitted_note *n, const char *id);
/* Add @id to @n's list unless already named. Return: 0, -ENOMEM, -ENOSPC. */
int ref_fitted_add(struct fitted_note *n, const char *id);
/* Format @n back into a source comment ("fitted: A, B rest"). Return: new string or NULL. */
char *ref_fitted_format(const struct fitted_note *n);
