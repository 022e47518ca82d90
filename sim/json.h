/* SPDX-License-Identifier: MIT */
/*
 * sim/json.h - a small deterministic JSON writer for the CLI's output.
 *
 * Output is pretty-printed with two spaces per level (arrays of scalars on
 * one line, "[1, 2, 3]"; arrays of objects one element per line; an array
 * mixing the two is rejected), keys appear in the
 * order they are emitted (callers emit them in a fixed order), strings are
 * escaped per RFC 8259 and numbers are formatted without locale or
 * platform dependence:
 *   - integers in decimal;
 *   - doubles as the shortest of "%.15g", "%.16g", "%.17g" that reads back
 *     to the same double (so every value round-trips exactly and most print
 *     short), with non-finite values written as null.
 * The same calls therefore always give the same bytes.
 *
 *	struct json_writer w;
 *	json_init(&w, f);
 *	json_object_begin(&w, NULL);
 *	json_uint(&w, "seed", 1);
 *	json_object_end(&w);
 *	json_finish(&w);	// final newline
 *
 * Errors of the underlying stream are sticky: check json_error() (or the
 * stream) once at the end.
 */
#ifndef M2D_SIM_JSON_H
#define M2D_SIM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json_writer {
	FILE *f;                     /* destination stream */
	int depth;                   /* open containers; 0 = before/after the root value */
	bool empty[JSON_MAX_DEPTH];  /* container at this depth has no member yet */
	bool array[JSON_MAX_DEPTH];  /* container at this depth is an array */
	bool multiline[JSON_MAX_DEPTH]; /* array holding containers, one per line */
	bool error;                  /* nesting misuse or a failed write happened */
};

void json_init(struct json_writer *w, FILE *f);

/*
 * Members and array elements.  @key names the member inside an object and
 * must be NULL inside an array and for the root value.
 */
void json_object_begin(struct json_writer *w, const char *key);
void json_object_end(struct json_writer *w);
void json_array_begin(struct json_writer *w, const char *key);
void json_array_end(struct json_writer *w);
void json_string(struct json_writer *w, const char *key, const char *s);
void json_uint(struct json_writer *w, const char *key, uint64_t v);
void json_int(struct json_writer *w, const char *key, int64_t v);
void json_double(struct json_writer *w, const char *key, double v);
void json_bool(struct json_writer *w, const char *key, bool v);
void json_null(struct json_writer *w, const char *key);

/*
 * json_raw_members() - insert whole members written by another emitter into
 * the current object, which must be at depth 1: @text holds members
 * indented by two spaces and separated by commas, with no leading or
 * trailing separator, as m2d_sim_emit_json() writes them.  Text that is
 * empty or only whitespace adds nothing.
 */
void json_raw_members(struct json_writer *w, const char *text, size_t len);

/* End the document with a newline. */
void json_finish(struct json_writer *w);

/* True if the writer was misused or a write to the stream failed. */
bool json_error(const struct json_writer *w);

/*
 * json_format_double() - format @v as JSON into @buf (see the header
 * comment for the format).  @len of 32 is always enough.
 * Return: the string length.
 */
size_t json_format_double(char *buf, size_t len, double v);

/* Write @s as a JSON string literal, quotes included. */
void json_write_string(FILE *f, const char *s);

#endif /* M2D_SIM_JSON_H */
