"""Direct Disk boot is chosen or refused from the real first sector of real disk images.

Images are made with the tools a user has: mkfs.ext4 (a Linode-style bare filesystem),
sfdisk (a partition table without boot code), syslinux's mbr.bin (real MBR boot code) and
qemu-img (qcow2).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from xen2kvm.cli import main
from xen2kvm.hv.bootsector import BootSector, check_boot_sector

MBR_BIN = next(
    (p for p in ("/usr/lib/syslinux/mbr/mbr.bin", "/usr/lib/SYSLINUX/mbr.bin")
     if Path(p).exists()), None)

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("mkfs.ext4", "sfdisk", "qemu-img")),
    reason="needs e2fsprogs, fdisk and qemu-utils",
)


def _run(*cmd: str, stdin: str | None = None) -> None:
    subprocess.run(cmd, check=True, capture_output=True, input=stdin, text=True)


def bare_ext4(path: Path) -> Path:
    _run("mkfs.ext4", "-q", "-F", str(path), "8M")
    return path


def partitioned(path: Path, boot_code: bool) -> Path:
    _run("qemu-img", "create", "-q", "-f", "raw", str(path), "8M")
    _run("sfdisk", "-q", str(path), stdin="label: dos\n,,L,*\n")
    if boot_code:
        assert MBR_BIN is not None
        with open(MBR_BIN, "rb") as src, open(path, "r+b") as dst:
            dst.write(src.read()[:440])
    return path


def cfg(tmp_path: Path, image: Path, vdev: str = "xvda", fmt: str = "raw") -> Path:
    c = tmp_path / "g.cfg"
    c.write_text(
        f"name = 'g'\nmemory = 256\nbootloader = 'pygrub'\n"
        f"disk = ['{image},{fmt},{vdev},w']\nvif = ['mac=00:16:3e:01:02:03,bridge=br0']\n"
    )
    return c


def test_bare_filesystem_has_no_boot_code(tmp_path: Path) -> None:
    check = check_boot_sector(str(bare_ext4(tmp_path / "fs.img")))
    assert check.status is BootSector.NO_BOOT_CODE
    assert "ext2/3/4 filesystem starts at sector 0" in check.reason


def test_partition_table_without_boot_code(tmp_path: Path) -> None:
    check = check_boot_sector(str(partitioned(tmp_path / "d.img", boot_code=False)))
    assert check.status is BootSector.NO_BOOT_CODE
    assert check.reason == "sector 0 holds no MBR boot code"


@pytest.mark.skipif(MBR_BIN is None, reason="syslinux's mbr.bin is not installed")
def test_real_mbr_boot_code_raw_and_qcow2(tmp_path: Path) -> None:
    raw = partitioned(tmp_path / "d.img", boot_code=True)
    assert check_boot_sector(str(raw)).status is BootSector.BOOT_CODE
    qcow = tmp_path / "d.qcow2"
    _run("qemu-img", "convert", "-O", "qcow2", str(raw), str(qcow))
    assert check_boot_sector(str(qcow), "qcow2").status is BootSector.BOOT_CODE
    assert check_boot_sector(str(qcow), "raw").status is BootSector.NO_BOOT_CODE


def test_direct_disk_on_bare_filesystem_is_refused_with_the_alternative(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = cfg(tmp_path, bare_ext4(tmp_path / "fs.img"))
    for target in ("libvirt", "linode"):
        assert main(["translate", str(c), "--to", target, "--boot", "disk"]) == 3
        err = capsys.readouterr().err
        assert "Direct Disk boot needs MBR boot code" in err
        assert "ext2/3/4 filesystem starts at sector 0" in err
        assert "use --boot kernel" in err
        assert "Traceback" not in err
    # Automatic choice: Linode falls back to GRUB 2; elsewhere a kernel is required.
    assert main(["translate", str(c), "--to", "linode", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert json.loads(result["output"])["kernel"] == "linode/grub2"
    assert result["guest"]["boot"] == "kernel"
    assert main(["translate", str(c), "--to", "libvirt"]) == 3
    assert "no kernel was given" in capsys.readouterr().err
    assert main(["translate", str(c), "--to", "libvirt", "--kernel", "/k/vmlinuz"]) == 0
    assert "<kernel>/k/vmlinuz</kernel>" in capsys.readouterr().out


@pytest.mark.skipif(MBR_BIN is None, reason="syslinux's mbr.bin is not installed")
def test_auto_boot_picks_direct_disk_when_the_mbr_has_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = cfg(tmp_path, partitioned(tmp_path / "d.img", boot_code=True))
    assert main(["translate", str(c), "--to", "linode"]) == 0
    captured = capsys.readouterr()
    assert '"kernel": "linode/direct-disk"' in captured.out
    assert "has MBR boot code" in captured.err
    assert main(["translate", str(c), "--to", "libvirt"]) == 0
    assert "<boot dev='hd'/>" in capsys.readouterr().out


def test_partition_only_vdev_refuses_direct_disk_even_without_the_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = cfg(tmp_path, tmp_path / "absent.img", vdev="xvda1")
    assert main(["translate", str(c), "--to", "proxmox", "--boot", "disk"]) == 3
    assert "partition-only device" in capsys.readouterr().err
