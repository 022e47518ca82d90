// SPDX-License-Identifier: MIT
/*
 * lib/core/coro.c - coroutine stacks and the portable parts of switching.
 *
 * Stacks: one mmap per coroutine, the lowest page PROT_NONE (guard), the
 * rest read/write.  The initial frame for the assembly switch is laid out
 * exactly as m2d_coro_switch() pops it (see coro_{x86_64,aarch64}.S).
 *
 * Under AddressSanitizer the switch is announced with
 * __sanitizer_start_switch_fiber()/__sanitizer_finish_switch_fiber(), so
 * ASan knows which stack is live.
 */
#include "core/coro.h"
#include "core/compiler.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define M2D_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define M2D_ASAN 1
#endif
#endif
#ifndef M2D_ASAN
#define M2D_ASAN 0
#endif

#if M2D_ASAN
#include <sanitizer/asan_interface.h>
#endif

static size_t page_size(void)
{
	static size_t ps;

	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

static int map_stack(struct m2d_coro *co, size_t stack_size)
{
	size_t ps = page_size();
	size_t len = M2D_ALIGN_UP(stack_size, ps) + ps;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -ENOMEM;
	if (mprotect(p, ps, PROT_NONE)) {
		munmap(p, len);
		return -ENOMEM;
	}
#if M2D_ASAN
	__asan_unpoison_memory_region((char *)p + ps, len - ps);
#endif
	co->stack = p;
	co->stack_size = len;
	co->asan_bottom = (char *)p + ps;
	co->asan_size = len - ps;
	return 0;
}

void m2d_coro_init_host(struct m2d_coro *co)
{
	memset(co, 0, sizeof(*co));
#if M2D_ASAN
	{
		pthread_attr_t attr;
		void *addr;
		size_t size;

		if (!pthread_getattr_np(pthread_self(), &attr)) {
			if (!pthread_attr_getstack(&attr, &addr, &size)) {
				co->asan_bottom = addr;
				co->asan_size = size;
			}
			pthread_attr_destroy(&attr);
		}
	}
#endif
}

void m2d_coro_started(void)
{
#if M2D_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

void m2d_coro_fini(struct m2d_coro *co)
{
	if (!co || !co->stack)
		return;
#if M2D_ASAN
	/* frames of a coroutine that never returned leave poisoned redzones */
	__asan_unpoison_memory_region((char *)co->stack + page_size(), co->stack_size - page_size());
#endif
	munmap(co->stack, co->stack_size);
	co->stack = NULL;
}

#if M2D_CORO_ASM

void m2d_coro_switch(void **save_sp, void *load_sp);
void m2d_coro_start(void);

int m2d_coro_init(struct m2d_coro *co, size_t stack_size, void (*entry)(void *), void *arg)
{
	uintptr_t top;
	uintptr_t *sp;
	int ret = map_stack(co, stack_size);

	if (ret)
		return ret;
	top = ((uintptr_t)co->stack + co->stack_size) & ~(uintptr_t)15;
	sp = (uintptr_t *)top;
#if defined(__x86_64__)
	/*
	 * After the six pops and the ret, %rsp = top (16-byte aligned), so
	 * the call in m2d_coro_start enters @entry with %rsp = top - 8, as
	 * the ABI requires right after a call.
	 */
	*--sp = (uintptr_t)m2d_coro_start; /* ret target, at top - 8 */
	*--sp = 0;                        /* rbp */
	*--sp = 0;                        /* rbx */
	*--sp = (uintptr_t)entry;         /* r12 */
	*--sp = (uintptr_t)arg;           /* r13 */
	*--sp = 0;                        /* r14 */
	*--sp = 0;                        /* r15 */
#elif defined(__aarch64__)
	sp -= 176 / sizeof(*sp);
	memset(sp, 0, 176);
	sp[0] = (uintptr_t)entry;           /* x19 */
	sp[1] = (uintptr_t)arg;             /* x20 */
	sp[11] = (uintptr_t)m2d_coro_start; /* x30 */
#else
#error "M2D_CORO_ASM without a switch routine for this architecture"
#endif
	co->sp = sp;
	return 0;
}

static inline void raw_switch(struct m2d_coro *from, struct m2d_coro *to)
{
	m2d_coro_switch(&from->sp, to->sp);
}

#else /* ucontext fallback */

static void uc_trampoline(unsigned hi_e, unsigned lo_e, unsigned hi_a, unsigned lo_a)
{
	void (*entry)(void *) = (void (*)(void *))(((uintptr_t)hi_e << 32) | lo_e);
	void *arg = (void *)(((uintptr_t)hi_a << 32) | lo_a);

	entry(arg);
	abort();
}

int m2d_coro_init(struct m2d_coro *co, size_t stack_size, void (*entry)(void *), void *arg)
{
	int ret = map_stack(co, stack_size);
	uintptr_t e = (uintptr_t)entry, a = (uintptr_t)arg;

	if (ret)
		return ret;
	if (getcontext(&co->uc)) {
		m2d_coro_fini(co);
		return -ENOMEM;
	}
	co->uc.uc_stack.ss_sp = (char *)co->stack + page_size();
	co->uc.uc_stack.ss_size = co->stack_size - page_size();
	co->uc.uc_link = NULL;
	makecontext(&co->uc, (void (*)(void))uc_trampoline, 4, (unsigned)(e >> 32), (unsigned)e,
		    (unsigned)(a >> 32), (unsigned)a);
	return 0;
}

static inline void raw_switch(struct m2d_coro *from, struct m2d_coro *to)
{
	if (swapcontext(&from->uc, &to->uc))
		m2d_die("swapcontext failed");
}

#endif

void m2d_coro_transfer(struct m2d_coro *from, struct m2d_coro *to)
{
#if M2D_ASAN
	__sanitizer_start_switch_fiber(&from->asan_fake, to->asan_bottom, to->asan_size);
#endif
	raw_switch(from, to);
#if M2D_ASAN
	__sanitizer_finish_switch_fiber(from->asan_fake, NULL, NULL);
#endif
}

void m2d_coro_transfer_final(struct m2d_coro *from, struct m2d_coro *to)
{
#if M2D_ASAN
	/* NULL: the finished coroutine's fake stack can be freed */
	__sanitizer_start_switch_fiber(NULL, to->asan_bottom, to->asan_size);
#endif
	raw_switch(from, to);
	abort();
}
