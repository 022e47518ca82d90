/* SPDX-License-Identifier: MIT */
/*
 * sim/profile.h - find, list and show cost profiles (sim/profiles/NAME.profile).
 *
 * A profile is named on the command line either by NAME (looked up as
 * NAME.profile in the profile directories, in this order: $M2D_PROFILE_DIR,
 * the source tree's sim/profiles when it exists (running from a build
 * tree), the installed datadir/mmu2d/profiles) or by a FILE path (any
 * argument containing '/' or ".profile"), as the library does.
 *
 * Parameters are read, in file order with their line numbers, by the
 * library's m2d_profile_parse() (include/mmu2d/sim.h): the CLI has no
 * parser of its own.
 */
#ifndef M2D_SIM_PROFILE_H
#define M2D_SIM_PROFILE_H

#include <stddef.h>
#include <stdio.h>

struct cli_error;

struct profile_param {
	char *name;    /* lower-case parameter name */
	double value;  /* in the unit of lib/core/costs.def */
	char *source;  /* the comment: a REFERENCE.md id or "fitted" */
	unsigned line; /* line number in the file */
};

struct profile {
	char *path;                   /* file it came from */
	struct profile_param *params; /* in file order */
	size_t nr_params;
};

/*
 * profile_resolve() - find the file for profile @arg.
 * @what: what to name in the error message ("--profile", "profile show").
 * On success *@path is a new string the caller frees.
 * Return: 0, -ENOENT (message in @err), -ENOMEM.
 */
int profile_resolve(const char *arg, const char *what, char **path, struct cli_error *err);

/*
 * profile_read() - read and check the profile named by @arg with the
 * library's m2d_profile_parse(); the first problem goes to @err as
 * "@what: FILE:LINE: ...".  Return: 0, -ENOENT, -EINVAL, -ENOMEM, -errno.
 */
int profile_read(const char *arg, const char *what, struct profile *p, struct cli_error *err);
void profile_free(struct profile *p);

/* Sorted NAMEs of every profile found (first directory wins). Return: count, or -ENOMEM. */
int profile_names(char ***names);
void profile_names_free(char **names, int n);

#endif /* M2D_SIM_PROFILE_H */
