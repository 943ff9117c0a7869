#!/usr/bin/env python3
"""Benchmark: inspection. xen2kvm vs virt-inspector on the reference image; mounted-root rate.

Usage:
    .venv/bin/python bench/inspect.py [--reps N | --quick] [--roots N] [--no-images]
                                      [--no-roots] [--profile] [--json FILE]

1. Images: ``xen2kvm inspect ROOT,SWAP`` (fuse2fs, and libguestfs) vs ``virt-inspector -a ROOT
   -a SWAP`` (TCG forced), each on its own fresh copy, in alternating order; medians of wall
   time, CPU time (children included) and peak RSS; the ratio to virt-inspector.
2. Mounted roots: N (default 1000) fixture guests built once from tests/fixtures (every distro
   of tests.fixtures.boot.NAMES plus the KVM-ready guest, each copy varied: hostname, an extra
   fstab comment, a MAC in the interfaces file) under the work directory, then ``xen2kvm
   inspect ROOT... --json`` on all of them in one process with ``--jobs 2`` and ``--jobs 1``.
   Guests per second = N / wall time (target: >= 200/s with both cores). The JSON output is
   checked: N guest documents and no errors.
3. ``--profile``: cProfile over in-process inspections of 200 of the roots, summarised by
   phase (facts, checks, JSON) and by function.
"""

from __future__ import annotations

import os
import sys

# Run as a script: the repository root goes first on the path; bench/ must not be on it, or this
# file would shadow the standard library's ``inspect`` module.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from bench._common import (  # noqa: E402
    GFS_ENV,
    REPO,
    XEN2KVM,
    Run,
    Series,
    fresh_copy,
    measure,
    precompile,
    print_machine,
    reference_guest,
    table,
    which,
)

ROOTS_STAMP = "xen2kvm-bench-roots-v1"


def build_roots(dest: Path, count: int) -> list[Path]:
    """``count`` varied fixture guests under ``dest`` (reused when already built)."""
    from tests.fixtures.boot import NAMES, with_boot
    from tests.fixtures.tree import build_tree

    stamp = dest / ROOTS_STAMP
    names = [*NAMES, "KVM_READY"]
    roots = [dest / f"g{i:05d}-{names[i % len(names)].lower()}" for i in range(count)]
    if stamp.exists() and stamp.read_text() == str(count):
        return roots
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for i, root in enumerate(roots):
        tree = with_boot(names[i % len(names)])
        tree["/etc/hostname"] = f"guest{i:05d}\n"
        fstab = tree.get("/etc/fstab")
        if isinstance(fstab, str):
            tree["/etc/fstab"] = f"# guest {i}\n{fstab}"
        ifaces = tree.get("/etc/network/interfaces")
        if isinstance(ifaces, str):
            mac = f"f2:3c:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}:01"
            tree["/etc/network/interfaces"] = ifaces + f"# hwaddress {mac}\n"
        build_tree(root, tree)
    stamp.write_text(str(count))
    return roots


def check_doc(run: Run, expected: int) -> str:
    try:
        guests = json.loads(run.stdout)["guests"]
    except (json.JSONDecodeError, KeyError):
        return f"bad JSON output (rc {run.rc}): {run.stderr.strip()[-300:]}"
    errors = [g for g in guests if "error" in g]
    if len(guests) != expected or errors:
        return f"{len(guests)} documents, {len(errors)} errors"
    ready = sum(1 for g in guests if g["ready"])
    return f"{expected} documents, {ready} ready, {expected - ready} not ready"


def bench_images(reps: int, work: Path) -> list[list[object]]:
    images, _login = reference_guest()
    tools = [
        ("virt-inspector", lambda imgs: measure(
            [which("virt-inspector"), *[a for i in imgs for a in ("-a", str(i))]], env=GFS_ENV)),
        ("xen2kvm inspect fuse2fs", lambda imgs: measure(
            [*XEN2KVM, "inspect", ",".join(map(str, imgs)), "--backend", "fuse2fs", "--json"])),
        ("xen2kvm inspect libguestfs", lambda imgs: measure(
            [*XEN2KVM, "inspect", ",".join(map(str, imgs)), "--backend", "libguestfs", "--json"],
            env=GFS_ENV)),
    ]  # fmt: skip
    series = {name: Series(name) for name, _ in tools}
    for rep in range(reps):
        for name, fn in tools[rep % len(tools) :] + tools[: rep % len(tools)]:
            copy = fresh_copy(images, work, name.replace(" ", "-"))
            run = fn(copy)
            series[name].runs.append(run)
            print(f"  rep {rep + 1}/{reps} {name:<28} {run.wall:7.2f} s wall {run.cpu:7.2f} s cpu"
                  f"  rc {run.rc}", flush=True)  # fmt: skip
            for c in copy:
                c.unlink()
    base = series["virt-inspector"]
    rows: list[list[object]] = []
    for name, _ in tools:
        s = series[name]
        ok = base.runs[-1].rc == 0 if name == "virt-inspector" else s.runs[-1].rc in (0, 1)
        ratio = "-" if s is base else f"1/{base.median('wall') / s.median('wall'):.1f}"
        rows.append([name, len(s.runs), s.median("wall"), s.median("cpu"), s.median("rss_mb"),
                     ratio, "ok" if ok else f"rc {s.runs[-1].rc}"])  # fmt: skip
    return rows


