// SPDX-License-Identifier: MIT
/* sim/jsonpath.c - find a number in a JSON document by key path (see jsonpath.h). */
#include "jsonpath.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct reader {
	const char *p, *end;
	int depth;
};

#define MAX_DEPTH 64

static void ws(struct reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool lit(struct reader *r, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, s, n))
		return false;
	r->p += n;
	return true;
}

/* Skip a string; if @key, compare its raw (unescaped-free) bytes with @key. */
static int string(struct reader *r, const char *key, size_t keylen, bool *equal)
{
	const char *start;

	if (r->p >= r->end || *r->p != '"')
		return -EINVAL;
	start = ++r->p;
	while (r->p < r->end && *r->p != '"') {
		if ((unsigned char)*r->p < 0x20)
			return -EINVAL;
		if (*r->p == '\\' && ++r->p >= r->end)
			return -EINVAL;
		r->p++;
	}
	if (r->p >= r->end)
		return -EINVAL;
	if (equal)
		*equal = key && (size_t)(r->p - start) == keylen && !memcmp(start, key, keylen);
	r->p++;
	return 0;
}

static int number(struct reader *r, double *out)
{
	char buf[64];
	size_t n = 0;
	char *end;

	while (r->p + n < r->end && n < sizeof(buf) - 1 && strchr("+-0123456789.eE", r->p[n]))
		n++;
	if (!n)
		return -EINVAL;
	memcpy(buf, r->p, n);
	buf[n] = '\0';
	*out = strtod(buf, &end);
	if (*end)
		return -EINVAL;
	r->p += n;
	return 0;
}

static int skip_value(struct reader *r);

static int skip_container(struct reader *r, char close)
{
	bool object = close == '}';
	int ret;

	if (++r->depth > MAX_DEPTH)
		return -EINVAL;
	r->p++;
	ws(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		r->depth--;
		return 0;
	}
	for (;;) {
		ws(r);
		if (object) {
			if ((ret = string(r, NULL, 0, NULL)))
				return ret;
			ws(r);
			if (r->p >= r->end || *r->p++ != ':')
				return -EINVAL;
		}
		if ((ret = skip_value(r)))
			return ret;
		ws(r);
		if (r->p >= r->end)
			return -EINVAL;
		if (*r->p == ',') {
			r->p++;
			continue;
		}
		if (*r->p++ != close)
			return -EINVAL;
		r->depth--;
		return 0;
	}
}

static int skip_value(struct reader *r)
{
	double d;

	ws(r);
	if (r->p >= r->end)
		return -EINVAL;
	switch (*r->p) {
	case '{':
		return skip_container(r, '}');
	case '[':
		return skip_container(r, ']');
	case '"':
		return string(r, NULL, 0, NULL);
	default:
		if (lit(r, "true") || lit(r, "false") || lit(r, "null"))
			return 0;
		return number(r, &d);
	}
}

/* Enter the container @open at r->p: 0, or -ENOENT if it is not one or is empty. */
static int enter(struct reader *r, char open, char close)
{
	ws(r);
	if (r->p >= r->end || *r->p != open)
		return -ENOENT;
	r->p++;
	ws(r);
	return r->p < r->end && *r->p == close ? -ENOENT : 0;
}

/* Skip the current value and its separator: 0 if another item follows, -ENOENT at @close. */
static int next_item(struct reader *r, char close)
{
	int ret = skip_value(r);

	if (ret)
		return ret;
	ws(r);
	if (r->p >= r->end)
		return -EINVAL;
	if (*r->p == close)
		return -ENOENT;
	return *r->p++ == ',' ? 0 : -EINVAL;
}

/* Position @r at the value of member @key (@keylen bytes) of the object at r->p. */
static int find_member(struct reader *r, const char *key, size_t keylen)
{
	bool eq;
	int ret = enter(r, '{', '}');

	while (!ret) {
		ws(r);
		if ((ret = string(r, key, keylen, &eq)))
			return ret;
		ws(r);
		if (r->p >= r->end || *r->p++ != ':')
			return -EINVAL;
		ws(r);
		if (eq)
			return 0;
		ret = next_item(r, '}');
	}
	return ret;
}

/* Position @r at element @idx of the array at r->p. */
static int find_element(struct reader *r, unsigned long idx)
{
	int ret = enter(r, '[', ']');

	for (unsigned long i = 0; !ret; i++) {
		ws(r);
		if (i == idx)
			return 0;
		ret = next_item(r, ']');
	}
	return ret;
}

int json_path_number(const char *text, size_t len, const char *path, double *out)
{
	struct reader r = { .p = text, .end = text + len };
	const char *k = path;
	int ret;

	while (*k) {
		size_t n = strcspn(k, ".[");

		if (!n)
			return -EINVAL;
		if ((ret = find_member(&r, k, n)))
			return ret;
		k += n;
		while (*k == '[') {
			char *end;
			unsigned long idx = strtoul(k + 1, &end, 10);

			if (end == k + 1 || *end != ']')
				return -EINVAL;
			if ((ret = find_element(&r, idx)))
				return ret;
			k = end + 1;
		}
		if (*k == '.')
			k++;
		else if (*k)
			return -EINVAL;
	}
	ws(&r);
	if (lit(&r, "null")) {
		*out = NAN;
		return 0;
	}
	if (r.p < r.end && (*r.p == '-' || isdigit((unsigned char)*r.p)))
		return number(&r, out);
	return -EINVAL;
}
