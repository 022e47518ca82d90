#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""CLI contract tests for mmu2d (DESIGN.md section 6, docs/cli.md).

usage: cli_test.py MMU2D CHECK
CHECK is one of: bad-input, json, deterministic, help, profile, outputs, random
(seeded random command lines checked against a model of the grammar; the seed is
printed, M2D_TEST_SEED=N reproduces a run).
Prints one line per case; exits 1 on the first failure with the details.
"""
import json
import os
import pty
import random
import signal
import subprocess
import sys
import tempfile
import time

MMU2D = os.path.abspath(sys.argv[1])
CHECK = sys.argv[2]
# Small and fast, but still every thread doing many operations.
FAST = ["--cpus", "4", "--ops", "200"]
# Small configurations of the heavy replayers (their defaults are full scale).
SMALL = {
    "lock-storm": FAST,
    "mmu-stress": ["--mem", "4G", "--vcpus", "4"],
    "lazy-accept": ["--guest-mem", "16G", "--vcpus", "8", "--workers", "8",
                    "--worker-mem", "1G"],
}
ENVELOPE = ["mmu2d_version", "replayer", "profile", "seed", "config", "results",
            "breakdown", "locks", "counters", "sim"]


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(args, cwd=None, env=None):
    return subprocess.run([MMU2D] + args, cwd=cwd, env=env, capture_output=True,
                          text=True, errors="replace", timeout=120)


def replayers():
    r = run(["--help"])
    if r.returncode != 0:
        fail("mmu2d --help exited %d" % r.returncode)
    lines = r.stdout.splitlines()
    start = lines.index("Replayers:") + 1
    names = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        names.append(line.split()[0])
    if not names:
        fail("mmu2d --help lists no replayers")
    return names


def replayer_options(name):
    """Option names of the replayer's own section of its --help."""
    r = run([name, "--help"])
    opts, inside = [], False
    for line in r.stdout.splitlines():
        if line == "%s options:" % name:
            inside = True
            continue
        if inside and not line.strip():
            break
        if inside and line.startswith("  --"):
            opt = line.split()[0]
            opts.append(opt.replace("--[no-]", "").lstrip("-"))
    return opts


def expect_usage_error(args, option, cwd):
    """Exit 2, nothing on stdout, one stderr line naming @option, no files."""
    before = sorted(os.listdir(cwd))
    r = run(args, cwd=cwd)
    lines = r.stderr.splitlines()
    where = "mmu2d %s" % " ".join(args)
    if r.returncode != 2:
        fail("%s: exit %d, expected 2 (stderr: %r)" % (where, r.returncode, r.stderr))
    if len(lines) != 1 or not r.stderr.endswith("\n"):
        fail("%s: expected exactly one stderr line, got %r" % (where, r.stderr))
    if not lines[0].startswith("mmu2d: ") or option not in lines[0]:
        fail("%s: message %r does not name %s" % (where, lines[0], option))
    if r.stdout:
        fail("%s: wrote to stdout: %r" % (where, r.stdout))
    after = sorted(os.listdir(cwd))
    if after != before:
        fail("%s: left files behind: %s" % (where, sorted(set(after) - set(before))))
    print("ok  %-40s %s" % (" ".join(args[7:] or args)[-40:], lines[0]))


