// SPDX-License-Identifier: MIT
/*
 * tests/test_reference.c - the reference table, its file format, the
 * `fitted: IDS` profile-comment convention and the JSON path reader
 * (sim/reference.c, sim/jsonpath.c), linked directly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "jsonpath.h"
#include "reference.h"

static const struct ref_entry *find(const struct ref_table *t, const char *id)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].id, id))
			return &t->v[i];
	return NULL;
}

/* The built-in table: valid, with the rows and tolerances DESIGN.md 7 asks for. */
static void test_reference_builtin_table(void **state)
{
	static const char *const phases[] = { "run1", "reset", "run2", "ro", "rw" };
	struct ref_table t;
	struct cli_error err;
	const struct ref_entry *e;
	char id[64];

	(void)state;
	ref_table_builtin(&t);
	assert_int_equal(ref_table_check(&t, &err), 0);
	for (int a = 0; a < 2; a++)
		for (int p = 0; p < 5; p++) {
			snprintf(id, sizeof(id), "PFN-STOP-%s-%s", a ? "arm64" : "x86", phases[p]);
			e = find(&t, id);
			assert_non_null(e);
			assert_int_equal(e->role, REF_CALIBRATION);
			assert_string_equal(e->profile, a ? "arm64" : "x86");
			assert_int_equal(e->tol_kind, p == 1 ? REF_TOL_FACTOR : REF_TOL_REL);
			assert_true(e->tol == (p == 1 ? 3 : p == 2 ? 0.25 : 0.10));
			snprintf(id, sizeof(id), "%s_s", phases[p]);
			assert_string_equal(e->key, id);
		}
	e = find(&t, "PFN-STOP-x86-ro");
	assert_true(e->value == 6.149083106);
	e = find(&t, "EPS1-03-Y");
	assert_string_equal(e->key, "iterations[2].clear_dirty_log_s");
	assert_non_null(strstr(e->command, "--iterations 3"));
	assert_non_null(strstr(e->command, "--initially-all-set"));
	assert_true(e->tol == 0.15);
	e = find(&t, "EPS1-04-N");
	assert_null(strstr(e->command, "--initially-all-set"));
	assert_string_equal(e->key, "enable_dirty_logging_s");
	/* EPS3: the ends of the sweep are calibration points, the middle validation. */
	assert_int_equal(find(&t, "EPS3-T1-2-N")->role, REF_CALIBRATION);
	assert_int_equal(find(&t, "EPS3-T3-64-Y")->role, REF_CALIBRATION);
	assert_int_equal(find(&t, "EPS3-T1-16-Y")->role, REF_VALIDATION);
	assert_non_null(strstr(find(&t, "EPS3-T1-16-Y")->command, "--mmu legacy"));
	assert_true(find(&t, "SNP-03")->value == 8.0);
	assert_string_equal(find(&t, "SNP-03")->key, "fault_in_gbps");
	e = find(&t, "SNP-01-pinned");
	assert_int_equal(e->role, REF_HELD_BACK);
	assert_true(isnan(e->value));
	assert_non_null(strstr(e->command, "--pin node0"));
	assert_int_equal(find(&t, "PFN-SKIP-arm64-ro")->role, REF_HELD_BACK);
	assert_int_equal(find(&t, "PFN-MMAPLOCK-x86-run1")->role, REF_HELD_BACK);
}

static void test_reference_within(void **state)
{
	struct ref_entry rel = { .value = 10, .tol_kind = REF_TOL_REL, .tol = 0.10 };
	struct ref_entry fac = { .value = 10, .tol_kind = REF_TOL_FACTOR, .tol = 3 };
	char buf[16];

	(void)state;
	assert_true(ref_within(&rel, 10));
	assert_true(ref_within(&rel, 9.0));
	assert_true(ref_within(&rel, 11.0));
	assert_false(ref_within(&rel, 8.99));
	assert_false(ref_within(&rel, 11.01));
	assert_false(ref_within(&rel, NAN));
	assert_true(ref_within(&fac, 3.34));
	assert_true(ref_within(&fac, 30));
	assert_false(ref_within(&fac, 3.3));
	assert_false(ref_within(&fac, 30.1));
	ref_tol_format(&fac, buf, sizeof(buf));
	assert_string_equal(buf, "x3");
	ref_tol_format(&rel, buf, sizeof(buf));
	assert_string_equal(buf, "±10%");
}

