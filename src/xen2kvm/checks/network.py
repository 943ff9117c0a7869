"""Network checks: interface names that change on KVM and lose the network.

- persistent-net-rules: udev's 70-persistent-net.rules and ifcfg HWADDR=/MACADDR= pin eth0 to
  the Xen NIC's MAC; the KVM NIC then becomes eth1 and the eth0 configuration is never used
  (the seed's CentOS 6 case).
- predictable-nic-names: with systemd/udev >= 197 a virtio or e1000 NIC is named ens3/enp0s3,
  so a configuration written for eth0 never comes up (the seed's Arch case, systemd >= 226).
"""

from __future__ import annotations

import posixpath
import re

from xen2kvm.checks._bootcfg import CmdlineEdit, all_cmdlines, edit_cmdlines
from xen2kvm.checks.base import Check, CheckContext, Severity
from xen2kvm.parsers import shellvars, udev
from xen2kvm.parsers.cmdline import KernelCmdline

PERSISTENT_NET = "/etc/udev/rules.d/70-persistent-net.rules"
NET_SETUP_LINK = "/etc/udev/rules.d/80-net-setup-link.rules"
IFCFG_GLOBS = ("/etc/sysconfig/network-scripts/ifcfg-*", "/etc/sysconfig/network/ifcfg-*")
#: udev's predictable interface names arrived in systemd 197.
PREDICTABLE_SINCE = 197

_ETH_RE = re.compile(r"\beth\d+\b")


def run_persistent(ctx: CheckContext) -> None:
    paths: list[str] = []
    text = ctx.read_text(PERSISTENT_NET)
    if text is not None:
        rules = udev.parse(text, source=PERSISTENT_NET)
        pins = rules.net_pins()
        if pins:
            ctx.remove(PERSISTENT_NET, "interface names pinned to Xen MACs")
            paths.append(PERSISTENT_NET)
    for pattern in IFCFG_GLOBS:
        for path in ctx.plan.guest.glob(pattern):
            if path.endswith((".bak", ".orig", "~")) or not ctx.plan.guest.is_file(path):
                continue
            text = ctx.read_text(path)
            if text is None:
                continue
            sv = shellvars.parse(text, source=path)
            device = sv.get("DEVICE") or posixpath.basename(path)[len("ifcfg-") :]
            changed = False
            for key in ("HWADDR", "MACADDR"):
                value = sv.get(key)
                if not value:
                    continue
                new_mac = ctx.options.new_macs.get(device)
                if new_mac is None:
                    sv.remove(key)
                    changed = True
                elif value.lower() != new_mac.lower():
                    sv.set(key, new_mac)
                    changed = True
            if changed:
                ctx.write_text(path, sv.render(), "MAC pin of the Xen NIC")
                paths.append(path)
    paths += _match_pins(ctx)
    if paths:
        ctx.finding(
            Severity.LOSES_NETWORK,
            "interface names are pinned to the Xen NIC's MAC address",
            why="the KVM NIC has another MAC, so it is renamed (eth1) or its configuration is "
            "skipped, and the network stays down",
            fix="70-persistent-net.rules removed (udev writes a new one); HWADDR=/MACADDR= "
            "removed from ifcfg files (or set to the new MAC when given)",
            paths=paths,
        )


_PIN_LINE = {
    # stack -> how a "match by MAC" line is replaced when no new MAC is known
    "netplan": re.compile(r"^(\s*)macaddress:\s*[\"']?[0-9A-Fa-f:]+[\"']?\s*$"),
    "networkd": re.compile(r"^(\s*)MACAddress\s*=.*$"),
    "networkmanager": re.compile(r"^(\s*)mac-address\s*=.*$"),
}