# (replayer, arguments, the option the one-line error must name)
EXPERIMENT_BAD_INPUT = [
    ("dirty-log", ["--vcpus", "0"], "--vcpus"),
    ("dirty-log", ["--vcpus", "1024"], "--vcpus"),
    ("dirty-log", ["--mem-per-vcpu", "1000"], "--mem-per-vcpu"),
    ("dirty-log", ["--mem-per-vcpu", "3M", "--vcpus", "1"], "--mem-per-vcpu"),
    ("dirty-log", ["--backing", "hugetlb-4k"], "--backing"),
    ("dirty-log", ["--mmu", "ept"], "--mmu"),
    ("dirty-log", ["--eager-split", "yes"], "--eager-split"),
    ("dirty-log", ["--write-percent", "0"], "--write-percent"),
    ("dirty-log", ["--write-percent", "101"], "--write-percent"),
    ("dirty-log", ["--initially-all-set=1"], "--initially-all-set"),
    ("dirty-log", ["--iterations", "0"], "--iterations"),
    ("hgm-collapse", ["--mapcount", "per-page"], "--mapcount"),
    ("hgm-collapse", ["--path", "4k-1g-2m"], "--path"),
    ("hgm-collapse", ["--mem", "1536M"], "--mem"),
    ("hgm-collapse", ["--mem", "1G", "--vcpus", "1000"], "--vcpus"),
    ("hgm-collapse", ["--vcpus", "0"], "--vcpus"),
    ("gmem-churn", ["--policy", "deny"], "--policy"),
    ("gmem-churn", ["--gmem-folio", "1g"], "--gmem-folio"),
    ("gmem-churn", ["--mem", "3M"], "--mem"),
    ("gmem-churn", ["--conversions", "0"], "--conversions"),
]


