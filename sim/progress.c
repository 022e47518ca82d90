// SPDX-License-Identifier: MIT
/* sim/progress.c - progress bar on stderr (see progress.h). */
#include "progress.h"

#include <string.h>
#include <time.h>

#define BAR_WIDTH 30

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_init(struct progress *p, FILE *f, bool enabled, const char *prefix)
{
	*p = (struct progress){ .f = enabled ? f : NULL, .prefix = prefix, .phase = "",
				.last_permille = -1 };
}

static void draw(struct progress *p, int permille)
{
	int fill = permille * BAR_WIDTH / 1000;

	fprintf(p->f, "\r\033[K%s: %s [", p->prefix, p->phase);
	for (int i = 0; i < BAR_WIDTH; i++)
		fputc(i < fill ? '#' : '.', p->f);
	fprintf(p->f, "] %3d.%d%%", permille / 10, permille % 10);
	fflush(p->f);
	p->drawn = true;
	p->last_permille = permille;
	p->last_draw = wall_now();
}

void progress_phase(struct progress *p, const char *phase)
{
	if (!p->f)
		return;
	p->phase = phase;
	draw(p, 0);
}

void progress_report(void *arg, const char *phase, double fraction)
{
	struct progress *p = arg;

	if (!p->phase || strcmp(p->phase, phase))
		progress_phase(p, phase);
	progress_update(p, fraction);
}

void progress_update(struct progress *p, double fraction)
{
	int permille;

	if (!p->f)
		return;
	if (!(fraction >= 0)) /* also catches NaN */
		fraction = 0;
	if (fraction > 1)
		fraction = 1;
	permille = (int)(fraction * 1000);
	if (permille == p->last_permille || wall_now() - p->last_draw < 0.1)
		return;
	draw(p, permille);
}

void progress_done(struct progress *p)
{
	if (!p->f || !p->drawn)
		return;
	fputs("\r\033[K", p->f);
	fflush(p->f);
	p->drawn = false;
}
