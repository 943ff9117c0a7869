"""Storage facts: how the guest names its disks, and every place it names a Xen disk.

Read-only. Covers fstab (devices, swap, xenfs ``/proc/xen``), crypttab, resume configuration
(kernel ``resume=``, /etc/initramfs-tools/conf.d/resume, /etc/uswsusp.conf), mdadm.conf,
GRUB's device.map, and lists each ``/dev/xvd*`` occurrence (file, line, column, name) in those
files and in the boot configuration files found by :func:`xen2kvm.facts.boot.gather_boot`,
so the block-device check can rewrite each one or report it.

Unreadable files become :attr:`StorageFacts.problems`, never exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xen2kvm.errors import ParseError
from xen2kvm.facts._reader import FactReader
from xen2kvm.facts.boot import BootFacts, gather_boot
from xen2kvm.guest.base import Guest
from xen2kvm.parsers import cmdline as cmdline_mod
from xen2kvm.parsers import devicemap, mdadm, shellvars
from xen2kvm.parsers.devref import DeviceRef, classify, find_xvd_paths
from xen2kvm.parsers.fstab import CrypttabEntry, FstabEntry, parse_crypttab, parse_fstab

__all__ = [
    "CRYPTTAB",
    "DEVICE_MAP_PATHS",
    "FSTAB",
    "MDADM_PATHS",
    "RESUME_PATHS",
    "CryptEntry",
    "DeviceMapEntry",
    "MdadmEntry",
    "MountEntry",
    "ResumeSetting",
    "StorageFacts",
    "XvdReference",
    "gather_storage",
]

FSTAB = "/etc/fstab"
CRYPTTAB = "/etc/crypttab"
MDADM_PATHS = ("/etc/mdadm/mdadm.conf", "/etc/mdadm.conf")
DEVICE_MAP_PATHS = ("/boot/grub/device.map", "/boot/grub2/device.map", "/grub/device.map")
INITRAMFS_RESUME = "/etc/initramfs-tools/conf.d/resume"
USWSUSP_CONF = "/etc/uswsusp.conf"
RESUME_PATHS = (INITRAMFS_RESUME, USWSUSP_CONF)


@dataclass(frozen=True)
class MountEntry:
    """One fstab entry."""

    line: int
    spec: str
    mountpoint: str | None
    vfstype: str | None
    options: list[str]
    device: DeviceRef
    #: Fewer than the two fields mount needs (mount skips it; we keep and report it).
    malformed: bool = False


@dataclass(frozen=True)
class CryptEntry:
    line: int
    name: str
    spec: str | None
    keyfile: str | None
    options: list[str]
    device: DeviceRef | None


@dataclass(frozen=True)
class ResumeSetting:
    """Where hibernation resumes from: ``source`` is a file path (or a boot config)."""

    source: str
    line: int | None
    value: str
    device: DeviceRef


@dataclass(frozen=True)
class MdadmEntry:
    line: int
    keyword: str  # "DEVICE" | "ARRAY"
    array: str | None
    devices: list[str]


@dataclass(frozen=True)
class DeviceMapEntry:
    line: int
    drive: str
    device: str


@dataclass(frozen=True)
class XvdReference:
    """One ``/dev/xvd*`` name in a guest file."""

    file: str
    line: int
    column: int
    #: Kernel device name: "xvda1".
    name: str
    #: Whole-disk name: "xvda".
    disk: str
    #: The line is a comment (``#``) — informative, usually not rewritten.
    commented: bool


@dataclass(frozen=True)
class StorageFacts:
    fstab_path: str | None
    fstab: list[MountEntry]
    crypttab_path: str | None
    crypttab: list[CryptEntry]
    #: fstab swap entries (also in :attr:`fstab`).
    swap: list[MountEntry]
    #: fstab xenfs / /proc/xen entries (also in :attr:`fstab`).
    xenfs: list[MountEntry]
    resume: list[ResumeSetting]
    mdadm_path: str | None
    mdadm: list[MdadmEntry]
    device_map_path: str | None
    device_map: list[DeviceMapEntry]
    #: Every /dev/xvd* occurrence in the files above and the boot configuration.
    xvd_references: list[XvdReference]
    #: Whole Xen disks named anywhere (sorted): ["xvda", "xvdb"].
    xvd_disks: list[str]
    #: Files scanned for device names.
    files: list[str]
    problems: list[str] = field(default_factory=list)


def _first_file(reader: FactReader, paths: tuple[str, ...]) -> tuple[str, str] | None:
    for p in paths:
        text = reader.text(p)
        if text is not None:
            return p, text
    return None


def _commented(text: str, line: int) -> bool:
    lines = text.split("\n")
    if line - 1 >= len(lines):
        return False
    return lines[line - 1].lstrip().startswith("#")


def _resume_from_cmdline(source: str, cmdline: str | None, out: list[ResumeSetting]) -> None:
    if not cmdline:
        return
    for value in cmdline_mod.parse(cmdline).get_all("resume"):
        if value:
            out.append(ResumeSetting(source, None, value, classify(value)))


def gather_storage(guest: Guest, boot: BootFacts | None = None) -> StorageFacts:
    """Read how ``guest`` names its storage. ``boot`` avoids re-reading boot configuration."""
    reader = FactReader(guest)
    if boot is None:
        boot = gather_boot(guest)
    texts: dict[str, str] = {}

    fstab: list[MountEntry] = []
    fstab_text = reader.text(FSTAB)
    if fstab_text is not None:
        texts[FSTAB] = fstab_text
        for e in parse_fstab(fstab_text, FSTAB).entries():
            assert isinstance(e, FstabEntry)
            spec = e.spec or ""
            fstab.append(
                MountEntry(
                    e.line, spec, e.mountpoint, e.vfstype, e.options, classify(spec), e.malformed
                )
            )

    crypttab: list[CryptEntry] = []
    crypt_text = reader.text(CRYPTTAB)
    if crypt_text is not None:
        texts[CRYPTTAB] = crypt_text
        for c in parse_crypttab(crypt_text, CRYPTTAB).entries():
            assert isinstance(c, CrypttabEntry)
            crypttab.append(
                CryptEntry(c.line, c.name or "", c.spec, c.keyfile, c.options, c.device)
            )

    resume: list[ResumeSetting] = []
    res_text = reader.text(INITRAMFS_RESUME)
    if res_text is not None:
        texts[INITRAMFS_RESUME] = res_text
        try:
            sv = shellvars.parse(res_text, INITRAMFS_RESUME)
            for a in sv.assignments("RESUME"):
                if a.value and a.value.lower() not in ("none", "auto"):
                    resume.append(
                        ResumeSetting(INITRAMFS_RESUME, a.line, a.value, classify(a.value))
                    )
        except ParseError as err:
            reader.problem(str(err))
    us_text = reader.text(USWSUSP_CONF)
    if us_text is not None:
        texts[USWSUSP_CONF] = us_text
        for i, line in enumerate(us_text.split("\n"), 1):
            key, sep, value = line.partition("=")
            if not sep:
                key, sep, value = line.partition(":")
            if sep and key.strip().lower() == "resume device" and value.strip():
                v = value.strip()
                resume.append(ResumeSetting(USWSUSP_CONF, i, v, classify(v)))
    if boot.default_entry is not None:
        _resume_from_cmdline(boot.default_entry.source, boot.default_cmdline, resume)
    if boot.grub_default_files:
        _resume_from_cmdline(boot.grub_default_files[0], boot.grub_defaults_cmdline, resume)

    md_entries: list[MdadmEntry] = []
    md = _first_file(reader, MDADM_PATHS)
    if md is not None:
        texts[md[0]] = md[1]
        for ln in mdadm.parse(md[1], md[0]).lines:
            if ln.keyword in ("DEVICE", "ARRAY"):
                md_entries.append(MdadmEntry(ln.line, ln.keyword, ln.array, ln.devices))

    dm_entries: list[DeviceMapEntry] = []
    dm = _first_file(reader, DEVICE_MAP_PATHS)
    if dm is not None:
        texts[dm[0]] = dm[1]
        for d in devicemap.parse(dm[1], dm[0]).entries():
            dm_entries.append(DeviceMapEntry(d.line, d.drive or "", d.device or ""))

    for path in boot.files:
        if path not in texts:
            text = reader.text(path)
            if text is not None:
                texts[path] = text

    refs: list[XvdReference] = []
    for path, text in texts.items():
        for m in find_xvd_paths(text):
            refs.append(
                XvdReference(path, m.line, m.column, m.name, m.disk, _commented(text, m.line))
            )

    return StorageFacts(
        fstab_path=FSTAB if fstab_text is not None else None,
        fstab=fstab,
        crypttab_path=CRYPTTAB if crypt_text is not None else None,
        crypttab=crypttab,
        swap=[e for e in fstab if e.vfstype == "swap"],
        xenfs=[e for e in fstab if e.vfstype == "xenfs" or e.mountpoint == "/proc/xen"],
        resume=resume,
        mdadm_path=md[0] if md else None,
        mdadm=md_entries,
        device_map_path=dm[0] if dm else None,
        device_map=dm_entries,
        xvd_references=refs,
        xvd_disks=sorted({r.disk for r in refs}),
        files=list(texts),
        problems=list(dict.fromkeys([*boot.problems, *reader.problems])),
    )