def check_bad_input():
    with tempfile.TemporaryDirectory() as tmp:
        bad_profile = os.path.join(tmp, "bad.profile")
        with open(bad_profile, "w") as f:
            f.write("lock_acquire = fast  # fitted\n")
        work = os.path.join(tmp, "work")
        os.mkdir(work)
        cases = [
            (["--cpus", "0"], "--cpus"), (["--cpus", "1025"], "--cpus"),
            (["--cpus", "x"], "--cpus"), (["--cpus", "-1"], "--cpus"),
            (["--cpus", "1e3"], "--cpus"), (["--cpus", "99999999999999999999999"], "--cpus"),
            (["--cpus"], "--cpus"), (["--cpus="], "--cpus"),
            (["--lock", "mips"], "--lock"), (["--lock", "SPIN"], "--lock"),
            (["--lock", ""], "--lock"),
            (["--hold-ns", "-5"], "--hold-ns"), (["--hold-ns", "1000000001"], "--hold-ns"),
            (["--hold-ns", "1.5"], "--hold-ns"),
            (["--think-ns", "abc"], "--think-ns"), (["--think-ns", "2000000000"], "--think-ns"),
            (["--ops", "0"], "--ops"), (["--ops", "1000000001"], "--ops"),
            (["--numa-nodes", "0"], "--numa-nodes"), (["--numa-nodes", "3"], "--numa-nodes"),
            (["--numa-nodes", "256"], "--numa-nodes"),
            (["--profile", "nosuch"], "--profile"),
            (["--profile", "./missing.profile"], "--profile"),
            (["--profile", bad_profile], "--profile"),
            (["--profile"], "--profile"),
            (["--set", "x"], "--set"), (["--set", "=1"], "--set"),
            (["--set", "lock_acquire=-1"], "--set"), (["--set", "lock_acquire=nan"], "--set"),
            (["--set", "no_such_parameter=1"], "--set"),
            (["--seed", "-1"], "--seed"), (["--seed", "x"], "--seed"),
            (["--seed", "18446744073709551616"], "--seed"),
            (["--json", ""], "--json"), (["--json", "/nonexistent/dir/out.json"], "--json"),
            (["--json", tmp], "--json"),
            (["--trace", "-"], "--trace"),
            (["--progress=1"], "--progress"), (["--quiet=yes"], "--quiet"),
            (["--no-quiet=1"], "--no-quiet"),
            (["--bogus"], "--bogus"), (["stray"], "stray"), (["-x"], "-x"),
        ]
        for args, option in cases:
            # --json first: a case that fails must not create it.
            expect_usage_error(["lock-storm", "--json", "out.json", "--quiet"] + FAST + args,
                               option, work)
        # The experiment replayers (dirty-log, hgm-collapse, gmem-churn).
        for name, args, option in EXPERIMENT_BAD_INPUT:
            if name in replayers():
                expect_usage_error([name, "--json", "out.json", "--quiet"] + args, option, work)
        expect_usage_error(["no-such-replayer"], "no-such-replayer", work)
        # The headline replayers: every option with an invalid value, sizes
        # that do not divide, more vCPUs than host CPUs.
        ms = ["mmu-stress", "--json", "out.json", "--quiet"]
        for args, option in [
                (["--arch", "riscv"], "--arch"), (["--arch", "X86"], "--arch"),
                (["--vcpus", "0"], "--vcpus"), (["--vcpus", "64"], "--vcpus"),
                (["--vcpus", "65"], "--vcpus"), (["--vcpus", "x"], "--vcpus"),
                (["--mem", "0"], "--mem"), (["--mem", "3G"], "--mem"),
                (["--mem", "1536M"], "--mem"), (["--mem", "2T"], "--mem"),
                (["--mem", "1.5G"], "--mem"),
                (["--slot", "0"], "--slot"), (["--slot", "512M"], "--slot"),
                (["--slot", "3G", "--mem", "128G"], "--mem"),
                (["--efault", "ignore"], "--efault"), (["--notifier", "pmd"], "--notifier"),
                (["--fault-mmap-lock=1"], "--fault-mmap-lock"), (["--bogus"], "--bogus")]:
            expect_usage_error(ms + args, option, work)
        la = ["lazy-accept", "--json", "out.json", "--quiet"]
        for args, option in [
                (["--guest-mem", "0"], "--guest-mem"), (["--guest-mem", "6M"], "--guest-mem"),
                (["--guest-mem", "5T"], "--guest-mem"), (["--guest-mem", "1G", "--workers", "1",
                                                          "--vcpus", "1"], "--worker-mem"),
                (["--vcpus", "0"], "--vcpus"), (["--vcpus", "257"], "--vcpus"),
                (["--vcpus", "200", "--pin", "node0"], "--vcpus"),
                (["--workers", "0"], "--workers"), (["--workers", "129"], "--workers"),
                (["--worker-mem", "0"], "--worker-mem"), (["--worker-mem", "5000"], "--worker-mem"),
                (["--directmap", "1g"], "--directmap"), (["--cpa-lock", "per-cpu"], "--cpa-lock"),
                (["--restore-2m=yes"], "--restore-2m"),
                (["--flush-on-invalidate=1"], "--flush-on-invalidate"),
                (["--pin", "node1"], "--pin"), (["--gmem-folio", "1g"], "--gmem-folio"),
                (["--bogus"], "--bogus")]:
            expect_usage_error(la + args, option, work)
        expect_usage_error(["profile", "show", "nosuch"], "nosuch", work)
        expect_usage_error(["profile", "frobnicate"], "frobnicate", work)


def load_json(r, where):
    if r.returncode != 0:
        fail("%s: exit %d: %s" % (where, r.returncode, r.stderr))
    tool = subprocess.run([sys.executable, "-m", "json.tool"], input=r.stdout,
                          capture_output=True, text=True)
    if tool.returncode != 0:
        fail("%s: python3 -m json.tool rejects the output: %s" % (where, tool.stderr))
    return json.loads(r.stdout)


