"""Writers: one :class:`KvmGuest`, four formats.

- libvirt ``<domain type='kvm'>`` XML (checked against libvirt's schema in the tests),
- a QEMU argument list (``list[str]``, never a shell string) and a ``sh`` script of it,
- a Proxmox VE ``qm`` config (/etc/pve/qemu-server/VMID.conf),
- a Linode KVM configuration profile (API v4 JSON).

Each returns :class:`Rendered` with the text and the warnings specific to that format (what
the format cannot express). The XML is assembled as text: element trees cost more than the
whole parse and this shape never nests deeper than four levels; every value goes through
:func:`_esc`.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from xen2kvm.hv.model import VMMode
from xen2kvm.hv.plan import BootMethod, KvmGuest

QEMU_BINARY = "qemu-system-x86_64"


@dataclass
class Rendered:
    text: str
    warnings: list[str] = field(default_factory=list)
    #: The QEMU argument list (QEMU writer only).
    argv: list[str] = field(default_factory=list)


_XML_ESC = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&apos;", '"': "&quot;"})
_XML_SPECIAL = re.compile("[&<>'\"]")


def _esc(s: str) -> str:
    # Most values have nothing to escape: a search is several times cheaper than translate().
    if _XML_SPECIAL.search(s) is None:
        return s
    return s.translate(_XML_ESC)


# libvirt's schema: offOptions for poweroff/reboot, crashOptions add the coredump variants.
_LIBVIRT_OFF = {"destroy", "restart", "preserve", "rename-restart"}
_LIBVIRT_CRASH = _LIBVIRT_OFF | {"coredump-destroy", "coredump-restart"}


def render_libvirt(g: KvmGuest, *, description: str = "") -> Rendered:
    """libvirt domain XML for KVM (paravirt: virtio-scsi + virtio-net; fullvirt: IDE + e1000)."""
    warnings: list[str] = []
    paravirt = g.mode is VMMode.PARAVIRT
    # Chunks of several lines each: this writer is the hot half of bench/translate.py.
    out = [f"<domain type='kvm'>\n  <name>{_esc(g.name)}</name>\n"]
    if g.uuid:
        out.append(f"  <uuid>{_esc(g.uuid)}</uuid>\n")
    if description:
        out.append(f"  <description>{_esc(description)}</description>\n")
    maxmem = max(g.maxmem_mib, g.memory_mib)
    current = f" current='{g.vcpus}'" if g.maxvcpus else ""
    out.append(
        f"  <memory unit='MiB'>{maxmem}</memory>\n"
        f"  <currentMemory unit='MiB'>{g.memory_mib}</currentMemory>\n"
        f"  <vcpu placement='static'{current}>{g.maxvcpus or g.vcpus}</vcpu>\n"
        "  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n"
    )
    if g.boot is BootMethod.KERNEL:
        out.append(f"    <kernel>{_esc(g.kernel)}</kernel>\n")
        if g.initrd:
            out.append(f"    <initrd>{_esc(g.initrd)}</initrd>\n")
        out.append(f"    <cmdline>{_esc(g.cmdline)}</cmdline>\n")
    else:
        out.extend(f"    <boot dev='{dev}'/>\n" for dev in g.boot_order)
    out.append(
        "  </os>\n  <features>\n    <acpi/>\n    <apic/>\n  </features>\n  <clock offset='utc'/>\n"
    )
    for tag, value, allowed in (
        ("on_poweroff", g.lifecycle.on_poweroff, _LIBVIRT_OFF),
        ("on_reboot", g.lifecycle.on_reboot, _LIBVIRT_OFF),
        ("on_crash", g.lifecycle.on_crash, _LIBVIRT_CRASH),
    ):
        if value not in allowed:
            default = "restart" if tag == "on_reboot" else "destroy"
            warnings.append(f"{tag} = {value!r} has no libvirt equivalent; {default} used")
            value = default
        out.append(f"  <{tag}>{value}</{tag}>\n")
    if paravirt:
        out.append("  <devices>\n    <controller type='scsi' index='0' model='virtio-scsi'/>\n")
    else:
        out.append("  <devices>\n    <controller type='ide' index='0'/>\n")
    bus = "scsi" if paravirt else "ide"
    for d in g.disks:
        slot = ord(d.kvm_target[-1]) - ord("a")
        kind = "block" if d.is_block_device else "file"
        source = ""
        if d.source:
            attr = "dev" if kind == "block" else "file"
            source = f"      <source {attr}='{_esc(d.source)}'/>\n"
        readonly = ""
        if d.cdrom or (d.readonly and paravirt):
            readonly = "      <readonly/>\n"
        elif d.readonly:
            warnings.append(
                f"disk {d.vdev}: IDE hard disks cannot be read-only under KVM (libvirt "
                f"refuses it); {d.kvm_target} is attached writable: mount it read-only"
            )
        if paravirt:
            address = f"bus='0' target='0' unit='{slot}'"
        else:
            address = f"bus='{slot // 2}' target='0' unit='{slot % 2}'"
        out.append(
            f"    <disk type='{kind}' device='{'cdrom' if d.cdrom else 'disk'}'>\n"
            f"      <driver name='qemu' type='{_esc(d.format)}'/>\n"
            f"{source}"
            f"      <target dev='{d.kvm_target}' bus='{bus}'/>\n"
            f"{readonly}"
            f"      <address type='drive' controller='0' {address}/>\n"
            "    </disk>\n"
        )
    model = "virtio" if paravirt else "e1000"
    for nic in g.nics:
        mac = f"      <mac address='{nic.mac}'/>\n" if nic.mac else ""
        if nic.bridge:
            out.append(
                f"    <interface type='bridge'>\n{mac}"
                f"      <source bridge='{_esc(nic.bridge)}'/>\n"
                f"      <model type='{model}'/>\n    </interface>\n"
            )
        else:
            out.append(
                f"    <interface type='network'>\n{mac}"
                "      <source network='default'/>\n"
                f"      <model type='{model}'/>\n    </interface>\n"
            )
    if any(not n.bridge for n in g.nics):
        warnings.append(
            "a NIC had no bridge in the Xen config: libvirt network 'default' used (give --bridge)"
        )
    out.append(
        "    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n"
        "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n"
        "  </devices>\n</domain>\n"
    )
    return Rendered("".join(out), warnings)


def _qopt(value: str) -> str:
    """Escape a value inside a QEMU -option key=value list (a comma is written twice)."""
    return value.replace(",", ",,")


def qemu_argv(
    g: KvmGuest,
    *,
    binary: str = QEMU_BINARY,
    accel: str = "kvm",
    restricted_user_net: bool = False,
) -> Rendered:
    """The QEMU argument list (``argv[0]`` is the binary).

    ``restricted_user_net`` replaces every NIC's backend by ``user,restrict=on`` (tests use
    it: the guest can reach nothing).
    """
    warnings: list[str] = []
    paravirt = g.mode is VMMode.PARAVIRT
    maxmem = max(g.maxmem_mib, g.memory_mib)
    argv = [binary, "-name", f"guest={g.name}"]
    if g.uuid:
        argv += ["-uuid", g.uuid]
    argv += ["-machine", "pc", "-accel", accel]
    if accel == "kvm":
        argv += ["-cpu", "host"]
    argv += ["-m", str(maxmem)]
    if g.maxmem_mib > g.memory_mib:
        warnings.append(
            f"memory: QEMU starts with the maximum ({maxmem} MiB); Xen started with "
            f"{g.memory_mib} MiB and could balloon up"
        )
    smp = str(g.vcpus) + (f",maxcpus={g.maxvcpus}" if g.maxvcpus else "")
    argv += ["-smp", smp, "-nodefaults", "-no-user-config", "-display", "none"]
    argv += ["-serial", "pty"]
    if g.boot is BootMethod.KERNEL:
        argv += ["-kernel", g.kernel]
        if g.initrd:
            argv += ["-initrd", g.initrd]
        argv += ["-append", g.cmdline]
    if paravirt:
        argv += ["-device", "virtio-scsi-pci,id=scsi0"]
    bootindex = _boot_indexes(g)
    for d in g.disks:
        slot = ord(d.kvm_target[-1]) - ord("a")
        drive = [f"if=none,id=drive-{d.kvm_target}"]
        if d.source:
            drive.insert(0, f"file={_qopt(d.source)},format={d.format}")
        if d.cdrom:
            drive.append("media=cdrom")
        if d.cdrom or (d.readonly and paravirt):
            drive.append("readonly=on")
        elif d.readonly:
            # QEMU refuses a read-only IDE hard disk; a snapshot keeps the image unchanged.
            drive.append("snapshot=on")
            warnings.append(
                f"disk {d.vdev}: IDE hard disks cannot be read-only in QEMU; {d.kvm_target} "
                "uses snapshot=on (the guest may write, the image stays unchanged)"
            )
        argv += ["-drive", ",".join(drive)]
        kind = (
            ("scsi-cd" if d.cdrom else "scsi-hd")
            if paravirt
            else ("ide-cd" if d.cdrom else "ide-hd")
        )
        if paravirt:
            dev = f"{kind},bus=scsi0.0,channel=0,scsi-id={slot},lun=0"
        else:
            dev = f"{kind},bus=ide.{slot // 2},unit={slot % 2}"
        dev += f",drive=drive-{d.kvm_target},id={d.kvm_target}"
        if d.kvm_target in bootindex:
            dev += f",bootindex={bootindex[d.kvm_target]}"
        argv += ["-device", dev]
    nic_model = "virtio-net-pci" if paravirt else "e1000"
    for n, nic in enumerate(g.nics):
        if restricted_user_net:
            netdev = f"user,id=net{n},restrict=on"
        elif nic.bridge:
            netdev = f"bridge,id=net{n},br={_qopt(nic.bridge)}"
        else:
            netdev = f"user,id=net{n}"
        argv += ["-netdev", netdev]
        dev = f"{nic_model},netdev=net{n}"
        if nic.mac:
            dev += f",mac={nic.mac}"
        if f"net{n}" in bootindex:
            dev += f",bootindex={bootindex[f'net{n}']}"
        argv += ["-device", dev]
    if any(not n.bridge for n in g.nics) and not restricted_user_net:
        warnings.append(
            "a NIC had no bridge in the Xen config: QEMU user networking used (give --bridge)"
        )
    lc = g.lifecycle
    if lc.on_reboot == "destroy":
        argv.append("-no-reboot")
    elif lc.on_reboot != "restart":
        warnings.append(f"on_reboot = {lc.on_reboot!r}: not expressible on the QEMU command line")
    if lc.on_poweroff != "destroy":
        warnings.append(f"on_poweroff = {lc.on_poweroff!r}: QEMU exits on poweroff")
    if lc.on_crash != "destroy":
        warnings.append(f"on_crash = {lc.on_crash!r}: not expressible on the QEMU command line")
    return Rendered(render_qemu_script(argv, g.name), warnings, argv)


def _boot_indexes(g: KvmGuest) -> dict[str, int]:
    """Direct Disk boot order as device -> bootindex: first disk, first CD-ROM, first NIC."""
    if g.boot is not BootMethod.DISK:
        return {}
    first = {
        "hd": next((d.kvm_target for d in g.disks if not d.cdrom), ""),
        "cdrom": next((d.kvm_target for d in g.disks if d.cdrom), ""),
        "network": "net0" if g.nics else "",
    }
    out: dict[str, int] = {}
    for cls in g.boot_order:
        dev = first.get(cls, "")
        if dev and dev not in out:
            out[dev] = len(out) + 1
    return out


def render_qemu_script(argv: list[str], name: str) -> str:
    """A runnable ``sh`` script for ``argv``: every word quoted with shlex.quote."""
    lines = [
        "#!/bin/sh",
        f"# KVM guest {name}, written by xen2kvm translate.",
        "# The serial console (ttyS0) is a pty: QEMU prints its path at start.",
        "set -e",
    ]
    words = [shlex.quote(a) for a in argv]
    parts: list[str] = ["exec " + words[0]]
    i = 1
    while i < len(words):
        if argv[i].startswith("-") and i + 1 < len(words) and not argv[i + 1].startswith("-"):
            parts.append(f"{words[i]} {words[i + 1]}")
            i += 2
        else:
            parts.append(words[i])
            i += 1
    lines.append(" \\\n    ".join(parts))
    return "\n".join(lines) + "\n"


def render_proxmox(g: KvmGuest, *, description: str = "") -> Rendered:
    """A Proxmox VE ``qm`` config (keys sorted, as PVE writes them; '#' lines are the notes)."""
    warnings: list[str] = []
    paravirt = g.mode is VMMode.PARAVIRT
    conf: dict[str, str] = {}
    maxmem = max(g.maxmem_mib, g.memory_mib)
    conf["name"] = g.name
    conf["memory"] = str(maxmem)
    if g.maxmem_mib > g.memory_mib:
        conf["balloon"] = str(g.memory_mib)
    conf["sockets"] = "1"
    conf["cores"] = str(g.maxvcpus or g.vcpus)
    if g.maxvcpus:
        conf["vcpus"] = str(g.vcpus)
    conf["ostype"] = "l26"
    if g.uuid:
        conf["smbios1"] = f"uuid={g.uuid}"
    if paravirt:
        conf["scsihw"] = "virtio-scsi-pci"
    keys: dict[str, str] = {}
    for d in g.disks:
        slot = ord(d.kvm_target[-1]) - ord("a")
        key = f"scsi{slot}" if paravirt else f"ide{slot}"
        value = d.source or "none"
        if d.cdrom:
            value += ",media=cdrom"
        elif not d.is_block_device:
            value += f",format={d.format}"
        if d.readonly and not d.cdrom:
            if paravirt:
                value += ",ro=1"
            else:
                warnings.append(
                    f"disk {d.vdev}: Proxmox IDE disks cannot be read-only; {key} is writable"
                )
        conf[key] = value
        keys[d.kvm_target] = key
    if g.boot is BootMethod.DISK:
        order = sorted(_boot_indexes(g).items(), key=lambda kv: kv[1])
        devs = [keys.get(dev, dev) for dev, _ in order]
        if devs:
            conf["boot"] = "order=" + ";".join(devs)
    else:
        args = ["-kernel", g.kernel]
        if g.initrd:
            args += ["-initrd", g.initrd]
        args += ["-append", g.cmdline]
        conf["args"] = " ".join(shlex.quote(a) for a in args)
    model = "virtio" if paravirt else "e1000"
    for n, nic in enumerate(g.nics):
        parts = [f"{model}={nic.mac.upper()}" if nic.mac else model]
        parts.append(f"bridge={nic.bridge or 'vmbr0'}")
        conf[f"net{n}"] = ",".join(parts)
    if any(not n.bridge for n in g.nics):
        warnings.append("a NIC had no bridge in the Xen config: vmbr0 used (give --bridge)")
    conf["serial0"] = "socket"
    conf["vga"] = "serial0"
    lc = g.lifecycle
    if (lc.on_poweroff, lc.on_reboot, lc.on_crash) != ("destroy", "restart", "destroy"):
        warnings.append(
            f"lifecycle actions (poweroff={lc.on_poweroff}, reboot={lc.on_reboot}, "
            f"crash={lc.on_crash}) have no Proxmox setting"
        )
    if any(d.source for d in g.disks):
        warnings.append(
            "Proxmox: disks are referenced by path; 'qm disk import' them into a "
            "storage to get snapshots and migration"
        )
    lines = [f"#{line}" for line in (description or "").splitlines()]
    lines += [f"{k}: {conf[k]}" for k in sorted(conf)]
    return Rendered("\n".join(lines) + "\n", warnings)


_LINODE_SLOTS = ("sda", "sdb", "sdc", "sdd", "sde", "sdf", "sdg", "sdh")
_LINODE_HELPERS = {
    "updatedb_disabled": True,
    "distro": True,
    "modules_dep": True,
    "network": True,
    "devtmpfs_automount": True,
}


def linode_profile(g: KvmGuest) -> tuple[dict[str, object], list[str]]:
    """The Linode API v4 configuration profile body for ``g`` and its warnings."""
    warnings: list[str] = []
    devices: dict[str, object] = dict.fromkeys(_LINODE_SLOTS)
    for d in g.disks:
        if d.cdrom:
            warnings.append(f"disk {d.vdev}: Linode profiles have no CD-ROM; not carried over")
            continue
        kind, _, ident = d.linode_ref.partition(":")
        if kind == "disk":
            devices[d.kvm_target] = {"disk_id": int(ident), "volume_id": None}
        elif kind == "volume":
            devices[d.kvm_target] = {"disk_id": None, "volume_id": int(ident)}
        else:
            devices[d.kvm_target] = {"disk_id": None, "volume_id": None}
            warnings.append(
                f"{d.kvm_target}: Linode disk id of {d.source} unknown (upload the "
                "image as a Linode disk and fill in disk_id)"
            )
        if d.format != "raw":
            warnings.append(
                f"{d.kvm_target}: Linode disks are raw; convert {d.source} "
                f"({d.format}) with 'qemu-img convert -O raw' before uploading"
            )
    label = str(g.linode.get("label") or g.name)
    if len(label) > 48:
        warnings.append(f"label {label!r} cut to 48 characters (Linode's limit)")
        label = label[:48]
    if len(label) < 3:
        label = (label + "---")[:3]
    macs = [n.mac for n in g.nics if n.mac]
    if macs:
        warnings.append(
            f"Linode assigns MAC addresses itself; the Xen MACs {', '.join(macs)} "
            "cannot be kept (check rules that pin them in the guest)"
        )
    if g.maxmem_mib > g.memory_mib:
        warnings.append("maxmem: Linode has no memory ballooning; memory_limit not set to it")
    interfaces = g.linode.get("interfaces")
    if interfaces is None:
        interfaces = []
    if g.uuid:
        warnings.append("uuid: Linode assigns its own ids; not carried over")
    profile: dict[str, object] = {
        "label": label,
        "comments": str(g.linode.get("comments") or "translated from Xen by xen2kvm"),
        "kernel": g.linode_kernel,
        "virt_mode": g.mode.value,
        "memory_limit": g.linode.get("memory_limit", 0),
        "run_level": g.linode.get("run_level", "default"),
        "root_device": g.root_device,
        "devices": devices,
        "helpers": g.linode.get("helpers") or dict(_LINODE_HELPERS),
        "interfaces": interfaces,
    }
    return profile, warnings


def render_linode(g: KvmGuest) -> Rendered:
    profile, warnings = linode_profile(g)
    return Rendered(json.dumps(profile, indent=2) + "\n", warnings)
