// SPDX-License-Identifier: MIT
/*
 * tests/test_profile.c - cost profiles: every shipped profile parses and
 * defines every parameter of lib/core/costs.def with a source comment;
 * malformed files fail with line-numbered messages; --set overrides.
 *
 * A module that adds a COST() must add a line to every profile, or this
 * test fails (docs/cost-model.md).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/engine_internal.h"

#include <mmu2d/error.h>
#include <mmu2d/sim.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const shipped[] = { "x86", "arm64", "snp", "x86-2022", "arm64-2022", "arm64-2023" };

static int create_with(const char *profile, struct m2d_sim **sim)
{
	struct m2d_sim_config cfg;

	m2d_sim_config_default(&cfg);
	cfg.profile = profile;
	*sim = NULL;
	return m2d_sim_create(sim, &cfg);
}

static void test_profile_shipped_profiles_complete(void **state)
{
	for (unsigned i = 0; i < M2D_ARRAY_SIZE(shipped); i++) {
		struct m2d_sim *sim;
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s.profile", M2D_SOURCE_PROFILE_DIR, shipped[i]);
		if (create_with(path, &sim))
			fail_msg("profile %s does not parse or misses parameters (see stderr)", path);
		for (unsigned k = 0; k < m2d_sim_param_count(); k++) {
			struct m2d_param_info info;

			assert_int_equal(m2d_sim_param_info(sim, k, &info), 0);
			/* the parser refuses lines without a source comment */
			assert_non_null(info.source);
			assert_true(info.source[0] != '\0');
		}
		m2d_sim_destroy(&sim);
	}
}

