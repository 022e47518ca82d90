// SPDX-License-Identifier: MIT
/* sim/cli.c - typed command-line options (see cli.h for the syntax). */
#include "cli.h"
#include "json.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const struct cli_option cli_common_options[] = {
	{ .name = "profile", .type = CLI_STRING, .offset = CLI_FIELD(struct cli_common, profile, const char *),
	  .metavar = "NAME|FILE", .help = "cost profile: a name from 'mmu2d profile list' or a file" },
	{ .name = "set", .type = CLI_SET, .offset = CLI_FIELD(struct cli_common, sets, struct cli_sets),
	  .metavar = "NAME=VALUE", .def_text = "none",
	  .help = "override one cost parameter of the profile (repeatable)" },
	CLI_OPT_UINT("seed", struct cli_common, seed, "N", "1", 0, UINT64_MAX,
		     "seed of the simulation's pseudo-random choices"),
	{ .name = "json", .type = CLI_STRING, .offset = CLI_FIELD(struct cli_common, json, const char *),
	  .metavar = "FILE", .def_text = "none",
	  .help = "write the JSON report to FILE ('-' = stdout)" },
	{ .name = "trace", .type = CLI_STRING, .offset = CLI_FIELD(struct cli_common, trace, const char *),
	  .metavar = "FILE", .def_text = "none",
	  .help = "write a Chrome/Perfetto trace-event JSON of the virtual timeline" },
	{ .name = "progress", .type = CLI_FLAG, .offset = CLI_FIELD(struct cli_common, progress, bool),
	  .def_text = "on when stderr is a terminal", .help = "show a progress bar on stderr" },
	CLI_OPT_FLAG("quiet", struct cli_common, quiet, "print no human-readable results"),
	CLI_OPT_END
};

