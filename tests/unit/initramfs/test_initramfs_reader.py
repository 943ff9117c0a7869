"""The initramfs reader on archives made by the real cpio tool and real compressor CLIs."""

from __future__ import annotations

import contextlib
import gzip
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from initramfs_helpers import COMPRESSORS, compress_cli, cpio_newc, need

from xen2kvm.errors import ParseError
from xen2kvm.initramfs import Compression, Generator, list_initramfs, module_name, read_initramfs

Tree = Callable[[dict[str, bytes | str | None]], Path]

KVER = "6.1.0-99-amd64"
MODDIR = f"usr/lib/modules/{KVER}"

# An initramfs-tools style tree (usrmerged: /lib is a symlink), with modules stored plain and
# compressed in each of the formats kmod takes.
ITOOLS_TREE: dict[str, bytes | str | None] = {
    "conf/initramfs.conf": "MODULES=dep\nBUSYBOX=auto\n",
    "conf/modules": "xen-blkfront\n",
    "scripts/init-top/udev": "#!/bin/sh\n",
    "scripts/local": "#!/bin/sh\n",
    "init": "#!/bin/sh\nexec run-init\n",
    "lib": "link:usr/lib",
    "bin": "link:usr/bin",
    "usr/bin/busybox": b"\x7fELF" + bytes(range(256)) * 40,
    f"{MODDIR}/modules.dep": "kernel/drivers/block/xen-blkfront.ko:\n",
    f"{MODDIR}/kernel/drivers/block/xen-blkfront.ko": b"\x7fELF blkfront",
    f"{MODDIR}/kernel/fs/ext4/ext4.ko.xz": b"xz-compressed module bytes",
    f"{MODDIR}/kernel/fs/jbd2/jbd2.ko.zst": b"zstd module",
    f"{MODDIR}/kernel/lib/crc16.ko.gz": b"gz module",
    "empty-dir": None,
}

ITOOLS_MODULES = {"xen_blkfront", "ext4", "jbd2", "crc16"}


@pytest.mark.parametrize("comp", sorted(COMPRESSORS))
def test_each_compressor(comp: str, tree: Tree) -> None:
    root = tree(ITOOLS_TREE)
    image = compress_cli(comp, cpio_newc(root))
    r = read_initramfs(image, source="test.img")

    assert [s.compression.value for s in r.segments] == [comp]
    assert r.segments[0].offset == 0 and r.segments[0].length == len(image)
    assert r.generator is Generator.INITRAMFS_TOOLS
    assert r.modules == ITOOLS_MODULES
    assert r.kernel_versions == [KVER]
    assert set(r.paths()) == {"/" + p for p in ITOOLS_TREE} | {
        "/conf",
        "/scripts",
        "/scripts/init-top",
        "/usr",
        "/usr/bin",
        *(
            "/" + "/".join(p.split("/")[:i])
            for p in ITOOLS_TREE
            for i in range(1, p.count("/") + 1)
        ),
    }
    assert r.read("/usr/bin/busybox") == ITOOLS_TREE["usr/bin/busybox"]
    # Through the archive's own symlink /lib -> usr/lib, as the initramfs sees it.
    assert r.read(f"/lib/modules/{KVER}/modules.dep") == b"kernel/drivers/block/xen-blkfront.ko:\n"
    lib = r.member("/lib")
    assert lib is not None and lib.kind == "symlink" and lib.link_target == "usr/lib"
    assert r.module_paths["ext4"] == f"/{MODDIR}/kernel/fs/ext4/ext4.ko.xz"
    dir_member = r.member("/empty-dir")
    assert dir_member is not None and dir_member.kind == "dir"


def test_crc_format_read_and_checked(tree: Tree) -> None:
    root = tree({"a/file": b"hello world", "b": "link:a/file"})
    image = cpio_newc(root, fmt="crc")
    assert image.startswith(b"070702")
    r = read_initramfs(image)
    assert r.read("/a/file") == b"hello world"
    assert r.read("/b") == b"hello world"
    # Flip a byte of the file data: the crc field no longer matches.
    idx = image.index(b"hello world")
    bad = image[:idx] + b"j" + image[idx + 1 :]
    with pytest.raises(ParseError, match="checksum mismatch for /a/file"):
        read_initramfs(bad)


