"""From a Xen :class:`Domain` to a :class:`KvmGuest`: disk slots, boot method, console.

This is where the rules live (writers only spell a KvmGuest in their format):
disks sequential with no gaps (see :mod:`xen2kvm.hv.mapping`), MACs kept, serial console on
ttyS0, and a boot method the disk supports. Direct Disk boot on a disk without MBR boot code
is refused with the reason and the alternative.
"""

from __future__ import annotations

import dataclasses
import enum
import operator
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from xen2kvm.errors import RefusedError, UsageError, Xen2KvmError
from xen2kvm.hv.bootsector import BootSector, BootSectorCheck, check_boot_sector
from xen2kvm.hv.mapping import DiskMapping, build_mapping
from xen2kvm.hv.model import BootKind, Disk, Domain, Lifecycle, Nic, VMMode

#: Linode's serial console speed; harmless elsewhere and it keeps one console line for all.
SERIAL_CONSOLE = "ttyS0,19200n8"


class BootMethod(enum.Enum):
    KERNEL = "kernel"  # a kernel given to the hypervisor, or Linode GRUB 2 (guest's own)
    DISK = "disk"  # Direct Disk: BIOS runs the MBR of the first disk


@dataclass(frozen=True)
class PlanOptions:
    mode: VMMode = VMMode.PARAVIRT
    boot: BootMethod | None = None  # None: choose from what the disk supports
    disk_map: Mapping[str, str] = field(default_factory=dict)
    #: A kernel on the KVM host (e.g. the guest's own, copied out of its /boot).
    kernel: str = ""
    initrd: str = ""
    cmdline: str = ""
    #: Replaces every NIC's bridge (Xen's xenbr0 rarely exists on the KVM host).
    bridge: str = ""
    #: For the Linode writer: kernel boot means linode/grub2 (the guest's own kernel).
    linode: bool = False
    #: Read the boot disk's first sector when the image is present here.
    check_disk: bool = True


@dataclass
class KvmGuest:
    """A KVM guest ready to be written in any format. Disks are in slot order."""

    name: str
    uuid: str
    memory_mib: int
    maxmem_mib: int
    vcpus: int
    maxvcpus: int
    mode: VMMode
    disks: list[Disk]
    nics: list[Nic]
    boot: BootMethod
    kernel: str
    initrd: str
    cmdline: str
    linode_kernel: str  # linode/grub2, linode/direct-disk, or a Linode-supplied kernel
    boot_order: tuple[str, ...]
    root_device: str  # as the KVM guest names it
    lifecycle: Lifecycle
    mapping: DiskMapping
    linode: dict[str, object]
    warnings: list[str]
    #: What was changed on the way (root= rewritten, console moved...), for the report.
    notes: list[str]


def rewrite_cmdline(cmdline: str, mapping: DiskMapping, notes: list[str]) -> str:
    """Carry a Xen kernel command line to KVM: device names mapped, console on ttyS0."""
    out: list[str] = []
    has_console = False
    for word in cmdline.split():
        key, sep, val = word.partition("=")
        if sep and key in ("root", "resume") and val.startswith("/dev/"):
            new = mapping.translate(val)
            if new and new != val:
                notes.append(f"kernel command line: {key}={val} -> {key}={new}")
                word = f"{key}={new}"
        elif sep and key == "console":
            dev = val.split(",", 1)[0]
            if dev in ("hvc0", "xvc0"):
                notes.append(f"kernel command line: console={val} -> console={SERIAL_CONSOLE}")
                word = f"console={SERIAL_CONSOLE}"
            if dev == "ttyS0" or word == f"console={SERIAL_CONSOLE}":
                if word in out:
                    continue
                has_console = True
        elif key == "xencons":
            notes.append(f"kernel command line: {word} removed (Xen console option)")
            continue
        if word.startswith("root=") and word in out:
            continue  # xl joins root= and extra=, which often repeats the same root=
        out.append(word)
    if not has_console:
        out.append(f"console={SERIAL_CONSOLE}")
        notes.append(f"kernel command line: console={SERIAL_CONSOLE} added")
    return " ".join(out)


_KVM_TARGET = operator.attrgetter("kvm_target")


def _is_linode_kernel(kernel: str) -> bool:
    return kernel.startswith("linode/")


