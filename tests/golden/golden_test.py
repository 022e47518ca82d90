#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Golden replays: a small configuration of a replayer, run twice; the JSON up to
the "sim" member must be byte-identical across the two runs and to the committed
file tests/golden/NAME.json.

usage: golden_test.py MMU2D NAME [REPLAYER ARGS...]
M2D_GOLDEN_UPDATE=1 rewrites the committed file (then review the diff).
"""
import os
import subprocess
import sys
import tempfile

MMU2D, NAME, ARGS = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3:]
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), NAME + ".json")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def strip_sim(text):
    cut = text.find('\n  "sim": {')
    if cut < 0:
        fail("no \"sim\" member in %r" % text[:200])
    return text[:cut] + "\n"


def replay():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        r = subprocess.run([MMU2D] + ARGS + ["--quiet", "--no-progress", "--json", out],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            fail("mmu2d %s: exit %d: %s" % (" ".join(ARGS), r.returncode, r.stderr))
        with open(out) as f:
            return strip_sim(f.read())


first, second = replay(), replay()
if first != second:
    fail("%s: two runs differ outside \"sim\"" % NAME)
if os.environ.get("M2D_GOLDEN_UPDATE") == "1":
    with open(GOLDEN, "w") as f:
        f.write(first)
    print("updated %s" % GOLDEN)
    sys.exit(0)
with open(GOLDEN) as f:
    want = f.read()
if first != want:
    import difflib
    diff = difflib.unified_diff(want.splitlines(), first.splitlines(), "golden", "now",
                                lineterm="", n=2)
    fail("%s: differs from %s:\n%s" % (NAME, GOLDEN, "\n".join(list(diff)[:60])))
print("ok  %s: identical across two runs and to %s" % (NAME, os.path.basename(GOLDEN)))
