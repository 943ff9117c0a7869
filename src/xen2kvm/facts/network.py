"""Network facts: which configuration stacks a guest has, which interfaces they configure, where
interfaces are tied to a MAC address, and whether the kernel's interface name will survive.

On Xen the NIC is xen-netfront and is called ``eth0`` (or ``enX0`` by newer systemd). On KVM it
is a virtio or e1000 NIC with, unless the MAC is kept, a new MAC address. Three things then lose
the network: a configuration tied to the old MAC (udev 70-persistent-net.rules, ifcfg
``HWADDR=``, netplan ``match: macaddress``, NetworkManager ``mac-address``, networkd/.link
``MACAddress=``), predictable interface names (``ens3`` instead of ``eth0``: systemd's
80-net-setup-link.rules unless masked or ``net.ifnames=0``), and a configuration naming an
interface that no longer exists. This module records those facts; the checks decide.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from xen2kvm.distros import NetworkStyle
from xen2kvm.errors import GuestPathError, ParseError
from xen2kvm.facts._reader import FactReader
from xen2kvm.facts.system import SystemFacts
from xen2kvm.guest.base import FileKind, Guest
from xen2kvm.parsers import cmdline as cmdline_parser
from xen2kvm.parsers import ini, interfaces, netplan, shellvars, udev

UDEV_RULES_DIRS = ("/etc/udev/rules.d",)
UDEV_LIB_RULES_DIRS = ("/usr/lib/udev/rules.d", "/lib/udev/rules.d")
PERSISTENT_NET_RULES = "/etc/udev/rules.d/70-persistent-net.rules"
#: Rules that rename kernel names (eth0) to predictable ones: 80-net-name-slot.rules in
#: systemd 197-208, 80-net-setup-link.rules from 209 on.
NAMING_RULES = ("80-net-setup-link.rules", "80-net-name-slot.rules")
PERSISTENT_NET_GENERATOR = "75-persistent-net-generator.rules"
IFCFG_DIRS = ("/etc/sysconfig/network-scripts", "/etc/sysconfig/network")
NETWORKD_DIRS = ("/etc/systemd/network",)
NM_DIR = "/etc/NetworkManager/system-connections"
NETCTL_DIR = "/etc/netctl"
SYSTEMD_DIR = "/etc/systemd/system"

# initscripts and wicked skip these (editor and package-manager leftovers).
_IFCFG_IGNORED = re.compile(r"(~|\.(bak|orig|old|rpmnew|rpmorig|rpmsave|swp)|\.d)$")
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
# ifupdown's source-directory takes only run-parts style names.
_RUN_PARTS_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_MAX_SOURCE_DEPTH = 8


@dataclass(frozen=True)
class InterfaceConfig:
    """One interface as a configuration stack configures it."""

    #: Stack, a :class:`~xen2kvm.distros.NetworkStyle` value: ifupdown, ifcfg, netplan,
    #: networkd, networkmanager, netctl.
    stack: str
    path: str
    #: Line of the stanza/section when the format has one.
    line: int | None
    #: Interface name the configuration applies to (``eth0``); None when it matches by MAC
    #: only. May be a pattern (``en*``) for networkd, see ``name_is_pattern``.
    name: str | None
    name_is_pattern: bool = False
    #: The configuration applies only to the NIC with this MAC (lowercase).
    match_mac: str | None = None
    #: The configuration renames the matched NIC to this name (netplan set-name).
    set_name: str | None = None
    #: The configuration sets the NIC's MAC to this (RHEL MACADDR, SUSE LLADDR, ...).
    set_mac: str | None = None
    #: dhcp, static, manual, loopback... as the stack says it.
    method: str | None = None
    #: Brought up at boot (ONBOOT=yes, auto/allow-hotplug, STARTMODE=auto); None if the stack
    #: has no such notion.
    onboot: bool | None = None


@dataclass(frozen=True)
class MacPin:
    """A place where a MAC address is tied to an interface or its configuration."""

    stack: str  # "udev", "link", or an InterfaceConfig stack
    path: str
    line: int | None
    #: The key as written: ATTR{address}, HWADDR, MACADDR, LLADDR, match.macaddress,
    #: macaddress, MACAddress, mac-address, cloned-mac-address, hwaddress.
    key: str
    mac: str
    #: Interface name involved (the NAME= it gets, or the interface configured).
    name: str | None
    #: "match": applies to / names the NIC that has this MAC (breaks when the MAC changes);
    #: "set": assigns this MAC to the NIC.
    effect: str


@dataclass(frozen=True)
class NetworkStack:
    name: str  # NetworkStyle value
    #: Its program is installed.
    installed: bool
    #: Its service is enabled (systemd .wants link), None when that can't be told.
    enabled: bool | None
    #: Configuration files it has.
    config_paths: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LinkFile:
    """A systemd .link file in /etc/systemd/network (names NICs, in udev)."""

    path: str
    match_mac: str | None
    match_original_name: str | None
    name: str | None
    name_policy: str | None
    #: A ``/dev/null`` link (masks the file of the same name in /usr/lib).
    masked: bool


@dataclass(frozen=True)
class NetworkFacts:
    stacks: list[NetworkStack] = field(default_factory=list)
    interfaces: list[InterfaceConfig] = field(default_factory=list)
    mac_pins: list[MacPin] = field(default_factory=list)
    #: /etc/udev/rules.d/70-persistent-net.rules if present.
    persistent_net_rules: str | None = None
    #: The rule that writes 70-persistent-net.rules for each new NIC (it comes back).
    persistent_net_generator: str | None = None
    #: The udev rule applying predictable names, if the guest ships one.
    naming_rules: str | None = None
    #: /etc/udev/rules.d entries overriding ``naming_rules`` (a /dev/null link or empty file).
    naming_rules_masked_by: str | None = None
    link_files: list[LinkFile] = field(default_factory=list)
    #: Per command line (same order as given): net.ifnames=0 is on it.
    ifnames_disabled: list[bool] = field(default_factory=list)
    #: Per command line: biosdevname=0 is on it.
    biosdevname_disabled: list[bool] = field(default_factory=list)
    #: From the system facts (predictable naming needs systemd/udev >= 197; the Arch breakage
    #: of the seed reference was systemd >= 226).
    systemd_version: int | None = None
    #: Kernel names (eth0) will be replaced by predictable ones (ens3) at boot: naming rules
    #: present and not masked, the default .link policy not masked, and net.ifnames=0 not on
    #: every command line. None if that can't be told (no command line given).
    predictable_names: bool | None = None
    predictable_names_reason: str = ""
    #: Interface names the configuration uses (eth0, enX0, ens3...), loopback excluded.
    interface_names: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def stack(self, name: str) -> NetworkStack | None:
        return next((s for s in self.stacks if s.name == name), None)

    def pins(self, effect: str = "match") -> list[MacPin]:
        """MAC pins with the given effect ("match" pins break when the MAC changes)."""
        return [p for p in self.mac_pins if p.effect == effect]


def gather_network(guest: Guest, system: SystemFacts, cmdlines: Sequence[str]) -> NetworkFacts:
    """Network setup of ``guest``. ``cmdlines`` are the kernel command lines of its boot entries
    (the default entry's first, if the caller knows it)."""
    rd = FactReader(guest)
    g = _Gatherer(rd)
    g.ifupdown()
    g.ifcfg()
    g.netplan()
    g.networkd()
    g.networkmanager()
    g.netctl()
    g.udev_pins()
    links = g.link_files()
    ifnames = [_flag_off(c, "net.ifnames") for c in cmdlines]
    biosdev = [_flag_off(c, "biosdevname") for c in cmdlines]
    naming = _first_existing(rd, [f"{d}/{n}" for n in NAMING_RULES for d in UDEV_LIB_RULES_DIRS])
    masked_by = _naming_mask(rd, naming)
    generator = _first_existing(
        rd, [f"{d}/{PERSISTENT_NET_GENERATOR}" for d in UDEV_LIB_RULES_DIRS]
    )
    predictable, why = _predictable(naming, masked_by, links, ifnames)
    names: dict[str, None] = {}
    for cfg in g.interfaces:
        for n in (cfg.set_name, cfg.name):
            if n and not cfg.name_is_pattern and n != "lo":
                names.setdefault(n)
    for pin in g.pins:
        if pin.name and pin.name != "lo":
            names.setdefault(pin.name)
    return NetworkFacts(
        stacks=g.stacks(system),
        interfaces=g.interfaces,
        mac_pins=g.pins,
        persistent_net_rules=PERSISTENT_NET_RULES if rd.lexists(PERSISTENT_NET_RULES) else None,
        persistent_net_generator=generator,
        naming_rules=naming,
        naming_rules_masked_by=masked_by,
        link_files=links,
        ifnames_disabled=ifnames,
        biosdevname_disabled=biosdev,
        systemd_version=system.systemd_version,
        predictable_names=predictable,
        predictable_names_reason=why,
        interface_names=list(names),
        problems=rd.problems,
    )


def _flag_off(text: str, key: str) -> bool:
    return cmdline_parser.parse(text).get(key) == "0"


def _first_existing(rd: FactReader, paths: Sequence[str]) -> str | None:
    return next((p for p in paths if rd.lexists(p)), None)


def _naming_mask(rd: FactReader, naming: str | None) -> str | None:
    """An /etc/udev/rules.d file of the same name overrides the shipped rule; a /dev/null link
    or an empty file switches predictable naming off (the seed's fix for Arch)."""
    names = [posixpath.basename(naming)] if naming else list(NAMING_RULES)
    for d in UDEV_RULES_DIRS:
        for name in names:
            path = f"{d}/{name}"
            if rd.readlink(path) == "/dev/null":
                return path
            st = rd.lstat(path)
            if st is not None and st.kind is FileKind.FILE:
                text = rd.text(path) or ""
                if not any(
                    ln.strip() and not ln.lstrip().startswith("#") for ln in text.split("\n")
                ):
                    return path
    return None


def _predictable(
    naming: str | None,
    masked_by: str | None,
    links: Sequence[LinkFile],
    ifnames: Sequence[bool],
) -> tuple[bool | None, str]:
    if naming is None:
        return False, "no predictable-naming udev rule in the guest"
    if masked_by is not None:
        return False, f"{masked_by} masks {naming}"
    for link in links:
        if posixpath.basename(link.path) == "99-default.link" and link.masked:
            return False, f"{link.path} masks the default naming policy"
    if ifnames and all(ifnames):
        return False, "net.ifnames=0 on the kernel command line"
    if not ifnames:
        return None, f"{naming} applies unless the kernel command line has net.ifnames=0"
    if any(ifnames):
        return True, "net.ifnames=0 is missing from some boot entries' command lines"
    return True, f"{naming} renames kernel interface names"


def _norm_mac(value: str) -> str:
    return value.strip().strip("'\"").lower().replace("-", ":")


class _Gatherer:
    """Accumulates interface configurations and MAC pins across the stacks."""

    def __init__(self, rd: FactReader) -> None:
        self.rd = rd
        self.interfaces: list[InterfaceConfig] = []
        self.pins: list[MacPin] = []
        self.paths: dict[str, list[str]] = {s.value: [] for s in NetworkStyle}

    # --- helpers ---------------------------------------------------------------------------

    def _config_file(self, path: str) -> str | None:
        """Text of a config file, skipping /dev/null masks (never read: on a real guest that
        would be a device node)."""
        if self.rd.readlink(path) == "/dev/null":
            return None
        return self.rd.text(path)

    def _pin(
        self,
        stack: str,
        path: str,
        line: int | None,
        key: str,
        raw: str,
        name: str | None,
        effect: str,
    ) -> str | None:
        mac = _norm_mac(raw)
        if not _MAC_RE.match(mac):
            self.rd.problem(f"{path}: {key} value {raw!r} is not a MAC address")
            return None
        self.pins.append(MacPin(stack, path, line, key, mac, name, effect))
        return mac

    def _glob(self, pattern: str) -> list[str]:
        try:
            return self.rd.guest.glob(pattern)
        except GuestPathError as err:  # e.g. a NUL byte in the pattern
            self.rd.problem(str(err))
            return []

    # --- ifupdown --------------------------------------------------------------------------

    def ifupdown(self) -> None:
        self._interfaces_file("/etc/network/interfaces", 0, set())

    def _interfaces_file(self, path: str, depth: int, seen: set[str]) -> None:
        if depth > _MAX_SOURCE_DEPTH or path in seen:
            return
        seen.add(path)
        text = self._config_file(path)
        if text is None:
            return
        self.paths[NetworkStyle.IFUPDOWN.value].append(path)
        parsed = interfaces.parse(text, path)
        auto = set(parsed.auto()) | set(parsed.allow("hotplug"))
        for iface in parsed.ifaces():
            name = iface.name.split(":")[0]
            if not name or name == "lo":
                continue
            set_mac = None
            hw = iface.option_lines("hwaddress")
            if hw:
                words = hw[0].words[1:]
                raw = words[-1] if words else ""
                set_mac = self._pin("ifupdown", path, hw[0].line, "hwaddress", raw, name, "set")
            self.interfaces.append(
                InterfaceConfig(
                    stack=NetworkStyle.IFUPDOWN.value,
                    path=path,
                    line=iface.header.line,
                    name=name,
                    set_mac=set_mac,
                    method=iface.method,
                    onboot=name in auto,
                )
            )
        base = posixpath.dirname(path)
        for keyword, pattern in parsed.sources():
            pattern = posixpath.join(base, pattern)
            if keyword == "source":
                targets = self._glob(pattern) if any(c in pattern for c in "*?[") else [pattern]
            else:
                targets = [
                    f"{pattern.rstrip('/')}/{n}"
                    for n in self.rd.listdir(pattern)
                    if _RUN_PARTS_NAME.match(n)
                ]
            for target in targets:
                st = self.rd.stat(target)
                if st is not None and st.kind is FileKind.FILE:
                    self._interfaces_file(target, depth + 1, seen)
                elif st is not None and st.kind is not FileKind.DIR:
                    self.rd.problem(f"{target}: is a {st.kind.value}, not a regular file")

    # --- ifcfg (RHEL, SUSE) ----------------------------------------------------------------

    def ifcfg(self) -> None:
        for directory in IFCFG_DIRS:
            for name in self.rd.listdir(directory):
                if not name.startswith("ifcfg-") or _IFCFG_IGNORED.search(name):
                    continue
                path = f"{directory}/{name}"
                text = self._config_file(path)
                if text is None:
                    continue
                try:
                    values = shellvars.parse(text, path)
                except ParseError as err:
                    self.rd.problem(str(err))
                    continue
                self.paths[NetworkStyle.IFCFG.value].append(path)
                dev = values.get("DEVICE") or name[len("ifcfg-") :]
                if dev == "lo" or name == "ifcfg-lo":
                    continue
                match_mac = set_mac = None
                for key, effect in (("HWADDR", "match"), ("MACADDR", "set"), ("LLADDR", "set")):
                    for a in values.assignments(key):
                        if not a.value:
                            continue
                        mac = self._pin("ifcfg", path, a.line, key, a.value, dev, effect)
                        if effect == "match":
                            match_mac = mac
                        else:
                            set_mac = mac
                onboot = values.get("ONBOOT")
                startmode = values.get("STARTMODE")
                if onboot is not None:
                    up: bool | None = onboot.lower() in ("yes", "true", "1")
                elif startmode is not None:
                    up = startmode.lower() in ("auto", "onboot", "on", "boot", "hotplug", "nfsroot")
                else:
                    up = None
                self.interfaces.append(
                    InterfaceConfig(
                        stack=NetworkStyle.IFCFG.value,
                        path=path,
                        line=None,
                        name=dev,
                        match_mac=match_mac,
                        set_mac=set_mac,
                        method=(values.get("BOOTPROTO") or None),
                        onboot=up,
                    )
                )

    # --- netplan ---------------------------------------------------------------------------

    def netplan(self) -> None:
        for path in self.rd.files("/etc/netplan", ".yaml"):
            text = self._config_file(path)
            if text is None:
                continue
            try:
                cfg = netplan.parse(text, path)
            except ParseError as err:
                self.rd.problem(str(err))
                continue
            self.paths[NetworkStyle.NETPLAN.value].append(path)
            for dev in cfg.interfaces:
                if dev.kind != "ethernets":
                    continue
                name = dev.match_name or (None if dev.match_mac else dev.id)
                match_mac = set_mac = None
                if dev.match_mac:
                    match_mac = self._pin(
                        "netplan",
                        path,
                        None,
                        "match.macaddress",
                        dev.match_mac,
                        dev.set_name or name,
                        "match",
                    )
                if dev.macaddress:
                    set_mac = self._pin(
                        "netplan",
                        path,
                        None,
                        "macaddress",
                        dev.macaddress,
                        dev.set_name or name,
                        "set",
                    )
                method = "dhcp" if dev.dhcp4 or dev.dhcp6 else ("static" if dev.addresses else None)
                self.interfaces.append(
                    InterfaceConfig(
                        stack=NetworkStyle.NETPLAN.value,
                        path=path,
                        line=None,
                        name=name,
                        name_is_pattern=bool(name and any(c in name for c in "*?[")),
                        match_mac=match_mac,
                        set_name=dev.set_name,
                        set_mac=set_mac,
                        method=method,
                    )
                )

    # --- systemd-networkd ------------------------------------------------------------------

    def networkd(self) -> None:
        for directory in NETWORKD_DIRS:
            for path in self.rd.files(directory, ".network"):
                text = self._config_file(path)
                if text is None:
                    continue
                self.paths[NetworkStyle.NETWORKD.value].append(path)
                unit = ini.parse(text, path)
                names = " ".join(unit.get_all("Match", "Name")).split()
                macs = " ".join(
                    unit.get_all("Match", "MACAddress")
                    + unit.get_all("Match", "PermanentMACAddress")
                ).split()
                section = unit.section("Match")
                line = section.line if section else None
                name = names[0] if names else None
                match_mac = None
                for raw in macs:
                    mac = self._pin("networkd", path, line, "MACAddress", raw, name, "match")
                    match_mac = match_mac or mac
                set_mac = None
                raw_set = unit.get("Link", "MACAddress")
                if raw_set:
                    set_mac = self._pin(
                        "networkd", path, None, "[Link] MACAddress", raw_set, name, "set"
                    )
                dhcp = (unit.get("Network", "DHCP") or "no").lower()
                method = (
                    "dhcp"
                    if dhcp in ("yes", "true", "ipv4", "ipv6", "1")
                    else (
                        "static"
                        if unit.get_all("Network", "Address") or unit.all("Address")
                        else None
                    )
                )
                match_names: list[str | None] = list(names) or [None]
                for n in match_names:
                    self.interfaces.append(
                        InterfaceConfig(
                            stack=NetworkStyle.NETWORKD.value,
                            path=path,
                            line=line,
                            name=n.lstrip("!") if n else None,
                            name_is_pattern=bool(n and any(c in n for c in "*?[!")),
                            match_mac=match_mac,
                            set_mac=set_mac,
                            method=method,
                        )
                    )

    def link_files(self) -> list[LinkFile]:
        out: list[LinkFile] = []
        for directory in NETWORKD_DIRS:
            for path in self.rd.files(directory, ".link"):
                if self.rd.readlink(path) == "/dev/null":
                    out.append(LinkFile(path, None, None, None, None, True))
                    continue
                text = self.rd.text(path)
                if text is None:
                    continue
                unit = ini.parse(text, path)
                name = unit.get("Link", "Name")
                raw_mac = unit.get("Match", "MACAddress")
                mac = None
                if raw_mac:
                    section = unit.section("Match")
                    mac = self._pin(
                        "link",
                        path,
                        section.line if section else None,
                        "MACAddress",
                        raw_mac.split()[0],
                        name,
                        "match",
                    )
                out.append(
                    LinkFile(
                        path,
                        mac,
                        unit.get("Match", "OriginalName"),
                        name,
                        unit.get("Link", "NamePolicy"),
                        False,
                    )
                )
        return out

    # --- NetworkManager --------------------------------------------------------------------

    def networkmanager(self) -> None:
        for name in self.rd.listdir(NM_DIR):
            path = f"{NM_DIR}/{name}"
            st = self.rd.lstat(path)
            if st is None or st.kind is FileKind.DIR:
                continue
            text = self._config_file(path)
            if text is None:
                continue
            kf = ini.parse(text, path)
            if kf.section("connection") is None:
                continue
            self.paths[NetworkStyle.NETWORKMANAGER.value].append(path)
            ctype = kf.get("connection", "type") or ""
            if ctype not in ("ethernet", "802-3-ethernet", ""):
                continue
            ifname = kf.get("connection", "interface-name") or None
            section = kf.section("ethernet") or kf.section("802-3-ethernet")
            match_mac = set_mac = None
            if section is not None:
                raw = section.get("mac-address")
                if raw:
                    match_mac = self._pin(
                        "networkmanager", path, section.line, "mac-address", raw, ifname, "match"
                    )
                cloned = section.get("cloned-mac-address")
                if cloned and _MAC_RE.match(_norm_mac(cloned)):
                    set_mac = self._pin(
                        "networkmanager",
                        path,
                        section.line,
                        "cloned-mac-address",
                        cloned,
                        ifname,
                        "set",
                    )
            self.interfaces.append(
                InterfaceConfig(
                    stack=NetworkStyle.NETWORKMANAGER.value,
                    path=path,
                    line=None,
                    name=ifname,
                    match_mac=match_mac,
                    set_mac=set_mac,
                    method=kf.get("ipv4", "method"),
                    onboot=(kf.get("connection", "autoconnect") or "true").lower() != "false",
                )
            )

    # --- netctl (Arch) ---------------------------------------------------------------------

    def netctl(self) -> None:
        for name in self.rd.listdir(NETCTL_DIR):
            path = f"{NETCTL_DIR}/{name}"
            st = self.rd.lstat(path)
            if st is None or st.kind is not FileKind.FILE:
                continue
            text = self._config_file(path)
            if text is None:
                continue
            try:
                values = shellvars.parse(text, path)
            except ParseError as err:
                self.rd.problem(str(err))
                continue
            iface = values.get("Interface")
            if not iface:
                continue
            self.paths[NetworkStyle.NETCTL.value].append(path)
            enabled = any(
                self.rd.lexists(f"{SYSTEMD_DIR}/{w}/netctl@{name}.service")
                for w in self.rd.listdir(SYSTEMD_DIR)
                if w.endswith(".wants")
            )
            self.interfaces.append(
                InterfaceConfig(
                    stack=NetworkStyle.NETCTL.value,
                    path=path,
                    line=None,
                    name=iface,
                    method=(values.get("IP") or None),
                    onboot=enabled,
                )
            )

    # --- udev ------------------------------------------------------------------------------

    def udev_pins(self) -> None:
        for directory in UDEV_RULES_DIRS:
            for path in self.rd.files(directory, ".rules"):
                text = self._config_file(path)
                if text is None:
                    continue
                for pin in udev.parse(text, path).net_pins():
                    self._pin("udev", path, pin.line, "ATTR{address}", pin.mac, pin.name, "match")

    # --- stacks ----------------------------------------------------------------------------

    def stacks(self, system: SystemFacts) -> list[NetworkStack]:
        del system  # presence is read from the files; the family is only a hint
        wants = self._wanted_units()
        out: list[NetworkStack] = []

        def add(style: NetworkStyle, programs: Sequence[str], units: Sequence[str]) -> None:
            installed = any(self.rd.exists(p) for p in programs)
            enabled = any(u in wants for u in units) if units and wants else None
            paths = self.paths[style.value]
            if installed or paths:
                out.append(NetworkStack(style.value, installed, enabled, list(paths)))

        # /sbin/ifup is also initscripts' and SUSE's; ifupdown's comes with /etc/network.
        ifupdown = ("/sbin/ifup", "/usr/sbin/ifup") if self.rd.is_dir("/etc/network") else ()
        add(NetworkStyle.IFUPDOWN, ifupdown, ("networking.service",))
        add(
            NetworkStyle.IFCFG,
            ("/etc/sysconfig/network-scripts/ifup-eth", "/etc/sysconfig/network/config"),
            ("network.service", "wicked.service"),
        )
        add(NetworkStyle.NETPLAN, ("/usr/sbin/netplan", "/sbin/netplan"), ())
        add(
            NetworkStyle.NETWORKD,
            ("/usr/lib/systemd/systemd-networkd", "/lib/systemd/systemd-networkd"),
            ("systemd-networkd.service",),
        )
        add(
            NetworkStyle.NETWORKMANAGER,
            ("/usr/sbin/NetworkManager", "/usr/bin/NetworkManager"),
            ("NetworkManager.service",),
        )
        add(NetworkStyle.NETCTL, ("/usr/bin/netctl",), ())
        return out

    def _wanted_units(self) -> set[str]:
        units: set[str] = set()
        for w in self.rd.listdir(SYSTEMD_DIR):
            if w.endswith(".wants"):
                units.update(self.rd.listdir(f"{SYSTEMD_DIR}/{w}"))
        return units
