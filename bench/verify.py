#!/usr/bin/env python3
"""Benchmark: how fast ``xen2kvm verify`` reaches a verdict, failing and passing.

Usage: .venv/bin/python bench/verify.py [--mode paravirt|fullvirt] [--json FILE]

Three boots of the reference Xen-style Debian guest, each on a fresh copy:
1. unconverted: console=hvc0, so nothing reaches ttyS0; the verdict is 'silent' (the silence
   judge decides; there is no failure line);
2. console only (``xen2kvm convert --only console``): the kernel now prints on ttyS0 but the
   initramfs has only xen-blkfront, so the boot stops at the initramfs shell with a failure
   line ('ALERT! ... does not exist'); this is the failure-line-to-verdict case;
3. converted (``xen2kvm convert``): expected 'network' after logging in.
For each: the wall time of the verify command, QEMU start -> verdict, and for failures the delay
between the deciding line (or sample) and the verdict (verify's own ``timings``; target < 2 s).
"""

from __future__ import annotations

import os
import sys

sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from bench._common import (  # noqa: E402
    XEN2KVM,
    fresh_copy,
    measure,
    precompile,
    print_machine,
    reference_guest,
    table,
    verify_boot,
)


def _t(timings: dict[str, float | None], key: str) -> float | None:
    return timings.get(key)


def _sub(a: float | None, b: float | None) -> float | str:
    return "-" if a is None or b is None else a - b


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mode", default="paravirt", choices=("paravirt", "fullvirt"))
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--json", metavar="FILE", help="also write the verify documents to FILE")
    args = ap.parse_args()
    precompile()
    images, login = reference_guest()
    print_machine(f"verify: reference guest, mode {args.mode}")
    cases = [
        ("unconverted", None),
        ("console only", ["--only", "console"]),
        ("converted", []),
    ]
    rows: list[list[object]] = []
    docs: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="xen2kvm-bench-verify-") as tmp:
        for name, convert_args in cases:
            copy = fresh_copy(images, Path(tmp), name.replace(" ", "-"))
            if convert_args is not None:
                conv = measure([*XEN2KVM, "convert", ",".join(map(str, copy)), "--mode",
                                args.mode, "--quiet", *convert_args])  # fmt: skip
                if conv.rc != 0:
                    print(f"  convert ({name}) failed: {conv.stderr.strip()[-300:]}")
            doc = verify_boot(copy, args.mode, login, timeout=args.timeout)
            docs[name] = doc
            t = doc.get("timings") or {}
            assert isinstance(t, dict)
            start = _t(t, "qemu_started")
            verdict_at = _t(t, "verdict_at")
            failure = _t(t, "failure_line_seen")
            rows.append([
                name, doc.get("verdict"), doc.get("bench_wall"),
                _sub(verdict_at, start), _sub(failure, start),
                _sub(verdict_at, failure), t.get("decision_delay", "-"),
                "; ".join(str(x) for x in (doc.get("matched_lines") or [])[:1])[:70],
            ])  # fmt: skip
            print(f"  {name}: {doc.get('verdict')} ({doc.get('reason')})", flush=True)
            for c in copy:
                c.unlink()
    print()
    print(table(
        ["boot", "verdict", "verify wall s", "QEMU start -> verdict s",
         "QEMU start -> failure line s", "failure line -> verdict s", "decision delay s",
         "deciding line"],
        rows,
    ))  # fmt: skip
    delays = [r[5] for r in rows if isinstance(r[5], float)]
    if delays:
        worst = max(delays)
        print(f"\ntarget: failing verdict within 2 s of the failure line: "
              f"{'met' if worst < 2 else 'MISSED'} (worst {worst:.2f} s)")  # fmt: skip
    if args.json:
        keep = ("verdict", "ok", "reason", "timings", "matched_lines", "accel", "bench_wall")
        Path(args.json).write_text(json.dumps(
            {k: {f: v for f, v in d.items() if f in keep} for k, d in docs.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
