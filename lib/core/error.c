// SPDX-License-Identifier: MIT
/* lib/core/error.c - m2d_strerror(), m2d_version(), die/warn reporting. */
#include "core/compiler.h"

#include <mmu2d/error.h>

#include <string.h>

const char *m2d_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case M2D_E_CONFIG:
		return "invalid configuration";
	case M2D_E_PROFILE:
		return "cost profile could not be parsed";
	case M2D_E_PARAM:
		return "unknown cost parameter";
	case M2D_E_DEADLOCK:
		return "every simulated thread is blocked (deadlock)";
	case M2D_E_LOCKDEP:
		return "lock misuse detected";
	case M2D_E_TRACE_FORMAT:
		return "malformed trace file";
	case M2D_E_TRACE_VERSION:
		return "unsupported trace version";
	case M2D_E_RMP_VIOLATION:
		return "host write to an RMP-assigned page";
	default:
		break;
	}
	if (err <= M2D_E_BASE)
		return "unknown mmu2d error";
	if (err < 0)
		err = -err;
	return strerror(err);
}

const char *m2d_version(void)
{
	return M2D_VERSION;
}

void m2d_die_at(const char *file, const char *func, int line, const char *msg)
{
	fprintf(stderr, "mmu2d: fatal: %s (%s:%d %s)\n", msg, file, line, func);
	fflush(stderr);
	abort();
}

void m2d_warn_at(const char *file, const char *func, int line, const char *cond)
{
	fprintf(stderr, "mmu2d: warning: WARN_ON(%s) at %s:%d %s\n", cond, file,
		line, func);
}