def check_json():
    for name in replayers():
        args = [name, "--json", "-", "--quiet"] + SMALL.get(name, [])
        r = run(args)
        doc = load_json(r, " ".join(args))
        if list(doc) != ENVELOPE:
            fail("%s: envelope keys %s, expected %s" % (name, list(doc), ENVELOPE))
        if doc["replayer"] != name or doc["seed"] != 1:
            fail("%s: replayer/seed not echoed: %r %r" % (name, doc["replayer"], doc["seed"]))
        opts = [o.replace("-", "_") for o in replayer_options(name)]
        missing = [o for o in opts if o not in doc["config"]]
        if missing:
            fail("%s: config lacks options %s" % (name, missing))
        if list(doc["sim"]) != ["wall_s", "events", "peak_rss_bytes"]:
            fail("%s: sim keys %s" % (name, list(doc["sim"])))
        print("ok  %s --json - parses; envelope and config complete" % name)

    # lock-storm specifics: results, echo of effective values, human output not on stdout.
    r = run(["lock-storm", "--json", "-", "--cpus", "6", "--numa-nodes", "3", "--lock",
             "rwsem-read", "--ops", "50", "--seed", "42", "--set", "lock_acquire=7"])
    doc = load_json(r, "lock-storm --json - (echo)")
    cfg = doc["config"]
    want = {"cpus": 6, "lock": "rwsem-read", "hold_ns": 100, "think_ns": 1000, "ops": 50,
            "numa_nodes": 3, "set": {"lock_acquire": 7}}
    if cfg != want:
        fail("config echo %r, expected %r" % (cfg, want))
    if doc["seed"] != 42 or doc["profile"] != "x86":
        fail("seed/profile echo: %r %r" % (doc["seed"], doc["profile"]))
    res = doc["results"]
    for key in ["throughput_ops_per_s", "mean_wait_ns", "max_wait_ns", "fairness"]:
        if key not in res:
            fail("results lack %s: %r" % (key, res))
    if len(res["ops_per_cpu"]) != 6 or sum(res["ops_per_cpu"]) != res["ops_total"]:
        fail("ops_per_cpu inconsistent: %r" % res)
    if not 0 < res["fairness"] <= 1 or res["ops_max_per_cpu"] != 50:
        fail("fairness/ops out of range: %r" % res)
    if res["mean_wait_ns"] < 7 or res["max_wait_ns"] < 7:
        fail("--set lock_acquire=7 not applied to acquire waits: %r" % res)
    if "Throughput" not in r.stderr:
        fail("with --json -, the human-readable output belongs on stderr: %r" % r.stderr)
    print("ok  lock-storm echoes effective values; results consistent")

    # A zero-length run has no throughput: JSON null, still valid.
    r = run(["lock-storm", "--json", "-", "--quiet", "--hold-ns", "0", "--think-ns", "0",
             "--set", "lock_acquire=0"] + FAST)
    doc = load_json(r, "lock-storm zero-length")
    if doc["results"]["duration_s"] == 0 and doc["results"]["throughput_ops_per_s"] is not None:
        fail("zero-length run: throughput should be null: %r" % doc["results"])
    print("ok  zero-length run gives valid JSON")

    # dirty-log --s2-relax-tlbi auto: broadcast on the 6.1/6.2 profiles, except with eager
    # splitting (its series carries "Use local TLBI on permission relaxation").
    small = ["dirty-log", "--json", "-", "--quiet", "--arch", "arm64", "--vcpus", "1",
             "--mem-per-vcpu", "2M", "--backing", "hugetlb-2m"]
    for profile, split, relax, want in [("arm64-2023", "off", "auto", True),
                                        ("arm64-2023", "on", "auto", False),
                                        ("arm64-2022", "off", "auto", True),
                                        ("arm64-2022", "on", "auto", False),
                                        ("arm64", "off", "auto", False),
                                        ("arm64-2023", "on", "is", True),
                                        ("arm64-2023", "off", "nsh", False)]:
        args = small + ["--profile", profile, "--eager-split", split, "--s2-relax-tlbi", relax]
        doc = load_json(run(args), " ".join(args))
        if doc["results"]["s2_relax_tlbi_is"] is not want:
            fail("%s: s2_relax_tlbi_is %r, expected %r" % (" ".join(args),
                                                         doc["results"]["s2_relax_tlbi_is"],
                                                         want))
    print("ok  dirty-log --s2-relax-tlbi auto follows the profile and eager splitting")


