#!/bin/sh
# tests/install-test.sh BUILDDIR SRCDIR PREFIX LIBDIR CC SANITIZE - install
# into a temporary DESTDIR and build examples/version.c against it with
# pkg-config.  Skipped (77) without pkg-config or in sanitizer builds (the
# example would need the sanitizer runtime).
set -eu
builddir=$1
srcdir=$2
prefix=$3
libdir=$4
cc=$5
sanitize=${6:-none}
if [ "$sanitize" != none ] || ! command -v pkg-config >/dev/null 2>&1; then
	echo "skipped: sanitize=$sanitize or no pkg-config"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
DESTDIR=$tmp meson install -C "$builddir" --no-rebuild --quiet >/dev/null
PKG_CONFIG_PATH=$tmp$libdir/pkgconfig
PKG_CONFIG_SYSROOT_DIR=$tmp
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
unset PKG_CONFIG_LIBDIR || true
cflags=$(pkg-config --cflags mmu2d)
libs=$(pkg-config --libs mmu2d)
echo "pkg-config: cflags '$cflags' libs '$libs'"
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Werror $cflags "$srcdir/examples/version.c" -o "$tmp/version" $libs
out=$(LD_LIBRARY_PATH=$tmp$libdir "$tmp/version")
echo "$out"
case $out in libmmu2d*) ;; *) echo "unexpected output"; exit 1 ;; esac
# The installed headers must not need the build tree.
for h in "$tmp$prefix"/include/mmu2d/*.h; do
	printf '#include <mmu2d/%s>\nint main(void) { return 0; }\n' "$(basename "$h")" >"$tmp/h.c"
	$cc -std=c11 -pedantic -Werror -Wall -I"$tmp$prefix/include" -c "$tmp/h.c" -o "$tmp/h.o"
done
