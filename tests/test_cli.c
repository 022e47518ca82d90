// SPDX-License-Identifier: MIT
/*
 * tests/test_cli.c - the CLI framework's parsers and JSON writer (sim/cli.c,
 * sim/json.c), linked directly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"

/* ---- value parsers ---- */

static void test_cli_parse_u64(void **state)
{
	uint64_t v = 7;

	assert_int_equal(cli_parse_u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cli_parse_u64("1024", &v), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(cli_parse_u64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(cli_parse_u64("18446744073709551616", &v), -ERANGE);
	assert_int_equal(cli_parse_u64("99999999999999999999999", &v), -ERANGE);
	v = 5;
	const char *bad[] = { "", "-1", "+1", " 1", "1 ", "0x10", "1e3", "1.0", "abc", "12a" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cli_parse_u64(bad[i], &v), -EINVAL);
	assert_int_equal(v, 5); /* untouched on error */
}

static void test_cli_parse_size(void **state)
{
	uint64_t v;

	assert_int_equal(cli_parse_size("4096", &v), 0);
	assert_true(v == 4096);
	assert_int_equal(cli_parse_size("4K", &v), 0);
	assert_true(v == 4096);
	assert_int_equal(cli_parse_size("2m", &v), 0);
	assert_true(v == 2ull << 20);
	assert_int_equal(cli_parse_size("128G", &v), 0);
	assert_true(v == 128ull << 30);
	assert_int_equal(cli_parse_size("1T", &v), 0);
	assert_true(v == 1ull << 40);
	assert_int_equal(cli_parse_size("16777215T", &v), 0);
	assert_true(v == 16777215ull << 40);
	assert_int_equal(cli_parse_size("16777216T", &v), -ERANGE); /* 2^64 */
	assert_int_equal(cli_parse_size("18446744073709551616", &v), -ERANGE);
	assert_int_equal(cli_parse_size("1000000000000000000000000000000000G", &v), -ERANGE);
	const char *bad[] = { "", "G", "1.5G", "12Q", "-1G", "1GB", "1 G", "G1", "0x10",
			      "1KK", "1000000000000000000000000000000000X" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cli_parse_size(bad[i], &v), -EINVAL);
}

static void test_cli_format_size(void **state)
{
	char buf[32];

	cli_format_size(128ull << 30, buf, sizeof(buf));
	assert_string_equal(buf, "128G");
	cli_format_size(1ull << 40, buf, sizeof(buf));
	assert_string_equal(buf, "1T");
	cli_format_size(3ull << 20, buf, sizeof(buf));
	assert_string_equal(buf, "3M");
	cli_format_size(4097, buf, sizeof(buf));
	assert_string_equal(buf, "4097");
	cli_format_size(0, buf, sizeof(buf));
	assert_string_equal(buf, "0");
	cli_format_size(1536ull << 20, buf, sizeof(buf)); /* 1.5G */
	assert_string_equal(buf, "1536M");
}

static const char *const arch_names[] = { "x86", "arm64", NULL };
static const char *const three[] = { "a", "b", "c", NULL };

static void test_cli_parse_enum(void **state)
{
	unsigned v = 9;

	assert_int_equal(cli_parse_enum("arm64", arch_names, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(cli_parse_enum("x86", arch_names, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cli_parse_enum("X86", arch_names, &v), -EINVAL);
	assert_int_equal(cli_parse_enum("", arch_names, &v), -EINVAL);
	assert_int_equal(cli_parse_enum("x86 ", arch_names, &v), -EINVAL);
}

static void test_cli_parse_set(void **state)
{
	char *name = NULL;
	double v;

	assert_int_equal(cli_parse_set("lock_acquire=20", &name, &v), 0);
	assert_string_equal(name, "lock_acquire");
	assert_true(v == 20);
	free(name);
	assert_int_equal(cli_parse_set("LOCK_HANDOFF=1.5e2", &name, &v), 0);
	assert_string_equal(name, "lock_handoff"); /* costs.def spelling, lower-cased */
	assert_true(v == 150);
	free(name);
	assert_int_equal(cli_parse_set("x=0", &name, &v), 0);
	assert_false(signbit(v));
	free(name);
	assert_int_equal(cli_parse_set("x=-0", &name, &v), 0);
	assert_false(signbit(v)); /* never echoed as -0 */
	free(name);
	const char *bad[] = { "x", "=1", "x=", "x=-1", "x=nan", "x=inf", "x=1e999", "x=1z",
			      "x= 1", "a-b=1", "a b=1", "x=1=2" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cli_parse_set(bad[i], &name, &v), -EINVAL);
}

static void test_cli_quote(void **state)
{
	char buf[72], longs[200];

	assert_string_equal(cli_quote("a\nb\tc\x7f", buf, sizeof(buf)), "a?b?c?");
	memset(longs, 'x', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	cli_quote(longs, buf, sizeof(buf));
	assert_int_equal(strlen(buf), 63);
	assert_string_equal(buf + 60, "...");
	assert_string_equal(cli_quote("abcdefgh", buf, 6), "ab..."); /* fits any buffer */
	assert_string_equal(cli_quote("abcdefgh", buf, 2), "");
}

/* ---- tables ---- */

struct topts {
	uint64_t n;
	uint64_t mem;
	unsigned arch;
	unsigned kind;
	bool flag;
	struct cli_sets sets;
	const char *file;
};

static const struct cli_option topts_table[] = {
	CLI_OPT_UINT("vcpus", struct topts, n, "N", "48", 1, 1024, "vCPUs"),
	CLI_OPT_SIZE("mem", struct topts, mem, "128G", 4096, 1ull << 40, 2ull << 20, "memory"),
	CLI_OPT_ENUM("arch", struct topts, arch, "ARCH", "x86", arch_names, "architecture"),
	CLI_OPT_ENUM("kind", struct topts, kind, "K", "b", three, "kind"),
	CLI_OPT_FLAG("restore-2m", struct topts, flag, "restore 2M"),
	{ .name = "set", .type = CLI_SET, .offset = CLI_FIELD(struct topts, sets, struct cli_sets),
	  .metavar = "NAME=VALUE", .help = "override" },
	{ .name = "json", .type = CLI_STRING, .offset = CLI_FIELD(struct topts, file, const char *),
	  .metavar = "FILE", .help = "output" },
	CLI_OPT_END
};

static int parse(struct topts *o, struct cli_error *err, bool *help, int argc, ...)
{
	struct cli_table t = { topts_table, o };
	char *argv[16];
	va_list ap;

	memset(o, 0, sizeof(*o));
	memset(err, 0, sizeof(*err));
	if (cli_apply_defaults(&t, 1, err))
		return -100;
	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	return cli_parse(&t, 1, argc, argv, "test", help, err);
}

static void assert_one_line(const struct cli_error *err, const char *option)
{
	assert_null(strchr(err->msg, '\n'));
	assert_non_null(strstr(err->msg, option));
}

static void test_cli_parse_defaults_and_values(void **state)
{
	struct cli_error err;
	struct topts o;
	bool help;

	assert_int_equal(parse(&o, &err, &help, 0), 0);
	assert_false(help);
	assert_true(o.n == 48 && o.mem == 128ull << 30 && o.arch == 0 && o.kind == 1 && !o.flag);
	assert_null(o.file);

	assert_int_equal(parse(&o, &err, &help, 6, "--vcpus", "4", "--mem=2G", "--arch", "arm64",
			       "--restore-2m"), 0);
	assert_true(o.n == 4 && o.mem == 2ull << 30 && o.arch == 1 && o.flag);
	/* --no-FLAG, and the last occurrence wins */
	assert_int_equal(parse(&o, &err, &help, 4, "--restore-2m", "--no-restore-2m", "--vcpus=2",
			       "--vcpus=3"), 0);
	assert_true(!o.flag && o.n == 3);
	/* repeatable --set keeps every occurrence in order */
	assert_int_equal(parse(&o, &err, &help, 3, "--set", "a=1", "--set=b=2"), 0);
	assert_int_equal(o.sets.n, 2);
	assert_string_equal(o.sets.v[0].name, "a");
	assert_string_equal(o.sets.v[1].name, "b");
	assert_true(o.sets.v[1].value == 2);
	cli_sets_free(&o.sets);
	assert_int_equal(o.sets.n, 0);
	/* "--opt=--x" passes a value that starts with dashes */
	assert_int_equal(parse(&o, &err, &help, 1, "--json=--x"), 0);
	assert_string_equal(o.file, "--x");
	/* --help anywhere wins, even after an error */
	assert_int_equal(parse(&o, &err, &help, 3, "--vcpus", "0", "-h"), 0);
	assert_true(help);
}

static void test_cli_parse_errors(void **state)
{
	static const struct {
		int argc;
		const char *argv[3];
		const char *option;   /* named in the message */
		const char *expected; /* part of the message */
	} cases[] = {
		{ 2, { "--vcpus", "0" }, "--vcpus", "expected an integer in 1..1024, got '0'" },
		{ 2, { "--vcpus", "1025" }, "--vcpus", "got '1025'" },
		{ 2, { "--vcpus", "x" }, "--vcpus", "got 'x'" },
		{ 2, { "--vcpus", "99999999999999999999" }, "--vcpus", "(too large)" },
		{ 1, { "--vcpus" }, "--vcpus", "missing value (expected an integer in 1..1024)" },
		{ 2, { "--vcpus", "--arch" }, "--vcpus", "missing value" },
		{ 2, { "--mem", "3M" }, "--mem", "expected a multiple of 2M, got '3M'" },
		{ 2, { "--mem", "2T" }, "--mem", "in 4K..1T, a multiple of 2M, got '2T'" },
		{ 2, { "--mem", "12Q" }, "--mem", "got '12Q'" },
		{ 2, { "--mem", "0" }, "--mem", "got '0'" },
		{ 2, { "--arch", "mips" }, "--arch", "--arch: expected x86 or arm64, got 'mips'" },
		{ 2, { "--kind", "d" }, "--kind", "expected one of a, b, c, got 'd'" },
		{ 1, { "--restore-2m=1" }, "--restore-2m", "takes no value, got '1'" },
		{ 1, { "--no-vcpus" }, "'--no-vcpus'", "unknown option" },
		{ 1, { "--bogus" }, "'--bogus'", "test: unknown option '--bogus' (see 'mmu2d test --help')" },
		{ 1, { "-x" }, "'-x'", "unknown option" },
		{ 1, { "stray" }, "'stray'", "unexpected argument" },
		{ 2, { "--set", "nope" }, "--set", "expected NAME=VALUE" },
		{ 2, { "--json", "" }, "--json", "got ''" },
		{ 2, { "--arch", "a\nb" }, "--arch", "got 'a?b'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cli_table t;
		struct cli_error err;
		struct topts o;
		bool help;

		memset(&o, 0, sizeof(o));
		t = (struct cli_table){ topts_table, &o };
		assert_int_equal(cli_apply_defaults(&t, 1, &err), 0);
		assert_int_equal(cli_parse(&t, 1, cases[i].argc, (char **)cases[i].argv, "test",
					   &help, &err), -EINVAL);
		assert_one_line(&err, cases[i].option);
		if (!strstr(err.msg, cases[i].expected))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].expected);
		cli_sets_free(&o.sets);
	}
}

static void test_cli_bad_default_is_reported(void **state)
{
	static const struct cli_option bad[] = {
		CLI_OPT_UINT("n", struct topts, n, "N", "0", 1, 10, "n"),
		CLI_OPT_END
	};
	struct topts o;
	struct cli_table t = { bad, &o };
	struct cli_error err;

	assert_int_equal(cli_apply_defaults(&t, 1, &err), -EINVAL);
	assert_one_line(&err, "--n");
}

static void test_cli_cross_option_checks(void **state)
{
	static const struct cli_option table[] = {
		CLI_OPT_UINT("vcpus", struct topts, n, "N", "48", 1, 1024, "vCPUs"),
		CLI_OPT_SIZE("mem", struct topts, mem, "128G", 4096, 1ull << 40, 0, "memory"),
		CLI_OPT_ENUM("arch", struct topts, arch, "ARCH", "x86", arch_names, "architecture"),
		CLI_OPT_END
	};
	struct cli_error err;
	struct topts o = { .n = 48, .mem = 3ull << 30 };

	assert_int_equal(cli_check_at_most(&err, table, &o, "vcpus", "vcpus"), 0);
	assert_int_equal(cli_check_multiple(&err, table, &o, "mem", "vcpus"), 0); /* 3G % 48 */
	o.n = 7;
	assert_int_equal(cli_check_multiple(&err, table, &o, "mem", "vcpus"), -EINVAL);
	assert_string_equal(err.msg, "--mem: expected a multiple of --vcpus (7), got 3G");
	assert_int_equal(cli_check_divisor(&err, table, &o, "vcpus", "mem"), -EINVAL);
	assert_string_equal(err.msg, "--vcpus: expected a divisor of --mem (3G), got 7");
	o.mem = 4;
	assert_int_equal(cli_check_at_most(&err, table, &o, "vcpus", "mem"), -EINVAL);
	assert_string_equal(err.msg, "--vcpus: expected at most --mem (4), got 7");
	/* misuse is reported, not a crash */
	assert_int_equal(cli_check_at_most(&err, table, &o, "vcpus", "arch"), -EINVAL);
	assert_int_equal(cli_check_at_most(&err, table, &o, "nope", "mem"), -EINVAL);
}

static char *capture_echo(const struct topts *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct json_writer w;

	json_init(&w, f);
	json_object_begin(&w, NULL);
	cli_echo_json(&w, topts_table, o);
	json_object_end(&w);
	json_finish(&w);
	assert_false(json_error(&w));
	fclose(f);
	return buf;
}

static void test_cli_echo_json(void **state)
{
	struct cli_error err;
	struct topts o;
	bool help;
	char *s;

	assert_int_equal(parse(&o, &err, &help, 6, "--set", "b=1", "--set", "a=2", "--set", "b=3"), 0);
	o.file = "x\"y";
	s = capture_echo(&o);
	assert_string_equal(s, "{\n"
			       "  \"vcpus\": 48,\n"
			       "  \"mem\": 137438953472,\n"
			       "  \"arch\": \"x86\",\n"
			       "  \"kind\": \"b\",\n"
			       "  \"restore_2m\": false,\n"
			       "  \"set\": {\n"
			       "    \"a\": 2,\n"
			       "    \"b\": 3\n"
			       "  },\n"
			       "  \"json\": \"x\\\"y\"\n"
			       "}\n");
	free(s);
	cli_sets_free(&o.sets);
}

static void test_cli_help_shows_defaults(void **state)
{
	struct cli_error err;
	struct topts o;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	bool help;

	assert_int_equal(parse(&o, &err, &help, 0), 0);
	f = open_memstream(&buf, &len);
	cli_print_options(f, topts_table, &o);
	fclose(f);
	assert_non_null(strstr(buf, "--vcpus N"));
	assert_non_null(strstr(buf, "1..1024; default: 48)"));
	assert_non_null(strstr(buf, "4K..1T, multiple of 2M; default: 128G)"));
	assert_non_null(strstr(buf, "x86|arm64; default: x86)"));
	assert_non_null(strstr(buf, "--[no-]restore-2m"));
	free(buf);
}

/* ---- JSON writer ---- */

static char *capture(void (*fn)(struct json_writer *w), bool *error)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct json_writer w;

	json_init(&w, f);
	fn(&w);
	*error = json_error(&w);
	fclose(f);
	return buf;
}

static void doc_nested(struct json_writer *w)
{
	json_object_begin(w, NULL);
	json_string(w, "s", "a\"b\\c\n\t\x01 é");
	json_int(w, "i", -5);
	json_uint(w, "u", UINT64_MAX);
	json_bool(w, "t", true);
	json_null(w, "n");
	json_object_begin(w, "empty");
	json_object_end(w);
	json_array_begin(w, "nums");
	json_double(w, NULL, 0.1);
	json_double(w, NULL, 1.0 / 3);
	json_double(w, NULL, NAN);
	json_array_end(w);
	json_array_begin(w, "objs");
	json_object_begin(w, NULL);
	json_uint(w, "k", 1);
	json_object_end(w);
	json_array_end(w);
	json_object_end(w);
	json_finish(w);
}

static void test_json_document(void **state)
{
	bool error;
	char *s = capture(doc_nested, &error);

	assert_false(error);
	assert_string_equal(s, "{\n"
			       "  \"s\": \"a\\\"b\\\\c\\n\\t\\u0001 é\",\n"
			       "  \"i\": -5,\n"
			       "  \"u\": 18446744073709551615,\n"
			       "  \"t\": true,\n"
			       "  \"n\": null,\n"
			       "  \"empty\": {},\n"
			       "  \"nums\": [0.1, 0.3333333333333333, null],\n"
			       "  \"objs\": [\n"
			       "    {\n"
			       "      \"k\": 1\n"
			       "    }\n"
			       "  ]\n"
			       "}\n");
	free(s);
}

static void test_json_format_double(void **state)
{
	static const struct {
		double v;
		const char *s;
	} cases[] = {
		{ 0, "0" }, { 1, "1" }, { 0.1, "0.1" }, { 1e21, "1e+21" }, { 0.011, "0.011" },
		{ 7272727.2727272725, "7272727.2727272725" }, { 5e-324, "4.94065645841247e-324" },
		{ 123456789.123456789, "123456789.12345679" }, { -2.5, "-2.5" },
		{ INFINITY, "null" }, { -INFINITY, "null" },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_format_double(buf, sizeof(buf), cases[i].v);
		if (strcmp(buf, cases[i].s))
			fail_msg("case %zu: got %s, expected %s", i, buf, cases[i].s);
		if (isfinite(cases[i].v))
			assert_true(strtod(buf, NULL) == cases[i].v); /* round trip */
	}
}

static void doc_invalid_utf8(struct json_writer *w)
{
	json_string(w, NULL, "a\xff\xc3(\xed\xa0\x80z");
}

static void test_json_string_invalid_utf8(void **state)
{
	bool error;
	char *s = capture(doc_invalid_utf8, &error);

	assert_false(error);
	/* each invalid byte becomes U+FFFD; the surrogate encoding is rejected */
	assert_string_equal(s, "\"a\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffdz\"");
	free(s);
}

static void doc_raw(struct json_writer *w)
{
	static const char raw[] = "  \"breakdown\": {},\n  \"locks\": {}\n\n";

	json_object_begin(w, NULL);
	json_uint(w, "a", 1);
	json_raw_members(w, raw, strlen(raw));
	json_raw_members(w, "  \n", 3); /* nothing */
	json_object_begin(w, "sim");
	json_object_end(w);
	json_object_end(w);
	json_finish(w);
}

static void test_json_raw_members(void **state)
{
	bool error;
	char *s = capture(doc_raw, &error);

	assert_false(error);
	assert_string_equal(s, "{\n  \"a\": 1,\n  \"breakdown\": {},\n  \"locks\": {},\n"
			       "  \"sim\": {}\n}\n");
	free(s);
}

static void doc_misuse_key_in_array(struct json_writer *w)
{
	json_array_begin(w, NULL);
	json_uint(w, "k", 1);
	json_array_end(w);
}

static void doc_misuse_unbalanced(struct json_writer *w)
{
	json_object_begin(w, NULL);
	json_array_end(w);
}

static void doc_misuse_unclosed(struct json_writer *w)
{
	json_object_begin(w, NULL);
	json_finish(w);
}

static void doc_misuse_mixed_array(struct json_writer *w)
{
	json_array_begin(w, NULL);
	json_uint(w, NULL, 1);
	json_object_begin(w, NULL);
	json_object_end(w);
	json_array_end(w);
}

static void test_json_misuse_is_reported(void **state)
{
	void (*docs[])(struct json_writer *) = { doc_misuse_key_in_array, doc_misuse_unbalanced,
						  doc_misuse_unclosed, doc_misuse_mixed_array };

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		bool error;

		free(capture(docs[i], &error));
		assert_true(error);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli_parse_u64),
		cmocka_unit_test(test_cli_parse_size),
		cmocka_unit_test(test_cli_format_size),
		cmocka_unit_test(test_cli_parse_enum),
		cmocka_unit_test(test_cli_parse_set),
		cmocka_unit_test(test_cli_quote),
		cmocka_unit_test(test_cli_parse_defaults_and_values),
		cmocka_unit_test(test_cli_parse_errors),
		cmocka_unit_test(test_cli_bad_default_is_reported),
		cmocka_unit_test(test_cli_cross_option_checks),
		cmocka_unit_test(test_cli_echo_json),
		cmocka_unit_test(test_cli_help_shows_defaults),
		cmocka_unit_test(test_json_document),
		cmocka_unit_test(test_json_format_double),
		cmocka_unit_test(test_json_string_invalid_utf8),
		cmocka_unit_test(test_json_raw_members),
		cmocka_unit_test(test_json_misuse_is_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
