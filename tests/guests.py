"""Fixtures for the real Xen-style guests built by tools/guestbuilder (cached).

A cached build is used as is; a missing one is built when running as root (debootstrap, a few
minutes) and the test is skipped otherwise. The images are never written by tests: verify
boots from overlays, and tests that change a guest copy it first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # tools/ is not an installed package
    sys.path.insert(0, str(REPO))

from tools.guestbuilder import BuiltGuest, build_guest, cached_guest  # noqa: E402


def get_guest(variant: str) -> BuiltGuest:
    """The built guest ``variant`` (building it if needed and possible)."""
    hit = cached_guest(variant)
    if hit is not None:
        return hit
    if os.geteuid() != 0:
        pytest.skip(f"guest {variant!r} is not built and building needs root")
    return build_guest(variant)


@pytest.fixture(scope="session")
def reference_guest() -> BuiltGuest:
    """The reference Linode-Xen-style Debian 12 guest (bare ext4 xvda + swap xvdb)."""
    return get_guest("reference")


@pytest.fixture(scope="session")
def reference_image(reference_guest: BuiltGuest) -> Path:
    """Path of the cached reference root image (xvda: an unpartitioned ext4 filesystem)."""
    return Path(reference_guest.disks[0])


@pytest.fixture(scope="session")
def partitioned_guest() -> BuiltGuest:
    """MBR-partitioned variant with GRUB 2 in the MBR (Direct Disk)."""
    return get_guest("partitioned")


@pytest.fixture(scope="session")
def dracut_guest() -> BuiltGuest:
    return get_guest("dracut")


@pytest.fixture(scope="session")
def sysvinit_guest() -> BuiltGuest:
    return get_guest("sysvinit")


@pytest.fixture(scope="session")
def verify_env() -> Iterator[dict[str, str]]:
    """Environment for running ``xen2kvm verify`` in subprocesses: the KVM probe runs once
    here (it costs ~20 s where /dev/kvm exists but hangs) and its result is passed on."""
    from xen2kvm.verify.qemu import probe_accel

    accel = probe_accel()
    env = dict(os.environ)
    env["XEN2KVM_ACCEL"] = accel.name
    yield env


def fresh_copy(guest: BuiltGuest, dest: Path) -> list[Path]:
    """Sparse copies of a built guest's disks (for tests that change a guest, e.g. convert)."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for disk in guest.disks:
        target = dest / Path(disk).name
        if shutil.which("cp"):
            subprocess.run(["cp", "--sparse=always", disk, str(target)], check=True)
        else:  # pragma: no cover
            shutil.copyfile(disk, target)
        out.append(target)
    return out


def process_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def run_verify_cli(
    args: list[str], env: dict[str, str], tmp_path: Path
) -> tuple[int, dict[str, Any], str]:
    """``xen2kvm verify ARGS --json --console-log F`` in a subprocess: (exit code, result
    JSON, stderr). Checks on the way that QEMU was reaped and the saved log is complete."""
    log = tmp_path / "console.log"
    proc = subprocess.run(
        [sys.executable, "-m", "xen2kvm", "verify", *args, "--json", "--console-log", str(log)],
        capture_output=True, text=True, env=env, timeout=900,
    )
    data: dict[str, Any] = (
        json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
    )
    if data.get("qemu_pid"):
        assert not process_alive(data["qemu_pid"]), "QEMU must be reaped"
    if data:
        assert log.read_bytes().decode("utf-8", "replace") == data["console_log"]
    return proc.returncode, data, proc.stderr
