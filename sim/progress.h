/* SPDX-License-Identifier: MIT */
/*
 * sim/progress.h - a progress bar on stderr for long replays.
 *
 * Replayers report a phase name and the fraction done; the bar is redrawn
 * at most every 100 ms of wall time (the wall clock only paces drawing and
 * never reaches the simulation).  When disabled every call is a no-op, so
 * replayers call it unconditionally.
 */
#ifndef M2D_SIM_PROGRESS_H
#define M2D_SIM_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

struct progress {
	FILE *f;             /* stderr, or NULL when disabled */
	const char *prefix;  /* "lock-storm" */
	const char *phase;   /* current phase name */
	double last_draw;    /* wall seconds of the last redraw */
	int last_permille;   /* last drawn fraction, in 1/1000 */
	bool drawn;          /* something is on the line and must be cleared */
};

void progress_init(struct progress *p, FILE *f, bool enabled, const char *prefix);
/* Start phase @phase at fraction 0 (redraws at once). */
void progress_phase(struct progress *p, const char *phase);
/* Report @fraction (0..1) of the current phase done. */
void progress_update(struct progress *p, double fraction);
/*
 * The library workloads' progress callback (void *arg = struct progress *):
 * starts @phase when it changes, then reports @fraction of it.
 */
void progress_report(void *arg, const char *phase, double fraction);
/* Clear the bar (call before printing results). */
void progress_done(struct progress *p);

#endif /* M2D_SIM_PROGRESS_H */
