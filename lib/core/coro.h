/* SPDX-License-Identifier: MIT */
/*
 * lib/core/coro.h - stackful coroutines for simulated threads.
 *
 * A coroutine is a saved stack pointer (assembly switch, x86-64 and aarch64)
 * or a ucontext_t (fallback, -Dcoro=ucontext or other architectures).  Stacks
 * are mmap'd with a PROT_NONE guard page below them, so an overflow faults
 * instead of corrupting a neighbour.  m2d_coro_switch() saves only the
 * callee-saved registers: it is an ordinary function call to the compiler,
 * which keeps a switch at a few nanoseconds.
 */
#ifndef M2D_LIB_CORE_CORO_H
#define M2D_LIB_CORE_CORO_H

#include "config.h"

#include <stddef.h>

#if M2D_CORO_ASM
struct m2d_coro {
	void *sp;          /* saved stack pointer while suspended */
	void *stack;       /* mmap'd region (guard page first); NULL for the host stack */
	size_t stack_size; /* bytes mapped, guard page included */
	void *asan_fake;   /* sanitizer fiber bookkeeping */
	const void *asan_bottom; /* usable stack bounds, for the sanitizer */
	size_t asan_size;
};
#else
#include <ucontext.h>
struct m2d_coro {
	ucontext_t uc;
	void *stack;
	size_t stack_size;
	void *asan_fake;
	const void *asan_bottom;
	size_t asan_size;
};
#endif

/*
 * m2d_coro_init() - prepare @co to run @entry(@arg) on a fresh stack of
 * @stack_size usable bytes.  @entry must never return (it switches away for
 * the last time instead).
 * Return: 0, -ENOMEM.
 */
int m2d_coro_init(struct m2d_coro *co, size_t stack_size, void (*entry)(void *), void *arg);
/* @co describes the calling host thread's own stack (the scheduler side). */
void m2d_coro_init_host(struct m2d_coro *co);
/* First thing a new coroutine's entry function calls. */
void m2d_coro_started(void);
/* Unmap the stack of a coroutine that is not running. NULL-safe. */
void m2d_coro_fini(struct m2d_coro *co);
/* Suspend the running coroutine into @from and resume @to. */
void m2d_coro_transfer(struct m2d_coro *from, struct m2d_coro *to);
/* Same, when @from is finished for good and will never be resumed. */
void m2d_coro_transfer_final(struct m2d_coro *from, struct m2d_coro *to)
	__attribute__((noreturn));

#endif /* M2D_LIB_CORE_CORO_H */