def test_early_microcode_concatenation(tree: Tree) -> None:
    ucode = cpio_newc(tree({"kernel/x86/microcode/GenuineIntel.bin": b"\x01" * 1000}))
    main = compress_cli("zstd", cpio_newc(tree(ITOOLS_TREE)))
    image = ucode + main
    r = read_initramfs(image)
    assert [(s.offset, s.compression) for s in r.segments] == [
        (0, Compression.NONE),
        (len(ucode), Compression.ZSTD),
    ]
    assert r.segments[0].members == 4  # kernel, kernel/x86, .../microcode, the blob
    assert r.segments[1].length == len(main)
    assert r.read("/kernel/x86/microcode/GenuineIntel.bin") == b"\x01" * 1000
    assert r.generator is Generator.INITRAMFS_TOOLS
    assert r.compression is Compression.ZSTD
    assert r.modules == ITOOLS_MODULES


def test_several_compressed_with_zero_padding_and_later_wins(tree: Tree) -> None:
    first = compress_cli("gzip", cpio_newc(tree({"etc/x": b"first", "etc/only1": b"1"})))
    second = compress_cli("xz", cpio_newc(tree({"etc/x": b"second"})))
    third = compress_cli("lz4-legacy", cpio_newc(tree({"etc/y": b"third"})))
    image = first + b"\0" * 13 + second + b"\0" * 512 + third
    r = read_initramfs(image)
    assert [s.compression for s in r.segments] == [
        Compression.GZIP,
        Compression.XZ,
        Compression.LZ4_LEGACY,
    ]
    assert r.segments[1].offset == len(first) + 13
    assert r.read("/etc/x") == b"second"
    assert r.read("/etc/only1") == b"1"
    assert [m.segment for m in r.members if m.path == "/etc/x"] == [0, 1]


def test_uncompressed_after_compressed_needs_alignment(tree: Tree) -> None:
    comp = compress_cli("gzip", cpio_newc(tree({"a": b"a"})))
    plain = cpio_newc(tree({"b": b"b"}))
    pad = (4 - len(comp) % 4) % 4
    r = read_initramfs(comp + b"\0" * pad + plain)
    assert r.read("/b") == b"b"
    assert [s.compression for s in r.segments] == [Compression.GZIP, Compression.NONE]
    if pad:
        # Unaligned, the kernel tries to decompress it and fails: so do we.
        with pytest.raises(ParseError, match="invalid magic"):
            read_initramfs(comp + plain)


def test_hardlinks_share_content(tree: Tree, tmp_path: Path) -> None:
    root = tree({"bin/busybox": b"BB" * 100})
    (root / "bin/sh").hardlink_to(root / "bin/busybox")
    r = read_initramfs(cpio_newc(root))
    assert r.read("/bin/sh") == r.read("/bin/busybox") == b"BB" * 100


@pytest.mark.parametrize(
    ("files", "generator"),
    [
        (ITOOLS_TREE, Generator.INITRAMFS_TOOLS),
        (
            {"usr/lib/dracut/build-parameter.txt": "--kver x", "init": "link:usr/lib/systemd"},
            Generator.DRACUT,
        ),
        ({"bin/dracut-cmdline": "#!/bin/sh"}, Generator.DRACUT),
        ({"buildconfig": "MODULES=()", "init": "#!/usr/bin/ash"}, Generator.MKINITCPIO),
        ({"config": "HOOKS=(base udev)", "hooks/udev": "run_hook"}, Generator.MKINITCPIO),
        ({"run_all.sh": "#!/bin/bash", "config/block.sh": "x"}, Generator.SUSE_MKINITRD),
        ({"init": "#!/bin/sh"}, Generator.UNKNOWN),
    ],
)
def test_generator_detection(
    files: dict[str, bytes | str | None], generator: Generator, tree: Tree
) -> None:
    assert read_initramfs(cpio_newc(tree(files))).generator is generator


def test_list_keeps_no_content(tree: Tree) -> None:
    r = list_initramfs(compress_cli("gzip", cpio_newc(tree(ITOOLS_TREE))))
    assert r.modules == ITOOLS_MODULES
    with pytest.raises(KeyError, match="not kept"):
        r.read("/init")
    with pytest.raises(KeyError, match="no such member"):
        r.read("/nope")


def test_keep_predicate(tree: Tree) -> None:
    r = read_initramfs(cpio_newc(tree(ITOOLS_TREE)), keep=lambda p: p.startswith("/conf/"))
    assert r.read("/conf/modules") == b"xen-blkfront\n"
    assert not r.has_content("/init")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("virtio-scsi.ko", "virtio_scsi"),
        ("/x/ext4.ko.xz", "ext4"),
        ("jbd2.ko.zst", "jbd2"),
        ("crc-t10dif.ko.gz", "crc_t10dif"),
    ],
)
def test_module_name(name: str, expected: str) -> None:
    assert module_name(name) == expected


