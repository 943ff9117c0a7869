"""verify on bad input: a clear one-line error and exit code 2, never a hang or traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from xen2kvm.verify.qemu import host_probe_kernel, run_probe_kernel, run_tiny_guest

pytestmark = [pytest.mark.image]

BZIMAGE = bytes(0x202) + b"HdrS" + bytes(0x400)


def run_verify(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xen2kvm", "verify", *args],
        capture_output=True, text=True, timeout=300, env={**_env(), "XEN2KVM_ACCEL": "tcg"},
    )


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def ext4_image(tmp_path: Path, files: dict[str, bytes | str]) -> Path:
    root = tmp_path / "tree"
    for path, content in files.items():
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(content.encode() if isinstance(content, str) else content)
    (root / "etc").mkdir(parents=True, exist_ok=True)
    image = tmp_path / "root.img"
    with open(image, "wb") as f:
        f.truncate(32 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(root), str(image)], check=True)
    return image


def assert_clean_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("xen2kvm: error:")


def test_missing_image(tmp_path: Path) -> None:
    assert_clean_error(
        run_verify([str(tmp_path / "nope.img"), "--mode", "paravirt"]), "no such file"
    )


def test_corrupt_qcow2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.qcow2"
    bad.write_bytes(b"QFI\xfb\x00\x00\x00\x03" + b"\xff" * 4096)
    assert_clean_error(run_verify([str(bad), "--mode", "paravirt", "--kernel", str(bad)]),
                       "bad.qcow2")


def test_random_bytes_have_no_kernel(tmp_path: Path) -> None:
    junk = tmp_path / "junk.img"
    junk.write_bytes(bytes(range(256)) * 4096)
    assert_clean_error(run_verify([str(junk), "--mode", "paravirt"]), "cannot take the kernel")


def test_guest_without_kernel(tmp_path: Path) -> None:
    image = ext4_image(tmp_path, {"/etc/fstab": "/dev/xvda / ext4 defaults 0 1\n"})
    assert_clean_error(run_verify([str(image), "--mode", "paravirt"]), "no default boot entry")


def test_mode_the_kernel_cannot_do(tmp_path: Path) -> None:
    image = ext4_image(tmp_path, {
        "/etc/fstab": "/dev/xvda / ext4 defaults 0 1\n",
        "/boot/grub/menu.lst": "default 0\ntitle x\nkernel /boot/vmlinuz-5.0-custom "
                               "root=/dev/xvda console=hvc0\n",
        "/boot/vmlinuz-5.0-custom": BZIMAGE,
        "/boot/config-5.0-custom": "CONFIG_XEN_BLKDEV_FRONTEND=y\nCONFIG_ATA_PIIX=y\n"
                                   "CONFIG_E1000=y\n",
    })
    assert_clean_error(run_verify([str(image), "--mode", "paravirt"]), "cannot do paravirt")


def test_kernel_that_is_not_a_kernel(tmp_path: Path) -> None:
    image = ext4_image(tmp_path, {"/etc/hostname": "x\n"})
    fake = tmp_path / "vmlinuz"
    fake.write_bytes(b"#!/bin/sh\n" * 100)
    assert_clean_error(run_verify([str(image), "--mode", "paravirt", "--kernel", str(fake)]),
                       "not an x86 Linux kernel")


def test_tiny_probe_guest_reaches_its_known_point() -> None:
    ok, detail = run_tiny_guest("tcg")
    assert ok, detail


@pytest.mark.slow
def test_probe_kernel_reaches_its_panic_under_tcg() -> None:
    kernel = host_probe_kernel()
    if kernel is None:
        pytest.skip("no kernel in /boot")
    ok, detail = run_probe_kernel("tcg", kernel, timeout=120)
    assert ok, detail