static void test_reference_split_and_match(void **state)
{
	char **argv;

	(void)state;
	assert_int_equal(ref_split_args("mmu-stress  --arch x86", "--mem 8G", &argv), 5);
	assert_string_equal(argv[0], "mmu-stress");
	assert_string_equal(argv[2], "x86");
	assert_string_equal(argv[4], "8G");
	assert_null(argv[5]);
	ref_free_args(argv);
	assert_int_equal(ref_split_args("lock-storm", "", &argv), 1);
	ref_free_args(argv);
	assert_true(ref_match(NULL, "X-1"));
	assert_true(ref_match("PFN-STOP-x86-*", "PFN-STOP-x86-ro"));
	assert_false(ref_match("PFN-STOP-x86-*", "PFN-STOP-arm64-ro"));
	assert_true(ref_match("SNP-*,EPS1-01-?", "EPS1-01-N"));
	assert_false(ref_match("SNP-*,EPS1-01-?", "EPS1-02-N"));
	assert_true(ref_id_valid("EPS3-T1-64-Y"));
	assert_false(ref_id_valid("host"));
	assert_false(ref_id_valid("A B"));
}

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/m2d-ref-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_reference_file(void **state)
{
	struct ref_table t, t2;
	struct cli_error err;
	char *path, *path2, *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	path = write_tmp("# comment\n\n"
			 "A-1 | calibration | x86 | lock-storm --cpus 2 | --ops 5 | throughput_ops_per_s | 1e6 | ops/s | 10% | a\n"
			 "A-2 | held-back | snp | lazy-accept --pin node0 |  | fault_in_gbps | - | GB/s | 20% | b\n"
			 "A-3 | validation | x86 | dirty-log | | iterations[2].dirty_s | 0.5 | s | x3 | c | d\n");
	assert_int_equal(ref_table_read(path, &t, &err), 0);
	assert_int_equal(t.n, 3);
	assert_string_equal(t.v[0].quick, "--ops 5");
	assert_true(t.v[0].value == 1e6);
	assert_true(isnan(t.v[1].value));
	assert_string_equal(t.v[1].quick, "");
	assert_int_equal(t.v[2].tol_kind, REF_TOL_FACTOR);
	assert_string_equal(t.v[2].what, "c | d"); /* the last field keeps its '|' */
	/* Round trip. */
	f = open_memstream(&buf, &len);
	ref_table_write(f, &t);
	fclose(f);
	path2 = write_tmp(buf);
	assert_int_equal(ref_table_read(path2, &t2, &err), 0);
	assert_int_equal(t2.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(t.v[i].id, t2.v[i].id);
		assert_string_equal(t.v[i].command, t2.v[i].command);
		assert_string_equal(t.v[i].key, t2.v[i].key);
		assert_true(t.v[i].tol == t2.v[i].tol);
		assert_true(t.v[i].value == t2.v[i].value || (isnan(t.v[i].value) && isnan(t2.v[i].value)));
	}
	ref_table_free(&t);
	ref_table_free(&t2);
	unlink(path);
	unlink(path2);
	free(path);
	free(path2);
	free(buf);
}

