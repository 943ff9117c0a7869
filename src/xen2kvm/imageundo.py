"""Block-level safety for disk images: convert into an overlay, commit with an undo record.

Converting an image file in place through a filesystem driver changes more than the files:
ext4 allocates new inodes and blocks, updates its journal and timestamps. The journal inside
the guest undoes the *files*; this module makes the *image* restorable byte for byte, and
makes a crash during conversion harmless:

1. every disk gets a qcow2 overlay backed by it (``qemu-img create -b``); the conversion writes
   only into the overlays. Killed at any point before step 3, the original is untouched.
2. the overlay's allocated clusters (``qemu-img map``) are exactly the regions that changed.
   For a raw image their original bytes are saved next to it in ``IMAGE.xen2kvm-undo.N``; a
   qcow2 image gets an internal snapshot instead (``qemu-img snapshot -c``).
3. ``qemu-img commit`` writes the changed clusters into the image; the undo record then gets
   the hashes of the new content.

``rollback`` restores the saved regions if the image still holds exactly what the conversion
wrote (hashes match), newest undo record first; if the guest has changed since (it booted),
it falls back to the file-level journal inside the guest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from xen2kvm.errors import GuestError, GuestReadOnly, TransactionError

UNDO_MAGIC = b"XEN2KVM-UNDO\n"
SNAPSHOT_PREFIX = "xen2kvm-before-"
_CHUNK = 1 << 20


def _run(argv: Sequence[str], what: str) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise GuestError(f"{what}: {argv[0]} {argv[1]}: {last}")
    return proc.stdout


def image_format(path: Path) -> str:
    info = json.loads(_run(["qemu-img", "info", "--output=json", str(path)], str(path)))
    return str(info.get("format", "raw"))


@dataclass(frozen=True)
class Region:
    offset: int
    length: int


def changed_regions(overlay: Path) -> list[Region]:
    """Regions the overlay holds itself (depth 0): what the conversion wrote."""
    out = _run(["qemu-img", "map", "--output=json", str(overlay)], str(overlay))
    regions: list[Region] = []
    for item in json.loads(out):
        if item.get("depth") == 0 and (item.get("data") or item.get("zero")):
            start, length = int(item["start"]), int(item["length"])
            if regions and regions[-1].offset + regions[-1].length == start:
                last = regions.pop()
                regions.append(Region(last.offset, last.length + length))
            else:
                regions.append(Region(start, length))
    return regions


def _read_region(fd: int, region: Region) -> bytes:
    chunks = []
    done = 0
    while done < region.length:
        chunk = os.pread(fd, min(_CHUNK, region.length - done), region.offset + done)
        if not chunk:  # beyond the end of a file that grew: reads as zeros
            chunks.append(b"\0" * (region.length - done))
            break
        chunks.append(chunk)
        done += len(chunk)
    return b"".join(chunks)


def undo_files(image: Path) -> list[Path]:
    """Undo records of a raw image, oldest first."""
    found = []
    for p in image.parent.glob(image.name + ".xen2kvm-undo.*"):
        suffix = p.name.rsplit(".", 1)[-1]
        if suffix.isdigit():
            found.append((int(suffix), p))
    return [p for _n, p in sorted(found)]


def _write_undo(path: Path, header: dict[str, object], payload: list[bytes]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    head = json.dumps(header).encode()
    with open(tmp, "wb") as f:
        f.write(UNDO_MAGIC + struct.pack(">Q", len(head)) + head)
        for data in payload:
            f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _read_undo(path: Path) -> tuple[dict[str, object], int]:
    with open(path, "rb") as f:
        if f.read(len(UNDO_MAGIC)) != UNDO_MAGIC:
            raise TransactionError(f"{path}: not a xen2kvm undo record")
        (n,) = struct.unpack(">Q", f.read(8))
        header = json.loads(f.read(n))
        return header, len(UNDO_MAGIC) + 8 + n


class Staging:
    """Overlays for a guest's disks, to convert into and then commit or discard."""

    def __init__(self, images: Sequence[Path], workdir: Path) -> None:
        self.images = [Path(p).resolve() for p in images]
        self.formats = [image_format(p) for p in self.images]
        for image in self.images:
            if not image.stat().st_mode & 0o222 or not os.access(image, os.W_OK):
                raise GuestReadOnly(f"{image}: the image file is read-only; cannot convert it")
            if not os.access(image.parent, os.W_OK):
                raise GuestError(f"{image.parent}: cannot write the undo record next to the image")
        self.overlays: list[Path] = []
        for n, (image, fmt) in enumerate(zip(self.images, self.formats, strict=True)):
            overlay = workdir / f"disk{n}.qcow2"
            _run(
                [
                    "qemu-img",
                    "create",
                    "-q",
                    "-f",
                    "qcow2",
                    "-b",
                    str(image),
                    "-F",
                    fmt,
                    str(overlay),
                ],
                str(image),
            )
            self.overlays.append(overlay)

    def commit(self, *, keep_undo: bool = True) -> list[str]:
        """Write the overlays' changes into the images, keeping an undo record of each
        (``keep_undo=False`` for a rollback, whose changes are not themselves undone)."""
        records: list[str] = []
        for image, fmt, overlay in zip(self.images, self.formats, self.overlays, strict=True):
            regions = changed_regions(overlay)
            if not regions:
                continue
            if not keep_undo:
                _run(["qemu-img", "commit", "-q", "-f", "qcow2", "-d", str(overlay)], str(overlay))
                continue
            if fmt == "qcow2":
                name = SNAPSHOT_PREFIX + str(len(_snapshots(image)) + 1)
                _run(["qemu-img", "snapshot", "-c", name, str(image)], str(image))
                records.append(f"{image}@{name}")
            else:
                records.append(str(self._save_raw_undo(image, regions)))
            _run(["qemu-img", "commit", "-q", "-f", "qcow2", "-d", str(overlay)], str(overlay))
            if fmt != "qcow2":
                self._seal_raw_undo(image)
        return records

    def _save_raw_undo(self, image: Path, regions: list[Region]) -> Path:
        existing = undo_files(image)
        n = int(existing[-1].name.rsplit(".", 1)[-1]) + 1 if existing else 1
        path = image.with_name(f"{image.name}.xen2kvm-undo.{n}")
        fd = os.open(image, os.O_RDONLY)
        try:
            payload = [_read_region(fd, r) for r in regions]
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        header: dict[str, object] = {
            "format": 1,
            "state": "committing",
            "image_size": size,
            "regions": [[r.offset, r.length, ""] for r in regions],
        }
        _write_undo(path, header, payload)
        return path

    def _seal_raw_undo(self, image: Path) -> None:
        path = undo_files(image)[-1]
        header, start = _read_undo(path)
        regions = [list(r) for r in header["regions"]]  # type: ignore[attr-defined]
        fd = os.open(image, os.O_RDONLY)
        try:
            for r in regions:
                r[2] = hashlib.sha256(_read_region(fd, Region(int(r[0]), int(r[1])))).hexdigest()
        finally:
            os.close(fd)
        with open(path, "rb") as f:
            f.seek(start)
            payload = [f.read()]
        header["regions"] = regions
        header["state"] = "committed"
        _write_undo(path, header, payload)


