"""Readers: xl.cfg, xm, libvirt ``<domain type='xen'>`` XML and Linode profiles -> Domain.

Every reader returns a validated :class:`~xen2kvm.hv.model.Domain` whose ``warnings`` list
what the input said and KVM cannot carry (framebuffers, PCI passthrough, CPU weights...).
Malformed input is a :class:`~xen2kvm.errors.ParseError` naming file, line and column, or
the bad field.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from xen2kvm.errors import ParseError, Xen2KvmError
from xen2kvm.hv.model import (
    Boot,
    BootKind,
    Disk,
    Domain,
    Lifecycle,
    Nic,
    VMMode,
    normalise_mac,
)
from xen2kvm.hv.xlcfg import (
    Item,
    Setting,
    XenConfig,
    parse_disk_spec,
    parse_vif_spec,
    parse_xen_config,
)

FORMATS = ("xl", "xm", "libvirt", "linode")


@dataclass(frozen=True)
class ReadOptions:
    """Extra facts a reader may need that the input does not hold."""

    #: Linode disk/volume id -> path of its image ("123" or "disk:123", "volume:7").
    disk_paths: Mapping[str, str] = field(default_factory=dict)
    #: Memory and vCPUs to assume when the input does not say (Linode profiles).
    memory_mib: int = 0
    vcpus: int = 0


def detect_format(text: str) -> str:
    """Guess the input format from its first meaningful character."""
    s = text.lstrip("\ufeff \t\r\n")
    if s.startswith("<"):
        return "libvirt"
    if s.startswith("{") or s.startswith("["):
        # An xl file cannot start with '[' or '{' (it starts with a key), JSON can.
        return "linode"
    return "xl"


def read_domain(
    text: str,
    source: str = "<input>",
    input_format: str = "auto",
    options: ReadOptions | None = None,
) -> Domain:
    """Read a Xen domain description of any supported format (``auto`` detects it)."""
    fmt = detect_format(text) if input_format == "auto" else input_format
    if fmt in ("xl", "xm"):
        cfg = parse_xen_config(text, source, "auto" if input_format == "auto" else fmt)
        return domain_from_xen_config(cfg)
    if fmt == "libvirt":
        return read_libvirt_xen(text, source)
    if fmt == "linode":
        return read_linode(text, source, options)
    raise ParseError(f"unknown input format {fmt!r} (one of {', '.join(FORMATS)})", source=source)


def read_domain_file(
    path: str | Path, input_format: str = "auto", options: ReadOptions | None = None
) -> Domain:
    """Read a domain description from a file; unreadable files are a Xen2KvmError."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise Xen2KvmError(f"{p}: cannot read: {exc.strerror or exc}") from exc
    if len(raw) > 4 * 1024 * 1024:
        raise ParseError("larger than 4 MiB: not a domain configuration", source=str(p))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8 text (byte {exc.start})", source=str(p)) from None
    domain = read_domain(text, str(p), input_format, options)
    # A KVM config needs absolute paths (libvirt's schema demands them); xl would resolve a
    # relative one against its working directory, the config's directory is the better guess.
    base = p.resolve().parent
    fixed = []
    for d in domain.disks:
        if d.source and not d.source.startswith("/"):
            new = os.path.normpath(base / d.source)
            domain.warnings.append(f"disk {d.vdev}: relative path {d.source!r} taken as {new}")
            d = dataclasses.replace(d, source=new)
        fixed.append(d)
    domain.disks = fixed
    return domain


# --- xl / xm -------------------------------------------------------------------------------

