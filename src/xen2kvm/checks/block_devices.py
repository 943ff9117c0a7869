"""block-device-names: rename /dev/xvdX disks to their KVM names (or UUID=/LABEL=).

Xen PV disks are /dev/xvda, xvdb, ...; on KVM they are /dev/sda, sdb, ... in the order they
are assigned, with no gaps. Every place the guest names a disk must follow, or the root is not
found ("ALERT! /dev/xvda does not exist") and fstab mounts fail (emergency mode). Where the
filesystem's UUID or label is known the reference becomes ``UUID=``/``LABEL=``, which survives
any renaming (two disks on IDE: the root disk was named sdb in 3 of 5 boots).
"""

from __future__ import annotations

import re

from xen2kvm.checks._bootcfg import CmdlineEdit, all_cmdlines, edit_cmdlines
from xen2kvm.checks.base import Check, CheckContext, Severity
from xen2kvm.guest.base import FilesystemInfo
from xen2kvm.hv.mapping import disk_letters
from xen2kvm.parsers import fstab as fstab_mod
from xen2kvm.parsers.cmdline import KernelCmdline
from xen2kvm.parsers.devref import XVD_PATH_RE, classify, find_xvd_paths, split_disk

ID = "block-device-names"
#: Files naming disks outside fstab/crypttab and the kernel command lines.
OTHER_FILES = (
    "/boot/grub/device.map",
    "/boot/grub2/device.map",
    "/etc/mdadm/mdadm.conf",
    "/etc/mdadm.conf",
    "/etc/initramfs-tools/conf.d/resume",
    "/etc/uswsusp.conf",
    "/etc/suspend.conf",
)
_CMDLINE_KEYS = ("root", "resume")


class DeviceNamer:
    """Decides the KVM name of each Xen device the guest mentions."""

    def __init__(self, ctx: CheckContext, mentioned: set[str]) -> None:
        self.ctx = ctx
        self.mapping = ctx.options.disk_map
        disks = sorted({d for n in mentioned if (d := _disk_of(n))}, key=_disk_sort_key)
        self.filesystems = ctx.facts.filesystems
        # Without a domain config: xvdb stays the second disk (sdb) unless we know there are
        # fewer disks than that (the images given), in which case the assignment is compacted
        # in order with no gaps (xvda, xvdc -> sda, sdb).
        by_letter = {d: _letter_index(d) for d in disks}
        count = len({f.disk for f in self.filesystems})
        if count and any(i >= count for i in by_letter.values()):
            self.slot = {d: i for i, d in enumerate(disks)}
        else:
            self.slot = by_letter

    def kvm_path(self, xen_name: str) -> str | None:
        if self.mapping is not None:
            return self.mapping.translate(f"/dev/{xen_name}")
        parts = split_disk(xen_name)
        if parts is None:
            return None
        _bus, disk, part = parts
        slot = self.slot.get(disk)
        if slot is None:
            return None
        fs = self._fs(slot, part)
        if part is not None and fs is not None and fs.partition is None:
            return f"/dev/sd{disk_letters(slot)}"  # partition-only VBD: a bare fs, whole disk
        return f"/dev/sd{disk_letters(slot)}{part or ''}"

    def _fs(self, slot: int, part: int | None) -> FilesystemInfo | None:
        on_disk = [f for f in self.filesystems if f.disk == slot]
        if len(on_disk) == 1 and on_disk[0].partition is None:
            return on_disk[0]
        return next((f for f in on_disk if f.partition == part), None)

    def stable_ref(self, xen_name: str) -> str | None:
        """``UUID=...`` (or ``LABEL=``) for the filesystem on that device, if known."""
        if not self.ctx.options.use_uuids:
            return None
        parts = split_disk(xen_name)
        if parts is None:
            return None
        _bus, disk, part = parts
        slot = self.slot.get(disk)
        if self.mapping is not None:
            dev = self.mapping.by_xen(disk)
            slot = dev.slot if dev is not None else None
        if slot is None:
            return None
        fs = self._fs(slot, part)
        if fs is None:
            return None
        if fs.uuid:
            return f"UUID={fs.uuid}"
        if fs.label:
            return f"LABEL={fs.label}"
        return None


def _disk_of(name: str) -> str | None:
    parts = split_disk(name)
    return parts[1] if parts else None


def _letter_index(disk: str) -> int:
    index = 0
    for ch in disk[3:]:
        index = index * 26 + (ord(ch) - ord("a") + 1)
    return index - 1


def _disk_sort_key(disk: str) -> tuple[int, str]:
    return (len(disk), disk)


