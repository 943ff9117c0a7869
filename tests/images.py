"""Build real disk images from fixture trees, for tests (no root needed).

A fixture tree is a mapping ``guest path -> node``, compatible with the trees of
``tests/fixtures/guests.py`` (:data:`xen2kvm.guest.memory.Content`): ``str``/``bytes`` for a
regular file, ``None`` or :class:`Dir` for a directory, :class:`Symlink`, ``Special(FIFO)``
(other special files are skipped: device nodes need root), plus :class:`Sparse` (a file that
is one big hole) and :class:`File` (content with a mode).

Images are made with the same tools an administrator would use: ``mkfs.ext4 -d`` (filesystem
straight from a directory, keeps symlinks, FIFOs and sparseness), ``sfdisk`` on a file for
MBR/GPT tables (filesystems written at their partition's offset with ``mkfs.ext4 -E
offset=``), libguestfs for LVM (the LVM tools need block devices, hence root,
on the host), and ``qemu-img convert`` for qcow2.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from xen2kvm.guest.base import FileKind
from xen2kvm.guest.memory import Special, Symlink

__all__ = ["FIFO", "Dir", "File", "Part", "Sparse", "Special", "Symlink", "Tree"]


@dataclass(frozen=True)
class Dir:
    mode: int = 0o755


@dataclass(frozen=True)
class Sparse:
    """A file of ``size`` bytes with no data blocks (a hole), e.g. a 2 GB "fstab"."""

    size: int


@dataclass(frozen=True)
class File:
    content: bytes | str
    mode: int = 0o644


Node = str | bytes | None | Dir | Symlink | Special | Sparse | File
FIFO = Special(FileKind.FIFO)
Tree = Mapping[str, Node]

MiB = 1024 * 1024


def write_tree(tree: Tree, dest: Path) -> Path:
    """Materialise a fixture tree under ``dest`` (created if needed); parents are implied."""
    dest.mkdir(parents=True, exist_ok=True)
    for path, node in sorted(tree.items()):
        target = dest / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if node is None or isinstance(node, Dir):
            target.mkdir(exist_ok=True)
            target.chmod(node.mode if node is not None else 0o755)
        elif isinstance(node, Symlink):
            os.symlink(node.target, target)
        elif isinstance(node, Special):
            if node.kind is FileKind.FIFO:
                os.mkfifo(target)
        elif isinstance(node, Sparse):
            with open(target, "wb") as f:
                f.truncate(node.size)
        else:
            content = node.content if isinstance(node, File) else node
            target.write_bytes(content.encode() if isinstance(content, str) else content)
            if isinstance(node, File):
                target.chmod(node.mode)
    return dest


def debian_tree(
    *,
    fstab: str | Node,
    hostname: str = "deb12",
    version: str = "12.5",
    extra: Tree | None = None,
) -> dict[str, Node]:
    """The smallest tree libguestfs inspection recognises as a Debian guest."""
    major = version.split(".")[0]
    tree: dict[str, Node] = {
        "/etc/debian_version": f"{version}\n",
        "/etc/os-release": (
            f'PRETTY_NAME="Debian GNU/Linux {major} (bookworm)"\nNAME="Debian GNU/Linux"\n'
            f'VERSION_ID="{major}"\nVERSION="{major} (bookworm)"\nID=debian\n'
        ),
        "/etc/hostname": f"{hostname}\n",
        "/etc/fstab": fstab,
        "/bin": Dir(),
        "/sbin": Dir(),
        "/usr/bin": Dir(),
        "/usr/sbin": Dir(),
        "/boot": Dir(),
        "/home": Dir(),
        "/var": Dir(),
        "/root": Dir(0o700),
        "/etc/shadow": File("root:*:19000:0:99999:7:::\n", 0o640),
    }
    tree.update(extra or {})
    return tree


def _run(argv: Sequence[str], **kw: object) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, **kw)  # type: ignore[call-overload]


def _mkfs_args(label: str | None, uuid: str | None) -> list[str]:
    args = ["-q", "-F", "-t", "ext4"]
    if label:
        args += ["-L", label]
    if uuid:
        args += ["-U", uuid]
    return args


def make_ext4(
    tree: Tree,
    out: Path,
    *,
    size_mb: int = 32,
    label: str | None = None,
    uuid: str | None = None,
) -> Path:
    """A bare ext4 filesystem image (the Linode Xen layout: the disk *is* the filesystem)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = write_tree(tree, Path(tmp) / "tree")
        if out.exists():
            out.unlink()
        _run(["mkfs.ext4", *_mkfs_args(label, uuid), "-d", str(src), str(out), f"{size_mb}M"])
    return out


