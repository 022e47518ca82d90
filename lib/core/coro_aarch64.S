/* SPDX-License-Identifier: MIT */
/*
 * lib/core/coro_aarch64.S - coroutine switch for aarch64 (AAPCS64).
 *
 * void m2d_coro_switch(void **save_sp, void *load_sp)
 *   Saves x19-x30 and d8-d15 (the callee-saved set) on the current stack,
 *   stores sp in *save_sp, loads load_sp and restores the other side.  A new
 *   coroutine's frame (m2d_coro_init) has x30 = m2d_coro_start, x19 = entry,
 *   x20 = argument.
 */
	.text
	.globl	m2d_coro_switch
	.hidden	m2d_coro_switch
	.type	m2d_coro_switch, %function
	.p2align 4
m2d_coro_switch:
	sub	sp, sp, #176
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mov	x9, sp
	str	x9, [x0]
	mov	sp, x1
	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	add	sp, sp, #176
	ret
	.size	m2d_coro_switch, .-m2d_coro_switch

	.globl	m2d_coro_start
	.hidden	m2d_coro_start
	.type	m2d_coro_start, %function
	.p2align 4
m2d_coro_start:
	mov	x0, x20
	blr	x19
	brk	#0
	.size	m2d_coro_start, .-m2d_coro_start

	.section .note.GNU-stack,"",%progbits
