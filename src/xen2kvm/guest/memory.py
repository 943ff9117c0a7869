"""An in-memory guest, for unit tests of logic (facts, checks, plans) without any disk.

Build one from data: ``MemoryGuest({"/etc/fstab": "...", "/bin": Symlink("usr/bin")})``.
It follows the same confinement rules as the real backends (symlinks resolve inside the tree).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field

from xen2kvm.errors import (
    GuestFileNotFound,
    GuestFileTooLarge,
    GuestNotAFile,
    GuestPathError,
    GuestReadOnly,
    GuestSymlinkLoop,
)
from xen2kvm.guest.base import DEFAULT_READ_LIMIT, FileKind, FileStat, Guest, normalize

MAX_SYMLINKS = 40


@dataclass
class Symlink:
    target: str


@dataclass
class Special:
    """A FIFO, socket or device node (never readable as a file)."""

    kind: FileKind


@dataclass
class _Node:
    kind: FileKind
    data: bytes = b""
    target: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)
    children: dict[str, _Node] = field(default_factory=dict)

    def stat(self) -> FileStat:
        size = len(self.data) if self.kind is FileKind.FILE else len(self.target)
        return FileStat(self.kind, size, self.mode, self.uid, self.gid)


Content = str | bytes | Symlink | Special | None


class MemoryGuest(Guest):
    def __init__(
        self, files: Mapping[str, Content] | None = None, *, read_only: bool = False
    ) -> None:
        self.name = "memory"
        self.read_only = read_only
        self._root = _Node(FileKind.DIR, mode=0o755)
        for path, content in (files or {}).items():
            self._add(path, content)

    def _add(self, path: str, content: Content) -> None:
        path = normalize(path)
        parent = self._mkparents(posixpath.dirname(path))
        name = posixpath.basename(path)
        if content is None:
            parent.children.setdefault(name, _Node(FileKind.DIR, mode=0o755))
        elif isinstance(content, Symlink):
            parent.children[name] = _Node(FileKind.SYMLINK, target=content.target, mode=0o777)
        elif isinstance(content, Special):
            parent.children[name] = _Node(content.kind)
        else:
            data = content.encode() if isinstance(content, str) else content
            parent.children[name] = _Node(FileKind.FILE, data=data)

    def _mkparents(self, path: str) -> _Node:
        node = self._root
        for comp in [c for c in path.split("/") if c]:
            node = node.children.setdefault(comp, _Node(FileKind.DIR, mode=0o755))
        return node

    # Resolution: walk components, following symlinks, re-anchored at our root.
    def _resolve(self, path: str, *, follow_last: bool) -> tuple[str, _Node]:
        pending = [c for c in normalize(path).split("/") if c]
        done: list[str] = []
        node = self._root
        hops = 0
        while pending:
            comp = pending.pop(0)
            if comp == "..":
                if done:
                    done.pop()
                node = self._lookup(done, path)
                continue
            if node.kind is not FileKind.DIR:
                raise GuestPathError(path, f"/{'/'.join(done)} is not a directory")
            child = node.children.get(comp)
            if child is None:
                raise GuestFileNotFound(path)
            if child.kind is FileKind.SYMLINK and (pending or follow_last):
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise GuestSymlinkLoop(path)
                target = child.target
                if target.startswith("/"):
                    done = []
                    node = self._root
                pending = [c for c in target.split("/") if c and c != "."] + pending
                continue
            done.append(comp)
            node = child
        return "/" + "/".join(done), node

    def _lookup(self, parts: list[str], path: str) -> _Node:
        node = self._root
        for comp in parts:
            node = node.children[comp]
        return node

    def lstat(self, path: str) -> FileStat:
        return self._resolve(path, follow_last=False)[1].stat()

    def stat(self, path: str) -> FileStat:
        return self._resolve(path, follow_last=True)[1].stat()

    def read_bytes(self, path: str, *, limit: int = DEFAULT_READ_LIMIT) -> bytes:
        node = self._resolve(path, follow_last=True)[1]
        if node.kind is not FileKind.FILE:
            raise GuestNotAFile(path, node.kind.value)
        if len(node.data) > limit:
            raise GuestFileTooLarge(path, limit)
        return node.data

    def listdir(self, path: str) -> list[str]:
        node = self._resolve(path, follow_last=True)[1]
        if node.kind is not FileKind.DIR:
            raise GuestPathError(path, "not a directory")
        return sorted(node.children)

    def readlink(self, path: str) -> str:
        node = self._resolve(path, follow_last=False)[1]
        if node.kind is not FileKind.SYMLINK:
            raise GuestPathError(path, "not a symlink")
        return node.target

    def realpath(self, path: str) -> str:
        return self._resolve(path, follow_last=True)[0]

    # --- writing -----------------------------------------------------------------------------

    def _parent(self, path: str) -> tuple[_Node, str]:
        if self.read_only:
            raise GuestReadOnly(f"{self.name} is read-only")
        path = normalize(path)
        _, parent = self._resolve(posixpath.dirname(path), follow_last=True)
        if parent.kind is not FileKind.DIR:
            raise GuestPathError(path, "parent is not a directory")
        return parent, posixpath.basename(path)

    def write_bytes(
        self,
        path: str,
        data: bytes,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
    ) -> None:
        parent, name = self._parent(path)
        old = parent.children.get(name)
        if old is not None and old.kind is not FileKind.FILE:
            raise GuestNotAFile(path, old.kind.value)
        node = _Node(FileKind.FILE, data=bytes(data))
        if old is not None:
            node.mode, node.uid, node.gid, node.xattrs = old.mode, old.uid, old.gid, old.xattrs
        node.mode = node.mode if mode is None else mode
        node.uid = node.uid if uid is None else uid
        node.gid = node.gid if gid is None else gid
        parent.children[name] = node

    def remove(self, path: str) -> None:
        parent, name = self._parent(path)
        node = parent.children.get(name)
        if node is None:
            raise GuestFileNotFound(path)
        if node.kind is FileKind.DIR:
            raise GuestNotAFile(path, "directory")
        del parent.children[name]

    def symlink(self, target: str, path: str) -> None:
        parent, name = self._parent(path)
        if name in parent.children:
            raise GuestPathError(path, "already exists")
        parent.children[name] = _Node(FileKind.SYMLINK, target=target, mode=0o777)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        parent, name = self._parent(path)
        if name in parent.children:
            raise GuestPathError(path, "already exists")
        parent.children[name] = _Node(FileKind.DIR, mode=mode)

    def rmdir(self, path: str) -> None:
        parent, name = self._parent(path)
        node = parent.children.get(name)
        if node is None:
            raise GuestFileNotFound(path)
        if node.kind is not FileKind.DIR or node.children:
            raise GuestPathError(path, "not an empty directory")
        del parent.children[name]

    def chmod(self, path: str, mode: int) -> None:
        self._parent(path)
        self._resolve(path, follow_last=True)[1].mode = mode

    def chown(self, path: str, uid: int, gid: int) -> None:
        self._parent(path)
        node = self._resolve(path, follow_last=False)[1]
        node.uid, node.gid = uid, gid

    def getxattrs(self, path: str) -> dict[str, bytes]:
        return dict(self._resolve(path, follow_last=False)[1].xattrs)

    def setxattrs(self, path: str, xattrs: dict[str, bytes]) -> None:
        self._parent(path)
        self._resolve(path, follow_last=False)[1].xattrs = dict(xattrs)

    def snapshot(self) -> dict[str, Content]:
        """Every path with its content (for golden-tree comparisons in tests)."""
        out: dict[str, Content] = {}

        def walk(node: _Node, prefix: str) -> None:
            for name, child in sorted(node.children.items()):
                p = f"{prefix}/{name}"
                if child.kind is FileKind.DIR:
                    out[p] = None
                    walk(child, p)
                elif child.kind is FileKind.SYMLINK:
                    out[p] = Symlink(child.target)
                elif child.kind is FileKind.FILE:
                    out[p] = child.data
                else:
                    out[p] = Special(child.kind)

        walk(self._root, "")
        return out
