#!/bin/bash
# check_identical.sh: the invariant of every simulator speed-up: the JSON outside "sim"
# (virtual-time results, breakdown, locks, counters) is byte-identical.
#
#   bench/check_identical.sh record DIR [BUILD]   run the configurations, store their JSON in DIR
#   bench/check_identical.sh check  DIR [BUILD]   run them again and diff against DIR
#
# BUILD is a meson build directory (default: build). Record with the build before a change,
# check with the build after it. Exit status: 0 identical, 1 a difference (printed), 2 usage.
set -euo pipefail
mode=${1:-}; dir=${2:-}; build=${3:-build}
[ -n "$mode" ] && [ -n "$dir" ] || { echo "usage: $0 record|check DIR [BUILD]" >&2; exit 2; }
mmu2d=$build/sim/mmu2d
[ -x "$mmu2d" ] || { echo "$0: $mmu2d not built" >&2; exit 2; }
mkdir -p "$dir"
status=0
run() {
	name=$1; shift
	out=$(mktemp)
	if ! "$mmu2d" "$@" --quiet --no-progress --json - | jq -S 'del(.sim)' > "$out"; then
		echo "FAILED $name: $mmu2d $*"; rm -f "$out"; status=1; return
	fi
	if [ "$mode" = record ]; then
		mv "$out" "$dir/$name.json"
		echo "recorded $name"
	elif cmp -s "$out" "$dir/$name.json"; then
		echo "identical $name"; rm -f "$out"
	else
		echo "DIFFERENT $name"; diff "$dir/$name.json" "$out" | head -20; rm -f "$out"
		status=1
	fi
}
run stress-x86-8g      mmu-stress --mem 8G
run stress-x86-32g     mmu-stress --mem 32G
run stress-arm64-8g    mmu-stress --arch arm64 --mem 8G
run stress-arm64-32g   mmu-stress --arch arm64 --mem 32G
run stress-x86-skip    mmu-stress --mem 8G --efault skip
run stress-arm64-skip  mmu-stress --arch arm64 --mem 8G --efault skip
run stress-x86-mmaplock mmu-stress --mem 8G --fault-mmap-lock --notifier p4d
for p in presplit-4k split-on-demand split-only nr-pages; do
	run lazy-32g-$p lazy-accept --guest-mem 32G --worker-mem 200M --directmap $p
done
run lazy-32g-nolock-restore lazy-accept --guest-mem 32G --worker-mem 200M --cpa-lock none --restore-2m --flush-on-invalidate
run lazy-32g-gmem4k lazy-accept --guest-mem 32G --gmem-folio 4k --vcpus 16 --workers 16 --worker-mem 1G
for k in spin rwlock-read rwlock-write mutex rwsem-read rwsem-write; do
	run lock-storm-$k lock-storm --lock $k --cpus 32 --ops 2000 --numa-nodes 2
done
exit $status
