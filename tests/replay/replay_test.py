#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Golden replays: small configurations of the headline replayers.

usage: replay_test.py MMU2D GOLDEN_DIR CASE [--update]

Each case runs `mmu2d REPLAYER ... --json FILE` twice: both documents must
be byte-identical outside "sim" (determinism) and equal, outside "sim", to
the committed golden file GOLDEN_DIR/CASE.json (--update rewrites it).
Then exact operation counts are checked against the kernel's arithmetic,
derived here from the configuration.
"""
import json
import os
import subprocess
import sys
import tempfile

MMU2D = os.path.abspath(sys.argv[1])
GOLDEN = sys.argv[2]
CASE = sys.argv[3]
UPDATE = len(sys.argv) > 4 and sys.argv[4] == "--update"

GiB = 1 << 30
MiB = 1 << 20

MMU_STRESS = ["--mem", "4G", "--vcpus", "4"]
LAZY = ["--guest-mem", "16G", "--vcpus", "8", "--workers", "8", "--worker-mem", "1G"]

CASES = {
    "mmu-stress-x86-stop": ["mmu-stress"] + MMU_STRESS,
    "mmu-stress-x86-skip": ["mmu-stress"] + MMU_STRESS + ["--efault", "skip"],
    "mmu-stress-arm64-stop": ["mmu-stress"] + MMU_STRESS + ["--arch", "arm64"],
    "mmu-stress-arm64-skip": ["mmu-stress"] + MMU_STRESS + ["--arch", "arm64", "--efault", "skip"],
    "lazy-accept-presplit-4k": ["lazy-accept"] + LAZY + ["--directmap", "presplit-4k"],
    "lazy-accept-split-on-demand": ["lazy-accept"] + LAZY + ["--directmap", "split-on-demand"],
    "lazy-accept-split-only": ["lazy-accept"] + LAZY + ["--directmap", "split-only"],
    "lazy-accept-nr-pages": ["lazy-accept"] + LAZY + ["--directmap", "nr-pages"],
}


def fail(msg):
    print("FAIL: %s: %s" % (CASE, msg))
    sys.exit(1)


def run_json(args, path):
    r = subprocess.run([MMU2D] + args + ["--quiet", "--json", path], capture_output=True,
                       text=True, timeout=600)
    if r.returncode != 0:
        fail("mmu2d %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr))
    with open(path, "rb") as f:
        raw = f.read()
    cut = raw.rfind(b'"sim"')
    if cut < 0:
        fail("no \"sim\" member")
    return raw[:cut], json.loads(raw)


def check_mmu_stress(doc):
    res, ctr = doc["results"], doc["counters"]
    cfg = doc["config"]
    mem, slot, vcpus = cfg["mem"], cfg["slot"], cfg["vcpus"]
    nslots = mem // slot
    slice_bytes = (mem // vcpus) & ~4095
    pages = vcpus * slice_bytes // 4096
    expect = {
        "memslots": nslots,
        "slice_bytes": slice_bytes,
    }
    for k, v in expect.items():
        if res[k] != v:
            fail("results.%s = %d, expected %d" % (k, res[k], v))
    # The memfd is pre-faulted from the host: one fault per 4K page.
    if ctr["host_faults"] != slot // 4096:
        fail("host_faults %d, expected %d" % (ctr["host_faults"], slot // 4096))
    # mprotect over the 2 GiB mapping: one notifier pair per 1 GiB PUD, two mprotects.
    per = (slot // GiB) if cfg["notifier"] == "pud" else 1
    if res["mprotect_invalidations"] != 2 * per:
        fail("mprotect invalidations %d, expected %d" % (res["mprotect_invalidations"], 2 * per))
    if ctr.get("mmu_notifier_invalidations", 0) != 2 * per:
        fail("KVM notifier invalidations %d, expected %d"
             % (ctr.get("mmu_notifier_invalidations", 0), 2 * per))
    # run1 maps every page once and the ro zap removes every one of them;
    # rw maps every page again.  Reads of stage 2 that come after their
    # page was zapped re-fault read-only mappings (R of them), which the rw
    # mprotect zaps again: installs = 2N + R, zaps = N + R, so the pages
    # mapped at the end are installs - zaps = N.
    inst, zaps = ctr["spte_installs_4k"], ctr["spte_zaps"]
    if inst - zaps != pages or zaps < pages:
        fail("spte installs %d / zaps %d: expected installs - zaps = %d, zaps >= %d"
             % (inst, zaps, pages, pages))
    if cfg["arch"] == "x86" and cfg["efault"] == "stop":
        # x86 at this size: stage 2 finishes before the zap, so R = 0.
        if inst != 2 * pages or zaps != pages:
            fail("x86 stop: installs %d / zaps %d, expected %d / %d"
                 % (inst, zaps, 2 * pages, pages))
    if cfg["efault"] == "stop":
        # One -EFAULT per vCPU (stage 3 stops there; stage 4 succeeds after RW).
        if res["efault_exits"] != vcpus:
            fail("efault exits %d, expected %d" % (res["efault_exits"], vcpus))
    else:
        # Skip: each write after its page was zapped exits once per pass.
        if not vcpus <= res["efault_exits"] <= ctr["gup_slow"]:
            fail("efault exits %d outside [%d, gup_slow %d]"
                 % (res["efault_exits"], vcpus, ctr["gup_slow"]))
    # The guest page tables: x86 1G identity map (PML4 + PDPT), arm64 4K.
    if cfg["arch"] == "x86":
        gpt = 2
    else:
        g = mem // GiB  # [4G, 4G + mem) in 4K pages: PGD, PUD, a PMD per 1G, a PTE per 2M
        gpt = 1 + 1 + g + g * 512
    if res["guest_pt_tables"] != gpt:
        fail("guest page tables %d, expected %d" % (res["guest_pt_tables"], gpt))
    # The phase times exist and the rendezvous polls: reset >= one usleep(100).
    if not (res["reset_s"] >= 100e-6 and res["run1_s"] > 0 and res["rw_s"] > 0):
        fail("implausible phase times %r" % res)


def check_lazy_accept(doc):
    res, ctr = doc["results"], doc["counters"]
    cfg = doc["config"]
    units = res["accepted_bytes"] // (2 * MiB)
    # Every accepted 2M unit became one 2M guest_memfd folio, made private by
    # one 2M RMPUPDATE, and was validated by one 2M PVALIDATE.
    if res["file_huge_bytes"] != res["accepted_bytes"]:
        fail("FileHugePages %d != accepted %d" % (res["file_huge_bytes"], res["accepted_bytes"]))
    if res["rmpupdates"] != units:
        fail("rmpupdates %d, expected %d (one per 2M unit)" % (res["rmpupdates"], units))
    if res["pvalidate_2m"] != units or res["pvalidate_4k"] != 0:
        fail("pvalidate 2m/4k %d/%d, expected %d/0"
             % (res["pvalidate_2m"], res["pvalidate_4k"], units))
    # The workers' pages are accepted, plus the zone's watermark gap.
    need = cfg["workers"] * cfg["worker_mem"]
    if not need <= res["accepted_bytes"] <= need + 2 * GiB:
        fail("accepted %d for %d bytes of workers" % (res["accepted_bytes"], need))
    pages = need // 4096
    if ctr.get("guest_page_faults", 0) != pages:
        fail("guest page faults %d, expected %d" % (ctr.get("guest_page_faults", 0), pages))
    # Acceptance: blocks are accepted as a contiguous prefix of RAM, one
    # VMGEXIT each (2 or 3 contiguous 2M entries: snp_begin_psc merges them
    # into one MAP_GPA_RANGE exit); the first accept takes 3 units (the
    # unit-aligned end extension), every later one 2: U = 2 x blocks + 1.
    blocks = res["psc_vmgexits"]
    if units != 2 * blocks + 1:
        fail("accepted units %d, expected 2 x %d blocks + 1" % (units, blocks))
    for k in ("psc_exits", "userspace_exits", "mmu_notifier_invalidations"):
        # one exit per VMGEXIT; QEMU's discard fires one notifier range each
        if ctr.get(k, 0) != blocks:
            fail("%s %d, expected %d" % (k, ctr.get(k, 0), blocks))
    for k in ("spte_installs_2m", "gmem_folios_2m"):
        if ctr.get(k, 0) != units:
            fail("%s %d, expected %d" % (k, ctr.get(k, 0), units))
    # Direct map (MECHANISMS.md 2.4): (a) 512 invalidations per 2M folio;
    # on a 2M direct map the first of them splits the folio's 2M entry
    # (one flush_tlb_all each); (b) nothing for 2M RMP updates; (c) one
    # call per folio.
    dm = cfg["directmap"]
    expect = {
        "presplit-4k": {"cpa_requests": 512 * units, "directmap_splits_2m": 0, "flush_tlb_all": 0},
        "split-on-demand": {"cpa_requests": 512 * units, "directmap_splits_2m": units,
                            "flush_tlb_all": units},
        "split-only": {"cpa_requests": 0, "directmap_splits_2m": 0, "flush_tlb_all": 0},
        "nr-pages": {"cpa_requests": units, "directmap_splits_2m": 0, "flush_tlb_all": 0},
    }[dm]
    for k, v in expect.items():
        if ctr.get(k, 0) != v:
            fail("%s: %s %d, expected %d" % (dm, k, ctr.get(k, 0), v))
    if dm == "presplit-4k" and (res["directmap_2m"] or res["directmap_1g"]):
        fail("presplit-4k: large direct-map entries left")


def main():
    if CASE not in CASES:
        fail("unknown case")
    args = CASES[CASE]
    with tempfile.TemporaryDirectory() as tmp:
        a, doc = run_json(args, os.path.join(tmp, "a.json"))
        b, _ = run_json(args, os.path.join(tmp, "b.json"))
    if a != b:
        fail("two runs differ outside \"sim\"")
    golden = os.path.join(GOLDEN, CASE + ".json")
    if UPDATE:
        with open(golden, "wb") as f:
            f.write(a)
    else:
        with open(golden, "rb") as f:
            g = f.read()
        if g != a:
            fail("output differs from %s (run with --update after a deliberate change)" % golden)
    if args[0] == "mmu-stress":
        check_mmu_stress(doc)
    else:
        check_lazy_accept(doc)
    print("ok: %s" % CASE)


main()
