/* SPDX-License-Identifier: MIT */
/*
 * mmu2d/types.h - address-space newtypes, virtual time, page sizes.
 *
 * A two-dimensional MMU has five address spaces that are all "a 64-bit
 * number".  Mixing them up (passing a GPA where an HPA is expected) is the
 * most common bug class in this kind of code, so each one is a single-member
 * struct: the compiler refuses to mix them.  Conversions are explicit.
 */
#ifndef M2D_TYPES_H
#define M2D_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(M2D_BUILDING) && defined(__GNUC__)
#define M2D_API __attribute__((visibility("default")))
#else
#define M2D_API
#endif

#if defined(__GNUC__)
#define M2D_MUST_CHECK __attribute__((warn_unused_result))
#else
#define M2D_MUST_CHECK
#endif

/*
 * M2D_DECLARE_NEWTYPE(name) declares name##_t holding a uint64_t and the
 * helpers name##_from_u64, name##_as_u64, name##_eq, name##_lt, name##_add.
 */
#define M2D_DECLARE_NEWTYPE(name)                                              \
	typedef struct {                                                       \
		uint64_t v;                                                    \
	} name##_t;                                                            \
	static inline name##_t name##_from_u64(uint64_t x)                     \
	{                                                                      \
		name##_t r = { x };                                            \
		return r;                                                      \
	}                                                                      \
	static inline uint64_t name##_as_u64(name##_t a) { return a.v; }      \
	static inline bool name##_eq(name##_t a, name##_t b)                   \
	{                                                                      \
		return a.v == b.v;                                             \
	}                                                                      \
	static inline bool name##_lt(name##_t a, name##_t b)                   \
	{                                                                      \
		return a.v < b.v;                                              \
	}                                                                      \
	static inline name##_t name##_add(name##_t a, uint64_t d)              \
	{                                                                      \
		name##_t r = { a.v + d };                                      \
		return r;                                                      \
	}

M2D_DECLARE_NEWTYPE(m2d_gva)   /* guest virtual address */
M2D_DECLARE_NEWTYPE(m2d_gpa)   /* guest physical address */
M2D_DECLARE_NEWTYPE(m2d_gfn)   /* guest frame number (gpa >> 12) */
M2D_DECLARE_NEWTYPE(m2d_hva)   /* host (user or kernel) virtual address */
M2D_DECLARE_NEWTYPE(m2d_hpa)   /* host physical address */
M2D_DECLARE_NEWTYPE(m2d_pfn)   /* host page frame number (hpa >> 12) */

/* Virtual time in nanoseconds since the start of the simulation. */
typedef uint64_t m2d_vtime_t;

#define M2D_NSEC_PER_USEC 1000ull
#define M2D_NSEC_PER_MSEC 1000000ull
#define M2D_NSEC_PER_SEC 1000000000ull

#define M2D_PAGE_SHIFT 12
#define M2D_PAGE_SIZE (1ull << M2D_PAGE_SHIFT)
#define M2D_PMD_SHIFT 21
#define M2D_PMD_SIZE (1ull << M2D_PMD_SHIFT)
#define M2D_PUD_SHIFT 30
#define M2D_PUD_SIZE (1ull << M2D_PUD_SHIFT)
#define M2D_P4D_SHIFT 39
#define M2D_P4D_SIZE (1ull << M2D_P4D_SHIFT)

#define M2D_SZ_1K (1ull << 10)
#define M2D_SZ_1M (1ull << 20)
#define M2D_SZ_1G (1ull << 30)
#define M2D_SZ_1T (1ull << 40)

/*
 * Page-table levels, numbered as the kernel's PG_LEVEL_*: 1 = 4K leaf table
 * (PTE), 2 = 2M (PMD), 3 = 1G (PUD), 4 = 512G (P4D/PML4), 5 = PML5.
 */
enum m2d_level {
	M2D_LEVEL_NONE = 0,
	M2D_LEVEL_4K = 1,
	M2D_LEVEL_2M = 2,
	M2D_LEVEL_1G = 3,
	M2D_LEVEL_512G = 4,
	M2D_LEVEL_256T = 5,
	M2D_LEVEL_NR
};

/* Bytes mapped by one entry at @level (1 -> 4K, 2 -> 2M, 3 -> 1G ...). */
static inline uint64_t m2d_level_size(int level)
{
	return 1ull << (M2D_PAGE_SHIFT + 9 * (level - 1));
}

static inline m2d_gfn_t m2d_gpa_to_gfn(m2d_gpa_t a)
{
	return m2d_gfn_from_u64(a.v >> M2D_PAGE_SHIFT);
}
static inline m2d_gpa_t m2d_gfn_to_gpa(m2d_gfn_t f)
{
	return m2d_gpa_from_u64(f.v << M2D_PAGE_SHIFT);
}
static inline m2d_pfn_t m2d_hpa_to_pfn(m2d_hpa_t a)
{
	return m2d_pfn_from_u64(a.v >> M2D_PAGE_SHIFT);
}
static inline m2d_hpa_t m2d_pfn_to_hpa(m2d_pfn_t f)
{
	return m2d_hpa_from_u64(f.v << M2D_PAGE_SHIFT);
}

#ifdef __cplusplus
}
#endif
#endif /* M2D_TYPES_H */