static void test_reference_file_errors(void **state)
{
	static const char *const bad[] = {
		"A-1 | calibration | x86 | lock-storm | | k | 1 | s | 10%\n",          /* 9 fields */
		"A-1 | fitted | x86 | lock-storm | | k | 1 | s | 10% | w\n",            /* role */
		"A-1 | calibration | x86 | lock-storm | | k | abc | s | 10% | w\n",     /* value */
		"A-1 | calibration | x86 | lock-storm | | k | - | s | 10% | w\n",       /* no value */
		"A-1 | held-back | x86 | lock-storm | | k | 1 | s | 10% | w\n",         /* value held back */
		"A-1 | calibration | x86 | lock-storm | | k | -1 | s | 10% | w\n",      /* negative */
		"A-1 | calibration | x86 | lock-storm | | k | 1 | s | 10 | w\n",        /* tolerance */
		"A-1 | calibration | x86 | lock-storm | | k | 1 | s | x1 | w\n",        /* factor <= 1 */
		"A-1 | calibration | x86 | lock-storm | | k[x] | 1 | s | 10% | w\n",    /* key */
		"A-1 | calibration | x86 | lock-storm | | a..b | 1 | s | 10% | w\n",    /* key */
		"a-1 | calibration | x86 | lock-storm | | k | 1 | s | 10% | w\n",       /* id */
		"A-1 | calibration | x86 |  | | k | 1 | s | 10% | w\n",                /* command */
		"A-1 | calibration |  | lock-storm | | k | 1 | s | 10% | w\n",         /* profile */
		"A-1 | calibration | x86 | lock-storm | | k | 1 | s | 10% | w\n"
		"A-1 | calibration | x86 | lock-storm | | k | 1 | s | 10% | w\n",       /* twice */
		"# only a comment\n",
		"",
	};
	struct ref_table t;
	struct cli_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *path = write_tmp(bad[i]);

		assert_int_equal(ref_table_read(path, &t, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "--table: "));
		assert_null(strchr(err.msg, '\n'));
		assert_null(t.v);
		unlink(path);
		free(path);
	}
	assert_int_equal(ref_table_read("/nonexistent/x", &t, &err), -ENOENT);
}

static void test_reference_fitted_note(void **state)
{
	struct fitted_note n;
	char *s;

	(void)state;
	assert_int_equal(ref_fitted_parse("fitted", &n), 0);
	assert_true(n.fitted);
	assert_int_equal(n.nr_ids, 0);
	assert_int_equal(ref_fitted_parse("PFN-STOP-x86-run2: 0.0355 s / 699,050 stores", &n), 0);
	assert_false(n.fitted);
	assert_int_equal(ref_fitted_parse("CLR-ICX-2MB-base: ... + 100 ns allocation (fitted)", &n), 0);
	assert_false(n.fitted);
	assert_int_equal(ref_fitted_parse("fittedness", &n), 0);
	assert_false(n.fitted);

	assert_int_equal(ref_fitted_parse("fitted: PFN-STOP-x86-run1, PFN-STOP-x86-rw (per zap)", &n), 0);
	assert_true(n.fitted);
	assert_int_equal(n.nr_ids, 2);
	assert_string_equal(n.ids[1], "PFN-STOP-x86-rw");
	assert_string_equal(n.rest, "(per zap)");
	assert_true(ref_fitted_names(&n, "PFN-STOP-x86-rw"));
	assert_false(ref_fitted_names(&n, "PFN-STOP-x86-ro"));
	assert_int_equal(ref_fitted_add(&n, "SNP-01"), 0);
	assert_int_equal(ref_fitted_add(&n, "SNP-01"), 0);
	assert_int_equal(n.nr_ids, 3);
	s = ref_fitted_format(&n);
	assert_string_equal(s, "fitted: PFN-STOP-x86-run1, PFN-STOP-x86-rw, SNP-01 (per zap)");
	free(s);
	ref_fitted_free(&n);
	assert_int_equal(ref_fitted_parse("fitted: SNP-01 cpa_lock hold", &n), 0);
	s = ref_fitted_format(&n);
	assert_string_equal(s, "fitted: SNP-01; cpa_lock hold");
	free(s);
	ref_fitted_free(&n);

	/* Patterns; free text after "fitted:" that is not an id is kept as text. */
	assert_int_equal(ref_fitted_parse("fitted: PFN-STOP-x86-*", &n), 0);
	assert_true(ref_fitted_names(&n, "PFN-STOP-x86-ro"));
	ref_fitted_free(&n);
	assert_int_equal(ref_fitted_parse("fitted: host preemption model", &n), 0);
	assert_true(n.fitted);
	assert_int_equal(n.nr_ids, 0);
	s = ref_fitted_format(&n);
	assert_string_equal(s, "fitted: host preemption model");
	free(s);
	assert_int_equal(ref_fitted_add(&n, "SNP-03"), 0);
	s = ref_fitted_format(&n);
	assert_string_equal(s, "fitted: SNP-03; host preemption model");
	ref_fitted_free(&n);
	assert_int_equal(ref_fitted_parse(s, &n), 0); /* reads back */
	assert_int_equal(n.nr_ids, 1);
	assert_string_equal(n.rest, "host preemption model");
	free(s);
	ref_fitted_free(&n);
	assert_int_equal(ref_fitted_parse("fitted (arm64 only)", &n), 0);
	assert_int_equal(ref_fitted_add(&n, "PFN-STOP-arm64-ro"), 0);
	s = ref_fitted_format(&n);
	assert_string_equal(s, "fitted: PFN-STOP-arm64-ro (arm64 only)");
	free(s);
	ref_fitted_free(&n);
}

