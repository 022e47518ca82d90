/* SPDX-License-Identifier: MIT */
/*
 * sim/cli.h - typed command-line options for mmu2d replayers.
 *
 * A replayer declares its options as a table of struct cli_option, each one
 * bound to a field of the replayer's own options struct (by offset, with the
 * field's C type checked at compile time by the CLI_OPT_* macros).  From the
 * table the framework
 *   - applies defaults (written in command-line syntax, "8", "128G", "spin"),
 *   - parses "--name VALUE", "--name=VALUE", "--flag" and "--no-flag",
 *   - rejects bad input with one line naming the option and what it accepts,
 *   - prints --help with every default,
 *   - echoes every option with its effective value into the JSON "config".
 *
 * Value syntax:
 *   integer  decimal digits only ("0".."18446744073709551615"), in [min, max]
 *   size     decimal bytes, or with one binary suffix K, M, G or T (any case):
 *            "4096", "4K", "128G"; no fractions; in [min, max] and a
 *            multiple of align when align is set
 *   enum     one of the listed words, exactly
 *   flag     no value: --name turns it on, --no-name turns it off
 *   set      NAME=VALUE, repeatable; NAME is [A-Za-z0-9_]+, VALUE a finite
 *            non-negative number (strtod syntax)
 *
 * Parsing never exits: errors come back as -EINVAL with the message in a
 * struct cli_error (without the "mmu2d: " prefix, never containing a
 * newline), so the functions are unit-testable.
 */
#ifndef M2D_SIM_CLI_H
#define M2D_SIM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct json_writer;

enum cli_type {
	CLI_UINT,   /* uint64_t field */
	CLI_SIZE,   /* uint64_t field, bytes */
	CLI_ENUM,   /* unsigned field: index into choices */
	CLI_FLAG,   /* bool field */
	CLI_STRING, /* const char * field (points into argv or at the default) */
	CLI_SET,    /* struct cli_sets field, repeatable NAME=VALUE */
};

struct cli_option {
	const char *name;            /* long name without "--" */
	enum cli_type type;
	size_t offset;               /* of the bound field in the options struct */
	const char *metavar;         /* value placeholder in --help ("N", "SIZE") */
	const char *def;             /* default in command-line syntax; NULL = keep the field's value */
	const char *def_text;        /* shown as the default in --help instead of the value, or NULL */
	uint64_t min, max;           /* CLI_UINT, CLI_SIZE: inclusive range */
	uint64_t align;              /* CLI_SIZE: value must be a multiple of this (0 = any) */
	const char *const *choices;  /* CLI_ENUM: NULL-terminated words */
	const char *help;            /* one line */
};

/* One --set NAME=VALUE. */
struct cli_set {
	char *name;   /* owned */
	double value;
};

struct cli_sets {
	struct cli_set *v; /* in command-line order; owned */
	size_t n;
};

struct cli_error {
	char msg[512]; /* one line, no "mmu2d: " prefix, no newline */
};

/* An options table and the struct its offsets point into. */
struct cli_table {
	const struct cli_option *opts; /* terminated by an entry with name == NULL */
	void *base;
};

/*
 * CLI_FIELD() - offsetof(@st, @field), failing to compile unless the field
 * has type @type (pointer subtraction needs compatible types).
 */
#define CLI_FIELD(st, field, type)                                                                 \
	(offsetof(st, field) + 0 * sizeof(&((st *)0)->field - (type *)0))

#define CLI_OPT_UINT(n, st, field, mv, d, lo, hi, h)                                               \
	{ .name = (n), .type = CLI_UINT, .offset = CLI_FIELD(st, field, uint64_t),                 \
	  .metavar = (mv), .def = (d), .min = (lo), .max = (hi), .help = (h) }
#define CLI_OPT_SIZE(n, st, field, d, lo, hi, al, h)                                               \
	{ .name = (n), .type = CLI_SIZE, .offset = CLI_FIELD(st, field, uint64_t),                 \
	  .metavar = "SIZE", .def = (d), .min = (lo), .max = (hi), .align = (al), .help = (h) }
#define CLI_OPT_ENUM(n, st, field, mv, d, ch, h)                                                   \
	{ .name = (n), .type = CLI_ENUM, .offset = CLI_FIELD(st, field, unsigned),                 \
	  .metavar = (mv), .def = (d), .choices = (ch), .help = (h) }
#define CLI_OPT_FLAG(n, st, field, h)                                                              \
	{ .name = (n), .type = CLI_FLAG, .offset = CLI_FIELD(st, field, bool), .help = (h) }
#define CLI_OPT_END { .name = NULL }