def strip_sim(text):
    """The document up to the "sim" member, which is last and may differ."""
    cut = text.find('\n  "sim": {')
    if cut < 0:
        fail("no \"sim\" member in %r" % text[:200])
    return text[:cut]


def check_deterministic():
    configs = [FAST, ["--cpus", "8", "--numa-nodes", "2", "--lock", "mutex", "--ops", "300"],
               ["--cpus", "3", "--lock", "rwlock-read", "--seed", "7", "--set",
                "lock_handoff=40"]]
    with tempfile.TemporaryDirectory() as tmp:
        for cfg in configs:
            texts = []
            for i in range(2):
                out = os.path.join(tmp, "run%d.json" % i)
                r = run(["lock-storm", "--quiet", "--json", out] + cfg)
                if r.returncode != 0:
                    fail("lock-storm %s: exit %d: %s" % (cfg, r.returncode, r.stderr))
                with open(out) as f:
                    texts.append(f.read())
            if strip_sim(texts[0]) != strip_sim(texts[1]):
                fail("lock-storm %s: JSON outside \"sim\" differs between runs" % cfg)
            a, b = json.loads(texts[0]), json.loads(texts[1])
            del a["sim"], b["sim"]
            if a != b:
                fail("lock-storm %s: parsed JSON differs" % cfg)
            # --json - gives the same document as --json FILE.
            r = run(["lock-storm", "--quiet", "--json", "-"] + cfg)
            if strip_sim(r.stdout) != strip_sim(texts[0]):
                fail("lock-storm %s: --json - differs from --json FILE" % cfg)
            print("ok  byte-identical outside \"sim\": lock-storm %s" % " ".join(cfg))


def check_help():
    r = run(["--help"])
    if r.returncode != 0 or "usage: mmu2d" not in r.stdout or r.stderr:
        fail("mmu2d --help: exit %d, %r" % (r.returncode, r.stderr))
    r = run(["--version"])
    if r.returncode != 0 or not r.stdout.startswith("mmu2d "):
        fail("mmu2d --version: %r" % r.stdout)
    r = run([])
    if r.returncode != 2 or "usage: mmu2d" not in r.stderr:
        fail("mmu2d without arguments: exit %d" % r.returncode)
    for name in replayers():
        for flag in ["--help", "-h"]:
            r = run([name, flag])
            if r.returncode != 0 or r.stderr:
                fail("mmu2d %s %s: exit %d, stderr %r" % (name, flag, r.returncode, r.stderr))
            if not r.stdout.startswith("usage: mmu2d %s " % name):
                fail("mmu2d %s %s: no usage line" % (name, flag))
            for line in r.stdout.splitlines():
                if line.startswith("  --") and "default: " not in line:
                    # the default may be on the continuation line
                    pass
            if r.stdout.count("default: ") < len(replayer_options(name)):
                fail("mmu2d %s --help: not every option shows its default" % name)
            for common in ["--profile", "--set", "--seed", "--json", "--trace",
                           "--[no-]progress", "--[no-]quiet"]:
                if common not in r.stdout:
                    fail("mmu2d %s --help lacks %s" % (name, common))
        print("ok  mmu2d %s --help / -h" % name)


