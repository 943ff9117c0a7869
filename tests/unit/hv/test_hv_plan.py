"""Planning rules: command line rewriting, boot choice, writer details."""

from __future__ import annotations

import shlex
from pathlib import Path

import defusedxml.ElementTree as ET
import pytest

from xen2kvm.errors import RefusedError, UsageError
from xen2kvm.hv import BootMethod, OutputFormat, PlanOptions, VMMode, plan_kvm, read_domain
from xen2kvm.hv import translate as do_translate
from xen2kvm.hv.bootsector import BootSector, inspect_sector
from xen2kvm.hv.mapping import build_mapping
from xen2kvm.hv.model import Disk
from xen2kvm.hv.plan import rewrite_cmdline
from xen2kvm.hv.writers import qemu_argv, render_qemu_script

PV = """name = 'g'
memory = 512
kernel = '/boot/vmlinuz'
ramdisk = '/boot/initrd'
extra = 'root=/dev/xvda2 resume=/dev/xvdb console=hvc0 xencons=tty quiet'
disk = ['phy:/dev/vg/g,xvda,w', 'phy:/dev/vg/s,xvdb,w']
vif = ['mac=00:16:3e:00:00:01,bridge=br0', 'mac=00:16:3e:00:00:02']
"""


def test_cmdline_rewrite() -> None:
    m = build_mapping([Disk("/a", "xvda1"), Disk("/b", "xvdc")], VMMode.PARAVIRT)
    notes: list[str] = []
    out = rewrite_cmdline("root=/dev/xvda1 ro console=tty0 console=xvc0 xencons=tty "
                          "resume=/dev/xvdc root=UUID=abc", m, notes)
    assert out == ("root=/dev/sda ro console=tty0 console=ttyS0,19200n8 resume=/dev/sdb "
                   "root=UUID=abc")
    assert "kernel command line: xencons=tty removed (Xen console option)" in notes
    assert rewrite_cmdline("ro", m, []) == "ro console=ttyS0,19200n8"
    assert rewrite_cmdline("console=ttyS0,115200 ro", m, []) == "console=ttyS0,115200 ro"


def test_pv_host_kernel_plan() -> None:
    g = plan_kvm(read_domain(PV))
    assert g.boot is BootMethod.KERNEL
    assert g.cmdline == "root=/dev/sda2 resume=/dev/sdb console=ttyS0,19200n8 quiet"
    assert g.root_device == "/dev/sda2"
    assert [n.mac for n in g.nics] == ["00:16:3e:00:00:01", "00:16:3e:00:00:02"]


def test_kernel_boot_needs_a_kernel_for_hypervisor_formats() -> None:
    d = read_domain("name='g'\nmemory=64\nbootloader='pygrub'\ndisk=['/a,raw,xvda,w']\n")
    with pytest.raises(UsageError, match="kernel boot needs a kernel file on the KVM host"):
        plan_kvm(d, PlanOptions(boot=BootMethod.KERNEL))
    g = plan_kvm(d, PlanOptions(boot=BootMethod.KERNEL, linode=True))
    assert g.linode_kernel == "linode/grub2"
    g = plan_kvm(d, PlanOptions(kernel="/k", initrd="/i", cmdline="root=/dev/xvda ro"))
    assert (g.kernel, g.initrd, g.cmdline) == ("/k", "/i", "root=/dev/sda ro console=ttyS0,19200n8")


def test_boot_sector_judgement() -> None:
    mbr = bytearray(512)
    mbr[0:3] = b"\xfa\x31\xc0"
    mbr[510:512] = b"\x55\xaa"
    assert inspect_sector(bytes(mbr), "d").status is BootSector.BOOT_CODE
    table_only = bytearray(512)
    table_only[446] = 0x80
    table_only[510:512] = b"\x55\xaa"
    assert inspect_sector(bytes(table_only), "d").status is BootSector.NO_BOOT_CODE
    ext = bytearray(2048)
    ext[1080:1082] = b"\x53\xef"
    check = inspect_sector(bytes(ext), "d")
    assert check.status is BootSector.NO_BOOT_CODE and "ext2/3/4" in check.reason
    assert inspect_sector(b"XFSB" + bytes(508), "d").reason.startswith("an XFS filesystem")
    assert inspect_sector(b"", "d").status is BootSector.NO_BOOT_CODE


