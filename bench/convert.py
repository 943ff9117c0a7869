#!/usr/bin/env python3
"""Benchmark: converting the reference Xen-style Debian guest, xen2kvm vs virt-v2v-in-place.

Usage (as root: the mounted-root case loop-mounts a copy of the image):
    .venv/bin/python bench/convert.py [--reps N | --quick] [--no-boot] [--no-v2v] [--json FILE]

For each repetition, every tool gets a fresh sparse copy of the same images (root + swap) and
the tools run in alternating order:
- ``virt-v2v-in-place -i disk ROOT SWAP`` (libguestfs appliance, TCG forced);
- ``xen2kvm convert ROOT,SWAP --mode paravirt --backend fuse2fs`` (the default for this image);
- the same with ``--backend libguestfs`` (one appliance);
- ``xen2kvm convert MOUNTPOINT --mode paravirt`` on the image loop-mounted read-write by this
  script (the mount is not timed: an operator who converts mounted roots already has them).
Each tool's last result is then booted once with ``xen2kvm verify --mode paravirt --login``.
Prints a table of medians (wall, CPU with children, peak RSS), the ratio to virt-v2v-in-place
measured in this run, and the boot verdicts. virt-v2v-in-place takes minutes per run here (TCG),
so ``--quick`` (one repetition) exists; the default is three.
"""

from __future__ import annotations

import os
import sys

# Run as a script: the repository root (not bench/) goes first on the path.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

from bench._common import (  # noqa: E402
    GFS_ENV,
    XEN2KVM,
    Run,
    Series,
    fresh_copy,
    loop_mount,
    measure,
    precompile,
    print_machine,
    reference_guest,
    require_root,
    table,
    verify_boot,
    which,
)

V2V = "virt-v2v-in-place"


def run_v2v(images: list[Path]) -> Run:
    return measure([which(V2V), "-i", "disk", *map(str, images)], env=GFS_ENV)


def run_xen2kvm(backend: str) -> Callable[[list[Path]], Run]:
    def go(images: list[Path]) -> Run:
        env = GFS_ENV if backend == "libguestfs" else None
        guest = ",".join(map(str, images))
        return measure(
            [*XEN2KVM, "convert", guest, "--mode", "paravirt", "--backend", backend, "--json"],
            env=env,
        )

    return go


def run_xen2kvm_mounted(images: list[Path]) -> Run:
    with loop_mount(images[0], read_only=False) as mnt:
        return measure([*XEN2KVM, "convert", str(mnt), "--mode", "paravirt", "--json"])


def summarise_xen2kvm(run: Run) -> str:
    try:
        g = json.loads(run.stdout)["guests"][0]
    except (json.JSONDecodeError, KeyError, IndexError):
        last = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else f"rc {run.rc}"
        return last[:90]
    if "error" in g:
        return f"error: {g['error']}"[:90]
    blocking = [f for f in g["remaining"] if f["severity"] != "warning"]
    return f"{len(g['applied'])} files changed, {len(blocking)} blocking left"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reps", type=int, default=3, help="repetitions per tool (default 3)")
    ap.add_argument("--quick", action="store_true", help="one repetition (virt-v2v is slow)")
    ap.add_argument("--no-boot", action="store_true", help="do not boot the results")
    ap.add_argument("--no-v2v", action="store_true", help="leave virt-v2v-in-place out")
    ap.add_argument("--variant", default="reference", help="guest builder variant")
    ap.add_argument("--workdir", help="where the image copies go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--json", metavar="FILE", help="also write every figure to FILE")
    args = ap.parse_args()
    reps = 1 if args.quick else args.reps
    require_root("bench/convert.py")
    precompile()
    images, login = reference_guest(args.variant)
    print_machine(f"convert: {args.variant} guest ({', '.join(i.name for i in images)})")

    tools: list[tuple[str, Callable[[list[Path]], Run]]] = []
    if not args.no_v2v:
        tools.append((V2V, run_v2v))
    tools += [
        ("xen2kvm fuse2fs", run_xen2kvm("fuse2fs")),
        ("xen2kvm libguestfs", run_xen2kvm("libguestfs")),
        ("xen2kvm mounted root", run_xen2kvm_mounted),
    ]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="xen2kvm-bench-convert-"))
    series = {name: Series(name) for name, _ in tools}
    last: dict[str, list[Path]] = {}
    try:
        for rep in range(reps):
            order = tools[rep % len(tools) :] + tools[: rep % len(tools)]  # alternate the order
            for name, fn in order:
                tag = name.replace(" ", "-")
                copy = fresh_copy(images, work, tag)
                run = fn(copy)
                series[name].runs.append(run)
                last[name] = copy
                print(
                    f"  rep {rep + 1}/{reps} {name:<22} {run.wall:7.2f} s wall "
                    f"{run.cpu:7.2f} s cpu  rc {run.rc}",
                    flush=True,
                )
                if run.rc != 0:
                    print(f"    stderr: {run.stderr.strip()[-400:]}", flush=True)
        boots: dict[str, dict[str, object]] = {}
        if not args.no_boot:
            for name, _ in tools:
                boots[name] = verify_boot(last[name], "paravirt", login)
                print(f"  boot {name:<22} {boots[name].get('verdict')}", flush=True)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    base = series.get(V2V)
    rows = []
    for name, _ in tools:
        s = series[name]
        wall, cpu, rss = s.median("wall"), s.median("cpu"), s.median("rss_mb")
        ratio = f"1/{base.median('wall') / wall:.0f}" if base and name != V2V else "-"
        cpu_ratio = f"1/{base.median('cpu') / cpu:.0f}" if base and name != V2V else "-"
        what = summarise_xen2kvm(s.runs[-1]) if name != V2V else f"rc {s.runs[-1].rc}"
        boot = str(boots.get(name, {}).get("verdict", "not booted"))
        if boot == "verify-error":
            boot += f" ({str(boots[name].get('reason'))[:60]})"
        rows.append([name, len(s.runs), wall, cpu, rss, ratio, cpu_ratio, what, boot])
    print()
    print(table(
        ["tool", "runs", "wall s (median)", "cpu s", "peak RSS MB", "wall vs v2v",
         "cpu vs v2v", "result", "boots (paravirt)"],
        rows,
    ))  # fmt: skip
    if base:
        target = base.median("wall") / 10
        for name, _ in tools:
            if name == V2V:
                continue
            wall = series[name].median("wall")
            print(f"target: {name} <= 1/10 of {V2V} wall time ({target:.1f} s): "
                  f"{'met' if wall <= target and series[name].ok else 'MISSED'} ({wall:.2f} s, "
                  f"rc {series[name].runs[-1].rc})")  # fmt: skip
    if args.json:
        doc = {
            name: {
                "runs": [{"wall": r.wall, "cpu": r.cpu, "rss_mb": r.rss_mb, "rc": r.rc}
                         for r in series[name].runs],
                "boot": {k: v for k, v in boots.get(name, {}).items()
                         if k in ("verdict", "ok", "reason", "timings", "bench_wall")},
            }
            for name, _ in tools
        }  # fmt: skip
        Path(args.json).write_text(json.dumps(doc, indent=2))
    ok = all(s.ok for s in series.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
