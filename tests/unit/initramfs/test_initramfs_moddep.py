"""Module metadata, dependency closure and kmod's binary index."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xen2kvm.errors import ParseError
from xen2kvm.guest.memory import MemoryGuest
from xen2kvm.initramfs.moddep import (
    load_module_index,
    module_closure,
    modules_dep_bin,
    parse_modules_dep,
    read_kmod_index,
    write_kmod_index,
)

V = "5.10.0-test"
D = f"/lib/modules/{V}"
S = "kernel/drivers/scsi"
MODULES_DEP = f"""\
{S}/virtio_scsi.ko.xz: {S}/scsi_mod.ko.xz {S}/scsi_common.ko.xz \
kernel/drivers/virtio/virtio.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/scsi/scsi_mod.ko.xz: kernel/drivers/scsi/scsi_common.ko.xz
kernel/drivers/scsi/scsi_common.ko.xz:
kernel/drivers/virtio/virtio.ko.xz:
kernel/drivers/virtio/virtio_ring.ko.xz:
{S}/sd_mod.ko.xz: {S}/scsi_mod.ko.xz {S}/scsi_common.ko.xz
kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz kernel/fs/jbd2/jbd2.ko.xz
kernel/fs/jbd2/jbd2.ko.xz:
kernel/lib/crc16.ko.xz:
kernel/crypto/crc32c_generic.ko.xz:
kernel/drivers/net/xen-netfront.ko.xz:
"""


def guest() -> MemoryGuest:
    return MemoryGuest(
        {
            f"{D}/modules.dep": MODULES_DEP,
            f"{D}/modules.builtin": (
                "kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/tty/serial/8250/8250.ko\n"
            ),
            f"{D}/modules.softdep": "# comment\nsoftdep ext4 pre: crc32c\n",
            f"{D}/modules.alias": "alias crc32c crc32c_generic\nalias pci:v00001AF4d* virtio_pci\n",
        }
    )


def test_closure_orders_dependencies_first() -> None:
    idx = load_module_index(guest(), V)
    c = module_closure(idx, ["virtio_scsi", "virtio_pci", "sd_mod", "nosuch", "xen-netfront"])
    assert c.names == [
        "virtio_ring",
        "virtio",
        "scsi_common",
        "scsi_mod",
        "virtio_scsi",
        "sd_mod",
        "xen_netfront",
    ]
    assert c.builtin == ["virtio_pci"]
    assert c.missing == ["nosuch"]


def test_softdep_through_alias() -> None:
    idx = load_module_index(guest(), V)
    assert module_closure(idx, ["ext4"]).names == ["crc32c_generic", "jbd2", "crc16", "ext4"]
    assert module_closure(idx, ["ext4"], softdeps=False).names == ["jbd2", "crc16", "ext4"]


def test_index_without_modules_dep_lists_files() -> None:
    g = MemoryGuest({f"/usr/lib/modules/{V}/kernel/a/virtio-net.ko.zst": b"x"})
    idx = load_module_index(g, V)
    assert idx.directory == f"/usr/lib/modules/{V}"
    assert idx.modules["virtio_net"].path == "kernel/a/virtio-net.ko.zst"
    assert load_module_index(g, "other").directory == ""


def test_bad_modules_dep_is_parse_error() -> None:
    with pytest.raises(ParseError, match=r"modules\.dep:2"):
        parse_modules_dep("a.ko:\nno colon here\n")


def test_kmod_index_round_trip() -> None:
    deps = parse_modules_dep(MODULES_DEP)
    raw = modules_dep_bin(deps.values())
    back = read_kmod_index(raw)
    assert set(back) == set(deps)
    assert back["virtio_scsi"] == [(0, deps["virtio_scsi"].line())]
    assert back["xen_netfront"][0][1] == "kernel/drivers/net/xen-netfront.ko.xz:"


@given(
    st.dictionaries(
        st.text("abcxyz_0", min_size=0, max_size=8),
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=5),
    )
)
@settings(max_examples=200, deadline=None)
def test_kmod_index_any_keys(entries: dict[str, str]) -> None:
    raw = write_kmod_index({k: [(1, v)] for k, v in entries.items()})
    assert read_kmod_index(raw) == {k: [(1, v)] for k, v in entries.items()}


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_kmod_index_reader_garbage(data: bytes) -> None:
    with contextlib.suppress(ParseError):
        read_kmod_index(b"\xb0\x07\xf4\x57\x00\x02\x00\x01" + data)


def test_real_depmod_index_is_reproduced_byte_for_byte() -> None:
    """Our writer, given the entries of the host's real modules.dep.bin (made by depmod),
    writes the same bytes; and the entries agree with the text modules.dep."""
    found = sorted(Path("/lib/modules").glob("*/modules.dep.bin"))
    if not found:
        pytest.skip("no /lib/modules/*/modules.dep.bin on this machine (linux-image-amd64)")
    raw = found[0].read_bytes()
    entries = read_kmod_index(raw)
    text = parse_modules_dep((found[0].parent / "modules.dep").read_text())
    assert {k: v[0][1] for k, v in entries.items()} == {k: d.line() for k, d in text.items()}
    assert write_kmod_index(entries) == raw


def test_real_kmod_reads_our_index(tmp_path: Path) -> None:
    if shutil.which("modprobe") is None:
        pytest.skip("kmod's modprobe is not installed")
    moddir = tmp_path / "lib/modules" / V
    deps = parse_modules_dep(MODULES_DEP)
    for d in deps.values():
        (moddir / d.path).parent.mkdir(parents=True, exist_ok=True)
        (moddir / d.path).write_bytes(b"")
    (moddir / "modules.dep.bin").write_bytes(modules_dep_bin(deps.values()))
    out = subprocess.run(
        ["modprobe", "-d", str(tmp_path), "-S", V, "--show-depends", "virtio_scsi"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    loaded = [line.split()[1].removeprefix(str(moddir) + "/") for line in out.splitlines()]
    assert loaded == [
        "kernel/drivers/virtio/virtio_ring.ko.xz",
        "kernel/drivers/virtio/virtio.ko.xz",
        "kernel/drivers/scsi/scsi_common.ko.xz",
        "kernel/drivers/scsi/scsi_mod.ko.xz",
        "kernel/drivers/scsi/virtio_scsi.ko.xz",
    ]
