// SPDX-License-Identifier: MIT
/* sim/json.c - deterministic JSON writer (see json.h for the format). */
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void json_init(struct json_writer *w, FILE *f)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
}

static void indent(struct json_writer *w)
{
	for (int i = 0; i < w->depth; i++)
		fputs("  ", w->f);
}

/* Length of the valid UTF-8 sequence at @s, or 0 if it is not valid. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Reject overlong forms, surrogates and values above U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void json_write_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		size_t n;

		switch (*s) {
		case '"': fputs("\\\"", f); s++; continue;
		case '\\': fputs("\\\\", f); s++; continue;
		case '\n': fputs("\\n", f); s++; continue;
		case '\r': fputs("\\r", f); s++; continue;
		case '\t': fputs("\\t", f); s++; continue;
		case '\b': fputs("\\b", f); s++; continue;
		case '\f': fputs("\\f", f); s++; continue;
		default: break;
		}
		if (*s < 0x20) {
			fprintf(f, "\\u%04x", *s);
			s++;
			continue;
		}
		n = utf8_len(s);
		if (!n) {
			/* Not UTF-8 (e.g. a file name): U+FFFD keeps the document valid. */
			fputs("\\ufffd", f);
			s++;
			continue;
		}
		fwrite(s, 1, n, f);
		s += n;
	}
	fputc('"', f);
}

/*
 * Separator, indentation and key of the next member or element.  Scalars
 * in an array share one line ("[1, 2, 3]"); objects and arrays inside an
 * array start on lines of their own.
 */
static bool member(struct json_writer *w, const char *key, bool container)
{
	int d = w->depth;

	if (d == 0) {
		if (key)
			w->error = true;
		return !w->error;
	}
	if ((key != NULL) != !w->array[d]) {
		w->error = true; /* a key inside an array, or none inside an object */
		return false;
	}
	if (w->array[d] && !container && !w->multiline[d]) {
		fputs(w->empty[d] ? "" : ", ", w->f);
		w->empty[d] = false;
		return true;
	}
	if (w->array[d] && !w->multiline[d] && !w->empty[d]) {
		w->error = true; /* a container after scalars in one array */
		return false;
	}
	if (w->array[d])
		w->multiline[d] = true;
	fputs(w->empty[d] ? "\n" : ",\n", w->f);
	w->empty[d] = false;
	indent(w);
	if (key) {
		json_write_string(w->f, key);
		fputs(": ", w->f);
	}
	return true;
}

static void open_container(struct json_writer *w, const char *key, char c)
{
	if (!member(w, key, true) || w->depth + 1 >= JSON_MAX_DEPTH) {
		w->error = true;
		return;
	}
	fputc(c, w->f);
	w->depth++;
	w->empty[w->depth] = true;
	w->array[w->depth] = c == '[';
	w->multiline[w->depth] = false;
}

static void close_container(struct json_writer *w, char c)
{
	if (w->depth == 0 || w->array[w->depth] != (c == ']')) {
		w->error = true;
		return;
	}
	if (!w->empty[w->depth] && (!w->array[w->depth] || w->multiline[w->depth])) {
		fputc('\n', w->f);
		w->depth--;
		indent(w);
	} else {
		w->depth--;
	}
	fputc(c, w->f);
}

void json_object_begin(struct json_writer *w, const char *key)
{
	open_container(w, key, '{');
}

void json_object_end(struct json_writer *w)
{
	close_container(w, '}');
}

void json_array_begin(struct json_writer *w, const char *key)
{
	open_container(w, key, '[');
}

void json_array_end(struct json_writer *w)
{
	close_container(w, ']');
}

void json_string(struct json_writer *w, const char *key, const char *s)
{
	if (!member(w, key, false))
		return;
	if (s)
		json_write_string(w->f, s);
	else
		fputs("null", w->f);
}

void json_uint(struct json_writer *w, const char *key, uint64_t v)
{
	if (member(w, key, false))
		fprintf(w->f, "%" PRIu64, v);
}

void json_int(struct json_writer *w, const char *key, int64_t v)
{
	if (member(w, key, false))
		fprintf(w->f, "%" PRId64, v);
}

size_t json_format_double(char *buf, size_t len, double v)
{
	int n = 0;

	if (!isfinite(v))
		return (size_t)snprintf(buf, len, "null");
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return (size_t)n;
}

void json_double(struct json_writer *w, const char *key, double v)
{
	char buf[32];

	if (!member(w, key, false))
		return;
	json_format_double(buf, sizeof(buf), v);
	fputs(buf, w->f);
}

void json_bool(struct json_writer *w, const char *key, bool v)
{
	if (member(w, key, false))
		fputs(v ? "true" : "false", w->f);
}

void json_null(struct json_writer *w, const char *key)
{
	if (member(w, key, false))
		fputs("null", w->f);
}

void json_raw_members(struct json_writer *w, const char *text, size_t len)
{
	size_t end = len;

	while (end && (text[end - 1] == ' ' || text[end - 1] == '\t' || text[end - 1] == '\r' ||
		       text[end - 1] == '\n'))
		end--;
	if (!end)
		return;
	if (w->depth != 1 || w->array[1]) {
		w->error = true;
		return;
	}
	fputs(w->empty[1] ? "\n" : ",\n", w->f);
	w->empty[1] = false;
	fwrite(text, 1, end, w->f);
}

void json_finish(struct json_writer *w)
{
	if (w->depth != 0)
		w->error = true;
	fputc('\n', w->f);
}

bool json_error(const struct json_writer *w)
{
	return w->error || ferror(w->f);
}
