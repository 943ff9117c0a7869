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

from xen2kvm.errors import GuestFileNotFound, GuestPathError
from xen2kvm.guest.base import DEFAULT_READ_LIMIT, FileKind, FileStat, FilesystemInfo, Guest

#: Larger reads (big initramfs images) are not kept: memory matters more than one re-read.
_MAX_MEMO_BYTES = 16 * 1024 * 1024
_UNSET = object()
T = TypeVar("T")


class MemoGuest(Guest):
    """``guest`` with its answers to reads remembered until the next write.

    One dictionary per question, holding the answer or the error it raised; the ``try_*`` and
    ``exists`` questions are answered from the same entries without raising, since most of
    what checks probe for is absent. (The stat and read entries are written out rather than
    going through ``_remembered``: they are the innermost loop of an inspection.)
    """

    def __init__(self, guest: Guest) -> None:
        self.inner = guest
        self.name = guest.name
        self.read_only = guest.read_only
        self._lstat: dict[str, FileStat | GuestPathError | None] = {}
        self._stat: dict[str, FileStat | GuestPathError | None] = {}
        self._read: dict[tuple[str, int], bytes | GuestPathError | None] = {}
        self._listdir: dict[str, list[str] | GuestPathError] = {}
        self._readlink: dict[str, str | GuestPathError] = {}
        self._realpath: dict[str, str | GuestPathError] = {}

    def forget(self) -> None:
        """Drop everything remembered (after the guest was changed by other means)."""
        for memo in (
            self._lstat,
            self._stat,
            self._read,
            self._listdir,
            self._readlink,
            self._realpath,
        ):
            memo.clear()

    # --- reading ---------------------------------------------------------------------------

    # An entry is the answer, None for "no such file", or the error another problem raised.

    def _lstat_entry(self, path: str) -> FileStat | GuestPathError | None:
        hit = self._lstat.get(path, _UNSET)
        if hit is _UNSET:
            try:
                hit = self.inner.lstat_if_exists(path)
            except GuestPathError as exc:
                hit = exc
            self._lstat[path] = hit
        return hit  # type: ignore[return-value]

    def _stat_entry(self, path: str) -> FileStat | GuestPathError | None:
        hit = self._stat.get(path, _UNSET)
        if hit is _UNSET:
            try:
                hit = self.inner.stat_if_exists(path)
            except GuestPathError as exc:
                hit = exc
            self._stat[path] = hit
        return hit  # type: ignore[return-value]

    def _read_entry(self, path: str, limit: int) -> bytes | GuestPathError | None:
        key = (path, limit)
        hit = self._read.get(key, _UNSET)
        if hit is _UNSET:
            try:
                hit = self.inner.read_bytes_if_exists(path, limit=limit)
            except GuestPathError as exc:
                hit = exc
            if not (isinstance(hit, bytes) and len(hit) > _MAX_MEMO_BYTES):
                self._read[key] = hit
        return hit  # type: ignore[return-value]

    def lstat(self, path: str) -> FileStat:
        hit = self._lstat_entry(path)
        if isinstance(hit, FileStat):
            return hit
        if hit is None:
            raise GuestFileNotFound(path)
        # A fresh traceback each time; the remembered error is otherwise the same object.
        raise hit.with_traceback(None)

    def stat(self, path: str) -> FileStat:
        hit = self._stat_entry(path)
        if isinstance(hit, FileStat):
            return hit
        if hit is None:
            raise GuestFileNotFound(path)
        raise hit.with_traceback(None)

    def lstat_if_exists(self, path: str) -> FileStat | None:
        hit = self._lstat_entry(path)
        if isinstance(hit, GuestPathError):
            raise hit.with_traceback(None)
        return hit

    def stat_if_exists(self, path: str) -> FileStat | None:
        hit = self._stat_entry(path)
        if isinstance(hit, GuestPathError):
            raise hit.with_traceback(None)
        return hit

    def try_lstat(self, path: str) -> FileStat | None:
        hit = self._lstat_entry(path)
        return hit if isinstance(hit, FileStat) else None

    def try_stat(self, path: str) -> FileStat | None:
        hit = self._stat_entry(path)
        return hit if isinstance(hit, FileStat) else None

    def lexists(self, path: str) -> bool:
        return isinstance(self._lstat_entry(path), FileStat)

    def exists(self, path: str) -> bool:
        return isinstance(self._stat_entry(path), FileStat)

    def is_file(self, path: str) -> bool:
        hit = self._stat_entry(path)
        return isinstance(hit, FileStat) and hit.kind is FileKind.FILE

    def is_dir(self, path: str) -> bool:
        hit = self._stat_entry(path)
        return isinstance(hit, FileStat) and hit.kind is FileKind.DIR

    def read_bytes(self, path: str, *, limit: int = DEFAULT_READ_LIMIT) -> bytes:
        hit = self._read_entry(path, limit)
        if isinstance(hit, bytes):
            return hit
        if hit is None:
            raise GuestFileNotFound(path)
        raise hit.with_traceback(None)

    def read_bytes_if_exists(self, path: str, *, limit: int = DEFAULT_READ_LIMIT) -> bytes | None:
        hit = self._read_entry(path, limit)
        if isinstance(hit, GuestPathError):
            raise hit.with_traceback(None)
        return hit

    @staticmethod
    def _remembered(memo: dict[str, T | GuestPathError], path: str, ask: Callable[[str], T]) -> T:
        """The answer to a question without an "if exists" form, asked once."""
        hit = memo.get(path)
        if hit is None:
            try:
                hit = ask(path)
            except GuestPathError as exc:
                hit = exc
            memo[path] = hit
        if isinstance(hit, GuestPathError):
            raise hit.with_traceback(None)
        return hit

    def listdir(self, path: str) -> list[str]:
        names: list[str] = self._remembered(self._listdir, path, self.inner.listdir)
        return list(names)  # a copy: callers may change theirs

    def readlink(self, path: str) -> str:
        return self._remembered(self._readlink, path, self.inner.readlink)

    def realpath(self, path: str) -> str:
        return self._remembered(self._realpath, path, self.inner.realpath)

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
        self.forget()
        self.inner.write_bytes(path, data, mode=mode, uid=uid, gid=gid)

    def remove(self, path: str) -> None:
        self.forget()
        self.inner.remove(path)

    def symlink(self, target: str, path: str) -> None:
        self.forget()
        self.inner.symlink(target, path)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self.forget()
        self.inner.mkdir(path, mode)

    def rmdir(self, path: str) -> None:
        self.forget()
        self.inner.rmdir(path)

    def chmod(self, path: str, mode: int) -> None:
        self.forget()
        self.inner.chmod(path, mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        self.forget()
        self.inner.chown(path, uid, gid)

    def setxattrs(self, path: str, xattrs: dict[str, bytes]) -> None:
        self.forget()
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