def check_profile():
    r = run(["profile", "list"])
    if r.returncode != 0:
        fail("profile list: exit %d" % r.returncode)
    listed = [line.split()[0] for line in r.stdout.splitlines()]
    for name in ["arm64", "snp", "x86", "x86-2022"]:
        if name not in listed:
            fail("profile list lacks %s: %r" % (name, r.stdout))
    if listed != sorted(listed):
        fail("profile list is not sorted: %r" % listed)
    for name in listed:
        r = run(["profile", "show", name])
        if r.returncode != 0 or not r.stdout.startswith("# profile %s " % name):
            fail("profile show %s: exit %d %r" % (name, r.returncode, r.stdout))
    print("ok  profile list / show for %s" % ", ".join(listed))
    with tempfile.TemporaryDirectory() as tmp:
        # 'profile show' prints a valid profile: copy x86 and change one value.
        r = run(["profile", "show", "x86"])
        lines = r.stdout.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("lock_acquire ="):
                lines[i] = "lock_acquire = 25  # fitted: test"
                break
        else:
            lines.append("lock_acquire = 25  # fitted: test")
        path = os.path.join(tmp, "mine.profile")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = run(["profile", "show", path])
        if r.returncode != 0 or "lock_acquire = 25  # fitted: test" not in r.stdout:
            fail("profile show FILE: %r %r" % (r.stdout, r.stderr))
        r = run(["lock-storm", "--profile", path, "--quiet", "--json", "-"] + FAST)
        doc = load_json(r, "lock-storm --profile FILE")
        if doc["profile"] != path:
            fail("--profile FILE not echoed: %r" % doc["profile"])
        env = dict(os.environ, M2D_PROFILE_DIR=tmp)
        r = run(["profile", "list"], env=env)
        if "mine" not in r.stdout.split():
            fail("M2D_PROFILE_DIR not searched: %r" % r.stdout)
        r = run(["lock-storm", "--profile", "mine", "--quiet"] + FAST, env=env)
        if r.returncode != 0:
            fail("--profile NAME from M2D_PROFILE_DIR: %r" % r.stderr)
        print("ok  profile show round-trips as a profile FILE; M2D_PROFILE_DIR")
        # Profiles the library would reject are one-line usage errors.
        bad = {"syntax": "lock_acquire 25  # fitted\n",
               "value": "lock_acquire = -1  # fitted\n",
               "source": "lock_acquire = 25\n",
               "twice": "lock_acquire = 25  # fitted\nlock_acquire = 26  # fitted\n"}
        for what, text in bad.items():
            p = os.path.join(tmp, what + ".profile")
            with open(p, "w") as f:
                f.write(text)
            expect_usage_error(["lock-storm", "--profile", p, "--quiet"], "--profile", tmp)
            expect_usage_error(["profile", "show", p], "profile show", tmp)
    r = run(["profile"])
    if r.returncode != 2 or len(r.stderr.splitlines()) != 1:
        fail("profile without a command: exit %d %r" % (r.returncode, r.stderr))


