/* SPDX-License-Identifier: MIT */
/*
 * mmu2d/error.h - error codes.
 *
 * Fallible calls return 0 or a negative errno (-ENOMEM, -EINVAL, -EBUSY for
 * a lost compare-and-exchange, -EAGAIN, -ENOENT, -EEXIST, -EFAULT ...).
 * Errors specific to the simulator live in a reserved range from
 * M2D_E_BASE (-4096) downward.  Architectural events (faults, exits) are
 * results, never errors.
 */
#ifndef M2D_ERROR_H
#define M2D_ERROR_H

#include <mmu2d/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum m2d_error {
	M2D_E_BASE = -4096,
	M2D_E_CONFIG = -4096,       /* invalid configuration or option value */
	M2D_E_PROFILE = -4097,      /* cost profile could not be parsed */
	M2D_E_PARAM = -4098,        /* unknown cost parameter name */
	M2D_E_DEADLOCK = -4099,     /* every simulated thread is blocked */
	M2D_E_LOCKDEP = -4100,      /* lock misuse detected (debug builds) */
	M2D_E_TRACE_FORMAT = -4101, /* malformed trace file */
	M2D_E_TRACE_VERSION = -4102,/* unsupported trace version */
	M2D_E_RMP_VIOLATION = -4103,/* host write hit an RMP-assigned page */
	M2D_E_LAST = -4104,
};

/*
 * m2d_strerror() - describe an error code.
 * @err: a negative errno or an M2D_E_* value (positive errno is accepted).
 *
 * Return: a static string; never NULL.
 */
M2D_API const char *m2d_strerror(int err);

/* Version string of the library, e.g. "0.1.0". */
M2D_API const char *m2d_version(void);

#ifdef __cplusplus
}
#endif
#endif /* M2D_ERROR_H */
