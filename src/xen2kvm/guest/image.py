"""Opening a guest from its disk images: choosing between fuse2fs and libguestfs.

``auto`` takes the userspace ext driver whenever the guest's filesystems allow it (ext2/3/4,
no LVM, journal clean; raw or qcow2) because it opens in well under a second, and libguestfs
otherwise (about 40 s per appliance start without KVM). Backend names force one backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from xen2kvm.errors import GuestError
from xen2kvm.guest.base import Guest
from xen2kvm.guest.disks import DiskInfo, check_image_file, probe_format

BACKENDS = ("auto", "fuse2fs", "libguestfs")


def probe_disks(
    paths: Sequence[Path],
    *,
    read_only: bool,
    trusted_backing: Sequence[Path] | None = None,
) -> list[DiskInfo]:
    """Check each image file and detect its format (raw or qcow2), in disk order."""
    if not paths:
        raise GuestError("no disk images given")
    seen: set[Path] = set()
    disks: list[DiskInfo] = []
    for index, path in enumerate(paths):
        check_image_file(path, read_only=read_only)
        real = path.resolve()
        if real in seen:
            raise GuestError(f"{path}: the same image is given twice")
        seen.add(real)
        backing = trusted_backing[index] if trusted_backing else None
        disks.append(probe_format(path, index, trusted_backing=backing))
    return disks


def open_images(
    paths: Sequence[Path],
    *,
    read_only: bool,
    backend: str = "auto",
    trusted_backing: Sequence[Path] | None = None,
) -> Guest:
    """Open a guest made of these disk images (in the guest's disk order: sda, sdb, ...).

    Raises GuestError (one line naming the image) for corrupt images, images without an
    operating system, or a forced backend that cannot serve these disks; GuestReadOnly when
    ``read_only`` is false and an image file is read-only.
    """
    if backend not in BACKENDS:
        raise GuestError(f"unknown image backend {backend!r} (choose from {', '.join(BACKENDS)})")
    disks = probe_disks(
        [Path(p) for p in paths], read_only=read_only, trusted_backing=trusted_backing
    )
    if backend in ("auto", "fuse2fs"):
        from xen2kvm.guest.fuse import BackendUnsuitable, Fuse2fsGuest

        try:
            return Fuse2fsGuest(disks, read_only=read_only)
        except BackendUnsuitable as exc:
            if backend == "fuse2fs":
                names = ", ".join(str(d.path) for d in disks)
                msg = str(exc) if str(disks[0].path) in str(exc) else f"{names}: {exc}"
                raise GuestError(msg) from exc
    from xen2kvm.guest.gfs import GuestfsGuest

    return GuestfsGuest(disks, read_only=read_only)
