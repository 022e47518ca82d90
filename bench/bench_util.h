/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_util.h - helpers every bench/bench_*.c shares: wall-clock
 * timing, size arguments, peak RSS.  Benchmarks only: nothing here may
 * feed a simulated result (wall time is not deterministic).
 */
#ifndef M2D_BENCH_UTIL_H
#define M2D_BENCH_UTIL_H

#include <stdint.h>

/* CLOCK_MONOTONIC now, in seconds and in nanoseconds. */
double bench_wall_s(void);
double bench_wall_ns(void);

/*
 * bench_parse_size() - parse "N[K|M|G|T]" (either case; binary units) with
 * strtoull() base @base (10, or 0 to also take 0x.. and 0..) into *@out.
 * Zero is accepted: callers that need a positive size check it.
 * Return: 0, -EINVAL (not a number, trailing text, or overflow).
 */
int bench_parse_size(const char *s, int base, uint64_t *out);
/* bench_parse_size(), and zero is -EINVAL too. */
int bench_parse_nonzero_size(const char *s, int base, uint64_t *out);

/* getrusage(RUSAGE_SELF) ru_maxrss: this process's peak RSS so far, in KiB. */
long bench_peak_rss_kb(void);

#endif /* M2D_BENCH_UTIL_H */
