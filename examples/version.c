// SPDX-License-Identifier: MIT
/* examples/version.c - smallest program against libmmu2d. */
#include <mmu2d/mmu2d.h>
#include <stdio.h>

int main(void)
{
	printf("libmmu2d %s; ENOMEM = \"%s\"\n", m2d_version(), m2d_strerror(-12));
	return 0;
}
