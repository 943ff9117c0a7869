#!/usr/bin/env python3
"""Time to open a guest image, read /etc/os-release and close it, per backend.

Usage: PYTHONPATH=. .venv/bin/python bench/image_open.py [--runs N] [--gfs-runs N]

Builds one bare ext4 Debian-like image (and its qcow2 copy) and measures, on the same files:
fuse2fs on raw, fuse2fs on qcow2 (through qemu-storage-daemon), libguestfs on raw (the
appliance, TCG). Prints wall-time medians and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from tests.images import debian_tree, make_ext4, make_qcow2

from xen2kvm.guest.image import open_images


def once(image: Path, backend: str) -> float:
    t0 = time.perf_counter()
    with open_images([image], read_only=True, backend=backend) as g:
        assert "debian" in g.read_text("/etc/os-release")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per fuse2fs case (median)")
    ap.add_argument("--gfs-runs", type=int, default=3, help="runs of the libguestfs case")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw = make_ext4(
            debian_tree(fstab="/dev/xvda / ext4 defaults 0 1\n"), Path(tmp) / "g.img", size_mb=64
        )
        qcow = make_qcow2(raw, Path(tmp) / "g.qcow2")
        cases = [
            ("fuse2fs raw", raw, "fuse2fs", args.runs),
            ("fuse2fs qcow2", qcow, "fuse2fs", args.runs),
            ("libguestfs raw", raw, "libguestfs", args.gfs_runs),
        ]
        results: dict[str, float] = {}
        for name, image, backend, runs in cases:
            times = [once(image, backend) for _ in range(runs)]
            results[name] = statistics.median(times)
        load = os.getloadavg()[0]
        print(f"{'case':<16} {'median s':>10}   (cores {os.cpu_count()}, load {load:.1f})")
        for name, t in results.items():
            print(f"{name:<16} {t:>10.3f}")
        ratio = results["libguestfs raw"] / results["fuse2fs raw"]
        print(f"libguestfs / fuse2fs raw: {ratio:.0f}x")


if __name__ == "__main__":
    main()
