"""Probing a guest's disk images on the host without mounting anything.

What we need to know before choosing a backend: each disk's format (raw or qcow2, decided
once and then always passed explicitly), and for raw disks the filesystems on them (a bare
filesystem, MBR/GPT partitions, LVM members) with their UUIDs and labels, so that the guest's
fstab can be matched against them.

Probing uses util-linux (``partx``, ``blkid -p``) and ``qemu-img``: well-kept userspace
parsers, run as the calling user, on files only. The host kernel never mounts or parses the
untrusted image. Only one thing is read by hand: the ext "needs recovery" flag, which blkid
does not report (one fixed-size superblock field).

Device names follow libguestfs (``/dev/sda``, ``/dev/sdb1``) so both backends and
``virt-inspector`` describe the same guest with the same names.
"""

from __future__ import annotations

import json
import os
import re
import stat as stat_mod
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from xen2kvm.errors import GuestError, GuestReadOnly
from xen2kvm.guest.base import FilesystemInfo

#: Filesystem types the userspace ext driver (fuse2fs) can serve.
EXT_TYPES = frozenset({"ext2", "ext3", "ext4"})
#: Content that needs no mounting (nothing of the guest's tree lives there).
IGNORED_TYPES = frozenset({"swap", "swsuspend"})
#: GPT / MBR partition types that carry no filesystem of the guest's tree.
_IGNORED_PART_TYPES = frozenset(
    {
        "21686148-6449-6e6f-744e-656564454649",  # BIOS boot partition (GRUB core.img)
        "0x5",  # MBR extended container
        "0xf",
        "0x85",
    }
)
#: Files that mark a filesystem as an operating system's root (with /etc; any one suffices).
ROOT_MARKERS = (
    "/etc/fstab",
    "/etc/os-release",
    "/usr/lib/os-release",
    "/etc/debian_version",
    "/etc/redhat-release",
    "/etc/centos-release",
    "/etc/fedora-release",
    "/etc/SuSE-release",
    "/etc/arch-release",
    "/etc/lsb-release",
    "/etc/gentoo-release",
    "/etc/alpine-release",
)
_EXT_INCOMPAT_RECOVER = 0x4
_EXT_MAGIC = 0xEF53
_TOOL_TIMEOUT = 120


@dataclass(frozen=True)
class DiskInfo:
    """One disk image as given by the user, with its detected format."""

    path: Path
    format: str  # "raw" or "qcow2"
    virtual_size: int
    index: int  # position in the guest's disk order: 0 -> /dev/sda

    @property
    def device(self) -> str:
        return device_name(self.index)


@dataclass(frozen=True)
class FsInfo:
    """A filesystem (or other content) found on a disk, addressed by byte offset."""

    device: str  # libguestfs-style name: /dev/sda (bare filesystem) or /dev/sda2
    disk_index: int
    partition: int | None
    offset: int
    size: int
    fstype: str | None  # blkid TYPE: ext4, xfs, swap, LVM2_member, ... None: unknown
    uuid: str | None = None
    label: str | None = None
    partuuid: str | None = None
    needs_recovery: bool = False


@dataclass(frozen=True)
class ImageInspection:
    """What a backend found in a guest's images: comparable with ``virt-inspector``.

    ``mountpoints`` maps a guest mountpoint to a libguestfs-style device name. ``unmounted``
    lists fstab mountpoints that were not mounted, each with the reason; ``warnings`` says what
    else was odd (an unreadable fstab). Distro fields are filled by libguestfs inspection only;
    the facts layer reads them for every backend.
    """

    backend: str
    disks: tuple[str, ...]
    root: str
    distro: str | None = None
    product_name: str | None = None
    major_version: int | None = None
    minor_version: int | None = None
    hostname: str | None = None
    mountpoints: Mapping[str, str] = field(default_factory=dict)
    unmounted: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def filesystems_from(found: Sequence[FsInfo], inspection: ImageInspection) -> list[FilesystemInfo]:
    """The backend-neutral view of what was found (for naming filesystems by UUID=)."""
    where = {dev: mp for mp, dev in inspection.mountpoints.items()}
    return [
        FilesystemInfo(
            disk=fs.disk_index,
            partition=fs.partition,
            fstype=fs.fstype or "",
            uuid=fs.uuid,
            label=fs.label,
            mountpoint=where.get(fs.device),
        )
        for fs in found
        if fs.fstype
    ]


def device_name(disk_index: int, partition: int | None = None) -> str:
    """``/dev/sda``, ``/dev/sdab``, ``/dev/sdb3``: the names libguestfs gives disks."""
    letters = ""
    n = disk_index
    while True:
        letters = chr(ord("a") + n % 26) + letters
        n = n // 26 - 1
        if n < 0:
            break
    return f"/dev/sd{letters}" + (str(partition) if partition is not None else "")


