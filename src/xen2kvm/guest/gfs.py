"""Disk images through libguestfs: any layout (LVM, several disks, non-ext filesystems).

One appliance (a small VM) per guest, started once in the constructor: every later call is a
round trip to it (about a millisecond), never a new launch. The guest's filesystems are found
and mounted by libguestfs inspection (``inspect_os``/``inspect_get_mountpoints``), i.e. as the
guest's fstab says, across bare-filesystem, partitioned, LVM and multi-disk layouts.

Path resolution is done here, one component at a time with ``lstatnslist``/``readlink``, with
the same semantics as :class:`~xen2kvm.guest.local.LocalGuest`: absolute symlinks re-anchored
at the guest root, ``..`` clamped at the root, loops detected. Every path handed to the daemon
is therefore free of symlinks, so no call depends on how the daemon itself would follow them
(some of its calls resolve inside the appliance's own root, not the guest's). Host files are
unreachable anyway: the appliance is a separate VM that only sees the guest's disks.

Without working KVM the appliance hangs, so TCG is forced unless ``XEN2KVM_LIBGUESTFS_KVM=1``
and ``/dev/kvm`` is usable. Set on the handle, never in the process environment.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import secrets
import stat as stat_mod
import tempfile
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from xen2kvm.errors import (
    GuestError,
    GuestFileNotFound,
    GuestFileTooLarge,
    GuestNotAFile,
    GuestPathError,
    GuestReadOnly,
)
from xen2kvm.guest._walk import resolve
from xen2kvm.guest.base import DEFAULT_READ_LIMIT, FileKind, FileStat, FilesystemInfo, Guest
from xen2kvm.guest.disks import ROOT_MARKERS, DiskInfo, ImageInspection
from xen2kvm.guest.local import kind_of

#: Bytes per ``pread``/``write`` round trip (the protocol caps messages at 4 MiB).
_CHUNK = 1024 * 1024
#: Above this, reads and writes go through a host temp file (download/upload stream).
_STREAM_ABOVE = 4 * 1024 * 1024

T = TypeVar("T")
_Stat = dict[str, Any]


def _msg(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def kvm_usable() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def _close_handle(handle: Any, flush: bool) -> None:
    """Unmount, stop the appliance and free the handle (also runs when the guest is collected)."""
    try:
        if flush:
            with contextlib.suppress(RuntimeError):
                handle.umount_all()
            # shutdown() waits for the appliance to exit, so writes have reached the images.
            handle.shutdown()
    except RuntimeError:
        pass
    finally:
        handle.close()


class GuestfsGuest(Guest):
    """A guest's disk images opened in one libguestfs appliance, mounted per its fstab."""

    def __init__(self, disks: Sequence[DiskInfo], *, read_only: bool = True) -> None:
        import guestfs  # Debian's python3-guestfs; imported only when an image needs it

        if not disks:
            raise GuestError("no disk images given")
        self.disks = tuple(disks)
        self.name = ", ".join(str(d.path) for d in disks)
        self.read_only = read_only
        self._cache: dict[str, _Stat | None] = {}
        h = guestfs.GuestFS(python_return_dict=True, close_on_exit=False)
        self._h: Any = h
        self._finalizer = weakref.finalize(self, _close_handle, h, True)
        try:
            self._configure(h)
            for d in disks:
                h.add_drive_opts(str(d.path), format=d.format, readonly=read_only)
            try:
                h.launch()
            except RuntimeError as exc:
                raise GuestError(f"{self.name}: libguestfs cannot start: {_msg(exc)}") from exc
            self.inspection: ImageInspection = self._inspect_and_mount(h)
        except BaseException:
            self._finalizer()
            raise

    @staticmethod
    def _configure(h: Any) -> None:
        if not os.environ.get("LIBGUESTFS_BACKEND"):
            h.set_backend("direct")
        if os.environ.get("XEN2KVM_LIBGUESTFS_KVM") != "1" or not kvm_usable():
            settings = list(h.get_backend_settings())
            if "force_tcg" not in settings:
                # set_backend_settings, not set_backend_setting(name, ""), which crashes
                # libguestfs 1.48's Python binding.
                h.set_backend_settings([*settings, "force_tcg"])

    def _inspect_and_mount(self, h: Any) -> ImageInspection:
        try:
            roots = h.inspect_os()
        except RuntimeError as exc:
            raise GuestError(f"{self.name}: inspection failed: {_msg(exc)}") from exc
        if not roots:
            # Inspection gives up on guests it cannot parse (a FIFO or a 2 GB file as
            # /etc/fstab). Such a guest still has a root filesystem worth inspecting, so look
            # for it as the fuse2fs backend does; the facts then report what is broken.
            return self._mount_fallback_root(h)
        root = roots[0]

        def get(fn: Callable[[str], T]) -> T | None:
            try:
                return fn(root)
            except RuntimeError:
                return None

        mps: dict[str, str] = dict(get(h.inspect_get_mountpoints) or {})
        mounted: dict[str, str] = {}
        unmounted: dict[str, str] = {}
        # Parents before children: "/" before "/usr" before "/usr/local".
        for mp in sorted(mps, key=lambda m: (m.rstrip("/").count("/"), m)):
            dev = mps[mp]
            try:
                if self.read_only:
                    h.mount_ro(dev, mp)
                else:
                    h.mount(dev, mp)
                mounted[mp] = dev
            except RuntimeError as exc:
                if mp == "/":
                    raise GuestError(
                        f"{self.name}: cannot mount the root filesystem {dev}: {_msg(exc)}"
                    ) from exc
                unmounted[mp] = _msg(exc)
        distro = get(h.inspect_get_distro)
        product = get(h.inspect_get_product_name)
        hostname = get(h.inspect_get_hostname)
        return ImageInspection(
            backend="libguestfs",
            disks=tuple(str(d.path) for d in self.disks),
            root=h.canonical_device_name(root),
            distro=None if distro in (None, "unknown") else distro,
            product_name=None if product in (None, "unknown") else product,
            major_version=get(h.inspect_get_major_version),
            minor_version=get(h.inspect_get_minor_version),
            hostname=None if hostname in (None, "unknown") else hostname,
            mountpoints={mp: h.canonical_device_name(dev) for mp, dev in mounted.items()},
            unmounted=unmounted,
        )

    def _mount_fallback_root(self, h: Any) -> ImageInspection:
        try:
            filesystems: dict[str, str] = dict(h.list_filesystems())
        except RuntimeError as exc:
            raise GuestError(f"{self.name}: cannot list filesystems: {_msg(exc)}") from exc
        for dev, fstype in sorted(filesystems.items()):
            if fstype in ("", "unknown", "swap"):
                continue
            try:
                h.mount_ro(dev, "/") if self.read_only else h.mount(dev, "/")
            except RuntimeError:
                continue
            self._cache.clear()
            etc = self.try_stat("/etc")
            if (
                etc is not None
                and etc.kind is FileKind.DIR
                and any(self.lexists(p) for p in ROOT_MARKERS)
            ):
                return ImageInspection(
                    backend="libguestfs",
                    disks=tuple(str(d.path) for d in self.disks),
                    root=h.canonical_device_name(dev),
                    mountpoints={"/": h.canonical_device_name(dev)},
                    warnings=(
                        "libguestfs inspection did not recognise this guest; "
                        "only its root filesystem is mounted",
                    ),
                )
            with contextlib.suppress(RuntimeError):
                h.umount_all()
        self._cache.clear()
        raise GuestError(f"no operating system found in {self.name}")

    # --- low level -----------------------------------------------------------------------

    def _call(self, path: str, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except RuntimeError as exc:
            raise GuestPathError(path, _msg(exc)) from exc

    def _lstat_raw(self, resolved: str) -> _Stat | None:
        """lstat of a path whose parents are known symlink-free directories; None if absent."""
        if resolved in self._cache:
            return self._cache[resolved]
        if resolved == "/":
            st: _Stat | None = self._call("/", self._h.lstatns, "/")
        else:
            parent, name = posixpath.split(resolved)
            (st,) = self._call(resolved, self._h.lstatnslist, parent, [name])
            if st is None or st["st_ino"] == -1:
                st = None
        self._cache[resolved] = st
        return st

    def _resolve(self, path: str, *, follow_last: bool) -> tuple[str, _Stat | None]:
        """The symlink-free guest path of ``path`` and its lstat (None: last part missing)."""
        return resolve(
            path,
            follow_last=follow_last,
            lstat=self._lstat_raw,
            mode_of=lambda st: int(st["st_mode"]),
            readlink=lambda p: str(self._call(path, self._h.readlink, p)),
        )

    def _existing(self, path: str, *, follow_last: bool) -> tuple[str, _Stat]:
        resolved, st = self._resolve(path, follow_last=follow_last)
        if st is None:
            raise GuestFileNotFound(path)
        return resolved, st

    @staticmethod
    def _to_stat(st: _Stat) -> FileStat:
        mode = int(st["st_mode"])
        return FileStat(
            kind=kind_of(mode),
            size=int(st["st_size"]),
            mode=stat_mod.S_IMODE(mode),
            uid=int(st["st_uid"]),
            gid=int(st["st_gid"]),
            mtime_ns=int(st["st_mtime_sec"]) * 1_000_000_000 + int(st["st_mtime_nsec"]),
        )

    # --- reading -------------------------------------------------------------------------

    def lstat(self, path: str) -> FileStat:
        return self._to_stat(self._existing(path, follow_last=False)[1])

    def stat(self, path: str) -> FileStat:
        return self._to_stat(self._existing(path, follow_last=True)[1])

    def read_bytes(self, path: str, *, limit: int = DEFAULT_READ_LIMIT) -> bytes:
        resolved, raw = self._existing(path, follow_last=True)
        st = self._to_stat(raw)
        if st.kind is not FileKind.FILE:
            # Checked before any read: FIFOs, sockets and devices are never opened.
            raise GuestNotAFile(path, st.kind.value)
        if st.size > limit:
            raise GuestFileTooLarge(path, limit)
        if st.size > _STREAM_ABOVE:
            with tempfile.TemporaryDirectory(prefix="xen2kvm-gfs-") as tmp:
                local = Path(tmp) / "data"
                self._call(path, self._h.download_offset, resolved, str(local), 0, st.size)
                return local.read_bytes()[: limit + 1]
        chunks: list[bytes] = []
        offset = 0
        while offset < st.size:
            chunk = self._call(path, self._h.pread, resolved, min(_CHUNK, st.size - offset), offset)
            if not chunk:
                break
            chunks.append(bytes(chunk))
            offset += len(chunk)
        return b"".join(chunks)

    def listdir(self, path: str) -> list[str]:
        resolved, st = self._existing(path, follow_last=True)
        if not stat_mod.S_ISDIR(int(st["st_mode"])):
            raise GuestPathError(path, "not a directory")
        return sorted(self._call(path, self._h.ls, resolved))

    def readlink(self, path: str) -> str:
        resolved, st = self._existing(path, follow_last=False)
        if not stat_mod.S_ISLNK(int(st["st_mode"])):
            raise GuestPathError(path, "not a symlink")
        return str(self._call(path, self._h.readlink, resolved))

    def realpath(self, path: str) -> str:
        return self._existing(path, follow_last=True)[0]

    # --- writing -------------------------------------------------------------------------

    def _writable(self) -> None:
        if self.read_only:
            raise GuestReadOnly(f"{self.name} is opened read-only")
        # Any write may change what a cached path resolves to.
        self._cache.clear()

    def _change(self, path: str, fn: Callable[..., T], *args: Any) -> T:
        """A call that changes the guest: what was cached about paths is stale after it."""
        try:
            return self._call(path, fn, *args)
        finally:
            self._cache.clear()

    def _target(self, path: str) -> tuple[str, _Stat | None]:
        self._writable()
        resolved, st = self._resolve(path, follow_last=False)
        if resolved == "/":
            raise GuestPathError(path, "is the guest root")
        return resolved, st

    def write_bytes(
        self,
        path: str,
        data: bytes,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
    ) -> None:
        resolved, raw = self._target(path)
        old = self._to_stat(raw) if raw is not None else None
        if old is not None and old.kind is not FileKind.FILE:
            raise GuestNotAFile(path, old.kind.value)
        xattrs = self.getxattrs(path) if old is not None else {}
        parent, name = posixpath.split(resolved)
        tmp = posixpath.join(parent, f".{name}.xen2kvm-{secrets.token_hex(4)}")
        h = self._h
        try:
            if len(data) <= _CHUNK:
                h.write(tmp, data)
            else:
                with tempfile.TemporaryDirectory(prefix="xen2kvm-gfs-") as tmpdir:
                    local = Path(tmpdir) / "data"
                    local.write_bytes(data)
                    h.upload(str(local), tmp)
            h.lchown(
                uid if uid is not None else (old.uid if old else 0),
                gid if gid is not None else (old.gid if old else 0),
                tmp,
            )
            h.chmod(mode if mode is not None else (old.mode if old else 0o644), tmp)
            for key, value in xattrs.items():
                self._setxattr(h, key, value, tmp)
            h.rename(tmp, resolved)
        except (RuntimeError, GuestPathError) as exc:
            with contextlib.suppress(RuntimeError):
                h.rm_f(tmp)
            raise GuestPathError(path, _msg(exc)) from exc
        finally:
            self._cache.clear()

    def remove(self, path: str) -> None:
        resolved, st = self._target(path)
        if st is None:
            raise GuestFileNotFound(path)
        if stat_mod.S_ISDIR(int(st["st_mode"])):
            raise GuestNotAFile(path, "directory")
        self._change(path, self._h.rm, resolved)

    def rmdir(self, path: str) -> None:
        resolved, st = self._target(path)
        if st is None:
            raise GuestFileNotFound(path)
        if not stat_mod.S_ISDIR(int(st["st_mode"])):
            raise GuestPathError(path, "not a directory")
        self._change(path, self._h.rmdir, resolved)

    def symlink(self, target: str, path: str) -> None:
        resolved, st = self._target(path)
        if st is not None:
            raise GuestPathError(path, "already exists")
        self._change(path, self._h.ln_s, target, resolved)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        resolved, st = self._target(path)
        if st is not None:
            raise GuestPathError(path, "already exists")
        self._change(path, self._h.mkdir_mode, resolved, mode)

    def chmod(self, path: str, mode: int) -> None:
        self._writable()
        resolved, _ = self._existing(path, follow_last=True)
        self._change(path, self._h.chmod, mode, resolved)

    def chown(self, path: str, uid: int, gid: int) -> None:
        resolved, st = self._target(path)
        if st is None:
            raise GuestFileNotFound(path)
        self._change(path, self._h.lchown, uid, gid, resolved)

    def getxattrs(self, path: str) -> dict[str, bytes]:
        resolved, _ = self._existing(path, follow_last=False)
        entries = self._call(path, self._h.lgetxattrs, resolved)
        out: dict[str, bytes] = {}
        for entry in entries:
            value = entry["attrval"]
            out[str(entry["attrname"])] = (
                value if isinstance(value, bytes) else str(value).encode("latin-1")
            )
        return out

    @staticmethod
    def _setxattr(h: Any, key: str, value: bytes, resolved: str) -> None:
        # The binding passes the value as a C string: a value can carry one NUL, at its end
        # (as SELinux labels do), by giving the length including it.
        body = value[:-1] if value.endswith(b"\0") else value
        if b"\0" in body:
            raise GuestPathError(resolved, f"xattr {key}: binary values are not supported")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GuestPathError(resolved, f"xattr {key}: non-UTF-8 value unsupported") from exc
        h.lsetxattr(key, text, len(value), resolved)

    def setxattrs(self, path: str, xattrs: dict[str, bytes]) -> None:
        resolved, st = self._target(path)
        if st is None:
            raise GuestFileNotFound(path)
        h = self._h
        current = self.getxattrs(resolved)
        try:
            for key in set(current) - set(xattrs):
                h.lremovexattr(key, resolved)
            for key, value in xattrs.items():
                self._setxattr(h, key, value, resolved)
        except RuntimeError as exc:
            raise GuestPathError(path, _msg(exc)) from exc

    def sync(self) -> None:
        if not self.read_only:
            self._call(self.name, self._h.sync)

    def filesystems(self) -> list[FilesystemInfo]:
        """Filesystems on the disks (LVM volumes are left out: they belong to no one disk)."""
        where = {dev: mp for mp, dev in self.inspection.mountpoints.items()}
        out: list[FilesystemInfo] = []
        h = self._h
        for dev, fstype in sorted(dict(h.list_filesystems()).items()):
            m = re.fullmatch(r"/dev/sd([a-z]+)(\d*)", dev)
            if m is None or fstype in ("unknown", ""):
                continue
            index = 0
            for ch in m.group(1):
                index = index * 26 + (ord(ch) - ord("a") + 1)
            try:
                uuid = h.vfs_uuid(dev) or None
                label = h.vfs_label(dev) or None
            except RuntimeError:
                uuid = label = None
            out.append(
                FilesystemInfo(
                    disk=index - 1,
                    partition=int(m.group(2)) if m.group(2) else None,
                    fstype=fstype,
                    uuid=uuid,
                    label=label,
                    mountpoint=where.get(dev),
                )
            )
        return out

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Unmount, stop the appliance (flushing writes to the images) and free the handle."""
        self._finalizer()
