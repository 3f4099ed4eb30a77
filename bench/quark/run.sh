#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Quark benchmark (issue 5): `quark run` against the same programs run
# natively, side by side in one boot of the nested test bed (Debian's kernel
# with a real KVM under QEMU software emulation, tests/quark/nested/).
#
#   ops       qbench (bench/quark/qbench.c), per operation: getpid (served
#             in QKernel), clock_gettime (libc: the vDSO natively, a system
#             call served in QKernel under quark) and as a raw system call,
#             4 KiB pread, open+close and stat (forwarded to QVisor); natively,
#             under `quark run --queue on` (a host worker polls a shared
#             queue) and `--queue off` (one hypercall exit per call)
#   exits     READS 4 KiB preads in a loop under `quark run --stats`: VM exits
#             to QVisor and kicks (in-kernel ioeventfd exits that wake the
#             worker) per forwarded call; and SPIN raw getpid and
#             clock_gettime calls against qtrue (which makes none): the VM
#             exits in-guest system calls cost
#   start     wall time of `quark run -- qtrue` and `quark run -- /bin/busybox
#             true` against the same binaries run natively (fork, exec, wait;
#             SPAWNS runs each, median), and the `--verbose` phases: VM and
#             vCPU creation, memory layout, seccomp, QKernel boot, program
#             load, the program, and the rest (quark's exec and teardown)
#
# Why this shape: inside the bed every time is emulated (TCG), so only ratios
# against a peer measured in the same emulated machine, minutes apart, mean
# anything; the variants are interleaved in an order rotated from run to run,
# and the table shows medians over runs. Targets from issue 5: in-guest
# system calls cause no VM exit; forwarded calls <= 0.05 VM exits each under
# load; start-up of /bin/true within 5x its native run.
#
#   bench/quark/run.sh [--runs N] [--spawns N] [--gap MS] [--reads N] [--spin N]
#                      [--verbose-runs N] [--build-dir DIR] [--no-build]
#                      [--cache DIR] [--timeout S] [--quick] [--reparse FILE]
#
#   --runs N          repetitions inside the one boot (default 5)
#   --spawns N        start-up runs of each program per repetition (default 20)
#   --gap MS          pause between two start-up runs, untimed (default 100)
#   --reads N         preads in the exits loop (default 100000)
#   --spin N          in-guest calls in the spin test (default 1000000)
#   --verbose-runs N  `quark run --verbose` start-ups per program per
#                     repetition (default 3)
#   --build-dir DIR   a build directory configured with -DPROJ_BENCH=ON
#                     (default build/release, or $BUILD_DIR); quark and the
#                     quark_bench target (qbench, qtrue) are built in it
#                     first; build/release is configured with the release
#                     preset if it does not exist
#   --no-build        use what is in DIR as it is
#   --cache DIR       the nested bed's kernel cache (default DIR/quark-nested;
#                     the first run downloads Debian's kernel package, 70 MB)
#   --timeout S       QEMU's wall-clock limit (default 3600)
#   --quick           --runs 1 --spawns 5 --reads 20000 --spin 200000
#                     --verbose-runs 1
#   --reparse FILE    no run: the table again from a results file (or the
#                     bed's raw output)
#
# The bed gets 2 CPUs (QUARK_NESTED_SMP, default 2 here): the queue worker
# polls beside the vCPU. 2 to 3 minutes a repetition at the defaults on a
# 2-vCPU host (the queue-on read loop is most of it when the worker sleeps).
# The emulated machine has hung (RCU stalls, soft lockups) in some runs; the
# start-ups, where it hung most, come last, and when the bed gives no result
# the tables are made from the console it left, with the case that never
# finished named (docs/quark.md, "Benchmark"). Needs what the bed needs (qemu-system-x86, busybox-static,
# cpio; scripts/deps.sh) and python3. Results: stdout and
# bench/results/quark-<date>.txt (the table, then every line the guest printed).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