/* Every *.profile in the source tree parses (also ones added later). */
static void test_profile_every_file_parses(void **state)
{
	DIR *d = opendir(M2D_SOURCE_PROFILE_DIR);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		struct m2d_sim *sim;
		char path[4096];

		if (len < 9 || strcmp(e->d_name + len - 8, ".profile"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", M2D_SOURCE_PROFILE_DIR, e->d_name);
		if (create_with(path, &sim))
			fail_msg("%s does not parse", path);
		m2d_sim_destroy(&sim);
		n++;
	}
	closedir(d);
	assert_true(n >= 4);
}

static void test_profile_lookup_by_name(void **state)
{
	struct m2d_sim *sim;
	double v;

	assert_int_equal(create_with("x86", &sim), 0);
	assert_non_null(strstr(m2d_sim_profile_path(sim), "x86.profile"));
	assert_int_equal(m2d_sim_get_param(sim, "tlb_flush_local_page", &v), 0);
	assert_true(v == 100);
	m2d_sim_destroy(&sim);
	assert_int_equal(create_with("no-such-profile", &sim), -ENOENT);
	assert_null(sim);
}

/* Write @text to a temp profile, load it, return the error and stderr text. */
static int load_text(const char *text, char *err, size_t errlen, char *path, size_t pathlen)
{
	char tmpl[] = "/tmp/m2d-profile-XXXXXX";
	char errpath[] = "/tmp/m2d-profile-err-XXXXXX";
	int fd = mkstemp(tmpl), efd = mkstemp(errpath), saved;
	struct m2d_sim *sim;
	ssize_t r;
	int ret;

	assert_true(fd >= 0 && efd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	snprintf(path, pathlen, "%s", tmpl);
	fflush(stderr);
	saved = dup(2);
	dup2(efd, 2);
	ret = create_with(tmpl, &sim);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	lseek(efd, 0, SEEK_SET);
	r = read(efd, err, errlen - 1);
	err[r > 0 ? r : 0] = '\0';
	close(efd);
	unlink(errpath);
	unlink(tmpl);
	m2d_sim_destroy(&sim);
	return ret;
}

static char *full_profile(const char *extra, const char *skip)
{
	static char buf[16384];
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned k = 0; k < M2D_COST_NR; k++) {
		char lower[64];
		size_t j;

		for (j = 0; m2d_cost_names[k][j]; j++)
			lower[j] = (char)(m2d_cost_names[k][j] | 0x20);
		lower[j] = '\0';
		for (j = 0; m2d_cost_names[k][j]; j++)
			if (m2d_cost_names[k][j] == '_' || (m2d_cost_names[k][j] >= '0' && m2d_cost_names[k][j] <= '9'))
				lower[j] = m2d_cost_names[k][j];
		if (skip && !strcmp(lower, skip))
			continue;
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s = 1  # fitted\n", lower);
	}
	snprintf(buf + n, sizeof(buf) - n, "%s", extra);
	return buf;
}

static void test_profile_errors_have_line_numbers(void **state)
{
	char err[4096], path[64], want[128];
	unsigned lines = M2D_COST_NR;

	assert_int_equal(load_text(full_profile("", NULL), err, sizeof(err), path, sizeof(path)), 0);

	assert_int_equal(load_text(full_profile("\nbogus_param = 3  # fitted\n", NULL), err,
				   sizeof(err), path, sizeof(path)),
			 M2D_E_PROFILE);
	snprintf(want, sizeof(want), "%s:%u: unknown parameter 'bogus_param'", path, lines + 2);
	assert_non_null(strstr(err, want));

	assert_int_equal(load_text(full_profile("lock_handoff = 7\n", NULL), err, sizeof(err), path,
				   sizeof(path)),
			 M2D_E_PROFILE);
	assert_non_null(strstr(err, "already set on line"));

	assert_int_equal(load_text(full_profile("", "rcu_gp"), err, sizeof(err), path, sizeof(path)),
			 M2D_E_PROFILE);
	assert_non_null(strstr(err, "missing parameter 'rcu_gp'"));

	assert_int_equal(load_text("lock_acquire = -3  # fitted\n", err, sizeof(err), path,
				   sizeof(path)),
			 M2D_E_PROFILE);
	snprintf(want, sizeof(want), "%s:1: bad value '-3'", path);
	assert_non_null(strstr(err, want));

	assert_int_equal(load_text("lock_acquire 3\n", err, sizeof(err), path, sizeof(path)),
			 M2D_E_PROFILE);
	snprintf(want, sizeof(want), "%s:1: expected 'name = value", path);
	assert_non_null(strstr(err, want));

	assert_int_equal(load_text("lock_acquire = 3\n", err, sizeof(err), path, sizeof(path)),
			 M2D_E_PROFILE);
	assert_non_null(strstr(err, "has no source comment"));
}

static void test_profile_set_overrides(void **state)
{
	struct m2d_sim *sim;
	struct m2d_param_info info;
	double v;

	assert_int_equal(create_with("snp", &sim), 0);
	assert_int_equal(m2d_sim_set_param(sim, "LOCK_HANDOFF", 123), 0);
	assert_int_equal(m2d_sim_get_param(sim, "lock_handoff", &v), 0);
	assert_true(v == 123);
	for (unsigned k = 0; k < m2d_sim_param_count(); k++) {
		assert_int_equal(m2d_sim_param_info(sim, k, &info), 0);
		if (!strcmp(info.name, "lock_handoff")) {
			assert_string_equal(info.source, "set");
			assert_string_equal(info.unit, "ns");
		}
	}
	assert_int_equal(m2d_sim_set_param(sim, "nope", 1), M2D_E_PARAM);
	assert_int_equal(m2d_sim_set_param(sim, "lock_handoff", -1), -EINVAL);
	assert_int_equal(m2d_sim_param_info(sim, m2d_sim_param_count(), &info), -EINVAL);
	m2d_sim_destroy(&sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profile_shipped_profiles_complete),
		cmocka_unit_test(test_profile_every_file_parses),
		cmocka_unit_test(test_profile_lookup_by_name),
		cmocka_unit_test(test_profile_errors_have_line_numbers),
		cmocka_unit_test(test_profile_set_overrides),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
