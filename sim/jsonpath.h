/* SPDX-License-Identifier: MIT */
/*
 * sim/jsonpath.h - read one number back out of a JSON document.
 *
 * Enough JSON (RFC 8259) to find a value by a key path in the documents the
 * CLI writes: "results.iterations[0].dirty_s" descends into member
 * "results", member "iterations", element 0, member "dirty_s".
 */
#ifndef M2D_SIM_JSONPATH_H
#define M2D_SIM_JSONPATH_H

#include <stddef.h>

/*
 * json_path_number() - the number at @path in the JSON text @text.
 * A JSON null reads as NAN.
 * Return: 0, -ENOENT (no such member or element), -EINVAL (malformed JSON,
 * a bad path, or the value is not a number or null).
 */
int json_path_number(const char *text, size_t len, const char *path, double *out);

#endif /* M2D_SIM_JSONPATH_H */
