"""The archive appended to an existing initramfs so that it loads KVM drivers early."""

from __future__ import annotations

import gzip
import lzma
import shutil
import subprocess
from pathlib import Path

import pytest

from xen2kvm.errors import GuestError, RefusedError
from xen2kvm.guest.memory import MemoryGuest, Symlink
from xen2kvm.initramfs import Compression, Generator, NewcEntry, read_initramfs, write_newc
from xen2kvm.initramfs.append import append_keep, build_initramfs_append
from xen2kvm.initramfs.compression import compress
from xen2kvm.initramfs.moddep import parse_modules_dep, read_kmod_index

V = "6.1.0-9-amd64"
D = f"/usr/lib/modules/{V}"
XZ = {
    "virtio_scsi": b"\x7fELF virtio_scsi " * 50,
    "virtio": b"\x7fELF virtio " * 50,
    "virtio_ring": b"\x7fELF virtio_ring " * 50,
    "scsi_mod": b"\x7fELF scsi_mod " * 50,
    "scsi_common": b"\x7fELF scsi_common " * 50,
    "sd_mod": b"\x7fELF sd_mod " * 50,
}
PATHS = {
    "virtio_scsi": "kernel/drivers/scsi/virtio_scsi.ko.xz",
    "virtio": "kernel/drivers/virtio/virtio.ko.xz",
    "virtio_ring": "kernel/drivers/virtio/virtio_ring.ko.xz",
    "scsi_mod": "kernel/drivers/scsi/scsi_mod.ko.xz",
    "scsi_common": "kernel/drivers/scsi/scsi_common.ko.xz",
    "sd_mod": "kernel/drivers/scsi/sd_mod.ko.xz",
}
MODULES_DEP = (
    f"{PATHS['virtio_scsi']}: {PATHS['scsi_mod']} {PATHS['scsi_common']} "
    f"{PATHS['virtio']} {PATHS['virtio_ring']}\n"
    f"{PATHS['scsi_mod']}: {PATHS['scsi_common']}\n"
    f"{PATHS['scsi_common']}:\n{PATHS['virtio']}:\n{PATHS['virtio_ring']}:\n"
    f"{PATHS['sd_mod']}: {PATHS['scsi_mod']} {PATHS['scsi_common']}\n"
    "kernel/drivers/block/xen-blkfront.ko.xz:\n"
)


def guest() -> MemoryGuest:
    files: dict[str, str | bytes | Symlink | None] = {
        "/lib": Symlink("usr/lib"),
        f"{D}/modules.dep": MODULES_DEP,
        f"{D}/modules.builtin": "kernel/drivers/virtio/virtio_pci.ko\n",
    }
    for name, rel in PATHS.items():
        files[f"{D}/{rel}"] = lzma.compress(XZ[name], check=lzma.CHECK_CRC32)
    return MemoryGuest(files)


def xen_initramfs(generator: Generator = Generator.INITRAMFS_TOOLS) -> bytes:
    """A Xen-style initramfs: only xen-blkfront, /lib a symlink to usr/lib (usrmerge)."""
    entries = [
        NewcEntry("/lib", "symlink", target="usr/lib", mode=0o777),
        NewcEntry(f"{D}/kernel/drivers/block/xen-blkfront.ko", data=b"\x7fELF blkfront"),
        NewcEntry(f"{D}/modules.dep", data=b"kernel/drivers/block/xen-blkfront.ko:\n"),
        NewcEntry("/init", data=b"#!/bin/sh\n", mode=0o755),
    ]
    if generator is Generator.INITRAMFS_TOOLS:
        entries += [
            NewcEntry("/conf/initramfs.conf", data=b"MODULES=dep\n"),
            NewcEntry("/conf/modules", data=b"xen-blkfront"),  # no final newline
            NewcEntry("/scripts/local", data=b"#!/bin/sh\n"),
        ]
    elif generator is Generator.DRACUT:
        entries += [NewcEntry("/usr/lib/dracut/build-parameter.txt", data=b"--hostonly")]
    elif generator is Generator.MKINITCPIO:
        entries += [
            NewcEntry("/config", data=b"MODULES='xen_blkfront'\nHOOKS='base udev'\n"),
            NewcEntry("/hooks/udev", data=b"run_hook() { :; }\n"),
        ]
    # gzip makes the file length arbitrary, so the 4-byte alignment matters.
    return compress(Compression.GZIP, write_newc(entries)) + b"\0\0\0"


