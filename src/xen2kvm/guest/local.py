"""A guest whose root filesystem is a directory on the host (a mounted root, a fixture tree).

Confinement is done with directory file descriptors: every path is walked one component at a
time with ``openat``-style calls (``dir_fd=``, ``O_NOFOLLOW``), symlinks are read and resolved by
us (absolute targets re-anchored at the guest root, ``..`` clamped at the root), and the final
object is opened relative to its already-confined parent. Nothing outside the root is ever
named to the kernel, so a guest's ``/etc/fstab -> /etc/shadow`` reads the guest's own shadow.

Written by hand because neither the standard library nor a maintained package offers
root-confined resolution. Where the kernel has ``openat2(RESOLVE_IN_ROOT)`` (Linux 5.6+), reads
let the kernel do the same confinement in one system call (``_openat2.py``) and fall back to
the walk for anything but success or "no such file", so every error is still worded by the
walk; writes always walk (they need the parent directory's fd anyway).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat as stat_mod
from collections.abc import Iterator
from pathlib import Path

from xen2kvm.errors import (
    GuestError,
    GuestFileNotFound,
    GuestFileTooLarge,
    GuestNotAFile,
    GuestPathError,
    GuestReadOnly,
    GuestSymlinkLoop,
    Xen2KvmError,
)
from xen2kvm.guest import _openat2
from xen2kvm.guest.base import DEFAULT_READ_LIMIT, FileKind, FileStat, Guest

MAX_SYMLINKS = 40
#: What LocalGuest._kernel_open returns instead of an fd.
_ABSENT = -1
_WALK = -2
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_CHUNK = 1 << 20


def kind_of(mode: int) -> FileKind:
    if stat_mod.S_ISREG(mode):
        return FileKind.FILE
    if stat_mod.S_ISDIR(mode):
        return FileKind.DIR
    if stat_mod.S_ISLNK(mode):
        return FileKind.SYMLINK
    if stat_mod.S_ISFIFO(mode):
        return FileKind.FIFO
    if stat_mod.S_ISSOCK(mode):
        return FileKind.SOCKET
    if stat_mod.S_ISCHR(mode):
        return FileKind.CHARDEV
    if stat_mod.S_ISBLK(mode):
        return FileKind.BLOCKDEV
    return FileKind.OTHER


def _to_stat(st: os.stat_result) -> FileStat:
    return FileStat(
        kind=kind_of(st.st_mode),
        size=st.st_size,
        mode=stat_mod.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        mtime_ns=st.st_mtime_ns,
    )


class _Resolved:
    """A walked path: an fd of its (confined) parent directory and the final name."""

    __slots__ = ("dir_fd", "name", "parts")

    def __init__(self, dir_fd: int, name: str | None, parts: list[str]) -> None:
        self.dir_fd = dir_fd
        self.name = name  # None: the path is the guest root itself
        self.parts = parts

    @property
    def guest_path(self) -> str:
        return "/" + "/".join(self.parts)


class LocalGuest(Guest):
    """A guest root that is a host directory. Never requires root privileges by itself."""

    def __init__(
        self,
        root: Path | str,
        *,
        read_only: bool = True,
        name: str | None = None,
        resolver: str = "auto",
    ):
        """``resolver``: ``"auto"`` lets the kernel resolve reads where it can (openat2),
        ``"walk"`` always walks component by component (the fallback, kept testable)."""
        if resolver not in ("auto", "walk"):
            raise ValueError(f"unknown resolver {resolver!r}")
        self._open2 = _openat2.load() if resolver == "auto" else None
        self._root_name: str | None = None  # see _root_host_path
        self.root = Path(root)
        self.name = name or str(root)
        self.read_only = read_only
        try:
            self._root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            raise GuestError(f"{root}: no such directory") from exc
        except NotADirectoryError as exc:
            raise GuestError(f"{root}: not a directory") from exc
        except OSError as exc:
            raise GuestError(f"{root}: cannot open: {exc.strerror}") from exc

    def _root_host_path(self) -> str | None:
        """Where the root directory is on the host, as /proc names it (None if unknown)."""
        if self._root_name is None:
            try:
                name = os.readlink(f"/proc/self/fd/{self._root_fd}")
            except OSError:
                name = ""
            # "/" would make every host path look inside; a deleted root has no usable name.
            ok = name.startswith("/") and name != "/" and not name.endswith(" (deleted)")
            self._root_name = name if ok else ""
        return self._root_name or None

    def close(self) -> None:
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

    def __del__(self) -> None:
        # Not contextlib.suppress: at interpreter exit, module globals may already be gone.
        try:  # noqa: SIM105
            self.close()
        except Exception:
            pass

    # --- resolution ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _walk(self, path: str, *, follow_last: bool) -> Iterator[_Resolved]:
        """Resolve ``path`` inside the root; yield its parent's fd and final name."""
        if not isinstance(path, str) or "\0" in path:
            raise GuestPathError(repr(path), "invalid path")
        pending = [c for c in path.split("/") if c not in ("", ".")]
        pending.reverse()  # a stack: pop() gives the next component
        fds: list[int] = []  # fds[i] is the directory of parts[:i+1]
        parts: list[str] = []
        hops = 0

        def current() -> int:
            return fds[-1] if fds else self._root_fd

        try:
            while pending:
                comp = pending.pop()
                if comp == "..":
                    if parts:
                        parts.pop()
                        os.close(fds.pop())
                    continue
                is_last = not pending
                try:
                    st = os.stat(comp, dir_fd=current(), follow_symlinks=False)
                except FileNotFoundError:
                    if is_last:
                        yield _Resolved(current(), comp, [*parts, comp])
                        return
                    raise GuestFileNotFound(path) from None
                except NotADirectoryError:
                    raise GuestPathError(path, "a component is not a directory") from None
                except OSError as exc:
                    raise GuestPathError(path, exc.strerror or str(exc)) from exc
                if stat_mod.S_ISLNK(st.st_mode) and (follow_last or not is_last):
                    hops += 1
                    if hops > MAX_SYMLINKS:
                        raise GuestSymlinkLoop(path)
                    target = os.readlink(comp, dir_fd=current())
                    if target.startswith("/"):
                        for fd in fds:
                            os.close(fd)
                        fds.clear()
                        parts.clear()
                    pending.extend(reversed([c for c in target.split("/") if c not in ("", ".")]))
                    continue
                if is_last:
                    yield _Resolved(current(), comp, [*parts, comp])
                    return
                if not stat_mod.S_ISDIR(st.st_mode):
                    raise GuestPathError(path, f"/{'/'.join([*parts, comp])} is not a directory")
                try:
                    fds.append(os.open(comp, _DIR_FLAGS, dir_fd=current()))
                except OSError as exc:
                    raise GuestPathError(path, exc.strerror or str(exc)) from exc
                parts.append(comp)
            # The path resolved to a directory reached through its own name (or the root).
            if not parts:
                yield _Resolved(self._root_fd, None, [])
                return
            name = parts[-1]
            os.close(fds.pop())
            yield _Resolved(current(), name, parts)
        finally:
            for fd in fds:
                os.close(fd)

    def _kernel_open(self, path: str, flags: int) -> int:
        """``path`` opened by the kernel, confined to the root: an fd, ``_ABSENT`` (no such
        file) or ``_WALK`` (let the walk decide).

        Only success and "no such file" are taken from the kernel; any other failure (a loop,
        a non-directory in the middle, a too-long name...) is left to the walk, which words
        the error the same way on every host.
        """
        open2 = self._open2
        if open2 is None or not isinstance(path, str) or "\0" in path:
            return _WALK
        if path.endswith("/") or "/." in path or path.startswith("."):
            # The walk ignores a trailing "/" or "/." where the kernel would follow a final
            # symlink because of it: hand the kernel the walk's reading of the path.
            path = "/" + "/".join(c for c in path.split("/") if c not in ("", "."))
        fd = open2(self._root_fd, os.fsencode(path) or b"/", flags)
        if fd >= 0:
            return fd
        return _ABSENT if fd == -errno.ENOENT else _WALK

    def _fast_open(self, path: str, flags: int) -> int | None:
        """As :meth:`_kernel_open`, raising GuestFileNotFound for an absent file."""
        fd = self._kernel_open(path, flags)
        if fd == _ABSENT:
            raise GuestFileNotFound(path)
        return None if fd == _WALK else fd

    def _kernel_stat(self, path: str, flags: int) -> os.stat_result | int:
        """The stat of ``path`` as opened with ``flags``, or ``_ABSENT`` or ``_WALK``."""
        fd = self._kernel_open(path, flags)
        if fd < 0:
            return fd
        try:
            return os.fstat(fd)
        finally:
            os.close(fd)

    def _fast_stat(self, path: str, flags: int) -> os.stat_result | None:
        st = self._kernel_stat(path, flags)
        if st == _ABSENT:
            raise GuestFileNotFound(path)
        return None if isinstance(st, int) else st

    def lstat_if_exists(self, path: str) -> FileStat | None:
        st = self._kernel_stat(path, os.O_PATH | os.O_NOFOLLOW)
        if isinstance(st, int):
            return None if st == _ABSENT else super().lstat_if_exists(path)
        return _to_stat(st)

    def stat_if_exists(self, path: str) -> FileStat | None:
        st = self._kernel_stat(path, os.O_PATH)
        if isinstance(st, int):
            return None if st == _ABSENT else super().stat_if_exists(path)
        return _to_stat(st)

    def _lstat_resolved(self, r: _Resolved, path: str) -> os.stat_result:
        try:
            if r.name is None:
                return os.stat(r.dir_fd)
            return os.stat(r.name, dir_fd=r.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            raise GuestFileNotFound(path) from None
        except OSError as exc:
            raise GuestPathError(path, exc.strerror or str(exc)) from exc

    # --- reading ---------------------------------------------------------------------------

    def lstat(self, path: str) -> FileStat:
        st = self._fast_stat(path, os.O_PATH | os.O_NOFOLLOW)
        if st is not None:
            return _to_stat(st)
        with self._walk(path, follow_last=False) as r:
            return _to_stat(self._lstat_resolved(r, path))

    def stat(self, path: str) -> FileStat:
        st = self._fast_stat(path, os.O_PATH)
        if st is not None:
            return _to_stat(st)
        with self._walk(path, follow_last=True) as r:
            return _to_stat(self._lstat_resolved(r, path))

    def _open_regular(self, r: _Resolved, path: str, flags: int) -> int:
        st = self._lstat_resolved(r, path)
        kind = kind_of(st.st_mode)
        if kind is not FileKind.FILE or r.name is None:
            raise GuestNotAFile(path, kind.value)
        try:
            fd = os.open(
                r.name,
                flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC,
                dir_fd=r.dir_fd,
            )
        except OSError as exc:
            raise GuestPathError(path, exc.strerror or str(exc)) from exc
        if not stat_mod.S_ISREG(os.fstat(fd).st_mode):  # swapped under us
            os.close(fd)
            raise GuestNotAFile(path, "non-regular file")
        return fd

    def _kernel_open_regular(self, path: str) -> int:
        """A regular file opened for reading by the kernel: an fd, ``_ABSENT`` or ``_WALK``."""
        st = self._kernel_stat(path, os.O_PATH)
        if isinstance(st, int):
            return st
        if not stat_mod.S_ISREG(st.st_mode):  # refused before anything opens it for reading
            raise GuestNotAFile(path, kind_of(st.st_mode).value)
        fd = self._kernel_open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        if fd >= 0 and not stat_mod.S_ISREG(os.fstat(fd).st_mode):  # swapped under us
            os.close(fd)
            raise GuestNotAFile(path, "non-regular file")
        return fd

    def read_bytes(self, path: str, *, limit: int = DEFAULT_READ_LIMIT) -> bytes:
        fd = self._kernel_open_regular(path)
        if fd == _ABSENT:
            raise GuestFileNotFound(path)
        if fd == _WALK:
            with self._walk(path, follow_last=True) as r:
                fd = self._open_regular(r, path, os.O_RDONLY)
        return _read_fd(fd, path, limit)

    def read_bytes_if_exists(self, path: str, *, limit: int = DEFAULT_READ_LIMIT) -> bytes | None:
        fd = self._kernel_open_regular(path)
        if fd == _ABSENT:  # the common case, answered without raising
            return None
        if fd == _WALK:
            return super().read_bytes_if_exists(path, limit=limit)
        return _read_fd(fd, path, limit)

    def listdir(self, path: str) -> list[str]:
        fd = self._fast_open(path, os.O_RDONLY | os.O_DIRECTORY)
        if fd is not None:
            try:
                return sorted(os.listdir(fd))
            finally:
                os.close(fd)
        with self._walk(path, follow_last=True) as r:
            try:
                fd = (
                    os.open(r.name, _DIR_FLAGS, dir_fd=r.dir_fd)
                    if r.name is not None
                    else os.dup(r.dir_fd)
                )
            except FileNotFoundError:
                raise GuestFileNotFound(path) from None
            except OSError as exc:
                raise GuestPathError(path, exc.strerror or str(exc)) from exc
        try:
            return sorted(os.listdir(fd))
        finally:
            os.close(fd)

    def readlink(self, path: str) -> str:
        fd = self._fast_open(path, os.O_PATH | os.O_NOFOLLOW)
        if fd is not None:
            try:
                return os.readlink("", dir_fd=fd)
            except OSError:
                pass  # not a symlink: the walk says so in its words
            finally:
                os.close(fd)
        with self._walk(path, follow_last=False) as r:
            if r.name is None:
                raise GuestPathError(path, "not a symlink")
            try:
                return os.readlink(r.name, dir_fd=r.dir_fd)
            except FileNotFoundError:
                raise GuestFileNotFound(path) from None
            except OSError as exc:
                raise GuestPathError(path, exc.strerror or "not a symlink") from exc

    def realpath(self, path: str) -> str:
        fd = self._fast_open(path, os.O_PATH)
        if fd is not None:
            # The kernel found it inside the root; its name there is the fd's name on the
            # host less the root's (both from /proc). Anything unexpected: the walk answers.
            try:
                where: str | None = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                where = None
            finally:
                os.close(fd)
            prefix = self._root_host_path()
            if where is not None and prefix is not None:
                if where == prefix:
                    return "/"
                if where.startswith(prefix + "/"):
                    return where[len(prefix) :]
        with self._walk(path, follow_last=True) as r:
            self._lstat_resolved(r, path)
            return r.guest_path

    # --- writing ---------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self.read_only:
            raise GuestReadOnly(f"{self.name} is opened read-only")

    @contextlib.contextmanager
    def _parent(self, path: str) -> Iterator[_Resolved]:
        """The confined parent directory of ``path`` and its final name (not followed)."""
        self._check_writable()
        with self._walk(path, follow_last=False) as r:
            if r.name is None:
                raise GuestPathError(path, "is the guest root")
            yield r

    def _xattr_path(self, r: _Resolved) -> str:
        # The /proc magic link names the already-confined parent directory, so the final
        # component is looked up there without following it.
        return f"/proc/self/fd/{r.dir_fd}/{r.name}"

    def write_bytes(
        self,
        path: str,
        data: bytes,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
    ) -> None:
        with self._parent(path) as r:
            assert r.name is not None
            old: os.stat_result | None
            try:
                old = os.stat(r.name, dir_fd=r.dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                old = None
            if old is not None and not stat_mod.S_ISREG(old.st_mode):
                raise GuestNotAFile(path, kind_of(old.st_mode).value)
            xattrs = self._getxattrs_resolved(r) if old is not None else {}
            tmp = f".{r.name}.xen2kvm-{secrets.token_hex(4)}"
            try:
                fd = os.open(
                    tmp,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o600,
                    dir_fd=r.dir_fd,
                )
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    want_mode = (
                        mode
                        if mode is not None
                        else (stat_mod.S_IMODE(old.st_mode) if old is not None else 0o644)
                    )
                    want_uid = uid if uid is not None else (old.st_uid if old else os.geteuid())
                    want_gid = gid if gid is not None else (old.st_gid if old else os.getegid())
                    if (want_uid, want_gid) != (os.geteuid(), os.getegid()):
                        os.fchown(fd, want_uid, want_gid)
                    os.fchmod(fd, want_mode)
                    for key, value in xattrs.items():
                        os.setxattr(fd, key, value)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.rename(tmp, r.name, src_dir_fd=r.dir_fd, dst_dir_fd=r.dir_fd)
                os.fsync(r.dir_fd)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=r.dir_fd)
                raise _write_error(path, exc) from exc

    def remove(self, path: str) -> None:
        with self._parent(path) as r:
            assert r.name is not None
            st = self._lstat_resolved(r, path)
            if stat_mod.S_ISDIR(st.st_mode):
                raise GuestNotAFile(path, "directory")
            try:
                os.unlink(r.name, dir_fd=r.dir_fd)
                os.fsync(r.dir_fd)
            except OSError as exc:
                raise _write_error(path, exc) from exc

    def symlink(self, target: str, path: str) -> None:
        with self._parent(path) as r:
            assert r.name is not None
            try:
                os.symlink(target, r.name, dir_fd=r.dir_fd)
                os.fsync(r.dir_fd)
            except OSError as exc:
                raise _write_error(path, exc) from exc

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        with self._parent(path) as r:
            assert r.name is not None
            try:
                os.mkdir(r.name, mode, dir_fd=r.dir_fd)
            except OSError as exc:
                raise _write_error(path, exc) from exc

    def rmdir(self, path: str) -> None:
        with self._parent(path) as r:
            assert r.name is not None
            try:
                os.rmdir(r.name, dir_fd=r.dir_fd)
            except OSError as exc:
                raise _write_error(path, exc) from exc

    def chmod(self, path: str, mode: int) -> None:
        self._check_writable()
        with self._walk(path, follow_last=True) as r:
            st = self._lstat_resolved(r, path)
            if r.name is None:
                os.fchmod(r.dir_fd, mode)
                return
            flags = _DIR_FLAGS if stat_mod.S_ISDIR(st.st_mode) else os.O_RDONLY
            fd = (
                self._open_regular(r, path, flags)
                if flags == os.O_RDONLY
                else os.open(r.name, flags, dir_fd=r.dir_fd)
            )
            try:
                os.fchmod(fd, mode)
            except OSError as exc:
                raise _write_error(path, exc) from exc
            finally:
                os.close(fd)

    def chown(self, path: str, uid: int, gid: int) -> None:
        with self._parent(path) as r:
            assert r.name is not None
            try:
                os.chown(r.name, uid, gid, dir_fd=r.dir_fd, follow_symlinks=False)
            except OSError as exc:
                raise _write_error(path, exc) from exc

    def _getxattrs_resolved(self, r: _Resolved) -> dict[str, bytes]:
        p = self._xattr_path(r)
        try:
            names = os.listxattr(p, follow_symlinks=False)
            return {n: os.getxattr(p, n, follow_symlinks=False) for n in names}
        except OSError as exc:
            if exc.errno in (errno.ENOTSUP, errno.ENODATA, errno.EPERM):
                return {}
            raise

    def getxattrs(self, path: str) -> dict[str, bytes]:
        with self._walk(path, follow_last=False) as r:
            if r.name is None:
                return {}
            self._lstat_resolved(r, path)
            try:
                return self._getxattrs_resolved(r)
            except OSError as exc:
                raise GuestPathError(path, exc.strerror or str(exc)) from exc

    def setxattrs(self, path: str, xattrs: dict[str, bytes]) -> None:
        with self._parent(path) as r:
            p = self._xattr_path(r)
            try:
                current = set(os.listxattr(p, follow_symlinks=False))
                for key in current - set(xattrs):
                    os.removexattr(p, key, follow_symlinks=False)
                for key, value in xattrs.items():
                    os.setxattr(p, key, value, follow_symlinks=False)
            except OSError as exc:
                raise _write_error(path, exc) from exc

    def sync(self) -> None:
        os.sync()


def _read_fd(fd: int, path: str, limit: int) -> bytes:
    """Read an opened regular file, at most ``limit`` bytes; the fd is closed."""
    try:
        if os.fstat(fd).st_size > limit:
            raise GuestFileTooLarge(path, limit)
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(_READ_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise GuestFileTooLarge(path, limit)
        return b"".join(chunks)
    except OSError as exc:
        raise GuestPathError(path, exc.strerror or str(exc)) from exc
    finally:
        os.close(fd)


def _write_error(path: str, exc: OSError) -> Xen2KvmError:
    if exc.errno == errno.ENOSPC:
        return GuestPathError(path, "no space left on the guest filesystem")
    if exc.errno in (errno.EROFS,):
        return GuestReadOnly(f"{path}: the guest filesystem is read-only")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return GuestPathError(path, f"permission denied ({exc.strerror})")
    return GuestPathError(path, exc.strerror or str(exc))