usage() { sed -n '/^#   bench\/quark\/run.sh/,/^#                     bed.s raw output)/p' "$0" | sed 's/^# \{0,1\}//'; }
die() {
	echo "run.sh: $*" >&2
	exit 1
}

args=("$@")
runs=5 spawns=20 gap=100 reads=100000 spin=1000000 verbose_runs=3
build_dir=${BUILD_DIR:-build/release} build=1 cache="" timeout_s=3600 reparse=""

num() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: $1 needs a positive number, not '$2'" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
	case $1 in
	--runs) num "$1" "${2:-}"; runs=$2; shift 2 ;;
	--spawns) num "$1" "${2:-}"; spawns=$2; shift 2 ;;
	--gap)
		if ! [[ "${2:-}" =~ ^[0-9]+$ ]] || [ "$2" -gt 10000 ]; then
			echo "run.sh: --gap needs 0 to 10000 (ms)" >&2
			exit 2
		fi
		gap=$2
		shift 2
		;;
	--reads) num "$1" "${2:-}"; reads=$2; shift 2 ;;
	--spin) num "$1" "${2:-}"; spin=$2; shift 2 ;;
	--verbose-runs) num "$1" "${2:-}"; verbose_runs=$2; shift 2 ;;
	--build-dir) build_dir=${2:?--build-dir needs a directory}; shift 2 ;;
	--no-build) build=0; shift ;;
	--cache) cache=${2:?--cache needs a directory}; shift 2 ;;
	--timeout) num "$1" "${2:-}"; timeout_s=$2; shift 2 ;;
	--quick) runs=1 spawns=5 reads=20000 spin=200000 verbose_runs=1; shift ;;
	--reparse) reparse=${2:?--reparse needs a file}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