WANT = ["virtio_scsi", "virtio_pci", "sd_mod"]


def test_initramfs_tools_append() -> None:
    image = xen_initramfs()
    existing = read_initramfs(image, keep=append_keep)
    result = build_initramfs_append(guest(), V, existing, WANT)
    s = result.summary
    assert s.added_modules == [
        "virtio_ring",
        "virtio",
        "scsi_common",
        "scsi_mod",
        "virtio_scsi",
        "sd_mod",
    ]
    assert s.builtin == ["virtio_pci"]
    assert s.early_load == ["virtio_scsi", "sd_mod"]
    assert s.load_via == ["/conf/modules"]
    assert s.modules_dir == D
    assert s.changed and "virtio_scsi" in s.describe()
    # Uncompressed, padded so the archive starts at a 4-byte aligned offset of the file.
    assert (len(image) + result.data.index(b"070701")) % 4 == 0

    combined = read_initramfs(image + result.data)
    assert [seg.compression for seg in combined.segments] == [Compression.GZIP, Compression.NONE]
    # The usrmerge symlink survives: nothing was written under a real /lib directory.
    lib = combined.member("/lib")
    assert lib is not None and lib.kind == "symlink"
    assert not any(m.path.startswith("/lib/") for m in combined.members)
    # Modules uncompressed, the guest's own bytes.
    assert (
        combined.read(f"/lib/modules/{V}/kernel/drivers/scsi/virtio_scsi.ko") == XZ["virtio_scsi"]
    )
    assert combined.modules == {"xen_blkfront", *XZ}
    # Merged dependency tables: old entries kept, new ones point at the uncompressed files.
    dep = parse_modules_dep(combined.read(f"{D}/modules.dep").decode())
    assert dep["xen_blkfront"].path == "kernel/drivers/block/xen-blkfront.ko"
    assert dep["virtio_scsi"].deps == (
        "kernel/drivers/scsi/scsi_mod.ko",
        "kernel/drivers/scsi/scsi_common.ko",
        "kernel/drivers/virtio/virtio.ko",
        "kernel/drivers/virtio/virtio_ring.ko",
    )
    index = read_kmod_index(combined.read(f"{D}/modules.dep.bin"))
    assert {k: v[0][1] for k, v in index.items()} == {k: d.line() for k, d in dep.items()}
    assert combined.read("/conf/modules") == b"xen-blkfront\nvirtio_scsi\nsd_mod\n"
    assert combined.generator is Generator.INITRAMFS_TOOLS

    # A second run has nothing left to add.
    again = build_initramfs_append(
        guest(), V, read_initramfs(image + result.data, keep=append_keep), WANT
    )
    assert again.data == b"" and not again.summary.changed
    assert "already carries" in again.summary.describe()


def test_gzip_appended_archive() -> None:
    image = xen_initramfs()
    result = build_initramfs_append(
        guest(),
        V,
        read_initramfs(image, keep=append_keep),
        ["sd_mod"],
        compression=Compression.GZIP,
    )
    assert result.data[:2] == b"\x1f\x8b"
    combined = read_initramfs(image + result.data)
    assert combined.segments[-1].compression is Compression.GZIP
    assert {"sd_mod", "scsi_mod", "scsi_common"} <= combined.modules