#: Keys carried over completely (or with no KVM meaning and nothing lost).
_XL_HANDLED = {
    "name",
    "uuid",
    "type",
    "builder",
    "memory",
    "maxmem",
    "vcpus",
    "maxvcpus",
    "kernel",
    "ramdisk",
    "cmdline",
    "root",
    "extra",
    "bootloader",
    "bootloader_args",
    "bootargs",
    "firmware",
    "disk",
    "vif",
    "on_poweroff",
    "on_reboot",
    "on_crash",
    "boot",
    "serial",
    "device_model_version",
    "device_model_override",
}
#: Settings whose value here is what the KVM side does anyway (ACPI, APIC and PAE on, clock in
#: UTC): carried without a word; any other value is reported.
_XL_KVM_DEFAULTS: dict[str, tuple[object, ...]] = {
    "acpi": (1, "1"),
    "apic": (1, "1"),
    "pae": (1, "1"),
    "localtime": (0, "0"),
}
_ACTIONS = {
    "destroy",
    "restart",
    "preserve",
    "rename-restart",
    "coredump-destroy",
    "coredump-restart",
    "soft-reset",
}


_BOOT_DEVICES = {"c": "hd", "d": "cdrom", "n": "network"}


def _fmt_value(item: Item) -> str:
    v = item.plain()
    # json.dumps writes an int as repr() does, only slower.
    return repr(v) if isinstance(v, str) or type(v) is int else json.dumps(v)


