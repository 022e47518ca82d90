#!/bin/sh
# tests/check-symbols.sh LIB HEADER_DIR - the symbols-leak test (STYLE R4).
# Every dynamic symbol the shared library defines must be an m2d_* name
# declared in a public header; nothing else may leak.
set -eu
lib=$1
hdrdir=$2
syms=$(nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' | sort -u)
[ -n "$syms" ] || { echo "no dynamic symbols in $lib"; exit 1; }
bad=0
for s in $syms; do
	case $s in
	m2d_*) ;;
	*) echo "leaked symbol (not m2d_*): $s"; bad=1; continue ;;
	esac
	if ! grep -q -w -- "$s" "$hdrdir"/*.h; then
		echo "exported but not in a public header: $s"
		bad=1
	fi
done
n=$(echo "$syms" | wc -l)
[ $bad -eq 0 ] && echo "ok: $n exported symbols, all m2d_* and public"
exit $bad
