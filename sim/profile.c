// SPDX-License-Identifier: MIT
/* sim/profile.c - find, list and show cost profiles (see profile.h). */
#include "profile.h"
#include "cli.h"

#include <mmu2d/error.h>
#include <mmu2d/sim.h>

#include <ctype.h>
#include <stdbool.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef M2D_SIM_SOURCE_PROFILE_DIR
#define M2D_SIM_SOURCE_PROFILE_DIR ""
#endif
#ifndef M2D_SIM_PROFILE_DIR
#define M2D_SIM_PROFILE_DIR ""
#endif

#define SUFFIX ".profile"

/* The search path, in order; empty or missing entries are skipped. */
static size_t profile_dirs(const char *dirs[3])
{
	const char *env = getenv("M2D_PROFILE_DIR");
	size_t n = 0;

	if (env && *env)
		dirs[n++] = env;
	if (*M2D_SIM_SOURCE_PROFILE_DIR)
		dirs[n++] = M2D_SIM_SOURCE_PROFILE_DIR;
	if (*M2D_SIM_PROFILE_DIR)
		dirs[n++] = M2D_SIM_PROFILE_DIR;
	return n;
}

static bool is_file(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISREG(st.st_mode);
}

/* The library's rule (lib/core/profile.c): a '/' or ".profile" makes a path. */
static bool is_path(const char *arg)
{
	return strchr(arg, '/') || strstr(arg, SUFFIX);
}

static bool valid_name(const char *name)
{
	if (!*name)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
			return false;
	return true;
}

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + sizeof(SUFFIX) + 1;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s%s", dir, name, SUFFIX);
	return p;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int profile_names(char ***out)
{
	const char *dirs[3];
	size_t nd = profile_dirs(dirs);
	char **names = NULL;
	int n = 0;

	for (size_t d = 0; d < nd; d++) {
		DIR *dir = opendir(dirs[d]);
		struct dirent *de;

		if (!dir)
			continue;
		while ((de = readdir(dir))) {
			size_t len = strlen(de->d_name), s = strlen(SUFFIX);
			char **nn;
			bool dup = false;

			if (len <= s || strcmp(de->d_name + len - s, SUFFIX))
				continue;
			for (int i = 0; i < n; i++)
				dup |= strlen(names[i]) == len - s && !strncmp(names[i], de->d_name, len - s);
			if (dup)
				continue;
			nn = realloc(names, (size_t)(n + 1) * sizeof(*names));
			if (!nn || !(nn[n] = strndup(de->d_name, len - s))) {
				closedir(dir);
				profile_names_free(nn ? nn : names, n);
				return -ENOMEM;
			}
			names = nn;
			n++;
		}
		closedir(dir);
	}
	/* readdir order is the file system's: sort for a stable listing. */
	if (n)
		qsort(names, (size_t)n, sizeof(*names), cmp_str);
	*out = names;
	return n;
}