class _XlReader:
    def __init__(self, cfg: XenConfig) -> None:
        self.cfg = cfg
        self.settings = cfg.settings
        self.src = cfg.source
        self.warnings: list[str] = []

    def err(self, s: Setting | Item, msg: str) -> ParseError:
        return ParseError(msg, source=self.src, line=s.line, column=s.column)

    def _relocate(self, exc: ParseError, it: Item) -> ParseError:
        """Place an error found inside a spec string (column from 1) in the file.

        Positions are computed only here: most specs parse fine and asking every value for
        its line is a measurable part of the whole translation.
        """
        inner = (exc.column or 1) - 1
        return ParseError(exc.message, source=self.src, line=it.line, column=it.column + 1 + inner)

    def string(self, key: str, default: str = "") -> str:
        s = self.settings.get(key)
        if s is None:
            return default
        v = s.item.value
        if isinstance(v, str):
            return v
        if isinstance(v, list):
            # xm allowed e.g. extra = ["a", "b"]? It did not; xl neither. Say which key.
            raise self.err(s.item, f"{key}: expected a string, found a list")
        return str(v) if not isinstance(v, float) else repr(v)

    def number(self, key: str, default: int = 0) -> int:
        s = self.settings.get(key)
        if s is None:
            return default
        v = s.item.value
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, int):
            return v
        if isinstance(v, str) and v.strip().isdigit():
            return int(v.strip())
        raise self.err(s.item, f"{key}: expected a whole number, found {_fmt_value(s.item)}")

    def strings(self, key: str) -> list[Item]:
        s = self.settings.get(key)
        if s is None:
            return []
        v = s.item.value
        if isinstance(v, str):
            return [s.item]  # xl accepts a single spec where a list is expected
        if not isinstance(v, list):
            raise self.err(s.item, f"{key}: expected a list of strings")
        for it in v:
            if not isinstance(it.value, str):
                raise self.err(it, f"{key}: every element must be a string")
        return v

    def read(self) -> Domain:
        cfg = self.cfg
        name = self.string("name")
        if not name:
            raise ParseError("name: missing (xl requires a domain name)", source=self.src)
        xen_type = self.string("type").lower()
        builder = self.string("builder").lower()
        if not xen_type:
            xen_type = "hvm" if builder == "hvm" else "pv"
        if xen_type not in ("pv", "pvh", "hvm"):
            s = cfg.get("type")
            assert s is not None
            raise self.err(s.item, f"type: {xen_type!r} is not pv, pvh or hvm")
        hvm = xen_type == "hvm"
        memory = self.number("memory", 128)  # xl's default when memory is not given
        if cfg.get("memory") is None:
            self.warnings.append("memory not set: xl's default of 128 MiB assumed")
        maxmem = self.number("maxmem", 0)
        vcpus = self.number("vcpus", 1)
        maxvcpus = self.number("maxvcpus", 0)
        boot = self.boot(hvm)
        disks = self.disks()
        nics = self.nics(hvm)
        lifecycle = self.lifecycle()
        for key, s in cfg.settings.items():
            if key in _XL_HANDLED:
                continue
            if s.item.value in _XL_KVM_DEFAULTS.get(key, ()):
                continue
            self.warnings.append(f"not carried over: {key} = {_fmt_value(s.item)}")
        if hvm:
            serial = self.string("serial")
            if serial and serial != "pty":
                self.warnings.append(f"serial = {serial!r}: KVM side uses a pty serial console")
        uuid_s = cfg.get("uuid")
        uuid = self.string("uuid")
        root = _cmdline_arg(boot.cmdline, "root")
        try:
            return Domain(
                name=name,
                uuid=uuid,
                memory_mib=memory,
                maxmem_mib=maxmem if maxmem != memory else 0,
                vcpus=vcpus,
                maxvcpus=maxvcpus if maxvcpus != vcpus else 0,
                disks=disks,
                nics=nics,
                boot=boot,
                vm_mode=VMMode.FULLVIRT if hvm else VMMode.PARAVIRT,
                xen_type=xen_type,
                console="ttyS0" if hvm else "hvc0",
                root_device=root,
                lifecycle=lifecycle,
                source=self.src,
                source_format=cfg.dialect,
                warnings=self.warnings,
            )
        except ParseError as exc:
            # Point at the offending line when the model names a key we know the place of.
            fieldname = exc.message.split(":", 1)[0]
            s = cfg.get(fieldname) or (uuid_s if fieldname == "uuid" else None)
            if s is not None:
                raise self.err(s.item, exc.message) from None
            raise

    def boot(self, hvm: bool) -> Boot:
        kernel = self.string("kernel")
        ramdisk = self.string("ramdisk")
        cmdline = self.string("cmdline")
        root = self.string("root")
        extra = self.string("extra")
        if not cmdline:
            parts = []
            if root:
                parts.append(root if root.startswith("root=") else f"root={root}")
            if extra:
                parts.append(extra)
            cmdline = " ".join(parts)
        bootloader = self.string("bootloader")
        bl_args = self.string("bootloader_args") or self.string("bootargs")
        firmware = self.string("firmware").lower()
        order = tuple(
            _BOOT_DEVICES[c] for c in self.string("boot", "c" if hvm else "").lower() if c in "cdn"
        )
        if hvm:
            if firmware in ("uefi", "ovmf"):
                self.warnings.append(f"firmware = {firmware!r}: the KVM config uses BIOS")
            if kernel and "hvmloader" not in kernel:
                self.warnings.append(
                    f"not carried over: kernel = {kernel!r} (HVM guests boot from their disk)"
                )
            return Boot(BootKind.FIRMWARE, order=order or ("hd",))
        if firmware in ("pvgrub32", "pvgrub64") or "pv-grub" in kernel or "pvgrub" in kernel:
            return Boot(
                BootKind.BOOTLOADER,
                bootloader="pv-grub",
                bootloader_args=extra if "pv-grub" in kernel or "pvgrub" in kernel else "",
            )
        if bootloader:
            name = bootloader.rsplit("/", 1)[-1]
            return Boot(BootKind.BOOTLOADER, bootloader=name, bootloader_args=bl_args)
        if kernel:
            return Boot(BootKind.HOST_KERNEL, kernel=kernel, initrd=ramdisk, cmdline=cmdline)
        also = f" (firmware = {firmware!r} is not one KVM can use)" if firmware else ""
        raise ParseError(
            f"no way to boot: a PV guest needs kernel=, bootloader= or firmware=pvgrub*{also}",
            source=self.src,
        )

    def disks(self) -> list[Disk]:
        out: list[Disk] = []
        for n, it in enumerate(self.strings("disk")):
            assert isinstance(it.value, str)
            try:
                spec = parse_disk_spec(it.value, source=self.src, column=1)
            except ParseError as exc:
                raise self._relocate(exc, it) from None
            if spec.ignored:
                self.warnings.append(
                    f"disk {n} ({spec.vdev}): not carried over: {', '.join(spec.ignored)}"
                )
            # Positional: source, vdev, format, readonly, cdrom (keywords cost a little more).
            out.append(Disk(spec.target, spec.vdev, spec.format, spec.readonly, spec.cdrom))
        return out

    def nics(self, hvm: bool) -> list[Nic]:
        out: list[Nic] = []
        for n, it in enumerate(self.strings("vif")):
            assert isinstance(it.value, str)
            try:
                spec = parse_vif_spec(it.value, source=self.src, column=1)
            except ParseError as exc:
                raise self._relocate(exc, it) from None
            if spec.ignored:
                self.warnings.append(f"vif {n}: not carried over: {', '.join(spec.ignored)}")
            if not spec.mac:
                self.warnings.append(
                    f"vif {n}: no mac in the Xen config (Xen made one up at each start); "
                    "KVM will choose a new one"
                )
            out.append(Nic(mac=spec.mac, bridge=spec.bridge, model=spec.model))
        return out

    def lifecycle(self) -> Lifecycle:
        vals: dict[str, str] = {}
        for key in ("on_poweroff", "on_reboot", "on_crash"):
            s = self.settings.get(key)
            if s is None:
                continue
            v = self.string(key).lower()
            if v not in _ACTIONS:
                raise self.err(s.item, f"{key}: unknown action {v!r}")
            vals[key] = v
        return Lifecycle(**vals)


