// SPDX-License-Identifier: MIT
/*
 * sim/main.c - the mmu2d command-line tool: dispatch to replayers.
 * Built only on the public API (include/mmu2d).
 */
#include <mmu2d/mmu2d.h>

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mmu2d REPLAYER [options]\n"
		"       mmu2d --help | --version\n"
		"\n"
		"Replayers:\n"
		"  (none yet)\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("mmu2d %s\n", m2d_version());
		return 0;
	}
	fprintf(stderr, "mmu2d: unknown replayer '%s' (see mmu2d --help)\n", argv[1]);
	return 2;
}
