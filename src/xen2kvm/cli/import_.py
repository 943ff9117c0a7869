"""``xen2kvm import SOURCE --out DIR``: copy a source's disks to local raw/qcow2 files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from xen2kvm.errors import UsageError
from xen2kvm.jsonutil import dump_json
from xen2kvm.sources.copy import CopyResult, Progress, copy_extents
from xen2kvm.sources.xva import XvaSource


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "import",
        help="copy a source's disks (XVA) to local raw/qcow2 files",
        description="Stream the disks of SOURCE (an XVA archive: plain, gzip or zstd) into "
        "sparse raw or qcow2 files in DIR, verifying every chunk. Nothing is left in DIR on "
        "error. Exit 0: imported; 2: error.",
    )
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("--out", required=True, metavar="DIR", type=Path)
    p.add_argument("--format", choices=("raw", "qcow2"), default="raw")
    p.add_argument("--json", action="store_true", help="print a JSON document on stdout")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=main)


def _domain_json(d: Any) -> dict[str, Any]:
    return {
        "name": d.name,
        "uuid": d.uuid,
        "memory_mib": d.memory_mib,
        "vcpus": d.vcpus,
        "xen_type": d.xen_type,
        "nics": [{"mac": n.mac, "bridge": n.bridge} for n in d.nics],
        "boot": {
            "kind": d.boot.kind.value,
            "bootloader": d.boot.bootloader,
            "bootloader_args": d.boot.bootloader_args,
            "order": list(d.boot.order),
        },
        "warnings": list(d.warnings),
    }


def main(args: argparse.Namespace) -> int:
    src_path = Path(args.source)
    if not src_path.is_file():
        raise UsageError(f"{args.source}: no such file (import reads XVA archives)")
    out: Path = args.out
    if not out.is_dir():
        raise UsageError(f"{out}: not a directory")
    source = XvaSource(src_path)
    info = source.describe()
    ext = "img" if args.format == "raw" else "qcow2"
    dests = [out / f"{d.xen_name or f'disk{d.index}'}.{ext}" for d in info.disks]
    if not args.force:
        for dest in dests:
            if dest.exists():
                raise UsageError(f"{dest}: exists (use --force to overwrite)")
    results: list[CopyResult] = []
    try:
        for disk, dest in zip(info.disks, dests, strict=True):
            progress = None
            bar: Any = None
            if args.json and not args.quiet:

                def progress(p: Progress) -> None:
                    sys.stderr.write(
                        json.dumps(
                            {
                                "event": "progress",
                                "disk": p.label,
                                "done": p.done,
                                "total": p.total,
                                "rate": round(p.rate),
                            }
                        )
                        + "\n"
                    )
            elif not args.quiet and sys.stderr.isatty():
                from rich.progress import Progress as Bar

                bar = Bar(transient=False)
                bar.start()
                task = bar.add_task(disk.label, total=disk.virtual_size)

                def progress(p: Progress, bar: Any = bar, task: Any = task) -> None:
                    bar.update(task, completed=p.done)

            try:
                with source.open_disk(disk) as extents:
                    results.append(
                        copy_extents(
                            extents,
                            disk.virtual_size,
                            dest,
                            label=disk.label,
                            fmt=args.format,
                            force=args.force,
                            progress=progress,
                        )
                    )
            finally:
                if bar is not None:
                    bar.stop()
    except BaseException:
        for r in results:  # all or nothing: earlier disks of a failed import go too
            Path(r.path).unlink(missing_ok=True)
        raise
    doc = {
        "schema": "xen2kvm.import/1",
        "source": str(src_path),
        "disks": [
            {
                "path": r.path,
                "format": r.format,
                "virtual_size": r.virtual_size,
                "sha256": r.sha256,
                "xen_name": d.xen_name,
                "bootable": d.bootable,
            }
            for r, d in zip(results, info.disks, strict=False)
        ],
        "domain": _domain_json(info.domain) if info.domain else None,
    }
    if args.json:
        sys.stdout.write(dump_json(doc) + "\n")
    elif not args.quiet:
        for r in results:
            print(f"{r.path}: {r.format}, {r.virtual_size} bytes, sha256 {r.sha256}")
    return 0
