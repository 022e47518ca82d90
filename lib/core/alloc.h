/* SPDX-License-Identifier: MIT */
/*
 * lib/core/alloc.h - the one tagged allocator (STYLE R22).
 *
 * All heap memory of the library goes through here.  This is the only
 * module that calls jemalloc (or libc with allocator=system).  Every
 * allocation carries a tag; per-tag live bytes, live count and peak bytes
 * are kept so that replays can report where simulator memory went.
 * A failure-injection hook lets tests make allocations fail.
 */
#ifndef M2D_LIB_CORE_ALLOC_H
#define M2D_LIB_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#define M2D_ALLOC_TAGS(X)                                                      \
	X(MISC, "misc")                                                        \
	X(PT_PAGE, "pt_page")       /* 4 KiB radix table pages */               \
	X(PT_META, "pt_meta")       /* per-table metadata */                    \
	X(PHYSMEM, "physmem")       /* buddy allocator and folios */            \
	X(ENGINE, "engine")         /* threads, locks, event queues */          \
	X(STACK, "stack")           /* coroutine stacks (mmap'd) */             \
	X(PROFILE, "profile")       /* cost profiles */                         \
	X(STATS, "stats")                                                      \
	X(TRACE, "trace")           /* trace-event buffers */                   \
	X(MM, "mm")                 /* host mm: VMAs, page cache, notifiers */  \
	X(CPA, "cpa")               /* direct map metadata */                   \
	X(RMP, "rmp")               /* SNP RMP entries */                       \
	X(GMEM, "gmem")             /* guest_memfd inodes, bitmaps */           \
	X(KVM, "kvm")               /* VMs, memslots, vCPUs, MMU pages */       \
	X(GUEST, "guest")           /* guest kernel model */

enum m2d_alloc_tag {
#define X(name, str) M2D_ALLOC_##name,
	M2D_ALLOC_TAGS(X)
#undef X
	M2D_ALLOC_TAG_NR
};

struct m2d_alloc_stats {
	uint64_t live_bytes[M2D_ALLOC_TAG_NR]; /* bytes currently allocated */
	uint64_t live_count[M2D_ALLOC_TAG_NR]; /* allocations currently live */
	uint64_t peak_bytes[M2D_ALLOC_TAG_NR]; /* high-water mark of live_bytes */
	uint64_t total_count[M2D_ALLOC_TAG_NR];/* allocations ever made */
};

/* Return NULL on failure (or injected failure). Sizes must be > 0. */
void *m2d_malloc(enum m2d_alloc_tag tag, size_t size);
void *m2d_zalloc(enum m2d_alloc_tag tag, size_t size);
void *m2d_calloc(enum m2d_alloc_tag tag, size_t n, size_t size);
/* @align is a power of two; memory is zeroed. */
void *m2d_aligned_zalloc(enum m2d_alloc_tag tag, size_t align, size_t size);
/* Grow or shrink; on failure returns NULL and @p is untouched. */
void *m2d_realloc(enum m2d_alloc_tag tag, void *p, size_t old_size, size_t new_size);
/* @size must be the size passed at allocation (sized deallocation). NULL ok. */
void m2d_free(enum m2d_alloc_tag tag, void *p, size_t size);
char *m2d_strdup(enum m2d_alloc_tag tag, const char *s);
/* Free a string from m2d_strdup. */
void m2d_free_str(enum m2d_alloc_tag tag, char *s);

/* Snapshot of the per-tag accounting (process-wide). */
void m2d_alloc_stats_get(struct m2d_alloc_stats *out);
const char *m2d_alloc_tag_name(enum m2d_alloc_tag tag);

/*
 * Failure injection for tests: after this call, each allocation fails with
 * probability @probability (deterministic from @seed).  @probability = 0
 * turns injection off.  m2d_alloc_fail_after(n) makes the n-th allocation
 * from now fail (n = 0: off).
 */
void m2d_alloc_fail_setup(uint64_t seed, double probability);
void m2d_alloc_fail_after(uint64_t n);

#endif /* M2D_LIB_CORE_ALLOC_H */
