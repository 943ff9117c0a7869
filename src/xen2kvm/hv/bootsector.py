"""Can a disk be booted "Direct Disk" (BIOS reading its MBR)?

Linode's Xen disks were bare filesystems: sector 0 of such a disk is the filesystem's (empty)
boot block, so BIOS finds nothing to run. We look at the first sector the way BIOS does:
the 0x55AA signature at byte 510 and some boot code before the partition table.
"""

from __future__ import annotations

import enum
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass


class BootSector(enum.Enum):
    BOOT_CODE = "boot-code"  # signature and boot code present: BIOS can boot it
    NO_BOOT_CODE = "no-boot-code"  # readable, but nothing BIOS could run
    UNKNOWN = "unknown"  # could not be read


@dataclass(frozen=True)
class BootSectorCheck:
    status: BootSector
    path: str
    reason: str


def _describe(head: bytes) -> str:
    """Name a filesystem that starts at sector 0, for a clearer refusal."""
    if len(head) >= 1082 and head[1080:1082] == b"\x53\xef":
        return "an ext2/3/4 filesystem starts at sector 0 (a bare filesystem, no partition table)"
    if head[:4] == b"XFSB":
        return "an XFS filesystem starts at sector 0 (a bare filesystem, no partition table)"
    if head[:10] == b"\xeb\x3c\x90mkfs.fa" or head[3:11] == b"mkfs.fat":
        return "a FAT filesystem starts at sector 0"
    if not any(head[:512]):
        return "sector 0 is all zeros"
    return "sector 0 holds no MBR boot code"


def inspect_sector(head: bytes, path: str) -> BootSectorCheck:
    """Judge the first bytes (at least 512; 2048 lets ext be named) of a disk."""
    if len(head) < 512:
        return BootSectorCheck(BootSector.NO_BOOT_CODE, path, "shorter than one sector")
    if head[510:512] == b"\x55\xaa" and any(head[:440]):
        return BootSectorCheck(BootSector.BOOT_CODE, path, "MBR signature and boot code present")
    return BootSectorCheck(BootSector.NO_BOOT_CODE, path, _describe(head))


def check_boot_sector(path: str, fmt: str = "raw") -> BootSectorCheck:
    """Read the first sector of a raw or qcow2 disk and judge it; UNKNOWN if unreadable."""
    if not path or not os.path.exists(path):
        return BootSectorCheck(BootSector.UNKNOWN, path, "the disk is not present here")
    if fmt == "raw":
        try:
            with open(path, "rb") as f:
                head = f.read(2048)
        except OSError as exc:
            return BootSectorCheck(BootSector.UNKNOWN, path, f"cannot read: {exc.strerror}")
        return inspect_sector(head, path)
    if fmt == "qcow2" and shutil.which("qemu-img"):
        # qemu-img dd reads guest-visible bytes through the qcow2 layer without a VM.
        with tempfile.TemporaryDirectory(prefix="xen2kvm-mbr-") as tmp:
            out = os.path.join(tmp, "head")
            try:
                subprocess.run(
                    [
                        "qemu-img",
                        "dd",
                        "-f",
                        "qcow2",
                        "-O",
                        "raw",
                        "bs=2048",
                        "count=1",
                        f"if={path}",
                        f"of={out}",
                    ],
                    check=True,
                    capture_output=True,
                    timeout=60,
                )
                with open(out, "rb") as f:
                    head = f.read(2048)
            except (OSError, subprocess.SubprocessError) as exc:
                return BootSectorCheck(
                    BootSector.UNKNOWN, path, f"qemu-img could not read it: {exc}"
                )
        return inspect_sector(head, path)
    return BootSectorCheck(BootSector.UNKNOWN, path, f"cannot look inside a {fmt} image")