done
[ "$spawns" -le 10000 ] || die "--spawns: at most 10000"
case $build_dir in /*) ;; *) build_dir=$repo/$build_dir ;; esac
cache=${cache:-$build_dir/quark-nested}
command -v python3 >/dev/null || die "python3 not found"

# ---- the table ------------------------------------------------------------------
# make_table RAW SPAWNS: the tables from the bed's output (lines "QB ..."; in
# a results file they are prefixed "# ", which is dropped). Exits 1 when a
# run failed (the ERRORS section says which).
make_table() {
	python3 - "$1" "$2" <<'PY'
import re
import statistics
import sys

lines = open(sys.argv[1], errors="replace").read().splitlines()
info, rows, errors = {}, [], []
for ln in lines:
    if ln.startswith("# QB "):
        ln = ln[2:]
    if not ln.startswith("QB "):
        continue
    if ln.startswith("QB info "):
        k, _, v = ln[8:].partition("=")
        info.setdefault(k, v)
        continue
    # QB run=R case=C [variant=V] [prog=P] [k=K] REST
    tags, rest = {}, ln[3:].split(" ")
    while rest and re.match(r"^(run|case|variant|prog|k)=", rest[0]):
        a, _, b = rest.pop(0).partition("=")
        tags[a] = b
    rows.append((tags, " ".join(rest)))


def kv(text):
    return dict(f.split("=", 1) for f in text.split() if "=" in f)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def key(t):
    return (t.get("case"), t.get("variant"), t.get("prog"), t.get("k"))


# Exit statuses: a failed run is an error line, never a number.
ended = set()
for t, text in rows:
    if text.startswith("rc="):
        ended.add((t.get("run"), key(t)))
    if text.startswith("rc=") and kv(text).get("rc") != "0":
        ctx = [x for tt, x in rows if key(tt) == key(t) and tt.get("run") == t.get("run") and not x.startswith(("rc=", "start up="))]
        errors.append("run %s %s: exit status %s: %s" % (t.get("run"), " ".join("%s=%s" % i for i in t.items() if i[0] != "run"),
                                                      kv(text).get("rc"), " | ".join(ctx[-3:])))
# A case that started and never ended: the guest hung or the bed was stopped there.
for t, text in rows:
    if text.startswith("start up=") and (t.get("run"), key(t)) not in ended:
        errors.append("run %s %s: started at uptime %s s and never finished (see the console messages)"
                      % (t.get("run"), " ".join("%s=%s" % i for i in t.items() if i[0] != "run"), kv(text).get("up")))

out = []
p = out.append
p("emulated machine: %s CPUs (%s), kernel %s, %s MiB; inside it: %s" % (
    info.get("cpus", "?"), info.get("cpu", "?"), info.get("kernel", "?"),
    int(info["mem_kb"]) // 1024 if info.get("mem_kb", "").isdigit() else "?", info.get("check", "?")))
p("")

# ---- per-operation times ----
ops, best = {}, {}
for t, text in rows:
    if t.get("case") == "ops" and text.startswith("qbench test="):
        d = kv(text)
        if "median_ns" in d:
            ops.setdefault((d["test"], t["variant"]), []).append(float(d["median_ns"]))
            best.setdefault((d["test"], t["variant"]), []).append(float(d["min_ns"]))
        elif "error" in d:
            errors.append("run %s ops %s: %s" % (t.get("run"), t.get("variant"), text))
for t, text in rows:
    if t.get("case") == "readloop" and text.startswith("qbench test=readloop"):
        d = kv(text)
        if "per_read_ns" in d:
            ops.setdefault(("readloop", t["variant"]), []).append(float(d["per_read_ns"]))

labels = [("getpid", "getpid (raw syscall)", "in QKernel"),
          ("clock_gettime", "clock_gettime (libc)", "vDSO natively; in QKernel"),
          ("clock_gettime_sys", "clock_gettime (raw syscall)", "in QKernel"),
          ("pread4k", "pread 4 KiB", "forwarded"),
          ("openclose", "open + close", "forwarded (2 calls)"),
          ("stat", "stat", "forwarded"),
          ("readloop", "pread 4 KiB, 1 loop (readloop)", "forwarded")]


def f_ns(v):
    if v is None:
        return "-"
    return "%.0f" % v if v >= 100 else "%.1f" % v


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else "%.2fx" % (a / b)


hdr = ("operation", "native ns", "quark on ns", "quark off ns", "on/native", "off/native", "n", "where")
tab = []
for test, label, where in labels:
    n, on, off = (med(ops.get((test, v), [])) for v in ("native", "on", "off"))
    if n is None and on is None and off is None:
        continue
    cnt = "/".join(str(len(ops.get((test, v), []))) for v in ("native", "on", "off"))
    tab.append((label, f_ns(n), f_ns(on), f_ns(off), ratio(on, n), ratio(off, n), cnt, where))


def table(hdr, tab, left=(0,)):
    w = [max(len(str(r[i])) for r in tab + [hdr]) for i in range(len(hdr))]
    fmt = lambda r: "  ".join(str(c).ljust(w[i]) if i in left or i == len(hdr) - 1 else str(c).rjust(w[i])
                              for i, c in enumerate(r)).rstrip()
    return [fmt(hdr), "  ".join("-" * x for x in w)] + [fmt(r) for r in tab]


p("Per operation (emulated ns; median over runs of each run's median of 7 batches; n = runs native/on/off)")
out.extend(table(hdr, tab))
p("")
hdr = ("operation", "native ns", "quark on ns", "quark off ns", "on/native", "off/native")
tab = []
for test, label, where in labels:
    n, on, off = (min(best[(test, v)]) if best.get((test, v)) else None for v in ("native", "on", "off"))
    if n is None and on is None and off is None:
        continue
    tab.append((label, f_ns(n), f_ns(on), f_ns(off), ratio(on, n), ratio(off, n)))
p("The fastest batch of all runs (what the code costs when the emulated machine's vCPUs are not descheduled)")
out.extend(table(hdr, tab))
p("")

# ---- VM exits ----
STAT1 = re.compile(r"quark: stats: (\d+) VM exits to QVisor, (\d+) hypercalls(?:, (\d+) queue waits)?; queue (\w+)")
STAT2 = re.compile(r"quark: stats: (\d+) system calls, (\d+) forwarded to the host, (\d+) unknown \(ENOSYS\), (\d+) kicks")


def stats_of(case, variant):
    """Per run: exits, hcalls, queue, syscalls, fwd, unknown, kicks (quark --stats) and kvm_* (qbench watch)."""
    per = {}
    for t, text in rows:
        if t.get("case") != case or t.get("variant") != variant:
            continue
        m1, m2 = STAT1.search(text), STAT2.search(text)
        d = per.setdefault(t["run"], {})
        if m1:
            d.update(exits=int(m1.group(1)), hcalls=int(m1.group(2)), waits=int(m1.group(3) or 0),
                     queue=m1.group(4))
        if m2:
            d.update(syscalls=int(m2.group(1)), fwd=int(m2.group(2)), unknown=int(m2.group(3)), kicks=int(m2.group(4)))
        if text.startswith("qbench test=kvm") and "error" not in text and kv(text).get("samples") != "0":
            d.update({"kvm_" + k: int(v) for k, v in kv(text).items() if v.lstrip("-").isdigit()})
    return [d for d in per.values() if "exits" in d and "kicks" in d]


def g(st, k):
    v = med([d.get(k) for d in st])
    return "-" if v is None else "%d" % v


verdicts = []
hdr = ("readloop under --stats", "forwarded", "exits to QVisor", "kicks", "(exits+kicks)/fwd", "KVM exits",
       "KVM exits/fwd", "io", "irq", "halt", "n", "target <= 0.05")
tab = []
for v in ("on", "off"):
    st = stats_of("readloop", v)
    if not st:
        tab.append(("quark --queue " + v,) + ("-",) * 9 + ("0", "NO DATA"))
        continue
    per = med([(d["exits"] + d["kicks"]) / d["fwd"] for d in st if d.get("fwd")])
    kper = med([d["kvm_exits"] / d["fwd"] for d in st if d.get("fwd") and "kvm_exits" in d])
    ok = per is not None and per <= 0.05
    if v == "on":
        verdicts.append(("forwarded calls <= 0.05 VM exits each (queue on)", ok))
    tab.append(("quark --queue " + v, g(st, "fwd"), g(st, "exits"), g(st, "kicks"), "%.4f" % per,
                g(st, "kvm_exits"), "-" if kper is None else "%.4f" % kper, g(st, "kvm_io_exits"),
                g(st, "kvm_irq_exits"), g(st, "kvm_halt_exits"), str(len(st)),
                ("PASS" if ok else "FAIL") if v == "on" else "(one exit a call by design)"))
nreads = sorted({kv(x).get("reads") for t, x in rows if t.get("case") == "readloop" and "reads=" in x} - {None})
p("VM exits per forwarded call, a loop of %s 4 KiB preads (medians over runs). exits to QVisor = KVM_RUN returns;"
  % "/".join(nreads))
p("kicks = ioeventfd writes that wake the worker (each one a VM exit KVM handles itself); KVM exits = KVM's own")
p("count of every exit (debugfs, sampled every 20 ms: a lower bound), of which io = port I/O, irq = host interrupts, halt = hlt")
out.extend(table(hdr, tab))
p("")

hdr = ("in-guest calls under --stats", "syscalls", "forwarded", "exits to QVisor", "kicks", "KVM exits",
       "KVM extra/call", "irq", "n", "no exit for them")
tab = []
base = stats_of("spin", "qtrue")
for v, label in (("qtrue", "qtrue (none of its own)"), ("getpid", "spin getpid"),
                 ("clock_gettime", "spin clock_gettime")):
    st = stats_of("spin", v)
    if not st:
        tab.append((label,) + ("-",) * 7 + ("0", "NO DATA"))
        continue
    verdict, extra = "", "-"
    if v != "qtrue":
        # Every exit QVisor saw or kicked is a hypercall, a queue wait or the
        # kick of a forwarded call (at most one each): none is left over for
        # the in-guest calls to have caused.
        ok = all(d["exits"] + d["kicks"] <= d["hcalls"] + d["waits"] + d["fwd"] for d in st)
        verdicts.append(("in-guest %s causes no VM exit" % v, ok))
        verdict = "PASS" if ok else "FAIL"
        bk, bs = med([d.get("kvm_exits") for d in base]), med([d.get("syscalls") for d in base])
        k, s_ = med([d.get("kvm_exits") for d in st]), med([d.get("syscalls") for d in st])
        if None not in (bk, bs, k, s_) and s_ > bs:
            extra = "%.5f" % ((k - bk) / (s_ - bs))
    tab.append((label, g(st, "syscalls"), g(st, "fwd"), g(st, "exits"), g(st, "kicks"), g(st, "kvm_exits"), extra,
                g(st, "kvm_irq_exits"), str(len(st)), verdict))
p("VM exits of in-guest system calls (medians over runs). PASS = exits to QVisor + kicks <= hypercalls + queue waits + forwarded")
p("calls in every run (no exit is left to charge to the in-guest calls); KVM extra/call = (KVM exits - qtrue's) per")
p("extra system call, which also counts the host interrupts (irq) of the longer run")
out.extend(table(hdr, tab))
p("")

# ---- start-up ----
start = {}
for t, text in rows:
    if t.get("case") == "start" and text.startswith("qbench test=spawn"):
        d = kv(text)
        if "median_us" in d:
            start.setdefault((t["prog"], t["variant"]), []).append(
                (float(d["median_us"]), float(d["min_us"]), float(d["p90_us"])))
hdr = ("start-up, wall", "native ms", "quark ms", "quark/native", "quark min ms", "quark p90 ms", "n",
       "target <= 5x")
tab = []
for prog, label in (("qtrue", "qtrue (static glibc)"), ("busybox", "/bin/busybox true")):
    nat = med([x[0] for x in start.get((prog, "native"), [])])
    q = med([x[0] for x in start.get((prog, "quark"), [])])
    qmin = med([x[1] for x in start.get((prog, "quark"), [])])
    qp90 = med([x[2] for x in start.get((prog, "quark"), [])])
    ok = nat is not None and q is not None and q <= 5 * nat
    verdicts.append(("start-up of %s within 5x native" % label, ok))
    ms = lambda v: "-" if v is None else "%.2f" % (v / 1000)
    tab.append((label, ms(nat), ms(q), ratio(q, nat), ms(qmin), ms(qp90),
                "%d/%d" % (len(start.get((prog, "native"), [])), len(start.get((prog, "quark"), []))),
                "PASS" if ok else "FAIL"))
p("Start-up (fork + exec + wait, %s runs per repetition; median over repetitions of each one's median)" % sys.argv[2])
out.extend(table(hdr, tab))
p("")

# ---- verbose phases ----
STEP = re.compile(r"^quark: (.*) \(([0-9.]+) ms\)$")
BOOT = re.compile(r"QKernel: booted in (\d+) us, .* loaded in (\d+) us more")
runs_v = {}
for t, text in rows:
    if t.get("case") != "verbose":
        continue
    d = runs_v.setdefault((t["prog"], t["run"], t["k"]), {})
    m = STEP.match(text)
    if m:
        d[m.group(1)] = float(m.group(2))
    m = BOOT.search(text)
    if m:
        d["boot"], d["load"] = int(m.group(1)) / 1000, int(m.group(2)) / 1000
    if text.startswith("qbench test=spawn"):
        s = kv(text)
        if "median_us" in s:
            d["wall"] = float(s["median_us"]) / 1000

phase_names = [("root", "root and working directory opened", None),
               ("vm", "VM and vCPU created", "root and working directory opened"),
               ("queue", "queue worker started", "VM and vCPU created"),
               ("mem", "guest memory laid out", "queue worker started"),
               ("threads", "vCPU threads started", "guest memory laid out"),
               ("sec", "seccomp filter installed; running", "vCPU threads started")]
cols = ["open root + workdir", "VM + vCPU created", "queue worker", "memory laid out", "vCPU threads",
        "seccomp", "QKernel boot", "program load",
        "program + exit", "quark until guest done", "exec + teardown", "wall"]
hdr = tuple(["phase (ms)"] + [p_ for p_ in ("qtrue", "busybox true")])
tab = []
per_prog = {}
for prog in ("qtrue", "busybox"):
    vals = {c: [] for c in cols}
    for (pg, _, _), d in runs_v.items():
        if pg != prog:
            continue
        # Each step costs the time since the step before it on quark's clock,
        # whatever order this quark takes them in (it has changed).
        for (short, name, _), c in zip(phase_names, cols):
            if name in d:
                before = [d[n] for _, n, _ in phase_names if n in d and d[n] < d[name]]
                vals[c].append(d[name] - max(before, default=0))
        if "boot" in d:
            vals["QKernel boot"].append(d["boot"])
            vals["program load"].append(d["load"])
        fin, run0 = d.get("guest finished"), d.get("seccomp filter installed; running")
        if fin is not None and run0 is not None and "boot" in d:
            vals["program + exit"].append(fin - run0 - d["boot"] - d["load"])
        if fin is not None:
            vals["quark until guest done"].append(fin)
        if fin is not None and "wall" in d:
            vals["exec + teardown"].append(d["wall"] - fin)
        if "wall" in d:
            vals["wall"].append(d["wall"])
    per_prog[prog] = vals
nv = {prog: sum(1 for k in runs_v if k[0] == prog) for prog in ("qtrue", "busybox")}
for c in cols:
    tab.append(tuple([c] + ["-" if med(per_prog[pg][c]) is None else "%.2f" % med(per_prog[pg][c])
                            for pg in ("qtrue", "busybox")]))
p("Start-up phases of `quark run --verbose` (medians of %d and %d runs; quark's clock starts in main())"
  % (nv["qtrue"], nv["busybox"]))
out.extend(table(hdr, tab))
p("  VM + vCPU created .. seccomp: QVisor's set-up (seccomp includes waiting for its threads to start);")
p("  QKernel boot and program load: QKernel's own clock;")
p("  program + exit: the guest from entry to the exit hypercall, and QVisor's exit handling;")
p("  exec + teardown: wall time outside quark's clock (fork/exec, dynamic loading, VM teardown).")
p("  --verbose itself writes to the console, so these walls are above the plain start-up's.")
p("")

p("Targets (issue 5):")
for what, ok in verdicts:
    p("  %-55s %s" % (what, "PASS" if ok else "FAIL"))
if errors:
    p("")
    p("ERRORS (these runs gave no number):")
    for e in errors:
        p("  " + e)
print("\n".join(out))
sys.exit(1 if errors else 0)
PY
}

if [ -n "$reparse" ]; then
	[ -r "$reparse" ] || die "$reparse: cannot read it"
	spawns=$(sed -n 's/^# plan: [0-9]* repetition(s); \([0-9]*\) start-ups.*/\1/p' "$reparse" | head -n1)
	make_table "$reparse" "${spawns:-?}"
	exit
