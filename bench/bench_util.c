// SPDX-License-Identifier: MIT
/* bench/bench_util.c - helpers shared by the benchmarks (see bench_util.h). */
#include "bench_util.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

double bench_wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int bench_parse_size(const char *s, int base, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (*end || (shift && v > (~0ull >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

int bench_parse_nonzero_size(const char *s, int base, uint64_t *out)
{
	uint64_t v;
	int ret = bench_parse_size(s, base, &v);

	if (ret || !v)
		return -EINVAL;
	*out = v;
	return 0;
}

long bench_peak_rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}
