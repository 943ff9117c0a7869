"""QEMU command lines, QMP/HMP parsing, in-guest report parsing, boot spec (no QEMU run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from xen2kvm.errors import GuestError, UsageError, VerifyError
from xen2kvm.guest.memory import MemoryGuest
from xen2kvm.verify.bootspec import (
    BootSpec,
    boot_spec_from_guest,
    check_kernel_image,
    check_mode,
    missing_mode_drivers,
)
from xen2kvm.verify.qemu import (
    QemuConfig,
    disk_ops,
    has_boot_code,
    kernel_running,
    qemu_command,
    vcpu_halted,
)
from xen2kvm.verify.runner import (
    disk_index_of,
    parse_fstab_swaps,
    parse_interfaces,
    parse_root_mount,
    parse_swaps,
)


def cfg(mode: str, n: int, **kw: object) -> QemuConfig:
    return QemuConfig(
        mode=mode, disks=[Path(f"/t/d{i}.qcow2") for i in range(n)],
        serial_socket=Path("/t/s"), qmp_socket=Path("/t/q"), **kw,  # type: ignore[arg-type]
    )


def devices(cmd: list[str]) -> list[str]:
    return [cmd[i + 1] for i, a in enumerate(cmd) if a == "-device"]


def test_paravirt_is_virtio_scsi_in_assignment_order_and_virtio_net() -> None:
    cmd = qemu_command(cfg("paravirt", 3, kernel="/k", initrd="/i", append="root=/dev/sda"))
    devs = devices(cmd)
    assert devs[0] == "virtio-scsi-pci,id=scsi0"
    scsi = [d for d in devs if d.startswith("scsi-hd")]
    assert [d.split("scsi-id=")[1].split(",")[0] for d in scsi] == ["0", "1", "2"]
    assert all("serial=x2kdisk" in d for d in scsi)
    assert not any("bootindex" in d for d in devs), "-kernel owns boot index 0"
    assert any(d.startswith("virtio-net-pci,netdev=n0") for d in devs)
    assert cmd[cmd.index("-netdev") + 1] == "user,id=n0,restrict=on"
    assert cmd[cmd.index("-append") + 1] == "root=/dev/sda"
    assert "-no-reboot" in cmd and cmd[cmd.index("-display") + 1] == "none"


def test_fullvirt_is_ide_on_two_buses_and_e1000() -> None:
    cmd = qemu_command(cfg("fullvirt", 4))
    ide = [d for d in devices(cmd) if d.startswith("ide-hd")]
    assert [(d.split("bus=")[1].split(",")[0], d.split("unit=")[1].split(",")[0]) for d in ide] == [
        ("ide.0", "0"), ("ide.0", "1"), ("ide.1", "0"), ("ide.1", "1")
    ]
    assert "bootindex=0" in ide[0] and "bootindex" not in ide[1]
    assert any(d.startswith("e1000,") for d in devices(cmd))
    assert not any("virtio" in d for d in devices(cmd))


def test_fullvirt_refuses_a_fifth_disk() -> None:
    with pytest.raises(UsageError, match="at most 4"):
        qemu_command(cfg("fullvirt", 5))


def test_hostfwd_binds_loopback_only() -> None:
    cmd = qemu_command(cfg("paravirt", 1, hostfwd=[(2222, 22)]))
    assert cmd[cmd.index("-netdev") + 1] == (
        "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22"
    )


def test_disk_ops_sums_reads_and_writes() -> None:
    stats = [{"stats": {"rd_operations": 5, "wr_operations": 2}}, {"stats": {"rd_operations": 1}}]
    assert disk_ops(stats) == 8


def test_register_dump_parsing() -> None:
    kernel = "RAX=0 RIP=ffffffff81e3a0b4 RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1"
    bios = "EAX=0 EIP=fffd9997 EFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=0"
    user = "RAX=0 RIP=00007f3a2b1c0000 RFL=00000246 HLT=0"
    assert kernel_running(kernel) and vcpu_halted(kernel)
    assert not kernel_running(bios) and not vcpu_halted(bios)
    assert not kernel_running(user)


def test_boot_code_detection() -> None:
    assert not has_boot_code(bytes(512))
    assert not has_boot_code(b"\xeb\x63" + bytes(508) + b"\x55")
    assert has_boot_code(b"\xeb\x63" + bytes(508) + b"\x55\xaa")


def test_parse_interfaces() -> None:
    out = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n"
        "2: eth0    inet 10.0.2.15/24 brd 10.0.2.255 scope global dynamic eth0\\  valid_lft\n"
    )
    ifs = parse_interfaces(out)
    assert [(i.name, i.ipv4) for i in ifs] == [("lo", ["127.0.0.1"]), ("eth0", ["10.0.2.15"])]


def test_root_mount_and_disk_index() -> None:
    mounts = "rootfs / rootfs rw 0 0\n/dev/sda1 / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n"
    assert parse_root_mount(mounts) == ("/dev/sda1", "ext4")
    by_id = (
        "lrwxrwxrwx 1 root root  9 Nov 25 20:00 scsi-0QEMU_QEMU_HARDDISK_x2kdisk0 -> ../../sda\n"
        "lrwxrwxrwx 1 root root 10 Nov 25 20:00 scsi-0QEMU_QEMU_HARDDISK_x2kdisk0-part1 -> "
        "../../sda1\n"
        "lrwxrwxrwx 1 root root  9 Nov 25 20:00 ata-QEMU_HARDDISK_x2kdisk1 -> ../../sdb\n"
    )
    assert disk_index_of("/dev/sda1", by_id) == 0
    assert disk_index_of("/dev/sdb", by_id) == 1
    assert disk_index_of("/dev/sdc", by_id) is None
    assert disk_index_of(None, by_id) is None


def test_swaps() -> None:
    assert parse_swaps("Filename Type Size Used Priority\n/dev/sdb partition 262140 0 -2\n") == [
        "/dev/sdb"
    ]
    assert parse_swaps("Filename Type Size Used Priority\n") == []
    fstab = "# /dev/xvdc none swap sw 0 0\n/dev/xvda / ext4 defaults 0 1\n/dev/xvdb none swap sw\n"
    assert parse_fstab_swaps(fstab) == ["/dev/xvdb"]


BZIMAGE = bytes(0x202) + b"HdrS" + bytes(0x200)

MENU_LST = """default 0
timeout 3
title Debian GNU/Linux 12, kernel 6.1.0-50-amd64
root (hd0)
kernel /boot/vmlinuz-6.1.0-50-amd64 root=/dev/xvda ro console=hvc0
initrd /boot/initrd.img-6.1.0-50-amd64
"""


def test_boot_spec_from_menu_lst() -> None:
    g = MemoryGuest({
        "/boot/grub/menu.lst": MENU_LST,
        "/boot/vmlinuz-6.1.0-50-amd64": BZIMAGE,
        "/boot/initrd.img-6.1.0-50-amd64": b"initrd",
    })
    spec = boot_spec_from_guest(g)
    assert spec.kernel == "/boot/vmlinuz-6.1.0-50-amd64"
    assert spec.initrd == "/boot/initrd.img-6.1.0-50-amd64"
    assert spec.cmdline == "root=/dev/xvda ro console=hvc0"
    assert spec.source == "/boot/grub/menu.lst"


def test_boot_spec_missing_kernel_is_a_clear_error() -> None:
    g = MemoryGuest({"/boot/grub/menu.lst": MENU_LST})
    with pytest.raises(GuestError, match=r"vmlinuz-6\.1\.0-50-amd64"):
        boot_spec_from_guest(g)


def test_boot_spec_without_any_boot_config() -> None:
    with pytest.raises(GuestError, match="no default boot entry"):
        boot_spec_from_guest(MemoryGuest({"/etc/fstab": ""}))


def test_kernel_image_check() -> None:
    check_kernel_image(BZIMAGE, "k")
    with pytest.raises(VerifyError, match="not an x86 Linux kernel"):
        check_kernel_image(b"\x7fELF" + bytes(1000), "k")


def test_mode_drivers_from_kernel_config() -> None:
    config = (
        "CONFIG_VIRTIO_PCI=y\nCONFIG_SCSI_VIRTIO=m\nCONFIG_BLK_DEV_SD=m\n"
        "# CONFIG_VIRTIO_NET is not set\nCONFIG_ATA_PIIX=m\nCONFIG_E1000=m\n"
    )
    assert missing_mode_drivers(config, "paravirt") == ["CONFIG_VIRTIO_NET"]
    assert missing_mode_drivers(config, "fullvirt") == []
    g = MemoryGuest({"/boot/config-6.1.0-50-amd64": config})
    spec = BootSpec("/boot/vmlinuz-6.1.0-50-amd64", None, "", "x")
    with pytest.raises(VerifyError, match=r"cannot do paravirt mode.*CONFIG_VIRTIO_NET"):
        check_mode(g, spec, "paravirt")
    check_mode(g, spec, "fullvirt")


def test_xenlinux_kernel_is_refused() -> None:
    g = MemoryGuest({"/boot/config-2.6.18-xen": "CONFIG_X86_64_XEN=y\n"})
    with pytest.raises(VerifyError, match="XenLinux"):
        check_mode(g, BootSpec("/boot/vmlinuz-2.6.18-xen", None, "", "x"), "fullvirt")