def _mentions(ctx: CheckContext) -> set[str]:
    names: set[str] = set()
    for path in ("/etc/fstab", "/etc/crypttab", *OTHER_FILES):
        text = ctx.read_text(path)
        if text:
            names |= {m.name for m in find_xvd_paths(text)}
    for _path, cl in all_cmdlines(ctx):
        for key in _CMDLINE_KEYS:
            for value in cl.get_all(key):
                if value:
                    names |= {m.name for m in find_xvd_paths(value)}
    return names


def _initramfs_resolves_uuids(ctx: CheckContext) -> bool:
    """root=UUID= needs an initramfs (the kernel alone only knows device names)."""
    return any(
        ctx.plan.guest.exists(p)
        for p in ("/usr/share/initramfs-tools", "/usr/lib/dracut", "/usr/lib/initcpio")
    ) or bool(ctx.plan.guest.glob("/boot/init*"))


def run(ctx: CheckContext) -> None:
    mentioned = _mentions(ctx)
    if not mentioned:
        return
    namer = DeviceNamer(ctx, mentioned)
    unmapped: set[str] = set()
    changed: list[str] = []

    def rename(name: str, *, stable_ok: bool) -> str | None:
        new = (namer.stable_ref(name) if stable_ok else None) or namer.kvm_path(name)
        if new is None:
            unmapped.add(name)
        return new

    # fstab and crypttab: the device field only.
    for path, parse in (
        ("/etc/fstab", fstab_mod.parse_fstab),
        ("/etc/crypttab", fstab_mod.parse_crypttab),
    ):
        text = ctx.read_text(path)
        if text is None:
            continue
        tab = parse(text, source=path)
        for entry in tab.entries():
            spec = entry.field(0 if path == "/etc/fstab" else 1)
            if spec is None:
                continue
            ref = classify(spec)
            if ref.kind != "path" or not ref.is_xen or ref.name is None:
                continue
            new = rename(ref.name, stable_ok=True)
            if new is not None:
                entry.set_field(0 if path == "/etc/fstab" else 1, new)
        new_text = tab.render()
        if new_text != text:
            ctx.write_text(path, new_text, "Xen disk names -> KVM names")
            changed.append(path)

    # Kernel command lines: root= and resume=.
    uuids_ok = _initramfs_resolves_uuids(ctx)

    def fix(cl: KernelCmdline) -> None:
        for key in _CMDLINE_KEYS:
            for p in cl.find(key):
                value = p.value or ""
                ref = classify(value)
                if ref.kind == "path" and ref.is_xen and ref.name is not None:
                    new = rename(ref.name, stable_ok=uuids_ok)
                    if new is not None:
                        cl.replace_param(p, f"{key}={new}")

    changed += edit_cmdlines(ctx, CmdlineEdit(fix=fix), "Xen disk names -> KVM names")

    # Other files: every /dev/xvd* on a non-comment line.
    for path in OTHER_FILES:
        text = ctx.read_text(path)
        if text is None or not find_xvd_paths(text):
            continue
        stable_ok = "resume" in path or "suspend" in path

        def sub(m: re.Match[str], stable_ok: bool = stable_ok) -> str:
            name = m.group(0)[len("/dev/") :]
            return rename(name, stable_ok=stable_ok) or m.group(0)

        lines = text.splitlines(keepends=True)
        new_lines = [
            ln if ln.lstrip().startswith("#") else XVD_PATH_RE.sub(sub, ln) for ln in lines
        ]
        new_text = "".join(new_lines)
        if new_text != text:
            ctx.write_text(path, new_text, "Xen disk names -> KVM names")
            changed.append(path)

    if changed:
        kinds = "UUID=/LABEL= where known, else " if ctx.options.use_uuids else ""
        ctx.finding(
            Severity.BLOCKS_BOOT,
            f"the guest names its disks {', '.join(sorted('/dev/' + n for n in mentioned))}",
            why="Xen's /dev/xvdX disks are /dev/sdX on KVM: the root is not found and fstab "
            "mounts fail",
            fix=f"rename to {kinds}KVM names in assignment order (no gaps)",
            paths=sorted(set(changed)),
        )
    if unmapped:
        ctx.finding(
            Severity.BLOCKS_BOOT,
            f"no KVM device for {', '.join(sorted(unmapped))}",
            why="the disk assignment given does not cover these devices",
            fix="none: give a --disk-map or the Xen domain config that covers them",
            fixable=False,
        )


CHECK = Check(id=ID, title="Disk names", why=__doc__ or "", run=run)
