"""``xen2kvm convert``: fix a guest in place for KVM, transactionally."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xen2kvm.checks import REGISTRY, ConvertOptions, Mode
from xen2kvm.cli.common import (
    add_guest_args,
    add_mode_arg,
    guest_paths,
    is_directory,
    run_per_guest,
)
from xen2kvm.convert import SCHEMA, ConvertReport, convert_guest
from xen2kvm.errors import ExitCode, UsageError
from xen2kvm.guest import open_guest
from xen2kvm.hv.mapping import DiskMapping, build_mapping
from xen2kvm.hv.mapping import parse_disk_map as hv_parse_disk_map
from xen2kvm.hv.model import Disk
from xen2kvm.imageundo import staged


def register(sub: Any) -> None:
    ids = ", ".join(c.id for c in REGISTRY)
    p: argparse.ArgumentParser = sub.add_parser(
        "convert",
        help="fix a guest in place for KVM (transactional; see rollback)",
        description="Inspect, plan, show the diff, apply every fix in one journaled "
        "transaction (kept inside the guest for 'xen2kvm rollback'), then re-inspect. "
        f"Checks: {ids}. Exit 0: nothing blocking left (or nothing to do); 1: blocking "
        "findings remain (dry run: changes are needed); 2: error; 3: refused.",
    )
    add_guest_args(p)
    add_mode_arg(p)
    p.add_argument("--dry-run", action="store_true", help="show the plan and diff; change nothing")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="CHECK",
        help="run only this check (repeatable)",
    )
    p.add_argument(
        "--skip", action="append", default=[], metavar="CHECK", help="skip this check (repeatable)"
    )
    p.add_argument(
        "--literal-names",
        action="store_true",
        help="name disks /dev/sdX (Linode's convention) instead of UUID=/LABEL=",
    )
    p.add_argument(
        "--disk-map",
        metavar="XEN=KVM,...",
        help="explicit device mapping, e.g. xvda=sda,xvdc=sdb (default: in order, no gaps)",
    )
    p.add_argument(
        "--mac",
        action="append",
        default=[],
        metavar="IFACE=MAC",
        help="new MAC for an interface: rewrite HWADDR pins instead of removing them",
    )
    p.add_argument(
        "--force", action="store_true", help="apply even if the guest would still not boot"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(func=main)


def parse_disk_map(text: str, mode: Mode) -> DiskMapping:
    """``xvda=sda,xvdc=sdb`` as a mapping (validated: sequential, no gaps, mode's slots)."""
    overrides = hv_parse_disk_map(text)
    disks = [Disk(source="", vdev=xen) for xen in overrides]
    return build_mapping(disks, mode, overrides, source="--disk-map")


def render(report: ConvertReport) -> str:
    out = [f"guest: {report.guest} (mode {report.mode})"]
    if not report.plan:
        out.append("  nothing to change: no check plans any action")
    else:
        out.append(report.diff.rstrip("\n"))
    if report.dry_run:
        out.append(f"  dry run: {len(report.plan.actions)} change(s) planned, none applied")
    elif report.applied:
        out.append(
            f"  applied {len(report.applied)} change(s), transaction {report.txid} "
            "(undo: xen2kvm rollback)"
        )
    remaining = report.findings if report.dry_run else report.remaining
    for f in remaining:
        out.append(f"  remaining [{f.severity.value}] {f.check}: {f.summary}")
    return "\n".join(out) + "\n"


def _options(args: argparse.Namespace) -> ConvertOptions:
    mode = Mode(args.mode)
    macs: dict[str, str] = {}
    for item in args.mac:
        iface, sep, mac = item.partition("=")
        if not sep:
            raise UsageError(f"--mac: {item!r} is not IFACE=MAC")
        macs[iface] = mac
    return ConvertOptions(
        mode=mode,
        disk_map=parse_disk_map(args.disk_map, mode) if args.disk_map else None,
        use_uuids=not args.literal_names,
        new_macs=macs,
        force=args.force,
    )


def convert_paths(
    paths: list[Path],
    options: ConvertOptions,
    *,
    dry_run: bool = False,
    only: list[str] | None = None,
    skip: list[str] | None = None,
    backend: str = "auto",
    progress: Callable[[str], None] | None = None,
) -> ConvertReport:
    """Convert one guest given as a root directory or its disk images."""
    say = progress or (lambda _m: None)
    if dry_run or is_directory(paths):
        with open_guest(paths, read_only=dry_run, backend=backend) as g:
            return convert_guest(
                g, options, dry_run=dry_run, only=only or (), skip=skip or (), progress=say
            )
    # Images: convert into overlays, then commit with a block-level undo record (see
    # xen2kvm.imageundo); a failure or a kill before the commit leaves the images untouched.
    with staged(paths) as stage:
        with open_guest(
            stage.overlays, read_only=False, backend=backend, trusted_backing=stage.images
        ) as g:
            report = convert_guest(g, options, only=only or (), skip=skip or (), progress=say)
        if report.applied:
            say("writing the changes into the image (undo record kept)")
            report = dataclasses.replace(report, image_undo=stage.commit())
    return report


def convert_one(guest: str, args: argparse.Namespace) -> tuple[int, dict[str, Any], str]:
    options = _options(args)

    def progress(msg: str) -> None:
        if not args.quiet and not args.json:
            print(f"  .. {guest}: {msg}", file=sys.stderr)

    report = convert_paths(
        guest_paths(guest),
        options,
        dry_run=args.dry_run,
        only=args.only,
        skip=args.skip,
        backend=args.backend,
        progress=progress,
    )
    report = dataclasses.replace(report, guest=guest)
    if report.dry_run:
        code = ExitCode.FINDINGS if report.plan or report.blocking_remaining else ExitCode.OK
    else:
        code = ExitCode.FINDINGS if report.blocking_remaining else ExitCode.OK
    return code, report.to_json(), render(report)


def main(args: argparse.Namespace) -> int:
    _options(args)  # option errors once, before any guest is touched
    return run_per_guest(args, SCHEMA, convert_one)