def plan_kvm(domain: Domain, options: PlanOptions | None = None) -> KvmGuest:
    """Plan the KVM guest for ``domain``; raises RefusedError/UsageError with the reason."""
    opts = options or PlanOptions()
    warnings = list(domain.warnings)
    notes: list[str] = []
    mapping = build_mapping(
        domain.disks,
        opts.mode,
        opts.disk_map,
        source=domain.source,
        hvm=domain.xen_type == "hvm",
    )
    target = {d.xen: d.target for d in mapping.devices}
    disks = [
        # Positional construction: dataclasses.replace costs more than the whole writer.
        Disk(
            d.source,
            d.vdev,
            d.format,
            d.readonly,
            d.cdrom,
            target[d.vdev if d.vdev.startswith("/dev/") else "/dev/" + d.vdev],
            d.linode_ref,
        )
        for d in domain.disks
    ]
    disks.sort(key=_KVM_TARGET)
    for dev in mapping.devices:
        if dev.xen != dev.kvm:
            notes.append(
                f"disk {dev.xen} -> {dev.kvm}"
                + (" (partition-only device becomes a whole disk)" if dev.partition_only else "")
            )
    root = domain.root_device
    root_kvm = (mapping.translate(root) if root.startswith("/dev/") else None) or root
    if not root_kvm:
        root_kvm = next((d.kvm for d in mapping.devices if not d.cdrom), "/dev/sda")
    nics = list(domain.nics)
    if opts.bridge:
        nics = [dataclasses.replace(n, bridge=opts.bridge) for n in nics]
    for n, nic in enumerate(nics):
        if nic.model and nic.model not in ("virtio", "virtio-net", "e1000", "netfront"):
            want = "virtio" if opts.mode is VMMode.PARAVIRT else "e1000"
            warnings.append(f"vif {n}: model {nic.model!r} replaced by {want} ({opts.mode.value})")

    boot, reason_notes, check = _choose_boot(domain, opts, mapping, disks)
    notes.extend(reason_notes)
    kernel = initrd = cmdline = linode_kernel = ""
    if boot is BootMethod.KERNEL:
        if opts.linode:
            if domain.boot.kind is BootKind.HOST_KERNEL and _is_linode_kernel(domain.boot.kernel):
                linode_kernel = domain.boot.kernel
                notes.append(f"Linode-supplied kernel {linode_kernel} kept (it boots on KVM)")
            else:
                linode_kernel = "linode/grub2"
                notes.append(
                    "kernel: linode/grub2 boots the kernel installed in the guest "
                    "through its GRUB configuration"
                )
                if domain.boot.kind is BootKind.HOST_KERNEL:
                    warnings.append(
                        f"the Xen host kernel {domain.boot.kernel} is not in the guest: "
                        "linode/grub2 needs a KVM-capable kernel installed in the guest"
                    )
        else:
            kernel = opts.kernel or domain.boot.kernel
            initrd = opts.initrd if opts.kernel else domain.boot.initrd
            if not kernel or _is_linode_kernel(kernel):
                raise UsageError(
                    "kernel boot needs a kernel file on the KVM host: give --kernel PATH "
                    "[--initrd PATH] (e.g. the guest's own /boot/vmlinuz-* copied out), or "
                    "use --boot disk if the disk has an MBR boot loader"
                )
            for what, path in (("kernel", kernel), ("initrd", initrd)):
                if opts.kernel and path and opts.check_disk and not os.path.exists(path):
                    warnings.append(
                        f"{what} {path} is not present here: it must exist on the KVM host"
                    )
            if not opts.kernel and domain.boot.kind is BootKind.HOST_KERNEL:
                warnings.append(
                    f"kernel {kernel} is the Xen host's file: copy it to the KVM host and check "
                    "it with 'xen2kvm kernel-config' (a Xen-only kernel cannot boot on KVM)"
                )
        base = opts.cmdline or (
            domain.boot.cmdline if domain.boot.kind is BootKind.HOST_KERNEL else ""
        )
        if not base:
            base = f"root={root or root_kvm} ro"
            if not linode_kernel:
                notes.append(
                    f"kernel command line made up: root={root_kvm} ro (give --cmdline to choose)"
                )
        cmdline = rewrite_cmdline(base, mapping, notes) if not linode_kernel else ""
    else:
        linode_kernel = "linode/direct-disk"
        if domain.boot.kind is BootKind.HOST_KERNEL and not _is_linode_kernel(domain.boot.kernel):
            warnings.append(
                f"the Xen host kernel {domain.boot.kernel} is not used: Direct Disk boot runs "
                "the boot loader on the disk"
            )
        if check is not None and check.status is BootSector.UNKNOWN:
            warnings.append(
                f"Direct Disk boot: could not check {check.path or 'the boot disk'} for MBR "
                f"boot code ({check.reason}); if it holds a bare filesystem, use --boot kernel"
            )
    if domain.boot.kind is BootKind.BOOTLOADER and domain.boot.bootloader_args:
        warnings.append(f"not carried over: bootloader arguments {domain.boot.bootloader_args!r}")
    if domain.console in ("hvc0", "xvc0"):
        notes.append(
            f"console {domain.console} -> ttyS0 (the guest's getty and boot loader "
            "must follow: 'xen2kvm convert' does this)"
        )
    if domain.linode and not opts.linode:
        helpers = domain.linode.get("helpers") or {}
        on = sorted(k for k, v in helpers.items() if v) if isinstance(helpers, dict) else []
        if on:
            warnings.append(
                f"Linode helpers ({', '.join(on)}) exist only on Linode: the guest "
                "must configure these itself"
            )
        if domain.linode.get("run_level", "default") != "default":
            warnings.append(f"run_level {domain.linode['run_level']!r}: not carried over")
    order = domain.boot.order if domain.boot.kind is BootKind.FIRMWARE else ()
    notes = list(dict.fromkeys(notes))
    warnings = list(dict.fromkeys(warnings))
    return KvmGuest(
        name=domain.name,
        uuid=domain.uuid,
        memory_mib=domain.memory_mib,
        maxmem_mib=domain.maxmem_mib,
        vcpus=domain.vcpus,
        maxvcpus=domain.maxvcpus,
        mode=opts.mode,
        disks=disks,
        nics=nics,
        boot=boot,
        kernel=kernel,
        initrd=initrd,
        cmdline=cmdline,
        linode_kernel=linode_kernel,
        boot_order=order or ("hd",),
        root_device=root_kvm,
        lifecycle=domain.lifecycle,
        mapping=mapping,
        linode=dict(domain.linode),
        warnings=warnings,
        notes=notes,
    )