def domain_from_xen_config(cfg: XenConfig) -> Domain:
    """Build a Domain from parsed xl/xm settings."""
    return _XlReader(cfg).read()


def _cmdline_arg(cmdline: str, name: str) -> str:
    for word in cmdline.split():
        if word.startswith(name + "="):
            return word[len(name) + 1 :]
    return ""


# --- libvirt <domain type='xen'> -----------------------------------------------------------

_UNITS = {
    "b": 1,
    "bytes": 1,
    "kb": 1000,
    "k": 1024,
    "kib": 1024,
    "mb": 1000**2,
    "m": 1024**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "g": 1024**3,
    "gib": 1024**3,
    "tb": 1000**4,
    "t": 1024**4,
    "tib": 1024**4,
}
_LIBVIRT_CARRIED = {
    "name",
    "uuid",
    "memory",
    "currentMemory",
    "vcpu",
    "os",
    "bootloader",
    "bootloader_args",
    "on_poweroff",
    "on_reboot",
    "on_crash",
    "devices",
    "features",
    "title",
    "description",
}
_LIBVIRT_DEVICES_CARRIED = {"disk", "interface", "console", "serial", "emulator"}


def _mib(el: ET.Element, source: str) -> int:
    unit = el.get("unit", "KiB").lower()
    if unit not in _UNITS:
        raise ParseError(f"<{el.tag}>: unknown unit {unit!r}", source=source)
    try:
        n = int((el.text or "").strip())
    except ValueError:
        raise ParseError(f"<{el.tag}>: {el.text!r} is not a number", source=source) from None
    return n * _UNITS[unit] // 1024**2


