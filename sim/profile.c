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

/* m2d_profile_parse() callback: keep each parameter, in file order. */
static int add_param(void *arg, const char *name, double value, const char *source,
		     unsigned line)
{
	struct profile *p = arg;
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
 * The file is read and checked by the library (m2d_profile_parse(), the
 * rules m2d_sim_create() loads it by), so that a profile the library would
 * reject is reported here, as one line, before a sim is created.
 */
int profile_read(const char *arg, const char *what, struct profile *p, struct cli_error *err)
{
	char msg[512];
	int ret;

	memset(p, 0, sizeof(*p));
	ret = profile_resolve(arg, what, &p->path, err);
	if (ret)
		return ret;
	ret = m2d_profile_parse(p->path, add_param, p, msg, sizeof(msg));
	if (ret == M2D_E_PROFILE) {
		cli_error_set(err, "%s: %s", what, msg);
		ret = -EINVAL;
	} else if (ret && *msg) {
		cli_error_set(err, "%s: %s", what, msg);
	}
	if (ret)
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
