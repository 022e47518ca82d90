/* SPDX-License-Identifier: MIT */
/*
 * sim/output.h - output files that never exist half-written.
 *
 * output_open() creates a temporary file beside the destination (same
 * directory, so rename() is atomic); output_commit() renames it into place;
 * output_abort() removes it.  Temporary files are also removed if the
 * process is killed by SIGINT, SIGTERM, SIGHUP or SIGPIPE.  The destination
 * "-" means stdout: the data is written there only at commit.
 */
#ifndef M2D_SIM_OUTPUT_H
#define M2D_SIM_OUTPUT_H

#include <stddef.h>

struct cli_error;

struct output {
	const char *path; /* destination, or "-" */
	char *tmp;        /* temporary file, or NULL */
	int fd;           /* open on tmp, or -1 */
};

#define OUTPUT_INIT { .path = NULL, .tmp = NULL, .fd = -1 }

/* Return: 0, or -errno with a message naming @option ("json") in @err. */
int output_open(struct output *o, const char *option, const char *path, struct cli_error *err);
/* Write @len bytes and move the file into place.  Return: 0 or -errno (output removed). */
int output_commit(struct output *o, const char *option, const void *data, size_t len,
		  struct cli_error *err);
/*
 * output_commit_file() - like output_commit(), for a temporary file that
 * another writer filled through its path (o->tmp).  Not for "-".
 */
int output_commit_file(struct output *o, const char *option, struct cli_error *err);
/* Remove the temporary file, if any.  Safe to call twice. */
void output_abort(struct output *o);

#endif /* M2D_SIM_OUTPUT_H */