def read_libvirt_xen(text: str, source: str = "<input>") -> Domain:
    """Read a libvirt ``<domain type='xen'>`` description (defusedxml: no entities, no DTD)."""
    try:
        root = DET.fromstring(text)
    except ET.ParseError as exc:
        line, col = exc.position
        raise ParseError(
            f"malformed XML: {exc.msg if hasattr(exc, 'msg') else exc}",
            source=source,
            line=line,
            column=col + 1,
        ) from None
    except DefusedXmlException as exc:
        raise ParseError(f"refused XML construct: {exc}", source=source) from None
    if root.tag != "domain":
        raise ParseError(f"root element is <{root.tag}>, expected <domain>", source=source)
    dtype = root.get("type", "")
    warnings: list[str] = []
    if dtype != "xen":
        warnings.append(f"domain type is {dtype!r}, not 'xen': read as a Xen domain anyway")

    def text_of(path: str) -> str:
        el = root.find(path)
        return (el.text or "").strip() if el is not None else ""

    name = text_of("name")
    if not name:
        raise ParseError("<name>: missing", source=source)
    mem_el = root.find("memory")
    if mem_el is None:
        raise ParseError("<memory>: missing", source=source)
    maxmem = _mib(mem_el, source)
    cur_el = root.find("currentMemory")
    memory = _mib(cur_el, source) if cur_el is not None else maxmem
    vcpu_el = root.find("vcpu")
    try:
        maxv = int((vcpu_el.text or "1").strip()) if vcpu_el is not None else 1
        vcpus = int(vcpu_el.get("current", maxv)) if vcpu_el is not None else 1
    except ValueError:
        raise ParseError("<vcpu>: not a number", source=source) from None

    os_type = text_of("os/type").lower()
    hvm = os_type == "hvm"
    kernel, initrd, cmdline = text_of("os/kernel"), text_of("os/initrd"), text_of("os/cmdline")
    bootloader = text_of("bootloader")
    if hvm:
        order = tuple(
            {"hd": "hd", "cdrom": "cdrom", "network": "network"}.get(b.get("dev", ""), "hd")
            for b in root.findall("os/boot")
        )
        boot = Boot(BootKind.FIRMWARE, order=order or ("hd",))
    elif bootloader:
        boot = Boot(
            BootKind.BOOTLOADER,
            bootloader=bootloader.rsplit("/", 1)[-1],
            bootloader_args=text_of("bootloader_args"),
        )
    elif "pv-grub" in kernel or "pvgrub" in kernel:
        boot = Boot(BootKind.BOOTLOADER, bootloader="pv-grub", bootloader_args=cmdline)
    elif kernel:
        boot = Boot(BootKind.HOST_KERNEL, kernel=kernel, initrd=initrd, cmdline=cmdline)
    else:
        raise ParseError("<os>: a PV domain needs <kernel> or <bootloader> to boot", source=source)

    disks: list[Disk] = []
    nics: list[Nic] = []
    devices = root.find("devices")
    for n, dev in enumerate(list(devices) if devices is not None else []):
        if dev.tag == "disk":
            d = _libvirt_disk(dev, n, source, warnings)
            if d is not None:
                disks.append(d)
        elif dev.tag == "interface":
            mac_el = dev.find("mac")
            mac = (
                normalise_mac(
                    mac_el.get("address", ""), source=source, what=f"<interface> {len(nics)} <mac>"
                )
                if mac_el is not None
                else ""
            )
            src = dev.find("source")
            bridge = ""
            if src is not None:
                bridge = src.get("bridge", "") or src.get("network", "")
            model_el = dev.find("model")
            script = dev.find("script")
            if script is not None:
                warnings.append(
                    f"interface {len(nics)}: not carried over: script {script.get('path', '')}"
                )
            if not mac:
                warnings.append(f"interface {len(nics)}: no MAC given; KVM will choose one")
            nics.append(
                Nic(
                    mac=mac,
                    bridge=bridge,
                    model=model_el.get("type", "") if model_el is not None else "",
                )
            )
        elif dev.tag not in _LIBVIRT_DEVICES_CARRIED:
            warnings.append(
                f"not carried over: device <{dev.tag}>"
                + (f" type={dev.get('type')!r}" if dev.get("type") else "")
            )
    for child in root:
        if child.tag not in _LIBVIRT_CARRIED:
            warnings.append(f"not carried over: <{child.tag}>")
    lc = {}
    for key in ("on_poweroff", "on_reboot", "on_crash"):
        v = text_of(key)
        if v:
            if v not in _ACTIONS:
                raise ParseError(f"<{key}>: unknown action {v!r}", source=source)
            lc[key] = v
    return Domain(
        name=name,
        uuid=text_of("uuid"),
        memory_mib=memory,
        maxmem_mib=maxmem if maxmem > memory else 0,
        vcpus=vcpus,
        maxvcpus=maxv if maxv > vcpus else 0,
        disks=disks,
        nics=nics,
        boot=boot,
        vm_mode=VMMode.FULLVIRT if hvm else VMMode.PARAVIRT,
        xen_type="hvm" if hvm else "pv",
        console="ttyS0" if hvm else "hvc0",
        root_device=_cmdline_arg(cmdline, "root"),
        lifecycle=Lifecycle(**lc),
        source=source,
        source_format="libvirt",
        warnings=warnings,
    )


