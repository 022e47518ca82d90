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
 * m2d_profile_load() - fill sim->cost_ns from @profile (a path or a name).
 * Return: 0, -ENOENT, -ENOMEM, M2D_E_PROFILE (message on stderr).
 */
int m2d_profile_load(struct m2d_sim *sim, const char *profile)
{
	unsigned line_of[M2D_COST_NR] = { 0 };
	char *path = NULL, line[1024];
	unsigned lineno = 0;
	int errors = 0;
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
	while (fgets(line, sizeof(line), f)) {
		char *hash, *eq, *name, *val, *end, *src = NULL;
		double v;
		int id;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "%s:%u: line too long\n", path, lineno);
			errors++;
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
			fprintf(stderr, "%s:%u: expected 'name = value  # source'\n", path, lineno);
			errors++;
			continue;
		}
		*eq = '\0';
		val = trim(eq + 1);
		name = trim(name);
		id = cost_lookup(name, strlen(name));
		if (id < 0) {
			fprintf(stderr, "%s:%u: unknown parameter '%s'\n", path, lineno, name);
			errors++;
			continue;
		}
		errno = 0;
		v = strtod(val, &end);
		if (!*val || *trim(end) || errno || !isfinite(v) || v < 0) {
			fprintf(stderr, "%s:%u: bad value '%s' for '%s' (a finite number >= 0)\n", path,
				lineno, val, name);
			errors++;
			continue;
		}
		if (line_of[id]) {
			fprintf(stderr, "%s:%u: '%s' already set on line %u\n", path, lineno, name,
				line_of[id]);
			errors++;
			continue;
		}
		if (!src || !*src) {
			fprintf(stderr, "%s:%u: '%s' has no source comment (a REFERENCE.md id or 'fitted')\n",
				path, lineno, name);
			errors++;
			continue;
		}
		if (m2d_cost_set(sim, id, v)) {
			fprintf(stderr, "%s:%u: '%s' = %s is too large (at most %.0f)\n", path, lineno,
				name, val, M2D_COST_MAX_NS);
			errors++;
			continue;
		}
		line_of[id] = lineno;
		m2d_free_str(M2D_ALLOC_PROFILE, sim->cost_src[id]);
		sim->cost_src[id] = m2d_strdup(M2D_ALLOC_PROFILE, src);
	}
	fclose(f);
	for (int i = 0; i < M2D_COST_NR; i++) {
		if (!line_of[i]) {
			char lower[64];
			size_t k;

			for (k = 0; m2d_cost_names[i][k] && k < sizeof(lower) - 1; k++)
				lower[k] = (char)tolower((unsigned char)m2d_cost_names[i][k]);
			lower[k] = '\0';
			fprintf(stderr, "%s: missing parameter '%s' (%s: %s)\n", path, lower,
				m2d_cost_units[i], m2d_cost_meanings[i]);
			errors++;
		}
	}
	m2d_free_str(M2D_ALLOC_PROFILE, sim->profile_path);
	sim->profile_path = path;
	return errors ? M2D_E_PROFILE : 0;
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
