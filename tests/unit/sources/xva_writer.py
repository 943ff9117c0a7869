"""Write XVA archives the way XAPI's exporter (stream_vdi.ml send_one) does, for tests."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import xxhash

CHUNK = 1024 * 1024


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data))


def ova_xml(size: int, ref: str = "Ref:7") -> bytes:
    def m(n: str, v: str) -> str:
        return f"<member><name>{n}</name><value>{v}</value></member>"

    vm = (
        m("name_label", "web 1")
        + m("uuid", "3f2504e0-4f89-11d3-9a0c-0305e82c3301")
        + m("memory_static_max", str(512 * CHUNK))
        + m("VCPUs_at_startup", "2")
        + m("PV_bootloader", "pygrub")
        + m("PV_bootloader_args", "")
        + m("VBDs", "<array><data><value>Ref:20</value><value>Ref:21</value></data></array>")
        + m("VIFs", "<array><data><value>Ref:30</value></data></array>")
    )
    vbd = (
        m("userdevice", "0")
        + m("type", "Disk")
        + m("VDI", ref)
        + m("bootable", "<boolean>1</boolean>")
        + m("empty", "<boolean>0</boolean>")
    )
    cd = (
        m("userdevice", "3")
        + m("type", "CD")
        + m("VDI", "OpaqueRef:NULL")
        + m("empty", "<boolean>1</boolean>")
    )
    vdi = m("virtual_size", str(size))
    vif = m("device", "0") + m("MAC", "00:16:3e:12:34:56") + m("network", "Ref:40")
    net = m("bridge", "xenbr0")
    objs = ""
    for cls, r, body in (
        ("VM", "Ref:1", vm),
        ("VBD", "Ref:20", vbd),
        ("VBD", "Ref:21", cd),
        ("VDI", ref, vdi),
        ("VIF", "Ref:30", vif),
        ("network", "Ref:40", net),
    ):
        objs += (
            "<value><struct>"
            + m("class", cls)
            + m("id", r)
            + m("snapshot", f"<struct>{body}</struct>")
            + "</struct></value>"
        )
    return (
        f"<value><struct>{m('version', '<struct></struct>')}"
        f"{m('objects', f'<array><data>{objs}</data></array>')}</struct></value>"
    ).encode()


def write_xva(
    path: Path,
    disk: bytes,
    *,
    ref: str = "Ref:7",
    mode: str = "w",
    keepalive_at: frozenset[int] = frozenset(),
    sha1: bool = False,
) -> None:
    """Chunks as send_one streams them; ``keepalive_at``: chunk numbers where the 5 s timer
    fires (an empty block takes the number, its offset moves to the next number)."""
    with tarfile.open(path, mode) as tf:  # type: ignore[call-overload]
        _add(tf, "ova.xml", ova_xml(len(disk), ref))
        num, off = 0, 0
        while off < len(disk):
            data = disk[off : off + CHUNK]
            first_or_last = num == 0 or off + len(data) >= len(disk)
            name = f"{ref}/{num:08d}"
            if num in keepalive_at and not first_or_last:
                _add(tf, name, b"")
                _add(tf, name + ".xxhash", f"{xxhash.xxh64_intdigest(b''):016X}".encode())
                num += 1
                continue
            if first_or_last or data.strip(b"\0"):
                _add(tf, name, data)
                if sha1:
                    _add(tf, name + ".checksum", hashlib.sha1(data).hexdigest().encode())
                else:
                    _add(tf, name + ".xxhash", f"{xxhash.xxh64_intdigest(data):016X}".encode())
            num += 1
            off += CHUNK
