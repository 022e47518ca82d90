// SPDX-License-Identifier: MIT
/*
 * lib/core/profile.c - cost profiles: `name = value  # source` files.
 *
 * Format (docs/cost-model.md): one parameter per line, `name = value`
 * followed by a comment that names the source (a REFERENCE.md id) or says
 * `fitted`; blank lines and whole-line comments are ignored.  Names are the
 * lower-case COST() names of lib/core/costs.def.  Errors are reported on
 * stderr as `file:line: message` and make loading fail with M2D_E_PROFILE:
 * unknown parameter, duplicate, malformed line, bad value, missing source
 * comment, and (after the whole file) every parameter left undefined.
 */
#include "core/alloc.h"
#include "core/engine_internal.h"

#include <mmu2d/error.h>

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const m2d_cost_names[M2D_COST_NR] = {
#define COST(name, unit, meaning) #name,
#include "core/costs.def"
#undef COST
};
const char *const m2d_cost_units[M2D_COST_NR] = {
#define COST(name, unit, meaning) unit,
#include "core/costs.def"
#undef COST
};
const char *const m2d_cost_meanings[M2D_COST_NR] = {
#define COST(name, unit, meaning) meaning,
#include "core/costs.def"
#undef COST
};

static int cost_lookup(const char *name, size_t len)
{
	for (int i = 0; i < M2D_COST_NR; i++)
		if (strlen(m2d_cost_names[i]) == len && !strncasecmp(m2d_cost_names[i], name, len))
			return i;
	return -1;
}

/*
 * m2d_cost_set() - set parameter @id to @value (ns per unit) in both forms.
 * Return: 0, -EINVAL (negative, not finite, or >= M2D_COST_MAX_NS).
 */