@dataclass(frozen=True)
class Part:
    """A partition: an ext4 from ``tree``, swap, or left empty (``kind``)."""

    size_mb: int
    tree: Tree | None = None
    kind: str = "ext4"  # ext4 | swap | empty | bios | lvm
    label: str | None = None
    uuid: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


_SFDISK_TYPES = {
    "dos": {"ext4": "83", "swap": "82", "empty": "83", "lvm": "8e"},
    "gpt": {
        "ext4": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
        "swap": "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F",
        "empty": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
        "bios": "21686148-6449-6E6F-744E-656564454649",
        "lvm": "E6D6D379-F507-44C2-A23C-238F2A3DF928",
    },
}


def make_partitioned(out: Path, parts: Sequence[Part], *, table: str = "dos") -> list[int]:
    """A disk with an MBR (``dos``) or GPT table; returns each partition's byte offset."""
    total = 1 + sum(p.size_mb for p in parts) + 1
    if out.exists():
        out.unlink()
    with open(out, "wb") as f:
        f.truncate(total * MiB)
    script = [f"label: {table}"]
    start = MiB // 512
    offsets: list[int] = []
    for p in parts:
        script.append(
            f"start={start}, size={p.size_mb * MiB // 512}, type={_SFDISK_TYPES[table][p.kind]}"
        )
        offsets.append(start * 512)
        start += p.size_mb * MiB // 512
    _run(["sfdisk", "-q", "--no-reread", "--no-tell-kernel", str(out)],
         input="\n".join(script) + "\n", text=True)  # fmt: skip
    for p, offset in zip(parts, offsets, strict=True):
        if p.kind == "ext4":
            with tempfile.TemporaryDirectory() as tmp:
                args = [*_mkfs_args(p.label, p.uuid), "-E", f"offset={offset}"]
                if p.tree is not None:
                    args += ["-d", str(write_tree(p.tree, Path(tmp) / "tree"))]
                _run(["mkfs.ext4", *args, str(out), f"{p.size_mb * 1024}k"])
        elif p.kind == "swap":
            with tempfile.TemporaryDirectory() as tmp:
                swap = Path(tmp) / "swap"
                with open(swap, "wb") as f:
                    f.truncate(p.size_mb * MiB)
                cmd = ["mkswap", str(swap)]
                if p.uuid:
                    cmd[1:1] = ["-U", p.uuid]
                _run(cmd)
                with open(swap, "rb") as src, open(out, "r+b") as dst:
                    dst.seek(offset)
                    dst.write(src.read())
    return offsets


def make_lvm(
    out: Path,
    root_tree: Tree,
    *,
    boot_tree: Tree | None = None,
    boot_uuid: str | None = None,
    vg: str = "vg0",
    lv: str = "root",
    size_mb: int = 96,
) -> Path:
    """An MBR disk: sda1 an ext4 /boot, sda2 an LVM PV with ``vg``/``lv`` holding the root.

    The LVM part is made inside a libguestfs appliance (one launch): the host's LVM tools
    need a block device, which would need root.
    """
    import guestfs

    boot_mb = 16
    make_partitioned(
        out,
        [Part(boot_mb, boot_tree or {}, label="boot", uuid=boot_uuid), Part(size_mb, kind="lvm")],
    )
    with tempfile.TemporaryDirectory() as tmp:
        tarball = Path(tmp) / "root.tar"
        src = write_tree(root_tree, Path(tmp) / "tree")
        with tarfile.open(tarball, "w") as tar:
            for child in sorted(src.iterdir()):
                tar.add(child, arcname=child.name)
        g = guestfs.GuestFS(python_return_dict=True, close_on_exit=False)
        try:
            g.set_backend("direct")
            g.set_backend_settings(["force_tcg"])
            g.add_drive_opts(str(out), format="raw", readonly=False)
            g.launch()
            g.pvcreate("/dev/sda2")
            g.vgcreate(vg, ["/dev/sda2"])
            g.lvcreate_free(lv, vg, 100)
            g.mkfs("ext4", f"/dev/{vg}/{lv}")
            g.mount(f"/dev/{vg}/{lv}", "/")
            g.tar_in(str(tarball), "/")
            g.umount_all()
            g.shutdown()
        finally:
            g.close()
    return out


def make_qcow2(raw: Path, out: Path) -> Path:
    if out.exists():
        out.unlink()
    _run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(out)])
    return out


def debugfs_cat(image: Path, path: str) -> bytes:
    """A file's content read straight from an ext image by debugfs (no mount, no FUSE)."""
    proc = subprocess.run(
        ["debugfs", "-R", f"cat {path}", str(image)], check=True, capture_output=True
    )
    return proc.stdout