def _boot_disk(domain: Domain, mapping: DiskMapping, disks: list[Disk]) -> Disk | None:
    """The disk BIOS boots: the one holding the root device, else the first slot."""
    root = domain.root_device
    if root.startswith("/dev/"):
        kvm = mapping.translate(root) or ""
        for dev in mapping.devices:
            if kvm == dev.kvm or (kvm.startswith(dev.kvm) and not dev.cdrom):
                for d in disks:
                    if d.kvm_target == dev.target:
                        return d
    return next((d for d in disks if not d.cdrom), None)


def _choose_boot(
    domain: Domain, opts: PlanOptions, mapping: DiskMapping, disks: list[Disk]
) -> tuple[BootMethod, list[str], BootSectorCheck | None]:
    notes: list[str] = []
    disk = _boot_disk(domain, mapping, disks)
    has_host_kernel = bool(opts.kernel) or (
        domain.boot.kind is BootKind.HOST_KERNEL and not _is_linode_kernel(domain.boot.kernel)
    )

    def sector() -> BootSectorCheck:
        if disk is None:
            return BootSectorCheck(BootSector.NO_BOOT_CODE, "", "the domain has no disk")
        dev = mapping.by_xen(disk.vdev)
        if dev is not None and dev.partition_only:
            return BootSectorCheck(
                BootSector.NO_BOOT_CODE,
                disk.source,
                f"{disk.vdev} is a partition-only device: its image is a bare filesystem with "
                "no MBR",
            )
        if not opts.check_disk:
            return BootSectorCheck(BootSector.UNKNOWN, disk.source, "not checked")
        return check_boot_sector(disk.source, disk.format)

    alternative = (
        "use --boot kernel: Linode's GRUB 2 mode (linode/grub2) boots the guest's own kernel"
        if opts.linode
        else "use --boot kernel with --kernel/--initrd (the guest's kernel copied to the host)"
    )
    if opts.boot is BootMethod.DISK:
        check = sector()
        if (
            disk is not None
            and opts.check_disk
            and check.status is BootSector.UNKNOWN
            and not os.path.exists(disk.source)
        ):
            # Asked for Direct Disk explicitly: a missing boot disk is an error, not a guess.
            raise Xen2KvmError(
                f"disk {disk.vdev}: {disk.source or 'no image'} not found, so it cannot be "
                "checked for MBR boot code (Direct Disk); give the right path or "
                "--no-disk-check to write the configuration anyway"
            )
        if check.status is BootSector.NO_BOOT_CODE:
            raise RefusedError(
                f"Direct Disk boot needs MBR boot code on the boot disk "
                f"{disk.vdev if disk else ''} ({check.path or 'no image'}): {check.reason}; "
                f"{alternative}"
            )
        return BootMethod.DISK, notes, check
    if opts.boot is BootMethod.KERNEL:
        return BootMethod.KERNEL, notes, None
    # Automatic: prefer what the source already does, then what the disk supports.
    if has_host_kernel:
        notes.append("boot: kernel boot (the Xen domain booted a kernel held by the host)")
        return BootMethod.KERNEL, notes, None
    check = sector()
    if check.status is BootSector.BOOT_CODE:
        notes.append(f"boot: Direct Disk ({check.path} has MBR boot code)")
        return BootMethod.DISK, notes, check
    if opts.linode:
        notes.append(
            "boot: kernel boot"
            + (
                f" (Direct Disk is not possible: {check.reason})"
                if check.status is BootSector.NO_BOOT_CODE
                else " (the disk image could not be checked for Direct Disk)"
            )
        )
        return BootMethod.KERNEL, notes, check
    if check.status is BootSector.NO_BOOT_CODE:
        raise RefusedError(
            f"the boot disk cannot be booted Direct Disk ({check.reason}) and no kernel was "
            f"given; {alternative}"
        )
    notes.append("boot: Direct Disk (the disk image could not be checked)")
    return BootMethod.DISK, notes, check