def _match_pins(ctx: CheckContext) -> list[str]:
    """netplan ``match: macaddress``, networkd ``[Match] MACAddress=``, NM ``mac-address=``:
    the configuration applies only to the Xen NIC. Rewritten to the new MAC when one is given,
    else to a match by name (netplan, networkd) or dropped (NetworkManager)."""
    changed: list[str] = []
    by_file: dict[str, list[tuple[int, str, str | None]]] = {}
    for pin in ctx.facts.network.mac_pins:
        if pin.effect != "match" or pin.stack not in _PIN_LINE:
            continue
        if pin.line is not None:
            by_file.setdefault(pin.path, []).append((pin.line, pin.stack, pin.name))
            continue
        # YAML gives no line numbers: find the pin's line by its key and MAC.
        body = ctx.read_text(pin.path) or ""
        for n, line in enumerate(body.splitlines(), 1):
            if _PIN_LINE[pin.stack].match(line) and pin.mac.lower() in line.lower():
                by_file.setdefault(pin.path, []).append((n, pin.stack, pin.name))
    for path, pins in sorted(by_file.items()):
        text = ctx.read_text(path)
        if text is None:
            continue
        lines = text.splitlines(keepends=True)
        for lineno, stack, name in pins:
            if not 0 < lineno <= len(lines):
                continue
            line = lines[lineno - 1]
            body = line.rstrip("\r\n")
            m = _PIN_LINE[stack].match(body)
            if m is None:
                continue
            end = line[len(body) :]
            new_mac = ctx.options.new_macs.get(name or "")
            if new_mac:
                key, sep, _old = body.partition(":" if stack == "netplan" else "=")
                lines[lineno - 1] = f"{key}{sep}{' ' if stack == 'netplan' else ''}{new_mac}{end}"
            elif stack == "netplan" and name:
                lines[lineno - 1] = f"{m.group(1)}name: {name}{end}"
            elif stack == "networkd" and name and not re.search(r"(?m)^\s*Name\s*=", text):
                lines[lineno - 1] = f"{m.group(1)}Name={name}{end}"
            else:
                lines[lineno - 1] = ""
        new = "".join(lines)
        if new != text:
            ctx.write_text(path, new, "configuration matched the Xen NIC's MAC")
            changed.append(path)
    return changed


def _eth_configs(ctx: CheckContext) -> list[str]:
    """Network configuration files that name an ethN interface."""
    g = ctx.plan.guest
    candidates = [
        "/etc/network/interfaces",
        *g.glob("/etc/network/interfaces.d/*"),
        *[p for pat in IFCFG_GLOBS for p in g.glob(pat)],
        *g.glob("/etc/netplan/*.yaml"),
        *g.glob("/etc/systemd/network/*.network"),
        *g.glob("/etc/NetworkManager/system-connections/*"),
        *g.glob("/etc/netctl/*"),
    ]
    found = []
    for path in candidates:
        if path.endswith("/ifcfg-lo") or not g.is_file(path):
            continue
        text = ctx.read_text(path) or ""
        body = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
        if _ETH_RE.search(body) or _ETH_RE.search(posixpath.basename(path)):
            found.append(path)
    return found


def _names_disabled(cl: KernelCmdline) -> bool:
    return cl.get("net.ifnames") == "0"


def run_predictable(ctx: CheckContext) -> None:
    version = ctx.facts.system.systemd_version
    if version is None or version < PREDICTABLE_SINCE:
        return
    configs = _eth_configs(ctx)
    if not configs:
        return
    lines = all_cmdlines(ctx)
    cmdline_ok = bool(lines) and all(_names_disabled(cl) for _p, cl in lines)
    link = ctx.plan.guest.try_lstat(NET_SETUP_LINK)
    masked = link is not None and ctx.plan.guest.is_symlink(NET_SETUP_LINK) and (
        ctx.plan.guest.readlink(NET_SETUP_LINK) == "/dev/null"
    )
    if cmdline_ok or masked:
        return  # either one keeps the kernel's eth0 name
    paths: list[str] = []
    paths += edit_cmdlines(
            ctx,
        CmdlineEdit(add=lambda cl: [] if _names_disabled(cl) else [("net.ifnames", "0")]),
        "keep the eth0 name",
    )
    if link is None:
        ctx.symlink(NET_SETUP_LINK, "/dev/null", "keep the eth0 name")
        paths.append(NET_SETUP_LINK)
    ctx.finding(
        Severity.LOSES_NETWORK,
        f"the network configuration uses eth0-style names but systemd {version} renames NICs",
        why="with predictable names the KVM NIC becomes ens3/enp0s3 and the eth0 "
        "configuration never applies",
        fix="net.ifnames=0 on the kernel command line and 80-net-setup-link.rules -> /dev/null",
        paths=sorted(set(paths + configs)),
    )


PERSISTENT_NET_RULES = Check(
    id="persistent-net-rules",
    title="MAC-pinned interface names",
    why="udev persistent-net rules and ifcfg HWADDR pin eth0 to the Xen NIC's MAC",
    run=run_persistent,
)

PREDICTABLE_NIC_NAMES = Check(
    id="predictable-nic-names",
    title="Predictable NIC names",
    why="systemd >= 197 renames the KVM NIC (ens3), breaking eth0 configurations",
    run=run_predictable,
)
