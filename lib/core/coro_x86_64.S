/* SPDX-License-Identifier: MIT */
/*
 * lib/core/coro_x86_64.S - coroutine switch for x86-64 (System V ABI).
 *
 * void m2d_coro_switch(void **save_sp, void *load_sp)
 *   Pushes the callee-saved registers, stores %rsp in *save_sp, loads
 *   load_sp and pops the other coroutine's registers.  A new coroutine's
 *   stack is prepared by m2d_coro_init() so that the first switch "returns"
 *   into m2d_coro_start with entry in %r12 and its argument in %r13.
 *   MXCSR and the x87 control word are not saved: nothing in mmu2d changes
 *   them.
 */
	.text
	.globl	m2d_coro_switch
	.hidden	m2d_coro_switch
	.type	m2d_coro_switch, @function
	.p2align 4
m2d_coro_switch:
	.cfi_startproc
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.cfi_endproc
	.size	m2d_coro_switch, .-m2d_coro_switch

	.globl	m2d_coro_start
	.hidden	m2d_coro_start
	.type	m2d_coro_start, @function
	.p2align 4
m2d_coro_start:
	.cfi_startproc
	.cfi_undefined rip
	movq	%r13, %rdi
	callq	*%r12
	ud2
	.cfi_endproc
	.size	m2d_coro_start, .-m2d_coro_start

	.section .note.GNU-stack,"",@progbits
