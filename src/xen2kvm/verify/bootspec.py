"""What a KVM host boots for a guest in kernel mode: kernel, initrd and command line.

Linode's "GRUB 2" mode (and our ``--boot kernel``) takes the guest's own kernel, initrd and
command line from its default boot entry. This module finds that entry through the
:class:`~xen2kvm.guest.base.Guest` interface: GRUB 2's grub.cfg (with BLS entries), else
GRUB legacy / pv-grub's menu.lst, as :mod:`xen2kvm.facts.boot` reads them.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from xen2kvm.errors import GuestError, GuestPathError, VerifyError
from xen2kvm.facts.boot import gather_boot
from xen2kvm.guest.base import LARGE_READ_LIMIT, Guest


@dataclass(frozen=True)
class BootSpec:
    """The default boot entry. ``kernel``/``initrd`` are guest paths (host paths once
    materialised by :func:`materialise`)."""

    kernel: str
    initrd: str | None
    cmdline: str
    source: str  # the file the entry came from, or "command line"
    title: str = ""


def boot_spec_from_guest(guest: Guest) -> BootSpec:
    """The guest's default boot entry as a KVM host's kernel boot would take it.

    Uses :func:`xen2kvm.facts.boot.gather_boot` (pygrub's order: grub.cfg, BLS, then
    menu.lst). Raises :class:`GuestError` when the guest has no boot entry or the default
    entry's kernel or initrd is missing.
    """
    facts = gather_boot(guest)
    entry = facts.default_entry
    if entry is None:
        looked = ", ".join(facts.files) if facts.files else "no boot configuration found"
        raise GuestError(
            f"{guest.name}: no default boot entry ({looked}); give --kernel/--initrd/--append"
        )
    if not entry.kernel:
        raise GuestError(f"{entry.source}: default entry {entry.title!r} names no kernel")
    if entry.kernel_path is None:
        raise GuestError(
            f"{entry.source}: default entry's kernel {entry.kernel} is not in the guest"
        )
    if entry.initrd and entry.initrd_path is None:
        raise GuestError(
            f"{entry.source}: default entry's initrd {entry.initrd} is not in the guest"
        )
    return BootSpec(entry.kernel_path, entry.initrd_path, entry.cmdline, entry.source, entry.title)


# --- checking and extracting ------------------------------------------------------------------

#: Kernel options a mode needs (any of each group, built in or module).
MODE_DRIVERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "paravirt": (("CONFIG_VIRTIO_PCI",), ("CONFIG_SCSI_VIRTIO",), ("CONFIG_BLK_DEV_SD",),
                 ("CONFIG_VIRTIO_NET",)),
    "fullvirt": (("CONFIG_ATA_PIIX", "CONFIG_BLK_DEV_PIIX"), ("CONFIG_E1000",)),
}


def missing_mode_drivers(config_text: str, mode: str) -> list[str]:
    """Options of ``mode`` that a kernel config (``/boot/config-VER``) has neither =y nor =m."""
    have = {
        m.group(1)
        for m in re.finditer(r"(?m)^(CONFIG_[A-Z0-9_]+)=[ym]\s*$", config_text)
    }
    return [" or ".join(group) for group in MODE_DRIVERS[mode] if not have.intersection(group)]


def check_kernel_image(data: bytes, what: str) -> None:
    """Refuse what QEMU's -kernel cannot boot on x86 (it needs a bzImage)."""
    if len(data) < 0x210 or data[0x202:0x206] != b"HdrS":
        raise VerifyError(f"{what}: not an x86 Linux kernel image (bzImage)")


def check_mode(guest: Guest, spec: BootSpec, mode: str) -> None:
    """Raise :class:`VerifyError` if the kernel's own config says it cannot do ``mode``."""
    version = posixpath.basename(spec.kernel).removeprefix("vmlinuz-").removeprefix("vmlinux-")
    config = guest.try_read_text(f"/boot/config-{version}")
    if config is None:
        return  # no config to judge by: boot and let the console tell
    if re.search(r"(?m)^CONFIG_X86_(64_)?XEN=y", config):
        raise VerifyError(
            f"{spec.kernel}: a XenLinux (kernel-xen) kernel cannot boot on KVM in any mode"
        )
    missing = missing_mode_drivers(config, mode)
    if missing:
        raise VerifyError(
            f"{spec.kernel}: kernel cannot do {mode} mode: /boot/config-{version} lacks "
            + ", ".join(missing)
        )


def materialise(guest: Guest, spec: BootSpec, dest: Path) -> BootSpec:
    """Copy the entry's kernel and initrd out of the guest into ``dest``; host paths returned."""
    try:
        kernel = guest.read_bytes(spec.kernel, limit=LARGE_READ_LIMIT)
        check_kernel_image(kernel, f"{guest.name}:{spec.kernel}")
        (dest / "kernel").write_bytes(kernel)
        initrd_path: str | None = None
        if spec.initrd:
            (dest / "initrd").write_bytes(guest.read_bytes(spec.initrd, limit=LARGE_READ_LIMIT))
            initrd_path = str(dest / "initrd")
    except GuestPathError as exc:
        raise GuestError(f"{guest.name}: cannot read the boot files: {exc}") from exc
    return BootSpec(str(dest / "kernel"), initrd_path, spec.cmdline, spec.source, spec.title)