def _libvirt_disk(dev: ET.Element, n: int, source: str, warnings: list[str]) -> Disk | None:
    device = dev.get("device", "disk")
    target = dev.find("target")
    vdev = target.get("dev", "") if target is not None else ""
    if not vdev:
        raise ParseError(f"<disk> {n}: <target dev=...> missing", source=source)
    if device not in ("disk", "cdrom"):
        warnings.append(f"not carried over: <disk device={device!r}> {vdev}")
        return None
    src = dev.find("source")
    path = ""
    if src is not None:
        path = src.get("file", "") or src.get("dev", "")
        if not path:
            warnings.append(
                f"disk {vdev}: source {dict(src.attrib)} is not a file or device; not carried over"
            )
            return None
    driver = dev.find("driver")
    fmt = "raw"
    if driver is not None:
        t = driver.get("type", "")
        if t in ("qcow", "qcow2", "vhd", "qed"):
            fmt = t
        elif t not in ("", "raw", "aio"):
            warnings.append(f"disk {vdev}: driver type {t!r} read as raw")
    if not path and device != "cdrom":
        raise ParseError(f"<disk> {vdev}: no <source>", source=source)
    return Disk(
        source=path,
        vdev=vdev,
        format=fmt,
        readonly=dev.find("readonly") is not None or device == "cdrom",
        cdrom=device == "cdrom",
    )


# --- Linode API v4 configuration profile ---------------------------------------------------

_LINODE_SLOT_RE = re.compile(r"^(xvd|sd)([a-h])$")
_LINODE_BOOTLOADERS = {
    "linode/grub2": "grub2",
    "linode/grub-legacy": "grub-legacy",
    "linode/pv-grub_x86_64": "pv-grub",
    "linode/pv-grub_x86_32": "pv-grub",
    "linode/pv-grub-x86_64": "pv-grub",
    "linode/pv-grub-x86_32": "pv-grub",
    "linode/pv-grub_x86_32_pae": "pv-grub",
}


def _json_error(exc: json.JSONDecodeError, source: str) -> ParseError:
    return ParseError(
        f"malformed JSON: {exc.msg}", source=source, line=exc.lineno, column=exc.colno
    )


