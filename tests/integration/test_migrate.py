"""migrate: one Xen domain config in, converted disks and KVM configs out."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.fixtures.boot import with_boot
from tests.images import debugfs_cat, make_ext4

from xen2kvm.cli import main

pytestmark = pytest.mark.image

ROOT_UUID = "6b0a3e0c-4f55-4d7a-9d0e-2b7f3a9c1d11"


def test_migrate_converts_with_the_config_mapping_and_writes_configs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = with_boot("DEBIAN12")
    # The guest's own kernel is booted (a bare filesystem has no MBR): a real bzImage.
    kernels = sorted(Path("/boot").glob("vmlinuz-*"))
    if not kernels:
        pytest.skip("no Debian kernel in /boot (linux-image-amd64)")
    tree["/boot/vmlinuz-6.1.0-18-amd64"] = kernels[-1].read_bytes()
    tree["/boot/initrd.img-6.1.0-18-amd64"] = b"placeholder initrd"
    root = make_ext4(tree, tmp_path / "root.img", size_mb=64, uuid=ROOT_UUID)
    swap = tmp_path / "swap.img"
    subprocess.run(["truncate", "-s", "16M", str(swap)], check=True)
    subprocess.run(["mkswap", "-q", str(swap)], check=True)
    cfg = tmp_path / "linode123.cfg"
    cfg.write_text(
        'name = "linode123"\nmemory = 1024\nvcpus = 1\nbootloader = "pygrub"\n'
        f"disk = [ 'file:{root},xvda,w',\n         'file:{swap},xvdb,w' ]\n"
        "vif = [ 'mac=00:16:3e:12:34:56,bridge=xenbr0' ]\n"
    )
    out = tmp_path / "kvm"
    assert main(["migrate", str(cfg), "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True
    assert [(d["xen"], d["kvm"]) for d in doc["disks"]] == [
        ("/dev/xvda", "/dev/sda"),
        ("/dev/xvdb", "/dev/sdb"),
    ]
    assert "/etc/fstab" in doc["changed"]
    fstab = debugfs_cat(root, "/etc/fstab").decode()
    assert f"UUID={ROOT_UUID}" in fstab and "/dev/xvd" not in fstab
    xml = Path(doc["configs"]["libvirt"]).read_text()
    assert "<domain type='kvm'" in xml or '<domain type="kvm"' in xml
    assert "00:16:3e:12:34:56" in xml
    subprocess.run(
        ["virt-xml-validate", doc["configs"]["libvirt"], "domain"], check=True, capture_output=True
    )
    assert Path(doc["configs"]["qemu"]).stat().st_mode & 0o100
    assert (out / "boot" / "kernel").read_bytes() == kernels[-1].read_bytes()
    assert "<kernel>" in xml and "console=ttyS0" in xml
    # A second migrate changes nothing in the guest.
    assert main(["migrate", str(cfg), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changed"] == []


def test_migrate_missing_disk_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "x.cfg"
    cfg.write_text(
        f"name = 'x'\nbootloader = 'pygrub'\ndisk = [ 'file:{tmp_path}/nope.img,xvda,w' ]\n"
    )
    assert main(["migrate", str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope.img" in err[0]
