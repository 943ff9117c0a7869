"""Map Xen virtual block devices to KVM device names.

KVM (and Linode) wants disks assigned sequentially with no gaps: Xen's ``xvda, xvdc`` become
``sda, sdb``. A partition-only Xen device (``xvda1``: the backend holds a bare filesystem,
no partition table) becomes a whole KVM disk (``sda``). The mapping is data because
``convert`` must apply the very same renames to the guest's fstab and boot configuration.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from xen2kvm.errors import ParseError, RefusedError, UsageError
from xen2kvm.hv.model import Disk, VMMode

#: How many block devices each KVM mode offers (Linode: sda..sdh; IDE: two buses x two units).
MAX_DEVICES = {VMMode.PARAVIRT: 8, VMMode.FULLVIRT: 4}

_ALPHABET = "abcdefghijklmnopqrstuvwxyz"
_VDEV_RE = re.compile(r"^(?:/dev/)?(xvd|hd|sd|vd)([a-z]+)([0-9]*)$")
_PARTITION_RE = re.compile(r"^(/dev/(?:xvd|hd|sd|vd)[a-z]+)([0-9]+)$")


#: The KVM slot names of every mode: sda, sdb...
_SLOTS = tuple(f"sd{_ALPHABET[i]}" for i in range(max(MAX_DEVICES.values())))


@dataclass(frozen=True)
class Vdev:
    """A parsed Xen device name: ``xvdb2`` is prefix xvd, disk index 1, partition 2."""

    prefix: str
    index: int
    partition: int  # 0 = whole disk

    @property
    def name(self) -> str:
        return f"{self.prefix}{disk_letters(self.index)}{self.partition or ''}"


def disk_letters(index: int) -> str:
    """0 -> a, 25 -> z, 26 -> aa (the kernel's naming)."""
    if 0 <= index < 26:
        return _ALPHABET[index]
    s = ""
    n = index + 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(ord("a") + r) + s
    return s


def parse_vdev(name: str, *, source: str = "<input>") -> Vdev:
    v = _parse_vdev(name)
    if isinstance(v, str):
        raise ParseError(v, source=source)
    return v


@functools.lru_cache(maxsize=1024)
def _parse_vdev(name: str) -> Vdev | str:
    """The :class:`Vdev` for ``name``, or the error message: a config names few distinct
    devices and every translation parses each of them, so the (immutable) answers are kept."""
    m = _VDEV_RE.match(name.strip())
    if not m:
        return f"vdev {name!r}: not a device name like xvda, xvda1, hdc or sdb"
    prefix, letters, part = m.groups()
    if prefix == "hd" and len(letters) > 1:
        return f"vdev {name!r}: IDE names go from hda to hdz"
    index = 0
    for ch in letters:
        index = index * 26 + (ord(ch) - ord("a") + 1)
    partition = int(part) if part else 0
    if part and partition == 0:
        return f"vdev {name!r}: partitions are numbered from 1"
    return Vdev(prefix, index - 1, partition)


@dataclass(frozen=True)
class MappedDevice:
    """One Xen block device and its KVM identity.

    ``kvm`` is the name the guest kernel will use (``/dev/sdb``, ``/dev/sr0`` for a CD-ROM);
    ``target`` is the hypervisor slot (libvirt ``<target dev=>``, Linode device key).
    """

    xen: str
    kvm: str
    target: str
    slot: int
    source: str
    partition_only: bool = False
    cdrom: bool = False
    #: Other names the guest may have used for the same device (an HVM guest's hda may be
    #: xvda once PV drivers unplug the emulated disk).
    aliases: tuple[str, ...] = ()

    # Written out, as Disk's is (see there), for the same reason.
    def __init__(
        self,
        xen: str,
        kvm: str,
        target: str,
        slot: int,
        source: str,
        partition_only: bool = False,
        cdrom: bool = False,
        aliases: tuple[str, ...] = (),
    ) -> None:
        self.__dict__.update(
            xen=xen,
            kvm=kvm,
            target=target,
            slot=slot,
            source=source,
            partition_only=partition_only,
            cdrom=cdrom,
            aliases=aliases,
        )


@dataclass(frozen=True)
class DiskMapping:
    """The Xen -> KVM device renames for one guest, in slot order."""

    devices: tuple[MappedDevice, ...]
    mode: VMMode

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """(xen, kvm) device paths, e.g. ("/dev/xvda1", "/dev/sda"), aliases included."""
        out: list[tuple[str, str]] = []
        for d in self.devices:
            out.append((d.xen, d.kvm))
            out.extend((a, d.kvm) for a in d.aliases)
        return out

    def translate(self, device: str) -> str | None:
        """The KVM name for a Xen device path, or None if the mapping does not cover it.

        Partitions of a whole mapped disk follow it (xvda2 -> sda2 when xvda -> sda); a
        partition-only device maps to the whole disk (xvda1 -> sda).
        """
        for d in self.devices:
            if device == d.xen or device in d.aliases:
                return d.kvm
        m = _PARTITION_RE.match(device)
        if m:
            whole, part = m.groups()
            for d in self.devices:
                if not d.partition_only and not d.cdrom and (whole == d.xen or whole in d.aliases):
                    return f"{d.kvm}{part}"
        return None

    def by_xen(self, vdev: str) -> MappedDevice | None:
        name = vdev if vdev.startswith("/dev/") else f"/dev/{vdev}"
        for d in self.devices:
            if d.xen == name:
                return d
        return None


def parse_disk_map(text: str) -> dict[str, str]:
    """Parse ``xvda=sda,xvdc=sdb`` (``/dev/`` prefixes allowed) into {xen vdev: kvm slot}."""
    out: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        xen, sep, kvm = part.partition("=")
        xen, kvm = xen.strip().removeprefix("/dev/"), kvm.strip().removeprefix("/dev/")
        if not sep or not xen or not kvm:
            raise UsageError(f"--disk-map: {part!r} is not XEN=KVM (e.g. xvda=sda)")
        if not re.fullmatch(r"sd[a-z]", kvm):
            raise UsageError(f"--disk-map: {kvm!r} is not a KVM slot name (sda..sdh)")
        if xen in out:
            raise UsageError(f"--disk-map: {xen} is given twice")
        out[xen] = kvm
    return out


def build_mapping(
    disks: Sequence[Disk],
    mode: VMMode,
    overrides: Mapping[str, str] | None = None,
    *,
    source: str = "<input>",
    hvm: bool = False,
) -> DiskMapping:
    """Assign every disk a KVM slot: sequential, no gaps, Xen order, CD-ROMs last.

    Raises ParseError for duplicate or overlapping vdevs, RefusedError when the mode has too
    few slots, UsageError when ``overrides`` leave a gap or reuse a slot.
    """
    parsed: list[tuple[Vdev, Disk]] = []
    seen: dict[tuple[int, int], str] = {}
    for disk in disks:
        v = parse_vdev(disk.vdev, source=source)
        key = (v.index, v.partition)
        if key in seen:
            also = "" if seen[key] == disk.vdev else f" (same device as {seen[key]})"
            raise ParseError(f"disk: duplicate vdev {disk.vdev}{also}", source=source)
        seen[key] = disk.vdev
        parsed.append((v, disk))
    for (index, part), name in seen.items():
        if part and (index, 0) in seen:
            raise ParseError(
                f"disk: {name} is a partition of {seen[(index, 0)]}, which is also given as a "
                "whole disk",
                source=source,
            )
    limit = MAX_DEVICES[mode]
    if len(parsed) > limit:
        last = f"sd{disk_letters(limit - 1)}"
        raise RefusedError(
            f"{mode.value} offers {limit} block devices (sda..{last}) but the domain has "
            f"{len(parsed)}"
            + (
                "; use --mode paravirt (up to 8) or combine disks"
                if mode is VMMode.FULLVIRT
                else "; combine disks before moving"
            )
        )
    ordered = sorted(
        (p for p in parsed if not p[1].cdrom), key=lambda p: (p[0].index, p[0].partition)
    ) + [p for p in parsed if p[1].cdrom]

    if overrides:
        slots = _place_overrides(parsed, ordered, overrides, mode)
    else:
        slots = dict(enumerate(ordered))

    devices: list[MappedDevice] = []
    n_disk = n_cd = 0
    # Every slot is below the mode's limit (checked above), so the names come from _SLOTS.
    for slot in range(len(slots)):
        v, d = slots[slot]
        if d.cdrom:
            kvm = f"/dev/sr{n_cd}"
            n_cd += 1
        else:
            kvm = "/dev/" + _SLOTS[n_disk]
            n_disk += 1
        aliases: tuple[str, ...] = ()
        if hvm and v.prefix == "hd":
            # PV-on-HVM drivers unplug the emulated IDE disk and show it as xvdX.
            aliases = (f"/dev/xvd{disk_letters(v.index)}{v.partition or ''}",)
        vdev = d.vdev
        devices.append(
            MappedDevice(
                vdev if vdev.startswith("/dev/") else "/dev/" + vdev,  # xen
                kvm,
                _SLOTS[slot],  # target
                slot,
                d.source,
                v.partition > 0,  # partition_only
                d.cdrom,
                aliases,
            )
        )
    return DiskMapping(tuple(devices), mode)


def _place_overrides(
    parsed: list[tuple[Vdev, Disk]],
    ordered: list[tuple[Vdev, Disk]],
    overrides: Mapping[str, str],
    mode: VMMode,
) -> dict[int, tuple[Vdev, Disk]]:
    """Slots for a user's --disk-map: given ones fixed, the rest in order, no gaps allowed."""
    slots: dict[int, tuple[Vdev, Disk]] = {}
    limit = MAX_DEVICES[mode]
    names = {d.vdev.removeprefix("/dev/"): (v, d) for v, d in parsed}
    for xen, kvm in overrides.items():
        if xen not in names:
            raise UsageError(
                f"--disk-map: {xen} is not a disk of this domain ({', '.join(names) or 'none'})"
            )
        slot = ord(kvm[2]) - ord("a")
        if slot >= limit:
            raise UsageError(f"--disk-map: {kvm} is beyond the {mode.value} slots")
        if slot in slots:
            raise UsageError(f"--disk-map: {kvm} is given to two disks")
        slots[slot] = names[xen]
    free = (s for s in range(limit) if s not in slots)
    for v, d in ordered:
        if d.vdev.removeprefix("/dev/") not in overrides:
            slots[next(free)] = (v, d)
    used = sorted(slots)
    if used != list(range(len(used))):
        gap = next(i for i in range(len(used)) if i not in slots)
        raise UsageError(
            f"--disk-map leaves sd{disk_letters(gap)} empty: KVM assignments must be "
            "sequential with no gaps"
        )
    return slots