def _run(argv: Sequence[str], what: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=_TOOL_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise GuestError(f"{what}: cannot probe: {argv[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise GuestError(f"{what}: {argv[0]} did not finish within {_TOOL_TIMEOUT} s") from exc


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else "unknown error"


def check_image_file(path: Path, *, read_only: bool) -> None:
    """Refuse what is not a disk image (directories, FIFOs) and, for writing, read-only files.

    Mode bits are checked as well as access, because root may open a 0444 file for writing and
    the user marked it read-only on purpose.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise GuestError(f"{path}: no such file or directory") from None
    except OSError as exc:
        raise GuestError(f"{path}: cannot access: {exc.strerror}") from exc
    if not (stat_mod.S_ISREG(st.st_mode) or stat_mod.S_ISBLK(st.st_mode)):
        raise GuestError(f"{path}: not a disk image (neither a regular file nor a block device)")
    if not os.access(path, os.R_OK):
        raise GuestError(f"{path}: permission denied")
    if not read_only and (not st.st_mode & 0o222 or not os.access(path, os.W_OK)):
        raise GuestReadOnly(f"{path}: the image file is read-only; cannot open it for writing")


def probe_format(path: Path, index: int, *, trusted_backing: Path | None = None) -> DiskInfo:
    """Detect raw or qcow2 with ``qemu-img info``, and reject what would be unsafe to open.

    The format is detected once here and then always passed explicitly to the tools that open
    the image. A qcow2 header can be written by a guest into its own raw disk; such a header
    is only dangerous with a backing file or an external data file (host paths), so those are
    refused outright rather than followed.
    """
    proc = _run(["qemu-img", "info", "--output=json", "-U", str(path)], path)
    if proc.returncode != 0:
        raise GuestError(f"{path}: not a readable disk image: {_first_line(proc.stderr)}")
    try:
        info = json.loads(proc.stdout)
        fmt = str(info["format"])
        vsize = int(info["virtual-size"])
    except (ValueError, KeyError, TypeError) as exc:
        raise GuestError(f"{path}: qemu-img gave unexpected output") from exc
    if fmt not in ("raw", "qcow2"):
        raise GuestError(f"{path}: unsupported disk image format {fmt!r} (raw or qcow2 only)")
    backing = info.get("full-backing-filename") or info.get("backing-filename")
    # xen2kvm's own staging overlays (xen2kvm.imageundo) are backed by the user's image:
    # that one backing file, and no other, is followed.
    trusted = trusted_backing is not None and backing is not None and (
        Path(str(backing)).resolve() == trusted_backing.resolve()
    )
    if backing and not trusted:
        raise GuestError(
            f"{path}: qcow2 image with a backing file ({info.get('backing-filename')}); "
            "refusing to follow it (flatten it first with qemu-img convert)"
        )
    data = info.get("format-specific", {}).get("data", {})
    if isinstance(data, dict) and data.get("data-file"):
        raise GuestError(f"{path}: qcow2 image with an external data file; refusing to open it")
    if fmt == "qcow2":
        chk = _run(["qemu-img", "check", "-U", "-f", "qcow2", "--output=json", str(path)], path)
        # 0: clean, 3: only leaked clusters (harmless); 1 and 2: damaged or unreadable.
        if chk.returncode not in (0, 3):
            raise GuestError(f"{path}: corrupt qcow2 image (qemu-img check failed)")
        if data.get("corrupt") is True:
            raise GuestError(f"{path}: qcow2 image is marked corrupt")
    return DiskInfo(path=path, format=fmt, virtual_size=vsize, index=index)


def _blkid(path: Path, offset: int = 0, size: int | None = None) -> dict[str, str]:
    argv = ["blkid", "-p", "-o", "export"]
    if offset:
        argv += ["-O", str(offset)]
    if size is not None:
        argv += ["-S", str(size)]
    proc = _run([*argv, str(path)], path)
    # 2: nothing recognised. Other failures (I/O errors) also mean nothing usable.
    if proc.returncode != 0:
        return {}
    out: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def _ext_needs_recovery(path: Path, offset: int) -> bool:
    """The ext journal has unreplayed transactions (superblock s_feature_incompat & RECOVER)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset + 1024)
            sb = f.read(1024)
    except OSError:
        return False
    if len(sb) < 0x68 or int.from_bytes(sb[0x38:0x3A], "little") != _EXT_MAGIC:
        return False
    return bool(int.from_bytes(sb[0x60:0x64], "little") & _EXT_INCOMPAT_RECOVER)


def _fs_from_blkid(
    path: Path,
    disk_index: int,
    partition: int | None,
    offset: int,
    size: int,
    partuuid: str | None,
) -> FsInfo:
    probe = _blkid(path, offset, size if partition is not None else None)
    fstype = probe.get("TYPE")
    return FsInfo(
        device=device_name(disk_index, partition),
        disk_index=disk_index,
        partition=partition,
        offset=offset,
        size=size,
        fstype=fstype,
        uuid=probe.get("UUID"),
        label=probe.get("LABEL"),
        partuuid=partuuid,
        needs_recovery=fstype in EXT_TYPES and _ext_needs_recovery(path, offset),
    )


def probe_filesystems(path: Path, disk_index: int) -> list[FsInfo]:
    """Filesystems on a raw disk (``path`` readable as a flat byte stream).

    A disk with a partition table yields one entry per partition (empty or unknown
    partitions with ``fstype=None``, which callers must treat as "cannot tell"); a bare
    filesystem yields one entry for the whole disk. Raises GuestError if nothing at all is
    recognised (random bytes, an all-zero disk).
    """
    size = path.stat().st_size
    if stat_mod.S_ISBLK(path.stat().st_mode):
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
    whole = _blkid(path)
    if "PTTYPE" not in whole:
        if whole.get("TYPE"):
            return [_fs_from_blkid(path, disk_index, None, 0, size, None)]
        raise GuestError(f"{path}: no filesystem or partition table found (corrupt or empty?)")
    proc = _run(["partx", "-b", "-g", "-P", "-o", "NR,START,SECTORS,TYPE,UUID", str(path)], path)
    if proc.returncode != 0:
        raise GuestError(f"{path}: unreadable partition table: {_first_line(proc.stderr)}")
    found: list[FsInfo] = []
    for line in proc.stdout.splitlines():
        fields = dict(re.findall(r'(\w+)="([^"]*)"', line))
        try:
            nr = int(fields["NR"])
            # partx reports 512-byte sectors for image files and most block devices.
            start = int(fields["START"]) * 512
            length = int(fields["SECTORS"]) * 512
        except (KeyError, ValueError):
            continue
        ptype = fields.get("TYPE", "").lower()
        if ptype in _IGNORED_PART_TYPES:
            continue
        found.append(_fs_from_blkid(path, disk_index, nr, start, length, fields.get("UUID")))
    if not found:
        raise GuestError(f"{path}: the partition table has no usable partition")
    return found


# --- fstab ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FstabMount:
    spec: str
    mountpoint: str
    fstype: str
    options: str


def _unescape(field_: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_)


def parse_fstab_mounts(text: str) -> list[FstabMount]:
    """Entries of an fstab that mount something at an absolute path (swap, comments dropped).

    Only what mounting needs; the full fstab model with round-tripping belongs to the facts.
    """
    mounts: list[FstabMount] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 3:
            continue
        spec, mp, fstype = (_unescape(p) for p in parts[:3])
        opts = parts[3] if len(parts) > 3 else "defaults"
        if not mp.startswith("/") or fstype in ("swap", "none"):
            continue
        mounts.append(FstabMount(spec, mp, fstype, opts))
    return mounts


_DEVNAME = re.compile(r"^/dev/(?:xvd|sd|vd|hd)([a-z]+)(?:p?(\d+))?$")


def match_device(spec: str, filesystems: Sequence[FsInfo]) -> FsInfo | None:
    """The filesystem an fstab device reference names, if it is on the guest's disks.

    Understands ``UUID=``, ``LABEL=``, ``PARTUUID=``, ``/dev/disk/by-*/`` and kernel device
    names of any Xen/KVM/SCSI/IDE flavour (``/dev/xvdb1`` is the first partition of the
    second disk, as libguestfs maps it).
    """
    spec = spec.strip()
    key, _, value = spec.partition("=")
    by = {"UUID": "uuid", "LABEL": "label", "PARTUUID": "partuuid"}
    if spec.startswith("/dev/disk/by-"):
        kind, _, value = spec[len("/dev/disk/by-") :].partition("/")
        key = {"uuid": "UUID", "label": "LABEL", "partuuid": "PARTUUID"}.get(kind, "")
        value = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), value)
    if key in by and value:
        value = value.strip('"')
        for fs in filesystems:
            have = getattr(fs, by[key])
            if have is not None and (have == value or have.lower() == value.lower()):
                return fs
        return None
    m = _DEVNAME.match(spec)
    if m:
        letters, part = m.group(1), m.group(2)
        index = 0
        for ch in letters:
            index = index * 26 + (ord(ch) - ord("a") + 1)
        index -= 1
        partition = int(part) if part else None
        for fs in filesystems:
            if fs.disk_index == index and fs.partition == partition:
                return fs
    return None