def _snapshots(image: Path) -> list[str]:
    info = json.loads(_run(["qemu-img", "info", "--output=json", str(image)], str(image)))
    return [str(s.get("name", "")) for s in info.get("snapshots", [])]


@contextlib.contextmanager
def staged(images: Sequence[Path]) -> Iterator[Staging]:
    """Overlays in a private temporary directory, removed on exit whatever happens."""
    workdir = Path(tempfile.mkdtemp(prefix="xen2kvm-stage-"))
    try:
        yield Staging(images, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _matches(fd: int, regions: object) -> bool:
    """The image still holds exactly what the conversion wrote in every region."""
    for off, length, sha in regions:  # type: ignore[attr-defined]
        if hashlib.sha256(_read_region(fd, Region(off, length))).hexdigest() != sha:
            return False
    return True


@dataclass(frozen=True)
class ImageRollback:
    restored: list[str]  # undo records applied
    stale: list[str]  # records not applied: the image changed since the conversion


def rollback_images(images: Sequence[Path]) -> ImageRollback:
    """Restore each image from its newest-first undo records, while they still match."""
    restored: list[str] = []
    stale: list[str] = []
    for image in (Path(p).resolve() for p in images):
        if image_format(image) == "qcow2":
            snaps = [s for s in _snapshots(image) if s.startswith(SNAPSHOT_PREFIX)]
            if snaps:
                first = sorted(snaps, key=lambda s: int(s.rsplit("-", 1)[-1]))[0]
                _run(["qemu-img", "snapshot", "-a", first, str(image)], str(image))
                for s in snaps:
                    _run(["qemu-img", "snapshot", "-d", s, str(image)], str(image))
                restored.append(f"{image}@{first}")
            continue
        for path in reversed(undo_files(image)):
            header, start = _read_undo(path)
            regions = header["regions"]  # list of [offset, length, sha_new]
            fd = os.open(image, os.O_RDWR)
            try:
                if header.get("state") == "committed" and not _matches(fd, regions):
                    stale.append(str(path))
                    break  # older records cannot apply over a changed image either
                with open(path, "rb") as f:
                    f.seek(start)
                    for off, length, _sha in regions:  # type: ignore[attr-defined]
                        data = f.read(length)
                        os.pwrite(fd, data, off)
                size = int(header.get("image_size", 0))  # type: ignore[call-overload]
                if size and os.fstat(fd).st_size > size:
                    os.ftruncate(fd, size)
                os.fsync(fd)
            finally:
                os.close(fd)
            path.unlink()
            restored.append(str(path))
    return ImageRollback(restored=restored, stale=stale)