fi

# ---- build ----------------------------------------------------------------------
if [ "$build" = 1 ]; then
	if [ ! -f "$build_dir/build.ninja" ] && [ ! -f "$build_dir/Makefile" ]; then
		[ "$build_dir" = "$repo/build/release" ] || die "$build_dir is not configured (cmake -S . -B $build_dir -DPROJ_BENCH=ON ...)"
		cmake --preset release >/dev/null
	fi
	cmake --build "$build_dir" --target quark quark_bench >/dev/null ||
		die "building quark and quark_bench in $build_dir failed (cmake --build $build_dir --target quark quark_bench)"
fi
quark=$build_dir/quark/quark
qbench=$build_dir/bench/quark/qbench
qtrue=$build_dir/bench/quark/qtrue
for f in "$quark" "$qbench" "$qtrue"; do
	[ -x "$f" ] || die "$f not found (a build directory with -DPROJ_BENCH=ON: --build-dir DIR)"
done

# ---- the run --------------------------------------------------------------------
mkdir -p bench/results
res=$repo/bench/results/quark-$(date +%Y%m%d-%H%M%S).txt
tmp=$(mktemp -d /tmp/bench-quark.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

load=$(cut -d' ' -f1-3 /proc/loadavg)
dirty=$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')
{
	echo "# quark benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$dirty"
	echo "# host: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r), $(qemu-system-x86_64 --version 2>/dev/null | head -n1)"
	echo "# host load average before starting: $load"
	if awk -v l="${load%% *}" 'BEGIN { exit !(l > 0.5) }'; then
		echo "# WARNING: 1-minute load average ${load%% *} > 0.5: other work is running; numbers will be noisy"
	fi
	echo "# quark: $quark ($(stat -c '%y' "$quark" | cut -d. -f1), sha256 $(sha256sum "$quark" | cut -c1-12))"
	echo "# plan: $runs repetition(s); $spawns start-ups per program and variant, $gap ms apart; readloop of $reads preads; spin of $spin calls; $verbose_runs verbose start-up(s) per program"
	echo "# command: bench/quark/run.sh ${args[*]}"
} >"$res"
cat "$res"

export QUARK_NESTED_SMP=${QUARK_NESTED_SMP:-2}
grep -q QUARK_NESTED_SMP tests/quark/nested/run-nested.sh ||
	echo "# WARNING: tests/quark/nested/run-nested.sh ignores QUARK_NESTED_SMP: the bed may have 1 CPU" | tee -a "$res"
bed=(bash tests/quark/nested/run-nested.sh --timeout "$timeout_s" "$cache" "$quark"
	"$qbench" "$qtrue" bench/quark/guest.sh -- sh /tests/guest.sh "$runs" "$spawns" "$reads" "$spin" "$verbose_runs" "$gap")
echo "# bed: QUARK_NESTED_SMP=$QUARK_NESTED_SMP $(printf '%q ' "${bed[@]}")" | tee -a "$res"
echo "run.sh: booting the nested bed (QEMU TCG); this takes a while" >&2
set +e
"${bed[@]}" >"$tmp/out" 2>"$tmp/err"
bed_rc=$?
set -e
cat "$tmp/err" >&2
if [ "$bed_rc" = 77 ]; then die "the nested bed cannot run here: $(tail -n 1 "$tmp/err")"; fi
if ! grep -q '^QB ' "$tmp/out"; then
	# No result (QEMU timed out, the guest kernel hung): what the guest
	# printed before that is still in the bed's copy of the console.
	tr -d '\r' <"$cache/last-console.txt" 2>/dev/null | grep -a '^QB ' >"$tmp/out" || true
	[ -s "$tmp/out" ] || die "the nested bed gave no output (exit $bed_rc): $(tail -n 5 "$tmp/err" | tr '\n' ' ')"
	echo "# WARNING: the bed gave no result (exit $bed_rc); the table is from the partial console output" | tee -a "$res"
	{
		tr -d '\r' <"$cache/last-console.txt" | grep -av '^QB ' | grep -a -m 8 -E 'soft lockup|stall|BUG|panic|Oops'
		echo "..."
		tr -d '\r' <"$cache/last-console.txt" | grep -av '^QB ' | tail -n 40
	} | sed 's/^/# console: /' >>"$res"
fi

table=$(make_table "$tmp/out" "$spawns") && trc=0 || trc=$?
{
	echo ""
	echo "$table"
	echo ""
	echo "# absolute times are emulated (QEMU TCG, a KVM nested in it): compare ratios and counts only"
	[ "$bed_rc" = 0 ] || echo "# WARNING: the guest script exited $bed_rc"
	echo "# raw output of the bed follows"
	sed 's/^/# /' "$tmp/out"
	sed 's/^/# stderr: /' "$tmp/err"
} >>"$res"
echo ""
echo "$table"
echo ""
echo "run.sh: results in ${res#"$repo"/}" >&2
[ "$trc" = 0 ] && [ "$bed_rc" = 0 ]