def test_real_cpio_reads_appended_archive() -> None:
    if shutil.which("cpio") is None:
        pytest.skip("cpio is not installed")
    image = xen_initramfs()
    data = build_initramfs_append(guest(), V, read_initramfs(image, keep=append_keep), WANT).data
    listing = (
        subprocess.run(
            ["cpio", "-i", "-t", "--quiet"],
            input=data.lstrip(b"\0"),
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .splitlines()
    )
    assert f"{D.lstrip('/')}/kernel/drivers/scsi/virtio_scsi.ko" in listing
    assert "conf/modules" in listing
    assert "lib" not in listing and "usr" in listing


def test_dracut_append() -> None:
    image = xen_initramfs(Generator.DRACUT)
    r = build_initramfs_append(guest(), V, read_initramfs(image, keep=append_keep), WANT)
    combined = read_initramfs(image + r.data)
    assert combined.read("/etc/cmdline.d/90-xen2kvm.conf") == b"rd.driver.pre=virtio_scsi,sd_mod\n"
    assert combined.read("/etc/modules-load.d/xen2kvm.conf") == b"virtio_scsi\nsd_mod\n"


def test_mkinitcpio_append_extends_config() -> None:
    image = xen_initramfs(Generator.MKINITCPIO)
    r = build_initramfs_append(guest(), V, read_initramfs(image, keep=append_keep), WANT)
    config = read_initramfs(image + r.data).read("/config").decode()
    assert config == (
        "MODULES='xen_blkfront'\nHOOKS='base udev'\nMODULES=\"${MODULES} virtio_scsi sd_mod\"\n"
    )
    # What the initramfs's shell would see when it sources /config.
    out = subprocess.run(
        ["sh", "-c", '. /dev/stdin; printf %s "$MODULES"'],
        input=config,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == "xen_blkfront virtio_scsi sd_mod"


def test_unknown_generator_refused() -> None:
    image = xen_initramfs(Generator.UNKNOWN)
    with pytest.raises(RefusedError, match="no early module loading"):
        build_initramfs_append(guest(), V, read_initramfs(image, keep=append_keep), WANT)


def test_lz4_legacy_last_segment_refused() -> None:
    if shutil.which("lz4") is None:
        pytest.skip("lz4 is not installed")
    body = gzip.decompress(xen_initramfs()[:-3])
    image = subprocess.run(
        ["lz4", "-l", "-q", "-c"], input=body, capture_output=True, check=True
    ).stdout
    with pytest.raises(RefusedError, match="lz4 legacy"):
        build_initramfs_append(guest(), V, read_initramfs(image, keep=append_keep), WANT)


def test_no_modules_for_that_kernel() -> None:
    existing = read_initramfs(xen_initramfs(), keep=append_keep)
    with pytest.raises(GuestError, match=r"no /lib/modules/9\.9"):
        build_initramfs_append(guest(), "9.9", existing, WANT)


def test_contents_must_have_been_kept() -> None:
    existing = read_initramfs(xen_initramfs(), keep=False)
    with pytest.raises(ValueError, match="keep=append_keep"):
        build_initramfs_append(guest(), V, existing, WANT)


def test_real_kmod_resolves_the_merged_index(tmp_path: Path) -> None:
    """Extract the combined image (as the kernel would) and ask the real modprobe."""
    if shutil.which("modprobe") is None:
        pytest.skip("kmod's modprobe is not installed")
    image = xen_initramfs()
    combined = read_initramfs(
        image
        + build_initramfs_append(guest(), V, read_initramfs(image, keep=append_keep), WANT).data
    )
    for path, member in combined.final().items():
        dest = tmp_path / path.lstrip("/")
        if member.kind == "dir":
            dest.mkdir(parents=True, exist_ok=True)
        elif member.kind == "symlink":
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(member.link_target or "")
    for path, member in combined.final().items():
        if member.kind == "file":
            dest = tmp_path / path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(combined.read(path))
    out = subprocess.run(
        ["modprobe", "-d", str(tmp_path), "-S", V, "--show-depends", "virtio_scsi"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = [Path(line.split()[1]).name for line in out.splitlines()]
    assert names == [
        "virtio_ring.ko",
        "virtio.ko",
        "scsi_common.ko",
        "scsi_mod.ko",
        "virtio_scsi.ko",
    ]
    # The module that was there before is still found through the new index.
    old = subprocess.run(
        ["modprobe", "-d", str(tmp_path), "-S", V, "--show-depends", "xen-blkfront"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert old.strip().endswith("kernel/drivers/block/xen-blkfront.ko")
