"""Hostile guests on the image backends: inspect, convert, rollback and verify on real ext4
images whose files point at the host, loop, or are FIFOs.

On images the guest's filesystem is served by fuse2fs (or the libguestfs appliance), and every
path is still resolved by xen2kvm inside the guest: a link to a host path names a path in the
guest, never the host's file. Host canaries with unique content prove nothing outside the guest
was read or written; the image is unchanged whenever the tool refuses or fails.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.fixtures.boot import with_boot
from tests.images import FIFO, Symlink, make_ext4
from tests.reliability.harness import Canaries, run_subprocess

pytestmark = [pytest.mark.image, pytest.mark.slow]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def host_kernel() -> str:
    kernels = sorted(Path("/boot").glob("vmlinuz-*"))
    return str(kernels[-1]) if kernels else "/boot/vmlinuz"


def variants(canaries: Canaries) -> dict[str, dict[str, object]]:
    host_file = str(canaries.file)
    up = "../" * 12 + host_file.lstrip("/")
    return {
        "fstab-abs-link": {"/etc/fstab": Symlink(host_file)},
        "grub-cfg-rel-link": {"/boot/grub/grub.cfg": Symlink(up)},
        "inittab-fifo": {"/etc/inittab": FIFO},
        "default-grub-loop": {
            "/etc/default/grub": Symlink("grub.b"),
            "/etc/default/grub.b": Symlink("grub"),
        },
        "boot-dir-to-host": {"/boot": Symlink(str(canaries.subdir))},
        "kernel-to-host-kernel": {
            # A real kernel on the host: were the link followed outside the guest, verify
            # would find a bootable kernel and boot the host's.
            "/boot/vmlinuz-6.1.0-18-amd64": Symlink(host_kernel()),
            "/boot/initrd.img-6.1.0-18-amd64": Symlink(host_file),
        },
    }


@pytest.fixture(scope="module")
def canaries(tmp_path_factory: pytest.TempPathFactory) -> Canaries:
    return Canaries.create(tmp_path_factory.mktemp("host-canaries"))


@pytest.mark.parametrize(
    "name",
    [
        "fstab-abs-link",
        "grub-cfg-rel-link",
        "inittab-fifo",
        "default-grub-loop",
        "boot-dir-to-host",
        "kernel-to-host-kernel",
    ],
)
def test_hostile_image(tmp_path: Path, canaries: Canaries, name: str) -> None:
    tree = dict(with_boot("DEBIAN12"))
    change = variants(canaries)[name]
    if name == "boot-dir-to-host":
        tree = {p: c for p, c in tree.items() if not p.startswith("/boot/")}
    tree.update(change)  # type: ignore[arg-type]
    image = make_ext4(tree, tmp_path / "root.img", size_mb=32)
    original = sha(image)

    runs = [
        run_subprocess(["inspect", str(image), "--json"], timeout=300),
        run_subprocess(["convert", str(image), "--json"], timeout=300),
    ]
    converted = runs[-1].code in (0, 1)
    if not converted:
        assert sha(image) == original, f"{name}: a refused convert changed the image"
    runs.append(run_subprocess(["rollback", str(image), "--json"], timeout=300))
    # verify reads the kernel from the image: a link to a host path must not boot the host's.
    runs.append(
        run_subprocess(
            ["verify", str(image), "--mode", "paravirt", "--timeout", "30", "--accel", "tcg"],
            timeout=300,
        )
    )
    for run in runs:
        assert not run.problems(canaries), run.problems(canaries)
    assert runs[-1].code == 2, "a guest without a usable kernel cannot be verified"
    assert not canaries.problems()
    assert sha(image) == original, f"{name}: convert + rollback did not restore the image"
