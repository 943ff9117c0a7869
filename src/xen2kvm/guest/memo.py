"""A read-memoising view of a guest, for the read-heavy phases (facts, checks, planning).

Facts and checks ask the same questions many times: every check that edits a kernel command
line looks for the same seven GRUB legacy paths, and each lookup resolves the path one
component at a time (a stat per component; on a FUSE-mounted image every stat is a round trip
to the filesystem server). Measured on the fixture guests, an inspection made ~835 guest calls
for ~244 distinct questions (see bench/inspect.py and docs/benchmarks.md).

The view answers repeated questions from memory. It is only correct while nobody else changes
the guest, which holds for an offline guest between the transaction's writes: every write made
through the view forgets everything it knew, and the transaction (the only writer) is given the
view or the underlying guest, never both at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from xen2kvm.errors import GuestPathError
from xen2kvm.guest.base import DEFAULT_READ_LIMIT, FileStat, FilesystemInfo, Guest

T = TypeVar("T")

#: Larger reads (big initramfs images) are not kept: memory matters more than one re-read.
_MAX_MEMO_BYTES = 16 * 1024 * 1024


class MemoGuest(Guest):
    """``guest`` with its answers to reads remembered until the next write."""

    def __init__(self, guest: Guest) -> None:
        self.inner = guest
        self.name = guest.name
        self.read_only = guest.read_only
        self._memo: dict[tuple[str, str, int], object] = {}

    def _ask(self, op: str, path: str, arg: int, fn: Callable[[], T]) -> T:
        key = (op, path, arg)
        try:
            hit = self._memo[key]
        except KeyError:
            try:
                hit = fn()
            except GuestPathError as exc:
                hit = exc
            if not (isinstance(hit, bytes) and len(hit) > _MAX_MEMO_BYTES):
                self._memo[key] = hit
        if isinstance(hit, GuestPathError):
            # A fresh traceback each time; the remembered error is otherwise the same object.
            raise hit.with_traceback(None)
        return hit  # type: ignore[return-value]

    def forget(self) -> None:
        """Drop everything remembered (after the guest was changed by other means)."""
        self._memo.clear()

    # --- reading ---------------------------------------------------------------------------

    def lstat(self, path: str) -> FileStat:
        return self._ask("lstat", path, 0, lambda: self.inner.lstat(path))

    def stat(self, path: str) -> FileStat:
        return self._ask("stat", path, 0, lambda: self.inner.stat(path))

    def read_bytes(self, path: str, *, limit: int = DEFAULT_READ_LIMIT) -> bytes:
        return self._ask("read", path, limit, lambda: self.inner.read_bytes(path, limit=limit))

    def listdir(self, path: str) -> list[str]:
        return list(self._ask("listdir", path, 0, lambda: self.inner.listdir(path)))

    def readlink(self, path: str) -> str:
        return self._ask("readlink", path, 0, lambda: self.inner.readlink(path))

    def realpath(self, path: str) -> str:
        return self._ask("realpath", path, 0, lambda: self.inner.realpath(path))

    def getxattrs(self, path: str) -> dict[str, bytes]:
        return self.inner.getxattrs(path)

    # --- writing: through to the guest, then forget -----------------------------------------

    def write_bytes(
        self,
        path: str,
        data: bytes,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
    ) -> None:
        self._memo.clear()
        self.inner.write_bytes(path, data, mode=mode, uid=uid, gid=gid)

    def remove(self, path: str) -> None:
        self._memo.clear()
        self.inner.remove(path)

    def symlink(self, target: str, path: str) -> None:
        self._memo.clear()
        self.inner.symlink(target, path)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._memo.clear()
        self.inner.mkdir(path, mode)

    def rmdir(self, path: str) -> None:
        self._memo.clear()
        self.inner.rmdir(path)

    def chmod(self, path: str, mode: int) -> None:
        self._memo.clear()
        self.inner.chmod(path, mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        self._memo.clear()
        self.inner.chown(path, uid, gid)

    def setxattrs(self, path: str, xattrs: dict[str, bytes]) -> None:
        self._memo.clear()
        self.inner.setxattrs(path, xattrs)

    def sync(self) -> None:
        self.inner.sync()

    def filesystems(self) -> list[FilesystemInfo]:
        return self.inner.filesystems()

    @property
    def backend(self) -> str:
        return self.inner.backend

    def close(self) -> None:
        self.inner.close()
