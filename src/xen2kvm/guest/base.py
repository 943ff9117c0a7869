"""One small interface over a guest's files, confined to the guest root.

Every backend (a mounted directory, disk images through libguestfs or a userspace ext driver,
an in-memory fake) implements :class:`Guest`. Paths given to it are guest paths: absolute,
``/``-separated, as the guest itself sees them. Resolution happens *inside* the guest:
absolute symlinks are re-anchored at the guest root, ``..`` stops at the root, symlink loops
end in :class:`~xen2kvm.errors.GuestSymlinkLoop`, and nothing outside the root is ever opened.

Reads are bounded (``limit``): a multi-GB "fstab" raises
:class:`~xen2kvm.errors.GuestFileTooLarge` instead of being slurped. FIFOs, sockets and device
nodes are never opened as files (:class:`~xen2kvm.errors.GuestNotAFile`).

Only :mod:`xen2kvm.transaction` should call the write methods.
"""

from __future__ import annotations

import enum
import fnmatch
import posixpath
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType

from xen2kvm.errors import GuestFileNotFound, GuestNotAFile, GuestPathError

#: Default bound for reading a configuration file.
DEFAULT_READ_LIMIT = 4 * 1024 * 1024
#: Bound for big binary files we must read whole (initramfs images, kernel modules).
LARGE_READ_LIMIT = 1024 * 1024 * 1024


class FileKind(enum.Enum):
    FILE = "file"
    DIR = "directory"
    SYMLINK = "symlink"
    FIFO = "fifo"
    SOCKET = "socket"
    CHARDEV = "character device"
    BLOCKDEV = "block device"
    OTHER = "other"


@dataclass(frozen=True)
class FileStat:
    kind: FileKind
    size: int
    mode: int  # permission bits only (st_mode & 0o7777)
    uid: int
    gid: int
    mtime_ns: int = 0


@dataclass(frozen=True)
class FilesystemInfo:
    """A filesystem on one of the guest's disks, as the backend found it.

    ``disk`` is the 0-based assignment index (0 = xvda); ``partition`` is None for a bare
    filesystem (the disk *is* the filesystem, the Linode layout).
    """

    disk: int
    partition: int | None
    fstype: str
    uuid: str | None = None
    label: str | None = None
    #: Where the guest mounts it (from its fstab), if it does.
    mountpoint: str | None = None


def normalize(path: str) -> str:
    """Lexically normalise a guest path to an absolute one. ``..`` cannot climb above ``/``.

    This is only lexical; symlinks are resolved by the backends.
    """
    if not isinstance(path, str) or "\0" in path:
        raise GuestPathError(repr(path), "invalid path")
    parts: list[str] = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if parts:
                parts.pop()
            continue
        parts.append(comp)
    return "/" + "/".join(parts)


