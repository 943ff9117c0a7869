"""convert and rollback on real disk images: overlay staging, block-level undo, crash safety."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.fixtures.boot import with_boot
from tests.images import debugfs_cat, make_ext4

from xen2kvm.cli import main

pytestmark = pytest.mark.image

ROOT_UUID = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return make_ext4(with_boot("DEBIAN12"), tmp_path / "root.img", size_mb=32, uuid=ROOT_UUID)


def test_convert_commits_with_undo_and_rollback_is_byte_exact(
    image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sha(image)
    assert main(["convert", str(image), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)["guests"][0]
    assert doc["applied"] and doc["image_undo"]
    assert sha(image) != before
    fstab = debugfs_cat(image, "/etc/fstab").decode()
    assert f"UUID={ROOT_UUID}" in fstab  # the image backend knows the filesystem's UUID
    assert "/dev/xvda" not in fstab
    assert "console=ttyS0" in debugfs_cat(image, "/boot/grub/grub.cfg").decode()

    # A second convert changes nothing and writes no new undo record.
    assert main(["convert", str(image), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)["guests"][0]
    assert doc["plan"] == [] and doc["image_undo"] == []
    assert len(list(image.parent.glob("root.img.xen2kvm-undo.*"))) == 1

    assert main(["rollback", str(image), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)["guests"][0]
    assert doc["image_undo_applied"]
    assert sha(image) == before
    assert not list(image.parent.glob("root.img.xen2kvm-undo.*"))


def test_image_changed_after_conversion_falls_back_to_the_journal(
    image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["convert", str(image), "--quiet"]) == 0
    capsys.readouterr()
    # The guest "booted" and wrote a file: the block-level record no longer matches.
    subprocess.run(
        ["debugfs", "-w", "-R", "write /etc/hostname /etc/motd", str(image)],
        check=True,
        capture_output=True,
    )
    assert main(["rollback", str(image), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)["guests"][0]
    assert doc["image_undo_stale"] and doc["transactions"]
    assert "/dev/xvda" in debugfs_cat(image, "/etc/fstab").decode()


def test_killed_conversion_leaves_the_image_untouched(image: Path) -> None:
    before = sha(image)
    env = dict(os.environ, XEN2KVM_CRASH_AFTER_OPS="6")
    proc = subprocess.run(
        [sys.executable, "-m", "xen2kvm", "convert", str(image), "--quiet"],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr.decode()
    assert sha(image) == before
    assert not list(image.parent.glob("root.img.xen2kvm-undo.*"))


def test_read_only_image_is_refused_cleanly(
    image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sha(image)
    image.chmod(0o444)
    try:
        assert main(["convert", str(image)]) == 2
        assert "read-only" in capsys.readouterr().err
    finally:
        image.chmod(0o644)
    assert sha(image) == before


def test_convert_through_libguestfs_backend(
    image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The appliance path: same conversion, same undo (one appliance per open)."""
    before = sha(image)
    assert main(["convert", str(image), "--backend", "libguestfs", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)["guests"][0]
    assert "/etc/systemd/system/getty.target.wants/serial-getty@hvc0.service" in doc["applied"]
    assert not [f for f in doc["remaining"] if f["severity"] != "warning"]
    assert f"UUID={ROOT_UUID}" in debugfs_cat(image, "/etc/fstab").decode()
    assert main(["rollback", str(image), "--json"]) == 0
    capsys.readouterr()
    assert sha(image) == before
