"""What every guest-facing command shares: guest arguments, --mode, --json, per-guest errors."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xen2kvm.checks import Mode
from xen2kvm.errors import ExitCode, Xen2KvmError

GUEST_HELP = (
    "a guest: a root directory, or its disk images in assignment order joined by commas "
    "(xvda.img,xvdb.img); several guests may be given"
)


def add_guest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("guests", nargs="+", metavar="GUEST", help=GUEST_HELP)
    p.add_argument(
        "--backend",
        choices=("auto", "dir", "fuse2fs", "libguestfs"),
        default="auto",
        help="how to open disk images (default: fuse2fs for ext2/3/4 raw images, else "
        "libguestfs)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON document on stdout")


def add_mode_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        default=Mode.PARAVIRT.value,
        help="KVM mode: paravirt (virtio-scsi + virtio-net, default) or fullvirt (IDE + e1000)",
    )


def guest_paths(arg: str) -> list[Path]:
    return [Path(p) for p in arg.split(",") if p]


@dataclass
class Outcome:
    guest: str
    code: int
    doc: dict[str, Any]


def run_per_guest(
    args: argparse.Namespace,
    schema: str,
    one: Callable[[str], tuple[int, dict[str, Any], str]],
) -> int:
    """Run ``one`` for each guest; one guest's failure does not stop the others.

    ``one`` returns (exit code, JSON document, text report). The overall exit code is the
    worst one (errors before findings before success).
    """
    outcomes: list[Outcome] = []
    for guest in args.guests:
        try:
            code, doc, text = one(guest)
            if not args.json:
                print(text, end="" if text.endswith("\n") else "\n")
        except Xen2KvmError as exc:
            code, doc = exc.exit_code, {"guest": guest, "error": str(exc)}
            print(f"xen2kvm: error: {exc}", file=sys.stderr)
        outcomes.append(Outcome(guest, code, doc))
    if args.json:
        json.dump({"schema": schema, "guests": [o.doc for o in outcomes]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return _worst(o.code for o in outcomes)


def _worst(codes: Any) -> int:
    order = [ExitCode.INTERNAL, ExitCode.ERROR, ExitCode.REFUSED, ExitCode.FINDINGS, ExitCode.OK]
    got = list(codes)
    for c in order:
        if c in got:
            return int(c)
    return ExitCode.OK