class Guest(ABC):
    """A guest's root filesystem tree (all its filesystems mounted as the guest would)."""

    #: A short human name for messages (the directory or image path).
    name: str = "guest"
    read_only: bool = True

    # --- reading -------------------------------------------------------------------------

    @abstractmethod
    def lstat(self, path: str) -> FileStat:
        """Stat without following a final symlink. Raises GuestFileNotFound."""

    @abstractmethod
    def stat(self, path: str) -> FileStat:
        """Stat following symlinks inside the guest. Raises GuestFileNotFound."""

    @abstractmethod
    def read_bytes(self, path: str, *, limit: int = DEFAULT_READ_LIMIT) -> bytes:
        """Read a regular file (following symlinks inside the guest), at most ``limit`` bytes."""

    @abstractmethod
    def listdir(self, path: str) -> list[str]:
        """Names in a directory (following symlinks inside the guest), sorted."""

    @abstractmethod
    def readlink(self, path: str) -> str:
        """The target of a symlink, as stored."""

    @abstractmethod
    def realpath(self, path: str) -> str:
        """The canonical guest path after resolving every symlink inside the guest."""

    def read_text(self, path: str, *, limit: int = DEFAULT_READ_LIMIT) -> str:
        """Read a text file. Invalid UTF-8 is kept (surrogateescape) so a rewrite round-trips."""
        return self.read_bytes(path, limit=limit).decode("utf-8", "surrogateescape")

    # The *_if_exists forms say "absent" with None instead of raising GuestFileNotFound: most
    # of what facts and checks look for is absent, and a backend can answer that without
    # building an exception (LocalGuest, MemoGuest). Every other problem still raises.

    def lstat_if_exists(self, path: str) -> FileStat | None:
        try:
            return self.lstat(path)
        except GuestFileNotFound:
            return None

    def stat_if_exists(self, path: str) -> FileStat | None:
        try:
            return self.stat(path)
        except GuestFileNotFound:
            return None

    def read_bytes_if_exists(self, path: str, *, limit: int = DEFAULT_READ_LIMIT) -> bytes | None:
        try:
            return self.read_bytes(path, limit=limit)
        except GuestFileNotFound:
            return None

    def try_stat(self, path: str) -> FileStat | None:
        try:
            return self.stat(path)
        except GuestFileNotFound:
            return None
        except GuestPathError:
            return None

    def try_lstat(self, path: str) -> FileStat | None:
        try:
            return self.lstat(path)
        except GuestPathError:
            return None

    def exists(self, path: str) -> bool:
        return self.try_stat(path) is not None

    def lexists(self, path: str) -> bool:
        return self.try_lstat(path) is not None

    def is_file(self, path: str) -> bool:
        st = self.try_stat(path)
        return st is not None and st.kind is FileKind.FILE

    def is_dir(self, path: str) -> bool:
        st = self.try_stat(path)
        return st is not None and st.kind is FileKind.DIR

    def is_symlink(self, path: str) -> bool:
        st = self.try_lstat(path)
        return st is not None and st.kind is FileKind.SYMLINK

    def try_read_text(self, path: str, *, limit: int = DEFAULT_READ_LIMIT) -> str | None:
        """Text of a regular file, or None if it is absent. Other problems raise."""
        data = self.read_bytes_if_exists(path, limit=limit)
        return None if data is None else data.decode("utf-8", "surrogateescape")

    def try_listdir(self, path: str) -> list[str]:
        try:
            return self.listdir(path)
        except GuestPathError:
            return []

    def glob(self, pattern: str) -> list[str]:
        """Guest paths matching a shell pattern (``*``, ``?``, ``[..]`` per component), sorted."""
        pattern = normalize(pattern)
        results = ["/"]
        for comp in pattern.strip("/").split("/"):
            nxt: list[str] = []
            for base in results:
                if any(ch in comp for ch in "*?["):
                    for name in self.try_listdir(base):
                        if fnmatch.fnmatchcase(name, comp):
                            nxt.append(posixpath.join(base, name))
                else:
                    cand = posixpath.join(base, comp)
                    if self.lexists(cand):
                        nxt.append(cand)
            results = nxt
        return sorted(results)

    def require_file(self, path: str) -> FileStat:
        st = self.stat(path)
        if st.kind is not FileKind.FILE:
            raise GuestNotAFile(path, st.kind.value)
        return st

    # --- writing (only the transaction calls these) ----------------------------------------

    @abstractmethod
    def write_bytes(
        self,
        path: str,
        data: bytes,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
    ) -> None:
        """Atomically replace (or create) a regular file. The final component must not be a
        symlink (the transaction replaces symlinks explicitly). Keeps the existing mode and
        owner unless given."""

    @abstractmethod
    def remove(self, path: str) -> None:
        """Remove a file or symlink (never a directory). Raises GuestFileNotFound."""

    @abstractmethod
    def symlink(self, target: str, path: str) -> None:
        """Create a symlink at ``path`` pointing to ``target`` (stored as given)."""

    @abstractmethod
    def mkdir(self, path: str, mode: int = 0o755) -> None:
        """Create one directory (its parent must exist)."""

    def rmdir(self, path: str) -> None:
        """Remove an empty directory."""
        raise GuestPathError(path, f"{self.name}: this backend cannot remove directories")

    @abstractmethod
    def chmod(self, path: str, mode: int) -> None: ...

    @abstractmethod
    def chown(self, path: str, uid: int, gid: int) -> None:
        """Change owner of ``path`` itself (not following a final symlink)."""

    def getxattrs(self, path: str) -> dict[str, bytes]:
        """Extended attributes of ``path`` itself (e.g. ``security.selinux``)."""
        return {}

    def setxattrs(self, path: str, xattrs: dict[str, bytes]) -> None:
        """Set extended attributes of ``path`` itself."""
        return None

    def sync(self) -> None:
        """Flush writes to stable storage (the journal relies on it)."""
        return None

    def filesystems(self) -> list[FilesystemInfo]:
        """The filesystems on the guest's disks (empty when unknown, e.g. a mounted root)."""
        return []

    @property
    def backend(self) -> str:
        """A short name of the access method, for reports."""
        return type(self).__name__

    def makedirs(self, path: str, mode: int = 0o755) -> None:
        path = normalize(path)
        if path == "/" or self.is_dir(path):
            return
        self.makedirs(posixpath.dirname(path), mode)
        self.mkdir(path, mode)

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        return None

    def __enter__(self) -> Guest:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