int m2d_cost_set(struct m2d_sim *sim, int id, double value)
{
	if (!isfinite(value) || value < 0 || value >= M2D_COST_MAX_NS)
		return -EINVAL;
	sim->cost_ns[id] = value;
	sim->cost_fp[id] = (uint64_t)llround(value * (double)(1ull << M2D_COST_FP_SHIFT));
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static FILE *open_profile(const char *profile, char **path_out)
{
	const char *dirs[3] = { getenv("M2D_PROFILE_DIR"), M2D_SOURCE_PROFILE_DIR, M2D_PROFILE_DIR };
	char buf[4096];

	if (strchr(profile, '/') || strstr(profile, ".profile")) {
		*path_out = m2d_strdup(M2D_ALLOC_PROFILE, profile);
		return fopen(profile, "r");
	}
	for (unsigned i = 0; i < M2D_ARRAY_SIZE(dirs); i++) {
		FILE *f;

		if (!dirs[i] || !*dirs[i])
			continue;
		snprintf(buf, sizeof(buf), "%s/%s.profile", dirs[i], profile);
		f = fopen(buf, "r");
		if (f) {
			*path_out = m2d_strdup(M2D_ALLOC_PROFILE, buf);
			return f;
		}
	}
	return NULL;
}

/*
 * Where parse_profile() reports problems: every one on stderr as
 * "FILE:LINE: message" (@err NULL, the loader), or only the first, into
 * @err (m2d_profile_parse()).
 */
struct profile_sink {
	char *err;
	size_t errlen;
	int errors;
};

static __attribute__((format(printf, 2, 3))) void
profile_error(struct profile_sink *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (!s->err) {
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else if (!s->errors && s->errlen) {
		vsnprintf(s->err, s->errlen, fmt, ap);
	}
	va_end(ap);
	s->errors++;
}

/* Called for each good line with the parameter's id; nonzero stops parsing. */
typedef int (*profile_param_fn)(void *arg, int id, const char *name, double value,
				const char *source, unsigned line);

/*
 * parse_profile() - the one reader of the profile format: check every line
 * of @f (named @path in messages) and call @fn for each good one.
 * Return: 0 (problems counted in @s), or what @fn returned.
 */
static int parse_profile(FILE *f, const char *path, struct profile_sink *s,
			 profile_param_fn fn, void *arg)
{
	unsigned line_of[M2D_COST_NR] = { 0 };
	char line[1024];
	unsigned lineno = 0;

	while (!(s->err && s->errors) && fgets(line, sizeof(line), f)) {
		char *hash, *eq, *name, *val, *end, *src = NULL;
		double v;
		int id, ret;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			profile_error(s, "%s:%u: line too long", path, lineno);
			while (fgets(line, sizeof(line), f) && !strchr(line, '\n'))
				;
			continue;
		}
		hash = strchr(line, '#');
		if (hash) {
			*hash = '\0';
			src = trim(hash + 1);
		}
		name = trim(line);
		if (!*name)
			continue;
		eq = strchr(name, '=');
		if (!eq) {
			profile_error(s, "%s:%u: expected 'name = value  # source'", path, lineno);
			continue;
		}
		*eq = '\0';
		val = trim(eq + 1);
		name = trim(name);
		id = cost_lookup(name, strlen(name));
		if (id < 0) {
			profile_error(s, "%s:%u: unknown parameter '%s'", path, lineno, name);
			continue;
		}
		errno = 0;
		v = strtod(val, &end);
		if (!*val || *trim(end) || errno || !isfinite(v) || v < 0) {
			profile_error(s, "%s:%u: bad value '%s' for '%s' (a finite number >= 0)", path,
				      lineno, val, name);
			continue;
		}
		if (line_of[id]) {
			profile_error(s, "%s:%u: '%s' already set on line %u", path, lineno, name,
				      line_of[id]);
			continue;
		}
		if (!src || !*src) {
			profile_error(s, "%s:%u: '%s' has no source comment (a REFERENCE.md id or 'fitted')",
				      path, lineno, name);
			continue;
		}
		if (v >= M2D_COST_MAX_NS) {
			profile_error(s, "%s:%u: '%s' = %s is too large (at most %.0f)", path, lineno,
				      name, val, M2D_COST_MAX_NS);
			continue;
		}
		line_of[id] = lineno;
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		ret = fn ? fn(arg, id, name, v, src, lineno) : 0;
		if (ret)
			return ret;
	}
	for (int i = 0; i < M2D_COST_NR && !(s->err && s->errors); i++) {
		if (!line_of[i]) {
			char lower[64];
			size_t k;

			for (k = 0; m2d_cost_names[i][k] && k < sizeof(lower) - 1; k++)
				lower[k] = (char)tolower((unsigned char)m2d_cost_names[i][k]);
			lower[k] = '\0';
			profile_error(s, "%s: missing parameter '%s' (%s: %s)", path, lower,
				      m2d_cost_units[i], m2d_cost_meanings[i]);
		}
	}
	return 0;
}

/* parse_profile() callback of the loader: set the cost and keep its source. */
static int load_param(void *arg, int id, const char *name, double value, const char *source,
		      unsigned line)
{
	struct m2d_sim *sim = arg;

	(void)name;
	(void)line;
	m2d_cost_set(sim, id, value); /* cannot fail: checked by parse_profile() */
	m2d_free_str(M2D_ALLOC_PROFILE, sim->cost_src[id]);
	sim->cost_src[id] = m2d_strdup(M2D_ALLOC_PROFILE, source);
	return 0;
}

/*
 * m2d_profile_load() - fill sim->cost_ns from @profile (a path or a name).
 * Return: 0, -ENOENT, -ENOMEM, M2D_E_PROFILE (message on stderr).
 */
int m2d_profile_load(struct m2d_sim *sim, const char *profile)
{
	struct profile_sink sink = { 0 };
	char *path = NULL;
	FILE *f = open_profile(profile, &path);

	if (!f) {
		fprintf(stderr, "mmu2d: profile '%s' not found (searched $M2D_PROFILE_DIR, %s, %s)\n",
			profile, M2D_SOURCE_PROFILE_DIR, M2D_PROFILE_DIR);
		m2d_free_str(M2D_ALLOC_PROFILE, path);
		return -ENOENT;
	}
	if (!path) {
		fclose(f);
		return -ENOMEM;
	}
	parse_profile(f, path, &sink, load_param, sim);
	fclose(f);
	m2d_free_str(M2D_ALLOC_PROFILE, sim->profile_path);
	sim->profile_path = path;
	return sink.errors ? M2D_E_PROFILE : 0;
}

struct parse_arg {
	m2d_profile_parse_fn fn;
	void *arg;
};

static int parse_param(void *arg, int id, const char *name, double value, const char *source,
		       unsigned line)
{
	struct parse_arg *pa = arg;

	(void)id;
	return pa->fn ? pa->fn(pa->arg, name, value, source, line) : 0;
}

M2D_API int m2d_profile_parse(const char *path, m2d_profile_parse_fn fn, void *arg, char *err,
			      size_t errlen)
{
	struct profile_sink sink = { .err = err, .errlen = errlen };
	struct parse_arg pa = { fn, arg };
	FILE *f;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !err || !errlen)
		return -EINVAL;
	f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		return ret;
	}
	ret = parse_profile(f, path, &sink, parse_param, &pa);
	fclose(f);
	if (ret)
		return ret;
	return sink.errors ? M2D_E_PROFILE : 0;
}

void m2d_profile_free(struct m2d_sim *sim)
{
	for (int i = 0; i < M2D_COST_NR; i++) {
		m2d_free_str(M2D_ALLOC_PROFILE, sim->cost_src[i]);
		sim->cost_src[i] = NULL;
	}
	m2d_free_str(M2D_ALLOC_PROFILE, sim->profile_path);
	sim->profile_path = NULL;
}