def read_linode(text: str, source: str = "<input>", options: ReadOptions | None = None) -> Domain:
    """Read a Linode API v4 configuration profile (``GET /linode/instances/{id}/configs/{id}``).

    Disk images are named by id; ``options.disk_paths`` maps ids to paths, and an unmapped id
    gets a placeholder path plus a warning.
    """
    options = options or ReadOptions()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _json_error(exc, source) from None
    except RecursionError:
        raise ParseError("JSON nested too deeply", source=source) from None
    if isinstance(data, dict) and "data" in data and isinstance(data["data"], list):
        if len(data["data"]) != 1:
            raise ParseError(
                f"data: a list of {len(data['data'])} profiles; save the one to translate",
                source=source,
            )
        data = data["data"][0]
    if not isinstance(data, dict):
        raise ParseError("expected a JSON object (a configuration profile)", source=source)
    warnings: list[str] = []

    def bad(fieldname: str, msg: str) -> ParseError:
        return ParseError(f"{fieldname}: {msg}", source=source)

    def get_str(key: str, default: str = "") -> str:
        v = data.get(key, default)
        if v is None:
            return default
        if not isinstance(v, str):
            raise bad(key, f"expected a string, found {json.dumps(v)}")
        return v

    label = get_str("label", "linode")
    name = re.sub(r"[^A-Za-z0-9_.+-]+", "-", label).strip("-") or "linode"
    virt_mode = get_str("virt_mode", "paravirt")
    if virt_mode not in ("paravirt", "fullvirt"):
        raise bad("virt_mode", f"{virt_mode!r} is not paravirt or fullvirt")
    kernel = get_str("kernel", "linode/latest-64bit")
    devices = data.get("devices", {})
    if not isinstance(devices, dict):
        raise bad("devices", "expected an object of device slots")
    disks: list[Disk] = []
    for slot in sorted(devices):
        val = devices[slot]
        if not _LINODE_SLOT_RE.match(slot):
            raise bad(f"devices.{slot}", "not a device slot (xvda..xvdh or sda..sdh)")
        if val is None:
            continue
        if not isinstance(val, dict):
            raise bad(f"devices.{slot}", 'expected {"disk_id": N} or {"volume_id": N}')
        disk_id, volume_id = val.get("disk_id"), val.get("volume_id")
        for k, v in (("disk_id", disk_id), ("volume_id", volume_id)):
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                raise bad(f"devices.{slot}.{k}", f"expected a number, found {json.dumps(v)}")
        if disk_id is None and volume_id is None:
            continue
        if disk_id is not None and volume_id is not None:
            raise bad(f"devices.{slot}", "has both disk_id and volume_id")
        kind, ident = ("disk", disk_id) if disk_id is not None else ("volume", volume_id)
        ref = f"{kind}:{ident}"
        path = options.disk_paths.get(ref) or (
            options.disk_paths.get(str(ident)) if kind == "disk" else None
        )
        if not path:
            path = f"/path/to/linode-{kind}-{ident}.img"
            warnings.append(
                f"{slot}: path of Linode {kind} {ident} unknown; placeholder {path!r} used "
                f"(give --disk-path {ref if kind == 'volume' else ident}=PATH)"
            )
        disks.append(Disk(source=path, vdev=slot, format="raw", linode_ref=ref))

    if kernel == "linode/direct-disk":
        boot = Boot(BootKind.FIRMWARE, order=("hd",))
    elif kernel in _LINODE_BOOTLOADERS:
        boot = Boot(BootKind.BOOTLOADER, bootloader=_LINODE_BOOTLOADERS[kernel])
    elif kernel.startswith("linode/"):
        boot = Boot(BootKind.HOST_KERNEL, kernel=kernel)
    else:
        raise bad("kernel", f"{kernel!r} is not a Linode kernel id (linode/...)")

    interfaces = data.get("interfaces") or []
    if not isinstance(interfaces, list):
        raise bad("interfaces", "expected a list")
    nics: list[Nic] = []
    for n, iface in enumerate(interfaces):
        if not isinstance(iface, dict):
            raise bad(f"interfaces[{n}]", "expected an object")
        purpose = iface.get("purpose", "public")
        if purpose != "public":
            warnings.append(
                f"interfaces[{n}]: purpose {purpose!r} (label "
                f"{iface.get('label')!r}) has no KVM-side equivalent here; "
                "carried as a plain NIC"
            )
        nics.append(Nic())
    if not interfaces:
        nics.append(Nic())  # a profile without interfaces gets the public one
    root_device = get_str("root_device", "/dev/sda")
    memory_limit = data.get("memory_limit", 0) or 0
    if not isinstance(memory_limit, int):
        raise bad("memory_limit", f"expected a number, found {json.dumps(memory_limit)}")
    memory = memory_limit or options.memory_mib
    if not memory:
        memory = 1024
        warnings.append(
            "memory: the profile has no memory_limit (the plan's memory is used); "
            "1024 MiB assumed (give --memory)"
        )
    vcpus = options.vcpus or 1
    if not options.vcpus:
        warnings.append(
            "vcpus: a profile does not hold the vCPU count (the plan does); "
            "1 assumed (give --vcpus)"
        )
    helpers = data.get("helpers") or {}
    if not isinstance(helpers, dict):
        raise bad("helpers", "expected an object")
    run_level = get_str("run_level", "default")
    if run_level not in ("default", "single", "binbash"):
        raise bad("run_level", f"{run_level!r} is not default, single or binbash")
    return Domain(
        name=name,
        memory_mib=memory,
        vcpus=vcpus,
        disks=disks,
        nics=nics,
        boot=boot,
        vm_mode=VMMode(virt_mode),
        xen_type="linode",
        console="hvc0" if any(d.vdev.startswith("xvd") for d in disks) else "ttyS0",
        root_device=root_device,
        linode={
            "label": label,
            "comments": get_str("comments"),
            "helpers": helpers,
            "interfaces": interfaces,
            "memory_limit": memory_limit,
            "run_level": run_level,
            "kernel": kernel,
        },
        source=source,
        source_format="linode",
        warnings=warnings,
    )
