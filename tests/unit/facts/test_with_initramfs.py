"""with_initramfs gives what a second gather_kernels(initramfs_for=[v]) would, read once."""

from __future__ import annotations

from pathlib import Path

from tests.unit.checks.test_kernel_checks import guest_with_kernel
from xen2kvm.facts import gather_facts
from xen2kvm.facts.kernels import gather_kernels, with_initramfs
from xen2kvm.guest.local import LocalGuest


def test_same_facts_as_gathering_again(tmp_path: Path) -> None:
    root, version = guest_with_kernel(tmp_path)
    guest = LocalGuest(root)
    plain = gather_kernels(guest)
    assert all(k.initramfs_contents is None for k in plain)
    once = with_initramfs(guest, plain, version)
    twice = gather_kernels(guest, initramfs_for=[version])
    assert once == twice
    summary = next(k for k in once if k.version == version).initramfs_contents
    assert summary is not None and "xen_blkfront" in summary.modules


def test_gather_facts_reads_the_default_kernels_initramfs(tmp_path: Path) -> None:
    root, version = guest_with_kernel(tmp_path)
    facts = gather_facts(LocalGuest(root))
    assert facts.default_kernel == version
    kernel = facts.kernel(version)
    assert kernel is not None and kernel.initramfs_contents is not None
