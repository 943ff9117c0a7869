from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import zstandard

from tests.unit.sources.xva_writer import CHUNK, write_xva
from xen2kvm.sources.copy import copy_extents
from xen2kvm.sources.xva import XvaError, XvaSource


def _disk() -> bytes:
    d = bytearray(5 * CHUNK + 12345)
    d[0:512] = os.urandom(512)
    d[2 * CHUNK + 7 : 2 * CHUNK + 9000] = os.urandom(8993)
    d[-100:] = os.urandom(100)
    return bytes(d)


def _import(src: Path, out: Path) -> str:
    s = XvaSource(src)
    info = s.describe()
    (disk,) = info.disks
    with s.open_disk(disk) as ex:
        return copy_extents(ex, disk.virtual_size, out / "d.img").sha256


@pytest.mark.parametrize("mode", ["w", "w:gz"])
@pytest.mark.parametrize("kw", [{}, {"sha1": True}, {"keepalive_at": frozenset({1, 3})}])
def test_roundtrip(tmp_path: Path, mode: str, kw: dict[str, object]) -> None:
    d = _disk()
    write_xva(tmp_path / "vm.xva", d, mode=mode, **kw)  # type: ignore[arg-type]
    assert _import(tmp_path / "vm.xva", tmp_path) == hashlib.sha256(d).hexdigest()
    assert (tmp_path / "d.img").read_bytes() == d


def test_zstd_and_domain(tmp_path: Path) -> None:
    d = _disk()
    write_xva(tmp_path / "p.xva", d)
    (tmp_path / "vm.xva").write_bytes(
        zstandard.ZstdCompressor().compress((tmp_path / "p.xva").read_bytes())
    )
    info = XvaSource(tmp_path / "vm.xva").describe()
    assert info.domain is not None
    assert (info.domain.name, info.domain.vcpus, info.domain.memory_mib) == ("web-1", 2, 512)
    assert info.domain.nics[0].mac == "00:16:3e:12:34:56" and info.domain.nics[0].bridge == "xenbr0"
    assert info.domain.boot.bootloader == "pygrub"
    assert [x.xen_name for x in info.disks] == ["xvda"] and info.disks[0].bootable
    assert _import(tmp_path / "vm.xva", tmp_path) == hashlib.sha256(d).hexdigest()


def test_checksum_mismatch_leaves_nothing(tmp_path: Path) -> None:
    d = _disk()
    write_xva(tmp_path / "vm.xva", d)
    raw = bytearray((tmp_path / "vm.xva").read_bytes())
    i = raw.find(d[:512])
    raw[i] ^= 0xFF
    (tmp_path / "vm.xva").write_bytes(raw)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(XvaError, match="00000000: checksum mismatch"):
        _import(tmp_path / "vm.xva", out)
    assert list(out.iterdir()) == []


def test_truncated(tmp_path: Path) -> None:
    write_xva(tmp_path / "vm.xva", _disk())
    raw = (tmp_path / "vm.xva").read_bytes()
    (tmp_path / "vm.xva").write_bytes(raw[: len(raw) // 2])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(XvaError):
        _import(tmp_path / "vm.xva", out)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("kind", ["dotdot", "abs", "symlink"])
def test_hostile_members(tmp_path: Path, kind: str) -> None:
    write_xva(tmp_path / "good.xva", _disk())
    with tarfile.open(tmp_path / "good.xva") as src, tarfile.open(tmp_path / "vm.xva", "w") as tf:
        ova = src.getmember("ova.xml")
        tf.addfile(ova, src.extractfile(ova))
        ti = tarfile.TarInfo(
            {"dotdot": "Ref:7/../../x", "abs": "/etc/x", "symlink": "Ref:7/00000000"}[kind]
        )
        if kind == "symlink":
            ti.type, ti.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(ti)
    with pytest.raises(XvaError, match=r"unsafe member|link or device"):
        _import(tmp_path / "vm.xva", tmp_path)
    assert not (tmp_path / "d.img").exists()


def test_cli_json(tmp_path: Path) -> None:
    d = _disk()
    write_xva(tmp_path / "vm.xva", d)
    out = tmp_path / "out"
    out.mkdir()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "xen2kvm",
            "import",
            str(tmp_path / "vm.xva"),
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["disks"][0]["sha256"] == hashlib.sha256(d).hexdigest()
    assert doc["domain"]["name"] == "web-1"
    r2 = subprocess.run(
        [sys.executable, "-m", "xen2kvm", "import", str(tmp_path / "vm.xva"), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert r2.returncode == 2 and "exists" in r2.stderr


def _rewrite(good: Path, bad: Path, edit: object) -> None:
    """Copy ``good``'s members into ``bad`` through ``edit(list of (TarInfo, bytes))``."""
    with tarfile.open(good) as src:
        members = [(m, src.extractfile(m).read()) for m in src.getmembers()]  # type: ignore[union-attr]
    members = edit(members)  # type: ignore[operator]
    with tarfile.open(bad, "w") as tf:
        for m, data in members:
            m.size = len(data) if m.isfile() else 0
            tf.addfile(m, io.BytesIO(data) if m.isfile() else None)


def _swap_chunks(ms: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
    # Move the last chunk (and its checksum) before the first one: names out of order.
    return [ms[0], *ms[-2:], *ms[1:-2]]


def _dup_chunk(ms: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [ms[0], ms[1], ms[2], *ms[1:]]


def _big_chunk(ms: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
    import xxhash

    m, data = ms[1]
    data = data + b"\1"
    return [ms[0], (m, data), (ms[2][0], f"{xxhash.xxh64_intdigest(data):016X}".encode()),
            *ms[3:]]


def _device(ms: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
    dev = tarfile.TarInfo("Ref:7/00000001")
    dev.type = tarfile.CHRTYPE
    dev.devmajor, dev.devminor = 1, 3
    return [ms[0], ms[1], ms[2], (dev, b""), *ms[3:]]


def _beyond(ms: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
    # A chunk numbered past the virtual size that ova.xml states.
    import xxhash

    m = tarfile.TarInfo("Ref:7/00000099")
    return [*ms[:-2], (m, b"x"), (tarfile.TarInfo("Ref:7/00000099.xxhash"),
            f"{xxhash.xxh64_intdigest(b'x'):016X}".encode()), *ms[-2:]]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_swap_chunks, "out of order or duplicated"),
        (_dup_chunk, "out of order or duplicated"),
        (_big_chunk, "over 1 MiB"),
        (_device, "link or device"),
        (_beyond, "beyond the virtual size"),
    ],
)
def test_bad_chunks_named_and_nothing_left(tmp_path: Path, edit: object, message: str) -> None:
    write_xva(tmp_path / "good.xva", _disk())
    _rewrite(tmp_path / "good.xva", tmp_path / "vm.xva", edit)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(XvaError, match=message) as exc:
        _import(tmp_path / "vm.xva", out)
    assert "vm.xva" in str(exc.value)
    assert list(out.iterdir()) == []