def check_outputs():
    with tempfile.TemporaryDirectory() as tmp:
        os.umask(0o022)
        out = os.path.join(tmp, "out.json")
        r = run(["lock-storm", "--quiet", "--json", out] + FAST)
        if r.returncode != 0 or r.stdout or sorted(os.listdir(tmp)) != ["out.json"]:
            fail("--json FILE: exit %d, stdout %r, files %s" % (r.returncode, r.stdout,
                                                              os.listdir(tmp)))
        if os.stat(out).st_mode & 0o777 != 0o644:
            fail("--json FILE mode %o, expected 644 under umask 022" % os.stat(out).st_mode)
        print("ok  --json FILE written, mode 644, no temporary left")

        # A failing run leaves an existing file untouched.
        with open(out, "w") as f:
            f.write("previous\n")
        r = run(["lock-storm", "--quiet", "--json", out, "--set", "no_such_parameter=1"])
        with open(out) as f:
            if r.returncode != 2 or f.read() != "previous\n" or len(os.listdir(tmp)) != 1:
                fail("failed run touched the existing output")
        print("ok  failed run leaves the existing file alone")

        # Killed mid-run: no output, no temporary file.
        os.unlink(out)
        p = subprocess.Popen([MMU2D, "lock-storm", "--quiet", "--cpus", "1", "--ops",
                              "1000000000", "--json", out], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        for _ in range(100):
            if os.listdir(tmp):
                break
            time.sleep(0.02)
        time.sleep(0.1)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        if p.returncode != -signal.SIGTERM or os.listdir(tmp):
            fail("SIGTERM: exit %r, files left %s" % (p.returncode, os.listdir(tmp)))
        print("ok  SIGTERM mid-run removes the temporary file")

        # --trace: a complete trace-event JSON file, or one line saying it is unsupported.
        trace = os.path.join(tmp, "trace.json")
        r = run(["lock-storm", "--quiet", "--trace", trace] + FAST)
        if r.returncode == 2 and "not supported" in r.stderr:
            if os.listdir(tmp):
                fail("unsupported --trace left files: %s" % os.listdir(tmp))
            print("ok  --trace unsupported by this engine: one line, no file")
        else:
            if r.returncode != 0 or sorted(os.listdir(tmp)) != ["trace.json"]:
                fail("--trace: exit %d %r, files %s" % (r.returncode, r.stderr,
                                                        os.listdir(tmp)))
            with open(trace) as f:
                json.load(f)
            os.unlink(trace)
            expect_usage_error(["lock-storm", "--trace", out, "--json", out] + FAST, "--trace",
                               tmp)
            print("ok  --trace FILE is valid JSON, no temporary left")

        # --quiet prints nothing; default prints the human-readable summary.
        r = run(["lock-storm", "--quiet"] + FAST)
        if r.returncode != 0 or r.stdout or r.stderr:
            fail("--quiet: %r %r" % (r.stdout, r.stderr))
        r = run(["lock-storm"] + FAST)
        if r.returncode != 0 or "Throughput" not in r.stdout or r.stderr:
            fail("human output: %r %r" % (r.stdout, r.stderr))
        # --progress draws on stderr (forced), --no-progress wins when last.
        r = run(["lock-storm", "--quiet", "--progress", "--ops", "20000"])
        if r.returncode != 0 or "acquire/release" not in r.stderr:
            fail("--progress drew nothing: %r" % r.stderr)
        r = run(["lock-storm", "--quiet", "--progress", "--no-progress"] + FAST)
        if r.stderr:
            fail("--no-progress: %r" % r.stderr)
        # Default: on when stderr is a terminal, erased before the results.
        master, slave = pty.openpty()
        p = subprocess.run([MMU2D, "lock-storm", "--ops", "20000"], stdout=subprocess.PIPE,
                           stderr=slave, text=True, timeout=120)
        os.close(slave)
        tty = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            tty += chunk
        os.close(master)
        if p.returncode != 0 or b"acquire/release [" not in tty or not tty.endswith(b"\r\x1b[K"):
            fail("progress on a terminal: exit %d, %r" % (p.returncode, tty[-200:]))
        print("ok  --quiet, human output, --progress, --no-progress")


# ---- seeded random command lines against a model of the option grammar ----

# name: (valid values, values rejected while parsing)
RANDOM_VALUES = {
    "cpus": (["1", "2", "4", "16"], ["0", "1025", "x", "-1", "", "1e3", "99999999999999999999999"]),
    "lock": (["spin", "rwlock-read", "rwlock-write", "mutex", "rwsem-read", "rwsem-write"],
             ["mips", "SPIN", ""]),
    "hold-ns": (["0", "100", "5000"], ["-5", "1000000001", "1.5", "abc"]),
    "think-ns": (["0", "1000"], ["x", "18446744073709551616"]),
    "ops": (["1", "5", "50"], ["0", "1000000001", "z"]),
    "numa-nodes": (["1", "2", "4"], ["0", "256", "q"]),
    "seed": (["0", "7", "18446744073709551615"], ["-1", "18446744073709551616", "s"]),
    "set": (["lock_acquire=5", "LOCK_HANDOFF=1.5", "bogus_param=1"],
            ["x", "=1", "lock_acquire=-1", "lock_acquire=nan", ""]),
    "profile": (["x86", "arm64", "nosuch"], [""]),
    "json": (["out.json", "/nonexistent/dir/x.json"], [""]),
}
FLAGS = ["quiet", "no-quiet", "no-progress"]


def model(args):
    """Expected (status, option named in the message) for lock-storm ARGS."""
    v = {"cpus": "8", "numa-nodes": "1", "profile": "x86", "json": None, "set": []}
    i = 0
    while i < len(args):
        a = args[i]
        if not a.startswith("--") or a == "--":
            return 2, a
        name, eq, val = a[2:].partition("=")
        if name in FLAGS:
            if eq:
                return 2, "--" + name
            i += 1
            continue
        if name not in RANDOM_VALUES:
            return 2, a
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                return 2, "--" + name
            val = args[i + 1]
            i += 1
        i += 1
        # Strings take any non-empty value; everything else only the listed ones.
        if (name in ("json", "profile") and not val) or \
                (name not in ("json", "profile") and val not in RANDOM_VALUES[name][0]):
            return 2, "--" + name
        if name == "set":
            v["set"].append(val)
        else:
            v[name] = val
    if int(v["cpus"]) % int(v["numa-nodes"]):
        return 2, "--numa-nodes"
    if v["profile"] not in ("x86", "arm64"):
        return 2, "--profile"
    if any(s.startswith("bogus_param") for s in v["set"]):
        return 2, "--set"
    if v["json"] == "/nonexistent/dir/x.json":
        return 2, "--json"
    return 0, v["json"]


def random_args(rng):
    args = []
    for _ in range(rng.randint(0, 6)):
        kind = rng.random()
        if kind < 0.08:
            args.append(rng.choice(["--bogus", "stray", "-x", "--no-cpus"]))
            continue
        if kind < 0.2:
            flag = rng.choice(FLAGS)
            args.append("--" + flag + ("=1" if rng.random() < 0.2 else ""))
            continue
        name = rng.choice(sorted(RANDOM_VALUES))
        good, bad = RANDOM_VALUES[name]
        val = rng.choice(bad) if rng.random() < 0.15 else rng.choice(good)
        if rng.random() < 0.05:
            args.append("--" + name)  # value missing, or taken from a following option
        elif rng.random() < 0.3:
            args.append("--%s=%s" % (name, val))
        else:
            args += ["--" + name, val]
    return args


def check_random():
    seed = int(os.environ.get("M2D_TEST_SEED", time.time_ns() % 1000000))
    print("seed %d (rerun with M2D_TEST_SEED=%d)" % (seed, seed))
    rng = random.Random(seed)
    n = int(os.environ.get("M2D_TEST_ITERATIONS", "150"))
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(n):
            # Small runs: the defaults first, so random options override them.
            args = ["--cpus", "2", "--ops", "5", "--quiet"] + random_args(rng)
            status, option = model(args)  # on success: the --json file, or None
            r = run(["lock-storm"] + args, cwd=tmp)
            where = "case %d: mmu2d lock-storm %s" % (k, " ".join(repr(a) for a in args))
            if r.returncode != status:
                fail("%s: exit %d, model says %d (stderr %r)" % (where, r.returncode, status,
                                                                  r.stderr))
            if status == 2:
                lines = r.stderr.splitlines()
                if len(lines) != 1 or option not in lines[0]:
                    fail("%s: expected one line naming %s, got %r" % (where, option, r.stderr))
            expected = [option] if status == 0 and option else []
            if sorted(os.listdir(tmp)) != expected:
                fail("%s: files %s, expected %s" % (where, os.listdir(tmp), expected))
            for name in expected:
                with open(os.path.join(tmp, name)) as f:
                    json.load(f)
                os.unlink(os.path.join(tmp, name))
    print("ok  %d random command lines agree with the model" % n)


CHECKS = {"bad-input": check_bad_input, "json": check_json,
          "deterministic": check_deterministic, "help": check_help,
          "profile": check_profile, "outputs": check_outputs, "random": check_random}
CHECKS[CHECK]()
