"""Disk probing logic that needs no image: device names, fstab matching, file checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xen2kvm.errors import GuestError, GuestReadOnly
from xen2kvm.guest.disks import (
    FsInfo,
    ImageInspection,
    check_image_file,
    device_name,
    match_device,
    parse_fstab_mounts,
)
from xen2kvm.guest.image import open_images
from xen2kvm.jsonutil import to_jsonable


def _fs(disk: int, part: int | None, **kw: str) -> FsInfo:
    return FsInfo(
        device=device_name(disk, part),
        disk_index=disk,
        partition=part,
        offset=0,
        size=1,
        fstype="ext4",
        **kw,  # type: ignore[arg-type]
    )


def test_device_names_follow_libguestfs() -> None:
    assert device_name(0) == "/dev/sda"
    assert device_name(1, 3) == "/dev/sdb3"
    assert device_name(25) == "/dev/sdz"
    assert device_name(26) == "/dev/sdaa"
    assert device_name(27, 1) == "/dev/sdab1"


FILESYSTEMS = [
    _fs(0, None, uuid="0b5d3a1e-aaaa-bbbb-cccc-000000000001", label="root"),
    _fs(1, 1, uuid="0b5d3a1e-aaaa-bbbb-cccc-000000000002", label="home data"),
    _fs(1, 2, partuuid="4f20e7b3-0e8f-4148-896e-bb5ec066a4b4"),
]


@pytest.mark.parametrize(
    ("spec", "device"),
    [
        ("UUID=0b5d3a1e-aaaa-bbbb-cccc-000000000001", "/dev/sda"),
        ('UUID="0B5D3A1E-AAAA-BBBB-CCCC-000000000002"', "/dev/sdb1"),
        ("LABEL=root", "/dev/sda"),
        ("/dev/disk/by-label/home\\x20data", "/dev/sdb1"),
        ("/dev/disk/by-uuid/0b5d3a1e-aaaa-bbbb-cccc-000000000002", "/dev/sdb1"),
        ("PARTUUID=4F20E7B3-0E8F-4148-896E-BB5EC066A4B4", "/dev/sdb2"),
        ("/dev/xvda", "/dev/sda"),  # Linode: the disk is the filesystem
        ("/dev/xvdb1", "/dev/sdb1"),
        ("/dev/vdb2", "/dev/sdb2"),
        ("/dev/sda", "/dev/sda"),
        ("/dev/hdb1", "/dev/sdb1"),
    ],
)
def test_fstab_device_references_match_filesystems(spec: str, device: str) -> None:
    fs = match_device(spec, FILESYSTEMS)
    assert fs is not None and fs.device == device


@pytest.mark.parametrize(
    "spec", ["UUID=ffffffff-0000-0000-0000-000000000000", "LABEL=nope", "/dev/xvda1",
             "/dev/xvdc", "/dev/mapper/vg0-root", "tmpfs", ""],
)  # fmt: skip
def test_unknown_device_references_match_nothing(spec: str) -> None:
    assert match_device(spec, FILESYSTEMS) is None


def test_fstab_mounts_keep_only_mounts_at_paths() -> None:
    text = (
        "# comment\n"
        "/dev/xvda / ext4 errors=remount-ro 0 1\n"
        "\n"
        "/dev/xvdb none swap sw 0 0\n"
        "UUID=x /srv/my\\040data ext3 defaults\n"
        "proc /proc proc defaults 0 0\n"
        "broken-line\n"
    )
    mounts = parse_fstab_mounts(text)
    assert [(m.spec, m.mountpoint, m.fstype) for m in mounts] == [
        ("/dev/xvda", "/", "ext4"),
        ("UUID=x", "/srv/my data", "ext3"),
        ("proc", "/proc", "proc"),
    ]
    assert mounts[0].options == "errors=remount-ro"


def test_read_only_image_file_refused_for_writing(tmp_path: Path) -> None:
    img = tmp_path / "disk.img"
    img.write_bytes(b"\0" * 4096)
    img.chmod(0o444)
    check_image_file(img, read_only=True)
    with pytest.raises(GuestReadOnly, match="read-only"):
        check_image_file(img, read_only=False)


def test_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(GuestError, match="no such file"):
        check_image_file(tmp_path / "missing.img", read_only=True)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(GuestError, match="not a disk image"):
        check_image_file(fifo, read_only=True)


def test_unknown_backend_and_duplicate_disk(tmp_path: Path) -> None:
    img = tmp_path / "disk.img"
    img.write_bytes(b"\0" * 4096)
    with pytest.raises(GuestError, match="unknown image backend"):
        open_images([img], read_only=True, backend="nbd")
    with pytest.raises(GuestError, match="given twice"):
        open_images([img, tmp_path / "." / "disk.img"], read_only=True, backend="auto")


def test_inspection_is_serialisable() -> None:
    insp = ImageInspection(
        backend="fuse2fs",
        disks=("a.img",),
        root="/dev/sda",
        mountpoints={"/": "/dev/sda"},
        warnings=("/etc/fstab: is a fifo, not a regular file",),
    )
    data = to_jsonable(insp)
    assert data["mountpoints"] == {"/": "/dev/sda"}
    assert data["warnings"] == ["/etc/fstab: is a fifo, not a regular file"]
