"""The neutral domain model every reader produces and every writer consumes.

A :class:`Domain` describes one guest as its Xen configuration states it: which disks (with
their Xen device names), which NICs (with their MACs), how it boots. Readers fill
``warnings`` with everything they saw and could not carry over, so nothing is dropped
silently. The model is validated on construction: a bad MAC, a zero memory size or a
malformed UUID is a :class:`~xen2kvm.errors.ParseError` naming the field.
"""

from __future__ import annotations

import enum
import re
import uuid as uuidlib
from dataclasses import dataclass, field

from xen2kvm.errors import ParseError


class VMMode(enum.Enum):
    """KVM virtual machine mode, as Linode names it."""

    PARAVIRT = "paravirt"  # virtio-scsi disks, virtio-net
    FULLVIRT = "fullvirt"  # IDE disks, e1000


class BootKind(enum.Enum):
    HOST_KERNEL = "host-kernel"  # kernel (+initrd, cmdline) held by the host
    BOOTLOADER = "bootloader"  # pygrub / pv-grub reading the guest's grub menu
    FIRMWARE = "firmware"  # BIOS reading the disk's MBR (HVM guests)


@dataclass(frozen=True)
class Disk:
    """One block device of the guest.

    ``vdev`` is the Xen virtual device name without ``/dev/`` (``xvda``, ``xvda1``, ``hdc``).
    ``kvm_target`` is empty in what readers produce and set by the disk mapping.
    ``source`` is empty for an empty CD-ROM drive.
    """

    source: str
    vdev: str
    format: str = "raw"
    readonly: bool = False
    cdrom: bool = False
    kvm_target: str = ""
    #: Linode disk or volume id when read from a Linode profile ("disk:123", "volume:7").
    linode_ref: str = ""

    # Written out (dataclass keeps an __init__ the class defines) because the generated one
    # calls object.__setattr__ once per field and a translation makes two Disks per disk;
    # tests/unit/hv/test_hv_fast_paths.py checks it against the fields.
    def __init__(
        self,
        source: str,
        vdev: str,
        format: str = "raw",
        readonly: bool = False,
        cdrom: bool = False,
        kvm_target: str = "",
        linode_ref: str = "",
    ) -> None:
        self.__dict__.update(
            source=source,
            vdev=vdev,
            format=format,
            readonly=readonly,
            cdrom=cdrom,
            kvm_target=kvm_target,
            linode_ref=linode_ref,
        )

    @property
    def is_block_device(self) -> bool:
        return self.source.startswith("/dev/")


@dataclass(frozen=True)
class Nic:
    mac: str = ""  # lower-case aa:bb:cc:dd:ee:ff; empty = let the hypervisor choose
    bridge: str = ""
    model: str = ""  # as stated in the Xen config (e.g. "e1000" for an HVM vif), informative


@dataclass(frozen=True)
class Boot:
    kind: BootKind
    kernel: str = ""
    initrd: str = ""
    cmdline: str = ""
    bootloader: str = ""  # "pygrub", "pv-grub" (firmware=pvgrub64 or a pv-grub kernel)
    bootloader_args: str = ""
    #: HVM boot order as device classes: "hd", "cdrom", "network".
    order: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lifecycle:
    on_poweroff: str = "destroy"
    on_reboot: str = "restart"
    on_crash: str = "destroy"


@dataclass
class Domain:
    """A guest as its Xen configuration describes it."""

    name: str
    memory_mib: int
    vcpus: int
    disks: list[Disk]
    nics: list[Nic]
    boot: Boot
    vm_mode: VMMode = VMMode.PARAVIRT  # how it ran: PV -> paravirt, HVM -> fullvirt
    xen_type: str = "pv"  # pv | pvh | hvm, or "linode" for a Linode profile
    uuid: str = ""
    maxmem_mib: int = 0
    maxvcpus: int = 0
    console: str = "hvc0"  # the guest console device on the source
    #: Root device as the source names it (from root=, extra, cmdline or root_device).
    root_device: str = ""
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    #: Linode-only data carried to a Linode profile: helpers, interfaces, memory_limit...
    linode: dict[str, object] = field(default_factory=dict)
    source: str = "<input>"
    source_format: str = ""
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        validate(self)


_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_ACTIONS = {
    "destroy",
    "restart",
    "preserve",
    "rename-restart",
    "coredump-destroy",
    "coredump-restart",
    "soft-reset",
}


def normalise_mac(mac: str, *, source: str = "<input>", what: str = "mac") -> str:
    """Return ``mac`` as lower-case colon form or raise ParseError naming ``what``."""
    m = mac.strip().lower().replace("-", ":")
    if not _MAC_RE.match(m):
        raise ParseError(f"{what}: {mac!r} is not a MAC address (aa:bb:cc:dd:ee:ff)", source=source)
    if int(m[:2], 16) & 1:
        raise ParseError(f"{what}: {mac!r} is a multicast address", source=source)
    return m


def validate(d: Domain) -> None:
    """Check the invariants of a domain; raise ParseError naming the first bad field."""
    src = d.source

    def bad(fieldname: str, msg: str) -> ParseError:
        return ParseError(f"{fieldname}: {msg}", source=src)

    if not d.name or not _NAME_RE.match(d.name):
        raise bad("name", f"{d.name!r} is not a usable domain name")
    if d.memory_mib <= 0:
        raise bad("memory", f"{d.memory_mib} MiB: must be positive")
    if d.vcpus <= 0:
        raise bad("vcpus", f"{d.vcpus}: must be at least 1")
    if d.maxmem_mib and d.maxmem_mib < d.memory_mib:
        raise bad("maxmem", f"{d.maxmem_mib} MiB is below memory ({d.memory_mib} MiB)")
    if d.maxvcpus and d.maxvcpus < d.vcpus:
        raise bad("maxvcpus", f"{d.maxvcpus} is below vcpus ({d.vcpus})")
    if d.uuid:
        try:
            uuidlib.UUID(d.uuid)
        except ValueError:
            raise bad("uuid", f"{d.uuid!r} is not a UUID") from None
    for n in d.nics:
        if n.mac and not _MAC_RE.match(n.mac):
            raise bad("vif", f"mac {n.mac!r} is not normalised")
    for name, action in (
        ("on_poweroff", d.lifecycle.on_poweroff),
        ("on_reboot", d.lifecycle.on_reboot),
        ("on_crash", d.lifecycle.on_crash),
    ):
        if action not in _ACTIONS:
            raise bad(name, f"unknown action {action!r} (one of {', '.join(sorted(_ACTIONS))})")
    for disk in d.disks:
        if not disk.source and not disk.cdrom:
            raise bad("disk", f"{disk.vdev}: no target (only an empty CD-ROM may have none)")
