"""Classify the ways a guest names a block device (fstab, crypttab, root=, resume=, ...)."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["XVD_PATH_RE", "DeviceRef", "XvdMention", "classify", "find_xvd_paths", "split_disk"]

#: A Xen virtual block device path, whole disk or partition (``/dev/xvda``, ``/dev/xvdb2``).
XVD_PATH_RE = re.compile(r"(?<![\w/.-])/dev/(xvd[a-z]{1,2})(\d+)?(?![\w-])")

_TAG_KINDS = {
    "UUID": "uuid",
    "LABEL": "label",
    "PARTUUID": "partuuid",
    "PARTLABEL": "partlabel",
    "ID": "id",
}
_DISK_RE = re.compile(
    r"(?P<disk>(?P<bus>xvd|sd|hd|vd)[a-z]{1,3}|(?P<bus2>nvme)\d+n\d+|(?P<bus3>mmcblk)\d+)"
    r"(?P<part>p?\d+)?"
)


@dataclass(frozen=True)
class DeviceRef:
    """How one device is referred to.

    ``kind``: ``path`` (a /dev/NAME kernel name), ``uuid``/``label``/``partuuid``/``partlabel``
    (``TAG=value``), ``by-uuid``/``by-label``/``by-id``/``by-path``/``by-partuuid``/
    ``by-partlabel`` (/dev/disk/by-* symlinks), ``mapper`` (/dev/mapper/*, LVM /dev/VG/LV is
    ``other-dev``), ``md``, ``none`` (tmpfs, proc, ``none``) or ``other`` (nfs, ...).
    """

    kind: str
    spec: str  # as written
    value: str  # the tag value, by-* link name, or the device path
    name: str | None = None  # kernel name for kind "path": "xvda1"
    bus: str | None = None  # "xvd" | "sd" | "hd" | "vd" | "nvme" | "mmcblk" | "md"
    disk: str | None = None  # whole-disk kernel name: "xvda"
    partition: int | None = None

    @property
    def is_xen(self) -> bool:
        return self.bus == "xvd"


def split_disk(name: str) -> tuple[str, str, int | None] | None:
    """``"xvda1"`` -> ``("xvd", "xvda", 1)``; None if not a known disk naming scheme."""
    m = _DISK_RE.fullmatch(name)
    if m is None:
        return None
    bus = m.group("bus") or m.group("bus2") or m.group("bus3")
    part = m.group("part")
    return bus, m.group("disk"), int(part.lstrip("p")) if part else None


def classify(spec: str) -> DeviceRef:
    """Classify a device spec as written in fstab/crypttab/the kernel command line."""
    s = spec.strip()
    if "=" in s and not s.startswith("/"):
        tag, _, val = s.partition("=")
        kind = _TAG_KINDS.get(tag.upper())
        if kind is not None:
            return DeviceRef(kind, spec, val.strip("\"'"))
    if s.startswith("/dev/disk/by-"):
        rest = s[len("/dev/disk/") :]
        sub, _, link = rest.partition("/")
        return DeviceRef(sub, spec, link)
    if s.startswith("/dev/mapper/"):
        return DeviceRef("mapper", spec, s)
    if s.startswith("/dev/"):
        name = s[len("/dev/") :]
        parts = split_disk(name)
        if parts is not None:
            bus, disk, part = parts
            return DeviceRef("path", spec, s, name, bus, disk, part)
        m = re.fullmatch(r"md(\d+)|md/[\w.-]+", name)
        if m:
            return DeviceRef("md", spec, s, name, "md")
        return DeviceRef("other-dev", spec, s, name)
    if s in ("", "none", "tmpfs", "proc", "sysfs", "devpts", "xenfs", "devtmpfs", "swap"):
        return DeviceRef("none", spec, s)
    return DeviceRef("other", spec, s)


@dataclass(frozen=True)
class XvdMention:
    """A ``/dev/xvd*`` name found in some text: 1-based line and column, the device name."""

    line: int
    column: int
    name: str  # "xvda1"
    text: str  # the matched path, "/dev/xvda1"
    disk: str = ""  # "xvda"


def find_xvd_paths(text: str) -> list[XvdMention]:
    """Every ``/dev/xvd*`` path in ``text`` (commented lines included; callers decide)."""
    out: list[XvdMention] = []
    for m in XVD_PATH_RE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        col = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
        out.append(XvdMention(line, col, m.group(0)[len("/dev/") :], m.group(0), m.group(1)))
    return out