/* The options every replayer takes (DESIGN.md section 6). */
struct cli_common {
	const char *profile;  /* --profile NAME|FILE; the replayer's default profile */
	uint64_t seed;        /* --seed N; default 1 */
	struct cli_sets sets; /* --set NAME=VALUE, repeatable */
	const char *json;     /* --json FILE, "-" = stdout; NULL = no JSON */
	const char *trace;    /* --trace FILE; NULL = no trace */
	bool progress;        /* --[no-]progress; default: stderr is a terminal */
	bool quiet;           /* --quiet: no human-readable output */
};

extern const struct cli_option cli_common_options[];

/* ---- value parsers (exposed for unit tests) ---- */

/* Return: 0, -EINVAL (not a decimal integer), -ERANGE (above UINT64_MAX). */
int cli_parse_u64(const char *s, uint64_t *out);
/* Return: 0, -EINVAL (bad syntax or suffix), -ERANGE (overflows 64 bits). */
int cli_parse_size(const char *s, uint64_t *out);
/* Return: 0 with *@out the index of @s in @choices, or -EINVAL. */
int cli_parse_enum(const char *s, const char *const *choices, unsigned *out);
/*
 * Parse "NAME=VALUE".  On success *@name is a new string the caller frees.
 * Return: 0, -EINVAL, -ENOMEM.
 */
int cli_parse_set(const char *s, char **name, double *value);

/* Format @bytes with the largest exact binary suffix ("128G", "4K", "1000"). */
void cli_format_size(uint64_t bytes, char *buf, size_t len);

/*
 * cli_format_value() - the field's current value in command-line syntax
 * (sizes with suffix, enums as their word, flags as "on"/"off").
 */
void cli_format_value(const struct cli_option *opt, const void *base, char *buf, size_t len);

/* Describe what @opt accepts ("an integer in 1..1024", "x86 or arm64"). */
void cli_describe(const struct cli_option *opt, char *buf, size_t len);

/* printf into @err->msg.  Return: -EINVAL, for "return cli_error_set(...)". */
int cli_error_set(struct cli_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * cli_quote() - make user input safe to show inside one error line:
 * control characters become '?', and long input is cut with "...".
 */
const char *cli_quote(const char *s, char *buf, size_t len);

/* ---- tables ---- */

/*
 * cli_apply_defaults() - parse every option's default into its field.
 * Return: 0, or -EINVAL if a default does not parse (a bug in the table).
 */
int cli_apply_defaults(const struct cli_table *tables, size_t ntables, struct cli_error *err);

/*
 * cli_parse() - parse @argv[0..@argc) against @tables.
 * @cmd: the command name used in messages ("lock-storm").
 * @help: set to true if --help or -h appears anywhere; then nothing else is
 * parsed and 0 is returned.
 *
 * Later occurrences of a non-repeatable option override earlier ones.
 * Return: 0, -EINVAL (message in @err), -ENOMEM.
 */
int cli_parse(const struct cli_table *tables, size_t ntables, int argc, char **argv,
	      const char *cmd, bool *help, struct cli_error *err);

/* Print "  --name VALUE   help (range; default X)" lines for @opts. */
void cli_print_options(FILE *f, const struct cli_option *opts, const void *base);

/*
 * cli_echo_json() - emit every option of @opts as a member of the current
 * JSON object: key = option name with '-' replaced by '_'; sizes and
 * integers as numbers (bytes), enums as strings, flags as booleans.
 */
void cli_echo_json(struct json_writer *w, const struct cli_option *opts, const void *base);

/*
 * cli_echo_sets() - emit @sets as object @key: {NAME: VALUE}, one member per
 * name with its effective (last) value, ordered by last occurrence.
 */
void cli_echo_sets(struct json_writer *w, const char *key, const struct cli_sets *sets);

/*
 * Cross-option checks for replayers' validate hooks.  @opts/@base are the
 * replayer's table and options; @name and @other name CLI_UINT or CLI_SIZE
 * options.  Values in messages are formatted like the command line (sizes
 * with suffixes).  Return: 0, or -EINVAL with the one-line message in @err.
 */
/* "--NAME: expected a multiple of --OTHER (V), got X" */
int cli_check_multiple(struct cli_error *err, const struct cli_option *opts, const void *base,
		       const char *name, const char *other);
/* "--NAME: expected a divisor of --OTHER (V), got X" */
int cli_check_divisor(struct cli_error *err, const struct cli_option *opts, const void *base,
		      const char *name, const char *other);
/* "--NAME: expected at most --OTHER (V), got X" */
int cli_check_at_most(struct cli_error *err, const struct cli_option *opts, const void *base,
		      const char *name, const char *other);

/* Free the --set list. */
void cli_sets_free(struct cli_sets *sets);

#endif /* M2D_SIM_CLI_H */
