"""Guest access: one interface (:class:`Guest`) over a guest's files, several backends.

Use :func:`open_guest` to open what a user names on the command line: a directory (a mounted
root) or one or more disk images (a guest's disks in assignment order).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from xen2kvm.errors import GuestError
from xen2kvm.guest.base import Guest
from xen2kvm.guest.local import LocalGuest

__all__ = ["Guest", "LocalGuest", "open_guest"]


def open_guest(
    paths: Sequence[str | Path],
    *,
    read_only: bool = True,
    backend: str = "auto",
    trusted_backing: Sequence[Path] | None = None,
) -> Guest:
    """Open a guest from a root directory or from its disk images.

    ``backend`` is ``auto``, ``dir``, ``fuse2fs`` or ``libguestfs``; ``auto`` uses the directory
    backend for a directory and, for images, the userspace ext driver when every filesystem
    allows it (no appliance start) and libguestfs otherwise. ``trusted_backing``: for qcow2
    overlays that xen2kvm made itself, the one backing file each may follow (never given for
    user input, whose backing files are refused).
    """
    if not paths:
        raise GuestError("no guest given")
    resolved = [Path(p) for p in paths]
    for p in resolved:
        if not p.exists():
            raise GuestError(f"{p}: no such file or directory")
    if len(resolved) == 1 and resolved[0].is_dir():
        if backend not in ("auto", "dir"):
            raise GuestError(f"{resolved[0]}: a directory can only use the 'dir' backend")
        return LocalGuest(resolved[0], read_only=read_only)
    if any(p.is_dir() for p in resolved):
        raise GuestError("give either one root directory or one or more disk images")
    from xen2kvm.guest.image import open_images  # heavy imports only when images are used

    return open_images(
        resolved, read_only=read_only, backend=backend, trusted_backing=trusted_backing
    )
