/* SPDX-License-Identifier: MIT */
/*
 * lib/core/compiler.h - kernel-style helpers for model code.
 *
 * Lists, atomics and barriers come from liburcu's headers (urcu/list.h,
 * urcu/uatomic.h, urcu/compiler.h, urcu/arch.h), so model code reads like
 * the kernel and stays correct when run on real threads (DESIGN.md 3.4).
 */
#ifndef M2D_LIB_CORE_COMPILER_H
#define M2D_LIB_CORE_COMPILER_H

#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <urcu/arch.h>
#include <urcu/compiler.h>
#include <urcu/list.h>
#include <urcu/uatomic.h>

#define likely(x) caa_likely(x)
#define unlikely(x) caa_unlikely(x)

#ifndef container_of
#define container_of(ptr, type, member) caa_container_of(ptr, type, member)
#endif

#define READ_ONCE(x) CMM_LOAD_SHARED(x)
#define WRITE_ONCE(x, v) CMM_STORE_SHARED(x, v)

#define M2D_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define M2D_ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define M2D_ALIGN_UP(x, a) M2D_ALIGN_DOWN((x) + (a) - 1, (a))
#define M2D_IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)
#define M2D_MIN(a, b) ((a) < (b) ? (a) : (b))
#define M2D_MAX(a, b) ((a) > (b) ? (a) : (b))
#define M2D_DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))

void m2d_die_at(const char *file, const char *func, int line, const char *msg)
	__attribute__((noreturn));
void m2d_warn_at(const char *file, const char *func, int line, const char *cond);

/* m2d_die(msg): unrecoverable failure of a system primitive; aborts. */
#define m2d_die(msg) m2d_die_at(__FILE__, __func__, __LINE__, (msg))

/* M2D_BUG_ON(cond): the model's state is corrupt; abort with location. */
#define M2D_BUG_ON(cond)                                                       \
	do {                                                                   \
		if (unlikely(cond))                                            \
			m2d_die_at(__FILE__, __func__, __LINE__,               \
				   "BUG_ON(" #cond ")");                        \
	} while (0)

/*
 * M2D_WARN_ON_ONCE(cond) evaluates to cond, so it can be used as
 * if (M2D_WARN_ON_ONCE(level > max)) return -EINVAL;
 */
#define M2D_WARN_ON_ONCE(cond)                                                 \
	({                                                                     \
		static bool __warned;                                          \
		bool __c = !!(cond);                                           \
		if (unlikely(__c) && !__warned) {                              \
			__warned = true;                                       \
			m2d_warn_at(__FILE__, __func__, __LINE__, #cond);      \
		}                                                              \
		__c;                                                           \
	})

/* Defensive "cannot happen" branches (SQLite's ALWAYS/NEVER). */
#define ALWAYS(x) (x)
#define NEVER(x) (x)

#if M2D_DEBUG_CHECKS
#define M2D_VALIDATE_OR_RET(cond, ret)                                         \
	do {                                                                   \
		if (unlikely(!(cond)))                                         \
			m2d_die_at(__FILE__, __func__, __LINE__,               \
				   "validation failed: " #cond);                \
	} while (0)
#else
#define M2D_VALIDATE_OR_RET(cond, ret)                                         \
	do {                                                                   \
		if (unlikely(!(cond)))                                         \
			return (ret);                                          \
	} while (0)
#endif

#endif /* M2D_LIB_CORE_COMPILER_H */