def bench_roots(roots: list[Path], reps: int) -> list[list[object]]:
    rows: list[list[object]] = []
    for jobs in (2, 1):
        s = Series(f"--jobs {jobs}")
        for _ in range(reps):
            run = measure([*XEN2KVM, "inspect", *map(str, roots), "--json", "--jobs", str(jobs)])
            s.runs.append(run)
            print(f"  {len(roots)} roots --jobs {jobs}: {run.wall:.2f} s wall {run.cpu:.2f} s cpu",
                  flush=True)  # fmt: skip
        wall = s.median("wall")
        rows.append([f"xen2kvm inspect, {len(roots)} mounted roots, --jobs {jobs}", len(s.runs),
                     wall, s.median("cpu"), s.median("rss_mb"), f"{len(roots) / wall:.0f}/s",
                     check_doc(s.runs[-1], len(roots))])  # fmt: skip
    return rows


def profile(roots: list[Path], count: int = 200) -> None:
    """Where an inspection's CPU time goes, in-process (no start-up, no process pool)."""
    from xen2kvm.checks import ConvertOptions, Mode, run_checks
    from xen2kvm.facts import gather_facts
    from xen2kvm.guest import open_guest
    from xen2kvm.guest.memo import MemoGuest
    from xen2kvm.inspect import InspectReport

    sample = roots[:count]
    opts = ConvertOptions(mode=Mode.PARAVIRT)
    phases = {"open": 0.0, "facts": 0.0, "checks": 0.0, "json": 0.0}

    def one(root: Path) -> None:
        t0 = time.process_time()
        with open_guest([root], read_only=True) as guest:
            g = MemoGuest(guest)  # as inspect_guest does
            t1 = time.process_time()
            facts = gather_facts(g)
            t2 = time.process_time()
            result = run_checks(g, facts, opts)
            t3 = time.process_time()
            InspectReport(g.name, opts.mode, facts, result.findings).to_json()
            t4 = time.process_time()
        for k, d in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            phases[k] += d

    for root in sample:  # warm up (imports, caches) before measuring
        one(root)
    phases = dict.fromkeys(phases, 0.0)
    for root in sample:
        one(root)
    total = sum(phases.values())
    print(f"\nprofile: {len(sample)} inspections in-process, {total / len(sample) * 1000:.1f} ms "
          "CPU each: " + ", ".join(f"{k} {v / len(sample) * 1000:.1f} ms" for k, v in
                                    phases.items()))  # fmt: skip
    prof = cProfile.Profile()
    prof.enable()
    for root in sample:
        one(root)
    prof.disable()
    out = io.StringIO()
    st = pstats.Stats(prof, stream=out)
    st.sort_stats("tottime").print_stats(15)
    print("top functions by own time (cProfile, which inflates small calls):")
    lines = out.getvalue().splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    print("\n".join(ln.replace(str(REPO) + "/", "") for ln in lines[start:] if ln.strip()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    ap.add_argument("--quick", action="store_true", help="one repetition")
    ap.add_argument("--roots", type=int, default=1000, help="mounted fixture roots (1000)")
    ap.add_argument("--no-images", action="store_true", help="skip the image comparison")
    ap.add_argument("--no-roots", action="store_true", help="skip the mounted-root rate")
    ap.add_argument("--profile", action="store_true", help="cProfile mounted-root inspections")
    ap.add_argument("--workdir", help="work directory (default: cache/bench under the repo)")
    args = ap.parse_args()
    reps = 1 if args.quick else args.reps
    precompile()
    print_machine("inspect")
    work = Path(args.workdir) if args.workdir else REPO / "cache" / "bench"
    rows: list[list[object]] = []
    if not args.no_images:
        with tempfile.TemporaryDirectory(prefix="xen2kvm-bench-inspect-") as tmp:
            rows += bench_images(reps, Path(tmp))
    roots: list[Path] = []
    if not args.no_roots or args.profile:
        t0 = time.perf_counter()
        roots = build_roots(work / "roots", args.roots)
        print(f"  {len(roots)} fixture roots ready in {time.perf_counter() - t0:.1f} s "
              f"({work / 'roots'})", flush=True)  # fmt: skip
    if not args.no_roots:
        rows += bench_roots(roots, reps)
    if rows:
        print()
        print(table(["what", "runs", "wall s (median)", "cpu s", "peak RSS MB",
                     "vs virt-inspector / rate", "result"], rows))  # fmt: skip
    if args.profile:
        profile(roots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
