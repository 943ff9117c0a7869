"""Xen leftovers: configuration that only makes sense on a Xen PV guest.

Driver aliases to xennet/xenblk (RHEL 5/6 modprobe.conf), Xen modules loaded at boot, the xenfs
``/proc/xen`` mount, Xen console and clock arguments on the kernel command line, the XenServer
guest tools services, and caches that remember Xen device names (blkid, LVM). None of them is
needed on KVM and some break it (``clocksource=xen`` makes the kernel fall back noisily,
``alias eth0 xennet`` points the network at a driver that will never bind, a stale LVM device
list hides the new disks).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from xen2kvm.facts._reader import FactReader
from xen2kvm.facts.system import SystemFacts
from xen2kvm.guest.base import FileKind, Guest
from xen2kvm.parsers import cmdline as cmdline_parser
from xen2kvm.parsers import fstab as fstab_parser
from xen2kvm.parsers import linelist, modprobe

#: Xen PV driver module names, with ``-`` normalised to ``_`` (the kernel treats them alike).
XEN_DRIVERS = frozenset(
    {
        "xennet",
        "xenblk",
        "xen_vnif",
        "xen_vbd",
        "xen_netfront",
        "xen_blkfront",
        "xen_platform_pci",
        "xen_scsifront",
        "xen_kbdfront",
        "xen_fbfront",
        "xen_pcifront",
        "xen_balloon",
        "xenfs",
        "xen_evtchn",
        "xen_gntdev",
        "xen_gntalloc",
        "xen_privcmd",
    }
)

MODPROBE_FILES = ("/etc/modprobe.conf", "/etc/modules.conf")
MODPROBE_DIRS = ("/etc/modprobe.d",)
MODULE_LIST_FILES = ("/etc/modules",)
MODULE_LIST_DIRS = ("/etc/modules-load.d",)
STALE_CACHES = (
    "/etc/blkid.tab",
    "/etc/blkid.tab.old",
    "/etc/blkid/blkid.tab",
    "/etc/blkid/blkid.tab.old",
    "/etc/lvm/cache/.cache",
    "/etc/lvm/devices/system.devices",
)
_XEN_CONSOLES = re.compile(r"^(?:/dev/)?(hvc|xvc)\d+$")


@dataclass(frozen=True)
class XenModprobeLine:
    """A modprobe configuration line about a Xen driver (``alias eth0 xennet``)."""

    path: str
    line: int
    command: str  # alias, options, install, remove, blacklist, softdep
    #: For ``alias``: what is aliased (``eth0``, ``scsi_hostadapter``).
    alias: str | None
    module: str
    text: str


@dataclass(frozen=True)
class XenModuleListed:
    """A Xen module named in a load-at-boot list (/etc/modules, modules-load.d)."""

    path: str
    line: int
    module: str


@dataclass(frozen=True)
class XenFstabLine:
    path: str
    line: int
    text: str


@dataclass(frozen=True)
class XenCmdlineArg:
    #: Index of the command line in the list the caller gave.
    cmdline: int
    key: str
    param: str


@dataclass(frozen=True)
class XenTool:
    """A Xen guest tool: a service (with how it is enabled) or a program."""

    name: str
    #: Files that make it up (init script, unit, binary).
    paths: list[str]
    #: True/False for services; None for plain programs.
    enabled: bool | None
    #: Links that enable it (rcN.d S links, .wants links).
    enabled_by: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class XenFacts:
    modprobe: list[XenModprobeLine] = field(default_factory=list)
    module_lists: list[XenModuleListed] = field(default_factory=list)
    fstab: list[XenFstabLine] = field(default_factory=list)
    cmdline_args: list[XenCmdlineArg] = field(default_factory=list)
    tools: list[XenTool] = field(default_factory=list)
    #: Caches naming Xen devices that should be dropped (they are rebuilt at boot).
    stale_caches: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def aliases(self) -> list[XenModprobeLine]:
        return [m for m in self.modprobe if m.command == "alias"]

    @property
    def enabled_services(self) -> list[XenTool]:
        return [t for t in self.tools if t.enabled]

    @property
    def any(self) -> bool:
        """Some Xen leftover is present."""
        return bool(
            self.modprobe
            or self.module_lists
            or self.fstab
            or self.cmdline_args
            or self.tools
            or self.stale_caches
        )


def is_xen_driver(module: str) -> bool:
    return module.replace("-", "_") in XEN_DRIVERS


def gather_xen(guest: Guest, system: SystemFacts, cmdlines: Sequence[str]) -> XenFacts:
    """Xen leftovers in ``guest``. ``cmdlines`` are the kernel command lines of its boot
    entries."""
    del system  # every family keeps these in the same places
    rd = FactReader(guest)
    return XenFacts(
        modprobe=_modprobe(rd),
        module_lists=_module_lists(rd),
        fstab=_fstab(rd),
        cmdline_args=_cmdline_args(cmdlines),
        tools=_tools(rd),
        stale_caches=[p for p in STALE_CACHES if rd.lexists(p)],
        problems=rd.problems,
    )


def _regular_files(rd: FactReader, directory: str, suffix: str = "") -> list[str]:
    out = []
    for path in rd.files(directory, suffix):
        st = rd.lstat(path)
        if st is not None and st.kind in (FileKind.FILE, FileKind.SYMLINK):
            if rd.readlink(path) == "/dev/null":
                continue  # a mask, never read (on a real guest it is a device node)
            out.append(path)
    return out


def _modprobe(rd: FactReader) -> list[XenModprobeLine]:
    paths = list(MODPROBE_FILES)
    for directory in MODPROBE_DIRS:
        # Old module-init-tools read every file here, kmod only *.conf; both are reported.
        paths += _regular_files(rd, directory)
    out: list[XenModprobeLine] = []
    for path in paths:
        text = rd.text(path)
        if text is None:
            continue
        for ln in modprobe.parse(text, path).commands():
            module = ln.module
            if ln.command is None or module is None or not is_xen_driver(module):
                continue
            out.append(
                XenModprobeLine(
                    path, ln.line, ln.command, ln.alias_name, module, ln.raw.rstrip("\n")
                )
            )
    return out


def _module_lists(rd: FactReader) -> list[XenModuleListed]:
    paths = list(MODULE_LIST_FILES)
    for directory in MODULE_LIST_DIRS:
        paths += _regular_files(rd, directory, ".conf")
    out: list[XenModuleListed] = []
    for path in paths:
        text = rd.text(path)
        if text is None:
            continue
        # modules-load.d also takes ";" comments.
        for ln in linelist.parse(text, path, comment_chars="#;").lines:
            if ln.item is not None and is_xen_driver(ln.item):
                out.append(XenModuleListed(path, ln.line, ln.item))
    return out


def _fstab(rd: FactReader) -> list[XenFstabLine]:
    text = rd.text("/etc/fstab")
    if text is None:
        return []
    return [
        XenFstabLine("/etc/fstab", e.line, e.raw.rstrip("\n"))
        for e in fstab_parser.parse_fstab(text).entries()
        if isinstance(e, fstab_parser.FstabEntry) and e.is_xenfs
    ]


def _cmdline_args(cmdlines: Sequence[str]) -> list[XenCmdlineArg]:
    out: list[XenCmdlineArg] = []
    for index, text in enumerate(cmdlines):
        for p in cmdline_parser.parse(text):
            key, value = p.key, p.value
            xen = (
                (key == "clocksource" and value == "xen")
                or (
                    key == "console"
                    and value is not None
                    and bool(_XEN_CONSOLES.match(value.split(",")[0]))
                )
                or key.startswith("xen")
            )
            if xen:
                out.append(XenCmdlineArg(index, key, p.raw))
    return out


# --- guest tools ------------------------------------------------------------------------------

#: Services (xe-daemon is a program that xe-linux-distribution starts).
_SERVICES = ("xe-linux-distribution", "xen-guest-agent")
_PROGRAMS = {
    "xe-daemon": ("/usr/sbin/xe-daemon", "/usr/bin/xe-daemon"),
    "xen-guest-agent": ("/usr/sbin/xen-guest-agent", "/usr/bin/xen-guest-agent"),
    "xenstore-utils": ("/usr/bin/xenstore-read", "/usr/sbin/xenstore-read"),
}
_INIT_DIRS = ("/etc/init.d", "/etc/rc.d/init.d")
_UNIT_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
_RC_DIRS = tuple(f"/etc/rc{n}.d" for n in "2345") + tuple(f"/etc/rc.d/rc{n}.d" for n in "2345")


def _dedupe(rd: FactReader, paths: Sequence[str]) -> list[str]:
    """Paths that are not the same entry as an earlier one (/etc/rc3.d -> rc.d/rc3.d). The
    directory is resolved, not the entry itself: S links all lead to the same script."""
    seen: set[str] = set()
    out: list[str] = []
    for p in paths:
        head, _, tail = p.rpartition("/")
        real = f"{rd.realpath(head or '/') or head}/{tail}"
        if real not in seen:
            seen.add(real)
            out.append(p)
    return out


def _tools(rd: FactReader) -> list[XenTool]:
    wants = _wants_links(rd)
    rc_links = _rc_links(rd)
    masked = {
        n
        for n in rd.listdir("/etc/systemd/system")
        if rd.readlink(f"/etc/systemd/system/{n}") == "/dev/null"
    }
    tools: list[XenTool] = []
    claimed: set[str] = set()
    for name in _SERVICES:
        paths = [p for d in _INIT_DIRS if rd.lexists(p := f"{d}/{name}")]
        unit = f"{name}.service"
        paths += [p for d in _UNIT_DIRS if rd.lexists(p := f"{d}/{unit}")]
        paths += [p for p in _PROGRAMS.get(name, ()) if rd.lexists(p)]
        paths = _dedupe(rd, paths)
        rc_name = re.compile(rf"S\d\d{re.escape(name)}")
        enabled_by = list(wants.get(unit, []))
        enabled_by += [p for p in rc_links if rc_name.fullmatch(p.rsplit("/", 1)[1])]
        enabled_by = _dedupe(rd, enabled_by)
        if not paths and not enabled_by:
            continue
        claimed.update(_PROGRAMS.get(name, ()))
        enabled = bool(enabled_by) and unit not in masked
        tools.append(XenTool(name, paths, enabled, enabled_by))
    for name, programs in _PROGRAMS.items():
        if any(p in claimed for p in programs):
            continue
        found = [p for p in programs if rd.lexists(p)]
        if found:
            tools.append(XenTool(name, _dedupe(rd, found), None))
    return tools


def _wants_links(rd: FactReader) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    base = "/etc/systemd/system"
    for w in rd.listdir(base):
        if not w.endswith(".wants"):
            continue
        for unit in rd.listdir(f"{base}/{w}"):
            link = f"{base}/{w}/{unit}"
            if rd.readlink(link) != "/dev/null":
                out.setdefault(unit, []).append(link)
    return out


def _rc_links(rd: FactReader) -> list[str]:
    return [f"{d}/{n}" for d in _RC_DIRS for n in rd.listdir(d) if n.startswith("S")]