static void test_reference_json_path(void **state)
{
	static const char doc[] =
		"{\n  \"replayer\": \"x\",\n  \"config\": {\"a\": [1, {\"b\": 2}]},\n"
		"  \"results\": {\n    \"ro_s\": 6.149,\n    \"n\": null,\n    \"s\": \"str\",\n"
		"    \"iterations\": [\n      {\"dirty_s\": 1.5, \"clear_dirty_log_s\": 2e-3},\n"
		"      {\"dirty_s\": -0.25, \"x\\\"y\": true}\n    ],\n    \"empty\": {}, \"e2\": []\n  }\n}\n";
	size_t len = strlen(doc);
	double v;

	(void)state;
	assert_int_equal(json_path_number(doc, len, "results.ro_s", &v), 0);
	assert_true(v == 6.149);
	assert_int_equal(json_path_number(doc, len, "results.iterations[0].clear_dirty_log_s", &v), 0);
	assert_true(v == 2e-3);
	assert_int_equal(json_path_number(doc, len, "results.iterations[1].dirty_s", &v), 0);
	assert_true(v == -0.25);
	assert_int_equal(json_path_number(doc, len, "config.a[1].b", &v), 0);
	assert_true(v == 2);
	assert_int_equal(json_path_number(doc, len, "results.n", &v), 0);
	assert_true(isnan(v));
	assert_int_equal(json_path_number(doc, len, "results.iterations[2].dirty_s", &v), -ENOENT);
	assert_int_equal(json_path_number(doc, len, "results.nosuch", &v), -ENOENT);
	assert_int_equal(json_path_number(doc, len, "results.empty.x", &v), -ENOENT);
	assert_int_equal(json_path_number(doc, len, "results.e2[0]", &v), -ENOENT);
	assert_int_equal(json_path_number(doc, len, "results.s", &v), -EINVAL);
	assert_int_equal(json_path_number(doc, len, "results.iterations", &v), -EINVAL);
	assert_int_equal(json_path_number(doc, len, "results..ro_s", &v), -EINVAL);
	assert_int_equal(json_path_number(doc, len, "results.iterations[x]", &v), -EINVAL);
	/* Truncated documents never read past the end. */
	for (size_t cut = 0; cut < len; cut++) {
		int ret = json_path_number(doc, cut, "results.e2", &v);

		assert_true(ret == -EINVAL || ret == -ENOENT);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_builtin_table),
		cmocka_unit_test(test_reference_within),
		cmocka_unit_test(test_reference_split_and_match),
		cmocka_unit_test(test_reference_file),
		cmocka_unit_test(test_reference_file_errors),
		cmocka_unit_test(test_reference_fitted_note),
		cmocka_unit_test(test_reference_json_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
