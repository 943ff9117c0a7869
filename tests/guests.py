"""Fixtures for the real Xen-style guests built by tools/guestbuilder (cached).

A cached build is used as is; a missing one is built when running as root (debootstrap, a few
minutes) and the test is skipped otherwise. The images are never written by tests: verify
boots from overlays, and tests that change a guest copy it first.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

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
