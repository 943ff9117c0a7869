"""The shared copier: an extent stream -> a sparse raw (or qcow2) file, all or nothing.

The output is written under a temporary name in the destination directory, fsynced and renamed
only once the stream ended without error and its size matched; any exception (including
ENOSPC and KeyboardInterrupt) removes the partial file. Memory is bounded by the largest
extent the source yields (XVA: 1 MiB).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from xen2kvm.errors import Xen2KvmError
from xen2kvm.sources.base import Extent

_BLOCK = 64 * 1024  # zero-detection granularity: holes smaller than this are not worth it
_ZERO = bytes(_BLOCK)


class CopyError(Xen2KvmError):
    """The copy failed; nothing was left at the destination."""


@dataclass(frozen=True)
class Progress:
    label: str
    done: int
    total: int
    rate: float  # bytes per second since the start


ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True)
class CopyResult:
    path: str
    format: str
    virtual_size: int
    sha256: str


def _hash_zeros(h: hashlib._Hash, n: int) -> None:
    while n > 0:
        k = min(n, _BLOCK)
        h.update(_ZERO[:k])
        n -= k


def _write_sparse(fd: int, offset: int, data: bytes) -> None:
    """Write ``data`` at ``offset``, leaving all-zero blocks as holes."""
    view = memoryview(data)
    pos = 0
    while pos < len(view):
        piece = view[pos : pos + _BLOCK]
        if piece != _ZERO[: len(piece)]:
            written = 0
            while written < len(piece):
                written += os.pwrite(fd, piece[written:], offset + pos + written)
        pos += len(piece)


def copy_extents(
    extents: Iterable[Extent],
    virtual_size: int,
    dest: Path,
    *,
    label: str = "",
    fmt: str = "raw",
    force: bool = False,
    progress: ProgressFn | None = None,
) -> CopyResult:
    """Write ``extents`` (increasing offsets, gaps = holes) to ``dest``; return its sha256."""
    if fmt not in ("raw", "qcow2"):
        raise CopyError(f"{dest}: unknown output format {fmt!r} (raw or qcow2)")
    if dest.exists() and not force:
        raise CopyError(f"{dest}: exists (use --force to overwrite)")
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    tmp_raw = tmp.with_suffix(".raw") if fmt == "qcow2" else tmp
    fd = os.open(tmp_raw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    h = hashlib.sha256()
    start = time.monotonic()
    try:
        try:
            cursor = 0
            for offset, data in extents:
                if offset < cursor:
                    raise CopyError(f"{label}: extent at offset {offset} goes backwards")
                if offset + len(data) > virtual_size:
                    raise CopyError(
                        f"{label}: data at offset {offset}+{len(data)} beyond the virtual "
                        f"size {virtual_size}"
                    )
                _hash_zeros(h, offset - cursor)
                h.update(data)
                _write_sparse(fd, offset, data)
                cursor = offset + len(data)
                if progress:
                    el = max(time.monotonic() - start, 1e-6)
                    progress(Progress(label, cursor, virtual_size, cursor / el))
            _hash_zeros(h, virtual_size - cursor)
            os.ftruncate(fd, virtual_size)
            os.fsync(fd)
        finally:
            os.close(fd)
        if fmt == "qcow2":
            r = subprocess.run(
                ["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(tmp_raw), str(tmp)],
                capture_output=True,
                text=True,
            )
            if r.returncode != 0:
                raise CopyError(f"{label}: qemu-img convert failed: {r.stderr.strip()}")
            tmp_raw.unlink()
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, dest)
        dirfd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    except BaseException as exc:
        for p in {tmp, tmp_raw}:
            p.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise CopyError(f"{dest}: {exc.strerror or exc}") from exc
        raise
    if progress:
        el = max(time.monotonic() - start, 1e-6)
        progress(Progress(label, virtual_size, virtual_size, virtual_size / el))
    return CopyResult(str(dest), fmt, virtual_size, h.hexdigest())