void profile_names_free(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int profile_resolve(const char *arg, const char *what, char **path, struct cli_error *err)
{
	const char *dirs[3];
	size_t nd = profile_dirs(dirs);
	char q[72], avail[256] = "";
	char **names;
	int n;

	if (is_path(arg)) {
		if (!is_file(arg)) {
			cli_error_set(err, "%s: expected a profile name or a readable file, "
				      "got '%s' (no such file)", what, cli_quote(arg, q, sizeof(q)));
			return -ENOENT;
		}
		*path = strdup(arg);
		return *path ? 0 : -ENOMEM;
	}
	if (valid_name(arg)) {
		for (size_t d = 0; d < nd; d++) {
			char *p = join(dirs[d], arg);

			if (!p)
				return -ENOMEM;
			if (is_file(p)) {
				*path = p;
				return 0;
			}
			free(p);
		}
	}
	n = profile_names(&names);
	for (int i = 0, pos = 0; i < n && pos < (int)sizeof(avail); i++)
		pos += snprintf(avail + pos, sizeof(avail) - (size_t)pos, "%s%s", i ? ", " : "",
				names[i]);
	if (n > 0)
		profile_names_free(names, n);
	cli_error_set(err, "%s: expected a profile name (%s) or a file, got '%s'", what,
		      n > 0 ? avail : "none installed", cli_quote(arg, q, sizeof(q)));
	return -ENOENT;
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

static int add_param(struct profile *p, const char *name, double value, const char *source,
		     unsigned line)
{
	struct profile_param *np = realloc(p->params, (p->nr_params + 1) * sizeof(*np));

	if (!np)
		return -ENOMEM;
	p->params = np;
	np = &p->params[p->nr_params];
	np->name = strdup(name);
	np->source = strdup(source);
	np->value = value;
	np->line = line;
	if (!np->name || !np->source) {
		free(np->name);
		free(np->source);
		return -ENOMEM;
	}
	p->nr_params++;
	return 0;
}

/*
 * The rules of the library's loader (lib/core/profile.c), so that a profile
 * the library would reject is reported here, as one line, before the
 * library sees it: "name = value  # source" with a finite value >= 0, a
 * source comment, each name once; with the library's parameter list
 * (HAVE_M2D_SIM_PARAM_INFO) also known names only, and all of them.
 */
#ifdef HAVE_M2D_SIM_PARAM_INFO
/* Every name the library knows, and only those. */
static int check_names(const struct profile *p, const char *what, struct cli_error *err)
{
	struct m2d_sim_config cfg;
	struct m2d_param_info info;
	struct m2d_sim *sim;
	unsigned n = m2d_sim_param_count(), missing = 0;
	const char *first_missing = NULL;
	char q[72];
	int ret;

	/* A profile-less sim only to ask for the names (all costs zero). */
	m2d_sim_config_default(&cfg);
	cfg.cpus = 1;
	ret = m2d_sim_create(&sim, &cfg);
	if (ret)
		return cli_error_set(err, "%s: cannot list cost parameters: %s", what,
				     m2d_strerror(ret));
	cli_quote(p->path, q, sizeof(q));
	for (size_t i = 0; i < p->nr_params && !ret; i++) {
		bool known = false;

		for (unsigned k = 0; k < n && !known; k++)
			known = !m2d_sim_param_info(sim, k, &info) && !strcmp(info.name, p->params[i].name);
		if (!known)
			ret = cli_error_set(err, "%s: %s:%u: unknown parameter '%s'", what, q,
					    p->params[i].line, p->params[i].name);
	}
	for (unsigned k = 0; k < n && !ret; k++) {
		bool found = false;

		if (m2d_sim_param_info(sim, k, &info))
			continue;
		for (size_t i = 0; i < p->nr_params && !found; i++)
			found = !strcmp(info.name, p->params[i].name);
		if (!found && !missing++)
			first_missing = info.name;
	}
	if (!ret && missing)
		ret = cli_error_set(err, "%s: %s: missing parameter '%s'%s (every profile sets all "
					 "%u; see 'mmu2d profile show')", what, q, first_missing,
				    missing > 1 ? " and others" : "", n);
	m2d_sim_destroy(&sim);
	return ret;
}
#else
/* Without the library's parameter list the library checks names itself. */
static int check_names(const struct profile *p, const char *what, struct cli_error *err)
{
	return 0;
}
#endif

int profile_read(const char *arg, const char *what, struct profile *p, struct cli_error *err)
{
	char line[1024], q[72];
	unsigned lineno = 0;
	FILE *f;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = profile_resolve(arg, what, &p->path, err);
	if (ret)
		return ret;
	f = fopen(p->path, "r");
	if (!f) {
		ret = -errno;
		cli_error_set(err, "%s: cannot open '%s': %s", what, cli_quote(p->path, q, sizeof(q)),
			      strerror(errno));
		goto err_free;
	}
	cli_quote(p->path, q, sizeof(q));
	ret = -EINVAL;
	while (fgets(line, sizeof(line), f)) {
		char *hash, *eq, *name, *val, *end, *src = "";
		double v;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			cli_error_set(err, "%s: %s:%u: line too long", what, q, lineno);
			goto err_close;
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
		if (!eq || !(*eq = '\0', name = trim(name), valid_name(name))) {
			cli_error_set(err, "%s: %s:%u: expected 'name = value  # source'", what, q,
				      lineno);
			goto err_close;
		}
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		val = trim(eq + 1);
		errno = 0;
		v = strtod(val, &end);
		if (!*val || *end || errno || !isfinite(v) || v < 0) {
			cli_error_set(err, "%s: %s:%u: bad value '%s' for '%s' (a finite number >= 0)",
				      what, q, lineno, val, name);
			goto err_close;
		}
		if (!*src) {
			cli_error_set(err, "%s: %s:%u: '%s' has no source comment (a REFERENCE.md id "
					   "or 'fitted')", what, q, lineno, name);
			goto err_close;
		}
		for (size_t i = 0; i < p->nr_params; i++) {
			if (!strcmp(p->params[i].name, name)) {
				cli_error_set(err, "%s: %s:%u: '%s' already set on line %u", what, q,
					      lineno, name, p->params[i].line);
				goto err_close;
			}
		}
		ret = add_param(p, name, v, src, lineno);
		if (ret)
			goto err_close;
		ret = -EINVAL;
	}
	fclose(f);
	ret = check_names(p, what, err);
	if (ret)
		goto err_free;
	return 0;

err_close:
	fclose(f);
err_free:
	profile_free(p);
	return ret;
}

void profile_free(struct profile *p)
{
	for (size_t i = 0; i < p->nr_params; i++) {
		free(p->params[i].name);
		free(p->params[i].source);
	}
	free(p->params);
	free(p->path);
	memset(p, 0, sizeof(*p));
}