def test_direct_disk_refused_on_bare_image(tmp_path: Path) -> None:
    img = tmp_path / "fs.img"
    ext = bytearray(4096)
    ext[1080:1082] = b"\x53\xef"
    img.write_bytes(bytes(ext))
    d = read_domain(f"name='g'\nmemory=64\nbootloader='pygrub'\ndisk=['{img},raw,xvda,w']\n")
    with pytest.raises(RefusedError) as info:
        plan_kvm(d, PlanOptions(boot=BootMethod.DISK, linode=True))
    msg = str(info.value)
    assert "ext2/3/4 filesystem starts at sector 0" in msg and "linode/grub2" in msg
    # Not checking the disk makes it a warning, not a silent choice.
    g = plan_kvm(d, PlanOptions(boot=BootMethod.DISK, check_disk=False))
    assert any("could not check" in w for w in g.warnings)


def test_libvirt_paravirt_and_fullvirt_devices() -> None:
    d = read_domain(PV)
    para = ET.fromstring(do_translate(d, OutputFormat.LIBVIRT, PlanOptions()).output)
    assert para.get("type") == "kvm"
    assert para.find("devices/controller").get("model") == "virtio-scsi"
    assert [t.get("bus") for t in para.findall("devices/disk/target")] == ["scsi", "scsi"]
    assert [m.get("type") for m in para.findall("devices/interface/model")] == ["virtio"] * 2
    assert [m.get("address") for m in para.findall("devices/interface/mac")] == [
        "00:16:3e:00:00:01", "00:16:3e:00:00:02"]
    assert para.find("devices/serial").get("type") == "pty"
    assert para.find("devices/console/target").get("type") == "serial"
    full = ET.fromstring(
        do_translate(d, OutputFormat.LIBVIRT, PlanOptions(mode=VMMode.FULLVIRT)).output)
    assert [t.get("bus") for t in full.findall("devices/disk/target")] == ["ide", "ide"]
    assert [m.get("type") for m in full.findall("devices/interface/model")] == ["e1000"] * 2
    assert full.findtext("os/cmdline") == (
        "root=/dev/sda2 resume=/dev/sdb console=ttyS0,19200n8 quiet")


def test_qemu_argv_is_a_list_and_the_script_quotes_it() -> None:
    d = read_domain(PV.replace("phy:/dev/vg/g,xvda,w", "vdev=xvda,target=/srv/a b,c;$(x).img"))
    g = plan_kvm(d)
    r = qemu_argv(g)
    assert all(isinstance(a, str) for a in r.argv)
    assert "file=/srv/a b,,c;$(x).img,format=raw,if=none,id=drive-sda" in r.argv
    script = render_qemu_script(r.argv, g.name)
    body = script.split("exec ", 1)[1].replace("\\\n", " ")
    assert shlex.split(body) == r.argv


def test_translation_reports_the_mapping() -> None:
    d = read_domain("name='g'\nmemory=64\nkernel='/k'\nroot='/dev/xvda1'\n"
                    "disk=['/a,raw,xvda1,w','/b,raw,xvdc,w']\n")
    t = do_translate(d, OutputFormat.PROXMOX, PlanOptions())
    assert t.mapping.pairs == [("/dev/xvda1", "/dev/sda"), ("/dev/xvdc", "/dev/sdb")]
    assert "scsi0: /a,format=raw" in t.output.splitlines()
    assert "scsi1: /b,format=raw" in t.output.splitlines()
    assert "scsihw: virtio-scsi-pci" in t.output.splitlines()
    assert "serial0: socket" in t.output.splitlines()
