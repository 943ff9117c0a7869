"""``xen2kvm rollback``: undo every conversion recorded in a guest, from its journal."""

from __future__ import annotations

import argparse
from typing import Any

from xen2kvm.cli.common import add_guest_args, guest_paths, run_per_guest
from xen2kvm.errors import ExitCode
from xen2kvm.guest import open_guest
from xen2kvm.transaction import Transaction

SCHEMA = "xen2kvm.rollback/1"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "rollback",
        help="undo conversions from the journal kept in the guest",
        description="Restore every file a conversion changed (content, mode, owner, xattrs, "
        "symlinks), newest transaction first, including one interrupted mid-apply; then "
        "remove the journal. Exit 0: restored (or nothing to undo); 2: error.",
    )
    add_guest_args(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    return run_per_guest(args, SCHEMA, rollback_one)


def rollback_one(guest: str, args: argparse.Namespace) -> tuple[int, dict[str, Any], str]:
    with open_guest(guest_paths(guest), read_only=False, backend=args.backend) as g:
        result = Transaction(g).rollback()
    doc = {
        "guest": guest,
        "transactions": result.txids,
        "restored": result.restored,
        "interrupted": result.crashed,
    }
    if not result.txids:
        text = f"guest: {guest}\n  nothing to roll back: no xen2kvm journal in the guest\n"
    else:
        text = (
            f"guest: {guest}\n  rolled back {', '.join(result.txids)}: "
            f"{len(result.restored)} file(s) restored\n"
            + "".join(f"    {p}\n" for p in result.restored)
        )
    return ExitCode.OK, doc, text