int cli_error_set(struct cli_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	for (char *p = err->msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return -EINVAL;
}

const char *cli_quote(const char *s, char *buf, size_t len)
{
	const size_t max = len > 64 ? 60 : len > 4 ? len - 4 : 0;
	size_t i;

	if (!len)
		return "";

	for (i = 0; s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	buf[i] = '\0';
	if (s[i] && i + 4 <= len)
		strcpy(buf + i, "...");
	return buf;
}

static void *field(const struct cli_option *opt, const void *base)
{
	return (char *)base + opt->offset;
}

/* ---- value parsers ---- */

int cli_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static int suffix_shift(char c)
{
	switch (c) {
	case 'k': case 'K': return 10;
	case 'm': case 'M': return 20;
	case 'g': case 'G': return 30;
	case 't': case 'T': return 40;
	default: return -1;
	}
}

int cli_parse_size(const char *s, uint64_t *out)
{
	size_t n = strlen(s);
	char digits[32];
	uint64_t v;
	int shift = 0, ret;

	if (n && suffix_shift(s[n - 1]) >= 0) {
		shift = suffix_shift(s[n - 1]);
		n--;
	}
	if (!n)
		return -EINVAL;
	if (n >= sizeof(digits)) {
		/* Too long for any 64-bit value; still tell garbage from overflow. */
		for (size_t i = 0; i < n; i++)
			if (s[i] < '0' || s[i] > '9')
				return -EINVAL;
		return -ERANGE;
	}
	memcpy(digits, s, n);
	digits[n] = '\0';
	ret = cli_parse_u64(digits, &v);
	if (ret)
		return ret;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int cli_parse_enum(const char *s, const char *const *choices, unsigned *out)
{
	for (unsigned i = 0; choices[i]; i++) {
		if (!strcmp(s, choices[i])) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

int cli_parse_set(const char *s, char **name, double *value)
{
	const char *eq = strchr(s, '=');
	char *end, *copy;
	double v;

	if (!eq || eq == s)
		return -EINVAL;
	for (const char *p = s; p < eq; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return -EINVAL;
	if (!eq[1] || isspace((unsigned char)eq[1]))
		return -EINVAL;
	errno = 0;
	v = strtod(eq + 1, &end);
	if (*end || errno == ERANGE || !isfinite(v) || v < 0)
		return -EINVAL;
	copy = strndup(s, (size_t)(eq - s));
	if (!copy)
		return -ENOMEM;
	/* Profile keys are lower case; accept the costs.def spelling too. */
	for (char *p = copy; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	*name = copy;
	*value = v == 0 ? 0.0 : v; /* no "-0" */
	return 0;
}

void cli_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char suffix[] = "TGMK";

	for (int i = 0; i < 4; i++) {
		int shift = 40 - 10 * i;
		uint64_t unit = 1ull << shift;

		if (bytes && bytes % unit == 0) {
			snprintf(buf, len, "%" PRIu64 "%c", bytes >> shift, suffix[i]);
			return;
		}
	}
	snprintf(buf, len, "%" PRIu64, bytes);
}

static size_t nr_choices(const char *const *choices)
{
	size_t n = 0;

	while (choices[n])
		n++;
	return n;
}

void cli_describe(const struct cli_option *opt, char *buf, size_t len)
{
	char lo[32], hi[32], al[32];
	size_t n, pos = 0;

	switch (opt->type) {
	case CLI_UINT:
		snprintf(buf, len, "an integer in %" PRIu64 "..%" PRIu64, opt->min, opt->max);
		return;
	case CLI_SIZE:
		cli_format_size(opt->min, lo, sizeof(lo));
		cli_format_size(opt->max, hi, sizeof(hi));
		cli_format_size(opt->align, al, sizeof(al));
		snprintf(buf, len, "a size (bytes, or with a K/M/G/T suffix, e.g. 128G) in %s..%s%s%s", lo,
			 hi, opt->align > 1 ? ", a multiple of " : "", opt->align > 1 ? al : "");
		return;
	case CLI_ENUM:
		n = nr_choices(opt->choices);
		if (n > 2)
			pos += (size_t)snprintf(buf + pos, len - pos, "one of ");
		for (size_t i = 0; i < n && pos < len; i++) {
			const char *sep = i == 0 ? "" : (n == 2 ? " or " : ", ");
			pos += (size_t)snprintf(buf + pos, len - pos, "%s%s", sep, opt->choices[i]);
		}
		return;
	case CLI_FLAG:
		snprintf(buf, len, "no value");
		return;
	case CLI_STRING:
		if (!strcmp(opt->name, "json") || !strcmp(opt->name, "trace"))
			snprintf(buf, len, "a file name%s", !strcmp(opt->name, "json") ? " or '-'" : "");
		else
			snprintf(buf, len, "a non-empty value");
		return;
	case CLI_SET:
		snprintf(buf, len, "NAME=VALUE with VALUE a non-negative number");
		return;
	}
	snprintf(buf, len, "a value");
}

void cli_format_value(const struct cli_option *opt, const void *base, char *buf, size_t len)
{
	const void *f = field(opt, base);

	switch (opt->type) {
	case CLI_UINT:
		snprintf(buf, len, "%" PRIu64, *(const uint64_t *)f);
		return;
	case CLI_SIZE:
		cli_format_size(*(const uint64_t *)f, buf, len);
		return;
	case CLI_ENUM:
		snprintf(buf, len, "%s", opt->choices[*(const unsigned *)f]);
		return;
	case CLI_FLAG:
		snprintf(buf, len, "%s", *(const bool *)f ? "on" : "off");
		return;
	case CLI_STRING:
		snprintf(buf, len, "%s", *(const char *const *)f ? *(const char *const *)f : "none");
		return;
	case CLI_SET:
		snprintf(buf, len, "%zu set", ((const struct cli_sets *)f)->n);
		return;
	}
	snprintf(buf, len, "?");
}

/* ---- parsing ---- */

static int set_value(const struct cli_option *opt, void *base, const char *val,
		     struct cli_error *err)
{
	char desc[256], q[72];
	void *f = field(opt, base);
	uint64_t v;
	unsigned idx;
	int ret;

	cli_describe(opt, desc, sizeof(desc));
	switch (opt->type) {
	case CLI_UINT:
	case CLI_SIZE:
		ret = opt->type == CLI_UINT ? cli_parse_u64(val, &v) : cli_parse_size(val, &v);
		if (ret || v < opt->min || v > opt->max)
			return cli_error_set(err, "--%s: expected %s, got '%s'%s", opt->name, desc,
					     cli_quote(val, q, sizeof(q)),
					     ret == -ERANGE ? " (too large)" : "");
		if (opt->type == CLI_SIZE && opt->align > 1 && v % opt->align) {
			char al[32];

			cli_format_size(opt->align, al, sizeof(al));
			return cli_error_set(err, "--%s: expected a multiple of %s, got '%s'",
					     opt->name, al, cli_quote(val, q, sizeof(q)));
		}
		*(uint64_t *)f = v;
		return 0;
	case CLI_ENUM:
		if (cli_parse_enum(val, opt->choices, &idx))
			return cli_error_set(err, "--%s: expected %s, got '%s'", opt->name, desc,
					     cli_quote(val, q, sizeof(q)));
		*(unsigned *)f = idx;
		return 0;
	case CLI_STRING:
		if (!*val)
			return cli_error_set(err, "--%s: expected %s, got ''", opt->name, desc);
		*(const char **)f = val;
		return 0;
	case CLI_SET: {
		struct cli_sets *sets = f;
		struct cli_set *nv;
		char *name;
		double d;

		ret = cli_parse_set(val, &name, &d);
		if (ret == -ENOMEM)
			return cli_error_set(err, "--%s: out of memory", opt->name);
		if (ret)
			return cli_error_set(err, "--%s: expected %s, got '%s'", opt->name, desc,
					     cli_quote(val, q, sizeof(q)));
		nv = realloc(sets->v, (sets->n + 1) * sizeof(*nv));
		if (!nv) {
			free(name);
			return cli_error_set(err, "--%s: out of memory", opt->name);
		}
		sets->v = nv;
		sets->v[sets->n].name = name;
		sets->v[sets->n].value = d;
		sets->n++;
		return 0;
	}
	case CLI_FLAG:
		break;
	}
	return cli_error_set(err, "--%s: internal error: bad option type", opt->name);
}

int cli_apply_defaults(const struct cli_table *tables, size_t ntables, struct cli_error *err)
{
	for (size_t t = 0; t < ntables; t++) {
		for (const struct cli_option *o = tables[t].opts; o->name; o++) {
			if (!o->def)
				continue;
			if (o->type == CLI_FLAG) {
				*(bool *)field(o, tables[t].base) = !strcmp(o->def, "on");
				continue;
			}
			if (set_value(o, tables[t].base, o->def, err))
				return -EINVAL;
		}
	}
	return 0;
}

/* Find "--@name" (length @len) in @tables; *@negated for "--no-FLAG". */
static const struct cli_option *lookup(const struct cli_table *tables, size_t ntables,
				       const char *name, size_t len, void **base, bool *negated)
{
	for (int pass = 0; pass < 2; pass++) {
		const char *n = name;
		size_t l = len;

		if (pass == 1) {
			if (len <= 3 || strncmp(name, "no-", 3))
				break;
			n += 3;
			l -= 3;
		}
		for (size_t t = 0; t < ntables; t++) {
			for (const struct cli_option *o = tables[t].opts; o->name; o++) {
				if (strlen(o->name) != l || strncmp(o->name, n, l))
					continue;
				if (pass == 1 && o->type != CLI_FLAG)
					continue;
				*base = tables[t].base;
				*negated = pass == 1;
				return o;
			}
		}
	}
	return NULL;
}

int cli_parse(const struct cli_table *tables, size_t ntables, int argc, char **argv,
	      const char *cmd, bool *help, struct cli_error *err)
{
	char q[72], desc[256];

	*help = false;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			*help = true;
			return 0;
		}
	}
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i], *name, *eq, *val;
		const struct cli_option *opt;
		bool negated;
		void *base;
		size_t len;
		int ret;

		if (strncmp(arg, "--", 2) || !arg[2]) {
			if (arg[0] == '-' && arg[1])
				return cli_error_set(err, "%s: unknown option '%s' (see 'mmu2d %s --help')",
						     cmd, cli_quote(arg, q, sizeof(q)), cmd);
			return cli_error_set(err, "%s: unexpected argument '%s' (see 'mmu2d %s --help')",
					     cmd, cli_quote(arg, q, sizeof(q)), cmd);
		}
		name = arg + 2;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		opt = lookup(tables, ntables, name, len, &base, &negated);
		if (!opt)
			return cli_error_set(err, "%s: unknown option '%s' (see 'mmu2d %s --help')", cmd,
					     cli_quote(arg, q, sizeof(q)), cmd);
		if (opt->type == CLI_FLAG) {
			if (eq)
				return cli_error_set(err, "--%s%s: takes no value, got '%s'",
						     negated ? "no-" : "", opt->name,
						     cli_quote(eq + 1, q, sizeof(q)));
			*(bool *)field(opt, base) = !negated;
			continue;
		}
		if (eq) {
			val = eq + 1;
		} else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) {
			/* "--opt --other" is a missing value; "--opt=--x" passes one. */
			val = argv[++i];
		} else {
			cli_describe(opt, desc, sizeof(desc));
			return cli_error_set(err, "--%s: missing value (expected %s)", opt->name, desc);
		}
		ret = set_value(opt, base, val, err);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- help and echo ---- */

void cli_print_options(FILE *f, const struct cli_option *opts, const void *base)
{
	for (const struct cli_option *o = opts; o->name; o++) {
		char left[64], val[64], range[160] = "";

		if (o->type == CLI_FLAG)
			snprintf(left, sizeof(left), "--[no-]%s", o->name);
		else
			snprintf(left, sizeof(left), "--%s %s", o->name, o->metavar ? o->metavar : "X");
		if (o->type == CLI_UINT) {
			snprintf(range, sizeof(range), "%" PRIu64 "..%" PRIu64 "; ", o->min, o->max);
		} else if (o->type == CLI_SIZE) {
			char lo[32], hi[32], al[32];

			cli_format_size(o->min, lo, sizeof(lo));
			cli_format_size(o->max, hi, sizeof(hi));
			cli_format_size(o->align, al, sizeof(al));
			snprintf(range, sizeof(range), "%s..%s%s%s; ", lo, hi,
				 o->align > 1 ? ", multiple of " : "", o->align > 1 ? al : "");
		} else if (o->type == CLI_ENUM) {
			size_t pos = 0;

			for (size_t i = 0; o->choices[i] && pos < sizeof(range); i++)
				pos += (size_t)snprintf(range + pos, sizeof(range) - pos, "%s%s",
							i ? "|" : "", o->choices[i]);
			if (pos < sizeof(range))
				snprintf(range + pos, sizeof(range) - pos, "; ");
		}
		if (o->def_text)
			snprintf(val, sizeof(val), "%s", o->def_text);
		else
			cli_format_value(o, base, val, sizeof(val));
		/* Keep lines within 100 columns: details go on a line of their own. */
		if (27 + strlen(o->help) + strlen(range) + strlen(val) + 12 > 100)
			fprintf(f, "  %-24s %s\n  %-24s (%sdefault: %s)\n", left, o->help, "", range,
				val);
		else
			fprintf(f, "  %-24s %s (%sdefault: %s)\n", left, o->help, range, val);
	}
}

void cli_echo_sets(struct json_writer *w, const char *key, const struct cli_sets *s)
{
	/* The effective value of each name: its last --set. */
	json_object_begin(w, key);
	for (size_t k = 0; k < s->n; k++) {
		bool overridden = false;

		for (size_t l = k + 1; l < s->n; l++)
			overridden |= !strcmp(s->v[k].name, s->v[l].name);
		if (!overridden)
			json_double(w, s->v[k].name, s->v[k].value);
	}
	json_object_end(w);
}

void cli_echo_json(struct json_writer *w, const struct cli_option *opts, const void *base)
{
	for (const struct cli_option *o = opts; o->name; o++) {
		const void *f = field(o, base);
		char key[64];
		size_t i;

		for (i = 0; o->name[i] && i + 1 < sizeof(key); i++)
			key[i] = o->name[i] == '-' ? '_' : o->name[i];
		key[i] = '\0';
		switch (o->type) {
		case CLI_UINT:
		case CLI_SIZE:
			json_uint(w, key, *(const uint64_t *)f);
			break;
		case CLI_ENUM:
			json_string(w, key, o->choices[*(const unsigned *)f]);
			break;
		case CLI_FLAG:
			json_bool(w, key, *(const bool *)f);
			break;
		case CLI_STRING:
			json_string(w, key, *(const char *const *)f);
			break;
		case CLI_SET:
			cli_echo_sets(w, key, f);
			break;
		}
	}
}

/* ---- cross-option checks ---- */

enum relation { MULTIPLE, DIVISOR, AT_MOST };

static int check_relation(struct cli_error *err, const struct cli_option *opts, const void *base,
			  const char *name, const char *other, enum relation rel)
{
	static const char *const words[] = { "a multiple of", "a divisor of", "at most" };
	const struct cli_option *a = NULL, *b = NULL;
	char va[32], vb[32];
	uint64_t x, y;
	bool ok;

	for (const struct cli_option *o = opts; o->name; o++) {
		if (!strcmp(o->name, name))
			a = o;
		if (!strcmp(o->name, other))
			b = o;
	}
	if (!a || !b || (a->type != CLI_UINT && a->type != CLI_SIZE) ||
	    (b->type != CLI_UINT && b->type != CLI_SIZE))
		return cli_error_set(err, "--%s: internal error: no numeric options --%s, --%s",
				     name, name, other);
	x = *(const uint64_t *)field(a, base);
	y = *(const uint64_t *)field(b, base);
	switch (rel) {
	case MULTIPLE: ok = y && x % y == 0; break;
	case DIVISOR: ok = x && y % x == 0; break;
	default: ok = x <= y; break;
	}
	if (ok)
		return 0;
	cli_format_value(a, base, va, sizeof(va));
	cli_format_value(b, base, vb, sizeof(vb));
	return cli_error_set(err, "--%s: expected %s --%s (%s), got %s", name, words[rel], other, vb,
			     va);
}

int cli_check_multiple(struct cli_error *err, const struct cli_option *opts, const void *base,
		       const char *name, const char *other)
{
	return check_relation(err, opts, base, name, other, MULTIPLE);
}

int cli_check_divisor(struct cli_error *err, const struct cli_option *opts, const void *base,
		      const char *name, const char *other)
{
	return check_relation(err, opts, base, name, other, DIVISOR);
}

int cli_check_at_most(struct cli_error *err, const struct cli_option *opts, const void *base,
		      const char *name, const char *other)
{
	return check_relation(err, opts, base, name, other, AT_MOST);
}

void cli_sets_free(struct cli_sets *sets)
{
	for (size_t i = 0; i < sets->n; i++)
		free(sets->v[i].name);
	free(sets->v);
	sets->v = NULL;
	sets->n = 0;
}
