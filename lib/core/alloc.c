// SPDX-License-Identifier: MIT
/*
 * lib/core/alloc.c - the one tagged allocator; see alloc.h.
 *
 * Accounting uses relaxed atomics so the native (pthread) engine can share
 * it later; the coroutine engine runs on one host thread.
 */
#include "core/alloc.h"
#include "core/compiler.h"

#include <stdbool.h>
#include <string.h>

#if M2D_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
/*
 * jemalloc's own entry points throughout: plain malloc() may resolve to
 * libc's in executables that do not link jemalloc themselves (symbol
 * interposition follows load order), and sdallocx() of a libc pointer
 * crashes.
 */
#define sys_malloc(sz) mallocx((sz), 0)
#define sys_free_sized(p, sz) sdallocx((p), (sz), 0)
#define sys_aligned(al, sz) mallocx((sz), MALLOCX_ALIGN(al))
#define sys_realloc(p, sz) rallocx((p), (sz), 0)
#else
#define sys_malloc(sz) malloc(sz)
#define sys_free_sized(p, sz) free(p)
#define sys_aligned(al, sz) aligned_alloc((al), (sz))
#define sys_realloc(p, sz) realloc((p), (sz))
#endif

static struct m2d_alloc_stats stats;

static const char *const tag_names[M2D_ALLOC_TAG_NR] = {
#define X(name, str) [M2D_ALLOC_##name] = str,
	M2D_ALLOC_TAGS(X)
#undef X
};

/* Failure injection state (tests only; single-threaded use). */
static uint64_t fail_state;
static uint64_t fail_threshold; /* 0 = off; else fail when rng < threshold */
static uint64_t fail_countdown; /* 0 = off; else fail when it reaches 1 */

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool should_fail(void)
{
	if (likely(!fail_threshold && !fail_countdown))
		return false;
	if (fail_countdown) {
		if (--fail_countdown == 0)
			return true;
		return false;
	}
	return splitmix64(&fail_state) < fail_threshold;
}

static void account(enum m2d_alloc_tag tag, size_t size)
{
	uint64_t live = uatomic_add_return(&stats.live_bytes[tag], size);
	uatomic_inc(&stats.live_count[tag]);
	uatomic_inc(&stats.total_count[tag]);
	if (live > uatomic_read(&stats.peak_bytes[tag]))
		uatomic_set(&stats.peak_bytes[tag], live);
}

static void unaccount(enum m2d_alloc_tag tag, size_t size)
{
	uatomic_sub(&stats.live_bytes[tag], size);
	uatomic_dec(&stats.live_count[tag]);
}

void *m2d_malloc(enum m2d_alloc_tag tag, size_t size)
{
	void *p;

	if (unlikely(should_fail()))
		return NULL;
	p = sys_malloc(size);
	if (p)
		account(tag, size);
	return p;
}

void *m2d_zalloc(enum m2d_alloc_tag tag, size_t size)
{
	void *p = m2d_malloc(tag, size);

	if (p)
		memset(p, 0, size);
	return p;
}

void *m2d_calloc(enum m2d_alloc_tag tag, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return m2d_zalloc(tag, n * size);
}

void *m2d_aligned_zalloc(enum m2d_alloc_tag tag, size_t align, size_t size)
{
	void *p;

	if (unlikely(should_fail()))
		return NULL;
	size = M2D_ALIGN_UP(size, align);
	p = sys_aligned(align, size);
	if (!p)
		return NULL;
	memset(p, 0, size);
	account(tag, size);
	return p;
}

void *m2d_realloc(enum m2d_alloc_tag tag, void *p, size_t old_size, size_t new_size)
{
	void *q;

	if (!p)
		return m2d_malloc(tag, new_size);
	if (unlikely(should_fail()))
		return NULL;
	q = sys_realloc(p, new_size);
	if (!q)
		return NULL;
	unaccount(tag, old_size);
	account(tag, new_size);
	return q;
}

void m2d_free(enum m2d_alloc_tag tag, void *p, size_t size)
{
	if (!p)
		return;
	unaccount(tag, size);
	sys_free_sized(p, size);
}

char *m2d_strdup(enum m2d_alloc_tag tag, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = m2d_malloc(tag, n);

	if (d)
		memcpy(d, s, n);
	return d;
}

void m2d_free_str(enum m2d_alloc_tag tag, char *s)
{
	if (s)
		m2d_free(tag, s, strlen(s) + 1);
}

void m2d_alloc_stats_get(struct m2d_alloc_stats *out)
{
	for (int i = 0; i < M2D_ALLOC_TAG_NR; i++) {
		out->live_bytes[i] = uatomic_read(&stats.live_bytes[i]);
		out->live_count[i] = uatomic_read(&stats.live_count[i]);
		out->peak_bytes[i] = uatomic_read(&stats.peak_bytes[i]);
		out->total_count[i] = uatomic_read(&stats.total_count[i]);
	}
}

const char *m2d_alloc_tag_name(enum m2d_alloc_tag tag)
{
	if (tag < 0 || tag >= M2D_ALLOC_TAG_NR)
		return "?";
	return tag_names[tag];
}

void m2d_alloc_fail_setup(uint64_t seed, double probability)
{
	fail_state = seed;
	if (probability <= 0)
		fail_threshold = 0;
	else if (probability >= 1)
		fail_threshold = UINT64_MAX;
	else
		fail_threshold = (uint64_t)(probability * 18446744073709551616.0);
}

void m2d_alloc_fail_after(uint64_t n)
{
	fail_countdown = n;
}