# --- corrupt, truncated, hostile -------------------------------------------------------------


@pytest.mark.parametrize("comp", sorted(COMPRESSORS))
def test_truncated_stream_is_parse_error(comp: str, tree: Tree) -> None:
    image = compress_cli(comp, cpio_newc(tree(ITOOLS_TREE)))
    with pytest.raises(ParseError) as err:
        read_initramfs(image[: len(image) * 2 // 3], source="cut.img")
    assert "cut.img" in str(err.value) and "offset" in str(err.value)


def test_truncated_uncompressed_archive(tree: Tree) -> None:
    image = cpio_newc(tree(ITOOLS_TREE))
    cut = image.index(b"\x7fELF") + 10  # inside busybox's data
    with pytest.raises(ParseError, match="truncated cpio archive: input ends inside file data"):
        read_initramfs(image[:cut])


def test_bad_magic_and_odc(tree: Tree) -> None:
    with pytest.raises(ParseError, match="invalid magic 4a554e4b at offset 0"):
        read_initramfs(b"JUNK" * 10)
    odc = subprocess.run(
        ["cpio", "-o", "-H", "odc", "--quiet"],
        cwd=tree({"f": b"x"}),
        input=b"f\n",
        check=True,
        capture_output=True,
    ).stdout
    with pytest.raises(ParseError, match="odc"):
        read_initramfs(odc)


def test_junk_inside_compressed_archive(tree: Tree) -> None:
    body = cpio_newc(tree({"f": b"x"}))
    with pytest.raises(ParseError, match="junk byte 0x4a"):
        read_initramfs(gzip.compress(body + b"JUNK"))


def test_non_hex_header(tree: Tree) -> None:
    body = bytearray(cpio_newc(tree({"f": b"x"})))
    body[10] = ord("g")
    with pytest.raises(ParseError, match="non-hex"):
        read_initramfs(bytes(body))


def test_decompression_bomb_stops_at_limit(tree: Tree) -> None:
    # A 200 MB file of zeros inside a real archive, zstd-compressed to a few kB.
    root = tree({})
    with open(root / "zeros", "wb") as f:
        f.truncate(200 << 20)
    image = compress_cli("zstd", cpio_newc(root))
    assert len(image) < 1 << 20
    with pytest.raises(ParseError, match="exceeds the limit of 16777216 bytes"):
        list_initramfs(image, max_total=16 << 20)


def test_gzip_bomb_without_cpio(tree: Tree) -> None:
    bomb = gzip.compress(b"0" * (64 << 20))
    with pytest.raises(ParseError):
        read_initramfs(bomb, max_total=8 << 20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_parse_or_parse_error(data: bytes) -> None:
    with contextlib.suppress(ParseError):
        read_initramfs(data)


def _base_image() -> bytes:
    need("cpio")
    body = b"".join(
        b"070701"
        + "".join(f"{v:08X}" for v in (i + 1, 0o100644, 0, 0, 1, 0, 5, 0, 0, 0, 0, 6, 0)).encode()
        + f"file{i}".encode()
        + b"\0\0\0\0\0"[: 1 + (4 - (110 + 6) % 4) % 4]
        + b"hello\0\0\0"
        for i in range(3)
    )
    return body


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["gzip", "zstd", "xz", "none"]),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=4),
    st.integers(min_value=0),
)
def test_mutated_archives_parse_or_parse_error(
    comp: str, flips: list[tuple[int, int]], cut: int
) -> None:
    body = _base_image()
    if comp == "gzip":
        data = bytearray(gzip.compress(body))
    elif comp == "zstd":
        data = bytearray(zstandard.ZstdCompressor().compress(body))
    elif comp == "xz":
        import lzma

        data = bytearray(lzma.compress(body))
    else:
        data = bytearray(body)
    for pos, val in flips:
        data[pos % len(data)] = val
    data = data[: len(data) - cut % (len(data) + 1)]
    with contextlib.suppress(ParseError):
        read_initramfs(bytes(data))


def test_base_image_is_valid() -> None:
    r = read_initramfs(_base_image())
    assert [r.read(f"/file{i}") for i in range(3)] == [b"hello"] * 3
