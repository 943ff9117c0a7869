"""``xen2kvm rollback``: undo every conversion recorded in a guest, from its journal."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from xen2kvm.cli.common import add_guest_args, guest_paths, is_directory, run_per_guest
from xen2kvm.errors import ExitCode, GuestReadOnly
from xen2kvm.guest import open_guest
from xen2kvm.imageundo import rollback_images, staged
from xen2kvm.transaction import RollbackResult, Transaction, has_journal

SCHEMA = "xen2kvm.rollback/1"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "rollback",
        help="undo conversions (image undo records, or the journal kept in the guest)",
        description="Disk images: restore them byte for byte from the undo records convert "
        "wrote beside them (IMAGE.xen2kvm-undo.N), if the images still hold exactly what the "
        "conversion wrote. Otherwise (a mounted root, or a guest that has booted since): "
        "restore every file a conversion changed (content, mode, owner, xattrs, symlinks) "
        "from the journal inside the guest, newest transaction first, including one "
        "interrupted mid-apply, then remove the journal. Exit 0: restored (or nothing to "
        "undo); 2: error.",
    )
    add_guest_args(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    return run_per_guest(args, SCHEMA, rollback_one)


def _journal_rollback_of_images(paths: list[Path], backend: str) -> RollbackResult | None:
    """The journal inside the guest, applied to images without touching them needlessly.

    Mounting a filesystem read-write changes its superblock, so the images are first looked
    at read-only; a guest with no journal is left alone. The rollback itself runs in overlays
    committed only when it succeeds: a failed rollback leaves the images as they were.
    """
    with open_guest(paths, read_only=True, backend=backend) as g:
        if not has_journal(g):
            return None
    with staged(paths) as stage:
        with open_guest(
            stage.overlays, read_only=False, backend=backend, trusted_backing=stage.images
        ) as g:
            result = Transaction(g).rollback()
        if result.txids:  # a read-write mount alone changes the superblock: commit real work only
            stage.commit(keep_undo=False)
    return result


def rollback_one(guest: str, args: argparse.Namespace) -> tuple[int, dict[str, Any], str]:
    paths = guest_paths(guest)
    image = None
    if not is_directory(paths) and all(p.is_file() for p in paths):
        for p in paths:  # refused up front, whether or not there turns out to be work
            if not p.stat().st_mode & 0o222 or not os.access(p, os.W_OK):
                raise GuestReadOnly(f"{p}: the image file is read-only; cannot roll it back")
        # Images: the block-level undo records restore them byte for byte, unless the guest
        # has changed since (it booted); then the file-level journal inside it is used.
        image = rollback_images(paths)
    result = None
    if image is None:
        with open_guest(paths, read_only=False, backend=args.backend) as g:
            result = Transaction(g).rollback()
    elif not image.restored or image.stale:
        result = _journal_rollback_of_images(paths, args.backend)
    doc = {
        "guest": guest,
        "transactions": result.txids if result else [],
        "restored": result.restored if result else [],
        "interrupted": result.crashed if result else False,
        "image_undo_applied": image.restored if image else [],
        "image_undo_stale": image.stale if image else [],
    }
    lines = [f"guest: {guest}"]
    if image and image.restored:
        lines.append("  images restored byte for byte from " + ", ".join(image.restored))
    if image and image.stale:
        lines.append(
            "  image changed since the conversion (booted?): undo records not applied: "
            + ", ".join(image.stale)
        )
    if result and result.txids:
        lines.append(
            f"  rolled back {', '.join(result.txids)}: {len(result.restored)} file(s) restored"
        )
        lines += [f"    {p}" for p in result.restored]
    if len(lines) == 1:
        lines.append("  nothing to roll back: no xen2kvm journal or undo record")
    return ExitCode.OK, doc, "\n".join(lines) + "\n"
